// A heat map of a metric's cell means over two numeric axes (depth × width in an
// architecture sweep): one coloured square per cell with its value written in it,
// a colour bar with ticks beside the grid, and one grid per combination of any
// other axes' values, all on one colour scale so the grids compare. The renderer
// has no such primitive; this writes the SVG itself in the renderer's style.

import { formatTick, niceStep, niceTicks } from '../svg.ts';
import { colourScale, formatValue, px, svgDocument, svgText, textOn, viridis, type ColourScale } from './parts.ts';

export interface HeatGrid {
  /** The other axes' values this grid holds, e.g. "variant=windy"; none with two axes only. */
  readonly title?: string;
  /** values[r][c]: the cell at row r, column c; NaN where the cell has no result yet. */
  readonly values: readonly (readonly number[])[];
}

export interface HeatmapInput {
  readonly title: string;
  /** Axis names along the rows (top to bottom) and the columns (left to right). */
  readonly rowAxis: string;
  readonly colAxis: string;
  readonly rows: readonly string[];
  readonly cols: readonly string[];
  readonly grids: readonly HeatGrid[];
  /** Label of the colour bar. */
  readonly metric: string;
}

const MARGIN = { left: 84, right: 24, top: 34, bottom: 56 };
const TITLE_HEIGHT = 34;
const BAR_WIDTH = 18;
const BAR_STEPS = 64;
const MAX_COLUMNS = 3;
const MISSING = '#eeeeee';

function cellSize(rows: number, cols: number): number {
  return Math.max(40, Math.min(76, Math.floor(520 / Math.max(rows, cols, 1))));
}

function grid(g: HeatGrid, input: HeatmapInput, scale: ColourScale, left: number, top: number, size: number): string[] {
  const gl = left + MARGIN.left;
  const gt = top + MARGIN.top;
  const out = ['<g class="heatmap-grid">'];
  const fontSize = Math.min(12, size * 0.26);
  input.rows.forEach((rowName, r) => {
    input.cols.forEach((_c, c) => {
      const v = g.values[r]?.[c] ?? NaN;
      const t = scale.position(v);
      const fill = Number.isNaN(t) ? MISSING : viridis(t);
      const x = gl + c * size;
      const y = gt + r * size;
      out.push(`<rect class="heat-cell" x="${px(x)}" y="${px(y)}" width="${px(size)}" height="${px(size)}" fill="${fill}" stroke="#ffffff" stroke-width="1"/>`);
      out.push(svgText(x + size / 2, y + size / 2, Number.isNaN(v) ? '–' : formatValue(v),
        { anchor: 'middle', middle: true, size: fontSize, fill: Number.isNaN(t) ? '#777777' : textOn(fill) }));
    });
    out.push(svgText(gl - 8, gt + r * size + size / 2, rowName, { anchor: 'end', middle: true }));
  });
  input.cols.forEach((colName, c) => out.push(svgText(gl + c * size + size / 2, gt + input.rows.length * size + 18, colName, { anchor: 'middle' })));
  const w = input.cols.length * size;
  const h = input.rows.length * size;
  out.push(`<rect x="${px(gl)}" y="${px(gt)}" width="${px(w)}" height="${px(h)}" fill="none" stroke="#333333" stroke-width="1"/>`);
  if (g.title) out.push(svgText(gl + w / 2, top + MARGIN.top - 12, g.title, { anchor: 'middle', size: 13, bold: true }));
  out.push(svgText(gl + w / 2, gt + h + 42, input.colAxis, { anchor: 'middle' }));
  out.push(svgText(left + 18, gt + h / 2, input.rowAxis, { anchor: 'middle', rotate: true }));
  out.push('</g>');
  return out;
}

/** Tick positions on the colour bar (scale units) with their labels. */
function barTicks(scale: ColourScale): { t: number; label: string }[] {
  if (!(scale.hi > scale.lo)) return [{ t: scale.lo, label: formatValue(scale.log ? 10 ** scale.lo : scale.lo) }];
  if (scale.log) {
    const out: { t: number; label: string }[] = [];
    // At most about eight labelled decades, as the renderer's log axes do.
    const every = Math.max(1, Math.ceil((scale.hi - scale.lo) / 8));
    for (let k = Math.ceil(scale.lo - 1e-9); k <= scale.hi + 1e-9; k += every) out.push({ t: k, label: formatValue(10 ** k) });
    return out;
  }
  const step = niceStep(scale.lo, scale.hi, 5);
  const maxAbs = Math.max(Math.abs(scale.lo), Math.abs(scale.hi));
  return niceTicks(scale.lo, scale.hi, 5).map((t) => ({ t, label: formatTick(t, step, maxAbs) }));
}

function colourBar(scale: ColourScale, metric: string, left: number, top: number, height: number): string[] {
  const out = ['<g class="colour-bar">'];
  const step = height / BAR_STEPS;
  for (let i = 0; i < BAR_STEPS; i++) {
    // Top of the bar is the high end; each band is a slightly overlapping rect so no seams show.
    const y = top + height - (i + 1) * step;
    out.push(`<rect x="${px(left)}" y="${px(y)}" width="${BAR_WIDTH}" height="${px(step + 0.5)}" fill="${viridis((i + 0.5) / BAR_STEPS)}"/>`);
  }
  out.push(`<rect x="${px(left)}" y="${px(top)}" width="${BAR_WIDTH}" height="${px(height)}" fill="none" stroke="#333333" stroke-width="1"/>`);
  const ticks = barTicks(scale);
  const flat = !(scale.hi > scale.lo);
  let longest = 0;
  for (const { t, label } of ticks) {
    const y = flat ? top + height / 2 : top + height - ((t - scale.lo) / (scale.hi - scale.lo)) * height;
    out.push(`<path d="M${px(left + BAR_WIDTH)} ${px(y)}h5" stroke="#333333" stroke-width="1"/>`);
    out.push(svgText(left + BAR_WIDTH + 8, y, label, { middle: true }));
    longest = Math.max(longest, [...label].length);
  }
  const labelX = left + BAR_WIDTH + 14 + longest * 7.2 + 12;
  out.push(svgText(labelX, top + height / 2, scale.log ? `${metric} (log scale)` : metric, { anchor: 'middle', rotate: true }));
  out.push('</g>');
  return out;
}

export function heatmapSvg(input: HeatmapInput): string {
  const size = cellSize(input.rows.length, input.cols.length);
  const gridW = input.cols.length * size;
  const gridH = input.rows.length * size;
  const cellW = MARGIN.left + gridW + MARGIN.right;
  const cellH = MARGIN.top + gridH + MARGIN.bottom;
  const n = Math.max(1, input.grids.length);
  const cols = Math.min(MAX_COLUMNS, n);
  const rows = Math.ceil(n / cols);
  const scale = colourScale(input.grids.flatMap((g) => g.values.flat()));
  const barLeft = cols * cellW + 8;
  const width = barLeft + BAR_WIDTH + 120;
  const height = TITLE_HEIGHT + rows * cellH;
  const parts = [svgText(width / 2, 23, input.title, { anchor: 'middle', size: 15, bold: true })];
  input.grids.forEach((g, i) => {
    parts.push(...grid(g, input, scale, (i % cols) * cellW, TITLE_HEIGHT + Math.floor(i / cols) * cellH, size));
  });
  parts.push(...colourBar(scale, input.metric, barLeft, TITLE_HEIGHT + MARGIN.top, gridH));
  return svgDocument(width, height, parts);
}
