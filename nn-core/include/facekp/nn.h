/* facekp/nn.h — the public door of libfacekp-nn, a small CNN inference engine.
 *
 * It loads an ONNX model (float32, opsets 11–17, NCHW, batch 1), infers every
 * tensor's shape once at load, plans the activation memory by tensor lifetime,
 * and runs the graph on OpenBLAS.  It knows nothing about faces.
 *
 * Typical use:
 *
 *   FkpNetOptions opts;
 *   fkp_net_options_init (&opts);
 *   opts.threads = 2;
 *   FkpNet *net = fkp_net_new_from_file ("model.onnx", &opts, &error);
 *   float *in = fkp_net_get_input_data (net, 0);      // fill it, NCHW
 *   if (!fkp_net_run (net, &error)) ...
 *   const float *out = fkp_net_get_output_data (net, 0);
 *   fkp_net_free (net);
 *
 * Ownership: every string and pointer returned by a getter belongs to the
 * net and stays valid until fkp_net_free().  Input and output buffers keep
 * their address for the net's whole life; outputs are overwritten by each
 * fkp_net_run().
 *
 * Threads: one FkpNet must not be used by two threads at once; distinct nets
 * may run concurrently in different threads (e.g. GStreamer streaming
 * threads).  `threads` is the number of threads one fkp_net_run() uses: the
 * net splits the work itself, on a pool of threads - 1 workers of its own
 * (made at the first run after the count is set) plus the calling thread.
 * Convolutions and max pooling, in their common forms, are cut into one
 * part per thread when large enough; the other ops run on the calling
 * thread.  OpenBLAS is kept to one thread and runs each part's GEMM on the
 * thread that runs the part: fkp_net_run() sets OpenBLAS's process-wide
 * count to 1 (openblas_set_num_threads) whenever it is not, which also
 * applies to any other OpenBLAS user in the process.  Each net has its own
 * workers, so several nets running at once on few cores do best with
 * threads = 1 each.
 */
#ifndef FACEKP_NN_H
#define FACEKP_NN_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>

G_BEGIN_DECLS

/* ---- Errors ---------------------------------------------------------- */

#define FKP_NN_ERROR (fkp_nn_error_quark ())
GQuark fkp_nn_error_quark (void);

/* Error codes in the FKP_NN_ERROR domain.  Messages name the node (name and
 * op_type) or tensor at fault; those of fkp_net_new_from_file() also name
 * the file, once. */
typedef enum {
  FKP_NN_ERROR_IO,                    /* file cannot be read */
  FKP_NN_ERROR_PARSE,                 /* truncated or corrupt protobuf, malformed model */
  FKP_NN_ERROR_UNSUPPORTED_OP,        /* op_type (or domain) not implemented */
  FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, /* attribute value (or unknown attribute) not handled */
  FKP_NN_ERROR_DTYPE,                 /* tensor element type not float32 (or int64 where shapes go) */
  FKP_NN_ERROR_SHAPE,                 /* shapes that do not fit together, bad rank */
  FKP_NN_ERROR_MISSING,               /* a referenced tensor, initializer or graph input/output is absent */
  FKP_NN_ERROR_CYCLE,                 /* the graph is not a DAG */
  FKP_NN_ERROR_TOO_LARGE,             /* a size overflows or passes the sane caps below */
  FKP_NN_ERROR_INVALID_ARGUMENT,      /* bad argument from the caller (options, index, size) */
  FKP_NN_ERROR_OUT_OF_MEMORY,         /* within the budgets, but the system refused the memory */
} FkpNnError;

/* Sane caps: no tensor may hold more than FKP_NN_MAX_TENSOR_ELEMENTS
 * elements, and the weights plus planned activations may not pass
 * FKP_NN_MAX_TOTAL_BYTES.  FkpNetOptions' budgets default to it. */
#define FKP_NN_MAX_TENSOR_ELEMENTS (1 << 28)
#define FKP_NN_MAX_TOTAL_BYTES ((uint64_t) 2 << 30)

/* ---- Shapes ---------------------------------------------------------- */

#define FKP_NN_MAX_RANK 8

typedef struct {
  int rank;                          /* 0 for a scalar */
  int64_t dims[FKP_NN_MAX_RANK];     /* dims[0..rank-1], all >= 0 */
} FkpShape;

/* Product of the dims (1 for a scalar). */
size_t fkp_shape_n_elements (const FkpShape *shape);

/* ---- Creating and freeing ------------------------------------------- */

typedef void (*FkpNetPauseFunc) (void *data);

typedef struct {
  /* Threads per fkp_net_run(); 0 means 1.  See the threading note above. */
  int threads;
  /* Override of the spatial size (the last two dims) of every 4-D graph
   * input, for models exported with dynamic height/width.  0 = use the
   * model's static dims (a dynamic dim without override is an error). */
  int input_height;
  int input_width;
  /* Budgets, checked before the bytes are allocated; 0 = the default,
   * FKP_NN_MAX_TOTAL_BYTES.  Weights: every constant the model holds or
   * folds (initializers, Constant, shape arithmetic) plus the weight copies
   * and index tables its steps hold.  Activations: the planned arena plus
   * one thread's scratch.  The two together may not pass the larger one. */
  uint64_t max_weight_bytes;
  uint64_t max_activation_bytes;
  /* Called on the loading thread between the pieces of a load (a block of
   * the file read, an initializer, a node, a weight pack): on the shipped
   * models most well under a millisecond, a few up to about 3 ms, the
   * protobuf parse 5-7 ms (2-core AMD EPYC Zen 3); the load's only (a
   * net's runs have fkp_net_set_pause_func).  It may block: that is how a
   * background load gives way to a thread with a deadline.  NULL (the
   * default): never called. */
  FkpNetPauseFunc pause_func;
  void *pause_data;
} FkpNetOptions;

/* Fills `opts` with the defaults (1 thread, the model's own input size,
 * the default budgets). */
void fkp_net_options_init (FkpNetOptions *opts);

typedef struct _FkpNet FkpNet;

/* Loads, validates and prepares a model.  `opts` may be NULL (defaults).
 * Returns NULL and sets `error` (domain FKP_NN_ERROR) on any failure. */
FkpNet *fkp_net_new_from_file (const char *path, const FkpNetOptions *opts, GError **error);
FkpNet *fkp_net_new_from_data (const void *data, size_t size, const FkpNetOptions *opts,
                               GError **error);
void fkp_net_free (FkpNet *net);  /* NULL is allowed */

/* ---- Inputs and outputs --------------------------------------------- */

/* Graph inputs are those not backed by an initializer.  Input data is
 * float32 NCHW, zero-filled at creation; fill it before each run. */
size_t fkp_net_get_n_inputs (const FkpNet *net);
const char *fkp_net_get_input_name (const FkpNet *net, size_t index);   /* NULL if out of range */
gboolean fkp_net_get_input_shape (const FkpNet *net, size_t index, FkpShape *shape);
float *fkp_net_get_input_data (FkpNet *net, size_t index);            /* NULL if out of range */
int fkp_net_find_input (const FkpNet *net, const char *name);          /* index or -1 */

size_t fkp_net_get_n_outputs (const FkpNet *net);
const char *fkp_net_get_output_name (const FkpNet *net, size_t index);
gboolean fkp_net_get_output_shape (const FkpNet *net, size_t index, FkpShape *shape);
const float *fkp_net_get_output_data (const FkpNet *net, size_t index);
int fkp_net_find_output (const FkpNet *net, const char *name);

/* ---- Running --------------------------------------------------------- */

/* Runs the whole graph on the current input data.  Fails only on an
 * invalid net (NULL); all validation happened at load. */
gboolean fkp_net_run (FkpNet *net, GError **error);

void fkp_net_set_threads (FkpNet *net, int threads);   /* < 1 means 1 */

/* Called by fkp_net_run() on its calling thread between steps (NULL: never),
 * e.g. to let a warm-up run in the background give way step by step. */
void fkp_net_set_pause_func (FkpNet *net, FkpNetPauseFunc func, void *data);
int fkp_net_get_threads (const FkpNet *net);

/* ---- Model information ---------------------------------------------- */

/* The model's metadata_props.  get_metadata returns NULL for an absent key;
 * get_metadata_keys returns a NULL-terminated array in file order. */
const char *fkp_net_get_metadata (const FkpNet *net, const char *key);
const char *const *fkp_net_get_metadata_keys (const FkpNet *net);

typedef struct {
  uint64_t n_parameters;           /* float weights actually used (after constant folding) */
  uint64_t n_macs;                 /* multiply-accumulates of Conv/Gemm/MatMul per run */
  uint64_t peak_activation_bytes;  /* arena holding every intermediate tensor, planned by lifetime */
  uint64_t naive_activation_bytes; /* what one buffer per tensor would take */
  uint64_t scratch_bytes;          /* im2col and other scratch */
  uint64_t weight_bytes;           /* packed weights held by the net */
  int64_t opset;                   /* default-domain opset the model declares */
  size_t n_nodes;                  /* nodes in the ONNX graph */
  size_t n_steps;                  /* kernels executed per run, after folding and fusion */
  size_t n_winograd_convs;         /* convs run as Winograd: F(4,3), F(2,3) or F(2,5) */
  size_t n_branch_windows;         /* windows of independent branches (run side by side with threads) */
} FkpNetStats;

void fkp_net_get_stats (const FkpNet *net, FkpNetStats *stats);

/* Histogram of the ONNX graph's op types, sorted by name: returns the
 * op_type at `index` and stores its node count in `count`; NULL past the end. */
const char *fkp_net_get_op_count (const FkpNet *net, size_t index, size_t *count);

G_END_DECLS

#endif /* FACEKP_NN_H */
