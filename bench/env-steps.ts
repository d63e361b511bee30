// The environment rows of `npm run bench -- jax` (bench/jax_envs.py is the JAX
// side): one batched environment step of 4096 environments, and one sweep of
// grid value iteration over the evaluation grids (MountainCar 200², Reacher
// 15⁴), each on plearn's own code path — the pure step functions of
// shared/envs and grid-vi.ts's sweep over precomputed transitions.

import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import type { ContinuousEnv } from '../shared/envs/continuous.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';
import { valueSweeps, type Transitions } from '../shared/continuous/grid-vi.ts';
import { envGrid, goalTask, gridTransitions } from '../shared/continuous/planning.ts';
import { Rng } from '../shared/util/rng.ts';

export const ENV_ROWS = ['env mountaincar', 'env reacher', 'vi mountaincar', 'vi reacher'] as const;
export type EnvRowName = (typeof ENV_ROWS)[number];

export const ENV_BATCH = 4096;
/** Grid points per dimension, as the continuous section and the paper's evaluation. */
const VI_POINTS = { mountaincar: 200, reacher: 15 } as const;
const GAMMA = 0.99;

/** One row's plearn step: `block(k)` runs k steps and returns once their results are read back. */
export interface RowStep {
  block(k: number): Promise<void>;
  dispose(): void;
}

const envOf = (name: string): ContinuousEnv => (name === 'mountaincar' ? mountainCar : reacher);

/** The row's unit of work per step: environments stepped, or (cell, action) backups of a sweep. */
export function envRowBatch(row: EnvRowName): number {
  const [kind, name] = row.split(' ');
  if (kind === 'env') return ENV_BATCH;
  const env = envOf(name);
  return VI_POINTS[name as keyof typeof VI_POINTS] ** env.stateDim * env.nActions;
}

export async function envRowStep(row: EnvRowName): Promise<RowStep> {
  const [kind, name] = row.split(' ');
  const env = envOf(name);
  if (kind === 'env') {
    const rng = new Rng(3);
    let s = new Float64Array(ENV_BATCH * env.stateDim);
    let next = new Float64Array(s.length);
    env.reset(rng, s, ENV_BATCH);
    const a = Int32Array.from({ length: ENV_BATCH }, () => rng.int(env.nActions));
    return {
      block: async (k) => {
        for (let i = 0; i < k; i++) {
          env.step(s, a, next, ENV_BATCH);
          [s, next] = [next, s];
        }
      },
      dispose: () => {},
    };
  }
  const key = name as keyof typeof VI_POINTS;
  const grid = envGrid(env, VI_POINTS[key]);
  const { goals, reward } = trainingGoals(key);
  const trans: Transitions = await gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), goalTask(goals[0], reward));
  const V = new Float64Array(trans.cells);
  const scratch = new Float64Array(trans.cells);
  return {
    block: async (k) => valueSweeps(trans, GAMMA, V, scratch, k),
    dispose: () => {},
  };
}
