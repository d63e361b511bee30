// A sweep spec's cells: the product of its axes (first axis slowest), each with
// the full `plearn run` options it stands for, validated by the validators
// `plearn run` uses, and an id from its canonical resolved job — so the same
// job gets the same id whatever sweep it is in and however its options were
// spelled (5 or "5", a default written out or left implicit). That id is what
// makes a re-run or a larger sweep reuse the cells already done.

import { createHash } from 'node:crypto';
import { planJob } from '../../shared/experiments/jobs.ts';
import { MAX_SWEEP_TASKS } from '../../shared/protocol/limits.ts';
import type { AxisValue, SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import { ConfigError } from '../../shared/util/validate.ts';
import { LayoutError } from '../../shared/envs/fourrooms/layout.ts';
import { UsageError } from '../cli-common.ts';
import type { SpecLocator } from './load-spec.ts';
import { cellJobSpec } from './run-local.ts';

/** The options of one combination: base, the axis values, q-depth × q-width as q-hidden, and the seeds. */
function cellOptions(spec: SweepSpec, values: Readonly<Record<string, AxisValue>>): Record<string, string> {
  const merged: Record<string, AxisValue> = { ...spec.base, ...values };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(merged)) if (k !== 'q-depth' && k !== 'q-width') out[k] = String(v);
  if (merged['q-depth'] !== undefined && merged['q-width'] !== undefined) {
    const depth = Number(merged['q-depth']);
    out['q-hidden'] = Array.from({ length: depth }, () => String(merged['q-width'])).join(',');
  }
  out.seeds = String(spec.seeds);
  return out;
}

/** JSON with object keys sorted at every level, so equal values hash equally. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function cellId(experiment: string, resolvedConfig: unknown): string {
  return createHash('sha256').update(canonical({ experiment, config: resolvedConfig })).digest('hex').slice(0, 16);
}

/**
 * Every cell, validated. A value `plearn run` would refuse is reported at the axis
 * or base entry that set it, with the file line `locate` gives.
 */
export async function expandCells(spec: SweepSpec, locate: SpecLocator = () => 'sweep'): Promise<SweepCell[]> {
  const combos: Record<string, AxisValue>[] = [{}];
  for (const axis of spec.axes) {
    const next: Record<string, AxisValue>[] = [];
    for (const c of combos) for (const v of axis.values) next.push({ ...c, [axis.option]: v });
    combos.splice(0, combos.length, ...next);
  }
  const cells: SweepCell[] = [];
  let tasks = 0;
  const seen = new Map<string, number>();
  for (let index = 0; index < combos.length; index++) {
    const values = combos[index];
    const draft: SweepCell = { id: '', index, values, options: cellOptions(spec, values) };
    let plan;
    try {
      plan = planJob(await cellJobSpec(spec.experiment, draft));
    } catch (e) {
      if (!(e instanceof ConfigError || e instanceof LayoutError)) throw e;
      const field = e instanceof ConfigError ? e.field : 'layout';
      const option = field === 'q-hidden' && 'q-depth' in values ? 'q-depth' : field;
      const path = option in values ? ['axes', option] : option in spec.base ? ['base', option] : ['axes'];
      const at = Object.entries(values).map(([k, v]) => `${k}=${v}`).join(' ');
      throw new UsageError(`${locate(path)}: ${path.join('.')}: ${e.message}${at ? ` (in the cell ${at})` : ''}`);
    }
    tasks += plan.tasks.length;
    if (tasks > MAX_SWEEP_TASKS) {
      throw new UsageError(`${locate(['axes'])}: axes: the sweep's cells plan more than ${MAX_SWEEP_TASKS} agent tasks in all (limit); use fewer cells, seeds or goal shards`);
    }
    const id = cellId(spec.experiment, plan.config);
    const twin = seen.get(id);
    if (twin !== undefined) {
      throw new UsageError(`${locate(['axes'])}: axes: cells ${twin} and ${index} are the same job (an axis value equal to the default of another?)`);
    }
    seen.set(id, index);
    cells.push({ ...draft, id });
  }
  return cells;
}
