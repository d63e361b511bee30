// A task's memory, estimated from its description before it allocates anything.
// V8's heap limits do not count typed arrays (transition kernels, VI grids,
// rollout buffers, Q tables), which is where a task's size lives; so a worker with
// a memory budget checks this estimate first and refuses a task that would not
// fit, naming what is large, instead of letting the thread (or the pod) run out.
// Each part is the byte count of the arrays the task's own code allocates for it
// (tests/task-memory.test.ts compares them with real runs).

import { cellCount } from '../continuous/grid.ts';
import { estimateTransitionBytes } from '../continuous/grid-vi.ts';
import { envGrid } from '../continuous/planning.ts';
import { N_ACTIONS } from '../envs/fourrooms/fourrooms.ts';
import { parseLayout, stateCount } from '../envs/fourrooms/layout.ts';
import { continuousEnv } from '../experiments/continuous.ts';
import type { ContinuousConfig } from '../experiments/continuous-config.ts';
import { resolveFourRoomsConfig } from '../experiments/fourrooms-config.ts';
import { continuousArtifactBytes, tabularArtifactBytes } from '../protocol/limits.ts';
import { trainingGoals } from '../envs/continuous-tasks.ts';
import type { Task } from './task.ts';

export interface MemoryPart { readonly what: string; readonly bytes: number }
export interface MemoryEstimate { readonly bytes: number; readonly parts: readonly MemoryPart[] }

const MIB = 2 ** 20;

/** A task larger than its worker's memory budget (`plearn worker --task-memory-mb`). */
export class MemoryBudgetError extends Error {
  constructor(readonly estimate: MemoryEstimate, readonly budgetBytes: number) {
    const parts = [...estimate.parts].sort((a, b) => b.bytes - a.bytes).slice(0, 3)
      .map((p) => `${p.what} ${(p.bytes / MIB).toFixed(1)} MiB`).join(', ');
    super(`over its memory budget: needs about ${(estimate.bytes / MIB).toFixed(1)} MiB of arrays (${parts}); `
      + `this worker allows ${(budgetBytes / MIB).toFixed(1)} MiB per task (--task-memory-mb)`);
    this.name = 'MemoryBudgetError';
  }
}

/** A FourRooms kernel P[s, a, s'] (float64): the true one building the world allocates, or a fitted one. */
const kernel = (nS: number, what = `transition kernel (${nS} states)`): MemoryPart => ({ what, bytes: 8 * nS * N_ACTIONS * nS });

function continuousParts(cfg: ContinuousConfig): MemoryPart[] {
  const env = continuousEnv(cfg.experiment);
  const grid = envGrid(env, cfg.grid);
  const cells = cellCount(grid);
  return [
    { what: `grid transitions (${cfg.grid}^${env.stateDim} cells)`, bytes: estimateTransitionBytes(grid, env.nActions) },
    // Value iteration: Q and V on the grid (float32), two V buffers.
    { what: 'grid value iteration', bytes: 4 * cells * (env.nActions + 2) },
  ];
}

/** Rollout and training-sample buffers of a PQN agent (shared/agents/pqn.ts): float64 observations, float32 input rows. */
function pqnParts(cfg: ContinuousConfig): MemoryPart[] {
  const pqn = cfg.pqn;
  if (!pqn) return [];
  const O = continuousEnv(cfg.experiment).obsDim;
  const { numEnvs: N, numSteps: T } = pqn;
  const inDim = pqn.obsDims.length + pqn.goalDims.length;
  const M = T * N * (1 + (pqn.her === 'none' ? 0 : pqn.herK));
  return [
    // Observations before and after each step, actions and goals.
    { what: 'rollout buffers', bytes: 2 * 8 * T * N * O + 2 * 4 * T * N },
    // Input rows now and next (float32), action, reward, done and order per sample.
    { what: 'training samples', bytes: 2 * 4 * M * inDim + (4 + 4 + 1 + 4) * M },
  ];
}

export function estimateTaskMemory(task: Task): MemoryEstimate {
  let parts: MemoryPart[];
  switch (task.kind) {
    case 'tabular-agent': {
      const nS = stateCount(parseLayout(task.layoutText));
      parts = [kernel(nS), { what: 'Q tables and checkpoints', bytes: tabularArtifactBytes(task.goals.length, nS, N_ACTIONS, task.checkpoints.length) }];
      break;
    }
    case 'fourrooms-fit': {
      const nS = stateCount(resolveFourRoomsConfig(task.input).layout);
      // The true kernel, and the fitted one the fit returns.
      parts = [kernel(nS), kernel(nS, 'fitted kernel')];
      break;
    }
    case 'continuous-oracle': {
      const env = continuousEnv(task.config.experiment);
      const goals = task.goalIndices?.length ?? trainingGoals(task.config.experiment, task.config.goalFamily).goals.length;
      const cells = cellCount(envGrid(env, task.config.grid));
      parts = [...continuousParts(task.config), { what: `Q tables (${goals} goals)`, bytes: continuousArtifactBytes(goals, cells, env.nActions) }];
      break;
    }
    case 'continuous-pqn':
      parts = pqnParts(task.config);
      break;
    case 'continuous-fit':
      // Evaluation plans unseen tasks by value iteration on the grid, through the fitted model.
      parts = continuousParts(task.config);
      break;
  }
  return { bytes: parts.reduce((n, p) => n + p.bytes, 0), parts };
}

/** Throw MemoryBudgetError when the task's estimate exceeds `budgetBytes`. */
export function checkTaskMemory(task: Task, budgetBytes: number): void {
  const estimate = estimateTaskMemory(task);
  if (estimate.bytes > budgetBytes) throw new MemoryBudgetError(estimate, budgetBytes);
}
