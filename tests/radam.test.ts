// RAdam and global-norm clipping against an independent float64 computation of
// optax's formulas and hand-computed cases, on the plain and the fast CPU backend.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initBackend } from '../shared/tensor/backend.ts';
import type { TF } from '../shared/tensor/backend.ts';
import { clipByGlobalNorm, radam, radamRectifier } from '../shared/tensor/radam.ts';

/** optax.scale_by_radam then −lr, in float64, one parameter vector. */
function reference(grads: number[][], p0: number[], lrs: number[]): number[][] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const rhoInf = 2 / (1 - b2) - 1;
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, k) => {
    const t = k + 1;
    const rho = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mHat = m[i] / (1 - b1 ** t);
      let u = mHat;
      if (rho >= 5) {
        const r = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
        u = (r * mHat) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
      }
      p[i] -= lrs[k] * u;
    }
    out.push([...p]);
  });
  return out;
}

async function backends(): Promise<[string, TF][]> {
  const out: [string, TF][] = [['cpu', (await initBackend('cpu')).tf]];
  try {
    out.push(['cpu-blas', (await initBackend('cpu-blas')).tf]);
  } catch {
    // Without the native addon the fast path is not there to test.
  }
  return out;
}

test('the rectifier switches on at step 6 with β₂ = 0.999 (ρ_t crosses 5) and tends to 1', () => {
  for (let t = 1; t <= 5; t++) assert.equal(radamRectifier(t, 0.999, 5), 0, `t = ${t}`);
  assert.ok(radamRectifier(6, 0.999, 5) > 0);
  assert.ok(Math.abs(radamRectifier(1e6, 0.999, 5) - 1) < 1e-3);
});

test('RAdam matches the float64 reference over 40 steps with a changing learning rate', async () => {
  for (const [name, tf] of await backends()) {
    await tf.setBackend(name);
    assert.equal(tf.getBackend(), name);
    const n = 37;
    const p0 = Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const grads = Array.from({ length: 40 }, (_, k) => Array.from({ length: n }, (_, i) => Math.fround(Math.cos(0.7 * k + 1.3 * i) * (1 + (i % 3)))));
    const lrs = grads.map((_, k) => 1e-2 * (1 - k / 40));
    const want = reference(grads, p0, lrs);
    const p = tf.variable(tf.tensor1d(p0), true, `radam-test-${name}`);
    const opt = radam(tf, { learningRate: lrs[0] });
    grads.forEach((g, k) => {
      opt.learningRate = lrs[k];
      const gt = tf.tensor1d(g);
      opt.applyGradients([{ name: p.name, tensor: gt }]);
      gt.dispose();
      const got = p.dataSync();
      for (let i = 0; i < n; i++) {
        assert.ok(Math.abs(got[i] - want[k][i]) <= 1e-6 * Math.max(1, Math.abs(want[k][i])), `${name} step ${k + 1} [${i}]: ${got[i]} vs ${want[k][i]}`);
      }
    });
    // Hand case: the first step is p − lr·g exactly (m̂ = g, not yet rectified).
    assert.ok(Math.abs(want[0][0] - (p0[0] - lrs[0] * grads[0][0])) < 1e-15);
    opt.dispose();
    p.dispose();
  }
});

test('global-norm clipping: ‖([3, 4], [12])‖ = 13 scaled to 10, left alone under 20', async () => {
  const { tf } = await initBackend('cpu');
  const g = [tf.tensor1d([3, 4]), tf.tensor1d([12])];
  const a = clipByGlobalNorm(tf, g, 10);
  assert.ok(Math.abs(a.norm - 13) < 1e-6);
  const s = 10 / 13;
  assert.deepEqual(Array.from(a.grads[0].dataSync()), [Math.fround(3 * s), Math.fround(4 * s)]);
  assert.deepEqual(Array.from(a.grads[1].dataSync()), [Math.fround(12 * s)]);
  const b = clipByGlobalNorm(tf, g, 20);
  assert.deepEqual(Array.from(b.grads[0].dataSync()), [3, 4]);
  assert.deepEqual(Array.from(b.grads[1].dataSync()), [12]);
  for (const t of [...g, ...a.grads, ...b.grads]) t.dispose();
});
