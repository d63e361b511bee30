// What the tests of the addon's bit-for-bit paths (VI sweeps, environment steps)
// share: whether the addon loads here, a run of the same work with the TypeScript
// path and then the addon's, and an exact comparison of their arrays.

import assert from 'node:assert/strict';
import { loadFastCpuAddon, type FastCpuAddon } from '../../shared/tensor/fast-cpu.ts';

/** The addon, or why the tests skip. */
export function probeAddon(): { native?: FastCpuAddon; skip: string | false } {
  try {
    return { native: loadFastCpuAddon(), skip: false };
  } catch (e) {
    return { skip: `fast CPU addon unavailable: ${(e as Error).message}` };
  }
}

/** fn's result with the TypeScript paths (PLEARN_NATIVE_STEPS=off), then with the addon's. */
export function bothWays<T>(fn: () => T): { plain: T; native: T } {
  const before = process.env.PLEARN_NATIVE_STEPS;
  try {
    process.env.PLEARN_NATIVE_STEPS = 'off';
    const plain = fn();
    delete process.env.PLEARN_NATIVE_STEPS;
    return { plain, native: fn() };
  } finally {
    if (before === undefined) delete process.env.PLEARN_NATIVE_STEPS;
    else process.env.PLEARN_NATIVE_STEPS = before;
  }
}

/** Equal bit for bit (Object.is: −0 and NaN included). */
export function assertSame(plain: Float64Array, fast: Float64Array, label: string): void {
  assert.equal(plain.length, fast.length, `${label}: lengths`);
  for (let i = 0; i < plain.length; i++) {
    if (!Object.is(plain[i], fast[i])) assert.fail(`${label}[${i}]: native ${fast[i]} vs TypeScript ${plain[i]}`);
  }
}
