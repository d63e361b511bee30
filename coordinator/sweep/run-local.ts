// `plearn sweep run`: every cell of a sweep as an ordinary job on this machine,
// through the same in-process path as `plearn run` (so a cell's numbers are that
// command's, bit for bit), at most `maxActiveCells` at once over one thread pool.
//
// Resumable through the output folder: a finished cell's result is written to
// cells/<id>/result.json (atomically) the moment it completes, and a later run
// of the same sweep — or of any sweep containing that cell — reads it back
// instead of computing it again. A crash loses at most the cells in flight.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { JobResult } from '../../shared/experiments/jobs.ts';
import { describeValues } from '../../shared/sweeps/cells.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import { createLocalPool } from '../../worker/local-pool.ts';
import type { TaskPool } from '../../worker/local-pool.ts';
import { runJobLocal } from '../local-run.ts';
import { writeAtomic } from '../outputs.ts';
import { cellJob } from './cells.ts';

export interface CellOutcome {
  readonly cell: SweepCell;
  readonly result: JobResult;
  /** Read back from an earlier run's output folder rather than computed now. */
  readonly reused: boolean;
}

export interface SweepProgress {
  readonly cellsDone: number;
  readonly cells: number;
  readonly reused: number;
  readonly elapsedMs: number;
  /** Estimated from the cells computed in this run; undefined before the first. */
  readonly etaMs?: number;
  readonly last?: SweepCell;
}

export interface LocalSweepOptions {
  readonly out?: string;
  readonly maxActiveCells?: number;
  readonly threads?: number;
  readonly pool?: TaskPool;
  readonly log?: Logger;
  readonly onProgress?: (p: SweepProgress) => void;
  /** Called as each cell completes (computed or reused), in completion order. */
  readonly onCell?: (o: CellOutcome) => void | Promise<void>;
}

export function cellDir(out: string, cell: SweepCell): string {
  return join(out, 'cells', cell.id);
}

/** A finished cell's result from an earlier run, or undefined (absent, unreadable, or another cell's). */
async function readFinished(out: string, cell: SweepCell): Promise<JobResult | undefined> {
  let text: string;
  try {
    text = await readFile(join(cellDir(out, cell), 'result.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const doc = JSON.parse(text) as { cellId?: unknown; result?: JobResult };
    // A file that does not name this cell is not trusted: recompute rather than mix sweeps up.
    if (doc.cellId !== cell.id || typeof doc.result !== 'object' || doc.result === null) return undefined;
    return doc.result;
  } catch {
    return undefined;
  }
}

/** cells/<id>/result.json: what a later run with the same --out reads back instead of computing the cell. */
export async function writeFinished(out: string, cell: SweepCell, result: JobResult): Promise<void> {
  const dir = cellDir(out, cell);
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, 'result.json'), JSON.stringify({ cellId: cell.id, options: cell.options, values: cell.values, result }, null, 2));
}

/**
 * Run (or read back) every cell; results in cell order. A failing cell stops the
 * sweep after the cells in flight finish (their results are kept), and the error
 * names the cell.
 */
export async function runSweepLocal(spec: SweepSpec, cells: readonly SweepCell[], opts: LocalSweepOptions = {}): Promise<CellOutcome[]> {
  const maxActive = Math.max(1, opts.maxActiveCells ?? 1);
  const pool = opts.pool ?? createLocalPool(opts.threads);
  const outcomes = new Array<CellOutcome | undefined>(cells.length);
  const t0 = performance.now();
  let done = 0;
  let reused = 0;
  let computedMs = 0;
  let computed = 0;
  let failure: Error | undefined;

  const report = (last?: SweepCell) => {
    const remaining = cells.length - done;
    const perCell = computed > 0 ? computedMs / computed : undefined;
    opts.onProgress?.({
      cellsDone: done, cells: cells.length, reused, elapsedMs: performance.now() - t0, last,
      ...(perCell !== undefined ? { etaMs: (perCell * remaining) / maxActive } : {}),
    });
  };

  const runOne = async (i: number): Promise<void> => {
    const cell = cells[i];
    const previous = opts.out !== undefined ? await readFinished(opts.out, cell) : undefined;
    let outcome: CellOutcome;
    if (previous !== undefined) {
      outcome = { cell, result: previous, reused: true };
      reused++;
    } else {
      const c0 = performance.now();
      const job = await cellJob(spec.experiment, cell.options);
      const { result } = await runJobLocal(job, { pool, log: opts.log });
      if (opts.out !== undefined) await writeFinished(opts.out, cell, result);
      computedMs += performance.now() - c0;
      computed++;
      outcome = { cell, result, reused: false };
    }
    outcomes[i] = outcome;
    done++;
    await opts.onCell?.(outcome);
    report(cell);
  };

  let next = 0;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < cells.length) {
      const i = next++;
      try {
        await runOne(i);
      } catch (e) {
        failure ??= new Error(`cell ${cells[i].index} (${cells[i].id}, ${describeValues(cells[i].values)}): ${(e as Error).message}`);
      }
    }
  };
  try {
    report();
    await Promise.all(Array.from({ length: Math.min(maxActive, cells.length) }, lane));
  } finally {
    if (!opts.pool) await pool.close();
  }
  if (failure) throw failure;
  return outcomes as CellOutcome[];
}
