// report.html: a sweep on one self-contained page — its spec, a table of every
// cell (axis values, mean ± SE of each metric, seeds, id, status), the pictures
// inline as SVG and the correlation table. Nothing is fetched: no scripts, no
// fonts, no images by URL, and a Content-Security-Policy that would refuse them.
// A pure function of its input, so the same sweep writes the same bytes.

import type { CellSummary } from '../../shared/sweeps/rows.ts';
import { METRICS } from '../../shared/sweeps/rows.ts';
import type { MetricCorrelation } from '../../shared/sweeps/stats.ts';
import { BOOTSTRAP_RESAMPLES, MIN_PAIRS } from '../../shared/sweeps/stats.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import type { SweepPicture } from '../pictures/sweep/index.ts';
import { formatValue } from '../pictures/sweep/parts.ts';

export interface SweepReportInput {
  readonly spec: SweepSpec;
  /** The spec file as written (YAML or JSON), shown verbatim. */
  readonly specText: string;
  readonly cells: readonly SweepCell[];
  /** Summaries of the cells that have results (others are shown without numbers). */
  readonly summaries: readonly CellSummary[];
  /** Status per cell id; a cell absent here is "done" with a summary, else "pending". */
  readonly status?: ReadonlyMap<string, string>;
  /** Metric columns of the cell table, in order. */
  readonly metrics: readonly string[];
  readonly pictures: readonly SweepPicture[];
  readonly correlations: readonly MetricCorrelation[];
}

/** Text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/**
 * An SVG document as an element of the page: the XML declaration dropped, and every
 * id (and each reference to one) prefixed, since the renderer numbers its clip paths
 * from 0 in each picture and ids must be unique in one HTML document.
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/^\s*<\?xml[^>]*\?>\s*/, '')
    .replace(/\sid="([^"]*)"/g, (_m, id: string) => ` id="${prefix}-${id}"`)
    .replace(/url\(#([^)]*)\)/g, (_m, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]*)"/g, (_m, id: string) => `href="#${prefix}-${id}"`)
    .trim();
}

const STYLE = `
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1200px; padding: 0 16px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; margin-top: 0; }
pre { background: #f6f6f6; border: 1px solid #e2e2e2; padding: 10px; overflow-x: auto; font-size: 0.85em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; }
td.text, th.text { text-align: left; }
td.id { font-family: "DejaVu Sans Mono", monospace; }
tr.pending td { color: #888; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 0.85em; margin-top: 4px; }
dl.metrics dt { font-weight: bold; font-family: "DejaVu Sans Mono", monospace; }
dl.metrics dd { margin: 0 0 6px 20px; color: #444; }
`;

function td(text: string, cls?: string): string {
  return cls ? `<td class="${cls}">${escapeHtml(text)}</td>` : `<td>${escapeHtml(text)}</td>`;
}

const pm = (mean: number, se: number, n: number) => (n > 1 && Number.isFinite(se) ? `${formatValue(mean)} ± ${formatValue(se)}` : formatValue(mean));

function cellTable(input: SweepReportInput): string {
  const axes = input.spec.axes.map((a) => a.option);
  const byId = new Map(input.summaries.map((s) => [s.cellId, s]));
  const head = ['<tr><th>#</th>', ...axes.map((a) => `<th class="text">${escapeHtml(a)}</th>`),
    ...input.metrics.map((m) => `<th>${escapeHtml(m)}</th>`), '<th>n</th><th class="text">cell id</th><th class="text">status</th></tr>'];
  const body = input.cells.map((c) => {
    const s = byId.get(c.id);
    const status = input.status?.get(c.id) ?? (s ? 'done' : 'pending');
    const cells = [td(String(c.index))];
    for (const a of axes) cells.push(td(c.values[a] === undefined ? '' : String(c.values[a]), 'text'));
    for (const m of input.metrics) {
      const st = s?.metrics[m];
      // A metric some seeds lack (non-finite) says over how many seeds its mean runs.
      cells.push(td(st === undefined ? '' : pm(st.mean, st.se, st.n) + (s && st.n !== s.seeds ? ` (n=${st.n})` : '')));
    }
    cells.push(td(s ? String(s.seeds) : ''), td(c.id, 'text id'), td(status, 'text'));
    return `<tr class="cell ${escapeHtml(status)}" data-cell-id="${escapeHtml(c.id)}">${cells.join('')}</tr>`;
  });
  return `<div class="scroll"><table id="cells"><thead>${head.join('')}</thead><tbody>\n${body.join('\n')}\n</tbody></table></div>`;
}

function correlationSection(input: SweepReportInput): string {
  if (input.spec.correlate.length < 2) {
    return '<p>The spec names fewer than two metrics under <code>correlate</code>; no correlations.</p>';
  }
  const rows = input.correlations.map((c) => {
    const ci = Number.isNaN(c.lo) ? 'n/a' : `[${c.lo.toFixed(2)}, ${c.hi.toFixed(2)}]`;
    return `<tr class="correlation">${td(c.a, 'text')}${td(c.b, 'text')}${td(Number.isNaN(c.rho) ? 'n/a' : c.rho.toFixed(3))}${td(ci)}${td(String(c.n))}</tr>`;
  });
  return '<div class="scroll"><table id="correlations"><thead><tr><th class="text">metric</th><th class="text">metric</th><th>Spearman ρ</th>'
    + `<th>95% CI</th><th>n (cells)</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`
    + `<p class="meta">ρ between the cells' means (over seeds), over the cells where both are finite; interval: percentile bootstrap over cells, `
    + `${BOOTSTRAP_RESAMPLES} resamples from a fixed seed. n/a below ${MIN_PAIRS} cells, or where one metric is constant.</p>`;
}

function metricList(input: SweepReportInput): string {
  const info = METRICS[input.spec.experiment];
  const items = input.metrics.map((m) => {
    const d = info.find((x) => x.name === m)?.description ?? '';
    return `<dt>${escapeHtml(m)}</dt><dd>${escapeHtml(d)}</dd>`;
  });
  return `<dl class="metrics">${items.join('')}</dl>`;
}

export function sweepReportHtml(input: SweepReportInput): string {
  const { spec } = input;
  const done = input.cells.filter((c) => (input.status?.get(c.id) ?? (input.summaries.some((s) => s.cellId === c.id) ? 'done' : 'pending')) === 'done').length;
  const axes = spec.axes.map((a) => `${a.option} ∈ {${a.values.join(', ')}}`).join(' × ') || 'no axes';
  const pictures = input.pictures.length === 0
    ? '<p>No pictures yet: they need a numeric axis and cells with results.</p>'
    : input.pictures.map((p, i) => `<figure id="picture-${i}">\n${inlineSvg(p.svg, `pic${i}`)}\n`
      + `<figcaption>${escapeHtml(p.title)} — pictures/${escapeHtml(p.name)}.svg, .png</figcaption></figure>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(`sweep ${spec.name} · ${spec.experiment}`)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Sweep ${escapeHtml(spec.name)}</h1>
<p class="meta">${escapeHtml(`${spec.experiment} · ${axes} · ${spec.seeds} seed(s) per cell · ${done} of ${input.cells.length} cells done`)}</p>
<h2>Spec</h2>
<pre id="spec">${escapeHtml(input.specText)}</pre>
<h2>Cells</h2>
${cellTable(input)}
<p class="meta">Each metric: mean ± standard error over the cell's seeds; n is the number of seeds. cells.csv holds every seed's values.</p>
${metricList(input)}
<h2>Pictures</h2>
${pictures}
<h2>Correlations across cells</h2>
${correlationSection(input)}
</body>
</html>
`;
}
