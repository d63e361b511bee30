// Goal-conditioned tabular Q-learning against the exact optimum (optimalQ, itself checked
// against closed forms and BFS in dynamic-programming.test.ts), plus the reproducibility
// contract: seeds, budgets and checkpoints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { buildWorld, type FourRoomsWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import { rewardTables, type GoalSpec, type RewardTables } from '../shared/tabular/goals.ts';
import { greedyPolicy, optimalQ, policyEvaluation } from '../shared/tabular/dynamic-programming.ts';
import { QLEARNING_DEFAULTS, trainQLearning, type QLearningConfig } from '../shared/tabular/qlearning.ts';

const ROOM = `name room
variant deterministic forward=1 right=0 left=0 back=0 teleports=off
variant windy forward=0.5 right=0.25 left=0.25 back=0 teleports=off
map
...
...
...
end
`;

const GAMMA = 0.9;
const GOALS: GoalSpec[] = [
  { kind: 'sparse', state: 0 }, // top-left corner
  { kind: 'sparse', state: 8 }, // bottom-right corner
  { kind: 'generic', seed: 5 },
];

function room(variant: string): FourRoomsWorld {
  const w = buildWorld(parseLayout(ROOM), variant);
  assert.equal(w.nStates, 9);
  return w;
}

/** Exact Q*[(l*nS + s)*nA + a] for every goal. */
function exactQ(w: FourRoomsWorld, tables: RewardTables, gamma: number): Float64Array {
  const nS = w.nStates, nA = w.nActions;
  const out = new Float64Array(tables.nGoals * nS * nA);
  const mdp = { nStates: nS, nActions: nA, P: w.P, gamma };
  for (let l = 0; l < tables.nGoals; l++) out.set(optimalQ(mdp, tables.r, tables.d, l * nS), l * nS * nA);
  return out;
}

/** Max |Q − Q*| per goal. */
function errorsPerGoal(Q: Float64Array, ref: Float64Array, nGoals: number): number[] {
  const per = ref.length / nGoals;
  const errs = new Array<number>(nGoals).fill(0);
  for (let i = 0; i < ref.length; i++) {
    const l = Math.floor(i / per);
    errs[l] = Math.max(errs[l], Math.abs(Q[i] - ref[i]));
  }
  return errs;
}

function cfg(steps: number, extra: Partial<QLearningConfig> = {}): QLearningConfig {
  return { ...QLEARNING_DEFAULTS, steps, ...extra };
}

function bitsEqual(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length * 2);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

test('deterministic 3×3 room: Q-learning converges to optimalQ for two sparse goals and a generic goal', () => {
  const w = room('deterministic');
  const tables = rewardTables(GOALS, w.nStates);
  const ref = exactQ(w, tables, GAMMA);
  // Sanity on the reference itself: sparse Q* from the far corner's best move is γ^(4−1).
  assert.ok(Math.abs(Math.max(...ref.subarray(8 * 4, 9 * 4)) - GAMMA ** 3) < 1e-12);

  const res = trainQLearning(w, tables, GAMMA, cfg(1_280_000), 1);
  const errs = errorsPerGoal(res.Q, ref, 3);
  assert.ok(errs[0] < 1e-3 && errs[1] < 1e-3, `sparse-goal errors ${errs[0]}, ${errs[1]}`);
  // Generic values are up to 1/(1−γ) = 10 here.
  assert.ok(errs[2] < 0.02, `generic-goal error ${errs[2]}`);

  // The learned greedy policies are optimal: their exact value is Q*.
  const nS = w.nStates, nA = w.nActions;
  const mdp = { nStates: nS, nActions: nA, P: w.P, gamma: GAMMA };
  for (let l = 0; l < 3; l++) {
    const pi = greedyPolicy(res.Q, nS, nA, undefined, l * nS * nA);
    const Qpi = policyEvaluation(mdp, tables.r, tables.d, pi, l * nS);
    for (let s = 0; s < nS; s++) {
      const vpi = Qpi.subarray(s * nA, (s + 1) * nA).reduce((acc, q, a) => acc + pi[s * nA + a] * q, 0);
      const vstar = Math.max(...ref.subarray((l * nS + s) * nA, (l * nS + s + 1) * nA));
      assert.ok(Math.abs(vpi - vstar) < 1e-9, `goal ${l} state ${s}: V^greedy ${vpi} vs V* ${vstar}`);
    }
  }
});

test('windy 3×3 room: the error to optimalQ shrinks as the budget grows 4× at a time', () => {
  const w = room('windy');
  const tables = rewardTables(GOALS, w.nStates);
  const ref = exactQ(w, tables, GAMMA);
  const budgets = [40_000, 160_000, 640_000];
  const seeds = [1, 2, 3];
  const meanErr = budgets.map((steps) => {
    let sum = 0;
    for (const seed of seeds) sum += Math.max(...errorsPerGoal(trainQLearning(w, tables, GAMMA, cfg(steps), seed).Q, ref, 3));
    return sum / seeds.length;
  });
  assert.ok(meanErr[1] < meanErr[0], `40k → 160k: ${meanErr[0]} → ${meanErr[1]}`);
  assert.ok(meanErr[2] < meanErr[1], `160k → 640k: ${meanErr[1]} → ${meanErr[2]}`);
  // Noise-dominated regime: with α ~ n^−0.75 the error falls about as n^−0.375, i.e. ~2.8× per 16×.
  assert.ok(meanErr[2] < meanErr[0] / 2.5, `16× the budget should cut the error well down: ${meanErr[0]} → ${meanErr[2]}`);
  assert.ok(meanErr[2] < 0.1, `640k steps: error ${meanErr[2]}`);
});

test('checkpoint at N steps of a 4N run is bit-identical to the final Q of an N run', () => {
  const w = room('windy');
  const tables = rewardTables(GOALS, w.nStates);
  // N not a multiple of the episode length, so the cut falls mid-episode.
  const N = 10_007;
  const long = trainQLearning(w, tables, GAMMA, cfg(4 * N), 42, [2 * N, N, 0, N, 4 * N, 5 * N]);
  // Duplicates, 0 and marks past the budget are dropped; the rest come back in order.
  assert.deepEqual(long.checkpoints.map((c) => c.steps), [N, 2 * N, 4 * N]);
  const shortN = trainQLearning(w, tables, GAMMA, cfg(N), 42);
  const short2N = trainQLearning(w, tables, GAMMA, cfg(2 * N), 42);
  assert.ok(bitsEqual(long.checkpoints[0].Q, shortN.Q), 'checkpoint N vs run N');
  assert.ok(bitsEqual(long.checkpoints[1].Q, short2N.Q), 'checkpoint 2N vs run 2N');
  assert.ok(bitsEqual(long.checkpoints[2].Q, long.Q), 'checkpoint 4N vs the final Q');
  // Checkpoints are copies, not views of the live table.
  assert.ok(!bitsEqual(long.checkpoints[0].Q, long.Q), 'Q keeps changing after N');
  // Deterministic variant too (the sampler consumes randomness differently there).
  const wd = room('deterministic');
  const a = trainQLearning(wd, tables, GAMMA, cfg(4 * 777), 9, [777]);
  const b = trainQLearning(wd, tables, GAMMA, cfg(777), 9);
  assert.ok(bitsEqual(a.checkpoints[0].Q, b.Q), 'deterministic: checkpoint 777 vs run 777');
});

test('same seed gives an identical Q; different seeds give different Qs', () => {
  const w = room('windy');
  const tables = rewardTables(GOALS, w.nStates);
  const run = (seed: number): Float64Array => trainQLearning(w, tables, GAMMA, cfg(20_000), seed).Q;
  const a = run(3), b = run(3);
  assert.ok(bitsEqual(a, b), 'same seed');
  const c = run(4);
  assert.ok(!bitsEqual(a, c), 'seed 3 vs 4');
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - c[i]));
  assert.ok(diff > 1e-6, `different seeds should differ visibly, max |Δ| = ${diff}`);
  // A progress callback observes the run without changing it.
  const seen: number[] = [];
  const d = trainQLearning(w, tables, GAMMA, cfg(20_000), 3, [], (s) => seen.push(s)).Q;
  assert.ok(bitsEqual(a, d), 'onProgress does not perturb the run');
  assert.ok(seen.length > 0 && seen.every((s, i) => s > 0 && s <= 20_000 && (i === 0 || s > seen[i - 1])), 'progress is increasing');
  assert.equal(seen[seen.length - 1], 20_000);
});

test('envSteps equals the budget, whatever the budget and episode length', () => {
  const w = room('deterministic');
  const tables = rewardTables(GOALS, w.nStates);
  for (const steps of [1, 2, 99, 100, 101, 12_345]) {
    for (const episodeLength of [1, 7, 100]) {
      const res = trainQLearning(w, tables, GAMMA, cfg(steps, { episodeLength }), 11);
      assert.equal(res.envSteps, steps, `steps ${steps}, episodeLength ${episodeLength}`);
      // Every episode takes at least one step and at most episodeLength.
      assert.ok(res.episodes >= Math.ceil(steps / episodeLength) && res.episodes <= steps,
        `episodes ${res.episodes} for ${steps} steps of length ≤ ${episodeLength}`);
    }
  }
  // A single sparse goal: episodes end at the goal, so there are more episodes than the
  // truncation alone explains, and the count of steps is still exact.
  const one = rewardTables([{ kind: 'sparse', state: 4 }], w.nStates);
  const res = trainQLearning(w, one, GAMMA, cfg(5_000, { episodeLength: 100 }), 2);
  assert.equal(res.envSteps, 5_000);
  assert.ok(res.episodes > 50, `episodes ${res.episodes}`);
});

test('a one-step run writes the target r(s\') into exactly one (s,a) per goal (α = 1 at the first visit)', () => {
  const w = room('deterministic');
  const tables = rewardTables(GOALS, w.nStates);
  // α = (1 + n)^−e is 1 at n = 0, so the first update writes the target itself.
  const res = trainQLearning(w, tables, GAMMA, cfg(1), 0);
  const nS = w.nStates, nA = w.nActions;
  for (let l = 0; l < 3; l++) {
    const block = res.Q.subarray(l * nS * nA, (l + 1) * nS * nA);
    const nonzero = [...block.keys()].filter((i) => block[i] !== 0);
    // From an all-zero table the target is r(s'), nonzero for the generic goal (r ∈ (0,1) a.s.)
    // and for a sparse goal only if s' is its goal cell.
    assert.ok(nonzero.length <= 1, `goal ${l}: ${nonzero.length} entries changed after one step`);
    if (l === 2) {
      assert.equal(nonzero.length, 1);
      const i = nonzero[0];
      const s = Math.floor(i / nA), a = i % nA;
      // Deterministic kernel: the target is r(s') for the unique s'; α = 1 at the first visit.
      let s2 = -1;
      for (let t = 0; t < nS; t++) if (w.P[(s * nA + a) * nS + t] === 1) s2 = t;
      assert.equal(block[i], tables.r[2 * nS + s2]);
    }
  }
});
