// A worker's tasks between the happy paths, over the in-process transport: a
// drained worker's hand-back spends no delivery (a task drained more often than
// max deliveries still completes), and a cancelled job's running tasks stop at
// once, counted truthfully by the cancel reply. Plus the small pieces the
// cluster's users see: the CPU budget a worker plans its threads for, the
// workers table, and progress lines without a terminal.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { alignColumns } from '../coordinator/cluster-cli.ts';
import { Coordinator } from '../coordinator/engine.ts';
import { ProgressBar } from '../coordinator/progress.ts';
import type { JobSpec } from '../shared/experiments/jobs.ts';
import { decodeJson } from '../shared/protocol/codec.ts';
import type { TaskRecord } from '../shared/protocol/records.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import { cgroupCpus, usableCpus } from '../worker/cpu-budget.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { Worker } from '../worker/service.ts';
import { eventually } from './support/services.ts';

const log = pino({ level: 'silent' });
let pool: TaskPool;
before(() => { pool = createLocalPool(2); });
after(async () => { await pool.close(); });

/** One long Q-learning agent (a few seconds), so it is still running when we strike. */
const longSpec = (goals: number): JobSpec => ({
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 60_000_000, goals, goalsPerAgent: 1, reward: 'generic', fit: 'closed', support: 'full', seed: 17 },
});

describe('hand-back and cancel', () => {
  test('a task handed back by a draining worker more often than max deliveries still completes, on delivery 1 each time', async () => {
    const transport = createInProcessTransport({ leaseMs: 5000, maxDeliveries: 2 });
    const coordinator = new Coordinator({ transport, pool, log, reconcileMs: 200 });
    await coordinator.start();
    const { id } = await coordinator.submit({ ...longSpec(1), options: { ...longSpec(1).options, steps: 4_000_000 } });
    const attempts: number[] = [];
    for (let round = 0; round < 4; round++) {
      const w = new Worker({ transport, pool, id: `drained${round}`, slots: 1, log, pollMs: 50 });
      w.start();
      await eventually('the drained worker to hold the task', async () => (w.stats().current.length === 1 ? true : undefined), 10_000, 10);
      attempts.push(w.stats().current[0].attempt);
      assert.equal(await w.drain(0), 1, 'handed back');
    }
    assert.deepEqual(attempts, [1, 1, 1, 1], 'a hand-back spends no delivery');
    const finisher = new Worker({ transport, pool, id: 'finisher', slots: 1, log, pollMs: 50 });
    finisher.start();
    const rec = await coordinator.waitFor(id);
    assert.equal(rec.status, 'completed', rec.error);
    await finisher.drain(0);
    await coordinator.stop();
  });

  test('cancel stops running tasks at once and counts queued and running apart', async () => {
    const transport = createInProcessTransport({ leaseMs: 60_000 });
    const coordinator = new Coordinator({ transport, pool, log, reconcileMs: 200 });
    await coordinator.start();
    const worker = new Worker({ transport, pool, id: 'w', slots: 2, log, pollMs: 50 });
    worker.start();
    const { id } = await coordinator.submit(longSpec(4));
    await eventually('two tasks running', async () => (worker.stats().current.length === 2 ? true : undefined), 20_000, 10);
    const t0 = Date.now();
    const r = await coordinator.cancel(id);
    assert.deepEqual(r, { id, status: 'cancelled', purged: 2, stopping: 2 });
    await eventually('the running tasks stopped', async () => (worker.stats().current.length === 0 ? true : undefined), 5000, 10);
    const stoppedMs = Date.now() - t0;
    // A lease of a minute: only the notice can stop them this fast.
    assert.ok(stoppedMs < 3000, `stopped ${stoppedMs} ms after the cancel`);
    const records = await transport.state.entries(`task.${id}`);
    const stopped = [...records.values()].map((v) => decodeJson(v.value) as TaskRecord).filter((t) => t.error === 'stopped: its job was cancelled');
    assert.equal(stopped.length, 2);
    assert.equal(worker.stats().failed, 0, 'a cancelled task is not a failure');
    assert.equal(await transport.queue.next(50), null, 'nothing left to deliver');
    await worker.drain(0);
    await coordinator.stop();
  });
});

describe('what users see', () => {
  test('usable CPUs: the cores, capped by a cgroup quota and by the pod\'s CPU request', () => {
    assert.equal(usableCpus({}, 16, undefined), 16);
    assert.equal(usableCpus({}, 16, 4), 4);
    assert.equal(usableCpus({ PLEARN_CPU_REQUEST: '2' }, 16, 4), 2);
    assert.equal(usableCpus({ PLEARN_CPU_REQUEST: '0' }, 16, undefined), 16, 'no request');
    assert.equal(usableCpus({ PLEARN_CPU_REQUEST: 'x' }, 3, undefined), 3);
    const files = (m: Record<string, string>) => (p: string) => m[p];
    assert.equal(cgroupCpus(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined);
    assert.equal(cgroupCpus(files({ '/sys/fs/cgroup/cpu.max': '250000 100000\n' })), 2);
    assert.equal(cgroupCpus(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' })), 1, 'half a CPU still runs one thread');
    assert.equal(cgroupCpus(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '400000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), 4);
    assert.equal(cgroupCpus(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), undefined);
  });

  test('the workers table fits its longest pod name', () => {
    const lines = alignColumns([
      ['worker', 'threads', 'state', 'current tasks'],
      ['plearn-worker-cpu-7d9f8c6b5d-x2x9z', '2', 'running', 'j1/a-0-0 40%'],
      ['w1', '1', 'draining', '-'],
    ]);
    const second = 'plearn-worker-cpu-7d9f8c6b5d-x2x9z'.length + 2;
    assert.deepEqual(lines.map((l) => l.slice(second).split(' ')[0]), ['threads', '2', '1'], lines.join('\n'));
    assert.ok(lines[1].endsWith('j1/a-0-0 40%'));
  });

  test('without a terminal, a watch prints a plain progress line every interval, and nothing else', () => {
    let out = '';
    const stream = { write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBar(4, stream, false, 0);
    bar.update('a', 1, 1);
    bar.update('b', 1, 2);
    bar.finish();
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^progress:\s+25%\s+1\/4 units\s+\d+s elapsed/);
    assert.match(lines[1], /^progress:\s+38%\s+1\/4 units/);
    assert.doesNotMatch(out, /\r|\x1b/, 'no terminal control characters');
    let quiet = '';
    const silent = new ProgressBar(4, { write: (s: string) => { quiet += s; return true; } } as unknown as NodeJS.WriteStream, false);
    silent.update('a', 1, 1);
    silent.finish();
    assert.equal(quiet, '', 'plain lines only when asked for');
  });
});
