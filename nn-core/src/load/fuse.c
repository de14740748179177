/* Loader stage 3, fusion, on the built steps: a BatchNormalization after a
 * Conv folded into its weights, activations run as the epilogue of the op
 * before them (the kinds whose table entry says so), a MaxPool whose
 * windows tile its input run by the Conv before it as it stores, channel
 * concats written in place by their producers; then the dead steps
 * dropped. */
#include "load/loader.h"

int
root_of (Loader *L, int t, size_t *offset)
{
  size_t off = 0;
  while (T (L, t)->alias_of >= 0) {
    off += T (L, t)->alias_offset;
    t = T (L, t)->alias_of;
  }
  if (offset)
    *offset = off;
  return t;
}

void
count_uses (Loader *L, int *last_reader, gboolean *aliased)
{
  for (guint t = 0; t < L->tensors->len; t++) {
    T (L, t)->n_uses = 0;
    if (last_reader) {
      last_reader[t] = -1;
      aliased[t] = FALSE;
    }
  }
  for (guint t = 0; t < L->tensors->len && aliased; t++)
    if (T (L, t)->alias_of >= 0)
      aliased[T (L, t)->alias_of] = TRUE;
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead)
      continue;
    for (int k = 0; k < s->n_inputs; k++) {
      T (L, s->inputs[k])->n_uses++;
      if (last_reader)
        last_reader[s->inputs[k]] = (int) i;
    }
  }
}

/* A step that fusion removes no longer reads its inputs.  Counting the uses
 * again after each fusion made the loop quadratic in the steps (a hostile
 * model of many conv chains took seconds); the reads a fusion moves are
 * updated where it moves them, and the whole count is redone once after
 * the loop. */
static void
drop_reads (Loader *L, const Step *dead)
{
  for (int k = 0; k < dead->n_inputs; k++)
    T (L, dead->inputs[k])->n_uses--;
}

/* Whether `pooled` windows of side k tile `size` (floor), or all but the
 * last, which the edge cuts (ceil_mode). */
static gboolean
pooled_size_fits (int64_t size, int64_t pooled, int k)
{
  return pooled == size / k || pooled == (size + k - 1) / k;
}

/* Folds a BatchNormalization that follows a Conv into the conv's weights,
 * then an activation into the epilogue of the op before it where the
 * table allows (Conv, Gemm, MatMul, BatchNormalization, binary ops), then
 * a tiling MaxPool into a Conv that can pool as it stores (nothing after
 * it: a BatchNormalization with a negative scale does not commute with
 * max), when the intermediate tensor has no other reader. */
static void fuse_into_pools (Loader *L, int *last_reader, gboolean *aliased);

void
fuse_steps (Loader *L)
{
  int *last_reader = g_new (int, L->tensors->len);
  gboolean *aliased = g_new (gboolean, L->tensors->len);
  count_uses (L, last_reader, aliased);
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead || !fkp_nn_ops[s->op].fuses_activation)
      continue;
    /* A 1×1 conv that alone reads a stride-1 direct conv's output makes
     * that output itself, band by band. */
    if (s->op == OP_CONV) {
      const int t = s->inputs[0];
      Tensor *in = T (L, t);
      Step *pre = in->producer >= 0 ? S (L, in->producer) : NULL;
      if (pre != NULL && !pre->dead && in->n_uses == 1 && !in->is_output && !aliased[t]
          && in->alias_of < 0 && in->kind == TK_ACTIVATION
          && fkp_nn_conv_fuse_pre (s, pre, in->shape.dims[1], in->shape.dims[2], in->shape.dims[3])) {
        drop_reads (L, pre);
        in->n_uses--;
        s->inputs[0] = pre->inputs[0];
        T (L, s->inputs[0])->n_uses++;
        /* s comes after pre, which read it too */
        last_reader[s->inputs[0]] = MAX (last_reader[s->inputs[0]], (int) i);
        pre->dead = TRUE;
        in->producer = -1;
      }
    }
    gboolean pooled = FALSE;
    while (!pooled) {
      int t = s->output;
      Tensor *out = T (L, t);
      if (out->n_uses != 1 || out->is_output || aliased[t] || last_reader[t] < 0)
        break;
      Step *next = S (L, last_reader[t]);
      const int pool_k = next->op == OP_POOL && s->op == OP_CONV ? fkp_nn_pool_tiling_max (next) : 0;
      if (next->op == OP_BATCHNORM && s->op == OP_CONV && s->act.kind == ACT_NONE) {
        fkp_nn_conv_fold_batchnorm (s, next, T (L, s->inputs[0])->shape.dims[1],
                                    out->shape.dims[1]);
      } else if (next->op == OP_ACTIVATION && s->act.kind == ACT_NONE) {
        s->act = next->act;
      } else if (pool_k > 0 && pooled_size_fits (out->shape.dims[2], T (L, next->output)->shape.dims[2], pool_k)
                 && pooled_size_fits (out->shape.dims[3], T (L, next->output)->shape.dims[3], pool_k)
                 && fkp_nn_conv_fuse_maxpool (s, pool_k, out->shape.dims[2], out->shape.dims[3])) {
        pooled = TRUE;
      } else {
        break;
      }
      /* `next` disappears; `s` writes its output directly. */
      drop_reads (L, next);
      next->dead = TRUE;
      s->output = next->output;
      T (L, s->output)->producer = (int) i;
      out->producer = -1;
    }
  }
  count_uses (L, last_reader, aliased);
  fuse_into_pools (L, last_reader, aliased);
  g_free (last_reader);
  g_free (aliased);
}

static gboolean
same_shape (const FkpShape *a, const FkpShape *b)
{
  if (a->rank != b->rank)
    return FALSE;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d])
      return FALSE;
  return TRUE;
}

/* Whether tensor t is an intermediate that only step `reader` reads, so
 * that the fusion may make it disappear. */
static gboolean
only_feeds (Loader *L, int t, const int *last_reader, const gboolean *aliased, int reader)
{
  const Tensor *x = T (L, t);
  return x->n_uses == 1 && !x->is_output && !aliased[t] && x->alias_of < 0
         && x->kind == TK_ACTIVATION && last_reader[t] == reader;
}

/* The attention module's x · map before a strided MaxPool becomes the
 * pool's read, and a BatchNormalization after it the pool's store. */
static void
fuse_into_pools (Loader *L, int *last_reader, gboolean *aliased)
{
  for (guint i = 0; i < L->steps->len && fkp_nn_fusion_enabled (); i++) {
    Step *s = S (L, i);
    if (s->dead || s->op != OP_POOL)
      continue;
    const int t = s->inputs[0];
    Step *mul = T (L, t)->producer >= 0 ? S (L, T (L, t)->producer) : NULL;
    if (mul != NULL && !mul->dead && fkp_nn_binary_is_plain_mul (mul) && mul->n_inputs == 2
        && only_feeds (L, t, last_reader, aliased, (int) i)) {
      /* Which operand is the one-channel map. */
      for (int m = 0; m < 2; m++) {
        const int x = mul->inputs[1 - m], map = mul->inputs[m];
        if (x == map || !same_shape (&T (L, x)->shape, &T (L, t)->shape)
            || !fkp_nn_pool_fuse_prescale (s, &T (L, x)->shape, &T (L, map)->shape,
                                           &T (L, s->output)->shape))
          continue;
        drop_reads (L, s);
        drop_reads (L, mul);
        g_free (s->inputs);
        s->inputs = g_new (int, 2);
        s->inputs[0] = x;
        s->inputs[1] = map;
        s->n_inputs = 2;
        for (int k = 0; k < 2; k++) {   /* s comes after mul, which read them too */
          T (L, s->inputs[k])->n_uses++;
          last_reader[s->inputs[k]] = MAX (last_reader[s->inputs[k]], (int) i);
        }
        mul->dead = TRUE;
        T (L, t)->producer = -1;
        break;
      }
    }
    const int o = s->output;
    Step *bn = last_reader[o] >= 0 ? S (L, last_reader[o]) : NULL;
    if (bn != NULL && bn->op == OP_BATCHNORM && only_feeds (L, o, last_reader, aliased, last_reader[o])
        && fkp_nn_pool_fold_batchnorm (s, bn, &T (L, s->inputs[0])->shape, &T (L, o)->shape)) {
      drop_reads (L, bn);
      bn->dead = TRUE;
      s->output = bn->output;
      T (L, s->output)->producer = (int) i;
      T (L, o)->producer = -1;
    }
  }
}

/* Lets the producers of a channel concat write straight into their slice
 * of its output, so the concat costs nothing. */
void
alias_concats (Loader *L)
{
  int *last_reader = g_new (int, L->tensors->len);
  gboolean *aliased = g_new (gboolean, L->tensors->len);
  count_uses (L, last_reader, aliased);
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead || s->op != OP_CONCAT || !fkp_nn_concat_is_sliced (s))
      continue;
    gboolean ok = TRUE;
    for (int k = 0; k < s->n_inputs && ok; k++) {
      int t = s->inputs[k];
      const Tensor *in = T (L, t);
      ok = in->kind == TK_ACTIVATION && in->alias_of < 0 && in->producer >= 0 && !in->is_output
           && in->dtype == DT_FLOAT && in->n_uses == 1;
      for (int j = 0; j < k; j++)
        ok &= s->inputs[j] != t;
    }
    if (!ok)
      continue;
    size_t offset = 0;
    for (int k = 0; k < s->n_inputs; k++) {
      Tensor *in = T (L, s->inputs[k]);
      in->alias_of = s->output;
      in->alias_offset = offset;
      offset += in->n_elements;
    }
    /* The concat output is now written piecewise by the input producers. */
    s->dead = TRUE;
    T (L, s->output)->producer = -1;
  }
  g_free (last_reader);
  g_free (aliased);
}

void
compact_steps (Loader *L)
{
  int *map = g_new (int, MAX (L->steps->len, 1));
  guint kept = 0;
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->dead) {
      fkp_nn_step_clear (s);
      map[i] = -1;
      continue;
    }
    map[i] = (int) kept;
    if (kept != i)
      *S (L, kept) = *s;
    kept++;
  }
  g_array_set_size (L->steps, kept);
  for (guint t = 0; t < L->tensors->len; t++)
    if (T (L, t)->producer >= 0)
      T (L, t)->producer = map[T (L, t)->producer];
  g_free (map);
}
