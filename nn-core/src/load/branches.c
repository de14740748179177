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

/* Grows a window from step `first`; returns its length and fills
 * branch_of[0 .. length) (the branch of each step) and *n_branches. */
static int
grow_window (Loader *L, int first, int *branch_of, int *n_branches)
{
  const int n_steps = (int) L->steps->len;
  int branches = 0;
  int length = 0;
  for (int i = first; i < n_steps; i++) {
    const Step *s = S (L, i);
    int joined = -1;
    gboolean join_two = FALSE;
    for (int k = 0; k < s->n_inputs && !join_two; k++) {
      const int root = root_of (L, s->inputs[k], NULL);
      /* every step of the window that writes into the same storage */
      for (int w = first; w < i; w++) {
        if (root_of (L, S (L, w)->output, NULL) != root)
          continue;
        const int b = branch_of[w - first];
        if (joined < 0)
          joined = b;
        else if (joined != b)
          join_two = TRUE;
      }
    }
    if (join_two)
      break;
    branch_of[i - first] = joined >= 0 ? joined : branches++;
    length++;
  }
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
  for (int first = 0; first < n_steps;) {
    int n_branches;
    const int length = grow_window (L, first, branch_of, &n_branches);
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
