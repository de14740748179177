/* The element's model worker: face pipelines for model changes made while
 * playing are built here, off the streaming thread, which swaps them in at a
 * frame boundary (the settings helpers are in facekpsettings.c). */
#include "facekpmodels.h"

#ifdef __linux__
#include <sched.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

GST_DEBUG_CATEGORY_EXTERN (gst_facekp_filter_debug);
#define GST_CAT_DEFAULT gst_facekp_filter_debug

/* One job for the worker: build a pipeline (options set) or free one. */
typedef struct {
  FkpFaceOptions opts;
  gchar *landmark_model, *detector_model;  /* what opts point at */
  gchar *what;
  guint64 generation;
  FkpFacePipeline *pipeline;  /* built, or to free */
  GError *error;
  gboolean build;
} ModelJob;

/* Its own thread, not a GThreadPool's: a pool's thread outlives its pool
 * and serves the next one made (GStreamer's streaming threads come from a
 * pool), and this one runs at nice 19, which it cannot undo. */
struct _FacekpModelLoader {
  GThread *worker;       /* one thread: jobs run in order */
  GAsyncQueue *jobs;     /* ModelJob; the loader itself: end the thread */
  GAsyncQueue *built;    /* finished builds, ModelJob */
  guint64 requested;     /* generation of the newest request */
  /* The gate the worker's pauses wait at while the stream runs a frame. */
  GMutex gate_lock;
  GCond frame_ended;
  gboolean in_frame;     /* the streaming thread is inside a frame */
  guint64 frames_ended;
  gint64 frame_began;    /* when the last frame began (monotonic µs; 0: none yet) */
  gint64 frame_period;   /* smoothed time between frame starts (µs; 0: unknown) */
  gint64 resumed_at;     /* when the worker last went on (monotonic µs) */
  gint stream_cpu;       /* the CPU the last frame began on (-1: unknown) */
  gint worker_avoids;    /* the CPU the worker's affinity leaves out (-1: none) */
  gboolean closing;
};

/* Once it goes on, the worker works at least this long before it waits for
 * a frame again: with frames back to back (no idle time between them) a
 * load still moves, a few milliseconds per frame. */
#define MIN_WORK_US 2000
/* The longest piece of work between two pauses, about: the detector's first
 * conv in the warm-up run (6–8 ms at 640×480 on a 2-core AMD EPYC Zen 3). No
 * piece starts this close to when the next frame is due. */
#define PIECE_US 10000

static void
model_job_free (ModelJob *job)
{
  g_clear_pointer (&job->pipeline, fkp_face_pipeline_free);
  g_clear_error (&job->error);
  g_free (job->landmark_model);
  g_free (job->detector_model);
  g_free (job->what);
  g_free (job);
}

/* The worker runs at nice 19, for this thread alone (Linux gives each
 * thread its own nice value), as the detector's worker does: on a machine
 * without a core to spare, a load at the streaming thread's priority took
 * half of the CPU from the frames.  Not SCHED_IDLE (used before; no
 * difference measured in bench-model-swap): a thread of that class that
 * holds a lock the stream may need (the process's memory map, while it
 * maps or unmaps) waits behind every other runnable thread of its core,
 * the detector's worker included, where a nice-19 one still gets its
 * slice.  Elsewhere the worker keeps the default priority. */
static void
lower_worker_priority (void)
{
#ifdef __linux__
  if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 19) != 0)
    GST_DEBUG ("model worker keeps its priority: %s", g_strerror (errno));
#endif
}

/* The pause function of the pipelines the worker builds (FkpFaceOptions):
 * it waits while the streaming thread runs a frame, or when the next one is
 * due within PIECE_US, so that the load's memory traffic (a 28 MB file
 * read, parsed, packed) falls between frames, not into them.  Even at low
 * priority on another core it slowed a frame by up to a third through the
 * shared cache and memory.  It waits for one frame's end at most (a due
 * frame that does not come: two periods), then works on for at least
 * MIN_WORK_US. */
static void
give_way_to_frames (gpointer data)
{
  FacekpModelLoader *loader = data;
  g_mutex_lock (&loader->gate_lock);
  const gint64 now = g_get_monotonic_time ();
  const gint64 since_begin = now - loader->frame_began, period = loader->frame_period;
  const gboolean due = period > 0 && since_begin >= period - PIECE_US
                       && since_begin < 2 * period;
  if ((loader->in_frame || due) && !loader->closing && now - loader->resumed_at >= MIN_WORK_US) {
    const guint64 frame = loader->frames_ended;
    const gint64 give_up = loader->frame_began + 2 * period;
    while (loader->frames_ended == frame && !loader->closing) {
      if (loader->in_frame)
        g_cond_wait (&loader->frame_ended, &loader->gate_lock);
      else if (!due || !g_cond_wait_until (&loader->frame_ended, &loader->gate_lock, give_up))
        break;
    }
    loader->resumed_at = g_get_monotonic_time ();
  }
  /* Off the CPU the stream's frames run on: the scheduler tended to wake
   * the worker there, where, even at nice 19 and only between frames, its
   * load (a 28 MB file read, parsed, packed) left the next frame's caches
   * cold.  bench-model-swap, threads=1, 2 vCPUs AMD Zen 4, runs of 30
   * swaps: the swap's longest frame longer than the steady frames' just
   * before in 25, 26, 20 of 30 swaps (1.18, 1.19, 1.06 times their longest)
   * against 28, 27, 26 (1.28, 1.26, 1.20) without; a noisy host, a small
   * gain. */
  fkp_face_thread_keep_off_cpu (loader->stream_cpu, &loader->worker_avoids);
  g_mutex_unlock (&loader->gate_lock);
}

void
facekp_model_loader_frame_begin (FacekpModelLoader *loader)
{
  const gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&loader->gate_lock);
  loader->in_frame = TRUE;
  if (loader->frame_began > 0) {
    const gint64 interval = MIN (now - loader->frame_began, G_USEC_PER_SEC);
    loader->frame_period = loader->frame_period > 0
                           ? (7 * loader->frame_period + interval) / 8 : interval;
  }
  loader->frame_began = now;
#ifdef __linux__
  loader->stream_cpu = sched_getcpu ();
#endif
  g_mutex_unlock (&loader->gate_lock);
}

void
facekp_model_loader_frame_end (FacekpModelLoader *loader)
{
  g_mutex_lock (&loader->gate_lock);
  loader->in_frame = FALSE;
  loader->frames_ended++;
  g_cond_broadcast (&loader->frame_ended);
  g_mutex_unlock (&loader->gate_lock);
}

static void
run_job (ModelJob *job, FacekpModelLoader *loader)
{
  /* Freeing returns memory too (unmapping, on the stream's process): between frames. */
  give_way_to_frames (loader);
  if (!job->build) {
    model_job_free (job);
    return;
  }
  /* Everything the first frame would otherwise do happens here: parsing,
   * weight packing, buffers, and one run of each model, which also touches
   * the memory a run uses.  What is left for the streaming thread is a
   * pointer exchange, and, with threads > 1, making the nets' helper threads
   * at their first run there: made here, they would inherit this thread's
   * low priority. */
  job->pipeline = fkp_face_pipeline_new (&job->opts, &job->error);
  if (job->pipeline && !fkp_face_pipeline_warm_up (job->pipeline, &job->error))
    g_clear_pointer (&job->pipeline, fkp_face_pipeline_free);
  g_async_queue_push (loader->built, job);
}

static gpointer
worker_main (gpointer data)
{
  FacekpModelLoader *loader = data;
  lower_worker_priority ();
  gpointer job;
  while ((job = g_async_queue_pop (loader->jobs)) != loader)
    run_job (job, loader);
  return NULL;
}

FacekpModelLoader *
facekp_model_loader_new (void)
{
  FacekpModelLoader *loader = g_new0 (FacekpModelLoader, 1);
  loader->built = g_async_queue_new ();
  loader->jobs = g_async_queue_new ();
  g_mutex_init (&loader->gate_lock);
  g_cond_init (&loader->frame_ended);
  loader->stream_cpu = -1;
  loader->worker_avoids = -1;
  /* Made now, so that a load never waits for a thread; it only sleeps
   * between jobs. */
  loader->worker = g_thread_new ("facekp-models", worker_main, loader);
  return loader;
}

void
facekp_model_loader_request (FacekpModelLoader *loader, const FkpFaceOptions *opts,
                             const gchar *what)
{
  ModelJob *job = g_new0 (ModelJob, 1);
  job->opts = *opts;
  job->landmark_model = g_strdup (opts->landmark_model);
  job->detector_model = g_strdup (opts->detector_model);
  job->opts.landmark_model = job->landmark_model;
  job->opts.detector_model = job->detector_model;
  job->what = g_strdup (what);
  job->generation = ++loader->requested;
  job->build = TRUE;
  job->opts.pause_func = give_way_to_frames;
  job->opts.pause_data = loader;
  g_async_queue_push (loader->jobs, job);
}

gboolean
facekp_model_loader_collect (FacekpModelLoader *loader, FkpFacePipeline **pipeline,
                             gchar **what, GError **error)
{
  ModelJob *job;
  while ((job = g_async_queue_try_pop (loader->built))) {
    if (job->generation != loader->requested) {
      /* Superseded by a later change: never shown, freed off this thread. */
      facekp_model_loader_retire (loader, g_steal_pointer (&job->pipeline));
      model_job_free (job);
      continue;
    }
    *pipeline = g_steal_pointer (&job->pipeline);
    *what = g_steal_pointer (&job->what);
    if (job->error)
      g_propagate_error (error, g_steal_pointer (&job->error));
    model_job_free (job);
    return TRUE;
  }
  return FALSE;
}

void
facekp_model_loader_retire (FacekpModelLoader *loader, FkpFacePipeline *pipeline)
{
  if (!pipeline)
    return;
  ModelJob *job = g_new0 (ModelJob, 1);
  job->pipeline = pipeline;
  g_async_queue_push (loader->jobs, job);
}

void
facekp_model_loader_free (FacekpModelLoader *loader)
{
  if (!loader)
    return;
  g_mutex_lock (&loader->gate_lock);
  loader->closing = TRUE;   /* no frame comes any more: the jobs left run straight through */
  g_cond_broadcast (&loader->frame_ended);
  g_mutex_unlock (&loader->gate_lock);
  g_async_queue_push (loader->jobs, loader);   /* after the jobs queued: they run first */
  g_thread_join (loader->worker);
  g_async_queue_unref (loader->jobs);
  ModelJob *job;
  while ((job = g_async_queue_try_pop (loader->built)))
    model_job_free (job);
  g_async_queue_unref (loader->built);
  g_mutex_clear (&loader->gate_lock);
  g_cond_clear (&loader->frame_ended);
  g_free (loader);
}

gboolean
facekp_model_loader_swap (FacekpModelLoader *loader, GstElement *element,
                          FkpFacePipeline **pipeline)
{
  FkpFacePipeline *fresh = NULL;
  gchar *what = NULL;
  GError *error = NULL;
  if (!facekp_model_loader_collect (loader, &fresh, &what, &error))
    return FALSE;
  if (!fresh) {
    GST_ELEMENT_WARNING (element, RESOURCE, OPEN_READ,
        ("Could not load %s, keeping the models in use: %s", what, error->message),
        ("%s", error->message));
    g_clear_error (&error);
    g_free (what);
    return FALSE;
  }
  /* The faces go on with their ids on the new models: no detector run on
   * this frame for want of tracks.  The models not reloaded move over. */
  if (!fkp_face_pipeline_take_tracks (fresh, *pipeline, &error)) {
    GST_ELEMENT_WARNING (element, RESOURCE, OPEN_READ,
        ("Could not switch to %s, keeping the models in use: %s", what, error->message),
        ("%s", error->message));
    g_clear_error (&error);
    g_free (what);
    facekp_model_loader_retire (loader, fresh);
    return FALSE;
  }
  facekp_model_loader_retire (loader, *pipeline);
  *pipeline = fresh;
  gst_element_post_message (element, gst_message_new_element (GST_OBJECT (element),
      gst_structure_new ("facekp-models", "models", G_TYPE_STRING, what, NULL)));
  g_free (what);
  return TRUE;
}
