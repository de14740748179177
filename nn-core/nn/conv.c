/* Convolution: 1×1 as one GEMM straight on the NCHW tensor, other dense
 * kernels as im2col + GEMM, and depthwise or very thin convolutions (few
 * output channels per group, e.g. the attention module's 7×7 conv 2→1,
 * where sgemm with M = 1 is slow) as a direct loop.  Bias and activation run
 * in one pass over the output afterwards. */
#include "nn-private.h"

#include <cblas.h>
#include <string.h>

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

/* Unfolds `channels` input planes into rows of (c, ky, kx) × (oy, ox). */
static void
im2col (const Step *s, const float *x, int channels, int H, int W, int OH, int OW, float *col)
{
  for (int c = 0; c < channels; c++) {
    const float *plane = x + (size_t) c * H * W;
    for (int ky = 0; ky < s->kh; ky++) {
      const int y_off = ky * s->dh;
      int oy_lo, oy_hi;
      valid_range (H, OH, s->sh, s->pad_top, y_off, &oy_lo, &oy_hi);
      for (int kx = 0; kx < s->kw; kx++) {
        const int x_off = kx * s->dw;
        int ox_lo, ox_hi;
        valid_range (W, OW, s->sw, s->pad_left, x_off, &ox_lo, &ox_hi);
        float *row = col + (((size_t) c * s->kh + ky) * s->kw + kx) * OH * OW;
        if (oy_lo > 0)
          memset (row, 0, (size_t) oy_lo * OW * sizeof (float));
        if (oy_hi < OH)
          memset (row + (size_t) oy_hi * OW, 0, (size_t) (OH - oy_hi) * OW * sizeof (float));
        for (int oy = oy_lo; oy < oy_hi; oy++) {
          float *dst = row + (size_t) oy * OW;
          const float *src = plane + (size_t) (oy * s->sh - s->pad_top + y_off) * W
                             - s->pad_left + x_off;
          for (int ox = 0; ox < ox_lo; ox++)
            dst[ox] = 0.0f;
          if (s->sw == 1) {
            if (ox_hi > ox_lo)
              memcpy (dst + ox_lo, src + ox_lo, (size_t) (ox_hi - ox_lo) * sizeof (float));
          } else {
            for (int ox = ox_lo; ox < ox_hi; ox++)
              dst[ox] = src[ox * s->sw];
          }
          for (int ox = ox_hi; ox < OW; ox++)
            dst[ox] = 0.0f;
        }
      }
    }
  }
}

/* out (OH×OW) += kernel (kh×kw) correlated with one input plane. */
static void
accumulate_plane (const Step *s, const float *plane, int H, int W, const float *kernel,
                  float *out, int OH, int OW)
{
  for (int ky = 0; ky < s->kh; ky++) {
    const int y_off = ky * s->dh;
    int oy_lo, oy_hi;
    valid_range (H, OH, s->sh, s->pad_top, y_off, &oy_lo, &oy_hi);
    for (int kx = 0; kx < s->kw; kx++) {
      const int x_off = kx * s->dw;
      int ox_lo, ox_hi;
      valid_range (W, OW, s->sw, s->pad_left, x_off, &ox_lo, &ox_hi);
      const float w = kernel[ky * s->kw + kx];
      for (int oy = oy_lo; oy < oy_hi; oy++) {
        float *dst = out + (size_t) oy * OW;
        const float *src = plane + (size_t) (oy * s->sh - s->pad_top + y_off) * W
                           - s->pad_left + x_off;
        if (s->sw == 1)
          for (int ox = ox_lo; ox < ox_hi; ox++)
            dst[ox] += w * src[ox];
        else
          for (int ox = ox_lo; ox < ox_hi; ox++)
            dst[ox] += w * src[ox * s->sw];
      }
    }
  }
}

void
fkp_nn_conv (FkpNet *net, const Step *s)
{
  const Tensor *X = &net->tensors[s->inputs[0]], *Y = &net->tensors[s->output];
  const float *x = X->data;
  float *y = Y->data;
  const int C = (int) X->shape.dims[1], H = (int) X->shape.dims[2], W = (int) X->shape.dims[3];
  const int M = (int) Y->shape.dims[1], OH = (int) Y->shape.dims[2], OW = (int) Y->shape.dims[3];
  const int G = s->groups, Cg = C / G, Mg = M / G;
  const int K = Cg * s->kh * s->kw;
  const size_t P = (size_t) OH * OW, HW = (size_t) H * W;

  switch (s->conv_algo) {
  case CONV_GEMM_1X1:
    for (int g = 0; g < G; g++)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, Mg, (int) P, Cg, 1.0f,
                   s->weights + (size_t) g * Mg * K, K, x + g * Cg * HW, (int) P, 0.0f,
                   y + g * Mg * P, (int) P);
    break;
  case CONV_IM2COL:
    for (int g = 0; g < G; g++) {
      im2col (s, x + g * Cg * HW, Cg, H, W, OH, OW, net->scratch);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, Mg, (int) P, K, 1.0f,
                   s->weights + (size_t) g * Mg * K, K, net->scratch, (int) P, 0.0f,
                   y + g * Mg * P, (int) P);
    }
    break;
  case CONV_DIRECT:
    memset (y, 0, (size_t) M * P * sizeof (float));
    for (int m = 0; m < M; m++) {
      const int g = m / Mg;
      for (int c = 0; c < Cg; c++)
        accumulate_plane (s, x + (size_t) (g * Cg + c) * HW, H, W,
                          s->weights + ((size_t) m * Cg + c) * s->kh * s->kw, y + m * P, OH, OW);
    }
    break;
  }
  fkp_nn_apply_bias_activation (y, (size_t) M, P, s->bias, &s->act);
}
