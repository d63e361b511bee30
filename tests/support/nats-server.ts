// A real nats-server with JetStream for integration tests: found on PATH,
// ~/go/bin or $NATS_SERVER_BIN, started on a free port with its own store
// directory, and restartable on the same port and store (for crash tests).

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export function natsServerBin(): string | null {
  const candidates = [process.env.NATS_SERVER_BIN, 'nats-server', join(homedir(), 'go', 'bin', 'nats-server'), '/usr/sbin/nats-server'];
  for (const c of candidates) {
    if (!c) continue;
    if (c.includes('/') ? existsSync(c) : spawnSync(c, ['--version']).status === 0) return c;
  }
  return null;
}

/** Why the integration tests cannot run here, or null when they can. */
export function natsServerMissing(): string | null {
  return natsServerBin() ? null
    : 'nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER_BIN';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = tcpConnect(port, '127.0.0.1', () => { sock.destroy(); resolve(true); });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not accept connections on port ${port} within ${timeoutMs} ms`);
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The running server's process id (CPU and memory readings). */
  pid(): number | undefined;
  log(): string;
  /** SIGTERM and wait (file storage is flushed). */
  stop(): Promise<void>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
  /** Start again on the same port and store directory (after down(), kill(), or while running). */
  restart(): Promise<void>;
  /** SIGTERM and wait, keeping the store: an outage that restart() ends. */
  down(): Promise<void>;
}

export async function startNatsServer(extraArgs: string[] = []): Promise<NatsServerHandle> {
  const bin = natsServerBin();
  if (!bin) throw new Error(natsServerMissing()!);
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'plearn-nats-'));
  let child: ChildProcess;
  let out = '';
  const launch = async () => {
    child = spawn(bin, ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    await accepting(port, 10_000);
  };
  const end = async (sig: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(sig);
    await gone;
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: () => child.pid,
    log: () => out,
    stop: async () => { await end('SIGTERM'); await rm(storeDir, { recursive: true, force: true }); },
    kill: () => end('SIGKILL'),
    restart: async () => { await end('SIGTERM'); await launch(); },
    down: () => end('SIGTERM'),
  };
}
