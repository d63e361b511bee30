// Euclidean projection onto the probability simplex, used inside iterative
// solvers where it runs once per row per step, hence in place and allocation-free.

/** In-place ascending heapsort of s[0..len): O(len log len) with no extra memory. */
function heapsortPrefix(s: Float64Array, len: number): void {
  for (let root = (len >> 1) - 1; root >= 0; root--) siftDown(s, root, len);
  for (let end = len - 1; end > 0; end--) {
    const t = s[0];
    s[0] = s[end];
    s[end] = t;
    siftDown(s, 0, end);
  }
}

function siftDown(s: Float64Array, root: number, size: number): void {
  const x = s[root];
  let i = root;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && s[child + 1] > s[child]) child++;
    if (!(s[child] > x)) break;
    s[i] = s[child];
    i = child;
  }
  s[i] = x;
}

/**
 * Replace v[start..start+len) by its Euclidean projection onto {p ≥ 0, Σp = 1}.
 * The projection is p_i = max(v_i − τ, 0) for the unique τ making Σp = 1; τ is found
 * from the sorted values (Held–Wolfe–Crowder 1974; Duchi et al. 2008).
 * `scratch` (length ≥ len) is overwritten.
 */
export function projectSimplexInPlace(v: Float64Array, start: number, len: number, scratch: Float64Array): void {
  if (len <= 0) return;
  if (start < 0 || start + len > v.length) {
    throw new Error(`projectSimplexInPlace: slice [${start}, ${start + len}) outside length ${v.length}`);
  }
  if (scratch.length < len) {
    throw new Error(`projectSimplexInPlace: scratch has length ${scratch.length}, needs ${len}`);
  }
  for (let i = 0; i < len; i++) scratch[i] = v[start + i];
  heapsortPrefix(scratch, len);

  // Walk the values from largest down: the support is the longest prefix (in that
  // order) whose smallest member still stays positive after the shift.
  let cum = 0;
  let tau = 0;
  for (let j = 1; j <= len; j++) {
    const u = scratch[len - j];
    cum += u;
    const t = (cum - 1) / j;
    if (u - t > 0) tau = t;
    else break;
  }
  for (let i = 0; i < len; i++) {
    const x = v[start + i] - tau;
    v[start + i] = x > 0 ? x : 0;
  }
}
