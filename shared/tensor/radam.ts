// PQN's optimiser (SPEC §3): optax.chain(clip_by_global_norm(max), radam(lr)),
// with optax's defaults. On the CPU backends the update runs in place over the
// variables' own Float32Arrays (networks reach 25M parameters); elsewhere as TF ops.

import type { NamedTensorMap, Optimizer } from '@tensorflow/tfjs';
import type { TF, Tensor, Variable } from './backend.ts';
import { backingArray } from './fast-cpu.ts';

interface NamedTensor {
  name: string;
  tensor: Tensor;
}

export interface RAdamConfig {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  /** optax's `threshold`: below this ρ_t the step is plain momentum (default 5). */
  readonly threshold?: number;
}

export interface RAdamOptimizer extends Optimizer {
  /** Read at every step, so a schedule may change it between steps. */
  learningRate: number;
}

/**
 * Step size multiplier of RAdam at step t (1-based), or 0 where the variance is not
 * yet rectifiable and the update is the bias-corrected first moment alone:
 * ρ∞ = 2/(1−β₂) − 1, ρ_t = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ), r_t = √((ρ_t−4)(ρ_t−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ_t)).
 */
export function radamRectifier(t: number, beta2: number, threshold: number): number {
  const rhoInf = 2 / (1 - beta2) - 1;
  const b2t = beta2 ** t;
  const rhoT = rhoInf - (2 * t * b2t) / (1 - b2t);
  if (rhoT < threshold) return 0;
  return Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
}

/**
 * optax.clip_by_global_norm: g ← g · max / max(‖g‖, max), ‖g‖ over all tensors together.
 * Returns new tensors (the inputs are left to the caller) and the norm before clipping.
 */
export function clipByGlobalNorm(tf: TF, grads: readonly Tensor[], maxNorm: number): { grads: Tensor[]; norm: number } {
  const norm = tf.tidy(() => Math.sqrt(grads.reduce((s, g) => s + (tf.sum(tf.square(g)).dataSync()[0]), 0)));
  const scale = norm > maxNorm ? maxNorm / norm : 1;
  return { grads: grads.map((g) => (scale === 1 ? tf.clone(g) : tf.mul(g, scale))), norm };
}

/** RAdam as optax.radam computes it (eps_root 0), as a tf.Optimizer. */
export function radam(tf: TF, config: RAdamConfig): RAdamOptimizer {
  const beta1 = config.beta1 ?? 0.9;
  const beta2 = config.beta2 ?? 0.999;
  const epsilon = config.epsilon ?? 1e-8;
  const threshold = config.threshold ?? 5;

  class PlearnRAdam extends tf.Optimizer implements RAdamOptimizer {
    static get className(): string {
      return 'PlearnRAdam';
    }
    learningRate = config.learningRate;
    private readonly moments = new Map<string, { m: Variable; v: Variable }>();

    applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
      const list = Array.isArray(variableGradients)
        ? variableGradients
        : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] }));
      const t = this.iterations + 1;
      const bc1 = 1 - beta1 ** t;
      const bc2 = 1 - beta2 ** t;
      const r = radamRectifier(t, beta2, threshold);
      const lr = this.learningRate;
      for (const { name, tensor: g } of list) {
        if (g == null) continue;
        const p = tf.engine().registeredVariables[name];
        if (p === undefined) throw new Error(`radam: no variable named ${name}`);
        let state = this.moments.get(name);
        if (state === undefined) {
          state = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) }));
          this.moments.set(name, state);
        }
        const pv = backingArray(tf, p, true);
        const mv = backingArray(tf, state.m, true);
        const vv = backingArray(tf, state.v, true);
        const gv = backingArray(tf, g, false);
        if (pv && mv && vv && gv && gv.length === pv.length) {
          for (let i = 0; i < pv.length; i++) {
            const gi = gv[i];
            const m = beta1 * mv[i] + (1 - beta1) * gi;
            const v = beta2 * vv[i] + (1 - beta2) * gi * gi;
            mv[i] = m;
            vv[i] = v;
            const mHat = m / bc1;
            pv[i] -= lr * (r > 0 ? (r * mHat) / (Math.sqrt(v / bc2) + epsilon) : mHat);
          }
          continue;
        }
        const { m, v } = state;
        tf.tidy(() => {
          const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
          const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
          m.assign(m1);
          v.assign(v1);
          const mHat = tf.div(m1, bc1);
          const step = r > 0 ? tf.mul(r, tf.div(mHat, tf.add(tf.sqrt(tf.div(v1, bc2)), epsilon))) : mHat;
          p.assign(tf.sub(p, tf.mul(step, lr)));
        });
      }
      this.incrementIterations();
    }

    override dispose(): void {
      for (const { m, v } of this.moments.values()) {
        m.dispose();
        v.dispose();
      }
      this.moments.clear();
      super.dispose();
    }

    getConfig(): { learningRate: number; beta1: number; beta2: number; epsilon: number; threshold: number } {
      return { learningRate: this.learningRate, beta1, beta2, epsilon, threshold };
    }
  }
  return new PlearnRAdam();
}
