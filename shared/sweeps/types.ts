// A sweep: one experiment, base options, axes whose product gives the cells, and
// seeds per cell. A cell is one ordinary job (its seeds inside it), so its numbers
// are exactly `plearn run <the cell's options>`. These types are the contract
// between the spec parser (spec.ts), the runner (coordinator/sweep/) and the
// analysis (rows.ts, stats.ts, pictures, report).

import type { ExperimentName } from '../experiments/jobs.ts';

/** An axis or base value as written in the spec file. */
export type AxisValue = string | number;

export interface SweepAxis {
  /** A `plearn run` option by its flag name without dashes (`goals`, `q-hidden`), or `q-depth` / `q-width`. */
  readonly option: string;
  /** In spec order; range forms already expanded, rounded and de-duplicated. */
  readonly values: readonly AxisValue[];
}

export interface SweepSpec {
  readonly name: string;
  readonly experiment: ExperimentName;
  /** Options every cell shares: flag name (no dashes) → value. */
  readonly base: Readonly<Record<string, AxisValue>>;
  readonly axes: readonly SweepAxis[];
  /** Seeds per cell: the cell's job runs with `--seeds` this. */
  readonly seeds: number;
  /** Metric names (rows.ts METRICS) drawn against the axes. */
  readonly metrics: readonly string[];
  /** Metric names whose pairwise Spearman ρ across cells is reported. */
  readonly correlate: readonly string[];
}

export interface SweepCell {
  /** 16 hex digits from the canonical resolved job: equal jobs get equal ids, in any sweep. */
  readonly id: string;
  /** Position in the product of the axes, first axis slowest. */
  readonly index: number;
  /** This cell's value on every axis (axis option → value). */
  readonly values: Readonly<Record<string, AxisValue>>;
  /** Every `plearn run` option of the cell as a string (flag name without dashes → value), seeds included. */
  readonly options: Readonly<Record<string, string>>;
}

/** One tidy row: a cell × seed, its axis values and its scalar metrics. */
export interface CellRow {
  readonly cellId: string;
  readonly cellIndex: number;
  readonly seed: number;
  readonly values: Readonly<Record<string, AxisValue>>;
  readonly metrics: Readonly<Record<string, number>>;
}
