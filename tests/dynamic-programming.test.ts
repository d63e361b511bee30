// Exact DP checked against references that do not share its code path: closed forms
// worked out by hand, Cramer's rule on 2×2 systems, brute force over deterministic
// policies, long runs of plain iterated backups, and BFS shortest paths on the grid.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backup, greedyPolicy, meanValue, optimalQ, policyEvaluation, valueIteration, type Mdp,
} from '../shared/tabular/dynamic-programming.ts';
import { rewardTables, unsafeTaskTables } from '../shared/tabular/goals.ts';
import { parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { buildWorld, type FourRoomsWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import { DEFAULT_LAYOUT_TEXT } from '../shared/envs/fourrooms/default-layout.ts';
import { Rng } from '../shared/util/rng.ts';

const UP = 0, RIGHT = 1, DOWN = 2, LEFT = 3;
// Unit moves written out here rather than imported, so BFS does not reuse the world's code.
const DX = [0, 1, 0, -1];
const DY = [-1, 0, 1, 0];

function near(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, want ${expected} (|Δ| = ${Math.abs(actual - expected)})`);
}

function mdpOf(w: FourRoomsWorld, gamma: number): Mdp {
  return { nStates: w.nStates, nActions: w.nActions, P: w.P, gamma };
}

// ---------------------------------------------------------------------------------------
// 1-D corridor: closed form.

const CORRIDOR = `name corridor
variant deterministic forward=1 right=0 left=0 back=0 teleports=off
map
......
end
`;

test('value iteration on a corridor equals the closed form γ^(dist−1) (goal at the left end)', () => {
  const w = buildWorld(parseLayout(CORRIDOR), 'deterministic');
  const n = 6;
  assert.equal(w.nStates, n);
  for (const gamma of [0.9, 0.99]) {
    const { r, d } = rewardTables([{ kind: 'sparse', state: 0 }], n);
    const { Q, iters } = valueIteration(mdpOf(w, gamma), r, d);
    assert.ok(iters < 100, `deterministic shortest path converges in ~diameter sweeps, took ${iters}`);
    // By hand: state s sits at distance s from the goal; the reward 1 is paid on entering
    // the goal, so V*(s) = γ^(s−1) for s ≥ 1, and V*(0) = 1 (stepping "into" the goal cell
    // again, i.e. bumping the wall while on it, also pays 1 and ends).
    const V = (s: number): number => (s === 0 ? 1 : gamma ** (s - 1));
    for (let s = 0; s < n; s++) {
      const q = (a: number): number => Q[s * 4 + a];
      // Toward the goal (left): s−1, which is the goal when s = 1; at s = 0 the wall keeps it there.
      const toward = s <= 1 ? 1 : gamma ** (s - 1);
      near(q(LEFT), toward, 1e-10, `Q(${s}, left) γ=${gamma}`);
      // Away from the goal (right): s+1, except the right end where it bumps the wall.
      const right = s === 0 ? gamma : gamma * V(Math.min(s + 1, n - 1));
      near(q(RIGHT), right, 1e-10, `Q(${s}, right) γ=${gamma}`);
      // Up/down bump the corridor's walls: the agent stays.
      const stay = s === 0 ? 1 : gamma * V(s);
      near(q(UP), stay, 1e-10, `Q(${s}, up) γ=${gamma}`);
      near(q(DOWN), stay, 1e-10, `Q(${s}, down) γ=${gamma}`);
    }
    // Explicit numbers at γ = 0.9 for a reader to check by eye.
    if (gamma === 0.9) {
      near(Q[5 * 4 + LEFT], 0.6561, 1e-12, 'Q(5, left) = 0.9^4');
      near(Q[5 * 4 + RIGHT], 0.59049, 1e-12, 'Q(5, right) = 0.9^5');
      near(Q[2 * 4 + RIGHT], 0.729, 1e-12, 'Q(2, right) = 0.9·V(3) = 0.9^3');
    }
  }
});

test('value iteration on a corridor with the goal at the right end (mirror case)', () => {
  const w = buildWorld(parseLayout(CORRIDOR), 'deterministic');
  const n = 6;
  const gamma = 0.95;
  const { r, d } = rewardTables([{ kind: 'sparse', state: n - 1 }], n);
  const { Q } = valueIteration(mdpOf(w, gamma), r, d);
  for (let s = 0; s < n - 1; s++) {
    const dist = n - 1 - s;
    near(Q[s * 4 + RIGHT], gamma ** (dist - 1), 1e-10, `Q(${s}, right)`);
    const awayDist = s === 0 ? dist : dist + 1; // left from s=0 bumps the wall
    near(Q[s * 4 + LEFT], gamma ** awayDist, 1e-10, `Q(${s}, left)`);
  }
});

// ---------------------------------------------------------------------------------------
// 2-state chain, generic (non-terminating) reward: the 2×2 system by hand.

/** V = (I − γP)^{-1} P r for a 2-state chain P = [[1−p, p], [q, 1−q]], by Cramer's rule. */
function twoStateValue(p: number, q: number, r0: number, r1: number, gamma: number): [number, number] {
  const a11 = 1 - gamma * (1 - p), a12 = -gamma * p;
  const a21 = -gamma * q, a22 = 1 - gamma * (1 - q);
  const b1 = (1 - p) * r0 + p * r1;
  const b2 = q * r0 + (1 - q) * r1;
  const det = a11 * a22 - a12 * a21;
  return [(b1 * a22 - a12 * b2) / det, (a11 * b2 - a21 * b1) / det];
}

test('2-state chain with one action: V = (I − γP)^{-1} P r solved by hand', () => {
  const p = 0.3, q = 0.6, gamma = 0.9;
  const r = Float64Array.of(0.2, 0.7);
  const d = new Uint8Array(2);
  const mdp: Mdp = { nStates: 2, nActions: 1, P: Float64Array.of(1 - p, p, q, 1 - q), gamma };
  // Worked by hand: A = I − γP = [[0.37, −0.27], [−0.54, 0.64]],
  // b = P r = [0.7·0.2 + 0.3·0.7, 0.6·0.2 + 0.4·0.7] = [0.35, 0.40],
  // det = 0.37·0.64 − 0.27·0.54 = 0.2368 − 0.1458 = 0.091,
  // V0 = (0.35·0.64 + 0.27·0.40)/0.091 = (0.224 + 0.108)/0.091 = 0.332/0.091,
  // V1 = (0.37·0.40 + 0.54·0.35)/0.091 = (0.148 + 0.189)/0.091 = 0.337/0.091.
  const V0 = 0.332 / 0.091, V1 = 0.337 / 0.091;
  const [c0, c1] = twoStateValue(p, q, 0.2, 0.7, gamma);
  near(c0, V0, 1e-12, 'Cramer helper V0 agrees with the hand numbers');
  near(c1, V1, 1e-12, 'Cramer helper V1 agrees with the hand numbers');

  const vi = valueIteration(mdp, r, d).Q;
  near(vi[0], V0, 1e-10, 'VI V0');
  near(vi[1], V1, 1e-10, 'VI V1');
  const pe = policyEvaluation(mdp, r, d, Float64Array.of(1, 1));
  near(pe[0], V0, 1e-12, 'policyEvaluation V0');
  near(pe[1], V1, 1e-12, 'policyEvaluation V1');
  const oq = optimalQ(mdp, r, d);
  near(oq[0], V0, 1e-12, 'optimalQ V0');
  near(oq[1], V1, 1e-12, 'optimalQ V1');
});

test('2-state, 2-action MDP: VI and optimalQ equal the best of the 4 deterministic policies', () => {
  // Action 0 "switch-ish" rows, action 1 "stay-ish" rows; rewards favour state 1.
  const gamma = 0.8;
  const rows = [
    [[0.2, 0.8], [0.9, 0.1]], // action 0 from states 0, 1: P(·|s,0)
    [[0.95, 0.05], [0.1, 0.9]], // action 1
  ];
  const r0 = 0.1, r1 = 0.9;
  const P = new Float64Array(2 * 2 * 2);
  for (let s = 0; s < 2; s++) for (let a = 0; a < 2; a++) for (let t = 0; t < 2; t++) P[(s * 2 + a) * 2 + t] = rows[a][s][t];
  const mdp: Mdp = { nStates: 2, nActions: 2, P, gamma };
  const r = Float64Array.of(r0, r1);
  const d = new Uint8Array(2);

  // Brute force: V^π for each deterministic policy by Cramer, then V* = elementwise max
  // (an optimal deterministic policy exists and dominates at every state).
  const Vstar = [-Infinity, -Infinity];
  for (let a0 = 0; a0 < 2; a0++) {
    for (let a1 = 0; a1 < 2; a1++) {
      const p = rows[a0][0][1]; // P(1 | 0, a0)
      const q = rows[a1][1][0]; // P(0 | 1, a1)
      const [v0, v1] = twoStateValue(p, q, r0, r1, gamma);
      Vstar[0] = Math.max(Vstar[0], v0);
      Vstar[1] = Math.max(Vstar[1], v1);
    }
  }
  const Qstar = (s: number, a: number): number =>
    rows[a][s][0] * (r0 + gamma * Vstar[0]) + rows[a][s][1] * (r1 + gamma * Vstar[1]);

  const vi = valueIteration(mdp, r, d).Q;
  const oq = optimalQ(mdp, r, d);
  for (let s = 0; s < 2; s++) {
    for (let a = 0; a < 2; a++) {
      near(vi[s * 2 + a], Qstar(s, a), 1e-10, `VI Q(${s},${a})`);
      near(oq[s * 2 + a], Qstar(s, a), 1e-12, `optimalQ Q(${s},${a})`);
    }
  }
  // Sanity on the brute force itself: the optimum is a genuine choice, not all actions equal.
  assert.ok(Math.abs(Qstar(0, 0) - Qstar(0, 1)) > 1e-3);
});

// ---------------------------------------------------------------------------------------
// policyEvaluation against plain iterated backups.

/** V ← Σ_a π Q with Q ← backup(V), `sweeps` times; written inline (no call into the library). */
function iteratedEvaluation(mdp: Mdp, r: Float64Array, d: Uint8Array, pi: Float64Array, sweeps: number): Float64Array {
  const { nStates: nS, nActions: nA, P, gamma } = mdp;
  let V = new Float64Array(nS);
  const Q = new Float64Array(nS * nA);
  for (let k = 0; k < sweeps; k++) {
    for (let i = 0; i < nS * nA; i++) {
      let acc = 0;
      for (let t = 0; t < nS; t++) acc += P[i * nS + t] * (r[t] + (d[t] ? 0 : gamma * V[t]));
      Q[i] = acc;
    }
    const V2 = new Float64Array(nS);
    for (let s = 0; s < nS; s++) for (let a = 0; a < nA; a++) V2[s] += pi[s * nA + a] * Q[s * nA + a];
    V = V2;
  }
  return Q;
}

function randomStochasticPolicy(nS: number, nA: number, rng: Rng): Float64Array {
  const pi = new Float64Array(nS * nA);
  for (let s = 0; s < nS; s++) {
    let sum = 0;
    for (let a = 0; a < nA; a++) { pi[s * nA + a] = rng.next() + 0.05; sum += pi[s * nA + a]; }
    for (let a = 0; a < nA; a++) pi[s * nA + a] /= sum;
  }
  // One state with a zero-probability action, to exercise the skip branch.
  pi[0 * nA + 0] = 0;
  let sum = 0;
  for (let a = 0; a < nA; a++) sum += pi[a];
  for (let a = 0; a < nA; a++) pi[a] /= sum;
  return pi;
}

test('policyEvaluation of a stochastic policy equals iterated backups (random dense MDP with terminals)', () => {
  const rng = new Rng(7);
  const nS = 7, nA = 3, gamma = 0.95;
  const P = new Float64Array(nS * nA * nS);
  for (let i = 0; i < nS * nA; i++) {
    let sum = 0;
    for (let t = 0; t < nS; t++) { const x = rng.next() < 0.3 ? 0 : rng.next(); P[i * nS + t] = x; sum += x; }
    if (sum === 0) { P[i * nS + (i % nS)] = 1; sum = 1; }
    for (let t = 0; t < nS; t++) P[i * nS + t] /= sum;
  }
  const r = new Float64Array(nS);
  for (let t = 0; t < nS; t++) r[t] = rng.next();
  const d = Uint8Array.from({ length: nS }, (_, t) => (t === 2 || t === 5 ? 1 : 0));
  const mdp: Mdp = { nStates: nS, nActions: nA, P, gamma };
  const pi = randomStochasticPolicy(nS, nA, rng);
  const ref = iteratedEvaluation(mdp, r, d, pi, 2000); // error ≤ 0.95^2000 · 20 ≈ 1e-43
  const got = policyEvaluation(mdp, r, d, pi);
  for (let i = 0; i < nS * nA; i++) near(got[i], ref[i], 1e-9, `Q[${i}]`);
});

test('policyEvaluation on windy FourRooms (generic and sparse goals) equals iterated backups', () => {
  const w = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const mdp = mdpOf(w, 0.99);
  const nS = w.nStates, nA = w.nActions;
  const tables = rewardTables([{ kind: 'generic', seed: 12345 }, { kind: 'sparse', state: w.stateAt(6, 1) }], nS);
  const pi = randomStochasticPolicy(nS, nA, new Rng(99));
  for (let l = 0; l < 2; l++) {
    const r = tables.r.subarray(l * nS, (l + 1) * nS);
    const dd = tables.d.subarray(l * nS, (l + 1) * nS);
    // 0.99^4000 ≈ 4e-18; values are at most 1/(1−γ) = 100.
    const ref = iteratedEvaluation(mdp, r, dd, pi, 4000);
    // Through the offsets too: the same rows addressed inside the full tables.
    const got = policyEvaluation(mdp, tables.r, tables.d, pi, l * nS);
    for (let i = 0; i < nS * nA; i++) near(got[i], ref[i], 1e-9, `goal ${l} Q[${i}]`);
  }
});

test('backup matches a hand-computed single backup (with an offset reward row)', () => {
  // 2 states, 1 action; state 1 terminal. Q(0) = 0.5(r0 + γV0) + 0.5(r1), Q(1) = r0 + γV0.
  const mdp: Mdp = { nStates: 2, nActions: 1, P: Float64Array.of(0.5, 0.5, 1, 0), gamma: 0.5 };
  const r = Float64Array.of(9, 9, 0.25, 1); // row at offset 2
  const d = Uint8Array.of(0, 0, 0, 1);
  const V = Float64Array.of(2, 100);
  const Q = new Float64Array(2);
  backup(mdp, r, d, V, Q, 2);
  near(Q[0], 0.5 * (0.25 + 0.5 * 2) + 0.5 * 1, 0, 'Q(0)');
  near(Q[1], 0.25 + 0.5 * 2, 0, 'Q(1)');
});

// ---------------------------------------------------------------------------------------
// FourRooms: BFS and Bellman-optimality references.

/** BFS distance (moves) from every state to `goal`, on the layout's free cells; `blocked` cells are removed. */
function bfsDistances(w: FourRoomsWorld, goal: number, blocked: ReadonlySet<number> = new Set()): Int32Array {
  const { width, height, free } = w.layout;
  const dist = new Int32Array(w.nStates).fill(-1);
  dist[goal] = 0;
  const queue = [goal];
  for (let h = 0; h < queue.length; h++) {
    const s = queue[h];
    const x = w.cellOf[2 * s], y = w.cellOf[2 * s + 1];
    for (let k = 0; k < 4; k++) {
      const nx = x + DX[k], ny = y + DY[k];
      if (nx < 0 || ny < 0 || nx >= width || ny >= height || !free[ny * width + nx]) continue;
      const t = w.stateAt(nx, ny);
      if (blocked.has(t) || dist[t] >= 0) continue;
      dist[t] = dist[s] + 1;
      queue.push(t);
    }
  }
  return dist;
}

/** The state reached by a clean move from s in direction a, by grid arithmetic. */
function cleanMove(w: FourRoomsWorld, s: number, a: number): number {
  const x = w.cellOf[2 * s] + DX[a], y = w.cellOf[2 * s + 1] + DY[a];
  const t = w.stateAt(x, y);
  return t < 0 ? s : t;
}

test('optimalQ on deterministic FourRooms equals γ^(BFS distance) for every goal, state and action', () => {
  const w = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'deterministic');
  assert.equal(w.nStates, 68);
  const gamma = 0.99;
  const mdp = mdpOf(w, gamma);
  let maxDist = 0;
  for (let g = 0; g < w.nStates; g++) {
    const { r, d } = rewardTables([{ kind: 'sparse', state: g }], w.nStates);
    const Q = optimalQ(mdp, r, d);
    const dist = bfsDistances(w, g);
    for (let s = 0; s < w.nStates; s++) {
      assert.ok(dist[s] >= 0, 'every state reaches every goal');
      maxDist = Math.max(maxDist, dist[s]);
      let best = -Infinity;
      for (let a = 0; a < 4; a++) {
        // Entering the goal pays 1 and ends; otherwise γ·V*(t) with V*(t) = γ^(dist(t)−1).
        const t = cleanMove(w, s, a);
        const want = t === g ? 1 : gamma ** dist[t];
        near(Q[s * 4 + a], want, 1e-12, `goal ${w.stateLabel(g)} Q(${w.stateLabel(s)}, ${a})`);
        best = Math.max(best, Q[s * 4 + a]);
      }
      if (s !== g) near(best, gamma ** (dist[s] - 1), 1e-12, `V*(${w.stateLabel(s)}) goal ${w.stateLabel(g)}`);
    }
  }
  // Corner to opposite corner through two doorways: (0,0) → (8,8) is 16 moves.
  assert.equal(maxDist, 16);
});

/** max over s,a of |Q − T*Q|, with T* written here (not the library's backup). */
function bellmanOptimalityResidual(mdp: Mdp, r: Float64Array, d: Uint8Array, Q: Float64Array): number {
  const { nStates: nS, nActions: nA, P, gamma } = mdp;
  const V = new Float64Array(nS);
  for (let s = 0; s < nS; s++) { let m = -Infinity; for (let a = 0; a < nA; a++) m = Math.max(m, Q[s * nA + a]); V[s] = m; }
  let res = 0;
  for (let i = 0; i < nS * nA; i++) {
    let acc = 0;
    for (let t = 0; t < nS; t++) acc += P[i * nS + t] * (r[t] + (d[t] ? 0 : gamma * V[t]));
    res = Math.max(res, Math.abs(acc - Q[i]));
  }
  return res;
}

test('optimalQ on windy FourRooms: Bellman optimality residual ≤ 1e-12 and dominates 20 random policies', () => {
  const w = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const mdp = mdpOf(w, 0.99);
  const nS = w.nStates, nA = w.nActions;
  const goals = [
    { kind: 'sparse', state: w.stateAt(6, 1) },
    { kind: 'sparse', state: w.stateAt(0, 8) },
    { kind: 'generic', seed: 2024 },
  ] as const;
  const rng = new Rng(31337);
  for (const goal of goals) {
    const { r, d } = rewardTables([goal], nS);
    const Q = optimalQ(mdp, r, d);
    const res = bellmanOptimalityResidual(mdp, r, d, Q);
    // Generic values reach ~1/(1−γ)·E[r] ≈ 50, so the residual is measured relative to that scale.
    const scale = goal.kind === 'generic' ? 100 : 1;
    assert.ok(res <= 1e-12 * scale, `${goal.kind}: residual ${res}`);
    // Q* ≥ Q^π for deterministic policies π, everywhere.
    const pi = new Float64Array(nS * nA);
    for (let k = 0; k < 20; k++) {
      pi.fill(0);
      for (let s = 0; s < nS; s++) pi[s * nA + rng.int(nA)] = 1;
      const Qpi = policyEvaluation(mdp, r, d, pi);
      let gap = 0;
      for (let i = 0; i < nS * nA; i++) {
        assert.ok(Q[i] >= Qpi[i] - 1e-12 * scale, `${goal.kind} policy ${k}: Q*[${i}] = ${Q[i]} < Q^π = ${Qpi[i]}`);
        gap = Math.max(gap, Q[i] - Qpi[i]);
      }
      assert.ok(gap > 1e-3, 'a random policy is strictly worse somewhere');
    }
    // The greedy policy of Q* evaluates back to Q* (a second, solve-based check).
    const back = policyEvaluation(mdp, r, d, greedyPolicy(Q, nS, nA));
    for (let i = 0; i < nS * nA; i++) near(back[i], Q[i], 1e-11 * scale, `${goal.kind} Q^greedy[${i}]`);
  }
});

test('greedyPolicy breaks exact ties toward the lowest action index', () => {
  const Q = Float64Array.of(1, 3, 3, 2, /* s1 */ 5, 5, 5, 5, /* s2 */ 0, -1, 0.5, 0.5);
  const pi = greedyPolicy(Q, 3, 4);
  assert.deepEqual([...pi], [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
});

// ---------------------------------------------------------------------------------------
// Unsafe tasks and meanValue.

test('meanValue: hand-computed average of V^π over the start states', () => {
  // 3 states × 2 actions.
  const Q = Float64Array.of(1, 3, 10, 20, -4, 8);
  const pi = Float64Array.of(0.5, 0.5, 1, 0, 0.25, 0.75);
  // V = [2, 10, −1 + 6 = 5]; starts {0, 2} → 3.5; starts {1, 1, 2} → 25/3.
  near(meanValue(Q, pi, Int32Array.of(0, 2), 2), 3.5, 1e-15, 'starts {0,2}');
  near(meanValue(Q, pi, Int32Array.of(1, 1, 2), 2), 25 / 3, 1e-15, 'starts {1,1,2}');
});

test('unsafe task: trap is terminal with reward 0; optimal values follow BFS around the trap', () => {
  const layout = parseLayout(DEFAULT_LAYOUT_TEXT);
  const w = buildWorld(layout, 'deterministic');
  const nS = w.nStates;
  const task = layout.tasks.find((t) => t.label === 'detour-east');
  assert.ok(task, 'shipped map has detour-east');
  const goal = w.stateAt(...task.goal);
  const trap = w.stateAt(4, 2);
  assert.deepEqual(task.traps, [[4, 2]]);
  const tables = unsafeTaskTables({ label: task.label, goal, traps: [trap] }, nS);
  assert.equal(tables.nGoals, 1);
  assert.equal(tables.nStates, nS);
  for (let s = 0; s < nS; s++) {
    assert.equal(tables.r[s], s === goal ? 1 : 0, `r[${w.stateLabel(s)}]`);
    assert.equal(tables.d[s], s === goal || s === trap ? 1 : 0, `d[${w.stateLabel(s)}]`);
  }

  const gamma = 0.99;
  const Q = optimalQ(mdpOf(w, gamma), tables.r, tables.d);
  // Stepping into the trap pays 0 and ends: Q is exactly 0.
  const west = w.stateAt(3, 2), east = w.stateAt(5, 2);
  assert.equal(Q[west * 4 + RIGHT], 0);
  assert.equal(Q[east * 4 + LEFT], 0);
  // Elsewhere V* = γ^(d−1), d the BFS distance with the trap cell removed from the graph.
  const dist = bfsDistances(w, goal, new Set([trap]));
  const starts: number[] = [];
  let expectedMean = 0;
  for (let s = 0; s < nS; s++) {
    if (s === goal || s === trap) continue;
    assert.ok(dist[s] > 0);
    let best = -Infinity;
    for (let a = 0; a < 4; a++) best = Math.max(best, Q[s * 4 + a]);
    near(best, gamma ** (dist[s] - 1), 1e-12, `V*(${w.stateLabel(s)})`);
    starts.push(s);
    expectedMean += gamma ** (dist[s] - 1);
  }
  expectedMean /= starts.length;
  // The detour is real: from (3,2) the trap-free route runs through the other three doorways,
  // (3,2)→(2,4): 3 moves, →(4,6): 4, →(6,4): 4, →(6,1): 3; 14 in all (Manhattan legs by hand).
  assert.equal(dist[west], 14);
  const open = bfsDistances(w, goal);
  assert.equal(open[west], 4, 'without the trap: (3,2)→(4,2)→(5,2)→(6,2)→(6,1)');

  const pi = greedyPolicy(Q, nS, 4);
  const mv = meanValue(Q, pi, Int32Array.from(starts), 4);
  near(mv, expectedMean, 1e-12, 'meanValue of the optimal policy');
  // The greedy policy never walks into the trap from its neighbours.
  assert.equal(pi[west * 4 + RIGHT], 0);
  assert.equal(pi[east * 4 + LEFT], 0);
});
