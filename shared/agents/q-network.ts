// PQN's goal-conditioned Q-network as data: which observation and goal dims it
// reads, its MLP shape (LayerNorm + ReLU hidden layers, sigmoid head), and its
// weights as named float32 tensors — the form artifacts, safetensors files and
// the P-learning fit all share. The forward pass is mlp.ts's.

import type { MlpSpec } from '../tensor/mlp.ts';

export interface QNetSpec {
  /** Observation dims the network reads (Reacher paper preset: θ, ω = [0, 1, 2, 3]). */
  readonly obsDims: readonly number[];
  /** Goal target dims the network reads (MountainCar position goals: [0]; Reacher: fingertip [4, 5]). */
  readonly goalDims: readonly number[];
  readonly hidden: readonly number[];
  readonly nActions: number;
  /**
   * Per input column (obs dims, then goal dims) u = (x − shift) · scale, so a dim of
   * small range (MountainCar's velocity, |v| ≤ 0.07) reaches the first layer at the
   * scale of the others. Absent: raw inputs, as the reference network.
   */
  readonly inputNorm?: { readonly shift: readonly number[]; readonly scale: readonly number[] };
}

/** One named parameter; `shape` is [in, out] for kernels, [n] for vectors; data row-major. */
export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface QNetWeights {
  readonly spec: QNetSpec;
  /** In mlp.ts's parameter order (see qNetParamNames). */
  readonly params: readonly NamedTensor[];
}

export function qNetMlpSpec(spec: QNetSpec): MlpSpec {
  return {
    inDim: spec.obsDims.length + spec.goalDims.length,
    hidden: spec.hidden,
    outDim: spec.nActions,
    activation: 'relu',
    layerNorm: true,
    head: 'sigmoid',
  };
}

/**
 * Parameter names and shapes in mlp.ts's order: per hidden layer l
 * `hidden.l.kernel` [in, out], `hidden.l.bias`, `hidden.l.norm.scale`, `hidden.l.norm.bias`;
 * then `head.kernel`, `head.bias`. Kernels are x·W (flax's convention, torch's weightᵀ).
 */
export function qNetParamShapes(spec: QNetSpec): { name: string; shape: number[] }[] {
  const widths = [spec.obsDims.length + spec.goalDims.length, ...spec.hidden, spec.nActions];
  const out: { name: string; shape: number[] }[] = [];
  for (let l = 0; l < spec.hidden.length; l++) {
    out.push({ name: `hidden.${l}.kernel`, shape: [widths[l], widths[l + 1]] });
    out.push({ name: `hidden.${l}.bias`, shape: [widths[l + 1]] });
    out.push({ name: `hidden.${l}.norm.scale`, shape: [widths[l + 1]] });
    out.push({ name: `hidden.${l}.norm.bias`, shape: [widths[l + 1]] });
  }
  const L = spec.hidden.length;
  out.push({ name: 'head.kernel', shape: [widths[L], widths[L + 1]] });
  out.push({ name: 'head.bias', shape: [widths[L + 1]] });
  return out;
}

export function qNetParamCount(spec: QNetSpec): number {
  return qNetParamShapes(spec).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** Checks that `w` has exactly the parameters its spec calls for. */
export function checkQNetWeights(w: QNetWeights): void {
  const want = qNetParamShapes(w.spec);
  if (w.params.length !== want.length) throw new RangeError(`q-network: ${w.params.length} parameters, spec needs ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const p = w.params[i];
    const n = want[i].shape.reduce((a, b) => a * b, 1);
    if (p.name !== want[i].name || p.shape.join('x') !== want[i].shape.join('x') || p.data.length !== n) {
      throw new RangeError(`q-network: parameter ${i} is ${p.name} [${p.shape}] (${p.data.length} values), spec needs ${want[i].name} [${want[i].shape}]`);
    }
  }
}
