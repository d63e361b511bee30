// Sweep spec files: every bad spec is refused naming the field and, for YAML, the
// line; range forms expand as documented; q-depth × q-width become q-hidden; cells
// come in product order; cell ids follow the resolved job, not its spelling; the
// shipped specs parse into the cells and work they promise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { cellCount, checkSweepTasks, describeCells, expandCells } from '../shared/sweeps/cells.ts';
import { expandRange, INTEGER_OPTIONS, parseSweepSpec, REAL_OPTIONS, SweepSpecError } from '../shared/sweeps/spec.ts';
import type { SweepSpec } from '../shared/sweeps/types.ts';
import { MAX_SWEEP_TASKS } from '../shared/protocol/limits.ts';
import { ConfigError } from '../shared/util/validate.ts';
import { parseSweepText, sweepCatalog } from '../coordinator/sweep/spec-file.ts';
import type { LoadedSweep } from '../coordinator/sweep/spec-file.ts';

const HEAD = 'name: t\nexperiment: fourrooms\nseeds: 2\n';
const TAIL = 'metrics: [wm-mse]\n';

async function refused(text: string): Promise<SweepSpecError> {
  try {
    await parseSweepText(text, 't.yaml');
  } catch (e) {
    assert.ok(e instanceof SweepSpecError, `a SweepSpecError, got ${String(e)}`);
    // The CLI prints ConfigErrors on one line and exits 2.
    assert.ok(e instanceof ConfigError);
    assert.ok(!e.message.includes('\n'), e.message);
    return e;
  }
  throw new Error(`accepted:\n${text}`);
}

/** Each case: the spec's text, and the message from its start (file, line and field included). */
const BAD: readonly (readonly [string, string, RegExp])[] = [
  ['unknown option', `${HEAD}axes:\n  goalz: [1, 2]\n${TAIL}`, /^t\.yaml line 5: axes\.goalz: unknown option; options for fourrooms: variant, /],
  ['a camelCase flag', `${HEAD}base:\n  fitSteps: 100\n${TAIL}`, /^t\.yaml line 5: base\.fitSteps: unknown option; did you mean fit-steps\?/],
  ['an option of another experiment', `${HEAD}axes:\n  grid: [10, 20]\n${TAIL}`,
    /^t\.yaml line 5: axes\.grid: does not apply to fourrooms \(it is an option of mountaincar, reacher\)$/],
  ['q-depth on fourrooms', `${HEAD}axes:\n  q-depth: [1, 2]\n${TAIL}`, /^t\.yaml line 5: axes\.q-depth: does not apply to fourrooms/],
  ['an axis value out of range', `${HEAD}axes:\n  variant: [windy]\n  goals:\n    - 4\n    - 69\n${TAIL}`,
    /^t\.yaml line 8: axes\.goals\[1\]: 69 is out of range \[1, 68\] \(cell 1: variant=windy goals=69\)$/],
  ['a base value out of range', `${HEAD}base:\n  fit-steps: 0\naxes:\n  goals: [1, 2]\n${TAIL}`,
    /^t\.yaml line 5: base\.fit-steps: 0 is out of range \[1, 1000000000\]$/],
  ['an unknown enum value', `${HEAD}axes:\n  variant: [deterministic, windy, stormy]\n${TAIL}`,
    /^t\.yaml line 5: axes\.variant\[2\]: expected one of deterministic, windy, teleporting, got "stormy"/],
  ['a value for a pair of options', `${HEAD}base:\n  goals-per-agent: 8\naxes:\n  goals: [12, 4]\n${TAIL}`,
    /^t\.yaml line 5: base\.goals-per-agent: 8 is out of range \[1, 4\]$/],
  ['seeds over the experiment\'s limit', 'name: t\nexperiment: reacher\nseeds: 101\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 3: seeds: 101 is out of range \[1, 100\]$/],
  ['an empty axis', `${HEAD}axes:\n  goals: []\n${TAIL}`, /^t\.yaml line 5: axes\.goals: an axis needs at least one value$/],
  ['a duplicated axis', `${HEAD}axes:\n  goals: [1, 2]\n  variant: [windy]\n  goals: [3]\n${TAIL}`,
    /^t\.yaml line 7: axes\.goals: duplicated axis \(first at line 5\)$/],
  ['a duplicated top-level key', `${HEAD}seeds: 3\n${TAIL}`, /^t\.yaml line 4: seeds: duplicated key \(first at line 3\)$/],
  ['a repeated value', `${HEAD}axes:\n  goals: [1, 2, 1]\n${TAIL}`, /^t\.yaml line 5: axes\.goals\[2\]: 1 repeats axes\.goals\[0\]/],
  ['two spellings of one job', `${HEAD}axes:\n  gamma: [0.99, "9.9e-1"]\n${TAIL}`,
    /^t\.yaml line 4: axes: cells 0 \(gamma=0\.99\) and 1 \(gamma=9\.9e-1\) are the same job/],
  ['q-hidden with q-depth', 'name: t\nexperiment: reacher\nbase:\n  q-hidden: "64,64"\naxes:\n  q-depth: [1, 2]\n  q-width: [64]\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 6: axes\.q-depth: q-depth and q-width expand into q-hidden, which base\.q-hidden already sets/],
  ['q-depth without q-width', 'name: t\nexperiment: reacher\naxes:\n  q-depth: [1, 2]\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 4: axes\.q-depth: q-depth needs q-width \(in base or axes\)/],
  ['a width out of range', 'name: t\nexperiment: reacher\nbase:\n  q-depth: 2\naxes:\n  q-width: [64, 5000]\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 6: axes\.q-width\[1\]: q-hidden\[0\]: 5000 is out of range \[1, 4096\] \(cell 1: q-width=5000\)$/],
  ['a depth out of range', 'name: t\nexperiment: reacher\nbase:\n  q-width: 64\naxes:\n  q-depth:\n    - 2\n    - 9\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 8: axes\.q-depth\[1\]: q-hidden: 1 to 8 comma-separated layer widths/],
  ['q-width for oracle agents', 'name: t\nexperiment: reacher\nbase:\n  agent: oracle\n  q-depth: 2\naxes:\n  q-width: [64]\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 5: base\.q-depth: q-hidden: applies to PQN agents only/],
  ['an option in base and axes', `${HEAD}base:\n  goals: 4\naxes:\n  goals: [1, 2]\n${TAIL}`,
    /^t\.yaml line 7: axes\.goals: goals is also set in base/],
  ['seeds in base', `${HEAD}base:\n  seeds: 3\n${TAIL}`, /^t\.yaml line 5: base\.seeds: seeds is set once, at the top level/],
  ['seeds as an axis', `${HEAD}axes:\n  seeds: [1, 2]\n${TAIL}`, /^t\.yaml line 5: axes\.seeds: seeds is set once, at the top level/],
  ['an unknown top-level key', `${HEAD}tracks: 4\n${TAIL}`, /^t\.yaml line 4: tracks: unknown key; allowed: name, experiment, seeds, track, base, axes, metrics, correlate$/],
  ['an option at the top level', `${HEAD}goals: 4\n${TAIL}`, /^t\.yaml line 4: goals: unknown key; .*\(options go under base or axes\)$/],
  ['more cells than the limit', 'name: t\nexperiment: reacher\naxes:\n  fit-steps: {from: 1, to: 1000, count: 101}\n'
    + '  eval-states: {from: 100, to: 100000, count: 100}\nmetrics: [wm-nmse]\n',
    /^t\.yaml line 3: axes: 101 × 100 = 10100 cells exceed the limit of 10000 per sweep/],
  ['a range count below 1', `${HEAD}axes:\n  goals: {from: 1, to: 68, count: 0}\n${TAIL}`,
    /^t\.yaml line 5: axes\.goals\.count: expected an integer in \[1, 10000\], got 0$/],
  ['a range from above to', `${HEAD}axes:\n  goals: {from: 20, to: 10, count: 3}\n${TAIL}`,
    /^t\.yaml line 5: axes\.goals: from \(20\) is greater than to \(10\)$/],
  ['a log range from 0', `${HEAD}axes:\n  goals:\n    from: 0\n    to: 68\n    count: 4\n    scale: log\n${TAIL}`,
    /^t\.yaml line 6: axes\.goals\.from: a log scale needs from > 0, got 0$/],
  ['an unknown scale', `${HEAD}axes:\n  goals: {from: 1, to: 8, count: 4, scale: quadratic}\n${TAIL}`,
    /^t\.yaml line 5: axes\.goals\.scale: expected linear or log, got "quadratic"$/],
  ['an unknown key in a range', `${HEAD}axes:\n  goals: {from: 1, to: 8, count: 4, step: 2}\n${TAIL}`,
    /^t\.yaml line 5: axes\.goals\.step: unknown key in a range form/],
  ['a range of a non-numeric option', `${HEAD}axes:\n  variant: {from: 1, to: 2, count: 2}\n${TAIL}`,
    /^t\.yaml line 5: axes\.variant: a range form needs a numeric option/],
  ['a range with values over the validator\'s range', `${HEAD}axes:\n  goals: {from: 10, to: 100, count: 3}\n${TAIL}`,
    /^t\.yaml line 5: axes\.goals\[2\]: 100 is out of range \[1, 68\] \(cell 2: goals=100\)$/],
  ['an empty value', `${HEAD}base:\n  goals:\n${TAIL}`, /^t\.yaml line 5: base\.goals: expected a string or a number, got nothing \(null\)$/],
  ['an unknown metric', `${HEAD}metrics: [wm-mse, q-nmse]\n`, /^t\.yaml line 4: metrics\[1\]: unknown metric "q-nmse"; available: wm-mse, /],
  ['no metrics', HEAD, /^t\.yaml line 1: metrics: required: the metrics to draw/],
  ['one metric to correlate', `${HEAD}${TAIL}correlate: [wm-mse]\n`, /^t\.yaml line 5: correlate: expected at least 2 metric names/],
  ['a bad name', 'name: Goals Sweep\nexperiment: fourrooms\nmetrics: [wm-mse]\n', /^t\.yaml line 1: name: expected lower-case letters/],
  ['an unknown experiment', 'name: t\nexperiment: cartpole\nmetrics: [wm-mse]\n',
    /^t\.yaml line 2: experiment: expected one of fourrooms, mountaincar, reacher, got "cartpole"$/],
  ['fractional seeds', 'name: t\nexperiment: fourrooms\nseeds: 2.5\nmetrics: [wm-mse]\n', /^t\.yaml line 3: seeds: expected a positive integer, got 2\.5$/],
  ['a list for a document', '- name: t\n', /^t\.yaml line 1: a sweep spec is a mapping of name, experiment/],
  ['broken YAML', `${HEAD}axes:\n  goals: [1, 2\n${TAIL}`, /^t\.yaml line \d: not valid YAML or JSON: /],
  ['a missing layout file', `${HEAD}base:\n  layout: /nonexistent/map.txt\n${TAIL}`, /^t\.yaml line 5: base\.layout: cannot read \/nonexistent\/map\.txt/],
];

for (const [what, text, expected] of BAD) {
  test(`refused, naming the field and line: ${what}`, async () => {
    const e = await refused(text);
    assert.match(e.message, expected);
  });
}

test('JSON specs get lines too, and errors without a file name the field alone', async () => {
  const json = '{\n  "name": "t",\n  "experiment": "fourrooms",\n  "axes": {\n    "goals": [1, 2, 99]\n  },\n  "metrics": ["wm-mse"]\n}\n';
  const e = await refused(json);
  assert.match(e.message, /^t\.yaml line 5: axes\.goals\[2\]: 99 is out of range \[1, 68\]/);
  assert.throws(() => parseSweepSpec({ name: 't', experiment: 'fourrooms', axes: { goals: { from: 3, to: 1, count: 2 } }, metrics: ['wm-mse'] }, sweepCatalog()),
    (err: unknown) => err instanceof SweepSpecError && err.message === 'axes.goals: from (3) is greater than to (1)' && err.field === 'axes.goals');
});

test('the sweep task limit counts agent tasks over all cells', () => {
  const spec = parseSweepSpec({ name: 't', experiment: 'fourrooms', axes: { goals: [1, 2, 3] }, metrics: ['wm-mse'] }, sweepCatalog());
  assert.doesNotThrow(() => checkSweepTasks(spec, MAX_SWEEP_TASKS, 3));
  assert.throws(() => checkSweepTasks(spec, MAX_SWEEP_TASKS + 1, 2),
    /axes: the first 2 of 3 cells plan 1000001 agent tasks, over the limit of 1000000 per sweep/);
  assert.throws(() => checkSweepTasks(spec, MAX_SWEEP_TASKS + 1, 3), (e: unknown) => e instanceof SweepSpecError
    && e.message.startsWith('axes: 3 cells plan 1000001 agent tasks'));
});

test('range forms: rounded, de-duplicated integers; real values to 12 digits; the ends exact', async () => {
  // 68^(k/9), k = 0…9: 1, 1.60, 2.55, 4.08, 6.52, 10.42, 16.66, 26.62, 42.55, 68.
  assert.deepEqual(expandRange({ from: 1, to: 68, count: 10, scale: 'log' }, true), [1, 2, 3, 4, 7, 10, 17, 27, 43, 68]);
  // 10^(k/9): 1, 1.29, 1.67, 2.15, 2.78, 3.59, 4.64, 5.99, 7.74, 10 — four values collide after rounding.
  assert.deepEqual(expandRange({ from: 1, to: 10, count: 10, scale: 'log' }, true), [1, 2, 3, 4, 5, 6, 8, 10]);
  assert.deepEqual(expandRange({ from: 0, to: 68, count: 5, scale: 'linear' }, true), [0, 17, 34, 51, 68]);
  assert.deepEqual(expandRange({ from: 1e-4, to: 1e-2, count: 3, scale: 'log' }, false), [1e-4, 1e-3, 1e-2]);
  assert.deepEqual(expandRange({ from: 0.1, to: 0.5, count: 5, scale: 'linear' }, false), [0.1, 0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual(expandRange({ from: 7, to: 9, count: 1, scale: 'linear' }, true), [7]);

  const loaded = await parseSweepText(`${HEAD}base:\n  agent: oracle\naxes:\n  goals: {from: 1, to: 68, count: 10, scale: log}\n`
    + `  gamma: {from: 0.9, to: 0.99, count: 2}\n${TAIL}`, 't.yaml');
  assert.deepEqual(loaded.spec.axes.map((a) => a.values), [[1, 2, 3, 4, 7, 10, 17, 27, 43, 68], [0.9, 0.99]]);
  assert.equal(loaded.cells.length, 20);
  // Every numeric option the range form knows is a real `plearn run` flag (a renamed flag would break ranges silently).
  const flags = new Set(Object.values(sweepCatalog().options).flat());
  for (const o of [...INTEGER_OPTIONS, ...REAL_OPTIONS]) assert.ok(flags.has(o) || o === 'q-depth' || o === 'q-width', o);
});

test('cells: the product of the axes, first axis slowest; options are base ∪ values ∪ seeds, as strings', async () => {
  const { cells, spec } = await parseSweepText(`${HEAD}base:\n  agent: oracle\n  fit-steps: 1e4\naxes:\n  variant: [windy, teleporting]\n`
    + `  goals: [1, 2, 3]\n${TAIL}`, 't.yaml');
  assert.equal(cellCount(spec), 6);
  assert.deepEqual(cells.map((c) => [c.index, c.values.variant, c.values.goals]),
    [[0, 'windy', 1], [1, 'windy', 2], [2, 'windy', 3], [3, 'teleporting', 1], [4, 'teleporting', 2], [5, 'teleporting', 3]]);
  assert.deepEqual(cells[4].options, { agent: 'oracle', 'fit-steps': '10000', variant: 'teleporting', goals: '2', seeds: '2' });
  assert.deepEqual(expandCells(spec).map((d) => d.positions), [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
  assert.equal(new Set(cells.map((c) => c.id)).size, 6);
  for (const c of cells) assert.match(c.id, /^[0-9a-f]{16}$/);

  const single = await parseSweepText(`${HEAD}base:\n  agent: oracle\n${TAIL}`, 't.yaml');
  assert.equal(single.cells.length, 1, 'no axes: one cell');
  assert.deepEqual(single.cells[0].values, {});
});

test('q-depth × q-width expand into q-hidden, depth copies of width', async () => {
  const { cells } = await parseSweepText('name: arch\nexperiment: reacher\nseeds: 1\naxes:\n  q-depth: [1, 2, 3]\n  q-width: [64, 256]\n'
    + 'metrics: [q-nmse]\n', 'arch.yaml');
  assert.deepEqual(cells.map((c) => [c.values['q-depth'], c.values['q-width'], c.options['q-hidden']]),
    [[1, 64, '64'], [1, 256, '256'], [2, 64, '64,64'], [2, 256, '256,256'], [3, 64, '64,64,64'], [3, 256, '256,256,256']]);
  assert.ok(cells.every((c) => !('q-depth' in c.options) && !('q-width' in c.options)));
  // Either may sit in base.
  const depthOnly = await parseSweepText('name: arch\nexperiment: reacher\nbase:\n  q-width: 128\naxes:\n  q-depth: [4]\n'
    + 'metrics: [q-nmse]\n', 'arch.yaml');
  assert.equal(depthOnly.cells[0].options['q-hidden'], '128,128,128,128');
});

async function oneCell(text: string): Promise<string> {
  const { cells } = await parseSweepText(text, 'x.yaml');
  assert.equal(cells.length, 1);
  return cells[0].id;
}

test('cell ids follow the resolved job: equal for equivalent spellings, different for different jobs', async () => {
  const fr = (base: string, axes = '') => oneCell(`name: a\nexperiment: fourrooms\nseeds: 3\nbase:\n  agent: oracle\n${base}${axes}${TAIL}`);
  const five = await fr('  goals: 5\n');
  assert.equal(await fr('  goals: "5"\n'), five, 'goals 5 and "5"');
  assert.equal(await fr('  goals: 5\n  model: stochastic\n  gamma: 0.99\n'), five, 'defaults written out');
  assert.equal(await fr('', 'axes:\n  goals: [5]\n'), five, 'an axis value and a base value');
  assert.equal(await oneCell(`name: b\nexperiment: fourrooms\nseeds: 3\nbase:\n  goals: 5\naxes:\n  agent: [oracle]\n${TAIL}`), five,
    'another sweep with other axes');
  assert.notEqual(await fr('  goals: 6\n'), five, 'goals 6');
  assert.notEqual(await fr('  goals: 5\n  model: deterministic\n'), five, 'another model class');
  assert.notEqual(await oneCell(`name: a\nexperiment: fourrooms\nseeds: 4\nbase:\n  agent: oracle\n  goals: 5\n${TAIL}`), five, 'seeds');

  const rc = (opts: string) => oneCell(`name: r\nexperiment: reacher\n${opts}metrics: [q-nmse]\n`);
  const arch = await rc('base:\n  q-hidden: "256,256"\n');
  assert.equal(await rc('base:\n  q-depth: 2\n  q-width: 256\n'), arch, 'q-hidden and q-depth × q-width');
  assert.equal(await rc('seeds: 1\nbase:\n  preset: quick\n  q-hidden: 256, 256\n  env-steps: 2e6\n'), arch, 'preset defaults, spaces, 2e6');
  assert.notEqual(await rc('base:\n  q-hidden: "256,256,256"\n'), arch, 'one layer more');
  assert.notEqual(await rc('base:\n  q-hidden: "256,256"\n  preset: paper\n'), arch, 'the paper preset');
});

const SHIPPED: readonly { file: string; cells: number; tasks: number; fits: number; seeds: number }[] = [
  // 3 variants × 2 model classes × 10 goal counts; one oracle agent per seed holds all its goals.
  { file: 'sweeps/fourrooms-goals.yaml', cells: 60, tasks: 60 * 5, fits: 60 * 5, seeds: 5 },
  // goal-family × goals-per-agent {1, 2, 4}: 4 + 2 + 1 agents per seed.
  { file: 'sweeps/mountaincar-goals.yaml', cells: 6, tasks: 2 * 3 * (4 + 2 + 1), fits: 6 * 3, seeds: 3 },
  // 6 depths × 7 widths, one PQN agent (all four goals) per seed.
  // track: 4 — each seed's own fit and three along training.
  { file: 'sweeps/reacher-arch.yaml', cells: 42, tasks: 42 * 10, fits: 42 * 10 * 4, seeds: 10 },
  { file: 'sweeps/reacher-arch-quick.yaml', cells: 6, tasks: 6 * 2, fits: 6 * 2 * 4, seeds: 2 },
];

for (const s of SHIPPED) {
  test(`${s.file} parses: ${s.cells} cells, ${s.tasks} agent tasks, ${s.fits} fits`, async () => {
    const loaded: LoadedSweep = await parseSweepText(await readFile(s.file, 'utf8'), s.file);
    assert.equal(loaded.cells.length, s.cells);
    assert.equal(loaded.spec.seeds, s.seeds);
    assert.equal(loaded.work.reduce((a, w) => a + w.tasks, 0), s.tasks);
    assert.equal(loaded.work.reduce((a, w) => a + w.fits, 0), s.fits);
    assert.equal(new Set(loaded.cells.map((c) => c.id)).size, s.cells, 'distinct jobs');
  });
}

test('the shipped specs say what they claim', async () => {
  const goals = await parseSweepText(await readFile('sweeps/fourrooms-goals.yaml', 'utf8'), 'f');
  // The axes in any order: the order only decides which varies fastest.
  assert.deepEqual(Object.fromEntries(goals.spec.axes.map((a) => [a.option, a.values])), {
    variant: ['deterministic', 'windy', 'teleporting'], model: ['deterministic', 'stochastic'], goals: [1, 2, 3, 4, 5, 8, 12, 20, 34, 68],
  });
  assert.equal(goals.spec.base.agent, 'oracle');
  const arch = await parseSweepText(await readFile('sweeps/reacher-arch.yaml', 'utf8'), 'r');
  assert.equal(arch.spec.base.preset, 'paper');
  assert.equal(arch.cells[41].options['q-hidden'], Array(6).fill('2048').join(','));
  assert.equal(arch.cells[0].options['q-hidden'], '32');
  assert.equal(arch.cells[0].options.track, '4', 'top-level track: 4 is every cell\'s --track 4');
});

test('track: the top-level key, or an option in base or axes; refused where it cannot apply', async () => {
  const mc = 'name: t\nexperiment: mountaincar\nseeds: 1\nmetrics: [wm-nmse]\n';
  const top = await parseSweepText(`${mc}track: 3\n`, 't.yaml');
  const inBase = await parseSweepText(`${mc}base:\n  track: 3\n`, 't.yaml');
  assert.equal(top.cells[0].id, inBase.cells[0].id, 'the same job either way');
  const untracked = await parseSweepText(`${mc}base:\n  track: 1\n`, 't.yaml');
  const plain = await parseSweepText(mc, 't.yaml');
  assert.equal(untracked.cells[0].id, plain.cells[0].id, 'track 1 is no tracking: the same cell as before tracking existed');
  assert.match((await refused(`${mc}track: 3\nbase:\n  track: 2\n`)).message, /^t\.yaml line 5: track: also set in base/);
  assert.match((await refused('name: t\nexperiment: fourrooms\nmetrics: [wm-mse]\ntrack: 2\n')).message, /^t\.yaml line 4: track: .*does not apply to fourrooms/);
  assert.match((await refused(`${mc}track: 40\n`)).message, /track: .*out of range \[1, 16\]/);
});

test('describeCells: the dry-run table and JSON', async () => {
  const { spec, cells, work } = await parseSweepText(`${HEAD}base:\n  agent: oracle\naxes:\n  goals: [1, 3]\n${TAIL}`, 't.yaml');
  const { text, json } = describeCells(spec, cells, work);
  assert.equal(json.tasks, 4);
  assert.equal(json.fits, 4);
  assert.deepEqual(json.cells.map((c) => [c.index, c.id, c.tasks, c.fits]), cells.map((c) => [c.index, c.id, 2, 2]));
  const lines = text.split('\n');
  assert.equal(lines[0], 'sweep t · fourrooms · 2 cell(s) × 2 seed(s) · 4 agent task(s), 4 fit(s)');
  assert.equal(lines[2], 'axes: goals [1, 3]');
  assert.match(lines[6], new RegExp(`^ {3}1  ${cells[1].id}      2     2  goals=3$`));
});

test('parseSweepSpec takes any parsed document (JSON values), and keeps spec order', () => {
  const spec: SweepSpec = parseSweepSpec({
    name: 'x', experiment: 'mountaincar', seeds: 2, base: { preset: 'quick' },
    axes: { 'goal-family': ['velocity', 'position'], 'goals-per-agent': [4, 1] }, metrics: ['wm-nmse'], correlate: ['q-nmse', 'wm-nmse'],
  }, sweepCatalog());
  assert.deepEqual(spec.axes, [{ option: 'goal-family', values: ['velocity', 'position'] }, { option: 'goals-per-agent', values: [4, 1] }]);
  assert.deepEqual(spec.correlate, ['q-nmse', 'wm-nmse']);
  assert.throws(() => parseSweepSpec({ ...spec, base: { preset: true } }, sweepCatalog()),
    (e: unknown) => e instanceof SweepSpecError && e.message === 'base.preset: expected a string or a number, got boolean');
});
