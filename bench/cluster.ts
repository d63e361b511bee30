// Dispatch cost of the distributed runtime: trivial agent tasks (FourRooms
// Q-learning agents of one step, well under 1 ms of work) through the real NATS JetStream path with 1, 2
// and 8 workers, against the in-process transport in the same run; and the bytes
// stored per artifact for the defaults' task kinds.

import { pino } from 'pino';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Coordinator } from '../coordinator/engine.ts';
import { setupJetStream } from '../coordinator/nats/setup.ts';
import { createNatsTransport } from '../coordinator/nats/transport.ts';
import type { JobSpec } from '../shared/experiments/jobs.ts';
import { decodeJson } from '../shared/protocol/codec.ts';
import type { FitRecord, TaskRecord } from '../shared/protocol/records.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { Transport } from '../shared/transport/transport.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { Worker } from '../worker/service.ts';
import { natsServerMissing, startNatsServer } from '../tests/support/nats-server.ts';

const log = pino({ level: 'silent' });
const TASKS = 200;

export interface DispatchRow { transport: string; workers: number; tasks: number; tasksPerSec: number; overheadMsPerTask: number; computeMsPerTask: number }
export interface ArtifactRow { kind: string; bytes: number }
export interface ClusterBench { nats: string; dispatch: DispatchRow[]; artifacts: ArtifactRow[] }

async function records(t: Transport, jobId: string, prefix: 'task' | 'fit'): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const k of await t.state.keys(`${prefix}.${jobId}`)) out.push(decodeJson((await t.state.get(k))!.value));
  return out;
}

/** Run one job through `transports[0]` (coordinator) and one worker per further transport. */
async function runJob(spec: JobSpec, coordT: Transport, workerTs: Transport[], pool: TaskPool): Promise<{ wallMs: number; jobId: string }> {
  const coordinator = new Coordinator({ transport: coordT, pool, log, reconcileMs: 60_000 });
  await coordinator.start();
  const workers = workerTs.map((t, i) => new Worker({ transport: t, pool, id: `b${i}`, slots: 1, log, pollMs: 1000 }));
  for (const w of workers) w.start();
  const t0 = performance.now();
  const { id } = await coordinator.submit(spec);
  const rec = await coordinator.waitFor(id);
  const wallMs = performance.now() - t0;
  if (rec.status !== 'completed') throw new Error(`bench job ${rec.status}: ${rec.error}`);
  await Promise.all(workers.map((w) => w.drain(5000)));
  await coordinator.stop();
  return { wallMs, jobId: id };
}

const trivial = (seed: number): JobSpec => ({
  experiment: 'fourrooms',
  // One Q-learning step per agent: the task is bookkeeping only, so the figures are dispatch cost.
  options: { agent: 'qlearning', steps: 1, reward: 'generic', goals: TASKS, goalsPerAgent: 1, model: 'deterministic', seed },
});

async function dispatchRow(label: string, workers: number, coordT: Transport, workerTs: Transport[], pool: TaskPool, seed: number): Promise<DispatchRow> {
  const { wallMs, jobId } = await runJob(trivial(seed), coordT, workerTs, pool);
  const recs = (await records(coordT, jobId, 'task')) as TaskRecord[];
  const computeMs = recs.reduce((a, r) => a + (r.wallMs ?? 0), 0) / recs.length;
  return {
    transport: label, workers, tasks: recs.length, tasksPerSec: recs.length / (wallMs / 1000),
    // Time each worker slot spent per task beyond the task itself: queue, state, blobs, events, the fit's share.
    overheadMsPerTask: (wallMs * workers) / recs.length - computeMs,
    computeMsPerTask: computeMs,
  };
}

export async function benchCluster(): Promise<ClusterBench | { skipped: string }> {
  const missing = natsServerMissing();
  if (missing) return { skipped: missing };
  const server = await startNatsServer();
  const pool = createLocalPool(2);
  const conns: NatsConnection[] = [];
  const open = async () => {
    const nc = await connect({ servers: server.url });
    conns.push(nc);
    return createNatsTransport(nc);
  };
  try {
    const admin = await connect({ servers: server.url });
    conns.push(admin);
    await setupJetStream(admin, { storage: 'file' });
    const version = admin.info?.version ?? '?';
    const dispatch: DispatchRow[] = [];
    // Warm-up (JIT, thread start-up) on both transports, not reported.
    const warm = createInProcessTransport();
    await runJob(trivial(99), warm, [warm], pool);
    await runJob(trivial(98), await open(), [await open()], pool);
    let seed = 0;
    for (const n of [1, 2, 8]) {
      const mem = createInProcessTransport();
      dispatch.push(await dispatchRow('in-process', n, mem, Array.from({ length: n }, () => mem), pool, seed++));
      const coordT = await open();
      const workerTs = await Promise.all(Array.from({ length: n }, open));
      dispatch.push(await dispatchRow('nats', n, coordT, workerTs, pool, seed++));
    }
    // Artifact sizes of the default task kinds (stored msgpack bytes).
    const t = await open();
    const artifacts: ArtifactRow[] = [];
    const sized = async (label: string, spec: JobSpec) => {
      const { jobId } = await runJob(spec, t, [t], pool);
      const task = ((await records(t, jobId, 'task')) as TaskRecord[])[0];
      const fit = ((await records(t, jobId, 'fit')) as FitRecord[])[0];
      artifacts.push({ kind: `${label}: agent artifact`, bytes: task.artifactBytes ?? NaN }, { kind: `${label}: fit output (world model + metrics)`, bytes: fit.bytes });
    };
    await sized('fourrooms qlearning, 1 goal, 2e6 steps', { experiment: 'fourrooms', options: { goals: 1 } });
    await sized('mountaincar oracle, 1 goal, grid 200', {
      experiment: 'mountaincar', options: { agent: 'oracle', goalsPerAgent: 1, fitSteps: 5, evalStates: 100, rollouts: 4, backend: 'cpu' },
    });
    return { nats: `nats-server ${version}`, dispatch, artifacts };
  } finally {
    for (const nc of conns) await nc.close();
    await pool.close();
    await server.stop();
  }
}

export function formatCluster(r: ClusterBench | { skipped: string }): string {
  if ('skipped' in r) return `cluster: skipped (${r.skipped})`;
  const lines = [`cluster dispatch (${TASKS} trivial tasks = FourRooms Q-learning agents of 1 step; ${r.nats}, file storage; 2-thread pool)`];
  for (const d of r.dispatch) {
    lines.push(`  ${d.transport.padEnd(11)} ${String(d.workers).padStart(2)} worker(s)  ${d.tasksPerSec.toFixed(0).padStart(5)} tasks/s   `
      + `overhead ${d.overheadMsPerTask.toFixed(2)} ms/task (task itself ${d.computeMsPerTask.toFixed(2)} ms)`);
  }
  for (const n of [1, 2, 8]) {
    const mem = r.dispatch.find((d) => d.transport === 'in-process' && d.workers === n);
    const nats = r.dispatch.find((d) => d.transport === 'nats' && d.workers === n);
    if (mem && nats) lines.push(`  ${n} worker(s): NATS ÷ in-process throughput ${(nats.tasksPerSec / mem.tasksPerSec).toFixed(2)}`);
  }
  lines.push('bytes stored per artifact');
  for (const a of r.artifacts) lines.push(`  ${a.kind.padEnd(62)} ${(a.bytes / 1024).toFixed(1)} KiB`);
  return lines.join('\n');
}
