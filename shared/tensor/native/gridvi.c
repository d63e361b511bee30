// Grid value iteration's sweep (shared/continuous/grid-vi.ts), included by
// fastcpu.c. The same arithmetic as the TypeScript sweep in the same order and
// in double precision, with no fused multiply-adds (JavaScript has none), so a
// sweep here gives the TypeScript one's values bit for bit; what it adds is the
// pool's threads over the cells. Transitions come from plearn's own
// precomputation, yet every corner index is still checked against the grid:
// a bad one stops the sweep instead of reading outside V.

#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

#define VI_MAX_DIMS 8

typedef struct {
  int dims, nA;
  size_t cells;
  const int32_t *base, *off, *policy;
  const float *frac, *r;
  const uint8_t *d;
  double gamma;
  const double *V;
  double *Vn, *Q;
  double *delta;  // per part
  int *bad;       // per part: a corner outside the grid
} vi_ctx;

static inline double vi_unit(double t) { return t < 0 ? 0 : t > 1 ? 1 : t; }

// (1 − t)·a + t·b lerps: a point on a grid node reads that node exactly.
static inline double vi_bilinear(const double *v, size_t i, size_t s, double t, double u) {
  return (1 - t) * ((1 - u) * v[i] + u * v[i + 1]) + t * ((1 - u) * v[i + s] + u * v[i + s + 1]);
}

static double vi_interp(const vi_ctx *c, size_t b, const float *f, double *w) {
  const double *v = c->V;
  const int32_t *off = c->off;
  if (c->dims == 2) return vi_bilinear(v, b, (size_t)off[1], vi_unit(f[0]), vi_unit(f[1]));
  if (c->dims == 4) {
    double t0 = vi_unit(f[0]), t1 = vi_unit(f[1]), t2 = vi_unit(f[2]), t3 = vi_unit(f[3]);
    size_t s0 = (size_t)off[1], s1 = (size_t)off[2], s2 = (size_t)off[4];
    double lo = (1 - t1) * vi_bilinear(v, b, s2, t2, t3) + t1 * vi_bilinear(v, b + s1, s2, t2, t3);
    size_t b1 = b + s0;
    double hi = (1 - t1) * vi_bilinear(v, b1, s2, t2, t3) + t1 * vi_bilinear(v, b1 + s1, s2, t2, t3);
    return (1 - t0) * lo + t0 * hi;
  }
  w[0] = 1;
  size_t count = 1;
  for (int k = 0; k < c->dims; k++) {
    double t = vi_unit(f[k]);
    for (size_t j = 0; j < count; j++) {
      w[j + count] = w[j] * t;
      w[j] *= 1 - t;
    }
    count *= 2;
  }
  double s = 0;
  for (size_t j = 0; j < count; j++) s += w[j] * v[b + (size_t)off[j]];
  return s;
}

// Optimal control on a 2-D grid without Q tables, value iteration's sweeps
// on MountainCar: the general loop's per-pair branches on dims, policy and Q
// hoisted out, pointers local, so the body is loads and arithmetic.
HOT static int vi_rows2(const vi_ctx *c, size_t lo, size_t hi, double *delta_out) {
  const int nA = c->nA;
  const size_t cells = c->cells, s = (size_t)c->off[1], reach = (size_t)c->off[3];
  const int32_t *restrict base = c->base;
  const float *restrict frac = c->frac, *restrict r = c->r;
  const uint8_t *restrict d = c->d;
  const double *restrict V = c->V;
  double *restrict Vn = c->Vn;
  const double gamma = c->gamma;
  double delta = 0;
  for (size_t cell = lo; cell < hi; cell++) {
    double best = -INFINITY;
    for (int a = 0; a < nA; a++) {
      size_t pr = cell * (size_t)nA + (size_t)a;
      double q = r[pr];
      if (d[pr] == 0) {
        int32_t b = base[pr];
        if (b < 0 || (size_t)b + reach >= cells) return 0;
        q += gamma * vi_bilinear(V, (size_t)b, s, vi_unit(frac[2 * pr]), vi_unit(frac[2 * pr + 1]));
      }
      if (q > best) best = q;
    }
    Vn[cell] = best;
    double diff = fabs(best - V[cell]);
    if (diff > delta) delta = diff;
  }
  *delta_out = delta;
  return 1;
}

static void vi_part(void *p, int part, int parts) {
  vi_ctx *c = p;
  size_t lo, hi;
  split_rows(c->cells, part, parts, &lo, &hi);
  if (c->dims == 2 && c->policy == NULL && c->Q == NULL) {
    if (!vi_rows2(c, lo, hi, &c->delta[part])) c->bad[part] = 1;
    return;
  }
  double w[1 << VI_MAX_DIMS];
  size_t reach = (size_t)c->off[(1 << c->dims) - 1];
  double delta = 0;
  int all = c->policy == NULL || c->Q != NULL;
  for (size_t cell = lo; cell < hi; cell++) {
    int a0 = all ? 0 : c->policy[cell];
    int a1 = all ? c->nA : a0 + 1;
    double best = -INFINITY;
    for (int a = a0; a < a1; a++) {
      size_t pr = cell * (size_t)c->nA + (size_t)a;
      double q = c->r[pr];
      if (c->d[pr] == 0) {
        int32_t b = c->base[pr];
        if (b < 0 || (size_t)b + reach >= c->cells) {
          c->bad[part] = 1;
          return;
        }
        q += c->gamma * vi_interp(c, (size_t)b, c->frac + pr * (size_t)c->dims, w);
      }
      if (c->Q) c->Q[pr] = q;
      if (c->policy == NULL ? q > best : a == c->policy[cell]) best = q;
    }
    c->Vn[cell] = best;
    double diff = fabs(best - c->V[cell]);
    if (diff > delta) delta = diff;
  }
  c->delta[part] = delta;
}

#pragma GCC pop_options

// viSweep(dims, nActions, base, frac, r, d, off, gamma, V, Vn, policy, Q) → max |Vn − V|
static napi_value js_vi_sweep(napi_env env, napi_callback_info info) {
  ARGS(12);
  INT(0, dims);
  INT(1, nA);
  TYPED(2, napi_int32_array, int32_t, base, nbase, "an Int32Array");
  F32(3, frac, nfrac);
  F32(4, r, nr);
  TYPED(5, napi_uint8_array, uint8_t, d, nd, "a Uint8Array");
  TYPED(6, napi_int32_array, int32_t, off, noff, "an Int32Array");
  DOUBLE(7, gamma);
  TYPED(8, napi_float64_array, double, V, cells, "a Float64Array");
  TYPED(9, napi_float64_array, double, Vn, nvn, "a Float64Array");
  TYPED_OPT(10, napi_int32_array, int32_t, policy, npol, "an Int32Array");
  TYPED_OPT(11, napi_float64_array, double, Q, nq, "a Float64Array");
  if (dims < 1 || dims > VI_MAX_DIMS || nA < 1) FAIL("viSweep: dims must be 1–8 and nActions positive");
  size_t pairs = cells * (size_t)nA;
  if (nbase != pairs || nr != pairs || nd != pairs || nfrac != pairs * (size_t)dims || noff != ((size_t)1 << dims) || nvn != cells)
    FAIL("viSweep: array lengths do not match cells × actions");
  if ((policy && npol != cells) || (Q && nq != pairs)) FAIL("viSweep: policy or Q of the wrong length");
  if (policy) {
    for (size_t i = 0; i < cells; i++)
      if (policy[i] < 0 || policy[i] >= nA) FAIL("viSweep: policy action out of range");
  }
  double delta[MAX_THREADS * PARTS_PER_THREAD];
  int bad[MAX_THREADS * PARTS_PER_THREAD];
  vi_ctx ctx = {dims, nA, cells, base, off, policy, frac, r, d, gamma, V, Vn, Q, delta, bad};
  int parts = plan_parts(pairs << dims, GRAIN);
  for (int p = 0; p < parts; p++) {
    delta[p] = 0;
    bad[p] = 0;
  }
  run_parts(vi_part, &ctx, parts);
  double out = 0;
  for (int p = 0; p < parts; p++) {
    if (bad[p]) FAIL("viSweep: a transition's corner lies outside the grid");
    if (delta[p] > out) out = delta[p];
  }
  napi_value res;
  CHECK(napi_create_double(env, out, &res));
  return res;
}
