// Rank correlation across a sweep's cells, as in the paper's architecture-sweep
// table: Spearman ρ between two metrics' cell means, with n and a 95% percentile
// bootstrap interval over cells. The bootstrap draws from the project's seeded
// Rng, so a report shows the same interval every time it is written.

import { deriveSeed, Rng } from '../util/rng.ts';
import type { CellSummary } from './rows.ts';

export const BOOTSTRAP_RESAMPLES = 2000;
/** Default bootstrap seed: any fixed number would do; this one is the sweep stream's tag. */
export const BOOTSTRAP_SEED = 0x5eed5ee9;
/** Below this many pairs ρ says nothing (two points are always ±1): it is NaN instead. */
export const MIN_PAIRS = 3;

/** 1-based ranks; tied values share the mean of the ranks they span. */
export function averageRanks(xs: ArrayLike<number>): Float64Array {
  const n = xs.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && xs[order[j]] === xs[order[i]]) j++;
    // Positions i..j-1 hold equal values: ranks i+1..j, whose mean is (i+1+j)/2.
    const r = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]] = r;
    i = j;
  }
  return ranks;
}

/** Pearson correlation; NaN with fewer than two points or when either side is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (y.length !== n) throw new RangeError(`pearson: ${n} x values but ${y.length} y values`);
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (!(sxx > 0) || !(syy > 0)) return NaN;
  // Rounding can carry |r| a hair past 1 for perfectly linear data.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/**
 * Spearman ρ: Pearson correlation of average ranks (the definition that stays right
 * with ties, unlike 1 − 6Σd²/(n(n²−1))). NaN when n < MIN_PAIRS, when a value is not
 * finite, or when either side is constant (no ordering to correlate).
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (y.length !== x.length) throw new RangeError(`spearman: ${x.length} x values but ${y.length} y values`);
  if (x.length < MIN_PAIRS) return NaN;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) return NaN;
  return pearson(averageRanks(x), averageRanks(y));
}

/** Quantile of sorted values by linear interpolation between order statistics (R's type 7). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface Correlation {
  readonly rho: number;
  /** Percentile bootstrap interval; NaN where ρ is, or where too few resamples had a ρ. */
  readonly lo: number;
  readonly hi: number;
  /** Pairs (cells) behind ρ. */
  readonly n: number;
  /** Resamples with a defined ρ (one that repeats a single cell, or ties one side flat, has none). */
  readonly resamples: number;
}

export interface BootstrapOptions {
  readonly seed?: number;
  readonly resamples?: number;
  /** Coverage of the interval, default 0.95. */
  readonly level?: number;
}

/** ρ with a percentile bootstrap interval: resample the n pairs with replacement, B times. */
export function spearmanInterval(x: ArrayLike<number>, y: ArrayLike<number>, opts: BootstrapOptions = {}): Correlation {
  const n = x.length;
  const rho = spearman(x, y);
  if (Number.isNaN(rho)) return { rho, lo: NaN, hi: NaN, n, resamples: 0 };
  const B = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  const level = opts.level ?? 0.95;
  const rng = new Rng(opts.seed ?? BOOTSTRAP_SEED);
  const bx = new Float64Array(n);
  const by = new Float64Array(n);
  const draws: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const k = rng.int(n);
      bx[i] = x[k];
      by[i] = y[k];
    }
    const r = spearman(bx, by);
    if (!Number.isNaN(r)) draws.push(r);
  }
  // With most resamples degenerate (n = 3 with ties) the percentiles would describe a few survivors only.
  if (draws.length < B / 2) return { rho, lo: NaN, hi: NaN, n, resamples: draws.length };
  draws.sort((a, b) => a - b);
  const alpha = (1 - level) / 2;
  return { rho, lo: quantileSorted(draws, alpha), hi: quantileSorted(draws, 1 - alpha), n, resamples: draws.length };
}

/** FNV-1a over the UTF-16 code units: a uint32 tag of a metric name. */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface MetricCorrelation extends Correlation {
  readonly a: string;
  readonly b: string;
}

/**
 * ρ between the cell means of every pair of `metrics` (in list order, a before b),
 * over the cells where both means are finite. Each pair bootstraps from its own
 * stream, derived from `seed` and the two names, so adding or reordering metrics
 * leaves the other pairs' intervals as they were.
 */
export function correlationTable(cells: readonly CellSummary[], metrics: readonly string[], opts: BootstrapOptions = {}): MetricCorrelation[] {
  const seed = opts.seed ?? BOOTSTRAP_SEED;
  const out: MetricCorrelation[] = [];
  for (let i = 0; i < metrics.length; i++) {
    for (let j = i + 1; j < metrics.length; j++) {
      const a = metrics[i];
      const b = metrics[j];
      const x: number[] = [];
      const y: number[] = [];
      for (const c of cells) {
        const ma = c.metrics[a]?.mean;
        const mb = c.metrics[b]?.mean;
        if (ma !== undefined && mb !== undefined && Number.isFinite(ma) && Number.isFinite(mb)) { x.push(ma); y.push(mb); }
      }
      out.push({ a, b, ...spearmanInterval(x, y, { ...opts, seed: deriveSeed(seed, nameHash(a), nameHash(b)) }) });
    }
  }
  return out;
}
