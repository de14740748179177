/* Face pipeline speed at 640x480: ms per detection frame and per tracking
 * frame, with one and with four faces, against a peer measured in the same
 * run: one bare landmark-network run (the floor of a tracking frame per face).
 *
 *   bench-face [--frames N] [--threads N]
 *   bench-face --sequence N [--latencies 0,1,2] [--rounds R] [--threads N]
 *
 * Frames are synthetic (dataset crops pasted on a textured canvas, moving
 * slightly each frame), so every measured frame finds and tracks its faces.
 *
 * --sequence: the distribution of frame times (median, 95th percentile,
 * max) over N frames of one face moving across the frame, at the default
 * detect_interval, for each detect_latency given (0: the detector runs on
 * the frame that needs it; N: on its own thread, joining N frames later);
 * the latencies take turns, one pass over the sequence each, for R rounds,
 * so load from other processes hits them alike. */
#include "synth.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 640
#define H 480

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
  cairo_surface_t *surface;
  FkpSynthFace face;
} Crop;

static void
draw (guint8 *canvas, const Crop *crops, int n_faces, int t, float truth[][FKP_FACE_N_POINTS][2])
{
  fkp_synth_background (canvas, W, H, W * 4, 1);
  for (int k = 0; k < n_faces; k++) {
    const FkpSynthFace *f = &crops[k].face;
    FkpFaceBox b;
    fkp_face_points_bounds ((const float (*)[2]) f->points, FKP_FACE_N_POINTS, &b);
    double size = n_faces == 1 ? 160 : 100;
    double cx = n_faces == 1 ? 320 : 160 + 320 * (k % 2), cy = n_faces == 1 ? 240 : 120 + 240 * (k / 2);
    FkpSynthPlacement where = { cx + 2 * sin (t * 0.3), cy + 2 * cos (t * 0.3),
                                size / MAX (b.width, b.height), 0.05 * sin (t * 0.2) };
    fkp_synth_paste (canvas, W, H, W * 4, f, &where, truth[k]);
  }
}

/* Median ms per frame over `n` frames; detect_interval 1 makes every frame a
 * detection frame, a huge one makes every frame after the first a tracking frame. */
static double
time_frames (FkpFacePipeline *p, const Crop *crops, int n_faces, gboolean detect_every_frame,
             int n, size_t *faces_seen)
{
  guint8 *canvas = g_malloc ((size_t) W * H * 4);
  float truth[4][FKP_FACE_N_POINTS][2];
  FkpFaceList out;
  fkp_face_list_init (&out);
  fkp_face_pipeline_set_detect_interval (p, detect_every_frame ? 1 : 1000000, NULL);
  fkp_face_pipeline_reset (p);
  double *ms = g_new (double, n);
  *faces_seen = 0;
  for (int t = -3; t < n; t++) {   /* 3 warm-up frames start the tracks */
    draw (canvas, crops, n_faces, t + 3, truth);
    FkpFaceFrame frame = { W, H, FKP_FACE_FORMAT_BGRx, canvas, W * 4,
                           (guint64) (t + 3) * 33333333 };
    gint64 t0 = g_get_monotonic_time ();
    GError *error = NULL;
    if (!fkp_face_pipeline_process (p, &frame, NULL, 0, &out, &error))
      g_error ("%s", error->message);
    if (t >= 0) {
      ms[t] = (g_get_monotonic_time () - t0) / 1000.0;
      *faces_seen += out.n_faces;
    }
  }
  double m = median (ms, n);
  g_free (ms);
  g_free (canvas);
  fkp_face_list_clear (&out);
  return m;
}

/* One face moving across the frame: a loop of `n` frames drawn beforehand,
 * so that drawing does not hand the detector's thread free time. */
static guint8 **
draw_moving_face (const Crop *crop, int n)
{
  guint8 **frames = g_new (guint8 *, n);
  FkpFaceBox b;
  fkp_face_points_bounds ((const float (*)[2]) crop->face.points, FKP_FACE_N_POINTS, &b);
  float truth[FKP_FACE_N_POINTS][2];
  for (int t = 0; t < n; t++) {
    double phase = 2 * G_PI * t / n;   /* one cycle per loop: the loop has no seam */
    FkpSynthPlacement where = { 320 + 150 * sin (phase), 240 + 60 * sin (2 * phase),
                                150 / MAX (b.width, b.height), 0.2 * sin (3 * phase) };
    frames[t] = g_malloc ((size_t) W * H * 4);
    fkp_synth_background (frames[t], W, H, W * 4, 1);
    fkp_synth_paste (frames[t], W, H, W * 4, &crop->face, &where, truth);
  }
  return frames;
}

typedef struct {
  int latency;
  GArray *ms;                 /* double, every frame of every round */
  GArray *pass;               /* double, every frame of this round */
  double best[4];             /* the quietest round (lowest mean): median, p95, max, mean */
  size_t faces, frames;
  uint64_t detector_runs, background_runs;
} LatencyRun;

static double
percentile (GArray *values, double q)
{
  double *v = g_memdup2 (values->data, values->len * sizeof (double));
  qsort (v, values->len, sizeof *v, cmp_double);
  double r = v[MIN ((guint) floor (q * (values->len - 1) + 0.5), values->len - 1)];
  g_free (v);
  return r;
}

static int
bench_sequence (const FkpFaceOptions *o, const Crop *crop, int n_frames, const char *latencies,
                int rounds)
{
  const int loop = 120, warmup = 5;
  guint8 **frames = draw_moving_face (crop, loop);
  char **names = g_strsplit (latencies, ",", -1);
  guint n_runs = g_strv_length (names);
  LatencyRun *runs = g_new0 (LatencyRun, n_runs);
  GError *error = NULL;
  FkpFacePipeline *p = fkp_face_pipeline_new (o, &error);
  if (p == NULL) {
    fprintf (stderr, "bench-face: %s\n", error->message);
    return 1;
  }
  for (guint i = 0; i < n_runs; i++) {
    runs[i].latency = (int) g_ascii_strtoll (names[i], NULL, 10);
    runs[i].ms = g_array_new (FALSE, FALSE, sizeof (double));
    runs[i].pass = g_array_new (FALSE, FALSE, sizeof (double));
    runs[i].best[3] = INFINITY;
  }
  FkpFaceList out;
  fkp_face_list_init (&out);
  for (int r = 0; r < rounds; r++)
    for (guint i = 0; i < n_runs; i++) {
      LatencyRun *run = &runs[i];
      if (!fkp_face_pipeline_set_detect_latency (p, run->latency, &error)) {
        fprintf (stderr, "bench-face: %s\n", error->message);
        return 1;
      }
      fkp_face_pipeline_reset (p);
      uint64_t runs0 = fkp_face_pipeline_get_detector_runs (p);
      uint64_t bg0 = fkp_face_pipeline_get_background_detector_runs (p);
      g_array_set_size (run->pass, 0);
      for (int t = 0; t < warmup + n_frames; t++) {
        FkpFaceFrame frame = { W, H, FKP_FACE_FORMAT_BGRx, frames[t % loop], W * 4,
                               (guint64) t * 33333333 };
        gint64 t0 = g_get_monotonic_time ();
        if (!fkp_face_pipeline_process (p, &frame, NULL, 0, &out, &error))
          g_error ("%s", error->message);
        double ms = (g_get_monotonic_time () - t0) / 1000.0;
        if (t >= warmup) {
          g_array_append_val (run->ms, ms);
          g_array_append_val (run->pass, ms);
          run->faces += out.n_faces;
          run->frames++;
        }
      }
      run->detector_runs += fkp_face_pipeline_get_detector_runs (p) - runs0;
      run->background_runs += fkp_face_pipeline_get_background_detector_runs (p) - bg0;
      double sum = 0;
      for (guint k = 0; k < run->pass->len; k++)
        sum += g_array_index (run->pass, double, k);
      if (sum / run->pass->len < run->best[3]) {
        run->best[0] = percentile (run->pass, 0.5);
        run->best[1] = percentile (run->pass, 0.95);
        run->best[2] = percentile (run->pass, 1.0);
        run->best[3] = sum / run->pass->len;
      }
    }
  printf ("facekp face pipeline, one face moving, 640x480 BGRx, %d thread(s), detect_interval %d, "
          "%d frames x %d rounds per latency, rounds interleaved; the quietest round (lowest "
          "mean) of each latency, and the median and p95 over all rounds\n\n", o->threads,
          o->detect_interval, n_frames, rounds);
  printf ("| detect_latency | median ms | p95 ms | max ms | mean ms | p95 / median | all rounds: median / p95 ms | faces per frame | detector runs (on its thread) |\n");
  printf ("|---|---|---|---|---|---|---|---|---|\n");
  for (guint i = 0; i < n_runs; i++) {
    LatencyRun *run = &runs[i];
    printf ("| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f | %.2f | %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT ") |\n",
            run->latency, run->best[0], run->best[1], run->best[2], run->best[3],
            run->best[1] / run->best[0], percentile (run->ms, 0.5), percentile (run->ms, 0.95),
            (double) run->faces / run->frames, run->detector_runs, run->background_runs);
    g_array_free (run->ms, TRUE);
    g_array_free (run->pass, TRUE);
  }
  fkp_face_list_clear (&out);
  fkp_face_pipeline_free (p);
  for (int t = 0; t < loop; t++)
    g_free (frames[t]);
  g_free (frames);
  g_free (runs);
  g_strfreev (names);
  return 0;
}

int
main (int argc, char **argv)
{
  int frames = 20, threads = 1, sequence = 0, rounds = 3;
  char *latencies = NULL;
  GOptionEntry entries[] = {
    { "frames", 'n', 0, G_OPTION_ARG_INT, &frames, "frames per measurement (20)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "threads per model run (1)", "N" },
    { "sequence", 's', 0, G_OPTION_ARG_INT, &sequence,
      "frame times over N frames of a moving face instead", "N" },
    { "latencies", 'l', 0, G_OPTION_ARG_STRING, &latencies,
      "--sequence: detect_latency values to compare (0,1,2)", "L,L,..." },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "--sequence: rounds (3)", "R" },
    { NULL }
  };
  GError *error = NULL;
  GOptionContext *ctx = g_option_context_new ("— face pipeline ms per frame at 640x480");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "%s\n", error->message);
    return 2;
  }
  g_option_context_free (ctx);
  frames = MAX (3, frames);

  /* Four labelled crops from tests/data. */
  static const char *names[4] = { "face-Aishwarya_Rai_00.png", "face-Ed_Rendell_01.png",
                                  "face-Linda_Dano_32.png", "face-Marc_Shaiman_11.png" };
  Crop crops[4];
  for (int i = 0; i < 4; i++) {
    char *path = g_build_filename (BENCH_DATA_DIR, names[i], NULL);
    cairo_surface_t *s = cairo_image_surface_create_from_png (path);
    if (cairo_surface_status (s) != CAIRO_STATUS_SUCCESS)
      g_error ("cannot read %s", path);
    crops[i].surface = s;
    crops[i].face.image = (FkpFaceFrame) {
      cairo_image_surface_get_width (s), cairo_image_surface_get_height (s),
      G_BYTE_ORDER == G_LITTLE_ENDIAN ? FKP_FACE_FORMAT_BGRx : FKP_FACE_FORMAT_xRGB,
      cairo_image_surface_get_data (s), cairo_image_surface_get_stride (s), 0 };
    g_free (path);
  }
  /* Their labels: from face-crops.csv. */
  char *csv = g_build_filename (BENCH_DATA_DIR, "face-crops.csv", NULL);
  char *text;
  if (!g_file_get_contents (csv, &text, NULL, &error))
    g_error ("%s", error->message);
  char **lines = g_strsplit (text, "\n", -1);
  for (int i = 0; i < 4; i++)
    for (guint l = 1; lines[l]; l++)
      if (g_str_has_prefix (lines[l], names[i])) {
        char **cells = g_strsplit (lines[l], ",", -1);
        for (int k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
          crops[i].face.points[k / 2][k % 2] = (float) g_ascii_strtod (cells[k + 1], NULL);
        g_strfreev (cells);
      }
  g_strfreev (lines);
  g_free (text);
  g_free (csv);

  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.threads = threads;
  o.max_faces = 4;
  if (sequence > 0) {
    int status = bench_sequence (&o, &crops[0], sequence, latencies ? latencies : "0,1,2",
                                 MAX (1, rounds));
    for (int i = 0; i < 4; i++)
      cairo_surface_destroy (crops[i].surface);
    g_free (latencies);
    return status;
  }
  /* A detection frame here is one that waits for the detector. */
  o.detect_latency = 0;
  FkpFacePipeline *p = fkp_face_pipeline_new (&o, &error);
  if (p == NULL) {
    fprintf (stderr, "bench-face: %s\n", error->message);
    return 1;
  }

  /* Peer: the bare landmark network on one crop. */
  FkpLandmarkModel *net = fkp_landmark_model_new (fkp_face_pipeline_get_options (p)->landmark_model,
                                                  threads, NULL, NULL, &error);
  FkpFaceSampler s;
  fkp_face_sampler_init (&s, &crops[0].face.image);
  FkpFaceCrop crop;
  fkp_landmark_model_crop_from_points (net, (const float (*)[2]) crops[0].face.points, &crop);
  double *ms = g_new (double, frames);
  float pts[FKP_FACE_N_POINTS][2];
  for (int i = -2; i < frames; i++) {
    gint64 t0 = g_get_monotonic_time ();
    fkp_landmark_model_predict (net, &s, &crop, pts, NULL);
    if (i >= 0)
      ms[i] = (g_get_monotonic_time () - t0) / 1000.0;
  }
  double peer = median (ms, frames);
  g_free (ms);
  fkp_landmark_model_free (net);

  printf ("facekp face pipeline, 640x480 BGRx, %d thread(s), median of %d frames\n", threads,
          frames);
  printf ("peer: one landmark network run (crop + inference): %.2f ms\n\n", peer);
  printf ("| frame | faces | ms per frame | faces found (mean) | ratio to peer |\n");
  printf ("|---|---|---|---|---|\n");
  int counts[2] = { 1, 4 };
  for (int c = 0; c < 2; c++)
    for (int detect = 1; detect >= 0; detect--) {
      size_t seen;
      double m = time_frames (p, crops, counts[c], detect, frames, &seen);
      printf ("| %s | %d | %.2f | %.2f | %.2f |\n", detect ? "detection" : "tracking", counts[c], m,
              (double) seen / frames, m / peer);
    }
  fkp_face_pipeline_free (p);
  for (int i = 0; i < 4; i++)
    cairo_surface_destroy (crops[i].surface);
  return 0;
}
