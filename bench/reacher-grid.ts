import { reacher } from '../shared/envs/reacher.ts';
import { unseenTasks } from '../shared/envs/continuous-tasks.ts';
import { envGrid, gridTransitions, rollout, taskRewardDoneFn } from '../shared/continuous/planning.ts';
import { retarget, valueIteration } from '../shared/continuous/grid-vi.ts';
import { Rng } from '../shared/util/rng.ts';
// R* of the three unseen Reacher goals against the VI grid size: `npx tsx bench/reacher-grid.ts 11,15,21`.
const sizes = (process.argv[2] ?? process.env.SIZES ?? '11,15').split(',').map(Number);
const tasks = unseenTasks('reacher');
const starts = new Float64Array(512 * 4); reacher.reset(new Rng(5), starts, 512);
for (const N of sizes) {
  const t0 = performance.now();
  const grid = envGrid(reacher, N);
  let tr = await gridTransitions(reacher, grid, (s, a, nx, n) => reacher.step(s, a, nx, n), tasks[0]);
  const out: string[] = [];
  tasks.forEach((task, i) => {
    if (i > 0) tr = retarget(tr, taskRewardDoneFn(reacher, task));
    const vi = valueIteration(tr, 0.99, { tol: Number(process.env.TOL ?? 1e-6), maxIters: 10000 });
    const r = rollout(reacher, grid, vi.Q, task, starts, 512, 0.99);
    out.push(`${task.label}: ${r.mean.toFixed(3)}±${r.se.toFixed(3)} (it ${vi.iters})`);
  });
  console.log(N, out.join(' | '), ((performance.now() - t0) / 1000).toFixed(1) + 's');
}
