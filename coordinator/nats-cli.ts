// Connection options every cluster command shares (`--nats` and the credential
// and TLS flags, or their PLEARN_NATS_* variables), and opening a connection plus
// the transport over it in one step.

import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Transport } from '../shared/transport/transport.ts';
import {
  connectNats, describeIdentity, findPermissionViolation, firstDeniedPublish, NatsPermissionError, permissionMessage, resolveNatsOptions,
} from './nats/connect.ts';
import type { NatsConnectFlags } from './nats/connect.ts';
import { setupJetStream } from './nats/setup.ts';
import type { SetupConfig } from './nats/setup.ts';
import { createNatsTransport } from './nats/transport.ts';
import { TASK_STREAM, WORKER_CONSUMER } from '../shared/protocol/subjects.ts';

export interface NatsFlags {
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsNkey?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

export function addNatsOptions(cmd: Command): Command {
  return cmd
    .option('--nats <url>', 'NATS server URL(s), comma-separated (default: $PLEARN_NATS_URL or nats://127.0.0.1:4222)')
    .option('--nats-user <name>', 'NATS user name (default: $PLEARN_NATS_USER)')
    .option('--nats-password <password>', 'NATS password (default: $PLEARN_NATS_PASSWORD; prefer the variable: flags show in `ps`)')
    .option('--nats-token <token>', 'NATS authentication token (default: $PLEARN_NATS_TOKEN)')
    .option('--nats-nkey <file>', 'file holding an nkey user seed (default: $PLEARN_NATS_NKEY)')
    .option('--nats-creds <file>', 'NATS .creds file: user JWT and seed (default: $PLEARN_NATS_CREDS)')
    .option('--nats-tls-ca <file>', 'PEM CA certificate to trust for the server (default: $PLEARN_NATS_TLS_CA)')
    .option('--nats-tls-cert <file>', 'PEM client certificate, with --nats-tls-key (default: $PLEARN_NATS_TLS_CERT)')
    .option('--nats-tls-key <file>', 'PEM private key of --nats-tls-cert (default: $PLEARN_NATS_TLS_KEY)');
}

function connectFlags(f: NatsFlags): NatsConnectFlags {
  return {
    url: f.nats, user: f.natsUser, password: f.natsPassword, token: f.natsToken, nkey: f.natsNkey, creds: f.natsCreds,
    tlsCa: f.natsTlsCa, tlsCert: f.natsTlsCert, tlsKey: f.natsTlsKey,
  };
}

/** A bare connection (no transport, no JetStream binding): for admin commands. */
export async function connectRaw(flags: NatsFlags, name: string): Promise<NatsConnection> {
  return connectNats(resolveNatsOptions({ ...connectFlags(flags), name }, process.env));
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
  const resolved = resolveNatsOptions({ ...connectFlags(flags), name }, process.env);
  const nc = await connectNats(resolved);
  const role = opts.setup ? 'coordinator' : opts.client ? 'client' : 'worker';
  // A denied subject is a configuration error: say which, instead of a JetStream
  // error or, for a worker, waiting forever for a queue it may not see.
  const who = { servers: resolved.servers, identity: describeIdentity(resolved.credentials) };
  const deniedError = (v: { operation: string; subject: string }) =>
    new NatsPermissionError(v.operation, v.subject, `plearn ${role}: ${permissionMessage(v, who)}`);
  const denied = (e: unknown): unknown => {
    const v = findPermissionViolation(e);
    return v ? deniedError(v) : e;
  };
  try {
    if (opts.setup) await setupJetStream(nc, opts.setup).catch((e: unknown) => { throw denied(e); });
    let transport: Transport | undefined;
    // A worker may start before the coordinator has created the queue: wait for it. Clients fail at once.
    while (!transport) {
      try {
        transport = await createNatsTransport(nc, {});
      } catch (e) {
        const err = denied(e);
        if (err instanceof NatsPermissionError) throw err;
        if (opts.client || opts.setup || !opts.onWait || nc.isClosed()) throw e;
        opts.onWait((e as Error).message);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    if (role === 'worker') {
      // Binding needs only read rights, so credentials of the wrong role would pass
      // it and then fail every pull in silence: check the right to take tasks now.
      const v = await firstDeniedPublish(nc, [`$JS.API.CONSUMER.MSG.NEXT.${TASK_STREAM}.${WORKER_CONSUMER}`]);
      if (v) throw deniedError(v);
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
