// The GPU check's summary, from what run.sh left in its output folder: the
// adapter, the ratio table (from the bench's JSON, or from its per-row lines
// when the bench ran out of time), whether the 6×2048 goal was met, and how far
// the paper preset got. Printed to stdout; run.sh also keeps it as summary.txt.
//
//   node --import tsx deploy/gpu-check/report.ts OUT_DIR [MANIFEST_JSON]

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatGpu, type GpuBench, type GpuRow } from '../../bench/webgpu-steps.ts';

/** The goal issue 15 sets: plearn on webgpu at least half JAX's speed on the 6×2048 step. */
const GOAL_ROW = 'pqn 6x2048';
const GOAL_RATIO = 0.5;

const dir = process.argv[2] ?? 'gpu-check-out';
const read = (name: string): string | null => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : null);
const jsonLines = (text: string | null): Record<string, unknown>[] => (text ?? '').split('\n').flatMap((l) => {
  if (!l.startsWith('{')) return [];
  try {
    return [JSON.parse(l) as Record<string, unknown>];
  } catch {
    return [];
  }
});

/** The bench's result: its --json document, else header and rows from --rows-out (a run cut short). */
function bench(): { bench: GpuBench; partial: boolean } | null {
  const full = read('bench.json');
  if (full) {
    try {
      return { bench: (JSON.parse(full) as { gpu: GpuBench }).gpu, partial: false };
    } catch {
      // cut off mid-write: fall through to the rows
    }
  }
  const lines = jsonLines(read('bench-rows.jsonl'));
  if (lines.length === 0) return null;
  const head = lines[0] as Partial<GpuBench>;
  return {
    partial: true,
    bench: {
      backend: String(head.backend), onGpu: head.onGpu === true, jax: head.jax ?? null,
      ...(head.jaxSkipped ? { jaxSkipped: head.jaxSkipped } : {}), reps: Number(head.reps ?? 0),
      blockSeconds: Number(head.blockSeconds ?? 0), loadAverage: [Number.NaN, Number.NaN],
      rows: lines.slice(1) as unknown as GpuRow[],
    },
  };
}

function goalLine(b: GpuBench): string {
  const row = b.rows.find((r) => r.row === GOAL_ROW);
  if (!b.onGpu) return `goal (${GOAL_ROW} ratio ≥ ${GOAL_RATIO}): not judged, plearn did not run on a hardware GPU`;
  if (!row || row.ratio === null) return `goal (${GOAL_ROW} ratio ≥ ${GOAL_RATIO}): not reached in this run`;
  return `goal (${GOAL_ROW} ratio ≥ ${GOAL_RATIO}): ${row.ratio >= GOAL_RATIO ? 'met' : 'NOT met'} (ratio ${row.ratio.toFixed(2)})`;
}

/** How far the paper preset got: its result's headline figures, or its last progress line. */
function paperLines(): string[] {
  const out: string[] = [];
  const result = read('paper.json');
  const progress = jsonLines(read('paper.log')).filter((l) => 'progress' in l);
  const last = progress.at(-1) as { progress: string; elapsedS: number; fraction: number; projectedTotalS: number | null; perUnit: Record<string, number> } | undefined;
  if (result) {
    try {
      const r = JSON.parse(result) as {
        backend: string; summary: Record<string, unknown>;
        config: { preset: string; grid: number; fitSteps: number; fitBatch: number; pqn: { envSteps: number; hidden: number[] } | null };
      };
      const mean = (k: string) => (r.summary[k] as { mean?: number } | undefined)?.mean;
      const c = r.config;
      out.push(`paper preset, MountainCar: finished${last ? ` in ${last.elapsedS} s` : ''} on ${r.backend}`);
      // A shrunk run (GPU_CHECK_PAPER_ARGS) says so here: these are the settings it ran with.
      out.push(`  ran: preset ${c.preset}, ${c.pqn ? `PQN ${c.pqn.envSteps} env steps on ${c.pqn.hidden.join('×')}` : 'oracle agents'}, `
        + `fit ${c.fitSteps} steps at batch ${c.fitBatch}, grid ${c.grid}`);
      out.push(`  WM NMSE ${mean('wmNmse')}, identity NMSE ${mean('identityNmse')}, Q NMSE ${mean('qNmse')}`);
      return out;
    } catch {
      // a truncated document: report the progress instead
    }
  }
  if (!last) return ['paper preset, MountainCar: did not start (see paper.log)'];
  const units = Object.entries(last.perUnit).map(([u, f]) => `${u} ${(100 * f).toFixed(1)}%`).join(', ') || 'no unit reported progress yet';
  out.push(`paper preset, MountainCar: ${last.progress === 'done' ? 'done' : 'stopped by the time limit'} after ${last.elapsedS} s, `
    + `${(100 * last.fraction).toFixed(1)}% of the run (${units})`);
  if (last.projectedTotalS !== null && last.progress !== 'done') {
    out.push(`  at this pace the whole run would take about ${last.projectedTotalS} s (units weighted equally: a rough guess)`);
  }
  return out;
}

const lines: string[] = [];
const manifestPath = process.argv[3];
if (manifestPath && existsSync(manifestPath)) lines.push(`packed: ${readFileSync(manifestPath, 'utf8').trim()}`);
const b = bench();
if (b) {
  lines.push(formatGpu(b.bench));
  if (b.partial) lines.push('  (partial: the bench ran out of time; rows above are those it finished)');
  lines.push(goalLine(b.bench));
} else {
  lines.push('bench: no result (see bench.log)');
}
lines.push(...paperLines());
process.stdout.write(lines.join('\n') + '\n');
