// Shutting a service down within a bound, whether or not NATS answers. Each step
// (drain the worker, stop the NATS service, close the pool, the connection, the
// health server) gets its own time limit and its failure is logged with its
// cause; the whole sequence has a deadline after which the process exits anyway.
// Without this, a service whose NATS server is gone waited on a connection drain
// forever after SIGTERM, and Kubernetes killed it at the end of its grace period.

import type { Logger } from 'pino';

export interface ShutdownStep {
  readonly name: string;
  readonly run: () => Promise<unknown> | unknown;
  /** How long this step may take (ms). */
  readonly timeoutMs: number;
  /** What a failure of this step most likely means, for the log line. */
  readonly hint?: () => string | undefined;
}

/** An error's text even when its message is empty (some NATS errors carry only a code or a name). */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const parts = [e.message.trim(), code !== undefined ? `code ${String(code)}` : '', e.message.trim() === '' ? e.name : ''].filter((s) => s !== '');
    const text = parts.join(', ');
    const cause = (e as { cause?: unknown }).cause;
    return cause !== undefined ? `${text} (cause: ${describeError(cause)})` : text;
  }
  if (e === undefined || e === null || e === '') return 'an error without a message';
  return String(e);
}

async function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Run the steps in order, each within its limit; resolve with the exit code: 0 when
 * every step finished, 1 when one failed or ran out of time. If the whole sequence
 * outlasts `deadlineMs` (a step ignoring its limit), exit the process with 1 from a
 * timer, so the bound holds even then.
 */
export async function shutDown(log: Logger, steps: readonly ShutdownStep[], deadlineMs: number): Promise<number> {
  const hard = setTimeout(() => {
    log.error({ deadlineMs }, 'shutdown deadline passed; exiting now');
    process.exit(1);
  }, deadlineMs);
  hard.unref?.();
  const t0 = Date.now();
  const failed: string[] = [];
  for (const step of steps) {
    try {
      await within(step.timeoutMs, Promise.resolve().then(step.run));
    } catch (e) {
      failed.push(step.name);
      const hint = step.hint?.();
      log.warn({ step: step.name, error: describeError(e), ...(hint ? { hint } : {}) }, 'shutdown step failed; going on');
    }
  }
  clearTimeout(hard);
  const code = failed.length === 0 ? 0 : 1;
  log.info({ exitCode: code, ms: Date.now() - t0, ...(failed.length > 0 ? { failedSteps: failed } : {}) },
    failed.length === 0 ? 'stopped' : `stopped; not cleanly: ${failed.join(', ')}`);
  return code;
}

/** The limit of a whole shutdown: the steps' limits plus a margin, so the hard deadline only catches a step that ignores its own. */
export function deadlineOf(steps: readonly ShutdownStep[], marginMs = 2000): number {
  return steps.reduce((a, s) => a + s.timeoutMs, 0) + marginMs;
}
