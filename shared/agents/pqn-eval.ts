// Greedy evaluation of a Q-network during training (the reference's EVAL_NUM_ENVS
// episodes per goal): every goal's episodes step together, the discounted return
// counts the reward on the step that reaches the goal and nothing after it.

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import type { Tensor } from '../tensor/backend.ts';
import type { TF } from '../tensor/backend.ts';
import type { Rng } from '../util/rng.ts';
import { argmaxRow, relabelReward } from './pqn-pieces.ts';
import type { QNetSpec } from './q-network.ts';
import { fillInputRow, qNetInputDim, qValues } from './q-network-tf.ts';

/** Mean discounted greedy return per goal over `episodes` reset states each. */
export async function greedyEvaluation(tf: TF, env: ContinuousEnv, spec: QNetSpec, params: readonly Tensor[], goals: readonly ContinuousGoal[],
  reward: RewardSpec, gamma: number, episodes: number, rng: Rng): Promise<number[]> {
  const G = goals.length;
  const n = G * episodes;
  const D = env.stateDim;
  const O = env.obsDim;
  const A = env.nActions;
  const inDim = qNetInputDim(spec);
  let states = new Float64Array(n * D);
  let next = new Float64Array(n * D);
  const obs = new Float64Array(n * O);
  const rows = new Float32Array(n * inDim);
  const actions = new Int32Array(n);
  const active = new Uint8Array(n).fill(1);
  const ret = new Float64Array(n);
  env.reset(rng, states, n);
  let discount = 1;
  for (let t = 0; t < env.maxSteps; t++) {
    env.observe(states, obs, n);
    for (let i = 0; i < n; i++) fillInputRow(spec, obs, i * O, goals[Math.floor(i / episodes)].target, 0, rows, i * inDim);
    const q = await qValues(tf, spec, params, rows, n);
    for (let i = 0; i < n; i++) actions[i] = argmaxRow(q, i * A, A);
    env.step(states, actions, next, n);
    env.observe(next, obs, n);
    let any = false;
    for (let i = 0; i < n; i++) {
      if (!active[i]) continue;
      const { r, done } = relabelReward(obs, i * O, goals[Math.floor(i / episodes)], reward);
      ret[i] += discount * r;
      if (done) active[i] = 0;
      else any = true;
    }
    [states, next] = [next, states];
    discount *= gamma;
    if (!any) break;
  }
  const out: number[] = [];
  for (let g = 0; g < G; g++) {
    let s = 0;
    for (let e = 0; e < episodes; e++) s += ret[g * episodes + e];
    out.push(s / episodes);
  }
  return out;
}
