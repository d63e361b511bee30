// Spawn the real `plearn` binary, as a user would, and collect its output.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'plearn.js');

export interface Run { code: number | null; stdout: string; stderr: string }

/** Run any command to its end and collect its output (killed after `timeoutMs`). */
export function runProcess(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `opts` is the timeout in ms, or that and extra environment variables for the child. */
export function plearn(args: string[], opts: number | { timeoutMs?: number; env?: Record<string, string> } = 60_000): Promise<Run> {
  const { timeoutMs = 60_000, env = {} } = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  return runProcess(process.execPath, [BIN, ...args], { timeoutMs, env: { ...process.env, ...env } });
}
