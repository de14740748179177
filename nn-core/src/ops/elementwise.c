/* Per-element ops: the activations (Relu, LeakyRelu, Sigmoid, Tanh,
 * Clip), BatchNormalization (per-channel y = x * scale + shift), and the
 * activation epilogue the other kernels end with. */
#include "load/loader.h"

#include <math.h>

typedef struct {
  float *scale, *shift;             /* per channel */
  size_t outer, channels, inner;    /* the input seen as outer × channels × inner */
} BatchNormParams;

/* ---- Activations -------------------------------------------------------- */

static inline float
activate (float v, const Activation *act)
{
  switch (act->kind) {
  case ACT_RELU: return v > 0.0f ? v : 0.0f;
  case ACT_LEAKY_RELU: return v >= 0.0f ? v : v * act->alpha;
  case ACT_SIGMOID: return 1.0f / (1.0f + expf (-v));
  case ACT_CLIP: return v < act->lo ? act->lo : v > act->hi ? act->hi : v;
  case ACT_TANH: return tanhf (v);
  default: return v;
  }
}

/* One loop per activation kind, so that each vectorises. */
FKP_SIMD static void
apply_activation (float *data, size_t n, const Activation *act)
{
  const float alpha = act->alpha, lo = act->lo, hi = act->hi;
  switch (act->kind) {
  case ACT_NONE:
    return;
  /* Written as arithmetic with unconditional stores: a select that keeps
   * the old value would become a conditional store, which does not
   * vectorise. */
  case ACT_RELU:
    for (size_t i = 0; i < n; i++) {
      const float v = data[i];
      data[i] = v > 0.0f ? v : 0.0f;
    }
    return;
  case ACT_LEAKY_RELU:
    for (size_t i = 0; i < n; i++) {
      const float v = data[i];
      const float pos = v > 0.0f ? v : 0.0f, neg = v < 0.0f ? v : 0.0f;
      data[i] = pos + alpha * neg;
    }
    return;
  case ACT_CLIP:
    for (size_t i = 0; i < n; i++) {
      const float v = data[i];
      const float above = v > lo ? v : lo;
      data[i] = above < hi ? above : hi;
    }
    return;
  default:
    for (size_t i = 0; i < n; i++)
      data[i] = activate (data[i], act);
  }
}

/* The plain entry point for the other kernels' epilogues: the SIMD clones stay
 * file-local, which keeps their ifunc resolvers out of the library's
 * exported symbols. */
void
fkp_nn_apply_activation (float *data, size_t n, const Activation *act)
{
  apply_activation (data, n, act);
}

void
fkp_nn_run_activation (FkpNet *net, const Step *s)
{
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  size_t n = net->tensors[s->output].n_elements;
  for (size_t i = 0; i < n; i++)
    y[i] = activate (x[i], &s->act);
}

gboolean
fkp_nn_build_activation (Node *node, GError **error)
{
  const ActKind kind = node->variant;
  Activation act = { kind, 0.0f, -INFINITY, INFINITY };
  int x;
  int max_in = kind == ACT_CLIP ? 3 : 1;
  const char *attrs = kind == ACT_LEAKY_RELU ? "alpha" : kind == ACT_CLIP ? "min,max" : "";
  if (!check_arity (node, 1, max_in, 1, 1, error) || !check_attrs (node, attrs, error)
      || !want_float (node, 0, &x, error))
    return FALSE;
  if (kind == ACT_LEAKY_RELU && !attr_float (node, "alpha", 0.01f, &act.alpha, error))
    return FALSE;
  if (kind == ACT_CLIP) {
    gboolean present;
    if (!attr_float (node, "min", -INFINITY, &act.lo, error)
        || !attr_float (node, "max", INFINITY, &act.hi, error)
        || !scalar_const (node, 1, &act.lo, &present, error)
        || !scalar_const (node, 2, &act.hi, &present, error))
      return FALSE;
  }
  Step *s = new_step (node, OP_ACTIVATION, 0, 1, &x);
  s->act = act;
  return step_output (node, s, &T (node->L, x)->shape, DT_FLOAT, error);
}

/* ---- BatchNormalization ------------------------------------------------- */

FKP_SIMD static void
run_batchnorm (FkpNet *net, const Step *s)
{
  const BatchNormParams *bn = s->params;
  const float *x = tensor_data (net, s->inputs[0]);
  float *y = tensor_data (net, s->output);
  for (size_t n = 0; n < bn->outer; n++)
    for (size_t c = 0; c < bn->channels; c++) {
      const float k = bn->scale[c], b = bn->shift[c];
      const float *src = x + (n * bn->channels + c) * bn->inner;
      float *dst = y + (n * bn->channels + c) * bn->inner;
      for (size_t i = 0; i < bn->inner; i++)
        dst[i] = src[i] * k + b;
    }
  apply_activation (y, net->tensors[s->output].n_elements, &s->act);
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_batchnorm, run_batchnorm)

void
fkp_nn_clear_batchnorm (void *params)
{
  BatchNormParams *bn = params;
  g_free (bn->scale);
  g_free (bn->shift);
}

void
fkp_nn_batchnorm_affine (const Step *s, const float **scale, const float **shift)
{
  const BatchNormParams *bn = s->params;
  *scale = bn->scale;
  *shift = bn->shift;
}

gboolean
fkp_nn_build_batchnorm (Node *node, GError **error)
{
  Loader *L = node->L;
  int x, p[4];
  if (!check_arity (node, 5, 5, 1, 5, error)
      || !check_attrs (node, "epsilon,momentum,spatial,training_mode,is_test", error)
      || !want_float (node, 0, &x, error))
    return FALSE;
  for (int i = 1; i < node->n_out; i++)
    if (node->proto->output[i] && node->proto->output[i][0])
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                   "%s: training outputs are not supported", node->label);
  float epsilon;
  int64_t spatial, training;
  if (!attr_float (node, "epsilon", 1e-5f, &epsilon, error)
      || !attr_int (node, "spatial", 1, &spatial, error)
      || !attr_int (node, "training_mode", 0, &training, error))
    return FALSE;
  if (spatial != 1 || training != 0)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                 "%s: only inference-mode, spatial batch normalisation is supported", node->label);
  if (!(epsilon >= 0.0f))
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: epsilon must be >= 0",
                 node->label);
  const Tensor *X = T (L, x);
  if (X->shape.rank < 2)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: input '%s' needs rank >= 2", node->label, X->name);
  int64_t C = X->shape.dims[1];
  for (int i = 0; i < 4; i++) {
    if (!want_const_float (node, i + 1, &p[i], error))
      return FALSE;
    if (T (L, p[i])->n_elements != (size_t) C || T (L, p[i])->shape.rank != 1)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: '%s' must hold %" G_GINT64_FORMAT " values",
                   node->label, T (L, p[i])->name, C);
  }
  Step *s = new_step (node, OP_BATCHNORM, sizeof (BatchNormParams), 1, &x);
  BatchNormParams *bn = s->params;
  bn->scale = alloc_held (node, "scale", (size_t) C, sizeof (float), error);
  bn->shift = alloc_held (node, "shift", (size_t) C, sizeof (float), error);
  if (!bn->scale || !bn->shift)
    return FALSE;
  for (int64_t c = 0; c < C; c++) {
    float gamma = T (L, p[0])->fdata[c], beta = T (L, p[1])->fdata[c];
    float mean = T (L, p[2])->fdata[c], var = T (L, p[3])->fdata[c];
    float k = gamma / sqrtf (var + epsilon);
    bn->scale[c] = k;
    bn->shift[c] = beta - mean * k;
  }
  bn->outer = (size_t) X->shape.dims[0];
  bn->channels = (size_t) C;
  bn->inner = (size_t) dims_product (X->shape.dims, 2, X->shape.rank);
  s->n_weights = 2 * (size_t) C;
  return step_output (node, s, &X->shape, DT_FLOAT, error);
}
