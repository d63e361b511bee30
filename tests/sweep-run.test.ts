// `plearn sweep run` end to end, as a user runs it: a small FourRooms sweep whose
// every cell equals `plearn run` with the cell's options (bit for bit, timing
// aside); run again on the same --out it computes nothing; a larger sweep that
// contains it computes only its new cells; --dry-run plans without running;
// a bad spec exits 2 naming the field.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plearn } from './support/run-cli.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'plearn-sweep-')); });
after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

const small = {
  name: 'small', experiment: 'fourrooms', seeds: 2,
  base: { agent: 'oracle', 'fit-steps': 20000 },
  axes: { goals: [1, 4], variant: ['deterministic', 'windy'] },
  metrics: ['wm-mse', 'r-ratio'], correlate: ['wm-mse', 'r-ratio'],
};

/** A result without its wall-clock fields (`…Ms`): the only part two runs of one job may differ in. */
function withoutTimes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutTimes);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => !k.endsWith('Ms')).map(([k, x]) => [k, withoutTimes(x)]));
  }
  return v;
}

interface SweepDoc { cells: { id: string; index: number; options: Record<string, string>; status: string; reused?: boolean; summary?: unknown }[] }

async function sweep(spec: unknown, name: string, extra: string[] = []): Promise<{ doc: SweepDoc; stderr: string }> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(spec));
  const r = await plearn(['sweep', 'run', file, '--out', join(dir, 'out'), '--json', ...extra], 300_000);
  assert.equal(r.code, 0, r.stderr);
  return { doc: JSON.parse(r.stdout) as SweepDoc, stderr: r.stderr };
}

test('every cell equals `plearn run` with its options, bit for bit', async () => {
  const { doc, stderr } = await sweep(small, 'small');
  assert.equal(doc.cells.length, 4);
  assert.match(stderr, /sweep: cells 4\/4/);
  for (const c of doc.cells.slice(0, 2)) {
    const args = Object.entries(c.options).flatMap(([k, v]) => [`--${k}`, v]);
    const r = await plearn(['run', 'fourrooms', ...args, '--json'], 120_000);
    assert.equal(r.code, 0, r.stderr);
    const standalone = JSON.parse(r.stdout) as { summary: unknown; seeds: unknown };
    const saved = JSON.parse(await readFile(join(dir, 'out', 'cells', c.id, 'result.json'), 'utf8')) as { result: { summary: unknown; seeds: unknown } };
    assert.deepEqual(saved.result.summary, standalone.summary, `cell ${c.index}: summary`);
    assert.deepEqual(withoutTimes(saved.result.seeds), withoutTimes(standalone.seeds), `cell ${c.index}: per-seed results`);
    assert.deepEqual(c.summary, standalone.summary);
  }
  const csv = (await readFile(join(dir, 'out', 'cells.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv.length, 1 + 4 * 2, 'one row per cell × seed');
  const html = await readFile(join(dir, 'out', 'report.html'), 'utf8');
  for (const c of doc.cells) assert.ok(html.includes(c.id), `the report shows cell ${c.id}`);
});

test('a finished sweep run again computes nothing; a larger one computes only its new cells', async () => {
  const again = await sweep(small, 'small');
  assert.ok(again.doc.cells.every((c) => c.reused === true), 'every cell read back');
  const larger = { ...small, name: 'larger', axes: { goals: [1, 4, 12], variant: ['deterministic', 'windy'] } };
  const { doc } = await sweep(larger, 'larger');
  assert.equal(doc.cells.length, 6);
  assert.equal(doc.cells.filter((c) => c.reused === true).length, 4);
  assert.equal(doc.cells.filter((c) => c.reused === false).length, 2);
});

test('--dry-run lists the cells and their tasks without running anything', async () => {
  const file = join(dir, 'dry.json');
  await writeFile(file, JSON.stringify({ ...small, axes: { goals: [1, 2, 3], variant: ['deterministic', 'windy', 'teleporting'] } }));
  const r = await plearn(['sweep', 'run', file, '--dry-run', '--json'], 60_000);
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { cells: { tasks: number; fits: number }[] };
  assert.equal(plan.cells.length, 9);
  assert.ok(plan.cells.every((c) => c.tasks === 2 && c.fits === 2), JSON.stringify(plan.cells[0]));
});

test('a bad spec exits 2 naming the field', async () => {
  const file = join(dir, 'bad.json');
  await writeFile(file, JSON.stringify({ ...small, axes: { goals: [1, 99] } }));
  const r = await plearn(['sweep', 'run', file], 60_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /goals/);
});
