/* Loader stage 4, weight packing, once fusion has folded everything into
 * the weights: the GEMM convolutions get their weights packed for the
 * sgemm (sgemm/; the decision is the conv's own, in ops/conv.c), and the
 * scratch area grows to what their runs need. */
#include "load/loader.h"

gboolean
pack_weights (Loader *L, GError **error)
{
  for (guint i = 0; i < L->steps->len; i++) {
    Step *s = S (L, i);
    if (s->op != OP_CONV)
      continue;
    fkp_nn_load_pause ();
    if (!fkp_nn_conv_pack (s, T (L, s->inputs[0]), T (L, s->output), &L->net->scratch_floats,
                           error))
      return FALSE;
  }
  return TRUE;
}
