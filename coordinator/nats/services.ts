// NATS micro-services (the `$SRV` discovery protocol) for plearn: the coordinator's
// job API and each worker's status endpoint, plus the client side used by the CLI.
// A handler never takes its service down: a throw becomes an error reply.

import type { NatsConnection } from '@nats-io/transport-node';
import { Svcm } from '@nats-io/services';
import type { ServiceMsg } from '@nats-io/services';
import { encodeJson, decodeJson } from '../../shared/protocol/codec.ts';

export interface EndpointDef {
  readonly name: string;
  readonly subject: string;
  readonly handler: (req: Uint8Array) => Promise<Uint8Array>;
}

export interface ServiceDef {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly metadata: Record<string, string>;
  readonly endpoints: readonly EndpointDef[];
  /** Custom data reported in `$SRV.STATS` for each endpoint. */
  readonly statsData?: () => unknown;
}

export interface RunningService {
  readonly id: string;
  stop(): Promise<void>;
}

export async function registerService(nc: NatsConnection, def: ServiceDef): Promise<RunningService> {
  const svc = await new Svcm(nc).add({
    name: def.name, version: def.version, description: def.description, metadata: def.metadata,
    statsHandler: def.statsData ? async () => def.statsData!() : undefined,
  });
  for (const ep of def.endpoints) {
    svc.addEndpoint(ep.name, {
      subject: ep.subject,
      handler: (err: Error | null, msg: ServiceMsg) => {
        if (err) return;
        void ep.handler(msg.data).then(
          (reply) => { msg.respond(reply); },
          (e: unknown) => {
            const message = e instanceof Error ? e.message : String(e);
            msg.respond(encodeJson({ error: { code: 'internal', message } }));
          },
        );
      },
    });
  }
  // Whether the server is there now: stopping drains the endpoints' subscriptions, which takes a round trip.
  let connected = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);
  return {
    id: svc.info().id,
    stop: async () => {
      const stopped = svc.stop();
      // With the server gone the drain would wait for a reconnect that a shutting-down process does not wait for
      // (the shutdown test saw it take the step's whole 2 s now and then); nothing can reach the endpoints meanwhile.
      if (connected) await stopped;
      else void stopped.catch(() => undefined);
    },
  };
}

export interface DiscoveredInstance {
  id: string;
  name: string;
  version: string;
  metadata: Record<string, string>;
  endpoints: { name: string; subject: string }[];
  /** The statsHandler data of the instance's first endpoint (plearn reports the same for all). */
  data: unknown;
}

/** Every instance of `name` that answers within `timeoutMs`, with its info and stats. */
export async function discover(nc: NatsConnection, name: string, timeoutMs: number): Promise<DiscoveredInstance[]> {
  const client = new Svcm(nc).client({ strategy: 'timer', maxWait: timeoutMs });
  try {
    return await collect(client, name);
  } catch (e) {
    // Nobody subscribed to the discovery subject: no instance, not an error.
    if (/no responders/i.test((e as Error).message)) return [];
    throw e;
  }
}

async function collect(client: ReturnType<Svcm['client']>, name: string): Promise<DiscoveredInstance[]> {
  const byId = new Map<string, DiscoveredInstance>();
  for await (const info of await client.info(name)) {
    byId.set(info.id, {
      id: info.id, name: info.name, version: info.version, metadata: info.metadata ?? {},
      endpoints: info.endpoints.map((e) => ({ name: e.name, subject: e.subject })), data: undefined,
    });
  }
  for await (const st of await client.stats(name)) {
    const inst = byId.get(st.id);
    if (inst) inst.data = st.endpoints?.[0]?.data;
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/** One JSON request; no responder and timeouts become errors that say which subject. */
export async function requestJson(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<unknown> {
  try {
    const m = await nc.request(subject, encodeJson(body ?? {}), { timeout: timeoutMs });
    return decodeJson(m.data);
  } catch (e) {
    const msg = (e as Error).message;
    if (/no responders/i.test(msg) || (e as { code?: string }).code === '503') {
      throw new Error(`nothing answers on ${subject}: is \`plearn coordinator\` running against this NATS server?`);
    }
    if (/timeout/i.test(msg)) throw new Error(`no answer on ${subject} within ${timeoutMs} ms`);
    throw e;
  }
}
