// Goal-conditioned reward families on a finite state space. A goal is a small
// serializable spec; its reward r(s', g) and termination d(s', g) rows are
// derived from it deterministically, so a worker rebuilds them from the spec.

import { Rng } from '../util/rng.ts';

export type RewardFamily = 'sparse' | 'generic';

/** A training goal: a goal cell (`sparse`: reward 1 on entering, episode ends) or a
 *  generic reward function (`generic`: r(s') ~ U[0,1] i.i.d. per state from `seed`, never ends). */
export type GoalSpec =
  | { readonly kind: 'sparse'; readonly state: number }
  | { readonly kind: 'generic'; readonly seed: number };

/** An unseen evaluation task: reward 1 at `goal`, 0 at the `traps`; all of them end the episode. */
export interface UnsafeTaskSpec {
  readonly label: string;
  readonly goal: number;
  readonly traps: readonly number[];
}

/** Rows r[l * nS + s'] and d[l * nS + s'] for goals l = 0 … G−1. */
export interface RewardTables {
  readonly nGoals: number;
  readonly nStates: number;
  readonly r: Float64Array;
  readonly d: Uint8Array;
}

export function rewardTables(goals: readonly GoalSpec[], nStates: number): RewardTables {
  const G = goals.length;
  const r = new Float64Array(G * nStates);
  const d = new Uint8Array(G * nStates);
  for (let l = 0; l < G; l++) {
    const g = goals[l];
    if (g.kind === 'sparse') {
      r[l * nStates + g.state] = 1;
      d[l * nStates + g.state] = 1;
    } else {
      const rng = new Rng(g.seed);
      for (let s = 0; s < nStates; s++) r[l * nStates + s] = rng.next();
    }
  }
  return { nGoals: G, nStates, r, d };
}

export function unsafeTaskTables(task: UnsafeTaskSpec, nStates: number): RewardTables {
  const r = new Float64Array(nStates);
  const d = new Uint8Array(nStates);
  r[task.goal] = 1;
  d[task.goal] = 1;
  for (const t of task.traps) d[t] = 1;
  return { nGoals: 1, nStates, r, d };
}

/** N distinct goal cells chosen uniformly (partial Fisher–Yates), or N generic reward seeds. */
export function pickGoals(family: RewardFamily, count: number, nStates: number, seed: number): GoalSpec[] {
  const rng = new Rng(seed);
  if (family === 'generic') {
    const out: GoalSpec[] = [];
    for (let l = 0; l < count; l++) out.push({ kind: 'generic', seed: rng.nextU32() });
    return out;
  }
  if (count > nStates) throw new RangeError(`cannot pick ${count} distinct goal cells from ${nStates} states`);
  const idx = Int32Array.from({ length: nStates }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(nStates - i);
    const t = idx[i]; idx[i] = idx[j]; idx[j] = t;
  }
  return Array.from(idx.subarray(0, count), (s) => ({ kind: 'sparse', state: s }) as GoalSpec);
}
