// Seeded PRNG and seed derivation. Everything random in plearn flows from these,
// so a run is a pure function of its seed on any machine and any worker.

/** One step of the SplitMix32-style finaliser (Murmur3 fmix32 constants): a bijection on uint32. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Seed of one agent task (or any derived stream):
 *   derive(seed, a, b, …) = fold over the parts p of h ← mix32(h ⊕ mix32(p + 0x9e3779b9·(i+1))),
 * starting from h = mix32(seed). Inputs are uint32; the result is a uint32.
 * Agent seeds are derive(runSeed, shardIndex, seedIndex); goal placements use
 * derive(runSeed, 0xfff00000 + seedIndex), a separate stream id (a hash: distinct in practice, not by proof).
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = mix32(seed >>> 0);
  for (let i = 0; i < parts.length; i++) {
    const p = (parts[i] >>> 0) + Math.imul(0x9e3779b9, i + 1);
    h = mix32((h ^ mix32(p >>> 0)) >>> 0);
  }
  return h;
}

export const GOAL_STREAM = 0xfff00000;

/** xoshiro128** — small state, fast, good equidistribution; state lives in a Uint32Array. */
export class Rng {
  private readonly s = new Uint32Array(4);

  constructor(seed: number) {
    // Fill the state from a SplitMix-like sequence so nearby seeds give unrelated streams.
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      this.s[i] = mix32(z) || 1;
    }
  }

  /** Uniform uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias worth noticing for small n. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
