// Continuous section: batched environment steps per second (one core) and grid VI
// cell-updates per second ((cell, action) backups per second of a sweep).

import { mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';
import type { ContinuousEnv } from '../shared/envs/continuous.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { envGrid, goalTask, gridTransitions } from '../shared/continuous/planning.ts';
import { valueIteration } from '../shared/continuous/grid-vi.ts';
import { cellCount } from '../shared/continuous/grid.ts';
import { Rng } from '../shared/util/rng.ts';

export interface ContinuousBench {
  mountaincarStepsPerSec: number;
  reacherStepsPerSec: number;
  viCellUpdatesPerSec: { mountaincar: number; reacher: number };
  batch: number;
}

function stepsPerSec(env: ContinuousEnv, batch: number): number {
  const s = new Float64Array(batch * env.stateDim);
  env.reset(new Rng(1), s, batch);
  const a = new Int32Array(batch);
  const rng = new Rng(2);
  for (let i = 0; i < batch; i++) a[i] = rng.int(env.nActions);
  const next = new Float64Array(s.length);
  const rounds = 2000;
  for (let r = 0; r < 200; r++) env.step(s, a, next, batch);
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) env.step(r % 2 ? next : s, a, r % 2 ? s : next, batch);
  return (rounds * batch) / ((performance.now() - t0) / 1000);
}

async function viRate(env: ContinuousEnv, points: number, envName: 'mountaincar' | 'reacher'): Promise<number> {
  const grid = envGrid(env, points);
  const { goals, reward } = trainingGoals(envName);
  const trans = await gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), goalTask(goals[0], reward));
  const sweeps = 50;
  valueIteration(trans, 0.99, { tol: 0, maxIters: 5 });
  const t0 = performance.now();
  valueIteration(trans, 0.99, { tol: 0, maxIters: sweeps });
  return (sweeps * cellCount(grid) * env.nActions) / ((performance.now() - t0) / 1000);
}

export async function benchContinuous(): Promise<ContinuousBench> {
  const batch = 4096;
  return {
    mountaincarStepsPerSec: stepsPerSec(mountainCar, batch),
    reacherStepsPerSec: stepsPerSec(reacher, batch),
    viCellUpdatesPerSec: { mountaincar: await viRate(mountainCar, 200, 'mountaincar'), reacher: await viRate(reacher, 15, 'reacher') },
    batch,
  };
}

export function formatContinuous(b: ContinuousBench): string {
  const m = (x: number) => `${(x / 1e6).toFixed(1)} M`;
  return [
    `continuous (batch ${b.batch}, one core)`,
    `  MountainCar         ${m(b.mountaincarStepsPerSec)} env steps/s`,
    `  Reacher             ${m(b.reacherStepsPerSec)} env steps/s`,
    `  grid VI             ${m(b.viCellUpdatesPerSec.mountaincar)} (cell, action) updates/s on MountainCar 200², `
      + `${m(b.viCellUpdatesPerSec.reacher)} on Reacher 15⁴ (16 corners each)`,
  ].join('\n');
}
