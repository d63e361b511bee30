// The one interface every continuous world implements (gymnax-style): pure,
// batched functions over typed arrays, N copies at once, row-major N × dim.
// A world's "state" is what its dynamics need; its "observation" is what goals
// and agents see (for Reacher the observation adds wrapped angles and the fingertip).

import type { Rng } from '../util/rng.ts';

export interface ContinuousEnv {
  readonly name: string;
  /** Dimension of the dynamics state (MountainCar [x, v]; Reacher [θ₁, θ₂, ω₁, ω₂]). */
  readonly stateDim: number;
  /** Dimension of the observation goals are defined on (MountainCar 2; Reacher 6). */
  readonly obsDim: number;
  readonly nActions: number;
  readonly stateLabels: readonly string[];
  readonly obsLabels: readonly string[];
  /** State dims that are angles: differences on them are wrapped to [−π, π]. */
  readonly angleDims: readonly number[];
  /** Episodes truncate after this many steps. */
  readonly maxSteps: number;
  /** Box of the "uniform" state distribution used for fits and metrics (per state dim). */
  readonly uniformLow: Float64Array;
  readonly uniformHigh: Float64Array;
  /** The true dynamics: next[i] = f(states[i], actions[i]) for i < n. `next` may alias `states`. */
  step(states: Float64Array, actions: Int32Array, next: Float64Array, n: number): void;
  /** n states from the reset distribution. */
  reset(rng: Rng, out: Float64Array, n: number): void;
  /** Observations of n states (out is n × obsDim). */
  observe(states: Float64Array, out: Float64Array, n: number): void;
}

/**
 * Batches from this size on take the fast CPU addon's step when the thread loaded it
 * (shared/tensor/native/envstep.c: the same states bit for bit); below it, handing the
 * arrays over costs more than the step.
 */
export const NATIVE_STEP_MIN_BATCH = 16;

/** Wrap an angle to [−π, π). */
export function wrapAngle(x: number): number {
  const twoPi = 2 * Math.PI;
  return x - twoPi * Math.floor((x + Math.PI) / twoPi);
}
