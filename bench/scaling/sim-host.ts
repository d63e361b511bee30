// One process hosting many simulated workers: each has its own NATS connection
// and transport and is a real `Worker` (worker/service.ts) with one slot, pulling
// from the shared durable consumer as a worker pod does; none has a health port.
// Started by the scaling benchmark (and its test) as
//   node --import tsx bench/scaling/sim-host.ts '<HostConfig as JSON>'
// It prints one JSON line {"ready": n} once every worker pulls, and on SIGTERM
// drains them and prints {"runs": …} (what its workers ran), then exits.

import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { createNatsTransport } from '../../coordinator/nats/transport.ts';
import { createLocalPool, lazyPool } from '../../worker/local-pool.ts';
import { Worker } from '../../worker/service.ts';
import { createSimPool, parseDuration } from './sim-pool.ts';

export interface HostConfig {
  readonly nats: string;
  readonly workers: number;
  /** Worker ids are `<prefix>-<i>`. */
  readonly prefix: string;
  /** Task duration distribution (see parseDuration). */
  readonly duration: string;
  readonly artifactBytes: number;
  /** Pull wait (ms); absent: the worker's default. */
  readonly pollMs?: number;
}

export interface HostReport {
  /** Agent task runs in this process. */
  readonly runs: number;
  /** The distinct tasks among them (sim-pool.ts keys). */
  readonly ran: string[];
  readonly completed: number;
  readonly skipped: number;
  readonly failed: number;
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as HostConfig;
  const log = pino({ level: 'warn' }, pino.destination(2));
  const runs = new Map<string, number>();
  const shape = { label: cfg.duration, sample: parseDuration(cfg.duration), artifactBytes: cfg.artifactBytes };
  const fits = lazyPool(1, () => createLocalPool(1));
  const pool = createSimPool(shape, fits, runs);
  const conns: NatsConnection[] = [];
  const workers: Worker[] = [];
  // Connect in batches so that a thousand handshakes do not all time out at once.
  for (let i = 0; i < cfg.workers; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, cfg.workers - i) }, async (_, j) => {
      const nc = await connect({ servers: cfg.nats, name: `${cfg.prefix}-${i + j}`, maxReconnectAttempts: -1, noAsyncTraces: true });
      conns.push(nc);
      return new Worker({ transport: await createNatsTransport(nc), pool, id: `${cfg.prefix}-${i + j}`, slots: 1, log, ...(cfg.pollMs !== undefined ? { pollMs: cfg.pollMs } : {}) });
    }));
    workers.push(...batch);
  }
  for (const w of workers) w.start();
  process.stdout.write(JSON.stringify({ ready: workers.length }) + '\n');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all(workers.map((w) => w.drain(10_000)));
    const stats = workers.map((w) => w.stats());
    const report: HostReport = {
      runs: [...runs.values()].reduce((a, b) => a + b, 0),
      ran: [...runs.keys()],
      completed: stats.reduce((a, s) => a + s.completed, 0),
      skipped: stats.reduce((a, s) => a + s.skipped, 0),
      failed: stats.reduce((a, s) => a + s.failed, 0),
    };
    process.stdout.write(JSON.stringify({ report }) + '\n');
    await Promise.all(conns.map((nc) => nc.close().catch(() => undefined)));
    await fits.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => { void stop(); });
  process.on('SIGINT', () => { void stop(); });
}

await main();
