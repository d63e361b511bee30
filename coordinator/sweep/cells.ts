// A sweep's cells with their ids, each validated exactly as `plearn run` would
// validate its options (specFromOptions, which reads a layout file, then the job
// planner), so a sweep is refused before anything runs if any one cell would be.
//
// A cell's id hashes its experiment and its resolved configuration, not the
// options as written: `goals: 5` and `goals: "5"`, an option at its default and the
// option left out, `q-hidden: 256,256` and q-depth 2 × q-width 256 all resolve to
// the same configuration, so a cell is found again in any sweep that contains it
// (that is what lets a re-run or a larger sweep reuse finished cells).

import { createHash } from 'node:crypto';
import type { JobSpec } from '../../shared/experiments/jobs.ts';
import { continuousConfigOf, fourRoomsInput } from '../../shared/experiments/jobs.ts';
import { resolveFourRoomsConfig } from '../../shared/experiments/fourrooms-config.ts';
import type { CellDraft, CellWork } from '../../shared/sweeps/cells.ts';
import { cellError, cellWork, checkSweepTasks, describeValues, expandCells } from '../../shared/sweeps/cells.ts';
import { SweepSpecError } from '../../shared/sweeps/spec.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import type { JobOptions, LayoutReader } from '../run-options.ts';
import { specFromOptions } from '../run-options.ts';

/** JSON with every object's keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The configuration the job will run with, every default filled in (what its result's `config` holds). */
export function resolvedConfig(job: JobSpec): unknown {
  return job.experiment === 'fourrooms' ? resolveFourRoomsConfig(fourRoomsInput(job)).config : continuousConfigOf(job);
}

/** First 16 hex digits of sha256 over the canonical {experiment, config}. */
export function cellId(job: JobSpec): string {
  return createHash('sha256').update(canonicalJson({ experiment: job.experiment, config: resolvedConfig(job) })).digest('hex').slice(0, 16);
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** The job a cell stands for: its options exactly as `plearn run` reads them from flags. */
export function cellJob(experiment: string, options: Readonly<Record<string, string>>, readLayout?: LayoutReader): Promise<JobSpec> {
  const opts: Record<string, string> = {};
  for (const [k, v] of Object.entries(options)) opts[camel(k)] = v;
  return specFromOptions(experiment, opts as JobOptions, readLayout);
}

export interface ResolvedSweep {
  readonly cells: SweepCell[];
  /** Per cell, in cell order: agent tasks and fits its job plans. */
  readonly work: CellWork[];
  /** Per cell, in cell order: the job it stands for. */
  readonly jobs: JobSpec[];
}

/**
 * Every cell with its id and planned work; throws a SweepSpecError naming the spec
 * field when a cell's options would be refused by `plearn run`, when two cells are
 * the same job, or when the sweep's agent tasks exceed the limit.
 */
export async function resolveSweep(spec: SweepSpec, readLayout?: LayoutReader): Promise<ResolvedSweep> {
  const cells: SweepCell[] = [];
  const work: CellWork[] = [];
  const jobs: JobSpec[] = [];
  const seen = new Map<string, CellDraft>();
  let tasks = 0;
  for (const draft of expandCells(spec)) {
    let id: string;
    let w: CellWork;
    let job: JobSpec;
    try {
      job = await cellJob(spec.experiment, draft.options, readLayout);
      id = cellId(job);
      w = cellWork(job);
    } catch (e) {
      throw cellError(spec, draft, e);
    }
    tasks += w.tasks;
    checkSweepTasks(spec, tasks, draft.index + 1);
    const twin = seen.get(id);
    if (twin !== undefined) {
      throw new SweepSpecError(['axes'], `cells ${twin.index} (${describeValues(twin.values)}) and ${draft.index} `
        + `(${describeValues(draft.values)}) are the same job (two spellings of one value?); each cell must differ`);
    }
    seen.set(id, draft);
    cells.push({ id, index: draft.index, values: draft.values, options: draft.options });
    work.push(w);
    jobs.push(job);
  }
  return { cells, work, jobs };
}

export async function resolveCells(spec: SweepSpec): Promise<SweepCell[]> {
  return (await resolveSweep(spec)).cells;
}
