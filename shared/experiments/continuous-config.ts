// The continuous job spec (MountainCar, Reacher): defaults per environment and
// validation of raw input into a typed config, for `plearn run` and the job API.

import type { ContinuousEnvName, MountainCarGoalFamily } from '../envs/continuous-tasks.ts';
import type { PqnConfig, PqnInput, Preset } from '../agents/pqn-config.ts';
import { pqnCounts, resolvePqn } from '../agents/pqn-config.ts';
import type { BackendName } from '../tensor/backend.ts';
import { BACKEND_NAMES } from '../tensor/backend.ts';
import { ConfigError, intIn, numberIn, oneOf } from '../util/validate.ts';

export interface ContinuousConfig {
  readonly experiment: ContinuousEnvName;
  /** `pqn`: trained PQN agents (the reference's agent); `oracle`: grid value iteration's Q*; `external`: agents trained elsewhere (`plearn extract`). */
  readonly agent: 'pqn' | 'oracle' | 'external';
  readonly preset: Preset;
  /** The PQN agents' settings (null for oracle agents). */
  readonly pqn: PqnConfig | null;
  readonly goalFamily: MountainCarGoalFamily;
  /** Training goals per oracle agent (shard size); null: one agent for all goals. */
  readonly goalsPerAgent: number | null;
  /** VI grid points per state dim (oracle Q*, unseen-goal planning). */
  readonly grid: number;
  readonly viTol: number;
  readonly viMaxIters: number;
  readonly seeds: number;
  readonly seed: number;
  readonly gamma: number;
  readonly backend: BackendName | 'auto';
  readonly fitSteps: number;
  readonly fitBatch: number;
  /**
   * A fit step draws at most this many agents (see FitConfig.agentsPerStep); fits over
   * fewer are unaffected. Absent: DEFAULT_FIT_AGENTS_PER_STEP (kept out of the config,
   * so tasks of jobs that leave it alone still pass older workers' checks).
   */
  readonly fitAgentsPerStep?: number;
  readonly fitLr: number;
  readonly fitSchedule: 'cosine' | 'linear';
  /**
   * Samples whose state already meets their goal: 'skip' leaves them out of the fit
   * (an agent never acts there, so no Bellman equation binds its Q); 'fit' keeps them,
   * as the reference does.
   */
  readonly fitTerminal: 'fit' | 'skip';
  /** Fit (and WM metric) states: uniform over the state box, or the reset distribution. */
  readonly sampleFrom: 'uniform' | 'reset';
  /** States for the WM error metrics, and reset states for the unseen-goal rollouts. */
  readonly evalStates: number;
  readonly rollouts: number;
  /**
   * PQN agents: Q-network checkpoints kept along training, evenly spaced, the last
   * being the final network; a world model is fitted on each. Absent (not 1) when
   * off, so a job without tracking resolves exactly as before it existed.
   */
  readonly track?: number;
  /** `external` agents (`plearn extract`): how many agent files, and the upload that holds them on a cluster (absent on one machine). */
  readonly external?: { readonly agents: number; readonly upload?: string };
}

/** Most checkpoints `--track` keeps per agent. */
export const MAX_TRACK = 16;

export interface ContinuousInput extends PqnInput {
  preset?: unknown; agent?: unknown; goalFamily?: unknown; goalsPerAgent?: unknown; grid?: unknown; seeds?: unknown; seed?: unknown; gamma?: unknown;
  backend?: unknown; fitSteps?: unknown; fitBatch?: unknown; fitAgentsPerStep?: unknown; fitLr?: unknown; fitTerminal?: unknown; viTol?: unknown; viMaxIters?: unknown;
  evalStates?: unknown; rollouts?: unknown; track?: unknown; externalAgents?: unknown; upload?: unknown;
}

type PresetDefaults = Omit<ContinuousConfig, 'experiment' | 'agent' | 'preset' | 'pqn' | 'goalFamily' | 'goalsPerAgent' | 'seeds' | 'seed' | 'backend' | 'fitAgentsPerStep'>;
/** Above the agents of any shipped preset's fit: their fits are exactly the uncapped ones. */
export const DEFAULT_FIT_AGENTS_PER_STEP = 64;

/**
 * `paper`: the reference implementation's settings exactly (a GPU's work). `quick`: CPU-sized — the fit at a larger
 * step size for fewer steps on smaller batches, and Reacher's VI grid 21⁴ instead of 50⁴
 * (1.4 GB of transitions and about half an hour per VI at 50⁴ on 2 cores). MountainCar's
 * quick fit leaves out samples whose state already meets the goal (with quickPqn's input
 * mapping, fast and gentle car went 0.69 → 0.72 and 0.38 → 0.64 of R* over 3 seeds);
 * on Reacher (with HER "future" agents) that lowered them, so it keeps them.
 */
const DEFAULTS: Record<Preset, Record<ContinuousEnvName, PresetDefaults>> = {
  quick: {
    mountaincar: {
      grid: 200, viTol: 1e-8, viMaxIters: 10_000, gamma: 0.99, fitSteps: 15_000, fitBatch: 512, fitLr: 1e-3,
      fitSchedule: 'cosine', fitTerminal: 'skip', sampleFrom: 'uniform', evalStates: 20_000, rollouts: 512,
    },
    reacher: {
      grid: 21, viTol: 1e-6, viMaxIters: 10_000, gamma: 0.99, fitSteps: 1000, fitBatch: 256, fitLr: 3e-3,
      fitSchedule: 'linear', fitTerminal: 'fit', sampleFrom: 'reset', evalStates: 20_000, rollouts: 512,
    },
  },
  paper: {
    mountaincar: {
      grid: 200, viTol: 1e-10, viMaxIters: 10_000, gamma: 0.99, fitSteps: 20_000, fitBatch: 4096, fitLr: 1e-4,
      fitSchedule: 'cosine', fitTerminal: 'fit', sampleFrom: 'uniform', evalStates: 20_000, rollouts: 512,
    },
    reacher: {
      grid: 50, viTol: 1e-10, viMaxIters: 10_000, gamma: 0.99, fitSteps: 1000, fitBatch: 1024, fitLr: 1e-4,
      fitSchedule: 'linear', fitTerminal: 'fit', sampleFrom: 'reset', evalStates: 20_000, rollouts: 512,
    },
  },
};

/** Every continuous experiment trains on four goals (as the reference). */
export const TRAINING_GOALS = 4;

export function resolveContinuousConfig(experiment: ContinuousEnvName, input: ContinuousInput): ContinuousConfig {
  const preset = oneOf<Preset>('preset', input.preset ?? 'quick', ['quick', 'paper']);
  const d = DEFAULTS[preset][experiment];
  const maxGrid = experiment === 'mountaincar' ? 2000 : 60;
  const agent = oneOf('agent', input.agent ?? 'pqn', ['pqn', 'oracle', 'external'] as const);
  const external = externalOf(agent, input);
  const goalFamily = experiment === 'mountaincar'
    ? oneOf<MountainCarGoalFamily>('goal-family', input.goalFamily ?? 'position', ['position', 'velocity'])
    : oneOf<MountainCarGoalFamily>('goal-family', input.goalFamily ?? 'position', ['position']);
  if (agent !== 'pqn') {
    for (const k of ['envSteps', 'numEnvs', 'qHidden', 'qLr', 'her', 'track'] as const) {
      if (input[k] !== undefined) throw new ConfigError(k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), `applies to PQN agents only (--agent pqn), not ${agent} agents`);
    }
  }
  const track = input.track === undefined ? 1 : intIn('track', input.track, 1, MAX_TRACK);
  const pqn = agent === 'pqn' ? resolvePqn(experiment, goalFamily, preset, input) : null;
  if (pqn !== null && track > pqnCounts(pqn).updates) {
    throw new ConfigError('track', `${track} checkpoints need at least ${track} updates; this training has ${pqnCounts(pqn).updates} `
      + `(env-steps / (num-envs × ${pqn.numSteps})); allowed: [1, ${Math.min(MAX_TRACK, pqnCounts(pqn).updates)}]`);
  }
  return {
    experiment,
    agent,
    preset,
    pqn,
    goalFamily,
    goalsPerAgent: input.goalsPerAgent === undefined ? null : intIn('goals-per-agent', input.goalsPerAgent, 1, TRAINING_GOALS),
    grid: intIn('grid', input.grid ?? d.grid, 3, maxGrid),
    viTol: numberIn('vi-tol', input.viTol ?? d.viTol, 1e-14, 1),
    viMaxIters: intIn('vi-max-iters', input.viMaxIters ?? d.viMaxIters, 1, 1_000_000),
    seeds: intIn('seeds', input.seeds ?? 1, 1, 100),
    seed: intIn('seed', input.seed ?? 0, 0, 0xffffffff),
    gamma: numberIn('gamma', input.gamma ?? d.gamma, 0, 0.999999),
    backend: oneOf<BackendName | 'auto'>('backend', input.backend ?? 'auto', ['auto', ...BACKEND_NAMES]),
    fitSteps: intIn('fit-steps', input.fitSteps ?? d.fitSteps, 1, 10_000_000),
    fitBatch: intIn('fit-batch', input.fitBatch ?? d.fitBatch, 1, 65_536),
    ...(input.fitAgentsPerStep !== undefined ? { fitAgentsPerStep: intIn('fit-agents-per-step', input.fitAgentsPerStep, 1, 4096) } : {}),
    fitLr: numberIn('fit-lr', input.fitLr ?? d.fitLr, 1e-8, 1),
    fitSchedule: d.fitSchedule,
    fitTerminal: oneOf('fit-terminal', input.fitTerminal ?? d.fitTerminal, ['fit', 'skip'] as const),
    sampleFrom: d.sampleFrom,
    evalStates: intIn('eval-states', input.evalStates ?? d.evalStates, 100, 1_000_000),
    rollouts: intIn('rollouts', input.rollouts ?? d.rollouts, 1, 100_000),
    ...(track > 1 ? { track } : {}),
    ...(external ? { external } : {}),
  };
}

/** Most agent files one extraction reads. */
export const MAX_EXTERNAL_AGENTS = 256;
/** An upload's id (`plearn extract --submit`): what the job API's upload op and a job spec's `upload` accept. */
export const UPLOAD_ID = /^[a-z0-9][a-z0-9-]{7,63}$/;

function externalOf(agent: string, input: ContinuousInput): ContinuousConfig['external'] {
  if (agent !== 'external') {
    if (input.externalAgents !== undefined || input.upload !== undefined) throw new ConfigError(input.upload !== undefined ? 'upload' : 'external-agents', 'applies to agents given with `plearn extract` only');
    return undefined;
  }
  if (input.externalAgents === undefined) throw new ConfigError('agent', 'external agents are read from files: use `plearn extract --agent-file FILE`');
  const agents = intIn('external-agents', input.externalAgents, 1, MAX_EXTERNAL_AGENTS);
  if (input.upload === undefined) return { agents };
  if (typeof input.upload !== 'string' || !UPLOAD_ID.test(input.upload)) throw new ConfigError('upload', `expected an upload id of 8–64 characters [a-z0-9-], got ${JSON.stringify(input.upload)}`);
  return { agents, upload: input.upload };
}
