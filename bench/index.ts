// `npm run bench [-- <section>…] [--json]`: every section runs alone or together;
// --json prints one machine-readable object keyed by section.

import { benchTabular, formatTabular } from './tabular.ts';
import { benchContinuous, formatContinuous } from './continuous.ts';
import { benchCluster, formatCluster } from './cluster.ts';
import { benchTensor, formatTensor } from './tensor.ts';
import { benchGpu, formatGpu, GPU_VALUE_OPTIONS, jaxOptions } from './webgpu-steps.ts';
import { benchSweepWorkers, formatSweepWorkers } from './sweep-workers.ts';
import { benchScaling, formatScaling, SCALING_VALUE_OPTIONS } from './scaling/index.ts';

// A section's run may be async (the tensor section talks to a PyTorch process).
const SECTIONS: Record<string, { run: () => unknown; format: (r: never) => string }> = {
  tabular: { run: benchTabular, format: formatTabular as (r: never) => string },
  continuous: { run: benchContinuous, format: formatContinuous as (r: never) => string },
  cluster: { run: benchCluster, format: formatCluster as (r: never) => string },
  tensor: { run: benchTensor, format: formatTensor as (r: never) => string },
  // Only when named: its 6×2048 and batch-4096 rows take minutes without a GPU.
  gpu: { run: () => benchGpu(), format: formatGpu as (r: never) => string },
  // plearn's own steps against JAX on this CPU (2 threads each; jax_bench.py; skips in a line without JAX).
  jax: { run: () => benchGpu(jaxOptions(args)), format: formatGpu as (r: never) => string },
  // Only when named: two full sweeps on a local cluster (minutes).
  'sweep-workers': { run: benchSweepWorkers, format: formatSweepWorkers as (r: never) => string },
  // Only when named: a thousand simulated workers and real worker processes (a quarter of an hour).
  scaling: { run: () => benchScaling(), format: formatScaling as (r: never) => string },
};
const ON_REQUEST = new Set(['gpu', 'sweep-workers', 'scaling']);

const args = process.argv.slice(2);
const json = args.includes('--json');
const valueOptions = [...GPU_VALUE_OPTIONS, ...SCALING_VALUE_OPTIONS];
const wanted = args.filter((a, i) => !a.startsWith('--') && !valueOptions.includes(args[i - 1]));
const unknown = wanted.filter((w) => !(w in SECTIONS));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown section ${unknown.join(', ')}; available: ${Object.keys(SECTIONS).join(', ')}\n`);
  process.exit(2);
}
// BLAS tuning variables of this machine would favour one side of a comparison; drop them for the whole run.
delete process.env.OPENBLAS_CORETYPE;
delete process.env.OPENBLAS_L2_SIZE;

const out: Record<string, unknown> = {};
for (const name of wanted.length > 0 ? wanted : Object.keys(SECTIONS).filter((n) => !ON_REQUEST.has(n))) {
  const res = await SECTIONS[name].run();
  out[name] = res;
  if (!json) process.stdout.write(SECTIONS[name].format(res as never) + '\n');
}
if (json) process.stdout.write(JSON.stringify(out) + '\n');
