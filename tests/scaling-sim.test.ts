// The scaling benchmark's simulated-worker path at a small N: its duration
// distributions, its pool (padded artifacts, real fits on the unpadded ones),
// the dispatch-latency arithmetic against hand-worked timelines, and a real run
// — nats-server, a `plearn coordinator` process, simulated workers in a host
// process — where every task runs exactly once and the jobs complete. The large
// runs stay in `npm run bench -- scaling`.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSimPool, durationMean, parseDuration } from '../bench/scaling/sim-pool.ts';
import { runSimulated, simJob } from '../bench/scaling/simulated.ts';
import { dispatchDelays, dispatchStats } from '../coordinator/timeline/dispatch.ts';
import { quantileSorted as quantile } from '../shared/sweeps/stats.ts';
import { fitTaskFor, planJob } from '../shared/experiments/jobs.ts';
import { packBulk, unpackBulk } from '../shared/protocol/codec.ts';
import type { TimelineEntry } from '../shared/protocol/records.ts';
import type { AgentArtifact, FourRoomsFitOutput } from '../shared/tasks/task.ts';
import { createLocalPool } from '../worker/local-pool.ts';
import { runTask } from '../worker/run-task.ts';
import { natsServerMissing } from './support/nats-server.ts';

describe('simulated workers: durations', () => {
  test('fixed, uniform and lognormal draws; bad text names the part', () => {
    assert.equal(parseDuration('5')(), 5000);
    assert.equal(parseDuration('0')(), 0);
    const seq = [0, 0.5, 0.999];
    let i = 0;
    const uni = parseDuration('uniform:4:6', () => seq[i++ % seq.length]);
    assert.deepEqual([uni(), uni(), Math.round(uni())], [4000, 5000, 5998]);
    // u = 0.5 gives z = √(2 ln 2)·cos(π·r); r = 0.25 makes cos 0, so the draw is the median.
    const vals = [0.5, 0.25];
    let k = 0;
    const logn = parseDuration('lognormal:5:0.3', () => vals[k++ % 2]);
    assert.ok(Math.abs(logn() - 5000) < 1e-6);
    assert.throws(() => parseDuration('uniform:6:4'), /upper bound must be a number of seconds in \[6, 3600\]/);
    assert.throws(() => parseDuration('-1'), /the duration must be/);
    assert.throws(() => parseDuration('gamma:1:2'), /give seconds \(5\), uniform:A:B or lognormal:MEDIAN:SIGMA/);
    assert.deepEqual([durationMean('5'), durationMean('uniform:4:6'), durationMean('lognormal:2:0')], [5, 5, 2]);
    assert.ok(Math.abs(durationMean('lognormal:1:1') - Math.exp(0.5)) < 1e-12);
  });
});

describe('simulated workers: the pool', () => {
  test('an agent artifact padded to the chosen size after the drawn time; its fit equals the fit of the unpadded artifacts', async () => {
    const spec = simJob(3, 5);
    const plan = planJob(spec);
    const fits = createLocalPool(1);
    const runs = new Map<string, number>();
    const pool = createSimPool({ label: '0.05', sample: parseDuration('0.05'), artifactBytes: 16 * 1024 }, fits, runs);
    try {
      const padded: AgentArtifact[] = [];
      for (const { task } of plan.tasks) {
        const t0 = performance.now();
        const out = await pool.run(task);
        assert.ok(performance.now() - t0 >= 45, 'took the drawn 50 ms (timers may fire a millisecond or so early)');
        const bytes = packBulk(out).byteLength;
        assert.ok(bytes >= 16 * 1024 - 32 && bytes <= 16 * 1024, `stored size ${bytes}`);
        padded.push(unpackBulk(packBulk(out)) as AgentArtifact);
      }
      assert.equal(runs.size, 3);
      assert.ok([...runs.values()].every((n) => n === 1));
      const viaSim = (await pool.run(fitTaskFor(spec, plan, 0, padded))) as FourRoomsFitOutput;
      const plain = await Promise.all(plan.tasks.map(({ task }) => runTask(task) as Promise<AgentArtifact>));
      const direct = (await runTask(fitTaskFor(spec, plan, 0, plain))) as FourRoomsFitOutput;
      assert.deepEqual(viaSim.P, direct.P);
      assert.equal(viaSim.result.wmMse, direct.result.wmMse);
    } finally {
      await fits.close();
    }
  });
});

const entry = (worker: string, slot: number, task: string, q: number, c: number, s: number, attempts = 1): TimelineEntry => ({
  job: 'j', task, kind: 'tabular-agent', worker, slot, status: 'done', attempts, queuedAt: q, claimedAt: c, startedAt: c, finishedAt: s, storedAt: s,
});

describe('dispatch latency', () => {
  test('from queued-and-slot-free to claimed, per slot; redeliveries and slotless fits left out', () => {
    const entries: TimelineEntry[] = [
      entry('w', 0, 'a', 100, 103, 200), // first on its slot: 103 − 100
      entry('w', 0, 'b', 100, 210, 300), // queued long before; slot free at 200: 10
      entry('w', 0, 'c', 305, 306, 400), // queued after the slot was free: 1
      entry('v', 0, 'd', 100, 150, 160), // another worker's slot: 50
      entry('v', 0, 'e', 100, 170, 180, 2), // a redelivery: not measured, but frees the slot at 180
      entry('v', 0, 'f', 100, 182, 190), // 182 − 180
      { ...entry('coordinator', -1, 'fit-0', 0, 0, 1000), kind: 'fit' },
    ];
    const d = [...dispatchDelays(entries)].sort((x, y) => x - y);
    assert.deepEqual(d, [1, 2, 3, 10, 50]);
    const s = dispatchStats(Float64Array.from(d));
    assert.deepEqual([s.n, s.p50Ms, s.meanMs], [5, 3, 13.2]);
    assert.equal(quantile(Float64Array.from([1, 2, 3, 4]), 0.5), 2.5);
    assert.ok(Number.isNaN(quantile(new Float64Array(0), 0.5)));
    assert.deepEqual([...dispatchDelays(entries, (k) => k === 'fit')], []);
  });
});

describe('simulated workers on a real cluster', { skip: natsServerMissing() ?? false }, () => {
  test('3 simulated workers, 2 jobs of 12 tasks: every task runs once, both jobs complete, the figures hang together', async () => {
    const r = await runSimulated({ workers: 3, processes: 1, jobs: 2, tasksPerJob: 12, duration: '0.05', artifactBytes: 16 * 1024, timeoutMs: 120_000 });
    assert.equal(r.jobsCompleted, 2);
    assert.deepEqual([r.runs, r.distinct, r.runTwice, r.lost, r.redelivered], [24, 24, 0, 0, 0]);
    assert.equal(r.dispatch.n, 24);
    assert.ok(r.dispatch.p50Ms >= 0 && r.dispatch.p50Ms <= r.dispatch.p99Ms);
    // 24 tasks of 50 ms on 3 slots cannot take less than 0.4 s.
    assert.ok(r.wallS >= 0.4, `wall ${r.wallS} s`);
    assert.equal(r.idealTasksPerSec, 60);
    assert.ok(r.efficiency !== null && r.efficiency > 0 && r.efficiency <= 1, `efficiency ${r.efficiency}`);
    assert.ok(r.coordinatorPeakRssMb > 10 && r.coordinatorCpuPct > 0);
  });
});
