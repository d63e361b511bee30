// Sweeps on a real cluster, as users run them: nats-server with JetStream, a
// `plearn coordinator` (fits handed to the workers), two `plearn worker`
// processes, and `plearn sweep submit|status|results|list|cancel`. A cluster
// sweep equals the local `plearn sweep run` cell for cell; submitted again it
// runs nothing; kill -9 of a worker and of the coordinator mid-sweep lose no
// cell and run none twice.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { discover, requestJson } from '../coordinator/nats/services.ts';
import { plearn } from './support/run-cli.ts';
import type { Run } from './support/run-cli.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { eventually, startService, stopAll } from './support/services.ts';
import type { Service } from './support/services.ts';

const missing = natsServerMissing();

interface SweepDoc { cells: { id: string; index: number; status: string; reused?: boolean; summary?: unknown }[]; done: number }
interface SweepView {
  id: string; status: string; cells: number; error?: string;
  counts: Record<string, number>; page: { id: string; index: number; status: string; jobId?: string; reused?: boolean }[];
}
interface WorkerRow { id: string; current: { jobId: string; taskId: string }[] }

const QUICK = {
  name: 'cluster-quick', experiment: 'fourrooms', seeds: 2,
  base: { agent: 'oracle', 'fit-steps': 20000 },
  axes: { goals: [1, 4], variant: ['deterministic', 'windy'] },
  metrics: ['wm-mse', 'r-ratio'], correlate: ['wm-mse', 'r-ratio'],
};

/** Cells of a few seconds each (one-goal Q-learning agents of about a second), so there is time to kill things mid-sweep. */
const SLOW = {
  name: 'cluster-slow', experiment: 'fourrooms', seeds: 1,
  base: { agent: 'qlearning', steps: 6000000, 'goals-per-agent': 1, reward: 'generic', fit: 'closed', support: 'full', seed: 3 },
  axes: { goals: [2, 3, 4] },
  metrics: ['wm-mse'],
};

describe('sweeps on a NATS cluster', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let dir: string;
  let coordinator: Service;
  const workers = new Map<string, Service>();
  const nats = () => ['--nats', server.url];

  const startCoordinator = () => startService('coordinator',
    ['coordinator', ...nats(), '--fits-on', 'workers', '--lease-ms', '3000', '--leader-ttl-ms', '3000', '--reconcile-ms', '500', '--health-port', '0', '--log-level', 'info']);
  const startWorker = (id: string) => {
    const w = startService(id, ['worker', ...nats(), '--threads', '1', '--id', id, '--health-port', '0', '--drain-timeout-ms', '2000', '--log-level', 'info']);
    workers.set(id, w);
    return w;
  };
  const cli = (args: string[], timeoutMs = 300_000): Promise<Run> => plearn([...args, ...nats()], timeoutMs);
  const json = <T>(r: Run, what: string): T => {
    assert.equal(r.code, 0, `${what} failed: ${r.stderr}\n--- coordinator ---\n${coordinator.log().slice(-3000)}`);
    return JSON.parse(r.stdout) as T;
  };
  const specFile = async (spec: unknown, name: string) => {
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(spec));
    return file;
  };
  const sweepView = async (id: string) => ((await requestJson(nc, 'plearn.api.sweep-get', { id, limit: 1000 }, 10_000)) as { sweep: SweepView }).sweep;
  const jobCount = async () => ((await requestJson(nc, 'plearn.api.list', { limit: 1000 }, 10_000)) as { jobs: unknown[] }).jobs.length;
  const listWorkers = async () => (await discover(nc, 'plearn-worker', 1000)).map((w) => w.data as WorkerRow);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plearn-sweep-cluster-'));
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    coordinator = startCoordinator();
    startWorker('wA');
    startWorker('wB');
    await eventually('both workers to register', async () => ((await listWorkers()).length === 2 ? true : undefined), 60_000, 500);
  });

  after(async () => {
    await nc?.close();
    await stopAll([coordinator, ...workers.values()].filter(Boolean));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a sweep over two workers equals `plearn sweep run`, cell for cell; submitted again it runs nothing', async () => {
    const file = await specFile(QUICK, 'quick');
    const local = await plearn(['sweep', 'run', file, '--json', '--out', join(dir, 'local')], 300_000);
    assert.equal(local.code, 0, local.stderr);
    const remote = await cli(['sweep', 'submit', file, '--watch', '--json', '--max-active-cells', '2', '--out', join(dir, 'remote')]);
    const a = JSON.parse(local.stdout) as SweepDoc;
    const b = json<SweepDoc>(remote, 'sweep submit --watch');
    assert.match(remote.stderr, /cells 4\/4/);
    assert.equal(b.done, 4);
    assert.deepEqual(b.cells.map((c) => [c.id, c.status, c.summary]), a.cells.map((c) => [c.id, c.status, c.summary]), 'same cells, same numbers');
    // The cluster's --out folder holds what a local run's does, so a local run into it computes nothing.
    const csvA = await readFile(join(dir, 'local', 'cells.csv'), 'utf8');
    const csvB = await readFile(join(dir, 'remote', 'cells.csv'), 'utf8');
    assert.equal(csvB, csvA, 'identical tidy tables');
    const rerunLocal = await plearn(['sweep', 'run', file, '--json', '--out', join(dir, 'remote')], 120_000);
    assert.ok((JSON.parse(rerunLocal.stdout) as SweepDoc).cells.every((c) => c.reused), 'a local run reuses the cluster\'s cells');

    const jobsBefore = await jobCount();
    const again = json<{ id: string; reused: number; toRun: number }>(await cli(['sweep', 'submit', file, '--json']), 'sweep submit again');
    assert.deepEqual([again.reused, again.toRun], [4, 0]);
    const view = await eventually('the second sweep to end', async () => {
      const v = await sweepView(again.id);
      return v.status === 'running' ? undefined : v;
    }, 30_000, 200);
    assert.equal(view.status, 'completed');
    assert.equal(await jobCount(), jobsBefore, 'no job created');

    const listed = json<{ id: string }[]>(await cli(['sweep', 'list', '--json']), 'sweep list');
    assert.ok(listed.some((s) => s.id === again.id));
    const status = await cli(['sweep', 'status', again.id]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /cells 4: 4 completed/);
    assert.match(status.stdout, /\(reused\)/);
    const results = json<SweepDoc>(await cli(['sweep', 'results', again.id, '--json']), 'sweep results');
    assert.deepEqual(results.cells.map((c) => c.summary), a.cells.map((c) => c.summary));
    const cancel = await cli(['sweep', 'cancel', again.id]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /completed \(0 running job\(s\) cancelled\)/);
    // The first sweep's timeline: its 4 cells' jobs (2 agent tasks and 2 fits each) on the two workers.
    const first = listed.find((x) => x.id !== again.id)!;
    const tl = json<{ of: string; jobs: number; stats: { tasks: number; lanes: number } }>(
      await cli(['timeline', first.id, '--json']), 'timeline of a sweep');
    assert.deepEqual([tl.of, tl.jobs, tl.stats.tasks, tl.stats.lanes], ['sweep', 4, 16, 2]);
    const unknown = await cli(['sweep', 'status', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no sweep nope/);
  });

  test('kill -9 of a worker and of the coordinator mid-sweep: every cell completes, each exactly once, with the local numbers', async () => {
    const file = await specFile(SLOW, 'slow');
    const jobsBefore = await jobCount();
    const sub = json<{ id: string; cells: number }>(await cli(['sweep', 'submit', file, '--json', '--max-active-cells', '1']), 'sweep submit');
    assert.equal(sub.cells, 3);
    const victim = await eventually('a worker busy with the sweep', async () => {
      const rows = await listWorkers();
      return rows.find((r) => r.current.length > 0)?.id;
    }, 60_000, 100);
    workers.get(victim)!.signal('SIGKILL');
    await workers.get(victim)!.exited;
    startWorker(`${victim}2`);
    await eventually('a first cell done', async () => {
      const v = await sweepView(sub.id);
      return v.counts.completed >= 1 && v.status === 'running' ? true : undefined;
    }, 180_000, 100);
    coordinator.signal('SIGKILL');
    await coordinator.exited;
    coordinator = startCoordinator();
    const view = await eventually('the sweep to end after the restart', async () => {
      const v = await sweepView(sub.id).catch(() => undefined);
      return v && v.status !== 'running' ? v : undefined;
    }, 300_000, 1000);
    assert.equal(view.status, 'completed', JSON.stringify(view));
    assert.equal(await jobCount(), jobsBefore + 3, 'one job per cell, none submitted twice');
    assert.equal(new Set(view.page.map((c) => c.jobId)).size, 3);

    const local = await plearn(['sweep', 'run', file, '--json'], 300_000);
    assert.equal(local.code, 0, local.stderr);
    const remote = json<SweepDoc>(await cli(['sweep', 'results', sub.id, '--json']), 'sweep results');
    assert.deepEqual(remote.cells.map((c) => c.summary), (JSON.parse(local.stdout) as SweepDoc).cells.map((c) => c.summary),
      'the numbers of an undisturbed local run');
  });
});
