// Tabular P-learning: fix (Q, π, r, d, γ) and solve the Bellman equation for the
// kernel. With M[l,k] = r(s_k,g_l) + γ(1 − d(s_k,g_l)) V(s_k,g_l), every pair (s,a)
// satisfies M · P(·|s,a) = Q(s,a,·), one linear system per pair sharing one matrix.

import { pinv } from '../linalg/svd.ts';
import type { Pinv } from '../linalg/svd.ts';
import { projectSimplexInPlace } from '../linalg/simplex.ts';
import { Rng } from '../util/rng.ts';

/** Everything P-learning reads. Q and π are indexed [(l * nS + s) * nA + a]; r, d [l * nS + s]. */
export interface PLearningInput {
  readonly nStates: number;
  readonly nActions: number;
  readonly nGoals: number;
  readonly Q: Float64Array;
  readonly pi: Float64Array;
  readonly r: Float64Array;
  readonly d: Uint8Array;
  readonly gamma: number;
}

/** Candidate successors per pair: all states, or lists in CSR form (pair i: start[i]..start[i+1]). */
export type Support =
  | { readonly kind: 'full' }
  | { readonly kind: 'local'; readonly start: Int32Array; readonly state: Int32Array };

export interface Identifiability {
  /** rank(M) over all states and its singular values (descending). */
  readonly rankM: number;
  readonly singularValues: number[];
  /** Pairs whose candidate sub-matrix M_C has rank below |C| (always 0 when rank(M) = nS). */
  readonly rankDeficientPairs: number;
  /**
   * Groups of states whose columns of M are equal (within 1e-9 of the scale of M): no goal
   * in the set tells them apart, so no model class can say which of them a move reaches.
   */
  readonly tiedStates: number[][];
}

/** Groups of equal columns of M (pairwise comparison within tol; nS is small for tabular worlds). */
export function tiedColumns(M: Float64Array, G: number, nS: number, relTol = 1e-9): number[][] {
  let scale = 0;
  for (let k = 0; k < M.length; k++) scale = Math.max(scale, Math.abs(M[k]));
  const tol = relTol * (1 + scale);
  const groups: number[][] = [];
  const assigned = new Uint8Array(nS);
  for (let a = 0; a < nS; a++) {
    if (assigned[a]) continue;
    const group = [a];
    for (let b = a + 1; b < nS; b++) {
      if (assigned[b]) continue;
      let same = true;
      for (let l = 0; l < G && same; l++) same = Math.abs(M[l * nS + a] - M[l * nS + b]) <= tol;
      if (same) { group.push(b); assigned[b] = 1; }
    }
    if (group.length > 1) groups.push(group);
  }
  return groups;
}

export interface FitResult {
  /** P̂[(s * nA + a) * nS + s']. */
  readonly P: Float64Array;
  readonly identifiability: Identifiability;
  /** Deterministic model only: pairs whose best-matching column is not unique. */
  readonly unidentifiable?: UnidentifiablePair[];
}

export interface UnidentifiablePair { s: number; a: number; candidates: number[] }

/** M[l * nS + k]. */
export function buildM(inp: PLearningInput): Float64Array {
  const { nStates: nS, nActions: nA, nGoals: G, Q, pi, r, d, gamma } = inp;
  const M = new Float64Array(G * nS);
  for (let l = 0; l < G; l++) {
    for (let k = 0; k < nS; k++) {
      const lk = l * nS + k;
      let v = 0;
      if (!d[lk]) for (let a = 0; a < nA; a++) v += pi[lk * nA + a] * Q[lk * nA + a];
      M[lk] = r[lk] + gamma * v;
    }
  }
  return M;
}

function candidates(support: Support, nS: number, nA: number, s: number, a: number): Int32Array {
  if (support.kind === 'local') {
    const i = s * nA + a;
    return support.state.subarray(support.start[i], support.start[i + 1]);
  }
  return Int32Array.from({ length: nS }, (_, k) => k);
}

/** Columns C of M as a G × |C| row-major matrix. */
function subMatrix(M: Float64Array, G: number, nS: number, C: Int32Array): Float64Array {
  const out = new Float64Array(G * C.length);
  for (let l = 0; l < G; l++) for (let j = 0; j < C.length; j++) out[l * C.length + j] = M[l * nS + C[j]];
  return out;
}

function supportKey(C: Int32Array): string {
  return C.join(',');
}

/** Pseudo-inverses by candidate set, so the fit and its diagnostics decompose each M_C once. */
type PinvCache = Map<string, Pinv>;

function pinvOf(cache: PinvCache, M: Float64Array, G: number, nS: number, C: Int32Array): Pinv {
  const key = supportKey(C);
  let p = cache.get(key);
  if (!p) { p = pinv(subMatrix(M, G, nS, C), G, C.length); cache.set(key, p); }
  return p;
}

export function identifiability(inp: PLearningInput, support: Support, M = buildM(inp), cache: PinvCache = new Map()): Identifiability {
  const { nStates: nS, nActions: nA, nGoals: G } = inp;
  const full = pinvOf(cache, M, G, nS, candidates({ kind: 'full' }, nS, nA, 0, 0));
  let deficient = 0;
  if (support.kind === 'local') {
    for (let i = 0; i < nS * nA; i++) {
      const C = candidates(support, nS, nA, Math.floor(i / nA), i % nA);
      if (pinvOf(cache, M, G, nS, C).rank < C.length) deficient++;
    }
  } else if (full.rank < nS) deficient = nS * nA;
  return {
    rankM: full.rank, singularValues: Array.from(full.singularValues), rankDeficientPairs: deficient,
    tiedStates: tiedColumns(M, G, nS),
  };
}

/**
 * Closed form: the fixed point of gradient descent from P₀ (uniform over each pair's
 * candidates), P∞ = M_C⁺ q + (I − M_C⁺ M_C) P₀. One pseudo-inverse per distinct candidate set.
 * The result is not projected: it is a signed measure when the system is under-determined.
 */
export function fitClosedForm(inp: PLearningInput, support: Support): FitResult {
  const { nStates: nS, nActions: nA, nGoals: G, Q } = inp;
  const M = buildM(inp);
  const P = new Float64Array(nS * nA * nS);
  const pinvs: PinvCache = new Map();
  const cache = new Map<string, { Mp: Float64Array; base: Float64Array }>();
  const q = new Float64Array(G);
  for (let s = 0; s < nS; s++) {
    for (let a = 0; a < nA; a++) {
      const C = candidates(support, nS, nA, s, a);
      const key = supportKey(C);
      let entry = cache.get(key);
      if (!entry) {
        const Mc = subMatrix(M, G, nS, C);
        const Mp = pinvOf(pinvs, M, G, nS, C).pinv; // |C| × G
        // base = (I − M⁺M) P₀ with P₀ uniform on C; computed as P₀ − M⁺(M P₀).
        const n = C.length;
        const mp0 = new Float64Array(G);
        for (let l = 0; l < G; l++) { let acc = 0; for (let j = 0; j < n; j++) acc += Mc[l * n + j]; mp0[l] = acc / n; }
        const base = new Float64Array(n);
        for (let j = 0; j < n; j++) { let acc = 0; for (let l = 0; l < G; l++) acc += Mp[j * G + l] * mp0[l]; base[j] = 1 / n - acc; }
        entry = { Mp, base };
        cache.set(key, entry);
      }
      for (let l = 0; l < G; l++) q[l] = Q[(l * nS + s) * nA + a];
      const row = (s * nA + a) * nS;
      for (let j = 0; j < C.length; j++) {
        let acc = entry.base[j];
        for (let l = 0; l < G; l++) acc += entry.Mp[j * G + l] * q[l];
        P[row + C[j]] = acc;
      }
    }
  }
  return { P, identifiability: identifiability(inp, support, M, pinvs) };
}

export interface IterativeOptions {
  /** Sampled (s, a, g) updates in all. */
  readonly steps: number;
  /** Normalised step size: constant for the first half, then decayed linearly to 0 (stable for lr ∈ (0, 2)). */
  readonly lr: number;
  readonly seed: number;
}

/**
 * The sampled "inverse Q-learning" update: draw (s, a, g) uniformly, take a normalised
 * gradient step on ½(Q(s,a,g) − M_g · p)², project p = P̂(·|s,a) back onto the simplex
 * over its candidates. Starts from P₀ uniform over the candidates.
 */
export function fitIterative(inp: PLearningInput, support: Support, opts: IterativeOptions,
  onProgress?: (done: number) => void): FitResult {
  const { nStates: nS, nActions: nA, nGoals: G, Q } = inp;
  const M = buildM(inp);
  const P = new Float64Array(nS * nA * nS);
  const nPairs = nS * nA;
  const cStart = new Int32Array(nPairs + 1);
  const cList: number[] = [];
  for (let i = 0; i < nPairs; i++) {
    cStart[i] = cList.length;
    const C = candidates(support, nS, nA, Math.floor(i / nA), i % nA);
    for (const k of C) { cList.push(k); P[i * nS + k] = 1 / C.length; }
  }
  cStart[nPairs] = cList.length;
  const cState = Int32Array.from(cList);
  // Candidate probabilities live contiguously so the projection works on one slice.
  const p = new Float64Array(cState.length);
  for (let i = 0; i < nPairs; i++) for (let j = cStart[i]; j < cStart[i + 1]; j++) p[j] = P[i * nS + cState[j]];
  const scratch = new Float64Array(nS);
  const rng = new Rng(opts.seed);
  const every = Math.max(1, Math.floor(opts.steps / 100));
  const half = opts.steps / 2;
  for (let t = 0; t < opts.steps; t++) {
    const i = rng.int(nPairs);
    const l = rng.int(G);
    const lo = cStart[i];
    const hi = cStart[i + 1];
    const mRow = l * nS;
    let pred = 0;
    let mean = 0;
    for (let j = lo; j < hi; j++) { const m = M[mRow + cState[j]]; pred += m * p[j]; mean += m; }
    mean /= hi - lo;
    // On the simplex Σp = 1, so only the centred row M_g − mean moves the prediction; step along
    // it and normalise by its norm (NLMS on the affine set), else near-constant rows of M — sparse
    // goals, where every V is close to 1 — would give vanishing steps.
    let norm = 0;
    for (let j = lo; j < hi; j++) { const c = M[mRow + cState[j]] - mean; norm += c * c; }
    if (norm < 1e-300) continue;
    const eta = t < half ? opts.lr : opts.lr * (2 - (2 * t) / opts.steps);
    const g = (eta * (Q[(l * nS) * nA + i] - pred)) / norm;
    for (let j = lo; j < hi; j++) p[j] += g * (M[mRow + cState[j]] - mean);
    projectSimplexInPlace(p, lo, hi - lo, scratch);
    if (onProgress && t % every === 0) onProgress(t);
  }
  for (let i = 0; i < nPairs; i++) for (let j = cStart[i]; j < cStart[i + 1]; j++) P[i * nS + cState[j]] = p[j];
  return { P, identifiability: identifiability(inp, support, M) };
}

/**
 * Deterministic model class: P̂(s,a) is the candidate s' whose column M[·, s'] is nearest
 * to Q(s,a,·). Candidates within `tieTol` (relative to the scale of M) of the best are
 * reported as unidentifiable; the lowest index is used for P̂ so the output stays one-hot.
 */
export function fitDeterministic(inp: PLearningInput, support: Support, tieTol = 1e-9): FitResult {
  const { nStates: nS, nActions: nA, nGoals: G, Q } = inp;
  const M = buildM(inp);
  let scale = 0;
  for (let k = 0; k < M.length; k++) scale = Math.max(scale, Math.abs(M[k]));
  const tol = tieTol * (1 + scale) * Math.sqrt(G);
  const P = new Float64Array(nS * nA * nS);
  const unidentifiable: UnidentifiablePair[] = [];
  const dist = new Float64Array(nS);
  for (let s = 0; s < nS; s++) {
    for (let a = 0; a < nA; a++) {
      const C = candidates(support, nS, nA, s, a);
      let best = 0;
      for (let j = 0; j < C.length; j++) {
        let acc = 0;
        for (let l = 0; l < G; l++) { const e = M[l * nS + C[j]] - Q[(l * nS + s) * nA + a]; acc += e * e; }
        dist[j] = Math.sqrt(acc);
        if (dist[j] < dist[best]) best = j;
      }
      const tied: number[] = [];
      for (let j = 0; j < C.length; j++) if (dist[j] - dist[best] <= tol) tied.push(C[j]);
      if (tied.length > 1) unidentifiable.push({ s, a, candidates: tied });
      P[(s * nA + a) * nS + tied[0]] = 1;
    }
  }
  return { P, identifiability: identifiability(inp, support, M), unidentifiable };
}

/** Concatenate several agents' inputs (same world and γ) into one goal set. */
export function concatInputs(parts: readonly PLearningInput[]): PLearningInput {
  if (parts.length === 0) throw new Error('P-learning needs at least one agent');
  const { nStates: nS, nActions: nA, gamma } = parts[0];
  const G = parts.reduce((n, p) => n + p.nGoals, 0);
  const Q = new Float64Array(G * nS * nA);
  const pi = new Float64Array(G * nS * nA);
  const r = new Float64Array(G * nS);
  const d = new Uint8Array(G * nS);
  let l = 0;
  for (const p of parts) {
    if (p.nStates !== nS || p.nActions !== nA || p.gamma !== gamma) throw new Error('agents disagree on the world or γ');
    Q.set(p.Q, l * nS * nA); pi.set(p.pi, l * nS * nA); r.set(p.r, l * nS); d.set(p.d, l * nS);
    l += p.nGoals;
  }
  return { nStates: nS, nActions: nA, nGoals: G, Q, pi, r, d, gamma };
}
