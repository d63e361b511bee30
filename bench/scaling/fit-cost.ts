// The centralized fit's cost as its agent count grows: A randomly initialised
// MountainCar PQN Q-networks (the quick preset's shape, 3 × 256), one training
// goal each in turn, fitted as a job's fit unit fits them (fitWorldModel, the
// job's batch of 512). Reported per A: time per fit step (median over the
// measured steps), the tensor memory the fit holds (the agents' networks, the
// model, Adam's moments) and the agents' weights as the fit's input.

import { qNetSpecOf, quickPqn } from '../../shared/agents/pqn-config.ts';
import { initQNet, qNetworkQFunction } from '../../shared/agents/q-network-tf.ts';
import { goalBackupTf, observeTf } from '../../shared/continuous/tf-goals.ts';
import { trainingGoals } from '../../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../../shared/envs/mountaincar.ts';
import { sampleStates } from '../../shared/experiments/continuous.ts';
import { DEFAULT_FIT_AGENTS_PER_STEP } from '../../shared/experiments/continuous-config.ts';
import { DEFAULT_MODEL } from '../../shared/plearning/neural-model.ts';
import { DEFAULT_FIT, fitWorldModel } from '../../shared/plearning/neural-fit.ts';
import type { FitAgent } from '../../shared/plearning/neural.ts';
import { initBackend } from '../../shared/tensor/backend.ts';
import { Rng } from '../../shared/util/rng.ts';

export interface FitCostRow {
  readonly agents: number;
  readonly msPerStep: number;
  /** Peak tensor bytes during the fit (MiB). */
  readonly tensorMb: number;
  /** The agents' weights as typed arrays, the fit's input (MiB). */
  readonly weightsMb: number;
  /** Agents whose networks a step evaluates (all of them, or the fit's per-step cap). */
  readonly agentsPerStep: number;
}

export interface FitCostBench { backend: string; hidden: number[]; batch: number; steps: number; rows: FitCostRow[] }

/** The default cap (as a job fits), then 256 agents without it: what the cap buys. */
const DEFAULT_ROWS: readonly { agents: number; cap?: number }[] = [
  { agents: 1 }, { agents: 4 }, { agents: 16 }, { agents: 64 }, { agents: 256 }, { agents: 256, cap: 256 },
];

export async function benchFitCost(plan: readonly { agents: number; cap?: number }[] = DEFAULT_ROWS, steps = 12): Promise<FitCostBench> {
  const { tf, backend } = await initBackend('auto');
  const env = mountainCar;
  const { goals, reward } = trainingGoals('mountaincar', 'position');
  const pqn = quickPqn('mountaincar', 'position');
  const spec = qNetSpecOf(pqn, env.nActions);
  const batch = 512;
  const rows: FitCostRow[] = [];
  for (const { agents: n, cap = DEFAULT_FIT_AGENTS_PER_STEP } of plan) {
    const rng = new Rng(7 + n);
    const weights = Array.from({ length: n }, () => initQNet(spec, rng));
    let weightBytes = 0;
    for (const w of weights) for (const p of w.params) weightBytes += p.data.byteLength;
    const agents: FitAgent[] = weights.map((w, i) => {
      const g = [goals[i % goals.length]];
      return { q: qNetworkQFunction(tf, w, g, observeTf('mountaincar')), backup: goalBackupTf('mountaincar', g, reward) };
    });
    const stamps: number[] = [];
    let peak = tf.memory().numBytes;
    try {
      await fitWorldModel(tf, {
        ...DEFAULT_FIT, model: { ...DEFAULT_MODEL, stateDim: env.stateDim, nActions: env.nActions, angleDims: [...env.angleDims] },
        steps, batchSize: batch, lr: 1e-3, logEvery: 1, agentsPerStep: cap,
      }, agents, (r, k, out) => sampleStates(env, 'uniform', r, out, k), new Rng(11), () => {
        stamps.push(performance.now());
        peak = Math.max(peak, tf.memory().numBytes);
      });
    } finally {
      for (const a of agents) a.q.dispose?.();
    }
    // The first two steps warm the kernels up; the median of the rest.
    const gaps = stamps.slice(2).map((t, i) => t - stamps[i + 1]).sort((a, b) => a - b);
    rows.push({ agents: n, msPerStep: gaps[Math.floor(gaps.length / 2)], tensorMb: peak / 2 ** 20, weightsMb: weightBytes / 2 ** 20, agentsPerStep: Math.min(n, cap) });
  }
  return { backend, hidden: [...spec.hidden], batch, steps, rows };
}
