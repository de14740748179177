/* The facekp-nn CLI: info, run (.npy and raw input, .npy output compared
 * with the library's own result), bench, and its error paths (bad model,
 * bad input, bad arguments: a message and a non-zero status, no crash). */
#include "test-common.h"

#include <glib/gstdio.h>
#include <sys/resource.h>

static char *tmpdir;
static char *model_path;

/* Runs the CLI; `child_setup` (or NULL) runs in the child before it starts. */
static void
spawn_cli (const char *const *args, GSpawnChildSetupFunc child_setup, int *status, char **out,
           char **err)
{
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) FACEKP_NN_CLI);
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  GError *error = NULL;
  int wait_status;
  gboolean ok = g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, child_setup,
                              NULL, out, err, &wait_status, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  /* Exited normally: a crash would show up as a signal. */
  g_assert_true (WIFEXITED (wait_status));
  *status = WEXITSTATUS (wait_status);
  g_ptr_array_free (argv, TRUE);
}

static void
run_cli (const char *const *args, int *status, char **out, char **err)
{
  spawn_cli (args, NULL, status, out, err);
}

/* Conv 3×3 + ReLU + global average pool, with metadata. */
static void
write_model (void)
{
  int64_t xd[4] = { 1, 2, 5, 5 }, wd[4] = { 3, 2, 3, 3 };
  float w[54];
  for (int i = 0; i < 54; i++)
    w[i] = (float) ((i * 5) % 7) / 7.0f - 0.4f;
  Builder *b = builder_new (13);
  builder_input (b, "pixels", 4, xd);
  builder_init_float (b, "w", 4, wd, w);
  Onnx__NodeProto *n = builder_node (b, "Conv", "conv", IN ("pixels", "w"), OUT ("c"));
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  builder_node (b, "Relu", "relu", IN ("c"), OUT ("r"));
  builder_node (b, "GlobalAveragePool", "gap", IN ("r"), OUT ("score"));
  builder_output (b, "score");
  builder_output (b, "r");
  builder_metadata (b, "facekp.task", "cli-test");
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  model_path = g_build_filename (tmpdir, "model.onnx", NULL);
  g_assert_true (g_file_set_contents (model_path, (const char *) buf, len, NULL));
  g_free (buf);
}

static void
test_info (void)
{
  int status;
  char *out, *err;
  run_cli ((const char *[]) { "info", model_path, NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "input  pixels [1, 2, 5, 5]"));
  g_assert_nonnull (strstr (out, "output score [1, 3, 1, 1]"));
  g_assert_nonnull (strstr (out, "Conv×1"));
  g_assert_nonnull (strstr (out, "parameters 54"));
  g_assert_nonnull (strstr (out, "MACs 1350"));   /* 3 × 25 × 18 */
  g_assert_nonnull (strstr (out, "peak activation memory"));
  g_assert_nonnull (strstr (out, "metadata facekp.task = cli-test"));
  g_free (out);
  g_free (err);
}

static float *
load_npy (const char *path, size_t n)
{
  char *contents;
  gsize len;
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpint (memcmp (contents, "\x93NUMPY", 6), ==, 0);
  gsize header = (guint8) contents[8] | ((gsize) (guint8) contents[9] << 8);
  g_assert_cmpuint ((10 + header) % 64, ==, 0);
  char *dict = g_strndup (contents + 10, header);
  g_assert_nonnull (strstr (dict, "'descr': '<f4'"));
  g_free (dict);
  g_assert_cmpuint (len - 10 - header, ==, n * sizeof (float));
  float *v = g_memdup2 (contents + 10 + header, n * sizeof (float));
  g_free (contents);
  return v;
}

static void
test_run (void)
{
  /* The library's answer for the same input. */
  float input[50];
  for (int i = 0; i < 50; i++)
    input[i] = (float) ((i * 3) % 11) / 11.0f - 0.3f;
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_file (model_path, NULL, &error);
  g_assert_no_error (error);
  memcpy (fkp_net_get_input_data (net, 0), input, sizeof input);
  fkp_net_run (net, NULL);
  float expected[3], expected_map[75];
  memcpy (expected, fkp_net_get_output_data (net, 0), sizeof expected);
  memcpy (expected_map, fkp_net_get_output_data (net, 1), sizeof expected_map);
  fkp_net_free (net);

  /* Raw float32 in, .npy out. */
  char *raw = g_build_filename (tmpdir, "input.raw", NULL);
  char *npy_out = g_build_filename (tmpdir, "out.npy", NULL);
  char *npy_out1 = g_build_filename (tmpdir, "out-1.npy", NULL);
  g_assert_true (g_file_set_contents (raw, (const char *) input, sizeof input, NULL));
  int status;
  char *out, *err;
  run_cli ((const char *[]) { "run", model_path, raw, "-o", npy_out, NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 0);
  float *got = load_npy (npy_out, 3);
  assert_close (got, expected, 3, 0, "cli output 0");
  g_free (got);
  got = load_npy (npy_out1, 75);
  assert_close (got, expected_map, 75, 0, "cli output 1");
  g_free (got);
  g_free (out);
  g_free (err);

  /* The same input as .npy, printed output this time. */
  char *npy_in = g_build_filename (tmpdir, "input.npy", NULL);
  GString *npy = g_string_new_len ("\x93NUMPY\x01\x00", 8);
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 5, 5), }";
  GString *header = g_string_new (dict);
  while ((10 + header->len + 1) % 64)
    g_string_append_c (header, ' ');
  g_string_append_c (header, '\n');
  g_string_append_c (npy, (char) (header->len & 0xff));
  g_string_append_c (npy, (char) (header->len >> 8));
  g_string_append_len (npy, header->str, header->len);
  g_string_append_len (npy, (const char *) input, sizeof input);
  g_assert_true (g_file_set_contents (npy_in, npy->str, npy->len, NULL));
  run_cli ((const char *[]) { "run", model_path, npy_in, NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "score [1, 3, 1, 1]"));
  char **lines = g_strsplit (out, "\n", -1);
  float printed[3];
  g_assert_cmpint (sscanf (lines[1], "%g %g %g", &printed[0], &printed[1], &printed[2]), ==, 3);
  assert_close (printed, expected, 3, 1e-6, "printed output");
  g_strfreev (lines);
  g_free (out);
  g_free (err);
  g_string_free (npy, TRUE);
  g_string_free (header, TRUE);

  g_unlink (raw);
  g_unlink (npy_in);
  g_unlink (npy_out);
  g_unlink (npy_out1);
  g_free (raw);
  g_free (npy_in);
  g_free (npy_out);
  g_free (npy_out1);
}

static void
test_bench (void)
{
  int status;
  char *out, *err;
  run_cli ((const char *[]) { "bench", model_path, "--threads", "2", "--runs", "5", NULL },
           &status, &out, &err);
  g_assert_cmpint (status, ==, 0);
  double min_ms, median_ms, cpu_ms;
  const char *at = strstr (out, "min ");
  g_assert_nonnull (at);
  g_assert_cmpint (sscanf (at, "min %lf ms median %lf ms cpu median %lf ms", &min_ms, &median_ms,
                           &cpu_ms), ==, 3);
  g_assert_cmpfloat (min_ms, >=, 0.0);
  g_assert_cmpfloat (median_ms, >=, min_ms);
  g_assert_cmpfloat (cpu_ms, >=, 0.0);
  g_assert_nonnull (strstr (out, "threads 2 runs 5"));
  g_free (out);
  g_free (err);
  /* --warmup-ms keeps warming up past --warmup runs until that much time has
   * passed: the command cannot end sooner (a bound slowness cannot break). */
  const gint64 start = g_get_monotonic_time ();
  run_cli ((const char *[]) { "bench", model_path, "--runs", "1", "--warmup", "0",
                              "--warmup-ms", "300", NULL },
           &status, &out, &err);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 300 * 1000);
  g_assert_nonnull (strstr (out, "threads 1 runs 1"));
  g_free (out);
  g_free (err);
  run_cli ((const char *[]) { "bench", model_path, "--warmup-ms", "-1", NULL }, &status, &out,
           &err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "--warmup-ms"));
  g_free (out);
  g_free (err);
}

static void
test_errors (void)
{
  int status;
  char *out, *err;
  /* A model file that is not a model. */
  char *bad = g_build_filename (tmpdir, "bad.onnx", NULL);
  g_assert_true (g_file_set_contents (bad, "\x0a\xff\xff\xff\x0f garbage", 12, NULL));
  run_cli ((const char *[]) { "info", bad, NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "bad.onnx"));
  g_free (out); g_free (err);
  /* A missing model. */
  run_cli ((const char *[]) { "bench", "/nonexistent/model.onnx", NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "model.onnx"));
  g_free (out); g_free (err);
  /* Input of the wrong size. */
  run_cli ((const char *[]) { "run", model_path, bad, NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "needs 50 floats"));
  g_free (out); g_free (err);
  /* Bad usage. */
  run_cli ((const char *[]) { "frobnicate", model_path, NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 2);
  g_free (out); g_free (err);
  run_cli ((const char *[]) { "bench", model_path, "--threads", "0", NULL }, &status, &out, &err);
  g_assert_cmpint (status, ==, 2);
  g_free (out); g_free (err);
  g_unlink (bad);
  g_free (bad);
}

/* The issue's `ulimit -v 1500000`, in the CLI's child process. */
static void
limit_address_space (G_GNUC_UNUSED gpointer data)
{
  struct rlimit limit = { (rlim_t) 1500000 * 1024, (rlim_t) 1500000 * 1024 };
  setrlimit (RLIMIT_AS, &limit);
}

/* Allocation bombs: a 2 GiB int64 constant folded out of two 128 KiB ones,
 * and 3 GiB of activations alive at once.  Under the limit, info and run
 * refuse them with a message and status 1: no abort, no signal. */
static void
test_bombs (void)
{
  int64_t *ones = g_new (int64_t, 16384);
  for (int i = 0; i < 16384; i++)
    ones[i] = 1;
  Builder *folded = builder_new (13);
  builder_input (folded, "x", 2, (int64_t[]) { 1, 4 });
  Onnx__TensorProto *column = builder_init_int64 (folded, "column", 16384, ones);
  Onnx__TensorProto *row = builder_init_int64 (folded, "row", 16384, ones);
  int64_t column_dims[2] = { 16384, 1 }, row_dims[2] = { 1, 16384 };
  column->n_dims = row->n_dims = 2;
  column->dims = column_dims;
  row->dims = row_dims;
  builder_node (folded, "Mul", "outer_product", IN ("column", "row"), OUT ("m"));
  builder_node (folded, "Reshape", "reshape", IN ("x", "m"), OUT ("y"));
  builder_output (folded, "y");
  g_free (ones);

  Builder *live = builder_new (13);
  builder_input (live, "x", 4, (int64_t[]) { 1, 1, 16384, 16384 });
  builder_node (live, "Relu", "relu_big", IN ("x"), OUT ("r"));
  builder_node (live, "Add", "add_big", IN ("x", "r"), OUT ("y"));
  builder_output (live, "y");

  struct { Builder *b; const char *file, *node; } bombs[] = {
    { folded, "folded-bomb.onnx", "outer_product" },
    { live, "activation-bomb.onnx", "add_big" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (bombs); i++) {
    size_t len;
    guint8 *buf = builder_pack (bombs[i].b, &len);
    builder_free (bombs[i].b);
    char *path = g_build_filename (tmpdir, bombs[i].file, NULL);
    g_assert_true (g_file_set_contents (path, (const char *) buf, len, NULL));
    g_free (buf);
    const char *const commands[][4] = { { "info", path, NULL }, { "run", path, "zeros", NULL } };
    for (size_t c = 0; c < G_N_ELEMENTS (commands); c++) {
      int status;
      char *out, *err;
      spawn_cli (commands[c], FKP_TEST_UNDER_ASAN ? NULL : limit_address_space, &status, &out,
                 &err);
      g_assert_cmpint (status, ==, 1);
      if (!strstr (err, bombs[i].node) || !strstr (err, "budget"))
        g_error ("facekp-nn %s %s: '%s' does not name '%s' and its budget", commands[c][0],
                 bombs[i].file, err, bombs[i].node);
      g_free (out);
      g_free (err);
    }
    g_unlink (path);
    g_free (path);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("facekp-nn-cli-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  write_model ();
  g_test_add_func ("/nn/cli/info", test_info);
  g_test_add_func ("/nn/cli/run", test_run);
  g_test_add_func ("/nn/cli/bench", test_bench);
  g_test_add_func ("/nn/cli/errors", test_errors);
  g_test_add_func ("/nn/cli/bombs", test_bombs);
  int result = g_test_run ();
  g_unlink (model_path);
  g_rmdir (tmpdir);
  g_free (model_path);
  g_free (tmpdir);
  return result;
}
