// A store operation (KV, Object Store) that may meet a NATS server restart or a
// JetStream leader election: retried with backoff for about half a minute before
// it counts as a failure. A task's output is minutes of training; a fit reads
// every agent's artifact and writes its model: neither should be thrown away,
// and a delivery spent, because the store was electing a leader for ten seconds.

import type { Logger } from 'pino';

/** 15 attempts, waits 0.5 s, 1 s, 2 s, then 4 s each: about 45 s in all. */
const ATTEMPTS = 15;

/** `final` marks errors no retry can cure (a coordinator that lost its leader lease). */
export function storeRetry(
  log: Logger, stopped: () => boolean = () => false, final: (e: unknown) => boolean = () => false,
): <T>(fn: () => Promise<T>) => Promise<T> {
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= ATTEMPTS || stopped() || final(e)) throw e;
        log.warn({ err: (e as Error).message, attempt }, 'store operation failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** attempt)));
      }
    }
  };
}
