/* Loader stage 5, memory planning: every activation gets its place in one
 * arena, by lifetime, and the scratch area is allocated; then each
 * tensor's address is known for good.  Last, the constants no step reads
 * any more (folded into weights or into other constants) are freed. */
#include "load/loader.h"

typedef struct {
  int root;
  size_t size;    /* floats, rounded up */
} Block;

static int
compare_blocks (const void *a, const void *b)
{
  const Block *x = a, *y = b;
  if (x->size != y->size)
    return x->size < y->size ? 1 : -1;
  return x->root - y->root;
}

/* Gives every storage root an offset in one arena such that roots whose
 * lifetimes (first writer .. last reader, in step order) overlap never
 * share bytes: greedy, largest first, lowest fitting offset. */
gboolean
plan_memory (Loader *L, GError **error)
{
  FkpNet *net = L->net;
  int n_steps = (int) L->steps->len;
  guint n = L->tensors->len;
  for (guint t = 0; t < n; t++) {
    T (L, t)->live_first = G_MAXINT;
    T (L, t)->live_last = -1;
  }
  for (guint t = 0; t < n; t++) {
    Tensor *x = T (L, t);
    if (x->kind == TK_CONST)
      continue;
    Tensor *r = T (L, root_of (L, (int) t, NULL));
    if (x->kind == TK_INPUT)
      r->live_first = -1;
    if (x->producer >= 0)
      r->live_first = MIN (r->live_first, x->producer);
    if (x->kind == TK_INPUT || x->is_output)
      r->live_last = n_steps;
    if (x->producer >= 0)
      r->live_last = MAX (r->live_last, x->producer);
  }
  for (int i = 0; i < n_steps; i++) {
    Step *s = S (L, i);
    for (int k = 0; k < s->n_inputs; k++) {
      Tensor *r = T (L, root_of (L, s->inputs[k], NULL));
      if (r->kind != TK_CONST)
        r->live_last = MAX (r->live_last, i);
    }
  }
  extend_branch_lifetimes (L);
  GArray *blocks = g_array_new (FALSE, FALSE, sizeof (Block));
  uint64_t naive = 0;
  for (guint t = 0; t < n; t++) {
    Tensor *x = T (L, t);
    if (x->kind == TK_CONST || x->alias_of >= 0 || x->live_last < 0)
      continue;
    if (x->live_first == G_MAXINT)
      x->live_first = x->live_last;
    Block b = { (int) t, (x->n_elements + 15) & ~(size_t) 15 };
    if (b.size == 0)
      b.size = 16;
    naive += b.size * sizeof (float);
    g_array_append_val (blocks, b);
  }
  g_array_sort (blocks, compare_blocks);
  size_t arena = 0;
  /* Placed blocks, kept sorted by offset for the gap search. */
  int *placed = g_new (int, MAX (blocks->len, 1));
  guint n_placed = 0;
  /* The budget is checked as blocks are placed, to name the tensor that
   * passes it; nothing is allocated until the whole plan fits. */
  const uint64_t budget = activation_budget (L);
  int over = -1;
  for (guint b = 0; b < blocks->len; b++) {
    Block *block = &g_array_index (blocks, Block, b);
    Tensor *x = T (L, block->root);
    size_t offset = 0;
    for (guint p = 0; p < n_placed; p++) {
      Tensor *y = T (L, placed[p]);
      if (y->live_last < x->live_first || x->live_last < y->live_first)
        continue;
      size_t y_size = (y->n_elements + 15) & ~(size_t) 15;
      if (y_size == 0)
        y_size = 16;
      if (offset + block->size <= y->arena_offset)
        break;
      offset = MAX (offset, y->arena_offset + y_size);
    }
    x->arena_offset = offset;
    arena = MAX (arena, offset + block->size);
    guint at = n_placed;
    while (at > 0 && T (L, placed[at - 1])->arena_offset > offset) {
      placed[at] = placed[at - 1];
      at--;
    }
    placed[at] = block->root;
    n_placed++;
    if (over < 0 && ((uint64_t) arena + net->scratch_floats) * sizeof (float) > budget)
      over = block->root;
  }
  g_free (placed);
  g_array_free (blocks, TRUE);

  const uint64_t activations = ((uint64_t) arena + net->scratch_floats) * sizeof (float);
  if (activations > budget) {
    const Tensor *x = over >= 0 ? T (L, over) : NULL;
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s%s'%s': activations and scratch need %"
                 G_GUINT64_FORMAT " bytes, past their budget of %" G_GUINT64_FORMAT " bytes",
                 x && x->producer >= 0 ? S (L, x->producer)->label : "",
                 x && x->producer >= 0 ? ": output " : "tensor ", x ? x->name : "scratch",
                 (guint64) activations, (guint64) budget);
  }
  uint64_t total = L->const_bytes + activations;
  const uint64_t total_budget = MAX (weight_budget (L), budget);
  if (total > total_budget)
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "the model needs %" G_GUINT64_FORMAT
                 " bytes of memory (cap %" G_GUINT64_FORMAT ")", (guint64) total,
                 (guint64) total_budget);
  net->arena_bytes = arena * sizeof (float);
  float *block = fkp_nn_alloc_floats (arena + 2 * FKP_NN_ARENA_SLACK_FLOATS);
  if (block) {
    memset (block, 0, (arena + 2 * FKP_NN_ARENA_SLACK_FLOATS) * sizeof (float));
    net->arena = block + FKP_NN_ARENA_SLACK_FLOATS;
  }
  /* whole cache lines per thread's area, so that each starts on one */
  net->scratch_floats = (net->scratch_floats + 15) & ~(size_t) 15;
  if (net->scratch_floats)
    net->scratch = fkp_nn_alloc_floats (net->scratch_floats);
  if (!net->arena || (net->scratch_floats && !net->scratch))
    return fail (error, FKP_NN_ERROR_OUT_OF_MEMORY, "out of memory for %" G_GUINT64_FORMAT
                 " bytes", (guint64) total);
  for (guint t = 0; t < n; t++) {
    Tensor *x = T (L, t);
    if (x->kind == TK_CONST) {
      x->data = x->fdata;
      continue;
    }
    size_t offset;
    Tensor *r = T (L, root_of (L, (int) t, &offset));
    x->data = net->arena + r->arena_offset + offset;
  }
  net->stats.peak_activation_bytes = net->arena_bytes;
  net->stats.naive_activation_bytes = naive;
  net->stats.scratch_bytes = net->scratch_floats * sizeof (float);
  return TRUE;
}

void
free_unread_constants (Loader *L)
{
  count_uses (L, NULL, NULL);
  for (guint t = 0; t < L->tensors->len; t++) {
    Tensor *x = T (L, t);
    if (x->kind != TK_CONST || x->n_uses > 0 || x->is_output)
      continue;
    g_clear_pointer (&x->fdata, g_free);
    g_clear_pointer (&x->idata, g_free);
    x->data = NULL;
  }
}
