// World-model error on continuous worlds: per (action, state dim) MSE and NMSE of the
// predicted next state (the paper's metric), beside the identity map ("nothing moves"), and
// the delta NMSE (error on the change s' − s), which the identity map scores 1 on.
// Angle dims use wrapped differences.

import type { ContinuousEnv } from '../envs/continuous.ts';
import { wrapAngle } from '../envs/continuous.ts';

/** A model's batched prediction, same shape as ContinuousEnv.step. */
/** May answer asynchronously (a model on a GPU backend). */
export type Predict = (states: Float64Array, actions: Int32Array, next: Float64Array, n: number) => void | Promise<void>;
/** A prediction made on this thread's CPU, answered at once (the pictures' open-loop rollouts need one). */
export type SyncPredict = (states: Float64Array, actions: Int32Array, next: Float64Array, n: number) => void;

export interface ActionDimError {
  action: number;
  dim: number;
  label: string;
  mse: number;
  nmse: number;
  identityNmse: number;
  /** null where the true change never varies (no scale to normalise by). */
  deltaNmse: number | null;
  deltaNmseInterior?: number | null;
  deltaNmseBoundary?: number | null;
}

export interface WmError {
  nmse: number;
  mse: number;
  identityNmse: number;
  deltaNmse: number;
  perActionDim: ActionDimError[];
  /** MountainCar only: the same split over interior states and boundary events. */
  deltaNmseInterior?: number;
  deltaNmseBoundary?: number;
  boundaryFraction?: number;
}

/** Per sample: did the true step hit a discontinuity (walls, clips)? Env-specific, optional. */
export type BoundaryOf = (state: Float64Array, off: number, action: number) => boolean;

interface Moments { n: number; sum: number; sq: number; err: number }
const fresh = (): Moments => ({ n: 0, sum: 0, sq: 0, err: 0 });
const variance = (m: Moments) => (m.n > 1 ? m.sq / m.n - (m.sum / m.n) ** 2 : 0);

/**
 * Evaluate `predict` against the true dynamics on the given states (n × stateDim), for every
 * action. A change whose variance is below `minVar` (relative to the dim's squared scale) counts
 * as never varying.
 */
export async function worldModelError(env: ContinuousEnv, predict: Predict, states: Float64Array, n: number,
  boundaryOf?: BoundaryOf, minVar = 1e-18): Promise<WmError> {
  const D = env.stateDim;
  const angle = new Uint8Array(D);
  for (const d of env.angleDims) angle[d] = 1;
  const diff = (d: number, a: number, b: number) => (angle[d] ? wrapAngle(a - b) : a - b);
  const actions = new Int32Array(n);
  const truth = new Float64Array(n * D);
  const model = new Float64Array(n * D);
  const per: ActionDimError[] = [];
  let boundaryCount = 0;
  for (let a = 0; a < env.nActions; a++) {
    actions.fill(a);
    env.step(states, actions, truth, n);
    await predict(states, actions, model, n);
    const isBoundary = new Uint8Array(n);
    if (boundaryOf) for (let i = 0; i < n; i++) { isBoundary[i] = boundaryOf(states, i * D, a) ? 1 : 0; boundaryCount += isBoundary[i]; }
    for (let d = 0; d < D; d++) {
      const next = fresh(); const delta = fresh(); const ident = fresh();
      const parts = [fresh(), fresh()]; // interior, boundary: delta moments and model error
      for (let i = 0; i < n; i++) {
        const k = i * D + d;
        const e = diff(d, model[k], truth[k]);
        const ch = diff(d, truth[k], states[k]);
        // Angles: the spread of the wrapped next angle, measured around the wrapped mean.
        const t = angle[d] ? wrapAngle(truth[k]) : truth[k];
        next.n++; next.sum += t; next.sq += t * t; next.err += e * e;
        delta.n++; delta.sum += ch; delta.sq += ch * ch;
        ident.err += ch * ch;
        const p = parts[isBoundary[i]];
        p.n++; p.sum += ch; p.sq += ch * ch; p.err += e * e;
      }
      const mse = next.err / n;
      const vNext = variance(next);
      // The change is normalised by its mean square, not its variance about its mean: then the
      // identity map (error = −change) scores exactly 1, and only a change that is always zero
      // (Reacher's ω under zero torque) has no delta NMSE. A constant non-zero change (ω under
      // torque) has zero variance but a perfectly good scale.
      const msDelta = delta.sq / n;
      const scale = Math.max(1e-300, (env.uniformHigh[d] - env.uniformLow[d]) ** 2);
      const entry: ActionDimError = {
        action: a, dim: d, label: env.stateLabels[d], mse,
        nmse: mse / vNext,
        identityNmse: ident.err / n / vNext,
        deltaNmse: msDelta > minVar * scale ? mse / msDelta : null,
      };
      if (boundaryOf) {
        const split = (m: Moments) => { const ms = m.n > 0 ? m.sq / m.n : 0; return ms > minVar * scale ? (m.err / m.n) / ms : null; };
        entry.deltaNmseInterior = split(parts[0]);
        entry.deltaNmseBoundary = split(parts[1]);
      }
      per.push(entry);
    }
  }
  const mean = (xs: (number | null | undefined)[]) => {
    const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    return v.length ? v.reduce((s, x) => s + x, 0) / v.length : NaN;
  };
  const out: WmError = {
    nmse: mean(per.map((p) => p.nmse)),
    mse: mean(per.map((p) => p.mse)),
    identityNmse: mean(per.map((p) => p.identityNmse)),
    deltaNmse: mean(per.map((p) => p.deltaNmse)),
    perActionDim: per,
  };
  if (boundaryOf) {
    out.deltaNmseInterior = mean(per.map((p) => p.deltaNmseInterior));
    out.deltaNmseBoundary = mean(per.map((p) => p.deltaNmseBoundary));
    out.boundaryFraction = boundaryCount / (n * env.nActions);
  }
  return out;
}

/** Agreement NMSE between two models: MSE between their predictions / variance of the true next state. */
export async function agreementNmse(env: ContinuousEnv, a: Predict, b: Predict, states: Float64Array, n: number): Promise<number> {
  const D = env.stateDim;
  const angle = new Uint8Array(D);
  for (const d of env.angleDims) angle[d] = 1;
  const actions = new Int32Array(n);
  const pa = new Float64Array(n * D);
  const pb = new Float64Array(n * D);
  const truth = new Float64Array(n * D);
  let total = 0;
  for (let act = 0; act < env.nActions; act++) {
    actions.fill(act);
    await a(states, actions, pa, n);
    await b(states, actions, pb, n);
    env.step(states, actions, truth, n);
    for (let d = 0; d < D; d++) {
      const m = fresh();
      let err = 0;
      for (let i = 0; i < n; i++) {
        const k = i * D + d;
        const e = angle[d] ? wrapAngle(pa[k] - pb[k]) : pa[k] - pb[k];
        err += e * e;
        const t = angle[d] ? wrapAngle(truth[k]) : truth[k];
        m.n++; m.sum += t; m.sq += t * t;
      }
      total += err / n / variance(m);
    }
  }
  return total / (env.nActions * D);
}
