// `npm run bench -- scaling [--parts real,saturation,target,fit] [--json]`: how
// time-to-result, throughput and overhead change with workers, and where the
// system saturates (docs/scaling.md). Parts:
//   real        1 and 2 real worker processes on a sweep and a MountainCar job
//   saturation  N = 1, 10, 100, 1000 simulated workers, tasks of 0 s
//   target      1000 simulated workers, 20 000 tasks of 5 s (--duration: another
//               distribution, e.g. uniform:4:6), 64 KiB artifacts
//   fit         the centralized fit's cost for 1 … 256 agents
// Progress goes to stderr; the whole run takes about a quarter of an hour here.

import { natsServerMissing } from '../../tests/support/nats-server.ts';
import { benchFitCost } from './fit-cost.ts';
import type { FitCostBench } from './fit-cost.ts';
import { benchReal } from './real.ts';
import type { RealBench } from './real.ts';
import { runSimulated } from './simulated.ts';
import type { SimRow } from './simulated.ts';

export const SCALING_VALUE_OPTIONS = ['--parts', '--duration'];
const PARTS = ['real', 'saturation', 'target', 'fit'] as const;
type Part = typeof PARTS[number];

export interface ScalingBench {
  real?: RealBench;
  saturation?: SimRow[];
  target?: SimRow;
  fit?: FitCostBench;
  skipped?: string;
}

const say = (line: string) => process.stderr.write(`scaling: ${line}\n`);

function wantedParts(argv: readonly string[]): Part[] {
  const i = argv.indexOf('--parts');
  if (i < 0) return [...PARTS];
  const list = (argv[i + 1] ?? '').split(',').filter(Boolean);
  const bad = list.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (list.length === 0 || bad.length > 0) {
    process.stderr.write(`bench scaling: --parts: unknown ${bad.join(', ') || '(none given)'}; allowed: ${PARTS.join(', ')}\n`);
    process.exit(2);
  }
  return list as Part[];
}

/** Workers per host process: a few hundred connections each. */
const processesFor = (n: number) => Math.max(1, Math.ceil(n / 250));

export async function benchScaling(argv: readonly string[] = process.argv.slice(2)): Promise<ScalingBench> {
  const parts = wantedParts(argv);
  const out: ScalingBench = {};
  const missing = natsServerMissing();
  if (missing && parts.some((p) => p !== 'fit')) return { skipped: missing };
  if (parts.includes('real')) {
    say('real worker processes: 1, then 2 (a sweep and a MountainCar job each)');
    out.real = await benchReal([1, 2]);
  }
  if (parts.includes('saturation')) {
    out.saturation = [];
    for (const n of [1, 10, 100, 1000]) {
      const tasks = n === 1 ? 500 : 2000;
      say(`saturation: ${n} simulated worker(s), ${tasks} tasks of 0 s`);
      out.saturation.push(await runSimulated({ workers: n, processes: processesFor(n), jobs: 1, tasksPerJob: tasks, duration: '0', artifactBytes: 64 * 1024, timeoutMs: 900_000, say }));
    }
  }
  if (parts.includes('target')) {
    const di = argv.indexOf('--duration');
    const duration = di >= 0 ? argv[di + 1] ?? '' : '5';
    say(`target: 1000 simulated workers, 20 000 tasks of ${duration} s (5 s: ideal 200 tasks/s)`);
    out.target = await runSimulated({ workers: 1000, processes: 4, jobs: 10, tasksPerJob: 2000, duration, artifactBytes: 64 * 1024, timeoutMs: 1_800_000, say });
  }
  if (parts.includes('fit')) {
    say('fit cost: 1, 4, 16, 64, 256 agents');
    out.fit = await benchFitCost();
  }
  return out;
}

const f1 = (v: number) => v.toFixed(1);

function simLine(r: SimRow): string {
  return `${String(r.workers).padStart(6)} ${String(r.tasks).padStart(7)} ${r.duration.padStart(6)} s ${f1(r.tasksPerSec).padStart(8)}`
    + `${r.efficiency === null ? '        ' : `${(100 * r.efficiency).toFixed(1).padStart(7)}%`}`
    + ` ${f1(r.dispatch.p50Ms).padStart(7)} ${f1(r.dispatch.p99Ms).padStart(7)}`
    + ` ${f1(r.coordinatorCpuPct).padStart(6)}% ${f1(r.coordinatorPeakRssMb).padStart(7)} ${f1(r.natsCpuPct).padStart(6)}% ${f1(r.hostsCpuPct).padStart(6)}%`
    + ` ${String(r.lost).padStart(4)} ${String(r.runTwice).padStart(5)} ${String(r.redelivered).padStart(6)}`;
}

export function formatScaling(b: ScalingBench): string {
  if (b.skipped) return `scaling: skipped (${b.skipped})`;
  const lines: string[] = [];
  if (b.real) {
    lines.push(`scaling, real workers (one thread each): ${b.real.sweep}, then ${b.real.job}`,
      'workers  sweep s  job s  wall s  speed-up  efficiency  coordinator CPU  coordinator peak RSS');
    for (const r of b.real.rows) {
      lines.push(`${String(r.workers).padEnd(8)} ${f1(r.sweepS).padStart(7)} ${f1(r.jobS).padStart(6)} ${f1(r.wallS).padStart(7)} ${r.speedup.toFixed(2).padStart(8)}×`
        + ` ${(100 * r.efficiency).toFixed(0).padStart(10)}% ${f1(r.coordinatorCpuPct).padStart(15)}% ${f1(r.coordinatorPeakRssMb).padStart(17)} MiB`);
    }
  }
  const sims = [...(b.saturation ?? []), ...(b.target ? [b.target] : [])];
  if (sims.length > 0) {
    lines.push('scaling, simulated workers (real Worker code, sleeping tasks, 64 KiB artifacts; one nats-server and one coordinator on this machine)',
      'workers   tasks   task  tasks/s  of ideal  disp p50  p99 ms  coord CPU  RSS MiB  NATS CPU  hosts CPU  lost  twice  redeliv');
    for (const r of sims) lines.push(simLine(r));
  }
  if (b.fit) {
    lines.push(`fit cost against agents (${b.fit.backend}; MountainCar Q-networks ${b.fit.hidden.join('×')}, random; batch ${b.fit.batch})`,
      'agents  per step  ms/step  tensors MiB  agents\' weights MiB');
    for (const r of b.fit.rows) {
      lines.push(`${String(r.agents).padEnd(7)} ${String(r.agentsPerStep).padStart(8)} ${f1(r.msPerStep).padStart(8)} ${f1(r.tensorMb).padStart(12)} ${f1(r.weightsMb).padStart(19)}`);
    }
  }
  return lines.join('\n');
}
