// Goal-conditioned tabular Q-learning. One environment stream serves the agent's
// whole goal set: each episode follows one goal (ε-greedy on that goal's table),
// and every transition updates the tables of all the agent's goals, because the
// transition (s, a, s') does not depend on the goal (Kaelbling's all-goals update).
//
// Schedules depend only on visit counts and constants, never on the budget, so the
// checkpoint at N steps of a long run is bit-identical to a run with budget N.

import type { TabularWorld } from '../envs/tabular.ts';
import { sampleNext } from '../envs/tabular.ts';
import type { RewardTables } from './goals.ts';
import { Rng } from '../util/rng.ts';

export interface QLearningConfig {
  /** Environment steps for the agent's whole goal set. */
  readonly steps: number;
  /** Exploration rate of the ε-greedy behaviour policy (constant). */
  readonly epsilon: number;
  /**
   * Step size α = max(alphaMin, (1 + (1 − γ)·n(s,a))^−alphaExponent), n the visit count of (s,a).
   * The (1 − γ) rescaling keeps α near 1 for the first ~1/(1 − γ) visits: with γ = 0.99 a plain
   * n^−ω schedule forgets the zero initialisation far too slowly (Wainwright 2019).
   */
  readonly alphaExponent: number;
  readonly alphaMin: number;
  /** Episodes truncate after this many steps (bootstrapping through the truncation). */
  readonly episodeLength: number;
}

export const QLEARNING_DEFAULTS: QLearningConfig = {
  steps: 2_000_000,
  epsilon: 0.5,
  alphaExponent: 0.75,
  alphaMin: 0,
  episodeLength: 100,
};

export interface QLearningResult {
  /** Q[(l * nS + s) * nA + a]. */
  readonly Q: Float64Array;
  /** Copies of Q after exactly `steps` environment steps, for each requested checkpoint. */
  readonly checkpoints: { steps: number; Q: Float64Array }[];
  readonly envSteps: number;
  readonly episodes: number;
}

export function trainQLearning(world: TabularWorld, goals: RewardTables, gamma: number,
  cfg: QLearningConfig, seed: number, checkpointSteps: readonly number[] = [],
  onProgress?: (steps: number) => void): QLearningResult {
  const nS = world.nStates;
  const nA = world.nActions;
  const G = goals.nGoals;
  const { r, d } = goals;
  const Q = new Float64Array(G * nS * nA);
  const visits = new Float64Array(nS * nA);
  const rng = new Rng(seed);
  const marks = [...new Set(checkpointSteps)].filter((c) => c > 0 && c <= cfg.steps).sort((x, y) => x - y);
  const checkpoints: { steps: number; Q: Float64Array }[] = [];
  let nextMark = 0;
  const progressEvery = Math.max(1, Math.floor(cfg.steps / 100));
  const horizonScale = 1 - gamma;

  let steps = 0;
  let episodes = 0;
  while (steps < cfg.steps) {
    const l = rng.int(G);
    let s = rng.int(nS);
    // Start where the episode's goal is not already reached.
    for (let tries = 0; d[l * nS + s] && tries < 1000; tries++) s = rng.int(nS);
    episodes++;
    for (let t = 0; t < cfg.episodeLength && steps < cfg.steps; t++) {
      const a = rng.next() < cfg.epsilon ? rng.int(nA) : argmax(Q, (l * nS + s) * nA, nA, rng);
      const s2 = sampleNext(world, s, a, rng.next());
      const i = s * nA + a;
      const n = visits[i]++;
      const alpha = Math.max(cfg.alphaMin, Math.pow(1 + horizonScale * n, -cfg.alphaExponent));
      for (let j = 0; j < G; j++) {
        const rj = j * nS + s2;
        let target = r[rj];
        if (!d[rj]) {
          const o = rj * nA;
          let m = Q[o];
          for (let b = 1; b < nA; b++) if (Q[o + b] > m) m = Q[o + b];
          target += gamma * m;
        }
        const q = (j * nS + s) * nA + a;
        Q[q] += alpha * (target - Q[q]);
      }
      steps++;
      if (nextMark < marks.length && steps === marks[nextMark]) {
        checkpoints.push({ steps, Q: Q.slice() });
        nextMark++;
      }
      if (onProgress && steps % progressEvery === 0) onProgress(steps);
      if (d[l * nS + s2]) break;
      s = s2;
    }
  }
  return { Q, checkpoints, envSteps: steps, episodes };
}

/** Greedy action with uniform random tie-breaking (untrained tables are all ties). */
function argmax(Q: Float64Array, off: number, nA: number, rng: Rng): number {
  let best = 0;
  let m = Q[off];
  let ties = 1;
  for (let a = 1; a < nA; a++) {
    const v = Q[off + a];
    if (v > m) { m = v; best = a; ties = 1; }
    else if (v === m && rng.int(++ties) === 0) best = a;
  }
  return best;
}
