// The sweep spec schema, checked field by field on a parsed document (YAML and
// JSON parse to the same plain values). Every error names its field path
// (`axes.goals`, `base.fit-steps`, `axes.variant[2]`); the file loader adds the
// line. Option values are not range-checked here: each cell is later validated
// by exactly the validators `plearn run` uses, so the two can never disagree.
//
//   name: fourrooms-goals          # [a-z0-9-]
//   experiment: fourrooms          # fourrooms | mountaincar | reacher
//   seeds: 5                       # per cell
//   base: { agent: oracle }        # any `plearn run` option by flag name
//   axes:                          # option → list of values, or a range form
//     variant: [deterministic, windy]
//     goals: { from: 1, to: 68, count: 10, scale: log }
//     q-depth: [1, 2, 3]           # with q-width: expands into q-hidden
//   metrics: [wm-mse, r-ratio]     # plotted against the axes
//   correlate: [wm-mse, r-ratio]   # pairwise Spearman ρ across cells

import type { ExperimentName } from '../experiments/jobs.ts';
import { EXPERIMENTS } from '../experiments/jobs.ts';
import { MAX_SWEEP_CELLS } from '../protocol/limits.ts';
import { metricNames } from './rows.ts';
import type { AxisValue, SweepAxis, SweepSpec } from './types.ts';

/** A spec error at a field path; `path` lists the keys and indices leading to it. */
export class SweepSpecError extends Error {
  constructor(readonly path: readonly (string | number)[], readonly reason: string) {
    super(`${formatPath(path)}: ${reason}`);
    this.name = 'SweepSpecError';
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || 'spec';
}

/** `plearn run` options by flag name (no dashes) and the experiments each applies to. */
export interface OptionCatalog {
  readonly fourrooms: readonly string[];
  readonly continuous: readonly string[];
}

const TOP_KEYS = ['name', 'experiment', 'seeds', 'base', 'axes', 'metrics', 'correlate', 'description'];
/** Options that are not `plearn run` flags but expand into q-hidden. */
const ARCH = ['q-depth', 'q-width'];
const MAX_SEEDS = 1000;
const MAX_RANGE_COUNT = 1000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scalar(v: unknown, path: (string | number)[]): AxisValue {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.length > 0 && v.length <= 1024) return v;
  if (typeof v === 'boolean') return String(v);
  throw new SweepSpecError(path, `expected a number or a non-empty string, got ${JSON.stringify(v)?.slice(0, 60)}`);
}

/** `{from, to, count, scale}`: evenly spaced (linear or log); integers are rounded and de-duplicated. */
export function expandRange(r: Record<string, unknown>, path: (string | number)[], integer: boolean): AxisValue[] {
  for (const k of Object.keys(r)) {
    if (!['from', 'to', 'count', 'scale'].includes(k)) throw new SweepSpecError([...path, k], 'unknown key of a range; allowed: from, to, count, scale');
  }
  const { from, to, count } = r;
  const scale = r.scale ?? 'linear';
  if (typeof from !== 'number' || !Number.isFinite(from)) throw new SweepSpecError([...path, 'from'], 'expected a number');
  if (typeof to !== 'number' || !Number.isFinite(to)) throw new SweepSpecError([...path, 'to'], 'expected a number');
  if (from > to) throw new SweepSpecError(path, `from ${from} is above to ${to}`);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_RANGE_COUNT) {
    throw new SweepSpecError([...path, 'count'], `expected an integer in [1, ${MAX_RANGE_COUNT}], got ${JSON.stringify(count)}`);
  }
  if (scale !== 'linear' && scale !== 'log') throw new SweepSpecError([...path, 'scale'], `expected linear or log, got ${JSON.stringify(scale)}`);
  if (scale === 'log' && from <= 0) throw new SweepSpecError([...path, 'from'], `a log range starts above 0, got ${from}`);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = count === 1 ? 0 : i / (count - 1);
    const v = scale === 'log' ? Math.exp(Math.log(from) + t * (Math.log(to) - Math.log(from))) : from + t * (to - from);
    const x = integer ? Math.round(v) : Number(v.toPrecision(12));
    if (!out.includes(x)) out.push(x);
  }
  return out;
}

/** Options whose values are integers (a range of them rounds). */
const INTEGER_OPTIONS = new Set(['goals', 'steps', 'goals-per-agent', 'seed', 'fit-steps', 'episode-length', 'grid', 'fit-batch',
  'eval-states', 'rollouts', 'env-steps', 'num-envs', 'q-depth', 'q-width']);

export function checkSweepSpec(doc: unknown, catalog: OptionCatalog): SweepSpec {
  if (!isRecord(doc)) throw new SweepSpecError([], 'expected a mapping with name, experiment, seeds, base, axes, metrics');
  for (const k of Object.keys(doc)) {
    if (!TOP_KEYS.includes(k)) throw new SweepSpecError([k], `unknown key; allowed: ${TOP_KEYS.join(', ')}`);
  }
  const name = doc.name;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(name)) {
    throw new SweepSpecError(['name'], 'expected 1–64 characters of a-z, 0-9 and -, starting with a letter or digit');
  }
  const experiment = doc.experiment;
  if (typeof experiment !== 'string' || !(EXPERIMENTS as readonly string[]).includes(experiment)) {
    throw new SweepSpecError(['experiment'], `expected one of ${EXPERIMENTS.join(', ')}, got ${JSON.stringify(experiment)}`);
  }
  const exp = experiment as ExperimentName;
  const seeds = doc.seeds ?? 1;
  if (typeof seeds !== 'number' || !Number.isInteger(seeds) || seeds < 1 || seeds > MAX_SEEDS) {
    throw new SweepSpecError(['seeds'], `expected an integer in [1, ${MAX_SEEDS}], got ${JSON.stringify(seeds)}`);
  }
  const own = exp === 'fourrooms' ? catalog.fourrooms : catalog.continuous;
  const other = exp === 'fourrooms' ? catalog.continuous : catalog.fourrooms;
  const checkOption = (path: (string | number)[], option: string): void => {
    if (option === 'seeds') throw new SweepSpecError(path, 'seeds is set at the top level of the spec (seeds per cell), not per option');
    if (ARCH.includes(option)) {
      if (exp === 'fourrooms') throw new SweepSpecError(path, `${option} does not apply to fourrooms (PQN Q-networks only)`);
      return;
    }
    if (own.includes(option)) return;
    if (other.includes(option)) throw new SweepSpecError(path, `--${option} does not apply to ${exp}`);
    throw new SweepSpecError(path, `unknown option; allowed for ${exp}: ${[...own, ...(exp === 'fourrooms' ? [] : ARCH)].filter((o) => o !== 'seeds').join(', ')}`);
  };

  const baseRaw = doc.base ?? {};
  if (!isRecord(baseRaw)) throw new SweepSpecError(['base'], 'expected a mapping of option → value');
  const base: Record<string, AxisValue> = {};
  for (const [k, v] of Object.entries(baseRaw)) {
    checkOption(['base', k], k);
    base[k] = scalar(v, ['base', k]);
  }

  const axesRaw = doc.axes ?? {};
  if (!isRecord(axesRaw)) throw new SweepSpecError(['axes'], 'expected a mapping of option → list of values (or a range)');
  const axes: SweepAxis[] = [];
  for (const [k, v] of Object.entries(axesRaw)) {
    checkOption(['axes', k], k);
    if (k in base) throw new SweepSpecError(['axes', k], `--${k} is both in base and an axis; keep one`);
    let values: AxisValue[];
    if (Array.isArray(v)) {
      values = v.map((x, i) => scalar(x, ['axes', k, i]));
      values.forEach((x, i) => {
        if (values.indexOf(x) !== i) throw new SweepSpecError(['axes', k, i], `${JSON.stringify(x)} appears twice`);
      });
    } else if (isRecord(v)) {
      values = expandRange(v, ['axes', k], INTEGER_OPTIONS.has(k));
    } else {
      throw new SweepSpecError(['axes', k], 'expected a list of values or a range {from, to, count, scale}');
    }
    if (values.length === 0) throw new SweepSpecError(['axes', k], 'an axis needs at least one value');
    axes.push({ option: k, values });
  }
  const all = [...Object.keys(base), ...axes.map((a) => a.option)];
  if (all.includes('q-hidden') && all.some((o) => ARCH.includes(o))) {
    throw new SweepSpecError([axes.some((a) => a.option === 'q-hidden') ? 'axes' : 'base', 'q-hidden'],
      'q-hidden and q-depth/q-width describe the same network; use one or the other');
  }
  if (all.includes('q-depth') !== all.includes('q-width')) {
    const given = all.includes('q-depth') ? 'q-depth' : 'q-width';
    throw new SweepSpecError([given in base ? 'base' : 'axes', given], 'q-depth and q-width go together (either may sit in base)');
  }
  const cells = axes.reduce((n, a) => n * a.values.length, 1);
  if (cells > MAX_SWEEP_CELLS) {
    throw new SweepSpecError(['axes'], `${cells} cells exceeds the limit of ${MAX_SWEEP_CELLS}`);
  }

  const allowed = metricNames(exp);
  const metricList = (key: 'metrics' | 'correlate'): string[] => {
    const raw = doc[key] ?? [];
    if (!Array.isArray(raw)) throw new SweepSpecError([key], 'expected a list of metric names');
    return raw.map((m, i) => {
      if (typeof m !== 'string' || !allowed.includes(m)) {
        throw new SweepSpecError([key, i], `unknown metric ${JSON.stringify(m)}; allowed for ${exp}: ${allowed.join(', ')}`);
      }
      if (raw.indexOf(m) !== i) throw new SweepSpecError([key, i], `${m} appears twice`);
      return m;
    });
  };
  const correlate = metricList('correlate');
  if (correlate.length === 1) throw new SweepSpecError(['correlate'], 'a correlation needs at least two metrics');
  return { name, experiment: exp, base, axes, seeds, metrics: metricList('metrics'), correlate };
}
