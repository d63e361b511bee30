// Goal rewards of the neural P-learning loss, written with TensorFlow.js ops on the
// model's state space: observations are rebuilt from predicted states (Reacher:
// wrapped angles and the fingertip), then scored as in continuous-goals.ts.

import type { ContinuousGoal, RewardSpec } from '../envs/continuous-goals.ts';
import type { GoalBackup } from '../plearning/neural-fit.ts';
import type { TF, Tensor2D } from '../tensor/backend.ts';

/** Observation of a batch of states, as TF ops (differentiable where the env's observe is). */
export type ObserveTf = (tf: TF, states: Tensor2D) => Tensor2D;

export function observeTf(envName: string): ObserveTf {
  if (envName === 'mountaincar') return (_tf, s) => s;
  if (envName === 'reacher') {
    return (tf, s) => tf.tidy(() => {
      const th1 = tf.slice(s, [0, 0], [-1, 1]);
      const th2 = tf.slice(s, [0, 1], [-1, 1]);
      const om = tf.slice(s, [0, 2], [-1, 2]);
      const wrap = (x: Tensor2D) => tf.sub(x, tf.mul(2 * Math.PI, tf.floor(tf.div(tf.add(x, Math.PI), 2 * Math.PI)))) as Tensor2D;
      const fx = tf.add(tf.cos(th1), tf.cos(th2));
      const fy = tf.add(tf.sin(th1), tf.sin(th2));
      return tf.concat([wrap(th1), wrap(th2), om, fx, fy], 1) as Tensor2D;
    });
  }
  throw new RangeError(`no TF observation for env ${envName}`);
}

/** r(ŝ', g) and d(ŝ', g) for the goal indices of a batch. */
export function goalBackupTf(envName: string, goals: readonly ContinuousGoal[], reward: RewardSpec): GoalBackup {
  const observe = observeTf(envName);
  const targets = goals.flatMap((g) => Array.from(g.target));
  const masks = goals.flatMap((g) => Array.from(g.mask));
  const obsDim = goals[0].target.length;
  const r2 = reward.radius * reward.radius;
  return (tf, next, goalIdx) => tf.tidy(() => {
    const obs = observe(tf, next);
    const idx = tf.cast(goalIdx, 'int32');
    const tgt = tf.gather(tf.tensor2d(targets, [goals.length, obsDim]), idx);
    const msk = tf.gather(tf.tensor2d(masks, [goals.length, obsDim]), idx);
    const diff = tf.mul(tf.sub(obs, tgt), msk);
    const d2 = tf.sum(tf.square(diff), 1);
    const inside = tf.cast(tf.less(d2, r2), 'float32');
    const r = reward.kind === 'sparse' ? inside : tf.exp(tf.div(tf.neg(d2), 2 * reward.sigma * reward.sigma));
    const d = reward.terminateOnGoal ? inside : tf.zerosLike(inside);
    return { r: r as ReturnType<GoalBackup>['r'], d: d as ReturnType<GoalBackup>['d'] };
  });
}
