// The text a finished `plearn sweep run` prints: one line per cell with its axis
// values and the plotted metrics as mean ± SE over its seeds, then the Spearman
// correlations across cells the spec asked for.

import type { JobResult } from '../../shared/experiments/jobs.ts';
import type { Stat } from '../../shared/util/validate.ts';
import { cellSummary, metricNames, rowsOf } from '../../shared/sweeps/rows.ts';
import { correlationTable } from '../../shared/sweeps/stats.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';

const num = (x: number) => (x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toFixed(3));
const pm = (s: Stat | undefined) => (s === undefined || s.n === 0 ? 'n/a' : s.n > 1 ? `${num(s.mean)} ± ${num(s.se)}` : num(s.mean));

export function renderSweepTable(spec: SweepSpec, cells: readonly SweepCell[], outcomes: readonly { cell: SweepCell; result: JobResult }[]): string {
  const rows = outcomes.flatMap((o) => rowsOf(o.cell, o.result));
  const summary = cellSummary(rows);
  const metrics = spec.metrics.length > 0 ? [...spec.metrics] : metricNames(spec.experiment).slice(0, 3);
  const axes = spec.axes.map((a) => a.option);
  const header = ['cell', ...axes, ...metrics];
  const body = summary.map((c) => [String(c.cellIndex), ...axes.map((a) => String(c.values[a])), ...metrics.map((m) => pm(c.metrics[m]))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  const out = [`sweep ${spec.name} · ${spec.experiment} · ${outcomes.length}/${cells.length} cell(s) × ${spec.seeds} seed(s)`, '', line(header), ...body.map(line)];
  if (spec.correlate.length >= 2) {
    out.push('', 'Spearman ρ across cells (95% bootstrap interval, n cells)');
    for (const c of correlationTable(summary, spec.correlate)) {
      const rho = Number.isFinite(c.rho) ? `${c.rho.toFixed(3)} [${c.lo.toFixed(3)}, ${c.hi.toFixed(3)}]` : 'n/a';
      out.push(`  ${c.a} vs ${c.b}: ρ ${rho}, n ${c.n}`);
    }
  }
  return out.join('\n');
}
