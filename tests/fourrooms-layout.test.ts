import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LayoutError, parseLayout } from '../shared/envs/fourrooms/layout.ts';
import { DEFAULT_LAYOUT_TEXT } from '../shared/envs/fourrooms/default-layout.ts';
import { buildWorld, stepFourRooms, type FourRoomsWorld } from '../shared/envs/fourrooms/fourrooms.ts';
import { sampleNext } from '../shared/envs/tabular.ts';
import { Rng } from '../shared/util/rng.ts';

const UP = 0, RIGHT = 1, DOWN = 2, LEFT = 3;

function row(w: FourRoomsWorld, s: number, a: number): Float64Array {
  const start = (s * w.nActions + a) * w.nStates;
  return w.P.subarray(start, start + w.nStates);
}

/** Dense expectation from a sparse literal {state: prob}. */
function dense(n: number, entries: Record<number, number>): number[] {
  const out = new Array<number>(n).fill(0);
  for (const [k, v] of Object.entries(entries)) out[Number(k)] = v;
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) < 1e-12, `${what}[${i}]: got ${actual[i]}, want ${expected[i]}`);
  }
}

function assertRowsSumToOne(w: FourRoomsWorld): void {
  for (let i = 0; i < w.nStates * w.nActions; i++) {
    let sum = 0;
    for (let t = 0; t < w.nStates; t++) sum += w.P[i * w.nStates + t];
    assert.ok(Math.abs(sum - 1) < 1e-12, `row ${i} sums to ${sum}`);
  }
}

// A 3x3 ring around one wall; every cell touches an edge or the wall, so blocked
// moves show up in each row. Unequal right/left weights pin down the rotation sense.
const RING = `name ring
variant gusty forward=0.5 right=0.3 left=0.1 back=0.1
map
...
.#.
...
end
`;

test('3x3 ring: whole kernel equals a hand-built one', () => {
  const w = buildWorld(parseLayout(RING), 'gusty');
  assert.equal(w.nStates, 8);
  assert.equal(w.nActions, 4);
  assert.equal(w.name, 'ring/gusty');
  // States, row-major: 0:(0,0) 1:(1,0) 2:(2,0) 3:(0,1) 4:(2,1) 5:(0,2) 6:(1,2) 7:(2,2).
  // Where a clean move in each direction [up, right, down, left] lands, worked out on paper.
  const lands = [
    [0, 1, 3, 0],
    [1, 2, 1, 0],
    [2, 2, 4, 1],
    [0, 3, 5, 3],
    [2, 4, 7, 4],
    [3, 6, 5, 5],
    [6, 7, 6, 5],
    [4, 7, 7, 6],
  ];
  const expected = new Float64Array(8 * 4 * 8);
  for (let s = 0; s < 8; s++) {
    for (let a = 0; a < 4; a++) {
      const base = (s * 4 + a) * 8;
      expected[base + lands[s][a]] += 0.5;
      expected[base + lands[s][(a + 1) % 4]] += 0.3; // clockwise: up -> right
      expected[base + lands[s][(a + 3) % 4]] += 0.1;
      expected[base + lands[s][(a + 2) % 4]] += 0.1;
    }
  }
  assertClose(w.P, expected, 'P');
  assertRowsSumToOne(w);

  // A few rows written out in full, independent of the composition above.
  assertClose(row(w, 0, UP), dense(8, { 0: 0.6, 1: 0.3, 3: 0.1 }), 'corner, up');
  assertClose(row(w, 0, LEFT), dense(8, { 0: 0.8, 3: 0.1, 1: 0.1 }), 'corner, left');
  assertClose(row(w, 1, DOWN), dense(8, { 1: 0.6, 0: 0.3, 2: 0.1 }), 'above wall, down');
  assertClose(row(w, 6, UP), dense(8, { 6: 0.6, 7: 0.3, 5: 0.1 }), 'below wall, up');
  assertClose(row(w, 3, RIGHT), dense(8, { 3: 0.6, 5: 0.3, 0: 0.1 }), 'left of wall, right');
  assertClose(row(w, 4, LEFT), dense(8, { 4: 0.6, 2: 0.3, 7: 0.1 }), 'right of wall, left');
});

test('3x3 ring: labels, lookup, local support, sparse view', () => {
  const w = buildWorld(parseLayout(RING), 'gusty');
  assert.equal(w.stateLabel(4), '2,1');
  assert.equal(w.stateAt(1, 1), -1);
  assert.equal(w.stateAt(-1, 0), -1);
  assert.equal(w.stateAt(3, 0), -1);
  assert.equal(w.stateAt(0, 2), 5);
  assert.deepEqual([...w.cellOf.subarray(12, 14)], [1, 2]);
  const local = (s: number, a: number): number[] =>
    [...w.localState.subarray(w.localStart[s * 4 + a], w.localStart[s * 4 + a + 1])];
  for (let a = 0; a < 4; a++) {
    assert.deepEqual(local(0, a), [0, 1, 3]);
    assert.deepEqual(local(1, a), [0, 1, 2]);
    assert.deepEqual(local(7, a), [4, 6, 7]);
  }
  // The sparse view lists exactly the positive entries of P.
  for (let i = 0; i < 32; i++) {
    const succ = [...w.succState.subarray(w.succStart[i], w.succStart[i + 1])];
    const positive: number[] = [];
    for (let t = 0; t < 8; t++) if (w.P[i * 8 + t] > 0) positive.push(t);
    assert.deepEqual(succ, positive);
  }
});

test('default layout: 68 states, doorways, walls, windy noise', () => {
  const layout = parseLayout(DEFAULT_LAYOUT_TEXT);
  assert.equal(layout.name, 'fourrooms');
  assert.equal(layout.width, 9);
  assert.equal(layout.height, 9);
  assert.deepEqual([...layout.variants.keys()], ['deterministic', 'windy', 'teleporting']);
  assert.deepEqual(layout.tasks, [
    { label: 'detour-east', goal: [6, 1], traps: [[4, 2]] },
    { label: 'detour-south', goal: [1, 6], traps: [[2, 4]] },
  ]);
  assert.equal(layout.teleports.length, 4);
  for (const t of layout.teleports) assert.equal(t.dest.length, 16);

  const det = buildWorld(layout, 'deterministic');
  assert.equal(det.nStates, 68);
  for (const [x, y] of [[4, 2], [4, 6], [2, 4], [6, 4]]) assert.ok(det.stateAt(x, y) >= 0, `doorway ${x},${y}`);
  for (const [x, y] of [[4, 0], [4, 4], [0, 4], [3, 4]]) assert.equal(det.stateAt(x, y), -1, `wall ${x},${y}`);
  assertRowsSumToOne(det);

  const at = (w: FourRoomsWorld, x: number, y: number): number => w.stateAt(x, y);
  // Into the cross wall, into the outer edge: stay put.
  for (const [x, y, a] of [[3, 0, RIGHT], [5, 1, LEFT], [0, 3, DOWN], [0, 0, UP], [8, 8, RIGHT], [3, 3, DOWN]]) {
    const s = at(det, x, y);
    assert.equal(row(det, s, a)[s], 1, `${x},${y} action ${a}`);
  }
  // Through a doorway.
  assert.equal(row(det, at(det, 3, 2), RIGHT)[at(det, 4, 2)], 1);
  assert.equal(row(det, at(det, 2, 3), DOWN)[at(det, 2, 4)], 1);
  // Without teleports a T cell is an ordinary cell.
  assert.equal(row(det, at(det, 0, 1), RIGHT)[at(det, 1, 1)], 1);

  const windy = buildWorld(layout, 'windy');
  assertRowsSumToOne(windy);
  const s = at(windy, 2, 2);
  assertClose(row(windy, s, UP), dense(68, { [at(windy, 2, 1)]: 0.5, [at(windy, 3, 2)]: 0.25, [at(windy, 1, 2)]: 0.25 }), 'windy up');
  assertClose(row(windy, s, LEFT), dense(68, { [at(windy, 1, 2)]: 0.5, [at(windy, 2, 1)]: 0.25, [at(windy, 2, 3)]: 0.25 }), 'windy left');
});

test('default layout: teleports re-emit uniformly over the opposite room', () => {
  const w = buildWorld(parseLayout(DEFAULT_LAYOUT_TEXT), 'teleporting');
  assertRowsSumToOne(w);
  const opposite: Record<string, [number, number]> = { '1,1': [5, 5], '7,1': [0, 5], '1,7': [5, 0], '7,7': [0, 0] };
  const roomOf = (x0: number, y0: number): number[] => {
    const out: number[] = [];
    for (let y = y0; y < y0 + 4; y++) for (let x = x0; x < x0 + 4; x++) out.push(w.stateAt(x, y));
    return out;
  };
  // Step onto each teleport cell from the cell on its left and from the one above.
  for (const [key, [rx, ry]] of Object.entries(opposite)) {
    const [tx, ty] = key.split(',').map(Number);
    const room = roomOf(rx, ry);
    assert.equal(room.length, 16);
    assert.ok(room.includes(w.stateAt(rx === 5 ? 7 : 1, ry === 5 ? 7 : 1)), 'room holds its own teleport cell');
    for (const [sx, sy, a] of [[tx - 1, ty, RIGHT], [tx, ty - 1, DOWN]]) {
      const r = row(w, w.stateAt(sx, sy), a);
      for (let t = 0; t < w.nStates; t++) {
        assert.equal(r[t], room.includes(t) ? 1 / 16 : 0, `${sx},${sy} -> ${w.stateLabel(t)}`);
      }
    }
  }
  // Leaving a teleport cell is an ordinary move, and so is landing on one by teleport.
  assert.equal(row(w, w.stateAt(1, 1), RIGHT)[w.stateAt(2, 1)], 1);
  // The local prior ignores teleports, on purpose.
  const s = w.stateAt(0, 1);
  const local = [...w.localState.subarray(w.localStart[s * 4 + RIGHT], w.localStart[s * 4 + RIGHT + 1])];
  assert.deepEqual(local, [w.stateAt(0, 0), w.stateAt(0, 1), w.stateAt(1, 1), w.stateAt(0, 2)].sort((p, q) => p - q));
});

test('a teleport cell that bumps a wall does not fire', () => {
  const text = `variant tp forward=1 teleports=on
map
T.
..
end
teleport 0,0 to 1..1,1..1
`;
  const w = buildWorld(parseLayout(text), 'tp');
  assert.equal(w.name, 'custom/tp');
  assert.equal(row(w, 0, UP)[0], 1);
  assert.equal(row(w, 0, LEFT)[0], 1);
  assert.equal(row(w, 1, LEFT)[3], 1);
  assert.equal(row(w, 2, UP)[3], 1);
});

test('sampling matches P within 4 standard errors', () => {
  const layout = parseLayout(DEFAULT_LAYOUT_TEXT);
  const windy = buildWorld(layout, 'windy');
  const tele = buildWorld(layout, 'teleporting');
  const cases: Array<[FourRoomsWorld, number, number]> = [
    [windy, windy.stateAt(2, 2), UP],
    [windy, windy.stateAt(3, 0), RIGHT],
    [tele, tele.stateAt(0, 1), RIGHT],
  ];
  const rng = new Rng(12345);
  const n = 200_000;
  for (const [w, s, a] of cases) {
    const counts = new Float64Array(w.nStates);
    for (let k = 0; k < n; k++) counts[stepFourRooms(w, s, a, rng.next())]++;
    const p = row(w, s, a);
    for (let t = 0; t < w.nStates; t++) {
      const f = counts[t] / n;
      const se = Math.sqrt((p[t] * (1 - p[t])) / n);
      assert.ok(Math.abs(f - p[t]) <= 4 * se, `${w.name} ${w.stateLabel(s)} a=${a} -> ${w.stateLabel(t)}: ${f} vs ${p[t]}`);
    }
  }
  // The alias is the shared sampler.
  assert.equal(stepFourRooms(windy, 5, 1, 0.3), sampleNext(windy, 5, 1, 0.3));
});

function rejects(text: string, field: string, pattern?: RegExp): void {
  assert.throws(() => parseLayout(text), (e: unknown) => {
    assert.ok(e instanceof LayoutError, `not a LayoutError: ${String(e)}`);
    assert.equal(e.field, field, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

const V = 'variant d forward=1\n';

test('rejects: map errors', () => {
  rejects(`${V}map\n..\n.x\nend\n`, 'map', /line 4 \(map\): unknown symbol "x" at row 1, column 1/);
  rejects(`${V}map\n##\n##\nend\n`, 'map', /no free cell/);
  rejects(`${V}map\n.#.\n.#.\nend\n`, 'map', /cell 2,0 cannot be reached from 0,0/);
  rejects(`${V}map\n...\n..\nend\n`, 'map', /line 4 \(map\): row 1 has 2 cells/);
  rejects(`${V}`, 'map', /no map section/);
  rejects(`${V}map\n..\nend\nmap\n..\nend\n`, 'map', /map given twice/);
  rejects(`${V}map\n..\n`, 'map', /no closing "end"/);
});

test('rejects: name, variant and syntax errors', () => {
  rejects(`name a\nname b\n${V}map\n.\nend\n`, 'name', /line 2 \(name\)/);
  rejects(`variant w forward=0.5 right=0.25 left=0.2\nmap\n.\nend\n`, 'variant', /must be 1/);
  rejects(`variant w right=1\nmap\n.\nend\n`, 'variant', /forward=p is required/);
  rejects(`variant w forward=1.5 back=-0.5\nmap\n.\nend\n`, 'variant', /not a probability/);
  rejects(`variant w forward=1 up=0\nmap\n.\nend\n`, 'variant', /unknown key "up"/);
  rejects(`map\n.\nend\n`, 'variant', /at least one variant/);
  rejects(`${V}${V}map\n.\nend\n`, 'variant', /defined twice/);
  rejects(`${V}wall 1,1\nmap\n.\nend\n`, 'syntax', /unknown directive "wall"/);
});

test('rejects: teleport errors', () => {
  const tv = 'variant t forward=1 teleports=on\n';
  rejects(`${tv}map\n.T\n..\nend\nteleport 0,0 to 0..1,1..1\n`, 'teleport', /line 6 \(teleport\): source 0,0 is not a T cell/);
  rejects(`${tv}map\n.T\n..\nend\n`, 'teleport', /T cell 1,0 has no teleport line/);
  rejects(`${tv}map\n.T\n.#\nend\nteleport 1,0 to 1..1,1..1\n`, 'teleport', /destination 1\.\.1,1\.\.1 has no free cell/);
  rejects(`${tv}map\n.T\n..\nend\nteleport 1,0 to 0..2,0..0\n`, 'teleport', /outside/);
  rejects(`${tv}map\n.T\n..\nend\nteleport 1,0 to 0..0,0..0\nteleport 1,0 to 0..0,1..1\n`, 'teleport', /more than one/);
});

test('rejects: task errors', () => {
  const base = `${V}map\n...\n.#.\n...\nend\n`;
  rejects(`${base}task t1 goal=1,1 trap=0,0\n`, 'task', /task t1: goal 1,1 is a wall/);
  rejects(`${base}task t1 goal=0,0 trap=0,0\n`, 'task', /trap 0,0 is the goal/);
  rejects(`${base}task t1 goal=0,0 trap=1,0;1,0\n`, 'task', /listed twice/);
  rejects(`${base}task t1 goal=5,0 trap=1,0\n`, 'task', /goal 5,0 is outside/);
  rejects(`${base}task t1 goal=0,0\n`, 'task', /trap=.* is required/);
  rejects(`${base}task T1 goal=0,0 trap=1,0\n`, 'task', /must match/);
  rejects(`${base}task t1 goal=0,0 trap=1,0\ntask t1 goal=2,2 trap=1,0\n`, 'task', /used twice/);
  // Multiple traps parse.
  const ok = parseLayout(`${base}task t1 goal=0,0 trap=1,0;2,1 # a comment\n`);
  assert.deepEqual(ok.tasks[0].traps, [[1, 0], [2, 1]]);
});

test('rejects: unknown variant in buildWorld lists the allowed names', () => {
  const layout = parseLayout(DEFAULT_LAYOUT_TEXT);
  assert.throws(() => buildWorld(layout, 'stormy'), (e: unknown) => {
    assert.ok(e instanceof LayoutError);
    assert.equal(e.field, 'variant');
    assert.match(e.message, /deterministic, windy, teleporting/);
    return true;
  });
});

test('comments: # opens one only at a line start or after whitespace', () => {
  const text = `# leading comment
  # indented comment
name ab   # trailing
variant d forward=1 # trailing
map
#.#
...
end
`;
  const layout = parseLayout(text);
  assert.equal(layout.name, 'ab');
  assert.deepEqual([...layout.free], [0, 1, 0, 1, 1, 1]);
  // Were an inner # a comment, this would read as the valid "name a".
  rejects(`name a#b\n${V}map\n.\nend\n`, 'name');
});
