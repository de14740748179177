/* What the files of the Conv op share (conv.c: builder, packing, GEMM
 * paths and dispatch; conv-direct.c: the direct loops; conv-banded.c: a
 * conv run band by band with what fusion gave it; conv-winograd.c). */
#ifndef FACEKP_NN_CONV_PRIVATE_H
#define FACEKP_NN_CONV_PRIVATE_H

#include "load/loader.h"
#include "ops/conv-winograd.h"
#include "sgemm/sgemm.h"

enum { CONV_GEMM_1X1, CONV_IM2COL, CONV_DIRECT, CONV_WINOGRAD };


typedef struct _ConvParams {
  int groups, kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right;
  int algo;                         /* CONV_* */
  int im2col_rows;                  /* output rows unfolded per band (CONV_IM2COL) */
  size_t unfolded_floats;           /* a band's floats: where the sgemm's scratch starts */
  float *weights;                   /* [M][C/g][kh][kw]; NULL once packed */
  FkpSgemmA **gemm;                 /* per group, its weights packed (GEMM algos), or NULL */
  /* Fused into it (load/fuse.c), run band by band (conv-banded.c): */
  int pool_k;                       /* > 0: a k×k/k MaxPool pools the output as it is made */
  struct _ConvParams *pre;          /* owned, or NULL: a stride-1 direct conv (depthwise) whose
                                     * output this 1×1 conv reads, made band by band */
  Activation pre_act;               /* pre's activation */
  int in_c, in_h, in_w;             /* pre != NULL: this conv's own input, pre's output */
  int conv_h, conv_w;               /* pool_k > 0 or pre: the conv's own output size */
  int band;                         /* pool_k > 0 or pre: rows of the step's output per band */
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

/* The activations the sgemm applies as it stores; the others run after. */
static inline gboolean
act_in_epilogue (const Activation *act)
{
  return act->kind == ACT_NONE || act->kind == ACT_RELU || act->kind == ACT_LEAKY_RELU;
}

/* The sgemm's epilogue for a conv: its bias (or NULL), and the activation
 * where the tile applies it (act_in_epilogue). */
static inline FkpSgemmEpilogue
conv_epilogue (const float *bias, const Activation *act)
{
  return (FkpSgemmEpilogue) {
    .bias = bias,
    .relu = act->kind == ACT_RELU || act->kind == ACT_LEAKY_RELU,
    .negative_slope = act->kind == ACT_LEAKY_RELU ? act->alpha : 0.0f,
  };
}

/* Below this many multiply-accumulates one thread does the whole step. */
#define CONV_SPLIT_MIN_MACS (64 * 1024)

/* ---- conv-direct.c ---------------------------------------------------------- */

typedef struct {
  const ConvParams *conv;
  const Activation *act;
  const float *x;
  float *y;
  int H, W, M, OH, OW, Cg, Mg, in_lo, in_hi, band;
} DirectJob;

/* Where a fused MaxPool puts a band's pooled rows. */
typedef struct {
  int k;                            /* window side and stride */
  float *y;                         /* the pooled output, M planes of PH × PW */
  int PH, PW;
  int py0, rows;                    /* the band's first pooled row, and how many */
} PoolTarget;

void fkp_nn_conv_direct_job (DirectJob *j, const ConvParams *conv, const Activation *act,
                             const float *x, int H, int W, float *y, int M, int OH, int OW, int Cg,
                             int Mg);
/* Output rows [oy0, oy1) of a stride-1 direct convolution, all channels,
 * into `out`: channel m's row oy at out + m·ldm + (oy - out_row0)·OW (the
 * output tensor, or a band of scratch).  Each block of channels gets its
 * activation, and with `pool` its pooling, while it is still in L1. */
void fkp_nn_conv_direct_band (const DirectJob *j, int oy0, int oy1, float *out, size_t ldm,
                              int out_row0, const PoolTarget *pool);
/* The whole direct convolution, split in bands among the net's threads. */
void fkp_nn_conv_direct (FkpNet *net, const ConvParams *conv, const Activation *act,
                         const float *x, int H, int W, float *y, int M, int OH, int OW, int Cg,
                         int Mg);

/* ---- conv-banded.c ---------------------------------------------------------- */

/* Whether the step runs band by band (a fused MaxPool or pre conv). */
static inline gboolean
conv_is_banded (const ConvParams *conv)
{
  return conv->pool_k > 0 || conv->pre != NULL;
}
/* At packing: the band height, and the scratch floats a band needs (the
 * sgemm's own not included). */
size_t fkp_nn_conv_band_plan (ConvParams *conv, int M, int out_rows);
void fkp_nn_conv_run_banded (FkpNet *net, const Step *step);

#endif
