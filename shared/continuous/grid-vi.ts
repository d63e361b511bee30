// Value iteration on a grid with multilinear interpolation (as in the paper's evaluation): the oracle for
// the Q error (policy evaluation of the agent's greedy policy) and for unseen goals
// (optimal control under the true dynamics and under P̂). Every (cell, action) has one
// deterministic successor; its value is read by interpolating V at the successor, so
// a sweep is a fixed sparse linear map plus a max, and everything about the successor
// (where it lands, its reward and termination) is computed once, up front.
//
// Compact form, per (cell, action) pair, flat index cell·nActions + a:
//   base  Int32    lower corner of the successor's grid cell
//   frac  Float32  × dims, the successor's position inside that cell, unclamped
//   r     Float32  reward of the successor,   d  Uint8  its termination flag
// = 9 + 4·dims bytes (17 for MountainCar's 2-D grid, 25 for Reacher's 4-D one: 1.4 GB at
// 50⁴ × 9), where storing the 2^dims corner weights would take over 4 GB there; the sweep
// rebuilds the weights from frac for a few multiplies. Keeping frac unclamped means the exact
// successor can be rebuilt (retarget), so a new goal's rewards need no second pass
// through the dynamics, which may be an expensive learned model.

import { nativeKernels } from '../tensor/fast-cpu.ts';
import type { GridSpec, GridValues } from './grid.ts';
import {
  argmaxChannels, cellCount, cellOf, checkGrid, cornerOffsets,
  interpolateCell2, interpolateCell4, interpolateCellN, interpolateChannels, pointOf,
} from './grid.ts';

/** Batched dynamics, same shape as ContinuousEnv.step: the true env or a learned model. */
/** May answer asynchronously: a learned model on a GPU backend reads back only asynchronously in Node. */
export type Dynamics = (states: Float64Array, actions: Int32Array, next: Float64Array, n: number) => void | Promise<void>;

/**
 * Reward and termination of n successor states: rows of nextStates in grid coordinates,
 * as the dynamics returned them (periodic dims not wrapped, out-of-box ones not clamped).
 * r and d arrive zeroed, so a callback need only write the nonzero entries.
 */
export type RewardDone = (nextStates: Float64Array, n: number, r: Float64Array, d: Uint8Array) => void;

export interface Transitions {
  readonly grid: GridSpec;
  readonly nActions: number;
  readonly cells: number;
  readonly base: Int32Array;
  readonly frac: Float32Array;
  readonly r: Float32Array;
  readonly d: Uint8Array;
  /** Bytes held by the arrays above (shared ones included). */
  readonly bytes: number;
}

export interface PrecomputeOptions {
  rewardDone: RewardDone;
  /** States per dynamics call; bounds the temporaries. Default 65 536. */
  chunkSize?: number;
  /** Refuse (RangeError) when the estimate exceeds this. Default 1.5 GiB. */
  maxBytes?: number;
}

export const DEFAULT_CHUNK = 65_536;
export const DEFAULT_MAX_BYTES = 1.5 * 2 ** 30;

export function bytesPerPair(dims: number): number {
  return 9 + 4 * dims;
}

/** Bytes precomputeTransitions will hold at its peak: the compact form plus one chunk of temporaries. */
export function estimateTransitionBytes(grid: GridSpec, nActions: number, chunkSize = DEFAULT_CHUNK): number {
  const pairs = cellCount(grid) * nActions;
  const chunk = Math.min(chunkSize, pairs);
  return pairs * bytesPerPair(grid.dims) + chunk * (16 * grid.dims + 13);
}

function chunkFor(chunkSize: number | undefined, pairs: number): number {
  const c = chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(c) || c < 1) throw new RangeError(`chunkSize must be a positive integer, got ${c}`);
  return Math.min(c, pairs);
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Reward and termination of one chunk of m successors, stored from pair p0 on. */
function score(
  rewardDone: RewardDone, next: Float64Array, m: number, p0: number,
  rc: Float64Array, dc: Uint8Array, r: Float32Array, d: Uint8Array,
): void {
  rc.fill(0, 0, m);
  dc.fill(0, 0, m);
  rewardDone(next, m, rc, dc);
  for (let i = 0; i < m; i++) {
    r[p0 + i] = rc[i];
    d[p0 + i] = dc[i] !== 0 ? 1 : 0;
  }
}

export async function precomputeTransitions(grid: GridSpec, nActions: number, dynamics: Dynamics, opts: PrecomputeOptions): Promise<Transitions> {
  checkGrid(grid);
  if (!Number.isInteger(nActions) || nActions < 1) throw new RangeError(`nActions must be a positive integer, got ${nActions}`);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const cells = cellCount(grid);
  // Check before touching memory: a 200⁴ grid must fail here, not inside an allocation.
  const chunk = chunkFor(opts.chunkSize, cells * nActions);
  const estimate = estimateTransitionBytes(grid, nActions, chunk);
  if (estimate > maxBytes) {
    throw new RangeError(
      `grid ${Array.from(grid.size).join('×')} (${cells.toExponential(2)} cells) × ${nActions} actions needs about ` +
        `${estimate.toExponential(2)} bytes (${gib(estimate)}) of precomputed transitions, above maxBytes ` +
        `${maxBytes.toExponential(2)} (${gib(maxBytes)}); use a coarser grid or raise maxBytes`,
    );
  }
  if (cells > 0x7fffffff) throw new RangeError(`grid has ${cells} cells; flat indices must fit in int32`);

  const dims = grid.dims;
  const pairs = cells * nActions;
  const base = new Int32Array(pairs);
  const frac = new Float32Array(pairs * dims);
  const r = new Float32Array(pairs);
  const d = new Uint8Array(pairs);
  const states = new Float64Array(chunk * dims);
  const next = new Float64Array(chunk * dims);
  const actions = new Int32Array(chunk);
  const rc = new Float64Array(chunk);
  const dc = new Uint8Array(chunk);
  const point = new Float64Array(dims);
  const t = new Float64Array(dims);

  for (let p0 = 0; p0 < pairs; p0 += chunk) {
    const m = Math.min(chunk, pairs - p0);
    let lastCell = -1;
    for (let i = 0; i < m; i++) {
      const p = p0 + i;
      const a = p % nActions;
      const cell = (p - a) / nActions;
      if (cell !== lastCell) {
        pointOf(grid, cell, point);
        lastCell = cell;
      }
      for (let k = 0; k < dims; k++) states[i * dims + k] = point[k];
      actions[i] = a;
    }
    await dynamics(states, actions, next, m);
    score(opts.rewardDone, next, m, p0, rc, dc, r, d);
    for (let i = 0; i < m; i++) {
      const p = p0 + i;
      base[p] = cellOf(grid, next, i * dims, t);
      for (let k = 0; k < dims; k++) {
        // A NaN successor would surface as −∞ after the max; a learned model's blow-up should be loud.
        if (!Number.isFinite(t[k])) {
          throw new RangeError(`dynamics gave a non-finite successor for cell ${Math.floor(p / nActions)}, action ${p % nActions}`);
        }
        frac[p * dims + k] = t[k];
      }
    }
  }
  return { grid, nActions, cells, base, frac, r, d, bytes: pairs * bytesPerPair(dims) };
}

/**
 * The same transitions under another reward/termination: successors are rebuilt from
 * (base, frac), which the new Transitions shares, and only r and d are recomputed.
 * Successors come back to float32 precision inside their cell (~1e-7 of a cell width).
 * Periodic dims come back wrapped to [low, high).
 */
export function retarget(trans: Transitions, rewardDone: RewardDone, opts: { chunkSize?: number } = {}): Transitions {
  const { grid, nActions, cells, base, frac } = trans;
  const { dims, low, high, size } = grid;
  const pairs = cells * nActions;
  const chunk = chunkFor(opts.chunkSize, pairs);
  const r = new Float32Array(pairs);
  const d = new Uint8Array(pairs);
  const next = new Float64Array(chunk * dims);
  const rc = new Float64Array(chunk);
  const dc = new Uint8Array(chunk);
  for (let p0 = 0; p0 < pairs; p0 += chunk) {
    const m = Math.min(chunk, pairs - p0);
    for (let i = 0; i < m; i++) {
      const p = p0 + i;
      let rest = base[p];
      for (let k = dims - 1; k >= 0; k--) {
        const n = size[k];
        const lower = rest % n;
        rest = (rest - lower) / n;
        next[i * dims + k] = low[k] + ((lower + frac[p * dims + k]) * (high[k] - low[k])) / (n - 1);
      }
    }
    score(rewardDone, next, m, p0, rc, dc, r, d);
  }
  return { ...trans, r, d };
}

export interface IterationOptions {
  /** Stop once max |ΔV| over a sweep falls below this. Default 1e-6. */
  tol?: number;
  /** Default 2000. */
  maxIters?: number;
  onProgress?: (iter: number, delta: number) => void;
}

export interface ViResult {
  /** cells × nActions, index cell·nActions + a: the backup of V. */
  Q: Float64Array;
  /** The last iterate (max_a Q differs from it by at most `delta`). */
  V: Float64Array;
  iters: number;
  /** max |ΔV| of the last sweep. */
  delta: number;
  converged: boolean;
}

/**
 * One Jacobi sweep: Vn[c] = max over the cell's actions (or its policy action) of
 * r + γ(1 − d)·V(successor), returning max |Vn − V|; with Q given, every backup is stored
 * too. One flat loop over local arrays, the kernel picked by dims per pair (a branch the
 * CPU predicts): a method call per pair ran 1.5× slower. off and w: see interpolateCellN.
 * When this thread loaded the fast CPU addon, its sweep runs instead: the same values
 * bit for bit, over the addon's threads (PLEARN_NATIVE_STEPS=off keeps this one).
 */
function sweep(
  tr: Transitions, gamma: number, off: Int32Array, w: Float64Array,
  V: Float64Array, Vn: Float64Array, policy: Int32Array | null, Q: Float64Array | null,
): number {
  const { base, frac, r, d, nActions, cells } = tr;
  const dims = tr.grid.dims;
  const native = nativeKernels();
  if (native) return native.viSweep(dims, nActions, base, frac, r, d, off, gamma, V, Vn, policy, Q);
  let delta = 0;
  for (let c = 0; c < cells; c++) {
    const all = policy === null || Q !== null;
    const a0 = all ? 0 : policy[c];
    const a1 = all ? nActions : a0 + 1;
    let best = -Infinity;
    for (let a = a0; a < a1; a++) {
      const p = c * nActions + a;
      let q = r[p];
      if (d[p] === 0) {
        const b = base[p];
        if (dims === 4) q += gamma * interpolateCell4(V, off, b, frac, 4 * p);
        else if (dims === 2) q += gamma * interpolateCell2(V, off, b, frac, 2 * p);
        else q += gamma * interpolateCellN(V, dims, off, b, frac, p * dims, w);
      }
      if (Q !== null) Q[p] = q;
      if (policy === null ? q > best : a === policy[c]) best = q;
    }
    Vn[c] = best;
    const diff = Math.abs(best - V[c]);
    if (diff > delta) delta = diff;
  }
  return delta;
}

/** Sweeps until max |ΔV| < tol; `policy` null means max over actions (optimal control). */
function iterate(trans: Transitions, gamma: number, policy: Int32Array | null, opts: IterationOptions): ViResult {
  if (!(gamma >= 0 && gamma <= 1)) throw new RangeError(`gamma must be in [0, 1], got ${gamma}`);
  const tol = opts.tol ?? 1e-6;
  const maxIters = opts.maxIters ?? 2000;
  const { cells, nActions, grid } = trans;
  const off = cornerOffsets(grid, new Int32Array(1 << grid.dims));
  const w = new Float64Array(1 << grid.dims);
  let V = new Float64Array(cells);
  let Vn = new Float64Array(cells);
  let delta = Infinity;
  let iters = 0;
  while (iters < maxIters) {
    delta = sweep(trans, gamma, off, w, V, Vn, policy, null);
    const tmp = V;
    V = Vn;
    Vn = tmp;
    iters++;
    opts.onProgress?.(iters, delta);
    if (delta < tol) break;
  }
  const Q = new Float64Array(cells * nActions);
  sweep(trans, gamma, off, w, V, Vn, policy, Q);
  return { Q, V, iters, delta, converged: delta < tol };
}

/**
 * n sweeps of optimal control from V, the result back in V (scratch: a second
 * array of its length). valueIteration's inner loop without its convergence
 * test or final Q: the unit the bench times against JAX.
 */
export function valueSweeps(trans: Transitions, gamma: number, V: Float64Array, scratch: Float64Array, n: number): void {
  const off = cornerOffsets(trans.grid, new Int32Array(1 << trans.grid.dims));
  const w = new Float64Array(1 << trans.grid.dims);
  let [a, b] = [V, scratch];
  for (let i = 0; i < n; i++) {
    sweep(trans, gamma, off, w, a, b, null, null);
    [a, b] = [b, a];
  }
  if (a !== V) V.set(a);
}

/** Optimal control: Q(s,a) = r(s') + γ(1 − d(s'))·max_a' Q(s',a'), V read by interpolation. */
export function valueIteration(trans: Transitions, gamma: number, opts: IterationOptions = {}): ViResult {
  return iterate(trans, gamma, null, opts);
}

/** Action per cell maximising Q (ties: the lowest action). */
export function greedyPolicy(Q: GridValues, nActions: number): Int32Array {
  const cells = Q.length / nActions;
  const pi = new Int32Array(cells);
  for (let c = 0; c < cells; c++) {
    let best = 0;
    for (let a = 1; a < nActions; a++) if (Q[c * nActions + a] > Q[c * nActions + best]) best = a;
    pi[c] = best;
  }
  return pi;
}

/**
 * Q^π of a fixed policy: an action per cell (Int32Array), or a cells × nActions Q table
 * whose greedy policy is evaluated (the agent's own Q, for the Q error).
 */
export function policyEvaluation(trans: Transitions, gamma: number, policy: Int32Array | GridValues, opts: IterationOptions = {}): ViResult {
  const { cells, nActions } = trans;
  let pi: Int32Array;
  if (policy instanceof Int32Array) {
    if (policy.length !== cells) throw new RangeError(`policy has ${policy.length} entries, grid has ${cells} cells`);
    for (let c = 0; c < cells; c++) {
      if (!(policy[c] >= 0 && policy[c] < nActions)) throw new RangeError(`policy[${c}] = ${policy[c]} is not an action in [0, ${nActions})`);
    }
    pi = policy;
  } else {
    if (policy.length !== cells * nActions) throw new RangeError(`Q has ${policy.length} entries, expected cells × nActions = ${cells * nActions}`);
    pi = greedyPolicy(policy, nActions);
  }
  return iterate(trans, gamma, pi, opts);
}

/** Interpolated Q(x, ·) into out[0..nActions). */
export function qAt(grid: GridSpec, Q: GridValues, nActions: number, x: ArrayLike<number>, out: Float64Array): Float64Array {
  return interpolateChannels(grid, Q, nActions, x, 0, out);
}

/** argmax_a of the interpolated Q at a continuous state (ties: the lowest action). */
export function greedyAction(grid: GridSpec, Q: GridValues, nActions: number, x: ArrayLike<number>): number {
  return argmaxChannels(grid, Q, nActions, x, 0);
}

/** greedyAction for n states (rows of states), for batched rollouts. */
export function greedyActions(grid: GridSpec, Q: GridValues, nActions: number, states: Float64Array, n: number, out: Int32Array): Int32Array {
  for (let i = 0; i < n; i++) out[i] = argmaxChannels(grid, Q, nActions, states, i * grid.dims);
  return out;
}
