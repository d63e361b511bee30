// Connection options every cluster command shares (`--nats`, or PLEARN_NATS_URL),
// and opening a connection plus the transport over it in one step.

import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Transport } from '../shared/transport/transport.ts';
import { connectNats, resolveNatsOptions } from './nats/connect.ts';
import { setupJetStream } from './nats/setup.ts';
import type { SetupConfig } from './nats/setup.ts';
import { createNatsTransport } from './nats/transport.ts';

export interface NatsFlags { nats?: string }

export function addNatsOptions(cmd: Command): Command {
  return cmd.option('--nats <url>', 'NATS server URL(s), comma-separated (default: $PLEARN_NATS_URL or nats://127.0.0.1:4222)');
}

export interface OpenNats {
  nc: NatsConnection;
  transport: Transport;
  close(): Promise<void>;
}

/**
 * Connect and build the transport. `setup` (the coordinator) creates the streams and
 * buckets first; everyone else binds to what exists.
 */
export async function openNats(flags: NatsFlags, name: string,
  opts: { setup?: Partial<SetupConfig>; client?: boolean; onWait?: (why: string) => void }): Promise<OpenNats> {
  const nc = await connectNats(resolveNatsOptions({ url: flags.nats, name }, process.env));
  try {
    if (opts.setup) await setupJetStream(nc, opts.setup);
    let transport: Transport | undefined;
    // A worker may start before the coordinator has created the queue: wait for it. Clients fail at once.
    while (!transport) {
      try {
        transport = await createNatsTransport(nc, {});
      } catch (e) {
        if (opts.client || opts.setup || !opts.onWait || nc.isClosed()) throw e;
        opts.onWait((e as Error).message);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    return {
      nc,
      transport,
      close: async () => {
        await transport.close();
        await nc.drain();
      },
    };
  } catch (e) {
    await nc.close();
    throw e;
  }
}
