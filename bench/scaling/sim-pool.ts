// The task pool of a simulated worker. Everything around it is the real worker
// (worker/service.ts: pull, claim, lease, heartbeats, records, store, ack); only
// the work changes: an agent task runs as specified (the scaling workload's
// agents take one environment step, well under a millisecond), its artifact is
// padded to a chosen size, and the task then sleeps until a duration drawn from
// a chosen distribution has passed. Fits are real: they go to a real thread pool,
// with the padding stripped first, so the jobs complete with real results.

import { packBulk } from '../../shared/protocol/codec.ts';
import type { Progress, Task, TaskOutput } from '../../shared/tasks/task.ts';
import { runTask } from '../../worker/run-task.ts';
import type { TaskPool } from '../../worker/local-pool.ts';

/** How long a simulated task takes (ms), drawn per task; `meanS` is the distribution's mean in seconds. */
export type DurationSampler = (() => number) & { readonly meanS: number };

const sampler = (draw: () => number, meanS: number): DurationSampler => Object.assign(draw, { meanS });

export interface SimShape {
  /** The distribution as the user wrote it ("5", "uniform:4:6", "lognormal:5:0.25"; seconds). */
  readonly label: string;
  readonly sample: DurationSampler;
  /** Stored size of every agent artifact (bytes); the real artifact is padded up to it. */
  readonly artifactBytes: number;
}

/**
 * Parse a task-duration distribution: `S` (every task S seconds), `uniform:A:B`,
 * or `lognormal:MEDIAN:SIGMA` (seconds; sigma of the log). Throws naming the bad part.
 */
export function parseDuration(text: string, random: () => number = Math.random): DurationSampler {
  const parts = text.split(':');
  const num = (s: string | undefined, what: string, min: number) => {
    const v = Number(s);
    if (s === undefined || s.trim() === '' || !Number.isFinite(v) || v < min || v > 3600) {
      throw new Error(`task duration "${text}": ${what} must be a number of seconds in [${min}, 3600]`);
    }
    return v;
  };
  if (parts.length === 1) {
    const s = num(parts[0], 'the duration', 0);
    return sampler(() => s * 1000, s);
  }
  if (parts[0] === 'uniform' && parts.length === 3) {
    const a = num(parts[1], 'the lower bound', 0);
    const b = num(parts[2], 'the upper bound', a);
    return sampler(() => (a + (b - a) * random()) * 1000, (a + b) / 2);
  }
  if (parts[0] === 'lognormal' && parts.length === 3) {
    const median = num(parts[1], 'the median', 0);
    const sigma = num(parts[2], 'sigma', 0);
    return sampler(() => {
      // Box–Muller: one standard normal per task.
      const u = 1 - random();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
      return median * Math.exp(sigma * z) * 1000;
    }, median * Math.exp((sigma * sigma) / 2));
  }
  throw new Error(`task duration "${text}": give seconds (5), uniform:A:B or lognormal:MEDIAN:SIGMA`);
}

/** The distribution's mean in seconds (lognormal: median·e^(σ²/2)); parse errors as parseDuration's. */
export function durationMean(text: string): number {
  return parseDuration(text).meanS;
}

/** Field carrying the padding; the fit never sees it. */
const PAD = 'simPadding';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); }, { once: true });
  });
}

export interface SimRuns {
  /** Agent tasks run, by "seed:seedIndex:shardIndex": more than one for a key is a task run twice. */
  readonly runs: Map<string, number>;
}

/**
 * A pool for simulated workers. `fits` runs the fit tasks (a real piscina pool,
 * shared by all simulated workers of a process); `runs` counts agent task runs.
 */
export function createSimPool(shape: SimShape, fits: TaskPool, runs: SimRuns['runs']): TaskPool {
  return {
    threads: 1,
    async run<T extends Task>(task: T, progress?: Progress, signal?: AbortSignal): Promise<TaskOutput<T>> {
      if (task.kind === 'fourrooms-fit' || task.kind === 'continuous-fit') {
        const artifacts = (task.kind === 'fourrooms-fit' ? task.artifacts : task.agents).map((a) => {
          const { [PAD]: _pad, ...rest } = a as typeof a & { [PAD]?: Uint8Array };
          return rest;
        });
        const clean = (task.kind === 'fourrooms-fit' ? { ...task, artifacts } : { ...task, agents: artifacts }) as T;
        return fits.run(clean, progress, signal);
      }
      const t0 = performance.now();
      const due = shape.sample();
      const out = await runTask(task);
      // A job's run seed, seed index and shard name its task; every scaling job has its own run seed.
      const id = out as { seed?: number; seedIndex?: number; shardIndex?: number };
      const key = `${id.seed ?? ''}:${id.seedIndex ?? ''}:${id.shardIndex ?? ''}`;
      runs.set(key, (runs.get(key) ?? 0) + 1);
      const size = packBulk(out).byteLength;
      // msgpack adds the key and a bin header (≤ 20 bytes) around the padding.
      const pad = Math.max(0, shape.artifactBytes - size - 20);
      const padded = pad > 0 ? { ...out, [PAD]: new Uint8Array(pad) } : out;
      progress?.(1, 1);
      await sleep(due - (performance.now() - t0), signal);
      return padded as TaskOutput<T>;
    },
    close: async () => undefined,
  };
}
