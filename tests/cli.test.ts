// End-to-end tests of the `plearn` binary: spawn `node bin/plearn.js …` as a user
// would and check exit codes, the --json contract, --out files, and that the
// identifiability claims of the paper (the method) show up in the numbers the CLI reports.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plearn } from './support/run-cli.ts';
import type { Run } from './support/run-cli.ts';

/** Small budgets for every qlearning run, so the whole file stays well under a minute. */
const QL_SMALL = ['--agent', 'qlearning', '--steps', '20000', '--fit-steps', '20000'];


interface Stat { mean: number; se: number; n: number }
interface UnseenStat { label: string; rStar: Stat; rWM: Stat; ratio: Stat }
interface Summary {
  wmMse: Stat; wmMaxAbsError: Stat; rankM: Stat; unidentifiablePairs: Stat | null;
  unseen: UnseenStat[]; series: { steps: number; wmMse: Stat }[];
}
interface Seed {
  seedIndex: number; goals: string[]; agents: { shardIndex: number; nGoals: number }[];
  wmMse: number; wmMaxAbsError: number; rankM: number; unidentifiablePairs: number | null;
  unidentifiable: { s: string; a: string; candidates: string[] }[];
  series: { steps: number; wmMse: number; wmMaxAbsError: number }[];
}
interface Result { experiment: string; config: Record<string, unknown>; summary: Summary; seeds: Seed[] }

/** Run with --json, require exit 0, and parse stdout as one JSON document. */
async function runJson(args: string[]): Promise<{ run: Run; res: Result }> {
  const run = await plearn([...args, '--json']);
  assert.equal(run.code, 0, `plearn ${args.join(' ')} exited ${run.code}; stderr:\n${run.stderr}`);
  return { run, res: JSON.parse(run.stdout) as Result };
}

function assertStat(v: unknown, what: string): asserts v is Stat {
  assert.ok(v !== null && typeof v === 'object', `${what} is an object`);
  const s = v as Record<string, unknown>;
  for (const k of ['mean', 'se', 'n']) assert.equal(typeof s[k], 'number', `${what}.${k} is a number`);
}

/** Deep equality with numbers compared to an absolute tolerance. */
function assertClose(actual: unknown, expected: unknown, tol: number, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Number.isNaN(expected)) { assert.ok(Number.isNaN(actual), `${path}: got ${actual}, want NaN`); return; }
    assert.ok(Math.abs(actual - expected) <= tol, `${path}: got ${actual}, want ${expected} (tol ${tol})`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: not an array`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    expected.forEach((e, i) => assertClose(actual[i], e, tol, `${path}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path}: not an object`);
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(e).sort(), `${path}: keys`);
    for (const k of Object.keys(e)) assertClose(a[k], e[k], tol, `${path}.${k}`);
    return;
  }
  assert.equal(actual, expected, path);
}

// ---- the default map, restated here so BFS distances do not come from the code under test ----

const DEFAULT_MAP = [
  '....#....',
  '.T..#..T.',
  '.........',
  '....#....',
  '##.###.##',
  '....#....',
  '.........',
  '.T..#..T.',
  '....#....',
];
const MOVES: ReadonlyArray<readonly [string, number, number]> = [['up', 0, -1], ['right', 1, 0], ['down', 0, 1], ['left', -1, 0]];
const isFree = (x: number, y: number): boolean => y >= 0 && y < 9 && x >= 0 && x < 9 && DEFAULT_MAP[y][x] !== '#';
const key = (x: number, y: number): string => `${x},${y}`;
/** Where a deterministic move lands: walls and the edge leave the agent in place. */
const moveFrom = (x: number, y: number, dx: number, dy: number): [number, number] => (isFree(x + dx, y + dy) ? [x + dx, y + dy] : [x, y]);

function bfsFrom(gx: number, gy: number): Map<string, number> {
  const dist = new Map<string, number>([[key(gx, gy), 0]]);
  const queue: Array<[number, number]> = [[gx, gy]];
  for (let i = 0; i < queue.length; i++) {
    const [x, y] = queue[i];
    for (const [, dx, dy] of MOVES) {
      if (isFree(x + dx, y + dy) && !dist.has(key(x + dx, y + dy))) {
        dist.set(key(x + dx, y + dy), (dist.get(key(x, y)) as number) + 1);
        queue.push([x + dx, y + dy]);
      }
    }
  }
  return dist;
}

// ---------------------------------------------------------------------------------------

describe('--json contract', () => {
  test('oracle, one generic goal, deterministic model: exact kernel and exact unseen returns', async () => {
    const { run, res } = await runJson(['run', 'fourrooms', '--agent', 'oracle', '--reward', 'generic', '--goals', '1', '--model', 'deterministic']);
    assert.equal(res.experiment, 'fourrooms');
    assert.equal(typeof res.config, 'object');
    assert.equal(res.config.agent, 'oracle');
    assert.equal(res.config.reward, 'generic');
    assert.equal(res.config.model, 'deterministic');
    assert.equal(res.config.variant, 'deterministic');
    assert.deepEqual(res.config.goals, { count: 1 });

    const s = res.summary;
    assertStat(s.wmMse, 'wmMse');
    assertStat(s.wmMaxAbsError, 'wmMaxAbsError');
    assertStat(s.rankM, 'rankM');
    assertStat(s.unidentifiablePairs, 'unidentifiablePairs');
    assert.equal(s.wmMaxAbsError.n, 1);
    assert.ok(s.wmMaxAbsError.mean < 1e-9, `one generic goal should identify the kernel; max error ${s.wmMaxAbsError.mean}`);
    assert.ok(s.wmMse.mean < 1e-18, `wmMse ${s.wmMse.mean}`);
    assert.equal(s.rankM.mean, 1);
    assert.equal(s.unidentifiablePairs.mean, 0);

    assert.equal(s.unseen.length, 2);
    assert.deepEqual(s.unseen.map((u) => u.label), ['detour-east', 'detour-south']);
    for (const u of s.unseen) {
      assertStat(u.rStar, `${u.label}.rStar`);
      assertStat(u.rWM, `${u.label}.rWM`);
      assert.ok(u.rStar.mean > 0 && u.rStar.mean <= 1, `${u.label}: R* = ${u.rStar.mean}`);
      assert.ok(Math.abs(u.rWM.mean - u.rStar.mean) <= 1e-12, `${u.label}: R^WM ${u.rWM.mean} vs R* ${u.rStar.mean}`);
    }

    assert.equal(res.seeds.length, 1);
    assert.equal(res.seeds[0].seedIndex, 0);
    assert.equal(res.seeds[0].goals.length, 1);
    assert.equal(res.seeds[0].unidentifiablePairs, 0);
    assert.deepEqual(res.seeds[0].unidentifiable, []);

    // stdout is exactly one document; nothing JSON-like leaks onto stderr.
    assert.equal(run.stdout.trim().startsWith('{'), true);
    assert.ok(!run.stderr.includes('"summary"'), `stderr carries the result:\n${run.stderr}`);
    for (const line of run.stderr.split('\n')) assert.ok(!line.trim().startsWith('{'), `JSON on stderr: ${line}`);
  });

  test('without --json the report is text, not JSON', async () => {
    const run = await plearn(['run', 'fourrooms', '--agent', 'oracle', '--reward', 'generic', '--goals', '1', '--model', 'deterministic']);
    assert.equal(run.code, 0, run.stderr);
    assert.throws(() => JSON.parse(run.stdout));
    assert.match(run.stdout, /detour-east/);
  });
});

describe('identifiability', () => {
  test('one sparse goal: unidentifiable pairs are exactly the equal-BFS-distance ties', async () => {
    const { res } = await runJson(['run', 'fourrooms', '--agent', 'oracle', '--goal-cells', '6,1', '--model', 'deterministic']);
    const s = res.summary;
    assertStat(s.unidentifiablePairs, 'unidentifiablePairs');
    assert.ok(s.unidentifiablePairs.mean > 0);
    assert.deepEqual(res.seeds[0].goals, ['6,1']);
    assert.equal(res.config.support, 'local');

    // With a sparse goal, M's column for s' is γ^dist(s', goal): two successors are
    // confused exactly when their BFS distances tie. Candidates are limited by the
    // default local prior (the cell itself and its free neighbours).
    const dist = bfsFrom(6, 1);
    assert.equal(dist.size, 68);
    const expected = new Map<string, string[]>();
    for (let y = 0; y < 9; y++) {
      for (let x = 0; x < 9; x++) {
        if (!isFree(x, y)) continue;
        const local = new Set<string>([key(x, y)]);
        for (const [, dx, dy] of MOVES) local.add(key(...moveFrom(x, y, dx, dy)));
        for (const [name, dx, dy] of MOVES) {
          const t = key(...moveFrom(x, y, dx, dy));
          const ties = [...local].filter((c) => dist.get(c) === dist.get(t));
          if (ties.length >= 2) expected.set(`${key(x, y)} ${name}`, ties);
        }
      }
    }
    assert.equal(s.unidentifiablePairs.mean, expected.size);
    assert.equal(res.seeds[0].unidentifiablePairs, expected.size);

    const listed = res.seeds[0].unidentifiable;
    assert.ok(listed.length > 0 && listed.length <= expected.size);
    for (const p of listed) {
      assert.ok(p.candidates.length >= 2, `${p.s} ${p.a}: ${p.candidates}`);
      const d0 = dist.get(p.candidates[0]);
      assert.notEqual(d0, undefined, `candidate ${p.candidates[0]} is a free cell`);
      for (const c of p.candidates) assert.equal(dist.get(c), d0, `${p.s} ${p.a}: candidates ${p.candidates} at unequal distances`);
      const [sx, sy] = p.s.split(',').map(Number);
      const move = MOVES.find(([n]) => n === p.a);
      assert.ok(move, `action name ${p.a}`);
      assert.ok(p.candidates.includes(key(...moveFrom(sx, sy, move[1], move[2]))), `${p.s} ${p.a}: true successor among candidates`);
      const want = expected.get(`${p.s} ${p.a}`);
      assert.ok(want, `${p.s} ${p.a} listed but every candidate is at a distinct distance`);
      assert.deepEqual([...p.candidates].sort(), [...want].sort(), `${p.s} ${p.a}`);
    }
  });

  for (const variant of ['deterministic', 'windy', 'teleporting']) {
    test(`closed form, full support, 68 generic goals, ${variant}: exact, rank 68`, async () => {
      const { res } = await runJson(['run', 'fourrooms', '--variant', variant, '--goals', '68', '--reward', 'generic',
        '--fit', 'closed', '--support', 'full', '--agent', 'oracle']);
      assert.equal(res.config.variant, variant);
      assert.ok(res.summary.wmMaxAbsError.mean < 1e-9, `${variant}: max error ${res.summary.wmMaxAbsError.mean}`);
      assert.equal(res.summary.rankM.mean, 68);
    });
  }

  for (const [variant, exact] of [['deterministic', true], ['windy', true], ['teleporting', false]] as const) {
    test(`closed form, local support, 5 generic goals, ${variant}: ${exact ? 'exact' : 'teleports out of reach'}`, async () => {
      const { res } = await runJson(['run', 'fourrooms', '--variant', variant, '--goals', '5', '--reward', 'generic',
        '--fit', 'closed', '--support', 'local', '--agent', 'oracle']);
      const err = res.summary.wmMaxAbsError.mean;
      if (exact) assert.ok(err < 1e-9, `${variant}: max error ${err}`);
      else assert.ok(err > 0.1, `${variant}: the local prior cannot express teleports, yet max error is ${err}`);
    });
  }
});

describe('sharding and determinism', () => {
  test('--goals-per-agent splits agents without changing the fit', async () => {
    const base = ['run', 'fourrooms', '--agent', 'oracle', '--goals', '6'];
    const [whole, sharded] = await Promise.all([runJson(base), runJson([...base, '--goals-per-agent', '2'])]);
    assert.equal(whole.res.seeds[0].agents.length, 1);
    assert.deepEqual(sharded.res.seeds[0].agents.map((a) => [a.shardIndex, a.nGoals]), [[0, 2], [1, 2], [2, 2]]);
    assert.deepEqual(sharded.res.seeds[0].goals, whole.res.seeds[0].goals);
    assertClose(sharded.res.summary, whole.res.summary, 1e-12, 'summary');
    assert.equal(sharded.res.config.goalsPerAgent, 2);
    assert.equal(whole.res.config.goalsPerAgent, null);
  });

  test('qlearning with 2 seeds on 2 threads is reproducible, and matches 1 thread', async () => {
    const args = ['run', 'fourrooms', ...QL_SMALL, '--seeds', '2'];
    const a = await runJson([...args, '--threads', '2']);
    const b = await runJson([...args, '--threads', '2']);
    const c = await runJson([...args, '--threads', '1']);
    assert.equal(a.res.summary.wmMse.n, 2);
    assert.equal(a.res.seeds.length, 2);
    assert.ok(a.res.summary.wmMse.mean > 0, 'a 20k-step agent is not exact');
    assert.ok(a.res.summary.series.length > 0);
    assert.deepEqual(b.res.summary, a.res.summary);
    assert.deepEqual(c.res.summary, a.res.summary);
    for (const r of [b, c]) {
      assert.deepEqual(r.res.seeds.map((s) => [s.goals, s.wmMse, s.series]), a.res.seeds.map((s) => [s.goals, s.wmMse, s.series]));
    }
  });
});

describe('--out', () => {
  let dir = '';
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'plearn-cli-out-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('qlearning: result.json equals stdout, mse-vs-steps.csv has a header and one row per seed and checkpoint', async () => {
    const out = join(dir, 'ql', 'nested');
    const { run, res } = await runJson(['run', 'fourrooms', ...QL_SMALL, '--seeds', '2', '--out', out]);
    const file = await readFile(join(out, 'result.json'), 'utf8');
    assert.equal(file.trim(), run.stdout.trim());
    assert.deepEqual(JSON.parse(file), res);

    const lines = (await readFile(join(out, 'mse-vs-steps.csv'), 'utf8')).trim().split('\n');
    assert.equal(lines[0], 'seed,steps,wm_mse,wm_max_abs_error');
    const rows = lines.slice(1).map((l) => l.split(','));
    const nPoints = res.summary.series.length;
    assert.ok(nPoints > 0);
    assert.equal(rows.length, 2 * nPoints);
    for (const r of rows) {
      assert.equal(r.length, 4, `row ${r.join(',')}`);
      for (const v of r) assert.ok(Number.isFinite(Number(v)) && v !== '', `row ${r.join(',')}: ${v} is not a number`);
    }
    assert.deepEqual([...new Set(rows.map((r) => Number(r[0])))], [0, 1]);
    assert.deepEqual(rows.filter((r) => r[0] === '0').map((r) => Number(r[1])), res.summary.series.map((p) => p.steps));
    assert.equal(Math.max(...rows.map((r) => Number(r[1]))), 20000);
    for (const seed of res.seeds) {
      const mine = rows.filter((r) => Number(r[0]) === seed.seedIndex);
      assert.deepEqual(mine.map((r) => Number(r[2])), seed.series.map((p) => p.wmMse));
    }
    // No temp files left behind by the atomic writes.
    assert.ok(!existsSync(join(out, `result.json.tmp-${process.pid}`)));
  });

  test('oracle: result.json only (no training curve)', async () => {
    const out = join(dir, 'oracle');
    const { run } = await runJson(['run', 'fourrooms', '--agent', 'oracle', '--reward', 'generic', '--goals', '1', '--model', 'deterministic', '--out', out]);
    assert.deepEqual(JSON.parse(await readFile(join(out, 'result.json'), 'utf8')), JSON.parse(run.stdout));
    assert.ok(!existsSync(join(out, 'mse-vs-steps.csv')));
  });
});

describe('rejections exit 2 and name the field', () => {
  let dir = '';
  const layouts: Record<string, string> = {
    symbol: 'name bad\nvariant deterministic forward=1\nmap\n..X\n...\nend\n',
    nofree: 'name bad\nvariant deterministic forward=1\nmap\n###\n###\nend\n',
    unreachable: 'name bad\nvariant deterministic forward=1\nmap\n..#.\n..#.\nend\n',
    taskwall: 'name bad\nvariant deterministic forward=1\nmap\n...\n.#.\n...\nend\ntask t1 goal=1,1 trap=0,0\n',
    teleport: 'name bad\nvariant deterministic forward=1\nmap\n...\n.#.\n...\nend\nteleport 0,0 to 2..2,2..2\n',
    good: 'name ring\nvariant deterministic forward=1\nmap\n...\n.#.\n...\nend\ntask t1 goal=2,2 trap=1,0\n',
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plearn-cli-layout-'));
    for (const [name, text] of Object.entries(layouts)) await writeFile(join(dir, `${name}.txt`), text);
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  const R = ['run', 'fourrooms'];
  const cases: Array<[string, () => string[], RegExp[]]> = [
    ['unknown experiment', () => ['run', 'cartpole'], [/experiment/, /cartpole/]],
    ['unknown option', () => [...R, '--bogus'], [/unknown option/, /--bogus/]],
    ['unknown command', () => ['fly'], [/unknown command/, /fly/]],
    ['--variant stormy', () => [...R, '--variant', 'stormy'], [/variant/, /stormy/]],
    ['--goals 0', () => [...R, '--goals', '0'], [/goals/]],
    ['--goals 69 (sparse, 68 states)', () => [...R, '--goals', '69'], [/goals/, /68/]],
    ['--goals abc', () => [...R, '--goals', 'abc'], [/goals/, /abc/]],
    ['--goal-cells on a wall', () => [...R, '--goal-cells', '4,4'], [/goal-cells/, /wall/]],
    ['--goal-cells outside the map', () => [...R, '--goal-cells', '20,1'], [/goal-cells/, /outside/]],
    ['--goal-cells not a cell', () => [...R, '--goal-cells', '1;2'], [/goal-cells/]],
    ['--goals with --goal-cells', () => [...R, '--goals', '3', '--goal-cells', '1,1'], [/goal-cells/, /goals/]],
    ['--goal-cells with generic reward', () => [...R, '--reward', 'generic', '--goal-cells', '1,1'], [/goal-cells/, /sparse/]],
    ['--goals-per-agent above --goals', () => [...R, '--goals-per-agent', '9', '--goals', '4'], [/goals-per-agent/]],
    ['--model fuzzy', () => [...R, '--model', 'fuzzy'], [/model/, /fuzzy/]],
    ['--fit-lr 5', () => [...R, '--fit-lr', '5'], [/fit-lr/]],
    ['--threads 0', () => [...R, '--threads', '0'], [/threads/]],
    ['--layout missing file', () => [...R, '--layout', join(dir, 'no-such-file.txt')], [/layout/, /no-such-file/]],
    ['layout: unknown symbol', () => [...R, '--layout', join(dir, 'symbol.txt')], [/layout/, /map/, /symbol/]],
    ['layout: no free cell', () => [...R, '--layout', join(dir, 'nofree.txt')], [/layout/, /map/, /free/]],
    ['layout: unreachable cells', () => [...R, '--layout', join(dir, 'unreachable.txt')], [/layout/, /map/, /reach/]],
    ['layout: task goal on a wall', () => [...R, '--layout', join(dir, 'taskwall.txt')], [/layout/, /task/, /goal/, /wall/]],
    ['layout: teleport on a non-T cell', () => [...R, '--layout', join(dir, 'teleport.txt')], [/layout/, /teleport/, /T cell/]],
    ['--variant missing from a custom layout', () => [...R, '--layout', join(dir, 'good.txt'), '--variant', 'windy'], [/variant/, /windy/]],
  ];

  describe('cases', { concurrency: 2 }, () => {
    for (const [name, args, patterns] of cases) {
      test(name, async () => {
        const run = await plearn([...args(), '--json']);
        assert.equal(run.code, 2, `${name}: exit ${run.code}; stderr:\n${run.stderr}`);
        assert.equal(run.stdout, '', `${name}: nothing on stdout`);
        for (const p of patterns) assert.match(run.stderr, p, `${name}: stderr should match ${p}`);
        assert.doesNotMatch(run.stderr, /\n\s+at /, `${name}: no stack trace`);
      });
    }
  });

  test('a valid custom layout runs', async () => {
    const { res } = await runJson([...R, '--layout', join(dir, 'good.txt'), '--agent', 'oracle', '--reward', 'generic',
      '--goals', '1', '--model', 'deterministic']);
    assert.equal(res.config.layoutName, join(dir, 'good.txt'));
    assert.ok(res.summary.wmMaxAbsError.mean < 1e-9);
    assert.deepEqual(res.summary.unseen.map((u) => u.label), ['t1']);
  });
});

describe('help', () => {
  test('--help exits 0 and lists options and the run command', async () => {
    const run = await plearn(['--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Usage: plearn/);
    assert.match(run.stdout, /--help/);
    assert.match(run.stdout, /--version/);
    assert.match(run.stdout, /\brun\b/);
  });

  test('plearn run --help lists the run options, --goals-per-agent included', async () => {
    const run = await plearn(['run', '--help']);
    assert.equal(run.code, 0, run.stderr);
    for (const opt of ['--goals-per-agent', '--variant', '--layout', '--goals', '--goal-cells', '--reward', '--agent', '--steps',
      '--model', '--fit', '--support', '--seeds', '--seed', '--fit-steps', '--threads', '--out', '--json']) {
      assert.ok(run.stdout.includes(opt), `run --help mentions ${opt}`);
    }
  });
});
