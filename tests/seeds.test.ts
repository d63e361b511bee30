// Seeds and random streams: mix32 and the Rng against BigInt re-implementations of the
// published algorithms (Murmur3 fmix32, xoshiro128**), deriveSeed's distinctness over
// the grid a cluster run uses, statistical sanity of the uniform draws, and the goal
// pickers built on them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GOAL_STREAM, Rng, deriveSeed, mix32 } from '../shared/util/rng.ts';
import { pickGoals, rewardTables } from '../shared/tabular/goals.ts';

const M32 = (1n << 32n) - 1n;

/** Murmur3 fmix32 in BigInt arithmetic (no Math.imul), as published. */
function fmix32Ref(x: number): number {
  let h = BigInt(x >>> 0);
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M32;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M32;
  h ^= h >> 16n;
  return Number(h);
}

/** The inverse of fmix32 (modular inverses of its two multipliers), to show mix32 is a bijection. */
function unmix32(x: number): number {
  let h = BigInt(x >>> 0);
  h ^= h >> 16n;
  h = (h * 0x7ed1b41dn) & M32; // 0xc2b2ae35⁻¹ mod 2³²
  h ^= (h >> 13n) ^ (h >> 26n);
  h = (h * 0xa5cb9243n) & M32; // 0x85ebca6b⁻¹ mod 2³²
  h ^= h >> 16n;
  return Number(h);
}

test('mix32 equals a BigInt fmix32 and is inverted by the known inverse', () => {
  // The inverse constants really are inverses mod 2^32.
  assert.equal((0x85ebca6bn * 0xa5cb9243n) & M32, 1n);
  assert.equal((0xc2b2ae35n * 0x7ed1b41dn) & M32, 1n);
  assert.equal(mix32(0), 0, 'fmix32(0) = 0');
  const rng = new Rng(1);
  const inputs = [1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0x9e3779b9, -1, 123456789];
  for (let i = 0; i < 2000; i++) inputs.push(rng.nextU32());
  for (const x of inputs) {
    const y = mix32(x);
    assert.ok(Number.isInteger(y) && y >= 0 && y <= 0xffffffff, `mix32(${x}) = ${y} is not a uint32`);
    assert.equal(y, fmix32Ref(x), `mix32(${x})`);
    assert.equal(unmix32(y), x >>> 0, `unmix32(mix32(${x}))`);
  }
});

test('deriveSeed is deterministic, uint32, and distinct over runSeed × shard × seedIndex', () => {
  const runSeeds = [0, 1, 2, 0xdeadbeef];
  const seen = new Map<number, string>();
  for (const rs of runSeeds) {
    for (let shard = 0; shard < 64; shard++) {
      for (let si = 0; si < 64; si++) {
        const v = deriveSeed(rs, shard, si);
        assert.equal(v, deriveSeed(rs, shard, si), 'deterministic');
        assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff, `uint32: ${v}`);
        const key = `${rs}/${shard}/${si}`;
        const prev = seen.get(v);
        assert.equal(prev, undefined, `collision: ${key} and ${prev} both give ${v}`);
        seen.set(v, key);
      }
    }
  }
  assert.equal(seen.size, 4 * 64 * 64);
  // Goal streams derive(runSeed, GOAL_STREAM + seedIndex) stay clear of every agent stream.
  for (const rs of runSeeds) {
    for (let si = 0; si < 64; si++) {
      const v = deriveSeed(rs, GOAL_STREAM + si);
      const prev = seen.get(v);
      assert.equal(prev, undefined, `goal stream ${rs}/${si} collides with ${prev}`);
      seen.set(v, `goal ${rs}/${si}`);
    }
  }
});

test('deriveSeed: the order and the number of parts matter; inputs are taken as uint32', () => {
  let checked = 0;
  for (const rs of [0, 7, 0xffffffff]) {
    for (let a = 0; a < 16; a++) {
      for (let b = 0; b < 16; b++) {
        if (a === b) continue;
        assert.notEqual(deriveSeed(rs, a, b), deriveSeed(rs, b, a), `(${rs}; ${a}, ${b}) vs (${rs}; ${b}, ${a})`);
        checked++;
      }
      // Appending a part, even a zero, gives a new stream; so does moving a value into the seed slot.
      assert.notEqual(deriveSeed(rs, a), deriveSeed(rs, a, 0));
      assert.notEqual(deriveSeed(rs), deriveSeed(rs, 0));
      if (a !== rs) assert.notEqual(deriveSeed(rs, a), deriveSeed(a, rs), `(${rs}; ${a}) vs (${a}; ${rs})`);
    }
  }
  assert.equal(checked, 3 * 16 * 15);
  // With no parts it is mix32 of the seed (the documented starting point of the fold).
  assert.equal(deriveSeed(12345), fmix32Ref(12345));
  // Negative numbers and 2^32 + k are reduced to uint32 first.
  assert.equal(deriveSeed(-1, 3), deriveSeed(0xffffffff, 3));
  assert.equal(deriveSeed(5, -2), deriveSeed(5, 0xfffffffe));
  // Documented fold, one part, evaluated with BigInt: mix32(mix32(s) ⊕ mix32(p + 0x9e3779b9)).
  for (const [s, p] of [[0, 0], [1, 2], [0xdeadbeef, 0xfff00003]]) {
    const inner = fmix32Ref(Number((BigInt(p) + 0x9e3779b9n) & M32));
    assert.equal(deriveSeed(s, p), fmix32Ref((fmix32Ref(s) ^ inner) >>> 0), `deriveSeed(${s}, ${p})`);
  }
});

/** xoshiro128** over BigInt, seeded as documented: z += 0x9e3779b9, s[i] = fmix32(z) || 1. */
function* xoshiroRef(seed: number): Generator<number> {
  const s: bigint[] = [];
  let z = BigInt(seed >>> 0);
  for (let i = 0; i < 4; i++) {
    z = (z + 0x9e3779b9n) & M32;
    s.push(BigInt(fmix32Ref(Number(z)) || 1));
  }
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M32;
  for (;;) {
    const result = (rotl((s[1] * 5n) & M32, 7n) * 9n) & M32;
    const t = (s[1] << 9n) & M32;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
    yield Number(result);
  }
}

test('Rng.nextU32 reproduces xoshiro128** (BigInt reference) for several seeds', () => {
  for (const seed of [0, 1, 42, 0xffffffff, -7]) {
    const rng = new Rng(seed);
    const ref = xoshiroRef(seed);
    for (let i = 0; i < 500; i++) {
      assert.equal(rng.nextU32(), ref.next().value, `seed ${seed}, draw ${i}`);
    }
  }
});

test('Rng: same seed same stream; nearby seeds give unrelated streams', () => {
  const a = new Rng(100), b = new Rng(100);
  for (let i = 0; i < 1000; i++) assert.equal(a.nextU32(), b.nextU32());
  const firsts = new Set<number>();
  for (let seed = 0; seed < 1000; seed++) firsts.add(new Rng(seed).nextU32());
  assert.equal(firsts.size, 1000, 'first outputs of seeds 0..999 are all distinct');
});

test('Rng.next is uniform on [0,1): mean and variance within 5 standard errors', () => {
  const n = 400_000;
  const rng = new Rng(2718);
  let sum = 0, sumSq = 0, min = 1, max = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    sum += u;
    sumSq += (u - 0.5) ** 2;
    if (u < min) min = u;
    if (u > max) max = u;
  }
  assert.ok(min >= 0 && max < 1, `range [${min}, ${max}]`);
  // U[0,1): mean 1/2, variance 1/12; Var[(u−½)²] = E(u−½)⁴ − (1/12)² = 1/80 − 1/144 = 1/180.
  const mean = sum / n;
  const seMean = Math.sqrt(1 / 12 / n);
  assert.ok(Math.abs(mean - 0.5) < 5 * seMean, `mean ${mean}, 5 SE = ${5 * seMean}`);
  const variance = sumSq / n;
  const seVar = Math.sqrt(1 / 180 / n);
  assert.ok(Math.abs(variance - 1 / 12) < 5 * seVar, `variance ${variance} vs ${1 / 12}, 5 SE = ${5 * seVar}`);
  // Lag-1 correlation of consecutive draws ≈ 0 (SE = 1/√n).
  const r2 = new Rng(2719);
  let prev = r2.next() - 0.5, cov = 0;
  for (let i = 0; i < n; i++) { const u = r2.next() - 0.5; cov += prev * u; prev = u; }
  const corr = cov / n / (1 / 12);
  assert.ok(Math.abs(corr) < 5 / Math.sqrt(n), `lag-1 correlation ${corr}`);
});

test('Rng.int(k) stays in range and each value has frequency 1/k within 5 SE', () => {
  const rng = new Rng(31);
  for (const k of [1, 2, 3, 7, 68]) {
    const n = 20_000 * Math.min(k, 10);
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      const v = rng.int(k);
      assert.ok(Number.isInteger(v) && v >= 0 && v < k, `int(${k}) = ${v}`);
      counts[v]++;
    }
    const p = 1 / k;
    const se = Math.sqrt(n * p * (1 - p));
    for (let v = 0; v < k; v++) {
      assert.ok(Math.abs(counts[v] - n * p) <= 5 * se + 1e-9, `int(${k}): value ${v} seen ${counts[v]} times, expected ${n * p} ± ${5 * se}`);
    }
  }
});

test('pickGoals (sparse): distinct states in range, reproducible by seed, uniform over seeds', () => {
  const nS = 68;
  for (const count of [1, 4, 16, 68]) {
    for (let seed = 0; seed < 20; seed++) {
      const goals = pickGoals('sparse', count, nS, seed);
      assert.equal(goals.length, count);
      const states = goals.map((g) => {
        assert.equal(g.kind, 'sparse');
        return g.kind === 'sparse' ? g.state : -1;
      });
      for (const s of states) assert.ok(Number.isInteger(s) && s >= 0 && s < nS, `state ${s}`);
      assert.equal(new Set(states).size, count, `distinct (count ${count}, seed ${seed})`);
      assert.deepEqual(pickGoals('sparse', count, nS, seed), goals, 'reproducible');
    }
  }
  // Different seeds, different picks (4 of 68: a coincidence is ~1e-7 per pair).
  const keyOf = (seed: number): string => JSON.stringify(pickGoals('sparse', 4, nS, seed));
  const keys = new Set<string>();
  for (let seed = 0; seed < 50; seed++) keys.add(keyOf(seed));
  assert.equal(keys.size, 50);
  assert.throws(() => pickGoals('sparse', nS + 1, nS, 0), RangeError);
  // Uniform: over many seeds each state is picked with probability count/nS.
  const trials = 4000, count = 4, nSmall = 10;
  const hits = new Array<number>(nSmall).fill(0);
  for (let seed = 0; seed < trials; seed++) {
    for (const g of pickGoals('sparse', count, nSmall, seed)) if (g.kind === 'sparse') hits[g.state]++;
  }
  const p = count / nSmall;
  const se = Math.sqrt(trials * p * (1 - p));
  for (let s = 0; s < nSmall; s++) {
    assert.ok(Math.abs(hits[s] - trials * p) < 5 * se, `state ${s} picked ${hits[s]} times, expected ${trials * p} ± ${5 * se}`);
  }
});

test('pickGoals (generic) and rewardTables: rewards in [0,1), reproducible, no termination', () => {
  const nS = 68;
  const goals = pickGoals('generic', 8, nS, 77);
  assert.equal(goals.length, 8);
  assert.deepEqual(pickGoals('generic', 8, nS, 77), goals, 'reproducible');
  const seeds = goals.map((g) => (g.kind === 'generic' ? g.seed : -1));
  assert.equal(new Set(seeds).size, 8, 'distinct reward seeds');
  assert.notDeepEqual(pickGoals('generic', 8, nS, 78), goals, 'another seed, other goals');

  const t = rewardTables(goals, nS);
  assert.equal(t.nGoals, 8);
  assert.equal(t.nStates, nS);
  assert.equal(t.r.length, 8 * nS);
  let sum = 0;
  for (let i = 0; i < t.r.length; i++) {
    assert.ok(t.r[i] >= 0 && t.r[i] < 1, `r[${i}] = ${t.r[i]}`);
    assert.equal(t.d[i], 0, 'generic goals never terminate');
    sum += t.r[i];
  }
  // Mean of 544 U[0,1) draws: 1/2 ± 5·√(1/12/544).
  const mean = sum / t.r.length;
  assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(1 / 12 / t.r.length), `mean reward ${mean}`);
  // Each goal's rows are distinct functions, and rebuilt identically from the spec alone.
  assert.notDeepEqual(t.r.subarray(0, nS), t.r.subarray(nS, 2 * nS));
  assert.deepEqual(rewardTables([goals[3]], nS).r, t.r.slice(3 * nS, 4 * nS));
  // The row is the goal seed's own Rng stream (as documented: r(s') ~ U[0,1) from `seed`).
  const g3 = goals[3];
  assert.ok(g3.kind === 'generic');
  const ref = xoshiroRef(g3.seed);
  for (let s = 0; s < nS; s++) assert.equal(t.r[3 * nS + s], ref.next().value / 2 ** 32);
});

test('rewardTables (sparse): one-hot reward and termination rows', () => {
  const t = rewardTables([{ kind: 'sparse', state: 3 }, { kind: 'generic', seed: 1 }, { kind: 'sparse', state: 0 }], 5);
  assert.deepEqual([...t.r.subarray(0, 5)], [0, 0, 0, 1, 0]);
  assert.deepEqual([...t.d.subarray(0, 5)], [0, 0, 0, 1, 0]);
  assert.deepEqual([...t.d.subarray(5, 10)], [0, 0, 0, 0, 0]);
  assert.deepEqual([...t.r.subarray(10, 15)], [1, 0, 0, 0, 0]);
  assert.deepEqual([...t.d.subarray(10, 15)], [1, 0, 0, 0, 0]);
});
