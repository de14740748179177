/* Conv as a direct loop: depthwise convs, very thin ones (the attention
 * module's 7×7 conv 2→1, where a GEMM with M = 1 is slow) and first layers
 * on a few channels, where im2col would copy more than the GEMM computes. */
#include "ops/conv-private.h"

#include <math.h>

/* Kernels written for AVX2 + FMA (inline assembly in part), built with the
 * target attribute and called only where the CPU has them (the sgemm's ISA
 * is not the generic one). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AVX2_KERNELS 1
#define AVX2_TARGET __attribute__ ((target ("arch=x86-64-v3")))
#else
#define AVX2_KERNELS 0
#endif

static inline gboolean
avx2_usable (void)
{
  return AVX2_KERNELS && fkp_sgemm_isa () != FKP_SGEMM_ISA_GENERIC;
}

/* The same for AVX-512F kernels (intrinsics), where the sgemm's ISA is. */
#if AVX2_KERNELS
#include <immintrin.h>
#define AVX512_TARGET __attribute__ ((target ("arch=x86-64-v4")))
#endif

static inline gboolean
avx512_usable (void)
{
  return AVX2_KERNELS && fkp_sgemm_isa () == FKP_SGEMM_ISA_AVX512;
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
typedef int v8i __attribute__ ((vector_size (32), aligned (4)));

static inline __attribute__ ((always_inline)) v8f
rectify8 (v8f v, float slope)
{
  const v8i positive = v > 0.0f;
  return (v8f) (((v8i) v & positive) | ((v8i) (v * slope) & ~positive));
}

/* 16 lanes: one AVX-512 register, two AVX ones, four SSE ones */
typedef float v16f __attribute__ ((vector_size (64), aligned (4)));
typedef int v16i __attribute__ ((vector_size (64), aligned (4)));

static inline __attribute__ ((always_inline)) v16f
rectify16 (v16f v, float slope)
{
  const v16i positive = v > 0.0f;
  return (v16f) (((v16i) v & positive) | ((v16i) (v * slope) & ~positive));
}

static inline __attribute__ ((always_inline)) float
rectify1 (float v, gboolean rectify, float slope)
{
  return rectify && !(v > 0.0f) ? v * slope : v;
}

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
                          int in_lo, int in_hi, const Activation *act)                    \
{                                                                                         \
  /* ReLU and LeakyRelu as it stores (x > 0 ? x : slope·x); others after */               \
  const gboolean rectify = act->kind == ACT_RELU || act->kind == ACT_LEAKY_RELU;           \
  const float slope = act->kind == ACT_LEAKY_RELU ? act->alpha : 0.0f;                    \
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
          *(v8f *) (out + j * ldm + ox + 8 * v) = rectify ? rectify8 (acc[j][v], slope)      \
                                                          : acc[j][v];                    \
    }                                                                                     \
    for (int j = 0; j < MB; j++) {                                                        \
      for (int x = 0; x < in_lo; x++)                                                     \
        out[j * ldm + x] = rectify1 (direct_point (conv, xg, H, W, Cg, wb + j * stride_m,   \
                                                   oy, x, bias[j]), rectify, slope);      \
      for (int x = vec_end; x < OW; x++)                                                  \
        out[j * ldm + x] = rectify1 (direct_point (conv, xg, H, W, Cg, wb + j * stride_m,   \
                                                   oy, x, bias[j]), rectify, slope);      \
    }                                                                                     \
  }                                                                                       \
}

DIRECT_BLOCK (4, 3)
DIRECT_BLOCK (1, 4)
DIRECT_BLOCK (8, 1)
DIRECT_BLOCK (4, 1)
DIRECT_BLOCK (1, 1)

/* A depthwise 3×3 stride-1 conv (one input channel per output channel), two
 * output rows at a time where their four input rows are all inside the
 * map: each input vector loaded serves both rows (the middle two input
 * rows feed both), so a row costs about 2/3 of the loads of the one-row
 * block, which is load-bound (4 loads and a broadcast per 4 FMAs).  Other
 * rows go through direct_block_1x4.  In 16-lane vectors: half the
 * instructions with AVX-512 (on Zen 4 this kernel went from 20 to 15 % of
 * the detector's samples), the same code as 8 lanes on AVX2. */
FKP_SIMD static void
depthwise3_rows2 (const ConvParams *conv, const float *plane, int H, int W, float *y, size_t ldm,
                  int y_row0, int OW, int m0, int oy0, int oy1, int in_lo, int in_hi,
                  const Activation *act)
{
  enum { NV = 2, WIDTH = 16 * NV };
  const gboolean rectify = act->kind == ACT_RELU || act->kind == ACT_LEAKY_RELU;
  const float slope = act->kind == ACT_LEAKY_RELU ? act->alpha : 0.0f;
  const float *w = conv->weights + (size_t) m0 * 9;
  const float bias = conv->bias ? conv->bias[m0] : 0.0f;
  const int vec_end = in_hi - in_lo >= WIDTH ? in_hi : in_lo;
  for (int oy = oy0; oy < oy1;) {
    const int iy0 = oy - conv->pad_top;
    if (oy + 1 >= oy1 || iy0 < 0 || iy0 + 4 > H || vec_end == in_lo) {
      direct_block_1x4 (conv, plane, H, W, y, ldm, y_row0, OW, 1, m0, oy, oy + 1, in_lo, in_hi,
                        act);
      oy++;
      continue;
    }
    float *out0 = y + (size_t) m0 * ldm + (size_t) (oy - y_row0) * OW, *out1 = out0 + OW;
    for (int ox = in_lo; ox < vec_end;
         ox = ox + WIDTH >= in_hi ? in_hi : MIN (ox + WIDTH, in_hi - WIDTH)) {
      v16f acc0[NV], acc1[NV];
      for (int v = 0; v < NV; v++)
        acc0[v] = acc1[v] = (v16f) { 0 } + bias;
      for (int r = 0; r < 4; r++) {
        const float *src = plane + (size_t) (iy0 + r) * W + ox - conv->pad_left;
        for (int kx = 0; kx < 3; kx++) {
          v16f in[NV];
          for (int v = 0; v < NV; v++)
            in[v] = *(const v16f *) (src + kx + 16 * v);
          if (r < 3) {
            const float w0 = w[r * 3 + kx];
            for (int v = 0; v < NV; v++)
              acc0[v] += w0 * in[v];
          }
          if (r > 0) {
            const float w1 = w[(r - 1) * 3 + kx];
            for (int v = 0; v < NV; v++)
              acc1[v] += w1 * in[v];
          }
        }
      }
      for (int v = 0; v < NV; v++) {
        *(v16f *) (out0 + ox + 16 * v) = rectify ? rectify16 (acc0[v], slope) : acc0[v];
        *(v16f *) (out1 + ox + 16 * v) = rectify ? rectify16 (acc1[v], slope) : acc1[v];
      }
    }
    /* The columns whose window crosses the left or right edge (all rows
     * inside), 3×3 taps unrolled: through the generic direct_point (loops
     * over channels and taps, checks on rows) they took half as long as
     * the vector blocks on the detector (perf: 3.5 % of its run against
     * 7.5 %); 0.2 ms faster this way. */
    for (int row = 0; row < 2; row++) {
      float *out = row ? out1 : out0;
      const float *in = plane + (size_t) (iy0 + row) * W;
      for (int x = 0; x < OW; x++) {
        if (x == in_lo)
          x = MAX (x, vec_end);
        if (x >= OW)
          break;
        float acc = bias;
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            const int ix = x - conv->pad_left + kx;
            if (ix >= 0 && ix < W)
              acc += w[ky * 3 + kx] * in[(size_t) ky * W + ix];
          }
        out[x] = rectify1 (acc, rectify, slope);
      }
    }
    oy += 2;
  }
}

/* ---- 3×3 stride-1 conv with its 2×2/2 MaxPool taken in registers ------------
 *
 * For the detector's first conv (3 -> 16 at 640×480, a third of its run):
 * the general path wrote 16 × 478 × 638 conv outputs to a band of scratch
 * and pooled them in a second pass.  Here each block computes both conv rows
 * of a pooled row for 16 columns of 2 channels (8 sums), takes the max
 * of the rows and of the even and odd columns in registers and stores only
 * the pooled values.  The four input rows are loaded once for both conv rows
 * (each input vector feeds both), and every sum adds its taps in the order
 * of the general path (channel, row, column), so the results are the same
 * bits.  The bias goes in first and ReLU / LeakyRelu (slope ≥ 0, so
 * monotone) after the max, where they give the same values. */

/* Input and output channels at most (the weights are copied to the stack;
 * convs on more channels go through a GEMM anyway). */
#define POOL2_MAX_CG 4
#define POOL2_MAX_M 64

/* Whether the fused pool of this conv can be taken in registers: the
 * kernels are AVX2+FMA only (built for it, picked at run time). */
static gboolean
pool2_in_registers (const DirectJob *j, const PoolTarget *pool)
{
  const ConvParams *conv = j->conv;
  const Activation *act = j->act;
  return avx2_usable () && pool != NULL && pool->k == 2 && j->Cg <= POOL2_MAX_CG
         && j->M <= POOL2_MAX_M && conv->kh == 3 && conv->kw == 3 && conv->sh == 1
         && conv->sw == 1 && conv->dh == 1 && conv->dw == 1 && j->Mg == j->M
         && (act->kind == ACT_NONE || act->kind == ACT_RELU
             || (act->kind == ACT_LEAKY_RELU && act->alpha >= 0.0f));
}

#if AVX2_KERNELS
/* One pooled output, tap by tap with bounds checks (edges, cut windows). */
static inline __attribute__ ((always_inline)) float
pooled_point (const DirectJob *j, const float *wm, float bias, int py, int px)
{
  float best = -INFINITY;
  for (int oy = 2 * py; oy < MIN (2 * py + 2, j->OH); oy++)
    for (int ox = 2 * px; ox < MIN (2 * px + 2, j->OW); ox++) {
      const float v = direct_point (j->conv, j->x, j->H, j->W, j->Cg, wm, oy, ox, bias);
      best = v > best ? v : best;
    }
  return best;
}

/* a > b ? a : b per lane, as pool2_max */
AVX512_TARGET static inline __attribute__ ((always_inline)) __m512
max_as_pool512 (__m512 a, __m512 b)
{
  return _mm512_mask_blend_ps (_mm512_cmp_ps_mask (a, b, _CMP_GT_OQ), b, a);
}

/* (built for AVX2 like their callers: clang refuses a call that passes
 * vectors from AVX code to baseline code) */
AVX2_TARGET static inline __attribute__ ((always_inline)) v8f
pool2_max (v8f a, v8f b)
{
  const v8i greater = a > b;
  return (v8f) (((v8i) a & greater) | ((v8i) b & ~greater));
}

AVX2_TARGET static inline __attribute__ ((always_inline)) v8f
pool2_rectify (v8f v, float slope)
{
  const v8i positive = v > 0.0f;
  return (v8f) (((v8i) v & positive) | ((v8i) (v * slope) & ~positive));
}

/* One channel's 8 pooled outputs from its two conv rows of 16 columns:
 * the max of the rows, then of the even and odd columns, then the
 * activation. */
AVX2_TARGET static inline __attribute__ ((always_inline)) void
pool2_store (float *dst, v8f top0, v8f top1, v8f bottom0, v8f bottom1, gboolean rectify,
             float slope)
{
  const v8f a = pool2_max (top0, bottom0), b = pool2_max (top1, bottom1);
  const v8f p = pool2_max (FKP_SHUFFLE8 (a, b, 0, 2, 4, 6, 8, 10, 12, 14),
                         FKP_SHUFFLE8 (a, b, 1, 3, 5, 7, 9, 11, 13, 15));
  *(v8f *) dst = rectify ? pool2_rectify (p, slope) : p;
}

/* What the kernels below need of one pooled row. */
typedef struct {
  const float *x;                   /* input channel 0, row 2·py - pad_top (only formed when
                                     * inside the map) */
  int pad_left;
  float *out;                       /* pooled row py of output channel 0 */
  size_t HW, plane;                 /* floats per input and per output channel */
  int W, Cg;
  const float *bias;                /* or NULL */
  gboolean rectify;
  float slope;
} Pool2Row;

/* Pooled row py, pooled columns [px0, px1) (at least 8, every input column
 * inside the map), channels m0 and m0 + 1: 8 pooled columns at a time, the
 * last block overlapping the one before.  Per tap, 2 broadcast weights and
 * 4 input vectors (2 conv rows × 16 columns) feed 8 sums.  Written out in
 * assembly: GCC folded each input load into both channels' FMAs and moved
 * sums between registers; this is 0.15 ms faster on the detector (AMD Zen 3).
 * The sums stay in 8 registers GCC picks, the rest in ymm12-15. */
AVX2_TARGET static void
conv3x3_pool2_2 (const Pool2Row *r, const float *taps, int m0, int px0, int px1)
{
  const int W = r->W, Cg = r->Cg;
  const size_t HW = r->HW, plane = r->plane, row_bytes = (size_t) W * sizeof (float);
  const float *x = r->x;
  float *out = r->out + m0 * plane;
  const float bias0 = r->bias ? r->bias[m0] : 0.0f, bias1 = r->bias ? r->bias[m0 + 1] : 0.0f;
  for (int px = px0; px < px1; px = px + 8 >= px1 ? px1 : MIN (px + 8, px1 - 8)) {
    /* channel 0 or 1, top or bottom conv row, columns 0-7 or 8-15 */
    v8f t00 = (v8f) { 0 } + bias0, t01 = t00, b00 = t00, b01 = t00;
    v8f t10 = (v8f) { 0 } + bias1, t11 = t10, b10 = t10, b11 = t10;
    const float *src = x + (2 * px - r->pad_left);   /* px ≥ px_lo: inside the row */
    for (int c = 0; c < Cg; c++, src += HW)
      for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
          const float *row = src + (size_t) ky * W + kx;
          const float *w = taps + ((c * 3 + ky) * 3 + kx) * 2;
          __asm__ ("vbroadcastss (%[w]), %%ymm12\n\t"
                   "vbroadcastss 4(%[w]), %%ymm13\n\t"
                   "vmovups (%[row]), %%ymm14\n\t"
                   "vmovups 32(%[row]), %%ymm15\n\t"
                   "vfmadd231ps %%ymm14, %%ymm12, %[t00]\n\t"
                   "vfmadd231ps %%ymm14, %%ymm13, %[t10]\n\t"
                   "vfmadd231ps %%ymm15, %%ymm12, %[t01]\n\t"
                   "vfmadd231ps %%ymm15, %%ymm13, %[t11]\n\t"
                   "vmovups (%[row], %[stride]), %%ymm14\n\t"
                   "vmovups 32(%[row], %[stride]), %%ymm15\n\t"
                   "vfmadd231ps %%ymm14, %%ymm12, %[b00]\n\t"
                   "vfmadd231ps %%ymm14, %%ymm13, %[b10]\n\t"
                   "vfmadd231ps %%ymm15, %%ymm12, %[b01]\n\t"
                   "vfmadd231ps %%ymm15, %%ymm13, %[b11]"
                   : [t00] "+x" (t00), [t01] "+x" (t01), [b00] "+x" (b00), [b01] "+x" (b01),
                     [t10] "+x" (t10), [t11] "+x" (t11), [b10] "+x" (b10), [b11] "+x" (b11)
                   : [w] "r" (w), [row] "r" (row), [stride] "r" (row_bytes),
                     "m" (*(const float (*)[2]) w), "m" (*(const float (*)[W + 16]) row)
                   : "xmm12", "xmm13", "xmm14", "xmm15");
        }
    pool2_store (out + px, t00, t01, b00, b01, r->rectify, r->slope);
    pool2_store (out + plane + px, t10, t11, b10, b11, r->rectify, r->slope);
  }
}

/* The same for one channel (the last of an odd count), in C. */
AVX2_TARGET static void
conv3x3_pool2_1 (const Pool2Row *r, const float *taps, int m0, int px0, int px1)
{
  const int W = r->W, Cg = r->Cg;
  const float *x = r->x;
  float *out = r->out + m0 * r->plane;
  const float bias = r->bias ? r->bias[m0] : 0.0f;
  for (int px = px0; px < px1; px = px + 8 >= px1 ? px1 : MIN (px + 8, px1 - 8)) {
    v8f t0 = (v8f) { 0 } + bias, t1 = t0, b0 = t0, b1 = t0;
    const float *src = x + (2 * px - r->pad_left);   /* px ≥ px_lo: inside the row */
    for (int c = 0; c < Cg; c++, src += r->HW)
      for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
          const float *row = src + (size_t) ky * W + kx;
          const float w = taps[(c * 3 + ky) * 3 + kx];
          t0 += w * *(const v8f *) row;
          t1 += w * *(const v8f *) (row + 8);
          b0 += w * *(const v8f *) (row + W);
          b1 += w * *(const v8f *) (row + W + 8);
        }
    pool2_store (out + px, t0, t1, b0, b1, r->rectify, r->slope);
  }
}

/* Pooled row py, pooled columns [px0, px1) (at least 16, every input
 * column inside the map), channels m0 to m0 + 3, with AVX-512: 16 pooled
 * columns at a time, the last block overlapping the one before.  Per tap,
 * 4 broadcast weights and 4 input vectors (2 conv rows × 32 columns) feed
 * 16 sums, twice the channels per loaded input of the AVX2 kernel above,
 * whose loads (half of them across a cache line) bound it.  Taps in the
 * same order as there: the same bits. */
AVX512_TARGET static void
conv3x3_pool2_4 (const Pool2Row *r, const float *taps, int m0, int px0, int px1)
{
  const int W = r->W, Cg = r->Cg;
  const size_t HW = r->HW, plane = r->plane;
  const float *x = r->x;
  float *out = r->out + m0 * plane;
  __m512 bias[4];
  for (int m = 0; m < 4; m++)
    bias[m] = _mm512_set1_ps (r->bias ? r->bias[m0 + m] : 0.0f);
  const __m512i even = _mm512_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                          28, 30);
  const __m512i odd = _mm512_add_epi32 (even, _mm512_set1_epi32 (1));
  for (int px = px0; px < px1; px = px + 16 >= px1 ? px1 : MIN (px + 16, px1 - 16)) {
    /* [channel][top or bottom conv row][columns 0-15 or 16-31] */
    __m512 acc[4][2][2];
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++)
      acc[m][0][0] = acc[m][0][1] = acc[m][1][0] = acc[m][1][1] = bias[m];
    const float *src = x + (2 * px - r->pad_left);   /* px ≥ px_lo: inside the row */
    for (int c = 0; c < Cg; c++, src += HW)
#pragma GCC unroll 3
      for (int ky = 0; ky < 3; ky++)
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++) {
          const float *row = src + (size_t) ky * W + kx;
          const float *w = taps + ((c * 3 + ky) * 3 + kx) * 4;
          __m512 in[2][2] = {
            { _mm512_loadu_ps (row), _mm512_loadu_ps (row + 16) },
            { _mm512_loadu_ps (row + W), _mm512_loadu_ps (row + W + 16) },
          };
          /* in registers: GCC would otherwise fold each load (and each
           * broadcast) into the four FMAs that use it */
          __asm__ ("" : "+v" (in[0][0]), "+v" (in[0][1]), "+v" (in[1][0]), "+v" (in[1][1]));
#pragma GCC unroll 4
          for (int m = 0; m < 4; m++) {
            __m512 wm = _mm512_set1_ps (w[m]);
            __asm__ ("" : "+v" (wm));
            for (int y = 0; y < 2; y++)
              for (int h = 0; h < 2; h++)
                acc[m][y][h] = _mm512_fmadd_ps (wm, in[y][h], acc[m][y][h]);
          }
        }
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
      const __m512 a = max_as_pool512 (acc[m][0][0], acc[m][1][0]);
      const __m512 b = max_as_pool512 (acc[m][0][1], acc[m][1][1]);
      __m512 p = max_as_pool512 (_mm512_permutex2var_ps (a, even, b),
                                 _mm512_permutex2var_ps (a, odd, b));
      if (r->rectify)
        p = _mm512_mask_mul_ps (p, _mm512_cmp_ps_mask (p, _mm512_setzero_ps (), _CMP_GT_OQ) ^ 0xffff,
                                p, _mm512_set1_ps (r->slope));
      _mm512_storeu_ps (out + m * plane + px, p);
    }
  }
}

/* Pooled columns per chunk: a chunk's input rows (4 rows of 2·CHUNK + 2
 * columns per input channel) stay in L1 while every channel block reads
 * them; a whole row of the detector's first conv (4 × 3 × 640 floats) did
 * not. */
#define POOL2_CHUNK 64

/* Output channels of the block that starts `left` channels before the end:
 * 4 with the AVX-512 kernel, else 2, the last of an odd count alone. */
static inline int
pool2_block_channels (gboolean wide, int left)
{
  return wide && left >= 4 ? 4 : MIN (2, left);
}

/* Pooled rows [py0, py1), every channel. */
AVX2_TARGET static void
conv3x3_pool2_band (const DirectJob *j, int py0, int py1, const PoolTarget *pool)
{
  const ConvParams *conv = j->conv;
  const int M = j->M, Cg = j->Cg, stride_m = Cg * 9, PW = pool->PW;
  const gboolean rectify = j->act->kind != ACT_NONE;
  const float slope = j->act->kind == ACT_LEAKY_RELU ? j->act->alpha : 0.0f;
  /* Pooled columns whose 18 input columns are all inside the row. */
  const int px_lo = (conv->pad_left + 1) / 2;
  const int px_hi = MIN ((j->W + conv->pad_left - 2) / 2, j->OW / 2);
  const int vec_end = px_hi - px_lo >= 8 ? px_hi : px_lo;
  /* chunks are all at least as wide as this range or POOL2_CHUNK */
  const gboolean wide = avx512_usable () && vec_end - px_lo >= 16;
  /* The weights tap by tap, the channels of a block side by side: one
   * pointer and constant offsets in the kernels. */
  float taps[POOL2_MAX_M * POOL2_MAX_CG * 9];
  for (int m0 = 0, mb; m0 < M; m0 += mb) {
    mb = pool2_block_channels (wide, M - m0);
    for (int c = 0; c < Cg; c++)
      for (int t = 0; t < 9; t++)
        for (int m = 0; m < mb; m++)
          taps[m0 * stride_m + (c * 9 + t) * mb + m] = conv->weights[(m0 + m) * stride_m + c * 9 + t];
  }
  for (int py = py0; py < py1; py++) {
    const int iy0 = 2 * py - conv->pad_top;
    const gboolean rows_inside = iy0 >= 0 && iy0 + 4 <= j->H && 2 * py + 2 <= j->OH;
    const int row_vec_end = rows_inside ? vec_end : px_lo;
    const Pool2Row row = {
      .x = rows_inside ? j->x + (size_t) iy0 * j->W : NULL, .pad_left = conv->pad_left,
      .out = pool->y + (size_t) py * PW,
      .HW = (size_t) j->H * j->W, .plane = (size_t) pool->PH * PW,
      .W = j->W, .Cg = Cg, .bias = conv->bias, .rectify = rectify, .slope = slope,
    };
    for (int c0 = px_lo; c0 < row_vec_end; c0 += POOL2_CHUNK) {
      /* a short last chunk joins the one before */
      const int c1 = row_vec_end - c0 < 2 * POOL2_CHUNK ? row_vec_end : c0 + POOL2_CHUNK;
      for (int m0 = 0, mb; m0 < M; m0 += mb) {
        mb = pool2_block_channels (wide, M - m0);
        if (mb == 4)
          conv3x3_pool2_4 (&row, taps + m0 * stride_m, m0, c0, c1);
        else if (mb == 2)
          conv3x3_pool2_2 (&row, taps + m0 * stride_m, m0, c0, c1);
        else
          conv3x3_pool2_1 (&row, taps + m0 * stride_m, m0, c0, c1);
      }
      if (c1 == row_vec_end)
        break;
    }
    /* the columns and rows at the edges, one output at a time */
    for (int m = 0; m < M; m++) {
      const float *wm = conv->weights + (size_t) m * stride_m;
      const float bias = conv->bias ? conv->bias[m] : 0.0f;
      float *dst = pool->y + ((size_t) m * pool->PH + py) * PW;
      for (int px = 0; px < PW; px++) {
        if (px == px_lo && row_vec_end > px_lo)
          px = row_vec_end;
        if (px >= PW)
          break;
        dst[px] = rectify1 (pooled_point (j, wm, bias, py, px), rectify, slope);
      }
    }
  }
}
#endif

void
fkp_nn_conv_direct_band (const DirectJob *j, int oy0, int oy1, float *out, size_t ldm, int out_row0,
             const PoolTarget *pool)
{
  const ConvParams *conv = j->conv;
  const int H = j->H, W = j->W, M = j->M, OW = j->OW, Cg = j->Cg, Mg = j->Mg;
  const size_t HW = (size_t) H * W;
#if AVX2_KERNELS
  if (pool2_in_registers (j, pool)) {
    conv3x3_pool2_band (j, pool->py0, pool->py0 + pool->rows, pool);
    return;
  }
#endif
  for (int m = 0; m < M;) {
    const int g = m / Mg, in_group = Mg - m % Mg, first = m;
    const float *xg = j->x + (size_t) g * Cg * HW;
    /* Blocks of 12 sums where the interior is wide enough: 4 channels
     * × 24 columns (the detector's first conv, 3 -> 16), 1 channel × 32
     * columns (depthwise); else 8 or 4 channels × 8 columns, or one. */
    const int interior = j->in_hi - j->in_lo;
    if (Cg == 1 && Mg == 1 && conv->kh == 3 && conv->kw == 3 && conv->sh == 1 && conv->dh == 1
        && conv->dw == 1 && interior >= 32) {
      depthwise3_rows2 (conv, xg, H, W, out, ldm, out_row0, OW, m, oy0, oy1, j->in_lo, j->in_hi,
                        j->act);
      m += 1;
    } else if (in_group >= 4 && interior >= 24) {
      direct_block_4x3 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi,
                        j->act);
      m += 4;
    } else if (in_group >= 8) {
      direct_block_8x1 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi,
                        j->act);
      m += 8;
    } else if (in_group >= 4) {
      direct_block_4x1 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi,
                        j->act);
      m += 4;
    } else if (interior >= 32) {
      direct_block_1x4 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi,
                        j->act);
      m += 1;
    } else {
      direct_block_1x1 (conv, xg, H, W, out, ldm, out_row0, OW, Cg, m, oy0, oy1, j->in_lo, j->in_hi,
                        j->act);
      m += 1;
    }
    for (int c = first; c < m; c++) {
      float *rows = out + c * ldm + (size_t) (oy0 - out_row0) * OW;
      if (j->act->kind != ACT_RELU && j->act->kind != ACT_LEAKY_RELU)   /* (done as stored) */
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
      fkp_nn_conv_direct_band (j, oy0, oy1, j->y, P, 0, NULL);
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

void
fkp_nn_conv_direct_job (DirectJob *j, const ConvParams *conv, const Activation *act, const float *x,
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

void
fkp_nn_conv_direct (FkpNet *net, const ConvParams *conv, const Activation *act, const float *x, int H,
             int W, float *y, int M, int OH, int OW, int Cg, int Mg)
{
  DirectJob j;
  fkp_nn_conv_direct_job (&j, conv, act, x, H, W, y, M, OH, OW, Cg, Mg);
  const int64_t macs = (int64_t) M * OH * OW * Cg * conv->kh * conv->kw;
  const int T = macs >= 64 * 1024 ? fkp_nn_threads (net) : 1;
  /* A map of few channels (the attention module's 7×7 conv to one) fits
   * one band: cut it so that every thread gets rows. */
  if (T > 1 && (OH + j.band - 1) / j.band < T)
    j.band = MAX (1, (OH + T - 1) / T);
  const int n_bands = (OH + j.band - 1) / j.band;
  fkp_nn_parallel (net, T > 1 ? n_bands : 1, conv_direct_part, &j);
}
