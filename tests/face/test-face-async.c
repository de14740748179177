/* The face pipeline's detector on its own thread (detect_latency > 0 or
 * when ready), on synthetic frames of one drifting face: the options'
 * range, a stream that starts as without the thread, a reset, a size change
 * and an error while a run is under way, when-ready joins, and the worker
 * thread's priority and CPU.  The sequences run with the detector on its
 * own thread are in test-face-pipeline.c (/face/pipeline/async/sequence,
 * lost-and-ids, deterministic). */
#include "face-scene.h"
#ifdef __linux__
#include <sched.h>
#endif

#include <stdlib.h>
#include <string.h>

static void
test_async_options (void)
{
  GError *error = NULL;
  FkpFaceOptions o;
  fkp_face_options_init (&o);
  g_assert_cmpint (o.detect_latency, ==, 2);
  o.detect_latency = FKP_FACE_MAX_DETECT_LATENCY + 1;
  g_assert_null (fkp_face_pipeline_new (&o, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "detect_latency"));
  g_clear_error (&error);
  o.detect_latency = FKP_FACE_DETECT_LATENCY_WHEN_READY - 1;
  g_assert_null (fkp_face_pipeline_new (&o, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  if (!test_have_models ())
    return;
  FkpFacePipeline *p = test_new_pipeline_with_latency (FKP_FACE_SOURCE_DETECT, FALSE, 2);
  g_assert_false (fkp_face_pipeline_set_detect_latency (p, 31, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (fkp_face_pipeline_get_options (p)->detect_latency, ==, 2);
  g_assert_true (fkp_face_pipeline_set_detect_latency (p, 0, &error));
  g_assert_cmpint (fkp_face_pipeline_get_options (p)->detect_latency, ==, 0);
  g_assert_true (fkp_face_pipeline_set_detect_latency (p, FKP_FACE_DETECT_LATENCY_WHEN_READY,
                                                       &error));
  fkp_face_pipeline_free (p);
}

/* Frame t of a face drifting slowly, at the same place in frames of any
 * size down to 480 × 360. */
static void
draw_drifting (TestScene *sc, int width, int height, int t)
{
  guint which[1] = { 2 };
  FkpSynthPlacement where = test_place (2, 220 + 2 * t, 180 + t, 120, 3);
  if (sc->canvas == NULL)
    sc->canvas = g_malloc ((size_t) W * H * 4);
  fkp_synth_background (sc->canvas, width, height, width * 4, 3);
  fkp_synth_paste (sc->canvas, width, height, width * 4, test_crop_face (which[0]), &where,
                   sc->truth[0]);
  sc->n = 1;
  sc->frame = (FkpFaceFrame) { width, height, FKP_FACE_FORMAT_BGRx, sc->canvas, width * 4,
                               (guint64) t * 33333333 };
}

/* Without tracks the detector runs on the frame itself, so a stream starts
 * exactly as with detect_latency 0, and the first run on the detector's
 * thread comes detect_interval frames later; the face keeps its id. */
static void
test_async_starts_now (void)
{
  if (!test_have_accurate_model ())
    return;
  FkpFacePipeline *sync = test_new_pipeline_with_latency (FKP_FACE_SOURCE_DETECT, TRUE, 0);
  FkpFacePipeline *async = test_new_pipeline_with_latency (FKP_FACE_SOURCE_DETECT, TRUE, 2);
  FkpFaceList a, b;
  fkp_face_list_init (&a);
  fkp_face_list_init (&b);
  TestScene sc = { 0 };
  guint id = 0;
  for (int t = 0; t < 16; t++) {
    draw_drifting (&sc, W, H, t);
    g_assert_true (fkp_face_pipeline_process (sync, &sc.frame, NULL, 0, &a, NULL));
    g_assert_true (fkp_face_pipeline_process (async, &sc.frame, NULL, 0, &b, NULL));
    g_assert_cmpuint (b.n_faces, ==, 1);
    if (t == 0)
      id = b.faces[0].id;
    g_assert_cmpuint (b.faces[0].id, ==, id);
    /* Identical until the first run that goes to the worker (frame 10). */
    if (t < 10) {
      g_assert_cmpuint (a.n_faces, ==, b.n_faces);
      g_assert_cmpmem (a.faces, a.n_faces * sizeof *a.faces, b.faces, b.n_faces * sizeof *b.faces);
    }
    g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (async), ==, t >= 10);
  }
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (async), ==, 2);
  g_free (sc.canvas);
  fkp_face_list_clear (&a);
  fkp_face_list_clear (&b);
  fkp_face_pipeline_free (sync);
  fkp_face_pipeline_free (async);
}

/* A pipeline with the detector on its own thread (latency 2) following the
 * drifting face. */
typedef struct {
  FkpFacePipeline *p;
  FkpFaceList out;
  TestScene sc;
} Drifting;

/* Returns the pipeline, or NULL (the test skipped) without an accurate model. */
static FkpFacePipeline *
drifting_init_latency (Drifting *d, int latency, guint max_delay_ms, gboolean hold,
                       guint failures)
{
  if (!test_have_accurate_model ())
    return NULL;
  d->p = test_new_pipeline_with_latency (FKP_FACE_SOURCE_DETECT, TRUE, latency);
  fkp_face_pipeline_set_detector_test_hooks (d->p, max_delay_ms, hold, failures);
  fkp_face_list_init (&d->out);
  d->sc = (TestScene) { 0 };
  return d->p;
}

static FkpFacePipeline *
drifting_init (Drifting *d, guint max_delay_ms, guint failures)
{
  return drifting_init_latency (d, 2, max_delay_ms, FALSE, failures);
}

static void
drifting_clear (Drifting *d)
{
  g_free (d->sc.canvas);
  fkp_face_list_clear (&d->out);
  fkp_face_pipeline_free (d->p);
}

/* Runs `n` frames from frame `t0`, each finding the face; returns its last id. */
static guint
run_drifting (Drifting *d, int width, int height, int t0, int n)
{
  guint id = 0;
  for (int t = t0; t < t0 + n; t++) {
    draw_drifting (&d->sc, width, height, t);
    g_assert_true (fkp_face_pipeline_process (d->p, &d->sc.frame, NULL, 0, &d->out, NULL));
    g_assert_cmpuint (d->out.n_faces, ==, 1);
    int match[1];
    g_assert_cmpint (test_match_faces (&d->sc, &d->out, match), ==, 1);
    id = d->out.faces[0].id;
  }
  return id;
}

/* A reset while a run is under way drops it (its boxes never join), a frame
 * of another size drops it and detects on that frame, and freeing the
 * pipeline waits for it. */
static void
test_async_reset_and_size_change (void)
{
  Drifting d;
  FkpFacePipeline *p = drifting_init (&d, 150, 0);
  if (p == NULL)
    return;
  /* Frame 10 hands a run to the worker, which joins at frame 12. */
  guint id = run_drifting (&d, W, H, 0, 11);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (p), ==, 1);
  fkp_face_pipeline_reset (p);
  guint64 runs = fkp_face_pipeline_get_detector_runs (p);
  /* No tracks: the next frame detects itself; nothing from the old run. */
  guint after_reset = run_drifting (&d, W, H, 11, 1);
  g_assert_cmpuint (after_reset, >, id);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (p), ==, runs + 1);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_join_waits (p), ==, 0);
  /* Again to a run under way (frame 21), then the frame shrinks. */
  g_assert_cmpuint (run_drifting (&d, W, H, 12, 10), ==, after_reset);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (p), ==, 2);
  runs = fkp_face_pipeline_get_detector_runs (p);
  guint small = run_drifting (&d, 480, 360, 22, 1);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (p), ==, runs + 1);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (p), ==, 2);
  /* The same frames on: no join comes from the dropped run. */
  g_assert_cmpuint (run_drifting (&d, 480, 360, 23, 4), ==, small);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_runs (p), ==, runs + 1);
  /* Freed with a run under way (frame 10 after the last detection). */
  run_drifting (&d, 480, 360, 27, 6);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (p), ==, 3);
  drifting_clear (&d);
}

/* A run that fails is reported at its join frame, as the detector's errors
 * are on the frame that runs it: that frame fails and leaves the tracks as
 * they were, and the next frame starts a new run. */
static void
test_async_error (void)
{
  Drifting d;
  if (drifting_init (&d, 0, 1) == NULL)
    return;
  guint id = run_drifting (&d, W, H, 0, 12);   /* frames 0-11, a run from frame 10 */
  draw_drifting (&d.sc, W, H, 12);
  GError *error = NULL;
  g_assert_false (fkp_face_pipeline_process (d.p, &d.sc.frame, NULL, 0, &d.out, &error));
  g_assert_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INFERENCE);
  g_clear_error (&error);
  g_assert_cmpuint (d.out.n_faces, ==, 0);
  /* The same frame again starts a new run; the face keeps its id. */
  guint64 background = fkp_face_pipeline_get_background_detector_runs (d.p);
  g_assert_cmpuint (run_drifting (&d, W, H, 12, 1), ==, id);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (d.p), ==, background + 1);
  g_assert_cmpuint (run_drifting (&d, W, H, 13, 3), ==, id);
  drifting_clear (&d);
}

/* When ready: a run's boxes join at the first frame after it has ended,
 * without waiting: with every run ended before the next frame (the test
 * waits for it), the faces are those of latency 1, bit for bit.  A run
 * that has not ended FKP_FACE_MAX_DETECT_LATENCY frames later is waited
 * for then (here one held until its frame collects it). */
static void
test_when_ready_joins (void)
{
  Drifting d, fixed;
  if (drifting_init_latency (&d, FKP_FACE_DETECT_LATENCY_WHEN_READY, 0, FALSE, 0) == NULL)
    return;
  drifting_init_latency (&fixed, 1, 0, FALSE, 0);
  for (int t = 0; t < 32; t++) {
    for (int i = 0; i < 2000 && !fkp_face_pipeline_detector_has_ended (d.p); i++)
      g_usleep (10000);
    g_assert_true (fkp_face_pipeline_detector_has_ended (d.p));
    run_drifting (&d, W, H, t, 1);
    run_drifting (&fixed, W, H, t, 1);
    g_assert_cmpmem (d.out.faces, d.out.n_faces * sizeof *d.out.faces, fixed.out.faces,
                     fixed.out.n_faces * sizeof *fixed.out.faces);
  }
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (d.p), ==, 3);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (fixed.p), ==, 3);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_join_waits (d.p), ==, 0);
  drifting_clear (&d);
  drifting_clear (&fixed);

  drifting_init_latency (&d, FKP_FACE_DETECT_LATENCY_WHEN_READY, 0, TRUE, 0);
  guint id = run_drifting (&d, W, H, 0, 11);
  /* Held: in flight for 30 frames (no new run meanwhile), then waited for. */
  g_assert_cmpuint (run_drifting (&d, W, H, 11, FKP_FACE_MAX_DETECT_LATENCY - 1), ==, id);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_join_waits (d.p), ==, 0);
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (d.p), ==, 1);
  g_assert_cmpuint (run_drifting (&d, W, H, 10 + FKP_FACE_MAX_DETECT_LATENCY, 1), ==, id);
  g_assert_cmpuint (fkp_face_pipeline_get_detector_join_waits (d.p), ==, 1);
  drifting_clear (&d);
}

/* Threads of this process whose nice value is @nice (Linux: /proc); the
 * last one's id in @last_tid if not NULL. */
static int
threads_with_nice (int nice, int *last_tid)
{
  int n = 0;
  GDir *dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;
  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename ("/proc/self/task", tid, "stat", NULL);
    g_autofree char *stat = NULL;
    if (!g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    /* after the command's closing parenthesis: field 3 (state) onwards */
    g_auto (GStrv) fields = g_strsplit (strrchr (stat, ')') + 2, " ", -1);
    if (g_strv_length (fields) > 16 && atoi (fields[16]) == nice) {
      n++;
      if (last_tid != NULL)
        *last_tid = atoi (tid);
    }
  }
  if (dir != NULL)
    g_dir_close (dir);
  return n;
}

/* A when-ready run keeps the worker off the CPU it was submitted from
 * (the scheduler woke it there and it preempted the frames): submitted
 * from each allowed CPU in turn, the worker's affinity leaves that one out
 * and keeps the others.  Frames 20, 30, ... hand runs to the worker. */
static void
check_worker_keeps_off_caller_cpu (Drifting *d, int *frame)
{
#ifdef __linux__
  cpu_set_t allowed;
  g_assert_cmpint (sched_getaffinity (0, sizeof allowed, &allowed), ==, 0);
  if (CPU_COUNT (&allowed) < 2) {
    g_test_message ("one CPU allowed: the worker's affinity is not checked");
    return;
  }
  int checked = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && checked < 2; cpu++) {
    if (!CPU_ISSET (cpu, &allowed))
      continue;
    cpu_set_t one;
    CPU_ZERO (&one);
    CPU_SET (cpu, &one);
    g_assert_cmpint (sched_setaffinity (0, sizeof one, &one), ==, 0);
    run_drifting (d, W, H, *frame, 10);
    *frame += 10;
    while (!fkp_face_pipeline_detector_has_ended (d->p))
      g_usleep (10000);
    int worker = -1;
    g_assert_cmpint (threads_with_nice (19, &worker), ==, 1);
    cpu_set_t kept;
    g_assert_cmpint (sched_getaffinity (worker, sizeof kept, &kept), ==, 0);
    g_assert_false (CPU_ISSET (cpu, &kept));
    g_assert_cmpint (CPU_COUNT (&kept), ==, CPU_COUNT (&allowed) - 1);
    checked++;
  }
  g_assert_cmpint (sched_setaffinity (0, sizeof allowed, &allowed), ==, 0);
#else
  (void) d;
  (void) frame;
#endif
}

/* When ready, the worker's thread runs at nice 19, its own thread which
 * ends with it (a pooled thread would go on at nice 19 in another pool);
 * back to a fixed latency the thread is made anew at the caller's
 * priority. */
static void
test_when_ready_priority (void)
{
  if (!g_file_test ("/proc/self/task", G_FILE_TEST_IS_DIR)) {
    g_test_skip ("no /proc/self/task");
    return;
  }
  g_assert_cmpint (threads_with_nice (19, NULL), ==, 0);   /* none left by the tests before */
  Drifting d;
  if (drifting_init_latency (&d, FKP_FACE_DETECT_LATENCY_WHEN_READY, 0, FALSE, 0) == NULL)
    return;
  run_drifting (&d, W, H, 0, 11);   /* frame 10 hands a run to the worker */
  while (!fkp_face_pipeline_detector_has_ended (d.p))
    g_usleep (10000);
  g_assert_cmpint (threads_with_nice (19, NULL), ==, 1);
  int frame = 11;
  check_worker_keeps_off_caller_cpu (&d, &frame);
  const guint64 runs = fkp_face_pipeline_get_background_detector_runs (d.p);
  g_assert_true (fkp_face_pipeline_set_detect_latency (d.p, 2, NULL));
  run_drifting (&d, W, H, frame, 10);   /* a run at a fixed latency */
  g_assert_cmpuint (fkp_face_pipeline_get_background_detector_runs (d.p), ==, runs + 1);
  g_assert_cmpint (threads_with_nice (19, NULL), ==, 0);
  drifting_clear (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  test_scenes_init ();
  g_test_add_func ("/face/pipeline/async/options", test_async_options);
  g_test_add_func ("/face/pipeline/async/starts-now", test_async_starts_now);
  g_test_add_func ("/face/pipeline/async/reset-and-size-change", test_async_reset_and_size_change);
  g_test_add_func ("/face/pipeline/async/error", test_async_error);
  g_test_add_func ("/face/pipeline/async/when-ready/joins", test_when_ready_joins);
  g_test_add_func ("/face/pipeline/async/when-ready/priority", test_when_ready_priority);
  int status = g_test_run ();
  test_scenes_clear ();
  return status;
}
