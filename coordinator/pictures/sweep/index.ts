// Which pictures a sweep gets, from its spec and its cells' summaries: each chosen
// metric against the first numeric axis (a line per combination of the other axes'
// values), and, with two numeric axes, a heat map of each chosen metric (depth ×
// width when the spec has those, one grid per combination of any other axes).
// Pictures come back as SVG text; the caller writes them and their PNGs.

import type { CellSummary } from '../../../shared/sweeps/rows.ts';
import { metricNames } from '../../../shared/sweeps/rows.ts';
import type { AxisValue, SweepAxis, SweepSpec } from '../../../shared/sweeps/types.ts';
import { heatmapSvg, type HeatGrid } from './heatmap.ts';
import { metricLinesSvg, type LineSeries } from './lines.ts';

export interface SweepPicture {
  /** File stem under pictures/: kebab-case, unique within the sweep. */
  readonly name: string;
  readonly title: string;
  readonly svg: string;
}

/** An axis value as a number; NaN for one that is not (a variant name). */
export function axisNumber(v: AxisValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v.trim() === '') return NaN;
  return Number(v);
}

/** Axes whose every value is a finite number (numbers, or strings that read as one), in spec order. */
export function numericAxes(spec: SweepSpec): SweepAxis[] {
  return spec.axes.filter((a) => a.values.length > 0 && a.values.every((v) => Number.isFinite(axisNumber(v))));
}

/** The spec's metrics, or every catalog metric the cells have when the spec names none. */
export function plottedMetrics(spec: SweepSpec, cells: readonly CellSummary[]): string[] {
  if (spec.metrics.length > 0) return [...spec.metrics];
  return metricNames(spec.experiment).filter((m) => cells.some((c) => m in c.metrics));
}

const same = (a: AxisValue | undefined, b: AxisValue) => a !== undefined && String(a) === String(b);

/** Every combination of the given axes' values, first axis slowest (the cells' own order). */
function combinations(axes: readonly SweepAxis[]): AxisValue[][] {
  let out: AxisValue[][] = [[]];
  for (const a of axes) out = out.flatMap((prefix) => a.values.map((v) => [...prefix, v]));
  return out;
}

function matches(cell: CellSummary, axes: readonly SweepAxis[], combo: readonly AxisValue[]): boolean {
  return axes.every((a, i) => same(cell.values[a.option], combo[i]));
}

const describe = (axes: readonly SweepAxis[], combo: readonly AxisValue[]) => axes.map((a, i) => `${a.option}=${combo[i]}`).join(' · ');

function finiteMean(c: CellSummary, metric: string): number {
  const m = c.metrics[metric]?.mean;
  return m !== undefined && Number.isFinite(m) ? m : NaN;
}

export function linesPicture(spec: SweepSpec, cells: readonly CellSummary[], metric: string, xAxis: SweepAxis): SweepPicture | undefined {
  const others = spec.axes.filter((a) => a.option !== xAxis.option);
  const series: LineSeries[] = [];
  for (const combo of combinations(others)) {
    const points = cells
      .filter((c) => matches(c, others, combo) && Number.isFinite(finiteMean(c, metric)))
      .map((c) => ({ x: axisNumber(c.values[xAxis.option]), mean: finiteMean(c, metric), se: c.metrics[metric].se }));
    if (points.length === 0) continue;
    series.push(others.length > 0 ? { label: combo.map(String).join(' · '), points } : { points });
  }
  if (series.length === 0) return undefined;
  const title = `${metric} against ${xAxis.option} (mean ± SE over seeds)`;
  const svg = metricLinesSvg({
    title, xLabel: xAxis.option, yLabel: metric, series,
    ...(others.length > 0 ? { legendTitle: others.map((a) => a.option).join(' · ') } : {}),
  });
  return { name: `${metric}-vs-${xAxis.option}`, title, svg };
}

/** Rows × columns of the heat maps: q-depth × q-width when the spec sweeps both, else the first two numeric axes. */
export function heatmapAxes(spec: SweepSpec): [SweepAxis, SweepAxis] | undefined {
  const numeric = numericAxes(spec);
  const depth = numeric.find((a) => a.option === 'q-depth');
  const width = numeric.find((a) => a.option === 'q-width');
  if (depth && width) return [depth, width];
  return numeric.length >= 2 ? [numeric[0], numeric[1]] : undefined;
}

const sortedValues = (a: SweepAxis) => [...a.values].sort((x, y) => axisNumber(x) - axisNumber(y));

export function heatmapPicture(spec: SweepSpec, cells: readonly CellSummary[], metric: string,
  [rowAxis, colAxis]: [SweepAxis, SweepAxis]): SweepPicture | undefined {
  const others = spec.axes.filter((a) => a.option !== rowAxis.option && a.option !== colAxis.option);
  const rows = sortedValues(rowAxis);
  const cols = sortedValues(colAxis);
  const grids: HeatGrid[] = [];
  let any = false;
  for (const combo of combinations(others)) {
    const mine = cells.filter((c) => matches(c, others, combo));
    const values = rows.map((r) => cols.map((k) => {
      const cell = mine.find((c) => same(c.values[rowAxis.option], r) && same(c.values[colAxis.option], k));
      return cell ? finiteMean(cell, metric) : NaN;
    }));
    if (values.some((row) => row.some((v) => !Number.isNaN(v)))) any = true;
    grids.push(others.length > 0 ? { title: describe(others, combo), values } : { values });
  }
  if (!any) return undefined;
  const title = `${metric}: cell means over ${rowAxis.option} × ${colAxis.option}`;
  const svg = heatmapSvg({
    title, rowAxis: rowAxis.option, colAxis: colAxis.option, rows: rows.map(String), cols: cols.map(String), grids, metric,
  });
  return { name: `${metric}-heatmap`, title, svg };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'picture';

/** Every picture of the sweep, in the order the report shows them; file names made safe and unique. */
export function sweepPictures(spec: SweepSpec, cells: readonly CellSummary[]): SweepPicture[] {
  const metrics = plottedMetrics(spec, cells);
  const out: SweepPicture[] = [];
  const x = numericAxes(spec)[0];
  if (x) for (const m of metrics) { const p = linesPicture(spec, cells, m, x); if (p) out.push(p); }
  const pair = heatmapAxes(spec);
  if (pair) for (const m of metrics) { const p = heatmapPicture(spec, cells, m, pair); if (p) out.push(p); }
  const used = new Set<string>();
  return out.map((p) => {
    const base = slug(p.name);
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
    used.add(name);
    return { ...p, name };
  });
}
