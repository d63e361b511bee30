// The coordinator and worker job logic over the in-process transport: results equal
// the pure pipeline's, and the failure paths (lost worker, coordinator restart,
// cancel, poison task, malformed requests) behave as the distributed runtime must.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Coordinator } from '../coordinator/engine.ts';
import { handleApi } from '../coordinator/api.ts';
import { runJobLocal } from '../coordinator/local-run.ts';
import { resolveFourRoomsConfig } from '../shared/experiments/fourrooms-config.ts';
import { fitAndEvaluateSeed, planFourRoomsTasks } from '../shared/experiments/fourrooms.ts';
import type { FourRoomsResult, JobSpec } from '../shared/experiments/jobs.ts';
import { decodeJson, encodeJson, packBulk } from '../shared/protocol/codec.ts';
import type { JobRecord, TaskRecord } from '../shared/protocol/records.ts';
import { taskKey } from '../shared/protocol/subjects.ts';
import { runTabularAgentTask } from '../shared/tasks/tabular-agent.ts';
import type { FourRoomsFitOutput, Task } from '../shared/tasks/task.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { Transport } from '../shared/transport/transport.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { Worker } from '../worker/service.ts';

const log = pino({ level: 'silent' });
const SPEC: JobSpec = {
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 20_000, goals: 6, goalsPerAgent: 2, seeds: 2, seed: 7, fit: 'closed', support: 'full', reward: 'generic' },
};

let pool: TaskPool;
before(() => { pool = createLocalPool(2); });
after(async () => { await pool.close(); });

/** A pool whose tasks fail where `sabotage` says so; everything else runs for real. */
function sabotaged(inner: TaskPool, sabotage: (task: Task) => 'fail' | 'ok'): TaskPool {
  return {
    threads: inner.threads,
    close: async () => undefined,
    run: (task, progress) => {
      const how = sabotage(task);
      if (how === 'fail') return Promise.reject(new Error('deliberate failure'));
      return inner.run(task, progress);
    },
  };
}

async function cluster(transport: Transport, workerPool: TaskPool, id = 'w1') {
  const coordinator = new Coordinator({ transport, pool, log, reconcileMs: 200 });
  await coordinator.start();
  const worker = new Worker({ transport, pool: workerPool, id, slots: 2, log, pollMs: 50 });
  worker.start();
  return { coordinator, worker, stop: async () => { await worker.drain(500); await coordinator.stop(); } };
}

async function jobRecord(t: Transport, id: string): Promise<JobRecord> {
  return decodeJson((await t.state.get(`job.${id}`))!.value) as JobRecord;
}

describe('job engine (in-process transport)', () => {
  test('a sharded job equals the pure pipeline run by hand, bit for bit', async () => {
    const { fits, result } = await runJobLocal(SPEC, { pool });
    const { config, layout } = resolveFourRoomsConfig({ ...SPEC.options });
    const tasks = planFourRoomsTasks(config, layout);
    assert.equal(tasks.length, 6, '3 shards × 2 seeds');
    for (let s = 0; s < 2; s++) {
      const arts = tasks.filter((t) => t.seedIndex === s).map((t) => runTabularAgentTask(t));
      const ref = fitAndEvaluateSeed(config, layout, arts);
      const got = fits[s] as FourRoomsFitOutput;
      assert.deepEqual(got.P, ref.P, `seed ${s}: world model`);
      assert.equal(got.result.wmMse, ref.result.wmMse);
      assert.deepEqual(got.result.agents.map((a) => a.seed), ref.result.agents.map((a) => a.seed));
    }
    assert.equal((result as FourRoomsResult).seeds.length, 2);
  });

  test('a task whose worker dies is redelivered after its lease; every shard counted once', async () => {
    const transport = createInProcessTransport({ leaseMs: 300, maxDeliveries: 5 });
    const coordinator = new Coordinator({ transport, pool, log, reconcileMs: 200 });
    await coordinator.start();
    const { id } = await coordinator.submit(SPEC);
    // A worker that took a task and died: it holds the delivery and never acks or heartbeats.
    const lost = await transport.queue.next(1000);
    assert.ok(lost);
    const healthy = new Worker({ transport, pool, id: 'healthy', slots: 2, log, pollMs: 50 });
    healthy.start();
    const done = await coordinator.waitFor(id);
    assert.equal(done.status, 'completed');
    const records = await Promise.all((await transport.state.keys(`task.${id}`)).map(async (k) => decodeJson((await transport.state.get(k))!.value) as TaskRecord));
    assert.equal(records.length, 6);
    assert.ok(records.every((r) => r.status === 'done'));
    const again = decodeJson((await transport.state.get(taskKey(id, lost.taskId)))!.value) as TaskRecord;
    assert.equal(again.attempts, 2, 'the lost task ran on its second delivery');
    const res = decodeJson((await transport.blobs.get(`result/${id}.json`))!) as FourRoomsResult;
    for (const s of res.seeds) assert.deepEqual(s.agents.map((a) => a.shardIndex), [0, 1, 2], 'each shard exactly once');
    await healthy.drain(0);
    await coordinator.stop();
  });

  test('a coordinator restarted mid-job resumes it to completion with the same numbers', async () => {
    const clean = await runJobLocal(SPEC, { pool });
    const transport = createInProcessTransport();
    const first = new Coordinator({ transport, pool, log, reconcileMs: 200 });
    await first.start();
    const { id } = await first.submit(SPEC);
    await first.stop(); // dies before any task ran
    const worker = new Worker({ transport, pool, id: 'w', slots: 2, log, pollMs: 50 });
    worker.start();
    const second = new Coordinator({ transport, pool, log, reconcileMs: 200 });
    await second.start();
    const rec = await second.waitFor(id);
    assert.equal(rec.status, 'completed');
    const res = decodeJson((await transport.blobs.get(`result/${id}.json`))!) as FourRoomsResult;
    assert.deepEqual(res.seeds.map((s) => s.wmMse), (clean.result as FourRoomsResult).seeds.map((s) => s.wmMse));
    await worker.drain(0);
    await second.stop();
  });

  test('a poison task is dead-lettered after max deliveries and fails its job with the last error', async () => {
    const transport = createInProcessTransport({ leaseMs: 5000, maxDeliveries: 3 });
    const poison = sabotaged(pool, (t) => (t.kind === 'tabular-agent' && t.shardIndex === 1 && t.seedIndex === 0 ? 'fail' : 'ok'));
    const c = await cluster(transport, poison);
    const { id } = await c.coordinator.submit(SPEC);
    const rec = await c.coordinator.waitFor(id);
    assert.equal(rec.status, 'failed');
    assert.deepEqual(rec.failed, [{ taskId: 'a-0-1', error: 'deliberate failure', deliveries: 3 }]);
    const view = await c.coordinator.get(id);
    assert.equal(view.tasks.failed, 1);
    assert.match(view.error ?? '', /a-0-1 failed after 3 deliveries: deliberate failure/);
    await c.stop();
  });

  test('a malformed task payload is dead-lettered at once, not retried', async () => {
    const transport = createInProcessTransport({ maxDeliveries: 5 });
    const c = await cluster(transport, pool);
    const { id } = await c.coordinator.submit({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 1 } });
    await c.coordinator.waitFor(id);
    const dead: string[] = [];
    transport.queue.onDeadLetter((l) => dead.push(`${l.jobId}/${l.taskId}/${l.deliveries}`));
    await transport.queue.enqueue(id, 'bogus', packBulk({ jobId: id, taskId: 'bogus', task: { kind: 'rm -rf' } }));
    await transport.queue.enqueue(id, 'junk', new Uint8Array([0xc1, 0xff, 0x00]));
    for (let i = 0; i < 50 && dead.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(dead.sort(), [`${id}/bogus/1`, `${id}/junk/1`]);
    assert.equal(c.worker.stats().state, 'running', 'the worker keeps serving');
    await c.stop();
  });

  test('a job whose task a worker refused as malformed fails, and its error says why', async () => {
    const transport = createInProcessTransport({ maxDeliveries: 5 });
    const coordinator = new Coordinator({ transport, pool, log, reconcileMs: 60_000 });
    await coordinator.start();
    const { id } = await coordinator.submit(SPEC);
    await transport.queue.purge(id); // the job stays running with only the bad task queued
    await transport.queue.enqueue(id, 'bogus', packBulk({ jobId: id, taskId: 'bogus', task: { kind: 'rm -rf' } }));
    const worker = new Worker({ transport, pool, id: 'w', slots: 1, log, pollMs: 50 });
    worker.start();
    const rec = await coordinator.waitFor(id);
    assert.equal(rec.status, 'failed');
    assert.match(rec.error ?? '', /^task bogus failed after 1 deliveries: malformed task: unknown task kind "rm -rf"/);
    await worker.drain(1000);
    await coordinator.stop();
  });

  test('cancel drops queued tasks and the job ends cancelled', async () => {
    const transport = createInProcessTransport();
    const coordinator = new Coordinator({ transport, pool, log, reconcileMs: 200 });
    await coordinator.start();
    const { id, tasks } = await coordinator.submit(SPEC);
    const r = await coordinator.cancel(id);
    assert.deepEqual(r, { id, status: 'cancelled', purged: tasks, stopping: 0 });
    assert.equal((await jobRecord(transport, id)).status, 'cancelled');
    assert.equal(await transport.queue.next(10), null, 'nothing left to deliver');
    assert.equal((await coordinator.waitFor(id)).status, 'cancelled');
    await coordinator.stop();
  });

  test('fits handed to the workers give the same world models, bit for bit; the coordinator fits nothing', async () => {
    const clean = await runJobLocal(SPEC, { pool });
    const transport = createInProcessTransport();
    // A coordinator pool that refuses everything: a fit run there would fail the job.
    const refusing = sabotaged(pool, () => 'fail');
    const coordinator = new Coordinator({ transport, pool: refusing, log, reconcileMs: 200, fitsOn: 'workers' });
    await coordinator.start();
    const worker = new Worker({ transport, pool, id: 'w', slots: 2, log, pollMs: 50 });
    worker.start();
    const { id } = await coordinator.submit(SPEC);
    const rec = await coordinator.waitFor(id);
    assert.equal(rec.status, 'completed', rec.error);
    for (let s = 0; s < 2; s++) {
      assert.ok(await transport.state.get(`fit.${id}.fit-${s}`), `fit-${s} recorded`);
      const task = decodeJson((await transport.state.get(taskKey(id, `fit-${s}`)))!.value) as TaskRecord;
      assert.equal(task.worker, 'w', 'the worker ran the fit');
    }
    const res = decodeJson((await transport.blobs.get(`result/${id}.json`))!) as FourRoomsResult;
    const ref = clean.result as FourRoomsResult;
    assert.deepEqual(res.seeds.map((x) => x.wmMse), ref.seeds.map((x) => x.wmMse));
    assert.deepEqual(res.summary, ref.summary);
    const view = await coordinator.get(id);
    assert.deepEqual([view.tasks.total, view.tasks.done, view.fits.done], [6, 6, 2], 'fit tasks are counted as fits, not agent tasks');
    await worker.drain(0);
    await coordinator.stop();
  });

  test('a coordinator restarted while a worker runs a fit leaves the fit alone: it runs once', async () => {
    const transport = createInProcessTransport();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let fitRuns = 0;
    const gated: TaskPool = {
      threads: pool.threads,
      close: async () => undefined,
      run: async (task, progress) => {
        if (task.kind === 'fourrooms-fit') { fitRuns++; await gate; }
        return pool.run(task, progress);
      },
    };
    const first = new Coordinator({ transport, pool, log, reconcileMs: 100, fitsOn: 'workers' });
    await first.start();
    const worker = new Worker({ transport, pool: gated, id: 'w1', slots: 2, log, pollMs: 50 });
    worker.start();
    const { id } = await first.submit({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 2, seeds: 1, fit: 'closed' } });
    for (let i = 0; i < 200 && fitRuns === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(fitRuns, 1, 'the worker holds the fit');
    await first.stop();
    const second = new Coordinator({ transport, pool, log, reconcileMs: 100, fitsOn: 'workers' });
    await second.start();
    await new Promise((r) => setTimeout(r, 500)); // several reconcile rounds while the fit is held
    release();
    const rec = await second.waitFor(id);
    assert.equal(rec.status, 'completed', rec.error);
    assert.equal(fitRuns, 1, 'no second fit task was queued');
    const fit = decodeJson((await transport.state.get(taskKey(id, 'fit-0')))!.value) as TaskRecord;
    assert.deepEqual([fit.status, fit.attempts, fit.worker], ['done', 1, 'w1']);
    await worker.drain(0);
    await second.stop();
  });

  test('a dead letter whose notice is lost is dead-lettered by reconcile; a task still running on its last delivery is not', { timeout: 60_000 }, async () => {
    const t = createInProcessTransport({ leaseMs: 300, maxDeliveries: 2 });
    // The coordinator's view of the queue loses every max-deliveries notice, as when it was down at that moment.
    const lossy: Transport = {
      ...t,
      queue: {
        leaseMs: t.queue.leaseMs, maxDeliveries: t.queue.maxDeliveries,
        enqueue: (j, k, d) => t.queue.enqueue(j, k, d), purge: (j) => t.queue.purge(j), next: (ms) => t.queue.next(ms),
        abandon: (j, k, n, r) => t.queue.abandon(j, k, n, r),
        onDeadLetter: (h) => t.queue.onDeadLetter((l) => { if (l.reason !== 'max deliveries') h(l); }),
      },
    };
    const poison = sabotaged(pool, (task) => (task.kind === 'tabular-agent' && task.shardIndex === 1 ? 'fail' : 'ok'));
    const coordinator = new Coordinator({ transport: lossy, pool, log, reconcileMs: 100 });
    await coordinator.start();
    const worker = new Worker({ transport: t, pool: poison, id: 'w', slots: 2, log, pollMs: 20 });
    worker.start();
    const { id } = await coordinator.submit({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 2, goalsPerAgent: 1 } });
    const rec = await coordinator.waitFor(id);
    assert.equal(rec.status, 'failed');
    assert.match(rec.error ?? '', /a-0-1 failed after 2 deliveries: max deliveries \(advisory lost\); last error: deliberate failure/);

    // One delivery only, and a task that takes six leases: its worker keeps its record fresh, so nothing is abandoned.
    const t2 = createInProcessTransport({ leaseMs: 300, maxDeliveries: 1 });
    const slow: TaskPool = {
      threads: pool.threads, close: async () => undefined,
      run: async (task, progress) => { await new Promise((r) => setTimeout(r, 1800)); return pool.run(task, progress); },
    };
    const c2 = new Coordinator({ transport: t2, pool, log, reconcileMs: 100 });
    await c2.start();
    const w2 = new Worker({ transport: t2, pool: slow, id: 'w2', slots: 1, log, pollMs: 20 });
    w2.start();
    const job2 = await c2.submit({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 1 } });
    const rec2 = await c2.waitFor(job2.id);
    assert.equal(rec2.status, 'completed', rec2.error);
    await Promise.all([worker.drain(0), w2.drain(0)]);
    await Promise.all([coordinator.stop(), c2.stop()]);
  });

  test('a task past its deadline is stopped, retried, dead-lettered naming the deadline; the worker goes on', { timeout: 120_000 }, async () => {
    const t = createInProcessTransport({ leaseMs: 5000, maxDeliveries: 2 });
    const own = createLocalPool(1);
    const coordinator = new Coordinator({ transport: t, pool, log, reconcileMs: 100 });
    await coordinator.start();
    const worker = new Worker({ transport: t, pool: own, id: 'w', slots: 1, log, pollMs: 20, taskTimeoutMs: 1000 });
    worker.start();
    // About ten seconds of Q-learning: far past the deadline.
    const slow = await coordinator.submit({ experiment: 'fourrooms', options: { agent: 'qlearning', steps: 60_000_000, goals: 1 } });
    const rec = await coordinator.waitFor(slow.id);
    assert.equal(rec.status, 'failed');
    assert.match(rec.error ?? '', /failed after 2 deliveries: stopped after its deadline of 1000 ms \(--task-timeout-ms\)/);
    const quick = await coordinator.submit({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 1 } });
    assert.equal((await coordinator.waitFor(quick.id)).status, 'completed', 'the same worker and pool serve the next job');
    assert.equal(worker.stats().state, 'running');
    await worker.drain(0);
    await coordinator.stop();
    await own.close();
  });

  test('malformed fit tasks are dead-lettered at once', async () => {
    const transport = createInProcessTransport({ maxDeliveries: 5 });
    const c = await cluster(transport, pool);
    const { id } = await c.coordinator.submit({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 1 } });
    await c.coordinator.waitFor(id);
    const dead: string[] = [];
    transport.queue.onDeadLetter((l) => dead.push(l.taskId));
    const bad: [string, unknown][] = [
      ['fit-1', { jobId: id, taskId: 'fit-1', fit: { index: 2 } }],
      ['fit-2', { jobId: id, taskId: 'fit-2', fit: { index: 2, extra: 1 } }],
      ['fit-3', { jobId: id, taskId: 'fit-3', fit: { index: -3 } }],
      ['fit-4', { jobId: id, taskId: 'fit-4', fit: { index: 4 }, task: { kind: 'tabular-agent' } }],
    ];
    for (const [taskId, body] of bad) await transport.queue.enqueue(id, taskId, packBulk(body));
    for (let i = 0; i < 100 && dead.length < bad.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(dead.sort(), bad.map(([t]) => t).sort());
    await c.stop();
  });

  test('malformed API requests get error replies naming the problem', async () => {
    const transport = createInProcessTransport();
    const coordinator = new Coordinator({ transport, pool, log });
    await coordinator.start();
    const call = async (op: string, body: Uint8Array | unknown) =>
      decodeJson(await handleApi(coordinator, op, body instanceof Uint8Array ? body : encodeJson(body))) as { error?: { code: string; message: string; field?: string } };
    const cases: [string, Uint8Array | unknown, string, RegExp][] = [
      ['submit', new TextEncoder().encode('{"experiment": "fourrooms",'), 'bad_request', /malformed JSON/],
      ['submit', new Uint8Array([0xff, 0xfe, 0x00]), 'bad_request', /malformed JSON/],
      ['submit', [1, 2], 'bad_request', /JSON object/],
      ['submit', { experiment: 'pong' }, 'bad_request', /unknown experiment "pong"; available: fourrooms, mountaincar, reacher/],
      ['submit', { experiment: 'fourrooms', options: { goals: 'many' } }, 'bad_request', /goals: expected an integer/],
      ['submit', { experiment: 'fourrooms', options: { goals: 1e12 } }, 'bad_request', /out of range/],
      ['submit', { experiment: 'fourrooms', options: { seeds: { $gt: 1 } } }, 'bad_request', /seeds: expected a string or a number/],
      ['submit', { experiment: 'fourrooms', options: { grid: 5 } }, 'bad_request', /does not apply to fourrooms/],
      ['submit', { experiment: 'mountaincar', options: { grid: 1e9 } }, 'bad_request', /grid: .*out of range/],
      ['submit', { experiment: 'fourrooms', options: { layoutText: '###\n#\n' } }, 'bad_request', /./],
      ['get', { id: 42 }, 'bad_request', /id: expected a job id/],
      ['get', { id: '../../etc' }, 'bad_request', /id: expected a job id/],
      ['get', { id: 'nope' }, 'not_found', /no job nope/],
      ['result', { id: 'nope' }, 'not_found', /no job nope/],
      ['list', { limit: -1 }, 'bad_request', /limit/],
      ['drop-tables', {}, 'bad_request', /unknown operation/],
      ['submit', new Uint8Array(300 * 1024), 'bad_request', /exceeds the limit/],
    ];
    for (const [op, body, code, msg] of cases) {
      const r = await call(op, body);
      assert.equal(r.error?.code, code, `${op} ${String(body).slice(0, 40)}: ${JSON.stringify(r)}`);
      assert.match(r.error!.message, msg);
    }
    const ok = await call('list', {});
    assert.deepEqual(ok, { jobs: [] });
    await coordinator.stop();
  });
});
