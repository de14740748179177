/* Frame access and the landmark model contract's crop (docs/model-contract.md). */
#include "face-private.h"

#include <math.h>
#include <string.h>

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

/* The frame's luma over a window, as floats, with zeros for cells outside
 * the frame: the crop samples from it without per-tap checks or conversions. */
typedef struct {
  float *data;
  int x0, y0;          /* frame coordinates of cell (0, 0) */
  int width, height;
} GrayWindow;

static void
gray_window_fill (GrayWindow *win, const FkpFaceSampler *s)
{
  for (int j = 0; j < win->height; j++) {
    float *row = win->data + (size_t) j * win->width;
    int y = win->y0 + j;
    if (y < 0 || y >= s->height) {
      memset (row, 0, sizeof (float) * win->width);
      continue;
    }
    const uint8_t *src = s->data + (size_t) y * s->stride;
    int n = s->bytes_per_pixel;
    for (int i = 0; i < win->width; i++) {
      int x = win->x0 + i;
      if (x < 0 || x >= s->width) {
        row[i] = 0.0f;
        continue;
      }
      const uint8_t *p = src + (size_t) x * n;
      row[i] = s->gray ? p[0] : 0.299f * p[s->r] + 0.587f * p[s->g] + 0.114f * p[s->b];
    }
  }
}

/* Bilinear between pixel centres at (px, py), already shifted by -0.5 so
 * that integer positions are pixel centres.  Taps are clamped to the window,
 * whose border cells outside the frame are 0 (taps further out read 0, as
 * the Python reference's zero-padded image does). */
static inline float
window_bilinear (const GrayWindow *w, double px, double py)
{
  double xf = floor (px), yf = floor (py);
  int x = (int) xf - w->x0, y = (int) yf - w->y0;
  float fx = (float) (px - xf), fy = (float) (py - yf);
  int x1 = x + 1, y1 = y + 1;
  x = CLAMP (x, 0, w->width - 1);
  x1 = CLAMP (x1, 0, w->width - 1);
  y = CLAMP (y, 0, w->height - 1);
  y1 = CLAMP (y1, 0, w->height - 1);
  const float *r0 = w->data + (size_t) y * w->width, *r1 = w->data + (size_t) y1 * w->width;
  float top = r0[x] * (1 - fx) + r0[x1] * fx;
  float bottom = r1[x] * (1 - fx) + r1[x1] * fx;
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

  /* The window: the crop square's bounding box plus a cell on each side, so
   * that every tap of every sample falls inside it and positions relative
   * to it are positive (truncation is floor).  Cells outside the frame are
   * 0.  A crop absurdly larger than the frame takes the clamped path. */
  double half = 0.5 * crop->side * (fabs (cs) + fabs (sn));
  double lo_x = crop->cx - half - 0.5, hi_x = crop->cx + half - 0.5;
  double lo_y = crop->cy - half - 0.5, hi_y = crop->cy + half - 0.5;
  GrayWindow win;
  double cells = (hi_x - lo_x + 4) * (hi_y - lo_y + 4);
  gboolean whole = cells <= 4.0 * ((double) s->width + 2) * ((double) s->height + 2) + 65536.0;
  if (whole) {
    win.x0 = (int) floor (lo_x) - 1;
    win.y0 = (int) floor (lo_y) - 1;
    win.width = (int) floor (hi_x) + 2 - win.x0 + 1;
    win.height = (int) floor (hi_y) + 2 - win.y0 + 1;
  } else {
    win.x0 = (int) MAX (-1.0, MIN ((double) s->width, floor (lo_x) - 1));
    win.y0 = (int) MAX (-1.0, MIN ((double) s->height, floor (lo_y) - 1));
    int x1 = (int) MAX (-1.0, MIN ((double) s->width, floor (hi_x) + 2));
    int y1 = (int) MAX (-1.0, MIN ((double) s->height, floor (hi_y) + 2));
    win.width = x1 - win.x0 + 1;
    win.height = y1 - win.y0 + 1;
  }
  win.data = g_new (float, (size_t) win.width * win.height);
  gray_window_fill (&win, s);

  float inv = 1.0f / (float) (k * k);
  if (whole) {
    /* Positions relative to the window. */
    double rx = ox - win.x0, ry = oy - win.y0;
    int wmax = win.width - 2, hmax = win.height - 2;
    for (int v = 0; v < size; v++) {
      for (int u = 0; u < size; u++) {
        float acc = 0.0f;
        for (int t = 0; t < k; t++) {
          double bv = v + (t + 0.5) / k;
          double row_x = rx + vx * bv, row_y = ry + vy * bv;
          for (int a = 0; a < k; a++) {
            double au = u + (a + 0.5) / k;
            double px = row_x + ux * au, py = row_y + uy * au;
            int x = (int) px, y = (int) py;
            /* Rounding at the very edge can not leave the window by more
             * than a cell; keep the reads in bounds regardless. */
            x = MIN (MAX (x, 0), wmax);
            y = MIN (MAX (y, 0), hmax);
            float fx = (float) (px - x), fy = (float) (py - y);
            const float *r0 = win.data + (size_t) y * win.width + x;
            const float *r1 = r0 + win.width;
            float top = r0[0] * (1 - fx) + r0[1] * fx;
            float bottom = r1[0] * (1 - fx) + r1[1] * fx;
            acc += top * (1 - fy) + bottom * fy;
          }
        }
        out[(size_t) v * size + u] = k > 1 ? acc * inv : acc;
      }
    }
    g_free (win.data);
    return;
  }
  for (int v = 0; v < size; v++) {
    for (int u = 0; u < size; u++) {
      float acc = 0.0f;
      for (int t = 0; t < k; t++) {
        double bv = v + (t + 0.5) / k;
        for (int a = 0; a < k; a++) {
          double au = u + (a + 0.5) / k;
          acc += window_bilinear (&win, ox + ux * au + vx * bv, oy + uy * au + vy * bv);
        }
      }
      out[(size_t) v * size + u] = k > 1 ? acc * inv : acc;
    }
  }
  g_free (win.data);
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
