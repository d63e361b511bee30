// PQN's optimiser (the reference's: RAdam, global-norm clip 10, learning rate decayed
// linearly), written to reproduce
//   optax.chain(optax.clip_by_global_norm(maxNorm), optax.radam(lr))
// with optax's defaults (b1 0.9, b2 0.999, eps 1e-8, eps_root 0, threshold 5,
// nesterov off); see optax/_src/transform.py `scale_by_radam` and
// optax/transforms/_clipping.py `clip_by_global_norm`.
//
// Networks reach 25M parameters, so on the two CPU backends the step walks the
// variables' own Float32Arrays once, in place: composing TF ops would allocate
// and traverse ~10 full-size temporaries per variable per step. Other backends
// (WASM, tfjs-node, GPU) get the same arithmetic as TF ops; on WebGPU, which
// in Node cannot read a value back synchronously, the clip's norm stays on the
// device too (one read-back per step would also stall the GPU's queue).
//
// Where the numbers can differ from optax run in JAX's default float32:
// - the step scalars (bias corrections, ρ_t, the rectifier r) are float64
//   here. In float32, 1 − β₂ᵗ cancels badly for small t (and β₂ itself rounds
//   to 0.99900001), which moves ρ_t by a few hundredths and r by up to ~0.6 %
//   on the first rectified steps, under 0.1 % from t ≈ 20. No step crosses
//   the threshold because of it with β₂ = 0.999: ρ₅ ≈ 4.996 and ρ₆ ≈ 5.994
//   here, about 4.96 and 5.97 in float32.
// - optax's float32 β₂ and 1 − β₂ (0.99900001, 0.001) do not sum to 1, which
//   biases v̂ up by ~1.3e-5 relative; here they are exact.
// - on CPU the element arithmetic runs in float64 and rounds once when stored;
//   the TF-op path rounds after every op, as optax does.
// - clipping multiplies by maxNorm/‖g‖ rather than dividing by ‖g‖ and then
//   multiplying by maxNorm (≤ 1 ulp apart).

import type { NamedTensorMap } from '@tensorflow/tfjs';
import type { TF, Tensor } from './backend.ts';
import { readsBackSynchronously } from './backend.ts';
import { activeFastCpu, backingArray } from './fast-cpu.ts';
import type { NamedTensor, ScheduledOptimizer } from './moment-optimizer.ts';
import { momentOptimizerBase } from './moment-optimizer.ts';

/**
 * Σ a² in float64 (25M float32 squares summed in float32 would lose digits).
 * Four accumulators, because one would make every add wait for the previous
 * one: about 3× faster on 25M elements.
 */
function sumOfSquares(a: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = a.length;
  const n4 = n - (n % 4);
  for (let i = 0; i < n4; i += 4) {
    const x0 = a[i];
    const x1 = a[i + 1];
    const x2 = a[i + 2];
    const x3 = a[i + 3];
    s0 += x0 * x0;
    s1 += x1 * x1;
    s2 += x2 * x2;
    s3 += x3 * x3;
  }
  for (let i = n4; i < n; i++) s0 += a[i] * a[i];
  return s0 + s1 + s2 + s3;
}

/** √(Σ g²) over every element of every tensor, as optax.tree.norm. */
function globalNorm(tf: TF, grads: readonly Tensor[]): number {
  const native = activeFastCpu(tf);
  let sumSq = 0;
  const elsewhere: Tensor[] = [];
  for (const g of grads) {
    const a = backingArray(tf, g, false);
    if (a === undefined) {
      elsewhere.push(g);
      continue;
    }
    sumSq += native ? native.sumsq(a) : sumOfSquares(a);
  }
  if (elsewhere.length > 0) {
    // One read-back for all of them: each is a device round trip on a GPU backend.
    const s = tf.tidy(() => tf.addN(elsewhere.map((g) => tf.sum(tf.square(tf.cast(g, 'float32'))))));
    sumSq += s.dataSync()[0];
    s.dispose();
  }
  return Math.sqrt(sumSq);
}

/**
 * optax.clip_by_global_norm: with ‖g‖ the norm of all gradients together,
 * every gradient is scaled by maxNorm/‖g‖ unless ‖g‖ < maxNorm. A NaN or
 * infinite norm therefore propagates into the gradients, as in optax, rather
 * than being hidden.
 *
 * Returns new tensors either way (unclipped ones are clones, so cost no copy);
 * the caller disposes them and, separately, the inputs. `norm` is ‖g‖ before
 * clipping, for logging; absent on a backend that cannot read it back
 * synchronously, where the scale maxNorm / max(‖g‖, maxNorm) is applied on
 * the device instead (1 exactly when ‖g‖ ≤ maxNorm).
 */
export function clipByGlobalNorm(tf: TF, grads: readonly Tensor[], maxNorm: number): { grads: Tensor[]; norm?: number } {
  if (!(maxNorm > 0)) throw new RangeError(`clipByGlobalNorm: maxNorm must be positive, got ${maxNorm}`);
  if (!readsBackSynchronously(tf)) {
    if (grads.length === 0) return { grads: [] };
    return {
      grads: tf.tidy(() => {
        // Pairwise adds, not addN: one kernel over N inputs binds N + 1 storage
        // buffers, past WebGPU's default limit of 8 per shader stage.
        const sq = grads.map((g) => tf.sum(tf.square(tf.cast(g, 'float32'))));
        const norm = tf.sqrt(sq.reduce((a, b) => tf.add(a, b)));
        const scale = tf.div(tf.scalar(maxNorm), tf.maximum(norm, tf.scalar(maxNorm)));
        return grads.map((g) => tf.mul(g, scale));
      }),
    };
  }
  const norm = globalNorm(tf, grads);
  if (norm < maxNorm) return { grads: grads.map((g) => tf.clone(g)), norm };
  const scale = maxNorm / norm;
  return { grads: tf.tidy(() => grads.map((g) => tf.mul(g, scale))), norm };
}

export interface RAdamConfig {
  /** Read again at every step through `RAdamOptimizer.learningRate`, which may be reassigned. */
  readonly learningRate: number;
  /** Decay of the first moment (optax default 0.9). */
  readonly beta1?: number;
  /** Decay of the second moment (optax default 0.999). */
  readonly beta2?: number;
  /** Added to √v̂ (optax default 1e-8). */
  readonly epsilon?: number;
  /** ρ_t below which the step is the bias-corrected momentum alone (optax default 5). */
  readonly threshold?: number;
}

/** A TF.js optimizer whose learning rate the caller may change between steps (schedules). */
export interface RAdamOptimizer extends ScheduledOptimizer {
  /** applyGradients with every gradient multiplied by `gradScale` first (a global-norm clip, without a pass of its own). */
  applyScaled(variableGradients: NamedTensorMap | NamedTensor[], gradScale: number): void;
}

/**
 * One variable's RAdam step over raw arrays. `stepScale` is lr/(1−β₁ᵗ), times
 * r when rectified; `invBc2` is 1/(1−β₂ᵗ), unused when not rectified.
 * A standalone function so V8 compiles one tight loop for every variable.
 */
function stepInPlace(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  beta1: number, beta2: number, rectified: boolean, stepScale: number, invBc2: number, epsilon: number,
): void {
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  const n = p.length;
  if (rectified) {
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = a1 * gi + beta1 * m[i];
      const vi = a2 * gi * gi + beta2 * v[i];
      m[i] = mi;
      v[i] = vi;
      p[i] -= (stepScale * mi) / (Math.sqrt(vi * invBc2) + epsilon);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      const mi = a1 * gi + beta1 * m[i];
      m[i] = mi;
      v[i] = a2 * gi * gi + beta2 * v[i];
      p[i] -= stepScale * mi;
    }
  }
}

function checkUnit(name: string, x: number): void {
  if (!(x >= 0 && x < 1)) throw new RangeError(`radam: ${name} must be in [0, 1), got ${x}`);
}

/**
 * RAdam (Liu et al. 2020) exactly as optax.scale_by_radam followed by −lr:
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  m̂ = m/(1−β₁ᵗ),
 *   ρ∞ = 2/(1−β₂) − 1,  ρ_t = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ),
 *   ρ_t ≥ threshold:  p ← p − lr · r_t m̂ / (√(v/(1−β₂ᵗ)) + ε),
 *                     r_t = √((ρ_t−4)(ρ_t−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ_t));
 *   otherwise:        p ← p − lr · m̂.
 * Both moments are updated on every step, rectified or not. With the defaults
 * steps 1–5 are unrectified. A tf.Optimizer, so `minimize` works as usual.
 */
export function radam(tf: TF, config: RAdamConfig): RAdamOptimizer {
  const beta1 = config.beta1 ?? 0.9;
  const beta2 = config.beta2 ?? 0.999;
  const epsilon = config.epsilon ?? 1e-8;
  const threshold = config.threshold ?? 5;
  checkUnit('beta1', beta1);
  checkUnit('beta2', beta2);
  if (!(epsilon >= 0)) throw new RangeError(`radam: epsilon must be ≥ 0, got ${epsilon}`);
  if (Number.isNaN(threshold)) throw new RangeError('radam: threshold is NaN');
  const rhoInf = 2 / (1 - beta2) - 1;

  class PlearnRAdam extends momentOptimizerBase(tf, 'radam') {
    static get className(): string {
      return 'PlearnRAdam';
    }
    learningRate = config.learningRate;

    applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
      this.applyScaled(variableGradients, 1);
    }

    applyScaled(variableGradients: NamedTensorMap | NamedTensor[], gradScale: number): void {
      const lr = this.learningRate;
      if (!Number.isFinite(lr)) throw new RangeError(`radam: learning rate must be finite, got ${lr}`);
      const t = this.iterations + 1;
      const b2t = beta2 ** t;
      const bc1 = 1 - beta1 ** t;
      const bc2 = 1 - b2t;
      const rho = rhoInf - (2 * t * b2t) / bc2;
      const rectified = rho >= threshold;
      const r = rectified ? Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho)) : 1;
      // The addon's RAdam is this loop in C, over the cores (a 6×2048 network has 21 M weights).
      const native = activeFastCpu(tf);
      for (const entry of this.gradients(variableGradients)) {
        const { name, param: p } = entry;
        let g = entry.grad;
        const state = this.momentsOf(name, p);
        const pv = backingArray(tf, p, true);
        const mv = pv && backingArray(tf, state.m, true);
        const vv = mv && backingArray(tf, state.v, true);
        const gv = vv && backingArray(tf, g, false);
        if (pv && mv && vv && gv && gv.length === pv.length && mv.length === pv.length && vv.length === pv.length) {
          if (native) native.radam(pv, gv, mv, vv, gradScale, beta1, beta2, epsilon, rectified, (lr * r) / bc1, 1 / bc2);
          else stepInPlace(pv, gradScale === 1 ? gv : Float32Array.from(gv, (x) => x * gradScale), mv, vv, beta1, beta2, rectified, (lr * r) / bc1, 1 / bc2, epsilon);
          continue;
        }
        const { m, v } = state;
        tf.tidy(() => {
          if (gradScale !== 1) g = tf.mul(g, gradScale);
          const m1 = tf.add(tf.mul(g, 1 - beta1), tf.mul(m, beta1));
          const v1 = tf.add(tf.mul(tf.square(g), 1 - beta2), tf.mul(v, beta2));
          m.assign(m1);
          v.assign(v1);
          const mHat = tf.div(m1, bc1);
          const update = rectified ? tf.div(tf.mul(mHat, r), tf.add(tf.sqrt(tf.div(v1, bc2)), epsilon)) : mHat;
          p.assign(tf.sub(p, tf.mul(update, lr)));
        });
      }
      this.incrementIterations();
    }

    getConfig(): { learningRate: number; beta1: number; beta2: number; epsilon: number; threshold: number } {
      return { learningRate: this.learningRate, beta1, beta2, epsilon, threshold };
    }
  }
  return new PlearnRAdam();
}
