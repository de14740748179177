/* The public API of libfacekp-nn (see facekp/nn.h). */
#include "nn-private.h"
#include "sgemm/sgemm.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

FKP_PUBLIC GQuark
fkp_nn_error_quark (void)
{
  return g_quark_from_static_string ("fkp-nn-error-quark");
}

FKP_PUBLIC size_t
fkp_shape_n_elements (const FkpShape *shape)
{
  size_t n = 1;
  for (int i = 0; i < shape->rank; i++)
    n *= (size_t) shape->dims[i];
  return n;
}

FKP_PUBLIC void
fkp_net_options_init (FkpNetOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->threads = 1;
  opts->max_weight_bytes = 0;       /* FKP_NN_MAX_TOTAL_BYTES */
  opts->max_activation_bytes = 0;
}

FKP_PUBLIC FkpNet *
fkp_net_new_from_data (const void *data, size_t size, const FkpNetOptions *opts, GError **error)
{
  FkpNetOptions defaults;
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!opts) {
    fkp_net_options_init (&defaults);
    opts = &defaults;
  }
  if (!data && size > 0) {
    g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT, "no model data");
    return NULL;
  }
  if (opts->threads < 0 || opts->threads > 1024 || opts->input_height < 0
      || opts->input_width < 0 || opts->input_height > (1 << 20) || opts->input_width > (1 << 20)) {
    g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT,
                 "invalid options (threads %d, input %d×%d)", opts->threads, opts->input_height,
                 opts->input_width);
    return NULL;
  }
  FkpNet *net = g_new0 (FkpNet, 1);
  net->threads = MAX (opts->threads, 1);
  if (!fkp_nn_load (net, data, size, opts, error)) {
    fkp_net_free (net);
    return NULL;
  }
  /* A developer aid: per-kernel CPU times printed to stderr by fkp_net_free(). */
  const char *profile = g_getenv ("FKP_NN_PROFILE");
  if (profile) {
    net->profile_us = g_new0 (double, MAX (net->n_steps, 1));
    net->profile_wall = g_strcmp0 (profile, "wall") == 0;
  }
  return net;
}

/* With a pause function a regular file is read a block at a time, pausing
 * between blocks: read at once, the shipped 28 MB model is some 15 ms of
 * memory traffic that a thread with a deadline would share. */
#define READ_BLOCK_BYTES ((size_t) 1 << 20)

static gboolean
read_model_file (const char *path, const FkpNetOptions *opts, char **contents, gsize *length,
                 GError **error)
{
  GError *io_error = NULL;
  int fd = -1;
  struct stat st;
  if (opts == NULL || opts->pause_func == NULL
      || (fd = g_open (path, O_RDONLY | O_CLOEXEC, 0)) < 0 || fstat (fd, &st) != 0
      || !S_ISREG (st.st_mode)) {
    if (fd >= 0)
      close (fd);
    /* GLib's reader, and its messages for a file that cannot be opened */
    if (!g_file_get_contents (path, contents, length, &io_error)) {
      g_set_error_literal (error, FKP_NN_ERROR, FKP_NN_ERROR_IO, io_error->message);
      g_error_free (io_error);
      return FALSE;
    }
    return TRUE;
  }
  const size_t size = (size_t) st.st_size;
  if ((uint64_t) st.st_size >= FKP_NN_MAX_TOTAL_BYTES) {   /* past what protobuf allows too */
    close (fd);
    g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_TOO_LARGE, "%s: %zu bytes, past the "
                 "%" G_GUINT64_FORMAT "-byte cap of a model file", path, size,
                 (guint64) FKP_NN_MAX_TOTAL_BYTES);
    return FALSE;
  }
  char *data = g_try_malloc (size + 1);
  if (data == NULL) {
    close (fd);
    g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_OUT_OF_MEMORY, "%s: no memory to read its "
                 "%zu bytes", path, size);
    return FALSE;
  }
  size_t done = 0;
  while (done < size) {
    opts->pause_func (opts->pause_data);
    ssize_t n = read (fd, data + done, MIN (READ_BLOCK_BYTES, size - done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      close (fd);
      g_free (data);
      g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_IO, "%s: %s", path, g_strerror (saved));
      return FALSE;
    }
    if (n == 0)
      break;   /* the file shrank meanwhile: what was read is parsed (and checked) */
    done += (size_t) n;
  }
  close (fd);
  data[done] = '\0';
  *contents = data;
  *length = done;
  return TRUE;
}

FKP_PUBLIC FkpNet *
fkp_net_new_from_file (const char *path, const FkpNetOptions *opts, GError **error)
{
  char *contents = NULL;
  gsize length = 0;
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!path) {
    g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT, "no model path");
    return NULL;
  }
  /* Every message names the file once: GLib's already does, the loader's
   * get it as a prefix.  Callers should not add it again. */
  if (!read_model_file (path, opts, &contents, &length, error))
    return NULL;
  GError *load_error = NULL;
  FkpNet *net = fkp_net_new_from_data (contents, length, opts, &load_error);
  g_free (contents);
  if (!net) {
    g_propagate_prefixed_error (error, load_error, "%s: ", path);
    return NULL;
  }
  return net;
}

int
fkp_nn_threads (const FkpNet *net)
{
  /* a step of a branch run on one thread (run/parallel.c) has that one */
  return fkp_nn_in_branch () ? 1 : fkp_nn_pool_size (net->pool);
}

/* FKP_NN_PROFILE: each step's time per run and share of the run; for the
 * steps that multiply (convolutions, Gemm, MatMul) also GFLOP/s, and the
 * share of the roof that compute puts on them: the core's multiply-add
 * peak for the sgemm's ISA, measured here (per core of CPU time; with
 * FKP_NN_PROFILE=wall, of all the net's threads). */
static void
print_profile (const FkpNet *net)
{
  const gboolean wall = net->profile_wall;
  const int cores = wall ? fkp_nn_threads (net) : 1;
  const double peak = fkp_sgemm_peak_gflops (fkp_sgemm_isa ()) * cores;
  double total = 0.0;
  for (int i = 0; i < net->n_steps; i++)
    total += net->profile_us[i];
  g_printerr ("%s time per run (%d runs, %d threads); peak %.1f GFLOP/s: %s on %d core%s, "
              "measured\n", wall ? "wall" : "CPU", net->profile_runs, fkp_nn_threads (net), peak,
              fkp_sgemm_isa_name (), cores, cores > 1 ? "s" : "");
  int region = 0, side_by_side = 0;
  for (int r = 0; r < net->n_regions; r++)
    side_by_side += net->regions[r].side_by_side && net->regions[r].plan_threads > 1;
  for (int i = 0; i < net->n_steps; i++) {
    const Step *s = &net->steps[i];
    const FkpShape *shape = &net->tensors[s->output].shape;
    const double us = net->profile_us[i] / net->profile_runs;
    while (region < net->n_regions
           && net->regions[region].first + net->regions[region].n_steps <= i)
      region++;
    const FkpNnRegion *r = region < net->n_regions && net->regions[region].first <= i
                           && net->regions[region].side_by_side
                           && net->regions[region].plan_threads > 1 ? &net->regions[region] : NULL;
    GString *line = g_string_new (NULL);
    g_string_append_printf (line, "%8.1f us %5.1f%%", us, 100.0 * net->profile_us[i] / total);
    if (s->macs > 0 && us > 0.0) {
      const double gflops = 2e-3 * s->macs / us;
      g_string_append_printf (line, " %6.1f GFLOP/s %3.0f%% of peak", gflops, 100.0 * gflops / peak);
    } else {
      g_string_append_printf (line, "%*s", 28, "");
    }
    if (r != NULL)
      g_string_append_printf (line, "  [thread %d]", r->thread_of_branch[r->branch_of[i - r->first]]);
    g_string_append_printf (line, "  %s", s->label);
    if (s->op == OP_CONV)
      g_string_append_printf (line, " %s", fkp_nn_conv_algo_name (s));
    g_string_append (line, " -> [");
    for (int d = 0; d < shape->rank; d++)
      g_string_append_printf (line, d ? ",%" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, shape->dims[d]);
    g_printerr ("%s]\n", line->str);
    g_string_free (line, TRUE);
  }
  g_printerr ("total %.1f us per run\n", total / net->profile_runs);
  g_printerr ("%d windows of independent branches, %d run side by side (steps marked [thread "
              "t]: on thread t alone; their times overlap)\n", net->n_regions, side_by_side);
}

FKP_PUBLIC void
fkp_net_free (FkpNet *net)
{
  if (!net)
    return;
  if (net->profile_us && net->profile_runs > 0)
    print_profile (net);
  g_free (net->profile_us);
  fkp_nn_pool_free (net->pool);
  for (int i = 0; i < net->n_tensors; i++) {
    g_free (net->tensors[i].name);
    g_free (net->tensors[i].fdata);
    g_free (net->tensors[i].idata);
  }
  g_free (net->tensors);
  for (int i = 0; i < net->n_steps; i++) {
    fkp_nn_step_clear (&net->steps[i]);
  }
  g_free (net->steps);
  for (int r = 0; r < net->n_regions; r++) {
    g_free (net->regions[r].branch_of);
    g_free (net->regions[r].branch_cost);
    g_free (net->regions[r].thread_of_branch);
  }
  g_free (net->regions);
  g_free (net->inputs);
  g_free (net->outputs);
  g_strfreev (net->meta_keys);
  g_strfreev (net->meta_values);
  g_strfreev (net->op_names);
  g_free (net->op_counts);
  if (net->arena)
    free (net->arena - FKP_NN_ARENA_SLACK_FLOATS);
  free (net->scratch);
  g_free (net);
}

FKP_PUBLIC size_t
fkp_net_get_n_inputs (const FkpNet *net)
{
  return net ? (size_t) net->n_inputs : 0;
}

FKP_PUBLIC const char *
fkp_net_get_input_name (const FkpNet *net, size_t index)
{
  if (!net || index >= (size_t) net->n_inputs)
    return NULL;
  return net->tensors[net->inputs[index]].name;
}

FKP_PUBLIC gboolean
fkp_net_get_input_shape (const FkpNet *net, size_t index, FkpShape *shape)
{
  if (!net || !shape || index >= (size_t) net->n_inputs)
    return FALSE;
  *shape = net->tensors[net->inputs[index]].shape;
  return TRUE;
}

FKP_PUBLIC float *
fkp_net_get_input_data (FkpNet *net, size_t index)
{
  if (!net || index >= (size_t) net->n_inputs)
    return NULL;
  return net->tensors[net->inputs[index]].data;
}

FKP_PUBLIC int
fkp_net_find_input (const FkpNet *net, const char *name)
{
  for (int i = 0; net && name && i < net->n_inputs; i++)
    if (strcmp (net->tensors[net->inputs[i]].name, name) == 0)
      return i;
  return -1;
}

FKP_PUBLIC size_t
fkp_net_get_n_outputs (const FkpNet *net)
{
  return net ? (size_t) net->n_outputs : 0;
}

FKP_PUBLIC const char *
fkp_net_get_output_name (const FkpNet *net, size_t index)
{
  if (!net || index >= (size_t) net->n_outputs)
    return NULL;
  return net->tensors[net->outputs[index]].name;
}

FKP_PUBLIC gboolean
fkp_net_get_output_shape (const FkpNet *net, size_t index, FkpShape *shape)
{
  if (!net || !shape || index >= (size_t) net->n_outputs)
    return FALSE;
  *shape = net->tensors[net->outputs[index]].shape;
  return TRUE;
}

FKP_PUBLIC const float *
fkp_net_get_output_data (const FkpNet *net, size_t index)
{
  if (!net || index >= (size_t) net->n_outputs)
    return NULL;
  return net->tensors[net->outputs[index]].data;
}

FKP_PUBLIC int
fkp_net_find_output (const FkpNet *net, const char *name)
{
  for (int i = 0; net && name && i < net->n_outputs; i++)
    if (strcmp (net->tensors[net->outputs[i]].name, name) == 0)
      return i;
  return -1;
}

FKP_PUBLIC gboolean
fkp_net_run (FkpNet *net, GError **error)
{
  if (!net) {
    g_set_error (error, FKP_NN_ERROR, FKP_NN_ERROR_INVALID_ARGUMENT, "no net");
    return FALSE;
  }
  /* The net splits its work itself (run/parallel.c): OpenBLAS runs each part on
   * the calling thread.  Its thread count is process-wide: set it only when
   * it differs. */
  if (openblas_get_num_threads () != 1)
    openblas_set_num_threads (1);
  if (net->pool_threads != net->threads) {
    fkp_nn_pool_free (net->pool);
    net->pool = NULL;
    net->pool_threads = net->threads;
    /* Each thread gets its own scratch area; without the memory for them
     * the net runs on one thread. */
    float *areas = net->scratch_floats ? fkp_nn_alloc_floats (net->threads * net->scratch_floats)
                                       : NULL;
    if (areas != NULL || net->scratch_floats == 0) {
      if (areas != NULL) {
        free (net->scratch);
        net->scratch = areas;
      }
      if (net->threads > 1)
        net->pool = fkp_nn_pool_new (net->threads);
    }
  }
  fkp_nn_run_steps (net);
  if (net->profile_us)
    net->profile_runs++;
  return TRUE;
}

FKP_PUBLIC void
fkp_net_set_threads (FkpNet *net, int threads)
{
  if (net)
    net->threads = CLAMP (threads, 1, 1024);
}

FKP_PUBLIC void
fkp_net_set_pause_func (FkpNet *net, FkpNetPauseFunc func, void *data)
{
  if (net) {
    net->pause_func = func;
    net->pause_data = data;
  }
}

FKP_PUBLIC int
fkp_net_get_threads (const FkpNet *net)
{
  return net ? net->threads : 0;
}

FKP_PUBLIC const char *
fkp_net_get_metadata (const FkpNet *net, const char *key)
{
  for (size_t i = 0; net && key && i < net->n_meta; i++)
    if (strcmp (net->meta_keys[i], key) == 0)
      return net->meta_values[i];
  return NULL;
}

FKP_PUBLIC const char *const *
fkp_net_get_metadata_keys (const FkpNet *net)
{
  static const char *const empty[] = { NULL };
  return net && net->meta_keys ? (const char *const *) net->meta_keys : empty;
}

FKP_PUBLIC void
fkp_net_get_stats (const FkpNet *net, FkpNetStats *stats)
{
  if (!stats)
    return;
  memset (stats, 0, sizeof *stats);
  if (net)
    *stats = net->stats;
}

FKP_PUBLIC const char *
fkp_net_get_op_count (const FkpNet *net, size_t index, size_t *count)
{
  if (!net || index >= net->n_op_names)
    return NULL;
  if (count)
    *count = net->op_counts[index];
  return net->op_names[index];
}
