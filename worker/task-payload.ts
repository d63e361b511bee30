// What a worker accepts from the queue, checked before anything runs. The queue
// is an edge: whoever can publish there can hand a worker any bytes. Decoding is
// bounded (codec.ts scans before msgpackr allocates), and every field a task's run
// reads is checked against the same limits as a submission, so a forged task is
// dead-lettered at once instead of training for a year.
//
// Two shapes travel: an agent task carries everything it needs; a fit task names
// only its job and fit index, because its inputs (the job's spec and its agents'
// artifacts) are already in the state and blob stores, where the worker reads and
// checks them (fit-unit.ts).

import { parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';
import { MAX_TRACK, TRAINING_GOALS } from '../shared/experiments/continuous-config.ts';
import { BACKEND_NAMES } from '../shared/tensor/backend.ts';
import { TASK_LIMITS, unpackBulk } from '../shared/protocol/codec.ts';
import {
  CONTINUOUS_OPTION_LIMITS, continuousArtifactBytes, FOURROOMS_OPTION_LIMITS, MAX_ARTIFACT_BYTES, MAX_LAYOUT_BYTES, MAX_LAYOUT_HEIGHT,
  MAX_LAYOUT_STATES, MAX_LAYOUT_WIDTH, MAX_TASKS_PER_JOB, MAX_VI_BACKUPS_PER_JOB, tabularArtifactBytes, viSweeps,
} from '../shared/protocol/limits.ts';
import { fitTaskId } from '../shared/protocol/subjects.ts';
import type { AgentTask } from '../shared/tasks/task.ts';
import { AGENT_TASK_KINDS } from '../shared/tasks/task.ts';
import type { Delivery } from '../shared/transport/transport.ts';

export interface AgentEnvelope { jobId: string; taskId: string; task: AgentTask }
/** Fit `index` of the job's plan (its fit id is `fit-<index>`). */
export interface FitEnvelope { jobId: string; taskId: string; fit: { index: number } }
export type Envelope = AgentEnvelope | FitEnvelope;

/** Most fit units of one job: one per seed, times the checkpoints a continuous job may track. */
const MAX_FITS = Math.max(FOURROOMS_OPTION_LIMITS.seeds, CONTINUOUS_OPTION_LIMITS.seeds * MAX_TRACK);

type Fields = Record<string, unknown>;

/** A short, bounded description of a bad value for error messages (never the value in full). */
function shown(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v;
}

function objectAt(v: unknown, path: string): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) throw new Error(`${path}: expected an object, got ${shown(v)}`);
  return v as Fields;
}

function onlyKeys(o: Fields, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new Error(`${path}: unexpected field ${shown(k)}; allowed: ${allowed.join(', ')}`);
  }
}

function intAt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`${path}: expected an integer in [${min}, ${max}], got ${shown(v)}`);
  return v;
}

function numberAt(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !(v >= min && v <= max)) throw new Error(`${path}: expected a number in [${min}, ${max}], got ${shown(v)}`);
  return v;
}

function oneOfAt<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new Error(`${path}: expected one of ${allowed.join(', ')}, got ${shown(v)}`);
  return v as T;
}

function arrayAt(v: unknown, path: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max) throw new Error(`${path}: expected an array of ${min} to ${max} items, got ${shown(v)}`);
  return v;
}

function checkTabularTask(t: Fields): void {
  onlyKeys(t, 'task', ['kind', 'layoutText', 'variant', 'gamma', 'agent', 'goals', 'shardIndex', 'seedIndex', 'seed', 'qlearning', 'checkpoints']);
  if (typeof t.layoutText !== 'string' || t.layoutText.length > MAX_LAYOUT_BYTES) {
    throw new Error(`task.layoutText: expected a layout of at most ${MAX_LAYOUT_BYTES} bytes, got ${shown(t.layoutText)}`);
  }
  const layout = parseLayout(t.layoutText);
  const states = layout.free.reduce((a, b) => a + b, 0);
  if (layout.width > MAX_LAYOUT_WIDTH || layout.height > MAX_LAYOUT_HEIGHT || states > MAX_LAYOUT_STATES) {
    throw new Error(`task.layoutText: a ${layout.width}×${layout.height} map with ${states} states; allowed width [1, ${MAX_LAYOUT_WIDTH}], `
      + `height [1, ${MAX_LAYOUT_HEIGHT}], states [1, ${MAX_LAYOUT_STATES}]`);
  }
  oneOfAt(t.variant, 'task.variant', [...layout.variants.keys()]);
  numberAt(t.gamma, 'task.gamma', 0, 0.999999);
  const agent = oneOfAt(t.agent, 'task.agent', ['oracle', 'qlearning'] as const);
  const goals = arrayAt(t.goals, 'task.goals', 1, FOURROOMS_OPTION_LIMITS.goals);
  goals.forEach((g, i) => {
    const o = objectAt(g, `task.goals[${i}]`);
    const kind = oneOfAt(o.kind, `task.goals[${i}].kind`, ['sparse', 'generic'] as const);
    onlyKeys(o, `task.goals[${i}]`, ['kind', kind === 'sparse' ? 'state' : 'seed']);
    if (kind === 'sparse') intAt(o.state, `task.goals[${i}].state`, 0, states - 1);
    else intAt(o.seed, `task.goals[${i}].seed`, 0, 0xffffffff);
  });
  intAt(t.shardIndex, 'task.shardIndex', 0, MAX_TASKS_PER_JOB - 1);
  intAt(t.seedIndex, 'task.seedIndex', 0, FOURROOMS_OPTION_LIMITS.seeds - 1);
  intAt(t.seed, 'task.seed', 0, 0xffffffff);
  const q = objectAt(t.qlearning, 'task.qlearning');
  onlyKeys(q, 'task.qlearning', ['steps', 'epsilon', 'alphaExponent', 'alphaMin', 'episodeLength']);
  const steps = intAt(q.steps, 'task.qlearning.steps', 1, FOURROOMS_OPTION_LIMITS.steps);
  numberAt(q.epsilon, 'task.qlearning.epsilon', 0, 1);
  numberAt(q.alphaExponent, 'task.qlearning.alphaExponent', 0.5, 1);
  numberAt(q.alphaMin, 'task.qlearning.alphaMin', 0, 1);
  intAt(q.episodeLength, 'task.qlearning.episodeLength', 1, FOURROOMS_OPTION_LIMITS.episodeLength);
  // The series keeps at most 8 checkpoints (fourrooms.ts seriesCheckpoints).
  const checkpoints = arrayAt(t.checkpoints, 'task.checkpoints', 0, 8);
  checkpoints.forEach((c, i) => intAt(c, `task.checkpoints[${i}]`, 1, steps));
  const bytes = tabularArtifactBytes(goals.length, states, 4, agent === 'qlearning' ? checkpoints.length : 0);
  if (bytes > MAX_ARTIFACT_BYTES) throw new Error(`task: its artifact would be ~${bytes} bytes, over the limit of ${MAX_ARTIFACT_BYTES}`);
}

/** PQN settings as resolvePqn produces them (pqn-config.ts), with its bounds. */
function checkPqn(v: unknown, obsDim: number): void {
  const p = objectAt(v, 'task.config.pqn');
  onlyKeys(p, 'task.config.pqn', ['envSteps', 'numEnvs', 'numSteps', 'minibatch', 'hidden', 'obsDims', 'goalDims', 'lr', 'lrEnd', 'maxGradNorm',
    'epsStart', 'epsFinish', 'epsDecay', 'her', 'herK', 'resetRatio', 'evalPoints', 'evalEpisodes', 'inputNorm']);
  intAt(p.envSteps, 'task.config.pqn.envSteps', 1, 1_000_000_000);
  intAt(p.numEnvs, 'task.config.pqn.numEnvs', 16, 4096);
  intAt(p.numSteps, 'task.config.pqn.numSteps', 1, 1024);
  intAt(p.minibatch, 'task.config.pqn.minibatch', 1, 65_536);
  arrayAt(p.hidden, 'task.config.pqn.hidden', 1, 8).forEach((w, i) => intAt(w, `task.config.pqn.hidden[${i}]`, 1, 4096));
  arrayAt(p.obsDims, 'task.config.pqn.obsDims', 1, obsDim).forEach((d, i) => intAt(d, `task.config.pqn.obsDims[${i}]`, 0, obsDim - 1));
  const goalDims = arrayAt(p.goalDims, 'task.config.pqn.goalDims', 1, obsDim);
  goalDims.forEach((d, i) => intAt(d, `task.config.pqn.goalDims[${i}]`, 0, obsDim - 1));
  if (p.inputNorm !== undefined) {
    const norm = objectAt(p.inputNorm, 'task.config.pqn.inputNorm');
    onlyKeys(norm, 'task.config.pqn.inputNorm', ['shift', 'scale']);
    const cols = (p.obsDims as unknown[]).length + goalDims.length;
    arrayAt(norm.shift, 'task.config.pqn.inputNorm.shift', cols, cols).forEach((x, i) => numberAt(x, `task.config.pqn.inputNorm.shift[${i}]`, -1e6, 1e6));
    arrayAt(norm.scale, 'task.config.pqn.inputNorm.scale', cols, cols).forEach((x, i) => numberAt(x, `task.config.pqn.inputNorm.scale[${i}]`, 1e-6, 1e6));
  }
  numberAt(p.lr, 'task.config.pqn.lr', 1e-8, 1);
  numberAt(p.lrEnd, 'task.config.pqn.lrEnd', 0, 1);
  numberAt(p.maxGradNorm, 'task.config.pqn.maxGradNorm', 1e-8, 1e6);
  numberAt(p.epsStart, 'task.config.pqn.epsStart', 0, 1);
  numberAt(p.epsFinish, 'task.config.pqn.epsFinish', 0, 1);
  numberAt(p.epsDecay, 'task.config.pqn.epsDecay', 0, 1);
  oneOfAt(p.her, 'task.config.pqn.her', ['future', 'random', 'none'] as const);
  intAt(p.herK, 'task.config.pqn.herK', 0, 16);
  intAt(p.resetRatio, 'task.config.pqn.resetRatio', 1, 4096);
  intAt(p.evalPoints, 'task.config.pqn.evalPoints', 0, 1000);
  intAt(p.evalEpisodes, 'task.config.pqn.evalEpisodes', 1, 1024);
}

function checkContinuousTask(t: Fields): void {
  const pqn = t.kind === 'continuous-pqn';
  onlyKeys(t, 'task', pqn ? ['kind', 'config', 'shardIndex', 'goalIndices', 'seedIndex', 'seed'] : ['kind', 'config', 'shardIndex', 'goalIndices']);
  // The oracle reads only the VI fields, but the whole config travels with the task: all of it is checked.
  const c = objectAt(t.config, 'task.config');
  const L = CONTINUOUS_OPTION_LIMITS;
  onlyKeys(c, 'task.config', ['experiment', 'agent', 'preset', 'pqn', 'goalFamily', 'goalsPerAgent', 'grid', 'viTol', 'viMaxIters', 'seeds', 'seed', 'gamma',
    'backend', 'fitSteps', 'fitBatch', 'fitAgentsPerStep', 'fitLr', 'fitSchedule', 'fitTerminal', 'sampleFrom', 'evalStates', 'rollouts', 'track']);
  if (c.track !== undefined) intAt(c.track, 'task.config.track', 2, MAX_TRACK);
  if (c.fitAgentsPerStep !== undefined) intAt(c.fitAgentsPerStep, 'task.config.fitAgentsPerStep', 1, 4096);
  const experiment = oneOfAt(c.experiment, 'task.config.experiment', ['mountaincar', 'reacher'] as const);
  const env = experiment === 'mountaincar' ? mountainCar : reacher;
  oneOfAt(c.agent, 'task.config.agent', pqn ? ['pqn'] as const : ['oracle'] as const);
  oneOfAt(c.preset, 'task.config.preset', ['quick', 'paper'] as const);
  if (pqn) {
    checkPqn(c.pqn, env.obsDim);
    intAt(t.seedIndex, 'task.seedIndex', 0, L.seeds - 1);
    intAt(t.seed, 'task.seed', 0, 0xffffffff);
  } else if (c.pqn !== null) {
    throw new Error('task.config.pqn: an oracle task carries no PQN settings (null)');
  }
  oneOfAt(c.goalFamily, 'task.config.goalFamily', experiment === 'mountaincar' ? ['position', 'velocity'] : ['position']);
  if (c.goalsPerAgent !== null) intAt(c.goalsPerAgent, 'task.config.goalsPerAgent', 1, TRAINING_GOALS);
  const grid = intAt(c.grid, 'task.config.grid', L.gridMin, L.grid[experiment]);
  const tol = numberAt(c.viTol, 'task.config.viTol', 1e-14, 1);
  const maxIters = intAt(c.viMaxIters, 'task.config.viMaxIters', 1, L.viMaxIters);
  intAt(c.seeds, 'task.config.seeds', 1, L.seeds);
  intAt(c.seed, 'task.config.seed', 0, 0xffffffff);
  const gamma = numberAt(c.gamma, 'task.config.gamma', 0, 0.999999);
  oneOfAt(c.backend, 'task.config.backend', ['auto', ...BACKEND_NAMES]);
  intAt(c.fitSteps, 'task.config.fitSteps', 1, L.fitSteps);
  intAt(c.fitBatch, 'task.config.fitBatch', 1, L.fitBatch);
  numberAt(c.fitLr, 'task.config.fitLr', 1e-8, 1);
  oneOfAt(c.fitSchedule, 'task.config.fitSchedule', ['cosine', 'linear'] as const);
  oneOfAt(c.fitTerminal, 'task.config.fitTerminal', ['fit', 'skip'] as const);
  oneOfAt(c.sampleFrom, 'task.config.sampleFrom', ['uniform', 'reset'] as const);
  intAt(c.evalStates, 'task.config.evalStates', 100, L.evalStates);
  intAt(c.rollouts, 'task.config.rollouts', 1, L.rollouts);
  intAt(t.shardIndex, 'task.shardIndex', 0, TRAINING_GOALS - 1);
  let goals = TRAINING_GOALS;
  if (t.goalIndices !== undefined) {
    const idx = arrayAt(t.goalIndices, 'task.goalIndices', 1, TRAINING_GOALS).map((g, i) => intAt(g, `task.goalIndices[${i}]`, 0, TRAINING_GOALS - 1));
    if (new Set(idx).size !== idx.length) throw new Error('task.goalIndices: a goal is listed twice');
    goals = idx.length;
  }
  const cells = grid ** env.stateDim;
  // A PQN agent runs no VI itself, but its job's evaluation (Q NMSE, unseen goals) does, on this config.
  const backups = cells * env.nActions * viSweeps(tol, gamma, maxIters) * goals;
  if (backups > MAX_VI_BACKUPS_PER_JOB) throw new Error(`task.config: ~${backups.toExponential(2)} VI backups exceed the limit of ${MAX_VI_BACKUPS_PER_JOB}`);
  if (pqn) return;
  const bytes = continuousArtifactBytes(goals, cells, env.nActions);
  if (bytes > MAX_ARTIFACT_BYTES) throw new Error(`task: its artifact would be ~${bytes} bytes, over the limit of ${MAX_ARTIFACT_BYTES}`);
}

/** Decode and check one task message; throws an Error (bounded message) for anything a worker must not run. */
export function parseEnvelope(d: Pick<Delivery, 'data' | 'jobId' | 'taskId'>): Envelope {
  try {
    const raw = objectAt(unpackBulk(d.data, TASK_LIMITS, 'task payload'), 'task payload');
    if (raw.jobId !== d.jobId || raw.taskId !== d.taskId) throw new Error('task payload names another task than its subject');
    if ('fit' in raw) {
      onlyKeys(raw, 'task payload', ['jobId', 'taskId', 'fit']);
      const fit = objectAt(raw.fit, 'fit');
      onlyKeys(fit, 'fit', ['index']);
      const index = intAt(fit.index, 'fit.index', 0, MAX_FITS - 1);
      if (raw.taskId !== fitTaskId(index)) throw new Error(`fit.index: ${index} is not the fit its subject names (${shown(raw.taskId)})`);
      return raw as unknown as FitEnvelope;
    }
    onlyKeys(raw, 'task payload', ['jobId', 'taskId', 'task']);
    const task = objectAt(raw.task, 'task');
    const kind = task.kind;
    if (typeof kind !== 'string' || !(AGENT_TASK_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`unknown task kind ${shown(kind)}; workers run ${AGENT_TASK_KINDS.join(', ')}`);
    }
    if (kind === 'tabular-agent') checkTabularTask(task);
    else checkContinuousTask(task);
    return raw as unknown as AgentEnvelope;
  } catch (e) {
    // The message ends up in logs and in the dead letter's header: keep it short whatever the payload held.
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(message.length > 300 ? `${message.slice(0, 297)}…` : message);
  }
}
