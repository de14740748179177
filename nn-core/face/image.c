/* Frame access and the landmark model contract's crop (docs/model-contract.md). */
#include "face-private.h"

#include <math.h>

gboolean
fkp_face_frame_validate (const FkpFaceFrame *frame, GError **error)
{
  if (frame == NULL || frame->data == NULL) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT, "frame has no data");
    return FALSE;
  }
  if (frame->width < 1 || frame->height < 1 || frame->width > (1 << 15)
      || frame->height > (1 << 15)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "frame size %dx%d is outside 1…32768", frame->width, frame->height);
    return FALSE;
  }
  if ((unsigned) frame->format > FKP_FACE_FORMAT_xBGR) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "unknown pixel format %d", (int) frame->format);
    return FALSE;
  }
  FkpFaceSampler s;
  fkp_face_sampler_init (&s, frame);
  if (frame->stride < frame->width * s.bytes_per_pixel) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "stride %d is smaller than a row (%d pixels × %d bytes)", frame->stride,
                 frame->width, s.bytes_per_pixel);
    return FALSE;
  }
  return TRUE;
}

void
fkp_face_sampler_init (FkpFaceSampler *s, const FkpFaceFrame *frame)
{
  s->data = frame->data;
  s->stride = frame->stride;
  s->width = frame->width;
  s->height = frame->height;
  s->gray = FALSE;
  s->r = s->g = s->b = 0;
  switch (frame->format) {
  case FKP_FACE_FORMAT_GRAY8:
    s->bytes_per_pixel = 1;
    s->gray = TRUE;
    break;
  case FKP_FACE_FORMAT_RGB:
    s->bytes_per_pixel = 3; s->r = 0; s->g = 1; s->b = 2;
    break;
  case FKP_FACE_FORMAT_BGR:
    s->bytes_per_pixel = 3; s->r = 2; s->g = 1; s->b = 0;
    break;
  case FKP_FACE_FORMAT_RGBA:
  case FKP_FACE_FORMAT_RGBx:
    s->bytes_per_pixel = 4; s->r = 0; s->g = 1; s->b = 2;
    break;
  case FKP_FACE_FORMAT_BGRA:
  case FKP_FACE_FORMAT_BGRx:
    s->bytes_per_pixel = 4; s->r = 2; s->g = 1; s->b = 0;
    break;
  case FKP_FACE_FORMAT_ARGB:
  case FKP_FACE_FORMAT_xRGB:
    s->bytes_per_pixel = 4; s->r = 1; s->g = 2; s->b = 3;
    break;
  case FKP_FACE_FORMAT_ABGR:
  case FKP_FACE_FORMAT_xBGR:
    s->bytes_per_pixel = 4; s->r = 3; s->g = 2; s->b = 1;
    break;
  default:
    s->bytes_per_pixel = 1;
    s->gray = TRUE;
    break;
  }
}

/* Bilinear between pixel centres at (px, py) already shifted by -0.5, so that
 * integer positions are pixel centres; taps outside the frame read 0. */
static inline float
bilinear (const FkpFaceSampler *s, double px, double py)
{
  double xf = floor (px), yf = floor (py);
  int x0 = (int) xf, y0 = (int) yf;
  float fx = (float) (px - xf), fy = (float) (py - yf);
  float top, bottom;
  if (x0 >= 0 && y0 >= 0 && x0 + 1 < s->width && y0 + 1 < s->height) {
    /* Inside: no bounds checks per tap. */
    const uint8_t *p0 = s->data + (size_t) y0 * s->stride + (size_t) x0 * s->bytes_per_pixel;
    const uint8_t *p1 = p0 + s->stride;
    int n = s->bytes_per_pixel;
    float a, b, c, d;
    if (s->gray) {
      a = p0[0]; b = p0[1]; c = p1[0]; d = p1[1];
    } else {
      a = 0.299f * p0[s->r] + 0.587f * p0[s->g] + 0.114f * p0[s->b];
      b = 0.299f * p0[n + s->r] + 0.587f * p0[n + s->g] + 0.114f * p0[n + s->b];
      c = 0.299f * p1[s->r] + 0.587f * p1[s->g] + 0.114f * p1[s->b];
      d = 0.299f * p1[n + s->r] + 0.587f * p1[n + s->g] + 0.114f * p1[n + s->b];
    }
    top = a * (1 - fx) + b * fx;
    bottom = c * (1 - fx) + d * fx;
  } else {
    if (x0 < -1 || y0 < -1 || x0 >= s->width || y0 >= s->height)
      return 0.0f;
    top = fkp_face_sampler_gray (s, x0, y0) * (1 - fx) + fkp_face_sampler_gray (s, x0 + 1, y0) * fx;
    bottom = fkp_face_sampler_gray (s, x0, y0 + 1) * (1 - fx)
             + fkp_face_sampler_gray (s, x0 + 1, y0 + 1) * fx;
  }
  return top * (1 - fy) + bottom * fy;
}

void
fkp_face_warp_gray (const FkpFaceSampler *s, const FkpFaceCrop *crop, int size, float *out)
{
  double ratio = crop->side / size;
  int k = ratio >= 1.5 ? (int) lround (ratio) : 1;
  double cs = cos (crop->angle), sn = sin (crop->angle);
  /* Frame displacement per output pixel along u and along v. */
  double step = crop->side / size;
  double ux = cs * step, uy = sn * step;    /* d p / d u */
  double vx = -sn * step, vy = cs * step;   /* d p / d v */
  /* Position of the output grid origin (u = v = 0 edge) minus the half pixel. */
  double ox = crop->cx - 0.5 * (cs * crop->side - sn * crop->side) - 0.5;
  double oy = crop->cy - 0.5 * (sn * crop->side + cs * crop->side) - 0.5;
  float inv = 1.0f / (float) (k * k);
  for (int v = 0; v < size; v++) {
    for (int u = 0; u < size; u++) {
      float acc = 0.0f;
      for (int t = 0; t < k; t++) {
        double bv = v + (t + 0.5) / k;
        for (int sidx = 0; sidx < k; sidx++) {
          double au = u + (sidx + 0.5) / k;
          acc += bilinear (s, ox + ux * au + vx * bv, oy + uy * au + vy * bv);
        }
      }
      out[(size_t) v * size + u] = k > 1 ? acc * inv : acc;
    }
  }
}

void
fkp_face_points_bounds (const float (*points)[2], int n, FkpFaceBox *box)
{
  float x0 = points[0][0], x1 = x0, y0 = points[0][1], y1 = y0;
  for (int i = 1; i < n; i++) {
    x0 = MIN (x0, points[i][0]);
    x1 = MAX (x1, points[i][0]);
    y0 = MIN (y0, points[i][1]);
    y1 = MAX (y1, points[i][1]);
  }
  box->x = x0;
  box->y = y0;
  box->width = x1 - x0;
  box->height = y1 - y0;
}

double
fkp_face_eye_angle (const float (*points)[2])
{
  double lx = 0, ly = 0, rx = 0, ry = 0;
  for (int i = 36; i < 42; i++) {
    lx += points[i][0];
    ly += points[i][1];
  }
  for (int i = 42; i < 48; i++) {
    rx += points[i][0];
    ry += points[i][1];
  }
  return atan2 ((ry - ly) / 6.0, (rx - lx) / 6.0);
}

void
fkp_face_crop_from_points (const float (*points)[2], int n_points, double scale,
                           gboolean eye_line, FkpFaceCrop *crop)
{
  FkpFaceBox box;
  fkp_face_points_bounds (points, n_points, &box);
  crop->cx = box.x + box.width / 2.0;
  crop->cy = box.y + box.height / 2.0;
  crop->side = scale * MAX (box.width, box.height);
  crop->angle = eye_line && n_points == FKP_FACE_N_POINTS ? fkp_face_eye_angle (points) : 0.0;
}

void
fkp_face_crop_from_box (const FkpFaceBox *box, double scale, FkpFaceCrop *crop)
{
  crop->cx = box->x + box->width / 2.0;
  crop->cy = box->y + box->height / 2.0;
  crop->side = scale * MAX (box->width, box->height);
  crop->angle = 0.0;
}

void
fkp_face_crop_from_frame (int width, int height, FkpFaceCrop *crop)
{
  crop->cx = width / 2.0;
  crop->cy = height / 2.0;
  crop->side = MAX (width, height);
  crop->angle = 0.0;
}

void
fkp_face_points_to_crop (const float (*points)[2], int n, const FkpFaceCrop *crop, float (*q)[2])
{
  double cs = cos (crop->angle), sn = sin (crop->angle);
  for (int i = 0; i < n; i++) {
    double dx = (points[i][0] - crop->cx) / crop->side;
    double dy = (points[i][1] - crop->cy) / crop->side;
    q[i][0] = (float) (cs * dx + sn * dy + 0.5);
    q[i][1] = (float) (-sn * dx + cs * dy + 0.5);
  }
}

void
fkp_face_points_from_crop (const float (*q)[2], int n, const FkpFaceCrop *crop, float (*points)[2])
{
  double cs = cos (crop->angle), sn = sin (crop->angle);
  for (int i = 0; i < n; i++) {
    double dx = (q[i][0] - 0.5) * crop->side;
    double dy = (q[i][1] - 0.5) * crop->side;
    points[i][0] = (float) (crop->cx + cs * dx - sn * dy);
    points[i][1] = (float) (crop->cy + sn * dx + cs * dy);
  }
}

double
fkp_face_nme (const float (*pred)[2], const float (*truth)[2])
{
  double norm = hypot (truth[36][0] - truth[45][0], truth[36][1] - truth[45][1]);
  double sum = 0;
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    sum += hypot (pred[i][0] - truth[i][0], pred[i][1] - truth[i][1]);
  return norm > 0 ? sum / FKP_FACE_N_POINTS / norm : INFINITY;
}
