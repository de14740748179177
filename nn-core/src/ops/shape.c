/* Ops folded at load, which never become steps: views of a tensor with
 * another shape (Flatten, Reshape, Squeeze, Unsqueeze), aliases (Identity,
 * Dropout, most Casts) and constants (Constant, ConstantOfShape, Shape,
 * Gather on constant data). */
#include "load/loader.h"

/* ---- Views and aliases ------------------------------------------------------ */

gboolean
fkp_nn_build_flatten (Node *node, GError **error)
{
  int64_t axis;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "axis", error)
      || !attr_int (node, "axis", 1, &axis, error))
    return FALSE;
  int x = input_index (node, 0);
  const Tensor *X = T (node->L, x);
  int a = 0;
  if (axis == X->shape.rank)
    a = X->shape.rank;
  else if (!norm_axis (node, axis, MAX (X->shape.rank, 1), &a, error))
    return FALSE;
  FkpShape shape = { 2, { dims_product (X->shape.dims, 0, a),
                          dims_product (X->shape.dims, a, X->shape.rank) } };
  return view_output (node, x, &shape, error);
}

gboolean
fkp_nn_build_reshape (Node *node, GError **error)
{
  int64_t allowzero;
  const int64_t *target;
  size_t count;
  if (!check_arity (node, 2, 2, 1, 1, error) || !check_attrs (node, "allowzero", error)
      || !attr_int (node, "allowzero", 0, &allowzero, error)
      || !want_const_ints (node, 1, &target, &count, error))
    return FALSE;
  int x = input_index (node, 0);
  const Tensor *X = T (node->L, x);
  if (count > FKP_NN_MAX_RANK)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: target rank %zu is above %d", node->label,
                 count, FKP_NN_MAX_RANK);
  FkpShape shape = { .rank = (int) count };
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < count; i++) {
    int64_t d = target[i];
    if (d == 0 && !allowzero) {
      if ((int) i >= X->shape.rank)
        return fail (error, FKP_NN_ERROR_SHAPE, "%s: 0 in the target copies a missing dim",
                     node->label);
      d = X->shape.dims[i];
    }
    if (d == -1) {
      if (infer >= 0)
        return fail (error, FKP_NN_ERROR_SHAPE, "%s: more than one -1 in the target shape",
                     node->label);
      infer = (int) i;
      d = 1;
    } else if (d < 0 || d > FKP_NN_MAX_TENSOR_ELEMENTS) {
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: invalid target dim %" G_GINT64_FORMAT,
                   node->label, target[i]);
    }
    shape.dims[i] = d;
    known *= d;
    if (known > FKP_NN_MAX_TENSOR_ELEMENTS)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: target shape is too large", node->label);
  }
  if (infer >= 0) {
    if (known == 0 || X->n_elements % (size_t) known != 0)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: cannot infer the -1 dim for '%s'",
                   node->label, X->name);
    shape.dims[infer] = (int64_t) X->n_elements / known;
  }
  return view_output (node, x, &shape, error);
}

gboolean
fkp_nn_build_squeeze (Node *node, GError **error)
{
  const gboolean unsqueeze = node->variant;
  int64_t axes[FKP_NN_MAX_RANK];
  int n_axes;
  if (!check_arity (node, 1, 2, 1, 1, error) || !check_attrs (node, "axes", error)
      || !read_axes (node, 1, axes, &n_axes, error))
    return FALSE;
  int x = input_index (node, 0);
  const Tensor *X = T (node->L, x);
  FkpShape shape = { 0 };
  gboolean marked[FKP_NN_MAX_RANK] = { FALSE };
  if (unsqueeze) {
    if (n_axes < 0)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: axes are required",
                   node->label);
    int rank = X->shape.rank + n_axes;
    if (rank > FKP_NN_MAX_RANK)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: rank %d is above %d", node->label, rank,
                   FKP_NN_MAX_RANK);
    for (int i = 0; i < n_axes; i++) {
      int a = 0;
      if (!norm_axis (node, axes[i], rank, &a, error))
        return FALSE;
      if (marked[a])
        return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: repeated axis",
                     node->label);
      marked[a] = TRUE;
    }
    for (int i = 0, j = 0; i < rank; i++)
      shape.dims[shape.rank++] = marked[i] ? 1 : X->shape.dims[j++];
  } else {
    for (int i = 0; i < n_axes; i++) {
      int a = 0;
      if (!norm_axis (node, axes[i], X->shape.rank, &a, error))
        return FALSE;
      if (X->shape.dims[a] != 1)
        return fail (error, FKP_NN_ERROR_SHAPE, "%s: cannot squeeze dim %d of size %"
                     G_GINT64_FORMAT, node->label, a, X->shape.dims[a]);
      marked[a] = TRUE;
    }
    for (int i = 0; i < X->shape.rank; i++)
      if (!(n_axes < 0 ? X->shape.dims[i] == 1 : marked[i]))
        shape.dims[shape.rank++] = X->shape.dims[i];
  }
  return view_output (node, x, &shape, error);
}

gboolean
fkp_nn_build_identity (Node *node, GError **error)
{
  const gboolean dropout = node->variant;
  if (!check_arity (node, 1, dropout ? 3 : 1, 1, dropout ? 2 : 1, error)
      || !check_attrs (node, dropout ? "ratio,seed,is_test" : "", error))
    return FALSE;
  if (dropout && node->n_out > 1 && node->proto->output[1][0]
      && g_hash_table_contains (node->L->name_uses, node->proto->output[1]))
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: the dropout mask is not supported", node->label);
  if (dropout && node->n_in == 3) {
    int t = input_index (node, 2);
    if (T (node->L, t)->kind != TK_CONST || T (node->L, t)->n_elements != 1
        || (T (node->L, t)->dtype == DT_INT64 ? T (node->L, t)->idata[0] != 0
            : T (node->L, t)->fdata[0] != 0.0f))
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                   "%s: training mode is not supported", node->label);
  }
  bind_output (node, input_index (node, 0));
  return TRUE;
}

gboolean
fkp_nn_build_cast (Node *node, GError **error)
{
  Loader *L = node->L;
  int64_t to;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "to,saturate", error)
      || !attr_int (node, "to", 0, &to, error))
    return FALSE;
  int x = input_index (node, 0);
  Tensor *X = T (L, x);
  gboolean to_float = to == ONNX_FLOAT || to == ONNX_DOUBLE;
  gboolean to_int = to == ONNX_INT64 || to == ONNX_INT32;
  if (!to_float && !to_int)
    return fail (error, FKP_NN_ERROR_DTYPE, "%s: cast to type %" G_GINT64_FORMAT
                 " is not supported", node->label, to);
  if (X->kind == TK_CONST) {
    if (to_float) {
      float *v = alloc_folded (node, X->n_elements, DT_FLOAT, error);
      if (!v)
        return FALSE;
      for (size_t i = 0; i < X->n_elements; i++)
        v[i] = X->dtype == DT_INT64 ? (float) X->idata[i] : X->fdata[i];
      return add_const (L, node->proto->output[0], &X->shape, DT_FLOAT, v, error) >= 0;
    }
    int64_t *v = alloc_folded (node, X->n_elements, DT_INT64, error);
    if (!v)
      return FALSE;
    for (size_t i = 0; i < X->n_elements; i++) {
      if (X->dtype == DT_INT64) {
        v[i] = to == ONNX_INT32 ? (int32_t) X->idata[i] : X->idata[i];
      } else {
        float f = X->fdata[i];
        if (!(f > -9.2e18f && f < 9.2e18f)) {
          g_free (v);
          return fail (error, FKP_NN_ERROR_INVALID_ARGUMENT,
                       "%s: value %g does not fit an integer", node->label, f);
        }
        v[i] = (int64_t) f;
      }
    }
    return add_const (L, node->proto->output[0], &X->shape, DT_INT64, v, error) >= 0;
  }
  if (X->dtype == DT_FLOAT && to_float) {
    bind_output (node, x);
    return TRUE;
  }
  if (X->dtype == DT_INDEX_FLOAT && to_int) {
    bind_output (node, x);  /* indices stay indices; consumers must Cast to float */
    return TRUE;
  }
  if (X->dtype == DT_INDEX_FLOAT && to_float) {
    /* ArgMax already holds its indices as floats: the cast is free. */
    gpointer uses = g_hash_table_lookup (L->name_uses, node->proto->input[0]);
    if (GPOINTER_TO_INT (uses) == 1 && X->alias_of < 0
        && !g_hash_table_contains (L->output_names, node->proto->input[0])) {
      X->dtype = DT_FLOAT;
      bind_output (node, x);
      return TRUE;
    }
    int index = add_tensor (L, node->proto->output[0], &X->shape, DT_FLOAT, TK_ACTIVATION,
                            error);
    if (index < 0)
      return FALSE;
    T (L, index)->alias_of = x;
    return TRUE;
  }
  return fail (error, FKP_NN_ERROR_DTYPE, "%s: run-time cast of '%s' to type %" G_GINT64_FORMAT
               " is not supported", node->label, X->name, to);
}

/* ---- Constants ------------------------------------------------------------- */

gboolean
fkp_nn_build_constant (Node *node, GError **error)
{
  Loader *L = node->L;
  if (!check_arity (node, 0, 0, 1, 1, error)
      || !check_attrs (node, "value,value_float,value_floats,value_int,value_ints", error))
    return FALSE;
  if (node->proto->n_attribute != 1)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: needs exactly one value attribute", node->label);
  const Onnx__AttributeProto *a = node->proto->attribute[0];
  const char *name = node->proto->output[0];
  FkpShape scalar = { 0 };
  if (strcmp (a->name, "value") == 0) {
    if (!attr_type_ok (node, a, ATTR_TENSOR, error))
      return FALSE;
    if (!a->t)
      return fail (error, FKP_NN_ERROR_PARSE, "%s: 'value' holds no tensor", node->label);
    if (const_from_proto (L, a->t, name, error) >= 0)
      return TRUE;
    g_prefix_error (error, "%s: ", node->label);
    return FALSE;
  }
  if (strcmp (a->name, "value_float") == 0) {
    if (!attr_type_ok (node, a, ATTR_FLOAT, error))
      return FALSE;
    return add_const (L, name, &scalar, DT_FLOAT, g_memdup2 (&a->f, sizeof (float)), error) >= 0;
  }
  if (strcmp (a->name, "value_int") == 0) {
    if (!attr_type_ok (node, a, ATTR_INT, error))
      return FALSE;
    return add_const (L, name, &scalar, DT_INT64, g_memdup2 (&a->i, sizeof (int64_t)),
                      error) >= 0;
  }
  gboolean ints = strcmp (a->name, "value_ints") == 0;
  if (!attr_type_ok (node, a, ints ? ATTR_INTS : ATTR_FLOATS, error))
    return FALSE;
  size_t n = ints ? a->n_ints : a->n_floats;
  if (n > FKP_NN_MAX_TENSOR_ELEMENTS)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: too many values", node->label);
  FkpShape vector = { 1, { (int64_t) n } };
  void *copy = alloc_folded (node, n, ints ? DT_INT64 : DT_FLOAT, error);
  if (!copy)
    return FALSE;
  copy_bytes (copy, ints ? (const void *) a->ints : (const void *) a->floats, n * (ints ? 8 : 4));
  return add_const (L, name, &vector, ints ? DT_INT64 : DT_FLOAT, copy, error) >= 0;
}

gboolean
fkp_nn_build_constant_of_shape (Node *node, GError **error)
{
  const int64_t *dims;
  size_t count;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "value", error)
      || !want_const_ints (node, 0, &dims, &count, error))
    return FALSE;
  if (count > FKP_NN_MAX_RANK)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: rank %zu is above %d", node->label, count,
                 FKP_NN_MAX_RANK);
  FkpShape shape = { .rank = (int) count };
  for (size_t i = 0; i < count; i++)
    shape.dims[i] = dims[i];
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: shape is too large or negative",
                 node->label);
  DType dtype = DT_FLOAT;
  float fvalue = 0.0f;
  int64_t ivalue = 0;
  const Onnx__AttributeProto *a = find_attr (node, "value");
  if (a) {
    if (!attr_type_ok (node, a, ATTR_TENSOR, error))
      return FALSE;
    if (!a->t)
      return fail (error, FKP_NN_ERROR_PARSE, "%s: 'value' holds no tensor", node->label);
    int t = const_from_proto (node->L, a->t, "", error);
    if (t < 0) {
      g_prefix_error (error, "%s: 'value': ", node->label);
      return FALSE;
    }
    g_hash_table_remove (node->L->by_name, "");
    const Tensor *v = T (node->L, t);
    if (v->n_elements != 1)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: 'value' must hold one element", node->label);
    dtype = v->dtype;
    if (dtype == DT_INT64)
      ivalue = v->idata[0];
    else
      fvalue = v->fdata[0];
  }
  /* The shape costs a few bytes in the file, the constant up to 2 GiB:
   * checked against the budget before it is allocated and filled. */
  void *values = alloc_folded (node, n, dtype, error);
  if (!values)
    return FALSE;
  for (size_t i = 0; i < n; i++) {
    if (dtype == DT_INT64)
      ((int64_t *) values)[i] = ivalue;
    else
      ((float *) values)[i] = fvalue;
  }
  return add_const (node->L, node->proto->output[0], &shape, dtype, values, error) >= 0;
}

gboolean
fkp_nn_build_shape (Node *node, GError **error)
{
  int64_t start, end;
  if (!check_arity (node, 1, 1, 1, 1, error) || !check_attrs (node, "start,end", error)
      || !attr_int (node, "start", 0, &start, error)
      || !attr_int (node, "end", G_MAXINT64, &end, error))
    return FALSE;
  const Tensor *X = T (node->L, input_index (node, 0));
  int64_t rank = X->shape.rank;
  start = start < 0 ? MAX (start + rank, 0) : MIN (start, rank);
  end = end < 0 ? MAX (end + rank, 0) : MIN (end, rank);
  int64_t n = MAX (end - start, 0);
  FkpShape shape = { 1, { n } };
  int64_t *values = g_new (int64_t, MAX (n, 1));
  for (int64_t i = 0; i < n; i++)
    values[i] = X->shape.dims[start + i];
  return add_const (node->L, node->proto->output[0], &shape, DT_INT64, values, error) >= 0;
}

gboolean
fkp_nn_build_gather (Node *node, GError **error)
{
  Loader *L = node->L;
  int64_t axis_attr;
  const int64_t *indices;
  size_t n_indices;
  if (!check_arity (node, 2, 2, 1, 1, error) || !check_attrs (node, "axis", error)
      || !attr_int (node, "axis", 0, &axis_attr, error))
    return FALSE;
  const Tensor *X = T (L, input_index (node, 0)), *I = T (L, input_index (node, 1));
  if (X->kind != TK_CONST)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_OP, "%s: Gather is only supported on constant "
                 "data (shape arithmetic), not on '%s'", node->label, X->name);
  if (I->kind != TK_CONST || I->dtype != DT_INT64)
    return fail (error, FKP_NN_ERROR_DTYPE, "%s: indices '%s' must be constant int64",
                 node->label, I->name);
  indices = I->idata;
  n_indices = I->n_elements;
  int axis = 0;
  if (!norm_axis (node, axis_attr, X->shape.rank, &axis, error))
    return FALSE;
  if (X->shape.rank - 1 + I->shape.rank > FKP_NN_MAX_RANK)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: output rank too large", node->label);
  FkpShape shape = { 0 };
  for (int i = 0; i < axis; i++)
    shape.dims[shape.rank++] = X->shape.dims[i];
  for (int i = 0; i < I->shape.rank; i++)
    shape.dims[shape.rank++] = I->shape.dims[i];
  for (int i = axis + 1; i < X->shape.rank; i++)
    shape.dims[shape.rank++] = X->shape.dims[i];
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  size_t outer = (size_t) dims_product (X->shape.dims, 0, axis);
  int64_t extent = X->shape.dims[axis];
  size_t inner = (size_t) dims_product (X->shape.dims, axis + 1, X->shape.rank);
  size_t elem = X->dtype == DT_INT64 ? 8 : 4;
  const char *src = X->dtype == DT_INT64 ? (const char *) X->idata : (const char *) X->fdata;
  char *out = alloc_folded (node, n, X->dtype, error), *dst = out;
  if (!out)
    return FALSE;
  for (size_t o = 0; o < outer; o++)
    for (size_t k = 0; k < n_indices; k++) {
      int64_t i = indices[k] < 0 ? indices[k] + extent : indices[k];
      if (i < 0 || i >= extent) {
        g_free (out);
        return fail (error, FKP_NN_ERROR_SHAPE, "%s: index %" G_GINT64_FORMAT " is out of range",
                     node->label, indices[k]);
      }
      copy_bytes (dst, src + ((o * (size_t) extent + (size_t) i) * inner) * elem, inner * elem);
      dst += inner * elem;
    }
  return add_const (L, node->proto->output[0], &shape, X->dtype, out, error) >= 0;
}
