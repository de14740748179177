/* Work splitting across a net's threads.
 *
 * OpenBLAS alone splits only the GEMMs it deems large, and leaves the
 * engine's own loops (direct convolutions, pooling) on one core: at 112² most
 * of the landmark network's GEMMs are below its threshold, so two threads ran
 * barely faster than one.  Here each run of a step is cut into parts, one per
 * thread, and OpenBLAS is kept single-threaded: a net with N threads owns N-1
 * workers, which sleep on a condition variable between steps.
 *
 * Parts are claimed, not assigned: the caller and the workers take the next
 * unclaimed part until none is left, and the caller waits only for parts
 * under way.  A worker that the OS has not scheduled yet (another process
 * on its core) then costs nothing: the caller runs its part.  With fixed
 * parts every step waited for it, and two threads on a busy machine ran at
 * half the speed of one. */
#include "nn-private.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define spin_pause() _mm_pause ()
#else
#define spin_pause() ((void) 0)
#endif

/* Some 10-30 µs of polling (a pause is tens of cycles): longer than the
 * gaps between steps, short enough not to hold a core the decoder wants. */
#define SPIN_POLLS 4000

struct _FkpNnPool {
  int n_threads;               /* including the caller */
  GThread **workers;
  GMutex lock;
  GCond wake, done;
  gint generation;             /* bumped for each job (atomic; wraps) */
  gint pending;                /* parts of the job not finished yet (atomic) */
  gint quit;
  FkpNnTask task;
  void *ctx;
  int n_parts;
  /* Parts are numbered by tickets that only grow (and wrap): the job's parts
   * are tickets [first_ticket, first_ticket + n_parts), next_ticket the
   * next unclaimed one (atomic).  A worker late for an old job finds its
   * tickets all taken and claims nothing of the new one. */
  guint first_ticket;
  gint next_ticket;
};

/* Claims and runs parts of the job that starts at `first` until none is
 * left. */
static void
run_parts (FkpNnPool *pool, FkpNnTask task, void *ctx, int n_parts, guint first)
{
  for (;;) {
    const gint ticket = g_atomic_int_get (&pool->next_ticket);
    const guint part = (guint) ticket - first;
    if (part >= (guint) n_parts)
      return;
    if (!g_atomic_int_compare_and_exchange (&pool->next_ticket, ticket, (gint) ((guint) ticket + 1)))
      continue;
    task (ctx, (int) part, n_parts);
    if (g_atomic_int_dec_and_test (&pool->pending)) {
      g_mutex_lock (&pool->lock);
      g_cond_signal (&pool->done);
      g_mutex_unlock (&pool->lock);
    }
  }
}

static gpointer
worker_main (gpointer data)
{
  FkpNnPool *pool = data;
  gint seen = 0;
  for (;;) {
    /* Steps follow each other within microseconds during a run: poll for
     * the next job a little before sleeping, as a wake-up through the
     * condition variable costs tens of microseconds per step. */
    for (int spin = 0; spin < SPIN_POLLS; spin++) {
      if (g_atomic_int_get (&pool->generation) != seen || g_atomic_int_get (&pool->quit))
        break;
      spin_pause ();
    }
    g_mutex_lock (&pool->lock);
    while (!pool->quit && pool->generation == seen)
      g_cond_wait (&pool->wake, &pool->lock);
    if (pool->quit)
      break;
    seen = pool->generation;
    FkpNnTask task = pool->task;
    void *ctx = pool->ctx;
    const int n_parts = pool->n_parts;
    const guint first = pool->first_ticket;
    g_mutex_unlock (&pool->lock);
    run_parts (pool, task, ctx, n_parts, first);
  }
  g_mutex_unlock (&pool->lock);
  return NULL;
}

FkpNnPool *
fkp_nn_pool_new (int n_threads)
{
  FkpNnPool *pool = g_new0 (FkpNnPool, 1);
  pool->n_threads = 1;
  g_mutex_init (&pool->lock);
  g_cond_init (&pool->wake);
  g_cond_init (&pool->done);
  pool->workers = g_new0 (GThread *, MAX (n_threads, 1));
  for (int i = 1; i < n_threads; i++) {
    /* A thread that cannot start leaves a smaller pool, not a failed run. */
    GThread *t = g_thread_try_new ("facekp-nn", worker_main, pool, NULL);
    if (t == NULL)
      break;
    pool->workers[pool->n_threads++] = t;
  }
  return pool;
}

void
fkp_nn_pool_free (FkpNnPool *pool)
{
  if (pool == NULL)
    return;
  g_mutex_lock (&pool->lock);
  g_atomic_int_set (&pool->quit, TRUE);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  for (int i = 1; i < pool->n_threads; i++)
    g_thread_join (pool->workers[i]);
  g_free (pool->workers);
  g_mutex_clear (&pool->lock);
  g_cond_clear (&pool->wake);
  g_cond_clear (&pool->done);
  g_free (pool);
}

int
fkp_nn_pool_size (const FkpNnPool *pool)
{
  return pool ? pool->n_threads : 1;
}

void
fkp_nn_parallel (FkpNet *net, int n_parts, FkpNnTask task, void *ctx)
{
  FkpNnPool *pool = net->pool;
  n_parts = MIN (n_parts, fkp_nn_pool_size (pool));
  if (n_parts <= 1) {
    task (ctx, 0, 1);
    return;
  }
  g_mutex_lock (&pool->lock);
  pool->task = task;
  pool->ctx = ctx;
  pool->n_parts = n_parts;
  const guint first = (guint) g_atomic_int_get (&pool->next_ticket);
  pool->first_ticket = first;
  g_atomic_int_set (&pool->pending, n_parts);
  g_atomic_int_inc (&pool->generation);
  g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  run_parts (pool, task, ctx, n_parts, first);
  for (int spin = 0; spin < SPIN_POLLS && g_atomic_int_get (&pool->pending) > 0; spin++)
    spin_pause ();
  if (g_atomic_int_get (&pool->pending) > 0) {
    g_mutex_lock (&pool->lock);
    while (g_atomic_int_get (&pool->pending) > 0)
      g_cond_wait (&pool->done, &pool->lock);
    g_mutex_unlock (&pool->lock);
  }
}

void
fkp_nn_split (int n, int part, int n_parts, int align, int *lo, int *hi)
{
  const int units = (n + align - 1) / align;
  const int a = (int) ((int64_t) units * part / n_parts), b = (int) ((int64_t) units * (part + 1) / n_parts);
  *lo = MIN (a * align, n);
  *hi = MIN (b * align, n);
}
