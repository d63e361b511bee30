// Continuous worlds and their goals: MountainCar and Reacher transitions against
// hand-computed vectors (the arithmetic is in the comments), reset distributions,
// batched vs scalar stepping, in-place stepping, and the reward/termination rules of
// goals, forbidden regions and closest-of-N tasks, plus the task data against the
// reference's configs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../shared/util/rng.ts';
import type { ContinuousEnv } from '../shared/envs/continuous.ts';
import {
  MC_MAX_POSITION, MC_MAX_SPEED, MC_MIN_POSITION, mountainCar, mountainCarBoundaryEvent, mountainCarStep1,
} from '../shared/envs/mountaincar.ts';
import {
  REACHER_ACTION_TABLE, reacher, reacherFingertip, reacherStep1,
} from '../shared/envs/reacher.ts';
import {
  achieved, forbiddenHit, goalDist2, makeGoal, rewardOf, taskRewardDone,
  type RewardSpec, type TaskSpec,
} from '../shared/envs/continuous-goals.ts';
import { trainingGoals, unseenTasks } from '../shared/envs/continuous-tasks.ts';

const EPS = 1e-12;

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function stepOne(env: ContinuousEnv, s: readonly number[], a: number): Float64Array {
  const out = new Float64Array(env.stateDim);
  env.step(Float64Array.from(s), Int32Array.of(a), out, 1);
  return out;
}

function observeOne(env: ContinuousEnv, s: readonly number[]): Float64Array {
  const out = new Float64Array(env.obsDim);
  env.observe(Float64Array.from(s), out, 1);
  return out;
}

// ── MountainCar ─────────────────────────────────────────────────────────────

test('mountaincar: shape and constants as gymnax', () => {
  assert.equal(mountainCar.stateDim, 2);
  assert.equal(mountainCar.obsDim, 2);
  assert.equal(mountainCar.nActions, 3);
  assert.equal(mountainCar.maxSteps, 200);
  assert.deepEqual(mountainCar.angleDims, []);
  assert.deepEqual([...mountainCar.uniformLow], [-1.2, -0.07]);
  assert.deepEqual([...mountainCar.uniformHigh], [0.6, 0.07]);
  assert.equal(MC_MIN_POSITION, -1.2);
  assert.equal(MC_MAX_POSITION, 0.6);
  assert.equal(MC_MAX_SPEED, 0.07);
});

test('mountaincar: a generic interior step', () => {
  // x = −0.5, v = 0.01, a = 1 (no engine):
  // v' = 0.01 + 0·0.001 − cos(−1.5)·0.0025 = 0.01 − 0.0707372017·0.0025 = 0.0098231570
  // x' = −0.5 + 0.0098231570 = −0.4901768430
  const s = stepOne(mountainCar, [-0.5, 0.01], 1);
  close(s[1], 0.009823156995830744, EPS, 'v');
  close(s[0], -0.49017684300416925, EPS, 'x');
  // Exactly the formula, in the same order of operations.
  const v = 0.01 + 0 * 0.001 - Math.cos(3 * -0.5) * 0.0025;
  assert.equal(s[1], v);
  assert.equal(s[0], -0.5 + v);
  // The engine: a = 2 adds +0.001, a = 0 adds −0.001 relative to a = 1.
  close(stepOne(mountainCar, [-0.5, 0.01], 2)[1] - v, 0.001, EPS, 'right');
  close(stepOne(mountainCar, [-0.5, 0.01], 0)[1] - v, -0.001, EPS, 'left');
});

test('mountaincar: left wall stops the car (x clipped to −1.2, v reset to 0)', () => {
  // x = −1.19, v = −0.02, a = 0: cos(−3.57) = −0.9096285274, so
  // v' = −0.02 − 0.001 + 0.9096285274·0.0025 = −0.0187259287 (still < 0)
  // x' = −1.19 − 0.0187259287 = −1.2087259 → clipped to −1.2, then v' < 0 → v' = 0.
  const s = stepOne(mountainCar, [-1.19, -0.02], 0);
  assert.equal(s[0], -1.2);
  assert.ok(Object.is(s[1], 0), `v must be +0, got ${s[1]}`);
  assert.deepEqual(mountainCarStep1(-1.19, -0.02, 0), [-1.2, 0]);
  assert.equal(mountainCarBoundaryEvent(-1.19, -0.02, 0), true);
  // Resting on the wall, pushing right: the slope also pushes right there, no reset:
  // cos(−3.6) = −0.8967584163; v' = 0 + 0.001 + 0.8967584163·0.0025 = 0.0032418960
  // x' = −1.2 + 0.0032418960 = −1.1967581040.
  const t = stepOne(mountainCar, [-1.2, 0], 2);
  close(t[1], 0.0032418960408353674, EPS, 'v');
  close(t[0], -1.1967581039591646, EPS, 'x');
  assert.equal(mountainCarBoundaryEvent(-1.2, 0, 2), false);
});

test('mountaincar: velocity clips at ±0.07, the position moves by the clipped velocity', () => {
  // x = −0.5, v = 0.0695, a = 2: v' = 0.0695 + 0.001 − 0.0707372017·0.0025 = 0.0703231570 → 0.07;
  // x' = −0.5 + 0.07 = −0.43.
  const up = stepOne(mountainCar, [-0.5, 0.0695], 2);
  assert.equal(up[1], 0.07);
  assert.equal(up[0], -0.5 + 0.07);
  // Mirror: v = −0.0695, a = 0: v' = −0.0695 − 0.001 − 0.000176843 = −0.0706768430 → −0.07;
  // x' = −0.5 − 0.07 = −0.57.
  const down = stepOne(mountainCar, [-0.5, -0.0695], 0);
  assert.equal(down[1], -0.07);
  assert.equal(down[0], -0.5 - 0.07);
  assert.equal(mountainCarBoundaryEvent(-0.5, 0.0695, 2), true);
  assert.equal(mountainCarBoundaryEvent(-0.5, 0.01, 1), false);
});

test('mountaincar: position clips at 0.6 and keeps its velocity (no right-wall rule)', () => {
  // x = 0.55, v = 0.06, a = 2: cos(1.65) = −0.0791208888;
  // v' = 0.06 + 0.001 + 0.0791208888·0.0025 = 0.0611978022; x' = 0.6111978 → 0.6.
  const s = stepOne(mountainCar, [0.55, 0.06], 2);
  assert.equal(s[0], 0.6);
  close(s[1], 0.06119780222201683, EPS, 'v');
});

test('mountaincar: rejects an action outside {0, 1, 2}', () => {
  assert.throws(() => stepOne(mountainCar, [0, 0], 3), RangeError);
  assert.throws(() => mountainCarStep1(0, 0, -1), RangeError);
});

// ── Reacher ─────────────────────────────────────────────────────────────────

test('reacher: shape, constants and the action table order (joint 1 slowest)', () => {
  assert.equal(reacher.stateDim, 4);
  assert.equal(reacher.obsDim, 6);
  assert.equal(reacher.nActions, 9);
  assert.equal(reacher.maxSteps, 100);
  assert.deepEqual(reacher.angleDims, [0, 1]);
  assert.deepEqual([...reacher.uniformLow], [-Math.PI, -Math.PI, -2, -2]);
  assert.deepEqual([...reacher.uniformHigh], [Math.PI, Math.PI, 2, 2]);
  // itertools.product([−1, 0, 1], [−1, 0, 1]).
  assert.deepEqual([...REACHER_ACTION_TABLE], [
    -1, -1, -1, 0, -1, 1,
    0, -1, 0, 0, 0, 1,
    1, -1, 1, 0, 1, 1,
  ]);
});

test('reacher: one step by hand, θ uses the UPDATED ω (semi-implicit Euler)', () => {
  // s = (θ₁, θ₂, ω₁, ω₂) = (0.1, −0.2, 0.5, −1.0), a = 2 → τ = (−1, +1):
  // ω₁' = 0.5 + 0.05·(−1) = 0.45,  ω₂' = −1.0 + 0.05·1 = −0.95
  // θ₁' = 0.1 + 0.05·0.45 = 0.1225 (explicit Euler would give 0.1 + 0.05·0.5 = 0.125)
  // θ₂' = −0.2 + 0.05·(−0.95) = −0.2475 (explicit: −0.25)
  const s = stepOne(reacher, [0.1, -0.2, 0.5, -1.0], 2);
  close(s[0], 0.1225, EPS, 'θ₁');
  close(s[1], -0.2475, EPS, 'θ₂');
  close(s[2], 0.45, EPS, 'ω₁');
  close(s[3], -0.95, EPS, 'ω₂');
  assert.deepEqual([...s], reacherStep1(0.1, -0.2, 0.5, -1.0, 2));
  // Each single-joint action moves only its joint: a = 1 → (−1, 0), a = 5 → (0, +1).
  const a1 = stepOne(reacher, [0, 0, 0, 0], 1);
  close(a1[2], -0.05, EPS, 'a=1 ω₁');
  assert.equal(a1[3], 0);
  const a5 = stepOne(reacher, [0, 0, 0, 0], 5);
  assert.equal(a5[2], 0);
  close(a5[3], 0.05, EPS, 'a=5 ω₂');
});

test('reacher: several steps by hand from rest under full torque', () => {
  // From rest with τ = (1, 1) (a = 8): ω_n = 0.05·n, θ_n = Σ_{k=1..n} 0.05·ω_k = 0.0025·n(n+1)/2.
  // n = 1: ω = 0.05, θ = 0.0025;  n = 2: ω = 0.10, θ = 0.0075;  n = 3: ω = 0.15, θ = 0.015.
  // (Explicit Euler would lag one step: θ_3 = 0.0025·3·2/2 = 0.0075.)
  const s = Float64Array.of(0, 0, 0, 0);
  const expected = [[0.0025, 0.05], [0.0075, 0.1], [0.015, 0.15]];
  for (const [th, om] of expected) {
    reacher.step(s, Int32Array.of(8), s, 1);
    close(s[0], th, EPS, 'θ₁');
    close(s[1], th, EPS, 'θ₂');
    close(s[2], om, EPS, 'ω₁');
    close(s[3], om, EPS, 'ω₂');
  }
  // Coasting (a = 4, no torque) keeps ω: θ grows by 0.05·0.15 = 0.0075 per step.
  reacher.step(s, Int32Array.of(4), s, 1);
  close(s[0], 0.0225, EPS, 'coast θ₁');
  close(s[2], 0.15, EPS, 'coast ω₁');
});

test('reacher: the state keeps raw angles, the observation wraps them to [−π, π)', () => {
  // Crossing +π: θ₁ = π − 0.001, ω₁ = 1, coasting: θ₁' = π − 0.001 + 0.05 = π + 0.049 in the state,
  // −π + 0.049 in the observation.
  const s = stepOne(reacher, [Math.PI - 0.001, 0, 1, 0], 4);
  close(s[0], Math.PI + 0.049, EPS, 'raw θ₁');
  const o = observeOne(reacher, [...s]);
  close(o[0], -Math.PI + 0.049, 1e-12, 'wrapped θ₁');
  // θ = (π + 0.5, −π − 0.25) → observed (−π + 0.5, π − 0.25); ω passes through;
  // fingertip from the raw angles: (cos(π+0.5) + cos(−π−0.25), sin(π+0.5) + sin(−π−0.25))
  // = (−cos 0.5 − cos 0.25, −sin 0.5 + sin 0.25).
  const p = observeOne(reacher, [Math.PI + 0.5, -Math.PI - 0.25, 0.3, -0.7]);
  close(p[0], -Math.PI + 0.5, 1e-12, 'θ₁');
  close(p[1], Math.PI - 0.25, 1e-12, 'θ₂');
  assert.equal(p[2], 0.3);
  assert.equal(p[3], -0.7);
  close(p[4], -Math.cos(0.5) - Math.cos(0.25), 1e-12, 'fp_x');
  close(p[5], -Math.sin(0.5) + Math.sin(0.25), 1e-12, 'fp_y');
  // Several turns out: 3π + 0.2 is 2 full turns past −π + 0.2.
  close(observeOne(reacher, [3 * Math.PI + 0.2, -5 * Math.PI - 0.2, 0, 0])[0], -Math.PI + 0.2, 1e-12, '3π+0.2');
  close(observeOne(reacher, [0, -5 * Math.PI - 0.2, 0, 0])[1], Math.PI - 0.2, 1e-12, '−5π−0.2');
  // Inside (−π, π) nothing changes.
  assert.equal(observeOne(reacher, [1.25, -3, 0, 0])[0], 1.25);
  assert.equal(observeOne(reacher, [1.25, -3, 0, 0])[1], -3);
});

test('reacher: fingertip kinematics with absolute angles', () => {
  // (0, 0): both links along x → (2, 0).
  let o = observeOne(reacher, [0, 0, 0, 0]);
  close(o[4], 2, EPS, 'fp_x(0,0)');
  close(o[5], 0, EPS, 'fp_y(0,0)');
  // (π/2, π/2): both links along y → (0, 2). (Relative angles would fold link 2 back to (−1, 1).)
  o = observeOne(reacher, [Math.PI / 2, Math.PI / 2, 0, 0]);
  close(o[4], 0, EPS, 'fp_x(π/2,π/2)');
  close(o[5], 2, EPS, 'fp_y(π/2,π/2)');
  // (0, π): links opposed → (0, 0).
  o = observeOne(reacher, [0, Math.PI, 0, 0]);
  close(o[4], 0, EPS, 'fp_x(0,π)');
  close(o[5], 0, EPS, 'fp_y(0,π)');
  // (π/3, −π/3): (½ + ½, √3/2 − √3/2) = (1, 0).
  const [x, y] = reacherFingertip(Math.PI / 3, -Math.PI / 3);
  close(x, 1, EPS, 'fp_x(π/3,−π/3)');
  close(y, 0, EPS, 'fp_y(π/3,−π/3)');
});

test('reacher: rejects an action outside [0, 9)', () => {
  assert.throws(() => stepOne(reacher, [0, 0, 0, 0], 9), RangeError);
  assert.throws(() => reacherStep1(0, 0, 0, 0, -1), RangeError);
});

// ── Both worlds: resets, batching, aliasing ─────────────────────────────────

function momentsOf(buf: Float64Array, dim: number, d: number, n: number): { mean: number; variance: number; min: number; max: number } {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = buf[i * dim + d];
    sum += x;
    sq += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = sum / n;
  return { mean, variance: sq / n - mean * mean, min, max };
}

test('mountaincar: reset x ~ U[−0.6, −0.4], v = 0 over 10k draws', () => {
  const n = 10_000;
  const out = new Float64Array(2 * n);
  mountainCar.reset(new Rng(7), out, n);
  const x = momentsOf(out, 2, 0, n);
  assert.ok(x.min >= -0.6 && x.max < -0.4, `x in [${x.min}, ${x.max}]`);
  // U[−0.6, −0.4]: mean −0.5 (SE 0.2/√12/√n ≈ 5.8e-4), variance 0.04/12 ≈ 3.33e-3.
  close(x.mean, -0.5, 0.003, 'mean x');
  close(x.variance, 0.04 / 12, 3e-4, 'var x');
  assert.ok(x.min < -0.59 && x.max > -0.41, 'draws span the interval');
  for (let i = 0; i < n; i++) assert.equal(out[2 * i + 1], 0);
});

test('reacher: reset θ ~ U[−π, π]², ω ~ U[−1, 1]² over 10k draws', () => {
  const n = 10_000;
  const out = new Float64Array(4 * n);
  reacher.reset(new Rng(11), out, n);
  for (const d of [0, 1]) {
    const m = momentsOf(out, 4, d, n);
    assert.ok(m.min >= -Math.PI && m.max <= Math.PI, `θ${d + 1} in bounds`);
    // Mean 0 (SE π/√3/√n ≈ 0.018), variance π²/3 ≈ 3.29.
    close(m.mean, 0, 0.08, `mean θ${d + 1}`);
    close(m.variance, (Math.PI * Math.PI) / 3, 0.15, `var θ${d + 1}`);
  }
  for (const d of [2, 3]) {
    const m = momentsOf(out, 4, d, n);
    assert.ok(m.min >= -1 && m.max <= 1, `ω${d - 1} in bounds`);
    // Mean 0 (SE 1/√3/√n ≈ 0.0058), variance 1/3.
    close(m.mean, 0, 0.03, `mean ω${d - 1}`);
    close(m.variance, 1 / 3, 0.02, `var ω${d - 1}`);
  }
});

function uniformStates(env: ContinuousEnv, rng: Rng, n: number): Float64Array {
  const s = new Float64Array(n * env.stateDim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < env.stateDim; d++) {
      const lo = env.uniformLow[d];
      s[i * env.stateDim + d] = lo + (env.uniformHigh[d] - lo) * rng.next();
    }
  }
  return s;
}

test('batched step equals one-at-a-time step, and next may alias states', () => {
  const rng = new Rng(3);
  const n = 2000;
  const cases: Array<[ContinuousEnv, (s: Float64Array, o: number, a: number) => number[]]> = [
    [mountainCar, (s, o, a) => mountainCarStep1(s[o], s[o + 1], a)],
    [reacher, (s, o, a) => reacherStep1(s[o], s[o + 1], s[o + 2], s[o + 3], a)],
  ];
  for (const [env, one] of cases) {
    const dim = env.stateDim;
    const states = uniformStates(env, rng, n);
    // Push some MountainCar states onto the left wall so the reset branch is covered.
    if (env === mountainCar) for (let i = 0; i < n; i += 10) { states[2 * i] = -1.2; states[2 * i + 1] = -0.05; }
    const actions = new Int32Array(n);
    for (let i = 0; i < n; i++) actions[i] = rng.int(env.nActions);
    const next = new Float64Array(n * dim);
    env.step(states, actions, next, n);
    for (let i = 0; i < n; i++) {
      const expected = one(states, i * dim, actions[i]);
      for (let d = 0; d < dim; d++) assert.equal(next[i * dim + d], expected[d], `${env.name} row ${i} dim ${d}`);
    }
    const inPlace = states.slice();
    env.step(inPlace, actions, inPlace, n);
    assert.deepEqual(inPlace, next, `${env.name}: in-place step`);
    // Only the first n rows are touched.
    const padded = new Float64Array((n + 1) * dim).fill(42);
    env.step(states, actions, padded, n);
    for (let d = 0; d < dim; d++) assert.equal(padded[n * dim + d], 42);
  }
});

test('observe: batched rows equal single rows', () => {
  const rng = new Rng(5);
  const n = 500;
  for (const env of [mountainCar, reacher]) {
    const states = uniformStates(env, rng, n);
    // Raw Reacher angles may wind past ±π; the observation must not care.
    if (env === reacher) for (let i = 0; i < n; i += 3) states[4 * i] += 6 * Math.PI;
    const obs = new Float64Array(n * env.obsDim);
    env.observe(states, obs, n);
    for (let i = 0; i < n; i++) {
      const row = observeOne(env, [...states.subarray(i * env.stateDim, (i + 1) * env.stateDim)]);
      for (let d = 0; d < env.obsDim; d++) assert.equal(obs[i * env.obsDim + d], row[d]);
      if (env === reacher) {
        assert.ok(obs[i * 6] >= -Math.PI && obs[i * 6] < Math.PI, 'wrapped θ₁ in [−π, π)');
      }
    }
  }
});

// ── Goals and rewards ───────────────────────────────────────────────────────

const sparseA = (radius: number, terminateOnGoal = true): RewardSpec => ({ kind: 'sparse', radius, sigma: 0.1, terminateOnGoal });
const gaussianS = (sigma: number, radius: number, terminateOnGoal = true): RewardSpec => ({ kind: 'gaussian', radius, sigma, terminateOnGoal });

test('sparse reward with a mask: d² over masked dims only, strict d² < a²', () => {
  // Goal x = 0.5, v ignored (its target 123 must not matter).
  const g = makeGoal([0.5, 123], [1, 0]);
  // (0.45, −0.07): d² = 0.05² = 0.0025 < 0.1² = 0.01 → 1.
  assert.equal(rewardOf(Float64Array.of(0.45, -0.07), 0, g, sparseA(0.1)), 1);
  assert.equal(achieved(Float64Array.of(0.45, -0.07), 0, g, 0.1), true);
  // (0.39, 0): d² = 0.11² = 0.0121 ≥ 0.01 → 0.
  assert.equal(rewardOf(Float64Array.of(0.39, 0), 0, g, sparseA(0.1)), 0);
  assert.equal(achieved(Float64Array.of(0.39, 0), 0, g, 0.1), false);
  // Exactly on the radius (all terms exact in binary): target 1, obs 0.5, a = 0.5: 0.25 < 0.25 is false.
  const h = makeGoal([1, 0], [1, 0]);
  assert.equal(rewardOf(Float64Array.of(0.5, 9), 0, h, sparseA(0.5)), 0);
  assert.equal(achieved(Float64Array.of(0.5, 9), 0, h, 0.5), false);
  // `off` addresses a row of a batch: row 1 of [[0, 0], [0.45, 0]].
  assert.equal(rewardOf(Float64Array.of(0, 0, 0.45, 0), 2, g, sparseA(0.1)), 1);
  assert.equal(rewardOf(Float64Array.of(0, 0, 0.45, 0), 0, g, sparseA(0.1)), 0);
});

test('gaussian reward exp(−d²/2σ²) with masks; the reference squares m·(o − g)', () => {
  const both = makeGoal([0, 0], [1, 1]);
  const xOnly = makeGoal([0, 0], [1, 0]);
  const o = Float64Array.of(0.3, 0.4);
  // Both dims: d² = 0.09 + 0.16 = 0.25; σ = 0.5 → exp(−0.25 / (2·0.25)) = exp(−0.5) = 0.6065306597.
  close(rewardOf(o, 0, both, gaussianS(0.5, 0.1)), 0.6065306597126334, EPS, 'both');
  // x only: d² = 0.09 → exp(−0.09 / 0.5) = exp(−0.18) = 0.8352702114.
  close(rewardOf(o, 0, xOnly, gaussianS(0.5, 0.1)), 0.835270211411272, EPS, 'x only');
  // A fractional mask weighs the difference before squaring: m = 0.5, diff 0.4 → (0.2)² = 0.04.
  close(goalDist2(Float64Array.of(0.4), 0, makeGoal([0], [0.5])), 0.04, EPS, 'm·diff squared');
  // At the target the reward is 1.
  assert.equal(rewardOf(Float64Array.of(0, 0), 0, both, gaussianS(0.5, 0.1)), 1);
});

test('plain differences on angles: θ₂ = −π + 0.1 is far from a θ₂ = π target', () => {
  const [angle] = unseenTasks('reacher').filter((t) => t.label === 'Target angle');
  const g = angle.goals[0];
  // Observed (θ₁, θ₂) = (0, −π + 0.1): d² = (−π + 0.1 − π)² = (2π − 0.1)² ≈ 37.2 > 0.04 → 0,
  // although the wrapped distance would be only 0.1.
  const far = Float64Array.of(0, -Math.PI + 0.1, 0, 0, 0, 0);
  close(goalDist2(far, 0, g), (2 * Math.PI - 0.1) ** 2, 1e-9, 'd²');
  assert.equal(rewardOf(far, 0, g, angle.reward), 0);
  // (0, π − 0.1): d² = 0.01 < 0.04 → 1. Unmasked dims (ω, fingertip) do not matter.
  const near = Float64Array.of(0, Math.PI - 0.1, 5, -5, 9, 9);
  assert.equal(rewardOf(near, 0, g, angle.reward), 1);
});

test('forbidden regions: strict thresholds, checked before the reward', () => {
  const gentle = unseenTasks('mountaincar').find((t) => t.label === 'Gentle car');
  assert.ok(gentle);
  const regions = gentle.forbidden;
  assert.equal(forbiddenHit(Float64Array.of(0, 0.0500001), 0, regions), true);
  assert.equal(forbiddenHit(Float64Array.of(0, -0.0500001), 0, regions), true);
  assert.equal(forbiddenHit(Float64Array.of(0, 0.05), 0, regions), false);
  assert.equal(forbiddenHit(Float64Array.of(0, -0.05), 0, regions), false);
  assert.equal(forbiddenHit(Float64Array.of(0, 0.2), 0, []), false);
  // Rows: (0.6, 0.06) inside the goal but too fast → r 0, done;  (0.6, 0.05) on the band edge → r 1, done;
  //       (0, −0.051) too fast backwards → r 0, done;  (0, 0) nothing → r 0, not done;
  //       (0.55, 0.03): |x − 0.6| = 0.05 < 0.1 → r 1, done.
  const obs = Float64Array.of(0.6, 0.06, 0.6, 0.05, 0, -0.051, 0, 0, 0.55, 0.03);
  const r = new Float64Array(5);
  const d = new Uint8Array(5);
  taskRewardDone(gentle, obs, 5, r, d);
  assert.deepEqual([...r], [0, 1, 0, 0, 1]);
  assert.deepEqual([...d], [1, 1, 1, 0, 1]);
});

test('closest-of-N: reward is the max over goals, done is any goal achieved', () => {
  const shortest = unseenTasks('mountaincar').find((t) => t.label === 'Shortest path');
  assert.ok(shortest);
  // x = −0.95 (0.05 from −1.0), x = 0.45 (0.05 from 0.4), x = 0 (0.4 from both), x = −1.1 (0.1: not < 0.1).
  const obs = Float64Array.of(-0.95, 0.01, 0.45, -0.02, 0, 0, -1.1, 0);
  const r = new Float64Array(4);
  const d = new Uint8Array(4);
  taskRewardDone(shortest, obs, 4, r, d);
  assert.deepEqual([...r], [1, 1, 0, 0]);
  assert.deepEqual([...d], [1, 1, 0, 0]);
  // Gaussian, two goals at x = 0 and x = 1, σ = 0.5, a = 0.15, no termination:
  // obs x = 0.1 → max(exp(−0.01/0.5), exp(−0.81/0.5)) = exp(−0.02) = 0.9801986733, achieved but not done;
  // obs x = 0.6 → max(exp(−0.36/0.5), exp(−0.16/0.5)) = exp(−0.32) = 0.7261490371.
  const task: TaskSpec = {
    label: 'two',
    goals: [makeGoal([0, 0], [1, 0]), makeGoal([1, 0], [1, 0])],
    reward: gaussianS(0.5, 0.15, false),
    forbidden: [],
  };
  const o2 = Float64Array.of(0.1, 0, 0.6, 0);
  const r2 = new Float64Array(2);
  const d2 = new Uint8Array(2);
  taskRewardDone(task, o2, 2, r2, d2);
  close(r2[0], 0.9801986733067553, EPS, 'x = 0.1');
  close(r2[1], 0.7261490370736909, EPS, 'x = 0.6');
  assert.deepEqual([...d2], [0, 0]);
  // The same task terminating on goals: only the first row is inside a radius.
  taskRewardDone({ ...task, reward: gaussianS(0.5, 0.15, true) }, o2, 2, r2, d2);
  assert.deepEqual([...d2], [1, 0]);
});

test('a Reacher training goal is reached from joint angles via the observation', () => {
  const { goals, reward } = trainingGoals('reacher');
  // θ = (π/3, −π/3) puts the fingertip at (1, 0): goal 0 (0°) pays, the others do not.
  const o = observeOne(reacher, [Math.PI / 3, -Math.PI / 3, 0.7, -0.2]);
  assert.deepEqual(goals.map((g) => rewardOf(o, 0, g, reward)), [1, 0, 0, 0]);
  // θ = (0, 0): fingertip (2, 0), 1 away from (1, 0): nothing pays.
  const far = observeOne(reacher, [0, 0, 0, 0]);
  assert.deepEqual(goals.map((g) => rewardOf(far, 0, g, reward)), [0, 0, 0, 0]);
});

// ── Task data against the reference configs ─────────────────────────────────

test('training goal sets match the reference configs', () => {
  const pos = trainingGoals('mountaincar', 'position');
  assert.deepEqual(pos.reward, { kind: 'sparse', radius: 0.1, sigma: 0.1, terminateOnGoal: true });
  const xs = [-1.2, -0.6, 0, 0.6];
  assert.equal(pos.goals.length, 4);
  pos.goals.forEach((g, i) => {
    close(g.target[0], xs[i], 1e-15, `x goal ${i}`);
    assert.equal(g.target[1], 0);
    assert.deepEqual([...g.mask], [1, 0]);
  });
  assert.deepEqual(trainingGoals('mountaincar'), pos, 'position is the default family');
  const vel = trainingGoals('mountaincar', 'velocity');
  assert.equal(vel.reward.radius, 0.01);
  const vs = [-0.07, -0.07 / 3, 0.07 / 3, 0.07];
  vel.goals.forEach((g, i) => {
    assert.equal(g.target[0], 0);
    close(g.target[1], vs[i], 1e-15, `v goal ${i}`);
    assert.deepEqual([...g.mask], [0, 1]);
  });
  const re = trainingGoals('reacher');
  assert.deepEqual(re.reward, { kind: 'sparse', radius: 0.2, sigma: 0.1, terminateOnGoal: true });
  const ring = [[1, 0], [0, 1], [-1, 0], [0, -1]];
  re.goals.forEach((g, i) => {
    assert.deepEqual([...g.target], [0, 0, 0, 0, ring[i][0], ring[i][1]]);
    assert.deepEqual([...g.mask], [0, 0, 0, 0, 1, 1]);
  });
  // Fresh arrays per call.
  assert.notEqual(trainingGoals('reacher').goals[0].target, re.goals[0].target);
});

test('unseen tasks match the reference configs', () => {
  const mc = unseenTasks('mountaincar');
  assert.deepEqual(mc.map((t) => t.label), ['Fast car', 'Gentle car', 'Shortest path']);
  const [fast, gentle, shortest] = mc;
  assert.deepEqual([...fast.goals[0].target], [0, 0.06]);
  assert.deepEqual([...fast.goals[0].mask], [0, 1]);
  assert.equal(fast.reward.radius, 0.01);
  assert.deepEqual([...gentle.goals[0].target], [0.6, 0]);
  assert.deepEqual([...gentle.goals[0].mask], [1, 0]);
  assert.equal(gentle.reward.radius, 0.1);
  assert.deepEqual(gentle.forbidden, [{ dim: 1, op: 'lt', threshold: -0.05 }, { dim: 1, op: 'gt', threshold: 0.05 }]);
  assert.deepEqual(shortest.goals.map((g) => [...g.target]), [[-1, 0], [0.4, 0]]);
  assert.deepEqual(shortest.goals.map((g) => [...g.mask]), [[1, 0], [1, 0]]);
  assert.equal(shortest.reward.radius, 0.1);
  const re = unseenTasks('reacher');
  assert.deepEqual(re.map((t) => t.label), ['Far fingertip', 'Target angle', 'Target velocity']);
  assert.deepEqual([...re[0].goals[0].target], [0, 0, 0, 0, Math.SQRT2, Math.SQRT2]);
  assert.deepEqual([...re[0].goals[0].mask], [0, 0, 0, 0, 1, 1]);
  assert.deepEqual([...re[1].goals[0].target], [0, Math.PI, 0, 0, 0, 0]);
  assert.deepEqual([...re[1].goals[0].mask], [1, 1, 0, 0, 0, 0]);
  assert.deepEqual([...re[2].goals[0].target], [0, 0, 2, 2, 0, 0]);
  assert.deepEqual([...re[2].goals[0].mask], [0, 0, 1, 1, 0, 0]);
  for (const t of [...mc, ...re]) {
    assert.equal(t.reward.kind, 'sparse');
    assert.equal(t.reward.terminateOnGoal, true);
    assert.equal(t.reward.sigma, 0.1);
    if (t.label !== 'Gentle car') assert.deepEqual(t.forbidden, []);
  }
  for (const t of re) assert.equal(t.reward.radius, 0.2);
});
