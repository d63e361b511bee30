// End-to-end tests of `plearn run mountaincar|reacher`: spawn the binary as a user
// would, with tiny budgets, and check the exit codes, the --json contract, --out, and
// that bad input is refused with exit 2 and a message naming the field.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plearn } from './support/run-cli.ts';



interface Stat { mean: number; se: number; n: number }
interface PerActionDim {
  action: number; dim: number; label: string;
  mse: Stat; nmse: Stat; identityNmse: Stat; deltaNmse: Stat | null;
}
interface Summary {
  wmNmse: Stat; identityNmse: Stat; wmDeltaNmse: Stat;
  wmDeltaNmseInterior?: Stat; wmDeltaNmseBoundary?: Stat;
  perActionDim: PerActionDim[];
  unseen: { label: string; rStar: Stat; rWM: Stat; ratio: Stat }[];
}
interface Result { backend: string; config: Record<string, unknown>; summary: Summary }

/** A {mean, se, n} of finite numbers; over one seed (n = 1, se = 0) unless n is given. */
function assertStat(v: unknown, what: string, n = 1): asserts v is Stat {
  assert.ok(v !== null && typeof v === 'object', `${what} is an object`);
  const s = v as Record<string, unknown>;
  for (const k of ['mean', 'se', 'n']) {
    assert.equal(typeof s[k], 'number', `${what}.${k} is a number`);
    assert.ok(Number.isFinite(s[k] as number), `${what}.${k} = ${s[k]} is finite`);
  }
  assert.equal(s.n, n, `${what}.n`);
  if (n === 1) assert.equal(s.se, 0, `${what}.se: one seed has no spread`);
  else assert.ok((s.se as number) >= 0, `${what}.se`);
}

function checkCommon(res: Result, env: 'mountaincar' | 'reacher', nActions: number, labels: string[], unseen: string[], rollouts: number): void {
  assert.equal(typeof res.backend, 'string');
  assert.ok(res.backend.length > 0, 'backend names itself');
  const s = res.summary;
  for (const k of ['wmNmse', 'identityNmse', 'wmDeltaNmse'] as const) assertStat(s[k], `summary.${k}`);
  assert.ok(s.wmNmse.mean >= 0 && s.identityNmse.mean > 0 && s.wmDeltaNmse.mean >= 0);
  // (action, dim) pairs in action-major order, every pair once.
  assert.equal(s.perActionDim.length, nActions * labels.length);
  s.perActionDim.forEach((p, k) => {
    const what = `${env} perActionDim[${k}]`;
    assert.equal(p.action, Math.floor(k / labels.length), `${what}.action`);
    assert.equal(p.dim, k % labels.length, `${what}.dim`);
    assert.equal(p.label, labels[p.dim], `${what}.label`);
    for (const m of ['mse', 'nmse', 'identityNmse'] as const) assertStat(p[m], `${what}.${m}`);
    assert.ok(p.mse.mean >= 0 && p.nmse.mean >= 0 && p.identityNmse.mean >= 0);
    if (p.deltaNmse !== null) assertStat(p.deltaNmse, `${what}.deltaNmse`);
  });
  assert.deepEqual(s.unseen.map((u) => u.label), unseen);
  for (const u of s.unseen) {
    // One seed: R* and R^WM are the rollout means ± SE over the reset states.
    assertStat(u.rStar, `${u.label} rStar`, rollouts);
    assertStat(u.rWM, `${u.label} rWM`, rollouts);
    assertStat(u.ratio, `${u.label} ratio`);
    // Sparse rewards of 1, discounted: returns lie in [0, 1].
    assert.ok(u.rStar.mean >= 0 && u.rStar.mean <= 1, `${u.label} R* ${u.rStar.mean}`);
    assert.ok(u.rWM.mean >= 0 && u.rWM.mean <= 1, `${u.label} R^WM ${u.rWM.mean}`);
    if (u.rStar.mean > 0) assert.ok(Math.abs(u.ratio.mean - u.rWM.mean / u.rStar.mean) <= 1e-12, `${u.label} ratio`);
  }
}

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'plearn-cont-cli-')); });
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

test('tiny MountainCar run: exit 0, the --json contract, and --out writes result.json equal to stdout', async () => {
  const out = join(dir, 'mc');
  const args = ['run', 'mountaincar', '--agent', 'oracle', '--grid', '30', '--fit-steps', '30', '--fit-batch', '64', '--eval-states', '500',
    '--rollouts', '32', '--json', '--out', out];
  const run = await plearn(args);
  assert.equal(run.code, 0, `exit ${run.code}; stderr:\n${run.stderr}`);
  const res = JSON.parse(run.stdout) as Result;
  const c = res.config;
  assert.equal(c.experiment, 'mountaincar');
  assert.equal(c.goalFamily, 'position');
  assert.equal(c.grid, 30);
  assert.equal(c.fitSteps, 30);
  assert.equal(c.fitBatch, 64);
  assert.equal(c.evalStates, 500);
  assert.equal(c.rollouts, 32);
  assert.equal(c.seeds, 1);
  checkCommon(res, 'mountaincar', 3, ['position', 'velocity'], ['Fast car', 'Gentle car', 'Shortest path'], 32);
  const s = res.summary;
  // The change s′ − s varies on every MountainCar (action, dim).
  for (const p of s.perActionDim) assert.notEqual(p.deltaNmse, null, `a${p.action} ${p.label} deltaNmse`);
  assertStat(s.wmDeltaNmseInterior, 'summary.wmDeltaNmseInterior');
  assertStat(s.wmDeltaNmseBoundary, 'summary.wmDeltaNmseBoundary');
  // The identity map's NMSE depends on the evaluation states only: the paper’s evaluation gives 1.1e-2 on
  // uniform states; 500 of them give it to within a factor ~1.5 (boundary events are rare).
  assert.ok(s.identityNmse.mean > 0.006 && s.identityNmse.mean < 0.02, `identity NMSE ${s.identityNmse.mean}`);
  // --out: the same document as stdout.
  const file = await readFile(join(out, 'result.json'), 'utf8');
  assert.equal(file.trimEnd(), run.stdout.trimEnd());
  assert.deepEqual(JSON.parse(file), res);
});

test('tiny Reacher run: exit 0, 9 × 4 perActionDim entries, ω under zero torque has no delta NMSE', async () => {
  const run = await plearn(['run', 'reacher', '--agent', 'oracle', '--grid', '5', '--fit-steps', '10', '--fit-batch', '32', '--eval-states', '300',
    '--rollouts', '16', '--json']);
  assert.equal(run.code, 0, `exit ${run.code}; stderr:\n${run.stderr}`);
  const res = JSON.parse(run.stdout) as Result;
  assert.equal(res.config.experiment, 'reacher');
  assert.equal(res.config.grid, 5);
  checkCommon(res, 'reacher', 9, ['theta1', 'theta2', 'omega1', 'omega2'], ['Far fingertip', 'Target angle', 'Target velocity'], 16);
  const s = res.summary;
  const at = (a: number, d: number) => s.perActionDim[a * 4 + d];
  // Action 4 is τ = (0, 0): ω′ = ω exactly, a change that never varies.
  assert.equal(at(4, 2).deltaNmse, null);
  assert.equal(at(4, 3).deltaNmse, null);
  // θ′ − θ = dt·ω′ varies with ω on every action.
  for (let a = 0; a < 9; a++) for (const d of [0, 1]) assert.notEqual(at(a, d).deltaNmse, null, `a${a} θ${d + 1}`);
  assert.equal(s.wmDeltaNmseInterior, undefined, 'the interior/boundary split is MountainCar only');
  // the paper’s evaluation: the identity map scores 2.6e-3 on Reacher reset states.
  assert.ok(s.identityNmse.mean > 1.8e-3 && s.identityNmse.mean < 3.6e-3, `identity NMSE ${s.identityNmse.mean}`);
});

const REJECTIONS: { args: string[]; field: string }[] = [
  { args: ['run', 'mountaincar', '--goal-family', 'speed'], field: 'goal-family' },
  { args: ['run', 'mountaincar', '--grid', '1'], field: 'grid' },
  { args: ['run', 'mountaincar', '--backend', 'tpu'], field: 'backend' },
  { args: ['run', 'mountaincar', '--variant', 'windy'], field: 'variant' },
  { args: ['run', 'fourrooms', '--grid', '10'], field: 'grid' },
  { args: ['run', 'reacher', '--goal-family', 'velocity'], field: 'goal-family' },
  { args: ['run', 'mountaincar', '--fit-batch', '0'], field: 'fit-batch' },
];

for (const { args, field } of REJECTIONS) {
  test(`rejects \`plearn ${args.join(' ')}\` with exit 2 naming ${field}`, async () => {
    const run = await plearn(args, 30_000);
    assert.equal(run.code, 2, `exit ${run.code}; stderr:\n${run.stderr}`);
    assert.equal(run.stdout, '', 'nothing on stdout');
    assert.match(run.stderr, new RegExp(`plearn: error: .*\\b${field}\\b`), `stderr names ${field}:\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /failed:|\n\s+at /, 'a usage error, not a crash');
  });
}
