// Prometheus metrics of the coordinator process (prom-client), on its health port
// at /metrics. Job counts come from the job events it publishes itself (the
// same events `plearn submit --watch` follows), the rest from small hooks; labels
// are bounded sets (experiment, status, API op and reply code, dead-letter reason).

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { EXPERIMENTS } from '../shared/experiments/jobs.ts';
import { decodeJson } from '../shared/protocol/codec.ts';
import type { JobEvent } from '../shared/protocol/records.ts';
import { TERMINAL } from '../shared/protocol/records.ts';
import { ALL_EVENTS } from '../shared/protocol/subjects.ts';
import type { EventBus } from '../shared/transport/transport.ts';
import { LOST_NOTICE, MALFORMED_REASON, MAX_DELIVERIES_REASON } from '../shared/transport/transport.ts';

const experimentLabel = (e: string | undefined) => (e !== undefined && (EXPERIMENTS as readonly string[]).includes(e) ? e : 'other');

/** Dead-letter reasons as labels: the queue's own, the lost-notice rule's, or the malformed-task prefix. */
function reasonLabel(reason: string | undefined): string {
  if (reason === undefined) return 'unknown';
  if (reason === MAX_DELIVERIES_REASON) return 'max_deliveries';
  if (reason.startsWith(LOST_NOTICE)) return 'advisory_lost';
  if (reason.startsWith(MALFORMED_REASON)) return 'malformed';
  return 'other';
}

const DURATION_BUCKETS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000, 10_000];
const API_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export interface CoordinatorRegistry {
  readonly registry: Registry;
  /** The engine's hook. */
  deadLettered(reason: string | undefined): void;
  /** One API request answered: its op, reply code ("ok" or the error code) and time. */
  apiRequest(op: string, code: string, seconds: number): void;
  reconnected(): void;
  /** Gauges read at scrape time; `leader` is 1 on the active replica, 0 on a standby. */
  watch(active: { jobs: () => number; sweeps: () => number; leader: () => number }): void;
  /**
   * Count job submissions, endings and fit times from the event bus while `counting()`
   * (the active replica only, so that sums over coordinator pods count each once).
   */
  followEvents(events: EventBus, counting?: () => boolean): () => void;
}

export function createCoordinatorRegistry(ops: readonly string[]): CoordinatorRegistry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'plearn-coordinator' });
  collectDefaultMetrics({ register: registry });
  const submitted = new Counter({ name: 'plearn_jobs_submitted_total', help: 'Jobs accepted, by experiment', labelNames: ['experiment'], registers: [registry] });
  const finished = new Counter({
    name: 'plearn_jobs_finished_total', help: 'Jobs that ended, by experiment and final status', labelNames: ['experiment', 'status'], registers: [registry],
  });
  const dead = new Counter({ name: 'plearn_tasks_dead_lettered_total', help: 'Tasks dead-lettered, by reason', labelNames: ['reason'], registers: [registry] });
  const fits = new Histogram({
    name: 'plearn_fit_seconds', help: 'Wall time of world-model fits (wherever they ran)', buckets: DURATION_BUCKETS, registers: [registry],
  });
  const requests = new Counter({
    name: 'plearn_api_requests_total', help: 'Job API requests answered, by operation and reply code', labelNames: ['op', 'code'], registers: [registry],
  });
  const latency = new Histogram({
    name: 'plearn_api_request_seconds', help: 'Time to answer a job API request', labelNames: ['op'], buckets: API_BUCKETS, registers: [registry],
  });
  const reconnects = new Counter({ name: 'plearn_nats_reconnects_total', help: 'Reconnections to the NATS server', registers: [registry] });
  const opLabel = (op: string) => (ops.includes(op) ? op : 'unknown');
  return {
    registry,
    deadLettered: (reason) => dead.inc({ reason: reasonLabel(reason) }),
    apiRequest: (op, code, seconds) => {
      requests.inc({ op: opLabel(op), code });
      latency.observe({ op: opLabel(op) }, seconds);
    },
    reconnected: () => reconnects.inc(),
    watch: (active) => {
      new Gauge({ name: 'plearn_jobs_active', help: 'Jobs not yet completed, failed or cancelled', registers: [registry], collect() { this.set(active.jobs()); } });
      new Gauge({ name: 'plearn_sweeps_active', help: 'Sweeps still running', registers: [registry], collect() { this.set(active.sweeps()); } });
      new Gauge({
        name: 'plearn_coordinator_leader', help: '1 on the active coordinator replica (it holds the leader lease), 0 on a standby', registers: [registry],
        collect() { this.set(active.leader()); },
      });
    },
    followEvents: (events, counting = () => true) => events.subscribe(ALL_EVENTS, (_s, data) => {
      if (!counting()) return;
      let ev: JobEvent;
      try {
        ev = decodeJson(data) as JobEvent;
      } catch {
        return;
      }
      if (ev?.type === 'job') {
        if (ev.status === 'running') submitted.inc({ experiment: experimentLabel(ev.experiment) });
        else if (TERMINAL.includes(ev.status)) finished.inc({ experiment: experimentLabel(ev.experiment), status: ev.status });
      } else if (ev?.type === 'fit-done' && typeof ev.wallMs === 'number' && ev.wallMs >= 0) {
        fits.observe(ev.wallMs / 1000);
      }
    }),
  };
}
