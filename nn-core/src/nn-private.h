/* Internal structures of libfacekp-nn, shared by the loader (load/), the ops
 * (ops/), what the kernels run on (run/) and the public API (net.c).
 * Nothing here is installed. */
#ifndef FACEKP_NN_PRIVATE_H
#define FACEKP_NN_PRIVATE_H

#include "facekp/nn.h"

#include <stdlib.h>


/* The engine's own loops are built for the baseline x86-64 and, through
 * GCC's function multiversioning, also for AVX2+FMA and AVX-512 machines;
 * the best clone is picked once at load time.  Other compilers and
 * architectures get the plain version.  Only on static functions: GCC would
 * export the ifunc resolver of an extern one despite -fvisibility=hidden. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FKP_SIMD __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
/* GCC then warns that a helper returning a 32-byte vector changes the ABI
 * without AVX; every such helper is static and always inlined into its
 * clones, so no call crosses that ABI. */
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#define FKP_SIMD
#endif

/* Lanes picked from two 8-lane vectors a and b (indices 0-7 from a, 8-15
 * from b), constant indices: GCC's and clang's builtins differ. */
#if defined(__clang__)
#define FKP_SHUFFLE8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shufflevector (a, b, i0, i1, i2, i3, i4, i5, i6, i7)
#else
typedef int FkpShuffleMask8 __attribute__ ((vector_size (32)));
#define FKP_SHUFFLE8(a, b, i0, i1, i2, i3, i4, i5, i6, i7) \
  __builtin_shuffle (a, b, (FkpShuffleMask8) { i0, i1, i2, i3, i4, i5, i6, i7 })
#endif
/* The transposes' patterns: within each 128-bit half, interleave the low
 * (or high) pairs; take pairs of pairs; take halves. */
#define FKP_UNPACK_LO(a, b) FKP_SHUFFLE8 (a, b, 0, 8, 1, 9, 4, 12, 5, 13)
#define FKP_UNPACK_HI(a, b) FKP_SHUFFLE8 (a, b, 2, 10, 3, 11, 6, 14, 7, 15)
#define FKP_PAIRS_LO(a, b) FKP_SHUFFLE8 (a, b, 0, 1, 8, 9, 4, 5, 12, 13)
#define FKP_PAIRS_HI(a, b) FKP_SHUFFLE8 (a, b, 2, 3, 10, 11, 6, 7, 14, 15)
#define FKP_HALVES_LO(a, b) FKP_SHUFFLE8 (a, b, 0, 1, 2, 3, 8, 9, 10, 11)
#define FKP_HALVES_HI(a, b) FKP_SHUFFLE8 (a, b, 4, 5, 6, 7, 12, 13, 14, 15)

/* The op table's entry point `name` for a kernel built with FKP_SIMD, which
 * must stay static: a plain function that calls it. */
#define FKP_SIMD_KERNEL_ENTRY(name, kernel)                                  \
  void name (FkpNet *net, const Step *step) { kernel (net, step); }

/* The op kinds, the op table and every op family's entry points. */
#include "ops/ops.h"

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

struct _Tensor {
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
};

/* One kernel call of a run: an op built at load, its parameters private to
 * the op's own file (ops/), its tensors planned. */
struct _Step {
  OpKind op;
  char *label;                      /* "name (OpType)" for messages and traces */
  int n_inputs;
  int *inputs;                      /* owned: tensor indices read at run time */
  int output;
  Activation act;                   /* the op of an activation step; the fused epilogue of others */
  void *params;                     /* owned: the op's parameter struct, written by its builder */
  size_t n_weights;                 /* floats of weights, bias, scale it holds (for the stats) */
  uint64_t macs;
  gboolean dead;                    /* fused into another step or made a no-op */
};

typedef struct _FkpNnPool FkpNnPool;

/* A window of steps that form independent branches (load/branches.c),
 * run side by side by a net with several threads (run/parallel.c). */
typedef struct {
  int first, n_steps;               /* steps [first, first + n_steps) */
  int n_branches;
  int *branch_of;                   /* owned: per step of the window, its branch */
  double *branch_cost;              /* owned: per branch, its estimated cost */
  /* How the net's current thread count runs it (run/parallel.c), decided
   * when that count is first used: */
  int plan_threads;                 /* the thread count planned for; 0: none yet */
  gboolean side_by_side;            /* branches on threads; else step by step, each split */
  int *thread_of_branch;            /* owned: per branch, the part that runs it */
} FkpNnRegion;

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
  float *arena;                     /* FKP_NN_ARENA_SLACK_FLOATS into its allocation */
  size_t arena_bytes;
  float *scratch;                   /* one area of scratch_floats per thread */
  size_t scratch_floats;
  int threads;
  FkpNnPool *pool;                  /* threads - 1 workers, made at the first run */
  int pool_threads;                 /* the thread count the pool was made for (0: none yet) */
  FkpNnRegion *regions;             /* in step order */
  int n_regions;
  FkpNetStats stats;
  double *profile_us;               /* per-step time when FKP_NN_PROFILE is set */
  gboolean profile_wall;            /* FKP_NN_PROFILE=wall: wall time, not CPU time */
  int profile_runs;
  FkpNetPauseFunc pause_func;       /* between steps of a run; NULL: none */
  void *pause_data;
};

/* run/parallel.c: a step's work cut into parts run by the net's threads. */
typedef void (*FkpNnTask) (void *ctx, int part, int n_parts);
FkpNnPool *fkp_nn_pool_new (int n_threads);
void fkp_nn_pool_free (FkpNnPool *pool);
int fkp_nn_pool_size (const FkpNnPool *pool);
/* Runs task(ctx, part, n_parts) for part 0 … n_parts - 1 (at most the pool's
 * size) and returns when all are done; each part runs once, in the caller or
 * a worker, whichever claims it first. */
void fkp_nn_parallel (FkpNet *net, int n_parts, FkpNnTask task, void *ctx);
/* Whether this thread is running a step of a branch that the net runs side
 * by side with others: then fkp_nn_parallel runs its task whole, inline. */
gboolean fkp_nn_in_branch (void);
/* Part `part`'s scratch area (of net->scratch_floats floats): each thread
 * of a run, and each branch run side by side, has its own. */
float *fkp_nn_scratch (const FkpNet *net, int part);
/* Runs the net's steps in order, the windows of branches side by side
 * where that pays for the net's thread count, timing each step when
 * FKP_NN_PROFILE is set. */
void fkp_nn_run_steps (FkpNet *net);
/* Part `part` of [0, n) cut into n_parts ranges of whole `align` units. */
void fkp_nn_split (int n, int part, int n_parts, int align, int *lo, int *hi);
/* Readable floats before and after the arena (zero): a kernel may load a
 * whole vector that crosses the edge of a map in it and drop the lanes
 * outside, instead of building the vector value by value (Winograd's
 * input tiles, whose scalar copies cost half of that transform). */
#define FKP_NN_ARENA_SLACK_FLOATS 16

/* The arena and the scratch areas, 64-byte aligned (NULL when the memory is
 * not there; free with free ()): the sgemm's choices, and so its rounding,
 * depend on where its input starts within a cache line, which must not
 * change from one net, or one malloc, to another. */
static inline float *
fkp_nn_alloc_floats (size_t n)
{
  return aligned_alloc (64, (MAX (n, 1) * sizeof (float) + 63) / 64 * 64);
}

/* A step from one NCHW tensor to another of the same planes: the data,
 * the spatial sizes and the number of planes (N·C), as the pooling and
 * resizing kernels read them. */
typedef struct {
  const float *x;
  float *y;
  int H, W, OH, OW;
  size_t planes;
} FkpNnPlanes;

static inline FkpNnPlanes
fkp_nn_planes (const FkpNet *net, const Step *s)
{
  const Tensor *X = &net->tensors[s->inputs[0]], *Y = &net->tensors[s->output];
  return (FkpNnPlanes) {
    X->data, Y->data, (int) X->shape.dims[2], (int) X->shape.dims[3], (int) Y->shape.dims[2],
    (int) Y->shape.dims[3], (size_t) (X->shape.dims[0] * X->shape.dims[1]),
  };
}

/* Threads a run of this net uses (its pool's size). */
int fkp_nn_threads (const FkpNet *net);

/* load/load.c: the loader's stages, from the ONNX bytes to planned steps. */
/* The caller's pause function (FkpNetOptions) while this thread is in
 * fkp_nn_load(), between the pieces of the load and in long packing loops;
 * a no-op otherwise. */
void fkp_nn_load_pause (void);
gboolean fkp_nn_load (FkpNet *net, const uint8_t *data, size_t size, const FkpNetOptions *opts,
                      GError **error);

static inline float *
tensor_data (const FkpNet *net, int index)
{
  return net->tensors[index].data;
}

#endif
