// A metric against a numeric axis: one line per series (a combination of the
// other axes' values), each point a cell's mean over seeds with a mean ± SE band,
// logarithmic axes where the values span decades. Drawn by the project's renderer;
// the two things it lacks are added to its output here: the filled band (traced as
// a line with a placeholder colour, so it gets the renderer's own data-to-pixel
// mapping, then turned into a polygon) and a log x axis (the renderer draws x in
// log10 units; its tick labels are then rewritten as the values they stand for).

import { PALETTE, renderSvg, type Figure, type Layer } from '../svg.ts';
import { embedSvg, legendColumn, legendHeight, legendWidth, spansDecades, svgDocument, type LegendItem } from './parts.ts';

export interface LinePoint {
  readonly x: number;
  readonly mean: number;
  /** Standard error of the mean; 0 (no band) with one seed. */
  readonly se: number;
}

export interface LineSeries {
  /** Legend text; a figure whose series have none draws no legend. */
  readonly label?: string;
  readonly points: readonly LinePoint[];
}

export interface MetricLinesInput {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** Heading of the legend (the other axes' names). */
  readonly legendTitle?: string;
  /** Force an axis to log or linear; by default log where its positive values span LOG_DECADES. */
  readonly logX?: boolean;
  readonly logY?: boolean;
}

const BAND_OPACITY = 0.18;
const PANEL_WIDTH = 600;
const PANEL_HEIGHT = 420;
/** Where the legend column starts below the figure's top: level with the plot area. */
const LEGEND_TOP = 68;
const DASHES = [undefined, '7 4', '2 3', '9 3 2 3'];

/** Placeholder colour of series i's band outline; no real colour is spelt like this. */
const bandKey = (i: number) => `band-${i}`;

export function seriesStyle(i: number): { color: string; dash?: string } {
  const dash = DASHES[Math.floor(i / PALETTE.length) % DASHES.length];
  return dash === undefined ? { color: PALETTE[i % PALETTE.length] } : { color: PALETTE[i % PALETTE.length], dash };
}

/** Label of a tick at t on a log10 axis: a power of ten as the renderer writes decades, else two digits. */
export function logTickLabel(t: number): string {
  const k = Math.round(t);
  if (Math.abs(t - k) < 1e-9) return k >= -3 && k <= 4 ? String(10 ** k) : `1e${k}`;
  return String(Number((10 ** t).toPrecision(2)));
}

function clean(points: readonly LinePoint[], logX: boolean): LinePoint[] {
  return points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.mean) && (!logX || p.x > 0))
    .map((p) => ({ x: logX ? Math.log10(p.x) : p.x, mean: p.mean, se: Number.isFinite(p.se) ? Math.abs(p.se) : 0 }))
    .sort((a, b) => a.x - b.x);
}

/** Whole decades around the band on a log y axis: the band's lower edge may reach 0, the means may not. */
function logYRange(series: readonly LinePoint[][]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const p of s) {
      const low = p.mean - p.se > 0 ? p.mean - p.se : p.mean;
      if (low > 0) lo = Math.min(lo, Math.log10(low));
      if (p.mean + p.se > 0) hi = Math.max(hi, Math.log10(p.mean + p.se));
    }
  }
  if (!(lo <= hi)) return [1, 10];
  const a = Math.floor(lo);
  const b = Math.max(a + 1, Math.ceil(hi));
  return [10 ** a, 10 ** b];
}

function bandPolygons(svg: string, colors: readonly string[]): string {
  const re = /<polyline class="series" points="([^"]*)" fill="none" stroke="band-(\d+)"[^>]*\/>/g;
  return svg.replace(re, (_m, points: string, i: string) =>
    `<polygon class="band" points="${points}" fill="${colors[Number(i)]}" fill-opacity="${BAND_OPACITY}" stroke="none"/>`);
}

/** Rewrite the x tick labels (centred texts of the tick-label group) from log10 units to values. */
function relabelLogX(svg: string): string {
  const group = /<g class="tick-labels"[^>]*>[\s\S]*?<\/g>/.exec(svg);
  if (!group) throw new Error('sweep pictures: the renderer wrote no tick labels to relabel');
  let count = 0;
  const relabelled = group[0].replace(/(<text [^>]*text-anchor="middle"[^>]*>)([^<]*)(<\/text>)/g, (_m, open: string, label: string, close: string) => {
    const t = Number(label);
    if (!Number.isFinite(t)) throw new Error(`sweep pictures: x tick label ${JSON.stringify(label)} is not a number`);
    count++;
    return `${open}${logTickLabel(t)}${close}`;
  });
  if (count === 0) throw new Error('sweep pictures: no x tick labels found to relabel');
  return svg.slice(0, group.index) + relabelled + svg.slice(group.index + group[0].length);
}

export function metricLinesSvg(input: MetricLinesInput): string {
  const allX = input.series.flatMap((s) => s.points.map((p) => p.x));
  const logX = input.logX ?? spansDecades(allX);
  const series = input.series.map((s) => clean(s.points, logX));
  const means = series.flatMap((s) => s.map((p) => p.mean));
  const logY = (input.logY ?? spansDecades(means)) && means.every((m) => m > 0);
  const yRange = logY ? logYRange(series) : undefined;
  const floor = yRange ? yRange[0] : -Infinity;

  const bands: Layer[] = [];
  const marks: Layer[] = [];
  const colors: string[] = [];
  const legend: LegendItem[] = [];
  series.forEach((pts, i) => {
    const { color, dash } = seriesStyle(i);
    colors.push(color);
    const label = input.series[i].label;
    if (label !== undefined) legend.push(dash ? { label, color, dash } : { label, color });
    if (pts.length === 0) return;
    const x = Float64Array.from(pts, (p) => p.x);
    const y = Float64Array.from(pts, (p) => p.mean);
    const upper = pts.map((p) => p.mean + p.se);
    const lower = pts.map((p) => Math.max(floor, p.mean - p.se));
    if (pts.length >= 2 && pts.some((p) => p.se > 0)) {
      bands.push({ kind: 'line', x: Float64Array.from([...x, ...[...x].reverse()]), y: Float64Array.from([...upper, ...lower.reverse()]), color: bandKey(i), width: 0 });
    } else if (pts.length === 1 && pts[0].se > 0) {
      // One point has no band: an error bar shows its spread instead.
      marks.push({ kind: 'line', x: Float64Array.of(x[0], x[0]), y: Float64Array.of(lower[0], upper[0]), color, width: 1.5 });
    }
    marks.push({ kind: 'line', x, y, color, width: 2, ...(dash ? { dash } : {}) });
    marks.push({ kind: 'points', x, y, color, radius: 3.5 });
  });

  let xRange: [number, number] | undefined;
  if (logX) {
    const xs = series.flatMap((s) => s.map((p) => p.x));
    const lo = xs.length > 0 ? Math.min(...xs) : 0;
    const hi = xs.length > 0 ? Math.max(...xs) : 1;
    const pad = hi > lo ? 0.04 * (hi - lo) : 0.5;
    xRange = [lo - pad, hi + pad];
  }
  const fig: Figure = {
    title: input.title,
    panelWidth: PANEL_WIDTH,
    panelHeight: PANEL_HEIGHT,
    panels: [{
      xLabel: logX ? `${input.xLabel} (log scale)` : input.xLabel,
      yLabel: logY ? `${input.yLabel} (log scale)` : input.yLabel,
      logY,
      ...(xRange ? { xRange } : {}),
      ...(yRange ? { yRange } : {}),
      legend: 'none',
      layers: [...bands, ...marks],
    }],
  };
  let svg = bandPolygons(renderSvg(fig), colors);
  if (logX) svg = relabelLogX(svg);
  if (legend.length === 0) return svg;

  const inner = embedSvg(svg);
  const lw = legendWidth(legend, input.legendTitle);
  const height = Math.max(inner.height, LEGEND_TOP + legendHeight(legend, input.legendTitle) + 16);
  return svgDocument(inner.width + lw, height, [
    `<g class="figure">${inner.body}</g>`,
    ...legendColumn(legend, inner.width + 4, LEGEND_TOP, input.legendTitle),
  ]);
}
