// Child-process fixture of tests/tensor-fast.test.ts: `auto` under whatever
// environment the test set, then one training step; prints one JSON line.
import { initBackend } from '../../shared/tensor/backend.ts';
import type { Scalar, Tensor2D } from '../../shared/tensor/backend.ts';
import { adam } from '../../shared/tensor/fused.ts';
import { initMlpParams, mlpForward, type MlpSpec } from '../../shared/tensor/mlp.ts';
import { Rng } from '../../shared/util/rng.ts';

const { tf, backend, detail } = await initBackend('auto');
const spec: MlpSpec = { inDim: 6, hidden: [16, 16], outDim: 9, activation: 'relu', layerNorm: true, head: 'sigmoid' };
const rng = new Rng(1);
const params = initMlpParams(tf, spec, () => rng.next());
const x = tf.randomNormal([8, 6], 0, 1, 'float32', 2) as Tensor2D;
const y = tf.randomUniform([8, 9], 0, 1, 'float32', 3);
const opt = adam(tf, { learningRate: 1e-3 });
const loss = opt.minimize(() => tf.mean(tf.squaredDifference(mlpForward(tf, spec, params, x), y)) as Scalar, true, params);
process.stdout.write(JSON.stringify({ backend, detail, loss: loss?.dataSync()[0] }) + '\n');
