// Sweeps on the cluster: the coordinator turns a submitted sweep into ordinary
// jobs, at most `maxActiveCells` of its own running at once, so a sweep of
// thousands of cells never floods the queue and jobs submitted meanwhile wait
// behind a few cells' tasks, not the whole sweep.
//
// Every decision is re-derivable from the state store, as the job engine's are:
//   sweep.<sid>              the sweep's record (status, counts)
//   sweepcell.<sid>.<cell>   the job that computes this cell for this sweep
//   cell.<cell>              across sweeps: the job that computes this cell id
// A cell's job id is recorded before the job is submitted (with that id), so a
// coordinator killed at any point resumes without losing a cell or running one
// twice. A cell whose job completed (or is running) for any earlier sweep is
// reused, not recomputed: re-submitting a finished sweep queues nothing.

import type { Logger } from 'pino';
import type { JobSpec } from '../../shared/experiments/jobs.ts';
import { ApiFailure, checkedJobSpec } from '../../shared/protocol/api.ts';
import { LimitError } from '../../shared/protocol/limits.ts';
import { describeValues } from '../../shared/sweeps/cells.ts';
import type { SweepSubmission } from '../../shared/protocol/api.ts';
import { decodeJson, encodeJson } from '../../shared/protocol/codec.ts';
import type {
  CellRecord, JobEvent, JobRecord, JobStatus, SweepCellRecord, SweepCellStatus, SweepCellView, SweepRecord, SweepStatus, SweepSubmitted, SweepView,
} from '../../shared/protocol/records.ts';
import { nowIso, TERMINAL } from '../../shared/protocol/records.ts';
import { ALL_EVENTS, cellKey, jobKey, sweepBlob, sweepCellKey, sweepKey } from '../../shared/protocol/subjects.ts';
import { SweepSpecError } from '../../shared/sweeps/spec.ts';
import type { SweepCell } from '../../shared/sweeps/types.ts';
import type { Transport } from '../../shared/transport/transport.ts';
import { ConfigError } from '../../shared/util/validate.ts';
import type { Coordinator } from '../engine.ts';
import { newJobId, newSweepId } from '../ids.ts';
import { KeyedLock } from '../keyed-lock.ts';
import { parseSweepText } from './spec-file.ts';
import type { Fence } from '../leader/fence.ts';
import { fencedPut, NO_FENCE } from '../leader/fence.ts';

/** What the coordinator keeps of a sweep's source: enough to rebuild its cells anywhere. */
export interface SweepSource { text: string; source: string; layouts: Record<string, string> }

interface Assigned { jobId: string; reused: boolean; status: JobStatus | 'missing' }

interface LiveSweep {
  record: SweepRecord;
  cells: SweepCell[];
  jobs: JobSpec[];
  assigned: Map<string, Assigned>;
}

export interface SweepSchedulerOptions {
  transport: Transport;
  jobs: Coordinator;
  log: Logger;
  reconcileMs?: number;
  /** The leader lease it writes under, as the job engine's. */
  fence?: Fence;
}

const SWEEP_TERMINAL: readonly SweepStatus[] = ['completed', 'failed', 'cancelled'];
const isOver = (s: Assigned['status']) => s !== 'missing' && TERMINAL.includes(s);

/** Rebuild a sweep's cells and jobs from its source, reading layouts from what the client sent. */
export async function loadSweepSource(src: SweepSource): Promise<Awaited<ReturnType<typeof parseSweepText>>> {
  return parseSweepText(src.text, src.source, async (path) => {
    const text = src.layouts[path];
    if (text === undefined) throw new Error(`layout file ${path} was not sent with the sweep`);
    return text;
  });
}

export class SweepScheduler {
  private readonly live = new Map<string, LiveSweep>();
  private readonly ended = new Set<string>();
  /** Finished sweeps recently read (a results download pages through one). */
  private readonly finished = new Map<string, LiveSweep>();
  private readonly owners = new Map<string, Set<string>>();
  private readonly lock = new KeyedLock();
  private readonly unsubs: (() => void)[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private readonly t: Transport;
  private readonly fence: Fence;

  constructor(private readonly o: SweepSchedulerOptions) {
    this.t = o.transport;
    this.fence = o.fence ?? NO_FENCE;
  }

  async start(): Promise<void> {
    this.unsubs.push(this.t.events.subscribe(ALL_EVENTS, (_s, data) => this.onEvent(data)));
    this.timer = setInterval(() => {
      void this.reconcile().catch((e) => this.o.log.error({ err: e }, 'sweep reconcile failed'));
    }, this.o.reconcileMs ?? 10_000);
    this.timer.unref?.();
    await this.reconcile();
  }

  /** Sweeps this coordinator is scheduling now. */
  get activeSweeps(): number { return this.live.size; }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const u of this.unsubs.splice(0)) u();
  }

  // ---- API ---------------------------------------------------------------

  async submit(sub: SweepSubmission): Promise<SweepSubmitted> {
    let loaded: Awaited<ReturnType<typeof loadSweepSource>>;
    const src: SweepSource = { text: sub.text, source: sub.source, layouts: { ...sub.layouts } };
    try {
      loaded = await loadSweepSource(src);
    } catch (e) {
      if (e instanceof SweepSpecError) throw new ApiFailure('bad_request', e.message, e.field);
      if (e instanceof ConfigError) throw new ApiFailure('bad_request', e.message, e.field);
      throw new ApiFailure('bad_request', (e as Error).message, 'text');
    }
    // Each cell is judged as `plearn submit` would judge it, per-job limits included.
    loaded.jobs.forEach((job, i) => {
      try {
        checkedJobSpec(job);
      } catch (e) {
        const where = `cell ${loaded.cells[i].index} (${describeValues(loaded.cells[i].values)})`;
        if (e instanceof ConfigError || e instanceof LimitError) throw new ApiFailure('bad_request', `${sub.source}: ${where}: ${e.message}`, e.field);
        throw e;
      }
    });
    const id = newSweepId();
    const now = nowIso();
    const tasks = loaded.work.reduce((a, w) => a + w.tasks + w.fits, 0);
    const record: SweepRecord = {
      id, name: loaded.spec.name, experiment: loaded.spec.experiment, status: 'running', createdAt: now, updatedAt: now,
      cells: loaded.cells.length, maxActiveCells: sub.maxActiveCells, tasks,
    };
    // The source before the record: a record always has the source it needs to resume.
    await this.t.blobs.put(sweepBlob(id), encodeJson(src));
    await fencedPut(this.t.state, sweepKey(id), record, this.fence);
    const live: LiveSweep = { record, cells: loaded.cells, jobs: loaded.jobs, assigned: new Map() };
    this.live.set(id, live);
    await this.locked(id, () => this.advance(live, true));
    const reused = [...live.assigned.values()].filter((a) => a.reused).length;
    this.o.log.info({ sweep: id, name: record.name, cells: record.cells, reused }, 'sweep submitted');
    return { id, name: record.name, cells: record.cells, reused, toRun: record.cells - reused, tasks };
  }

  async get(id: string, offset: number, limit: number): Promise<SweepView> {
    const s = await this.sweep(id);
    const counts = { waiting: 0, running: 0, fitting: 0, completed: 0, failed: 0, cancelled: 0 } as Record<SweepCellStatus, number>;
    const active = { jobs: 0, tasksDone: 0, tasksTotal: 0 };
    for (const c of s.cells) {
      const a = s.assigned.get(c.id);
      const status: SweepCellStatus = a === undefined || a.status === 'missing' ? 'waiting' : a.status;
      counts[status]++;
      if (a !== undefined && !isOver(a.status) && a.status !== 'missing') {
        const view = await this.o.jobs.get(a.jobId).catch(() => undefined);
        if (view) {
          active.jobs++;
          active.tasksDone += view.tasks.done + view.fits.done;
          active.tasksTotal += view.tasks.total + view.fits.total;
        }
      }
    }
    const page: SweepCellView[] = [];
    for (const c of s.cells.slice(offset, offset + limit)) {
      const a = s.assigned.get(c.id);
      const v: SweepCellView = { id: c.id, index: c.index, values: { ...c.values }, status: a === undefined || a.status === 'missing' ? 'waiting' : a.status };
      if (a) { v.jobId = a.jobId; v.reused = a.reused; }
      if (a?.status === 'failed') v.error = (await this.readJob(a.jobId))?.error;
      page.push(v);
    }
    return { ...s.record, counts, active, source: sweepBlob(id), offset, page };
  }

  async list(status: SweepStatus | undefined, limit: number): Promise<SweepRecord[]> {
    const out: SweepRecord[] = [];
    for (const key of await this.t.state.keys('sweep')) {
      const v = await this.t.state.get(key);
      if (!v) continue;
      const r = decodeJson(v.value) as SweepRecord;
      if (status === undefined || r.status === status) out.push(r);
    }
    out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return out.slice(0, limit);
  }

  /** Stop a sweep: no more cells start, and its own running jobs are cancelled (jobs shared with another sweep are not). */
  async cancel(id: string): Promise<{ id: string; status: SweepStatus; cancelledJobs: number }> {
    return this.locked(id, async () => {
      const s = await this.sweep(id);
      if (SWEEP_TERMINAL.includes(s.record.status)) return { id, status: s.record.status, cancelledJobs: 0 };
      await this.setStatus(s, 'cancelled', {});
      let n = 0;
      for (const a of s.assigned.values()) {
        if (a.reused || isOver(a.status)) continue;
        await this.o.jobs.cancel(a.jobId).catch(() => undefined);
        n++;
      }
      this.forget(s);
      return { id, status: 'cancelled' as SweepStatus, cancelledJobs: n };
    });
  }

  // ---- scheduling --------------------------------------------------------

  private onEvent(data: Uint8Array): void {
    let ev: JobEvent;
    try {
      ev = decodeJson(data) as JobEvent;
    } catch {
      return;
    }
    if (ev?.type !== 'job' || !TERMINAL.includes(ev.status)) return;
    for (const sid of this.owners.get(ev.jobId) ?? []) {
      const s = this.live.get(sid);
      if (s) void this.locked(sid, () => this.advance(s)).catch((e) => this.o.log.error({ err: e, sweep: sid }, 'sweep update failed'));
    }
  }

  /** Rescan every unfinished sweep (start-up, then periodically): a restarted coordinator resumes here. */
  async reconcile(): Promise<void> {
    if (this.stopped) return;
    for (const key of await this.t.state.keys('sweep')) {
      const id = key.slice('sweep.'.length);
      // A sweep seen ended stays ended: its record is not read again every pass.
      if (this.ended.has(id)) continue;
      await this.locked(id, async () => {
        const v = await this.t.state.get(key);
        if (!v) return;
        const record = decodeJson(v.value) as SweepRecord;
        if (SWEEP_TERMINAL.includes(record.status)) { this.live.delete(id); this.ended.add(id); return; }
        if ((record.epoch ?? 0) < this.fence.epoch) {
          await fencedPut(this.t.state, key, record, this.fence);
          record.epoch = this.fence.epoch;
          if (this.live.has(id)) this.live.get(id)!.record = record;
        }
        let s = this.live.get(id);
        let resumed = false;
        if (!s) {
          s = await this.load(record);
          this.live.set(id, s);
          for (const a of s.assigned.values()) this.own(a.jobId, id);
          this.o.log.info({ sweep: id, cells: s.cells.length, assigned: s.assigned.size }, 'sweep resumed');
          resumed = true;
        }
        await this.advance(s, resumed);
      });
    }
  }

  /**
   * Start cells up to the limit, reuse what other sweeps computed, and finish the
   * sweep when every cell's job has ended. `scanAll` (a new or resumed sweep) looks
   * up every waiting cell for reuse; later passes stop at the first cell that would
   * need a free slot, so a 10 000-cell sweep does not re-read 10 000 cell records
   * each time one of its jobs ends.
   */
  private async advance(s: LiveSweep, scanAll = false): Promise<void> {
    if (this.stopped || SWEEP_TERMINAL.includes(s.record.status)) return;
    const sid = s.record.id;
    for (const [cellId, a] of s.assigned) {
      if (isOver(a.status)) continue;
      a.status = (await this.readJob(a.jobId))?.status ?? 'missing';
      if (a.status === 'missing' && !a.reused) {
        // Recorded, then the coordinator died before submitting: submit it now, under the recorded id.
        await this.o.jobs.submit(s.jobs[s.cells.findIndex((c) => c.id === cellId)], a.jobId);
        a.status = 'running';
      }
    }
    let active = [...s.assigned.values()].filter((a) => !a.reused && !isOver(a.status)).length;
    for (let i = 0; i < s.cells.length; i++) {
      const cell = s.cells[i];
      if (s.assigned.has(cell.id)) continue;
      const prior = await this.t.state.get(cellKey(cell.id));
      const priorJob = prior ? (decodeJson(prior.value) as CellRecord).jobId : undefined;
      const priorStatus = priorJob ? (await this.readJob(priorJob))?.status : undefined;
      if (priorJob && priorStatus && (priorStatus === 'completed' || !TERMINAL.includes(priorStatus))) {
        await this.assign(s, cell.id, { jobId: priorJob, reused: true, status: priorStatus });
        continue;
      }
      if (active >= s.record.maxActiveCells) {
        if (!scanAll) break;
        continue;
      }
      const jobId = newJobId();
      const claimed = prior
        ? await this.t.state.update(cellKey(cell.id), encodeJson({ jobId } satisfies CellRecord), prior.revision)
        : await this.t.state.create(cellKey(cell.id), encodeJson({ jobId } satisfies CellRecord));
      if (claimed === null) continue; // another sweep claimed it this instant: reuse it on the next pass
      await this.assign(s, cell.id, { jobId, reused: false, status: 'running' });
      await this.o.jobs.submit(s.jobs[i], jobId);
      active++;
    }
    if (s.assigned.size === s.cells.length && [...s.assigned.values()].every((a) => isOver(a.status))) {
      const failed = [...s.assigned.values()].filter((a) => a.status !== 'completed').length;
      const wallMs = Date.now() - Date.parse(s.record.createdAt);
      if (failed === 0) await this.setStatus(s, 'completed', { wallMs });
      else await this.setStatus(s, 'failed', { wallMs, error: `${failed} of ${s.cells.length} cells did not complete (see their jobs)` });
      this.forget(s);
      this.o.log.info({ sweep: sid, status: s.record.status, wallMs }, 'sweep ended');
    }
  }

  private forget(s: LiveSweep): void {
    this.live.delete(s.record.id);
    this.ended.add(s.record.id);
    for (const a of s.assigned.values()) {
      const owners = this.owners.get(a.jobId);
      owners?.delete(s.record.id);
      if (owners?.size === 0) this.owners.delete(a.jobId);
    }
  }

  private async assign(s: LiveSweep, cellId: string, a: Assigned): Promise<void> {
    await this.t.state.put(sweepCellKey(s.record.id, cellId), encodeJson({ jobId: a.jobId, reused: a.reused } satisfies SweepCellRecord));
    s.assigned.set(cellId, a);
    this.own(a.jobId, s.record.id);
  }

  private own(jobId: string, sweepId: string): void {
    const owners = this.owners.get(jobId) ?? new Set<string>();
    owners.add(sweepId);
    this.owners.set(jobId, owners);
  }

  // ---- state -------------------------------------------------------------

  private async sweep(id: string): Promise<LiveSweep> {
    const live = this.live.get(id);
    if (live) return live;
    const v = await this.t.state.get(sweepKey(id));
    if (!v) throw new ApiFailure('not_found', `no sweep ${id}`);
    const record = decodeJson(v.value) as SweepRecord;
    const cached = this.finished.get(id);
    if (cached && cached.record.updatedAt === record.updatedAt) return cached;
    const s = await this.load(record);
    if (this.finished.size >= 16) this.finished.delete(this.finished.keys().next().value as string);
    this.finished.set(id, s);
    return s;
  }

  private async load(record: SweepRecord): Promise<LiveSweep> {
    const bytes = await this.t.blobs.get(sweepBlob(record.id));
    if (!bytes) throw new Error(`the source of sweep ${record.id} is missing from the store`);
    const loaded = await loadSweepSource(decodeJson(bytes) as SweepSource);
    const s: LiveSweep = { record, cells: loaded.cells, jobs: loaded.jobs, assigned: new Map() };
    const prefix = `sweepcell.${record.id}.`;
    for (const key of await this.t.state.keys(`sweepcell.${record.id}`)) {
      const v = await this.t.state.get(key);
      if (!v) continue;
      const rec = decodeJson(v.value) as SweepCellRecord;
      const status = (await this.readJob(rec.jobId))?.status ?? 'missing';
      s.assigned.set(key.slice(prefix.length), { ...rec, status });
    }
    return s;
  }

  private async setStatus(s: LiveSweep, status: SweepStatus, extra: Partial<SweepRecord>): Promise<void> {
    const next: SweepRecord = { ...s.record, ...extra, status, updatedAt: nowIso(), epoch: this.fence.epoch };
    await fencedPut(this.t.state, sweepKey(next.id), next, this.fence);
    s.record = next;
  }

  private async readJob(id: string): Promise<JobRecord | undefined> {
    const v = await this.t.state.get(jobKey(id));
    return v ? (decodeJson(v.value) as JobRecord) : undefined;
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(id, fn);
  }

}
