// The options of a job, shared by `plearn run` (here) and `plearn submit` (a
// cluster): one definition, one translation into the job spec the API validates.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { JobSpec } from '../shared/experiments/jobs.ts';
import { EXPERIMENTS, validateSpec } from '../shared/experiments/jobs.ts';
import { ConfigError } from '../shared/util/validate.ts';

/** Job options as commander hands them over (strings), before validation. */
export interface JobOptions {
  variant?: string; layout?: string; goals?: string; goalCells?: string; reward?: string; agent?: string;
  steps?: string; goalsPerAgent?: string; model?: string; fit?: string; support?: string; seeds?: string;
  seed?: string; gamma?: string; fitSteps?: string; fitLr?: string; epsilon?: string; episodeLength?: string;
  goalFamily?: string; grid?: string; backend?: string; fitBatch?: string; evalStates?: string; rollouts?: string;
  viTol?: string; preset?: string; envSteps?: string; numEnvs?: string; qHidden?: string; qLr?: string; her?: string; track?: string;
  fitTerminal?: string; fitAgentsPerStep?: string;
}

export const FOURROOMS_ONLY: readonly (keyof JobOptions)[] = ['variant', 'layout', 'goals', 'goalCells', 'reward', 'steps',
  'model', 'fit', 'support', 'epsilon', 'episodeLength'];
export const CONTINUOUS_ONLY: readonly (keyof JobOptions)[] = ['goalFamily', 'grid', 'backend', 'fitBatch', 'evalStates', 'rollouts', 'viTol',
  'preset', 'envSteps', 'numEnvs', 'qHidden', 'qLr', 'her', 'track', 'fitTerminal', 'fitAgentsPerStep'];
export const JOB_KEYS: readonly (keyof JobOptions)[] = ['variant', 'layout', 'goals', 'goalCells', 'reward', 'agent', 'steps', 'goalsPerAgent',
  'model', 'fit', 'support', 'seeds', 'seed', 'gamma', 'fitSteps', 'fitLr', 'epsilon', 'episodeLength', 'goalFamily', 'grid',
  'backend', 'fitBatch', 'evalStates', 'rollouts', 'viTol', 'preset', 'envSteps', 'numEnvs', 'qHidden', 'qLr', 'her', 'track', 'fitTerminal',
  'fitAgentsPerStep'];
const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

export function addJobOptions(cmd: Command): Command {
  return cmd
    .argument('<experiment>', `experiment to run (${EXPERIMENTS.join(', ')})`)
    .option('--variant <name>', 'move noise from the layout file: deterministic | windy | teleporting', undefined)
    .option('--layout <file>', 'layout file (text map, variants, teleports, unseen tasks); default: the embedded 68-state map')
    .option('--goals <n>', 'number of training goals, picked per seed (default 4)')
    .option('--goal-cells <cells>', 'explicit sparse goal cells "x,y;x,y" instead of --goals')
    .option('--reward <family>', 'sparse (goal cell, terminating) | generic (U[0,1] reward per state)', undefined)
    .option('--agent <kind>', 'fourrooms: oracle (exact value iteration) | qlearning (default); continuous: pqn (default) | oracle (grid VI Q*)')
    .option('--preset <p>', 'mountaincar/reacher: quick (default; CPU-sized, minutes per seed) | paper (the reference implementation\'s settings, as in the paper; a GPU\'s work)')
    .option('--env-steps <n>', 'pqn: environment steps per agent (quick 2e6; paper 5e6 MountainCar, 1e7 Reacher)')
    .option('--num-envs <n>', 'pqn: parallel environments, a multiple of 16 (quick 128; paper 256)')
    .option('--q-hidden <widths>', 'pqn: Q-network hidden widths, e.g. 256,256 (quick 256,256,256; paper 4×1024 / 6×2048)')
    .option('--q-lr <lr>', 'pqn: RAdam learning rate, decayed linearly to 0 (quick 5e-4; paper 1e-4)')
    .option('--her <s>', 'pqn: hindsight relabelling future | random | none (quick: random; paper: random for MountainCar, future for Reacher; K = 4)')
    .option('--track <n>', 'pqn: keep N evenly spaced Q-network checkpoints along training (the last is the final network) and fit '
      + 'and evaluate a world model on each, as its own fit; the result gains WM error, Q error and unseen-goal returns against environment steps (2–16)')
    .option('--steps <n>', 'environment steps per agent for qlearning (default 2e6)')
    .option('--goals-per-agent <k>', 'goals per agent (shard size; default: all goals in one agent). Each shard × seed is one agent task')
    .option('--model <class>', 'deterministic | stochastic (default)')
    .option('--fit <method>', 'closed (pseudo-inverse via SVD) | iterative (default: sampled simplex updates)')
    .option('--support <kind>', 'candidate successors: full (any state) | local (default: one move away or stay)')
    .option('--seeds <n>', 'number of seeds (goal placements and agents), default 1')
    .option('--seed <s>', 'job seed (uint32), default 0; every agent seed derives from it, its shard and its seed index')
    .option('--gamma <g>', 'discount, default 0.99')
    .option('--fit-steps <n>', 'fourrooms: sampled updates of the iterative fit (default 2e6); continuous: Adam steps')
    .option('--fit-lr <lr>', 'fourrooms: normalised step of the iterative fit, in (0, 2) (default 1); continuous: Adam lr')
    .option('--epsilon <e>', 'qlearning ε-greedy exploration rate (default 0.5)')
    .option('--episode-length <n>', 'qlearning episode truncation (default 100)')
    .option('--goal-family <f>', 'mountaincar: position (default) | velocity training goals')
    .option('--grid <n>', 'mountaincar/reacher: VI grid points per state dim (quick 200 / 21; paper 200 / 50)')
    .option('--backend <b>', 'mountaincar/reacher: tensor backend auto | tensorflow-gpu | webgpu | tensorflow | cpu-blas | wasm | cpu (auto: the first that loads, in this order; webgpu only on a hardware GPU)')
    .option('--fit-batch <n>', 'mountaincar/reacher: P-learning batch size (quick 512 / 256; paper 4096 / 1024)')
    .option('--fit-agents-per-step <n>', 'mountaincar/reacher: a fit step evaluates at most this many agents, drawn afresh each step (default 64; a fit over fewer is unchanged)')
    .option('--fit-terminal <mode>', 'mountaincar/reacher: samples whose state already meets the goal: skip (quick MountainCar) | fit (quick Reacher; paper, as the reference)')
    .option('--eval-states <n>', 'mountaincar/reacher: states for the WM error metrics (default 20000)')
    .option('--rollouts <n>', 'mountaincar/reacher: reset states per unseen-goal rollout (default 512)')
    .option('--vi-tol <t>', 'mountaincar/reacher: VI convergence threshold on max |ΔV|');
}

/** Reads a --layout file; the coordinator passes one that serves the layouts a client sent with a sweep. */
export type LayoutReader = (path: string) => Promise<string>;

const readLayoutFile: LayoutReader = (path) => readFile(path, 'utf8');

/** Validated job spec from the command line; a --layout file is read here and travels as text. */
export async function specFromOptions(experiment: string, opts: JobOptions, readLayout: LayoutReader = readLayoutFile): Promise<JobSpec> {
  if (!(EXPERIMENTS as readonly string[]).includes(experiment)) {
    throw new ConfigError('experiment', `unknown experiment ${JSON.stringify(experiment)}; available: ${EXPERIMENTS.join(', ')}`);
  }
  const foreign = experiment === 'fourrooms' ? CONTINUOUS_ONLY : FOURROOMS_ONLY;
  for (const k of foreign) {
    if (opts[k] !== undefined) throw new ConfigError(flag(k).slice(2), `${flag(k)} does not apply to ${experiment}`);
  }
  const options: Record<string, unknown> = {};
  for (const k of JOB_KEYS) if (opts[k] !== undefined && k !== 'layout') options[k] = opts[k];
  if (opts.layout !== undefined) {
    try {
      options.layoutText = await readLayout(opts.layout);
    } catch (e) {
      throw new ConfigError('layout', `cannot read ${opts.layout}: ${(e as Error).message}`);
    }
    options.layoutName = opts.layout;
  }
  return validateSpec({ experiment, options });
}
