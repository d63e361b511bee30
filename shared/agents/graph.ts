// An imported Q-network as data: a small dataflow graph over one input matrix
// (rows of the agent's input columns) with one output (a Q value per action).
// ONNX models and safetensors files with an architecture description both become
// this form, so one interpreter (graph-tf.ts) runs them, and a fit task carries
// it to a worker unchanged. The operators are those an MLP Q-network exports to;
// anything else is refused by name.

import type { OnnxModel, OnnxNode, OnnxTensor } from '../format/onnx.ts';
import { dtypeName, ONNX_DTYPE } from '../format/onnx.ts';
import type { SafeTensor } from '../format/safetensors.ts';
import type { NetworkDescription } from './agent-card.ts';

export const GRAPH_OPS = ['Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Relu', 'Tanh', 'Sigmoid', 'LayerNormalization',
  'ReduceMean', 'Pow', 'Sqrt', 'Neg', 'Concat', 'Gather', 'Slice', 'Identity', 'Cast'] as const;
export type GraphOp = typeof GRAPH_OPS[number];

export interface GraphNode {
  readonly op: GraphOp;
  readonly name: string;
  /** Value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly output: string;
  /** Numeric attributes (axis, epsilon, alpha, beta, transA, transB, keepdims) and integer lists (axes). */
  readonly attrs: Readonly<Record<string, number | readonly number[]>>;
}

export interface GraphConst {
  readonly name: string;
  readonly dims: readonly number[];
  readonly kind: 'float' | 'int';
  readonly data: Float32Array | Float64Array;
}

export interface AgentGraph {
  readonly input: string;
  readonly inDim: number;
  readonly output: string;
  /** In execution order; each node's inputs are the graph input, a constant or an earlier node's output. */
  readonly nodes: readonly GraphNode[];
  readonly consts: readonly GraphConst[];
}

/** A graph that cannot be imported; `field` names the node, tensor or value at fault. */
export class GraphError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'GraphError';
  }
}

/** Versions of the default ONNX operator set whose semantics for these operators the interpreter follows. */
export const MIN_OPSET = 7;
export const MAX_OPSET = 23;

const nodeField = (n: OnnxNode) => `node ${JSON.stringify(n.name)} (${n.opType})`;

function intAttr(n: OnnxNode, key: string, dflt: number): number {
  const a = n.attributes.get(key);
  if (a === undefined) return dflt;
  if (a.kind !== 'int') throw new GraphError(nodeField(n), `attribute ${key} must be an integer`);
  return a.value;
}

function floatAttr(n: OnnxNode, key: string, dflt: number): number {
  const a = n.attributes.get(key);
  if (a === undefined) return dflt;
  if (a.kind !== 'float') throw new GraphError(nodeField(n), `attribute ${key} must be a float`);
  return a.value;
}

function constOf(t: OnnxTensor, name: string): GraphConst {
  return { name, dims: [...t.dims], kind: t.kind, data: t.data };
}

/** The value of a Constant node, in any of its attribute forms. */
function constantNode(n: OnnxNode): GraphConst {
  const out = n.outputs[0];
  for (const [key, a] of n.attributes) {
    if (key === 'value' && a.kind === 'tensor') return constOf(a.value, out);
    if (key === 'value_float' && a.kind === 'float') return { name: out, dims: [], kind: 'float', data: Float32Array.of(a.value) };
    if (key === 'value_floats' && a.kind === 'floats') return { name: out, dims: [a.value.length], kind: 'float', data: Float32Array.from(a.value) };
    if (key === 'value_int' && a.kind === 'int') return { name: out, dims: [], kind: 'int', data: Float64Array.of(a.value) };
    if (key === 'value_ints' && a.kind === 'ints') return { name: out, dims: [a.value.length], kind: 'int', data: Float64Array.from(a.value) };
  }
  throw new GraphError(nodeField(n), 'has no value this reader understands (value, value_float(s), value_int(s))');
}

/**
 * The graph of an ONNX model. `inDim` (from the agent's card) fills in an input
 * width the model leaves symbolic and must match one it states.
 */
export function graphFromOnnx(model: OnnxModel, inDim: number): AgentGraph {
  const main = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  if (main === undefined) throw new GraphError('opset_import', 'names no version of the default operator set (ai.onnx)');
  if (main.version < MIN_OPSET || main.version > MAX_OPSET) {
    throw new GraphError('opset_import', `ai.onnx version ${main.version} is outside the supported range [${MIN_OPSET}, ${MAX_OPSET}]`);
  }
  const opset = main.version;
  const consts = new Map<string, GraphConst>();
  for (const [name, t] of model.initializers) consts.set(name, constOf(t, name));
  const inputs = model.inputs.filter((v) => !consts.has(v.name));
  if (inputs.length !== 1) {
    throw new GraphError('graph inputs', `expected one input (rows of observation and goal columns), found ${inputs.length}: ${inputs.map((v) => v.name).join(', ') || 'none'}`);
  }
  const input = inputs[0];
  if (input.elemType !== ONNX_DTYPE.FLOAT) throw new GraphError(`input ${JSON.stringify(input.name)}`, `is ${dtypeName(input.elemType)}; a Q-network reads FLOAT rows`);
  if (input.dims !== null) {
    if (input.dims.length !== 2) throw new GraphError(`input ${JSON.stringify(input.name)}`, `has ${input.dims.length} dimensions; expected 2 (batch, ${inDim} columns)`);
    const w = input.dims[1];
    if (typeof w === 'number' && w !== inDim) throw new GraphError(`input ${JSON.stringify(input.name)}`, `is ${w} columns wide, but the agent card lists ${inDim} input columns`);
  }
  if (model.outputs.length !== 1) throw new GraphError('graph outputs', `expected one output (Q values per action), found ${model.outputs.length}`);
  const output = model.outputs[0].name;

  const known = new Set<string>([input.name, ...consts.keys()]);
  const nodes: GraphNode[] = [];
  const needConst = (n: OnnxNode, i: number, what: string): GraphConst => {
    const c = consts.get(n.inputs[i] ?? '');
    if (c === undefined) throw new GraphError(nodeField(n), `${what} (input ${i}) must be a constant`);
    return c;
  };
  for (const n of model.nodes) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') throw new GraphError(nodeField(n), `operator domain ${JSON.stringify(n.domain)} is not supported (only the default ai.onnx)`);
    if (n.opType === 'Constant') {
      const c = constantNode(n);
      consts.set(c.name, c);
      known.add(c.name);
      continue;
    }
    if (!(GRAPH_OPS as readonly string[]).includes(n.opType)) {
      throw new GraphError(nodeField(n), `operator ${n.opType} is not supported; supported: ${GRAPH_OPS.join(', ')}, Constant`);
    }
    const op = n.opType as GraphOp;
    for (const i of n.inputs) if (i !== '' && !known.has(i)) throw new GraphError(nodeField(n), `reads ${JSON.stringify(i)} before anything writes it (graph not in topological order, or a missing initializer)`);
    if (n.outputs.length === 0 || n.outputs[0] === '') throw new GraphError(nodeField(n), 'has no output');
    const attrs: Record<string, number | readonly number[]> = {};
    switch (op) {
      case 'Gemm':
        attrs.alpha = floatAttr(n, 'alpha', 1); attrs.beta = floatAttr(n, 'beta', 1);
        attrs.transA = intAttr(n, 'transA', 0); attrs.transB = intAttr(n, 'transB', 0);
        break;
      case 'LayerNormalization':
        attrs.axis = intAttr(n, 'axis', -1); attrs.epsilon = floatAttr(n, 'epsilon', 1e-5);
        if (attrs.axis !== -1 && attrs.axis !== 1) throw new GraphError(nodeField(n), `normalises over axis ${attrs.axis}; only the last axis of (batch, features) is supported`);
        if (intAttr(n, 'stash_type', 1) !== 1) throw new GraphError(nodeField(n), 'stash_type other than float is not supported');
        break;
      case 'Concat':
      case 'Gather':
        attrs.axis = intAttr(n, 'axis', 0);
        if (op === 'Gather') {
          const idx = needConst(n, 1, 'the indices');
          if (idx.kind !== 'int' || idx.dims.length > 1) throw new GraphError(nodeField(n), 'indices must be a scalar or a list of integers');
        }
        break;
      case 'ReduceMean': {
        attrs.keepdims = intAttr(n, 'keepdims', 1);
        const a = n.attributes.get('axes');
        if (a?.kind === 'ints') attrs.axes = a.value;
        else if (n.inputs[1]) attrs.axes = Array.from(needConst(n, 1, 'the axes').data);
        else throw new GraphError(nodeField(n), 'reducing over all axes is not supported; give axes');
        break;
      }
      case 'Pow': {
        const e = needConst(n, 1, 'the exponent');
        if (e.data.length !== 1) throw new GraphError(nodeField(n), 'the exponent must be a scalar');
        break;
      }
      case 'Slice': {
        if (opset < 10) {
          const list = (k: string) => { const a = n.attributes.get(k); return a?.kind === 'ints' ? a.value : undefined; };
          const starts = list('starts'); const ends = list('ends');
          if (!starts || !ends) throw new GraphError(nodeField(n), 'needs starts and ends');
          attrs.starts = starts; attrs.ends = ends; attrs.axes = list('axes') ?? starts.map((_, i) => i);
        } else {
          const starts = Array.from(needConst(n, 1, 'starts').data);
          attrs.starts = starts; attrs.ends = Array.from(needConst(n, 2, 'ends').data);
          attrs.axes = n.inputs[3] ? Array.from(needConst(n, 3, 'axes').data) : starts.map((_, i) => i);
          const steps = n.inputs[4] ? Array.from(needConst(n, 4, 'steps').data) : [];
          if (steps.some((s) => s !== 1)) throw new GraphError(nodeField(n), `steps ${JSON.stringify(steps)}: only step 1 is supported`);
        }
        if ((attrs.starts as number[]).length !== (attrs.ends as number[]).length) throw new GraphError(nodeField(n), 'starts and ends differ in length');
        break;
      }
      case 'Cast': {
        const to = intAttr(n, 'to', 0);
        if (to !== ONNX_DTYPE.FLOAT && to !== ONNX_DTYPE.DOUBLE) throw new GraphError(nodeField(n), `casts to ${dtypeName(to)}; only casts to a float type are supported`);
        break;
      }
      default:
        break;
    }
    const minInputs: Partial<Record<GraphOp, number>> = { Gemm: 2, MatMul: 2, Add: 2, Sub: 2, Mul: 2, Div: 2, LayerNormalization: 2, Pow: 2, Gather: 2, Slice: opset < 10 ? 1 : 3, Concat: 1 };
    const present = n.inputs.filter((i) => i !== '').length;
    if (present < (minInputs[op] ?? 1)) throw new GraphError(nodeField(n), `has ${present} input(s), needs at least ${minInputs[op] ?? 1}`);
    nodes.push({ op, name: n.name, inputs: [...n.inputs], output: n.outputs[0], attrs });
    for (const o of n.outputs) if (o !== '') known.add(o);
    // LayerNormalization's optional mean and inverse-deviation outputs are not computed.
    if (op === 'LayerNormalization' && n.outputs.slice(1).some((o) => o !== '' && model.nodes.some((m) => m.inputs.includes(o)))) {
      throw new GraphError(nodeField(n), 'its mean or inverse standard deviation output is used; only the normalised output is supported');
    }
  }
  if (!known.has(output) || consts.has(output) || output === input.name) throw new GraphError(`output ${JSON.stringify(output)}`, 'is not computed by any node');
  const used = new Set<string>(nodes.flatMap((n) => n.inputs));
  return { input: input.name, inDim, output, nodes, consts: [...consts.values()].filter((c) => used.has(c.name)) };
}

/** Every float weight finite: a NaN or infinite weight names its tensor. */
export function checkFiniteWeights(g: AgentGraph): void {
  for (const c of g.consts) {
    for (let i = 0; i < c.data.length; i++) {
      if (!Number.isFinite(c.data[i])) throw new GraphError(`tensor ${JSON.stringify(c.name)}`, `holds ${c.data[i]} at index ${i}; every weight must be finite`);
    }
  }
}

// ---- safetensors + the card's architecture ------------------------------------
// Per hidden layer x·W + b, then LayerNorm (if any), then the activation; the head
// x·W + b, then a sigmoid (if any). Kernels stored as torch.nn.Linear keeps them
// ([out, in]) are transposed here, once.

/** plearn's parameter names for a network of `layers` hidden layers (q-network.ts's order). */
export function plearnParamNames(layers: number, norm: boolean): string[] {
  const out: string[] = [];
  for (let l = 0; l < layers; l++) {
    out.push(`hidden.${l}.kernel`, `hidden.${l}.bias`);
    if (norm) out.push(`hidden.${l}.norm.scale`, `hidden.${l}.norm.bias`);
  }
  out.push('head.kernel', 'head.bias');
  return out;
}

export function graphFromNetwork(net: NetworkDescription, inDim: number, nActions: number, tensors: readonly SafeTensor[]): AgentGraph {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const norm = net.norm === 'layernorm';
  const wanted = plearnParamNames(net.hidden.length, norm);
  for (const k of Object.keys(net.tensors)) {
    if (!wanted.includes(k)) throw new GraphError(`card network.tensors.${k}`, `is not a parameter of this network; its parameters: ${wanted.join(', ')}`);
  }
  const widths = [inDim, ...net.hidden, nActions];
  const consts: GraphConst[] = [];
  const fetch = (name: string, shape: readonly number[], kernel: boolean): string => {
    const fileName = net.tensors[name] ?? name;
    const t = byName.get(fileName);
    if (t === undefined) throw new GraphError(`tensor ${JSON.stringify(fileName)}`, `(${name}) is missing from the file; it holds ${[...byName.keys()].slice(0, 12).join(', ')}`);
    const stored = kernel && net.kernelLayout === 'out_in' ? [shape[1], shape[0]] : [...shape];
    if (t.shape.length !== stored.length || t.shape.some((d, i) => d !== stored[i])) {
      throw new GraphError(`tensor ${JSON.stringify(fileName)}`, `(${name}) is [${t.shape.join(', ')}], the card's architecture needs [${stored.join(', ')}]`
        + (kernel ? ` (kernelLayout ${net.kernelLayout})` : ''));
    }
    if (t.dtype === 'I32') throw new GraphError(`tensor ${JSON.stringify(fileName)}`, 'holds integers; weights must be F32 or F64');
    let data = Float32Array.from(t.data);
    if (kernel && net.kernelLayout === 'out_in') {
      const [rows, cols] = shape; // the in_out shape
      const tr = new Float32Array(rows * cols);
      for (let o = 0; o < cols; o++) for (let i = 0; i < rows; i++) tr[i * cols + o] = data[o * rows + i];
      data = tr;
    }
    consts.push({ name, dims: [...shape], kind: 'float', data });
    return name;
  };
  const nodes: GraphNode[] = [];
  let x = 'input';
  const add = (op: GraphNode['op'], inputs: string[], attrs: GraphNode['attrs'] = {}): string => {
    const output = `v${nodes.length}`;
    nodes.push({ op, name: `${op.toLowerCase()}${nodes.length}`, inputs, output, attrs });
    return output;
  };
  for (let l = 0; l < net.hidden.length; l++) {
    const w = fetch(`hidden.${l}.kernel`, [widths[l], widths[l + 1]], true);
    const b = fetch(`hidden.${l}.bias`, [widths[l + 1]], false);
    x = add('Add', [add('MatMul', [x, w]), b]);
    if (norm) {
      const s = fetch(`hidden.${l}.norm.scale`, [widths[l + 1]], false);
      const nb = fetch(`hidden.${l}.norm.bias`, [widths[l + 1]], false);
      x = add('LayerNormalization', [x, s, nb], { axis: -1, epsilon: net.normEpsilon });
    }
    x = add(net.activation === 'relu' ? 'Relu' : 'Tanh', [x]);
  }
  const L = net.hidden.length;
  const w = fetch('head.kernel', [widths[L], widths[L + 1]], true);
  const b = fetch('head.bias', [widths[L + 1]], false);
  x = add('Add', [add('MatMul', [x, w]), b]);
  if (net.head === 'sigmoid') x = add('Sigmoid', [x]);
  return { input: 'input', inDim, output: x, nodes, consts };
}
