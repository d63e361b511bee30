// Planning on continuous worlds (the paper’s evaluation): greedy rollouts, forbidden regions, the
// unseen-goal evaluation and the oracle Q tables, checked against a plain rollout loop,
// a plain MountainCar step, a plain bilinear interpolation written here, hand-computed
// trajectories and the reference figures of the paper’s figures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envGrid, evaluateUnseen, oracleQTables, rollout, taskRewardDoneFn } from '../shared/continuous/planning.ts';
import type { Dynamics } from '../shared/continuous/grid-vi.ts';
import { makeGoal, type TaskSpec } from '../shared/envs/continuous-goals.ts';
import { trainingGoals, unseenTasks } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';
import { Rng } from '../shared/util/rng.ts';
import { mcBatch, mcRef, reacherBatch } from './support/reference-dynamics.ts';

const GAMMA = 0.99;
const VI = { tol: 1e-8, maxIters: 10_000 };

// ---- independent references -------------------------------------------------------

const mcDynamics: Dynamics = mcBatch;
const reacherDynamics: Dynamics = reacherBatch;

interface McTaskRef {
  /** Goal centres on x or v (dim 0 or 1) and the radius. */
  dim: number; centres: number[]; radius: number;
  /** The gentle-car band: |v| must stay ≤ 0.05. */
  band: boolean;
}

/**
 * A plain MountainCar rollout: act, step, forbidden check (ends with 0), sparse reward
 * γ^t on reaching a goal (ends), 200-step truncation. Also says how the episode ended.
 */
function mcRolloutRef(policy: (x: number, v: number) => number, task: McTaskRef, x0: number, v0: number):
  { ret: number; end: 'goal' | 'forbidden' | 'time' } {
  let x = x0;
  let v = v0;
  let disc = 1;
  for (let t = 0; t < 200; t++) {
    [x, v] = mcRef(x, v, policy(x, v));
    if (task.band && (v < -0.05 || v > 0.05)) return { ret: 0, end: 'forbidden' };
    const s = task.dim === 0 ? x : v;
    if (task.centres.some((c) => (s - c) ** 2 < task.radius ** 2)) return { ret: disc, end: 'goal' };
    disc *= GAMMA;
  }
  return { ret: 0, end: 'time' };
}

function oneGoalTask(dim: number, value: number, radius: number, band: boolean): TaskSpec {
  const target = [0, 0];
  const mask = [0, 0];
  target[dim] = value;
  mask[dim] = 1;
  return {
    label: 'test', goals: [makeGoal(target, mask)],
    reward: { kind: 'sparse', radius, sigma: 0.1, terminateOnGoal: true },
    forbidden: band ? [{ dim: 1, op: 'lt', threshold: -0.05 }, { dim: 1, op: 'gt', threshold: 0.05 }] : [],
  };
}

/** Grid-point coordinates of a linspace(low, high, n) dim, as numpy writes them. */
const lin = (low: number, high: number, n: number, i: number) => (i === n - 1 ? high : low + ((high - low) * i) / (n - 1));

/** A MountainCar Q table (cells × 3, x slowest) from a function of the grid point. */
function mcTable(N: number, q: (x: number, v: number, a: number) => number): Float64Array {
  const Q = new Float64Array(N * N * 3);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      for (let a = 0; a < 3; a++) Q[(i * N + j) * 3 + a] = q(lin(-1.2, 0.6, N, i), lin(-0.07, 0.07, N, j), a);
    }
  }
  return Q;
}

/** Plain bilinear interpolation on the MountainCar grid, clamped at the edges. */
function bilinearRef(N: number, values: (cell: number) => number, x: number, v: number): number {
  const pos = (q: number, lo: number, hi: number) => {
    const f = Math.min(N - 1, Math.max(0, ((q - lo) / (hi - lo)) * (N - 1)));
    const i = Math.min(N - 2, Math.floor(f));
    return [i, f - i] as const;
  };
  const [i, t] = pos(x, -1.2, 0.6);
  const [j, u] = pos(v, -0.07, 0.07);
  const at = (di: number, dj: number) => values((i + di) * N + j + dj);
  return (1 - t) * ((1 - u) * at(0, 0) + u * at(0, 1)) + t * ((1 - u) * at(1, 0) + u * at(1, 1));
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function mcResetStarts(n: number, seed: number): Float64Array {
  const s = new Float64Array(2 * n);
  mountainCar.reset(new Rng(seed), s, n);
  return s;
}

// ---- tests --------------------------------------------------------------------------

test('envGrid: the uniform box at `points` per dim, only angle dims periodic', () => {
  const g = envGrid(mountainCar, 17);
  assert.deepEqual(Array.from(g.size), [17, 17]);
  assert.deepEqual(Array.from(g.low), [-1.2, -0.07]);
  assert.deepEqual(Array.from(g.high), [0.6, 0.07]);
  assert.ok(!g.periodic || Array.from(g.periodic).every((p) => p === 0));
  const r = envGrid(reacher, 5);
  assert.deepEqual(Array.from(r.size), [5, 5, 5, 5]);
  assert.deepEqual(Array.from(r.periodic!), [1, 1, 0, 0]);
  assert.deepEqual(Array.from(r.low), [-Math.PI, -Math.PI, -2, -2]);
  assert.deepEqual(Array.from(r.high), [Math.PI, Math.PI, 2, 2]);
});

test('taskRewardDoneFn scores observations of dynamics states (Reacher angles wrapped, fingertip from θ)', () => {
  const [far, angle] = unseenTasks('reacher');
  const f = taskRewardDoneFn(reacher, angle);
  // θ = (0.05, 3.0): d² = 0.05² + (3.0 − π)² = 0.0025 + 0.02006 < 0.2² → reward 1, done.
  // The same arm wound by +2π and −2π observes the same wrapped angles.
  // θ₂ = −3.0 is 2π − 0.14 … away from π in plain differences: no reward.
  const states = Float64Array.of(0.05, 3.0, 0, 0, 0.05 + 2 * Math.PI, 3.0 - 2 * Math.PI, 0, 0, 0.05, -3.0, 0, 0);
  const r = new Float64Array(3);
  const d = new Uint8Array(3);
  f(states, 3, r, d);
  assert.deepEqual(Array.from(r), [1, 1, 0]);
  assert.deepEqual(Array.from(d), [1, 1, 0]);
  // θ₁ = θ₂ = π/4 puts the fingertip at (√2, √2), the far-fingertip target; θ = (π/4, −π/4) at (√2, 0): d² = 2.
  const g = taskRewardDoneFn(reacher, far);
  const r2 = new Float64Array(2);
  const d2 = new Uint8Array(2);
  g(Float64Array.of(Math.PI / 4, Math.PI / 4, 0, 0, Math.PI / 4, -Math.PI / 4, 0, 0), 2, r2, d2);
  assert.deepEqual(Array.from(r2), [1, 0]);
  assert.deepEqual(Array.from(d2), [1, 0]);
});

test('rollout with a hand-made "energy" Q on MountainCar equals a plain rollout loop', () => {
  // Q_right = v + 0.001, Q_left = −v − 0.001, Q_none = −1: linear in v, so the bilinear
  // interpolant is exact and the greedy policy is "push along v" (right iff v > −0.001).
  const N = 21;
  const grid = envGrid(mountainCar, N);
  const Q = mcTable(N, (_x, v, a) => (a === 2 ? v + 0.001 : a === 0 ? -v - 0.001 : -1));
  const policy = (_x: number, v: number) => (v > -0.001 ? 2 : 0);
  const n = 12;
  const starts = mcResetStarts(n, 5);
  starts.set([-1.1, 0.03, 0.2, -0.04, -0.5, 0.0], 2 * (n - 3)); // a few hand starts
  const tasks: [TaskSpec, McTaskRef][] = [
    [oneGoalTask(0, 0.6, 0.1, false), { dim: 0, centres: [0.6], radius: 0.1, band: false }],
    [unseenTasks('mountaincar')[0], { dim: 1, centres: [0.06], radius: 0.01, band: false }],
    [unseenTasks('mountaincar')[1], { dim: 0, centres: [0.6], radius: 0.1, band: true }],
    [unseenTasks('mountaincar')[2], { dim: 0, centres: [-1.0, 0.4], radius: 0.1, band: false }],
  ];
  const ends = new Set<string>();
  for (const [task, ref] of tasks) {
    const res = rollout(mountainCar, grid, Q, task, starts, n, GAMMA);
    const want: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = mcRolloutRef(policy, ref, starts[2 * i], starts[2 * i + 1]);
      want.push(r.ret);
      ends.add(`${ref.band}:${r.end}`);
      close(res.returns[i], r.ret, 1e-12, `${task.label} start ${i} (${starts[2 * i]}, ${starts[2 * i + 1]})`);
    }
    const mean = want.reduce((a, b) => a + b, 0) / n;
    const se = Math.sqrt(want.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) / n);
    close(res.mean, mean, 1e-12, `${task.label} mean`);
    close(res.se, se, 1e-12, `${task.label} se`);
  }
  // The cases were not vacuous: goals were reached, and the gentle-car band ended some episodes.
  assert.ok(ends.has('false:goal'), [...ends].join(','));
  assert.ok(ends.has('true:forbidden'), [...ends].join(','));
});

test('forbidden band: leaving |v| ≤ 0.05 ends with 0, even on the goal; hand-computed trajectories', () => {
  const N = 11;
  const grid = envGrid(mountainCar, N);
  const right = mcTable(N, (_x, _v, a) => (a === 2 ? 1 : 0));
  const gentle = unseenTasks('mountaincar')[1];
  const noBand: TaskSpec = { ...gentle, forbidden: [] };
  // (0.45, 0.06), right: v′ = 0.061 − 0.0025·cos 1.35 = 0.06045, x′ = 0.51045: inside x = 0.6 ± 0.1,
  //   but v′ > 0.05 → 0 with the band, 1 without.
  // (0.45, 0.04), right: v′ = 0.04045, x′ = 0.49045 (0.1095 from 0.6: outside); then
  //   v″ = 0.04145 − 0.0025·cos(1.47136) = 0.04120, x″ = 0.53165: inside, |v| ≤ 0.05 → γ¹ = 0.99.
  // (−0.9, 0.0495), right: v′ = 0.0505 − 0.0025·cos(−2.7) = 0.05276 > 0.05 at once → 0.
  const starts = Float64Array.of(0.45, 0.06, 0.45, 0.04, -0.9, 0.0495);
  const withBand = rollout(mountainCar, grid, right, gentle, starts, 3, GAMMA);
  const without = rollout(mountainCar, grid, right, noBand, starts, 3, GAMMA);
  close(withBand.returns[0], 0, 0, 'band, goal reached at v > 0.05');
  close(without.returns[0], 1, 1e-15, 'no band, same step');
  close(withBand.returns[1], 0.99, 1e-12, 'band kept, goal on the second step');
  close(without.returns[1], 0.99, 1e-12, 'no band, goal on the second step');
  close(withBand.returns[2], 0, 0, 'band left on the first step');
  assert.ok(without.returns[2] > 0, `without the band the fast start still scores (${without.returns[2]})`);
  close(without.returns[2], mcRolloutRef(() => 2, { dim: 0, centres: [0.6], radius: 0.1, band: false }, -0.9, 0.0495).ret, 1e-12, 'plain loop');
});

test('evaluateUnseen with the true dynamics as the model: R^WM equals R* exactly (MountainCar, Reacher)', async () => {
  const mc = await evaluateUnseen(mountainCar, envGrid(mountainCar, 30), mcDynamics, unseenTasks('mountaincar'), GAMMA, VI, 64, 3);
  assert.deepEqual(mc.map((u) => u.label), ['Fast car', 'Gentle car', 'Shortest path']);
  for (const u of mc) {
    assert.deepEqual(u.rWM, u.rStar, u.label);
    assert.equal(u.viItersModel, u.viItersTrue, u.label);
    assert.equal(u.rStar.n, 64);
    assert.ok(u.rStar.mean > 0 && u.rStar.mean < 1, `${u.label} R* ${u.rStar.mean}`);
  }
  const re = await evaluateUnseen(reacher, envGrid(reacher, 5), reacherDynamics, unseenTasks('reacher'), GAMMA, { tol: 1e-6, maxIters: 10_000 }, 16, 4);
  assert.equal(re.length, 3);
  for (const u of re) {
    assert.deepEqual(u.rWM, u.rStar, u.label);
    assert.ok(u.rStar.mean >= 0 && u.rStar.mean <= 1, `${u.label} R* ${u.rStar.mean}`);
  }
  // A model that never moves plans nothing useful for the fast car (its start v = 0 is not the goal).
  const still: Dynamics = (s, _a, out, n) => { out.set(s.subarray(0, 2 * n)); };
  const bad = await evaluateUnseen(mountainCar, envGrid(mountainCar, 30), still, unseenTasks('mountaincar').slice(0, 1), GAMMA, VI, 64, 3);
  assert.ok(bad[0].rWM.mean < mc[0].rStar.mean, `identity model ${bad[0].rWM.mean} vs R* ${mc[0].rStar.mean}`);
});

test('MountainCar R* on a 100² grid is within 0.03 of the paper’s figures (0.436, 0.377, 0.625)', async () => {
  const res = await evaluateUnseen(mountainCar, envGrid(mountainCar, 100), mcDynamics, unseenTasks('mountaincar'), GAMMA, VI, 512, 7);
  const want = [0.436, 0.377, 0.625];
  res.forEach((u, i) => close(u.rStar.mean, want[i], 0.03, `${u.label} R*`));
});

test('oracleQTables: Q ∈ [0, 1]; Q = 1 exactly where the step lands in a goal; Bellman equation by plain interpolation', async () => {
  const N = 41;
  const grid = envGrid(mountainCar, N);
  const { goals, reward } = trainingGoals('mountaincar', 'position');
  // linspace(−1.2, 0.6, 4); the exact float targets decide grid points that land on the rim.
  const centres = goals.map((g) => g.target[0]);
  centres.forEach((c, g) => close(c, [-1.2, -0.6, 0, 0.6][g], 1e-12, `goal ${g} centre`));
  const { tables, iters } = await oracleQTables(mountainCar, grid, goals, reward, GAMMA, VI);
  assert.equal(tables.length, 4);
  for (let g = 0; g < 4; g++) {
    const Q = tables[g];
    assert.equal(Q.length, N * N * 3);
    assert.ok(iters[g] < VI.maxIters, `goal ${g} converged`);
    const V = (c: number) => Math.max(Q[3 * c], Q[3 * c + 1], Q[3 * c + 2]);
    let oneStep = 0;
    let rim = 0;
    let worst = 0;
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        const c = i * N + j;
        for (let a = 0; a < 3; a++) {
          const q = Q[3 * c + a];
          assert.ok(q >= 0 && q <= 1, `goal ${g} cell ${c} action ${a}: Q ${q}`);
          const [xn, vn] = mcRef(lin(-1.2, 0.6, N, i), lin(-0.07, 0.07, N, j), a);
          const d2 = (xn - centres[g]) ** 2;
          // A grid step can land exactly on the goal's rim (x′ = −0.57 + 0.07 = −0.5 for x = −0.6):
          // goals after the first are scored on successors rebuilt to float32 precision (retarget),
          // so either side of the strict d² < a² is right there.
          if (Math.abs(d2 - 0.01) < 1e-9) { rim++; continue; }
          if (d2 < 0.1 ** 2) { // d² < a², a = 0.1
            // One step from the goal: reward 1, episode over, no bootstrap.
            assert.equal(q, 1, `goal ${g} cell ${c} action ${a} lands in the goal`);
            oneStep++;
          } else {
            assert.ok(q <= GAMMA + 1e-6, `goal ${g} cell ${c} action ${a}: Q ${q} > γ off the goal`);
            worst = Math.max(worst, Math.abs(q - GAMMA * bilinearRef(N, V, xn, vn)));
          }
        }
      }
    }
    assert.ok(oneStep > 0, `goal ${g}: some grid point is one step from the goal`);
    assert.ok(rim < 0.01 * N * N * 3, `goal ${g}: ${rim} rim cases`);
    assert.ok(worst < 1e-5, `goal ${g}: Bellman residual ${worst}`);
  }
  // The car starting still at the valley floor needs to swing: Q* there is well below 1 but positive for the top.
  const topQ = tables[3];
  const floor = Math.round(((-0.5 + 1.2) / 1.8) * (N - 1)) * N + (N - 1) / 2;
  const vFloor = Math.max(topQ[3 * floor], topQ[3 * floor + 1], topQ[3 * floor + 2]);
  assert.ok(vFloor > 0.2 && vFloor < 0.9, `V*(x ≈ −0.5, v = 0) for the x = 0.6 goal: ${vFloor}`);
});
