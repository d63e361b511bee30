// The neural world model of continuous P-learning: a residual successor map
// ŝ' = s + f_φ(s, a), f_φ an MLP over [s, one-hot(a)]. Two implementations of
// the same forward pass live here: a TF one (what the fit differentiates) and a
// plain float64 one on typed arrays (what evaluation and planning call, so they
// need no tensor backend at all).

import type { TF, Tensor, Tensor1D, Tensor2D } from '../tensor/backend.ts';
import type { Rng } from '../util/rng.ts';

export interface WorldModelSpec {
  readonly stateDim: number;
  readonly nActions: number;
  /** Hidden widths (reference: [256, 256]). */
  readonly hidden: readonly number[];
  readonly activation: 'tanh' | 'relu';
  /**
   * Gain of the orthogonal init of the last layer (reference: 0.01), so that f_φ
   * starts near 0 and the model near the identity map "nothing moves" — a
   * far better start than a random map, since real steps are small.
   */
  readonly outputInitScale: number;
  /** State dims that are angles: the prediction is wrapped to [−π, π) on them (Reacher θ₁, θ₂). */
  readonly angleDims: readonly number[];
  /**
   * Optional input normalisation: each state dim enters as 2(s − low)/(high − low) − 1.
   * The reference feeds raw states (no normalisation), so the default is none;
   * it matters for badly scaled boxes such as MountainCar's v ∈ [−0.07, 0.07].
   */
  readonly inputBox?: { readonly low: Float64Array; readonly high: Float64Array };
}

export const DEFAULT_MODEL: Omit<WorldModelSpec, 'stateDim' | 'nActions'> = {
  hidden: [256, 256],
  activation: 'tanh',
  outputInitScale: 0.01,
  angleDims: [],
};

/** One dense layer: y = x·w + b, w row-major inDim × outDim. */
export interface DenseWeights {
  readonly inDim: number;
  readonly outDim: number;
  readonly w: Float32Array;
  readonly b: Float32Array;
}

export interface WorldModelWeights {
  readonly spec: WorldModelSpec;
  readonly layers: readonly DenseWeights[];
}

export interface WorldModel extends WorldModelWeights {
  /**
   * Next states for a batch: `states` is n × stateDim row-major, n = actions.length.
   * Runs in float64 on the float32 weights; `out` may alias `states`.
   */
  predict(states: Float64Array, actions: Int32Array, out?: Float64Array): Float64Array;
}

function gaussian(rng: Rng): number {
  // Box–Muller; 1 − u keeps the log argument in (0, 1].
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * Orthogonal init as flax's `orthogonal(gain)`: a Haar-random matrix with
 * orthonormal columns (inDim ≥ outDim) or rows (inDim < outDim), times gain.
 * Modified Gram–Schmidt on a Gaussian matrix gives the Q of a QR with positive
 * diag(R), which is exactly the sign fix that makes Q Haar-distributed.
 */
export function orthogonalInit(rng: Rng, inDim: number, outDim: number, gain: number): Float32Array {
  const rows = Math.max(inDim, outDim);
  const cols = Math.min(inDim, outDim);
  const q = new Float64Array(rows * cols); // column-major: column j at [j*rows, (j+1)*rows)
  for (let i = 0; i < q.length; i++) q[i] = gaussian(rng);
  for (let j = 0; j < cols; j++) {
    const cj = j * rows;
    for (let k = 0; k < j; k++) {
      const ck = k * rows;
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += q[cj + i] * q[ck + i];
      for (let i = 0; i < rows; i++) q[cj + i] -= dot * q[ck + i];
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += q[cj + i] * q[cj + i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < rows; i++) q[cj + i] /= norm;
  }
  const w = new Float32Array(inDim * outDim);
  for (let r = 0; r < inDim; r++) {
    for (let c = 0; c < outDim; c++) {
      // Tall: W = Q. Wide: W = Qᵀ.
      w[r * outDim + c] = gain * (inDim >= outDim ? q[c * rows + r] : q[r * rows + c]);
    }
  }
  return w;
}

/** Hidden kernels use gain √2 and zero biases, as the reference does (for tanh too). */
export function initWorldModel(spec: WorldModelSpec, rng: Rng): WorldModel {
  const widths = [spec.stateDim + spec.nActions, ...spec.hidden, spec.stateDim];
  const layers: DenseWeights[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const last = l + 2 === widths.length;
    const inDim = widths[l];
    const outDim = widths[l + 1];
    const gain = last ? spec.outputInitScale : Math.SQRT2;
    layers.push({ inDim, outDim, w: orthogonalInit(rng, inDim, outDim, gain), b: new Float32Array(outDim) });
  }
  return makeWorldModel({ spec, layers });
}

const TWO_PI = 2 * Math.PI;

/** Attach the typed-array forward pass to a set of weights. */
export function makeWorldModel(weights: WorldModelWeights): WorldModel {
  const { spec, layers } = weights;
  const D = spec.stateDim;
  const maxWidth = Math.max(...layers.map((l) => Math.max(l.inDim, l.outDim)));
  const bufA = new Float64Array(maxWidth);
  const bufB = new Float64Array(maxWidth);
  const isAngle = new Uint8Array(D);
  for (const d of spec.angleDims) isAngle[d] = 1;
  const relu = spec.activation === 'relu';

  function predict(states: Float64Array, actions: Int32Array, out?: Float64Array): Float64Array {
    const n = actions.length;
    const res = out ?? new Float64Array(n * D);
    for (let i = 0; i < n; i++) {
      let x = bufA;
      let y = bufB;
      x.fill(0, 0, D + spec.nActions);
      for (let d = 0; d < D; d++) {
        const s = states[i * D + d];
        x[d] = spec.inputBox ? (2 * (s - spec.inputBox.low[d])) / (spec.inputBox.high[d] - spec.inputBox.low[d]) - 1 : s;
      }
      x[D + actions[i]] = 1;
      for (let l = 0; l < layers.length; l++) {
        const { inDim, outDim, w, b } = layers[l];
        for (let c = 0; c < outDim; c++) y[c] = b[c];
        for (let r = 0; r < inDim; r++) {
          const xr = x[r];
          if (xr === 0) continue;
          const row = r * outDim;
          for (let c = 0; c < outDim; c++) y[c] += xr * w[row + c];
        }
        if (l + 1 < layers.length) {
          for (let c = 0; c < outDim; c++) y[c] = relu ? Math.max(0, y[c]) : Math.tanh(y[c]);
        }
        const t = x;
        x = y;
        y = t;
      }
      for (let d = 0; d < D; d++) {
        const v = states[i * D + d] + x[d];
        res[i * D + d] = isAngle[d] ? v - TWO_PI * Math.floor((v + Math.PI) / TWO_PI) : v;
      }
    }
    return res;
  }
  return { spec, layers, predict };
}

/**
 * x with its gradient cut (jax's stop_gradient; TF.js has none). The custom-gradient
 * node takes a dummy input and reads x from the closure, and ops inside a
 * custom-gradient forward are not taped, so nothing downstream of the result is
 * on a backprop path: integer index arithmetic and comparisons (which have no
 * TF.js gradient) can then follow it freely.
 */
export function stopGradient<T extends Tensor>(tf: TF, x: T): T {
  const anchor = tf.scalar(0);
  return tf.customGrad(() => ({ value: x.clone(), gradFunc: () => tf.zerosLike(anchor) }))(anchor) as T;
}

/** The trainable tensors of a model, in layer order [w₀, b₀, w₁, b₁, …]. */
export function weightsToTensors(tf: TF, weights: WorldModelWeights): Tensor[] {
  const out: Tensor[] = [];
  for (const l of weights.layers) {
    out.push(tf.tensor2d(l.w, [l.inDim, l.outDim], 'float32'), tf.tensor1d(l.b, 'float32'));
  }
  return out;
}

/** Read trained tensors (same order as {@link weightsToTensors}) back into a model. */
export async function tensorsToWorldModel(spec: WorldModelSpec, params: readonly Tensor[]): Promise<WorldModel> {
  const layers: DenseWeights[] = [];
  for (let i = 0; i + 1 < params.length; i += 2) {
    const [inDim, outDim] = params[i].shape;
    layers.push({
      inDim,
      outDim,
      w: Float32Array.from(await params[i].data()),
      b: Float32Array.from(await params[i + 1].data()),
    });
  }
  return makeWorldModel({ spec, layers });
}

/** ŝ' = wrap(s + f_φ(s, a)) as TF ops, differentiable w.r.t. `params` (and `states`). */
export function forwardWorldModel(
  tf: TF,
  spec: WorldModelSpec,
  params: readonly Tensor[],
  states: Tensor2D,
  actions: Tensor1D,
): Tensor2D {
  const D = spec.stateDim;
  let input: Tensor2D = states;
  if (spec.inputBox) {
    const { low, high } = spec.inputBox;
    const scale = Float32Array.from(low, (lo, d) => 2 / (high[d] - lo));
    const shift = Float32Array.from(low, (lo, d) => -1 - (2 * lo) / (high[d] - lo));
    input = tf.add(tf.mul(states, tf.tensor1d(scale)), tf.tensor1d(shift)) as Tensor2D;
  }
  let x: Tensor2D = tf.concat([input, tf.oneHot(tf.cast(actions, 'int32'), spec.nActions).toFloat() as Tensor2D], 1);
  const nLayers = params.length / 2;
  for (let l = 0; l < nLayers; l++) {
    const z = tf.add(tf.matMul(x, params[2 * l] as Tensor2D), params[2 * l + 1]) as Tensor2D;
    x = l + 1 < nLayers ? (spec.activation === 'relu' ? tf.relu(z) : tf.tanh(z)) : z;
  }
  let next: Tensor2D = tf.add(states, x);
  if (spec.angleDims.length > 0) {
    // Subtracting 2π·floor(·) keeps ∂ŝ'/∂s = 1 (floor has zero gradient), like jnp's mod.
    const mask = new Float32Array(D);
    for (const d of spec.angleDims) mask[d] = 1;
    const turns = tf.floor(tf.div(tf.add(next, Math.PI), TWO_PI));
    next = tf.sub(next, tf.mul(tf.mul(turns, TWO_PI), tf.tensor1d(mask)));
  }
  return next;
}

/**
 * The model's batch predictor on a tensor backend: f_φ(s, a) in float32 there (a
 * native matmul instead of a JS loop: planning at Reacher's 21⁴ × 9 pairs went from
 * minutes to seconds), then s + f and the angle wrap in float64 as `predict` does.
 */
export function tensorPredictor(tf: TF, weights: WorldModelWeights, chunk = 65_536):
  (states: Float64Array, actions: Int32Array, next: Float64Array, n: number) => Promise<void> {
  const spec = weights.spec;
  const D = spec.stateDim;
  const params = weights.layers.map((l) => ({ w: l.w, b: l.b, inDim: l.inDim, outDim: l.outDim }));
  const isAngle = new Uint8Array(D);
  for (const d of spec.angleDims) isAngle[d] = 1;
  const rows = new Float32Array(chunk * D);
  return async (states, actions, next, n) => {
    for (let s0 = 0; s0 < n; s0 += chunk) {
      const m = Math.min(chunk, n - s0);
      for (let i = 0; i < m * D; i++) rows[i] = states[s0 * D + i];
      const out = tf.tidy(() => {
        const ps = params.flatMap((l) => [tf.tensor2d(l.w, [l.inDim, l.outDim]), tf.tensor1d(l.b)]);
        const x = tf.tensor2d(rows.subarray(0, m * D), [m, D]);
        const a = tf.tensor1d(actions.subarray(s0, s0 + m), 'int32');
        // The forward on zero states plus x gives f_φ(x, a) (+ x): subtract x back out in float64 below.
        return forwardWorldModel(tf, { ...spec, angleDims: [] }, ps, x, a);
      });
      let delta: Float32Array;
      try {
        delta = await out.data() as Float32Array;
      } finally {
        out.dispose();
      }
      for (let i = 0; i < m; i++) {
        for (let d = 0; d < D; d++) {
          const k = (s0 + i) * D + d;
          const v = states[k] + (delta[i * D + d] - rows[i * D + d]);
          next[k] = isAngle[d] ? v - TWO_PI * Math.floor((v + Math.PI) / TWO_PI) : v;
        }
      }
    }
  };
}
