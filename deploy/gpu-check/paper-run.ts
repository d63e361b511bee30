// `plearn run` for the GPU check, with progress that survives a time limit: the
// same options, the same spec and the same local engine as `plearn run`
// (coordinator/cli.ts), but progress goes to stderr as JSON lines every few
// seconds even when stderr is a file (plearn's own bar draws only on a
// terminal), and a SIGTERM from `timeout` writes a last line saying how far
// the run got before the process ends. The result document goes to stdout.
//
//   node --import tsx deploy/gpu-check/paper-run.ts mountaincar --preset paper --backend webgpu --seeds 1

import { Command } from 'commander';
import { runJobLocal } from '../../coordinator/local-run.ts';
import type { JobOptions } from '../../coordinator/run-options.ts';
import { addJobOptions, specFromOptions } from '../../coordinator/run-options.ts';

interface Options extends JobOptions {
  threads?: string;
  progressEvery: string;
}

let experiment = '';
const program = addJobOptions(new Command('paper-run')).action((e: string) => { experiment = e; })
  .option('--threads <n>', 'worker threads (default: available cores)')
  .option('--progress-every <s>', 'seconds between progress lines on stderr', '10');
program.parse(process.argv);
const opts = program.opts<Options>();

const t0 = Date.now();
const fractions = new Map<string, number>();
let units = 0;

/** One JSON line: per unit (agent task, fit) the fraction done; the mean; a projection of the whole run. */
function progressLine(state: 'running' | 'done' | 'stopped'): string {
  const elapsedS = (Date.now() - t0) / 1000;
  const done = units > 0 ? [...fractions.values()].reduce((a, b) => a + b, 0) / units : 0;
  const perUnit = Object.fromEntries([...fractions].map(([u, f]) => [u, Number(f.toFixed(4))]));
  return JSON.stringify({
    progress: state, elapsedS: Number(elapsedS.toFixed(1)), units, fraction: Number(done.toFixed(4)),
    projectedTotalS: done > 0.005 ? Number((elapsedS / done).toFixed(0)) : null, perUnit,
  });
}

const spec = await specFromOptions(experiment, opts);
const every = Math.max(1, Number(opts.progressEvery)) * 1000;
const timer = setInterval(() => process.stderr.write(progressLine('running') + '\n'), every);
timer.unref();
// `timeout` sends SIGTERM: the last word is how far the run got.
process.once('SIGTERM', () => {
  process.stderr.write(progressLine('stopped') + '\n', () => process.exit(124));
});

const threads = opts.threads === undefined ? undefined : Number(opts.threads);
const outcome = await runJobLocal(spec, {
  threads,
  hooks: {
    planned: (n) => { units = n; },
    progress: (unit, d, n) => { fractions.set(unit, n > 0 ? Math.min(1, d / n) : 1); },
  },
});
clearInterval(timer);
process.stderr.write(progressLine('done') + '\n');
process.stdout.write(JSON.stringify(outcome.result, null, 2) + '\n');
