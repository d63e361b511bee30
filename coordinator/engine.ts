// The coordinator's job logic over the transport interfaces: accept a job, cut it
// into agent tasks, follow them to completion through the state store, start each
// fit unit once its agents are done — in the coordinator's own pool, or as a task
// on the queue that any worker can take (`fitsOn`) — and store the result. Every
// decision is re-derivable from the state store, so a restarted coordinator
// (reconcile) picks each job up where the last one stopped.

import type { Logger } from 'pino';
import { LayoutError } from '../shared/envs/fourrooms/layout.ts';
import type { JobPlan, JobSpec } from '../shared/experiments/jobs.ts';
import { planJob } from '../shared/experiments/jobs.ts';
import { ApiFailure } from '../shared/protocol/api.ts';
import { decodeJson, encodeJson, packBulk } from '../shared/protocol/codec.ts';
import type { FailedTask, JobEvent, JobRecord, JobStatus, JobView, TaskRecord, TimelinePage } from '../shared/protocol/records.ts';
import { nowIso, TERMINAL } from '../shared/protocol/records.ts';
import { cancelSubject, eventSubject, fitKey, jobKey, taskKey, ALL_EVENTS } from '../shared/protocol/subjects.ts';
import type { BlobStore, DeadLetter, Transport } from '../shared/transport/transport.ts';
import { LOST_NOTICE, MALFORMED_REASON, retryDelayMs } from '../shared/transport/transport.ts';
import { ConfigError } from '../shared/util/validate.ts';
import { runFitUnit } from '../worker/fit-unit.ts';
import { storeRetry } from '../worker/store-retry.ts';
import { newJobId } from './ids.ts';
import { KeyedLock } from './keyed-lock.ts';
import type { LiveJob } from './live-job.ts';
import { fitReady, liveJob, markDone, plansTask } from './live-job.ts';
import { inParallel } from '../shared/util/in-parallel.ts';
import { jobView, listJobs, queueCounts, resultInfo } from './job-views.ts';
import { timelinePage } from './timeline/collect.ts';
import { storeJobResult } from './job-result.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import type { Fence } from './leader/fence.ts';
import { fencedPut, LeadershipLost, NO_FENCE } from './leader/fence.ts';

export interface CoordinatorOptions {
  transport: Transport;
  /** The coordinator's piscina pool (its fits run here when `fitsOn` is 'coordinator'). */
  pool: TaskPool;
  /** Where fits run: 'coordinator' (its own pool; the default) or 'workers' (a fit task on the queue). */
  fitsOn?: FitPlacement;
  log: Logger;
  /** Full rescan of unfinished jobs, catching events missed while disconnected (ms). */
  reconcileMs?: number;
  /** Counts what only the coordinator sees (the job events carry the rest). */
  metrics?: { deadLettered(reason: string | undefined): void };
  /** The leader lease this coordinator writes under (standby replicas: see leader/); none when it is the only one. */
  fence?: Fence;
}

export type FitPlacement = 'coordinator' | 'workers';
const ENQUEUE_IN_FLIGHT = 32;
export const FIT_PLACEMENTS: readonly FitPlacement[] = ['coordinator', 'workers'];

export class Coordinator {
  private readonly jobs = new Map<string, LiveJob>();
  private readonly lock = new KeyedLock();
  private readonly waiters = new Map<string, ((r: JobRecord) => void)[]>();
  private readonly unsubs: (() => void)[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private reconciling = false;
  private readonly t: Transport;
  private readonly fence: Fence;

  constructor(private readonly opts: CoordinatorOptions) {
    this.t = opts.transport;
    this.fence = opts.fence ?? NO_FENCE;
    // A lost lease is final for this instance: retrying would only delay the step-down.
    this.io = storeRetry(opts.log, () => this.stopped, (e) => e instanceof LeadershipLost);
  }

  async start(): Promise<void> {
    this.unsubs.push(this.t.events.subscribe(ALL_EVENTS, (_s, data) => this.onEvent(data)));
    this.unsubs.push(this.t.queue.onDeadLetter((l) => this.deadLetter(l)));
    // The timer first: a failed first pass is retried by the next.
    const every = this.opts.reconcileMs ?? 10_000;
    this.timer = setInterval(() => { void this.reconcile().catch((e) => this.opts.log.error({ err: e }, 'reconcile failed')); }, every);
    this.timer.unref?.();
    await this.reconcile();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const u of this.unsubs.splice(0)) u();
  }

  // ---- API ---------------------------------------------------------------

  /** Accept a job. A caller that chose the id (a sweep, recording it first) may submit again: an existing job is left as is. */
  async submit(spec: JobSpec, chosenId?: string): Promise<{ id: string; tasks: number; fits: number }> {
    let plan: JobPlan;
    try {
      plan = planJob(spec);
    } catch (e) {
      if (e instanceof ConfigError) throw new ApiFailure('bad_request', e.message, e.field);
      if (e instanceof LayoutError) throw new ApiFailure('bad_request', e.message, 'layoutText');
      throw e;
    }
    if (chosenId !== undefined && (await this.t.state.get(jobKey(chosenId)))) {
      return { id: chosenId, tasks: plan.tasks.length, fits: plan.fits.length };
    }
    const id = chosenId ?? newJobId();
    const now = nowIso();
    const record: JobRecord = { id, spec, status: 'running', createdAt: now, updatedAt: now, tasks: plan.tasks.length, fits: plan.fits.length };
    // The record first: if we die before every task is queued, reconcile queues the rest.
    await fencedPut(this.t.state, jobKey(id), record, this.fence);
    const live = liveJob(record, plan);
    this.jobs.set(id, live);
    await this.enqueueMissing(live);
    this.emit({ type: 'job', jobId: id, status: 'running', experiment: spec.experiment });
    this.opts.log.info({ job: id, experiment: spec.experiment, tasks: plan.tasks.length, fits: plan.fits.length }, 'job submitted');
    return { id, tasks: plan.tasks.length, fits: plan.fits.length };
  }

  /** The store behind this coordinator's writes (fenced like the rest), for agent uploads. */
  get blobs(): BlobStore { return this.t.blobs; }

  /** Jobs this coordinator is following (not yet completed, failed or cancelled). */
  get activeJobs(): number { return this.jobs.size; }

  async get(id: string): Promise<JobView> {
    return jobView(this.t.state, await this.readJob(id));
  }

  timeline(id: string, offset: number, limit: number): Promise<TimelinePage> { return timelinePage(this.t.state, id, offset, limit); }

  async list(status: JobStatus | undefined, limit: number): Promise<Omit<JobRecord, 'spec'>[]> {
    return listJobs(this.t.state, status, limit);
  }

  /** Cancel: queued tasks dropped, running ones told to stop (workers also notice it within half a task lease). */
  async cancel(id: string): Promise<{ id: string; status: JobStatus; purged: number; stopping: number }> {
    return this.locked(id, async () => {
      const record = await this.readJob(id);
      if (TERMINAL.includes(record.status)) return { id, status: record.status, purged: 0, stopping: 0 };
      const { waiting, running } = await queueCounts(this.t.state, id);
      await this.t.queue.purge(id);
      await this.setStatus(id, record, 'cancelled', {});
      this.t.events.publish(cancelSubject(id), new Uint8Array(0));
      return { id, status: 'cancelled' as JobStatus, purged: waiting, stopping: running };
    });
  }

  async resultInfo(id: string): Promise<{ id: string; status: JobStatus; blob: string; fitBlobs: string[] }> {
    return resultInfo(await this.readJob(id));
  }

  /** Resolves with the job's record once it is completed, failed or cancelled. */
  async waitFor(id: string): Promise<JobRecord> {
    const record = await this.readJob(id);
    if (TERMINAL.includes(record.status)) return record;
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  private onEvent(data: Uint8Array): void {
    let ev: JobEvent;
    try {
      ev = decodeJson(data) as JobEvent;
    } catch {
      return; // not ours to judge; events are advisory, the state store is the truth
    }
    if (ev?.type === 'task-done' && typeof ev.jobId === 'string' && this.jobs.has(ev.jobId)) {
      void this.locked(ev.jobId, () => this.refreshTask(ev.jobId, ev.taskId)).catch((e) => this.opts.log.error({ err: e }, 'task update failed'));
    } else if (ev?.type === 'fit-done' && typeof ev.jobId === 'string' && this.jobs.has(ev.jobId)) {
      void this.locked(ev.jobId, () => this.refreshFit(ev.jobId, ev.fitId)).catch((e) => this.opts.log.error({ err: e }, 'fit update failed'));
    }
  }

  private async refreshFit(jobId: string, fitId: string): Promise<void> {
    const live = this.jobs.get(jobId);
    if (!live || live.fitsDone.has(fitId) || !live.plan.fits.some((f) => f.fitId === fitId)) return;
    if (await this.t.state.get(fitKey(jobId, fitId))) {
      live.fitsRunning.delete(fitId);
      live.fitsDone.add(fitId);
      await this.advance(live);
    }
  }

  private async refreshTask(jobId: string, taskId: string): Promise<void> {
    const live = this.jobs.get(jobId);
    if (!live || live.done.has(taskId) || !plansTask(live, taskId)) return;
    const r = await this.readTask(taskKey(jobId, taskId));
    if (r?.status === 'done') {
      markDone(live, taskId);
      await this.advance(live);
    }
  }

  /** Rescan every unfinished job from the state store (start-up, then periodically). */
  async reconcile(): Promise<void> {
    // A rescan still running when the next is due (a slow store): the next is skipped.
    if (this.stopped || this.reconciling) return;
    this.reconciling = true;
    try {
      await this.rescan();
    } finally {
      this.reconciling = false;
    }
  }

  private async rescan(): Promise<void> {
    for (const key of await this.t.state.keys('job')) {
      const id = key.slice(4);
      await this.locked(id, async () => {
        const v = await this.t.state.get(key);
        if (!v) return;
        const record = decodeJson(v.value) as JobRecord;
        if (TERMINAL.includes(record.status)) { this.jobs.delete(id); return; }
        // A new leader stamps each unfinished job with its epoch: the former one's next write to it fails.
        if ((record.epoch ?? 0) < this.fence.epoch) {
          await fencedPut(this.t.state, key, record, this.fence);
          record.epoch = this.fence.epoch;
        }
        let live = this.jobs.get(id);
        if (!live) {
          live = liveJob(record, planJob(record.spec));
          this.jobs.set(id, live);
          this.opts.log.info({ job: id, status: record.status }, 'job resumed');
          await this.enqueueMissing(live);
        }
        live.record = record;
        // One pass over the job's records, not a request per task.
        const tasks = await this.t.state.entries(`task.${id}`);
        const rec = (taskId: string) => { const e = tasks.get(taskKey(id, taskId)); return e ? (decodeJson(e.value) as TaskRecord) : null; };
        for (const t of live.plan.tasks) {
          if (live.done.has(t.taskId)) continue;
          const r = rec(t.taskId);
          if (r?.status === 'done') markDone(live, t.taskId);
          else if (r) await this.deadLetterIfLost(id, t.taskId, r);
        }
        for (const fitId of live.fitsRunning) {
          const r = rec(fitId);
          if (r && r.status !== 'done') await this.deadLetterIfLost(id, fitId, r);
        }
        const fits = await this.t.state.entries(`fit.${id}`);
        for (const f of live.plan.fits) if (fits.has(fitKey(id, f.fitId))) live.fitsDone.add(f.fitId);
        await this.advance(live);
      });
    }
  }

  private async enqueueMissing(live: LiveJob): Promise<void> {
    const id = live.record.id;
    // Many tasks in flight at once: one by one, a job of 20 000 tasks took 40 s to queue (the scaling benchmark).
    await inParallel(live.plan.tasks, ENQUEUE_IN_FLIGHT, async ({ taskId, task }) => {
      if (await this.t.state.get(taskKey(id, taskId))) return;
      await this.t.queue.enqueue(id, taskId, packBulk({ jobId: id, taskId, task }));
      const at = nowIso();
      const rec: TaskRecord = { status: 'queued', attempts: 0, updatedAt: at, queuedAt: at, kind: task.kind, epoch: this.fence.epoch };
      // create, not put: a fast worker may already have written its own record.
      await this.t.state.create(taskKey(id, taskId), encodeJson(rec));
    });
  }

  /** Start every fit whose agents are all done; finish the job when every fit is. Called under the job's lock. */
  private async advance(live: LiveJob): Promise<void> {
    const id = live.record.id;
    if (TERMINAL.includes(live.record.status) || this.stopped) return;
    for (let k = 0; k < live.plan.fits.length; k++) {
      const unit = live.plan.fits[k];
      if (live.fitsDone.has(unit.fitId) || live.fitsRunning.has(unit.fitId)) continue;
      if (!fitReady(live, k)) continue;
      live.fitsRunning.add(unit.fitId);
      if (live.record.status === 'running') await this.setStatus(id, live.record, 'fitting', {});
      if ((this.opts.fitsOn ?? 'coordinator') === 'workers') await this.queueFit(live, k);
      else void this.runFit(live, k).catch((e: unknown) => this.failJob(id, `fit ${unit.fitId} failed: ${(e as Error).message}`, e));
    }
    if (live.fitsDone.size === live.plan.fits.length) await this.finish(live);
  }

  /**
   * Hand a fit unit to the workers as a task. A fit that already has a task record
   * is queued or running already (this is a restarted coordinator): not again.
   * Done is noticed from its fit-done event, or from its record by reconcile.
   */
  private async queueFit(live: LiveJob, k: number): Promise<void> {
    const id = live.record.id;
    const { fitId } = live.plan.fits[k];
    if (await this.t.state.get(taskKey(id, fitId))) return;
    await this.io(() => this.t.queue.enqueue(id, fitId, packBulk({ jobId: id, taskId: fitId, fit: { index: k } })));
    const at = nowIso();
    const rec: TaskRecord = { status: 'queued', attempts: 0, updatedAt: at, queuedAt: at, kind: 'fit', epoch: this.fence.epoch };
    await this.io(() => this.t.state.create(taskKey(id, fitId), encodeJson(rec)));
    this.opts.log.info({ job: id, fit: fitId }, 'fit queued for the workers');
  }

  private async runFit(live: LiveJob, k: number): Promise<void> {
    const id = live.record.id;
    let last = 0;
    const done = await runFitUnit({
      transport: this.t, pool: this.opts.pool, jobId: id, spec: live.record.spec, index: k, io: (fn) => this.io(fn), by: 'coordinator',
      progress: (d, total) => {
        const now = Date.now();
        if (now - last >= 250) { last = now; this.emit({ type: 'fit-progress', jobId: id, fitId: live.plan.fits[k].fitId, done: d, total }); }
      },
    });
    this.emit({ type: 'fit-done', jobId: id, fitId: done.fitId, wallMs: done.wallMs });
    await this.locked(id, async () => {
      live.fitsRunning.delete(done.fitId);
      live.fitsDone.add(done.fitId);
      await this.advance(live);
    });
  }

  private async finish(live: LiveJob): Promise<void> {
    const id = live.record.id;
    const wallMs = await storeJobResult({
      transport: this.t, jobId: id, plan: live.plan, createdAt: live.record.createdAt, threads: this.opts.pool.threads, io: (fn) => this.io(fn),
    });
    await this.setStatus(id, live.record, 'completed', { wallMs });
    this.opts.log.info({ job: id, wallMs }, 'job completed');
  }

  private async onDeadLetter(l: DeadLetter): Promise<void> {
    await this.locked(l.jobId, async () => {
      const prev = await this.readTask(taskKey(l.jobId, l.taskId));
      const last = prev?.error ?? (l.reason?.startsWith(MALFORMED_REASON) ? l.reason : 'no error recorded (the worker holding it was lost each time)');
      const error = l.reason === LOST_NOTICE ? `${LOST_NOTICE}; last error: ${last}` : last;
      this.opts.metrics?.deadLettered(l.reason);
      const rec: TaskRecord = { ...(prev ?? { attempts: l.deliveries }), status: 'failed', error, updatedAt: nowIso() };
      await fencedPut(this.t.state, taskKey(l.jobId, l.taskId), rec, this.fence);
      const v = await this.t.state.get(jobKey(l.jobId));
      if (!v) return;
      const record = decodeJson(v.value) as JobRecord;
      if (TERMINAL.includes(record.status)) return;
      const failed: FailedTask[] = [...(record.failed ?? []), { taskId: l.taskId, error, deliveries: l.deliveries }];
      this.opts.log.error({ job: l.jobId, task: l.taskId, deliveries: l.deliveries, error }, 'task dead-lettered');
      await this.setStatus(l.jobId, record, 'failed', { failed, error: `task ${l.taskId} failed after ${l.deliveries} deliveries: ${error}` });
    });
  }

  /**
   * A task on its last delivery untouched for two leases (a running worker refreshes
   * its record every half lease) will never run again, yet its dead letter never came
   * (the coordinator was down at that moment): dead-letter it now. Under the job's lock.
   */
  private async deadLetterIfLost(jobId: string, taskId: string, r: TaskRecord): Promise<void> {
    const q = this.t.queue;
    if ((r.status !== 'running' && r.status !== 'retrying') || r.attempts < q.maxDeliveries) return;
    if (Date.now() - Date.parse(r.updatedAt) <= 2 * q.leaseMs + retryDelayMs(r.attempts)) return;
    this.opts.log.warn({ job: jobId, task: taskId, attempts: r.attempts, since: r.updatedAt }, 'dead letter never came; dead-lettering now');
    const queued = await q.abandon(jobId, taskId, r.attempts, LOST_NOTICE);
    // Not awaited: we hold the job's lock, which onDeadLetter takes.
    if (!queued) this.deadLetter({ jobId, taskId, data: new Uint8Array(0), deliveries: r.attempts, reason: LOST_NOTICE });
  }

  private deadLetter(l: DeadLetter): void {
    void this.onDeadLetter(l).catch((e: unknown) => this.opts.log.error({ err: e, job: l.jobId, task: l.taskId }, 'dead letter not recorded'));
  }

  private async failJob(id: string, error: string, cause: unknown): Promise<void> {
    // A fit cut short by our own shutdown or step-down is not the job's fault: the next (or new) leader redoes it.
    if (this.stopped || cause instanceof LeadershipLost) return;
    this.opts.log.error({ job: id, error }, 'job failed');
    await this.locked(id, async () => {
      const record = await this.readJob(id);
      if (!TERMINAL.includes(record.status)) await this.setStatus(id, record, 'failed', { error });
    }).catch((e: unknown) => this.opts.log.error({ err: e, job: id }, 'job failure not recorded'));
  }

  /** A store operation that may meet a server restart or leader election: retried ~45 s before it fails the job. */
  private readonly io: <T>(fn: () => Promise<T>) => Promise<T>;

  private async setStatus(id: string, record: JobRecord, status: JobStatus, extra: Partial<JobRecord>): Promise<void> {
    const next: JobRecord = { ...record, ...extra, status, updatedAt: nowIso(), epoch: this.fence.epoch };
    await fencedPut(this.t.state, jobKey(id), next, this.fence);
    const live = this.jobs.get(id);
    if (live) live.record = next;
    this.emit({ type: 'job', jobId: id, status, experiment: record.spec.experiment, ...(next.error ? { error: next.error } : {}) });
    if (TERMINAL.includes(status)) {
      this.jobs.delete(id);
      for (const w of this.waiters.get(id) ?? []) w(next);
      this.waiters.delete(id);
    }
  }

  private async readJob(id: string): Promise<JobRecord> {
    const v = await this.t.state.get(jobKey(id));
    if (!v) throw new ApiFailure('not_found', `no job ${id}`);
    return decodeJson(v.value) as JobRecord;
  }

  private async readTask(key: string): Promise<TaskRecord | null> {
    const v = await this.t.state.get(key);
    return v ? (decodeJson(v.value) as TaskRecord) : null;
  }

  private emit(ev: JobEvent): void {
    this.t.events.publish(eventSubject(ev.jobId), encodeJson(ev));
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(id, fn);
  }
}
