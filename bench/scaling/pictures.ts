// Pictures of a scaling benchmark run for the docs, from its --json output:
//   npm run bench -- scaling --json > docs/scaling-results.json
//   node --import tsx bench/scaling/pictures.ts docs/scaling-results.json docs/pictures
// Writes scaling-throughput, scaling-dispatch and scaling-fit (SVG and PNG).

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pictureToPng } from '../../coordinator/pictures/png.ts';
import { metricLinesSvg } from '../../coordinator/pictures/sweep/lines.ts';
import type { LineSeries } from '../../coordinator/pictures/sweep/lines.ts';
import { DEFAULT_FIT_AGENTS_PER_STEP } from '../../shared/experiments/continuous-config.ts';
import type { ScalingBench } from './index.ts';

const line = (label: string, pts: readonly [number, number][]): LineSeries => ({ label, points: pts.map(([x, y]) => ({ x, mean: y, se: 0 })) });

async function write(dir: string, name: string, svg: string): Promise<void> {
  await writeFile(join(dir, `${name}.svg`), svg);
  await writeFile(join(dir, `${name}.png`), pictureToPng(svg));
}

export async function scalingPictures(b: ScalingBench, dir: string): Promise<string[]> {
  const written: string[] = [];
  const sat = b.saturation ?? [];
  if (sat.length > 0) {
    const series = [line('tasks of 0 s (saturation)', sat.map((r) => [r.workers, r.tasksPerSec]))];
    if (b.target) {
      series.push(line(`tasks of ${b.target.duration} s, measured`, [[b.target.workers, b.target.tasksPerSec]]));
      if (b.target.idealTasksPerSec !== null) series.push(line(`tasks of ${b.target.duration} s, ideal`, [[b.target.workers, b.target.idealTasksPerSec]]));
    }
    await write(dir, 'scaling-throughput', metricLinesSvg({
      title: 'Throughput against simulated workers (2 cores)', xLabel: 'simulated workers', yLabel: 'tasks per second',
      series, logX: true, logY: false,
    }));
    const all = [...sat, ...(b.target ? [b.target] : [])];
    const byKind = (pick: (r: typeof all[number]) => number, rows: typeof all) => rows.map((r) => [r.workers, Math.max(0.5, pick(r))] as [number, number]);
    const dispatch = [line('p50, tasks of 0 s', byKind((r) => r.dispatch.p50Ms, sat)), line('p99, tasks of 0 s', byKind((r) => r.dispatch.p99Ms, sat))];
    if (b.target) {
      dispatch.push(line(`p50, tasks of ${b.target.duration} s`, byKind((r) => r.dispatch.p50Ms, [b.target])));
      dispatch.push(line(`p99, tasks of ${b.target.duration} s`, byKind((r) => r.dispatch.p99Ms, [b.target])));
    }
    await write(dir, 'scaling-dispatch', metricLinesSvg({
      title: 'Dispatch latency (queued and a slot free → claimed)', xLabel: 'simulated workers', yLabel: 'ms', series: dispatch, logX: true, logY: true,
    }));
    written.push('scaling-throughput', 'scaling-dispatch');
  }
  if (b.fit) {
    await write(dir, 'scaling-fit', metricLinesSvg({
      title: `Fit step time against agents (${b.fit.hidden.join('×')} Q-networks)`, xLabel: 'agents in the fit', yLabel: 'ms per fit step',
      series: [
        line(`at most ${DEFAULT_FIT_AGENTS_PER_STEP} agents per step (default)`, b.fit.rows.filter((r) => r.agentsPerStep === Math.min(r.agents, DEFAULT_FIT_AGENTS_PER_STEP)).map((r) => [r.agents, r.msPerStep])),
        line('every agent in every step', b.fit.rows.filter((r) => r.agentsPerStep === r.agents).map((r) => [r.agents, r.msPerStep])),
      ], logX: true,
    }));
    written.push('scaling-fit');
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, dir] = process.argv.slice(2);
  if (!file || !dir) {
    process.stderr.write('usage: node --import tsx bench/scaling/pictures.ts RESULTS.json OUT_DIR\n');
    process.exit(2);
  }
  const doc = JSON.parse(await readFile(file, 'utf8')) as { scaling?: ScalingBench };
  if (!doc.scaling) {
    process.stderr.write(`${file}: no "scaling" section (write it with npm run bench -- scaling --json)\n`);
    process.exit(2);
  }
  for (const n of await scalingPictures(doc.scaling, dir)) process.stdout.write(`${join(dir, n)}.svg\n`);
}
