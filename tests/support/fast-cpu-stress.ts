// A fixed sequence of cpu-blas kernels (products, LayerNorm forward and
// backward, reductions, the Adam update), run by several threads at once in
// tests/tensor-fast.test.ts: the addon's thread pool and OpenBLAS are shared
// by the whole process, so concurrent callers must neither deadlock nor mix
// up each other's work. Returns one checksum per iteration.

import type { Scalar, TF, Tensor } from '../../shared/tensor/backend.ts';
import { adam, layerNorm } from '../../shared/tensor/fused.ts';

export function stressChecksums(tf: TF, iterations: number): number[] {
  const sums: number[] = [];
  const data = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
  const p = tf.variable(tf.tensor2d(data(96 * 200, 1), [96, 200]));
  const opt = adam(tf, { learningRate: 1e-2 });
  for (let it = 0; it < iterations; it++) {
    const x = tf.tensor2d(data(300 * 96, it), [300, 96]);
    const gamma = tf.tensor1d(data(200, it + 1));
    const beta = tf.tensor1d(data(200, it + 2));
    const f = (): Scalar => tf.sum(tf.square(layerNorm(tf, tf.matMul(x, p), gamma, beta, { relu: true }))) as Scalar;
    const cost = opt.minimize(f, true, [p]) as Tensor;
    sums.push(cost.dataSync()[0], tf.sum(p).dataSync()[0]);
    tf.dispose([x, gamma, beta, cost]);
  }
  opt.dispose();
  p.dispose();
  return sums;
}
