// A three-node nats-server cluster with JetStream on this machine (three local
// processes, routes between them), for tests that lose a node mid-job.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, natsServerBin, natsServerMissing } from './nats-server.ts';

export interface ClusterNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  alive(): boolean;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** All client URLs, comma-separated (what `--nats` takes). */
  readonly urls: string;
  stop(): Promise<void>;
}

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not accept connections on port ${port}`);
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const bin = natsServerBin();
  if (!bin) throw new Error(natsServerMissing()!);
  const root = await mkdtemp(join(tmpdir(), 'plearn-natscluster-'));
  const ports = await Promise.all(Array.from({ length: size }, freePort));
  const routePorts = await Promise.all(Array.from({ length: size }, freePort));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes: ClusterNode[] = ports.map((port, i) => {
    let child: ChildProcess | undefined;
    const name = `n${i + 1}`;
    const node: ClusterNode = {
      name, port, url: `nats://127.0.0.1:${port}`,
      alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
      start: async () => {
        child = spawn(bin, ['-js', '-sd', join(root, name), '-a', '127.0.0.1', '-p', String(port), '-n', name,
          '--cluster_name', 'plearn', '-cluster', `nats://127.0.0.1:${routePorts[i]}`, '-routes', routes], { stdio: 'ignore' });
        await accepting(port, 10_000);
      },
      kill: async () => {
        if (!node.alive()) return;
        const gone = new Promise((r) => child!.once('exit', r));
        child!.kill('SIGKILL');
        await gone;
      },
    };
    return node;
  });
  await Promise.all(nodes.map((n) => n.start()));
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.kill()));
      await rm(root, { recursive: true, force: true });
    },
  };
}
