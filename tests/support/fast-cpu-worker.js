// Worker-thread fixture of tests/tensor-fast.test.ts: what a piscina thread
// does (register tsx, then load TypeScript), then one product on cpu-blas.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
try {
  const { initBackend } = await import('../../shared/tensor/backend.ts');
  const { tf, backend, detail } = await initBackend('cpu-blas');
  const value = Array.from(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])).dataSync());
  parentPort.postMessage({ backend, detail, value });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) });
}
