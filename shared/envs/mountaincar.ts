// MountainCar: the classic-control car in a valley, exactly as gymnax's
// `classic_control/mountain_car.py` step_env (which the reference wraps unchanged,
// dropping only the built-in reward and the x ≥ 0.5 termination: goals decide
// termination here, time decides truncation).
//
// The reference runs it in float32 (JAX's default); we run it in float64. The two
// agree to float32 rounding inside the box, and every boundary rule below is an
// exact comparison against the clip bounds, so both decide the same boundary events
// except for states within float32 rounding of a bound.

import { nativeKernels, type FastCpuAddon } from '../tensor/fast-cpu.ts';
import type { Rng } from '../util/rng.ts';
import { NATIVE_STEP_MIN_BATCH, type ContinuousEnv } from './continuous.ts';

/** Left wall of the valley (gymnax `min_position`). */
export const MC_MIN_POSITION = -1.2;
/** Right edge of the track (gymnax `max_position`). */
export const MC_MAX_POSITION = 0.6;
/** Speed limit in either direction (gymnax `max_speed`). */
export const MC_MAX_SPEED = 0.07;
/** Velocity change per step from the engine (gymnax `force`). */
export const MC_FORCE = 0.001;
/** Scale of the slope's pull, −cos(3x)·gravity (gymnax `gravity`). */
export const MC_GRAVITY = 0.0025;
/** Reset draws x uniformly from this interval, with v = 0 (gymnax `reset_env`). */
export const MC_RESET_LOW = -0.6;
export const MC_RESET_HIGH = -0.4;
/** Episodes truncate here (the reference's `MAX_STEPS_IN_EPISODE`). */
export const MC_MAX_STEPS = 200;

/** Action ids; the engine force is (a − 1)·MC_FORCE. */
export const MC_LEFT = 0;
export const MC_NONE = 1;
export const MC_RIGHT = 2;
export const MC_ACTION_NAMES: readonly string[] = ['left', 'none', 'right'];

function clip(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function checkAction(a: number): void {
  // An out-of-range id would silently become a stronger engine; refuse it instead.
  if (!(a === 0 || a === 1 || a === 2)) {
    throw new RangeError(`mountaincar: action ${a} is not 0, 1 or 2`);
  }
}

/**
 * One transition on scalars. Order matters and follows gymnax: the velocity is
 * updated and clipped first, the position moves by the NEW velocity and is clipped,
 * and only then is the velocity zeroed if the clipped position sits exactly on the
 * left wall while still moving left (an inelastic wall; the right edge has no such
 * rule, so a car at x = 0.6 keeps its velocity).
 */
export function mountainCarStep1(x: number, v: number, a: number): [number, number] {
  checkAction(a);
  let vn = v + (a - 1) * MC_FORCE - Math.cos(3 * x) * MC_GRAVITY;
  vn = clip(vn, -MC_MAX_SPEED, MC_MAX_SPEED);
  const xn = clip(x + vn, MC_MIN_POSITION, MC_MAX_POSITION);
  // gymnax multiplies by 0, which leaves −0 for a negative velocity; a plain 0 is the
  // same number and keeps strict-equality comparisons and hashes of states stable.
  if (xn === MC_MIN_POSITION && vn < 0) vn = 0;
  return [xn, vn];
}

/** Does this transition touch a boundary rule (velocity clip or left-wall reset)? */
export function mountainCarBoundaryEvent(x: number, v: number, a: number): boolean {
  checkAction(a);
  const raw = v + (a - 1) * MC_FORCE - Math.cos(3 * x) * MC_GRAVITY;
  if (raw > MC_MAX_SPEED || raw < -MC_MAX_SPEED) return true;
  const vc = clip(raw, -MC_MAX_SPEED, MC_MAX_SPEED);
  const xn = clip(x + vc, MC_MIN_POSITION, MC_MAX_POSITION);
  return xn === MC_MIN_POSITION && vc < 0;
}

const NATIVE_PARAMS = Float64Array.of(MC_MIN_POSITION, MC_MAX_POSITION, MC_MAX_SPEED, MC_FORCE, MC_GRAVITY);

let cosAgrees: boolean | undefined;

/**
 * Whether the addon's cosine is this engine's Math.cos, checked once per thread: the
 * addon carries the algorithm of Node 20's V8, and an engine that computes Math.cos
 * another way (glibc's differs in the last bit for ~3% of arguments) keeps the
 * TypeScript step rather than trajectories that part from it.
 */
function nativeCosAgrees(native: FastCpuAddon): boolean {
  if (cosAgrees === undefined) {
    const n = 4096;
    const x = new Float64Array(n);
    // 3x over the track, then next to multiples of π/2, where the reductions differ most.
    for (let i = 0; i < n / 2; i++) x[i] = 3 * (MC_MIN_POSITION + ((MC_MAX_POSITION - MC_MIN_POSITION) * i) / (n / 2));
    for (let i = n / 2; i < n; i++) x[i] = ((i - n / 2) * Math.PI) / 2 + 1e-9 * (i % 7);
    const y = new Float64Array(n);
    native.jsCos(x, y);
    cosAgrees = x.every((v, i) => Object.is(Math.cos(v), y[i]));
  }
  return cosAgrees;
}

function step(states: Float64Array, actions: Int32Array, next: Float64Array, n: number): void {
  // The addon's step (envstep.c) gives these very states, Math.cos's last bit included;
  // it leaves to the loop below any batch it cannot take whole (a bad action, for one).
  const native = n >= NATIVE_STEP_MIN_BATCH ? nativeKernels() : undefined;
  if (native && nativeCosAgrees(native) && native.mountainCarStep(states, actions, next, n, NATIVE_PARAMS) < 0) return;
  for (let i = 0; i < n; i++) {
    const o = 2 * i;
    // Both inputs are read before either output is written, so `next` may alias `states`.
    const x = states[o];
    const v = states[o + 1];
    const a = actions[i];
    checkAction(a);
    let vn = v + (a - 1) * MC_FORCE - Math.cos(3 * x) * MC_GRAVITY;
    vn = vn < -MC_MAX_SPEED ? -MC_MAX_SPEED : vn > MC_MAX_SPEED ? MC_MAX_SPEED : vn;
    let xn = x + vn;
    xn = xn < MC_MIN_POSITION ? MC_MIN_POSITION : xn > MC_MAX_POSITION ? MC_MAX_POSITION : xn;
    if (xn === MC_MIN_POSITION && vn < 0) vn = 0;
    next[o] = xn;
    next[o + 1] = vn;
  }
}

function reset(rng: Rng, out: Float64Array, n: number): void {
  const width = MC_RESET_HIGH - MC_RESET_LOW;
  for (let i = 0; i < n; i++) {
    out[2 * i] = MC_RESET_LOW + width * rng.next();
    out[2 * i + 1] = 0;
  }
}

function observe(states: Float64Array, out: Float64Array, n: number): void {
  // The observation is the state itself.
  if (out === states) return;
  for (let k = 0; k < 2 * n; k++) out[k] = states[k];
}

export const mountainCar: ContinuousEnv = {
  name: 'mountaincar',
  stateDim: 2,
  obsDim: 2,
  nActions: 3,
  stateLabels: ['position', 'velocity'],
  obsLabels: ['position', 'velocity'],
  angleDims: [],
  maxSteps: MC_MAX_STEPS,
  // The reference's STATE_RANGES: the whole reachable box, used for the P-learning fit,
  // the WM metrics and the 200² value-iteration grid.
  uniformLow: Float64Array.of(MC_MIN_POSITION, -MC_MAX_SPEED),
  uniformHigh: Float64Array.of(MC_MAX_POSITION, MC_MAX_SPEED),
  step,
  reset,
  observe,
};
