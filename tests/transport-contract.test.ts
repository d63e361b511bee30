// One behavioural contract, two implementations: the in-process transport behind
// `plearn run` and the NATS JetStream one behind the cluster must agree on leases,
// redelivery, dead letters, purge, dedupe, state and blob semantics, or the same
// coordinator and worker code would behave differently in the two modes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { setupJetStream } from '../coordinator/nats/setup.ts';
import { createNatsTransport } from '../coordinator/nats/transport.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { DeadLetter, Transport } from '../shared/transport/transport.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';

const LEASE_MS = 1500;
const MAX_DELIVERIES = 3;
const enc = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function contract(label: string, make: () => Promise<{ t: Transport; close(): Promise<void> }>, skip: string | false) {
  describe(`transport contract: ${label}`, { skip }, () => {
    let t: Transport;
    let close: () => Promise<void>;
    const dead: DeadLetter[] = [];
    before(async () => {
      ({ t, close } = await make());
      t.queue.onDeadLetter((l) => dead.push(l));
    });
    after(async () => { await close(); });

    test('enqueue, next, ack; an acked task is gone', async () => {
      await t.queue.enqueue('j1', 'a', enc.encode('payload'));
      const d = await t.queue.next(2000);
      assert.ok(d);
      assert.deepEqual([d.jobId, d.taskId, new TextDecoder().decode(d.data), d.deliveryCount], ['j1', 'a', 'payload', 1]);
      await d.ack();
      assert.equal(await t.queue.next(1000), null);
    });

    test('a nak redelivers with the count raised; a lapsed lease too; working() holds it', async () => {
      await t.queue.enqueue('j2', 'b', enc.encode('x'));
      const d1 = (await t.queue.next(2000))!;
      d1.nak();
      const d2 = (await t.queue.next(2000))!;
      assert.equal(d2.taskId, 'b');
      assert.equal(d2.deliveryCount, 2);
      // Hold it past two leases with heartbeats: nobody else gets it.
      const beat = setInterval(() => d2.working(), LEASE_MS / 3);
      assert.equal(await t.queue.next(2 * LEASE_MS), null, 'a task under heartbeat is not redelivered');
      clearInterval(beat);
      // Stop the heartbeats: the lease lapses and it comes back.
      const d3 = await t.queue.next(3 * LEASE_MS);
      assert.ok(d3, 'redelivered after the lease');
      assert.equal(d3.deliveryCount, 3);
      await d3.ack();
    });

    test('a hand-back spends no delivery: handed back more often than max deliveries, it comes back at 1 each time; ack ends it', async () => {
      dead.length = 0;
      await t.queue.enqueue('jh', 'h', enc.encode('h'));
      for (let k = 0; k < MAX_DELIVERIES + 2; k++) {
        const d = await t.queue.next(2000);
        assert.ok(d, `delivery after ${k} hand-backs`);
        assert.deepEqual([d.taskId, new TextDecoder().decode(d.data), d.deliveryCount], ['h', 'h', 1]);
        assert.equal(await d.handBack(), true);
      }
      const last = (await t.queue.next(2000))!;
      await last.ack();
      assert.equal(await t.queue.next(1000), null, 'one copy only: nothing left once it is acked');
      assert.equal(dead.length, 0, 'never dead-lettered');
    });

    test('after max deliveries a task is dead-lettered exactly once', async () => {
      dead.length = 0;
      await t.queue.enqueue('j3', 'poison', enc.encode('p'));
      for (let k = 1; k <= MAX_DELIVERIES; k++) {
        const d = await t.queue.next(2000);
        assert.ok(d, `delivery ${k}`);
        assert.equal(d.deliveryCount, k);
        d.nak();
      }
      assert.equal(await t.queue.next(1500), null, 'no further delivery');
      for (let i = 0; i < 50 && dead.length === 0; i++) await sleep(100);
      await sleep(300);
      assert.equal(dead.length, 1, JSON.stringify(dead));
      assert.deepEqual([dead[0].jobId, dead[0].taskId, new TextDecoder().decode(dead[0].data), dead[0].deliveries], ['j3', 'poison', 'p', MAX_DELIVERIES]);
    });

    test('abandon takes a queued task off as a dead letter with its reason; an absent one is false', async () => {
      dead.length = 0;
      await t.queue.enqueue('j6', 'lost', enc.encode('l'));
      assert.equal(await t.queue.abandon('j6', 'lost', MAX_DELIVERIES, 'max deliveries (advisory lost)'), true);
      assert.equal(await t.queue.next(1000), null, 'gone from the queue');
      for (let i = 0; i < 50 && dead.length === 0; i++) await sleep(100);
      assert.deepEqual(dead.map((l) => [l.jobId, l.taskId, l.deliveries, l.reason]), [['j6', 'lost', MAX_DELIVERIES, 'max deliveries (advisory lost)']]);
      assert.equal(await t.queue.abandon('j6', 'never-queued', 1, 'x'), false);
    });

    test('term dead-letters at once', async () => {
      dead.length = 0;
      await t.queue.enqueue('j4', 'bad', enc.encode('b'));
      (await t.queue.next(2000))!.term('malformed');
      for (let i = 0; i < 50 && dead.length === 0; i++) await sleep(100);
      assert.deepEqual(dead.map((l) => [l.jobId, l.taskId, l.deliveries]), [['j4', 'bad', 1]]);
      assert.equal(await t.queue.next(1000), null);
    });

    test('purge drops one job\'s queued tasks only; enqueue is idempotent while queued', async () => {
      for (const id of ['p1', 'p2', 'p3']) await t.queue.enqueue('jp', id, enc.encode(id));
      await t.queue.enqueue('jp', 'p1', enc.encode('again'));
      await t.queue.enqueue('jq', 'q1', enc.encode('q1'));
      assert.equal(await t.queue.purge('jp'), 3);
      const d = (await t.queue.next(2000))!;
      assert.deepEqual([d.jobId, d.taskId], ['jq', 'q1']);
      await d.ack();
      assert.equal(await t.queue.next(1000), null);
    });

    test('state: get, put, create, update by revision, delete, keys by prefix', async () => {
      const s = t.state;
      assert.equal(await s.get('job.x'), null);
      const r1 = await s.create('job.x', enc.encode('1'));
      assert.ok(r1 !== null);
      assert.equal(await s.create('job.x', enc.encode('2')), null, 'create refuses an existing key');
      const r2 = await s.update('job.x', enc.encode('3'), r1);
      assert.ok(r2 !== null && r2 > r1);
      assert.equal(await s.update('job.x', enc.encode('4'), r1), null, 'stale revision refused');
      assert.equal(new TextDecoder().decode((await s.get('job.x'))!.value), '3');
      await s.put('task.x.a', enc.encode('a'));
      await s.put('task.x.b', enc.encode('b'));
      await s.put('task.y.a', enc.encode('c'));
      assert.deepEqual((await s.keys('task.x')).sort(), ['task.x.a', 'task.x.b']);
      await s.delete('task.x.a');
      assert.equal(await s.get('task.x.a'), null);
      assert.deepEqual(await s.keys('task.x'), ['task.x.b']);
      assert.ok((await s.create('task.x.a', enc.encode('again'))) !== null, 'create works again after delete');
    });

    test('state: entries reads every live key under a prefix with its last value and revision, and nothing else', async () => {
      const s = t.state;
      assert.equal((await s.entries('task.none')).size, 0, 'an empty prefix');
      const revs = new Map<string, number>();
      for (let i = 0; i < 300; i++) revs.set(`task.e.t${i}`, await s.put(`task.e.t${i}`, enc.encode(`v${i}`)));
      revs.set('task.e.t7', await s.put('task.e.t7', enc.encode('second')));
      await s.delete('task.e.t9');
      revs.delete('task.e.t9');
      await s.put('task.ee.t1', enc.encode('not under task.e'));
      const got = await s.entries('task.e');
      assert.deepEqual([...got.keys()].sort(), [...revs.keys()].sort());
      for (const [k, v] of got) {
        assert.equal(v.revision, revs.get(k), k);
        assert.equal(new TextDecoder().decode(v.value), k === 'task.e.t7' ? 'second' : `v${k.slice('task.e.t'.length)}`);
        assert.deepEqual(v, await s.get(k), `${k}: as get reads it`);
      }
    });

    test('state: entries ends while other writers keep writing under the prefix, with every key written before it began', async () => {
      const s = t.state;
      for (let i = 0; i < 200; i++) await s.put(`task.busy.t${i}`, enc.encode('before'));
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          await s.put(`task.busy.t${i % 400}`, enc.encode(`during ${i}`));
          // The in-process store never waits on I/O: without this the loop would starve every timer.
          if (i % 20 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
      try {
        await sleep(100);
        for (let round = 0; round < 3; round++) {
          const t0 = Date.now();
          const got = await s.entries('task.busy');
          assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
          for (let i = 0; i < 200; i++) assert.ok(got.has(`task.busy.t${i}`), `task.busy.t${i}`);
        }
      } finally {
        writing = false;
        await writer;
      }
    });

    test('next: an aborted signal ends a waiting pull at once with null; the queue still delivers after', async () => {
      const stop = new AbortController();
      const t0 = Date.now();
      const waiting = t.queue.next(20_000, stop.signal);
      setTimeout(() => stop.abort(), 200);
      assert.equal(await waiting, null);
      assert.ok(Date.now() - t0 < 5000, `ended ${Date.now() - t0} ms after the pull began`);
      assert.equal(await t.queue.next(1000, stop.signal), null, 'already aborted');
      await t.queue.enqueue('jab', 'a', enc.encode('after'));
      const d = await t.queue.next(5000);
      assert.ok(d);
      assert.equal(d.taskId, 'a');
      await d.ack();
    });

    test('blobs: 0 B, small and 5 MB round-trip bit for bit; absent is null', async () => {
      const big = new Uint8Array(randomBytes(5 * 1024 * 1024));
      for (const [name, data] of [['artifact/j/empty', new Uint8Array(0)], ['artifact/j/small', enc.encode('hello')], ['fit/j/big', big]] as const) {
        assert.equal((await t.blobs.put(name, data)).size, data.byteLength);
        assert.deepEqual(await t.blobs.get(name), data, name);
      }
      assert.equal(await t.blobs.get('result/none.json'), null);
      await t.blobs.delete('fit/j/big');
      assert.equal(await t.blobs.get('fit/j/big'), null);
    });

    test('events: * and > wildcards', async () => {
      const got: string[] = [];
      const u1 = t.events.subscribe('plearn.events.*', (s) => got.push(`star ${s}`));
      const u2 = t.events.subscribe('plearn.>', (s) => got.push(`gt ${s}`));
      await sleep(100);
      t.events.publish('plearn.events.j9', enc.encode('{}'));
      t.events.publish('plearn.events.j9.extra', enc.encode('{}'));
      t.events.publish('other.events.j9', enc.encode('{}'));
      for (let i = 0; i < 50 && got.length < 3; i++) await sleep(20);
      await sleep(100);
      u1();
      u2();
      assert.deepEqual(got.sort(), ['gt plearn.events.j9', 'gt plearn.events.j9.extra', 'star plearn.events.j9']);
    });
  });
}

contract('in-process', async () => {
  const t = createInProcessTransport({ leaseMs: LEASE_MS, maxDeliveries: MAX_DELIVERIES });
  return { t, close: () => t.close() };
}, false);

const missing = natsServerMissing();
contract('NATS JetStream', async () => {
  const server: NatsServerHandle = await startNatsServer();
  const nc: NatsConnection = await connect({ servers: server.url });
  await setupJetStream(nc, { leaseMs: LEASE_MS, maxDeliveries: MAX_DELIVERIES, storage: 'memory' });
  const t = await createNatsTransport(nc);
  return { t, close: async () => { await t.close(); await nc.close(); await server.stop(); } };
}, missing ?? false);
