// Tracking curves of a sweep (`track`): each chosen metric against environment
// steps, one line per cell, mean ± SE over its seeds at each checkpoint.

import { describeValues } from '../../../shared/sweeps/cells.ts';
import type { TrackRow } from '../../../shared/sweeps/tracking.ts';
import { trackCurves } from '../../../shared/sweeps/tracking.ts';
import type { SweepSpec } from '../../../shared/sweeps/types.ts';
import type { SweepPicture } from './index.ts';
import { metricLinesSvg } from './lines.ts';

export function trackingPictures(spec: SweepSpec, rows: readonly TrackRow[]): SweepPicture[] {
  if (rows.length === 0) return [];
  const metrics = spec.metrics.length > 0 ? spec.metrics : ['wm-nmse', 'q-nmse', 'r-ratio'];
  const out: SweepPicture[] = [];
  for (const metric of metrics) {
    const curves = trackCurves(rows, metric);
    if (curves.length === 0) continue;
    const title = `${metric} along training (mean ± SE over seeds)`;
    const svg = metricLinesSvg({
      title, xLabel: 'environment steps per agent', yLabel: metric, logX: false,
      series: curves.map((c) => ({
        label: describeValues(c.values),
        points: c.points.map((p) => ({ x: p.envSteps, mean: p.stat.mean, se: p.stat.se })),
      })),
      legendTitle: 'cell',
    });
    out.push({ name: `tracking-${metric}`, title, svg });
  }
  return out;
}
