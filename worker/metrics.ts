// Prometheus metrics of a worker process (prom-client), served on its health port
// at /metrics. Names follow Prometheus conventions: a `plearn_` prefix, base units
// (seconds, bytes), `_total` on counters, and small fixed label sets — a task's
// kind and outcome, never a job or task id, so the series count does not grow with
// the work done.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Where a task ended: ran and stored, failed (retried), skipped (already done or its job over), malformed, stopped at its deadline. */
export type TaskOutcome = 'done' | 'failed' | 'skipped' | 'malformed' | 'deadline' | 'cancelled';

/** What the worker loop reports; the service wires a Prometheus implementation, tests and `plearn run` none. */
export interface WorkerMetrics {
  /** A task was claimed; `queuedMs` is how long it waited since it was queued, when known. */
  claimed(kind: string, queuedMs: number | undefined): void;
  finished(kind: string, outcome: TaskOutcome, runMs?: number): void;
  stored(kind: string, seconds: number, bytes: number): void;
  artifactRead(seconds: number, bytes: number): void;
}

/** Task kinds as labels: the agent kinds and `fit`; anything else (a forged payload) is `other`. */
const KINDS = new Set(['tabular-agent', 'continuous-oracle', 'continuous-pqn', 'fit']);
const kindLabel = (k: string) => (KINDS.has(k) ? k : 'other');

/** Exponential buckets from 10 ms to about 3 h: a FourRooms oracle agent to a paper-preset PQN agent. */
const DURATION_BUCKETS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10_000];

export interface WorkerRegistry {
  readonly registry: Registry;
  readonly metrics: WorkerMetrics;
  /** Gauges read at scrape time: slots and how many hold a task. */
  watchSlots(slots: number, busy: () => number): void;
  /** Count a NATS reconnect. */
  reconnected(): void;
}

export function createWorkerRegistry(workerId: string): WorkerRegistry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'plearn-worker' });
  collectDefaultMetrics({ register: registry });
  const tasks = new Counter({
    name: 'plearn_worker_tasks_total', help: 'Tasks this worker ended, by kind and outcome', labelNames: ['kind', 'outcome'], registers: [registry],
  });
  const claimed = new Counter({ name: 'plearn_worker_tasks_claimed_total', help: 'Tasks this worker claimed, by kind', labelNames: ['kind'], registers: [registry] });
  const wait = new Histogram({
    name: 'plearn_worker_queue_wait_seconds', help: 'Time from a task being queued to this worker claiming it', labelNames: ['kind'],
    buckets: DURATION_BUCKETS, registers: [registry],
  });
  const run = new Histogram({
    name: 'plearn_worker_task_run_seconds', help: 'Run time of tasks that completed, by kind', labelNames: ['kind'],
    buckets: DURATION_BUCKETS, registers: [registry],
  });
  const upload = new Histogram({
    name: 'plearn_worker_artifact_upload_seconds', help: 'Time to store a task\'s output in the Object Store', labelNames: ['kind'],
    buckets: DURATION_BUCKETS, registers: [registry],
  });
  const uploadBytes = new Counter({
    name: 'plearn_worker_artifact_upload_bytes_total', help: 'Bytes of task outputs stored', labelNames: ['kind'], registers: [registry],
  });
  const download = new Histogram({
    name: 'plearn_worker_artifact_download_seconds', help: 'Time to read one agent artifact for a fit', buckets: DURATION_BUCKETS, registers: [registry],
  });
  const downloadBytes = new Counter({ name: 'plearn_worker_artifact_download_bytes_total', help: 'Bytes of agent artifacts read for fits', registers: [registry] });
  const reconnects = new Counter({ name: 'plearn_nats_reconnects_total', help: 'Reconnections to the NATS server', registers: [registry] });
  const info = new Gauge({ name: 'plearn_worker_info', help: 'Always 1; the worker id as a label', labelNames: ['worker'], registers: [registry] });
  info.set({ worker: workerId }, 1);
  return {
    registry,
    metrics: {
      claimed: (kind, queuedMs) => {
        claimed.inc({ kind: kindLabel(kind) });
        if (queuedMs !== undefined && Number.isFinite(queuedMs) && queuedMs >= 0) wait.observe({ kind: kindLabel(kind) }, queuedMs / 1000);
      },
      finished: (kind, outcome, runMs) => {
        tasks.inc({ kind: kindLabel(kind), outcome });
        if (outcome === 'done' && runMs !== undefined) run.observe({ kind: kindLabel(kind) }, runMs / 1000);
      },
      stored: (kind, seconds, bytes) => {
        upload.observe({ kind: kindLabel(kind) }, seconds);
        uploadBytes.inc({ kind: kindLabel(kind) }, bytes);
      },
      artifactRead: (seconds, bytes) => {
        download.observe(seconds);
        downloadBytes.inc(bytes);
      },
    },
    watchSlots: (slots, busy) => {
      new Gauge({ name: 'plearn_worker_slots', help: 'Tasks this worker can hold at once (pool threads)', registers: [registry] }).set(slots);
      new Gauge({
        name: 'plearn_worker_busy_slots', help: 'Slots holding a task now', registers: [registry],
        collect() { this.set(busy()); },
      });
    },
    reconnected: () => reconnects.inc(),
  };
}
