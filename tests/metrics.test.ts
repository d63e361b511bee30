// Prometheus metrics scraped from a real coordinator and a real worker (over a real
// nats-server) after a job whose work is known: the counters must equal what the
// job did, the label sets must stay bounded (no job or task ids), and the Grafana
// dashboard shipped in deploy/ may only query metrics the services export. The
// same job's timeline: every task's timestamps in order, and the Gantt chart.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { discover, requestJson } from '../coordinator/nats/services.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { plearn } from './support/run-cli.ts';
import { eventually, startService, stopAll } from './support/services.ts';
import type { Service } from './support/services.ts';

const missing = natsServerMissing();

/** Sample lines of the text format: `name{labels} value`, comments dropped. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const hits = samples(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.reduce((a, s) => a + s.value, 0);
}

const healthPort = (s: Service) => Number(/"healthPort":(\d+)/.exec(s.log())?.[1]);

describe('Prometheus metrics', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let coordinator: Service;
  let worker: Service;
  let coordText = '';
  let workerText = '';

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const nats = ['--nats', server.url];
    coordinator = startService('coordinator', ['coordinator', ...nats, '--fits-on', 'workers', '--health-port', '0', '--log-level', 'info']);
    worker = startService('worker', ['worker', ...nats, '--threads', '1', '--id', 'm1', '--health-port', '0', '--log-level', 'info']);
    await eventually('the worker to register', async () => ((await discover(nc, 'plearn-worker', 500)).length === 1 ? true : undefined), 60_000, 300);
    // 2 seeds × 2 one-goal shards = 4 agent tasks, and 2 fits, all on the worker.
    const run = await plearn(['submit', 'fourrooms', '--agent', 'oracle', '--goals', '2', '--goals-per-agent', '1', '--seeds', '2', '--watch', '--json', ...nats], 120_000);
    assert.equal(run.code, 0, run.stderr);
    const bad = (await requestJson(nc, 'plearn.api.submit', { experiment: 'chess' }, 5000)) as { error?: unknown };
    assert.ok(bad.error);
    const scrape = async (s: Service) => {
      const r = await fetch(`http://127.0.0.1:${healthPort(s)}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return r.text();
    };
    coordText = await scrape(coordinator);
    workerText = await scrape(worker);
  });

  after(async () => {
    await nc?.close();
    await stopAll([coordinator, worker].filter(Boolean));
    await server?.stop();
  });

  test('the coordinator counts the job, its fits and the API requests', () => {
    assert.equal(value(coordText, 'plearn_jobs_submitted_total', { experiment: 'fourrooms' }), 1);
    assert.equal(value(coordText, 'plearn_jobs_finished_total', { experiment: 'fourrooms', status: 'completed' }), 1);
    assert.equal(value(coordText, 'plearn_jobs_active'), 0);
    assert.equal(value(coordText, 'plearn_fit_seconds_count'), 2);
    assert.equal(value(coordText, 'plearn_api_requests_total', { op: 'submit', code: 'ok' }), 1);
    assert.equal(value(coordText, 'plearn_api_requests_total', { op: 'submit', code: 'bad_request' }), 1);
    assert.ok(value(coordText, 'plearn_api_requests_total', { op: 'result', code: 'ok' }) >= 1, '--watch read the result');
    assert.equal(value(coordText, 'plearn_tasks_dead_lettered_total'), 0);
    assert.ok(value(coordText, 'process_cpu_seconds_total') > 0, 'the default process metrics');
  });

  test('the worker counts every task it ran, by kind, with run and upload times', () => {
    assert.equal(value(workerText, 'plearn_worker_tasks_total', { kind: 'tabular-agent', outcome: 'done' }), 4);
    assert.equal(value(workerText, 'plearn_worker_tasks_total', { kind: 'fit', outcome: 'done' }), 2);
    assert.equal(value(workerText, 'plearn_worker_tasks_total', { outcome: 'failed' }), 0);
    assert.equal(value(workerText, 'plearn_worker_task_run_seconds_count', { kind: 'tabular-agent' }), 4);
    assert.equal(value(workerText, 'plearn_worker_artifact_upload_seconds_count'), 6, '4 artifacts and 2 fit outputs stored');
    assert.equal(value(workerText, 'plearn_worker_artifact_download_seconds_count'), 4, 'each fit read its seed\'s 2 artifacts');
    assert.equal(value(workerText, 'plearn_worker_tasks_claimed_total'), 6);
    assert.ok(value(workerText, 'plearn_worker_artifact_upload_bytes_total') > 0);
    assert.equal(value(workerText, 'plearn_worker_slots'), 1);
    assert.equal(value(workerText, 'plearn_worker_busy_slots'), 0);
  });

  test('labels are bounded: no job, task or sweep id in any label', () => {
    for (const text of [coordText, workerText]) {
      for (const s of samples(text)) {
        for (const [k, v] of Object.entries(s.labels)) assert.doesNotMatch(v, /^[js][0-9a-z]{10,}$|^a-\d+-\d+$|^fit-\d+$/, `${s.name} ${k}="${v}"`);
        if (s.name.startsWith('plearn_')) assert.ok(!('job' in s.labels) && !('task' in s.labels), s.name);
      }
    }
  });

  test('plearn timeline: every task with ordered timestamps on the worker\'s slot; stats and a Gantt chart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plearn-timeline-'));
    try {
      const { jobs } = (await requestJson(nc, 'plearn.api.list', {}, 5000)) as { jobs: { id: string }[] };
      const nats = ['--nats', server.url];
      const r = await plearn(['timeline', jobs[0].id, '--json', '--out', join(dir, 't.svg'), ...nats], 60_000);
      assert.equal(r.code, 0, r.stderr);
      type Doc = { of: string; stats: { tasks: number; lanes: number; utilisation: number; speedup: number; wallMs: number; criticalMs: number };
        entries: { task: string; kind: string; worker: string; slot: number; queuedAt?: number; claimedAt: number; startedAt: number; finishedAt: number; storedAt: number }[] };
      const doc = JSON.parse(r.stdout) as Doc;
      assert.equal(doc.of, 'job');
      assert.equal(doc.entries.length, 6, '4 agent tasks and 2 fits');
      assert.deepEqual(doc.entries.map((e) => e.kind).sort(), ['fit', 'fit', 'tabular-agent', 'tabular-agent', 'tabular-agent', 'tabular-agent']);
      for (const e of doc.entries) {
        assert.deepEqual([e.worker, e.slot], ['m1', 0], e.task);
        const times = [e.queuedAt ?? e.claimedAt, e.claimedAt, e.startedAt, e.finishedAt, e.storedAt];
        assert.ok(times.every((t, i) => typeof t === 'number' && (i === 0 || t >= times[i - 1])), `${e.task}: ${times.join(' ≤ ')}`);
      }
      const s = doc.stats;
      assert.equal(s.lanes, 1);
      assert.ok(s.utilisation > 0 && s.utilisation <= 1, `utilisation ${s.utilisation}`);
      assert.ok(s.speedup > 0 && s.speedup <= 1.001, `one slot cannot beat one thread: ${s.speedup}`);
      assert.ok(s.criticalMs > 0 && s.criticalMs <= s.wallMs, `critical ${s.criticalMs} ms, wall ${s.wallMs} ms`);
      const svg = await readFile(join(dir, 't.svg'), 'utf8');
      assert.equal(svg.match(/<rect class="task"/g)?.length, 6);
      assert.ok((await readFile(join(dir, 't.png'))).subarray(1, 4).toString() === 'PNG');
      const text = await plearn(['timeline', jobs[0].id, ...nats], 60_000);
      assert.match(text.stdout, /6 task\(s\) over 1 job\(s\) on 1 lane\(s\)/);
      const none = await plearn(['timeline', 'nope', ...nats], 60_000);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /no job or sweep nope/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the Grafana dashboard queries only metrics the services export', async () => {
    const dash = JSON.parse(await readFile('deploy/grafana-dashboard.json', 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    // A labelled metric nothing has touched yet has only its HELP and TYPE lines: those count as exported too.
    const exported = new Set([...samples(coordText), ...samples(workerText)].map((s) => s.name));
    for (const [, name, type] of `${coordText}\n${workerText}`.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix);
    }
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    assert.ok(exprs.length >= 8, `${exprs.length} queries`);
    for (const { panel, expr } of exprs) {
      const names = [...expr.matchAll(/\b(plearn_[a-z_]+|process_[a-z_]+|nodejs_[a-z_]+)\b/g)].map((m) => m[1]);
      assert.ok(names.length > 0, `${panel}: ${expr} names a metric`);
      for (const n of names) assert.ok(exported.has(n), `${panel}: ${n} is not exported (${expr})`);
    }
  });
});
