// Long-running `plearn coordinator` / `plearn worker` processes for integration
// tests: started as a user would start them, stopped by signal, logs kept for
// the failure message.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { BIN, ROOT } from './run-cli.ts';

export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  log(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  signal(sig: NodeJS.Signals): void;
}

export function startService(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Service {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig ?? 'unknown')));
  return {
    name, child, exited,
    log: () => out,
    signal: (sig) => { if (child.exitCode === null && child.signalCode === null) child.kill(sig); },
  };
}

/** Poll `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** SIGTERM, and the time until the process is gone. */
export async function timedStop(s: Service): Promise<{ s: Service; code: number | string; ms: number }> {
  const t0 = Date.now();
  s.signal('SIGTERM');
  const code = await s.exited;
  return { s, code, ms: Date.now() - t0 };
}

/** Stop every service (SIGTERM, then SIGKILL after a grace period). */
export async function stopAll(services: readonly Service[], graceMs = 10_000): Promise<void> {
  await Promise.all(services.map(async (s) => {
    s.signal('SIGTERM');
    const t = setTimeout(() => s.signal('SIGKILL'), graceMs);
    await s.exited;
    clearTimeout(t);
  }));
}
