// The MLP of mlp.ts run straight on the fast CPU addon's kernels, outside the
// TF.js engine: sgemm with its bias and activation epilogue, the fused
// LayerNorm(+ReLU) and its gradient, column sums — over buffers allocated once
// per network shape and batch size. A profile of PQN's TD step at 3×256 showed
// 118 kernel dispatches, a third of the step outside any kernel (tape, tensor
// bookkeeping, gradient tensors allocated per step, clones); at 4×1024 the time
// outside kernels was as large as the three weight-gradient products. Here a
// step is the kernels alone. Same kernels, same parameter layout: results equal
// the TF.js path up to float rounding (the order of a few sums).

import type { TF, Tensor, Tensor2D } from './backend.ts';
import type { FastCpuAddon } from './fast-cpu.ts';
import { backingArray, nativeStepsEnabled } from './fast-cpu.ts';
import type { MlpSpec } from './mlp.ts';
import { mlpForward as mlpForwardTf } from './mlp.ts';

export { nativeStepsEnabled } from './fast-cpu.ts';

const ACT_LINEAR = 0;
const ACT_RELU = 1;
const ACT_SIGMOID = 2;
const ACT_TANH = 3;
const REDUCE_SUM = 0;
/** fastcpu.c's binary ops taking an activation's output and the gradient w.r.t. it; operands full (mode 0). */
const BIN_TANH_GRAD = 7;
const BIN_RELU_GRAD = 8;
const BIN_SIGMOID_GRAD = 9;
const FULL = 0;
/** fused.ts's LayerNorm ε (mlp.ts passes none). */
const LN_EPSILON = 1e-5;

export class NativeMlp {
  /** Counts forward passes, so a gradient can tell whether the saved activations are still its own. */
  generation = 0;
  private readonly widths: number[];
  /** Per hidden layer: the pre-norm product (LayerNorm layers), the activation, LayerNorm's mean and 1/σ. */
  private readonly z: Float32Array[];
  private readonly h: Float32Array[];
  private readonly mean: Float32Array[];
  private readonly rstd: Float32Array[];
  readonly out: Float32Array;
  /** Backward's buffers, made on its first call (a network only run forward never needs them). */
  private back?: {
    /** Gradients w.r.t. each layer's output, the scratch of the layer below, and w.r.t. the head's input. */
    dh: Float32Array[]; dz: Float32Array; dOutZ: Float32Array;
  };
  private grads?: Float32Array[];
  /** The loss's gradient w.r.t. the output, for callers to fill (n × outDim). */
  readonly dOut: Float32Array;

  constructor(private readonly native: FastCpuAddon, readonly spec: MlpSpec, readonly maxRows: number) {
    this.widths = [spec.inDim, ...spec.hidden, spec.outDim];
    const L = spec.hidden.length;
    const buf = (n: number) => new Float32Array(n);
    this.z = spec.hidden.map((w) => buf(spec.layerNorm ? maxRows * w : 0));
    this.h = spec.hidden.map((w) => buf(maxRows * w));
    this.mean = spec.hidden.map(() => buf(spec.layerNorm ? maxRows : 0));
    this.rstd = spec.hidden.map(() => buf(spec.layerNorm ? maxRows : 0));
    this.out = buf(maxRows * spec.outDim);
    this.dOut = buf(maxRows * spec.outDim);
    if (L === 0) throw new RangeError('NativeMlp: a network without hidden layers is not an MLP this path serves');
  }

  /** Parameter count in mlp.ts's order (w, b, then γ, β with LayerNorm, per hidden layer; the head's w, b). */
  get paramCount(): number { return this.spec.hidden.length * (this.spec.layerNorm ? 4 : 2) + 2; }

  /** Parameter gradient buffers in mlp.ts's order, made once. */
  paramGrads(): Float32Array[] {
    if (this.grads === undefined) {
      const { spec } = this;
      this.grads = [];
      for (let l = 0; l <= spec.hidden.length; l++) {
        const [k, w] = [this.widths[l], this.widths[l + 1]];
        this.grads.push(new Float32Array(k * w), new Float32Array(w));
        if (spec.layerNorm && l < spec.hidden.length) this.grads.push(new Float32Array(w), new Float32Array(w));
      }
    }
    return this.grads;
  }

  /** Output (n × outDim, at the front of `out`) for rows x (n × inDim). Keeps what backward needs. */
  forward(p: readonly Float32Array[], x: Float32Array, n: number): Float32Array {
    if (n > this.maxRows) throw new RangeError(`NativeMlp: ${n} rows exceed the ${this.maxRows} it was made for`);
    this.generation++;
    const { native, spec } = this;
    const relu = spec.activation === 'relu';
    let input = x;
    let i = 0;
    for (let l = 0; l < spec.hidden.length; l++) {
      const [k, w] = [this.widths[l], this.widths[l + 1]];
      if (spec.layerNorm) {
        native.gemm(false, false, 1, n, w, k, input, 0, p[i], 0, this.z[l], p[i + 1], ACT_LINEAR);
        native.layerNorm(this.z[l], p[i + 2], p[i + 3], this.h[l], this.mean[l], this.rstd[l], n, w, LN_EPSILON, relu);
        if (!relu) native.unary(2 /* Tanh */, this.h[l].subarray(0, n * w), this.h[l].subarray(0, n * w), 0);
        i += 4;
      } else {
        native.gemm(false, false, 1, n, w, k, input, 0, p[i], 0, this.h[l], p[i + 1], relu ? ACT_RELU : ACT_TANH);
        i += 2;
      }
      input = this.h[l];
    }
    const L = spec.hidden.length;
    native.gemm(false, false, 1, n, spec.outDim, this.widths[L], input, 0, p[i], 0, this.out, p[i + 1], spec.head === 'sigmoid' ? ACT_SIGMOID : ACT_LINEAR);
    return this.out;
  }

  /**
   * After forward on the same rows: with dOut the loss's gradient w.r.t. the
   * output (n × outDim), write the parameter gradients into `grads` (mlp.ts's
   * order; null skips them, for a frozen network) and, when `dx` is given, the
   * gradient w.r.t. the input rows.
   */
  backward(p: readonly Float32Array[], x: Float32Array, n: number, dOut: Float32Array, grads: Float32Array[] | null, dx: Float32Array | null,
    from = 0): void {
    const { native, spec } = this;
    // Rows [from, from + n) of the last forward pass (x: those rows of its input).
    const hOf = (l: number) => (from === 0 ? this.h[l] : this.h[l].subarray(from * this.widths[l + 1]));
    const zOf = (l: number) => (from === 0 ? this.z[l] : this.z[l].subarray(from * this.widths[l + 1]));
    const rowsOf = (a: Float32Array) => (from === 0 ? a : a.subarray(from));
    const out = from === 0 ? this.out : this.out.subarray(from * spec.outDim);
    const L = spec.hidden.length;
    const A = spec.outDim;
    const widest = Math.max(...spec.hidden);
    const back = this.back ??= {
      dh: [spec.inDim, ...spec.hidden].map((w) => new Float32Array(this.maxRows * w)), dz: new Float32Array(this.maxRows * widest),
      dOutZ: new Float32Array(this.maxRows * A),
    };
    const dZ = back.dOutZ;
    if (spec.head === 'sigmoid') {
      native.binary(BIN_SIGMOID_GRAD, out, FULL, dOut, FULL, dZ, n, A);
    } else {
      dZ.set(dOut.subarray(0, n * A));
    }
    let i = this.paramCount - 2;
    const below = (l: number) => (l === 0 ? x : hOf(l - 1));
    if (grads) {
      native.gemm(true, false, 1, this.widths[L], A, n, hOf(L - 1), 0, dZ, 0, grads[i], null, ACT_LINEAR);
      native.reduce(REDUCE_SUM, dZ.subarray(0, n * A), grads[i + 1], 1, n, A);
    }
    native.gemm(false, true, 1, n, this.widths[L], A, dZ, 0, p[i], 0, back.dh[L], null, ACT_LINEAR);
    for (let l = L - 1; l >= 0; l--) {
      const [k, w] = [this.widths[l], this.widths[l + 1]];
      const dh = back.dh[l + 1];
      const h = hOf(l);
      const dz = back.dz;
      i -= spec.layerNorm ? 4 : 2;
      if (spec.layerNorm) {
        if (spec.activation === 'tanh') native.binary(BIN_TANH_GRAD, h, FULL, dh, FULL, dh, n, w);
        const [dg, db] = grads ? [grads[i + 2], grads[i + 3]] : [null, null];
        native.layerNormGrad(dh, zOf(l), p[i + 2], rowsOf(this.mean[l]), rowsOf(this.rstd[l]), spec.activation === 'relu' ? h : null, dz, dg, db, n, w);
      } else {
        native.binary(spec.activation === 'relu' ? BIN_RELU_GRAD : BIN_TANH_GRAD, h, FULL, dh, FULL, dz, n, w);
      }
      if (grads) {
        native.gemm(true, false, 1, k, w, n, below(l), 0, dz, 0, grads[i], null, ACT_LINEAR);
        native.reduce(REDUCE_SUM, dz.subarray(0, n * w), grads[i + 1], 1, n, w);
      }
      if (l > 0 || dx) native.gemm(false, true, 1, n, k, w, dz, 0, p[i], 0, l > 0 ? back.dh[l] : dx!, null, ACT_LINEAR);
    }
  }
}

const cache = new Map<string, NativeMlp>();

/** One NativeMlp per network shape and row capacity, kept for the life of the thread (its buffers are reused). */
export function nativeMlp(native: FastCpuAddon, spec: MlpSpec, rows: number): NativeMlp {
  const key = `${JSON.stringify(spec)}|${rows}`;
  let m = cache.get(key);
  if (m === undefined) {
    m = new NativeMlp(native, spec, rows);
    // A few shapes per thread at most (a run's network, its evaluation chunks): keep the cache from growing without bound.
    if (cache.size >= 8) cache.delete(cache.keys().next().value as string);
    cache.set(key, m);
  }
  return m;
}

/** The float32 arrays behind `tensors` on the CPU backends, or undefined when any has none; `owned` as backingArray's (for writes). */
export function backingArrays(tf: TF, tensors: readonly Tensor[], owned = false): Float32Array[] | undefined {
  const out: Float32Array[] = [];
  for (const t of tensors) {
    const a = backingArray(tf, t, owned);
    if (a === undefined) return undefined;
    out.push(a);
  }
  return out;
}

/** Rows per forward-only pass: chunks of this many bound the buffers of a wide network (6×2048: 24 MB). */
export const FORWARD_ROWS = 256;

/** Forward only, in chunks, into out (n × outDim). */
export function nativeForward(native: FastCpuAddon, spec: MlpSpec, p: readonly Float32Array[], x: Float32Array, n: number, out: Float32Array): void {
  const net = nativeMlp(native, spec, FORWARD_ROWS);
  for (let s = 0; s < n; s += FORWARD_ROWS) {
    const m = Math.min(FORWARD_ROWS, n - s);
    const y = net.forward(p, x.subarray(s * spec.inDim, (s + m) * spec.inDim), m);
    out.set(y.subarray(0, m * spec.outDim), s * spec.outDim);
  }
}

/** Bytes of buffers a frozen network's differentiable pass may hold: beyond this the TF.js path runs instead. */
const FROZEN_BUFFER_BYTES = 512 * 1024 * 1024;

/**
 * A frozen network as one differentiable TF.js op on cpu-blas: the forward pass and
 * the gradient w.r.t. its input each run natively (weights never get a gradient).
 * One set of buffers per shape serves every caller; a gradient whose activations
 * another call has since overwritten runs its forward pass again first.
 * Undefined when the backend is not cpu-blas or the weights live elsewhere.
 */
export function frozenNativeOp(tf: TF, native: FastCpuAddon, spec: MlpSpec, params: readonly Tensor[]): ((x: Tensor2D) => Tensor2D) | undefined {
  if (!nativeStepsEnabled()) return undefined;
  const P = backingArrays(tf, params);
  if (P === undefined) return undefined;
  const A = spec.outDim;
  const k = spec.inDim;
  return (x: Tensor2D): Tensor2D => {
    const n = x.shape[0];
    const rowBytes = 4 * (2 * spec.hidden.reduce((a, b) => a + b, 0) + spec.inDim + spec.hidden.reduce((a, b) => a + b, 0) + 2 * A);
    if (n * rowBytes > FROZEN_BUFFER_BYTES) return mlpForwardTf(tf, spec, params, x);
    const op = tf.customGrad((...args: unknown[]) => {
      const input = args[0] as Tensor;
      const xs = Float32Array.from(input.dataSync() as Float32Array);
      const net = nativeMlp(native, spec, Math.max(n, FORWARD_ROWS));
      const out = net.forward(P, xs, n);
      const gen = net.generation;
      const value = tf.tensor2d(out.slice(0, n * A), [n, A]);
      return {
        value,
        gradFunc: (dy: Tensor) => {
          if (net.generation !== gen) net.forward(P, xs, n);
          const dx = new Float32Array(n * k);
          net.backward(P, xs, n, dy.dataSync() as Float32Array, null, dx);
          return tf.tensor2d(dx, [n, k]);
        },
      };
    });
    return op(x) as Tensor2D;
  };
}
