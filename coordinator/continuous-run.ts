// The embedded default for the continuous experiments: the oracle agent task, then
// one fit-and-evaluate task per seed, through the local piscina pool.

import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import type { ContinuousSeedResult, ContinuousSummary } from '../shared/experiments/continuous.ts';
import { summarizeContinuous } from '../shared/experiments/continuous.ts';
import type { WorldModelWeights } from '../shared/plearning/neural-model.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import type { RunHooks } from './local-run.ts';

export interface ContinuousRunResult {
  experiment: ContinuousConfig['experiment'];
  backend: string;
  config: ContinuousConfig;
  summary: ContinuousSummary;
  seeds: ContinuousSeedResult[];
  timing: { wallMs: number; oracleMs: number; threads: number };
}

export async function runContinuousLocal(config: ContinuousConfig, pool: TaskPool, hooks: Omit<RunHooks, 'agentDone'> = {}):
  Promise<{ result: ContinuousRunResult; models: WorldModelWeights[] }> {
  const t0 = performance.now();
  hooks.planned?.(1 + config.seeds);
  // The oracle's Q* does not depend on the seed: one agent task serves every seed's fit.
  const oracle = await pool.run({ kind: 'continuous-oracle', config, shardIndex: 0 }, (d, n) => hooks.progress?.('oracle', d, n));
  hooks.progress?.('oracle', 1, 1);
  const fits = await Promise.all(Array.from({ length: config.seeds }, (_, seedIndex) =>
    pool.run({ kind: 'continuous-fit', config, seedIndex, agents: [oracle] }, (d, n) => hooks.progress?.(`fit ${seedIndex}`, d, n))
      .then((out) => { hooks.progress?.(`fit ${seedIndex}`, 1, 1); return out; })));
  const seeds = fits.map((f) => f.result).sort((a, b) => a.seedIndex - b.seedIndex);
  return {
    result: {
      experiment: config.experiment,
      backend: seeds[0].backend,
      config,
      summary: summarizeContinuous(seeds),
      seeds,
      timing: { wallMs: performance.now() - t0, oracleMs: oracle.wallMs, threads: pool.threads },
    },
    models: fits.map((f) => f.weights),
  };
}
