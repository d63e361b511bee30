// Trained networks of a continuous run as safetensors files in `--out DIR`, so that
// numpy, torch or jax can load them without plearn and `plearn compare` can read
// two runs back:
//
//   world-model-seed<k>.safetensors          layers.<i>.kernel [in, out], layers.<i>.bias [out]
//   q-network-seed<k>-agent<j>.safetensors   the Q-network's parameters under their mlp.ts names
//
// All tensors are F32. String metadata says what the file is (`format`), the network's
// shape (`spec`, JSON) and the run it came from (`experiment`, `config` JSON); Q-network
// files add their `goals` (JSON) and an optional free-form `extra` (JSON). A file whose
// tensors do not match its own spec is refused on load, never patched up.

import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { NamedTensor, QNetSpec, QNetWeights } from '../shared/agents/q-network.ts';
import { checkQNetWeights, qNetParamShapes } from '../shared/agents/q-network.ts';
import type { ContinuousEnvName } from '../shared/envs/continuous-tasks.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from '../shared/format/safetensors.ts';
import type { SafetensorsFile } from '../shared/format/safetensors.ts';
import type { SafeTensor, SafeTensorInput } from '../shared/format/safetensors.ts';
import type { DenseWeights, WorldModelSpec, WorldModelWeights } from '../shared/plearning/neural-model.ts';
import { MAX_ARTIFACT_BYTES } from '../shared/protocol/limits.ts';
import type { ContinuousPqnArtifact } from '../shared/tasks/continuous-pqn.ts';

export const WORLD_MODEL_FORMAT = 'plearn.world-model/1';
export const Q_NETWORK_FORMAT = 'plearn.q-network/1';

/** A file (or in-memory artifact) that is not what it claims; `source` names it. */
export class ArtifactError extends Error {
  constructor(readonly source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'ArtifactError';
  }
}

/** The run a network came from. `config` is any JSON value (a ContinuousConfig when plearn writes it). */
export interface RunMeta {
  readonly experiment: string;
  readonly config: unknown;
}

export interface WorldModelMeta extends RunMeta {
  readonly seedIndex?: number;
}

export interface GoalJson {
  readonly target: readonly number[];
  readonly mask: readonly number[];
}

export interface QNetMeta extends RunMeta {
  /** The goals the agent was trained on, in its goal-index order. */
  readonly goals: readonly GoalJson[];
  /** Anything else worth keeping (stored as JSON). */
  readonly extra?: unknown;
}

export interface WorldModelFile {
  readonly weights: WorldModelWeights;
  readonly experiment: string;
  readonly config: unknown;
  /** From the metadata; null in files written without one. */
  readonly seedIndex: number | null;
}

export interface QNetFile {
  readonly weights: QNetWeights;
  readonly goals: { target: number[]; mask: number[] }[];
  readonly experiment: string;
  readonly config: unknown;
  /** undefined when the file has no `extra`. */
  readonly extra: unknown;
}

export const worldModelFileName = (seedIndex: number): string => `world-model-seed${seedIndex}.safetensors`;
export const qNetFileName = (seedIndex: number, agentIndex: number): string => `q-network-seed${seedIndex}-agent${agentIndex}.safetensors`;
const WORLD_MODEL_FILE = /^world-model-seed(0|[1-9][0-9]{0,8})\.safetensors$/;

// ---- small validators over parsed JSON ----------------------------------------

type Check = (what: string, message: string) => never;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function intList(x: unknown, what: string, fail: Check, min: number, max = Number.MAX_SAFE_INTEGER): number[] {
  if (!Array.isArray(x)) return fail(what, `expected a list of integers, got ${JSON.stringify(x)}`);
  for (const v of x) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      fail(what, `${JSON.stringify(v)} is not an integer in [${min}, ${max}]`);
    }
  }
  return x as number[];
}

function finiteList(x: unknown, what: string, fail: Check, length?: number): number[] {
  if (!Array.isArray(x) || x.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    return fail(what, 'expected a list of finite numbers');
  }
  if (length !== undefined && x.length !== length) fail(what, `has ${x.length} values, expected ${length}`);
  return x as number[];
}

function posInt(x: unknown, what: string, fail: Check): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) return fail(what, `expected a positive integer, got ${JSON.stringify(x)}`);
  return x;
}

function metaJson(metadata: Record<string, string>, key: string, fail: Check): unknown {
  const raw = metadata[key];
  if (raw === undefined) return fail(`metadata ${key}`, 'is missing');
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return fail(`metadata ${key}`, 'is not valid JSON');
  }
}

function checkFormat(metadata: Record<string, string>, want: string, kind: string, fail: Check): void {
  const got = metadata.format;
  if (got !== want) {
    fail('metadata format', got === undefined ? `missing: not a plearn ${kind} file (expected "${want}")` : `is ${JSON.stringify(got)}, expected "${want}" (not a plearn ${kind} file)`);
  }
}

function experimentOf(metadata: Record<string, string>, fail: Check): string {
  const e = metadata.experiment;
  if (e === undefined || e === '') return fail('metadata experiment', 'is missing');
  return e;
}

/** The tensors by name, with exactly the names the spec calls for: none missing, none extra. */
function tensorsExactly(tensors: readonly SafeTensor[], want: readonly { name: string; shape: readonly number[] }[], fail: Check): Map<string, Float32Array> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const wanted = new Set(want.map((w) => w.name));
  for (const t of tensors) if (!wanted.has(t.name)) fail(`tensor ${t.name}`, 'is not part of the network its spec describes');
  const out = new Map<string, Float32Array>();
  for (const w of want) {
    const t = byName.get(w.name);
    if (t === undefined) return fail(`tensor ${w.name}`, `is missing (spec needs shape [${w.shape.join(', ')}])`);
    if (t.dtype !== 'F32') return fail(`tensor ${w.name}`, `is ${t.dtype}, expected F32`);
    if (t.shape.join(',') !== w.shape.join(',')) fail(`tensor ${w.name}`, `has shape [${t.shape.join(', ')}], spec needs [${w.shape.join(', ')}]`);
    out.set(w.name, t.data);
  }
  return out;
}

/** Decode, naming the file in the error: a bare container error does not say which of many files is bad. */
function decodeNamed(bytes: Uint8Array, source: string): SafetensorsFile {
  try {
    return decodeSafetensors(bytes);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new ArtifactError(source, e.message);
    throw e;
  }
}

// ---- world models --------------------------------------------------------------

function worldModelSpecJson(spec: WorldModelSpec): Record<string, unknown> {
  return {
    stateDim: spec.stateDim,
    nActions: spec.nActions,
    hidden: [...spec.hidden],
    activation: spec.activation,
    outputInitScale: spec.outputInitScale,
    angleDims: [...spec.angleDims],
    ...(spec.inputBox ? { inputBox: { low: Array.from(spec.inputBox.low), high: Array.from(spec.inputBox.high) } } : {}),
  };
}

function parseWorldModelSpec(x: unknown, fail: Check): WorldModelSpec {
  if (!isRecord(x)) return fail('metadata spec', 'expected a JSON object');
  const stateDim = posInt(x.stateDim, 'spec.stateDim', fail);
  const nActions = posInt(x.nActions, 'spec.nActions', fail);
  const hidden = intList(x.hidden, 'spec.hidden', fail, 1);
  if (x.activation !== 'tanh' && x.activation !== 'relu') fail('spec.activation', `expected "tanh" or "relu", got ${JSON.stringify(x.activation)}`);
  if (typeof x.outputInitScale !== 'number' || !Number.isFinite(x.outputInitScale)) fail('spec.outputInitScale', 'expected a finite number');
  const angleDims = intList(x.angleDims, 'spec.angleDims', fail, 0, stateDim - 1);
  let inputBox: WorldModelSpec['inputBox'];
  if (x.inputBox !== undefined) {
    if (!isRecord(x.inputBox)) return fail('spec.inputBox', 'expected {low, high}');
    const low = finiteList(x.inputBox.low, 'spec.inputBox.low', fail, stateDim);
    const high = finiteList(x.inputBox.high, 'spec.inputBox.high', fail, stateDim);
    inputBox = { low: Float64Array.from(low), high: Float64Array.from(high) };
  }
  return {
    stateDim, nActions, hidden, activation: x.activation as WorldModelSpec['activation'], outputInitScale: x.outputInitScale as number,
    angleDims, ...(inputBox ? { inputBox } : {}),
  };
}

function worldModelTensorShapes(spec: WorldModelSpec): { name: string; shape: number[] }[] {
  const widths = [spec.stateDim + spec.nActions, ...spec.hidden, spec.stateDim];
  const out: { name: string; shape: number[] }[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    out.push({ name: `layers.${i}.kernel`, shape: [widths[i], widths[i + 1]] });
    out.push({ name: `layers.${i}.bias`, shape: [widths[i + 1]] });
  }
  return out;
}

/** Serialise a world model; `meta.config` must be JSON-serialisable. */
export function worldModelToSafetensors(w: WorldModelWeights, meta: WorldModelMeta): Uint8Array {
  const fail: Check = (what, message) => { throw new ArtifactError('world model', `${what} ${message}`); };
  const specJson = worldModelSpecJson(w.spec);
  // Parse what we are about to write, so a model this module cannot load back is never written.
  const spec = parseWorldModelSpec(JSON.parse(JSON.stringify(specJson)) as unknown, fail);
  const want = worldModelTensorShapes(spec);
  if (w.layers.length * 2 !== want.length) fail('weights', `have ${w.layers.length} layers, spec needs ${want.length / 2}`);
  const tensors: SafeTensorInput[] = [];
  w.layers.forEach((l, i) => {
    const [k, b] = [want[2 * i], want[2 * i + 1]];
    if (l.inDim !== k.shape[0] || l.outDim !== k.shape[1] || l.w.length !== l.inDim * l.outDim || l.b.length !== l.outDim) {
      fail(`layer ${i}`, `is ${l.inDim}×${l.outDim} (${l.w.length} weights, ${l.b.length} biases), spec needs ${k.shape[0]}×${k.shape[1]}`);
    }
    tensors.push({ name: k.name, dtype: 'F32', shape: k.shape, data: l.w }, { name: b.name, dtype: 'F32', shape: b.shape, data: l.b });
  });
  const config = JSON.stringify(meta.config);
  if (config === undefined) fail('config', 'is not JSON-serialisable');
  return encodeSafetensors(tensors, {
    format: WORLD_MODEL_FORMAT,
    spec: JSON.stringify(specJson),
    experiment: meta.experiment,
    config,
    ...(meta.seedIndex !== undefined ? { seedIndex: String(meta.seedIndex) } : {}),
  });
}

/** Load a world model written by {@link worldModelToSafetensors}; `source` names the bytes in errors. */
export function worldModelFromSafetensors(bytes: Uint8Array, source = 'world model'): WorldModelFile {
  const fail: Check = (what, message) => { throw new ArtifactError(source, `${what} ${message}`); };
  const file = decodeNamed(bytes, source);
  const md = file.metadata;
  checkFormat(md, WORLD_MODEL_FORMAT, 'world-model', fail);
  const spec = parseWorldModelSpec(metaJson(md, 'spec', fail), fail);
  const experiment = experimentOf(md, fail);
  const config = metaJson(md, 'config', fail);
  let seedIndex: number | null = null;
  if (md.seedIndex !== undefined) {
    if (!/^(0|[1-9][0-9]{0,8})$/.test(md.seedIndex)) fail('metadata seedIndex', `${JSON.stringify(md.seedIndex)} is not a non-negative integer`);
    seedIndex = Number(md.seedIndex);
  }
  const want = worldModelTensorShapes(spec);
  const data = tensorsExactly(file.tensors, want, fail);
  const layers: DenseWeights[] = [];
  for (let i = 0; i < want.length; i += 2) {
    const [inDim, outDim] = want[i].shape;
    layers.push({ inDim, outDim, w: data.get(want[i].name)!, b: data.get(want[i + 1].name)! });
  }
  return { weights: { spec, layers }, experiment, config, seedIndex };
}

// ---- Q-networks -----------------------------------------------------------------

function qNetSpecJson(spec: QNetSpec): Record<string, unknown> {
  return {
    obsDims: [...spec.obsDims], goalDims: [...spec.goalDims], hidden: [...spec.hidden], nActions: spec.nActions,
    ...(spec.inputNorm ? { inputNorm: { shift: [...spec.inputNorm.shift], scale: [...spec.inputNorm.scale] } } : {}),
  };
}

function parseQNetSpec(x: unknown, fail: Check): QNetSpec {
  if (!isRecord(x)) return fail('metadata spec', 'expected a JSON object');
  const obsDims = intList(x.obsDims, 'spec.obsDims', fail, 0);
  const goalDims = intList(x.goalDims, 'spec.goalDims', fail, 0);
  const cols = obsDims.length + goalDims.length;
  if (cols === 0) fail('spec', 'reads no observation or goal dims');
  const spec = { obsDims, goalDims, hidden: intList(x.hidden, 'spec.hidden', fail, 1), nActions: posInt(x.nActions, 'spec.nActions', fail) };
  if (x.inputNorm === undefined) return spec;
  if (!isRecord(x.inputNorm)) return fail('spec.inputNorm', 'expected {shift, scale}');
  const shift = finiteList(x.inputNorm.shift, 'spec.inputNorm.shift', fail, cols);
  const scale = finiteList(x.inputNorm.scale, 'spec.inputNorm.scale', fail, cols);
  return { ...spec, inputNorm: { shift, scale } };
}

function parseGoals(x: unknown, spec: QNetSpec, fail: Check): { target: number[]; mask: number[] }[] {
  if (!Array.isArray(x)) return fail('metadata goals', 'expected a JSON list of {target, mask}');
  const need = spec.goalDims.length > 0 ? Math.max(...spec.goalDims) + 1 : 0;
  return x.map((g: unknown, i) => {
    if (!isRecord(g)) return fail(`goals[${i}]`, 'expected {target, mask}');
    const target = finiteList(g.target, `goals[${i}].target`, fail);
    const mask = finiteList(g.mask, `goals[${i}].mask`, fail, target.length);
    if (target.length < need) fail(`goals[${i}].target`, `has ${target.length} dims, the network reads goal dim ${need - 1}`);
    return { target, mask };
  });
}

/** Serialise a Q-network with the goals it was trained on. */
export function qNetToSafetensors(w: QNetWeights, meta: QNetMeta): Uint8Array {
  const fail: Check = (what, message) => { throw new ArtifactError('q-network', `${what} ${message}`); };
  const specJson = qNetSpecJson(w.spec);
  const spec = parseQNetSpec(JSON.parse(JSON.stringify(specJson)) as unknown, fail);
  try {
    checkQNetWeights({ spec, params: w.params });
  } catch (e) {
    fail('weights', `do not match the spec (${(e as Error).message})`);
  }
  const goals = JSON.stringify(meta.goals.map((g) => ({ target: Array.from(g.target), mask: Array.from(g.mask) })));
  parseGoals(JSON.parse(goals) as unknown, spec, fail);
  const config = JSON.stringify(meta.config);
  if (config === undefined) fail('config', 'is not JSON-serialisable');
  let extra: string | undefined;
  if (meta.extra !== undefined) {
    extra = JSON.stringify(meta.extra);
    if (extra === undefined) fail('extra', 'is not JSON-serialisable');
  }
  return encodeSafetensors(w.params.map((p) => ({ name: p.name, dtype: 'F32', shape: p.shape, data: p.data })), {
    format: Q_NETWORK_FORMAT,
    spec: JSON.stringify(specJson),
    goals,
    experiment: meta.experiment,
    config,
    ...(extra !== undefined ? { extra } : {}),
  });
}

/** Load a Q-network written by {@link qNetToSafetensors}; `source` names the bytes in errors. */
export function qNetFromSafetensors(bytes: Uint8Array, source = 'q-network'): QNetFile {
  const fail: Check = (what, message) => { throw new ArtifactError(source, `${what} ${message}`); };
  const file = decodeNamed(bytes, source);
  const md = file.metadata;
  checkFormat(md, Q_NETWORK_FORMAT, 'q-network', fail);
  const spec = parseQNetSpec(metaJson(md, 'spec', fail), fail);
  const goals = parseGoals(metaJson(md, 'goals', fail), spec, fail);
  const experiment = experimentOf(md, fail);
  const config = metaJson(md, 'config', fail);
  const extra = md.extra === undefined ? undefined : metaJson(md, 'extra', fail);
  const want = qNetParamShapes(spec);
  const data = tensorsExactly(file.tensors, want, fail);
  const params: NamedTensor[] = want.map((p) => ({ name: p.name, shape: p.shape, data: data.get(p.name)! }));
  const weights: QNetWeights = { spec, params };
  try {
    checkQNetWeights(weights);
  } catch (e) {
    fail('weights', `do not match the spec (${(e as Error).message})`);
  }
  return { weights, goals, experiment, config, extra };
}

// ---- files ------------------------------------------------------------------------

let tmpCounter = 0;

/** Write via a temporary file and rename, so a reader never sees half a file. */
export async function writeBytesAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function readBounded(path: string): Promise<Uint8Array> {
  const size = (await stat(path)).size;
  if (size > MAX_ARTIFACT_BYTES) throw new ArtifactError(path, `${size} bytes exceeds the artifact limit of ${MAX_ARTIFACT_BYTES} bytes`);
  return readFile(path);
}

/** What writeWorldModelFiles needs of a fit output (ContinuousFitOutput has it). */
export interface SeedModel {
  readonly result: { readonly seedIndex: number };
  readonly weights: WorldModelWeights;
}

/** `world-model-seed<k>.safetensors` per fit into `dir` (created if needed); returns the paths written. */
export async function writeWorldModelFiles(dir: string, fits: readonly SeedModel[], run: RunMeta): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const f of fits) {
    const path = join(dir, worldModelFileName(f.result.seedIndex));
    await writeBytesAtomic(path, worldModelToSafetensors(f.weights, { ...run, seedIndex: f.result.seedIndex }));
    paths.push(path);
  }
  return paths;
}

/** Every `world-model-seed<k>.safetensors` in `dir`, sorted by k (an empty list if there are none). */
export async function readWorldModelFiles(dir: string): Promise<(WorldModelFile & { seedIndex: number; path: string })[]> {
  const found = (await readdir(dir))
    .map((name) => ({ name, m: WORLD_MODEL_FILE.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ path: join(dir, x.name), seedIndex: Number(x.m[1]) }))
    .sort((a, b) => a.seedIndex - b.seedIndex);
  const out: (WorldModelFile & { seedIndex: number; path: string })[] = [];
  for (const { path, seedIndex } of found) {
    const file = worldModelFromSafetensors(await readBounded(path), path);
    // A renamed file would silently pair the wrong seeds (and evaluation states) in a comparison.
    if (file.seedIndex !== null && file.seedIndex !== seedIndex) {
      throw new ArtifactError(path, `metadata seedIndex is ${file.seedIndex}, but the file name says seed ${seedIndex}`);
    }
    out.push({ ...file, seedIndex, path });
  }
  return out;
}

export async function writeQNetFile(path: string, w: QNetWeights, meta: QNetMeta): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeBytesAtomic(path, qNetToSafetensors(w, meta));
}

export async function readQNetFile(path: string): Promise<QNetFile> {
  return qNetFromSafetensors(await readBounded(path), path);
}

/** What writeRunArtifacts needs of a fit output (ContinuousFitOutput has it). */
export interface SeedFit extends SeedModel {
  readonly agents?: readonly ContinuousPqnArtifact[];
}

/**
 * Everything a continuous run leaves in `--out DIR`: each seed's world model and,
 * for PQN runs, each agent's Q-network with its training goals (shard j of seed k
 * as `q-network-seed<k>-agent<j>`). Returns the paths written.
 */
export async function writeRunArtifacts(dir: string, fits: readonly SeedFit[], run: { readonly experiment: ContinuousEnvName; readonly config: ContinuousConfig }): Promise<string[]> {
  const paths = await writeWorldModelFiles(dir, fits, run);
  const { goals } = trainingGoals(run.experiment, run.config.goalFamily);
  for (const f of fits) {
    for (const a of f.agents ?? []) {
      const path = join(dir, qNetFileName(f.result.seedIndex, a.shardIndex));
      await writeQNetFile(path, a.weights, {
        experiment: run.experiment,
        config: run.config,
        goals: a.goalIndices.map((i) => ({ target: Array.from(goals[i].target), mask: Array.from(goals[i].mask) })),
        extra: {
          seedIndex: a.seedIndex, shardIndex: a.shardIndex, goalIndices: a.goalIndices, envSteps: a.envSteps, gradSteps: a.gradSteps,
          // Small (one entry per update and per evaluation), and a re-run from this checkpoint redraws them.
          curves: {
            updateSteps: Array.from(a.curves.updateSteps), loss: Array.from(a.curves.loss), epsilon: Array.from(a.curves.epsilon),
            evalSteps: Array.from(a.curves.evalSteps), evalReturn: a.curves.evalReturn.map((r) => Array.from(r)), goalLabels: a.curves.goalLabels,
          },
        },
      });
      paths.push(path);
    }
  }
  return paths;
}
