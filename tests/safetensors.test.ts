// The safetensors container and the network artifacts built on it: exact round
// trips (bit for bit, edge values included), the byte layout the format fixes,
// refusal of every malformed header a hostile file could carry, and — where a
// Python with the `safetensors` package is available — that the official reader
// and ours agree in both directions.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../shared/format/safetensors.ts';
import type { SafeTensor, SafeTensorInput, SafetensorsLimits, TensorData } from '../shared/format/safetensors.ts';
import type { QNetSpec, QNetWeights } from '../shared/agents/q-network.ts';
import { qNetParamShapes } from '../shared/agents/q-network.ts';
import type { WorldModelSpec, WorldModelWeights } from '../shared/plearning/neural-model.ts';
import { initWorldModel, makeWorldModel } from '../shared/plearning/neural-model.ts';
import { Rng } from '../shared/util/rng.ts';
import {
  ArtifactError, qNetFileName, qNetFromSafetensors, qNetToSafetensors, readQNetFile, readWorldModelFiles, worldModelFromSafetensors,
  worldModelToSafetensors, writeQNetFile, writeRunArtifacts, writeWorldModelFiles,
} from '../coordinator/artifacts.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { resolveContinuousConfig } from '../shared/experiments/continuous-config.ts';
import type { ContinuousPqnArtifact } from '../shared/tasks/continuous-pqn.ts';
import { findPython } from './support/python.ts';

// ---- helpers --------------------------------------------------------------------

const bitsOf = (d: TensorData) => new Uint32Array(d.buffer, d.byteOffset, d.byteLength / 4);

function assertSameBits(got: TensorData, want: TensorData, what: string): void {
  assert.equal(got.constructor, want.constructor, `${what}: typed array kind`);
  assert.equal(got.length, want.length, `${what}: length`);
  assert.deepEqual(Array.from(bitsOf(got)), Array.from(bitsOf(want)), `${what}: bits`);
}

/** Random bit patterns (every NaN payload, denormal and infinity can appear) plus the named edge values. */
function randomF32(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  const u = bitsOf(a);
  for (let i = 0; i < n; i++) u[i] = rng.nextU32();
  const edges = [0, -0, Infinity, -Infinity, 1.401298464324817e-45, -1.401298464324817e-45, 1.1754942106924411e-38, 3.4028234663852886e38, NaN];
  edges.forEach((x, i) => { if (i < n) a[i] = x; });
  if (n > edges.length) u[edges.length] = 0x7fc01234; // a quiet NaN with a payload, written as bits
  return a;
}

function randomF64(rng: Rng, n: number): Float64Array {
  const a = new Float64Array(n);
  const u = bitsOf(a);
  for (let i = 0; i < u.length; i++) u[i] = rng.nextU32();
  const edges = [0, -0, Infinity, -Infinity, 5e-324, -5e-324, 2.2250738585072014e-308, Number.MAX_VALUE, NaN];
  edges.forEach((x, i) => { if (i < n) a[i] = x; });
  return a;
}

function randomI32(rng: Rng, n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.nextU32() | 0;
  if (n > 1) { a[0] = -(2 ** 31); a[1] = 2 ** 31 - 1; }
  return a;
}

/** A file from raw header text and data bytes, with the length field as given (default: the text's UTF-8 length). */
function rawFile(header: string, data: Uint8Array | number = 0, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp, limits?: SafetensorsLimits): void {
  assert.throws(() => decodeSafetensors(bytes, limits), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected a SafetensorsError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

const entry = (dtype: string, shape: unknown, offsets: unknown) => JSON.stringify({ dtype, shape, data_offsets: offsets });

// ---- the container ----------------------------------------------------------------

describe('safetensors container', () => {
  test('round trip is bit-identical for F32, F64 and I32, edge values and NaN payloads included', () => {
    const rng = new Rng(42);
    const tensors: SafeTensorInput[] = [
      { name: 'a.f32', dtype: 'F32', shape: [3, 7], data: randomF32(rng, 21) },
      { name: 'b.f64', dtype: 'F64', shape: [5, 3], data: randomF64(rng, 15) },
      { name: 'c.i32', dtype: 'I32', shape: [11], data: randomI32(rng, 11) },
      { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.of(-0) },
      { name: 'empty', dtype: 'F64', shape: [0, 4], data: new Float64Array(0) },
      { name: 'odd', dtype: 'F32', shape: [1], data: Float32Array.of(1.5) },
    ];
    const metadata = { format: 'test/1', 'with "quotes"\n': 'and ünïcödé ✓', empty: '' };
    const bytes = encodeSafetensors(tensors, metadata);
    const back = decodeSafetensors(bytes);
    assert.deepEqual(back.metadata, metadata);
    assert.equal(back.tensors.length, tensors.length);
    for (const t of tensors) {
      const got = back.tensors.find((x) => x.name === t.name);
      assert.ok(got, `tensor ${t.name} is back`);
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assertSameBits(got.data, t.data, t.name);
      assert.notEqual(got.data.buffer, bytes.buffer, `${t.name} is a copy, not a view of the file`);
    }
  });

  test('the header is padded to a multiple of 8 and every tensor starts aligned to its item size', () => {
    const rng = new Rng(7);
    // Odd element counts in every dtype, F64 listed last: a naive layout would misalign it.
    const tensors: SafeTensorInput[] = [
      { name: 'x', dtype: 'F32', shape: [3], data: randomF32(rng, 3) },
      { name: 'y', dtype: 'I32', shape: [1], data: randomI32(rng, 1) },
      { name: 'z', dtype: 'F64', shape: [5], data: randomF64(rng, 5) },
    ];
    const metas: (Record<string, string> | undefined)[] = [undefined, { k: 'v' }, { long: 'x'.repeat(13) }];
    for (const meta of metas) {
      const bytes = encodeSafetensors(tensors, meta);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      assert.equal(n % 8, 0, 'header length is a multiple of 8');
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
      for (const t of tensors) {
        const abs = 8 + n + header[t.name].data_offsets[0];
        assert.equal(abs % t.data.BYTES_PER_ELEMENT, 0, `${t.name} starts at byte ${abs}`);
      }
      // Caller order is kept within each width; wider dtypes come first.
      assert.deepEqual(decodeSafetensors(bytes).tensors.map((t) => t.name), ['z', 'x', 'y']);
    }
  });

  test('a one-tensor file matches the format byte for byte', () => {
    const bytes = encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) }]);
    const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; // 54 bytes, padded to 56
    assert.equal(json.length, 54);
    const want = [
      56, 0, 0, 0, 0, 0, 0, 0,
      ...Array.from(json, (c) => c.charCodeAt(0)), 0x20, 0x20,
      0x00, 0x00, 0x80, 0x3f, // 1.0f little-endian
      0x00, 0x00, 0x00, 0xc0, // -2.0f
    ];
    assert.deepEqual(Array.from(bytes), want);

    const withMeta = encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, -2) }], { k: 'v' });
    const text = new TextDecoder().decode(withMeta.subarray(8, 8 + Number(new DataView(withMeta.buffer).getBigUint64(0, true))));
    assert.equal(text.trimEnd(), '{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
  });

  test('decodes from a Node Buffer at an odd offset into fresh, aligned arrays', () => {
    const bytes = encodeSafetensors([{ name: 'd', dtype: 'F64', shape: [3], data: Float64Array.of(1.25, -0, 5e-324) }]);
    const shifted = Buffer.concat([Buffer.from([0xaa]), Buffer.from(bytes)]).subarray(1);
    const [t] = decodeSafetensors(shifted).tensors;
    assert.equal(t.dtype, 'F64');
    assert.equal(t.data.byteOffset, 0);
    assertSameBits(t.data, Float64Array.of(1.25, -0, 5e-324), 'd');
    shifted.fill(0);
    assert.equal(t.data[0], 1.25, 'the decoded array does not alias the input');
  });

  test('names and metadata keys that look like prototype fields stay plain data', () => {
    const bytes = encodeSafetensors([{ name: '__proto__', dtype: 'I32', shape: [1], data: Int32Array.of(5) }], { __proto__: 'x', constructor: 'y' } as Record<string, string>);
    const back = decodeSafetensors(bytes);
    assert.equal(back.tensors[0].name, '__proto__');
    assert.equal(Object.getPrototypeOf(back.metadata), Object.prototype);
    assert.deepEqual(Object.keys(back.metadata).sort(), ['constructor']);
    const evil = decodeSafetensors(rawFile('{"__metadata__":{"__proto__":"p"}}'));
    assert.equal(Object.getOwnPropertyDescriptor(evil.metadata, '__proto__')?.value, 'p');
    assert.equal(Object.getPrototypeOf(evil.metadata), Object.prototype);
  });

  describe('rejects malformed files, naming the field', () => {
    const ok = entry('F32', [2], [0, 8]);
    test('too short for the length field', () => rejects(new Uint8Array(5), /header length: the file is 5 bytes/));
    test('header length above the limit', () => {
      rejects(rawFile(`{"a":${ok}}`, 8), /header length: .* exceeds the limit of 16/, { maxHeaderBytes: 16 });
      rejects(rawFile('{}', 0, 2n ** 40n), /header length: 1099511627776 bytes exceeds the limit/);
    });
    test('header length past the end of the file', () => rejects(rawFile('{}', 0, 100n), /header length: 100 bytes runs past the end of the file/));
    test('header not UTF-8', () => {
      const f = rawFile('{"a":1}');
      f[10] = 0xff;
      rejects(f, /header: is not valid UTF-8/);
    });
    test('header not an object', () => rejects(rawFile('[1,2]'), /header: must be a JSON object/));
    test('invalid JSON', () => {
      rejects(rawFile(`{"a":${ok},}`, 8), /header: invalid JSON at character \d+/);
      rejects(rawFile(`{"a":${ok}} x`, 8), /trailing characters/);
      rejects(rawFile('{"a":"\u0001"}'), /control character/);
    });
    test('JSON nested too deep', () => rejects(rawFile(`{"__metadata__":${'['.repeat(40)}${']'.repeat(40)}}`), /nested deeper than 16/));
    test('duplicate tensor names', () => rejects(rawFile(`{"a":${ok},"a":${entry('F32', [2], [8, 16])}}`, 16), /duplicate key "a" \(a tensor name appears twice\)/));
    test('unknown dtype', () => {
      rejects(rawFile(`{"a":${entry('BF16', [4], [0, 8])}}`, 8), /tensor "a" dtype: unsupported dtype "BF16" \(supported: F32, F64, I32\)/);
      rejects(rawFile(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, 8), /tensor "a" dtype: expected a string/);
    });
    test('bad dims', () => {
      rejects(rawFile(`{"a":${entry('F32', [-2], [0, 8])}}`, 8), /tensor "a" shape: dimension number -2 is not a non-negative integer/);
      rejects(rawFile(`{"a":${entry('F32', [1.5], [0, 8])}}`, 8), /tensor "a" shape: dimension number 1.5/);
      rejects(rawFile(`{"a":${entry('F32', ['2'], [0, 8])}}`, 8), /tensor "a" shape: dimension the string "2"/);
      rejects(rawFile(`{"a":${entry('F32', 2, [0, 8])}}`, 8), /tensor "a" shape: expected an array/);
      assert.equal(decodeSafetensors(rawFile(`{"a":${ok}}`, 8)).tensors.length, 1, 'the well-formed entry itself passes');
    });
    test('shape × item size ≠ byte length', () => {
      rejects(rawFile(`{"a":${entry('F32', [3], [0, 8])}}`, 8), /tensor "a" shape: \[3\] × 4 bytes \(F32\) = 12 bytes, but data_offsets \[0, 8\] span 8/);
      rejects(rawFile(`{"a":${entry('F64', [2 ** 40, 2 ** 40], [0, 8])}}`, 8), /tensor "a" shape/);
    });
    test('offsets out of range or malformed', () => {
      rejects(rawFile(`{"a":${entry('F32', [2], [0, 8])}}`, 4), /tensor "a" data_offsets: \[0, 8\] runs past the end of the data buffer \(4 bytes\)/);
      rejects(rawFile(`{"a":${entry('F32', [2], [8, 0])}}`, 8), /tensor "a" data_offsets: .* not a pair of integers 0 ≤ begin ≤ end/);
      rejects(rawFile(`{"a":${entry('F32', [2], [-8, 0])}}`, 8), /tensor "a" data_offsets/);
      rejects(rawFile(`{"a":${entry('F32', [2], [0])}}`, 8), /tensor "a" data_offsets: expected \[begin, end\]/);
    });
    test('overlapping offsets', () => {
      rejects(rawFile(`{"a":${ok},"b":${entry('F32', [2], [4, 12])}}`, 12), /tensor "b" data_offsets: \[4, 12\] overlaps tensor "a"/);
      rejects(rawFile(`{"a":${ok},"b":${ok}}`, 8), /overlaps tensor "a"/);
    });
    test('gaps and trailing bytes', () => {
      rejects(rawFile(`{"a":${ok},"b":${entry('F32', [1], [12, 16])}}`, 16), /tensor "b" data_offsets: \[12, 16\] leaves a gap/);
      rejects(rawFile(`{"a":${entry('F32', [2], [4, 12])}}`, 12), /tensor "a" data_offsets: .* leaves a gap: the previous tensor ends at byte 0/);
      rejects(rawFile(`{"a":${ok}}`, 12), /data: the tensors cover 8 bytes but the data buffer holds 12/);
    });
    test('unknown fields and non-object entries', () => {
      rejects(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offsets":[0,8]}}`, 8), /tensor "a": unknown field "offsets"/);
      rejects(rawFile('{"a":[1,2]}'), /tensor "a": expected an object/);
    });
    test('metadata that is not a map of strings', () => {
      rejects(rawFile('{"__metadata__":{"k":1}}'), /__metadata__\."k": expected a string, got number 1/);
      rejects(rawFile('{"__metadata__":{"k":null}}'), /__metadata__\."k": expected a string, got null/);
      rejects(rawFile('{"__metadata__":["k"]}'), /__metadata__: expected an object of strings/);
    });
    test('more tensors than the limit', () => {
      rejects(rawFile(`{"a":${ok},"b":${entry('F32', [2], [8, 16])}}`, 16), /header: more than 1 tensors/, { maxTensors: 1 });
    });
  });

  test('refuses to encode what it could not decode', () => {
    const enc = (t: SafeTensorInput[], m?: Record<string, string>) => () => encodeSafetensors(t, m);
    assert.throws(enc([{ name: 'a', dtype: 'F32', shape: [2], data: new Float64Array(2) }]), /tensor "a" data: a Float64Array does not hold F32 values/);
    assert.throws(enc([{ name: 'a', dtype: 'F32', shape: [3], data: new Float32Array(2) }]), /tensor "a" shape: \[3\] holds 3 values, data has 2/);
    assert.throws(enc([{ name: 'a', dtype: 'F32', shape: [-1], data: new Float32Array(0) }]), /tensor "a" shape: dimension -1/);
    assert.throws(enc([{ name: 'a', dtype: 'I32', shape: [0], data: new Int32Array(0) }, { name: 'a', dtype: 'I32', shape: [0], data: new Int32Array(0) }]), /duplicate tensor name/);
    assert.throws(enc([{ name: '__metadata__', dtype: 'I32', shape: [0], data: new Int32Array(0) }]), /reserved/);
    assert.throws(enc([], { k: 3 as unknown as string }), /__metadata__\."k": expected a string/);
  });
});

// ---- network artifacts ---------------------------------------------------------------

const WM_SPEC: WorldModelSpec = {
  stateDim: 2, nActions: 3, hidden: [5, 4], activation: 'tanh', outputInitScale: 0.01, angleDims: [],
  inputBox: { low: Float64Array.of(-1.2, -0.07), high: Float64Array.of(0.6, 0.07) },
};

/** A world model with arbitrary bits in its weights (a trained model's values are just a special case). */
function randomWorldModel(spec: WorldModelSpec, seed: number): WorldModelWeights {
  const rng = new Rng(seed);
  const base = initWorldModel(spec, rng);
  return { spec, layers: base.layers.map((l) => ({ ...l, w: randomF32(rng, l.w.length), b: randomF32(rng, l.b.length) })) };
}

const Q_SPEC: QNetSpec = { obsDims: [0, 1], goalDims: [0], hidden: [6, 3], nActions: 3 };

function randomQNet(spec: QNetSpec, seed: number): QNetWeights {
  const rng = new Rng(seed);
  return { spec, params: qNetParamShapes(spec).map((p) => ({ ...p, data: randomF32(rng, p.shape.reduce((a, b) => a * b, 1)) })) };
}

const CONFIG = { experiment: 'mountaincar', seed: 3, evalStates: 200, sampleFrom: 'uniform', nested: { list: [1, 2] } };

function rejectsArtifact(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ArtifactError, `expected an ArtifactError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Re-encode a file's tensors and metadata after `edit`, to forge files that disagree with their spec. */
function forge(bytes: Uint8Array, edit: (t: SafeTensor[], m: Record<string, string>) => SafeTensorInput[]): Uint8Array {
  const f = decodeSafetensors(bytes);
  const m = { ...f.metadata };
  return encodeSafetensors(edit(f.tensors, m), m);
}

describe('network artifacts', () => {
  test('a world model loads back bit-identical, spec and run metadata included', () => {
    const w = randomWorldModel(WM_SPEC, 1);
    const back = worldModelFromSafetensors(worldModelToSafetensors(w, { experiment: 'mountaincar', config: CONFIG, seedIndex: 4 }));
    assert.equal(back.experiment, 'mountaincar');
    assert.deepEqual(back.config, CONFIG);
    assert.equal(back.seedIndex, 4);
    assert.deepEqual({ ...back.weights.spec, inputBox: undefined }, { ...WM_SPEC, inputBox: undefined });
    assert.ok(back.weights.spec.inputBox?.low instanceof Float64Array);
    assert.deepEqual(Array.from(back.weights.spec.inputBox!.high), Array.from(WM_SPEC.inputBox!.high));
    assert.equal(back.weights.layers.length, 3);
    back.weights.layers.forEach((l, i) => {
      assert.equal(l.inDim, w.layers[i].inDim);
      assert.equal(l.outDim, w.layers[i].outDim);
      assertSameBits(l.w, w.layers[i].w, `layer ${i} kernel`);
      assertSameBits(l.b, w.layers[i].b, `layer ${i} bias`);
    });
    const names = decodeSafetensors(worldModelToSafetensors(w, { experiment: 'x', config: null })).tensors.map((t) => `${t.name} [${t.shape}]`);
    assert.deepEqual(names, ['layers.0.kernel [5,5]', 'layers.0.bias [5]', 'layers.1.kernel [5,4]', 'layers.1.bias [4]', 'layers.2.kernel [4,2]', 'layers.2.bias [2]']);
  });

  test('a world model file that disagrees with its spec is refused', () => {
    const good = worldModelToSafetensors(randomWorldModel({ ...WM_SPEC, inputBox: undefined }, 2), { experiment: 'mountaincar', config: CONFIG });
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t) => t.filter((x) => x.name !== 'layers.1.bias')), 'f.safetensors'),
      /f\.safetensors: tensor layers\.1\.bias is missing \(spec needs shape \[4\]\)/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t) => [...t, { name: 'layers.3.bias', dtype: 'F32', shape: [1], data: new Float32Array(1) }])),
      /tensor layers\.3\.bias is not part of the network/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t) => t.map((x) => (x.name === 'layers.0.kernel' ? { ...x, shape: [25] } : x)))),
      /tensor layers\.0\.kernel has shape \[25\], spec needs \[5, 5\]/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t) => t.map((x) => (x.name === 'layers.2.bias' ? { ...x, dtype: 'F64', data: new Float64Array(2) } : x)))),
      /tensor layers\.2\.bias is F64, expected F32/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t, m) => { m.spec = m.spec.replace('"hidden":[5,4]', '"hidden":[5]'); return t; })),
      /is not part of the network|has shape/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t, m) => { m.spec = '{"stateDim":0}'; return t; })), /spec\.stateDim expected a positive integer/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t, m) => { m.config = '{oops'; return t; })), /metadata config is not valid JSON/);
    rejectsArtifact(() => worldModelFromSafetensors(forge(good, (t, m) => { m.format = 'plearn.q-network/1'; return t; })), /metadata format is "plearn\.q-network\/1", expected "plearn\.world-model\/1"/);
    rejectsArtifact(() => worldModelFromSafetensors(good.subarray(0, good.length - 1), 'cut.safetensors'), /cut\.safetensors: safetensors tensor "layers\.2\.bias" data_offsets: \[\d+, \d+\] runs past the end/);
    rejectsArtifact(() => worldModelToSafetensors({ spec: WM_SPEC, layers: randomWorldModel(WM_SPEC, 3).layers.slice(1) }, { experiment: 'x', config: {} }),
      /world model: weights have 2 layers, spec needs 3/);
  });

  test('a Q-network loads back bit-identical with its goals and extra', () => {
    const w = randomQNet(Q_SPEC, 5);
    const goals = [{ target: [0.6, 0], mask: [1, 0] }, { target: [-1.2, 0], mask: [1, 0] }];
    const extra = { shardIndex: 1, note: 'x' };
    const back = qNetFromSafetensors(qNetToSafetensors(w, { experiment: 'mountaincar', config: CONFIG, goals, extra }));
    assert.deepEqual(back.weights.spec, Q_SPEC);
    assert.deepEqual(back.goals, goals);
    assert.deepEqual(back.extra, extra);
    assert.deepEqual(back.config, CONFIG);
    assert.deepEqual(back.weights.params.map((p) => p.name), qNetParamShapes(Q_SPEC).map((p) => p.name));
    back.weights.params.forEach((p, i) => {
      assert.deepEqual(p.shape, w.params[i].shape);
      assertSameBits(p.data, w.params[i].data, p.name);
    });
    assert.equal(qNetFromSafetensors(qNetToSafetensors(w, { experiment: 'mountaincar', config: CONFIG, goals })).extra, undefined);
  });

  test('a Q-network with input normalisation keeps it; a normalisation of the wrong width is refused', () => {
    const spec = { ...Q_SPEC, inputNorm: { shift: [-0.3, 0, -0.3], scale: [1 / 0.9, 1 / 0.07, 1 / 0.9] } };
    const w = { spec, params: randomQNet(Q_SPEC, 8).params };
    const goals = [{ target: [0.6, 0], mask: [1, 0] }];
    const file = qNetToSafetensors(w, { experiment: 'mountaincar', config: CONFIG, goals });
    assert.deepEqual(qNetFromSafetensors(file).weights.spec, spec);
    rejectsArtifact(() => qNetFromSafetensors(forge(file, (t, m) => { m.spec = m.spec.replace('"shift":[-0.3,0,-0.3]', '"shift":[-0.3,0]'); return t; })),
      /spec\.inputNorm\.shift has 2 values, expected 3/);
    rejectsArtifact(() => qNetFromSafetensors(forge(file, (t, m) => { m.spec = m.spec.replace('"inputNorm":{', '"inputNorm":{"x":1,').replace(/"scale":\[[^\]]*\]/, '"scale":"big"'); return t; })),
      /spec\.inputNorm\.scale expected a list of finite numbers/);
  });

  test('a Q-network file that disagrees with its spec is refused', () => {
    const good = qNetToSafetensors(randomQNet(Q_SPEC, 6), { experiment: 'mountaincar', config: CONFIG, goals: [{ target: [0, 0], mask: [1, 0] }] });
    rejectsArtifact(() => qNetFromSafetensors(forge(good, (t) => t.filter((x) => x.name !== 'hidden.1.norm.scale'))), /tensor hidden\.1\.norm\.scale is missing/);
    rejectsArtifact(() => qNetFromSafetensors(forge(good, (t) => t.map((x) => (x.name === 'head.kernel' ? { ...x, shape: [1, 9] } : x)))),
      /tensor head\.kernel has shape \[1, 9\], spec needs \[3, 3\]/);
    rejectsArtifact(() => qNetFromSafetensors(forge(good, (t, m) => { m.goals = '[{"target":[0],"mask":[1,0]}]'; return t; })), /goals\[0\]\.mask has 2 values, expected 1/);
    rejectsArtifact(() => qNetFromSafetensors(forge(good, (t, m) => { m.spec = m.spec.replace('"nActions":3', '"nActions":4'); return t; })), /head\.kernel has shape \[3, 3\], spec needs \[3, 4\]/);
    rejectsArtifact(() => qNetFromSafetensors(forge(good, (t, m) => { delete m.format; return t; })), /metadata format missing/);
    const bad = randomQNet(Q_SPEC, 7);
    rejectsArtifact(() => qNetToSafetensors({ spec: Q_SPEC, params: bad.params.slice(0, -1) }, { experiment: 'x', config: {}, goals: [] }), /q-network: weights do not match the spec \(q-network: 9 parameters, spec needs 10\)/);
  });

  test('world-model and Q-network files: atomic writes, read back sorted by seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plearn-artifacts-'));
    try {
      const models = [7, 0, 12].map((s) => ({ result: { seedIndex: s }, weights: randomWorldModel(WM_SPEC, 10 + s) }));
      await writeWorldModelFiles(dir, models, { experiment: 'mountaincar', config: CONFIG });
      await writeFile(join(dir, 'world-model-seed01.safetensors'), 'not a model'); // not our name pattern: ignored
      const back = await readWorldModelFiles(dir);
      assert.deepEqual(back.map((m) => m.seedIndex), [0, 7, 12]);
      for (const m of back) {
        const orig = models.find((x) => x.result.seedIndex === m.seedIndex)!;
        m.weights.layers.forEach((l, i) => assertSameBits(l.w, orig.weights.layers[i].w, `seed ${m.seedIndex} layer ${i}`));
      }
      const qPath = join(dir, 'sub', 'q-network-seed0-agent1.safetensors');
      const q = randomQNet(Q_SPEC, 9);
      await writeQNetFile(qPath, q, { experiment: 'mountaincar', config: CONFIG, goals: [{ target: [0.6, 0], mask: [1, 0] }] });
      assertSameBits((await readQNetFile(qPath)).weights.params[0].data, q.params[0].data, 'q-network file');
      assert.ok(!(await readdir(dir)).some((n) => n.includes('.tmp-')), 'no temporary files left behind');
      // A renamed file must not pass as another seed.
      await rename(join(dir, 'world-model-seed7.safetensors'), join(dir, 'world-model-seed8.safetensors'));
      await assert.rejects(readWorldModelFiles(dir), /metadata seedIndex is 7, but the file name says seed 8/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('writeRunArtifacts: a PQN run leaves one world model per seed and one Q-network per agent, with its goals', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plearn-run-artifacts-'));
  try {
    const config = resolveContinuousConfig('mountaincar', { agent: 'pqn', goalFamily: 'velocity', goalsPerAgent: 2, seeds: 2 });
    const empty = new Float64Array(0);
    const agent = (seedIndex: number, shardIndex: number): ContinuousPqnArtifact => ({
      kind: 'continuous-pqn', seedIndex, shardIndex, goalIndices: [2 * shardIndex, 2 * shardIndex + 1],
      weights: randomQNet({ obsDims: [0, 1], goalDims: [1], hidden: [4], nActions: 3 }, 100 * seedIndex + shardIndex),
      curves: { updateSteps: empty, loss: empty, epsilon: empty, evalSteps: empty, evalReturn: [], goalLabels: [] },
      envSteps: 1000, gradSteps: 10, wallMs: 1,
    });
    const fits = [0, 1].map((s) => ({ result: { seedIndex: s }, weights: randomWorldModel({ ...WM_SPEC, inputBox: undefined }, s), agents: [agent(s, 0), agent(s, 1)] }));
    const paths = await writeRunArtifacts(dir, fits, { experiment: 'mountaincar', config });
    assert.deepEqual(paths.map((p) => p.slice(dir.length + 1)), [
      'world-model-seed0.safetensors', 'world-model-seed1.safetensors',
      'q-network-seed0-agent0.safetensors', 'q-network-seed0-agent1.safetensors',
      'q-network-seed1-agent0.safetensors', 'q-network-seed1-agent1.safetensors',
    ]);
    const q = await readQNetFile(join(dir, qNetFileName(1, 1)));
    const { goals } = trainingGoals('mountaincar', 'velocity');
    assert.deepEqual(q.goals, [2, 3].map((i) => ({ target: Array.from(goals[i].target), mask: Array.from(goals[i].mask) })));
    assert.deepEqual(q.extra, {
      seedIndex: 1, shardIndex: 1, goalIndices: [2, 3], envSteps: 1000, gradSteps: 10,
      curves: { updateSteps: [], loss: [], epsilon: [], evalSteps: [], evalReturn: [], goalLabels: [] },
    });
    assert.deepEqual(q.config, JSON.parse(JSON.stringify(config)));
    assertSameBits(q.weights.params[0].data, fits[1].agents[1].weights.params[0].data, 'agent weights');
    assert.deepEqual((await readWorldModelFiles(dir)).map((m) => m.seedIndex), [0, 1]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- the official Python reader and writer --------------------------------------

/** The snippet the README shows: load a world model with numpy and run its forward pass. */
const README_SNIPPET = `
import json
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

path = "out/world-model-seed0.safetensors"
weights = load_file(path)                      # {"layers.0.kernel": array (in, out), ...}
with safe_open(path, framework="numpy") as f:
    meta = f.metadata()                        # all str: format, spec, experiment, config, seedIndex
spec = json.loads(meta["spec"])
config = json.loads(meta["config"])
print(meta["format"], meta["experiment"], "hidden", spec["hidden"], "seed", config["seed"])

def predict(states, actions):
    """Next states for states (n, stateDim) and integer actions (n,), as plearn computes them."""
    x = np.asarray(states, dtype=np.float64)
    if "inputBox" in spec:
        low, high = np.array(spec["inputBox"]["low"]), np.array(spec["inputBox"]["high"])
        x = 2 * (x - low) / (high - low) - 1
    h = np.concatenate([x, np.eye(spec["nActions"])[actions]], axis=1)
    n_layers = len(spec["hidden"]) + 1
    for i in range(n_layers):
        h = h @ weights[f"layers.{i}.kernel"].astype(np.float64) + weights[f"layers.{i}.bias"]
        if i < n_layers - 1:
            h = np.tanh(h) if spec["activation"] == "tanh" else np.maximum(h, 0)
    nxt = np.asarray(states, dtype=np.float64) + h
    for d in spec["angleDims"]:                # angles wrap to [-pi, pi)
        nxt[:, d] -= 2 * np.pi * np.floor((nxt[:, d] + np.pi) / (2 * np.pi))
    return nxt
`;

function runPython(python: string, script: string, args: string[], input = ''): string {
  const r = spawnSync(python, ['-c', script, ...args], { encoding: 'utf8', input });
  assert.equal(r.status, 0, `python failed:\n${r.stderr}`);
  return r.stdout;
}

describe('agrees with the official safetensors package', () => {
  const py = findPython(['safetensors', 'numpy']);

  test('Python reads a file we wrote: dtypes, shapes, exact bytes, sums, metadata', async (t) => {
    if ('skip' in py) { t.skip(py.skip); return; }
    const dir = await mkdtemp(join(tmpdir(), 'plearn-st-py-'));
    try {
      const rng = new Rng(3);
      const tensors: SafeTensorInput[] = [
        { name: 'f32', dtype: 'F32', shape: [4, 5], data: Float32Array.from({ length: 20 }, () => rng.next() * 2 - 1) },
        { name: 'f64', dtype: 'F64', shape: [3], data: Float64Array.of(-0, 5e-324, -1e300) },
        { name: 'i32', dtype: 'I32', shape: [2, 2], data: randomI32(rng, 4) },
        { name: 'edges', dtype: 'F32', shape: [9], data: randomF32(rng, 9) },
      ];
      const path = join(dir, 'ours.safetensors');
      await writeFile(path, encodeSafetensors(tensors, { format: 'test/1', 'ünï': 'cödé' }));
      const script = `
import json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
out = {k: {"dtype": str(v.dtype), "shape": list(v.shape), "hex": v.tobytes().hex(),
           "sum": float(np.sum(v[np.isfinite(v)].astype(np.float64))) if v.dtype.kind == "f" else int(v.astype(np.int64).sum())}
       for k, v in t.items()}
print(json.dumps({"tensors": out, "meta": meta}))
`;
      const got = JSON.parse(runPython(py.python, script, [path])) as {
        tensors: Record<string, { dtype: string; shape: number[]; hex: string; sum: number }>; meta: Record<string, string>;
      };
      assert.deepEqual(got.meta, { format: 'test/1', 'ünï': 'cödé' });
      const npType = { F32: 'float32', F64: 'float64', I32: 'int32' } as const;
      for (const x of tensors) {
        const g = got.tensors[x.name];
        assert.equal(g.dtype, npType[x.dtype], `${x.name} dtype`);
        assert.deepEqual(g.shape, x.shape, `${x.name} shape`);
        assert.equal(g.hex, Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).toString('hex'), `${x.name} bytes`);
        let sum = 0;
        for (const v of x.data) if (Number.isFinite(v)) sum += v;
        assert.ok(Math.abs(g.sum - sum) <= 1e-9 * Math.max(1, Math.abs(sum)), `${x.name} sum ${g.sum} vs ${sum}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('we read a file Python wrote', async (t) => {
    if ('skip' in py) { t.skip(py.skip); return; }
    const dir = await mkdtemp(join(tmpdir(), 'plearn-st-py-'));
    try {
      const path = join(dir, 'theirs.safetensors');
      runPython(py.python, `
import sys
import numpy as np
from safetensors.numpy import save_file
save_file({
    "b.weight": (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1),
    "a.f64": np.array([-0.0, np.inf, 5e-324], dtype=np.float64),
    "c.i32": np.array([[-2**31, 7], [0, 2**31 - 1]], dtype=np.int32),
    "scalar": np.array(3.25, dtype=np.float32),
    "odd": np.ones(3, dtype=np.float32),
}, sys.argv[1], metadata={"made_by": "python", "x": "1"})
`, [path]);
      const f = decodeSafetensors(await readFile(path));
      assert.deepEqual(f.metadata, { made_by: 'python', x: '1' });
      const by = new Map(f.tensors.map((x) => [x.name, x]));
      assert.deepEqual([...by.keys()].sort(), ['a.f64', 'b.weight', 'c.i32', 'odd', 'scalar']);
      assert.deepEqual(by.get('b.weight')!.shape, [2, 3]);
      assertSameBits(by.get('b.weight')!.data, Float32Array.of(-1, -0.5, 0, 0.5, 1, 1.5), 'b.weight');
      assertSameBits(by.get('a.f64')!.data, Float64Array.of(-0, Infinity, 5e-324), 'a.f64');
      assertSameBits(by.get('c.i32')!.data, Int32Array.of(-(2 ** 31), 7, 0, 2 ** 31 - 1), 'c.i32');
      assert.deepEqual(by.get('scalar')!.shape, []);
      assert.equal(by.get('scalar')!.data[0], 3.25);
      assert.deepEqual(Array.from(by.get('odd')!.data), [1, 1, 1]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the README snippet loads a world model file and predicts what plearn predicts', async (t) => {
    if ('skip' in py) { t.skip(py.skip); return; }
    const dir = await mkdtemp(join(tmpdir(), 'plearn-st-py-'));
    try {
      const out = join(dir, 'out');
      for (const [spec, seed] of [[WM_SPEC, 0], [{ ...WM_SPEC, stateDim: 4, nActions: 9, angleDims: [0, 1], inputBox: undefined, activation: 'relu' }, 1]] as const) {
        const w = initWorldModel(spec, new Rng(20 + seed));
        // A visibly non-identity model: the init's last layer is scaled by 0.01.
        const weights: WorldModelWeights = { spec, layers: w.layers.map((l) => ({ ...l, b: l.b.map((_, i) => 0.3 * Math.sin(i + 1)) })) };
        await writeWorldModelFiles(out, [{ result: { seedIndex: seed }, weights }], { experiment: 'test', config: { seed: 11 } });
        const rng = new Rng(5);
        const n = 16;
        const states = Float64Array.from({ length: n * spec.stateDim }, () => rng.next() * 4 - 2);
        const actions = Int32Array.from({ length: n }, (_, i) => i % spec.nActions);
        const want = makeWorldModel(weights).predict(states, actions);
        const script = README_SNIPPET.replace('"out/world-model-seed0.safetensors"', 'sys.argv[1]').replace('import json', 'import json, sys') + `
req = json.loads(sys.stdin.read())
res = predict(np.array(req["s"]).reshape(len(req["a"]), -1), np.array(req["a"], dtype=np.int64))
print(json.dumps(res.ravel().tolist()))
`;
        const text = runPython(py.python, script, [join(out, `world-model-seed${seed}.safetensors`)], JSON.stringify({ s: Array.from(states), a: Array.from(actions) }));
        const [header, body] = [text.split('\n')[0], text.split('\n')[1]];
        assert.equal(header, `plearn.world-model/1 test hidden [5, 4] seed 11`);
        const got = JSON.parse(body) as number[];
        assert.equal(got.length, want.length);
        got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-9, `state value ${i}: python ${g}, plearn ${want[i]}`));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
