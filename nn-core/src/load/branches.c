/* Loader stage 4, between fusion and packing: the runs of steps that form
 * independent branches (an Inception module's four, the attention
 * module's mean and argmax), which a net with several threads runs side by
 * side, each branch on one thread (run/parallel.c), instead of cutting
 * every small step of them into parts.
 *
 * A window of consecutive steps is cut into branches by data: a step joins
 * the branch of the steps whose output it reads; one that reads none of
 * the window's outputs starts a branch; one that reads the outputs of two
 * branches (the next module reading the concat they wrote in place) ends
 * the window.  Memory planning (plan.c) then keeps every tensor a window
 * touches alive for the whole window, since its branches may run in any
 * order. */
#include "load/loader.h"

/* The step's cost for balancing branches: its multiply-adds (a Winograd
 * conv does about 2.5× fewer), or, for the ops without, a few per output
 * element. */
static double
step_cost (Loader *L, const Step *s)
{
  if (s->macs > 0) {
    const gboolean winograd = s->op == OP_CONV && fkp_nn_conv_is_winograd (s);
    return (double) s->macs / (winograd ? 2.5 : 1.0);
  }
  return 4.0 * (double) T (L, s->output)->n_elements;
}

/* A window is at most this many steps long: Inception modules and the
 * attention module are a few dozen; without a bound, a chain of N steps
 * (one branch, which grows to the end of the net from every step) cost
 * N² here, a hostile model of 20,000 steps minutes. */
#define MAX_WINDOW_STEPS 256

/* root_branch[t] for a storage root t: no step of the window writes it, or
 * the one branch whose steps do, or several. */
#define NO_BRANCH (-1)
#define SEVERAL_BRANCHES (-2)

/* Grows a window from step `first`; returns its length and fills
 * branch_of[0 .. length) (the branch of each step) and *n_branches.
 * root_branch (one per tensor) is all NO_BRANCH on entry and on return. */
static int
grow_window (Loader *L, int first, int *branch_of, int *root_branch, int *n_branches)
{
  const int end = MIN ((int) L->steps->len, first + MAX_WINDOW_STEPS);
  int branches = 0;
  int length = 0;
  for (int i = first; i < end; i++) {
    const Step *s = S (L, i);
    int joined = -1;
    gboolean join_two = FALSE;
    /* the branches of the window's steps that write into the storage it reads */
    for (int k = 0; k < s->n_inputs && !join_two; k++) {
      const int b = root_branch[root_of (L, s->inputs[k], NULL)];
      if (b == SEVERAL_BRANCHES || (b >= 0 && joined >= 0 && joined != b))
        join_two = TRUE;
      else if (b >= 0)
        joined = b;
    }
    if (join_two)
      break;
    const int b = joined >= 0 ? joined : branches++;
    branch_of[i - first] = b;
    int *written = &root_branch[root_of (L, s->output, NULL)];
    *written = *written == NO_BRANCH || *written == b ? b : SEVERAL_BRANCHES;
    length++;
  }
  for (int i = first; i < first + length; i++)
    root_branch[root_of (L, S (L, i)->output, NULL)] = NO_BRANCH;
  *n_branches = branches;
  return length;
}

/* The share of a window's cost above which one branch makes it lopsided. */
#define LOPSIDED_SHARE 0.9

void
find_branches (Loader *L)
{
  const int n_steps = (int) L->steps->len;
  FkpNet *net = L->net;
  GArray *regions = g_array_new (FALSE, TRUE, sizeof (FkpNnRegion));
  int *branch_of = g_new (int, MAX (n_steps, 1));
  int *root_branch = g_new (int, MAX (L->tensors->len, 1));
  for (guint t = 0; t < L->tensors->len; t++)
    root_branch[t] = NO_BRANCH;
  for (int first = 0; first < n_steps;) {
    int n_branches;
    const int length = grow_window (L, first, branch_of, root_branch, &n_branches);
    if (n_branches < 2) {
      first++;
      continue;
    }
    double *cost = g_new0 (double, n_branches), total = 0.0, largest = 0.0;
    for (int i = 0; i < length; i++)
      cost[branch_of[i]] += step_cost (L, S (L, first + i));
    for (int b = 0; b < n_branches; b++) {
      total += cost[b];
      largest = MAX (largest, cost[b]);
    }
    /* A window that is nearly all one branch (a small side branch, such as
     * a slice of an early map that only the head reads, beside the rest of
     * the net) would hide the windows inside that branch: look for those
     * instead. */
    if (largest > LOPSIDED_SHARE * total) {
      g_free (cost);
      first++;
      continue;
    }
    FkpNnRegion r = { .first = first, .n_steps = length, .n_branches = n_branches };
    r.branch_of = g_memdup2 (branch_of, (size_t) length * sizeof (int));
    r.branch_cost = cost;
    g_array_append_val (regions, r);
    first += length;
  }
  g_free (branch_of);
  g_free (root_branch);
  net->n_regions = (int) regions->len;
  net->stats.n_branch_windows = regions->len;
  net->regions = (FkpNnRegion *) g_array_free (regions, FALSE);
}

void
extend_branch_lifetimes (Loader *L)
{
  const FkpNet *net = L->net;
  for (int r = 0; r < net->n_regions; r++) {
    const FkpNnRegion *region = &net->regions[r];
    const int a = region->first, b = region->first + region->n_steps - 1;
    for (int i = a; i <= b; i++) {
      const Step *s = S (L, i);
      for (int k = -1; k < s->n_inputs; k++) {
        Tensor *root = T (L, root_of (L, k < 0 ? s->output : s->inputs[k], NULL));
        if (root->kind == TK_CONST)
          continue;
        root->live_first = MIN (root->live_first, a);
        root->live_last = MAX (root->live_last, b);
      }
    }
  }
}
