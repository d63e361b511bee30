// Reacher: the reference's kinematic two-link planar arm (gymnax `misc/reacher.py`
// wrapped by the reference's `envs/reacher.py`), not the MuJoCo one. No masses,
// no damping: a torque is an angular acceleration, integrated by semi-implicit Euler.
//
// State vs observation, as in the reference: gymnax's EnvState carries the raw,
// unwrapped joint angles, and only the observation wraps them to [−π, π). So our
// state is [θ₁, θ₂, ω₁, ω₂] with θ free to wind up past ±π, and `observe` does the
// wrapping. Nothing observable depends on the winding (the fingertip is periodic in
// θ), so consumers that need canonical states (grids, fits) wrap `angleDims` themselves.
//
// Both angles are ABSOLUTE (measured from the x axis), not relative to the first
// link: gymnax's fingertip is Σ_j (cos θ_j, sin θ_j), unit links.
//
// The reference computes in float32; we compute in float64.

import { nativeKernels } from '../tensor/fast-cpu.ts';
import type { Rng } from '../util/rng.ts';
import { NATIVE_STEP_MIN_BATCH, wrapAngle, type ContinuousEnv } from './continuous.ts';

/** Integration step (gymnax `dt`). */
export const REACHER_DT = 0.05;
/** Torque → angular acceleration factor (gymnax `torque_scale`). */
export const REACHER_TORQUE_SCALE = 1;
/** Per-joint torque levels of the discrete action grid (the reference's linspace(−1, 1, 3)). */
export const REACHER_TORQUE_VALUES: readonly number[] = [-1, 0, 1];
/** Episodes truncate here (the reference's `MAX_STEPS_IN_EPISODE`). */
export const REACHER_MAX_STEPS = 100;
/** Reset: θ_j ~ U[−π, π], ω_j ~ U[−1, 1] (gymnax `reset_env`). */
export const REACHER_RESET_OMEGA = 1;
/** Half-width of the ω box of the uniform distribution and of the value-iteration grid (as the paper's evaluation). */
export const REACHER_GRID_OMEGA = 2;

const NT = REACHER_TORQUE_VALUES.length;

/**
 * The action table, row-major nActions × 2: the Cartesian product
 * torque(a) = (values[⌊a/3⌋], values[a mod 3]), i.e. joint 1 varies slowest, as
 * Python's itertools.product in the reference's `make_action_table`:
 * a = 0 → (−1, −1), 1 → (−1, 0), 4 → (0, 0), 8 → (1, 1).
 */
export const REACHER_ACTION_TABLE: Float64Array = (() => {
  const t = new Float64Array(NT * NT * 2);
  for (let a = 0; a < NT * NT; a++) {
    t[2 * a] = REACHER_TORQUE_VALUES[Math.floor(a / NT)];
    t[2 * a + 1] = REACHER_TORQUE_VALUES[a % NT];
  }
  return t;
})();

export const REACHER_N_ACTIONS = NT * NT;

/** Labels in the reference's ACTION_NAMES style, "(τ₁,τ₂)". */
export const REACHER_ACTION_NAMES: readonly string[] = Array.from(
  { length: REACHER_N_ACTIONS },
  (_, a) => `(${REACHER_ACTION_TABLE[2 * a]},${REACHER_ACTION_TABLE[2 * a + 1]})`,
);

function checkAction(a: number): void {
  // An index past the table would read undefined and poison the state with NaN.
  if (!(a >= 0 && a < REACHER_N_ACTIONS && a === Math.floor(a))) {
    throw new RangeError(`reacher: action ${a} is not in [0, ${REACHER_N_ACTIONS})`);
  }
}

/**
 * One transition on scalars: ω' = ω + dt·τ, then θ' = θ + dt·ω' — the position uses
 * the UPDATED velocity (semi-implicit Euler, gymnax's order). Angles are not wrapped.
 */
export function reacherStep1(
  t1: number, t2: number, w1: number, w2: number, a: number,
): [number, number, number, number] {
  checkAction(a);
  const w1n = w1 + REACHER_DT * REACHER_TORQUE_SCALE * REACHER_ACTION_TABLE[2 * a];
  const w2n = w2 + REACHER_DT * REACHER_TORQUE_SCALE * REACHER_ACTION_TABLE[2 * a + 1];
  return [t1 + REACHER_DT * w1n, t2 + REACHER_DT * w2n, w1n, w2n];
}

/** Fingertip of two unit links at absolute angles θ₁, θ₂. */
export function reacherFingertip(t1: number, t2: number): [number, number] {
  return [Math.cos(t1) + Math.cos(t2), Math.sin(t1) + Math.sin(t2)];
}

function step(states: Float64Array, actions: Int32Array, next: Float64Array, n: number): void {
  const k = REACHER_DT * REACHER_TORQUE_SCALE;
  // The addon's step (envstep.c) gives these very states; a batch it cannot take whole
  // (a bad action, for one) is left to the loop below.
  const native = n >= NATIVE_STEP_MIN_BATCH ? nativeKernels() : undefined;
  if (native && native.reacherStep(states, actions, next, n, REACHER_ACTION_TABLE, k, REACHER_DT) < 0) return;
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    const a = actions[i];
    checkAction(a);
    // All four inputs are read before any output is written, so `next` may alias `states`.
    const t1 = states[o];
    const t2 = states[o + 1];
    const w1 = states[o + 2] + k * REACHER_ACTION_TABLE[2 * a];
    const w2 = states[o + 3] + k * REACHER_ACTION_TABLE[2 * a + 1];
    next[o] = t1 + REACHER_DT * w1;
    next[o + 1] = t2 + REACHER_DT * w2;
    next[o + 2] = w1;
    next[o + 3] = w2;
  }
}

function reset(rng: Rng, out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    out[o] = Math.PI * (2 * rng.next() - 1);
    out[o + 1] = Math.PI * (2 * rng.next() - 1);
    out[o + 2] = REACHER_RESET_OMEGA * (2 * rng.next() - 1);
    out[o + 3] = REACHER_RESET_OMEGA * (2 * rng.next() - 1);
  }
}

/** [θ₁, θ₂ wrapped to [−π, π), ω₁, ω₂, fp_x, fp_y]; the reference's 6-D observation. */
function observe(states: Float64Array, out: Float64Array, n: number): void {
  // Walk backwards: each output row (6 wide) starts at or after its input row (4 wide),
  // so going from the last row down never overwrites an input still to be read, even
  // when `out` and `states` share a buffer.
  for (let i = n - 1; i >= 0; i--) {
    const s = 4 * i;
    const o = 6 * i;
    const t1 = states[s];
    const t2 = states[s + 1];
    const w1 = states[s + 2];
    const w2 = states[s + 3];
    out[o] = wrapAngle(t1);
    out[o + 1] = wrapAngle(t2);
    out[o + 2] = w1;
    out[o + 3] = w2;
    // From the raw angles, as the reference; cos/sin make the winding irrelevant.
    out[o + 4] = Math.cos(t1) + Math.cos(t2);
    out[o + 5] = Math.sin(t1) + Math.sin(t2);
  }
}

export const reacher: ContinuousEnv = {
  name: 'reacher',
  stateDim: 4,
  obsDim: 6,
  nActions: REACHER_N_ACTIONS,
  stateLabels: ['theta1', 'theta2', 'omega1', 'omega2'],
  obsLabels: ['theta1', 'theta2', 'omega1', 'omega2', 'fp_x', 'fp_y'],
  angleDims: [0, 1],
  maxSteps: REACHER_MAX_STEPS,
  // The reference's VI_STATE_RANGES: θ over a full turn, ω clamped to ±2 (ω is unbounded
  // in the dynamics; grids clamp queries to their edge).
  uniformLow: Float64Array.of(-Math.PI, -Math.PI, -REACHER_GRID_OMEGA, -REACHER_GRID_OMEGA),
  uniformHigh: Float64Array.of(Math.PI, Math.PI, REACHER_GRID_OMEGA, REACHER_GRID_OMEGA),
  step,
  reset,
  observe,
};
