/* Loader stage 1, reading the ONNX protobuf: error messages, constant
 * tensors (TensorProto) and node attributes (AttributeProto). */
#include "load/loader.h"

#include <stdarg.h>

/* ---- Errors ----------------------------------------------------------- */

gboolean
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

char *
node_label (const Onnx__NodeProto *node, size_t index)
{
  const char *op = node->op_type ? node->op_type : "?";
  if (node->name && node->name[0])
    return g_strdup_printf ("node '%s' (%s)", node->name, op);
  return g_strdup_printf ("node #%zu (%s)", index, op);
}

/* ---- Constant tensors ------------------------------------------------ */

/* Element `i` of a double or int32 TensorProto, from raw_data or its typed
 * field; a double holds every int32 exactly. */
static double
converted_element (const Onnx__TensorProto *proto, int type, size_t i)
{
  const uint8_t *raw = proto->has_raw_data ? proto->raw_data.data : NULL;
  if (type == ONNX_DOUBLE) {
    double d;
    if (!raw)
      return proto->double_data[i];
    copy_bytes (&d, raw + 8 * i, 8);
    return d;
  }
  int32_t x;
  if (!raw)
    return proto->int32_data[i];
  copy_bytes (&x, raw + 4 * i, 4);
  return x;
}

int
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
  const gboolean is_float = type == ONNX_FLOAT || type == ONNX_DOUBLE;
  if (!is_float && type != ONNX_INT64 && type != ONNX_INT32) {
    fail (error, FKP_NN_ERROR_DTYPE, "tensor '%s' has data type %d; only float32, double, int64 "
          "and int32 are supported", name, type);
    return -1;
  }
  /* The data present must match the dims before anything is allocated:
   * dims are cheap to declare, bytes are not. */
  const size_t file_elem = type == ONNX_FLOAT || type == ONNX_INT32 ? 4 : 8;
  const uint8_t *raw = proto->has_raw_data ? proto->raw_data.data : NULL;
  size_t have = 0;
  if (proto->has_raw_data) {
    if (proto->raw_data.len != n * file_elem) {
      fail (error, FKP_NN_ERROR_PARSE, "tensor '%s' holds %zu bytes but its dims need %zu",
            name, proto->raw_data.len, n * file_elem);
      return -1;
    }
    have = n;
  } else {
    have = type == ONNX_FLOAT ? proto->n_float_data : type == ONNX_DOUBLE ? proto->n_double_data
           : type == ONNX_INT64 ? proto->n_int64_data : proto->n_int32_data;
  }
  if (have != n) {
    static const char *const kinds[] = { [ONNX_FLOAT] = "floats", [ONNX_INT32] = "int32s",
                                         [ONNX_INT64] = "int64s", [ONNX_DOUBLE] = "doubles" };
    fail (error, FKP_NN_ERROR_PARSE, "tensor '%s' holds %zu %s but its dims need %zu", name, have,
          kinds[type], n);
    return -1;
  }
  const DType dtype = is_float ? DT_FLOAT : DT_INT64;
  const size_t elem = is_float ? 4 : 8;
  if (!reserve_weights (L, NULL, name, n, elem, error))
    return -1;
  void *values = try_alloc (NULL, name, n, elem, error);
  if (!values)
    return -1;
  if (type == ONNX_FLOAT || type == ONNX_INT64)
    copy_bytes (values, raw ? (const void *) raw : type == ONNX_FLOAT
                ? (const void *) proto->float_data : (const void *) proto->int64_data, n * elem);
  else if (type == ONNX_DOUBLE)
    for (size_t i = 0; i < n; i++)
      ((float *) values)[i] = (float) converted_element (proto, type, i);
  else
    for (size_t i = 0; i < n; i++)
      ((int64_t *) values)[i] = (int64_t) converted_element (proto, type, i);
  return add_const (L, name, &shape, dtype, values, error);
}

/* ---- Attributes ------------------------------------------------------- */

const Onnx__AttributeProto *
find_attr (const Node *node, const char *name)
{
  for (size_t i = 0; i < node->proto->n_attribute; i++) {
    const Onnx__AttributeProto *a = node->proto->attribute[i];
    if (a->name && strcmp (a->name, name) == 0)
      return a;
  }
  return NULL;
}

gboolean
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

gboolean
attr_type_ok (const Node *node, const Onnx__AttributeProto *a, int type, GError **error)
{
  /* Old exporters may leave `type` unset; then trust the field the op expects. */
  if (a->has_type && a->type != type)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: attribute '%s' has type %d, expected %d", node->label, a->name, a->type,
                 type);
  return TRUE;
}

gboolean
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

gboolean
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

gboolean
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

gboolean
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
