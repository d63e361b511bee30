// The one dispatch point from a serializable task to the pure function in shared/
// that runs it. The local pool and (later) cluster workers both call this.

import type { TabularAgentArtifact, TabularAgentTask } from '../shared/tasks/tabular-agent.ts';
import { runTabularAgentTask } from '../shared/tasks/tabular-agent.ts';
import { resolveFourRoomsConfig } from '../shared/experiments/fourrooms-config.ts';
import type { FourRoomsInput } from '../shared/experiments/fourrooms-config.ts';
import { fitAndEvaluateSeed } from '../shared/experiments/fourrooms.ts';
import type { SeedResult } from '../shared/experiments/fourrooms.ts';

/** Fit and evaluate one seed's world model from its agents' artifacts. */
export interface FourRoomsFitTask {
  readonly kind: 'fourrooms-fit';
  readonly input: FourRoomsInput;
  readonly artifacts: readonly TabularAgentArtifact[];
}

export type Task = TabularAgentTask | FourRoomsFitTask;
export type TaskOutput<T extends Task> = T extends TabularAgentTask ? TabularAgentArtifact : SeedResult;

export type Progress = (done: number, total: number) => void;

export function runTask(task: Task, progress?: Progress): TabularAgentArtifact | SeedResult {
  switch (task.kind) {
    case 'tabular-agent':
      return runTabularAgentTask(task, progress);
    case 'fourrooms-fit': {
      const { config, layout } = resolveFourRoomsConfig(task.input);
      return fitAndEvaluateSeed(config, layout, task.artifacts, progress);
    }
  }
}
