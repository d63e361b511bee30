// The leader lease and fencing over the in-process transport: one active replica
// at a time, a standby taking over a released, partitioned or silent lease with a
// higher epoch, a former leader's writes refused, and two coordinator replicas
// running a job across a handover with the numbers of an undisturbed run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { runJobLocal } from '../coordinator/local-run.ts';
import type { Fence } from '../coordinator/leader/fence.ts';
import { fencedPut, LeadershipLost } from '../coordinator/leader/fence.ts';
import { LeaderLease } from '../coordinator/leader/lease.ts';
import type { LeaseRecord } from '../coordinator/leader/lease.ts';
import { CoordinatorReplica } from '../coordinator/leader/replica.ts';
import type { FourRoomsResult, JobSpec } from '../shared/experiments/jobs.ts';
import { decodeJson, encodeJson } from '../shared/protocol/codec.ts';
import type { JobRecord } from '../shared/protocol/records.ts';
import { LEADER_KEY } from '../shared/protocol/subjects.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { StateStore, Transport } from '../shared/transport/transport.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { Worker } from '../worker/service.ts';
import { eventually } from './support/services.ts';

const log = pino({ level: 'silent' });
const TTL = 900;

/** A state store whose every call first passes `gate` (which may fail it, or hold it back). */
function gated(inner: StateStore, gate: () => Promise<void>): StateStore {
  const via = <T>(fn: () => Promise<T>): Promise<T> => gate().then(fn);
  return {
    get: (k) => via(() => inner.get(k)), put: (k, v) => via(() => inner.put(k, v)), create: (k, v) => via(() => inner.create(k, v)),
    update: (k, v, r) => via(() => inner.update(k, v, r)), delete: (k) => via(() => inner.delete(k)),
    keys: (p) => via(() => inner.keys(p)), entries: (p) => via(() => inner.entries(p)),
  };
}

/** Cut off from its caller, as a partition would: every call fails after a short wait. */
function partitionable(inner: StateStore): { store: StateStore; cut(): void; heal(): void } {
  let down = false;
  const gate = async () => {
    if (!down) return;
    await new Promise((r) => setTimeout(r, 50));
    throw new Error('timeout (partitioned)');
  };
  return { cut: () => { down = true; }, heal: () => { down = false; }, store: gated(inner, gate) };
}

/** Wait until `who` holds `role`. */
const becomes = (who: { role: string }, name: string, role: 'active' | 'standby', timeoutMs = 10 * TTL) =>
  eventually(`${name} ${role}`, async () => (who.role === role ? true : undefined), timeoutMs, 20);

function lease(state: StateStore, id: string, events: string[] = []): LeaderLease {
  return new LeaderLease({
    state, id, ttlMs: TTL, log,
    onActive: (epoch) => { events.push(`${id} active ${epoch}`); },
    onStandby: (why) => { events.push(`${id} standby: ${why}`); },
  });
}

async function leaseRecord(state: StateStore): Promise<LeaseRecord> {
  return decodeJson((await state.get(LEADER_KEY))!.value) as LeaseRecord;
}

describe('leader lease', () => {
  test('exactly one replica is active; a released lease passes to a standby at once, with the next epoch', async () => {
    const t = createInProcessTransport();
    const a = lease(t.state, 'a');
    const b = lease(t.state, 'b');
    await a.start();
    await b.start();
    assert.equal(a.role, 'active');
    assert.equal(a.epoch, 1);
    assert.equal(b.role, 'standby');
    assert.equal(b.holder, 'a');
    assert.doesNotThrow(() => a.check());
    assert.throws(() => b.check(), LeadershipLost);
    // Several renewals pass; the standby never takes a live lease.
    await new Promise((r) => setTimeout(r, 2 * TTL));
    assert.equal(a.role, 'active');
    assert.equal(b.role, 'standby');
    const t0 = Date.now();
    await a.release();
    await becomes(b, 'b', 'active', 5000);
    assert.ok(Date.now() - t0 < TTL, `a released lease is taken before its TTL runs out (${Date.now() - t0} ms)`);
    assert.equal(b.epoch, 2);
    assert.deepEqual({ holder: (await leaseRecord(t.state)).holder, epoch: (await leaseRecord(t.state)).epoch }, { holder: 'b', epoch: 2 });
    await b.release();
  });

  test('a partitioned leader steps down before a standby takes over; healed, it stays standby and its old epoch is refused', async () => {
    const t = createInProcessTransport();
    const p = partitionable(t.state);
    const events: string[] = [];
    const a = lease(p.store, 'a', events);
    const b = lease(t.state, 'b', events);
    await a.start();
    await b.start();
    p.cut();
    const cutAt = Date.now();
    await becomes(b, 'b', 'active');
    const takeoverMs = Date.now() - cutAt;
    assert.ok(takeoverMs >= TTL, `no takeover before the lease's TTL (${takeoverMs} ms)`);
    const order = events.filter((e) => e.startsWith('a standby') || e === 'b active 2');
    assert.match(order[0], /^a standby: renewals have failed/, `the old leader steps down first: ${JSON.stringify(events)}`);
    assert.equal(order[1], 'b active 2');
    p.heal();
    await new Promise((r) => setTimeout(r, TTL));
    assert.equal(a.role, 'standby');
    assert.equal(b.role, 'active');
    assert.throws(() => a.check(), LeadershipLost);
    await a.release();
    await b.release();
  });

  test('a lone leader cut off from the store steps down, and takes its own lease back at the next epoch once the store answers', async () => {
    const t = createInProcessTransport();
    const p = partitionable(t.state);
    const a = lease(p.store, 'a');
    await a.start();
    p.cut();
    await becomes(a, 'a', 'standby');
    p.heal();
    const t0 = Date.now();
    await becomes(a, 'a', 'active');
    assert.ok(Date.now() - t0 < TTL, 'its own lease is taken back without waiting out the TTL');
    assert.equal(a.epoch, 2);
    await a.release();
  });

  test('a silent leader (killed) is replaced after its TTL', async () => {
    const t = createInProcessTransport();
    const p = partitionable(t.state);
    const a = lease(p.store, 'a');
    await a.start();
    const b = lease(t.state, 'b');
    await b.start();
    // A killed process neither renews nor releases: the same, seen from the store, as a cut-off one.
    p.cut();
    await becomes(b, 'b', 'active');
    assert.equal(b.epoch, 2);
    await a.release();
    await b.release();
  });
});

describe('fencing', () => {
  const fence = (epoch: number): Fence => ({ epoch, check: () => undefined });

  test('a record written under a higher epoch refuses a lower one; each write carries its writer epoch', async () => {
    const t = createInProcessTransport();
    await fencedPut(t.state, 'job.x', { status: 'running' }, fence(1));
    assert.equal((decodeJson((await t.state.get('job.x'))!.value) as JobRecord).epoch, 1);
    await fencedPut(t.state, 'job.x', { status: 'running' }, fence(2));
    await assert.rejects(fencedPut(t.state, 'job.x', { status: 'failed' }, fence(1)), LeadershipLost);
    const now = decodeJson((await t.state.get('job.x'))!.value) as JobRecord;
    assert.deepEqual([now.status, now.epoch], ['running', 2]);
  });

  test('a takeover between the old leader\'s read and its write makes the write fail', async () => {
    const t = createInProcessTransport();
    await fencedPut(t.state, 'job.y', { status: 'running' }, fence(1));
    // The new leader claims the record right after the old one read it.
    let interfered = false;
    const racing: StateStore = {
      ...t.state,
      get: async (k) => {
        const v = await t.state.get(k);
        if (!interfered) {
          interfered = true;
          await fencedPut(t.state, k, { status: 'running' }, fence(2));
        }
        return v;
      },
      update: (k, v, r) => t.state.update(k, v, r),
      create: (k, v) => t.state.create(k, v),
    };
    await assert.rejects(fencedPut(racing, 'job.y', { status: 'completed' }, fence(1)), LeadershipLost);
    const now = decodeJson((await t.state.get('job.y'))!.value) as JobRecord;
    assert.deepEqual([now.status, now.epoch], ['running', 2], 'the old leader wrote nothing');
  });

  test('a fence that says no stops the write before it reaches the store', async () => {
    const t = createInProcessTransport();
    const no: Fence = { epoch: 1, check: () => { throw new LeadershipLost('lapsed'); } };
    await assert.rejects(fencedPut(t.state, 'job.z', { status: 'running' }, no), LeadershipLost);
    assert.equal(await t.state.get('job.z'), null);
  });
});

/** A transport whose state store calls wait while it is frozen: a paused process, as far as the store can tell. */
function freezable(inner: Transport): { transport: Transport; freeze(): void; thaw(): void } {
  let held: Promise<void> = Promise.resolve();
  let open = () => undefined as void;
  return {
    freeze: () => { held = new Promise((r) => { open = r; }); },
    thaw: () => open(),
    transport: { ...inner, state: gated(inner.state, () => held) },
  };
}

describe('two coordinator replicas', () => {
  let pool: TaskPool;
  before(() => { pool = createLocalPool(2); });
  after(async () => { await pool.close(); });
  const spec: JobSpec = {
    experiment: 'fourrooms',
    options: { agent: 'qlearning', steps: 400_000, goals: 6, goalsPerAgent: 1, seeds: 1, seed: 11, fit: 'closed', support: 'full', reward: 'generic' },
  };

  test('the standby answers reads and refuses writes with not_active; after a handover the job completes with the clean numbers', async () => {
    const transport = createInProcessTransport({ leaseMs: 2000 });
    const replica = (id: string) => new CoordinatorReplica({ transport, pool, log, id, leaderTtlMs: TTL, reconcileMs: 200, fitsOn: 'workers' });
    const a = replica('a');
    const b = replica('b');
    await a.start();
    await b.start();
    assert.deepEqual([a.role, b.role], ['active', 'standby']);
    const refused = decodeJson(await b.answer('submit', encodeJson(spec))) as { error: { code: string; message: string } };
    assert.equal(refused.error.code, 'not_active');
    assert.match(refused.error.message, /standby; the active one is a/);
    const { id } = decodeJson(await a.answer('submit', encodeJson(spec))) as { id: string };
    const read = decodeJson(await b.answer('get', encodeJson({ id }))) as { job: { id: string } };
    assert.equal(read.job.id, id, 'a standby answers reads');
    const worker = new Worker({ transport, pool, id: 'w', slots: 2, log, pollMs: 50 });
    worker.start();
    await eventually('a first task done', async () => {
      const v = decodeJson(await b.answer('get', encodeJson({ id }))) as { job: { tasks: { done: number } } };
      return v.job.tasks.done > 0 ? true : undefined;
    }, 60_000, 20);
    await a.stop();
    await becomes(b, 'b', 'active', 5000);
    const done = await eventually('the job to end', async () => {
      const v = decodeJson(await b.answer('get', encodeJson({ id }))) as { job: { status: string } };
      return ['completed', 'failed'].includes(v.job.status) ? v.job : undefined;
    }, 120_000, 50);
    assert.equal(done.status, 'completed');
    const rec = decodeJson((await transport.state.get(`job.${id}`))!.value) as JobRecord;
    assert.equal(rec.epoch, 2, 'the job finished under the new epoch');
    const res = decodeJson((await transport.blobs.get(`result/${id}.json`))!) as FourRoomsResult;
    const clean = (await runJobLocal(spec, { pool })).result as FourRoomsResult;
    assert.deepEqual(res.seeds.map((s) => s.wmMse), clean.seeds.map((s) => s.wmMse));
    assert.deepEqual(res.seeds[0].agents.map((x) => x.shardIndex).sort(), [0, 1, 2, 3, 4, 5]);
    await worker.drain(0);
    await b.stop();
  });

  test('a leader paused in the middle of a write, resumed after a takeover, writes nothing', async () => {
    const shared = createInProcessTransport({ leaseMs: 2000 });
    const paused = freezable(shared);
    const a = new CoordinatorReplica({ transport: paused.transport, pool, log, id: 'a', leaderTtlMs: TTL, reconcileMs: 200, fitsOn: 'workers' });
    const b = new CoordinatorReplica({ transport: shared, pool, log, id: 'b', leaderTtlMs: TTL, reconcileMs: 200, fitsOn: 'workers' });
    await a.start();
    await b.start();
    const { id } = decodeJson(await a.answer('submit', encodeJson(spec))) as { id: string };
    const queued = (await shared.state.keys(`task.${id}`)).length;
    // No worker runs: the job stays running. A cancel enters a's engine, then a pauses before its first read returns.
    paused.freeze();
    const cancel = a.answer('cancel', encodeJson({ id }));
    await becomes(b, 'b', 'active');
    await eventually('b to claim the job', async () => {
      const r = decodeJson((await shared.state.get(`job.${id}`))!.value) as JobRecord;
      return r.epoch === 2 ? true : undefined;
    }, 5000, 20);
    paused.thaw();
    const reply = decodeJson(await cancel) as { error?: { code: string } };
    assert.equal(reply.error?.code, 'not_active', `the paused leader's cancel is refused: ${JSON.stringify(reply)}`);
    const rec = decodeJson((await shared.state.get(`job.${id}`))!.value) as JobRecord;
    assert.deepEqual([rec.status, rec.epoch], ['running', 2], 'the job is as the new leader left it');
    const next = await shared.queue.next(200);
    assert.ok(next, 'its queued tasks were not purged');
    next.nak(0);
    assert.equal((await shared.state.keys(`task.${id}`)).length, queued);
    await a.stop();
    await b.stop();
  });
});
