// Batched steps of the continuous worlds (shared/envs/mountaincar.ts and
// reacher.ts), included by fastcpu.c. The same double-precision operations as
// the TypeScript steps in the same order, with no fused multiply-adds, so a
// step here gives the TypeScript one's states bit for bit.
//
// MountainCar needs cos(3x) exactly as JavaScript's Math.cos gives it. Node 20's
// V8 computes Math.cos with fdlibm's algorithm (argument reduction by π/2 in
// three pieces, then degree-14 and degree-13 polynomials on [−π/4, π/4]), which
// differs from glibc's cos in the last bit for about 3% of arguments. So the
// cosine below is that algorithm, written out for the arguments a step can
// meet: |x| < 2^19·π/2. Beyond that (a position of ±274 000 or more) the step
// refuses the batch and the TypeScript step runs it.

#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

typedef union {
  double d;
  uint64_t u;
} f64_bits;

static inline uint32_t high_word(double x) {
  f64_bits b = {x};
  return (uint32_t)(b.u >> 32);
}

static inline double from_high_word(uint32_t hi) {
  f64_bits b;
  b.u = (uint64_t)hi << 32;
  return b.d;
}

// cos on [−π/4, π/4] of the reduced argument x + y (y the tail below x's last bit).
static inline double cos_kernel(double x, double y) {
  const double c1 = 4.16666666666666019037e-02, c2 = -1.38888888888741095749e-03, c3 = 2.48015872894767294178e-05,
               c4 = -2.75573143513906633035e-07, c5 = 2.08757232129817482790e-09, c6 = -1.13596475577881948265e-11;
  uint32_t ix = high_word(x) & 0x7fffffffu;
  if (ix < 0x3e400000u && (int)x == 0) return 1.0;  // |x| < 2^-27
  double z = x * x;
  double r = z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6)))));
  if (ix < 0x3fd33333u) return 1.0 - (0.5 * z - (z * r - x * y));  // |x| < 0.3
  // Split off q ≈ x²/4 exactly, so 1 − q loses nothing.
  double q = ix > 0x3fe90000u ? 0.28125 : from_high_word(ix - 0x00200000u);
  double hz = 0.5 * z - q;
  return (1.0 - q) - (hz - (z * r - x * y));
}

// sin on [−π/4, π/4] of x + y.
static inline double sin_kernel(double x, double y) {
  const double s1 = -1.66666666666666324348e-01, s2 = 8.33333333332248946124e-03, s3 = -1.98412698298579493134e-04,
               s4 = 2.75573137070700676789e-06, s5 = -2.50507602534068634195e-08, s6 = 1.58969099521155010221e-10;
  uint32_t ix = high_word(x) & 0x7fffffffu;
  if (ix < 0x3e400000u && (int)x == 0) return x;
  double z = x * x;
  double v = z * x;
  double r = s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)));
  return x - ((z * (0.5 * y - v * r) - y) - v * s1);
}

// π/2 in pieces: 33 bits each (the product with a quotient of up to 19 bits is
// exact), and the tail after each.
static const double PIO2_1 = 1.57079632673412561417e+00, PIO2_1T = 6.07710050650619224932e-11,
                    PIO2_2 = 6.07710050630396597660e-11, PIO2_2T = 2.02226624879595063154e-21,
                    PIO2_3 = 2.02226624871116645580e-21, PIO2_3T = 8.47842766036889956997e-32,
                    INV_PIO2 = 6.36619772367581382433e-01;

// High words of n·π/2 for n = 1 … 32 (rounded to double): an argument with
// one of these needs the longer reduction.
static uint32_t g_npio2_hw[32];

static void npio2_fill(void) {
  const double pio2 = 1.57079632679489655800e+00;
  for (int n = 1; n <= 32; n++) g_npio2_hw[n - 1] = high_word(pio2 * n);
}

// Every JS thread's module init calls this; the table is filled once.
static void npio2_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, npio2_fill);
}

// x = n·π/2 + (y0 + y1), |y0 + y1| ≤ π/4; returns n. Needs |x| ≤ 2^19·π/2.
static inline int reduce_pio2(double x, double *y0, double *y1) {
  uint32_t hx = high_word(x), ix = hx & 0x7fffffffu;
  int negative = (hx >> 31) != 0;
  if (ix < 0x4002d97cu) {  // |x| < 3π/4: n = ±1, without the multiply
    double z;
    if (!negative) {
      z = x - PIO2_1;
      if (ix != 0x3ff921fbu) {
        *y0 = z - PIO2_1T;
        *y1 = (z - *y0) - PIO2_1T;
      } else {  // x near π/2: 33 + 53 bits of π/2 are not enough
        z -= PIO2_2;
        *y0 = z - PIO2_2T;
        *y1 = (z - *y0) - PIO2_2T;
      }
      return 1;
    }
    z = x + PIO2_1;
    if (ix != 0x3ff921fbu) {
      *y0 = z + PIO2_1T;
      *y1 = (z - *y0) + PIO2_1T;
    } else {
      z += PIO2_2;
      *y0 = z + PIO2_2T;
      *y1 = (z - *y0) + PIO2_2T;
    }
    return -1;
  }
  double t = fabs(x);
  int n = (int)(t * INV_PIO2 + 0.5);
  double fn = (double)n;
  double r = t - fn * PIO2_1;
  double w = fn * PIO2_1T;
  if (n < 32 && ix != g_npio2_hw[n - 1]) {
    *y0 = r - w;
  } else {
    // Cancellation: each further piece of π/2 runs while the reduced argument
    // has lost more bits than the previous piece's tail covers.
    int j = (int)(ix >> 20);
    *y0 = r - w;
    int i = j - (int)((high_word(*y0) >> 20) & 0x7ff);
    if (i > 16) {
      t = r;
      w = fn * PIO2_2;
      r = t - w;
      w = fn * PIO2_2T - ((t - r) - w);
      *y0 = r - w;
      i = j - (int)((high_word(*y0) >> 20) & 0x7ff);
      if (i > 49) {
        t = r;
        w = fn * PIO2_3;
        r = t - w;
        w = fn * PIO2_3T - ((t - r) - w);
        *y0 = r - w;
      }
    }
  }
  *y1 = (r - *y0) - w;
  if (negative) {
    *y0 = -*y0;
    *y1 = -*y1;
    return -n;
  }
  return n;
}

// Arguments the cosine below handles: |x| ≤ 2^19·π/2, and NaN/±∞.
static inline int js_cos_covers(double x) {
  uint32_t ix = high_word(x) & 0x7fffffffu;
  return ix <= 0x413921fbu || ix >= 0x7ff00000u;
}

// Math.cos(x) for js_cos_covers(x).
static inline double js_cos(double x) {
  uint32_t ix = high_word(x) & 0x7fffffffu;
  if (ix <= 0x3fe921fbu) return cos_kernel(x, 0.0);
  if (ix >= 0x7ff00000u) return x - x;
  double y0, y1;
  switch (reduce_pio2(x, &y0, &y1) & 3) {
    case 0: return cos_kernel(y0, y1);
    case 1: return -sin_kernel(y0, y1);
    case 2: return -cos_kernel(y0, y1);
    default: return sin_kernel(y0, y1);
  }
}

// ---------------------------------------------------------------------------
// The steps. Each validates its whole batch before writing anything (actions in
// range, MountainCar's cosines covered), since `next` may alias `states`: a
// refused batch is untouched, and the TypeScript step then runs it (and throws
// the same error it always has, naming the bad action).

enum { MC_MIN, MC_MAX, MC_SPEED, MC_FORCE, MC_GRAVITY, MC_PARAMS };

typedef struct {
  const double *s;
  const int32_t *a;
  double *next;
  size_t n;
  const double *p;  // MountainCar's constants, or Reacher's action table
  double k, dt;     // Reacher: dt·torque scale, dt
} env_ctx;

// Fields are read into locals first: the stores through `next` could otherwise
// alias the context's doubles, and each iteration would reload them.
HOT static void mc_part(void *vctx, int part, int parts) {
  const env_ctx *c = vctx;
  const double lo = c->p[MC_MIN], hi = c->p[MC_MAX], speed = c->p[MC_SPEED], force = c->p[MC_FORCE], g = c->p[MC_GRAVITY];
  const double *s = c->s;
  const int32_t *a = c->a;
  double *next = c->next;
  size_t i0, i1;
  split(c->n, part, parts, &i0, &i1);
  for (size_t i = i0; i < i1; i++) {
    double x = s[2 * i], v = s[2 * i + 1];
    double vn = v + (double)(a[i] - 1) * force - js_cos(3 * x) * g;
    vn = vn < -speed ? -speed : vn > speed ? speed : vn;
    double xn = x + vn;
    xn = xn < lo ? lo : xn > hi ? hi : xn;
    if (xn == lo && vn < 0) vn = 0;
    next[2 * i] = xn;
    next[2 * i + 1] = vn;
  }
}

HOT static void reacher_part(void *vctx, int part, int parts) {
  const env_ctx *c = vctx;
  const double k = c->k, dt = c->dt;
  const double *s = c->s, *table = c->p;
  const int32_t *a = c->a;
  double *next = c->next;
  size_t i0, i1;
  split(c->n, part, parts, &i0, &i1);
  for (size_t i = i0; i < i1; i++) {
    const double *tau = table + 2 * a[i];
    // All four inputs are read before any output is written: `next` may alias `states`.
    double t1 = s[4 * i], t2 = s[4 * i + 1];
    double w1 = s[4 * i + 2] + k * tau[0];
    double w2 = s[4 * i + 3] + k * tau[1];
    next[4 * i] = t1 + dt * w1;
    next[4 * i + 1] = t2 + dt * w2;
    next[4 * i + 2] = w1;
    next[4 * i + 3] = w2;
  }
}

#pragma GCC pop_options

// Elements per part. A MountainCar state costs about 10 ns (its cosine), a
// Reacher state a few adds over 64 bytes: both gain from the second core from a
// few thousand states on (measured on 2 cores at 4096: 31 against 42 µs, and 7
// against 10–17 µs).
#define MC_GRAIN 512
#define REACHER_GRAIN 2048

// Positions whose 3x the cosine above covers, with a margin: |3x| ≤ 823 548 < 2^19·π/2.
#define MC_COS_REACH 274516.0

static inline int env_bad(const env_ctx *c, size_t i, uint32_t n_actions, int mountaincar) {
  // NaN positions fail the comparison too: the TypeScript step takes them.
  return ((uint32_t)c->a[i] >= n_actions) | (mountaincar && !(fabs(c->s[2 * i]) <= MC_COS_REACH));
}

// Index of the first element the native step cannot take, or −1 when all are fine.
// The common case is one branch-free pass; only a refused batch is searched.
HOT static int64_t env_refused(const env_ctx *c, uint32_t n_actions, int mountaincar) {
  int bad = 0;
  for (size_t i = 0; i < c->n; i++) bad |= env_bad(c, i, n_actions, mountaincar);
  if (!bad) return -1;
  for (size_t i = 0; i < c->n; i++)
    if (env_bad(c, i, n_actions, mountaincar)) return (int64_t)i;
  return -1;
}

// mountainCarStep(states, actions, next, n, params) / reacherStep(states, actions, next, n, table, k, dt)
// → −1 once next holds the n successors; otherwise the index of an element the
// native step cannot take (an action out of range, a position beyond the cosine
// above, or arrays shorter than n rows), with nothing written.
static napi_value env_step(napi_env env, napi_callback_info info, int mountaincar) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < (mountaincar ? 5u : 7u)) FAIL("env step: expected 5 arguments (MountainCar) or 7 (Reacher)");
  TYPED(0, napi_float64_array, double, s, ns, "a Float64Array");
  TYPED(1, napi_int32_array, int32_t, a, na, "an Int32Array");
  TYPED(2, napi_float64_array, double, next, nnext, "a Float64Array");
  SIZE(3, n);
  TYPED(4, napi_float64_array, double, p, np, "a Float64Array");
  size_t dim = mountaincar ? 2 : 4;
  uint32_t n_actions = mountaincar ? 3 : (uint32_t)(np / 2);
  if (mountaincar ? np != MC_PARAMS : np < 2 || np % 2 != 0) FAIL("env step: constants of the wrong length");
  double k = 0, dt = 0;
  if (!mountaincar) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[5], &t));
    if (t != napi_number || napi_get_value_double(env, argv[5], &k) != napi_ok) FAIL("argument 5 must be a number");
    CHECK(napi_typeof(env, argv[6], &t));
    if (t != napi_number || napi_get_value_double(env, argv[6], &dt) != napi_ok) FAIL("argument 6 must be a number");
  }
  env_ctx ctx = {s, a, next, n, p, k, dt};
  int64_t refused = ns < n * dim || nnext < n * dim || na < n ? 0 : env_refused(&ctx, n_actions, mountaincar);
  if (refused < 0) parallel(mountaincar ? mc_part : reacher_part, &ctx, n, mountaincar ? MC_GRAIN : REACHER_GRAIN);
  napi_value out;
  CHECK(napi_create_int64(env, refused, &out));
  return out;
}

static napi_value js_mountain_car_step(napi_env env, napi_callback_info info) { return env_step(env, info, 1); }
static napi_value js_reacher_step(napi_env env, napi_callback_info info) { return env_step(env, info, 0); }

// jsCos(x, y): y[i] = Math.cos(x[i]) for the arguments the steps' cosine covers
// (NaN elsewhere). For the test that holds it to Math.cos bit for bit.
static napi_value js_js_cos(napi_env env, napi_callback_info info) {
  ARGS(2);
  TYPED(0, napi_float64_array, double, x, nx, "a Float64Array");
  TYPED(1, napi_float64_array, double, y, ny, "a Float64Array");
  if (nx != ny) FAIL("jsCos: x and y differ in length");
  for (size_t i = 0; i < nx; i++) y[i] = js_cos_covers(x[i]) ? js_cos(x[i]) : NAN;
  return NULL;
}
