// `plearn run mountaincar|reacher`: validate, run through the local pool, report.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ContinuousEnvName } from '../shared/envs/continuous-tasks.ts';
import { resolveContinuousConfig } from '../shared/experiments/continuous-config.ts';
import type { Stat } from '../shared/util/validate.ts';
import { intIn } from '../shared/util/validate.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { RunOptions } from './cli.ts';
import { writeAtomic } from './cli.ts';
import { runContinuousLocal } from './continuous-run.ts';
import type { ContinuousRunResult } from './continuous-run.ts';
import { ProgressBar } from './progress.ts';

const f = (x: number) => (x === 0 ? '0' : Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toFixed(3));
const pm = (s: Stat) => (s.n > 1 && s.se > 0 ? `${f(s.mean)} ± ${f(s.se)}` : f(s.mean));

export function renderContinuous(res: ContinuousRunResult): string {
  const c = res.config;
  const s = res.summary;
  const lines = [
    `${c.experiment} · agent ${c.agent}${c.experiment === 'mountaincar' ? ` · ${c.goalFamily} goals` : ''} · VI grid ${c.grid}/dim`
      + ` · fit ${c.fitSteps} steps × ${c.fitBatch} (lr ${c.fitLr}) · ${c.seeds} seed(s) from ${c.seed}`,
    `backend ${res.backend}`,
    '',
    `WM NMSE           ${pm(s.wmNmse)}   (identity map ${pm(s.identityNmse)})`,
    `WM delta NMSE     ${pm(s.wmDeltaNmse)}   (identity map 1)`,
  ];
  if (s.wmDeltaNmseInterior) lines.push(`  interior states ${pm(s.wmDeltaNmseInterior)} · boundary events ${pm(s.wmDeltaNmseBoundary!)}`);
  lines.push('', 'action/dim         MSE          NMSE         identity     delta NMSE');
  for (const p of s.perActionDim) {
    lines.push(`${`${p.action}/${p.label}`.padEnd(18)} ${f(p.mse.mean).padEnd(12)} ${f(p.nmse.mean).padEnd(12)} ${f(p.identityNmse.mean).padEnd(12)} ${p.deltaNmse ? f(p.deltaNmse.mean) : 'n/a (no change)'}`);
  }
  lines.push('', 'unseen goal        R*                 R^WM               R^WM/R*');
  for (const u of s.unseen) lines.push(`${u.label.padEnd(18)} ${pm(u.rStar).padEnd(18)} ${pm(u.rWM).padEnd(18)} ${pm(u.ratio)}`);
  lines.push('', `wall ${(res.timing.wallMs / 1000).toFixed(1)} s (oracle VI ${(res.timing.oracleMs / 1000).toFixed(1)} s, `
    + `fit ${(res.seeds.reduce((a, x) => a + x.fitMs, 0) / 1000).toFixed(1)} s, eval ${(res.seeds.reduce((a, x) => a + x.evalMs, 0) / 1000).toFixed(1)} s) on ${res.timing.threads} thread(s)`);
  return lines.join('\n');
}

export async function runContinuousCommand(experiment: ContinuousEnvName, opts: RunOptions, log: Logger): Promise<number> {
  const config = resolveContinuousConfig(experiment, {
    agent: opts.agent, goalFamily: opts.goalFamily, grid: opts.grid, seeds: opts.seeds, seed: opts.seed, gamma: opts.gamma,
    backend: opts.backend, fitSteps: opts.fitSteps, fitBatch: opts.fitBatch, fitLr: opts.fitLr, viTol: opts.viTol,
    evalStates: opts.evalStates, rollouts: opts.rollouts,
  });
  const threads = opts.threads === undefined ? undefined : intIn('threads', opts.threads, 1, 1024);
  const pool = createLocalPool(threads);
  let bar: ProgressBar | undefined;
  try {
    const { result } = await runContinuousLocal(config, pool, {
      planned: (units) => { bar = new ProgressBar(units); log.info({ units, threads: pool.threads }, 'run planned'); },
      progress: (unit, d, n) => bar?.update(unit, d, n),
    });
    bar?.finish();
    log.info({ backend: result.backend }, 'tensor backend');
    const json = JSON.stringify(result, null, 2);
    if (opts.out) {
      await mkdir(opts.out, { recursive: true });
      await writeAtomic(join(opts.out, 'result.json'), json);
    }
    process.stdout.write(opts.json ? json + '\n' : renderContinuous(result) + '\n');
    return 0;
  } finally {
    await pool.close();
  }
}
