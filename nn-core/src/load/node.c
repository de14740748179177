/* The op builders' toolkit: sizes, tensors, a node's inputs checked and
 * typed, its outputs made into tensors, views and steps. */
#include "load/loader.h"

/* ---- Sizes ------------------------------------------------------------ */

gboolean
shape_count (const FkpShape *shape, size_t *count)
{
  size_t n = 1;
  for (int i = 0; i < shape->rank; i++) {
    if (shape->dims[i] < 0 || (uint64_t) shape->dims[i] > FKP_NN_MAX_TENSOR_ELEMENTS)
      return FALSE;
    if (!g_size_checked_mul (&n, n, (size_t) shape->dims[i]))
      return FALSE;
    if (n > FKP_NN_MAX_TENSOR_ELEMENTS)
      return FALSE;
  }
  *count = n;
  return TRUE;
}

char *
shape_string (const FkpShape *shape)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < shape->rank; i++)
    g_string_append_printf (s, i ? ",%" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, shape->dims[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

int64_t
dims_product (const int64_t *dims, int from, int to)
{
  int64_t p = 1;
  for (int i = from; i < to; i++)
    p *= dims[i];
  return p;
}

/* ---- Tensors ---------------------------------------------------------- */

int
lookup_tensor (Loader *L, const char *name)
{
  if (!name || !name[0])
    return -1;
  return GPOINTER_TO_INT (g_hash_table_lookup (L->by_name, name)) - 1;
}

int
add_tensor (Loader *L, const char *name, const FkpShape *shape, DType dtype, TensorKind kind,
            GError **error)
{
  Tensor t = { 0 };
  if (!shape_count (shape, &t.n_elements)) {
    char *s = shape_string (shape);
    fail (error, FKP_NN_ERROR_TOO_LARGE, "tensor '%s' with shape %s is too large (cap %d elements)",
          name, s, FKP_NN_MAX_TENSOR_ELEMENTS);
    g_free (s);
    return -1;
  }
  t.name = g_strdup (name);
  t.shape = *shape;
  t.dtype = dtype;
  t.kind = kind;
  t.alias_of = -1;
  t.producer = -1;
  g_array_append_val (L->tensors, t);
  int index = (int) L->tensors->len - 1;
  g_hash_table_insert (L->by_name, g_strdup (name), GINT_TO_POINTER (index + 1));
  return index;
}

/* ---- Budgets ---------------------------------------------------------- */

uint64_t
weight_budget (const Loader *L)
{
  return L->opts->max_weight_bytes ? L->opts->max_weight_bytes : FKP_NN_MAX_TOTAL_BYTES;
}

uint64_t
activation_budget (const Loader *L)
{
  return L->opts->max_activation_bytes ? L->opts->max_activation_bytes : FKP_NN_MAX_TOTAL_BYTES;
}

gboolean
reserve_weights (Loader *L, const char *label, const char *name, size_t n, size_t elem_size,
                 GError **error)
{
  const uint64_t budget = weight_budget (L);
  /* n is at most the element cap, so the product cannot overflow. */
  const uint64_t bytes = (uint64_t) n * elem_size;
  if (bytes > budget || L->const_bytes > budget - bytes)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s%s'%s' needs %" G_GUINT64_FORMAT " bytes, "
                 "which with the %" G_GUINT64_FORMAT " held before passes the weight budget of %"
                 G_GUINT64_FORMAT " bytes", label ? label : "", label ? ": " : "", name,
                 (guint64) bytes, (guint64) L->const_bytes, (guint64) budget);
  return TRUE;
}

void *
try_alloc (const char *label, const char *name, size_t n, size_t elem_size, GError **error)
{
  void *p = g_try_malloc_n (MAX (n, 1), elem_size);
  if (!p)
    fail (error, FKP_NN_ERROR_OUT_OF_MEMORY, "%s%sout of memory for the %zu bytes of '%s'",
          label ? label : "", label ? ": " : "", n * elem_size, name);
  return p;
}

void *
alloc_folded (Node *node, size_t n, DType dtype, GError **error)
{
  const char *name = node->proto->output[0];
  const size_t elem = dtype == DT_INT64 ? 8 : 4;
  if (n > FKP_NN_MAX_TENSOR_ELEMENTS) {
    fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output '%s' has %zu elements (cap %d)",
          node->label, name, n, FKP_NN_MAX_TENSOR_ELEMENTS);
    return NULL;
  }
  if (!reserve_weights (node->L, node->label, name, n, elem, error))
    return NULL;
  return try_alloc (node->label, name, n, elem, error);
}

void *
alloc_held (Node *node, const char *what, size_t n, size_t elem_size, GError **error)
{
  if (n > FKP_NN_MAX_TENSOR_ELEMENTS) {
    fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: '%s' has %zu elements (cap %d)", node->label,
          what, n, FKP_NN_MAX_TENSOR_ELEMENTS);
    return NULL;
  }
  if (!reserve_weights (node->L, node->label, what, n, elem_size, error))
    return NULL;
  void *p = try_alloc (node->label, what, n, elem_size, error);
  if (p)
    node->L->const_bytes += (uint64_t) n * elem_size;
  return p;
}

float *
hold_weights (Node *node, const float *values, size_t n, GError **error)
{
  float *copy = alloc_held (node, "weights", n, sizeof (float), error);
  if (copy)
    copy_bytes (copy, values, n * sizeof (float));
  return copy;
}

gboolean
check_output (Node *node, const FkpShape *shape, GError **error)
{
  const char *name = node->proto->output[0];
  size_t n;
  if (!shape_count (shape, &n)) {
    char *s = shape_string (shape);
    fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output '%s' with shape %s is too large (cap %d "
          "elements)", node->label, name, s, FKP_NN_MAX_TENSOR_ELEMENTS);
    g_free (s);
    return FALSE;
  }
  const uint64_t budget = activation_budget (node->L);
  if ((uint64_t) n * sizeof (float) > budget)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output '%s' needs %" G_GUINT64_FORMAT
                 " bytes, past the activation budget of %" G_GUINT64_FORMAT " bytes",
                 node->label, name, (guint64) n * sizeof (float), (guint64) budget);
  return TRUE;
}

int
add_const (Loader *L, const char *name, const FkpShape *shape, DType dtype, void *values,
           GError **error)
{
  int index = add_tensor (L, name, shape, dtype, TK_CONST, error);
  if (index < 0) {
    g_free (values);
    return -1;
  }
  Tensor *t = T (L, index);
  const size_t elem = dtype == DT_INT64 ? 8 : 4;
  if (!reserve_weights (L, NULL, name, t->n_elements, elem, error)) {
    g_free (values);
    return -1;
  }
  L->const_bytes += (uint64_t) t->n_elements * elem;
  if (dtype == DT_INT64)
    t->idata = values;
  else
    t->fdata = values;
  return index;
}

/* ---- A node's inputs --------------------------------------------------- */

int
input_index (const Node *node, int i)
{
  if (i >= node->n_in)
    return -1;
  return lookup_tensor (node->L, node->proto->input[i]);
}

gboolean
check_arity (const Node *node, int min_in, int max_in, int min_out, int max_out, GError **error)
{
  if (node->n_in < min_in)
    return fail (error, FKP_NN_ERROR_MISSING, "%s has %d inputs, needs at least %d", node->label,
                 node->n_in, min_in);
  if (node->n_in > max_in)
    return fail (error, FKP_NN_ERROR_PARSE, "%s has %d inputs (expected %d to %d)", node->label,
                 node->n_in, min_in, max_in);
  if (node->n_out < min_out || node->n_out > max_out)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s has %d outputs (%d to %d supported)", node->label, node->n_out, min_out,
                 max_out);
  for (int i = 0; i < min_in; i++)
    if (input_index (node, i) < 0)
      return fail (error, FKP_NN_ERROR_MISSING, "%s: required input %d is empty", node->label,
                   i);
  for (int i = 0; i < min_out; i++)
    if (!node->proto->output[i] || !node->proto->output[i][0])
      return fail (error, FKP_NN_ERROR_PARSE, "%s: output %d has no name", node->label, i);
  return TRUE;
}

gboolean
want_float (const Node *node, int i, int *index, GError **error)
{
  *index = input_index (node, i);
  if (*index < 0)
    return fail (error, FKP_NN_ERROR_MISSING, "%s: input %d is missing", node->label, i);
  const Tensor *t = T (node->L, *index);
  if (t->dtype != DT_FLOAT)
    return fail (error, FKP_NN_ERROR_DTYPE, "%s: input '%s' is %s, expected float32",
                 node->label, t->name, t->dtype == DT_INT64 ? "int64" : "an ArgMax index map "
                 "(Cast it to float)");
  return TRUE;
}

gboolean
want_const_float (const Node *node, int i, int *index, GError **error)
{
  if (!want_float (node, i, index, error))
    return FALSE;
  if (T (node->L, *index)->kind != TK_CONST)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: input '%s' must be a constant (initializer)", node->label,
                 T (node->L, *index)->name);
  return TRUE;
}

gboolean
want_const_ints (const Node *node, int i, const int64_t **values, size_t *count, GError **error)
{
  int index = input_index (node, i);
  *values = NULL;
  *count = 0;
  if (index < 0)
    return TRUE;
  const Tensor *t = T (node->L, index);
  if (t->kind != TK_CONST)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: input '%s' must be constant (shapes are fixed at load)", node->label,
                 t->name);
  if (t->dtype != DT_INT64)
    return fail (error, FKP_NN_ERROR_DTYPE, "%s: input '%s' must be int64", node->label,
                 t->name);
  if (t->shape.rank > 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' must be a vector", node->label,
                 t->name);
  *values = t->idata;
  *count = t->n_elements;
  return TRUE;
}

gboolean
norm_axis (const Node *node, int64_t axis, int rank, int *out, GError **error)
{
  if (axis < -rank || axis >= rank)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: axis %" G_GINT64_FORMAT " is out of range for rank %d", node->label, axis,
                 rank);
  *out = (int) (axis < 0 ? axis + rank : axis);
  return TRUE;
}

/* ---- Steps and outputs ------------------------------------------------- */

Step *
new_step (Node *node, OpKind op, size_t params_size, int n_inputs, const int *inputs)
{
  Step s = { 0 };
  s.op = op;
  s.label = g_strdup (node->label);
  s.n_inputs = n_inputs;
  s.inputs = g_memdup2 (inputs, (size_t) n_inputs * sizeof (int));
  s.output = -1;
  s.params = params_size ? g_malloc0 (params_size) : NULL;
  g_array_append_val (node->L->steps, s);
  return &g_array_index (node->L->steps, Step, node->L->steps->len - 1);
}

gboolean
step_output (Node *node, Step *step, const FkpShape *shape, DType dtype, GError **error)
{
  if (!check_output (node, shape, error))
    return FALSE;
  int index = add_tensor (node->L, node->proto->output[0], shape, dtype, TK_ACTIVATION, error);
  if (index < 0)
    return FALSE;
  step->output = index;
  T (node->L, index)->producer = (int) node->L->steps->len - 1;
  return TRUE;
}

gboolean
view_output (Node *node, int source, const FkpShape *shape, GError **error)
{
  Loader *L = node->L;
  const char *name = node->proto->output[0];
  Tensor *src = T (L, source);
  size_t n;
  if (!shape_count (shape, &n) || n != src->n_elements) {
    char *a = shape_string (&src->shape), *b = shape_string (shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: cannot view '%s' %s as %s", node->label, src->name, a,
          b);
    g_free (a);
    g_free (b);
    return FALSE;
  }
  if (src->kind == TK_CONST) {
    size_t elem = src->dtype == DT_INT64 ? 8 : 4;
    void *copy = alloc_folded (node, n, src->dtype, error);
    if (!copy)
      return FALSE;
    copy_bytes (copy, src->dtype == DT_INT64 ? (void *) src->idata : (void *) src->fdata,
                n * elem);
    return add_const (L, name, shape, src->dtype, copy, error) >= 0;
  }
  int index = add_tensor (L, name, shape, src->dtype, src->kind == TK_INPUT ? TK_ACTIVATION :
                          src->kind, error);
  if (index < 0)
    return FALSE;
  T (L, index)->alias_of = source;
  return TRUE;
}

void
bind_output (Node *node, int source)
{
  g_hash_table_insert (node->L->by_name, g_strdup (node->proto->output[0]),
                       GINT_TO_POINTER (source + 1));
}

/* ---- More input checks ------------------------------------------------- */

gboolean
want_nchw (const Node *node, int x, GError **error)
{
  const Tensor *t = T (node->L, x);
  if (t->shape.rank != 4)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' must be 4-D NCHW (rank %d)",
                 node->label, t->name, t->shape.rank);
  return TRUE;
}

gboolean
scalar_const (const Node *node, int i, float *value, gboolean *present, GError **error)
{
  int index = input_index (node, i);
  *present = index >= 0;
  if (index < 0)
    return TRUE;
  if (!want_const_float (node, i, &index, error))
    return FALSE;
  if (T (node->L, index)->n_elements != 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' must be a scalar", node->label,
                 T (node->L, index)->name);
  *value = T (node->L, index)->fdata[0];
  return TRUE;
}

gboolean
read_axes (const Node *node, int input, int64_t *axes, int *n_axes, GError **error)
{
  if (!attr_ints (node, "axes", axes, FKP_NN_MAX_RANK, n_axes, error))
    return FALSE;
  if (*n_axes >= 0)
    return TRUE;
  const int64_t *values;
  size_t count;
  if (!want_const_ints (node, input, &values, &count, error))
    return FALSE;
  if (!values)
    return TRUE;
  if (count > FKP_NN_MAX_RANK)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: too many axes", node->label);
  copy_bytes (axes, values, count * sizeof (int64_t));
  *n_axes = (int) count;
  return TRUE;
}
