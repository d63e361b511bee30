// Ops that run as one native kernel on the `cpu-blas` backend and as the
// equivalent composition of TF.js ops on every other backend: LayerNorm (with
// an optional ReLU after it) and the Adam optimizer. Callers write the model
// once; the backend decides how it runs.

import type { NamedTensorMap, Optimizer } from '@tensorflow/tfjs';
import type { TF, Tensor, Variable } from './backend.ts';
import { activeFastCpu, backingArray, LAYER_NORM_KERNEL } from './fast-cpu.ts';

/** tfjs-core's optimizer weight entry (not re-exported by @tensorflow/tfjs). */
interface NamedTensor {
  name: string;
  tensor: Tensor;
}

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
export interface AdamOptimizer extends Optimizer {
  learningRate: number;
}

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

  class PlearnAdam extends tf.Optimizer implements AdamOptimizer {
    static get className(): string {
      return 'PlearnAdam';
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
      const native = activeFastCpu(tf);
      for (const { name, tensor: g } of list) {
        if (g == null) continue;
        const p = tf.engine().registeredVariables[name];
        if (p === undefined) throw new Error(`adam: no variable named ${name}`);
        let state = this.moments.get(name);
        if (state === undefined) {
          state = tf.tidy(() => ({
            // Unnamed: variable names are global, and two optimizers may train the same variable.
            m: tf.variable(tf.zerosLike(p), false),
            v: tf.variable(tf.zerosLike(p), false),
          }));
          this.moments.set(name, state);
        }
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

    override dispose(): void {
      for (const { m, v } of this.moments.values()) {
        m.dispose();
        v.dispose();
      }
      this.moments.clear();
      super.dispose();
    }

    override async getWeights(): Promise<NamedTensor[]> {
      const out: NamedTensor[] = [await this.saveIterations()];
      for (const [name, { m, v }] of this.moments) {
        out.push({ name: `${name}/m`, tensor: m }, { name: `${name}/v`, tensor: v });
      }
      return out;
    }

    override async setWeights(weightValues: NamedTensor[]): Promise<void> {
      const rest = await this.extractIterations(weightValues);
      const byVar = new Map<string, { m?: Tensor; v?: Tensor }>();
      for (const { name, tensor } of rest) {
        const cut = name.lastIndexOf('/');
        const kind = name.slice(cut + 1);
        if (cut < 0 || (kind !== 'm' && kind !== 'v')) throw new Error(`adam: unexpected weight ${name}`);
        const entry = byVar.get(name.slice(0, cut)) ?? {};
        entry[kind] = tensor;
        byVar.set(name.slice(0, cut), entry);
      }
      // New variables share the given buffers (the update copies before writing in place),
      // and are made before the old ones go, in case the weights are this optimizer's own.
      const next = new Map<string, { m: Variable; v: Variable }>();
      for (const [name, { m, v }] of byVar) {
        if (!m || !v) throw new Error(`adam: weights of ${name} need both /m and /v`);
        next.set(name, { m: tf.variable(m, false), v: tf.variable(v, false) });
      }
      this.dispose();
      for (const [name, state] of next) this.moments.set(name, state);
    }

    getConfig(): { learningRate: number; beta1: number; beta2: number; epsilon: number } {
      return { learningRate: this.learningRate, beta1, beta2, epsilon };
    }
  }
  return new PlearnAdam();
}
