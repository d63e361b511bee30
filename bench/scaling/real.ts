// The scaling benchmark's real mode: the same workload on a local cluster with
// 1, 2, … worker processes (each one thread, a fresh nats-server and
// coordinator per count, so nothing is reused): the FourRooms goal-count sweep
// (sweeps/fourrooms-goals.yaml) and a MountainCar job, submitted one after the
// other as a user would, timed from submit to results. Reported per count: wall
// time, speed-up and efficiency against one worker, and the coordinator's CPU
// (its overhead: what it spent while the workers worked).

import { natsServerMissing, startNatsServer } from '../../tests/support/nats-server.ts';
import { plearn } from '../../tests/support/run-cli.ts';
import { startService, stopAll } from '../../tests/support/services.ts';
import type { Service } from '../../tests/support/services.ts';
import { connect } from '@nats-io/transport-node';
import { cpuSeconds, peakRssMb } from './proc.ts';
import { waitApi } from './simulated.ts';

export const REAL_SWEEP = 'sweeps/fourrooms-goals.yaml';
/** Four oracle agents (one goal each) per seed, two seeds, a shortened fit: minutes, not hours, on two cores. */
export const REAL_JOB = ['mountaincar', '--agent', 'oracle', '--goals-per-agent', '1', '--seeds', '2', '--fit-steps', '1500'];

export interface RealRow {
  readonly workers: number;
  readonly sweepS: number;
  readonly jobS: number;
  readonly wallS: number;
  /** One worker's wall ÷ this wall. */
  readonly speedup: number;
  /** speedup ÷ workers. */
  readonly efficiency: number;
  /** Coordinator CPU over the run, as a share of one core. */
  readonly coordinatorCpuPct: number;
  readonly coordinatorPeakRssMb: number;
}

export interface RealBench { sweep: string; job: string; rows: RealRow[]; skipped?: string }

export interface LocalCluster {
  /** `--nats URL`, for the client commands. */
  readonly nats: string[];
  readonly coordinator: Service;
  stop(): Promise<void>;
}

/**
 * A fresh nats-server, `plearn coordinator --fits-on workers` and `workers` one-thread
 * `plearn worker` processes; resolves once the coordinator answers its API.
 */
export async function startLocalCluster(workers: number): Promise<LocalCluster> {
  const server = await startNatsServer();
  const nats = ['--nats', server.url];
  const coordinator = startService('coordinator', ['coordinator', ...nats, '--fits-on', 'workers', '--health-port', '0', '--log-level', 'warn']);
  const services: Service[] = [coordinator];
  for (let i = 0; i < workers; i++) {
    services.push(startService(`w${i}`, ['worker', ...nats, '--threads', '1', '--id', `w${i}`, '--health-port', '0', '--log-level', 'warn']));
  }
  const stop = async () => {
    await stopAll(services);
    await server.stop();
  };
  try {
    const nc = await connect({ servers: server.url, name: 'plearn-bench' });
    await waitApi(nc, 60_000).finally(() => nc.close());
  } catch (e) {
    await stop();
    throw e;
  }
  return { nats, coordinator, stop };
}

async function timeCount(workers: number): Promise<Omit<RealRow, 'speedup' | 'efficiency'>> {
  const { nats, coordinator, stop } = await startLocalCluster(workers);
  try {
    const cpu0 = cpuSeconds(coordinator.child.pid);
    const t0 = performance.now();
    const s = await plearn(['sweep', 'submit', REAL_SWEEP, '--watch', '--json', '--max-active-cells', String(2 * workers), ...nats], 3_600_000);
    if (s.code !== 0) throw new Error(`sweep submit failed: ${s.stderr.slice(-2000)}`);
    const t1 = performance.now();
    const j = await plearn(['submit', ...REAL_JOB, '--watch', '--json', ...nats], 3_600_000);
    if (j.code !== 0) throw new Error(`job submit failed: ${j.stderr.slice(-2000)}`);
    const t2 = performance.now();
    const wallS = (t2 - t0) / 1000;
    return {
      workers, sweepS: (t1 - t0) / 1000, jobS: (t2 - t1) / 1000, wallS,
      coordinatorCpuPct: (100 * (cpuSeconds(coordinator.child.pid) - cpu0)) / wallS, coordinatorPeakRssMb: peakRssMb(coordinator.child.pid),
    };
  } finally {
    await stop();
  }
}

export async function benchReal(counts: readonly number[] = [1, 2]): Promise<RealBench> {
  const job = `plearn submit ${REAL_JOB.join(' ')}`;
  const missing = natsServerMissing();
  if (missing) return { sweep: REAL_SWEEP, job, rows: [], skipped: missing };
  const raw = [];
  for (const n of counts) raw.push(await timeCount(n));
  const base = raw[0].wallS;
  return { sweep: REAL_SWEEP, job, rows: raw.map((r) => ({ ...r, speedup: base / r.wallS, efficiency: base / r.wallS / r.workers })) };
}
