// The one interface every tabular world implements. A world is data: an exact
// transition tensor plus a compact successor list for fast sampling. Nothing
// here knows about goals or agents.

export interface TabularWorld {
  readonly name: string;
  readonly nStates: number;
  readonly nActions: number;
  /** Exact kernel, P[(s * nActions + a) * nStates + s'] — rows sum to 1. */
  readonly P: Float64Array;
  /**
   * Sparse view of P for sampling: the successors of pair i = s * nActions + a are
   * succState[succStart[i] .. succStart[i + 1]), with cumulative probabilities in succCum
   * (the last one of each pair is exactly 1).
   */
  readonly succStart: Int32Array;
  readonly succState: Int32Array;
  readonly succCum: Float64Array;
  /**
   * The `local` support prior of P-learning: for pair i the candidate successors
   * localStart[i] .. localStart[i + 1] in localState (the cells one move away that are
   * free, and the state itself), sorted ascending.
   */
  readonly localStart: Int32Array;
  readonly localState: Int32Array;
  /** Human-readable label per state (for FourRooms "x,y"). */
  stateLabel(s: number): string;
}

/** Sample s' ~ P(·|s,a) from a uniform u ∈ [0,1); allocation-free. */
export function sampleNext(world: TabularWorld, s: number, a: number, u: number): number {
  const i = s * world.nActions + a;
  const end = world.succStart[i + 1];
  let k = world.succStart[i];
  while (k < end - 1 && u >= world.succCum[k]) k++;
  return world.succState[k];
}

/** Build the sparse successor view of a dense kernel (entries ≤ 0 dropped). */
export function sparsify(P: Float64Array, nStates: number, nActions: number): {
  succStart: Int32Array; succState: Int32Array; succCum: Float64Array;
} {
  const nPairs = nStates * nActions;
  const succStart = new Int32Array(nPairs + 1);
  let count = 0;
  for (let i = 0; i < nPairs; i++) {
    succStart[i] = count;
    for (let t = 0; t < nStates; t++) if (P[i * nStates + t] > 0) count++;
  }
  succStart[nPairs] = count;
  const succState = new Int32Array(count);
  const succCum = new Float64Array(count);
  let k = 0;
  for (let i = 0; i < nPairs; i++) {
    let acc = 0;
    for (let t = 0; t < nStates; t++) {
      const p = P[i * nStates + t];
      if (p > 0) { acc += p; succState[k] = t; succCum[k] = acc; k++; }
    }
    succCum[k - 1] = 1; // guard against rounding leaving u ≥ last cumulative
  }
  return { succStart, succState, succCum };
}
