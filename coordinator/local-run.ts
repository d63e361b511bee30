// The embedded default: the whole FourRooms pipeline on this machine through a local
// piscina pool. Agent tasks run in parallel; each seed's fit starts as soon as that
// seed's agents are done.

import { planFourRoomsTasks, summarizeFourRooms } from '../shared/experiments/fourrooms.ts';
import type { FourRoomsSummary, SeedResult } from '../shared/experiments/fourrooms.ts';
import { resolveFourRoomsConfig } from '../shared/experiments/fourrooms-config.ts';
import type { FourRoomsConfig, FourRoomsInput } from '../shared/experiments/fourrooms-config.ts';
import type { TabularAgentArtifact } from '../shared/tasks/tabular-agent.ts';
import type { TaskPool } from '../worker/local-pool.ts';

export interface RunHooks {
  /** Called once the number of work units is known. */
  planned?(units: number): void;
  progress?(unit: string, done: number, total: number): void;
  agentDone?(artifact: TabularAgentArtifact): void;
}

export interface FourRoomsRunResult {
  experiment: 'fourrooms';
  config: Omit<FourRoomsConfig, 'layoutText'> & { layoutText: string };
  summary: FourRoomsSummary;
  seeds: SeedResult[];
  timing: { wallMs: number; agentMs: number; threads: number };
}

export async function runFourRoomsLocal(input: FourRoomsInput, pool: TaskPool, hooks: RunHooks = {}): Promise<FourRoomsRunResult> {
  const t0 = performance.now();
  const { config, layout } = resolveFourRoomsConfig(input);
  const tasks = planFourRoomsTasks(config, layout);
  hooks.planned?.(tasks.length + config.seeds);
  const bySeed = new Map<number, TabularAgentArtifact[]>();
  const expected = new Map<number, number>();
  for (const t of tasks) expected.set(t.seedIndex, (expected.get(t.seedIndex) ?? 0) + 1);
  let agentMs = 0;

  const fits: Promise<SeedResult>[] = [];
  await Promise.all(tasks.map(async (task) => {
    const unit = `agent ${task.seedIndex}/${task.shardIndex}`;
    const art = await pool.run(task, (d, n) => hooks.progress?.(unit, d, n));
    hooks.progress?.(unit, 1, 1);
    hooks.agentDone?.(art);
    agentMs += art.wallMs;
    const list = bySeed.get(task.seedIndex) ?? [];
    list.push(art);
    bySeed.set(task.seedIndex, list);
    if (list.length === expected.get(task.seedIndex)) {
      const fitUnit = `fit ${task.seedIndex}`;
      fits.push(pool.run({ kind: 'fourrooms-fit', input, artifacts: list }, (d, n) => hooks.progress?.(fitUnit, d, n))
        .then((res) => { hooks.progress?.(fitUnit, 1, 1); return res; }));
    }
  }));
  const seeds = (await Promise.all(fits)).sort((a, b) => a.seedIndex - b.seedIndex);
  return {
    experiment: 'fourrooms',
    config,
    summary: summarizeFourRooms(seeds),
    seeds,
    timing: { wallMs: performance.now() - t0, agentMs, threads: pool.threads },
  };
}
