// `plearn sweep …`: a sweep file's cells as jobs on this machine (`sweep run`),
// or only their plan (`--dry-run`, how GPU-sized sweeps are checked on a laptop).
// Results go to stdout (a table, or one JSON document with --json); progress,
// one line per finished cell with the ETA, goes to stderr.

import type { Command } from 'commander';
import { pino } from 'pino';
import { describeCells, describeValues } from '../../shared/sweeps/cells.ts';
import { intIn } from '../../shared/util/validate.ts';
import { logLevelOption, shortDuration } from '../cli-common.ts';
import { runSweepLocal } from './run-local.ts';
import type { CellOutcome, SweepProgress } from './run-local.ts';
import { loadSweepFile } from './spec-file.ts';
import { sweepDocument, writeSweepOutputs } from './sweep-doc.ts';
import { renderSweepTable } from './table.ts';
import { registerSweepClusterCommands } from './cluster-cli.ts';

interface SweepRunOptions {
  out?: string; maxActiveCells?: string; threads?: string; dryRun?: boolean; json?: boolean; logLevel: string;
}

const minutes = shortDuration;

function progressLine(p: SweepProgress): string {
  const eta = p.etaMs !== undefined && p.cellsDone < p.cells ? ` · ETA ${minutes(p.etaMs)}` : '';
  const last = p.last ? ` (${describeValues(p.last.values)})` : '';
  return `sweep: cells ${p.cellsDone}/${p.cells}${last}${p.reused > 0 ? ` · ${p.reused} reused` : ''} · ${minutes(p.elapsedMs)} elapsed${eta}\n`;
}

async function sweepRun(file: string, opts: SweepRunOptions): Promise<number> {
  const { spec, text, cells, work } = await loadSweepFile(file);
  const maxActiveCells = opts.maxActiveCells === undefined ? 1 : intIn('max-active-cells', opts.maxActiveCells, 1, 1024);
  const threads = opts.threads === undefined ? undefined : intIn('threads', opts.threads, 1, 1024);
  if (opts.dryRun) {
    const plan = describeCells(spec, cells, work);
    process.stdout.write(opts.json ? JSON.stringify(plan.json, null, 2) + '\n' : plan.text + '\n');
    return 0;
  }
  const log = pino({ level: opts.logLevel, base: { svc: 'plearn-sweep' } }, pino.destination(2));
  const done: CellOutcome[] = [];
  const outcomes = await runSweepLocal(spec, cells, {
    out: opts.out, maxActiveCells, threads, log,
    onProgress: (p) => { if (p.cellsDone > 0) process.stderr.write(progressLine(p)); },
    // The pictures and report are rewritten as each cell finishes (reused ones
    // too), so an interrupted sweep still leaves a readable picture of what is
    // done, and the last call leaves the complete one.
    onCell: async (o) => {
      done.push(o);
      if (opts.out !== undefined) await writeSweepOutputs(opts.out, spec, text, cells, done);
    },
  });
  const doc = sweepDocument(spec, text, cells, outcomes);
  process.stdout.write(opts.json ? JSON.stringify(doc, null, 2) + '\n' : renderSweepTable(spec, cells, outcomes) + '\n');
  return 0;
}

export function registerSweepCommands(program: Command): void {
  const sweep = program.command('sweep').description('Goal-count and architecture sweeps: every combination of the axes of a sweep file, as jobs.');
  sweep.command('run')
    .description('Run every cell of a sweep file on this machine (each cell is `plearn run` with the cell\'s options). '
      + 'With --out, finished cells are kept and a later run reuses them: an interrupted sweep resumes, a larger one computes only its new cells.')
    .argument('<file>', 'sweep spec, YAML or JSON (see sweeps/ and docs/sweeps.md)')
    .option('--out <dir>', 'write sweep.json, cells.csv, cells/<id>/result.json, pictures/ and report.html here; finished cells found here are reused')
    .option('--max-active-cells <n>', 'cells run at once over the shared thread pool (default 1)')
    .option('--threads <n>', 'worker threads (default: available cores)')
    .option('--dry-run', 'print the cells and their work (agent tasks, fits) without running anything')
    .option('--json', 'print one JSON document to stdout instead of the table')
    .addOption(logLevelOption())
    .action(async (file: string, opts: SweepRunOptions) => {
      process.exitCode = await sweepRun(file, opts);
    });
  registerSweepClusterCommands(sweep);
}
