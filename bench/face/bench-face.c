/* Face pipeline speed at 640x480: ms per detection frame and per tracking
 * frame, with one and with four faces, against a peer measured in the same
 * run: one bare landmark-network run (the floor of a tracking frame per face).
 *
 *   bench-face [--frames N] [--threads N]
 *
 * Frames are synthetic (dataset crops pasted on a textured canvas, moving
 * slightly each frame), so every measured frame finds and tracks its faces. */
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

int
main (int argc, char **argv)
{
  int frames = 20, threads = 1;
  GOptionEntry entries[] = {
    { "frames", 'n', 0, G_OPTION_ARG_INT, &frames, "frames per measurement (20)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "threads per model run (1)", "N" },
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
  FkpFacePipeline *p = fkp_face_pipeline_new (&o, &error);
  if (p == NULL) {
    fprintf (stderr, "bench-face: %s\n", error->message);
    return 1;
  }

  /* Peer: the bare landmark network on one crop. */
  FkpLandmarkModel *net = fkp_landmark_model_new (fkp_face_pipeline_get_options (p)->landmark_model,
                                                  threads, &error);
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
