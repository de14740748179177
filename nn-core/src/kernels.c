/* Run-time kernels other than convolution.  Everything here was validated
 * at load: shapes fit, sizes are capped, pointers are planned. */
#include "nn-private.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

static inline float
activate (float v, const Activation *act)
{
  switch (act->kind) {
  case ACT_RELU: return v > 0.0f ? v : 0.0f;
  case ACT_LEAKY_RELU: return v >= 0.0f ? v : v * act->alpha;
  case ACT_SIGMOID: return 1.0f / (1.0f + expf (-v));
  case ACT_CLIP: return v < act->lo ? act->lo : v > act->hi ? act->hi : v;
  case ACT_TANH: return tanhf (v);
  default: return v;
  }
}

/* One loop per activation kind, so that each vectorises. */
FKP_SIMD static void
apply_activation (float *data, size_t n, const Activation *act)
{
  const float alpha = act->alpha, lo = act->lo, hi = act->hi;
  switch (act->kind) {
  case ACT_NONE:
    return;
  /* Written as arithmetic with unconditional stores: a select that keeps
   * the old value would become a conditional store, which does not
   * vectorise. */
  case ACT_RELU:
    for (size_t i = 0; i < n; i++) {
      const float v = data[i];
      data[i] = v > 0.0f ? v : 0.0f;
    }
    return;
  case ACT_LEAKY_RELU:
    for (size_t i = 0; i < n; i++) {
      const float v = data[i];
      const float pos = v > 0.0f ? v : 0.0f, neg = v < 0.0f ? v : 0.0f;
      data[i] = pos + alpha * neg;
    }
    return;
  case ACT_CLIP:
    for (size_t i = 0; i < n; i++) {
      const float v = data[i];
      const float above = v > lo ? v : lo;
      data[i] = above < hi ? above : hi;
    }
    return;
  default:
    for (size_t i = 0; i < n; i++)
      data[i] = activate (data[i], act);
  }
}

FKP_SIMD static void
apply_bias_activation (float *data, size_t channels, size_t stride, size_t plane,
                       const float *bias, const Activation *act)
{
  if (!bias && stride == plane) {
    apply_activation (data, channels * plane, act);
    return;
  }
  /* Bias in one pass, fused with the common activations. */
  for (size_t c = 0; c < channels; c++) {
    float *p = data + c * stride;
    if (!bias) {
      apply_activation (p, plane, act);
      continue;
    }
    const float b = bias[c];
    if (act->kind == ACT_RELU) {
      for (size_t i = 0; i < plane; i++) {
        const float v = p[i] + b;
        p[i] = v > 0.0f ? v : 0.0f;
      }
    } else if (act->kind == ACT_LEAKY_RELU) {
      const float alpha = act->alpha;
      for (size_t i = 0; i < plane; i++) {
        const float v = p[i] + b;
        p[i] = (v > 0.0f ? v : 0.0f) + alpha * (v < 0.0f ? v : 0.0f);
      }
    } else {
      for (size_t i = 0; i < plane; i++)
        p[i] += b;
      apply_activation (p, plane, act);
    }
  }
}

/* Plain entry points for conv.c: the SIMD clones stay file-local, which
 * keeps their ifunc resolvers out of the library's exported symbols. */
void
fkp_nn_apply_activation (float *data, size_t n, const Activation *act)
{
  apply_activation (data, n, act);
}

void
fkp_nn_apply_bias_activation (float *data, size_t channels, size_t plane, const float *bias,
                              const Activation *act)
{
  apply_bias_activation (data, channels, plane, plane, bias, act);
}

void
fkp_nn_apply_bias_activation_strided (float *data, size_t channels, size_t stride, size_t len,
                                      const float *bias, const Activation *act)
{
  apply_bias_activation (data, channels, stride, len, bias, act);
}

FKP_SIMD static void
run_batchnorm (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  for (size_t n = 0; n < s->outer; n++)
    for (size_t c = 0; c < s->extent; c++) {
      const float k = s->scale[c], b = s->shift[c];
      const float *src = x + (n * s->extent + c) * s->inner;
      float *dst = y + (n * s->extent + c) * s->inner;
      for (size_t i = 0; i < s->inner; i++)
        dst[i] = src[i] * k + b;
    }
  apply_activation (y, net->tensors[s->output].n_elements, &s->act);
}

static void
run_activation (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  size_t n = net->tensors[s->output].n_elements;
  for (size_t i = 0; i < n; i++)
    y[i] = activate (x[i], &s->act);
}

/* Max pooling is separable: first the max over each horizontal window of
 * every input row (read from a copy padded with -inf, so the loop has no
 * bounds checks and vectorises), then over the vertical windows. */
FKP_SIMD static void
maxpool_plane (const Step *s, const float *in, int H, int W, float *out, int OH, int OW,
               float *scratch)
{
  const int row_len = (OW - 1) * s->sw + (s->kw - 1) * s->dw + 1;
  float *row = scratch, *hmax = scratch + row_len, *pooled = scratch + 2 * row_len;
  for (int i = 0; i < row_len; i++)
    row[i] = -INFINITY;
  const int copy_from = MAX (0, -s->pad_left), copy_to = MIN (W, row_len - s->pad_left);
  for (int y = 0; y < H; y++) {
    const float *src = in + (size_t) y * W;
    for (int x = copy_from; x < copy_to; x++)
      row[x + s->pad_left] = src[x];
    float *dst = pooled + (size_t) y * OW;
    if (s->sw == 1) {
      for (int ox = 0; ox < OW; ox++)
        dst[ox] = row[ox];
      for (int kx = 1; kx < s->kw; kx++) {
        const float *r = row + kx * s->dw;
        for (int ox = 0; ox < OW; ox++) {
          const float v = r[ox], d = dst[ox];
          dst[ox] = v > d ? v : d;
        }
      }
    } else {
      /* Strided: the window max at every position, in place in the padded
       * row (contiguous, so it vectorises), then every sw-th of them. */
      const int full = row_len - (s->kw - 1) * s->dw;
      memcpy (hmax, row, (size_t) full * sizeof (float));
      for (int kx = 1; kx < s->kw; kx++) {
        const float *r = row + kx * s->dw;
        for (int i = 0; i < full; i++) {
          const float v = r[i], d = hmax[i];
          hmax[i] = v > d ? v : d;
        }
      }
      for (int ox = 0; ox < OW; ox++)
        dst[ox] = hmax[ox * s->sw];
    }
  }
  for (int oy = 0; oy < OH; oy++) {
    float *dst = out + (size_t) oy * OW;
    for (int ox = 0; ox < OW; ox++)
      dst[ox] = -INFINITY;
    for (int ky = 0; ky < s->kh; ky++) {
      const int iy = oy * s->sh - s->pad_top + ky * s->dh;
      if (iy < 0 || iy >= H)
        continue;
      const float *r = pooled + (size_t) iy * OW;
      for (int ox = 0; ox < OW; ox++) {
        const float v = r[ox], d = dst[ox];
        dst[ox] = v > d ? v : d;
      }
    }
  }
}

/* Max pooling over whole planes at once, for the common geometry (no
 * dilation, each window overlapping the input): the window max at every
 * input position is computed with passes over the flat array of a chunk of
 * planes, one pass per tap, which vectorise however small the planes are;
 * positions whose window crosses a row or plane edge are then redone with
 * bounds checks, and strided pooling keeps every sh-th row and sw-th column. */
#define FLAT_POOL_CHUNK 65536

static gboolean
maxpool_flat_fits (const Step *s, int H, int W, int OH, int OW)
{
  return s->dh == 1 && s->dw == 1 && s->pad_top < s->kh && s->pad_left < s->kw
         && (int64_t) (OH - 1) * s->sh < H && (int64_t) (OW - 1) * s->sw < W;
}

/* Always inlined into the SIMD clones (see direct_point in conv.c). */
static inline __attribute__ ((always_inline)) float
window_max_checked (const float *plane, int H, int W, int y0, int y1, int x0, int x1)
{
  float m = -INFINITY;
  for (int y = MAX (y0, 0); y < MIN (y1, H); y++)
    for (int x = MAX (x0, 0); x < MIN (x1, W); x++)
      m = plane[(size_t) y * W + x] > m ? plane[(size_t) y * W + x] : m;
  return m;
}

FKP_SIMD static void
maxpool_flat (const Step *s, const float *in, size_t planes, int H, int W, float *out, int OH,
              int OW, float *scratch)
{
  const int left = s->pad_left, right = s->kw - 1 - s->pad_left;
  const int top = s->pad_top, bottom = s->kh - 1 - s->pad_top;
  const size_t plane = (size_t) H * W;
  const size_t chunk = MAX ((size_t) 1, FLAT_POOL_CHUNK / plane);
  const gboolean direct = s->sh == 1 && s->sw == 1 && OH == H && OW == W;
  float *hm = scratch, *full = scratch + chunk * plane;
  for (size_t p0 = 0; p0 < planes; p0 += chunk) {
    const size_t np = MIN (chunk, planes - p0), n = np * plane;
    const float *x = in + p0 * plane;
    float *f = direct ? out + p0 * plane : full;
    /* Horizontal: hm[i] = max of x[i - left .. i + right]. */
    const size_t h0 = (size_t) left, h1 = n > (size_t) right ? n - right : 0;
    for (size_t i = h0; i < h1; i++)
      hm[i] = x[i - left];
    for (int d = -left + 1; d <= right; d++)
      for (size_t i = h0; i < h1; i++) {
        const float v = x[i + d], m = hm[i];
        hm[i] = v > m ? v : m;
      }
    for (size_t r = 0; r < np * H; r++) {
      const float *row = x + r * W;
      float *hrow = hm + r * W;
      for (int c = 0; c < MIN (left, W); c++)
        hrow[c] = window_max_checked (row, 1, W, 0, 1, c - left, c + right + 1);
      for (int c = MAX (W - right, 0); c < W; c++)
        hrow[c] = window_max_checked (row, 1, W, 0, 1, c - left, c + right + 1);
    }
    /* Vertical: f[i] = max of hm[i - top·W .. i + bottom·W]. */
    const size_t v0 = (size_t) top * W, v1 = n > (size_t) bottom * W ? n - (size_t) bottom * W : 0;
    for (size_t i = v0; i < v1; i++)
      f[i] = hm[i - v0];
    for (int d = -top + 1; d <= bottom; d++) {
      const ptrdiff_t off = (ptrdiff_t) d * W;
      for (size_t i = v0; i < v1; i++) {
        const float v = hm[i + off], m = f[i];
        f[i] = v > m ? v : m;
      }
    }
    for (size_t p = 0; p < np; p++) {
      const float *hp = hm + p * plane;
      float *fp = f + p * plane;
      for (int y = 0; y < H; y++) {
        if (y >= top && y < H - bottom)
          continue;
        for (int c = 0; c < W; c++)
          fp[(size_t) y * W + c] = window_max_checked (hp, H, W, y - top, y + bottom + 1, c, c + 1);
      }
    }
    if (!direct)
      for (size_t p = 0; p < np; p++)
        for (int oy = 0; oy < OH; oy++) {
          const float *src = full + p * plane + (size_t) oy * s->sh * W;
          float *dst = out + (p0 + p) * OH * OW + (size_t) oy * OW;
          for (int ox = 0; ox < OW; ox++)
            dst[ox] = src[ox * s->sw];
        }
  }
}

/* A pooling step shared out among the net's threads by planes. */
typedef struct {
  FkpNet *net;
  const Step *s;
  const float *x;
  float *y;
  int H, W, OH, OW;
  size_t planes;
} PoolJob;

/* A share of the planes, in the part's own scratch area (the Inception
 * blocks' 3×3/1 pooling branch). */
static void
maxpool_flat_part (void *ctx, int part, int n_parts)
{
  const PoolJob *j = ctx;
  int lo, hi;
  fkp_nn_split ((int) j->planes, part, n_parts, 1, &lo, &hi);
  if (hi > lo)
    maxpool_flat (j->s, j->x + (size_t) lo * j->H * j->W, (size_t) (hi - lo), j->H, j->W,
                  j->y + (size_t) lo * j->OH * j->OW, j->OH, j->OW,
                  j->net->scratch + (size_t) part * j->net->scratch_floats);
}

/* Strided max pooling (GoogLeNet's 3×3/2, tiny-YOLO's 2×2/2) computing only
 * the outputs: for each output row the vertical max of its kh input rows (contiguous, so it
 * vectorises) into a row buffer padded with -inf, then the horizontal max
 * of each window at the stride.  The flat path would compute the window max
 * at every input position, sh·sw times the outputs.  Planes are shared out
 * among the net's threads. */
#define STRIDED_POOL_MAX_ROW 4096

static gboolean
maxpool_strided_fits (const Step *s, int W, int OW)
{
  const int row_len = (OW - 1) * s->sw + (s->kw - 1) * s->dw + 1;
  return (s->sh > 1 || s->sw > 1) && s->pad_left >= 0 && row_len <= STRIDED_POOL_MAX_ROW
         && W + s->pad_left <= STRIDED_POOL_MAX_ROW;
}

FKP_SIMD static void
maxpool_strided_part (void *ctx, int part, int n_parts)
{
  const PoolJob *j = ctx;
  const Step *s = j->s;
  const int H = j->H, W = j->W, OH = j->OH, OW = j->OW;
  const int row_len = (OW - 1) * s->sw + (s->kw - 1) * s->dw + 1;
  float row[STRIDED_POOL_MAX_ROW];
  int lo, hi;
  fkp_nn_split ((int) j->planes, part, n_parts, 1, &lo, &hi);
  for (int i = 0; i < row_len; i++)
    row[i] = -INFINITY;
  /* Input columns [0, W) land at [pad_left, pad_left + W); only those that
   * some window reaches matter. */
  const int copy_to = MIN (W, row_len - s->pad_left);
  for (int p = lo; p < hi; p++) {
    const float *plane = j->x + (size_t) p * H * W;
    float *out = j->y + (size_t) p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      float *v = row + s->pad_left;
      int first = 1;
      for (int ky = 0; ky < s->kh; ky++) {
        const int iy = oy * s->sh - s->pad_top + ky * s->dh;
        if (iy < 0 || iy >= H)
          continue;
        const float *src = plane + (size_t) iy * W;
        if (first) {
          memcpy (v, src, (size_t) copy_to * sizeof (float));
          first = 0;
        } else {
          for (int x = 0; x < copy_to; x++)
            v[x] = src[x] > v[x] ? src[x] : v[x];
        }
      }
      float *dst = out + (size_t) oy * OW;
      if (first) {   /* no input row in the window: as the other paths, -inf */
        for (int ox = 0; ox < OW; ox++)
          dst[ox] = -INFINITY;
        continue;
      }
      for (int ox = 0; ox < OW; ox++) {
        const float *w = row + ox * s->sw;
        float m = w[0];
        for (int kx = 1; kx < s->kw; kx++)
          m = w[kx * s->dw] > m ? w[kx * s->dw] : m;
        dst[ox] = m;
      }
    }
  }
}

FKP_SIMD static void
run_pool (FkpNet *net, const Step *s)
{
  const Tensor *X = &net->tensors[s->inputs[0]], *Y = &net->tensors[s->output];
  const float *x = X->data;
  float *y = Y->data;
  const int H = (int) X->shape.dims[2], W = (int) X->shape.dims[3];
  const int OH = (int) Y->shape.dims[2], OW = (int) Y->shape.dims[3];
  const size_t planes = (size_t) (X->shape.dims[0] * X->shape.dims[1]);
  const gboolean is_max = s->op == OP_MAXPOOL;
  if (is_max && maxpool_strided_fits (s, W, OW)) {
    PoolJob j = { net, s, x, y, H, W, OH, OW, planes };
    const size_t work = planes * (size_t) OH * OW * s->kh * s->kw;
    fkp_nn_parallel (net, work >= 64 * 1024 ? (int) MIN (planes, 64) : 1, maxpool_strided_part, &j);
    return;
  }
  if (is_max && maxpool_flat_fits (s, H, W, OH, OW)) {
    PoolJob j = { net, s, x, y, H, W, OH, OW, planes };
    const size_t work = planes * (size_t) H * W * s->kh * s->kw;
    fkp_nn_parallel (net, work >= 64 * 1024 ? (int) MIN (planes, 64) : 1, maxpool_flat_part, &j);
    return;
  }
  if (is_max) {
    for (size_t p = 0; p < planes; p++)
      maxpool_plane (s, x + p * H * W, H, W, y + p * OH * OW, OH, OW, net->scratch);
    return;
  }
  for (size_t p = 0; p < planes; p++) {
    const float *in = x + p * H * W;
    float *out = y + p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      const int y0 = oy * s->sh - s->pad_top;
      for (int ox = 0; ox < OW; ox++) {
        const int x0 = ox * s->sw - s->pad_left;
        float acc = is_max ? -INFINITY : 0.0f;
        int count = 0;
        for (int ky = 0; ky < s->kh; ky++) {
          const int iy = y0 + ky * s->dh;
          if (iy < 0 || iy >= H)
            continue;
          for (int kx = 0; kx < s->kw; kx++) {
            const int ix = x0 + kx * s->dw;
            if (ix < 0 || ix >= W)
              continue;
            const float v = in[iy * W + ix];
            if (is_max)
              acc = v > acc ? v : acc;
            else
              acc += v;
            count++;
          }
        }
        if (!is_max) {
          if (s->count_include_pad) {
            /* Window clipped to the padded input, as PyTorch and ONNX Runtime do. */
            int ye = MIN (y0 + s->kh, H + s->pad_bottom), xe = MIN (x0 + s->kw, W + s->pad_right);
            count = (ye - y0) * (xe - x0);
          }
          acc = count > 0 ? acc / (float) count : 0.0f;
        }
        out[oy * OW + ox] = acc;
      }
    }
  }
}

FKP_SIMD static void
run_global_pool (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  for (size_t p = 0; p < s->outer; p++) {
    const float *in = x + p * s->inner;
    if (s->op == OP_GLOBAL_MAXPOOL) {
      float m = -INFINITY;
      for (size_t i = 0; i < s->inner; i++)
        m = in[i] > m ? in[i] : m;
      y[p] = m;
    } else {
      double sum = 0.0;
      for (size_t i = 0; i < s->inner; i++)
        sum += in[i];
      y[p] = s->inner ? (float) (sum / (double) s->inner) : 0.0f;
    }
  }
}

static void
run_concat (FkpNet *net, const Step *s)
{
  float *y = tensor_data (net, s->output);
  for (size_t o = 0; o < s->outer; o++)
    for (int k = 0; k < s->n_concat_inputs; k++) {
      const Tensor *in = &net->tensors[s->concat_inputs[k]];
      size_t chunk = s->outer ? in->n_elements / s->outer : 0;
      memcpy (y, in->data + o * chunk, chunk * sizeof (float));
      y += chunk;
    }
}

#define BINARY_LOOP(expr)                                                   \
  do {                                                                      \
    if (sa == 1 && sb == 1)                                                 \
      for (size_t i = 0; i < n; i++) { float a = pa[i], b = pb[i]; out[i] = (expr); } \
    else if (sa == 1 && sb == 0)                                            \
      for (size_t i = 0; i < n; i++) { float a = pa[i], b = pb[0]; out[i] = (expr); } \
    else if (sa == 0 && sb == 1)                                            \
      for (size_t i = 0; i < n; i++) { float a = pa[0], b = pb[i]; out[i] = (expr); } \
    else                                                                    \
      for (size_t i = 0; i < n; i++) { float a = pa[i * sa], b = pb[i * sb]; out[i] = (expr); } \
  } while (0)

FKP_SIMD static void
run_binary (FkpNet *net, const Step *s)
{
  const float *a_data = tensor_data (net, s->inputs[0]);
  const float *b_data = tensor_data (net, s->inputs[1]);
  float *y = tensor_data (net, s->output);
  const int r = s->bc_rank;
  const size_t n = (size_t) s->bc_dims[r - 1];
  const size_t sa = (size_t) s->bc_stride_a[r - 1], sb = (size_t) s->bc_stride_b[r - 1];
  size_t rows = 1;
  for (int d = 0; d < r - 1; d++)
    rows *= (size_t) s->bc_dims[d];
  int64_t index[FKP_NN_MAX_RANK] = { 0 };
  size_t oa = 0, ob = 0;
  for (size_t row = 0; row < rows; row++) {
    const float *pa = a_data + oa, *pb = b_data + ob;
    float *out = y + row * n;
    switch (s->binary) {
    case BIN_ADD: BINARY_LOOP (a + b); break;
    case BIN_SUB: BINARY_LOOP (a - b); break;
    case BIN_MUL: BINARY_LOOP (a * b); break;
    case BIN_DIV: BINARY_LOOP (a / b); break;
    }
    for (int d = r - 2; d >= 0; d--) {
      oa += (size_t) s->bc_stride_a[d];
      ob += (size_t) s->bc_stride_b[d];
      if (++index[d] < s->bc_dims[d])
        break;
      oa -= (size_t) (s->bc_stride_a[d] * s->bc_dims[d]);
      ob -= (size_t) (s->bc_stride_b[d] * s->bc_dims[d]);
      index[d] = 0;
    }
  }
  apply_activation (y, net->tensors[s->output].n_elements, &s->act);
}

FKP_SIMD static void
run_reduce (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const size_t ext = s->extent, inn = s->inner;
  for (size_t o = 0; o < s->outer; o++) {
    const float *in = x + o * ext * inn;
    float *out = y + o * inn;
    /* Walk the reduced axis in the outer loop so the inner loop is contiguous. */
    memcpy (out, in, inn * sizeof (float));
    for (size_t e = 1; e < ext; e++) {
      const float *row = in + e * inn;
      switch (s->reduce) {
      case RED_MEAN: case RED_SUM:
        for (size_t i = 0; i < inn; i++) out[i] += row[i];
        break;
      case RED_MAX:
        for (size_t i = 0; i < inn; i++) out[i] = row[i] > out[i] ? row[i] : out[i];
        break;
      case RED_MIN:
        for (size_t i = 0; i < inn; i++) out[i] = row[i] < out[i] ? row[i] : out[i];
        break;
      }
    }
    if (s->reduce == RED_MEAN) {
      const float k = 1.0f / (float) ext;
      for (size_t i = 0; i < inn; i++)
        out[i] *= k;
    }
  }
}

FKP_SIMD static void
run_argmax (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const size_t ext = s->extent, inn = s->inner;
  for (size_t o = 0; o < s->outer; o++) {
    const float *in = x + o * ext * inn;
    float *out = y + o * inn;
    /* `out` holds the index, the running maximum lives in a second pass
     * over `in`: keep a small stack buffer of maxima per chunk. */
    for (size_t i0 = 0; i0 < inn; i0 += 256) {
      float best[256];
      const size_t len = MIN ((size_t) 256, inn - i0);
      for (size_t i = 0; i < len; i++) {
        best[i] = in[i0 + i];
        out[i0 + i] = 0.0f;
      }
      /* Branch-free selects, so the loop vectorises. */
      float *index = out + i0;
      for (size_t e = 1; e < ext; e++) {
        const float *row = in + e * inn + i0;
        const float fe = (float) e;
        if (s->select_last) {
          for (size_t i = 0; i < len; i++) {
            const int take = row[i] >= best[i];
            best[i] = take ? row[i] : best[i];
            index[i] = take ? fe : index[i];
          }
        } else {
          for (size_t i = 0; i < len; i++) {
            const int take = row[i] > best[i];
            best[i] = take ? row[i] : best[i];
            index[i] = take ? fe : index[i];
          }
        }
      }
    }
  }
}

static void
run_gemm (FkpNet *net, const Step *s)
{
  const float *a = tensor_data (net, s->inputs[0]);
  const float *b = tensor_data (net, s->inputs[1]);
  float *y = tensor_data (net, s->output);
  const int M = s->gemm_m, N = s->gemm_n, K = s->gemm_k;
  if (M == 1 && !s->trans_a) {
    /* One row: a matrix-vector product is much cheaper than sgemm's packing. */
    if (s->trans_b)
      cblas_sgemv (CblasRowMajor, CblasNoTrans, N, K, s->alpha, b, K, a, 1, 0.0f, y, 1);
    else
      cblas_sgemv (CblasRowMajor, CblasTrans, K, N, s->alpha, b, N, a, 1, 0.0f, y, 1);
  } else {
    cblas_sgemm (CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans,
                 s->trans_b ? CblasTrans : CblasNoTrans, M, N, K, s->alpha, a,
                 s->trans_a ? M : K, b, s->trans_b ? K : N, 0.0f, y, N);
  }
  const size_t n = (size_t) M * N;
  if (s->bias)
    for (size_t i = 0; i < n; i++)
      y[i] += s->bias[i];
  apply_activation (y, n, &s->act);
}

static void
run_matmul (FkpNet *net, const Step *s)
{
  const float *a = tensor_data (net, s->inputs[0]);
  const float *b = tensor_data (net, s->inputs[1]);
  float *y = tensor_data (net, s->output);
  const int M = s->gemm_m, N = s->gemm_n, K = s->gemm_k;
  for (size_t i = 0; i < s->batch; i++) {
    const float *ai = a + i * s->a_batch_stride, *bi = b + i * s->b_batch_stride;
    float *yi = y + i * (size_t) M * N;
    if (N == 1)
      cblas_sgemv (CblasRowMajor, CblasNoTrans, M, K, 1.0f, ai, K, bi, 1, 0.0f, yi, 1);
    else if (M == 1)
      cblas_sgemv (CblasRowMajor, CblasTrans, K, N, 1.0f, bi, N, ai, 1, 0.0f, yi, 1);
    else
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, ai, K, bi, N, 0.0f,
                   yi, N);
  }
  apply_activation (y, net->tensors[s->output].n_elements, &s->act);
}

static void
run_softmax (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const size_t ext = s->extent, inn = s->inner;
  for (size_t o = 0; o < s->outer; o++)
    for (size_t i = 0; i < inn; i++) {
      const float *in = x + o * ext * inn + i;
      float *out = y + o * ext * inn + i;
      float m = -INFINITY;
      for (size_t e = 0; e < ext; e++)
        m = in[e * inn] > m ? in[e * inn] : m;
      double sum = 0.0;
      for (size_t e = 0; e < ext; e++) {
        out[e * inn] = expf (in[e * inn] - m);
        sum += out[e * inn];
      }
      const float k = (float) (1.0 / sum);
      for (size_t e = 0; e < ext; e++)
        out[e * inn] *= k;
    }
}

static void
run_copy (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const int r = s->copy_rank;
  if (r == 0) {
    y[0] = x[s->copy_base];
    return;
  }
  const int64_t n = s->copy_dims[r - 1], st = s->copy_stride[r - 1];
  size_t rows = 1;
  for (int d = 0; d < r - 1; d++)
    rows *= (size_t) s->copy_dims[d];
  int64_t index[FKP_NN_MAX_RANK] = { 0 };
  int64_t offset = s->copy_base;
  for (size_t row = 0; row < rows; row++) {
    float *out = y + row * (size_t) n;
    for (int64_t i = 0; i < n; i++)
      out[i] = x[offset + i * st];
    for (int d = r - 2; d >= 0; d--) {
      offset += s->copy_stride[d];
      if (++index[d] < s->copy_dims[d])
        break;
      offset -= s->copy_stride[d] * s->copy_dims[d];
      index[d] = 0;
    }
  }
}

static void
run_pad (FkpNet *net, const Step *s)
{
  const Tensor *X = &net->tensors[s->inputs[0]], *Y = &net->tensors[s->output];
  const float *x = X->data;
  float *y = Y->data;
  const int r = Y->shape.rank;
  for (size_t i = 0; i < Y->n_elements; i++)
    y[i] = s->pad_value;
  if (X->n_elements == 0)
    return;
  if (r == 0) {
    y[0] = x[0];
    return;
  }
  /* Copy input rows to their place inside the output. */
  int64_t out_stride[FKP_NN_MAX_RANK], acc = 1;
  for (int d = r - 1; d >= 0; d--) {
    out_stride[d] = acc;
    acc *= Y->shape.dims[d];
  }
  const int64_t n = X->shape.dims[r - 1];
  size_t rows = X->n_elements / (size_t) n;
  int64_t index[FKP_NN_MAX_RANK] = { 0 };
  for (size_t row = 0; row < rows; row++) {
    int64_t offset = 0;
    for (int d = 0; d < r; d++)
      offset += (index[d] + s->pad_begin[d]) * out_stride[d];
    memcpy (y + offset, x + row * n, (size_t) n * sizeof (float));
    for (int d = r - 2; d >= 0; d--) {
      if (++index[d] < X->shape.dims[d])
        break;
      index[d] = 0;
    }
  }
}

/* Resize of the last two dims: each output pixel mixes the (up to) four
 * source pixels chosen at load time. */
FKP_SIMD static void
run_resize (FkpNet *net, const Step *s)
{
  const Tensor *X = &net->tensors[s->inputs[0]], *Y = &net->tensors[s->output];
  const float *x = X->data;
  float *y = Y->data;
  const int H = (int) X->shape.dims[2], W = (int) X->shape.dims[3];
  const int OH = (int) Y->shape.dims[2], OW = (int) Y->shape.dims[3];
  const size_t planes = (size_t) (X->shape.dims[0] * X->shape.dims[1]);
  for (size_t p = 0; p < planes; p++) {
    const float *in = x + p * H * W;
    float *out = y + p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      const float *r0 = in + (size_t) s->resize_y0[oy] * W, *r1 = in + (size_t) s->resize_y1[oy] * W;
      const float fy = s->resize_fy[oy];
      float *dst = out + (size_t) oy * OW;
      for (int ox = 0; ox < OW; ox++) {
        const int x0 = s->resize_x0[ox], x1 = s->resize_x1[ox];
        const float fx = s->resize_fx[ox];
        const float top = r0[x0] + (r0[x1] - r0[x0]) * fx;
        const float bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
        dst[ox] = top + (bottom - top) * fy;
      }
    }
  }
}

void
fkp_nn_run_step (FkpNet *net, const Step *s)
{
  switch (s->op) {
  case OP_CONV: fkp_nn_conv (net, s); break;
  case OP_BATCHNORM: run_batchnorm (net, s); break;
  case OP_ACT: run_activation (net, s); break;
  case OP_MAXPOOL: case OP_AVGPOOL: run_pool (net, s); break;
  case OP_GLOBAL_AVGPOOL: case OP_GLOBAL_MAXPOOL: run_global_pool (net, s); break;
  case OP_CONCAT: run_concat (net, s); break;
  case OP_BINARY: run_binary (net, s); break;
  case OP_REDUCE: run_reduce (net, s); break;
  case OP_ARGMAX: run_argmax (net, s); break;
  case OP_GEMM: run_gemm (net, s); break;
  case OP_MATMUL: run_matmul (net, s); break;
  case OP_SOFTMAX: run_softmax (net, s); break;
  case OP_COPY: case OP_TRANSPOSE: case OP_SLICE: run_copy (net, s); break;
  case OP_PAD: run_pad (net, s); break;
  case OP_RESIZE: run_resize (net, s); break;
  }
}
