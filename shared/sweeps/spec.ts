// A sweep spec file, validated into a SweepSpec. The schema (YAML or JSON, one
// document):
//
//   name: fourrooms-goals          # required; [a-z0-9-], at most 64 characters
//   experiment: fourrooms          # required; fourrooms | mountaincar | reacher
//   seeds: 5                       # per cell (the cell's job runs with --seeds 5); default 1
//   base: {agent: oracle, fit: iterative}   # options every cell shares
//   axes:                          # option → values; every cell is one combination
//     variant: [deterministic, windy, teleporting]
//     goals: {from: 1, to: 68, count: 10, scale: log}
//     q-depth: [1, 2, 3]           # with q-width (axis or base): q-hidden = depth × width
//   metrics: [wm-mse, r-ratio]     # required; what the report draws against the axes
//   correlate: [q-nmse, wm-nmse]   # optional; ≥ 2 names, pairwise Spearman ρ across cells
//
// Options are `plearn run` options by flag name without the dashes, with the same
// values and ranges (a cell is exactly `plearn run <its options> --seeds N`), plus
// q-depth and q-width, positive integers that expand into q-hidden "w,w,…" (depth
// copies of width; each may sit in base or axes, q-hidden then in neither).
// A range form gives `count` values from `from` to `to` inclusive, evenly spaced
// (`scale: linear`, the default) or evenly spaced in log (`scale: log`, from > 0);
// integer options round each value to the nearest integer and drop repeats (so
// fewer than `count` may remain), other numeric options keep 12 significant digits.
// The first axis varies slowest in cell order.
//
// Everything here is structure: names, shapes, the range forms and the size of the
// product. Whether a value is in range is the job validators' call, made per cell
// (cells.ts), so a sweep accepts exactly what `plearn run` accepts. Every error names
// the field's path (`axes.goals`, `base.fit-steps`, `axes.variant[2]`); the file
// loader adds the line.

import type { ExperimentName } from '../experiments/jobs.ts';
import { EXPERIMENTS } from '../experiments/jobs.ts';
import { MAX_SWEEP_CELLS } from '../protocol/limits.ts';
import { ConfigError } from '../util/validate.ts';
import type { AxisValue, SweepAxis, SweepSpec } from './types.ts';

/** Where in the document: keys and list indices from the top. */
export type FieldPath = readonly (string | number)[];

export function pathText(path: FieldPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * A spec the user can fix. A ConfigError, so the CLI prints it on one line and
 * exits 2; `field` is the path as text, `where` (the file and line) is added by
 * the loader once it knows the positions.
 */
export class SweepSpecError extends ConfigError {
  constructor(readonly path: FieldPath, readonly detail: string, readonly where?: string) {
    super(pathText(path) || 'spec', detail);
    const located = path.length > 0 ? `${pathText(path)}: ${detail}` : detail;
    this.message = where === undefined ? located : `${where}: ${located}`;
    this.name = 'SweepSpecError';
  }

  at(where: string): SweepSpecError {
    return new SweepSpecError(this.path, this.detail, where);
  }
}

/** What the caller knows about options and metrics (the CLI's flags, the analysis's catalog). */
export interface SweepCatalog {
  /** `plearn run` options, flag names without dashes, that apply to each experiment (`seeds` among them). */
  readonly options: Readonly<Record<ExperimentName, readonly string[]>>;
  /** Metric names each experiment's results carry. */
  readonly metrics: Readonly<Record<ExperimentName, readonly string[]>>;
}

export const Q_DEPTH = 'q-depth';
export const Q_WIDTH = 'q-width';
export const Q_HIDDEN = 'q-hidden';

/** Options whose range form rounds to integers; ranges themselves are the validators' (see the header). */
export const INTEGER_OPTIONS: readonly string[] = ['goals', 'steps', 'goals-per-agent', 'seed', 'fit-steps', 'episode-length', 'grid',
  'fit-batch', 'eval-states', 'rollouts', 'env-steps', 'num-envs', Q_DEPTH, Q_WIDTH];
/** Options whose range form keeps fractional values. */
export const REAL_OPTIONS: readonly string[] = ['gamma', 'fit-lr', 'epsilon', 'vi-tol', 'q-lr'];

const TOP_KEYS = ['name', 'experiment', 'seeds', 'track', 'base', 'axes', 'metrics', 'correlate'] as const;
const RANGE_KEYS = ['from', 'to', 'count', 'scale'] as const;
const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 79)}…` : s;
};
function fail(path: FieldPath, detail: string): never {
  throw new SweepSpecError(path, detail);
}

export interface RangeForm {
  readonly from: number;
  readonly to: number;
  readonly count: number;
  readonly scale: 'linear' | 'log';
}

/** The values of a range form, in order from `from` to `to`; integer options rounded and de-duplicated. */
export function expandRange(r: RangeForm, integer: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < r.count; i++) {
    const t = r.count === 1 ? 0 : i / (r.count - 1);
    // The ends are written exactly: interpolation could turn 68 into 67.99999999999997.
    const x = i === 0 ? r.from : i === r.count - 1 ? r.to
      : r.scale === 'log' ? Math.exp(Math.log(r.from) + t * (Math.log(r.to) - Math.log(r.from))) : r.from + t * (r.to - r.from);
    const v = integer ? Math.round(x) : Number(x.toPrecision(12));
    if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

function rangeForm(path: FieldPath, raw: Plain, option: string): number[] {
  for (const k of Object.keys(raw)) {
    if (!(RANGE_KEYS as readonly string[]).includes(k)) fail([...path, k], `unknown key in a range form; allowed: ${RANGE_KEYS.join(', ')}`);
  }
  const integer = INTEGER_OPTIONS.includes(option);
  if (!integer && !REAL_OPTIONS.includes(option)) {
    fail(path, `a range form needs a numeric option (${[...INTEGER_OPTIONS, ...REAL_OPTIONS].join(', ')}); list ${option}'s values instead`);
  }
  const num = (k: 'from' | 'to'): number => {
    const v = raw[k];
    if (v === undefined) fail([...path, k], 'required in a range form {from, to, count, scale}');
    if (typeof v !== 'number' || !Number.isFinite(v)) fail([...path, k], `expected a finite number, got ${show(v)}`);
    return v as number;
  };
  const from = num('from');
  const to = num('to');
  const count = raw.count;
  if (count === undefined) fail([...path, 'count'], 'required in a range form {from, to, count, scale}');
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_SWEEP_CELLS) {
    fail([...path, 'count'], `expected an integer in [1, ${MAX_SWEEP_CELLS}], got ${show(count)}`);
  }
  const scale = raw.scale ?? 'linear';
  if (scale !== 'linear' && scale !== 'log') fail([...path, 'scale'], `expected linear or log, got ${show(scale)}`);
  if (from > to) fail(path, `from (${from}) is greater than to (${to})`);
  if (scale === 'log' && from <= 0) fail([...path, 'from'], `a log scale needs from > 0, got ${from}`);
  return expandRange({ from, to, count: count as number, scale: scale as RangeForm['scale'] }, integer);
}

function optionValue(path: FieldPath, v: unknown): AxisValue {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(path, `expected a finite number, got ${show(v)}`);
    return v;
  }
  if (typeof v === 'string') {
    if (v.trim() === '') fail(path, 'expected a value, got an empty string');
    return v;
  }
  return fail(path, `expected a string or a number, got ${v === null ? 'nothing (null)' : Array.isArray(v) ? 'a list' : typeof v}`);
}

function checkOption(path: FieldPath, option: string, experiment: ExperimentName, catalog: SweepCatalog): void {
  if (option === 'seeds') fail(path, 'seeds is set once, at the top level (seeds per cell), not in base or axes');
  const applies = (e: ExperimentName) => catalog.options[e].includes(option)
    || ((option === Q_DEPTH || option === Q_WIDTH) && catalog.options[e].includes(Q_HIDDEN));
  if (applies(experiment)) return;
  const elsewhere = EXPERIMENTS.filter(applies);
  if (elsewhere.length > 0) fail(path, `does not apply to ${experiment} (it is an option of ${elsewhere.join(', ')})`);
  const dashed = option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^--?/, '');
  const hint = dashed !== option && EXPERIMENTS.some((e) => catalog.options[e].includes(dashed)) ? `; did you mean ${dashed}?` : '';
  fail(path, `unknown option${hint}; options for ${experiment}: ${[...catalog.options[experiment].filter((o) => o !== 'seeds'),
    ...(catalog.options[experiment].includes(Q_HIDDEN) ? [Q_DEPTH, Q_WIDTH] : [])].join(', ')}`);
}

function positiveInt(path: FieldPath, v: AxisValue): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(path, `expected a positive integer, got ${show(v)}`);
}

function metricList(key: 'metrics' | 'correlate', raw: unknown, allowed: readonly string[], min: number): string[] {
  if (!Array.isArray(raw)) return fail([key], `expected a list of metric names; available: ${allowed.join(', ')}`);
  if (raw.length < min) fail([key], `expected at least ${min} metric names; available: ${allowed.join(', ')}`);
  return raw.map((m, i) => {
    if (typeof m !== 'string' || !allowed.includes(m)) fail([key, i], `unknown metric ${show(m)}; available: ${allowed.join(', ')}`);
    if (raw.indexOf(m) !== i) fail([key, i], `${m} is listed twice`);
    return m as string;
  });
}

/**
 * The sweep a parsed document (a plain value from YAML or JSON) describes, or a
 * SweepSpecError naming the field. Values are not range-checked here; resolving
 * the cells does that with the job validators.
 */
export function parseSweepSpec(raw: unknown, catalog: SweepCatalog): SweepSpec {
  if (!isPlain(raw)) return fail([], `a sweep spec is a mapping of ${TOP_KEYS.join(', ')}; got ${raw === null ? 'nothing' : Array.isArray(raw) ? 'a list' : typeof raw}`);
  for (const k of Object.keys(raw)) {
    if ((TOP_KEYS as readonly string[]).includes(k)) continue;
    const isOption = EXPERIMENTS.some((e) => catalog.options[e].includes(k)) || k === Q_DEPTH || k === Q_WIDTH;
    fail([k], `unknown key; allowed: ${TOP_KEYS.join(', ')}${isOption ? ` (options go under base or axes)` : ''}`);
  }

  const name = raw.name;
  if (name === undefined) fail(['name'], 'required: the sweep\'s name, [a-z0-9-]');
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    fail(['name'], `expected lower-case letters, digits and dashes (at most 64, starting with a letter or digit), got ${show(name)}`);
  }
  const experiment = raw.experiment;
  if (experiment === undefined) fail(['experiment'], `required: one of ${EXPERIMENTS.join(', ')}`);
  if (typeof experiment !== 'string' || !(EXPERIMENTS as readonly string[]).includes(experiment)) {
    fail(['experiment'], `expected one of ${EXPERIMENTS.join(', ')}, got ${show(experiment)}`);
  }
  const exp = experiment as ExperimentName;
  const seeds = raw.seeds ?? 1;
  if (typeof seeds !== 'number' || !Number.isInteger(seeds) || seeds < 1) fail(['seeds'], `expected a positive integer, got ${show(seeds)}`);

  const base: Record<string, AxisValue> = {};
  const rawBase = raw.base ?? {};
  if (!isPlain(rawBase)) fail(['base'], 'expected a mapping of option → value');
  for (const [k, v] of Object.entries(rawBase as Plain)) {
    checkOption(['base', k], k, exp, catalog);
    base[k] = optionValue(['base', k], v);
    if (k === Q_DEPTH || k === Q_WIDTH) positiveInt(['base', k], base[k]);
  }
  // `track: N` at the top is the spec's spelling of the `--track` option every cell shares.
  if (raw.track !== undefined) {
    checkOption(['track'], 'track', exp, catalog);
    if (Object.hasOwn(base, 'track')) fail(['track'], 'also set in base; give it once');
    base.track = optionValue(['track'], raw.track);
  }

  const axes: SweepAxis[] = [];
  const rawAxes = raw.axes ?? {};
  if (!isPlain(rawAxes)) fail(['axes'], 'expected a mapping of option → list of values or range form');
  for (const [k, v] of Object.entries(rawAxes as Plain)) {
    checkOption(['axes', k], k, exp, catalog);
    if (Object.hasOwn(base, k)) fail(['axes', k], `${k} is also set in base; a sweep option is either shared (base) or varied (axes)`);
    let values: AxisValue[];
    if (Array.isArray(v)) {
      if (v.length === 0) fail(['axes', k], 'an axis needs at least one value');
      values = v.map((x, i) => optionValue(['axes', k, i], x));
      values.forEach((x, i) => {
        const first = values.findIndex((y) => String(y) === String(x));
        if (first !== i) fail(['axes', k, i], `${show(x)} repeats axes.${k}[${first}]; each value makes one cell`);
      });
    } else if (isPlain(v)) {
      values = rangeForm(['axes', k], v, k);
    } else {
      values = fail(['axes', k], `expected a list of values or a range form {from, to, count, scale}, got ${show(v)}`);
    }
    if (k === Q_DEPTH || k === Q_WIDTH) values.forEach((x, i) => positiveInt(['axes', k, i], x));
    axes.push({ option: k, values });
  }

  // q-depth × q-width is a spelling of q-hidden: all three at once would set it twice.
  const where = (o: string): FieldPath | undefined => (Object.hasOwn(base, o) ? ['base', o] : axes.some((a) => a.option === o) ? ['axes', o] : undefined);
  const depthAt = where(Q_DEPTH);
  const widthAt = where(Q_WIDTH);
  const hiddenAt = where(Q_HIDDEN);
  if (hiddenAt && (depthAt || widthAt)) {
    fail((depthAt ?? widthAt) as FieldPath, `q-depth and q-width expand into q-hidden, which ${pathText(hiddenAt)} already sets; give one or the other`);
  }
  if (depthAt && !widthAt) fail(depthAt, 'q-depth needs q-width (in base or axes) to expand into q-hidden');
  if (widthAt && !depthAt) fail(widthAt, 'q-width needs q-depth (in base or axes) to expand into q-hidden');

  const cells = axes.reduce((n, a) => n * a.values.length, 1);
  if (cells > MAX_SWEEP_CELLS) {
    fail(['axes'], `${axes.map((a) => a.values.length).join(' × ')} = ${cells} cells exceed the limit of ${MAX_SWEEP_CELLS} per sweep `
      + `(allowed: [1, ${MAX_SWEEP_CELLS}]); split the sweep or shorten an axis`);
  }

  if (raw.metrics === undefined) fail(['metrics'], `required: the metrics to draw; available: ${catalog.metrics[exp].join(', ')}`);
  const metrics = metricList('metrics', raw.metrics, catalog.metrics[exp], 1);
  const correlate = raw.correlate === undefined ? [] : metricList('correlate', raw.correlate, catalog.metrics[exp], 2);

  return { name: name as string, experiment: exp, base, axes, seeds: seeds as number, metrics, correlate };
}
