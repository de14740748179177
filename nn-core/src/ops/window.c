/* Kernel windows, shared by Conv (conv.c) and the pools (pool.c): the
 * strides, dilations, pads and auto_pad attributes, and the output length
 * they give. */
#include "load/loader.h"

gboolean
fkp_nn_parse_auto_pad (const Node *node, AutoPad *mode, GError **error)
{
  char *s;
  if (!attr_string (node, "auto_pad", "NOTSET", &s, error))
    return FALSE;
  gboolean ok = TRUE;
  if (strcmp (s, "NOTSET") == 0 || s[0] == '\0')
    *mode = PAD_NOTSET;
  else if (strcmp (s, "VALID") == 0)
    *mode = PAD_VALID;
  else if (strcmp (s, "SAME_UPPER") == 0)
    *mode = PAD_SAME_UPPER;
  else if (strcmp (s, "SAME_LOWER") == 0)
    *mode = PAD_SAME_LOWER;
  else
    ok = fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: auto_pad '%s' is not supported",
               node->label, s);
  g_free (s);
  return ok;
}

gboolean
fkp_nn_window_dim (const Node *node, AutoPad mode, gboolean ceil_mode, int64_t in,
                   int64_t kernel, int64_t stride, int64_t dilation, int64_t *pad_begin,
                   int64_t *pad_end, int64_t *out, GError **error)
{
  int64_t extent = (kernel - 1) * dilation + 1;
  if (mode == PAD_VALID)
    *pad_begin = *pad_end = 0;
  if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
    *out = (in + stride - 1) / stride;
    int64_t total = MAX (0, (*out - 1) * stride + extent - in);
    *pad_begin = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
    *pad_end = total - *pad_begin;
  } else {
    int64_t span = in + *pad_begin + *pad_end - extent;
    if (span < 0)
      return fail (error, FKP_NN_ERROR_SHAPE, "%s: window of %" G_GINT64_FORMAT
                   " does not fit input length %" G_GINT64_FORMAT " plus padding", node->label,
                   extent, in);
    *out = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
    /* The last window must start inside the input or the leading padding. */
    if (ceil_mode && (*out - 1) * stride >= in + *pad_begin)
      (*out)--;
  }
  if (*pad_begin > MAX_PAD || *pad_end > MAX_PAD)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: padding above %d", node->label,
                 MAX_PAD);
  if (*out < 1)
    return fail (error, FKP_NN_ERROR_SHAPE, "%s: output would be empty", node->label);
  return TRUE;
}

gboolean
fkp_nn_window_attrs (const Node *node, int64_t *strides, int64_t *dilations, int64_t *pads,
                     GError **error)
{
  int n;
  strides[0] = strides[1] = 1;
  dilations[0] = dilations[1] = 1;
  pads[0] = pads[1] = pads[2] = pads[3] = 0;
  if (!attr_ints (node, "strides", strides, 2, &n, error))
    return FALSE;
  if (n >= 0 && n != 2)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: strides must have 2 values",
                 node->label);
  if (!attr_ints (node, "dilations", dilations, 2, &n, error))
    return FALSE;
  if (n >= 0 && n != 2)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: dilations must have 2 values",
                 node->label);
  if (!attr_ints (node, "pads", pads, 4, &n, error))
    return FALSE;
  if (n >= 0 && n != 4)
    return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: pads must have 4 values",
                 node->label);
  for (int i = 0; i < 2; i++) {
    if (strides[i] < 1 || strides[i] > MAX_STRIDE || dilations[i] < 1 || dilations[i] > MAX_STRIDE)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
                   "%s: strides and dilations must lie in [1, %d]", node->label, MAX_STRIDE);
  }
  for (int i = 0; i < 4; i++)
    if (pads[i] < 0 || pads[i] > MAX_PAD)
      return fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: pads must lie in [0, %d]",
                   node->label, MAX_PAD);
  return TRUE;
}
