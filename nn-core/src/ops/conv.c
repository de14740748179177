/* Conv.  The kernel: 1×1 as one GEMM straight on the NCHW tensor, other
 * dense kernels as im2col + GEMM, both on the engine's sgemm (sgemm/) with
 * the weights packed at load and bias, ReLU or LeakyRelu applied as it
 * stores; 3×3 at stride 1 as Winograd (conv-winograd.c); depthwise or very
 * thin convolutions as a direct loop (conv-direct.c); with a fused pool or
 * pre conv, band by band (conv-banded.c).  The builder picks the
 * algorithm; fusion folds a following BatchNormalization into the weights,
 * and the packing stage packs them (both below). */
#include "ops/conv-private.h"

/* Largest im2col band in floats (1 MiB): big enough for long GEMMs, small
 * enough to stay in cache (a larger band is used only when one output row
 * needs more). */
#define IM2COL_FLOATS (256 * 1024)


/* Unfolds output rows [oy0, oy0 + rows) of `channels` input planes into
 * rows of (c, ky, kx) × (oy, ox). */
FKP_SIMD static void
im2col (const ConvParams *conv, const float *x, int channels, int H, int W, int OH, int OW,
        int oy0, int rows, float *col)
{
  const size_t N = (size_t) rows * OW;
  for (int c = 0; c < channels; c++) {
    const float *plane = x + (size_t) c * H * W;
    for (int ky = 0; ky < conv->kh; ky++) {
      const int y_off = ky * conv->dh;
      int oy_lo, oy_hi;
      valid_range (H, OH, conv->sh, conv->pad_top, y_off, &oy_lo, &oy_hi);
      for (int kx = 0; kx < conv->kw; kx++) {
        const int x_off = kx * conv->dw;
        int ox_lo, ox_hi;
        valid_range (W, OW, conv->sw, conv->pad_left, x_off, &ox_lo, &ox_hi);
        float *row = col + (((size_t) c * conv->kh + ky) * conv->kw + kx) * N;
        for (int r = 0; r < rows; r++) {
          const int oy = oy0 + r;
          float *dst = row + (size_t) r * OW;
          if (oy < oy_lo || oy >= oy_hi) {
            memset (dst, 0, (size_t) OW * sizeof (float));
            continue;
          }
          const float *src = plane + (size_t) (oy * conv->sh - conv->pad_top + y_off) * W
                             - conv->pad_left + x_off;
          for (int ox = 0; ox < ox_lo; ox++)
            dst[ox] = 0.0f;
          if (conv->sw == 1) {
            if (ox_hi > ox_lo)
              memcpy (dst + ox_lo, src + ox_lo, (size_t) (ox_hi - ox_lo) * sizeof (float));
          } else if (conv->sw == 2) {
            /* a constant stride, which vectorises (the 7×7/2 stem) */
            for (int ox = ox_lo; ox < ox_hi; ox++)
              dst[ox] = src[ox * 2];
          } else {
            for (int ox = ox_lo; ox < ox_hi; ox++)
              dst[ox] = src[ox * conv->sw];
          }
          for (int ox = ox_hi; ox < OW; ox++)
            dst[ox] = 0.0f;
        }
      }
    }
  }
}

/* ---- GEMM convolutions (1×1 and im2col) on the sgemm ------------------- */

/* Above this many output positions the parts of a GEMM convolution take
 * shares of the columns (output positions) with every output channel; at
 * or below, shares of the panels of output channels with every column, so
 * that no part is left with a sliver of a small map (N = 49 = 3·16 + 1). */
#define COLUMN_SPLIT_MIN_N 256

typedef struct {
  FkpNet *net;
  const ConvParams *conv;
  const Activation *act;
  const float *x;
  float *y;
  int H, W, OH, OW, Cg, Mg;
  size_t P;
  const float *unfolded;            /* the whole unfolded input (G = 1), or NULL: B is x */
} GemmConvJob;


/* Group g's rows of panels [p_lo, p_hi) and columns [c_lo, c_hi) of
 * C (the group's output, rows P apart) = weights · B (+ bias, activation). */
static void
run_gemm (const GemmConvJob *j, int g, const float *B, size_t ldb, float *C, int p_lo, int p_hi,
          int c_lo, int c_hi, float *scratch)
{
  const ConvParams *conv = j->conv;
  const FkpSgemmA *a = conv->gemm[g];
  const Activation *act = j->act;
  const FkpSgemmEpilogue epilogue
    = conv_epilogue (conv->bias != NULL ? conv->bias + (size_t) g * j->Mg : NULL, act);
  fkp_sgemm_run (a, B, ldb, C, j->P, &epilogue, p_lo, p_hi, c_lo, c_hi, scratch);
  if (!act_in_epilogue (act))
    for (int r = p_lo * a->panel_rows; r < MIN (a->M, p_hi * a->panel_rows); r++)
      fkp_nn_apply_activation (C + (size_t) r * j->P + c_lo, (size_t) (c_hi - c_lo), act);
}

/* Each thread's scratch area: an im2col band, then the sgemm's own. */
static float *
part_scratch (const GemmConvJob *j, int part)
{
  return fkp_nn_scratch (j->net, part);
}

/* B shared by all parts (the input of a 1×1 conv, or the whole unfolded
 * input): each part takes its share of the columns (large maps) or of the
 * panels of output channels (small maps), in every group. */
static void
conv_gemm_shared_part (void *ctx, int part, int n_parts)
{
  const GemmConvJob *j = ctx;
  const ConvParams *conv = j->conv;
  float *scratch = part_scratch (j, part) + conv->unfolded_floats;
  for (int g = 0; g < conv->groups; g++) {
    const FkpSgemmA *a = conv->gemm[g];
    int p_lo = 0, p_hi = a->n_panels, c_lo = 0, c_hi = (int) j->P;
    if (j->P > COLUMN_SPLIT_MIN_N)
      fkp_nn_split ((int) j->P, part, n_parts, fkp_sgemm_tile_cols (a), &c_lo, &c_hi);
    else
      fkp_nn_split (a->n_panels, part, n_parts, 1, &p_lo, &p_hi);
    if (p_lo >= p_hi || c_lo >= c_hi)
      continue;
    const float *B = j->unfolded ? j->unfolded : j->x + (size_t) g * j->Cg * j->H * j->W;
    run_gemm (j, g, B, j->P, j->y + (size_t) g * j->Mg * j->P, p_lo, p_hi, c_lo, c_hi, scratch);
  }
}

/* im2col in bands of output rows: each part unfolds its share of the rows
 * into its own scratch area, band by band (the band stays in cache for the
 * GEMM), and multiplies every group's weights with it. */
static void
conv_im2col_rows_part (void *ctx, int part, int n_parts)
{
  const GemmConvJob *j = ctx;
  const ConvParams *conv = j->conv;
  float *unfolded = part_scratch (j, part);
  float *scratch = unfolded + conv->unfolded_floats;
  const size_t HW = (size_t) j->H * j->W;
  int lo, hi;
  fkp_nn_split (j->OH, part, n_parts, 1, &lo, &hi);
  for (int oy0 = lo; oy0 < hi; oy0 += conv->im2col_rows) {
    const int rows = MIN (conv->im2col_rows, hi - oy0), N = rows * j->OW;
    for (int g = 0; g < conv->groups; g++) {
      im2col (conv, j->x + (size_t) g * j->Cg * HW, j->Cg, j->H, j->W, j->OH, j->OW, oy0, rows,
              unfolded);
      run_gemm (j, g, unfolded, (size_t) N,
                j->y + (size_t) g * j->Mg * j->P + (size_t) oy0 * j->OW, 0,
                conv->gemm[g]->n_panels, 0, N, scratch);
    }
  }
}


void
fkp_nn_run_conv (FkpNet *net, const Step *step)
{
  const ConvParams *conv = step->params;
  const Tensor *X = &net->tensors[step->inputs[0]], *Y = &net->tensors[step->output];
  const float *x = X->data;
  float *y = Y->data;
  const int C = (int) X->shape.dims[1], H = (int) X->shape.dims[2], W = (int) X->shape.dims[3];
  const int M = (int) Y->shape.dims[1], OH = (int) Y->shape.dims[2], OW = (int) Y->shape.dims[3];
  const int G = conv->groups, Cg = C / G, Mg = M / G;
  const size_t P = (size_t) OH * OW;

  if (conv_is_banded (conv)) {
    fkp_nn_conv_run_banded (net, step);
    return;
  }
  if (conv->algo == CONV_DIRECT) {
    fkp_nn_conv_direct (net, conv, &step->act, x, H, W, y, M, OH, OW, Cg, Mg);
    return;   /* bias and activation already applied */
  }
  const int parts = step->macs >= CONV_SPLIT_MIN_MACS ? fkp_nn_threads (net) : 1;
  if (conv->algo == CONV_WINOGRAD) {
    fkp_nn_winograd_run (net, parts, conv->winograd, x, H, W, conv->pad_top, conv->pad_left, y, OH,
                         OW, conv->bias, &step->act);
    return;
  }
  GemmConvJob j = { net, conv, &step->act, x, y, H, W, OH, OW, Cg, Mg, P, NULL };
  /* Several bands, or parts that each get enough rows of a large map:
   * each part unfolds its own rows. */
  if (conv->algo == CONV_IM2COL
      && (G > 1 || OH > conv->im2col_rows
          || (parts > 1 && P > COLUMN_SPLIT_MIN_N && OH >= 2 * parts))) {
    fkp_nn_parallel (net, parts, conv_im2col_rows_part, &j);
    return;
  }
  /* Otherwise the parts share B: a 1×1 conv's input, or a small map
   * unfolded whole (one band) first. */
  if (conv->algo == CONV_IM2COL) {
    im2col (conv, x, Cg, H, W, OH, OW, 0, OH, fkp_nn_scratch (net, 0));
    j.unfolded = fkp_nn_scratch (net, 0);
  }
  fkp_nn_parallel (net, parts, conv_gemm_shared_part, &j);
}

void
fkp_nn_clear_conv (void *params)
{
  ConvParams *conv = params;
  g_free (conv->weights);
  for (int g = 0; conv->gemm != NULL && g < conv->groups; g++)
    fkp_sgemm_a_free (conv->gemm[g]);
  g_free (conv->gemm);
  fkp_nn_winograd_free (conv->winograd);
  g_free (conv->bias);
  if (conv->pre != NULL) {
    fkp_nn_clear_conv (conv->pre);
    g_free (conv->pre);
  }
}

gboolean
fkp_nn_conv_is_winograd (const Step *s)
{
  return ((const ConvParams *) s->params)->algo == CONV_WINOGRAD;
}

const char *
fkp_nn_conv_algo_name (const Step *s)
{
  static const char *const names[] = {
    [CONV_GEMM_1X1] = "1x1", [CONV_IM2COL] = "im2col", [CONV_DIRECT] = "direct",
    [CONV_WINOGRAD] = "winograd",
  };
  const ConvParams *conv = s->params;
  if (conv->algo == CONV_WINOGRAD)
    return conv->kh == 5 ? "winograd F(2,5)"
           : conv->winograd_tile == 4 ? "winograd F(4,3)" : "winograd F(2,3)";
  if (conv->pre != NULL)
    return conv->pool_k > 0 ? "direct + 1x1 + maxpool" : "direct + 1x1";
  if (conv->pool_k > 0)
    return conv->algo == CONV_DIRECT ? "direct + maxpool" : "1x1 + maxpool";
  return names[conv->algo];
}

/* ---- Load: the builder, BatchNorm folding, weight packing ----------------- */

gboolean
fkp_nn_build_conv (Node *node, GError **error)
{
  Loader *L = node->L;
  int x, w, b = -1;
  if (!check_arity (node, 2, 3, 1, 1, error)
      || !check_attrs (node, "auto_pad,dilations,group,kernel_shape,pads,strides", error)
      || !want_float (node, 0, &x, error) || !want_const_float (node, 1, &w, error)
      || !want_nchw (node, x, error))
    return FALSE;
  if (input_index (node, 2) >= 0 && !want_const_float (node, 2, &b, error))
    return FALSE;
  const Tensor *X = T (L, x), *W = T (L, w);
  if (X->shape.dims[0] != 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: batch %" G_GINT64_FORMAT " (only 1 supported)",
                 node->label, X->shape.dims[0]);
  if (W->shape.rank != 4)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: weights '%s' must be 4-D", node->label, W->name);
  int64_t group, strides[2], dilations[2], pads[4], kernel[2];
  int n_kernel;
  AutoPad auto_pad;
  if (!attr_int (node, "group", 1, &group, error)
      || !fkp_nn_window_attrs (node, strides, dilations, pads, error)
      || !attr_ints (node, "kernel_shape", kernel, 2, &n_kernel, error)
      || !fkp_nn_parse_auto_pad (node, &auto_pad, error))
    return FALSE;
  int64_t C = X->shape.dims[1], H = X->shape.dims[2], Wd = X->shape.dims[3];
  int64_t M = W->shape.dims[0], Cg = W->shape.dims[1], KH = W->shape.dims[2], KW = W->shape.dims[3];
  if (group < 1 || group > C || C % group != 0 || M % group != 0 || Cg * group != C || M < 1) {
    char *a = shape_string (&X->shape), *c = shape_string (&W->shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: weights '%s' %s do not fit input %s with group %"
          G_GINT64_FORMAT, node->label, W->name, c, a, group);
    g_free (a);
    g_free (c);
    return FALSE;
  }
  if (KH < 1 || KW < 1 || (n_kernel >= 0 && (n_kernel != 2 || kernel[0] != KH || kernel[1] != KW)))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: kernel_shape disagrees with weights '%s'",
                 node->label, W->name);
  if (b >= 0 && (T (L, b)->shape.rank != 1 || T (L, b)->shape.dims[0] != M))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: bias '%s' must have %" G_GINT64_FORMAT
                 " values", node->label, T (L, b)->name, M);
  int64_t OH, OW;
  if (!fkp_nn_window_dim (node, auto_pad, FALSE, H, KH, strides[0], dilations[0], &pads[0],
                          &pads[2], &OH, error)
      || !fkp_nn_window_dim (node, auto_pad, FALSE, Wd, KW, strides[1], dilations[1], &pads[1],
                             &pads[3], &OW, error))
    return FALSE;
  FkpShape shape = { 4, { 1, M, OH, OW } };
  Step *s = new_step (node, OP_CONV, sizeof (ConvParams), 1, &x);
  ConvParams *conv = s->params;
  conv->groups = (int) group;
  conv->kh = (int) KH; conv->kw = (int) KW;
  conv->sh = (int) strides[0]; conv->sw = (int) strides[1];
  conv->dh = (int) dilations[0]; conv->dw = (int) dilations[1];
  conv->pad_top = (int) pads[0]; conv->pad_left = (int) pads[1];
  conv->pad_bottom = (int) pads[2]; conv->pad_right = (int) pads[3];
  if (!(conv->weights = hold_weights (node, W->fdata, W->n_elements, error)))
    return FALSE;
  s->n_weights = W->n_elements + (size_t) M;   /* the bias counted whether present or not */
  if (b >= 0)
    conv->bias = g_memdup2 (T (L, b)->fdata, M * sizeof (float));
  int64_t Mg = M / group;
  if (KH == 1 && KW == 1 && conv->sh == 1 && conv->sw == 1 && pads[0] == 0 && pads[1] == 0
      && pads[2] == 0 && pads[3] == 0)
    conv->algo = CONV_GEMM_1X1;
  else if ((Cg == 1 && group > 1) || Mg <= 2
           || (Cg * KH * KW <= 32 && conv->sh == 1 && conv->sw == 1))
    /* Depthwise, GEMMs too thin for sgemm to pay off (the attention
     * module's 7×7 conv 2→1), or few taps per output at stride 1 (a first
     * layer on 3 channels), where im2col would copy more than the GEMM
     * computes.  A dense strided conv on one channel (the landmark model's
     * 7×7/2 stem) is a proper GEMM (K = 49): the direct loop ran it at a
     * tenth of sgemm's speed. */
    conv->algo = CONV_DIRECT;
  else
    conv->algo = CONV_IM2COL;
  if (conv->algo == CONV_GEMM_1X1 && Cg == 1 && Mg <= 2)
    conv->algo = CONV_DIRECT;
  /* 3×3 and 5×5 at stride 1: Winograd where the map is large enough to pay
   * (conv-winograd.c); FKP_NN_WINOGRAD=0 keeps im2col, for comparisons. */
  if (conv->algo == CONV_IM2COL && KH == KW && conv->sh == 1 && conv->sw == 1
      && conv->dh == 1 && conv->dw == 1 && group == 1 && fkp_nn_winograd_enabled ()) {
    conv->winograd_tile = fkp_nn_winograd_pick ((int) KH, (int) C, (int) M, (int) OH, (int) OW);
    if (conv->winograd_tile > 0)
      conv->algo = CONV_WINOGRAD;
  }
  s->macs = (uint64_t) M * OH * OW * Cg * KH * KW;
  if (conv->algo == CONV_IM2COL) {
    uint64_t per_row = (uint64_t) Cg * KH * KW * OW;
    uint64_t rows = MAX (1, MIN ((uint64_t) OH, IM2COL_FLOATS / per_row));
    uint64_t cols = per_row * rows;
    if (cols > FKP_NN_MAX_TENSOR_ELEMENTS)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: im2col buffer of %" G_GUINT64_FORMAT
                   " elements is too large", node->label, (guint64) cols);
    conv->im2col_rows = (int) rows;
    conv->unfolded_floats = (size_t) cols;
  }
  return step_output (node, s, &shape, DT_FLOAT, error);
}

void
fkp_nn_conv_fold_batchnorm (Step *s, const Step *batchnorm, int64_t in_channels,
                            int64_t out_channels)
{
  ConvParams *conv = s->params;
  const float *scale, *shift;
  fkp_nn_batchnorm_affine (batchnorm, &scale, &shift);
  int per_out = (int) (in_channels / conv->groups) * conv->kh * conv->kw;
  int64_t M = out_channels;
  if (!conv->bias)
    conv->bias = g_new0 (float, M);
  for (int64_t m = 0; m < M; m++) {
    for (int k = 0; k < per_out; k++)
      conv->weights[m * per_out + k] *= scale[m];
    conv->bias[m] = conv->bias[m] * scale[m] + shift[m];
  }
}

/* The weights of the GEMM convolutions packed for the sgemm (one matrix
 * per group), once all folding into them is done; the unpacked copy is
 * freed.  Each thread's scratch area then holds an im2col band and the
 * sgemm's packed block of the input. */
gboolean
fkp_nn_conv_pack (Step *s, const Tensor *input, const Tensor *output, size_t *scratch_floats,
                  GError **error)
{
  ConvParams *conv = s->params;
  const int M = (int) output->shape.dims[1];
  size_t band_floats = 0;
  if (conv_is_banded (conv)) {
    band_floats = fkp_nn_conv_band_plan (conv, M, (int) output->shape.dims[2]);
    *scratch_floats = MAX (*scratch_floats, band_floats);
  }
  if (conv->algo == CONV_DIRECT)
    return TRUE;
  if (conv->algo == CONV_WINOGRAD) {
    conv->winograd = fkp_nn_winograd_new (fkp_sgemm_isa (), conv->winograd_tile, conv->kh,
                                          conv->weights,
                                          (int) output->shape.dims[1], (int) input->shape.dims[1]);
    if (conv->winograd == NULL)
      return fail (error, FKP_NN_ERROR_OUT_OF_MEMORY, "%s: out of memory packing weights",
                   s->label);
    *scratch_floats = MAX (*scratch_floats, fkp_nn_winograd_scratch_floats (conv->winograd));
    /* the transformed weights: α² floats per 3×3 kernel */
    s->n_weights = (size_t) conv->winograd->alpha * conv->winograd->alpha * conv->winograd->M
                   * conv->winograd->C + (size_t) conv->winograd->M;
    g_clear_pointer (&conv->weights, g_free);
    return TRUE;
  }
  const int G = conv->groups, Mg = (int) output->shape.dims[1] / G;
  /* with a pre conv, the step's input is the pre conv's */
  const int in_c = conv->pre != NULL ? conv->in_c : (int) input->shape.dims[1];
  const int K = in_c / G * conv->kh * conv->kw;
  const int P = (int) (output->shape.dims[2] * output->shape.dims[3]);
  conv->gemm = g_new0 (FkpSgemmA *, G);
  for (int g = 0; g < G; g++) {
    conv->gemm[g] = fkp_sgemm_a_new (fkp_sgemm_isa (), conv->weights + (size_t) g * Mg * K,
                                     (size_t) K, Mg, K);
    if (conv->gemm[g] == NULL)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: out of memory packing weights", s->label);
    *scratch_floats = MAX (*scratch_floats,
                           conv->unfolded_floats + fkp_sgemm_scratch_floats (conv->gemm[g], P));
    if (conv_is_banded (conv))
      *scratch_floats = MAX (*scratch_floats, band_floats + fkp_sgemm_scratch_floats (
                               conv->gemm[g], conv->band * MAX (conv->pool_k, 1) * conv->conv_w));
  }
  g_clear_pointer (&conv->weights, g_free);
  return TRUE;
}
