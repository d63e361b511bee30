// `plearn run … --q-checkpoint DIR`: the fit and evaluation again, on PQN agents a
// previous run saved (its q-network-seed<k>-agent<j>.safetensors), without training.

import { readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { TrainingCurves } from '../shared/agents/curves.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import type { ContinuousAgentArtifact } from '../shared/experiments/continuous.ts';
import type { JobSpec } from '../shared/experiments/jobs.ts';
import { assembleResult, continuousConfigOf } from '../shared/experiments/jobs.ts';
import type { ContinuousPqnArtifact } from '../shared/tasks/continuous-pqn.ts';
import type { ContinuousFitOutput } from '../shared/tasks/task.ts';
import { ConfigError } from '../shared/util/validate.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import { readQNetFile } from './artifacts.ts';
import type { JobOutcome, RunHooks } from './local-run.ts';

const FILE = /^q-network-seed(\d+)-agent(\d+)\.safetensors$/;

interface Extra {
  seedIndex: number; shardIndex: number; goalIndices: number[]; envSteps: number; gradSteps: number;
  curves?: { updateSteps: number[]; loss: number[]; epsilon: number[]; evalSteps: number[]; evalReturn: number[][]; goalLabels: string[] };
}

function curvesOf(e: Extra): TrainingCurves {
  const c = e.curves;
  return {
    updateSteps: Float64Array.from(c?.updateSteps ?? []), loss: Float64Array.from(c?.loss ?? []), epsilon: Float64Array.from(c?.epsilon ?? []),
    evalSteps: Float64Array.from(c?.evalSteps ?? []), evalReturn: (c?.evalReturn ?? []).map((r) => Float64Array.from(r)), goalLabels: c?.goalLabels ?? [],
  };
}

function isExtra(x: unknown): x is Extra {
  const e = x as Partial<Extra> | null;
  return typeof e === 'object' && e !== null && Number.isInteger(e.seedIndex) && Number.isInteger(e.shardIndex)
    && Array.isArray(e.goalIndices) && e.goalIndices.every((g) => Number.isInteger(g) && g >= 0 && g < 4);
}

/** The saved agents of DIR, grouped by seed (seed order, then shard order). */
export async function loadCheckpoint(dir: string, experiment: string, goalFamily: string): Promise<ContinuousPqnArtifact[][]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => FILE.test(n));
  } catch (e) {
    throw new ConfigError('q-checkpoint', `cannot read ${dir}: ${(e as Error).message}`);
  }
  if (names.length === 0) throw new ConfigError('q-checkpoint', `${dir} has no q-network-seed<k>-agent<j>.safetensors files (a PQN run with --out writes them)`);
  const bySeed = new Map<number, ContinuousPqnArtifact[]>();
  for (const name of names.sort()) {
    const file = await readQNetFile(join(dir, name)).catch((e: Error) => { throw new ConfigError('q-checkpoint', e.message); });
    const cfg = file.config as Partial<ContinuousConfig> | null;
    if (file.experiment !== experiment) throw new ConfigError('q-checkpoint', `${name} holds a ${file.experiment} agent, not ${experiment}`);
    if (experiment === 'mountaincar' && cfg?.goalFamily !== goalFamily) {
      throw new ConfigError('q-checkpoint', `${name} was trained on ${String(cfg?.goalFamily)} goals; pass --goal-family ${String(cfg?.goalFamily)}`);
    }
    if (!isExtra(file.extra)) throw new ConfigError('q-checkpoint', `${name} lacks its agent record (seedIndex, shardIndex, goalIndices)`);
    const e = file.extra;
    const agent: ContinuousPqnArtifact = {
      kind: 'continuous-pqn', seedIndex: e.seedIndex, shardIndex: e.shardIndex, goalIndices: e.goalIndices, weights: file.weights,
      curves: curvesOf(e), envSteps: e.envSteps, gradSteps: e.gradSteps, wallMs: 0,
    };
    bySeed.set(e.seedIndex, [...(bySeed.get(e.seedIndex) ?? []), agent]);
  }
  return [...bySeed.keys()].sort((a, b) => a - b).map((k) => bySeed.get(k)!.sort((a, b) => a.shardIndex - b.shardIndex));
}

export async function runFromCheckpoint(spec: JobSpec, dir: string, opts: { threads?: number; hooks?: RunHooks }): Promise<JobOutcome> {
  if (spec.experiment === 'fourrooms') throw new ConfigError('q-checkpoint', 'applies to mountaincar and reacher only');
  const base = continuousConfigOf(spec);
  if (base.track !== undefined) throw new ConfigError('track', 'does not apply with --q-checkpoint: saved agents keep only their final weights');
  const seeds = await loadCheckpoint(dir, spec.experiment, base.goalFamily);
  const config: ContinuousConfig = { ...base, agent: 'pqn', seeds: seeds.length, pqn: base.pqn };
  return fitLocally(config, seeds, opts);
}

/** One fit per seed on this machine's pool, over agents that need no training (seed s fits agentsPerSeed[s]). */
export async function fitLocally(config: ContinuousConfig, agentsPerSeed: readonly (readonly ContinuousAgentArtifact[])[],
  opts: { threads?: number; hooks?: RunHooks }): Promise<JobOutcome> {
  const t0 = performance.now();
  // No more threads than fits: each thread's native kernels get the cores ÷ threads.
  const pool = createLocalPool(opts.threads ?? Math.max(1, Math.min(availableParallelism(), agentsPerSeed.length)));
  opts.hooks?.planned?.(agentsPerSeed.length);
  try {
    const fits = await Promise.all(agentsPerSeed.map((agents, s) => pool.run({ kind: 'continuous-fit', config, seedIndex: s, agents },
      (d, n) => opts.hooks?.progress?.(`fit-${s}`, d, n))));
    const outputs = fits as ContinuousFitOutput[];
    const result = assembleResult({ config, tasks: [], fits: [] }, outputs, [], { wallMs: performance.now() - t0, threads: pool.threads });
    return { result, fits: outputs };
  } finally {
    await pool.close();
  }
}
