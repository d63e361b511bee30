// Prints the WebGPU adapter plearn would train on, as one JSON line, and exits 0;
// or one line saying why there is none, and exits 1. run.sh calls it first: if
// Dawn finds no adapter, nothing after it could run on webgpu either.
//
//   node --import tsx deploy/gpu-check/adapter.ts [--hardware]
//
// --hardware: a software adapter (lavapipe) counts as none.

import { initBackend } from '../../shared/tensor/backend.ts';
import { loadWebGpu, vulkanDriverManifests } from '../../shared/tensor/webgpu.ts';

const hardware = process.argv.includes('--hardware');
try {
  const { tf, detail } = await initBackend('webgpu');
  const { adapter } = await loadWebGpu(tf, true);
  // The figures that size what plearn can bind and allocate, read from the device TF.js asked for.
  const device = (tf.backend() as unknown as { device?: { limits?: Record<string, number> } }).device;
  const limits = device?.limits;
  const pick = (k: string) => (limits && typeof limits[k] === 'number' ? limits[k] : null);
  process.stdout.write(JSON.stringify({
    adapter: detail, software: adapter.software, vendor: adapter.vendor, architecture: adapter.architecture,
    description: adapter.description, drivers: vulkanDriverManifests(),
    limits: {
      maxStorageBuffersPerShaderStage: pick('maxStorageBuffersPerShaderStage'),
      maxStorageBufferBindingSize: pick('maxStorageBufferBindingSize'),
      maxBufferSize: pick('maxBufferSize'),
    },
  }) + '\n');
  if (hardware && adapter.software) {
    process.stderr.write('adapter: only a software adapter: not a GPU\n');
    process.exitCode = 1;
  }
} catch (e) {
  process.stderr.write(`adapter: none: ${(e instanceof Error ? e.message : String(e)).split('\n', 1)[0]}\n`);
  process.exitCode = 1;
}
