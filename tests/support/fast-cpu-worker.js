// Worker-thread fixture of tests/tensor-fast.test.ts: what a piscina thread
// does (register tsx, then load TypeScript), then either one product on
// cpu-blas or, with workerData.stress = n, n iterations of the stress sequence.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
try {
  const { initBackend } = await import('../../shared/tensor/backend.ts');
  const { tf, backend, detail } = await initBackend('cpu-blas');
  if (workerData && workerData.stress) {
    const { stressChecksums } = await import('./fast-cpu-stress.ts');
    parentPort.postMessage({ backend, detail, value: stressChecksums(tf, workerData.stress) });
  } else {
    const value = Array.from(tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6, 7, 8], [2, 2])).dataSync());
    parentPort.postMessage({ backend, detail, value });
  }
} catch (e) {
  parentPort.postMessage({ error: String(e && e.stack ? e.stack : e) });
}
