// Bulk payloads (tasks, artifacts, fit outputs) in msgpackr; typed arrays keep
// their type and exact bits (`moreTypes`), which JSON could not promise.
// Public API bodies and state records are JSON so any NATS client can read them.
//
// Bytes from the network are untrusted: before msgpackr sees them, a scan that
// allocates nothing walks the whole message and checks every declared length
// against the bytes that remain, the nesting depth, the number of values, and
// the extension types (only typed arrays and `undefined`; msgpackr's records,
// structured-clone references, bundles, errors and regexps are refused, since
// they read beyond their frame or build objects from attacker-chosen names).

import { Packr } from 'msgpackr';
import {
  LimitError, MAX_ARTIFACT_BYTES, MAX_BULK_DEPTH, MAX_BULK_ITEMS, MAX_BULK_STRING_BYTES, MAX_TASK_ITEMS, MAX_TASK_PAYLOAD_BYTES,
} from './limits.ts';

const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/** Bytes that are not a well-formed bulk payload (as opposed to one that is too large: LimitError). */
export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

export interface BulkLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  /** Values outside typed arrays (every scalar, string, array, map key and value counts one). */
  readonly maxItems: number;
  readonly maxStringBytes: number;
}

export const ARTIFACT_LIMITS: BulkLimits = {
  maxBytes: MAX_ARTIFACT_BYTES, maxDepth: MAX_BULK_DEPTH, maxItems: MAX_BULK_ITEMS, maxStringBytes: MAX_BULK_STRING_BYTES,
};

export const TASK_LIMITS: BulkLimits = {
  maxBytes: MAX_TASK_PAYLOAD_BYTES, maxDepth: MAX_BULK_DEPTH, maxItems: MAX_TASK_ITEMS, maxStringBytes: MAX_BULK_STRING_BYTES,
};

export function packBulk(value: unknown): Uint8Array {
  return packr.pack(value);
}

const EXT_UNDEFINED = 0x00;
const EXT_TYPED_ARRAY = 0x74;
/** Element sizes of msgpackr's typed-array codes (Int8 … BigUint64Array, in its order). */
const TYPED_ARRAY_ELEMENT_BYTES = [1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8];

/**
 * Walk one msgpack value spanning all of `bytes` without building it; throws a
 * PayloadError (malformed) or LimitError (too big) naming `what` and the offset.
 */
export function scanBulk(bytes: Uint8Array, limits: BulkLimits, what: string): void {
  if (bytes.byteLength > limits.maxBytes) {
    throw new LimitError(what, `${bytes.byteLength} bytes exceeds the limit of ${limits.maxBytes} bytes`);
  }
  const end = bytes.byteLength;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Per open container: how many values it still owes (a map owes two per entry) and whether it is a map.
  const owed: number[] = [];
  const isMap: boolean[] = [];
  let pos = 0;
  let items = 0;
  const bad = (at: number, why: string): never => { throw new PayloadError(`${what}: malformed msgpack at byte ${at}: ${why}`); };
  const need = (n: number, at: number, why: string): void => {
    if (n > end - pos) bad(at, `${why} declares ${n} bytes but only ${end - pos} remain`);
  };
  const uint = (size: 1 | 2 | 4, at: number): number => {
    need(size, at, 'a length field');
    const v = size === 1 ? bytes[pos] : size === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += size;
    return v;
  };

  for (;;) {
    if (pos >= end) bad(pos, owed.length ? `truncated: ${owed.length} container(s) left open` : 'empty payload');
    const at = pos;
    const depth = owed.length;
    const keyExpected = depth > 0 && isMap[depth - 1] && owed[depth - 1] % 2 === 0;
    const t = bytes[pos++];
    if (++items > limits.maxItems) throw new LimitError(what, `more than ${limits.maxItems} values (allowed: [0, ${limits.maxItems}])`);

    let strLen = -1;
    let container = -1;
    let containerIsMap = false;
    let skip = 0;
    let extLen = -1;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) {
      // fixints, nil, booleans: the token is the value
    } else if (t <= 0x8f) { container = t & 0x0f; containerIsMap = true; }
    else if (t <= 0x9f) container = t & 0x0f;
    else if (t <= 0xbf) strLen = t & 0x1f;
    else {
      switch (t) {
        case 0xc4: skip = uint(1, at); break;
        case 0xc5: skip = uint(2, at); break;
        case 0xc6: skip = uint(4, at); break;
        case 0xc7: extLen = uint(1, at); break;
        case 0xc8: extLen = uint(2, at); break;
        case 0xc9: extLen = uint(4, at); break;
        case 0xca: skip = 4; break;
        case 0xcb: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xce: case 0xd2: skip = 4; break;
        case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: extLen = 1; break;
        case 0xd5: extLen = 2; break;
        case 0xd6: extLen = 4; break;
        case 0xd7: extLen = 8; break;
        case 0xd8: extLen = 16; break;
        case 0xd9: strLen = uint(1, at); break;
        case 0xda: strLen = uint(2, at); break;
        case 0xdb: strLen = uint(4, at); break;
        case 0xdc: container = uint(2, at); break;
        case 0xdd: container = uint(4, at); break;
        case 0xde: container = uint(2, at); containerIsMap = true; break;
        case 0xdf: container = uint(4, at); containerIsMap = true; break;
        default: bad(at, `reserved type byte 0x${t.toString(16)}`);
      }
    }
    if (keyExpected && strLen < 0) bad(at, 'a map key that is not a string');

    if (strLen >= 0) {
      if (strLen > limits.maxStringBytes) {
        throw new LimitError(what, `a string of ${strLen} bytes at byte ${at} exceeds ${limits.maxStringBytes} (allowed: [0, ${limits.maxStringBytes}])`);
      }
      need(strLen, at, 'a string');
      pos += strLen;
    } else if (extLen >= 0) {
      need(1 + extLen, at, 'an extension');
      const type = bytes[pos++];
      if (type === EXT_TYPED_ARRAY) {
        if (extLen < 1) bad(at, 'a typed array without its element type');
        const size = TYPED_ARRAY_ELEMENT_BYTES[bytes[pos]];
        if (size === undefined) bad(at, `unknown typed-array code ${bytes[pos]}`);
        if ((extLen - 1) % size !== 0) bad(at, `typed-array data of ${extLen - 1} bytes is not a multiple of its ${size}-byte element`);
      } else if (type !== EXT_UNDEFINED) {
        bad(at, `extension type 0x${type.toString(16)} is not accepted (only typed arrays and undefined)`);
      }
      pos += extLen;
    } else if (container >= 0) {
      // Every value takes at least one byte: a count beyond what remains is a lie, refused before msgpackr allocates for it.
      const values = containerIsMap ? 2 * container : container;
      need(values, at, containerIsMap ? `a map of ${container} entries` : `an array of ${container} values`);
      if (values > 0) {
        if (depth + 1 > limits.maxDepth) {
          throw new LimitError(what, `nesting deeper than ${limits.maxDepth} levels at byte ${at} (allowed: [0, ${limits.maxDepth}])`);
        }
        owed.push(values);
        isMap.push(containerIsMap);
        continue;
      }
    } else if (skip > 0) {
      need(skip, at, 'a value');
      pos += skip;
    }

    // One complete value: settle it with its parents, closing each container it fills.
    while (owed.length > 0) {
      const top = owed.length - 1;
      if (--owed[top] > 0) break;
      owed.pop();
      isMap.pop();
    }
    if (owed.length === 0) break;
  }
  if (pos !== end) bad(pos, `${end - pos} bytes after the end of the value`);
}

/** Decode untrusted msgpack: scanned first against `limits` (artifact-sized by default). */
export function unpackBulk(bytes: Uint8Array, limits: BulkLimits = ARTIFACT_LIMITS, what = 'payload'): unknown {
  scanBulk(bytes, limits, what);
  try {
    return packr.unpack(bytes);
  } catch (e) {
    throw new PayloadError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export interface JsonLimits {
  readonly maxDepth: number;
  /** Object keys in the whole document. */
  readonly maxKeys: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * Count nesting and object keys of JSON text without parsing it, so a document
 * nested 10⁵ deep or with 10⁵ keys is refused in one linear pass. Structural
 * bytes are ASCII and never occur inside a UTF-8 multi-byte sequence, so bytes
 * suffice; malformed text passes here and fails in JSON.parse.
 */
function checkJsonShape(bytes: Uint8Array, limits: JsonLimits): void {
  let depth = 0;
  let keys = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limits.maxDepth) {
        throw new LimitError('request', `nesting deeper than ${limits.maxDepth} levels at byte ${i} (allowed: [1, ${limits.maxDepth}])`);
      }
    } else if (c === 0x7d || c === 0x5d) {
      // A close before its open could otherwise cancel out later opens and hide their depth.
      if (--depth < 0) throw new SyntaxError(`unbalanced "${String.fromCharCode(c)}" at byte ${i}`);
    } else if (c === COLON) {
      if (++keys > limits.maxKeys) throw new LimitError('request', `more than ${limits.maxKeys} object keys (allowed: [0, ${limits.maxKeys}])`);
    }
  }
}

/**
 * Parse JSON bytes; throws a SyntaxError naming the problem (bad UTF-8 included),
 * or with `limits` a LimitError for documents nested too deep or with too many keys.
 */
export function decodeJson(bytes: Uint8Array, limits?: JsonLimits): unknown {
  if (limits) checkJsonShape(bytes, limits);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new SyntaxError('body is not valid UTF-8');
  }
  return JSON.parse(text);
}
