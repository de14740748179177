/* Whole-network tests: nn-core against PyTorch on SAM-GoogLeNet-BN.
 *
 * tests/nn/make_fixtures.py builds the networks (fixed hashed weights,
 * randomised BatchNorm statistics, both attention variants, a 1-channel model
 * with BatchNorm inside the Inception branches, dynamic and static input
 * dims), exports them with torch.onnx at build time, and recorded PyTorch's
 * outputs in tests/nn/fixtures/networks.ini.  Each case here loads a model,
 * fills the same hashed input, runs it with 1 and with 2 threads, and requires
 *   max |nn-core - torch| <= tolerance * max |torch|    (tolerance 1e-4).
 *
 * Environment (set by meson): FACEKP_NN_NETWORK_MODELS = folder of the
 * generated .onnx files, FACEKP_NN_NETWORK_FIXTURES = networks.ini.
 */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "facekp/nn.h"

#ifndef NN_NETWORK_MODELS_DIR
#define NN_NETWORK_MODELS_DIR "."
#endif
#ifndef NN_NETWORK_FIXTURES
#define NN_NETWORK_FIXTURES "fixtures/networks.ini"
#endif

static GKeyFile *fixtures;
static const char *models_dir;
static double tolerance;

/* The 32-bit mixer and input generator of make_fixtures.py (hash32,
 * hashed_uniform): element i is k / 2^23 with
 * k = (hash32(hash32(seed) + i) >> 8) - 2^23, exact in float32. */
static guint32
hash32 (guint32 x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static void
fill_hashed_input (guint32 seed, float *dst, size_t n)
{
  guint32 base = hash32 (seed);
  for (size_t i = 0; i < n; i++) {
    gint32 k = (gint32) (hash32 (base + (guint32) i) >> 8) - (1 << 23);
    dst[i] = (float) k / 8388608.0f;
  }
}

static char *
sha256_hex (const guint8 *data, gsize size)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, size);
}

/* Largest |a - b| over n values; its index goes to *where. */
static double
max_abs_diff (const float *a, const float *b, size_t n, size_t *where)
{
  double worst = -1.0;
  *where = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs ((double) a[i] - (double) b[i]);
    if (isnan (d))
      d = INFINITY;
    if (d > worst) {
      worst = d;
      *where = i;
    }
  }
  return worst;
}

typedef struct {
  guint calls;
} PauseCount;

static void
count_pause (void *data)
{
  ((PauseCount *) data)->calls++;
}

static void
test_case (gconstpointer data)
{
  const char *group = data;
  GError *error = NULL;

  g_autofree char *model_name = g_key_file_get_string (fixtures, group, "model", &error);
  g_assert_no_error (error);
  g_autofree char *model_group = g_strdup_printf ("model %s", model_name);
  g_autofree char *file = g_key_file_get_string (fixtures, model_group, "file", &error);
  g_assert_no_error (error);
  g_autofree char *recorded_sha = g_key_file_get_string (fixtures, model_group, "sha256", &error);
  g_assert_no_error (error);
  int channels = g_key_file_get_integer (fixtures, model_group, "channels", &error);
  g_assert_no_error (error);
  gboolean dynamic = g_key_file_get_boolean (fixtures, model_group, "dynamic", &error);
  g_assert_no_error (error);
  int height = g_key_file_get_integer (fixtures, group, "height", &error);
  g_assert_no_error (error);
  int width = g_key_file_get_integer (fixtures, group, "width", &error);
  g_assert_no_error (error);
  guint64 seed = g_key_file_get_uint64 (fixtures, group, "input_seed", &error);
  g_assert_no_error (error);
  gsize n_ref = 0;
  g_autofree double *ref_d = g_key_file_get_double_list (fixtures, group, "output", &n_ref, &error);
  g_assert_no_error (error);
  gsize n_head = 0;
  g_autofree double *input_head = g_key_file_get_double_list (fixtures, group, "input_head", &n_head, &error);
  g_assert_no_error (error);
  double input_sum = g_key_file_get_double (fixtures, group, "input_sum", &error);
  g_assert_no_error (error);

  /* The input must be the one PyTorch saw, or nothing below means anything. */
  size_t n_in = (size_t) channels * height * width;
  g_autofree float *input = g_new (float, n_in);
  fill_hashed_input ((guint32) seed, input, n_in);
  double sum = 0.0;
  for (size_t i = 0; i < n_in; i++)
    sum += input[i];  /* exact: every value is k / 2^23 and the sum stays below 2^30 */
  for (gsize i = 0; i < n_head && i < n_in; i++)
    g_assert_cmpfloat (input[i], ==, (float) input_head[i]);
  g_assert_cmpfloat (sum, ==, input_sum);

  g_autofree char *path = g_build_filename (models_dir, file, NULL);
  g_autofree char *bytes = NULL;
  gsize n_bytes = 0;
  if (!g_file_get_contents (path, &bytes, &n_bytes, &error)) {
    g_test_fail_printf ("%s: %s — the fixture models are generated at build time by "
                        "tests/nn/make_fixtures.py --models (needs python3-torch; meson test "
                        "builds them)", path, error->message);
    g_clear_error (&error);
    return;
  }
  g_autofree char *sha = sha256_hex ((const guint8 *) bytes, n_bytes);
  gboolean drifted = g_strcmp0 (sha, recorded_sha) != 0;
  if (drifted)
    g_test_message ("%s: sha256 %s differs from the recorded %s: the generator drifted "
                    "(torch version?), so the stored references may not belong to this model",
                    file, sha, recorded_sha);

  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = 1;
  if (dynamic) {
    opts.input_height = height;
    opts.input_width = width;
  }
  FkpNet *net = fkp_net_new_from_data (bytes, n_bytes, &opts, &error);
  if (net == NULL) {
    g_test_fail_printf ("%s at %dx%d: nn-core refused it: %s", file, height, width, error->message);
    g_clear_error (&error);
    return;
  }

  g_assert_cmpuint (fkp_net_get_n_inputs (net), ==, 1);
  g_assert_cmpuint (fkp_net_get_n_outputs (net), ==, 1);
  FkpShape shape;
  g_assert_true (fkp_net_get_input_shape (net, 0, &shape));
  g_assert_cmpint (shape.rank, ==, 4);
  g_assert_cmpint (shape.dims[0], ==, 1);
  g_assert_cmpint (shape.dims[1], ==, channels);
  g_assert_cmpint (shape.dims[2], ==, height);
  g_assert_cmpint (shape.dims[3], ==, width);
  g_assert_true (fkp_net_get_output_shape (net, 0, &shape));
  g_assert_cmpuint (fkp_shape_n_elements (&shape), ==, n_ref);

  g_autofree float *ref = g_new (float, n_ref);
  double ref_max = 0.0;
  for (gsize i = 0; i < n_ref; i++) {
    ref[i] = (float) ref_d[i];
    ref_max = MAX (ref_max, fabs (ref_d[i]));
  }
  double bound = tolerance * ref_max;

  for (int threads = 1; threads <= 2; threads++) {
    fkp_net_set_threads (net, threads);
    memcpy (fkp_net_get_input_data (net, 0), input, n_in * sizeof (float));
    if (!fkp_net_run (net, &error)) {
      g_test_fail_printf ("%s: run failed: %s", file, error->message);
      g_clear_error (&error);
      break;
    }
    size_t where;
    double err = max_abs_diff (fkp_net_get_output_data (net, 0), ref, n_ref, &where);
    const char *verdict = err <= bound ? "ok" : "TOO LARGE";
    g_test_message ("%s %dx%d threads %d: max |nn-core - torch| = %.3g = %.3g of max |torch| "
                    "(%.4g), at output %zu (%.7g vs %.7g); allowed %.0e: %s",
                    model_name, height, width, threads, err, err / ref_max, ref_max, where,
                    fkp_net_get_output_data (net, 0)[where], ref[where], tolerance, verdict);
    if (!(err <= bound))
      g_test_fail_printf ("%s %dx%d threads %d: max |nn-core - torch| = %.3g exceeds %.0e x max "
                          "|torch| = %.3g%s", model_name, height, width, threads, err, tolerance,
                          bound, drifted ? " — but the model's sha256 differs from the recorded "
                          "one: regenerate the references with tests/nn/make_fixtures.py "
                          "--references before blaming the engine" : "");
  }

  /* A second net of the same model gives the same bits, wherever malloc
   * puts its buffers (the sgemm's blocking depends on its input's
   * alignment; the engine aligns its buffers so that it cannot vary). */
  g_autofree float *first = g_memdup2 (fkp_net_get_output_data (net, 0), n_ref * sizeof (float));
  g_autofree char *shift = g_malloc (40);
  opts.threads = 2;
  FkpNet *again = fkp_net_new_from_data (bytes, n_bytes, &opts, &error);
  g_assert_no_error (error);
  memcpy (fkp_net_get_input_data (again, 0), input, n_in * sizeof (float));
  g_assert_true (fkp_net_run (again, NULL));
  g_assert_cmpmem (fkp_net_get_output_data (again, 0), n_ref * sizeof (float), first,
                   n_ref * sizeof (float));
  fkp_net_free (again);

  /* Loaded from the file with a pause function (read a block at a time,
   * paused between the pieces of the load and the steps of a run): the same
   * bits, and the function was called throughout, then never after it was
   * taken away. */
  PauseCount pauses = { 0 };
  opts.pause_func = count_pause;
  opts.pause_data = &pauses;
  FkpNet *paced = fkp_net_new_from_file (path, &opts, &error);
  g_assert_no_error (error);
  FkpNetStats stats;
  fkp_net_get_stats (paced, &stats);
  const guint load_pauses = pauses.calls;
  g_assert_cmpuint (load_pauses, >=, stats.n_nodes + n_bytes / (1 << 20));
  /* the options' function is the load's: runs call it once set on the net */
  memcpy (fkp_net_get_input_data (paced, 0), input, n_in * sizeof (float));
  g_assert_true (fkp_net_run (paced, NULL));
  g_assert_cmpuint (pauses.calls, ==, load_pauses);
  fkp_net_set_pause_func (paced, count_pause, &pauses);
  g_assert_true (fkp_net_run (paced, NULL));
  g_assert_cmpuint (pauses.calls, >, load_pauses);
  g_assert_cmpmem (fkp_net_get_output_data (paced, 0), n_ref * sizeof (float), first,
                   n_ref * sizeof (float));
  fkp_net_set_pause_func (paced, NULL, NULL);
  const guint before = pauses.calls;
  g_assert_true (fkp_net_run (paced, NULL));
  g_assert_cmpuint (pauses.calls, ==, before);
  fkp_net_free (paced);
  fkp_net_free (net);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  const char *ini = g_getenv ("FACEKP_NN_NETWORK_FIXTURES");
  if (ini == NULL)
    ini = NN_NETWORK_FIXTURES;
  models_dir = g_getenv ("FACEKP_NN_NETWORK_MODELS");
  if (models_dir == NULL)
    models_dir = NN_NETWORK_MODELS_DIR;

  GError *error = NULL;
  fixtures = g_key_file_new ();
  if (!g_key_file_load_from_file (fixtures, ini, G_KEY_FILE_NONE, &error)) {
    g_printerr ("test-networks: cannot read the fixture index %s: %s\n", ini, error->message);
    return 1;
  }
  tolerance = g_key_file_get_double (fixtures, "fixtures", "tolerance", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (tolerance, >, 0.0);
  g_assert_cmpfloat (tolerance, <=, 1e-4);  /* the bound; never loosen it silently */

  gsize n_groups;
  g_auto (GStrv) groups = g_key_file_get_groups (fixtures, &n_groups);
  guint n_cases = 0;
  for (gsize i = 0; i < n_groups; i++) {
    if (!g_str_has_prefix (groups[i], "case "))
      continue;
    g_autofree char *test_path = g_strdup_printf ("/nn/networks/%s", groups[i] + 5);
    g_strdelimit (test_path + strlen ("/nn/networks/"), " ", '/');
    g_test_add_data_func (test_path, groups[i], test_case);  /* groups outlives g_test_run */
    n_cases++;
  }
  /* Both attention variants at three sizes, the branch-BN model, a static one. */
  g_assert_cmpuint (n_cases, >=, 10);

  int status = g_test_run ();
  g_key_file_free (fixtures);
  return status;
}
