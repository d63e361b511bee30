// A job's or a sweep's timeline as a Gantt chart: one lane per worker slot (pool
// thread), each task a bar from its start to its end coloured by kind, with a
// thin grey line from its claim to the moment its output was stored (setup and
// upload), on a time axis in seconds from the first task queued. Pure SVG text,
// byte-identical for the same input, like the other pictures.

import { escapeXml, formatTick, niceStep, niceTicks, PALETTE } from '../svg.ts';
import { legendColumn, legendWidth, px, svgDocument, svgText } from '../sweep/parts.ts';
import type { Lane } from '../../timeline/stats.ts';

const KIND_ORDER = ['tabular-agent', 'continuous-oracle', 'continuous-pqn', 'fit'];
const LANE_H = 16;
const LANE_GAP = 4;
const PLOT_W = 900;
const TOP = 56;
const MAX_LABEL = 28;

function colourOf(kind: string): string {
  const i = KIND_ORDER.indexOf(kind);
  return PALETTE[i >= 0 ? i : PALETTE.length - 1];
}

export interface GanttInput {
  readonly title: string;
  readonly lanes: readonly Lane[];
  /** Time zero (ms since the epoch) and the end of the axis. */
  readonly start: number;
  readonly end: number;
}

export function ganttSvg(input: GanttInput): string {
  const longest = Math.min(MAX_LABEL, Math.max(4, ...input.lanes.map((l) => [...l.label].length)));
  const left = 16 + longest * 7.2;
  const spanS = Math.max(1e-3, (input.end - input.start) / 1000);
  const x = (t: number) => left + (PLOT_W * (t - input.start)) / 1000 / spanS;
  const plotH = input.lanes.length * (LANE_H + LANE_GAP) + LANE_GAP;
  const parts: string[] = [svgText(left, 28, input.title, { size: 15, bold: true })];
  parts.push(`<rect x="${px(left)}" y="${px(TOP)}" width="${px(PLOT_W)}" height="${px(plotH)}" fill="none" stroke="#333333"/>`);
  // Time axis: grid lines and labels in seconds.
  const step = niceStep(0, spanS, 8);
  for (const s of niceTicks(0, spanS, 8)) {
    const gx = left + (PLOT_W * s) / spanS;
    parts.push(`<path d="M${px(gx)} ${px(TOP)}L${px(gx)} ${px(TOP + plotH)}" stroke="#e5e5e5"/>`);
    parts.push(svgText(gx, TOP + plotH + 16, formatTick(s, step, spanS), { anchor: 'middle', size: 11 }));
  }
  parts.push(svgText(left + PLOT_W / 2, TOP + plotH + 36, 'seconds since the first task was queued', { anchor: 'middle' }));
  const kinds = new Set<string>();
  input.lanes.forEach((lane, i) => {
    const y = TOP + LANE_GAP + i * (LANE_H + LANE_GAP);
    const label = lane.label.length > MAX_LABEL ? `${lane.label.slice(0, MAX_LABEL - 1)}…` : lane.label;
    parts.push(svgText(left - 6, y + LANE_H / 2, label, { anchor: 'end', size: 11, middle: true }));
    for (const e of lane.entries) {
      if (e.startedAt === undefined || e.finishedAt === undefined) continue;
      kinds.add(e.kind);
      const from = e.claimedAt ?? e.startedAt;
      const to = e.storedAt ?? e.finishedAt;
      parts.push(`<path d="M${px(x(from))} ${px(y + LANE_H / 2)}L${px(x(to))} ${px(y + LANE_H / 2)}" stroke="#888888" stroke-width="1"/>`);
      const w = Math.max(0.5, x(e.finishedAt) - x(e.startedAt));
      parts.push(`<rect class="task" x="${px(x(e.startedAt))}" y="${px(y)}" width="${px(w)}" height="${px(LANE_H)}" fill="${colourOf(e.kind)}">`
        + `<title>${escapeXml(`${e.job}/${e.task} ${e.kind} ${((e.finishedAt - e.startedAt) / 1000).toFixed(2)} s`)}</title></rect>`);
    }
  });
  const items = [...kinds].sort((a, b) => KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b)).map((k) => ({ label: k, color: colourOf(k) }));
  parts.push(...legendColumn(items, left + PLOT_W + 20, TOP, 'task kind'));
  return svgDocument(left + PLOT_W + 20 + legendWidth(items, 'task kind') + 10, TOP + plotH + 50, parts);
}
