/* Conv.  The kernel: 1×1 as one GEMM straight on the NCHW tensor, other
 * dense kernels as im2col + GEMM, both on the engine's sgemm (sgemm/) with
 * the weights packed at load and bias, ReLU or LeakyRelu applied as it
 * stores; depthwise or very thin convolutions (few output channels per
 * group, e.g. the attention module's 7×7 conv 2→1, where a GEMM with M = 1
 * is slow) as a direct loop.  The builder picks the algorithm; fusion folds
 * a following BatchNormalization into the weights, and the packing stage
 * packs them (both below). */
#include "load/loader.h"
#include "ops/conv-winograd.h"
#include "sgemm/sgemm.h"

enum { CONV_GEMM_1X1, CONV_IM2COL, CONV_DIRECT, CONV_WINOGRAD };

/* Largest im2col band in floats (1 MiB): big enough for long GEMMs, small
 * enough to stay in cache (a larger band is used only when one output row
 * needs more). */
#define IM2COL_FLOATS (256 * 1024)

typedef struct {
  int groups, kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right;
  int algo;                         /* CONV_* */
  int im2col_rows;                  /* output rows unfolded per band (CONV_IM2COL) */
  size_t unfolded_floats;           /* a band's floats: where the sgemm's scratch starts */
  float *weights;                   /* [M][C/g][kh][kw]; NULL once packed */
  FkpSgemmA **gemm;                 /* per group, its weights packed (GEMM algos), or NULL */
  int pool_k;                       /* > 0: a fused k×k/k MaxPool pools the output as it is made */
  int conv_h, conv_w;               /* pool_k > 0: the conv's own output size */
  int pool_band;                    /* pool_k > 0: pooled rows per band of scratch */
  int winograd_tile;                /* CONV_WINOGRAD: output tile side (4 or 2) */
  FkpNnWinograd *winograd;          /* CONV_WINOGRAD: its transformed weights, once packed */
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
 * channels from m0 at once: NV vectors of 8 columns at a time, every tap
 * of every input channel added into MB·NV registers, one store per output
 * element; each input vector loaded serves the MB channels, each weight
 * broadcast the NV vectors.  MB·NV independent sums keep both FMA ports
 * busy (a depthwise conv's single channel with one vector waited on each
 * FMA's latency).  Columns whose window crosses the left or right edge, and
 * all columns of an interior narrower than 8·NV, are done one by one. */
#define DIRECT_BLOCK(MB, NV)                                                              \
FKP_SIMD static void                                                                      \
direct_block_##MB##x##NV (const ConvParams *conv, const float *xg, int H, int W, float *y,  \
                          size_t ldm, int y_row0, int OW, int Cg, int m0, int oy0, int oy1, \
                          int in_lo, int in_hi)                                           \
{                                                                                         \
  const size_t HW = (size_t) H * W;                                                       \
  const int kw = conv->kw, taps = conv->kh * conv->kw, stride_m = Cg * taps;              \
  const int width = 8 * (NV);                                                             \
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
    float *out = y + (size_t) m0 * ldm + (size_t) (oy - y_row0) * OW;                     \
    /* The last block overlaps the one before rather than leave up to                     \
     * width - 1 columns to the slow border code (they get the same values                \
     * twice). */                                                                         \
    const int vec_end = in_hi - in_lo >= width ? in_hi : in_lo;                           \
    for (int ox = in_lo; ox < vec_end;                                                    \
         ox = ox + width >= in_hi ? in_hi : MIN (ox + width, in_hi - width)) {            \
      v8f acc[MB][NV];                                                                    \
      for (int j = 0; j < MB; j++)                                                        \
        for (int v = 0; v < NV; v++)                                                      \
          acc[j][v] = (v8f) { 0 } + bias[j];                                              \
      for (int c = 0; c < Cg; c++)                                                        \
        for (int ky = ky_lo; ky < ky_hi; ky++) {                                          \
          const float *src = xg + c * HW + (size_t) (iy0 + ky * conv->dh) * W             \
                             + ox - conv->pad_left;                                       \
          const float *wk = wb + c * taps + ky * kw;                                      \
          for (int kx = 0; kx < kw; kx++) {                                               \
            v8f in[NV];                                                                   \
            for (int v = 0; v < NV; v++)                                                  \
              in[v] = *(const v8f *) (src + kx * conv->dw + 8 * v);                       \
            for (int j = 0; j < MB; j++) {                                                \
              const float w = wk[j * stride_m + kx];                                      \
              for (int v = 0; v < NV; v++)                                                \
                acc[j][v] += w * in[v];                                                   \
            }                                                                             \
          }                                                                               \
        }                                                                                 \
      for (int j = 0; j < MB; j++)                                                        \
        for (int v = 0; v < NV; v++)                                                      \
          *(v8f *) (out + j * ldm + ox + 8 * v) = acc[j][v];                              \
    }                                                                                     \
    for (int j = 0; j < MB; j++) {                                                        \
      for (int x = 0; x < in_lo; x++)                                                     \
        out[j * ldm + x] = direct_point (conv, xg, H, W, Cg, wb + j * stride_m, oy, x, bias[j]); \
      for (int x = vec_end; x < OW; x++)                                                  \
        out[j * ldm + x] = direct_point (conv, xg, H, W, Cg, wb + j * stride_m, oy, x, bias[j]); \
    }                                                                                     \
  }                                                                                       \
}

DIRECT_BLOCK (4, 3)
DIRECT_BLOCK (1, 4)
DIRECT_BLOCK (8, 1)
DIRECT_BLOCK (4, 1)
DIRECT_BLOCK (1, 1)

typedef struct {
  const ConvParams *conv;
  const Activation *act;
  const float *x;
  float *y;
  int H, W, M, OH, OW, Cg, Mg, in_lo, in_hi, band;
} DirectJob;

/* Where a fused MaxPool puts a band's pooled rows (conv_pooled_part). */
typedef struct {
  int k;                            /* window side and stride */
  float *y;                         /* the pooled output, M planes of PH × PW */
  int PH, PW;
  int py0, rows;                    /* the band's first pooled row, and how many */
} PoolTarget;

/* Output rows [oy0, oy1) of a stride-1 direct convolution, all channels,
 * into `out`: channel m's row oy at out + m·ldm + (oy - out_row0)·OW (the
 * output tensor, or a band of scratch).  Each block of channels gets its
 * activation, and with `pool` its pooling, while it is still in L1. */
static void
direct_band (const DirectJob *j, int oy0, int oy1, float *out, size_t ldm, int out_row0,
             const PoolTarget *pool)
{
  const ConvParams *conv = j->conv;
  const int H = j->H, W = j->W, M = j->M, OW = j->OW, Cg = j->Cg, Mg = j->Mg;
  const size_t HW = (size_t) H * W;
  for (int m = 0; m < M;) {
    const int g = m / Mg, in_group = Mg - m % Mg, first = m;
    const float *xg = j->x + (size_t) g * Cg * HW;
    /* Blocks of 12 sums where the interior is wide enough: 4 channels
     * × 24 columns (the detector's first conv, 3 -> 16), 1 channel × 32
     * columns (depthwise); else 8 or 4 channels × 8 columns, or one. */
    const int interior = j->in_hi - j->in_lo;
    if (in_group >= 4 && interior >= 24) {
      direct_block_4x3 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
      m += 4;
    } else if (in_group >= 8) {
      direct_block_8x1 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
      m += 8;
    } else if (in_group >= 4) {
      direct_block_4x1 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
      m += 4;
    } else if (interior >= 32) {
      direct_block_1x4 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
      m += 1;
    } else {
      direct_block_1x1 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi);
      m += 1;
    }
    for (int c = first; c < m; c++) {
      float *rows = out + c * ldm + (size_t) (oy0 - out_row0) * OW;
      fkp_nn_apply_activation (rows, (size_t) (oy1 - oy0) * OW, j->act);
      if (pool != NULL)
        fkp_nn_maxpool_tiles (rows, oy1 - oy0, OW, pool->k,
                              pool->y + ((size_t) c * pool->PH + pool->py0) * pool->PW, pool->rows,
                              pool->PW);
    }
  }
}

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
      direct_band (j, oy0, oy1, j->y, P, 0, NULL);
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
direct_job_init (DirectJob *j, const ConvParams *conv, const Activation *act, const float *x,
                 int H, int W, float *y, int M, int OH, int OW, int Cg, int Mg)
{
  *j = (DirectJob) { conv, act, x, y, H, W, M, OH, OW, Cg, Mg, 0, OW, MAX (1, DIRECT_TILE / OW) };
  /* Columns whose whole window lies inside the input rows. */
  for (int kx = 0; kx < conv->kw; kx++) {
    int lo, hi;
    valid_range (W, OW, conv->sw, conv->pad_left, kx * conv->dw, &lo, &hi);
    j->in_lo = MAX (j->in_lo, lo);
    j->in_hi = MIN (j->in_hi, hi);
  }
  if (j->in_hi < j->in_lo)
    j->in_hi = j->in_lo;
}

static void
conv_direct (FkpNet *net, const ConvParams *conv, const Activation *act, const float *x, int H,
             int W, float *y, int M, int OH, int OW, int Cg, int Mg)
{
  DirectJob j;
  direct_job_init (&j, conv, act, x, H, W, y, M, OH, OW, Cg, Mg);
  const int n_bands = (OH + j.band - 1) / j.band;
  const int64_t macs = (int64_t) M * OH * OW * Cg * conv->kh * conv->kw;
  fkp_nn_parallel (net, macs >= 64 * 1024 ? n_bands : 1, conv_direct_part, &j);
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

/* The activations the sgemm applies as it stores; the others run after. */
static gboolean
act_in_epilogue (const Activation *act)
{
  return act->kind == ACT_NONE || act->kind == ACT_RELU || act->kind == ACT_LEAKY_RELU;
}

/* Group g's rows of panels [p_lo, p_hi) and columns [c_lo, c_hi) of
 * C (the group's output, rows P apart) = weights · B (+ bias, activation). */
static void
run_gemm (const GemmConvJob *j, int g, const float *B, size_t ldb, float *C, int p_lo, int p_hi,
          int c_lo, int c_hi, float *scratch)
{
  const ConvParams *conv = j->conv;
  const FkpSgemmA *a = conv->gemm[g];
  const Activation *act = j->act;
  const FkpSgemmEpilogue epilogue = {
    .bias = conv->bias != NULL ? conv->bias + (size_t) g * j->Mg : NULL,
    .relu = act->kind == ACT_RELU || act->kind == ACT_LEAKY_RELU,
    .negative_slope = act->kind == ACT_LEAKY_RELU ? act->alpha : 0.0f,
  };
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

/* Below this many multiply-accumulates one thread does the whole step. */
#define CONV_SPLIT_MIN_MACS (64 * 1024)

/* ---- A conv with its MaxPool fused (fkp_nn_conv_fuse_maxpool) --------------
 * Each band of k·pool_band output rows, every channel, is computed into the
 * thread's scratch and pooled from there: the conv's full-size output (the
 * detector's first conv: 16 × 478 × 638 floats, 19 MB) is never written
 * to memory and read back. */

/* FALSE when the environment sets FKP_NN_FUSE_POOL=0: nets loaded then run
 * every MaxPool as its own step (for comparisons and benchmarks). */
static gboolean
fkp_nn_conv_pool_enabled (void)
{
  const char *value = g_getenv ("FKP_NN_FUSE_POOL");
  return value == NULL || strcmp (value, "0") != 0;
}

/* Floats of one band: about 256 KiB, in L2 while it is pooled. */
#define POOL_BAND_FLOATS (64 * 1024)

typedef struct {
  FkpNet *net;
  const ConvParams *conv;
  const Activation *act;
  const float *x;
  float *y;                         /* the pooled output, M × PH × PW */
  int H, W, M, OH, OW, Cg, Mg;      /* OH × OW: the conv's own output */
  int PH, PW;
  DirectJob direct;                 /* CONV_DIRECT */
} PooledJob;

static size_t
pool_band_floats (const ConvParams *conv, int M)
{
  return ((size_t) M * conv->pool_k * conv->pool_band * conv->conv_w + 15) / 16 * 16;
}

static void
conv_pooled_part (void *ctx, int part, int n_parts)
{
  const PooledJob *j = ctx;
  const ConvParams *conv = j->conv;
  const int k = conv->pool_k, OW = j->OW;
  float *band = fkp_nn_scratch (j->net, part);
  float *sgemm_scratch = band + pool_band_floats (conv, j->M);
  const int n_bands = (j->PH + conv->pool_band - 1) / conv->pool_band;
  int b_lo, b_hi;
  fkp_nn_split (n_bands, part, n_parts, 1, &b_lo, &b_hi);
  for (int b = b_lo; b < b_hi; b++) {
    const int py0 = b * conv->pool_band, py1 = MIN (j->PH, py0 + conv->pool_band);
    const int oy0 = py0 * k, rows = MIN ((py1 - py0) * k, j->OH - oy0);
    const size_t ldm = (size_t) rows * OW;
    if (conv->algo == CONV_DIRECT) {
      const PoolTarget pool = { k, j->y, j->PH, j->PW, py0, py1 - py0 };
      direct_band (&j->direct, oy0, oy0 + rows, band, ldm, oy0, &pool);
      continue;
    }
    /* 1×1, stride 1, unpadded: output row oy is input row oy */
    const FkpSgemmA *a = conv->gemm[0];
    const FkpSgemmEpilogue epilogue = {
      .bias = conv->bias,
      .relu = j->act->kind == ACT_RELU || j->act->kind == ACT_LEAKY_RELU,
      .negative_slope = j->act->kind == ACT_LEAKY_RELU ? j->act->alpha : 0.0f,
    };
    fkp_sgemm_run (a, j->x + (size_t) oy0 * j->W, (size_t) j->H * j->W, band, ldm, &epilogue, 0,
                   a->n_panels, 0, (int) ldm, sgemm_scratch);
    if (!act_in_epilogue (j->act))
      fkp_nn_apply_activation (band, (size_t) j->M * ldm, j->act);
    for (int m = 0; m < j->M; m++)
      fkp_nn_maxpool_tiles (band + m * ldm, rows, OW, k,
                            j->y + ((size_t) m * j->PH + py0) * j->PW, py1 - py0, j->PW);
  }
}

gboolean
fkp_nn_conv_fuse_maxpool (Step *s, int k, int64_t conv_h, int64_t conv_w)
{
  ConvParams *conv = s->params;
  const gboolean direct = conv->algo == CONV_DIRECT && conv->sh == 1 && conv->sw == 1;
  const gboolean pointwise = conv->algo == CONV_GEMM_1X1 && conv->groups == 1;
  if (!(direct || pointwise) || conv->pool_k > 0 || !fkp_nn_conv_pool_enabled ())
    return FALSE;
  conv->pool_k = k;
  conv->conv_h = (int) conv_h;
  conv->conv_w = (int) conv_w;
  return TRUE;
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

  if (conv->pool_k > 0) {
    PooledJob j = { net, conv, &step->act, x, y, H, W, M, conv->conv_h, conv->conv_w, Cg, Mg, OH,
                    OW, { 0 } };
    if (conv->algo == CONV_DIRECT)
      direct_job_init (&j.direct, conv, &step->act, x, H, W, NULL, M, j.OH, j.OW, Cg, Mg);
    const int n_bands = (OH + conv->pool_band - 1) / conv->pool_band;
    fkp_nn_parallel (net, step->macs >= CONV_SPLIT_MIN_MACS ? n_bands : 1, conv_pooled_part, &j);
    return;
  }
  if (conv->algo == CONV_DIRECT) {
    conv_direct (net, conv, &step->act, x, H, W, y, M, OH, OW, Cg, Mg);
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
    return conv->winograd_tile == 4 ? "winograd F(4,3)" : "winograd F(2,3)";
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
  /* 3×3 at stride 1: Winograd where the map is large enough to pay
   * (conv-winograd.c); FKP_NN_WINOGRAD=0 keeps im2col, for comparisons. */
  if (conv->algo == CONV_IM2COL && KH == 3 && KW == 3 && conv->sh == 1 && conv->sw == 1
      && conv->dh == 1 && conv->dw == 1 && group == 1 && fkp_nn_winograd_enabled ()) {
    conv->winograd_tile = fkp_nn_winograd_pick ((int) C, (int) M, (int) OH, (int) OW);
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
  if (conv->pool_k > 0) {
    const size_t per_pooled_row = (size_t) M * conv->pool_k * conv->conv_w;
    conv->pool_band = (int) CLAMP (POOL_BAND_FLOATS / per_pooled_row, 1,
                                   (size_t) output->shape.dims[2]);
    band_floats = pool_band_floats (conv, M);
    *scratch_floats = MAX (*scratch_floats, band_floats);
  }
  if (conv->algo == CONV_DIRECT)
    return TRUE;
  if (conv->algo == CONV_WINOGRAD) {
    conv->winograd = fkp_nn_winograd_new (fkp_sgemm_isa (), conv->winograd_tile, conv->weights,
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
  const int K = (int) input->shape.dims[1] / G * conv->kh * conv->kw;
  const int P = (int) (output->shape.dims[2] * output->shape.dims[3]);
  conv->gemm = g_new0 (FkpSgemmA *, G);
  for (int g = 0; g < G; g++) {
    conv->gemm[g] = fkp_sgemm_a_new (fkp_sgemm_isa (), conv->weights + (size_t) g * Mg * K,
                                     (size_t) K, Mg, K);
    if (conv->gemm[g] == NULL)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: out of memory packing weights", s->label);
    *scratch_floats = MAX (*scratch_floats,
                           conv->unfolded_floats + fkp_sgemm_scratch_floats (conv->gemm[g], P));
    if (conv->pool_k > 0)
      *scratch_floats = MAX (*scratch_floats,
                             band_floats + fkp_sgemm_scratch_floats (conv->gemm[g], (int) (
                               band_floats / M)));
  }
  g_clear_pointer (&conv->weights, g_free);
  return TRUE;
}
