/* Internals of libfacekp-face shared between its files and its tests. */
#ifndef FACEKP_FACE_PRIVATE_H
#define FACEKP_FACE_PRIVATE_H

#include <facekp/face.h>
#include <facekp/nn.h>

G_BEGIN_DECLS

/* ---- Frame access (image.c) ------------------------------------------ */

/* Per-format byte layout, resolved once per frame. */
typedef struct {
  const uint8_t *data;
  int stride, width, height;
  int bytes_per_pixel;
  int r, g, b;          /* byte offsets of the channels; all 0 for GRAY8 */
  gboolean gray;
} FkpFaceSampler;

gboolean fkp_face_frame_validate (const FkpFaceFrame *frame, GError **error);
void fkp_face_sampler_init (FkpFaceSampler *s, const FkpFaceFrame *frame);

/* BT.601 luma of pixel (x, y) (0 outside the frame). */
static inline float
fkp_face_sampler_gray (const FkpFaceSampler *s, int x, int y)
{
  if (x < 0 || y < 0 || x >= s->width || y >= s->height)
    return 0.0f;
  const uint8_t *p = s->data + (size_t) y * s->stride + (size_t) x * s->bytes_per_pixel;
  if (s->gray)
    return p[0];
  return 0.299f * p[s->r] + 0.587f * p[s->g] + 0.114f * p[s->b];
}

/* ---- Crops (image.c) -------------------------------------------------- */

/* A square crop: centre (frame px), side (frame px), angle (radians). */
typedef struct {
  double cx, cy, side, angle;
} FkpFaceCrop;

/* The contract's warp: size x size float gray samples into `out`. */
void fkp_face_warp_gray (const FkpFaceSampler *s, const FkpFaceCrop *crop, int size, float *out);

/* Crop from points: square centred on the points' bounding box, side
 * `scale` x its larger side, rotated by the eye line when `eye_line`. */
void fkp_face_crop_from_points (const float (*points)[2], int n_points, double scale,
                                gboolean eye_line, FkpFaceCrop *crop);
void fkp_face_crop_from_box (const FkpFaceBox *box, double scale, FkpFaceCrop *crop);
void fkp_face_crop_from_frame (int width, int height, FkpFaceCrop *crop);

/* Angle of the line from the left eye centre (mean of 36–41) to the right (42–47). */
double fkp_face_eye_angle (const float (*points)[2]);

/* Head pose fitted to the points (pose.c): degrees, axes and signs as
 * FkpFace's yaw and pitch; roll is the fit's own in-plane angle (FkpFace.roll
 * is the eye line's); scale: frame pixels per unit of the mean shape (the
 * outer eye corners' distance of a frontal face), 0 when the points give no
 * pose (all on one line). */
typedef struct {
  float yaw, pitch, roll, scale;
} FkpHeadPose;

void fkp_face_head_pose (const float (*points)[2], FkpHeadPose *pose);

void fkp_face_points_to_crop (const float (*points)[2], int n, const FkpFaceCrop *crop,
                              float (*q)[2]);
void fkp_face_points_from_crop (const float (*q)[2], int n, const FkpFaceCrop *crop,
                                float (*points)[2]);
void fkp_face_points_bounds (const float (*points)[2], int n, FkpFaceBox *box);

/* NME: mean point distance / distance between points 36 and 45 of `truth`. */
double fkp_face_nme (const float (*pred)[2], const float (*truth)[2]);

/* ---- Boxes, NMS, matching (track.c) ----------------------------------- */

typedef struct {
  FkpFaceBox box;
  float score;
} FkpFaceDetection;

/* The larger side. */
float fkp_face_box_size (const FkpFaceBox *b);
float fkp_face_box_iou (const FkpFaceBox *a, const FkpFaceBox *b);
/* Intersection over the smaller box's area: 1 when one box lies inside the other. */
float fkp_face_box_overlap_of_smaller (const FkpFaceBox *a, const FkpFaceBox *b);

/* Sorts by descending score and keeps a detection only if its IoU with every
 * kept one is <= iou_threshold.  Returns the number kept (in place). */
size_t fkp_face_nms (FkpFaceDetection *dets, size_t n, float iou_threshold);

/* Greedy one-to-one matching on an n_rows x n_cols IoU matrix (row-major):
 * repeatedly pairs the highest remaining IoU >= min_iou.  Writes the matched
 * column per row (-1 for none) to `row_to_col`. */
void fkp_face_match_greedy (const float *iou, size_t n_rows, size_t n_cols, float min_iou,
                            int *row_to_col);

/* One-Euro filter of one coordinate. */
typedef struct {
  gboolean started;
  double value, speed;
} FkpOneEuro;

/* Filters `x` sampled `dt` seconds after the previous sample.  The speed fed
 * to the adaptive cutoff is divided by `speed_unit` (the face size, so beta
 * does not depend on the face's size in pixels).  dt <= 0 restarts. */
double fkp_one_euro_filter (FkpOneEuro *f, double x, double dt, double min_cutoff, double beta,
                            double d_cutoff, double speed_unit);

/* ---- The landmark model (landmarks.c) -------------------------------- */

typedef struct _FkpLandmarkModel FkpLandmarkModel;

/* What a landmark run says besides the points, from the model's optional
 * outputs: presence 0…1 (-1 without the output), each point's expected
 * error in frame pixels (-1 without the output). */
typedef struct {
  float presence;
  float point_error[FKP_FACE_N_POINTS];
} FkpFaceQuality;

/* pause_func (may be NULL) runs between the pieces of the load, on this
 * thread (FkpNetOptions); later runs do not call it. */
FkpLandmarkModel *fkp_landmark_model_new (const char *path, int threads,
                                          FkpFacePauseFunc pause_func, void *pause_data,
                                          GError **error);
void fkp_landmark_model_free (FkpLandmarkModel *model);
int fkp_landmark_model_input_size (const FkpLandmarkModel *model);
int fkp_landmark_model_refine (const FkpLandmarkModel *model);
const char *fkp_landmark_model_metadata (const FkpLandmarkModel *model, const char *key);
void fkp_landmark_model_set_threads (FkpLandmarkModel *model, int threads);
/* Called between the steps of its runs (NULL: none), as in FkpNetOptions. */
void fkp_landmark_model_set_pause (FkpLandmarkModel *model, FkpFacePauseFunc func, void *data);
gboolean fkp_landmark_model_has_presence (const FkpLandmarkModel *model);
/* The quality outputs of the last fkp_landmark_model_predict (the last pass
 * of a refined one). */
const FkpFaceQuality *fkp_landmark_model_last_quality (const FkpLandmarkModel *model);

/* The crop the contract takes from points (tracking, refinement). */
void fkp_landmark_model_crop_from_points (const FkpLandmarkModel *model,
                                          const float (*points)[2], FkpFaceCrop *crop);
/* The crop from a landmark box: upright, side facekp.crop.box_scale × the
 * box's larger side. */
void fkp_landmark_model_crop_from_box (const FkpLandmarkModel *model, const FkpFaceBox *box,
                                       FkpFaceCrop *crop);

/* What the last predicted crop looked like, coarsely: 16×16 block means,
 * normalised to zero mean and unit norm, so that the dot product of two
 * signatures is their correlation (brightness and contrast drop out). */
#define FKP_FACE_SIGNATURE 256
void fkp_landmark_model_last_signature (const FkpLandmarkModel *model,
                                        float signature[FKP_FACE_SIGNATURE]);

/* One prediction on one crop; points in frame pixels. */
gboolean fkp_landmark_model_predict (FkpLandmarkModel *model, const FkpFaceSampler *s,
                                     const FkpFaceCrop *crop, float (*points)[2],
                                     GError **error);
/* Prediction on a crop that did not come from points, then facekp.crop.refine
 * re-crops from the predicted points.  min_presence >= 0 (and a presence
 * output): a refinement whose presence falls below it from at least it is
 * undone, and the answer is the pass before's. */
gboolean fkp_landmark_model_predict_refined (FkpLandmarkModel *model, const FkpFaceSampler *s,
                                             const FkpFaceCrop *crop, float min_presence,
                                             float (*points)[2], GError **error);

/* ---- The detector (detector.c) --------------------------------------- */

typedef struct _FkpFaceDetector FkpFaceDetector;

FkpFaceDetector *fkp_face_detector_new (const char *path, int input_width, int input_height,
                                        int threads, FkpFacePauseFunc pause_func,
                                        void *pause_data, GError **error);
void fkp_face_detector_free (FkpFaceDetector *det);
void fkp_face_detector_set_threads (FkpFaceDetector *det, int threads);
void fkp_face_detector_set_pause (FkpFaceDetector *detector, FkpFacePauseFunc func, void *data);
void fkp_face_detector_input_size (const FkpFaceDetector *det, int *width, int *height);
float fkp_face_detector_default_threshold (const FkpFaceDetector *det);
/* The detector box -> landmark box mapping of facekp.detector.box_to_landmark_box. */
void fkp_face_detector_landmark_box (const FkpFaceDetector *det, const FkpFaceBox *box,
                                     FkpFaceBox *landmark_box);

/* Runs the detector on the frame and appends FkpFaceDetection (boxes already
 * mapped to landmark boxes, after NMS, score >= threshold, larger side >=
 * min_size) to `out`. */
gboolean fkp_face_detector_detect (FkpFaceDetector *det, const FkpFaceSampler *s,
                                   float threshold, int min_size, GArray *out, GError **error);

/* ---- The detector worker (detect-worker.c) --------------------------- */

/* One thread that runs the detector on a copy of a frame while the caller
 * goes on: one run at a time.  From fkp_detect_worker_submit until the run
 * has ended the detector belongs to the worker; the caller that wants to
 * run the detector itself first calls fkp_detect_worker_drop (worker, TRUE). */
typedef struct _FkpDetectWorker FkpDetectWorker;

/* @detector is the pipeline's and outlives the worker.  The thread starts
 * at the first submit. */
FkpDetectWorker *fkp_detect_worker_new (FkpFaceDetector *detector);
/* Waits for a run under way, then ends the thread.  NULL is allowed. */
void fkp_detect_worker_free (FkpDetectWorker *worker);
/* Copies the frame @s shows and starts fkp_face_detector_detect on the
 * copy with @threads threads; returns at once.  A run not collected is
 * dropped.  @lowest_priority: the thread runs at the lowest CPU priority
 * (nice 19), so that it takes only time the caller's threads leave. */
gboolean fkp_detect_worker_submit (FkpDetectWorker *worker, const FkpFaceSampler *s,
                                   float threshold, int min_size, int threads,
                                   gboolean lowest_priority, GError **error);
/* Whether the run submitted last has ended (its result waits); never waits. */
gboolean fkp_detect_worker_has_ended (FkpDetectWorker *worker);
/* Waits for the run to end and appends its detections to @out, or returns
 * its error. */
gboolean fkp_detect_worker_collect (FkpDetectWorker *worker, GArray *out, GError **error);
/* Drops the run, if any: a run under way ends unseen (a net run cannot
 * stop half way), a finished result is forgotten.  With @wait, returns once
 * the detector is free (the caller may run it); else at once.  NULL is
 * allowed. */
void fkp_detect_worker_drop (FkpDetectWorker *worker, gboolean wait);
/* How many collects had to wait for their run (tests, benchmarks). */
uint64_t fkp_detect_worker_get_waits (FkpDetectWorker *worker);
/* Tests: each run first sleeps a random 0…@max_delay_ms ms (also set by
 * the environment variable FACEKP_TEST_DETECTOR_DELAY_MS), or with
 * @hold_until_collected starts only when collect waits for it; neither
 * may change a result.  The next @failures runs fail with
 * FKP_FACE_ERROR_INFERENCE. */
void fkp_detect_worker_set_test_hooks (FkpDetectWorker *worker, guint max_delay_ms,
                                       gboolean hold_until_collected, guint failures);

/* ---- The tracker (track.c) ------------------------------------------ */

/* Every track's state and lifecycle: tracks start from boxes, step from
 * their own points, count misses, get their ids and end (lost, off the
 * frame, or a duplicate).  A frame is built on a copy of the tracks and
 * kept only by fkp_tracker_commit_frame, so a failed frame leaves them as
 * they were:
 *
 *   fkp_tracker_begin_frame; then fkp_tracker_step_all, _associate or
 *   _full_frame; then fkp_tracker_commit_frame if all went well. */
typedef struct _FkpTracker FkpTracker;

/* @landmarks and @opts are the pipeline's and outlive the tracker, which
 * reads the options in force (source, max_faces, smoothing) each frame. */
FkpTracker *fkp_tracker_new (FkpLandmarkModel *landmarks, const FkpFaceOptions *opts);
void fkp_tracker_free (FkpTracker *tracker);   /* NULL is allowed */
/* Points the tracker (tracks and ids) at another pipeline's model and
 * options: fkp_face_pipeline_take_tracks. */
void fkp_tracker_attach (FkpTracker *tracker, FkpLandmarkModel *landmarks,
                         const FkpFaceOptions *opts);
/* Forgets every track; ids are never reused. */
void fkp_tracker_reset (FkpTracker *tracker);
/* Starts every track's smoothing filters afresh (smoothing switched back on). */
void fkp_tracker_restart_smoothing (FkpTracker *tracker);

void fkp_tracker_begin_frame (FkpTracker *tracker);
/* Tracks in the frame being built. */
guint fkp_tracker_n_tracks (const FkpTracker *tracker);
/* Remembers where every track is as the detector sees this frame (before
 * the tracks step on it), for boxes that join some frames later. */
void fkp_tracker_mark_detection_frame (FkpTracker *tracker);
/* Whether this frame needs the detector whatever the interval: there is no
 * track, or one jumped, drifted, changed look or was missed. */
gboolean fkp_tracker_wants_detection (const FkpTracker *tracker);
/* A track lost its presence on the last frame: the detector should decide at once. */
gboolean fkp_tracker_any_absent (const FkpTracker *tracker);
/* The score to run the detector at: `start_threshold` with no track, lower
 * while there are tracks (a weak detection keeps a track, never starts one). */
float fkp_tracker_detection_threshold (const FkpTracker *tracker, float start_threshold);
/* Every track steps from its own points (a frame without detection). */
gboolean fkp_tracker_step_all (FkpTracker *tracker, const FkpFaceSampler *s, GError **error);
/* Continues the tracks with this frame's landmark boxes (sorted in place,
 * larger first): matched tracks step from their points or restart from
 * their box, boxes scoring >= start_min_score start tracks while there is
 * room, unmatched tracks count a miss (or end at once when drop_unmatched).
 * With from_marked_frame the boxes were seen on the frame of the last
 * fkp_tracker_mark_detection_frame: they are matched against where the
 * tracks were then, as on that frame, and a track that follows its face and
 * restarts from its box takes the box moved as its points moved since. */
gboolean fkp_tracker_associate (FkpTracker *tracker, const FkpFaceSampler *s,
                                FkpFaceDetection *boxes, size_t n_boxes, float start_min_score,
                                gboolean drop_unmatched, gboolean from_marked_frame,
                                GError **error);
/* The whole frame is one face crop: one track, predicted from it. */
gboolean fkp_tracker_full_frame (FkpTracker *tracker, const FkpFaceSampler *s, GError **error);
/* Keeps the frame: drops tracks that left the frame and duplicates (except
 * with the full-frame source), gives new tracks their ids, smooths over `dt`
 * seconds and writes the faces, ordered by id, to `out`. */
void fkp_tracker_commit_frame (FkpTracker *tracker, int width, int height, double dt,
                               FkpFaceList *out);

/* ---- The pipeline (pipeline.c) -------------------------------------- */

/* Number of detector runs since creation (tests, benchmarks, the eval tool). */
uint64_t fkp_face_pipeline_get_detector_runs (const FkpFacePipeline *pipeline);
/* Of which run on the worker, off the caller's thread (detect_latency != 0). */
uint64_t fkp_face_pipeline_get_background_detector_runs (const FkpFacePipeline *pipeline);
/* Of those, how many the frame they joined at had to wait for. */
uint64_t fkp_face_pipeline_get_detector_join_waits (const FkpFacePipeline *pipeline);
/* Tests: whether no detector run is under way on the worker (never waits). */
gboolean fkp_face_pipeline_detector_has_ended (const FkpFacePipeline *pipeline);
/* Tests: see fkp_detect_worker_set_test_hooks (only with the detector loaded). */
void fkp_face_pipeline_set_detector_test_hooks (FkpFacePipeline *pipeline, guint max_delay_ms,
                                                gboolean hold_until_collected, guint failures);

G_END_DECLS

#endif /* FACEKP_FACE_PRIVATE_H */
