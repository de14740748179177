/* The detector worker: one thread that runs the face detector on a copy of
 * a frame while the caller goes on tracking.  The pipeline decides when a
 * run starts and at which frame its boxes join (pipeline.c,
 * docs/face-pipeline.md "Detection off the caller's thread"); this file
 * only moves one run at a time to the thread and its result back.
 *
 * The detector (its net, its scratch rows) belongs to the worker from
 * fkp_detect_worker_submit until the run has ended; the caller that wants
 * to run it itself first calls fkp_detect_worker_drop (worker, TRUE). */
#include "face-private.h"

#include <errno.h>
#include <string.h>
#ifdef __linux__
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

typedef enum {
  WORKER_IDLE,      /* no run: the detector is free */
  WORKER_BUSY,      /* a run is queued or running: the detector is the thread's */
  WORKER_DONE,      /* the run has ended, its result waits to be collected */
} WorkerState;

struct _FkpDetectWorker {
  FkpFaceDetector *detector;      /* the pipeline's */
  /* Its own thread, not a GThreadPool's: a pool's thread outlives its pool
   * and serves the next pool made (GStreamer's streaming threads too), at
   * the nice value this one may have set. */
  GThread *thread;                /* made at the first submit */
  gboolean lowest_priority;       /* the thread's: made again when the wish changes */
  int caller_cpu;                 /* the CPU the last run was submitted from (-1: unknown) */
  int avoided_cpu;                /* the thread's: the CPU its affinity leaves out (-1: none) */
  gboolean pending;               /* a run submitted, not yet taken by the thread */
  gboolean quit;                  /* the thread ends once no run is pending */
  GMutex lock;
  GCond changed;                  /* state, cancelled or collecting changed */
  WorkerState state;
  gboolean cancelled;             /* the run under way is dropped when it ends */
  gboolean collecting;            /* collect waits for the run */
  uint64_t n_waits;               /* collects that found the run still going */
  guint test_delay_ms;            /* tests: sleep up to this long before each run */
  gboolean test_hold;             /* tests: start each run only once it is collected */
  guint test_failures;            /* tests: this many next runs fail */

  /* The run: written by submit while idle, read by the thread while busy. */
  uint8_t *pixels;                /* the frame's rows, packed */
  size_t pixels_size;
  FkpFaceSampler sampler;         /* over `pixels` */
  float threshold;
  int min_size;
  int threads;

  /* Its result: written by the thread, read by collect once done. */
  GArray *detections;             /* FkpFaceDetection */
  GError *error;
};

/* Nice 19 for the calling thread alone (on Linux a thread has its own nice
 * value; the threads it makes, the detector net's helpers, inherit it).  A
 * thread may not raise it again without privileges: the worker's thread is
 * made anew when normal priority is wanted back. */
static void
lower_thread_priority (void)
{
#ifdef __linux__
  if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 19) != 0)
    g_debug ("detector worker keeps its priority: %s", g_strerror (errno));
#endif
}

/* A lowest-priority worker keeps off the CPU its caller's frames run on.
 * Nice 19 is not enough: when the other CPU was busy (a model loading on
 * the element's worker), the scheduler woke this thread on the caller's
 * CPU, and there it took a slice of up to 4 ms out of the frame under way
 * (bench-model-swap, threads=1, 2 vCPUs, Linux 6.18: perf sched showed the
 * frame preempted by this thread). */
FKP_PUBLIC void
fkp_face_thread_keep_off_cpu (int cpu, int *avoided)
{
#ifdef __linux__
  if (cpu < 0 || cpu == *avoided)
    return;
  cpu_set_t allowed;
  if (sched_getaffinity (0, sizeof allowed, &allowed) != 0)
    return;
  if (*avoided >= 0)
    CPU_SET (*avoided, &allowed);   /* back in: the caller moved */
  if (!CPU_ISSET (cpu, &allowed) || CPU_COUNT (&allowed) < 2)
    return;
  CPU_CLR (cpu, &allowed);
  if (sched_setaffinity (0, sizeof allowed, &allowed) == 0)
    *avoided = cpu;
#else
  (void) cpu;
  (void) avoided;
#endif
}

/* The run submitted last. */
static void
run_detector (FkpDetectWorker *w)
{
  g_mutex_lock (&w->lock);
  while (w->test_hold && !w->collecting && !w->cancelled)
    g_cond_wait (&w->changed, &w->lock);
  const int caller_cpu = w->lowest_priority ? w->caller_cpu : -1;
  gboolean skip = w->cancelled;
  guint delay_ms = w->test_delay_ms;
  gboolean fail = !skip && w->test_failures > 0;
  w->test_failures -= fail;
  g_mutex_unlock (&w->lock);
  /* Not under the lock: it may move this thread. */
  fkp_face_thread_keep_off_cpu (caller_cpu, &w->avoided_cpu);

  g_array_set_size (w->detections, 0);
  g_clear_error (&w->error);
  if (delay_ms > 0 && !skip)
    g_usleep ((gulong) g_random_int_range (0, (gint32) delay_ms + 1) * 1000);
  if (fail)
    g_set_error (&w->error, FKP_FACE_ERROR, FKP_FACE_ERROR_INFERENCE,
                 "detector run failed on purpose (test hook)");
  else if (!skip) {
    fkp_face_detector_set_threads (w->detector, w->threads);
    fkp_face_detector_detect (w->detector, &w->sampler, w->threshold, w->min_size,
                              w->detections, &w->error);
  }

  g_mutex_lock (&w->lock);
  /* A dropped run is nobody's: the detector is free at once. */
  w->state = w->cancelled ? WORKER_IDLE : WORKER_DONE;
  w->cancelled = FALSE;
  g_cond_broadcast (&w->changed);
  g_mutex_unlock (&w->lock);
}

static gpointer
worker_main (gpointer data)
{
  FkpDetectWorker *w = data;
  if (w->lowest_priority)
    lower_thread_priority ();
  g_mutex_lock (&w->lock);
  for (;;) {
    while (!w->pending && !w->quit)
      g_cond_wait (&w->changed, &w->lock);
    if (!w->pending)
      break;
    w->pending = FALSE;
    g_mutex_unlock (&w->lock);
    run_detector (w);
    g_mutex_lock (&w->lock);
  }
  g_mutex_unlock (&w->lock);
  return NULL;
}

/* Ends the thread, after the run under way if any. */
static void
stop_thread (FkpDetectWorker *w)
{
  if (w->thread == NULL)
    return;
  g_mutex_lock (&w->lock);
  w->quit = TRUE;
  g_cond_broadcast (&w->changed);
  g_mutex_unlock (&w->lock);
  g_thread_join (w->thread);
  w->thread = NULL;
  w->quit = FALSE;
  w->avoided_cpu = -1;   /* the next thread starts with its maker's affinity */
}

FkpDetectWorker *
fkp_detect_worker_new (FkpFaceDetector *detector)
{
  FkpDetectWorker *w = g_new0 (FkpDetectWorker, 1);
  w->detector = detector;
  g_mutex_init (&w->lock);
  g_cond_init (&w->changed);
  w->state = WORKER_IDLE;
  w->caller_cpu = -1;
  w->avoided_cpu = -1;
  w->detections = g_array_new (FALSE, FALSE, sizeof (FkpFaceDetection));
  /* Test hook: random delays before each run must not change any result. */
  const char *delay = g_getenv ("FACEKP_TEST_DETECTOR_DELAY_MS");
  if (delay != NULL)
    w->test_delay_ms = (guint) MIN (g_ascii_strtoull (delay, NULL, 10), 10000);
  return w;
}

void
fkp_detect_worker_free (FkpDetectWorker *w)
{
  if (w == NULL)
    return;
  fkp_detect_worker_drop (w, FALSE);
  stop_thread (w);   /* waits for the run under way */
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->changed);
  g_free (w->pixels);
  g_array_free (w->detections, TRUE);
  g_clear_error (&w->error);
  g_free (w);
}

void
fkp_detect_worker_set_test_hooks (FkpDetectWorker *w, guint max_delay_ms,
                                  gboolean hold_until_collected, guint failures)
{
  g_mutex_lock (&w->lock);
  w->test_delay_ms = max_delay_ms;
  w->test_hold = hold_until_collected;
  w->test_failures = failures;
  g_mutex_unlock (&w->lock);
}

uint64_t
fkp_detect_worker_get_waits (FkpDetectWorker *w)
{
  g_mutex_lock (&w->lock);
  uint64_t n = w->n_waits;
  g_mutex_unlock (&w->lock);
  return n;
}

void
fkp_detect_worker_drop (FkpDetectWorker *w, gboolean wait)
{
  if (w == NULL)
    return;
  g_mutex_lock (&w->lock);
  if (w->state == WORKER_BUSY)
    w->cancelled = TRUE;        /* a net run cannot stop half way: it ends unseen */
  else
    w->state = WORKER_IDLE;     /* a finished result is forgotten */
  g_cond_broadcast (&w->changed);
  while (wait && w->state == WORKER_BUSY)
    g_cond_wait (&w->changed, &w->lock);
  g_mutex_unlock (&w->lock);
}

gboolean
fkp_detect_worker_has_ended (FkpDetectWorker *w)
{
  g_mutex_lock (&w->lock);
  gboolean ended = w->state != WORKER_BUSY;
  g_mutex_unlock (&w->lock);
  return ended;
}

gboolean
fkp_detect_worker_submit (FkpDetectWorker *w, const FkpFaceSampler *s, float threshold,
                          int min_size, int threads, gboolean lowest_priority, GError **error)
{
  fkp_detect_worker_drop (w, TRUE);
  if (w->lowest_priority != lowest_priority)
    stop_thread (w);   /* idle: the run was dropped above */
  w->lowest_priority = lowest_priority;
  if (w->thread == NULL) {
    w->thread = g_thread_try_new ("facekp-detect", worker_main, w, error);
    if (w->thread == NULL)
      return FALSE;
  }
  /* The copy: the caller's frame is gone by the time the run ends.  Only
   * the bytes of each row, packed, in the frame's own layout. */
  size_t row = (size_t) s->width * s->bytes_per_pixel;
  size_t need = row * s->height;
  if (need > w->pixels_size) {
    g_free (w->pixels);
    w->pixels = g_malloc (need);
    w->pixels_size = need;
  }
  for (int y = 0; y < s->height; y++)
    memcpy (w->pixels + row * y, s->data + (size_t) s->stride * y, row);
  w->sampler = *s;
  w->sampler.data = w->pixels;
  w->sampler.stride = (int) row;
  w->threshold = threshold;
  w->min_size = min_size;
  w->threads = MAX (1, threads);

  g_mutex_lock (&w->lock);
#ifdef __linux__
  w->caller_cpu = sched_getcpu ();
#endif
  w->state = WORKER_BUSY;
  w->pending = TRUE;
  g_cond_broadcast (&w->changed);
  g_mutex_unlock (&w->lock);
  return TRUE;
}

gboolean
fkp_detect_worker_collect (FkpDetectWorker *w, GArray *out, GError **error)
{
  g_mutex_lock (&w->lock);
  w->n_waits += w->state == WORKER_BUSY;
  w->collecting = TRUE;
  g_cond_broadcast (&w->changed);
  while (w->state == WORKER_BUSY)
    g_cond_wait (&w->changed, &w->lock);
  w->collecting = FALSE;
  gboolean have = w->state == WORKER_DONE;
  w->state = WORKER_IDLE;
  g_mutex_unlock (&w->lock);
  if (!have) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "no detector run to collect");
    return FALSE;
  }
  if (w->error != NULL) {
    g_propagate_error (error, w->error);
    w->error = NULL;
    return FALSE;
  }
  g_array_append_vals (out, w->detections->data, w->detections->len);
  return TRUE;
}
