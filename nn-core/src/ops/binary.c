/* Binary element-wise ops with NumPy broadcasting: Add, Sub, Mul, Div.  On
 * two constants (shape arithmetic) they fold at load. */
#include "load/loader.h"

typedef struct {
  BinaryKind kind;
  Broadcast bc;
} BinaryParams;

/* ---- Broadcasting (also for Gemm's C) -------------------------------------- */

gboolean
fkp_nn_broadcast_shapes (const FkpShape *a, const FkpShape *b, FkpShape *out)
{
  out->rank = MAX (a->rank, b->rank);
  for (int i = 0; i < out->rank; i++) {
    int ia = a->rank - out->rank + i, ib = b->rank - out->rank + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return FALSE;
    out->dims[i] = da == 1 ? db : da;
  }
  return TRUE;
}

/* The merged broadcast plan for out = a (op) b. */
void
fkp_nn_broadcast_plan (Broadcast *plan, const FkpShape *out, const FkpShape *a, const FkpShape *b)
{
  int64_t sa[FKP_NN_MAX_RANK], sb[FKP_NN_MAX_RANK];
  int64_t acc_a = 1, acc_b = 1;
  for (int i = out->rank - 1; i >= 0; i--) {
    int ia = a->rank - out->rank + i, ib = b->rank - out->rank + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    sa[i] = da == 1 ? 0 : acc_a;
    sb[i] = db == 1 ? 0 : acc_b;
    acc_a *= da;
    acc_b *= db;
  }
  plan->rank = 0;
  for (int i = 0; i < out->rank; i++) {
    if (out->dims[i] == 1)
      continue;
    int r = plan->rank;
    if (r > 0 && plan->stride_a[r - 1] == sa[i] * out->dims[i]
        && plan->stride_b[r - 1] == sb[i] * out->dims[i]) {
      plan->dims[r - 1] *= out->dims[i];
      plan->stride_a[r - 1] = sa[i];
      plan->stride_b[r - 1] = sb[i];
      continue;
    }
    plan->dims[r] = out->dims[i];
    plan->stride_a[r] = sa[i];
    plan->stride_b[r] = sb[i];
    plan->rank++;
  }
  if (plan->rank == 0) {
    plan->rank = 1;
    plan->dims[0] = 1;
    plan->stride_a[0] = plan->stride_b[0] = 0;
  }
}

void
fkp_nn_broadcast_offsets (const Broadcast *plan, size_t index, size_t *oa, size_t *ob)
{
  *oa = *ob = 0;
  for (int d = plan->rank - 1; d >= 0; d--) {
    size_t i = index % (size_t) plan->dims[d];
    index /= (size_t) plan->dims[d];
    *oa += i * (size_t) plan->stride_a[d];
    *ob += i * (size_t) plan->stride_b[d];
  }
}

/* ---- Add, Sub, Mul, Div ----------------------------------------------------- */

#define BINARY_LOOP(expr)                                                   \
  do {                                                                      \
    if (sa == 1 && sb == 1)                                                 \
      for (size_t i = 0; i < n; i++) { float a = pa[i], b = pb[i]; out[i] = (expr); } \
    else if (sa == 1 && sb == 0)                                            \
      for (size_t i = 0; i < n; i++) { float a = pa[i], b = pb[0]; out[i] = (expr); } \
    else if (sa == 0 && sb == 1)                                            \
      for (size_t i = 0; i < n; i++) { float a = pa[0], b = pb[i]; out[i] = (expr); } \
    else                                                                    \
      for (size_t i = 0; i < n; i++) { float a = pa[i * sa], b = pb[i * sb]; out[i] = (expr); } \
  } while (0)

FKP_SIMD static void
run_binary (FkpNet *net, const Step *s)
{
  const float *a_data = tensor_data (net, s->inputs[0]);
  const float *b_data = tensor_data (net, s->inputs[1]);
  float *y = tensor_data (net, s->output);
  const BinaryParams *binary = s->params;
  const Broadcast *bc = &binary->bc;
  const int r = bc->rank;
  const size_t n = (size_t) bc->dims[r - 1];
  const size_t sa = (size_t) bc->stride_a[r - 1], sb = (size_t) bc->stride_b[r - 1];
  size_t rows = 1;
  for (int d = 0; d < r - 1; d++)
    rows *= (size_t) bc->dims[d];
  int64_t index[FKP_NN_MAX_RANK] = { 0 };
  size_t oa = 0, ob = 0;
  for (size_t row = 0; row < rows; row++) {
    const float *pa = a_data + oa, *pb = b_data + ob;
    float *out = y + row * n;
    switch (binary->kind) {
    case BIN_ADD: BINARY_LOOP (a + b); break;
    case BIN_SUB: BINARY_LOOP (a - b); break;
    case BIN_MUL: BINARY_LOOP (a * b); break;
    case BIN_DIV: BINARY_LOOP (a / b); break;
    }
    for (int d = r - 2; d >= 0; d--) {
      oa += (size_t) bc->stride_a[d];
      ob += (size_t) bc->stride_b[d];
      if (++index[d] < bc->dims[d])
        break;
      oa -= (size_t) (bc->stride_a[d] * bc->dims[d]);
      ob -= (size_t) (bc->stride_b[d] * bc->dims[d]);
      index[d] = 0;
    }
  }
  fkp_nn_apply_activation (y, net->tensors[s->output].n_elements, &s->act);
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_binary, run_binary)

gboolean
fkp_nn_build_binary (Node *node, GError **error)
{
  const BinaryKind kind = node->variant;
  Loader *L = node->L;
  if (!check_arity (node, 2, 2, 1, 1, error) || !check_attrs (node, "", error))
    return FALSE;
  int a = input_index (node, 0), b = input_index (node, 1);
  const Tensor *A = T (L, a), *B = T (L, b);
  FkpShape shape;
  if (!fkp_nn_broadcast_shapes (&A->shape, &B->shape, &shape)) {
    char *sa = shape_string (&A->shape), *sb = shape_string (&B->shape);
    fail (error, FKP_NN_ERROR_SHAPE, "%s: shapes %s ('%s') and %s ('%s') do not broadcast",
          node->label, sa, A->name, sb, B->name);
    g_free (sa);
    g_free (sb);
    return FALSE;
  }
  size_t n;
  if (!shape_count (&shape, &n))
    return fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output is too large", node->label);
  if (A->kind == TK_CONST && B->kind == TK_CONST) {
    /* Folded now: shape arithmetic (int64) or constant float expressions. */
    if (A->dtype != B->dtype)
      return fail (error, FKP_NN_ERROR_DTYPE, "%s: inputs '%s' and '%s' differ in type",
                   node->label, A->name, B->name);
    Broadcast plan = { 0 };
    fkp_nn_broadcast_plan (&plan, &shape, &A->shape, &B->shape);
    /* A broadcast of two small constants can be huge: checked first. */
    void *values = alloc_folded (node, n, A->dtype, error);
    if (!values)
      return FALSE;
    if (A->dtype == DT_INT64) {
      int64_t *out = values;
      for (size_t i = 0; i < n; i++) {
        size_t oa, ob;
        fkp_nn_broadcast_offsets (&plan, i, &oa, &ob);
        int64_t x = A->idata[oa], y = B->idata[ob];
        switch (kind) {
        case BIN_ADD: out[i] = (int64_t) ((uint64_t) x + (uint64_t) y); break;
        case BIN_SUB: out[i] = (int64_t) ((uint64_t) x - (uint64_t) y); break;
        case BIN_MUL: out[i] = (int64_t) ((uint64_t) x * (uint64_t) y); break;
        case BIN_DIV:
          if (y == 0 || (y == -1 && x == G_MININT64)) {
            g_free (out);
            return fail (error, FKP_NN_ERROR_INVALID_ARGUMENT, "%s: integer division by zero",
                         node->label);
          }
          out[i] = x / y;
          break;
        }
      }
      return add_const (L, node->proto->output[0], &shape, DT_INT64, out, error) >= 0;
    }
    float *out = values;
    for (size_t i = 0; i < n; i++) {
      size_t oa, ob;
      fkp_nn_broadcast_offsets (&plan, i, &oa, &ob);
      float x = A->fdata[oa], y = B->fdata[ob];
      out[i] = kind == BIN_ADD ? x + y : kind == BIN_SUB ? x - y : kind == BIN_MUL ? x * y : x / y;
    }
    return add_const (L, node->proto->output[0], &shape, DT_FLOAT, out, error) >= 0;
  }
  int ia, ib;
  if (!want_float (node, 0, &ia, error) || !want_float (node, 1, &ib, error))
    return FALSE;
  Step *s = new_step (node, OP_BINARY, sizeof (BinaryParams), 2, (int[]) { a, b });
  BinaryParams *binary = s->params;
  binary->kind = kind;
  fkp_nn_broadcast_plan (&binary->bc, &shape, &A->shape, &B->shape);
  return step_output (node, s, &shape, DT_FLOAT, error);
}

gboolean
fkp_nn_binary_is_plain_mul (const Step *step)
{
  const BinaryParams *p = step->params;
  return step->op == OP_BINARY && p->kind == BIN_MUL && step->act.kind == ACT_NONE;
}
