// The distributed runtime end to end, as users run it: a real nats-server with
// JetStream, a `plearn coordinator` process, two `plearn worker` processes, and
// the CLI submitting jobs. Results must equal `plearn run`'s; killed workers and
// a restarted coordinator must lose nothing and count nothing twice.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { plearn } from './support/run-cli.ts';
import type { Run } from './support/run-cli.ts';
import { eventually, startService, stopAll } from './support/services.ts';
import type { Service } from './support/services.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import { discover, requestJson } from '../coordinator/nats/services.ts';
import type { NatsServerHandle } from './support/nats-server.ts';

const missing = natsServerMissing();

interface WorkerRow { id: string; threads: number; state: string; completed: number; current: { jobId: string; taskId: string }[] }
interface JobView { status: string; tasks: { total: number; done: number; failed: number; running: number }; failed: unknown[] }

describe('cluster over NATS JetStream', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let dir: string;
  let coordinator: Service;
  const workers = new Map<string, Service>();
  const nats = () => ['--nats', server.url];

  const startCoordinator = () => startService('coordinator',
    ['coordinator', ...nats(), '--threads', '2', '--lease-ms', '3000', '--leader-ttl-ms', '3000', '--reconcile-ms', '500', '--health-port', '0', '--log-level', 'info']);
  const startWorker = (id: string) => {
    const w = startService(id, ['worker', ...nats(), '--threads', '1', '--id', id, '--health-port', '0', '--drain-timeout-ms', '2000', '--log-level', 'info']);
    workers.set(id, w);
    return w;
  };
  const cli = async (args: string[], timeoutMs = 120_000): Promise<Run> => plearn([...args, ...nats()], timeoutMs);
  const json = <T>(r: Run, what: string): T => {
    assert.equal(r.code, 0, `${what} failed: ${r.stderr}\n--- coordinator ---\n${coordinator.log().slice(-3000)}`);
    return JSON.parse(r.stdout) as T;
  };
  // Polling goes straight to the API (a CLI process per poll is slow); the CLI commands are exercised once each.
  const listWorkers = async () => (await discover(nc, 'plearn-worker', 1000)).map((w) => w.data as WorkerRow);
  const jobStatus = async (id: string) => ((await requestJson(nc, 'plearn.api.get', { id }, 5000)) as { job: JobView }).job;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plearn-cluster-'));
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

  test('a FourRooms job sharded over two workers gives the world model of `plearn run`, bit for bit', async () => {
    const opts = ['fourrooms', '--agent', 'qlearning', '--steps', '30000', '--goals', '6', '--goals-per-agent', '2', '--seeds', '2',
      '--seed', '11', '--reward', 'generic', '--fit', 'closed', '--support', 'full'];
    const local = await plearn(['run', ...opts, '--json', '--out', join(dir, 'local-fr')], 120_000);
    assert.equal(local.code, 0, local.stderr);
    const remote = await cli(['submit', ...opts, '--watch', '--json', '--out', join(dir, 'remote-fr')]);
    type Doc = { summary: unknown; seeds: { agents: { seed: number }[] }[] };
    const a = JSON.parse(local.stdout) as Doc;
    const b = json<Doc>(remote, 'submit --watch');
    assert.deepEqual(b.summary, a.summary, 'same summary');
    assert.deepEqual(b.seeds.map((s) => s.agents.map((x) => x.seed)), a.seeds.map((s) => s.agents.map((x) => x.seed)));
    const pa = JSON.parse(await readFile(join(dir, 'local-fr', 'world-models.json'), 'utf8')) as { P: number[] }[];
    const pb = JSON.parse(await readFile(join(dir, 'remote-fr', 'world-models.json'), 'utf8')) as { P: number[] }[];
    assert.equal(pb.length, 2);
    let maxDiff = 0;
    for (let s = 0; s < 2; s++) for (let i = 0; i < pa[s].P.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pa[s].P[i] - pb[s].P[i]));
    assert.ok(maxDiff <= 1e-12, `max |P_cluster − P_run| = ${maxDiff}`);
    // Both workers took part, and `plearn workers` lists them.
    const rows = json<WorkerRow[]>(await cli(['workers', '--json']), 'plearn workers');
    assert.deepEqual(rows.map((r) => r.id).sort(), ['wA', 'wB']);
    assert.ok(rows.every((r) => r.threads === 1 && r.completed > 0), JSON.stringify(rows));
  });

  test('a MountainCar job moves network weights through the Object Store and equals `plearn run`', async () => {
    const opts = ['mountaincar', '--agent', 'oracle', '--grid', '25', '--goals-per-agent', '2', '--fit-steps', '40', '--fit-batch', '64',
      '--eval-states', '200', '--rollouts', '8', '--backend', 'cpu', '--seed', '3'];
    const local = await plearn(['run', ...opts, '--json', '--out', join(dir, 'local-mc')], 180_000);
    assert.equal(local.code, 0, local.stderr);
    const remote = await cli(['submit', ...opts, '--watch', '--json', '--out', join(dir, 'remote-mc')], 180_000);
    const b = json<{ summary: unknown }>(remote, 'submit mountaincar');
    assert.deepEqual(b.summary, JSON.parse(local.stdout).summary);
    const wa = JSON.parse(await readFile(join(dir, 'local-mc', 'world-models.json'), 'utf8'));
    const wb = JSON.parse(await readFile(join(dir, 'remote-mc', 'world-models.json'), 'utf8'));
    assert.deepEqual(wb, wa, 'identical world-model weights');
    assert.ok(wa[0].layers[0].w.length > 100);
  });

  test('`plearn workers` shows each worker\'s current task; kill -9 of a worker mid-task loses nothing', async () => {
    const sub = await cli(['submit', 'fourrooms', '--agent', 'qlearning', '--steps', '40000000', '--goals', '4', '--goals-per-agent', '1', '--seed', '5']);
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim();
    // Wait until both workers hold a task, then kill one of them without warning.
    const busy = await eventually('both workers busy', async () => {
      const rows = await listWorkers();
      return rows.length === 2 && rows.every((r) => r.current.length === 1 && r.current[0].jobId === id) ? rows : undefined;
    }, 60_000, 300);
    const victim = busy.find((r) => r.id === 'wA')!;
    workers.get('wA')!.signal('SIGKILL');
    await workers.get('wA')!.exited;
    const done = await eventually('job completion', async () => {
      const j = await jobStatus(id);
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    }, 180_000, 1000);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual({ total: done.tasks.total, done: done.tasks.done, failed: done.tasks.failed }, { total: 4, done: 4, failed: 0 });
    const res = json<{ seeds: { agents: { shardIndex: number }[] }[] }>(await cli(['results', id, '--json']), 'results');
    assert.deepEqual(res.seeds[0].agents.map((a) => a.shardIndex), [0, 1, 2, 3], 'every shard exactly once');
    // The killed worker's task ran again elsewhere; `plearn status` tells the story.
    const st = json<JobView & { pending: unknown[] }>(await cli(['status', id, '--json']), 'plearn status');
    assert.equal(st.status, 'completed');
    assert.ok(victim.current[0].taskId.startsWith('a-0-'));
    startWorker('wA2');
  });

  test('a coordinator restarted mid-job resumes it to completion; a watching submit rides out the gap', async () => {
    const watcher = startService('watch', ['submit', 'fourrooms', '--agent', 'qlearning', '--steps', '20000000', '--goals', '4',
      '--goals-per-agent', '1', '--seed', '9', '--watch', ...nats()]);
    const id = await eventually('the job id', async () => /job (\S+): 4 agent task/.exec(watcher.log())?.[1], 30_000, 100);
    await eventually('a task running', async () => ((await jobStatus(id)).tasks.running > 0 ? true : undefined), 30_000, 200);
    coordinator.signal('SIGKILL');
    await coordinator.exited;
    // Long enough for the watch's next poll to find nobody.
    await new Promise((r) => setTimeout(r, 5000));
    coordinator = startCoordinator();
    assert.equal(await watcher.exited, 0, watcher.log());
    assert.match(watcher.log(), /nothing answers on plearn\.api\.get.*retrying for up to 120 s/);
    assert.match(watcher.log(), /the coordinator answers again; still watching/);
    assert.match(watcher.log(), /progress: +\d+%/, 'plain progress lines without a terminal');
    const done = await eventually('job completion after the restart', async () => {
      const j = await jobStatus(id);
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    }, 180_000, 1000);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.tasks.done, 4);
  });

  test('a worker answers its health probes, and SIGTERM drains it: held task handed back, exit 0, job completes', async () => {
    const wB = workers.get('wB')!;
    const port = Number(/"healthPort":(\d+)/.exec(wB.log())?.[1]);
    assert.ok(port > 0, 'the worker logs its health port');
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const sub = await cli(['submit', 'fourrooms', '--agent', 'qlearning', '--steps', '40000000', '--goals', '2', '--goals-per-agent', '1', '--seed', '21']);
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim();
    await eventually('wB busy', async () => ((await listWorkers()).find((r) => r.id === 'wB')?.current.length === 1 ? true : undefined), 60_000, 200);
    wB.signal('SIGTERM');
    assert.equal(await wB.exited, 0, wB.log().slice(-2000));
    assert.match(wB.log(), /drain timed out; tasks handed back|drained/);
    const done = await eventually('job completion', async () => {
      const j = await jobStatus(id);
      return j.status === 'completed' || j.status === 'failed' ? j : undefined;
    }, 180_000, 1000);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    startWorker('wB2');
    await eventually('two workers again', async () => ((await listWorkers()).length === 2 ? true : undefined), 60_000, 500);
  });

  test('malformed requests get error replies and the services stay up', async () => {
    const enc = new TextEncoder();
    const bodies: [string, Uint8Array][] = [
      ['plearn.api.submit', enc.encode('{not json')],
      ['plearn.api.submit', enc.encode('{"experiment": 7}')],
      ['plearn.api.submit', enc.encode('{"experiment": "chess"}')],
      ['plearn.api.submit', enc.encode('{"experiment": "fourrooms", "options": {"seeds": "lots"}}')],
      ['plearn.api.get', enc.encode('{"id": ["x"]}')],
      ['plearn.api.cancel', new Uint8Array([0, 1, 2, 255])],
    ];
    for (const [subject, body] of bodies) {
      const m = await nc.request(subject, body, { timeout: 5000 });
      const reply = JSON.parse(new TextDecoder().decode(m.data)) as { error?: { code: string; message: string } };
      assert.equal(reply.error?.code, 'bad_request', `${subject}: ${JSON.stringify(reply)}`);
    }
    const unknown = await cli(['submit', 'chess']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown experiment "chess"/);
    const list = json<unknown[]>(await cli(['jobs', '--json']), 'jobs');
    assert.ok(list.length >= 4, 'the coordinator still answers');
    assert.equal((await listWorkers()).length, 2, 'both live workers still answer');
  });
});
