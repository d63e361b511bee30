// The embedded default (`plearn run`): the coordinator and a worker in this
// process over the in-process transport, sharing one local piscina pool. The
// same Coordinator and Worker classes run on a cluster over NATS.

import type { Logger } from 'pino';
import { pino } from 'pino';
import { availableParallelism } from 'node:os';
import type { JobResult, JobSpec } from '../shared/experiments/jobs.ts';
import { planJob } from '../shared/experiments/jobs.ts';
import { decodeJson, unpackBulk } from '../shared/protocol/codec.ts';
import type { JobEvent } from '../shared/protocol/records.ts';
import { ALL_EVENTS } from '../shared/protocol/subjects.ts';
import type { FitOutput } from '../shared/tasks/task.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { Transport } from '../shared/transport/transport.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { Worker } from '../worker/service.ts';
import { Coordinator } from './engine.ts';

export interface RunHooks {
  /** Called once the number of work units (agent tasks + fits) is known. */
  planned?(units: number): void;
  progress?(unit: string, done: number, total: number): void;
}

export interface JobOutcome {
  result: JobResult;
  /** Fit outputs in fit order: each seed's fitted model with its metrics. */
  fits: FitOutput[];
}

/** Follow a job's events as progress units: one per agent task, one per fit. */
export function progressFromEvents(transport: Transport, hooks: RunHooks, jobId: () => string | undefined): () => void {
  return transport.events.subscribe(ALL_EVENTS, (_s, data) => {
    const ev = decodeJson(data) as JobEvent;
    if (ev.jobId !== jobId()) return;
    if (ev.type === 'task-progress') hooks.progress?.(ev.taskId, ev.done, ev.total);
    else if (ev.type === 'task-done') hooks.progress?.(ev.taskId, 1, 1);
    else if (ev.type === 'fit-progress') hooks.progress?.(ev.fitId, ev.done, ev.total);
    else if (ev.type === 'fit-done') hooks.progress?.(ev.fitId, 1, 1);
  });
}

/** Read a completed job's result and fit outputs back from the blob store. */
export async function readOutcome(transport: Transport, info: { blob: string; fitBlobs: string[] }): Promise<JobOutcome> {
  const r = await transport.blobs.get(info.blob);
  if (!r) throw new Error(`result ${info.blob} is missing from the store`);
  const fits: FitOutput[] = [];
  for (const name of info.fitBlobs) {
    const b = await transport.blobs.get(name);
    if (!b) throw new Error(`fit output ${name} is missing from the store`);
    fits.push(unpackBulk(b) as FitOutput);
  }
  return { result: decodeJson(r) as JobResult, fits };
}

/**
 * Pool threads for a job on this machine: no more than it has units to run at
 * once. Each thread's native kernels get the cores ÷ threads, so a job of one
 * agent and one fit (MountainCar, one seed) runs them on every core instead of
 * leaving all but one idle.
 */
export function threadsFor(spec: JobSpec): number {
  let parallel = availableParallelism();
  try {
    const plan = planJob(spec);
    parallel = Math.max(1, plan.tasks.length, plan.fits.length);
  } catch {
    // An invalid spec fails in submit with its own message.
  }
  return Math.max(1, Math.min(availableParallelism(), parallel));
}

export async function runJobLocal(spec: JobSpec, opts: { threads?: number; pool?: TaskPool; log?: Logger; hooks?: RunHooks } = {}): Promise<JobOutcome> {
  const log = opts.log ?? pino({ level: 'silent' });
  const transport = createInProcessTransport();
  const pool = opts.pool ?? createLocalPool(opts.threads ?? threadsFor(spec));
  const coordinator = new Coordinator({ transport, pool, log });
  const worker = new Worker({ transport, pool, id: 'local', slots: pool.threads, log, pollMs: 200 });
  let jobId: string | undefined;
  const unsub = progressFromEvents(transport, opts.hooks ?? {}, () => jobId);
  try {
    await coordinator.start();
    worker.start();
    const sub = await coordinator.submit(spec);
    jobId = sub.id;
    opts.hooks?.planned?.(sub.tasks + sub.fits);
    const record = await coordinator.waitFor(sub.id);
    if (record.status !== 'completed') throw new Error(record.error ?? `job ${record.status}`);
    return await readOutcome(transport, await coordinator.resultInfo(sub.id));
  } finally {
    unsub();
    await worker.drain();
    await coordinator.stop();
    await transport.close();
    if (!opts.pool) await pool.close();
  }
}
