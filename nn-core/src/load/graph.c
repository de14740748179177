/* Loader stage 2, the graph: its inputs and outputs, the nodes in
 * topological order, and each node built through the op table
 * (ops/table.c) into steps, views and constants. */
#include "load/loader.h"

/* ---- Graph inputs and outputs ---------------------------------------------- */

gboolean
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
    if (lookup_tensor (L, name) >= 0) {
      if (T (L, lookup_tensor (L, name))->kind == TK_CONST)
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

gboolean
read_graph_outputs (Loader *L, GError **error)
{
  if (L->graph->n_output == 0)
    return fail (error, FKP_NN_ERROR_MISSING, "the graph has no output");
  for (size_t i = 0; i < L->graph->n_output; i++) {
    const char *name = L->graph->output[i]->name;
    if (!name || !name[0])
      return fail (error, FKP_NN_ERROR_PARSE, "graph output %zu has no name", i);
    g_hash_table_add (L->output_names, (gpointer) name);
  }
  return TRUE;
}

gboolean
bind_graph_outputs (Loader *L, GError **error)
{
  FkpNet *net = L->net;
  net->n_outputs = (int) L->graph->n_output;
  net->outputs = g_new (int, net->n_outputs);
  for (int i = 0; i < net->n_outputs; i++) {
    const char *name = L->graph->output[i]->name;
    int t = lookup_tensor (L, name);
    if (t < 0)
      return fail (error, FKP_NN_ERROR_MISSING, "graph output '%s' is not produced by any node",
                   name);
    if (T (L, t)->dtype != DT_FLOAT)
      return fail (error, FKP_NN_ERROR_DTYPE, "graph output '%s' is not float32", name);
    T (L, t)->is_output = TRUE;
    net->outputs[i] = t;
  }
  return TRUE;
}

/* ---- Node order ------------------------------------------------------------ */

/* Kahn's algorithm. */
gboolean
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
      if (g_hash_table_contains (producer, name) || lookup_tensor (L, name) >= 0) {
        char *label = node_label (node, i);
        fail (error, FKP_NN_ERROR_PARSE, "%s: tensor '%s' is defined more than once", label,
              name);
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
      const int uses = GPOINTER_TO_INT (g_hash_table_lookup (L->name_uses, name));
      g_hash_table_insert (L->name_uses, (gpointer) name, GINT_TO_POINTER (uses + 1));
      size_t from = GPOINTER_TO_SIZE (g_hash_table_lookup (producer, name));
      if (from) {
        from--;
        g_array_append_val (edge_from, from);
        g_array_append_val (edge_to, i);
        indegree[i]++;
      } else if (lookup_tensor (L, name) < 0) {
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
        fail (error, FKP_NN_ERROR_CYCLE, "%s is part of a cycle: the graph is not acyclic",
              label);
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

/* ---- Nodes ----------------------------------------------------------------- */

gboolean
build_node (Loader *L, const Onnx__NodeProto *proto, size_t index, GError **error)
{
  Node node = { L, proto, node_label (proto, index), 0, 0, 0 };
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
  const int kind = fkp_nn_op_lookup (op, &node.variant);
  if (kind < 0)
    fail (error, FKP_NN_ERROR_UNSUPPORTED_OP, "%s: operator '%s' is not supported", node.label, op);
  else
    ok = fkp_nn_ops[kind].build (&node, error);
out:
  g_free (node.label);
  return ok;
}
