/* Frame times of facekpfilter while its models change during playback.
 *
 * A 640x480 stream with one face (a dataset crop from tests/data) goes through
 * the element in a GstHarness, so its chain function runs on this thread,
 * paced at --fps (0: back to back).  Between stretches of --steady frames
 * with no change, `model` is set --swaps times (the same file each time, so
 * that the frame cost stays the same: a new pipeline with the landmark model
 * loaded again; the detector moves over).  The load runs on the element's
 * model worker; every frame from the one that sets the property to the one
 * after the new model took over (the "facekp-models" message) belongs to the
 * swap's window.
 *
 * Prints each swap (frames in its window, the load's wall time, the longest
 * frame; the frame that set the property, the first on the new model and the
 * one after), then the steady frames' median, 95th percentile and maximum in
 * wall time, and a table that puts the swaps beside placebo swaps: for each
 * swap, a window of as many steady frames shortly before its request (in the
 * same phase of the detector's interval), taken as if it were a swap.  A
 * shared machine's noise reaches any frame (5 % of steady frames are above
 * their own p95 by definition, and the host's speed swings over seconds), so
 * what a swap costs is the difference between the two columns; a swap that
 * costs nothing gives the placebo's numbers.  Each window (swap or placebo)
 * is also paired with as many steady frames just before it, so that slow
 * swings hit both alike.  Last, the streaming thread's CPU time, which a busy
 * machine's other jobs do not inflate.  Exit status 0 either way: the
 * numbers are for docs/element.md, not a pass mark.
 *
 * Usage: bench-model-swap [--swaps N] [--steady N] [--fps F] [--threads T]
 *                         [--detect-latency N] DATA_DIR */
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <facekp/face.h>
#include "gst-test-util.h"

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The q-quantile of n values (copied: the caller's order stays). */
static double
quantile (const double *values, guint n, double q)
{
  if (n == 0)
    return NAN;
  double *sorted = g_memdup2 (values, n * sizeof *values);
  qsort (sorted, n, sizeof *sorted, compare_doubles);
  double v = sorted[(guint) (q * (n - 1) + 0.5)];
  g_free (sorted);
  return v;
}

static double
mean (const double *values, guint n)
{
  double sum = 0;
  for (guint i = 0; i < n; i++)
    sum += values[i];
  return n ? sum / n : NAN;
}

/* CPU time of this thread, ms: what the frame itself cost, whatever else
 * the machine ran meanwhile. */
static double
thread_cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static gboolean
pop_models_message (GstBus *bus)
{
  gboolean found = FALSE;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING
                                            | GST_MESSAGE_ERROR))) {
    if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT) {
      g_printerr ("bench-model-swap: a warning or error during a swap\n");
      exit (1);
    }
    found |= gst_message_has_name (msg, "facekp-models");
    gst_message_unref (msg);
  }
  return found;
}

/* What a set of windows (the swaps', or the placebos') did, each window
 * [start, start + n) of the frame list against the n frames before it. */
typedef struct {
  guint windows, frames;
  guint frames_above_p95;   /* of all the windows' frames */
  guint touched_above_p95;  /* of their first, second-to-last and last frames */
  guint windows_touched_above_p95;
  guint longer, slower;     /* longest longer / median higher than the pair's */
  double sum_longest_ratio;
  double sum_mean_diff, sum_mean_diff_sq;   /* window mean - pair mean, ms */
} WindowStats;

static void
add_window (WindowStats *st, const double *ms, guint start, guint n, double p95)
{
  const double *w = ms + start, *pair = ms + start - n;
  st->windows++;
  st->frames += n;
  for (guint i = 0; i < n; i++)
    st->frames_above_p95 += w[i] > p95;
  /* The frames a change touches: the request (first), the swap-in
   * (second to last) and the one after it (last). */
  const guint touched[3] = { 0, n - 2, n - 1 };
  gboolean any = FALSE;
  for (guint k = 0; k < 3; k++) {
    st->touched_above_p95 += w[touched[k]] > p95;
    any |= w[touched[k]] > p95;
  }
  st->windows_touched_above_p95 += any;
  const double longest = quantile (w, n, 1.0), pair_longest = quantile (pair, n, 1.0);
  st->longer += longest > pair_longest;
  st->slower += quantile (w, n, 0.5) > quantile (pair, n, 0.5);
  st->sum_longest_ratio += longest / pair_longest;
  const double diff = mean (w, n) - mean (pair, n);
  st->sum_mean_diff += diff;
  st->sum_mean_diff_sq += diff * diff;
}

/* Mean and twice its standard error (about a 95 % interval). */
static void
mean_diff (const WindowStats *st, double *m, double *two_se)
{
  const double n = st->windows;
  *m = st->sum_mean_diff / n;
  const double var = n > 1 ? (st->sum_mean_diff_sq - n * *m * *m) / (n - 1) : 0;
  *two_se = 2 * sqrt (MAX (var, 0) / n);
}

static void
print_stats (const WindowStats *swap, const WindowStats *placebo)
{
  const WindowStats *col[2] = { swap, placebo };
  printf ("%-58s %16s %16s\n", "", "swaps", "placebo swaps");
  printf ("%-58s %16u %16u\n", "windows (frames)", swap->windows, placebo->windows);
  char cell[2][64];
  for (int c = 0; c < 2; c++)
    g_snprintf (cell[c], 64, "%u of %u (%.1f %%)", col[c]->frames_above_p95, col[c]->frames,
                100.0 * col[c]->frames_above_p95 / MAX (col[c]->frames, 1));
  printf ("%-58s %16s %16s\n", "frames above the steady p95", cell[0], cell[1]);
  for (int c = 0; c < 2; c++)
    g_snprintf (cell[c], 64, "%u of %u", col[c]->touched_above_p95, 3 * col[c]->windows);
  printf ("%-58s %16s %16s\n", "request, swap-in, next frames above the steady p95", cell[0],
          cell[1]);
  for (int c = 0; c < 2; c++)
    g_snprintf (cell[c], 64, "%u of %u", col[c]->windows_touched_above_p95, col[c]->windows);
  printf ("%-58s %16s %16s\n", "windows with one of those above it", cell[0], cell[1]);
  for (int c = 0; c < 2; c++)
    g_snprintf (cell[c], 64, "%u of %u", col[c]->longer, col[c]->windows);
  printf ("%-58s %16s %16s\n", "longest frame longer than the pair's", cell[0], cell[1]);
  for (int c = 0; c < 2; c++)
    g_snprintf (cell[c], 64, "%u of %u", col[c]->slower, col[c]->windows);
  printf ("%-58s %16s %16s\n", "median higher than the pair's", cell[0], cell[1]);
  for (int c = 0; c < 2; c++)
    g_snprintf (cell[c], 64, "%.2f", col[c]->sum_longest_ratio / MAX (col[c]->windows, 1));
  printf ("%-58s %16s %16s\n", "longest / the pair's longest, mean", cell[0], cell[1]);
  for (int c = 0; c < 2; c++) {
    double m, two_se;
    mean_diff (col[c], &m, &two_se);
    g_snprintf (cell[c], 64, "%+.2f ± %.2f", m, two_se);
  }
  printf ("%-58s %16s %16s\n", "mean frame minus the pair's, ms (± 2 standard errors)", cell[0],
          cell[1]);
}

enum { FRAME_WARM_UP, FRAME_STEADY, FRAME_SWAP };

int
main (int argc, char **argv)
{
  gint swaps = 8, steady = 40, threads = 1, detect_latency = -1;
  gdouble fps = 30;
  GOptionEntry entries[] = {
    { "swaps", 0, 0, G_OPTION_ARG_INT, &swaps, "model changes", "N" },
    { "steady", 0, 0, G_OPTION_ARG_INT, &steady, "frames without a change before each", "N" },
    { "fps", 0, 0, G_OPTION_ARG_DOUBLE, &fps, "frames a second pushed (0: back to back)", "F" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "the element's threads", "T" },
    { "detect-latency", 0, 0, G_OPTION_ARG_INT, &detect_latency,
      "the element's detect-latency (-1, its default: the detector on its own thread)", "N" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("DATA_DIR");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || swaps < 1
      || steady < 10) {
    g_printerr ("%s\n", error ? error->message : "usage: bench-model-swap [OPTIONS] DATA_DIR");
    return 2;
  }
  g_option_context_free (ctx);

  const gint width = 640, height = 480;
  guint n_faces = 0;
  TestFace *faces = test_faces_load (argv[1], &n_faces);
  if (n_faces == 0) {
    g_printerr ("no faces in %s\n", argv[1]);
    return 1;
  }
  TestCanvas *canvas = test_canvas_new (width, height, 110);
  test_canvas_paste_height (canvas, &faces[0], 200, 120, 260);

  gchar *launch = g_strdup_printf ("facekpfilter threads=%d detect-latency=%d", threads,
                                   detect_latency);
  GstHarness *h = gst_harness_new_parse (launch);
  g_free (launch);
  gst_harness_set_src_caps (h, test_caps (GST_VIDEO_FORMAT_I420, width, height));
  GstElement *f = gst_harness_find_element (h, "facekpfilter");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gchar *model = fkp_face_find_model (FKP_FACE_LANDMARK_MODEL_NAME, NULL);

  const GstClockTime frame_ns = GST_SECOND / 30;
  const gint64 period_us = fps > 0 ? (gint64) (1e6 / fps) : 0;
  /* Every frame in order: wall and CPU ms, and what it was. */
  GArray *wall = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *cpu = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *kind = g_array_new (FALSE, FALSE, sizeof (gint));
  GArray *window_start = g_array_new (FALSE, FALSE, sizeof (guint));
  GArray *window_len = g_array_new (FALSE, FALSE, sizeof (guint));
  guint64 frame = 0;
  gint64 next_due = g_get_monotonic_time ();
  printf ("swap  frames  load ms  longest ms  (request, swap-in, next frame ms)\n");
  for (gint s = 0; s <= swaps; s++) {
    /* The first stretch is warm-up; after each swap, `steady` clean frames. */
    gint64 load_start = 0;
    gboolean swapping = FALSE, done = FALSE, next_seen = FALSE;
    guint start = 0;
    double longest = 0, request_ms = 0, swap_in_ms = 0;
    for (gint i = 0; i < steady || swapping || (done && !next_seen); i++, frame++) {
      if (period_us > 0) {
        gint64 now = g_get_monotonic_time ();
        if (next_due > now)
          g_usleep ((gulong) (next_due - now));
        next_due = MAX (next_due, now) + period_us;
      }
      GstBuffer *in = test_canvas_to_buffer (canvas, GST_VIDEO_FORMAT_I420, frame * frame_ns,
                                             frame_ns);
      gint64 t0 = g_get_monotonic_time ();
      double c0 = thread_cpu_ms ();
      gboolean request = s > 0 && i == steady / 2 && !swapping && !done;
      if (request) {
        g_object_set (f, "model", model, NULL);
        swapping = TRUE;
        load_start = t0;
        start = wall->len;
      }
      if (gst_harness_push (h, in) != GST_FLOW_OK) {
        g_printerr ("push failed\n");
        return 1;
      }
      gst_buffer_unref (gst_harness_pull (h));
      double ms = (g_get_monotonic_time () - t0) / 1e3, cpu_ms = thread_cpu_ms () - c0;
      gboolean swapped_in = swapping && pop_models_message (bus);
      gint k = FRAME_STEADY;
      if (swapping || (done && !next_seen)) {
        k = FRAME_SWAP;
        longest = MAX (longest, ms);
        if (request)
          request_ms = ms;
        if (!swapping) {
          next_seen = TRUE;
          guint n = wall->len + 1 - start;
          g_array_append_val (window_start, start);
          g_array_append_val (window_len, n);
          printf ("%4d  %6u  %7.0f  %10.1f  (%.1f, %.1f, %.1f)\n", s, n,
                  (g_get_monotonic_time () - load_start) / 1e3, longest, request_ms, swap_in_ms,
                  ms);
        }
      } else if (s == 0 && i < 10) {
        k = FRAME_WARM_UP;
      }
      g_array_append_val (wall, ms);
      g_array_append_val (cpu, cpu_ms);
      g_array_append_val (kind, k);
      if (swapped_in) {
        swapping = FALSE;
        done = TRUE;
        swap_in_ms = ms;
      }
    }
  }

  /* The steady law: every frame that is neither warm-up nor in a swap's window. */
  GArray *steady_ms = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *steady_cpu = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < wall->len; i++)
    if (g_array_index (kind, gint, i) == FRAME_STEADY) {
      g_array_append_val (steady_ms, g_array_index (wall, double, i));
      g_array_append_val (steady_cpu, g_array_index (cpu, double, i));
    }
  const double *all = (const double *) wall->data;
  const double steady_p95 = quantile ((double *) steady_ms->data, steady_ms->len, 0.95);
  printf ("steady frames: %u, median %.1f ms, p95 %.1f ms, max %.1f ms\n", steady_ms->len,
          quantile ((double *) steady_ms->data, steady_ms->len, 0.5), steady_p95,
          quantile ((double *) steady_ms->data, steady_ms->len, 1.0));

  /* A swap's pair: the n frames before its request.  Its placebo: n steady
   * frames that start a whole number of detector intervals before the
   * request (the frames that hand the detector a run cost a little more:
   * the placebo then holds them where the swap does), taken as a swap's
   * window and paired with the n frames before them.  A swap too close to
   * the warm-up has no placebo and is left out of both columns. */
  gint detect_interval = 1;
  g_object_get (f, "detect-interval", &detect_interval, NULL);
  detect_interval = MAX (detect_interval, 1);
  WindowStats swap_stats = { 0 }, placebo_stats = { 0 };
  GArray *touched_cpu = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint w = 0; w < window_start->len; w++) {
    const guint a = g_array_index (window_start, guint, w);
    const guint n = g_array_index (window_len, guint, w);
    const guint shift = (n + detect_interval - 1) / detect_interval * detect_interval;
    gboolean steady_before = a >= shift + n;
    for (guint i = steady_before ? a - shift - n : 0; steady_before && i < a; i++)
      steady_before = g_array_index (kind, gint, i) == FRAME_STEADY;
    if (!steady_before)
      continue;
    add_window (&swap_stats, all, a, n, steady_p95);
    add_window (&placebo_stats, all, a - shift, n, steady_p95);
    const guint touched[3] = { a, a + n - 2, a + n - 1 };
    for (guint k = 0; k < 3; k++)
      g_array_append_val (touched_cpu, g_array_index (cpu, double, touched[k]));
  }
  print_stats (&swap_stats, &placebo_stats);
  printf ("in CPU time of the streaming thread: steady median %.1f ms, p95 %.1f ms; request, "
          "swap-in and next frames: median %.1f ms, longest %.1f ms\n",
          quantile ((double *) steady_cpu->data, steady_cpu->len, 0.5),
          quantile ((double *) steady_cpu->data, steady_cpu->len, 0.95),
          quantile ((double *) touched_cpu->data, touched_cpu->len, 0.5),
          quantile ((double *) touched_cpu->data, touched_cpu->len, 1.0));
  g_free (model);
  g_array_free (wall, TRUE);
  g_array_free (cpu, TRUE);
  g_array_free (kind, TRUE);
  g_array_free (window_start, TRUE);
  g_array_free (window_len, TRUE);
  g_array_free (steady_ms, TRUE);
  g_array_free (steady_cpu, TRUE);
  g_array_free (touched_cpu, TRUE);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_object_unref (f);
  gst_harness_teardown (h);
  test_canvas_free (canvas);
  test_faces_free (faces, n_faces);
  return 0;
}
