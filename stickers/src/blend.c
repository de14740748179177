/* A bilinear, rotated, scaled OVER of a premultiplied ARGB32 raster onto
 * ARGB32/RGB24 pixels.  pixman's general affine path costs ~45 ns per pixel
 * here; this loop, restricted to each row's span that the raster covers and
 * skipping transparent texels, costs a few. */
#include "blend.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* (a * (256 - f) + b * f) / 256 on the four 8-bit channels at once, f in 0..256. */
static inline guint32
lerp_pixel (guint32 a, guint32 b, guint32 f)
{
  guint32 g = 256 - f;
  guint32 rb = ((((a & 0x00ff00ffu) * g) + ((b & 0x00ff00ffu) * f)) >> 8) & 0x00ff00ffu;
  guint32 ag = ((((a >> 8) & 0x00ff00ffu) * g) + (((b >> 8) & 0x00ff00ffu) * f)) & 0xff00ff00u;
  return rb | ag;
}

/* x * a / 255 per channel, rounded (a in 0..255). */
static inline guint32
scale_pixel_255 (guint32 x, guint32 a)
{
  guint32 rb = (x & 0x00ff00ffu) * a + 0x00800080u;
  rb = ((rb + ((rb >> 8) & 0x00ff00ffu)) >> 8) & 0x00ff00ffu;
  guint32 ag = ((x >> 8) & 0x00ff00ffu) * a + 0x00800080u;
  ag = (ag + ((ag >> 8) & 0x00ff00ffu)) & 0xff00ff00u;
  return rb | ag;
}

#ifdef __SSE2__
/* Bilinear sample of the 2x2 texels at @top/@bottom with fractions @fu, @fv
 * (0..255), times @alpha/256, OVER *out; each channel widened to 16 bits.
 * Weights sum to 256, so no product or sum leaves 16 bits. */
static inline void
over_sse2 (guint32 *out, const guint32 *top, const guint32 *bottom, guint32 fu, guint32 fv,
           guint32 alpha)
{
  const __m128i zero = _mm_setzero_si128 ();
  __m128i t = _mm_unpacklo_epi8 (_mm_loadl_epi64 ((const __m128i *) top), zero);
  __m128i b = _mm_unpacklo_epi8 (_mm_loadl_epi64 ((const __m128i *) bottom), zero);
  __m128i column = _mm_srli_epi16 (
      _mm_add_epi16 (_mm_mullo_epi16 (t, _mm_set1_epi16 ((short) (256 - fv))),
                     _mm_mullo_epi16 (b, _mm_set1_epi16 ((short) fv))), 8);
  __m128i weights = _mm_unpacklo_epi64 (_mm_set1_epi16 ((short) (256 - fu)),
                                        _mm_set1_epi16 ((short) fu));
  __m128i products = _mm_mullo_epi16 (column, weights);
  __m128i px = _mm_srli_epi16 (_mm_add_epi16 (products, _mm_srli_si128 (products, 8)), 8);
  if (alpha < 256)
    px = _mm_srli_epi16 (_mm_mullo_epi16 (px, _mm_set1_epi16 ((short) alpha)), 8);
  /* dst * (255 - src alpha) / 255, rounded, + src. */
  __m128i inv = _mm_sub_epi16 (_mm_set1_epi16 (255), _mm_shufflelo_epi16 (px, _MM_SHUFFLE (3, 3, 3, 3)));
  __m128i d = _mm_unpacklo_epi8 (_mm_cvtsi32_si128 ((int) *out), zero);
  __m128i m = _mm_add_epi16 (_mm_mullo_epi16 (d, inv), _mm_set1_epi16 (128));
  m = _mm_srli_epi16 (_mm_add_epi16 (m, _mm_srli_epi16 (m, 8)), 8);
  *out = (guint32) _mm_cvtsi128_si32 (_mm_packus_epi16 (_mm_add_epi16 (px, m), zero));
}
#endif

/* Range of x where lo <= start + step * x <= hi, intersected with [*x0, *x1]. */
static void
clip_linear (double start, double step, double lo, double hi, double *x0, double *x1)
{
  if (fabs (step) < 1e-12) {
    if (start < lo || start > hi)
      *x1 = *x0 - 1;
    return;
  }
  double a = (lo - start) / step, b = (hi - start) / step;
  if (a > b) {
    double t = a;
    a = b;
    b = t;
  }
  *x0 = MAX (*x0, a);
  *x1 = MIN (*x1, b);
}

void
fkp_sticker_blend (guint8 *dst, int dst_stride, const cairo_rectangle_int_t *clip,
                   const guint8 *src, int src_stride, int src_width, int src_height,
                   double centre_x, double centre_y, double angle, double scale_x,
                   double scale_y, double opacity)
{
  if (src_width < 2 || src_height < 2 || clip->width <= 0 || clip->height <= 0 ||
      !(scale_x > 0) || !(scale_y > 0))
    return;
  double c = cos (angle), s = sin (angle);
  /* Destination pixel centre (x + 0.5, y + 0.5) → texel-centre coordinates
   * (u, v) of the raster: undo the turn and the scale around the centre. */
  double du_dx = c / scale_x, du_dy = s / scale_x;
  double dv_dx = -s / scale_y, dv_dy = c / scale_y;
  double u_origin = 0.5 * src_width - 0.5 - du_dx * (centre_x - 0.5) - du_dy * (centre_y - 0.5);
  double v_origin = 0.5 * src_height - 0.5 - dv_dx * (centre_x - 0.5) - dv_dy * (centre_y - 0.5);
  double u_max = src_width - 1, v_max = src_height - 1;

  /* Rows the turned raster can reach. */
  double half_h = 0.5 * (fabs (s) * src_width * scale_x + fabs (c) * src_height * scale_y);
  int y_begin = MAX (clip->y, (int) floor (centre_y - half_h) - 1);
  int y_end = MIN (clip->y + clip->height, (int) ceil (centre_y + half_h) + 1);
  guint32 alpha = (guint32) lround (CLAMP (opacity, 0.0, 1.0) * 256);
  if (alpha == 0)
    return;

  for (int y = y_begin; y < y_end; y++) {
    double u_row = u_origin + du_dy * y, v_row = v_origin + dv_dy * y;
    double x0 = clip->x, x1 = clip->x + clip->width - 1;
    clip_linear (u_row, du_dx, 0, u_max, &x0, &x1);
    clip_linear (v_row, dv_dx, 0, v_max, &x0, &x1);
    int xa = (int) ceil (x0), xb = (int) floor (x1);
    if (xa > xb)
      continue;

    /* 16.16 fixed point along the row; indices clamped so rounding can never
     * read outside the raster (its 1-pixel border is transparent). */
    gint32 u = (gint32) lround ((u_row + du_dx * xa) * 65536.0);
    gint32 v = (gint32) lround ((v_row + dv_dx * xa) * 65536.0);
    gint32 u_step = (gint32) lround (du_dx * 65536.0), v_step = (gint32) lround (dv_dx * 65536.0);
    guint32 *out = (guint32 *) (dst + (gsize) y * dst_stride);
    for (int x = xa; x <= xb; x++, u += u_step, v += v_step) {
      int iu = CLAMP (u >> 16, 0, src_width - 2), iv = CLAMP (v >> 16, 0, src_height - 2);
      const guint32 *top = (const guint32 *) (src + (gsize) iv * src_stride) + iu;
      const guint32 *bottom = (const guint32 *) ((const guint8 *) top + src_stride);
      guint32 tl = top[0], tr = top[1], bl = bottom[0], br = bottom[1];
      if ((tl | tr | bl | br) == 0)
        continue;
      guint32 fu = ((guint32) u >> 8) & 0xff, fv = ((guint32) v >> 8) & 0xff;
#ifdef __SSE2__
      over_sse2 (&out[x], top, bottom, fu, fv, alpha);
#else
      guint32 px = lerp_pixel (lerp_pixel (tl, tr, fu), lerp_pixel (bl, br, fu), fv);
      if (alpha < 256)
        px = lerp_pixel (0, px, alpha);
      guint32 pa = px >> 24;
      if (pa == 255)
        out[x] = px;
      else if (px != 0)
        out[x] = px + scale_pixel_255 (out[x], 255 - pa);
#endif
    }
  }
}
