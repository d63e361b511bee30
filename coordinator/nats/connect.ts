// Connecting to NATS: where the URL comes from (flag, then PLEARN_NATS_URL), a
// bounded first attempt with a message that names the server, and endless
// reconnects once connected (a pod outlives a NATS rolling restart).

import { connect } from '@nats-io/transport-node';
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export interface NatsOptions {
  readonly servers: string[];
  readonly name: string;
  /** How long the first connection may take before giving up (ms). */
  readonly connectTimeoutMs: number;
}

export class NatsConnectError extends Error {
  constructor(readonly servers: string[], reason: string) {
    super(`cannot reach NATS at ${servers.join(', ')}: ${reason}`);
    this.name = 'NatsConnectError';
  }
}

export function resolveNatsOptions(flags: { url?: string; name: string }, env: NodeJS.ProcessEnv): NatsOptions {
  const raw = flags.url ?? env.PLEARN_NATS_URL ?? DEFAULT_NATS_URL;
  const servers = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new NatsConnectError([raw], 'no server URL given (--nats or PLEARN_NATS_URL)');
  return { servers, name: flags.name, connectTimeoutMs: Number(env.PLEARN_NATS_CONNECT_TIMEOUT_MS ?? 5000) };
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  const o: NodeConnectionOptions = {
    servers: opts.servers,
    name: opts.name,
    timeout: opts.connectTimeoutMs,
    // The first attempt must fail fast with a clear message; after that, never give up.
    waitOnFirstConnect: false,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  };
  try {
    return await connect(o);
  } catch (e) {
    const err = e as Error & { code?: string };
    throw new NatsConnectError(opts.servers, err.code ? `${err.message} (${err.code})` : err.message);
  }
}
