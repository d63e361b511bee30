// Is an agent's Q-network consistent with the true dynamics where the fit samples?
// For every saved Q-network of a run's --out directory: the mean Bellman residual
// |Q(s,a) − r(ŝ) − γ(1 − d(ŝ))·max Q(ŝ)| over fit-distribution states s (those not
// already at the goal), random actions and the agent's goals, with ŝ = s + κ·(s′ − s)
// moved a fraction κ of the true step s′. A network the fit can invert is most
// consistent at κ = 1; one whose minimum sits at a smaller κ is "lagged", and the model
// P-learning extracts from it moves the system too slowly by about that factor.
//
//   npm run diagnose:bellman -- DIR [--states N]

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCheckpoint } from '../coordinator/checkpoint-run.ts';
import { qNetworkQFunction } from '../shared/agents/q-network-tf.ts';
import { goalBackupTf, observeTf } from '../shared/continuous/tf-goals.ts';
import { trainingGoals } from '../shared/envs/continuous-tasks.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import { continuousEnv, sampleStates } from '../shared/experiments/continuous.ts';
import { initBackend } from '../shared/tensor/backend.ts';
import { Rng } from '../shared/util/rng.ts';

const KAPPAS = Array.from({ length: 16 }, (_, i) => i / 10); // 0, 0.1, …, 1.5
const TRUE_STEP = KAPPAS.indexOf(1);

/** The minimum of the parabola through the smallest sampled residual and its two neighbours. */
function kappaStar(res: readonly number[]): number {
  const i = res.indexOf(Math.min(...res));
  if (i === 0 || i === res.length - 1) return KAPPAS[i];
  const [a, b, c] = [res[i - 1], res[i], res[i + 1]];
  const h = KAPPAS[1] - KAPPAS[0];
  return KAPPAS[i] + (h * (a - c)) / (2 * (a - 2 * b + c));
}

function usage(message: string): never {
  console.error(`bellman-lag: ${message}\nusage: npm run diagnose:bellman -- DIR [--states N]   (DIR: a plearn run --out directory of a PQN run)`);
  process.exit(2);
}

const args = process.argv.slice(2);
const dir = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--states');
if (!dir) usage('no run directory given');
const statesAt = args.indexOf('--states');
const n = statesAt < 0 ? 50_000 : Number(args[statesAt + 1]);
if (!Number.isInteger(n) || n < 100 || n > 1_000_000) usage(`--states must be an integer in [100, 1000000], got ${args[statesAt + 1]}`);

// The run's own settings (fit distribution, γ, goal set) from its result.json.
let cfg: ContinuousConfig;
try {
  cfg = (JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as { config: ContinuousConfig }).config;
} catch (e) {
  usage(`cannot read ${join(dir, 'result.json')}: ${(e as Error).message}`);
}
if (cfg?.experiment !== 'mountaincar' && cfg?.experiment !== 'reacher') usage(`${dir} holds no MountainCar or Reacher run`);
const seeds = await loadCheckpoint(dir, cfg.experiment, cfg.goalFamily).catch((e: Error) => usage(e.message));

const { tf } = await initBackend('auto');
const env = continuousEnv(cfg.experiment);
const { goals: allGoals, reward } = trainingGoals(cfg.experiment, cfg.goalFamily);
const D = env.stateDim;
console.log('| Q-network | residual at κ = 0 (nothing moves) | at κ = 1 (the true step) | smallest | at κ* |');
console.log('|---|---|---|---|---|');
for (const agent of seeds.flat()) {
  const goals = agent.goalIndices.map((i) => allGoals[i]);
  const q = qNetworkQFunction(tf, agent.weights, goals, observeTf(cfg.experiment));
  const backup = goalBackupTf(cfg.experiment, goals, reward);
  const rng = new Rng(3);
  const states = new Float64Array(n * D);
  sampleStates(env, cfg.sampleFrom, rng, states, n);
  const actions = new Int32Array(n);
  const goalIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) { actions[i] = rng.int(env.nActions); goalIdx[i] = rng.int(goals.length); }
  const next = new Float64Array(n * D);
  env.step(states, actions, next, n);
  // Q(s, a) and the live mask do not depend on κ: computed once per agent.
  const [qsa, live] = tf.tidy(() => {
    const s = tf.tensor2d(Float32Array.from(states), [n, D]);
    const g = tf.tensor1d(goalIdx, 'int32');
    return [q.targets(tf, s, tf.tensor1d(actions, 'int32'), g), tf.sub(1, backup(tf, s, g).d)];
  });
  const g = tf.tensor1d(goalIdx, 'int32');
  const liveCount = tf.sum(live).dataSync()[0];
  const moved = new Float32Array(n * D);
  const residuals = KAPPAS.map((kappa) => {
    for (let i = 0; i < n * D; i++) moved[i] = states[i] + kappa * (next[i] - states[i]);
    return tf.tidy(() => {
      const m = tf.tensor2d(moved, [n, D]);
      const { r, d } = backup(tf, m, g);
      const target = tf.add(r, tf.mul(tf.mul(tf.sub(1, d), cfg.gamma), tf.max(q.values(tf, m, g), 1)));
      return tf.sum(tf.mul(tf.abs(tf.sub(qsa, target)), live)).dataSync()[0] / liveCount;
    });
  });
  for (const t of [qsa, live, g]) t.dispose();
  q.dispose?.();
  console.log(`| seed ${agent.seedIndex} agent ${agent.shardIndex} | ${residuals[0].toExponential(2)} | ${residuals[TRUE_STEP].toExponential(2)} `
    + `| ${Math.min(...residuals).toExponential(2)} | ${kappaStar(residuals).toFixed(2)} |`);
}
