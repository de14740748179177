/* Copies: Transpose and Slice as one strided copy (folded at load on
 * constants), and Pad (constant mode). */
#include "load/loader.h"

/* The output's dims, the input stride per output dim, and the input
 * element where the copy starts. */
typedef struct {
  int rank;
  int64_t dims[FKP_NN_MAX_RANK], stride[FKP_NN_MAX_RANK], base;
} StridedCopyParams;

typedef struct {
  int64_t begin[FKP_NN_MAX_RANK];   /* elements added before each dim */
  float value;
} PadParams;

/* ---- Strided copies: Transpose, Slice ------------------------------------------ */

void
fkp_nn_run_strided_copy (FkpNet *net, const Step *s)
{
  const StridedCopyParams *copy = s->params;
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  const int r = copy->rank;
  if (r == 0) {
    y[0] = x[copy->base];
    return;
  }
  const int64_t n = copy->dims[r - 1], st = copy->stride[r - 1];
  size_t rows = 1;
  for (int d = 0; d < r - 1; d++)
    rows *= (size_t) copy->dims[d];
  int64_t index[FKP_NN_MAX_RANK] = { 0 };
  int64_t offset = copy->base;
  for (size_t row = 0; row < rows; row++) {
    float *out = y + row * (size_t) n;
    for (int64_t i = 0; i < n; i++)
      out[i] = x[offset + i * st];
    for (int d = r - 2; d >= 0; d--) {
      offset += copy->stride[d];
      if (++index[d] < copy->dims[d])
        break;
      offset -= copy->stride[d] * copy->dims[d];
      index[d] = 0;
    }
  }
}

/* Copies a strided view of `src` into contiguous `dst` (elements of `elem` bytes). */
static void
strided_copy_bytes (char *dst, const char *src, size_t elem, int rank, const int64_t *dims,
                    const int64_t *stride, int64_t base)
{
  int64_t index[FKP_NN_MAX_RANK] = { 0 };
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t) dims[i];
  int64_t offset = base;
  for (size_t k = 0; k < n; k++) {
    copy_bytes (dst + k * elem, src + offset * (int64_t) elem, elem);
    for (int d = rank - 1; d >= 0; d--) {
      offset += stride[d];
      if (++index[d] < dims[d])
        break;
      offset -= stride[d] * dims[d];
      index[d] = 0;
    }
  }
}

/* Output of a strided view: a constant when the input is constant, a copy
 * step otherwise. */
static gboolean
strided_output (Node *node, OpKind op, int x, const FkpShape *shape, const int64_t *stride,
                int64_t base, GError **error)
{
  Loader *L = node->L;
  const Tensor *X = T (L, x);
  size_t n;
  if (!shape_count (shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  if (X->kind == TK_CONST) {
    size_t elem = X->dtype == DT_INT64 ? 8 : 4;
    char *out = alloc_folded (node, n, X->dtype, error);
    if (!out)
      return FALSE;
    strided_copy_bytes (out,
                        X->dtype == DT_INT64 ? (const char *) X->idata : (const char *) X->fdata,
                        elem, shape->rank, shape->dims, stride, base);
    return add_const (L, node->proto->output[0], shape, X->dtype, out, error) >= 0;
  }
  int xi;
  if (!want_float (node, 0, &xi, error))
    return FALSE;
  Step *s = new_step (node, op, sizeof (StridedCopyParams), 1, &x);
  StridedCopyParams *copy = s->params;
  copy->rank = shape->rank;
  copy_bytes (copy->dims, shape->dims, sizeof copy->dims);
  copy_bytes (copy->stride, stride, sizeof (int64_t) * shape->rank);
  copy->base = base;
  return step_output (node, s, shape, DT_FLOAT, error);
}

static void
contiguous_strides (const FkpShape *shape, int64_t *stride)
{
  int64_t acc = 1;
  for (int i = shape->rank - 1; i >= 0; i--) {
    stride[i] = acc;
    acc *= shape->dims[i];
  }
}

gboolean
fkp_nn_build_transpose (Node *node, GError **error)
{
  int64_t perm[FKP_NN_MAX_RANK];
  int n_perm;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "perm", error)
      || !attr_ints (node, "perm", perm, FKP_NN_MAX_RANK, &n_perm, error))
    return FALSE;
  int x = input_index (node, 0);
  const Tensor *X = T (node->L, x);
  int rank = X->shape.rank;
  if (n_perm < 0) {
    n_perm = rank;
    for (int i = 0; i < rank; i++)
      perm[i] = rank - 1 - i;
  }
  if (n_perm != rank)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: perm has %d values for rank %d",
                 node->label, n_perm, rank);
  gboolean seen[FKP_NN_MAX_RANK] = { FALSE };
  int64_t in_stride[FKP_NN_MAX_RANK], stride[FKP_NN_MAX_RANK];
  contiguous_strides (&X->shape, in_stride);
  FkpShape shape = { .rank = rank };
  for (int i = 0; i < rank; i++) {
    if (perm[i] < 0 || perm[i] >= rank || seen[perm[i]])
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: perm is not a permutation",
                   node->label);
    seen[perm[i]] = TRUE;
    shape.dims[i] = X->shape.dims[perm[i]];
    stride[i] = in_stride[perm[i]];
  }
  return strided_output (node, OP_TRANSPOSE, x, &shape, stride, 0, error);
}

gboolean
fkp_nn_build_slice (Node *node, GError **error)
{
  int64_t starts[FKP_NN_MAX_RANK], ends[FKP_NN_MAX_RANK], axes[FKP_NN_MAX_RANK];
  int64_t steps[FKP_NN_MAX_RANK];
  int n_starts, n_ends, n_axes = -1, n_steps = -1;
  int x = input_index (node, 0);
  if (x < 0)
    return fail (error, FKP_NN_ERROR_MISSING, "%s: input 0 is missing", node->label);
  const Tensor *X = T (node->L, x);
  int rank = X->shape.rank;
  if (node->L->opset < 10) {
    if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "starts,ends,axes", error)
        || !attr_ints (node, "starts", starts, FKP_NN_MAX_RANK, &n_starts, error)
        || !attr_ints (node, "ends", ends, FKP_NN_MAX_RANK, &n_ends, error)
        || !attr_ints (node, "axes", axes, FKP_NN_MAX_RANK, &n_axes, error))
      return FALSE;
  } else {
    const int64_t *v[4];
    size_t c[4];
    if (!check_arity (node, 3, 5, 1, 1, error) || !check_attrs (node, "", error))
      return FALSE;
    for (int i = 0; i < 4; i++) {
      if (!want_const_ints (node, i + 1, &v[i], &c[i], error))
        return FALSE;
      if (c[i] > FKP_NN_MAX_RANK)
        return fail (error, FKP_NN_ERROR_SHAPE, "%s: too many slice values", node->label);
    }
    n_starts = (int) c[0];
    n_ends = (int) c[1];
    copy_bytes (starts, v[0], c[0] * 8);
    copy_bytes (ends, v[1], c[1] * 8);
    if (v[2]) { n_axes = (int) c[2]; copy_bytes (axes, v[2], c[2] * 8); }
    if (v[3]) { n_steps = (int) c[3]; copy_bytes (steps, v[3], c[3] * 8); }
  }
  if (n_starts < 0 || n_starts != n_ends || (n_axes >= 0 && n_axes != n_starts)
      || (n_steps >= 0 && n_steps != n_starts))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: starts, ends, axes and steps disagree in length",
                 node->label);
  FkpShape shape = X->shape;
  int64_t in_stride[FKP_NN_MAX_RANK], stride[FKP_NN_MAX_RANK], base = 0;
  contiguous_strides (&X->shape, in_stride);
  copy_bytes (stride, in_stride, sizeof stride);
  gboolean done[FKP_NN_MAX_RANK] = { FALSE };
  for (int i = 0; i < n_starts; i++) {
    int a = 0;
    if (!norm_axis (node, n_axes >= 0 ? axes[i] : i, rank, &a, error))
      return FALSE;
    if (done[a])
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: repeated axis", node->label);
    done[a] = TRUE;
    int64_t dim = X->shape.dims[a], step = n_steps >= 0 ? steps[i] : 1;
    int64_t start = starts[i], end = ends[i], len;
    if (step == 0)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: step 0", node->label);
    /* A step longer than the dim takes one element either way; clamping it
     * keeps the stride arithmetic from overflowing. */
    step = CLAMP (step, -(dim + 1), dim + 1);
    if (start < 0) start = start < -dim ? 0 : start + dim;
    if (end < 0) end = end < -dim ? -1 : end + dim;
    if (step > 0) {
      start = CLAMP (start, 0, dim);
      end = CLAMP (end, 0, dim);
      len = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = CLAMP (start, 0, dim - 1);
      end = CLAMP (end, -1, dim - 1);
      len = start > end ? (start - end + (-step) - 1) / (-step) : 0;
    }
    shape.dims[a] = len;
    if (len > 0)
      base += start * in_stride[a];
    stride[a] = in_stride[a] * step;
  }
  return strided_output (node, OP_SLICE, x, &shape, stride, base, error);
}

/* ---- Pad ----------------------------------------------------------------------- */

void
fkp_nn_run_pad (FkpNet *net, const Step *s)
{
  const PadParams *pad = s->params;
  const Tensor *X = &net->tensors[s->inputs[0]], *Y = &net->tensors[s->output];
  const float *x = X->data;
  float *y = Y->data;
  const int r = Y->shape.rank;
  for (size_t i = 0; i < Y->n_elements; i++)
    y[i] = pad->value;
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
      offset += (index[d] + pad->begin[d]) * out_stride[d];
    memcpy (y + offset, x + row * n, (size_t) n * sizeof (float));
    for (int d = r - 2; d >= 0; d--) {
      if (++index[d] < X->shape.dims[d])
        break;
      index[d] = 0;
    }
  }
}

gboolean
fkp_nn_build_pad (Node *node, GError **error)
{
  Loader *L = node->L;
  int64_t pads[2 * FKP_NN_MAX_RANK];
  int n_pads;
  float value = 0.0f;
  char *mode;
  gboolean old = L->opset < 11;
  if (!check_arity (node, 1, old ? 1 : 3, 1, 1, error)
      || !check_attrs (node, old ? "mode,pads,value" : "mode", error)
      || !attr_string (node, "mode", "constant", &mode, error))
    return FALSE;
  gboolean constant_mode = strcmp (mode, "constant") == 0;
  g_free (mode);
  if (!constant_mode)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: only constant padding is "
                 "supported", node->label);
  int x;
  if (!want_float (node, 0, &x, error))
    return FALSE;
  const Tensor *X = T (L, x);
  int rank = X->shape.rank;
  if (old) {
    if (!attr_ints (node, "pads", pads, 2 * FKP_NN_MAX_RANK, &n_pads, error)
        || !attr_float (node, "value", 0.0f, &value, error))
      return FALSE;
  } else {
    const int64_t *v;
    size_t c;
    gboolean present;
    if (!want_const_ints (node, 1, &v, &c, error)
        || !scalar_const (node, 2, &value, &present, error))
      return FALSE;
    if (c > 2 * FKP_NN_MAX_RANK)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: too many pads", node->label);
    n_pads = v ? (int) c : -1;
    if (v)
      copy_bytes (pads, v, c * 8);
  }
  if (n_pads != 2 * rank)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: needs %d pads", node->label, 2 * rank);
  FkpShape shape = X->shape;
  for (int i = 0; i < rank; i++) {
    if (pads[i] < 0 || pads[i + rank] < 0 || pads[i] > MAX_PAD || pads[i + rank] > MAX_PAD)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: pads must lie in [0, %d]",
                   node->label, MAX_PAD);
    shape.dims[i] += pads[i] + pads[i + rank];
  }
  Step *s = new_step (node, OP_PAD, sizeof (PadParams), 1, &x);
  PadParams *pad = s->params;
  copy_bytes (pad->begin, pads, rank * sizeof (int64_t));
  pad->value = value;
  return step_output (node, s, &shape, DT_FLOAT, error);
}
