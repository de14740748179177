/* Concat.  On constants it folds at load; on a channel axis fusion lets
 * the producers write straight into their slice (load/fuse.c), and the
 * kernel is left for the other cases. */
#include "load/loader.h"

typedef struct {
  int axis;
  size_t outer;                     /* product of the dims before the axis */
} ConcatParams;

void
fkp_nn_run_concat (FkpNet *net, const Step *s)
{
  const ConcatParams *concat = s->params;
  float *y = tensor_data (net, s->output);
  for (size_t o = 0; o < concat->outer; o++)
    for (int k = 0; k < s->n_inputs; k++) {
      const Tensor *in = &net->tensors[s->inputs[k]];
      size_t chunk = concat->outer ? in->n_elements / concat->outer : 0;
      memcpy (y, in->data + o * chunk, chunk * sizeof (float));
      y += chunk;
    }
}

gboolean
fkp_nn_concat_is_sliced (const Step *s)
{
  return ((const ConcatParams *) s->params)->outer == 1;
}

gboolean
fkp_nn_build_concat (Node *node, GError **error)
{
  Loader *L = node->L;
  int64_t axis_attr;
  if (!check_arity (node, 1, 1 << 16, 1, 1, error) || !check_attrs (node, "axis", error))
    return FALSE;
  const Onnx__AttributeProto *a = find_attr (node, "axis");
  if (!a)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: attribute 'axis' is required",
                 node->label);
  if (!attr_int (node, "axis", 0, &axis_attr, error))
    return FALSE;
  int first = input_index (node, 0);
  if (first < 0)
    return fail (error, FKP_NN_ERROR_MISSING, "%s: input 0 is missing", node->label);
  FkpShape shape = T (L, first)->shape;
  int axis = 0;
  if (!norm_axis (node, axis_attr, shape.rank, &axis, error))
    return FALSE;
  DType dtype = T (L, first)->dtype;
  gboolean all_const = TRUE;
  int64_t total = 0;
  for (int i = 0; i < node->n_in; i++) {
    int t = input_index (node, i);
    if (t < 0)
      return fail (error, FKP_NN_ERROR_MISSING, "%s: input %d is missing", node->label, i);
    const Tensor *in = T (L, t);
    if (in->dtype != dtype || (dtype == DT_INDEX_FLOAT))
      return fail (error, FKP_NN_ERROR_DTYPE, "%s: input '%s' has a different or unsupported "
                   "type", node->label, in->name);
    if (in->shape.rank != shape.rank)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' has rank %d, expected %d",
                   node->label, in->name, in->shape.rank, shape.rank);
    for (int d = 0; d < shape.rank; d++)
      if (d != axis && in->shape.dims[d] != shape.dims[d]) {
        char *sa = shape_string (&in->shape), *sb = shape_string (&shape);
        fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' %s does not fit %s on axis %d",
              node->label, in->name, sa, sb, axis);
        g_free (sa);
        g_free (sb);
        return FALSE;
      }
    total += in->shape.dims[axis];
    if (total > FKP_NN_MAX_TENSOR_ELEMENTS)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
    all_const &= in->kind == TK_CONST;
  }
  shape.dims[axis] = total;
  size_t outer = (size_t) dims_product (shape.dims, 0, axis);
  if (all_const) {
    size_t elem = dtype == DT_INT64 ? 8 : 4, n;
    if (!shape_count (&shape, &n))
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
    char *out = alloc_folded (node, n, dtype, error), *dst = out;
    if (!out)
      return FALSE;
    for (size_t o = 0; o < outer; o++)
      for (int i = 0; i < node->n_in; i++) {
        const Tensor *in = T (L, input_index (node, i));
        size_t chunk = in->n_elements / MAX (outer, 1) * elem;
        const char *src = dtype == DT_INT64 ? (const char *) in->idata : (const char *) in->fdata;
        copy_bytes (dst, src + o * chunk, chunk);
        dst += chunk;
      }
    return add_const (L, node->proto->output[0], &shape, dtype, out, error) >= 0;
  }
  if (dtype != DT_FLOAT)
    return fail (error, FKP_NN_ERROR_DTYPE, "%s: run-time concat needs float32 inputs",
                 node->label);
  int *inputs = g_new (int, node->n_in);
  for (int i = 0; i < node->n_in; i++)
    inputs[i] = input_index (node, i);
  Step *s = new_step (node, OP_CONCAT, sizeof (ConcatParams), node->n_in, inputs);
  g_free (inputs);
  ConcatParams *concat = s->params;
  concat->axis = axis;
  concat->outer = outer;
  return step_output (node, s, &shape, DT_FLOAT, error);
}
