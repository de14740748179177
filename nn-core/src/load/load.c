/* Loading an ONNX model, in stages, each in its own file:
 *   1. onnx.c   read the protobuf: constants, attributes
 *   2. graph.c  graph inputs and outputs, nodes in topological order, each
 *               built through the op table (ops/) into steps, views and
 *               constants, with its output shape inferred
 *   3. fuse.c   fusion: BatchNorm into Conv, activation epilogues, concats
 *               written in place
 *   4. branches.c  the windows of independent branches, for threads
 *   5. pack.c   weight packing for the sgemm
 *   6. plan.c   memory planning: one arena, by tensor lifetime
 * node.c holds the builders' helpers.  This file runs the stages and
 * gathers the net's information and statistics. */
#include "load/loader.h"

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

/* The options of the load this thread is in, for fkp_nn_load_pause(). */
static _Thread_local const FkpNetOptions *loading_opts;

void
fkp_nn_load_pause (void)
{
  if (loading_opts != NULL && loading_opts->pause_func != NULL)
    loading_opts->pause_func (loading_opts->pause_data);
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
  const FkpNetOptions *outer_opts = loading_opts;   /* a pause function may load a net too */
  loading_opts = opts;
  L->tensors = g_array_new (FALSE, TRUE, sizeof (Tensor));
  L->steps = g_array_new (FALSE, TRUE, sizeof (Step));
  L->by_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  L->name_uses = g_hash_table_new (g_str_hash, g_str_equal);
  L->output_names = g_hash_table_new (g_str_hash, g_str_equal);

  /* Stage 1: the protobuf, its opset and its initializers. */
  if (size == 0) {
    fail (error, FKP_NN_ERROR_PARSE, "empty model");
    goto out;
  }
  L->model = onnx__model_proto__unpack (NULL, size, data);
  if (!L->model) {
    fail (error, FKP_NN_ERROR_PARSE, "not a valid ONNX protobuf (truncated or corrupt)");
    goto out;
  }
  fkp_nn_load_pause ();
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
  for (size_t i = 0; i < L->graph->n_initializer; i++) {
    const Onnx__TensorProto *t = L->graph->initializer[i];
    if (!t->name || !t->name[0]) {
      fail (error, FKP_NN_ERROR_PARSE, "initializer %zu has no name", i);
      goto out;
    }
    if (lookup_tensor (L, t->name) >= 0) {
      fail (error, FKP_NN_ERROR_PARSE, "initializer '%s' is defined twice", t->name);
      goto out;
    }
    int index = const_from_proto (L, t, t->name, error);
    if (index < 0)
      goto out;
    fkp_nn_load_pause ();
    if (T (L, index)->dtype == DT_FLOAT)
      net->stats.n_parameters += T (L, index)->n_elements;
  }
  /* Stage 2: the graph, its nodes built in order through the op table. */
  if (!read_graph_inputs (L, error) || !read_graph_outputs (L, error)
      || !sort_nodes (L, &order, error))
    goto out;
  for (size_t i = 0; i < L->graph->n_node; i++) {
    fkp_nn_load_pause ();
    if (!build_node (L, L->graph->node[order[i]], order[i], error))
      goto out;
  }
  if (!bind_graph_outputs (L, error))
    goto out;
  /* Stage 3: fusion. */
  fkp_nn_load_pause ();
  fuse_steps (L);
  alias_concats (L);
  compact_steps (L);
  /* Stage 4: branches; 5 and 6: weight packing, then memory planning. */
  find_branches (L);
  fkp_nn_load_pause ();
  if (!pack_weights (L, error) || !plan_memory (L, error))
    goto out;
  free_unread_constants (L);
  ok = TRUE;
out:
  loading_opts = outer_opts;
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
      if (s->op == OP_CONV && fkp_nn_conv_is_winograd (s))
        net->stats.n_winograd_convs++;
      weights += (uint64_t) s->n_weights * 4;
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
