// The small, exactly specified pieces of PQN (the reference agent), as plain functions so
// each can be checked by hand: schedules, TD targets, hindsight relabelling and
// optimistic resets. The training loop in pqn.ts strings them together.

import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import { goalDist2 } from '../envs/continuous-goals.ts';
import type { Rng } from '../util/rng.ts';

/**
 * optax.linear_schedule(init, end, steps) at `count`: init → end linearly over `steps`
 * counts, then end. steps ≤ 0 gives end at once.
 */
export function linearSchedule(init: number, end: number, steps: number, count: number): number {
  if (steps <= 0) return end;
  const frac = 1 - Math.min(Math.max(count, 0), steps) / steps;
  return (init - end) * frac + end;
}

/** ε of update u (0-based): 1.0 → 0.1 over the first epsDecay fraction of the updates. */
export function epsilonAt(cfg: { epsStart: number; epsFinish: number; epsDecay: number }, update: number, updates: number): number {
  return linearSchedule(cfg.epsStart, cfg.epsFinish, Math.floor(cfg.epsDecay * updates), update);
}

/**
 * One-step TD targets r + γ(1 − d_goal)·max_a' Q(s'_true, a'): `doneGoal` is goal
 * termination only, so a time-limit truncation still bootstraps (s'_true being the
 * pre-reset next state), and a reached goal never does.
 */
export function tdTargets(reward: Float32Array, doneGoal: Uint8Array, qNextMax: Float32Array, gamma: number, out: Float32Array, n = reward.length): Float32Array {
  for (let i = 0; i < n; i++) out[i] = reward[i] + (doneGoal[i] ? 0 : gamma * qNextMax[i]);
  return out;
}

/** The reference's "future" HER step: t' = t + (u mod (T − t)), u uniform on 0 … T−1. */
export function futureStep(rng: Rng, t: number, T: number): number {
  return t + (rng.int(T) % (T - t));
}

/**
 * Reward and goal termination of landing on obs[off..] for a goal given as target + mask
 * (a relabelled goal need not be one of the training goals).
 */
export function relabelReward(obs: Float64Array, off: number, goal: ContinuousGoal, spec: RewardSpec): { r: number; done: boolean } {
  const d2 = goalDist2(obs, off, goal);
  const inside = d2 < spec.radius * spec.radius;
  const r = spec.kind === 'sparse' ? (inside ? 1 : 0) : Math.exp(-d2 / (2 * spec.sigma * spec.sigma));
  return { r, done: inside && spec.terminateOnGoal };
}

/**
 * Optimistic resets: each step draws only numEnvs / ratio fresh reset states. Env i takes
 * state ⌊i / ratio⌋ unless it is among (up to numEnvs / ratio) finished envs picked at
 * random, which take one state each. Only finished envs' entries matter. Writes the
 * reset-state index of each env into `out`; `scratch` holds numEnvs ints.
 */
export function optimisticResetIndices(done: Uint8Array, ratio: number, rng: Rng, out: Int32Array, scratch: Int32Array): void {
  const n = done.length;
  const fresh = Math.floor(n / ratio);
  let k = 0;
  for (let i = 0; i < n; i++) {
    out[i] = Math.floor(i / ratio);
    if (done[i]) scratch[k++] = i;
  }
  const picks = Math.min(fresh, k);
  // Partial Fisher–Yates: the first `picks` entries become a uniform sample without replacement.
  for (let j = 0; j < picks; j++) {
    const r = j + rng.int(k - j);
    const tmp = scratch[j];
    scratch[j] = scratch[r];
    scratch[r] = tmp;
    out[scratch[j]] = j;
  }
}

/** The first action with the largest value in row q[off … off + A). */
export function argmaxRow(q: Float32Array, off: number, A: number): number {
  let best = 0;
  for (let a = 1; a < A; a++) if (q[off + a] > q[off + best]) best = a;
  return best;
}

/** Uniform random permutation of 0 … n−1 into `out`. */
export function permutation(rng: Rng, out: Int32Array): Int32Array {
  for (let i = 0; i < out.length; i++) out[i] = i;
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
}
