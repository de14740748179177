/* The face pipeline: face sources, tracking with stable ids, smoothing.
 * The rules are described in docs/face-pipeline.md. */
#include "face-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tracking rules (docs/face-pipeline.md, "When is a track lost"). */
#define MATCH_MIN_IOU 0.3f        /* a detection / upstream box continues a track */
#define DUPLICATE_IOU 0.5f        /* two tracks this close follow the same face ... */
#define DUPLICATE_CENTRES 0.35    /* ... as do two whose centres are closer than this × size */
#define INSIDE_MIN_OVERLAP 0.6f   /* a track this much inside a detection (or around it) is its face */
#define REANCHOR_IOU 0.5f         /* a matched track this far off its detection restarts from it */
#define DRIFT_MIN_SCALE 0.75      /* points' box size ratio to the last detection's ... */
#define DRIFT_MAX_SCALE (1 / 0.75) /* ... outside this range: detect on the next frame */
#define JUMP_MIN_SCALE 0.7        /* box size ratio between consecutive frames ... */
#define JUMP_MAX_SCALE (1 / 0.7)  /* ... outside this range is a jump */
#define JUMP_MAX_SHIFT 0.5        /* centre shift, in box sizes, beyond which is a jump */
#define MAX_MISSES 3              /* detector runs in a row without the face drop the track */
#define KEEP_MIN_SCORE 0.05f      /* a detection this weak still keeps a track alive (not a new one) */
#define SAME_LOOK_MIN_CORR 0.5f   /* crop's correlation with its look when last detected (below: check) */
#define MIN_VISIBLE 0.5           /* fraction of the points' box inside the frame to keep it */
#define CONFIRM_MIN_IOU 0.3f      /* points of a weakly detected face must overlap its box this much */
#define CONFIRM_BELOW_SCORE 0.3f  /* detections below this score need that confirmation */

typedef struct {
  guint id;
  float score;
  float points[FKP_FACE_N_POINTS][2];   /* raw prediction: the next frame's crop comes from it */
  float smooth[FKP_FACE_N_POINTS][2];   /* what the caller gets */
  FkpOneEuro filters[FKP_FACE_N_POINTS][2];
  int misses;          /* consecutive detector runs that did not see this face */
  gboolean jumped;     /* last prediction failed the jump check: detect on the next frame */
  gboolean moving;     /* vx, vy hold the motion between the last two predictions */
  float vx, vy;        /* frame px per frame of the points' box centre */
  gboolean changed;    /* the crop no longer looks like when last detected: detect next frame */
  float detected_size; /* points' box size when the detector last saw the face */
  gboolean drifted;    /* size strayed from detected_size: detect next frame */
  gboolean restarted;  /* restarted from a box this frame (jumped or strayed) */
  float look[FKP_FACE_SIGNATURE];   /* signature of the crop when last detected or started */
  float last_look[FKP_FACE_SIGNATURE];   /* signature of this frame's crop */
} Track;

struct _FkpFacePipeline {
  FkpFaceOptions opts;
  char *landmark_path, *detector_path;
  FkpLandmarkModel *landmarks;
  FkpFaceDetector *detector;
  GArray *tracks;                 /* Track */
  GArray *work;                   /* Track, the frame being built */
  GArray *dets;                   /* FkpFaceDetection */
  guint next_id;
  uint64_t frames_since_reset;
  int frames_since_detect;
  gboolean have_time;
  double last_time;               /* seconds */
  uint64_t n_detector_runs;       /* statistics for tests and benchmarks */
};

FKP_PUBLIC GQuark
fkp_face_error_quark (void)
{
  return g_quark_from_static_string ("fkp-face-error-quark");
}

FKP_PUBLIC void
fkp_face_list_init (FkpFaceList *list)
{
  list->faces = NULL;
  list->n_faces = 0;
  list->capacity = 0;
}

FKP_PUBLIC void
fkp_face_list_clear (FkpFaceList *list)
{
  g_free (list->faces);
  fkp_face_list_init (list);
}

FKP_PUBLIC void
fkp_face_options_init (FkpFaceOptions *o)
{
  memset (o, 0, sizeof *o);
  o->landmark_model = NULL;
  o->detector_model = NULL;
  o->source = FKP_FACE_SOURCE_DETECT;
  o->detect_interval = 10;
  o->max_faces = 4;
  o->min_face_size = 24;
  o->detector_input_width = 0;
  o->detector_input_height = 0;
  o->detector_threshold = -1.0f;
  o->smoothing = TRUE;
  o->smoothing_min_cutoff = 1.0f;
  o->smoothing_beta = 40.0f;
  o->smoothing_d_cutoff = 1.0f;
  o->threads = 1;
}

FKP_PUBLIC char *
fkp_face_find_model (const char *file_name, GError **error)
{
  if (file_name == NULL || *file_name == '\0') {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT, "no model file name");
    return NULL;
  }
  const char *env = g_getenv ("FACEKP_MODELS_DIR");
  const char *dirs[3] = { env, FACEKP_DATADIR "/models", FACEKP_SOURCE_DIR "/models" };
  for (int i = 0; i < 3; i++) {
    if (dirs[i] == NULL || *dirs[i] == '\0')
      continue;
    char *path = g_build_filename (dirs[i], file_name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
      return path;
    g_free (path);
  }
  g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_NOT_FOUND,
               "model %s not found in $FACEKP_MODELS_DIR (%s), %s or %s", file_name,
               env ? env : "unset", FACEKP_DATADIR "/models", FACEKP_SOURCE_DIR "/models");
  return NULL;
}

static gboolean
check_smoothing (float min_cutoff, float beta, float d_cutoff, GError **error)
{
  if (!(min_cutoff > 0 && min_cutoff <= 1000) || !(beta >= 0 && beta <= 1e6)
      || !(d_cutoff > 0 && d_cutoff <= 1000)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "smoothing parameters out of range (min_cutoff %g Hz and d_cutoff %g Hz must "
                 "be in (0, 1000], beta %g >= 0)", min_cutoff, d_cutoff, beta);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_options (const FkpFaceOptions *o, GError **error)
{
  const char *bad = NULL;
  if ((unsigned) o->source > FKP_FACE_SOURCE_FULL_FRAME)
    bad = "source";
  else if (o->detect_interval < 1)
    bad = "detect_interval (must be >= 1)";
  else if (o->max_faces < 1 || o->max_faces > FKP_FACE_MAX_FACES_LIMIT)
    bad = "max_faces (must be 1…64)";
  else if (o->min_face_size < 0)
    bad = "min_face_size (must be >= 0)";
  else if (o->detector_input_width < 0 || o->detector_input_height < 0)
    bad = "detector input size (must be >= 0)";
  else if (!(o->detector_threshold <= 1.0f) || isnan (o->detector_threshold))
    bad = "detector_threshold (must be <= 1, or < 0 for the model's own)";
  else if (o->threads < 0 || o->threads > 256)
    bad = "threads (must be 0…256)";
  if (bad != NULL) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT, "invalid option %s",
                 bad);
    return FALSE;
  }
  return check_smoothing (o->smoothing_min_cutoff, o->smoothing_beta, o->smoothing_d_cutoff,
                          error);
}

/* A model option: NULL takes the shipped default; a bare file name that is
 * not a file here names one of the shipped models (e.g.
 * "facekp-landmarks68-160.onnx"); anything else is a path. */
static char *
resolve_model (const char *given, const char *default_name, GError **error)
{
  if (given == NULL)
    return fkp_face_find_model (default_name, error);
  if (strchr (given, '/') == NULL && strchr (given, G_DIR_SEPARATOR) == NULL
      && !g_file_test (given, G_FILE_TEST_EXISTS))
    return fkp_face_find_model (given, error);
  return g_strdup (given);
}

static gboolean
load_detector (FkpFacePipeline *p, GError **error)
{
  if (p->detector != NULL)
    return TRUE;
  if (p->detector_path == NULL) {
    p->detector_path = fkp_face_find_model (FKP_FACE_DETECTOR_MODEL_NAME, error);
    if (p->detector_path == NULL)
      return FALSE;
    p->opts.detector_model = p->detector_path;
  }
  p->detector = fkp_face_detector_new (p->detector_path, p->opts.detector_input_width,
                                       p->opts.detector_input_height, MAX (1, p->opts.threads),
                                       error);
  return p->detector != NULL;
}

FKP_PUBLIC FkpFacePipeline *
fkp_face_pipeline_new (const FkpFaceOptions *opts, GError **error)
{
  FkpFaceOptions defaults;
  if (opts == NULL) {
    fkp_face_options_init (&defaults);
    opts = &defaults;
  }
  if (!check_options (opts, error))
    return NULL;
  FkpFacePipeline *p = g_new0 (FkpFacePipeline, 1);
  p->opts = *opts;
  p->tracks = g_array_new (FALSE, FALSE, sizeof (Track));
  p->work = g_array_new (FALSE, FALSE, sizeof (Track));
  p->dets = g_array_new (FALSE, FALSE, sizeof (FkpFaceDetection));
  p->next_id = 1;
  p->landmark_path = resolve_model (opts->landmark_model, FKP_FACE_LANDMARK_MODEL_NAME, error);
  if (p->landmark_path == NULL)
    goto fail;
  if (opts->detector_model != NULL) {
    p->detector_path = resolve_model (opts->detector_model, FKP_FACE_DETECTOR_MODEL_NAME, error);
    if (p->detector_path == NULL)
      goto fail;
  }
  p->opts.landmark_model = p->landmark_path;
  p->opts.detector_model = p->detector_path;
  p->landmarks = fkp_landmark_model_new (p->landmark_path, MAX (1, opts->threads), error);
  if (p->landmarks == NULL)
    goto fail;
  if (opts->source == FKP_FACE_SOURCE_DETECT && !load_detector (p, error))
    goto fail;
  return p;

fail:
  fkp_face_pipeline_free (p);
  return NULL;
}

FKP_PUBLIC void
fkp_face_pipeline_free (FkpFacePipeline *p)
{
  if (p == NULL)
    return;
  fkp_landmark_model_free (p->landmarks);
  fkp_face_detector_free (p->detector);
  g_array_free (p->tracks, TRUE);
  g_array_free (p->work, TRUE);
  g_array_free (p->dets, TRUE);
  g_free (p->landmark_path);
  g_free (p->detector_path);
  g_free (p);
}

FKP_PUBLIC void
fkp_face_pipeline_reset (FkpFacePipeline *p)
{
  g_array_set_size (p->tracks, 0);
  p->frames_since_reset = 0;
  p->frames_since_detect = 0;
  p->have_time = FALSE;
}

/* ---- Run-time settings ------------------------------------------------ */

FKP_PUBLIC gboolean
fkp_face_pipeline_set_source (FkpFacePipeline *p, FkpFaceSource source, GError **error)
{
  if ((unsigned) source > FKP_FACE_SOURCE_FULL_FRAME) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT, "unknown face source %d",
                 (int) source);
    return FALSE;
  }
  if (source == FKP_FACE_SOURCE_DETECT && !load_detector (p, error))
    return FALSE;
  if (source != p->opts.source)
    fkp_face_pipeline_reset (p);
  p->opts.source = source;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_set_detect_interval (FkpFacePipeline *p, int frames, GError **error)
{
  if (frames < 1) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "detect interval %d must be >= 1", frames);
    return FALSE;
  }
  p->opts.detect_interval = frames;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_set_max_faces (FkpFacePipeline *p, int max_faces, GError **error)
{
  if (max_faces < 1 || max_faces > FKP_FACE_MAX_FACES_LIMIT) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "max faces %d is outside 1…%d", max_faces, FKP_FACE_MAX_FACES_LIMIT);
    return FALSE;
  }
  p->opts.max_faces = max_faces;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_set_min_face_size (FkpFacePipeline *p, int pixels, GError **error)
{
  if (pixels < 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "min face size %d must be >= 0", pixels);
    return FALSE;
  }
  p->opts.min_face_size = pixels;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_set_detector_threshold (FkpFacePipeline *p, float threshold, GError **error)
{
  if (!(threshold <= 1.0f)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "detector threshold %g must be <= 1 (< 0: the model's own)", threshold);
    return FALSE;
  }
  p->opts.detector_threshold = threshold;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_set_smoothing (FkpFacePipeline *p, gboolean enabled, float min_cutoff,
                                 float beta, float d_cutoff, GError **error)
{
  if (!check_smoothing (min_cutoff, beta, d_cutoff, error))
    return FALSE;
  if (enabled && !p->opts.smoothing) {
    /* Start the filters afresh rather than from stale values. */
    for (guint i = 0; i < p->tracks->len; i++) {
      Track *t = &g_array_index (p->tracks, Track, i);
      memset (t->filters, 0, sizeof t->filters);
    }
  }
  p->opts.smoothing = enabled;
  p->opts.smoothing_min_cutoff = min_cutoff;
  p->opts.smoothing_beta = beta;
  p->opts.smoothing_d_cutoff = d_cutoff;
  return TRUE;
}

FKP_PUBLIC void
fkp_face_pipeline_set_threads (FkpFacePipeline *p, int threads)
{
  p->opts.threads = MAX (1, threads);
  fkp_landmark_model_set_threads (p->landmarks, p->opts.threads);
  if (p->detector)
    fkp_face_detector_set_threads (p->detector, p->opts.threads);
}

FKP_PUBLIC const FkpFaceOptions *
fkp_face_pipeline_get_options (const FkpFacePipeline *p)
{
  return &p->opts;
}

FKP_PUBLIC int
fkp_face_pipeline_get_landmark_input_size (const FkpFacePipeline *p)
{
  return fkp_landmark_model_input_size (p->landmarks);
}

FKP_PUBLIC const char *
fkp_face_pipeline_get_landmark_metadata (const FkpFacePipeline *p, const char *key)
{
  return fkp_landmark_model_metadata (p->landmarks, key);
}

FKP_PUBLIC uint64_t
fkp_face_pipeline_get_detector_runs (const FkpFacePipeline *p)
{
  return p->n_detector_runs;
}

/* ---- Processing ------------------------------------------------------- */

static float
box_size (const FkpFaceBox *b)
{
  return MAX (b->width, b->height);
}

/* How far b's centre lies from a's. */
static void
centre_offset (const FkpFaceBox *a, const FkpFaceBox *b, float *dx, float *dy)
{
  *dx = (b->x + b->width / 2) - (a->x + a->width / 2);
  *dy = (b->y + b->height / 2) - (a->y + a->height / 2);
}

static double
centre_distance (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float dx, dy;
  centre_offset (a, b, &dx, &dy);
  return hypot (dx, dy);
}

static void
track_box (const Track *t, FkpFaceBox *box)
{
  fkp_face_points_bounds ((const float (*)[2]) t->points, FKP_FACE_N_POINTS, box);
}

/* A new track (or a re-initialised one) starts its filters afresh. */
static Track *
add_track (GArray *tracks, guint id, float score)
{
  Track fresh;
  memset (&fresh, 0, sizeof fresh);
  fresh.id = id;
  fresh.score = score;
  g_array_append_val (tracks, fresh);
  return &g_array_index (tracks, Track, tracks->len - 1);
}

/* Predicts from the previous points and applies the jump check. */
static gboolean
track_step (FkpFacePipeline *p, const FkpFaceSampler *s, Track *t, GError **error)
{
  FkpFaceCrop crop;
  float next[FKP_FACE_N_POINTS][2];
  FkpFaceBox before, after;
  track_box (t, &before);
  fkp_landmark_model_crop_from_points (p->landmarks, (const float (*)[2]) t->points, &crop);
  /* Constant velocity: the face has likely moved on as it did between the
   * last two frames.  On the synthetic sequence (40 test faces, smoothing
   * off) this cut the excess NME over the model alone from 0.0172 to 0.0109
   * (half the velocity: 0.0122; a second, refining run per frame instead:
   * 0.0134 at twice the cost). */
  if (t->moving) {
    crop.cx += t->vx;
    crop.cy += t->vy;
  }
  if (!fkp_landmark_model_predict (p->landmarks, s, &crop, next, error))
    return FALSE;
  /* A face that left (or was covered) leaves background in the crop, where
   * the landmark model may still place a steady face: compare the crop
   * with how it looked when the detector last saw the face. */
  fkp_landmark_model_last_signature (p->landmarks, t->last_look);
  float corr = 0.0f;
  for (int i = 0; i < FKP_FACE_SIGNATURE; i++)
    corr += t->look[i] * t->last_look[i];
  t->changed = corr < SAME_LOOK_MIN_CORR;
  fkp_face_points_bounds ((const float (*)[2]) next, FKP_FACE_N_POINTS, &after);
  double size0 = MAX (box_size (&before), 1.0f), size1 = box_size (&after);
  double ratio = size1 / size0;
  float dx, dy;
  centre_offset (&before, &after, &dx, &dy);
  double shift = hypot (dx, dy) / size0;
  t->jumped = !(ratio >= JUMP_MIN_SCALE && ratio <= JUMP_MAX_SCALE && shift <= JUMP_MAX_SHIFT);
  /* Slow shrinking or growing (the tracker sliding onto part of a face, or
   * off it) passes the per-frame jump check; the detector settles it. */
  double drift = size1 / MAX (t->detected_size, 1.0f);
  t->drifted = t->detected_size > 0 && !(drift >= DRIFT_MIN_SCALE && drift <= DRIFT_MAX_SCALE);
  /* A jump keeps the previous points: the detector decides on the next frame. */
  if (!t->jumped) {
    t->vx = dx;
    t->vy = dy;
    t->moving = TRUE;
    memcpy (t->points, next, sizeof next);
  } else {
    t->moving = FALSE;
  }
  return TRUE;
}

/* Starts (or restarts) a track from a landmark box: crop from the box, then
 * refine.  A weak detection (score < CONFIRM_BELOW_SCORE) is confirmed only
 * if the refined points' box overlaps the detection's landmark box (IoU >=
 * CONFIRM_MIN_IOU): on a face the landmark model lands on it, on a false
 * detection (mostly weak ones) its points shrink or wander off. */
static gboolean
track_start_from_box (FkpFacePipeline *p, const FkpFaceSampler *s, Track *t,
                      const FkpFaceBox *landmark_box, float score, gboolean *confirmed,
                      GError **error)
{
  FkpFaceCrop crop;
  fkp_landmark_model_crop_from_box (p->landmarks, landmark_box, &crop);
  if (!fkp_landmark_model_predict_refined (p->landmarks, s, &crop, t->points, error))
    return FALSE;
  memset (t->filters, 0, sizeof t->filters);
  t->jumped = FALSE;
  t->moving = FALSE;
  t->changed = FALSE;
  t->drifted = FALSE;
  fkp_landmark_model_last_signature (p->landmarks, t->look);
  FkpFaceBox b;
  track_box (t, &b);
  t->detected_size = box_size (&b);
  *confirmed = p->opts.source != FKP_FACE_SOURCE_DETECT || score >= CONFIRM_BELOW_SCORE
               || fkp_face_box_iou (&b, landmark_box) >= CONFIRM_MIN_IOU;
  return TRUE;
}

static double
visible_fraction (const FkpFaceBox *b, int width, int height)
{
  double x0 = MAX (0.0, b->x), y0 = MAX (0.0, b->y);
  double x1 = MIN ((double) width, b->x + b->width), y1 = MIN ((double) height, b->y + b->height);
  double area = (double) MAX (b->width, 1e-3f) * MAX (b->height, 1e-3f);
  return MAX (0.0, x1 - x0) * MAX (0.0, y1 - y0) / area;
}

/* Continues `tracks` (the previous frame's, copied into p->work) with a new
 * set of boxes: matched tracks step from their points, unmatched boxes start
 * tracks, unmatched tracks count a miss (or end at once when
 * `drop_unmatched`). */
static gboolean
associate (FkpFacePipeline *p, const FkpFaceSampler *s, const FkpFaceDetection *boxes,
           size_t n_boxes, float start_min_score, gboolean drop_unmatched, GError **error)
{
  GArray *work = p->work;
  size_t n_tracks = work->len;
  float *iou = g_new0 (float, MAX (1, n_tracks * n_boxes));
  int *match = g_new (int, MAX (1, n_tracks));
  gboolean *box_used = g_new0 (gboolean, MAX (1, n_boxes));
  for (size_t i = 0; i < n_tracks; i++) {
    FkpFaceBox tb;
    track_box (&g_array_index (work, Track, i), &tb);
    for (size_t j = 0; j < n_boxes; j++)
      iou[i * n_boxes + j] = fkp_face_box_iou (&tb, &boxes[j].box);
  }
  fkp_face_match_greedy (iou, n_tracks, n_boxes, MATCH_MIN_IOU, match);
  for (size_t i = 0; i < n_tracks; i++)
    if (match[i] >= 0)
      box_used[match[i]] = TRUE;
  /* Second pass: a track whose points shrank onto part of a face (or grew
   * around it) overlaps its detection by little IoU but lies inside it; a
   * track already judged suspect (jumped, drifted, changed look) may have
   * slid off its face altogether, and takes a like-sized detection whose
   * centre is within its own size.  Overlap ranks before distance.  Only a
   * detection strong enough to start a face may claim a track this way
   * (and re-anchor it below): weak ones on background where a face was
   * would otherwise keep a stale track alive. */
  float *rank = g_new (float, MAX (1, n_tracks * n_boxes));
  int *second = g_new (int, MAX (1, n_tracks));
  for (size_t i = 0; i < n_tracks; i++) {
    const Track *t = &g_array_index (work, Track, i);
    gboolean suspect = t->jumped || t->drifted || t->changed;
    FkpFaceBox tb;
    track_box (t, &tb);
    double track_size = MAX (box_size (&tb), 1.0f);
    for (size_t j = 0; j < n_boxes; j++) {
      const FkpFaceBox *bb = &boxes[j].box;
      float r = -1.0f;
      if (match[i] < 0 && !box_used[j] && boxes[j].score >= start_min_score) {
        float overlap = fkp_face_box_overlap_of_smaller (&tb, bb);
        /* Near in the track's own size, and of a like size: a large false
         * detection must not pull a small track from across the frame. */
        double size_ratio = box_size (bb) / track_size;
        double near = 1.0 - centre_distance (&tb, bb) / track_size;
        if (overlap >= INSIDE_MIN_OVERLAP)
          r = 1.0f + overlap;
        else if (suspect && near > 0 && size_ratio >= 0.5 && size_ratio <= 2.0)
          r = (float) near;
      }
      rank[i * n_boxes + j] = r;
    }
  }
  fkp_face_match_greedy (rank, n_tracks, n_boxes, 1e-6f, second);
  for (size_t i = 0; i < n_tracks; i++)
    if (second[i] >= 0) {
      match[i] = second[i];
      box_used[second[i]] = TRUE;
    }
  g_free (rank);
  g_free (second);
  gboolean ok = TRUE, confirmed = TRUE;
  size_t kept = 0;
  for (size_t i = 0; i < n_tracks && ok; i++) {
    Track t = g_array_index (work, Track, i);
    if (match[i] >= 0) {
      const FkpFaceDetection *b = &boxes[match[i]];
      t.misses = 0;
      t.score = b->score;
      /* A track that jumped, or strayed far from its detection, restarts
       * from the box (keeping its id); others keep following their points. */
      gboolean strayed = iou[i * n_boxes + match[i]] < REANCHOR_IOU
                         && b->score >= start_min_score;
      if (t.jumped || strayed) {
        Track before = t;
        ok = track_start_from_box (p, s, &t, &b->box, b->score, &confirmed, error);
        t.restarted = TRUE;
        if (ok && !confirmed) {
          /* Not confirmed: keep the old points; a jumped track counts a
           * miss, a strayed one goes on following them. */
          t = before;
          if (t.jumped && ++t.misses >= MAX_MISSES)
            continue;
          if (!t.jumped)
            ok = track_step (p, s, &t, error);
        }
      } else {
        ok = track_step (p, s, &t, error);
        /* Seen by the detector: this is how the face looks now. */
        memcpy (t.look, t.last_look, sizeof t.look);
        t.changed = FALSE;
        FkpFaceBox now;
        track_box (&t, &now);
        t.detected_size = box_size (&now);
        t.drifted = FALSE;
      }
    } else {
      /* Unseen by the detector: gone at once if its points jumped or its
       * crop no longer looks like the face, else given MAX_MISSES detector
       * runs (one per frame while it is unseen). */
      if (drop_unmatched || t.jumped || t.changed || ++t.misses >= MAX_MISSES)
        continue;
      ok = track_step (p, s, &t, error);
    }
    g_array_index (work, Track, kept++) = t;
  }
  g_array_set_size (work, kept);
  /* New faces, best score first, while there is room. */
  for (size_t j = 0; j < n_boxes && ok; j++) {
    if (box_used[j] || boxes[j].score < start_min_score || work->len >= (guint) p->opts.max_faces)
      continue;
    Track *t = add_track (work, 0, boxes[j].score);
    ok = track_start_from_box (p, s, t, &boxes[j].box, boxes[j].score, &confirmed, error);
    t->id = 0;   /* given at commit, so that a failed frame burns no id */
    if (ok && !confirmed)
      g_array_set_size (work, work->len - 1);
  }
  g_free (iou);
  g_free (match);
  g_free (box_used);
  return ok;
}

/* Drops tracks that left the frame and duplicates (two tracks on one face:
 * the younger goes), then caps the count. */
static void
prune (FkpFacePipeline *p, int width, int height)
{
  GArray *work = p->work;
  size_t kept = 0;
  for (size_t i = 0; i < work->len; i++) {
    Track *t = &g_array_index (work, Track, i);
    FkpFaceBox b;
    track_box (t, &b);
    if (visible_fraction (&b, width, height) < MIN_VISIBLE || box_size (&b) < 1.0f)
      continue;
    gboolean duplicate = FALSE;
    for (size_t j = 0; j < kept && !duplicate; j++) {
      Track *o = &g_array_index (work, Track, j);
      FkpFaceBox ob;
      track_box (o, &ob);
      double size = MAX (box_size (&b), box_size (&ob));
      duplicate = fkp_face_box_iou (&b, &ob) > DUPLICATE_IOU
                  || centre_distance (&b, &ob) < DUPLICATE_CENTRES * size;
      /* The track that has been following this face stays: over a new or
       * just restarted one (which moved onto it from elsewhere); of two new
       * ones (two detections of one face), the stronger. */
      gboolean o_settled = o->id != 0 && !o->restarted, t_settled = t->id != 0 && !t->restarted;
      if (duplicate && ((t_settled && !o_settled)
                        || (o->id == 0 && t->id == 0 && t->score > o->score)))
        *o = *t;
    }
    if (duplicate)
      continue;
    g_array_index (work, Track, kept++) = *t;
    if (kept >= (size_t) p->opts.max_faces)
      break;
  }
  g_array_set_size (work, kept);
}

static int
by_size_desc (const void *pa, const void *pb)
{
  const FkpFaceDetection *a = pa, *b = pb;
  float sa = box_size (&a->box), sb = box_size (&b->box);
  return (sa < sb) - (sa > sb);
}

static gboolean
process_detect (FkpFacePipeline *p, const FkpFaceSampler *s, GError **error)
{
  gboolean need = p->work->len == 0 || p->frames_since_detect + 1 >= p->opts.detect_interval;
  for (guint i = 0; i < p->work->len && !need; i++) {
    const Track *t = &g_array_index (p->work, Track, i);
    need = t->jumped || t->changed || t->drifted || t->misses > 0;
  }
  if (!need) {
    for (guint i = 0; i < p->work->len; i++)
      if (!track_step (p, s, &g_array_index (p->work, Track, i), error))
        return FALSE;
    p->frames_since_detect++;
    return TRUE;
  }
  /* Two thresholds, as in ByteTrack: a new face needs the detector's
   * threshold, an existing track only a weak detection overlapping it.
   * Faces the detector loses for a while (rolled, dark, blurred) mostly
   * keep some score, a face that left keeps none, so a track can end after
   * a few misses without the ids of faces that stay switching. */
  const float start_threshold = p->opts.detector_threshold >= 0
                                  ? p->opts.detector_threshold
                                  : fkp_face_detector_default_threshold (p->detector);
  const float keep_threshold = MIN (start_threshold, KEEP_MIN_SCORE);
  g_array_set_size (p->dets, 0);
  if (!fkp_face_detector_detect (p->detector, s, p->work->len ? keep_threshold : start_threshold,
                                 p->opts.min_face_size, p->dets, error))
    return FALSE;
  p->n_detector_runs++;
  p->frames_since_detect = 0;
  FkpFaceDetection *dets = (FkpFaceDetection *) (void *) p->dets->data;
  for (guint i = 0; i < p->dets->len; i++) {
    FkpFaceBox lm;
    fkp_face_detector_landmark_box (p->detector, &dets[i].box, &lm);
    dets[i].box = lm;
  }
  /* When there are more faces than room, the larger (nearer, more
   * prominent) ones get the tracks, as with upstream boxes; a weak
   * detection still has to be confirmed by its landmarks. */
  qsort (dets, p->dets->len, sizeof *dets, by_size_desc);
  return associate (p, s, dets, p->dets->len, start_threshold, FALSE, error);
}

static gboolean
process_upstream (FkpFacePipeline *p, const FkpFaceSampler *s, const FkpFaceBox *boxes,
                  size_t n, GError **error)
{
  g_array_set_size (p->dets, 0);
  for (size_t i = 0; i < n; i++) {
    const FkpFaceBox *b = &boxes[i];
    if (!isfinite (b->x) || !isfinite (b->y) || !(b->width > 0) || !(b->height > 0)
        || !isfinite (b->width) || !isfinite (b->height)) {
      g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                   "upstream box %zu (%g, %g, %g × %g) is not a finite box with a positive size",
                   i, b->x, b->y, b->width, b->height);
      return FALSE;
    }
    if (box_size (b) < p->opts.min_face_size)
      continue;
    FkpFaceDetection d = { *b, 1.0f };
    g_array_append_val (p->dets, d);
  }
  /* Upstream gives no score: the larger faces win when there are too many. */
  qsort (p->dets->data, p->dets->len, sizeof (FkpFaceDetection), by_size_desc);
  return associate (p, s, (const FkpFaceDetection *) (void *) p->dets->data, p->dets->len, 0.0f,
                    TRUE, error);
}

static gboolean
process_full_frame (FkpFacePipeline *p, const FkpFaceSampler *s, GError **error)
{
  Track *t;
  if (p->work->len == 0)
    t = add_track (p->work, 0, 1.0f);
  else {
    g_array_set_size (p->work, 1);
    t = &g_array_index (p->work, Track, 0);
  }
  FkpFaceCrop crop;
  fkp_face_crop_from_frame (s->width, s->height, &crop);
  return fkp_landmark_model_predict_refined (p->landmarks, s, &crop, t->points, error);
}

static void
smooth (FkpFacePipeline *p, Track *t, double dt)
{
  if (!p->opts.smoothing) {
    memcpy (t->smooth, t->points, sizeof t->points);
    return;
  }
  FkpFaceBox b;
  track_box (t, &b);
  double unit = MAX (box_size (&b), 1.0f);
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    for (int c = 0; c < 2; c++)
      t->smooth[i][c] = (float) fkp_one_euro_filter (&t->filters[i][c], t->points[i][c], dt,
                                                     p->opts.smoothing_min_cutoff,
                                                     p->opts.smoothing_beta,
                                                     p->opts.smoothing_d_cutoff, unit);
}

static int
by_id (const void *pa, const void *pb)
{
  const Track *a = pa, *b = pb;
  return (a->id > b->id) - (a->id < b->id);
}

FKP_PUBLIC gboolean
fkp_face_pipeline_process (FkpFacePipeline *p, const FkpFaceFrame *frame,
                           const FkpFaceBox *upstream_boxes, size_t n_upstream,
                           FkpFaceList *out, GError **error)
{
  if (out != NULL)
    out->n_faces = 0;
  if (p == NULL || out == NULL) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "no pipeline or no output list");
    return FALSE;
  }
  if (!fkp_face_frame_validate (frame, error))
    return FALSE;
  if (n_upstream > 0 && upstream_boxes == NULL) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "%zu upstream boxes announced but none given", n_upstream);
    return FALSE;
  }
  FkpFaceSampler s;
  fkp_face_sampler_init (&s, frame);

  /* Work on a copy so that a failure leaves the tracks as they were. */
  g_array_set_size (p->work, p->tracks->len);
  if (p->tracks->len)
    memcpy (p->work->data, p->tracks->data, p->tracks->len * sizeof (Track));
  for (guint i = 0; i < p->work->len; i++)
    g_array_index (p->work, Track, i).restarted = FALSE;
  int saved_since_detect = p->frames_since_detect;

  gboolean ok;
  switch (p->opts.source) {
  case FKP_FACE_SOURCE_DETECT:
    ok = process_detect (p, &s, error);
    break;
  case FKP_FACE_SOURCE_UPSTREAM:
    ok = process_upstream (p, &s, upstream_boxes, n_upstream, error);
    break;
  case FKP_FACE_SOURCE_FULL_FRAME:
  default:
    ok = process_full_frame (p, &s, error);
    break;
  }
  if (!ok) {
    p->frames_since_detect = saved_since_detect;
    return FALSE;
  }
  if (p->opts.source != FKP_FACE_SOURCE_FULL_FRAME)
    prune (p, frame->width, frame->height);

  /* Time: the frame's timestamp, or 30 frames per second when unknown.  A
   * step backwards or a repeat restarts the filters (dt <= 0). */
  double now = frame->timestamp_ns != FKP_FACE_TIMESTAMP_NONE
                 ? frame->timestamp_ns / 1e9
                 : p->frames_since_reset / 30.0;
  double dt = p->have_time ? now - p->last_time : 0.0;
  p->have_time = TRUE;
  p->last_time = now;
  p->frames_since_reset++;

  for (guint i = 0; i < p->work->len; i++) {
    Track *t = &g_array_index (p->work, Track, i);
    if (t->id == 0)
      t->id = p->next_id++;
    smooth (p, t, dt);
  }
  qsort (p->work->data, p->work->len, sizeof (Track), by_id);
  GArray *tmp = p->tracks;
  p->tracks = p->work;
  p->work = tmp;

  if (out->capacity < p->tracks->len) {
    out->faces = g_renew (FkpFace, out->faces, p->tracks->len);
    out->capacity = p->tracks->len;
  }
  for (guint i = 0; i < p->tracks->len; i++) {
    const Track *t = &g_array_index (p->tracks, Track, i);
    FkpFace *f = &out->faces[i];
    f->id = t->id;
    f->score = t->score;
    memcpy (f->points, t->smooth, sizeof f->points);
    fkp_face_points_bounds ((const float (*)[2]) f->points, FKP_FACE_N_POINTS, &f->box);
  }
  out->n_faces = p->tracks->len;
  return TRUE;
}
