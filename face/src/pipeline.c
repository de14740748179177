/* The face pipeline: options, models, face sources (detector, upstream
 * boxes, full frame) and time; the tracks themselves live in track.c.  The
 * rules are described in docs/face-pipeline.md. */
#include "face-private.h"

#include <math.h>
#include <string.h>

struct _FkpFacePipeline {
  FkpFaceOptions opts;
  char *landmark_path, *detector_path;
  FkpLandmarkModel *landmarks;
  FkpFaceDetector *detector;
  FkpTracker *tracker;
  GArray *dets;                   /* FkpFaceDetection */
  uint64_t frames_since_reset;
  int frames_since_detect;
  gboolean have_time;
  double last_time;               /* seconds */
  uint64_t n_detector_runs;       /* statistics for tests and benchmarks */
  uint64_t n_background_runs;

  /* Detection off this thread (detect_latency != 0). */
  FkpDetectWorker *worker;        /* made at the first background run */
  gboolean detection_in_flight;   /* a worker run whose boxes have not joined yet */
  uint64_t detection_join_frame;  /* the frame (frames_since_reset) they join at; when ready: the
                                     first frame they may join at */
  uint64_t detection_last_frame;  /* when ready: the frame that waits for them if need be */
  int detection_width, detection_height;   /* the size of the frame it sees */
  float detection_start_threshold;         /* a new face's threshold when it started */
  gboolean detection_forced;      /* a run's boxes were lost: detect at the next frame */
};

static void share_threads (FkpFacePipeline *p);

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
  o->detect_latency = 2;
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
  o->min_presence = FKP_FACE_DEFAULT_MIN_PRESENCE;
}

FKP_PUBLIC char *
fkp_face_find_model (const char *file_name, GError **error)
{
  if (file_name == NULL || *file_name == '\0') {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT, "no model file name");
    return NULL;
  }
  const char *env = g_getenv ("FACEKP_MODELS_DIR");
#ifdef FACEKP_SOURCE_DIR
  const char *source_tree = FACEKP_SOURCE_DIR "/models";
#else
  const char *source_tree = NULL;   /* a distribution package: installed files only */
#endif
  const char *dirs[3] = { env, FACEKP_DATADIR "/models", source_tree };
  for (int i = 0; i < 3; i++) {
    if (dirs[i] == NULL || *dirs[i] == '\0')
      continue;
    char *path = g_build_filename (dirs[i], file_name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
      return path;
    g_free (path);
  }
  g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_NOT_FOUND,
               "model %s not found in $FACEKP_MODELS_DIR (%s), %s%s%s", file_name,
               env ? env : "unset", FACEKP_DATADIR "/models", source_tree ? " or " : "",
               source_tree ? source_tree : "");
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
  else if (o->detect_latency < FKP_FACE_DETECT_LATENCY_WHEN_READY
           || o->detect_latency > FKP_FACE_MAX_DETECT_LATENCY)
    bad = "detect_latency (must be 0…30, or -1: when ready)";
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
  else if (!(o->min_presence >= 0.0f && o->min_presence <= 1.0f))
    bad = "min_presence (must be 0…1)";
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
                                       p->opts.pause_func, p->opts.pause_data, error);
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
  p->dets = g_array_new (FALSE, FALSE, sizeof (FkpFaceDetection));
  p->landmark_path = resolve_model (opts->landmark_model, FKP_FACE_LANDMARK_MODEL_NAME, error);
  if (p->landmark_path == NULL)
    goto fail;
  if (opts->detector_model != NULL) {
    p->detector_path = resolve_model (opts->detector_model, FKP_FACE_DETECTOR_MODEL_NAME, error);
    if (p->detector_path == NULL)
      goto fail;
  }
  if (opts->keep_detector_model && p->detector_path == NULL) {
    /* the file a kept detector must come from */
    p->detector_path = fkp_face_find_model (FKP_FACE_DETECTOR_MODEL_NAME, error);
    if (p->detector_path == NULL)
      goto fail;
  }
  p->opts.landmark_model = p->landmark_path;
  p->opts.detector_model = p->detector_path;
  if (!opts->keep_landmark_model) {
    p->landmarks = fkp_landmark_model_new (p->landmark_path, MAX (1, opts->threads),
                                           opts->pause_func, opts->pause_data, error);
    if (p->landmarks == NULL)
      goto fail;
  }
  p->tracker = fkp_tracker_new (p->landmarks, &p->opts);
  if (opts->source == FKP_FACE_SOURCE_DETECT && !opts->keep_detector_model
      && !load_detector (p, error))
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
  fkp_detect_worker_free (p->worker);   /* first: a run in progress uses the detector */
  fkp_landmark_model_free (p->landmarks);
  fkp_face_detector_free (p->detector);
  fkp_tracker_free (p->tracker);
  g_array_free (p->dets, TRUE);
  g_free (p->landmark_path);
  g_free (p->detector_path);
  g_free (p);
}

/* The warm-up's frame: mid-gray, big enough for an ordinary crop. */
#define WARM_UP_SIDE 64

FKP_PUBLIC gboolean
fkp_face_pipeline_warm_up (FkpFacePipeline *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);
  guint8 blank[WARM_UP_SIDE * WARM_UP_SIDE];
  memset (blank, 128, sizeof blank);
  FkpFaceFrame frame = { .width = WARM_UP_SIDE, .height = WARM_UP_SIDE,
                         .format = FKP_FACE_FORMAT_GRAY8, .data = blank,
                         .stride = WARM_UP_SIDE, .timestamp_ns = 0 };
  FkpFaceSampler s;
  fkp_face_sampler_init (&s, &frame);

  /* One thread: a net makes its helper threads at its first run with more.
   * The detector first: the landmark net, which the first frame on the
   * pipeline runs, is then the one whose weights were read last (the
   * shipped one's 28 MB go through the cache at each run). */
  gboolean ok = TRUE;
  if (p->detector != NULL) {
    /* The detector's thread count is set by whoever runs it next. */
    fkp_face_detector_set_threads (p->detector, 1);
    GArray *boxes = g_array_new (FALSE, FALSE, sizeof (FkpFaceDetection));
    /* A threshold no score reaches: the net runs, no box comes out. */
    fkp_face_detector_set_pause (p->detector, p->opts.pause_func, p->opts.pause_data);
    ok = fkp_face_detector_detect (p->detector, &s, 1.0f, 0, boxes, error);
    fkp_face_detector_set_pause (p->detector, NULL, NULL);
    g_array_free (boxes, TRUE);
  }
  if (p->landmarks != NULL)
    fkp_landmark_model_set_threads (p->landmarks, 1);
  if (ok && p->landmarks != NULL) {
    fkp_landmark_model_set_pause (p->landmarks, p->opts.pause_func, p->opts.pause_data);
    FkpFaceCrop crop;
    fkp_landmark_model_crop_from_box (p->landmarks,
        &(FkpFaceBox) { WARM_UP_SIDE / 4, WARM_UP_SIDE / 4, WARM_UP_SIDE / 2, WARM_UP_SIDE / 2 },
        &crop);
    float points[FKP_FACE_N_POINTS][2];
    ok = fkp_landmark_model_predict (p->landmarks, &s, &crop, points, error);
  }
  share_threads (p);
  if (p->landmarks != NULL)
    fkp_landmark_model_set_pause (p->landmarks, NULL, NULL);
  /* Later runs belong to the stream, which the pause would make wait on itself. */
  p->opts.pause_func = NULL;
  p->opts.pause_data = NULL;
  return ok;
}

/* The models p was made without (FkpFaceOptions.keep_*), from `from`: checks
 * first, so that a failure moves nothing. */
static gboolean
take_kept_models (FkpFacePipeline *p, FkpFacePipeline *from, GError **error)
{
  const gboolean take_landmarks = p->landmarks == NULL;
  const gboolean take_detector = p->opts.keep_detector_model && p->detector == NULL;
  if (take_landmarks
      && (from->landmarks == NULL || g_strcmp0 (p->landmark_path, from->landmark_path) != 0)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "the landmark model to keep, %s, is not the running pipeline's (%s)",
                 p->landmark_path, from->landmarks ? from->landmark_path : "none");
    return FALSE;
  }
  if (take_detector && from->detector != NULL
      && g_strcmp0 (p->detector_path, from->detector_path) != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "the detector model to keep, %s, is not the running pipeline's (%s)",
                 p->detector_path, from->detector_path);
    return FALSE;
  }
  /* from never loaded it (another face source): now, as set_source would */
  if (take_detector && from->detector == NULL && p->opts.source == FKP_FACE_SOURCE_DETECT
      && !load_detector (p, error))
    return FALSE;
  if (take_landmarks) {
    p->landmarks = g_steal_pointer (&from->landmarks);
    fkp_tracker_attach (from->tracker, NULL, &from->opts);
  }
  if (take_detector && from->detector != NULL) {
    /* with its worker, which may still be ending a run on it */
    fkp_detect_worker_free (p->worker);
    p->worker = g_steal_pointer (&from->worker);
    p->detector = g_steal_pointer (&from->detector);
  }
  p->opts.keep_landmark_model = FALSE;
  p->opts.keep_detector_model = FALSE;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_take_tracks (FkpFacePipeline *p, FkpFacePipeline *from, GError **error)
{
  g_return_val_if_fail (p != NULL && from != NULL && p != from, FALSE);
  if (!take_kept_models (p, from, error))
    return FALSE;
  /* A run of from's detector under way is from's: it ends unseen. */
  fkp_detect_worker_drop (from->worker, FALSE);
  from->detection_in_flight = FALSE;
  fkp_detect_worker_drop (p->worker, FALSE);
  p->detection_in_flight = FALSE;

  FkpTracker *tracker = p->tracker;
  p->tracker = from->tracker;
  from->tracker = tracker;
  fkp_tracker_attach (p->tracker, p->landmarks, &p->opts);
  fkp_tracker_attach (from->tracker, from->landmarks, &from->opts);
  p->frames_since_reset = from->frames_since_reset;
  p->frames_since_detect = from->frames_since_detect;
  p->have_time = from->have_time;
  p->last_time = from->last_time;
  fkp_face_pipeline_reset (from);
  /* The new detector's first run comes when the old one's next would have:
   * forced now, it would add its start (a thread, the frame's copy into
   * fresh memory) to the frame that swaps the models in. */
  share_threads (p);
  return TRUE;
}

FKP_PUBLIC void
fkp_face_pipeline_reset (FkpFacePipeline *p)
{
  fkp_tracker_reset (p->tracker);
  /* A run under way saw a frame from before: its boxes must not join. */
  fkp_detect_worker_drop (p->worker, FALSE);
  p->detection_in_flight = FALSE;
  share_threads (p);
  p->detection_forced = FALSE;
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
fkp_face_pipeline_set_detect_latency (FkpFacePipeline *p, int frames, GError **error)
{
  FkpFaceOptions wanted = p->opts;
  wanted.detect_latency = frames;
  if (!check_options (&wanted, error))
    return FALSE;
  p->opts.detect_latency = frames;
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
  if (enabled && !p->opts.smoothing)
    fkp_tracker_restart_smoothing (p->tracker);   /* rather than from stale values */
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
  share_threads (p);
  /* The detector's count is set by whoever runs it next (the worker may be
   * running it now). */
}

FKP_PUBLIC gboolean
fkp_face_pipeline_set_min_presence (FkpFacePipeline *p, float min_presence, GError **error)
{
  if (!(min_presence >= 0.0f && min_presence <= 1.0f)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "min presence %g is outside 0…1", min_presence);
    return FALSE;
  }
  p->opts.min_presence = min_presence;
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_face_pipeline_has_presence (const FkpFacePipeline *p)
{
  return fkp_landmark_model_has_presence (p->landmarks);
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

uint64_t
fkp_face_pipeline_get_background_detector_runs (const FkpFacePipeline *p)
{
  return p->n_background_runs;
}

uint64_t
fkp_face_pipeline_get_detector_join_waits (const FkpFacePipeline *p)
{
  return p->worker ? fkp_detect_worker_get_waits (p->worker) : 0;
}

gboolean
fkp_face_pipeline_detector_has_ended (const FkpFacePipeline *p)
{
  return p->worker == NULL || fkp_detect_worker_has_ended (p->worker);
}

void
fkp_face_pipeline_set_detector_test_hooks (FkpFacePipeline *p, guint max_delay_ms,
                                           gboolean hold_until_collected, guint failures)
{
  if (p->detector == NULL)
    return;
  if (p->worker == NULL)
    p->worker = fkp_detect_worker_new (p->detector);
  fkp_detect_worker_set_test_hooks (p->worker, max_delay_ms, hold_until_collected, failures);
}

/* ---- Processing ------------------------------------------------------- */

/* While the detector runs on the worker the two nets share the threads:
 * more threads than cores slow both (each net's run waits for its slowest
 * part at every step). */
static int
background_detector_threads (const FkpFacePipeline *p)
{
  return MAX (1, p->opts.threads / 2);
}

static gboolean
joins_when_ready (const FkpFacePipeline *p)
{
  return p->opts.detect_latency == FKP_FACE_DETECT_LATENCY_WHEN_READY;
}

/* A detector that joins when ready runs at the lowest priority, in the time
 * the landmark net leaves: the net keeps every thread. */
static void
share_threads (FkpFacePipeline *p)
{
  if (p->landmarks == NULL)   /* given away, or not yet taken (keep_landmark_model) */
    return;
  int landmark = p->detection_in_flight && !joins_when_ready (p)
                   ? MAX (1, p->opts.threads - background_detector_threads (p))
                   : p->opts.threads;
  fkp_landmark_model_set_threads (p->landmarks, landmark);
}

static float
start_threshold (const FkpFacePipeline *p)
{
  return p->opts.detector_threshold >= 0 ? p->opts.detector_threshold
                                         : fkp_face_detector_default_threshold (p->detector);
}

/* The detector's boxes, as landmark boxes, continue the tracks on this
 * frame; from_marked_frame: they were seen on the frame the run started on. */
static gboolean
associate_detections (FkpFacePipeline *p, const FkpFaceSampler *s, float start,
                      gboolean from_marked_frame, GError **error)
{
  FkpFaceDetection *dets = (FkpFaceDetection *) (void *) p->dets->data;
  for (guint i = 0; i < p->dets->len; i++) {
    FkpFaceBox lm;
    fkp_face_detector_landmark_box (p->detector, &dets[i].box, &lm);
    dets[i].box = lm;
  }
  return fkp_tracker_associate (p->tracker, s, dets, p->dets->len, start, FALSE,
                                from_marked_frame, error);
}

/* The detector on this frame, on this thread: the frame waits for it. */
static gboolean
detect_now (FkpFacePipeline *p, const FkpFaceSampler *s, GError **error)
{
  fkp_detect_worker_drop (p->worker, TRUE);   /* a dropped run may still hold the detector */
  fkp_face_detector_set_threads (p->detector, p->opts.threads);
  const float start = start_threshold (p);
  g_array_set_size (p->dets, 0);
  if (!fkp_face_detector_detect (p->detector, s,
                                 fkp_tracker_detection_threshold (p->tracker, start),
                                 p->opts.min_face_size, p->dets, error))
    return FALSE;
  p->n_detector_runs++;
  p->frames_since_detect = 0;
  p->detection_forced = FALSE;
  return associate_detections (p, s, start, FALSE, error);
}

/* The detector on a copy of this frame, on the worker, while this frame and
 * the next detect_latency - 1 are tracked; its boxes join at frame
 * t + detect_latency whenever it ends, so the faces do not depend on how
 * long it takes.  It gets half the threads: the landmark net runs at the
 * same time. */
static gboolean
detect_in_background (FkpFacePipeline *p, const FkpFaceSampler *s, GError **error)
{
  if (p->worker == NULL)
    p->worker = fkp_detect_worker_new (p->detector);
  const float start = start_threshold (p);
  if (!fkp_detect_worker_submit (p->worker, s, fkp_tracker_detection_threshold (p->tracker, start),
                                 p->opts.min_face_size, background_detector_threads (p),
                                 joins_when_ready (p), error))
    return FALSE;
  p->detection_in_flight = TRUE;
  share_threads (p);
  fkp_tracker_mark_detection_frame (p->tracker);
  p->detection_join_frame = p->frames_since_reset + (uint64_t) MAX (p->opts.detect_latency, 1);
  p->detection_last_frame = p->frames_since_reset + FKP_FACE_MAX_DETECT_LATENCY;
  p->detection_width = s->width;
  p->detection_height = s->height;
  p->detection_start_threshold = start;
  p->n_detector_runs++;
  p->n_background_runs++;
  p->frames_since_detect = 0;
  p->detection_forced = FALSE;
  return fkp_tracker_step_all (p->tracker, s, error);
}

/* The frame a background run joins at: its boxes (from frame t) are matched
 * against where the tracks were on frame t, and continue them on this one. */
static gboolean
join_detection (FkpFacePipeline *p, const FkpFaceSampler *s, GError **error)
{
  p->detection_in_flight = FALSE;
  share_threads (p);
  g_array_set_size (p->dets, 0);
  if (!fkp_detect_worker_collect (p->worker, p->dets, error))
    return FALSE;
  p->frames_since_detect++;
  return associate_detections (p, s, p->detection_start_threshold, TRUE, error);
}

/* Between detector runs (every detect_interval frames, or sooner when a
 * track is in doubt) the tracks follow their own points. */
static gboolean
process_detect (FkpFacePipeline *p, const FkpFaceSampler *s, GError **error)
{
  if (p->detection_in_flight
      && (s->width != p->detection_width || s->height != p->detection_height)) {
    /* A frame of another size: the run's boxes would be stale, and so are
     * the tracks' places; detect on this frame. */
    fkp_detect_worker_drop (p->worker, FALSE);
    p->detection_in_flight = FALSE;
    share_threads (p);
    return detect_now (p, s, error);
  }
  if (p->detection_in_flight) {
    /* A fixed latency joins at its frame, waiting if need be; when ready,
     * once the run has ended (or, at the last frame, waiting for it). */
    const gboolean due = !joins_when_ready (p)
                         || p->frames_since_reset >= p->detection_last_frame
                         || fkp_detect_worker_has_ended (p->worker);
    if (p->frames_since_reset >= p->detection_join_frame && due)
      return join_detection (p, s, error);
    p->frames_since_detect++;
    return fkp_tracker_step_all (p->tracker, s, error);
  }
  if (!p->detection_forced && p->frames_since_detect + 1 < p->opts.detect_interval
      && !fkp_tracker_wants_detection (p->tracker)) {
    if (!fkp_tracker_step_all (p->tracker, s, error))
      return FALSE;
    p->frames_since_detect++;
    return TRUE;
  }
  /* Without tracks there is nothing to do meanwhile: detect now, and new
   * faces appear on the frame they are seen on.  A track that lost its
   * presence waits for the detector's word on this very frame too (seen:
   * it goes on with its id; unseen: it ends). */
  if (p->opts.detect_latency == 0 || fkp_tracker_n_tracks (p->tracker) == 0
      || fkp_tracker_any_absent (p->tracker))
    return detect_now (p, s, error);
  return detect_in_background (p, s, error);
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
    if (fkp_face_box_size (b) < p->opts.min_face_size)
      continue;
    FkpFaceDetection d = { *b, 1.0f };
    g_array_append_val (p->dets, d);
  }
  return fkp_tracker_associate (p->tracker, s, (FkpFaceDetection *) (void *) p->dets->data,
                                p->dets->len, 0.0f, TRUE, FALSE, error);
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
  if (p->landmarks == NULL) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "the pipeline has no landmark model (made with keep_landmark_model: "
                 "fkp_face_pipeline_take_tracks gives it one)");
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

  fkp_tracker_begin_frame (p->tracker);
  int saved_since_detect = p->frames_since_detect;
  gboolean was_in_flight = p->detection_in_flight, was_forced = p->detection_forced;

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
    ok = fkp_tracker_full_frame (p->tracker, &s, error);
    break;
  }
  if (!ok) {
    p->frames_since_detect = saved_since_detect;
    p->detection_forced = was_forced;
    if (was_in_flight && !p->detection_in_flight) {
      /* The joining run's boxes are spent (or it failed): detect again. */
      p->detection_forced = TRUE;
    } else if (!was_in_flight && p->detection_in_flight) {
      /* Started on this failed frame: as if it had not. */
      fkp_detect_worker_drop (p->worker, FALSE);
      p->detection_in_flight = FALSE;
      share_threads (p);
      p->n_detector_runs--;
      p->n_background_runs--;
    }
    return FALSE;
  }

  /* Time: the frame's timestamp, or 30 frames per second when unknown.  A
   * step backwards or a repeat restarts the filters (dt <= 0). */
  double now = frame->timestamp_ns != FKP_FACE_TIMESTAMP_NONE
                 ? frame->timestamp_ns / 1e9
                 : p->frames_since_reset / 30.0;
  double dt = p->have_time ? now - p->last_time : 0.0;
  p->have_time = TRUE;
  p->last_time = now;
  p->frames_since_reset++;

  fkp_tracker_commit_frame (p->tracker, frame->width, frame->height, dt, out);
  return TRUE;
}
