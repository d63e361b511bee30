// Pieces the sweep pictures add around the project's renderer (../svg.ts), which
// draws lines, arrows and points on linear-x panels: a figure's SVG embedded in a
// larger document, a legend column beside it, a sequential colour scale, and the
// rules for when an axis goes logarithmic. Everything stays a pure function of
// its input, like the renderer, so a sweep writes byte-identical pictures.

import { escapeXml, FONT_FAMILY } from '../svg.ts';

/**
 * Decades the positive values must span before an axis or colour scale goes
 * logarithmic: 1.5, so the paper's own sweeps (|G| 1–68, widths 32–2048, about
 * 1.8 decades each) are drawn on log axes as the paper draws them.
 */
export const LOG_DECADES = 1.5;

/** True when every value is positive and finite and max/min is at least 10^LOG_DECADES. */
export function spansDecades(values: readonly number[]): boolean {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length < 2 || finite.some((v) => v <= 0)) return false;
  return Math.max(...finite) / Math.min(...finite) >= 10 ** LOG_DECADES;
}

/** Short text of a measured value: three significant digits, exponent form outside [1e-3, 1e4). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'n/a';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e4) {
    const [m, e] = v.toExponential(2).split('e');
    return `${m.replace(/\.?0+$/, '')}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(3)));
}

/** Pixel number with two decimals (the renderer's convention). */
export function px(v: number): string {
  if (!Number.isFinite(v)) return '0.00';
  const s = v.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

export function svgText(x: number, y: number, s: string, opts: { size?: number; anchor?: 'start' | 'middle' | 'end';
  bold?: boolean; rotate?: boolean; fill?: string; middle?: boolean } = {}): string {
  const size = opts.size ?? 12;
  const rot = opts.rotate ? ` transform="rotate(-90 ${px(x)} ${px(y)})"` : '';
  const dy = opts.middle ? ` dy="${px(size * 0.35)}"` : '';
  const fill = opts.fill ? ` fill="${escapeXml(opts.fill)}"` : '';
  return `<text x="${px(x)}" y="${px(y)}"${dy} font-size="${px(size)}" text-anchor="${opts.anchor ?? 'start'}"`
    + `${opts.bold ? ' font-weight="bold"' : ''}${fill}${rot}>${escapeXml(s)}</text>`;
}

export interface Embedded { readonly width: number; readonly height: number; readonly body: string }

/** A standalone SVG document's size and contents, ready to nest in another document. */
export function embedSvg(svg: string): Embedded {
  const open = /<svg\b[^>]*>/.exec(svg);
  const close = svg.lastIndexOf('</svg>');
  if (!open || close < open.index) throw new Error('sweep pictures: not an SVG document');
  const w = /\swidth="(\d+(?:\.\d+)?)"/.exec(open[0]);
  const h = /\sheight="(\d+(?:\.\d+)?)"/.exec(open[0]);
  if (!w || !h) throw new Error('sweep pictures: the SVG has no width or height');
  return { width: Number(w[1]), height: Number(h[1]), body: svg.slice(open.index + open[0].length, close) };
}

/** A whole SVG document of the given size around `parts`, on white, in the renderer's font. */
export function svgDocument(width: number, height: number, parts: readonly string[]): string {
  const W = Math.ceil(width);
  const H = Math.ceil(height);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${escapeXml(FONT_FAMILY)}">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
  ].join('\n') + '\n';
}

export interface LegendItem { readonly label: string; readonly color: string; readonly dash?: string }

const LEGEND_ROW = 18;
const LEGEND_SWATCH = 24;
/** No font metrics here: text width is estimated from the character count, as the renderer does. */
const charWidth = 12 * 0.6;

export function legendWidth(items: readonly LegendItem[], title?: string): number {
  const longest = Math.max(title ? [...title].length : 0, ...items.map((i) => [...i.label].length));
  return 16 + LEGEND_SWATCH + 6 + longest * charWidth + 12;
}

/** A legend as a column of swatch + label rows, top-left at (x, y); an optional heading above. */
export function legendColumn(items: readonly LegendItem[], x: number, y: number, title?: string): string[] {
  const out = ['<g class="legend">'];
  let row = y;
  if (title) {
    out.push(svgText(x, row + 12, title, { bold: true }));
    row += LEGEND_ROW + 2;
  }
  for (const it of items) {
    const cy = row + LEGEND_ROW / 2;
    const dash = it.dash ? ` stroke-dasharray="${escapeXml(it.dash)}"` : '';
    out.push(`<path d="M${px(x)} ${px(cy)}L${px(x + LEGEND_SWATCH)} ${px(cy)}" stroke="${escapeXml(it.color)}" stroke-width="2"${dash} fill="none"/>`);
    out.push(`<circle cx="${px(x + LEGEND_SWATCH / 2)}" cy="${px(cy)}" r="3.5" fill="${escapeXml(it.color)}"/>`);
    out.push(svgText(x + LEGEND_SWATCH + 6, cy, it.label, { middle: true }));
    row += LEGEND_ROW;
  }
  out.push('</g>');
  return out;
}

export function legendHeight(items: readonly LegendItem[], title?: string): number {
  return (title ? LEGEND_ROW + 2 : 0) + items.length * LEGEND_ROW;
}

// ---------------------------------------------------------------------------
// Colour scale

/** Viridis at nine even stops: perceptually uniform, readable in grey and with colour-vision deficiencies. */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

const hex2 = (v: number) => Math.round(Math.max(0, Math.min(255, v))).toString(16).padStart(2, '0');

/** Colour at t ∈ [0, 1] (clamped), interpolated between the stops. */
export function viridis(t: number): string {
  const u = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return `#${hex2(a[0] + f * (b[0] - a[0]))}${hex2(a[1] + f * (b[1] - a[1]))}${hex2(a[2] + f * (b[2] - a[2]))}`;
}

/** Black or white, whichever reads better on `hex` (by relative luminance). */
export function textOn(hex: string): string {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  const lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  return lum > 0.18 ? '#000000' : '#ffffff';
}

export interface ColourScale {
  readonly log: boolean;
  /** Ends of the scale, in log10 units on a log scale. */
  readonly lo: number;
  readonly hi: number;
  /** Position in [0, 1] of a value; NaN for one the scale cannot show (≤ 0 on a log scale, non-finite). */
  position(v: number): number;
}

export function colourScale(values: readonly number[]): ColourScale {
  const finite = values.filter((v) => Number.isFinite(v));
  const log = spansDecades(finite);
  const t = log ? finite.map(Math.log10) : finite;
  const lo = t.length > 0 ? Math.min(...t) : 0;
  const hi = t.length > 0 ? Math.max(...t) : 1;
  return {
    log, lo, hi,
    position(v: number): number {
      if (!Number.isFinite(v) || (log && v <= 0)) return NaN;
      const x = log ? Math.log10(v) : v;
      // A flat scale (one value, or all equal) sits in the middle of the map.
      return hi > lo ? (x - lo) / (hi - lo) : 0.5;
    },
  };
}
