/* Resize (opsets 10+) and Upsample: nearest or linear on the last two dims
 * of a 4-D tensor.  The builder works out, for every output row and column,
 * which source pixels it mixes and how; the kernel only mixes. */
#include "load/loader.h"

#include <math.h>

/* Per output row and column, the two source indices and the weight of the
 * second (nearest: both indices equal, weight 0). */
typedef struct {
  int *y0, *y1, *x0, *x1;
  float *fy, *fx;
} ResizeParams;

/* Resize of the last two dims: each output pixel mixes the (up to) four
 * source pixels chosen at load time. */
FKP_SIMD static void
run_resize (FkpNet *net, const Step *s)
{
  const ResizeParams *resize = s->params;
  const FkpNnPlanes v = fkp_nn_planes (net, s);
  const float *x = v.x;
  float *y = v.y;
  const int H = v.H, W = v.W, OH = v.OH, OW = v.OW;
  const size_t planes = v.planes;
  for (size_t p = 0; p < planes; p++) {
    const float *in = x + p * H * W;
    float *out = y + p * OH * OW;
    for (int oy = 0; oy < OH; oy++) {
      const float *r0 = in + (size_t) resize->y0[oy] * W;
      const float *r1 = in + (size_t) resize->y1[oy] * W;
      const float fy = resize->fy[oy];
      float *dst = out + (size_t) oy * OW;
      for (int ox = 0; ox < OW; ox++) {
        const int x0 = resize->x0[ox], x1 = resize->x1[ox];
        const float fx = resize->fx[ox];
        const float top = r0[x0] + (r0[x1] - r0[x0]) * fx;
        const float bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
        dst[ox] = top + (bottom - top) * fy;
      }
    }
  }
}

FKP_SIMD_KERNEL_ENTRY (fkp_nn_run_resize, run_resize)

void
fkp_nn_clear_resize (void *params)
{
  ResizeParams *resize = params;
  g_free (resize->y0);
  g_free (resize->y1);
  g_free (resize->x0);
  g_free (resize->x1);
  g_free (resize->fy);
  g_free (resize->fx);
}

typedef enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC,
               CT_TF_HALF_PIXEL_FOR_NN } CoordTransform;
typedef enum { NR_ROUND_PREFER_FLOOR, NR_ROUND_PREFER_CEIL, NR_FLOOR, NR_CEIL } NearestRound;

/* Source position of output index `o` along one axis (ONNX Resize). */
static double
resize_source (CoordTransform ct, int64_t o, int64_t in_len, int64_t out_len, double scale)
{
  switch (ct) {
  case CT_HALF_PIXEL: return (o + 0.5) / scale - 0.5;
  case CT_PYTORCH_HALF_PIXEL: return out_len > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
  case CT_ALIGN_CORNERS: return out_len > 1 ? (double) o * (in_len - 1) / (out_len - 1) : 0.0;
  case CT_TF_HALF_PIXEL_FOR_NN: return (o + 0.5) / scale;
  default: return o / scale;
  }
}

static void
resize_axis (gboolean linear, CoordTransform ct, NearestRound nr, int64_t in_len,
             int64_t out_len, double scale, int *i0, int *i1, float *frac)
{
  for (int64_t o = 0; o < out_len; o++) {
    double x = resize_source (ct, o, in_len, out_len, scale);
    if (linear) {
      x = CLAMP (x, 0.0, (double) (in_len - 1));
      int64_t lo = (int64_t) floor (x);
      i0[o] = (int) lo;
      i1[o] = (int) MIN (lo + 1, in_len - 1);
      frac[o] = (float) (x - lo);
    } else {
      double r;
      switch (nr) {
      case NR_FLOOR: r = floor (x); break;
      case NR_CEIL: r = ceil (x); break;
      case NR_ROUND_PREFER_CEIL: r = floor (x + 0.5); break;
      default: r = x == floor (x) + 0.5 ? floor (x) : floor (x + 0.5); break;
      }
      int64_t i = (int64_t) CLAMP (r, 0.0, (double) (in_len - 1));
      i0[o] = i1[o] = (int) i;
      frac[o] = 0.0f;
    }
  }
}

gboolean
fkp_nn_build_resize (Node *node, GError **error)
{
  const gboolean upsample = node->variant;
  Loader *L = node->L;
  char *mode = NULL, *ct_name = NULL, *nr_name = NULL;
  gboolean ok = FALSE;
  int64_t exclude = 0, antialias = 0;
  const float *scales = NULL;
  const int64_t *sizes = NULL;
  size_t n_scales = 0, n_sizes = 0;
  float attr_scales[4];
  int x;
  if (upsample) {
    if (!check_arity (node, 1, 2, 1, 1, error) || !check_attrs (node, "mode,scales", error))
      return FALSE;
  } else if (!check_arity (node, 1, 4, 1, 1, error)
             || !check_attrs (node, "mode,coordinate_transformation_mode,nearest_mode,"
                              "cubic_coeff_a,exclude_outside,extrapolation_value,antialias,"
                              "keep_aspect_ratio_policy", error)) {
    return FALSE;
  }
  if (!want_float (node, 0, &x, error) || !want_nchw (node, x, error))
    return FALSE;
  const Tensor *X = T (L, x);
  gboolean old_resize = !upsample && L->opset < 11;
  if (!attr_string (node, "mode", "nearest", &mode, error)
      || !attr_string (node, "coordinate_transformation_mode",
                       upsample || old_resize ? "asymmetric" : "half_pixel", &ct_name, error)
      || !attr_string (node, "nearest_mode",
                       upsample || old_resize ? "floor" : "round_prefer_floor", &nr_name, error)
      || !attr_int (node, "exclude_outside", 0, &exclude, error)
      || !attr_int (node, "antialias", 0, &antialias, error))
    goto out;
  gboolean linear = strcmp (mode, "linear") == 0 || strcmp (mode, "bilinear") == 0;
  if (!linear && strcmp (mode, "nearest") != 0) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: mode '%s' is not supported", node->label,
          mode);
    goto out;
  }
  CoordTransform ct;
  if (strcmp (ct_name, "half_pixel") == 0) ct = CT_HALF_PIXEL;
  else if (strcmp (ct_name, "pytorch_half_pixel") == 0) ct = CT_PYTORCH_HALF_PIXEL;
  else if (strcmp (ct_name, "align_corners") == 0) ct = CT_ALIGN_CORNERS;
  else if (strcmp (ct_name, "asymmetric") == 0) ct = CT_ASYMMETRIC;
  else if (strcmp (ct_name, "tf_half_pixel_for_nn") == 0) ct = CT_TF_HALF_PIXEL_FOR_NN;
  else {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE,
          "%s: coordinate_transformation_mode '%s' is not supported", node->label, ct_name);
    goto out;
  }
  NearestRound nr;
  if (strcmp (nr_name, "round_prefer_floor") == 0) nr = NR_ROUND_PREFER_FLOOR;
  else if (strcmp (nr_name, "round_prefer_ceil") == 0) nr = NR_ROUND_PREFER_CEIL;
  else if (strcmp (nr_name, "floor") == 0) nr = NR_FLOOR;
  else if (strcmp (nr_name, "ceil") == 0) nr = NR_CEIL;
  else {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: nearest_mode '%s' is not supported",
          node->label, nr_name);
    goto out;
  }
  if (exclude || antialias) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: exclude_outside and antialias are not "
          "supported", node->label);
    goto out;
  }
  /* Scales: Upsample-7 attribute, Upsample-9 and Resize-10 input 1, Resize-11+ input 2;
   * sizes: Resize-11+ input 3. */
  int scales_input = upsample || old_resize ? 1 : 2;
  if (upsample && L->opset < 9) {
    const Onnx__AttributeProto *a = find_attr (node, "scales");
    if (!a || !attr_type_ok (node, a, ATTR_FLOATS, error) || a->n_floats != 4) {
      if (error && !*error)
        fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: needs 4 scales", node->label);
      goto out;
    }
    copy_bytes (attr_scales, a->floats, sizeof attr_scales);
    scales = attr_scales;
    n_scales = 4;
  } else {
    int si = input_index (node, scales_input);
    if (si >= 0 && T (L, si)->n_elements > 0) {
      if (T (L, si)->kind != TK_CONST || T (L, si)->dtype != DT_FLOAT) {
        fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: scales must be a float constant",
              node->label);
        goto out;
      }
      scales = T (L, si)->fdata;
      n_scales = T (L, si)->n_elements;
    }
    if (!upsample && !old_resize && !want_const_ints (node, 3, &sizes, &n_sizes, error))
      goto out;
    if (sizes && n_sizes == 0)
      sizes = NULL;
  }
  if ((!scales && !sizes) || (scales && n_scales != 4) || (sizes && n_sizes != 4)) {
    fail (error, FKP_NN_ERROR_SHAPE, "%s: needs 4 scales or 4 sizes", node->label);
    goto out;
  }
  FkpShape shape = X->shape;
  double scale_h, scale_w;
  if (sizes) {
    for (int i = 0; i < 4; i++)
      shape.dims[i] = sizes[i];
    scale_h = (double) sizes[2] / X->shape.dims[2];
    scale_w = (double) sizes[3] / X->shape.dims[3];
  } else {
    for (int i = 0; i < 4; i++) {
      if (!(scales[i] > 0.0f && scales[i] < 65536.0f)) {
        fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: scale %g is not supported",
              node->label, scales[i]);
        goto out;
      }
      shape.dims[i] = (int64_t) floor (X->shape.dims[i] * (double) scales[i]);
    }
    scale_h = scales[2];
    scale_w = scales[3];
  }
  if (shape.dims[0] != X->shape.dims[0] || shape.dims[1] != X->shape.dims[1]) {
    fail (error, FKP_NN_ERROR_UNSUPPORTED_ATTRIBUTE, "%s: only the last two dims may be resized",
          node->label);
    goto out;
  }
  size_t n;
  if (shape.dims[2] < 1 || shape.dims[3] < 1 || !shape_count (&shape, &n)) {
    fail (error, FKP_NN_ERROR_TOO_LARGE, "%s: output size is empty or too large", node->label);
    goto out;
  }
  /* The output and the index tables (three per output row and column) are
   * checked against their budgets before the tables are allocated. */
  int64_t OH = shape.dims[2], OW = shape.dims[3];
  if (!check_output (node, &shape, error)
      || !reserve_weights (L, node->label, "index tables", 3 * (size_t) (OH + OW), 4, error))
    goto out;
  Step *s = new_step (node, OP_RESIZE, sizeof (ResizeParams), 1, &x);
  ResizeParams *resize = s->params;
  if (!(resize->y0 = alloc_held (node, "row table", (size_t) OH, sizeof (int), error))
      || !(resize->y1 = alloc_held (node, "row table", (size_t) OH, sizeof (int), error))
      || !(resize->fy = alloc_held (node, "row weights", (size_t) OH, sizeof (float), error))
      || !(resize->x0 = alloc_held (node, "column table", (size_t) OW, sizeof (int), error))
      || !(resize->x1 = alloc_held (node, "column table", (size_t) OW, sizeof (int), error))
      || !(resize->fx = alloc_held (node, "column weights", (size_t) OW, sizeof (float), error)))
    goto out;
  resize_axis (linear, ct, nr, X->shape.dims[2], OH, scale_h, resize->y0, resize->y1,
               resize->fy);
  resize_axis (linear, ct, nr, X->shape.dims[3], OW, scale_w, resize->x0, resize->x1,
               resize->fx);
  ok = step_output (node, s, &shape, DT_FLOAT, error);
out:
  g_free (mode);
  g_free (ct_name);
  g_free (nr_name);
  return ok;
}
