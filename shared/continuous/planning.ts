// Planning on a grid for continuous worlds: the oracle agent (Q* of each training
// goal under the true dynamics) and the paper's unseen-goal evaluation: plan with
// the true dynamics (R*) and with the extracted model (R^WM), then roll both greedy
// policies out on the TRUE dynamics from reset states.

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal, RewardSpec, TaskSpec } from '../envs/continuous-goals.ts';
import { taskRewardDone } from '../envs/continuous-goals.ts';
import type { GridSpec } from './grid.ts';
import { makeGrid } from './grid.ts';
import type { Dynamics, RewardDone, Transitions } from './grid-vi.ts';
import { greedyActions, precomputeTransitions, retarget, valueIteration } from './grid-vi.ts';
import { Rng } from '../util/rng.ts';
import type { Stat } from '../util/validate.ts';
import { stat } from '../util/validate.ts';

export interface ViSettings { tol: number; maxIters: number }

/** The VI grid of an env at `points` per dim: its uniform box, angle dims periodic. */
export function envGrid(env: ContinuousEnv, points: number): GridSpec {
  const periodic = Array.from({ length: env.stateDim }, (_, d) => env.angleDims.includes(d));
  return makeGrid(env.uniformLow, env.uniformHigh, new Array(env.stateDim).fill(points), periodic);
}

/** Reward/termination of a task on dynamics states: map to observations, then score. */
export function taskRewardDoneFn(env: ContinuousEnv, task: TaskSpec): RewardDone {
  let obs = new Float64Array(0);
  return (next, n, r, d) => {
    if (obs.length < n * env.obsDim) obs = new Float64Array(n * env.obsDim);
    env.observe(next, obs, n);
    taskRewardDone(task, obs, n, r, d);
  };
}

export function goalTask(goal: ContinuousGoal, reward: RewardSpec, label = 'goal'): TaskSpec {
  return { label, goals: [goal], reward, forbidden: [] };
}

/** Successors of every grid point under `dynamics`, scored for a first task (retarget for others). */
export function gridTransitions(env: ContinuousEnv, grid: GridSpec, dynamics: Dynamics, first: TaskSpec): Promise<Transitions> {
  return precomputeTransitions(grid, env.nActions, dynamics, { rewardDone: taskRewardDoneFn(env, first) });
}

/** Q* per training goal on the grid (cells × nActions each, float32 for the fit). */
export async function oracleQTables(env: ContinuousEnv, grid: GridSpec, goals: readonly ContinuousGoal[], reward: RewardSpec,
  gamma: number, vi: ViSettings, onGoal?: (done: number, total: number) => void): Promise<{ tables: Float32Array[]; iters: number[] }> {
  const tasks = goals.map((g, i) => goalTask(g, reward, `goal ${i}`));
  let trans = await gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), tasks[0]);
  const tables: Float32Array[] = [];
  const iters: number[] = [];
  tasks.forEach((task, i) => {
    if (i > 0) trans = retarget(trans, taskRewardDoneFn(env, task));
    const res = valueIteration(trans, gamma, vi);
    tables.push(Float32Array.from(res.Q));
    iters.push(res.iters);
    onGoal?.(i + 1, tasks.length);
  });
  return { tables, iters };
}

export interface RolloutResult { mean: number; se: number; returns: Float64Array }

/**
 * Discounted returns of the greedy policy of Q (interpolated on the grid) on the true dynamics,
 * reference semantics: a forbidden state ends the episode with 0, a goal gives its reward and ends.
 */
export function rollout(env: ContinuousEnv, grid: GridSpec, Q: Float64Array | Float32Array, task: TaskSpec,
  starts: Float64Array, n: number, gamma: number): RolloutResult {
  const D = env.stateDim;
  const s = starts.slice(0, n * D);
  const next = new Float64Array(n * D);
  const obs = new Float64Array(n * env.obsDim);
  const actions = new Int32Array(n);
  const r = new Float64Array(n);
  const d = new Uint8Array(n);
  const done = new Uint8Array(n);
  const returns = new Float64Array(n);
  let discount = 1;
  for (let t = 0; t < env.maxSteps; t++) {
    greedyActions(grid, Q, env.nActions, s, n, actions);
    env.step(s, actions, next, n);
    env.observe(next, obs, n);
    taskRewardDone(task, obs, n, r, d);
    let alive = 0;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      returns[i] += discount * r[i];
      if (d[i]) done[i] = 1; else alive++;
    }
    s.set(next);
    discount *= gamma;
    if (alive === 0) break;
  }
  const st = stat(Array.from(returns));
  return { mean: st.mean, se: st.se, returns };
}

export interface UnseenEval { label: string; rStar: Stat; rWM: Stat; viItersTrue: number; viItersModel: number }

/** R* and R^WM of each task: plan on the grid with the true and with the model dynamics. */
export async function evaluateUnseen(env: ContinuousEnv, grid: GridSpec, model: Dynamics, tasks: readonly TaskSpec[],
  gamma: number, vi: ViSettings, nStarts: number, seed: number, onTask?: (done: number, total: number) => void): Promise<UnseenEval[]> {
  const starts = new Float64Array(nStarts * env.stateDim);
  env.reset(new Rng(seed), starts, nStarts);
  let tTrue = await gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), tasks[0]);
  let tModel = await gridTransitions(env, grid, model, tasks[0]);
  return tasks.map((task, i) => {
    if (i > 0) {
      tTrue = retarget(tTrue, taskRewardDoneFn(env, task));
      tModel = retarget(tModel, taskRewardDoneFn(env, task));
    }
    const star = valueIteration(tTrue, gamma, vi);
    const wm = valueIteration(tModel, gamma, vi);
    const a = rollout(env, grid, star.Q, task, starts, nStarts, gamma);
    const b = rollout(env, grid, wm.Q, task, starts, nStarts, gamma);
    onTask?.(i + 1, tasks.length);
    return {
      label: task.label,
      rStar: { mean: a.mean, se: a.se, n: nStarts },
      rWM: { mean: b.mean, se: b.se, n: nStarts },
      viItersTrue: star.iters,
      viItersModel: wm.iters,
    };
  });
}
