// Regenerates the FourRooms tables of docs/fourrooms.md (`npm run tables:fourrooms [-- closed|iterative|qlearning]`).
// Every cell is one `plearn run fourrooms` job through the same local pool the CLI uses.

import { createLocalPool } from '../worker/local-pool.ts';
import { printTables } from './tables-main.ts';
import { runJobLocal } from '../coordinator/local-run.ts';
import type { FourRoomsResult } from '../shared/experiments/jobs.ts';
import type { FourRoomsInput } from '../shared/experiments/fourrooms-config.ts';
import type { Stat } from '../shared/util/validate.ts';

const VARIANTS = ['deterministic', 'windy', 'teleporting'] as const;
const pool = createLocalPool();
const e = (x: number) => (x === 0 ? '0' : x.toExponential(1));
const pm = (s: Stat, f: (x: number) => string) => (s.n > 1 ? `${f(s.mean)} ± ${f(s.se)}` : f(s.mean));
const pct = (x: number) => x.toFixed(3);

async function run(input: FourRoomsInput): Promise<FourRoomsResult> {
  const { result } = await runJobLocal({ experiment: 'fourrooms', options: { ...input } }, { pool });
  return result as FourRoomsResult;
}

async function closedTable(): Promise<string> {
  const sizes = [1, 3, 4, 5, 20, 40, 67, 68];
  const lines = ['| variant | support | ' + sizes.map((g) => `\\|G\\|=${g}`).join(' | ') + ' |', '|---|---|' + sizes.map(() => '---').join('|') + '|'];
  for (const variant of VARIANTS) {
    for (const support of ['full', 'local']) {
      const cells: string[] = [];
      for (const g of sizes) {
        const r = await run({ variant, support, agent: 'oracle', reward: 'generic', goals: g, model: 'stochastic', fit: 'closed' });
        const s = r.seeds[0];
        cells.push(`${e(s.wmMaxAbsError)} (r ${s.rankM}${support === 'local' && s.rankDeficientPairs > 0 ? `, ${s.rankDeficientPairs} def.` : ''})`);
      }
      lines.push(`| ${variant} | ${support} | ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

async function iterativeTable(): Promise<string> {
  const sizes = [1, 3, 4, 5, 20];
  const lines = ['| variant | support | \\|G\\| | WM MSE | R^WM/R* ' + 'detour-east | R^WM/R* detour-south |', '|---|---|---|---|---|---|'];
  for (const variant of VARIANTS) {
    for (const support of ['full', 'local']) {
      for (const g of sizes) {
        const r = await run({ variant, support, agent: 'oracle', reward: 'sparse', goals: g, model: 'stochastic', fit: 'iterative', seeds: 5 });
        const u = r.summary.unseen;
        lines.push(`| ${variant} | ${support} | ${g} | ${pm(r.summary.wmMse, e)} | ${pm(u[0].ratio, pct)} | ${pm(u[1].ratio, pct)} |`);
      }
    }
  }
  return lines.join('\n');
}

async function qlearningTable(): Promise<string> {
  const sizes = [1, 3, 5, 20];
  const marks = [1_000_000, 2_000_000, 4_000_000, 8_000_000];
  const lines = ['| reward | variant | model, support | \\|G\\| | ' + marks.map((m) => `${m / 1e6}M steps`).join(' | ') + ' | R^WM/R* at 8M (east, south) |',
    '|---|---|---|---|' + marks.map(() => '---').join('|') + '|---|'];
  for (const reward of ['sparse', 'generic']) {
    for (const variant of VARIANTS) {
      // The model class that can express the variant: one successor for deterministic moves
      // (generic goals identify it), distributions otherwise; teleports need the full support.
      const model = reward === 'generic' && variant === 'deterministic' ? 'deterministic' : 'stochastic';
      const support = variant === 'teleporting' ? 'full' : 'local';
      for (const g of sizes) {
        const r = await run({ variant, support, model, agent: 'qlearning', reward, goals: g, steps: 8_000_000, seeds: 3 });
        const cells = marks.map((m) => {
          const p = r.summary.series.find((x) => x.steps === m);
          return p ? pm(p.wmMse, e) : 'n/a';
        });
        const u = r.summary.unseen;
        lines.push(`| ${reward} | ${variant} | ${model}, ${support} | ${g} | ${cells.join(' | ')} | ${pct(u[0].ratio.mean)}, ${pct(u[1].ratio.mean)} |`);
      }
    }
  }
  return lines.join('\n');
}

const TABLES: Record<string, () => Promise<string>> = { closed: closedTable, iterative: iterativeTable, qlearning: qlearningTable };
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
await printTables(TABLES, wanted, pool);
