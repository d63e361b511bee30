// Client commands against a running cluster: submit (and watch), jobs, status,
// results, cancel, workers. All talk to the coordinator's JSON API on NATS and read
// results from the Object Store; none needs the coordinator's file system.

import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JobView } from '../shared/protocol/records.ts';
import type { JobEvent, JobRecord } from '../shared/protocol/records.ts';
import { TERMINAL } from '../shared/protocol/records.ts';
import { decodeJson } from '../shared/protocol/codec.ts';
import { apiSubject, eventSubject, WORKER_SERVICE } from '../shared/protocol/subjects.ts';
import type { ApiOp } from '../shared/protocol/subjects.ts';
import { ApiFailure } from '../shared/protocol/api.ts';
import type { ApiError, ErrorCode } from '../shared/protocol/api.ts';
import type { WorkerStats } from '../worker/service.ts';
import { logLevelOption } from './cli-common.ts';
import type { JobOutcome } from './local-run.ts';
import { readOutcome } from './local-run.ts';
import { addNatsOptions, openNats } from './nats-cli.ts';
import type { NatsFlags, OpenNats } from './nats-cli.ts';
import { discover, requestJson } from './nats/services.ts';
import { writeOutputs } from './outputs.ts';
import { ProgressBar } from './progress.ts';
import { renderResult } from './report.ts';
import type { JobResult, JobSpec } from '../shared/experiments/jobs.ts';
import type { JobOptions } from './run-options.ts';
import { addJobOptions, specFromOptions } from './run-options.ts';

export interface ClientFlags extends NatsFlags { json?: boolean; logLevel: string; timeoutMs: string }

const API_TIMEOUT_MS = 10_000;

/** How long a write keeps being retried while only standby coordinators answer (a takeover takes one leader TTL). */
export const NOT_ACTIVE_RETRY_MS = 45_000;

/**
 * One API call; an error reply becomes an ApiFailure with the coordinator's message.
 * Requests go to any coordinator replica: a standby refuses writes with
 * `not_active`, and the call is sent again (with backoff) until the active one
 * answers or `NOT_ACTIVE_RETRY_MS` has passed.
 */
export async function callApi<T>(nc: NatsConnection, op: ApiOp, body: unknown, timeoutMs = API_TIMEOUT_MS): Promise<T> {
  const t0 = Date.now();
  for (let attempt = 0; ; attempt++) {
    const reply = (await requestJson(nc, apiSubject(op), body, timeoutMs)) as T | ApiError;
    if (!(reply && typeof reply === 'object' && 'error' in reply)) return reply as T;
    const e = (reply as ApiError).error;
    if (e.code !== 'not_active' || Date.now() - t0 > NOT_ACTIVE_RETRY_MS) {
      const waited = e.code === 'not_active' ? ` (no active coordinator answered within ${NOT_ACTIVE_RETRY_MS / 1000} s)` : '';
      throw new ApiFailure(e.code as ErrorCode, e.message + waited, e.field);
    }
    await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
  }
}

/** Run `fn` with a client connection (the submitter's role), closed afterwards whatever happens. */
export async function withClient<T>(flags: NatsFlags, fn: (n: OpenNats) => Promise<T>): Promise<T> {
  const n = await openNats(flags, 'plearn-cli', { client: true });
  try {
    return await fn(n);
  } finally {
    await n.close();
  }
}

const out = (s: string) => process.stdout.write(s + '\n');

/** Rows padded so each column is as wide as its widest cell (pod names run long); the last column is left ragged. */
export function alignColumns(rows: readonly string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c]?.length ?? 0)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
}

/** How long a watch rides out a coordinator that does not answer (a restart, an upgrade, a takeover) before it gives up. */
export const WATCH_GAP_MS = 120_000;

/**
 * An API call during a watch: while no coordinator answers (the request fails
 * rather than the coordinator refusing it), try again every 2 s for up to
 * WATCH_GAP_MS, saying so once on stderr.
 */
async function riding<T>(call: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    try {
      const r = await call();
      if (said) process.stderr.write('plearn: the coordinator answers again; still watching\n');
      return r;
    } catch (e) {
      if (e instanceof ApiFailure || Date.now() - t0 > WATCH_GAP_MS) throw e;
      if (!said) process.stderr.write(`plearn: ${(e as Error).message}; retrying for up to ${WATCH_GAP_MS / 1000} s (a coordinator restart or upgrade)\n`);
      said = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

async function fetchOutcome(n: OpenNats, id: string): Promise<JobOutcome> {
  const info = await riding(() => callApi<{ blob: string; fitBlobs: string[] }>(n.nc, 'result', { id }));
  return readOutcome(n.transport, info);
}

async function emitOutcome(n: OpenNats, id: string, flags: { json?: boolean; out?: string }, decorate?: (r: JobResult) => JobResult): Promise<void> {
  const outcome = await fetchOutcome(n, id);
  if (decorate) outcome.result = decorate(outcome.result);
  if (flags.out) await writeOutputs(flags.out, outcome);
  out(flags.json ? JSON.stringify(outcome.result, null, 2) : renderResult(outcome.result));
}

/** Follow a job until it ends: progress bars from events, with a slow poll in case events are missed. */
async function watch(n: OpenNats, id: string, units: number): Promise<JobRecord['status']> {
  // Plain lines every 10 s where stderr is not a terminal (a pod's log, CI).
  const bar = new ProgressBar(units, process.stderr, Boolean(process.stderr.isTTY), 10_000);
  let status: JobRecord['status'] = 'running';
  let wake: () => void = () => undefined;
  const unsub = n.transport.events.subscribe(eventSubject(id), (_s, data) => {
    const ev = decodeJson(data) as JobEvent;
    if (ev.type === 'task-progress') bar.update(ev.taskId, ev.done, ev.total);
    else if (ev.type === 'task-done') bar.update(ev.taskId, 1, 1);
    else if (ev.type === 'fit-progress') bar.update(ev.fitId, ev.done, ev.total);
    else if (ev.type === 'fit-done') bar.update(ev.fitId, 1, 1);
    else if (ev.type === 'job') { status = ev.status; if (TERMINAL.includes(status)) wake(); }
  });
  try {
    while (!TERMINAL.includes(status)) {
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 2000); });
      if (TERMINAL.includes(status)) break;
      status = (await riding(() => callApi<{ job: JobView }>(n.nc, 'get', { id }))).job.status;
    }
  } finally {
    unsub();
    bar.finish();
  }
  return status;
}

/**
 * Submit a job, then print its id, or (watch) follow it and print its results;
 * `decorate` adds what only the client knows to the result. Returns the exit code.
 */
export async function submitAndFollow(n: OpenNats, spec: JobSpec, flags: ClientFlags & { watch?: boolean; out?: string },
  decorate?: (r: JobResult) => JobResult): Promise<number> {
  const sub = await callApi<{ id: string; tasks: number; fits: number }>(n.nc, 'submit', spec, Number(flags.timeoutMs));
  if (!flags.watch) {
    out(flags.json ? JSON.stringify(sub) : sub.id);
    return 0;
  }
  process.stderr.write(`job ${sub.id}: ${sub.tasks} agent task(s), ${sub.fits} fit(s)\n`);
  const status = await watch(n, sub.id, sub.tasks + sub.fits);
  if (status !== 'completed') {
    const j = (await riding(() => callApi<{ job: JobView }>(n.nc, 'get', { id: sub.id }))).job;
    process.stderr.write(`plearn: job ${sub.id} ${status}${j.error ? `: ${j.error}` : ''}\n`);
    return 1;
  }
  await emitOutcome(n, sub.id, flags, decorate);
  return 0;
}

function renderStatus(j: JobView): string {
  const t = j.tasks;
  const lines = [
    `job ${j.id} · ${j.experiment} · ${j.status}${j.wallMs !== undefined ? ` in ${(j.wallMs / 1000).toFixed(1)} s` : ''}`,
    `created ${j.createdAt} · updated ${j.updatedAt}`,
    `agent tasks ${t.done}/${t.total} done · ${t.running} running · ${t.queued} queued · ${t.retrying} retrying · ${t.failed} failed`,
    `fits ${j.fits.done}/${j.fits.total} done`,
  ];
  if (j.error) lines.push(`error: ${j.error}`);
  for (const f of j.failed) lines.push(`failed task ${f.taskId} after ${f.deliveries} deliveries: ${f.error}`);
  if (j.pending.length > 0) {
    lines.push('', 'task           status     worker                 attempts  last error');
    for (const p of j.pending) {
      lines.push(`${p.taskId.padEnd(14)} ${p.status.padEnd(10)} ${(p.worker ?? '-').padEnd(22)} ${String(p.attempts).padEnd(9)} ${p.error ?? ''}`);
    }
  }
  return lines.join('\n');
}

/** The options of every command that talks to the coordinator: NATS connection, --json, --timeout-ms, --log-level. */
export function clientCommand(cmd: Command, timeoutMs = API_TIMEOUT_MS): Command {
  return addNatsOptions(cmd)
    .option('--json', 'print JSON instead of text')
    .option('--timeout-ms <ms>', 'how long to wait for the coordinator to answer', String(timeoutMs))
    .addOption(logLevelOption());
}

export function registerClusterCommands(program: Command): void {
  const client = (cmd: Command) => clientCommand(cmd);

  client(addJobOptions(program.command('submit')
    .description('Submit a job to the cluster and print its id (--watch: follow it and print the results).')))
    .option('--watch', 'show live progress, then the results table (or with --json the document `plearn run --json` prints)')
    .option('--out <dir>', 'with --watch: write result.json and world-models.json here')
    .action(async (experiment: string, flags: JobOptions & ClientFlags & { watch?: boolean; out?: string }) => {
      const spec = await specFromOptions(experiment, flags);
      process.exitCode = await withClient(flags, (n) => submitAndFollow(n, spec, flags));
    });

  client(program.command('jobs').description('List jobs, newest first.'))
    .option('--status <s>', 'only jobs in this state: running | fitting | completed | failed | cancelled')
    .option('--limit <n>', 'at most this many (1–1000)', '100')
    .action(async (flags: ClientFlags & { status?: string; limit: string }) => {
      await withClient(flags, async (n) => {
        const { jobs } = await callApi<{ jobs: Omit<JobRecord, 'spec'>[] }>(n.nc, 'list', { status: flags.status, limit: Number(flags.limit) });
        if (flags.json) { out(JSON.stringify(jobs)); return; }
        out('id                   status     tasks  fits  created');
        for (const j of jobs) out(`${j.id.padEnd(20)} ${j.status.padEnd(10)} ${String(j.tasks).padEnd(6)} ${String(j.fits).padEnd(5)} ${j.createdAt}`);
      });
    });

  client(program.command('status').description('Show one job: task counts, failed and pending tasks.').argument('<id>', 'job id'))
    .action(async (id: string, flags: ClientFlags) => {
      await withClient(flags, async (n) => {
        const { job } = await callApi<{ job: JobView }>(n.nc, 'get', { id });
        out(flags.json ? JSON.stringify(job, null, 2) : renderStatus(job));
      });
    });

  client(program.command('results').description('Print a completed job\'s results (the `plearn run` report or JSON).').argument('<id>', 'job id'))
    .option('--out <dir>', 'write result.json and world-models.json here')
    .action(async (id: string, flags: ClientFlags & { out?: string }) => {
      await withClient(flags, (n) => emitOutcome(n, id, flags));
    });

  client(program.command('cancel').description('Cancel a job: stop dispatching and drop its queued tasks.').argument('<id>', 'job id'))
    .action(async (id: string, flags: ClientFlags) => {
      await withClient(flags, async (n) => {
        const r = await callApi<{ id: string; status: string; purged: number; stopping: number }>(n.nc, 'cancel', { id });
        out(flags.json ? JSON.stringify(r) : `job ${r.id} ${r.status} (${r.purged} queued task(s) dropped, ${r.stopping} running task(s) stopping)`);
      });
    });

  client(program.command('workers').description('List the workers on the cluster: threads, current tasks, throughput.'))
    .action(async (flags: ClientFlags) => {
      await withClient(flags, async (n) => {
        const found = await discover(n.nc, WORKER_SERVICE, Math.min(Number(flags.timeoutMs), 3000));
        const rows = found.map((w) => ({ instance: w.id, ...(w.data as WorkerStats | undefined) }));
        if (flags.json) { out(JSON.stringify(rows, null, 2)); return; }
        if (rows.length === 0) { out('(no workers answered)'); return; }
        const table = rows.map((r) => [
          String(r.id ?? r.instance), String(r.threads ?? '?'), String(r.state ?? '?'), String(r.completed ?? '?'), (r.tasksPerMinute ?? 0).toFixed(1),
          (r.current ?? []).map((c) => `${c.jobId}/${c.taskId} ${Math.round((100 * c.done) / Math.max(1, c.total))}%`).join(', ') || '-',
        ]);
        out(alignColumns([['worker', 'threads', 'state', 'done', 'tasks/min', 'current tasks'], ...table]).join('\n'));
      });
    });
}
