// What a sweep's --out folder holds besides sweep.json and the cells' own results:
// cells.csv (tidy: a row per cell × seed), pictures/ (SVG and a PNG from the same
// SVG) and report.html. Rewritten as cells finish, so every file appears
// atomically (a temporary name, then rename) and writes to one folder queue up
// in call order: a reader never sees half a file, and an older report never
// lands on top of a newer one.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobResult } from '../../shared/experiments/jobs.ts';
import { cellSummary, metricColumns, metricNames, rowsOf, tidyCsv } from '../../shared/sweeps/rows.ts';
import { correlationTable } from '../../shared/sweeps/stats.ts';
import type { CellRow, SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import { pictureToPng } from '../pictures/png.ts';
import { sweepPictures } from '../pictures/sweep/index.ts';
import { trackingPictures } from '../pictures/sweep/tracking.ts';
import type { TrackRow } from '../../shared/sweeps/tracking.ts';
import { trackingCsv, trackingRowsOf } from '../../shared/sweeps/tracking.ts';
import { sweepReportHtml } from './report.ts';
import { KeyedLock } from '../keyed-lock.ts';

/** PNGs at twice the SVG's size, as the run pictures are, so text stays legible zoomed in. */

export interface SweepReportOptions {
  /** A cell's status when not simply done (has a result) or pending (has none): "running", "failed", … */
  readonly status?: ReadonlyMap<string, string>;
}

/** Every file the report writes, by path relative to the output folder, in writing order (report.html last). */
export function sweepReportFiles(spec: SweepSpec, specText: string, cells: readonly SweepCell[],
  results: ReadonlyMap<string, JobResult>, opts: SweepReportOptions = {}): Map<string, string | Uint8Array> {
  const rows: CellRow[] = [];
  const tracked: TrackRow[] = [];
  for (const c of cells) {
    const r = results.get(c.id);
    if (r) {
      rows.push(...rowsOf(c, r));
      tracked.push(...trackingRowsOf(c, r));
    }
  }
  const summaries = cellSummary(rows);
  const present = new Set(metricColumns(rows));
  // Catalog order; a metric no cell has (Q NMSE of oracle agents) gets no column.
  const metrics = metricNames(spec.experiment).filter((m) => present.has(m));
  const pictures = [...sweepPictures(spec, summaries), ...trackingPictures(spec, tracked)];
  const files = new Map<string, string | Uint8Array>();
  files.set('cells.csv', tidyCsv(rows, spec.axes.map((a) => a.option)));
  if (tracked.length > 0) files.set('tracking.csv', trackingCsv(tracked, spec.axes.map((a) => a.option)));
  for (const p of pictures) {
    files.set(`pictures/${p.name}.svg`, p.svg);
    files.set(`pictures/${p.name}.png`, pictureToPng(p.svg));
  }
  files.set('report.html', sweepReportHtml({
    spec, specText, cells, summaries, metrics, pictures,
    correlations: correlationTable(summaries, spec.correlate),
    ...(opts.status ? { status: opts.status } : {}),
  }));
  return files;
}

let tmpCounter = 0;

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Writes to one folder queue up in call order. */
const folders = new KeyedLock();

/**
 * Write cells.csv, pictures/*.svg|png and report.html under `dir`; cells without a
 * result yet appear in the report as pending. Returns the paths written, relative to `dir`.
 */
export function writeSweepReport(dir: string, spec: SweepSpec, specText: string, cells: readonly SweepCell[],
  results: ReadonlyMap<string, JobResult>, opts: SweepReportOptions = {}): Promise<{ files: string[] }> {
  return folders.run(dir, async () => {
    const files = sweepReportFiles(spec, specText, cells, results, opts);
    await mkdir(join(dir, 'pictures'), { recursive: true });
    for (const [rel, data] of files) await writeAtomic(join(dir, rel), data);
    return { files: [...files.keys()] };
  });
}
