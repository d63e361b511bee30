// Exact dynamic programming on a dense kernel P[(s*nA + a)*nS + s'] for one goal's
// reward row r(s') and termination row d(s'). This is the oracle agent and the
// planner inside a learned model, so it must be exact to ~1e-12: value iteration
// finds the greedy policy, policy iteration with direct linear solves polishes it.

import { solveLinear } from '../linalg/solve.ts';

export interface Mdp {
  readonly nStates: number;
  readonly nActions: number;
  readonly P: Float64Array;
  readonly gamma: number;
}

/** One Bellman backup of V into Q: Q(s,a) = Σ_s' P (r + γ(1−d)V). Allocation-free given `Q`. */
export function backup(mdp: Mdp, r: Float64Array, d: Uint8Array, V: Float64Array, Q: Float64Array,
  rOff = 0): void {
  const { nStates: nS, nActions: nA, P, gamma } = mdp;
  for (let i = 0; i < nS * nA; i++) {
    const row = i * nS;
    let q = 0;
    for (let t = 0; t < nS; t++) {
      const p = P[row + t];
      if (p !== 0) q += p * (r[rOff + t] + (d[rOff + t] ? 0 : gamma * V[t]));
    }
    Q[i] = q;
  }
}

export interface ViOptions { tol?: number; maxIters?: number }

/** Plain value iteration until max |ΔV| < tol; returns Q and the sweep count. */
export function valueIteration(mdp: Mdp, r: Float64Array, d: Uint8Array, opts: ViOptions = {},
  rOff = 0): { Q: Float64Array; iters: number } {
  const { nStates: nS, nActions: nA } = mdp;
  const tol = opts.tol ?? 1e-12;
  const maxIters = opts.maxIters ?? 100_000;
  const V = new Float64Array(nS);
  const Q = new Float64Array(nS * nA);
  let iters = 0;
  while (iters < maxIters) {
    backup(mdp, r, d, V, Q, rOff);
    iters++;
    let delta = 0;
    for (let s = 0; s < nS; s++) {
      let m = -Infinity;
      for (let a = 0; a < nA; a++) m = Math.max(m, Q[s * nA + a]);
      delta = Math.max(delta, Math.abs(m - V[s]));
      V[s] = m;
    }
    if (delta < tol) break;
  }
  return { Q, iters };
}

/** Q^π exactly, by solving (I − γ P_π D) V = P_π r, where π[s*nA + a] are action probabilities. */
export function policyEvaluation(mdp: Mdp, r: Float64Array, d: Uint8Array, pi: Float64Array,
  rOff = 0, piOff = 0): Float64Array {
  const { nStates: nS, nActions: nA, P, gamma } = mdp;
  const A = new Float64Array(nS * nS);
  const b = new Float64Array(nS);
  for (let s = 0; s < nS; s++) {
    A[s * nS + s] += 1;
    for (let a = 0; a < nA; a++) {
      const w = pi[piOff + s * nA + a];
      if (w === 0) continue;
      const row = (s * nA + a) * nS;
      for (let t = 0; t < nS; t++) {
        const p = P[row + t];
        if (p === 0) continue;
        b[s] += w * p * r[rOff + t];
        if (!d[rOff + t]) A[s * nS + t] -= gamma * w * p;
      }
    }
  }
  const V = solveLinear(A, b, nS);
  const Q = new Float64Array(nS * nA);
  backup(mdp, r, d, V, Q, rOff);
  return Q;
}

/** Greedy one-hot policy of Q (lowest action index among exact ties). */
export function greedyPolicy(Q: Float64Array, nStates: number, nActions: number,
  out: Float64Array = new Float64Array(nStates * nActions), qOff = 0): Float64Array {
  for (let s = 0; s < nStates; s++) {
    let best = 0;
    for (let a = 1; a < nActions; a++) if (Q[qOff + s * nActions + a] > Q[qOff + s * nActions + best]) best = a;
    for (let a = 0; a < nActions; a++) out[s * nActions + a] = a === best ? 1 : 0;
  }
  return out;
}

/**
 * Q* to machine precision: value iteration to a loose tolerance gives a near-optimal greedy
 * policy, then policy iteration (exact evaluation, improvement only on a strict gain) ends
 * in a handful of solves on the exact fixed point.
 */
export function optimalQ(mdp: Mdp, r: Float64Array, d: Uint8Array, rOff = 0): Float64Array {
  const { nStates: nS, nActions: nA } = mdp;
  let { Q } = valueIteration(mdp, r, d, { tol: 1e-4, maxIters: 300 }, rOff);
  const pi = greedyPolicy(Q, nS, nA);
  for (let it = 0; it < 1000; it++) {
    Q = policyEvaluation(mdp, r, d, pi, rOff);
    let changed = false;
    for (let s = 0; s < nS; s++) {
      let cur = 0;
      for (let a = 0; a < nA; a++) if (pi[s * nA + a] === 1) cur = a;
      let best = cur;
      for (let a = 0; a < nA; a++) {
        const gain = Q[s * nA + a] - Q[s * nA + best];
        if (gain > 1e-13 * (1 + Math.abs(Q[s * nA + best]))) best = a;
      }
      if (best !== cur) {
        changed = true;
        pi[s * nA + cur] = 0;
        pi[s * nA + best] = 1;
      }
    }
    if (!changed) return Q;
  }
  return Q;
}

/** V^π averaged over the given start states. */
export function meanValue(Q: Float64Array, pi: Float64Array, starts: Int32Array, nActions: number): number {
  let sum = 0;
  for (let k = 0; k < starts.length; k++) {
    const s = starts[k];
    for (let a = 0; a < nActions; a++) sum += pi[s * nActions + a] * Q[s * nActions + a];
  }
  return sum / starts.length;
}
