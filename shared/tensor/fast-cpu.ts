// The `cpu-blas` tensor backend: TensorFlow.js's own CPU backend (same data
// layout, same kernels for everything rare) with the kernels an MLP training
// step spends its time in replaced by native ones from our addon
// (shared/tensor/native/fastcpu.c): matrix products on OpenBLAS sgemm, and
// multi-threaded fused passes for elementwise ops, reductions, LayerNorm and
// the Adam update. TF.js stays the framework: models, autodiff and optimizers
// are unchanged; only kernel implementations are swapped, via registerKernel.
//
// Every native kernel checks that it was handed the case it implements
// (float32, a broadcast it understands, …) and otherwise calls the CPU
// backend's kernel, so results never depend on which path ran except for
// float rounding.
//
// Nothing here imports TensorFlow.js at module load: importing this file must
// stay free for commands that never touch a network.

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { KernelBackend, KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TF, Tensor } from './backend.ts';

export const FAST_CPU_BACKEND = 'cpu-blas';
/** Custom kernels (registered for `cpu-blas` only); fused.ts composes plain ops elsewhere. */
export const LAYER_NORM_KERNEL = 'PlearnLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'PlearnLayerNormGrad';

/** What the addon exports (fastcpu.c documents each). */
export interface FastCpuAddon {
  gemm(
    transA: boolean, transB: boolean, batch: number, m: number, n: number, k: number,
    a: Float32Array, strideA: number, b: Float32Array, strideB: number, c: Float32Array,
    bias: Float32Array | null, act: number,
  ): void;
  unary(op: number, x: Float32Array, y: Float32Array, alpha: number): void;
  binary(op: number, a: Float32Array, aMode: number, b: Float32Array, bMode: number, y: Float32Array, rows: number, cols: number): void;
  reduce(op: number, x: Float32Array, y: Float32Array, outer: number, r: number, inner: number): void;
  layerNorm(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array,
    rows: number, cols: number, eps: number, relu: boolean,
  ): void;
  layerNormGrad(
    dy: Float32Array, x: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array, y: Float32Array | null,
    /** Null for both when only dx is wanted (a frozen network). */
    dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null, rows: number, cols: number,
  ): void;
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    lr: number, beta1: number, beta2: number, eps: number, bc1: number, bc2: number): void;
  /** radam.ts's step in place, each gradient scaled by gscale first (a global-norm clip). */
  radam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, gscale: number,
    beta1: number, beta2: number, eps: number, rectified: boolean, stepScale: number, invBc2: number): void;
  /** Σ x² in double precision. */
  sumsq(x: Float32Array): number;
  setThreads(n: number): number;
  info(): { threads: number; blasThreads: number; blasCore: string; blasConfig: string };
  /** One sweep of grid value iteration (shared/continuous/grid-vi.ts's, bit for bit) over the pool; returns max |Vn − V|. */
  viSweep(dims: number, nActions: number, base: Int32Array, frac: Float32Array, r: Float32Array, d: Uint8Array, off: Int32Array, gamma: number,
    V: Float64Array, Vn: Float64Array, policy: Int32Array | null, Q: Float64Array | null): number;
  /**
   * The continuous worlds' batched steps (shared/envs, bit for bit): −1 once `next` holds
   * the n successors, else the index of an element left to the TypeScript step, with
   * nothing written. `params`: MountainCar's [min x, max x, max speed, force, gravity].
   */
  mountainCarStep(states: Float64Array, actions: Int32Array, next: Float64Array, n: number, params: Float64Array): number;
  /** As mountainCarStep; `table` is the action table (nActions × 2 torques), k = dt·torque scale. */
  reacherStep(states: Float64Array, actions: Int32Array, next: Float64Array, n: number, table: Float64Array, k: number, dt: number): number;
  /** y = Math.cos(x) elementwise, by the steps' own cosine (NaN past |x| ≈ 8·10⁵): its test's handle. */
  jsCos(x: Float64Array, y: Float64Array): void;
}

// Op codes: the enums of fastcpu.c.
const ACT = { linear: 0, relu: 1, sigmoid: 2, tanh: 3 } as const;
const UNARY: Readonly<Record<string, number>> = {
  Relu: 0, Sigmoid: 1, Tanh: 2, Square: 3, Sqrt: 4, Rsqrt: 5, Abs: 6, Neg: 7,
  Exp: 8, Log: 9, Step: 10, Sign: 11, Reciprocal: 12,
};
const BINARY: Readonly<Record<string, number>> = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6,
};
const REDUCE: Readonly<Record<string, number>> = { Sum: 0, Mean: 1, Max: 2, Min: 3 };
const MODE = { full: 0, scalar: 1, row: 2, col: 3 } as const;

const ADDON_FUNCTIONS: readonly (keyof FastCpuAddon)[] = [
  'gemm', 'unary', 'binary', 'reduce', 'layerNorm', 'layerNormGrad', 'adam', 'radam', 'sumsq', 'setThreads', 'info', 'viSweep',
  'mountainCarStep', 'reacherStep', 'jsCos',
];

/** Where the install step puts the addon; PLEARN_FAST_CPU_ADDON overrides it (tests point it elsewhere). */
export function addonPath(): string {
  return process.env.PLEARN_FAST_CPU_ADDON || fileURLToPath(new URL('./native/build/fastcpu.node', import.meta.url));
}

/** Threads for OpenBLAS and the addon's pool: PLEARN_CPU_THREADS, else every core. */
export function defaultThreads(): number {
  const env = Number(process.env.PLEARN_CPU_THREADS);
  return Number.isInteger(env) && env >= 1 ? env : availableParallelism();
}

let addon: FastCpuAddon | undefined;

/**
 * Whether the native training steps and VI sweeps run (PLEARN_NATIVE_STEPS=off keeps
 * every step on TF.js's own autodiff over the same kernels, and VI's sweep in
 * TypeScript: the bench's before/after, and a way to rule these paths out when
 * something looks wrong).
 */
export const nativeStepsEnabled = (): boolean => process.env.PLEARN_NATIVE_STEPS !== 'off';

/** The addon when this thread has already loaded it (the cpu-blas backend did), else undefined: never loads it. */
export function loadedFastCpu(): FastCpuAddon | undefined {
  return addon;
}

/** The addon for VI sweeps and environment steps: loaded by this thread and not switched off. */
export function nativeKernels(): FastCpuAddon | undefined {
  return nativeStepsEnabled() ? addon : undefined;
}

/**
 * Load and smoke-test the addon. Throws one-line errors saying what to do;
 * the caller (backend.ts) turns them into its fallback warning.
 */
export function loadFastCpuAddon(): FastCpuAddon {
  if (addon) return addon;
  if (process.env.PLEARN_FAST_CPU === 'off') throw new Error('disabled by PLEARN_FAST_CPU=off');
  const path = addonPath();
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ENOENT') {
      throw new Error(`addon not built (${path} missing; needs a C compiler and libopenblas-dev: npm run fast-cpu)`);
    }
    throw new Error(`addon failed to load: ${(e instanceof Error ? e.message : String(e)).split('\n', 1)[0]}`);
  }
  const m = mod as Partial<Record<keyof FastCpuAddon, unknown>>;
  const missing = ADDON_FUNCTIONS.filter((f) => typeof m[f] !== 'function');
  if (missing.length > 0) throw new Error(`addon is out of date (no ${missing.join(', ')}); rebuild with node shared/tensor/native/build.mjs --force`);
  const loaded = mod as FastCpuAddon;
  // A broken BLAS (wrong alternative, bad CPU dispatch) must not silently train garbage.
  const a = Float32Array.of(1, 2, 3, 4, 5, 6);
  const b = Float32Array.of(1, 0, -1, 2, 0.5, 1);
  const c = new Float32Array(4);
  loaded.gemm(false, false, 1, 2, 2, 3, a, 0, b, 0, c, null, 0);
  const want = [1 + 2 * -1 + 3 * 0.5, 0 + 2 * 2 + 3 * 1, 4 + 5 * -1 + 6 * 0.5, 0 + 5 * 2 + 6 * 1];
  if (want.some((w, i) => Math.abs(c[i] - w) > 1e-5)) throw new Error(`addon sgemm self-test failed (${Array.from(c).join(', ')})`);
  loaded.setThreads(defaultThreads());
  addon = loaded;
  return loaded;
}

// Buffers below 64 KiB come cheaply from malloc; the pool holds at most
// 1 GiB of idle buffers (a 6×2048 training step cycles through ~200 MB).
const POOL_MIN_LENGTH = 16384;
const POOL_MAX_BYTES = 1 << 30;

type KernelArgs = { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap };
type KernelImpl = (args: KernelArgs) => TensorInfo | TensorInfo[];

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Register the `cpu-blas` backend and its kernels on this thread's TF.js.
 * Idempotent: a second call (another initBackend in the same thread) is a no-op.
 */
export async function registerFastCpu(tf: TF, native: FastCpuAddon): Promise<void> {
  if (tf.findBackendFactory(FAST_CPU_BACKEND) !== null) return;
  const { MathBackendCPU: Base } = await import('@tensorflow/tfjs-backend-cpu');

  /**
   * The CPU backend plus a free list of output buffers. A fresh multi-megabyte
   * Float32Array costs a page fault per 4 KiB on first touch (about 1 ms per
   * 2 MiB here, more than the kernel that fills it), and a training step
   * allocates the same sizes every time: buffers of disposed tensors are
   * reused instead. Safe because (a) only buffers our kernels allocated are
   * recycled, (b) readSync hands out copies of them, so no caller keeps a
   * view past the tensor's life, and (c) a buffer some kernel re-wraps under
   * another tensor (the CPU Slice kernel returns a subarray view of its
   * input) is never recycled.
   */
  class BlasBackend extends Base {
    private readonly free = new Map<number, Float32Array[]>();
    private freeBytes = 0;
    private readonly ours = new WeakSet<ArrayBuffer>();
    private readonly shared = new WeakSet<ArrayBuffer>();
    private readonly unwritten = new Set<Float32Array>();

    alloc(n: number): Float32Array {
      const reused = this.free.get(n)?.pop();
      if (reused) {
        this.freeBytes -= reused.byteLength;
        this.unwritten.add(reused);
        return reused;
      }
      const a = new Float32Array(n);
      if (n >= POOL_MIN_LENGTH) {
        this.ours.add(a.buffer);
        this.unwritten.add(a);
      }
      return a;
    }

    private pooled(values: unknown): values is Float32Array {
      return ArrayBuffer.isView(values) && this.ours.has(values.buffer as ArrayBuffer);
    }

    /** Every array a tensor is given goes through here: a pooled buffer seen twice is shared. */
    private claim(values: unknown): void {
      if (!this.pooled(values)) return;
      if (this.unwritten.delete(values)) return;
      this.shared.add(values.buffer as ArrayBuffer);
    }

    override write(values: Parameters<MathBackendCPU['write']>[0], shape: number[], dtype: Parameters<MathBackendCPU['write']>[2]) {
      this.claim(values);
      return super.write(values, shape, dtype);
    }

    override move(...args: Parameters<MathBackendCPU['move']>): void {
      this.claim(args[1]);
      super.move(...args);
    }

    override readSync(dataId: object) {
      const v = super.readSync(dataId);
      return this.pooled(v) ? v.slice() : v;
    }

    override disposeData(dataId: object, force = false): boolean {
      const entry = this.data.get(dataId);
      const released = super.disposeData(dataId, force);
      const v = entry?.values;
      if (released && entry !== undefined && !this.data.has(dataId) && this.pooled(v) && !this.shared.has(v.buffer as ArrayBuffer)
        && this.freeBytes + v.byteLength <= POOL_MAX_BYTES) {
        let list = this.free.get(v.length);
        if (!list) this.free.set(v.length, (list = []));
        list.push(v);
        this.freeBytes += v.byteLength;
      }
      return released;
    }

    override dispose(): void {
      this.free.clear();
      this.freeBytes = 0;
      super.dispose();
    }
  }

  const cpuKernel = (name: string): KernelImpl => {
    const k = tf.getKernel(name, 'cpu');
    if (!k) throw new Error(`TF.js CPU backend has no ${name} kernel`);
    return k.kernelFunc as unknown as KernelImpl;
  };
  const cpu = (backend: KernelBackend): MathBackendCPU => backend as MathBackendCPU;
  /** The float32 data of a tensor, or undefined (other dtype, complex, …): the caller then falls back. */
  const f32 = (backend: KernelBackend, t: TensorInfo | undefined): Float32Array | undefined => {
    if (t === undefined || t.dtype !== 'float32') return undefined;
    const v = cpu(backend).data.get(t.dataId)?.values;
    return v instanceof Float32Array ? v : undefined;
  };
  const output = (backend: KernelBackend, shape: number[], values: Float32Array): TensorInfo =>
    cpu(backend).makeTensorInfo(shape, 'float32', values);
  /** An output buffer; its contents are garbage, so kernels must write every element. */
  const alloc = (backend: KernelBackend, n: number): Float32Array =>
    backend instanceof BlasBackend ? backend.alloc(n) : new Float32Array(n);

  const overrides: KernelConfig[] = [];
  const override = (name: string, impl: (args: KernelArgs, fallback: KernelImpl) => TensorInfo | TensorInfo[] | undefined) => {
    const fallback = cpuKernel(name);
    const kernelFunc = (args: KernelArgs): TensorInfo | TensorInfo[] => impl(args, fallback) ?? fallback(args);
    overrides.push({ kernelName: name, backendName: FAST_CPU_BACKEND, kernelFunc: kernelFunc as unknown as KernelConfig['kernelFunc'] });
  };

  // --- matrix products -----------------------------------------------------
  const matMul = (args: KernelArgs, bias: TensorInfo | undefined, act: number): TensorInfo | undefined => {
    const { a, b } = args.inputs;
    const transposeA = args.attrs?.transposeA === true;
    const transposeB = args.attrs?.transposeB === true;
    const av = f32(args.backend, a);
    const bv = f32(args.backend, b);
    if (!a || !b || !av || !bv || a.shape.length < 2 || b.shape.length < 2) return undefined;
    const ar = a.shape.length;
    const br = b.shape.length;
    const M = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
    const K = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
    const Kb = transposeB ? b.shape[br - 1] : b.shape[br - 2];
    const N = transposeB ? b.shape[br - 2] : b.shape[br - 1];
    if (K !== Kb) return undefined; // the CPU kernel throws the proper error
    let outer: number[];
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    } catch {
      return undefined;
    }
    const batch = size(outer);
    const batchA = size(a.shape.slice(0, -2));
    const batchB = size(b.shape.slice(0, -2));
    // Either operand is one matrix per batch entry or one matrix for all.
    if (!((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1))) return undefined;
    let biasV: Float32Array | null = null;
    if (bias) {
      const bv2 = f32(args.backend, bias);
      // A bias along the last axis (shape […1, N]); anything else takes the CPU path.
      if (!bv2 || size(bias.shape) !== N || bias.shape.slice(0, -1).some((d) => d !== 1)) return undefined;
      biasV = bv2;
    }
    const out = alloc(args.backend, batch * M * N);
    native.gemm(transposeA, transposeB, batch, M, N, K, av, batchA === 1 ? 0 : M * K, bv, batchB === 1 ? 0 : K * N, out, biasV, act);
    return output(args.backend, [...outer, M, N], out);
  };
  override('BatchMatMul', (args) => matMul(args, undefined, ACT.linear));
  override('_FusedMatMul', (args) => {
    const activation = (args.attrs?.activation as string | undefined) ?? 'linear';
    if (!(activation in ACT) || args.inputs.preluActivationWeights) return undefined;
    return matMul(args, args.inputs.bias, ACT[activation as keyof typeof ACT]);
  });

  // --- elementwise -----------------------------------------------------------
  for (const [name, op] of Object.entries(UNARY)) {
    override(name, ({ inputs, backend, attrs }) => {
      const x = inputs.x;
      const xv = f32(backend, x);
      if (!x || !xv) return undefined;
      const out = alloc(backend, xv.length);
      native.unary(op, xv, out, name === 'Step' ? Number(attrs?.alpha ?? 0) : 0);
      return output(backend, x.shape.slice(), out);
    });
  }

  /**
   * How an operand of shape `s` is read against output shape `out` (same rank
   * after left-padding with 1s): in full, as one scalar, as a row repeated
   * down (leading dims 1, the rest equal) or as a column repeated across
   * (trailing dims 1); `split` is the axis where rows end and columns begin.
   */
  const operandMode = (s: readonly number[], out: readonly number[]): { mode: number; split: number } | undefined => {
    const padded = [...new Array<number>(out.length - s.length).fill(1), ...s];
    const n = size(padded);
    if (n === size(out)) return { mode: MODE.full, split: -1 };
    if (n === 1) return { mode: MODE.scalar, split: -1 };
    let lead = 0;
    while (lead < padded.length && padded[lead] === 1) lead++;
    if (padded.slice(lead).every((d, i) => d === out[lead + i])) return { mode: MODE.row, split: lead };
    let trail = padded.length;
    while (trail > 0 && padded[trail - 1] === 1) trail--;
    if (padded.slice(0, trail).every((d, i) => d === out[i])) return { mode: MODE.col, split: trail };
    return undefined;
  };

  for (const [name, op] of Object.entries(BINARY)) {
    override(name, ({ inputs, backend }) => {
      const { a, b } = inputs;
      const av = f32(backend, a);
      const bv = f32(backend, b);
      if (!a || !b || !av || !bv) return undefined;
      let out: number[];
      try {
        out = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      } catch {
        return undefined;
      }
      const total = size(out);
      if (total === 0) return undefined;
      const ma = operandMode(a.shape, out);
      const mb = operandMode(b.shape, out);
      if (!ma || !mb) return undefined;
      if (ma.split >= 0 && mb.split >= 0 && ma.split !== mb.split) return undefined;
      const split = Math.max(ma.split, mb.split);
      const rows = split < 0 ? 1 : size(out.slice(0, split));
      const cols = split < 0 ? total : size(out.slice(split));
      const y = alloc(backend, total);
      native.binary(op, av, ma.mode, bv, mb.mode, y, rows, cols);
      return output(backend, out, y);
    });
  }

  // Comparisons (a Max gradient compares every entry with the row maximum):
  // the same broadcast modes, in a JS loop; their bool outputs are small.
  const COMPARE: Readonly<Record<string, (a: number, b: number) => boolean>> = {
    Equal: (a, b) => a === b,
    NotEqual: (a, b) => a !== b,
    Greater: (a, b) => a > b,
    GreaterEqual: (a, b) => a >= b,
    Less: (a, b) => a < b,
    LessEqual: (a, b) => a <= b,
  };
  for (const [name, cmp] of Object.entries(COMPARE)) {
    override(name, ({ inputs, backend }) => {
      const { a, b } = inputs;
      const av = f32(backend, a);
      const bv = f32(backend, b);
      if (!a || !b || !av || !bv) return undefined;
      let out: number[];
      try {
        out = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      } catch {
        return undefined;
      }
      const total = size(out);
      const ma = operandMode(a.shape, out);
      const mb = operandMode(b.shape, out);
      if (total === 0 || !ma || !mb || (ma.split >= 0 && mb.split >= 0 && ma.split !== mb.split)) return undefined;
      const split = Math.max(ma.split, mb.split);
      const cols = split < 0 ? total : size(out.slice(split));
      const at = (mode: number, v: Float32Array, i: number, j: number): number =>
        mode === MODE.full ? v[i * cols + j] : mode === MODE.scalar ? v[0] : mode === MODE.row ? v[j] : v[i];
      const y = new Uint8Array(total);
      const rows = total / cols;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) y[i * cols + j] = cmp(at(ma.mode, av, i, j), at(mb.mode, bv, i, j)) ? 1 : 0;
      }
      return cpu(backend).makeTensorInfo(out, 'bool', y);
    });
  }

  // --- slices --------------------------------------------------------------------
  // The CPU backend walks a non-contiguous slice element by element through
  // index arithmetic (a column split of a 4096 × 6 matrix took 10 ms); here it
  // is a copy of contiguous runs. Outputs are always copies, never views.
  type Numeric = Float32Array | Int32Array | Uint8Array;
  const sliceValues = (backend: KernelBackend, x: TensorInfo, begin: readonly number[], sz: readonly number[]): TensorInfo | undefined => {
    if (x.dtype === 'string' || x.dtype === 'complex64') return undefined;
    const xv = cpu(backend).data.get(x.dataId)?.values;
    if (!(xv instanceof Float32Array || xv instanceof Int32Array || xv instanceof Uint8Array)) return undefined;
    const rank = x.shape.length;
    const n = size(sz);
    const out: Numeric = xv instanceof Float32Array ? alloc(backend, n) : xv instanceof Int32Array ? new Int32Array(n) : new Uint8Array(n);
    if (n > 0) {
      // Trailing axes taken whole merge into one run with the first partial axis above them.
      let inner = rank - 1;
      while (inner > 0 && begin[inner] === 0 && sz[inner] === x.shape[inner]) inner--;
      const strides = new Array<number>(rank);
      let st = 1;
      for (let d = rank - 1; d >= 0; d--) {
        strides[d] = st;
        st *= x.shape[d];
      }
      const run = rank === 0 ? 1 : sz[inner] * strides[inner];
      const runs = n / run;
      const idx = new Array<number>(Math.max(inner, 0)).fill(0);
      for (let r = 0, o = 0; r < runs; r++, o += run) {
        let off = rank === 0 ? 0 : begin[inner] * strides[inner];
        for (let d = 0; d < inner; d++) off += (begin[d] + idx[d]) * strides[d];
        if (run < 32) {
          for (let k = 0; k < run; k++) out[o + k] = xv[off + k];
        } else {
          out.set(xv.subarray(off, off + run), o);
        }
        for (let d = inner - 1; d >= 0; d--) {
          if (++idx[d] < sz[d]) break;
          idx[d] = 0;
        }
      }
    }
    return cpu(backend).makeTensorInfo(sz.slice(), x.dtype, out);
  };
  override('Slice', ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (!x) return undefined;
    const [begin, sz] = tf.slice_util.parseSliceParams(x, attrs?.begin as number[], attrs?.size as number[]);
    try {
      tf.slice_util.assertParamsValid(x, begin, sz);
    } catch {
      return undefined; // the CPU kernel throws the proper error
    }
    return sliceValues(backend, x, begin, sz);
  });
  override('SplitV', ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (!x || x.shape.length === 0) return undefined;
    const axis = tf.util.parseAxisParam(attrs?.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x, attrs?.numOrSizeSplits as number | number[], axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    const outs: TensorInfo[] = [];
    for (const part of sizes) {
      const sz = x.shape.slice();
      sz[axis] = part;
      const t = sliceValues(backend, x, begin, sz);
      if (!t) return undefined; // only the first can fail (dtype), before any output exists
      outs.push(t);
      begin[axis] += part;
    }
    return outs;
  });

  // --- reductions --------------------------------------------------------------
  for (const [name, op] of Object.entries(REDUCE)) {
    override(name, ({ inputs, backend, attrs }) => {
      const x = inputs.x;
      const xv = f32(backend, x);
      if (!x || !xv || xv.length === 0) return undefined;
      // Max names its axes `reductionIndices`; Sum, Mean and Min say `axis`; none means all.
      const axis = (name === 'Max' ? attrs?.reductionIndices : attrs?.axis) as number | number[] | undefined;
      const axes = [...new Set(tf.util.parseAxisParam(axis as number | number[], x.shape))].sort((p, q) => p - q);
      if (axes.length === 0 || axes.some((ax, i) => ax !== axes[0] + i)) return undefined;
      const first = axes[0];
      const last = axes[axes.length - 1];
      const outerN = size(x.shape.slice(0, first));
      const r = size(x.shape.slice(first, last + 1));
      const inner = size(x.shape.slice(last + 1));
      const shape = attrs?.keepDims === true
        ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
        : x.shape.filter((_, i) => i < first || i > last);
      const y = alloc(backend, outerN * inner);
      native.reduce(op, xv, y, outerN, r, inner);
      return output(backend, shape, y);
    });
  }

  // --- LayerNorm ----------------------------------------------------------------
  const layerNormKernel: KernelImpl = ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs;
    const xv = f32(backend, x);
    const gv = f32(backend, gamma);
    const bv = f32(backend, beta);
    if (!x || !xv || !gv || !bv || x.shape.length === 0) throw new Error(`${LAYER_NORM_KERNEL}: float32 x, gamma and beta required`);
    const cols = x.shape[x.shape.length - 1];
    const rows = cols === 0 ? 0 : xv.length / cols;
    if (gv.length !== cols || bv.length !== cols) throw new Error(`${LAYER_NORM_KERNEL}: gamma and beta must have ${cols} entries`);
    const y = alloc(backend, xv.length);
    const mean = alloc(backend, rows);
    const rstd = alloc(backend, rows);
    native.layerNorm(xv, gv, bv, y, mean, rstd, rows, cols, Number(attrs?.epsilon), attrs?.relu === true);
    return [output(backend, x.shape.slice(), y), output(backend, [rows], mean), output(backend, [rows], rstd)];
  };
  const layerNormGradKernel: KernelImpl = ({ inputs, backend, attrs }) => {
    const { dy, x, gamma, mean, rstd, y } = inputs;
    const [dyv, xv, gv, mv, rv] = [dy, x, gamma, mean, rstd].map((t) => f32(backend, t));
    if (!x || !gamma || !dyv || !xv || !gv || !mv || !rv) throw new Error(`${LAYER_NORM_GRAD_KERNEL}: float32 inputs required`);
    const relu = attrs?.relu === true;
    const yv = relu ? f32(backend, y) : undefined;
    if (relu && !yv) throw new Error(`${LAYER_NORM_GRAD_KERNEL}: the forward output is required with relu`);
    const cols = x.shape[x.shape.length - 1];
    const rows = xv.length / cols;
    const dx = alloc(backend, xv.length);
    const dgamma = alloc(backend, cols);
    const dbeta = alloc(backend, cols);
    native.layerNormGrad(dyv, xv, gv, mv, rv, yv ?? null, dx, dgamma, dbeta, rows, cols);
    return [output(backend, x.shape.slice(), dx), output(backend, gamma.shape.slice(), dgamma), output(backend, gamma.shape.slice(), dbeta)];
  };
  overrides.push(
    { kernelName: LAYER_NORM_KERNEL, backendName: FAST_CPU_BACKEND, kernelFunc: layerNormKernel as unknown as KernelConfig['kernelFunc'] },
    { kernelName: LAYER_NORM_GRAD_KERNEL, backendName: FAST_CPU_BACKEND, kernelFunc: layerNormGradKernel as unknown as KernelConfig['kernelFunc'] },
  );

  const replaced = new Set(overrides.map((k) => k.kernelName));
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (!replaced.has(k.kernelName)) tf.registerKernel({ ...k, backendName: FAST_CPU_BACKEND });
  }
  for (const k of overrides) tf.registerKernel(k);
  if (tf.getGradient(LAYER_NORM_KERNEL) === undefined) {
    tf.registerGradient({
      kernelName: LAYER_NORM_KERNEL,
      inputsToSave: ['x', 'gamma'],
      outputsToSave: [true, true, true],
      gradFunc: (dys, saved, attrs) => {
        const dy = Array.isArray(dys) ? dys[0] : dys;
        const [x, gamma, y, mean, rstd] = saved;
        const [dx, dgamma, dbeta] = tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x, gamma, mean, rstd, y }, {
          relu: attrs.relu === true,
        }) as Tensor[];
        return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
      },
    });
  }
  // Priority below `cpu`: only an explicit setBackend picks it.
  tf.registerBackend(FAST_CPU_BACKEND, () => new BlasBackend(), 0);
}

/** The addon, when the active backend of `tf` is `cpu-blas`. */
export function activeFastCpu(tf: TF): FastCpuAddon | undefined {
  return addon !== undefined && tf.getBackend() === FAST_CPU_BACKEND ? addon : undefined;
}

/**
 * The float32 array behind a tensor on the `cpu-blas` backend or the plain `cpu`
 * one it extends (both keep tensors the same way), for kernels and loops that
 * write in place (the optimizers). `owned` first gives the tensor a
 * private copy when its buffer is shared (TF.js shares buffers between a
 * variable and the tensor it was made or assigned from, and between clones),
 * so an in-place write never reaches another tensor.
 */
export function backingArray(tf: TF, t: Tensor, owned: boolean): Float32Array | undefined {
  const name = tf.getBackend();
  if ((name !== FAST_CPU_BACKEND && name !== 'cpu') || t.dtype !== 'float32') return undefined;
  const backend = tf.backend() as MathBackendCPU;
  const entry = backend.data.get(t.dataId);
  if (!entry || !(entry.values instanceof Float32Array)) return undefined;
  if (owned && backend.refCount(t.dataId) > 1) {
    if (!(t instanceof tf.Variable)) return undefined;
    const copy = tf.tensor(Float32Array.from(entry.values), t.shape, 'float32');
    t.assign(copy);
    copy.dispose();
    const mine = backend.data.get(t.dataId)?.values;
    return mine instanceof Float32Array ? mine : undefined;
  }
  return entry.values;
}

/** The backend line's description of the fast path. */
export function describeFastCpu(native: FastCpuAddon): string {
  const info = native.info();
  const version = /OpenBLAS\s+(\S+)/.exec(info.blasConfig)?.[1] ?? '';
  return `native kernels over OpenBLAS ${version} (${info.blasCore}, ${info.threads} threads) on the @tensorflow/tfjs CPU backend`;
}
