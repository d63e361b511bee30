// What each cell of a sweep will cost, without running it: the job planner's
// own task list, so `--dry-run` shows exactly the agent tasks and fits the
// cluster would queue (the check GPU-sized sweeps get on a laptop).

import { planJob } from '../../shared/experiments/jobs.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import { cellJobSpec } from './run-local.ts';

export interface CellPlan {
  readonly cell: SweepCell;
  /** Agent tasks (goal shard × seed). */
  readonly tasks: number;
  /** Fits: one per seed. */
  readonly fits: number;
}

export async function planCells(spec: SweepSpec, cells: readonly SweepCell[]): Promise<CellPlan[]> {
  const plans: CellPlan[] = [];
  for (const cell of cells) {
    const plan = planJob(await cellJobSpec(spec.experiment, cell));
    plans.push({ cell, tasks: plan.tasks.length, fits: plan.fits.length });
  }
  return plans;
}
