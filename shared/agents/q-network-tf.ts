// The Q-network on a tensor backend: initial weights (the reference's inits),
// variables to and from QNetWeights, input rows [obs dims, goal dims], and the
// two views other modules need — a frozen QFunction for the P-learning fit and
// a batch evaluator over world states for the Q error.

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal } from '../envs/continuous-goals.ts';
import type { ObserveTf } from '../continuous/tf-goals.ts';
import type { QFunction } from '../plearning/neural.ts';
import { selectActions } from '../plearning/neural.ts';
import { orthogonalInit } from '../plearning/neural-model.ts';
import type { TF, Tensor, Tensor1D, Tensor2D, Variable } from '../tensor/backend.ts';
import { mlpForward } from '../tensor/mlp.ts';
import { activeFastCpu } from '../tensor/fast-cpu.ts';
import { backingArrays, frozenNativeOp, nativeForward, nativeStepsEnabled } from '../tensor/native-mlp.ts';
import type { Rng } from '../util/rng.ts';
import type { QNetSpec, QNetWeights } from './q-network.ts';
import { checkQNetWeights, qNetMlpSpec, qNetParamShapes } from './q-network.ts';

/** Hidden kernels orthogonal with gain √2, the head with gain 1, biases 0, LayerNorm scale 1 and shift 0. */
export function initQNet(spec: QNetSpec, rng: Rng): QNetWeights {
  const params = qNetParamShapes(spec).map(({ name, shape }) => {
    let data: Float32Array;
    if (name.endsWith('.kernel')) data = orthogonalInit(rng, shape[0], shape[1], name.startsWith('head') ? 1 : Math.SQRT2);
    else if (name.endsWith('norm.scale')) data = new Float32Array(shape[0]).fill(1);
    else data = new Float32Array(shape[0]);
    return { name, shape, data };
  });
  return { spec, params };
}

export function qNetTensors(tf: TF, w: QNetWeights, trainable: boolean): Variable[] {
  checkQNetWeights(w);
  // tidy: the tensor each variable is made from would otherwise stay allocated beside
  // it (a second copy of every network; found by the scaling benchmark's fit rows).
  // A copy of the data: the CPU backend keeps the array it is given, and once nothing
  // else holds it an update may write into it — into the caller's weights.
  return tf.tidy(() => w.params.map((p) => tf.variable(tf.tensor(p.data.slice(), [...p.shape], 'float32'), trainable)));
}

/** A copy of the current values of the network's variables (read back asynchronously: GPU backends have no sync read in Node). */
export async function qNetFromTensors(spec: QNetSpec, params: readonly Tensor[]): Promise<QNetWeights> {
  const shapes = qNetParamShapes(spec);
  const data = await Promise.all(shapes.map(async (_s, i) => Float32Array.from(await params[i].data() as Float32Array)));
  return { spec, params: shapes.map((s, i) => ({ name: s.name, shape: s.shape, data: data[i] })) };
}

/** Writes one input row: the network's obs dims of `obs[oOff..]`, then its goal dims of `target[tOff..]`. */
export function fillInputRow(spec: QNetSpec, obs: ArrayLike<number>, oOff: number, target: ArrayLike<number>, tOff: number, out: Float32Array, outOff: number): void {
  const norm = spec.inputNorm;
  const nObs = spec.obsDims.length;
  for (let j = 0; j < nObs + spec.goalDims.length; j++) {
    const x = j < nObs ? obs[oOff + spec.obsDims[j]] : target[tOff + spec.goalDims[j - nObs]];
    out[outOff + j] = norm ? (x - norm.shift[j]) * norm.scale[j] : x;
  }
}

export function qNetInputDim(spec: QNetSpec): number {
  return spec.obsDims.length + spec.goalDims.length;
}

/** Q-values for rows already laid out by fillInputRow (n × inDim): n × nActions, read back. */
export async function qValues(tf: TF, spec: QNetSpec, params: readonly Tensor[], rows: Float32Array, n: number): Promise<Float32Array> {
  const inDim = qNetInputDim(spec);
  const native = nativeStepsEnabled() ? activeFastCpu(tf) : undefined;
  const P = native && backingArrays(tf, params);
  if (native && P) {
    const out = new Float32Array(n * spec.nActions);
    nativeForward(native, qNetMlpSpec(spec), P, rows, n, out);
    return out;
  }
  const q = tf.tidy(() => mlpForward(tf, qNetMlpSpec(spec), params, tf.tensor2d(rows.subarray(0, n * inDim), [n, inDim])));
  try {
    return await q.data() as Float32Array;
  } finally {
    q.dispose();
  }
}

/**
 * The agent as P-learning sees it: Q(s', ·, g) for world states, computed by lifting
 * states to observations with TF ops (so the fit's gradient reaches ŝ') and feeding the
 * network the goal's target dims. Goal indices index `goals`.
 */
export function qNetworkQFunction(tf: TF, w: QNetWeights, goals: readonly ContinuousGoal[], observe: ObserveTf): QFunction {
  const spec = w.spec;
  const params = qNetTensors(tf, w, false);
  const mlp = qNetMlpSpec(spec);
  const goalRows = new Float32Array(goals.length * spec.goalDims.length);
  goals.forEach((g, i) => spec.goalDims.forEach((d, j) => { goalRows[i * spec.goalDims.length + j] = g.target[d]; }));
  const goalTable = tf.tensor2d(goalRows, [goals.length, spec.goalDims.length]);
  const obsIdx = tf.tensor1d(Int32Array.from(spec.obsDims), 'int32');
  const norm = spec.inputNorm;
  const shift = norm ? tf.tensor1d(Float32Array.from(norm.shift)) : undefined;
  const scale = norm ? tf.tensor1d(Float32Array.from(norm.scale)) : undefined;
  // On cpu-blas the network runs as one native op each way (the fit's time is mostly this network).
  const native = activeFastCpu(tf);
  const net = (native && frozenNativeOp(tf, native, mlp, params)) ?? ((x: Tensor2D) => mlpForward(tf, mlp, params, x));
  const forward = (states: Tensor2D, goalIdx: Tensor1D): Tensor2D => {
    const obs = tf.gather(observe(tf, states), obsIdx, 1);
    const g = tf.gather(goalTable, tf.cast(goalIdx, 'int32'));
    let x = tf.concat([obs, g], 1) as Tensor2D;
    if (shift && scale) x = tf.mul(tf.sub(x, shift), scale);
    return net(x);
  };
  return {
    nActions: spec.nActions,
    nGoals: goals.length,
    values: (_tf, next, goalIdx) => forward(next, goalIdx),
    targets: (_tf, states, actions, goalIdx) => selectActions(tf, forward(states, goalIdx), actions),
    native: { spec: mlp, params, obsDims: spec.obsDims, goalRows, ...(norm ? { inputNorm: norm } : {}) },
    dispose: () => {
      for (const p of params) p.dispose();
      goalTable.dispose();
      obsIdx.dispose();
      shift?.dispose();
      scale?.dispose();
    },
  };
}

/**
 * Q(s, ·, g) for world states (n × env.stateDim) and one goal, into out (n × nActions):
 * observations by the env's own observe, in chunks so huge grids stay within memory.
 */
export function qNetBatchQ(tf: TF, env: ContinuousEnv, w: QNetWeights, goals: readonly ContinuousGoal[], params: readonly Tensor[]):
  (states: Float64Array, n: number, goal: number, out: Float32Array) => Promise<void> {
  const spec = w.spec;
  const chunk = 16_384;
  const inDim = qNetInputDim(spec);
  const obs = new Float64Array(chunk * env.obsDim);
  const rows = new Float32Array(chunk * inDim);
  return async (states, n, goal, out) => {
    const target = goals[goal].target;
    for (let s = 0; s < n; s += chunk) {
      const m = Math.min(chunk, n - s);
      env.observe(states.subarray(s * env.stateDim, (s + m) * env.stateDim), obs, m);
      for (let i = 0; i < m; i++) fillInputRow(spec, obs, i * env.obsDim, target, 0, rows, i * inDim);
      out.set(await qValues(tf, spec, params, rows, m), s * spec.nActions);
    }
  };
}
