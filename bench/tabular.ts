// Tabular section: Q-learning environment steps per second on one core, and the
// closed-form P-learning fit time on the shipped 68-state map.

import { parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { buildWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import { DEFAULT_LAYOUT_TEXT } from '../shared/envs/fourrooms/default-layout.ts';
import { pickGoals, rewardTables } from '../shared/tabular/goals.ts';
import { greedyPolicy, optimalQ } from '../shared/tabular/dynamic-programming.ts';
import { QLEARNING_DEFAULTS, trainQLearning } from '../shared/tabular/qlearning.ts';
import { fitClosedForm } from '../shared/plearning/tabular.ts';

export interface TabularBench {
  qlearningStepsPerSec: number;
  qlearningGoals: number;
  closedFitMs: number;
  closedFitGoals: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function benchTabular(): TabularBench {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const nS = world.nStates;
  const nA = world.nActions;

  const qGoals = 5;
  const tables = rewardTables(pickGoals('sparse', qGoals, nS, 1), nS);
  const steps = 2_000_000;
  trainQLearning(world, tables, 0.99, { ...QLEARNING_DEFAULTS, steps: 200_000 }, 0); // warm-up (JIT)
  const rates: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    trainQLearning(world, tables, 0.99, { ...QLEARNING_DEFAULTS, steps }, rep + 1);
    rates.push(steps / ((performance.now() - t0) / 1000));
  }

  const G = nS;
  const goals = rewardTables(pickGoals('generic', G, nS, 2), nS);
  const Q = new Float64Array(G * nS * nA);
  const pi = new Float64Array(G * nS * nA);
  const mdp = { nStates: nS, nActions: nA, P: world.P, gamma: 0.99 };
  for (let l = 0; l < G; l++) {
    Q.set(optimalQ(mdp, goals.r, goals.d, l * nS), l * nS * nA);
    pi.set(greedyPolicy(Q, nS, nA, undefined, l * nS * nA), l * nS * nA);
  }
  const input = { nStates: nS, nActions: nA, nGoals: G, Q, pi, r: goals.r, d: goals.d, gamma: 0.99 };
  fitClosedForm(input, { kind: 'full' });
  const times: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    fitClosedForm(input, { kind: 'full' });
    times.push(performance.now() - t0);
  }
  return { qlearningStepsPerSec: median(rates), qlearningGoals: qGoals, closedFitMs: median(times), closedFitGoals: G };
}

export function formatTabular(b: TabularBench): string {
  return [
    'tabular (FourRooms, 68 states, windy)',
    `  Q-learning          ${(b.qlearningStepsPerSec / 1e6).toFixed(2)} M env steps/s on one core (${b.qlearningGoals} goals updated per step)`,
    `  closed-form fit     ${b.closedFitMs.toFixed(1)} ms (|G| = ${b.closedFitGoals}, full support, SVD pseudo-inverse)`,
  ].join('\n');
}
