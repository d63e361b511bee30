// What `plearn status` and `plearn jobs` show, read straight from the state store:
// a job's task counts and its unfinished tasks, and the job list. Read-only, so a
// coordinator (or a tool) can answer them without holding any job's lock.

import { planJob } from '../shared/experiments/jobs.ts';
import { ApiFailure } from '../shared/protocol/api.ts';
import { decodeJson } from '../shared/protocol/codec.ts';
import { fitBlob, resultBlob } from '../shared/protocol/subjects.ts';
import type { JobRecord, JobStatus, JobView, TaskRecord } from '../shared/protocol/records.ts';
import type { StateStore } from '../shared/transport/transport.ts';

/** Agent tasks by status and the unfinished ones (at most 100); fits counted apart (a fit run by a worker keeps a task record too). */
export async function jobView(state: StateStore, record: JobRecord): Promise<JobView> {
  const id = record.id;
  const counts = { total: record.tasks, queued: 0, running: 0, retrying: 0, done: 0, failed: 0 };
  const pending: JobView['pending'] = [];
  for (const [key, v] of await state.entries(`task.${id}`)) {
    const taskId = key.slice(`task.${id}.`.length);
    if (taskId.startsWith('fit-')) continue;
    const r = decodeJson(v.value) as TaskRecord;
    counts[r.status]++;
    if (r.status !== 'done' && pending.length < 100) {
      pending.push({ taskId, status: r.status, worker: r.worker, attempts: r.attempts, error: r.error });
    }
  }
  const fitsDone = (await state.keys(`fit.${id}`)).length;
  return {
    id, experiment: record.spec.experiment, status: record.status, createdAt: record.createdAt, updatedAt: record.updatedAt,
    error: record.error, failed: record.failed ?? [], tasks: counts, fits: { total: record.fits, done: fitsDone }, pending,
    wallMs: record.wallMs,
  };
}

/** A job's tasks (fits run by workers included) waiting in the queue, and running on a worker now. */
export async function queueCounts(state: StateStore, id: string): Promise<{ waiting: number; running: number }> {
  let waiting = 0;
  let running = 0;
  for (const v of (await state.entries(`task.${id}`)).values()) {
    const s = (decodeJson(v.value) as TaskRecord).status;
    if (s === 'queued' || s === 'retrying') waiting++;
    else if (s === 'running') running++;
  }
  return { waiting, running };
}

/** Where a completed job's result and its seeds' own models are (tracking fits stay in the store). */
export function resultInfo(record: JobRecord): { id: string; status: JobStatus; blob: string; fitBlobs: string[] } {
  if (record.status !== 'completed') {
    throw new ApiFailure('not_ready', `job ${record.id} is ${record.status}${record.error ? `: ${record.error}` : ''}; results exist once it is completed`);
  }
  const own = planJob(record.spec).fits.filter((f) => f.checkpoint === undefined);
  return { id: record.id, status: record.status, blob: resultBlob(record.id), fitBlobs: own.map((f) => fitBlob(record.id, f.fitId)) };
}

/** Jobs newest first, without their specs, optionally of one status. */
export async function listJobs(state: StateStore, status: JobStatus | undefined, limit: number): Promise<Omit<JobRecord, 'spec'>[]> {
  const out: Omit<JobRecord, 'spec'>[] = [];
  for (const v of (await state.entries('job')).values()) {
    const { spec: _spec, ...rest } = decodeJson(v.value) as JobRecord;
    if (status === undefined || rest.status === status) out.push(rest);
  }
  out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return out.slice(0, limit);
}
