// FourRooms as a TabularWorld: a parsed layout plus one variant's move noise
// turned into an exact kernel. The dense P is the ground truth that
// P-learning is scored against, so it is built by enumeration, never sampled.

import { sampleNext, sparsify, type TabularWorld } from '../tabular.ts';
import { LayoutError, MOVE_DX, MOVE_DY, type Layout, type VariantSpec } from './layout.ts';

export interface FourRoomsWorld extends TabularWorld {
  readonly layout: Layout;
  readonly variant: VariantSpec;
  /** width*height → state index, or -1 for a wall. */
  readonly stateOf: Int32Array;
  /** 2 per state: x, y. */
  readonly cellOf: Int32Array;
  /** State at cell (x, y), or -1 for a wall or a point off the map. */
  stateAt(x: number, y: number): number;
}

export const N_ACTIONS = 4;
export const ACTION_NAMES: readonly string[] = ['up', 'right', 'down', 'left'];

/**
 * The cell reached by one unit move in direction `dir` from cell (x, y):
 * walls and the map edge block, leaving the agent where it was.
 */
function moveTarget(layout: Layout, x: number, y: number, dir: number): number {
  const nx = x + MOVE_DX[dir];
  const ny = y + MOVE_DY[dir];
  const here = y * layout.width + x;
  if (nx < 0 || nx >= layout.width || ny < 0 || ny >= layout.height) return here;
  const there = ny * layout.width + nx;
  return layout.free[there] ? there : here;
}

export function buildWorld(layout: Layout, variantName: string): FourRoomsWorld {
  const variant = layout.variants.get(variantName);
  if (variant === undefined) {
    const allowed = [...layout.variants.keys()].join(', ');
    throw new LayoutError('variant', `unknown variant "${variantName}" (allowed: ${allowed})`);
  }
  const { width, height, free } = layout;
  const nCells = width * height;

  // Row-major order of free cells, so state indices read like the map.
  const stateOf = new Int32Array(nCells).fill(-1);
  let nStates = 0;
  for (let c = 0; c < nCells; c++) if (free[c]) stateOf[c] = nStates++;
  const cellOf = new Int32Array(2 * nStates);
  for (let c = 0; c < nCells; c++) {
    const s = stateOf[c];
    if (s < 0) continue;
    cellOf[2 * s] = c % width;
    cellOf[2 * s + 1] = Math.floor(c / width);
  }

  // Each action fans out into intended / clockwise / counter-clockwise / reversed.
  const noise: Array<[number, number]> = [
    [0, variant.forward],
    [1, variant.right],
    [3, variant.left],
    [2, variant.back],
  ];

  const nA = N_ACTIONS;
  const P = new Float64Array(nStates * nA * nStates);
  for (let s = 0; s < nStates; s++) {
    const x = cellOf[2 * s];
    const y = cellOf[2 * s + 1];
    const here = y * width + x;
    for (let a = 0; a < nA; a++) {
      const row = (s * nA + a) * nStates;
      for (const [turn, p] of noise) {
        if (p <= 0) continue;
        const target = moveTarget(layout, x, y, (a + turn) % nA);
        const tp = layout.teleportSrc[target];
        // Bumping a wall while standing on a teleport cell is not "arriving" there.
        if (variant.teleports && target !== here && tp >= 0) {
          const dest = layout.teleports[tp].dest;
          const share = p / dest.length;
          for (const [dx, dy] of dest) P[row + stateOf[dy * width + dx]] += share;
        } else {
          P[row + stateOf[target]] += p;
        }
      }
    }
  }
  const sparse = sparsify(P, nStates, nA);

  // The `local` prior: the state plus its free neighbours, whatever the action or
  // the noise. Teleports fall outside it on purpose, to show what a wrong prior costs.
  const localStart = new Int32Array(nStates * nA + 1);
  const localList: number[] = [];
  for (let s = 0; s < nStates; s++) {
    const x = cellOf[2 * s];
    const y = cellOf[2 * s + 1];
    const support = new Set<number>([s]);
    for (let dir = 0; dir < nA; dir++) support.add(stateOf[moveTarget(layout, x, y, dir)]);
    const sorted = [...support].sort((p, q) => p - q);
    for (let a = 0; a < nA; a++) {
      localStart[s * nA + a] = localList.length;
      localList.push(...sorted);
    }
  }
  localStart[nStates * nA] = localList.length;
  const localState = Int32Array.from(localList);

  const stateAt = (x: number, y: number): number => {
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || x >= width || y < 0 || y >= height) return -1;
    return stateOf[y * width + x];
  };

  return {
    name: `${layout.name}/${variant.name}`,
    nStates,
    nActions: nA,
    P,
    succStart: sparse.succStart,
    succState: sparse.succState,
    succCum: sparse.succCum,
    localStart,
    localState,
    stateLabel: (s: number): string => `${cellOf[2 * s]},${cellOf[2 * s + 1]}`,
    layout,
    variant,
    stateOf,
    cellOf,
    stateAt,
  };
}

/** One sampled step; the world's sparse view already encodes noise and teleports. */
export function stepFourRooms(world: FourRoomsWorld, s: number, a: number, u: number): number {
  return sampleNext(world, s, a, u);
}
