// The cpu-blas backend against the plain TF.js CPU backend: every kernel it
// replaces, LayerNorm, the Adam update, and whole training steps give the
// same forward values and gradients (‖fast − plain‖ / ‖plain‖ ≤ 1e-5 per
// tensor) on fresh random inputs, with shapes chosen to miss any block size.
// Plus: it loads in worker threads, and without it plearn falls back with one
// warning. The comparisons skip, saying why, where the addon is not built.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { initBackend } from '../shared/tensor/backend.ts';
import type { Scalar, TF, Tensor, Tensor2D, Variable } from '../shared/tensor/backend.ts';
import { loadFastCpuAddon } from '../shared/tensor/fast-cpu.ts';
import { adam, layerNorm } from '../shared/tensor/fused.ts';
import { initMlpParams, mlpForward, type MlpSpec } from '../shared/tensor/mlp.ts';
import { Rng } from '../shared/util/rng.ts';

const TOL = 1e-5;

let unavailable: string | false = false;
try {
  loadFastCpuAddon();
} catch (e) {
  unavailable = `fast CPU addon unavailable: ${e instanceof Error ? e.message : String(e)}`;
}
// CI builds the addon in npm test's set-up: there a missing addon is a failure, not a skip.
if (unavailable && process.env.CI === 'true' && process.env.PLEARN_FAST_CPU !== 'off') {
  throw new Error(`CI=true but the ${unavailable}; npm test's set-up (tests/support/setup.sh) should have built it`);
}
const skip = unavailable;

// Fresh inputs every run; the seed is printed so a failure can be replayed.
const seed = Number(process.env.PLEARN_TEST_SEED ?? (Date.now() >>> 0));
const rng = new Rng(seed);

function randn(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rng.next();
    a[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return a;
}

let tfPromise: Promise<TF> | undefined;
async function getTf(): Promise<TF> {
  tfPromise ??= (async () => {
    // Registers both; tests switch between them.
    await initBackend('cpu');
    return (await initBackend('cpu-blas')).tf;
  })();
  return tfPromise;
}

/** Run `fn` on each backend and read back every tensor it returns. */
async function onBoth(fn: (tf: TF) => Tensor[]): Promise<{ fast: Float32Array[]; plain: Float32Array[] }> {
  const tf = await getTf();
  const run = async (name: string): Promise<Float32Array[]> => {
    assert.ok(await tf.setBackend(name));
    const before = tf.memory().numTensors;
    const outs = tf.tidy(() => fn(tf));
    const vals = outs.map((t) => Float32Array.from(t.dataSync()));
    outs.forEach((t) => t.dispose());
    assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
    return vals;
  };
  const fast = await run('cpu-blas');
  const plain = await run('cpu');
  await tf.setBackend('cpu-blas');
  return { fast, plain };
}

function relErr(fast: Float32Array, plain: Float32Array): number {
  assert.equal(fast.length, plain.length);
  let num = 0;
  let den = 0;
  for (let i = 0; i < fast.length; i++) {
    num += (fast[i] - plain[i]) ** 2;
    den += plain[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function assertClose(res: { fast: Float32Array[]; plain: Float32Array[] }, labels: readonly string[], tol = TOL): void {
  assert.equal(res.fast.length, labels.length);
  res.fast.forEach((f, i) => {
    assert.ok(f.every(Number.isFinite), `${labels[i]}: non-finite values (seed ${seed})`);
    const e = relErr(f, res.plain[i]);
    assert.ok(e <= tol, `${labels[i]}: ‖fast − plain‖/‖plain‖ = ${e.toExponential(2)} > ${tol} (seed ${seed})`);
  });
}

test(`fast cpu: seed ${seed}; the backend line names OpenBLAS and the thread count`, { skip }, async () => {
  const h = await initBackend('cpu-blas');
  assert.equal(h.backend, 'cpu-blas');
  assert.match(h.detail, /^cpu-blas: native kernels over OpenBLAS \S+ \(.+, \d+ threads\)/);
  const auto = await initBackend('auto');
  assert.equal(auto.backend, 'cpu-blas');
  assert.match(auto.detail, /skipped tensorflow-gpu: not installed; webgpu: [^;]+; tensorflow: not installed$/);
});

// Past 2^18 multiply-adds a product is cut into row or column blocks over the pool, and a side of at most 8 takes the thin
// loops instead of sgemm: these sizes reach every cut (rows, columns, batch) with each thin side and with none.
test('fast cpu: matMul with every transpose, batched and broadcast, odd sizes, thin and split', { skip }, async () => {
  for (const [M, K, N] of [[1, 1, 1], [37, 53, 29], [129, 7, 65], [6, 257, 3], [300, 300, 301], [700, 5, 300], [1000, 300, 3], [4, 600, 700], [9, 700, 500], [300, 401, 530]] as const) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const a = randn(3 * M * K);
        const b = randn(3 * K * N);
        const aShape = ta ? [K, M] : [M, K];
        const bShape = tb ? [N, K] : [K, N];
        const res = await onBoth((tf) => [
          tf.matMul(tf.tensor2d(a.subarray(0, M * K), aShape as [number, number]), tf.tensor2d(b.subarray(0, K * N), bShape as [number, number]), ta, tb),
          tf.matMul(tf.tensor3d(a, [3, ...aShape] as [number, number, number]), tf.tensor3d(b, [3, ...bShape] as [number, number, number]), ta, tb),
          // One matrix against a batch of three, both ways round.
          tf.matMul(tf.tensor3d(a.subarray(0, M * K), [1, ...aShape] as [number, number, number]), tf.tensor3d(b, [3, ...bShape] as [number, number, number]), ta, tb),
          tf.matMul(tf.tensor4d(a, [3, 1, ...aShape] as [number, number, number, number]), tf.tensor3d(b.subarray(0, K * N), [1, ...bShape] as [number, number, number]), ta, tb),
        ]);
        assertClose(res, ['2-D', 'batched', 'broadcast a', 'broadcast b'].map((s) => `${M}×${K}×${N} ta=${ta} tb=${tb} ${s}`));
      }
    }
  }
});

test('fast cpu: fused matMul with bias and activation, and its gradients', { skip }, async () => {
  const [M, K, N] = [77, 45, 33];
  const a = randn(M * K);
  const b = randn(K * N);
  const bias = randn(N);
  for (const activation of ['linear', 'relu', 'sigmoid'] as const) {
    const res = await onBoth((tf) => {
      const [ta, tb, tbias] = [tf.tensor2d(a, [M, K]), tf.tensor2d(b, [K, N]), tf.tensor1d(bias)];
      const y = tf.fused.matMul({ a: ta, b: tb, bias: tbias, activation });
      if (activation === 'sigmoid') return [y];
      const g = tf.grads((x: Tensor, w: Tensor, c: Tensor) =>
        tf.sum(tf.mul(tf.fused.matMul({ a: x as Tensor2D, b: w as Tensor2D, bias: c, activation }), 0.5)))([ta, tb, tbias]);
      return [y, ...g];
    });
    assertClose(res, ['y', 'da', 'db', 'dbias'].slice(0, res.fast.length).map((s) => `${activation} ${s}`));
  }
});

test('fast cpu: elementwise ops with scalar, row, column and full broadcasts', { skip }, async () => {
  const [R, C] = [67, 131];
  const x = randn(R * C);
  const y = randn(R * C);
  const row = randn(C);
  const col = randn(R);
  const pos = x.map((v) => Math.abs(v) + 0.1);
  const res = await onBoth((tf) => {
    const [tx, ty, trow, tcol, tpos] = [tf.tensor2d(x, [R, C]), tf.tensor2d(y, [R, C]), tf.tensor1d(row), tf.tensor2d(col, [R, 1]), tf.tensor2d(pos, [R, C])];
    const outs: Tensor[] = [];
    for (const op of [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum, tf.squaredDifference]) {
      outs.push(op(tx, ty), op(tx, trow), op(trow, tx), op(tx, tcol), op(tcol, tx), op(tx, 0.75), op(1.5, tx), op(trow, tcol));
    }
    outs.push(tf.relu(tx), tf.sigmoid(tx), tf.tanh(tx), tf.square(tx), tf.sqrt(tpos), tf.rsqrt(tpos), tf.abs(tx), tf.neg(tx),
      tf.exp(tx), tf.log(tpos), tf.step(tx, 0.3), tf.sign(tx), tf.reciprocal(tpos));
    // Rank 3 with a middle-axis broadcast: handled by the CPU kernel, still right.
    outs.push(tf.add(tx.reshape([R, 1, C]), tf.tensor3d(y.subarray(0, 2 * C), [1, 2, C])));
    return outs;
  });
  assertClose(res, res.fast.map((_, i) => `op ${i}`));
});

test('fast cpu: slices, splits and comparisons (float32, int32 and bool)', { skip }, async () => {
  const shape = [3, 7, 5, 4] as const;
  const x = randn(3 * 7 * 5 * 4);
  const ints = Int32Array.from(x, (v) => Math.round(10 * v));
  const row = randn(4);
  const col = randn(3 * 7 * 5);
  const res = await onBoth((tf) => {
    const t = tf.tensor4d(x, [...shape]);
    const ti = tf.tensor4d(ints, [...shape], 'int32');
    const outs: Tensor[] = [];
    for (const [begin, size] of [
      [[0, 0, 0, 0], [-1, -1, -1, -1]], [[1, 2, 0, 0], [2, 3, -1, -1]], [[0, 0, 0, 1], [-1, -1, -1, 2]],
      [[2, 6, 4, 3], [1, 1, 1, 1]], [[0, 1, 2, 0], [3, 5, 2, 4]], [[1, 0, 1, 1], [1, 7, 3, 3]],
    ] as const) {
      outs.push(tf.slice(t, [...begin], [...size]), tf.slice(ti, [...begin], [...size]), tf.slice(tf.greater(t, 0), [...begin], [...size]));
    }
    outs.push(...tf.split(t, [1, 3, 1], 2), ...tf.split(t, 2, 3), ...tf.split(ti, [4, 3], 1), ...tf.split(tf.reshape(t, [105, 4]), [3, 1], 1));
    const m = tf.reshape(t, [105, 4]);
    const c = tf.tensor2d(col, [105, 1]);
    for (const cmp of [tf.equal, tf.notEqual, tf.greater, tf.greaterEqual, tf.less, tf.lessEqual]) {
      outs.push(cmp(m, tf.max(m, 1, true)), cmp(m, tf.tensor1d(row)), cmp(m, c), cmp(m, 0.25), cmp(m, m));
    }
    return outs;
  });
  assertClose(res, res.fast.map((_, i) => `slice/split/compare ${i}`));
});

test('fast cpu: sum, mean, max and min over inner, outer, middle and all axes', { skip }, async () => {
  const shape = [5, 37, 19] as const;
  const x = randn(5 * 37 * 19);
  const big = randn(4099 * 33);
  const res = await onBoth((tf) => {
    const t = tf.tensor3d(x, [...shape]);
    const outs: Tensor[] = [];
    for (const op of [tf.sum, tf.mean, tf.max, tf.min]) {
      for (const axis of [0, 1, 2, -1, [0, 1], [1, 2], undefined]) {
        outs.push(op(t, axis), op(t, axis, true));
      }
    }
    // A bias gradient's shape: many rows, few columns (the row-split path).
    outs.push(tf.sum(tf.tensor2d(big, [4099, 33]), 0), tf.mean(tf.tensor2d(big, [4099, 33]), 0));
    return outs;
  });
  assertClose(res, res.fast.map((_, i) => `reduction ${i}`));
});

test('fast cpu: LayerNorm (+ReLU) forward and gradients equal composed TF.js ops on the plain backend', { skip }, async () => {
  for (const [rows, cols] of [[1, 5], [37, 129], [256, 1031]] as const) {
    const x = randn(rows * cols, 2);
    const gamma = randn(cols);
    const beta = randn(cols, 0.5);
    // Positive weights on y²: a loss whose sum does not cancel, so its float
    // rounding is that of the terms, not of a difference of large numbers.
    const w = randn(rows * cols).map((v) => Math.abs(v) + 0.1);
    for (const relu of [false, true]) {
      const res = await onBoth((tf) => {
        const args = [tf.tensor2d(x, [rows, cols]), tf.tensor1d(gamma), tf.tensor1d(beta)];
        const f = (a: Tensor, g: Tensor, b: Tensor): Scalar =>
          tf.sum(tf.mul(tf.square(layerNorm(tf, a, g, b, { relu })), tf.tensor2d(w, [rows, cols])));
        const { value, grads } = tf.valueAndGrads(f)(args);
        return [layerNorm(tf, args[0], args[1], args[2], { relu }), value, ...grads];
      });
      assertClose(res, ['y', 'loss', 'dx', 'dgamma', 'dbeta'].map((s) => `${rows}×${cols} relu=${relu} ${s}`));
    }
  }
});

test('fast cpu: Adam updates in place, equal to the composed update, and never touch shared buffers', { skip }, async () => {
  const n = 100003;
  const p0 = randn(n);
  const grads = [randn(n), randn(n, 3), randn(n, 0.01)];
  const res = await onBoth((tf) => {
    const initial = tf.tensor1d(p0);
    const p = tf.variable(initial);
    const opt = adam(tf, { learningRate: 1e-2 });
    for (const g of grads) opt.applyGradients([{ name: p.name, tensor: tf.tensor1d(g) }]);
    const out = [p.clone(), initial];
    opt.dispose();
    p.dispose();
    return out;
  });
  assertClose(res, ['p after 3 steps', 'the tensor the variable was made from']);
  assert.deepEqual(res.fast[1], p0);
});

test('adam: getWeights / setWeights carry the step count and moments over to a new optimizer', { skip }, async () => {
  const tf = await getTf();
  await tf.setBackend('cpu-blas');
  const g = [randn(40000), randn(40000)];
  const run = async (split: boolean): Promise<Float32Array> => {
    const p = tf.variable(tf.tensor1d(randn(40000).fill(0.5)));
    let opt = adam(tf, { learningRate: 1e-2 });
    opt.applyGradients([{ name: p.name, tensor: tf.tensor1d(g[0]) }]);
    if (split) {
      const next = adam(tf, { learningRate: 1e-2 });
      await next.setWeights(await opt.getWeights());
      opt.dispose();
      opt = next;
    }
    opt.applyGradients([{ name: p.name, tensor: tf.tensor1d(g[1]) }]);
    const out = Float32Array.from(p.dataSync());
    opt.dispose();
    p.dispose();
    return out;
  };
  assert.deepEqual(await run(true), await run(false));
});

function trainingStep(tf: TF, spec: MlpSpec, params: Variable[], x: Tensor2D, y: Tensor2D): Tensor[] {
  const out = mlpForward(tf, spec, params, x);
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(mlpForward(tf, spec, params, x), y)) as Scalar, params);
  return [out, value, ...params.map((p) => grads[p.name])];
}

test('fast cpu: an MLP training step (LayerNorm + ReLU, sigmoid head): output, loss and every gradient', { skip }, async () => {
  for (const [batch, hidden] of [[37, [33, 65]], [256, [256, 256]], [13, [129]]] as const) {
    const spec: MlpSpec = { inDim: 6, hidden, outDim: 9, activation: 'relu', layerNorm: true, head: 'sigmoid' };
    const x = randn(batch * 6);
    const y = Float32Array.from(randn(batch * 9), (v) => 1 / (1 + Math.exp(-v)));
    const paramSeed = rng.int(1 << 30);
    const res = await onBoth((tf) => {
      const r = new Rng(paramSeed);
      const params = initMlpParams(tf, spec, () => r.next());
      const out = trainingStep(tf, spec, params, tf.tensor2d(x, [batch, 6]), tf.tensor2d(y, [batch, 9]));
      params.forEach((p) => p.dispose());
      return out;
    });
    const names = ['output', 'loss', ...res.fast.slice(2).map((_, i) => `grad ${i}`)];
    assertClose(res, names.map((s) => `batch ${batch} hidden ${hidden.join('×')}: ${s}`));
  }
});

test('fast cpu: the P-learning fit loss through a frozen Q-network (tanh world model, max, abs)', { skip }, async () => {
  const B = 203;
  const q: MlpSpec = { inDim: 6, hidden: [64, 64], outDim: 9, activation: 'relu', layerNorm: true, head: 'sigmoid' };
  const wm: MlpSpec = { inDim: 13, hidden: [48, 48], outDim: 4, activation: 'tanh', layerNorm: false, head: 'linear' };
  const s = randn(B * 4);
  const goal = randn(B * 2);
  const actions = Int32Array.from({ length: B }, () => rng.int(9));
  const r = Float32Array.from({ length: B }, () => rng.next());
  const [qSeed, wSeed] = [rng.int(1 << 30), rng.int(1 << 30)];
  const res = await onBoth((tf) => {
    const qr = new Rng(qSeed);
    const wr = new Rng(wSeed);
    const qParams = initMlpParams(tf, q, () => qr.next(), false);
    const wParams = initMlpParams(tf, wm, () => wr.next());
    const st = tf.tensor2d(s, [B, 4]);
    const gt = tf.tensor2d(goal, [B, 2]);
    const onehot = tf.oneHot(tf.tensor1d(actions, 'int32'), 9).toFloat();
    const target = tf.sum(tf.mul(mlpForward(tf, q, qParams, tf.concat([st, gt], 1)), onehot), 1);
    const { value, grads } = tf.variableGrads(() => {
      const next = tf.add(st, mlpForward(tf, wm, wParams, tf.concat([st, onehot], 1) as Tensor2D));
      const v = tf.max(mlpForward(tf, q, qParams, tf.concat([next, gt], 1) as Tensor2D), 1);
      return tf.mean(tf.abs(tf.sub(target, tf.add(tf.tensor1d(r), tf.mul(0.99, v))))) as Scalar;
    }, wParams);
    const out = [value, ...wParams.map((p) => grads[p.name])];
    [...qParams, ...wParams].forEach((p) => p.dispose());
    return out;
  });
  assertClose(res, ['loss', ...res.fast.slice(1).map((_, i) => `world-model grad ${i}`)]);
});

type WorkerReply = { backend: string; detail: string; value: number[] } | { error: string };

function inWorker(stress?: number): Promise<WorkerReply> {
  const worker = new Worker(new URL('./support/fast-cpu-worker.js', import.meta.url), { workerData: { stress } });
  return new Promise<WorkerReply>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  }).finally(() => worker.terminate());
}

test('fast cpu: loads and computes in a worker thread', { skip }, async () => {
  const msg = await inWorker();
  assert.ok(!('error' in msg), 'error' in msg ? msg.error : '');
  assert.equal(msg.backend, 'cpu-blas');
  assert.match(msg.detail, /OpenBLAS/);
  // [[1, 2], [3, 4]] · [[5, 6], [7, 8]]
  assert.deepEqual(msg.value, [19, 22, 43, 50]);
});

test('fast cpu: three worker threads and the main thread at once share the native pool safely', { skip }, async () => {
  const tf = await getTf();
  await tf.setBackend('cpu-blas');
  const { stressChecksums } = await import('./support/fast-cpu-stress.ts');
  const iterations = 25;
  const reference = stressChecksums(tf, iterations);
  const workers = [inWorker(iterations), inWorker(iterations), inWorker(iterations)];
  const main = stressChecksums(tf, iterations);
  for (const msg of [...(await Promise.all(workers)), { backend: 'cpu-blas', detail: '', value: main }]) {
    assert.ok(!('error' in msg), 'error' in msg ? msg.error : '');
    assert.equal(msg.value.length, reference.length);
    msg.value.forEach((v, i) => assert.ok(Math.abs(v - reference[i]) <= 1e-5 * Math.abs(reference[i]), `checksum ${i}: ${v} vs ${reference[i]}`));
  }
});

/** A child process: `auto` under the given environment, one training step, its backend and stderr. */
function autoInChild(env: Record<string, string>): { backend: string; detail: string; loss: number; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', new URL('./support/fast-cpu-fallback.ts', import.meta.url).pathname], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  assert.equal(res.status, 0, res.stderr);
  return { ...(JSON.parse(res.stdout) as { backend: string; detail: string; loss: number }), stderr: res.stderr };
}

for (const [why, env, reason] of [
  ['PLEARN_FAST_CPU=off', { PLEARN_FAST_CPU: 'off', PLEARN_FAST_CPU_ADDON: '' }, /disabled by PLEARN_FAST_CPU=off/],
  ['a missing addon', { PLEARN_FAST_CPU: '', PLEARN_FAST_CPU_ADDON: '/nonexistent/fastcpu.node' }, /addon not built \(\/nonexistent\/fastcpu\.node missing; needs a C compiler and libopenblas-dev: npm run fast-cpu\)/],
] as const) {
  test(`fallback: with ${why}, auto picks a plain backend, warns once, and trains`, () => {
    const out = autoInChild(env);
    assert.ok(['wasm', 'cpu'].includes(out.backend), out.backend);
    assert.match(out.detail, new RegExp(`skipped .*cpu-blas: ${reason.source}`));
    const warnings = out.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(warnings.length, 1, out.stderr);
    assert.match(warnings[0], /^plearn: warning: fast CPU path unavailable \(.+\); using a slower TensorFlow\.js backend/);
    if (env.PLEARN_FAST_CPU === 'off') assert.doesNotMatch(warnings[0], /npm run/, 'turned off on purpose: no fix offered');
    else assert.equal(warnings[0].split('npm run fast-cpu').length, 2, `the fix, once: ${warnings[0]}`);
    assert.ok(Number.isFinite(out.loss) && out.loss > 0, String(out.loss));
  });
}
