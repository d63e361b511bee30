// The scaling benchmark's simulated mode: a real nats-server, a real `plearn
// coordinator` process (fits on the workers) and N simulated workers spread over
// a few host processes (sim-host.ts: each a real Worker with its own
// connection). Jobs of FourRooms agents are submitted through the API; the
// figures come from the jobs' timelines (the records the workers wrote), from
// /proc for CPU and memory, and from the hosts' own count of what they ran.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { callApi } from '../../coordinator/cluster-cli.ts';
import { fetchTimeline } from '../../coordinator/timeline/cli.ts';
import { dispatchDelays, dispatchStats } from '../../coordinator/timeline/dispatch.ts';
import { timelineStats } from '../../coordinator/timeline/stats.ts';
import type { DispatchStats } from '../../coordinator/timeline/dispatch.ts';
import type { JobSpec } from '../../shared/experiments/jobs.ts';
import type { JobRecord, TimelineEntry } from '../../shared/protocol/records.ts';
import { TERMINAL } from '../../shared/protocol/records.ts';
import { startNatsServer } from '../../tests/support/nats-server.ts';
import { ROOT } from '../../tests/support/run-cli.ts';
import { eventually, startService, stopAll } from '../../tests/support/services.ts';
import type { HostConfig, HostReport } from './sim-host.ts';
import { cpuSeconds, peakRssMb } from './proc.ts';
import { durationMean } from './sim-pool.ts';

export interface SimRunOptions {
  readonly workers: number;
  /** Host processes the workers are spread over. */
  readonly processes: number;
  readonly jobs: number;
  readonly tasksPerJob: number;
  /** Task duration distribution (sim-pool.ts parseDuration). */
  readonly duration: string;
  readonly artifactBytes: number;
  /** Give up waiting for the jobs after this long (ms). */
  readonly timeoutMs: number;
  /** Worker pull wait (ms). */
  readonly pollMs?: number;
  /** Told what is happening (progress on stderr). */
  readonly say?: (line: string) => void;
}

export interface SimRow {
  readonly workers: number;
  readonly processes: number;
  readonly tasks: number;
  readonly duration: string;
  readonly artifactBytes: number;
  /** Agent tasks: first queued → last stored (s). */
  readonly wallS: number;
  readonly tasksPerSec: number;
  /** Slots ÷ mean task duration; null for tasks of 0 s. */
  readonly idealTasksPerSec: number | null;
  readonly efficiency: number | null;
  readonly dispatch: DispatchStats;
  /** Submit of the first job → every job completed (s), fits included. */
  readonly jobsWallS: number;
  readonly jobsCompleted: number;
  readonly coordinatorCpuPct: number;
  readonly coordinatorPeakRssMb: number;
  readonly natsCpuPct: number;
  /** The hosts' own CPU (all simulated workers). */
  readonly hostsCpuPct: number;
  /** Agent tasks run: in all, distinct, run more than once, never run. */
  readonly runs: number;
  readonly distinct: number;
  readonly runTwice: number;
  readonly lost: number;
  /** Tasks delivered more than once (a lease ran out, a nak). */
  readonly redelivered: number;
}

interface Host { child: ChildProcess; ready: Promise<void>; report: Promise<HostReport>; exited: Promise<void>; stderr: () => string }

function startHost(cfg: HostConfig): Host {
  // PLEARN_SIM_PROFILE=DIR: each host writes a V8 CPU profile there (how the client's JavaScript SHA-256 was found).
  const prof = process.env.PLEARN_SIM_PROFILE;
  const child = spawn(process.execPath, [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), '--import', 'tsx', 'bench/scaling/sim-host.ts', JSON.stringify(cfg)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-20_000); });
  let ready!: () => void;
  let report!: (r: HostReport) => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  const reportP = new Promise<HostReport>((r) => { report = r; });
  const exited = new Promise<void>((r) => child.once('close', (code, sig) => { err += `\n(exit ${code ?? sig})`; r(); }));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const m = JSON.parse(line) as { ready?: number; report?: HostReport };
      if (m.ready !== undefined) ready();
      if (m.report) report(m.report);
    } catch {
      // not one of ours
    }
  });
  const failIfGone = (what: string) => exited.then(() => { throw new Error(`a simulated-worker host exited before ${what}: ${err.slice(-2000)}`); });
  const host = {
    child, exited, stderr: () => err,
    ready: Promise.race([readyP, failIfGone('it was ready')]),
    report: Promise.race([reportP, failIfGone('its report')]),
  };
  // Awaited later, or never when another step failed first: not an unhandled rejection.
  host.ready.catch(() => undefined);
  host.report.catch(() => undefined);
  return host;
}

/** The scaling workload: FourRooms Q-learning agents of one environment step, one goal each; its own run seed per job. */
export const simJob = (tasks: number, seed: number): JobSpec => ({
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 1, reward: 'generic', goals: tasks, goalsPerAgent: 1, model: 'deterministic', seed },
});

/** Resolves once a coordinator answers the API (a fresh one is still setting up). */
export async function waitApi(nc: NatsConnection, timeoutMs: number): Promise<void> {
  await eventually('the coordinator to answer its API', async () => { await callApi(nc, 'list', { limit: 1 }, 2000); return true; }, timeoutMs, 300);
}

export async function runSimulated(o: SimRunOptions): Promise<SimRow> {
  const say = o.say ?? (() => undefined);
  durationMean(o.duration); // a bad distribution fails here, before anything starts
  const server = await startNatsServer();
  const coordinator = startService('coordinator', ['coordinator', '--nats', server.url, '--fits-on', 'workers', '--health-port', '0', '--log-level', 'warn']);
  const hosts: Host[] = [];
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: server.url, name: 'plearn-bench' });
    await waitApi(nc, 60_000);
    const per = Math.ceil(o.workers / o.processes);
    for (let p = 0, left = o.workers; left > 0; p++, left -= per) {
      hosts.push(startHost({ nats: server.url, workers: Math.min(per, left), prefix: `sim${p}`, duration: o.duration, artifactBytes: o.artifactBytes, ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}) }));
    }
    await Promise.all(hosts.map((h) => h.ready));
    say(`${o.workers} simulated worker(s) in ${hosts.length} process(es) ready; submitting ${o.jobs} job(s) of ${o.tasksPerJob} task(s)`);
    const coordPid = coordinator.child.pid;
    const cpu0 = { c: cpuSeconds(coordPid), n: cpuSeconds(server.pid()), h: hosts.reduce((a, h) => a + cpuSeconds(h.child.pid), 0) };
    const t0 = performance.now();
    const ids: string[] = [];
    for (let j = 0; j < o.jobs; j++) {
      ids.push((await callApi<{ id: string }>(nc, 'submit', simJob(o.tasksPerJob, 1000 + j), 120_000)).id);
    }
    const until = Date.now() + o.timeoutMs;
    let views: Omit<JobRecord, 'spec'>[] = [];
    let lastSay = Date.now();
    // The job list (job records only), not each job's view: a view reads every task record.
    for (;;) {
      const listed = (await callApi<{ jobs: Omit<JobRecord, 'spec'>[] }>(nc, 'list', { limit: 1000 }, 30_000)).jobs;
      views = listed.filter((j) => ids.includes(j.id));
      const over = views.filter((v) => TERMINAL.includes(v.status)).length;
      if (over === ids.length || Date.now() > until) break;
      if (Date.now() - lastSay > 10_000) {
        lastSay = Date.now();
        say(`  ${over}/${ids.length} job(s) over after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const jobsWallS = (performance.now() - t0) / 1000;
    const cpu1 = { c: cpuSeconds(coordPid), n: cpuSeconds(server.pid()), h: hosts.reduce((a, h) => a + cpuSeconds(h.child.pid), 0) };
    const coordinatorPeakRssMb = peakRssMb(coordPid);
    const entries: TimelineEntry[] = [];
    for (const id of ids) for (const e of (await fetchTimeline(nc, id, 60_000)).entries) entries.push(e);
    for (const h of hosts) h.child.kill('SIGTERM');
    const reports = await Promise.all(hosts.map((h) => h.report));
    return summarise(o, entries, reports, views, jobsWallS, { coordinator: cpu1.c - cpu0.c, nats: cpu1.n - cpu0.n, hosts: cpu1.h - cpu0.h }, coordinatorPeakRssMb);
  } catch (e) {
    const tail = hosts.map((h) => h.stderr().slice(-1500)).join('\n') + coordinator.log().slice(-1500);
    throw new Error(`${(e as Error).message}\n${tail}`);
  } finally {
    await Promise.all(hosts.map((h) => Promise.race([h.exited, new Promise((r) => setTimeout(r, 5000))])));
    for (const h of hosts) if (h.child.exitCode === null) h.child.kill('SIGKILL');
    await nc?.close();
    await stopAll([coordinator]);
    await server.stop();
  }
}

function summarise(o: SimRunOptions, entries: TimelineEntry[], reports: HostReport[], views: Omit<JobRecord, 'spec'>[], jobsWallS: number,
  cpuS: { coordinator: number; nats: number; hosts: number }, coordinatorPeakRssMb: number): SimRow {
  const agents = entries.filter((e) => e.kind !== 'fit' && e.status === 'done');
  const wallS = agents.length > 0 ? timelineStats(agents, 0).wallMs / 1000 : NaN;
  const tasks = o.jobs * o.tasksPerJob;
  const mean = durationMean(o.duration);
  const ideal = mean > 0 ? Math.min(o.workers, tasks) / mean : null;
  const tasksPerSec = agents.length / wallS;
  const runs = reports.reduce((a, r) => a + r.runs, 0);
  // Across hosts too: a task two hosts both ran is a task run twice.
  const keys = new Set<string>();
  for (const r of reports) for (const k of r.ran) keys.add(k);
  const distinct = keys.size;
  const pct = (s: number) => (100 * s) / jobsWallS;
  return {
    workers: o.workers, processes: o.processes, tasks, duration: o.duration, artifactBytes: o.artifactBytes,
    wallS, tasksPerSec, idealTasksPerSec: ideal, efficiency: ideal ? tasksPerSec / ideal : null,
    dispatch: dispatchStats(dispatchDelays(entries, (k) => k !== 'fit')),
    jobsWallS, jobsCompleted: views.filter((v) => v.status === 'completed').length,
    coordinatorCpuPct: pct(cpuS.coordinator), coordinatorPeakRssMb, natsCpuPct: pct(cpuS.nats), hostsCpuPct: pct(cpuS.hosts),
    runs, distinct, runTwice: runs - distinct,
    lost: tasks - agents.length,
    redelivered: entries.filter((e) => e.kind !== 'fit' && e.attempts > 1).length,
  };
}
