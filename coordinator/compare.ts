// `plearn compare DIR_A DIR_B`: how closely the world models of two continuous runs
// agree with each other, beside how closely each matches the true dynamics. Agents
// trained on different goal sets (MountainCar position goals vs velocity goals)
// give models that are far closer to each other than to the truth (the paper: 42×),
// i.e. their errors are shared, not goal-specific noise.
//
// Seed k of A pairs with seed k of B, both judged on A's evaluation states for that
// seed (the fit distribution, as `plearn run` uses for its WM NMSE).

import type { Command } from 'commander';
import { stat as statPath } from 'node:fs/promises';
import type { ContinuousEnvName } from '../shared/envs/continuous-tasks.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { resolveContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { continuousEnv, evalStatesFor, modelPredict } from '../shared/experiments/continuous.ts';
import type { Predict } from '../shared/continuous/wm-metrics.ts';
import { agreementNmse, worldModelError } from '../shared/continuous/wm-metrics.ts';
import type { WorldModelWeights } from '../shared/plearning/neural-model.ts';
import { CONTINUOUS_OPTION_LIMITS } from '../shared/protocol/limits.ts';
import type { Stat } from '../shared/util/validate.ts';
import { ConfigError, intIn, stat } from '../shared/util/validate.ts';
import { ArtifactError, readWorldModelFiles } from './artifacts.ts';
import { UsageError } from './cli-common.ts';
import { ProgressBar } from './progress.ts';

const CONTINUOUS: readonly string[] = ['mountaincar', 'reacher'] satisfies ContinuousEnvName[];

export interface CompareRun {
  readonly dir: string;
  /** World-model files found (all of them, paired or not). */
  readonly models: number;
  readonly agent: string | null;
  readonly goalFamily: string | null;
}

export interface ComparePair {
  /** A's seed: it picks the evaluation states. */
  readonly seedIndex: number;
  readonly seedIndexB: number;
  readonly agreementNmse: number;
  readonly aVsTruth: number;
  readonly bVsTruth: number;
  /** Mean of the two vs-truth NMSEs over the agreement NMSE; null where the models agree exactly. */
  readonly ratio: number | null;
}

export interface CompareReport {
  readonly experiment: ContinuousEnvName;
  readonly evalStates: number;
  readonly sampleFrom: ContinuousConfig['sampleFrom'];
  readonly a: CompareRun;
  readonly b: CompareRun;
  readonly pairs: ComparePair[];
  /** Mean ± SE over pairs; `ratio` over the pairs that have one. */
  readonly summary: { agreementNmse: Stat; aVsTruth: Stat; bVsTruth: Stat; ratio: Stat };
}

export interface CompareOptions {
  /** Evaluation states per seed; default: the count A's run used. */
  readonly evalStates?: number;
  /** Called after each metric (three per pair): a 256×256 model takes seconds per metric on 20k states. */
  readonly onProgress?: (done: number, total: number) => void;
}

type LoadedModel = Awaited<ReturnType<typeof readWorldModelFiles>>[number];

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);

async function loadRun(dir: string): Promise<LoadedModel[]> {
  let isDir: boolean;
  try {
    isDir = (await statPath(dir)).isDirectory();
  } catch {
    throw new UsageError(`${dir}: no such directory`);
  }
  if (!isDir) throw new UsageError(`${dir}: not a directory`);
  let models: LoadedModel[];
  try {
    models = await readWorldModelFiles(dir);
  } catch (e) {
    if (e instanceof ArtifactError) throw new UsageError(e.message);
    throw e;
  }
  if (models.length === 0) {
    throw new UsageError(`${dir}: no world-model-seed*.safetensors files (a continuous run writes them with --out ${dir})`);
  }
  return models;
}

/** The evaluation distribution of a stored run config: the fields evalStatesFor reads, checked. */
function evalConfig(raw: unknown, experiment: ContinuousEnvName, source: string, evalStates?: number): ContinuousConfig {
  if (!isRecord(raw)) throw new UsageError(`${source}: metadata config is not a JSON object`);
  if (raw.sampleFrom !== 'uniform' && raw.sampleFrom !== 'reset') {
    throw new UsageError(`${source}: metadata config.sampleFrom is ${JSON.stringify(raw.sampleFrom)}, expected "uniform" or "reset"`);
  }
  for (const k of evalStates === undefined ? ['seed', 'evalStates'] as const : ['seed'] as const) {
    if (raw[k] === undefined) throw new UsageError(`${source}: metadata config has no ${k}, so its evaluation states cannot be rebuilt`);
  }
  try {
    // Re-resolving (oracle agent: no PQN settings involved) gives a fully valid config
    // whose seed and state count are range-checked like a user's.
    const base = resolveContinuousConfig(experiment, { agent: 'oracle', seed: raw.seed, evalStates: evalStates ?? raw.evalStates });
    return { ...base, sampleFrom: raw.sampleFrom };
  } catch (e) {
    if (e instanceof ConfigError && !(evalStates !== undefined && e.field === 'eval-states')) throw new UsageError(`${source}: metadata config.${e.message}`);
    throw e;
  }
}

/**
 * A predictor that serves the batches the metrics ask for from predictions made once:
 * worldModelError and agreementNmse both run each model on (the evaluation states,
 * every action), and the forward pass dominates the cost. Anything else is computed.
 */
function cachedPredict(weights: WorldModelWeights, states: Float64Array, n: number): Predict {
  const predict = modelPredict(weights);
  const D = weights.spec.stateDim;
  const byAction = new Map<number, Float64Array>();
  return (s, actions, out, m) => {
    const a = m > 0 ? actions[0] : -1;
    let uniform = s === states && m === n;
    for (let i = 1; uniform && i < m; i++) uniform = actions[i] === a;
    if (!uniform) { predict(s, actions, out, m); return; }
    let hit = byAction.get(a);
    if (hit === undefined) {
      hit = new Float64Array(n * D);
      predict(s, actions, hit, m);
      byAction.set(a, hit);
    }
    out.set(hit.subarray(0, m * D));
  };
}

/** Compare the world models stored in two runs' `--out` directories. Bad input throws UsageError. */
export async function compareWorldModels(dirA: string, dirB: string, opts: CompareOptions = {}): Promise<CompareReport> {
  const [as, bs] = [await loadRun(dirA), await loadRun(dirB)];
  const experiment = as[0].experiment;
  for (const m of [...as, ...bs]) {
    if (m.experiment !== experiment) {
      throw new UsageError(`different experiments: ${as[0].path} is ${experiment}, ${m.path} is ${m.experiment}`);
    }
  }
  if (!CONTINUOUS.includes(experiment)) {
    throw new UsageError(`${as[0].path}: experiment ${JSON.stringify(experiment)} has no continuous world model (expected ${CONTINUOUS.join(' or ')})`);
  }
  const name = experiment as ContinuousEnvName;
  const env = continuousEnv(name);
  for (const m of [...as, ...bs]) {
    const s = m.weights.spec;
    if (s.stateDim !== env.stateDim || s.nActions !== env.nActions) {
      throw new UsageError(`${m.path}: model has ${s.stateDim} state dims and ${s.nActions} actions, ${name} has ${env.stateDim} and ${env.nActions}`);
    }
  }
  const cfg = evalConfig(as[0].config, name, as[0].path, opts.evalStates);
  const n = cfg.evalStates;

  const pairs: ComparePair[] = [];
  const count = Math.min(as.length, bs.length);
  let done = 0;
  const tick = () => opts.onProgress?.(++done, 3 * count);
  for (let k = 0; k < count; k++) {
    const a = as[k];
    const b = bs[k];
    const states = evalStatesFor(cfg, a.seedIndex);
    const pa = cachedPredict(a.weights, states, n);
    const pb = cachedPredict(b.weights, states, n);
    const agreement = await agreementNmse(env, pa, pb, states, n);
    tick();
    const aVsTruth = (await worldModelError(env, pa, states, n)).nmse;
    tick();
    const bVsTruth = (await worldModelError(env, pb, states, n)).nmse;
    tick();
    const ratio = agreement > 0 ? (aVsTruth + bVsTruth) / 2 / agreement : null;
    pairs.push({ seedIndex: a.seedIndex, seedIndexB: b.seedIndex, agreementNmse: agreement, aVsTruth, bVsTruth, ratio });
  }
  const run = (dir: string, ms: LoadedModel[]): CompareRun => {
    const c = ms[0].config;
    return { dir, models: ms.length, agent: isRecord(c) ? str(c.agent) : null, goalFamily: isRecord(c) ? str(c.goalFamily) : null };
  };
  return {
    experiment: name,
    evalStates: n,
    sampleFrom: cfg.sampleFrom,
    a: run(dirA, as),
    b: run(dirB, bs),
    pairs,
    summary: {
      agreementNmse: stat(pairs.map((p) => p.agreementNmse)),
      aVsTruth: stat(pairs.map((p) => p.aVsTruth)),
      bVsTruth: stat(pairs.map((p) => p.bVsTruth)),
      ratio: stat(pairs.flatMap((p) => (p.ratio === null ? [] : [p.ratio]))),
    },
  };
}

const num = (x: number) => (!Number.isFinite(x) ? String(x) : x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(3) : x.toFixed(4));
const pm = (s: Stat) => (s.n > 1 ? `${num(s.mean)} ± ${num(s.se)}` : num(s.mean));
const times = (x: number) => `${x.toPrecision(3)}×`;

export function renderCompare(r: CompareReport): string {
  const describeRun = (label: string, x: CompareRun) => {
    const bits = [`${x.models} model(s)`];
    if (x.agent) bits.push(`${x.agent} agents`);
    if (x.goalFamily && r.experiment === 'mountaincar') bits.push(`${x.goalFamily} goals`);
    return `${label}  ${x.dir}   ${bits.join(' · ')}`;
  };
  const lines = [
    `${r.experiment}: world models of A vs B on ${r.evalStates} evaluation states per seed (${r.sampleFrom === 'uniform' ? 'uniform over the state box' : 'reset distribution'})`,
    describeRun('A', r.a),
    describeRun('B', r.b),
  ];
  if (r.a.models !== r.b.models) lines.push(`pairing the first ${r.pairs.length} seed(s) of each`);
  const row = (c: string[]) => `${c[0].padEnd(8)} ${c[1].padEnd(22)} ${c[2].padEnd(22)} ${c[3].padEnd(22)} ${c[4]}`;
  lines.push('', row(['seed', 'NMSE A vs B', 'NMSE A vs truth', 'NMSE B vs truth', 'vs truth / A vs B']));
  for (const p of r.pairs) {
    const seed = p.seedIndex === p.seedIndexB ? String(p.seedIndex) : `${p.seedIndex}/${p.seedIndexB}`;
    lines.push(row([seed, num(p.agreementNmse), num(p.aVsTruth), num(p.bVsTruth), p.ratio === null ? 'n/a' : times(p.ratio)]));
  }
  const s = r.summary;
  if (r.pairs.length > 1) {
    lines.push(row(['mean', pm(s.agreementNmse), pm(s.aVsTruth), pm(s.bVsTruth), s.ratio.n > 1 ? `${s.ratio.mean.toPrecision(3)} ± ${s.ratio.se.toPrecision(2)}×` : s.ratio.n === 1 ? times(s.ratio.mean) : 'n/a']));
  }
  lines.push('');
  if (s.ratio.n === 0) lines.push('The models predict identically on every evaluation state (agreement NMSE 0).');
  else if (s.ratio.mean >= 1) lines.push(`The models are ${s.ratio.mean.toFixed(1)}× closer to each other than to the true dynamics.`);
  else lines.push(`The models are ${(1 / s.ratio.mean).toFixed(1)}× farther from each other than from the true dynamics.`);
  return lines.join('\n');
}

interface CompareFlags { json?: boolean; evalStates?: string }

export function registerCompare(program: Command): void {
  program.command('compare')
    .description('Agreement NMSE between the world models of two continuous runs (their --out directories), '
      + 'beside each one\'s NMSE against the true dynamics, seed by seed.')
    .argument('<dirA>', '--out directory of the first run')
    .argument('<dirB>', '--out directory of the second run (same experiment)')
    .option('--eval-states <n>', `evaluation states per seed (default: the first run's; range [100, ${CONTINUOUS_OPTION_LIMITS.evalStates}])`)
    .option('--json', 'print one JSON document to stdout instead of the table')
    .action(async (dirA: string, dirB: string, opts: CompareFlags) => {
      const evalStates = opts.evalStates === undefined ? undefined : intIn('eval-states', opts.evalStates, 100, CONTINUOUS_OPTION_LIMITS.evalStates);
      const bar = new ProgressBar(1);
      const report = await compareWorldModels(dirA, dirB, { evalStates, onProgress: (d, n) => bar.update('compare', d, n) });
      bar.finish();
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : renderCompare(report) + '\n');
      process.exitCode = 0;
    });
}
