// The contract of an agent trained elsewhere (`plearn extract`), as one small JSON
// document, the agent card: which observation and goal columns its input rows hold
// and in what order, how many actions it scores, its discount, the goals it was
// trained on (indices into the experiment's training goals, or explicit
// definitions), and, for a safetensors file, its architecture and tensor names.
// Validated here, field by field, before any weight is read; and an imported
// agent that arrives as bytes (an upload, a fit task's artifact) checked before
// anything runs it.

import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import { makeGoal } from '../envs/continuous-goals.ts';
import type { ContinuousEnvName, MountainCarGoalFamily } from '../envs/continuous-tasks.ts';
import { CONTINUOUS_SIGMA, trainingGoals } from '../envs/continuous-tasks.ts';
import type { ContinuousEnv } from '../envs/continuous.ts';
import { mountainCar } from '../envs/mountaincar.ts';
import { reacher } from '../envs/reacher.ts';
import { ConfigError } from '../util/validate.ts';
import type { ExternalAgentArtifact } from './external.ts';
import { GRAPH_OPS } from './graph.ts';

export const CARD_VERSION = 1;
/** Where a card travels inside a file: safetensors `__metadata__` and ONNX `metadata_props`. */
export const CARD_METADATA_KEY = 'plearn.agent';

export interface InputColumn { readonly source: 'obs' | 'goal'; readonly index: number }

export interface NetworkDescription {
  readonly hidden: readonly number[];
  readonly norm: 'layernorm' | 'none';
  readonly normEpsilon: number;
  readonly activation: 'relu' | 'tanh';
  readonly head: 'sigmoid' | 'linear';
  /** in_out: kernels are [inputs, outputs], y = x·W (flax, plearn); out_in: [outputs, inputs], y = x·Wᵀ (torch.nn.Linear). */
  readonly kernelLayout: 'in_out' | 'out_in';
  /** plearn's parameter name → the tensor's name in the file (absent: plearn's own names). */
  readonly tensors: Readonly<Record<string, string>>;
}

export interface AgentCard {
  readonly experiment: ContinuousEnvName;
  readonly inputs: readonly InputColumn[];
  /** Per input column u = (x − shift)·scale, before the network. */
  readonly inputScale?: { readonly shift: readonly number[]; readonly scale: readonly number[] };
  readonly actions: number;
  readonly gamma: number;
  /** Indices into the training goals, when the agent was trained on them. */
  readonly goalIndices?: readonly number[];
  readonly goals: readonly ContinuousGoal[];
  readonly reward: RewardSpec;
  readonly network?: NetworkDescription;
  readonly source?: string;
}

const ENVS: Record<ContinuousEnvName, ContinuousEnv> = { mountaincar: mountainCar, reacher };
const MAX_INPUTS = 64;
const MAX_GOALS = 1024;
const MAX_LAYERS = 32;
const MAX_WIDTH = 65_536;

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function finiteList(field: string, x: unknown, len?: number): number[] {
  if (!Array.isArray(x) || !x.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new ConfigError(field, 'expected a list of finite numbers');
  if (len !== undefined && x.length !== len) throw new ConfigError(field, `has ${x.length} entries, expected ${len}`);
  return x as number[];
}

function intInRange(field: string, x: unknown, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new ConfigError(field, `expected an integer in [${min}, ${max}], got ${JSON.stringify(x)}`);
  return x;
}

function parseColumn(field: string, x: unknown, obsDim: number): InputColumn {
  const m = typeof x === 'string' ? /^(obs|goal):(\d+)$/.exec(x) : null;
  if (m === null) throw new ConfigError(field, `expected "obs:<k>" or "goal:<k>" (k in [0, ${obsDim - 1}]), got ${JSON.stringify(x)}`);
  const index = Number(m[2]);
  if (index >= obsDim) throw new ConfigError(field, `column ${index} is out of range [0, ${obsDim - 1}] (the observation has ${obsDim} dims)`);
  return { source: m[1] as 'obs' | 'goal', index };
}

function sameReward(a: RewardSpec, b: RewardSpec): boolean {
  return a.kind === b.kind && a.radius === b.radius && a.terminateOnGoal === b.terminateOnGoal && (a.kind === 'sparse' || a.sigma === b.sigma);
}

/** An explicit goal: {target, mask, reward: sparse|gaussian, radius, sigma?, terminateOnGoal}. */
function parseGoal(field: string, x: unknown, obsDim: number): { goal: ContinuousGoal; reward: RewardSpec } {
  if (!isRecord(x)) throw new ConfigError(field, 'expected {target, mask, reward, radius, sigma, terminateOnGoal}');
  for (const k of Object.keys(x)) {
    if (!['target', 'mask', 'reward', 'radius', 'sigma', 'terminateOnGoal'].includes(k)) throw new ConfigError(`${field}.${k}`, 'unknown field');
  }
  const target = finiteList(`${field}.target`, x.target, obsDim);
  const mask = finiteList(`${field}.mask`, x.mask, obsDim);
  if (!mask.every((m) => m === 0 || m === 1) || !mask.includes(1)) throw new ConfigError(`${field}.mask`, 'expected 0s and 1s with at least one 1');
  const kind = x.reward;
  if (kind !== 'sparse' && kind !== 'gaussian') throw new ConfigError(`${field}.reward`, `expected "sparse" or "gaussian", got ${JSON.stringify(kind)}`);
  const radius = x.radius;
  if (typeof radius !== 'number' || !(radius > 0) || !Number.isFinite(radius)) throw new ConfigError(`${field}.radius`, 'expected a positive number');
  const sigma = x.sigma ?? CONTINUOUS_SIGMA;
  if (typeof sigma !== 'number' || !(sigma > 0) || !Number.isFinite(sigma)) throw new ConfigError(`${field}.sigma`, 'expected a positive number');
  if (typeof x.terminateOnGoal !== 'boolean') throw new ConfigError(`${field}.terminateOnGoal`, 'expected true or false');
  return { goal: makeGoal(target, mask), reward: { kind, radius, sigma, terminateOnGoal: x.terminateOnGoal } };
}

function parseNetwork(field: string, x: unknown): NetworkDescription {
  if (!isRecord(x)) throw new ConfigError(field, 'expected {hidden, norm, activation, head, kernelLayout, tensors}');
  for (const k of Object.keys(x)) {
    if (!['hidden', 'norm', 'normEpsilon', 'activation', 'head', 'kernelLayout', 'tensors'].includes(k)) throw new ConfigError(`${field}.${k}`, 'unknown field');
  }
  if (!Array.isArray(x.hidden) || x.hidden.length > MAX_LAYERS) throw new ConfigError(`${field}.hidden`, `expected a list of at most ${MAX_LAYERS} layer widths`);
  const hidden = x.hidden.map((w, i) => intInRange(`${field}.hidden[${i}]`, w, 1, MAX_WIDTH));
  const pick = <T extends string>(k: string, allowed: readonly T[], dflt?: T): T => {
    const v = x[k] ?? dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new ConfigError(`${field}.${k}`, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(x[k])}`);
    return v as T;
  };
  const normEpsilon = x.normEpsilon ?? 1e-5;
  if (typeof normEpsilon !== 'number' || !(normEpsilon > 0) || normEpsilon > 1) throw new ConfigError(`${field}.normEpsilon`, 'expected a number in (0, 1]');
  const tensors: Record<string, string> = {};
  if (x.tensors !== undefined) {
    if (!isRecord(x.tensors)) throw new ConfigError(`${field}.tensors`, 'expected {plearnName: nameInFile}');
    for (const [k, v] of Object.entries(x.tensors)) {
      if (typeof v !== 'string') throw new ConfigError(`${field}.tensors.${k}`, 'expected a tensor name');
      Object.defineProperty(tensors, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return {
    hidden, norm: pick('norm', ['layernorm', 'none'] as const), normEpsilon, activation: pick('activation', ['relu', 'tanh'] as const),
    head: pick('head', ['sigmoid', 'linear'] as const), kernelLayout: pick('kernelLayout', ['in_out', 'out_in'] as const), tensors,
  };
}

/**
 * A validated card. `where` prefixes every error's field (the agent file's name);
 * goal indices index the training goals of `family` (MountainCar's --goal-family).
 * The caller has already replaced a `goals` file path by the file's parsed contents.
 */
export function parseAgentCard(raw: unknown, where: string, family: MountainCarGoalFamily = 'position'): AgentCard {
  const field = (k: string) => `${where}: card ${k}`;
  if (!isRecord(raw)) throw new ConfigError(`${where}: card`, 'expected a JSON object');
  for (const k of Object.keys(raw)) {
    if (!['plearnAgent', 'experiment', 'inputs', 'inputScale', 'actions', 'gamma', 'goals', 'network', 'source'].includes(k)) {
      throw new ConfigError(field(k), 'unknown field (allowed: plearnAgent, experiment, inputs, inputScale, actions, gamma, goals, network, source)');
    }
  }
  if (raw.plearnAgent !== CARD_VERSION) throw new ConfigError(field('plearnAgent'), `expected ${CARD_VERSION}, got ${JSON.stringify(raw.plearnAgent)}`);
  const experiment = raw.experiment;
  if (experiment !== 'mountaincar' && experiment !== 'reacher') throw new ConfigError(field('experiment'), `expected "mountaincar" or "reacher", got ${JSON.stringify(experiment)}`);
  const obsDim = ENVS[experiment].obsDim;
  if (!Array.isArray(raw.inputs) || raw.inputs.length === 0 || raw.inputs.length > MAX_INPUTS) {
    throw new ConfigError(field('inputs'), `expected a list of 1 to ${MAX_INPUTS} columns such as ["obs:0", "obs:1", "goal:0"]`);
  }
  const inputs = raw.inputs.map((c, i) => parseColumn(field(`inputs[${i}]`), c, obsDim));
  let inputScale: AgentCard['inputScale'];
  if (raw.inputScale !== undefined) {
    if (!isRecord(raw.inputScale)) throw new ConfigError(field('inputScale'), 'expected {shift, scale}');
    inputScale = { shift: finiteList(field('inputScale.shift'), raw.inputScale.shift, inputs.length), scale: finiteList(field('inputScale.scale'), raw.inputScale.scale, inputs.length) };
  }
  const actions = ENVS[experiment].nActions;
  if (raw.actions !== actions) throw new ConfigError(field('actions'), `${experiment} has ${actions} actions; the card says ${JSON.stringify(raw.actions)}`);
  const gamma = raw.gamma;
  if (typeof gamma !== 'number' || !(gamma >= 0 && gamma < 1)) throw new ConfigError(field('gamma'), `expected a number in [0, 1), got ${JSON.stringify(gamma)}`);

  const train = trainingGoals(experiment, family);
  let goals: ContinuousGoal[];
  let reward: RewardSpec;
  let goalIndices: number[] | undefined;
  if (!Array.isArray(raw.goals) || raw.goals.length === 0 || raw.goals.length > MAX_GOALS) {
    throw new ConfigError(field('goals'), `expected a list of 1 to ${MAX_GOALS} training-goal indices or goal definitions, or the path of a JSON file holding one`);
  }
  if (raw.goals.every((g) => typeof g === 'number')) {
    goalIndices = raw.goals.map((g, i) => intInRange(field(`goals[${i}]`), g, 0, train.goals.length - 1));
    if (new Set(goalIndices).size !== goalIndices.length) throw new ConfigError(field('goals'), 'lists a goal index twice');
    goals = goalIndices.map((i) => train.goals[i]);
    reward = train.reward;
  } else {
    const parsed = raw.goals.map((g, i) => parseGoal(field(`goals[${i}]`), g, obsDim));
    reward = parsed[0].reward;
    const odd = parsed.findIndex((p) => !sameReward(p.reward, reward));
    if (odd >= 0) throw new ConfigError(field(`goals[${odd}]`), 'has another reward than goals[0]; one agent file serves goals of one reward (split the goals over two cards)');
    goals = parsed.map((p) => p.goal);
  }
  const network = raw.network === undefined ? undefined : parseNetwork(field('network'), raw.network);
  if (raw.source !== undefined && typeof raw.source !== 'string') throw new ConfigError(field('source'), 'expected a string');
  return {
    experiment, inputs, ...(inputScale ? { inputScale } : {}), actions, gamma, ...(goalIndices ? { goalIndices } : {}), goals, reward,
    ...(network ? { network } : {}), ...(typeof raw.source === 'string' ? { source: raw.source } : {}),
  };
}

/** The card of a network plearn trained (its obs and goal dims, input mapping, LayerNorm ε 1e-5, sigmoid head). */
export function cardOfQNet(spec: { obsDims: readonly number[]; goalDims: readonly number[]; hidden: readonly number[]; nActions: number;
  inputNorm?: { shift: readonly number[]; scale: readonly number[] } }, experiment: ContinuousEnvName, goalIndices: readonly number[], gamma: number): Record<string, unknown> {
  return {
    plearnAgent: CARD_VERSION,
    experiment,
    inputs: [...spec.obsDims.map((d) => `obs:${d}`), ...spec.goalDims.map((d) => `goal:${d}`)],
    ...(spec.inputNorm ? { inputScale: { shift: [...spec.inputNorm.shift], scale: [...spec.inputNorm.scale] } } : {}),
    actions: spec.nActions,
    gamma,
    goals: [...goalIndices],
    network: { hidden: [...spec.hidden], norm: 'layernorm', normEpsilon: 1e-5, activation: 'relu', head: 'sigmoid', kernelLayout: 'in_out' },
    source: 'plearn',
  };
}

// ---- an imported agent arriving as bytes -----------------------------------------

export class ExternalAgentError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ExternalAgentError';
  }
}

const MAX_NODES = 10_000;

function fail(field: string, message: string): never {
  throw new ExternalAgentError(field, message);
}

function numbers(field: string, x: unknown, len: number): void {
  const ok = (Array.isArray(x) || x instanceof Float64Array || x instanceof Float32Array) && x.length === len
    && Array.prototype.every.call(x, (v: unknown) => typeof v === 'number' && Number.isFinite(v));
  if (!ok) fail(field, `expected ${len} finite numbers`);
}

function checkGraph(g: unknown): void {
  if (!isRecord(g)) fail('graph', 'expected an object');
  if (typeof g.input !== 'string' || typeof g.output !== 'string') fail('graph', 'needs input and output names');
  if (!Number.isInteger(g.inDim) || (g.inDim as number) < 1) fail('graph.inDim', 'expected a positive integer');
  if (!Array.isArray(g.consts) || !Array.isArray(g.nodes) || g.nodes.length > MAX_NODES) fail('graph', `expected consts and at most ${MAX_NODES} nodes`);
  const known = new Set<string>([g.input]);
  for (const [i, c] of (g.consts as unknown[]).entries()) {
    if (!isRecord(c) || typeof c.name !== 'string' || !Array.isArray(c.dims)) fail(`graph.consts[${i}]`, 'expected {name, dims, kind, data}');
    let n = 1;
    for (const d of c.dims as unknown[]) {
      if (!Number.isInteger(d) || (d as number) < 0) fail(`graph.consts[${i}].dims`, 'expected non-negative integers');
      n *= d as number;
    }
    const okData = (c.kind === 'float' && c.data instanceof Float32Array) || (c.kind === 'int' && c.data instanceof Float64Array);
    if (!okData || (c.data as Float32Array).length !== n) fail(`graph.consts[${i}]`, `${c.name}: data must be ${n} values of its kind`);
    known.add(c.name);
  }
  for (const [i, n] of (g.nodes as unknown[]).entries()) {
    if (!isRecord(n) || typeof n.op !== 'string' || !(GRAPH_OPS as readonly string[]).includes(n.op)) fail(`graph.nodes[${i}]`, `operator ${isRecord(n) ? String(n.op) : '?'} is not supported`);
    if (typeof n.output !== 'string' || typeof n.name !== 'string' || !Array.isArray(n.inputs) || !isRecord(n.attrs)) fail(`graph.nodes[${i}]`, 'expected {op, name, inputs, output, attrs}');
    for (const inp of n.inputs as unknown[]) {
      if (typeof inp !== 'string' || (inp !== '' && !known.has(inp))) fail(`graph.nodes[${i}]`, `reads ${JSON.stringify(inp)} before anything writes it`);
    }
    for (const [k, v] of Object.entries(n.attrs)) {
      if (!(typeof v === 'number' || (Array.isArray(v) && v.every((e) => typeof e === 'number')))) fail(`graph.nodes[${i}].attrs.${k}`, 'expected a number or a list of numbers');
    }
    known.add(n.output);
  }
  if (!known.has(g.output)) fail('graph.output', 'is not computed by any node');
}

/** The artifact, checked for `experiment`; throws ExternalAgentError naming the field. */
export function checkExternalArtifact(x: unknown, experiment: ContinuousEnvName): ExternalAgentArtifact {
  if (!isRecord(x) || x.kind !== 'continuous-external') fail('agent', 'is not an imported agent (kind continuous-external)');
  const label = typeof x.label === 'string' ? x.label : fail('label', 'expected a string');
  const at = (f: string) => `${label}: ${f}`;
  if (!Number.isInteger(x.shardIndex) || (x.shardIndex as number) < 0) fail(at('shardIndex'), 'expected a non-negative integer');
  checkGraph(x.graph);
  const obsDim = ENVS[experiment].obsDim;
  if (!Array.isArray(x.inputs) || x.inputs.length !== (x.graph as { inDim: number }).inDim) fail(at('inputs'), 'expected one column per graph input');
  for (const [i, c] of x.inputs.entries()) {
    if (!isRecord(c) || (c.source !== 'obs' && c.source !== 'goal') || !Number.isInteger(c.index) || (c.index as number) < 0 || (c.index as number) >= obsDim) {
      fail(at(`inputs[${i}]`), `expected {source: obs|goal, index in [0, ${obsDim - 1}]}`);
    }
  }
  if (x.inputScale !== undefined) {
    if (!isRecord(x.inputScale)) fail(at('inputScale'), 'expected {shift, scale}');
    numbers(at('inputScale.shift'), x.inputScale.shift, x.inputs.length);
    numbers(at('inputScale.scale'), x.inputScale.scale, x.inputs.length);
  }
  if (!Array.isArray(x.goals) || x.goals.length === 0) fail(at('goals'), 'expected at least one goal');
  x.goals.forEach((g, i) => {
    if (!isRecord(g)) fail(at(`goals[${i}]`), 'expected {target, mask}');
    numbers(at(`goals[${i}].target`), g.target, obsDim);
    numbers(at(`goals[${i}].mask`), g.mask, obsDim);
  });
  const r = x.reward;
  if (!isRecord(r) || (r.kind !== 'sparse' && r.kind !== 'gaussian') || !(typeof r.radius === 'number' && r.radius > 0)
    || !(typeof r.sigma === 'number' && r.sigma > 0) || typeof r.terminateOnGoal !== 'boolean') fail(at('reward'), 'expected {kind: sparse|gaussian, radius > 0, sigma > 0, terminateOnGoal}');
  if (typeof x.gamma !== 'number' || !(x.gamma >= 0 && x.gamma < 1)) fail(at('gamma'), 'expected a number in [0, 1)');
  if (x.nActions !== ENVS[experiment].nActions) fail(at('nActions'), `${experiment} has ${ENVS[experiment].nActions} actions`);
  if (typeof x.wallMs !== 'number') fail(at('wallMs'), 'expected a number');
  return x as unknown as ExternalAgentArtifact;
}
