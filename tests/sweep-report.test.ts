// The sweep report from real results: a small FourRooms sweep (goals × gamma, two
// seeds a cell, one cell still pending) written to a folder, its files checked
// (CSV shape, SVG structure, PNG decoded by hand), then report.html loaded from
// file:// in a real headless Chromium (Debian's, driven by playwright-core): no
// console errors, no request beyond the page itself, every cell in the table,
// every picture drawn with its clip paths resolving, and a screenshot that is not blank.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { runJobLocal } from '../coordinator/local-run.ts';
import { metricLinesSvg } from '../coordinator/pictures/sweep/lines.ts';
import { embedSvg } from '../coordinator/pictures/sweep/parts.ts';
import { writeSweepReport } from '../coordinator/sweep/outputs.ts';
import type { JobResult } from '../shared/experiments/jobs.ts';
import type { SweepCell, SweepSpec } from '../shared/sweeps/types.ts';
import { createLocalPool } from '../worker/local-pool.ts';

const CHROMIUM = process.env.PLEARN_CHROMIUM ?? '/usr/bin/chromium';
const SEEDS = 2;

const spec: SweepSpec = {
  name: 'tiny <goals> & "gamma"',
  experiment: 'fourrooms',
  base: { agent: 'oracle', model: 'stochastic', fit: 'closed', variant: 'windy' },
  axes: [{ option: 'goals', values: [1, 3, 8] }, { option: 'gamma', values: [0.9, 0.99] }],
  seeds: SEEDS,
  metrics: ['wm-mse', 'r-ratio'],
  correlate: ['wm-mse', 'r-ratio', 'rank-m'],
};
const specText = 'name: tiny\n# a spec may hold anything: </pre><script>alert("x")</script>\n';

const cells: SweepCell[] = [];
for (const goals of spec.axes[0].values) {
  for (const gamma of spec.axes[1].values) {
    const index = cells.length;
    cells.push({
      id: (0xc0ffee00 + index).toString(16).padStart(16, '0'), index, values: { goals, gamma },
      options: { agent: 'oracle', model: 'stochastic', fit: 'closed', variant: 'windy', goals: String(goals), gamma: String(gamma), seeds: String(SEEDS) },
    });
  }
}
const PENDING = cells[cells.length - 1];

interface Built { dir: string; files: string[] }
let built: Promise<Built> | undefined;

/** Run every cell but the last once (shared by the tests), and write the report. */
function build(): Promise<Built> {
  built ??= (async () => {
    const pool = createLocalPool(2);
    const results = new Map<string, JobResult>();
    try {
      for (const c of cells) {
        if (c === PENDING) continue;
        const { result } = await runJobLocal({ experiment: 'fourrooms', options: { ...c.options } }, { pool });
        results.set(c.id, result);
      }
    } finally {
      await pool.close();
    }
    const dir = await mkdtemp(join(tmpdir(), 'plearn-sweep-report-'));
    const { files } = await writeSweepReport(dir, spec, specText, cells, results);
    return { dir, files };
  })();
  return built;
}

after(async () => {
  if (built) await rm((await built).dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Readers written here: tag balance of an SVG, a PNG decoder (chunks, zlib, filters)

function checkTags(xml: string): Map<string, number> {
  const counts = new Map<string, number>();
  const stack: string[] = [];
  const body = xml.replace(/^<\?xml[^>]*\?>/, '');
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:[^>"]|"[^"]*")*?)(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (close) {
      assert.equal(stack.pop(), name, `closing </${name}> matches its opening tag`);
    } else {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (!self) stack.push(name);
    }
  }
  assert.deepEqual(stack, [], 'every tag is closed');
  return counts;
}

function decodePng(png: Uint8Array): { width: number; height: number; channels: number; pixels: Uint8Array } {
  const buf = Buffer.from(png);
  assert.deepEqual([...buf.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      assert.equal(data[12], 0, 'not interlaced');
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[data[9]] ?? 0;
      assert.ok(channels > 0, `colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1));
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let p = 0;
      if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else if (filter === 4) {
        const q = a + b - c;
        const pa = Math.abs(q - a);
        const pb = Math.abs(q - b);
        const pc = Math.abs(q - c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else assert.equal(filter, 0, `filter ${filter}`);
      pixels[y * stride + x] = (v + p) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function colourStats(img: { channels: number; pixels: Uint8Array }): { distinct: number; nonWhite: number } {
  const seen = new Set<number>();
  let nonWhite = 0;
  const n = img.pixels.length / img.channels;
  for (let i = 0; i < n; i++) {
    const o = i * img.channels;
    const r = img.pixels[o];
    const g = img.pixels[o + Math.min(1, img.channels - 1)];
    const b = img.pixels[o + Math.min(2, img.channels - 1)];
    seen.add((r << 16) | (g << 8) | b);
    if (r < 250 || g < 250 || b < 250) nonWhite++;
  }
  return { distinct: seen.size, nonWhite: nonWhite / n };
}

// ---------------------------------------------------------------------------

test('the output folder: cells.csv, an SVG and a PNG per picture, report.html; nothing half-written', async () => {
  const { dir, files } = await build();
  const pictures = ['wm-mse-vs-goals', 'r-ratio-vs-goals', 'wm-mse-heatmap', 'r-ratio-heatmap'];
  assert.deepEqual(files, ['cells.csv', ...pictures.flatMap((p) => [`pictures/${p}.svg`, `pictures/${p}.png`]), 'report.html']);
  for (const f of files) assert.ok(existsSync(join(dir, f)), f);
  assert.deepEqual(readdirSync(dir).sort(), ['cells.csv', 'pictures', 'report.html']);
  assert.equal(readdirSync(join(dir, 'pictures')).length, 2 * pictures.length, 'no temporary files left');
  const csv = readFileSync(join(dir, 'cells.csv'), 'utf8').trimEnd().split('\n');
  assert.equal(csv.length, 1 + (cells.length - 1) * SEEDS, 'a line per finished cell × seed');
  assert.deepEqual(csv[0].split(',').slice(0, 5), ['cell_index', 'cell_id', 'seed_index', 'goals', 'gamma']);
  assert.ok(!csv.some((l) => l.includes(PENDING.id)), 'the pending cell has no rows');
});

test('pictures: bands as polygons, a heat-map square per cell with its value, PNG twice the SVG size and not blank', async () => {
  const { dir } = await build();
  const lines = readFileSync(join(dir, 'pictures/wm-mse-vs-goals.svg'), 'utf8');
  const lc = checkTags(lines);
  assert.ok(!lines.includes('band-'), 'no placeholder band outline is left');
  assert.ok((lc.get('polygon') ?? 0) >= 1, 'at least one mean ± SE band');
  assert.match(lines, />gamma</, 'legend heading names the other axis');
  const heat = readFileSync(join(dir, 'pictures/r-ratio-heatmap.svg'), 'utf8');
  checkTags(heat);
  assert.equal([...heat.matchAll(/class="heat-cell"/g)].length, cells.length);
  assert.equal([...heat.matchAll(/>–</g)].length, 1, 'the pending cell is drawn empty');
  assert.match(heat, /class="colour-bar"/);
  for (const name of ['wm-mse-vs-goals', 'r-ratio-heatmap']) {
    const svg = readFileSync(join(dir, `pictures/${name}.svg`), 'utf8');
    const img = decodePng(readFileSync(join(dir, `pictures/${name}.png`)));
    assert.equal(img.width, 2 * embedSvg(svg).width);
    const { distinct, nonWhite } = colourStats(img);
    assert.ok(distinct > 20 && nonWhite > 0.02, `${name}: ${distinct} colours, ${(100 * nonWhite).toFixed(1)}% non-white`);
  }
});

test('before any cell finishes: every cell pending, no pictures; overlapping writes to one folder both land', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plearn-sweep-pending-'));
  try {
    const none = new Map<string, JobResult>();
    const [a, b] = await Promise.all([
      writeSweepReport(dir, spec, specText, cells, none),
      writeSweepReport(dir, spec, specText, cells, none, { status: new Map([[cells[0].id, 'running']]) }),
    ]);
    assert.deepEqual(a.files, ['cells.csv', 'report.html']);
    assert.deepEqual(b.files, a.files);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    // Writes to one folder run in call order: the second (with a running cell) is what stays.
    assert.equal([...html.matchAll(/<tr class="cell pending"/g)].length, cells.length - 1);
    assert.equal([...html.matchAll(/<tr class="cell running"/g)].length, 1);
    assert.match(html, /No pictures yet/);
    assert.equal(readFileSync(join(dir, 'cells.csv'), 'utf8'), 'cell_index,cell_id,seed_index,goals,gamma\n');
    assert.deepEqual(readdirSync(join(dir, 'pictures')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('log axes: x values over three decades get a log axis labelled in values, y spanning decades a log y', () => {
  const svg = metricLinesSvg({
    title: 't', xLabel: 'width', yLabel: 'err',
    series: [{ label: 'a', points: [1, 10, 100, 1000].map((x) => ({ x, mean: 1 / x, se: 0.1 / x })) }],
  });
  checkTags(svg);
  assert.match(svg, />width \(log scale\)</);
  assert.match(svg, />err \(log scale\)</);
  const group = /<g class="tick-labels"[^>]*>([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? '';
  const xLabels = [...group.matchAll(/text-anchor="middle"[^>]*>([^<]*)</g)].map((m) => m[1]);
  for (const v of ['1', '10', '100', '1000']) assert.ok(xLabels.includes(v), `x tick ${v} in ${xLabels.join(' ')}`);
  const linear = metricLinesSvg({ title: 't', xLabel: 'goals', yLabel: 'err', series: [{ points: [1, 2, 3].map((x) => ({ x, mean: x, se: 0 })) }] });
  assert.ok(!linear.includes('log scale'));
  assert.ok(!linear.includes('<polygon'), 'no band where SE is 0');
});

test('report.html: text escaped, one page with no scripts or outside references, ids unique', async () => {
  const { dir } = await build();
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.ok(!/<script/i.test(html), 'no script element (the spec text\'s is escaped)');
  assert.ok(html.includes('&lt;/pre&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
  assert.ok(html.includes('tiny &lt;goals&gt; &amp; &quot;gamma&quot;'));
  assert.ok(!/\ssrc=/i.test(html), 'nothing loaded by URL');
  const urls = [...html.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]);
  assert.ok(urls.every((u) => u === 'http://www.w3.org/2000/svg'), urls.join(' '));
  const ids = [...html.matchAll(/\sid="([^"]*)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique across the inline SVGs');
  for (const m of html.matchAll(/url\(#([^)]*)\)/g)) assert.ok(ids.includes(m[1]), `url(#${m[1]}) resolves`);
});

/** The little of the DOM the page check reads (the project's types carry no DOM library). */
interface PageElement {
  readonly id: string;
  readonly textContent: string | null;
  readonly lastElementChild: PageElement | null;
  getAttribute(name: string): string | null;
  closest(selector: string): PageElement | null;
  getBoundingClientRect(): { readonly width: number };
}
interface PageDocument {
  readonly title: string;
  querySelectorAll(selector: string): Iterable<PageElement> & { readonly length: number };
  getElementById(id: string): PageElement | null;
}

const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && process.env.CI !== 'true'
  ? `no chromium at ${CHROMIUM}: run bash tests/support/ensure-chromium.sh (as root) to test the report in a browser` : false;

test('report.html in headless Chromium: no console errors, no requests, every cell shown, a non-blank screenshot', { skip }, async (t) => {
  assert.ok(haveChromium, `chromium is required under CI=true: ${CHROMIUM} is missing (bash tests/support/ensure-chromium.sh)`);
  const { dir } = await build();
  const url = pathToFileURL(join(dir, 'report.html')).href;
  const profile = await mkdtemp(join(tmpdir(), 'plearn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const errors: string[] = [];
    const requests: string[] = [];
    context.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
    const page = context.pages()[0] ?? await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
      else if (m.type() === 'warning') t.diagnostic(`console warning: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const response = await page.goto(url, { waitUntil: 'load' });
    assert.ok(response === null || response.ok(), 'the page loads');
    await page.waitForTimeout(200);

    const seen = await page.evaluate(() => {
      const document = (globalThis as unknown as { document: PageDocument }).document;
      const rows = [...document.querySelectorAll('#cells tbody tr')];
      const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
      const clips = [...document.querySelectorAll('[clip-path]')].map((e) => {
        const ref = /url\(#([^)]*)\)/.exec(e.getAttribute('clip-path') ?? '')?.[1] ?? '';
        const target = document.getElementById(ref);
        return target !== null && target.closest('svg') === e.closest('svg');
      });
      return {
        cellIds: rows.map((r) => r.getAttribute('data-cell-id')),
        statuses: rows.map((r) => r.lastElementChild?.textContent ?? ''),
        uniqueIds: new Set(ids).size === ids.length,
        clips,
        svgs: [...document.querySelectorAll('figure svg')].map((s) => s.getBoundingClientRect().width),
        correlations: document.querySelectorAll('#correlations tbody tr').length,
        title: document.title,
      };
    });
    assert.deepEqual(seen.cellIds, cells.map((c) => c.id), 'every cell has a row, in order');
    assert.deepEqual(seen.statuses, cells.map((c) => (c === PENDING ? 'pending' : 'done')));
    assert.ok(seen.uniqueIds);
    assert.ok(seen.clips.length > 0 && seen.clips.every(Boolean), 'every clip path resolves within its own picture');
    assert.equal(seen.svgs.length, 4);
    assert.ok(seen.svgs.every((w) => w > 200), `pictures drawn: widths ${seen.svgs.join(', ')}`);
    assert.equal(seen.correlations, 3, 'three pairs of correlate metrics');
    assert.equal(seen.title, 'sweep tiny <goals> & "gamma" · fourrooms');

    const shot = decodePng(await page.screenshot({ fullPage: true }));
    const { distinct, nonWhite } = colourStats(shot);
    assert.ok(distinct > 50 && nonWhite > 0.02, `screenshot: ${distinct} colours, ${(100 * nonWhite).toFixed(1)}% non-white`);
    assert.deepEqual(errors, [], 'no console errors');
    assert.deepEqual(requests, [], 'no requests beyond the page');
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
});
