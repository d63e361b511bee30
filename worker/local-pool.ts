// A local piscina pool over the task runner, with per-task progress through a
// MessagePort so the CLI can draw one bar for the whole run.

import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { prepareGpuEnvironment } from '../shared/tensor/webgpu.ts';
import { usableCpus } from './cpu-budget.ts';
import type { Progress, Task, TaskOutput } from './run-task.ts';

export interface TaskPool {
  /** Run a task in a thread; aborting `signal` stops it (its thread is terminated and replaced) and rejects. */
  run<T extends Task>(task: T, progress?: Progress, signal?: AbortSignal): Promise<TaskOutput<T>>;
  readonly threads: number;
  close(): Promise<void>;
}

export interface PoolLimits {
  /**
   * V8 heap of each thread (MiB). A thread past it is terminated and its task fails;
   * typed arrays live outside this heap, so the tasks' own budgets bound those.
   */
  readonly heapMb?: number;
  /** Typed-array budget of each task (MiB): a task whose estimate exceeds it is refused before it allocates. */
  readonly memoryMb?: number;
}

export function createLocalPool(threads = availableParallelism(), limits: PoolLimits = {}): TaskPool {
  // Each thread's native tensor kernels (the cpu-blas backend) get a share of
  // the cores, so that concurrent fits do not oversubscribe them: with two
  // fits on two cores, one native thread each ran 1.5× faster than two each.
  // PLEARN_CPU_THREADS, when set, wins.
  const cpuThreads = process.env.PLEARN_CPU_THREADS ?? String(Math.max(1, Math.floor(usableCpus(process.env) / threads)));
  prepareGpuEnvironment();
  const memoryBytes = limits.memoryMb === undefined ? undefined : limits.memoryMb * 2 ** 20;
  const pool = new Piscina({
    filename: new URL('./thread-entry.js', import.meta.url).href,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 1000,
    env: { ...process.env, PLEARN_CPU_THREADS: cpuThreads },
    // Piscina first tries require() on the entry file, which Node 20 hands to its
    // require(esm) path; for this ESM entry with top-level await that path has
    // aborted the whole process (V8 "IsGraphAsync … instantiated module") when
    // threads start. Without require(esm) the require fails cleanly and piscina
    // falls back to import(), as it was written to.
    execArgv: [...process.execArgv, '--no-experimental-require-module'],
    ...(limits.heapMb !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: limits.heapMb } } : {}),
  });
  return {
    threads,
    async run<T extends Task>(task: T, progress?: Progress, signal?: AbortSignal): Promise<TaskOutput<T>> {
      if (!progress) return (await pool.run({ task, memoryBytes }, { signal: signal ?? null })) as TaskOutput<T>;
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (m: { done: number; total: number }) => progress(m.done, m.total));
      try {
        return (await pool.run({ task, port: port2, memoryBytes }, { transferList: [port2], signal: signal ?? null })) as TaskOutput<T>;
      } finally {
        port1.close();
      }
    },
    close: () => pool.destroy(),
  };
}

/** A pool whose threads start on its first task: a coordinator whose fits run on the workers never starts any. */
export function lazyPool(threads: number, make: () => TaskPool): TaskPool {
  let pool: TaskPool | undefined;
  return {
    threads,
    run: (task, progress, signal) => (pool ??= make()).run(task, progress, signal),
    close: async () => { await pool?.close(); },
  };
}
