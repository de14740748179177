/* The op table: for each kind of OpKind, the ONNX op_types that build it
 * (with the variant each selects), its builder, its kernel, and what frees
 * its parameters.  The loader finds a node's entry by op_type, a run calls
 * each step's kernel through it: the only two places that dispatch on ops. */
#include "nn-private.h"

#include <string.h>

/* A kind's ONNX op_types, ended by a NULL name. */
#define ONNX(...) ((const OpName[]) { __VA_ARGS__, { NULL, 0 } })

const OpInfo fkp_nn_ops[] = {
  [OP_CONV] = { ONNX ({ "Conv", 0 }),
                fkp_nn_build_conv, fkp_nn_run_conv, fkp_nn_clear_conv, TRUE },
  [OP_BATCHNORM] = { ONNX ({ "BatchNormalization", 0 }),
                     fkp_nn_build_batchnorm, fkp_nn_run_batchnorm, fkp_nn_clear_batchnorm, TRUE },
  [OP_ACTIVATION] = { ONNX ({ "Relu", ACT_RELU }, { "LeakyRelu", ACT_LEAKY_RELU },
                            { "Sigmoid", ACT_SIGMOID }, { "Tanh", ACT_TANH }, { "Clip", ACT_CLIP }),
                      fkp_nn_build_activation, fkp_nn_run_activation, NULL, FALSE },
  [OP_POOL] = { ONNX ({ "MaxPool", TRUE }, { "AveragePool", FALSE }),
                fkp_nn_build_pool, fkp_nn_run_pool, fkp_nn_clear_pool, FALSE },
  [OP_GLOBAL_POOL] = { ONNX ({ "GlobalAveragePool", FALSE }, { "GlobalMaxPool", TRUE }),
                       fkp_nn_build_global_pool, fkp_nn_run_global_pool, NULL, FALSE },
  [OP_CONCAT] = { ONNX ({ "Concat", 0 }),
                  fkp_nn_build_concat, fkp_nn_run_concat, NULL, FALSE },
  [OP_BINARY] = { ONNX ({ "Add", BIN_ADD }, { "Sub", BIN_SUB }, { "Mul", BIN_MUL },
                        { "Div", BIN_DIV }),
                  fkp_nn_build_binary, fkp_nn_run_binary, NULL, TRUE },
  [OP_REDUCE] = { ONNX ({ "ReduceMean", RED_MEAN }, { "ReduceMax", RED_MAX },
                        { "ReduceMin", RED_MIN }, { "ReduceSum", RED_SUM }),
                  fkp_nn_build_reduce, fkp_nn_run_reduce, NULL, FALSE },
  [OP_ARGMAX] = { ONNX ({ "ArgMax", 0 }),
                  fkp_nn_build_argmax, fkp_nn_run_argmax, NULL, FALSE },
  [OP_SOFTMAX] = { ONNX ({ "Softmax", 0 }),
                   fkp_nn_build_softmax, fkp_nn_run_softmax, NULL, FALSE },
  [OP_GEMM] = { ONNX ({ "Gemm", 0 }),
                fkp_nn_build_gemm, fkp_nn_run_gemm, fkp_nn_clear_gemm, TRUE },
  [OP_MATMUL] = { ONNX ({ "MatMul", 0 }),
                  fkp_nn_build_matmul, fkp_nn_run_matmul, NULL, TRUE },
  [OP_TRANSPOSE] = { ONNX ({ "Transpose", 0 }),
                     fkp_nn_build_transpose, fkp_nn_run_strided_copy, NULL, FALSE },
  [OP_SLICE] = { ONNX ({ "Slice", 0 }),
                 fkp_nn_build_slice, fkp_nn_run_strided_copy, NULL, FALSE },
  [OP_PAD] = { ONNX ({ "Pad", 0 }),
               fkp_nn_build_pad, fkp_nn_run_pad, NULL, FALSE },
  [OP_RESIZE] = { ONNX ({ "Resize", FALSE }, { "Upsample", TRUE }),
                  fkp_nn_build_resize, fkp_nn_run_resize, fkp_nn_clear_resize, FALSE },
  /* Folded at load: no kernel. */
  [OP_FLATTEN] = { ONNX ({ "Flatten", 0 }), fkp_nn_build_flatten, NULL, NULL, FALSE },
  [OP_RESHAPE] = { ONNX ({ "Reshape", 0 }), fkp_nn_build_reshape, NULL, NULL, FALSE },
  [OP_SQUEEZE] = { ONNX ({ "Squeeze", FALSE }, { "Unsqueeze", TRUE }),
                   fkp_nn_build_squeeze, NULL, NULL, FALSE },
  [OP_IDENTITY] = { ONNX ({ "Identity", FALSE }, { "Dropout", TRUE }),
                    fkp_nn_build_identity, NULL, NULL, FALSE },
  [OP_CAST] = { ONNX ({ "Cast", 0 }), fkp_nn_build_cast, NULL, NULL, FALSE },
  [OP_CONSTANT] = { ONNX ({ "Constant", 0 }), fkp_nn_build_constant, NULL, NULL, FALSE },
  [OP_CONSTANT_OF_SHAPE] = { ONNX ({ "ConstantOfShape", 0 }),
                             fkp_nn_build_constant_of_shape, NULL, NULL, FALSE },
  [OP_SHAPE] = { ONNX ({ "Shape", 0 }), fkp_nn_build_shape, NULL, NULL, FALSE },
  [OP_GATHER] = { ONNX ({ "Gather", 0 }), fkp_nn_build_gather, NULL, NULL, FALSE },
};

/* A kind added to the enum needs its entry here (a missing last one shows
 * here, a missing one in between as a kind without names at the first
 * lookup). */
_Static_assert (G_N_ELEMENTS (fkp_nn_ops) == OP_COUNT, "every OpKind needs an entry in fkp_nn_ops");

int
fkp_nn_op_lookup (const char *onnx_name, int *variant)
{
  for (int kind = 0; kind < OP_COUNT; kind++) {
    g_assert (fkp_nn_ops[kind].names != NULL && fkp_nn_ops[kind].build != NULL);
    for (const OpName *n = fkp_nn_ops[kind].names; n->onnx_name; n++)
      if (strcmp (n->onnx_name, onnx_name) == 0) {
        *variant = n->variant;
        return kind;
      }
  }
  return -1;
}

void
fkp_nn_run_step (FkpNet *net, const Step *step)
{
  fkp_nn_ops[step->op].run (net, step);
}

void
fkp_nn_step_clear (Step *step)
{
  g_free (step->label);
  g_free (step->inputs);
  if (step->params && fkp_nn_ops[step->op].clear)
    fkp_nn_ops[step->op].clear (step->params);
  g_free (step->params);
}
