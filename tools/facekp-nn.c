/* facekp-nn: inspect, run and time ONNX models with libfacekp-nn.
 *
 *   facekp-nn info MODEL
 *   facekp-nn run MODEL INPUT [-o OUT.npy]   INPUT: .npy, raw float32, or zeros|ones|random
 *   facekp-nn bench MODEL [--threads N] [--runs K]
 *
 * Errors go to stderr with a non-zero exit status. */
#include <facekp/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int opt_threads = 1;
static int opt_runs = 50;
static int opt_warmup = 5;
static int opt_warmup_ms = 0;
static int opt_height = 0;
static int opt_width = 0;
static char *opt_output = NULL;

static GOptionEntry entries[] = {
  { "threads", 't', 0, G_OPTION_ARG_INT, &opt_threads, "Threads per run (default 1)", "N" },
  { "runs", 'r', 0, G_OPTION_ARG_INT, &opt_runs, "Timed runs for bench (default 50)", "K" },
  { "warmup", 0, 0, G_OPTION_ARG_INT, &opt_warmup, "Untimed runs before bench (default 5)", "K" },
  { "warmup-ms", 0, 0, G_OPTION_ARG_INT, &opt_warmup_ms,
    "Keep warming up until this many milliseconds have passed too (default 0)", "MS" },
  { "height", 0, 0, G_OPTION_ARG_INT, &opt_height, "Input height for dynamic models", "H" },
  { "width", 0, 0, G_OPTION_ARG_INT, &opt_width, "Input width for dynamic models", "W" },
  { "output", 'o', 0, G_OPTION_ARG_FILENAME, &opt_output,
    "Write outputs as .npy (output i > 0 goes to OUT-i.npy)", "OUT" },
  { NULL }
};

static char *
shape_text (const FkpShape *shape)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < shape->rank; i++)
    g_string_append_printf (s, i ? ", %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, shape->dims[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static FkpNet *
open_net (const char *path, GError **error)
{
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = opt_threads;
  opts.input_height = opt_height;
  opts.input_width = opt_width;
  return fkp_net_new_from_file (path, &opts, error);
}

static int
cmd_info (FkpNet *net)
{
  FkpNetStats st;
  fkp_net_get_stats (net, &st);
  for (size_t i = 0; i < fkp_net_get_n_inputs (net); i++) {
    FkpShape shape;
    fkp_net_get_input_shape (net, i, &shape);
    char *s = shape_text (&shape);
    printf ("input  %s %s float32\n", fkp_net_get_input_name (net, i), s);
    g_free (s);
  }
  for (size_t i = 0; i < fkp_net_get_n_outputs (net); i++) {
    FkpShape shape;
    fkp_net_get_output_shape (net, i, &shape);
    char *s = shape_text (&shape);
    printf ("output %s %s float32\n", fkp_net_get_output_name (net, i), s);
    g_free (s);
  }
  printf ("opset %" G_GINT64_FORMAT ", %zu nodes, %zu kernels after folding and fusion"
          " (%zu convs as Winograd)\n", st.opset, st.n_nodes, st.n_steps, st.n_winograd_convs);
  printf ("ops:");
  size_t count;
  const char *op;
  for (size_t i = 0; (op = fkp_net_get_op_count (net, i, &count)); i++)
    printf (" %s×%zu", op, count);
  printf ("\n");
  printf ("parameters %" G_GUINT64_FORMAT "\n", (guint64) st.n_parameters);
  printf ("MACs %" G_GUINT64_FORMAT " (%.3f G)\n", (guint64) st.n_macs, st.n_macs / 1e9);
  printf ("peak activation memory %" G_GUINT64_FORMAT " bytes (%.2f MiB; %.2f MiB without reuse)\n",
          (guint64) st.peak_activation_bytes, st.peak_activation_bytes / 1048576.0,
          st.naive_activation_bytes / 1048576.0);
  printf ("scratch %" G_GUINT64_FORMAT " bytes, weights %" G_GUINT64_FORMAT " bytes\n",
          (guint64) st.scratch_bytes, (guint64) st.weight_bytes);
  const char *const *keys = fkp_net_get_metadata_keys (net);
  for (size_t i = 0; keys[i]; i++)
    printf ("metadata %s = %s\n", keys[i], fkp_net_get_metadata (net, keys[i]));
  return 0;
}

/* Reads float32 data from a .npy file (C order, little-endian) or a raw file. */
static float *
read_input (const char *path, size_t want, GError **error)
{
  char *contents;
  gsize len;
  if (!g_file_get_contents (path, &contents, &len, error))
    return NULL;
  const char *data = contents;
  gsize data_len = len;
  if (len >= 10 && memcmp (contents, "\x93NUMPY", 6) == 0) {
    guint8 major = (guint8) contents[6];
    gsize header_len, start;
    if (major == 1) {
      header_len = (guint8) contents[8] | ((gsize) (guint8) contents[9] << 8);
      start = 10;
    } else if (len >= 12) {
      header_len = (guint8) contents[8] | ((gsize) (guint8) contents[9] << 8)
                   | ((gsize) (guint8) contents[10] << 16) | ((gsize) (guint8) contents[11] << 24);
      start = 12;
    } else {
      header_len = G_MAXSIZE;
      start = 0;
    }
    if (header_len > len - start) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: truncated .npy header", path);
      g_free (contents);
      return NULL;
    }
    char *header = g_strndup (contents + start, header_len);
    gboolean ok = strstr (header, "'<f4'") && strstr (header, "'fortran_order': False");
    g_free (header);
    if (!ok) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s: only little-endian float32 C-order .npy files are supported", path);
      g_free (contents);
      return NULL;
    }
    data = contents + start + header_len;
    data_len = len - start - header_len;
  }
  if (data_len != want * sizeof (float)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                 "%s: holds %zu bytes of data, the input needs %zu floats (%zu bytes)", path,
                 (size_t) data_len, want, want * sizeof (float));
    g_free (contents);
    return NULL;
  }
  float *values = g_memdup2 (data, MAX (data_len, 1));
  g_free (contents);
  return values;
}

static gboolean
write_npy (const char *path, const float *data, const FkpShape *shape, GError **error)
{
  GString *dict = g_string_new ("{'descr': '<f4', 'fortran_order': False, 'shape': (");
  for (int i = 0; i < shape->rank; i++)
    g_string_append_printf (dict, "%" G_GINT64_FORMAT "%s", shape->dims[i],
                            shape->rank == 1 || i + 1 < shape->rank ? ", " : "");
  g_string_append (dict, "), }");
  while ((10 + dict->len + 1) % 64 != 0)
    g_string_append_c (dict, ' ');
  g_string_append_c (dict, '\n');
  size_t n = fkp_shape_n_elements (shape);
  GByteArray *bytes = g_byte_array_new ();
  guint8 prefix[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (guint8) (dict->len & 0xff),
                        (guint8) (dict->len >> 8) };
  g_byte_array_append (bytes, prefix, 10);
  g_byte_array_append (bytes, (const guint8 *) dict->str, (guint) dict->len);
  g_byte_array_append (bytes, (const guint8 *) data, (guint) (n * sizeof (float)));
  gboolean ok = g_file_set_contents (path, (const char *) bytes->data, bytes->len, error);
  g_byte_array_unref (bytes);
  g_string_free (dict, TRUE);
  return ok;
}

static int
cmd_run (FkpNet *net, const char *input)
{
  GError *error = NULL;
  if (fkp_net_get_n_inputs (net) != 1) {
    fprintf (stderr, "facekp-nn: run supports models with one input (this one has %zu)\n",
             fkp_net_get_n_inputs (net));
    return 1;
  }
  FkpShape shape;
  fkp_net_get_input_shape (net, 0, &shape);
  size_t n = fkp_shape_n_elements (&shape);
  float *dst = fkp_net_get_input_data (net, 0);
  if (strcmp (input, "zeros") == 0 || strcmp (input, "ones") == 0) {
    for (size_t i = 0; i < n; i++)
      dst[i] = input[0] == 'o' ? 1.0f : 0.0f;
  } else if (strcmp (input, "random") == 0) {
    GRand *rand = g_rand_new_with_seed (1);
    for (size_t i = 0; i < n; i++)
      dst[i] = (float) g_rand_double_range (rand, -1.0, 1.0);
    g_rand_free (rand);
  } else {
    float *values = read_input (input, n, &error);
    if (!values) {
      fprintf (stderr, "facekp-nn: %s\n", error->message);
      g_error_free (error);
      return 1;
    }
    memcpy (dst, values, n * sizeof (float));
    g_free (values);
  }
  if (!fkp_net_run (net, &error)) {
    fprintf (stderr, "facekp-nn: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  for (size_t o = 0; o < fkp_net_get_n_outputs (net); o++) {
    FkpShape out_shape;
    fkp_net_get_output_shape (net, o, &out_shape);
    const float *out = fkp_net_get_output_data (net, o);
    if (opt_output) {
      char *path = o == 0 ? g_strdup (opt_output) : NULL;
      if (!path) {
        char *base = g_str_has_suffix (opt_output, ".npy")
                     ? g_strndup (opt_output, strlen (opt_output) - 4) : g_strdup (opt_output);
        path = g_strdup_printf ("%s-%zu.npy", base, o);
        g_free (base);
      }
      gboolean ok = write_npy (path, out, &out_shape, &error);
      g_free (path);
      if (!ok) {
        fprintf (stderr, "facekp-nn: %s\n", error->message);
        g_error_free (error);
        return 1;
      }
    } else {
      char *s = shape_text (&out_shape);
      printf ("%s %s\n", fkp_net_get_output_name (net, o), s);
      g_free (s);
      size_t count = fkp_shape_n_elements (&out_shape);
      for (size_t i = 0; i < count; i++)
        printf ("%.7g%s", out[i], (i + 1) % 8 == 0 || i + 1 == count ? "\n" : " ");
    }
  }
  return 0;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median_of (double *v, int n)
{
  qsort (v, n, sizeof (double), compare_doubles);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double
process_cpu_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Wall time per run, and the process's CPU time (all its threads), which a
 * busy machine inflates less: with one thread it is the run's own work. */
static int
cmd_bench (FkpNet *net)
{
  GError *error = NULL;
  if (opt_runs < 1 || opt_warmup < 0 || opt_warmup_ms < 0) {
    fprintf (stderr, "facekp-nn: --runs must be >= 1, --warmup and --warmup-ms >= 0\n");
    return 1;
  }
  for (size_t i = 0; i < fkp_net_get_n_inputs (net); i++) {
    FkpShape shape;
    fkp_net_get_input_shape (net, i, &shape);
    float *in = fkp_net_get_input_data (net, i);
    size_t n = fkp_shape_n_elements (&shape);
    for (size_t k = 0; k < n; k++)
      in[k] = (float) ((k * 2654435761u) % 1000) / 1000.0f - 0.5f;
  }
  /* A run is timed once --warmup runs and --warmup-ms have passed: what starts
   * with the process (Debian's threaded OpenBLAS spins an idle worker for
   * about 0.1 s after it loads) must not land in the timed runs of a fast model. */
  const gint64 warm_until = g_get_monotonic_time () + (gint64) opt_warmup_ms * 1000;
  double *ms = g_new (double, opt_runs), *cpu_ms = g_new (double, opt_runs);
  for (int i = 0, timed = 0; timed < opt_runs; i++) {
    const gint64 t0 = g_get_monotonic_time ();
    const double cpu0 = process_cpu_ms ();
    if (!fkp_net_run (net, &error)) {
      fprintf (stderr, "facekp-nn: %s\n", error->message);
      g_error_free (error);
      g_free (ms);
      g_free (cpu_ms);
      return 1;
    }
    if (i >= opt_warmup && t0 >= warm_until) {
      cpu_ms[timed] = process_cpu_ms () - cpu0;
      ms[timed++] = (g_get_monotonic_time () - t0) / 1000.0;
    }
  }
  const double median = median_of (ms, opt_runs), cpu_median = median_of (cpu_ms, opt_runs);
  printf ("threads %d runs %d min %.3f ms median %.3f ms cpu median %.3f ms\n",
          fkp_net_get_threads (net), opt_runs, ms[0], median, cpu_median);
  g_free (ms);
  g_free (cpu_ms);
  return 0;
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  GOptionContext *context = g_option_context_new (
      "info MODEL | run MODEL INPUT | bench MODEL — inspect, run and time ONNX models");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
      "INPUT is a .npy file (float32, C order), a raw float32 file, or one of zeros, ones, random.\n");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "facekp-nn: %s\n", error->message);
    g_error_free (error);
    g_option_context_free (context);
    return 2;
  }
  const char *cmd = argc > 1 ? argv[1] : "";
  gboolean known = strcmp (cmd, "info") == 0 || strcmp (cmd, "run") == 0 || strcmp (cmd, "bench") == 0;
  int need = strcmp (cmd, "run") == 0 ? 4 : 3;
  if (!known || argc != need) {
    char *help = g_option_context_get_help (context, TRUE, NULL);
    fprintf (stderr, "%s", help);
    g_free (help);
    g_option_context_free (context);
    return 2;
  }
  g_option_context_free (context);
  if (opt_threads < 1) {
    fprintf (stderr, "facekp-nn: --threads must be >= 1\n");
    return 2;
  }
  FkpNet *net = open_net (argv[2], &error);
  if (!net) {
    fprintf (stderr, "facekp-nn: %s\n", error->message);
    g_error_free (error);
    return 1;
  }
  int status;
  if (strcmp (cmd, "info") == 0)
    status = cmd_info (net);
  else if (strcmp (cmd, "run") == 0)
    status = cmd_run (net, argv[3]);
  else
    status = cmd_bench (net);
  fkp_net_free (net);
  g_free (opt_output);
  return status;
}
