/* In-memory ONNX model builder for the tests (see onnx-builder.h).  Every
 * allocation goes into one pool freed by builder_free(). */
#include "onnx-builder.h"

#include <string.h>

struct Builder {
  Onnx__ModelProto model;
  Onnx__GraphProto graph;
  Onnx__OperatorSetIdProto opset;
  Onnx__OperatorSetIdProto *opsets[1];
  GPtrArray *pool;
  GPtrArray *nodes, *inits, *inputs, *outputs, *meta;
};

static gpointer
keep (Builder *b, gpointer p)
{
  g_ptr_array_add (b->pool, p);
  return p;
}

static char *
str (Builder *b, const char *s)
{
  return keep (b, g_strdup (s));
}

Builder *
builder_new (int64_t opset)
{
  Builder *b = g_new0 (Builder, 1);
  onnx__model_proto__init (&b->model);
  onnx__graph_proto__init (&b->graph);
  onnx__operator_set_id_proto__init (&b->opset);
  b->pool = g_ptr_array_new_with_free_func (g_free);
  b->nodes = g_ptr_array_new ();
  b->inits = g_ptr_array_new ();
  b->inputs = g_ptr_array_new ();
  b->outputs = g_ptr_array_new ();
  b->meta = g_ptr_array_new ();
  b->opset.domain = str (b, "");
  b->opset.has_version = TRUE;
  b->opset.version = opset;
  b->opsets[0] = &b->opset;
  b->model.has_ir_version = TRUE;
  b->model.ir_version = 8;
  b->model.producer_name = str (b, "facekp-tests");
  b->model.n_opset_import = 1;
  b->model.opset_import = b->opsets;
  b->model.graph = &b->graph;
  b->graph.name = str (b, "test");
  return b;
}

void
builder_free (Builder *b)
{
  g_ptr_array_unref (b->pool);
  g_ptr_array_unref (b->nodes);
  g_ptr_array_unref (b->inits);
  g_ptr_array_unref (b->inputs);
  g_ptr_array_unref (b->outputs);
  g_ptr_array_unref (b->meta);
  g_free (b);
}

void
builder_input_typed (Builder *b, const char *name, int elem_type, int rank, const int64_t *dims)
{
  Onnx__ValueInfoProto *v = keep (b, g_new0 (Onnx__ValueInfoProto, 1));
  Onnx__TypeProto *type = keep (b, g_new0 (Onnx__TypeProto, 1));
  Onnx__TypeProto__Tensor *tt = keep (b, g_new0 (Onnx__TypeProto__Tensor, 1));
  Onnx__TensorShapeProto *shape = keep (b, g_new0 (Onnx__TensorShapeProto, 1));
  onnx__value_info_proto__init (v);
  onnx__type_proto__init (type);
  onnx__type_proto__tensor__init (tt);
  onnx__tensor_shape_proto__init (shape);
  shape->n_dim = rank;
  shape->dim = keep (b, g_new0 (Onnx__TensorShapeProto__Dimension *, MAX (rank, 1)));
  for (int i = 0; i < rank; i++) {
    Onnx__TensorShapeProto__Dimension *d = keep (b, g_new0 (Onnx__TensorShapeProto__Dimension, 1));
    onnx__tensor_shape_proto__dimension__init (d);
    if (dims[i] >= 0) {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      d->dim_value = dims[i];
    } else {
      d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      d->dim_param = str (b, "N");
    }
    shape->dim[i] = d;
  }
  tt->has_elem_type = TRUE;
  tt->elem_type = elem_type;
  tt->shape = shape;
  type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  type->tensor_type = tt;
  v->name = str (b, name);
  v->type = type;
  g_ptr_array_add (b->inputs, v);
}

void
builder_input (Builder *b, const char *name, int rank, const int64_t *dims)
{
  builder_input_typed (b, name, 1, rank, dims);
}

void
builder_output (Builder *b, const char *name)
{
  Onnx__ValueInfoProto *v = keep (b, g_new0 (Onnx__ValueInfoProto, 1));
  onnx__value_info_proto__init (v);
  v->name = str (b, name);
  g_ptr_array_add (b->outputs, v);
}

static Onnx__TensorProto *
new_tensor (Builder *b, const char *name, int type, int rank, const int64_t *dims)
{
  Onnx__TensorProto *t = keep (b, g_new0 (Onnx__TensorProto, 1));
  onnx__tensor_proto__init (t);
  t->name = str (b, name);
  t->has_data_type = TRUE;
  t->data_type = type;
  t->n_dims = rank;
  t->dims = keep (b, g_memdup2 (dims, MAX (rank, 1) * sizeof (int64_t)));
  return t;
}

static size_t
count (int rank, const int64_t *dims)
{
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t) dims[i];
  return n;
}

Onnx__TensorProto *
builder_init_float (Builder *b, const char *name, int rank, const int64_t *dims, const float *values)
{
  Onnx__TensorProto *t = new_tensor (b, name, 1, rank, dims);
  size_t n = count (rank, dims);
  t->has_raw_data = TRUE;
  t->raw_data.len = n * sizeof (float);
  t->raw_data.data = keep (b, g_memdup2 (values, MAX (n, 1) * sizeof (float)));
  g_ptr_array_add (b->inits, t);
  return t;
}

Onnx__TensorProto *
builder_init_floats_field (Builder *b, const char *name, int rank, const int64_t *dims,
                           const float *values)
{
  Onnx__TensorProto *t = new_tensor (b, name, 1, rank, dims);
  size_t n = count (rank, dims);
  t->n_float_data = n;
  t->float_data = keep (b, g_memdup2 (values, MAX (n, 1) * sizeof (float)));
  g_ptr_array_add (b->inits, t);
  return t;
}

Onnx__TensorProto *
builder_init_int64 (Builder *b, const char *name, int n, const int64_t *values)
{
  int64_t dims[1] = { n };
  Onnx__TensorProto *t = new_tensor (b, name, 7, 1, dims);
  t->n_int64_data = n;
  t->int64_data = keep (b, g_memdup2 (values, MAX (n, 1) * sizeof (int64_t)));
  g_ptr_array_add (b->inits, t);
  return t;
}

static char **
str_list (Builder *b, const char *const *list, size_t *n)
{
  *n = 0;
  while (list && list[*n])
    (*n)++;
  char **out = keep (b, g_new0 (char *, MAX (*n, 1)));
  for (size_t i = 0; i < *n; i++)
    out[i] = str (b, list[i]);
  return out;
}

Onnx__NodeProto *
builder_node (Builder *b, const char *op, const char *name, const char *const *inputs,
              const char *const *outputs)
{
  Onnx__NodeProto *n = keep (b, g_new0 (Onnx__NodeProto, 1));
  onnx__node_proto__init (n);
  n->op_type = str (b, op);
  n->name = str (b, name);
  n->input = str_list (b, inputs, &n->n_input);
  n->output = str_list (b, outputs, &n->n_output);
  g_ptr_array_add (b->nodes, n);
  return n;
}

static Onnx__AttributeProto *
new_attr (Builder *b, Onnx__NodeProto *n, const char *name, int type)
{
  Onnx__AttributeProto *a = keep (b, g_new0 (Onnx__AttributeProto, 1));
  onnx__attribute_proto__init (a);
  a->name = str (b, name);
  a->has_type = TRUE;
  a->type = type;
  Onnx__AttributeProto **list = keep (b, g_new0 (Onnx__AttributeProto *, n->n_attribute + 1));
  if (n->n_attribute)
    memcpy (list, n->attribute, n->n_attribute * sizeof *list);
  list[n->n_attribute++] = a;
  n->attribute = list;
  return a;
}

void
node_int (Builder *b, Onnx__NodeProto *n, const char *name, int64_t value)
{
  Onnx__AttributeProto *a = new_attr (b, n, name, 2);
  a->has_i = TRUE;
  a->i = value;
}

void
node_float (Builder *b, Onnx__NodeProto *n, const char *name, float value)
{
  Onnx__AttributeProto *a = new_attr (b, n, name, 1);
  a->has_f = TRUE;
  a->f = value;
}

void
node_ints (Builder *b, Onnx__NodeProto *n, const char *name, int count_, const int64_t *values)
{
  Onnx__AttributeProto *a = new_attr (b, n, name, 7);
  a->n_ints = count_;
  a->ints = keep (b, g_memdup2 (values, MAX (count_, 1) * sizeof (int64_t)));
}

void
node_string (Builder *b, Onnx__NodeProto *n, const char *name, const char *value)
{
  Onnx__AttributeProto *a = new_attr (b, n, name, 3);
  a->has_s = TRUE;
  a->s.len = strlen (value);
  a->s.data = (uint8_t *) str (b, value);
}

void
builder_metadata (Builder *b, const char *key, const char *value)
{
  Onnx__StringStringEntryProto *e = keep (b, g_new0 (Onnx__StringStringEntryProto, 1));
  onnx__string_string_entry_proto__init (e);
  e->key = str (b, key);
  e->value = str (b, value);
  g_ptr_array_add (b->meta, e);
}

guint8 *
builder_pack (Builder *b, size_t *length)
{
  b->graph.n_node = b->nodes->len;
  b->graph.node = (Onnx__NodeProto **) b->nodes->pdata;
  b->graph.n_initializer = b->inits->len;
  b->graph.initializer = (Onnx__TensorProto **) b->inits->pdata;
  b->graph.n_input = b->inputs->len;
  b->graph.input = (Onnx__ValueInfoProto **) b->inputs->pdata;
  b->graph.n_output = b->outputs->len;
  b->graph.output = (Onnx__ValueInfoProto **) b->outputs->pdata;
  b->model.n_metadata_props = b->meta->len;
  b->model.metadata_props = (Onnx__StringStringEntryProto **) b->meta->pdata;
  *length = onnx__model_proto__get_packed_size (&b->model);
  guint8 *buffer = g_malloc (MAX (*length, 1));
  onnx__model_proto__pack (&b->model, buffer);
  return buffer;
}
