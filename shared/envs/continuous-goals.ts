// Goals, rewards and terminations for continuous worlds, on OBSERVATIONS (the
// reference's `envs/goals.py` plus the forbidden regions and closest-of-N rule of
// its `eval/unseen_goals.py`).
//
// Distance: d² = Σ_i (m_i·(o_i − g_i))², plain differences on every dim, angles
// included, exactly as the reference (it multiplies the difference by the mask, then
// squares; with 0/1 masks that is Σ m_i (o_i − g_i)²). So a target angle of π is not
// reached from an observed −π + ε: that is the reference's behaviour and its figures
// were made with it.

export interface ContinuousGoal {
  /** Target observation, obsDim long; only masked dims matter. */
  target: Float64Array;
  /** Per observation dim, 1 where the goal constrains it, 0 where it does not. */
  mask: Float64Array;
}

export interface RewardSpec {
  kind: 'sparse' | 'gaussian';
  /** a: a goal is achieved when d² < a² (and pays 1 under `sparse`). */
  radius: number;
  /** σ of the `gaussian` reward exp(−d²/2σ²). */
  sigma: number;
  /** Reaching a goal ends the episode (after paying its reward). */
  terminateOnGoal: boolean;
}

/** Entering {o : o[dim] < threshold} (op 'lt') or {o : o[dim] > threshold} (op 'gt') ends the episode with reward 0. */
export interface ForbiddenRegion {
  dim: number;
  op: 'lt' | 'gt';
  threshold: number;
}

export interface TaskSpec {
  label: string;
  /**
   * At least one. Several goals make a closest-of-N task: the reward is the largest
   * per-goal reward and the episode ends when any goal is achieved.
   */
  goals: ContinuousGoal[];
  reward: RewardSpec;
  forbidden: ForbiddenRegion[];
}

/** Masked squared distance from the observation at obs[off..] to the goal. */
export function goalDist2(obs: Float64Array, off: number, goal: ContinuousGoal): number {
  const { target, mask } = goal;
  let d2 = 0;
  for (let i = 0; i < mask.length; i++) {
    const m = mask[i];
    // Skipping unmasked dims keeps a non-finite value there (an unbounded ω, say) out of the sum.
    if (m === 0) continue;
    const e = m * (obs[off + i] - target[i]);
    d2 += e * e;
  }
  return d2;
}

/** Reward of landing on the observation at obs[off..] for one goal. */
export function rewardOf(obs: Float64Array, off: number, goal: ContinuousGoal, spec: RewardSpec): number {
  const d2 = goalDist2(obs, off, goal);
  if (spec.kind === 'sparse') return d2 < spec.radius * spec.radius ? 1 : 0;
  return Math.exp(-d2 / (2 * spec.sigma * spec.sigma));
}

/** Strictly inside the radius, as the reference's `dist_sq < a**2`. */
export function achieved(obs: Float64Array, off: number, goal: ContinuousGoal, radius: number): boolean {
  return goalDist2(obs, off, goal) < radius * radius;
}

/** Strict comparisons, as the reference: sitting exactly on a threshold is allowed. */
export function forbiddenHit(obs: Float64Array, off: number, regions: readonly ForbiddenRegion[]): boolean {
  for (let k = 0; k < regions.length; k++) {
    const r = regions[k];
    const x = obs[off + r.dim];
    if (r.op === 'lt' ? x < r.threshold : x > r.threshold) return true;
  }
  return false;
}

/**
 * Reward and termination of n landing observations (row-major n × obsDim) under a task.
 * The order is the reference rollout's: the forbidden check comes first and, when hit,
 * ends the episode with reward 0 even if the state is also inside a goal; otherwise
 * the reward is the best per-goal reward, and the episode ends when some goal is
 * achieved and the task terminates on goals. Allocation-free.
 */
export function taskRewardDone(
  task: TaskSpec, obs: Float64Array, n: number, rOut: Float64Array, dOut: Uint8Array,
): void {
  const { goals, reward, forbidden } = task;
  if (goals.length === 0) throw new RangeError(`task ${task.label}: no goals`);
  const dim = goals[0].target.length;
  const r2 = reward.radius * reward.radius;
  const sparse = reward.kind === 'sparse';
  const inv2s2 = 1 / (2 * reward.sigma * reward.sigma);
  for (let i = 0; i < n; i++) {
    const off = i * dim;
    if (forbidden.length > 0 && forbiddenHit(obs, off, forbidden)) {
      rOut[i] = 0;
      dOut[i] = 1;
      continue;
    }
    let best = 0;
    let hit = false;
    for (let g = 0; g < goals.length; g++) {
      const d2 = goalDist2(obs, off, goals[g]);
      const inside = d2 < r2;
      if (inside) hit = true;
      // Both reward kinds are ≥ 0, so 0 is a safe start for the max.
      const r = sparse ? (inside ? 1 : 0) : Math.exp(-d2 * inv2s2);
      if (r > best) best = r;
    }
    rOut[i] = best;
    dOut[i] = hit && reward.terminateOnGoal ? 1 : 0;
  }
}

/** A goal from plain arrays (targets and masks as written in configs). */
export function makeGoal(target: readonly number[], mask: readonly number[]): ContinuousGoal {
  if (target.length !== mask.length) {
    throw new RangeError(`goal target has ${target.length} dims but mask has ${mask.length}`);
  }
  return { target: Float64Array.from(target), mask: Float64Array.from(mask) };
}
