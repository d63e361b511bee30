// The continuous worlds' batched steps on the fast CPU addon
// (shared/tensor/native/envstep.c) against the TypeScript steps they replace:
// the same states bit for bit. MountainCar's step needs Math.cos's exact bits,
// so the addon's cosine is first held to Math.cos itself over the positions a
// step meets, a wide range, and the arguments where its reduction by π/2 is
// hardest. Batches the addon refuses (a bad action, a position past its cosine)
// behave exactly as the TypeScript step. Skips, saying why, where the addon is
// not built.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContinuousEnv } from '../shared/envs/continuous.ts';
import { MC_MAX_POSITION, MC_MAX_SPEED, MC_MIN_POSITION, mountainCar } from '../shared/envs/mountaincar.ts';
import { reacher } from '../shared/envs/reacher.ts';
import { Rng } from '../shared/util/rng.ts';
import { assertSame, bothWays, probeAddon } from './support/native-paths.ts';

const { native, skip } = probeAddon();

const bits = new Float64Array(1);
const bitsInt = new BigInt64Array(bits.buffer);
/** x moved by k units in the last place. */
function ulps(x: number, k: number): number {
  bits[0] = x;
  bitsInt[0] += BigInt(k);
  return bits[0];
}

test('the addon\'s cosine is Math.cos, bit for bit', { skip }, () => {
  const rng = new Rng(11);
  const xs: number[] = [];
  // MountainCar's arguments 3x over the track, then a wide range.
  for (let i = 0; i < 400_000; i++) xs.push(3 * (MC_MIN_POSITION + (MC_MAX_POSITION - MC_MIN_POSITION) * rng.next()));
  for (let i = 0; i < 200_000; i++) xs.push((rng.next() - 0.5) * 2 * 10 ** (6 * rng.next()));
  // Next to multiples of π/2, where the reduction loses most bits and takes its longer paths.
  for (let k = -3000; k <= 3000; k++) for (let d = -3; d <= 3; d++) xs.push(ulps((k * Math.PI) / 2, d));
  for (let k = 1; k <= 520_000; k += 997) for (let d = -2; d <= 2; d++) xs.push(ulps((k * Math.PI) / 2, d));
  // Each kernel's branch points (2^-27, 0.3, 0.78125, π/4, 3π/4) and the edge of the range.
  for (const b of [2 ** -27, 0.3, 0.78125, Math.PI / 4, (3 * Math.PI) / 4, 823_549]) {
    for (let d = -4; d <= 4; d++) xs.push(ulps(b, d), -ulps(b, d));
  }
  xs.push(0, -0, 5e-324, NaN, Infinity, -Infinity);
  const x = Float64Array.from(xs);
  const y = new Float64Array(x.length);
  native!.jsCos(x, y);
  assertSame(x.map(Math.cos), y, 'cos');
});

/** States over the world's box, a share of them on its edges, with random actions. */
function batch(env: ContinuousEnv, n: number, seed: number): { s: Float64Array; a: Int32Array } {
  const rng = new Rng(seed);
  const D = env.stateDim;
  const s = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < D; d++) {
      const lo = env.uniformLow[d];
      const hi = env.uniformHigh[d];
      const u = rng.next();
      s[i * D + d] = u < 0.05 ? lo : u > 0.95 ? hi : lo + (hi - lo) * rng.next();
    }
  }
  return { s, a: Int32Array.from({ length: n }, () => rng.int(env.nActions)) };
}

for (const env of [mountainCar, reacher]) {
  test(`${env.name}: the addon's step gives the TypeScript step's states, rollouts and aliased buffers included`, { skip }, () => {
    // Sizes: below the native threshold, one part, several parts, and not a multiple of the parts.
    for (const n of [7, 16, 300, 4096, 20_011]) {
      const { s, a } = batch(env, n, n);
      const { plain, native: fast } = bothWays(() => {
        let cur = s.slice();
        let next = new Float64Array(cur.length);
        for (let t = 0; t < 60; t++) {
          env.step(cur, a, next, n);
          [cur, next] = [next, cur];
        }
        // In place: next === states.
        env.step(cur, a, cur, n);
        return cur;
      });
      assertSame(plain, fast, `${env.name} n=${n}`);
    }
  });

  test(`${env.name}: a batch with a bad action throws as before, with the same states written`, { skip }, () => {
    const n = 4096;
    const { s, a } = batch(env, n, 5);
    a[1234] = env.nActions;
    const { plain, native: fast } = bothWays(() => {
      const cur = s.slice();
      assert.throws(() => env.step(cur, a, cur, n), (e: unknown) => e instanceof RangeError && /action/.test(e.message));
      return cur;
    });
    assertSame(plain, fast, `${env.name} after the throw`);
  });
}

test('mountaincar: positions past the addon\'s cosine, and NaN, take the TypeScript step', { skip }, () => {
  const n = 64;
  const { s, a } = batch(mountainCar, n, 9);
  s[2 * 10] = 3e5;
  s[2 * 20] = NaN;
  s[2 * 30 + 1] = -2 * MC_MAX_SPEED;
  assert.equal(native!.mountainCarStep(s, a, new Float64Array(2 * n), n, Float64Array.of(-1.2, 0.6, 0.07, 0.001, 0.0025)), 10);
  const { plain, native: fast } = bothWays(() => {
    const next = new Float64Array(2 * n);
    mountainCar.step(s, a, next, n);
    return next;
  });
  assertSame(plain, fast, 'mountaincar far positions');
  assert.ok(Number.isNaN(fast[2 * 20]));
});

test('the addon\'s steps refuse short arrays and wrong constants instead of reading past them', { skip }, () => {
  const s = new Float64Array(8);
  const a = new Int32Array(4);
  const mc = Float64Array.of(-1.2, 0.6, 0.07, 0.001, 0.0025);
  // Fewer rows than n: refused whole (index 0), nothing written.
  const next = new Float64Array(8).fill(7);
  assert.equal(native!.mountainCarStep(s, a, next, 5, mc), 0);
  assert.deepEqual([...next], Array(8).fill(7));
  assert.throws(() => native!.mountainCarStep(s, a, next, 4, Float64Array.of(1, 2)), /constants/);
  assert.throws(() => native!.reacherStep(s, a, next, 2, Float64Array.of(1, 2, 3), 0.05, 0.05), /constants/);
  assert.throws(() => native!.reacherStep(s, new Float64Array(4) as unknown as Int32Array, next, 2, Float64Array.of(1, 2), 0.05, 0.05), /Int32Array/);
});
