// `plearn cleanup` against a real nats-server: it lists the four streams a
// coordinator creates (with what they hold), refuses to delete them while a
// coordinator answers, and deletes them once it is gone.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { discover } from '../coordinator/nats/services.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { plearn } from './support/run-cli.ts';
import { eventually, startService, stopAll } from './support/services.ts';

const missing = natsServerMissing();

interface Listing { deleted: boolean; streams: { stream: string; holds: string; messages: number; bytes: number }[] }

describe('plearn cleanup', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  before(async () => { server = await startNatsServer(); });
  after(async () => { await server?.stop(); });

  test('lists, refuses while a coordinator runs, then deletes', async () => {
    const nats = ['--nats', server.url];
    const empty = await plearn(['cleanup', '--json', ...nats], 30_000);
    assert.equal(empty.code, 0, empty.stderr);
    assert.deepEqual(JSON.parse(empty.stdout), { deleted: false, streams: [] });

    const coordinator = startService('coordinator', ['coordinator', ...nats, '--health-port', '0', '--log-level', 'warn']);
    const nc = await connect({ servers: server.url });
    try {
      await eventually('the coordinator', async () => ((await discover(nc, 'plearn-coordinator', 500)).length === 1 ? true : undefined), 60_000, 300);
      const sub = await plearn(['submit', 'fourrooms', '--agent', 'oracle', '--goals', '2', ...nats], 60_000);
      assert.equal(sub.code, 0, sub.stderr);
      const listed = await plearn(['cleanup', '--json', ...nats], 30_000);
      const doc = JSON.parse(listed.stdout) as Listing;
      assert.deepEqual(doc.streams.map((s) => s.stream).sort(), ['KV_plearn-state', 'OBJ_plearn-artifacts', 'PLEARN_DLQ', 'PLEARN_TASKS']);
      assert.ok(doc.streams.find((s) => s.stream === 'KV_plearn-state')!.messages > 0, 'the job record is there');
      const refused = await plearn(['cleanup', '--yes', ...nats], 30_000);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /a coordinator is running against this NATS server; stop it/);
    } finally {
      await nc.close();
      await stopAll([coordinator]);
    }
    const gone = await plearn(['cleanup', '--yes', ...nats], 30_000);
    assert.equal(gone.code, 0, gone.stderr);
    assert.match(gone.stdout, /deleted 4 stream\(s\)/);
    const after = JSON.parse((await plearn(['cleanup', '--json', ...nats], 30_000)).stdout) as Listing;
    assert.deepEqual(after.streams, []);
  });
});
