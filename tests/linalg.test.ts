import { test } from 'node:test';
import assert from 'node:assert/strict';
import { svd, pinv, matRank } from '../shared/linalg/svd.ts';
import { solveLinear, solveLinearMany } from '../shared/linalg/solve.ts';
import { projectSimplexInPlace } from '../shared/linalg/simplex.ts';

// Local PRNG so these tests depend on nothing else in the tree.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): () => number {
  return () => {
    const u = 1 - rand();
    const w = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
  };
}

function randMat(g: () => number, m: number, n: number): Float64Array {
  const A = new Float64Array(m * n);
  for (let i = 0; i < A.length; i++) A[i] = g();
  return A;
}

/** C = op(A)·op(B) with optional transposes; A is (ta ? k×m : m×k), B is (tb ? n×k : k×n). */
function matmul(
  A: Float64Array, B: Float64Array, m: number, k: number, n: number, ta = false, tb = false,
): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < k; r++) {
        const a = ta ? A[r * m + i] : A[i * k + r];
        const b = tb ? B[j * k + r] : B[r * n + j];
        s += a * b;
      }
      C[i * n + j] = s;
    }
  }
  return C;
}

function transpose(A: Float64Array, m: number, n: number): Float64Array {
  const T = new Float64Array(n * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = A[i * n + j];
  return T;
}

function frob(A: Float64Array): number {
  let s = 0;
  for (let i = 0; i < A.length; i++) s += A[i] * A[i];
  return Math.sqrt(s);
}

function diffNorm(A: Float64Array, B: Float64Array): number {
  assert.equal(A.length, B.length);
  let s = 0;
  for (let i = 0; i < A.length; i++) s += (A[i] - B[i]) ** 2;
  return Math.sqrt(s);
}

function reconstruct(U: Float64Array, S: Float64Array, V: Float64Array, m: number, n: number, k: number): Float64Array {
  const US = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let r = 0; r < k; r++) US[i * k + r] = U[i * k + r] * S[r];
  return matmul(US, V, m, k, n, false, true);
}

/** max |QᵀQ − I| for a row-major rows×cols Q. */
function orthoError(Q: Float64Array, rows: number, cols: number): number {
  const G = matmul(Q, Q, cols, rows, cols, true, false);
  let e = 0;
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) e = Math.max(e, Math.abs(G[i * cols + j] - (i === j ? 1 : 0)));
  }
  return e;
}

/** Random orthogonal n×n matrix as a product of n Householder reflections. */
function randOrthogonal(g: () => number, n: number): Float64Array {
  const Q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Q[i * n + i] = 1;
  const v = new Float64Array(n);
  for (let h = 0; h < n; h++) {
    let vv = 0;
    for (let i = 0; i < n; i++) {
      v[i] = g();
      vv += v[i] * v[i];
    }
    // Q ← Q·(I − 2vvᵀ/vᵀv)
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let j = 0; j < n; j++) d += Q[i * n + j] * v[j];
      const f = (2 * d) / vv;
      for (let j = 0; j < n; j++) Q[i * n + j] -= f * v[j];
    }
  }
  return Q;
}

function checkSvd(A: Float64Array, m: number, n: number): void {
  const { U, S, V, k } = svd(A, m, n);
  assert.equal(k, Math.min(m, n));
  assert.equal(U.length, m * k);
  assert.equal(V.length, n * k);
  assert.equal(S.length, k);
  for (let r = 0; r < k; r++) {
    assert.ok(S[r] >= 0, `S[${r}] = ${S[r]} negative`);
    if (r > 0) assert.ok(S[r] <= S[r - 1], `S not descending at ${r}`);
  }
  const rel = diffNorm(reconstruct(U, S, V, m, n, k), A) / frob(A);
  assert.ok(rel < 1e-12, `${m}×${n}: reconstruction error ${rel}`);
  const eu = orthoError(U, m, k);
  const ev = orthoError(V, n, k);
  assert.ok(eu < 1e-12, `${m}×${n}: UᵀU − I = ${eu}`);
  assert.ok(ev < 1e-12, `${m}×${n}: VᵀV − I = ${ev}`);
}

test('svd reconstructs random tall, wide and square matrices with orthonormal factors', () => {
  const g = gaussian(mulberry32(1));
  const shapes: Array<[number, number]> = [
    [1, 1], [1, 5], [5, 1], [8, 8], [30, 7], [7, 30], [68, 68], [300, 100], [100, 300], [45, 44],
  ];
  for (const [m, n] of shapes) checkSvd(randMat(g, m, n), m, n);
});

test('svd leaves its input untouched', () => {
  const g = gaussian(mulberry32(2));
  for (const [m, n] of [[6, 4], [4, 6]] as Array<[number, number]>) {
    const A = randMat(g, m, n);
    const copy = A.slice();
    svd(A, m, n);
    assert.deepEqual(A, copy);
  }
});

test('svd recovers chosen singular values, including repeated ones and zeros', () => {
  const g = gaussian(mulberry32(3));
  const cases: Array<{ m: number; n: number; sigma: number[] }> = [
    { m: 7, n: 5, sigma: [5, 3, 3, 1e-3, 0] },
    { m: 5, n: 9, sigma: [2, 1, 0, 0, 0] },
    { m: 6, n: 6, sigma: [1e3, 1, 1e-6, 1e-9, 0, 0] },
    { m: 40, n: 12, sigma: [4, 4, 4, 2, 1, 0.5, 0.25, 0.125, 0, 0, 0, 0] },
  ];
  for (const { m, n, sigma } of cases) {
    const k = Math.min(m, n);
    const Q1 = randOrthogonal(g, m);
    const Q2 = randOrthogonal(g, n);
    // A = Q1[:, :k]·diag(σ)·Q2[:, :k]ᵀ
    const A = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let r = 0; r < k; r++) s += Q1[i * m + r] * sigma[r] * Q2[j * n + r];
        A[i * n + j] = s;
      }
    }
    const { S, U, V } = svd(A, m, n);
    const smax = sigma[0];
    for (let r = 0; r < k; r++) {
      assert.ok(Math.abs(S[r] - sigma[r]) <= 1e-13 * smax, `${m}×${n}: σ${r} = ${S[r]}, want ${sigma[r]}`);
    }
    assert.ok(orthoError(U, m, k) < 1e-12);
    assert.ok(orthoError(V, n, k) < 1e-12);
    const rel = diffNorm(reconstruct(U, S, V, m, n, k), A) / frob(A);
    assert.ok(rel < 1e-12, `reconstruction ${rel}`);
  }
});

test('svd of a zero matrix gives zero singular values and orthonormal U, V', () => {
  for (const [m, n] of [[5, 3], [3, 5], [4, 4]] as Array<[number, number]>) {
    const k = Math.min(m, n);
    const { U, S, V } = svd(new Float64Array(m * n), m, n);
    assert.deepEqual(Array.from(S), new Array<number>(k).fill(0));
    assert.ok(orthoError(U, m, k) < 1e-14);
    assert.ok(orthoError(V, n, k) < 1e-14);
  }
});

test('svd keeps relative accuracy on badly scaled inputs', () => {
  const g = gaussian(mulberry32(4));
  for (const scale of [1e-200, 1e200, 1e-310]) {
    const base = randMat(g, 9, 6);
    const A = base.map((x) => x * scale);
    const s0 = svd(base, 9, 6).S;
    const s1 = svd(A, 9, 6).S;
    for (let r = 0; r < 6; r++) {
      const want = s0[r] * scale;
      // Subnormal inputs have only a few significant bits left.
      const tol = scale < 1e-300 ? 1e-5 : 1e-13;
      assert.ok(Math.abs(s1[r] - want) <= tol * Math.abs(want), `scale ${scale}: σ${r} ${s1[r]} vs ${want}`);
    }
  }
});

function penrose(A: Float64Array, X: Float64Array, m: number, n: number): void {
  const AX = matmul(A, X, m, n, m);
  const XA = matmul(X, A, n, m, n);
  const AXA = matmul(AX, A, m, m, n);
  const XAX = matmul(XA, X, n, n, m);
  const e1 = diffNorm(AXA, A) / frob(A);
  const e2 = diffNorm(XAX, X) / frob(X);
  const e3 = diffNorm(AX, transpose(AX, m, m)) / frob(AX);
  const e4 = diffNorm(XA, transpose(XA, n, n)) / frob(XA);
  assert.ok(e1 < 1e-12, `AXA = A: ${e1}`);
  assert.ok(e2 < 1e-12, `XAX = X: ${e2}`);
  assert.ok(e3 < 1e-12, `(AX)ᵀ = AX: ${e3}`);
  assert.ok(e4 < 1e-12, `(XA)ᵀ = XA: ${e4}`);
}

test('pinv meets the four Penrose conditions and reports rank on rank-deficient matrices', () => {
  const g = gaussian(mulberry32(5));
  const cases: Array<[number, number, number]> = [
    [10, 6, 3], [6, 10, 3], [20, 20, 7], [50, 30, 29], [30, 50, 1], [68, 68, 40], [120, 40, 25],
  ];
  for (let rep = 0; rep < 3; rep++) {
    for (const [m, n, r] of cases) {
      const A = matmul(randMat(g, m, r), randMat(g, r, n), m, r, n);
      const res = pinv(A, m, n);
      assert.equal(res.rank, r, `${m}×${n} rank ${r}: got ${res.rank}`);
      assert.equal(matRank(A, m, n), r);
      assert.equal(res.singularValues.length, Math.min(m, n));
      assert.ok(res.singularValues[r - 1] > res.tol);
      if (r < Math.min(m, n)) assert.ok(res.singularValues[r] <= res.tol);
      assert.equal(res.pinv.length, n * m);
      penrose(A, res.pinv, m, n);
    }
  }
});

test('pinv of a full-rank matrix and of zero', () => {
  const g = gaussian(mulberry32(6));
  const A = randMat(g, 12, 9);
  const res = pinv(A, 12, 9);
  assert.equal(res.rank, 9);
  penrose(A, res.pinv, 12, 9);

  const Z = pinv(new Float64Array(12), 3, 4);
  assert.equal(Z.rank, 0);
  assert.equal(Z.tol, 0);
  assert.ok(Z.pinv.every((x) => x === 0));
});

test('pinv(A)·b matches an LU solve on a well-conditioned 68×68 system', () => {
  const g = gaussian(mulberry32(7));
  const n = 68;
  for (let rep = 0; rep < 3; rep++) {
    // 4I + G/√n has all singular values within roughly [2, 6].
    const A = randMat(g, n, n).map((x) => x / Math.sqrt(n));
    for (let i = 0; i < n; i++) A[i * n + i] += 4;
    const b = randMat(g, n, 1);
    const P = pinv(A, n, n);
    assert.equal(P.rank, n);
    const x1 = matmul(P.pinv, b, n, n, 1);
    const x2 = solveLinear(A, b, n);
    const rel = diffNorm(x1, x2) / frob(x2);
    assert.ok(rel < 1e-12, `pinv vs LU: ${rel}`);
  }
});

test('pinv of a tall full-column-rank matrix equals (AᵀA)⁻¹Aᵀ', () => {
  const g = gaussian(mulberry32(8));
  for (const [m, n] of [[40, 10], [200, 68], [9, 9]] as Array<[number, number]>) {
    const A = randMat(g, m, n);
    const AtA = matmul(A, A, n, m, n, true, false);
    const At = transpose(A, m, n);
    const ref = solveLinearMany(AtA, At, n, m);
    const P = pinv(A, m, n);
    assert.equal(P.rank, n);
    const rel = diffNorm(P.pinv, ref) / frob(ref);
    assert.ok(rel < 1e-12, `${m}×${n}: ${rel}`);
  }
});

test('solveLinear on a hand-computed 3×3 system', () => {
  // 2x + y − z = 8, −3x − y + 2z = −11, −2x + y + 2z = −3  ⇒  (x, y, z) = (2, 3, −1)
  const A = Float64Array.from([2, 1, -1, -3, -1, 2, -2, 1, 2]);
  const b = Float64Array.from([8, -11, -3]);
  const Ac = A.slice();
  const bc = b.slice();
  const x = solveLinear(A, b, 3);
  const want = [2, 3, -1];
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(x[i] - want[i]) < 1e-14, `x${i} = ${x[i]}`);
  assert.deepEqual(A, Ac);
  assert.deepEqual(b, bc);

  // Two right-hand sides at once: b and 2b + e1 (so X[:,1] = 2x + A⁻¹e1).
  const B = Float64Array.from([8, 17, -11, -22, -3, -6]);
  const X = solveLinearMany(A, B, 3, 2);
  const e1 = solveLinear(A, Float64Array.from([1, 0, 0]), 3);
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(X[i * 2] - want[i]) < 1e-14);
    assert.ok(Math.abs(X[i * 2 + 1] - (2 * want[i] + e1[i])) < 1e-13);
  }
});

test('solveLinear throws on a singular matrix', () => {
  const A = Float64Array.from([1, 2, 3, 2, 4, 6, 1, 0, 1]);
  assert.throws(() => solveLinear(A, Float64Array.from([1, 2, 3]), 3), /singular/);
  assert.throws(() => solveLinear(new Float64Array(4), Float64Array.from([1, 1]), 2), /singular/);
  // Singular only up to rounding: third row is the sum of the first two.
  const B = Float64Array.from([0.1, 0.2, 0.3, 0.7, 0.11, 0.13, 0.1 + 0.7, 0.2 + 0.11, 0.3 + 0.13]);
  assert.throws(() => solveLinear(B, Float64Array.from([1, 2, 3]), 3), /singular/);
});

function project(v: number[], pad = 0): number[] {
  // Padding on both sides checks that only the slice is touched.
  const buf = new Float64Array(v.length + 2 * pad).fill(-7);
  buf.set(v, pad);
  projectSimplexInPlace(buf, pad, v.length, new Float64Array(v.length));
  for (let i = 0; i < pad; i++) {
    assert.equal(buf[i], -7);
    assert.equal(buf[pad + v.length + i], -7);
  }
  return Array.from(buf.subarray(pad, pad + v.length));
}

function assertClose(got: number[], want: number[], tol = 1e-15): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `[${i}] ${got[i]} vs ${want[i]}`);
}

test('simplex projection hand cases', () => {
  assertClose(project([0.2, 0.3, 0.5], 2), [0.2, 0.3, 0.5]);
  assertClose(project([0, 1, 0]), [0, 1, 0]);
  assertClose(project([2, 0, 0], 1), [1, 0, 0]);
  assertClose(project([0.5, 0.5, 0.5]), [1 / 3, 1 / 3, 1 / 3]);
  assertClose(project([0, 0, 0, 0]), [0.25, 0.25, 0.25, 0.25]);
  assertClose(project([5]), [1]);
  assertClose(project([-3]), [1]);
  assertClose(project([1, 0.5, -2]), [0.75, 0.25, 0]);
  assertClose(project([-1, -1, 3, -2]), [0, 0, 1, 0]);
});

test('simplex projection satisfies KKT and beats random simplex points', () => {
  const rand = mulberry32(9);
  const g = gaussian(rand);
  const scratch = new Float64Array(128);
  for (let rep = 0; rep < 300; rep++) {
    const len = 1 + Math.floor(rand() * 100);
    const spread = [0.01, 1, 10][rep % 3];
    const v = new Float64Array(len);
    for (let i = 0; i < len; i++) v[i] = spread * g() + (rep % 2 ? 1 / len : 0);
    const p = v.slice();
    projectSimplexInPlace(p, 0, len, scratch);

    let sum = 0;
    for (let i = 0; i < len; i++) {
      assert.ok(p[i] >= 0);
      sum += p[i];
    }
    assert.ok(Math.abs(sum - 1) < 1e-12, `Σp = ${sum}`);

    // τ is pinned by the support; every entry must then be max(v_i − τ, 0).
    let tau = NaN;
    for (let i = 0; i < len; i++) {
      if (p[i] > 0) {
        tau = v[i] - p[i];
        break;
      }
    }
    assert.ok(Number.isFinite(tau));
    for (let i = 0; i < len; i++) {
      const tol = 1e-12 * (1 + Math.abs(v[i]));
      assert.ok(Math.abs(p[i] - Math.max(v[i] - tau, 0)) <= tol, `p[${i}] vs max(v−τ, 0)`);
    }

    const dp = diffNorm(p, v);
    const q = new Float64Array(len);
    for (let t = 0; t < 20; t++) {
      let qs = 0;
      for (let i = 0; i < len; i++) {
        q[i] = -Math.log(1 - rand());
        qs += q[i];
      }
      for (let i = 0; i < len; i++) q[i] /= qs;
      assert.ok(dp <= diffNorm(q, v) + 1e-12);
    }
    // Vertices too, where the nearest competitor often lives.
    for (let e = 0; e < len; e++) {
      q.fill(0);
      q[e] = 1;
      assert.ok(dp <= diffNorm(q, v) + 1e-12);
    }
  }
});

test('simplex projection rejects short scratch', () => {
  assert.throws(() => projectSimplexInPlace(new Float64Array(5), 0, 5, new Float64Array(4)), /scratch/);
});
