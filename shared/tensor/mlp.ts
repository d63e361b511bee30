// A plain MLP in TF.js ops: dense layers, optional LayerNorm, ReLU or tanh,
// linear or sigmoid head. PQN's Q-network (LayerNorm + ReLU, sigmoid head) and
// the world model (tanh, linear head) are both instances. LayerNorm + ReLU goes
// through fused.ts, so on the cpu-blas backend it is one native kernel.

import type { TF, Tensor, Tensor2D, Variable } from './backend.ts';
import { layerNorm } from './fused.ts';

export interface MlpSpec {
  readonly inDim: number;
  readonly hidden: readonly number[];
  readonly outDim: number;
  readonly activation: 'relu' | 'tanh';
  /** LayerNorm (learned scale and shift) between each hidden dense layer and its activation. */
  readonly layerNorm: boolean;
  readonly head: 'linear' | 'sigmoid';
}

/** Parameters in layer order: per hidden layer w, b (and γ, β with LayerNorm); then the head's w, b. */
export type MlpParams = readonly Tensor[];

/**
 * Initial parameters as torch.nn.Linear draws them (w and b uniform in
 * ±1/√fan_in), γ = 1, β = 0; `uniform` returns numbers in [0, 1).
 */
export function initMlpParams(tf: TF, spec: MlpSpec, uniform: () => number, trainable = true): Variable[] {
  // tidy: the tensors the variables are made from are released (variables escape it).
  return tf.tidy(() => mlpVariables(tf, spec, uniform, trainable));
}

function mlpVariables(tf: TF, spec: MlpSpec, uniform: () => number, trainable: boolean): Variable[] {
  const widths = [spec.inDim, ...spec.hidden, spec.outDim];
  const out: Variable[] = [];
  const draw = (n: number, bound: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (2 * uniform() - 1) * bound;
    return a;
  };
  for (let l = 0; l + 1 < widths.length; l++) {
    const [fanIn, fanOut] = [widths[l], widths[l + 1]];
    const bound = 1 / Math.sqrt(fanIn);
    out.push(tf.variable(tf.tensor2d(draw(fanIn * fanOut, bound), [fanIn, fanOut]), trainable));
    out.push(tf.variable(tf.tensor1d(draw(fanOut, bound)), trainable));
    if (spec.layerNorm && l + 2 < widths.length) {
      out.push(tf.variable(tf.ones([fanOut]), trainable));
      out.push(tf.variable(tf.zeros([fanOut]), trainable));
    }
  }
  return out;
}

/** The forward pass, differentiable w.r.t. `params` and `x`. */
export function mlpForward(tf: TF, spec: MlpSpec, params: MlpParams, x: Tensor2D): Tensor2D {
  let h: Tensor = x;
  let i = 0;
  for (let l = 0; l < spec.hidden.length; l++) {
    // matMul + add rather than fused.matMul: its gradients are lazy, so a
    // frozen network (the P-learning fit) never computes weight gradients.
    const z = tf.add(tf.matMul(h as Tensor2D, params[i] as Tensor2D), params[i + 1]);
    i += 2;
    if (spec.layerNorm) {
      h = layerNorm(tf, z, params[i], params[i + 1], { relu: spec.activation === 'relu' });
      if (spec.activation === 'tanh') h = tf.tanh(h);
      i += 2;
    } else {
      h = spec.activation === 'relu' ? tf.relu(z) : tf.tanh(z);
    }
  }
  const out = tf.add(tf.matMul(h as Tensor2D, params[i] as Tensor2D), params[i + 1]) as Tensor2D;
  return spec.head === 'sigmoid' ? tf.sigmoid(out) : out;
}
