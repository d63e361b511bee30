// Durable state records (JSON in the state store) and the events on per-job
// subjects. The coordinator owns job and fit records; a worker writes the
// record of the task it holds.

import type { JobSpec } from '../experiments/jobs.ts';

export type JobStatus = 'running' | 'fitting' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export interface FailedTask { taskId: string; error: string; deliveries: number }

export interface JobRecord {
  id: string;
  spec: JobSpec;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  tasks: number;
  fits: number;
  error?: string;
  failed?: FailedTask[];
  wallMs?: number;
  /** The leader epoch of the coordinator that last wrote it (fencing: a lower epoch may not write it again). */
  epoch?: number;
}

export type TaskStatus = 'queued' | 'running' | 'retrying' | 'done' | 'failed';

export interface TaskRecord {
  status: TaskStatus;
  attempts: number;
  updatedAt: string;
  worker?: string;
  error?: string;
  wallMs?: number;
  /** Set when the coordinator wrote it (queued, dead-lettered): its leader epoch. Workers' writes leave it out. */
  epoch?: number;
  artifactBytes?: number;
  /** The timeline of the delivery that wrote the record (`plearn timeline`): the task's kind and the worker's slot (pool thread). */
  kind?: string;
  slot?: number;
  /** When the coordinator queued it, the worker claimed it, the run started and ended, its output was stored (ISO). */
  queuedAt?: string;
  claimedAt?: string;
  startedAt?: string;
  finishedAt?: string;
  storedAt?: string;
}

/** A finished fit; where it ran (`worker`: a worker id, or "coordinator") and when, for the timeline. */
export interface FitRecord { status: 'done'; bytes: number; wallMs: number; worker?: string; startedAt?: string; finishedAt?: string; storedAt?: string }

export type JobEvent =
  | { type: 'task-progress'; jobId: string; taskId: string; done: number; total: number; worker: string }
  | { type: 'task-done'; jobId: string; taskId: string; worker: string; wallMs: number }
  | { type: 'task-retry'; jobId: string; taskId: string; worker: string; error: string; attempt: number }
  | { type: 'fit-progress'; jobId: string; fitId: string; done: number; total: number }
  | { type: 'fit-done'; jobId: string; fitId: string; wallMs: number }
  | { type: 'job'; jobId: string; status: JobStatus; experiment?: string; error?: string };

/** What `get` answers and `plearn status` shows. */
export interface JobView {
  id: string;
  experiment: string;
  status: JobStatus;
  createdAt: string;
  updatedAt: string;
  error?: string;
  failed: FailedTask[];
  tasks: { total: number; queued: number; running: number; retrying: number; done: number; failed: number };
  fits: { total: number; done: number };
  /** Tasks not yet done (at most 100), with their worker and last error. */
  pending: { taskId: string; status: TaskStatus; worker?: string; attempts: number; error?: string }[];
  wallMs?: number;
}

export const nowIso = () => new Date().toISOString();

// ---- sweeps ----------------------------------------------------------------------

export type SweepStatus = 'running' | 'completed' | 'failed' | 'cancelled';
export const SWEEP_STATUSES: readonly SweepStatus[] = ['running', 'completed', 'failed', 'cancelled'];

/** The coordinator's record of a sweep (its source, the spec text and layouts, is a blob). */
export interface SweepRecord {
  id: string;
  name: string;
  experiment: string;
  status: SweepStatus;
  createdAt: string;
  updatedAt: string;
  cells: number;
  maxActiveCells: number;
  /** Agent tasks and fits summed over all cells (reused ones included). */
  tasks: number;
  error?: string;
  wallMs?: number;
  /** As a job record's: the leader epoch of its last writer. */
  epoch?: number;
}

/** A cell of a sweep: the job that computes it, and whether that job existed before this sweep. */
export interface SweepCellRecord { jobId: string; reused: boolean }

/** Across sweeps: the job that computes a cell id (what lets a later sweep reuse it). */
export interface CellRecord { jobId: string }

export type SweepCellStatus = 'waiting' | JobStatus;

export interface SweepCellView {
  id: string;
  index: number;
  values: Record<string, string | number>;
  status: SweepCellStatus;
  jobId?: string;
  reused?: boolean;
  error?: string;
}

/** What `sweep-get` answers: the record, counts, active work, and one page of cells. */
export interface SweepView extends SweepRecord {
  counts: Record<SweepCellStatus, number>;
  /** Agent tasks and fits done and planned over the cells' jobs now running. */
  active: { jobs: number; tasksDone: number; tasksTotal: number };
  /** The blob holding the spec text and layouts (clients rebuild the cells from it). */
  source: string;
  offset: number;
  page: SweepCellView[];
}

/** What `sweep-submit` answers. */
export interface SweepSubmitted { id: string; name: string; cells: number; reused: number; toRun: number; tasks: number }

// ---- timelines -------------------------------------------------------------------

/** One task (or fit) of a job as `plearn timeline` draws it; times in ms since the epoch. */
export interface TimelineEntry {
  job: string;
  task: string;
  kind: string;
  /** A worker id, or "coordinator" for a fit the coordinator ran. */
  worker: string;
  /** The worker's slot (pool thread); -1 where unknown (the coordinator's fits). */
  slot: number;
  status: string;
  attempts: number;
  queuedAt?: number;
  claimedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  storedAt?: number;
}

/** What the `timeline` op answers: one page of a job's or a sweep's entries. */
export interface TimelinePage {
  id: string;
  of: 'job' | 'sweep';
  jobs: number;
  total: number;
  /** More entries existed than a timeline keeps (MAX_TIMELINE_ENTRIES); the earliest are kept. */
  truncated: boolean;
  offset: number;
  entries: TimelineEntry[];
}
