export type { Progress, Task, TaskOutput } from '../shared/tasks/task.ts';

// The one dispatch point from a serializable task to the pure function in shared/
// that runs it. The local pool and (later) cluster workers both call this.

import { runTabularAgentTask } from '../shared/tasks/tabular-agent.ts';
import { resolveFourRoomsConfig } from '../shared/experiments/fourrooms-config.ts';
import { fitAndEvaluateSeed } from '../shared/experiments/fourrooms.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { fitAndEvaluateContinuous, runContinuousOracleTask } from '../shared/experiments/continuous.ts';
import type { Progress, Task, TaskOutput } from '../shared/tasks/task.ts';
import { runContinuousPqnTask } from '../shared/tasks/continuous-pqn.ts';
import { checkTaskMemory } from '../shared/tasks/memory.ts';
import type { BackendHandle } from '../shared/tensor/backend.ts';
import { initBackend } from '../shared/tensor/backend.ts';

// One TF backend per thread, loaded on first use (tabular tasks never pay for it).
let backend: Promise<BackendHandle> | undefined;
let backendName: string | undefined;

export async function tensorBackend(requested: ContinuousConfig['backend']): Promise<BackendHandle> {
  if (!backend || backendName !== requested) {
    backendName = requested;
    backend = initBackend(requested);
  }
  return backend;
}

/** Run one task; with `memoryBytes`, a task whose arrays would not fit is refused before it allocates. */
export async function runTask(task: Task, progress?: Progress, memoryBytes?: number): Promise<TaskOutput<Task>> {
  if (memoryBytes !== undefined) checkTaskMemory(task, memoryBytes);
  switch (task.kind) {
    case 'tabular-agent':
      return runTabularAgentTask(task, progress);
    case 'fourrooms-fit': {
      const { config, layout } = resolveFourRoomsConfig(task.input);
      return fitAndEvaluateSeed(config, layout, task.artifacts, progress);
    }
    case 'continuous-oracle':
      return runContinuousOracleTask(task, progress);
    case 'continuous-pqn': {
      const { tf } = await tensorBackend(task.config.backend);
      return runContinuousPqnTask(tf, task, progress);
    }
    case 'continuous-fit': {
      const { tf, backend: name, detail } = await tensorBackend(task.config.backend);
      // Progress: the fit is most of the work; evaluation gets the last tenth.
      const out = await fitAndEvaluateContinuous(tf, `${name}${detail ? ` (${detail})` : ''}`, task.config, task.agents, task.seedIndex,
        (phase, d, n) => progress?.(phase === 'fit' ? 0.9 * d / n : 0.9 + 0.1 * d / n, 1));
      return out;
    }
  }
}
