/* Ops along an axis range, the input seen as outer × extent × inner:
 * the reductions (ReduceMean, ReduceMax, ReduceMin, ReduceSum), ArgMax and
 * Softmax. */
#include "load/loader.h"

#include <math.h>

typedef struct {
  ReduceKind kind;
  size_t outer, extent, inner;      /* extent: the reduced axes, merged */
} ReduceParams;

typedef struct {
  gboolean select_last;             /* the last index of equal maxima, else the first */
  size_t outer, extent, inner;
} ArgMaxParams;

typedef struct {
  size_t outer, extent, inner;
} SoftmaxParams;

/* ---- ReduceMean, ReduceMax, ReduceMin, ReduceSum ------------------------------ */

FKP_SIMD static void
run_reduce (FkpNet *net, const Step *s)
{
  const ReduceParams *reduce = s->params;
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const size_t ext = reduce->extent, inn = reduce->inner;
  for (size_t o = 0; o < reduce->outer; o++) {
    const float *in = x + o * ext * inn;
    float *out = y + o * inn;
    /* Walk the reduced axis in the outer loop so the inner loop is contiguous. */
    memcpy (out, in, inn * sizeof (float));
    for (size_t e = 1; e < ext; e++) {
      const float *row = in + e * inn;
      switch (reduce->kind) {
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
    if (reduce->kind == RED_MEAN) {
      const float k = 1.0f / (float) ext;
      for (size_t i = 0; i < inn; i++)
        out[i] *= k;
    }
  }
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_reduce, run_reduce)

gboolean
fkp_nn_build_reduce (Node *node, GError **error)
{
  const ReduceKind kind = node->variant;
  int x;
  int64_t keepdims, noop, axes[FKP_NN_MAX_RANK];
  int n_axes;
  if (!check_arity (node, 1, 2, 1, 1, error)
      || !check_attrs (node, "axes,keepdims,noop_with_empty_axes", error)
      || !want_float (node, 0, &x, error) || !attr_int (node, "keepdims", 1, &keepdims, error)
      || !attr_int (node, "noop_with_empty_axes", 0, &noop, error)
      || !read_axes (node, 1, axes, &n_axes, error))
    return FALSE;
  const Tensor *X = T (node->L, x);
  int rank = X->shape.rank;
  gboolean reduced[FKP_NN_MAX_RANK] = { FALSE };
  if (n_axes <= 0) {
    if (noop) {
      bind_output (node, x);
      return TRUE;
    }
    for (int i = 0; i < rank; i++)
      reduced[i] = TRUE;
  }
  for (int i = 0; i < n_axes; i++) {
    int a = 0;
    if (!norm_axis (node, axes[i], rank, &a, error))
      return FALSE;
    reduced[a] = TRUE;
  }
  int lo = rank, hi = -1;
  for (int i = 0; i < rank; i++)
    if (reduced[i]) {
      lo = MIN (lo, i);
      hi = MAX (hi, i);
    }
  for (int i = lo; i <= hi; i++)
    if (!reduced[i])
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                   "%s: only contiguous reduction axes are supported", node->label);
  if (hi < 0)
    lo = hi = 0;
  FkpShape shape = { 0 };
  for (int i = 0; i < rank; i++) {
    if (!reduced[i])
      shape.dims[shape.rank++] = X->shape.dims[i];
    else if (keepdims)
      shape.dims[shape.rank++] = 1;
  }
  Step *s = new_step (node, OP_REDUCE, sizeof (ReduceParams), 1, &x);
  ReduceParams *reduce = s->params;
  reduce->kind = kind;
  reduce->outer = (size_t) dims_product (X->shape.dims, 0, lo);
  reduce->extent = rank ? (size_t) dims_product (X->shape.dims, lo, hi + 1) : 1;
  reduce->inner = (size_t) dims_product (X->shape.dims, hi + 1, rank);
  if (reduce->extent == 0)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: reduction over an empty axis", node->label);
  return step_output (node, s, &shape, DT_FLOAT, error);
}

/* ---- ArgMax ------------------------------------------------------------------ */

typedef float v8f_arg __attribute__ ((vector_size (32), aligned (4)));
typedef int v8i_arg __attribute__ ((vector_size (32)));

/* a where take, else b (bitwise: GCC turned the plain select into a branch
 * per vector, taken at random on real maps, and ran at a fifth of this) */
static inline __attribute__ ((always_inline)) v8f_arg
select8 (v8i_arg take, v8f_arg a, v8f_arg b)
{
  return (v8f_arg) (((v8i_arg) a & take) | ((v8i_arg) b & ~take));
}

/* ArgMax over the extent for ARGMAX_LANES positions at once: the running
 * maxima and their indices of four vectors in registers, four independent
 * chains of compare and select per index. */
#define ARGMAX_VECTORS 4
#define ARGMAX_LANES (8 * ARGMAX_VECTORS)

/* The indices of `n` vectors of positions from `in` (n ≤ ARGMAX_VECTORS,
 * a constant where inlined). */
static inline __attribute__ ((always_inline)) void
argmax_vectors (const float *in, size_t inn, size_t ext, gboolean last, float *out, int n)
{
  v8f_arg best[ARGMAX_VECTORS], index[ARGMAX_VECTORS];
  for (int v = 0; v < n; v++) {
    best[v] = *(const v8f_arg *) (in + 8 * v);
    index[v] = (v8f_arg) { 0 };
  }
  for (size_t e = 1; e < ext; e++) {
    const float *row = in + e * inn;
    const v8f_arg fe = (v8f_arg) { 0 } + (float) e;
    for (int v = 0; v < n; v++) {
      const v8f_arg value = *(const v8f_arg *) (row + 8 * v);
      const v8i_arg take = last ? value >= best[v] : value > best[v];
      best[v] = select8 (take, value, best[v]);
      index[v] = select8 (take, fe, index[v]);
    }
  }
  for (int v = 0; v < n; v++)
    *(v8f_arg *) (out + 8 * v) = index[v];
}

FKP_SIMD static void
run_argmax (FkpNet *net, const Step *s)
{
  const ArgMaxParams *argmax = s->params;
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const size_t ext = argmax->extent, inn = argmax->inner;
  const gboolean last = argmax->select_last;
  for (size_t o = 0; o < argmax->outer; o++) {
    const float *in = x + o * ext * inn;
    float *out = y + o * inn;
    size_t i0 = 0;
    for (; i0 + ARGMAX_LANES <= inn; i0 += ARGMAX_LANES)
      argmax_vectors (in + i0, inn, ext, last, out + i0, ARGMAX_VECTORS);
    for (; i0 + 8 <= inn; i0 += 8)   /* then a vector at a time */
      argmax_vectors (in + i0, inn, ext, last, out + i0, 1);
    for (size_t i = i0; i < inn; i++) {   /* the tail, and inner = 1 */
      float best = in[i], index = 0.0f;
      for (size_t e = 1; e < ext; e++) {
        const float value = in[e * inn + i];
        if (last ? value >= best : value > best) {
          best = value;
          index = (float) e;
        }
      }
      out[i] = index;
    }
  }
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_argmax, run_argmax)

gboolean
fkp_nn_build_argmax (Node *node, GError **error)
{
  int x;
  int64_t axis, keepdims, last;
  if (!check_arity (node, 1, 1, 1, 1, error)
      || !check_attrs (node, "axis,keepdims,select_last_index", error)
      || !want_float (node, 0, &x, error) || !attr_int (node, "axis", 0, &axis, error)
      || !attr_int (node, "keepdims", 1, &keepdims, error)
      || !attr_int (node, "select_last_index", 0, &last, error))
    return FALSE;
  const Tensor *X = T (node->L, x);
  int a = 0;
  if (!norm_axis (node, axis, X->shape.rank, &a, error))
    return FALSE;
  if (X->shape.dims[a] == 0)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: ArgMax over an empty axis", node->label);
  FkpShape shape = { 0 };
  for (int i = 0; i < X->shape.rank; i++) {
    if (i != a)
      shape.dims[shape.rank++] = X->shape.dims[i];
    else if (keepdims)
      shape.dims[shape.rank++] = 1;
  }
  Step *s = new_step (node, OP_ARGMAX, sizeof (ArgMaxParams), 1, &x);
  ArgMaxParams *argmax = s->params;
  argmax->select_last = last != 0;
  argmax->outer = (size_t) dims_product (X->shape.dims, 0, a);
  argmax->extent = (size_t) X->shape.dims[a];
  argmax->inner = (size_t) dims_product (X->shape.dims, a + 1, X->shape.rank);
  return step_output (node, s, &shape, DT_INDEX_FLOAT, error);
}

/* ---- Softmax ----------------------------------------------------------------- */

void
fkp_nn_run_softmax (FkpNet *net, const Step *s)
{
  const SoftmaxParams *softmax = s->params;
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const size_t ext = softmax->extent, inn = softmax->inner;
  for (size_t o = 0; o < softmax->outer; o++)
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

gboolean
fkp_nn_build_softmax (Node *node, GError **error)
{
  int x;
  int64_t axis;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "axis", error)
      || !want_float (node, 0, &x, error)
      || !attr_int (node, "axis", node->L->opset < 13 ? 1 : -1, &axis, error))
    return FALSE;
  const Tensor *X = T (node->L, x);
  int a = 0;
  if (!norm_axis (node, axis, MAX (X->shape.rank, 1), &a, error))
    return FALSE;
  Step *s = new_step (node, OP_SOFTMAX, sizeof (SoftmaxParams), 1, &x);
  SoftmaxParams *softmax = s->params;
  softmax->outer = (size_t) dims_product (X->shape.dims, 0, a);
  if (node->L->opset < 13) {
    softmax->extent = (size_t) dims_product (X->shape.dims, a, X->shape.rank);
    softmax->inner = 1;
  } else {
    softmax->extent = X->shape.rank ? (size_t) X->shape.dims[a] : 1;
    softmax->inner = (size_t) dims_product (X->shape.dims, a + 1, X->shape.rank);
  }
  return step_output (node, s, &X->shape, DT_FLOAT, error);
}
