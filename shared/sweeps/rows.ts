// A sweep's results as tidy rows: one per cell × seed, holding the cell's axis
// values and the scalar metrics read from that seed's part of the cell's job
// result. The catalog below is the one list of metric names a spec may plot or
// correlate, so the names in a spec, the CSV columns and the report agree.

import type { ContinuousResult, ExperimentName, FourRoomsResult, JobResult } from '../experiments/jobs.ts';
import type { ContinuousSeedResult } from '../experiments/continuous.ts';
import type { SeedResult } from '../experiments/fourrooms.ts';
import type { Stat } from '../util/validate.ts';
import { stat } from '../util/validate.ts';
import type { AxisValue, CellRow, SweepCell } from './types.ts';

export interface MetricInfo {
  /** Kebab-case, as written in a spec's `metrics` / `correlate` and in the CSV header. */
  readonly name: string;
  readonly description: string;
}

/** A metric's value for one seed; undefined where the run does not have it (e.g. Q NMSE of oracle agents). */
type Read<S> = (seed: S) => number | undefined;

interface MetricDef<S> extends MetricInfo { readonly read: Read<S> }

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const FOURROOMS: readonly MetricDef<SeedResult>[] = [
  { name: 'wm-mse', description: 'mean squared error of the extracted kernel P̂(s′|s,a) against the true one', read: (s) => s.wmMse },
  { name: 'wm-max-abs-error', description: 'largest |P̂(s′|s,a) − P(s′|s,a)| over all entries', read: (s) => s.wmMaxAbsError },
  { name: 'rank-m', description: 'rank of M, the goal-value matrix the fit inverts (identifiability)', read: (s) => s.rankM },
  {
    name: 'unidentifiable-pairs', description: '(s, a) pairs whose successor the training goals cannot pin down (deterministic model class)',
    read: (s) => s.unidentifiablePairs ?? undefined,
  },
  {
    name: 'r-ratio', description: 'R^WM / R*: return of the policy planned in the extracted model over the optimal return, mean over unseen tasks',
    read: (s) => (s.unseen.length > 0 ? mean(s.unseen.map((u) => u.rWM / u.rStar)) : undefined),
  },
  {
    name: 'r-wm', description: 'R^WM: return under the true dynamics of the policy planned in the extracted model, mean over unseen tasks',
    read: (s) => (s.unseen.length > 0 ? mean(s.unseen.map((u) => u.rWM)) : undefined),
  },
];

const CONTINUOUS: readonly MetricDef<ContinuousSeedResult>[] = [
  { name: 'wm-nmse', description: 'next-state NMSE of the extracted model on the evaluation states', read: (s) => s.wm.nmse },
  { name: 'wm-delta-nmse', description: 'NMSE of the predicted state change (the identity map scores 1)', read: (s) => s.wm.deltaNmse },
  { name: 'wm-mse', description: 'next-state MSE of the extracted model on the evaluation states', read: (s) => s.wm.mse },
  {
    name: 'q-nmse', description: 'PQN agents: NMSE of each agent\'s Q against Q^π of its greedy policy, mean over the agents',
    read: (s) => (s.qNmse !== undefined && s.qNmse.length > 0 ? mean(s.qNmse) : undefined),
  },
  {
    name: 'r-ratio', description: 'R^WM / R*: mean rollout return planned in the extracted model over the optimal one, mean over unseen goals',
    read: (s) => (s.unseen.length > 0 ? mean(s.unseen.map((u) => u.rWM.mean / u.rStar.mean)) : undefined),
  },
  { name: 'final-loss', description: 'P-learning loss, mean of the last 20 logged fit steps', read: (s) => s.finalLoss },
  {
    name: 'wm-delta-nmse-interior', description: 'MountainCar: delta NMSE on steps that hit neither a wall nor the velocity clip',
    read: (s) => s.wm.deltaNmseInterior,
  },
  {
    name: 'wm-delta-nmse-boundary', description: 'MountainCar: delta NMSE on steps that hit a wall or the velocity clip',
    read: (s) => s.wm.deltaNmseBoundary,
  },
];

/** Metrics only one continuous environment has. */
const MOUNTAINCAR_ONLY = ['wm-delta-nmse-interior', 'wm-delta-nmse-boundary'];

const info = (d: MetricInfo): MetricInfo => ({ name: d.name, description: d.description });

/** Scalar metrics per experiment, in the order the CSV and the report list them. */
export const METRICS: Readonly<Record<ExperimentName, readonly MetricInfo[]>> = {
  fourrooms: FOURROOMS.map(info),
  mountaincar: CONTINUOUS.map(info),
  reacher: CONTINUOUS.filter((d) => !MOUNTAINCAR_ONLY.includes(d.name)).map(info),
};

export function metricNames(experiment: ExperimentName): string[] {
  return METRICS[experiment].map((m) => m.name);
}

function readAll<S>(defs: readonly MetricDef<S>[], allowed: readonly MetricInfo[], seed: S): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of defs) {
    if (!allowed.some((m) => m.name === d.name)) continue;
    const v = d.read(seed);
    if (v !== undefined) out[d.name] = v;
  }
  return out;
}

/** The scalar metrics of one continuous fit's result (a seed's, or a tracking fit's). */
export function continuousMetrics(experiment: 'mountaincar' | 'reacher', s: ContinuousSeedResult): Record<string, number> {
  return readAll(CONTINUOUS, METRICS[experiment], s);
}

/** One row per seed of the cell's job, seeds in result order; `seed` is the seed index. */
export function rowsOf(cell: SweepCell, result: JobResult): CellRow[] {
  const base = { cellId: cell.id, cellIndex: cell.index, values: cell.values };
  if (result.experiment === 'fourrooms') {
    return (result as FourRoomsResult).seeds.map((s) => ({ ...base, seed: s.seedIndex, metrics: readAll(FOURROOMS, METRICS.fourrooms, s) }));
  }
  const r = result as ContinuousResult;
  return r.seeds.map((s) => ({ ...base, seed: s.seedIndex, metrics: readAll(CONTINUOUS, METRICS[r.experiment], s) }));
}

// ---------------------------------------------------------------------------
// Tidy CSV

/** RFC 4180: a field with a comma, a quote or a line break goes in quotes, its quotes doubled. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Shortest text that reads back to the same double; the spellings pandas and R both parse. */
export function csvNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

/** Metric names over the rows, in first-seen order (the catalog's, as rowsOf writes them). */
export function metricColumns(rows: readonly CellRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r.metrics)) seen.add(k);
  return [...seen];
}

/**
 * One line per cell × seed: cell_index, cell_id, seed_index, then a column per axis
 * (named by its option) and per metric. A metric a row lacks is an empty field; NaN
 * is written "NaN". The fixed columns use underscores, which no flag name has, so
 * an axis such as `seed` never collides with them. Lines end in LF.
 */
export function tidyCsv(rows: readonly CellRow[], axes: readonly string[]): string {
  const metrics = metricColumns(rows);
  const header = ['cell_index', 'cell_id', 'seed_index', ...axes, ...metrics];
  const dup = header.find((h, i) => header.indexOf(h) !== i);
  if (dup !== undefined) throw new Error(`tidyCsv: column ${JSON.stringify(dup)} is both an axis and a metric (or listed twice)`);
  const lines = [header.map(csvField).join(',')];
  const value = (v: AxisValue | undefined) => (v === undefined ? '' : typeof v === 'number' ? csvNumber(v) : csvField(v));
  for (const r of rows) {
    const fields = [String(r.cellIndex), csvField(r.cellId), String(r.seed)];
    for (const a of axes) fields.push(value(r.values[a]));
    for (const m of metrics) fields.push(m in r.metrics ? csvNumber(r.metrics[m]) : '');
    lines.push(fields.join(','));
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// Per-cell summary

export interface CellSummary {
  readonly cellId: string;
  readonly cellIndex: number;
  readonly values: Readonly<Record<string, AxisValue>>;
  /** Seeds (rows) the cell has. */
  readonly seeds: number;
  /**
   * Mean ± SE over the cell's seeds; non-finite values (a ratio over R* = 0) are left
   * out, so `n` counts the seeds that have a finite value.
   */
  readonly metrics: Readonly<Record<string, Stat>>;
}

/** Rows by cell id, each cell's rows in input order, cells in first-seen order. */
export function byCell<R extends CellRow>(rows: readonly R[]): Map<string, R[]> {
  const out = new Map<string, R[]>();
  for (const r of rows) {
    const list = out.get(r.cellId);
    if (list) list.push(r);
    else out.set(r.cellId, [r]);
  }
  return out;
}

/** Rows grouped by cell (in cell-index order) with each metric's mean, SE and n over seeds. */
export function cellSummary(rows: readonly CellRow[]): CellSummary[] {
  const out: CellSummary[] = [];
  for (const list of byCell(rows).values()) {
    const metrics: Record<string, Stat> = {};
    for (const m of metricColumns(list)) {
      metrics[m] = stat(list.map((r) => r.metrics[m]).filter((v) => v !== undefined && Number.isFinite(v)));
    }
    out.push({ cellId: list[0].cellId, cellIndex: list[0].cellIndex, values: list[0].values, seeds: list.length, metrics });
  }
  return out.sort((a, b) => a.cellIndex - b.cellIndex);
}
