// The chaos suite's second half (`npm run test:chaos` runs both): coordinator
// failover and whole-cluster faults. Real nats-server, two `plearn coordinator`
// replicas (one active by leader lease, one standby) and `plearn worker`
// processes. Each seeded trial checks what the first half checks — the job
// completes, every shard once, equal to a clean run — plus its own bound:
// takeover time, a frozen leader writing nothing once resumed, shutdown times
// with NATS gone. CHAOS_OUTAGE_MS sets the NATS outage (30 s by default; the
// full run uses 120 s).

import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalPool } from '../../worker/local-pool.ts';
import type { TaskPool } from '../../worker/local-pool.ts';
import { startCutProxy } from '../support/cut-proxy.ts';
import { natsServerMissing, startNatsServer } from '../support/nats-server.ts';
import type { NatsServerHandle } from '../support/nats-server.ts';
import type { JobView } from '../../shared/protocol/records.ts';
import { eventually, timedStop } from '../support/services.ts';
import { healthDetail, reportOutcomes, Rig, runTrial as trial, TRIALS } from './rig.ts';
import type { CoordinatorHealth, Strike } from './rig.ts';

const missing = natsServerMissing();
const OUTAGE_MS = Number(process.env.CHAOS_OUTAGE_MS ?? 30_000);
/** Shutdown bounds (docs/reliability.md): the coordinator's steps plus 2 s; a worker's drain timeout (1.5 s here) plus 11.5 s. */
const BOUND_MS = { coordinator: 10_500, worker: 1500 + 11_500 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pool: TaskPool;
const runTrial = (t: TestContext, rig: Rig, fault: string, k: number, strike: Strike) => trial(t, rig, pool, fault, k, strike);

/** Every write to the state bucket while it runs, with the writer epoch its record carries (none: a worker's). */
function recordWrites(rig: Rig): { writes: { key: string; epoch: number | undefined; at: number }[]; stop(): void } {
  const writes: { key: string; epoch: number | undefined; at: number }[] = [];
  const td = new TextDecoder();
  const sub = rig.nc.subscribe('$KV.plearn-state.>', {
    callback: (err, m) => {
      if (err) return;
      let epoch: number | undefined;
      try { epoch = (JSON.parse(td.decode(m.data)) as { epoch?: number }).epoch; } catch { epoch = undefined; }
      writes.push({ key: m.subject.slice('$KV.plearn-state.'.length), epoch, at: Date.now() });
    },
  });
  return { writes, stop: () => sub.unsubscribe() };
}

describe('chaos: failover and outages', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  let rig: Rig;
  before(async () => {
    pool = createLocalPool(1);
    server = await startNatsServer();
    rig = new Rig(server.url, 1);
    await rig.start();
  });
  after(async () => {
    await rig?.stop();
    await server?.stop();
    await pool.close();
    await reportOutcomes('failover');
  });

  for (let k = 0; k < TRIALS; k++) {
    test(`kill -9 of the active coordinator with a standby running (trial ${k})`, async (t) => {
      await runTrial(t, rig, 'active coordinator kill -9, standby takes over', k, async (id) => {
        const standby = rig.startCoordinator();
        await rig.role(standby, 'standby');
        await rig.busyWorker(id);
        const active = rig.coordinator;
        const t0 = Date.now();
        active.signal('SIGKILL');
        const h = await rig.role(standby, 'active', 30_000, 20);
        const takeoverMs = Date.now() - t0;
        rig.coordinator = standby;
        return { note: `${active.name} killed; ${standby.name} active at epoch ${h.epoch} after ${takeoverMs} ms`, takeoverMs };
      });
    });
  }

  for (let k = 0; k < TRIALS; k++) {
    test(`the active coordinator frozen past its lease, then resumed: it steps down and writes nothing (trial ${k})`, async (t) => {
      await runTrial(t, rig, 'active coordinator SIGSTOP past its lease, then SIGCONT', k, async (id) => {
        const standby = rig.startCoordinator();
        await rig.role(standby, 'standby');
        await rig.busyWorker(id);
        const frozen = rig.coordinator;
        const { epoch } = await healthDetail<CoordinatorHealth>(frozen);
        const seen = recordWrites(rig);
        const t0 = Date.now();
        frozen.signal('SIGSTOP');
        const h = await rig.role(standby, 'active', 30_000, 20);
        const takeoverMs = Date.now() - t0;
        const takenAt = Date.now();
        await sleep(1000);
        frozen.signal('SIGCONT');
        await rig.role(frozen, 'standby', 10_000);
        // Whatever the resumed process had in flight gets its chance to write.
        await sleep(2000);
        seen.stop();
        const stale = seen.writes.filter((w) => w.epoch !== undefined && w.epoch <= epoch && w.at > takenAt);
        assert.deepEqual(stale, [], `the former leader (epoch ${epoch}) wrote nothing after the takeover`);
        assert.ok(seen.writes.some((w) => w.epoch === h.epoch), 'the new leader did write under its epoch');
        assert.match(frozen.log(), /steps down to standby/);
        const { code } = await timedStop(frozen);
        assert.equal(code, 0, frozen.log().slice(-1500));
        rig.coordinator = standby;
        return { note: `${frozen.name} (epoch ${epoch}) frozen; ${standby.name} active at epoch ${h.epoch}; resumed one stepped down`, takeoverMs };
      });
    });
  }

  for (let k = 0; k < TRIALS; k++) {
    test(`nats-server down for ${OUTAGE_MS / 1000} s mid-job, then back (trial ${k})`, async (t) => {
      await runTrial(t, rig, `nats-server down ${OUTAGE_MS / 1000} s mid-job`, k, async (id) => {
        await rig.busyWorker(id);
        await server.down();
        await sleep(OUTAGE_MS);
        await server.restart();
        return `nats-server stopped for ${OUTAGE_MS / 1000} s, restarted on the same store`;
      });
    });
  }

  for (let k = 0; k < TRIALS; k++) {
    test(`SIGTERM to every service while nats-server is down: each exits within its bound; restarted, the job completes (trial ${k})`, async (t) => {
      await runTrial(t, rig, 'SIGTERM to every service during a NATS outage', k, async (id) => {
        await rig.busyWorker(id);
        await server.down();
        await sleep(1000);
        const stopped = await Promise.all([...rig.liveCoordinators(), ...rig.live()].map(timedStop));
        for (const { s, code, ms } of stopped) {
          const bound = rig.coordinators.includes(s) ? BOUND_MS.coordinator : BOUND_MS.worker;
          assert.ok(ms < bound, `${s.name} took ${ms} ms (bound ${bound} ms)`);
          assert.equal(code, 1, `${s.name} exits 1 (not cleanly):\n${s.log().slice(-1500)}`);
          assert.match(s.log().trim().split('\n').pop() ?? '', /"msg":"stopped; not cleanly: .*drain the NATS connection"/);
        }
        await server.restart();
        rig.coordinator = rig.startCoordinator();
        rig.startWorker();
        rig.startWorker();
        const shutdownMs = Math.max(...stopped.map((x) => x.ms));
        const times = stopped.map((x) => `${x.s.name} ${x.ms} ms`).join(', ');
        return { note: `stopped with NATS down: ${times}; cluster restarted`, shutdownMs };
      });
    });
  }

  for (let k = 0; k < TRIALS; k++) {
    test(`a task over its worker's memory budget: dead-lettered with the reason, the workers go on (trial ${k})`, async (t) => {
      // Workers with a 256 MiB budget per task; a MountainCar oracle on a 2000² grid needs about 400 MiB.
      await Promise.all(rig.live().map(timedStop));
      rig.startWorker(undefined, ['--task-memory-mb', '256']);
      rig.startWorker(undefined, ['--task-memory-mb', '256']);
      await eventually('two budgeted workers', async () => ((await rig.workerStats()).length === 2 ? true : undefined), 60_000, 200);
      const before = rig.live().map((w) => w.name);
      await runTrial(t, rig, 'task over its memory budget (beside a normal job)', k, async () => {
        const big = { experiment: 'mountaincar', options: { agent: 'oracle', grid: 2000, goalsPerAgent: 1, seeds: 1, seed: k } };
        const { id } = await rig.api<{ id: string }>('submit', big);
        const view = await eventually('the oversized job to fail', async () => {
          const v = (await rig.api<{ job: JobView }>('get', { id })).job;
          return v.status === 'failed' || v.status === 'completed' ? v : undefined;
        }, 120_000, 250);
        assert.equal(view.status, 'failed');
        assert.match(view.error ?? '', /after 5 deliveries: over its memory budget: needs about \d+\.\d MiB of arrays \(grid transitions/);
        assert.deepEqual(rig.live().map((w) => w.name), before, 'no worker process died');
        return `oversized job ${id} failed: ${(view.error ?? '').slice(0, 120)}`;
      });
    });
  }

  for (let k = 0; k < TRIALS; k++) {
    test(`a worker's artifact upload cut half-way (trial ${k})`, async (t) => {
      // Only the worker behind the proxy runs this trial's tasks.
      await Promise.all(rig.live().map(timedStop));
      const proxy = await startCutProxy(server.port, '$O.plearn-artifacts.C.');
      const victim = rig.startWorker(proxy.url);
      await eventually('the proxied worker registered', async () => ((await rig.workerStats()).some((w) => w.id === victim.name) ? true : undefined), 60_000, 200);
      try {
        await runTrial(t, rig, 'artifact upload cut half-way', k, async () => {
          await eventually('the upload to be cut', async () => (proxy.cuts() > 0 ? true : undefined), 120_000, 50);
          return `${victim.name}'s connection cut in the middle of an artifact chunk`;
        });
        assert.match(victim.log(), /store operation failed; retrying/, 'the upload was retried');
      } finally {
        rig.startWorker();
        rig.startWorker();
        await timedStop(victim);
        await proxy.close();
      }
    });
  }
});
