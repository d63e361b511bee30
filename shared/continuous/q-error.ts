// The Q error (as the paper evaluates agents): how far an agent's Q is from Q^π, the true value of the agent's
// OWN greedy policy π = argmax_a Q (not from Q*: an agent may act well and still
// misjudge its values, and this measures that Bellman self-consistency error). Q^π
// comes from policy evaluation on the VI grid with the true dynamics, through the
// same transition model the oracle's value iteration uses, so the oracle's own Q*
// scores ~0.
//
// What the reference (eval/value_iteration.py, run_all_goals) does, and we match:
// - states: every node of the VI grid (meshgrid "ij", both ends of every linspace,
//   so Reacher's θ = −π and θ = π duplicates both count), in world-state
//   coordinates; Reacher's 4-D grid is lifted to the 6-D observation for the goal
//   and for the agent;
// - π(node) = argmax over the agent's Q at that node, ties to the lowest action
//   (jnp.argmax); Q^π by Bellman sweeps from V = 0 until max |ΔV| < tol, then one
//   more backup for every action, Q^π(s, a) = r(s') + γ(1 − d(s'))·V^π(s');
// - per goal AND per action: MSE over nodes of Q_agent(·, a) − Q^π(·, a), and
//   NMSE = that MSE / Var over nodes of Q^π(·, a) (population variance); an action
//   whose Q^π varies by at most 1e-12 scores NMSE 0 (the reference's rule: we keep it
//   for comparability and count those cases in `degenerate` so they cannot hide);
// - headline Q NMSE (and MSE): mean over goals of the mean over actions, so each
//   (goal, action) pair weighs the same; over seeds the caller takes mean ± SE.
// The reference also reports V = max_a Q_agent against V^π; we return it beside.
// Pooled over actions (one variance for all of a goal's entries) is given as
// `pooledNmse`, a diagnostic the reference does not report.

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import type { GridSpec } from './grid.ts';
import { cellCount, pointOf } from './grid.ts';
import type { Transitions } from './grid-vi.ts';
import { DEFAULT_CHUNK, policyEvaluation, retarget } from './grid-vi.ts';
import type { ViSettings } from './planning.ts';
import { goalTask, gridTransitions, taskRewardDoneFn } from './planning.ts';

/**
 * The agent's Q at n world states (row-major n × env.stateDim) for its goal number
 * `goal` (an index into the goals handed to qNmse): writes n × nActions into out.
 */
/** May answer asynchronously: a GPU backend reads its results back only asynchronously in Node. */
export type BatchQ = (states: Float64Array, n: number, goal: number, out: Float32Array) => void | Promise<void>;

/** Below this a Q^π column counts as constant and its NMSE as 0 (the reference's threshold). */
export const DEGENERATE_VAR = 1e-12;

export interface ErrorStat {
  mse: number;
  /** Population variance of the true values the MSE is measured against. */
  varTrue: number;
  /** mse / varTrue, or 0 when varTrue ≤ DEGENERATE_VAR. */
  nmse: number;
}

export interface GoalQError {
  /** Mean over actions of perAction[a].nmse: the reference's per-goal Q NMSE. */
  nmse: number;
  /** Mean over actions (= over all node–action entries) of the squared error. */
  mse: number;
  /** Variance of Q^π over all node–action entries together. */
  varTrue: number;
  /** mse / varTrue: one variance for the whole table, not the reference's metric. */
  pooledNmse: number;
  perAction: ErrorStat[];
  /** V_agent = max_a Q_agent against V^π, over nodes. */
  v: ErrorStat;
  /** Actions whose Q^π was constant (varTrue ≤ DEGENERATE_VAR), scored NMSE 0. */
  degenerate: number;
  /** Policy-evaluation sweeps, and whether they met tol before maxIters. */
  iters: number;
  converged: boolean;
}

export interface QErrorResult {
  /** Mean over goals of GoalQError.nmse: the headline Q NMSE. */
  nmse: number;
  mse: number;
  v: { mse: number; nmse: number };
  /** Sum over goals of GoalQError.degenerate. */
  degenerate: number;
  perGoal: GoalQError[];
}

export interface QErrorOptions {
  /** Nodes per BatchQ call; bounds the agent's activations. Default 65 536. */
  chunk?: number;
  /**
   * The true dynamics' grid transitions, already built (any goal's rewards: each goal
   * is retargeted). Lets several agents share one precompute; built here when absent.
   */
  transitions?: Transitions;
}

/**
 * The agent's Q at every grid node, cells × nActions in the grid's flat order (the
 * layout policyEvaluation reads). Nodes go to q in chunks so a network never sees the
 * whole grid at once; a non-finite Q value throws, since argmax would silently treat it
 * as the lowest action.
 */
export async function qOnGrid(grid: GridSpec, nActions: number, q: BatchQ, goal: number,
  opts: { chunk?: number; out?: Float32Array } = {}): Promise<Float32Array> {
  const cells = cellCount(grid);
  const dims = grid.dims;
  const chunk = Math.min(opts.chunk ?? DEFAULT_CHUNK, cells);
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer, got ${opts.chunk}`);
  const out = opts.out ?? new Float32Array(cells * nActions);
  if (out.length !== cells * nActions) throw new RangeError(`out has ${out.length} entries, expected ${cells * nActions}`);
  const states = new Float64Array(chunk * dims);
  const point = new Float64Array(dims);
  for (let c0 = 0; c0 < cells; c0 += chunk) {
    const m = Math.min(chunk, cells - c0);
    for (let i = 0; i < m; i++) {
      pointOf(grid, c0 + i, point);
      for (let k = 0; k < dims; k++) states[i * dims + k] = point[k];
    }
    const p0 = c0 * nActions;
    // A view, not a copy: the agent writes straight into the table.
    await q(states, m, goal, out.subarray(p0, p0 + m * nActions));
    for (let p = p0; p < p0 + m * nActions; p++) {
      if (!Number.isFinite(out[p])) {
        throw new RangeError(`agent Q is ${out[p]} at node ${Math.floor(p / nActions)}, action ${p % nActions} (goal ${goal})`);
      }
    }
  }
  return out;
}

function errorStat(se: number, ss: number, n: number): ErrorStat {
  const mse = se / n;
  const varTrue = ss / n;
  return { mse, varTrue, nmse: varTrue > DEGENERATE_VAR ? mse / varTrue : 0 };
}

/**
 * Error statistics of one goal's agent table against Q^π and V^π (all in the grid's flat
 * order). Two passes (means, then centred sums) so a variance small beside the mean
 * (Q near 1 everywhere) does not cancel away.
 */
export function qErrorOfTables(agentQ: Float32Array | Float64Array, qPi: Float64Array, vPi: Float64Array, nActions: number):
  Omit<GoalQError, 'iters' | 'converged'> {
  const cells = vPi.length;
  if (agentQ.length !== cells * nActions || qPi.length !== cells * nActions) {
    throw new RangeError(`tables have ${agentQ.length} and ${qPi.length} entries, expected cells × nActions = ${cells * nActions}`);
  }
  const mean = new Float64Array(nActions);
  const ss = new Float64Array(nActions);
  const se = new Float64Array(nActions);
  let vMean = 0;
  for (let c = 0; c < cells; c++) {
    vMean += vPi[c];
    for (let a = 0; a < nActions; a++) mean[a] += qPi[c * nActions + a];
  }
  vMean /= cells;
  let pooledMean = 0;
  for (let a = 0; a < nActions; a++) {
    pooledMean += mean[a];
    mean[a] /= cells;
  }
  pooledMean /= cells * nActions;
  let pooledSs = 0;
  let vSe = 0;
  let vSs = 0;
  for (let c = 0; c < cells; c++) {
    let vAgent = -Infinity;
    for (let a = 0; a < nActions; a++) {
      const p = c * nActions + a;
      const t = qPi[p];
      const e = agentQ[p] - t;
      se[a] += e * e;
      const dc = t - mean[a];
      ss[a] += dc * dc;
      const dp = t - pooledMean;
      pooledSs += dp * dp;
      if (agentQ[p] > vAgent) vAgent = agentQ[p];
    }
    const ev = vAgent - vPi[c];
    vSe += ev * ev;
    const dv = vPi[c] - vMean;
    vSs += dv * dv;
  }
  const perAction: ErrorStat[] = [];
  let nmse = 0;
  let seAll = 0;
  let degenerate = 0;
  for (let a = 0; a < nActions; a++) {
    const s = errorStat(se[a], ss[a], cells);
    perAction.push(s);
    nmse += s.nmse;
    seAll += se[a];
    if (s.varTrue <= DEGENERATE_VAR) degenerate++;
  }
  const mse = seAll / (cells * nActions);
  const varTrue = pooledSs / (cells * nActions);
  return {
    nmse: nmse / nActions,
    mse,
    varTrue,
    pooledNmse: varTrue > DEGENERATE_VAR ? mse / varTrue : 0,
    perAction,
    v: errorStat(vSe, vSs, cells),
    degenerate,
  };
}

function sameGrid(a: GridSpec, b: GridSpec): boolean {
  if (a === b) return true;
  if (a.dims !== b.dims) return false;
  for (let d = 0; d < a.dims; d++) {
    if (a.size[d] !== b.size[d] || a.low[d] !== b.low[d] || a.high[d] !== b.high[d]) return false;
    if ((a.periodic?.[d] ?? 0) !== (b.periodic?.[d] ?? 0)) return false;
  }
  return true;
}

/**
 * Q error of an agent over its goals (goal i of `goals` is the agent's goal index i in
 * q). Per goal: the agent's Q at every grid node, its greedy policy, Q^π of that policy
 * under the true dynamics and the goal's reward and termination, then the statistics
 * above. onProgress counts finished goals.
 */
export async function qNmse(env: ContinuousEnv, grid: GridSpec, goals: readonly ContinuousGoal[], reward: RewardSpec, gamma: number,
  q: BatchQ, vi: ViSettings, onProgress?: (done: number, total: number) => void, opts: QErrorOptions = {}): Promise<QErrorResult> {
  if (goals.length === 0) throw new RangeError('qNmse: no goals');
  if (grid.dims !== env.stateDim) throw new RangeError(`grid has ${grid.dims} dims, ${env.name} states have ${env.stateDim}`);
  const given = opts.transitions;
  if (given !== undefined && (!sameGrid(given.grid, grid) || given.nActions !== env.nActions)) {
    throw new RangeError('qNmse: the given transitions were built on another grid or action set');
  }
  const nA = env.nActions;
  const tasks = goals.map((g, i) => goalTask(g, reward, `goal ${i}`));
  let trans: Transitions | undefined;
  // One buffer for every goal: at Reacher 50⁴ a table is 225 MB.
  const agentQ = new Float32Array(cellCount(grid) * nA);
  const perGoal: GoalQError[] = [];
  for (let g = 0; g < tasks.length; g++) {
    // Goal 0 built directly and later goals retargeted, exactly as oracleQTables does,
    // so the oracle's Q* meets bit-identical rewards here and scores ~0.
    const source = trans ?? given;
    trans = source === undefined
      ? await gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), tasks[g])
      : retarget(source, taskRewardDoneFn(env, tasks[g]));
    await qOnGrid(grid, nA, q, g, { chunk: opts.chunk, out: agentQ });
    const pe = policyEvaluation(trans, gamma, agentQ, { tol: vi.tol, maxIters: vi.maxIters });
    perGoal.push({ ...qErrorOfTables(agentQ, pe.Q, pe.V, nA), iters: pe.iters, converged: pe.converged });
    onProgress?.(g + 1, tasks.length);
  }
  const avg = (f: (x: GoalQError) => number): number => perGoal.reduce((s, x) => s + f(x), 0) / perGoal.length;
  return {
    nmse: avg((x) => x.nmse),
    mse: avg((x) => x.mse),
    v: { mse: avg((x) => x.v.mse), nmse: avg((x) => x.v.nmse) },
    degenerate: perGoal.reduce((s, x) => s + x.degenerate, 0),
    perGoal,
  };
}
