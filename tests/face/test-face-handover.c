/* Pipelines built ahead of use (facekpfilter's model changes): the warm-up
 * starts no thread and changes no answer, and the tracks move from one
 * pipeline to another with their ids, the next frame following them while
 * the new detector runs in the background. */
#include "face-test-util.h"

#include <string.h>

#define W 320
#define H 240

static guint
count_threads (void)
{
  guint n = 0;
  GDir *dir = g_dir_open ("/proc/self/task", 0, NULL);
  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir))
    n++;
  g_dir_close (dir);
  return n;
}

/* A 320x240 BGRx frame with the first labelled crop pasted in its middle. */
static FkpFaceFrame
face_frame (GArray *crops, guint8 **pixels)
{
  const TestCrop *crop = &g_array_index (crops, TestCrop, 0);
  *pixels = g_malloc (W * H * 4);
  fkp_synth_background (*pixels, W, H, W * 4, 7);
  FkpSynthPlacement where = { W / 2.0, H / 2.0, 150.0 / crop->face.image.height, 0.0 };
  float points[FKP_FACE_N_POINTS][2];
  fkp_synth_paste (*pixels, W, H, W * 4, &crop->face, &where, points);
  return (FkpFaceFrame) { .width = W, .height = H, .format = FKP_FACE_FORMAT_BGRx,
                          .data = *pixels, .stride = W * 4, .timestamp_ns = 0 };
}

static FkpFacePipeline *
new_pipeline (int threads)
{
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.threads = threads;
  GError *error = NULL;
  FkpFacePipeline *p = fkp_face_pipeline_new (&o, &error);
  g_assert_no_error (error);
  return p;
}

static void
process (FkpFacePipeline *p, FkpFaceFrame *frame, guint64 index, FkpFaceList *out)
{
  GError *error = NULL;
  frame->timestamp_ns = index * 33333333u;
  g_assert_true (fkp_face_pipeline_process (p, frame, NULL, 0, out, &error));
  g_assert_no_error (error);
}

static void
test_warm_up (void)
{
  GArray *crops = test_load_crops ();
  guint8 *pixels;
  FkpFaceFrame frame = face_frame (crops, &pixels);

  /* threads=2: the helper threads come with the first processed frame, on
   * its thread, not with the warm-up. */
  FkpFacePipeline *warmed = new_pipeline (2);
  guint before = count_threads ();
  GError *error = NULL;
  g_assert_true (fkp_face_pipeline_warm_up (warmed, &error));
  g_assert_no_error (error);
  if (before > 0)
    g_assert_cmpuint (count_threads (), ==, before);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (warmed), ==, 0);

  /* The same answers as a pipeline that was not warmed up (one thread each,
   * so that both run the same arithmetic). */
  fkp_face_pipeline_set_threads (warmed, 1);
  FkpFacePipeline *cold = new_pipeline (1);
  FkpFaceList a, b;
  fkp_face_list_init (&a);
  fkp_face_list_init (&b);
  for (guint64 i = 0; i < 3; i++) {
    process (warmed, &frame, i, &a);
    process (cold, &frame, i, &b);
    g_assert_cmpuint (a.n_faces, ==, 1);
    g_assert_cmpuint (b.n_faces, ==, 1);
    g_assert_cmpuint (a.faces[0].id, ==, b.faces[0].id);
    g_assert_cmpmem (a.faces[0].points, sizeof a.faces[0].points, b.faces[0].points,
                     sizeof b.faces[0].points);
  }
  fkp_face_list_clear (&a);
  fkp_face_list_clear (&b);
  fkp_face_pipeline_free (warmed);
  fkp_face_pipeline_free (cold);
  g_free (pixels);
  test_free_crops (crops);
}

static void
test_take_tracks (void)
{
  GArray *crops = test_load_crops ();
  guint8 *pixels;
  FkpFaceFrame frame = face_frame (crops, &pixels);
  FkpFaceList out;
  fkp_face_list_init (&out);

  FkpFacePipeline *old = new_pipeline (1);
  process (old, &frame, 0, &out);
  fkp_face_pipeline_reset (old);   /* ids are not reused: the next track is 2 */
  for (guint64 i = 1; i < 4; i++)
    process (old, &frame, i, &out);
  g_assert_cmpuint (out.n_faces, ==, 1);
  guint id = out.faces[0].id;
  g_assert_cmpuint (id, >, 1);

  FkpFacePipeline *fresh = new_pipeline (1);
  g_assert_true (fkp_face_pipeline_warm_up (fresh, NULL));
  g_assert_true (fkp_face_pipeline_take_tracks (fresh, old, NULL));
  /* The next frame follows the face: same id, and no detector run holds
   * the frame (the new detector's first run comes on the old schedule). */
  process (fresh, &frame, 4, &out);
  g_assert_cmpuint (out.n_faces, ==, 1);
  g_assert_cmpuint (out.faces[0].id, ==, id);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (fresh), ==,
                    fkp_face_pipeline_get_background_detector_runs (fresh));
  /* Later frames: the new detector confirms the face (frame 10, ten after
   * the last run), which keeps its id. */
  for (guint64 i = 5; i < 12; i++) {
    process (fresh, &frame, i, &out);
    g_assert_cmpuint (out.n_faces, ==, 1);
    g_assert_cmpuint (out.faces[0].id, ==, id);
  }
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (fresh), >, 0);

  /* The old pipeline has no track left: its next face is a new one. */
  process (old, &frame, 4, &out);
  g_assert_cmpuint (out.n_faces, ==, 1);
  g_assert_cmpuint (out.faces[0].id, !=, id);

  fkp_face_list_clear (&out);
  fkp_face_pipeline_free (fresh);
  fkp_face_pipeline_free (old);
  g_free (pixels);
  test_free_crops (crops);
}

/* A pipeline made with keep_*_model (facekpfilter: a change of the other
 * model) loads neither model, cannot run before it takes over, and then
 * runs on the running pipeline's models exactly as that pipeline would
 * have: same ids, same points, frame by frame, against a twin that never
 * handed over.  A model to keep from another file fails the handover and
 * moves nothing. */
static void
test_keep_models (void)
{
  GArray *crops = test_load_crops ();
  guint8 *pixels;
  FkpFaceFrame frame = face_frame (crops, &pixels);
  FkpFaceList out, twin_out;
  fkp_face_list_init (&out);
  fkp_face_list_init (&twin_out);
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.threads = 1;
  o.detect_latency = 0;   /* on this thread: the same frames run the detector in both */
  o.detect_interval = 3;
  GError *error = NULL;
  FkpFacePipeline *old = fkp_face_pipeline_new (&o, &error);
  g_assert_no_error (error);
  FkpFacePipeline *twin = fkp_face_pipeline_new (&o, &error);
  g_assert_no_error (error);
  for (guint64 i = 0; i < 4; i++) {
    process (old, &frame, i, &out);
    process (twin, &frame, i, &twin_out);
  }
  g_assert_cmpuint (out.n_faces, ==, 1);

  FkpFaceOptions keep = o;
  keep.keep_landmark_model = TRUE;
  keep.keep_detector_model = TRUE;
  FkpFacePipeline *fresh = fkp_face_pipeline_new (&keep, &error);
  g_assert_no_error (error);
  g_assert_true (fkp_face_pipeline_warm_up (fresh, &error));
  g_assert_no_error (error);
  frame.timestamp_ns = 4 * 33333333u;
  g_assert_false (fkp_face_pipeline_process (fresh, &frame, NULL, 0, &out, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* the 160² landmark model is another file: refused, nothing moved */
  FkpFaceOptions other = keep;
  other.landmark_model = "facekp-landmarks68-160.onnx";
  FkpFacePipeline *wrong = fkp_face_pipeline_new (&other, &error);
  g_assert_no_error (error);
  g_assert_false (fkp_face_pipeline_take_tracks (wrong, old, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  fkp_face_pipeline_free (wrong);

  g_assert_true (fkp_face_pipeline_take_tracks (fresh, old, &error));
  g_assert_no_error (error);
  guint64 twin_runs = fkp_face_pipeline_get_detector_runs (twin);
  for (guint64 i = 4; i < 12; i++) {
    process (fresh, &frame, i, &out);
    process (twin, &frame, i, &twin_out);
    g_assert_cmpuint (out.n_faces, ==, twin_out.n_faces);
    for (size_t f = 0; f < out.n_faces; f++) {
      g_assert_cmpuint (out.faces[f].id, ==, twin_out.faces[f].id);
      g_assert_cmpmem (out.faces[f].points, sizeof out.faces[f].points, twin_out.faces[f].points,
                       sizeof twin_out.faces[f].points);
    }
  }
  /* the kept detector ran, on the twin's schedule */
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (fresh), >, 0);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (fresh), ==,
                    fkp_face_pipeline_get_detector_runs (twin) - twin_runs);
  /* the old pipeline gave its models away */
  frame.timestamp_ns = 12 * 33333333u;
  g_assert_false (fkp_face_pipeline_process (old, &frame, NULL, 0, &out, &error));
  g_clear_error (&error);

  fkp_face_list_clear (&out);
  fkp_face_list_clear (&twin_out);
  fkp_face_pipeline_free (old);
  fkp_face_pipeline_free (fresh);
  fkp_face_pipeline_free (twin);
  g_free (pixels);
  test_free_crops (crops);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/face/handover/warm-up", test_warm_up);
  g_test_add_func ("/face/handover/take-tracks", test_take_tracks);
  g_test_add_func ("/face/handover/keep-models", test_keep_models);
  return g_test_run ();
}
