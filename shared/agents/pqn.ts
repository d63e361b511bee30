// PQN (the reference implementation's agent), one goal-conditioned agent: NUM_ENVS ε-greedy environments
// step NUM_STEPS times, each transition is repeated with K hindsight goals, and
// one epoch of minibatch TD updates runs over the lot — no replay buffer, no
// target network. Everything is a function of (env, goals, config, seed).

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import type { TF, Tensor, Variable } from '../tensor/backend.ts';
import type { MlpSpec } from '../tensor/mlp.ts';
import { mlpForward } from '../tensor/mlp.ts';
import type { RAdamOptimizer } from '../tensor/radam.ts';
import { clipByGlobalNorm, radam } from '../tensor/radam.ts';
import { activeFastCpu } from '../tensor/fast-cpu.ts';
import { backingArrays, nativeMlp, nativeStepsEnabled } from '../tensor/native-mlp.ts';
import { Rng } from '../util/rng.ts';
import type { TrainingCurves } from './curves.ts';
import type { PqnConfig } from './pqn-config.ts';
import { pqnCounts, qNetSpecOf } from './pqn-config.ts';
import { argmaxRow, epsilonAt, futureStep, linearSchedule, optimisticResetIndices, permutation, relabelReward, tdTargets } from './pqn-pieces.ts';
import type { QNetWeights } from './q-network.ts';
import { qNetMlpSpec } from './q-network.ts';
import { fillInputRow, initQNet, qNetFromTensors, qNetInputDim, qNetTensors, qValues } from './q-network-tf.ts';
import { greedyEvaluation } from './pqn-eval.ts';

export interface PqnRun {
  readonly env: ContinuousEnv;
  readonly goals: readonly ContinuousGoal[];
  readonly goalLabels: readonly string[];
  readonly reward: RewardSpec;
  readonly gamma: number;
  readonly config: PqnConfig;
  readonly seed: number;
  /** Updates after which to keep a copy of the weights (trackPoints); the end of training is the result's own weights. */
  readonly checkpointUpdates?: readonly number[];
}

/** The Q-network as it was after `envSteps` environment steps. */
export interface QNetCheckpoint { readonly envSteps: number; readonly weights: QNetWeights }

export interface PqnResult {
  readonly weights: QNetWeights;
  readonly curves: TrainingCurves;
  readonly envSteps: number;
  readonly gradSteps: number;
  /** In training order; absent without checkpointUpdates. */
  readonly checkpoints?: QNetCheckpoint[];
}

export async function trainPqn(tf: TF, run: PqnRun, onProgress?: (envSteps: number, total: number) => void): Promise<PqnResult> {
  const { env, goals, reward, gamma, config: cfg } = run;
  const rng = new Rng(run.seed);
  const spec = qNetSpecOf(cfg, env.nActions);
  const mlp = qNetMlpSpec(spec);
  const params: Variable[] = qNetTensors(tf, initQNet(spec, rng), true);
  const opt = radam(tf, { learningRate: cfg.lr });
  const { updates, minibatches, gradSteps } = pqnCounts(cfg);
  const N = cfg.numEnvs;
  const T = cfg.numSteps;
  const D = env.stateDim;
  const O = env.obsDim;
  const A = env.nActions;
  const G = goals.length;
  const C = 1 + (cfg.her === 'none' ? 0 : cfg.herK);
  const inDim = qNetInputDim(spec);
  const M = T * N * C;
  const B = cfg.minibatch;
  const herMask = goals[0].mask;

  // Live environments.
  let states = new Float64Array(N * D);
  let next = new Float64Array(N * D);
  const obs = new Float64Array(N * O);
  const nextObs = new Float64Array(N * O);
  const tEnv = new Int32Array(N);
  const goalOf = new Int32Array(N);
  env.reset(rng, states, N);
  for (let i = 0; i < N; i++) goalOf[i] = rng.int(G);
  const fresh = Math.floor(N / cfg.resetRatio);
  const resetPool = new Float64Array(fresh * D);
  const one = new Float64Array(D);
  const resetIdx = new Int32Array(N);
  const scratch = new Int32Array(N);
  const finished = new Uint8Array(N);
  const actRows = new Float32Array(N * inDim);
  const actions = new Int32Array(N);

  // One rollout: observations before and after (pre-reset), actions, goals, truncations.
  const roObs = new Float64Array(T * N * O);
  const roNext = new Float64Array(T * N * O);
  const roAct = new Int32Array(T * N);
  const roGoal = new Int32Array(T * N);
  // The training samples, (t, n, c) flattened.
  const xs = new Float32Array(M * inDim);
  const xn = new Float32Array(M * inDim);
  const sAct = new Int32Array(M);
  const sRew = new Float32Array(M);
  const sDone = new Uint8Array(M);
  const order = new Int32Array(M);
  const target = new Float64Array(O);
  const mbXs = new Float32Array(B * inDim);
  const mbXn = new Float32Array(B * inDim);
  const mbAct = new Int32Array(B);
  const mbRew = new Float32Array(B);
  const mbDone = new Uint8Array(B);
  const mbTarget = new Float32Array(B);
  const goalRef = { target, mask: herMask };

  const curves = {
    updateSteps: new Float64Array(updates), loss: new Float64Array(updates), epsilon: new Float64Array(updates),
    evalSteps: [] as number[], evalReturn: goals.map(() => [] as number[]),
  };
  const evalEvery = Math.max(1, Math.floor(updates / Math.max(1, cfg.evalPoints)));
  const evaluate = async (steps: number): Promise<void> => {
    const ret = await greedyEvaluation(tf, env, spec, params, goals, reward, gamma, cfg.evalEpisodes, rng);
    curves.evalSteps.push(steps);
    for (let g = 0; g < G; g++) curves.evalReturn[g].push(ret[g]);
  };
  await evaluate(0);
  const saveAt = new Set(run.checkpointUpdates ?? []);
  const checkpoints: QNetCheckpoint[] = [];

  let gradStep = 0;
  for (let u = 0; u < updates; u++) {
    const eps = epsilonAt(cfg, u, updates);
    for (let t = 0; t < T; t++) {
      env.observe(states, obs, N);
      for (let i = 0; i < N; i++) fillInputRow(spec, obs, i * O, goals[goalOf[i]].target, 0, actRows, i * inDim);
      const q = await qValues(tf, spec, params, actRows, N);
      for (let i = 0; i < N; i++) actions[i] = rng.next() < eps ? rng.int(A) : argmaxRow(q, i * A, A);
      env.step(states, actions, next, N);
      env.observe(next, nextObs, N);
      const base = t * N;
      roObs.set(obs, base * O);
      roNext.set(nextObs, base * O);
      roAct.set(actions, base);
      roGoal.set(goalOf, base);
      env.reset(rng, resetPool, fresh);
      for (let i = 0; i < N; i++) {
        tEnv[i] += 1;
        finished[i] = tEnv[i] >= env.maxSteps ? 1 : 0;
      }
      optimisticResetIndices(finished, cfg.resetRatio, rng, resetIdx, scratch);
      for (let i = 0; i < N; i++) {
        const reached = relabelReward(nextObs, i * O, goals[goalOf[i]], reward).done;
        if (reached) {
          env.reset(rng, one, 1);
          next.set(one, i * D);
        } else if (finished[i]) {
          next.set(resetPool.subarray(resetIdx[i] * D, resetIdx[i] * D + D), i * D);
        }
        if (reached || finished[i]) {
          tEnv[i] = 0;
          goalOf[i] = rng.int(G);
        }
      }
      [states, next] = [next, states];
    }

    // Samples: copy 0 under the rollout's goal, copies 1 … K under hindsight goals.
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        const tn = t * N + n;
        for (let c = 0; c < C; c++) {
          const m = tn * C + c;
          let goal;
          if (c === 0 || cfg.her === 'random') goal = goals[c === 0 ? roGoal[tn] : rng.int(G)];
          else {
            const tf2 = futureStep(rng, t, T);
            target.set(roNext.subarray((tf2 * N + n) * O, (tf2 * N + n + 1) * O));
            goal = goalRef;
          }
          const { r, done } = relabelReward(roNext, tn * O, goal, reward);
          fillInputRow(spec, roObs, tn * O, goal.target, 0, xs, m * inDim);
          fillInputRow(spec, roNext, tn * O, goal.target, 0, xn, m * inDim);
          sAct[m] = roAct[tn];
          sRew[m] = r;
          sDone[m] = done ? 1 : 0;
        }
      }
    }

    permutation(rng, order);
    let lossSum = 0;
    for (let b = 0; b < minibatches; b++) {
      for (let j = 0; j < B; j++) {
        const m = order[b * B + j];
        mbXs.set(xs.subarray(m * inDim, (m + 1) * inDim), j * inDim);
        mbXn.set(xn.subarray(m * inDim, (m + 1) * inDim), j * inDim);
        mbAct[j] = sAct[m];
        mbRew[j] = sRew[m];
        mbDone[j] = sDone[m];
      }
      const qNext = await qValues(tf, spec, params, mbXn, B);
      for (let j = 0; j < B; j++) mbTarget[j] = qNext[j * A + argmaxRow(qNext, j * A, A)];
      tdTargets(mbRew, mbDone, mbTarget, gamma, mbTarget, B);
      opt.learningRate = linearSchedule(cfg.lr, cfg.lrEnd, gradSteps, gradStep);
      lossSum += await tdStep(tf, mlp, params, opt, cfg.maxGradNorm, mbXs, mbAct, mbTarget, B, inDim);
      gradStep++;
    }
    const steps = (u + 1) * N * T;
    curves.updateSteps[u] = steps;
    curves.loss[u] = lossSum / minibatches;
    curves.epsilon[u] = eps;
    if ((u + 1) % evalEvery === 0 || u + 1 === updates) await evaluate(steps);
    // A read-back only: training (and its random stream) goes on exactly as without tracking.
    if (saveAt.has(u + 1) && u + 1 < updates) checkpoints.push({ envSteps: steps, weights: await qNetFromTensors(spec, params) });
    onProgress?.(steps, updates * N * T);
    // Yield so progress reports and heartbeats get out between updates.
    await new Promise((resolve) => setImmediate(resolve));
  }

  const weights = await qNetFromTensors(spec, params);
  for (const p of params) p.dispose();
  opt.dispose();
  return {
    weights,
    envSteps: updates * N * T,
    gradSteps,
    ...(run.checkpointUpdates ? { checkpoints } : {}),
    curves: {
      updateSteps: curves.updateSteps, loss: curves.loss, epsilon: curves.epsilon,
      evalSteps: Float64Array.from(curves.evalSteps), evalReturn: curves.evalReturn.map((r) => Float64Array.from(r)),
      goalLabels: run.goalLabels,
    },
  };
}

/** One gradient step on ½·mean (Q(s, a) − target)², clipped by global norm; returns the loss. */
export async function tdStep(tf: TF, mlp: MlpSpec, params: Variable[], opt: RAdamOptimizer, maxNorm: number,
  rows: Float32Array, actions: Int32Array, targets: Float32Array, B: number, inDim: number): Promise<number> {
  const fast = tdStepNative(tf, mlp, params, opt, maxNorm, rows, actions, targets, B);
  if (fast !== undefined) return fast;
  const loss = tf.tidy(() => {
    const x = tf.tensor2d(rows, [B, inDim]);
    const a = tf.oneHot(tf.tensor1d(actions, 'int32'), mlp.outDim);
    const y = tf.tensor1d(targets);
    const { value, grads } = tf.variableGrads(() => {
      const q = tf.sum(tf.mul(mlpForward(tf, mlp, params, x), a), 1);
      return tf.mul(0.5, tf.mean(tf.square(tf.sub(q, y)))).asScalar();
    }, params);
    const list: Tensor[] = params.map((p) => grads[p.name]);
    const clipped = clipByGlobalNorm(tf, list, maxNorm).grads;
    opt.applyGradients(params.map((p, i) => ({ name: p.name, tensor: clipped[i] })));
    return value;
  });
  try {
    return (await loss.data())[0];
  } finally {
    loss.dispose();
  }
}

/**
 * tdStep on the fast CPU addon's kernels directly (native-mlp.ts), when the backend
 * is cpu-blas: the same loss, gradients, global-norm clip (the same float64 norm)
 * and the same RAdam, up to float rounding. Undefined where it does not apply.
 */
function tdStepNative(tf: TF, mlp: MlpSpec, params: Variable[], opt: RAdamOptimizer, maxNorm: number,
  rows: Float32Array, actions: Int32Array, targets: Float32Array, B: number): number | undefined {
  const native = nativeStepsEnabled() ? activeFastCpu(tf) : undefined;
  const P = native && backingArrays(tf, params);
  if (!native || !P) return undefined;
  const net = nativeMlp(native, mlp, B);
  const out = net.forward(P, rows, B);
  const A = mlp.outDim;
  const dOut = net.dOut;
  dOut.fill(0, 0, B * A);
  let sum = 0;
  for (let b = 0; b < B; b++) {
    const j = b * A + actions[b];
    const d = out[j] - targets[b];
    sum += d * d;
    dOut[j] = d / B;
  }
  const grads = net.paramGrads();
  net.backward(P, rows, B, dOut, grads, null);
  let sq = 0;
  for (const g of grads) sq += native.sumsq(g);
  const norm = Math.sqrt(sq);
  // As clipByGlobalNorm: scaled unless ‖g‖ < maxNorm, so a NaN norm reaches the weights as in optax;
  // the optimizer applies the scale as it reads each gradient.
  const scale = norm < maxNorm ? 1 : maxNorm / norm;
  // It reads the gradients in place through tensors over these buffers (no copy on the CPU backends).
  const wrapped = grads.map((g, i) => tf.tensor(g, params[i].shape, 'float32'));
  try {
    opt.applyScaled(params.map((p, i) => ({ name: p.name, tensor: wrapped[i] })), scale);
  } finally {
    tf.dispose(wrapped);
  }
  return (0.5 * sum) / B;
}
