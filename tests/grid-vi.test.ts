// Grid value iteration (the paper’s evaluation) against answers known in closed form: multilinear
// interpolation reproduces multilinear functions exactly, chains whose moves land on
// grid points have γ^(k−1) values, and a half-cell translation has a value we solve by hand.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GridSpec } from '../shared/continuous/grid.ts';
import { cellCount, interpolate, interpolateMany, interpolateWithGradient, interpolationWeights, makeGrid, pointOf } from '../shared/continuous/grid.ts';
import type { Dynamics, RewardDone, Transitions } from '../shared/continuous/grid-vi.ts';
import {
  bytesPerPair, greedyAction, greedyActions, policyEvaluation, precomputeTransitions, qAt, retarget, valueIteration,
} from '../shared/continuous/grid-vi.ts';
import { Rng } from '../shared/util/rng.ts';

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

/** Random multilinear f(x) = Σ_S c_S Π_{i∈S} x_i over all subsets S of the dims. */
function multilinear(rng: Rng, dims: number): (x: ArrayLike<number>) => number {
  const c = Float64Array.from({ length: 1 << dims }, () => uniform(rng, -1, 1));
  return (x) => {
    let s = 0;
    for (let S = 0; S < c.length; S++) {
      let term = c[S];
      for (let i = 0; i < dims; i++) if ((S >> i) & 1) term *= x[i];
      s += term;
    }
    return s;
  };
}

function sample(grid: GridSpec, f: (x: ArrayLike<number>) => number): Float64Array {
  const values = new Float64Array(cellCount(grid));
  const p = new Float64Array(grid.dims);
  for (let c = 0; c < values.length; c++) values[c] = f(pointOf(grid, c, p));
  return values;
}

const SIZES = [7, 4, 5, 3];

function boxGrid(rng: Rng, dims: number, periodic?: boolean[]): GridSpec {
  const low = Array.from({ length: dims }, () => uniform(rng, -2, 0));
  const high = low.map((l) => l + uniform(rng, 0.5, 3));
  return makeGrid(low, high, SIZES.slice(0, dims), periodic);
}

describe('multilinear interpolation', () => {
  for (const dims of [1, 2, 3, 4]) {
    test(`exact on multilinear functions in ${dims}-D`, () => {
      const rng = new Rng(100 + dims);
      const grid = boxGrid(rng, dims);
      const f = multilinear(rng, dims);
      const values = sample(grid, f);
      const k = 1 << dims;
      const idx = new Int32Array(k);
      const w = new Float64Array(k);
      const n = 200;
      const xs = new Float64Array(n * dims);
      for (let i = 0; i < n * dims; i++) xs[i] = uniform(rng, grid.low[i % dims], grid.high[i % dims]);
      const many = interpolateMany(grid, values, xs, n, new Float64Array(n));
      for (let i = 0; i < n; i++) {
        const x = xs.subarray(i * dims, (i + 1) * dims);
        close(interpolate(grid, values, x), f(x), 1e-12, `f at point ${i}`);
        assert.equal(many[i], interpolate(grid, values, x));
        interpolationWeights(grid, x, idx, w);
        assert.ok(w.every((wc) => wc >= 0));
        close(w.reduce((a, b) => a + b, 0), 1, 1e-14, 'weights sum');
      }
      // Grid points themselves, the box's corners included, come back as sampled.
      const p = new Float64Array(dims);
      for (let c = 0; c < values.length; c++) close(interpolate(grid, values, pointOf(grid, c, p)), values[c], 1e-12, `node ${c}`);
    });
  }

  test('pointOf spans low..high inclusive, last dim fastest', () => {
    const grid = makeGrid([-1, 0], [1, 10], [3, 11]);
    assert.equal(cellCount(grid), 33);
    const expected: Array<[number, number[]]> = [[0, [-1, 0]], [1, [-1, 1]], [11, [0, 0]], [32, [1, 10]]];
    for (const [c, x] of expected) assert.deepEqual(Array.from(pointOf(grid, c, new Float64Array(2))), x);
  });

  test('queries outside the box clamp to its edge on non-periodic dims', () => {
    const rng = new Rng(7);
    const grid = boxGrid(rng, 3);
    const values = sample(grid, () => uniform(rng, -1, 1));
    for (let i = 0; i < 100; i++) {
      // Up to one box width beyond either side.
      const x = Float64Array.from({ length: 3 }, (_, d) => uniform(rng, 2 * grid.low[d] - grid.high[d], 2 * grid.high[d] - grid.low[d]));
      const clamped = x.map((v, d) => Math.min(grid.high[d], Math.max(grid.low[d], v)));
      close(interpolate(grid, values, x), interpolate(grid, values, clamped), 1e-12, 'clamped query');
    }
  });

  test('periodic dims wrap; the duplicate end point closes the circle', () => {
    const rng = new Rng(8);
    const grid = makeGrid([-Math.PI, -2], [Math.PI, 2], [9, 5], [true, false]);
    // Sampled from a 2π-periodic function, so the points at θ = −π and θ = π agree.
    const values = sample(grid, (x) => Math.sin(x[0]) + 0.5 * Math.cos(2 * x[0]) * x[1]);
    for (let i = 0; i < 100; i++) {
      const th = uniform(rng, -Math.PI, Math.PI);
      const om = uniform(rng, -2, 2);
      const v = interpolate(grid, values, [th, om]);
      for (const turns of [-3, -1, 1, 2]) close(interpolate(grid, values, [th + 2 * Math.PI * turns, om]), v, 1e-12, `wrapped ${turns}`);
    }
    // Continuous across the seam: just below π meets just above −π.
    close(interpolate(grid, values, [Math.PI - 1e-9, 0.3]), interpolate(grid, values, [-Math.PI + 1e-9, 0.3]), 1e-8, 'seam');
  });

  test('gradient matches finite differences; zero along a clamped dim', () => {
    const rng = new Rng(9);
    for (const dims of [1, 2, 3, 4]) {
      const grid = boxGrid(rng, dims, Array.from({ length: dims }, (_, d) => d === 1));
      const values = sample(grid, () => uniform(rng, -1, 1));
      const grad = new Float64Array(dims);
      const h = 1e-7;
      for (let i = 0; i < 50; i++) {
        const x = new Float64Array(dims);
        for (let d = 0; d < dims; d++) {
          const span = grid.high[d] - grid.low[d];
          const step = span / (grid.size[d] - 1);
          // Stay clear of cell faces so the central difference sees one smooth piece;
          // dims 0 and 1 sometimes leave the box (clamped and wrapped respectively).
          const outside = d < 2 && i % 3 === 0;
          const cell = Math.floor(uniform(rng, 0, grid.size[d] - 1));
          const inCell = grid.low[d] + step * (cell + uniform(rng, 0.05, 0.95));
          x[d] = outside ? inCell + (d === 0 ? span + step : -2 * span) : inCell;
        }
        const v = interpolateWithGradient(grid, values, x, grad);
        close(v, interpolate(grid, values, x), 1e-14, 'value beside gradient');
        for (let d = 0; d < dims; d++) {
          const xp = Float64Array.from(x, (v, e) => (e === d ? v + h : v));
          const xm = Float64Array.from(x, (v, e) => (e === d ? v - h : v));
          const fd = (interpolate(grid, values, xp) - interpolate(grid, values, xm)) / (2 * h);
          close(grad[d], fd, 1e-6, `∂/∂x${d} (${dims}-D, point ${i})`);
          if (d === 0 && x[0] > grid.high[0]) assert.equal(grad[0], 0);
        }
      }
    }
  });
});

// A chain on points 0..N−1 (spacing 1): action 0 moves left, 1 moves right; moves off
// the ends leave the box and the grid clamps them back to the end point.
const N = 10;
const GOAL = 6;
const chain = makeGrid([0], [N - 1], [N]);
const move: Dynamics = (s, a, next, n) => {
  for (let i = 0; i < n; i++) next[i] = s[i] + (a[i] === 1 ? 1 : -1);
};
const enterGoal: RewardDone = (ns, n, r, d) => {
  for (let i = 0; i < n; i++) if (Math.abs(ns[i] - GOAL) < 0.5) r[i] = d[i] = 1;
};

describe('grid value iteration on a 1-D chain', () => {
  const gamma = 0.9;
  let trans: Transitions;
  before(async () => { trans = await precomputeTransitions(chain, 2, move, { rewardDone: enterGoal }); });

  test('optimal values are γ^(k−1), k = steps to enter the goal', () => {
    const res = valueIteration(trans, gamma, { tol: 1e-14 });
    assert.ok(res.converged);
    for (let x = 0; x < N; x++) {
      const k = x === GOAL ? 2 : Math.abs(x - GOAL);
      close(res.V[x], gamma ** (k - 1), 1e-9, `V*(${x})`);
      for (let a = 0; a < 2; a++) {
        const nx = Math.min(N - 1, Math.max(0, x + (a === 1 ? 1 : -1)));
        const q = nx === GOAL ? 1 : gamma * res.V[nx];
        close(res.Q[x * 2 + a], q, 1e-9, `Q*(${x}, ${a})`);
      }
    }
    // Between grid points the greedy action still heads for the goal.
    assert.equal(greedyAction(chain, res.Q, 2, [2.4]), 1);
    assert.equal(greedyAction(chain, res.Q, 2, [8.7]), 0);
    const batch = Float64Array.of(0, 2.4, 5.9, 6.2, 8.7, 12);
    assert.deepEqual(Array.from(greedyActions(chain, res.Q, 2, batch, 6, new Int32Array(6))), [1, 1, 1, 0, 0, 0]);
    const q = qAt(chain, res.Q, 2, [2.25], new Float64Array(2));
    close(q[1], 0.75 * res.Q[2 * 2 + 1] + 0.25 * res.Q[3 * 2 + 1], 1e-15, 'qAt');
  });

  test('policy evaluation of "always right", including states that never reach the goal', () => {
    const right = new Int32Array(N).fill(1);
    const res = policyEvaluation(trans, gamma, right, { tol: 1e-14 });
    for (let x = 0; x < N; x++) close(res.V[x], x < GOAL ? gamma ** (GOAL - x - 1) : 0, 1e-9, `V^right(${x})`);
    // Left from x > GOAL + 1 lands on a state that then drifts away: Q^π = γ·V^π = 0.
    close(res.Q[(GOAL + 2) * 2], 0, 1e-12, 'Q^right(GOAL+2, left)');
    close(res.Q[(GOAL + 1) * 2], 1, 1e-12, 'Q^right(GOAL+1, left)');
  });

  test('evaluating a Q table acts greedily on it; Q* is its own greedy value', () => {
    const opt = valueIteration(trans, gamma, { tol: 1e-14 });
    const pe = policyEvaluation(trans, gamma, opt.Q, { tol: 1e-14 });
    for (let p = 0; p < opt.Q.length; p++) close(pe.Q[p], opt.Q[p], 1e-9, `Q^greedy[${p}]`);
  });

  test('a constant reward with no termination gives r / (1 − γ)', async () => {
    const r0 = 0.3;
    const constant = await precomputeTransitions(chain, 2, move, { rewardDone: (_s, n, r) => r.fill(r0, 0, n) });
    // Rewards are stored as float32.
    const expected = Math.fround(r0) / (1 - gamma);
    const vi = valueIteration(constant, gamma, { tol: 1e-13, maxIters: 1000 });
    const pe = policyEvaluation(constant, gamma, new Int32Array(N), { tol: 1e-13, maxIters: 1000 });
    for (let x = 0; x < N; x++) {
      close(vi.V[x], expected, 1e-9, `V*(${x})`);
      close(pe.V[x], expected, 1e-9, `V^left(${x})`);
    }
  });

  test('chunking and retargeting give the same transitions', async () => {
    const chunked = await precomputeTransitions(chain, 2, move, { rewardDone: enterGoal, chunkSize: 3 });
    for (const key of ['base', 'frac', 'r', 'd'] as const) assert.deepEqual(chunked[key], trans[key]);
    const empty = await precomputeTransitions(chain, 2, move, { rewardDone: () => {} });
    const moved = retarget(empty, enterGoal, { chunkSize: 4 });
    assert.deepEqual(moved.r, trans.r);
    assert.deepEqual(moved.d, trans.d);
    assert.equal(moved.base, empty.base);
    assert.equal(trans.bytes, N * 2 * bytesPerPair(1));
  });

  test('progress is reported per sweep and maxIters stops early', () => {
    const seen: number[] = [];
    const res = valueIteration(trans, gamma, { maxIters: 3, tol: 0, onProgress: (it) => seen.push(it) });
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(res.iters, 3);
    assert.equal(res.converged, false);
  });
});

describe('grid value iteration in 2-D', () => {
  test('a half-cell diagonal translation matches the values solved by hand', async () => {
    // 3×3 points on [0, 2]², spacing 1. Action 0 moves by (+½, +½); action 1 stays.
    // Reaching x ≥ 2 pays 1 and ends the episode.
    const grid = makeGrid([0, 0], [2, 2], [3, 3]);
    const dyn: Dynamics = (s, a, next, n) => {
      for (let i = 0; i < n; i++) {
        const step = a[i] === 0 ? 0.5 : 0;
        next[2 * i] = s[2 * i] + step;
        next[2 * i + 1] = s[2 * i + 1] + step;
      }
    };
    const rd: RewardDone = (ns, n, r, d) => {
      for (let i = 0; i < n; i++) if (ns[2 * i] >= 2) r[i] = d[i] = 1;
    };
    const gamma = 0.9;
    const res = valueIteration(await precomputeTransitions(grid, 2, dyn, { rewardDone: rd }), gamma, { tol: 1e-15 });
    // From (i, j) the successor (i + ½, j + ½) sits at the centre of a cell: weight ¼ on
    // each corner; on the top row y clamps to 2, leaving ½ on each of two corners.
    const hand = new Float64Array(9);
    for (let j = 0; j < 3; j++) hand[2 * 3 + j] = 1;
    for (let i = 1; i >= 0; i--) {
      const top = 0.5 * gamma * hand[(i + 1) * 3 + 2];
      hand[i * 3 + 2] = top / (1 - 0.5 * gamma);
      for (let j = 1; j >= 0; j--) {
        const others = hand[(i + 1) * 3 + j] + hand[i * 3 + j + 1] + hand[(i + 1) * 3 + j + 1];
        hand[i * 3 + j] = (0.25 * gamma * others) / (1 - 0.25 * gamma);
      }
    }
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        close(res.V[i * 3 + j], hand[i * 3 + j], 1e-9, `V(${i}, ${j})`);
        // Staying on x = 2 re-enters the paying edge.
        close(res.Q[(i * 3 + j) * 2 + 1], i === 2 ? 1 : gamma * hand[i * 3 + j], 1e-9, `Q(${i}, ${j}, stay)`);
      }
    }
  });
});

describe('grid value iteration against a direct implementation', () => {
  // Spacing-1 grids and successors moved by multiples of ⅛ keep every in-cell position
  // exact in float32, so the compact form must agree with plain interpolation to rounding.
  // Moves of up to 1.5 cells leave the box: clamped dims and wrapped (periodic) ones.
  const nActions = 5;
  const shift = (x: Float64Array, o: number, a: number, dims: number, k: number): number => {
    let h = 17 * a + 5 * k;
    for (let e = 0; e < dims; e++) h = (h * 31 + Math.round(x[o + e]) * (e + 3)) % 1009;
    return ((h % 25) - 12) / 8;
  };
  const cases: Array<{ sizes: number[]; periodic: boolean[] }> = [
    { sizes: [6, 5], periodic: [false, true] },
    { sizes: [4, 3, 5], periodic: [true, false, false] },
    { sizes: [4, 3, 5, 3], periodic: [true, true, false, false] },
  ];
  for (const { sizes, periodic } of cases) {
    const dims = sizes.length;
    test(`${dims}-D: value iteration and policy evaluation sweep for sweep`, async () => {
      const grid = makeGrid(sizes.map(() => 0), sizes.map((n) => n - 1), sizes, periodic);
      const dyn: Dynamics = (s, a, next, n) => {
        for (let i = 0; i < n; i++) for (let k = 0; k < dims; k++) next[i * dims + k] = s[i * dims + k] + shift(s, i * dims, a[i], dims, k);
      };
      const rd: RewardDone = (ns, n, r, d) => {
        for (let i = 0; i < n; i++) {
          r[i] = 0.25 * Math.sin(ns[i * dims] + 2 * ns[i * dims + 1]) + 0.5;
          d[i] = ns[i * dims] < 0.3 ? 1 : 0;
        }
      };
      const trans = await precomputeTransitions(grid, nActions, dyn, { rewardDone: rd, chunkSize: 37 });
      const cells = cellCount(grid);
      const policy = Int32Array.from({ length: cells }, (_, c) => (c * 7) % nActions);
      const gamma = 0.9;
      const sweeps = 6;
      for (const pi of [null, policy]) {
        let V = new Float64Array(cells);
        const Q = new Float64Array(cells * nActions);
        const next = new Float64Array(dims);
        const [r, d] = [new Float64Array(1), new Uint8Array(1)];
        for (let it = 0; it <= sweeps; it++) {
          const Vn = new Float64Array(cells);
          for (let c = 0; c < cells; c++) {
            const x = pointOf(grid, c, new Float64Array(dims));
            let best = -Infinity;
            for (let a = 0; a < nActions; a++) {
              await dyn(x, Int32Array.of(a), next, 1);
              r[0] = d[0] = 0;
              rd(next, 1, r, d);
              // The library stores rewards as float32.
              const q = Math.fround(r[0]) + (d[0] ? 0 : gamma * interpolate(grid, V, next));
              Q[c * nActions + a] = q;
              if (pi === null ? q > best : a === pi[c]) best = q;
            }
            Vn[c] = best;
          }
          // The last pass only forms Q from the final V, as the library does.
          if (it < sweeps) V = Vn;
        }
        const opts = { tol: 0, maxIters: sweeps };
        const res = pi === null ? valueIteration(trans, gamma, opts) : policyEvaluation(trans, gamma, pi, opts);
        assert.equal(res.iters, sweeps);
        for (let c = 0; c < cells; c++) close(res.V[c], V[c], 1e-12, `V[${c}]`);
        for (let p = 0; p < Q.length; p++) close(res.Q[p], Q[p], 1e-12, `Q[${p}]`);
      }
    });
  }
});

describe('memory bound', () => {
  test('a 200⁴ × 9 grid is refused before anything is allocated', async () => {
    const grid = makeGrid([0, 0, 0, 0], [1, 1, 1, 1], [200, 200, 200, 200]);
    let called = false;
    const before = process.memoryUsage().arrayBuffers;
    await assert.rejects(
      () => precomputeTransitions(grid, 9, () => { called = true; }, { rewardDone: () => {} }),
      (err: unknown) => err instanceof RangeError && /200×200×200×200/.test(err.message) && /maxBytes/.test(err.message),
    );
    assert.equal(called, false);
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  });
});
