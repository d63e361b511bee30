// The FourRooms pipeline as pure functions: job spec → agent tasks → (agent
// artifacts) → one P-learning fit per seed over all agents' goals → evaluation →
// summary over seeds. Services only run the tasks and move the artifacts.

import type { Layout } from '../envs/fourrooms/layout.ts';
import { ACTION_NAMES, buildWorld } from '../envs/fourrooms/fourrooms.ts';
import type { FourRoomsWorld } from '../envs/fourrooms/fourrooms.ts';
import type { GoalSpec, UnsafeTaskSpec } from '../tabular/goals.ts';
import { pickGoals } from '../tabular/goals.ts';
import { greedyPolicy } from '../tabular/dynamic-programming.ts';
import { asDistribution, evaluateUnseen, kernelError } from '../tabular/evaluation.ts';
import type { UnseenResult } from '../tabular/evaluation.ts';
import type { FitResult, PLearningInput, Support } from '../plearning/tabular.ts';
import { concatInputs, fitClosedForm, fitDeterministic, fitIterative } from '../plearning/tabular.ts';
import type { TabularAgentArtifact, TabularAgentTask } from '../tasks/tabular-agent.ts';
import { GOAL_STREAM, deriveSeed } from '../util/rng.ts';
import type { Stat } from '../util/validate.ts';
import { stat } from '../util/validate.ts';
import type { FourRoomsConfig } from './fourrooms-config.ts';

/** Stream id of the iterative fit's sampler, kept apart from agent and goal streams. */
const FIT_STREAM = 0xffe00000;
const MAX_LISTED_PAIRS = 50;

/** Goals of one seed: explicit cells, or `count` picked from derive(seed, GOAL_STREAM + seedIndex). */
export function goalsForSeed(cfg: FourRoomsConfig, world: FourRoomsWorld, seedIndex: number): GoalSpec[] {
  if ('cells' in cfg.goals) return cfg.goals.cells.map(([x, y]) => ({ kind: 'sparse', state: world.stateAt(x, y) }));
  return pickGoals(cfg.reward, cfg.goals.count, world.nStates, deriveSeed(cfg.seed, GOAL_STREAM + seedIndex));
}

/** Checkpoints of the MSE-vs-steps series: the budget halved down to 1 000 steps, at most 8 points. */
export function seriesCheckpoints(steps: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < 8; k++) {
    const c = Math.floor(steps / 2 ** k);
    if (c < 1000 && k > 0) break;
    out.unshift(c);
  }
  return out;
}

export function planFourRoomsTasks(cfg: FourRoomsConfig, layout: Layout): TabularAgentTask[] {
  const world = buildWorld(layout, cfg.variant);
  const tasks: TabularAgentTask[] = [];
  const checkpoints = cfg.agent === 'qlearning' ? seriesCheckpoints(cfg.qlearning.steps) : [];
  for (let seedIndex = 0; seedIndex < cfg.seeds; seedIndex++) {
    const goals = goalsForSeed(cfg, world, seedIndex);
    const k = cfg.goalsPerAgent ?? goals.length;
    for (let shardIndex = 0; shardIndex * k < goals.length; shardIndex++) {
      tasks.push({
        kind: 'tabular-agent', layoutText: cfg.layoutText, variant: cfg.variant, gamma: cfg.gamma,
        agent: cfg.agent, goals: goals.slice(shardIndex * k, (shardIndex + 1) * k), shardIndex, seedIndex,
        seed: deriveSeed(cfg.seed, shardIndex, seedIndex), qlearning: cfg.qlearning, checkpoints,
      });
    }
  }
  return tasks;
}

export interface SeedResult {
  seedIndex: number;
  goals: string[];
  agents: { shardIndex: number; seed: number; nGoals: number; envSteps: number; wallMs: number }[];
  wmMse: number;
  wmMaxAbsError: number;
  rankM: number;
  singularValues: number[];
  rankDeficientPairs: number;
  /** States no training goal tells apart (equal columns of M). */
  tiedStates: string[][];
  unidentifiablePairs: number | null;
  unidentifiable: { s: string; a: string; candidates: string[] }[];
  unseen: UnseenResult[];
  series: { steps: number; wmMse: number; wmMaxAbsError: number }[];
}

function supportOf(cfg: FourRoomsConfig, world: FourRoomsWorld): Support {
  return cfg.support === 'local' ? { kind: 'local', start: world.localStart, state: world.localState } : { kind: 'full' };
}

/** An artifact as P-learning input; a checkpoint's Q needs its own greedy policy, the final Q has one. */
function asInput(a: TabularAgentArtifact, gamma: number, Q: Float64Array = a.Q): PLearningInput {
  let pi = a.pi;
  if (Q !== a.Q) {
    pi = new Float64Array(Q.length);
    const block = a.nStates * a.nActions;
    for (let l = 0; l < a.nGoals; l++) greedyPolicy(Q, a.nStates, a.nActions, pi.subarray(l * block, (l + 1) * block), l * block);
  }
  return { nStates: a.nStates, nActions: a.nActions, nGoals: a.nGoals, Q, pi, r: a.r, d: a.d, gamma };
}

export function fitModel(cfg: FourRoomsConfig, world: FourRoomsWorld, input: PLearningInput, seedIndex: number,
  onProgress?: (done: number, total: number) => void): FitResult {
  const support = supportOf(cfg, world);
  if (cfg.model === 'deterministic') return fitDeterministic(input, support);
  if (cfg.fit === 'closed') return fitClosedForm(input, support);
  return fitIterative(input, support, { steps: cfg.fitSteps, lr: cfg.fitLr, seed: deriveSeed(cfg.seed, FIT_STREAM + seedIndex) },
    onProgress ? (t) => onProgress(t, cfg.fitSteps) : undefined);
}

export function unseenTasks(layout: Layout, world: FourRoomsWorld): UnsafeTaskSpec[] {
  return layout.tasks.map((t) => ({
    label: t.label,
    goal: world.stateAt(t.goal[0], t.goal[1]),
    traps: t.traps.map(([x, y]) => world.stateAt(x, y)),
  }));
}

/** Fit one seed's world model from all its agents (in shard order) and evaluate it. */
export function fitAndEvaluateSeed(cfg: FourRoomsConfig, layout: Layout, artifacts: readonly TabularAgentArtifact[],
  onProgress?: (done: number, total: number) => void): { result: SeedResult; nStates: number; nActions: number; P: Float64Array } {
  const world = buildWorld(layout, cfg.variant);
  const sorted = [...artifacts].sort((x, y) => x.shardIndex - y.shardIndex);
  const seedIndex = sorted[0].seedIndex;
  const input = concatInputs(sorted.map((a) => asInput(a, cfg.gamma)));
  const fit = fitModel(cfg, world, input, seedIndex, onProgress);
  const err = kernelError(fit.P, world.P);
  const truth = { nStates: world.nStates, nActions: world.nActions, P: world.P, gamma: cfg.gamma };
  const plannable = cfg.model === 'stochastic' && cfg.fit === 'closed' ? asDistribution(fit.P, world.nStates, world.nActions) : fit.P;
  const model = { ...truth, P: plannable };
  const unseen = unseenTasks(layout, world).map((t) => evaluateUnseen(truth, model, t));

  const series: SeedResult['series'] = [];
  const marks = sorted[0].checkpoints.map((c) => c.steps);
  for (let k = 0; k < marks.length; k++) {
    const parts = sorted.map((a) => asInput(a, cfg.gamma, a.checkpoints[k].Q));
    const e = kernelError(fitModel(cfg, world, concatInputs(parts), seedIndex).P, world.P);
    series.push({ steps: marks[k], wmMse: e.mse, wmMaxAbsError: e.maxAbsError });
  }

  const label = (s: number) => world.stateLabel(s);
  const unid = fit.unidentifiable;
  const result: SeedResult = {
    seedIndex,
    goals: sorted.flatMap((a) => a.goals.map((g) => (g.kind === 'sparse' ? label(g.state) : `generic:${g.seed}`))),
    agents: sorted.map((a) => ({ shardIndex: a.shardIndex, seed: a.seed, nGoals: a.nGoals, envSteps: a.envSteps, wallMs: a.wallMs })),
    wmMse: err.mse,
    wmMaxAbsError: err.maxAbsError,
    rankM: fit.identifiability.rankM,
    singularValues: fit.identifiability.singularValues,
    rankDeficientPairs: fit.identifiability.rankDeficientPairs,
    tiedStates: fit.identifiability.tiedStates.map((g) => g.map(label)),
    unidentifiablePairs: unid ? unid.length : null,
    unidentifiable: (unid ?? []).slice(0, MAX_LISTED_PAIRS).map((u) => ({
      s: label(u.s), a: ACTION_NAMES[u.a] ?? String(u.a), candidates: u.candidates.map(label),
    })),
    unseen,
    series,
  };
  return { result, nStates: world.nStates, nActions: world.nActions, P: fit.P };
}

export interface FourRoomsSummary {
  wmMse: Stat;
  wmMaxAbsError: Stat;
  rankM: Stat;
  unidentifiablePairs: Stat | null;
  unseen: { label: string; rStar: Stat; rWM: Stat; ratio: Stat }[];
  series: { steps: number; wmMse: Stat }[];
}

export function summarizeFourRooms(seeds: readonly SeedResult[]): FourRoomsSummary {
  const first = seeds[0];
  return {
    wmMse: stat(seeds.map((s) => s.wmMse)),
    wmMaxAbsError: stat(seeds.map((s) => s.wmMaxAbsError)),
    rankM: stat(seeds.map((s) => s.rankM)),
    unidentifiablePairs: first.unidentifiablePairs === null ? null : stat(seeds.map((s) => s.unidentifiablePairs ?? 0)),
    unseen: first.unseen.map((u, i) => ({
      label: u.label,
      rStar: stat(seeds.map((s) => s.unseen[i].rStar)),
      rWM: stat(seeds.map((s) => s.unseen[i].rWM)),
      ratio: stat(seeds.map((s) => s.unseen[i].rWM / s.unseen[i].rStar)),
    })),
    series: first.series.map((p, k) => ({ steps: p.steps, wmMse: stat(seeds.map((s) => s.series[k].wmMse)) })),
  };
}
