// Regular grids over a box of state space, and multilinear interpolation on them:
// the function class grid value iteration works in. Values live at grid
// points ("cells" below means grid points, not the boxes between them), flattened
// row-major with the LAST dim varying fastest, the reference's meshgrid("ij") order,
// so a flat V or Q here lines up index by index with the reference's arrays.
//
// Every dim is linspace(low, high, size) with both ends included, periodic dims too.
// For an angle on [−π, π] (Reacher θ, as the reference grids it) the last point is
// the same physical angle as the first. We keep that duplicate, as the reference does,
// because (1) the grid then matches the reference's 50⁴ point for point, so averages
// over it (Q NMSE) are comparable, and (2) the last cell [high − h, high] closes the
// circle with no special case: a wrapped query in [low, high) always falls in a
// cell whose upper corner index is i + 1, so corner offsets are the same constants
// for every query. The duplicate carries its own value; dynamics that are periodic
// in the angle give it the same backup as the first point, so the two stay equal.
// Periodic dims require high − low to be exactly one period.

export interface GridSpec {
  dims: number;
  low: Float64Array;
  high: Float64Array;
  /** Points per dim, ≥ 2. */
  size: Int32Array;
  /** 1 = the dim is an angle wrapped on [low, high) before interpolating; else queries clamp to the edge. */
  periodic?: Uint8Array;
}

/** Beyond this the 2^D corners per query stop being a sensible cost. */
export const MAX_GRID_DIMS = 12;

export function makeGrid(
  low: ArrayLike<number>,
  high: ArrayLike<number>,
  size: ArrayLike<number>,
  periodic?: ArrayLike<boolean | number>,
): GridSpec {
  const dims = low.length;
  const grid: GridSpec = {
    dims,
    low: Float64Array.from(low),
    high: Float64Array.from(high),
    size: Int32Array.from(size),
  };
  if (periodic) grid.periodic = Uint8Array.from(Array.from(periodic, (p) => (p ? 1 : 0)));
  checkGrid(grid);
  return grid;
}

export function checkGrid(grid: GridSpec): void {
  const { dims, low, high, size, periodic } = grid;
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_GRID_DIMS) {
    throw new RangeError(`grid dims must be an integer in [1, ${MAX_GRID_DIMS}], got ${dims}`);
  }
  if (low.length !== dims || high.length !== dims || size.length !== dims) {
    throw new RangeError(`grid low/high/size must have ${dims} entries`);
  }
  if (periodic && periodic.length !== dims) throw new RangeError(`grid periodic must have ${dims} entries`);
  for (let d = 0; d < dims; d++) {
    if (!(size[d] >= 2)) throw new RangeError(`grid dim ${d}: size must be ≥ 2, got ${size[d]}`);
    if (!(high[d] > low[d]) || !Number.isFinite(high[d] - low[d])) {
      throw new RangeError(`grid dim ${d}: need finite low < high, got [${low[d]}, ${high[d]}]`);
    }
  }
}

export function cellCount(grid: GridSpec): number {
  let n = 1;
  for (let d = 0; d < grid.dims; d++) n *= grid.size[d];
  return n;
}

export function cornerCount(grid: GridSpec): number {
  return 1 << grid.dims;
}

/** Coordinates of grid point `index` into out[0..dims). */
export function pointOf(grid: GridSpec, index: number, out: Float64Array): Float64Array {
  const { dims, low, high, size } = grid;
  let rest = index;
  for (let d = dims - 1; d >= 0; d--) {
    const n = size[d];
    const i = rest % n;
    rest = (rest - i) / n;
    // Pinning the last point to `high` keeps it exact (numpy's linspace does the same).
    out[d] = i === n - 1 ? high[d] : low[d] + ((high[d] - low[d]) * i) / (n - 1);
  }
  return out;
}

/**
 * Flat index of the lower corner of the cell holding x (read from x[xOff..]), and per
 * dim the position t inside that cell, written to tOut[0..dims). Periodic dims are
 * wrapped first; other dims are NOT clamped here: t < 0 or t > 1 says the query lies
 * outside the box on that dim, and clamping t to [0, 1] then gives the edge value.
 * Keeping t unclamped lets callers recover the exact query and tell clamped dims apart.
 */
export function cellOf(grid: GridSpec, x: ArrayLike<number>, xOff: number, tOut: Float64Array): number {
  const { dims, low, high, size, periodic } = grid;
  let base = 0;
  let stride = 1;
  for (let d = dims - 1; d >= 0; d--) {
    const n = size[d];
    let f = ((x[xOff + d] - low[d]) / (high[d] - low[d])) * (n - 1);
    if (periodic !== undefined && periodic[d] === 1) f -= (n - 1) * Math.floor(f / (n - 1));
    let i = Math.floor(f);
    // `!(i >= 0)` also catches NaN, so a NaN query reads a valid cell and yields NaN weights.
    if (!(i >= 0)) i = 0;
    else if (i > n - 2) i = n - 2;
    tOut[d] = f - i;
    base += i * stride;
    stride *= n;
  }
  return base;
}

/**
 * Offsets of the 2^dims corners from a cell's lower corner. Corner k takes the upper
 * side of dim d iff bit d of k is set; interpolationWeights and grid-vi's sweep build
 * weights in this same order.
 */
export function cornerOffsets(grid: GridSpec, out: Int32Array): Int32Array {
  const { dims, size } = grid;
  out[0] = 0;
  let count = 1;
  for (let d = 0; d < dims; d++) {
    let stride = 1;
    for (let e = d + 1; e < dims; e++) stride *= size[e];
    for (let k = 0; k < count; k++) out[k + count] = out[k] + stride;
    count *= 2;
  }
  return out;
}

// Module scratch: single-threaded callers reuse it, so per-query work allocates nothing.
const tScratch = new Float64Array(MAX_GRID_DIMS);
const offScratch = new Int32Array(MAX_GRID_DIMS);
const partialScratch = new Float64Array(MAX_GRID_DIMS);
const scaleScratch = new Float64Array(MAX_GRID_DIMS);
let idxScratch = new Int32Array(2);
let wScratch = new Float64Array(2);

function scratchFor(grid: GridSpec): void {
  const k = 1 << grid.dims;
  if (idxScratch.length < k) {
    idxScratch = new Int32Array(k);
    wScratch = new Float64Array(k);
  }
}

function weightsAt(grid: GridSpec, x: ArrayLike<number>, xOff: number, idxOut: Int32Array, wOut: Float64Array): void {
  const { dims, size } = grid;
  const base = cellOf(grid, x, xOff, tScratch);
  idxOut[0] = base;
  wOut[0] = 1;
  let count = 1;
  for (let d = 0; d < dims; d++) {
    let stride = 1;
    for (let e = d + 1; e < dims; e++) stride *= size[e];
    const t = unit(tScratch[d]);
    for (let k = 0; k < count; k++) {
      idxOut[k + count] = idxOut[k] + stride;
      wOut[k + count] = wOut[k] * t;
      wOut[k] *= 1 - t;
    }
    count *= 2;
  }
}

/**
 * The 2^dims grid points and weights whose weighted sum is the multilinear interpolant
 * at x (one point, x[0..dims)). Outside the box, non-periodic dims clamp to the edge and
 * periodic dims wrap. Weights are ≥ 0 and sum to 1.
 */
export function interpolationWeights(grid: GridSpec, x: ArrayLike<number>, idxOut: Int32Array, wOut: Float64Array): void {
  weightsAt(grid, x, 0, idxOut, wOut);
}

export type GridValues = Float64Array | Float32Array;

export function interpolate(grid: GridSpec, values: GridValues, x: ArrayLike<number>): number {
  scratchFor(grid);
  weightsAt(grid, x, 0, idxScratch, wScratch);
  const k = 1 << grid.dims;
  let s = 0;
  for (let c = 0; c < k; c++) s += wScratch[c] * values[idxScratch[c]];
  return s;
}

/** out[i] = interpolate(values, xs[i·dims ..]) for i < n. */
export function interpolateMany(grid: GridSpec, values: GridValues, xs: Float64Array, n: number, out: Float64Array): Float64Array {
  scratchFor(grid);
  const k = 1 << grid.dims;
  for (let i = 0; i < n; i++) {
    weightsAt(grid, xs, i * grid.dims, idxScratch, wScratch);
    let s = 0;
    for (let c = 0; c < k; c++) s += wScratch[c] * values[idxScratch[c]];
    out[i] = s;
  }
  return out;
}

function unit(t: number): number {
  return t < 0 ? 0 : t > 1 ? 1 : t;
}

/**
 * Interpolants at a point given in cell form, as cellOf returns it: lower corner b, and
 * per-dim positions frac[fo..fo + dims) (clamped to [0, 1] here); `off` is the grid's
 * cornerOffsets. This is grid value iteration's inner loop, so 2-D and 4-D grids
 * (MountainCar, Reacher) get unrolled versions, about 3× faster than the general 2^D
 * loop of interpolateCellN. Lerps are written (1 − t)·a + t·b so a point on a grid
 * node reads that node's value exactly.
 */
export function interpolateCell2(values: GridValues, off: Int32Array, b: number, frac: Float32Array | Float64Array, fo: number): number {
  return bilinear(values, b, off[1], unit(frac[fo]), unit(frac[fo + 1]));
}

export function interpolateCell4(values: GridValues, off: Int32Array, b: number, frac: Float32Array | Float64Array, fo: number): number {
  const t0 = unit(frac[fo]);
  const t1 = unit(frac[fo + 1]);
  const t2 = unit(frac[fo + 2]);
  const t3 = unit(frac[fo + 3]);
  // off[1 << d] is dim d's stride. Four small bilinear calls rather than one 16-read
  // body: the JIT inlines these but not that, and the call cost 15% of the sweep.
  const s0 = off[1];
  const s1 = off[2];
  const s2 = off[4];
  const lo = (1 - t1) * bilinear(values, b, s2, t2, t3) + t1 * bilinear(values, b + s1, s2, t2, t3);
  const b1 = b + s0;
  const hi = (1 - t1) * bilinear(values, b1, s2, t2, t3) + t1 * bilinear(values, b1 + s1, s2, t2, t3);
  return (1 - t0) * lo + t0 * hi;
}

/** Bilinear interpolation over two dims with strides (s, 1) from corner i. */
function bilinear(values: GridValues, i: number, s: number, t: number, u: number): number {
  return (1 - t) * ((1 - u) * values[i] + u * values[i + 1]) + t * ((1 - u) * values[i + s] + u * values[i + s + 1]);
}

/** Any dims; w is scratch of 2^dims weights, built in cornerOffsets' order. */
export function interpolateCellN(
  values: GridValues, dims: number, off: Int32Array, b: number,
  frac: Float32Array | Float64Array, fo: number, w: Float64Array,
): number {
  w[0] = 1;
  let count = 1;
  for (let d = 0; d < dims; d++) {
    const t = unit(frac[fo + d]);
    for (let c = 0; c < count; c++) {
      w[c + count] = w[c] * t;
      w[c] *= 1 - t;
    }
    count *= 2;
  }
  let v = 0;
  for (let c = 0; c < count; c++) v += w[c] * values[b + off[c]];
  return v;
}

/**
 * Interpolation of `channels` fields stored interleaved (values[point·channels + ch], the
 * layout of a cells × nActions Q table) at the point xs[xOff..], into out[0..channels).
 */
export function interpolateChannels(
  grid: GridSpec,
  values: GridValues,
  channels: number,
  xs: ArrayLike<number>,
  xOff: number,
  out: Float64Array,
): Float64Array {
  scratchFor(grid);
  weightsAt(grid, xs, xOff, idxScratch, wScratch);
  const k = 1 << grid.dims;
  for (let ch = 0; ch < channels; ch++) {
    let s = 0;
    for (let c = 0; c < k; c++) s += wScratch[c] * values[idxScratch[c] * channels + ch];
    out[ch] = s;
  }
  return out;
}

let chScratch = new Float64Array(1);

/** The channel with the largest interpolated value at xs[xOff..] (ties: the lowest). */
export function argmaxChannels(grid: GridSpec, values: GridValues, channels: number, xs: ArrayLike<number>, xOff: number): number {
  if (chScratch.length < channels) chScratch = new Float64Array(channels);
  interpolateChannels(grid, values, channels, xs, xOff, chScratch);
  let best = 0;
  for (let ch = 1; ch < channels; ch++) if (chScratch[ch] > chScratch[best]) best = ch;
  return best;
}

/**
 * Interpolant at x and its gradient with respect to x (into gradOut[0..dims)). The
 * interpolant is piecewise multilinear, so on a cell boundary this returns the one-sided
 * derivative of the cell cellOf picks (the upper cell, except on the box's top edge).
 * Along a non-periodic dim where x lies outside the box the clamped interpolant is flat,
 * so that component is 0; periodic dims always carry their slope.
 */
export function interpolateWithGradient(grid: GridSpec, values: GridValues, x: ArrayLike<number>, gradOut: Float64Array): number {
  const { dims, low, high, size, periodic } = grid;
  const base = cellOf(grid, x, 0, tScratch);
  for (let d = 0; d < dims; d++) {
    let stride = 1;
    for (let e = d + 1; e < dims; e++) stride *= size[e];
    offScratch[d] = stride;
    const raw = tScratch[d];
    tScratch[d] = unit(raw);
    const wrapped = periodic !== undefined && periodic[d] === 1;
    // d t / d x, or 0 to mark a dim on which the query was clamped.
    scaleScratch[d] = wrapped || raw === tScratch[d] ? (size[d] - 1) / (high[d] - low[d]) : 0;
  }
  let value = 0;
  const k = 1 << dims;
  // D ≤ MAX_GRID_DIMS keeps the O(2^D·D²) loop small; prefix products would not pay here.
  const partial = partialScratch;
  for (let d = 0; d < dims; d++) partial[d] = 0;
  for (let c = 0; c < k; c++) {
    let idx = base;
    let w = 1;
    for (let d = 0; d < dims; d++) {
      const up = (c >> d) & 1;
      if (up === 1) idx += offScratch[d];
      w *= up === 1 ? tScratch[d] : 1 - tScratch[d];
    }
    const v = values[idx];
    value += w * v;
    for (let d = 0; d < dims; d++) {
      let wd = (c >> d) & 1 ? v : -v;
      for (let e = 0; e < dims; e++) {
        if (e !== d) wd *= (c >> e) & 1 ? tScratch[e] : 1 - tScratch[e];
      }
      partial[d] += wd;
    }
  }
  // A literal 0 on clamped dims: 0 · (negative slope) would give −0.
  for (let d = 0; d < dims; d++) gradOut[d] = scaleScratch[d] === 0 ? 0 : scaleScratch[d] * partial[d];
  return value;
}
