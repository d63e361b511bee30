// Continuous (neural) P-learning: the Q-function contract the fit reads, an
// oracle Q-function interpolated from a grid of Q* values, and, re-exported,
// the world model (neural-model.ts) and the fit itself (neural-fit.ts).

import type { TF, Tensor1D, Tensor2D } from '../tensor/backend.ts';
import { stopGradient } from './neural-model.ts';
import type { NativeQNet } from './native-fit.ts';

export * from './neural-model.ts';
export * from './neural-fit.ts';

/**
 * A frozen goal-conditioned Q-function, as P-learning sees it. States are in the
 * world model's state space (Reacher: the 4-D (θ, ω)); an implementation that
 * reads observations lifts them itself, with TF ops so gradients survive.
 * Goals are indices 0 … nGoals − 1 into the agent's own goal list. Callers run
 * these inside `tf.tidy`; an implementation creates no tensors that outlive it
 * except its own state.
 */
export interface QFunction {
  readonly nActions: number;
  readonly nGoals: number;
  /**
   * Q(s', ·, g) for a batch of next states (B × stateDim) and goal indices (B, int32):
   * B × nActions, differentiable w.r.t. `nextStates` (the fit backpropagates through it).
   */
  values(tf: TF, nextStates: Tensor2D, goalIdx: Tensor1D): Tensor2D;
  /** Q(s, a, g) for the sampled batch (B): the regression targets, treated as constants. */
  targets(tf: TF, states: Tensor2D, actions: Tensor1D, goalIdx: Tensor1D): Tensor1D;
  /** Free tensors the Q-function holds (tables, weights). */
  dispose?(): void;
  /** plearn's own MLP, described for the fit's native step on cpu-blas (native-fit.ts). */
  readonly native?: NativeQNet;
}

/** Row-wise pick q[i, actions[i]]: the usual `targets` of a Q-function given its `values`. */
export function selectActions(tf: TF, q: Tensor2D, actions: Tensor1D): Tensor1D {
  const oneHot = tf.oneHot(tf.cast(actions, 'int32'), q.shape[1]).toFloat();
  return tf.sum(tf.mul(q, oneHot), 1) as Tensor1D;
}

/**
 * A regular grid over a box. Per dim d the nodes are linspace(low[d], high[d], size[d]),
 * both ends included, size[d] ≥ 2; cell index is row-major with the LAST dim varying fastest.
 *
 * Periodic dims (periodic[d] = 1): the period is high[d] − low[d], so the first
 * and last nodes are the SAME point (for θ ∈ [−π, π] with 50 nodes, node 0 = −π and
 * node 49 = π). A query is wrapped into [low, high) by u ← u − (n−1)·⌊u/(n−1)⌋ in node
 * units and then interpolated like any other dim; the last cell [node n−2, node n−1]
 * closes the circle using the duplicate node's own table value, so the interpolant is
 * continuous across the seam only when the table holds equal values at both ends.
 * Non-periodic dims clamp queries to [low, high]. (Same convention as shared/continuous/grid.ts.)
 */
export interface QGrid {
  readonly low: Float64Array;
  readonly high: Float64Array;
  readonly size: Int32Array;
  readonly periodic?: Uint8Array;
}

/**
 * Multilinear lookup on one grid: for query points (B × D), the flat cell index of
 * each of the 2^D corners of the enclosing cell (int32, B each) and its weight (B each).
 * The weights are products of fractional coordinates, the only path gradients take.
 */
function multilinear(tf: TF, grid: QGrid): (points: Tensor2D) => { corners: Tensor1D[]; weights: Tensor1D[] } {
  const D = grid.size.length;
  if (grid.low.length !== D || grid.high.length !== D) throw new Error('grid: low/high/size lengths differ');
  const step = new Float32Array(D);
  const nm1 = new Float32Array(D);
  const nm2 = new Float32Array(D);
  const periodic = new Float32Array(D);
  const stride = new Int32Array(D);
  let s = 1;
  for (let d = D - 1; d >= 0; d--) {
    const n = grid.size[d];
    if (!(n >= 2)) throw new Error(`grid: size[${d}] = ${n}, need ≥ 2`);
    if (!(grid.high[d] > grid.low[d])) throw new Error(`grid: empty range on dim ${d}`);
    step[d] = (grid.high[d] - grid.low[d]) / (n - 1);
    nm1[d] = n - 1;
    nm2[d] = n - 2;
    periodic[d] = grid.periodic?.[d] ? 1 : 0;
    stride[d] = s;
    s *= n;
  }
  const low32 = Float32Array.from(grid.low);
  return (points) => {
    const lowT = tf.tensor1d(low32);
    const stepT = tf.tensor1d(step);
    const nm1T = tf.tensor1d(nm1);
    // Continuous node coordinate u ∈ [0, n − 1] per dim.
    const raw = tf.div(tf.sub(points, lowT), stepT);
    const wrapped = tf.sub(raw, tf.mul(tf.floor(tf.div(raw, nm1T)), nm1T));
    const clamped = tf.minimum(tf.maximum(raw, 0), nm1T);
    const isPeriodic = tf.tensor1d(periodic).cast('bool').expandDims(0).tile([points.shape[0], 1]);
    const u = tf.where(isPeriodic, wrapped, clamped);
    // The upper end belongs to the last cell (frac = 1), so corner + 1 stays on the grid.
    // Detached: TF.js refuses to backprop into gather's int32 indices, so the corner
    // indices must not sit on a gradient path; frac = u − i0 carries all of ∂/∂state.
    const i0 = tf.minimum(tf.floor(stopGradient(tf, u)), tf.tensor1d(nm2));
    const frac = tf.sub(u, i0);
    const base = tf.sum(tf.mul(tf.cast(i0, 'int32'), tf.tensor1d(stride, 'int32')), 1) as Tensor1D;
    // Slices, not tf.unstack: unstack's gradient breaks when the axis has length 1.
    const fracs = Array.from({ length: D }, (_, d) => tf.reshape(tf.slice(frac, [0, d], [-1, 1]), [-1]) as Tensor1D);
    let weights: Tensor1D[] = [tf.onesLike(fracs[0])];
    let offsets: number[] = [0];
    for (let d = 0; d < D; d++) {
      const f = fracs[d];
      const g = tf.sub(1, f);
      weights = weights.flatMap((w) => [tf.mul(w, g) as Tensor1D, tf.mul(w, f) as Tensor1D]);
      offsets = offsets.flatMap((o) => [o, o + stride[d]]);
    }
    // Index arithmetic stays int32: float32 would lose exactness past 2^24 rows (50⁴ cells × 4 goals).
    const corners = offsets.map((o) => tf.add(base, tf.scalar(o, 'int32')) as Tensor1D);
    return { corners, weights };
  };
}

/**
 * Q-function of an oracle: Q*(·, ·, g) tabulated on `grid` (one table per goal,
 * cells × nActions, cell-major), read by N-D multilinear interpolation in TF ops.
 * The interpolant is continuous and piecewise multilinear, so its gradient w.r.t.
 * the query state exists almost everywhere and is what the fit backpropagates.
 */
export function oracleQFunction(tf: TF, grid: QGrid, qTables: readonly Float32Array[]): QFunction & { dispose(): void } {
  const cells = grid.size.reduce((a, n) => a * n, 1);
  const nGoals = qTables.length;
  if (nGoals === 0) throw new Error('oracleQFunction: no goal tables');
  const nActions = qTables[0].length / cells;
  if (!Number.isInteger(nActions) || nActions < 1) {
    throw new Error(`oracleQFunction: table length ${qTables[0].length} is not a multiple of ${cells} cells`);
  }
  const flat = new Float32Array(nGoals * cells * nActions);
  qTables.forEach((t, g) => {
    if (t.length !== cells * nActions) throw new Error(`oracleQFunction: table ${g} has length ${t.length}, want ${cells * nActions}`);
    flat.set(t, g * cells * nActions);
  });
  // Kept: the oracle may be built inside a caller's tidy and must outlive it.
  const table = tf.keep(tf.tensor2d(flat, [nGoals * cells, nActions]));
  const lookup = multilinear(tf, grid);

  // The namespace captured at construction owns `table`; the per-call `tf` is the same one.
  function values(_tf: TF, nextStates: Tensor2D, goalIdx: Tensor1D): Tensor2D {
    if (nextStates.rank !== 2 || nextStates.shape[1] !== grid.size.length) {
      throw new Error(`oracleQFunction: expected B × ${grid.size.length} states, got [${nextStates.shape.join(', ')}]`);
    }
    const { corners, weights } = lookup(nextStates);
    const B = nextStates.shape[0];
    const goalRow = tf.mul(tf.cast(goalIdx, 'int32'), tf.scalar(cells, 'int32'));
    // One gather for all corners: rows of corner c sit at [c·B, (c+1)·B).
    const rows = tf.gather(table, tf.add(tf.concat(corners), tf.tile(goalRow, [corners.length])));
    const w = tf.reshape(tf.concat(weights), [corners.length, B, 1]);
    return tf.sum(tf.mul(tf.reshape(rows, [corners.length, B, nActions]), w), 0) as Tensor2D;
  }

  return {
    nActions,
    nGoals,
    values,
    targets: (_tf, states, actions, goalIdx) => selectActions(tf, values(tf, states, goalIdx), actions),
    dispose: () => table.dispose(),
  };
}
