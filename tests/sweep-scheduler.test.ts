// The coordinator's sweep scheduler over the in-process transport: cells become
// jobs with the numbers `plearn sweep run` gives, never more than
// max-active-cells of them at once; a finished sweep submitted again runs
// nothing; a scheduler restarted mid-sweep resumes with every cell run exactly
// once; bad specs are refused naming the field.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { handleApi } from '../coordinator/api.ts';
import { Coordinator } from '../coordinator/engine.ts';
import { runSweepLocal } from '../coordinator/sweep/run-local.ts';
import { SweepScheduler } from '../coordinator/sweep/scheduler.ts';
import { parseSweepText } from '../coordinator/sweep/spec-file.ts';
import type { JobResult } from '../shared/experiments/jobs.ts';
import { decodeJson, encodeJson } from '../shared/protocol/codec.ts';
import type { JobEvent, JobRecord, SweepSubmitted, SweepView } from '../shared/protocol/records.ts';
import { ALL_EVENTS } from '../shared/protocol/subjects.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { Transport } from '../shared/transport/transport.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { Worker } from '../worker/service.ts';

const log = pino({ level: 'silent' });
const SPEC = JSON.stringify({
  name: 'sched', experiment: 'fourrooms', seeds: 2,
  base: { agent: 'oracle', 'fit-steps': 20000 },
  axes: { goals: [1, 3, 6], variant: ['deterministic', 'windy'] },
  metrics: ['wm-mse'],
});

let pool: TaskPool;
before(() => { pool = createLocalPool(2); });
after(async () => { await pool.close(); });

interface Node { coordinator: Coordinator; sweeps: SweepScheduler; stop(): Promise<void> }

async function coordinatorOn(t: Transport): Promise<Node> {
  const coordinator = new Coordinator({ transport: t, pool, log, reconcileMs: 100, fitsOn: 'workers' });
  await coordinator.start();
  const sweeps = new SweepScheduler({ transport: t, jobs: coordinator, log, reconcileMs: 100 });
  await sweeps.start();
  return { coordinator, sweeps, stop: async () => { await sweeps.stop(); await coordinator.stop(); } };
}

async function call<T>(n: Node, op: string, body: unknown): Promise<T> {
  return decodeJson(await handleApi(n.coordinator, op, encodeJson(body), n.sweeps)) as T;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const jobsIn = async (t: Transport) => Promise.all((await t.state.keys('job')).map(async (k) => decodeJson((await t.state.get(k))!.value) as JobRecord));
const ended = (n: Node, id: string) => until('the sweep to end', async () => {
  const v = (await call<{ sweep: SweepView }>(n, 'sweep-get', { id })).sweep;
  return v.status === 'running' ? undefined : v;
});

describe('sweep scheduler (in-process transport)', () => {
  const t = createInProcessTransport();
  let node: Node;
  let worker: Worker;
  let first: SweepSubmitted;

  before(async () => {
    node = await coordinatorOn(t);
    worker = new Worker({ transport: t, pool, id: 'w', slots: 2, log, pollMs: 20 });
    worker.start();
  });
  after(async () => { await worker.drain(0); await node.stop(); });

  test('cells run as jobs, at most max-active-cells at once, with the numbers of `plearn sweep run`', async () => {
    let running = 0;
    let peak = 0;
    const live = new Set<string>();
    const unsub = t.events.subscribe(ALL_EVENTS, (_s, data) => {
      const ev = decodeJson(data) as JobEvent;
      if (ev.type === 'task-progress' || ev.type === 'task-done') live.add(ev.jobId);
      if (ev.type === 'job' && ev.status === 'completed') live.delete(ev.jobId);
      running = live.size;
      peak = Math.max(peak, running);
    });
    first = await call<SweepSubmitted>(node, 'sweep-submit', { text: SPEC, source: 'sched.json', maxActiveCells: 2 });
    assert.deepEqual([first.cells, first.reused, first.toRun], [6, 0, 6], JSON.stringify(first));
    const view = await ended(node, first.id);
    unsub();
    assert.equal(view.status, 'completed', view.error);
    assert.ok(peak >= 1 && peak <= 2, `at most 2 cells' jobs active at once; saw ${peak}`);
    assert.equal((await jobsIn(t)).length, 6, 'one job per cell');

    const { spec, cells } = await parseSweepText(SPEC, 'sched.json');
    const local = await runSweepLocal(spec, cells, { pool });
    for (const c of view.page) {
      const job = (await jobsIn(t)).find((j) => j.id === c.jobId)!;
      assert.equal(job.status, 'completed');
      const result = decodeJson((await t.blobs.get(`result/${c.jobId}.json`))!) as JobResult;
      const mine = local.find((o) => o.cell.id === c.id)!;
      assert.deepEqual(result.summary, mine.result.summary, `cell ${c.index}: the summary of sweep run`);
      assert.deepEqual(result.config, mine.result.config);
    }
  });

  test('the same sweep submitted again reuses every cell and queues nothing', async () => {
    const before = (await jobsIn(t)).length;
    const again = await call<SweepSubmitted>(node, 'sweep-submit', { text: SPEC, source: 'sched.json', maxActiveCells: 2 });
    assert.deepEqual([again.reused, again.toRun], [6, 0]);
    const view = await ended(node, again.id);
    assert.equal(view.status, 'completed');
    assert.equal((await jobsIn(t)).length, before, 'no job was created');
    assert.equal(await t.queue.next(10), null, 'nothing queued');
    assert.ok(view.page.every((c) => c.reused), 'every cell marked reused');
    const list = await call<{ sweeps: { id: string }[] }>(node, 'sweep-list', {});
    assert.deepEqual(list.sweeps.map((s) => s.id).sort(), [first.id, again.id].sort());
  });

  test('a larger sweep containing the first runs only its new cells', async () => {
    const bigger = JSON.stringify({ ...JSON.parse(SPEC), axes: { goals: [1, 3, 6, 8], variant: ['deterministic', 'windy'] } });
    const sub = await call<SweepSubmitted>(node, 'sweep-submit', { text: bigger, source: 'bigger.json', maxActiveCells: 4 });
    assert.deepEqual([sub.cells, sub.reused, sub.toRun], [8, 6, 2]);
    assert.equal((await ended(node, sub.id)).status, 'completed');
    assert.equal((await jobsIn(t)).length, 8);
  });

  test('bad sweeps are refused naming the field, and nothing is scheduled', async () => {
    const before = (await jobsIn(t)).length;
    const cases: [unknown, string, RegExp][] = [
      [{ text: 'name: x\nexperiment: fourrooms\nseeds: 1\nmetrics: [wm-mse]\naxes:\n  goals: [1, 99]\n', source: 'x.yaml' }, 'axes.goals[1]', /x\.yaml line 6: axes\.goals\[1\]/],
      [{ text: 'name: x\nexperiment: pong\n', source: 'p.yaml' }, 'experiment', /p\.yaml line 2/],
      [{ text: '{', source: 'b.json' }, 'spec', /not valid YAML or JSON/],
      [{ text: 'name: x\nexperiment: fourrooms\nseeds: 1\nmetrics: [wm-mse]\nbase:\n  layout: mine.txt\n', source: 'l.yaml' }, 'base.layout', /mine\.txt was not sent/],
      [{ text: SPEC, maxActiveCells: 0 }, 'maxActiveCells', /maxActiveCells: expected an integer in \[1, 1024\]/],
      [{ text: SPEC, layouts: { a: 5 } }, 'layouts', /layouts: each entry/],
      [{ text: 'x'.repeat(300 * 1024) }, 'text', /exceeds the limit of 262144 bytes/],
      // Within what `plearn sweep run` accepts, beyond what one cluster job may ask for.
      [{ text: JSON.stringify({ ...JSON.parse(SPEC), base: { agent: 'qlearning', reward: 'generic', steps: 1e9, 'goals-per-agent': 10 }, seeds: 100,
        axes: { goals: [10000] } }) }, 'steps', /cell 0 \(goals=10000\): steps: .*exceeds the limit of 1e\+12/],
    ];
    for (const [body, field, message] of cases) {
      const r = await call<{ error?: { code: string; message: string; field?: string } }>(node, 'sweep-submit', body);
      assert.equal(r.error?.code, 'bad_request', JSON.stringify(r));
      assert.equal(r.error?.field, field, JSON.stringify(r));
      assert.match(r.error!.message, message);
    }
    const missing = await call<{ error?: { code: string } }>(node, 'sweep-get', { id: 'nope' });
    assert.equal(missing.error?.code, 'not_found');
    assert.equal((await jobsIn(t)).length, before);
  });
});

test('a coordinator restarted mid-sweep resumes it: every cell run exactly once', async () => {
  const t = createInProcessTransport();
  let node = await coordinatorOn(t);
  const worker = new Worker({ transport: t, pool, id: 'w', slots: 2, log, pollMs: 20 });
  worker.start();
  const sub = await call<SweepSubmitted>(node, 'sweep-submit', { text: SPEC, source: 'sched.json', maxActiveCells: 1 });
  await until('the first cell to finish', async () => ((await jobsIn(t)).some((j) => j.status === 'completed') ? true : undefined));
  await node.stop();
  node = await coordinatorOn(t);
  const view = await ended(node, sub.id);
  assert.equal(view.status, 'completed', view.error);
  const jobs = await jobsIn(t);
  assert.equal(jobs.length, 6, 'one job per cell, none twice');
  assert.ok(jobs.every((j) => j.status === 'completed'));
  assert.equal(new Set(view.page.map((c) => c.jobId)).size, 6);
  await worker.drain(0);
  await node.stop();
});
