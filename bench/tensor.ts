// Tensor section: plearn's TF.js training steps side by side with the same steps
// in PyTorch (bench/torch_bench.py), interleaved in one run.
//
// Steps, as the fast-CPU issue states them: forward, backward and Adam at batch
// 256 for the PQN Q-network shapes 2×256, 4×1024, 6×2048 (input 6, LayerNorm +
// ReLU, sigmoid head, 9 outputs); and one P-learning fit step (2×256 tanh world
// model through a frozen 4×1024 Q-network, batch 4096, L1 Bellman residual).
// Both sides use 2 threads. Each repetition times every shape on both sides,
// alternating which side goes first; figures are medians over repetitions.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../shared/tensor/backend.ts';
import type { Scalar, TF, Tensor, Tensor2D, Variable } from '../shared/tensor/backend.ts';
import { adam } from '../shared/tensor/fused.ts';
import { initMlpParams, mlpForward, type MlpSpec } from '../shared/tensor/mlp.ts';
import { Rng } from '../shared/util/rng.ts';

const THREADS = 2;
const TRAIN_BATCH = 256;
const FIT_BATCH = 4096;
const STATE_DIM = 4;
const GOAL_DIM = 2;
const N_ACTIONS = 9;

export interface ShapeResult {
  shape: string;
  batch: number;
  /** Matrix-product FLOPs of one step (forward and the backward products it needs). */
  gflopPerStep: number;
  plearnSamplesPerSec: number;
  plearnGflops: number;
  torchSamplesPerSec: number | null;
  torchGflops: number | null;
  /** plearn ÷ PyTorch speed: the median over repetitions of the ratio of their back-to-back blocks. */
  ratio: number | null;
}

export interface TorchInfo {
  torch: string;
  origin: string;
  python: string;
  threads: number;
  blas: string;
  blasLibs: string[];
}

export interface TensorBench {
  backend: string;
  /** OpenBLAS sgemm through the addon, 2 threads, best of the probe shapes: the ceiling. */
  sgemmGflops: number | null;
  threads: number;
  reps: number;
  torch: TorchInfo | null;
  /** Why the PyTorch side did not run, when it did not. */
  torchSkipped?: string;
  /** 1-minute load average before and after: other work on the machine skews both sides, PyTorch's more. */
  loadAverage: [number, number];
  shapes: ShapeResult[];
}

interface StepPlan {
  readonly shape: string;
  readonly batch: number;
  readonly steps: number;
  readonly gflopPerStep: number;
}

function qSpec(depth: number, width: number): MlpSpec {
  return { inDim: 6, hidden: Array<number>(depth).fill(width), outDim: 9, activation: 'relu', layerNorm: true, head: 'sigmoid' };
}
const WORLD_MODEL: MlpSpec = {
  inDim: STATE_DIM + N_ACTIONS, hidden: [256, 256], outDim: STATE_DIM, activation: 'tanh', layerNorm: false, head: 'linear',
};

/** 2·B·in·out per dense layer for each of: forward, ∂input (not for the first layer unless asked), ∂weights (if trained). */
function productGflop(spec: MlpSpec, batch: number, opts: { forward: number; inputGrad: 'none' | 'hidden' | 'all'; weightGrad: boolean }): number {
  const widths = [spec.inDim, ...spec.hidden, spec.outDim];
  let f = 0;
  for (let l = 0; l + 1 < widths.length; l++) {
    const one = 2 * batch * widths[l] * widths[l + 1];
    f += opts.forward * one;
    if (opts.inputGrad === 'all' || (opts.inputGrad === 'hidden' && l > 0)) f += one;
    if (opts.weightGrad) f += one;
  }
  return f / 1e9;
}

function plans(): StepPlan[] {
  const train = ([d, w, steps]: readonly [number, number, number]): StepPlan => ({
    shape: `${d}x${w}`, batch: TRAIN_BATCH, steps,
    gflopPerStep: productGflop(qSpec(d, w), TRAIN_BATCH, { forward: 1, inputGrad: 'hidden', weightGrad: true }),
  });
  // The fit: Q forward for the targets, world model forward/backward, Q forward
  // and backward to its input (frozen: no weight gradients).
  const fitGflop = productGflop(qSpec(4, 1024), FIT_BATCH, { forward: 2, inputGrad: 'all', weightGrad: false })
    + productGflop(WORLD_MODEL, FIT_BATCH, { forward: 1, inputGrad: 'hidden', weightGrad: true });
  return [
    ...([[2, 256, 100], [4, 1024, 10], [6, 2048, 3]] as const).map(train),
    { shape: 'fit', batch: FIT_BATCH, steps: 2, gflopPerStep: fitGflop },
  ];
}

/** A plearn step for a plan: returns a closure that runs one step and a disposer. */
function plearnStep(tf: TF, plan: StepPlan, rng: Rng): { step: () => void; dispose: () => void } {
  const uniform = () => rng.next();
  const opt = adam(tf, { learningRate: 1e-4 });
  const held: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => {
    held.push(t);
    return t;
  };
  const randn = (shape: number[]) => keep(tf.randomNormal(shape, 0, 1, 'float32', rng.int(1 << 30)));
  const rand = (shape: number[]) => keep(tf.randomUniform(shape, 0, 1, 'float32', rng.int(1 << 30)));
  let trainable: Variable[];
  let loss: () => Scalar;
  let before: () => Tensor | undefined = () => undefined;
  if (plan.shape === 'fit') {
    const q = qSpec(4, 1024);
    const qParams = initMlpParams(tf, q, uniform, false);
    trainable = initMlpParams(tf, WORLD_MODEL, uniform);
    held.push(...qParams);
    const B = plan.batch;
    const s = randn([B, STATE_DIM]) as Tensor2D;
    const goal = randn([B, GOAL_DIM]) as Tensor2D;
    const actions = keep(tf.tensor1d(Int32Array.from({ length: B }, () => rng.int(N_ACTIONS)), 'int32'));
    const onehot = keep(tf.oneHot(actions, N_ACTIONS).toFloat()) as Tensor2D;
    const r = rand([B]);
    const notDone = keep(tf.cast(tf.greater(rand([B]), 0.1), 'float32'));
    let target: Tensor | undefined;
    // Targets are constants of the step (torch computes them under no_grad).
    before = () => (target = mlpForward(tf, q, qParams, tf.concat([s, goal], 1) as Tensor2D).mul(onehot).sum(1));
    loss = () => {
      const next = tf.add(s, mlpForward(tf, WORLD_MODEL, trainable, tf.concat([s, onehot], 1) as Tensor2D)) as Tensor2D;
      const v = tf.max(mlpForward(tf, q, qParams, tf.concat([next, goal], 1) as Tensor2D), 1);
      return tf.mean(tf.abs(tf.sub(target as Tensor, tf.add(r, tf.mul(tf.mul(notDone, 0.99), v))))) as Scalar;
    };
  } else {
    const [d, w] = plan.shape.split('x').map(Number);
    const spec = qSpec(d, w);
    trainable = initMlpParams(tf, spec, uniform);
    const x = randn([plan.batch, 6]) as Tensor2D;
    const y = rand([plan.batch, 9]);
    loss = () => tf.mean(tf.squaredDifference(mlpForward(tf, spec, trainable, x), y)) as Scalar;
  }
  return {
    step: () => {
      tf.tidy(() => {
        before();
        opt.minimize(loss, false, trainable);
      });
    },
    dispose: () => {
      opt.dispose();
      tf.dispose([...held, ...trainable]);
    },
  };
}

/** The long-lived PyTorch process: one JSON command per line, one JSON answer per line. */
class TorchSide {
  private readonly lines: Interface;
  private readonly queue: ((line: string) => void)[] = [];
  private exited = false;
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout });
    this.lines.on('line', (l) => this.queue.shift()?.(l));
    child.once('exit', () => (this.exited = true));
    child.once('error', () => (this.exited = true));
    // Writes to a process that died fail through `exit`, not as an unhandled stream error.
    child.stdin.on('error', () => undefined);
  }

  static start(python: string): TorchSide {
    const script = fileURLToPath(new URL('./torch_bench.py', import.meta.url));
    const env = { ...process.env, PLEARN_BENCH_THREADS: String(THREADS), OMP_NUM_THREADS: String(THREADS), OPENBLAS_NUM_THREADS: String(THREADS) };
    const child = spawn(python, [script], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(`torch: ${d.toString()}`));
    return new TorchSide(child);
  }

  ask<T>(cmd: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error('torch_bench.py is not running'));
    return new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`torch_bench.py exited (${code})`));
      this.child.once('exit', onExit);
      this.queue.push((line) => {
        this.child.off('exit', onExit);
        const msg = JSON.parse(line) as T & { error?: string };
        if (msg.error) reject(new Error(msg.error));
        else resolve(msg);
      });
      this.child.stdin.write(JSON.stringify(cmd) + '\n');
    });
  }

  async close(): Promise<void> {
    if (!this.exited) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.stdin.end('{"cmd":"quit"}\n');
      await gone;
    }
    this.lines.close();
  }
}

/** PLEARN_TORCH_PYTHON, else the first candidate that imports torch. */
function findTorchPython(): { python: string } | { skipped: string } {
  const explicit = process.env.PLEARN_TORCH_PYTHON;
  const candidates = explicit ? [explicit] : ['/opt/torch-venv/bin/python', 'python3', '/usr/bin/python3', 'python'];
  for (const python of candidates) {
    const res = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    if (res.status === 0) return { python };
  }
  return {
    skipped: explicit
      ? `PLEARN_TORCH_PYTHON=${explicit} cannot import torch`
      : `no Python with torch found (tried ${candidates.join(', ')}); install Debian's python3-torch or set PLEARN_TORCH_PYTHON`,
  };
}

// OpenBLAS's idle threads keep polling for a while after each call (up to
// ~0.1 s by default), as do OpenMP's: a pause between the two sides' timed
// blocks keeps one side's leftover spinning off the other side's clock.
const SETTLE_MS = 300;
const settle = () => new Promise<void>((r) => setTimeout(r, SETTLE_MS));

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function sgemmCeiling(): Promise<number | null> {
  const { loadFastCpuAddon } = await import('../shared/tensor/fast-cpu.ts');
  let native;
  try {
    native = loadFastCpuAddon();
  } catch {
    return null;
  }
  let best = 0;
  for (const [M, N, K] of [[256, 2048, 2048], [1024, 1024, 1024], [4096, 1024, 1024]] as const) {
    const a = new Float32Array(M * K).fill(0.5);
    const b = new Float32Array(K * N).fill(0.25);
    const c = new Float32Array(M * N);
    const run = () => native.gemm(false, false, 1, M, N, K, a, 0, b, 0, c, null, 0);
    run();
    for (let rep = 0; rep < 5; rep++) {
      const n = 4;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) run();
      best = Math.max(best, (2 * M * N * K * n) / ((performance.now() - t0) / 1000) / 1e9);
    }
  }
  return best;
}

export async function benchTensor(): Promise<TensorBench> {
  const reps = Math.max(1, Number(process.env.PLEARN_BENCH_REPS ?? 5));
  const loadBefore = loadavg()[0];
  // Both sides get the same thread count, whatever the machine has.
  process.env.PLEARN_CPU_THREADS = String(THREADS);
  const { tf, detail } = await initBackend('auto');
  const sgemmGflops = await sgemmCeiling();

  const found = findTorchPython();
  const torchSide = 'python' in found ? TorchSide.start(found.python) : undefined;
  let torch: TorchInfo | null = null;
  let torchSkipped = 'skipped' in found ? found.skipped : undefined;
  if (torchSide) {
    try {
      torch = await torchSide.ask<TorchInfo>({ cmd: 'info' });
    } catch (e) {
      torchSkipped = `torch_bench.py failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  const rng = new Rng(7);
  const all = plans();
  const steps = all.map((p) => plearnStep(tf, p, rng));
  const plearnTimes: number[][] = all.map(() => []);
  const torchTimes: number[][] = all.map(() => []);
  try {
    // Warm-up: first calls allocate, fill buffer pools and start threads.
    for (const [i, p] of all.entries()) {
      for (let k = 0; k < 2; k++) steps[i].step();
      if (torch && torchSide) {
        try {
          await torchSide.ask({ cmd: 'time', shape: p.shape, batch: p.batch, steps: 1, warmup: 2 });
        } catch (e) {
          torch = null;
          torchSkipped = `torch_bench.py failed: ${e instanceof Error ? e.message : String(e)}`;
        }
      }
    }
    for (let rep = 0; rep < reps; rep++) {
      for (const [i, p] of all.entries()) {
        const timePlearn = () => {
          const t0 = performance.now();
          for (let k = 0; k < p.steps; k++) steps[i].step();
          plearnTimes[i].push((performance.now() - t0) / 1000 / p.steps);
        };
        const timeTorch = async () => {
          if (!torch || !torchSide) return;
          try {
            const r = await torchSide.ask<{ seconds: number; steps: number }>({ cmd: 'time', shape: p.shape, batch: p.batch, steps: p.steps, warmup: 0 });
            torchTimes[i].push(r.seconds / r.steps);
          } catch (e) {
            // A PyTorch failure (out of memory, a killed process) ends its side, not the bench.
            torch = null;
            torchSkipped = `torch_bench.py failed: ${e instanceof Error ? e.message : String(e)}`;
            torchTimes.forEach((t) => (t.length = 0));
          }
        };
        if (rep % 2 === 0) {
          timePlearn();
          await settle();
          await timeTorch();
        } else {
          await timeTorch();
          await settle();
          timePlearn();
        }
        await settle();
      }
    }
  } finally {
    steps.forEach((s) => s.dispose());
    await torchSide?.close();
  }

  const shapes = all.map((p, i): ShapeResult => {
    const tp = median(plearnTimes[i]);
    const tt = torchTimes[i].length > 0 ? median(torchTimes[i]) : null;
    const plearnSamplesPerSec = p.batch / tp;
    const torchSamplesPerSec = tt === null ? null : p.batch / tt;
    // Each repetition's two blocks ran back to back: their ratio cancels load
    // that drifts slower than a repetition, so the median of those is reported.
    const paired = torchTimes[i].map((t, k) => t / plearnTimes[i][k]);
    return {
      shape: p.shape,
      batch: p.batch,
      gflopPerStep: p.gflopPerStep,
      plearnSamplesPerSec,
      plearnGflops: p.gflopPerStep / tp,
      torchSamplesPerSec,
      torchGflops: tt === null ? null : p.gflopPerStep / tt,
      ratio: paired.length > 0 ? median(paired) : null,
    };
  });
  return {
    backend: detail, sgemmGflops, threads: THREADS, reps, torch, ...(torchSkipped ? { torchSkipped } : {}),
    loadAverage: [loadBefore, loadavg()[0]], shapes,
  };
}

export function formatTensor(b: TensorBench): string {
  const num = (x: number | null, digits = 0) => (x === null ? '—' : x.toFixed(digits));
  const lines = [
    `tensor (training steps: forward, backward, Adam; ${b.threads} threads each side; medians of ${b.reps} interleaved repetitions)`,
    `  plearn backend     ${b.backend}`,
    b.torch
      ? `  PyTorch            ${b.torch.torch} (${b.torch.origin}, ${b.torch.python}), BLAS ${b.torch.blas}: ${b.torch.blasLibs.join(', ') || 'not found in maps'}, ${b.torch.threads} threads`
      : `  PyTorch            skipped: ${b.torchSkipped ?? 'unknown'}`,
    `  sgemm ceiling      ${num(b.sgemmGflops, 1)} GFLOP/s (OpenBLAS through the addon, ${b.threads} threads)`,
    `  machine load       ${b.loadAverage[0].toFixed(2)} before, ${b.loadAverage[1].toFixed(2)} after (1-minute average; anything else running skews both sides)`,
    '',
    '  shape    batch   plearn samples/s  GFLOP/s   torch samples/s  GFLOP/s   plearn ÷ torch',
  ];
  for (const s of b.shapes) {
    lines.push(
      `  ${s.shape.padEnd(7)} ${String(s.batch).padStart(6)}   ${num(s.plearnSamplesPerSec).padStart(16)}  ${num(s.plearnGflops, 1).padStart(7)}`
        + `   ${num(s.torchSamplesPerSec).padStart(15)}  ${num(s.torchGflops, 1).padStart(7)}   ${num(s.ratio, 2).padStart(14)}`,
    );
  }
  lines.push(
    '  (fit: one P-learning fit step, 2×256 tanh world model through a frozen 4×1024 Q-network; GFLOP/s counts matrix products;',
    '   samples/s are medians over repetitions, the ratio is the median of the per-repetition ratios of back-to-back blocks)',
  );
  return lines.join('\n');
}
