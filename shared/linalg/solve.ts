// Dense square solves by LU with partial pivoting. Kept independent of the SVD
// code so each can serve as a reference for the other in tests.

/**
 * Factor a copy of the row-major n×n A in place as P·A = L·U (unit-diagonal L below,
 * U on and above the diagonal); perm[i] is the original row now in position i.
 */
function luFactor(A: Float64Array, n: number): { LU: Float64Array; perm: Int32Array } {
  if (!Number.isInteger(n) || n < 0) throw new Error(`solveLinear: bad size ${n}`);
  if (A.length < n * n) throw new Error(`solveLinear: matrix has ${A.length} entries, ${n}×${n} needs ${n * n}`);
  const LU = A.slice(0, n * n);
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;

  let maxAbs = 0;
  for (let i = 0; i < n * n; i++) {
    const x = Math.abs(LU[i]);
    if (x > maxAbs) maxAbs = x;
  }
  // A pivot this small relative to the matrix means cond(A) is beyond what float64
  // can resolve, so the answer would be noise; failing loudly is more useful.
  const tiny = n * Number.EPSILON * maxAbs;

  for (let c = 0; c < n; c++) {
    let piv = c;
    let pivAbs = Math.abs(LU[c * n + c]);
    for (let r = c + 1; r < n; r++) {
      const x = Math.abs(LU[r * n + c]);
      if (x > pivAbs) {
        pivAbs = x;
        piv = r;
      }
    }
    // Written as a negation so a NaN pivot is caught too.
    if (!(pivAbs > tiny)) {
      throw new Error(
        `solveLinear: matrix is singular to working precision (pivot ${pivAbs} at column ${c} of ${n})`,
      );
    }
    if (piv !== c) {
      for (let j = 0; j < n; j++) {
        const t = LU[c * n + j];
        LU[c * n + j] = LU[piv * n + j];
        LU[piv * n + j] = t;
      }
      const t = perm[c];
      perm[c] = perm[piv];
      perm[piv] = t;
    }
    const d = LU[c * n + c];
    for (let r = c + 1; r < n; r++) {
      const f = LU[r * n + c] / d;
      LU[r * n + c] = f;
      if (f === 0) continue;
      for (let j = c + 1; j < n; j++) LU[r * n + j] -= f * LU[c * n + j];
    }
  }
  return { LU, perm };
}

/**
 * Solve A·X = B for k right-hand sides (B is n×k row-major); returns X (n×k row-major).
 * Inputs are left untouched. Throws if A is numerically singular.
 */
export function solveLinearMany(A: Float64Array, B: Float64Array, n: number, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 0) throw new Error(`solveLinearMany: bad column count ${k}`);
  if (B.length < n * k) throw new Error(`solveLinearMany: right-hand side has ${B.length} entries, needs ${n * k}`);
  const { LU, perm } = luFactor(A, n);
  const X = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const src = perm[i] * k;
    for (let j = 0; j < k; j++) X[i * k + j] = B[src + j];
  }
  // Forward substitution with unit-diagonal L.
  for (let i = 1; i < n; i++) {
    for (let r = 0; r < i; r++) {
      const l = LU[i * n + r];
      if (l === 0) continue;
      for (let j = 0; j < k; j++) X[i * k + j] -= l * X[r * k + j];
    }
  }
  // Back substitution with U.
  for (let i = n - 1; i >= 0; i--) {
    for (let r = i + 1; r < n; r++) {
      const u = LU[i * n + r];
      if (u === 0) continue;
      for (let j = 0; j < k; j++) X[i * k + j] -= u * X[r * k + j];
    }
    const d = LU[i * n + i];
    for (let j = 0; j < k; j++) X[i * k + j] /= d;
  }
  return X;
}

/** Solve the square system A·x = b (A row-major n×n). Inputs are left untouched. */
export function solveLinear(A: Float64Array, b: Float64Array, n: number): Float64Array {
  if (b.length < n) throw new Error(`solveLinear: right-hand side has ${b.length} entries, needs ${n}`);
  return solveLinearMany(A, b, n, 1);
}
