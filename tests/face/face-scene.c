/* The shipped models and labelled crops that the pipeline tests
 * (test-face-pipeline.c, test-face-async.c) draw their frames from, and the
 * helpers both use. */
#include "face-scene.h"

TestScenes test_scenes = { .model_alone_nme = -1 };

void
test_scenes_init (void)
{
  /* FACE_TEST_LANDMARK_MODEL: another shipped landmark model to run every check with. */
  const char *model_name = g_getenv ("FACE_TEST_LANDMARK_MODEL");
  test_scenes.landmark_path = fkp_face_find_model (model_name ? model_name
                                                              : FKP_FACE_LANDMARK_MODEL_NAME, NULL);
  test_scenes.detector_path = fkp_face_find_model (FKP_FACE_DETECTOR_MODEL_NAME, NULL);
  test_scenes.crops = test_load_crops ();
  test_scenes.model_alone_nme = -1;
}

void
test_scenes_clear (void)
{
  test_free_crops (test_scenes.crops);
  g_free (test_scenes.landmark_path);
  g_free (test_scenes.detector_path);
  test_scenes = (TestScenes) { .model_alone_nme = -1 };
}

gboolean
test_have_models (void)
{
  if (test_scenes.landmark_path && test_scenes.detector_path)
    return TRUE;
  g_test_skip ("shipped models not found (models/facekp-landmarks68.onnx, models/face-detector.onnx)");
  return FALSE;
}

/* test_new_pipeline: detect_latency 0, the detector on the frame that needs
 * it, which the pipeline checks' bounds were measured with; the checks under
 * /face/pipeline/async/ ask for the detector on its own thread. */
FkpFacePipeline *
test_new_pipeline_with_latency (FkpFaceSource source, gboolean smoothing, int detect_latency)
{
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  o.landmark_model = test_scenes.landmark_path;
  o.detector_model = test_scenes.detector_path;
  o.source = source;
  o.smoothing = smoothing;
  o.threads = 1;
  o.detect_latency = detect_latency;
  GError *error = NULL;
  FkpFacePipeline *p = fkp_face_pipeline_new (&o, &error);
  g_assert_no_error (error);
  return p;
}

FkpFacePipeline *
test_new_pipeline (FkpFaceSource source, gboolean smoothing)
{
  return test_new_pipeline_with_latency (source, smoothing, 0);
}

/* The default latency, as the element and fkp_face_options_init give it. */
int
test_default_latency (void)
{
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  return o.detect_latency;
}

const FkpSynthFace *
test_crop_face (guint i)
{
  return &g_array_index (test_scenes.crops, TestCrop, i % test_scenes.crops->len).face;
}

void
test_scene_draw (TestScene *sc, const guint *which, const FkpSynthPlacement *where, int n,
                 guint seed, guint64 ts)
{
  if (sc->canvas == NULL)
    sc->canvas = g_malloc ((size_t) W * H * 4);
  fkp_synth_background (sc->canvas, W, H, W * 4, seed);
  for (int i = 0; i < n; i++)
    fkp_synth_paste (sc->canvas, W, H, W * 4, test_crop_face (which[i]), &where[i], sc->truth[i]);
  sc->n = n;
  sc->frame = (FkpFaceFrame) { W, H, FKP_FACE_FORMAT_BGRx, sc->canvas, W * 4, ts };
}

/* Placement of a crop so that its points' box is `size` px. */
FkpSynthPlacement
test_place (guint which, double cx, double cy, double size, double degrees)
{
  FkpFaceBox b;
  fkp_face_points_bounds ((const float (*)[2]) test_crop_face (which)->points, FKP_FACE_N_POINTS,
                          &b);
  return (FkpSynthPlacement) { cx, cy, size / MAX (b.width, b.height), degrees * G_PI / 180 };
}

/* Greedy match of true faces to output faces (IoU >= 0.3); returns the number found. */
int
test_match_faces (const TestScene *sc, const FkpFaceList *out, int *match)
{
  float iou[8 * FKP_FACE_MAX_FACES_LIMIT];
  size_t n_out = MIN (out->n_faces, (size_t) FKP_FACE_MAX_FACES_LIMIT);
  for (int k = 0; k < sc->n; k++) {
    FkpFaceBox tb;
    fkp_face_points_bounds ((const float (*)[2]) sc->truth[k], FKP_FACE_N_POINTS, &tb);
    for (size_t j = 0; j < n_out; j++)
      iou[k * n_out + j] = fkp_face_box_iou (&tb, &out->faces[j].box);
  }
  fkp_face_match_greedy (iou, sc->n, n_out, 0.3f, match);
  int found = 0;
  for (int k = 0; k < sc->n; k++)
    found += match[k] >= 0;
  return found;
}

/* The landmark model alone on the crop from the true points of face k. */
double
test_oracle_nme (FkpLandmarkModel *m, const FkpFaceFrame *frame, const float (*truth)[2])
{
  FkpFaceSampler s;
  FkpFaceCrop crop;
  float pred[FKP_FACE_N_POINTS][2];
  fkp_face_sampler_init (&s, frame);
  fkp_landmark_model_crop_from_points (m, truth, &crop);
  g_assert_true (fkp_landmark_model_predict (m, &s, &crop, pred, NULL));
  return fkp_face_nme ((const float (*)[2]) pred, truth);
}

FkpLandmarkModel *
test_new_oracle (void)
{
  GError *error = NULL;
  FkpLandmarkModel *m = fkp_landmark_model_new (test_scenes.landmark_path, 1, NULL, NULL, &error);
  g_assert_no_error (error);
  return m;
}

/* Tracking follows the model's own points, so checks of accuracy and of
 * tracking (the pipeline within 0.02 of the model alone, stable ids) need a
 * model that finds landmarks: a weak one is not robust to the looser crops
 * that detector boxes give (measured: a 12-epoch model at 0.087 on these
 * crops lost 0.08 NME through the detector path; the shipped 30-epoch model,
 * 0.067 here, loses none).  Above this bound, as for an interim model from
 * an unfinished training run, those checks are skipped with the measured
 * NME and the rest still runs. */
#define MODEL_NME_FOR_TRACKING 0.08

gboolean
test_have_accurate_model (void)
{
  if (!test_have_models ())
    return FALSE;
  if (test_scenes.model_alone_nme < 0) {
    FkpLandmarkModel *m = test_new_oracle ();
    double sum = 0;
    for (guint i = 0; i < test_scenes.crops->len; i++)
      sum += test_oracle_nme (m, &test_crop_face (i)->image,
                              (const float (*)[2]) test_crop_face (i)->points);
    test_scenes.model_alone_nme = sum / test_scenes.crops->len;
    fkp_landmark_model_free (m);
  }
  if (test_scenes.model_alone_nme <= MODEL_NME_FOR_TRACKING)
    return TRUE;
  g_test_skip_printf ("the landmark model's NME on the true-points crops is %.3f (> %.2f): an "
                      "interim model, too inaccurate for accuracy and tracking checks",
                      test_scenes.model_alone_nme, MODEL_NME_FOR_TRACKING);
  return FALSE;
}
