// Reading an ONNX model (the interchange format torch.onnx.export, jax2onnx and
// tf2onnx write) into plain data: the graph's nodes, its initializers as typed
// arrays, its inputs and outputs with their shapes, and the model's metadata.
// The wire format is protobuf, decoded by protobufjs from a descriptor written
// here with the field numbers of ONNX's published schema — only the messages and
// fields a feed-forward Q-network uses; protobuf skips the rest as unknown fields.
//
// Like safetensors.ts, decoding treats the bytes as hostile: every count, length
// and dimension is checked before it sizes an allocation.

import protobuf from 'protobufjs/light.js';

export class OnnxError extends Error {
  constructor(readonly field: string, message: string) {
    super(`onnx ${field}: ${message}`);
    this.name = 'OnnxError';
  }
}

/** TensorProto.DataType values this reader turns into numbers. */
export const ONNX_DTYPE = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const;
const DTYPE_NAMES: Record<number, string> = {
  1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL',
  10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
};
export const dtypeName = (t: number): string => DTYPE_NAMES[t] ?? `type ${t}`;

/** A constant: floats (FLOAT, DOUBLE) as float32, integers (INT32, INT64) as exact float64 values. */
export type OnnxTensor =
  | { readonly name: string; readonly dims: readonly number[]; readonly kind: 'float'; readonly data: Float32Array }
  | { readonly name: string; readonly dims: readonly number[]; readonly kind: 'int'; readonly data: Float64Array };

export type OnnxAttribute =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: OnnxTensor }
  | { readonly kind: 'floats' | 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'other'; readonly value: string };

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

/** A graph input or output: element type and dims (a number, a symbolic name, or null when unknown). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly dims: readonly (number | string | null)[] | null;
}

export interface OnnxModel {
  readonly irVersion: number;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly producer: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly metadata: Readonly<Record<string, string>>;
}

/** More nodes or constants than any MLP needs: a hostile file must not make us loop for long. */
export const ONNX_MAX_NODES = 10_000;
export const ONNX_MAX_RANK = 8;

const f = (id: number, type: string, rule?: 'repeated') => ({ id, type, ...(rule ? { rule } : {}) });

// Field numbers of onnx.proto (ONNX IR version 3 and later); names are ours.
const root = protobuf.Root.fromJSON({
  nested: {
    Model: { fields: { irVersion: f(1, 'int64'), producerName: f(2, 'string'), graph: f(7, 'Graph'), opsetImport: f(8, 'Opset', 'repeated'), metadataProps: f(14, 'Entry', 'repeated') } },
    Opset: { fields: { domain: f(1, 'string'), version: f(2, 'int64') } },
    Entry: { fields: { key: f(1, 'string'), value: f(2, 'string') } },
    Graph: {
      fields: {
        node: f(1, 'Node', 'repeated'), name: f(2, 'string'), initializer: f(5, 'Tensor', 'repeated'),
        input: f(11, 'ValueInfo', 'repeated'), output: f(12, 'ValueInfo', 'repeated'), sparseInitializer: f(15, 'Bytes', 'repeated'),
      },
    },
    Bytes: { fields: {} },
    Node: {
      fields: {
        input: f(1, 'string', 'repeated'), output: f(2, 'string', 'repeated'), name: f(3, 'string'), opType: f(4, 'string'),
        attribute: f(5, 'Attribute', 'repeated'), domain: f(7, 'string'),
      },
    },
    Attribute: {
      fields: {
        name: f(1, 'string'), f: f(2, 'float'), i: f(3, 'int64'), s: f(4, 'bytes'), t: f(5, 'Tensor'), floats: f(7, 'float', 'repeated'),
        ints: f(8, 'int64', 'repeated'), type: f(20, 'int32'),
      },
    },
    Tensor: {
      fields: {
        dims: f(1, 'int64', 'repeated'), dataType: f(2, 'int32'), floatData: f(4, 'float', 'repeated'), int32Data: f(5, 'int32', 'repeated'),
        int64Data: f(7, 'int64', 'repeated'), name: f(8, 'string'), rawData: f(9, 'bytes'), doubleData: f(10, 'double', 'repeated'),
        dataLocation: f(14, 'int32'),
      },
    },
    ValueInfo: { fields: { name: f(1, 'string'), type: f(2, 'Type') } },
    Type: { fields: { tensorType: f(1, 'TensorType') } },
    TensorType: { fields: { elemType: f(1, 'int32'), shape: f(2, 'Shape') } },
    Shape: { fields: { dim: f(1, 'Dim', 'repeated') } },
    Dim: { fields: { dimValue: f(1, 'int64'), dimParam: f(2, 'string') } },
  },
});
const ModelType = root.lookupType('Model');

// ---- what protobufjs hands back (toObject with longs as numbers) --------------

interface RawTensor { dims?: number[]; dataType?: number; floatData?: number[]; int32Data?: number[]; int64Data?: number[]; name?: string; rawData?: Uint8Array; doubleData?: number[]; dataLocation?: number }
interface RawAttribute { name?: string; f?: number; i?: number; s?: Uint8Array; t?: RawTensor; floats?: number[]; ints?: number[]; type?: number }
interface RawNode { input?: string[]; output?: string[]; name?: string; opType?: string; attribute?: RawAttribute[]; domain?: string }
interface RawValueInfo { name?: string; type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number; dimParam?: string }[] } } } }
interface RawGraph { node?: RawNode[]; initializer?: RawTensor[]; input?: RawValueInfo[]; output?: RawValueInfo[]; sparseInitializer?: unknown[] }
interface RawModel { irVersion?: number; producerName?: string; graph?: RawGraph; opsetImport?: { domain?: string; version?: number }[]; metadataProps?: { key?: string; value?: string }[] }

function tensorFrom(raw: RawTensor, where: string): OnnxTensor {
  const name = raw.name ?? '';
  const field = `${where} ${JSON.stringify(name)}`;
  if (raw.dataLocation === 1) throw new OnnxError(field, 'keeps its data in an external file; export with the weights inside the model (save_as_external_data=False)');
  const dims = raw.dims ?? [];
  if (dims.length > ONNX_MAX_RANK) throw new OnnxError(field, `${dims.length} dimensions exceed the limit of ${ONNX_MAX_RANK}`);
  let count = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new OnnxError(field, `dimension ${d} is not a non-negative integer`);
    count *= d;
  }
  if (count > 2 ** 31) throw new OnnxError(field, `[${dims.join(', ')}] holds more than 2^31 values`);
  const type = raw.dataType ?? 0;
  const raw8 = raw.rawData !== undefined && raw.rawData.length > 0 ? raw.rawData : undefined;
  const itemSize = type === ONNX_DTYPE.FLOAT || type === ONNX_DTYPE.INT32 ? 4 : type === ONNX_DTYPE.INT64 || type === ONNX_DTYPE.DOUBLE ? 8 : 0;
  if (itemSize === 0) throw new OnnxError(field, `data type ${dtypeName(type)} is not supported (FLOAT, DOUBLE, INT32, INT64 are)`);
  if (raw8 !== undefined && raw8.length !== count * itemSize) {
    throw new OnnxError(field, `raw data holds ${raw8.length} bytes, [${dims.join(', ')}] of ${dtypeName(type)} needs ${count * itemSize}`);
  }
  const view = raw8 ? new DataView(raw8.buffer, raw8.byteOffset, raw8.byteLength) : undefined;
  const typed = type === ONNX_DTYPE.FLOAT ? raw.floatData : type === ONNX_DTYPE.DOUBLE ? raw.doubleData : type === ONNX_DTYPE.INT32 ? raw.int32Data : raw.int64Data;
  if (!view && (typed?.length ?? 0) !== count) throw new OnnxError(field, `holds ${typed?.length ?? 0} values, [${dims.join(', ')}] needs ${count}`);
  const read = (i: number): number => {
    if (!view) return typed![i];
    switch (type) {
      case ONNX_DTYPE.FLOAT: return view.getFloat32(4 * i, true);
      case ONNX_DTYPE.DOUBLE: return view.getFloat64(8 * i, true);
      case ONNX_DTYPE.INT32: return view.getInt32(4 * i, true);
      default: return Number(view.getBigInt64(8 * i, true));
    }
  };
  if (type === ONNX_DTYPE.FLOAT || type === ONNX_DTYPE.DOUBLE) {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = read(i);
    return { name, dims, kind: 'float', data };
  }
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = read(i);
  return { name, dims, kind: 'int', data };
}

function attributeFrom(raw: RawAttribute, node: string): [string, OnnxAttribute] {
  const name = raw.name ?? '';
  // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, INTS 7.
  switch (raw.type) {
    case 1: return [name, { kind: 'float', value: raw.f ?? 0 }];
    case 2: return [name, { kind: 'int', value: raw.i ?? 0 }];
    case 3: return [name, { kind: 'string', value: new TextDecoder().decode(raw.s ?? new Uint8Array(0)) }];
    case 4: return [name, { kind: 'tensor', value: tensorFrom(raw.t ?? {}, `node ${JSON.stringify(node)} attribute ${name}`) }];
    case 6: return [name, { kind: 'floats', value: raw.floats ?? [] }];
    case 7: return [name, { kind: 'ints', value: raw.ints ?? [] }];
    default: return [name, { kind: 'other', value: `attribute type ${raw.type ?? 'unset'}` }];
  }
}

function valueInfoFrom(raw: RawValueInfo): OnnxValueInfo {
  const t = raw.type?.tensorType;
  const dims = t?.shape?.dim?.map((d) => (d.dimValue !== undefined && d.dimValue > 0 ? d.dimValue : d.dimParam ? d.dimParam : null)) ?? null;
  return { name: raw.name ?? '', elemType: t?.elemType ?? 0, dims };
}

/** Decode an ONNX model; throws OnnxError naming the part that is wrong. */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  let raw: RawModel;
  try {
    raw = ModelType.toObject(ModelType.decode(bytes), { longs: Number, arrays: true, defaults: false }) as RawModel;
  } catch (e) {
    throw new OnnxError('file', `is not a readable ONNX model (truncated or not protobuf): ${(e as Error).message}`);
  }
  const g = raw.graph;
  if (g === undefined) throw new OnnxError('graph', 'is missing (not an ONNX model file?)');
  if ((g.sparseInitializer?.length ?? 0) > 0) throw new OnnxError('graph', 'has sparse initializers, which are not supported');
  const nodesRaw = g.node ?? [];
  if (nodesRaw.length > ONNX_MAX_NODES) throw new OnnxError('graph', `${nodesRaw.length} nodes exceed the limit of ${ONNX_MAX_NODES}`);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    const tensor = tensorFrom(t, 'initializer');
    if (initializers.has(tensor.name)) throw new OnnxError(`initializer ${JSON.stringify(tensor.name)}`, 'appears twice');
    initializers.set(tensor.name, tensor);
  }
  const nodes = nodesRaw.map((n, k): OnnxNode => {
    const name = n.name && n.name !== '' ? n.name : `#${k}`;
    return {
      name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: n.input ?? [], outputs: n.output ?? [],
      attributes: new Map((n.attribute ?? []).map((a) => attributeFrom(a, name))),
    };
  });
  const metadata: Record<string, string> = {};
  for (const e of raw.metadataProps ?? []) {
    if (e.key !== undefined) Object.defineProperty(metadata, e.key, { value: e.value ?? '', enumerable: true, writable: true, configurable: true });
  }
  return {
    irVersion: raw.irVersion ?? 0,
    opsets: (raw.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: o.version ?? 0 })),
    producer: raw.producerName ?? '',
    nodes,
    initializers,
    inputs: (g.input ?? []).map(valueInfoFrom),
    outputs: (g.output ?? []).map(valueInfoFrom),
    metadata,
  };
}
