// `plearn compare DIR_A DIR_B` end to end: two tiny --out directories built from
// world models made here, compared through the real binary, with every number
// checked against the metrics computed directly; identical models must agree
// exactly, and bad input must exit 2 with one line on stderr.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWorldModelFiles, worldModelFileName } from '../coordinator/artifacts.ts';
import { agreementNmse, worldModelError } from '../shared/continuous/wm-metrics.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { resolveContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { continuousEnv, evalStatesFor, modelPredict } from '../shared/experiments/continuous.ts';
import type { WorldModelSpec, WorldModelWeights } from '../shared/plearning/neural-model.ts';
import { initWorldModel } from '../shared/plearning/neural-model.ts';
import { Rng } from '../shared/util/rng.ts';
import { plearn } from './support/run-cli.ts';
import type { Run } from './support/run-cli.ts';

interface Stat { mean: number | null; se: number | null; n: number }
interface Pair { seedIndex: number; seedIndexB: number; agreementNmse: number; aVsTruth: number; bVsTruth: number; ratio: number | null }
interface Report {
  experiment: string; evalStates: number; sampleFrom: string;
  a: { dir: string; models: number; agent: string | null; goalFamily: string | null };
  b: { dir: string; models: number; agent: string | null; goalFamily: string | null };
  pairs: Pair[];
  summary: { agreementNmse: Stat; aVsTruth: Stat; bVsTruth: Stat; ratio: Stat };
}

const MC_SPEC: WorldModelSpec = {
  stateDim: 2, nActions: 3, hidden: [16], activation: 'tanh', outputInitScale: 0.5, angleDims: [],
  inputBox: { low: Float64Array.of(-1.2, -0.07), high: Float64Array.of(0.6, 0.07) },
};

/** Small random models whose last layer is large enough that they differ visibly from each other and the truth. */
const model = (spec: WorldModelSpec, seed: number): WorldModelWeights => {
  const m = initWorldModel(spec, new Rng(seed));
  return { spec: m.spec, layers: m.layers.map((l, i) => (i + 1 === m.layers.length ? { ...l, w: l.w.map((x) => x * 0.05) } : l)) };
};

/** The exact "nothing moves" map: zero last layer. */
const identity = (spec: WorldModelSpec): WorldModelWeights => {
  const m = initWorldModel(spec, new Rng(0));
  return { spec: m.spec, layers: m.layers.map((l, i) => (i + 1 === m.layers.length ? { ...l, w: new Float32Array(l.w.length) } : l)) };
};

async function makeRun(dir: string, cfg: ContinuousConfig, models: WorldModelWeights[], seeds = models.map((_, i) => i)): Promise<void> {
  await writeWorldModelFiles(dir, models.map((weights, i) => ({ result: { seedIndex: seeds[i] }, weights })), { experiment: cfg.experiment, config: cfg });
  await writeFile(join(dir, 'result.json'), JSON.stringify({ experiment: cfg.experiment, config: cfg }));
}

async function compareJson(args: string[]): Promise<Report> {
  const run = await plearn(['compare', ...args, '--json']);
  assert.equal(run.code, 0, `plearn compare ${args.join(' ')} exited ${run.code}; stderr:\n${run.stderr}`);
  return JSON.parse(run.stdout) as Report;
}

/** Exit 2 with exactly one line on stderr that matches `pattern`. */
function assertUsage(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, `exit code (stdout: ${run.stdout}; stderr: ${run.stderr})`);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0], pattern);
  assert.equal(run.stdout, '');
}

async function expectedPair(cfg: ContinuousConfig, seedIndex: number, a: WorldModelWeights, b: WorldModelWeights) {
  const env = continuousEnv(cfg.experiment);
  const states = evalStatesFor(cfg, seedIndex);
  const pa = modelPredict(a);
  const pb = modelPredict(b);
  return {
    agreementNmse: await agreementNmse(env, pa, pb, states, cfg.evalStates),
    aVsTruth: (await worldModelError(env, pa, states, cfg.evalStates)).nmse,
    bVsTruth: (await worldModelError(env, pb, states, cfg.evalStates)).nmse,
  };
}

const close = (got: number, want: number, what: string) =>
  assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${what}: got ${got}, want ${want}`);

describe('plearn compare', () => {
  let root: string;
  const posCfg = resolveContinuousConfig('mountaincar', { agent: 'oracle', goalFamily: 'position', seed: 17, evalStates: 300 });
  const velCfg = resolveContinuousConfig('mountaincar', { agent: 'oracle', goalFamily: 'velocity', seed: 99, evalStates: 5000 });
  const as = [model(MC_SPEC, 1), model(MC_SPEC, 3), model(MC_SPEC, 5)];
  const bs = [model(MC_SPEC, 2), model(MC_SPEC, 4)];
  let dirA: string, dirB: string, dirId: string, dirId2: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'plearn-compare-'));
    [dirA, dirB, dirId, dirId2] = ['pos', 'vel', 'id', 'id2'].map((d) => join(root, d));
    await makeRun(dirA, posCfg, as);
    await makeRun(dirB, velCfg, bs);
    await makeRun(dirId, posCfg, [identity(MC_SPEC), identity(MC_SPEC)]);
    await makeRun(dirId2, velCfg, [identity(MC_SPEC), identity(MC_SPEC)]);
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  test('--json: per-seed numbers equal the metrics computed directly, on A\'s evaluation states', async () => {
    const r = await compareJson([dirA, dirB]);
    assert.equal(r.experiment, 'mountaincar');
    assert.equal(r.evalStates, 300, 'the first run\'s --eval-states');
    assert.equal(r.sampleFrom, 'uniform');
    assert.deepEqual([r.a.models, r.b.models], [3, 2]);
    assert.deepEqual([r.a.goalFamily, r.b.goalFamily, r.a.agent], ['position', 'velocity', 'oracle']);
    assert.equal(r.pairs.length, 2, 'seeds pair up to the smaller count');
    for (const [k, p] of r.pairs.entries()) {
      assert.deepEqual([p.seedIndex, p.seedIndexB], [k, k]);
      const want = await expectedPair(posCfg, k, as[k], bs[k]);
      close(p.agreementNmse, want.agreementNmse, `pair ${k} agreement`);
      close(p.aVsTruth, want.aVsTruth, `pair ${k} A vs truth`);
      close(p.bVsTruth, want.bVsTruth, `pair ${k} B vs truth`);
      assert.ok(p.agreementNmse > 0);
      close(p.ratio!, (p.aVsTruth + p.bVsTruth) / 2 / p.agreementNmse, `pair ${k} ratio`);
    }
    const mean = (f: (p: Pair) => number) => (f(r.pairs[0]) + f(r.pairs[1])) / 2;
    close(r.summary.agreementNmse.mean!, mean((p) => p.agreementNmse), 'summary agreement');
    close(r.summary.aVsTruth.mean!, mean((p) => p.aVsTruth), 'summary A vs truth');
    close(r.summary.ratio.mean!, mean((p) => p.ratio!), 'summary ratio');
    const se = Math.abs(r.pairs[0].agreementNmse - r.pairs[1].agreementNmse) / 2; // n = 2: s/√2 = |x₁ − x₂|/2
    close(r.summary.agreementNmse.se!, se, 'summary agreement SE');
    assert.equal(r.summary.agreementNmse.n, 2);
  });

  test('--eval-states overrides the count; the states stay those of the first run\'s seed', async () => {
    const r = await compareJson([dirB, dirA, '--eval-states', '150']);
    assert.equal(r.evalStates, 150);
    const cfg = { ...velCfg, evalStates: 150 };
    const want = await expectedPair(cfg, 1, bs[1], as[1]);
    close(r.pairs[1].agreementNmse, want.agreementNmse, 'agreement');
    close(r.pairs[1].aVsTruth, want.aVsTruth, 'B-run vs truth');
  });

  test('identical models agree exactly: NMSE 0, no ratio', async () => {
    const r = await compareJson([dirId, dirId2]);
    for (const p of r.pairs) {
      assert.equal(p.agreementNmse, 0);
      assert.equal(p.ratio, null);
      assert.ok(p.aVsTruth > 0, 'the identity map is not the truth');
      close(p.aVsTruth, p.bVsTruth, 'same model, same error');
    }
    assert.equal(r.summary.ratio.n, 0);
    const self = await compareJson([dirA, dirA]);
    assert.ok(self.pairs.every((p) => p.agreementNmse === 0 && p.aVsTruth === p.bVsTruth));
  });

  test('the human table', async () => {
    const run = await plearn(['compare', dirA, dirB]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^mountaincar: world models of A vs B on 300 evaluation states per seed/);
    assert.match(run.stdout, /A {2}.*pos {3}3 model\(s\) · oracle agents · position goals/);
    assert.match(run.stdout, /B {2}.*vel {3}2 model\(s\) · oracle agents · velocity goals/);
    assert.match(run.stdout, /pairing the first 2 seed\(s\) of each/);
    assert.match(run.stdout, /\nseed +NMSE A vs B +NMSE A vs truth +NMSE B vs truth +vs truth \/ A vs B\n0 +\S+ +\S+ +\S+ +\S+×\n1 /);
    assert.match(run.stdout, /\nmean +\S+ ± \S+/);
    assert.match(run.stdout, /The models are \d+\.\d× closer to each other than to the true dynamics\./);
    const same = await plearn(['compare', dirId, dirId2]);
    assert.match(same.stdout, /agree.*exactly|identically/);
  });

  describe('bad input exits 2 with one clear line', () => {
    test('a missing directory', async () => {
      assertUsage(await plearn(['compare', join(root, 'nope'), dirB]), /plearn: error: .*nope: no such directory/);
    });
    test('a file instead of a directory', async () => {
      assertUsage(await plearn(['compare', dirA, join(dirA, 'result.json')]), /result\.json: not a directory/);
    });
    test('a directory without world models', async () => {
      const empty = join(root, 'empty');
      await mkdir(empty, { recursive: true });
      assertUsage(await plearn(['compare', dirA, empty]), /empty: no world-model-seed\*\.safetensors files/);
    });
    test('different experiments', async () => {
      const reacherDir = join(root, 'reacher');
      const spec: WorldModelSpec = { stateDim: 4, nActions: 9, hidden: [8], activation: 'tanh', outputInitScale: 0.01, angleDims: [0, 1] };
      await makeRun(reacherDir, resolveContinuousConfig('reacher', { agent: 'oracle' }), [model(spec, 1)]);
      assertUsage(await plearn(['compare', dirA, reacherDir]), /different experiments: .* is mountaincar, .* is reacher/);
    });
    test('a model whose state dims do not fit the experiment', async () => {
      const odd = join(root, 'odd');
      await makeRun(odd, posCfg, [model({ ...MC_SPEC, stateDim: 3, inputBox: undefined }, 1)]);
      assertUsage(await plearn(['compare', dirA, odd]), /odd.*world-model-seed0\.safetensors: model has 3 state dims and 3 actions, mountaincar has 2 and 3/);
    });
    test('a corrupt model file', async () => {
      const bad = join(root, 'bad');
      await makeRun(bad, posCfg, [as[0]]);
      const path = join(bad, worldModelFileName(0));
      const bytes = await readFile(path);
      await writeFile(path, bytes.subarray(0, bytes.length - 3));
      assertUsage(await plearn(['compare', bad, dirB]), /world-model-seed0\.safetensors: safetensors tensor "layers\.1\.bias" data_offsets: .* runs past the end/);
      await writeFile(path, 'garbage');
      assertUsage(await plearn(['compare', bad, dirB]), /world-model-seed0\.safetensors: safetensors header length: the file is 7 bytes/);
    });
    test('--eval-states out of range, and a missing argument', async () => {
      assertUsage(await plearn(['compare', dirA, dirB, '--eval-states', '5']), /eval-states: 5 is out of range \[100, 1000000\]/);
      const run = await plearn(['compare', dirA]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /missing required argument 'dirB'/);
    });
  });
});
