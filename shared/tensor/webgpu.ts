// The `webgpu` tensor backend: TensorFlow.js's WebGPU backend on Google's Dawn,
// which the npm package `webgpu` runs in Node (Vulkan on Linux). It is the GPU
// backend that installs anywhere: `@tensorflow/tfjs-node-gpu` needs libtensorflow
// for one CUDA version, downloaded at install time.
//
// Each thread that loads it gets its own Dawn instance, adapter and GPUDevice
// (globalThis is per isolate): piscina threads never share a device, so nothing
// needs locking; the driver schedules the devices' queues on the one GPU.
//
// What differs from the CPU backends: a value can only be read back with
// `await t.data()` (TF.js's synchronous read goes through OffscreenCanvas, which
// Node lacks), so every read-back in plearn is asynchronous; and the optimizers'
// in-place CPU paths are never taken (backingArray answers only for CPU tensors).

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import type { TF } from './backend.ts';

/** What the backend line says about the adapter, and whether it is a software one. */
export interface AdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** A CPU implementation (lavapipe, SwiftShader, WARP): fine for tests, never chosen by `auto`. */
  readonly software: boolean;
}

interface GpuAdapterLike {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
  readonly features: ReadonlySet<string>;
  readonly limits: Readonly<Record<string, number>>;
  requestDevice(descriptor: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<unknown>;
}
type WebGpuBackendClass = new (device: unknown, adapterInfo: unknown) => object;

/**
 * The device limits TF.js asks for, plus the storage buffers per shader stage:
 * the default of 8 is less than its AddN kernel binds for 8 inputs, and autodiff
 * sums the gradients of a tensor used many times with AddN.
 */
const RAISED_LIMITS = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize',
  'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'];

/** Replace the TF.js package's own factory with one that asks the device for the adapter's full limits. */
function registerWithRaisedLimits(tf: TF, gpu: GpuLike, Backend: WebGpuBackendClass): void {
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', async () => {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter === null) throw new Error('the WebGPU adapter went away');
    const requiredLimits: Record<string, number> = {};
    for (const k of RAISED_LIMITS) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
    const requiredFeatures = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    return new Backend(device, adapter.info) as ReturnType<Parameters<TF['registerBackend']>[1]>;
  }, 3);
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<GpuAdapterLike | null>;
}
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/**
 * The Vulkan driver manifests the loader would read (its own search order, Linux):
 * without one Dawn can only fail, after printing its own errors, so `auto`
 * does not even try on the many machines that have no GPU.
 */
export function vulkanDriverManifests(): string[] {
  const explicit = process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES;
  if (explicit) return explicit.split(':').filter((f) => f !== '' && existsSync(f));
  const dataDirs = (process.env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':');
  const dirs = [process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), '/etc/xdg', '/etc',
    process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), ...dataDirs].map((d) => join(d, 'vulkan', 'icd.d'));
  const found: string[] = [];
  for (const d of dirs) {
    try {
      for (const f of readdirSync(d)) if (f.endsWith('.json')) found.push(join(d, f));
    } catch {
      // an absent folder is the usual case
    }
  }
  return found;
}

/**
 * The kernel's GPU device nodes (NVIDIA's, and DRM render nodes for Mesa's
 * drivers): with none, the Vulkan loader finds no GPU and says so on stderr.
 */
export function gpuDeviceNodes(): string[] {
  const nodes: string[] = [];
  try {
    for (const f of readdirSync('/dev')) if (/^nvidia\d+$/.test(f)) nodes.push(`/dev/${f}`);
  } catch {
    // no /dev (not Linux)
  }
  try {
    for (const f of readdirSync('/dev/dri')) if (f.startsWith('renderD')) nodes.push(`/dev/dri/${f}`);
  } catch {
    // no DRM devices
  }
  return nodes;
}

/** Manifests of the software Vulkan drivers: Mesa's lavapipe, Google's SwiftShader. */
const SOFTWARE_DRIVER = /^(lvp|vk_swiftshader|swiftshader)/;

/**
 * Mesa's Vulkan drivers complain on every start without a private runtime folder:
 * give them one. Drivers read the real process environment, which a worker
 * thread's process.env (a copy) does not reach: call this on the main thread
 * before starting threads that may load the backend (the pool does).
 */
export function prepareGpuEnvironment(): void {
  if (process.env.XDG_RUNTIME_DIR && existsSync(process.env.XDG_RUNTIME_DIR)) return;
  const dir = join(tmpdir(), `plearn-xdg-${userInfo().uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

/** Dawn's start-up flags: PLEARN_WEBGPU_FLAGS, comma-separated (e.g. `backend=vulkan,adapter=NVIDIA`). */
function dawnFlags(): string[] {
  return (process.env.PLEARN_WEBGPU_FLAGS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function describeAdapter(a: AdapterInfo): string {
  const parts = [a.description || a.device, a.vendor && `vendor ${a.vendor}`, a.architecture && `architecture ${a.architecture}`].filter(Boolean);
  return `${parts.join(', ')}${a.software ? ' (software adapter)' : ''}`;
}

function adapterInfo(adapter: GpuAdapterLike): AdapterInfo {
  const i = adapter.info ?? {};
  const architecture = i.architecture ?? '';
  return {
    vendor: i.vendor ?? '',
    architecture,
    device: i.device ?? '',
    description: i.description ?? '',
    software: i.isFallbackAdapter === true || adapter.isFallbackAdapter === true || architecture === 'software',
  };
}

/** Make `navigator.gpu` exist on this thread: the TF.js backend looks for it when it is imported. */
function installNavigatorGpu(gpu: GpuLike): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    g.navigator = { gpu };
  } else if (g.navigator.gpu === undefined) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
}

let loaded: { tf: TF; adapter: AdapterInfo } | undefined;

interface GpuErrorEventLike { readonly error?: { readonly message?: string } }
interface DeviceLike { onuncapturederror: ((ev: GpuErrorEventLike) => void) | null }

/**
 * A WebGPU validation or out-of-memory error does not throw where it happens:
 * the command is dropped and every result read afterwards is garbage. Make the
 * first one end the thread with its message instead (a task fails, saying why).
 */
function failLoudlyOnGpuErrors(tf: TF): void {
  const device = (tf.backend() as unknown as { device?: DeviceLike }).device;
  if (!device) return;
  device.onuncapturederror = (ev) => {
    const message = (ev.error?.message ?? 'unknown error').split('\n', 1)[0];
    process.nextTick(() => { throw new Error(`webgpu: the GPU refused a command: ${message}`); });
  };
}

/**
 * Bring up WebGPU on this thread and make it TF.js's active backend. `allowSoftware`
 * is false for `auto`, which must never pick a CPU emulation of a GPU over the
 * real CPU paths. Throws one-line errors that say what is missing.
 */
export async function loadWebGpu(tfModule: TF, allowSoftware: boolean): Promise<{ tf: TF; adapter: AdapterInfo }> {
  if (loaded) {
    if (!allowSoftware && loaded.adapter.software) throw new Error(`only a software adapter (${describeAdapter(loaded.adapter)})`);
    if (!(await loaded.tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not initialise');
    return loaded;
  }
  if (!allowSoftware) {
    // `auto` never takes a CPU emulation of a GPU; on a machine with no GPU it
    // does not even start Dawn, whose Vulkan loader would print its failures.
    if (gpuDeviceNodes().length === 0) throw new Error('no GPU device (/dev/nvidia*, /dev/dri/renderD*)');
    if (!vulkanDriverManifests().some((f) => !SOFTWARE_DRIVER.test(basename(f)))) {
      throw new Error('no hardware Vulkan driver installed (no ICD manifest)');
    }
  }
  prepareGpuEnvironment();
  let dawn: DawnModule;
  try {
    // A string variable keeps the type-checker from resolving an optional native package.
    const specifier = 'webgpu';
    dawn = (await import(specifier)) as DawnModule;
  } catch (e) {
    throw new Error(`the webgpu package (Dawn) did not load: ${e instanceof Error ? e.message.split('\n', 1)[0] : String(e)}`);
  }
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = dawn.create(dawnFlags());
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    throw new Error('no WebGPU adapter (Dawn found no usable Vulkan device: a GPU driver with Vulkan, or a software Vulkan such as lavapipe, is needed)');
  }
  const info = adapterInfo(adapter);
  if (!allowSoftware && info.software) throw new Error(`only a software adapter (${describeAdapter(info)})`);
  installNavigatorGpu(gpu);
  const mod = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as { WebGPUBackend: WebGpuBackendClass };
  const tf = tfModule;
  registerWithRaisedLimits(tf, gpu, mod.WebGPUBackend);
  tf.enableProdMode();
  if (!(await tf.setBackend('webgpu'))) throw new Error('@tensorflow/tfjs-backend-webgpu loaded but did not initialise');
  await tf.ready();
  failLoudlyOnGpuErrors(tf);
  loaded = { tf, adapter: info };
  return loaded;
}
