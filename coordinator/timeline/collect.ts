// A job's or a sweep's timeline from the state store: every task record (agents,
// and fits a worker ran) and every fit the coordinator ran, with the timestamps
// the worker and the coordinator wrote. Read-only; a collected timeline is kept a
// minute, so a client paging through a large sweep does not make the coordinator
// re-read the store for every page.

import { ApiFailure } from '../../shared/protocol/api.ts';
import { decodeJson } from '../../shared/protocol/codec.ts';
import { MAX_TIMELINE_ENTRIES } from '../../shared/protocol/limits.ts';
import type { FitRecord, SweepCellRecord, TaskRecord, TimelineEntry, TimelinePage } from '../../shared/protocol/records.ts';
import { jobKey, sweepKey } from '../../shared/protocol/subjects.ts';
import type { StateStore } from '../../shared/transport/transport.ts';

interface Collected { of: 'job' | 'sweep'; jobs: number; entries: TimelineEntry[]; truncated: boolean; at: number }

const KEEP_MS = 60_000;
const cache = new Map<string, Collected>();

const ms = (iso: string | undefined) => {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
};

async function jobEntries(state: StateStore, job: string, out: TimelineEntry[], room: number): Promise<boolean> {
  const seen = new Set<string>();
  for (const [key, v] of await state.entries(`task.${job}`)) {
    if (out.length >= room) return false;
    const r = decodeJson(v.value) as TaskRecord;
    const task = key.slice(`task.${job}.`.length);
    seen.add(task);
    out.push({
      job, task, kind: r.kind ?? (task.startsWith('fit-') ? 'fit' : 'agent'), worker: r.worker ?? '', slot: r.slot ?? -1, status: r.status, attempts: r.attempts,
      queuedAt: ms(r.queuedAt), claimedAt: ms(r.claimedAt), startedAt: ms(r.startedAt), finishedAt: ms(r.finishedAt), storedAt: ms(r.storedAt),
    });
  }
  // Fits the coordinator ran have a fit record only.
  for (const [key, v] of await state.entries(`fit.${job}`)) {
    const task = key.slice(`fit.${job}.`.length);
    if (seen.has(task)) continue;
    if (out.length >= room) return false;
    const r = decodeJson(v.value) as FitRecord;
    out.push({
      job, task, kind: 'fit', worker: r.worker ?? 'coordinator', slot: -1, status: r.status, attempts: 1,
      startedAt: ms(r.startedAt), finishedAt: ms(r.finishedAt), storedAt: ms(r.storedAt),
    });
  }
  return true;
}

async function collect(state: StateStore, id: string): Promise<Collected> {
  let of: Collected['of'];
  let jobs: string[];
  if (await state.get(jobKey(id))) {
    of = 'job';
    jobs = [id];
  } else if (await state.get(sweepKey(id))) {
    of = 'sweep';
    const ids = new Set<string>();
    for (const key of await state.keys(`sweepcell.${id}`)) {
      const v = await state.get(key);
      if (v) ids.add((decodeJson(v.value) as SweepCellRecord).jobId);
    }
    jobs = [...ids];
  } else {
    throw new ApiFailure('not_found', `no job or sweep ${id}`);
  }
  const entries: TimelineEntry[] = [];
  let complete = true;
  for (const job of jobs) {
    complete = await jobEntries(state, job, entries, MAX_TIMELINE_ENTRIES);
    if (!complete) break;
  }
  entries.sort((a, b) => (a.startedAt ?? a.claimedAt ?? Infinity) - (b.startedAt ?? b.claimedAt ?? Infinity) || a.task.localeCompare(b.task));
  return { of, jobs: jobs.length, entries, truncated: !complete, at: Date.now() };
}

/** One page of the timeline of `id` (a job or a sweep); not_found when it is neither. */
export async function timelinePage(state: StateStore, id: string, offset: number, limit: number): Promise<TimelinePage> {
  let c = cache.get(id);
  // Page 0 always reads afresh: it starts a new download.
  if (!c || offset === 0 || Date.now() - c.at > KEEP_MS) {
    c = await collect(state, id);
    cache.set(id, c);
    for (const [k, v] of cache) if (Date.now() - v.at > KEEP_MS) cache.delete(k);
  }
  return { id, of: c.of, jobs: c.jobs, total: c.entries.length, truncated: c.truncated, offset, entries: c.entries.slice(offset, offset + limit) };
}
