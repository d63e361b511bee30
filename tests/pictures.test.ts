// Run pictures: the data behind them checked against dynamics written out here,
// the SVG checked for well-formed XML and for one element per arrow / line / point,
// and the PNG decoded by hand (chunks, zlib, row filters) to see it has the asked
// size and is not blank.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import type { TrainingCurves } from '../shared/agents/curves.ts';
import { mountainCarQuiver, reacherRolloutInputs, reacherRollouts } from '../shared/continuous/picture-data.ts';
import type { Predict } from '../shared/continuous/wm-metrics.ts';
import { mountainCar } from '../shared/envs/mountaincar.ts';
import { REACHER_ACTION_TABLE, reacher } from '../shared/envs/reacher.ts';
import { Rng } from '../shared/util/rng.ts';
import { svgToPng } from '../coordinator/pictures/png.ts';
import { escapeXml, formatTick, niceStep, niceTicks, renderSvg, type Figure } from '../coordinator/pictures/svg.ts';
import {
  QUIVER_NV, QUIVER_NX, ROLLOUT_STARTS, quiverFigure, rolloutsFigure, trainingCurvesFigure, writePictures,
} from '../coordinator/pictures/index.ts';

// ---------------------------------------------------------------------------
// Independent references

/** MountainCar's step from the reference implementation’s environments, written out again. */
function mcByHand(x: number, v: number, a: number): [number, number] {
  let vn = v + (a - 1) * 0.001 - Math.cos(3 * x) * 0.0025;
  vn = Math.min(0.07, Math.max(-0.07, vn));
  const xn = Math.min(0.6, Math.max(-1.2, x + vn));
  if (xn === -1.2 && vn < 0) vn = 0;
  return [xn, vn];
}

/** Kinematic Reacher from the reference implementation’s environments (semi-implicit Euler, dt 0.05) and its fingertip. */
function reacherTipsByHand(s: Float64Array, torques: [number, number], T: number): Float64Array {
  let [t1, t2, w1, w2] = s;
  const tips = new Float64Array(2 * (T + 1));
  tips[0] = Math.cos(t1) + Math.cos(t2);
  tips[1] = Math.sin(t1) + Math.sin(t2);
  for (let t = 1; t <= T; t++) {
    w1 += 0.05 * torques[0];
    w2 += 0.05 * torques[1];
    t1 += 0.05 * w1;
    t2 += 0.05 * w2;
    tips[2 * t] = Math.cos(t1) + Math.cos(t2);
    tips[2 * t + 1] = Math.sin(t1) + Math.sin(t2);
  }
  return tips;
}

// ---------------------------------------------------------------------------
// A minimal XML well-formedness check (no parser among the dependencies)

const ENTITY = /^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;

function checkEntities(s: string, where: string): void {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    if (!ENTITY.test(s.slice(i))) throw new Error(`bad entity in ${where}: ${s.slice(i, i + 12)}`);
  }
}

/** Throws unless `xml` is one well-formed element tree; returns element counts by name. */
function checkXml(xml: string): Map<string, number> {
  const counts = new Map<string, number>();
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  if (xml.startsWith('<?xml')) {
    i = xml.indexOf('?>');
    if (i < 0) throw new Error('unterminated XML declaration');
    i += 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const txt = xml.slice(i, lt < 0 ? xml.length : lt);
    if (stack.length === 0 && txt.trim() !== '') throw new Error(`text outside the root: ${txt.slice(0, 20)}`);
    checkEntities(txt, 'text');
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    const close = /^<\/([A-Za-z_][\w:.-]*)\s*>/.exec(xml.slice(lt));
    if (close) {
      const open = stack.pop();
      if (open !== close[1]) throw new Error(`</${close[1]}> closes <${open ?? 'nothing'}>`);
      i = lt + close[0].length;
      continue;
    }
    const name = /^<([A-Za-z_][\w:.-]*)/.exec(xml.slice(lt));
    if (!name) throw new Error(`bad tag at ${lt}: ${xml.slice(lt, lt + 20)}`);
    if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
    let j = lt + name[0].length;
    const seen = new Set<string>();
    for (;;) {
      const rest = xml.slice(j);
      const end = /^\s*(\/?)>/.exec(rest);
      if (end) {
        j += end[0].length;
        if (end[1] !== '/') stack.push(name[1]);
        break;
      }
      const attr = /^\s+([A-Za-z_][\w:.-]*)\s*=\s*("[^"<]*"|'[^'<]*')/.exec(rest);
      if (!attr) throw new Error(`bad attribute in <${name[1]}>: ${rest.slice(0, 30)}`);
      if (seen.has(attr[1])) throw new Error(`attribute ${attr[1]} twice in <${name[1]}>`);
      seen.add(attr[1]);
      checkEntities(attr[2], `attribute ${attr[1]}`);
      j += attr[0].length;
    }
    counts.set(name[1], (counts.get(name[1]) ?? 0) + 1);
    i = j;
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (roots !== 1) throw new Error('no root element');
  return counts;
}

const countOf = (svg: string, cls: string) => svg.split(`class="${cls}"`).length - 1;

// ---------------------------------------------------------------------------
// A minimal PNG decoder: 8-bit greyscale / RGB / RGBA, no interlace

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function decodePng(png: Uint8Array): { width: number; height: number; channels: number; pixels: Uint8Array } {
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE, 'PNG signature');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let off = 8;
  let width = 0; let height = 0; let channels = 0;
  const idat: Uint8Array[] = [];
  let first = true;
  while (off < png.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    const data = png.subarray(off + 8, off + 8 + len);
    if (first) assert.equal(type, 'IHDR', 'IHDR comes first');
    first = false;
    if (type === 'IHDR') {
      width = view.getUint32(off + 8);
      height = view.getUint32(off + 12);
      assert.equal(data[8], 8, 'bit depth 8');
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[data[9]] ?? 0;
      assert.ok(channels > 0, `colour type ${data[9]} handled`);
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1), 'inflated size matches IHDR');
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[row + i - channels] : 0;
      const b = y > 0 ? pixels[row - stride + i] : 0;
      const c = y > 0 && i >= channels ? pixels[row - stride + i - channels] : 0;
      let p: number;
      switch (filter) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        case 4: {
          const q = a + b - c;
          const pa = Math.abs(q - a); const pb = Math.abs(q - b); const pc = Math.abs(q - c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error(`filter ${filter}`);
      }
      pixels[row + i] = (src[i] + p) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function distinctColours(img: { channels: number; pixels: Uint8Array }): number {
  const seen = new Set<number>();
  for (let i = 0; i < img.pixels.length; i += img.channels) {
    let key = 0;
    for (let c = 0; c < img.channels; c++) key = key * 256 + img.pixels[i + c];
    seen.add(key);
    if (seen.size > 50) break;
  }
  return seen.size;
}

test('the XML check itself rejects what is not well-formed', () => {
  assert.equal(checkXml('<?xml version="1.0"?><a x="1"><b/>t &amp; u</a>').get('b'), 1);
  for (const bad of ['<a><b></a></b>', '<a>&</a>', '<a x="1" x="2"/>', '<a x=1/>', '<a/><b/>', '<a>', 'x<a/>', '<a y="<"/>']) {
    assert.throws(() => checkXml(bad), Error, bad);
  }
});

// ---------------------------------------------------------------------------
// Data

test('quiver: true arrows follow the MountainCar step, model arrows follow predict', () => {
  // Any deterministic map will do; it must see the grid states and the asked action.
  const seen: number[] = [];
  const model: Predict = (s, a, out, n) => {
    for (let i = 0; i < n; i++) {
      seen.push(a[i]);
      out[2 * i] = s[2 * i] + 0.3 * Math.sin(40 * s[2 * i + 1]);
      out[2 * i + 1] = 0.5 * s[2 * i + 1] - 0.001 * s[2 * i];
    }
  };
  for (const [nx, nv] of [[13, 9], [QUIVER_NX, QUIVER_NV]]) {
    for (const action of [0, 1, 2]) {
      seen.length = 0;
      const q = mountainCarQuiver(mountainCar, model, action, nx, nv);
      assert.equal(q.x.length, nx * nv);
      assert.ok(seen.length === nx * nv && seen.every((a) => a === action));
      let wallResets = 0;
      for (let j = 0; j < nv; j++) {
        for (let i = 0; i < nx; i++) {
          const k = j * nx + i;
          // Cell centres of the uniform box, x varying fastest.
          assert.ok(Math.abs(q.x[k] - (-1.2 + (i + 0.5) * (1.8 / nx))) < 1e-12);
          assert.ok(Math.abs(q.v[k] - (-0.07 + (j + 0.5) * (0.14 / nv))) < 1e-12);
          const [xn, vn] = mcByHand(q.x[k], q.v[k], action);
          assert.equal(q.dxTrue[k], xn - q.x[k]);
          assert.equal(q.dvTrue[k], vn - q.v[k]);
          if (xn === -1.2 && vn === 0) wallResets++;
          assert.equal(q.dxModel[k], q.x[k] + 0.3 * Math.sin(40 * q.v[k]) - q.x[k]);
          assert.equal(q.dvModel[k], 0.5 * q.v[k] - 0.001 * q.x[k] - q.v[k]);
        }
      }
      // The picture's grid reaches the left wall fast enough to show its velocity reset.
      if (nx === QUIVER_NX) assert.ok(wallResets > 0, `action ${action}: some cell hits the wall`);
    }
  }
  assert.throws(() => mountainCarQuiver(reacher, model, 0, 3, 3), RangeError);
  assert.throws(() => mountainCarQuiver(mountainCar, model, 0, 0, 3), RangeError);
});

test('reacher rollouts: true tips follow the arm; the true step as model coincides; a perturbed model drifts', () => {
  const T = 40;
  const inputs = reacherRolloutInputs(reacher, new Rng(7), 5, T);
  const again = reacherRolloutInputs(reacher, new Rng(7), 5, T);
  assert.deepEqual(again, inputs, 'a pure function of the Rng');
  for (let i = 0; i < 5; i++) {
    const a = inputs.actions[i * T];
    assert.ok(inputs.actions.subarray(i * T, (i + 1) * T).every((b) => b === a), 'constant per rollout');
    assert.ok(REACHER_ACTION_TABLE[2 * a] !== 0 || REACHER_ACTION_TABLE[2 * a + 1] !== 0, 'some torque');
    for (let d = 0; d < 2; d++) assert.ok(Math.abs(inputs.starts[4 * i + d]) <= Math.PI);
    for (let d = 2; d < 4; d++) assert.ok(Math.abs(inputs.starts[4 * i + d]) <= 1);
  }

  const exact = reacherRollouts(reacher, reacher.step, inputs.starts, 5, inputs.actions, T);
  assert.equal(exact.trueTips.length, 5 * (T + 1) * 2);
  assert.deepEqual(exact.modelTips, exact.trueTips);
  for (let i = 0; i < 5; i++) {
    const a = inputs.actions[i * T];
    const ref = reacherTipsByHand(inputs.starts.subarray(4 * i, 4 * i + 4),
      [REACHER_ACTION_TABLE[2 * a], REACHER_ACTION_TABLE[2 * a + 1]], T);
    const got = exact.trueTips.subarray(i * (T + 1) * 2, (i + 1) * (T + 1) * 2);
    for (let k = 0; k < ref.length; k++) assert.ok(Math.abs(got[k] - ref[k]) < 1e-12, `rollout ${i} value ${k}`);
  }

  // A small bias on ω₁: one step is barely off, but fed back open loop it compounds.
  const biased: Predict = (s, a, out, n) => {
    reacher.step(s, a, out, n);
    for (let i = 0; i < n; i++) out[4 * i + 2] += 0.01;
  };
  const off = reacherRollouts(reacher, biased, inputs.starts, 5, inputs.actions, T);
  assert.deepEqual(off.trueTips, exact.trueTips, 'the true rollout does not depend on the model');
  const gap = (t: number) => {
    let g = 0;
    for (let i = 0; i < 5; i++) {
      const o = (i * (T + 1) + t) * 2;
      g += Math.hypot(off.modelTips[o] - off.trueTips[o], off.modelTips[o + 1] - off.trueTips[o + 1]);
    }
    return g / 5;
  };
  assert.equal(gap(0), 0, 'same start');
  assert.ok(gap(1) < 0.002, `one step: ${gap(1)}`);
  assert.ok(gap(T) > 0.1, `after ${T} steps: ${gap(T)}`);
  assert.ok(gap(T) > 10 * gap(1));
});

// ---------------------------------------------------------------------------
// SVG

test('svg: well-formed, escaped, deterministic, one element per arrow, line and point', () => {
  const xs = Float64Array.of(0, 1, 2, 3);
  const fig: Figure = {
    title: 'a <b> & "c" \u0001',
    panels: [
      {
        title: "it's", xLabel: 'x & y', yLabel: '<y>', layers: [
          { kind: 'line', x: xs, y: Float64Array.of(1, 3, 2, 4), color: '#ff0000', label: 'one <1>' },
          // A gap (NaN) splits a line in two.
          { kind: 'line', x: xs, y: Float64Array.of(1, NaN, 2, 3), color: '#00ff00', dash: '4 2', label: 'two' },
          { kind: 'points', x: xs, y: xs, color: '#0000ff', label: 'pts' },
          { kind: 'points', x: xs.subarray(0, 2), y: xs.subarray(0, 2), color: '#000000', shape: 'cross' },
        ],
      },
      {
        logY: true, legend: 'above', layers: [
          { kind: 'arrows', x: xs, y: Float64Array.of(1, 10, 100, 1000), dx: Float64Array.of(1, 0, -1, 0),
            dy: Float64Array.of(0, 1, 0, -1), color: '#123456', cellX: 1, cellY: 1, label: 'arrows' },
          // Values ≤ 0 cannot sit on a log axis: the line breaks there.
          { kind: 'line', x: xs, y: Float64Array.of(0.5, 2, 0, 3), color: '#000000' },
        ],
      },
    ],
  };
  const svg = renderSvg(fig);
  const counts = checkXml(svg);
  // 'one' whole; 'two' split at NaN (its lone first point makes no line); the log line split at 0.
  assert.equal(countOf(svg, 'series'), 3);
  assert.equal(countOf(svg, 'point'), 6);
  assert.equal(countOf(svg, 'arrow'), 4);
  assert.equal(counts.get('polyline'), 3);
  assert.ok(svg.includes('a &lt;b&gt; &amp; &quot;c&quot; '), 'title escaped, control character dropped');
  assert.ok(svg.includes('one &lt;1&gt;'));
  assert.ok(svg.includes('it&apos;s'));
  assert.ok(!/NaN|Infinity|undefined/.test(svg));
  assert.equal(renderSvg(fig), svg, 'deterministic');
  assert.equal(escapeXml('<&>"\''), '&lt;&amp;&gt;&quot;&apos;');

  const labels = (lo: number, hi: number) => niceTicks(lo, hi)
    .map((v) => formatTick(v, niceStep(lo, hi), Math.max(Math.abs(lo), Math.abs(hi))));
  assert.deepEqual(labels(-0.07, 0.07), ['-0.06', '-0.04', '-0.02', '0', '0.02', '0.04', '0.06']);
  assert.deepEqual(labels(0, 5e6), ['0', '1e6', '2e6', '3e6', '4e6', '5e6']);
  assert.deepEqual(labels(0, 3e6), ['0', '5e5', '1e6', '1.5e6', '2e6', '2.5e6', '3e6']);
  assert.deepEqual(labels(-1.2, 0.6), ['-1.0', '-0.5', '0', '0.5']);
});

test('svg: the run figures hold the expected numbers of arrows, paths and markers', () => {
  const quiver = renderSvg(quiverFigure(mountainCar.step));
  checkXml(quiver);
  assert.equal(countOf(quiver, 'arrow'), 2 * QUIVER_NX * QUIVER_NV, 'true and model arrow per cell');

  const rollouts = renderSvg(rolloutsFigure(reacher.step, 3));
  checkXml(rollouts);
  // Two reference circles, then a true and a model path per start.
  assert.equal(countOf(rollouts, 'series'), 2 + 2 * ROLLOUT_STARTS);
  assert.equal(countOf(rollouts, 'point'), 4 + ROLLOUT_STARTS, 'four goals and the starts');
  assert.equal(renderSvg(rolloutsFigure(reacher.step, 3)), rollouts, 'same seed, same picture');
  assert.notEqual(renderSvg(rolloutsFigure(reacher.step, 4)), rollouts, 'the seed picks the starts');

  const curves = [syntheticCurves(4, 0), syntheticCurves(2, 1)];
  const tc = renderSvg(trainingCurvesFigure('reacher', curves));
  checkXml(tc);
  assert.equal(countOf(tc, 'series'), 6 + 2 * 2, 'a return line per (agent, goal), a loss and an ε line per agent');
});

// ---------------------------------------------------------------------------
// PNG

test('png: signature, requested size, not blank; still renders with no fonts at all', () => {
  const svg = renderSvg(quiverFigure(mountainCar.step));
  const [, w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
  for (const opts of [{}, { loadSystemFonts: false }]) {
    const png = svgToPng(svg, 400, opts);
    const img = decodePng(png);
    assert.equal(img.width, 400);
    assert.equal(img.height, Math.round((400 * h) / w));
    assert.ok(distinctColours(img) >= 2, 'more than one colour');
  }
  const native = decodePng(svgToPng(svg));
  assert.deepEqual([native.width, native.height], [w, h], 'no width: the SVG\'s own size');
  assert.throws(() => svgToPng(svg, 0), RangeError);
});

// ---------------------------------------------------------------------------
// writePictures

function syntheticCurves(nGoals: number, phase: number): TrainingCurves {
  const U = 60;
  const E = 12;
  const updateSteps = new Float64Array(U);
  const loss = new Float64Array(U);
  const epsilon = new Float64Array(U);
  for (let i = 0; i < U; i++) {
    updateSteps[i] = (i + 1) * 16384;
    loss[i] = 0.05 * Math.exp(-i / 20) + 1e-4 * (2 + Math.sin(i + phase));
    epsilon[i] = Math.max(0.1, 1 - (0.9 * i) / (U / 2));
  }
  const evalSteps = new Float64Array(E);
  const evalReturn = Array.from({ length: nGoals }, () => new Float64Array(E));
  for (let e = 0; e < E; e++) {
    evalSteps[e] = ((e + 1) * U * 16384) / E;
    evalReturn.forEach((r, g) => { r[e] = 0.9 * (1 - Math.exp(-e / (2 + g + phase))); });
  }
  return { updateSteps, loss, epsilon, evalSteps, evalReturn, goalLabels: evalReturn.map((_, g) => `goal ${g}`) };
}

test('writePictures writes SVG and PNG files for both experiments', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plearn-pictures-'));
  try {
    const mc = join(dir, 'mc');
    const mcFiles = await writePictures(mc, { experiment: 'mountaincar', predict: mountainCar.step, curves: [syntheticCurves(4, 0)], seed: 1 });
    assert.deepEqual(mcFiles, ['quiver.svg', 'quiver.png', 'training-curves.svg', 'training-curves.png']);

    const re = join(dir, 're');
    const reFiles = await writePictures(re, { experiment: 'reacher', predict: reacher.step, curves: [syntheticCurves(2, 0), syntheticCurves(2, 1)], seed: 1 });
    assert.deepEqual(reFiles, ['rollouts.svg', 'rollouts.png', 'training-curves.svg', 'training-curves.png']);

    const bare = join(dir, 'bare');
    assert.deepEqual(await writePictures(bare, { experiment: 'reacher', predict: reacher.step, seed: 1 }), ['rollouts.svg', 'rollouts.png']);

    for (const [d, files] of [[mc, mcFiles], [re, reFiles]] as const) {
      assert.deepEqual(readdirSync(d).sort(), [...files].sort(), 'no temporary files left behind');
      for (const f of files) {
        const bytes = readFileSync(join(d, f));
        if (f.endsWith('.svg')) checkXml(bytes.toString('utf8'));
        else {
          const img = decodePng(new Uint8Array(bytes));
          const svg = readFileSync(join(d, f.replace(/\.png$/, '.svg')), 'utf8');
          const svgW = Number(/<svg[^>]*\swidth="(\d+)"/.exec(svg)![1]);
          assert.equal(img.width, 2 * svgW, 'PNG at twice the SVG size');
          assert.ok(distinctColours(img) >= 2);
        }
      }
    }
    assert.ok(!existsSync(join(bare, 'training-curves.svg')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
