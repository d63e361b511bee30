// One step of the P-learning fit on the fast CPU addon, outside the TF.js engine,
// for the common case: plearn's own Q-networks, the experiment's goal rewards
// (sparse or gaussian, held constant in the gradient), MountainCar or Reacher
// observations, an L1 or squared residual, Adam. A profile of the TF.js step at
// MountainCar's quick shapes (3×256 agent, batch 512) showed 343 kernel
// dispatches per step and half the step outside any kernel; this runs the same
// arithmetic as a handful of sgemm calls and loops over the batch. The loss
// and gradients are those of bellmanResidualLoss up to float rounding
// (tests/native-mlp.test.ts checks several steps against the plain backend).
// Anything else — oracle tables, imported graphs, a reward gradient — keeps
// the TF.js path.

import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import { achieved, rewardOf } from '../envs/continuous-goals.ts';
import { wrapAngle } from '../envs/continuous.ts';
import { mountainCar } from '../envs/mountaincar.ts';
import { reacher } from '../envs/reacher.ts';
import type { TF, Tensor, Variable } from '../tensor/backend.ts';
import type { FastCpuAddon } from '../tensor/fast-cpu.ts';
import { activeFastCpu } from '../tensor/fast-cpu.ts';
import type { MlpSpec } from '../tensor/mlp.ts';
import { backingArrays, NativeMlp, nativeMlp, nativeStepsEnabled } from '../tensor/native-mlp.ts';
import type { FitConfig } from './neural-fit.ts';
import type { FitAgent } from './neural.ts';

/** What a Q-function exposes for the native step: plearn's MLP and how its input rows are built. */
export interface NativeQNet {
  readonly spec: MlpSpec;
  readonly params: readonly Tensor[];
  readonly obsDims: readonly number[];
  /** Goal columns of each of its goals (nGoals × goalDims.length). */
  readonly goalRows: Float32Array;
  readonly inputNorm?: { readonly shift: readonly number[]; readonly scale: readonly number[] };
}

/** The goals behind an agent's backup, for the native step (fitAndEvaluateContinuous sets it). */
export interface NativeGoals {
  readonly experiment: 'mountaincar' | 'reacher';
  readonly goals: readonly ContinuousGoal[];
  readonly reward: RewardSpec;
}

export interface NativeBatch { readonly agent: number; readonly states: Float32Array; readonly actions: Int32Array; readonly goals: Int32Array; readonly k: number }

export interface NativeFitStep {
  /** One Adam step over the batches; returns the loss (mean residual penalty). */
  step(batches: readonly NativeBatch[], step: number, lr: number): number;
}

/** The native step for these agents and this fit, or undefined when some part needs the TF.js path. */
export function nativeFitStep(tf: TF, cfg: Pick<FitConfig, 'model' | 'gamma' | 'loss' | 'terminalStates' | 'batchSize'>, agents: readonly FitAgent[],
  params: readonly Variable[], m: readonly Variable[], v: readonly Variable[]): NativeFitStep | undefined {
  const native = nativeStepsEnabled() ? activeFastCpu(tf) : undefined;
  const spec = cfg.model;
  if (!native || agents.some((a) => !a.q.native || !a.nativeGoals || a.rewardGradient)) return undefined;
  if (agents.some((a) => a.nativeGoals!.experiment !== agents[0].nativeGoals!.experiment)) return undefined;
  const exp = agents[0].nativeGoals!.experiment;
  const env = exp === 'mountaincar' ? mountainCar : reacher;
  if (spec.stateDim !== env.stateDim || spec.nActions < 1) return undefined;
  const D = spec.stateDim;
  const A = spec.nActions;
  const O = env.obsDim;
  const wm: MlpSpec = { inDim: D + A, hidden: spec.hidden, outDim: D, activation: spec.activation, layerNorm: false, head: 'linear' };
  const B = cfg.batchSize;
  const model = new NativeMlp(native, wm, B);
  const wmGrads = model.paramGrads();
  const sumGrads = wmGrads.map((g) => new Float32Array(g.length));
  const xW = new Float32Array(B * (D + A));
  const next = new Float32Array(B * D);
  const obsNext = new Float64Array(B * O);
  const obsNow = new Float64Array(B * O);
  // The env's own observe reads float64 states.
  const states64 = new Float64Array(B * D);
  const observe = (s: Float32Array, k: number, out: Float64Array) => {
    for (let j = 0; j < k * D; j++) states64[j] = s[j];
    env.observe(states64, out, k);
  };
  const df = new Float32Array(B * D);
  const angle = new Uint8Array(D);
  for (const d of spec.angleDims) angle[d] = 1;
  const box = spec.inputBox;
  const qs = agents.map((a) => {
    const q = a.q.native!;
    const P = backingArrays(tf, q.params);
    // Targets and predicted states go through the agent together: 2B rows.
    return P && { q, P, net: nativeMlp(native, q.spec, 2 * B), inDim: q.spec.inDim, nQ: q.obsDims.length, nG: q.spec.inDim - q.obsDims.length };
  });
  if (qs.some((x) => !x)) return undefined;
  const widest = Math.max(...qs.map((x) => x!.inDim));
  const xQ = new Float32Array(2 * B * widest);
  const dxQ = new Float32Array(B * widest);
  const target = new Float64Array(B);
  const dObs = new Float64Array(O);

  /** Input rows of agent j for observations obs (k × O) and goals g. */
  const rows = (j: number, obs: Float64Array, goals: Int32Array, k: number, out: Float32Array) => {
    const { q, inDim, nQ, nG } = qs[j]!;
    const s = q.inputNorm;
    for (let i = 0; i < k; i++) {
      for (let c = 0; c < inDim; c++) {
        const x = c < nQ ? obs[i * O + q.obsDims[c]] : q.goalRows[goals[i] * nG + c - nQ];
        out[i * inDim + c] = s ? (x - s.shift[c]) * s.scale[c] : x;
      }
    }
  };
  /** Reward and termination of the batch's goal i at observations obs, as the env's goals score them. */
  const backup = (g: NativeGoals, obs: Float64Array, goals: Int32Array, i: number): [number, number] => {
    const goal = g.goals[goals[i]];
    return [rewardOf(obs, i * O, goal, g.reward), g.reward.terminateOnGoal && achieved(obs, i * O, goal, g.reward.radius) ? 1 : 0];
  };

  return {
    step(batches, stepIndex, lr) {
      const W = backingArrays(tf, params);
      if (!W) throw new Error('native fit: the world model left the CPU backend');
      const count = batches.reduce((n, b) => n + b.k, 0);
      if (batches.length > 1) for (const g of sumGrads) g.fill(0);
      let total = 0;
      for (const b of batches) {
        const { k, states: s, actions: a, goals } = b;
        const agent = agents[b.agent];
        const qa = qs[b.agent]!;
        const net = qa.net;
        // ŝ' = wrap(s + f(s, a)).
        for (let i = 0; i < k; i++) {
          for (let d = 0; d < D; d++) xW[i * (D + A) + d] = box ? (2 * (s[i * D + d] - box.low[d])) / (box.high[d] - box.low[d]) - 1 : s[i * D + d];
          for (let c = 0; c < A; c++) xW[i * (D + A) + D + c] = c === a[i] ? 1 : 0;
        }
        const f = model.forward(W, xW, k);
        for (let j = 0; j < k * D; j++) {
          const x = s[j] + f[j];
          next[j] = angle[j % D] ? wrapAngle(x) : x;
        }
        // Targets Q(s, a, g) and Q(ŝ', ·, g) in one pass: rows [0, k) and [k, 2k); the second half's activations serve the backward pass.
        observe(s, k, obsNow);
        rows(b.agent, obsNow, goals, k, xQ);
        observe(next, k, obsNext);
        rows(b.agent, obsNext, goals, k, xQ.subarray(k * qa.inDim));
        const qBoth = net.forward(qa.P, xQ, 2 * k);
        for (let i = 0; i < k; i++) target[i] = qBoth[i * A + a[i]];
        const qNext = qBoth.subarray(k * A);
        const dQ = net.dOut;
        dQ.fill(0, 0, k * A);
        for (let i = 0; i < k; i++) {
          let best = 0;
          for (let c = 1; c < A; c++) if (qNext[i * A + c] > qNext[i * A + best]) best = c;
          const [r, d] = backup(agent.nativeGoals!, obsNext, goals, i);
          const res = target[i] - (r + cfg.gamma * (1 - d) * qNext[i * A + best]);
          const keep = cfg.terminalStates === 'skip' ? 1 - backup(agent.nativeGoals!, obsNow, goals, i)[1] : 1;
          total += keep * (cfg.loss === 'mse' ? res * res : Math.abs(res));
          // ∂penalty/∂v = ∂penalty/∂res · (−γ(1 − d)); |x|'s derivative at 0 taken as 0, as TF's.
          const dRes = cfg.loss === 'mse' ? 2 * res : Math.sign(res);
          dQ[i * A + best] = (keep * dRes * -cfg.gamma * (1 - d)) / count;
        }
        net.backward(qa.P, xQ.subarray(k * qa.inDim), k, dQ, null, dxQ, k);
        // Back through the input rows' observation columns and the observation to ŝ', then the model (wrap: ∂ = 1).
        const { q, inDim, nQ } = qa;
        df.fill(0, 0, k * D);
        for (let i = 0; i < k; i++) {
          dObs.fill(0);
          for (let c = 0; c < nQ; c++) dObs[q.obsDims[c]] += dxQ[i * inDim + c] * (q.inputNorm ? q.inputNorm.scale[c] : 1);
          if (exp === 'mountaincar') {
            df[i * 2] = dObs[0];
            df[i * 2 + 1] = dObs[1];
          } else {
            const [t1, t2] = [next[i * 4], next[i * 4 + 1]];
            df[i * 4] = dObs[0] - dObs[4] * Math.sin(t1) + dObs[5] * Math.cos(t1);
            df[i * 4 + 1] = dObs[1] - dObs[4] * Math.sin(t2) + dObs[5] * Math.cos(t2);
            df[i * 4 + 2] = dObs[2];
            df[i * 4 + 3] = dObs[3];
          }
        }
        // The model's activations are still this batch's (the agent has its own buffers). One batch: no sum to keep.
        if (batches.length === 1) {
          model.backward(W, xW, k, df, sumGrads, null);
          continue;
        }
        model.backward(W, xW, k, df, wmGrads, null);
        for (let p = 0; p < sumGrads.length; p++) { const [acc, g] = [sumGrads[p], wmGrads[p]]; for (let i = 0; i < g.length; i++) acc[i] += g[i]; }
      }
      adamInPlace(native, tf, params, sumGrads, m, v, stepIndex, lr);
      return total / Math.max(count, 1);
    },
  };
}

/** fitAdamStep's update (optax's defaults), in place on the variables' arrays. */
function adamInPlace(native: FastCpuAddon, tf: TF, params: readonly Variable[], grads: readonly Float32Array[], m: readonly Variable[], v: readonly Variable[],
  step: number, lr: number): void {
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  const P = backingArrays(tf, params, true);
  const M = backingArrays(tf, m, true);
  const V = backingArrays(tf, v, true);
  if (!P || !M || !V) throw new Error('native fit: the optimizer state left the CPU backend');
  for (let i = 0; i < P.length; i++) native.adam(P[i], grads[i], M[i], V[i], lr, beta1, beta2, eps, 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1));
}
