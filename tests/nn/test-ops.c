/* Op-level tests: every nn-core op against a plain reference written here,
 * on random shapes and attributes (naive versus optimised).  Models are
 * built in memory with the protobuf-c structs, loaded, run and compared.
 * Runs cover the fused paths (Conv+BatchNorm+activation, concat written in
 * place, 1×1 GEMM, im2col, direct and depthwise convolution). */
#include "test-common.h"

#define TOL 1e-4
#define CASES 40

/* ---- Reference helpers ------------------------------------------------ */

static float
ref_act (float v, int kind, float alpha, float lo, float hi)
{
  switch (kind) {
  case 1: return v > 0 ? v : 0;
  case 2: return v >= 0 ? v : alpha * v;
  case 3: return (float) (1.0 / (1.0 + exp (-(double) v)));
  case 4: return v < lo ? lo : v > hi ? hi : v;
  case 5: return (float) tanh (v);
  default: return v;
  }
}

static const char *act_ops[] = { NULL, "Relu", "LeakyRelu", "Sigmoid", "Clip", "Tanh" };

/* Adds an activation node `kind` from `in` to `out` (Clip with constant inputs). */
static void
add_act_node (Builder *b, int kind, const char *in, const char *out, float alpha, float lo,
              float hi, int tag)
{
  if (kind == 4) {
    char *lo_name = g_strdup_printf ("clip_lo%d", tag), *hi_name = g_strdup_printf ("clip_hi%d", tag);
    builder_init_float (b, lo_name, 0, NULL, &lo);
    builder_init_float (b, hi_name, 0, NULL, &hi);
    builder_node (b, "Clip", "act", IN (in, lo_name, hi_name), OUT (out));
    g_free (lo_name);
    g_free (hi_name);
    return;
  }
  Onnx__NodeProto *n = builder_node (b, act_ops[kind], "act", IN (in), OUT (out));
  if (kind == 2)
    node_float (b, n, "alpha", alpha);
}

/* Pads for SAME auto_pad, written from the ONNX definition. */
static void
same_pads (int in, int k, int s, int d, gboolean upper, int *begin, int *end, int *out)
{
  *out = (in + s - 1) / s;
  int need = (*out - 1) * s + (k - 1) * d + 1 - in;
  if (need < 0)
    need = 0;
  *begin = upper ? need / 2 : need - need / 2;
  *end = need - *begin;
}

/* ---- Conv (+ BatchNorm + activation) ---------------------------------- */

/* The built model loaded on 1 or 2 threads (the builder freed), and its
 * statistics. */
static FkpNet *
load_random_threads (Builder *b, FkpNetStats *stats)
{
  FkpNet *net = load_built (b, g_test_rand_int_range (1, 3));
  builder_free (b);
  fkp_net_get_stats (net, stats);
  return net;
}

/* How many convs of the last conv_check's net ran as Winograd. */
static size_t last_conv_winograd;
/* conv_check's weights are uniform in ±this. */
static float conv_weight_scale = 1.0f;

/* Builds Conv (+ BatchNorm) (+ activation) with these parameters, runs it
 * and compares with a naive 7-loop convolution. */
static void
conv_check (int groups, int Cg, int Mg, int kh, int kw, int sh, int sw, int dh, int dw, int pt,
            int pl, int pb, int pr, int auto_pad, int OH, int OW, int H, int W,
            gboolean has_bias, gboolean has_bn, int act)
{
  int C = Cg * groups, M = Mg * groups;
  float alpha = (float) g_test_rand_double_range (0.01, 0.3);
  float lo = (float) g_test_rand_double_range (-1, 0), hi = (float) g_test_rand_double_range (0, 1);

  int64_t xdims[4] = { 1, C, H, W }, wdims[4] = { M, Cg, kh, kw }, cdims[1] = { M };
  float *x = random_floats (dims_count (4, xdims), -1, 1);
  float *w = random_floats (dims_count (4, wdims), -conv_weight_scale, conv_weight_scale);
  float *bias = random_floats (M, -1, 1);
  float *gamma = random_floats (M, 0.5, 1.5), *beta = random_floats (M, -0.5, 0.5);
  float *mean = random_floats (M, -0.5, 0.5), *var = random_floats (M, 0.2, 2);

  Builder *b = builder_new (g_test_rand_int_range (11, 18));
  builder_input (b, "x", 4, xdims);
  builder_init_float (b, "w", 4, wdims, w);
  if (has_bias)
    builder_init_float (b, "b", 1, cdims, bias);
  Onnx__NodeProto *n = builder_node (b, "Conv", "conv", has_bias ? IN ("x", "w", "b") : IN ("x", "w"),
                                     OUT ("c"));
  node_int (b, n, "group", groups);
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { kh, kw });
  node_ints (b, n, "strides", 2, (int64_t[]) { sh, sw });
  node_ints (b, n, "dilations", 2, (int64_t[]) { dh, dw });
  if (auto_pad == 0)
    node_ints (b, n, "pads", 4, (int64_t[]) { pt, pl, pb, pr });
  else
    node_string (b, n, "auto_pad", auto_pad == 1 ? "VALID" : auto_pad == 2 ? "SAME_UPPER" : "SAME_LOWER");
  const char *last = "c";
  if (has_bn) {
    builder_init_float (b, "gamma", 1, cdims, gamma);
    builder_init_float (b, "beta", 1, cdims, beta);
    builder_init_float (b, "mean", 1, cdims, mean);
    builder_init_float (b, "var", 1, cdims, var);
    Onnx__NodeProto *bn = builder_node (b, "BatchNormalization", "bn",
                                        IN ("c", "gamma", "beta", "mean", "var"), OUT ("n"));
    node_float (b, bn, "epsilon", 1e-3f);
    last = "n";
  }
  if (act) {
    add_act_node (b, act, last, "y", alpha, lo, hi, 0);
    last = "y";
  }
  builder_output (b, last);
  FkpNetStats stats;
  FkpNet *net = load_random_threads (b, &stats);
  last_conv_winograd = stats.n_winograd_convs;

  FkpShape shape;
  g_assert_true (fkp_net_get_output_shape (net, 0, &shape));
  g_assert_cmpint (shape.rank, ==, 4);
  g_assert_cmpint (shape.dims[1], ==, M);
  g_assert_cmpint (shape.dims[2], ==, OH);
  g_assert_cmpint (shape.dims[3], ==, OW);
  memcpy (fkp_net_get_input_data (net, 0), x, dims_count (4, xdims) * sizeof (float));
  g_assert_true (fkp_net_run (net, NULL));

  float *ref = g_new (float, M * OH * OW);
  for (int m = 0; m < M; m++) {
    int g = m / Mg;
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++) {
        double acc = has_bias ? bias[m] : 0.0;
        for (int c = 0; c < Cg; c++)
          for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
              int iy = oy * sh - pt + ky * dh, ix = ox * sw - pl + kx * dw;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                continue;
              acc += (double) w[((m * Cg + c) * kh + ky) * kw + kx]
                     * x[((g * Cg + c) * H + iy) * W + ix];
            }
        float v = (float) acc;
        if (has_bn)
          v = (float) ((v - mean[m]) / sqrt (var[m] + 1e-3) * gamma[m] + beta[m]);
        ref[(m * OH + oy) * OW + ox] = ref_act (v, act, alpha, lo, hi);
      }
  }
  char *what = g_strdup_printf ("conv C%d M%d g%d k%dx%d s%dx%d d%dx%d p%d,%d,%d,%d auto%d bn%d act%d",
                                C, M, groups, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, auto_pad,
                                has_bn, act);
  assert_close (fkp_net_get_output_data (net, 0), ref, M * OH * OW, TOL, what);
  g_free (what);
  g_free (ref);
  fkp_net_free (net);
  g_free (x); g_free (w); g_free (bias); g_free (gamma); g_free (beta); g_free (mean); g_free (var);
}

static void
test_conv_case (int variant)
{
  int groups, Cg, Mg;
  int pick = g_test_rand_int_range (0, 4);
  if (variant == 0)
    pick = 0;
  if (pick == 0) { groups = 1; Cg = g_test_rand_int_range (1, 9); Mg = g_test_rand_int_range (1, 9); }
  else if (pick == 1) { Cg = 1; groups = g_test_rand_int_range (1, 7); Mg = g_test_rand_int_range (1, 3); }
  else if (pick == 2) { groups = g_test_rand_int_range (2, 4); Cg = g_test_rand_int_range (1, 4); Mg = g_test_rand_int_range (1, 5); }
  else { groups = 1; Cg = g_test_rand_int_range (1, 4); Mg = 1; }
  int kh = g_test_rand_int_range (1, 6), kw = g_test_rand_int_range (1, 6);
  int sh = g_test_rand_int_range (1, 4), sw = g_test_rand_int_range (1, 4);
  int dh = g_test_rand_int_range (1, 3), dw = g_test_rand_int_range (1, 3);
  int pt = g_test_rand_int_range (0, 3), pl = g_test_rand_int_range (0, 3);
  int pb = g_test_rand_int_range (0, 3), pr = g_test_rand_int_range (0, 3);
  if (variant == 1) {  /* the 1×1 GEMM path */
    kh = kw = sh = sw = dh = dw = 1;
    pt = pl = pb = pr = 0;
  }
  int H = (kh - 1) * dh + 1 + g_test_rand_int_range (0, 10);
  int W = (kw - 1) * dw + 1 + g_test_rand_int_range (0, 10);
  int auto_pad = variant == 2 ? g_test_rand_int_range (1, 4) : 0;  /* 1 VALID, 2 SAME_UPPER, 3 SAME_LOWER */
  int OH, OW;
  if (auto_pad == 1) {
    pt = pl = pb = pr = 0;
  }
  if (auto_pad >= 2) {
    same_pads (H, kh, sh, dh, auto_pad == 2, &pt, &pb, &OH);
    same_pads (W, kw, sw, dw, auto_pad == 2, &pl, &pr, &OW);
  } else {
    OH = (H + pt + pb - (kh - 1) * dh - 1) / sh + 1;
    OW = (W + pl + pr - (kw - 1) * dw - 1) / sw + 1;
  }
  conv_check (groups, Cg, Mg, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, auto_pad, OH, OW, H, W,
              g_test_rand_bit (), g_test_rand_bit (), g_test_rand_int_range (0, 6));
}

static void
test_conv (void)
{
  for (int i = 0; i < 3 * CASES; i++)
    test_conv_case (i % 3);
}

/* 3×3 and 5×5 stride-1 convs that the loader runs as Winograd (F(4,3) on
 * larger maps, F(2,3) on small ones, F(2,5)): random channels (output channels past one
 * chunk of 96 included), maps whose sides are not multiples of the tile
 * (partial tiles on the right and bottom), every padding from 0 to 2 on each
 * side (up to r - 1), with and without bias, BatchNorm and each activation (ReLU and
 * LeakyRelu in the store, the others after it), on 1 or 2 threads.
 *
 * The weights are scaled by 1/√(r²C), as trained nets' are (and BatchNorm
 * keeps them), so that the sums are of the order of the output: with ±1
 * weights a sum reaches ±25 and the error of F(4,3), ~1e-5 of the sums'
 * range, exceeds 1e-4 of the range a Clip or Tanh squeezes them to. */
static void
test_conv_winograd (void)
{
  static const int edges[][5] = {   /* r, C, M, OH, OW */
    { 3, 16, 16, 7, 7 }, { 3, 16, 17, 8, 9 }, { 3, 17, 200, 14, 14 }, { 3, 64, 97, 28, 28 },
    { 3, 24, 145, 13, 30 }, { 3, 33, 40, 40, 7 }, { 3, 16, 16, 61, 5 }, { 3, 96, 16, 10, 10 },
    { 5, 16, 16, 7, 7 }, { 5, 96, 32, 14, 14 }, { 5, 64, 128, 7, 7 }, { 5, 24, 150, 13, 9 },
  };
  const int n_edges = G_N_ELEMENTS (edges);
  for (int i = 0; i < n_edges + 2 * CASES; i++) {
    int r, C, M, OH, OW;
    if (i < n_edges) {
      r = edges[i][0]; C = edges[i][1]; M = edges[i][2]; OH = edges[i][3]; OW = edges[i][4];
    } else {
      r = i % 4 < 2 ? 3 : 5;
      C = g_test_rand_int_range (16, 49);
      M = g_test_rand_int_range (16, 201);
      OH = g_test_rand_int_range (7, 41);
      OW = g_test_rand_int_range (7, 41);
      /* every other case on whole tiles (4×4 for 3×3, 2×2 for 5×5), where
       * Winograd always pays; the others, whatever the loader picks, must
       * be right too */
      if (i % 2 == 0) {
        const int m = r == 3 ? 4 : 2;
        OH = (OH + m - 1) / m * m;
        OW = (OW + m - 1) / m * m;
      }
    }
    const gboolean must_be_winograd = i < n_edges || i % 2 == 0;
    const int pt = g_test_rand_int_range (0, r), pl = g_test_rand_int_range (0, r);
    const int pb = g_test_rand_int_range (0, r), pr = g_test_rand_int_range (0, r);
    const int H = OH + r - 1 - pt - pb, W = OW + r - 1 - pl - pr;
    if (H < 1 || W < 1)
      continue;
    conv_weight_scale = (float) (1.0 / sqrt ((double) r * r * C));
    conv_check (1, C, M, r, r, 1, 1, 1, 1, pt, pl, pb, pr, 0, OH, OW, H, W, g_test_rand_bit (),
                g_test_rand_bit (), g_test_rand_int_range (0, 6));
    conv_weight_scale = 1.0f;
    if (must_be_winograd && g_strcmp0 (g_getenv ("FKP_NN_WINOGRAD"), "0") != 0)
      g_assert_cmpuint (last_conv_winograd, ==, 1);
  }
}

/* Shapes large enough that im2col and the direct loop work in several bands
 * of output rows (small random shapes fit in one). */
static void
test_conv_banded (void)
{
  /* im2col: 16×9 taps × 64 columns per row → bands of 28 rows. */
  conv_check (1, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 64, 64, 64, 64, TRUE, TRUE, 1);
  /* im2col, strided, uneven last band. */
  conv_check (1, 12, 6, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 0, 50, 60, 100, 120, TRUE, FALSE, 2);
  /* Depthwise (direct) over 70-row bands of 58 columns, stride 1 and 2. */
  conv_check (4, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 150, 58, 150, 58, TRUE, FALSE, 2);
  conv_check (4, 1, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 75, 29, 150, 58, FALSE, TRUE, 4);
  /* A first layer on 3 channels (27 taps: direct), 7-wide taps too. */
  conv_check (1, 3, 8, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 78, 98, 80, 100, TRUE, FALSE, 2);
  conv_check (1, 1, 4, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 0, 90, 64, 90, 64, TRUE, FALSE, 3);
  /* 3 → 16 (4 channels × 24 columns per block; 158 inner columns: the last
   * block overlaps the one before) and a one-channel 7×7/2 stem (im2col). */
  conv_check (1, 3, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 120, 160, 120, 160, TRUE, FALSE, 2);
  conv_check (1, 1, 64, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 0, 56, 56, 112, 112, FALSE, TRUE, 1);
  /* The sgemm's two splits among threads: a 1×1 on a large map (columns,
   * 1050 = 65·16 + 10) and a 3×3 on a small one (panels of output channels,
   * 40 = 6·6 + 4). */
  conv_check (1, 24, 40, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 30, 35, 30, 35, TRUE, TRUE, 1);
  conv_check (1, 16, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 7, 7, 7, 7, TRUE, FALSE, 1);
}

/* ---- Pools --------------------------------------------------------- */

/* Conv `name` from `in` with weights `w` and bias `bias` (group, the same
 * padding on every side), then activation `act` if any; returns the name
 * of the last output (`conv_out`, or `act_out`). */
static const char *
add_conv_act (Builder *b, const char *name, const char *in, const char *w, const char *bias,
              int group, int pad, const char *conv_out, int act, const char *act_out, float alpha,
              float lo, float hi, int tag)
{
  Onnx__NodeProto *n = builder_node (b, "Conv", name, IN (in, w, bias), OUT (conv_out));
  node_int (b, n, "group", group);
  node_ints (b, n, "pads", 4, (int64_t[]) { pad, pad, pad, pad });
  if (!act)
    return conv_out;
  add_act_node (b, act, conv_out, act_out, alpha, lo, hi, tag);
  return act_out;
}

/* MaxPool k×k, stride k, padded at the end only, ceil_mode as given. */
static void
add_tiling_maxpool (Builder *b, const char *in, const char *out, int k, int pb, int pr,
                    gboolean ceil_mode)
{
  Onnx__NodeProto *n = builder_node (b, "MaxPool", "pool", IN (in), OUT (out));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { k, k });
  node_ints (b, n, "strides", 2, (int64_t[]) { k, k });
  node_ints (b, n, "pads", 4, (int64_t[]) { 0, 0, pb, pr });
  node_int (b, n, "ceil_mode", ceil_mode);
}

/* Conv (+ activation) + MaxPool k×k/k, which the loader fuses into one step
 * (the conv pools each band of its output as it makes it), against a naive
 * conv, activation and pool: direct convs (3×3 on a few channels, and
 * depthwise) and 1×1 ones, maps whose sides are not multiples of k with
 * the last window cut by ceil_mode or by padding at the end, bands of
 * several rows, 1 or 2 threads. */
static void
test_conv_maxpool (void)
{
  for (int i = 0; i < CASES; i++) {
    const int kind = i % 4 == 0 ? 0 : i % 3;   /* 0: 3×3 dense, 1: 3×3 depthwise, 2: 1×1 */
    const int C = kind == 0 ? g_test_rand_int_range (1, 4) : g_test_rand_int_range (1, 40);
    const int M = i % 8 == 0 ? 16 : i % 4 == 0 ? 7 : kind == 1 ? C : g_test_rand_int_range (1, 70);
    const int groups = kind == 1 ? C : 1, Cg = C / groups, ks = kind == 2 ? 1 : 3;
    const int pad = kind == 2 ? 0 : g_test_rand_int_range (0, 2);
    const int H = g_test_rand_int_range (4, 90);
    const int W = i % 4 == 0 ? g_test_rand_int_range (20, 320) : g_test_rand_int_range (4, 90);
    const int OH = H + 2 * pad - ks + 1, OW = W + 2 * pad - ks + 1;
    /* Every fourth case the shape of the detector's first conv (3 -> 16 or
     * an odd 7, 2×2 pool, no activation, ReLU or LeakyRelu), which AVX2
     * machines pool in registers: maps narrower than its 16-column blocks,
     * and wide enough to be cut in several chunks of columns. */
    const int k = i % 4 == 0 ? 2 : g_test_rand_int_range (2, 4);
    const int ending = g_test_rand_int_range (0, 3);
    /* ending 0: floor, 1: ceil_mode, 2: padding at the end up to a whole window */
    const int pb = ending == 2 ? (k - OH % k) % k : 0, pr = ending == 2 ? (k - OW % k) % k : 0;
    const int PH = ending == 0 ? OH / k : (OH + k - 1) / k, PW = ending == 0 ? OW / k : (OW + k - 1) / k;
    const int act = i % 4 == 0 ? i / 4 % 3 : g_test_rand_int_range (0, 6);
    const float alpha = 0.1f, lo = -0.3f, hi = 0.6f;
    if (OH < k || OW < k)
      continue;
    int64_t xdims[4] = { 1, C, H, W }, wdims[4] = { M, Cg, ks, ks }, bdims[1] = { M };
    float *x = random_floats (dims_count (4, xdims), -1, 1);
    float *w = random_floats (dims_count (4, wdims), -0.5, 0.5);
    float *bias = random_floats (M, -0.5, 0.5);
    Builder *b = builder_new (13);
    builder_input (b, "x", 4, xdims);
    builder_init_float (b, "w", 4, wdims, w);
    builder_init_float (b, "b", 1, bdims, bias);
    const char *pooled_in = add_conv_act (b, "conv", "x", "w", "b", groups, pad, "c", act, "a",
                                          alpha, lo, hi, 0);
    add_tiling_maxpool (b, pooled_in, "y", k, pb, pr, ending == 1);
    builder_output (b, "y");
    FkpNetStats stats;
    FkpNet *net = load_random_threads (b, &stats);
    if (g_strcmp0 (g_getenv ("FKP_NN_FUSE"), "0") != 0)
      g_assert_cmpuint (stats.n_steps, ==, 1);
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    g_assert_cmpint (shape.dims[2], ==, PH);
    g_assert_cmpint (shape.dims[3], ==, PW);
    memcpy (fkp_net_get_input_data (net, 0), x, dims_count (4, xdims) * sizeof (float));
    fkp_net_run (net, NULL);

    float *conv = g_new (float, (size_t) M * OH * OW), *ref = g_new (float, (size_t) M * PH * PW);
    for (int m = 0; m < M; m++)
      for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
          double acc = bias[m];
          for (int c = 0; c < Cg; c++)
            for (int ky = 0; ky < ks; ky++)
              for (int kx = 0; kx < ks; kx++) {
                const int iy = oy - pad + ky, ix = ox - pad + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                  acc += (double) w[((m * Cg + c) * ks + ky) * ks + kx]
                         * x[(((m / (M / groups)) * Cg + c) * H + iy) * W + ix];
              }
          conv[(m * OH + oy) * OW + ox] = ref_act ((float) acc, act, alpha, lo, hi);
        }
    for (int m = 0; m < M; m++)
      for (int py = 0; py < PH; py++)
        for (int px = 0; px < PW; px++) {
          float best = -INFINITY;
          for (int y = py * k; y < MIN (py * k + k, OH); y++)
            for (int xx = px * k; xx < MIN (px * k + k, OW); xx++)
              best = MAX (best, conv[(m * OH + y) * OW + xx]);
          ref[(m * PH + py) * PW + px] = best;
        }
    char *what = g_strdup_printf ("conv%d C%d M%d g%d pad%d H%d W%d + maxpool %d ending%d act%d",
                                  ks, C, M, groups, pad, H, W, k, ending, act);
    assert_close (fkp_net_get_output_data (net, 0), ref, (size_t) M * PH * PW, TOL, what);
    g_free (what);
    g_free (conv); g_free (ref); g_free (x); g_free (w); g_free (bias);
    fkp_net_free (net);
  }
}

/* A stride-1 direct conv (depthwise, or dense on a few channels) + its
 * activation, then a 1×1 conv + activation (+ a tiling MaxPool): the loader
 * makes one step that runs the direct conv band by band into the 1×1's
 * GEMM; against naive convolutions and pool. */
static void
test_conv_pre (void)
{
  for (int i = 0; i < CASES; i++) {
    const gboolean depthwise = i % 2 == 0, pooled = i % 3 != 0;
    /* (two channels at least: a 1×1 conv from one channel to one or two is a
     * direct loop, which takes no pre conv) */
    const int C0 = depthwise ? g_test_rand_int_range (2, 40) : g_test_rand_int_range (1, 4);
    const int C1 = depthwise ? C0 : g_test_rand_int_range (1, 9), M = g_test_rand_int_range (1, 70);
    const int g0 = depthwise ? C0 : 1, Cg0 = C0 / g0, pad = g_test_rand_int_range (0, 2);
    const int H = g_test_rand_int_range (4, 80), W = g_test_rand_int_range (4, 80);
    const int OH = H + 2 * pad - 2, OW = W + 2 * pad - 2, k = 2;
    const int PH = pooled ? (OH + 1) / 2 : OH, PW = pooled ? (OW + 1) / 2 : OW;
    const int act0 = g_test_rand_int_range (0, 3), act1 = g_test_rand_int_range (0, 6);
    const float alpha = 0.1f, lo = -0.3f, hi = 0.6f;
    if (OH < 2 || OW < 2 || (!depthwise && C1 <= 2))
      continue;   /* (a dense direct conv needs M > 2, or it is 1×1-like) */
    int64_t xdims[4] = { 1, C0, H, W }, w0dims[4] = { C1, Cg0, 3, 3 }, w1dims[4] = { M, C1, 1, 1 };
    int64_t b0dims[1] = { C1 }, b1dims[1] = { M };
    float *x = random_floats (dims_count (4, xdims), -1, 1);
    float *w0 = random_floats (dims_count (4, w0dims), -0.5, 0.5);
    float *w1 = random_floats (dims_count (4, w1dims), -0.5, 0.5);
    float *b0 = random_floats (C1, -0.5, 0.5), *b1 = random_floats (M, -0.5, 0.5);
    Builder *b = builder_new (13);
    builder_input (b, "x", 4, xdims);
    builder_init_float (b, "w0", 4, w0dims, w0);
    builder_init_float (b, "b0", 1, b0dims, b0);
    builder_init_float (b, "w1", 4, w1dims, w1);
    builder_init_float (b, "b1", 1, b1dims, b1);
    const char *mid = add_conv_act (b, "dw", "x", "w0", "b0", g0, pad, "c0", act0, "a0", alpha, lo,
                                    hi, 0);
    const char *last = add_conv_act (b, "pw", mid, "w1", "b1", 1, 0, "c1", act1, "a1", alpha, lo,
                                     hi, 1);
    if (pooled) {
      add_tiling_maxpool (b, last, "y", k, 0, 0, TRUE);
      last = "y";
    }
    builder_output (b, last);
    FkpNetStats stats;
    FkpNet *net = load_random_threads (b, &stats);
    if (g_strcmp0 (g_getenv ("FKP_NN_FUSE"), "0") != 0)
      g_assert_cmpuint (stats.n_steps, ==, 1);
    memcpy (fkp_net_get_input_data (net, 0), x, dims_count (4, xdims) * sizeof (float));
    fkp_net_run (net, NULL);

    float *mid_ref = g_new (float, (size_t) C1 * OH * OW), *out = g_new (float, (size_t) M * OH * OW);
    float *ref = g_new (float, (size_t) M * PH * PW);
    for (int c = 0; c < C1; c++)
      for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
          double acc = b0[c];
          for (int ci = 0; ci < Cg0; ci++)
            for (int ky = 0; ky < 3; ky++)
              for (int kx = 0; kx < 3; kx++) {
                const int iy = oy - pad + ky, ix = ox - pad + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                  acc += (double) w0[((c * Cg0 + ci) * 3 + ky) * 3 + kx]
                         * x[(((depthwise ? c : 0) + ci) * H + iy) * W + ix];
              }
          mid_ref[(c * OH + oy) * OW + ox] = ref_act ((float) acc, act0, alpha, lo, hi);
        }
    for (int m = 0; m < M; m++)
      for (int p = 0; p < OH * OW; p++) {
        double acc = b1[m];
        for (int c = 0; c < C1; c++)
          acc += (double) w1[m * C1 + c] * mid_ref[c * OH * OW + p];
        out[m * OH * OW + p] = ref_act ((float) acc, act1, alpha, lo, hi);
      }
    for (int m = 0; m < M; m++)
      for (int py = 0; py < PH; py++)
        for (int px = 0; px < PW; px++) {
          float best = -INFINITY;
          const int kk = pooled ? k : 1;
          for (int y = py * kk; y < MIN (py * kk + kk, OH); y++)
            for (int xx = px * kk; xx < MIN (px * kk + kk, OW); xx++)
              best = MAX (best, out[(m * OH + y) * OW + xx]);
          ref[(m * PH + py) * PW + px] = best;
        }
    char *what = g_strdup_printf ("%s C%d→%d pad%d act%d, 1x1 →%d act%d%s H%d W%d",
                                  depthwise ? "depthwise" : "dense", C0, C1, pad, act0, M, act1,
                                  pooled ? " + maxpool" : "", H, W);
    assert_close (fkp_net_get_output_data (net, 0), ref, (size_t) M * PH * PW, TOL, what);
    g_free (what);
    g_free (mid_ref); g_free (out); g_free (ref); g_free (x); g_free (w0); g_free (w1);
    g_free (b0); g_free (b1);
    fkp_net_free (net);
  }
}

/* The attention module's x · map before a strided MaxPool, then a
 * BatchNormalization (+ activation): the loader makes the pool read x · map
 * itself and apply the affine as it stores (one step; two when the
 * normalisation has an activation, which does not fold).  Against a naive
 * product, pool and affine, with maps of either sign, either operand
 * order, windows cut by padding or ceil_mode, and a batch of 1 or 2. */
static void
test_scaled_maxpool (void)
{
  for (int i = 0; i < CASES; i++) {
    const int N = g_test_rand_int_range (1, 3), C = g_test_rand_int_range (1, 70);
    const int H = g_test_rand_int_range (3, 40), W = g_test_rand_int_range (3, 40);
    const int k = g_test_rand_int_range (2, 4), stride = 2, pad = g_test_rand_int_range (0, 2);
    const gboolean ceil_mode = g_test_rand_bit (), map_first = g_test_rand_bit ();
    const int norm = i % 3;   /* 0: none, 1: BatchNormalization, 2: BatchNormalization + Relu */
    const int ext_h = H + 2 * pad - k, ext_w = W + 2 * pad - k;
    int OH = (ceil_mode ? (ext_h + stride - 1) / stride : ext_h / stride) + 1;
    int OW = (ceil_mode ? (ext_w + stride - 1) / stride : ext_w / stride) + 1;
    /* (ONNX: a last window that would start in the end padding is dropped) */
    if (ceil_mode && (OH - 1) * stride >= H + pad)
      OH--;
    if (ceil_mode && (OW - 1) * stride >= W + pad)
      OW--;
    if (ext_h < 0 || ext_w < 0)
      continue;
    int64_t xdims[4] = { N, C, H, W }, mdims[4] = { N, 1, H, W }, cdims[1] = { C };
    float *x = random_floats (dims_count (4, xdims), -1, 1);
    float *map = random_floats (dims_count (4, mdims), i % 2 ? -1 : 0, 1);
    float *gamma = random_floats (C, -1, 1), *beta = random_floats (C, -1, 1);
    float *mean = random_floats (C, -1, 1), *var = random_floats (C, 0.1, 2);
    Builder *b = builder_new (13);
    builder_input (b, "x", 4, xdims);
    builder_input (b, "map", 4, mdims);
    builder_node (b, "Mul", "mul", map_first ? IN ("map", "x") : IN ("x", "map"), OUT ("prod"));
    Onnx__NodeProto *n = builder_node (b, "MaxPool", "pool", IN ("prod"), OUT ("p"));
    node_ints (b, n, "kernel_shape", 2, (int64_t[]) { k, k });
    node_ints (b, n, "strides", 2, (int64_t[]) { stride, stride });
    node_ints (b, n, "pads", 4, (int64_t[]) { pad, pad, pad, pad });
    node_int (b, n, "ceil_mode", ceil_mode);
    const char *last = "p";
    if (norm > 0) {
      builder_init_float (b, "gamma", 1, cdims, gamma);
      builder_init_float (b, "beta", 1, cdims, beta);
      builder_init_float (b, "mean", 1, cdims, mean);
      builder_init_float (b, "var", 1, cdims, var);
      n = builder_node (b, "BatchNormalization", "bn", IN ("p", "gamma", "beta", "mean", "var"),
                        OUT ("n"));
      node_float (b, n, "epsilon", 1e-3f);
      last = "n";
    }
    if (norm == 2) {
      builder_node (b, "Relu", "relu", IN ("n"), OUT ("r"));
      last = "r";
    }
    builder_output (b, last);
    FkpNetStats stats;
    FkpNet *net = load_random_threads (b, &stats);
    if (g_strcmp0 (g_getenv ("FKP_NN_FUSE"), "0") != 0)
      g_assert_cmpuint (stats.n_steps, ==, norm == 2 ? 2 : 1);
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    g_assert_cmpint (shape.dims[2], ==, OH);
    g_assert_cmpint (shape.dims[3], ==, OW);
    memcpy (fkp_net_get_input_data (net, 0), x, dims_count (4, xdims) * sizeof (float));
    memcpy (fkp_net_get_input_data (net, 1), map, dims_count (4, mdims) * sizeof (float));
    fkp_net_run (net, NULL);

    float *ref = g_new (float, (size_t) N * C * OH * OW);
    for (int p = 0; p < N * C; p++) {
      const int c = p % C;
      const double scale = gamma[c] / sqrt ((double) var[c] + 1e-3f);
      for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
          float best = -INFINITY;
          for (int y = oy * stride - pad; y < oy * stride - pad + k; y++)
            for (int xx = ox * stride - pad; xx < ox * stride - pad + k; xx++)
              if (y >= 0 && y < H && xx >= 0 && xx < W)
                best = MAX (best, x[((size_t) p * H + y) * W + xx] * map[((size_t) (p / C) * H + y) * W + xx]);
          double v = best;
          if (norm > 0)
            v = (v - mean[c]) * scale + beta[c];
          if (norm == 2)
            v = MAX (v, 0.0);
          ref[((size_t) p * OH + oy) * OW + ox] = (float) v;
        }
    }
    char *what = g_strdup_printf ("x*map N%d C%d H%d W%d + maxpool %d/%d pad%d ceil%d norm%d", N, C,
                                  H, W, k, stride, pad, ceil_mode, norm);
    assert_close (fkp_net_get_output_data (net, 0), ref, (size_t) N * C * OH * OW, TOL, what);
    g_free (what);
    g_free (ref); g_free (x); g_free (map); g_free (gamma); g_free (beta); g_free (mean); g_free (var);
    fkp_net_free (net);
  }
}

/* Threads for pool_check's net: the large cases also run split in parts. */
static int pool_threads = 1;

/* MaxPool or AveragePool with these parameters against a naive loop. */
static void
pool_check (gboolean is_max, int C, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl,
            int pb, int pr, int H, int W, gboolean ceil_mode, gboolean include_pad)
{
  int OH, OW;
  {
    int eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
    int nh = H + pt + pb - eh, nw = W + pl + pr - ew;
    OH = (ceil_mode ? (nh + sh - 1) / sh : nh / sh) + 1;
    OW = (ceil_mode ? (nw + sw - 1) / sw : nw / sw) + 1;
    /* PyTorch's rule: the last window starts inside the input or left padding. */
    if (ceil_mode && (OH - 1) * sh >= H + pt) OH--;
    if (ceil_mode && (OW - 1) * sw >= W + pl) OW--;
  }
  int64_t xdims[4] = { 1, C, H, W };
  float *x = random_floats (dims_count (4, xdims), -2, 2);
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, xdims);
  Onnx__NodeProto *n = builder_node (b, is_max ? "MaxPool" : "AveragePool", "pool", IN ("x"), OUT ("y"));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { kh, kw });
  node_ints (b, n, "strides", 2, (int64_t[]) { sh, sw });
  node_ints (b, n, "pads", 4, (int64_t[]) { pt, pl, pb, pr });
  node_int (b, n, "ceil_mode", ceil_mode);
  if (is_max)
    node_ints (b, n, "dilations", 2, (int64_t[]) { dh, dw });
  else
    node_int (b, n, "count_include_pad", include_pad);
  builder_output (b, "y");
  FkpNet *net = load_built (b, pool_threads);
  builder_free (b);
  FkpShape shape;
  fkp_net_get_output_shape (net, 0, &shape);
  g_assert_cmpint (shape.dims[2], ==, OH);
  g_assert_cmpint (shape.dims[3], ==, OW);
  memcpy (fkp_net_get_input_data (net, 0), x, dims_count (4, xdims) * sizeof (float));
  fkp_net_run (net, NULL);
  float *ref = g_new (float, C * OH * OW);
  for (int c = 0; c < C; c++)
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++) {
        double acc = is_max ? -INFINITY : 0.0;
        int valid = 0, padded = 0;
        for (int ky = 0; ky < kh; ky++)
          for (int kx = 0; kx < kw; kx++) {
            int iy = oy * sh - pt + ky * dh, ix = ox * sw - pl + kx * dw;
            if (iy < H + pb && ix < W + pr)
              padded++;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
              continue;
            double v = x[(c * H + iy) * W + ix];
            acc = is_max ? MAX (acc, v) : acc + v;
            valid++;
          }
        if (!is_max)
          acc /= include_pad ? padded : valid;
        ref[(c * OH + oy) * OW + ox] = (float) acc;
      }
  char *what = g_strdup_printf ("%s k%dx%d s%dx%d d%dx%d p%d,%d,%d,%d ceil%d incl%d H%d W%d",
                                is_max ? "max" : "avg", kh, kw, sh, sw, dh, dw, pt, pl, pb, pr,
                                ceil_mode, include_pad, H, W);
  assert_close (fkp_net_get_output_data (net, 0), ref, C * OH * OW, TOL, what);
  g_free (what);
  g_free (ref);
  g_free (x);
  fkp_net_free (net);
}

static void
test_pool_case (gboolean is_max)
{
  int C = g_test_rand_int_range (1, 5);
  int kh = g_test_rand_int_range (1, 5), kw = g_test_rand_int_range (1, 5);
  int sh = g_test_rand_int_range (1, 4), sw = g_test_rand_int_range (1, 4);
  int dh = is_max ? g_test_rand_int_range (1, 3) : 1, dw = is_max ? g_test_rand_int_range (1, 3) : 1;
  int pt = g_test_rand_int_range (0, kh), pl = g_test_rand_int_range (0, kw);
  int pb = g_test_rand_int_range (0, kh), pr = g_test_rand_int_range (0, kw);
  int H = (kh - 1) * dh + 1 + g_test_rand_int_range (0, 9);
  int W = (kw - 1) * dw + 1 + g_test_rand_int_range (0, 9);
  pool_check (is_max, C, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, H, W, g_test_rand_bit (),
              g_test_rand_bit ());
}

/* Many planes, so the whole-plane max pooling works in several chunks. */
static void
test_pools_large (void)
{
  for (pool_threads = 1; pool_threads <= 3; pool_threads++) {
    pool_check (TRUE, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 48, 48, FALSE, FALSE);
    pool_check (TRUE, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 48, 48, FALSE, FALSE);
    pool_check (TRUE, 33, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 51, 47, TRUE, FALSE);
    pool_check (TRUE, 3, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 300, 280, TRUE, FALSE);
    pool_check (TRUE, 16, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 478, 638, FALSE, FALSE);
    pool_check (FALSE, 30, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 40, 50, TRUE, TRUE);
  }
  pool_threads = 1;
}

static void
test_pools (void)
{
  for (int i = 0; i < CASES; i++) {
    test_pool_case (TRUE);
    test_pool_case (FALSE);
  }
}

static void
test_global_pools (void)
{
  for (int i = 0; i < 10; i++) {
    int C = g_test_rand_int_range (1, 6), H = g_test_rand_int_range (1, 9), W = g_test_rand_int_range (1, 9);
    int64_t xdims[4] = { 1, C, H, W };
    float *x = random_floats (C * H * W, -3, 3);
    for (int is_max = 0; is_max < 2; is_max++) {
      Builder *b = builder_new (13);
      builder_input (b, "x", 4, xdims);
      builder_node (b, is_max ? "GlobalMaxPool" : "GlobalAveragePool", "gp", IN ("x"), OUT ("y"));
      builder_output (b, "y");
      FkpNet *net = load_built (b, 1);
      builder_free (b);
      memcpy (fkp_net_get_input_data (net, 0), x, C * H * W * sizeof (float));
      fkp_net_run (net, NULL);
      float ref[8];
      for (int c = 0; c < C; c++) {
        double acc = is_max ? -INFINITY : 0;
        for (int i2 = 0; i2 < H * W; i2++)
          acc = is_max ? MAX (acc, x[c * H * W + i2]) : acc + x[c * H * W + i2];
        ref[c] = (float) (is_max ? acc : acc / (H * W));
      }
      assert_close (fkp_net_get_output_data (net, 0), ref, C, TOL, "global pool");
      fkp_net_free (net);
    }
    g_free (x);
  }
}

/* ---- Standalone BatchNorm and activations ----------------------------- */

static void
test_batchnorm_and_activations (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_bit () ? 2 : 4;
    int64_t dims[4] = { 1, g_test_rand_int_range (1, 7), g_test_rand_int_range (1, 6), g_test_rand_int_range (1, 6) };
    int C = (int) dims[1];
    size_t n = dims_count (rank, dims), plane = n / C;
    float *x = random_floats (n, -3, 3);
    float *gamma = random_floats (C, 0.5, 1.5), *beta = random_floats (C, -0.5, 0.5);
    float *mean = random_floats (C, -0.5, 0.5), *var = random_floats (C, 0.2, 2);
    int act = g_test_rand_int_range (0, 6);
    float alpha = 0.2f, lo = -0.5f, hi = 0.7f;
    int64_t cdims[1] = { C };
    Builder *b = builder_new (15);
    builder_input (b, "x", rank, dims);
    builder_init_float (b, "gamma", 1, cdims, gamma);
    builder_init_float (b, "beta", 1, cdims, beta);
    builder_init_float (b, "mean", 1, cdims, mean);
    builder_init_float (b, "var", 1, cdims, var);
    builder_node (b, "BatchNormalization", "bn", IN ("x", "gamma", "beta", "mean", "var"), OUT ("n"));
    builder_output (b, "n");
    if (act) {
      add_act_node (b, act, "x", "a", alpha, lo, hi, 1);
      builder_output (b, "a");
    }
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    float *ref = g_new (float, n), *ref_act_out = g_new (float, n);
    for (size_t k = 0; k < n; k++) {
      int c = (int) (k / plane);
      ref[k] = (float) ((x[k] - mean[c]) / sqrt (var[c] + 1e-5) * gamma[c] + beta[c]);
      ref_act_out[k] = ref_act (x[k], act, alpha, lo, hi);
    }
    assert_close (fkp_net_get_output_data (net, 0), ref, n, TOL, "batchnorm");
    if (act)
      assert_close (fkp_net_get_output_data (net, 1), ref_act_out, n, TOL, act_ops[act]);
    fkp_net_free (net);
    g_free (ref); g_free (ref_act_out); g_free (x);
    g_free (gamma); g_free (beta); g_free (mean); g_free (var);
  }
}

/* Clip in opset 6–10 takes its bounds as attributes. */
static void
test_clip_attributes (void)
{
  int64_t dims[2] = { 1, 50 };
  float *x = random_floats (50, -2, 2);
  Builder *b = builder_new (9);
  builder_input (b, "x", 2, dims);
  Onnx__NodeProto *n = builder_node (b, "Clip", "clip", IN ("x"), OUT ("y"));
  node_float (b, n, "min", -0.25f);
  node_float (b, n, "max", 0.5f);
  builder_output (b, "y");
  FkpNet *net = load_built (b, 1);
  builder_free (b);
  memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * 50);
  fkp_net_run (net, NULL);
  float ref[50];
  for (int i = 0; i < 50; i++)
    ref[i] = ref_act (x[i], 4, 0, -0.25f, 0.5f);
  assert_close (fkp_net_get_output_data (net, 0), ref, 50, 0, "clip attributes");
  fkp_net_free (net);
  g_free (x);
}

/* ---- Binary ops with broadcasting ------------------------------------- */

static void
test_binary (void)
{
  static const char *ops[] = { "Add", "Sub", "Mul", "Div" };
  for (int i = 0; i < 4 * CASES; i++) {
    int op = i % 4;
    int rank = g_test_rand_int_range (1, 5);
    int64_t out[4], a[4], bd[4];
    for (int d = 0; d < rank; d++)
      out[d] = g_test_rand_int_range (1, 6);
    if (rank == 4)
      out[0] = 1;
    int rb = g_test_rand_int_range (0, rank + 1);
    int pattern = g_test_rand_int_range (0, 4);
    for (int d = 0; d < rank; d++)
      a[d] = out[d];
    for (int d = 0; d < rb; d++) {
      int od = rank - rb + d;
      if (pattern == 0) bd[d] = out[od];                          /* same */
      else if (pattern == 1) bd[d] = (od == 1) ? out[od] : 1;     /* [N,C,1,1] */
      else if (pattern == 2) bd[d] = (od == 1) ? 1 : out[od];     /* [N,1,H,W] */
      else bd[d] = g_test_rand_bit () ? out[od] : 1;
    }
    /* Broadcast on A's side sometimes too. */
    if (g_test_rand_bit ())
      for (int d = 0; d < rank; d++)
        if (g_test_rand_int_range (0, 4) == 0)
          a[d] = 1;
    for (int d = 0; d < rank; d++) {
      int ib = d - (rank - rb);
      int64_t db = ib >= 0 ? bd[ib] : 1;
      out[d] = MAX (a[d], db);
    }
    gboolean b_const = g_test_rand_bit ();
    size_t na = dims_count (rank, a), nb = dims_count (rb, bd), n = dims_count (rank, out);
    float *x = random_floats (na, -2, 2), *y = random_floats (nb, 0.5, 2);
    Builder *b = builder_new (14);
    builder_input (b, "a", rank, a);
    if (b_const)
      builder_init_float (b, "b", rb, bd, y);
    else
      builder_input (b, "b", rb, bd);
    builder_node (b, ops[op], "bin", IN ("a", "b"), OUT ("y"));
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, na * sizeof (float));
    if (!b_const)
      memcpy (fkp_net_get_input_data (net, 1), y, nb * sizeof (float));
    fkp_net_run (net, NULL);
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    g_assert_cmpint (shape.rank, ==, rank);
    float *ref = g_new (float, n);
    for (size_t k = 0; k < n; k++) {
      size_t rem = k, ia = 0, ib = 0, sa = 1, sb = 1;
      for (int d = rank - 1; d >= 0; d--) {
        size_t idx = rem % out[d];
        rem /= out[d];
        g_assert_cmpint (shape.dims[d], ==, out[d]);
        ia += (a[d] == 1 ? 0 : idx) * sa;
        sa *= a[d];
        int bdim = d - (rank - rb);
        if (bdim >= 0) {
          ib += (bd[bdim] == 1 ? 0 : idx) * sb;
          sb *= bd[bdim];
        }
      }
      float p = x[ia], q = y[ib];
      ref[k] = op == 0 ? p + q : op == 1 ? p - q : op == 2 ? p * q : p / q;
    }
    assert_close (fkp_net_get_output_data (net, 0), ref, n, TOL, ops[op]);
    fkp_net_free (net);
    g_free (ref); g_free (x); g_free (y);
  }
}

/* ---- Reductions and ArgMax -------------------------------------------- */

static void
test_reduce (void)
{
  static const char *ops[] = { "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum" };
  for (int i = 0; i < 4 * CASES; i++) {
    int op = i % 4;
    int rank = g_test_rand_int_range (1, 5);
    int64_t dims[4];
    for (int d = 0; d < rank; d++)
      dims[d] = g_test_rand_int_range (1, 6);
    int lo = g_test_rand_int_range (0, rank), hi = g_test_rand_int_range (lo, rank);
    gboolean keep = g_test_rand_bit ();
    gboolean axes_input = g_test_rand_bit ();
    int64_t axes[4];
    int n_axes = 0;
    for (int d = lo; d <= hi; d++)
      axes[n_axes++] = g_test_rand_bit () ? d : d - rank;   /* negative axes too */
    size_t n = dims_count (rank, dims);
    float *x = random_floats (n, -2, 2);
    /* ReduceSum takes axes as an input from opset 13, the others from 18. */
    int opset = axes_input ? 18 : (op == 3 ? 12 : 17);
    Builder *b = builder_new (opset);
    builder_input (b, "x", rank, dims);
    Onnx__NodeProto *node;
    if (axes_input) {
      builder_init_int64 (b, "axes", n_axes, axes);
      node = builder_node (b, ops[op], "red", IN ("x", "axes"), OUT ("y"));
    } else {
      node = builder_node (b, ops[op], "red", IN ("x"), OUT ("y"));
      node_ints (b, node, "axes", n_axes, axes);
    }
    node_int (b, node, "keepdims", keep);
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    size_t outer = dims_count (lo, dims), ext = 1, inner = 1;
    for (int d = lo; d <= hi; d++) ext *= dims[d];
    for (int d = hi + 1; d < rank; d++) inner *= dims[d];
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    g_assert_cmpint (shape.rank, ==, keep ? rank : rank - (hi - lo + 1));
    float *ref = g_new (float, outer * inner);
    for (size_t o = 0; o < outer; o++)
      for (size_t in = 0; in < inner; in++) {
        double acc = op == 1 ? -INFINITY : op == 2 ? INFINITY : 0;
        for (size_t e = 0; e < ext; e++) {
          double v = x[(o * ext + e) * inner + in];
          acc = op == 1 ? MAX (acc, v) : op == 2 ? MIN (acc, v) : acc + v;
        }
        ref[o * inner + in] = (float) (op == 0 ? acc / ext : acc);
      }
    assert_close (fkp_net_get_output_data (net, 0), ref, outer * inner, TOL, ops[op]);
    fkp_net_free (net);
    g_free (ref); g_free (x);
  }
}

static void
test_argmax_cast (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_int_range (1, 5);
    int64_t dims[4];
    for (int d = 0; d < rank; d++)   /* (every third case with wide maps: the vector paths, 32 and 8 lanes, and their tails) */
      dims[d] = g_test_rand_int_range (1, i % 3 == 0 && d > 0 ? 45 : 7);
    int axis = g_test_rand_int_range (0, rank);
    gboolean keep = g_test_rand_bit (), last = g_test_rand_bit ();
    size_t n = dims_count (rank, dims);
    float *x = g_new (float, n);
    for (size_t k = 0; k < n; k++)
      x[k] = (float) g_test_rand_int_range (0, 4);   /* small integers: ties happen */
    Builder *b = builder_new (13);
    builder_input (b, "x", rank, dims);
    Onnx__NodeProto *node = builder_node (b, "ArgMax", "argmax", IN ("x"), OUT ("i"));
    node_int (b, node, "axis", g_test_rand_bit () ? axis : axis - rank);
    node_int (b, node, "keepdims", keep);
    node_int (b, node, "select_last_index", last);
    node = builder_node (b, "Cast", "cast", IN ("i"), OUT ("y"));
    node_int (b, node, "to", 1);
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    size_t outer = dims_count (axis, dims), ext = dims[axis], inner = n / outer / ext;
    float *ref = g_new (float, outer * inner);
    for (size_t o = 0; o < outer; o++)
      for (size_t in = 0; in < inner; in++) {
        size_t best = 0;
        for (size_t e = 1; e < ext; e++) {
          float v = x[(o * ext + e) * inner + in], m = x[(o * ext + best) * inner + in];
          if (v > m || (last && v == m))
            best = e;
        }
        ref[o * inner + in] = (float) best;
      }
    assert_close (fkp_net_get_output_data (net, 0), ref, outer * inner, 0, "argmax");
    fkp_net_free (net);
    g_free (ref); g_free (x);
  }
}

/* ---- Concat ---------------------------------------------------------- */

static void
test_concat (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_int_range (1, 5);
    int axis = g_test_rand_int_range (0, rank);
    int k = g_test_rand_int_range (1, 5);
    int64_t base[4];
    for (int d = 0; d < rank; d++)
      base[d] = g_test_rand_int_range (1, 5);
    if (rank == 4 && g_test_rand_bit ()) {
      base[0] = 1;
      axis = 1;   /* the NCHW channel concat written in place */
    }
    /* Inputs through a Relu (a producer that can write in place) or straight. */
    gboolean via_relu = g_test_rand_bit ();
    Builder *b = builder_new (13);
    float *xs[4];
    int64_t lens[4];
    const char *names[5] = { NULL };
    char *inner_names[4];
    size_t total_axis = 0;
    for (int j = 0; j < k; j++) {
      int64_t dims[4];
      memcpy (dims, base, sizeof dims);
      dims[axis] = lens[j] = g_test_rand_int_range (1, 4);
      total_axis += lens[j];
      xs[j] = random_floats (dims_count (rank, dims), -1, 1);
      char *name = g_strdup_printf ("x%d", j);
      builder_input (b, name, rank, dims);
      inner_names[j] = via_relu ? g_strdup_printf ("r%d", j) : g_strdup (name);
      if (via_relu)
        builder_node (b, "Relu", "relu", IN (name), OUT (inner_names[j]));
      names[j] = inner_names[j];
      g_free (name);
    }
    Onnx__NodeProto *node = builder_node (b, "Concat", "concat", names, OUT ("y"));
    node_int (b, node, "axis", axis);
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    for (int j = 0; j < k; j++) {
      int64_t dims[4];
      memcpy (dims, base, sizeof dims);
      dims[axis] = lens[j];
      memcpy (fkp_net_get_input_data (net, j), xs[j], dims_count (rank, dims) * sizeof (float));
    }
    fkp_net_run (net, NULL);
    size_t outer = dims_count (axis, base), inner = dims_count (rank, base) / outer / base[axis];
    size_t n = outer * total_axis * inner;
    float *ref = g_new (float, n), *p = ref;
    for (size_t o = 0; o < outer; o++)
      for (int j = 0; j < k; j++)
        for (size_t e = 0; e < (size_t) lens[j] * inner; e++) {
          float v = xs[j][o * lens[j] * inner + e];
          *p++ = via_relu ? MAX (v, 0.0f) : v;
        }
    assert_close (fkp_net_get_output_data (net, 0), ref, n, 0, "concat");
    fkp_net_free (net);
    g_free (ref);
    for (int j = 0; j < k; j++) {
      g_free (xs[j]);
      g_free (inner_names[j]);
    }
  }
}

/* ---- Gemm and MatMul -------------------------------------------------- */

static void
test_gemm (void)
{
  for (int i = 0; i < CASES; i++) {
    int M = g_test_rand_int_range (1, 6), N = g_test_rand_int_range (1, 9), K = g_test_rand_int_range (1, 9);
    if (i % 3 == 0)
      M = 1;   /* the matrix-vector path */
    /* a large one, which two threads share out by rows of 16 (and a tail) */
    const gboolean large = i % 6 == 3;
    if (large) {
      N = g_test_rand_int_range (600, 1100);
      K = g_test_rand_int_range (256, 700);
    }
    gboolean ta = g_test_rand_bit (), tb = g_test_rand_bit (), relu = g_test_rand_bit ();
    float alpha = (float) g_test_rand_double_range (0.5, 2), beta = (float) g_test_rand_double_range (0.5, 2);
    int c_kind = g_test_rand_int_range (0, 5);   /* none, [N], [1,N], [M,N], [M,1] */
    int64_t adims[2] = { ta ? K : M, ta ? M : K }, bdims[2] = { tb ? N : K, tb ? K : N };
    float *a = random_floats (M * K, -1, 1), *w = random_floats (N * K, -1, 1), *c = random_floats (M * N, -1, 1);
    Builder *b = builder_new (13);
    builder_input (b, "a", 2, adims);
    builder_init_float (b, "b", 2, bdims, w);
    int64_t cd[2];
    int c_rank = 0;
    if (c_kind == 1) { c_rank = 1; cd[0] = N; }
    else if (c_kind == 2) { c_rank = 2; cd[0] = 1; cd[1] = N; }
    else if (c_kind == 3) { c_rank = 2; cd[0] = M; cd[1] = N; }
    else if (c_kind == 4) { c_rank = 2; cd[0] = M; cd[1] = 1; }
    if (c_kind)
      builder_init_float (b, "c", c_rank, cd, c);
    Onnx__NodeProto *node = builder_node (b, "Gemm", "gemm", c_kind ? IN ("a", "b", "c") : IN ("a", "b"), OUT ("g"));
    node_int (b, node, "transA", ta);
    node_int (b, node, "transB", tb);
    node_float (b, node, "alpha", alpha);
    node_float (b, node, "beta", beta);
    if (relu)
      builder_node (b, "Relu", "relu", IN ("g"), OUT ("y"));
    builder_output (b, relu ? "y" : "g");
    FkpNet *net = load_built (b, large ? 2 : 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), a, M * K * sizeof (float));
    fkp_net_run (net, NULL);
    float *ref = g_new (float, M * N);
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) {
        double acc = 0;
        for (int k = 0; k < K; k++)
          acc += (double) (ta ? a[k * M + m] : a[m * K + k]) * (tb ? w[n * K + k] : w[k * N + n]);
        acc *= alpha;
        if (c_kind == 1 || c_kind == 2) acc += beta * c[n];
        if (c_kind == 3) acc += beta * c[m * N + n];
        if (c_kind == 4) acc += beta * c[m];
        ref[m * N + n] = relu ? MAX ((float) acc, 0.0f) : (float) acc;
      }
    assert_close (fkp_net_get_output_data (net, 0), ref, M * N, TOL, "gemm");
    fkp_net_free (net);
    g_free (ref); g_free (a); g_free (w); g_free (c);
  }
}

static void
test_matmul (void)
{
  for (int i = 0; i < CASES; i++) {
    int M = g_test_rand_int_range (1, 6), N = g_test_rand_int_range (1, 7), K = g_test_rand_int_range (1, 7);
    int batch = g_test_rand_int_range (1, 4);
    int kind = i % 4;   /* 0: 2-D, 1: batched A with shared B, 2: batched both, 3: 1-D A */
    int64_t adims[3], bdims[3];
    int ra, rb;
    if (kind == 0) { ra = 2; adims[0] = M; adims[1] = K; rb = 2; bdims[0] = K; bdims[1] = N; batch = 1; }
    else if (kind == 1) { ra = 3; adims[0] = batch; adims[1] = M; adims[2] = K; rb = 2; bdims[0] = K; bdims[1] = N; }
    else if (kind == 2) { ra = 3; adims[0] = batch; adims[1] = M; adims[2] = K; rb = 3; bdims[0] = batch; bdims[1] = K; bdims[2] = N; }
    else { ra = 1; adims[0] = K; M = 1; rb = 2; bdims[0] = K; bdims[1] = N; batch = 1; }
    size_t na = dims_count (ra, adims), nb = dims_count (rb, bdims);
    float *a = random_floats (na, -1, 1), *w = random_floats (nb, -1, 1);
    Builder *b = builder_new (13);
    builder_input (b, "a", ra, adims);
    builder_input (b, "b", rb, bdims);
    builder_node (b, "MatMul", "mm", IN ("a", "b"), OUT ("y"));
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), a, na * sizeof (float));
    memcpy (fkp_net_get_input_data (net, 1), w, nb * sizeof (float));
    fkp_net_run (net, NULL);
    float *ref = g_new (float, batch * M * N);
    for (int bi = 0; bi < batch; bi++)
      for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
          double acc = 0;
          for (int k = 0; k < K; k++)
            acc += (double) a[(bi * M + m) * K + k] * w[(kind == 2 ? bi * K * N : 0) + k * N + n];
          ref[(bi * M + m) * N + n] = (float) acc;
        }
    assert_close (fkp_net_get_output_data (net, 0), ref, batch * M * N, TOL, "matmul");
    fkp_net_free (net);
    g_free (ref); g_free (a); g_free (w);
  }
}

/* ---- Softmax, Transpose, Slice, Pad ------------------------------------ */

static void
test_softmax (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_int_range (1, 5);
    int64_t dims[4];
    for (int d = 0; d < rank; d++)
      dims[d] = g_test_rand_int_range (1, 6);
    int axis = g_test_rand_int_range (0, rank);
    gboolean old = g_test_rand_bit ();   /* opset < 13 flattens from the axis on */
    size_t n = dims_count (rank, dims);
    float *x = random_floats (n, -5, 5);
    Builder *b = builder_new (old ? 11 : 13);
    builder_input (b, "x", rank, dims);
    Onnx__NodeProto *node = builder_node (b, "Softmax", "sm", IN ("x"), OUT ("y"));
    node_int (b, node, "axis", axis);
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    size_t outer = dims_count (axis, dims);
    size_t ext = old ? n / outer : (size_t) dims[axis], inner = n / outer / ext;
    float *ref = g_new (float, n);
    for (size_t o = 0; o < outer; o++)
      for (size_t in = 0; in < inner; in++) {
        double sum = 0, m = -INFINITY;
        for (size_t e = 0; e < ext; e++)
          m = MAX (m, x[(o * ext + e) * inner + in]);
        for (size_t e = 0; e < ext; e++)
          sum += exp (x[(o * ext + e) * inner + in] - m);
        for (size_t e = 0; e < ext; e++)
          ref[(o * ext + e) * inner + in] = (float) (exp (x[(o * ext + e) * inner + in] - m) / sum);
      }
    assert_close (fkp_net_get_output_data (net, 0), ref, n, TOL, "softmax");
    fkp_net_free (net);
    g_free (ref); g_free (x);
  }
}

static void
test_transpose (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_int_range (1, 5);
    int64_t dims[4], perm[4], odims[4];
    for (int d = 0; d < rank; d++) {
      dims[d] = g_test_rand_int_range (1, 6);
      perm[d] = d;
    }
    for (int d = rank - 1; d > 0; d--) {
      int j = g_test_rand_int_range (0, d + 1);
      int64_t t = perm[d]; perm[d] = perm[j]; perm[j] = t;
    }
    for (int d = 0; d < rank; d++)
      odims[d] = dims[perm[d]];
    size_t n = dims_count (rank, dims);
    float *x = random_floats (n, -1, 1);
    Builder *b = builder_new (13);
    builder_input (b, "x", rank, dims);
    Onnx__NodeProto *node = builder_node (b, "Transpose", "tr", IN ("x"), OUT ("y"));
    node_ints (b, node, "perm", rank, perm);
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    float *ref = g_new (float, n);
    for (size_t k = 0; k < n; k++) {
      size_t rem = k, idx[4];
      for (int d = rank - 1; d >= 0; d--) { idx[d] = rem % odims[d]; rem /= odims[d]; }
      size_t src = 0;
      int64_t in_idx[4];
      for (int d = 0; d < rank; d++) in_idx[perm[d]] = idx[d];
      for (int d = 0; d < rank; d++) src = src * dims[d] + in_idx[d];
      ref[k] = x[src];
    }
    assert_close (fkp_net_get_output_data (net, 0), ref, n, 0, "transpose");
    fkp_net_free (net);
    g_free (ref); g_free (x);
  }
}

static void
test_slice (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_int_range (1, 5);
    int64_t dims[4], starts[4], ends[4], axes[4], steps[4];
    int64_t first[4], step_of[4], len[4];
    for (int d = 0; d < rank; d++) {
      dims[d] = g_test_rand_int_range (1, 7);
      first[d] = 0; step_of[d] = 1; len[d] = dims[d];
    }
    int n_axes = g_test_rand_int_range (1, rank + 1);
    for (int j = 0; j < n_axes; j++) {
      int d = j;   /* axes 0..n_axes-1, listed in reverse sometimes */
      axes[j] = g_test_rand_bit () ? d : d - rank;
      int64_t D = dims[d];
      int64_t step = g_test_rand_int_range (1, 3) * (g_test_rand_bit () ? 1 : -1);
      int64_t s = g_test_rand_int_range (-(int) D - 2, (int) D + 2);
      int64_t e = g_test_rand_int_range (-(int) D - 2, (int) D + 2);
      starts[j] = s; ends[j] = e; steps[j] = step;
      /* Reference clamping from the ONNX definition. */
      int64_t cs = s < 0 ? s + D : s, ce = e < 0 ? e + D : e;
      if (step > 0) {
        cs = CLAMP (cs, 0, D); ce = CLAMP (ce, 0, D);
        len[d] = ce > cs ? (ce - cs + step - 1) / step : 0;
      } else {
        cs = CLAMP (cs, 0, D - 1); ce = CLAMP (ce, -1, D - 1);
        len[d] = cs > ce ? (cs - ce - step - 1) / (-step) : 0;
      }
      first[d] = cs; step_of[d] = step;
    }
    size_t n = dims_count (rank, dims), no = dims_count (rank, len);
    float *x = random_floats (n, -1, 1);
    Builder *b = builder_new (13);
    builder_input (b, "x", rank, dims);
    builder_init_int64 (b, "starts", n_axes, starts);
    builder_init_int64 (b, "ends", n_axes, ends);
    builder_init_int64 (b, "axes", n_axes, axes);
    builder_init_int64 (b, "steps", n_axes, steps);
    builder_node (b, "Slice", "slice", IN ("x", "starts", "ends", "axes", "steps"), OUT ("s"));
    /* Through an Identity, which binds the name without a kernel. */
    builder_node (b, "Identity", "id", IN ("s"), OUT ("y"));
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    for (int d = 0; d < rank; d++)
      g_assert_cmpint (shape.dims[d], ==, len[d]);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    float *ref = g_new (float, MAX (no, 1));
    for (size_t k = 0; k < no; k++) {
      size_t rem = k, src = 0;
      int64_t idx[4];
      for (int d = rank - 1; d >= 0; d--) { idx[d] = rem % len[d]; rem /= len[d]; }
      for (int d = 0; d < rank; d++) src = src * dims[d] + (first[d] + idx[d] * step_of[d]);
      ref[k] = x[src];
    }
    assert_close (fkp_net_get_output_data (net, 0), ref, no, 0, "slice");
    fkp_net_free (net);
    g_free (ref); g_free (x);
  }
}

static void
test_pad (void)
{
  for (int i = 0; i < CASES; i++) {
    int rank = g_test_rand_int_range (1, 5);
    int64_t dims[4], pads[8], odims[4];
    for (int d = 0; d < rank; d++) {
      dims[d] = g_test_rand_int_range (1, 5);
      pads[d] = g_test_rand_int_range (0, 3);
      pads[d + rank] = g_test_rand_int_range (0, 3);
      odims[d] = dims[d] + pads[d] + pads[d + rank];
    }
    float value = (float) g_test_rand_double_range (-1, 1);
    size_t n = dims_count (rank, dims), no = dims_count (rank, odims);
    float *x = random_floats (n, -1, 1);
    Builder *b = builder_new (13);
    builder_input (b, "x", rank, dims);
    builder_init_int64 (b, "pads", 2 * rank, pads);
    builder_init_float (b, "value", 0, NULL, &value);
    builder_node (b, "Pad", "pad", IN ("x", "pads", "value"), OUT ("y"));
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, n * sizeof (float));
    fkp_net_run (net, NULL);
    float *ref = g_new (float, no);
    for (size_t k = 0; k < no; k++) {
      size_t rem = k, src = 0;
      gboolean inside = TRUE;
      int64_t idx[4];
      for (int d = rank - 1; d >= 0; d--) { idx[d] = rem % odims[d]; rem /= odims[d]; }
      for (int d = 0; d < rank; d++) {
        int64_t j = idx[d] - pads[d];
        inside &= j >= 0 && j < dims[d];
        src = src * dims[d] + (inside ? j : 0);
      }
      ref[k] = inside ? x[src] : value;
    }
    assert_close (fkp_net_get_output_data (net, 0), ref, no, 0, "pad");
    fkp_net_free (net);
    g_free (ref); g_free (x);
  }
}

/* ---- Resize ------------------------------------------------------------ */

static const char *coord_modes[] = { "half_pixel", "pytorch_half_pixel", "align_corners",
                                     "asymmetric" };

/* Source coordinate from the ONNX Resize definition. */
static double
ref_resize_coord (int mode, int o, int in, int out, double scale)
{
  if (mode == 0) return (o + 0.5) / scale - 0.5;
  if (mode == 1) return out > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  if (mode == 2) return out > 1 ? o * (in - 1.0) / (out - 1.0) : 0.0;
  return o / scale;
}

static void
test_resize (void)
{
  for (int i = 0; i < CASES; i++) {
    int C = g_test_rand_int_range (1, 4), H = g_test_rand_int_range (1, 7), W = g_test_rand_int_range (1, 7);
    gboolean linear = g_test_rand_bit (), use_sizes = g_test_rand_bit ();
    int mode = g_test_rand_int_range (0, 4), nearest = g_test_rand_int_range (0, 4);
    static const char *nearest_modes[] = { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };
    float sh = (float) g_test_rand_int_range (1, 9) / 2.0f, sw = (float) g_test_rand_int_range (1, 9) / 2.0f;
    int OH = (int) floor (H * sh), OW = (int) floor (W * sw);
    if (use_sizes) {
      OH = g_test_rand_int_range (1, 12);
      OW = g_test_rand_int_range (1, 12);
    }
    if (OH < 1 || OW < 1) {
      OH = MAX (OH, 1);
      OW = MAX (OW, 1);
      use_sizes = TRUE;
    }
    double scale_h = use_sizes ? (double) OH / H : sh, scale_w = use_sizes ? (double) OW / W : sw;
    int64_t dims[4] = { 1, C, H, W };
    float *x = random_floats (C * H * W, -1, 1);
    Builder *b = builder_new (13);
    builder_input (b, "x", 4, dims);
    int64_t four[1] = { 4 };
    float scales[4] = { 1, 1, sh, sw };
    builder_init_float (b, "roi", 1, (int64_t[]) { 0 }, NULL);
    Onnx__NodeProto *n;
    if (use_sizes) {
      builder_init_int64 (b, "sizes", 4, (int64_t[]) { 1, C, OH, OW });
      n = builder_node (b, "Resize", "resize", IN ("x", "roi", "", "sizes"), OUT ("y"));
    } else {
      builder_init_float (b, "scales", 1, four, scales);
      n = builder_node (b, "Resize", "resize", IN ("x", "roi", "scales"), OUT ("y"));
    }
    node_string (b, n, "mode", linear ? "linear" : "nearest");
    node_string (b, n, "coordinate_transformation_mode", coord_modes[mode]);
    node_string (b, n, "nearest_mode", nearest_modes[nearest]);
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    g_assert_cmpint (shape.dims[2], ==, OH);
    g_assert_cmpint (shape.dims[3], ==, OW);
    memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * C * H * W);
    fkp_net_run (net, NULL);
    float *ref = g_new (float, C * OH * OW);
    for (int c = 0; c < C; c++)
      for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
          double fy = ref_resize_coord (mode, oy, H, OH, scale_h);
          double fx = ref_resize_coord (mode, ox, W, OW, scale_w);
          const float *p = x + c * H * W;
          double v;
          if (linear) {
            fy = CLAMP (fy, 0, H - 1);
            fx = CLAMP (fx, 0, W - 1);
            int y0 = (int) fy, x0 = (int) fx, y1 = MIN (y0 + 1, H - 1), x1 = MIN (x0 + 1, W - 1);
            double ay = fy - y0, ax = fx - x0;
            v = (1 - ay) * ((1 - ax) * p[y0 * W + x0] + ax * p[y0 * W + x1])
                + ay * ((1 - ax) * p[y1 * W + x0] + ax * p[y1 * W + x1]);
          } else {
            double r[2] = { fy, fx };
            int idx[2];
            for (int k = 0; k < 2; k++) {
              double f = floor (r[k]), frac = r[k] - f;
              double pick = nearest == 2 ? f : nearest == 3 ? ceil (r[k])
                            : frac == 0.5 ? (nearest == 0 ? f : f + 1) : floor (r[k] + 0.5);
              idx[k] = (int) CLAMP (pick, 0, (k ? W : H) - 1);
            }
            v = p[idx[0] * W + idx[1]];
          }
          ref[(c * OH + oy) * OW + ox] = (float) v;
        }
    char *what = g_strdup_printf ("resize %s %s %s %dx%d -> %dx%d", linear ? "linear" : "nearest",
                                  coord_modes[mode], nearest_modes[nearest], H, W, OH, OW);
    assert_close (fkp_net_get_output_data (net, 0), ref, C * OH * OW, TOL, what);
    g_free (what);
    fkp_net_free (net);
    g_free (ref);
    g_free (x);
  }
  /* Upsample (opset 9): nearest, asymmetric, floor. */
  int64_t dims[4] = { 1, 2, 3, 4 };
  float *x = random_floats (24, -1, 1);
  Builder *b = builder_new (9);
  builder_input (b, "x", 4, dims);
  builder_init_float (b, "scales", 1, (int64_t[]) { 4 }, (float[]) { 1, 1, 2, 3 });
  Onnx__NodeProto *n = builder_node (b, "Upsample", "up", IN ("x", "scales"), OUT ("y"));
  node_string (b, n, "mode", "nearest");
  builder_output (b, "y");
  FkpNet *net = load_built (b, 1);
  builder_free (b);
  memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * 24);
  fkp_net_run (net, NULL);
  float ref[2 * 6 * 12];
  for (int c = 0; c < 2; c++)
    for (int oy = 0; oy < 6; oy++)
      for (int ox = 0; ox < 12; ox++)
        ref[(c * 6 + oy) * 12 + ox] = x[(c * 3 + oy / 2) * 4 + ox / 3];
  assert_close (fkp_net_get_output_data (net, 0), ref, 144, 0, "upsample");
  fkp_net_free (net);
  g_free (x);
}

/* ---- Shape chains folded at load --------------------------------------- */

/* The pattern exporters emit for x.view(x.size(0), -1): Shape → Gather →
 * Unsqueeze, Concat with a constant, Reshape; plus Flatten, Squeeze,
 * Unsqueeze, Identity, Dropout and Constant. */
static void
test_shape_chains (void)
{
  int64_t dims[4] = { 1, 3, 4, 5 };
  float *x = random_floats (60, -1, 1);
  for (int opset = 11; opset <= 17; opset += 2) {
    Builder *b = builder_new (opset);
    builder_input (b, "x", 4, dims);
    builder_node (b, "Shape", "shape", IN ("x"), OUT ("s"));
    Onnx__NodeProto *n = builder_node (b, "Constant", "zero", NULL, OUT ("zero"));
    n->attribute = NULL;
    node_int (b, n, "value_int", 0);
    n = builder_node (b, "Gather", "gather", IN ("s", "zero"), OUT ("batch"));
    node_int (b, n, "axis", 0);
    if (opset >= 13) {
      builder_init_int64 (b, "axis0", 1, (int64_t[]) { 0 });
      builder_node (b, "Unsqueeze", "unsq", IN ("batch", "axis0"), OUT ("batch1"));
    } else {
      n = builder_node (b, "Unsqueeze", "unsq", IN ("batch"), OUT ("batch1"));
      node_ints (b, n, "axes", 1, (int64_t[]) { 0 });
    }
    builder_init_int64 (b, "minus1", 1, (int64_t[]) { -1 });
    n = builder_node (b, "Concat", "cat", IN ("batch1", "minus1"), OUT ("target"));
    node_int (b, n, "axis", 0);
    builder_node (b, "Reshape", "reshape", IN ("x", "target"), OUT ("flat"));
    builder_node (b, "Relu", "relu", IN ("flat"), OUT ("r"));
    builder_node (b, "Dropout", "drop", IN ("r"), OUT ("d"));
    builder_node (b, "Identity", "id", IN ("d"), OUT ("y"));
    builder_output (b, "y");
    n = builder_node (b, "Flatten", "flatten", IN ("x"), OUT ("f"));
    node_int (b, n, "axis", 2);
    builder_node (b, "Sigmoid", "sig", IN ("f"), OUT ("z"));
    builder_output (b, "z");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    FkpShape shape;
    fkp_net_get_output_shape (net, 0, &shape);
    g_assert_cmpint (shape.rank, ==, 2);
    g_assert_cmpint (shape.dims[0], ==, 1);
    g_assert_cmpint (shape.dims[1], ==, 60);
    fkp_net_get_output_shape (net, 1, &shape);
    g_assert_cmpint (shape.rank, ==, 2);
    g_assert_cmpint (shape.dims[0], ==, 3);
    g_assert_cmpint (shape.dims[1], ==, 20);
    FkpNetStats stats;
    fkp_net_get_stats (net, &stats);
    g_assert_cmpuint (stats.n_steps, ==, 2);   /* Relu and Sigmoid: the rest folds away */
    memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * 60);
    fkp_net_run (net, NULL);
    float ref[60], ref2[60];
    for (int i = 0; i < 60; i++) {
      ref[i] = MAX (x[i], 0.0f);
      ref2[i] = ref_act (x[i], 3, 0, 0, 0);
    }
    assert_close (fkp_net_get_output_data (net, 0), ref, 60, 0, "reshape chain");
    assert_close (fkp_net_get_output_data (net, 1), ref2, 60, TOL, "flatten");
    fkp_net_free (net);
  }
  g_free (x);
}

/* ---- The attention module as exported from PyTorch ---------------------- */

static void
test_attention_module (void)
{
  for (int variant = 0; variant < 2; variant++) {
    int C = 6, H = 9, W = 7;
    int64_t dims[4] = { 1, C, H, W }, wd[4] = { 1, 2, 7, 7 }, bd[1] = { 1 };
    float *x = random_floats (C * H * W, -1, 1), *w = random_floats (98, -0.3, 0.3), bias = 0.1f;
    Builder *b = builder_new (17);
    builder_input (b, "x", 4, dims);
    builder_init_float (b, "w", 4, wd, w);
    builder_init_float (b, "b", 1, bd, &bias);
    Onnx__NodeProto *n = builder_node (b, "ReduceMean", "mean", IN ("x"), OUT ("mean"));
    node_ints (b, n, "axes", 1, (int64_t[]) { 1 });
    if (variant == 0) {
      n = builder_node (b, "ArgMax", "argmax", IN ("x"), OUT ("idx"));
      node_int (b, n, "axis", 1);
      n = builder_node (b, "Cast", "cast", IN ("idx"), OUT ("second"));
      node_int (b, n, "to", 1);
    } else {
      n = builder_node (b, "ReduceMax", "max", IN ("x"), OUT ("second"));
      node_ints (b, n, "axes", 1, (int64_t[]) { 1 });
    }
    n = builder_node (b, "Concat", "cat", IN ("mean", "second"), OUT ("cat"));
    node_int (b, n, "axis", 1);
    n = builder_node (b, "Conv", "conv", IN ("cat", "w", "b"), OUT ("att"));
    node_ints (b, n, "pads", 4, (int64_t[]) { 3, 3, 3, 3 });
    node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 7, 7 });
    builder_node (b, "Sigmoid", "sig", IN ("att"), OUT ("gate"));
    builder_node (b, "Mul", "mul", IN ("x", "gate"), OUT ("y"));
    builder_output (b, "y");
    FkpNet *net = load_built (b, 1);
    builder_free (b);
    memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * C * H * W);
    fkp_net_run (net, NULL);
    float *maps = g_new (float, 2 * H * W), *ref = g_new (float, C * H * W);
    for (int p = 0; p < H * W; p++) {
      double sum = 0;
      int best = 0;
      for (int c = 0; c < C; c++) {
        sum += x[c * H * W + p];
        if (x[c * H * W + p] > x[best * H * W + p])
          best = c;
      }
      maps[p] = (float) (sum / C);
      maps[H * W + p] = variant == 0 ? (float) best : x[best * H * W + p];
    }
    for (int y = 0; y < H; y++)
      for (int xx = 0; xx < W; xx++) {
        double acc = bias;
        for (int c = 0; c < 2; c++)
          for (int ky = 0; ky < 7; ky++)
            for (int kx = 0; kx < 7; kx++) {
              int iy = y - 3 + ky, ix = xx - 3 + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                acc += (double) w[(c * 7 + ky) * 7 + kx] * maps[c * H * W + iy * W + ix];
            }
        double gate = 1.0 / (1.0 + exp (-acc));
        for (int c = 0; c < C; c++)
          ref[c * H * W + y * W + xx] = (float) (x[c * H * W + y * W + xx] * gate);
      }
    assert_close (fkp_net_get_output_data (net, 0), ref, C * H * W, TOL,
                  variant ? "attention (max)" : "attention (argmax)");
    fkp_net_free (net);
    g_free (maps); g_free (ref); g_free (x); g_free (w);
  }
}

/* ---- An Inception-style block: concat written in place ----------------- */

static void
test_inception_block (void)
{
  int C = 5, H = 6, W = 6;
  int64_t dims[4] = { 1, C, H, W };
  int64_t w1d[4] = { 3, C, 1, 1 }, w3d[4] = { 4, C, 3, 3 };
  float *x = random_floats (C * H * W, -1, 1);
  float *w1 = random_floats (3 * C, -1, 1), *w3 = random_floats (4 * C * 9, -1, 1);
  Builder *b = builder_new (17);
  builder_input (b, "x", 4, dims);
  builder_init_float (b, "w1", 4, w1d, w1);
  builder_init_float (b, "w3", 4, w3d, w3);
  builder_node (b, "Conv", "b1", IN ("x", "w1"), OUT ("c1"));
  builder_node (b, "Relu", "r1", IN ("c1"), OUT ("o1"));
  Onnx__NodeProto *n = builder_node (b, "Conv", "b3", IN ("x", "w3"), OUT ("c3"));
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  builder_node (b, "Relu", "r3", IN ("c3"), OUT ("o3"));
  n = builder_node (b, "MaxPool", "pool", IN ("x"), OUT ("p"));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 3, 3 });
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  n = builder_node (b, "Concat", "cat", IN ("o1", "o3", "p"), OUT ("y"));
  node_int (b, n, "axis", 1);
  builder_output (b, "y");
  FkpNet *net = load_built (b, 1);
  builder_free (b);
  FkpNetStats stats;
  fkp_net_get_stats (net, &stats);
  g_assert_cmpuint (stats.n_steps, ==, 3);   /* Relus fused, the concat free */
  memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * C * H * W);
  fkp_net_run (net, NULL);
  int M = 3 + 4 + C;
  float *ref = g_new (float, M * H * W);
  for (int y = 0; y < H; y++)
    for (int xx = 0; xx < W; xx++) {
      for (int m = 0; m < 3; m++) {
        double acc = 0;
        for (int c = 0; c < C; c++)
          acc += (double) w1[m * C + c] * x[(c * H + y) * W + xx];
        ref[(m * H + y) * W + xx] = (float) MAX (acc, 0.0);
      }
      for (int m = 0; m < 4; m++) {
        double acc = 0;
        for (int c = 0; c < C; c++)
          for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
              int iy = y - 1 + ky, ix = xx - 1 + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                acc += (double) w3[((m * C + c) * 3 + ky) * 3 + kx] * x[(c * H + iy) * W + ix];
            }
        ref[((3 + m) * H + y) * W + xx] = (float) MAX (acc, 0.0);
      }
      for (int c = 0; c < C; c++) {
        float best = -INFINITY;
        for (int ky = -1; ky <= 1; ky++)
          for (int kx = -1; kx <= 1; kx++) {
            int iy = y + ky, ix = xx + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
              best = MAX (best, x[(c * H + iy) * W + ix]);
          }
        ref[((7 + c) * H + y) * W + xx] = best;
      }
    }
  assert_close (fkp_net_get_output_data (net, 0), ref, M * H * W, TOL, "inception block");
  fkp_net_free (net);
  g_free (ref); g_free (x); g_free (w1); g_free (w3);
}

/* An Inception-like block from `in` (C channels) into `out`: a 1×1 conv, a
 * 3×3 conv and a 3×3 max pool side by side, concatenated. */
static void
add_block (Builder *b, const char *in, const char *out, int C, const char *tag, const float *w1,
           const float *w3)
{
  char n1[32], n3[32], w1n[32], w3n[32], c1[32], c3[32], p[32];
  g_snprintf (w1n, sizeof w1n, "%s_w1", tag);
  g_snprintf (w3n, sizeof w3n, "%s_w3", tag);
  g_snprintf (c1, sizeof c1, "%s_c1", tag);
  g_snprintf (c3, sizeof c3, "%s_c3", tag);
  g_snprintf (p, sizeof p, "%s_p", tag);
  g_snprintf (n1, sizeof n1, "%s_b1", tag);
  g_snprintf (n3, sizeof n3, "%s_b3", tag);
  builder_init_float (b, w1n, 4, (int64_t[]) { 4, C, 1, 1 }, w1);
  builder_init_float (b, w3n, 4, (int64_t[]) { 4, C, 3, 3 }, w3);
  builder_node (b, "Conv", n1, IN (in, w1n), OUT (c1));
  Onnx__NodeProto *n = builder_node (b, "Conv", n3, IN (in, w3n), OUT (c3));
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  n = builder_node (b, "MaxPool", p, IN (in), OUT (p));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 3, 3 });
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  n = builder_node (b, "Concat", out, IN (c1, c3, p), OUT (out));
  node_int (b, n, "axis", 1);
}

/* Two blocks after a stem conv, and beside them all a small branch from the
 * input that only the last step reads (as the shipped model's mouth fit
 * reads early maps): the loader must still find each block's window (a
 * window of the whole net, nearly all one branch, hid them), and two
 * threads must give what one gives. */
static void
test_branch_windows (void)
{
  const int C = 8, H = 12, W = 12, C1 = 8 + C, C2 = 8 + C1;
  float *x = random_floats (C * H * W, -1, 1), *ws = random_floats (C * C, -1, 1);
  float *w1a = random_floats (4 * C, -1, 1), *w3a = random_floats (4 * C * 9, -1, 1);
  float *w1b = random_floats (4 * C1, -1, 1), *w3b = random_floats (4 * C1 * 9, -1, 1);
  float *out[2];
  for (int threads = 1; threads <= 2; threads++) {
    Builder *b = builder_new (13);
    builder_input (b, "x", 4, (int64_t[]) { 1, C, H, W });
    builder_init_float (b, "ws", 4, (int64_t[]) { C, C, 1, 1 }, ws);
    builder_node (b, "Conv", "stem", IN ("x", "ws"), OUT ("s"));
    builder_node (b, "Relu", "side", IN ("x"), OUT ("side"));
    add_block (b, "s", "y1", C, "a", w1a, w3a);
    add_block (b, "y1", "y2", C1, "b", w1b, w3b);
    Onnx__NodeProto *n = builder_node (b, "Concat", "last", IN ("y2", "side"), OUT ("y"));
    node_int (b, n, "axis", 1);
    builder_output (b, "y");
    FkpNet *net = load_built (b, threads);
    builder_free (b);
    FkpNetStats stats;
    fkp_net_get_stats (net, &stats);
    g_assert_cmpuint (stats.n_branch_windows, ==, 2);
    memcpy (fkp_net_get_input_data (net, 0), x, sizeof (float) * C * H * W);
    g_assert_true (fkp_net_run (net, NULL));
    out[threads - 1] = g_memdup2 (fkp_net_get_output_data (net, 0), sizeof (float) * (C2 + C) * H * W);
    fkp_net_free (net);
  }
  assert_close (out[1], out[0], (size_t) (C2 + C) * H * W, TOL, "two threads against one");
  /* the side branch, last: the input rectified */
  for (int i = 0; i < C * H * W; i++)
    x[i] = MAX (x[i], 0.0f);
  assert_close (out[0] + (size_t) C2 * H * W, x, (size_t) C * H * W, 0, "side branch");
  g_free (out[0]); g_free (out[1]); g_free (x); g_free (ws);
  g_free (w1a); g_free (w3a); g_free (w1b); g_free (w3b);
}

/* ---- Memory planning --------------------------------------------------- */

/* A chain of element-wise ops needs the input, the output and two
 * ping-pong buffers at most, whatever its length. */
static void
test_memory_reuse (void)
{
  int64_t dims[4] = { 1, 8, 16, 16 };
  size_t bytes = 8 * 16 * 16 * sizeof (float);
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, dims);
  const char *prev = "x";
  char *names[20];
  for (int i = 0; i < 20; i++) {
    names[i] = g_strdup_printf ("t%d", i);
    builder_node (b, i % 2 ? "Sigmoid" : "Tanh", "act", IN (prev), OUT (names[i]));
    prev = names[i];
  }
  builder_output (b, prev);
  FkpNet *net = load_built (b, 1);
  builder_free (b);
  FkpNetStats stats;
  fkp_net_get_stats (net, &stats);
  g_assert_cmpuint (stats.naive_activation_bytes, ==, 21 * bytes);
  g_assert_cmpuint (stats.peak_activation_bytes, <=, 4 * bytes);
  /* The result is still right after all that reuse. */
  float *x = random_floats (8 * 16 * 16, -1, 1);
  memcpy (fkp_net_get_input_data (net, 0), x, bytes);
  fkp_net_run (net, NULL);
  float *ref = g_new (float, 8 * 16 * 16);
  for (int k = 0; k < 8 * 16 * 16; k++) {
    float v = x[k];
    for (int i = 0; i < 20; i++)
      v = i % 2 ? ref_act (v, 3, 0, 0, 0) : tanhf (v);
    ref[k] = v;
  }
  assert_close (fkp_net_get_output_data (net, 0), ref, 8 * 16 * 16, TOL, "chain");
  fkp_net_free (net);
  g_free (x);
  g_free (ref);
  for (int i = 0; i < 20; i++)
    g_free (names[i]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nn/ops/conv", test_conv);
  g_test_add_func ("/nn/ops/conv-banded", test_conv_banded);
  g_test_add_func ("/nn/ops/conv-winograd", test_conv_winograd);
  g_test_add_func ("/nn/ops/conv-maxpool", test_conv_maxpool);
  g_test_add_func ("/nn/ops/conv-pre", test_conv_pre);
  g_test_add_func ("/nn/ops/scaled-maxpool", test_scaled_maxpool);
  g_test_add_func ("/nn/ops/pools", test_pools);
  g_test_add_func ("/nn/ops/pools-large", test_pools_large);
  g_test_add_func ("/nn/ops/global-pools", test_global_pools);
  g_test_add_func ("/nn/ops/batchnorm-activations", test_batchnorm_and_activations);
  g_test_add_func ("/nn/ops/clip-attributes", test_clip_attributes);
  g_test_add_func ("/nn/ops/binary", test_binary);
  g_test_add_func ("/nn/ops/reduce", test_reduce);
  g_test_add_func ("/nn/ops/argmax-cast", test_argmax_cast);
  g_test_add_func ("/nn/ops/concat", test_concat);
  g_test_add_func ("/nn/ops/gemm", test_gemm);
  g_test_add_func ("/nn/ops/matmul", test_matmul);
  g_test_add_func ("/nn/ops/softmax", test_softmax);
  g_test_add_func ("/nn/ops/transpose", test_transpose);
  g_test_add_func ("/nn/ops/slice", test_slice);
  g_test_add_func ("/nn/ops/pad", test_pad);
  g_test_add_func ("/nn/ops/resize", test_resize);
  g_test_add_func ("/nn/ops/shape-chains", test_shape_chains);
  g_test_add_func ("/nn/ops/attention-module", test_attention_module);
  g_test_add_func ("/nn/ops/inception-block", test_inception_block);
  g_test_add_func ("/nn/ops/branch-windows", test_branch_windows);
  g_test_add_func ("/nn/ops/memory-reuse", test_memory_reuse);
  return g_test_run ();
}
