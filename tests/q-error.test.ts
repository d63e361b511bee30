// The Q error (the paper’s evaluation) on cases with known answers: the oracle's own Q* scores ~0,
// Q* + c keeps its greedy policy and so costs exactly c², and agents that prefer bad or
// arbitrary actions are charged against a policy evaluation written here from scratch
// (float64 successors, grid.ts's general interpolate, rewardOf), not grid-vi's sweep.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellCount, interpolate, pointOf } from '../shared/continuous/grid.ts';
import type { GridSpec } from '../shared/continuous/grid.ts';
import { envGrid, goalTask, gridTransitions, oracleQTables } from '../shared/continuous/planning.ts';
import { qErrorOfTables, qNmse, qOnGrid } from '../shared/continuous/q-error.ts';
import type { BatchQ } from '../shared/continuous/q-error.ts';
import type { ContinuousEnv } from '../shared/envs/continuous.ts';
import { achieved, makeGoal, rewardOf } from '../shared/envs/continuous-goals.ts';
import type { ContinuousGoal, RewardSpec } from '../shared/envs/continuous-goals.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';

const vi = { tol: 1e-10, maxIters: 10_000 };
const mc = trainingGoals('mountaincar', 'position');

/** Flat index of a grid node given by its coordinates (exact nodes only, as qOnGrid hands them out). */
function nodeIndex(grid: GridSpec, states: Float64Array, off: number): number {
  let idx = 0;
  for (let d = 0; d < grid.dims; d++) {
    const n = grid.size[d];
    const f = ((states[off + d] - grid.low[d]) / (grid.high[d] - grid.low[d])) * (n - 1);
    const i = Math.round(f);
    if (Math.abs(f - i) > 1e-9) throw new Error(`not a grid node: dim ${d} at ${states[off + d]}`);
    idx = idx * n + i;
  }
  return idx;
}

/** An agent that reads per-goal Q tables at the nodes it is asked about, plus an offset. */
function tableQ(grid: GridSpec, nA: number, tables: readonly Float32Array[], offset = 0): BatchQ {
  return (states, n, goal, out) => {
    for (let i = 0; i < n; i++) {
      const c = nodeIndex(grid, states, i * grid.dims);
      for (let a = 0; a < nA; a++) out[i * nA + a] = tables[goal][c * nA + a] + offset;
    }
  };
}

test('qErrorOfTables: NMSE per action then averaged (the reference), not pooled', () => {
  // Two nodes, two actions; worked by hand.
  const s = qErrorOfTables(Float32Array.of(1, 2, 3, 4), Float64Array.of(0, 2, 2, 6), Float64Array.of(2, 6), 2);
  assert.deepEqual(s.perAction.map((x) => [x.mse, x.varTrue, x.nmse]), [[1, 1, 1], [2, 4, 0.5]]);
  assert.equal(s.nmse, 0.75);
  assert.equal(s.mse, 1.5);
  assert.equal(s.varTrue, 4.75);
  assert.equal(s.pooledNmse, 1.5 / 4.75);
  assert.deepEqual([s.v.mse, s.v.varTrue, s.v.nmse], [2, 4, 0.5]);
  assert.equal(s.degenerate, 0);
});

test('qOnGrid: chunked calls see every node once, in order, and a non-finite Q is refused', async () => {
  const grid = envGrid(mountainCar, 9);
  const cells = cellCount(grid);
  const seen: number[] = [];
  const q: BatchQ = (states, n, goal, out) => {
    assert.ok(n <= 7);
    for (let i = 0; i < n; i++) {
      const c = nodeIndex(grid, states, 2 * i);
      seen.push(c);
      for (let a = 0; a < 3; a++) out[i * 3 + a] = c * 10 + a + goal * 1000;
    }
  };
  const t = await qOnGrid(grid, 3, q, 2, { chunk: 7 });
  assert.deepEqual(seen, Array.from({ length: cells }, (_, c) => c));
  for (let c = 0; c < cells; c++) for (let a = 0; a < 3; a++) assert.equal(t[c * 3 + a], c * 10 + a + 2000);
  const bad: BatchQ = (_s, n, _g, out) => { out.fill(0, 0, n * 3); if (n > 0) out[n * 3 - 1] = NaN; };
  await assert.rejects(() => qOnGrid(grid, 3, bad, 0), /agent Q is NaN/);
});

test('the oracle Q* scores ~0; Q* + c keeps its policy and costs exactly c²', async () => {
  const grid = envGrid(mountainCar, 41);
  const { tables } = await oracleQTables(mountainCar, grid, mc.goals, mc.reward, 0.99, vi);
  const calls: number[] = [];
  const exact = await qNmse(mountainCar, grid, mc.goals, mc.reward, 0.99, tableQ(grid, 3, tables), vi, (d, n) => calls.push(d, n));
  assert.deepEqual(calls, [1, 4, 2, 4, 3, 4, 4, 4]);
  assert.equal(exact.perGoal.length, 4);
  assert.ok(exact.nmse < 1e-6, `Q* NMSE ${exact.nmse}`);
  assert.ok(exact.v.nmse < 1e-6, `V* NMSE ${exact.v.nmse}`);
  assert.equal(exact.degenerate, 0);
  for (const g of exact.perGoal) assert.ok(g.converged && g.iters > 100);

  const c = 0.05;
  const off = await qNmse(mountainCar, grid, mc.goals, mc.reward, 0.99, tableQ(grid, 3, tables, c), vi);
  let want = 0;
  off.perGoal.forEach((g, i) => {
    g.perAction.forEach((s, a) => {
      // Q^π is the same function as under Q*: same greedy policy.
      assert.ok(Math.abs(s.varTrue - exact.perGoal[i].perAction[a].varTrue) < 1e-9 * s.varTrue, `goal ${i} action ${a}: var`);
      assert.ok(Math.abs(s.mse - c * c) < 1e-5 * c * c, `goal ${i} action ${a}: mse ${s.mse}`);
      assert.ok(Math.abs(s.nmse - (c * c) / s.varTrue) < 1e-5 * s.nmse);
      want += (c * c) / s.varTrue;
    });
    assert.ok(Math.abs(g.v.mse - c * c) < 1e-5 * c * c);
    assert.ok(Math.abs(g.pooledNmse - (c * c) / g.varTrue) < 1e-5 * g.pooledNmse);
  });
  assert.ok(Math.abs(off.nmse - want / 12) < 1e-5 * off.nmse, `${off.nmse} vs ${want / 12}`);
  assert.ok(Math.abs(off.mse - c * c) < 1e-5 * c * c);

  // Transitions built elsewhere (scored for another goal) give the same answer.
  const shared = await gridTransitions(mountainCar, grid, (s, a, nx, n) => mountainCar.step(s, a, nx, n), goalTask(mc.goals[2], mc.reward));
  const again = await qNmse(mountainCar, grid, mc.goals, mc.reward, 0.99, tableQ(grid, 3, tables, c), vi, undefined, { transitions: shared });
  assert.ok(Math.abs(again.nmse - off.nmse) < 1e-4 * off.nmse);
  await assert.rejects(() => qNmse(mountainCar, envGrid(mountainCar, 5), mc.goals, mc.reward, 0.99, tableQ(grid, 3, tables), vi,
    undefined, { transitions: shared }), /another grid/);
});

test('Reacher: the 4-D grid, goals on the 6-D observation, and the oracle Q* scores ~0', async () => {
  // At 7⁴ only the 0° and 180° targets are reachable from some node (the others have
  // Q* ≡ 0, a degenerate case the next tests cover); finer grids cost seconds a goal.
  const rc = trainingGoals('reacher');
  const goals = [rc.goals[0], rc.goals[2]];
  const grid = envGrid(reacher, 7);
  const { tables } = await oracleQTables(reacher, grid, goals, rc.reward, 0.99, vi);
  const res = await qNmse(reacher, grid, goals, rc.reward, 0.99, tableQ(grid, 9, tables), vi);
  assert.ok(res.nmse < 1e-6, `Q* NMSE ${res.nmse}`);
  assert.equal(res.degenerate, 0);
  assert.equal(res.perGoal[0].perAction.length, 9);
});

/** Policy evaluation from scratch: float64 successors, interpolate(), rewardOf/achieved. */
function naiveQPi(env: ContinuousEnv, grid: GridSpec, goal: ContinuousGoal, reward: RewardSpec, gamma: number,
  policy: Int32Array): { Q: Float64Array; V: Float64Array } {
  const cells = cellCount(grid);
  const nA = env.nActions;
  const D = env.stateDim;
  const next = new Float64Array(cells * nA * D);
  const r = new Float64Array(cells * nA);
  const done = new Uint8Array(cells * nA);
  const s = new Float64Array(D);
  const obs = new Float64Array(env.obsDim);
  const act = new Int32Array(1);
  for (let c = 0; c < cells; c++) {
    for (let a = 0; a < nA; a++) {
      const p = c * nA + a;
      pointOf(grid, c, s);
      act[0] = a;
      const ns = next.subarray(p * D, (p + 1) * D);
      env.step(s, act, ns, 1);
      env.observe(ns, obs, 1);
      r[p] = rewardOf(obs, 0, goal, reward);
      done[p] = reward.terminateOnGoal && achieved(obs, 0, goal, reward.radius) ? 1 : 0;
    }
  }
  const backup = (V: Float64Array, p: number): number =>
    r[p] + (done[p] ? 0 : gamma * interpolate(grid, V, next.subarray(p * D, (p + 1) * D)));
  let V = new Float64Array(cells);
  for (let it = 0; it < 10_000; it++) {
    const Vn = new Float64Array(cells);
    let delta = 0;
    for (let c = 0; c < cells; c++) {
      Vn[c] = backup(V, c * nA + policy[c]);
      delta = Math.max(delta, Math.abs(Vn[c] - V[c]));
    }
    V = Vn;
    if (delta < 1e-11) break;
  }
  const Q = new Float64Array(cells * nA);
  for (let p = 0; p < cells * nA; p++) Q[p] = backup(V, p);
  return { Q, V };
}

test('agents that prefer a bad, an arbitrary or no action are scored against an independent Q^π', async () => {
  const grid = envGrid(mountainCar, 15);
  const cells = cellCount(grid);
  // Goal order here is the agent's goal index: coast towards x = 0.6, an arbitrary
  // per-node policy towards x = −0.6, and all-equal values (tie → 'left') towards x = −1.2.
  const goals = [mc.goals[3], mc.goals[1], mc.goals[0]];
  const pref = (c: number, g: number): number => (g === 0 ? 1 : g === 1 ? (c * 7 + ((c * c) % 5)) % 3 : 0);
  const claim = (c: number, g: number, a: number): number =>
    g === 2 ? 0.4 : 0.2 + 0.01 * (c % 11) + (a === pref(c, g) ? 0.5 : 0);
  const q: BatchQ = (states, n, g, out) => {
    for (let i = 0; i < n; i++) {
      const c = nodeIndex(grid, states, 2 * i);
      for (let a = 0; a < 3; a++) out[i * 3 + a] = claim(c, g, a);
    }
  };
  const res = await qNmse(mountainCar, grid, goals, mc.reward, 0.99, q, vi);
  const { tables } = await oracleQTables(mountainCar, grid, [goals[0]], mc.reward, 0.99, vi);
  let nmse = 0;
  goals.forEach((goal, g) => {
    const policy = Int32Array.from({ length: cells }, (_, c) => pref(c, g));
    const { Q } = naiveQPi(mountainCar, grid, goal, mc.reward, 0.99, policy);
    if (g === 0) {
      // Coasting is far from optimal: if qNmse evaluated Q* (or any other policy) this test would see it.
      let gap = 0;
      for (let p = 0; p < Q.length; p++) gap = Math.max(gap, Math.abs(tables[0][p] - Q[p]));
      assert.ok(gap > 0.2, `Q* vs Q^coast gap ${gap}`);
    }
    let goalNmse = 0;
    for (let a = 0; a < 3; a++) {
      let mean = 0;
      for (let c = 0; c < cells; c++) mean += Q[c * 3 + a] / cells;
      let se = 0;
      let ss = 0;
      for (let c = 0; c < cells; c++) {
        const t = Q[c * 3 + a];
        se += (Math.fround(claim(c, g, a)) - t) ** 2;
        ss += (t - mean) ** 2;
      }
      const got = res.perGoal[g].perAction[a];
      assert.ok(Math.abs(got.mse - se / cells) < 1e-6 * (se / cells), `goal ${g} action ${a}: mse ${got.mse} vs ${se / cells}`);
      assert.ok(Math.abs(got.varTrue - ss / cells) < 1e-6 * (ss / cells), `goal ${g} action ${a}: var ${got.varTrue} vs ${ss / cells}`);
      goalNmse += se / ss / 3;
    }
    assert.ok(Math.abs(res.perGoal[g].nmse - goalNmse) < 1e-6 * goalNmse);
    nmse += goalNmse / 3;
  });
  assert.ok(Math.abs(res.nmse - nmse) < 1e-6 * nmse);
});

test('a goal no policy can reach: Q^π ≡ 0, the error is the claim itself, NMSE 0 and flagged', async () => {
  // x is clipped to [−1.2, 0.6], so x = 5 ± 0.1 is never reached: closed form Q^π = 0 everywhere.
  const grid = envGrid(mountainCar, 21);
  const q: BatchQ = (_s, n, _g, out) => { out.fill(0.3, 0, n * 3); };
  const res = await qNmse(mountainCar, grid, [makeGoal([5, 0], [1, 0])], mc.reward, 0.99, q, vi);
  const g = res.perGoal[0];
  const c2 = Math.fround(0.3) ** 2;
  for (const s of g.perAction) {
    assert.equal(s.varTrue, 0);
    assert.ok(Math.abs(s.mse - c2) < 1e-15);
    assert.equal(s.nmse, 0);
  }
  assert.equal(g.degenerate, 3);
  assert.equal(res.degenerate, 3);
  assert.equal(g.iters, 1);
  await assert.rejects(() => qNmse(mountainCar, grid, [], mc.reward, 0.99, q, vi), /no goals/);
});
