/* A conv run band by band with what fusion (load/fuse.c) gave it: a MaxPool
 * after it whose windows tile its output (fkp_nn_conv_fuse_maxpool), and,
 * for a 1×1 conv, the stride-1 direct conv before it (fkp_nn_conv_fuse_pre:
 * the detector's depthwise convs).  Each band of output rows, every channel,
 * goes through the thread's scratch: the pre conv's rows, the conv's rows,
 * pooled from there.  Full-size intermediate maps (the detector's first
 * conv: 16 × 478 × 638 floats, 19 MB) are never written to memory and read
 * back. */
#include "ops/conv-private.h"

#include <string.h>

/* Floats of a band's intermediate rows: about 256 KiB, in L2 while they
 * are read back. */
#define BAND_FLOATS (64 * 1024)

gboolean
fkp_nn_fusion_enabled (void)
{
  const char *value = g_getenv ("FKP_NN_FUSE");
  return value == NULL || strcmp (value, "0") != 0;
}

gboolean
fkp_nn_conv_fuse_maxpool (Step *s, int k, int64_t conv_h, int64_t conv_w)
{
  ConvParams *conv = s->params;
  const gboolean direct = conv->algo == CONV_DIRECT && conv->sh == 1 && conv->sw == 1;
  const gboolean pointwise = conv->algo == CONV_GEMM_1X1 && conv->groups == 1;
  if (!(direct || pointwise) || conv->pool_k > 0 || !fkp_nn_fusion_enabled ())
    return FALSE;
  conv->pool_k = k;
  conv->conv_h = (int) conv_h;
  conv->conv_w = (int) conv_w;
  return TRUE;
}

gboolean
fkp_nn_conv_fuse_pre (Step *s, Step *pre, int64_t in_c, int64_t in_h, int64_t in_w)
{
  ConvParams *conv = s->params, *p = pre->params;
  if (conv->algo != CONV_GEMM_1X1 || conv->groups != 1 || conv->pre != NULL || conv->pool_k > 0
      || pre->op != OP_CONV || p->algo != CONV_DIRECT || p->sh != 1 || p->sw != 1
      || conv_is_banded (p) || !fkp_nn_fusion_enabled ())
    return FALSE;
  /* The pre step's parameters move here; the step itself is dropped. */
  conv->pre = g_memdup2 (p, sizeof *p);
  memset (p, 0, sizeof *p);
  conv->pre_act = pre->act;
  conv->in_c = (int) in_c;
  conv->in_h = (int) in_h;
  conv->in_w = (int) in_w;
  conv->conv_h = (int) in_h;    /* 1×1, stride 1, unpadded */
  conv->conv_w = (int) in_w;
  s->macs += pre->macs;
  s->n_weights += pre->n_weights;
  return TRUE;
}

/* Floats of the pre conv's rows and of the conv's rows (before pooling),
 * per row of the conv's output. */
static size_t
pre_row_floats (const ConvParams *conv)
{
  return conv->pre != NULL ? (size_t) conv->in_c * conv->in_w : 0;
}

static size_t
out_row_floats (const ConvParams *conv, int M)
{
  return conv->pool_k > 0 ? (size_t) M * conv->conv_w : 0;
}

static size_t
round16 (size_t n)
{
  return (n + 15) / 16 * 16;
}

size_t
fkp_nn_conv_band_plan (ConvParams *conv, int M, int out_rows)
{
  const int k = MAX (conv->pool_k, 1);
  const size_t per_row = (pre_row_floats (conv) + out_row_floats (conv, M)) * k;
  conv->band = (int) CLAMP (BAND_FLOATS / MAX (per_row, 1), 1, (size_t) out_rows);
  /* Bands of equal height: 15 rows as 12 + 3 gave one of two threads four
   * fifths of the work (the detector's last conv), and the short band's
   * GEMM a narrow N. */
  const int n_bands = (out_rows + conv->band - 1) / conv->band;
  conv->band = (out_rows + n_bands - 1) / n_bands;
  const size_t rows = (size_t) conv->band * k;
  return round16 (pre_row_floats (conv) * rows) + round16 (out_row_floats (conv, M) * rows);
}

typedef struct {
  FkpNet *net;
  const ConvParams *conv;
  const Activation *act;
  const float *x;                   /* the step's input: the pre conv's, if any */
  float *y;                         /* the step's output: M × PH × PW */
  int H, W, C;                      /* the conv's own input */
  int M, OH, OW, Cg, Mg;            /* OH × OW: the conv's own output */
  int PH, PW;
  DirectJob direct;                 /* a direct conv (with a pool) */
  DirectJob pre;                    /* the pre conv */
  gboolean pool2_in_gemm;           /* a 1×1 conv's 2×2 pool taken by fkp_sgemm_run_pool2 */
} BandedJob;

static void
banded_part (void *ctx, int part, int n_parts)
{
  const BandedJob *j = ctx;
  const ConvParams *conv = j->conv;
  const int k = MAX (conv->pool_k, 1), OW = j->OW;
  const size_t rows_max = (size_t) conv->band * k;
  float *pre_rows = fkp_nn_scratch (j->net, part);
  float *out_rows = pre_rows + round16 (pre_row_floats (conv) * rows_max);
  float *sgemm_scratch = out_rows + round16 (out_row_floats (conv, j->M) * rows_max);
  const int n_bands = (j->PH + conv->band - 1) / conv->band;
  const FkpSgemmEpilogue epilogue = conv_epilogue (conv->bias, j->act);
  int b_lo, b_hi;
  fkp_nn_split (n_bands, part, n_parts, 1, &b_lo, &b_hi);
  for (int b = b_lo; b < b_hi; b++) {
    const int py0 = b * conv->band, py1 = MIN (j->PH, py0 + conv->band);
    const int oy0 = py0 * k, rows = MIN ((py1 - py0) * k, j->OH - oy0);
    const size_t ldm = (size_t) rows * OW;
    const PoolTarget pool = { k, j->y, j->PH, j->PW, py0, py1 - py0 };
    if (conv->algo == CONV_DIRECT) {
      fkp_nn_conv_direct_band (&j->direct, oy0, oy0 + rows, out_rows, ldm, oy0, &pool);
      continue;
    }
    /* 1×1, stride 1, unpadded: output row oy is input row oy, made here
     * by the pre conv if there is one */
    const float *B = j->x + (size_t) oy0 * j->W;
    size_t ldb = (size_t) j->H * j->W;
    if (conv->pre != NULL) {
      fkp_nn_conv_direct_band (&j->pre, oy0, oy0 + rows, pre_rows, (size_t) rows * j->W, oy0,
                               NULL);
      B = pre_rows;
      ldb = (size_t) rows * j->W;
    }
    /* a 2×2 pool taken by the GEMM's register tiles, which store only the
     * pooled values: no full-size rows written and read back */
    if (j->pool2_in_gemm) {
      fkp_sgemm_run_pool2 (conv->gemm[0], B, ldb, rows, OW, j->y + (size_t) py0 * j->PW,
                           (size_t) j->PH * j->PW, (size_t) j->PW, py1 - py0, j->PW, &epilogue,
                           sgemm_scratch);
      continue;
    }
    /* without a pool, the rows go straight to the output */
    float *C = conv->pool_k > 0 ? out_rows : j->y + (size_t) oy0 * OW;
    const size_t ldc = conv->pool_k > 0 ? ldm : (size_t) j->OH * OW;
    const FkpSgemmA *a = conv->gemm[0];
    fkp_sgemm_run (a, B, ldb, C, ldc, &epilogue, 0, a->n_panels, 0, (int) ldm, sgemm_scratch);
    for (int m = 0; m < j->M; m++) {
      if (!act_in_epilogue (j->act))
        fkp_nn_apply_activation (C + m * ldc, ldm, j->act);
      if (conv->pool_k > 0)
        fkp_nn_maxpool_tiles (C + m * ldc, rows, OW, k,
                              j->y + ((size_t) m * j->PH + py0) * j->PW, py1 - py0, j->PW);
    }
  }
}

void
fkp_nn_conv_run_banded (FkpNet *net, const Step *step)
{
  const ConvParams *conv = step->params;
  const Tensor *X = &net->tensors[step->inputs[0]], *Y = &net->tensors[step->output];
  BandedJob j = {
    .net = net, .conv = conv, .act = &step->act, .x = X->data, .y = Y->data,
    .M = (int) Y->shape.dims[1], .OH = conv->conv_h, .OW = conv->conv_w,
    .PH = (int) Y->shape.dims[2], .PW = (int) Y->shape.dims[3],
  };
  if (conv->pre != NULL) {
    const int C0 = (int) X->shape.dims[1], G0 = conv->pre->groups;
    j.C = conv->in_c;
    j.H = conv->in_h;
    j.W = conv->in_w;
    fkp_nn_conv_direct_job (&j.pre, conv->pre, &conv->pre_act, X->data, (int) X->shape.dims[2],
                            (int) X->shape.dims[3], NULL, j.C, j.H, j.W, C0 / G0, j.C / G0);
  } else {
    j.C = (int) X->shape.dims[1];
    j.H = (int) X->shape.dims[2];
    j.W = (int) X->shape.dims[3];
  }
  j.Cg = j.C / conv->groups;
  j.Mg = j.M / conv->groups;
  if (conv->algo == CONV_DIRECT)
    fkp_nn_conv_direct_job (&j.direct, conv, &step->act, j.x, j.H, j.W, NULL, j.M, j.OH, j.OW,
                            j.Cg, j.Mg);
  else
    j.pool2_in_gemm = conv->pool_k == 2 && act_in_epilogue (&step->act)
                      && fkp_sgemm_pool2_supported (conv->gemm[0]);
  const int n_bands = (j.PH + conv->band - 1) / conv->band;
  fkp_nn_parallel (net, step->macs >= CONV_SPLIT_MIN_MACS ? n_bands : 1, banded_part, &j);
}
