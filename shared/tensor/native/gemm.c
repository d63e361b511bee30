// Matrix products (shared/tensor/fast-cpu.ts's MatMul and _FusedMatMul, the
// native MLP's layers), included by fastcpu.c after its thread pool, the
// epilogue's activations and the N-API helpers.

// ---------------------------------------------------------------------------
// GEMM on the pool. OpenBLAS runs single-threaded inside each part and the
// pool splits the product by rows or columns of C, so one set of threads
// serves the products and every kernel around them: with OpenBLAS's own
// threads, each product woke a second pool whose idle threads then spun
// through the LayerNorms and sums between products, on 2 cores. Each part
// applies the bias and activation to its block while it is still in cache.

typedef struct {
  int ta, tb;
  size_t batch, M, N, K, sa, sb;
  const float *a, *b;
  float *c;
  const float *bias;
  int act, lda, ldb;
  int by_cols;    // split C's columns (else its rows)
  int blocks;     // blocks per matrix
} gemm_ctx;

// Products with a side of at most THIN (an input layer of 2–6 features, a head
// of 2–9 actions, their gradients): OpenBLAS's packing and blocking cost more
// than the arithmetic there (a 512×256×5 product took as long as a third of a
// 512×256×256 one), so these run as plain loops that vectorise along the long
// side. Accumulation is float in k order, as a product's sum of K terms.
#define THIN 8

// C (m × n, row stride ldc) = op(A)·op(B) with K ≤ THIN, op(B) row k read from a
// K × n panel (transposed first when B is stored N × K).
HOT static void thin_k(const float *restrict a, size_t lda, int ta, const float *restrict bk, size_t m, size_t n, size_t K,
                       float *restrict c, size_t ldc) {
  for (size_t i = 0; i < m; i++) {
    float *restrict ci = c + i * ldc;
    float a0 = ta ? a[i] : a[i * lda];
    const float *restrict b0 = bk;
    for (size_t j = 0; j < n; j++) ci[j] = a0 * b0[j];
    for (size_t k = 1; k < K; k++) {
      float ak = ta ? a[k * lda + i] : a[i * lda + k];
      const float *restrict bkr = bk + k * n;
      for (size_t j = 0; j < n; j++) ci[j] += ak * bkr[j];
    }
  }
}

// C (m × n, n ≤ THIN) = op(A)·op(B) with op(A) row i contiguous (A not transposed)
// and op(B)'s columns given as rows of bt (n × K): n dot products per row.
HOT static void thin_n(const float *restrict a, size_t lda, const float *restrict bt, size_t m, size_t n, size_t K,
                       float *restrict c, size_t ldc) {
  for (size_t i = 0; i < m; i++) {
    const float *restrict ai = a + i * lda;
    for (size_t j = 0; j < n; j++) {
      const float *restrict bj = bt + j * K;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      size_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += ai[k + l] * bj[k + l];
      float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; k < K; k++) sum += ai[k] * bj[k];
      c[i * ldc + j] = sum;
    }
  }
}

// C (m ≤ THIN rows × n) = op(A)·B with B stored K × n (not transposed): row m of
// C accumulates A's column/row entries times B's rows, along n.
HOT static void thin_m(const float *restrict a, size_t lda, int ta, const float *restrict b, size_t ldb, size_t m, size_t n, size_t K,
                       float *restrict c, size_t ldc) {
  for (size_t i = 0; i < m; i++) memset(c + i * ldc, 0, n * sizeof(float));
  for (size_t k = 0; k < K; k++) {
    const float *restrict bk = b + k * ldb;
    for (size_t i = 0; i < m; i++) {
      float aik = ta ? a[k * lda + i] : a[i * lda + k];
      float *restrict ci = c + i * ldc;
      for (size_t j = 0; j < n; j++) ci[j] += aik * bk[j];
    }
  }
}

// The block as a thin product when one side allows it; 0 leaves it to sgemm.
static int gemm_thin(const gemm_ctx *g, const float *ap, const float *bp, float *cp, size_t m, size_t n) {
  size_t K = g->K, N = g->N;
  float stack[THIN * 1024];
  if (K <= THIN) {
    // op(B) as a K × n panel: B itself when stored K × N, else transposed (K·n floats).
    const float *bk = bp;
    float *tmp = NULL;
    if (g->tb || n != N) {
      tmp = K * n <= sizeof(stack) / sizeof(float) ? stack : malloc(K * n * sizeof(float));
      if (!tmp) return 0;
      for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < n; j++) tmp[k * n + j] = g->tb ? bp[j * (size_t)g->ldb + k] : bp[k * (size_t)g->ldb + j];
      bk = tmp;
    }
    thin_k(ap, (size_t)g->lda, g->ta, bk, m, n, K, cp, N);
    if (tmp && tmp != stack) free(tmp);
    return 1;
  }
  if (n <= THIN && !g->ta) {
    // op(B)'s n columns as rows of length K: B's rows when stored N × K, else gathered.
    const float *bt = bp;
    float *tmp = NULL;
    if (!g->tb) {
      tmp = K * n <= sizeof(stack) / sizeof(float) ? stack : malloc(K * n * sizeof(float));
      if (!tmp) return 0;
      for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < K; k++) tmp[j * K + k] = bp[k * (size_t)g->ldb + j];
      bt = tmp;
    }
    thin_n(ap, (size_t)g->lda, bt, m, n, K, cp, N);
    if (tmp && tmp != stack) free(tmp);
    return 1;
  }
  if (m <= THIN && !g->tb) {
    thin_m(ap, (size_t)g->lda, g->ta, bp, (size_t)g->ldb, m, n, K, cp, N);
    return 1;
  }
  return 0;
}

// Rows (or columns, by_cols) [lo, hi) of product i, then their epilogue.
static void gemm_block(const gemm_ctx *g, size_t i, size_t lo, size_t hi, int by_cols) {
  if (hi <= lo) return;
  const float *a = g->a + i * g->sa, *b = g->b + i * g->sb;
  float *c = g->c + i * g->M * g->N;
  size_t N = g->N;
  size_t m = by_cols ? g->M : hi - lo, n = by_cols ? hi - lo : N;
  // op(A)'s rows lo… are A's columns when A is stored transposed; likewise op(B)'s columns.
  const float *ap = by_cols ? a : (g->ta ? a + lo : a + lo * (size_t)g->lda);
  const float *bp = by_cols ? (g->tb ? b + lo * (size_t)g->ldb : b + lo) : b;
  float *cp = by_cols ? c + lo : c + lo * N;
  if (g->K == 0) {
    for (size_t r = 0; r < m; r++) memset(cp + r * N, 0, n * sizeof(float));
  } else if (!(g_thin_gemm && gemm_thin(g, ap, bp, cp, m, n))) {
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)g->K, 1.0f,
                ap, g->lda, bp, g->ldb, 0.0f, cp, (int)N);
  }
  if (g->bias || g->act != ACT_LINEAR) {
    const float *bias = g->bias ? g->bias + (by_cols ? lo : 0) : NULL;
    for (size_t r = 0; r < m; r++) epilogue_row(cp + r * N, bias, n, g->act);
  }
}

static void gemm_part(void *p, int part, int parts) {
  (void)parts;
  gemm_ctx *g = p;
  size_t i = (size_t)part / (size_t)g->blocks;
  int blk = part % g->blocks;
  size_t lo, hi;
  split(g->by_cols ? g->N : g->M, blk, g->blocks, &lo, &hi);
  gemm_block(g, i, lo, hi, g->by_cols);
}

// Below this many multiply-adds a product runs whole on the calling thread.
#define GEMM_SPLIT_MACS (1u << 18)

// Parts of a product on the pool: whole matrices when the batch alone keeps
// every thread busy, else each matrix cut along C's longer side into one block
// per thread (a block repacks the other operand, so no more than that), each
// at least 16 rows or columns.
static int gemm_plan(gemm_ctx *g) {
  int threads = threads_now();
  g->by_cols = 0;
  g->blocks = 1;
  if (threads <= 1 || g->batch * g->M * g->N * (g->K ? g->K : 1) < GEMM_SPLIT_MACS) return (int)g->batch;
  if (g->batch >= (size_t)threads) return (int)g->batch;
  g->by_cols = g->N > g->M;
  size_t side = g->by_cols ? g->N : g->M;
  size_t most = side / 16;
  g->blocks = (int)((size_t)threads < most ? (size_t)threads : (most < 1 ? 1 : most));
  return (int)g->batch * g->blocks;
}


// gemm(transA, transB, batch, M, N, K, a, strideA, b, strideB, c, bias|null, act)
// c[i] = act(op(a[i])·op(b[i]) + bias) for i < batch, c[i] = c + i·M·N;
// a stride of 0 repeats one matrix for every batch entry (broadcast).
static napi_value js_gemm(napi_env env, napi_callback_info info) {
  ARGS(13);
  BOOL(0, ta);
  BOOL(1, tb);
  SIZE(2, batch);
  SIZE(3, M);
  SIZE(4, N);
  SIZE(5, K);
  F32(6, a, alen);
  SIZE(7, sa);
  F32(8, b, blen);
  SIZE(9, sb);
  F32(10, c, clen);
  F32_OPT(11, bias, biaslen);
  INT(12, act);
  if (batch == 0 || M == 0 || N == 0) return NULL;
  if ((batch - 1) * sa + M * K > alen || (batch - 1) * sb + K * N > blen || batch * M * N > clen) FAIL("gemm: array too short");
  if (bias && biaslen != N) FAIL("gemm: bias length must equal N");
  if (act < ACT_LINEAR || act > ACT_TANH) FAIL("gemm: unknown activation");
  // BLAS rejects leading dimensions of 0; with K = 0 the product is all zeros anyway.
  int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N);
  if (lda < 1) lda = 1;
  if (ldb < 1) ldb = 1;
  gemm_ctx ctx = {ta, tb, batch, M, N, K, sa, sb, a, b, c, bias, act, lda, ldb, 0, 1};
  if (!g_pooled_gemm) {
    gemm_ctx bare = ctx;
    bare.bias = NULL;
    bare.act = ACT_LINEAR;
    for (size_t i = 0; i < batch; i++) gemm_block(&bare, i, 0, M, 0);
    if (bias || act != ACT_LINEAR) {
      epilogue_ctx ectx = {c, bias, batch * M, N, act};
      parallel(epilogue_part, &ectx, batch * M * N, GRAIN);
    }
    return NULL;
  }
  run_parts(gemm_part, &ctx, gemm_plan(&ctx));
  return NULL;
}
