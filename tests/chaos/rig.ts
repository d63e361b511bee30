// What the chaos suites share: a small cluster of real plearn processes against a
// real nats-server (the Rig), the seeded trial that submits a job, strikes, and
// checks the result against a clean in-process run, and the summary table.

import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { discover, requestJson } from '../../coordinator/nats/services.ts';
import { createNatsTransport } from '../../coordinator/nats/transport.ts';
import { runJobLocal } from '../../coordinator/local-run.ts';
import type { FourRoomsResult, JobSpec } from '../../shared/experiments/jobs.ts';
import { decodeJson } from '../../shared/protocol/codec.ts';
import type { JobView } from '../../shared/protocol/records.ts';
import type { TaskPool } from '../../worker/local-pool.ts';
import type { WorkerStats } from '../../worker/service.ts';
import { eventually, startService, stopAll } from '../support/services.ts';
import type { Service } from '../support/services.ts';

export const TRIALS = Number(process.env.CHAOS_TRIALS ?? 2);
export const SHARDS = 4;
/** Leader lease TTL of the rig's coordinators. */
export const LEADER_TTL_MS = 3000;

/** Each trial's job: 4 one-goal Q-learning agents of ~1 s each, a closed-form fit. */
export const specFor = (seed: number): JobSpec => ({
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 6_000_000, goals: SHARDS, goalsPerAgent: 1, reward: 'generic', fit: 'closed', support: 'full', seed },
});

export interface TrialOutcome {
  fault: string; trial: number; completed: boolean; lost: number; duplicated: number; equal: boolean; wallMs: number; note: string;
  /** Standby takeovers: from the strike until the standby reported itself active. */
  takeoverMs?: number;
  /** Shutdowns: the slowest service's time from SIGTERM to exit. */
  shutdownMs?: number;
}
export const outcomes: TrialOutcome[] = [];

const cleanCache = new Map<number, FourRoomsResult>();
async function clean(pool: TaskPool, seed: number): Promise<FourRoomsResult> {
  let r = cleanCache.get(seed);
  if (!r) {
    r = (await runJobLocal(specFor(seed), { pool, log: pino({ level: 'silent' }) })).result as FourRoomsResult;
    cleanCache.set(seed, r);
  }
  return r;
}

/** A service's /readyz detail (the port comes from its "ready" log line). */
export async function healthDetail<T>(s: Service): Promise<T> {
  const port = Number(/"healthPort":(\d+)/.exec(s.log())?.[1]);
  if (!(port > 0)) throw new Error(`${s.name} has not logged its health port yet`);
  const body = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { detail: T };
  return body.detail;
}

export interface CoordinatorHealth { id: string; role: 'active' | 'standby'; epoch: number }

/** A small cluster of plearn processes against `urls`, with helpers to hurt it. */
export class Rig {
  coordinator!: Service;
  readonly coordinators: Service[] = [];
  readonly workers: Service[] = [];
  private n = 0;
  private c = 0;
  nc!: NatsConnection;
  constructor(private readonly urls: string, private readonly replicas: number) {}

  async start(): Promise<void> {
    this.nc = await connect({ servers: this.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    this.coordinator = this.startCoordinator();
    this.startWorker();
    this.startWorker();
    await eventually('two workers registered', async () => ((await this.workerStats()).length === 2 ? true : undefined), 60_000, 300);
  }

  /** One more coordinator replica (the first is active; later ones wait as standbys). */
  startCoordinator(): Service {
    const id = `cc${++this.c}`;
    const s = startService(id, ['coordinator', '--nats', this.urls, '--id', id, '--replicas', String(this.replicas),
      '--lease-ms', '3000', '--leader-ttl-ms', String(LEADER_TTL_MS), '--reconcile-ms', '500', '--health-port', '0', '--threads', '1',
      '--log-level', 'info']);
    this.coordinators.push(s);
    return s;
  }

  /** A worker; `urls` overrides the server it connects to (a proxy in front of it). */
  startWorker(urls = this.urls, extra: string[] = []): Service {
    const id = `cw${++this.n}`;
    const w = startService(id, ['worker', '--nats', urls, '--threads', '1', '--id', id, '--health-port', '0',
      '--drain-timeout-ms', '1500', '--log-level', 'info', ...extra]);
    this.workers.push(w);
    return w;
  }

  live(): Service[] {
    return this.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
  }

  liveCoordinators(): Service[] {
    return this.coordinators.filter((s) => s.child.exitCode === null && s.child.signalCode === null);
  }

  async workerStats(): Promise<WorkerStats[]> {
    return (await discover(this.nc, 'plearn-worker', 800)).map((d) => d.data as WorkerStats);
  }

  async api<T>(op: string, body: unknown): Promise<T> {
    const r = (await requestJson(this.nc, `plearn.api.${op}`, body, 5000)) as T & { error?: { message: string } };
    if (r.error) throw new Error(r.error.message);
    return r;
  }

  /** Resolve with a live worker holding a task of `jobId` (by its service id). */
  async busyWorker(jobId: string): Promise<Service> {
    const stats = await eventually('a worker busy with the job', async () => {
      const rows = await this.workerStats();
      return rows.find((r) => r.current.some((c) => c.jobId === jobId));
    }, 60_000, 100);
    const w = this.live().find((s) => s.name === stats.id);
    assert.ok(w, `busy worker ${stats.id} is one of ours`);
    return w;
  }

  /** Wait until `s` reports `role` on its health endpoint; resolves with its health. */
  async role(s: Service, role: CoordinatorHealth['role'], timeoutMs = 30_000, everyMs = 50): Promise<CoordinatorHealth> {
    return eventually(`${s.name} ${role}`, async () => {
      const h = await healthDetail<CoordinatorHealth>(s);
      return h.role === role ? h : undefined;
    }, timeoutMs, everyMs);
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => undefined);
    await stopAll([...this.coordinators, ...this.workers]);
  }
}

/** What a trial does to the cluster once its job runs; says what it did (and how long a takeover or shutdown took). */
export type Strike = (jobId: string) => Promise<string | { note: string; takeoverMs?: number; shutdownMs?: number }>;

/** Submit a job, strike, and check the outcome: completed, each shard once, equal to the clean run. */
export async function runTrial(t: TestContext, rig: Rig, pool: TaskPool, fault: string, trial: number, strike: Strike): Promise<void> {
  const seed = 7919 * (trial + 1) + fault.length;
  const reference = await clean(pool, seed);
  const t0 = Date.now();
  const { id } = await eventually('the submission', () => rig.api<{ id: string }>('submit', specFor(seed)), 60_000, 500);
  const struck = await strike(id);
  const { note, ...timing } = typeof struck === 'string' ? { note: struck } : struck;
  const view = await eventually(`job ${id} to finish`, async () => {
    const v = (await rig.api<{ job: JobView }>('get', { id })).job;
    return v.status === 'completed' || v.status === 'failed' || v.status === 'cancelled' ? v : undefined;
  }, 240_000, 500);
  const wallMs = Date.now() - t0;
  let lost = SHARDS;
  let duplicated = 0;
  let equal = false;
  if (view.status === 'completed') {
    // Right after a fault the JetStream API may still be electing leaders: retry the reads.
    const res = await eventually('the result', async () => {
      const transport = await createNatsTransport(rig.nc);
      try {
        const info = await rig.api<{ blob: string }>('result', { id });
        const bytes = await transport.blobs.get(info.blob);
        return bytes ? (decodeJson(bytes) as FourRoomsResult) : undefined;
      } finally {
        await transport.close();
      }
    }, 60_000, 500);
    const shards = res.seeds[0].agents.map((a) => a.shardIndex);
    lost = [...Array(SHARDS).keys()].filter((k) => !shards.includes(k)).length;
    duplicated = shards.length - new Set(shards).size;
    const strip = (r: FourRoomsResult) => JSON.stringify(r.seeds.map((s) => ({ ...s, agents: s.agents.map((a) => ({ ...a, wallMs: 0 })) })));
    equal = strip(res) === strip(reference);
  }
  const o: TrialOutcome = { fault, trial, completed: view.status === 'completed', lost, duplicated, equal, wallMs, note, ...timing };
  outcomes.push(o);
  t.diagnostic(`${fault} #${trial}: ${view.status}, lost ${lost}, duplicated ${duplicated}, equal ${equal}, ${(wallMs / 1000).toFixed(1)} s (${note})`);
  assert.equal(view.status, 'completed', `${fault} #${trial}: ${view.error ?? ''}`);
  assert.equal(lost, 0);
  assert.equal(duplicated, 0);
  assert.ok(equal, 'results equal the clean run');
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Print the suite's table (and write it where CHAOS_REPORT says, with the suite's name before `.json`). */
export async function reportOutcomes(suite: string): Promise<void> {
  const faults = [...new Set(outcomes.map((o) => o.fault))];
  const summary = faults.map((f) => {
    const os = outcomes.filter((o) => o.fault === f);
    const take = os.flatMap((o) => (o.takeoverMs === undefined ? [] : [o.takeoverMs]));
    const down = os.flatMap((o) => (o.shutdownMs === undefined ? [] : [o.shutdownMs]));
    return {
      fault: f, trials: os.length, completed: os.filter((o) => o.completed).length,
      shardsLost: os.reduce((a, o) => a + o.lost, 0), shardsDuplicated: os.reduce((a, o) => a + o.duplicated, 0),
      equalToClean: os.filter((o) => o.equal).length, wallSec: Number((os.reduce((a, o) => a + o.wallMs, 0) / 1000).toFixed(1)),
      ...(take.length ? { takeoverMsP50: quantile(take, 0.5), takeoverMsMax: Math.max(...take) } : {}),
      ...(down.length ? { shutdownMsMax: Math.max(...down) } : {}),
    };
  });
  process.stdout.write(`# chaos summary (${suite}) ${JSON.stringify(summary)}\n`);
  const file = process.env.CHAOS_REPORT;
  if (file) await writeFile(file.replace(/(\.json)?$/, `.${suite}.json`), JSON.stringify({ summary, outcomes }, null, 2));
}
