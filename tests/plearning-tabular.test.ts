import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { buildWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import type { FourRoomsWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import { DEFAULT_LAYOUT_TEXT } from '../shared/envs/fourrooms/default-layout.ts';
import type { GoalSpec } from '../shared/tabular/goals.ts';
import { pickGoals, rewardTables } from '../shared/tabular/goals.ts';
import { greedyPolicy, optimalQ } from '../shared/tabular/dynamic-programming.ts';
import { kernelError } from '../shared/tabular/evaluation.ts';
import type { PLearningInput, Support } from '../shared/plearning/tabular.ts';
import { buildM, concatInputs, fitClosedForm, fitDeterministic, fitIterative } from '../shared/plearning/tabular.ts';
import { Rng } from '../shared/util/rng.ts';

const GAMMA = 0.99;
const SMALL = `name small
variant deterministic forward=1
variant windy forward=0.6 right=0.3 left=0.1
map
...
...
...
end
`;

function oracleInput(world: FourRoomsWorld, goals: GoalSpec[], gamma = GAMMA): PLearningInput {
  const nS = world.nStates;
  const nA = world.nActions;
  const t = rewardTables(goals, nS);
  const Q = new Float64Array(goals.length * nS * nA);
  const pi = new Float64Array(goals.length * nS * nA);
  const mdp = { nStates: nS, nActions: nA, P: world.P, gamma };
  for (let l = 0; l < goals.length; l++) {
    Q.set(optimalQ(mdp, t.r, t.d, l * nS), l * nS * nA);
    pi.set(greedyPolicy(Q, nS, nA, undefined, l * nS * nA), l * nS * nA);
  }
  return { nStates: nS, nActions: nA, nGoals: goals.length, Q, pi, r: t.r, d: t.d, gamma };
}

const generic = (n: number, seed: number) => pickGoals('generic', n, 0, seed);
const local = (w: FourRoomsWorld): Support => ({ kind: 'local', start: w.localStart, state: w.localState });

test('closed form equals the fixed point of full-batch gradient descent from P0 (under-determined)', () => {
  const world = buildWorld(parseLayout(SMALL), 'windy');
  // γ = 0.5 keeps M well conditioned, so plain gradient descent converges within the test's budget.
  const inp = oracleInput(world, generic(3, 7), 0.5);
  const { nStates: nS, nActions: nA, nGoals: G } = inp;
  const M = buildM(inp);
  // Step size below 2/σ_max², with σ_max² bounded by the Frobenius norm.
  let fro = 0;
  for (const m of M) fro += m * m;
  const eta = 1 / fro;
  const closed = fitClosedForm(inp, { kind: 'full' });
  assert.equal(closed.identifiability.rankM, 3);
  let worst = 0;
  for (let i = 0; i < nS * nA; i += 5) {
    const p = new Float64Array(nS).fill(1 / nS);
    for (let it = 0; it < 200_000; it++) {
      for (let l = 0; l < G; l++) {
        let e = -inp.Q[l * nS * nA + i];
        for (let k = 0; k < nS; k++) e += M[l * nS + k] * p[k];
        for (let k = 0; k < nS; k++) p[k] -= eta * e * M[l * nS + k];
      }
    }
    for (let k = 0; k < nS; k++) worst = Math.max(worst, Math.abs(p[k] - closed.P[i * nS + k]));
  }
  assert.ok(worst < 1e-8, `GD fixed point differs from M⁺Q + (I − M⁺M)P0 by ${worst}`);
});

test('one generic goal identifies a deterministic kernel exactly (deterministic model class)', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'deterministic');
  for (const seed of [1, 2, 3]) {
    const fit = fitDeterministic(oracleInput(world, generic(1, seed)), { kind: 'full' });
    assert.equal(fit.unidentifiable?.length, 0);
    assert.equal(kernelError(fit.P, world.P).maxAbsError, 0);
  }
});

test('one sparse goal leaves equal-distance successors unidentifiable, and they are reported', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'deterministic');
  const goal = world.stateAt(6, 1);
  const fit = fitDeterministic(oracleInput(world, [{ kind: 'sparse', state: goal }]), local(world));
  const ties = fit.unidentifiable ?? [];
  assert.ok(ties.length > 20, `only ${ties.length} ties`);
  // Every pair whose true successor is not tied with another candidate must be exact.
  const nS = world.nStates;
  const tied = new Set(ties.map((u) => u.s * 4 + u.a));
  for (let i = 0; i < nS * 4; i++) {
    if (tied.has(i)) continue;
    for (let k = 0; k < nS; k++) assert.equal(fit.P[i * nS + k], world.P[i * nS + k], `pair ${i}`);
  }
});

test('closed form with local support: |G| = 5 generic goals recover deterministic and windy kernels', () => {
  for (const variant of ['deterministic', 'windy']) {
    const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), variant);
    const fit = fitClosedForm(oracleInput(world, generic(5, 11)), local(world));
    assert.equal(fit.identifiability.rankDeficientPairs, 0);
    assert.ok(kernelError(fit.P, world.P).maxAbsError < 1e-9, variant);
  }
  // With 4 goals the 5-candidate systems are under-determined.
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const fit4 = fitClosedForm(oracleInput(world, generic(4, 11)), local(world));
  assert.ok(fit4.identifiability.rankDeficientPairs > 0);
  assert.ok(kernelError(fit4.P, world.P).maxAbsError > 1e-3);
});

test('teleports break the local prior: the closed form cannot express them', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'teleporting');
  const fit = fitClosedForm(oracleInput(world, generic(5, 11)), local(world));
  assert.ok(kernelError(fit.P, world.P).maxAbsError > 0.5);
  const full = fitClosedForm(oracleInput(world, generic(68, 11)), { kind: 'full' });
  assert.equal(full.identifiability.rankM, 68);
  assert.ok(kernelError(full.P, world.P).maxAbsError < 1e-9);
});

test('closed-form error grows linearly with the error of Q (Θ(ε))', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const exact = oracleInput(world, generic(68, 5));
  const errs = [1e-7, 1e-5].map((eps) => {
    const rng = new Rng(99);
    const Q = exact.Q.map((q) => q + eps * (2 * rng.next() - 1));
    return kernelError(fitClosedForm({ ...exact, Q }, { kind: 'full' }).P, world.P).maxAbsError;
  });
  const ratio = errs[1] / errs[0];
  assert.ok(ratio > 50 && ratio < 200, `error ratio ${ratio} for a 100× larger ε`);
});

test('iterative simplex fit: rows stay distributions and approach the truth with enough goals', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const inp = oracleInput(world, generic(68, 3));
  const fit = fitIterative(inp, { kind: 'full' }, { steps: 600_000, lr: 1, seed: 1 });
  const short = fitIterative(inp, { kind: 'full' }, { steps: 60_000, lr: 1, seed: 1 });
  const nS = world.nStates;
  for (let i = 0; i < nS * 4; i++) {
    let sum = 0;
    for (let k = 0; k < nS; k++) { const p = fit.P[i * nS + k]; assert.ok(p >= 0); sum += p; }
    assert.ok(Math.abs(sum - 1) < 1e-9);
  }
  const uniform = new Float64Array(world.P.length).fill(1 / nS);
  const e0 = kernelError(uniform, world.P).mse;
  const e = kernelError(fit.P, world.P).mse;
  const eShort = kernelError(short.P, world.P).mse;
  // Sampled updates on a square, ill-conditioned system converge slowly: check steady progress.
  assert.ok(e < e0 / 4, `iterative MSE ${e} vs uniform ${e0}`);
  assert.ok(e < eShort / 1.5, `10× more updates: ${eShort} → ${e}`);
});

test('iterative fit with local support and 5 generic goals recovers the windy kernel', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const fit = fitIterative(oracleInput(world, generic(5, 3)), local(world), { steps: 400_000, lr: 1, seed: 2 });
  const e = kernelError(fit.P, world.P);
  assert.ok(e.mse < 1e-6 && e.maxAbsError < 0.1, `MSE ${e.mse}, max ${e.maxAbsError}`);
});

test('the fit over several agents equals the fit over one agent holding all their goals', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'windy');
  const goals = generic(6, 4);
  const whole = fitClosedForm(oracleInput(world, goals), local(world));
  const parts = concatInputs([oracleInput(world, goals.slice(0, 2)), oracleInput(world, goals.slice(2))]);
  const split = fitClosedForm(parts, local(world));
  assert.deepEqual(Array.from(split.P), Array.from(whole.P));
});

test('tied columns of M are exactly the distance classes of a single sparse goal', () => {
  const world = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'deterministic');
  const nS = world.nStates;
  const goal = world.stateAt(6, 1);
  // BFS distances over the true kernel (independent of the fit).
  const dist = new Int32Array(nS).fill(-1);
  dist[goal] = 0;
  const queue = [goal];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (let t = 0; t < nS; t++) {
      if (dist[t] >= 0) continue;
      for (let a = 0; a < 4; a++) if (world.P[(t * 4 + a) * nS + s] === 1) { dist[t] = dist[s] + 1; queue.push(t); break; }
    }
  }
  const expected = new Map<number, number[]>();
  for (let s = 0; s < nS; s++) expected.set(dist[s], [...(expected.get(dist[s]) ?? []), s]);
  const want = [...expected.values()].filter((g) => g.length > 1).map((g) => g.join(',')).sort();
  const fit = fitClosedForm(oracleInput(world, [{ kind: 'sparse', state: goal }]), { kind: 'full' });
  const got = fit.identifiability.tiedStates.map((g) => g.join(',')).sort();
  assert.deepEqual(got, want);
});
