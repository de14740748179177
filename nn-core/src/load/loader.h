/* The loader's shared state and the helpers its stages and the op builders
 * (ops/) use: reading attributes and constants from the protobuf, checking
 * a node's inputs, making its outputs into tensors and steps.
 *
 * Everything that can go wrong with a file goes wrong at load, so every
 * index, dim, attribute and byte count read from the protobuf is checked
 * before use, and every size is computed with overflow checks.  After a
 * successful load, running the net cannot fail. */
#ifndef FACEKP_NN_LOADER_H
#define FACEKP_NN_LOADER_H

#include "nn-private.h"
#include "onnx.pb-c.h"

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
  uint64_t const_bytes;     /* charged to the weight budget: constants, tables, weight copies */
} Loader;

struct _Node {
  Loader *L;
  const Onnx__NodeProto *proto;
  char *label;
  int n_in;          /* inputs and outputs, trailing empty names dropped */
  int n_out;
  int variant;       /* which of its kind's ONNX ops the node is (OpName.variant) */
};

static inline Tensor *
T (Loader *L, int index)
{
  return &g_array_index (L->tensors, Tensor, index);
}

static inline Step *
S (Loader *L, int index)
{
  return &g_array_index (L->steps, Step, index);
}

/* memcpy that accepts NULL with a zero length (empty tensors and lists). */
static inline void
copy_bytes (void *dst, const void *src, size_t n)
{
  if (n > 0)
    memcpy (dst, src, n);
}

/* ---- onnx.c: errors, constants and attributes from the protobuf ---------- */

/* Sets `error` in FKP_NN_ERROR and returns FALSE. */
gboolean fail (GError **error, FkpNnError code, const char *format, ...) G_GNUC_PRINTF (3, 4);
/* "node 'name' (OpType)", or "node #index (OpType)" for an unnamed node. */
char *node_label (const Onnx__NodeProto *node, size_t index);
/* Reads a TensorProto into a constant tensor named `name`; its index or -1.
 * Its dims, data length and budget are checked before anything is allocated. */
int const_from_proto (Loader *L, const Onnx__TensorProto *proto, const char *name, GError **error);

/* AttributeProto.AttributeType values the loader reads. */
enum {
  ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4, ATTR_FLOATS = 6,
  ATTR_INTS = 7,
};

const Onnx__AttributeProto *find_attr (const Node *node, const char *name);
/* Rejects attributes the op does not know: `known` is a comma-separated list. */
gboolean check_attrs (const Node *node, const char *known, GError **error);
gboolean attr_type_ok (const Node *node, const Onnx__AttributeProto *a, int type, GError **error);
/* Scalar attributes: `fallback` when absent. */
gboolean attr_int (const Node *node, const char *name, int64_t fallback, int64_t *value,
                   GError **error);
gboolean attr_float (const Node *node, const char *name, float fallback, float *value,
                     GError **error);
/* Reads an INTS attribute of at most `max` values; *count = -1 if absent. */
gboolean attr_ints (const Node *node, const char *name, int64_t *values, int max, int *count,
                    GError **error);
/* A string attribute (a copy to free), `fallback` when absent. */
gboolean attr_string (const Node *node, const char *name, const char *fallback, char **value,
                      GError **error);

/* ---- node.c: tensors, a node's inputs and outputs, steps --------------------- */

/* Element count of a shape, FALSE on overflow or above the per-tensor cap. */
gboolean shape_count (const FkpShape *shape, size_t *count);
char *shape_string (const FkpShape *shape);
int64_t dims_product (const int64_t *dims, int from, int to);

/* The tensor bound to `name`, or -1. */
int lookup_tensor (Loader *L, const char *name);
/* Adds a tensor named `name` (copied) and binds the name to it. */
int add_tensor (Loader *L, const char *name, const FkpShape *shape, DType dtype, TensorKind kind,
                GError **error);
/* A new constant tensor; takes ownership of `values` (float or int64) and
 * charges them to the weight budget. */
int add_const (Loader *L, const char *name, const FkpShape *shape, DType dtype, void *values,
               GError **error);

/* ---- node.c: budgets, checked before the bytes are allocated ------------------ */

/* The budgets of FkpNetOptions, with 0 replaced by the default. */
uint64_t weight_budget (const Loader *L);
uint64_t activation_budget (const Loader *L);
/* Whether `n` elements of `elem_size` bytes more fit the weight budget;
 * the error names `label` (a node, or NULL) and the tensor `name`. */
gboolean reserve_weights (Loader *L, const char *label, const char *name, size_t n,
                          size_t elem_size, GError **error);
/* g_try_malloc of `n` elements (at least one), FKP_NN_ERROR_OUT_OF_MEMORY if refused. */
void *try_alloc (const char *label, const char *name, size_t n, size_t elem_size, GError **error);
/* The values of a constant the node folds into its output 0, checked
 * against the weight budget (add_const charges them); NULL on error. */
void *alloc_folded (Node *node, size_t n, DType dtype, GError **error);
/* A table or weight copy of `n` elements a step holds (`what` names it):
 * checked, charged to the weight budget, allocated; NULL on error. */
void *alloc_held (Node *node, const char *what, size_t n, size_t elem_size, GError **error);
float *hold_weights (Node *node, const float *values, size_t n, GError **error);
/* An activation of this shape as the node's output: within the element
 * cap and the activation budget. */
gboolean check_output (Node *node, const FkpShape *shape, GError **error);

/* Index of the node's input `i`, -1 if absent or empty. */
int input_index (const Node *node, int i);
/* Checks the count of inputs (non-empty trailing) and outputs. */
gboolean check_arity (const Node *node, int min_in, int max_in, int min_out, int max_out,
                      GError **error);
/* A run-time or constant float tensor input. */
gboolean want_float (const Node *node, int i, int *index, GError **error);
gboolean want_const_float (const Node *node, int i, int *index, GError **error);
/* A constant int64 vector input (shapes, axes, pads, ...); NULL values when
 * the input is absent. */
gboolean want_const_ints (const Node *node, int i, const int64_t **values, size_t *count,
                          GError **error);
/* An optional constant float scalar input. */
gboolean scalar_const (const Node *node, int i, float *value, gboolean *present, GError **error);
gboolean want_nchw (const Node *node, int x, GError **error);
/* Normalises an axis into [0, rank). */
gboolean norm_axis (const Node *node, int64_t axis, int rank, int *out, GError **error);
/* Reads `axes` from the attribute (older opsets) or from input `input`. */
gboolean read_axes (const Node *node, int input, int64_t *axes, int *n_axes, GError **error);

/* Appends a step of kind `op` reading `inputs`, with zeroed parameters of
 * `params_size` bytes (the op's own struct) at step->params.  The pointer
 * is valid until the next new_step. */
Step *new_step (Node *node, OpKind op, size_t params_size, int n_inputs, const int *inputs);
/* Creates the step's output activation tensor (output 0 of the node). */
gboolean step_output (Node *node, Step *step, const FkpShape *shape, DType dtype, GError **error);
/* Output that is input `source` seen with another shape (no copy). */
gboolean view_output (Node *node, int source, const FkpShape *shape, GError **error);
/* Binds the node's output name to an existing tensor (Identity, Dropout). */
void bind_output (Node *node, int source);

/* ---- The stages after the nodes are built ------------------------------------ */

/* graph.c */
gboolean read_graph_inputs (Loader *L, GError **error);
/* Checks the graph outputs' names and notes them. */
gboolean read_graph_outputs (Loader *L, GError **error);
/* Once the nodes are built: the tensors the graph outputs name. */
gboolean bind_graph_outputs (Loader *L, GError **error);
/* Orders the nodes so that every node comes after the producers of its
 * inputs; fails on cycles and dangling inputs. */
gboolean sort_nodes (Loader *L, size_t **order, GError **error);
/* Builds one node through the op table. */
gboolean build_node (Loader *L, const Onnx__NodeProto *proto, size_t index, GError **error);

/* fuse.c */
/* The storage root of tensor `t` (followed through aliases), and its
 * element offset there. */
int root_of (Loader *L, int t, size_t *offset);
/* Use counts per tensor (Tensor.n_uses) and, unless the arrays are NULL,
 * the last step reading each tensor and whether a view aliases it. */
void count_uses (Loader *L, int *last_reader, gboolean *aliased);
void fuse_steps (Loader *L);
void alias_concats (Loader *L);
/* Drops dead steps and renumbers producers. */
void compact_steps (Loader *L);

/* branches.c */
/* The windows of independent branches (FkpNet.regions). */
void find_branches (Loader *L);
/* In plan_memory, once lifetimes are known: every tensor a window touches
 * stays alive for the whole window. */
void extend_branch_lifetimes (Loader *L);

/* pack.c */
gboolean pack_weights (Loader *L, GError **error);

/* plan.c */
gboolean plan_memory (Loader *L, GError **error);
/* Frees the constants that no step or graph output reads any more. */
void free_unread_constants (Loader *L);

#endif
