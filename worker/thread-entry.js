// Piscina thread entry. Plain JavaScript because worker threads do not inherit the
// TypeScript loader of the main thread: register tsx here, then load the task code.
import { register } from 'tsx/esm/api';

register();
const { runTask } = await import('./run-task.ts');

/** @param {{ task: import('./run-task.ts').Task, port?: import('node:worker_threads').MessagePort, memoryBytes?: number }} msg */
export default async function run({ task, port, memoryBytes }) {
  let last = 0;
  const progress = port
    ? (done, total) => {
        const now = Date.now();
        if (now - last > 100 || done === total) { last = now; port.postMessage({ done, total }); }
      }
    : undefined;
  try {
    return await runTask(task, progress, memoryBytes);
  } finally {
    port?.close();
  }
}
