// Bulk payloads (tasks, artifacts, fit outputs) in msgpackr; typed arrays keep
// their type and exact bits (`moreTypes`), which JSON could not promise.
// Public API bodies and state records are JSON so any NATS client can read them.

import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

export function packBulk(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function unpackBulk(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parse JSON bytes; throws a SyntaxError naming the problem (bad UTF-8 included). */
export function decodeJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new SyntaxError('body is not valid UTF-8');
  }
  return JSON.parse(text);
}
