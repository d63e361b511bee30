// The continuous pipeline as pure functions over a TF handle: oracle agent task
// (grid VI Q* per training goal) → neural P-learning fit over all agents' goals →
// WM error metrics and unseen-goal planning → summary over seeds.

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousEnvName } from '../envs/continuous-tasks.ts';
import { trainingGoals, unseenTasks } from '../envs/continuous-tasks.ts';
import { mountainCar, mountainCarBoundaryEvent } from '../envs/mountaincar.ts';
import { reacher } from '../envs/reacher.ts';
import { envGrid, evaluateUnseen, goalTask, gridTransitions, oracleQTables } from '../continuous/planning.ts';
import type { Transitions } from '../continuous/grid-vi.ts';
import type { UnseenEval } from '../continuous/planning.ts';
import { goalBackupTf } from '../continuous/tf-goals.ts';
import type { BoundaryOf, SyncPredict, WmError } from '../continuous/wm-metrics.ts';
import { worldModelError } from '../continuous/wm-metrics.ts';
import type { WorldModelWeights } from '../plearning/neural-model.ts';
import { DEFAULT_MODEL, makeWorldModel, tensorPredictor } from '../plearning/neural-model.ts';
import { DEFAULT_FIT, fitWorldModel } from '../plearning/neural-fit.ts';
import type { FitAgent } from '../plearning/neural.ts';
import { oracleQFunction } from '../plearning/neural.ts';
import { qNetBatchQ, qNetTensors, qNetworkQFunction } from '../agents/q-network-tf.ts';
import type { ContinuousPqnArtifact } from '../tasks/continuous-pqn.ts';
import type { ExternalAgentArtifact } from '../agents/external.ts';
import { externalBatchQ, externalQFunction } from '../agents/external.ts';
import { checkExternalArtifact } from '../agents/agent-card.ts';
import { qNmse } from '../continuous/q-error.ts';
import { observeTf } from '../continuous/tf-goals.ts';
import type { TF } from '../tensor/backend.ts';
import { deriveSeed, Rng } from '../util/rng.ts';
import type { Stat } from '../util/validate.ts';
import { stat } from '../util/validate.ts';
import type { ContinuousConfig } from './continuous-config.ts';
import { DEFAULT_FIT_AGENTS_PER_STEP } from './continuous-config.ts';

const FIT_STREAM = 0xffe00000;
const EVAL_STREAM = 0xffd00000;

export function continuousEnv(name: ContinuousEnvName): ContinuousEnv {
  return name === 'mountaincar' ? mountainCar : reacher;
}

export function boundaryOf(name: ContinuousEnvName): BoundaryOf | undefined {
  return name === 'mountaincar' ? (s, off, a) => mountainCarBoundaryEvent(s[off], s[off + 1], a) : undefined;
}

/** The oracle agent as a serializable task: Q* of each training goal on the VI grid. */
export interface ContinuousOracleTask {
  readonly kind: 'continuous-oracle';
  readonly config: ContinuousConfig;
  readonly shardIndex: number;
  /** Which of the experiment's training goals this agent learns (all when absent). */
  readonly goalIndices?: readonly number[];
}

export interface ContinuousOracleArtifact {
  readonly kind: 'continuous-oracle';
  readonly shardIndex: number;
  readonly goalIndices: readonly number[];
  readonly tables: Float32Array[];
  readonly viIters: number[];
  readonly wallMs: number;
}

export async function runContinuousOracleTask(task: ContinuousOracleTask, onProgress?: (d: number, n: number) => void): Promise<ContinuousOracleArtifact> {
  const t0 = performance.now();
  const cfg = task.config;
  const env = continuousEnv(cfg.experiment);
  const { goals, reward } = trainingGoals(cfg.experiment, cfg.goalFamily);
  const goalIndices = task.goalIndices ?? goals.map((_, i) => i);
  const { tables, iters } = await oracleQTables(env, envGrid(env, cfg.grid), goalIndices.map((i) => goals[i]), reward, cfg.gamma,
    { tol: cfg.viTol, maxIters: cfg.viMaxIters }, onProgress);
  return { kind: 'continuous-oracle', shardIndex: task.shardIndex, goalIndices, tables, viIters: iters, wallMs: performance.now() - t0 };
}

/** Fit-distribution states: uniform over the env's box, or its reset distribution. */
export function sampleStates(env: ContinuousEnv, from: 'uniform' | 'reset', rng: Rng, out: Float64Array, n: number): void {
  if (from === 'reset') { env.reset(rng, out, n); return; }
  const D = env.stateDim;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < D; d++) out[i * D + d] = env.uniformLow[d] + (env.uniformHigh[d] - env.uniformLow[d]) * rng.next();
  }
}

/** What a fit reads from an agent: oracle Q* tables, a trained Q-network, or an imported one (`plearn extract`). */
export type ContinuousAgentArtifact = ContinuousOracleArtifact | ContinuousPqnArtifact | ExternalAgentArtifact;

export interface ContinuousSeedResult {
  seedIndex: number;
  backend: string;
  /** PQN and imported agents: Q NMSE against Q^π of each agent's own greedy policy (mean over its goals), per agent in shard order. */
  qNmse?: number[];
  wm: WmError;
  unseen: UnseenEval[];
  fitMs: number;
  evalMs: number;
  finalLoss: number;
}

export function modelPredict(weights: WorldModelWeights): SyncPredict {
  const model = makeWorldModel(weights);
  return (s, a, out, n) => {
    const D = weights.spec.stateDim;
    out.set(model.predict(s.subarray(0, n * D), a.subarray(0, n)).subarray(0, n * D));
  };
}

/** WM error of a predictor on the fixed evaluation states of a seed. */
export function evalStatesFor(cfg: ContinuousConfig, seedIndex: number): Float64Array {
  const env = continuousEnv(cfg.experiment);
  const states = new Float64Array(cfg.evalStates * env.stateDim);
  sampleStates(env, cfg.sampleFrom, new Rng(deriveSeed(cfg.seed, EVAL_STREAM + seedIndex)), states, cfg.evalStates);
  return states;
}

export async function fitAndEvaluateContinuous(tf: TF, backend: string, cfg: ContinuousConfig,
  agents: readonly ContinuousAgentArtifact[], seedIndex: number,
  onProgress?: (phase: 'fit' | 'eval', done: number, total: number) => void,
): Promise<{ result: ContinuousSeedResult; weights: WorldModelWeights; agents?: ContinuousPqnArtifact[] }> {
  const env = continuousEnv(cfg.experiment);
  const grid = envGrid(env, cfg.grid);
  const { goals, reward } = trainingGoals(cfg.experiment, cfg.goalFamily);
  const t0 = performance.now();
  // Imported agents may come from a store this process does not control: checked before anything runs them.
  for (const a of agents) if (a.kind === 'continuous-external') checkExternalArtifact(a, cfg.experiment);
  const sorted = [...agents].sort((x, y) => x.shardIndex - y.shardIndex);
  const fitAgents: FitAgent[] = sorted.map((a) => {
    if (a.kind === 'continuous-external') {
      return { q: externalQFunction(tf, a, observeTf(cfg.experiment)), backup: goalBackupTf(cfg.experiment, a.goals, a.reward) };
    }
    const own = a.goalIndices.map((i) => goals[i]);
    return {
      q: a.kind === 'continuous-oracle' ? oracleQFunction(tf, grid, a.tables) : qNetworkQFunction(tf, a.weights, own, observeTf(cfg.experiment)),
      backup: goalBackupTf(cfg.experiment, own, reward),
      nativeGoals: { experiment: cfg.experiment, goals: own, reward },
    };
  });
  const fitRng = new Rng(deriveSeed(cfg.seed, FIT_STREAM + seedIndex));
  const spec = { ...DEFAULT_MODEL, stateDim: env.stateDim, nActions: env.nActions, angleDims: [...env.angleDims] };
  let fit;
  try {
    fit = await fitWorldModel(tf, {
      ...DEFAULT_FIT, model: spec, steps: cfg.fitSteps, batchSize: cfg.fitBatch, lr: cfg.fitLr, agentsPerStep: cfg.fitAgentsPerStep ?? DEFAULT_FIT_AGENTS_PER_STEP,
      schedule: cfg.fitSchedule, terminalStates: cfg.fitTerminal, gamma: cfg.gamma, logEvery: Math.max(1, Math.floor(cfg.fitSteps / 50)),
    }, fitAgents, (rng, n, out) => sampleStates(env, cfg.sampleFrom, rng, out, n), fitRng,
    (p) => onProgress?.('fit', p.step, p.steps));
  } finally {
    for (const a of fitAgents) a.q.dispose?.();
  }
  const fitMs = performance.now() - t0;
  const t1 = performance.now();
  const predict = tensorPredictor(tf, fit.model);
  const wm = await worldModelError(env, predict, evalStatesFor(cfg, seedIndex), cfg.evalStates, boundaryOf(cfg.experiment));
  const unseen = await evaluateUnseen(env, grid, predict, unseenTasks(cfg.experiment), cfg.gamma,
    { tol: cfg.viTol, maxIters: cfg.viMaxIters }, cfg.rollouts, deriveSeed(cfg.seed, EVAL_STREAM + 1000 + seedIndex),
    (d, n) => onProgress?.('eval', d, n));
  const qErrors: number[] = [];
  // One set of true-dynamics grid transitions serves every agent's Q error (only rewards differ per goal).
  let shared: Transitions | undefined;
  for (const a of sorted) {
    if (a.kind === 'continuous-oracle') continue;
    shared ??= await gridTransitions(env, grid, (s, act, nx, n) => env.step(s, act, nx, n), goalTask(goals[0], reward));
    if (a.kind === 'continuous-external') {
      const batch = externalBatchQ(tf, env, a);
      try {
        qErrors.push((await qNmse(env, grid, a.goals, a.reward, cfg.gamma, batch.q, { tol: cfg.viTol, maxIters: cfg.viMaxIters }, undefined,
          { transitions: shared })).nmse);
      } finally {
        batch.dispose();
      }
      continue;
    }
    const params = qNetTensors(tf, a.weights, false);
    try {
      const agentGoals = a.goalIndices.map((i) => goals[i]);
      qErrors.push((await qNmse(env, grid, agentGoals, reward, cfg.gamma, qNetBatchQ(tf, env, a.weights, agentGoals, params),
        { tol: cfg.viTol, maxIters: cfg.viMaxIters }, undefined, { transitions: shared })).nmse);
    } finally {
      for (const p of params) p.dispose();
    }
  }
  const tail = fit.losses.subarray(Math.max(0, fit.losses.length - 20));
  return {
    result: {
      seedIndex, backend, ...(qErrors.length > 0 ? { qNmse: qErrors } : {}), wm, unseen, fitMs, evalMs: performance.now() - t1,
      finalLoss: tail.reduce((s, x) => s + x, 0) / tail.length,
    },
    weights: { spec: fit.model.spec, layers: fit.model.layers },
    // Trained agents travel with the fit output, so `--out` can save them beside the model.
    ...(sorted.some((a) => a.kind === 'continuous-pqn') ? { agents: sorted.filter((a): a is ContinuousPqnArtifact => a.kind === 'continuous-pqn') } : {}),
  };
}

export interface ContinuousSummary {
  /** PQN agents: Q NMSE over seeds (each seed's mean over its agents). */
  qNmse?: Stat;
  wmNmse: Stat;
  identityNmse: Stat;
  wmDeltaNmse: Stat;
  wmDeltaNmseInterior?: Stat;
  wmDeltaNmseBoundary?: Stat;
  perActionDim: { action: number; dim: number; label: string; mse: Stat; nmse: Stat; identityNmse: Stat; deltaNmse: Stat | null }[];
  unseen: { label: string; rStar: Stat; rWM: Stat; ratio: Stat }[];
}

export function summarizeContinuous(seeds: readonly ContinuousSeedResult[]): ContinuousSummary {
  const first = seeds[0];
  const over = (f: (s: ContinuousSeedResult) => number) => stat(seeds.map(f));
  const out: ContinuousSummary = {
    wmNmse: over((s) => s.wm.nmse),
    identityNmse: over((s) => s.wm.identityNmse),
    wmDeltaNmse: over((s) => s.wm.deltaNmse),
    perActionDim: first.wm.perActionDim.map((p, k) => ({
      action: p.action, dim: p.dim, label: p.label,
      mse: over((s) => s.wm.perActionDim[k].mse),
      nmse: over((s) => s.wm.perActionDim[k].nmse),
      identityNmse: over((s) => s.wm.perActionDim[k].identityNmse),
      deltaNmse: p.deltaNmse === null ? null : over((s) => s.wm.perActionDim[k].deltaNmse ?? NaN),
    })),
    // Returns over seeds: each seed's rollout mean, then mean ± SE across seeds (one seed: the rollout SE).
    unseen: first.unseen.map((u, i) => {
      const pick = (f: (x: UnseenEval) => Stat) => (seeds.length > 1 ? stat(seeds.map((s) => f(s.unseen[i]).mean)) : f(u));
      return { label: u.label, rStar: pick((x) => x.rStar), rWM: pick((x) => x.rWM), ratio: stat(seeds.map((s) => s.unseen[i].rWM.mean / s.unseen[i].rStar.mean)) };
    }),
  };
  if (first.qNmse !== undefined) out.qNmse = over((s) => (s.qNmse ?? []).reduce((a, b) => a + b, 0) / Math.max(1, s.qNmse?.length ?? 0));
  if (first.wm.deltaNmseInterior !== undefined) {
    out.wmDeltaNmseInterior = over((s) => s.wm.deltaNmseInterior ?? NaN);
    out.wmDeltaNmseBoundary = over((s) => s.wm.deltaNmseBoundary ?? NaN);
  }
  return out;
}
