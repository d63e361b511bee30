// A small plotting layer that writes SVG text: a figure of panels on a grid, each
// with axes, ticks, labels, title and legend, holding polylines, arrows and points.
// Output is a pure function of the input (fixed-precision numbers, ids numbered in
// order), so the same run always writes byte-identical pictures.

export const FONT_FAMILY = 'DejaVu Sans, Arial, sans-serif';

/**
 * Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), less
 * its yellow, which vanishes on white, plus grey.
 */
export const PALETTE: readonly string[] = [
  '#0072b2', '#e69f00', '#009e73', '#d55e00', '#cc79a7', '#56b4e9', '#000000', '#999999',
];

export interface LineLayer {
  readonly kind: 'line';
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly color: string;
  readonly width?: number;
  /** SVG stroke-dasharray, e.g. "6 4". */
  readonly dash?: string;
  readonly opacity?: number;
  readonly label?: string;
}

export interface ArrowLayer {
  readonly kind: 'arrows';
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly dx: Float64Array;
  readonly dy: Float64Array;
  readonly color: string;
  readonly width?: number;
  readonly opacity?: number;
  /** Grid spacing in data units: the panel's longest arrow is drawn about one cell long. */
  readonly cellX: number;
  readonly cellY: number;
  readonly label?: string;
}

export interface PointLayer {
  readonly kind: 'points';
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly color: string;
  readonly radius?: number;
  readonly shape?: 'circle' | 'cross';
  readonly label?: string;
}

export type Layer = LineLayer | ArrowLayer | PointLayer;

/** Inside a corner of the plot, or 'above': one row in the strip over the plot, where the panel title would go. */
export type LegendPlace = 'top-right' | 'top-left' | 'bottom-right' | 'bottom-left' | 'above' | 'none';

export interface Panel {
  readonly title?: string;
  readonly xLabel?: string;
  readonly yLabel?: string;
  readonly xRange?: readonly [number, number];
  readonly yRange?: readonly [number, number];
  /** Log-scaled y axis; values ≤ 0 are left out (they break a line into pieces). */
  readonly logY?: boolean;
  /** One data unit is as long on x as on y (a circle stays round); the shorter range grows. */
  readonly equalAspect?: boolean;
  readonly legend?: LegendPlace;
  /**
   * Arrows are scaled so this quantile of their lengths spans ~0.9 of a cell (default 1:
   * the longest); longer ones are capped at 1.2 cells. Below 1 keeps a few outliers
   * (MountainCar's wall resets) from shrinking every other arrow to a dot.
   */
  readonly arrowQuantile?: number;
  readonly layers: readonly Layer[];
}

export interface Figure {
  readonly title?: string;
  readonly panels: readonly Panel[];
  /** Panels per row; all in one row by default. */
  readonly columns?: number;
  /** Size of each panel's cell in the figure, margins included (pixels). */
  readonly panelWidth?: number;
  readonly panelHeight?: number;
}

const MARGIN = { left: 70, right: 18, top: 34, bottom: 50 };
const FIGURE_TITLE_HEIGHT = 34;
const FONT_SIZE = 12;

/** Escape text for XML content and attribute values. */
export function escapeXml(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    // Control characters other than tab/newline are not allowed in XML 1.0 at all.
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) continue;
    if (c === 0xfffe || c === 0xffff) continue;
    out += ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : ch === "'" ? '&apos;' : ch;
  }
  return out;
}

/** Pixel coordinate with two decimals; −0 and non-finite values never reach the text. */
function px(v: number): string {
  if (!Number.isFinite(v)) return '0.00';
  const s = v.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

/** Step of about `target` ticks over [lo, hi], from the 1–2–5 sequence. */
export function niceStep(lo: number, hi: number, target = 5): number {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

/** Tick values k·step inside [lo, hi] (multiples, not running sums, so no drift). */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  const step = niceStep(lo, hi, target);
  const eps = 1e-9 * step;
  const ticks: number[] = [];
  for (let k = Math.ceil((lo - eps) / step); k * step <= hi + eps; k++) ticks.push(k * step);
  return ticks;
}

function trimMantissa(s: string): string {
  // "2.50e+6" → "2.5e6": shortest faithful form, fixed for a given tick.
  const [m, e] = s.split('e');
  const mm = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
  return `${mm}e${Number(e)}`;
}

/** Label of a linear tick at `v` on an axis with tick step `step`. */
export function formatTick(v: number, step: number, maxAbs: number): string {
  if (Math.abs(v) < step * 1e-6) return '0';
  if (maxAbs >= 1e5 || maxAbs < 1e-3) {
    const digits = Math.max(0, Math.floor(Math.log10(Math.abs(v))) - Math.floor(Math.log10(step) + 1e-9));
    return trimMantissa(v.toExponential(Math.min(digits, 6)));
  }
  const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  const s = v.toFixed(Math.min(decimals, 10));
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

function formatDecade(k: number): string {
  return k >= -3 && k <= 4 ? String(10 ** k) : `1e${k}`;
}

interface Range { lo: number; hi: number }

function dataRange(values: Iterable<number>, log: boolean): Range | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    const t = log ? Math.log10(v) : v;
    if (t < lo) lo = t;
    if (t > hi) hi = t;
  }
  return lo <= hi ? { lo, hi } : null;
}

function* layerXs(l: Layer): Iterable<number> {
  yield* l.x;
}

function* layerYs(l: Layer): Iterable<number> {
  yield* l.y;
}

function autoRange(r: Range | null, log: boolean): Range {
  if (!r) return { lo: 0, hi: 1 };
  if (log) {
    // Whole decades: log ticks then always land on the axis ends.
    const lo = Math.floor(r.lo);
    const hi = Math.ceil(r.hi);
    return hi > lo ? { lo, hi } : { lo, hi: lo + 1 };
  }
  const span = r.hi - r.lo;
  if (span <= 0) {
    const pad = Math.abs(r.lo) * 0.1 || 1;
    return { lo: r.lo - pad, hi: r.hi + pad };
  }
  return { lo: r.lo - 0.04 * span, hi: r.hi + 0.04 * span };
}

class PanelFrame {
  readonly sx: number;
  readonly sy: number;
  constructor(readonly left: number, readonly top: number, readonly width: number, readonly height: number,
    readonly x: Range, readonly y: Range, readonly logY: boolean) {
    this.sx = width / (x.hi - x.lo);
    this.sy = height / (y.hi - y.lo);
  }
  /** Pixel x of data x. */
  X(v: number): number { return this.left + (v - this.x.lo) * this.sx; }
  /** Pixel y of data y (log-transformed first on a log axis); NaN where it cannot be shown. */
  Y(v: number): number {
    const t = this.logY ? (v > 0 ? Math.log10(v) : NaN) : v;
    return this.top + this.height - (t - this.y.lo) * this.sy;
  }
}

function text(x: number, y: number, s: string, opts: { size?: number; anchor?: 'start' | 'middle' | 'end';
  rotate?: boolean; bold?: boolean; baseline?: 'middle' | 'auto' } = {}): string {
  const size = opts.size ?? FONT_SIZE;
  const rot = opts.rotate ? ` transform="rotate(-90 ${px(x)} ${px(y)})"` : '';
  const weight = opts.bold ? ' font-weight="bold"' : '';
  // resvg ignores dominant-baseline on some versions, so centre by a fixed shift instead.
  const dy = opts.baseline === 'middle' ? ` dy="${px(size * 0.35)}"` : '';
  return `<text x="${px(x)}" y="${px(y)}"${dy} font-size="${px(size)}" text-anchor="${opts.anchor ?? 'start'}"${weight}${rot}>${escapeXml(s)}</text>`;
}

function polylines(f: PanelFrame, l: LineLayer): string[] {
  const out: string[] = [];
  const dash = l.dash ? ` stroke-dasharray="${escapeXml(l.dash)}"` : '';
  const op = l.opacity !== undefined ? ` stroke-opacity="${px(l.opacity)}"` : '';
  const attrs = `fill="none" stroke="${escapeXml(l.color)}" stroke-width="${px(l.width ?? 1.5)}"${dash}${op} stroke-linejoin="round"`;
  let pts: string[] = [];
  const flush = () => {
    // A single point makes no visible line; leave it out rather than emit an empty element.
    if (pts.length >= 2) out.push(`<polyline class="series" points="${pts.join(' ')}" ${attrs}/>`);
    pts = [];
  };
  const n = Math.min(l.x.length, l.y.length);
  for (let i = 0; i < n; i++) {
    const X = f.X(l.x[i]);
    const Y = f.Y(l.y[i]);
    if (Number.isFinite(X) && Number.isFinite(Y)) pts.push(`${px(X)},${px(Y)}`);
    else flush();
  }
  flush();
  return out;
}

interface ArrowScale { scale: number; cap: number }

/** One scale for all arrows of a panel, so true and model arrows compare by length. */
function arrowScale(f: PanelFrame, layers: readonly ArrowLayer[], quantile: number): ArrowScale {
  const lengths: number[] = [];
  let cell = Infinity;
  for (const l of layers) {
    cell = Math.min(cell, Math.abs(l.cellX * f.sx), Math.abs(l.cellY * f.sy));
    for (let i = 0; i < l.dx.length; i++) {
      const len = Math.hypot(l.dx[i] * f.sx, l.dy[i] * f.sy);
      if (Number.isFinite(len)) lengths.push(len);
    }
  }
  if (lengths.length === 0 || !Number.isFinite(cell)) return { scale: 0, cap: 0 };
  lengths.sort((a, b) => a - b);
  const q = Math.min(1, Math.max(0, quantile));
  let ref = lengths[Math.min(lengths.length - 1, Math.ceil(q * lengths.length) - 1)] ?? 0;
  if (!(ref > 0)) ref = lengths[lengths.length - 1];
  return ref > 0 ? { scale: (0.9 * cell) / ref, cap: 1.2 * cell } : { scale: 0, cap: 0 };
}

function arrows(f: PanelFrame, l: ArrowLayer, s: ArrowScale): string[] {
  const out: string[] = [];
  for (let i = 0; i < l.x.length; i++) {
    const x0 = f.X(l.x[i]);
    const y0 = f.Y(l.y[i]);
    let ux = l.dx[i] * f.sx * s.scale;
    let uy = -l.dy[i] * f.sy * s.scale;
    if (!Number.isFinite(ux) || !Number.isFinite(uy)) { ux = 0; uy = 0; }
    let len = Math.hypot(ux, uy);
    if (len > s.cap) { ux *= s.cap / len; uy *= s.cap / len; len = s.cap; }
    const x1 = x0 + ux;
    const y1 = y0 + uy;
    let d = `M${px(x0)} ${px(y0)}L${px(x1)} ${px(y1)}`;
    // Below a pixel a head has no direction worth showing; the shaft alone marks the point.
    if (len >= 1) {
      const h = Math.min(6, 0.4 * len);
      const bx = -ux / len;
      const by = -uy / len;
      const c = Math.cos(0.45);
      const sn = Math.sin(0.45);
      const ax = x1 + h * (bx * c - by * sn);
      const ay = y1 + h * (bx * sn + by * c);
      const cx = x1 + h * (bx * c + by * sn);
      const cy = y1 + h * (-bx * sn + by * c);
      d += `M${px(ax)} ${px(ay)}L${px(x1)} ${px(y1)}L${px(cx)} ${px(cy)}`;
    }
    out.push(`<path class="arrow" d="${d}"/>`);
  }
  return out;
}

function pointMarks(f: PanelFrame, l: PointLayer): string[] {
  const out: string[] = [];
  const r = l.radius ?? 4;
  const n = Math.min(l.x.length, l.y.length);
  for (let i = 0; i < n; i++) {
    const X = f.X(l.x[i]);
    const Y = f.Y(l.y[i]);
    if (!Number.isFinite(X) || !Number.isFinite(Y)) continue;
    if (l.shape === 'cross') {
      out.push(`<path class="point" d="M${px(X - r)} ${px(Y - r)}L${px(X + r)} ${px(Y + r)}M${px(X - r)} ${px(Y + r)}L${px(X + r)} ${px(Y - r)}" stroke="${escapeXml(l.color)}" stroke-width="2" fill="none"/>`);
    } else {
      out.push(`<circle class="point" cx="${px(X)}" cy="${px(Y)}" r="${px(r)}" fill="${escapeXml(l.color)}" stroke="#ffffff" stroke-width="1"/>`);
    }
  }
  return out;
}

function swatchFor(l: Layer, sx: number, cy: number, swatch: number): string {
  const col = escapeXml(l.color);
  if (l.kind === 'line') {
    const dash = l.dash ? ` stroke-dasharray="${escapeXml(l.dash)}"` : '';
    return `<path d="M${px(sx)} ${px(cy)}L${px(sx + swatch)} ${px(cy)}" stroke="${col}" stroke-width="${px(l.width ?? 1.5)}"${dash} fill="none"/>`;
  }
  if (l.kind === 'arrows') {
    const e = sx + swatch;
    return `<path d="M${px(sx)} ${px(cy)}L${px(e)} ${px(cy)}M${px(e - 5)} ${px(cy - 3)}L${px(e)} ${px(cy)}L${px(e - 5)} ${px(cy + 3)}" stroke="${col}" stroke-width="${px(l.width ?? 1.2)}" fill="none"/>`;
  }
  const c = sx + swatch / 2;
  if (l.shape === 'cross') {
    return `<path d="M${px(c - 4)} ${px(cy - 4)}L${px(c + 4)} ${px(cy + 4)}M${px(c - 4)} ${px(cy + 4)}L${px(c + 4)} ${px(cy - 4)}" stroke="${col}" stroke-width="2" fill="none"/>`;
  }
  return `<rect x="${px(c - 4)}" y="${px(cy - 4)}" width="8" height="8" rx="4" fill="${col}"/>`;
}

// No font metrics here (the SVG must not depend on the renderer): text widths are estimated.
const textWidth = (s: string) => [...s].length * FONT_SIZE * 0.6;

function legend(f: PanelFrame, layers: readonly Layer[], place: LegendPlace): string[] {
  const items = layers.filter((l) => l.label !== undefined && l.label !== '');
  if (place === 'none' || items.length === 0) return [];
  const swatch = 24;
  const out = ['<g class="legend">'];
  if (place === 'above') {
    const widths = items.map((l) => swatch + 6 + textWidth(l.label ?? '') + 16);
    let x = f.left + f.width - widths.reduce((a, b) => a + b, 0) + 16;
    const cy = f.top - 14;
    items.forEach((l, i) => {
      out.push(swatchFor(l, x, cy, swatch), text(x + swatch + 6, cy, l.label ?? '', { baseline: 'middle' }));
      x += widths[i];
    });
    out.push('</g>');
    return out;
  }
  const rowH = FONT_SIZE + 6;
  const w = 8 + swatch + 6 + Math.max(...items.map((l) => textWidth(l.label ?? ''))) + 8;
  const h = items.length * rowH + 8;
  const left = place.endsWith('right') ? f.left + f.width - w - 8 : f.left + 8;
  const top = place.startsWith('top') ? f.top + 8 : f.top + f.height - h - 8;
  out.push(`<rect x="${px(left)}" y="${px(top)}" width="${px(w)}" height="${px(h)}" fill="#ffffff" fill-opacity="0.85" stroke="#999999" stroke-width="0.8"/>`);
  items.forEach((l, i) => {
    const cy = top + 4 + rowH * (i + 0.5);
    const sx = left + 8;
    out.push(swatchFor(l, sx, cy, swatch), text(sx + swatch + 6, cy, l.label ?? '', { baseline: 'middle' }));
  });
  out.push('</g>');
  return out;
}

function panelRanges(p: Panel, width: number, height: number): { x: Range; y: Range } {
  const logY = p.logY === true;
  let x = p.xRange ? { lo: p.xRange[0], hi: p.xRange[1] } : autoRange(dataRange(concat(p.layers.map(layerXs)), false), false);
  let y: Range;
  if (p.yRange) {
    y = logY ? { lo: Math.log10(p.yRange[0]), hi: Math.log10(p.yRange[1]) } : { lo: p.yRange[0], hi: p.yRange[1] };
  } else {
    y = autoRange(dataRange(concat(p.layers.map(layerYs)), logY), logY);
  }
  if (p.equalAspect && !logY) {
    const ux = (x.hi - x.lo) / width;
    const uy = (y.hi - y.lo) / height;
    if (ux > uy) {
      const c = (y.lo + y.hi) / 2;
      const half = (ux * height) / 2;
      y = { lo: c - half, hi: c + half };
    } else {
      const c = (x.lo + x.hi) / 2;
      const half = (uy * width) / 2;
      x = { lo: c - half, hi: c + half };
    }
  }
  return { x, y };
}

function* concat(parts: Iterable<Iterable<number>>): Iterable<number> {
  for (const p of parts) yield* p;
}

function renderPanel(p: Panel, index: number, left: number, top: number, cellW: number, cellH: number): string[] {
  const pl = left + MARGIN.left;
  const pt = top + MARGIN.top;
  const pw = cellW - MARGIN.left - MARGIN.right;
  const ph = cellH - MARGIN.top - MARGIN.bottom;
  const { x, y } = panelRanges(p, pw, ph);
  const f = new PanelFrame(pl, pt, pw, ph, x, y, p.logY === true);
  const out: string[] = [`<g class="panel" id="panel-${index}">`];
  out.push(`<rect x="${px(pl)}" y="${px(pt)}" width="${px(pw)}" height="${px(ph)}" fill="#ffffff"/>`);

  // Ticks and grid: one path each, so the element count reflects data, not decoration.
  const grid: string[] = [];
  const ticks: string[] = [];
  const labels: string[] = [];
  const xt = niceTicks(x.lo, x.hi);
  const xStep = niceStep(x.lo, x.hi);
  const xMax = Math.max(Math.abs(x.lo), Math.abs(x.hi));
  for (const v of xt) {
    const X = f.X(v);
    grid.push(`M${px(X)} ${px(pt)}V${px(pt + ph)}`);
    ticks.push(`M${px(X)} ${px(pt + ph)}v5`);
    labels.push(text(X, pt + ph + 18, formatTick(v, xStep, xMax), { anchor: 'middle' }));
  }
  if (f.logY) {
    const every = Math.max(1, Math.ceil((y.hi - y.lo) / 8));
    for (let k = Math.ceil(y.lo); k <= Math.floor(y.hi); k += every) {
      const Y = f.Y(10 ** k);
      grid.push(`M${px(pl)} ${px(Y)}H${px(pl + pw)}`);
      ticks.push(`M${px(pl)} ${px(Y)}h-5`);
      labels.push(text(pl - 8, Y, formatDecade(k), { anchor: 'end', baseline: 'middle' }));
    }
  } else {
    const yStep = niceStep(y.lo, y.hi);
    const yMax = Math.max(Math.abs(y.lo), Math.abs(y.hi));
    for (const v of niceTicks(y.lo, y.hi)) {
      const Y = f.Y(v);
      grid.push(`M${px(pl)} ${px(Y)}H${px(pl + pw)}`);
      ticks.push(`M${px(pl)} ${px(Y)}h-5`);
      labels.push(text(pl - 8, Y, formatTick(v, yStep, yMax), { anchor: 'end', baseline: 'middle' }));
    }
  }
  if (grid.length) out.push(`<path class="grid" d="${grid.join('')}" stroke="#e4e4e4" stroke-width="1" fill="none"/>`);

  out.push(`<g clip-path="url(#clip-${index})">`);
  const arrowLayers = p.layers.filter((l): l is ArrowLayer => l.kind === 'arrows');
  const scale = arrowScale(f, arrowLayers, p.arrowQuantile ?? 1);
  for (const l of p.layers) {
    if (l.kind === 'line') out.push(...polylines(f, l));
    else if (l.kind === 'points') out.push(...pointMarks(f, l));
    else {
      const op = l.opacity !== undefined ? ` stroke-opacity="${px(l.opacity)}"` : '';
      out.push(`<g class="arrows" stroke="${escapeXml(l.color)}" stroke-width="${px(l.width ?? 1.2)}"${op} fill="none" stroke-linecap="round" stroke-linejoin="round">`);
      out.push(...arrows(f, l, scale));
      out.push('</g>');
    }
  }
  out.push('</g>');

  out.push(`<rect x="${px(pl)}" y="${px(pt)}" width="${px(pw)}" height="${px(ph)}" fill="none" stroke="#333333" stroke-width="1"/>`);
  if (ticks.length) out.push(`<path class="ticks" d="${ticks.join('')}" stroke="#333333" stroke-width="1" fill="none"/>`);
  out.push(`<g class="tick-labels" fill="#333333">`, ...labels, '</g>');
  if (p.title) out.push(text(pl + pw / 2, top + MARGIN.top - 12, p.title, { anchor: 'middle', size: 13, bold: true }));
  if (p.xLabel) out.push(text(pl + pw / 2, pt + ph + 40, p.xLabel, { anchor: 'middle' }));
  if (p.yLabel) out.push(text(left + 16, pt + ph / 2, p.yLabel, { anchor: 'middle', rotate: true }));
  out.push(...legend(f, p.layers, p.legend ?? 'top-right'));
  out.push('</g>');
  return out;
}

/** The figure as a standalone SVG document. */
export function renderSvg(fig: Figure): string {
  const n = fig.panels.length;
  const cols = Math.max(1, Math.min(fig.columns ?? n, n || 1));
  const rows = Math.max(1, Math.ceil(n / cols));
  const cw = fig.panelWidth ?? 480;
  const ch = fig.panelHeight ?? 360;
  const head = fig.title ? FIGURE_TITLE_HEIGHT : 0;
  const W = cols * cw;
  const H = head + rows * ch;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${escapeXml(FONT_FAMILY)}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    '<defs>',
  ];
  fig.panels.forEach((_, i) => {
    const left = (i % cols) * cw + MARGIN.left;
    const top = head + Math.floor(i / cols) * ch + MARGIN.top;
    out.push(`<clipPath id="clip-${i}"><rect x="${px(left)}" y="${px(top)}" width="${px(cw - MARGIN.left - MARGIN.right)}" height="${px(ch - MARGIN.top - MARGIN.bottom)}"/></clipPath>`);
  });
  out.push('</defs>');
  if (fig.title) out.push(text(W / 2, 23, fig.title, { anchor: 'middle', size: 15, bold: true }));
  fig.panels.forEach((p, i) => {
    out.push(...renderPanel(p, i, (i % cols) * cw, head + Math.floor(i / cols) * ch, cw, ch));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
