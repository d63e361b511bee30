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
}

export type TaskStatus = 'queued' | 'running' | 'retrying' | 'done' | 'failed';

export interface TaskRecord {
  status: TaskStatus;
  attempts: number;
  updatedAt: string;
  worker?: string;
  error?: string;
  wallMs?: number;
  artifactBytes?: number;
}

export interface FitRecord { status: 'done'; bytes: number; wallMs: number }

export type JobEvent =
  | { type: 'task-progress'; jobId: string; taskId: string; done: number; total: number; worker: string }
  | { type: 'task-done'; jobId: string; taskId: string; worker: string; wallMs: number }
  | { type: 'task-retry'; jobId: string; taskId: string; worker: string; error: string; attempt: number }
  | { type: 'fit-progress'; jobId: string; fitId: string; done: number; total: number }
  | { type: 'fit-done'; jobId: string; fitId: string; wallMs: number }
  | { type: 'job'; jobId: string; status: JobStatus; error?: string };

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
