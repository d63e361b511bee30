// A job from spec to result as pure functions, the same for every experiment:
// spec → agent tasks (goal shard × seed) and fit units (which tasks each fit
// needs) → fit task per unit → one result document. The coordinator only runs,
// stores and schedules what these return; a restarted coordinator re-plans from
// the spec and gets the same ids.

import type { ContinuousEnvName } from '../envs/continuous-tasks.ts';
import type { AgentArtifact, AgentTask, ContinuousFitOutput, FitOutput, FitTask, FourRoomsFitOutput } from '../tasks/task.ts';
import type { TabularAgentArtifact } from '../tasks/tabular-agent.ts';
import type { ContinuousAgentArtifact } from './continuous.ts';
import type { ContinuousSeedResult, ContinuousSummary } from './continuous.ts';
import { summarizeContinuous } from './continuous.ts';
import type { ContinuousConfig, ContinuousInput } from './continuous-config.ts';
import { resolveContinuousConfig, TRAINING_GOALS } from './continuous-config.ts';
import type { FourRoomsConfig, FourRoomsInput } from './fourrooms-config.ts';
import { resolveFourRoomsConfig } from './fourrooms-config.ts';
import type { FourRoomsSummary, SeedResult } from './fourrooms.ts';
import { planFourRoomsTasks, summarizeFourRooms } from './fourrooms.ts';
import { ConfigError } from '../util/validate.ts';
import { deriveSeed } from '../util/rng.ts';
import { fitTaskId, uploadedAgentBlob } from '../protocol/subjects.ts';
import { trackPoints } from '../agents/pqn-config.ts';

export const EXPERIMENTS = ['fourrooms', 'mountaincar', 'reacher'] as const;
export type ExperimentName = typeof EXPERIMENTS[number];

/** What a user submits: an experiment and its options (CLI strings or JSON values, validated here). */
export interface JobSpec {
  readonly experiment: ExperimentName;
  readonly options: Readonly<Record<string, unknown>>;
}

export interface PlannedTask { readonly taskId: string; readonly task: AgentTask }
/**
 * One fit: a world model from the artifacts of the tasks it needs. A tracking fit
 * (`--track`) fits the seed's agents as they were at one checkpoint.
 */
export interface FitUnit {
  readonly fitId: string;
  readonly needs: readonly string[];
  readonly seedIndex?: number;
  /** Index into each PQN artifact's `checkpoints`. */
  readonly checkpoint?: number;
  /** Blobs of agents a client uploaded (`plearn extract --submit`), read after `needs`. */
  readonly imports?: readonly string[];
}

export interface JobPlan {
  readonly config: FourRoomsConfig | ContinuousConfig;
  readonly tasks: readonly PlannedTask[];
  readonly fits: readonly FitUnit[];
}

/** Agent tasks per job above which a submission is refused (a typo of 1e9 goals should not flood the queue). */
export const MAX_TASKS_PER_JOB = 100_000;

const FOURROOMS_KEYS = ['layoutText', 'layoutName', 'variant', 'goals', 'goalCells', 'reward', 'agent', 'steps', 'goalsPerAgent',
  'model', 'fit', 'support', 'seeds', 'seed', 'gamma', 'fitSteps', 'fitLr', 'epsilon', 'episodeLength', 'alphaExponent'] as const;
const CONTINUOUS_KEYS = ['agent', 'preset', 'envSteps', 'numEnvs', 'qHidden', 'qLr', 'her', 'track', 'goalFamily', 'goalsPerAgent', 'grid', 'seeds', 'seed', 'gamma', 'backend', 'fitSteps', 'fitBatch', 'fitAgentsPerStep',
  'fitLr', 'fitTerminal', 'viTol', 'viMaxIters', 'evalStates', 'rollouts', 'externalAgents', 'upload'] as const;

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

function checkKeys(experiment: string, options: Readonly<Record<string, unknown>>, allowed: readonly string[]): void {
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) {
      throw new ConfigError(kebab(k), `option ${JSON.stringify(k)} does not apply to ${experiment}; allowed: ${allowed.join(', ')}`);
    }
  }
}

export function validateSpec(raw: unknown): JobSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('spec', 'expected an object {experiment, options}');
  const r = raw as { experiment?: unknown; options?: unknown };
  if (typeof r.experiment !== 'string' || !(EXPERIMENTS as readonly string[]).includes(r.experiment)) {
    throw new ConfigError('experiment', `unknown experiment ${JSON.stringify(r.experiment)}; available: ${EXPERIMENTS.join(', ')}`);
  }
  const options = r.options ?? {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ConfigError('options', 'expected an object');
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' && typeof v !== 'number') throw new ConfigError(kebab(k), `expected a string or a number, got ${typeof v}`);
    clean[k] = v;
  }
  return { experiment: r.experiment as ExperimentName, options: clean };
}

export function fourRoomsInput(spec: JobSpec): FourRoomsInput {
  checkKeys(spec.experiment, spec.options, FOURROOMS_KEYS);
  return { ...spec.options } as FourRoomsInput;
}

export function continuousConfigOf(spec: JobSpec): ContinuousConfig {
  checkKeys(spec.experiment, spec.options, CONTINUOUS_KEYS);
  return resolveContinuousConfig(spec.experiment as ContinuousEnvName, spec.options as ContinuousInput);
}

export function planJob(spec: JobSpec): JobPlan {
  let plan: JobPlan;
  if (spec.experiment === 'fourrooms') {
    const { config, layout } = resolveFourRoomsConfig(fourRoomsInput(spec));
    const all = planFourRoomsTasks(config, layout);
    const tasks = all.map((task) => ({ taskId: `a-${task.seedIndex}-${task.shardIndex}`, task }));
    const fits = Array.from({ length: config.seeds }, (_, s) => ({
      fitId: fitTaskId(s), needs: tasks.filter((t) => t.task.seedIndex === s).map((t) => t.taskId),
    }));
    plan = { config, tasks, fits };
  } else {
    const config = continuousConfigOf(spec);
    const k = config.goalsPerAgent ?? TRAINING_GOALS;
    const shards: number[][] = [];
    for (let shard = 0; shard * k < TRAINING_GOALS; shard++) {
      shards.push(Array.from({ length: Math.min(k, TRAINING_GOALS - shard * k) }, (_, i) => shard * k + i));
    }
    const tasks: PlannedTask[] = [];
    let fits: JobPlan['fits'];
    if (config.agent === 'external') {
      // Agents trained elsewhere: nothing to train; each seed's fit reads the uploaded agents.
      const upload = config.external?.upload;
      if (upload === undefined) throw new ConfigError('upload', 'a job of external agents needs the upload that holds them (`plearn extract --submit`)');
      const imports = Array.from({ length: config.external!.agents }, (_, k) => uploadedAgentBlob(upload, k));
      fits = Array.from({ length: config.seeds }, (_, s) => ({ fitId: fitTaskId(s), needs: [], imports }));
    } else if (config.agent === 'oracle') {
      // Oracle Q* does not depend on the seed: one set of oracle agents serves every seed's fit.
      shards.forEach((goalIndices, shard) => {
        tasks.push({ taskId: `a-0-${shard}`, task: { kind: 'continuous-oracle', config, shardIndex: shard, goalIndices } });
      });
      fits = Array.from({ length: config.seeds }, (_, s) => ({ fitId: fitTaskId(s), needs: tasks.map((t) => t.taskId) }));
    } else {
      for (let s = 0; s < config.seeds; s++) {
        shards.forEach((goalIndices, shard) => {
          tasks.push({
            taskId: `a-${s}-${shard}`,
            task: { kind: 'continuous-pqn', config, seedIndex: s, shardIndex: shard, goalIndices, seed: deriveSeed(config.seed, shard, s) },
          });
        });
      }
      const needs = (s: number) => tasks.filter((t) => t.taskId.startsWith(`a-${s}-`)).map((t) => t.taskId);
      const main: FitUnit[] = Array.from({ length: config.seeds }, (_, s) => ({ fitId: fitTaskId(s), needs: needs(s) }));
      // Tracking fits come after every seed's own fit, so fit s is still seed s's final model.
      const extra = (config.track ?? 1) - 1;
      const tracking: FitUnit[] = [];
      for (let s = 0; s < config.seeds; s++) {
        for (let k = 0; k < extra; k++) {
          tracking.push({ fitId: fitTaskId(config.seeds + s * extra + k), needs: needs(s), seedIndex: s, checkpoint: k });
        }
      }
      fits = [...main, ...tracking];
    }
    plan = { config, tasks, fits };
  }
  if (plan.tasks.length > MAX_TASKS_PER_JOB) {
    throw new ConfigError('goals-per-agent', `${plan.tasks.length} agent tasks exceed the limit of ${MAX_TASKS_PER_JOB} per job; use larger shards`);
  }
  return plan;
}

/** The fit task of one unit, from the artifacts of the tasks it needs (in `needs` order). */
export function fitTaskFor(spec: JobSpec, plan: JobPlan, fitIndex: number, artifacts: readonly AgentArtifact[]): FitTask {
  if (spec.experiment === 'fourrooms') {
    return { kind: 'fourrooms-fit', input: fourRoomsInput(spec), artifacts: artifacts as TabularAgentArtifact[] };
  }
  const unit = plan.fits[fitIndex];
  const agents = (artifacts as ContinuousAgentArtifact[]).map((a) => {
    if (a.kind !== 'continuous-pqn' || a.checkpoints === undefined) return a;
    // The checkpoints stay behind: a fit reads one set of weights.
    const { checkpoints, ...rest } = a;
    if (unit.checkpoint === undefined) return rest;
    const cp = checkpoints[unit.checkpoint];
    if (cp === undefined) throw new Error(`agent ${a.shardIndex} of seed ${a.seedIndex} has no checkpoint ${unit.checkpoint}`);
    return { ...rest, weights: cp.weights, envSteps: cp.envSteps };
  });
  return { kind: 'continuous-fit', config: plan.config as ContinuousConfig, seedIndex: unit.seedIndex ?? fitIndex, agents };
}

export interface JobTiming { wallMs: number; agentMs: number; threads: number }

export interface FourRoomsResult {
  experiment: 'fourrooms';
  config: FourRoomsConfig;
  summary: FourRoomsSummary;
  seeds: SeedResult[];
  timing: JobTiming;
}

/** `--track`: one seed's world model fitted on its agents as they were after `envSteps` environment steps. */
export interface TrackedFit { seedIndex: number; envSteps: number; result: ContinuousSeedResult }

/** `plearn extract`: an agent file the world model was fitted from. */
export interface ImportedAgent { file: string; format: 'onnx' | 'safetensors' | 'plearn'; goals: number; qMin: number; qMax: number }

export interface ContinuousResult {
  experiment: ContinuousEnvName;
  backend: string;
  /** `plearn extract`: the agent files, in command-line order, with the Q range the probe saw. */
  imported?: ImportedAgent[];
  config: ContinuousConfig;
  summary: ContinuousSummary;
  seeds: ContinuousSeedResult[];
  /** `--track n`: per seed, n fits along training in order of environment steps (the last is the seed's own result). */
  tracking?: TrackedFit[];
  timing: JobTiming & { oracleMs: number };
}

export type JobResult = FourRoomsResult | ContinuousResult;

/** The result document (what `plearn run --json` prints) from the fit outputs, in fit order. */
export function assembleResult(plan: JobPlan, outputs: readonly FitOutput[], artifacts: readonly { wallMs: number }[],
  timing: { wallMs: number; threads: number }): JobResult {
  const agentMs = artifacts.reduce((a, x) => a + x.wallMs, 0);
  if (plan.config.experiment === 'fourrooms') {
    const seeds = (outputs as FourRoomsFitOutput[]).map((o) => o.result);
    return { experiment: 'fourrooms', config: plan.config, summary: summarizeFourRooms(seeds), seeds, timing: { ...timing, agentMs } };
  }
  const all = (outputs as ContinuousFitOutput[]).map((o) => o.result);
  const config = plan.config as ContinuousConfig;
  const seeds = all.slice(0, config.seeds);
  let tracking: TrackedFit[] | undefined;
  if (config.track !== undefined && config.pqn !== null) {
    const points = trackPoints(config.pqn, config.track);
    tracking = [];
    for (let s = 0; s < config.seeds; s++) {
      plan.fits.forEach((f, i) => {
        if (f.seedIndex === s && f.checkpoint !== undefined) tracking!.push({ seedIndex: s, envSteps: points[f.checkpoint].envSteps, result: all[i] });
      });
      tracking.push({ seedIndex: s, envSteps: points[points.length - 1].envSteps, result: seeds[s] });
    }
  }
  return {
    experiment: plan.config.experiment,
    backend: seeds[0].backend,
    config: plan.config as ContinuousConfig,
    summary: summarizeContinuous(seeds),
    seeds,
    ...(tracking ? { tracking } : {}),
    timing: { ...timing, agentMs, oracleMs: agentMs },
  };
}
