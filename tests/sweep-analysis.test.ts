// Sweep analysis: tidy rows read from real job results (checked against the
// result's own per-seed numbers and its summary), the CSV read back by an RFC 4180
// parser written here, per-cell mean and SE against hand-worked numbers, and
// Spearman ρ against hand-worked cases and an independent computation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runJobLocal } from '../coordinator/local-run.ts';
import type { ContinuousResult, FourRoomsResult, JobResult } from '../shared/experiments/jobs.ts';
import { METRICS, cellSummary, metricNames, rowsOf, tidyCsv } from '../shared/sweeps/rows.ts';
import {
  BOOTSTRAP_RESAMPLES, averageRanks, correlationTable, pearson, quantileSorted, spearman, spearmanInterval,
} from '../shared/sweeps/stats.ts';
import type { CellRow, SweepCell } from '../shared/sweeps/types.ts';
import { Rng } from '../shared/util/rng.ts';
import { createLocalPool } from '../worker/local-pool.ts';

const cellOf = (index: number, values: SweepCell['values']): SweepCell => ({
  id: index.toString(16).padStart(16, '0'), index, values,
  options: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, String(v)])),
});

const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// ---------------------------------------------------------------------------
// Rows from real results

async function fourrooms(model: string): Promise<FourRoomsResult> {
  const pool = createLocalPool(2);
  try {
    const { result } = await runJobLocal({ experiment: 'fourrooms', options: { agent: 'oracle', goals: 3, seeds: 3, model, fit: 'closed', variant: 'windy' } }, { pool });
    assert.equal(result.experiment, 'fourrooms');
    return result as FourRoomsResult;
  } finally {
    await pool.close();
  }
}

test('fourrooms rows: one per seed, each metric the seed\'s own number', async () => {
  const res = await fourrooms('deterministic');
  const cell = cellOf(5, { goals: 3, variant: 'windy' });
  const rows = rowsOf(cell, res);
  assert.equal(rows.length, 3);
  rows.forEach((r, i) => {
    const s = res.seeds[i];
    assert.equal(r.cellId, cell.id);
    assert.equal(r.cellIndex, 5);
    assert.equal(r.seed, s.seedIndex);
    assert.deepEqual(r.values, { goals: 3, variant: 'windy' });
    assert.equal(r.metrics['wm-mse'], s.wmMse);
    assert.equal(r.metrics['wm-max-abs-error'], s.wmMaxAbsError);
    assert.equal(r.metrics['rank-m'], s.rankM);
    assert.equal(r.metrics['unidentifiable-pairs'], s.unidentifiablePairs);
    let ratio = 0;
    for (const u of s.unseen) ratio += u.rWM / u.rStar;
    assert.ok(Math.abs(r.metrics['r-ratio'] - ratio / s.unseen.length) < 1e-15);
    assert.deepEqual(Object.keys(r.metrics), metricNames('fourrooms'));
  });
  // The result's own summary over seeds: a mean of per-seed values is a mean of the rows.
  const [c] = cellSummary(rows);
  assert.ok(Math.abs(c.metrics['wm-mse'].mean - res.summary.wmMse.mean) < 1e-15);
  assert.ok(Math.abs(c.metrics['wm-mse'].se - res.summary.wmMse.se) < 1e-15);
  const summaryRatio = meanOf(res.summary.unseen.map((u) => u.ratio.mean));
  assert.ok(Math.abs(c.metrics['r-ratio'].mean - summaryRatio) < 1e-12, `${c.metrics['r-ratio'].mean} vs ${summaryRatio}`);
});

test('fourrooms rows: the stochastic model class has no unidentifiable-pairs value', async () => {
  const res = await fourrooms('stochastic');
  const rows = rowsOf(cellOf(0, { model: 'stochastic' }), res);
  assert.equal(rows.length, 3);
  for (const r of rows) {
    assert.ok(!('unidentifiable-pairs' in r.metrics));
    assert.ok(Number.isFinite(r.metrics['wm-mse']));
  }
  assert.ok(!tidyCsv(rows, ['model']).split('\n')[0].includes('unidentifiable-pairs'));
});

test('mountaincar rows from a tiny oracle run: WM NMSE, delta NMSE, R ratio, final loss; no Q NMSE for oracle agents', async () => {
  const pool = createLocalPool(2);
  let res: JobResult;
  try {
    ({ result: res } = await runJobLocal({ experiment: 'mountaincar', options: {
      agent: 'oracle', grid: '21', fitSteps: '20', fitBatch: '32', evalStates: '200', rollouts: '8', seeds: '2', backend: 'cpu',
    } }, { pool }));
  } finally {
    await pool.close();
  }
  const c = res as ContinuousResult;
  const rows = rowsOf(cellOf(1, { grid: 21 }), c);
  assert.equal(rows.length, 2);
  rows.forEach((r, i) => {
    const s = c.seeds[i];
    assert.equal(r.metrics['wm-nmse'], s.wm.nmse);
    assert.equal(r.metrics['wm-delta-nmse'], s.wm.deltaNmse);
    assert.equal(r.metrics['final-loss'], s.finalLoss);
    assert.equal(r.metrics['wm-delta-nmse-boundary'], s.wm.deltaNmseBoundary);
    assert.ok(Math.abs(r.metrics['r-ratio'] - meanOf(s.unseen.map((u) => u.rWM.mean / u.rStar.mean))) < 1e-15);
    assert.ok(!('q-nmse' in r.metrics));
  });
  const [sum] = cellSummary(rows);
  assert.ok(Math.abs(sum.metrics['wm-nmse'].mean - c.summary.wmNmse.mean) < 1e-15);
  assert.ok(Math.abs(sum.metrics['r-ratio'].mean - meanOf(c.summary.unseen.map((u) => u.ratio.mean))) < 1e-12);
});

test('metric catalog: kebab-case, unique, described, with the names specs use', () => {
  for (const [exp, list] of Object.entries(METRICS)) {
    const names = list.map((m) => m.name);
    assert.equal(new Set(names).size, names.length, `${exp}: duplicate names`);
    for (const m of list) {
      assert.match(m.name, /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/);
      assert.ok(m.description.length > 10);
    }
  }
  for (const m of ['wm-mse', 'wm-max-abs-error', 'rank-m', 'unidentifiable-pairs', 'r-ratio']) assert.ok(metricNames('fourrooms').includes(m), m);
  for (const exp of ['mountaincar', 'reacher'] as const) {
    for (const m of ['wm-nmse', 'wm-delta-nmse', 'q-nmse', 'r-ratio', 'final-loss']) assert.ok(metricNames(exp).includes(m), `${exp} ${m}`);
  }
  assert.ok(!metricNames('reacher').includes('wm-delta-nmse-boundary'));
});

// ---------------------------------------------------------------------------
// CSV and summary

/** RFC 4180 reader, independent of the writer: quoted fields, doubled quotes, line breaks inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else field += ch;
  }
  assert.equal(field, '', 'text ends with a line break');
  assert.equal(row.length, 0);
  return rows;
}

function row(cellIndex: number, seed: number, values: CellRow['values'], metrics: Record<string, number>): CellRow {
  return { cellId: `c${cellIndex}`, cellIndex, seed, values, metrics };
}

test('tidy CSV: a column per axis and metric, a line per cell × seed, quoting and numbers that read back exactly', () => {
  const odd = 'a "windy", map\nline two';
  const rows = [
    row(0, 0, { variant: odd, goals: 2 }, { 'wm-mse': 0.1 + 0.2, 'r-ratio': 1 / 3 }),
    row(0, 1, { variant: odd, goals: 2 }, { 'wm-mse': 1e-300, 'r-ratio': NaN }),
    row(1, 0, { variant: 'plain', goals: 68 }, { 'wm-mse': -0, 'q-nmse': Infinity }),
  ];
  const text = tidyCsv(rows, ['variant', 'goals']);
  const table = parseCsv(text);
  assert.deepEqual(table[0], ['cell_index', 'cell_id', 'seed_index', 'variant', 'goals', 'wm-mse', 'r-ratio', 'q-nmse']);
  assert.equal(table.length, 1 + rows.length);
  for (const line of table) assert.equal(line.length, table[0].length);
  assert.deepEqual(table[1].slice(0, 5), ['0', 'c0', '0', odd, '2']);
  assert.equal(Number(table[1][5]), 0.1 + 0.2);
  assert.equal(Number(table[1][6]), 1 / 3);
  assert.equal(Number(table[2][5]), 1e-300);
  assert.equal(table[2][6], 'NaN');
  assert.equal(table[2][7], '', 'a metric the row lacks is empty');
  assert.deepEqual(table[3].slice(5), ['0', '', 'inf']);
  assert.throws(() => tidyCsv([row(0, 0, {}, { goals: 1 })], ['goals']), /both an axis and a metric/);
  assert.equal(tidyCsv([], ['goals']), 'cell_index,cell_id,seed_index,goals\n');
});

test('cell summary: mean, SE and n per cell by hand; non-finite seeds left out; cells in index order', () => {
  const rows = [
    row(3, 0, { goals: 8 }, { m: 1, r: 5 }),
    row(3, 1, { goals: 8 }, { m: 2, r: NaN }),
    row(3, 2, { goals: 8 }, { m: 4, r: 7 }),
    row(1, 0, { goals: 2 }, { m: 10 }),
  ];
  const s = cellSummary(rows);
  assert.deepEqual(s.map((c) => c.cellIndex), [1, 3]);
  assert.deepEqual(s[0].metrics.m, { mean: 10, se: 0, n: 1 });
  // 1, 2, 4: mean 7/3, sample variance (16 + 1 + 25)/9/2 = 7/3, SE = √(7/3)/√3 = √7/3.
  assert.ok(Math.abs(s[1].metrics.m.mean - 7 / 3) < 1e-15);
  assert.ok(Math.abs(s[1].metrics.m.se - Math.sqrt(7) / 3) < 1e-15);
  assert.equal(s[1].metrics.m.n, 3);
  // 5, 7 (NaN dropped): mean 6, SE = √2/√2 = 1.
  assert.deepEqual(s[1].metrics.r, { mean: 6, se: 1, n: 2 });
  assert.equal(s[1].seeds, 3);
});

// ---------------------------------------------------------------------------
// Spearman ρ and the bootstrap

/** Mid-ranks by counting (O(n²)), not by sorting: rank = #smaller + (#equal + 1)/2. */
function ranksByCounting(xs: readonly number[]): number[] {
  return xs.map((x) => xs.filter((y) => y < x).length + (xs.filter((y) => y === x).length + 1) / 2);
}

/** Pearson by the one-pass sums formula (different arithmetic from the library's centred two-pass). */
function pearsonSums(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  let sx = 0; let sy = 0; let sxx = 0; let syy = 0; let sxy = 0;
  for (let i = 0; i < n; i++) { sx += x[i]; sy += y[i]; sxx += x[i] * x[i]; syy += y[i] * y[i]; sxy += x[i] * y[i]; }
  return (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
}

test('average ranks: ties share the mean of their ranks', () => {
  assert.deepEqual([...averageRanks([10, 20, 20, 30])], [1, 2.5, 2.5, 4]);
  assert.deepEqual([...averageRanks([3, 1, 2])], [3, 1, 2]);
  assert.deepEqual([...averageRanks([5, 5, 5])], [2, 2, 2]);
  assert.deepEqual([...averageRanks([2, 9, 2, 9, 2])], [2, 4.5, 2, 4.5, 2]);
  assert.deepEqual([...averageRanks([])], []);
});

test('spearman: hand-worked cases, perfect monotone ±1, ties, and the undefined cases', () => {
  // No ties: ρ = 1 − 6Σd²/(n(n²−1)); d = (−1, 1, −1, 1, 0) → 1 − 24/120 = 0.8.
  assert.ok(Math.abs(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) - 0.8) < 1e-15);
  // Ties: y ranks (1, 4, 2.5, 2.5) against (1, 2, 3, 4): Σdxdy = 1.5, Σdx² = 5, Σdy² = 4.5 → ρ = 1/√10.
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 3, 2, 2]) - 1 / Math.sqrt(10)) < 1e-15);
  const x = [0.5, 1, 2, 4, 8, 16];
  assert.equal(spearman(x, x.map((v) => v ** 3 + 7)), 1);
  assert.equal(spearman(x, x.map((v) => -Math.exp(v))), -1);
  assert.ok(Number.isNaN(spearman([1, 2], [2, 1])), 'n = 2');
  assert.ok(Number.isNaN(spearman([], [])), 'n = 0');
  assert.ok(Number.isNaN(spearman([1, 2, 3], [4, 4, 4])), 'constant side');
  assert.ok(Number.isNaN(spearman([1, NaN, 3], [1, 2, 3])), 'non-finite value');
  assert.throws(() => spearman([1, 2, 3], [1, 2]), RangeError);
  assert.ok(Number.isNaN(pearson([1], [1])));
});

test('spearman equals the Pearson correlation of ranks computed another way (random data with ties)', () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 200; trial++) {
    const n = 3 + rng.int(40);
    const levels = 2 + rng.int(12);
    const x = Array.from({ length: n }, () => rng.int(levels));
    const y = Array.from({ length: n }, (_, i) => (rng.next() < 0.5 ? x[i] + rng.int(3) : rng.int(levels)));
    const rx = ranksByCounting(x);
    const ry = ranksByCounting(y);
    const constant = new Set(x).size === 1 || new Set(y).size === 1;
    const rho = spearman(x, y);
    if (constant) { assert.ok(Number.isNaN(rho)); continue; }
    const ref = pearsonSums(rx, ry);
    assert.ok(Math.abs(rho - ref) < 1e-12, `trial ${trial}: ${rho} vs ${ref}`);
  }
});

test('quantiles interpolate between order statistics (type 7)', () => {
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  assert.ok(Math.abs(quantileSorted([1, 2, 3, 4], 0.025) - 1.075) < 1e-15);
  assert.equal(quantileSorted([1, 2, 3, 4], 1), 4);
  assert.equal(quantileSorted([7], 0.3), 7);
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
});

test('bootstrap interval: reproducible from its seed, around ρ, degenerate cases explicit', () => {
  const rng = new Rng(11);
  const x = Array.from({ length: 30 }, () => rng.next());
  const y = x.map((v) => v + 0.3 * rng.next());
  const a = spearmanInterval(x, y, { seed: 1 });
  const b = spearmanInterval(x, y, { seed: 1 });
  const c = spearmanInterval(x, y, { seed: 2 });
  assert.deepEqual(a, b);
  assert.notDeepEqual([a.lo, a.hi], [c.lo, c.hi]);
  assert.equal(a.n, 30);
  assert.ok(a.lo < a.rho && a.rho < a.hi && a.hi <= 1, JSON.stringify(a));
  assert.ok(a.resamples > 0.99 * BOOTSTRAP_RESAMPLES && a.resamples <= BOOTSTRAP_RESAMPLES);
  // Perfectly monotone: every resample with two distinct cells has ρ = 1.
  const mono = spearmanInterval([1, 2, 3, 4, 5, 6], [2, 4, 8, 16, 32, 64]);
  assert.deepEqual([mono.rho, mono.lo, mono.hi], [1, 1, 1]);
  const few = spearmanInterval([1, 2], [1, 2]);
  assert.ok(Number.isNaN(few.rho) && Number.isNaN(few.lo) && Number.isNaN(few.hi));
  assert.equal(few.n, 2);
});

test('correlation table: each pair of metrics over the cells where both are finite, stable under reordering', () => {
  const rows: CellRow[] = [];
  for (let i = 0; i < 8; i++) {
    rows.push(row(i, 0, { w: i }, { a: i, b: i * i, c: i === 3 ? NaN : 10 - i }));
  }
  const cells = cellSummary(rows);
  const t = correlationTable(cells, ['a', 'b', 'c']);
  assert.deepEqual(t.map((p) => [p.a, p.b, p.n]), [['a', 'b', 8], ['a', 'c', 7], ['b', 'c', 7]]);
  assert.equal(t[0].rho, 1);
  assert.equal(t[1].rho, -1);
  const swapped = correlationTable(cells, ['c', 'a', 'b']);
  const ab = swapped.find((p) => p.a === 'a' && p.b === 'b');
  assert.deepEqual(ab, t[0]);
  assert.deepEqual(correlationTable(cells, ['a']), []);
});
