// The Q error (SPEC §4) on cases with known answers: the oracle's own Q* scores 0,
// a constant offset keeps the greedy policy and costs exactly c², and a Q that
// over-claims a policy that never reaches its goal is charged for the claim.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellCount, pointOf } from '../shared/continuous/grid.ts';
import { envGrid, oracleQTables } from '../shared/continuous/planning.ts';
import { qNmse, qOnGrid } from '../shared/continuous/q-error.ts';
import type { BatchQ } from '../shared/continuous/q-error.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';

const grid = envGrid(mountainCar, 41);
const { goals, reward } = trainingGoals('mountaincar', 'position');
const vi = { tol: 1e-10, maxIters: 10_000 };
const cells = cellCount(grid);

/** A BatchQ reading per-goal tables at grid nodes (states must be nodes: found by exact lookup). */
function tableQ(tables: Float32Array[], offset = 0): BatchQ {
  const index = new Map<string, number>();
  const p = new Float64Array(2);
  for (let c = 0; c < cells; c++) index.set(Array.from(pointOf(grid, c, p)).join(','), c);
  return (states, n, goal, out) => {
    for (let i = 0; i < n; i++) {
      const c = index.get(`${states[2 * i]},${states[2 * i + 1]}`);
      if (c === undefined) throw new Error('not a grid node');
      for (let a = 0; a < 3; a++) out[i * 3 + a] = tables[goal][c * 3 + a] + offset;
    }
  };
}

test('the oracle Q* scores ~0; Q* + c keeps its policy and scores exactly c² / var', () => {
  const { tables } = oracleQTables(mountainCar, grid, goals, reward, 0.99, vi);
  const exact = qNmse(mountainCar, grid, goals, reward, 0.99, tableQ(tables), vi);
  assert.ok(exact.nmse < 1e-9, `Q* NMSE ${exact.nmse}`);
  assert.equal(exact.perGoal.length, 4);
  const c = 0.05;
  const off = qNmse(mountainCar, grid, goals, reward, 0.99, tableQ(tables, c), vi);
  off.perGoal.forEach((g, i) => {
    assert.ok(Math.abs(g.mse - c * c) < 1e-6, `goal ${i}: mse ${g.mse}`);
    assert.ok(Math.abs(g.nmse - (c * c) / g.varTrue) < 1e-4 * g.nmse);
  });
});

test('a Q that always claims 0.3 for coasting: the error is that claim against the (mostly zero) value of coasting', () => {
  // Q prefers action 1 ("none") everywhere; from rest at the valley bottom the car never
  // gets near x = 0.6 (goal 3), so Q^π = 0 there, and the error is exactly the Q it claimed.
  const claimed = 0.3;
  const q: BatchQ = (_s, n, _g, out) => {
    for (let i = 0; i < n; i++) out.set([0, claimed, 0], i * 3);
  };
  const res = qNmse(mountainCar, grid, [goals[3]], reward, 0.99, q, vi);
  const Q = qOnGrid(grid, 2, 3, q, 0);
  assert.equal(Q.length, cells * 3);
  // Q^π = 0 at most entries; where it is not, coasting does reach x ≥ 0.5 (fast states near the top).
  assert.ok(res.perGoal[0].mse > 0 && res.perGoal[0].mse <= 3 * claimed * claimed);
  const farFromGoal = qNmse(mountainCar, grid, [goals[1]], reward, 0.99, q, vi);
  assert.ok(Number.isFinite(farFromGoal.nmse));
});
