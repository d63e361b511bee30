// The FourRooms job spec: defaults, and validation of raw input (CLI strings or JSON
// values) into a typed config. The same function guards `plearn run` and the job API.

import { parseLayout, stateCount } from '../envs/fourrooms/layout.ts';
import type { Layout } from '../envs/fourrooms/layout.ts';
import { DEFAULT_LAYOUT_TEXT } from '../envs/fourrooms/default-layout.ts';
import type { RewardFamily } from '../tabular/goals.ts';
import type { TabularAgentKind } from '../tasks/tabular-agent.ts';
import type { QLearningConfig } from '../tabular/qlearning.ts';
import { QLEARNING_DEFAULTS } from '../tabular/qlearning.ts';
import { ConfigError, cellList, intIn, numberIn, oneOf } from '../util/validate.ts';

export type ModelClass = 'deterministic' | 'stochastic';
export type FitMethod = 'closed' | 'iterative';
export type SupportKind = 'full' | 'local';

export interface FourRoomsConfig {
  readonly experiment: 'fourrooms';
  readonly layoutName: string;
  readonly layoutText: string;
  readonly variant: string;
  /** Goal cells given explicitly, or a count picked per seed. */
  readonly goals: { readonly count: number } | { readonly cells: ReadonlyArray<readonly [number, number]> };
  readonly reward: RewardFamily;
  readonly agent: TabularAgentKind;
  /** Goals per agent (shard size); equal to the goal count when unsharded. */
  readonly goalsPerAgent: number | null;
  readonly model: ModelClass;
  readonly fit: FitMethod;
  readonly support: SupportKind;
  readonly seeds: number;
  readonly seed: number;
  readonly gamma: number;
  /** Sampled updates and normalised step size of the iterative fit. */
  readonly fitSteps: number;
  readonly fitLr: number;
  readonly qlearning: QLearningConfig;
}

/** Raw fields as they arrive (strings from the CLI, JSON values from the API). */
export interface FourRoomsInput {
  layoutText?: string; layoutName?: string; variant?: unknown; goals?: unknown; goalCells?: unknown;
  reward?: unknown; agent?: unknown; steps?: unknown; goalsPerAgent?: unknown; model?: unknown;
  fit?: unknown; support?: unknown; seeds?: unknown; seed?: unknown; gamma?: unknown;
  fitSteps?: unknown; fitLr?: unknown; epsilon?: unknown; episodeLength?: unknown; alphaExponent?: unknown;
}

export const FOURROOMS_LIMITS = {
  goals: 10_000, steps: 1_000_000_000, seeds: 1000, fitSteps: 1_000_000_000,
} as const;

export function resolveFourRoomsConfig(input: FourRoomsInput): { config: FourRoomsConfig; layout: Layout } {
  const layoutText = input.layoutText ?? DEFAULT_LAYOUT_TEXT;
  const layout = parseLayout(layoutText);
  const variants = [...layout.variants.keys()];
  const variant = oneOf('variant', input.variant ?? (variants.includes('deterministic') ? 'deterministic' : variants[0]), variants);
  const reward = oneOf<RewardFamily>('reward', input.reward ?? 'sparse', ['sparse', 'generic']);
  const nFree = stateCount(layout);

  let goals: FourRoomsConfig['goals'];
  if (input.goalCells !== undefined) {
    if (input.goals !== undefined) throw new ConfigError('goal-cells', 'give either --goals or --goal-cells, not both');
    if (reward !== 'sparse') throw new ConfigError('goal-cells', 'goal cells apply to the sparse reward family only');
    const cells = cellList('goal-cells', input.goalCells);
    const seen = new Set<string>();
    for (const [x, y] of cells) {
      if (x < 0 || y < 0 || x >= layout.width || y >= layout.height) {
        throw new ConfigError('goal-cells', `${x},${y} is outside the ${layout.width}×${layout.height} map`);
      }
      if (!layout.free[y * layout.width + x]) throw new ConfigError('goal-cells', `${x},${y} is a wall`);
      if (seen.has(`${x},${y}`)) throw new ConfigError('goal-cells', `${x},${y} is listed twice`);
      seen.add(`${x},${y}`);
    }
    goals = { cells };
  } else {
    const max = reward === 'sparse' ? nFree : FOURROOMS_LIMITS.goals;
    goals = { count: intIn('goals', input.goals ?? 4, 1, max) };
  }
  const nGoals = 'count' in goals ? goals.count : goals.cells.length;
  const goalsPerAgent = input.goalsPerAgent === undefined ? null : intIn('goals-per-agent', input.goalsPerAgent, 1, nGoals);

  const config: FourRoomsConfig = {
    experiment: 'fourrooms',
    layoutName: input.layoutName ?? layout.name,
    layoutText,
    variant,
    goals,
    reward,
    agent: oneOf<TabularAgentKind>('agent', input.agent ?? 'qlearning', ['oracle', 'qlearning']),
    goalsPerAgent,
    model: oneOf<ModelClass>('model', input.model ?? 'stochastic', ['deterministic', 'stochastic']),
    fit: oneOf<FitMethod>('fit', input.fit ?? 'iterative', ['closed', 'iterative']),
    support: oneOf<SupportKind>('support', input.support ?? 'local', ['full', 'local']),
    seeds: intIn('seeds', input.seeds ?? 1, 1, FOURROOMS_LIMITS.seeds),
    seed: intIn('seed', input.seed ?? 0, 0, 0xffffffff),
    gamma: numberIn('gamma', input.gamma ?? 0.99, 0, 0.999999),
    fitSteps: intIn('fit-steps', input.fitSteps ?? 2_000_000, 1, FOURROOMS_LIMITS.fitSteps),
    fitLr: numberIn('fit-lr', input.fitLr ?? 1, 1e-6, 1.999),
    qlearning: {
      steps: intIn('steps', input.steps ?? QLEARNING_DEFAULTS.steps, 1, FOURROOMS_LIMITS.steps),
      epsilon: numberIn('epsilon', input.epsilon ?? QLEARNING_DEFAULTS.epsilon, 0, 1),
      alphaExponent: numberIn('alpha-exponent', input.alphaExponent ?? QLEARNING_DEFAULTS.alphaExponent, 0.5, 1),
      alphaMin: QLEARNING_DEFAULTS.alphaMin,
      episodeLength: intIn('episode-length', input.episodeLength ?? QLEARNING_DEFAULTS.episodeLength, 1, 1_000_000),
    },
  };
  return { config, layout };
}
