// The `plearn` command line. Results go to stdout (text, or one JSON document with
// --json); logs and progress bars go to stderr. Exit codes: 0 success, 1 failure
// while running, 2 bad input (options, layout file, a request the API refused).

import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { LayoutError } from '../shared/envs/fourrooms/layout.ts';
import { ApiFailure } from '../shared/protocol/api.ts';
import type { JobSpec } from '../shared/experiments/jobs.ts';
import { fastCpuUnavailable, slowCpuWarning } from '../shared/tensor/backend.ts';
import { ConfigError, intIn } from '../shared/util/validate.ts';
import { logLevelOption, UsageError } from './cli-common.ts';
import { registerClusterCommands } from './cluster-cli.ts';
import { registerCleanupCommand } from './cleanup-cli.ts';
import { registerCompare } from './compare.ts';
import { natsFailureLine } from './nats/connect.ts';
import { runJobLocal } from './local-run.ts';
import { runFromCheckpoint } from './checkpoint-run.ts';
import { writeOutputs } from './outputs.ts';
import { ProgressBar } from './progress.ts';
import { renderResult } from './report.ts';
import type { JobOptions } from './run-options.ts';
import { addJobOptions, specFromOptions } from './run-options.ts';
import { registerServiceCommands } from './serve.ts';
import { registerSweepCommands } from './sweep/cli.ts';
import { registerTimelineCommand } from './timeline/cli.ts';
import { registerExtractCommand } from './extract/cli.ts';
import { describeError } from './shutdown.ts';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface RunOptions extends JobOptions {
  threads?: string; out?: string; json?: boolean; logLevel: string; qCheckpoint?: string;
}


/**
 * The tensor work runs in pool threads, where the backend's own fallback
 * warning is not printed: say it here, once, before a continuous run starts.
 */
async function warnIfSlowCpu(spec: JobSpec): Promise<void> {
  if (spec.experiment === 'fourrooms') return;
  const backend = spec.options.backend;
  if (backend !== undefined && backend !== 'auto') return;
  const reason = await fastCpuUnavailable();
  if (reason !== null) process.stderr.write(slowCpuWarning(reason) + '\n');
}

async function runCommand(experiment: string, opts: RunOptions): Promise<number> {
  const log = pino({ level: opts.logLevel, base: { svc: 'plearn-run' } }, pino.destination(2));
  const spec = await specFromOptions(experiment, opts);
  const threads = opts.threads === undefined ? undefined : intIn('threads', opts.threads, 1, 1024);
  await warnIfSlowCpu(spec);
  let bar: ProgressBar | undefined;
  const hooks = {
    planned: (units: number) => { bar = new ProgressBar(units); log.info({ units }, 'run planned'); },
    progress: (unit: string, d: number, n: number) => bar?.update(unit, d, n),
  };
  const outcome = opts.qCheckpoint !== undefined
    ? await runFromCheckpoint(spec, opts.qCheckpoint, { threads, hooks })
    : await runJobLocal(spec, { threads, log, hooks });
  bar?.finish();
  if (opts.out) await writeOutputs(opts.out, outcome);
  process.stdout.write(opts.json ? JSON.stringify(outcome.result, null, 2) + '\n' : renderResult(outcome.result) + '\n');
  return 0;
}

export function buildProgram(): Command {
  const program = new Command('plearn')
    .description('Extract world models from goal-conditioned value-based agents (P-learning), on this machine or a NATS cluster.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  addJobOptions(program.command('run')
    .description('Run the whole pipeline on this machine: train agents, fit the world model, evaluate on unseen tasks.'))
    .option('--threads <n>', 'worker threads (default: available cores)')
    .option('--out <dir>', 'write result.json and world-models.json into this directory; fourrooms qlearning adds mse-vs-steps.csv; '
      + 'mountaincar/reacher add the weights as safetensors (world-model-seed<k>, q-network-seed<k>-agent<j>) and pictures (SVG and PNG)')
    .option('--q-checkpoint <dir>', 'mountaincar/reacher: skip training; fit and evaluate the PQN agents saved in DIR by an earlier run with --out')
    .option('--json', 'print one JSON document to stdout instead of the text report')
    .addOption(logLevelOption())
    .action(async (experiment: string, opts: RunOptions) => {
      process.exitCode = await runCommand(experiment, opts);
    });
  registerClusterCommands(program);
  registerServiceCommands(program);
  registerCleanupCommand(program);
  registerCompare(program);
  registerSweepCommands(program);
  registerTimelineCommand(program);
  registerExtractCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that closes early (`plearn jobs | head`) is not a failure: stop quietly, as other CLIs do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed help or the error; exit 0 only where it would (explicit --help, --version).
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof ConfigError || e instanceof LayoutError || e instanceof UsageError) {
      process.stderr.write(`plearn: error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ApiFailure) {
      process.stderr.write(`plearn: error: ${e.message}\n`);
      return e.code === 'bad_request' || e.code === 'not_found' ? EXIT_USAGE : EXIT_FAILURE;
    }
    const nats = natsFailureLine(e);
    if (nats !== null) {
      process.stderr.write(`plearn: error: ${nats}\n`);
      return EXIT_FAILURE;
    }
    const stack = e instanceof Error && e.message.trim() !== '' ? e.stack : undefined;
    process.stderr.write(`plearn: failed: ${stack ?? describeError(e)}\n`);
    return EXIT_FAILURE;
  }
}
