/* The engine's SGEMM (nn-core/src/sgemm/) against a naive triple loop that
 * accumulates in double, on every ISA path this CPU supports: edges of the
 * register tile, every kind of K, strides, bias, ReLU and LeakyRelu, the row and column
 * ranges that threads use, the convolutions of the shipped models, and the
 * 2×2 max pool taken in the tiles. */
#include <math.h>
#include <string.h>
#include <glib.h>
#include "sgemm.h"

/* Written around the ranges: a value the GEMM never produces, so a stray
 * write shows. */
#define GUARD 12345.0f

/* The activation a shape's epilogue applies: none, ReLU, or LeakyRelu with
 * this slope (the detector's). */
enum { ACT_NONE, ACT_RELU, ACT_LEAKY };
#define LEAKY_SLOPE 0.1f

typedef struct {
  int M, N, K;
  size_t ldb, ldc;             /* ≥ N */
  bool bias;
  int act;                     /* ACT_* */
  int b_offset;                /* floats from a 64-byte boundary to B */
} Shape;

static float *
random_floats (size_t n)
{
  float *v = g_new (float, MAX (n, 1));
  for (size_t i = 0; i < n; i++)
    v[i] = (float) g_test_rand_double_range (-1.0, 1.0);
  return v;
}

/* want = A·B (+ bias, ReLU) in double; scale = Σ|a·b| (+ |bias|) per element,
 * the size of the rounding error a float sum of those terms may make. */
static void
reference (const Shape *s, const float *A, const float *B, const float *bias, double *want,
           double *scale)
{
  for (int r = 0; r < s->M; r++)
    for (int j = 0; j < s->N; j++) {
      double sum = bias != NULL ? bias[r] : 0.0, mag = bias != NULL ? fabs (bias[r]) : 0.0;
      for (int k = 0; k < s->K; k++) {
        const double t = (double) A[(size_t) r * s->K + k] * B[(size_t) k * s->ldb + j];
        sum += t;
        mag += fabs (t);
      }
      const double negative = s->act == ACT_LEAKY ? LEAKY_SLOPE * sum : 0.0;
      want[(size_t) r * s->N + j] = s->act != ACT_NONE && sum < 0.0 ? negative : sum;
      scale[(size_t) r * s->N + j] = mag;
    }
}

/* Runs the rows of panels [p_lo, p_hi) and columns [c_lo, c_hi) into C with
 * a scratch buffer of exactly the size asked for, guarded at its end. */
static void
run_part (const FkpSgemmA *a, const Shape *s, const float *B, float *C, const float *bias,
          int p_lo, int p_hi, int c_lo, int c_hi)
{
  const size_t n_scratch = fkp_sgemm_scratch_floats (a, c_hi - c_lo);
  float *scratch = g_new (float, n_scratch + 1);
  scratch[n_scratch] = GUARD;
  const FkpSgemmEpilogue ep = { bias, s->act != ACT_NONE, s->act == ACT_LEAKY ? LEAKY_SLOPE : 0.0f };
  fkp_sgemm_run (a, B, s->ldb, C, s->ldc, &ep, p_lo, p_hi, c_lo, c_hi, scratch);
  g_assert_cmpfloat (scratch[n_scratch], ==, GUARD);
  g_free (scratch);
}

/* C from `row_parts` × `col_parts` calls, as a pool of threads would split
 * it (rows in whole panels), checked element by element against the
 * reference and for writes outside M×N. */
static void
check_split (FkpSgemmIsa isa, const Shape *s, int row_parts, int col_parts)
{
  g_assert_cmpuint (s->ldb, >=, (size_t) s->N);
  g_assert_cmpuint (s->ldc, >=, (size_t) s->N);
  float *A = random_floats ((size_t) s->M * s->K);
  /* B at a chosen distance from 64-byte alignment: the tiles read B in
   * place for few rows, in longer blocks of K where its rows are aligned */
  const size_t b_floats = (size_t) s->K * s->ldb;
  float *B_block = g_aligned_alloc (b_floats + (size_t) s->b_offset, sizeof (float), 64);
  float *B = B_block + s->b_offset;
  for (size_t i = 0; i < b_floats; i++)
    B[i] = (float) g_test_rand_double_range (-1.0, 1.0);
  float *bias = s->bias ? random_floats ((size_t) s->M) : NULL;
  const size_t c_floats = (size_t) s->M * s->ldc + 1;
  float *C = g_new (float, c_floats);
  for (size_t i = 0; i < c_floats; i++)
    C[i] = GUARD;

  FkpSgemmA *a = fkp_sgemm_a_new (isa, A, (size_t) s->K, s->M, s->K);
  g_assert_nonnull (a);
  g_assert_cmpint (a->n_panels * a->panel_rows, >=, s->M);
  float *before = g_new (float, c_floats);
  for (int rp = 0; rp < row_parts; rp++)
    for (int cp = 0; cp < col_parts; cp++) {
      const int p_lo = a->n_panels * rp / row_parts, p_hi = a->n_panels * (rp + 1) / row_parts;
      const int c_lo = s->N * cp / col_parts, c_hi = s->N * (cp + 1) / col_parts;
      memcpy (before, C, c_floats * sizeof (float));
      run_part (a, s, B, C, bias, p_lo, p_hi, c_lo, c_hi);
      /* a part writes its own rectangle and nothing else */
      const size_t r_lo = (size_t) p_lo * a->panel_rows;
      const size_t r_hi = MIN ((size_t) s->M, (size_t) p_hi * a->panel_rows);
      for (size_t i = 0; i < c_floats; i++) {
        const size_t r = i / s->ldc, j = i % s->ldc;
        if (r < r_lo || r >= r_hi || j < (size_t) c_lo || j >= (size_t) c_hi)
          g_assert_cmpfloat (C[i], ==, before[i]);
      }
    }
  g_free (before);

  double *want = g_new (double, (size_t) s->M * s->N);
  double *scale = g_new (double, (size_t) s->M * s->N);
  reference (s, A, B, bias, want, scale);
  for (int r = 0; r < s->M; r++) {
    for (int j = 0; j < s->N; j++) {
      const double got = C[(size_t) r * s->ldc + j], w = want[(size_t) r * s->N + j];
      const double tol = 1e-5 * scale[(size_t) r * s->N + j] + 1e-6;
      if (!(fabs (got - w) <= tol))
        g_error ("%s M=%d N=%d K=%d ldb=%zu ldc=%zu bias=%d act=%d parts %dx%d: "
                 "C[%d][%d] = %.9g, want %.9g (tolerance %.3g)",
                 fkp_sgemm_isa_label (isa), s->M, s->N, s->K, s->ldb, s->ldc, s->bias, s->act,
                 row_parts, col_parts, r, j, got, w, tol);
    }
    for (size_t j = (size_t) s->N; j < s->ldc; j++)
      g_assert_cmpfloat (C[(size_t) r * s->ldc + j], ==, GUARD);
  }
  g_assert_cmpfloat (C[c_floats - 1], ==, GUARD);

  fkp_sgemm_a_free (a);
  g_free (want);
  g_free (scale);
  g_free (C);
  g_free (bias);
  g_aligned_free (B_block);
  g_free (A);
}

static void
check (FkpSgemmIsa isa, int M, int N, int K)
{
  const Shape s = { M, N, K, (size_t) N, (size_t) N, false, false, 0 };
  check_split (isa, &s, 1, 1);
}

/* More than the rows of any tile (12 for AVX-512), so every M up to it
 * covers each ISA's partial panels; the small ones take the short tiles. */
#define ROWS_PAST_TILES 13

/* Every M up to a tile and a row past it (each tile height), every N up to
 * 31, short K. */
static void
test_edges (FkpSgemmIsa isa)
{
  for (int M = 1; M <= ROWS_PAST_TILES; M++)
    for (int N = 1; N <= 31; N++)
      for (int K = 1; K <= 3; K++)
        check (isa, M, N, K);
  for (int M = 14; M <= 50; M++)
    check (isa, M, 33, 7);
  /* every way the last columns are cut (a full or narrow panel, a narrow
   * one and a column tile: N = 49 = 32 + 16 + 1 on AVX-512), B read in
   * place (26 rows) and packed (60) */
  for (int N = 1; N <= 69; N++) {
    check (isa, 2 * ROWS_PAST_TILES, N, 7);
    check (isa, 60, N, 7);
  }
}

/* K of 1, 2, 3, odd, prime, around the blocks of K (256, 384) and well
 * past. */
static void
test_depths (FkpSgemmIsa isa)
{
  const int depths[] = { 1, 2, 3, 5, 13, 31, 97, 255, 256, 257, 383, 384, 385, 511, 512, 513,
                         769, 1000, 2049 };
  for (guint i = 0; i < G_N_ELEMENTS (depths); i++) {
    check (isa, 1, 1, depths[i]);
    check (isa, 13, 37, depths[i]);
    check (isa, 24, 32, depths[i]);
    check (isa, 16, 49, depths[i]);
  }
}

/* ldb and ldc past N, with bias on and off and each activation, K in one
 * block and in several (bias on the first block of K, the activation after
 * the last). */
static void
test_strides_epilogue (FkpSgemmIsa isa)
{
  for (int bias = 0; bias <= 1; bias++)
    for (int act = ACT_NONE; act <= ACT_LEAKY; act++)
      for (int K = 1; K <= 700; K += 233) {
        const Shape plain = { 19, 45, K, 45, 45, bias, act, 0 };
        const Shape strided = { 19, 45, K, 61, 50, bias, act, 3 };
        const Shape tiny = { 1, 1, K, 3, 2, bias, act, 1 };
        check_split (isa, &plain, 1, 1);
        check_split (isa, &strided, 1, 1);
        check_split (isa, &tiny, 1, 1);
      }
}

/* B aligned to 64 bytes or not, rows of B aligned or not (ldb a multiple
 * of 16 floats), in place (few rows) and packed, K past the blocks of both. */
static void
test_alignment (FkpSgemmIsa isa)
{
  const int rows[] = { 5, 16, 40, 100 };
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    for (int offset = 0; offset < 4; offset++)
      for (int aligned_rows = 0; aligned_rows <= 1; aligned_rows++) {
        const Shape s = { rows[i], 37, 600, aligned_rows ? 48 : 37, 37, true, ACT_RELU, offset };
        check_split (isa, &s, 1, 1);
      }
}

/* Rows in whole panels and columns anyhow, as the engine's threads split a
 * step, including parts left empty. */
static void
test_ranges (FkpSgemmIsa isa)
{
  const Shape shapes[] = {
    { 50, 301, 300, 305, 310, true, ACT_RELU, 0 },
    { 7, 5, 9, 5, 5, true, ACT_NONE, 0 },
    { 64, 3000, 64, 3000, 3000, false, ACT_LEAKY, 0 },  /* columns past one block (NC) */
    { 20, 100, 700, 112, 100, true, ACT_NONE, 0 },      /* rows of B aligned, read in place */
    { 100, 40, 3000, 40, 40, false, ACT_RELU, 1 },      /* narrow parts take longer blocks of K */
  };
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    for (int rp = 1; rp <= 3; rp++)
      for (int cp = 1; cp <= 4; cp++)
        check_split (isa, &shapes[i], rp, cp);
}

/* The convolutions of the shipped landmark network at 112² (M = output
 * channels, N = OH·OW, K = input channels · kh · kw) and of the detector's
 * pointwise convolutions (N cut to 4800 at most to keep the reference
 * quick), with the bias and the activations the engine fuses. */
static void
test_conv_shapes (FkpSgemmIsa isa)
{
  static const int shapes[][3] = {
    { 64, 3136, 49 }, { 64, 784, 64 }, { 192, 784, 576 }, { 64, 196, 192 }, { 16, 196, 192 },
    { 128, 196, 864 }, { 32, 196, 400 }, { 128, 196, 256 }, { 192, 196, 1152 },
    { 96, 196, 800 }, { 192, 49, 480 }, { 16, 49, 480 }, { 208, 49, 864 }, { 48, 49, 400 },
    { 160, 49, 512 }, { 24, 49, 512 }, { 224, 49, 1008 }, { 64, 49, 600 }, { 256, 49, 1152 },
    { 288, 49, 1296 }, { 64, 49, 800 }, { 256, 49, 528 }, { 320, 49, 1440 }, { 256, 16, 832 },
    { 32, 16, 832 }, { 320, 16, 1440 }, { 128, 16, 800 }, { 384, 16, 1728 }, { 128, 16, 1200 },
    /* detector */
    { 32, 4800, 16 }, { 64, 4800, 32 }, { 128, 4800, 64 }, { 256, 1200, 128 },
    { 512, 300, 256 }, { 25, 300, 512 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    const int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
    const Shape s = { M, N, K, (size_t) N, (size_t) N, true, (int) i % 3, (int) i % 3 };
    check_split (isa, &s, i % 3 + 1, 1);
  }
}

/* fkp_sgemm_run_pool2 against the reference's conv values pooled 2×2/2 by
 * hand: images of 1-5 rows and 1-33 columns (odd sides: the cut last
 * windows of ceil_mode; floor mode drops them), M across the tile heights,
 * K from 1 to past an unroll, bias and each activation; the pooled plane
 * has a wider row stride than PW, and nothing outside the pooled values is
 * written. */
static void
test_pool2 (FkpSgemmIsa isa)
{
  static const int Ms[] = { 1, 4, 5, 7, 13, 32 }, Ks[] = { 1, 3, 16, 33 };
  static const int rows_list[] = { 1, 2, 3, 5 }, widths[] = { 1, 2, 3, 8, 9, 15, 16, 17, 33 };
  int checked = 0;
  for (guint mi = 0; mi < G_N_ELEMENTS (Ms); mi++)
    for (guint ki = 0; ki < G_N_ELEMENTS (Ks); ki++)
      for (guint ri = 0; ri < G_N_ELEMENTS (rows_list); ri++)
        for (guint wi = 0; wi < G_N_ELEMENTS (widths); wi++) {
          const int M = Ms[mi], K = Ks[ki], rows = rows_list[ri], W = widths[wi];
          const gboolean ceil_mode = (mi + wi + ri) % 2 == 0;
          const int PH = ceil_mode ? (rows + 1) / 2 : rows / 2;
          const int PW = ceil_mode ? (W + 1) / 2 : W / 2;
          if (PH == 0 || PW == 0)
            continue;
          const Shape s = { M, rows * W, K, (size_t) rows * W + 3, (size_t) rows * W,
                            (ki + wi) % 2 == 0, (int) ((mi + ki + wi) % 3), 0 };
          float *A = random_floats ((size_t) M * K), *B = random_floats ((size_t) K * s.ldb);
          float *bias = s.bias ? random_floats ((size_t) M) : NULL;
          FkpSgemmA *a = fkp_sgemm_a_new (isa, A, (size_t) K, M, K);
          g_assert_nonnull (a);
          g_assert_true (fkp_sgemm_pool2_supported (a));
          /* pooled rows PW + 2 apart, channels PH rows apart */
          const size_t row_stride = (size_t) PW + 2, ldc = (size_t) PH * row_stride;
          const size_t c_floats = (size_t) M * ldc;
          float *C = g_new (float, c_floats);
          for (size_t i = 0; i < c_floats; i++)
            C[i] = GUARD;
          const size_t n_scratch = fkp_sgemm_scratch_floats (a, rows * W);
          float *scratch = g_new (float, n_scratch + 1);
          scratch[n_scratch] = GUARD;
          const FkpSgemmEpilogue ep = { bias, s.act != ACT_NONE,
                                        s.act == ACT_LEAKY ? LEAKY_SLOPE : 0.0f };
          fkp_sgemm_run_pool2 (a, B, s.ldb, rows, W, C, ldc, row_stride, PH, PW, &ep, scratch);
          g_assert_cmpfloat (scratch[n_scratch], ==, GUARD);

          double *want = g_new (double, (size_t) M * s.N), *scale = g_new (double, (size_t) M * s.N);
          reference (&s, A, B, bias, want, scale);
          for (int m = 0; m < M; m++)
            for (int py = 0; py < PH; py++)
              for (size_t x = 0; x < row_stride; x++) {
                const float got = C[(size_t) m * ldc + (size_t) py * row_stride + x];
                if (x >= (size_t) PW) {
                  g_assert_cmpfloat (got, ==, GUARD);
                  continue;
                }
                double best = -INFINITY, tol = 0.0;
                for (int y = 2 * py; y < MIN (2 * py + 2, rows); y++)
                  for (int xx = 2 * (int) x; xx < MIN (2 * (int) x + 2, W); xx++) {
                    const size_t i = (size_t) m * s.N + (size_t) y * W + xx;
                    best = MAX (best, want[i]);
                    tol = MAX (tol, 1e-5 * scale[i] + 1e-6);
                  }
                if (!(fabs (got - best) <= tol))
                  g_error ("%s pool2 M=%d K=%d rows=%d W=%d ceil=%d bias=%d act=%d: "
                           "[%d][%d][%zu] = %.9g, want %.9g", fkp_sgemm_isa_label (isa), M, K,
                           rows, W, ceil_mode, s.bias, s.act, m, py, x, got, best);
                checked++;
              }
          g_free (want); g_free (scale); g_free (scratch); g_free (C);
          fkp_sgemm_a_free (a);
          g_free (A); g_free (B); g_free (bias);
        }
  g_assert_cmpint (checked, >, 0);
}

/* FKP_NN_ISA picks a path the CPU supports and nothing else. */
static void
test_dispatch (void)
{
  const FkpSgemmIsa best = fkp_sgemm_isa_for_override (NULL);
  g_assert_true (fkp_sgemm_isa_supported (best));
  for (int isa = best + 1; isa < FKP_SGEMM_N_ISAS; isa++)
    g_assert_false (fkp_sgemm_isa_supported (isa));
  g_assert_cmpint (fkp_sgemm_isa_for_override ("generic"), ==, FKP_SGEMM_ISA_GENERIC);
  g_assert_cmpint (fkp_sgemm_isa_for_override (""), ==, best);
  g_assert_cmpint (fkp_sgemm_isa_for_override ("sse9"), ==, best);
  for (int isa = 0; isa < FKP_SGEMM_N_ISAS; isa++)
    g_assert_cmpint (fkp_sgemm_isa_for_override (fkp_sgemm_isa_label (isa)), ==,
                     fkp_sgemm_isa_supported (isa) ? (FkpSgemmIsa) isa : best);
  /* main () set FKP_NN_ISA=generic before the first call. */
  g_assert_cmpstr (fkp_sgemm_isa_name (), ==, "generic");
  g_test_message ("best ISA on this CPU: %s", fkp_sgemm_isa_label (best));
}

typedef struct {
  FkpSgemmIsa isa;
  void (*body) (FkpSgemmIsa isa);
} IsaCase;

/* A case on one ISA, skipped where the CPU does not support it. */
static void
run_case (gconstpointer data)
{
  const IsaCase *c = data;
  if (!fkp_sgemm_isa_supported (c->isa)) {
    g_test_skip_printf ("this CPU does not support %s", fkp_sgemm_isa_label (c->isa));
    return;
  }
  c->body (c->isa);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("FKP_NN_ISA", "generic", TRUE);
  g_test_add_func ("/sgemm/dispatch", test_dispatch);
  static const struct {
    const char *name;
    void (*body) (FkpSgemmIsa isa);
  } cases[] = {
    { "edges", test_edges },
    { "depths", test_depths },
    { "strides-epilogue", test_strides_epilogue },
    { "ranges", test_ranges },
    { "alignment", test_alignment },
    { "conv-shapes", test_conv_shapes },
    { "pool2", test_pool2 },
  };
  static IsaCase runs[FKP_SGEMM_N_ISAS][G_N_ELEMENTS (cases)];
  for (int isa = 0; isa < FKP_SGEMM_N_ISAS; isa++)
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
      runs[isa][i] = (IsaCase) { isa, cases[i].body };
      char *path = g_strdup_printf ("/sgemm/%s/%s", fkp_sgemm_isa_label (isa), cases[i].name);
      g_test_add_data_func (path, &runs[isa][i], run_case);
      g_free (path);
    }
  return g_test_run ();
}
