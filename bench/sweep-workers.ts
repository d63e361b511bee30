// One sweep on a real cluster with one worker process, then with two (each a
// fresh nats-server, so nothing is reused between them), timed from
// `plearn sweep submit --watch` to its results: what a second worker buys a
// sweep. The spec defaults to sweeps/fourrooms-goals.yaml; PLEARN_BENCH_SWEEP
// names another. Each worker has one thread, so on a 2-core machine two
// workers can at most halve the time.

import { natsServerMissing } from '../tests/support/nats-server.ts';
import { plearn } from '../tests/support/run-cli.ts';
import { startLocalCluster } from './scaling/real.ts';

export interface SweepWorkersRow { workers: number; cells: number; wallS: number }
export interface SweepWorkersBench { spec: string; rows: SweepWorkersRow[]; speedup?: number; skipped?: string }

async function timeSweep(spec: string, workers: number): Promise<SweepWorkersRow> {
  const { nats, stop } = await startLocalCluster(workers);
  try {
    const t0 = performance.now();
    const r = await plearn(['sweep', 'submit', spec, '--watch', '--json', '--max-active-cells', String(2 * workers), ...nats], 3_600_000);
    const wallS = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`sweep submit failed: ${r.stderr.slice(-2000)}`);
    const doc = JSON.parse(r.stdout) as { done: number };
    return { workers, cells: doc.done, wallS };
  } finally {
    await stop();
  }
}

export async function benchSweepWorkers(): Promise<SweepWorkersBench> {
  const spec = process.env.PLEARN_BENCH_SWEEP ?? 'sweeps/fourrooms-goals.yaml';
  const missing = natsServerMissing();
  if (missing) return { spec, rows: [], skipped: missing };
  const rows = [await timeSweep(spec, 1), await timeSweep(spec, 2)];
  return { spec, rows, speedup: rows[0].wallS / rows[1].wallS };
}

export function formatSweepWorkers(b: SweepWorkersBench): string {
  if (b.skipped) return `sweep-workers: skipped (${b.skipped})`;
  const lines = [`sweep-workers: ${b.spec} on a cluster (coordinator with fits on the workers; workers of one thread each)`,
    'workers  cells  wall s'];
  for (const r of b.rows) lines.push(`${String(r.workers).padEnd(8)} ${String(r.cells).padEnd(6)} ${r.wallS.toFixed(1)}`);
  lines.push(`two workers against one: ${b.speedup!.toFixed(2)}× faster (at most 2× here: two one-thread workers on two cores)`);
  return lines.join('\n');
}
