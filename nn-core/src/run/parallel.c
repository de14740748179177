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

#include <string.h>
#include <time.h>

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
  /* Workers asleep on `wake`, and whether the caller sleeps on `done`
   * (atomic; set under the lock): a step whose threads are all polling then
   * costs no system call (GLib's condition variables make one on every
   * signal, a few µs per step in a VM). */
  gint sleepers, caller_waiting;
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
    if (g_atomic_int_dec_and_test (&pool->pending) && g_atomic_int_get (&pool->caller_waiting)) {
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
    g_atomic_int_inc (&pool->sleepers);
    while (!pool->quit && pool->generation == seen)
      g_cond_wait (&pool->wake, &pool->lock);
    g_atomic_int_add (&pool->sleepers, -1);
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

/* FALSE when the environment sets FKP_NN_BRANCHES=0: every step is then
 * split among the threads, none run side by side (for comparisons). */
static gboolean
fkp_nn_branches_enabled (void)
{
  static gsize once;
  static gboolean enabled;
  if (g_once_init_enter (&once)) {
    const char *value = g_getenv ("FKP_NN_BRANCHES");
    enabled = value == NULL || strcmp (value, "0") != 0;
    g_once_init_leave (&once, 1);
  }
  return enabled;
}

/* The part of a window of branches (fkp_nn_run_steps) this thread runs,
 * -1 outside one. */
static _Thread_local int branch_part = -1;

gboolean
fkp_nn_in_branch (void)
{
  return branch_part >= 0;
}

float *
fkp_nn_scratch (const FkpNet *net, int part)
{
  return net->scratch + (size_t) (part + MAX (branch_part, 0)) * net->scratch_floats;
}

void
fkp_nn_parallel (FkpNet *net, int n_parts, FkpNnTask task, void *ctx)
{
  FkpNnPool *pool = net->pool;
  n_parts = MIN (n_parts, fkp_nn_pool_size (pool));
  if (n_parts <= 1 || branch_part >= 0) {
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
  if (g_atomic_int_get (&pool->sleepers) > 0)
    g_cond_broadcast (&pool->wake);
  g_mutex_unlock (&pool->lock);
  run_parts (pool, task, ctx, n_parts, first);
  for (int spin = 0; spin < SPIN_POLLS && g_atomic_int_get (&pool->pending) > 0; spin++)
    spin_pause ();
  if (g_atomic_int_get (&pool->pending) > 0) {
    g_mutex_lock (&pool->lock);
    g_atomic_int_set (&pool->caller_waiting, TRUE);
    while (g_atomic_int_get (&pool->pending) > 0)
      g_cond_wait (&pool->done, &pool->lock);
    g_atomic_int_set (&pool->caller_waiting, FALSE);
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

/* ---- Windows of branches side by side ------------------------------------ */

/* Splitting a step between T threads gains about 1 + 0.55 (T - 1) on the
 * landmark net's small maps (1.5 for two threads, measured on Zen 3); a
 * window runs its branches side by side, whole, when the busiest thread's
 * share of them beats that. */
#define SPLIT_GAIN_PER_THREAD 0.3

/* Deals the region's branches out to T threads, the costliest first to the
 * least loaded (LPT), and decides whether that beats splitting each step. */
static void
plan_region (FkpNnRegion *r, int T)
{
  g_free (r->thread_of_branch);
  r->thread_of_branch = g_new (int, r->n_branches);
  r->plan_threads = T;
  double *load = g_new0 (double, T), total = 0.0;
  gboolean *dealt = g_new0 (gboolean, r->n_branches);
  for (int n = 0; n < r->n_branches; n++) {
    int b = -1;
    for (int k = 0; k < r->n_branches; k++)
      if (!dealt[k] && (b < 0 || r->branch_cost[k] > r->branch_cost[b]))
        b = k;
    int t = 0;
    for (int k = 1; k < T; k++)
      if (load[k] < load[t])
        t = k;
    dealt[b] = TRUE;
    r->thread_of_branch[b] = t;
    load[t] += r->branch_cost[b];
    total += r->branch_cost[b];
  }
  double busiest = 0.0;
  for (int t = 0; t < T; t++)
    busiest = MAX (busiest, load[t]);
  r->side_by_side = busiest < total / (1.0 + SPLIT_GAIN_PER_THREAD * (T - 1));
  g_free (load);
  g_free (dealt);
}

/* One step, timed into the profile when there is one: on this thread's CPU
 * clock inside a window of branches (the process clock would add the
 * other thread's branch), else on the process's. */
static void
run_timed_step (FkpNet *net, int i)
{
  if (net->profile_us == NULL) {
    fkp_nn_run_step (net, &net->steps[i]);
    return;
  }
  const clockid_t clock = net->profile_wall ? CLOCK_MONOTONIC
                          : branch_part >= 0 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID;
  struct timespec t0, t1;
  clock_gettime (clock, &t0);
  fkp_nn_run_step (net, &net->steps[i]);
  clock_gettime (clock, &t1);
  net->profile_us[i] += (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
}

typedef struct {
  FkpNet *net;
  const FkpNnRegion *region;
} RegionJob;

/* Part `part` of a window: the steps of the branches dealt to it, in
 * order, each on this thread alone, with scratch area `part`. */
static void
region_part (void *ctx, int part, int n_parts)
{
  const RegionJob *j = ctx;
  const FkpNnRegion *r = j->region;
  (void) n_parts;
  branch_part = part;
  for (int i = 0; i < r->n_steps; i++)
    if (r->thread_of_branch[r->branch_of[i]] == part)
      run_timed_step (j->net, r->first + i);
  branch_part = -1;
}

void
fkp_nn_run_steps (FkpNet *net)
{
  const int T = fkp_nn_pool_size (net->pool);
  int r = 0;
  for (int i = 0; i < net->n_steps;) {
    if (net->pause_func)
      net->pause_func (net->pause_data);
    while (r < net->n_regions && net->regions[r].first < i)
      r++;
    if (T > 1 && r < net->n_regions && net->regions[r].first == i && fkp_nn_branches_enabled ()) {
      FkpNnRegion *region = &net->regions[r];
      if (region->plan_threads != T)
        plan_region (region, T);
      if (region->side_by_side) {
        RegionJob job = { net, region };
        fkp_nn_parallel (net, T, region_part, &job);
        i += region->n_steps;
        continue;
      }
    }
    run_timed_step (net, i);
    i++;
  }
}
