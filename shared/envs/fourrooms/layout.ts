// The FourRooms layout format: a map is data, so users can run their own grids.
// Parsing is pure (text in, Layout out) because `shared/` never touches files;
// every failure is a LayoutError that names the offending field and line, so
// the CLI can print it verbatim and exit with code 2.

export class LayoutError extends Error {
  constructor(readonly field: string, message: string, readonly line?: number) {
    super(line === undefined ? `layout (${field}): ${message}` : `layout line ${line} (${field}): ${message}`);
    this.name = 'LayoutError';
  }
}

export interface VariantSpec {
  readonly name: string;
  readonly forward: number;
  readonly right: number;
  readonly left: number;
  readonly back: number;
  readonly teleports: boolean;
}

export interface UnseenTask {
  readonly label: string;
  readonly goal: [number, number];
  readonly traps: Array<[number, number]>;
}

export interface Teleport {
  readonly x: number;
  readonly y: number;
  /** Free cells of the destination rectangle, row-major, so they follow state order. */
  readonly dest: Array<[number, number]>;
}

export interface Layout {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** width*height, 1 = free cell (teleport cells included). */
  readonly free: Uint8Array;
  /** width*height, -1 or an index into `teleports`. */
  readonly teleportSrc: Int32Array;
  readonly teleports: Teleport[];
  readonly variants: Map<string, VariantSpec>;
  readonly tasks: UnseenTask[];
}

/** The number of states: the free cells (teleport cells included). */
export function stateCount(layout: Layout): number {
  return layout.free.reduce((n, f) => n + f, 0);
}

/** Unit moves of actions 0..3 = up, right, down, left; y grows downwards. */
export const MOVE_DX: readonly number[] = [0, 1, 0, -1];
export const MOVE_DY: readonly number[] = [-1, 0, 1, 0];

const LABEL_RE = /^[a-z0-9-]+$/;
const NAME_RE = /^[A-Za-z0-9_.-]+$/;
// Number('') is 0 and Number('0x1') is 1, so probabilities get a strict decimal grammar.
const PROB_RE = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^\d+$/;
const SUM_TOL = 1e-9;

interface Directive {
  readonly line: number;
  readonly words: string[];
}

/** Drop a trailing comment: `#` counts only at the start or after whitespace, so `a#b` stays a word. */
function stripComment(raw: string): string {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '#' && (i === 0 || /\s/.test(raw[i - 1]))) return raw.slice(0, i);
  }
  return raw;
}

function parseInt10(text: string, field: string, what: string, line: number): number {
  if (!INT_RE.test(text)) throw new LayoutError(field, `${what} "${text}" is not a non-negative integer`, line);
  return Number(text);
}

function parsePoint(text: string, field: string, what: string, line: number): [number, number] {
  const parts = text.split(',');
  if (parts.length !== 2) throw new LayoutError(field, `${what} "${text}" is not of the form x,y`, line);
  return [parseInt10(parts[0], field, what, line), parseInt10(parts[1], field, what, line)];
}

function parseRange(text: string, field: string, what: string, line: number): [number, number] {
  const parts = text.split('..');
  if (parts.length !== 2) throw new LayoutError(field, `${what} "${text}" is not of the form a..b`, line);
  const lo = parseInt10(parts[0], field, what, line);
  const hi = parseInt10(parts[1], field, what, line);
  if (lo > hi) throw new LayoutError(field, `${what} "${text}" is empty (start after end)`, line);
  return [lo, hi];
}

/** `key=value` words into a map; keys outside `allowed` or given twice are errors. */
function parseKeys(words: string[], allowed: readonly string[], field: string, line: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new LayoutError(field, `expected key=value, got "${w}"`, line);
    const key = w.slice(0, eq);
    if (!allowed.includes(key)) {
      throw new LayoutError(field, `unknown key "${key}" (allowed: ${allowed.join(', ')})`, line);
    }
    if (out.has(key)) throw new LayoutError(field, `key "${key}" given twice`, line);
    out.set(key, w.slice(eq + 1));
  }
  return out;
}

function parseVariant(d: Directive): VariantSpec {
  const { line, words } = d;
  if (words.length < 2) throw new LayoutError('variant', 'missing variant name', line);
  const name = words[1];
  if (!LABEL_RE.test(name)) throw new LayoutError('variant', `name "${name}" must match [a-z0-9-]+`, line);
  const keys = parseKeys(words.slice(2), ['forward', 'right', 'left', 'back', 'teleports'], 'variant', line);
  if (!keys.has('forward')) throw new LayoutError('variant', `${name}: forward=p is required`, line);
  const prob = (key: string): number => {
    const text = keys.get(key);
    if (text === undefined) return 0;
    const p = PROB_RE.test(text) ? Number(text) : NaN;
    if (!(p >= 0 && p <= 1)) throw new LayoutError('variant', `${name}: ${key}=${text} is not a probability in [0,1]`, line);
    return p;
  };
  const forward = prob('forward');
  const right = prob('right');
  const left = prob('left');
  const back = prob('back');
  const sum = forward + right + left + back;
  if (Math.abs(sum - 1) > SUM_TOL) {
    throw new LayoutError('variant', `${name}: forward+right+left+back = ${sum}, must be 1`, line);
  }
  const tp = keys.get('teleports') ?? 'off';
  if (tp !== 'on' && tp !== 'off') throw new LayoutError('variant', `${name}: teleports=${tp} must be on or off`, line);
  // Renormalise so kernel rows sum to 1 to rounding, not merely to the 1e-9 tolerance.
  return { name, forward: forward / sum, right: right / sum, left: left / sum, back: back / sum, teleports: tp === 'on' };
}

interface Grid {
  readonly width: number;
  readonly height: number;
  readonly free: Uint8Array;
  readonly isT: Uint8Array;
  readonly firstLine: number;
}

const SYMBOLS = new Set(['#', '.', 'T']);

function parseGrid(rows: string[], firstLine: number, mapLine: number): Grid {
  if (rows.length === 0) throw new LayoutError('map', 'map has no rows', mapLine);
  const width = rows[0].length;
  if (width === 0) throw new LayoutError('map', 'row 0 is empty', firstLine);
  const height = rows.length;
  const free = new Uint8Array(width * height);
  const isT = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = rows[y];
    if (row.length !== width) {
      throw new LayoutError('map', `row ${y} has ${row.length} cells, row 0 has ${width}; rows must be equal length`, firstLine + y);
    }
    for (let x = 0; x < width; x++) {
      const c = row[x];
      if (!SYMBOLS.has(c)) {
        throw new LayoutError('map', `unknown symbol "${c}" at row ${y}, column ${x} (allowed: # . T)`, firstLine + y);
      }
      free[y * width + x] = c === '#' ? 0 : 1;
      isT[y * width + x] = c === 'T' ? 1 : 0;
    }
  }
  return { width, height, free, isT, firstLine };
}

/** A coordinate that must name a free cell; `what` prefixes the message so the user sees which one. */
function checkFree(g: Grid, p: [number, number], field: string, what: string, line: number): void {
  const [x, y] = p;
  if (x >= g.width || y >= g.height) {
    throw new LayoutError(field, `${what} ${x},${y} is outside the ${g.width}x${g.height} map`, line);
  }
  if (!g.free[y * g.width + x]) throw new LayoutError(field, `${what} ${x},${y} is a wall`, line);
}

function parseTeleport(d: Directive, g: Grid): Teleport {
  const { line, words } = d;
  if (words.length !== 4 || words[2] !== 'to') {
    throw new LayoutError('teleport', 'expected "teleport x,y to x0..x1,y0..y1"', line);
  }
  const [x, y] = parsePoint(words[1], 'teleport', 'source', line);
  checkFree(g, [x, y], 'teleport', 'source', line);
  if (!g.isT[y * g.width + x]) throw new LayoutError('teleport', `source ${x},${y} is not a T cell in the map`, line);
  const rect = words[3].split(',');
  if (rect.length !== 2) throw new LayoutError('teleport', `destination "${words[3]}" is not of the form x0..x1,y0..y1`, line);
  const [x0, x1] = parseRange(rect[0], 'teleport', 'destination x range', line);
  const [y0, y1] = parseRange(rect[1], 'teleport', 'destination y range', line);
  if (x1 >= g.width || y1 >= g.height) {
    throw new LayoutError('teleport', `destination ${words[3]} reaches outside the ${g.width}x${g.height} map`, line);
  }
  const dest: Array<[number, number]> = [];
  for (let cy = y0; cy <= y1; cy++) {
    for (let cx = x0; cx <= x1; cx++) if (g.free[cy * g.width + cx]) dest.push([cx, cy]);
  }
  if (dest.length === 0) throw new LayoutError('teleport', `destination ${words[3]} has no free cell`, line);
  return { x, y, dest };
}

function parseTask(d: Directive, g: Grid): UnseenTask {
  const { line, words } = d;
  if (words.length < 2) throw new LayoutError('task', 'missing task label', line);
  const label = words[1];
  if (!LABEL_RE.test(label)) throw new LayoutError('task', `label "${label}" must match [a-z0-9-]+`, line);
  const keys = parseKeys(words.slice(2), ['goal', 'trap'], 'task', line);
  const goalText = keys.get('goal');
  const trapText = keys.get('trap');
  if (goalText === undefined) throw new LayoutError('task', `task ${label}: goal=x,y is required`, line);
  if (trapText === undefined) throw new LayoutError('task', `task ${label}: trap=x,y[;x,y...] is required`, line);
  const goal = parsePoint(goalText, 'task', `task ${label}: goal`, line);
  checkFree(g, goal, 'task', `task ${label}: goal`, line);
  const traps: Array<[number, number]> = [];
  const seen = new Set<string>([`${goal[0]},${goal[1]}`]);
  for (const part of trapText.split(';')) {
    const t = parsePoint(part, 'task', `task ${label}: trap`, line);
    checkFree(g, t, 'task', `task ${label}: trap`, line);
    const key = `${t[0]},${t[1]}`;
    if (seen.has(key)) {
      const what = key === `${goal[0]},${goal[1]}` ? 'is the goal' : 'is listed twice';
      throw new LayoutError('task', `task ${label}: trap ${key} ${what}`, line);
    }
    seen.add(key);
    traps.push(t);
  }
  return { label, goal, traps };
}

/**
 * Every free cell must be reachable from the first one under each variant,
 * otherwise some states would be dead weight in every kernel and value table.
 * The graph is the union of unit moves between free cells and, for variants
 * with teleports on, the edges from each teleport cell to its destinations.
 */
function checkReachable(g: Grid, teleportSrc: Int32Array, teleports: Teleport[], variant: VariantSpec): void {
  const { width, height, free } = g;
  const n = width * height;
  const start = free.indexOf(1);
  const seen = new Uint8Array(n);
  const stack = [start];
  seen[start] = 1;
  while (stack.length > 0) {
    const c = stack.pop() as number;
    const x = c % width;
    const y = (c - x) / width;
    const next: number[] = [];
    for (let a = 0; a < 4; a++) {
      const nx = x + MOVE_DX[a];
      const ny = y + MOVE_DY[a];
      if (nx >= 0 && nx < width && ny >= 0 && ny < height && free[ny * width + nx]) next.push(ny * width + nx);
    }
    if (variant.teleports && teleportSrc[c] >= 0) {
      for (const [dx, dy] of teleports[teleportSrc[c]].dest) next.push(dy * width + dx);
    }
    for (const m of next) if (!seen[m]) { seen[m] = 1; stack.push(m); }
  }
  for (let c = 0; c < n; c++) {
    if (free[c] && !seen[c]) {
      const x = c % width;
      const y = (c - x) / width;
      const sx = start % width;
      const sy = (start - sx) / width;
      throw new LayoutError('map', `cell ${x},${y} cannot be reached from ${sx},${sy} (variant ${variant.name})`, g.firstLine + y);
    }
  }
}

export function parseLayout(text: string): Layout {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let name: string | undefined;
  let nameLine = 0;
  let mapRows: string[] | undefined;
  let mapLine = 0;
  const variantDirs: Directive[] = [];
  const teleportDirs: Directive[] = [];
  const taskDirs: Directive[] = [];

  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const words = stripComment(lines[i]).trim().split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0) continue;
    switch (words[0]) {
      case 'name':
        if (name !== undefined) throw new LayoutError('name', `name given twice (first on line ${nameLine})`, line);
        if (words.length !== 2 || !NAME_RE.test(words[1])) {
          throw new LayoutError('name', 'expected "name NAME" with NAME of [A-Za-z0-9_.-]', line);
        }
        name = words[1];
        nameLine = line;
        break;
      case 'map': {
        if (mapRows !== undefined) throw new LayoutError('map', `map given twice (first on line ${mapLine})`, line);
        if (words.length !== 1) throw new LayoutError('map', 'the "map" line takes no arguments', line);
        mapLine = line;
        // Rows are taken verbatim (no comment stripping: `#` is the wall symbol) up to `end`.
        const rows: string[] = [];
        let j = i + 1;
        while (j < lines.length && lines[j].trim() !== 'end') {
          rows.push(lines[j].trimEnd());
          j++;
        }
        if (j >= lines.length) throw new LayoutError('map', 'map section has no closing "end" line', line);
        mapRows = rows;
        i = j;
        break;
      }
      case 'variant':
        variantDirs.push({ line, words });
        break;
      case 'teleport':
        teleportDirs.push({ line, words });
        break;
      case 'task':
        taskDirs.push({ line, words });
        break;
      default:
        throw new LayoutError('syntax', `unknown directive "${words[0]}" (expected name, map, variant, teleport, task)`, line);
    }
  }

  if (mapRows === undefined) throw new LayoutError('map', 'no map section ("map" ... "end")');
  const g = parseGrid(mapRows, mapLine + 1, mapLine);
  if (g.free.indexOf(1) < 0) throw new LayoutError('map', 'the map has no free cell', mapLine);

  const variants = new Map<string, VariantSpec>();
  for (const d of variantDirs) {
    const v = parseVariant(d);
    if (variants.has(v.name)) throw new LayoutError('variant', `variant ${v.name} defined twice`, d.line);
    variants.set(v.name, v);
  }
  if (variants.size === 0) throw new LayoutError('variant', 'at least one variant line is required');

  const teleportSrc = new Int32Array(g.width * g.height).fill(-1);
  const teleports: Teleport[] = [];
  for (const d of teleportDirs) {
    const t = parseTeleport(d, g);
    const c = t.y * g.width + t.x;
    if (teleportSrc[c] >= 0) throw new LayoutError('teleport', `cell ${t.x},${t.y} has more than one teleport line`, d.line);
    teleportSrc[c] = teleports.length;
    teleports.push(t);
  }
  for (let c = 0; c < g.width * g.height; c++) {
    if (g.isT[c] && teleportSrc[c] < 0) {
      const x = c % g.width;
      const y = (c - x) / g.width;
      throw new LayoutError('teleport', `T cell ${x},${y} has no teleport line`, g.firstLine + y);
    }
  }

  const tasks: UnseenTask[] = [];
  const labels = new Set<string>();
  for (const d of taskDirs) {
    const t = parseTask(d, g);
    if (labels.has(t.label)) throw new LayoutError('task', `task label ${t.label} used twice`, d.line);
    labels.add(t.label);
    tasks.push(t);
  }

  for (const v of variants.values()) checkReachable(g, teleportSrc, teleports, v);

  return {
    name: name ?? 'custom',
    width: g.width,
    height: g.height,
    free: g.free,
    teleportSrc,
    teleports,
    variants,
    tasks,
  };
}
