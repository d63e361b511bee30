// Grid value iteration's sweep on the fast CPU addon (shared/tensor/native/gridvi.c)
// against the TypeScript sweep it replaces: the same values bit for bit on
// MountainCar's 2-D grid, Reacher's 4-D grid (periodic angles) and a 3-D grid
// (the general 2^D loop), for optimal control, policy evaluation and the final Q
// tables; a corrupt transition is refused without reading outside V. Skips,
// saying why, where the addon is not built.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyEvaluation, precomputeTransitions, valueIteration, valueSweeps, type Transitions } from '../shared/continuous/grid-vi.ts';
import { makeGrid } from '../shared/continuous/grid.ts';
import { envGrid, goalTask, gridTransitions } from '../shared/continuous/planning.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';
import { assertSame, bothWays, probeAddon } from './support/native-paths.ts';

const { skip } = probeAddon();

async function envTransitions(name: 'mountaincar' | 'reacher', points: number): Promise<Transitions> {
  const env = name === 'mountaincar' ? mountainCar : reacher;
  const { goals, reward } = trainingGoals(name);
  return gridTransitions(env, envGrid(env, points), (s, a, nx, n) => env.step(s, a, nx, n), goalTask(goals[1], reward));
}

/** A 3-D grid whose dynamics drift each axis by an action-dependent step, with a rewarding corner. */
function cubeTransitions(): Promise<Transitions> {
  const grid = makeGrid([0, -1, 2], [1, 1, 3], [9, 7, 5], [false, true, false]);
  return precomputeTransitions(grid, 4, (s, a, next, n) => {
    for (let i = 0; i < n; i++) {
      const k = a[i];
      next[3 * i] = s[3 * i] + 0.07 * (k - 1.5);
      next[3 * i + 1] = s[3 * i + 1] + 0.31 * ((k % 2) - 0.4);
      next[3 * i + 2] = s[3 * i + 2] - 0.05 * k;
    }
  }, {
    rewardDone: (next, n, r, d) => {
      for (let i = 0; i < n; i++) {
        const hit = next[3 * i] > 0.8 && next[3 * i + 2] < 2.2;
        r[i] = hit ? 1 : 0.01 * next[3 * i + 1];
        d[i] = hit ? 1 : 0;
      }
    },
  });
}

for (const [label, make] of [
  ['MountainCar 2-D, 41 points', () => envTransitions('mountaincar', 41)],
  ['Reacher 4-D, 11 points, periodic angles', () => envTransitions('reacher', 11)],
  ['3-D grid (the general loop)', cubeTransitions],
] as const) {
  test(`native VI sweep: ${label}: value iteration, policy evaluation and Q equal the TypeScript sweep bit for bit`, { skip }, async () => {
    const trans = await make();
    const vi = bothWays(() => valueIteration(trans, 0.97, { tol: 1e-9, maxIters: 60 }));
    assert.equal(vi.native.iters, vi.plain.iters);
    assert.ok(vi.plain.V.some((v) => v !== 0), 'the sweep moved V');
    assertSame(vi.plain.V, vi.native.V, 'V');
    assertSame(vi.plain.Q, vi.native.Q, 'Q');
    assert.equal(vi.native.delta, vi.plain.delta);
    // A policy that is not greedy: the policy path reads one action per cell.
    const policy = Int32Array.from({ length: trans.cells }, (_, c) => (c * 7) % trans.nActions);
    const pe = bothWays(() => policyEvaluation(trans, 0.9, policy, { tol: 1e-9, maxIters: 60 }));
    assertSame(pe.plain.V, pe.native.V, 'policy V');
    assertSame(pe.plain.Q, pe.native.Q, 'policy Q');
    const sw = bothWays(() => {
      const V = Float64Array.from({ length: trans.cells }, (_, i) => Math.sin(i));
      valueSweeps(trans, 0.99, V, new Float64Array(trans.cells), 5);
      return V;
    });
    assertSame(sw.plain, sw.native, 'valueSweeps');
  });
}

test('native VI sweep: a transition whose corner lies outside the grid is refused, not read', { skip }, async () => {
  const trans = await envTransitions('mountaincar', 21);
  const base = Int32Array.from(trans.base);
  const p = base.findIndex((_, i) => trans.d[i] === 0);
  base[p] = trans.cells - 1;
  assert.throws(() => valueIteration({ ...trans, base }, 0.9, { maxIters: 3 }), /outside the grid/);
  base[p] = -5;
  assert.throws(() => valueIteration({ ...trans, base }, 0.9, { maxIters: 3 }), /outside the grid/);
});
