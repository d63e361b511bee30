// A sweep's cells: the product of its axes, each cell's `plearn run` options, what
// each will cost (the job planner's own count of agent tasks and fits), and the
// translation of a job validator's complaint about one cell back to the spec field
// that caused it. Ids need the resolved configuration, which may read a layout
// file, so they are computed in coordinator/sweep/cells.ts.

import { LayoutError } from '../envs/fourrooms/layout.ts';
import type { JobSpec } from '../experiments/jobs.ts';
import { planJob } from '../experiments/jobs.ts';
import { LimitError, MAX_SWEEP_TASKS } from '../protocol/limits.ts';
import { ConfigError } from '../util/validate.ts';
import type { FieldPath } from './spec.ts';
import { Q_DEPTH, Q_HIDDEN, Q_WIDTH, SweepSpecError } from './spec.ts';
import type { AxisValue, SweepCell, SweepSpec } from './types.ts';

/** A cell before its id is known. */
export interface CellDraft {
  readonly index: number;
  readonly values: Readonly<Record<string, AxisValue>>;
  readonly options: Readonly<Record<string, string>>;
  /** Per axis, in spec order, the position of this cell's value on that axis. */
  readonly positions: readonly number[];
}

/** Agent tasks (goal shards × seeds) and fits (one per seed) of one cell's job. */
export interface CellWork {
  readonly tasks: number;
  readonly fits: number;
}

export function cellCount(spec: SweepSpec): number {
  return spec.axes.reduce((n, a) => n * a.values.length, 1);
}

/** Every `plearn run` option of a cell as a string: base, the cell's axis values, q-hidden from q-depth × q-width, seeds. */
export function cellOptions(spec: SweepSpec, values: Readonly<Record<string, AxisValue>>): Record<string, string> {
  const all: Record<string, AxisValue> = { ...spec.base, ...values };
  const options: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) if (k !== Q_DEPTH && k !== Q_WIDTH) options[k] = String(v);
  if (all[Q_DEPTH] !== undefined && all[Q_WIDTH] !== undefined) {
    options[Q_HIDDEN] = Array.from({ length: Number(all[Q_DEPTH]) }, () => String(all[Q_WIDTH])).join(',');
  }
  options.seeds = String(spec.seeds);
  return options;
}

/** The cells in order: the last axis varies fastest, the first slowest. */
export function expandCells(spec: SweepSpec): CellDraft[] {
  const n = cellCount(spec);
  const cells: CellDraft[] = [];
  for (let index = 0; index < n; index++) {
    const positions = new Array<number>(spec.axes.length);
    let rest = index;
    for (let a = spec.axes.length - 1; a >= 0; a--) {
      const len = spec.axes[a].values.length;
      positions[a] = rest % len;
      rest = Math.floor(rest / len);
    }
    const values: Record<string, AxisValue> = {};
    spec.axes.forEach((axis, a) => { values[axis.option] = axis.values[positions[a]]; });
    cells.push({ index, values, options: cellOptions(spec, values), positions });
  }
  return cells;
}

export function cellWork(job: JobSpec): CellWork {
  const plan = planJob(job);
  return { tasks: plan.tasks.length, fits: plan.fits.length };
}

export function describeValues(values: Readonly<Record<string, AxisValue>>): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(' ') : 'no axes';
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * A job validator's error about `cell`, as a SweepSpecError at the spec field that
 * set the offending option (`axes.goals[9]`, `base.fit-steps`, `seeds`); errors that
 * are not about input pass through unchanged. The validators name options by flag
 * (`goals`, `q-hidden[0]`), which is how the field is traced back.
 */
export function cellError(spec: SweepSpec, cell: CellDraft, e: unknown): unknown {
  let field: string;
  if (e instanceof LayoutError) field = 'layout';
  else if (e instanceof ConfigError || e instanceof LimitError) field = e.field === 'layoutText' ? 'layout' : kebab(e.field);
  else return e;
  let option = field.replace(/\[\d+\]$/, '');
  const derived = option === Q_HIDDEN && !Object.hasOwn(spec.base, Q_HIDDEN) && !spec.axes.some((a) => a.option === Q_HIDDEN);
  // A bad list of widths is the depth's doing; a bad width, the width's.
  if (derived) option = field === Q_HIDDEN ? Q_DEPTH : Q_WIDTH;
  const axis = spec.axes.findIndex((a) => a.option === option);
  let path: FieldPath;
  if (option === 'seeds') path = ['seeds'];
  else if (Object.hasOwn(spec.base, option)) path = ['base', option];
  else if (axis >= 0) path = ['axes', option, cell.positions[axis]];
  else path = spec.axes.length > 0 ? ['axes'] : ['base'];
  const prefix = `${field}: `;
  const detail = field === option && e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  const context = path[0] === 'axes' && spec.axes.length > 0 ? ` (cell ${cell.index}: ${describeValues(cell.values)})` : '';
  return new SweepSpecError(path, detail + context);
}

/**
 * Refuses a sweep whose cells add up to more agent tasks than a sweep may queue;
 * called as cells are planned (`planned` of `cellCount(spec)` so far), so a
 * runaway sweep stops at the first cell over the limit.
 */
export function checkSweepTasks(spec: SweepSpec, tasks: number, planned: number): void {
  if (tasks <= MAX_SWEEP_TASKS) return;
  const total = cellCount(spec);
  const cells = planned < total ? `the first ${planned} of ${total} cells` : `${total} cells`;
  throw new SweepSpecError(spec.axes.length > 0 ? ['axes'] : ['seeds'],
    `${cells} plan ${tasks} agent tasks, over the limit of ${MAX_SWEEP_TASKS} per sweep `
    + `(allowed: [1, ${MAX_SWEEP_TASKS}]); use fewer cells or seeds, or larger goals-per-agent`);
}

export interface DryRunCell extends SweepCell, CellWork {}

export interface DryRun {
  readonly sweep: string;
  readonly experiment: string;
  readonly seeds: number;
  readonly axes: SweepSpec['axes'];
  readonly tasks: number;
  readonly fits: number;
  readonly cells: readonly DryRunCell[];
}

/** `--dry-run`: every cell with its options and work, as a table and as one JSON document. */
export function describeCells(spec: SweepSpec, cells: readonly SweepCell[], work: readonly CellWork[]): { text: string; json: DryRun } {
  if (work.length !== cells.length) throw new Error(`describeCells: ${cells.length} cells but ${work.length} work entries`);
  const tasks = work.reduce((a, w) => a + w.tasks, 0);
  const fits = work.reduce((a, w) => a + w.fits, 0);
  const json: DryRun = {
    sweep: spec.name, experiment: spec.experiment, seeds: spec.seeds, axes: spec.axes, tasks, fits,
    cells: cells.map((c, i) => ({ ...c, ...work[i] })),
  };
  const base = Object.entries(spec.base).map(([k, v]) => `${k}=${v}`).join(' ');
  const lines = [
    `sweep ${spec.name} · ${spec.experiment} · ${cells.length} cell(s) × ${spec.seeds} seed(s) · ${tasks} agent task(s), ${fits} fit(s)`,
    `base: ${base || 'none'}`,
    `axes: ${spec.axes.map((a) => `${a.option} [${a.values.join(', ')}]`).join(' × ') || 'none'}`,
    '',
    'cell  id                tasks  fits  values',
    ...cells.map((c, i) => `${String(c.index).padStart(4)}  ${c.id}  ${String(work[i].tasks).padStart(5)}  ${String(work[i].fits).padStart(4)}  `
      + describeValues(c.values)),
  ];
  return { text: lines.join('\n'), json };
}
