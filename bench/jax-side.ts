// The JAX process of the gpu bench section: bench/jax_bench.py --serve, one
// JSON command per stdin line, one JSON answer per stdout line. Long-lived, so
// that each row is compiled once and then timed in blocks between plearn's.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface JaxInfo {
  jax: string;
  optax: string;
  /** `cpu` or `gpu` (JAX's platform name). */
  platform: string;
  /** The device kind JAX reports (`NVIDIA H100 80GB HBM3`, `cpu`). */
  device: string;
  /** CPU cores XLA may use, on the CPU; null on a GPU. */
  threads: number | null;
  python: string;
}

/**
 * Interpreters to try, in order: PLEARN_JAX_PYTHON alone when set; else the
 * project's Python venv (tests/support/python-env.sh, where JAX is installed
 * here) and then `python3` (the GPU machine's, which holds JAX).
 */
function candidates(): string[] {
  if (process.env.PLEARN_JAX_PYTHON) return [process.env.PLEARN_JAX_PYTHON];
  const venv = join(process.env.PLEARN_PYTHON_VENV ?? join(homedir(), '.cache', 'plearn', 'python-venv'), 'bin', 'python');
  return [...(existsSync(venv) ? [venv] : []), 'python3'];
}

export class JaxSide {
  private readonly lines: Interface;
  private readonly waiting: ((line: string | null) => void)[] = [];
  private exited = false;
  info: JaxInfo | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout });
    this.lines.on('line', (l) => this.waiting.shift()?.(l));
    const gone = () => {
      this.exited = true;
      // Whoever still waits gets no answer: say so instead of hanging.
      for (const w of this.waiting.splice(0)) w(null);
    };
    // `close`, not `exit`: it comes after stdout's last lines were read.
    child.once('close', gone);
    child.once('error', gone);
    // A write to a process that died fails through `exit`, not as an unhandled stream error.
    child.stdin.on('error', () => undefined);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** The first interpreter whose jax_bench.py answers with versions; else why none did. */
  static async start(device: 'cpu' | 'gpu', threads: number): Promise<JaxSide | { skipped: string }> {
    const script = fileURLToPath(new URL('./jax_bench.py', import.meta.url));
    const reasons: string[] = [];
    for (const python of candidates()) {
      const child = spawn(python, [script, '--serve', '--device', device, '--threads', String(threads)], {
        env: { ...process.env, PYTHONUNBUFFERED: '1' }, stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-2000);
      });
      const side = new JaxSide(child);
      const first = await side.ask<JaxInfo & { skipped?: string }>({ cmd: 'info' }).catch((e: unknown) => e as Error);
      if (!(first instanceof Error) && first.skipped === undefined) {
        side.info = first;
        // From here on its warnings go through, marked, on our stderr.
        child.stderr.on('data', (d: Buffer) => process.stderr.write(`jax: ${d.toString()}`));
        return side;
      }
      const why = first instanceof Error ? `${first.message}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}` : first.skipped;
      reasons.push(`${python}: ${why}`);
      await side.close();
    }
    return { skipped: reasons.join('; ') };
  }

  ask<T>(cmd: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error('jax_bench.py is not running'));
    return new Promise<T>((resolve, reject) => {
      this.waiting.push((line) => {
        if (line === null) {
          reject(new Error('jax_bench.py exited'));
          return;
        }
        let msg: T & { error?: string };
        try {
          msg = JSON.parse(line) as T & { error?: string };
        } catch {
          reject(new Error(`jax_bench.py said: ${line.slice(0, 200)}`));
          return;
        }
        if (msg.error) reject(new Error(msg.error));
        else resolve(msg);
      });
      this.child.stdin.write(JSON.stringify(cmd) + '\n');
    });
  }

  /** Build and compile a row, and time one step. */
  prepare(row: string): Promise<{ compileSeconds: number; stepSeconds: number }> {
    return this.ask({ cmd: 'prepare', row });
  }

  /** k steps of a row, waited for once at the end. */
  time(row: string, steps: number): Promise<{ seconds: number; steps: number }> {
    return this.ask({ cmd: 'time', row, steps });
  }

  async close(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise((r) => this.child.once('close', r));
      this.child.stdin.end('{"cmd":"quit"}\n');
      await gone;
    }
    this.lines.close();
  }
}
