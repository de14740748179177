/* Internal structures of libfacekp-nn, shared by the loader, the kernels and
 * the public API.  Nothing here is installed. */
#ifndef FACEKP_NN_PRIVATE_H
#define FACEKP_NN_PRIVATE_H

#include "facekp/nn.h"
#include "onnx.pb-c.h"


/* The engine's own loops are built for the baseline x86-64 and, through
 * GCC's function multiversioning, also for AVX2+FMA and AVX-512 machines;
 * the best clone is picked once at load time.  Other compilers and
 * architectures get the plain version.  Only on static functions: GCC would
 * export the ifunc resolver of an extern one despite -fvisibility=hidden. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FKP_SIMD __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FKP_SIMD
#endif

/* ONNX TensorProto.DataType values the loader knows. */
enum {
  ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_INT32 = 6, ONNX_INT64 = 7,
  ONNX_BOOL = 9, ONNX_DOUBLE = 11,
};

/* What a tensor's elements are. */
typedef enum {
  DT_FLOAT,        /* float32 */
  DT_INT64,        /* int64, only ever constant (shape arithmetic) */
  DT_INDEX_FLOAT,  /* ArgMax indices held as float32; Cast to float makes them DT_FLOAT */
} DType;

typedef enum {
  TK_ACTIVATION,   /* produced by a step at run time */
  TK_INPUT,        /* graph input, filled by the caller */
  TK_CONST,        /* initializer, Constant, or folded at load */
} TensorKind;

typedef struct {
  char *name;
  FkpShape shape;
  size_t n_elements;
  DType dtype;
  TensorKind kind;
  float *fdata;       /* TK_CONST DT_FLOAT: owned values */
  int64_t *idata;     /* TK_CONST DT_INT64: owned values */
  /* Aliasing: this tensor's elements live inside tensor `alias_of`, starting
   * at element `alias_offset` (Reshape-like views, concat slices). */
  int alias_of;
  size_t alias_offset;
  gboolean is_output;
  int producer;       /* step index, -1 if none */
  int n_uses;         /* number of step inputs reading it (after fusion) */
  /* Planning (storage roots only). */
  int live_first, live_last;
  size_t arena_offset;
  float *data;        /* resolved address at run time */
} Tensor;

typedef enum {
  ACT_NONE, ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_CLIP, ACT_TANH,
} ActKind;

typedef struct {
  ActKind kind;
  float alpha;        /* LeakyRelu slope */
  float lo, hi;       /* Clip bounds */
} Activation;

typedef enum {
  OP_CONV, OP_BATCHNORM, OP_ACT, OP_MAXPOOL, OP_AVGPOOL, OP_GLOBAL_AVGPOOL,
  OP_GLOBAL_MAXPOOL, OP_CONCAT, OP_BINARY, OP_REDUCE, OP_ARGMAX, OP_GEMM, OP_MATMUL,
  OP_SOFTMAX, OP_TRANSPOSE, OP_PAD, OP_RESIZE, OP_COPY, OP_SLICE,
} OpKind;

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } BinaryKind;
typedef enum { RED_MEAN, RED_MAX, RED_MIN, RED_SUM } ReduceKind;

#define STEP_MAX_INPUTS 3

typedef struct {
  OpKind op;
  char *label;                      /* "name (OpType)" for messages and traces */
  int n_inputs;                     /* runtime inputs */
  int inputs[STEP_MAX_INPUTS];      /* tensor indices; concat keeps its own list */
  int output;
  Activation act;                   /* fused epilogue */
  /* Conv */
  int groups, kh, kw, sh, sw, dh, dw, pad_top, pad_left, pad_bottom, pad_right;
  int conv_algo;                    /* CONV_* below */
  int im2col_rows;                  /* output rows unfolded per band (CONV_IM2COL) */
  float *weights;                   /* owned (Conv: [M][C/g][kh][kw]); NULL once packed */
  float *packed;                    /* owned: Conv weights packed for gemm.c, or NULL */
  size_t packed_b_offset;           /* where gemm.c's packed feature map starts in a scratch area */
  float *bias;                      /* owned, length M (Gemm: M×N) or NULL */
  size_t n_weights, n_bias;
  /* BatchNorm: per-channel y = x * scale + shift */
  float *scale, *shift;
  /* Pool */
  gboolean count_include_pad;
  /* Concat */
  int *concat_inputs, n_concat_inputs, axis;
  /* Binary */
  BinaryKind binary;
  /* Reduce / ArgMax / Softmax: outer × extent × inner decomposition */
  ReduceKind reduce;
  size_t outer, extent, inner;
  gboolean select_last;
  /* Gemm / MatMul */
  gboolean trans_a, trans_b;
  float alpha, beta;
  int gemm_m, gemm_n, gemm_k;
  size_t batch;                     /* MatMul batches; 0 stride means broadcast */
  size_t a_batch_stride, b_batch_stride;
  /* Binary broadcast after merging compatible dims: output dims and the
   * element strides of both operands (0 where broadcast). */
  int bc_rank;
  int64_t bc_dims[FKP_NN_MAX_RANK], bc_stride_a[FKP_NN_MAX_RANK], bc_stride_b[FKP_NN_MAX_RANK];
  /* Strided copy (Transpose, Slice): output dims, input stride per output
   * dim, and the input element where the copy starts. */
  int copy_rank;
  int64_t copy_dims[FKP_NN_MAX_RANK], copy_stride[FKP_NN_MAX_RANK], copy_base;
  /* Pad (constant mode): elements added before each dim. */
  int64_t pad_begin[FKP_NN_MAX_RANK];
  float pad_value;
  /* Resize (nearest or linear on the last two dims of a 4-D tensor) */
  /* Resize: per output row and column, the two source indices and the
   * weight of the second (nearest: both indices equal, weight 0). */
  int *resize_y0, *resize_y1, *resize_x0, *resize_x1;
  float *resize_fy, *resize_fx;
  uint64_t macs;
  gboolean dead;                    /* fused into another step or made a no-op */
} Step;

enum { CONV_GEMM_1X1, CONV_IM2COL, CONV_DIRECT };

/* Largest im2col band in floats (1 MiB): big enough for long GEMMs, small
 * enough to stay in cache (a larger band is used only when one output row
 * needs more). */
#define FKP_NN_IM2COL_FLOATS (256 * 1024)

typedef struct _FkpNnPool FkpNnPool;

struct _FkpNet {
  Tensor *tensors;
  int n_tensors;
  Step *steps;
  int n_steps;
  int *inputs, n_inputs;            /* tensor indices of graph inputs */
  int *outputs, n_outputs;
  char **meta_keys;                 /* NULL-terminated */
  char **meta_values;
  size_t n_meta;
  char **op_names;                  /* histogram, sorted */
  size_t *op_counts;
  size_t n_op_names;
  float *arena;
  size_t arena_bytes;
  float *scratch;                   /* one area of scratch_floats per thread */
  size_t scratch_floats;
  int threads;
  FkpNnPool *pool;                  /* threads - 1 workers, made at the first run */
  int pool_threads;                 /* the thread count the pool was made for (0: none yet) */
  FkpNetStats stats;
  double *profile_us;               /* per-step time when FKP_NN_PROFILE is set */
  int profile_runs;
};

/* parallel.c: a step's work cut into parts run by the net's threads. */
typedef void (*FkpNnTask) (void *ctx, int part, int n_parts);
FkpNnPool *fkp_nn_pool_new (int n_threads);
void fkp_nn_pool_free (FkpNnPool *pool);
int fkp_nn_pool_size (const FkpNnPool *pool);
/* Runs task(ctx, part, n_parts) for part 0 … n_parts - 1 (at most the pool's
 * size) and returns when all are done; part 0 runs in the caller. */
void fkp_nn_parallel (FkpNet *net, int n_parts, FkpNnTask task, void *ctx);
/* Part `part` of [0, n) cut into n_parts ranges of whole `align` units. */
void fkp_nn_split (int n, int part, int n_parts, int align, int *lo, int *hi);
/* gemm.c: convolutions of small feature maps on weights packed at load. */
#define FKP_NN_PACKED_MAX_N 256           /* im2col convolutions up to this N */
#define FKP_NN_PACKED_MAX_WEIGHTS (256 * 1024) /* 1×1 convolutions of any N up to this M·K */
#define FKP_NN_PANEL_ROWS 6         /* output channels per packed panel */
size_t fkp_nn_packed_floats (int M, int K);
int fkp_nn_packed_panels (int M);
void fkp_nn_pack_weights (const float *W, int M, int K, float *packed);
/* C[M×N] rows of panels [panel_lo, panel_hi) = packed weights × B[K×N];
 * `bpack` holds fkp_nn_packed_b_floats (K, N) floats of scratch. */
size_t fkp_nn_packed_b_floats (int K, int N);
void fkp_nn_packed_gemm (const float *packed, int M, int K, const float *B, int N, float *C,
                         int panel_lo, int panel_hi, float *bpack);
/* C[M×N] columns [n_lo, n_hi) (n_lo a multiple of 16), for large N; `block`
 * holds K×16 floats of scratch. */
void fkp_nn_packed_gemm_columns (const float *packed, int M, int K, const float *B, int N,
                                 float *C, int n_lo, int n_hi, float *block);

/* Threads a run of this net uses (its pool's size). */
int fkp_nn_threads (const FkpNet *net);

/* load.c */
gboolean fkp_nn_load (FkpNet *net, const uint8_t *data, size_t size, const FkpNetOptions *opts,
                      GError **error);

/* kernels.c / conv.c */
void fkp_nn_run_step (FkpNet *net, const Step *step);
/* Frees what a step owns (not the step itself). */
void fkp_nn_step_clear (Step *step);
void fkp_nn_conv (FkpNet *net, const Step *step);
void fkp_nn_apply_activation (float *data, size_t n, const Activation *act);
void fkp_nn_apply_bias_activation (float *data, size_t channels, size_t plane, const float *bias,
                                   const Activation *act);
/* The same on `len` values per channel, channel c starting at data + c * stride. */
void fkp_nn_apply_bias_activation_strided (float *data, size_t channels, size_t stride, size_t len,
                                           const float *bias, const Activation *act);

static inline float *
tensor_data (const FkpNet *net, int index)
{
  return net->tensors[index].data;
}

#endif
