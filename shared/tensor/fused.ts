// Ops that run as one native kernel on the `cpu-blas` backend and as the
// equivalent composition of TF.js ops on every other backend: LayerNorm (with
// an optional ReLU after it) and the Adam optimizer. Callers write the model
// once; the backend decides how it runs.

import type { NamedTensorMap } from '@tensorflow/tfjs';
import type { TF, Tensor } from './backend.ts';
import { activeFastCpu, backingArray, LAYER_NORM_KERNEL } from './fast-cpu.ts';
import type { NamedTensor, ScheduledOptimizer } from './moment-optimizer.ts';
import { momentOptimizerBase } from './moment-optimizer.ts';

export interface LayerNormOptions {
  /** Added to the variance (PyTorch's default 1e-5). */
  readonly epsilon?: number;
  /** Apply ReLU to the result (fused into the same pass on cpu-blas). */
  readonly relu?: boolean;
}

/**
 * LayerNorm over the last axis with a learned scale and shift:
 * y = γ (x − mean) / √(var + ε) + β, var the biased variance, as torch.nn.LayerNorm.
 */
export function layerNorm(tf: TF, x: Tensor, gamma: Tensor, beta: Tensor, opts: LayerNormOptions = {}): Tensor {
  const epsilon = opts.epsilon ?? 1e-5;
  const relu = opts.relu ?? false;
  if (tf.getKernel(LAYER_NORM_KERNEL, tf.getBackend()) !== undefined) {
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, gamma, beta }, { epsilon, relu }) as Tensor[];
    // The gradient keeps its own references to these (saved outputs are clones).
    mean.dispose();
    rstd.dispose();
    return y;
  }
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), -1, true);
    const y = tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
    return relu ? tf.relu(y) : y;
  });
}

export interface AdamConfig {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  /** Added to √v̂ (PyTorch's and optax's default 1e-8). */
  readonly epsilon?: number;
}

/** A TF.js optimizer whose learning rate may change between steps (schedules). */
export type AdamOptimizer = ScheduledOptimizer;

/**
 * Adam as tf.train.adam and torch.optim.Adam compute it:
 *   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  p ← p − lr · (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε).
 * On cpu-blas each variable is updated in place by one native pass; elsewhere
 * by TF.js ops. A tf.Optimizer, so `minimize` and friends work as usual.
 */
export function adam(tf: TF, config: AdamConfig): AdamOptimizer {
  const beta1 = config.beta1 ?? 0.9;
  const beta2 = config.beta2 ?? 0.999;
  const epsilon = config.epsilon ?? 1e-8;

  class PlearnAdam extends momentOptimizerBase(tf, 'adam') {
    static get className(): string {
      return 'PlearnAdam';
    }
    learningRate = config.learningRate;

    applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
      const t = this.iterations + 1;
      const bc1 = 1 - beta1 ** t;
      const bc2 = 1 - beta2 ** t;
      const native = activeFastCpu(tf);
      for (const { name, param: p, grad: g } of this.gradients(variableGradients)) {
        const state = this.momentsOf(name, p);
        if (native) {
          const pv = backingArray(tf, p, true);
          const mv = backingArray(tf, state.m, true);
          const vv = backingArray(tf, state.v, true);
          const gv = backingArray(tf, g, false);
          if (pv && mv && vv && gv && gv.length === pv.length) {
            native.adam(pv, gv, mv, vv, this.learningRate, beta1, beta2, epsilon, bc1, bc2);
            continue;
          }
        }
        const { m, v } = state;
        tf.tidy(() => {
          const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
          const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
          m.assign(m1);
          v.assign(v1);
          const step = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), epsilon));
          p.assign(tf.sub(p, tf.mul(step, this.learningRate)));
        });
      }
      this.incrementIterations();
    }

    getConfig(): { learningRate: number; beta1: number; beta2: number; epsilon: number } {
      return { learningRate: this.learningRate, beta1, beta2, epsilon };
    }
  }
  return new PlearnAdam();
}
