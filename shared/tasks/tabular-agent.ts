// "Train one goal-conditioned agent on a goal subset with a seed" as a pure function
// of a serializable spec. Local pools and (later) cluster workers run exactly this.

import { parseLayout } from '../envs/fourrooms/layout.ts';
import { buildWorld } from '../envs/fourrooms/fourrooms.ts';
import type { GoalSpec } from '../tabular/goals.ts';
import { rewardTables } from '../tabular/goals.ts';
import { greedyPolicy, optimalQ } from '../tabular/dynamic-programming.ts';
import type { QLearningConfig } from '../tabular/qlearning.ts';
import { trainQLearning } from '../tabular/qlearning.ts';

export type TabularAgentKind = 'oracle' | 'qlearning';

export interface TabularAgentTask {
  readonly kind: 'tabular-agent';
  readonly layoutText: string;
  readonly variant: string;
  readonly gamma: number;
  readonly agent: TabularAgentKind;
  readonly goals: readonly GoalSpec[];
  readonly shardIndex: number;
  readonly seedIndex: number;
  /** derived from the run seed, shardIndex and seedIndex (see deriveSeed). */
  readonly seed: number;
  readonly qlearning: QLearningConfig;
  /** Environment-step counts at which to keep a copy of Q (qlearning only). */
  readonly checkpoints: readonly number[];
}

export interface TabularAgentArtifact {
  readonly kind: 'tabular-agent';
  readonly shardIndex: number;
  readonly seedIndex: number;
  readonly seed: number;
  readonly agent: TabularAgentKind;
  readonly nStates: number;
  readonly nActions: number;
  readonly nGoals: number;
  readonly goals: readonly GoalSpec[];
  /** Q[(l * nS + s) * nA + a] and the greedy policy π in the same layout. */
  readonly Q: Float64Array;
  readonly pi: Float64Array;
  readonly r: Float64Array;
  readonly d: Uint8Array;
  readonly checkpoints: { steps: number; Q: Float64Array }[];
  readonly envSteps: number;
  readonly wallMs: number;
}

export function runTabularAgentTask(task: TabularAgentTask,
  onProgress?: (done: number, total: number) => void): TabularAgentArtifact {
  const t0 = performance.now();
  const world = buildWorld(parseLayout(task.layoutText), task.variant);
  const nS = world.nStates;
  const nA = world.nActions;
  const tables = rewardTables(task.goals, nS);
  const G = tables.nGoals;
  let Q: Float64Array;
  let checkpoints: { steps: number; Q: Float64Array }[] = [];
  let envSteps = 0;
  if (task.agent === 'oracle') {
    Q = new Float64Array(G * nS * nA);
    const mdp = { nStates: nS, nActions: nA, P: world.P, gamma: task.gamma };
    for (let l = 0; l < G; l++) {
      Q.set(optimalQ(mdp, tables.r, tables.d, l * nS), l * nS * nA);
      onProgress?.(l + 1, G);
    }
  } else {
    const res = trainQLearning(world, tables, task.gamma, task.qlearning, task.seed, task.checkpoints,
      onProgress ? (n) => onProgress(n, task.qlearning.steps) : undefined);
    Q = res.Q;
    checkpoints = res.checkpoints;
    envSteps = res.envSteps;
  }
  const pi = new Float64Array(G * nS * nA);
  for (let l = 0; l < G; l++) greedyPolicy(Q, nS, nA, pi.subarray(l * nS * nA, (l + 1) * nS * nA), l * nS * nA);
  return {
    kind: 'tabular-agent', shardIndex: task.shardIndex, seedIndex: task.seedIndex, seed: task.seed,
    agent: task.agent, nStates: nS, nActions: nA, nGoals: G, goals: task.goals,
    Q, pi, r: tables.r, d: tables.d, checkpoints, envSteps, wallMs: performance.now() - t0,
  };
}
