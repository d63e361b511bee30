// The single place plearn chooses a tensor backend. Everything neural receives the
// `tf` namespace from here instead of importing TensorFlow.js itself, so that
// (a) commands that never touch a network never pay for loading TF, and
// (b) a native build (tfjs-node / tfjs-node-gpu, which bundle their own copy of
// tfjs-core) and the pure-JS build are interchangeable: ops must come from the
// namespace whose backend was registered, not from a second copy of the core.

import { isMainThread } from 'node:worker_threads';
import type * as tfjs from '@tensorflow/tfjs';

/** The TensorFlow.js namespace every neural module types against. */
export type TF = typeof tfjs;
export type { Tensor, Tensor1D, Tensor2D, Scalar, Variable } from '@tensorflow/tfjs';

/**
 * Backends, fastest first:
 * - `tensorflow-gpu`: `@tensorflow/tfjs-node-gpu` (libtensorflow with CUDA); optional, not a dependency.
 * - `webgpu`: `@tensorflow/tfjs-backend-webgpu` on Dawn (npm `webgpu`, Vulkan); `auto`
 *   takes it only on a hardware adapter (shared/tensor/webgpu.ts).
 * - `tensorflow`: `@tensorflow/tfjs-node` (libtensorflow on the CPU); optional, not a dependency.
 * - `cpu-blas`: the CPU backend with its hot kernels native (OpenBLAS sgemm, fused
 *   multi-threaded elementwise, LayerNorm and Adam kernels; shared/tensor/fast-cpu.ts),
 *   when the addon built at install time loads.
 * - `wasm`: `@tensorflow/tfjs-backend-wasm`.
 * - `cpu`: the pure-JS CPU backend of `@tensorflow/tfjs` (always available, float32).
 */
export type BackendName = 'tensorflow-gpu' | 'webgpu' | 'tensorflow' | 'cpu-blas' | 'cpu' | 'wasm';

export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'cpu-blas', 'cpu', 'wasm'];

export interface BackendHandle {
  readonly tf: TF;
  /** The name TF.js reports for the active backend (`tensorflow`, `cpu`, `wasm`). */
  readonly backend: string;
  /** One line for logs: what was loaded, and why anything preferred was skipped. */
  readonly detail: string;
}

// A GPU first; cpu-blas before WASM (tens of times faster on MLP training steps
// here), WASM before the plain CPU backend (~3× faster on the world-model MLP).
const AUTO_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'cpu-blas', 'wasm', 'cpu'];

/** Plain-JS module namespace: a CJS package imported from ESM exposes its exports on `default` too. */
function namespaceOf(mod: unknown): TF {
  const m = mod as { default?: unknown; tensor?: unknown };
  if (typeof m.tensor === 'function') return mod as TF;
  const d = m.default as { tensor?: unknown } | undefined;
  if (d !== undefined && typeof d.tensor === 'function') return d as TF;
  throw new Error('module does not look like a TensorFlow.js namespace');
}

// A string variable, not a literal: the native packages are optional, so the
// type-checker must not try to resolve them, and bundlers must not inline them.
async function importOptional(specifier: string): Promise<unknown> {
  return import(specifier);
}

function firstLine(e: unknown): string {
  // A package that is simply absent is the common case (no native bindings here): say so briefly.
  if (e instanceof Error && (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return 'not installed';
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n', 1)[0];
}

async function load(name: BackendName, auto: boolean): Promise<BackendHandle> {
  switch (name) {
    case 'webgpu': {
      const gpu = await import('./webgpu.ts');
      const { tf, adapter } = await gpu.loadWebGpu(namespaceOf(await import('@tensorflow/tfjs')), !auto);
      return { tf, backend: tf.getBackend(), detail: `webgpu: ${gpu.describeAdapter(adapter)} via Dawn (@tensorflow/tfjs-backend-webgpu)` };
    }
    case 'tensorflow-gpu':
    case 'tensorflow': {
      const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
      const tf = namespaceOf(await importOptional(pkg));
      // Both native packages register their backend under the name `tensorflow`.
      if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but its backend did not initialise`);
      await tf.ready();
      return { tf, backend: tf.getBackend(), detail: `${pkg} (${name})` };
    }
    case 'cpu-blas': {
      const fast = await import('./fast-cpu.ts');
      // The addon first: when it is missing, TF.js need not be loaded for nothing.
      const native = fast.loadFastCpuAddon();
      const tf = namespaceOf(await import('@tensorflow/tfjs'));
      tf.enableProdMode();
      await fast.registerFastCpu(tf, native);
      if (!(await tf.setBackend(fast.FAST_CPU_BACKEND))) throw new Error('the cpu-blas backend did not initialise');
      await tf.ready();
      return { tf, backend: tf.getBackend(), detail: `cpu-blas: ${fast.describeFastCpu(native)}` };
    }
    case 'cpu': {
      const tf = namespaceOf(await import('@tensorflow/tfjs'));
      // Production mode drops per-op debug checks and the CPU backend's
      // "install tfjs-node" banner, which would otherwise land on stderr of every run.
      tf.enableProdMode();
      if (!(await tf.setBackend('cpu'))) throw new Error('the @tensorflow/tfjs CPU backend did not initialise');
      await tf.ready();
      return { tf, backend: tf.getBackend(), detail: '@tensorflow/tfjs CPU backend (pure JS, float32)' };
    }
    case 'wasm': {
      const tf = namespaceOf(await import('@tensorflow/tfjs'));
      await importOptional('@tensorflow/tfjs-backend-wasm');
      tf.enableProdMode();
      if (!(await tf.setBackend('wasm'))) throw new Error('@tensorflow/tfjs-backend-wasm loaded but did not initialise');
      await tf.ready();
      return { tf, backend: tf.getBackend(), detail: '@tensorflow/tfjs-backend-wasm (wasm)' };
    }
  }
}

let warnedFastCpu = false;

/**
 * Whether `dataSync` works on the active backend. WebGPU reads back only
 * asynchronously in Node (its sync path needs OffscreenCanvas, which Node lacks):
 * code that must run there reads with `await t.data()`.
 */
export function readsBackSynchronously(tf: TF): boolean {
  return tf.getBackend() !== 'webgpu';
}

/** The one command that builds the fast CPU path (installing gcc and OpenBLAS first where it can). */
export const FAST_CPU_FIX = 'npm run fast-cpu';

/** The line a run prints, once, when the fast CPU path is missing: why, and the fix (once) unless it was turned off on purpose. */
export function slowCpuWarning(reason: string): string {
  const fix = process.env.PLEARN_FAST_CPU === 'off' || reason.includes(FAST_CPU_FIX) ? '' : `; to build it, run: ${FAST_CPU_FIX}`;
  return `plearn: warning: fast CPU path unavailable (${reason}); using a slower TensorFlow.js backend${fix}`;
}

/** Why the fast CPU path cannot load on this thread, or null when it can. */
export async function fastCpuUnavailable(): Promise<string | null> {
  try {
    (await import('./fast-cpu.ts')).loadFastCpuAddon();
    return null;
  } catch (e) {
    return firstLine(e);
  }
}

/**
 * Load TensorFlow.js and activate a backend.
 * `auto` (the default) tries tensorflow-gpu, then tensorflow, then cpu-blas, then wasm,
 * then cpu; each failure is noted in `detail` and the next is tried. When
 * cpu-blas is skipped, the main thread also says so once on stderr: it is the
 * backend a CPU machine is expected to get. A backend named explicitly that
 * cannot load is an error.
 */
export async function initBackend(requested: BackendName | 'auto' = 'auto'): Promise<BackendHandle> {
  if (requested !== 'auto' && !BACKEND_NAMES.includes(requested)) {
    throw new Error(`unknown tensor backend '${String(requested)}'; allowed: auto, ${BACKEND_NAMES.join(', ')}`);
  }
  if (requested !== 'auto') {
    try {
      return await load(requested, false);
    } catch (e) {
      throw new Error(
        `tensor backend '${requested}' could not be loaded: ${firstLine(e)}; allowed: auto, ${BACKEND_NAMES.join(', ')}`,
      );
    }
  }
  const skipped: string[] = [];
  for (const name of AUTO_ORDER) {
    try {
      const handle = await load(name, true);
      const note = skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : '';
      return { ...handle, detail: handle.detail + note };
    } catch (e) {
      skipped.push(`${name}: ${firstLine(e)}`);
      if (name === 'cpu-blas' && isMainThread && !warnedFastCpu) {
        warnedFastCpu = true;
        process.stderr.write(slowCpuWarning(firstLine(e)) + '\n');
      }
    }
  }
  throw new Error(`no tensor backend could be loaded (${skipped.join('; ')})`);
}
