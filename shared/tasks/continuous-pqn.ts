// "Train one PQN agent on a goal subset with a seed" as a serializable task →
// artifact function, like the tabular agents: the distributed runtime ships it
// to a worker unchanged, and the artifact (weights + curves) is all the fit needs.

import type { TrainingCurves } from '../agents/curves.ts';
import type { PqnResult, QNetCheckpoint } from '../agents/pqn.ts';
import { trackPoints } from '../agents/pqn-config.ts';
import { trainPqn } from '../agents/pqn.ts';
import type { QNetWeights } from '../agents/q-network.ts';
import type { ContinuousEnvName } from '../envs/continuous-tasks.ts';
import { trainingGoals } from '../envs/continuous-tasks.ts';
import type { ContinuousConfig } from '../experiments/continuous-config.ts';
import { continuousEnv } from '../experiments/continuous.ts';
import type { TF } from '../tensor/backend.ts';

export interface ContinuousPqnTask {
  readonly kind: 'continuous-pqn';
  readonly config: ContinuousConfig;
  readonly seedIndex: number;
  readonly shardIndex: number;
  /** Which of the experiment's training goals this agent learns. */
  readonly goalIndices: readonly number[];
  /** Derived from the job seed, shardIndex and seedIndex (deriveSeed). */
  readonly seed: number;
}

export interface ContinuousPqnArtifact {
  readonly kind: 'continuous-pqn';
  readonly seedIndex: number;
  readonly shardIndex: number;
  readonly goalIndices: readonly number[];
  readonly weights: QNetWeights;
  readonly curves: TrainingCurves;
  readonly envSteps: number;
  readonly gradSteps: number;
  readonly wallMs: number;
  /** `--track n`: the n − 1 checkpoints before the final weights, in training order. */
  readonly checkpoints?: readonly QNetCheckpoint[];
}

export function goalLabel(experiment: ContinuousEnvName, family: string, index: number): string {
  return experiment === 'mountaincar' ? `${family} goal ${index}` : `fingertip goal ${index}`;
}

export async function runContinuousPqnTask(tf: TF, task: ContinuousPqnTask, onProgress?: (done: number, total: number) => void): Promise<ContinuousPqnArtifact> {
  const t0 = performance.now();
  const cfg = task.config;
  if (cfg.pqn === null) throw new RangeError('continuous-pqn task without PQN settings');
  const { goals, reward } = trainingGoals(cfg.experiment, cfg.goalFamily);
  const res: PqnResult = await trainPqn(tf, {
    env: continuousEnv(cfg.experiment),
    goals: task.goalIndices.map((i) => goals[i]),
    goalLabels: task.goalIndices.map((i) => goalLabel(cfg.experiment, cfg.goalFamily, i)),
    reward,
    gamma: cfg.gamma,
    config: cfg.pqn,
    seed: task.seed,
    ...(cfg.track !== undefined ? { checkpointUpdates: trackPoints(cfg.pqn, cfg.track).slice(0, -1).map((p) => p.update) } : {}),
  }, onProgress);
  return {
    kind: 'continuous-pqn', seedIndex: task.seedIndex, shardIndex: task.shardIndex, goalIndices: task.goalIndices,
    weights: res.weights, curves: res.curves, envSteps: res.envSteps, gradSteps: res.gradSteps, wallMs: performance.now() - t0,
    ...(res.checkpoints ? { checkpoints: res.checkpoints } : {}),
  };
}
