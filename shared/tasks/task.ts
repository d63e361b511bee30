// Every unit of work a pool thread can run, as plain serializable data: agent tasks
// (what workers run) and fit tasks (what the coordinator runs), with their outputs.

import type { TabularAgentArtifact, TabularAgentTask } from './tabular-agent.ts';
import type { FourRoomsInput } from '../experiments/fourrooms-config.ts';
import type { SeedResult } from '../experiments/fourrooms.ts';
import type { ContinuousConfig } from '../experiments/continuous-config.ts';
import type { ContinuousAgentArtifact, ContinuousOracleArtifact, ContinuousOracleTask, ContinuousSeedResult } from '../experiments/continuous.ts';
import type { ContinuousPqnArtifact, ContinuousPqnTask } from './continuous-pqn.ts';
import type { WorldModelWeights } from '../plearning/neural-model.ts';
import type { ExternalAgentArtifact } from '../agents/external.ts';

/** Fit and evaluate one seed's world model from its agents' artifacts. */
export interface FourRoomsFitTask {
  readonly kind: 'fourrooms-fit';
  readonly input: FourRoomsInput;
  readonly artifacts: readonly TabularAgentArtifact[];
}

/** The fitted kernel travels with the metrics, so runs can be compared model to model. */
export interface FourRoomsFitOutput { result: SeedResult; nStates: number; nActions: number; P: Float64Array }

export interface ContinuousFitTask {
  readonly kind: 'continuous-fit';
  readonly config: ContinuousConfig;
  readonly seedIndex: number;
  readonly agents: readonly ContinuousAgentArtifact[];
}

export interface ContinuousFitOutput {
  result: ContinuousSeedResult;
  weights: WorldModelWeights;
  /** The PQN agents the model was fitted from (their weights and training curves). */
  agents?: ContinuousPqnArtifact[];
}

export type AgentTask = TabularAgentTask | ContinuousOracleTask | ContinuousPqnTask;
export type AgentArtifact = TabularAgentArtifact | ContinuousOracleArtifact | ContinuousPqnArtifact | ExternalAgentArtifact;
export type FitTask = FourRoomsFitTask | ContinuousFitTask;
export type FitOutput = FourRoomsFitOutput | ContinuousFitOutput;
export type Task = AgentTask | FitTask;

export type TaskOutput<T extends Task> =
  T extends TabularAgentTask ? TabularAgentArtifact
    : T extends FourRoomsFitTask ? FourRoomsFitOutput
      : T extends ContinuousOracleTask ? ContinuousOracleArtifact
        : T extends ContinuousPqnTask ? ContinuousPqnArtifact
          : ContinuousFitOutput;

export const AGENT_TASK_KINDS: readonly AgentTask['kind'][] = ['tabular-agent', 'continuous-oracle', 'continuous-pqn'];

export type Progress = (done: number, total: number) => void;
