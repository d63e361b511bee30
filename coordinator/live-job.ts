// What the coordinator keeps in memory about a job it follows: its plan, which
// agent tasks and fits are done or running, and for each fit unit how many of
// its agents are still missing — so that a task-done event costs O(fits of that
// task), not a scan of the job's tasks (20 000-task jobs in the scaling benchmark).

import type { JobPlan } from '../shared/experiments/jobs.ts';
import type { JobRecord } from '../shared/protocol/records.ts';

export interface LiveJob {
  record: JobRecord;
  readonly plan: JobPlan;
  readonly done: Set<string>;
  readonly fitsDone: Set<string>;
  readonly fitsRunning: Set<string>;
  /** Per fit unit (plan order), agents not yet done. */
  readonly missing: Int32Array;
  /** Per agent task, the fit units that need it. */
  readonly neededBy: ReadonlyMap<string, readonly number[]>;
}

export function liveJob(record: JobRecord, plan: JobPlan): LiveJob {
  const neededBy = new Map<string, number[]>();
  for (const t of plan.tasks) neededBy.set(t.taskId, []);
  const missing = new Int32Array(plan.fits.length);
  plan.fits.forEach((f, k) => {
    missing[k] = f.needs.length;
    for (const t of f.needs) neededBy.get(t)?.push(k);
  });
  return { record, plan, done: new Set(), fitsDone: new Set(), fitsRunning: new Set(), missing, neededBy };
}

/** Whether the job plans this agent task. */
export const plansTask = (live: LiveJob, taskId: string): boolean => live.neededBy.has(taskId);

/** Record an agent task as done (once). */
export function markDone(live: LiveJob, taskId: string): void {
  if (live.done.has(taskId) || !live.neededBy.has(taskId)) return;
  live.done.add(taskId);
  for (const k of live.neededBy.get(taskId)!) live.missing[k]--;
}

/** Whether fit unit k has all its agents. */
export const fitReady = (live: LiveJob, k: number): boolean => live.missing[k] === 0;
