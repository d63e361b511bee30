// PQN's pieces against hand-computed cases, the presets' validation, and one
// gradient step of the paper-size networks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paperPqn, pqnCounts, quickPqn, resolvePqn } from '../shared/agents/pqn-config.ts';
import { epsilonAt, futureStep, linearSchedule, optimisticResetIndices, permutation, relabelReward, tdTargets } from '../shared/agents/pqn-pieces.ts';
import { tdStep, trainPqn } from '../shared/agents/pqn.ts';
import { qNetMlpSpec, qNetParamCount } from '../shared/agents/q-network.ts';
import { fillInputRow, initQNet, qNetTensors, qNetworkQFunction, qValues } from '../shared/agents/q-network-tf.ts';
import { observeTf } from '../shared/continuous/tf-goals.ts';
import { makeGoal } from '../shared/envs/continuous-goals.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { resolveContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { planJob } from '../shared/experiments/jobs.ts';
import { initBackend } from '../shared/tensor/backend.ts';
import type { TF } from '../shared/tensor/backend.ts';
import { radam } from '../shared/tensor/radam.ts';
import { Rng } from '../shared/util/rng.ts';

async function fastTf(): Promise<TF> {
  try {
    return (await initBackend('cpu-blas')).tf;
  } catch {
    return (await initBackend('cpu')).tf;
  }
}

test('TD targets: a reached goal never bootstraps, a time-limit truncation does', () => {
  const r = Float32Array.of(1, 0, 0, 1);
  // Transition 1 is a truncation (episode over, goal not reached): its flag is 0.
  const doneGoal = Uint8Array.of(1, 0, 0, 0);
  const qNext = Float32Array.of(0.9, 0.5, 0.25, 0.5);
  const out = tdTargets(r, doneGoal, qNext, 0.99, new Float32Array(4));
  assert.deepEqual(Array.from(out), [1, Math.fround(0.99 * 0.5), Math.fround(0.99 * 0.25), Math.fround(1 + 0.99 * 0.5)]);
});

test('ε: 1.0 → 0.1 linearly over the first half of the updates, then 0.1', () => {
  const cfg = { epsStart: 1, epsFinish: 0.1, epsDecay: 0.5 };
  assert.equal(epsilonAt(cfg, 0, 100), 1);
  assert.ok(Math.abs(epsilonAt(cfg, 25, 100) - 0.55) < 1e-12);
  assert.ok(Math.abs(epsilonAt(cfg, 50, 100) - 0.1) < 1e-12);
  assert.ok(Math.abs(epsilonAt(cfg, 99, 100) - 0.1) < 1e-12);
  // The learning rate uses the same schedule shape, to lrEnd over all gradient steps.
  assert.equal(linearSchedule(1e-3, 0, 1000, 0), 1e-3);
  assert.ok(Math.abs(linearSchedule(1e-3, 0, 1000, 750) - 2.5e-4) < 1e-15);
  assert.equal(linearSchedule(1e-3, 0, 1000, 1000), 0);
});

test('HER "future": t′ ∈ [t, T), uniform for t = 0 and always T−1 for t = T−1', () => {
  const rng = new Rng(7);
  const T = 8;
  const counts = new Array<number>(T).fill(0);
  for (let i = 0; i < 80_000; i++) counts[futureStep(rng, 0, T)] += 1;
  for (const c of counts) assert.ok(Math.abs(c / 10_000 - 1) < 0.05, `counts ${counts}`);
  for (let i = 0; i < 1000; i++) {
    const t = i % T;
    const f = futureStep(rng, t, T);
    assert.ok(f >= t && f < T);
    if (t === T - 1) assert.equal(f, T - 1);
  }
});

test('HER relabelling: reward and termination from the pre-reset next observation and the new goal', () => {
  const reward = trainingGoals('mountaincar', 'position').reward; // sparse, a = 0.1, terminating
  const next = Float64Array.of(-0.55, 0.01);
  // The achieved state itself as a goal (the "future" strategy, at t′ = t): reached.
  const self = { target: next, mask: Float64Array.of(1, 0) };
  assert.deepEqual(relabelReward(next, 0, self, reward), { r: 1, done: true });
  // x = −0.6 is 0.05 away (inside a = 0.1); x = 0 is not.
  assert.deepEqual(relabelReward(next, 0, makeGoal([-0.6, 0], [1, 0]), reward), { r: 1, done: true });
  assert.deepEqual(relabelReward(next, 0, makeGoal([0, 0], [1, 0]), reward), { r: 0, done: false });
  // The boundary is strict: d² = a² exactly is not reached.
  assert.deepEqual(relabelReward(Float64Array.of(0.25, 0), 0, makeGoal([0.5, 0], [1, 0]), { ...reward, radius: 0.25 }), { r: 0, done: false });
  // A non-terminating spec pays without ending the episode.
  assert.deepEqual(relabelReward(next, 0, self, { ...reward, terminateOnGoal: false }), { r: 1, done: false });
});

test('optimistic resets: finished envs draw from N/ratio fresh states, distinct ones first', () => {
  const rng = new Rng(3);
  const N = 64;
  const ratio = 16;
  const out = new Int32Array(N);
  const scratch = new Int32Array(N);
  const done = new Uint8Array(N);
  done[5] = 1;
  done[40] = 1;
  optimisticResetIndices(done, ratio, rng, out, scratch);
  assert.notEqual(out[5], out[40], 'two finished envs, four fresh states: distinct');
  for (const i of [5, 40]) assert.ok(out[i] >= 0 && out[i] < N / ratio);
  done.fill(1);
  optimisticResetIndices(done, ratio, rng, out, scratch);
  const taken = new Set<number>();
  for (let i = 0; i < N; i++) {
    assert.ok(out[i] >= 0 && out[i] < N / ratio);
    taken.add(out[i]);
  }
  assert.equal(taken.size, N / ratio, 'every fresh state is used when all envs finish');
});

test('permutation is a permutation', () => {
  const p = permutation(new Rng(1), new Int32Array(1000));
  assert.deepEqual(Array.from(p).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
});

test('presets: paper is the reference implementation’s agent settings exactly and validates; quick is smaller; bad overrides name the field', () => {
  const mc = paperPqn('mountaincar', 'position');
  assert.deepEqual([mc.envSteps, mc.numEnvs, mc.numSteps, mc.minibatch, mc.lr, mc.her, mc.herK], [5e6, 256, 64, 256, 1e-4, 'random', 4]);
  assert.deepEqual(mc.hidden, [1024, 1024, 1024, 1024]);
  assert.deepEqual(paperPqn('mountaincar', 'velocity').goalDims, [1]);
  const re = paperPqn('reacher', 'position');
  assert.deepEqual([re.envSteps, re.her, re.lr], [1e7, 'future', 1e-4]);
  assert.deepEqual(re.hidden, [2048, 2048, 2048, 2048, 2048, 2048]);
  assert.deepEqual(re.obsDims, [0, 1, 2, 3]);
  assert.deepEqual(re.goalDims, [4, 5]);
  // The quick presets relabel with other training goals on both environments.
  assert.deepEqual([quickPqn('reacher', 'position').her, quickPqn('mountaincar', 'position').her], ['random', 'random']);
  for (const env of ['mountaincar', 'reacher'] as const) {
    const cfg = resolveContinuousConfig(env, { preset: 'paper' });
    assert.equal(cfg.agent, 'pqn');
    assert.deepEqual(cfg.pqn, paperPqn(env, 'position'));
    assert.equal(cfg.grid, env === 'mountaincar' ? 200 : 50);
    assert.deepEqual([cfg.fitSteps, cfg.fitBatch, cfg.fitLr], env === 'mountaincar' ? [20_000, 4096, 1e-4] : [1000, 1024, 1e-4]);
    const counts = pqnCounts(cfg.pqn!);
    assert.equal(counts.minibatches, 256 * 64 * 5 / 256);
    assert.equal(counts.updates, Math.floor(cfg.pqn!.envSteps / (256 * 64)));
    assert.ok(quickPqn(env, 'position').envSteps < cfg.pqn!.envSteps);
  }
  assert.throws(() => resolvePqn('reacher', 'position', 'quick', { numEnvs: 100 }), /num-envs: 100 must be a multiple of 16/);
  assert.throws(() => resolvePqn('reacher', 'position', 'quick', { qHidden: '256,0' }), /q-hidden\[1\]/);
  assert.throws(() => resolvePqn('reacher', 'position', 'quick', { envSteps: 10 }), /env-steps/);
  assert.throws(() => resolveContinuousConfig('mountaincar', { preset: 'huge' }), /preset/);
  assert.throws(() => resolveContinuousConfig('mountaincar', { agent: 'oracle', qLr: 1e-3 }), /q-lr: applies to PQN agents only/);
});

test('quick MountainCar Q-networks read inputs mapped onto [−1, 1]; both input routes agree with pre-scaled raw inputs', async () => {
  const pos = quickPqn('mountaincar', 'position').inputNorm!;
  const vel = quickPqn('mountaincar', 'velocity').inputNorm!;
  const map = (n: { shift: readonly number[]; scale: readonly number[] }, col: number, x: number) => (x - n.shift[col]) * n.scale[col];
  // Columns: obs x, obs v, then the goal dim (x for position goals, v for velocity goals).
  for (const [col, lo, hi] of [[0, -1.2, 0.6], [1, -0.07, 0.07], [2, -1.2, 0.6]] as const) {
    assert.ok(Math.abs(map(pos, col, lo) + 1) < 1e-12 && Math.abs(map(pos, col, hi) - 1) < 1e-12, `position column ${col}`);
  }
  assert.ok(Math.abs(map(vel, 2, 0.07) - 1) < 1e-12 && Math.abs(map(vel, 2, -0.07) + 1) < 1e-12);
  assert.equal(paperPqn('mountaincar', 'position').inputNorm, undefined, 'the paper preset feeds raw inputs, as the reference');
  assert.equal(quickPqn('reacher', 'position').inputNorm, undefined);

  const tf = await fastTf();
  const raw = { obsDims: [0, 1], goalDims: [0], hidden: [8, 8], nActions: 3 };
  const w = initQNet(raw, new Rng(4));
  const normed = { spec: { ...raw, inputNorm: pos }, params: w.params };
  const goals = trainingGoals('mountaincar', 'position').goals;
  const states = [[-1.1, 0.05], [0.3, -0.02], [-0.5, 0]];
  const params = qNetTensors(tf, w, false);
  try {
    // Reference: the raw network fed rows scaled by hand.
    const byHand = new Float32Array(3 * 3);
    states.forEach(([x, v], i) => byHand.set([map(pos, 0, x), map(pos, 1, v), map(pos, 2, goals[1].target[0])], 3 * i));
    const want = await qValues(tf, raw, params, byHand, 3);
    const rows = new Float32Array(3 * 3);
    states.forEach((s, i) => fillInputRow(normed.spec, s, 0, goals[1].target, 0, rows, 3 * i));
    assert.deepEqual(Array.from(await qValues(tf, raw, params, rows, 3)), Array.from(want), 'fillInputRow');
    const q = qNetworkQFunction(tf, normed, goals, observeTf('mountaincar'));
    const got = tf.tidy(() => q.values(tf, tf.tensor2d(states.flat(), [3, 2]), tf.tensor1d([1, 1, 1], 'int32')).dataSync());
    q.dispose?.();
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `QFunction ${i}: ${got[i]} vs ${want[i]}`);
  } finally {
    params.forEach((p) => p.dispose());
  }
});

test('a PQN job plans one agent task per seed × shard with seeds from the job seed', () => {
  const plan = planJob({ experiment: 'mountaincar', options: { seeds: 2, goalsPerAgent: 2, seed: 5 } });
  assert.deepEqual(plan.tasks.map((t) => t.taskId), ['a-0-0', 'a-0-1', 'a-1-0', 'a-1-1']);
  assert.deepEqual(plan.fits.map((f) => f.needs), [['a-0-0', 'a-0-1'], ['a-1-0', 'a-1-1']]);
  const seeds = plan.tasks.map((t) => (t.task as { seed: number }).seed);
  assert.equal(new Set(seeds).size, 4);
});

test('one minibatch gradient step of each paper-size Q-network runs and lowers the loss on that batch', async () => {
  const tf = await fastTf();
  for (const env of ['mountaincar', 'reacher'] as const) {
    const p = paperPqn(env, 'position');
    const nActions = env === 'mountaincar' ? 3 : 9;
    const spec = { obsDims: p.obsDims, goalDims: p.goalDims, hidden: p.hidden, nActions };
    assert.equal(qNetParamCount(spec) > (env === 'mountaincar' ? 3e6 : 2e7), true);
    const rng = new Rng(11);
    const params = qNetTensors(tf, initQNet(spec, rng), true);
    const inDim = spec.obsDims.length + spec.goalDims.length;
    const B = p.minibatch;
    const rows = new Float32Array(B * inDim).map(() => rng.next() * 2 - 1);
    const actions = new Int32Array(B).map(() => rng.int(nActions));
    const targets = new Float32Array(B).map(() => rng.next());
    const opt = radam(tf, { learningRate: p.lr });
    const before = await tdStep(tf, qNetMlpSpec(spec), params, opt, p.maxGradNorm, rows, actions, targets, B, inDim);
    const after = await tdStep(tf, qNetMlpSpec(spec), params, opt, p.maxGradNorm, rows, actions, targets, B, inDim);
    assert.ok(Number.isFinite(before) && after < before, `${env}: loss ${before} → ${after}`);
    const q = await qValues(tf, spec, params, rows, 4);
    for (const v of q) assert.ok(v > 0 && v < 1, 'sigmoid head keeps Q in (0, 1)');
    opt.dispose();
    for (const t of params) t.dispose();
  }
});

test('a tiny PQN run is a function of its seed and records its curves', async () => {
  const tf = await fastTf();
  const { goals, reward } = trainingGoals('mountaincar', 'position');
  const config = { ...quickPqn('mountaincar', 'position'), envSteps: 2 * 32 * 8, numEnvs: 32, numSteps: 8, hidden: [16], evalPoints: 2, evalEpisodes: 2 };
  const run = { env: mountainCar, goals, goalLabels: goals.map((_, i) => `g${i}`), reward, gamma: 0.99, config, seed: 9 };
  const a = await trainPqn(tf, run);
  const b = await trainPqn(tf, run);
  assert.equal(a.envSteps, 512);
  assert.equal(a.curves.loss.length, 2);
  assert.deepEqual(Array.from(a.curves.evalSteps), [0, 256, 512]);
  assert.equal(a.curves.evalReturn.length, 4);
  for (let i = 0; i < a.weights.params.length; i++) assert.deepEqual(a.weights.params[i].data, b.weights.params[i].data);
  assert.notDeepEqual(a.weights.params[0].data, (await trainPqn(tf, { ...run, seed: 10 })).weights.params[0].data);
});

test('the tensor predictor evaluation uses agrees with the float64 world model to float32 precision', async () => {
  const tf = await fastTf();
  const { DEFAULT_MODEL, initWorldModel, tensorPredictor } = await import('../shared/plearning/neural-model.ts');
  const { reacher } = await import('../shared/envs/reacher.ts');
  const model = initWorldModel({ ...DEFAULT_MODEL, stateDim: 4, nActions: 9, angleDims: [0, 1], outputInitScale: 1 }, new Rng(3));
  const n = 3000;
  const s = new Float64Array(n * 4);
  reacher.reset(new Rng(1), s, n);
  const a = new Int32Array(n).map((_, i) => i % 9);
  const want = model.predict(s, a);
  const got = new Float64Array(n * 4);
  await tensorPredictor(tf, model, 1000)(s, a, got, n);
  let worst = 0;
  for (let i = 0; i < n * 4; i++) {
    let e = Math.abs(want[i] - got[i]);
    if (i % 4 < 2) e = Math.min(e, Math.abs(e - 2 * Math.PI));
    worst = Math.max(worst, e);
  }
  assert.ok(worst < 1e-5, `max |Δ| ${worst}`);
});

test('a network as variables holds its weights once, and disposing them frees all of it (no intermediate copy left behind)', async () => {
  const tf = await fastTf();
  const w = initQNet({ obsDims: [0, 1], goalDims: [0], hidden: [64, 32], nActions: 3 }, new Rng(2));
  const bytes = w.params.reduce((a, p) => a + p.data.byteLength, 0);
  const m0 = tf.memory();
  const vars = qNetTensors(tf, w, false);
  assert.equal(tf.memory().numBytes - m0.numBytes, bytes);
  for (const v of vars) v.dispose();
  assert.deepEqual([tf.memory().numBytes, tf.memory().numTensors], [m0.numBytes, m0.numTensors]);
  // Training the variables never writes into the weights they were made from.
  const before = w.params.map((p) => p.data.slice());
  const params = qNetTensors(tf, w, true);
  const opt = radam(tf, { learningRate: 1e-2 });
  const B = 16;
  await tdStep(tf, qNetMlpSpec(w.spec), params, opt, 10, Float32Array.from({ length: B * 3 }, (_, i) => Math.sin(i)),
    Int32Array.from({ length: B }, (_, i) => i % 3), new Float32Array(B).fill(0.5), B, 3);
  w.params.forEach((p, i) => assert.deepEqual(p.data, before[i], p.name));
  params.forEach((p) => p.dispose());
  opt.dispose();
});
