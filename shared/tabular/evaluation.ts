// Tabular world-model evaluation: kernel error against the truth, and unseen
// "unsafe-state" tasks planned inside the learned model but scored exactly under
// the true kernel.

import { projectSimplexInPlace } from '../linalg/simplex.ts';
import type { Mdp } from './dynamic-programming.ts';
import { greedyPolicy, meanValue, optimalQ, policyEvaluation } from './dynamic-programming.ts';
import type { UnsafeTaskSpec } from './goals.ts';
import { unsafeTaskTables } from './goals.ts';

export interface KernelError { mse: number; maxAbsError: number }

/** MSE over all (s, a, s') entries and the largest absolute entry error. */
export function kernelError(Phat: Float64Array, P: Float64Array): KernelError {
  let sq = 0;
  let mx = 0;
  for (let i = 0; i < P.length; i++) {
    const e = Phat[i] - P[i];
    sq += e * e;
    const ae = Math.abs(e);
    if (ae > mx) mx = ae;
  }
  return { mse: sq / P.length, maxAbsError: mx };
}

/** Each row projected onto the probability simplex, so a signed closed-form fit can be planned in. */
export function asDistribution(Phat: Float64Array, nStates: number, nActions: number): Float64Array {
  const out = Phat.slice();
  const scratch = new Float64Array(nStates);
  for (let i = 0; i < nStates * nActions; i++) projectSimplexInPlace(out, i * nStates, nStates, scratch);
  return out;
}

export interface UnseenResult {
  label: string;
  /** Optimal return under the true kernel, averaged over the non-terminal start states. */
  rStar: number;
  /** Return, under the true kernel, of the greedy policy planned in the learned kernel. */
  rWM: number;
}

export function evaluateUnseen(truth: Mdp, model: Mdp, task: UnsafeTaskSpec): UnseenResult {
  const nS = truth.nStates;
  const nA = truth.nActions;
  const { r, d } = unsafeTaskTables(task, nS);
  const startsList: number[] = [];
  for (let s = 0; s < nS; s++) if (!d[s]) startsList.push(s);
  const starts = Int32Array.from(startsList);
  const qStar = optimalQ(truth, r, d);
  const rStar = meanValue(qStar, greedyPolicy(qStar, nS, nA), starts, nA);
  const qModel = optimalQ(model, r, d);
  const piWM = greedyPolicy(qModel, nS, nA);
  const qTrue = policyEvaluation(truth, r, d, piWM);
  return { label: task.label, rStar, rWM: meanValue(qTrue, piWM, starts, nA) };
}
