// The task memory budget: each estimated part against the arrays a real run
// allocates (the FourRooms kernel, Q tables, the oracle's grid transitions and Q
// tables), and a budget below the estimate refusing the task before it runs —
// in the task runner and through a worker thread pool.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gridTransitions } from '../shared/continuous/planning.ts';
import { envGrid } from '../shared/continuous/planning.ts';
import { buildWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import { parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { goalTask } from '../shared/continuous/planning.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { continuousEnv, runContinuousOracleTask } from '../shared/experiments/continuous.ts';
import { planJob } from '../shared/experiments/jobs.ts';
import type { JobSpec } from '../shared/experiments/jobs.ts';
import { estimateTaskMemory, MemoryBudgetError } from '../shared/tasks/memory.ts';
import { runTabularAgentTask } from '../shared/tasks/tabular-agent.ts';
import type { TabularAgentTask } from '../shared/tasks/tabular-agent.ts';
import type { Task } from '../shared/tasks/task.ts';
import type { ContinuousOracleTask } from '../shared/experiments/continuous.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import { runTask } from '../worker/run-task.ts';

const MIB = 2 ** 20;

/** Bytes of every typed array reachable from `v` (an artifact). */
function arrayBytes(v: unknown): number {
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + arrayBytes(x), 0);
  if (v && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + arrayBytes(x), 0);
  return 0;
}

const part = (t: Task, prefix: string) => {
  const p = estimateTaskMemory(t).parts.find((x) => x.what.startsWith(prefix));
  assert.ok(p, `a part named "${prefix}…" in ${JSON.stringify(estimateTaskMemory(t).parts)}`);
  return p.bytes;
};

const fourrooms: JobSpec = {
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 2000, goals: 4, goalsPerAgent: 2, reward: 'generic', fit: 'closed', support: 'full', seed: 3 },
};
const oracle: JobSpec = { experiment: 'mountaincar', options: { agent: 'oracle', grid: 41, goalsPerAgent: 2, seeds: 1, seed: 5 } };

describe('task memory estimates', () => {
  test('FourRooms: the kernel and Q tables are the bytes a run allocates', () => {
    const task = planJob(fourrooms).tasks[0].task as TabularAgentTask;
    const world = buildWorld(parseLayout(task.layoutText), task.variant);
    assert.equal(part(task, 'transition kernel'), world.P.byteLength);
    const artifact = runTabularAgentTask(task);
    const q = part(task, 'Q tables');
    const held = arrayBytes(artifact);
    assert.ok(Math.abs(q - held) <= 0.02 * held, `Q tables: estimated ${q} B, the artifact holds ${held} B`);
  });

  test('MountainCar oracle: grid transitions and Q tables match a real run', async () => {
    const task = planJob(oracle).tasks[0].task as ContinuousOracleTask;
    const env = continuousEnv(task.config.experiment);
    const grid = envGrid(env, task.config.grid);
    const { goals, reward } = trainingGoals(task.config.experiment, task.config.goalFamily);
    const trans = await gridTransitions(env, grid, (s, a, nx, n) => env.step(s, a, nx, n), goalTask(goals[0], reward));
    const estimated = part(task, 'grid transitions');
    assert.ok(estimated >= trans.bytes && estimated <= trans.bytes + 8 * MIB,
      `grid transitions: estimated ${estimated} B for ${trans.bytes} B held plus one chunk of temporaries`);
    const artifact = await runContinuousOracleTask(task);
    assert.equal(part(task, 'Q tables'), arrayBytes(artifact.tables));
  });

  test('a budget below the estimate refuses the task before it runs, naming what is large', async () => {
    const task = planJob(fourrooms).tasks[0].task;
    const need = estimateTaskMemory(task).bytes;
    await assert.rejects(runTask(task, undefined, need - 1), (e: unknown) => {
      assert.ok(e instanceof MemoryBudgetError);
      assert.match(e.message, /over its memory budget: needs about [\d.]+ MiB of arrays \(transition kernel \(\d+ states\) [\d.]+ MiB/);
      assert.match(e.message, /--task-memory-mb/);
      return true;
    });
    const ok = await runTask(task, undefined, need);
    assert.equal((ok as { kind: string }).kind, 'tabular-agent');
  });

  test('through a worker pool with --task-memory-mb: the big task fails with the reason, the pool keeps serving', async () => {
    const big = planJob({ experiment: 'mountaincar', options: { agent: 'oracle', grid: 2000, goalsPerAgent: 1, seeds: 1 } }).tasks[0].task;
    assert.ok(estimateTaskMemory(big).bytes > 64 * MIB);
    const pool = createLocalPool(1, { memoryMb: 64 });
    try {
      await assert.rejects(pool.run(big), /over its memory budget: needs about \d+\.\d MiB of arrays \(grid transitions \(2000\^2 cells\)/);
      const small = await pool.run(planJob(fourrooms).tasks[0].task);
      assert.equal(small.kind, 'tabular-agent');
    } finally {
      await pool.close();
    }
  });
});
