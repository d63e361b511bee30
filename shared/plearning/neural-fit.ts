// The continuous P-learning fit: minimise over φ the Bellman residual of frozen
// agents under the model,
//   L(φ) = E_{(agent, g), s, a} | Q(s,a,g) − [ r(ŝ',g) + γ (1 − d(ŝ',g)) max_a' Q(ŝ',a',g) ] |,
//   ŝ' = s + f_φ(s, a),
// by Adam on sampled batches. Only φ moves: the targets are constants, and the
// gradient reaches φ through Q(ŝ', ·) (and r, if asked) evaluated at ŝ'.

import type { Scalar, TF, Tensor, Tensor1D, Tensor2D, Variable } from '../tensor/backend.ts';
import type { Rng } from '../util/rng.ts';
import type { QFunction } from './neural.ts';
import type { NativeBatch, NativeGoals } from './native-fit.ts';
import { nativeFitStep } from './native-fit.ts';
import {
  forwardWorldModel,
  initWorldModel,
  stopGradient,
  tensorsToWorldModel,
  weightsToTensors,
  type WorldModel,
  type WorldModelSpec,
} from './neural-model.ts';

/**
 * Reward r(s', g) (B) and termination d(s', g) ∈ {0, 1} (B) at a batch of predicted
 * next states, for the agent's goal indices. Written with TF ops on the model's state space.
 */
export type GoalBackup = (tf: TF, nextStates: Tensor2D, goalIdx: Tensor1D) => { r: Tensor1D; d: Tensor1D };

export interface FitAgent {
  readonly q: QFunction;
  readonly backup: GoalBackup;
  /**
   * Whether the loss differentiates r(ŝ', g). The reference takes jax.grad through
   * its reward at the predicted state: zero for sparse rewards (a step function),
   * non-zero for gaussian ones. Set true for smooth rewards to match it; left false,
   * the backup runs under a stop-gradient, which is exact for sparse rewards and
   * lets them use comparisons (TF.js has no gradient for `less` and friends).
   * d never carries a gradient (it is a 0/1 flag in the reference).
   */
  readonly rewardGradient?: boolean;
  /** The goal indices of `q` this fit samples (default: all 0 … q.nGoals − 1). */
  readonly goals?: readonly number[];
  /** The goals and reward `backup` scores, for the fit's native step on cpu-blas (native-fit.ts). */
  readonly nativeGoals?: NativeGoals;
}

/** Writes n states (n × stateDim, row-major) drawn from the fit distribution into `out`. */
export type StateSampler = (rng: Rng, n: number, out: Float64Array) => void;

export interface FitConfig {
  readonly model: WorldModelSpec;
  readonly steps: number;
  readonly batchSize: number;
  readonly lr: number;
  /** Decay of the learning rate to 0 over `steps` (optax cosine_decay / linear_schedule). */
  readonly schedule: 'cosine' | 'linear' | 'constant';
  readonly gamma: number;
  /** Elementwise residual penalty: L1 (reference default) or squared. */
  readonly loss: 'l1' | 'mse';
  /**
   * Samples whose state s already meets their goal (d(s, g) = 1): 'fit' keeps them,
   * 'skip' leaves them out of the loss. An agent never acts from such a state (its
   * episode ended on arrival), so its Q there is not bound by the Bellman equation.
   * Skipped samples count as zeros in the batch mean: the step per remaining sample
   * is unchanged.
   */
  readonly terminalStates?: 'fit' | 'skip';
  /** Loss values are read back from the backend, and onProgress called, every this many steps (default 50). */
  readonly logEvery?: number;
  /**
   * At most this many agents per step (default: all). With more agents, each step
   * draws this many without replacement and its batch from their (agent, goal)
   * pairs, so a step's cost stops growing with the agent count (one network
   * evaluation per agent in the step). Fewer agents than this: the fit is exactly
   * the uncapped one, draw for draw.
   */
  readonly agentsPerStep?: number;
}

export const DEFAULT_FIT: Omit<FitConfig, 'model'> = {
  steps: 1000,
  batchSize: 1024,
  lr: 1e-4,
  schedule: 'linear',
  gamma: 0.99,
  loss: 'l1',
};

export interface FitProgress {
  readonly step: number;
  readonly steps: number;
  /** Mean loss over the steps since the previous report. */
  readonly loss: number;
}

export interface FitResult {
  readonly model: WorldModel;
  /** Loss of every step (before that step's update). */
  readonly losses: Float32Array;
}

/** One agent's share of a batch. */
export interface AgentBatch {
  readonly agent: number;
  readonly states: Tensor2D;
  readonly actions: Tensor1D;
  readonly goals: Tensor1D;
}

/** Move `k` agents drawn uniformly without replacement to the front of `order` (a partial Fisher–Yates shuffle). */
function drawAgents(rng: Rng, order: Int32Array, k: number): void {
  for (let j = 0; j < k; j++) {
    const r = j + rng.int(order.length - j);
    const t = order[j];
    order[j] = order[r];
    order[r] = t;
  }
}

export function learningRate(cfg: Pick<FitConfig, 'lr' | 'schedule' | 'steps'>, step: number): number {
  const frac = Math.min(step, cfg.steps) / cfg.steps;
  switch (cfg.schedule) {
    case 'cosine':
      return cfg.lr * 0.5 * (1 + Math.cos(Math.PI * frac));
    case 'linear':
      return cfg.lr * (1 - frac);
    case 'constant':
      return cfg.lr;
  }
}

function detachedBackup(tf: TF, backup: GoalBackup, nextStates: Tensor2D, goalIdx: Tensor1D): { r: Tensor1D; d: Tensor1D } {
  const { r, d } = backup(tf, stopGradient(tf, nextStates), goalIdx);
  return { r: r.toFloat(), d: d.toFloat() };
}

/**
 * The batch loss (a scalar): mean over all B samples of all agents' batches of the
 * residual penalty. Exposed for gradient checks; `params` as {@link weightsToTensors}.
 */
export function bellmanResidualLoss(
  tf: TF,
  cfg: Pick<FitConfig, 'model' | 'gamma' | 'loss' | 'terminalStates'>,
  params: readonly Tensor[],
  agents: readonly FitAgent[],
  batches: readonly AgentBatch[],
): Scalar {
  let total: Scalar = tf.scalar(0);
  let count = 0;
  for (const b of batches) {
    const agent = agents[b.agent];
    const target = agent.q.targets(tf, b.states, b.actions, b.goals);
    const next = forwardWorldModel(tf, cfg.model, params, b.states, b.actions);
    const v = tf.max(agent.q.values(tf, next, b.goals), 1);
    const stopped = detachedBackup(tf, agent.backup, next, b.goals);
    const r = agent.rewardGradient ? agent.backup(tf, next, b.goals).r.toFloat() : stopped.r;
    const backupValue = tf.add(r, tf.mul(tf.mul(tf.sub(1, stopped.d), cfg.gamma), v));
    const residual = tf.sub(target, backupValue);
    let penalty = cfg.loss === 'mse' ? tf.square(residual) : tf.abs(residual);
    if (cfg.terminalStates === 'skip') penalty = tf.mul(penalty, tf.sub(1, detachedBackup(tf, agent.backup, b.states, b.goals).d));
    total = tf.add(total, tf.sum(penalty));
    count += b.states.shape[0];
  }
  return tf.div(total, Math.max(count, 1));
}

/**
 * The fit's Adam step (optax's defaults β = 0.9, 0.999, ε = 1e-8) on step index
 * `step` (0-based), as TF ops: the world model is small, and the same ops run on
 * every backend. Call inside a tidy.
 */
export function fitAdamStep(tf: TF, params: readonly Variable[], grads: readonly Tensor[], m: readonly Variable[],
  v: readonly Variable[], step: number, lr: number): void {
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  const bc1 = 1 - beta1 ** (step + 1);
  const bc2 = 1 - beta2 ** (step + 1);
  for (let i = 0; i < params.length; i++) {
    const g = grads[i];
    m[i].assign(tf.add(tf.mul(m[i], beta1), tf.mul(g, 1 - beta1)));
    v[i].assign(tf.add(tf.mul(v[i], beta2), tf.mul(tf.square(g), 1 - beta2)));
    const update = tf.div(tf.div(m[i], bc1), tf.add(tf.sqrt(tf.div(v[i], bc2)), eps));
    params[i].assign(tf.sub(params[i], tf.mul(update, lr)));
  }
}

function uniformSampler(low: Float64Array, high: Float64Array): StateSampler {
  const D = low.length;
  return (rng, n, out) => {
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < D; d++) out[i * D + d] = low[d] + (high[d] - low[d]) * rng.next();
    }
  };
}

/**
 * Fit a world model to frozen agents. Each batch sample draws (agent, goal)
 * uniformly over the union of all agents' goals, so agents trained on different
 * goal shards are fitted jointly (the sum of their losses), then a state from
 * `states` and an action uniformly. Adam with optax's defaults (β = 0.9, 0.999,
 * ε = 1e-8) and the configured decay; initial weights from `rng` (orthogonal).
 */
export async function fitWorldModel(
  tf: TF,
  cfg: FitConfig,
  agents: readonly FitAgent[],
  states: StateSampler | { readonly low: Float64Array; readonly high: Float64Array },
  rng: Rng,
  onProgress?: (p: FitProgress) => void,
): Promise<FitResult> {
  const spec = cfg.model;
  const D = spec.stateDim;
  const nA = spec.nActions;
  const sample = typeof states === 'function' ? states : uniformSampler(states.low, states.high);
  const pairs: { agent: number; goal: number }[] = [];
  agents.forEach((a, i) => {
    if (a.q.nActions !== nA) throw new Error(`agent ${i}: Q has ${a.q.nActions} actions, model has ${nA}`);
    for (const g of a.goals ?? Array.from({ length: a.q.nGoals }, (_, k) => k)) {
      if (!(Number.isInteger(g) && g >= 0 && g < a.q.nGoals)) throw new Error(`agent ${i}: goal ${g} out of range`);
      pairs.push({ agent: i, goal: g });
    }
  });
  if (pairs.length === 0) throw new Error('fitWorldModel: no (agent, goal) pairs to fit');
  if (!(cfg.steps >= 1 && cfg.batchSize >= 1)) throw new Error('fitWorldModel: steps and batchSize must be ≥ 1');

  const init = initWorldModel(spec, rng);
  // Variables escape tidy; the tensors they were made from do not leak.
  const [params, m, v] = tf.tidy(() => {
    const p = weightsToTensors(tf, init).map((t) => tf.variable(t));
    return [p, p.map((x) => tf.variable(tf.zerosLike(x))), p.map((x) => tf.variable(tf.zerosLike(x)))];
  });
  const losses = new Float32Array(cfg.steps);
  const logEvery = Math.max(1, cfg.logEvery ?? 50);
  // Losses waiting to be read back: tensors from the TF.js step, numbers from the native one.
  let pending: (Scalar | number)[] = [];
  const fast = nativeFitStep(tf, cfg, agents, params, m, v);
  let pendingFrom = 0;
  const stateBuf = new Float64Array(cfg.batchSize * D);
  const perAgent = agents.map(() => ({ goals: [] as number[] }));
  // Pairs are listed agent by agent: agent a's are pairs[pairStart[a] .. pairEnd[a]).
  const pairStart = new Int32Array(agents.length).fill(-1);
  const pairEnd = new Int32Array(agents.length);
  pairs.forEach((p, i) => { if (pairStart[p.agent] < 0) pairStart[p.agent] = i; pairEnd[p.agent] = i + 1; });
  const order = Int32Array.from(agents.map((_, i) => i)).filter((a) => pairStart[a] >= 0);
  const cap = cfg.agentsPerStep !== undefined && cfg.agentsPerStep < order.length ? Math.max(1, Math.floor(cfg.agentsPerStep)) : null;
  const cum = new Int32Array(cap ?? 0);

  const flush = async (uptoStep: number): Promise<void> => {
    if (pending.length === 0) return;
    const tensors = pending.filter((t): t is Scalar => typeof t !== 'number');
    let vals: ArrayLike<number> = pending as number[];
    if (tensors.length > 0) {
      const stacked = tf.stack(tensors);
      vals = await stacked.data();
      stacked.dispose();
      tensors.forEach((t) => t.dispose());
    }
    let sum = 0;
    for (let i = 0; i < vals.length; i++) {
      losses[pendingFrom + i] = vals[i];
      sum += vals[i];
    }
    pending = [];
    pendingFrom = uptoStep;
    onProgress?.({ step: uptoStep, steps: cfg.steps, loss: sum / vals.length });
  };

  try {
    for (let step = 0; step < cfg.steps; step++) {
      for (const p of perAgent) p.goals.length = 0;
      if (cap === null) {
        for (let i = 0; i < cfg.batchSize; i++) {
          const pair = pairs[rng.int(pairs.length)];
          perAgent[pair.agent].goals.push(pair.goal);
        }
      } else {
        drawAgents(rng, order, cap);
        // Uniform over the chosen agents' pairs: cumulative pair counts, then a search.
        let total = 0;
        for (let j = 0; j < cap; j++) {
          total += pairEnd[order[j]] - pairStart[order[j]];
          cum[j] = total;
        }
        for (let i = 0; i < cfg.batchSize; i++) {
          const u = rng.int(total);
          let lo = 0;
          while (cum[lo] <= u) lo++;
          const a = order[lo];
          const pair = pairs[pairStart[a] + (u - (lo === 0 ? 0 : cum[lo - 1]))];
          perAgent[pair.agent].goals.push(pair.goal);
        }
      }
      const lr = learningRate(cfg, step);
      // Each agent's share of the batch: its states, then its actions, drawn in agent order.
      const drawn: NativeBatch[] = [];
      perAgent.forEach((p, agent) => {
        const k = p.goals.length;
        if (k === 0) return;
        sample(rng, k, stateBuf);
        const actions = new Int32Array(k);
        for (let i = 0; i < k; i++) actions[i] = rng.int(nA);
        drawn.push({ agent, k, states: Float32Array.from(stateBuf.subarray(0, k * D)), actions, goals: Int32Array.from(p.goals) });
      });
      if (fast) {
        pending.push(fast.step(drawn, step, lr));
        if (pending.length >= logEvery || step + 1 === cfg.steps) await flush(step + 1);
        continue;
      }
      const lossValue = tf.tidy(() => {
        const batches: AgentBatch[] = drawn.map((b) => ({
          agent: b.agent, states: tf.tensor2d(b.states, [b.k, D]), actions: tf.tensor1d(b.actions, 'int32'), goals: tf.tensor1d(b.goals, 'int32'),
        }));
        const { value, grads } = tf.valueAndGrads((...ps: Tensor[]) => bellmanResidualLoss(tf, cfg, ps, agents, batches))(params);
        fitAdamStep(tf, params, grads, m, v, step, lr);
        return value as Scalar;
      });
      pending.push(lossValue);
      if (pending.length >= logEvery || step + 1 === cfg.steps) await flush(step + 1);
    }
    return { model: await tensorsToWorldModel(spec, params), losses };
  } finally {
    pending.forEach((t) => { if (typeof t !== 'number') t.dispose(); });
    for (const t of [...params, ...m, ...v]) t.dispose();
  }
}
