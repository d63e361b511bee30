// Seeded generators of hostile input for the fuzz test: API request bodies (JSON
// bytes for `plearn.api.<op>`) and task messages (msgpack bytes for a worker).
// Every generator is a pure function of its seed, so a failing case can be
// replayed from the seed and the index the test prints.

import { DEFAULT_LAYOUT_TEXT } from '../../shared/envs/fourrooms/default-layout.ts';
import type { JobSpec } from '../../shared/experiments/jobs.ts';
import { planJob, validateSpec } from '../../shared/experiments/jobs.ts';
import { maxRequestBytes, parseRequest } from '../../shared/protocol/api.ts';
import { decodeJson, packBulk } from '../../shared/protocol/codec.ts';
import { MAX_REQUEST_BYTES, MAX_REQUEST_DEPTH, MAX_REQUEST_KEYS, MAX_TASK_PAYLOAD_BYTES } from '../../shared/protocol/limits.ts';
import type { AgentTask } from '../../shared/tasks/task.ts';
import { Rng } from '../../shared/util/rng.ts';

export class Fuzz {
  private readonly rng: Rng;
  constructor(seed: number) { this.rng = new Rng(seed); }
  /** Uniform integer in [0, n). */
  int(n: number): number { return this.rng.int(n); }
  /** Uniform integer in [lo, hi]. */
  between(lo: number, hi: number): number { return lo + this.rng.int(hi - lo + 1); }
  chance(p: number): boolean { return this.rng.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.rng.int(xs.length)]; }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.rng.nextU32() & 0xff;
    return out;
  }
  text(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.rng.int(alphabet.length)];
    return s;
  }
}

/** A layout of one open room: `width`×`height` free cells, every cell reachable. */
export function openLayout(width: number, height: number): string {
  return `variant deterministic forward=1\nmap\n${`${'.'.repeat(width)}\n`.repeat(height)}end\n`;
}

const enc = new TextEncoder();
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));
const raw = (s: string): Uint8Array => enc.encode(s);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// ---- API requests -------------------------------------------------------------

export interface FuzzRequest { readonly op: string; readonly body: Uint8Array; readonly kind: string }

const SUBMITS: readonly JobSpec[] = [
  { experiment: 'fourrooms', options: { agent: 'oracle', goals: 2 } },
  { experiment: 'fourrooms', options: { goals: 8, goalsPerAgent: 2, seeds: 3, steps: 20000, reward: 'generic' } },
  { experiment: 'fourrooms', options: { goalCells: '1,1;2,1', fit: 'closed', support: 'full', layoutText: DEFAULT_LAYOUT_TEXT } },
  { experiment: 'mountaincar', options: { grid: 25, fitSteps: 40, fitBatch: 64, goalsPerAgent: 2 } },
  { experiment: 'reacher', options: { grid: 5, seeds: 2 } },
];
const OTHERS: readonly [string, Record<string, unknown>][] = [
  ['get', { id: 'jfuzz000001' }], ['cancel', { id: 'jfuzz000002' }], ['result', { id: 'j0' }],
  ['list', {}], ['list', { status: 'running', limit: 10 }],
];
const NUMERIC_OPTIONS = ['goals', 'seeds', 'steps', 'goalsPerAgent', 'seed', 'gamma', 'fitSteps', 'fitLr', 'epsilon', 'episodeLength'];
const CONTINUOUS_NUMERIC = ['grid', 'seeds', 'fitSteps', 'fitBatch', 'viMaxIters', 'viTol', 'evalStates', 'rollouts', 'goalsPerAgent'];
const HUGE_NUMBERS = ['1e400', '-1e400', '1e308', '-1e308', '9'.repeat(400), '-0', '4294967296', '9007199254740993', '1e-400',
  '123456789012345678901234567890', '0.1e1000000', '2e9', '-2147483649'];
const NUMBERISH_STRINGS = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '', ' ', '0x7fffffff', '1_000', '1e', '∞', '١٢', 'null', '0b11'];
const WRONG_VALUES: readonly unknown[] = [[], {}, true, false, [1, 2], { $gt: 1 }, [[[]]], { a: { b: { c: 1 } } }, '', 1.5, -1, 0, 1e308,
  '\u0000', 'undefined', [null], { length: 1e9 }, { toString: 'x' }];
const PROTO_BODIES: readonly string[] = [
  '{"__proto__": {"experiment": "fourrooms"}}',
  '{"experiment": "fourrooms", "options": {"__proto__": {"goals": 1}}}',
  '{"experiment": "fourrooms", "options": {"constructor": {"prototype": {"polluted": 1}}}}',
  '{"experiment": "fourrooms", "options": {"goals": 2, "__proto__": 5}}',
  '{"id": "j1", "__proto__": {"id": "j2"}}',
  '{"constructor": {"prototype": {"polluted": true}}, "id": "j1"}',
  '{"status": "running", "prototype": {}}',
  '{"experiment": "fourrooms", "options": {"prototype": "x"}}',
  '{"experiment": "__proto__"}',
  '{"experiment": "constructor", "options": {}}',
];
const OVER_THE_TOP: readonly JobSpec[] = [
  { experiment: 'fourrooms', options: { reward: 'generic', goals: 10000, seeds: 1000, goalsPerAgent: 1 } },
  { experiment: 'fourrooms', options: { reward: 'generic', goals: 10000, seeds: 100, goalsPerAgent: 10, steps: 1e9 } },
  { experiment: 'fourrooms', options: { seeds: 1000, fitSteps: 1e9 } },
  { experiment: 'fourrooms', options: { reward: 'generic', goals: 10000, steps: 1e9 } },
  { experiment: 'mountaincar', options: { grid: 2000, viMaxIters: 1e6, viTol: 1e-14, gamma: 0.999999 } },
  { experiment: 'mountaincar', options: { fitSteps: 1e7, fitBatch: 65536, seeds: 100 } },
  { experiment: 'reacher', options: { grid: 60 } },
  { experiment: 'fourrooms', options: { layoutText: openLayout(200, 2) } },
  { experiment: 'fourrooms', options: { layoutText: openLayout(100, 12) } },
];

function validBody(f: Fuzz): { op: string; body: Uint8Array } {
  if (f.chance(0.6)) return { op: 'submit', body: json(f.pick(SUBMITS)) };
  const [op, body] = f.pick(OTHERS);
  return { op, body: json(body) };
}

function mutate(f: Fuzz, src: Uint8Array): Uint8Array {
  let b = Array.from(src);
  for (let n = f.between(1, 8); n > 0; n--) {
    const at = f.int(Math.max(1, b.length));
    switch (f.int(6)) {
      case 0: b[at] ^= 1 << f.int(8); break;
      case 1: b[at] = f.int(256); break;
      case 2: b.splice(at, 1); break;
      case 3: b.splice(at, 0, f.pick([0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x30, 0x2d, 0x65, 0x00, 0xff, 0xc3])); break;
      case 4: { const len = f.between(1, 16); b.splice(at, 0, ...b.slice(at, at + len)); break; }
      default: b = b.slice(0, at).concat(b.slice(at + f.between(1, 8)));
    }
  }
  return Uint8Array.from(b);
}

/** A body whose `path` (in a copy of a valid request) holds `valueText`, spliced in as raw JSON text. */
function withRaw(base: Record<string, unknown>, path: readonly string[], valueText: string): Uint8Array {
  const marker = '@@FUZZ@@';
  const copy = structuredClone(base);
  let o: Record<string, unknown> = copy;
  for (const k of path.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = marker;
  return raw(JSON.stringify(copy).replace(`"${marker}"`, valueText));
}

function optionPath(f: Fuzz): { base: Record<string, unknown>; path: string[] } {
  const spec = f.pick(SUBMITS);
  const names = spec.experiment === 'fourrooms' ? NUMERIC_OPTIONS : CONTINUOUS_NUMERIC;
  return { base: { experiment: spec.experiment, options: { ...spec.options } }, path: ['options', f.pick(names)] };
}

function deepText(f: Fuzz, depth: number): string {
  switch (f.int(3)) {
    case 0: return '['.repeat(depth) + ']'.repeat(depth);
    case 1: return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    default: return '[{"x":'.repeat(depth >> 1) + '0' + '}]'.repeat(depth >> 1);
  }
}

const KINDS = ['random-bytes', 'json-soup', 'truncated', 'mutated', 'wrong-type', 'huge-number', 'nan-string', 'deep', 'huge-string',
  'prototype', 'unknown-op', 'many-keys', 'bad-utf8', 'too-much-work', 'bad-layout', 'wrong-shape', 'unknown-field'] as const;

/** Bodies near the size limit cost milliseconds each to build and to parse: they come a third as often. */
const COSTLY = new Set<string>(['huge-string', 'many-keys']);

function candidate(f: Fuzz, ops: readonly string[], unknownOps: boolean): FuzzRequest {
  let kind: string = f.pick(KINDS);
  if (COSTLY.has(kind) && f.chance(2 / 3)) kind = f.pick(KINDS.filter((k) => !COSTLY.has(k)));
  if (kind === 'unknown-op' && !unknownOps) kind = 'mutated';
  const op = f.pick(ops);
  switch (kind) {
    case 'random-bytes':
      return { op, kind, body: f.bytes(f.chance(0.95) ? f.between(1, 512) : f.between(513, 8192)) };
    case 'json-soup':
      return { op, kind, body: raw(f.text(f.between(1, 400), '{}[]":,0123456789.eE+-truefalsnl \\u\n\tabc_$')) };
    case 'truncated': {
      const v = validBody(f);
      return { op: v.op, kind, body: v.body.slice(0, f.between(1, v.body.length - 1)) };
    }
    case 'mutated': {
      const v = validBody(f);
      return { op: v.op, kind, body: mutate(f, v.body) };
    }
    case 'wrong-type': {
      if (f.chance(0.3)) {
        const [o, body] = f.pick(OTHERS.filter(([x]) => x !== 'list' || f.chance(0.5)));
        const key = Object.keys(body)[0] ?? 'limit';
        return { op: o, kind, body: json({ ...body, [key]: f.pick(WRONG_VALUES) }) };
      }
      const { base, path } = f.chance(0.2) ? { base: { experiment: 'fourrooms', options: {} }, path: [f.pick(['experiment', 'options'])] }
        : optionPath(f);
      return { op: 'submit', kind, body: withRaw(base, path, JSON.stringify(f.pick(WRONG_VALUES))) };
    }
    case 'huge-number': {
      if (f.chance(0.2)) return { op: 'list', kind, body: withRaw({}, ['limit'], f.pick(HUGE_NUMBERS)) };
      const { base, path } = optionPath(f);
      return { op: 'submit', kind, body: withRaw(base, path, f.pick(HUGE_NUMBERS)) };
    }
    case 'nan-string': {
      const { base, path } = optionPath(f);
      const bare = f.chance(0.25);
      return { op: 'submit', kind, body: withRaw(base, path, bare ? f.pick(['NaN', 'Infinity', '-Infinity', 'undefined']) : JSON.stringify(f.pick(NUMBERISH_STRINGS))) };
    }
    case 'deep': {
      const depth = f.pick([MAX_REQUEST_DEPTH + 1, 100, 1000, 10_000, 40_000, 100_000]);
      const text = deepText(f, depth);
      if (f.chance(0.5)) return { op, kind, body: raw(text) };
      const { base, path } = optionPath(f);
      return { op: 'submit', kind, body: withRaw(base, path, text) };
    }
    case 'huge-string': {
      const over = f.chance(0.3);
      const n = MAX_REQUEST_BYTES - 80 + (over ? f.between(100, 2000) : -f.between(0, 1000));
      const chunk = f.text(64, 'ab\\"é😀');
      const s = f.chance(0.5) ? 'a'.repeat(n) : chunk.repeat(Math.ceil(n / 64)).slice(0, n);
      const where = f.pick(['experiment', 'id', 'layoutText', 'goals', 'unknownKey', 'key']);
      if (where === 'id') return { op: f.pick(['get', 'cancel', 'result']), kind, body: json({ id: s }) };
      if (where === 'experiment') return { op: 'submit', kind, body: json({ experiment: s }) };
      if (where === 'key') return { op: 'submit', kind, body: json({ experiment: 'fourrooms', options: { [s]: 1 } }) };
      return { op: 'submit', kind, body: json({ experiment: 'fourrooms', options: { [where]: s } }) };
    }
    case 'prototype':
      return { op: f.pick(['submit', 'get', 'list', 'cancel']), kind, body: raw(f.pick(PROTO_BODIES)) };
    case 'unknown-op': {
      const bogus = f.pick(['', 'drop', 'submit ', 'SUBMIT', '__proto__', 'constructor', 'toString', 'a'.repeat(5000), 'list.x', '*', '>']);
      return { op: bogus, kind, body: validBody(f).body };
    }
    case 'many-keys': {
      const n = f.pick([MAX_REQUEST_KEYS + 1, 1000, 5000]);
      const o: Record<string, number> = {};
      for (let i = 0; i < n; i++) o[`k${i}`] = i;
      return { op, kind, body: json(f.chance(0.5) ? o : { experiment: 'fourrooms', options: o }) };
    }
    case 'bad-utf8': {
      const bad = f.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80]]);
      return { op: 'submit', kind, body: concat(raw('{"experiment": "four'), Uint8Array.from(bad), raw('rooms"}')) };
    }
    case 'too-much-work':
      return { op: 'submit', kind, body: json(f.pick(OVER_THE_TOP)) };
    case 'bad-layout': {
      const junk = f.chance(0.5) ? f.text(f.between(1, 2000), '#.T \nmapvariantforward=0.5teleporttask,..0123456789') : `map\n${'#'.repeat(f.between(1, 50))}\n`;
      return { op: 'submit', kind, body: json({ experiment: 'fourrooms', options: { layoutText: junk } }) };
    }
    case 'wrong-shape':
      return { op, kind, body: raw(f.pick(['[]', '[1,2,3]', '"submit"', '42', 'null', 'true', '""', '{}'.repeat(3), '{} {}', ' '])) };
    default: { // unknown-field
      const v = validBody(f);
      const o = decodeJson(v.body) as Record<string, unknown>;
      return { op: v.op, kind, body: json({ ...o, [f.pick(['extra', 'options2', 'ID', 'exp', 'x'.repeat(200)])]: 1 }) };
    }
  }
}

/**
 * Whether the coordinator must answer `body` on `op` with an error. It replays the
 * API's pure validation; a get, cancel or result that passes it names a job that
 * does not exist (the fuzzed coordinators never accept a job), so it is an error too.
 */
export function mustFail(op: string, body: Uint8Array): boolean {
  try {
    if (body.byteLength > maxRequestBytes(op)) return true;
    const parsed = body.byteLength === 0 ? {} : decodeJson(body, { maxDepth: MAX_REQUEST_DEPTH, maxKeys: MAX_REQUEST_KEYS });
    const req = parseRequest(op, parsed);
    if (req.op === 'submit') planJob(validateSpec(req.spec));
    return req.op !== 'submit' && req.op !== 'list';
  } catch {
    return true;
  }
}

/**
 * Malformed requests for `ops`: candidates that happen to be valid (a mutation can
 * turn 8 goals into 9) are dropped and counted in `dropped`.
 */
export function requestFuzzer(seed: number, ops: readonly string[], unknownOps: boolean): { next(): FuzzRequest; readonly dropped: number } {
  const f = new Fuzz(seed);
  let dropped = 0;
  return {
    next() {
      for (;;) {
        const c = candidate(f, ops, unknownOps);
        if (mustFail(c.op, c.body)) return c;
        dropped++;
      }
    },
    get dropped() { return dropped; },
  };
}

// ---- task messages (msgpack) -------------------------------------------------------

export interface Envelope { jobId: string; taskId: string; task: AgentTask }
export interface FuzzPayload { readonly data: Uint8Array; readonly jobId: string; readonly taskId: string; readonly kind: string }

/** Real task messages, as a coordinator enqueues them, for the fuzzer to start from. */
export function validEnvelopes(): Envelope[] {
  const specs: JobSpec[] = [
    { experiment: 'fourrooms', options: { goals: 4, goalsPerAgent: 2, steps: 5000, reward: 'generic' } },
    { experiment: 'fourrooms', options: { agent: 'oracle', goals: 3 } },
    { experiment: 'mountaincar', options: { goalsPerAgent: 2 } },
    { experiment: 'reacher', options: {} },
  ];
  return specs.flatMap((s) => planJob(validateSpec(s)).tasks.map((t) => ({ jobId: 'jfuzz', taskId: t.taskId, task: t.task })));
}

/** Paths to every value of an envelope (typed arrays are leaves). */
function pathsOf(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (at.length > 0) out.push(at);
  if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) {
    for (const [k, x] of Object.entries(v)) pathsOf(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  }
  return out;
}

function getAt(root: unknown, path: readonly (string | number)[]): unknown {
  let o = root;
  for (const k of path) o = (o as Record<string | number, unknown>)[k];
  return o;
}

function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]] = value;
}

/** A value no validator can accept where `original` stood (every numeric field is bounded, every string an enum or a layout). */
function wrongFor(f: Fuzz, original: unknown): unknown {
  if (typeof original === 'number') return f.pick(['7', true, [], {}, NaN, Infinity, -Infinity, -1e300, 1e300, [1], 2n ** 62n]);
  if (typeof original === 'string') return f.pick([7, null, true, [], {}, '\u0000bogus', new Float64Array(2), ['a']]);
  if (Array.isArray(original)) return f.pick([{}, 'x', 5, null, new Array(100_001).fill(0), new Uint8Array(4)]);
  if (original === null) return f.pick(['x', -1, 99, [], {}]);
  return f.pick([[], 'x', 5, null, true, new Float32Array(3)]);
}

/** Bytes of `env` with `path`'s value replaced by `bytes`, spliced into the msgpack as they are. */
function spliced(env: Envelope, path: readonly (string | number)[], bytes: Uint8Array): Uint8Array {
  const marker = `@@FUZZ-${path.join('.')}@@`;
  const copy = structuredClone(env);
  setAt(copy, path, marker);
  const packed = packBulk(copy);
  const needle = packBulk(marker);
  for (let i = 0; i + needle.length <= packed.length; i++) {
    let same = true;
    for (let j = 0; j < needle.length && same; j++) same = packed[i + j] === needle[j];
    if (same) return concat(packed.subarray(0, i), bytes, packed.subarray(i + needle.length));
  }
  throw new Error('marker not found');
}

/** msgpack headers that declare far more than follows them. */
function hugeHeader(f: Fuzz): Uint8Array {
  const u32 = (t: number, n: number) => Uint8Array.of(t, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const n = f.pick([0xffffffff, 0x7fffffff, 0x10000000, 1 << 24, 70_000]);
  switch (f.int(7)) {
    case 0: return u32(0xdd, n); // array32
    case 1: return u32(0xdf, n); // map32
    case 2: return u32(0xdb, n); // str32
    case 3: return u32(0xc6, n); // bin32
    case 4: return concat(u32(0xc9, n), Uint8Array.of(0x74, 8)); // ext32: a Float64Array of n bytes
    case 5: return Uint8Array.of(0xdc, 0xff, 0xff); // array16
    default: return Uint8Array.of(0xde, 0xff, 0xff); // map16
  }
}

/** Extensions a bulk payload must not carry: records, references, bundles, errors, regexps, sets, dates, bigints, bad typed arrays. */
function forbiddenExt(f: Fuzz): Uint8Array {
  return f.pick([
    Uint8Array.of(0xd4, 0x72, 0x01), Uint8Array.of(0xd6, 0x69, 0, 0, 0, 1, 0x90), Uint8Array.of(0xd6, 0x70, 0, 0, 0, 9),
    Uint8Array.of(0xd6, 0x62, 0x7f, 0xff, 0xff, 0xff, 0xa1, 0x61), Uint8Array.of(0xd4, 0x65, 0x00, 0x93, 0xa5, 0x45, 0x72, 0x72, 0x6f, 0x72, 0xa1, 0x78, 0xc0),
    Uint8Array.of(0xd4, 0x78, 0x00, 0x92, 0xa4, 0x28, 0x61, 0x2b, 0x29, 0xa0), Uint8Array.of(0xd4, 0x73, 0x00, 0x90),
    Uint8Array.of(0xd6, 0xff, 0, 0, 0, 0), Uint8Array.of(0xd5, 0x42, 0x7f, 0xff), Uint8Array.of(0xc7, 0x03, 0x74, 0x63, 0, 0),
    Uint8Array.of(0xc7, 0x08, 0x74, 0x08, 1, 2, 3, 4, 5, 6, 7), Uint8Array.of(0xc7, 0x00, 0x74), Uint8Array.of(0xc1),
    Uint8Array.of(0xc7, 0x02, 0x74, 0x10, 0), Uint8Array.of(0xd4, 0x01, 0x00),
  ]);
}

const PAYLOAD_KINDS = ['random-bytes', 'truncated', 'trailing', 'huge-length', 'deep', 'wrong-type', 'missing-field', 'extra-field',
  'forbidden-ext', 'non-string-key', 'wrong-ids', 'unknown-kind', 'huge-values', 'oversized', 'wrong-top'] as const;

/** Task messages that are malformed by construction (each kind cannot yield a valid task). */
export function payloadFuzzer(seed: number, bases: readonly Envelope[]): () => FuzzPayload {
  const f = new Fuzz(seed);
  return () => {
    const env = f.pick(bases);
    const { jobId, taskId } = env;
    const kind = f.pick(PAYLOAD_KINDS);
    const paths = pathsOf(env.task).map((p) => ['task', ...p]);
    const out = (data: Uint8Array): FuzzPayload => ({ data, jobId, taskId, kind });
    switch (kind) {
      case 'random-bytes': return out(f.bytes(f.between(0, 4096)));
      case 'truncated': { const b = packBulk(env); return out(b.slice(0, f.int(b.length))); }
      case 'trailing': return out(concat(packBulk(env), f.bytes(f.between(1, 16))));
      case 'huge-length': return out(spliced(env, f.pick(paths), hugeHeader(f)));
      case 'deep': {
        const depth = f.pick([33, 100, 10_000, 200_000]);
        const nest = new Uint8Array(depth + 1).fill(f.pick([0x91, 0x81]));
        if (nest[0] === 0x81) { // a map nests through its values: key "a" before each level
          const m = new Uint8Array(3 * depth + 1);
          for (let i = 0; i < depth; i++) m.set([0x81, 0xa1, 0x61], 3 * i);
          m[3 * depth] = 0xc0;
          return out(f.chance(0.5) ? m : spliced(env, f.pick(paths), m));
        }
        nest[depth] = 0xc0;
        return out(f.chance(0.5) ? nest : spliced(env, f.pick(paths), nest));
      }
      case 'wrong-type': {
        const copy = structuredClone(env);
        const p = f.pick(paths);
        setAt(copy, p, wrongFor(f, getAt(copy, p)));
        return out(packBulk(copy));
      }
      case 'missing-field': {
        const copy = structuredClone(env) as unknown as Record<string, Record<string, unknown>>;
        const k = f.pick(Object.keys(copy.task).filter((x) => x !== 'goalIndices'));
        delete copy.task[k];
        return out(packBulk(copy));
      }
      case 'extra-field': {
        const copy = structuredClone(env) as unknown as Record<string, unknown>;
        const target = f.chance(0.5) ? copy : copy.task as Record<string, unknown>;
        // defineProperty: a plain assignment to "__proto__" would set the prototype instead of adding a key.
        Object.defineProperty(target, f.pick(['__proto__', 'constructor', 'prototype', 'extra', 'run', 'kind2']),
          { value: f.pick([1, 'x', { polluted: true }]), enumerable: true, configurable: true, writable: true });
        return out(packBulk(copy));
      }
      case 'forbidden-ext': return out(spliced(env, f.pick(paths), forbiddenExt(f)));
      case 'non-string-key': {
        const key = f.pick([Uint8Array.of(0x01), Uint8Array.of(0xc0), Uint8Array.of(0x90), Uint8Array.of(0xcb, 0, 0, 0, 0, 0, 0, 0, 0)]);
        return out(spliced(env, f.pick(paths), concat(Uint8Array.of(0x81), key, Uint8Array.of(0x01))));
      }
      case 'wrong-ids': {
        const copy = structuredClone(env);
        if (f.chance(0.5)) copy.jobId = `${jobId}x`; else copy.taskId = f.pick(['', 'a-9-9', `${taskId} `, 'x'.repeat(300)]);
        return out(packBulk(copy));
      }
      case 'unknown-kind': {
        const copy = structuredClone(env) as unknown as { task: { kind: unknown } };
        copy.task.kind = f.pick(['fourrooms-fit', 'continuous-fit', 'rm -rf /', '', 'Tabular-Agent', null, 0]);
        return out(packBulk(copy));
      }
      case 'huge-values': {
        const copy = structuredClone(env) as unknown as { task: Record<string, unknown> };
        const t = copy.task;
        if (t.kind === 'tabular-agent') {
          switch (f.int(4)) {
            case 0: (t.qlearning as Record<string, unknown>).steps = f.pick([1e10, 1e15, 2 ** 53]); break;
            case 1: t.goals = Array.from({ length: f.pick([10_001, 30_000]) }, (_, i) => ({ kind: 'generic', seed: i })); break;
            case 2: t.layoutText = f.chance(0.5) ? openLayout(100, f.pick([11, 20, 150])) : openLayout(f.pick([129, 400]), 2); break;
            default: t.checkpoints = Array.from({ length: 9 }, (_, i) => i + 1);
          }
        } else {
          const c = t.config as Record<string, unknown>;
          switch (f.int(3)) {
            case 0: c.grid = f.pick([2001, 1e9, 2.5, 0]); break;
            case 1: c.viMaxIters = f.pick([1e6 + 1, 1e12]); break;
            default: Object.assign(c, { experiment: 'mountaincar', goalFamily: 'position', grid: 2000, viMaxIters: 1e6, viTol: 1e-14, gamma: 0.999999 });
          }
        }
        return out(packBulk(copy));
      }
      case 'oversized': {
        const copy = structuredClone(env) as unknown as Record<string, unknown>;
        copy.padding = 'p'.repeat(MAX_TASK_PAYLOAD_BYTES + f.between(1, 1000));
        return out(packBulk(copy));
      }
      default: // wrong-top
        return out(packBulk(f.pick<unknown>([null, 1, 'task', [env], [], new Float64Array(4), true, { jobId, taskId }])));
    }
  };
}

/** Valid messages with a few random bytes changed: some still decode to a valid task, and that is fine. */
export function flipFuzzer(seed: number, bases: readonly Envelope[]): () => FuzzPayload {
  const f = new Fuzz(seed);
  return () => {
    const env = f.pick(bases);
    const b = packBulk(env).slice();
    for (let n = f.between(1, 4); n > 0; n--) b[f.int(b.length)] ^= 1 << f.int(8);
    return { data: b, jobId: env.jobId, taskId: env.taskId, kind: 'bit-flip' };
  };
}
