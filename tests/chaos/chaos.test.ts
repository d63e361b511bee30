// The chaos suite (`npm run test:chaos`; CHAOS_TRIALS=N trials per fault, default 2):
// real nats-server processes, a `plearn coordinator` process and `plearn worker`
// processes; in each seeded trial a job runs while one fault strikes mid-job.
// Every trial checks: the job completes, every shard's result is counted exactly
// once, and the results equal a clean in-process run of the same spec.

import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { discover, requestJson } from '../../coordinator/nats/services.ts';
import { createNatsTransport } from '../../coordinator/nats/transport.ts';
import { runJobLocal } from '../../coordinator/local-run.ts';
import type { FourRoomsResult, JobSpec } from '../../shared/experiments/jobs.ts';
import { decodeJson } from '../../shared/protocol/codec.ts';
import type { JobView } from '../../shared/protocol/records.ts';
import { createLocalPool } from '../../worker/local-pool.ts';
import type { TaskPool } from '../../worker/local-pool.ts';
import type { WorkerStats } from '../../worker/service.ts';
import { natsServerMissing, startNatsServer } from '../support/nats-server.ts';
import type { NatsServerHandle } from '../support/nats-server.ts';
import { startNatsCluster } from '../support/nats-cluster.ts';
import type { NatsCluster } from '../support/nats-cluster.ts';
import { eventually, startService, stopAll } from '../support/services.ts';
import type { Service } from '../support/services.ts';

const TRIALS = Number(process.env.CHAOS_TRIALS ?? 2);
const SHARDS = 4;
const missing = natsServerMissing();

/** Each trial's job: 4 one-goal Q-learning agents of ~1 s each, a closed-form fit. */
const specFor = (seed: number): JobSpec => ({
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 6_000_000, goals: SHARDS, goalsPerAgent: 1, reward: 'generic', fit: 'closed', support: 'full', seed },
});

interface TrialOutcome { fault: string; trial: number; completed: boolean; lost: number; duplicated: number; equal: boolean; wallMs: number; note: string }
const outcomes: TrialOutcome[] = [];

let pool: TaskPool;
const cleanCache = new Map<number, FourRoomsResult>();
async function clean(seed: number): Promise<FourRoomsResult> {
  let r = cleanCache.get(seed);
  if (!r) {
    r = (await runJobLocal(specFor(seed), { pool, log: pino({ level: 'silent' }) })).result as FourRoomsResult;
    cleanCache.set(seed, r);
  }
  return r;
}

/** A small cluster of plearn processes against `urls`, with helpers to hurt it. */
class Rig {
  coordinator!: Service;
  readonly workers: Service[] = [];
  private n = 0;
  nc!: NatsConnection;
  constructor(private readonly urls: string, private readonly replicas: number) {}

  async start(): Promise<void> {
    this.nc = await connect({ servers: this.urls.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    this.startCoordinator();
    this.startWorker();
    this.startWorker();
    await eventually('two workers registered', async () => ((await this.workerStats()).length === 2 ? true : undefined), 60_000, 300);
  }

  startCoordinator(): void {
    this.coordinator = startService('coordinator', ['coordinator', '--nats', this.urls, '--replicas', String(this.replicas),
      '--lease-ms', '3000', '--reconcile-ms', '500', '--health-port', '0', '--threads', '1', '--log-level', 'info']);
  }

  startWorker(): Service {
    const id = `cw${++this.n}`;
    const w = startService(id, ['worker', '--nats', this.urls, '--threads', '1', '--id', id, '--health-port', '0',
      '--drain-timeout-ms', '1500', '--log-level', 'info']);
    this.workers.push(w);
    return w;
  }

  live(): Service[] {
    return this.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
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

  async stop(): Promise<void> {
    await this.nc.close().catch(() => undefined);
    await stopAll([this.coordinator, ...this.workers]);
  }
}

async function runTrial(t: TestContext, rig: Rig, fault: string, trial: number, strike: (jobId: string) => Promise<string>): Promise<void> {
  const seed = 7919 * (trial + 1) + fault.length;
  const reference = await clean(seed);
  const t0 = Date.now();
  const { id } = await eventually('the submission', () => rig.api<{ id: string }>('submit', specFor(seed)), 60_000, 500);
  const note = await strike(id);
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
    equal = JSON.stringify(res.seeds.map((s) => ({ ...s, agents: s.agents.map((a) => ({ ...a, wallMs: 0 })) })))
      === JSON.stringify(reference.seeds.map((s) => ({ ...s, agents: s.agents.map((a) => ({ ...a, wallMs: 0 })) })));
  }
  const o: TrialOutcome = { fault, trial, completed: view.status === 'completed', lost, duplicated, equal, wallMs, note };
  outcomes.push(o);
  t.diagnostic(`${fault} #${trial}: ${view.status}, lost ${lost}, duplicated ${duplicated}, equal ${equal}, ${(wallMs / 1000).toFixed(1)} s (${note})`);
  assert.equal(view.status, 'completed', `${fault} #${trial}: ${view.error ?? ''}`);
  assert.equal(lost, 0);
  assert.equal(duplicated, 0);
  assert.ok(equal, 'results equal the clean run');
}

describe('chaos', { skip: missing ?? false }, () => {
  before(() => { pool = createLocalPool(1); });
  after(async () => {
    await pool.close();
    const faults = [...new Set(outcomes.map((o) => o.fault))];
    const summary = faults.map((f) => {
      const os = outcomes.filter((o) => o.fault === f);
      return {
        fault: f, trials: os.length, completed: os.filter((o) => o.completed).length,
        shardsLost: os.reduce((a, o) => a + o.lost, 0), shardsDuplicated: os.reduce((a, o) => a + o.duplicated, 0),
        equalToClean: os.filter((o) => o.equal).length, wallSec: Number((os.reduce((a, o) => a + o.wallMs, 0) / 1000).toFixed(1)),
      };
    });
    process.stdout.write(`# chaos summary ${JSON.stringify(summary)}\n`);
    if (process.env.CHAOS_REPORT) await writeFile(process.env.CHAOS_REPORT, JSON.stringify({ summary, outcomes }, null, 2));
  });

  describe('single nats-server (file storage)', () => {
    let server: NatsServerHandle;
    let rig: Rig;
    before(async () => {
      server = await startNatsServer();
      rig = new Rig(server.url, 1);
      await rig.start();
    });
    after(async () => { await rig?.stop(); await server?.stop(); });

    for (let k = 0; k < TRIALS; k++) {
      test(`kill -9 of a worker mid-task (trial ${k})`, async (t) => {
        await runTrial(t, rig, 'worker kill -9', k, async (id) => {
          const w = await rig.busyWorker(id);
          w.signal('SIGKILL');
          await w.exited;
          rig.startWorker();
          return `killed ${w.name}`;
        });
      });
    }
    for (let k = 0; k < TRIALS; k++) {
      test(`SIGTERM of a worker mid-task: it drains (trial ${k})`, async (t) => {
        await runTrial(t, rig, 'worker SIGTERM', k, async (id) => {
          const w = await rig.busyWorker(id);
          w.signal('SIGTERM');
          const code = await w.exited;
          assert.equal(code, 0, `a drained worker exits 0:\n${w.log().slice(-1500)}`);
          rig.startWorker();
          return `${w.name} drained, exit ${code}`;
        });
      });
    }
    for (let k = 0; k < TRIALS; k++) {
      test(`restart of the coordinator mid-job (trial ${k})`, async (t) => {
        await runTrial(t, rig, 'coordinator restart', k, async (id) => {
          await rig.busyWorker(id);
          rig.coordinator.signal('SIGKILL');
          await rig.coordinator.exited;
          rig.startCoordinator();
          return 'coordinator killed and restarted';
        });
      });
    }
    for (let k = 0; k < TRIALS; k++) {
      test(`restart of nats-server mid-job (trial ${k})`, async (t) => {
        await runTrial(t, rig, 'nats-server restart', k, async (id) => {
          await rig.busyWorker(id);
          await server.restart();
          return 'nats-server stopped and started on the same store';
        });
      });
    }
  });

  describe('three-node NATS cluster, replicas 3', () => {
    let cluster: NatsCluster;
    let rig: Rig;
    before(async () => {
      cluster = await startNatsCluster(3);
      rig = new Rig(cluster.urls, 3);
      await rig.start();
    });
    after(async () => { await rig?.stop(); await cluster?.stop(); });

    for (let k = 0; k < TRIALS; k++) {
      test(`losing one node mid-job (trial ${k})`, async (t) => {
        const node = cluster.nodes[k % cluster.nodes.length];
        await runTrial(t, rig, 'cluster node loss', k, async (id) => {
          await rig.busyWorker(id);
          await node.kill();
          return `killed node ${node.name}`;
        });
        await node.start();
        // Let the node rejoin and every replica catch up before the next trial takes another one away.
        await eventually('all replicas current again', async () => {
          const jsm = await jetstreamManager(rig.nc);
          for (const name of ['PLEARN_TASKS', 'PLEARN_DLQ', 'KV_plearn-state', 'OBJ_plearn-artifacts']) {
            const c = (await jsm.streams.info(name)).cluster;
            const replicas = c?.replicas ?? [];
            if (replicas.length !== 2 || !replicas.every((r) => r.current && !r.offline)) return undefined;
          }
          return true;
        }, 60_000, 500);
      });
    }
  });
});
