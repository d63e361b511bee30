// An agent trained elsewhere, as a fit reads it: its imported graph, the card's
// contract (input columns, input scaling, goals, reward, γ), and the three views
// the pipeline needs — a frozen QFunction for the P-learning fit, a batch
// evaluator over world states for the Q error, and the probe run before a fit.

import type { ContinuousEnv } from '../envs/continuous.ts';
import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import type { ObserveTf } from '../continuous/tf-goals.ts';
import type { QFunction } from '../plearning/neural.ts';
import { selectActions } from '../plearning/neural.ts';
import type { TF, Tensor, Tensor1D, Tensor2D } from '../tensor/backend.ts';
import { ConfigError } from '../util/validate.ts';
import type { InputColumn } from './agent-card.ts';
import type { AgentGraph } from './graph.ts';
import { compileGraph } from './graph-tf.ts';

export interface ExternalAgentArtifact {
  readonly kind: 'continuous-external';
  /** Position among the job's agent files. */
  readonly shardIndex: number;
  /** The file it came from (errors and reports name it). */
  readonly label: string;
  readonly graph: AgentGraph;
  readonly inputs: readonly InputColumn[];
  readonly inputScale?: { readonly shift: readonly number[]; readonly scale: readonly number[] };
  readonly goals: readonly ContinuousGoal[];
  readonly reward: RewardSpec;
  readonly gamma: number;
  readonly nActions: number;
  readonly wallMs: number;
}

/** Input rows (n × inputs) from observations (n × obsDim) and one goal's target. */
export function externalRows(a: ExternalAgentArtifact, obs: Float64Array, obsDim: number, target: ArrayLike<number>, n: number, out: Float32Array): void {
  const w = a.inputs.length;
  const s = a.inputScale;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < w; j++) {
      const c = a.inputs[j];
      const x = c.source === 'obs' ? obs[i * obsDim + c.index] : target[c.index];
      out[i * w + j] = s ? (x - s.shift[j]) * s.scale[j] : x;
    }
  }
}

/**
 * The agent as P-learning sees it: states lifted to observations with TF ops, the
 * card's columns gathered (observation columns, then the goal's, then put in the
 * card's order), scaled, and run through the graph — differentiable w.r.t. states.
 */
export function externalQFunction(tf: TF, a: ExternalAgentArtifact, observe: ObserveTf): QFunction {
  const net = compileGraph(tf, a.graph);
  const obsCols = a.inputs.filter((c) => c.source === 'obs').map((c) => c.index);
  const goalCols = a.inputs.filter((c) => c.source === 'goal').map((c) => c.index);
  // Position of each card column in [obs columns…, goal columns…].
  let o = 0; let g = obsCols.length;
  const perm = a.inputs.map((c) => (c.source === 'obs' ? o++ : g++));
  const identity = perm.every((p, i) => p === i);
  const held: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => { held.push(t); return t; };
  const obsIdx = obsCols.length > 0 ? keep(tf.tensor1d(Int32Array.from(obsCols), 'int32')) : undefined;
  const goalTable = goalCols.length > 0
    ? keep(tf.tensor2d(Float32Array.from(a.goals.flatMap((gl) => goalCols.map((d) => gl.target[d]))), [a.goals.length, goalCols.length]))
    : undefined;
  const permIdx = identity ? undefined : keep(tf.tensor1d(Int32Array.from(perm), 'int32'));
  const shift = a.inputScale ? keep(tf.tensor1d(Float32Array.from(a.inputScale.shift))) : undefined;
  const scale = a.inputScale ? keep(tf.tensor1d(Float32Array.from(a.inputScale.scale))) : undefined;
  const forward = (states: Tensor2D, goalIdx: Tensor1D): Tensor2D => {
    const parts: Tensor2D[] = [];
    if (obsIdx) parts.push(tf.gather(observe(tf, states), obsIdx, 1) as Tensor2D);
    if (goalTable) parts.push(tf.gather(goalTable, tf.cast(goalIdx, 'int32')) as Tensor2D);
    let x = (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as Tensor2D;
    if (permIdx) x = tf.gather(x, permIdx, 1) as Tensor2D;
    if (shift && scale) x = tf.mul(tf.sub(x, shift), scale) as Tensor2D;
    return net.forward(x);
  };
  return {
    nActions: a.nActions,
    nGoals: a.goals.length,
    values: (_tf, next, goalIdx) => forward(next, goalIdx),
    targets: (_tf, states, actions, goalIdx) => selectActions(tf, forward(states, goalIdx), actions),
    dispose: () => {
      net.dispose();
      for (const t of held) t.dispose();
    },
  };
}

/** Q(s, ·, g) for world states (n × stateDim) and one goal, into out (n × nActions), in chunks. */
export function externalBatchQ(tf: TF, env: ContinuousEnv, a: ExternalAgentArtifact):
  { q: (states: Float64Array, n: number, goal: number, out: Float32Array) => Promise<void>; dispose: () => void } {
  const net = compileGraph(tf, a.graph);
  const chunk = 16_384;
  const w = a.inputs.length;
  const obs = new Float64Array(chunk * env.obsDim);
  const rows = new Float32Array(chunk * w);
  return {
    q: async (states, n, goal, out) => {
      for (let s = 0; s < n; s += chunk) {
        const m = Math.min(chunk, n - s);
        env.observe(states.subarray(s * env.stateDim, (s + m) * env.stateDim), obs, m);
        externalRows(a, obs, env.obsDim, a.goals[goal].target, m, rows);
        const q = tf.tidy(() => net.forward(tf.tensor2d(rows.subarray(0, m * w), [m, w])));
        try {
          if (q.shape.length !== 2 || q.shape[0] !== m || q.shape[1] !== a.nActions) {
            throw new ConfigError(`${a.label}`, `the network returned shape [${q.shape.join(', ')}] for ${m} rows; expected [${m}, ${a.nActions}] (one Q value per action)`);
          }
          out.set(await q.data() as Float32Array, s * a.nActions);
        } finally {
          q.dispose();
        }
      }
    },
    dispose: () => net.dispose(),
  };
}

/** Relative slack on the Q bounds [r_min, r_max/(1 − γ)] the probe allows (of the bound's width, each side). */
export const PROBE_SLACK = 0.05;

/**
 * Before a fit: run the agent on `states` (n × stateDim) for every goal and check the
 * output's shape, that every value is finite, and that it lies within
 * [r_min, r_max/(1 − γ)] of the goal's reward (both rewards lie in [0, 1]) widened
 * by PROBE_SLACK of that width on each side. Throws a ConfigError naming the file.
 */
export async function probeExternal(tf: TF, env: ContinuousEnv, a: ExternalAgentArtifact, states: Float64Array, n: number): Promise<{ min: number; max: number }> {
  const batch = externalBatchQ(tf, env, a);
  const out = new Float32Array(n * a.nActions);
  const hi = 1 / (1 - a.gamma);
  const slack = PROBE_SLACK * hi;
  let min = Infinity; let max = -Infinity;
  try {
    for (let g = 0; g < a.goals.length; g++) {
      await batch.q(states, n, g, out);
      for (let i = 0; i < out.length; i++) {
        const v = out[i];
        if (!Number.isFinite(v)) throw new ConfigError(a.label, `the probe got Q = ${v} (goal ${g}, state ${Math.floor(i / a.nActions)}, action ${i % a.nActions}); Q values must be finite`);
        if (v < -slack || v > hi + slack) {
          throw new ConfigError(a.label, `the probe got Q = ${v.toPrecision(6)} (goal ${g}, action ${i % a.nActions}), outside [0, ${hi.toPrecision(4)}] = [r_min, r_max/(1 − γ)] `
            + `widened by ${PROBE_SLACK * 100}% (γ = ${a.gamma}); is this agent's reward the experiment's, and γ right?`);
        }
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
  } finally {
    batch.dispose();
  }
  return { min, max };
}
