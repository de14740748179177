/* Frames with faces for the pipeline tests: the shipped models, the
 * labelled crops of tests/data pasted on a synthetic background at known
 * places, and matching the pipeline's faces to them. */
#ifndef FACE_SCENE_H
#define FACE_SCENE_H

#include "face-test-util.h"

/* The frames' size. */
#define W 640
#define H 480

typedef struct {
  char *landmark_path, *detector_path;   /* NULL: not found */
  GArray *crops;                          /* TestCrop, from face-crops.csv */
  double model_alone_nme;                 /* on the crops; -1: not measured yet */
} TestScenes;

extern TestScenes test_scenes;

/* Finds the models (FACE_TEST_LANDMARK_MODEL: another shipped landmark
 * model's file name) and loads the crops; test_scenes_clear() frees them. */
void test_scenes_init (void);
void test_scenes_clear (void);

/* A frame with faces: crop i at placement i.  The canvas belongs to the caller. */
typedef struct {
  guint8 *canvas;
  FkpFaceFrame frame;
  int n;
  float truth[8][FKP_FACE_N_POINTS][2];
} TestScene;

/* FALSE, the test skipped, when a shipped model is not found. */
gboolean test_have_models (void);
/* FALSE, the test skipped, when the landmark model is too inaccurate for
 * accuracy and tracking checks (an interim model). */
gboolean test_have_accurate_model (void);
FkpFacePipeline *test_new_pipeline_with_latency (FkpFaceSource source, gboolean smoothing,
                                                 int detect_latency);
FkpFacePipeline *test_new_pipeline (FkpFaceSource source, gboolean smoothing);
int test_default_latency (void);
const FkpSynthFace *test_crop_face (guint i);
void test_scene_draw (TestScene *sc, const guint *which, const FkpSynthPlacement *where, int n,
                      guint seed, guint64 ts);
FkpSynthPlacement test_place (guint which, double cx, double cy, double size, double degrees);
int test_match_faces (const TestScene *sc, const FkpFaceList *out, int *match);
double test_oracle_nme (FkpLandmarkModel *m, const FkpFaceFrame *frame, const float (*truth)[2]);
FkpLandmarkModel *test_new_oracle (void);

#endif
