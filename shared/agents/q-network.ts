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
  /**
   * Input columns (ascending, into [obs dims, goal dims]) that are angles: column j feeds
   * cos u_j in its own place and sin u_j after all columns, in this list's order. A wrapped
   * angle jumps by 2π at ±π; raw, the network has to learn that jump and never quite does
   * (Reacher: Bellman residuals ~7× the mean on steps crossing it), cos/sin has no jump.
   * Absent: every column is fed as is (the reference network).
   */
  readonly periodic?: readonly number[];
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

/** Input columns before encoding: the obs dims, then the goal dims. */
export function qNetColumns(spec: QNetSpec): number {
  return spec.obsDims.length + spec.goalDims.length;
}

/** Width of an input row: one feature per column, plus the sine of each periodic one. */
export function qNetInputDim(spec: QNetSpec): number {
  return qNetColumns(spec) + (spec.periodic?.length ?? 0);
}

export function qNetMlpSpec(spec: QNetSpec): MlpSpec {
  return {
    inDim: qNetInputDim(spec),
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
  const widths = [qNetInputDim(spec), ...spec.hidden, spec.nActions];
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

/** Checks that `periodic` names distinct input columns in ascending order. */
export function checkPeriodic(spec: QNetSpec): void {
  const cols = qNetColumns(spec);
  spec.periodic?.forEach((c, i, list) => {
    if (!Number.isInteger(c) || c < 0 || c >= cols || (i > 0 && c <= list[i - 1])) {
      throw new RangeError(`q-network: periodic columns must ascend within [0, ${cols}), got [${list.join(', ')}]`);
    }
  });
}

/** Checks that `w` has exactly the parameters its spec calls for. */
export function checkQNetWeights(w: QNetWeights): void {
  checkPeriodic(w.spec);
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
