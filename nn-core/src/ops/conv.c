/* Conv.  The kernel: 1×1 as one GEMM straight on the NCHW tensor, other
 * dense kernels as im2col + GEMM, and depthwise or very thin convolutions
 * (few output channels per group, e.g. the attention module's 7×7 conv 2→1,
 * where sgemm with M = 1 is slow) as a direct loop; small feature maps on
 * weights packed at load (run/packed-gemm.c).  Bias and activation run in
 * one pass over the output afterwards.  The builder picks the algorithm;
 * fusion folds a following BatchNormalization into the weights, and the
 * packing stage packs them (both below). */
#include "load/loader.h"

#include <cblas.h>

enum { CONV_GEMM_1X1, CONV_IM2COL, CONV_DIRECT };

/* Largest im2col band in floats (1 MiB): big enough for long GEMMs, small
 * enough to stay in cache (a larger band is used only when one output row
 * needs more). */
#define IM2COL_FLOATS (256 * 1024)

typedef struct {
  int groups, kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right;
  int algo;                         /* CONV_* */
  int im2col_rows;                  /* output rows unfolded per band (CONV_IM2COL) */
  float *weights;                   /* [M][C/g][kh][kw]; NULL once packed */
  float *packed;                    /* weights packed for run/packed-gemm.c, or NULL */
  size_t packed_b_offset;           /* where the packed feature map starts in a scratch area */
  float *bias;                      /* length M, or NULL */
} ConvParams;

/* Range [lo, hi) of output positions whose input position
 * o * stride - pad + k_off lies in [0, size). */
static inline void
valid_range (int size, int out_size, int stride, int pad, int k_off, int *lo, int *hi)
{
  int start = pad - k_off;   /* need o * stride >= start */
  int l = start <= 0 ? 0 : (start + stride - 1) / stride;
  int end = size + pad - k_off;   /* need o * stride < end */
  int h = end <= 0 ? 0 : (end - 1) / stride + 1;
  *lo = MIN (l, out_size);
  *hi = CLAMP (h, *lo, out_size);
}

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

/* Output rows [oy0, oy1) of out (OH×OW) += kernel (kh×kw) correlated with
 * one input plane.  Where every tap of a kernel row is inside the input, the
 * taps of that row are summed in one pass (KW = 3, 5, 7 unrolled), so each
 * output element is loaded and stored once per kernel row instead of once
 * per tap; the borders go tap by tap. */
#define ROW_TAPS(KW)                                                        \
  for (int ox = in_lo; ox < in_hi; ox++) {                                  \
    float acc = dst[ox];                                                    \
    const float *p = src + ox * sw;                                         \
    for (int kx = 0; kx < KW; kx++)                                         \
      acc += wrow[kx] * p[kx * dw];                                         \
    dst[ox] = acc;                                                          \
  }

FKP_SIMD static void
accumulate_rows (const ConvParams *conv, const float *plane, int H, int W, const float *kernel,
                 float *out, int OH, int OW, int oy0, int oy1)
{
  const int sw = conv->sw, dw = conv->dw, kw = conv->kw;
  int lo[64], hi[64];
  int in_lo = 0, in_hi = OW;
  const gboolean fused = kw == 3 || kw == 5 || kw == 7;
  for (int kx = 0; kx < kw && kx < 64; kx++) {
    valid_range (W, OW, sw, conv->pad_left, kx * dw, &lo[kx], &hi[kx]);
    in_lo = MAX (in_lo, lo[kx]);
    in_hi = MIN (in_hi, hi[kx]);
  }
  if (in_hi < in_lo)
    in_hi = in_lo;
  for (int ky = 0; ky < conv->kh; ky++) {
    const int y_off = ky * conv->dh;
    int oy_lo, oy_hi;
    valid_range (H, OH, conv->sh, conv->pad_top, y_off, &oy_lo, &oy_hi);
    oy_lo = MAX (oy_lo, oy0);
    oy_hi = MIN (oy_hi, oy1);
    const float *wrow = kernel + ky * kw;
    for (int oy = oy_lo; oy < oy_hi; oy++) {
      float *dst = out + (size_t) oy * OW;
      const float *src = plane + (size_t) (oy * conv->sh - conv->pad_top + y_off) * W
                         - conv->pad_left;
      for (int kx = 0; kx < kw; kx++) {
        int a, b;
        if (kx < 64) {
          a = lo[kx];
          b = hi[kx];
        } else {
          valid_range (W, OW, sw, conv->pad_left, kx * dw, &a, &b);
        }
        const float w = wrow[kx];
        const float *sk = src + kx * dw;
        /* With the fused interior, this tap only covers the borders. */
        const int stop = fused ? MIN (b, in_lo) : b;
        for (int ox = a; ox < stop; ox++)
          dst[ox] += w * sk[ox * sw];
        if (fused)
          for (int ox = MAX (a, in_hi); ox < b; ox++)
            dst[ox] += w * sk[ox * sw];
      }
      if (kw == 3) {
        ROW_TAPS (3)
      } else if (kw == 5) {
        ROW_TAPS (5)
      } else if (kw == 7) {
        ROW_TAPS (7)
      }
    }
  }
}

/* One output element computed tap by tap with bounds checks (borders).
 * Always inlined: a call from a SIMD clone into code built for the baseline
 * would pay for every switch between AVX and SSE encodings. */
static inline __attribute__ ((always_inline)) float
direct_point (const ConvParams *conv, const float *xg, int H, int W, int Cg, const float *wm,
              int oy, int ox, float acc)
{
  for (int c = 0; c < Cg; c++)
    for (int ky = 0; ky < conv->kh; ky++) {
      const int iy = oy * conv->sh - conv->pad_top + ky * conv->dh;
      if (iy < 0 || iy >= H)
        continue;
      for (int kx = 0; kx < conv->kw; kx++) {
        const int ix = ox * conv->sw - conv->pad_left + kx * conv->dw;
        if (ix >= 0 && ix < W)
          acc += wm[(c * conv->kh + ky) * conv->kw + kx] * xg[((size_t) c * H + iy) * W + ix];
      }
    }
  return acc;
}

typedef float v8f __attribute__ ((vector_size (32), aligned (4)));

/* Stride-1 direct convolution of output rows [oy0, oy1) for MB output
 * channels from m0 at once: 8 columns at a time, every tap of every input
 * channel added into registers, one store per output element; each input
 * vector loaded serves the MB channels.  Columns whose window crosses the
 * left or right edge are done one by one. */
#define DIRECT_BLOCK(MB)                                                                  \
FKP_SIMD static void                                                                      \
direct_block_##MB (const ConvParams *conv, const float *xg, int H, int W, float *y, int OH, \
                   int OW, int Cg, int m0, int oy0, int oy1, int in_lo, int in_hi)        \
{                                                                                         \
  const size_t P = (size_t) OH * OW, HW = (size_t) H * W;                                 \
  const int kw = conv->kw, taps = conv->kh * conv->kw, stride_m = Cg * taps;              \
  const float *wb = conv->weights + (size_t) m0 * stride_m;                               \
  float bias[MB];                                                                         \
  for (int j = 0; j < MB; j++)                                                            \
    bias[j] = conv->bias ? conv->bias[m0 + j] : 0.0f;                                     \
  for (int oy = oy0; oy < oy1; oy++) {                                                    \
    int ky_lo = 0, ky_hi = conv->kh;                                                      \
    const int iy0 = oy * conv->sh - conv->pad_top;                                        \
    while (ky_lo < ky_hi && iy0 + ky_lo * conv->dh < 0)                                   \
      ky_lo++;                                                                            \
    while (ky_hi > ky_lo && iy0 + (ky_hi - 1) * conv->dh >= H)                            \
      ky_hi--;                                                                            \
    float *out = y + (size_t) m0 * P + (size_t) oy * OW;                                  \
    /* The last block overlaps the one before rather than leave up to 7                   \
     * columns to the slow border code (they get the same values twice). */               \
    const int vec_end = in_hi - in_lo >= 8 ? in_hi : in_lo;                               \
    for (int ox = in_lo; ox < vec_end; ox = ox + 8 >= in_hi ? in_hi : MIN (ox + 8, in_hi - 8)) { \
      v8f acc[MB];                                                                        \
      for (int j = 0; j < MB; j++)                                                        \
        acc[j] = (v8f) { 0 } + bias[j];                                                   \
      for (int c = 0; c < Cg; c++)                                                        \
        for (int ky = ky_lo; ky < ky_hi; ky++) {                                          \
          const float *src = xg + c * HW + (size_t) (iy0 + ky * conv->dh) * W             \
                             + ox - conv->pad_left;                                       \
          const float *wk = wb + c * taps + ky * kw;                                      \
          for (int kx = 0; kx < kw; kx++) {                                               \
            const v8f v = *(const v8f *) (src + kx * conv->dw);                           \
            for (int j = 0; j < MB; j++)                                                  \
              acc[j] += wk[j * stride_m + kx] * v;                                        \
          }                                                                               \
        }                                                                                 \
      for (int j = 0; j < MB; j++)                                                        \
        *(v8f *) (out + j * P + ox) = acc[j];                                             \
    }                                                                                     \
    const int ox = vec_end;                                                               \
    for (int j = 0; j < MB; j++) {                                                        \
      for (int x = 0; x < in_lo; x++)                                                     \
        out[j * P + x] = direct_point (conv, xg, H, W, Cg, wb + j * stride_m, oy, x, bias[j]); \
      for (int x = ox; x < OW; x++)                                                       \
        out[j * P + x] = direct_point (conv, xg, H, W, Cg, wb + j * stride_m, oy, x, bias[j]); \
    }                                                                                     \
  }                                                                                       \
}

DIRECT_BLOCK (8)
DIRECT_BLOCK (4)
DIRECT_BLOCK (1)

typedef struct {
  const ConvParams *conv;
  const Activation *act;
  const float *x;
  float *y;
  int H, W, M, OH, OW, Cg, Mg, in_lo, in_hi, band;
} DirectJob;

/* One part of a direct convolution: a range of bands of output rows. */
static void
conv_direct_part (void *ctx, int part, int n_parts)
{
  const DirectJob *j = ctx;
  const ConvParams *conv = j->conv;
  const int H = j->H, W = j->W, M = j->M, OH = j->OH, OW = j->OW, Cg = j->Cg, Mg = j->Mg;
  const size_t P = (size_t) OH * OW, HW = (size_t) H * W;
  const int n_bands = (OH + j->band - 1) / j->band;
  int b_lo, b_hi;
  fkp_nn_split (n_bands, part, n_parts, 1, &b_lo, &b_hi);
  for (int b = b_lo; b < b_hi; b++) {
    const int oy0 = b * j->band, oy1 = MIN (OH, oy0 + j->band);
    const size_t band_len = (size_t) (oy1 - oy0) * OW;
    if (conv->sw == 1) {
      for (int m = 0; m < M;) {
        const int g = m / Mg, in_group = Mg - m % Mg;
        const float *xg = j->x + (size_t) g * Cg * HW;
        /* Eight channels per input load where the group has them (the
         * detector's first conv, 3 -> 16: twice the FMAs per load of 4). */
        if (in_group >= 8) {
          direct_block_8 (conv, xg, H, W, j->y, OH, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
          m += 8;
        } else if (in_group >= 4) {
          direct_block_4 (conv, xg, H, W, j->y, OH, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
          m += 4;
        } else {
          direct_block_1 (conv, xg, H, W, j->y, OH, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
          m += 1;
        }
      }
      for (int m = 0; m < M; m++)
        fkp_nn_apply_activation (j->y + m * P + (size_t) oy0 * OW, band_len, j->act);
      continue;
    }
    for (int m = 0; m < M; m++) {
      const int g = m / Mg;
      float *out = j->y + m * P;
      float *band_out = out + (size_t) oy0 * OW;
      /* Start from the bias and finish with the activation while the band
       * is still in cache. */
      const float bias = conv->bias ? conv->bias[m] : 0.0f;
      for (size_t i = 0; i < band_len; i++)
        band_out[i] = bias;
      for (int c = 0; c < Cg; c++)
        accumulate_rows (conv, j->x + (size_t) (g * Cg + c) * HW, H, W,
                         conv->weights + ((size_t) m * Cg + c) * conv->kh * conv->kw, out, OH, OW,
                         oy0, oy1);
      fkp_nn_apply_activation (band_out, band_len, j->act);
    }
  }
}

/* Direct convolution, a band of output rows at a time so that the band of
 * one output channel (at most DIRECT_TILE floats) stays in cache while all
 * of its input channels and taps are added into it; the bands are shared
 * out among the net's threads. */
#define DIRECT_TILE 4096

static void
conv_direct (FkpNet *net, const ConvParams *conv, const Activation *act, const float *x, int H,
             int W, float *y, int M, int OH, int OW, int Cg, int Mg)
{
  DirectJob j = { conv, act, x, y, H, W, M, OH, OW, Cg, Mg, 0, OW, MAX (1, DIRECT_TILE / OW) };
  /* Columns whose whole window lies inside the input rows. */
  for (int kx = 0; kx < conv->kw; kx++) {
    int lo, hi;
    valid_range (W, OW, conv->sw, conv->pad_left, kx * conv->dw, &lo, &hi);
    j.in_lo = MAX (j.in_lo, lo);
    j.in_hi = MIN (j.in_hi, hi);
  }
  if (j.in_hi < j.in_lo)
    j.in_hi = j.in_lo;
  const int n_bands = (OH + j.band - 1) / j.band;
  const int64_t macs = (int64_t) M * OH * OW * Cg * conv->kh * conv->kw;
  fkp_nn_parallel (net, macs >= 64 * 1024 ? n_bands : 1, conv_direct_part, &j);
}

/* A convolution through GEMM, cut into parts for the net's threads; each
 * part also adds the bias and applies the activation to what it wrote,
 * while that is still in cache. */
typedef struct {
  FkpNet *net;
  const ConvParams *conv;
  const Activation *act;
  const float *x;
  float *y;
  int H, W, M, OH, OW, Cg, K;
  size_t P;
} GemmConvJob;

/* Bias and activation over channels [m0, m1), columns [n0, n1) of the output. */
static void
finish_block (const GemmConvJob *j, int m0, int m1, size_t n0, size_t n1)
{
  fkp_nn_apply_bias_activation_strided (j->y + (size_t) m0 * j->P + n0, (size_t) (m1 - m0), j->P,
                                        n1 - n0, j->conv->bias ? j->conv->bias + m0 : NULL,
                                        j->act);
}

/* 1×1 (G = 1): the part's share of the larger operand, rows of the weights
 * on small feature maps, columns of the feature map on large ones. */
static void
conv_1x1_part (void *ctx, int part, int n_parts)
{
  const GemmConvJob *j = ctx;
  int lo, hi;
  if ((size_t) j->M >= j->P) {
    fkp_nn_split (j->M, part, n_parts, 4, &lo, &hi);
    if (hi > lo) {
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, (int) j->P, j->Cg, 1.0f,
                   j->conv->weights + (size_t) lo * j->K, j->K, j->x, (int) j->P, 0.0f,
                   j->y + (size_t) lo * j->P, (int) j->P);
      finish_block (j, lo, hi, 0, j->P);
    }
  } else {
    fkp_nn_split ((int) j->P, part, n_parts, 16, &lo, &hi);
    if (hi > lo) {
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, j->M, hi - lo, j->Cg, 1.0f,
                   j->conv->weights, j->K, j->x + lo, (int) j->P, 0.0f, j->y + lo, (int) j->P);
      finish_block (j, 0, j->M, (size_t) lo, (size_t) hi);
    }
  }
}

/* im2col (G = 1) on a tall enough output: each part unfolds and multiplies
 * its own output rows, in bands that fit its own scratch area. */
static void
conv_im2col_rows_part (void *ctx, int part, int n_parts)
{
  const GemmConvJob *j = ctx;
  const ConvParams *conv = j->conv;
  float *scratch = j->net->scratch + (size_t) part * j->net->scratch_floats;
  int lo, hi;
  fkp_nn_split (j->OH, part, n_parts, 1, &lo, &hi);
  for (int oy0 = lo; oy0 < hi; oy0 += conv->im2col_rows) {
    const int rows = MIN (conv->im2col_rows, hi - oy0);
    const int N = rows * j->OW;
    im2col (conv, j->x, j->Cg, j->H, j->W, j->OH, j->OW, oy0, rows, scratch);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, j->M, N, j->K, 1.0f, conv->weights,
                 j->K, scratch, N, 0.0f, j->y + (size_t) oy0 * j->OW, (int) j->P);
    finish_block (j, 0, j->M, (size_t) oy0 * j->OW, (size_t) (oy0 + rows) * j->OW);
  }
}

/* im2col (G = 1) on a short output (one band): unfolded once, then each
 * part multiplies its rows of the weights. */
static void
conv_im2col_channels_part (void *ctx, int part, int n_parts)
{
  const GemmConvJob *j = ctx;
  int lo, hi;
  fkp_nn_split (j->M, part, n_parts, 4, &lo, &hi);
  if (hi <= lo)
    return;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, (int) j->P, j->K, 1.0f,
               j->conv->weights + (size_t) lo * j->K, j->K, j->net->scratch, (int) j->P, 0.0f,
               j->y + (size_t) lo * j->P, (int) j->P);
  finish_block (j, lo, hi, 0, j->P);
}

/* Small feature maps on weights packed at load (run/packed-gemm.c): each
 * part takes whole panels of output channels. */
static void
conv_packed_part (void *ctx, int part, int n_parts)
{
  const GemmConvJob *j = ctx;
  const ConvParams *conv = j->conv;
  const float *B = conv->algo == CONV_IM2COL ? j->net->scratch : j->x;
  float *bpack = j->net->scratch + (size_t) part * j->net->scratch_floats + conv->packed_b_offset;
  int lo, hi;
  if (j->P > FKP_NN_PACKED_MAX_N) {
    /* Large: shares of the columns, in whole 16-column blocks. */
    fkp_nn_split ((int) j->P, part, n_parts, 16, &lo, &hi);
    if (hi <= lo)
      return;
    fkp_nn_packed_gemm_columns (conv->packed, j->M, j->K, B, (int) j->P, j->y, lo, hi, bpack);
    finish_block (j, 0, j->M, (size_t) lo, (size_t) hi);
    return;
  }
  fkp_nn_split (fkp_nn_packed_panels (j->M), part, n_parts, 1, &lo, &hi);
  if (hi <= lo)
    return;
  fkp_nn_packed_gemm (conv->packed, j->M, j->K, B, (int) j->P, j->y, lo, hi, bpack);
  finish_block (j, lo * FKP_NN_PANEL_ROWS, MIN (j->M, hi * FKP_NN_PANEL_ROWS), 0, j->P);
}

/* Below this many multiply-accumulates one thread does the whole step. */
#define CONV_SPLIT_MIN_MACS (64 * 1024)

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
  const int K = Cg * conv->kh * conv->kw;
  const size_t P = (size_t) OH * OW, HW = (size_t) H * W;

  if (conv->algo == CONV_DIRECT) {
    conv_direct (net, conv, &step->act, x, H, W, y, M, OH, OW, Cg, Mg);
    return;   /* bias and activation already applied */
  }
  const int parts = (int64_t) M * P * K >= CONV_SPLIT_MIN_MACS ? fkp_nn_threads (net) : 1;
  if (conv->packed) {
    GemmConvJob j = { net, conv, &step->act, x, y, H, W, M, OH, OW, Cg, K, P };
    if (conv->algo == CONV_IM2COL)
      im2col (conv, x, Cg, H, W, OH, OW, 0, OH, net->scratch);
    fkp_nn_parallel (net, parts, conv_packed_part, &j);
    return;
  }
  if (G == 1 && parts > 1) {
    GemmConvJob j = { net, conv, &step->act, x, y, H, W, M, OH, OW, Cg, K, P };
    if (conv->algo == CONV_GEMM_1X1)
      fkp_nn_parallel (net, parts, conv_1x1_part, &j);
    else if (OH > conv->im2col_rows || (OH >= 2 * parts && P / parts >= 64))
      fkp_nn_parallel (net, parts, conv_im2col_rows_part, &j);
    else {
      im2col (conv, x, Cg, H, W, OH, OW, 0, OH, net->scratch);
      fkp_nn_parallel (net, parts, conv_im2col_channels_part, &j);
    }
    return;
  }
  switch (conv->algo) {
  case CONV_GEMM_1X1:
    for (int g = 0; g < G; g++)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, Mg, (int) P, Cg, 1.0f,
                   conv->weights + (size_t) g * Mg * K, K, x + g * Cg * HW, (int) P, 0.0f,
                   y + g * Mg * P, (int) P);
    break;
  case CONV_IM2COL:
  default:
    /* In bands of output rows, so the unfolded input (at most
     * FKP_NN_IM2COL_FLOATS) stays in cache between im2col and sgemm. */
    for (int g = 0; g < G; g++) {
      const float *xg = x + g * Cg * HW;
      for (int oy0 = 0; oy0 < OH; oy0 += conv->im2col_rows) {
        const int rows = MIN (conv->im2col_rows, OH - oy0);
        const int N = rows * OW;
        im2col (conv, xg, Cg, H, W, OH, OW, oy0, rows, net->scratch);
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, Mg, N, K, 1.0f,
                     conv->weights + (size_t) g * Mg * K, K, net->scratch, N, 0.0f,
                     y + g * Mg * P + (size_t) oy0 * OW, (int) P);
      }
    }
    break;
  }
  fkp_nn_apply_bias_activation (y, (size_t) M, P, conv->bias, &step->act);
}

void
fkp_nn_clear_conv (void *params)
{
  ConvParams *conv = params;
  g_free (conv->weights);
  g_free (conv->packed);
  g_free (conv->bias);
}

int
fkp_nn_conv_algo (const Step *s)
{
  return ((const ConvParams *) s->params)->algo;
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
  s->macs = (uint64_t) M * OH * OW * Cg * KH * KW;
  if (conv->algo == CONV_IM2COL) {
    uint64_t per_row = (uint64_t) Cg * KH * KW * OW;
    uint64_t rows = MAX (1, MIN ((uint64_t) OH, IM2COL_FLOATS / per_row));
    uint64_t cols = per_row * rows;
    if (cols > FKP_NN_MAX_TENSOR_ELEMENTS)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: im2col buffer of %" G_GUINT64_FORMAT
                   " elements is too large", node->label, (guint64) cols);
    conv->im2col_rows = (int) rows;
    L->net->scratch_floats = MAX (L->net->scratch_floats, (size_t) cols);
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

/* GEMM convolutions on small feature maps get their weights packed for
 * run/packed-gemm.c, once all folding into them is done.  They are then
 * unfolded whole (one im2col band) and each thread's scratch area also
 * holds the packed copy of the feature map. */
gboolean
fkp_nn_conv_pack (Step *s, const Tensor *input, const Tensor *output, size_t *scratch_floats,
                  GError **error)
{
  ConvParams *conv = s->params;
  if (conv->groups != 1 || conv->algo == CONV_DIRECT || !conv->weights)
    return TRUE;
  const FkpShape *y = &output->shape;
  const FkpShape *x = &input->shape;
  const int64_t M = y->dims[1], P = y->dims[2] * y->dims[3];
  const int64_t K = x->dims[1] * conv->kh * conv->kw;
  /* Small feature maps; or a 1×1 convolution whose weights fit in L2,
   * run block of columns by block (the detector's pointwise convs). */
  const gboolean by_columns = P > FKP_NN_PACKED_MAX_N;
  if (P < 1 || M < 1
      || (by_columns && (conv->algo != CONV_GEMM_1X1 || M * K > FKP_NN_PACKED_MAX_WEIGHTS)))
    return TRUE;
  conv->packed = g_try_malloc (fkp_nn_packed_floats ((int) M, (int) K) * sizeof (float));
  if (!conv->packed)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: out of memory packing weights", s->label);
  fkp_nn_pack_weights (conv->weights, (int) M, (int) K, conv->packed);
  g_clear_pointer (&conv->weights, g_free);
  const size_t unfolded = conv->algo == CONV_IM2COL ? (size_t) (K * P) : 0;
  if (conv->algo == CONV_IM2COL)
    conv->im2col_rows = (int) y->dims[2];
  conv->packed_b_offset = unfolded;
  *scratch_floats = MAX (*scratch_floats,
                         unfolded + (by_columns ? (size_t) K * 16
                                                : fkp_nn_packed_b_floats ((int) K, (int) P)));
  return TRUE;
}
