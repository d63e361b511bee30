// Regenerates the continuous-world figures of docs/continuous.md:
// `npm run tables:continuous [-- mountaincar|reacher] [--agent pqn|oracle] [--seeds N] [--grid N] [run options]`.
// MountainCar runs both goal families and reports the agreement of their world models.
// --agent oracle (the default here) gives the oracle tables, --agent pqn the PQN ones.

import { createLocalPool } from '../worker/local-pool.ts';
import { printTables } from './tables-main.ts';
import { runJobLocal } from '../coordinator/local-run.ts';
import type { ContinuousResult } from '../shared/experiments/jobs.ts';
import type { ContinuousFitOutput } from '../shared/tasks/task.ts';
import { resolveContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { continuousEnv, evalStatesFor, modelPredict } from '../shared/experiments/continuous.ts';
import { agreementNmse } from '../shared/continuous/wm-metrics.ts';
import type { Stat } from '../shared/util/validate.ts';
import { stat } from '../shared/util/validate.ts';

const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined; };
const wanted = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const seeds = opt('seeds') ?? '3';
const agent = opt('agent') ?? 'oracle';
// Any other run option passes through (e.g. --preset, --env-steps, --fit-steps).
const PASS = ['preset', 'env-steps', 'num-envs', 'q-hidden', 'q-lr', 'her', 'fit-steps', 'fit-batch', 'fit-lr', 'fit-terminal', 'seed'];
const extra: Record<string, string | undefined> = Object.fromEntries(PASS.map((k) => [k.replace(/-(.)/g, (_m, c: string) => c.toUpperCase()), opt(k)]));
// The oracle tables of docs/continuous.md were made with these fit settings (the quick preset's are PQN-sized).
if (agent === 'oracle') {
  extra.fitSteps ??= '3000';
  extra.fitBatch ??= '256';
  extra.fitTerminal ??= 'fit';
}
const oracleLr = (lr: string) => extra.fitLr ?? (agent === 'oracle' ? lr : undefined);
const pool = createLocalPool();
const f = (x: number) => (Math.abs(x) < 1e-2 ? x.toExponential(2) : x.toFixed(3));
const pm = (s: Stat) => `${f(s.mean)} ± ${f(s.se)}`;

function rows(label: string, r: ContinuousResult): string[] {
  const s = r.summary;
  const out = [
    ...(s.qNmse ? [`| ${label} | Q NMSE | ${pm(s.qNmse)} |`] : []),
    `| ${label} | WM NMSE | ${pm(s.wmNmse)} (identity ${f(s.identityNmse.mean)}) |`,
    `| ${label} | WM delta NMSE | ${pm(s.wmDeltaNmse)}${s.wmDeltaNmseInterior ? ` (interior ${pm(s.wmDeltaNmseInterior)}, boundary ${pm(s.wmDeltaNmseBoundary!)})` : ''} |`,
  ];
  const dims = new Map<string, number[]>();
  for (const p of s.perActionDim) if (p.deltaNmse) dims.set(p.label, [...(dims.get(p.label) ?? []), p.deltaNmse.mean]);
  for (const [dim, xs] of dims) out.push(`| ${label} | delta NMSE, ${dim} (mean over actions) | ${f(xs.reduce((a, b) => a + b, 0) / xs.length)} |`);
  for (const u of s.unseen) out.push(`| ${label} | ${u.label}: R* / R^WM (ratio) | ${pm(u.rStar)} / ${pm(u.rWM)} (${f(u.ratio.mean)}) |`);
  const fit = r.seeds.reduce((a, x) => a + x.fitMs, 0) / r.seeds.length / 1000;
  out.push(`| ${label} | run time | ${(r.timing.wallMs / 1000).toFixed(0)} s wall, fit ${fit.toFixed(0)} s/seed, ${r.config.agent === 'oracle' ? 'oracle VI' : 'agent training'} ${(r.timing.oracleMs / 1000 / (r.config.agent === 'oracle' ? 1 : r.seeds.length)).toFixed(0)} s${r.config.agent === 'oracle' ? '' : '/seed'}, ${r.backend.split(' ')[0]} |`);
  return out;
}

async function runContinuous(options: Record<string, string | undefined>, experiment: 'mountaincar' | 'reacher' = 'mountaincar') {
  const clean = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const out = await runJobLocal({ experiment, options: clean }, { pool });
  return { result: out.result as ContinuousResult, models: (out.fits as ContinuousFitOutput[]).map((f) => f.weights) };
}

async function mountaincar(): Promise<string> {
  const lines = ['| run | figure | value |', '|---|---|---|'];
  const cfgP = resolveContinuousConfig('mountaincar', { ...extra, fitLr: oracleLr('3e-3'), agent, goalFamily: 'position', seeds, grid: opt('grid') });
  const pos = await runContinuous({ ...extra, fitLr: oracleLr('3e-3'), agent, goalFamily: 'position', seeds, grid: opt('grid') });
  lines.push(...rows('position goals', pos.result));
  const vel = await runContinuous({ ...extra, fitLr: oracleLr('1e-3'), agent, goalFamily: 'velocity', seeds, grid: opt('grid') });
  lines.push(...rows('velocity goals', vel.result));
  const env = continuousEnv('mountaincar');
  const agree = await Promise.all(pos.models.map((m, i) => {
    const states = evalStatesFor(cfgP, i);
    return agreementNmse(env, modelPredict(m), modelPredict(vel.models[i]), states, cfgP.evalStates);
  }));
  lines.push(`| position vs velocity | agreement NMSE | ${pm(stat(agree))} (each vs truth: ${f(pos.result.summary.wmNmse.mean)}, ${f(vel.result.summary.wmNmse.mean)}) |`);
  return lines.join('\n');
}

async function reacher(): Promise<string> {
  // The oracle tables were made at 31⁴ (see docs/continuous.md); PQN runs take their preset's grid.
  const grid = opt('grid') ?? (agent === 'oracle' ? '31' : undefined);
  const cfg = resolveContinuousConfig('reacher', { ...extra, fitLr: oracleLr('3e-3'), agent, seeds, grid });
  const r = await runContinuous({ ...extra, fitLr: oracleLr('3e-3'), agent, seeds, grid }, 'reacher');
  return ['| run | figure | value |', '|---|---|---|', ...rows(`reacher, grid ${cfg.grid}⁴`, r.result)].join('\n');
}

const TABLES: Record<string, () => Promise<string>> = { mountaincar, reacher };
await printTables(TABLES, wanted, pool);
