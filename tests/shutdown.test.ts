// Bounded shutdown of the services, as Kubernetes stops them: SIGTERM with NATS
// up ends each service cleanly (exit 0, last line "stopped"); SIGTERM while the
// NATS server is gone still ends each one well inside the chart's grace period
// (exit 1, the last lines naming what could not be done and why), never with an
// empty `plearn: failed:`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { discover } from '../coordinator/nats/services.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { eventually, startService, stopAll, timedStop } from './support/services.ts';
import type { Service } from './support/services.ts';

const missing = natsServerMissing();
const DRAIN_MS = 2000;

interface LogLine { msg?: string; exitCode?: number; step?: string; error?: string; hint?: string }

function lastLines(s: Service, n: number): LogLine[] {
  return s.log().trim().split('\n').slice(-n).map((l) => {
    try {
      return JSON.parse(l) as LogLine;
    } catch {
      return { msg: l };
    }
  });
}

describe('bounded shutdown', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  const services: Service[] = [];

  const start = async () => {
    const nats = ['--nats', server.url];
    const coordinator = startService('coordinator', ['coordinator', ...nats, '--threads', '1', '--health-port', '0', '--log-level', 'info']);
    const worker = startService('worker', ['worker', ...nats, '--threads', '1', '--id', 'w1', '--health-port', '0',
      '--drain-timeout-ms', String(DRAIN_MS), '--log-level', 'info']);
    services.push(coordinator, worker);
    const nc = await connect({ servers: server.url });
    try {
      await eventually('the worker to register', async () => ((await discover(nc, 'plearn-worker', 500)).length === 1 ? true : undefined), 60_000, 300);
      await eventually('the coordinator to answer', async () => ((await discover(nc, 'plearn-coordinator', 500)).length === 1 ? true : undefined), 60_000, 300);
    } finally {
      await nc.close();
    }
    return { coordinator, worker };
  };

  before(async () => { server = await startNatsServer(); });
  after(async () => {
    await stopAll(services);
    await server?.stop();
  });

  test('SIGTERM with NATS up: both exit 0 promptly, last line "stopped"', async (t) => {
    const { coordinator, worker } = await start();
    const [c, w] = await Promise.all([timedStop(coordinator), timedStop(worker)]);
    assert.equal(c.code, 0, coordinator.log().slice(-2000));
    assert.equal(w.code, 0, worker.log().slice(-2000));
    assert.equal(lastLines(coordinator, 1)[0].msg, 'stopped');
    assert.equal(lastLines(worker, 1)[0].msg, 'stopped');
    t.diagnostic(`NATS up: coordinator stopped in ${c.ms} ms, worker in ${w.ms} ms`);
    assert.ok(c.ms < 5000 && w.ms < DRAIN_MS + 5000, `coordinator ${c.ms} ms, worker ${w.ms} ms`);
  });

  test('SIGTERM with the NATS server gone: both exit within their bound, saying why, exit 1', async (t) => {
    const { coordinator, worker } = await start();
    await server.kill();
    await new Promise((r) => setTimeout(r, 1000));
    const [c, w] = await Promise.all([timedStop(coordinator), timedStop(worker)]);
    t.diagnostic(`NATS gone: coordinator stopped in ${c.ms} ms, worker (drain timeout ${DRAIN_MS} ms) in ${w.ms} ms`);
    // The bounds: the coordinator's steps sum to 8.5 s, the worker's to its drain timeout + 9.5 s; each plus a 2 s margin.
    assert.ok(c.ms < 10_500, `coordinator took ${c.ms} ms`);
    assert.ok(w.ms < DRAIN_MS + 11_500, `worker took ${w.ms} ms`);
    for (const [s, r] of [[coordinator, c], [worker, w]] as const) {
      assert.equal(r.code, 1, s.log().slice(-2000));
      const [failed, last] = lastLines(s, 2);
      // The coordinator cannot release its leader lease either (a standby waits out the lease's TTL instead).
      const steps = s === coordinator ? 'stop scheduling and release the leader lease, drain the NATS connection' : 'drain the NATS connection';
      assert.equal(last.msg, `stopped; not cleanly: ${steps}`);
      assert.equal(failed.step, 'drain the NATS connection');
      assert.match(failed.hint ?? '', /NATS server did not answer/);
      assert.doesNotMatch(s.log(), /plearn: failed: \n/, 'no empty failure line');
    }
    await server.restart();
  });
});
