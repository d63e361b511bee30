// Options of the `gpu` and `jax` bench sections (bench/webgpu-steps.ts runs them).

import { BACKEND_NAMES } from '../shared/tensor/backend.ts';
import type { BackendName } from '../shared/tensor/backend.ts';
import { ENV_ROWS, type EnvRowName } from './env-steps.ts';

export const GPU_ROWS = ['pqn 3x256', 'pqn 4x1024', 'pqn 6x2048', 'fit 512', 'fit 4096'] as const;
/** The fit step at `plearn run`'s quick preset shapes (a 3×256 agent): the end-to-end fit's step, on the CPU. */
export const QUICK_FIT_ROWS = ['fit 512 3x256'] as const;
/** A training row (both sections), or the quick fit row or an environment row (the jax section's defaults; CPU work on both sides). */
export type GpuRowName = (typeof GPU_ROWS)[number] | (typeof QUICK_FIT_ROWS)[number] | EnvRowName;
const ALL_ROWS: readonly string[] = [...GPU_ROWS, ...QUICK_FIT_ROWS, ...ENV_ROWS];

export interface GpuBenchOptions {
  readonly backend: BackendName | 'auto';
  readonly rows: readonly GpuRowName[];
  readonly reps: number;
  readonly blockSeconds: number;
  /** auto: the GPU when plearn got a hardware adapter, else the CPU (2 threads). */
  readonly jaxDevice: 'auto' | 'cpu' | 'gpu' | 'off';
  /** Appends a JSON line per finished row here, so a run cut short by a time limit still leaves its rows. */
  readonly rowsOut?: string;
}

/** The section's options that take a value: bench/index.ts must not read those values as section names. */
export const GPU_VALUE_OPTIONS: readonly string[] = ['--backend', '--rows', '--reps', '--block-seconds', '--jax-device', '--rows-out'];

/**
 * `npm run bench -- jax`: the same rows on the CPU, plearn's fast path (cpu-blas)
 * against JAX on the CPU, 9 interleaved repetitions unless --reps says otherwise;
 * the quick preset's fit row and the environment rows too.
 */
export function jaxOptions(argv: readonly string[]): GpuBenchOptions {
  const o = gpuOptions(argv);
  const named = (n: string) => argv.some((a) => a === n || a.startsWith(`${n}=`));
  return {
    ...o, backend: named('--backend') ? o.backend : 'cpu-blas', jaxDevice: 'cpu', reps: named('--reps') || process.env.PLEARN_BENCH_REPS ? o.reps : 9,
    rows: named('--rows') ? o.rows : [...GPU_ROWS, ...QUICK_FIT_ROWS, ...ENV_ROWS],
  };
}

/** The section's options from the command line (`--name value` or `--name=value`). */
export function gpuOptions(argv: readonly string[]): GpuBenchOptions {
  const get = (name: string): string | undefined => {
    for (let i = 0; i < argv.length; i++) {
      if (argv[i] === name) return argv[i + 1];
      if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
    }
    return undefined;
  };
  const backend = get('--backend') ?? 'auto';
  if (backend !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new Error(`bench gpu: unknown backend ${backend}; allowed: auto, ${BACKEND_NAMES.join(', ')}`);
  }
  const rows = (get('--rows') ?? GPU_ROWS.join(',')).split(',').map((r) => r.trim()).filter((r) => r !== '');
  const bad = rows.filter((r) => !ALL_ROWS.includes(r));
  if (bad.length > 0) throw new Error(`bench gpu: unknown row ${bad.join(', ')}; rows: ${ALL_ROWS.join(', ')}`);
  const jaxDevice = get('--jax-device') ?? 'auto';
  if (!['auto', 'cpu', 'gpu', 'off'].includes(jaxDevice)) throw new Error(`bench gpu: --jax-device is auto, cpu, gpu or off, not ${jaxDevice}`);
  const reps = Number(get('--reps') ?? process.env.PLEARN_BENCH_REPS ?? 3);
  const blockSeconds = Number(get('--block-seconds') ?? 0.3);
  if (!(Number.isInteger(reps) && reps >= 1)) throw new Error(`bench gpu: --reps must be a positive integer, not ${reps}`);
  if (!(blockSeconds > 0)) throw new Error(`bench gpu: --block-seconds must be positive, not ${blockSeconds}`);
  return {
    backend: backend as BackendName | 'auto', rows: rows as GpuRowName[], reps, blockSeconds,
    jaxDevice: jaxDevice as GpuBenchOptions['jaxDevice'], ...(get('--rows-out') ? { rowsOut: get('--rows-out') } : {}),
  };
}

