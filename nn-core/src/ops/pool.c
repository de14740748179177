/* Pooling: MaxPool and AveragePool over kernel windows, GlobalMaxPool
 * and GlobalAveragePool over whole planes. */
#include "load/loader.h"

#include <math.h>

typedef struct {
  gboolean is_max;                  /* MaxPool, else AveragePool */
  int kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right;
  gboolean count_include_pad;       /* AveragePool divides by the padded window */
  /* Fused at load (load/fuse.c), strided MaxPool only: the input multiplied
   * by a one-channel map, inputs[1] (N×1×H×W: the attention module's
   * x · sigmoid(...)), and a per-channel affine after the max (a following
   * BatchNormalization).  Each saves a pass over the map in memory, and a
   * step the threads would have to meet for. */
  gboolean prescaled;
  int channels;                     /* C of the N×C planes, for both */
  float *post_scale, *post_shift;   /* owned; NULL: none */
} PoolParams;

typedef struct {
  gboolean is_max;
  size_t outer, inner;              /* planes, and elements per plane */
} GlobalPoolParams;

/* ---- MaxPool, AveragePool ------------------------------------------------ */

/* Max pooling is separable: first the max over each horizontal window of
 * every input row (read from a copy padded with -inf, so the loop has no
 * bounds checks and vectorises), then over the vertical windows. */
FKP_SIMD static void
maxpool_plane (const PoolParams *pool, const float *in, int H, int W, float *out, int OH, int OW,
               float *scratch)
{
  const int row_len = (OW - 1) * pool->sw + (pool->kw - 1) * pool->dw + 1;
  float *row = scratch, *hmax = scratch + row_len, *pooled = scratch + 2 * row_len;
  for (int i = 0; i < row_len; i++)
    row[i] = -INFINITY;
  const int copy_from = MAX (0, -pool->pad_left), copy_to = MIN (W, row_len - pool->pad_left);
  for (int y = 0; y < H; y++) {
    const float *src = in + (size_t) y * W;
    for (int x = copy_from; x < copy_to; x++)
      row[x + pool->pad_left] = src[x];
    float *dst = pooled + (size_t) y * OW;
    if (pool->sw == 1) {
      for (int ox = 0; ox < OW; ox++)
        dst[ox] = row[ox];
      for (int kx = 1; kx < pool->kw; kx++) {
        const float *r = row + kx * pool->dw;
        for (int ox = 0; ox < OW; ox++) {
          const float v = r[ox], d = dst[ox];
          dst[ox] = v > d ? v : d;
        }
      }
    } else {
      /* Strided: the window max at every position, in place in the padded
       * row (contiguous, so it vectorises), then every sw-th of them. */
      const int full = row_len - (pool->kw - 1) * pool->dw;
      memcpy (hmax, row, (size_t) full * sizeof (float));
      for (int kx = 1; kx < pool->kw; kx++) {
        const float *r = row + kx * pool->dw;
        for (int i = 0; i < full; i++) {
          const float v = r[i], d = hmax[i];
          hmax[i] = v > d ? v : d;
        }
      }
      for (int ox = 0; ox < OW; ox++)
        dst[ox] = hmax[ox * pool->sw];
    }
  }
  for (int oy = 0; oy < OH; oy++) {
    float *dst = out + (size_t) oy * OW;
    for (int ox = 0; ox < OW; ox++)
      dst[ox] = -INFINITY;
    for (int ky = 0; ky < pool->kh; ky++) {
      const int iy = oy * pool->sh - pool->pad_top + ky * pool->dh;
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
maxpool_flat_fits (const PoolParams *pool, int H, int W, int OH, int OW)
{
  return pool->dh == 1 && pool->dw == 1 && pool->pad_top < pool->kh && pool->pad_left < pool->kw
         && (int64_t) (OH - 1) * pool->sh < H && (int64_t) (OW - 1) * pool->sw < W;
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
maxpool_flat (const PoolParams *pool, const float *in, size_t planes, int H, int W, float *out,
              int OH, int OW, float *scratch)
{
  const int left = pool->pad_left, right = pool->kw - 1 - pool->pad_left;
  const int top = pool->pad_top, bottom = pool->kh - 1 - pool->pad_top;
  const size_t plane = (size_t) H * W;
  const size_t chunk = MAX ((size_t) 1, FLAT_POOL_CHUNK / plane);
  const gboolean direct = pool->sh == 1 && pool->sw == 1 && OH == H && OW == W;
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
    /* The columns whose window crosses an end of its row.  The 3×3 / pad 1
     * of the Inception blocks' pool branch gets its own two-value max: on
     * their 7×7 and 4×4 maps these are 2 of every 7 or 4 columns, and the
     * general loop took most of the op's time. */
    for (size_t r = 0; r < np * H; r++) {
      const float *row = x + r * W;
      float *hrow = hm + r * W;
      if (left == 1 && right == 1 && W >= 2) {
        hrow[0] = row[1] > row[0] ? row[1] : row[0];
        hrow[W - 1] = row[W - 1] > row[W - 2] ? row[W - 1] : row[W - 2];
        continue;
      }
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
    /* The rows whose window crosses an end of its plane: the max of the
     * rows inside, a whole row at a time. */
    for (size_t p = 0; p < np; p++) {
      const float *hp = hm + p * plane;
      float *fp = f + p * plane;
      for (int y = 0; y < H; y++) {
        if (y >= top && y < H - bottom)
          continue;
        float *dst = fp + (size_t) y * W;
        const int y0 = MAX (y - top, 0), y1 = MIN (y + bottom + 1, H);
        memcpy (dst, hp + (size_t) y0 * W, (size_t) W * sizeof (float));
        for (int iy = y0 + 1; iy < y1; iy++) {
          const float *src = hp + (size_t) iy * W;
          for (int c = 0; c < W; c++)
            dst[c] = src[c] > dst[c] ? src[c] : dst[c];
        }
      }
    }
    if (!direct)
      for (size_t p = 0; p < np; p++)
        for (int oy = 0; oy < OH; oy++) {
          const float *src = full + p * plane + (size_t) oy * pool->sh * W;
          float *dst = out + (p0 + p) * OH * OW + (size_t) oy * OW;
          for (int ox = 0; ox < OW; ox++)
            dst[ox] = src[ox * pool->sw];
        }
  }
}

/* A pooling step shared out among the net's threads by planes. */
typedef struct {
  FkpNet *net;
  const PoolParams *pool;
  const float *x;
  float *y;
  int H, W, OH, OW;
  size_t planes;
  const float *map;                 /* the prescaled pool's N×1×H×W map, else NULL */
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
    maxpool_flat (j->pool, j->x + (size_t) lo * j->H * j->W, (size_t) (hi - lo), j->H, j->W,
                  j->y + (size_t) lo * j->OH * j->OW, j->OH, j->OW,
                  fkp_nn_scratch (j->net, part));
}

/* Strided max pooling (GoogLeNet's 3×3/2, tiny-YOLO's 2×2/2) computing only
 * the outputs: for each output row the vertical max of its kh input rows (contiguous, so it
 * vectorises) into a row buffer padded with -inf, then the horizontal max
 * of each window at the stride.  The flat path would compute the window max
 * at every input position, sh·sw times the outputs.  Planes are shared out
 * among the net's threads. */
#define STRIDED_POOL_MAX_ROW 4096

static gboolean
maxpool_strided_fits (const PoolParams *pool, int W, int OW)
{
  const int row_len = (OW - 1) * pool->sw + (pool->kw - 1) * pool->dw + 1;
  return (pool->sh > 1 || pool->sw > 1) && pool->pad_left >= 0 && row_len <= STRIDED_POOL_MAX_ROW
         && W + pool->pad_left <= STRIDED_POOL_MAX_ROW;
}

FKP_SIMD static void
maxpool_strided_part (void *ctx, int part, int n_parts)
{
  const PoolJob *j = ctx;
  const PoolParams *pool = j->pool;
  const int H = j->H, W = j->W, OH = j->OH, OW = j->OW;
  const int row_len = (OW - 1) * pool->sw + (pool->kw - 1) * pool->dw + 1;
  float row[STRIDED_POOL_MAX_ROW];
  int lo, hi;
  fkp_nn_split ((int) j->planes, part, n_parts, 1, &lo, &hi);
  for (int i = 0; i < row_len; i++)
    row[i] = -INFINITY;
  /* Input columns [0, W) land at [pad_left, pad_left + W); only those that
   * some window reaches matter. */
  const int copy_to = MIN (W, row_len - pool->pad_left);
  for (int p = lo; p < hi; p++) {
    const float *plane = j->x + (size_t) p * H * W;
    const float *map = j->map ? j->map + (size_t) (p / pool->channels) * H * W : NULL;
    float *out = j->y + (size_t) p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      float *v = row + pool->pad_left;
      int first = 1;
      for (int ky = 0; ky < pool->kh; ky++) {
        const int iy = oy * pool->sh - pool->pad_top + ky * pool->dh;
        if (iy < 0 || iy >= H)
          continue;
        const float *src = plane + (size_t) iy * W;
        if (map != NULL) {
          const float *m = map + (size_t) iy * W;
          if (first) {
            for (int x = 0; x < copy_to; x++)
              v[x] = src[x] * m[x];
            first = 0;
          } else {
            for (int x = 0; x < copy_to; x++) {
              const float s = src[x] * m[x];
              v[x] = s > v[x] ? s : v[x];
            }
          }
        } else if (first) {
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
      /* The common windows with constant strides, which the compiler
       * vectorises (even and odd columns apart); the general loop stays
       * scalar and took most of the detector's 2×2/2 pooling. */
      if (pool->sw == 2 && pool->dw == 1 && pool->kw == 2) {
        for (int ox = 0; ox < OW; ox++) {
          const float a = row[2 * ox], b = row[2 * ox + 1];
          dst[ox] = a > b ? a : b;
        }
      } else if (pool->sw == 2 && pool->dw == 1 && pool->kw == 3) {
        for (int ox = 0; ox < OW; ox++) {
          const float a = row[2 * ox], b = row[2 * ox + 1], c = row[2 * ox + 2];
          const float m = a > b ? a : b;
          dst[ox] = c > m ? c : m;
        }
      } else {
        for (int ox = 0; ox < OW; ox++) {
          const float *w = row + ox * pool->sw;
          float m = w[0];
          for (int kx = 1; kx < pool->kw; kx++)
            m = w[kx * pool->dw] > m ? w[kx * pool->dw] : m;
          dst[ox] = m;
        }
      }
    }
    if (pool->post_scale != NULL) {
      const float k = pool->post_scale[p % pool->channels], b = pool->post_shift[p % pool->channels];
      for (int i = 0; i < OH * OW; i++)
        out[i] = out[i] * k + b;
    }
  }
}

FKP_SIMD static void
run_pool (FkpNet *net, const Step *s)
{
  const PoolParams *pool = s->params;
  const FkpNnPlanes v = fkp_nn_planes (net, s);
  const float *x = v.x;
  float *y = v.y;
  const int H = v.H, W = v.W, OH = v.OH, OW = v.OW;
  const size_t planes = v.planes;
  const gboolean is_max = pool->is_max;
  if (is_max && maxpool_strided_fits (pool, W, OW)) {
    PoolJob j = { net, pool, x, y, H, W, OH, OW, planes,
                  pool->prescaled ? tensor_data (net, s->inputs[1]) : NULL };
    const size_t work = planes * (size_t) OH * OW * pool->kh * pool->kw;
    fkp_nn_parallel (net, work >= 64 * 1024 ? (int) MIN (planes, 64) : 1, maxpool_strided_part, &j);
    return;
  }
  if (is_max && maxpool_flat_fits (pool, H, W, OH, OW)) {
    PoolJob j = { net, pool, x, y, H, W, OH, OW, planes, NULL };
    const size_t work = planes * (size_t) H * W * pool->kh * pool->kw;
    fkp_nn_parallel (net, work >= 64 * 1024 ? (int) MIN (planes, 64) : 1, maxpool_flat_part, &j);
    return;
  }
  if (is_max) {
    for (size_t p = 0; p < planes; p++)
      maxpool_plane (pool, x + p * H * W, H, W, y + p * OH * OW, OH, OW, fkp_nn_scratch (net, 0));
    return;
  }
  for (size_t p = 0; p < planes; p++) {
    const float *in = x + p * H * W;
    float *out = y + p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      const int y0 = oy * pool->sh - pool->pad_top;
      for (int ox = 0; ox < OW; ox++) {
        const int x0 = ox * pool->sw - pool->pad_left;
        float acc = is_max ? -INFINITY : 0.0f;
        int count = 0;
        for (int ky = 0; ky < pool->kh; ky++) {
          const int iy = y0 + ky * pool->dh;
          if (iy < 0 || iy >= H)
            continue;
          for (int kx = 0; kx < pool->kw; kx++) {
            const int ix = x0 + kx * pool->dw;
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
          if (pool->count_include_pad) {
            /* Window clipped to the padded input, as PyTorch and ONNX Runtime do. */
            int ye = MIN (y0 + pool->kh, H + pool->pad_bottom);
            int xe = MIN (x0 + pool->kw, W + pool->pad_right);
            count = (ye - y0) * (xe - x0);
          }
          acc = count > 0 ? acc / (float) count : 0.0f;
        }
        out[oy * OW + ox] = acc;
      }
    }
  }
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_pool, run_pool)

void
fkp_nn_clear_pool (void *params)
{
  PoolParams *pool = params;
  g_free (pool->post_scale);
  g_free (pool->post_shift);
}

/* ---- Fused into a MaxPool (load/fuse.c) ------------------------------------ */

/* Only the strided kernel takes the fused map and affine. */
static gboolean
pool_takes_fusion (const Step *step, const FkpShape *in, const FkpShape *out)
{
  const PoolParams *pool = step->params;
  return step->op == OP_POOL && pool->is_max && in->rank == 4 && out->rank == 4
         && maxpool_strided_fits (pool, (int) in->dims[3], (int) out->dims[3]);
}

gboolean
fkp_nn_pool_fuse_prescale (Step *step, const FkpShape *in, const FkpShape *map, const FkpShape *out)
{
  PoolParams *pool = step->params;
  if (!pool_takes_fusion (step, in, out) || pool->prescaled || pool->post_scale != NULL
      || map->rank != 4 || map->dims[0] != in->dims[0] || map->dims[1] != 1
      || map->dims[2] != in->dims[2] || map->dims[3] != in->dims[3])
    return FALSE;
  pool->prescaled = TRUE;
  pool->channels = (int) in->dims[1];
  return TRUE;
}

gboolean
fkp_nn_pool_fold_batchnorm (Step *step, const Step *batchnorm, const FkpShape *in,
                            const FkpShape *out)
{
  PoolParams *pool = step->params;
  if (!pool_takes_fusion (step, in, out) || pool->post_scale != NULL
      || batchnorm->act.kind != ACT_NONE)
    return FALSE;
  const float *scale, *shift;
  fkp_nn_batchnorm_affine (batchnorm, &scale, &shift);
  pool->channels = (int) in->dims[1];
  pool->post_scale = g_memdup2 (scale, (size_t) pool->channels * sizeof (float));
  pool->post_shift = g_memdup2 (shift, (size_t) pool->channels * sizeof (float));
  return TRUE;
}

/* ---- MaxPool as a conv's epilogue (conv.c) --------------------------------- */

int
fkp_nn_pool_tiling_max (const Step *step)
{
  const PoolParams *pool = step->params;
  const int k = pool->kh;
  if (!pool->is_max || pool->kw != k || pool->sh != k || pool->sw != k || pool->dh != 1
      || pool->dw != 1 || pool->pad_top != 0 || pool->pad_left != 0 || pool->pad_bottom >= k
      || pool->pad_right >= k || k < 2 || k > 4)
    return 0;   /* (padding at the end only cuts the last windows, as ceil_mode does) */
  return k;
}

/* Vertical max of the k rows first (contiguous, vectorises), then of each
 * k adjacent columns, in chunks that stay on the stack.  The last window
 * of a row or column may be cut short by the edge (ceil_mode). */
typedef float v8f_pool __attribute__ ((vector_size (32), aligned (4)));
typedef int v8i_pool __attribute__ ((vector_size (32)));

static inline __attribute__ ((always_inline)) v8f_pool
max8 (v8f_pool a, v8f_pool b)
{
  const v8i_pool greater = a > b;
  return (v8f_pool) (((v8i_pool) a & greater) | ((v8i_pool) b & ~greater));
}

FKP_SIMD static void
maxpool_tiles (const float *in, int in_rows, int W, int k, float *out, int out_rows, int OW)
{
  enum { CHUNK = 512 };
  float column_max[CHUNK];
  const int chunk_out = CHUNK / k;
  for (int r = 0; r < out_rows; r++) {
    const float *top = in + (size_t) r * k * W;
    const int window_rows = MIN (k, in_rows - r * k);
    float *dst = out + (size_t) r * OW;
    int ox0 = 0;
    /* 2×2 windows of two whole rows, 8 at a time: the max of the rows,
     * then of the even and odd columns */
    if (k == 2 && window_rows == 2)
      for (; ox0 + 8 <= OW && 2 * ox0 + 16 <= W; ox0 += 8) {
        const v8f_pool *r0 = (const v8f_pool *) (top + 2 * ox0);
        const v8f_pool *r1 = (const v8f_pool *) (top + W + 2 * ox0);
        const v8f_pool a = max8 (r0[0], r1[0]), b = max8 (r0[1], r1[1]);
        *(v8f_pool *) (dst + ox0) = max8 (FKP_SHUFFLE8 (a, b, 0, 2, 4, 6, 8, 10, 12, 14),
                                          FKP_SHUFFLE8 (a, b, 1, 3, 5, 7, 9, 11, 13, 15));
      }
    for (; ox0 < OW; ox0 += chunk_out) {
      const int n_out = MIN (chunk_out, OW - ox0), n_in = MIN (n_out * k, W - ox0 * k);
      const float *src = top + (size_t) ox0 * k;
      for (int x = 0; x < n_in; x++)
        column_max[x] = src[x];
      for (int ky = 1; ky < window_rows; ky++) {
        const float *row = src + (size_t) ky * W;
        for (int x = 0; x < n_in; x++)
          column_max[x] = row[x] > column_max[x] ? row[x] : column_max[x];
      }
      const int n_full = n_in / k;
      if (k == 2) {
        for (int ox = 0; ox < n_full; ox++) {
          const float a = column_max[2 * ox], b = column_max[2 * ox + 1];
          dst[ox0 + ox] = b > a ? b : a;
        }
      } else {
        for (int ox = 0; ox < n_full; ox++) {
          float m = column_max[k * ox];
          for (int kx = 1; kx < k; kx++)
            m = column_max[k * ox + kx] > m ? column_max[k * ox + kx] : m;
          dst[ox0 + ox] = m;
        }
      }
      if (n_full < n_out) {   /* a window cut by the right edge */
        float m = column_max[k * n_full];
        for (int x = k * n_full + 1; x < n_in; x++)
          m = column_max[x] > m ? column_max[x] : m;
        dst[ox0 + n_full] = m;
      }
    }
  }
}

void
fkp_nn_maxpool_tiles (const float *in, int in_rows, int W, int k, float *out, int out_rows, int OW)
{
  maxpool_tiles (in, in_rows, W, k, out, out_rows, OW);
}

gboolean
fkp_nn_build_pool (Node *node, GError **error)
{
  const gboolean is_max = node->variant;
  int x;
  const char *known = is_max
                      ? "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides"
                      : "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides";
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, known, error)
      || !want_float (node, 0, &x, error) || !want_nchw (node, x, error))
    return FALSE;
  const Tensor *X = T (node->L, x);
  int64_t strides[2], dilations[2], pads[4], kernel[2], ceil_mode, include_pad, storage;
  int n_kernel;
  AutoPad auto_pad;
  if (!fkp_nn_window_attrs (node, strides, dilations, pads, error)
      || !attr_ints (node, "kernel_shape", kernel, 2, &n_kernel, error)
      || !attr_int (node, "ceil_mode", 0, &ceil_mode, error)
      || !attr_int (node, "count_include_pad", 0, &include_pad, error)
      || !attr_int (node, "storage_order", 0, &storage, error)
      || !fkp_nn_parse_auto_pad (node, &auto_pad, error))
    return FALSE;
  if (n_kernel != 2 || kernel[0] < 1 || kernel[1] < 1 || kernel[0] > X->shape.dims[2] + 2 * MAX_PAD
      || kernel[1] > X->shape.dims[3] + 2 * MAX_PAD)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: kernel_shape must hold 2 positive sizes", node->label);
  if (storage != 0)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: storage_order %" G_GINT64_FORMAT
                 " is not supported", node->label, storage);
  int64_t OH, OW;
  if (!fkp_nn_window_dim (node, auto_pad, ceil_mode != 0, X->shape.dims[2], kernel[0], strides[0],
                          dilations[0], &pads[0], &pads[2], &OH, error)
      || !fkp_nn_window_dim (node, auto_pad, ceil_mode != 0, X->shape.dims[3], kernel[1],
                             strides[1], dilations[1], &pads[1], &pads[3], &OW, error))
    return FALSE;
  FkpShape shape = { 4, { X->shape.dims[0], X->shape.dims[1], OH, OW } };
  Step *s = new_step (node, OP_POOL, sizeof (PoolParams), 1, &x);
  PoolParams *pool = s->params;
  pool->is_max = is_max;
  pool->kh = (int) kernel[0]; pool->kw = (int) kernel[1];
  pool->sh = (int) strides[0]; pool->sw = (int) strides[1];
  pool->dh = (int) dilations[0]; pool->dw = (int) dilations[1];
  pool->pad_top = (int) pads[0]; pool->pad_left = (int) pads[1];
  pool->pad_bottom = (int) pads[2]; pool->pad_right = (int) pads[3];
  pool->count_include_pad = include_pad != 0;
  if (is_max) {
    /* Separable max: a padded input row plus one horizontally pooled plane. */
    uint64_t row = (uint64_t) (OW - 1) * strides[1] + (kernel[1] - 1) * dilations[1] + 1;
    uint64_t need = 2 * row + (uint64_t) X->shape.dims[2] * OW;
    /* or, for the flat path, two chunks of whole planes */
    uint64_t plane = (uint64_t) X->shape.dims[2] * X->shape.dims[3];
    need = MAX (need, 2 * MAX (plane, (uint64_t) 65536));
    if (need > FKP_NN_MAX_TENSOR_ELEMENTS || need * sizeof (float) > activation_budget (node->L))
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: pooling buffer of %" G_GUINT64_FORMAT
                   " floats is past the cap or the activation budget", node->label,
                   (guint64) need);
    node->L->net->scratch_floats = MAX (node->L->net->scratch_floats, (size_t) need);
  }
  return step_output (node, s, &shape, DT_FLOAT, error);
}

/* ---- GlobalMaxPool, GlobalAveragePool -------------------------------------- */

FKP_SIMD static void
run_global_pool (FkpNet *net, const Step *s)
{
  const GlobalPoolParams *global = s->params;
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  for (size_t p = 0; p < global->outer; p++) {
    const float *in = x + p * global->inner;
    if (global->is_max) {
      float m = -INFINITY;
      for (size_t i = 0; i < global->inner; i++)
        m = in[i] > m ? in[i] : m;
      y[p] = m;
    } else {
      double sum = 0.0;
      for (size_t i = 0; i < global->inner; i++)
        sum += in[i];
      y[p] = global->inner ? (float) (sum / (double) global->inner) : 0.0f;
    }
  }
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_global_pool, run_global_pool)

gboolean
fkp_nn_build_global_pool (Node *node, GError **error)
{
  const gboolean is_max = node->variant;
  int x;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "", error)
      || !want_float (node, 0, &x, error))
    return FALSE;
  const Tensor *X = T (node->L, x);
  if (X->shape.rank < 3)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' needs rank >= 3", node->label,
                 X->name);
  FkpShape shape = X->shape;
  for (int i = 2; i < shape.rank; i++)
    shape.dims[i] = 1;
  Step *s = new_step (node, OP_GLOBAL_POOL, sizeof (GlobalPoolParams), 1, &x);
  GlobalPoolParams *global = s->params;
  global->is_max = is_max;
  global->outer = (size_t) (X->shape.dims[0] * X->shape.dims[1]);
  global->inner = (size_t) dims_product (X->shape.dims, 2, X->shape.rank);
  return step_output (node, s, &shape, DT_FLOAT, error);
}
