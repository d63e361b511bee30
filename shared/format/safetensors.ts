// The safetensors container (Hugging Face's format, readable by numpy, torch, jax
// and the Rust crate): an 8-byte little-endian header length N, N bytes of UTF-8
// JSON describing each tensor's dtype, shape and byte range, then the raw
// little-endian data. Pure functions over bytes; callers do the I/O.
//
// Decoding treats the bytes as hostile: a file may come from anyone, so every
// length, offset and dimension is checked before it sizes an allocation, and the
// header goes through a strict parser of our own because JSON.parse silently keeps
// the last of two duplicate keys (two readers could then disagree on a tensor).

export type SafetensorsDtype = 'F32' | 'F64' | 'I32';
export type TensorData = Float32Array | Float64Array | Int32Array;

/** What {@link encodeSafetensors} accepts: the dtype must match the typed array's kind. */
export interface SafeTensorInput {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** A decoded tensor; narrowing on `dtype` narrows `data`. */
export type SafeTensor =
  | { readonly name: string; readonly dtype: 'F32'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly name: string; readonly dtype: 'F64'; readonly shape: readonly number[]; readonly data: Float64Array }
  | { readonly name: string; readonly dtype: 'I32'; readonly shape: readonly number[]; readonly data: Int32Array };

export interface SafetensorsFile {
  /** In the order their bytes appear in the file. */
  readonly tensors: SafeTensor[];
  readonly metadata: Record<string, string>;
}

export interface SafetensorsLimits {
  /** Largest JSON header accepted (default {@link SAFETENSORS_MAX_HEADER_BYTES}). */
  readonly maxHeaderBytes?: number;
  /** Most tensors in one file (default {@link SAFETENSORS_MAX_TENSORS}). */
  readonly maxTensors?: number;
  /** Most dimensions of one tensor (default {@link SAFETENSORS_MAX_RANK}). */
  readonly maxRank?: number;
}

/** The Rust reference refuses headers above 100 MB; a legitimate header of ours is a few kB. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;
export const SAFETENSORS_MAX_TENSORS = 1_000_000;
export const SAFETENSORS_MAX_RANK = 64;
/** The header is one object of objects of arrays: nothing legitimate nests deeper. */
const MAX_JSON_DEPTH = 16;
const METADATA_KEY = '__metadata__';

/** A malformed file or an unencodable input; `field` names the offending part. */
export class SafetensorsError extends Error {
  constructor(readonly field: string, message: string) {
    super(`safetensors ${field}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4 };
const DTYPES = Object.keys(ITEM_SIZE) as SafetensorsDtype[];

const isDtype = (x: string): x is SafetensorsDtype => (DTYPES as readonly string[]).includes(x);

function dataMatches(dtype: SafetensorsDtype, data: TensorData): boolean {
  return dtype === 'F32' ? data instanceof Float32Array : dtype === 'F64' ? data instanceof Float64Array : data instanceof Int32Array;
}

// The format is little-endian; only a big-endian host has to reorder bytes.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (x instanceof Map) return 'an object';
  return typeof x === 'string' ? `the string ${JSON.stringify(x)}` : `${typeof x} ${String(x)}`;
}

// ---- encoding ---------------------------------------------------------------

/**
 * Serialise tensors (and optional string metadata) into one safetensors file.
 * Wider dtypes are laid out first, as the Python writer does, and the header is
 * padded with spaces to a multiple of 8, so every tensor starts at a multiple of
 * its item size and readers can view it in place without copying.
 */
export function encodeSafetensors(tensors: readonly SafeTensorInput[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string') throw new SafetensorsError('tensor name', `expected a string, got ${describe(t.name)}`);
    if (t.name === METADATA_KEY) throw new SafetensorsError(`tensor ${JSON.stringify(t.name)}`, `the name ${METADATA_KEY} is reserved for metadata`);
    if (seen.has(t.name)) throw new SafetensorsError(`tensor ${JSON.stringify(t.name)}`, 'duplicate tensor name');
    seen.add(t.name);
    const field = `tensor ${JSON.stringify(t.name)}`;
    if (!isDtype(t.dtype)) throw new SafetensorsError(`${field} dtype`, `unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${DTYPES.join(', ')})`);
    if (!dataMatches(t.dtype, t.data)) throw new SafetensorsError(`${field} data`, `a ${t.data?.constructor?.name ?? typeof t.data} does not hold ${t.dtype} values`);
    let count = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(`${field} shape`, `dimension ${d} is not a non-negative integer`);
      count *= d;
    }
    if (count !== t.data.length) throw new SafetensorsError(`${field} shape`, `[${t.shape.join(', ')}] holds ${count} values, data has ${t.data.length}`);
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`${METADATA_KEY}.${JSON.stringify(k)}`, `expected a string, got ${describe(v)}`);
    }
  }

  // A stable sort keeps the caller's order within each dtype width.
  const order = tensors.map((t, i) => ({ t, i })).sort((a, b) => ITEM_SIZE[b.t.dtype] - ITEM_SIZE[a.t.dtype] || a.i - b.i).map((x) => x.t);
  // Built by hand rather than JSON.stringify of an object, so a tensor named
  // "__proto__" is written as a key like any other.
  const parts: string[] = [];
  const metaEntries = metadata === undefined ? [] : Object.entries(metadata);
  if (metaEntries.length > 0) {
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${metaEntries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const t of order) {
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let at = 8 + headerLen;
  for (const t of order) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, at);
    if (!HOST_LITTLE_ENDIAN) swapBytes(out.subarray(at, at + raw.length), ITEM_SIZE[t.dtype]);
    at += raw.length;
  }
  return out;
}

// ---- a strict JSON reader for the header --------------------------------------

/** JSON with objects as Maps: keys keep their order and can be anything, "__proto__" included. */
type Json = null | boolean | number | string | Json[] | Map<string, Json>;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function parseHeaderJson(text: string): Json {
  let pos = 0;
  const fail = (why: string): never => {
    throw new SafetensorsError('header', `invalid JSON at character ${pos}: ${why}`);
  };
  const skipWs = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const readString = (): string => {
    pos++; // opening quote
    let out = '';
    let start = pos;
    while (true) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(start, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in a string');
      if (c !== 0x5c) { pos++; continue; }
      out += text.slice(start, pos);
      const e = text[pos + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e !== undefined && e in simple) {
        out += simple[e];
        pos += 2;
      } else if (e === 'u') {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else {
        fail('bad escape');
      }
      start = pos;
    }
  };
  const readValue = (depth: number): Json => {
    if (depth > MAX_JSON_DEPTH) fail(`nested deeper than ${MAX_JSON_DEPTH}`);
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj = new Map<string, Json>();
      skipWs();
      if (text[pos] === '}') { pos++; return obj; }
      while (true) {
        skipWs();
        if (text[pos] !== '"') fail('expected a key');
        const key = readString();
        if (obj.has(key)) {
          throw new SafetensorsError('header', `duplicate key ${JSON.stringify(key)}${depth === 0 ? ' (a tensor name appears twice)' : ''}`);
        }
        skipWs();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        obj.set(key, readValue(depth + 1));
        skipWs();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === '}') { pos++; return obj; }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const arr: Json[] = [];
      skipWs();
      if (text[pos] === ']') { pos++; return arr; }
      while (true) {
        arr.push(readValue(depth + 1));
        skipWs();
        if (text[pos] === ',') { pos++; continue; }
        if (text[pos] === ']') { pos++; return arr; }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return readString();
    if (text.startsWith('true', pos)) { pos += 4; return true; }
    if (text.startsWith('false', pos)) { pos += 5; return false; }
    if (text.startsWith('null', pos)) { pos += 4; return null; }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) return fail('unexpected character');
    pos += m[0].length;
    return Number(m[0]);
  };
  const value = readValue(0);
  skipWs();
  if (pos !== text.length) fail('trailing characters after the header object');
  return value;
}

// ---- decoding ---------------------------------------------------------------

interface Entry { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }

function readEntry(name: string, info: Json, maxRank: number, dataLen: number): Entry {
  const field = `tensor ${JSON.stringify(name)}`;
  if (!(info instanceof Map)) throw new SafetensorsError(field, `expected an object {dtype, shape, data_offsets}, got ${describe(info)}`);
  for (const k of info.keys()) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') throw new SafetensorsError(field, `unknown field ${JSON.stringify(k)}`);
  }
  const dtype = info.get('dtype');
  if (typeof dtype !== 'string') throw new SafetensorsError(`${field} dtype`, `expected a string, got ${describe(dtype)}`);
  if (!isDtype(dtype)) throw new SafetensorsError(`${field} dtype`, `unsupported dtype ${JSON.stringify(dtype)} (supported: ${DTYPES.join(', ')})`);
  const shape = info.get('shape');
  if (!Array.isArray(shape)) throw new SafetensorsError(`${field} shape`, `expected an array of dimensions, got ${describe(shape)}`);
  if (shape.length > maxRank) throw new SafetensorsError(`${field} shape`, `${shape.length} dimensions exceed the limit of ${maxRank}`);
  const dims: number[] = [];
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(`${field} shape`, `dimension ${describe(d)} is not a non-negative integer`);
    }
    dims.push(d);
  }
  const offsets = info.get('data_offsets');
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsError(`${field} data_offsets`, `expected [begin, end], got ${describe(offsets)}`);
  }
  const [begin, end] = offsets;
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    throw new SafetensorsError(`${field} data_offsets`, `${JSON.stringify(offsets)} is not a pair of integers 0 ≤ begin ≤ end`);
  }
  if (end > dataLen) throw new SafetensorsError(`${field} data_offsets`, `[${begin}, ${end}] runs past the end of the data buffer (${dataLen} bytes)`);
  // The product may overflow 2^53 for a hostile shape; any such shape mismatches the
  // (bounded) byte span anyway, so the comparison below still rejects it.
  let bytes = ITEM_SIZE[dtype];
  for (const d of dims) bytes *= d;
  if (bytes !== end - begin) {
    throw new SafetensorsError(`${field} shape`, `[${dims.join(', ')}] × ${ITEM_SIZE[dtype]} bytes (${dtype}) = ${bytes} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype, shape: dims, begin, end };
}

/**
 * Parse a safetensors file. Throws a {@link SafetensorsError} naming the field on
 * anything malformed: header length, UTF-8, JSON, duplicate names, dtypes outside
 * F32/F64/I32, dims, offsets that overlap, leave gaps, or miss the buffer's end,
 * and non-string metadata. Every tensor is copied into a fresh typed array, so
 * nothing aliases `bytes` or depends on its alignment.
 */
export function decodeSafetensors(bytes: Uint8Array, limits: SafetensorsLimits = {}): SafetensorsFile {
  const maxHeader = limits.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  const maxTensors = limits.maxTensors ?? SAFETENSORS_MAX_TENSORS;
  const maxRank = limits.maxRank ?? SAFETENSORS_MAX_RANK;
  if (bytes.length < 8) throw new SafetensorsError('header length', `the file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > maxHeader) throw new SafetensorsError('header length', `${headerLen} bytes exceeds the limit of ${maxHeader}`);
  if (headerLen > bytes.length - 8) {
    throw new SafetensorsError('header length', `${headerLen} bytes runs past the end of the file (${bytes.length - 8} bytes after the length)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new SafetensorsError('header', 'is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError('header', 'must be a JSON object starting with "{"');
  const root = parseHeaderJson(text);
  if (!(root instanceof Map)) throw new SafetensorsError('header', 'must be a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, value] of root) {
    if (key === METADATA_KEY) {
      if (!(value instanceof Map)) throw new SafetensorsError(METADATA_KEY, `expected an object of strings, got ${describe(value)}`);
      for (const [k, v] of value) {
        if (typeof v !== 'string') throw new SafetensorsError(`${METADATA_KEY}.${JSON.stringify(k)}`, `expected a string, got ${describe(v)}`);
        // defineProperty, not assignment: a key "__proto__" must stay plain data.
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (entries.length >= maxTensors) throw new SafetensorsError('header', `more than ${maxTensors} tensors`);
    entries.push(readEntry(key, value, maxRank, dataLen));
  }

  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: Entry | undefined;
  for (const e of byOffset) {
    if (e.begin < expected) {
      throw new SafetensorsError(`tensor ${JSON.stringify(e.name)} data_offsets`,
        `[${e.begin}, ${e.end}] overlaps tensor ${JSON.stringify(previous?.name)} (which ends at byte ${expected})`);
    }
    if (e.begin > expected) {
      throw new SafetensorsError(`tensor ${JSON.stringify(e.name)} data_offsets`,
        `[${e.begin}, ${e.end}] leaves a gap: the previous tensor ends at byte ${expected} (tensors must be contiguous)`);
    }
    expected = e.end;
    previous = e;
  }
  if (expected !== dataLen) {
    throw new SafetensorsError('data', `the tensors cover ${expected} bytes but the data buffer holds ${dataLen} (trailing bytes)`);
  }

  const tensors: SafeTensor[] = byOffset.map((e) => {
    // A fresh ArrayBuffer at offset 0 is aligned for any view. (Not bytes.slice():
    // on a Node Buffer that returns a view into the same memory.)
    const raw = new Uint8Array(e.end - e.begin);
    raw.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    if (!HOST_LITTLE_ENDIAN) swapBytes(raw, ITEM_SIZE[e.dtype]);
    switch (e.dtype) {
      case 'F32': return { name: e.name, dtype: 'F32', shape: e.shape, data: new Float32Array(raw.buffer) };
      case 'F64': return { name: e.name, dtype: 'F64', shape: e.shape, data: new Float64Array(raw.buffer) };
      case 'I32': return { name: e.name, dtype: 'I32', shape: e.shape, data: new Int32Array(raw.buffer) };
    }
  });
  return { tensors, metadata };
}
