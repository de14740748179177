/* Loading an ONNX model: parse, validate, sort, infer shapes, fold
 * constants, turn nodes into kernel steps, fuse, and plan memory.
 *
 * Everything that can go wrong with a file goes wrong here, so every index,
 * dim, attribute and byte count read from the protobuf is checked before
 * use, and every size is computed with overflow checks.  After a successful
 * load, running the net cannot fail. */
#include "nn-private.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define MAX_PAD 65536      /* sane caps for attribute values that enter size arithmetic */
#define MAX_STRIDE 65536

typedef struct {
  FkpNet *net;
  const FkpNetOptions *opts;
  Onnx__ModelProto *model;
  Onnx__GraphProto *graph;
  int64_t opset;
  GArray *tensors;          /* Tensor */
  GArray *steps;            /* Step */
  GHashTable *by_name;      /* name -> tensor index + 1 */
  GHashTable *name_uses;    /* name -> number of node inputs reading it */
  GHashTable *output_names; /* graph output names */
  uint64_t const_bytes;
} Loader;

/* ---- Errors ----------------------------------------------------------- */

static gboolean G_GNUC_PRINTF (3, 4)
fail (GError **error, FkpNnError code, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  char *message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, FKP_NN_ERROR, code, message);
  g_free (message);
  return FALSE;
}

static char *
node_label (const Onnx__NodeProto *node, size_t index)
{
  const char *op = node->op_type ? node->op_type : "?";
  if (node->name && node->name[0])
    return g_strdup_printf ("node '%s' (%s)", node->name, op);
  return g_strdup_printf ("node #%zu (%s)", index, op);
}

/* memcpy that accepts NULL with a zero length (empty tensors and lists). */
static inline void
copy_bytes (void *dst, const void *src, size_t n)
{
  if (n > 0)
    memcpy (dst, src, n);
}

/* ---- Sizes ------------------------------------------------------------ */

/* Element count of a shape, FALSE on overflow or above the per-tensor cap. */
static gboolean
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

static char *
shape_string (const FkpShape *shape)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < shape->rank; i++)
    g_string_append_printf (s, i ? ",%" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, shape->dims[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static int64_t
dims_product (const int64_t *dims, int from, int to)
{
  int64_t p = 1;
  for (int i = from; i < to; i++)
    p *= dims[i];
  return p;
}

/* ---- Tensors ---------------------------------------------------------- */

static Tensor *
T (Loader *L, int index)
{
  return &g_array_index (L->tensors, Tensor, index);
}

static int
lookup (Loader *L, const char *name)
{
  if (!name || !name[0])
    return -1;
  return GPOINTER_TO_INT (g_hash_table_lookup (L->by_name, name)) - 1;
}

/* Adds a tensor named `name` (copied) and binds the name to it. */
static int
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

static gboolean
charge_const (Loader *L, size_t n_elements, size_t elem_size, const char *name, GError **error)
{
  L->const_bytes += (uint64_t) n_elements * elem_size;
  if (L->const_bytes > FKP_NN_MAX_TOTAL_BYTES)
    return fail (error, FKP_NN_ERROR_TOO_LARGE,
                 "constant '%s' takes the model's weights past %" G_GUINT64_FORMAT " bytes",
                 name, (guint64) FKP_NN_MAX_TOTAL_BYTES);
  return TRUE;
}

/* A new constant tensor; takes ownership of `values` (float or int64). */
static int
add_const (Loader *L, const char *name, const FkpShape *shape, DType dtype, void *values,
           GError **error)
{
  int index = add_tensor (L, name, shape, dtype, TK_CONST, error);
  if (index < 0) {
    g_free (values);
    return -1;
  }
  Tensor *t = T (L, index);
  if (!charge_const (L, t->n_elements, dtype == DT_INT64 ? 8 : 4, name, error)) {
    g_free (values);
    return -1;
  }
  if (dtype == DT_INT64)
    t->idata = values;
  else
    t->fdata = values;
  return index;
}

/* Reads a TensorProto into a constant tensor named `name`. */
static int
const_from_proto (Loader *L, const Onnx__TensorProto *proto, const char *name, GError **error)
{
  FkpShape shape = { 0 };
  if (proto->n_external_data > 0 || (proto->has_data_location && proto->data_location != 0)) {
    fail (error, FKP_NN_ERROR_MISSING, "tensor '%s' keeps its data in an external file, which is "
          "not supported", name);
    return -1;
  }
  if (proto->n_dims > FKP_NN_MAX_RANK) {
    fail (error, FKP_NN_ERROR_SHAPE, "tensor '%s' has rank %zu (at most %d supported)", name,
          proto->n_dims, FKP_NN_MAX_RANK);
    return -1;
  }
  shape.rank = (int) proto->n_dims;
  for (size_t i = 0; i < proto->n_dims; i++) {
    if (proto->dims[i] < 0) {
      fail (error, FKP_NN_ERROR_SHAPE, "tensor '%s' has negative dim %" G_GINT64_FORMAT, name,
            proto->dims[i]);
      return -1;
    }
    shape.dims[i] = proto->dims[i];
  }
  size_t n;
  if (!shape_count (&shape, &n)) {
    char *s = shape_string (&shape);
    fail (error, FKP_NN_ERROR_TOO_LARGE, "tensor '%s' with shape %s is too large", name, s);
    g_free (s);
    return -1;
  }
  int type = proto->has_data_type ? proto->data_type : 0;
  const uint8_t *raw = proto->has_raw_data ? proto->raw_data.data : NULL;
  size_t raw_len = proto->has_raw_data ? proto->raw_data.len : 0;
  gboolean use_raw = proto->has_raw_data;

#define CHECK_COUNT(have, elem)                                                              \
  if ((have) != n) {                                                                         \
    fail (error, FKP_NN_ERROR_PARSE, "tensor '%s' holds %zu " elem " but its dims need %zu", \
          name, (size_t) (have), n);                                                         \
    return -1;                                                                               \
  }

  switch (type) {
  case ONNX_FLOAT: case ONNX_DOUBLE: {
    float *values = g_try_new (float, MAX (n, 1));
    if (!values) {
      fail (error, FKP_NN_ERROR_TOO_LARGE, "out of memory for tensor '%s'", name);
      return -1;
    }
    if (type == ONNX_FLOAT && use_raw) {
      if (raw_len != n * 4) {
        g_free (values);
        fail (error, FKP_NN_ERROR_PARSE, "tensor '%s' holds %zu bytes but its dims need %zu",
              name, raw_len, n * 4);
        return -1;
      }
      copy_bytes (values, raw, n * 4);
    } else if (type == ONNX_FLOAT) {
      if (proto->n_float_data != n) g_free (values);
      CHECK_COUNT (proto->n_float_data, "floats");
      copy_bytes (values, proto->float_data, n * 4);
    } else if (use_raw) {
      if (raw_len != n * 8) {
        g_free (values);
        fail (error, FKP_NN_ERROR_PARSE, "tensor '%s' holds %zu bytes but its dims need %zu",
              name, raw_len, n * 8);
        return -1;
      }
      for (size_t i = 0; i < n; i++) {
        double d;
        copy_bytes (&d, raw + 8 * i, 8);
        values[i] = (float) d;
      }
    } else {
      if (proto->n_double_data != n) g_free (values);
      CHECK_COUNT (proto->n_double_data, "doubles");
      for (size_t i = 0; i < n; i++)
        values[i] = (float) proto->double_data[i];
    }
    return add_const (L, name, &shape, DT_FLOAT, values, error);
  }
  case ONNX_INT64: case ONNX_INT32: {
    int64_t *values = g_try_new (int64_t, MAX (n, 1));
    if (!values) {
      fail (error, FKP_NN_ERROR_TOO_LARGE, "out of memory for tensor '%s'", name);
      return -1;
    }
    size_t elem = type == ONNX_INT64 ? 8 : 4;
    if (use_raw) {
      if (raw_len != n * elem) {
        g_free (values);
        fail (error, FKP_NN_ERROR_PARSE, "tensor '%s' holds %zu bytes but its dims need %zu",
              name, raw_len, n * elem);
        return -1;
      }
      for (size_t i = 0; i < n; i++) {
        if (elem == 8) {
          copy_bytes (&values[i], raw + 8 * i, 8);
        } else {
          int32_t v;
          copy_bytes (&v, raw + 4 * i, 4);
          values[i] = v;
        }
      }
    } else if (type == ONNX_INT64) {
      if (proto->n_int64_data != n) g_free (values);
      CHECK_COUNT (proto->n_int64_data, "int64s");
      copy_bytes (values, proto->int64_data, n * 8);
    } else {
      if (proto->n_int32_data != n) g_free (values);
      CHECK_COUNT (proto->n_int32_data, "int32s");
      for (size_t i = 0; i < n; i++)
        values[i] = proto->int32_data[i];
    }
    return add_const (L, name, &shape, DT_INT64, values, error);
  }
  default:
    fail (error, FKP_NN_ERROR_DTYPE, "tensor '%s' has data type %d; only float32, double, int64 "
          "and int32 are supported", name, type);
    return -1;
  }
#undef CHECK_COUNT
}

/* ---- Attributes ------------------------------------------------------- */

enum {
  ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4, ATTR_FLOATS = 6,
  ATTR_INTS = 7,
};

typedef struct {
  Loader *L;
  const Onnx__NodeProto *proto;
  char *label;
  int n_in;          /* inputs and outputs, trailing empty names dropped */
  int n_out;
} Node;

static const Onnx__AttributeProto *
find_attr (const Node *node, const char *name)
{
  for (size_t i = 0; i < node->proto->n_attribute; i++) {
    const Onnx__AttributeProto *a = node->proto->attribute[i];
    if (a->name && strcmp (a->name, name) == 0)
      return a;
  }
  return NULL;
}

/* Rejects attributes the op does not know: `known` is a comma-separated list. */
static gboolean
check_attrs (const Node *node, const char *known, GError **error)
{
  for (size_t i = 0; i < node->proto->n_attribute; i++) {
    const Onnx__AttributeProto *a = node->proto->attribute[i];
    const char *name = a->name ? a->name : "";
    gboolean found = FALSE;
    size_t len = strlen (name);
    for (const char *p = known; *p && len;) {
      const char *end = strchr (p, ',');
      size_t n = end ? (size_t) (end - p) : strlen (p);
      if (n == len && strncmp (p, name, n) == 0)
        found = TRUE;
      p += n + (end ? 1 : 0);
    }
    if (!found)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: unknown attribute '%s'",
                   node->label, name);
  }
  return TRUE;
}

static gboolean
attr_type_ok (const Node *node, const Onnx__AttributeProto *a, int type, GError **error)
{
  /* Old exporters may leave `type` unset; then trust the field the op expects. */
  if (a->has_type && a->type != type)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: attribute '%s' has type %d, expected %d", node->label, a->name, a->type,
                 type);
  return TRUE;
}

static gboolean
attr_int (const Node *node, const char *name, int64_t fallback, int64_t *value, GError **error)
{
  const Onnx__AttributeProto *a = find_attr (node, name);
  *value = fallback;
  if (!a)
    return TRUE;
  if (!attr_type_ok (node, a, ATTR_INT, error))
    return FALSE;
  *value = a->i;
  return TRUE;
}

static gboolean
attr_float (const Node *node, const char *name, float fallback, float *value, GError **error)
{
  const Onnx__AttributeProto *a = find_attr (node, name);
  *value = fallback;
  if (!a)
    return TRUE;
  if (!attr_type_ok (node, a, ATTR_FLOAT, error))
    return FALSE;
  *value = a->f;
  return TRUE;
}

/* Reads an INTS attribute of at most `max` values; *count = -1 if absent. */
static gboolean
attr_ints (const Node *node, const char *name, int64_t *values, int max, int *count,
           GError **error)
{
  const Onnx__AttributeProto *a = find_attr (node, name);
  *count = -1;
  if (!a)
    return TRUE;
  if (!attr_type_ok (node, a, ATTR_INTS, error))
    return FALSE;
  if (a->n_ints > (size_t) max)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: attribute '%s' has %zu values (at most %d expected)", node->label, name,
                 a->n_ints, max);
  copy_bytes (values, a->ints, a->n_ints * sizeof (int64_t));
  *count = (int) a->n_ints;
  return TRUE;
}

/* A string attribute compared with `fallback` when absent; returns a
 * pointer valid while the model proto lives (or `fallback`). */
static gboolean
attr_string (const Node *node, const char *name, const char *fallback, char **value,
             GError **error)
{
  const Onnx__AttributeProto *a = find_attr (node, name);
  if (!a) {
    *value = g_strdup (fallback);
    return TRUE;
  }
  if (!attr_type_ok (node, a, ATTR_STRING, error))
    return FALSE;
  /* g_strndup (NULL, 0) is NULL: an empty or absent string is "". */
  *value = a->s.data ? g_strndup ((const char *) a->s.data, a->s.len) : g_strdup ("");
  return TRUE;
}

/* ---- Node inputs ------------------------------------------------------ */

static int
input_index (const Node *node, int i)
{
  if (i >= node->n_in)
    return -1;
  return lookup (node->L, node->proto->input[i]);
}

/* Checks the count of inputs (non-empty trailing) and outputs. */
static gboolean
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

/* A runtime or constant float tensor input. */
static gboolean
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

static gboolean
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

/* A constant int64 vector input (shapes, axes, pads, ...); NULL values when
 * the input is absent. */
static gboolean
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

/* Normalises an axis into [0, rank). */
static gboolean
norm_axis (const Node *node, int64_t axis, int rank, int *out, GError **error)
{
  if (axis < -rank || axis >= rank)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: axis %" G_GINT64_FORMAT " is out of range for rank %d", node->label, axis,
                 rank);
  *out = (int) (axis < 0 ? axis + rank : axis);
  return TRUE;
}

/* ---- Steps ------------------------------------------------------------ */

static Step *
new_step (Node *node, OpKind op)
{
  Step s = { 0 };
  s.op = op;
  s.label = g_strdup (node->label);
  s.output = -1;
  g_array_append_val (node->L->steps, s);
  return &g_array_index (node->L->steps, Step, node->L->steps->len - 1);
}

/* Creates the step's output activation tensor (output 0 of the node). */
static gboolean
step_output (Node *node, Step *step, const FkpShape *shape, DType dtype, GError **error)
{
  int index = add_tensor (node->L, node->proto->output[0], shape, dtype, TK_ACTIVATION, error);
  if (index < 0)
    return FALSE;
  step->output = index;
  T (node->L, index)->producer = (int) node->L->steps->len - 1;
  return TRUE;
}

/* Output that is input `source` seen with another shape (no copy). */
static gboolean
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
    void *copy = g_memdup2 (src->dtype == DT_INT64 ? (void *) src->idata : (void *) src->fdata,
                            MAX (n, 1) * elem);
    return add_const (L, name, shape, src->dtype, copy, error) >= 0;
  }
  int index = add_tensor (L, name, shape, src->dtype, src->kind == TK_INPUT ? TK_ACTIVATION :
                          src->kind, error);
  if (index < 0)
    return FALSE;
  T (L, index)->alias_of = source;
  return TRUE;
}

/* Binds the node's output name to an existing tensor (Identity, Dropout). */
static void
bind_output (Node *node, int source)
{
  g_hash_table_insert (node->L->by_name, g_strdup (node->proto->output[0]),
                       GINT_TO_POINTER (source + 1));
}

/* ---- Convolution and pooling geometry --------------------------------- */

typedef enum { PAD_NOTSET, PAD_VALID, PAD_SAME_UPPER, PAD_SAME_LOWER } AutoPad;

static gboolean
parse_auto_pad (const Node *node, AutoPad *mode, GError **error)
{
  char *s;
  if (!attr_string (node, "auto_pad", "NOTSET", &s, error))
    return FALSE;
  gboolean ok = TRUE;
  if (strcmp (s, "NOTSET") == 0 || s[0] == '\0')
    *mode = PAD_NOTSET;
  else if (strcmp (s, "VALID") == 0)
    *mode = PAD_VALID;
  else if (strcmp (s, "SAME_UPPER") == 0)
    *mode = PAD_SAME_UPPER;
  else if (strcmp (s, "SAME_LOWER") == 0)
    *mode = PAD_SAME_LOWER;
  else
    ok = fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: auto_pad '%s' is not supported",
               node->label, s);
  g_free (s);
  return ok;
}

/* Output length and pads of one spatial dim of a conv or pool window. */
static gboolean
window_dim (const Node *node, AutoPad mode, gboolean ceil_mode, int64_t in, int64_t kernel,
            int64_t stride, int64_t dilation, int64_t *pad_begin, int64_t *pad_end, int64_t *out,
            GError **error)
{
  int64_t extent = (kernel - 1) * dilation + 1;
  if (mode == PAD_VALID)
    *pad_begin = *pad_end = 0;
  if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
    *out = (in + stride - 1) / stride;
    int64_t total = MAX (0, (*out - 1) * stride + extent - in);
    *pad_begin = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
    *pad_end = total - *pad_begin;
  } else {
    int64_t span = in + *pad_begin + *pad_end - extent;
    if (span < 0)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: window of %" G_GINT64_FORMAT
                   " does not fit input length %" G_GINT64_FORMAT " plus padding", node->label,
                   extent, in);
    *out = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
    /* The last window must start inside the input or the leading padding. */
    if (ceil_mode && (*out - 1) * stride >= in + *pad_begin)
      (*out)--;
  }
  if (*pad_begin > MAX_PAD || *pad_end > MAX_PAD)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: padding above %d", node->label,
                 MAX_PAD);
  if (*out < 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: output would be empty", node->label);
  return TRUE;
}

/* Reads kernel geometry attributes shared by Conv and the pools. */
static gboolean
window_attrs (const Node *node, int64_t *strides, int64_t *dilations, int64_t *pads,
              GError **error)
{
  int n;
  strides[0] = strides[1] = 1;
  dilations[0] = dilations[1] = 1;
  pads[0] = pads[1] = pads[2] = pads[3] = 0;
  if (!attr_ints (node, "strides", strides, 2, &n, error))
    return FALSE;
  if (n >= 0 && n != 2)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: strides must have 2 values",
                 node->label);
  if (!attr_ints (node, "dilations", dilations, 2, &n, error))
    return FALSE;
  if (n >= 0 && n != 2)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: dilations must have 2 values",
                 node->label);
  if (!attr_ints (node, "pads", pads, 4, &n, error))
    return FALSE;
  if (n >= 0 && n != 4)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: pads must have 4 values",
                 node->label);
  for (int i = 0; i < 2; i++) {
    if (strides[i] < 1 || strides[i] > MAX_STRIDE || dilations[i] < 1 || dilations[i] > MAX_STRIDE)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                   "%s: strides and dilations must lie in [1, %d]", node->label, MAX_STRIDE);
  }
  for (int i = 0; i < 4; i++)
    if (pads[i] < 0 || pads[i] > MAX_PAD)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: pads must lie in [0, %d]",
                   node->label, MAX_PAD);
  return TRUE;
}

static gboolean
want_nchw (const Node *node, int x, GError **error)
{
  const Tensor *t = T (node->L, x);
  if (t->shape.rank != 4)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' must be 4-D NCHW (rank %d)",
                 node->label, t->name, t->shape.rank);
  return TRUE;
}

static gboolean
op_conv (Node *node, GError **error)
{
  Loader *L = node->L;
  int x, w, b = -1;
  if (!check_arity (node, 2, 3, 1, 1, error)
      || !check_attrs (node, "auto_pad,dilations,group,kernel_shape,pads,strides", error)
      || !want_float (node, 0, &x, error) || !want_const_float (node, 1, &w, error)
      || !want_nchw (node, x, error))
    return FALSE;
  if (input_index (node, 2) >= 0 && !want_const_float (node, 2, &b, error))
    return FALSE;
  const Tensor *X = T (L, x), *W = T (L, w);
  if (X->shape.dims[0] != 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: batch %" G_GINT64_FORMAT " (only 1 supported)",
                 node->label, X->shape.dims[0]);
  if (W->shape.rank != 4)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: weights '%s' must be 4-D", node->label, W->name);
  int64_t group, strides[2], dilations[2], pads[4], kernel[2];
  int n_kernel;
  AutoPad auto_pad;
  if (!attr_int (node, "group", 1, &group, error) || !window_attrs (node, strides, dilations, pads, error)
      || !attr_ints (node, "kernel_shape", kernel, 2, &n_kernel, error)
      || !parse_auto_pad (node, &auto_pad, error))
    return FALSE;
  int64_t C = X->shape.dims[1], H = X->shape.dims[2], Wd = X->shape.dims[3];
  int64_t M = W->shape.dims[0], Cg = W->shape.dims[1], KH = W->shape.dims[2], KW = W->shape.dims[3];
  if (group < 1 || group > C || C % group != 0 || M % group != 0 || Cg * group != C || M < 1) {
    char *a = shape_string (&X->shape), *c = shape_string (&W->shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: weights '%s' %s do not fit input %s with group %"
          G_GINT64_FORMAT, node->label, W->name, c, a, group);
    g_free (a);
    g_free (c);
    return FALSE;
  }
  if (KH < 1 || KW < 1 || (n_kernel >= 0 && (n_kernel != 2 || kernel[0] != KH || kernel[1] != KW)))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: kernel_shape disagrees with weights '%s'",
                 node->label, W->name);
  if (b >= 0 && (T (L, b)->shape.rank != 1 || T (L, b)->shape.dims[0] != M))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: bias '%s' must have %" G_GINT64_FORMAT
                 " values", node->label, T (L, b)->name, M);
  int64_t OH, OW;
  if (!window_dim (node, auto_pad, FALSE, H, KH, strides[0], dilations[0], &pads[0], &pads[2], &OH, error)
      || !window_dim (node, auto_pad, FALSE, Wd, KW, strides[1], dilations[1], &pads[1], &pads[3], &OW, error))
    return FALSE;
  FkpShape shape = { 4, { 1, M, OH, OW } };
  Step *s = new_step (node, OP_CONV);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->groups = (int) group;
  s->kh = (int) KH; s->kw = (int) KW;
  s->sh = (int) strides[0]; s->sw = (int) strides[1];
  s->dh = (int) dilations[0]; s->dw = (int) dilations[1];
  s->pad_top = (int) pads[0]; s->pad_left = (int) pads[1];
  s->pad_bottom = (int) pads[2]; s->pad_right = (int) pads[3];
  s->weights = g_memdup2 (W->fdata, W->n_elements * sizeof (float));
  s->n_weights = W->n_elements;
  s->n_bias = (size_t) M;
  if (b >= 0)
    s->bias = g_memdup2 (T (L, b)->fdata, M * sizeof (float));
  int64_t Mg = M / group;
  if (KH == 1 && KW == 1 && s->sh == 1 && s->sw == 1 && pads[0] == 0 && pads[1] == 0
      && pads[2] == 0 && pads[3] == 0)
    s->conv_algo = CONV_GEMM_1X1;
  else if ((Cg == 1 && group > 1) || Mg <= 2 || (Cg * KH * KW <= 32 && s->sh == 1 && s->sw == 1))
    /* Depthwise, GEMMs too thin for sgemm to pay off (the attention
     * module's 7×7 conv 2→1), or few taps per output at stride 1 (a first
     * layer on 3 channels), where im2col would copy more than the GEMM
     * computes.  A dense strided conv on one channel (the landmark model's
     * 7×7/2 stem) is a proper GEMM (K = 49): the direct loop ran it at a
     * tenth of sgemm's speed. */
    s->conv_algo = CONV_DIRECT;
  else
    s->conv_algo = CONV_IM2COL;
  if (s->conv_algo == CONV_GEMM_1X1 && Cg == 1 && Mg <= 2)
    s->conv_algo = CONV_DIRECT;
  s->macs = (uint64_t) M * OH * OW * Cg * KH * KW;
  if (s->conv_algo == CONV_IM2COL) {
    uint64_t per_row = (uint64_t) Cg * KH * KW * OW;
    uint64_t rows = MAX (1, MIN ((uint64_t) OH, FKP_NN_IM2COL_FLOATS / per_row));
    uint64_t cols = per_row * rows;
    if (cols > FKP_NN_MAX_TENSOR_ELEMENTS)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: im2col buffer of %" G_GUINT64_FORMAT
                   " elements is too large", node->label, (guint64) cols);
    s->im2col_rows = (int) rows;
    L->net->scratch_floats = MAX (L->net->scratch_floats, (size_t) cols);
  }
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
op_pool (Node *node, gboolean is_max, GError **error)
{
  int x;
  if (!check_arity (node, 1, 1, 1, 1, error)
      || !check_attrs (node, is_max ? "auto_pad,ceil_mode,dilations,kernel_shape,pads,storage_order,strides"
                                    : "auto_pad,ceil_mode,count_include_pad,kernel_shape,pads,strides", error)
      || !want_float (node, 0, &x, error) || !want_nchw (node, x, error))
    return FALSE;
  const Tensor *X = T (node->L, x);
  int64_t strides[2], dilations[2], pads[4], kernel[2], ceil_mode, include_pad, storage;
  int n_kernel;
  AutoPad auto_pad;
  if (!window_attrs (node, strides, dilations, pads, error)
      || !attr_ints (node, "kernel_shape", kernel, 2, &n_kernel, error)
      || !attr_int (node, "ceil_mode", 0, &ceil_mode, error)
      || !attr_int (node, "count_include_pad", 0, &include_pad, error)
      || !attr_int (node, "storage_order", 0, &storage, error)
      || !parse_auto_pad (node, &auto_pad, error))
    return FALSE;
  if (n_kernel != 2 || kernel[0] < 1 || kernel[1] < 1 || kernel[0] > X->shape.dims[2] + 2 * MAX_PAD
      || kernel[1] > X->shape.dims[3] + 2 * MAX_PAD)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: kernel_shape must hold 2 positive sizes", node->label);
  if (storage != 0)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: storage_order %" G_GINT64_FORMAT
                 " is not supported", node->label, storage);
  int64_t OH, OW;
  if (!window_dim (node, auto_pad, ceil_mode != 0, X->shape.dims[2], kernel[0], strides[0], dilations[0], &pads[0], &pads[2], &OH, error)
      || !window_dim (node, auto_pad, ceil_mode != 0, X->shape.dims[3], kernel[1], strides[1], dilations[1], &pads[1], &pads[3], &OW, error))
    return FALSE;
  FkpShape shape = { 4, { X->shape.dims[0], X->shape.dims[1], OH, OW } };
  Step *s = new_step (node, is_max ? OP_MAXPOOL : OP_AVGPOOL);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->kh = (int) kernel[0]; s->kw = (int) kernel[1];
  s->sh = (int) strides[0]; s->sw = (int) strides[1];
  s->dh = (int) dilations[0]; s->dw = (int) dilations[1];
  s->pad_top = (int) pads[0]; s->pad_left = (int) pads[1];
  s->pad_bottom = (int) pads[2]; s->pad_right = (int) pads[3];
  s->count_include_pad = include_pad != 0;
  if (is_max) {
    /* Separable max: a padded input row plus one horizontally pooled plane. */
    uint64_t row = (uint64_t) (OW - 1) * strides[1] + (kernel[1] - 1) * dilations[1] + 1;
    uint64_t need = 2 * row + (uint64_t) X->shape.dims[2] * OW;
    /* or, for the flat path, two chunks of whole planes */
    uint64_t plane = (uint64_t) X->shape.dims[2] * X->shape.dims[3];
    need = MAX (need, 2 * MAX (plane, (uint64_t) 65536));
    if (need > FKP_NN_MAX_TENSOR_ELEMENTS)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: pooling buffer is too large", node->label);
    node->L->net->scratch_floats = MAX (node->L->net->scratch_floats, (size_t) need);
  }
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
op_global_pool (Node *node, gboolean is_max, GError **error)
{
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
  Step *s = new_step (node, is_max ? OP_GLOBAL_MAXPOOL : OP_GLOBAL_AVGPOOL);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->outer = (size_t) (X->shape.dims[0] * X->shape.dims[1]);
  s->inner = (size_t) dims_product (X->shape.dims, 2, X->shape.rank);
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
op_batchnorm (Node *node, GError **error)
{
  Loader *L = node->L;
  int x, p[4];
  if (!check_arity (node, 5, 5, 1, 5, error)
      || !check_attrs (node, "epsilon,momentum,spatial,training_mode,is_test", error)
      || !want_float (node, 0, &x, error))
    return FALSE;
  for (int i = 1; i < node->n_out; i++)
    if (node->proto->output[i] && node->proto->output[i][0])
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                   "%s: training outputs are not supported", node->label);
  float epsilon;
  int64_t spatial, training;
  if (!attr_float (node, "epsilon", 1e-5f, &epsilon, error)
      || !attr_int (node, "spatial", 1, &spatial, error)
      || !attr_int (node, "training_mode", 0, &training, error))
    return FALSE;
  if (spatial != 1 || training != 0)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: only inference-mode, spatial batch normalisation is supported", node->label);
  if (!(epsilon >= 0.0f))
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: epsilon must be >= 0",
                 node->label);
  const Tensor *X = T (L, x);
  if (X->shape.rank < 2)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' needs rank >= 2", node->label, X->name);
  int64_t C = X->shape.dims[1];
  for (int i = 0; i < 4; i++) {
    if (!want_const_float (node, i + 1, &p[i], error))
      return FALSE;
    if (T (L, p[i])->n_elements != (size_t) C || T (L, p[i])->shape.rank != 1)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' must hold %" G_GINT64_FORMAT " values",
                   node->label, T (L, p[i])->name, C);
  }
  Step *s = new_step (node, OP_BATCHNORM);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->scale = g_new (float, MAX (C, 1));
  s->shift = g_new (float, MAX (C, 1));
  for (int64_t c = 0; c < C; c++) {
    float gamma = T (L, p[0])->fdata[c], beta = T (L, p[1])->fdata[c];
    float mean = T (L, p[2])->fdata[c], var = T (L, p[3])->fdata[c];
    float k = gamma / sqrtf (var + epsilon);
    s->scale[c] = k;
    s->shift[c] = beta - mean * k;
  }
  s->outer = (size_t) X->shape.dims[0];
  s->extent = (size_t) C;
  s->inner = (size_t) dims_product (X->shape.dims, 2, X->shape.rank);
  return step_output (node, s, &X->shape, DT_FLOAT, error);
}

static gboolean
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

static gboolean
op_activation (Node *node, ActKind kind, GError **error)
{
  Activation act = { kind, 0.0f, -INFINITY, INFINITY };
  int x;
  int max_in = kind == ACT_CLIP ? 3 : 1;
  const char *attrs = kind == ACT_LEAKY_RELU ? "alpha" : kind == ACT_CLIP ? "min,max" : "";
  if (!check_arity (node, 1, max_in, 1, 1, error) || !check_attrs (node, attrs, error)
      || !want_float (node, 0, &x, error))
    return FALSE;
  if (kind == ACT_LEAKY_RELU && !attr_float (node, "alpha", 0.01f, &act.alpha, error))
    return FALSE;
  if (kind == ACT_CLIP) {
    gboolean present;
    if (!attr_float (node, "min", -INFINITY, &act.lo, error)
        || !attr_float (node, "max", INFINITY, &act.hi, error)
        || !scalar_const (node, 1, &act.lo, &present, error)
        || !scalar_const (node, 2, &act.hi, &present, error))
      return FALSE;
  }
  Step *s = new_step (node, OP_ACT);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->act = act;
  return step_output (node, s, &T (node->L, x)->shape, DT_FLOAT, error);
}

static gboolean
op_softmax (Node *node, GError **error)
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
  Step *s = new_step (node, OP_SOFTMAX);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->outer = (size_t) dims_product (X->shape.dims, 0, a);
  if (node->L->opset < 13) {
    s->extent = (size_t) dims_product (X->shape.dims, a, X->shape.rank);
    s->inner = 1;
  } else {
    s->extent = X->shape.rank ? (size_t) X->shape.dims[a] : 1;
    s->inner = (size_t) dims_product (X->shape.dims, a + 1, X->shape.rank);
  }
  return step_output (node, s, &X->shape, DT_FLOAT, error);
}

/* ---- Shape-changing and structural ops -------------------------------- */

static gboolean
op_concat (Node *node, GError **error)
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
    char *out = g_malloc (MAX (n, 1) * elem), *dst = out;
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
  Step *s = new_step (node, OP_CONCAT);
  s->n_concat_inputs = node->n_in;
  s->concat_inputs = g_new (int, node->n_in);
  for (int i = 0; i < node->n_in; i++)
    s->concat_inputs[i] = input_index (node, i);
  s->axis = axis;
  s->outer = outer;
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
broadcast_shapes (const FkpShape *a, const FkpShape *b, FkpShape *out)
{
  out->rank = MAX (a->rank, b->rank);
  for (int i = 0; i < out->rank; i++) {
    int ia = a->rank - out->rank + i, ib = b->rank - out->rank + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return FALSE;
    out->dims[i] = da == 1 ? db : da;
  }
  return TRUE;
}

/* Fills the step's merged broadcast plan for out = a (op) b. */
static void
broadcast_plan (Step *s, const FkpShape *out, const FkpShape *a, const FkpShape *b)
{
  int64_t sa[FKP_NN_MAX_RANK], sb[FKP_NN_MAX_RANK];
  int64_t acc_a = 1, acc_b = 1;
  for (int i = out->rank - 1; i >= 0; i--) {
    int ia = a->rank - out->rank + i, ib = b->rank - out->rank + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    sa[i] = da == 1 ? 0 : acc_a;
    sb[i] = db == 1 ? 0 : acc_b;
    acc_a *= da;
    acc_b *= db;
  }
  s->bc_rank = 0;
  for (int i = 0; i < out->rank; i++) {
    if (out->dims[i] == 1)
      continue;
    int r = s->bc_rank;
    if (r > 0 && s->bc_stride_a[r - 1] == sa[i] * out->dims[i]
        && s->bc_stride_b[r - 1] == sb[i] * out->dims[i]) {
      s->bc_dims[r - 1] *= out->dims[i];
      s->bc_stride_a[r - 1] = sa[i];
      s->bc_stride_b[r - 1] = sb[i];
      continue;
    }
    s->bc_dims[r] = out->dims[i];
    s->bc_stride_a[r] = sa[i];
    s->bc_stride_b[r] = sb[i];
    s->bc_rank++;
  }
  if (s->bc_rank == 0) {
    s->bc_rank = 1;
    s->bc_dims[0] = 1;
    s->bc_stride_a[0] = s->bc_stride_b[0] = 0;
  }
}

/* Input offsets of output element `index` under a broadcast plan. */
static void
broadcast_offsets (const Step *s, size_t index, size_t *oa, size_t *ob)
{
  *oa = *ob = 0;
  for (int d = s->bc_rank - 1; d >= 0; d--) {
    size_t i = index % (size_t) s->bc_dims[d];
    index /= (size_t) s->bc_dims[d];
    *oa += i * (size_t) s->bc_stride_a[d];
    *ob += i * (size_t) s->bc_stride_b[d];
  }
}

static gboolean
op_binary (Node *node, BinaryKind kind, GError **error)
{
  Loader *L = node->L;
  if (!check_arity (node, 2, 2, 1, 1, error) || !check_attrs (node, "", error))
    return FALSE;
  int a = input_index (node, 0), b = input_index (node, 1);
  const Tensor *A = T (L, a), *B = T (L, b);
  FkpShape shape;
  if (!broadcast_shapes (&A->shape, &B->shape, &shape)) {
    char *sa = shape_string (&A->shape), *sb = shape_string (&B->shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: shapes %s ('%s') and %s ('%s') do not broadcast",
          node->label, sa, A->name, sb, B->name);
    g_free (sa);
    g_free (sb);
    return FALSE;
  }
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  if (A->kind == TK_CONST && B->kind == TK_CONST) {
    /* Folded now: shape arithmetic (int64) or constant float expressions. */
    if (A->dtype != B->dtype)
      return fail (error, FKP_NN_ERROR_DTYPE, "%s: inputs '%s' and '%s' differ in type",
                   node->label, A->name, B->name);
    Step plan = { 0 };
    broadcast_plan (&plan, &shape, &A->shape, &B->shape);
    if (A->dtype == DT_INT64) {
      int64_t *out = g_new (int64_t, MAX (n, 1));
      for (size_t i = 0; i < n; i++) {
        size_t oa, ob;
        broadcast_offsets (&plan, i, &oa, &ob);
        int64_t x = A->idata[oa], y = B->idata[ob];
        switch (kind) {
        case BIN_ADD: out[i] = (int64_t) ((uint64_t) x + (uint64_t) y); break;
        case BIN_SUB: out[i] = (int64_t) ((uint64_t) x - (uint64_t) y); break;
        case BIN_MUL: out[i] = (int64_t) ((uint64_t) x * (uint64_t) y); break;
        case BIN_DIV:
          if (y == 0 || (y == -1 && x == G_MININT64)) {
            g_free (out);
            return fail (error, FKP_NN_ERROR_INVALID_ARGUMENT, "%s: integer division by zero",
                         node->label);
          }
          out[i] = x / y;
          break;
        }
      }
      return add_const (L, node->proto->output[0], &shape, DT_INT64, out, error) >= 0;
    }
    float *out = g_new (float, MAX (n, 1));
    for (size_t i = 0; i < n; i++) {
      size_t oa, ob;
      broadcast_offsets (&plan, i, &oa, &ob);
      float x = A->fdata[oa], y = B->fdata[ob];
      out[i] = kind == BIN_ADD ? x + y : kind == BIN_SUB ? x - y : kind == BIN_MUL ? x * y : x / y;
    }
    return add_const (L, node->proto->output[0], &shape, DT_FLOAT, out, error) >= 0;
  }
  int ia, ib;
  if (!want_float (node, 0, &ia, error) || !want_float (node, 1, &ib, error))
    return FALSE;
  Step *s = new_step (node, OP_BINARY);
  s->binary = kind;
  s->n_inputs = 2;
  s->inputs[0] = a;
  s->inputs[1] = b;
  broadcast_plan (s, &shape, &A->shape, &B->shape);
  return step_output (node, s, &shape, DT_FLOAT, error);
}

/* Reads `axes` from the attribute (older opsets) or from input 1. */
static gboolean
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

static gboolean
op_reduce (Node *node, ReduceKind kind, GError **error)
{
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
  Step *s = new_step (node, OP_REDUCE);
  s->reduce = kind;
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->outer = (size_t) dims_product (X->shape.dims, 0, lo);
  s->extent = rank ? (size_t) dims_product (X->shape.dims, lo, hi + 1) : 1;
  s->inner = (size_t) dims_product (X->shape.dims, hi + 1, rank);
  if (s->extent == 0)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: reduction over an empty axis", node->label);
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
op_argmax (Node *node, GError **error)
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
  Step *s = new_step (node, OP_ARGMAX);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->select_last = last != 0;
  s->outer = (size_t) dims_product (X->shape.dims, 0, a);
  s->extent = (size_t) X->shape.dims[a];
  s->inner = (size_t) dims_product (X->shape.dims, a + 1, X->shape.rank);
  return step_output (node, s, &shape, DT_INDEX_FLOAT, error);
}

static gboolean
op_gemm (Node *node, GError **error)
{
  Loader *L = node->L;
  int a, b, c = -1;
  int64_t trans_a, trans_b;
  float alpha, beta;
  if (!check_arity (node, 2, 3, 1, 1, error)
      || !check_attrs (node, "alpha,beta,transA,transB,broadcast", error)
      || !want_float (node, 0, &a, error) || !want_float (node, 1, &b, error)
      || !attr_int (node, "transA", 0, &trans_a, error) || !attr_int (node, "transB", 0, &trans_b, error)
      || !attr_float (node, "alpha", 1.0f, &alpha, error) || !attr_float (node, "beta", 1.0f, &beta, error))
    return FALSE;
  if (input_index (node, 2) >= 0 && !want_const_float (node, 2, &c, error))
    return FALSE;
  const Tensor *A = T (L, a), *B = T (L, b);
  if (A->shape.rank != 2 || B->shape.rank != 2)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: Gemm needs 2-D inputs ('%s' rank %d, '%s' rank %d)",
                 node->label, A->name, A->shape.rank, B->name, B->shape.rank);
  int64_t M = A->shape.dims[trans_a ? 1 : 0], K = A->shape.dims[trans_a ? 0 : 1];
  int64_t KB = B->shape.dims[trans_b ? 1 : 0], N = B->shape.dims[trans_b ? 0 : 1];
  if (K != KB || M < 1 || N < 1 || K < 1) {
    char *sa = shape_string (&A->shape), *sb = shape_string (&B->shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' %s and '%s' %s do not multiply", node->label,
          A->name, sa, B->name, sb);
    g_free (sa);
    g_free (sb);
    return FALSE;
  }
  FkpShape shape = { 2, { M, N } };
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  Step *s = new_step (node, OP_GEMM);
  s->n_inputs = 2;
  s->inputs[0] = a;
  s->inputs[1] = b;
  s->trans_a = trans_a != 0;
  s->trans_b = trans_b != 0;
  s->alpha = alpha;
  s->gemm_m = (int) M; s->gemm_n = (int) N; s->gemm_k = (int) K;
  s->batch = 1;
  s->macs = (uint64_t) M * N * K;
  if (c >= 0 && beta != 0.0f) {
    const Tensor *C = T (L, c);
    FkpShape full;
    if (!broadcast_shapes (&C->shape, &shape, &full) || full.rank != 2 || full.dims[0] != M
        || full.dims[1] != N)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: C '%s' does not broadcast to [%" G_GINT64_FORMAT
                   ",%" G_GINT64_FORMAT "]", node->label, C->name, M, N);
    Step plan = { 0 };
    broadcast_plan (&plan, &shape, &C->shape, &C->shape);
    s->bias = g_new (float, n);
    s->n_bias = n;
    for (size_t i = 0; i < n; i++) {
      size_t oc, unused;
      broadcast_offsets (&plan, i, &oc, &unused);
      s->bias[i] = beta * C->fdata[oc];
    }
  }
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
op_matmul (Node *node, GError **error)
{
  Loader *L = node->L;
  int a, b;
  if (!check_arity (node, 2, 2, 1, 1, error) || !check_attrs (node, "", error)
      || !want_float (node, 0, &a, error) || !want_float (node, 1, &b, error))
    return FALSE;
  const Tensor *A = T (L, a), *B = T (L, b);
  int ra = A->shape.rank, rb = B->shape.rank;
  if (ra < 1 || rb < 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: MatMul of a scalar", node->label);
  int64_t K = A->shape.dims[ra - 1];
  int64_t KB = rb == 1 ? B->shape.dims[0] : B->shape.dims[rb - 2];
  int64_t N = rb == 1 ? 1 : B->shape.dims[rb - 1];
  int64_t M = ra == 1 ? 1 : A->shape.dims[ra - 2];
  int64_t batch_a = ra > 2 ? dims_product (A->shape.dims, 0, ra - 2) : 1;
  int64_t batch_b = rb > 2 ? dims_product (B->shape.dims, 0, rb - 2) : 1;
  FkpShape shape = { 0 };
  gboolean same_batch = ra == rb && ra > 2 && memcmp (A->shape.dims, B->shape.dims, (ra - 2) * sizeof (int64_t)) == 0;
  if (K != KB || K < 1 || M < 1 || N < 1 || (batch_b > 1 && batch_a > 1 && !same_batch))
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' and '%s' do not multiply (or need a batch "
                 "broadcast that is not supported)", node->label, A->name, B->name);
  const Tensor *batch_src = batch_b > 1 && batch_a <= 1 ? B : A;
  int batch_rank = MAX (batch_src->shape.rank - 2, 0);
  for (int i = 0; i < batch_rank; i++)
    shape.dims[shape.rank++] = batch_src->shape.dims[i];
  if (ra > 1)
    shape.dims[shape.rank++] = M;
  if (rb > 1)
    shape.dims[shape.rank++] = N;
  if (shape.rank > FKP_NN_MAX_RANK)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: output rank too large", node->label);
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  Step *s = new_step (node, OP_MATMUL);
  s->n_inputs = 2;
  s->inputs[0] = a;
  s->inputs[1] = b;
  s->gemm_k = (int) K;
  s->gemm_n = (int) N;
  s->alpha = 1.0f;
  if (batch_b <= 1) {
    /* B shared: all of A's rows in one GEMM */
    s->batch = 1;
    s->gemm_m = (int) (M * batch_a);
  } else {
    s->batch = (size_t) batch_b;
    s->gemm_m = (int) M;
    s->a_batch_stride = batch_a > 1 ? (size_t) (M * K) : 0;
    s->b_batch_stride = (size_t) (K * N);
  }
  s->macs = (uint64_t) s->batch * s->gemm_m * N * K;
  return step_output (node, s, &shape, DT_FLOAT, error);
}

static gboolean
op_flatten (Node *node, GError **error)
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

static gboolean
op_reshape (Node *node, GError **error)
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

static gboolean
op_squeeze (Node *node, gboolean unsqueeze, GError **error)
{
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
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: axes are required", node->label);
    int rank = X->shape.rank + n_axes;
    if (rank > FKP_NN_MAX_RANK)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: rank %d is above %d", node->label, rank,
                   FKP_NN_MAX_RANK);
    for (int i = 0; i < n_axes; i++) {
      int a = 0;
      if (!norm_axis (node, axes[i], rank, &a, error))
        return FALSE;
      if (marked[a])
        return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: repeated axis", node->label);
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

static gboolean
op_identity (Node *node, gboolean dropout, GError **error)
{
  if (!check_arity (node, 1, dropout ? 3 : 1, 1, dropout ? 2 : 1, error)
      || !check_attrs (node, dropout ? "ratio,seed,is_test" : "", error))
    return FALSE;
  if (dropout && node->n_out > 1 && node->proto->output[1][0]
      && g_hash_table_contains (node->L->name_uses, node->proto->output[1]))
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: the dropout mask is not supported",
                 node->label);
  if (dropout && node->n_in == 3) {
    int t = input_index (node, 2);
    if (T (node->L, t)->kind != TK_CONST || T (node->L, t)->n_elements != 1
        || (T (node->L, t)->dtype == DT_INT64 ? T (node->L, t)->idata[0] != 0
            : T (node->L, t)->fdata[0] != 0.0f))
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: training mode is not supported",
                   node->label);
  }
  bind_output (node, input_index (node, 0));
  return TRUE;
}

static gboolean
op_cast (Node *node, GError **error)
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
    size_t n = MAX (X->n_elements, 1);
    if (to_float) {
      float *v = g_new (float, n);
      for (size_t i = 0; i < X->n_elements; i++)
        v[i] = X->dtype == DT_INT64 ? (float) X->idata[i] : X->fdata[i];
      return add_const (L, node->proto->output[0], &X->shape, DT_FLOAT, v, error) >= 0;
    }
    int64_t *v = g_new (int64_t, n);
    for (size_t i = 0; i < X->n_elements; i++) {
      if (X->dtype == DT_INT64) {
        v[i] = to == ONNX_INT32 ? (int32_t) X->idata[i] : X->idata[i];
      } else {
        float f = X->fdata[i];
        if (!(f > -9.2e18f && f < 9.2e18f)) {
          g_free (v);
          return fail (error, FKP_NN_ERROR_INVALID_ARGUMENT, "%s: value %g does not fit an integer",
                       node->label, f);
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
    int index = add_tensor (L, node->proto->output[0], &X->shape, DT_FLOAT, TK_ACTIVATION, error);
    if (index < 0)
      return FALSE;
    T (L, index)->alias_of = x;
    return TRUE;
  }
  return fail (error, FKP_NN_ERROR_DTYPE, "%s: run-time cast of '%s' to type %" G_GINT64_FORMAT
               " is not supported", node->label, X->name, to);
}

static gboolean
op_constant (Node *node, GError **error)
{
  Loader *L = node->L;
  if (!check_arity (node, 0, 0, 1, 1, error)
      || !check_attrs (node, "value,value_float,value_floats,value_int,value_ints", error))
    return FALSE;
  if (node->proto->n_attribute != 1)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: needs exactly one value attribute",
                 node->label);
  const Onnx__AttributeProto *a = node->proto->attribute[0];
  const char *name = node->proto->output[0];
  FkpShape scalar = { 0 };
  if (strcmp (a->name, "value") == 0) {
    if (!attr_type_ok (node, a, ATTR_TENSOR, error))
      return FALSE;
    if (!a->t)
      return fail (error, FKP_NN_ERROR_PARSE, "%s: 'value' holds no tensor", node->label);
    return const_from_proto (L, a->t, name, error) >= 0;
  }
  if (strcmp (a->name, "value_float") == 0) {
    if (!attr_type_ok (node, a, ATTR_FLOAT, error))
      return FALSE;
    return add_const (L, name, &scalar, DT_FLOAT, g_memdup2 (&a->f, sizeof (float)), error) >= 0;
  }
  if (strcmp (a->name, "value_int") == 0) {
    if (!attr_type_ok (node, a, ATTR_INT, error))
      return FALSE;
    return add_const (L, name, &scalar, DT_INT64, g_memdup2 (&a->i, sizeof (int64_t)), error) >= 0;
  }
  gboolean ints = strcmp (a->name, "value_ints") == 0;
  if (!attr_type_ok (node, a, ints ? ATTR_INTS : ATTR_FLOATS, error))
    return FALSE;
  size_t n = ints ? a->n_ints : a->n_floats;
  if (n > FKP_NN_MAX_TENSOR_ELEMENTS)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: too many values", node->label);
  FkpShape vector = { 1, { (int64_t) n } };
  void *copy = ints ? g_memdup2 (a->ints, MAX (n, 1) * 8) : g_memdup2 (a->floats, MAX (n, 1) * 4);
  return add_const (L, name, &vector, ints ? DT_INT64 : DT_FLOAT, copy, error) >= 0;
}

static gboolean
op_constant_of_shape (Node *node, GError **error)
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
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: shape is too large or negative", node->label);
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
    if (t < 0)
      return FALSE;
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
  void *values;
  if (dtype == DT_INT64) {
    int64_t *v = g_new (int64_t, MAX (n, 1));
    for (size_t i = 0; i < n; i++)
      v[i] = ivalue;
    values = v;
  } else {
    float *v = g_new (float, MAX (n, 1));
    for (size_t i = 0; i < n; i++)
      v[i] = fvalue;
    values = v;
  }
  return add_const (node->L, node->proto->output[0], &shape, dtype, values, error) >= 0;
}

static gboolean
op_shape (Node *node, GError **error)
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

static gboolean
op_gather (Node *node, GError **error)
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
    return fail (error, FKP_NN_ERROR_DTYPE, "%s: indices '%s' must be constant int64", node->label,
                 I->name);
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
  char *out = g_malloc (MAX (n, 1) * elem), *dst = out;
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
strided_output (Node *node, int x, const FkpShape *shape, const int64_t *stride, int64_t base,
                GError **error)
{
  Loader *L = node->L;
  const Tensor *X = T (L, x);
  size_t n;
  if (!shape_count (shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  if (X->kind == TK_CONST) {
    size_t elem = X->dtype == DT_INT64 ? 8 : 4;
    char *out = g_malloc (MAX (n, 1) * elem);
    strided_copy_bytes (out, X->dtype == DT_INT64 ? (const char *) X->idata : (const char *) X->fdata,
                        elem, shape->rank, shape->dims, stride, base);
    return add_const (L, node->proto->output[0], shape, X->dtype, out, error) >= 0;
  }
  int xi;
  if (!want_float (node, 0, &xi, error))
    return FALSE;
  Step *s = new_step (node, OP_COPY);
  s->n_inputs = 1;
  s->inputs[0] = x;
  s->copy_rank = shape->rank;
  copy_bytes (s->copy_dims, shape->dims, sizeof s->copy_dims);
  copy_bytes (s->copy_stride, stride, sizeof (int64_t) * shape->rank);
  s->copy_base = base;
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

static gboolean
op_transpose (Node *node, GError **error)
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
  return strided_output (node, x, &shape, stride, 0, error);
}

static gboolean
op_slice (Node *node, GError **error)
{
  int64_t starts[FKP_NN_MAX_RANK], ends[FKP_NN_MAX_RANK], axes[FKP_NN_MAX_RANK], steps[FKP_NN_MAX_RANK];
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
  return strided_output (node, x, &shape, stride, base, error);
}

static gboolean
op_pad (Node *node, GError **error)
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
    if (!want_const_ints (node, 1, &v, &c, error) || !scalar_const (node, 2, &value, &present, error))
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
  Step *s = new_step (node, OP_PAD);
  s->n_inputs = 1;
  s->inputs[0] = x;
  copy_bytes (s->pad_begin, pads, rank * sizeof (int64_t));
  s->pad_value = value;
  return step_output (node, s, &shape, DT_FLOAT, error);
}

/* ---- Resize and Upsample ---------------------------------------------- */

typedef enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC,
               CT_TF_HALF_PIXEL_FOR_NN } CoordTransform;
typedef enum { NR_ROUND_PREFER_FLOOR, NR_ROUND_PREFER_CEIL, NR_FLOOR, NR_CEIL } NearestRound;

/* Source position of output index `o` along one axis (ONNX Resize). */
static double
resize_source (CoordTransform ct, int64_t o, int64_t in_len, int64_t out_len, double scale)
{
  switch (ct) {
  case CT_HALF_PIXEL: return (o + 0.5) / scale - 0.5;
  case CT_PYTORCH_HALF_PIXEL: return out_len > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  case CT_ALIGN_CORNERS: return out_len > 1 ? (double) o * (in_len - 1) / (out_len - 1) : 0.0;
  case CT_TF_HALF_PIXEL_FOR_NN: return (o + 0.5) / scale;
  default: return o / scale;
  }
}

static void
resize_axis (gboolean linear, CoordTransform ct, NearestRound nr, int64_t in_len,
             int64_t out_len, double scale, int *i0, int *i1, float *frac)
{
  for (int64_t o = 0; o < out_len; o++) {
    double x = resize_source (ct, o, in_len, out_len, scale);
    if (linear) {
      x = CLAMP (x, 0.0, (double) (in_len - 1));
      int64_t lo = (int64_t) floor (x);
      i0[o] = (int) lo;
      i1[o] = (int) MIN (lo + 1, in_len - 1);
      frac[o] = (float) (x - lo);
    } else {
      double r;
      switch (nr) {
      case NR_FLOOR: r = floor (x); break;
      case NR_CEIL: r = ceil (x); break;
      case NR_ROUND_PREFER_CEIL: r = floor (x + 0.5); break;
      default: r = x == floor (x) + 0.5 ? floor (x) : floor (x + 0.5); break;
      }
      int64_t i = (int64_t) CLAMP (r, 0.0, (double) (in_len - 1));
      i0[o] = i1[o] = (int) i;
      frac[o] = 0.0f;
    }
  }
}

static gboolean
op_resize (Node *node, gboolean upsample, GError **error)
{
  Loader *L = node->L;
  char *mode = NULL, *ct_name = NULL, *nr_name = NULL;
  gboolean ok = FALSE;
  int64_t exclude = 0, antialias = 0;
  const float *scales = NULL;
  const int64_t *sizes = NULL;
  size_t n_scales = 0, n_sizes = 0;
  float attr_scales[4];
  int x;
  if (upsample) {
    if (!check_arity (node, 1, 2, 1, 1, error) || !check_attrs (node, "mode,scales", error))
      return FALSE;
  } else if (!check_arity (node, 1, 4, 1, 1, error)
             || !check_attrs (node, "mode,coordinate_transformation_mode,nearest_mode,"
                              "cubic_coeff_a,exclude_outside,extrapolation_value,antialias,"
                              "keep_aspect_ratio_policy", error)) {
    return FALSE;
  }
  if (!want_float (node, 0, &x, error) || !want_nchw (node, x, error))
    return FALSE;
  const Tensor *X = T (L, x);
  gboolean old_resize = !upsample && L->opset < 11;
  if (!attr_string (node, "mode", "nearest", &mode, error)
      || !attr_string (node, "coordinate_transformation_mode",
                       upsample || old_resize ? "asymmetric" : "half_pixel", &ct_name, error)
      || !attr_string (node, "nearest_mode", upsample || old_resize ? "floor" : "round_prefer_floor",
                       &nr_name, error)
      || !attr_int (node, "exclude_outside", 0, &exclude, error)
      || !attr_int (node, "antialias", 0, &antialias, error))
    goto out;
  gboolean linear = strcmp (mode, "linear") == 0 || strcmp (mode, "bilinear") == 0;
  if (!linear && strcmp (mode, "nearest") != 0) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: mode '%s' is not supported", node->label,
          mode);
    goto out;
  }
  CoordTransform ct;
  if (strcmp (ct_name, "half_pixel") == 0) ct = CT_HALF_PIXEL;
  else if (strcmp (ct_name, "pytorch_half_pixel") == 0) ct = CT_PYTORCH_HALF_PIXEL;
  else if (strcmp (ct_name, "align_corners") == 0) ct = CT_ALIGN_CORNERS;
  else if (strcmp (ct_name, "asymmetric") == 0) ct = CT_ASYMMETRIC;
  else if (strcmp (ct_name, "tf_half_pixel_for_nn") == 0) ct = CT_TF_HALF_PIXEL_FOR_NN;
  else {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
          "%s: coordinate_transformation_mode '%s' is not supported", node->label, ct_name);
    goto out;
  }
  NearestRound nr;
  if (strcmp (nr_name, "round_prefer_floor") == 0) nr = NR_ROUND_PREFER_FLOOR;
  else if (strcmp (nr_name, "round_prefer_ceil") == 0) nr = NR_ROUND_PREFER_CEIL;
  else if (strcmp (nr_name, "floor") == 0) nr = NR_FLOOR;
  else if (strcmp (nr_name, "ceil") == 0) nr = NR_CEIL;
  else {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: nearest_mode '%s' is not supported",
          node->label, nr_name);
    goto out;
  }
  if (exclude || antialias) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: exclude_outside and antialias are not "
          "supported", node->label);
    goto out;
  }
  /* Scales: Upsample-7 attribute, Upsample-9 and Resize-10 input 1, Resize-11+ input 2;
   * sizes: Resize-11+ input 3. */
  int scales_input = upsample || old_resize ? 1 : 2;
  if (upsample && L->opset < 9) {
    const Onnx__AttributeProto *a = find_attr (node, "scales");
    if (!a || !attr_type_ok (node, a, ATTR_FLOATS, error) || a->n_floats != 4) {
      if (error && !*error)
        fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: needs 4 scales", node->label);
      goto out;
    }
    copy_bytes (attr_scales, a->floats, sizeof attr_scales);
    scales = attr_scales;
    n_scales = 4;
  } else {
    int si = input_index (node, scales_input);
    if (si >= 0 && T (L, si)->n_elements > 0) {
      if (T (L, si)->kind != TK_CONST || T (L, si)->dtype != DT_FLOAT) {
        fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: scales must be a float constant",
              node->label);
        goto out;
      }
      scales = T (L, si)->fdata;
      n_scales = T (L, si)->n_elements;
    }
    if (!upsample && !old_resize && !want_const_ints (node, 3, &sizes, &n_sizes, error))
      goto out;
    if (sizes && n_sizes == 0)
      sizes = NULL;
  }
  if ((!scales && !sizes) || (scales && n_scales != 4) || (sizes && n_sizes != 4)) {
    fail (error, FKP_NN_ERROR_SHAPE, "%s: needs 4 scales or 4 sizes", node->label);
    goto out;
  }
  FkpShape shape = X->shape;
  double scale_h, scale_w;
  if (sizes) {
    for (int i = 0; i < 4; i++)
      shape.dims[i] = sizes[i];
    scale_h = (double) sizes[2] / X->shape.dims[2];
    scale_w = (double) sizes[3] / X->shape.dims[3];
  } else {
    for (int i = 0; i < 4; i++) {
      if (!(scales[i] > 0.0f && scales[i] < 65536.0f)) {
        fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: scale %g is not supported",
              node->label, scales[i]);
        goto out;
      }
      shape.dims[i] = (int64_t) floor (X->shape.dims[i] * (double) scales[i]);
    }
    scale_h = scales[2];
    scale_w = scales[3];
  }
  if (shape.dims[0] != X->shape.dims[0] || shape.dims[1] != X->shape.dims[1]) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: only the last two dims may be resized",
          node->label);
    goto out;
  }
  size_t n;
  if (shape.dims[2] < 1 || shape.dims[3] < 1 || !shape_count (&shape, &n)) {
    fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output size is empty or too large", node->label);
    goto out;
  }
  Step *s = new_step (node, OP_RESIZE);
  s->n_inputs = 1;
  s->inputs[0] = x;
  int64_t OH = shape.dims[2], OW = shape.dims[3];
  s->resize_y0 = g_new (int, OH);
  s->resize_y1 = g_new (int, OH);
  s->resize_fy = g_new (float, OH);
  s->resize_x0 = g_new (int, OW);
  s->resize_x1 = g_new (int, OW);
  s->resize_fx = g_new (float, OW);
  resize_axis (linear, ct, nr, X->shape.dims[2], OH, scale_h, s->resize_y0, s->resize_y1,
               s->resize_fy);
  resize_axis (linear, ct, nr, X->shape.dims[3], OW, scale_w, s->resize_x0, s->resize_x1,
               s->resize_fx);
  ok = step_output (node, s, &shape, DT_FLOAT, error);
out:
  g_free (mode);
  g_free (ct_name);
  g_free (nr_name);
  return ok;
}

/* ---- Node dispatch ---------------------------------------------------- */

static gboolean
process_node (Loader *L, const Onnx__NodeProto *proto, size_t index, GError **error)
{
  Node node = { L, proto, node_label (proto, index), 0, 0 };
  gboolean ok = FALSE;
  node.n_in = (int) proto->n_input;
  while (node.n_in > 0 && !proto->input[node.n_in - 1][0])
    node.n_in--;
  node.n_out = (int) proto->n_output;
  while (node.n_out > 0 && !proto->output[node.n_out - 1][0])
    node.n_out--;
  const char *op = proto->op_type ? proto->op_type : "";
  if (proto->domain && proto->domain[0] && strcmp (proto->domain, "ai.onnx") != 0) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_OP, "%s: operator domain '%s' is not supported",
          node.label, proto->domain);
    goto out;
  }
#define IS(name) (strcmp (op, name) == 0)
  if (IS ("Conv")) ok = op_conv (&node, error);
  else if (IS ("BatchNormalization")) ok = op_batchnorm (&node, error);
  else if (IS ("Relu")) ok = op_activation (&node, ACT_RELU, error);
  else if (IS ("LeakyRelu")) ok = op_activation (&node, ACT_LEAKY_RELU, error);
  else if (IS ("Sigmoid")) ok = op_activation (&node, ACT_SIGMOID, error);
  else if (IS ("Tanh")) ok = op_activation (&node, ACT_TANH, error);
  else if (IS ("Clip")) ok = op_activation (&node, ACT_CLIP, error);
  else if (IS ("MaxPool")) ok = op_pool (&node, TRUE, error);
  else if (IS ("AveragePool")) ok = op_pool (&node, FALSE, error);
  else if (IS ("GlobalAveragePool")) ok = op_global_pool (&node, FALSE, error);
  else if (IS ("GlobalMaxPool")) ok = op_global_pool (&node, TRUE, error);
  else if (IS ("Concat")) ok = op_concat (&node, error);
  else if (IS ("Add")) ok = op_binary (&node, BIN_ADD, error);
  else if (IS ("Sub")) ok = op_binary (&node, BIN_SUB, error);
  else if (IS ("Mul")) ok = op_binary (&node, BIN_MUL, error);
  else if (IS ("Div")) ok = op_binary (&node, BIN_DIV, error);
  else if (IS ("ReduceMean")) ok = op_reduce (&node, RED_MEAN, error);
  else if (IS ("ReduceMax")) ok = op_reduce (&node, RED_MAX, error);
  else if (IS ("ReduceMin")) ok = op_reduce (&node, RED_MIN, error);
  else if (IS ("ReduceSum")) ok = op_reduce (&node, RED_SUM, error);
  else if (IS ("ArgMax")) ok = op_argmax (&node, error);
  else if (IS ("Gemm")) ok = op_gemm (&node, error);
  else if (IS ("MatMul")) ok = op_matmul (&node, error);
  else if (IS ("Softmax")) ok = op_softmax (&node, error);
  else if (IS ("Flatten")) ok = op_flatten (&node, error);
  else if (IS ("Reshape")) ok = op_reshape (&node, error);
  else if (IS ("Squeeze")) ok = op_squeeze (&node, FALSE, error);
  else if (IS ("Unsqueeze")) ok = op_squeeze (&node, TRUE, error);
  else if (IS ("Identity")) ok = op_identity (&node, FALSE, error);
  else if (IS ("Dropout")) ok = op_identity (&node, TRUE, error);
  else if (IS ("Cast")) ok = op_cast (&node, error);
  else if (IS ("Constant")) ok = op_constant (&node, error);
  else if (IS ("ConstantOfShape")) ok = op_constant_of_shape (&node, error);
  else if (IS ("Shape")) ok = op_shape (&node, error);
  else if (IS ("Gather")) ok = op_gather (&node, error);
  else if (IS ("Transpose")) ok = op_transpose (&node, error);
  else if (IS ("Slice")) ok = op_slice (&node, error);
  else if (IS ("Pad")) ok = op_pad (&node, error);
  else if (IS ("Resize")) ok = op_resize (&node, FALSE, error);
  else if (IS ("Upsample")) ok = op_resize (&node, TRUE, error);
  else
    fail (error, FKP_NN_ERROR_UNSUPPORTED_OP, "%s: operator '%s' is not supported", node.label, op);
#undef IS
out:
  g_free (node.label);
  return ok;
}

/* ---- Graph ------------------------------------------------------------ */

static gboolean
read_graph_inputs (Loader *L, GError **error)
{
  Onnx__GraphProto *g = L->graph;
  GArray *inputs = g_array_new (FALSE, FALSE, sizeof (int));
  gboolean ok = FALSE;
  for (size_t i = 0; i < g->n_input; i++) {
    const Onnx__ValueInfoProto *v = g->input[i];
    const char *name = v->name;
    if (!name || !name[0]) {
      fail (error, FKP_NN_ERROR_PARSE, "graph input %zu has no name", i);
      goto out;
    }
    if (lookup (L, name) >= 0) {
      if (T (L, lookup (L, name))->kind == TK_CONST)
        continue;  /* old IR versions list initializers among the inputs */
      fail (error, FKP_NN_ERROR_PARSE, "graph input '%s' is listed twice", name);
      goto out;
    }
    if (!v->type || v->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
        || !v->type->tensor_type) {
      fail (error, FKP_NN_ERROR_DTYPE, "graph input '%s' is not a tensor", name);
      goto out;
    }
    const Onnx__TypeProto__Tensor *tt = v->type->tensor_type;
    if (!tt->has_elem_type || tt->elem_type != ONNX_FLOAT) {
      fail (error, FKP_NN_ERROR_DTYPE, "graph input '%s' has element type %d; only float32 is "
            "supported", name, tt->has_elem_type ? tt->elem_type : 0);
      goto out;
    }
    if (!tt->shape) {
      fail (error, FKP_NN_ERROR_SHAPE, "graph input '%s' has no shape", name);
      goto out;
    }
    if (tt->shape->n_dim > FKP_NN_MAX_RANK) {
      fail (error, FKP_NN_ERROR_SHAPE, "graph input '%s' has rank %zu (at most %d)", name,
            tt->shape->n_dim, FKP_NN_MAX_RANK);
      goto out;
    }
    FkpShape shape = { .rank = (int) tt->shape->n_dim };
    for (int d = 0; d < shape.rank; d++) {
      const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
      int64_t value = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                      ? dim->dim_value : -1;
      if (shape.rank == 4 && d >= 2) {
        int override = d == 2 ? L->opts->input_height : L->opts->input_width;
        if (override > 0)
          value = override;
      }
      if (value < 0 && d == 0)
        value = 1;  /* dynamic batch: batch 1 */
      if (value < 1) {
        fail (error, FKP_NN_ERROR_SHAPE, "graph input '%s' has a dynamic or empty dim %d; set "
              "input_height and input_width", name, d);
        goto out;
      }
      shape.dims[d] = value;
    }
    int index = add_tensor (L, name, &shape, DT_FLOAT, TK_INPUT, error);
    if (index < 0)
      goto out;
    g_array_append_val (inputs, index);
  }
  if (inputs->len == 0) {
    fail (error, FKP_NN_ERROR_MISSING, "the graph has no (non-constant) input");
    goto out;
  }
  L->net->n_inputs = (int) inputs->len;
  L->net->inputs = g_memdup2 (inputs->data, inputs->len * sizeof (int));
  ok = TRUE;
out:
  g_array_free (inputs, TRUE);
  return ok;
}

/* Orders the nodes so that every node comes after the producers of its
 * inputs (Kahn's algorithm); fails on cycles and dangling inputs. */
static gboolean
sort_nodes (Loader *L, size_t **order_out, GError **error)
{
  Onnx__GraphProto *g = L->graph;
  size_t n = g->n_node;
  GHashTable *producer = g_hash_table_new (g_str_hash, g_str_equal);
  size_t *indegree = g_new0 (size_t, MAX (n, 1));
  size_t *order = g_new (size_t, MAX (n, 1));
  GArray *edge_from = g_array_new (FALSE, FALSE, sizeof (size_t));
  GArray *edge_to = g_array_new (FALSE, FALSE, sizeof (size_t));
  size_t *first_edge = NULL, *edges = NULL;
  gboolean ok = FALSE;

  for (size_t i = 0; i < n; i++) {
    const Onnx__NodeProto *node = g->node[i];
    if (node->n_input > (1 << 16) || node->n_output > (1 << 16)) {
      char *label = node_label (node, i);
      fail (error, FKP_NN_ERROR_TOO_LARGE, "%s has too many inputs or outputs", label);
      g_free (label);
      goto out;
    }
    for (size_t k = 0; k < node->n_output; k++) {
      const char *name = node->output[k];
      if (!name[0])
        continue;
      if (g_hash_table_contains (producer, name) || lookup (L, name) >= 0) {
        char *label = node_label (node, i);
        fail (error, FKP_NN_ERROR_PARSE, "%s: tensor '%s' is defined more than once", label, name);
        g_free (label);
        goto out;
      }
      g_hash_table_insert (producer, (gpointer) name, GSIZE_TO_POINTER (i + 1));
    }
  }
  for (size_t i = 0; i < n; i++) {
    const Onnx__NodeProto *node = g->node[i];
    for (size_t k = 0; k < node->n_input; k++) {
      const char *name = node->input[k];
      if (!name[0])
        continue;
      g_hash_table_insert (L->name_uses, (gpointer) name,
                           GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (L->name_uses, name)) + 1));
      size_t from = GPOINTER_TO_SIZE (g_hash_table_lookup (producer, name));
      if (from) {
        from--;
        g_array_append_val (edge_from, from);
        g_array_append_val (edge_to, i);
        indegree[i]++;
      } else if (lookup (L, name) < 0) {
        char *label = node_label (node, i);
        fail (error, FKP_NN_ERROR_MISSING, "%s: input '%s' is not produced by any node, "
              "initializer or graph input", label, name);
        g_free (label);
        goto out;
      }
    }
  }
  /* Edges grouped by source (counting sort). */
  size_t n_edges = edge_from->len;
  first_edge = g_new0 (size_t, n + 1);
  edges = g_new (size_t, MAX (n_edges, 1));
  for (size_t e = 0; e < n_edges; e++)
    first_edge[g_array_index (edge_from, size_t, e) + 1]++;
  for (size_t i = 0; i < n; i++)
    first_edge[i + 1] += first_edge[i];
  size_t *fill = g_memdup2 (first_edge, (n + 1) * sizeof (size_t));
  for (size_t e = 0; e < n_edges; e++)
    edges[fill[g_array_index (edge_from, size_t, e)]++] = g_array_index (edge_to, size_t, e);
  g_free (fill);

  size_t head = 0, tail = 0;
  for (size_t i = 0; i < n; i++)
    if (indegree[i] == 0)
      order[tail++] = i;
  while (head < tail) {
    size_t i = order[head++];
    for (size_t e = first_edge[i]; e < first_edge[i + 1]; e++)
      if (--indegree[edges[e]] == 0)
        order[tail++] = edges[e];
  }
  if (tail < n) {
    for (size_t i = 0; i < n; i++)
      if (indegree[i] > 0) {
        char *label = node_label (g->node[i], i);
        fail (error, FKP_NN_ERROR_CYCLE, "%s is part of a cycle: the graph is not acyclic", label);
        g_free (label);
        goto out;
      }
  }
  *order_out = order;
  order = NULL;
  ok = TRUE;
out:
  g_hash_table_unref (producer);
  g_free (indegree);
  g_free (order);
  g_free (first_edge);
  g_free (edges);
  g_array_free (edge_from, TRUE);
  g_array_free (edge_to, TRUE);
  return ok;
}

/* ---- Fusion ----------------------------------------------------------- */

static Step *
S (Loader *L, int index)
{
  return &g_array_index (L->steps, Step, index);
}

/* Calls `fn` for every tensor a step reads. */
#define FOR_EACH_INPUT(step, var, body)                                 \
  do {                                                                  \
    int n__ = (step)->op == OP_CONCAT ? (step)->n_concat_inputs : (step)->n_inputs; \
    for (int k__ = 0; k__ < n__; k__++) {                               \
      int var = (step)->op == OP_CONCAT ? (step)->concat_inputs[k__] : (step)->inputs[k__]; \
      body;                                                             \
    }                                                                   \
  } while (0)

static int
root_of (Loader *L, int t, size_t *offset)
{
  size_t off = 0;
  while (T (L, t)->alias_of >= 0) {
    off += T (L, t)->alias_offset;
    t = T (L, t)->alias_of;
  }
  if (offset)
    *offset = off;
  return t;
}

/* Use counts per tensor and, where a tensor is read once, who reads it. */
static void
count_uses (Loader *L, int *last_reader, gboolean *aliased)
{
  for (guint t = 0; t < L->tensors->len; t++) {
    T (L, t)->n_uses = 0;
    last_reader[t] = -1;
    aliased[t] = FALSE;
  }
  for (guint t = 0; t < L->tensors->len; t++)
    if (T (L, t)->alias_of >= 0)
      aliased[T (L, t)->alias_of] = TRUE;
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead)
      continue;
    FOR_EACH_INPUT (s, t, { T (L, t)->n_uses++; last_reader[t] = (int) i; });
  }
}

/* Folds a BatchNormalization that follows a Conv into the conv's weights,
 * then activations that follow a Conv, Gemm, BatchNormalization or binary
 * op into that op's epilogue, when the intermediate tensor has no other
 * reader. */
static void
fuse_steps (Loader *L)
{
  int *last_reader = g_new (int, L->tensors->len);
  gboolean *aliased = g_new (gboolean, L->tensors->len);
  count_uses (L, last_reader, aliased);
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead || !(s->op == OP_CONV || s->op == OP_GEMM || s->op == OP_BATCHNORM
                     || s->op == OP_BINARY || s->op == OP_MATMUL))
      continue;
    for (;;) {
      int t = s->output;
      Tensor *out = T (L, t);
      if (out->n_uses != 1 || out->is_output || aliased[t] || last_reader[t] < 0)
        break;
      Step *next = S (L, last_reader[t]);
      if (next->op == OP_BATCHNORM && s->op == OP_CONV && s->act.kind == ACT_NONE) {
        int per_out = (int) (T (L, s->inputs[0])->shape.dims[1] / s->groups) * s->kh * s->kw;
        int64_t M = out->shape.dims[1];
        if (!s->bias)
          s->bias = g_new0 (float, M);
        for (int64_t m = 0; m < M; m++) {
          for (int k = 0; k < per_out; k++)
            s->weights[m * per_out + k] *= next->scale[m];
          s->bias[m] = s->bias[m] * next->scale[m] + next->shift[m];
        }
      } else if (next->op == OP_ACT && s->act.kind == ACT_NONE) {
        s->act = next->act;
      } else {
        break;
      }
      /* `next` disappears; `s` writes its output directly. */
      next->dead = TRUE;
      s->output = next->output;
      T (L, s->output)->producer = (int) i;
      out->producer = -1;
      count_uses (L, last_reader, aliased);
    }
  }
  g_free (last_reader);
  g_free (aliased);
}

/* Lets the producers of a channel concat write straight into their slice
 * of its output, so the concat costs nothing. */
static void
alias_concats (Loader *L)
{
  int *last_reader = g_new (int, L->tensors->len);
  gboolean *aliased = g_new (gboolean, L->tensors->len);
  count_uses (L, last_reader, aliased);
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead || s->op != OP_CONCAT || s->outer != 1)
      continue;
    gboolean ok = TRUE;
    for (int k = 0; k < s->n_concat_inputs && ok; k++) {
      int t = s->concat_inputs[k];
      const Tensor *in = T (L, t);
      ok = in->kind == TK_ACTIVATION && in->alias_of < 0 && in->producer >= 0 && !in->is_output
           && in->dtype == DT_FLOAT && in->n_uses == 1;
      for (int j = 0; j < k; j++)
        ok &= s->concat_inputs[j] != t;
    }
    if (!ok)
      continue;
    size_t offset = 0;
    for (int k = 0; k < s->n_concat_inputs; k++) {
      Tensor *in = T (L, s->concat_inputs[k]);
      in->alias_of = s->output;
      in->alias_offset = offset;
      offset += in->n_elements;
    }
    /* The concat output is now written piecewise by the input producers. */
    s->dead = TRUE;
    T (L, s->output)->producer = -1;
  }
  g_free (last_reader);
  g_free (aliased);
}

void
fkp_nn_step_clear (Step *s)
{
  g_free (s->label);
  g_free (s->weights);
  g_free (s->packed);
  g_free (s->bias);
  g_free (s->scale);
  g_free (s->shift);
  g_free (s->concat_inputs);
  g_free (s->resize_y0);
  g_free (s->resize_y1);
  g_free (s->resize_x0);
  g_free (s->resize_x1);
  g_free (s->resize_fy);
  g_free (s->resize_fx);
}

/* ---- Memory planning --------------------------------------------------- */

typedef struct {
  int root;
  size_t size;    /* floats, rounded up */
} Block;

static int
compare_blocks (const void *a, const void *b)
{
  const Block *x = a, *y = b;
  if (x->size != y->size)
    return x->size < y->size ? 1 : -1;
  return x->root - y->root;
}

/* Gives every storage root an offset in one arena such that roots whose
 * lifetimes (first writer .. last reader, in step order) overlap never
 * share bytes: greedy, largest first, lowest fitting offset. */
static gboolean
plan_memory (Loader *L, GError **error)
{
  FkpNet *net = L->net;
  int n_steps = (int) L->steps->len;
  guint n = L->tensors->len;
  for (guint t = 0; t < n; t++) {
    T (L, t)->live_first = G_MAXINT;
    T (L, t)->live_last = -1;
  }
  for (guint t = 0; t < n; t++) {
    Tensor *x = T (L, t);
    if (x->kind == TK_CONST)
      continue;
    Tensor *r = T (L, root_of (L, (int) t, NULL));
    if (x->kind == TK_INPUT)
      r->live_first = -1;
    if (x->producer >= 0)
      r->live_first = MIN (r->live_first, x->producer);
    if (x->kind == TK_INPUT || x->is_output)
      r->live_last = n_steps;
    if (x->producer >= 0)
      r->live_last = MAX (r->live_last, x->producer);
  }
  for (int i = 0; i < n_steps; i++) {
    Step *s = S (L, i);
    FOR_EACH_INPUT (s, t, {
      Tensor *r = T (L, root_of (L, t, NULL));
      if (r->kind != TK_CONST)
        r->live_last = MAX (r->live_last, i);
    });
  }
  GArray *blocks = g_array_new (FALSE, FALSE, sizeof (Block));
  uint64_t naive = 0;
  for (guint t = 0; t < n; t++) {
    Tensor *x = T (L, t);
    if (x->kind == TK_CONST || x->alias_of >= 0 || x->live_last < 0)
      continue;
    if (x->live_first == G_MAXINT)
      x->live_first = x->live_last;
    Block b = { (int) t, (x->n_elements + 15) & ~(size_t) 15 };
    if (b.size == 0)
      b.size = 16;
    naive += b.size * sizeof (float);
    g_array_append_val (blocks, b);
  }
  g_array_sort (blocks, compare_blocks);
  size_t arena = 0;
  /* Placed blocks, kept sorted by offset for the gap search. */
  int *placed = g_new (int, MAX (blocks->len, 1));
  guint n_placed = 0;
  for (guint b = 0; b < blocks->len; b++) {
    Block *block = &g_array_index (blocks, Block, b);
    Tensor *x = T (L, block->root);
    size_t offset = 0;
    for (guint p = 0; p < n_placed; p++) {
      Tensor *y = T (L, placed[p]);
      if (y->live_last < x->live_first || x->live_last < y->live_first)
        continue;
      size_t y_size = (y->n_elements + 15) & ~(size_t) 15;
      if (y_size == 0)
        y_size = 16;
      if (offset + block->size <= y->arena_offset)
        break;
      offset = MAX (offset, y->arena_offset + y_size);
    }
    x->arena_offset = offset;
    arena = MAX (arena, offset + block->size);
    guint at = n_placed;
    while (at > 0 && T (L, placed[at - 1])->arena_offset > offset) {
      placed[at] = placed[at - 1];
      at--;
    }
    placed[at] = block->root;
    n_placed++;
  }
  g_free (placed);
  g_array_free (blocks, TRUE);

  uint64_t total = L->const_bytes + (uint64_t) arena * 4 + (uint64_t) net->scratch_floats * 4;
  if (total > FKP_NN_MAX_TOTAL_BYTES)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "the model needs %" G_GUINT64_FORMAT
                 " bytes of memory (cap %" G_GUINT64_FORMAT ")", (guint64) total,
                 (guint64) FKP_NN_MAX_TOTAL_BYTES);
  net->arena_bytes = arena * sizeof (float);
  net->arena = g_try_malloc0 (MAX (net->arena_bytes, 64));
  if (net->scratch_floats)
    net->scratch = g_try_malloc (net->scratch_floats * sizeof (float));
  if (!net->arena || (net->scratch_floats && !net->scratch))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "out of memory for %" G_GUINT64_FORMAT " bytes",
                 (guint64) total);
  for (guint t = 0; t < n; t++) {
    Tensor *x = T (L, t);
    if (x->kind == TK_CONST) {
      x->data = x->fdata;
      continue;
    }
    size_t offset;
    Tensor *r = T (L, root_of (L, (int) t, &offset));
    x->data = net->arena + r->arena_offset + offset;
  }
  net->stats.peak_activation_bytes = net->arena_bytes;
  net->stats.naive_activation_bytes = naive;
  net->stats.scratch_bytes = net->scratch_floats * sizeof (float);
  return TRUE;
}

/* Packs the weights of GEMM convolutions on small feature maps for gemm.c,
 * once all folding into them is done.  They are then unfolded whole (one
 * im2col band) and each thread's scratch area also holds gemm.c's packed
 * copy of the feature map. */
static gboolean
pack_small_convs (Loader *L, GError **error)
{
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->op != OP_CONV || s->groups != 1 || s->conv_algo == CONV_DIRECT || !s->weights)
      continue;
    const FkpShape *y = &T (L, s->output)->shape;
    const FkpShape *x = &T (L, s->inputs[0])->shape;
    const int64_t M = y->dims[1], P = y->dims[2] * y->dims[3];
    const int64_t K = x->dims[1] * s->kh * s->kw;
    /* Small feature maps; or a 1×1 convolution whose weights fit in L2,
     * run block of columns by block (the detector's pointwise convs). */
    const gboolean by_columns = P > FKP_NN_PACKED_MAX_N;
    if (P < 1 || M < 1
        || (by_columns && (s->conv_algo != CONV_GEMM_1X1 || M * K > FKP_NN_PACKED_MAX_WEIGHTS)))
      continue;
    s->packed = g_try_malloc (fkp_nn_packed_floats ((int) M, (int) K) * sizeof (float));
    if (!s->packed)
      return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: out of memory packing weights", s->label);
    fkp_nn_pack_weights (s->weights, (int) M, (int) K, s->packed);
    g_clear_pointer (&s->weights, g_free);
    const size_t unfolded = s->conv_algo == CONV_IM2COL ? (size_t) (K * P) : 0;
    if (s->conv_algo == CONV_IM2COL)
      s->im2col_rows = (int) y->dims[2];
    s->packed_b_offset = unfolded;
    L->net->scratch_floats = MAX (L->net->scratch_floats,
                                  unfolded + (by_columns ? (size_t) K * 16
                                                         : fkp_nn_packed_b_floats ((int) K, (int) P)));
  }
  return TRUE;
}

/* Drops dead steps and renumbers producers. */
static void
compact_steps (Loader *L)
{
  int *map = g_new (int, MAX (L->steps->len, 1));
  guint kept = 0;
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead) {
      fkp_nn_step_clear (s);
      map[i] = -1;
      continue;
    }
    map[i] = (int) kept;
    if (kept != i)
      *S (L, kept) = *s;
    kept++;
  }
  g_array_set_size (L->steps, kept);
  for (guint t = 0; t < L->tensors->len; t++)
    if (T (L, t)->producer >= 0)
      T (L, t)->producer = map[T (L, t)->producer];
  g_free (map);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
collect_info (Loader *L)
{
  FkpNet *net = L->net;
  Onnx__ModelProto *m = L->model;
  net->n_meta = m->n_metadata_props;
  net->meta_keys = g_new0 (char *, net->n_meta + 1);
  net->meta_values = g_new0 (char *, net->n_meta + 1);
  for (size_t i = 0; i < net->n_meta; i++) {
    const Onnx__StringStringEntryProto *e = m->metadata_props[i];
    net->meta_keys[i] = g_strdup (e->key ? e->key : "");
    net->meta_values[i] = g_strdup (e->value ? e->value : "");
  }
  GHashTable *hist = g_hash_table_new (g_str_hash, g_str_equal);
  for (size_t i = 0; i < L->graph->n_node; i++) {
    const char *op = L->graph->node[i]->op_type ? L->graph->node[i]->op_type : "";
    g_hash_table_insert (hist, (gpointer) op,
                         GSIZE_TO_POINTER (GPOINTER_TO_SIZE (g_hash_table_lookup (hist, op)) + 1));
  }
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, hist);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, compare_strings);
  net->n_op_names = names->len;
  net->op_names = g_new0 (char *, names->len + 1);
  net->op_counts = g_new0 (size_t, names->len + 1);
  for (guint i = 0; i < names->len; i++) {
    net->op_names[i] = g_strdup (names->pdata[i]);
    net->op_counts[i] = GPOINTER_TO_SIZE (g_hash_table_lookup (hist, names->pdata[i]));
  }
  g_ptr_array_free (names, TRUE);
  g_hash_table_unref (hist);
  net->stats.n_nodes = L->graph->n_node;
  net->stats.opset = L->opset;
}

gboolean
fkp_nn_load (FkpNet *net, const uint8_t *data, size_t size, const FkpNetOptions *opts,
             GError **error)
{
  Loader loader = { 0 }, *L = &loader;
  gboolean ok = FALSE;
  size_t *order = NULL;
  L->net = net;
  L->opts = opts;
  L->tensors = g_array_new (FALSE, TRUE, sizeof (Tensor));
  L->steps = g_array_new (FALSE, TRUE, sizeof (Step));
  L->by_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  L->name_uses = g_hash_table_new (g_str_hash, g_str_equal);
  L->output_names = g_hash_table_new (g_str_hash, g_str_equal);

  if (size == 0) {
    fail (error, FKP_NN_ERROR_PARSE, "empty model");
    goto out;
  }
  L->model = onnx__model_proto__unpack (NULL, size, data);
  if (!L->model) {
    fail (error, FKP_NN_ERROR_PARSE, "not a valid ONNX protobuf (truncated or corrupt)");
    goto out;
  }
  L->graph = L->model->graph;
  if (!L->graph) {
    fail (error, FKP_NN_ERROR_PARSE, "the model has no graph");
    goto out;
  }
  L->opset = -1;
  for (size_t i = 0; i < L->model->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = L->model->opset_import[i];
    if (!o->domain || !o->domain[0] || strcmp (o->domain, "ai.onnx") == 0)
      L->opset = o->has_version ? o->version : -1;
  }
  if (L->opset < 7 || L->opset > 18) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_OP, "opset %" G_GINT64_FORMAT " is not supported "
          "(7 to 18; 11 to 17 tested)", L->opset);
    goto out;
  }
  /* Initializers. */
  for (size_t i = 0; i < L->graph->n_initializer; i++) {
    const Onnx__TensorProto *t = L->graph->initializer[i];
    if (!t->name || !t->name[0]) {
      fail (error, FKP_NN_ERROR_PARSE, "initializer %zu has no name", i);
      goto out;
    }
    if (lookup (L, t->name) >= 0) {
      fail (error, FKP_NN_ERROR_PARSE, "initializer '%s' is defined twice", t->name);
      goto out;
    }
    int index = const_from_proto (L, t, t->name, error);
    if (index < 0)
      goto out;
    if (T (L, index)->dtype == DT_FLOAT)
      net->stats.n_parameters += T (L, index)->n_elements;
  }
  if (!read_graph_inputs (L, error))
    goto out;
  if (L->graph->n_output == 0) {
    fail (error, FKP_NN_ERROR_MISSING, "the graph has no output");
    goto out;
  }
  for (size_t i = 0; i < L->graph->n_output; i++) {
    const char *name = L->graph->output[i]->name;
    if (!name || !name[0]) {
      fail (error, FKP_NN_ERROR_PARSE, "graph output %zu has no name", i);
      goto out;
    }
    g_hash_table_add (L->output_names, (gpointer) name);
  }
  if (!sort_nodes (L, &order, error))
    goto out;
  for (size_t i = 0; i < L->graph->n_node; i++)
    if (!process_node (L, L->graph->node[order[i]], order[i], error))
      goto out;
  net->n_outputs = (int) L->graph->n_output;
  net->outputs = g_new (int, net->n_outputs);
  for (int i = 0; i < net->n_outputs; i++) {
    const char *name = L->graph->output[i]->name;
    int t = lookup (L, name);
    if (t < 0) {
      fail (error, FKP_NN_ERROR_MISSING, "graph output '%s' is not produced by any node", name);
      goto out;
    }
    if (T (L, t)->dtype != DT_FLOAT) {
      fail (error, FKP_NN_ERROR_DTYPE, "graph output '%s' is not float32", name);
      goto out;
    }
    T (L, t)->is_output = TRUE;
    net->outputs[i] = t;
  }
  fuse_steps (L);
  alias_concats (L);
  compact_steps (L);
  if (!pack_small_convs (L, error) || !plan_memory (L, error))
    goto out;
  /* Keep only the constants that steps or outputs still read. */
  {
    int *last_reader = g_new (int, L->tensors->len);
    gboolean *aliased = g_new (gboolean, L->tensors->len);
    count_uses (L, last_reader, aliased);
    for (guint t = 0; t < L->tensors->len; t++) {
      Tensor *x = T (L, t);
      if (x->kind != TK_CONST || x->n_uses > 0 || x->is_output)
        continue;
      g_clear_pointer (&x->fdata, g_free);
      g_clear_pointer (&x->idata, g_free);
      x->data = NULL;
    }
    g_free (last_reader);
    g_free (aliased);
  }
  ok = TRUE;
out:
  g_free (order);
  if (L->model && L->graph)
    collect_info (L);
  if (L->model)
    onnx__model_proto__free_unpacked (L->model, NULL);
  net->n_tensors = (int) L->tensors->len;
  net->tensors = (Tensor *) g_array_free (L->tensors, FALSE);
  net->n_steps = (int) L->steps->len;
  net->steps = (Step *) g_array_free (L->steps, FALSE);
  g_hash_table_unref (L->by_name);
  g_hash_table_unref (L->name_uses);
  g_hash_table_unref (L->output_names);
  if (ok) {
    uint64_t weights = 0;
    for (int i = 0; i < net->n_steps; i++) {
      const Step *s = &net->steps[i];
      net->stats.n_macs += s->macs;
      weights += ((uint64_t) s->n_weights + s->n_bias + (s->scale ? 2 * s->extent : 0)) * 4;
    }
    for (int t = 0; t < net->n_tensors; t++)
      if (net->tensors[t].kind == TK_CONST)
        weights += (net->tensors[t].fdata ? 4 : net->tensors[t].idata ? 8 : 0)
                   * (uint64_t) net->tensors[t].n_elements;
    net->stats.weight_bytes = weights;
    net->stats.n_steps = (size_t) net->n_steps;
  }
  return ok;
}
