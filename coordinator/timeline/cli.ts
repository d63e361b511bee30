// `plearn timeline ID [--out FILE.svg] [--json]`: a job's or a sweep's tasks on a
// cluster as a Gantt chart (SVG and a PNG beside it), and the numbers that go
// with it: lanes, wall time, utilisation, idle time, the speed-up over one
// thread and the critical path.

import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { MAX_TIMELINE_PAGE } from '../../shared/protocol/limits.ts';
import type { TimelineEntry, TimelinePage } from '../../shared/protocol/records.ts';
import { UsageError } from '../cli-common.ts';
import { callApi, clientCommand, withClient } from '../cluster-cli.ts';
import type { ClientFlags } from '../cluster-cli.ts';
import { writeAtomic } from '../outputs.ts';
import { pictureToPng } from '../pictures/png.ts';
import { ganttSvg } from '../pictures/timeline/gantt.ts';
import type { TimelineStats } from './stats.ts';
import { lanesOf, timelineStats } from './stats.ts';

interface TimelineFlags extends ClientFlags { out?: string }

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function renderStats(id: string, page: Pick<TimelinePage, 'of' | 'jobs' | 'truncated'>, s: TimelineStats): string {
  const lines = [
    `timeline of ${page.of} ${id}: ${s.tasks} task(s) over ${page.jobs} job(s) on ${s.lanes} lane(s) (worker slots)${page.truncated ? ' · truncated' : ''}`,
    `wall ${secs(s.wallMs)} · busy ${secs(s.busyMs)} · idle ${secs(s.idleMs)} · utilisation ${(100 * s.utilisation).toFixed(1)}%`,
    `run time ${secs(s.workMs)} in all: ${s.speedup.toFixed(2)}× faster than one thread`,
    `critical path ${secs(s.criticalMs)} (a job's longest agent task + its longest fit, the slowest job)`,
    `dispatch latency (queued and a slot free → claimed) over ${s.dispatch.n} task(s): p50 ${s.dispatch.p50Ms.toFixed(1)} ms · p99 ${s.dispatch.p99Ms.toFixed(1)} ms`,
  ];
  for (const [kind, k] of Object.entries(s.byKind)) lines.push(`  ${kind.padEnd(18)} ${String(k.n).padStart(6)} task(s)  ${secs(k.workMs)}`);
  return lines.join('\n');
}

/** Every entry of a job's or a sweep's timeline, page by page; the first page's header with them. */
export async function fetchTimeline(nc: NatsConnection, id: string, timeoutMs: number): Promise<{ page: TimelinePage; entries: TimelineEntry[] }> {
  const page = (await callApi<{ timeline: TimelinePage }>(nc, 'timeline', { id, limit: MAX_TIMELINE_PAGE }, timeoutMs)).timeline;
  const entries = [...page.entries];
  while (entries.length < page.total) {
    const next = (await callApi<{ timeline: TimelinePage }>(nc, 'timeline', { id, offset: entries.length, limit: MAX_TIMELINE_PAGE }, timeoutMs)).timeline;
    if (next.entries.length === 0) break;
    for (const e of next.entries) entries.push(e);
  }
  return { page, entries };
}

async function timeline(id: string, flags: TimelineFlags): Promise<void> {
  if (flags.out !== undefined && !flags.out.endsWith('.svg')) throw new UsageError(`out: expected a file name ending in .svg (a .png is written beside it), got ${flags.out}`);
  const { page: first, entries } = await withClient(flags, (n) => fetchTimeline(n.nc, id, Number(flags.timeoutMs)));
  const lanes = lanesOf(entries);
  const stats = timelineStats(entries, lanes.length);
  if (flags.out !== undefined) {
    const svg = ganttSvg({ title: `${first.of} ${id}: ${stats.tasks} task(s) on ${stats.lanes} worker slot(s)`, lanes, start: stats.start, end: stats.end });
    await writeAtomic(flags.out, svg);
    await writeFile(flags.out.replace(/\.svg$/, '.png'), pictureToPng(svg));
  }
  process.stdout.write(flags.json ? JSON.stringify({ id, of: first.of, jobs: first.jobs, truncated: first.truncated, stats, entries }, null, 2) + '\n'
    : renderStats(id, first, stats) + '\n');
}

export function registerTimelineCommand(program: Command): void {
  clientCommand(program.command('timeline')
    .description('Show where a job\'s or a sweep\'s tasks ran and when: utilisation, idle time, speed-up over one thread, critical path, dispatch latency; '
      + 'with --out, a Gantt chart (one lane per worker slot). --json: the numbers and every task\'s timestamps.')
    .argument('<id>', 'job id (j…) or sweep id (s…)'), 30_000)
    .option('--out <file.svg>', 'write the Gantt chart here (and a PNG beside it)')
    .action(async (id: string, flags: TimelineFlags) => { await timeline(id, flags); });
}
