// The worker's job loop over the transport interfaces: take a task (an agent to
// train, or a fit the coordinator handed out), run it in the piscina pool while
// keeping its lease alive, store its output, record the task as done, and only
// then ack. A redelivered task whose record already says done is
// acked without running again, so a lost ack never yields a second result.

import type { Logger } from 'pino';
import { checkedJobSpec } from '../shared/protocol/api.ts';
import { decodeJson, encodeJson, packBulk } from '../shared/protocol/codec.ts';
import { checkArtifactSize } from '../shared/protocol/limits.ts';
import type { JobEvent, JobRecord, TaskRecord } from '../shared/protocol/records.ts';
import { nowIso, TERMINAL } from '../shared/protocol/records.ts';
import { ALL_CANCELS, artifactBlob, eventSubject, ID_PATTERN, jobKey, taskKey } from '../shared/protocol/subjects.ts';
import type { Delivery, Transport } from '../shared/transport/transport.ts';
import { MALFORMED_REASON, retryDelayMs } from '../shared/transport/transport.ts';
import { runFitUnit } from './fit-unit.ts';
import { storeRetry } from './store-retry.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { TaskPool } from './local-pool.ts';
import type { AgentEnvelope, Envelope, FitEnvelope } from './task-payload.ts';
import { parseEnvelope } from './task-payload.ts';

export { parseEnvelope } from './task-payload.ts';

export interface WorkerOptions {
  transport: Transport;
  pool: TaskPool;
  /** Unique per process: it names the worker in task records, events and `plearn workers`. */
  id: string;
  /** Tasks held at once (one per pool thread): agent tasks, and fit tasks when the coordinator hands fits out. */
  slots: number;
  log: Logger;
  /** How long one pull waits for a task before it is renewed (ms; default 10 s). A drain stops waiting pulls at once. */
  pollMs?: number;
  /** A task still running after this long is stopped and fails (its delivery is retried, then dead-lettered); default: none. */
  taskTimeoutMs?: number;
  /** Prometheus counters and histograms (the worker service); none for `plearn run`. */
  metrics?: WorkerMetrics;
}

export interface CurrentTask { jobId: string; taskId: string; kind: string; startedAt: string; attempt: number; done: number; total: number }

export interface WorkerStats {
  id: string;
  threads: number;
  slots: number;
  state: 'starting' | 'running' | 'draining' | 'stopped';
  current: CurrentTask[];
  completed: number;
  failed: number;
  skipped: number;
  /** Completed tasks per minute since start. */
  tasksPerMinute: number;
  busyMs: number;
  uptimeMs: number;
}


const DEFAULT_POLL_MS = 10_000;
const JOB_RECORD_TTL_MS = 1000;
const MAX_CACHED_JOBS = 1000;

export class Worker {
  private state: WorkerStats['state'] = 'starting';
  private readonly current = new Map<string, CurrentTask>();
  private readonly held = new Map<string, Delivery>();
  private readonly t0 = Date.now();
  private completed = 0;
  private failed = 0;
  private skipped = 0;
  private busyMs = 0;
  private loops: Promise<void>[] = [];
  /** Aborted by drain: the slots' waiting pulls end at once. */
  private readonly pulling = new AbortController();
  /** Stops a held task because its job was cancelled, by task key. */
  private readonly stoppers = new Map<string, { jobId: string; stop: () => void }>();
  private unsubscribeCancels: (() => void) | undefined;
  /** Job records by id, read at most once a second per job (see jobRecord). */
  private readonly jobs = new Map<string, { record: JobRecord | null; at: number }>();

  /** Store calls that ride over a server restart or leader election instead of spending a delivery. */
  private readonly io: <T>(fn: () => Promise<T>) => Promise<T>;

  constructor(private readonly o: WorkerOptions) {
    this.io = storeRetry(o.log, () => this.state === 'stopped');
  }

  start(): void {
    this.state = 'running';
    // A cancelled job's running tasks stop at once (and, should this notice be missed, at the next record refresh).
    this.unsubscribeCancels = this.o.transport.events.subscribe(ALL_CANCELS, (subject) => this.stopJob(subject.slice('plearn.cancel.'.length)));
    this.loops = Array.from({ length: this.o.slots }, (_, slot) => this.loop(slot));
  }

  get ready(): boolean {
    return this.state === 'running';
  }

  /**
   * Stop taking tasks and let the held ones finish. After `timeoutMs` the rest are
   * handed back to the queue (another worker takes them at once) and this resolves
   * with how many were released.
   */
  async drain(timeoutMs = Infinity): Promise<number> {
    if (this.state === 'running' || this.state === 'starting') this.state = 'draining';
    this.pulling.abort();
    this.unsubscribeCancels?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finished = Promise.all(this.loops).then(() => 0);
    const released = Number.isFinite(timeoutMs)
      ? new Promise<number>((resolve) => { timer = setTimeout(() => resolve(this.releaseHeld()), timeoutMs); })
      : new Promise<number>(() => undefined);
    const n = await Promise.race([finished, released]);
    clearTimeout(timer);
    this.state = 'stopped';
    return n;
  }

  /** Hand every held task back without spending its delivery: draining is not the task's failure. */
  private async releaseHeld(): Promise<number> {
    const held = [...this.held.values()];
    this.held.clear();
    const back = await Promise.all(held.map((d) => d.handBack().catch(() => false)));
    const spent = back.filter((ok) => !ok).length;
    if (spent > 0) this.o.log.warn({ spent }, 'some tasks could not be handed back as fresh copies; they were nak\'ed (a delivery spent)');
    return held.length;
  }

  stats(): WorkerStats {
    const uptimeMs = Date.now() - this.t0;
    return {
      id: this.o.id, threads: this.o.pool.threads, slots: this.o.slots, state: this.state,
      current: [...this.current.values()], completed: this.completed, failed: this.failed, skipped: this.skipped,
      tasksPerMinute: uptimeMs > 0 ? this.completed / (uptimeMs / 60_000) : 0, busyMs: this.busyMs, uptimeMs,
    };
  }

  private async loop(slot: number): Promise<void> {
    const q = this.o.transport.queue;
    const log = this.o.log;
    while (this.state === 'running') {
      let d: Delivery | null;
      try {
        d = await q.next(this.o.pollMs ?? DEFAULT_POLL_MS, this.pulling.signal);
      } catch (e) {
        log.warn({ err: e }, 'pulling a task failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!d) continue;
      if (this.state !== 'running') { d.nak(); break; }
      const held = d;
      await this.handle(held, slot).catch((e: unknown) => {
        // The store or the queue failed under us (a lost connection): give the task back, keep serving.
        log.error({ job: held.jobId, task: held.taskId, err: (e as Error).message }, 'task handling failed; handing it back');
        held.nak(1000);
      });
    }
  }

  private async handle(d: Delivery, slot: number): Promise<void> {
    const { transport: t, log } = this.o;
    let env: Envelope;
    try {
      if (!ID_PATTERN.test(d.jobId) || !ID_PATTERN.test(d.taskId)) throw new Error('bad job or task id in the subject');
      env = parseEnvelope(d);
    } catch (e) {
      this.failed++;
      this.o.metrics?.finished('other', 'malformed');
      log.error({ job: d.jobId, task: d.taskId, err: (e as Error).message }, 'malformed task dead-lettered');
      d.term(`${MALFORMED_REASON}: ${(e as Error).message}`);
      return;
    }
    const key = taskKey(env.jobId, env.taskId);
    const prev = await this.io(() => t.state.get(key));
    const prevRec = prev ? (decodeJson(prev.value) as TaskRecord) : null;
    const jobRecord = await this.jobRecord(env.jobId);
    const kind = 'fit' in env ? 'fit' : env.task.kind;
    if (prevRec?.status === 'done' || jobRecord === null || TERMINAL.includes(jobRecord.status)) {
      // Already done (a redelivery after a lost ack), or its job is gone or over: nothing to run.
      this.skipped++;
      this.o.metrics?.finished(kind, 'skipped');
      await d.ack();
      return;
    }
    // Claim the record only if nobody wrote it since we read it: a stale 'running' must
    // never overwrite another holder's 'done' (a restarted coordinator would wait forever).
    const queuedAt = prevRec?.queuedAt;
    const running: TaskRecord = {
      status: 'running', attempts: d.deliveryCount, worker: this.o.id, updatedAt: nowIso(), kind, slot, claimedAt: nowIso(), ...(queuedAt ? { queuedAt } : {}),
    };
    let claimed = prev
      ? await t.state.update(key, encodeJson(running), prev.revision)
      : await t.state.create(key, encodeJson(running));
    if (claimed === null) {
      const now = await t.state.get(key);
      if (now && (decodeJson(now.value) as TaskRecord).status === 'done') {
        this.skipped++;
        this.o.metrics?.finished(kind, 'skipped');
        await d.ack();
        return;
      }
      // Usually the coordinator's 'queued' landing after our read: claim over it once more.
      claimed = now ? await t.state.update(key, encodeJson(running), now.revision) : await t.state.create(key, encodeJson(running));
    }
    // Queue wait: from the coordinator's 'queued' record to now (a redelivery waited on its first holder; not counted).
    this.o.metrics?.claimed(kind, prevRec?.status === 'queued' && queuedAt ? Date.now() - Date.parse(queuedAt) : undefined);
    const cur: CurrentTask = {
      jobId: env.jobId, taskId: env.taskId, kind, startedAt: nowIso(), attempt: d.deliveryCount, done: 0, total: 1,
    };
    this.current.set(key, cur);
    this.held.set(key, d);
    const beat = setInterval(() => d.working(), Math.max(200, Math.floor(t.queue.leaseMs / 3)));
    // The record too, every half lease: it is how the coordinator tells a task still
    // running on its last delivery from one whose dead letter was lost. Compare-and-set,
    // so it stops the moment anyone else (a later holder, our own 'done') writes.
    let rev = claimed;
    const deadline = new AbortController();
    let cancelled = false;
    this.stoppers.set(key, { jobId: env.jobId, stop: () => { cancelled = true; deadline.abort(); } });
    const touch = setInterval(() => {
      void this.jobRecord(env.jobId).then((j) => { if (j === null || TERMINAL.includes(j.status)) this.stopJob(env.jobId); }, () => undefined);
      if (rev === null) return;
      const at = rev;
      void t.state.update(key, encodeJson({ ...running, updatedAt: nowIso() }), at)
        .then((r) => { rev = rev === at ? r : rev; }, () => undefined);
    }, Math.max(250, Math.floor(t.queue.leaseMs / 2)));
    const t0 = performance.now();
    let lastEvent = 0;
    const progress = (done: number, total: number) => {
      cur.done = done;
      cur.total = total;
      const now = Date.now();
      if (now - lastEvent < 250) return;
      lastEvent = now;
      this.emit('fit' in env
        ? { type: 'fit-progress', jobId: env.jobId, fitId: env.taskId, done, total }
        : { type: 'task-progress', jobId: env.jobId, taskId: env.taskId, done, total, worker: this.o.id });
    };
    const limit = this.o.taskTimeoutMs;
    const timer = limit !== undefined ? setTimeout(() => deadline.abort(), limit) : undefined;
    try {
      const startedAt = nowIso();
      const ran = 'fit' in env ? await this.fit(env, jobRecord, progress, deadline.signal) : await this.train(env, progress, deadline.signal);
      const bytes = ran.bytes;
      const wallMs = performance.now() - t0;
      const done: TaskRecord = {
        ...running, status: 'done', updatedAt: nowIso(), wallMs, artifactBytes: bytes, startedAt, finishedAt: ran.finishedAt, storedAt: nowIso(),
      };
      await this.io(() => t.state.put(key, encodeJson(done)));
      if (!this.held.has(key)) return; // released by a drain timeout: the next holder redoes it
      // The record already says done; the ack only takes the task off the queue (a lost
      // one brings a redelivery that is skipped), so the slot pulls its next task now
      // instead of a round trip later.
      d.ack().catch((e: unknown) => log.warn({ job: env.jobId, task: env.taskId, err: (e as Error).message }, 'ack lost; the task will come back once and be skipped'));
      this.completed++;
      this.o.metrics?.finished(kind, 'done', wallMs);
      this.emit('fit' in env
        ? { type: 'fit-done', jobId: env.jobId, fitId: env.taskId, wallMs }
        : { type: 'task-done', jobId: env.jobId, taskId: env.taskId, worker: this.o.id, wallMs });
      log.info({ job: env.jobId, task: env.taskId, ms: Math.round(wallMs), bytes }, 'task done');
    } catch (e) {
      if (!this.held.has(key)) {
        // Handed back by a drain, then its thread stopped with the pool: not a failure, and not ours to retry.
        log.info({ job: env.jobId, task: env.taskId }, 'task handed back on drain; its run here stopped');
        return;
      }
      if (cancelled) {
        // Its job ended (cancelled): nothing to retry. Off the queue, and the record says why it stopped.
        const rec: TaskRecord = { ...running, status: 'failed', updatedAt: nowIso(), error: 'stopped: its job was cancelled' };
        await t.state.update(key, encodeJson(rec), rev ?? 0).catch(() => null);
        await d.ack().catch(() => undefined);
        this.o.metrics?.finished(kind, 'cancelled');
        log.info({ job: env.jobId, task: env.taskId }, 'task stopped: its job was cancelled');
        return;
      }
      const error = deadline.signal.aborted
        ? `stopped after its deadline of ${limit} ms (--task-timeout-ms); the worker goes on`
        : e instanceof Error ? e.message : String(e);
      this.failed++;
      this.o.metrics?.finished(kind, deadline.signal.aborted ? 'deadline' : 'failed');
      const rec: TaskRecord = { status: 'retrying', attempts: d.deliveryCount, worker: this.o.id, updatedAt: nowIso(), error };
      await t.state.put(key, encodeJson(rec)).catch(() => undefined);
      this.emit({ type: 'task-retry', jobId: env.jobId, taskId: env.taskId, worker: this.o.id, error, attempt: d.deliveryCount });
      log.warn({ job: env.jobId, task: env.taskId, attempt: d.deliveryCount, error }, 'task failed; handing it back');
      d.nak(retryDelayMs(d.deliveryCount));
    } finally {
      clearTimeout(timer);
      clearInterval(beat);
      clearInterval(touch);
      this.stoppers.delete(key);
      this.current.delete(key);
      this.held.delete(key);
      this.busyMs += performance.now() - t0;
    }
  }

  /** An agent task: train, store the artifact; returns its size and when training ended. */
  private async train(env: AgentEnvelope, progress: (done: number, total: number) => void, signal: AbortSignal): Promise<{ bytes: number; finishedAt: string }> {
    const out = await this.o.pool.run(env.task, progress, signal);
    const finishedAt = nowIso();
    const bytes = packBulk(out);
    checkArtifactSize(bytes.byteLength, `artifact of ${env.taskId}`);
    const s0 = performance.now();
    await this.io(() => this.o.transport.blobs.put(artifactBlob(env.jobId, env.taskId), bytes));
    this.o.metrics?.stored(env.task.kind, (performance.now() - s0) / 1000, bytes.byteLength);
    return { bytes: bytes.byteLength, finishedAt };
  }

  /** A fit task: the job's spec comes from its record, checked as a submission would be; returns the output's size and when the fit ended. */
  private async fit(env: FitEnvelope, job: JobRecord, progress: (done: number, total: number) => void, signal: AbortSignal): Promise<{ bytes: number; finishedAt: string }> {
    const spec = checkedJobSpec(job.spec);
    const m = this.o.metrics;
    const r = await runFitUnit({
      transport: this.o.transport, pool: this.o.pool, jobId: env.jobId, spec, index: env.fit.index, progress, signal, by: this.o.id, io: this.io,
      ...(m ? { observe: { read: (s: number, b: number) => m.artifactRead(s, b), stored: (s: number, b: number) => m.stored('fit', s, b) } } : {}),
    });
    return { bytes: r.bytes, finishedAt: r.finishedAt };
  }

  /**
   * The job's record, read from the store at most once a second per job: a thousand
   * workers each reading it for every task was a tenth of the server's requests in
   * the scaling benchmark. A job over (or gone) is final; a running one may be
   * cancelled meanwhile, so a worker may start a cancelled job's task up to a second
   * late (its result is then ignored). The spec never changes.
   */
  private async jobRecord(jobId: string): Promise<JobRecord | null> {
    const now = Date.now();
    const hit = this.jobs.get(jobId);
    if (hit && (hit.record === null || TERMINAL.includes(hit.record.status) || now - hit.at < JOB_RECORD_TTL_MS)) return hit.record;
    const v = await this.io(() => this.o.transport.state.get(jobKey(jobId)));
    const record = v ? (decodeJson(v.value) as JobRecord) : null;
    if (this.jobs.size >= MAX_CACHED_JOBS) this.jobs.delete(this.jobs.keys().next().value!);
    this.jobs.set(jobId, { record, at: now });
    return record;
  }

  /** Stop every held task of a job that ended. */
  private stopJob(jobId: string): void {
    for (const s of this.stoppers.values()) if (s.jobId === jobId) s.stop();
  }

  private emit(ev: JobEvent): void {
    this.o.transport.events.publish(eventSubject(ev.jobId), encodeJson(ev));
  }
}
