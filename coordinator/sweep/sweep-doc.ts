// sweep.json — the sweep as one document: its spec, every cell with its options,
// status and summary — and the writer of everything else a sweep's --out holds
// (cells.csv, pictures, report.html: outputs.ts), kept current as cells finish.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobResult } from '../../shared/experiments/jobs.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import { writeAtomic } from '../outputs.ts';
import { writeSweepReport } from './outputs.ts';
import type { CellOutcome } from './run-local.ts';

export interface SweepCellEntry {
  readonly id: string;
  readonly index: number;
  readonly values: SweepCell['values'];
  readonly options: SweepCell['options'];
  readonly status: 'done' | 'pending';
  readonly reused?: boolean;
  readonly summary?: JobResult['summary'];
}

export interface SweepDocument {
  readonly sweep: string;
  readonly experiment: string;
  readonly spec: SweepSpec;
  readonly specText: string;
  readonly cells: readonly SweepCellEntry[];
  readonly done: number;
}

export function sweepDocument(spec: SweepSpec, specText: string, cells: readonly SweepCell[], outcomes: readonly CellOutcome[]): SweepDocument {
  const byId = new Map(outcomes.map((o) => [o.cell.id, o]));
  const entries = cells.map((c): SweepCellEntry => {
    const o = byId.get(c.id);
    const base = { id: c.id, index: c.index, values: c.values, options: c.options };
    return o ? { ...base, status: 'done', reused: o.reused, summary: o.result.summary } : { ...base, status: 'pending' };
  });
  return { sweep: spec.name, experiment: spec.experiment, spec, specText, cells: entries, done: byId.size };
}

/** sweep.json, cells.csv, pictures and report.html under `dir`, each written atomically. */
export async function writeSweepOutputs(dir: string, spec: SweepSpec, specText: string, cells: readonly SweepCell[],
  outcomes: readonly CellOutcome[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, 'sweep.json'), JSON.stringify(sweepDocument(spec, specText, cells, outcomes), null, 2));
  const results = new Map<string, JobResult>(outcomes.map((o) => [o.cell.id, o.result]));
  await writeSweepReport(dir, spec, specText, cells, results);
}
