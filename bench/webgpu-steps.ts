// GPU section: plearn's own training steps on any tensor backend (made for
// `--backend webgpu`), timed side by side with the same steps in JAX
// (bench/jax_bench.py), interleaved in one run — the ratio issue 15 asks for.
//
//   npm run bench -- gpu [--backend webgpu] [--json] [--rows "pqn 4x1024,fit 4096"]
//                        [--reps 3] [--block-seconds 0.3] [--jax-device auto|cpu|gpu|off] [--rows-out FILE]
//
// Rows: one PQN update (the real tdStep: TD loss, gradient, global-norm clip 10,
// RAdam) at minibatch 256 on MountainCar's Q-network (input 3, 3 actions) at
// 3×256, 4×1024, 6×2048; one P-learning fit step (the real bellmanResidualLoss:
// 2×256 tanh world model through the paper's frozen 4×1024 Q-network, sparse
// position goals, then fitWorldModel's Adam) at batch 512 and 4096. Each side
// sizes its own timed blocks to about --block-seconds; each repetition runs
// both sides' blocks back to back, alternating which goes first; figures are
// medians over repetitions. ratio = JAX s/step ÷ plearn s/step: above 1,
// plearn is faster.
//
// What each side's step includes is what each really runs: plearn uploads the
// minibatch and reads the PQN loss back on every step (trainPqn does), the fit
// samples its batch on the host and reads its loss back at the end of the
// block; JAX keeps everything on the device and waits once per block.

import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { tdStep } from '../shared/agents/pqn.ts';
import { initQNet, qNetTensors, qNetworkQFunction } from '../shared/agents/q-network-tf.ts';
import type { QNetSpec, QNetWeights } from '../shared/agents/q-network.ts';
import { qNetMlpSpec, qNetParamShapes } from '../shared/agents/q-network.ts';
import { goalBackupTf, observeTf } from '../shared/continuous/tf-goals.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import type { AgentBatch, FitAgent, FitConfig } from '../shared/plearning/neural-fit.ts';
import { bellmanResidualLoss, fitAdamStep, learningRate } from '../shared/plearning/neural-fit.ts';
import { DEFAULT_MODEL, initWorldModel, weightsToTensors } from '../shared/plearning/neural-model.ts';
import { nativeFitStep } from '../shared/plearning/native-fit.ts';
import { initBackend } from '../shared/tensor/backend.ts';
import type { Scalar, TF, Tensor, Tensor1D, Tensor2D, Variable } from '../shared/tensor/backend.ts';
import { radam } from '../shared/tensor/radam.ts';
import { Rng } from '../shared/util/rng.ts';
import { envRowBatch, envRowStep, type EnvRowName, type RowStep } from './env-steps.ts';
import { gpuOptions, type GpuBenchOptions, type GpuRowName } from './gpu-options.ts';
import { JaxSide, type JaxInfo } from './jax-side.ts';

export { GPU_ROWS, GPU_VALUE_OPTIONS, gpuOptions, jaxOptions, type GpuBenchOptions, type GpuRowName } from './gpu-options.ts';

const PQN_BATCH = 256;
const FIT_Q_HIDDEN = [1024, 1024, 1024, 1024];
/** The paper preset's fit length: only its cosine schedule's learning rate depends on it. */
const FIT_SCHEDULE_STEPS = 20_000;

export interface GpuRow {
  row: GpuRowName;
  batch: number;
  plearnSecondsPerStep: number | null;
  plearnStepsPerSec: number | null;
  plearnStepsPerBlock: number;
  jaxSecondsPerStep: number | null;
  jaxStepsPerSec: number | null;
  jaxStepsPerBlock: number | null;
  /** JAX s/step ÷ plearn s/step (>1: plearn faster): the median over repetitions of back-to-back blocks. */
  ratio: number | null;
  /** Why a side of this row did not run to the end (an out-of-memory, say). */
  error?: string;
}

export interface GpuBench {
  /** The backend line (it names the adapter on webgpu). */
  backend: string;
  /** Whether plearn ran on a hardware GPU: false means these are not GPU figures. */
  onGpu: boolean;
  jax: JaxInfo | null;
  /** Why the JAX side did not run, when it did not. */
  jaxSkipped?: string;
  reps: number;
  blockSeconds: number;
  loadAverage: [number, number];
  rows: GpuRow[];
}

/** The training rows' steps share the environment rows' shape. */
type PlearnStep = RowStep;

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * initQNet's weights where that is quick; past 512 wide, Gaussian kernels of the
 * same per-entry scale (an orthonormal column has entries of variance 1/rows).
 * initQNet orthogonalises by Gram–Schmidt in JS, O(n³): 8 s at 4×1024 and two
 * minutes at 6×2048 here, and a step's time does not depend on the values.
 */
function benchQNet(spec: QNetSpec, rng: Rng): QNetWeights {
  if (Math.max(...spec.hidden) <= 512) return initQNet(spec, rng);
  const params = qNetParamShapes(spec).map(({ name, shape }) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('.kernel')) {
      const sd = (name.startsWith('head') ? 1 : Math.SQRT2) / Math.sqrt(Math.max(shape[0], shape[1]));
      for (let i = 0; i < data.length; i++) data[i] = sd * gaussian(rng);
    } else if (name.endsWith('norm.scale')) {
      data.fill(1);
    }
    return { name, shape, data };
  });
  return { spec, params };
}

function mountainCarQ(hidden: readonly number[]): QNetSpec {
  return { obsDims: [0, 1], goalDims: [0], hidden, nActions: 3 };
}

function pqnStep(tf: TF, depth: number, width: number, rng: Rng): PlearnStep {
  const spec = mountainCarQ(Array<number>(depth).fill(width));
  const params = qNetTensors(tf, benchQNet(spec, rng), true);
  const opt = radam(tf, { learningRate: 1e-4 });
  const mlp = qNetMlpSpec(spec);
  const inDim = mlp.inDim;
  const rows = Float32Array.from({ length: PQN_BATCH * inDim }, () => 2 * rng.next() - 1);
  const actions = Int32Array.from({ length: PQN_BATCH }, () => rng.int(mlp.outDim));
  const targets = Float32Array.from({ length: PQN_BATCH }, () => rng.next());
  return {
    block: async (k) => {
      for (let i = 0; i < k; i++) await tdStep(tf, mlp, params, opt, 10, rows, actions, targets, PQN_BATCH, inDim);
    },
    dispose: () => {
      params.forEach((p) => p.dispose());
      opt.dispose();
    },
  };
}

/**
 * One step of fitWorldModel's loop (shared/plearning/neural-fit.ts) on one agent:
 * the batch drawn on the host and uploaded, the Bellman residual's value and
 * gradients, and its Adam update. Written out rather than calling
 * fitWorldModel so that a timed block does not also pay for the model's
 * initialisation and the final read-back of its weights.
 */
function fitStep(tf: TF, batch: number, rng: Rng, agentHidden: readonly number[]): PlearnStep {
  const { goals, reward } = trainingGoals('mountaincar');
  const q = qNetworkQFunction(tf, benchQNet(mountainCarQ(agentHidden), rng), goals, observeTf('mountaincar'));
  const agents: FitAgent[] = [{ q, backup: goalBackupTf('mountaincar', goals, reward), nativeGoals: { experiment: 'mountaincar', goals, reward } }];
  const cfg: Pick<FitConfig, 'model' | 'gamma' | 'loss' | 'terminalStates' | 'lr' | 'schedule' | 'steps'> = {
    model: { ...DEFAULT_MODEL, stateDim: 2, nActions: 3 }, gamma: 0.99, loss: 'l1', terminalStates: 'fit',
    lr: 1e-4, schedule: 'cosine', steps: FIT_SCHEDULE_STEPS,
  };
  const [params, m, v] = tf.tidy(() => {
    const p = weightsToTensors(tf, initWorldModel(cfg.model, rng)).map((t) => tf.variable(t));
    return [p, p.map((x) => tf.variable(tf.zerosLike(x))), p.map((x) => tf.variable(tf.zerosLike(x)))];
  });
  const { uniformLow: low, uniformHigh: high } = mountainCar;
  const states = new Float32Array(batch * 2);
  const actions = new Int32Array(batch);
  const goalIdx = new Int32Array(batch);
  let t = 0;
  // fitWorldModel's own choice: the native step on cpu-blas, else TF.js's autodiff.
  const fast = nativeFitStep(tf, { ...cfg, batchSize: batch }, agents, params, m, v);
  const one = (): Scalar | number => {
    for (let i = 0; i < batch; i++) {
      for (let d = 0; d < 2; d++) states[i * 2 + d] = low[d] + (high[d] - low[d]) * rng.next();
      actions[i] = rng.int(3);
      goalIdx[i] = rng.int(goals.length);
    }
    const lr = learningRate(cfg, t);
    const step = t++;
    if (fast) return fast.step([{ agent: 0, k: batch, states, actions, goals: goalIdx }], step, lr);
    return tf.tidy(() => {
      const batches: AgentBatch[] = [{
        agent: 0, states: tf.tensor2d(states, [batch, 2]) as Tensor2D,
        actions: tf.tensor1d(actions, 'int32') as Tensor1D, goals: tf.tensor1d(goalIdx, 'int32') as Tensor1D,
      }];
      const { value, grads } = tf.valueAndGrads((...ps: Tensor[]) => bellmanResidualLoss(tf, cfg, ps, agents, batches))(params);
      fitAdamStep(tf, params, grads, m, v, step, lr);
      return value as Scalar;
    });
  };
  return {
    block: async (k) => {
      let last: Scalar | number | undefined;
      for (let i = 0; i < k; i++) {
        if (typeof last === 'object') last.dispose();
        last = one();
      }
      if (typeof last !== 'object') return;
      try {
        await last.data();
      } finally {
        last.dispose();
      }
    },
    dispose: () => {
      q.dispose?.();
      tf.dispose([...params, ...m, ...v] as Variable[]);
    },
  };
}

async function plearnStep(tf: TF, row: GpuRowName, rng: Rng): Promise<PlearnStep> {
  const [kind, arg, agent] = row.split(' ');
  if (kind === 'env' || kind === 'vi') return envRowStep(row as EnvRowName);
  if (kind === 'fit') {
    // "fit B" (the paper's 4×1024 agent) or "fit B DxW".
    const [depth, width] = agent ? agent.split('x').map(Number) : [FIT_Q_HIDDEN.length, FIT_Q_HIDDEN[0]];
    return fitStep(tf, Number(arg), rng, Array<number>(depth).fill(width));
  }
  const [depth, width] = arg.split('x').map(Number);
  return pqnStep(tf, depth, width, rng);
}

function batchOf(row: GpuRowName): number {
  if (row.startsWith('env') || row.startsWith('vi')) return envRowBatch(row as EnvRowName);
  return row.startsWith('fit') ? Number(row.split(' ')[1]) : PQN_BATCH;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/**
 * Steps per timed block: about `blockSeconds`, at least 1. The ceiling only guards
 * against a wildly short first timing: a ceiling of 2000 cut the environment rows'
 * blocks (a few µs a step) to 10–30 ms, and then whichever side was faster spent a
 * larger share of its block waking its threads and caches after the settle pause.
 */
const stepsFor = (blockSeconds: number, stepSeconds: number): number =>
  Math.max(1, Math.min(200_000, Math.round(blockSeconds / Math.max(stepSeconds, 1e-6))));

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n', 1)[0];

export async function benchGpu(opts: GpuBenchOptions = gpuOptions(process.argv.slice(2))): Promise<GpuBench> {
  const loadBefore = loadavg()[0];
  // On a CPU backend the JAX side gets the same 2 threads.
  process.env.PLEARN_CPU_THREADS ??= '2';
  const { tf, detail } = await initBackend(opts.backend);
  let onGpu = false;
  if (tf.getBackend() === 'webgpu') {
    const { loadWebGpu } = await import('../shared/tensor/webgpu.ts');
    onGpu = !(await loadWebGpu(tf, true)).adapter.software;
  }
  const device = opts.jaxDevice === 'auto' ? (onGpu ? 'gpu' : 'cpu') : opts.jaxDevice;
  const jax = device === 'off' ? { skipped: '--jax-device off' } : await JaxSide.start(device, 2);
  const side = jax instanceof JaxSide ? jax : undefined;
  let jaxSkipped = jax instanceof JaxSide ? undefined : jax.skipped;
  // Time between the two sides' blocks: OpenBLAS's and XLA's idle CPU threads spin for a while after a call.
  const settleMs = onGpu ? 50 : 300;
  const settle = () => new Promise<void>((r) => setTimeout(r, settleMs));

  const note = (obj: object) => { if (opts.rowsOut) appendFileSync(opts.rowsOut, JSON.stringify(obj) + '\n'); };
  note({ backend: detail, onGpu, jax: side?.info ?? null, ...(jaxSkipped ? { jaxSkipped } : {}), reps: opts.reps, blockSeconds: opts.blockSeconds });

  const rng = new Rng(15);
  const rows: GpuRow[] = [];
  try {
    for (const row of opts.rows) {
      const out: GpuRow = {
        row, batch: batchOf(row), plearnSecondsPerStep: null, plearnStepsPerSec: null, plearnStepsPerBlock: 0,
        jaxSecondsPerStep: null, jaxStepsPerSec: null, jaxStepsPerBlock: null, ratio: null,
      };
      rows.push(out);
      let step: PlearnStep | undefined;
      const pt: number[] = [];
      const jt: number[] = [];
      let jaxOk = side !== undefined && jaxSkipped === undefined;
      try {
        step = await plearnStep(tf, row, rng);
        // One step compiles the shaders (or warms the CPU paths); the next sizes a first block,
        // and that block, timed, sizes the others: one step of a few µs is mostly call overhead
        // (JAX's one-step timing includes a Python dispatch), and blocks sized from it came out
        // a tenth of --block-seconds or less.
        await step.block(1);
        let t0 = performance.now();
        await step.block(1);
        let k = stepsFor(opts.blockSeconds, (performance.now() - t0) / 1000);
        if (k > 1) {
          t0 = performance.now();
          await step.block(k);
          k = stepsFor(opts.blockSeconds, (performance.now() - t0) / 1000 / k);
        }
        out.plearnStepsPerBlock = k;
        let kj = 0;
        if (jaxOk && side) {
          try {
            kj = stepsFor(opts.blockSeconds, (await side.prepare(row)).stepSeconds);
            if (kj > 1) {
              const r = await side.time(row, kj);
              kj = stepsFor(opts.blockSeconds, r.seconds / r.steps);
            }
            out.jaxStepsPerBlock = kj;
          } catch (e) {
            jaxOk = false;
            out.error = `jax: ${message(e)}`;
          }
        }
        for (let rep = 0; rep < opts.reps; rep++) {
          const timePlearn = async () => {
            t0 = performance.now();
            await step?.block(k);
            pt.push((performance.now() - t0) / 1000 / k);
          };
          const timeJax = async () => {
            if (!jaxOk || !side) return;
            try {
              const r = await side.time(row, kj);
              jt.push(r.seconds / r.steps);
            } catch (e) {
              // A JAX failure on one row (out of memory, say) leaves the others to run.
              jaxOk = false;
              jt.length = 0;
              out.error = `jax: ${message(e)}`;
              if (!side.running) jaxSkipped = `jax_bench.py stopped: ${message(e)}`;
            }
          };
          if (rep % 2 === 0) {
            await timePlearn();
            await settle();
            await timeJax();
          } else {
            await timeJax();
            await settle();
            await timePlearn();
          }
          await settle();
        }
      } catch (e) {
        out.error = [out.error, `plearn: ${message(e)}`].filter(Boolean).join('; ');
      } finally {
        step?.dispose();
      }
      if (pt.length > 0) {
        out.plearnSecondsPerStep = median(pt);
        out.plearnStepsPerSec = 1 / out.plearnSecondsPerStep;
      }
      if (jt.length > 0) {
        out.jaxSecondsPerStep = median(jt);
        out.jaxStepsPerSec = 1 / out.jaxSecondsPerStep;
      }
      // Each repetition's two blocks ran back to back: their ratio cancels load that drifts slower than that.
      if (jt.length > 0 && jt.length === pt.length) out.ratio = median(jt.map((j, i) => j / pt[i]));
      note(out);
    }
  } finally {
    await side?.close();
  }
  return {
    backend: detail, onGpu, jax: side?.info ?? null, ...(jaxSkipped ? { jaxSkipped } : {}), reps: opts.reps,
    blockSeconds: opts.blockSeconds, loadAverage: [loadBefore, loadavg()[0]], rows,
  };
}

export function formatGpu(b: GpuBench): string {
  const ms = (x: number | null) => (x === null ? '—' : (x * 1000).toFixed(x < 0.01 ? 3 : 1));
  const rate = (x: number | null) => (x === null ? '—' : x.toFixed(x < 10 ? 2 : 0));
  const lines = [
    `gpu steps (plearn vs JAX, same steps and shapes; medians of ${b.reps} interleaved repetitions; ratio = JAX time ÷ plearn time, >1: plearn faster)`,
    `  plearn backend  ${b.backend}`,
    b.jax
      ? `  JAX             ${b.jax.jax} (optax ${b.jax.optax}) on ${b.jax.platform} ${b.jax.device}${b.jax.threads ? `, ${b.jax.threads} threads` : ''} (${b.jax.python})`
      : `  JAX             not run: ${b.jaxSkipped ?? 'unknown'}`,
  ];
  if (!b.onGpu) lines.push('  NOTE            plearn did not run on a hardware GPU: these are not GPU figures');
  lines.push(`  load average    ${b.loadAverage[0].toFixed(2)} → ${b.loadAverage[1].toFixed(2)}`);
  lines.push(`  ${'row'.padEnd(15)} ${'batch'.padStart(6)}  ${'plearn ms/step'.padStart(14)} ${'steps/s'.padStart(8)}  ${'JAX ms/step'.padStart(11)} ${'steps/s'.padStart(8)}  ${'ratio'.padStart(6)}`);
  for (const r of b.rows) {
    lines.push(`  ${r.row.padEnd(15)} ${String(r.batch).padStart(6)}  ${ms(r.plearnSecondsPerStep).padStart(14)} ${rate(r.plearnStepsPerSec).padStart(8)}  `
      + `${ms(r.jaxSecondsPerStep).padStart(11)} ${rate(r.jaxStepsPerSec).padStart(8)}  ${(r.ratio === null ? '—' : r.ratio.toFixed(2)).padStart(6)}`
      + (r.error ? `  (${r.error})` : ''));
  }
  return lines.join('\n');
}
