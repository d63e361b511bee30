// Thin SVD by one-sided Jacobi (Hestenes) and the pseudo-inverse built on it.
// One-sided Jacobi is chosen over bidiagonalisation + QR because it is short,
// needs no shifts, and computes every singular value (small ones included) to
// high relative accuracy in float64, which the pseudo-inverse solves rely on.

/** A = U·diag(S)·Vᵀ for a row-major m×n A; k = min(m, n); U is m×k, V is n×k (row-major). */
export interface Svd {
  U: Float64Array;
  S: Float64Array;
  V: Float64Array;
  m: number;
  n: number;
  k: number;
}

export interface Pinv {
  /** n×m row-major. */
  pinv: Float64Array;
  rank: number;
  singularValues: Float64Array;
  tol: number;
}

const MAX_SWEEPS = 80;

// After the input is scaled so its largest entry lies in [1, 2), a column this
// short has a squared norm near the bottom of the normal float64 range, where
// the rotation tests lose meaning; such columns are reported as exact zeros.
const NEGLIGIBLE_NORM = 1e-150;

function checkShape(A: Float64Array, m: number, n: number): void {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 0 || n < 0) {
    throw new Error(`linalg: bad shape ${m}×${n}`);
  }
  if (A.length < m * n) {
    throw new Error(`linalg: matrix has ${A.length} entries, ${m}×${n} needs ${m * n}`);
  }
}

/**
 * Thin SVD of a row-major m×n matrix. Singular values come back descending and
 * non-negative; U and V have orthonormal columns, also where S is zero.
 */
export function svd(A: Float64Array, m: number, n: number): Svd {
  checkShape(A, m, n);
  if (m >= n) return svdTall(A, m, n);
  // A wide matrix is handled through its transpose: Aᵀ = U'ΣV'ᵀ gives A = V'ΣU'ᵀ.
  const At = new Float64Array(n * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) At[j * m + i] = A[i * n + j];
  }
  const t = svdTall(At, n, m);
  return { U: t.V, S: t.S, V: t.U, m, n, k: t.k };
}

function svdTall(A: Float64Array, m: number, n: number): Svd {
  const k = n;
  // Columns are kept contiguous (column-major) because every Jacobi step works on
  // two whole columns; the same holds for the accumulated V.
  const W = new Float64Array(m * n);
  let maxAbs = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const a = A[i * n + j];
      if (!Number.isFinite(a)) throw new Error('svd: matrix has a non-finite entry');
      W[j * m + i] = a;
      const x = Math.abs(a);
      if (x > maxAbs) maxAbs = x;
    }
  }
  const Vc = new Float64Array(n * n);
  for (let j = 0; j < n; j++) Vc[j * n + j] = 1;

  // A power-of-two scaling is exact and keeps squared column norms clear of
  // overflow and underflow whatever the magnitude of the input.
  let scale = 1;
  if (maxAbs > 0) {
    const e = Math.floor(Math.log2(maxAbs));
    scale = 2 ** e;
    // Two half-steps, because 2^-e alone overflows when the input is subnormal.
    const h1 = 2 ** -Math.trunc(e / 2);
    const h2 = 2 ** (Math.trunc(e / 2) - e);
    for (let i = 0; i < W.length; i++) W[i] = W[i] * h1 * h2;
  }

  // Rotation threshold as in LAPACK's dgesvj: demanding exactly eps can stall on
  // rounding noise without making the factors any better.
  const tol = Math.sqrt(m) * Number.EPSILON;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = 0;
    for (let p = 0; p < n - 1; p++) {
      const op = p * m;
      for (let q = p + 1; q < n; q++) {
        const oq = q * m;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const wp = W[op + i];
          const wq = W[oq + i];
          alpha += wp * wp;
          beta += wq * wq;
          gamma += wp * wq;
        }
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated++;
        // Smaller root of t² + 2ζt − 1 = 0, so the rotation angle is at most π/4,
        // which is what makes the sweeps converge.
        const zeta = (beta - alpha) / (2 * gamma);
        const az = Math.abs(zeta);
        const t = az > 1e150 ? 0.5 / zeta : (zeta >= 0 ? 1 : -1) / (az + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        rotate(W, op, oq, m, c, s);
        rotate(Vc, p * n, q * n, n, c, s);
      }
    }
    if (rotated === 0) break;
  }

  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let ss = 0;
    const o = j * m;
    for (let i = 0; i < m; i++) ss += W[o + i] * W[o + i];
    const nr = Math.sqrt(ss);
    norms[j] = nr > NEGLIGIBLE_NORM ? nr : 0;
  }
  const order = new Int32Array(n);
  for (let j = 0; j < n; j++) order[j] = j;
  // Stable sort keeps the output deterministic when singular values tie.
  const sorted = Array.from(order).sort((a, b) => norms[b] - norms[a] || a - b);

  const U = new Float64Array(m * k);
  const S = new Float64Array(k);
  const V = new Float64Array(n * k);
  let filled = 0;
  for (let r = 0; r < k; r++) {
    const j = sorted[r];
    const nr = norms[j];
    S[r] = nr * scale;
    for (let i = 0; i < n; i++) V[i * k + r] = Vc[j * n + i];
    if (nr === 0) continue;
    const inv = 1 / nr;
    const o = j * m;
    for (let i = 0; i < m; i++) U[i * k + r] = W[o + i] * inv;
    filled = r + 1;
  }
  if (filled < k) completeBasis(U, m, k, filled);
  return { U, S, V, m, n, k };
}

/**
 * Fill columns `from..k` of the row-major m×k matrix U with unit vectors orthogonal
 * to all earlier columns, so U stays orthonormal where singular values vanish.
 */
function completeBasis(U: Float64Array, m: number, k: number, from: number): void {
  const cand = new Float64Array(m);
  const best = new Float64Array(m);
  for (let c = from; c < k; c++) {
    // Some coordinate axis keeps at least 1/m of its squared length after projection
    // (the residuals sum to m − c ≥ 1), so the longest residual is always well scaled.
    let bestNorm = -1;
    for (let e = 0; e < m; e++) {
      cand.fill(0);
      cand[e] = 1;
      // Two rounds of Gram–Schmidt: the second removes what the first left behind.
      for (let round = 0; round < 2; round++) {
        for (let r = 0; r < c; r++) {
          let d = 0;
          for (let i = 0; i < m; i++) d += U[i * k + r] * cand[i];
          for (let i = 0; i < m; i++) cand[i] -= d * U[i * k + r];
        }
      }
      let ss = 0;
      for (let i = 0; i < m; i++) ss += cand[i] * cand[i];
      if (ss > bestNorm) {
        bestNorm = ss;
        best.set(cand);
      }
    }
    const inv = 1 / Math.sqrt(bestNorm);
    for (let i = 0; i < m; i++) U[i * k + c] = best[i] * inv;
  }
}

/**
 * Moore–Penrose pseudo-inverse (n×m, row-major). Singular values at or below
 * tol = rcond·max(m, n)·σ_max count as zero — numpy's matrix_rank default when
 * rcond is machine epsilon.
 */
export function pinv(A: Float64Array, m: number, n: number, rcond: number = Number.EPSILON): Pinv {
  const { U, S, V, k } = svd(A, m, n);
  const smax = k > 0 ? S[0] : 0;
  const tol = rcond * Math.max(m, n) * smax;
  let rank = 0;
  while (rank < k && S[rank] > tol) rank++;
  const P = new Float64Array(n * m);
  for (let r = 0; r < rank; r++) {
    const inv = 1 / S[r];
    for (let i = 0; i < n; i++) {
      const vi = V[i * k + r] * inv;
      if (vi === 0) continue;
      const row = i * m;
      for (let j = 0; j < m; j++) P[row + j] += vi * U[j * k + r];
    }
  }
  return { pinv: P, rank, singularValues: S, tol };
}

/** Numerical rank with the same threshold as `pinv`. */
export function matRank(A: Float64Array, m: number, n: number, rcond: number = Number.EPSILON): number {
  const { S, k } = svd(A, m, n);
  const tol = rcond * Math.max(m, n) * (k > 0 ? S[0] : 0);
  let rank = 0;
  while (rank < k && S[rank] > tol) rank++;
  return rank;
}

/** Apply the plane rotation (c, s) to the length-`len` rows starting at `op` and `oq`. */
function rotate(X: Float64Array, op: number, oq: number, len: number, c: number, s: number): void {
  for (let i = 0; i < len; i++) {
    const xp = X[op + i];
    const xq = X[oq + i];
    X[op + i] = c * xp - s * xq;
    X[oq + i] = s * xp + c * xq;
  }
}
