/* Bad model files and the public API's contract: truncation at every
 * offset, flipped bytes, random garbage (each either loads or fails with an
 * FKP_NN_ERROR, never crashes or leaks), and one test per error class that
 * asserts the error code and that the message names the culprit. */
#include "test-common.h"
#include "small-models.h"

#include <glib/gstdio.h>
#include <sys/resource.h>
#include <unistd.h>

/* Loads `data`; on success runs it.  Returns the error code or -1. */
static int
try_load (const guint8 *data, size_t len)
{
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (data, len, NULL, &error);
  if (net) {
    g_assert_no_error (error);
    for (size_t i = 0; i < fkp_net_get_n_inputs (net); i++) {
      FkpShape shape;
      fkp_net_get_input_shape (net, i, &shape);
      float *in = fkp_net_get_input_data (net, i);
      for (size_t k = 0; k < fkp_shape_n_elements (&shape); k++)
        in[k] = 0.5f;
    }
    g_assert_true (fkp_net_run (net, NULL));
    fkp_net_free (net);
    return -1;
  }
  g_assert_nonnull (error);
  g_assert_true (error->domain == FKP_NN_ERROR);
  g_assert_true (error->message && error->message[0]);
  int code = error->code;
  g_error_free (error);
  return code;
}

static void
test_valid_model_runs (void)
{
  size_t len;
  guint8 *buf = small_model (&len, 8);
  g_assert_cmpint (try_load (buf, len), ==, -1);
  g_free (buf);
  buf = mixed_model (&len);
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (buf, len, NULL, &error);
  g_assert_no_error (error);
  fkp_net_free (net);
  g_assert_cmpint (try_load (buf, len), ==, -1);
  g_free (buf);
}

/* A long chain of tiny convs (a megabyte of file): the loader's passes stay
 * about linear in the steps.  Fusion and the search for branch windows
 * were quadratic and cubic in them: this model took over nine minutes to
 * load, past the suite's timeout; now well under a second.  The chain
 * computes relu(x), which the run checks. */
static void
test_long_chain (void)
{
  enum { N_CONVS = 20000 };
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, (int64_t[]) { 1, 1, 4, 4 });
  builder_init_float (b, "w", 4, (int64_t[]) { 1, 1, 1, 1 }, (float[]) { 1.0f });
  char prev[32] = "x", conv[32], relu[32];
  for (int i = 0; i < N_CONVS; i++) {
    g_snprintf (conv, sizeof conv, "c%d", i);
    g_snprintf (relu, sizeof relu, "r%d", i);
    builder_node (b, "Conv", conv, IN (prev, "w"), OUT (conv));
    builder_node (b, "Relu", relu, IN (conv), OUT (relu));
    g_strlcpy (prev, relu, sizeof prev);
  }
  builder_output (b, prev);
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (buf, len, NULL, &error);
  g_assert_no_error (error);
  FkpNetStats stats;
  fkp_net_get_stats (net, &stats);
  g_assert_cmpuint (stats.n_steps, ==, N_CONVS);   /* each Relu fused into its conv */
  float *x = fkp_net_get_input_data (net, 0);
  for (int i = 0; i < 16; i++)
    x[i] = (float) (i - 8) / 4.0f;
  g_assert_true (fkp_net_run (net, NULL));
  const float *y = fkp_net_get_output_data (net, 0);
  for (int i = 0; i < 16; i++)
    g_assert_cmpfloat (y[i], ==, MAX (x[i], 0.0f));
  fkp_net_free (net);
  g_free (buf);
}

/* Every single-byte flip and every truncation of the mixed-op model. */
static void
test_mixed_model_fuzz (void)
{
  size_t len;
  guint8 *buf = mixed_model (&len);
  int failures = 0;
  for (size_t cut = 0; cut < len; cut++) {
    guint8 *copy = g_memdup2 (buf, MAX (cut, 1));
    failures += try_load (copy, cut) >= 0;
    g_free (copy);
  }
  g_assert_cmpint (failures, >=, (int) (len * 9 / 10));
  static const guint8 masks[] = { 0x01, 0x02, 0x08, 0x40, 0x80, 0xff };
  for (size_t at = 0; at < len; at++)
    for (size_t m = 0; m < G_N_ELEMENTS (masks); m++) {
      guint8 *copy = g_memdup2 (buf, len);
      copy[at] ^= masks[m];
      try_load (copy, len);
      g_free (copy);
    }
  g_free (buf);
}

static void
test_truncation (void)
{
  size_t len;
  guint8 *buf = small_model (&len, 8);
  int failures = 0;
  for (size_t cut = 0; cut < len; cut++) {
    guint8 *copy = g_memdup2 (buf, MAX (cut, 1));
    if (try_load (copy, cut) >= 0)
      failures++;
    g_free (copy);
  }
  /* Cuts that land exactly between top-level fields can leave a valid
   * model without its metadata; everything else must fail. */
  g_assert_cmpint (failures, >=, (int) (len * 9 / 10));
  g_assert_cmpint (try_load (buf, len - 1), >=, 0);
  g_free (buf);
}

static void
test_flipped_bytes (void)
{
  size_t len;
  guint8 *buf = small_model (&len, 8);
  static const guint8 masks[] = { 0x01, 0x04, 0x10, 0x80, 0xff };
  int failures = 0, total = 0;
  for (size_t at = 0; at < len; at++)
    for (size_t m = 0; m < G_N_ELEMENTS (masks); m++) {
      guint8 *copy = g_memdup2 (buf, len);
      copy[at] ^= masks[m];
      failures += try_load (copy, len) >= 0;
      total++;
      g_free (copy);
    }
  /* Most flips land in weight bytes and leave a loadable model; many do not. */
  g_assert_cmpint (failures, >, 0);
  g_assert_cmpint (failures, <, total);
  g_free (buf);
}

static void
test_random_garbage (void)
{
  for (int i = 0; i < 300; i++) {
    size_t len = g_test_rand_int_range (1, 400);
    guint8 *data = g_new (guint8, len);
    for (size_t k = 0; k < len; k++)
      data[k] = (guint8) g_test_rand_int_range (0, 256);
    try_load (data, len);
    g_free (data);
  }
  /* Valid models with a few random bytes overwritten. */
  for (int model = 0; model < 2; model++) {
    size_t len;
    guint8 *buf = model ? mixed_model (&len) : small_model (&len, 8);
    for (int i = 0; i < 500; i++) {
      guint8 *copy = g_memdup2 (buf, len);
      int n = g_test_rand_int_range (1, 8);
      for (int k = 0; k < n; k++)
        copy[g_test_rand_int_range (0, (int) len)] = (guint8) g_test_rand_int_range (0, 256);
      try_load (copy, len);
      g_free (copy);
    }
    g_free (buf);
  }
}

/* ---- One test per error class ------------------------------------------ */

/* Packs and frees `b`, then loads the model. */
static FkpNet *
pack_and_load (Builder *b, const FkpNetOptions *opts, GError **error)
{
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  FkpNet *net = fkp_net_new_from_data (buf, len, opts, error);
  g_free (buf);
  return net;
}

static void
expect_error (Builder *b, const FkpNetOptions *opts, int code, const char *needle1,
              const char *needle2)
{
  GError *error = NULL;
  FkpNet *net = pack_and_load (b, opts, &error);
  g_assert_null (net);
  g_assert_error (error, FKP_NN_ERROR, code);
  if (needle1 && !strstr (error->message, needle1))
    g_error ("message '%s' does not name '%s'", error->message, needle1);
  if (needle2 && !strstr (error->message, needle2))
    g_error ("message '%s' does not name '%s'", error->message, needle2);
  g_error_free (error);
}

static Builder *
relu_model (int64_t opset)
{
  int64_t xd[2] = { 1, 4 };
  Builder *b = builder_new (opset);
  builder_input (b, "x", 2, xd);
  return b;
}

static void
count_calls (void *data)
{
  (*(guint *) data)++;
}

static void
test_error_io (void)
{
  GError *error = NULL;
  char *path = g_build_filename (g_get_tmp_dir (), "facekp-no-such-dir", "missing.onnx", NULL);
  FkpNet *net = fkp_net_new_from_file (path, NULL, &error);
  g_assert_null (net);
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "missing.onnx"));
  g_clear_error (&error);
  /* The same through the block-by-block reader a pause function selects,
   * and a folder, which is no regular file. */
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.pause_func = count_calls;
  opts.pause_data = &(guint) { 0 };
  g_assert_null (fkp_net_new_from_file (path, &opts, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "missing.onnx"));
  g_clear_error (&error);
  g_assert_null (fkp_net_new_from_file (g_get_tmp_dir (), &opts, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_IO);
  g_clear_error (&error);
  g_free (path);
}

static void
test_error_parse (void)
{
  static const guint8 garbage[] = "this is not a protobuf \xff\xff\xff\xff";
  GError *error = NULL;
  g_assert_null (fkp_net_new_from_data (garbage, sizeof garbage, NULL, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_PARSE);
  g_clear_error (&error);
  /* The file path prefixes the message when loading from a file. */
  char *path = g_build_filename (g_get_tmp_dir (), "facekp-test-garbage.onnx", NULL);
  g_assert_true (g_file_set_contents (path, (const char *) garbage, sizeof garbage, NULL));
  g_assert_null (fkp_net_new_from_file (path, NULL, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "facekp-test-garbage.onnx"));
  g_clear_error (&error);
  g_unlink (path);
  g_free (path);

  /* An initializer whose bytes do not match its dims. */
  Builder *b = relu_model (13);
  int64_t d[1] = { 4 };
  float v[4] = { 0 };
  Onnx__TensorProto *t = builder_init_float (b, "short_weights", 1, d, v);
  t->raw_data.len = 12;
  builder_node (b, "Add", "add", IN ("x", "short_weights"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_PARSE, "short_weights", NULL);

  /* A tensor defined twice. */
  b = relu_model (13);
  builder_node (b, "Relu", "first", IN ("x"), OUT ("y"));
  builder_node (b, "Relu", "second", IN ("x"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_PARSE, "second", "'y'");
}

static void
test_error_unsupported_op (void)
{
  Builder *b = relu_model (13);
  builder_node (b, "FancyOp", "weird_node", IN ("x"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_OP, "weird_node", "FancyOp");

  b = relu_model (13);
  Onnx__NodeProto *n = builder_node (b, "Relu", "custom", IN ("x"), OUT ("y"));
  n->domain = "com.example";
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_OP, "custom", "com.example");

  b = relu_model (99);
  builder_node (b, "Relu", "r", IN ("x"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_OP, "opset 99", NULL);
}

static void
test_error_unsupported_attribute (void)
{
  int64_t xd[4] = { 1, 1, 6, 6 };
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, xd);
  Onnx__NodeProto *n = builder_node (b, "MaxPool", "pool_indices", IN ("x"), OUT ("y"));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 2, 2 });
  node_int (b, n, "storage_order", 1);
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "pool_indices", "storage_order");

  b = builder_new (13);
  builder_input (b, "x", 4, xd);
  n = builder_node (b, "AveragePool", "pool_odd", IN ("x"), OUT ("y"));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 2, 2 });
  node_string (b, n, "auto_pad", "DIAGONAL");
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "pool_odd", "DIAGONAL");

  b = relu_model (13);
  n = builder_node (b, "Relu", "relu_extra", IN ("x"), OUT ("y"));
  node_int (b, n, "mystery", 3);
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "relu_extra", "mystery");

  b = relu_model (13);
  n = builder_node (b, "Pad", "pad_reflect", IN ("x", "pads"), OUT ("y"));
  builder_init_int64 (b, "pads", 4, (int64_t[]) { 0, 1, 0, 1 });
  node_string (b, n, "mode", "reflect");
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "pad_reflect", NULL);
}

static void
test_error_dtype (void)
{
  int64_t xd[2] = { 1, 4 };
  Builder *b = builder_new (13);
  builder_input_typed (b, "int_input", 6, 2, xd);
  builder_node (b, "Relu", "r", IN ("int_input"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_DTYPE, "int_input", NULL);

  b = relu_model (13);
  int64_t d[1] = { 4 };
  float v[4] = { 0 };
  Onnx__TensorProto *t = builder_init_float (b, "bool_mask", 1, d, v);
  t->data_type = 9;
  builder_node (b, "Add", "add", IN ("x", "bool_mask"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_DTYPE, "bool_mask", NULL);

  /* An int64 constant fed to a float op. */
  b = relu_model (13);
  builder_init_int64 (b, "ints", 4, (int64_t[]) { 1, 2, 3, 4 });
  builder_node (b, "Relu", "relu_of_ints", IN ("ints"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_DTYPE, "relu_of_ints", "ints");

  /* ArgMax indices used as floats without a Cast. */
  b = relu_model (13);
  Onnx__NodeProto *n = builder_node (b, "ArgMax", "am", IN ("x"), OUT ("i"));
  node_int (b, n, "axis", 1);
  builder_node (b, "Relu", "relu_of_index", IN ("i"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_DTYPE, "relu_of_index", NULL);
}

static void
test_error_shape (void)
{
  int64_t xd[4] = { 1, 3, 8, 8 }, wd[4] = { 4, 2, 3, 3 };
  float w[72] = { 0 };
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, xd);
  builder_init_float (b, "w_bad", 4, wd, w);
  builder_node (b, "Conv", "conv_mismatch", IN ("x", "w_bad"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_SHAPE, "conv_mismatch", "w_bad");

  b = relu_model (13);
  int64_t d[1] = { 3 };
  float v[3] = { 0 };
  builder_init_float (b, "three", 1, d, v);
  builder_node (b, "Add", "add_mismatch", IN ("x", "three"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_SHAPE, "add_mismatch", "three");

  b = relu_model (13);
  builder_init_int64 (b, "target", 2, (int64_t[]) { 3, 3 });
  builder_node (b, "Reshape", "reshape_bad", IN ("x", "target"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_SHAPE, "reshape_bad", NULL);

  /* A dynamic spatial dim with no override. */
  int64_t dyn[4] = { -1, 3, -1, -1 };
  b = builder_new (13);
  builder_input (b, "dynamic_input", 4, dyn);
  builder_node (b, "Relu", "r", IN ("dynamic_input"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_SHAPE, "dynamic_input", NULL);
}

static void
test_error_missing (void)
{
  Builder *b = relu_model (13);
  builder_node (b, "Add", "add_ghost", IN ("x", "ghost"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_MISSING, "add_ghost", "ghost");

  b = relu_model (13);
  builder_node (b, "Relu", "r", IN ("x"), OUT ("y"));
  builder_output (b, "nowhere");
  expect_error (b, NULL, FKP_NN_ERROR_MISSING, "nowhere", NULL);

  int64_t xd[4] = { 1, 1, 4, 4 };
  b = builder_new (13);
  builder_input (b, "x", 4, xd);
  builder_node (b, "Conv", "conv_no_weights", IN ("x", ""), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_MISSING, "conv_no_weights", NULL);

  b = relu_model (13);
  int64_t d[1] = { 4 };
  float v[4] = { 0 };
  Onnx__TensorProto *t = builder_init_float (b, "external_weights", 1, d, v);
  t->has_data_location = TRUE;
  t->data_location = 1;
  builder_node (b, "Add", "add", IN ("x", "external_weights"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_MISSING, "external_weights", NULL);
}

static void
test_error_cycle (void)
{
  Builder *b = relu_model (13);
  builder_node (b, "Add", "loop_a", IN ("x", "b"), OUT ("a"));
  builder_node (b, "Relu", "loop_b", IN ("a"), OUT ("b"));
  builder_node (b, "Relu", "out", IN ("b"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_CYCLE, "loop_", "cycle");
}

static void
test_error_too_large (void)
{
  /* Dims whose product passes the cap: refused before any allocation. */
  Builder *b = relu_model (13);
  int64_t d[3] = { 1 << 20, 1 << 20, 1 << 20 };
  Onnx__TensorProto *t = builder_init_float (b, "huge_weights", 0, NULL, NULL);
  t->n_dims = 3;
  t->dims = d;
  t->has_raw_data = FALSE;
  builder_node (b, "Add", "add", IN ("x", "huge_weights"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_TOO_LARGE, "huge_weights", NULL);

  int64_t xd[4] = { 1, 1 << 12, 1 << 12, 1 << 12 };
  b = builder_new (13);
  builder_input (b, "huge_input", 4, xd);
  builder_node (b, "Relu", "r", IN ("huge_input"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_TOO_LARGE, "huge_input", NULL);

  /* Each tensor under the cap, but an activation built from it is not. */
  int64_t xd2[4] = { 1, 1, 1 << 14, 1 << 13 };
  b = builder_new (13);
  builder_input (b, "x", 4, xd2);
  Onnx__NodeProto *n = builder_node (b, "Pad", "pad_huge", IN ("x", "pads"), OUT ("y"));
  builder_init_int64 (b, "pads", 8, (int64_t[]) { 0, 0, 0, 0, 0, 0, 1 << 15, 0 });
  (void) n;
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_TOO_LARGE, "y", NULL);
}

static void
test_error_invalid_argument (void)
{
  size_t len;
  guint8 *buf = small_model (&len, 8);
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = -3;
  GError *error = NULL;
  g_assert_null (fkp_net_new_from_data (buf, len, &opts, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "threads"));
  g_clear_error (&error);
  g_assert_null (fkp_net_new_from_data (NULL, 10, NULL, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (fkp_net_run (NULL, &error));
  g_assert_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_free (buf);

  /* Shape arithmetic that divides by zero. */
  Builder *b = relu_model (13);
  builder_init_int64 (b, "num", 1, (int64_t[]) { 4 });
  builder_init_int64 (b, "den", 1, (int64_t[]) { 0 });
  builder_node (b, "Div", "div_zero", IN ("num", "den"), OUT ("q"));
  builder_node (b, "Reshape", "reshape", IN ("x", "q"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, NULL, FKP_NN_ERROR_INVALID_ARGUMENT, "div_zero", NULL);
}

/* ---- Allocation bombs ---------------------------------------------------- */

/* Small files declaring huge blocks.  Each is loaded in a child limited to
 * the issue's `ulimit -v 1500000`: a loader that allocates the block before
 * checking its budget gets the child killed by g_new, or an out-of-memory
 * error instead of the budget's, and the test fails. */
#define BOMB_ADDRESS_SPACE ((rlim_t) 1500000 * 1024)
#define BOMB_SIDE 16384  /* BOMB_SIDE² elements = the element cap, 2 GiB as int64 */

/* An int64 initializer of any rank (the builder's are vectors): built as
 * float32 with the same bytes, two floats per int64, then retyped. */
static void
init_int64_shaped (Builder *b, const char *name, const int64_t *values, int rank,
                   const int64_t *dims)
{
  int64_t float_dims[FKP_NN_MAX_RANK];
  memcpy (float_dims, dims, rank * sizeof (int64_t));
  float_dims[rank - 1] *= 2;
  Onnx__TensorProto *t = builder_init_float (b, name, rank, float_dims, (const float *) values);
  t->data_type = 7;
  t->dims[rank - 1] = dims[rank - 1];
}

static Builder *
bomb_constant_of_shape_floats (void)
{
  Builder *b = relu_model (13);
  builder_init_int64 (b, "dims", 3, (int64_t[]) { 1024, 1024, 1024 });  /* 2³⁰ floats */
  builder_node (b, "ConstantOfShape", "cos_floats", IN ("dims"), OUT ("c"));
  builder_output (b, "c");
  return b;
}

/* 2²⁸ int64, 2 GiB: under the cap, past the weight budget with its shape. */
static Builder *
bomb_constant_of_shape_ints (void)
{
  static int64_t seven = 7;
  static Onnx__TensorProto value = ONNX__TENSOR_PROTO__INIT;
  value.has_data_type = TRUE;
  value.data_type = 7;
  value.n_int64_data = 1;
  value.int64_data = &seven;
  Builder *b = relu_model (13);
  builder_init_int64 (b, "dims", 2, (int64_t[]) { BOMB_SIDE, BOMB_SIDE });
  Onnx__NodeProto *n = builder_node (b, "ConstantOfShape", "cos_ints", IN ("dims"), OUT ("c"));
  node_int (b, n, "value", 0);
  /* Made a tensor attribute: the builder has no helper for those. */
  Onnx__AttributeProto *a = n->attribute[n->n_attribute - 1];
  a->type = 4;
  a->has_i = FALSE;
  a->t = &value;
  builder_node (b, "Cast", "cast", IN ("c"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

/* Dims of 2²⁸ int64 over 8 bytes of data. */
static Builder *
bomb_initializer_dims (void)
{
  Builder *b = relu_model (13);
  builder_init_int64 (b, "huge_init", 1, (int64_t[]) { 3 })->dims[0] = (int64_t) 1 << 28;
  builder_node (b, "Add", "add", IN ("x", "huge_init"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

/* Two int64 constants of BOMB_SIDE values (256 KiB in the file) that `op`
 * folds at load into BOMB_SIDE² values, 2 GiB, the target of a Reshape. */
static Builder *
folding_bomb (const char *op, const char *name, const int64_t *a_dims, int b_rank,
              const int64_t *b_dims, int64_t fill)
{
  int64_t *values = g_new (int64_t, BOMB_SIDE);
  for (int i = 0; i < BOMB_SIDE; i++)
    values[i] = fill;
  Builder *b = relu_model (13);
  init_int64_shaped (b, "a", values, 2, a_dims);
  init_int64_shaped (b, "b", values, b_rank, b_dims);
  builder_node (b, op, name, IN ("a", "b"), OUT ("folded"));
  builder_node (b, "Reshape", "reshape", IN ("x", "folded"), OUT ("y"));
  builder_output (b, "y");
  g_free (values);
  return b;
}

/* A column times a row: an Expand in disguise. */
static Builder *
bomb_broadcast (void)
{
  return folding_bomb ("Mul", "expand_mul", (int64_t[]) { BOMB_SIDE, 1 }, 2,
                       (int64_t[]) { 1, BOMB_SIDE }, 1);
}

/* The one row of a table gathered BOMB_SIDE times. */
static Builder *
bomb_gather (void)
{
  return folding_bomb ("Gather", "gather_rows", (int64_t[]) { 1, BOMB_SIDE }, 1,
                       (int64_t[]) { BOMB_SIDE }, 0);
}

/* A graph on one 4-D float input "x". */
static Builder *
image_model (const int64_t *dims)
{
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, dims);
  return b;
}

/* A 1×1 image resized to 2²⁸×1: a legal 1 GiB output, but three index
 * tables of 2²⁸ entries (3 GiB) past the weight budget. */
static Builder *
bomb_resize_tables (void)
{
  Builder *b = image_model ((int64_t[]) { 1, 1, 1, 1 });
  builder_init_int64 (b, "sizes", 4, (int64_t[]) { 1, 1, 1 << 28, 1 });
  builder_node (b, "Resize", "resize_tall", IN ("x", "", "", "sizes"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

static Builder *
bomb_resize_output (void)
{
  Builder *b = image_model ((int64_t[]) { 1, 1, 2, 2 });
  builder_init_float (b, "scales", 1, (int64_t[]) { 4 }, (float[]) { 1, 1, 60000, 60000 });
  builder_node (b, "Resize", "resize_wide", IN ("x", "", "scales"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

static Builder *
bomb_pad (void)
{
  Builder *b = image_model ((int64_t[]) { 1, 1, 1, 1 });
  builder_init_int64 (b, "pads", 8, (int64_t[]) { 0, 0, 65536, 65536, 0, 0, 65536, 65536 });
  builder_node (b, "Pad", "pad_wide", IN ("x", "pads"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

/* Three 1 GiB activations alive at once: 3 GiB planned. */
static Builder *
bomb_activations (void)
{
  Builder *b = image_model ((int64_t[]) { 1, 1, BOMB_SIDE, BOMB_SIDE });
  builder_node (b, "Relu", "relu_big", IN ("x"), OUT ("r"));
  builder_node (b, "Add", "add_big", IN ("x", "r"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

/* A 1 GiB kernel made by ConstantOfShape: the conv's own copy of it would
 * be the second GiB. */
static Builder *
bomb_conv_kernel (void)
{
  Builder *b = image_model ((int64_t[]) { 1, 1, 128, 128 });
  builder_init_int64 (b, "kernel_dims", 4, (int64_t[]) { BOMB_SIDE, 1, 128, 128 });
  builder_node (b, "ConstantOfShape", "kernel", IN ("kernel_dims"), OUT ("w"));
  builder_node (b, "Conv", "conv_huge", IN ("x", "w"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

typedef struct {
  const char *path;
  Builder *(*build) (void);
  int code;
  const char *needle1, *needle2;
  /* Refused before anything big exists: loaded in this process too, so
   * that valgrind sees the failing path free everything. */
  gboolean light;
} Bomb;

static const Bomb bombs[] = {
  { "/nn/bombs/constant-of-shape-floats", bomb_constant_of_shape_floats, FKP_NN_ERROR_TOO_LARGE,
    "cos_floats", NULL, TRUE },
  { "/nn/bombs/constant-of-shape-ints", bomb_constant_of_shape_ints, FKP_NN_ERROR_TOO_LARGE,
    "cos_ints", "budget", TRUE },
  { "/nn/bombs/initializer-dims", bomb_initializer_dims, FKP_NN_ERROR_PARSE, "huge_init",
    "holds 1 int64s", TRUE },
  { "/nn/bombs/broadcast", bomb_broadcast, FKP_NN_ERROR_TOO_LARGE, "expand_mul", "budget", TRUE },
  { "/nn/bombs/gather", bomb_gather, FKP_NN_ERROR_TOO_LARGE, "gather_rows", "budget", TRUE },
  { "/nn/bombs/resize-tables", bomb_resize_tables, FKP_NN_ERROR_TOO_LARGE, "resize_tall",
    "budget", TRUE },
  { "/nn/bombs/resize-output", bomb_resize_output, FKP_NN_ERROR_TOO_LARGE, "resize_wide", NULL,
    TRUE },
  { "/nn/bombs/pad", bomb_pad, FKP_NN_ERROR_TOO_LARGE, "pad_wide", "'y'", TRUE },
  { "/nn/bombs/activations", bomb_activations, FKP_NN_ERROR_TOO_LARGE, "add_big", "budget",
    TRUE },
  { "/nn/bombs/conv-kernel", bomb_conv_kernel, FKP_NN_ERROR_TOO_LARGE, "conv_huge", "budget",
    FALSE },
};

static const char *test_program;  /* argv[0], run again for each bomb */

static void
limit_address_space (G_GNUC_UNUSED gpointer data)
{
  struct rlimit limit = { BOMB_ADDRESS_SPACE, BOMB_ADDRESS_SPACE };
  if (setrlimit (RLIMIT_AS, &limit) != 0)
    _exit (3);
}

static void
test_bomb (gconstpointer data)
{
  const Bomb *bomb = data;
  if (g_getenv ("FACEKP_TEST_BOMB_CHILD")) {
    expect_error (bomb->build (), NULL, bomb->code, bomb->needle1, bomb->needle2);
    return;
  }
  if (FKP_TEST_UNDER_ASAN) {
    /* No address-space limit possible: only the bombs that are small to
     * build are checked, in this process. */
    if (bomb->light)
      expect_error (bomb->build (), NULL, bomb->code, bomb->needle1, bomb->needle2);
    else
      g_test_skip ("a heavy bomb needs RLIMIT_AS, which an ASan build cannot run under");
    return;
  }
  /* This program again, running only this test under the limit (spawned,
   * not g_test_trap_subprocess, whose GLib worker thread valgrind would
   * report). */
  const char *argv[] = { test_program, "-q", "-p", bomb->path, NULL };
  char **env = g_environ_setenv (g_get_environ (), "FACEKP_TEST_BOMB_CHILD", "1", TRUE);
  char *out = NULL, *err = NULL;
  int status;
  GError *error = NULL;
  g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT, limit_address_space, NULL, &out,
                &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s under a %" G_GUINT64_FORMAT "-byte address space: status %d, %s", bomb->path,
             (guint64) BOMB_ADDRESS_SPACE, status, err);
  g_free (out);
  g_free (err);
  g_strfreev (env);
  if (bomb->light)
    expect_error (bomb->build (), NULL, bomb->code, bomb->needle1, bomb->needle2);
}

/* Budgets set in the options: a model just over is refused, just under loads. */
static void
expect_loads (Builder *b, const FkpNetOptions *opts)
{
  GError *error = NULL;
  FkpNet *net = pack_and_load (b, opts, &error);
  g_assert_no_error (error);
  fkp_net_free (net);
}

static Builder *
add_weights_model (void)
{
  Builder *b = relu_model (13);
  builder_init_float (b, "w", 2, (int64_t[]) { 1, 4 }, (float[]) { 1, 2, 3, 4 });
  builder_node (b, "Add", "add", IN ("x", "w"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

static Builder *
small_conv_model (void)
{
  float w[18] = { 0 };
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, (int64_t[]) { 1, 1, 4, 4 });
  builder_init_float (b, "w", 4, (int64_t[]) { 2, 1, 3, 3 }, w);
  builder_node (b, "Conv", "conv_small", IN ("x", "w"), OUT ("y"));
  builder_output (b, "y");
  return b;
}

static void
test_custom_budgets (void)
{
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  g_assert_cmpuint (opts.max_weight_bytes, ==, 0);
  g_assert_cmpuint (opts.max_activation_bytes, ==, 0);

  /* Weights: the 16 bytes of 'w'. */
  opts.max_weight_bytes = 16;
  expect_loads (add_weights_model (), &opts);
  opts.max_weight_bytes = 15;
  expect_error (add_weights_model (), &opts, FKP_NN_ERROR_TOO_LARGE, "'w'", "budget");

  /* The conv's copy of its 72 bytes of weights counts too, and names the conv. */
  opts.max_weight_bytes = 144;
  expect_loads (small_conv_model (), &opts);
  opts.max_weight_bytes = 143;
  expect_error (small_conv_model (), &opts, FKP_NN_ERROR_TOO_LARGE, "conv_small", "budget");

  /* Activations: exactly what the plan needs, then one byte less. */
  FkpNet *net = pack_and_load (add_weights_model (), NULL, NULL);
  g_assert_nonnull (net);
  FkpNetStats stats;
  fkp_net_get_stats (net, &stats);
  fkp_net_free (net);
  fkp_net_options_init (&opts);
  opts.max_activation_bytes = stats.peak_activation_bytes + stats.scratch_bytes;
  expect_loads (add_weights_model (), &opts);
  opts.max_activation_bytes--;
  expect_error (add_weights_model (), &opts, FKP_NN_ERROR_TOO_LARGE, "add", "budget");

  /* A single output past a small activation budget is refused by its node. */
  opts.max_activation_bytes = 1000;
  Builder *b = image_model ((int64_t[]) { 1, 1, 2, 2 });
  builder_init_int64 (b, "pads", 8, (int64_t[]) { 0, 0, 8, 8, 0, 0, 8, 8 });
  builder_node (b, "Pad", "pad_over", IN ("x", "pads"), OUT ("y"));
  builder_output (b, "y");
  expect_error (b, &opts, FKP_NN_ERROR_TOO_LARGE, "pad_over", "budget");
}

/* ---- The API around a valid model -------------------------------------- */

static void
test_api (void)
{
  size_t len;
  guint8 *buf = small_model (&len, 8);
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (buf, len, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fkp_net_get_n_inputs (net), ==, 1);
  g_assert_cmpstr (fkp_net_get_input_name (net, 0), ==, "image");
  g_assert_null (fkp_net_get_input_name (net, 1));
  g_assert_null (fkp_net_get_input_data (net, 7));
  g_assert_cmpint (fkp_net_find_input (net, "image"), ==, 0);
  g_assert_cmpint (fkp_net_find_input (net, "nope"), ==, -1);
  g_assert_cmpuint (fkp_net_get_n_outputs (net), ==, 1);
  g_assert_cmpstr (fkp_net_get_output_name (net, 0), ==, "out");
  g_assert_cmpint (fkp_net_find_output (net, "out"), ==, 0);
  FkpShape shape;
  g_assert_false (fkp_net_get_output_shape (net, 3, &shape));
  g_assert_true (fkp_net_get_output_shape (net, 0, &shape));
  g_assert_cmpint (shape.rank, ==, 2);
  g_assert_cmpint (shape.dims[1], ==, 4);
  const char *const *keys = fkp_net_get_metadata_keys (net);
  g_assert_cmpstr (keys[0], ==, "facekp.task");
  g_assert_cmpstr (keys[1], ==, "facekp.note");
  g_assert_null (keys[2]);
  g_assert_cmpstr (fkp_net_get_metadata (net, "facekp.note"), ==, "a small model");
  g_assert_null (fkp_net_get_metadata (net, "absent"));
  FkpNetStats stats;
  fkp_net_get_stats (net, &stats);
  g_assert_cmpint (stats.opset, ==, 17);
  g_assert_cmpuint (stats.n_nodes, ==, 9);
  g_assert_cmpuint (stats.n_steps, ==, 2);   /* conv+bn+relu+pool, gemm */
  g_assert_cmpuint (stats.n_macs, ==, 3 * 64 * 18 + 4 * 48);
  g_assert_cmpuint (stats.n_parameters, ==, 54 + 5 * 3 + 4 * 48);
  size_t count;
  g_assert_cmpstr (fkp_net_get_op_count (net, 0, &count), ==, "BatchNormalization");
  g_assert_cmpuint (count, ==, 1);
  g_assert_null (fkp_net_get_op_count (net, 9, &count));
  fkp_net_set_threads (net, 2);
  g_assert_cmpint (fkp_net_get_threads (net), ==, 2);
  fkp_net_set_threads (net, 0);
  g_assert_cmpint (fkp_net_get_threads (net), ==, 1);
  /* Same input, same output across runs and thread counts. */
  float *in = fkp_net_get_input_data (net, 0);
  for (int i = 0; i < 128; i++)
    in[i] = (float) (i % 9) / 9.0f;
  g_assert_true (fkp_net_run (net, NULL));
  float first[4];
  memcpy (first, fkp_net_get_output_data (net, 0), sizeof first);
  fkp_net_set_threads (net, 2);
  g_assert_true (fkp_net_run (net, NULL));
  assert_close (fkp_net_get_output_data (net, 0), first, 4, 1e-6, "rerun");
  fkp_net_free (net);
  fkp_net_free (NULL);
  g_free (buf);
}

/* A model with dynamic H and W loads at the size the options ask for. */
static void
test_input_size_override (void)
{
  int64_t dyn[4] = { -1, 1, -1, -1 }, wd[4] = { 2, 1, 3, 3 };
  float w[18];
  for (int i = 0; i < 18; i++)
    w[i] = 1.0f;
  Builder *b = builder_new (17);
  builder_input (b, "x", 4, dyn);
  builder_init_float (b, "w", 4, wd, w);
  Onnx__NodeProto *n = builder_node (b, "Conv", "conv", IN ("x", "w"), OUT ("y"));
  node_ints (b, n, "strides", 2, (int64_t[]) { 2, 2 });
  node_string (b, n, "auto_pad", "SAME_UPPER");
  builder_output (b, "y");
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.input_height = 10;
  opts.input_width = 7;
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (buf, len, &opts, &error);
  g_assert_no_error (error);
  FkpShape shape;
  fkp_net_get_input_shape (net, 0, &shape);
  g_assert_cmpint (shape.dims[0], ==, 1);
  g_assert_cmpint (shape.dims[2], ==, 10);
  g_assert_cmpint (shape.dims[3], ==, 7);
  fkp_net_get_output_shape (net, 0, &shape);
  g_assert_cmpint (shape.dims[1], ==, 2);
  g_assert_cmpint (shape.dims[2], ==, 5);
  g_assert_cmpint (shape.dims[3], ==, 4);
  fkp_net_free (net);
  g_free (buf);
}

/* Distinct nets share no state: run concurrently from several threads,
 * each gives the same answer as a net run alone. */
typedef struct {
  FkpNet *net;
  const float *expected;
  gboolean ok;
} Worker;

static gpointer
run_worker (gpointer data)
{
  Worker *w = data;
  w->ok = TRUE;
  for (int i = 0; i < 50; i++) {
    float *in = fkp_net_get_input_data (w->net, 0);
    for (int k = 0; k < 2 * 16 * 16; k++)
      in[k] = (float) (k % 13) / 13.0f - 0.4f;
    if (!fkp_net_run (w->net, NULL)
        || memcmp (fkp_net_get_output_data (w->net, 0), w->expected, 4 * sizeof (float)) != 0)
      w->ok = FALSE;
  }
  return NULL;
}

static void
test_concurrent_nets (void)
{
  size_t len;
  guint8 *buf = small_model (&len, 16);
  FkpNet *alone = fkp_net_new_from_data (buf, len, NULL, NULL);
  g_assert_nonnull (alone);
  float *in = fkp_net_get_input_data (alone, 0);
  for (int k = 0; k < 2 * 16 * 16; k++)
    in[k] = (float) (k % 13) / 13.0f - 0.4f;
  g_assert_true (fkp_net_run (alone, NULL));
  Worker workers[3];
  GThread *threads[3];
  for (int i = 0; i < 3; i++) {
    workers[i].net = fkp_net_new_from_data (buf, len, NULL, NULL);
    workers[i].expected = fkp_net_get_output_data (alone, 0);
    threads[i] = g_thread_new ("net", run_worker, &workers[i]);
  }
  for (int i = 0; i < 3; i++) {
    g_thread_join (threads[i]);
    g_assert_true (workers[i].ok);
    fkp_net_free (workers[i].net);
  }
  fkp_net_free (alone);
  g_free (buf);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  test_program = argv[0];
  g_test_add_func ("/nn/bad/valid-model-runs", test_valid_model_runs);
  g_test_add_func ("/nn/bad/long-chain", test_long_chain);
  g_test_add_func ("/nn/bad/truncation", test_truncation);
  g_test_add_func ("/nn/bad/flipped-bytes", test_flipped_bytes);
  g_test_add_func ("/nn/bad/random-garbage", test_random_garbage);
  g_test_add_func ("/nn/bad/mixed-model-fuzz", test_mixed_model_fuzz);
  g_test_add_func ("/nn/errors/io", test_error_io);
  g_test_add_func ("/nn/errors/parse", test_error_parse);
  g_test_add_func ("/nn/errors/unsupported-op", test_error_unsupported_op);
  g_test_add_func ("/nn/errors/unsupported-attribute", test_error_unsupported_attribute);
  g_test_add_func ("/nn/errors/dtype", test_error_dtype);
  g_test_add_func ("/nn/errors/shape", test_error_shape);
  g_test_add_func ("/nn/errors/missing", test_error_missing);
  g_test_add_func ("/nn/errors/cycle", test_error_cycle);
  g_test_add_func ("/nn/errors/too-large", test_error_too_large);
  g_test_add_func ("/nn/errors/invalid-argument", test_error_invalid_argument);
  for (size_t i = 0; i < G_N_ELEMENTS (bombs); i++)
    g_test_add_data_func (bombs[i].path, &bombs[i], test_bomb);
  g_test_add_func ("/nn/budgets/custom", test_custom_budgets);
  g_test_add_func ("/nn/api/basics", test_api);
  g_test_add_func ("/nn/api/input-size-override", test_input_size_override);
  g_test_add_func ("/nn/api/concurrent-nets", test_concurrent_nets);
  return g_test_run ();
}
