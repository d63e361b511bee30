// The `plearn` command line. Results go to stdout (text, or one JSON document with
// --json); logs and the progress bar go to stderr. Exit codes: 0 success, 1 failure
// while running, 2 bad input (options, layout file).

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';
import { LayoutError } from '../shared/envs/fourrooms/layout.ts';
import type { FourRoomsInput } from '../shared/experiments/fourrooms-config.ts';
import { ConfigError, intIn } from '../shared/util/validate.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import { runFourRoomsLocal } from './local-run.ts';
import type { FourRoomsRunResult } from './local-run.ts';
import { ProgressBar } from './progress.ts';
import { renderFourRooms } from './report.ts';
import { runContinuousCommand } from './run-continuous.ts';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
const EXPERIMENTS = ['fourrooms', 'mountaincar', 'reacher'] as const;

export interface RunOptions {
  variant?: string; layout?: string; goals?: string; goalCells?: string; reward?: string; agent?: string;
  steps?: string; goalsPerAgent?: string; model?: string; fit?: string; support?: string; seeds?: string;
  seed?: string; gamma?: string; fitSteps?: string; fitLr?: string; epsilon?: string; episodeLength?: string;
  threads?: string; out?: string; json?: boolean; logLevel: string;
  goalFamily?: string; grid?: string; backend?: string; fitBatch?: string; evalStates?: string; rollouts?: string;
  viTol?: string;
}

const FOURROOMS_ONLY: readonly (keyof RunOptions)[] = ['variant', 'layout', 'goals', 'goalCells', 'reward', 'steps',
  'goalsPerAgent', 'model', 'fit', 'support', 'epsilon', 'episodeLength'];
const CONTINUOUS_ONLY: readonly (keyof RunOptions)[] = ['goalFamily', 'grid', 'backend', 'fitBatch', 'evalStates', 'rollouts', 'viTol'];
const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

function rejectForeign(experiment: string, opts: RunOptions, foreign: readonly (keyof RunOptions)[]): void {
  for (const k of foreign) {
    if (opts[k] !== undefined) throw new ConfigError(flag(k).slice(2), `${flag(k)} does not apply to ${experiment}`);
  }
}

class UsageError extends Error {}

export async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function writeOutputs(dir: string, res: FourRoomsRunResult, json: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, 'result.json'), json);
  if (res.summary.series.length > 0) {
    const rows = ['seed,steps,wm_mse,wm_max_abs_error'];
    for (const s of res.seeds) for (const p of s.series) rows.push(`${s.seedIndex},${p.steps},${p.wmMse},${p.wmMaxAbsError}`);
    await writeAtomic(join(dir, 'mse-vs-steps.csv'), rows.join('\n') + '\n');
  }
}

async function runCommand(experiment: string, opts: RunOptions): Promise<number> {
  const log = pino({ level: opts.logLevel, base: { svc: 'plearn-run' } }, pino.destination(2));
  if (!(EXPERIMENTS as readonly string[]).includes(experiment)) {
    throw new ConfigError('experiment', `unknown experiment ${JSON.stringify(experiment)}; available: ${EXPERIMENTS.join(', ')}`);
  }
  if (experiment === 'mountaincar' || experiment === 'reacher') {
    rejectForeign(experiment, opts, FOURROOMS_ONLY);
    return runContinuousCommand(experiment, opts, log);
  }
  rejectForeign(experiment, opts, CONTINUOUS_ONLY);
  const input: FourRoomsInput = {
    variant: opts.variant, goals: opts.goals, goalCells: opts.goalCells, reward: opts.reward, agent: opts.agent,
    steps: opts.steps, goalsPerAgent: opts.goalsPerAgent, model: opts.model, fit: opts.fit, support: opts.support,
    seeds: opts.seeds, seed: opts.seed, gamma: opts.gamma, fitSteps: opts.fitSteps, fitLr: opts.fitLr,
    epsilon: opts.epsilon, episodeLength: opts.episodeLength,
  };
  if (opts.layout !== undefined) {
    try {
      input.layoutText = await readFile(opts.layout, 'utf8');
    } catch (e) {
      throw new ConfigError('layout', `cannot read ${opts.layout}: ${(e as Error).message}`);
    }
    input.layoutName = opts.layout;
  }
  const threads = opts.threads === undefined ? undefined : intIn('threads', opts.threads, 1, 1024);
  const pool = createLocalPool(threads);
  let bar: ProgressBar | undefined;
  try {
    const res = await runFourRoomsLocal(input, pool, {
      planned: (units) => { bar = new ProgressBar(units); log.info({ units, threads: pool.threads }, 'run planned'); },
      progress: (unit, d, n) => bar?.update(unit, d, n),
      agentDone: (a) => log.info({ seedIndex: a.seedIndex, shardIndex: a.shardIndex, envSteps: a.envSteps, ms: Math.round(a.wallMs) }, 'agent done'),
    });
    bar?.finish();
    const json = JSON.stringify(res, null, 2);
    if (opts.out) await writeOutputs(opts.out, res, json);
    process.stdout.write(opts.json ? json + '\n' : renderFourRooms(res) + '\n');
    return 0;
  } finally {
    await pool.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('plearn')
    .description('Extract world models from goal-conditioned value-based agents (P-learning).')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program.command('run')
    .description('Run the whole pipeline on this machine: train agents, fit the world model, evaluate on unseen tasks.')
    .argument('<experiment>', `experiment to run (${EXPERIMENTS.join(', ')})`)
    .option('--variant <name>', 'move noise from the layout file: deterministic | windy | teleporting', undefined)
    .option('--layout <file>', 'layout file (text map, variants, teleports, unseen tasks); default: the embedded 68-state map')
    .option('--goals <n>', 'number of training goals, picked per seed (default 5)')
    .option('--goal-cells <cells>', 'explicit sparse goal cells "x,y;x,y" instead of --goals')
    .option('--reward <family>', 'sparse (goal cell, terminating) | generic (U[0,1] reward per state)', undefined)
    .option('--agent <kind>', 'oracle (exact value iteration) | qlearning (default)')
    .option('--steps <n>', 'environment steps per agent for qlearning (default 2e6)')
    .option('--goals-per-agent <k>', 'goals per agent (shard size; default: all goals in one agent)')
    .option('--model <class>', 'deterministic | stochastic (default)')
    .option('--fit <method>', 'closed (pseudo-inverse via SVD) | iterative (default: sampled simplex updates)')
    .option('--support <kind>', 'candidate successors: full (any state) | local (default: one move away or stay)')
    .option('--seeds <n>', 'number of seeds (goal placements and agents), default 1')
    .option('--seed <s>', 'run seed (uint32), default 0')
    .option('--gamma <g>', 'discount, default 0.99')
    .option('--fit-steps <n>', 'fourrooms: sampled updates of the iterative fit (default 2e6); continuous: Adam steps')
    .option('--fit-lr <lr>', 'fourrooms: normalised step of the iterative fit, in (0, 2) (default 1); continuous: Adam lr')
    .option('--epsilon <e>', 'qlearning ε-greedy exploration rate (default 0.5)')
    .option('--episode-length <n>', 'qlearning episode truncation (default 100)')
    .option('--goal-family <f>', 'mountaincar: position (default) | velocity training goals')
    .option('--grid <n>', 'mountaincar/reacher: VI grid points per state dim (default 200 / 31)')
    .option('--backend <b>', 'mountaincar/reacher: tensor backend auto | tensorflow-gpu | tensorflow | cpu-blas | wasm | cpu')
    .option('--fit-batch <n>', 'mountaincar/reacher: P-learning batch size (default 256)')
    .option('--eval-states <n>', 'mountaincar/reacher: states for the WM error metrics (default 20000)')
    .option('--rollouts <n>', 'mountaincar/reacher: reset states per unseen-goal rollout (default 512)')
    .option('--vi-tol <t>', 'mountaincar/reacher: VI convergence threshold on max |ΔV|')
    .option('--threads <n>', 'worker threads (default: available cores)')
    .option('--out <dir>', 'write result.json (and mse-vs-steps.csv for qlearning) into this directory')
    .option('--json', 'print one JSON document to stdout instead of the text report')
    .addOption(new Option('--log-level <level>', 'log level on stderr').choices(['fatal', 'error', 'warn', 'info', 'debug']).default('warn'))
    .action(async (experiment: string, opts: RunOptions) => {
      process.exitCode = await runCommand(experiment, opts);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
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
    process.stderr.write(`plearn: failed: ${(e as Error).stack ?? String(e)}\n`);
    return EXIT_FAILURE;
  }
}
