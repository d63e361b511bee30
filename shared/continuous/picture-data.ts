// The numbers behind the run pictures: a MountainCar quiver of next-state changes
// (true vs extracted model) and Reacher fingertip rollouts (true vs model, open
// loop). Pure: no I/O, no plotting, so the tests can check the data against the
// dynamics without parsing any picture.

import type { ContinuousEnv } from '../envs/continuous.ts';
import { REACHER_ACTION_TABLE, REACHER_N_ACTIONS } from '../envs/reacher.ts';
import type { Rng } from '../util/rng.ts';
import type { SyncPredict } from './wm-metrics.ts';

export interface MountainCarQuiver {
  /** Columns along x, rows along v. Point k = j·nx + i sits at (x[k], v[k]) = (column i, row j). */
  readonly nx: number;
  readonly nv: number;
  readonly action: number;
  readonly x: Float64Array;
  readonly v: Float64Array;
  readonly dxTrue: Float64Array;
  readonly dvTrue: Float64Array;
  readonly dxModel: Float64Array;
  readonly dvModel: Float64Array;
  /** Grid spacing along x and v (a cell's size, which the arrows are scaled to). */
  readonly cellX: number;
  readonly cellV: number;
}

/**
 * Next-state change s' − s of the true step and of `predict`, for one action, at the
 * centres of an nx × nv grid of cells tiling the env's uniform box. Centres rather than
 * edges: an arrow scaled to one cell then stays inside the box, and no point sits on
 * a clip bound where the float rounding of a model decides the wall rule.
 */
export function mountainCarQuiver(env: ContinuousEnv, predict: SyncPredict, action: number,
  nx: number, nv: number): MountainCarQuiver {
  if (env.stateDim !== 2) throw new RangeError(`mountainCarQuiver: ${env.name} has ${env.stateDim} state dims, not 2`);
  if (!(Number.isInteger(nx) && nx >= 1 && Number.isInteger(nv) && nv >= 1)) {
    throw new RangeError(`mountainCarQuiver: grid ${nx} × ${nv} is not a positive integer size`);
  }
  const x0 = env.uniformLow[0];
  const v0 = env.uniformLow[1];
  const cellX = (env.uniformHigh[0] - x0) / nx;
  const cellV = (env.uniformHigh[1] - v0) / nv;
  const n = nx * nv;
  const states = new Float64Array(2 * n);
  for (let j = 0; j < nv; j++) {
    for (let i = 0; i < nx; i++) {
      const k = j * nx + i;
      states[2 * k] = x0 + (i + 0.5) * cellX;
      states[2 * k + 1] = v0 + (j + 0.5) * cellV;
    }
  }
  const actions = new Int32Array(n).fill(action);
  const truth = new Float64Array(2 * n);
  const model = new Float64Array(2 * n);
  env.step(states, actions, truth, n);
  predict(states, actions, model, n);
  const x = new Float64Array(n);
  const v = new Float64Array(n);
  const dxTrue = new Float64Array(n);
  const dvTrue = new Float64Array(n);
  const dxModel = new Float64Array(n);
  const dvModel = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    x[k] = states[2 * k];
    v[k] = states[2 * k + 1];
    dxTrue[k] = truth[2 * k] - x[k];
    dvTrue[k] = truth[2 * k + 1] - v[k];
    dxModel[k] = model[2 * k] - x[k];
    dvModel[k] = model[2 * k + 1] - v[k];
  }
  return { nx, nv, action, x, v, dxTrue, dvTrue, dxModel, dvModel, cellX, cellV };
}

export interface ReacherRollouts {
  readonly nStarts: number;
  /** Steps per rollout; each path has T + 1 points, the start included. */
  readonly T: number;
  /** Fingertips, nStarts × (T + 1) × 2, [fp_x, fp_y] per point. */
  readonly trueTips: Float64Array;
  readonly modelTips: Float64Array;
}

function fingertipDims(env: ContinuousEnv): [number, number] {
  const fx = env.obsLabels.indexOf('fp_x');
  const fy = env.obsLabels.indexOf('fp_y');
  if (fx < 0 || fy < 0) throw new RangeError(`reacherRollouts: ${env.name} observes no fingertip (fp_x, fp_y)`);
  return [fx, fy];
}

/**
 * Roll the true system and the model side by side from the same starts (nStarts ×
 * stateDim) under the same actions (nStarts × T, row-major per rollout). The model
 * is fed its own predictions (open loop), so its error compounds as it would when
 * planning in it; the fingertip comes from env.observe of each state.
 */
export function reacherRollouts(env: ContinuousEnv, predict: SyncPredict, starts: Float64Array, nStarts: number,
  actions: Int32Array, T: number): ReacherRollouts {
  const D = env.stateDim;
  const O = env.obsDim;
  const [fx, fy] = fingertipDims(env);
  if (starts.length < nStarts * D) throw new RangeError(`reacherRollouts: ${starts.length} start values for ${nStarts} × ${D}`);
  if (actions.length < nStarts * T) throw new RangeError(`reacherRollouts: ${actions.length} actions for ${nStarts} × ${T}`);
  let truth = starts.slice(0, nStarts * D);
  let model = starts.slice(0, nStarts * D);
  let nextTruth = new Float64Array(nStarts * D);
  let nextModel = new Float64Array(nStarts * D);
  const obs = new Float64Array(nStarts * O);
  const act = new Int32Array(nStarts);
  const P = T + 1;
  const trueTips = new Float64Array(nStarts * P * 2);
  const modelTips = new Float64Array(nStarts * P * 2);
  const record = (states: Float64Array, tips: Float64Array, t: number) => {
    env.observe(states, obs, nStarts);
    for (let i = 0; i < nStarts; i++) {
      const o = (i * P + t) * 2;
      tips[o] = obs[i * O + fx];
      tips[o + 1] = obs[i * O + fy];
    }
  };
  record(truth, trueTips, 0);
  record(model, modelTips, 0);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < nStarts; i++) act[i] = actions[i * T + t];
    env.step(truth, act, nextTruth, nStarts);
    predict(model, act, nextModel, nStarts);
    [truth, nextTruth] = [nextTruth, truth];
    [model, nextModel] = [nextModel, model];
    record(truth, trueTips, t + 1);
    record(model, modelTips, t + 1);
  }
  return { nStarts, T, trueTips, modelTips };
}

/** Reacher actions that apply some torque: with a constant one the arm visibly swings. */
const TORQUE_ACTIONS: readonly number[] = Array.from({ length: REACHER_N_ACTIONS }, (_, a) => a)
  .filter((a) => REACHER_ACTION_TABLE[2 * a] !== 0 || REACHER_ACTION_TABLE[2 * a + 1] !== 0);

/**
 * Starts from env.reset and, per rollout, one non-zero torque held for all T steps:
 * under the zero action the arm only drifts at its reset speed, which makes a dull
 * picture, while a held torque swings it through a good part of a turn in 50 steps.
 */
export function reacherRolloutInputs(env: ContinuousEnv, rng: Rng, nStarts: number, T: number):
  { starts: Float64Array; actions: Int32Array } {
  if (env.nActions !== REACHER_N_ACTIONS) {
    throw new RangeError(`reacherRolloutInputs: ${env.name} has ${env.nActions} actions, not Reacher's ${REACHER_N_ACTIONS}`);
  }
  const starts = new Float64Array(nStarts * env.stateDim);
  env.reset(rng, starts, nStarts);
  const actions = new Int32Array(nStarts * T);
  for (let i = 0; i < nStarts; i++) {
    actions.fill(TORQUE_ACTIONS[rng.int(TORQUE_ACTIONS.length)], i * T, (i + 1) * T);
  }
  return { starts, actions };
}
