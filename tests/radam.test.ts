// RAdam and global-norm clipping against an independent float64 transcription
// of optax's scale_by_radam / clip_by_global_norm, plus hand-computed cases.
// Each runs on the plain CPU backend and, where they load, on cpu-blas (the
// in-place path shares its arrays with the native kernels) and on WASM, which
// has no backing Float32Array and so exercises the TF-op path.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initBackend } from '../shared/tensor/backend.ts';
import type { BackendName, TF, Tensor, Variable } from '../shared/tensor/backend.ts';
import { clipByGlobalNorm, radam } from '../shared/tensor/radam.ts';

const f32 = Math.fround;

interface Backend {
  readonly name: string;
  readonly tf: TF;
}

let backendsPromise: Promise<{ ok: Backend[]; skipped: string[] }> | undefined;

/** Every backend of interest that loads; all share one TF.js namespace, so tests switch with setBackend. */
async function backends(): Promise<Backend[]> {
  backendsPromise ??= (async () => {
    const ok: Backend[] = [];
    const skipped: string[] = [];
    for (const name of ['cpu', 'cpu-blas', 'wasm'] as BackendName[]) {
      try {
        const h = await initBackend(name);
        ok.push({ name: h.backend, tf: h.tf });
      } catch (e) {
        skipped.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (skipped.length > 0) console.log(`# radam tests skip backends: ${skipped.join('; ')}`);
    return { ok, skipped };
  })();
  const { ok } = await backendsPromise;
  assert.ok(ok.some((b) => b.name === 'cpu'), 'the plain CPU backend must load');
  return ok;
}

async function onEach(fn: (tf: TF, name: string) => Promise<void> | void): Promise<void> {
  for (const { name, tf } of await backends()) {
    assert.ok(await tf.setBackend(name));
    const before = tf.memory().numTensors;
    await fn(tf, name);
    assert.equal(tf.memory().numTensors, before, `${name}: tensors leaked`);
  }
}

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;
const THRESHOLD = 5;

/** ρ_t of optax.scale_by_radam, in float64. */
function rho(t: number): number {
  const rhoInf = 2 / (1 - B2) - 1;
  return rhoInf - (2 * t * B2 ** t) / (1 - B2 ** t);
}

/**
 * optax.radam (scale_by_radam, then scale by −lr, then apply_updates) in float64,
 * from the formulas of optax/_src/transform.py. Parameters and moments are
 * rounded to float32 where they are stored, as the tensors hold them.
 * Returns the parameters after every step.
 */
function referenceRAdam(p0: readonly number[], grads: readonly (readonly number[])[], lrs: readonly number[]): number[][] {
  const rhoInf = 2 / (1 - B2) - 1;
  const p = p0.map(f32);
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  for (let k = 0; k < grads.length; k++) {
    const count = k + 1;
    const ro = rho(count);
    for (let i = 0; i < p.length; i++) {
      const g = grads[k][i];
      const mNew = (1 - B1) * g + B1 * m[i];
      const vNew = (1 - B2) * g ** 2 + B2 * v[i];
      m[i] = f32(mNew);
      v[i] = f32(vNew);
      const muHat = mNew / (1 - B1 ** count);
      const nuHat = vNew / (1 - B2 ** count);
      let update = muHat;
      if (ro >= THRESHOLD) {
        const r = Math.sqrt(((ro - 4) * (ro - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * ro));
        update = (r * muHat) / (Math.sqrt(nuHat + 0) + EPS);
      }
      p[i] = f32(p[i] + -lrs[k] * update);
    }
    out.push([...p]);
  }
  return out;
}

/** Deterministic, varied gradients: several magnitudes, both signs, and one always-zero entry. */
function gradientsFor(steps: number, n: number): number[][] {
  return Array.from({ length: steps }, (_, k) =>
    Array.from({ length: n }, (_, i) => (i === n - 1 ? 0 : f32(Math.cos(0.7 * k + 1.3 * i) * 10 ** ((i % 5) - 2)))),
  );
}

function assertClose(got: ArrayLike<number>, want: readonly number[], rel: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(err <= rel * Math.abs(want[i]) || err === 0, `${what} [${i}]: got ${got[i]}, want ${want[i]} (rel err ${err / Math.abs(want[i])})`);
  }
}

/**
 * Optimizer results against the reference: ‖got − want‖ / ‖want‖ ≤ rel everywhere,
 * and element by element on the CPU backends' in-place path, whose float64
 * arithmetic rounds only where it stores. The TF-op path rounds after every op,
 * a few float32 ulps of the parameter: relative to a parameter passing near
 * zero that is far above 1e-6, while still ~1e-7 of the parameter vector.
 */
function assertParamsClose(backend: string, got: ArrayLike<number>, want: readonly number[], rel: number, what: string): void {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  assert.ok(Math.sqrt(num) <= rel * Math.sqrt(den), `${what}: ‖error‖/‖want‖ = ${Math.sqrt(num / den)}`);
  if (backend === 'cpu' || backend === 'cpu-blas') assertClose(got, want, rel, what);
}

/** A trainable variable; its initial tensor is released (a variable does not own it). */
function variableOf(tf: TF, values: readonly number[]): Variable {
  return tf.tidy(() => tf.variable(tf.tensor1d(values.slice()), true));
}

/** Runs `steps` optimizer steps on one fresh variable; returns the parameters after each. */
function runRAdam(tf: TF, p0: readonly number[], grads: readonly (readonly number[])[], lrs: readonly number[]): number[][] {
  const p = variableOf(tf, p0);
  const opt = radam(tf, { learningRate: lrs[0] });
  const out: number[][] = [];
  try {
    for (let k = 0; k < grads.length; k++) {
      opt.learningRate = lrs[k];
      const g = tf.tensor1d(grads[k].slice());
      opt.applyGradients([{ name: p.name, tensor: g }]);
      g.dispose();
      out.push(Array.from(p.dataSync()));
    }
  } finally {
    opt.dispose();
    p.dispose();
  }
  return out;
}

test('ρ_t with β₂ = 0.999 stays under the threshold 5 for t ≤ 5 and exceeds it from t = 6', () => {
  // The switch-over the reference test relies on: ρ_t ≈ t − O(1−β₂) for small t.
  for (let t = 1; t <= 5; t++) assert.ok(rho(t) < THRESHOLD, `ρ_${t} = ${rho(t)}`);
  for (let t = 6; t <= 12; t++) assert.ok(rho(t) >= THRESHOLD, `ρ_${t} = ${rho(t)}`);
  assert.equal(rho(1), 1);
});

test('RAdam matches the float64 reference over 30 steps (5 unrectified, 25 rectified) with a decaying learning rate', async () => {
  const n = 53;
  const steps = 30;
  const p0 = Array.from({ length: n }, (_, i) => f32(Math.sin(i + 1) * 2));
  const grads = gradientsFor(steps, n);
  const lrs = grads.map((_, k) => 3e-2 * (1 - k / steps));
  const want = referenceRAdam(p0, grads, lrs);
  await onEach((tf, name) => {
    const got = runRAdam(tf, p0, grads, lrs);
    for (let k = 0; k < steps; k++) assertParamsClose(name, got[k], want[k], 1e-6, `${name} step ${k + 1}`);
    // The always-zero gradient leaves its parameter alone, rectified or not (no 0/0).
    assert.equal(got[steps - 1][n - 1], p0[n - 1]);
  });
});

test('the first step is p − lr·g exactly (m̂ = g, not rectified)', async () => {
  // Values chosen so that every intermediate is exact in float32.
  const p0 = [1.5, -0.75, 3, 0.5];
  const g = [0.25, -2, 0, 8];
  const lr = 0.5;
  const want = p0.map((p, i) => p - lr * g[i]);
  assert.deepEqual(want, [1.375, 0.25, 3, -3.5]);
  await onEach((tf, name) => {
    const [after] = runRAdam(tf, p0, [g], [lr]);
    assert.deepEqual(after, want, name);
  });
});

test('a learning-rate change between steps takes effect at the next step', async () => {
  const n = 7;
  const steps = 12;
  const p0 = Array.from({ length: n }, (_, i) => f32(0.3 * i - 1));
  const grads = gradientsFor(steps, n);
  // Zero at one unrectified and one rectified step, larger in between and after.
  const lrs = [0.1, 0.1, 0, 0.4, 0.4, 0.4, 0.4, 0, 0.05, 0.05, 0.2, 0.2];
  const want = referenceRAdam(p0, grads, lrs);
  await onEach((tf, name) => {
    const got = runRAdam(tf, p0, grads, lrs);
    for (let k = 0; k < steps; k++) assertParamsClose(name, got[k], want[k], 1e-6, `${name} step ${k + 1}`);
    // lr = 0 freezes the parameters for that step only (the moments still move, as in optax).
    assert.deepEqual(got[2], got[1], `${name}: step 3 has lr 0`);
    assert.deepEqual(got[7], got[6], `${name}: step 8 has lr 0`);
    assert.notDeepEqual(got[3], got[2], `${name}: step 4 moves again`);
  });
});

test('clipByGlobalNorm: ‖([3, 4], [12])‖ = 13 is scaled to 10 and left alone under 20', async () => {
  await onEach((tf, name) => {
    const g = [tf.tensor1d([3, 4]), tf.tensor1d([12])];
    const clipped = clipByGlobalNorm(tf, g, 10);
    assert.equal(clipped.norm, 13, name);
    // optax computes (g / 13) * 10 in float32; either order lands within an ulp.
    assertClose(clipped.grads[0].dataSync(), [30 / 13, 40 / 13], 1.2e-7, `${name} clipped [3, 4]`);
    assertClose(clipped.grads[1].dataSync(), [120 / 13], 1.2e-7, `${name} clipped [12]`);
    const loose = clipByGlobalNorm(tf, g, 20);
    assert.equal(loose.norm, 13, name);
    assert.deepEqual(Array.from(loose.grads[0].dataSync()), [3, 4], name);
    assert.deepEqual(Array.from(loose.grads[1].dataSync()), [12], name);
    // The results are the caller's own: disposing the inputs leaves them intact.
    g.forEach((t) => t.dispose());
    assert.deepEqual(Array.from(loose.grads[1].dataSync()), [12], `${name} after disposing the input`);
    [...clipped.grads, ...loose.grads].forEach((t) => t.dispose());
  });
});

test('clipByGlobalNorm matches the float64 norm over several tensors, and its output has norm maxNorm', async () => {
  const shapes = [[17, 5], [5], [3, 3, 4]];
  const values = shapes.map((s, j) => Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => f32(Math.sin(i * 0.37 + j) * (j + 1))));
  const norm = Math.sqrt(values.flat().reduce((s, x) => s + x * x, 0));
  await onEach((tf, name) => {
    const g = values.map((vals, j) => tf.tensor(vals, shapes[j]));
    const a = clipByGlobalNorm(tf, g, 1);
    assert.ok(a.norm !== undefined, `${name} reads back synchronously, so the norm is reported`);
    assert.ok(Math.abs(a.norm - norm) <= 1e-6 * norm, `${name}: norm ${a.norm} vs ${norm}`);
    a.grads.forEach((t, j) => {
      assert.deepEqual(t.shape, shapes[j]);
      assertClose(t.dataSync(), values[j].map((x) => x / norm), 1e-6, `${name} tensor ${j}`);
    });
    // Clipped norm is maxNorm (to float32 precision); a second clip leaves it be.
    const again = clipByGlobalNorm(tf, a.grads, 1);
    assert.ok(again.norm !== undefined && Math.abs(again.norm - 1) < 1e-6, `${name}: re-clipped norm ${again.norm}`);
    [...g, ...a.grads, ...again.grads].forEach((t) => t.dispose());
  });
  const { tf } = (await backends())[0];
  assert.throws(() => clipByGlobalNorm(tf, [], 0), RangeError);
  assert.equal(clipByGlobalNorm(tf, [], 1).norm, 0);
});

test('the in-place path never writes into a tensor that shares the variable’s buffer', async () => {
  await onEach((tf, name) => {
    const init = tf.tensor1d([1, 2, 3]);
    const p = tf.variable(init, true);
    const alias = p.clone();
    const opt = radam(tf, { learningRate: 0.1 });
    const g = tf.tensor1d([1, -1, 0.5]);
    opt.applyGradients({ [p.name]: g });
    assert.deepEqual(Array.from(p.dataSync()), [f32(0.9), f32(2.1), f32(2.95)], name);
    assert.deepEqual(Array.from(init.dataSync()), [1, 2, 3], `${name}: initial value`);
    assert.deepEqual(Array.from(alias.dataSync()), [1, 2, 3], `${name}: clone`);
    // The gradient is only read.
    assert.deepEqual(Array.from(g.dataSync()), [1, -1, 0.5], `${name}: gradient`);
    for (const t of [init, p, alias, g]) t.dispose();
    opt.dispose();
  });
});

test('getWeights is a snapshot, and setWeights into a fresh optimizer continues identically', async () => {
  const n = 9;
  const grads = gradientsFor(10, n);
  const p0 = Array.from({ length: n }, (_, i) => f32(i / 3 - 1));
  await onEach(async (tf, name) => {
    const pa = variableOf(tf, p0);
    const a = radam(tf, { learningRate: 0.01 });
    const step = (opt: typeof a, p: Variable, k: number): void => {
      const g = tf.tensor1d(grads[k]);
      opt.applyGradients([{ name: p.name, tensor: g }]);
      g.dispose();
    };
    for (let k = 0; k < 7; k++) step(a, pa, k);
    const saved = await a.getWeights();
    assert.deepEqual(saved.map((w) => w.name), ['iter', `${pa.name}/m`, `${pa.name}/v`]);
    const mAt7 = Array.from(saved[1].tensor.dataSync());

    const pb = tf.tidy(() => tf.variable(pa.clone(), true));
    const b = radam(tf, { learningRate: 0.01 });
    // The saved entries name pa; b trains pb.
    await b.setWeights(saved.map((w) => ({ name: w.name.replace(pa.name, pb.name), tensor: w.tensor })));
    assert.equal(b.iterations, 7);
    for (let k = 7; k < 10; k++) {
      step(a, pa, k);
      step(b, pb, k);
    }
    assert.deepEqual(Array.from(pb.dataSync()), Array.from(pa.dataSync()), name);
    assert.deepEqual(Array.from(saved[1].tensor.dataSync()), mAt7, `${name}: snapshot changed by later steps`);
    saved.forEach((w) => w.tensor.dispose());
    for (const t of [pa, pb]) t.dispose();
    a.dispose();
    b.dispose();
  });
});

test('minimize works, and a step allocates no tensors beyond the moments', async () => {
  await onEach((tf, name) => {
    const w = variableOf(tf, [2, -3]);
    const opt = radam(tf, { learningRate: 0.1 });
    const loss = (): ReturnType<TF['scalar']> => tf.sum(tf.square(w));
    opt.minimize(loss, false, [w]);
    const after1 = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) opt.minimize(loss, false, [w]);
    assert.equal(tf.memory().numTensors, after1, `${name}: tensors per step`);
    // Six steps against the gradient 2w move both coordinates towards 0 without overshooting.
    const [x, y] = w.dataSync();
    assert.ok(x < 2 && x > 0 && y > -3 && y < 0, `${name}: ${x}, ${y}`);
    opt.dispose();
    w.dispose();
  });
});

test('bad configurations are refused', async () => {
  const { tf } = (await backends())[0];
  assert.throws(() => radam(tf, { learningRate: 1e-3, beta2: 1 }), RangeError);
  assert.throws(() => radam(tf, { learningRate: 1e-3, beta1: -0.1 }), RangeError);
  const opt = radam(tf, { learningRate: Number.NaN });
  const p = variableOf(tf, [1]);
  const g: Tensor = tf.tensor1d([1]);
  assert.throws(() => opt.applyGradients([{ name: p.name, tensor: g }]), RangeError);
  for (const t of [p, g]) t.dispose();
  opt.dispose();
});
