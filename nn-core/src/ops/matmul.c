/* Matrix products on OpenBLAS: Gemm (2-D, with transposes, alpha and a
 * constant C folded into a bias) and MatMul (NumPy-style batches). */
#include "load/loader.h"

#include <cblas.h>

typedef struct {
  gboolean trans_a, trans_b;
  float alpha;
  int m, n, k;
  float *bias;                      /* beta · C broadcast to M×N, or NULL */
} GemmParams;

typedef struct {
  int m, n, k;
  size_t batch;                     /* GEMMs per run */
  size_t a_batch_stride, b_batch_stride;   /* 0: the operand is shared by all batches */
} MatMulParams;

/* OpenBLAS picks its kernels from a table of the CPUs it knew when it was
 * built, and falls back to old SSE ones on a newer CPU (Debian 12's 0.3.21
 * runs "Prescott" kernels on Sapphire Rapids: 33 GFLOP/s instead of 162).
 * The engine's own kernels do not depend on it; Gemm and MatMul still do,
 * so the log says when they run on kernels older than the CPU (once per
 * process, at the first net that has one). */
static void
check_openblas_core (void)
{
  static gsize checked;
  if (!g_once_init_enter (&checked))
    return;
#if defined(__x86_64__) && defined(__GNUC__)
  static const char *const avx2_cores[] = {
    "Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator",
  };
  const char *core = openblas_get_corename ();
  gboolean known = FALSE;
  for (gsize i = 0; core != NULL && i < G_N_ELEMENTS (avx2_cores); i++)
    known |= g_ascii_strcasecmp (core, avx2_cores[i]) == 0;
  __builtin_cpu_init ();
  if (!known && __builtin_cpu_supports ("avx2"))
    g_message ("OpenBLAS runs its \"%s\" kernels on this CPU, which has AVX2%s: the Gemm and "
               "MatMul ops run slower than they could (OPENBLAS_CORETYPE=%s selects faster "
               "ones); convolutions use facekp's own kernels", core ? core : "unknown",
               __builtin_cpu_supports ("avx512f") ? " and AVX-512" : "",
               __builtin_cpu_supports ("avx512f") ? "SkylakeX" : "Haswell");
#endif
  g_once_init_leave (&checked, 1);
}

/* ---- Gemm ---------------------------------------------------------------------- */

typedef struct {
  const GemmParams *gemm;
  const float *a, *b;
  float *y;
} GemvJob;

/* Outputs [lo, hi) of a one-row Gemm: each reads only its own rows (or
 * columns) of the weights, which is what bounds it. */
static void
gemv_part (void *ctx, int part, int n_parts)
{
  const GemvJob *j = ctx;
  const GemmParams *gemm = j->gemm;
  const int N = gemm->n, K = gemm->k;
  int lo, hi;
  fkp_nn_split (N, part, n_parts, 16, &lo, &hi);
  if (hi <= lo)
    return;
  if (gemm->trans_b)
    cblas_sgemv (CblasRowMajor, CblasNoTrans, hi - lo, K, gemm->alpha, j->b + (size_t) lo * K, K,
                 j->a, 1, 0.0f, j->y + lo, 1);
  else
    cblas_sgemv (CblasRowMajor, CblasTrans, K, hi - lo, gemm->alpha, j->b + lo, N, j->a, 1, 0.0f,
                 j->y + lo, 1);
}

void
fkp_nn_run_gemm (FkpNet *net, const Step *s)
{
  const GemmParams *gemm = s->params;
  const float *a = tensor_data (net, s->inputs[0]);
  const float *b = tensor_data (net, s->inputs[1]);
  float *y = tensor_data (net, s->output);
  const int M = gemm->m, N = gemm->n, K = gemm->k;
  if (M == 1 && !gemm->trans_a) {
    /* One row: a matrix-vector product is much cheaper than sgemm's packing;
     * the threads share out a large one (the landmark head's 1024→512). */
    GemvJob j = { gemm, a, b, y };
    fkp_nn_parallel (net, (int64_t) N * K >= 256 * 1024 ? N / 16 : 1, gemv_part, &j);
  } else {
    cblas_sgemm (CblasRowMajor, gemm->trans_a ? CblasTrans : CblasNoTrans,
                 gemm->trans_b ? CblasTrans : CblasNoTrans, M, N, K, gemm->alpha, a,
                 gemm->trans_a ? M : K, b, gemm->trans_b ? K : N, 0.0f, y, N);
  }
  const size_t n = (size_t) M * N;
  if (gemm->bias)
    for (size_t i = 0; i < n; i++)
      y[i] += gemm->bias[i];
  fkp_nn_apply_activation (y, n, &s->act);
}

void
fkp_nn_clear_gemm (void *params)
{
  g_free (((GemmParams *) params)->bias);
}

gboolean
fkp_nn_build_gemm (Node *node, GError **error)
{
  check_openblas_core ();
  Loader *L = node->L;
  int a, b, c = -1;
  int64_t trans_a, trans_b;
  float alpha, beta;
  if (!check_arity (node, 2, 3, 1, 1, error)
      || !check_attrs (node, "alpha,beta,transA,transB,broadcast", error)
      || !want_float (node, 0, &a, error) || !want_float (node, 1, &b, error)
      || !attr_int (node, "transA", 0, &trans_a, error)
      || !attr_int (node, "transB", 0, &trans_b, error)
      || !attr_float (node, "alpha", 1.0f, &alpha, error)
      || !attr_float (node, "beta", 1.0f, &beta, error))
    return FALSE;
  if (input_index (node, 2) >= 0 && !want_const_float (node, 2, &c, error))
    return FALSE;
  const Tensor *A = T (L, a), *B = T (L, b);
  if (A->shape.rank != 2 || B->shape.rank != 2)
    return fail (error, FKP_NN_ERROR_SHAPE,
                 "%s: Gemm needs 2-D inputs ('%s' rank %d, '%s' rank %d)", node->label, A->name,
                 A->shape.rank, B->name, B->shape.rank);
  int64_t M = A->shape.dims[trans_a ? 1 : 0], K = A->shape.dims[trans_a ? 0 : 1];
  int64_t KB = B->shape.dims[trans_b ? 1 : 0], N = B->shape.dims[trans_b ? 0 : 1];
  if (K != KB || M < 1 || N < 1 || K < 1) {
    char *sa = shape_string (&A->shape), *sb = shape_string (&B->shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' %s and '%s' %s do not multiply", node->label,
          A->name, sa, B->name, sb);
    g_free (sa);
    g_free (sb);
    return FALSE;
  }
  FkpShape shape = { 2, { M, N } };
  size_t n;
  /* Checked before the bias table of n floats is allocated. */
  if (!check_output (node, &shape, error) || !shape_count (&shape, &n))
    return FALSE;
  Step *s = new_step (node, OP_GEMM, sizeof (GemmParams), 2, (int[]) { a, b });
  GemmParams *gemm = s->params;
  gemm->trans_a = trans_a != 0;
  gemm->trans_b = trans_b != 0;
  gemm->alpha = alpha;
  gemm->m = (int) M; gemm->n = (int) N; gemm->k = (int) K;
  s->macs = (uint64_t) M * N * K;
  if (c >= 0 && beta != 0.0f) {
    const Tensor *C = T (L, c);
    FkpShape full;
    if (!fkp_nn_broadcast_shapes (&C->shape, &shape, &full) || full.rank != 2 || full.dims[0] != M
        || full.dims[1] != N)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: C '%s' does not broadcast to [%"
                   G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]", node->label, C->name, M, N);
    Broadcast plan = { 0 };
    fkp_nn_broadcast_plan (&plan, &shape, &C->shape, &C->shape);
    gemm->bias = alloc_held (node, "bias", n, sizeof (float), error);
    if (!gemm->bias)
      return FALSE;
    s->n_weights = n;
    for (size_t i = 0; i < n; i++) {
      size_t oc, unused;
      fkp_nn_broadcast_offsets (&plan, i, &oc, &unused);
      gemm->bias[i] = beta * C->fdata[oc];
    }
  }
  return step_output (node, s, &shape, DT_FLOAT, error);
}

/* ---- MatMul -------------------------------------------------------------------- */

void
fkp_nn_run_matmul (FkpNet *net, const Step *s)
{
  const MatMulParams *matmul = s->params;
  const float *a = tensor_data (net, s->inputs[0]);
  const float *b = tensor_data (net, s->inputs[1]);
  float *y = tensor_data (net, s->output);
  const int M = matmul->m, N = matmul->n, K = matmul->k;
  for (size_t i = 0; i < matmul->batch; i++) {
    const float *ai = a + i * matmul->a_batch_stride, *bi = b + i * matmul->b_batch_stride;
    float *yi = y + i * (size_t) M * N;
    if (N == 1)
      cblas_sgemv (CblasRowMajor, CblasNoTrans, M, K, 1.0f, ai, K, bi, 1, 0.0f, yi, 1);
    else if (M == 1)
      cblas_sgemv (CblasRowMajor, CblasTrans, K, N, 1.0f, bi, N, ai, 1, 0.0f, yi, 1);
    else
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, ai, K, bi, N, 0.0f,
                   yi, N);
  }
  fkp_nn_apply_activation (y, net->tensors[s->output].n_elements, &s->act);
}

gboolean
fkp_nn_build_matmul (Node *node, GError **error)
{
  check_openblas_core ();
  Loader *L = node->L;
  int a, b;
  if (!check_arity (node, 2, 2, 1, 1, error) || !check_attrs (node, "", error)
      || !want_float (node, 0, &a, error) || !want_float (node, 1, &b, error))
    return FALSE;
  const Tensor *A = T (L, a), *B = T (L, b);
  int ra = A->shape.rank, rb = B->shape.rank;
  if (ra < 1 || rb < 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: MatMul of a scalar", node->label);
  int64_t K = A->shape.dims[ra - 1];
  int64_t KB = rb == 1 ? B->shape.dims[0] : B->shape.dims[rb - 2];
  int64_t N = rb == 1 ? 1 : B->shape.dims[rb - 1];
  int64_t M = ra == 1 ? 1 : A->shape.dims[ra - 2];
  int64_t batch_a = ra > 2 ? dims_product (A->shape.dims, 0, ra - 2) : 1;
  int64_t batch_b = rb > 2 ? dims_product (B->shape.dims, 0, rb - 2) : 1;
  FkpShape shape = { 0 };
  gboolean same_batch = ra == rb && ra > 2
                        && memcmp (A->shape.dims, B->shape.dims, (ra - 2) * sizeof (int64_t)) == 0;
  if (K != KB || K < 1 || M < 1 || N < 1 || (batch_b > 1 && batch_a > 1 && !same_batch))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' and '%s' do not multiply (or need a batch "
                 "broadcast that is not supported)", node->label, A->name, B->name);
  const Tensor *batch_src = batch_b > 1 && batch_a <= 1 ? B : A;
  int batch_rank = MAX (batch_src->shape.rank - 2, 0);
  for (int i = 0; i < batch_rank; i++)
    shape.dims[shape.rank++] = batch_src->shape.dims[i];
  if (ra > 1)
    shape.dims[shape.rank++] = M;
  if (rb > 1)
    shape.dims[shape.rank++] = N;
  if (shape.rank > FKP_NN_MAX_RANK)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: output rank too large", node->label);
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  Step *s = new_step (node, OP_MATMUL, sizeof (MatMulParams), 2, (int[]) { a, b });
  MatMulParams *matmul = s->params;
  matmul->k = (int) K;
  matmul->n = (int) N;
  if (batch_b <= 1) {
    /* B shared: all of A's rows in one GEMM */
    matmul->batch = 1;
    matmul->m = (int) (M * batch_a);
  } else {
    matmul->batch = (size_t) batch_b;
    matmul->m = (int) M;
    matmul->a_batch_stride = batch_a > 1 ? (size_t) (M * K) : 0;
    matmul->b_batch_stride = (size_t) (K * N);
  }
  s->macs = (uint64_t) matmul->batch * matmul->m * N * K;
  return step_output (node, s, &shape, DT_FLOAT, error);
}
