// `--track n`: checkpoints along PQN training, a world model fitted on each as
// its own fit. Keeping checkpoints must not change training (the final networks
// and every number of the untracked run stay bit for bit), the checkpoints fall
// where trackPoints says, the last tracked point is the seed's own result, and
// the option is refused where it cannot apply.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runJobLocal } from '../coordinator/local-run.ts';
import { trackPoints } from '../shared/agents/pqn-config.ts';
import type { ContinuousResult, JobSpec } from '../shared/experiments/jobs.ts';
import { planJob } from '../shared/experiments/jobs.ts';
import type { ContinuousConfig } from '../shared/experiments/continuous-config.ts';
import type { ContinuousFitOutput } from '../shared/tasks/task.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { plearn } from './support/run-cli.ts';

const BASE = {
  envSteps: 8192, numEnvs: 32, qHidden: '32,32', grid: 41, fitSteps: 40, fitBatch: 64, evalStates: 400, rollouts: 16, backend: 'cpu', seeds: 2, seed: 5,
};

let pool: TaskPool;
before(() => { pool = createLocalPool(2); });
after(async () => { await pool.close(); });

test('--track 3: two extra fits per seed at the planned steps; training and the final numbers unchanged, bit for bit', { timeout: 600_000 }, async () => {
  const plain: JobSpec = { experiment: 'mountaincar', options: BASE };
  const tracked: JobSpec = { experiment: 'mountaincar', options: { ...BASE, track: 3 } };
  const plan = planJob(tracked);
  assert.equal(plan.fits.length, 2 + 2 * 2, 'each seed\'s own fit, then two tracking fits per seed');
  assert.deepEqual(plan.fits.slice(2).map((f) => [f.seedIndex, f.checkpoint]), [[0, 0], [0, 1], [1, 0], [1, 1]]);

  const a = await runJobLocal(plain, { pool });
  const b = await runJobLocal(tracked, { pool });
  const ra = a.result as ContinuousResult;
  const rb = b.result as ContinuousResult;
  assert.equal(ra.tracking, undefined);
  assert.deepEqual(rb.summary, ra.summary, 'the final models and their numbers are those of the untracked run');
  assert.equal(b.fits.length, 2, 'the outcome keeps each seed\'s own model only');
  for (let s = 0; s < 2; s++) {
    const fa = a.fits[s] as ContinuousFitOutput;
    const fb = b.fits[s] as ContinuousFitOutput;
    assert.deepEqual(fb.agents!.map((x) => x.weights), fa.agents!.map((x) => x.weights), `seed ${s}: final Q-network weights`);
    assert.deepEqual(fb.weights, fa.weights, `seed ${s}: world model weights`);
  }

  const cfg = plan.config as ContinuousConfig;
  const points = trackPoints(cfg.pqn!, 3);
  assert.deepEqual(points.map((p) => p.update), [1, 3, 4], 'round(k · 4 updates / 3)');
  const tracking = rb.tracking!;
  assert.equal(tracking.length, 6);
  for (let s = 0; s < 2; s++) {
    const mine = tracking.filter((t) => t.seedIndex === s);
    assert.deepEqual(mine.map((t) => t.envSteps), points.map((p) => p.envSteps));
    assert.deepEqual(mine[2].result, rb.seeds[s], 'the last point is the seed\'s own fit');
    // A model fitted on an earlier network is a different model.
    assert.notEqual(mine[0].result.wm.nmse, mine[2].result.wm.nmse);
    assert.ok(mine.every((t) => t.result.qNmse?.length === 1 && Number.isFinite(t.result.qNmse[0])));
  }
});

test('--track is refused for oracle agents, past its range, and beyond the updates training has', async () => {
  const cases: [string[], RegExp][] = [
    [['mountaincar', '--agent', 'oracle', '--track', '3'], /track: applies to PQN agents only/],
    [['mountaincar', '--track', '17'], /track: .*out of range \[1, 16\]/],
    [['mountaincar', '--env-steps', '8192', '--num-envs', '32', '--track', '5'], /track: 5 checkpoints need at least 5 updates; this training has 4/],
    [['fourrooms', '--track', '2'], /--track does not apply to fourrooms/],
  ];
  for (const [args, message] of cases) {
    const r = await plearn(['run', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
