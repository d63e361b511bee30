// The PQN pipeline end to end through the real binary, on tiny budgets: train →
// fit → evaluate with the JSON contract (summary.qNmse included), the files --out
// leaves, and --q-checkpoint re-running the fit on the saved agents with the same
// numbers (which needs the saved weights to load back bit-identical).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readQNetFile } from '../coordinator/artifacts.ts';
import { plearn } from './support/run-cli.ts';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

const TINY = ['--env-steps', '4096', '--num-envs', '32', '--q-hidden', '32,32', '--grid', '41', '--fit-steps', '40',
  '--fit-batch', '64', '--eval-states', '400', '--rollouts', '16', '--backend', 'cpu', '--threads', '1'];

interface Stat { mean: number; se: number; n: number }

test('plearn run mountaincar (pqn): JSON contract with summary.qNmse, safetensors, pictures, and a bit-identical checkpoint re-run', { timeout: 300_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'plearn-pqn-'));
  dirs.push(out);
  const run = await plearn(['run', 'mountaincar', ...TINY, '--seeds', '2', '--out', out, '--json'], 240_000);
  assert.equal(run.code, 0, run.stderr);
  const res = JSON.parse(run.stdout) as { config: { agent: string; preset: string; pqn: { envSteps: number } }; summary: { qNmse: Stat; wmNmse: Stat }; seeds: { qNmse: number[] }[] };
  assert.equal(res.config.agent, 'pqn');
  assert.equal(res.config.preset, 'quick');
  assert.equal(res.config.pqn.envSteps, 4096);
  assert.equal(res.summary.qNmse.n, 2);
  assert.ok(Number.isFinite(res.summary.qNmse.mean) && res.summary.qNmse.mean >= 0);
  for (const s of res.seeds) assert.equal(s.qNmse.length, 1, 'one agent (all four goals) per seed');

  const files = await readdir(out);
  for (const f of ['result.json', 'world-model-seed0.safetensors', 'world-model-seed1.safetensors',
    'q-network-seed0-agent0.safetensors', 'q-network-seed1-agent0.safetensors']) assert.ok(files.includes(f), `${f} in ${files}`);
  for (const f of ['quiver', 'training-curves']) {
    for (const ext of ['svg', 'png']) assert.ok(files.includes(`${f}.${ext}`), `${f}.${ext} in ${files}`);
  }
  const q = await readQNetFile(join(out, 'q-network-seed0-agent0.safetensors'));
  assert.deepEqual(q.weights.spec.hidden, [32, 32]);

  // The same fit options on the saved agents: the same world models, hence the same numbers.
  const again = await plearn(['run', 'mountaincar', ...TINY.filter((_, i, a) => !['--env-steps', '--num-envs', '--q-hidden'].includes(a[i]) && !['--env-steps', '--num-envs', '--q-hidden'].includes(a[i - 1])),
    '--q-checkpoint', out, '--json'], 240_000);
  assert.equal(again.code, 0, again.stderr);
  const res2 = JSON.parse(again.stdout) as typeof res;
  assert.deepEqual(res2.summary.wmNmse, res.summary.wmNmse);
  assert.deepEqual(res2.summary.qNmse, res.summary.qNmse);
  const saved = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as typeof res;
  assert.deepEqual(saved.summary.wmNmse, res.summary.wmNmse);
});

test('--q-checkpoint refuses a directory without agents and a mismatched experiment, exit 2', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'plearn-pqn-empty-'));
  dirs.push(empty);
  const r = await plearn(['run', 'mountaincar', '--q-checkpoint', empty]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /q-checkpoint: .*no q-network-seed/);
  const missing = await plearn(['run', 'reacher', '--q-checkpoint', join(empty, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /q-checkpoint: cannot read/);
  assert.ok(!existsSync(join(empty, 'result.json')));
});

test('PQN-only options are refused for oracle agents and bad values name the field, exit 2', async () => {
  for (const [args, field] of [
    [['--agent', 'oracle', '--env-steps', '1000'], 'env-steps'],
    [['--preset', 'fast'], 'preset'],
    [['--num-envs', '20'], 'num-envs'],
    [['--q-hidden', 'a,b'], 'q-hidden'],
    [['--her', 'past'], 'her'],
    [['--fit-terminal', 'drop'], 'fit-terminal'],
  ] as const) {
    const r = await plearn(['run', 'mountaincar', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${field.replace('-', '.')}.*`), r.stderr);
  }
});
