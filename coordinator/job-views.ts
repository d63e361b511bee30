// What `plearn status` and `plearn jobs` show, read straight from the state store:
// a job's task counts and its unfinished tasks, and the job list. Read-only, so a
// coordinator (or a tool) can answer them without holding any job's lock.

import { decodeJson } from '../shared/protocol/codec.ts';
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
