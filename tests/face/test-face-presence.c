/* The landmark model's optional outputs and what the pipeline does with
 * them: face presence (faces below min_presence are no faces), point errors,
 * and the roll of every face.
 *
 * - A tiny model built here, with and without the outputs, against a
 *   reference computed in the test from its weights.
 * - The shipped model: real faces keep a high presence, backgrounds give no
 *   face, roll follows the true points' eye line on rotated faces, yaw
 *   changes sign on mirrored pictures and follows the yaw of the true points. */
#include "face-test-util.h"
#include "onnx-builder.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define W 640
#define H 480

/* ---- A tiny model ----------------------------------------------------- */

#define TINY_W_PRESENCE 0.0002f
#define TINY_B_PRESENCE -1.0f
#define TINY_W_ERROR 0.002f
#define TINY_B_ERROR 0.5f
#define TINY_ERROR_MAX 0.25f

/* 8x8 gray input; points from one Gemm whose weights are zero, so its bias
 * places the points, a grid over the crop's middle; with_quality: also presence = sigmoid(w · x + b)
 * and point_error = M · sigmoid(w' · x + b'), every weight the same. */
static char *
write_tiny_model (const char *dir, gboolean with_quality, const char *presence_name)
{
  static float zeros[136 * 64];
  float grid[136], wp[64], we[68 * 64], be[68], bp[1] = { TINY_B_PRESENCE };
  float max[1] = { TINY_ERROR_MAX };
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {   /* a grid over the middle half of the crop */
    grid[2 * i] = 0.25f + 0.5f * (float) (i % 8) / 7.0f;
    grid[2 * i + 1] = 0.25f + 0.5f * (float) (i / 8) / 8.0f;
  }
  for (int i = 0; i < 64; i++)
    wp[i] = TINY_W_PRESENCE;
  for (int i = 0; i < 68 * 64; i++)
    we[i] = TINY_W_ERROR;
  for (int i = 0; i < 68; i++)
    be[i] = TINY_B_ERROR;
  Builder *b = builder_new (13);
  builder_input (b, "image", 4, (int64_t[]) { 1, 1, 8, 8 });
  builder_init_float (b, "fc", 2, (int64_t[]) { 136, 64 }, zeros);
  builder_init_float (b, "fc_bias", 1, (int64_t[]) { 136 }, grid);
  builder_node (b, "Flatten", "flatten", IN ("image"), OUT ("f"));
  Onnx__NodeProto *n = builder_node (b, "Gemm", "fc1", IN ("f", "fc", "fc_bias"), OUT ("points"));
  node_int (b, n, "transB", 1);
  builder_output (b, "points");
  if (with_quality) {
    builder_init_float (b, "wp", 2, (int64_t[]) { 1, 64 }, wp);
    builder_init_float (b, "bp", 1, (int64_t[]) { 1 }, bp);
    builder_init_float (b, "we", 2, (int64_t[]) { 68, 64 }, we);
    builder_init_float (b, "be", 1, (int64_t[]) { 68 }, be);
    builder_init_float (b, "emax", 1, (int64_t[]) { 1 }, max);
    n = builder_node (b, "Gemm", "p", IN ("f", "wp", "bp"), OUT ("presence_logit"));
    node_int (b, n, "transB", 1);
    builder_node (b, "Sigmoid", "ps", IN ("presence_logit"), OUT ("presence"));
    n = builder_node (b, "Gemm", "e", IN ("f", "we", "be"), OUT ("error_logit"));
    node_int (b, n, "transB", 1);
    builder_node (b, "Sigmoid", "es", IN ("error_logit"), OUT ("error_unit"));
    builder_node (b, "Mul", "em", IN ("error_unit", "emax"), OUT ("point_error"));
    builder_output (b, "presence");
    builder_output (b, "point_error");
    builder_metadata (b, "facekp.presence.output", presence_name);
    builder_metadata (b, "facekp.point_error.output", "point_error");
  }
  builder_metadata (b, "facekp.task", "landmarks68");
  builder_metadata (b, "facekp.input.size", "8");
  builder_metadata (b, "facekp.crop.points_scale", "1.5");
  builder_metadata (b, "facekp.crop.refine", "0");
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  char *path = g_build_filename (dir, with_quality ? presence_name : "plain", NULL);
  g_assert_true (g_file_set_contents (path, (const char *) buf, (gssize) len, NULL));
  g_free (buf);
  return path;
}

static double
sigmoid (double x)
{
  return 1.0 / (1.0 + exp (-x));
}

/* One frame of gray `value` with one upstream box in its middle. */
static gboolean
run_tiny (const char *model, float min_presence, guint8 value, FkpFaceList *out)
{
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.landmark_model = model;
  o.source = FKP_FACE_SOURCE_UPSTREAM;
  o.smoothing = FALSE;
  o.min_presence = min_presence;
  GError *error = NULL;
  FkpFacePipeline *p = fkp_face_pipeline_new (&o, &error);
  g_assert_no_error (error);
  guint8 *pixels = g_malloc (64 * 64);
  memset (pixels, value, 64 * 64);
  FkpFaceFrame frame = { 64, 64, FKP_FACE_FORMAT_GRAY8, pixels, 64, FKP_FACE_TIMESTAMP_NONE };
  FkpFaceBox box = { 16, 16, 32, 32 };
  gboolean ok = fkp_face_pipeline_process (p, &frame, &box, 1, out, &error);
  g_assert_no_error (error);
  gboolean has = fkp_face_pipeline_has_presence (p);
  fkp_face_pipeline_free (p);
  g_free (pixels);
  g_assert_true (ok);
  return has;
}

static void
test_tiny_outputs (void)
{
  char *dir = g_dir_make_tmp ("facekp-presence-XXXXXX", NULL);
  g_assert_nonnull (dir);
  char *plain = write_tiny_model (dir, FALSE, NULL);
  char *quality = write_tiny_model (dir, TRUE, "presence");
  FkpFaceList out;
  fkp_face_list_init (&out);

  /* Without the outputs: the face is kept, its score the box's (1), no presence or errors. */
  g_assert_false (run_tiny (plain, 0.5f, 200, &out));
  g_assert_cmpuint (out.n_faces, ==, 1);
  g_assert_cmpfloat (out.faces[0].score, ==, 1.0f);
  g_assert_cmpfloat (out.faces[0].detector_score, ==, 1.0f);
  g_assert_cmpfloat (out.faces[0].presence, ==, -1.0f);
  g_assert_cmpfloat (out.faces[0].point_error[0], ==, -1.0f);

  /* With them: the crop (centre 32, 32, side 1.5 x 32 = 48 px, all inside
   * the frame) is `value` everywhere, the input (value - 0) x 1. */
  for (int value = 0; value <= 250; value += 50) {
    const double presence = sigmoid (64 * TINY_W_PRESENCE * value + TINY_B_PRESENCE);
    const double error = TINY_ERROR_MAX * sigmoid (64 * TINY_W_ERROR * value + TINY_B_ERROR) * 48.0;
    g_assert_true (run_tiny (quality, 0.0f, (guint8) value, &out));
    g_assert_cmpuint (out.n_faces, ==, 1);
    g_assert_cmpfloat_with_epsilon (out.faces[0].presence, presence, 1e-5);
    g_assert_cmpfloat (out.faces[0].score, ==, out.faces[0].presence);
    g_assert_cmpfloat (out.faces[0].detector_score, ==, 1.0f);
    for (int i = 0; i < FKP_FACE_N_POINTS; i++)
      g_assert_cmpfloat_with_epsilon (out.faces[0].point_error[i], error, 1e-4);
    /* Below min_presence the face is not one. */
    const float threshold = (float) presence;
    run_tiny (quality, MIN (1.0f, threshold + 0.01f), (guint8) value, &out);
    g_assert_cmpuint (out.n_faces, ==, 0);
    run_tiny (quality, MAX (0.0f, threshold - 0.01f), (guint8) value, &out);
    g_assert_cmpuint (out.n_faces, ==, 1);
  }

  /* A key that names no output is the model's error. */
  char *bad = write_tiny_model (dir, TRUE, "no-such-output");
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.landmark_model = bad;
  o.source = FKP_FACE_SOURCE_FULL_FRAME;
  GError *error = NULL;
  g_assert_null (fkp_face_pipeline_new (&o, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "facekp.presence.output"));
  g_clear_error (&error);
  o.landmark_model = plain;
  o.min_presence = 1.5f;
  g_assert_null (fkp_face_pipeline_new (&o, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  fkp_face_list_clear (&out);
  for (char **path = (char *[]) { plain, quality, bad, NULL }; *path; path++) {
    g_unlink (*path);
    g_free (*path);
  }
  g_rmdir (dir);
  g_free (dir);
}

/* ---- The shipped model ------------------------------------------------ */

static char *landmark_path, *detector_path;
static GArray *crops;

static FkpFacePipeline *
shipped_pipeline (FkpFaceSource source)
{
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.landmark_model = landmark_path;
  o.detector_model = detector_path;
  o.source = source;
  o.smoothing = FALSE;
  o.detect_latency = 0;
  GError *error = NULL;
  FkpFacePipeline *p = fkp_face_pipeline_new (&o, &error);
  g_assert_no_error (error);
  return p;
}

static gboolean
have_presence_model (void)
{
  if (landmark_path == NULL || detector_path == NULL) {
    g_test_skip ("shipped models not found");
    return FALSE;
  }
  FkpFacePipeline *p = shipped_pipeline (FKP_FACE_SOURCE_FULL_FRAME);
  gboolean has = fkp_face_pipeline_has_presence (p);
  fkp_face_pipeline_free (p);
  if (!has)
    g_test_skip ("the landmark model has no presence output");
  return has;
}

/* Real faces (the labelled crops, each the whole frame, all near frontal)
 * keep their presence above 0.5, far above the default threshold, with
 * finite point errors. */
static void
test_real_faces (void)
{
  if (!have_presence_model ())
    return;
  FkpFacePipeline *p = shipped_pipeline (FKP_FACE_SOURCE_FULL_FRAME);
  FkpFaceList out;
  fkp_face_list_init (&out);
  for (guint i = 0; i < crops->len; i++) {
    const TestCrop *c = &g_array_index (crops, TestCrop, i);
    fkp_face_pipeline_reset (p);
    GError *error = NULL;
    g_assert_true (fkp_face_pipeline_process (p, &c->face.image, NULL, 0, &out, &error));
    g_assert_cmpuint (out.n_faces, ==, 1);
    g_test_message ("%s: presence %.3f", c->name, out.faces[0].presence);
    g_assert_cmpfloat (out.faces[0].presence, >=, 0.5);
    g_assert_cmpfloat (out.faces[0].score, ==, out.faces[0].presence);
    for (int k = 0; k < FKP_FACE_N_POINTS; k++)
      g_assert_true (out.faces[0].point_error[k] > 0 && isfinite (out.faces[0].point_error[k]));
  }
  fkp_face_list_clear (&out);
  fkp_face_pipeline_free (p);
}

/* Frames without a face (the synthetic backgrounds, flat gray, noise) give
 * no face with the detector. */
static void
test_no_faces (void)
{
  if (!have_presence_model ())
    return;
  FkpFacePipeline *p = shipped_pipeline (FKP_FACE_SOURCE_DETECT);
  FkpFaceList out;
  fkp_face_list_init (&out);
  guint8 *canvas = g_malloc ((size_t) W * H * 4);
  GRand *rand = g_rand_new_with_seed (19);
  size_t found = 0;
  for (int kind = 0; kind < 6; kind++) {
    if (kind < 4) {
      fkp_synth_background (canvas, W, H, W * 4, (guint) kind);
    } else if (kind == 4) {
      memset (canvas, 128, (size_t) W * H * 4);
    } else {
      for (size_t i = 0; i < (size_t) W * H * 4; i++)
        canvas[i] = (guint8) g_rand_int_range (rand, 0, 256);
    }
    FkpFaceFrame frame = { W, H, FKP_FACE_FORMAT_BGRx, canvas, W * 4, FKP_FACE_TIMESTAMP_NONE };
    for (int t = 0; t < 3; t++) {
      GError *error = NULL;
      g_assert_true (fkp_face_pipeline_process (p, &frame, NULL, 0, &out, &error));
      for (size_t j = 0; j < out.n_faces; j++)
        g_test_message ("kind %d frame %d: a face, presence %.3f, detector %.3f", kind, t,
                        out.faces[j].presence, out.faces[j].detector_score);
      found += out.n_faces;
    }
  }
  g_assert_cmpuint (found, ==, 0);
  g_rand_free (rand);
  g_free (canvas);
  fkp_face_list_clear (&out);
  fkp_face_pipeline_free (p);
}

/* Roll against the eye line of the true points on rotated faces: every
 * crop pasted at 100 px rolled by -30 … +30 degrees; the mean absolute
 * difference must stay within 3 degrees. */
static void
test_roll (void)
{
  if (landmark_path == NULL || detector_path == NULL) {
    g_test_skip ("shipped models not found");
    return;
  }
  FkpFacePipeline *p = shipped_pipeline (FKP_FACE_SOURCE_DETECT);
  FkpFaceList out;
  fkp_face_list_init (&out);
  guint8 *canvas = g_malloc ((size_t) W * H * 4);
  float truth[FKP_FACE_N_POINTS][2];
  double sum = 0.0;
  int n = 0;
  for (guint i = 0; i < crops->len; i++)
    for (int degrees = -30; degrees <= 30; degrees += 10) {
      const FkpSynthFace *f = &g_array_index (crops, TestCrop, i).face;
      FkpFaceBox b;
      fkp_face_points_bounds ((const float (*)[2]) f->points, FKP_FACE_N_POINTS, &b);
      FkpSynthPlacement where = { W / 2.0, H / 2.0, 100.0 / MAX (b.width, b.height),
                                  degrees * G_PI / 180 };
      fkp_synth_background (canvas, W, H, W * 4, i);
      fkp_synth_paste (canvas, W, H, W * 4, f, &where, truth);
      FkpFaceFrame frame = { W, H, FKP_FACE_FORMAT_BGRx, canvas, W * 4, FKP_FACE_TIMESTAMP_NONE };
      fkp_face_pipeline_reset (p);
      GError *error = NULL;
      g_assert_true (fkp_face_pipeline_process (p, &frame, NULL, 0, &out, &error));
      if (out.n_faces != 1)
        continue;
      double want = fkp_face_eye_angle ((const float (*)[2]) truth) * 180.0 / G_PI;
      double diff = fabs (out.faces[0].roll - want);
      sum += MIN (diff, 360.0 - diff);
      n++;
    }
  g_test_message ("roll: %d faces, mean absolute error %.3f degrees", n, sum / MAX (n, 1));
  g_assert_cmpint (n, >=, (int) (crops->len * 7 * 3 / 4));
  g_assert_cmpfloat (sum / n, <, 3.0);
  g_free (canvas);
  fkp_face_list_clear (&out);
  fkp_face_pipeline_free (p);
}

/* Flips a BGRx canvas left for right. */
static void
mirror_canvas (guint8 *canvas)
{
  for (int y = 0; y < H; y++) {
    guint32 *row = (guint32 *) (void *) (canvas + (size_t) y * W * 4);
    for (int x = 0; x < W / 2; x++) {
      guint32 t = row[x];
      row[x] = row[W - 1 - x];
      row[W - 1 - x] = t;
    }
  }
}

/* Yaw on mirrored pictures: every crop pasted at 120 px, upright and rolled
 * ±15 degrees, then the same frame mirrored.  Where the head is clearly
 * turned (|yaw| of the true points > 8 degrees) the two yaws have opposite
 * signs (but where the points fail), and each follows the yaw fitted to the
 * true points. */
static void
test_yaw_mirrored (void)
{
  if (landmark_path == NULL || detector_path == NULL) {
    g_test_skip ("shipped models not found");
    return;
  }
  FkpFacePipeline *p = shipped_pipeline (FKP_FACE_SOURCE_DETECT);
  FkpFaceList out;
  fkp_face_list_init (&out);
  guint8 *canvas = g_malloc ((size_t) W * H * 4);
  float truth[FKP_FACE_N_POINTS][2];
  int turned = 0, opposite = 0, n = 0;
  double sum = 0.0, sum_sym = 0.0;
  for (guint i = 0; i < crops->len; i++)
    for (int degrees = -15; degrees <= 15; degrees += 15) {
      const FkpSynthFace *f = &g_array_index (crops, TestCrop, i).face;
      FkpFaceBox b;
      fkp_face_points_bounds ((const float (*)[2]) f->points, FKP_FACE_N_POINTS, &b);
      FkpSynthPlacement where = { W / 2.0, H / 2.0, 120.0 / MAX (b.width, b.height),
                                  degrees * G_PI / 180 };
      FkpHeadPose want;
      fkp_face_head_pose ((const float (*)[2]) f->points, &want);
      double yaw[2];
      gboolean found = TRUE;
      for (int m = 0; m < 2; m++) {
        fkp_synth_background (canvas, W, H, W * 4, i);
        fkp_synth_paste (canvas, W, H, W * 4, f, &where, truth);
        if (m)
          mirror_canvas (canvas);
        FkpFaceFrame frame = { W, H, FKP_FACE_FORMAT_BGRx, canvas, W * 4, FKP_FACE_TIMESTAMP_NONE };
        fkp_face_pipeline_reset (p);
        GError *error = NULL;
        g_assert_true (fkp_face_pipeline_process (p, &frame, NULL, 0, &out, &error));
        found = found && out.n_faces == 1;
        if (out.n_faces == 1) {
          yaw[m] = out.faces[0].yaw;
          sum += fabs (yaw[m] - (m ? -want.yaw : want.yaw));
          n++;
        }
      }
      if (!found)
        continue;
      sum_sym += fabs (yaw[0] + yaw[1]);
      if (fabs (want.yaw) > 8) {
        g_test_message ("%s rolled %d: true points' yaw %.1f, picture %.1f, mirrored %.1f",
                        g_array_index (crops, TestCrop, i).name, degrees, want.yaw, yaw[0], yaw[1]);
        turned++;
        opposite += (yaw[0] > 0) == (want.yaw > 0) && (yaw[1] > 0) == (want.yaw < 0);
      }
    }
  g_test_message ("yaw: %d faces, mean |yaw - yaw of the true points| %.2f deg; pictures and "
                  "mirrors: mean |yaw + yaw'| %.2f deg; %d of %d turned heads with the right "
                  "sign in both", n, sum / MAX (n, 1), sum_sym / MAX (n / 2, 1), opposite, turned);
  g_assert_cmpint (n, >=, (int) (crops->len * 3 * 2 * 3 / 4));
  g_assert_cmpint (turned, >=, 2);
  /* Of 16, one misses: face-Linda_Dano_32.png, near profile, mirrored and
   * rolled, where the points themselves fail (its yaw reads -2). */
  g_assert_cmpint (opposite, >=, turned * 9 / 10);
  g_assert_cmpfloat (sum / n, <, 6.0);
  g_free (canvas);
  fkp_face_list_clear (&out);
  fkp_face_pipeline_free (p);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *model = g_getenv ("FACE_TEST_LANDMARK_MODEL");
  landmark_path = fkp_face_find_model (model && *model ? model : FKP_FACE_LANDMARK_MODEL_NAME, NULL);
  detector_path = fkp_face_find_model (FKP_FACE_DETECTOR_MODEL_NAME, NULL);
  crops = test_load_crops ();
  g_test_add_func ("/face/presence/tiny-model", test_tiny_outputs);
  g_test_add_func ("/face/presence/real-faces", test_real_faces);
  g_test_add_func ("/face/presence/no-faces", test_no_faces);
  g_test_add_func ("/face/presence/roll", test_roll);
  g_test_add_func ("/face/presence/yaw-mirrored", test_yaw_mirrored);
  int status = g_test_run ();
  test_free_crops (crops);
  g_free (landmark_path);
  g_free (detector_path);
  return status;
}
