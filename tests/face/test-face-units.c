/* Unit tests of the face pipeline's parts that need no model: overlap, NMS,
 * matching, the One-Euro filter, crop geometry, the crop against the Python
 * reference (training/facekp_data.py), pixel formats, frame validation. */
#include "face-test-util.h"
#include "onnx-builder.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void
test_iou (void)
{
  FkpFaceBox a = { 0, 0, 10, 10 }, b = { 5, 0, 10, 10 }, c = { 2, 2, 4, 4 }, d = { 20, 20, 5, 5 };
  FkpFaceBox empty = { 3, 3, 0, 0 };
  g_assert_cmpfloat_with_epsilon (fkp_face_box_iou (&a, &b), 50.0 / 150.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (fkp_face_box_iou (&a, &a), 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (fkp_face_box_iou (&a, &c), 16.0 / 100.0, 1e-6);
  g_assert_cmpfloat (fkp_face_box_iou (&a, &d), ==, 0.0);
  g_assert_cmpfloat (fkp_face_box_iou (&a, &empty), ==, 0.0);
  g_assert_cmpfloat (fkp_face_box_iou (&empty, &empty), ==, 0.0);
  g_assert_cmpfloat_with_epsilon (fkp_face_box_iou (&b, &a), fkp_face_box_iou (&a, &b), 1e-7);
  /* Overlap over the smaller box: 1 for a box inside another (a track that
   * shrank onto part of its face), whichever order. */
  g_assert_cmpfloat_with_epsilon (fkp_face_box_overlap_of_smaller (&a, &c), 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (fkp_face_box_overlap_of_smaller (&c, &a), 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (fkp_face_box_overlap_of_smaller (&a, &b), 0.5, 1e-6);
  FkpFaceBox wide = { 0, 5, 40, 10 };
  g_assert_cmpfloat_with_epsilon (fkp_face_box_overlap_of_smaller (&a, &wide), 0.5, 1e-6);
  g_assert_cmpfloat (fkp_face_box_overlap_of_smaller (&a, &d), ==, 0.0);
  g_assert_cmpfloat (fkp_face_box_overlap_of_smaller (&a, &empty), ==, 0.0);
}

static void
test_nms (void)
{
  FkpFaceDetection d[] = {
    { { 1, 0, 10, 10 }, 0.8f },    /* IoU 0.818 with the first 0.9: suppressed */
    { { 0, 0, 10, 10 }, 0.9f },
    { { 20, 20, 10, 10 }, 0.7f },  /* apart: kept */
    { { 0, 0.5f, 10, 10 }, 0.9f }, /* ties with index 1, which comes first and wins */
    { { 6, 0, 10, 10 }, 0.95f },   /* IoU 0.25 with (0,0): both kept */
  };
  size_t kept = fkp_face_nms (d, G_N_ELEMENTS (d), 0.4f);
  /* (1,0): IoU 0.33 with (6,0) would pass, but 0.82 with (0,0) does not. */
  g_assert_cmpuint (kept, ==, 3);
  g_assert_cmpfloat (d[0].score, ==, 0.95f);
  g_assert_cmpfloat (d[0].box.x, ==, 6);
  g_assert_cmpfloat (d[1].score, ==, 0.9f);
  g_assert_cmpfloat (d[1].box.y, ==, 0);
  g_assert_cmpfloat (d[2].score, ==, 0.7f);
  g_assert_cmpfloat (d[2].box.x, ==, 20);
  g_assert_cmpuint (fkp_face_nms (d, 0, 0.4f), ==, 0);
}

static void
test_nms_threshold_edge (void)
{
  /* IoU exactly 1/3 against thresholds just below and above it. */
  FkpFaceDetection d[2] = { { { 0, 0, 10, 10 }, 0.9f }, { { 5, 0, 10, 10 }, 0.8f } };
  FkpFaceDetection e[2];
  memcpy (e, d, sizeof d);
  g_assert_cmpuint (fkp_face_nms (d, 2, 0.3f), ==, 1);
  g_assert_cmpuint (fkp_face_nms (e, 2, 0.34f), ==, 2);
}

static void
test_match (void)
{
  int m[2];
  float a[] = { 0.9f, 0.8f, 0.85f, 0.1f };
  fkp_face_match_greedy (a, 2, 2, 0.3f, m);
  g_assert_cmpint (m[0], ==, 0);
  g_assert_cmpint (m[1], ==, -1);
  float b[] = { 0.5f, 0.6f, 0.7f, 0.2f };
  fkp_face_match_greedy (b, 2, 2, 0.3f, m);
  g_assert_cmpint (m[0], ==, 1);
  g_assert_cmpint (m[1], ==, 0);
  int one[3];
  float c[] = { 0.4f, 0.9f, 0.35f };   /* 3 rows, 1 column */
  fkp_face_match_greedy (c, 3, 1, 0.3f, one);
  g_assert_cmpint (one[0], ==, -1);
  g_assert_cmpint (one[1], ==, 0);
  g_assert_cmpint (one[2], ==, -1);
  fkp_face_match_greedy (NULL, 0, 0, 0.3f, one);
}

/* Box–Muller normal noise from a seeded GRand. */
static double
normal (GRand *r)
{
  double u = g_rand_double_range (r, 1e-12, 1.0), v = g_rand_double (r);
  return sqrt (-2 * log (u)) * cos (2 * G_PI * v);
}

typedef struct {
  double jitter_raw, jitter_smooth;   /* RMS error to the truth on a still point */
  double lag;                         /* mean error on a moving point after 1 s */
} FilterRun;

/* A point of a 100 px face: still with noise, then moving at `speed` px/s. */
static FilterRun
run_filter (double fps, double speed, double noise, double min_cutoff, double beta)
{
  FilterRun out = { 0, 0, 0 };
  GRand *r = g_rand_new_with_seed (7);
  FkpOneEuro f = { 0 };
  int n = (int) (4 * fps);
  double dt = 1.0 / fps;
  for (int i = 0; i < n; i++) {
    double noisy = 50 + noise * normal (r);
    double y = fkp_one_euro_filter (&f, noisy, i ? dt : 0, min_cutoff, beta, 1.0, 100.0);
    if (i >= fps) {   /* after the first second */
      out.jitter_raw += (noisy - 50) * (noisy - 50);
      out.jitter_smooth += (y - 50) * (y - 50);
    }
  }
  out.jitter_raw = sqrt (out.jitter_raw / (n - fps));
  out.jitter_smooth = sqrt (out.jitter_smooth / (n - fps));
  memset (&f, 0, sizeof f);
  double sum = 0;
  int count = 0;
  for (int i = 0; i < n; i++) {
    double truth = speed * i * dt;
    double y = fkp_one_euro_filter (&f, truth, i ? dt : 0, min_cutoff, beta, 1.0, 100.0);
    if (i >= fps) {
      sum += fabs (truth - y);
      count++;
    }
  }
  out.lag = sum / count;
  g_rand_free (r);
  return out;
}

static void
test_one_euro (void)
{
  FkpOneEuro f = { 0 };
  /* A constant stays constant. */
  for (int i = 0; i < 50; i++)
    g_assert_cmpfloat (fkp_one_euro_filter (&f, 12.5, i ? 1 / 30.0 : 0, 1, 1, 1, 100), ==, 12.5);
  /* dt <= 0 (a repeated or backward timestamp) restarts from the sample. */
  g_assert_cmpfloat (fkp_one_euro_filter (&f, 80, 0.0, 1, 1, 1, 100), ==, 80);
  g_assert_cmpfloat (fkp_one_euro_filter (&f, 40, -0.1, 1, 1, 1, 100), ==, 40);
  /* A step moves part of the way, monotonically towards the target. */
  double prev = 40;
  for (int i = 0; i < 30; i++) {
    double y = fkp_one_euro_filter (&f, 100, 1 / 30.0, 1, 1, 1, 100);
    g_assert_cmpfloat (y, >, prev);
    g_assert_cmpfloat (y, <=, 100);
    prev = y;
  }
  g_assert_cmpfloat (prev, >, 99);

  /* Defaults (options_init) on 1 px noise (1 % of the face) and a face moving one face size per second. */
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  FilterRun r = run_filter (30, 100, 1.0, o.smoothing_min_cutoff, o.smoothing_beta);
  g_test_message ("jitter %.3f -> %.3f px (x%.2f), lag at 100 px/s %.2f px", r.jitter_raw,
                  r.jitter_smooth, r.jitter_smooth / r.jitter_raw, r.lag);
  g_assert_cmpfloat (r.jitter_smooth, <, 0.5 * r.jitter_raw);
  g_assert_cmpfloat (r.lag, <, 6.0);
  /* The adaptive part matters: without beta the lag is much worse. */
  FilterRun fixed = run_filter (30, 100, 1.0, o.smoothing_min_cutoff, 0.0);
  g_assert_cmpfloat (fixed.lag, >, 2 * r.lag);

  /* Driven by time, not frames: 60 fps gives about the same lag in pixels. */
  FilterRun fast = run_filter (60, 100, 1.0, o.smoothing_min_cutoff, o.smoothing_beta);
  g_test_message ("lag 30 fps %.2f px, 60 fps %.2f px", r.lag, fast.lag);
  g_assert_cmpfloat (fabs (fast.lag - r.lag), <, 0.25 * r.lag);
}

static void
test_crop_geometry (void)
{
  FkpFaceCrop crop = { 120.5, 80.25, 150, 0.3 };
  float p[3][2] = { { 100, 70 }, { 130.5, 95 }, { 40, 160 } }, q[3][2], back[3][2];
  fkp_face_points_to_crop ((const float (*)[2]) p, 3, &crop, q);
  fkp_face_points_from_crop ((const float (*)[2]) q, 3, &crop, back);
  for (int i = 0; i < 3; i++) {
    g_assert_cmpfloat_with_epsilon (back[i][0], p[i][0], 1e-3);
    g_assert_cmpfloat_with_epsilon (back[i][1], p[i][1], 1e-3);
  }
  /* The centre maps to (0.5, 0.5); a point side/2 along the rotated x axis to (1, 0.5). */
  float c[1][2] = { { 120.5f, 80.25f } }, cq[1][2];
  fkp_face_points_to_crop ((const float (*)[2]) c, 1, &crop, cq);
  g_assert_cmpfloat_with_epsilon (cq[0][0], 0.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (cq[0][1], 0.5, 1e-6);
  float e[1][2] = { { (float) (120.5 + 75 * cos (0.3)), (float) (80.25 + 75 * sin (0.3)) } };
  fkp_face_points_to_crop ((const float (*)[2]) e, 1, &crop, cq);
  g_assert_cmpfloat_with_epsilon (cq[0][0], 1.0, 1e-5);
  g_assert_cmpfloat_with_epsilon (cq[0][1], 0.5, 1e-5);

  /* Crop from points: a 68-point face whose eyes are rolled by 0.25 rad. */
  float pts[FKP_FACE_N_POINTS][2];
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    double x = (i % 10) * 10.0, y = (i / 10) * 8.0;   /* a 90 x 48 block */
    if (i >= 36 && i < 42)
      x = 20, y = 20;
    if (i >= 42 && i < 48)
      x = 60, y = 20;
    double cs = cos (0.25), sn = sin (0.25);
    pts[i][0] = (float) (200 + cs * x - sn * y);
    pts[i][1] = (float) (100 + sn * x + cs * y);
  }
  g_assert_cmpfloat_with_epsilon (fkp_face_eye_angle ((const float (*)[2]) pts), 0.25, 1e-5);
  FkpFaceBox box;
  fkp_face_points_bounds ((const float (*)[2]) pts, FKP_FACE_N_POINTS, &box);
  FkpFaceCrop pc;
  fkp_face_crop_from_points ((const float (*)[2]) pts, FKP_FACE_N_POINTS, 1.5, TRUE, &pc);
  g_assert_cmpfloat_with_epsilon (pc.cx, box.x + box.width / 2, 1e-4);
  g_assert_cmpfloat_with_epsilon (pc.cy, box.y + box.height / 2, 1e-4);
  g_assert_cmpfloat_with_epsilon (pc.side, 1.5 * MAX (box.width, box.height), 1e-4);
  g_assert_cmpfloat_with_epsilon (pc.angle, 0.25, 1e-5);
  fkp_face_crop_from_points ((const float (*)[2]) pts, FKP_FACE_N_POINTS, 1.5, FALSE, &pc);
  g_assert_cmpfloat (pc.angle, ==, 0);
  FkpFaceCrop fc;
  fkp_face_crop_from_frame (640, 480, &fc);
  g_assert_cmpfloat (fc.cx, ==, 320);
  g_assert_cmpfloat (fc.cy, ==, 240);
  g_assert_cmpfloat (fc.side, ==, 640);

  /* NME: a uniform 1 px shift over an inter-ocular distance of 40 px. */
  float shifted[FKP_FACE_N_POINTS][2];
  float truth[FKP_FACE_N_POINTS][2];
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    truth[i][0] = (float) i;
    truth[i][1] = 0;
    shifted[i][0] = (float) i;
    shifted[i][1] = 1;
  }
  truth[36][0] = 0;
  truth[45][0] = 40;
  shifted[36][0] = 0;
  shifted[45][0] = 40;
  g_assert_cmpfloat_with_epsilon (fkp_face_nme ((const float (*)[2]) shifted,
                                                (const float (*)[2]) truth), 1.0 / 40, 1e-6);
}

/* The C crop against crops computed by training/facekp_data.py warp_crop. */
static void
test_warp_reference (void)
{
  char *path = test_data_path ("face-warp-reference.txt");
  char *text = NULL;
  GError *error = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  char **lines = g_strsplit (text, "\n", -1);
  int cases = 0;
  gboolean saw_k_above_1 = FALSE, saw_rotation = FALSE, saw_outside = FALSE;
  for (guint i = 0; lines[i] && lines[i + 1]; i++) {
    if (lines[i][0] == '#' || lines[i][0] == '\0')
      continue;
    char name[256];
    double cx, cy, side, angle;
    int size;
    g_assert_cmpint (sscanf (lines[i], "%255s %lf %lf %lf %lf %d", name, &cx, &cy, &side, &angle,
                             &size), ==, 6);
    char *png = test_data_path (name);
    cairo_surface_t *surface;
    FkpFaceFrame frame = test_load_png (png, &surface);
    FkpFaceSampler s;
    fkp_face_sampler_init (&s, &frame);
    FkpFaceCrop crop = { cx, cy, side, angle };
    float *out = g_new (float, size * size);
    fkp_face_warp_gray (&s, &crop, size, out);
    char **values = g_strsplit (g_strstrip (lines[i + 1]), " ", -1);
    g_assert_cmpuint (g_strv_length (values), ==, (guint) (size * size));
    double worst = 0;
    for (int k = 0; k < size * size; k++)
      worst = MAX (worst, fabs (out[k] - g_ascii_strtod (values[k], NULL)));
    g_test_message ("%s side %.1f angle %.2f size %d: max |C - Python| = %.2e", name, side, angle,
                    size, worst);
    g_assert_cmpfloat (worst, <, 1e-3);
    saw_k_above_1 |= side / size >= 1.5;
    saw_rotation |= angle != 0;
    saw_outside |= cx + side / 2 > frame.width || cy - side / 2 < 0;
    g_strfreev (values);
    g_free (out);
    g_free (png);
    cairo_surface_destroy (surface);
    cases++;
    i++;
  }
  g_assert_cmpint (cases, >=, 6);
  g_assert_true (saw_k_above_1 && saw_rotation && saw_outside);
  g_strfreev (lines);
  g_free (text);
  g_free (path);
}

/* One picture in every pixel layout gives the same crop; GRAY8 its luma. */
static void
test_formats (void)
{
  const int w = 37, h = 29;
  GRand *r = g_rand_new_with_seed (3);
  guint8 rgb[29][37][3];
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        rgb[y][x][c] = (guint8) g_rand_int_range (r, 0, 256);
  g_rand_free (r);
  static const struct {
    FkpFaceFormat format;
    int bpp, r, g, b;
  } layouts[] = {
    { FKP_FACE_FORMAT_RGB, 3, 0, 1, 2 },  { FKP_FACE_FORMAT_BGR, 3, 2, 1, 0 },
    { FKP_FACE_FORMAT_RGBA, 4, 0, 1, 2 }, { FKP_FACE_FORMAT_BGRA, 4, 2, 1, 0 },
    { FKP_FACE_FORMAT_ARGB, 4, 1, 2, 3 }, { FKP_FACE_FORMAT_ABGR, 4, 3, 2, 1 },
    { FKP_FACE_FORMAT_RGBx, 4, 0, 1, 2 }, { FKP_FACE_FORMAT_BGRx, 4, 2, 1, 0 },
    { FKP_FACE_FORMAT_xRGB, 4, 1, 2, 3 }, { FKP_FACE_FORMAT_xBGR, 4, 3, 2, 1 },
  };
  FkpFaceCrop crop = { 18.0, 15.0, 30.0, 0.4 };
  float reference[16 * 16], got[16 * 16];
  for (size_t l = 0; l < G_N_ELEMENTS (layouts); l++) {
    int stride = w * layouts[l].bpp + 5;   /* padded rows */
    guint8 *buf = g_malloc0 ((size_t) stride * h);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        guint8 *p = buf + y * stride + x * layouts[l].bpp;
        if (layouts[l].bpp == 4)
          p[0] = p[1] = p[2] = p[3] = 0x5a;   /* alpha / padding: must be ignored */
        p[layouts[l].r] = rgb[y][x][0];
        p[layouts[l].g] = rgb[y][x][1];
        p[layouts[l].b] = rgb[y][x][2];
      }
    FkpFaceFrame frame = { w, h, layouts[l].format, buf, stride, FKP_FACE_TIMESTAMP_NONE };
    g_assert_true (fkp_face_frame_validate (&frame, NULL));
    FkpFaceSampler s;
    fkp_face_sampler_init (&s, &frame);
    fkp_face_warp_gray (&s, &crop, 16, l == 0 ? reference : got);
    if (l > 0)
      g_assert_cmpmem (reference, sizeof reference, got, sizeof got);
    /* Spot-check the BT.601 weights on one pixel. */
    g_assert_cmpfloat_with_epsilon (fkp_face_sampler_gray (&s, 5, 7),
                                    0.299 * rgb[7][5][0] + 0.587 * rgb[7][5][1] + 0.114 * rgb[7][5][2], 1e-3);
    g_free (buf);
  }
  /* The luma plane as GRAY8: the same crop up to the rounding of luma to bytes. */
  guint8 luma[29][40];
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      luma[y][x] = (guint8) lrint (0.299 * rgb[y][x][0] + 0.587 * rgb[y][x][1] + 0.114 * rgb[y][x][2]);
  FkpFaceFrame gray = { w, h, FKP_FACE_FORMAT_GRAY8, &luma[0][0], 40, FKP_FACE_TIMESTAMP_NONE };
  FkpFaceSampler s;
  fkp_face_sampler_init (&s, &gray);
  fkp_face_warp_gray (&s, &crop, 16, got);
  for (int k = 0; k < 16 * 16; k++)
    g_assert_cmpfloat_with_epsilon (got[k], reference[k], 0.5 + 1e-3);
}

static void
test_frame_validate (void)
{
  guint8 px[64 * 4] = { 0 };
  struct {
    FkpFaceFrame frame;
    gboolean ok;
  } cases[] = {
    { { 8, 8, FKP_FACE_FORMAT_RGBA, px, 32, 0 }, TRUE },
    { { 8, 8, FKP_FACE_FORMAT_RGBA, px, 31, 0 }, FALSE },   /* stride shorter than a row */
    { { 8, 8, FKP_FACE_FORMAT_RGB, NULL, 24, 0 }, FALSE },
    { { 0, 8, FKP_FACE_FORMAT_GRAY8, px, 8, 0 }, FALSE },
    { { 8, -1, FKP_FACE_FORMAT_GRAY8, px, 8, 0 }, FALSE },
    { { 8, 8, (FkpFaceFormat) 99, px, 32, 0 }, FALSE },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *error = NULL;
    gboolean ok = fkp_face_frame_validate (&cases[i].frame, &error);
    g_assert_cmpint (ok, ==, cases[i].ok);
    if (!ok) {
      g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
      g_error_free (error);
    }
  }
  g_assert_false (fkp_face_frame_validate (NULL, NULL));
}

/* Pasting moves the landmarks with the pixels: a labelled bright dot lands
 * where the moved label says. */
static void
test_synth_paste (void)
{
  guint8 src[60][80][3];
  memset (src, 0, sizeof src);
  FkpSynthFace face;
  memset (&face, 0, sizeof face);
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    face.points[i][0] = 40.5f;
    face.points[i][1] = 30.5f;
  }
  face.points[0][0] = 10.5f;   /* dot centre at pixel (10, 50) */
  face.points[0][1] = 50.5f;
  for (int y = 48; y <= 52; y++)
    for (int x = 8; x <= 12; x++)
      src[y][x][0] = src[y][x][1] = src[y][x][2] = 255;
  face.image = (FkpFaceFrame) { 80, 60, FKP_FACE_FORMAT_RGB, &src[0][0][0], 240, 0 };
  guint8 *canvas = g_malloc0 (200 * 150 * 4);
  FkpSynthPlacement where = { 100, 75, 1.5, 0.5 };
  float moved[FKP_FACE_N_POINTS][2];
  fkp_synth_paste (canvas, 200, 150, 800, &face, &where, moved);
  int x = (int) floor (moved[0][0]), y = (int) floor (moved[0][1]);
  g_assert_cmpint (canvas[y * 800 + x * 4 + 1], >, 200);
  /* The image centre lands at the placement's centre. */
  g_assert_cmpfloat_with_epsilon (moved[1][0], 100 + 1.5 * (cos (0.5) * 0.5 - sin (0.5) * 0.5), 1e-3);
  g_free (canvas);
}

/* A landmark model small enough to build here: an 8x8 gray input, one fully
 * connected layer to 136 outputs, and the contract keys given. */
static char *
write_tiny_landmark_model (const char *dir, const char *box_scale)
{
  static float weights[136 * 64];
  Builder *b = builder_new (13);
  builder_input (b, "image", 4, (int64_t[]) { 1, 1, 8, 8 });
  builder_init_float (b, "fc", 2, (int64_t[]) { 136, 64 }, weights);
  builder_node (b, "Flatten", "flatten", IN ("image"), OUT ("f"));
  Onnx__NodeProto *n = builder_node (b, "Gemm", "fc1", IN ("f", "fc"), OUT ("points"));
  node_int (b, n, "transB", 1);
  builder_output (b, "points");
  builder_metadata (b, "facekp.task", "landmarks68");
  builder_metadata (b, "facekp.input.size", "8");
  builder_metadata (b, "facekp.crop.points_scale", "1.5");
  if (box_scale)
    builder_metadata (b, "facekp.crop.box_scale", box_scale);
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  char *path = g_build_filename (dir, box_scale ? box_scale : "no-box-scale", NULL);
  g_assert_true (g_file_set_contents (path, (const char *) buf, (gssize) len, NULL));
  g_free (buf);
  return path;
}

/* facekp.crop.box_scale sizes the crops from face boxes; without it they
 * take the points' scale; a bad value is the model's error. */
static void
test_box_scale (void)
{
  char *dir = g_dir_make_tmp ("facekp-box-scale-XXXXXX", NULL);
  g_assert_nonnull (dir);
  const FkpFaceBox box = { 10, 20, 40, 30 };
  struct { const char *key; double side; } cases[] = { { NULL, 1.5 * 40 }, { "1.65", 1.65 * 40 } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    char *path = write_tiny_landmark_model (dir, cases[i].key);
    GError *error = NULL;
    FkpLandmarkModel *m = fkp_landmark_model_new (path, 1, NULL, NULL, &error);
    g_assert_no_error (error);
    FkpFaceCrop crop;
    fkp_landmark_model_crop_from_box (m, &box, &crop);
    g_assert_cmpfloat_with_epsilon (crop.side, cases[i].side, 1e-9);
    g_assert_cmpfloat_with_epsilon (crop.cx, 30.0, 1e-9);
    g_assert_cmpfloat_with_epsilon (crop.cy, 35.0, 1e-9);
    g_assert_cmpfloat (crop.angle, ==, 0.0);
    fkp_landmark_model_free (m);
    g_unlink (path);
    g_free (path);
  }
  const char *bad[] = { "0", "wide", "nan" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    char *path = write_tiny_landmark_model (dir, bad[i]);
    GError *error = NULL;
    g_assert_null (fkp_landmark_model_new (path, 1, NULL, NULL, &error));
    g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL);
    g_assert_nonnull (strstr (error->message, "facekp.crop.box_scale"));
    g_error_free (error);
    g_unlink (path);
    g_free (path);
  }
  g_rmdir (dir);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/face/iou", test_iou);
  g_test_add_func ("/face/nms", test_nms);
  g_test_add_func ("/face/nms-threshold-edge", test_nms_threshold_edge);
  g_test_add_func ("/face/match", test_match);
  g_test_add_func ("/face/one-euro", test_one_euro);
  g_test_add_func ("/face/crop-geometry", test_crop_geometry);
  g_test_add_func ("/face/warp-reference", test_warp_reference);
  g_test_add_func ("/face/formats", test_formats);
  g_test_add_func ("/face/frame-validate", test_frame_validate);
  g_test_add_func ("/face/synth-paste", test_synth_paste);
  g_test_add_func ("/face/box-scale", test_box_scale);
  return g_test_run ();
}
