// Tracking rows: a cell's world models fitted along training (`track` / `--track`),
// one row per cell × seed × checkpoint with the same scalar metrics a seed's
// final fit has, so the curves use the metric catalog and the tidy CSV writer the
// rest of the sweep uses. The reference's `eval/track_wm.py` follows the same
// quantities (WM error, Q error, planned returns) against training steps.

import type { ContinuousResult, JobResult } from '../experiments/jobs.ts';
import type { Stat } from '../util/validate.ts';
import { stat } from '../util/validate.ts';
import { byCell, continuousMetrics, tidyCsv } from './rows.ts';
import type { CellRow, SweepCell } from './types.ts';

export interface TrackRow extends CellRow {
  /** Environment steps each agent had taken at the checkpoint. */
  readonly envSteps: number;
}

/** The column the tracking CSV adds; underscored, so no axis (a flag name) can collide with it. */
export const ENV_STEPS_COLUMN = 'env_steps';

export function trackingRowsOf(cell: SweepCell, result: JobResult): TrackRow[] {
  if (result.experiment === 'fourrooms') return [];
  const r = result as ContinuousResult;
  return (r.tracking ?? []).map((t) => ({
    cellId: cell.id, cellIndex: cell.index, values: cell.values, seed: t.seedIndex, envSteps: t.envSteps,
    metrics: continuousMetrics(r.experiment, t.result),
  }));
}

/** tracking.csv: the tidy table with an env_steps column after the axes. */
export function trackingCsv(rows: readonly TrackRow[], axes: readonly string[]): string {
  return tidyCsv(rows.map((r) => ({ ...r, values: { ...r.values, [ENV_STEPS_COLUMN]: r.envSteps } })), [...axes, ENV_STEPS_COLUMN]);
}

export interface TrackCurve {
  readonly cellId: string;
  readonly cellIndex: number;
  readonly values: TrackRow['values'];
  /** In order of environment steps: the metric's mean ± SE over the cell's seeds. */
  readonly points: readonly { envSteps: number; stat: Stat }[];
}

/** One curve per cell for `metric`; points where no seed has a finite value are left out. */
export function trackCurves(rows: readonly TrackRow[], metric: string): TrackCurve[] {
  const out: TrackCurve[] = [];
  for (const list of byCell(rows).values()) {
    const steps = [...new Set(list.map((r) => r.envSteps))].sort((a, b) => a - b);
    const points = steps.flatMap((envSteps) => {
      const vals = list.filter((r) => r.envSteps === envSteps).map((r) => r.metrics[metric]).filter((v) => v !== undefined && Number.isFinite(v));
      return vals.length > 0 ? [{ envSteps, stat: stat(vals) }] : [];
    });
    if (points.length > 0) out.push({ cellId: list[0].cellId, cellIndex: list[0].cellIndex, values: list[0].values, points });
  }
  return out.sort((a, b) => a.cellIndex - b.cellIndex);
}
