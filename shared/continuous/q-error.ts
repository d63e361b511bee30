// SPEC §4's Q error: how far an agent's Q is from the true value Q^π of its own
// greedy policy, Q^π by policy evaluation on the VI grid (the same transition
// model the oracle's value iteration uses, so an oracle agent scores ~0).

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import type { GridSpec } from './grid.ts';
import { cellCount, pointOf } from './grid.ts';
import type { Transitions } from './grid-vi.ts';
import { policyEvaluation, retarget } from './grid-vi.ts';
import type { ViSettings } from './planning.ts';
import { goalTask, gridTransitions, taskRewardDoneFn } from './planning.ts';

/** The agent's Q at n world states (n × env.stateDim) for one of its goals, into out (n × nActions). */
export type BatchQ = (states: Float64Array, n: number, goal: number, out: Float32Array) => void;

export interface GoalQError { nmse: number; mse: number; varTrue: number; iters: number }
export interface QErrorResult {
  /** Mean over goals of each goal's NMSE. */
  nmse: number;
  mse: number;
  perGoal: GoalQError[];
}

/** The agent's Q at every grid node (cells × nActions, the grid's cell order). */
export function qOnGrid(grid: GridSpec, dims: number, nActions: number, q: BatchQ, goal: number): Float32Array {
  const cells = cellCount(grid);
  const out = new Float32Array(cells * nActions);
  const chunk = 65_536;
  const states = new Float64Array(chunk * dims);
  const point = new Float64Array(dims);
  const vals = new Float32Array(chunk * nActions);
  for (let c0 = 0; c0 < cells; c0 += chunk) {
    const m = Math.min(chunk, cells - c0);
    for (let i = 0; i < m; i++) states.set(pointOf(grid, c0 + i, point), i * dims);
    q(states, m, goal, vals);
    out.set(vals.subarray(0, m * nActions), c0 * nActions);
  }
  return out;
}

/**
 * Per goal: the agent's Q on the grid nodes, its greedy policy, Q^π of that policy by
 * policy evaluation on the true dynamics, and NMSE = mean over nodes and actions of
 * (Q − Q^π)² over the variance of Q^π on the same entries. The result averages goals.
 */
export function qNmse(env: ContinuousEnv, grid: GridSpec, goals: readonly ContinuousGoal[], reward: RewardSpec, gamma: number,
  q: BatchQ, vi: ViSettings, onProgress?: (done: number, total: number) => void): QErrorResult {
  const tasks = goals.map((g, i) => goalTask(g, reward, `goal ${i}`));
  let trans: Transitions | undefined;
  const perGoal: GoalQError[] = [];
  tasks.forEach((task, g) => {
    trans = trans === undefined
      ? gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), task)
      : retarget(trans, taskRewardDoneFn(env, task));
    const Q = qOnGrid(grid, env.stateDim, env.nActions, q, g);
    const pe = policyEvaluation(trans, gamma, Q, { tol: vi.tol, maxIters: vi.maxIters });
    let mean = 0;
    for (let i = 0; i < pe.Q.length; i++) mean += pe.Q[i];
    mean /= pe.Q.length;
    let se = 0;
    let vr = 0;
    for (let i = 0; i < pe.Q.length; i++) {
      const e = Q[i] - pe.Q[i];
      se += e * e;
      const c = pe.Q[i] - mean;
      vr += c * c;
    }
    const mse = se / pe.Q.length;
    const varTrue = vr / pe.Q.length;
    perGoal.push({ mse, varTrue, nmse: varTrue > 0 ? mse / varTrue : mse === 0 ? 0 : Infinity, iters: pe.iters });
    onProgress?.(g + 1, tasks.length);
  });
  const avg = (f: (x: GoalQError) => number) => perGoal.reduce((s, x) => s + f(x), 0) / perGoal.length;
  return { nmse: avg((x) => x.nmse), mse: avg((x) => x.mse), perGoal };
}
