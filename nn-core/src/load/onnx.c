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
