/* facekp/face.h — the face pipeline of libfacekp-face: find faces in video
 * frames, crop them as the landmark model was trained, predict 68 landmarks,
 * track them with stable ids and smooth them.  Plain C on libfacekp-nn; no
 * GStreamer.
 *
 * Typical use:
 *
 *   FkpFaceOptions opts;
 *   fkp_face_options_init (&opts);          // shipped models, detector source
 *   FkpFacePipeline *p = fkp_face_pipeline_new (&opts, &error);
 *   FkpFaceList faces;
 *   fkp_face_list_init (&faces);
 *   FkpFaceFrame frame = { .width = w, .height = h, .format = FKP_FACE_FORMAT_BGRx,
 *                          .data = pixels, .stride = stride, .timestamp_ns = pts };
 *   if (!fkp_face_pipeline_process (p, &frame, NULL, 0, &faces, &error)) ...
 *   for (size_t i = 0; i < faces.n_faces; i++) faces.faces[i].points[36][0] ...
 *   fkp_face_list_clear (&faces);
 *   fkp_face_pipeline_free (p);
 *
 * Coordinates are frame pixels with pixel (i, j) covering [i, i+1) x [j, j+1),
 * i.e. its centre at (i + 0.5, j + 0.5) — the landmark model contract's
 * convention (docs/model-contract.md).  How faces are found, tracked and
 * smoothed: docs/face-pipeline.md.
 *
 * Threads: one pipeline must not be used by two threads at once; distinct
 * pipelines may run concurrently.  With detect_latency != 0 a pipeline owns
 * one more thread, which runs the detector; fkp_face_pipeline_free waits
 * for it.
 */
#ifndef FACEKP_FACE_H
#define FACEKP_FACE_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include <facekp/face-types.h>
#include <facekp/expressions.h>

G_BEGIN_DECLS

/* ---- Errors ---------------------------------------------------------- */

#define FKP_FACE_ERROR (fkp_face_error_quark ())
GQuark fkp_face_error_quark (void);

typedef enum {
  FKP_FACE_ERROR_INVALID_ARGUMENT, /* bad option, frame or box from the caller */
  FKP_FACE_ERROR_NOT_FOUND,        /* a default model file was not found */
  FKP_FACE_ERROR_MODEL,            /* a model loads but breaks its contract (task, keys, shapes) */
  FKP_FACE_ERROR_INFERENCE,        /* running a model failed */
} FkpFaceError;
/* Loading errors of the models themselves come through in the FKP_NN_ERROR
 * domain (facekp/nn.h), prefixed with the file name. */

/* ---- Frames ---------------------------------------------------------- */

/* Pixel layouts the pipeline reads.  For YUV frames pass the luma (Y) plane
 * as GRAY8 with its own stride: the landmark model sees BT.601 luma, which
 * is the Y plane as it is.  RGB layouts are converted per sample with
 * 0.299 R + 0.587 G + 0.114 B.  'x' bytes are ignored; alpha is ignored. */
typedef enum {
  FKP_FACE_FORMAT_GRAY8,
  FKP_FACE_FORMAT_RGB,
  FKP_FACE_FORMAT_BGR,
  FKP_FACE_FORMAT_RGBA,
  FKP_FACE_FORMAT_BGRA,
  FKP_FACE_FORMAT_ARGB,
  FKP_FACE_FORMAT_ABGR,
  FKP_FACE_FORMAT_RGBx,
  FKP_FACE_FORMAT_BGRx,
  FKP_FACE_FORMAT_xRGB,
  FKP_FACE_FORMAT_xBGR,
} FkpFaceFormat;

/* Unknown timestamp (the same value as GST_CLOCK_TIME_NONE). */
#define FKP_FACE_TIMESTAMP_NONE ((uint64_t) -1)

typedef struct {
  int width, height;          /* pixels, both >= 1 */
  FkpFaceFormat format;
  const uint8_t *data;        /* first byte of the first row */
  int stride;                 /* bytes from one row to the next, >= width * bytes per pixel */
  /* Presentation time in nanoseconds, drives the smoothing filter.  With
   * FKP_FACE_TIMESTAMP_NONE the pipeline assumes 30 frames per second and
   * counts frames since the last reset. */
  uint64_t timestamp_ns;
} FkpFaceFrame;

/* ---- Faces ----------------------------------------------------------- */

/* FkpFace, FkpFaceBox and FKP_FACE_N_POINTS: facekp/face-types.h. */

/* A growable list of faces, owned by the caller. */
typedef struct {
  FkpFace *faces;
  size_t n_faces;
  size_t capacity;
} FkpFaceList;

void fkp_face_list_init (FkpFaceList *list);
void fkp_face_list_clear (FkpFaceList *list);   /* frees the storage; the list can be reused */

/* ---- Options --------------------------------------------------------- */

typedef enum {
  FKP_FACE_SOURCE_DETECT,      /* the CNN detector, every detect_interval frames and on a lost track */
  FKP_FACE_SOURCE_UPSTREAM,    /* boxes handed to fkp_face_pipeline_process() by the caller */
  FKP_FACE_SOURCE_FULL_FRAME,  /* the whole frame is one face crop (always one face) */
} FkpFaceSource;

/* See FkpFaceOptions.pause_func. */
typedef void (*FkpFacePauseFunc) (void *data);

typedef struct {
  const char *landmark_model;  /* path, or the file name of a shipped model (see
                                  fkp_face_find_model); NULL = the shipped
                                  models/facekp-landmarks68.onnx */
  const char *detector_model;  /* same; NULL = the shipped models/face-detector.onnx (loaded only for DETECT) */
  FkpFaceSource source;        /* default DETECT */
  int detect_interval;         /* run the detector every N frames while tracking (>= 1; default 10) */
  int detect_latency;          /* while there are tracks, a detector run started at frame t runs
                                  on its own thread and its boxes join at frame t + N, the frames
                                  between tracked meanwhile; 0 = the frame waits for the detector
                                  (0 … FKP_FACE_MAX_DETECT_LATENCY; default 2);
                                  FKP_FACE_DETECT_LATENCY_WHEN_READY = at the first frame after
                                  the run has ended, at the lowest CPU priority (see
                                  docs/face-pipeline.md: results then depend on timing) */
  int max_faces;               /* at most this many faces (1 … 64; default 4) */
  int min_face_size;           /* ignore detected/upstream boxes whose larger side is smaller (px; default 24) */
  int detector_input_width;    /* detector input in pixels (multiples of facekp.input.multiple, */
  int detector_input_height;   /*   32 for the shipped one); 0 = the model's own (640 x 480) */
  float detector_threshold;    /* minimum detector score (0 … 1); < 0 = the model's own (0.15 for the shipped one) */
  gboolean smoothing;          /* One-Euro smoothing of the points (default TRUE) */
  float smoothing_min_cutoff;  /* Hz; lower = steadier still faces (default 1.0) */
  float smoothing_beta;        /* speed coefficient, per face size per second; higher = less lag (default 40) */
  float smoothing_d_cutoff;    /* Hz; cutoff of the speed estimate (default 1.0) */
  int threads;                 /* threads per model run; 0 = 1 */
  float min_presence;          /* a face whose landmark-model presence on a frame is below this is
                                  not a face on that frame: a track is left out of that frame's
                                  faces (and ends unless the detector sees it on the next), a
                                  detection does not start one (0 … 1; default 0.05; ignored for a model without a
                                  presence output, and for FULL_FRAME, which always gives one face) */
  FkpFacePauseFunc pause_func; /* called between pieces of work (a block of a model file, a node,
                                  a weight pack, a step; most well under a millisecond, the
                                  longest 5-8 ms) while fkp_face_pipeline_new() loads the models
                                  and while fkp_face_pipeline_warm_up() runs them, on that
                                  thread; it may block, which is how a pipeline built in the
                                  background gives way to a stream's frames; never called after
                                  the warm-up; NULL (default) = none */
  void *pause_data;
  /* Made without that model, for a pipeline built ahead of a change that
   * leaves it as it is: fkp_face_pipeline_take_tracks moves it over from
   * the running pipeline, which must have it from the same file (the
   * resolved paths are compared).  Until then the pipeline cannot process
   * frames.  A kept detector that the running pipeline never loaded (face
   * source other than DETECT) loads when first needed.  Default FALSE. */
  gboolean keep_landmark_model;
  gboolean keep_detector_model;
} FkpFaceOptions;

#define FKP_FACE_MAX_FACES_LIMIT 64
#define FKP_FACE_DEFAULT_MIN_PRESENCE 0.05f
#define FKP_FACE_MAX_DETECT_LATENCY 30
/* detect_latency: the boxes join at the first frame after the run has
 * ended (at least 1, at most FKP_FACE_MAX_DETECT_LATENCY frames after the
 * frame it saw; it waits only then); the detector runs at the lowest CPU
 * priority, the landmark net keeps every thread.  No frame waits for the
 * detector on a busy machine, but which frame a run joins at depends on
 * timing: use a fixed latency for output that is the same on every run. */
#define FKP_FACE_DETECT_LATENCY_WHEN_READY (-1)

/* Fills `opts` with the defaults above. */
void fkp_face_options_init (FkpFaceOptions *opts);

/* ---- Default models -------------------------------------------------- */

#define FKP_FACE_LANDMARK_MODEL_NAME "facekp-landmarks68.onnx"
#define FKP_FACE_DETECTOR_MODEL_NAME "face-detector.onnx"

/* Finds a shipped model file by name: in $FACEKP_MODELS_DIR, then in the
 * installed data dir (<prefix>/share/facekp/models), then in the source
 * tree's models/ (running from the build tree).  Returns a newly allocated
 * path (g_free) or NULL with FKP_FACE_ERROR_NOT_FOUND naming the places
 * searched. */
char *fkp_face_find_model (const char *file_name, GError **error);

/* ---- Background work ------------------------------------------------ */

/* Keeps the calling thread off `cpu` (Linux, when another CPU is allowed to
 * it; elsewhere, or for cpu < 0, nothing), for a low-priority worker that
 * must not take slices from the thread whose frames run on `cpu`: the
 * scheduler wakes such a worker there when the other CPUs are busy.
 * `*avoided` is the CPU the thread's affinity leaves out (-1 at first:
 * none); the one left out before is allowed again when `cpu` changes.  The
 * pipeline's detector worker and facekpfilter's model worker use it. */
void fkp_face_thread_keep_off_cpu (int cpu, int *avoided);

/* ---- The pipeline ---------------------------------------------------- */

typedef struct _FkpFacePipeline FkpFacePipeline;

/* Loads the models and checks them against their contracts.  `opts` may be
 * NULL (defaults).  Returns NULL and sets `error` on failure. */
FkpFacePipeline *fkp_face_pipeline_new (const FkpFaceOptions *opts, GError **error);
void fkp_face_pipeline_free (FkpFacePipeline *pipeline);   /* NULL is allowed */

/* Runs each loaded model once on a blank frame, on the calling thread only,
 * and forgets the result (tracks and statistics untouched): memory the
 * first run touches is then touched, and a model that loads but cannot run
 * fails here.  No thread is started: a net's helper threads (threads > 1)
 * are made by the first fkp_face_pipeline_process, on its thread, so that a
 * pipeline built on a low-priority thread does not hand that priority on.
 * For pipelines built ahead of use (facekpfilter's model changes). */
gboolean fkp_face_pipeline_warm_up (FkpFacePipeline *pipeline, GError **error);

/* Moves the tracks of @from (faces, ids, smoothing, the frame count) to
 * @pipeline, which forgets its own; @from is left with none, as after a
 * reset.  For a pipeline that takes over from another mid-stream (new
 * models): the faces go on with their ids, and the next frame follows them
 * instead of waiting for a detector run; a detection is asked for soon
 * after, in the background where detect_latency allows.  The models
 * @pipeline was made without (keep_landmark_model, keep_detector_model)
 * move over too, and @from is left without them: free it next.  Fails
 * with FKP_FACE_ERROR_INVALID_ARGUMENT, nothing moved, when such a model
 * of @from comes from another file (or @from has no landmark model). */
gboolean fkp_face_pipeline_take_tracks (FkpFacePipeline *pipeline, FkpFacePipeline *from,
                                        GError **error);

/* Processes one frame and writes its faces to `out` (replacing its
 * contents), ordered by id.  `upstream_boxes` (n_upstream of them, may be
 * NULL when 0) are used only with FKP_FACE_SOURCE_UPSTREAM, where they are
 * this frame's face boxes, taken as landmark boxes.  On error `out` is left
 * empty and the tracking state unchanged. */
gboolean fkp_face_pipeline_process (FkpFacePipeline *pipeline, const FkpFaceFrame *frame,
                                    const FkpFaceBox *upstream_boxes, size_t n_upstream,
                                    FkpFaceList *out, GError **error);

/* Forgets every track, id counter excluded (ids are never reused), and the
 * smoothing state: call on flush, seek or a discontinuity. */
void fkp_face_pipeline_reset (FkpFacePipeline *pipeline);

/* Run-time changes, effective from the next frame.  Invalid values are
 * refused with FALSE and FKP_FACE_ERROR_INVALID_ARGUMENT. */
gboolean fkp_face_pipeline_set_source (FkpFacePipeline *pipeline, FkpFaceSource source,
                                       GError **error);   /* DETECT needs the detector model loadable */
gboolean fkp_face_pipeline_set_detect_interval (FkpFacePipeline *pipeline, int frames, GError **error);
/* A detector run already under way keeps the frame it joins at. */
gboolean fkp_face_pipeline_set_detect_latency (FkpFacePipeline *pipeline, int frames, GError **error);
gboolean fkp_face_pipeline_set_max_faces (FkpFacePipeline *pipeline, int max_faces, GError **error);
gboolean fkp_face_pipeline_set_min_face_size (FkpFacePipeline *pipeline, int pixels, GError **error);
gboolean fkp_face_pipeline_set_detector_threshold (FkpFacePipeline *pipeline, float threshold,
                                                   GError **error);
gboolean fkp_face_pipeline_set_smoothing (FkpFacePipeline *pipeline, gboolean enabled,
                                          float min_cutoff, float beta, float d_cutoff,
                                          GError **error);
void fkp_face_pipeline_set_threads (FkpFacePipeline *pipeline, int threads);
gboolean fkp_face_pipeline_set_min_presence (FkpFacePipeline *pipeline, float min_presence,
                                             GError **error);
/* Whether the landmark model has a presence output (docs/model-contract.md). */
gboolean fkp_face_pipeline_has_presence (const FkpFacePipeline *pipeline);

/* The options in force (model paths resolved; valid until the next setter or free). */
const FkpFaceOptions *fkp_face_pipeline_get_options (const FkpFacePipeline *pipeline);

/* The landmark model's input side (facekp.input.size) and its exported test
 * NME (facekp.eval.nme, or NULL when absent). */
int fkp_face_pipeline_get_landmark_input_size (const FkpFacePipeline *pipeline);
const char *fkp_face_pipeline_get_landmark_metadata (const FkpFacePipeline *pipeline,
                                                     const char *key);

G_END_DECLS

#endif /* FACEKP_FACE_H */
