/* The op table's types: every kind of op the engine knows (one enum), and
 * for each the ONNX op_types that select it, the builder that checks a
 * node and infers its output at load, and the kernel that runs it.  The
 * table itself is in ops/table.c.
 *
 * An op's builder and kernel sit side by side in one file of ops/, by
 * family (conv.c, pool.c, ...).  Its parameters are a struct private to
 * that file, allocated with the step (Step.params): written by the
 * builder, read by the kernel.  Kinds that only fold at load (views,
 * aliases, constants) have a builder and no kernel.  docs/contributing.md
 * walks through adding one. */
#ifndef FACEKP_NN_OPS_H
#define FACEKP_NN_OPS_H

#include "facekp/nn.h"

typedef struct _Step Step;
/* The loader's view of one ONNX node, handed to builders (load/loader.h). */
typedef struct _Node Node;
typedef struct _Tensor Tensor;

typedef enum {
  /* Kinds that become steps, run by every fkp_net_run(). */
  OP_CONV, OP_BATCHNORM, OP_ACTIVATION, OP_POOL, OP_GLOBAL_POOL, OP_CONCAT, OP_BINARY,
  OP_REDUCE, OP_ARGMAX, OP_SOFTMAX, OP_GEMM, OP_MATMUL, OP_TRANSPOSE, OP_SLICE, OP_PAD,
  OP_RESIZE,
  /* Kinds folded at load into views, aliases and constants: no kernel. */
  OP_FLATTEN, OP_RESHAPE, OP_SQUEEZE, OP_IDENTITY, OP_CAST, OP_CONSTANT, OP_CONSTANT_OF_SHAPE,
  OP_SHAPE, OP_GATHER,
  OP_COUNT
} OpKind;

/* One ONNX op_type and the variant of its kind it selects (Sub: BIN_SUB);
 * builders read it as node->variant. */
typedef struct {
  const char *onnx_name;
  int variant;
} OpName;

/* Checks the node's inputs and attributes, infers its output shape and adds
 * what it becomes: a step, or a constant, view or alias for the folded kinds. */
typedef gboolean (*OpBuildFunc) (Node *node, GError **error);
/* Runs one step; everything was checked at load, so it cannot fail. */
typedef void (*OpRunFunc) (FkpNet *net, const Step *step);
/* Frees what a parameter struct owns (not the struct itself). */
typedef void (*OpClearFunc) (void *params);

typedef struct {
  const OpName *names;        /* the ONNX op_types of this kind, ended by { NULL } */
  OpBuildFunc build;
  OpRunFunc run;              /* NULL for the kinds folded at load */
  OpClearFunc clear;          /* NULL where the parameters own no memory */
  gboolean fuses_activation;  /* runs a following activation as its epilogue (Step.act) */
} OpInfo;

extern const OpInfo fkp_nn_ops[];

/* The kind an ONNX op_type builds, and the variant it selects; -1 if none. */
int fkp_nn_op_lookup (const char *onnx_name, int *variant);
/* The one run-time dispatch. */
void fkp_nn_run_step (FkpNet *net, const Step *step);
/* Frees what a step owns (not the step itself). */
void fkp_nn_step_clear (Step *step);

/* ---- Activations: the op and every epilogue ------------------------------ */

typedef enum {
  ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_CLIP, ACT_TANH,
} ActKind;

typedef struct {
  ActKind kind;
  float alpha;        /* LeakyRelu slope */
  float lo, hi;       /* Clip bounds */
} Activation;

/* Broadcast of out = a (op) b after merging compatible dims: the output
 * dims and the element strides of both operands (0 where broadcast). */
typedef struct {
  int rank;
  int64_t dims[FKP_NN_MAX_RANK], stride_a[FKP_NN_MAX_RANK], stride_b[FKP_NN_MAX_RANK];
} Broadcast;

/* ---- Builders and kernels, by family file --------------------------------- */

/* FALSE when the environment sets FKP_NN_FUSE=0: nets loaded then run every
 * step on its own (for comparisons and benchmarks); conv-banded.c. */
gboolean fkp_nn_fusion_enabled (void);

/* conv.c */
gboolean fkp_nn_build_conv (Node *node, GError **error);
void fkp_nn_run_conv (FkpNet *net, const Step *step);
void fkp_nn_clear_conv (void *params);
/* Fusion: a BatchNormalization's per-channel scale and shift folded into
 * the conv's weights and bias; `in_channels` of the conv's input. */
void fkp_nn_conv_fold_batchnorm (Step *conv, const Step *batchnorm, int64_t in_channels,
                                 int64_t out_channels);
/* Packs the weights of a GEMM convolution for the sgemm once fusion is
 * done; raises *scratch_floats to what each thread's scratch area needs. */
gboolean fkp_nn_conv_pack (Step *conv, const Tensor *input, const Tensor *output,
                           size_t *scratch_floats, GError **error);
/* The conv algorithm chosen at load ("1x1", "im2col", "direct"), for the profile. */
const char *fkp_nn_conv_algo_name (const Step *conv);
/* Whether the conv runs as Winograd (for the stats and the branch costs). */
gboolean fkp_nn_conv_is_winograd (const Step *conv);
/* Whether the conv can pool its output with a following tiling MaxPool of
 * side k (a stride-1 direct conv, or an ungrouped 1×1 one), and if so makes
 * it do so: it keeps its own output size, conv_h × conv_w, in a band of
 * scratch, and the fusion stage makes the pool's output tensor its output. */
gboolean fkp_nn_conv_fuse_maxpool (Step *conv, int k, int64_t conv_h, int64_t conv_w);
/* Whether a 1×1 conv can make its input itself, band by band, with `pre`,
 * the stride-1 direct conv (depthwise, say) whose output it alone reads, of
 * in_c × in_h × in_w; if so takes over pre's parameters and activation:
 * the fusion stage then drops `pre` and gives the conv pre's input. */
gboolean fkp_nn_conv_fuse_pre (Step *conv, Step *pre, int64_t in_c, int64_t in_h, int64_t in_w);

/* window.c: kernel windows of Conv and the pools */
typedef enum { PAD_NOTSET, PAD_VALID, PAD_SAME_UPPER, PAD_SAME_LOWER } AutoPad;
gboolean fkp_nn_parse_auto_pad (const Node *node, AutoPad *mode, GError **error);
/* Output length and pads of one spatial dim of a conv or pool window. */
gboolean fkp_nn_window_dim (const Node *node, AutoPad mode, gboolean ceil_mode, int64_t in,
                            int64_t kernel, int64_t stride, int64_t dilation, int64_t *pad_begin,
                            int64_t *pad_end, int64_t *out, GError **error);
/* Reads the strides, dilations and pads attributes (2, 2 and 4 values). */
gboolean fkp_nn_window_attrs (const Node *node, int64_t *strides, int64_t *dilations,
                              int64_t *pads, GError **error);

/* pool.c */
gboolean fkp_nn_build_pool (Node *node, GError **error);
void fkp_nn_clear_pool (void *params);
/* Fusion into a strided MaxPool of input shape `in`, output `out`: its input
 * multiplied by a one-channel `map` (N×1×H×W) as it reads, and a following
 * BatchNormalization without activation applied as it stores.  FALSE: the
 * pool cannot, nothing changed. */
gboolean fkp_nn_pool_fuse_prescale (Step *pool, const FkpShape *in, const FkpShape *map,
                                    const FkpShape *out);
gboolean fkp_nn_pool_fold_batchnorm (Step *pool, const Step *batchnorm, const FkpShape *in,
                                     const FkpShape *out);
void fkp_nn_run_pool (FkpNet *net, const Step *step);
/* A MaxPool a conv can run as it stores its output (load/fuse.c, conv.c):
 * its window side k when its k×k windows tile the input (stride k, no
 * dilation, 2 ≤ k ≤ 4, padding only at the bottom and right, less than k),
 * else 0. */
int fkp_nn_pool_tiling_max (const Step *pool);
/* Max over the k×k windows of in_rows rows of one plane W wide into
 * out_rows rows of OW values: window (r, c) covers rows [r·k, r·k + k) and
 * columns [c·k, c·k + k), cut by the edges (ceil_mode), which none may
 * start past. */
void fkp_nn_maxpool_tiles (const float *in, int in_rows, int W, int k, float *out, int out_rows,
                           int OW);
gboolean fkp_nn_build_global_pool (Node *node, GError **error);
void fkp_nn_run_global_pool (FkpNet *net, const Step *step);

/* elementwise.c: activations, BatchNormalization, the activation epilogue */
gboolean fkp_nn_build_activation (Node *node, GError **error);
void fkp_nn_run_activation (FkpNet *net, const Step *step);
gboolean fkp_nn_build_batchnorm (Node *node, GError **error);
void fkp_nn_run_batchnorm (FkpNet *net, const Step *step);
void fkp_nn_clear_batchnorm (void *params);
/* The per-channel y = x * scale[c] + shift[c] a BatchNormalization step computes. */
void fkp_nn_batchnorm_affine (const Step *batchnorm, const float **scale, const float **shift);
void fkp_nn_apply_activation (float *data, size_t n, const Activation *act);

/* binary.c: Add, Sub, Mul, Div with broadcasting */
typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } BinaryKind;
gboolean fkp_nn_build_binary (Node *node, GError **error);
void fkp_nn_run_binary (FkpNet *net, const Step *step);
/* Whether the step is a Mul without a fused activation. */
gboolean fkp_nn_binary_is_plain_mul (const Step *step);
gboolean fkp_nn_broadcast_shapes (const FkpShape *a, const FkpShape *b, FkpShape *out);
void fkp_nn_broadcast_plan (Broadcast *plan, const FkpShape *out, const FkpShape *a,
                            const FkpShape *b);
/* Input offsets of output element `index` under a broadcast plan. */
void fkp_nn_broadcast_offsets (const Broadcast *plan, size_t index, size_t *oa, size_t *ob);

/* reduce.c: reductions over an axis range (ReduceX, ArgMax, Softmax) */
typedef enum { RED_MEAN, RED_MAX, RED_MIN, RED_SUM } ReduceKind;
gboolean fkp_nn_build_reduce (Node *node, GError **error);
void fkp_nn_run_reduce (FkpNet *net, const Step *step);
gboolean fkp_nn_build_argmax (Node *node, GError **error);
void fkp_nn_run_argmax (FkpNet *net, const Step *step);
gboolean fkp_nn_build_softmax (Node *node, GError **error);
void fkp_nn_run_softmax (FkpNet *net, const Step *step);

/* matmul.c: Gemm and MatMul on OpenBLAS */
gboolean fkp_nn_build_gemm (Node *node, GError **error);
void fkp_nn_run_gemm (FkpNet *net, const Step *step);
void fkp_nn_clear_gemm (void *params);
gboolean fkp_nn_build_matmul (Node *node, GError **error);
void fkp_nn_run_matmul (FkpNet *net, const Step *step);

/* concat.c */
gboolean fkp_nn_build_concat (Node *node, GError **error);
void fkp_nn_run_concat (FkpNet *net, const Step *step);
/* Whether each input fills one contiguous slice of the output (fusion can
 * then let the producers write there). */
gboolean fkp_nn_concat_is_sliced (const Step *concat);

/* copy.c: strided copies (Transpose, Slice) and Pad */
gboolean fkp_nn_build_transpose (Node *node, GError **error);
gboolean fkp_nn_build_slice (Node *node, GError **error);
void fkp_nn_run_strided_copy (FkpNet *net, const Step *step);
gboolean fkp_nn_build_pad (Node *node, GError **error);
void fkp_nn_run_pad (FkpNet *net, const Step *step);

/* resize.c: Resize and Upsample */
gboolean fkp_nn_build_resize (Node *node, GError **error);
void fkp_nn_run_resize (FkpNet *net, const Step *step);
void fkp_nn_clear_resize (void *params);

/* shape.c: views, aliases and constants, all folded at load */
gboolean fkp_nn_build_flatten (Node *node, GError **error);
gboolean fkp_nn_build_reshape (Node *node, GError **error);
gboolean fkp_nn_build_squeeze (Node *node, GError **error);
gboolean fkp_nn_build_identity (Node *node, GError **error);
gboolean fkp_nn_build_cast (Node *node, GError **error);
gboolean fkp_nn_build_constant (Node *node, GError **error);
gboolean fkp_nn_build_constant_of_shape (Node *node, GError **error);
gboolean fkp_nn_build_shape (Node *node, GError **error);
gboolean fkp_nn_build_gather (Node *node, GError **error);

#endif
