// Native kernels behind plearn's `cpu-blas` tensor backend (shared/tensor/fast-cpu.ts).
//
// Matrix products go to OpenBLAS's sgemm, cut into blocks over this file's
// small pool of threads (gemm.c). Everything around them (bias and activation
// epilogues, elementwise ops, reductions, LayerNorm forward and backward, the
// Adam update) is memory-bound, so it runs here as single fused passes split
// over the same pool: on the 2-core machines plearn targets, the TF.js CPU
// backend spends far more time in these than in the products once the
// products are fast. gridvi.c holds grid value iteration's sweep.
//
// Arrays cross the boundary as Float32Arrays; nothing here allocates per call
// except the few partial-sum buffers of column reductions.
//
// The module is context-aware (NAPI_MODULE_INIT) because plearn loads it in
// every piscina worker thread; the thread pool and OpenBLAS are process-wide,
// and concurrent callers from several JS threads take turns on the pool.

#include <node_api.h>
#include <cblas.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

// Compiled once per ISA level and picked at load time, so a binary built on a
// new machine still runs on an older one (an image built elsewhere, say).
#if defined(PLEARN_CLONES) && defined(__x86_64__) && defined(__GNUC__)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif

// ---------------------------------------------------------------------------
// Thread pool

#define MAX_THREADS 64
// Idle workers poll this many times (some tens of µs) before sleeping: a
// training step issues its kernels back to back, and a futex wake-up costs
// more than the gap between them; a longer spin would steal time from
// OpenBLAS's threads on a 2-core machine.
#define SPIN_POLLS 1000
// Parts per thread of a parallel call: a late or preempted worker then costs
// at most a part, not half the work.
#define PARTS_PER_THREAD 4

// A parallel call cuts its work into `parts` pieces, fn(ctx, p, parts) for
// p = 0 … parts − 1, which the calling thread and whichever workers are awake
// claim from a shared counter. The caller never waits for a worker that has
// not started (on a busy machine it may not run for milliseconds): it runs
// every unclaimed part itself and waits only for parts in progress. Results
// depend on `parts`, never on which thread ran what, so they are reproducible.
typedef void (*part_fn)(void *ctx, int part, int parts);

static pthread_mutex_t g_dispatch = PTHREAD_MUTEX_INITIALIZER;  // one parallel call at a time
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;      // guards sleeping and waking
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static int g_started = 0;          // worker threads alive; caller threads are not counted
static atomic_int g_threads = 1;   // threads a parallel call may use, the caller included
static atomic_uint g_gen = 1;      // bumped for every parallel call
static atomic_uint g_open = 0;     // gen of the call still handing out parts; 0 once all are claimed
static atomic_int g_next;          // next part to claim
static atomic_int g_active = 0;    // workers inside a call
static int g_thin_gemm = 1;        // thin products as plain loops (PLEARN_THIN_GEMM=off: all to sgemm)
static int g_pooled_gemm = 1;      // products split on this pool, OpenBLAS single-threaded (PLEARN_BLAS_THREADS=own: OpenBLAS's threads)
static unsigned g_initial[MAX_THREADS];  // g_gen when each worker was created
static part_fn g_fn;
static void *g_ctx;
static int g_parts;

static void claim_parts(void) {
  for (;;) {
    int p = atomic_fetch_add(&g_next, 1);
    if (p >= g_parts) return;
    g_fn(g_ctx, p, g_parts);
  }
}

static void *pool_worker(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seen = g_initial[id];
  for (;;) {
    unsigned gen = seen;
    for (int i = 0; i < SPIN_POLLS; i++) {
      gen = atomic_load(&g_gen);
      if (gen != seen) break;
      cpu_relax();
    }
    if (gen == seen) {
      pthread_mutex_lock(&g_lock);
      while ((gen = atomic_load(&g_gen)) == seen) pthread_cond_wait(&g_wake, &g_lock);
      pthread_mutex_unlock(&g_lock);
    }
    seen = gen;
    if (id >= atomic_load(&g_threads)) continue;
    // Announce first, then check the call is still open: the caller closes
    // the call before waiting for g_active to drain, so either it sees this
    // worker and waits, or this worker sees the call closed and keeps off it.
    atomic_fetch_add(&g_active, 1);
    if (atomic_load(&g_open) == gen) claim_parts();
    if (atomic_fetch_sub(&g_active, 1) == 1) {
      pthread_mutex_lock(&g_lock);
      pthread_cond_broadcast(&g_done);
      pthread_mutex_unlock(&g_lock);
    }
  }
  return NULL;
}

// Starts workers up to n − 1; returns how many threads calls may now use.
static int pool_grow(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  pthread_mutex_lock(&g_dispatch);
  while (g_started < n - 1) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    // A worker must not miss a call posted before it first runs.
    g_initial[g_started + 1] = atomic_load(&g_gen);
    int rc = pthread_create(&t, &attr, pool_worker, (void *)(intptr_t)(g_started + 1));
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    g_started++;
  }
  if (n > g_started + 1) n = g_started + 1;
  atomic_store(&g_threads, n);
  pthread_mutex_unlock(&g_dispatch);
  return n;
}

static inline int threads_now(void) {
  int n = atomic_load_explicit(&g_threads, memory_order_relaxed);
  return n < 1 ? 1 : n;
}

// How many parts a call over `work` elements uses: at least `grain` elements
// each (below that, splitting costs more than it saves), at most
// PARTS_PER_THREAD per thread; 1 when running single-threaded.
static int plan_parts(size_t work, size_t grain) {
  int threads = threads_now();
  if (threads <= 1) return 1;
  if (grain < 1) grain = 1;
  size_t most = (size_t)threads * PARTS_PER_THREAD;
  size_t parts = work / grain;
  if (parts > most) parts = most;
  return parts < 1 ? 1 : (int)parts;
}

static void run_parts(part_fn fn, void *ctx, int parts) {
  if (parts <= 1 || threads_now() <= 1) {
    for (int p = 0; p < parts; p++) fn(ctx, p, parts);
    return;
  }
  pthread_mutex_lock(&g_dispatch);
  g_fn = fn;
  g_ctx = ctx;
  g_parts = parts;
  atomic_store(&g_next, 0);
  unsigned gen = atomic_load(&g_gen) + 1;
  if (gen == 0) gen = 1;  // 0 means "closed"
  atomic_store(&g_open, gen);
  atomic_store(&g_gen, gen);
  pthread_mutex_lock(&g_lock);
  pthread_cond_broadcast(&g_wake);
  pthread_mutex_unlock(&g_lock);
  claim_parts();
  atomic_store(&g_open, 0);
  int idle = 0;
  for (int i = 0; i < SPIN_POLLS * 4; i++) {
    if (atomic_load(&g_active) == 0) {
      idle = 1;
      break;
    }
    cpu_relax();
  }
  if (!idle) {
    pthread_mutex_lock(&g_lock);
    while (atomic_load(&g_active) != 0) pthread_cond_wait(&g_done, &g_lock);
    pthread_mutex_unlock(&g_lock);
  }
  pthread_mutex_unlock(&g_dispatch);
}

static void parallel(part_fn fn, void *ctx, size_t work, size_t grain) {
  run_parts(fn, ctx, plan_parts(work, grain));
}

// [lo, hi) of part p of n items, cut at multiples of 16 so that no two parts
// write the same cache line.
static inline void split(size_t n, int p, int parts, size_t *lo, size_t *hi) {
  size_t per = (n + (size_t)parts - 1) / (size_t)parts;
  per = (per + 15) & ~(size_t)15;
  *lo = per * (size_t)p;
  *hi = *lo + per;
  if (*lo > n) *lo = n;
  if (*hi > n) *hi = n;
}

// Row ranges need no alignment: rows are long and written whole.
static inline void split_rows(size_t n, int p, int parts, size_t *lo, size_t *hi) {
  *lo = n * (size_t)p / (size_t)parts;
  *hi = n * (size_t)(p + 1) / (size_t)parts;
}

// ---------------------------------------------------------------------------
// Elementwise

// exp, tanh and sigmoid as straight-line float code, so that loops over
// them vectorise (libm's expf and tanhf are calls the compiler cannot
// vectorise; tanhf alone made a tanh layer cost as much as its product).
// Both are within a couple of float ulps of the exact function.

// e^x: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two so k·ln2 is exact
// enough), e^r by its Taylor series to r⁷ (truncation < 1e-8), 2^k built in
// the exponent field. Rounding to an integer adds and subtracts 1.5·2²³, which
// needs no SSE4.1.
static inline float exp_f(float x) {
  float xc = x > 88.72f ? 88.72f : x;
  xc = xc < -87.33f ? -87.33f : xc;
  const float shifter = 12582912.0f;
  float kf = (xc * 1.44269504f + shifter) - shifter;
  float r = xc - kf * 0.693145752f;
  r = r - kf * 1.42860677e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t k = (int32_t)kf;
  uint32_t bits = (uint32_t)(k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float e = p * scale;
  e = x > 88.72f ? INFINITY : e;
  e = x < -87.33f ? 0.0f : e;
  return x != x ? x : e;
}

// tanh: near 0, its odd Taylor series to x¹¹ (exact to float there, where
// 1 − 2/(e^{2x} + 1) would cancel); elsewhere that formula on |x| ≤ 10
// (tanh 10 is 1 in float) with the sign put back.
static inline float tanh_f(float x) {
  float ax = x < 0.0f ? -x : x;
  float x2 = x * x;
  float p = -1382.0f / 155925.0f;
  p = p * x2 + 62.0f / 2835.0f;
  p = p * x2 - 17.0f / 315.0f;
  p = p * x2 + 2.0f / 15.0f;
  p = p * x2 - 1.0f / 3.0f;
  float small = x + x * x2 * p;
  float e = exp_f(2.0f * (ax > 10.0f ? 10.0f : ax));
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0.0f ? -big : big;
  float t = ax < 0.3f ? small : big;
  return x != x ? x : t;
}

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_SIGMOID = 2, ACT_TANH = 3 };

enum {
  U_RELU = 0, U_SIGMOID, U_TANH, U_SQUARE, U_SQRT, U_RSQRT, U_ABS, U_NEG,
  U_EXP, U_LOG, U_STEP, U_SIGN, U_RECIPROCAL, U_COUNT
};

typedef struct {
  int op;
  const float *x;
  float *y;
  size_t n;
  float alpha;
} unary_ctx;

HOT static void unary_range(int op, const float *restrict x, float *restrict y, size_t n, float alpha) {
  switch (op) {
    // `x < 0 ? 0 : x` (not fmaxf) keeps NaN as NaN, as TF.js does.
    case U_RELU: for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; break;
    case U_SIGMOID: for (size_t i = 0; i < n; i++) y[i] = sigmoid_f(x[i]); break;
    case U_TANH: for (size_t i = 0; i < n; i++) y[i] = tanh_f(x[i]); break;
    case U_SQUARE: for (size_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
    case U_SQRT: for (size_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case U_RSQRT: for (size_t i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i]); break;
    case U_ABS: for (size_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
    case U_NEG: for (size_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case U_EXP: for (size_t i = 0; i < n; i++) y[i] = exp_f(x[i]); break;
    case U_LOG: for (size_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case U_STEP:
      for (size_t i = 0; i < n; i++) y[i] = x[i] != x[i] ? x[i] : (x[i] > 0.0f ? 1.0f : alpha);
      break;
    case U_SIGN:
      for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? 1.0f : (x[i] < 0.0f ? -1.0f : (x[i] == 0.0f ? 0.0f : x[i]));
      break;
    case U_RECIPROCAL: for (size_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
  }
}

static void unary_part(void *p, int part, int parts) {
  unary_ctx *c = p;
  size_t lo, hi;
  split(c->n, part, parts, &lo, &hi);
  if (hi > lo) unary_range(c->op, c->x + lo, c->y + lo, hi - lo, c->alpha);
}

// Binary ops over a [rows × cols] output; each operand is read as the full
// matrix, a scalar, a row vector (cols, repeated down) or a column vector
// (rows, repeated across). These cover the broadcasts an MLP produces.
// The *_GRAD ops take an activation's output a and the gradient b w.r.t. it and
// give the gradient w.r.t. its input: the backward passes' one pass each.
enum { B_ADD = 0, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_SQDIFF, B_TANH_GRAD, B_RELU_GRAD, B_SIGMOID_GRAD, B_COUNT };
enum { M_FULL = 0, M_SCALAR, M_ROW, M_COL };

typedef struct {
  int op, am, bm;
  const float *a, *b;
  float *y;
  size_t rows, cols;
} binary_ctx;

static inline float bin1(int op, float a, float b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_MAX: return (a != a || b != b) ? NAN : (a > b ? a : b);
    case B_MIN: return (a != a || b != b) ? NAN : (a < b ? a : b);
    case B_TANH_GRAD: return b * (1.0f - a * a);
    case B_RELU_GRAD: return a > 0.0f ? b : 0.0f;
    case B_SIGMOID_GRAD: return b * a * (1.0f - a);
    default: { float d = a - b; return d * d; }
  }
}

// The op switch sits outside the loops so each loop vectorises.
#define BIN_LOOP                                   \
  switch (op) {                                          \
    case B_ADD: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = a + b; } } break; \
    case B_SUB: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = a - b; } } break; \
    case B_MUL: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = a * b; } } break; \
    case B_DIV: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = a / b; } } break; \
    case B_SQDIFF: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; float d = a - b; y[j] = d * d; } } break; \
    case B_TANH_GRAD: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = b * (1.0f - a * a); } } break; \
    case B_RELU_GRAD: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = a > 0.0f ? b : 0.0f; } } break; \
    case B_SIGMOID_GRAD: { _Pragma("GCC ivdep") for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = b * a * (1.0f - a); } } break; \
    default: for (size_t j = 0; j < n; j++) { float a = A, b = B; y[j] = bin1(op, a, b); } break; \
  }

// One contiguous run of n outputs whose operands are either contiguous
// (stride 1) or a single repeated value.
HOT static void binary_run(int op, const float *restrict pa, int sa, const float *restrict pb, int sb, float *restrict y, size_t n) {
  if (sa && sb) {
#define A pa[j]
#define B pb[j]
    BIN_LOOP
#undef A
#undef B
  } else if (sa) {
    const float bv = pb[0];
#define A pa[j]
#define B bv
    BIN_LOOP
#undef A
#undef B
  } else if (sb) {
    const float av = pa[0];
#define A av
#define B pb[j]
    BIN_LOOP
#undef A
#undef B
  } else {
    float v = bin1(op, pa[0], pb[0]);
    for (size_t j = 0; j < n; j++) y[j] = v;
  }
}

static inline const float *operand_row(const float *p, int mode, size_t i, size_t cols, int *stride) {
  switch (mode) {
    case M_FULL: *stride = 1; return p + i * cols;
    case M_SCALAR: *stride = 0; return p;
    case M_ROW: *stride = 1; return p;
    default: *stride = 0; return p + i;
  }
}

static void binary_part(void *p, int part, int parts) {
  binary_ctx *c = p;
  if (c->am != M_COL && c->am != M_ROW && c->bm != M_COL && c->bm != M_ROW) {
    // Flat: both operands full or scalar.
    size_t n = c->rows * c->cols, lo, hi;
    split(n, part, parts, &lo, &hi);
    if (hi <= lo) return;
    int sa = c->am == M_FULL, sb = c->bm == M_FULL;
    binary_run(c->op, sa ? c->a + lo : c->a, sa, sb ? c->b + lo : c->b, sb, c->y + lo, hi - lo);
    return;
  }
  size_t lo, hi;
  split_rows(c->rows, part, parts, &lo, &hi);
  for (size_t i = lo; i < hi; i++) {
    int sa, sb;
    const float *pa = operand_row(c->a, c->am, i, c->cols, &sa);
    const float *pb = operand_row(c->b, c->bm, i, c->cols, &sb);
    binary_run(c->op, pa, sa, pb, sb, c->y + i * c->cols, c->cols);
  }
}

// ---------------------------------------------------------------------------
// Reductions over the middle axis of x viewed as [outer × r × inner].

enum { R_SUM = 0, R_MEAN, R_MAX, R_MIN };

typedef struct {
  int op;
  const float *x;
  float *y;
  size_t outer, r, inner;
} reduce_ctx;

// Eight independent lanes: the sum vectorises and loses nothing to
// reassociation, since the order is fixed by this code rather than by -ffast-math.
HOT static double sum_contig(const float *restrict x, size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)x[j + k];
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < n; j++) s += (double)x[j];
  return s;
}

// Σ a·b with the products in float and the sum in eight double lanes.
HOT static double dot_contig(const float *restrict a, const float *restrict b, size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)(a[j + k] * b[j + k]);
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < n; j++) s += (double)(a[j] * b[j]);
  return s;
}

static float extreme_contig(int op, const float *x, size_t n) {
  float m = x[0];
  for (size_t j = 1; j < n; j++) {
    float v = x[j];
    if (v != v) return v;
    if (op == R_MAX ? v > m : v < m) m = v;
  }
  return m;
}

static void reduce_inner1_part(void *p, int part, int parts) {
  reduce_ctx *c = p;
  size_t lo, hi;
  split_rows(c->outer, part, parts, &lo, &hi);
  for (size_t o = lo; o < hi; o++) {
    const float *x = c->x + o * c->r;
    if (c->r == 0) {
      c->y[o] = c->op == R_MEAN ? NAN : (c->op == R_SUM ? 0.0f : (c->op == R_MAX ? -INFINITY : INFINITY));
    } else if (c->op == R_SUM || c->op == R_MEAN) {
      double s = sum_contig(x, c->r);
      c->y[o] = (float)(c->op == R_MEAN ? s / (double)c->r : s);
    } else {
      c->y[o] = extreme_contig(c->op, x, c->r);
    }
  }
}

// inner > 1: each part owns a slice of the inner axis and walks all rows.
HOT static void reduce_cols(int op, const float *restrict x, float *restrict y, size_t r, size_t inner, size_t j0, size_t j1, double *restrict acc) {
  size_t w = j1 - j0;
  if (op == R_SUM || op == R_MEAN) {
    for (size_t j = 0; j < w; j++) acc[j] = 0;
    for (size_t k = 0; k < r; k++) {
      const float *row = x + k * inner + j0;
      for (size_t j = 0; j < w; j++) acc[j] += (double)row[j];
    }
    for (size_t j = 0; j < w; j++) y[j0 + j] = (float)(op == R_MEAN ? acc[j] / (double)r : acc[j]);
  } else {
    for (size_t j = j0; j < j1; j++) y[j] = x[j];
    for (size_t k = 1; k < r; k++) {
      const float *row = x + k * inner;
      for (size_t j = j0; j < j1; j++) {
        float v = row[j];
        if (y[j] != y[j]) continue;
        if (v != v || (op == R_MAX ? v > y[j] : v < y[j])) y[j] = v;
      }
    }
  }
}

#define COL_BLOCK 1024

static void reduce_cols_part(void *p, int part, int parts) {
  reduce_ctx *c = p;
  double acc[COL_BLOCK];
  // Parts split the (outer, inner-block) pairs.
  size_t blocks = (c->inner + COL_BLOCK - 1) / COL_BLOCK;
  size_t lo, hi;
  split_rows(c->outer * blocks, part, parts, &lo, &hi);
  for (size_t t = lo; t < hi; t++) {
    size_t o = t / blocks, b = t % blocks;
    size_t j0 = b * COL_BLOCK, j1 = j0 + COL_BLOCK;
    if (j1 > c->inner) j1 = c->inner;
    const float *x = c->x + o * c->r * c->inner;
    float *y = c->y + o * c->inner;
    if (c->r == 0) {
      for (size_t j = j0; j < j1; j++) y[j] = c->op == R_SUM ? 0.0f : NAN;
    } else {
      reduce_cols(c->op, x, y, c->r, c->inner, j0, j1, acc);
    }
  }
}

// Splitting a long single column block: each part sums its own row range,
// the caller adds the partials.
typedef struct {
  const float *x;
  size_t r, inner;
  double *partial;  // parts × inner
} colsum_ctx;

HOT static void colsum_rows_part(void *p, int part, int parts) {
  colsum_ctx *c = p;
  size_t lo, hi;
  split_rows(c->r, part, parts, &lo, &hi);
  double *restrict acc = c->partial + (size_t)part * c->inner;
  for (size_t j = 0; j < c->inner; j++) acc[j] = 0;
  for (size_t k = lo; k < hi; k++) {
    const float *restrict row = c->x + k * c->inner;
    for (size_t j = 0; j < c->inner; j++) acc[j] += (double)row[j];
  }
}

// ---------------------------------------------------------------------------
// GEMM epilogue: y = act(y + bias) over rows × cols.

typedef struct {
  float *y;
  const float *bias;
  size_t rows, cols;
  int act;
} epilogue_ctx;

HOT static void epilogue_row(float *restrict y, const float *restrict bias, size_t n, int act) {
  if (bias) for (size_t j = 0; j < n; j++) y[j] += bias[j];
  switch (act) {
    case ACT_RELU: for (size_t j = 0; j < n; j++) y[j] = y[j] < 0.0f ? 0.0f : y[j]; break;
    case ACT_SIGMOID: for (size_t j = 0; j < n; j++) y[j] = sigmoid_f(y[j]); break;
    case ACT_TANH: for (size_t j = 0; j < n; j++) y[j] = tanh_f(y[j]); break;
    default: break;
  }
}

static void epilogue_part(void *p, int part, int parts) {
  epilogue_ctx *c = p;
  size_t lo, hi;
  split_rows(c->rows, part, parts, &lo, &hi);
  for (size_t i = lo; i < hi; i++) epilogue_row(c->y + i * c->cols, c->bias, c->cols, c->act);
}

// ---------------------------------------------------------------------------
// LayerNorm over the last axis, with an optional ReLU fused after the affine map.

typedef struct {
  const float *x, *gamma, *beta;
  float *y, *mean, *rstd;
  size_t rows, cols;
  float eps;
  int relu;
} ln_ctx;

HOT static void ln_row(const float *restrict x, const float *restrict gamma, const float *restrict beta, float *restrict y,
                       size_t n, float eps, int relu, float *mean_out, float *rstd_out) {
  double mean = sum_contig(x, n) / (double)n;
  float m = (float)mean;
  // Centred values go through y (overwritten below), so the variance is a
  // plain dot product that vectorises.
  for (size_t j = 0; j < n; j++) y[j] = x[j] - m;
  double ss = dot_contig(y, y, n);
  float rstd = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
  if (relu) {
    for (size_t j = 0; j < n; j++) {
      float v = y[j] * rstd * gamma[j] + beta[j];
      y[j] = v < 0.0f ? 0.0f : v;
    }
  } else {
    for (size_t j = 0; j < n; j++) y[j] = y[j] * rstd * gamma[j] + beta[j];
  }
  *mean_out = m;
  *rstd_out = rstd;
}

static void ln_part(void *p, int part, int parts) {
  ln_ctx *c = p;
  size_t lo, hi;
  split_rows(c->rows, part, parts, &lo, &hi);
  for (size_t i = lo; i < hi; i++) {
    ln_row(c->x + i * c->cols, c->gamma, c->beta, c->y + i * c->cols, c->cols, c->eps, c->relu, c->mean + i, c->rstd + i);
  }
}

typedef struct {
  const float *dy, *x, *gamma, *mean, *rstd, *y;  // y: the forward output, read only for the ReLU mask
  float *dx;
  double *partial;  // parts × 2 × cols: Σ g·x̂ then Σ g, per part; null: not wanted
  float *scratch;   // parts × 2 × cols: g and x̂ of the row in hand
  size_t rows, cols;
} lng_ctx;

HOT static void lng_row(const float *restrict dy, const float *restrict x, const float *restrict gamma, const float *restrict y,
                        float m, float r, float *restrict dx, double *restrict dgamma, double *restrict dbeta, size_t n,
                        float *restrict g, float *restrict xh) {
  // With the ReLU fused in front of dy, g = dy·[y > 0]; dx is then the
  // LayerNorm backward of g: r·(γg − mean(γg) − x̂·mean(γg·x̂)). Row-sized
  // temporaries (in L1) keep every loop a simple one that vectorises.
  if (y) {
    for (size_t j = 0; j < n; j++) g[j] = y[j] > 0.0f ? dy[j] : 0.0f;
  } else {
    memcpy(g, dy, n * sizeof(float));
  }
  for (size_t j = 0; j < n; j++) xh[j] = (x[j] - m) * r;
  if (dgamma) {
    for (size_t j = 0; j < n; j++) {
      dgamma[j] += (double)(g[j] * xh[j]);
      dbeta[j] += (double)g[j];
    }
  }
  for (size_t j = 0; j < n; j++) g[j] *= gamma[j];
  float ma = (float)(sum_contig(g, n) / (double)n);
  float mb = (float)(dot_contig(g, xh, n) / (double)n);
  for (size_t j = 0; j < n; j++) dx[j] = r * (g[j] - ma - xh[j] * mb);
}

static void lng_part(void *p, int part, int parts) {
  lng_ctx *c = p;
  size_t lo, hi;
  split_rows(c->rows, part, parts, &lo, &hi);
  double *dgamma = c->partial ? c->partial + (size_t)part * 2 * c->cols : NULL;
  double *dbeta = dgamma ? dgamma + c->cols : NULL;
  float *g = c->scratch + (size_t)part * 2 * c->cols;
  float *xh = g + c->cols;
  for (size_t i = lo; i < hi; i++) {
    size_t o = i * c->cols;
    lng_row(c->dy + o, c->x + o, c->gamma, c->y ? c->y + o : NULL, c->mean[i], c->rstd[i], c->dx + o, dgamma, dbeta, c->cols, g, xh);
  }
}

// ---------------------------------------------------------------------------
// Adam, in place: one pass reads p, g, m, v and writes p, m, v, where the
// composed TF.js update makes about a dozen passes and allocations.

typedef struct {
  float *p, *m, *v;
  const float *g;
  size_t n;
  float lr, b1, b2, eps, bc1, bc2;
} adam_ctx;

HOT static void adam_range(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, size_t n,
                           float lr, float b1, float b2, float eps, float bc1, float bc2) {
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * ((mi / bc1) / (sqrtf(vi / bc2) + eps));
  }
}

static void adam_part(void *p, int part, int parts) {
  adam_ctx *c = p;
  size_t lo, hi;
  split(c->n, part, parts, &lo, &hi);
  if (hi > lo) {
    adam_range(c->p + lo, c->m + lo, c->v + lo, c->g + lo, hi - lo, c->lr, c->b1, c->b2, c->eps, c->bc1, c->bc2);
  }
}

// ---------------------------------------------------------------------------
// RAdam, in place, as shared/tensor/radam.ts's stepInPlace: the moments and the
// step in double precision from the float32 state, each gradient first scaled
// by `gscale` (a global-norm clip) and rounded to float32 as a clipped
// gradient tensor would be. Threads over the elements.

typedef struct {
  float *p, *m, *v;
  const float *g;
  size_t n;
  double gscale, b1, b2, eps, step_scale, inv_bc2;
  int rectified;
} radam_ctx;

HOT static void radam_range(float *restrict p, float *restrict m, float *restrict v, const float *restrict g, size_t n, double gscale,
                            double b1, double b2, double eps, int rectified, double step_scale, double inv_bc2) {
  const double a1 = 1 - b1, a2 = 1 - b2;
  for (size_t i = 0; i < n; i++) {
    double gi = gscale == 1 ? (double)g[i] : (double)(float)((double)g[i] * gscale);
    double mi = a1 * gi + b1 * (double)m[i];
    double vi = a2 * gi * gi + b2 * (double)v[i];
    m[i] = (float)mi;
    v[i] = (float)vi;
    p[i] = (float)((double)p[i] - (rectified ? (step_scale * mi) / (sqrt(vi * inv_bc2) + eps) : step_scale * mi));
  }
}

static void radam_part(void *ctx, int part, int parts) {
  radam_ctx *c = ctx;
  size_t lo, hi;
  split(c->n, part, parts, &lo, &hi);
  if (hi > lo) {
    radam_range(c->p + lo, c->m + lo, c->v + lo, c->g + lo, hi - lo, c->gscale, c->b1, c->b2, c->eps, c->rectified, c->step_scale, c->inv_bc2);
  }
}

// Σ x² in double, by parts (a global norm over millions of gradients).
typedef struct {
  const float *x;
  size_t n;
  double *partial;
} sumsq_ctx;

static void sumsq_part(void *ctx, int part, int parts) {
  sumsq_ctx *c = ctx;
  size_t lo, hi;
  split(c->n, part, parts, &lo, &hi);
  c->partial[part] = hi > lo ? dot_contig(c->x + lo, c->x + lo, hi - lo) : 0;
}

// ---------------------------------------------------------------------------
// N-API glue

// Elementwise passes below this many elements per part run on one thread.
#define GRAIN 16384

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "fastcpu: N-API call failed: " #call); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

#define FAIL(msg)                                \
  do {                                           \
    napi_throw_error(env, NULL, "fastcpu: " msg); \
    return NULL;                                 \
  } while (0)

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  return t == napi_null || t == napi_undefined;
}

// A Float32Array argument: its data and length (in elements).
// A typed array of the wanted element type: its data and length; 0 otherwise.
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

static int get_f32(napi_env env, napi_value v, float **data, size_t *len) {
  return get_typed(env, v, napi_float32_array, (void **)data, len);
}

static int get_size(napi_env env, napi_value v, size_t *out) {
  int64_t x;
  if (napi_get_value_int64(env, v, &x) != napi_ok || x < 0) return 0;
  *out = (size_t)x;
  return 1;
}

static int get_int(napi_env env, napi_value v, int *out) {
  int32_t x;
  if (napi_get_value_int32(env, v, &x) != napi_ok) return 0;
  *out = x;
  return 1;
}

static int get_float(napi_env env, napi_value v, float *out) {
  double x;
  if (napi_get_value_double(env, v, &x) != napi_ok) return 0;
  *out = (float)x;
  return 1;
}

static int get_bool(napi_env env, napi_value v, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

#define ARGS(N)                                                        \
  size_t argc = N;                                                     \
  napi_value argv[N];                                                  \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));         \
  if (argc < N) FAIL("expected " #N " arguments");

#define F32(i, name, len)                                      \
  float *name;                                                 \
  size_t len;                                                  \
  if (!get_f32(env, argv[i], &name, &len)) FAIL("argument " #i " must be a Float32Array");

#define F32_OPT(i, name, len)                                                                  \
  float *name = NULL;                                                                          \
  size_t len = 0;                                                                              \
  if (!is_nullish(env, argv[i]) && !get_f32(env, argv[i], &name, &len))                        \
    FAIL("argument " #i " must be a Float32Array or null");

// A typed array of another element type; `what` names it for the error ("an Int32Array").
#define TYPED(i, want, ctype, name, len, what)                   \
  ctype *name = NULL;                                            \
  size_t len = 0;                                                \
  if (!get_typed(env, argv[i], want, (void **)&name, &len)) FAIL("argument " #i " must be " what);

#define TYPED_OPT(i, want, ctype, name, len, what)                                        \
  ctype *name = NULL;                                                                     \
  size_t len = 0;                                                                         \
  if (!is_nullish(env, argv[i]) && !get_typed(env, argv[i], want, (void **)&name, &len)) \
    FAIL("argument " #i " must be " what " or null");

#define SIZE(i, name) \
  size_t name;        \
  if (!get_size(env, argv[i], &name)) FAIL("argument " #i " must be a non-negative integer");

#define INT(i, name) \
  int name;          \
  if (!get_int(env, argv[i], &name)) FAIL("argument " #i " must be an integer");

#define FLOAT(i, name) \
  float name;          \
  if (!get_float(env, argv[i], &name)) FAIL("argument " #i " must be a number");

// RAdam's step runs in double, as radam.ts's: its scalars are not rounded to float.
#define DOUBLE(i, name) \
  double name;         \
  if (napi_get_value_double(env, argv[i], &name) != napi_ok) FAIL("argument " #i " must be a number");

#define BOOL(i, name) \
  int name;           \
  if (!get_bool(env, argv[i], &name)) FAIL("argument " #i " must be a boolean");

#include "gemm.c"

// unary(op, x, y, alpha)
static napi_value js_unary(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, op);
  F32(1, x, xlen);
  F32(2, y, ylen);
  FLOAT(3, alpha);
  if (op < 0 || op >= U_COUNT) FAIL("unary: unknown op");
  if (ylen < xlen) FAIL("unary: output too short");
  unary_ctx ctx = {op, x, y, xlen, alpha};
  // Transcendentals cost several times a load; split them sooner.
  size_t grain = (op == U_SIGMOID || op == U_TANH || op == U_EXP || op == U_LOG) ? GRAIN / 4 : GRAIN;
  parallel(unary_part, &ctx, xlen, grain);
  return NULL;
}

static size_t operand_len(int mode, size_t rows, size_t cols) {
  switch (mode) {
    case M_FULL: return rows * cols;
    case M_SCALAR: return 1;
    case M_ROW: return cols;
    default: return rows;
  }
}

// binary(op, a, aMode, b, bMode, y, rows, cols)
static napi_value js_binary(napi_env env, napi_callback_info info) {
  ARGS(8);
  INT(0, op);
  F32(1, a, alen);
  INT(2, am);
  F32(3, b, blen);
  INT(4, bm);
  F32(5, y, ylen);
  SIZE(6, rows);
  SIZE(7, cols);
  if (op < 0 || op >= B_COUNT) FAIL("binary: unknown op");
  if (am < M_FULL || am > M_COL || bm < M_FULL || bm > M_COL) FAIL("binary: unknown operand mode");
  if (alen < operand_len(am, rows, cols) || blen < operand_len(bm, rows, cols) || ylen < rows * cols) FAIL("binary: array too short");
  if (rows * cols == 0) return NULL;
  binary_ctx ctx = {op, am, bm, a, b, y, rows, cols};
  parallel(binary_part, &ctx, rows * cols, GRAIN);
  return NULL;
}

// reduce(op, x, y, outer, r, inner): y[o, j] = op over k of x[o, k, j].
static napi_value js_reduce(napi_env env, napi_callback_info info) {
  ARGS(6);
  INT(0, op);
  F32(1, x, xlen);
  F32(2, y, ylen);
  SIZE(3, outer);
  SIZE(4, r);
  SIZE(5, inner);
  if (op < R_SUM || op > R_MIN) FAIL("reduce: unknown op");
  if (xlen < outer * r * inner || ylen < outer * inner) FAIL("reduce: array too short");
  if (outer * inner == 0) return NULL;
  reduce_ctx ctx = {op, x, y, outer, r, inner};
  if (inner == 1) {
    parallel(reduce_inner1_part, &ctx, outer * r, GRAIN);
  } else if ((op == R_SUM || op == R_MEAN) && outer == 1 && inner <= COL_BLOCK && r >= 64) {
    // One block of columns over many rows (a bias gradient): split the rows,
    // each part summing into its own slice, added up in part order.
    int parts = plan_parts(r * inner, GRAIN);
    double *partial = calloc((size_t)parts * inner, sizeof(double));
    if (!partial) FAIL("reduce: out of memory");
    colsum_ctx cc = {x, r, inner, partial};
    run_parts(colsum_rows_part, &cc, parts);
    for (size_t j = 0; j < inner; j++) {
      double s = 0;
      for (int p = 0; p < parts; p++) s += partial[(size_t)p * inner + j];
      y[j] = (float)(op == R_MEAN ? s / (double)r : s);
    }
    free(partial);
  } else {
    size_t blocks = (inner + COL_BLOCK - 1) / COL_BLOCK;
    // Work per (outer, block) task is r·block elements; grain counted in tasks.
    size_t per_task = r * (inner < COL_BLOCK ? inner : COL_BLOCK);
    size_t grain = per_task >= GRAIN ? 1 : (GRAIN + per_task - 1) / (per_task ? per_task : 1);
    parallel(reduce_cols_part, &ctx, outer * blocks, grain);
  }
  return NULL;
}

// layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, eps, relu)
static napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  ARGS(10);
  F32(0, x, xlen);
  F32(1, gamma, glen);
  F32(2, beta, blen);
  F32(3, y, ylen);
  F32(4, mean, mlen);
  F32(5, rstd, rlen);
  SIZE(6, rows);
  SIZE(7, cols);
  FLOAT(8, eps);
  BOOL(9, relu);
  if (cols == 0) FAIL("layerNorm: zero columns");
  if (xlen < rows * cols || ylen < rows * cols || glen < cols || blen < cols || mlen < rows || rlen < rows) FAIL("layerNorm: array too short");
  ln_ctx ctx = {x, gamma, beta, y, mean, rstd, rows, cols, eps, relu};
  parallel(ln_part, &ctx, rows * cols, GRAIN);
  return NULL;
}

// layerNormGrad(dy, x, gamma, mean, rstd, y|null, dx, dgamma, dbeta, rows, cols)
static napi_value js_layer_norm_grad(napi_env env, napi_callback_info info) {
  ARGS(11);
  F32(0, dy, dylen);
  F32(1, x, xlen);
  F32(2, gamma, glen);
  F32(3, mean, mlen);
  F32(4, rstd, rlen);
  F32_OPT(5, y, ylen);
  F32(6, dx, dxlen);
  // Null γ and β gradients: a frozen network's pass, which only wants dx.
  F32_OPT(7, dgamma, dglen);
  F32_OPT(8, dbeta, dblen);
  SIZE(9, rows);
  SIZE(10, cols);
  size_t n = rows * cols;
  if (cols == 0) FAIL("layerNormGrad: zero columns");
  if ((dgamma == NULL) != (dbeta == NULL)) FAIL("layerNormGrad: dgamma and dbeta must both be arrays or both null");
  if (dylen < n || xlen < n || dxlen < n || (y && ylen < n) || glen < cols || mlen < rows || rlen < rows || (dgamma && (dglen < cols || dblen < cols)))
    FAIL("layerNormGrad: array too short");
  int parts = plan_parts(n, GRAIN);
  double *partial = calloc((size_t)parts * 2 * cols, sizeof(double));
  float *scratch = malloc((size_t)parts * 2 * cols * sizeof(float));
  if (!partial || !scratch) {
    free(partial);
    free(scratch);
    FAIL("layerNormGrad: out of memory");
  }
  lng_ctx ctx = {dy, x, gamma, mean, rstd, y, dx, dgamma ? partial : NULL, scratch, rows, cols};
  run_parts(lng_part, &ctx, parts);
  free(scratch);
  for (size_t j = 0; dgamma && j < cols; j++) {
    double sg = 0, sb = 0;
    for (int p = 0; p < parts; p++) {
      sg += partial[(size_t)p * 2 * cols + j];
      sb += partial[(size_t)p * 2 * cols + cols + j];
    }
    dgamma[j] = (float)sg;
    dbeta[j] = (float)sb;
  }
  free(partial);
  return NULL;
}

// adam(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2), bc = 1 − βᵗ.
static napi_value js_adam(napi_env env, napi_callback_info info) {
  ARGS(10);
  F32(0, p, plen);
  F32(1, g, glen);
  F32(2, m, mlen);
  F32(3, v, vlen);
  FLOAT(4, lr);
  FLOAT(5, b1);
  FLOAT(6, b2);
  FLOAT(7, eps);
  FLOAT(8, bc1);
  FLOAT(9, bc2);
  if (glen < plen || mlen < plen || vlen < plen) FAIL("adam: array too short");
  adam_ctx ctx = {p, m, v, g, plen, lr, b1, b2, eps, bc1, bc2};
  parallel(adam_part, &ctx, plen, GRAIN);
  return NULL;
}

// radam(p, g, m, v, gscale, b1, b2, eps, rectified, stepScale, invBc2): one RAdam step in place.
static napi_value js_radam(napi_env env, napi_callback_info info) {
  ARGS(11);
  F32(0, p, plen);
  F32(1, g, glen);
  F32(2, m, mlen);
  F32(3, v, vlen);
  DOUBLE(4, gscale);
  DOUBLE(5, b1);
  DOUBLE(6, b2);
  DOUBLE(7, eps);
  BOOL(8, rectified);
  DOUBLE(9, step_scale);
  DOUBLE(10, inv_bc2);
  if (glen < plen || mlen < plen || vlen < plen) FAIL("radam: array too short");
  radam_ctx ctx = {p, m, v, g, plen, gscale, b1, b2, eps, step_scale, inv_bc2, rectified};
  parallel(radam_part, &ctx, plen, GRAIN);
  return NULL;
}

// sumsq(x): Σ x² as a double.
static napi_value js_sumsq(napi_env env, napi_callback_info info) {
  ARGS(1);
  F32(0, x, xlen);
  int parts = plan_parts(xlen, GRAIN);
  double partial[PARTS_PER_THREAD * 256];
  if (parts > (int)(sizeof(partial) / sizeof(partial[0]))) parts = (int)(sizeof(partial) / sizeof(partial[0]));
  sumsq_ctx ctx = {x, xlen, partial};
  run_parts(sumsq_part, &ctx, parts);
  double s = 0;
  for (int p = 0; p < parts; p++) s += partial[p];
  napi_value out;
  CHECK(napi_create_double(env, s, &out));
  return out;
}

// setThreads(n): threads for both OpenBLAS and the pool; returns the count in effect.
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, n);
  int got = pool_grow(n);
  const char *mode = getenv("PLEARN_BLAS_THREADS");
  g_pooled_gemm = !(mode && strcmp(mode, "own") == 0);
  const char *thin = getenv("PLEARN_THIN_GEMM");
  g_thin_gemm = !(thin && strcmp(thin, "off") == 0);
  openblas_set_num_threads(g_pooled_gemm ? 1 : got);
  napi_value out;
  CHECK(napi_create_int32(env, got, &out));
  return out;
}

// info(): { threads, blasThreads, blasCore, blasConfig }
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_int32(env, atomic_load(&g_threads), &v));
  CHECK(napi_set_named_property(env, out, "threads", v));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &v));
  CHECK(napi_set_named_property(env, out, "blasThreads", v));
  const char *core = openblas_get_corename();
  CHECK(napi_create_string_utf8(env, core ? core : "unknown", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "blasCore", v));
  const char *cfg = openblas_get_config();
  CHECK(napi_create_string_utf8(env, cfg ? cfg : "unknown", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, out, "blasConfig", v));
  return out;
}

#include "gridvi.c"
#include "envstep.c"

NAPI_MODULE_INIT() {
  npio2_init();
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
    {"gemm", js_gemm},
    {"unary", js_unary},
    {"binary", js_binary},
    {"reduce", js_reduce},
    {"layerNorm", js_layer_norm},
    {"layerNormGrad", js_layer_norm_grad},
    {"adam", js_adam},
    {"radam", js_radam},
    {"sumsq", js_sumsq},
    {"setThreads", js_set_threads},
    {"info", js_info},
    {"viSweep", js_vi_sweep},
    {"mountainCarStep", js_mountain_car_step},
    {"reacherStep", js_reacher_step},
    {"jsCos", js_js_cos},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
  }
  return exports;
}
