// The chaos suite (`npm run test:chaos`; CHAOS_TRIALS=N trials per fault, default 2):
// real nats-server processes, a `plearn coordinator` process and `plearn worker`
// processes; in each seeded trial a job runs while one fault strikes mid-job.
// Every trial checks: the job completes, every shard's result is counted exactly
// once, and the results equal a clean in-process run of the same spec.

import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { createLocalPool } from '../../worker/local-pool.ts';
import type { TaskPool } from '../../worker/local-pool.ts';
import { natsServerMissing, startNatsServer } from '../support/nats-server.ts';
import type { NatsServerHandle } from '../support/nats-server.ts';
import { startNatsCluster } from '../support/nats-cluster.ts';
import type { NatsCluster } from '../support/nats-cluster.ts';
import { eventually } from '../support/services.ts';
import { reportOutcomes, Rig, runTrial as trial, TRIALS } from './rig.ts';
import type { Strike } from './rig.ts';

const missing = natsServerMissing();
let pool: TaskPool;
const runTrial = (t: TestContext, rig: Rig, fault: string, k: number, strike: Strike) => trial(t, rig, pool, fault, k, strike);

describe('chaos', { skip: missing ?? false }, () => {
  before(() => { pool = createLocalPool(1); });
  after(async () => {
    await pool.close();
    await reportOutcomes('restarts');
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
          rig.coordinator = rig.startCoordinator();
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
