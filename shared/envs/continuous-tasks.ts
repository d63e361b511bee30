// The continuous goal sets agents train on and the unseen tasks they are judged
// on, as data (the reference's configs/mountaincar-{position,velocity}.py and
// configs/reacher.py: GOALS, GOAL_MASKS, A, SIGMA, TERMINATE_ON_GOAL, UNSEEN_GOALS).
// Every call builds fresh arrays, so a caller may mutate what it gets.

import { makeGoal, type ContinuousGoal, type RewardSpec, type TaskSpec } from './continuous-goals.ts';
import { MC_MAX_POSITION, MC_MAX_SPEED, MC_MIN_POSITION } from './mountaincar.ts';

export type ContinuousEnvName = 'mountaincar' | 'reacher';
export type MountainCarGoalFamily = 'position' | 'velocity';

/** The reference's SIGMA everywhere; it only matters if a caller switches a spec to `gaussian`. */
export const CONTINUOUS_SIGMA = 0.1;

const X = 0; // MountainCar observation dims
const V = 1;
const FP_X = 4; // Reacher observation dims: [θ₁, θ₂, ω₁, ω₂, fp_x, fp_y]
const FP_Y = 5;

/** numpy's linspace: start + i·step, with the last point exactly `stop`. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i === num - 1 ? stop : start + i * step);
  return out;
}

function sparse(radius: number): RewardSpec {
  return { kind: 'sparse', radius, sigma: CONTINUOUS_SIGMA, terminateOnGoal: true };
}

/** A goal on one observation dim of a `dim`-wide observation. */
function oneDimGoal(obsDim: number, d: number, value: number): ContinuousGoal {
  const target = new Array<number>(obsDim).fill(0);
  const mask = new Array<number>(obsDim).fill(0);
  target[d] = value;
  mask[d] = 1;
  return makeGoal(target, mask);
}

/** A goal on a set of dims of the 6-D Reacher observation. */
function reacherGoal(dims: readonly number[], values: readonly number[]): ContinuousGoal {
  const target = [0, 0, 0, 0, 0, 0];
  const mask = [0, 0, 0, 0, 0, 0];
  for (let k = 0; k < dims.length; k++) {
    target[dims[k]] = values[k];
    mask[dims[k]] = 1;
  }
  return makeGoal(target, mask);
}

/**
 * The training goal set (the reference implementation's, "paper" preset).
 * MountainCar `position` (default): x ∈ linspace(−1.2, 0.6, 4) = {−1.2, −0.6, 0, 0.6},
 * mask x, sparse a = 0.1. MountainCar `velocity`: v ∈ linspace(−0.07, 0.07, 4), mask v,
 * sparse a = 0.01. Reacher: fingertip targets on the unit circle at 0°, 90°, 180°, 270°,
 * mask (fp_x, fp_y), sparse a = 0.2; `family` does not apply to it and is ignored.
 * All terminate on the goal.
 */
export function trainingGoals(
  env: ContinuousEnvName, family: MountainCarGoalFamily = 'position',
): { goals: ContinuousGoal[]; reward: RewardSpec } {
  if (env === 'mountaincar') {
    if (family === 'position') {
      return {
        goals: linspace(MC_MIN_POSITION, MC_MAX_POSITION, 4).map((x) => oneDimGoal(2, X, x)),
        reward: sparse(0.1),
      };
    }
    if (family === 'velocity') {
      return {
        goals: linspace(-MC_MAX_SPEED, MC_MAX_SPEED, 4).map((v) => oneDimGoal(2, V, v)),
        reward: sparse(0.01),
      };
    }
    throw new RangeError(`mountaincar: unknown goal family ${String(family)}`);
  }
  if (env === 'reacher') {
    // The reference builds these as (cos φ, sin φ) for φ = 0, π/2, π, 3π/2, leaving
    // ~1e-16 (float32: ~1e-7) where the exact value is 0; radius 1 keeps them away
    // from the arm's singular full stretch at 2. We write the exact points.
    const ring: ReadonlyArray<readonly [number, number]> = [[1, 0], [0, 1], [-1, 0], [0, -1]];
    return {
      goals: ring.map(([x, y]) => reacherGoal([FP_X, FP_Y], [x, y])),
      reward: sparse(0.2),
    };
  }
  throw new RangeError(`unknown continuous env ${String(env)}`);
}

/**
 * Tasks never trained on (the reference's UNSEEN_GOALS, the same list in
 * both MountainCar configs). All sparse and terminating.
 */
export function unseenTasks(env: ContinuousEnvName): TaskSpec[] {
  if (env === 'mountaincar') {
    return [
      {
        label: 'Fast car',
        goals: [oneDimGoal(2, V, 0.06)],
        reward: sparse(0.01),
        forbidden: [],
      },
      {
        // The unconstrained optimum reaches the top at |v| ≥ 0.06, so the band bites.
        // Leaving is v < −0.05 or v > 0.05 (strict): |v| = 0.05 itself is allowed.
        label: 'Gentle car',
        goals: [oneDimGoal(2, X, MC_MAX_POSITION)],
        reward: sparse(0.1),
        forbidden: [
          { dim: V, op: 'lt', threshold: -0.05 },
          { dim: V, op: 'gt', threshold: 0.05 },
        ],
      },
      {
        label: 'Shortest path',
        goals: [oneDimGoal(2, X, -1.0), oneDimGoal(2, X, 0.4)],
        reward: sparse(0.1),
        forbidden: [],
      },
    ];
  }
  if (env === 'reacher') {
    return [
      {
        // Twice as far out as any training target and on the rim of the reachable disc
        // |fp| ≤ 2 (only θ₁ = θ₂ = π/4 touches it): only the inner side of its a-ball counts.
        label: 'Far fingertip',
        goals: [reacherGoal([FP_X, FP_Y], [Math.SQRT2, Math.SQRT2])],
        reward: sparse(0.2),
        forbidden: [],
      },
      {
        // A new goal TYPE (joint angles, not fingertip). Plain differences on the
        // wrapped observation: an observed θ₂ just above −π does not count as near π.
        label: 'Target angle',
        goals: [reacherGoal([0, 1], [0, Math.PI])],
        reward: sparse(0.2),
        forbidden: [],
      },
      {
        label: 'Target velocity',
        goals: [reacherGoal([2, 3], [2, 2])],
        reward: sparse(0.2),
        forbidden: [],
      },
    ];
  }
  throw new RangeError(`unknown continuous env ${String(env)}`);
}
