// `plearn sweep submit|list|status|results|cancel`: sweeps on a cluster. The spec
// is validated here first (same errors, same exit code as `sweep run`), then sent
// as text with the layout files its cells name; the coordinator validates it
// again, schedules its cells as jobs and reuses cells any earlier job computed.
// Results are read from the Object Store and written exactly as `sweep run`
// writes them, so a cluster sweep's --out folder reads like a local one's.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { JobResult } from '../../shared/experiments/jobs.ts';
import { decodeJson } from '../../shared/protocol/codec.ts';
import type { SweepRecord, SweepSubmitted, SweepView } from '../../shared/protocol/records.ts';
import { resultBlob } from '../../shared/protocol/subjects.ts';
import { describeCells, describeValues } from '../../shared/sweeps/cells.ts';
import { MAX_SWEEP_PAGE } from '../../shared/protocol/limits.ts';
import { intIn } from '../../shared/util/validate.ts';
import { shortDuration } from '../cli-common.ts';
import { callApi, clientCommand, withClient } from '../cluster-cli.ts';
import type { ClientFlags } from '../cluster-cli.ts';
import type { OpenNats } from '../nats-cli.ts';
import type { CellOutcome } from './run-local.ts';
import { writeFinished } from './run-local.ts';
import type { SweepSource } from './scheduler.ts';
import { loadSweepSource } from './scheduler.ts';
import { loadSweepFile } from './spec-file.ts';
import { sweepDocument, writeSweepOutputs } from './sweep-doc.ts';
import { renderSweepTable } from './table.ts';

/** Sweeps page through many cells: a longer default wait than the job commands. */
const API_TIMEOUT_MS = 30_000;
const out = (s: string) => process.stdout.write(s + '\n');
const minutes = shortDuration;

/** The sweep's view with every cell (page by page). */
async function fullView(n: OpenNats, id: string, timeoutMs: number): Promise<SweepView> {
  const first = (await callApi<{ sweep: SweepView }>(n.nc, 'sweep-get', { id, limit: MAX_SWEEP_PAGE }, timeoutMs)).sweep;
  const page = [...first.page];
  while (page.length < first.cells) {
    const next = (await callApi<{ sweep: SweepView }>(n.nc, 'sweep-get', { id, offset: page.length, limit: MAX_SWEEP_PAGE }, timeoutMs)).sweep;
    if (next.page.length === 0) break;
    page.push(...next.page);
  }
  return { ...first, page };
}

/** Completed cells' results from the Object Store, as `sweep run` would have them; writes --out and prints. */
async function emitResults(n: OpenNats, id: string, flags: { json?: boolean; out?: string; timeoutMs: string }): Promise<SweepView> {
  const view = await fullView(n, id, Number(flags.timeoutMs));
  const srcBytes = await n.transport.blobs.get(view.source);
  if (!srcBytes) throw new Error(`the source of sweep ${id} is missing from the store`);
  const src = decodeJson(srcBytes) as SweepSource;
  const { spec, cells } = await loadSweepSource(src);
  const byCell = new Map(view.page.map((c) => [c.id, c]));
  const outcomes: CellOutcome[] = [];
  for (const cell of cells) {
    const c = byCell.get(cell.id);
    if (c?.status !== 'completed' || c.jobId === undefined) continue;
    const bytes = await n.transport.blobs.get(resultBlob(c.jobId));
    if (!bytes) throw new Error(`the result of cell ${cell.index} (job ${c.jobId}) is missing from the store`);
    outcomes.push({ cell, result: decodeJson(bytes) as JobResult, reused: c.reused ?? false });
  }
  if (flags.out) {
    // Kept per cell as `sweep run` keeps them, so a local run into the same folder reuses them.
    for (const o of outcomes) await writeFinished(flags.out, o.cell, o.result);
    await writeSweepOutputs(flags.out, spec, src.text, cells, outcomes);
  }
  out(flags.json ? JSON.stringify(sweepDocument(spec, src.text, cells, outcomes), null, 2) : renderSweepTable(spec, cells, outcomes));
  return view;
}

function progressLine(v: SweepView, t0: number, doneAtStart: number): string {
  const done = v.counts.completed + v.counts.failed + v.counts.cancelled;
  const running = v.counts.running + v.counts.fitting;
  const elapsed = Date.now() - t0;
  const rate = (done - doneAtStart) / Math.max(1, elapsed);
  const eta = rate > 0 && done < v.cells ? ` · ETA ${minutes((v.cells - done) / rate)}` : '';
  const tasks = v.active.tasksTotal > 0 ? ` · tasks ${v.active.tasksDone}/${v.active.tasksTotal} in running cells` : '';
  const failed = v.counts.failed > 0 ? ` · ${v.counts.failed} failed` : '';
  return `sweep ${v.id}: cells ${done}/${v.cells} · ${running} running${failed}${tasks} · ${minutes(elapsed)} elapsed${eta}\n`;
}

/** Follow a sweep until it ends, a line on stderr whenever its progress changes. */
async function watchSweep(n: OpenNats, id: string, timeoutMs: number): Promise<SweepView> {
  const t0 = Date.now();
  let last = '';
  let doneAtStart = -1;
  for (;;) {
    const v = (await callApi<{ sweep: SweepView }>(n.nc, 'sweep-get', { id, limit: 1 }, timeoutMs)).sweep;
    const done = v.counts.completed + v.counts.failed + v.counts.cancelled;
    if (doneAtStart < 0) doneAtStart = done;
    const line = progressLine(v, t0, doneAtStart);
    const key = line.replace(/ · [\d.]+ (s|min) elapsed.*$/, '');
    if (key !== last) { process.stderr.write(line); last = key; }
    if (v.status !== 'running') return v;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** The layout files a sweep's cells name, read here: the coordinator cannot see this machine's files. */
async function layoutsOf(cells: readonly { options: Readonly<Record<string, string>> }[]): Promise<Record<string, string>> {
  const layouts: Record<string, string> = {};
  for (const c of cells) {
    const path = c.options.layout;
    if (path !== undefined && !(path in layouts)) layouts[path] = await readFile(path, 'utf8');
  }
  return layouts;
}

function renderStatus(v: SweepView): string {
  const c = v.counts;
  const lines = [
    `sweep ${v.id} · ${v.name} · ${v.experiment} · ${v.status}${v.wallMs !== undefined ? ` in ${minutes(v.wallMs)}` : ''}`,
    `created ${v.createdAt} · updated ${v.updatedAt} · at most ${v.maxActiveCells} cell(s) at once`,
    `cells ${v.cells}: ${c.completed} completed · ${c.running + c.fitting} running · ${c.waiting} waiting · ${c.failed} failed · ${c.cancelled} cancelled`,
  ];
  if (v.active.jobs > 0) lines.push(`running cells: ${v.active.tasksDone}/${v.active.tasksTotal} agent tasks and fits done`);
  if (v.error) lines.push(`error: ${v.error}`);
  lines.push('', 'cell  status     job                   values');
  for (const p of v.page) {
    const job = p.jobId ? `${p.jobId}${p.reused ? ' (reused)' : ''}` : '-';
    lines.push(`${String(p.index).padEnd(5)} ${p.status.padEnd(10)} ${job.padEnd(21)} ${describeValues(p.values)}${p.error ? ` · ${p.error}` : ''}`);
  }
  if (v.page.length < v.cells) lines.push(`… ${v.cells - v.page.length} more (plearn sweep status ${v.id} --json --limit N --offset K)`);
  return lines.join('\n');
}

export function registerSweepClusterCommands(sweep: Command): void {
  const client = (cmd: Command) => clientCommand(cmd, API_TIMEOUT_MS);

  client(sweep.command('submit')
    .description('Submit a sweep file to the cluster and print its id. Cells run as jobs, at most --max-active-cells at once; '
      + 'cells any earlier job computed are reused, not run again.')
    .argument('<file>', 'sweep spec, YAML or JSON (see sweeps/ and docs/sweeps.md)'))
    .option('--max-active-cells <n>', 'cells of this sweep running at once (1–1024)', '4')
    .option('--watch', 'follow progress on stderr, then print the results as `plearn sweep run` does')
    .option('--out <dir>', 'with --watch: write sweep.json, cells.csv, cells/<id>/result.json, pictures/ and report.html here')
    .option('--dry-run', 'check the spec and print its cells and their work; send nothing')
    .action(async (file: string, flags: ClientFlags & { maxActiveCells: string; watch?: boolean; out?: string; dryRun?: boolean }) => {
      const maxActiveCells = intIn('max-active-cells', flags.maxActiveCells, 1, 1024);
      const { spec, text, cells, work } = await loadSweepFile(file);
      if (flags.dryRun) {
        const plan = describeCells(spec, cells, work);
        out(flags.json ? JSON.stringify(plan.json, null, 2) : plan.text);
        return;
      }
      const layouts = await layoutsOf(cells);
      process.exitCode = await withClient(flags, async (n) => {
        const sub = await callApi<SweepSubmitted>(n.nc, 'sweep-submit', { text, source: file, layouts, maxActiveCells }, Number(flags.timeoutMs));
        if (!flags.watch) {
          out(flags.json ? JSON.stringify(sub) : sub.id);
          return 0;
        }
        process.stderr.write(`sweep ${sub.id}: ${sub.cells} cell(s), ${sub.reused} reused, ${sub.toRun} to run (${sub.tasks} agent tasks and fits in all)\n`);
        const end = await watchSweep(n, sub.id, Number(flags.timeoutMs));
        await emitResults(n, sub.id, flags);
        if (end.status !== 'completed') process.stderr.write(`plearn: sweep ${sub.id} ${end.status}${end.error ? `: ${end.error}` : ''}\n`);
        return end.status === 'completed' ? 0 : 1;
      });
    });

  client(sweep.command('list').description('List sweeps on the cluster, newest first.'))
    .option('--status <s>', 'only sweeps in this state: running | completed | failed | cancelled')
    .option('--limit <n>', 'at most this many (1–1000)', '100')
    .action(async (flags: ClientFlags & { status?: string; limit: string }) => {
      await withClient(flags, async (n) => {
        const { sweeps } = await callApi<{ sweeps: SweepRecord[] }>(n.nc, 'sweep-list', { status: flags.status, limit: Number(flags.limit) },
          Number(flags.timeoutMs));
        if (flags.json) { out(JSON.stringify(sweeps)); return; }
        out('id                   status     cells  name                       created');
        for (const s of sweeps) out(`${s.id.padEnd(20)} ${s.status.padEnd(10)} ${String(s.cells).padEnd(6)} ${s.name.slice(0, 26).padEnd(26)} ${s.createdAt}`);
      });
    });

  client(sweep.command('status').description('Show one sweep: cell counts, running work, and its cells with their jobs.').argument('<id>', 'sweep id'))
    .option('--offset <k>', 'first cell listed', '0')
    .option('--limit <n>', `cells listed (1–${MAX_SWEEP_PAGE})`, '100')
    .action(async (id: string, flags: ClientFlags & { offset: string; limit: string }) => {
      await withClient(flags, async (n) => {
        const { sweep: v } = await callApi<{ sweep: SweepView }>(n.nc, 'sweep-get', { id, offset: Number(flags.offset), limit: Number(flags.limit) },
          Number(flags.timeoutMs));
        out(flags.json ? JSON.stringify(v, null, 2) : renderStatus(v));
      });
    });

  client(sweep.command('results')
    .description('Print a sweep\'s results as `plearn sweep run` does (the cells completed so far, if it is still running).')
    .argument('<id>', 'sweep id'))
    .option('--out <dir>', 'write sweep.json, cells.csv, cells/<id>/result.json, pictures/ and report.html here')
    .action(async (id: string, flags: ClientFlags & { out?: string }) => {
      await withClient(flags, (n) => emitResults(n, id, flags));
    });

  client(sweep.command('cancel')
    .description('Cancel a sweep: no more cells start, and its running jobs are cancelled (jobs another sweep shares are left running).')
    .argument('<id>', 'sweep id'))
    .action(async (id: string, flags: ClientFlags) => {
      await withClient(flags, async (n) => {
        const r = await callApi<{ id: string; status: string; cancelledJobs: number }>(n.nc, 'sweep-cancel', { id }, Number(flags.timeoutMs));
        out(flags.json ? JSON.stringify(r) : `sweep ${r.id} ${r.status} (${r.cancelledJobs} running job(s) cancelled)`);
      });
    });
}
