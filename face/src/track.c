/* Box overlap, non-maximum suppression, track matching and the One-Euro filter. */
#include "face-private.h"

#include <math.h>
#include <stdlib.h>

static float
intersection_area (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float x0 = MAX (a->x, b->x), y0 = MAX (a->y, b->y);
  float x1 = MIN (a->x + a->width, b->x + b->width);
  float y1 = MIN (a->y + a->height, b->y + b->height);
  return MAX (0.0f, x1 - x0) * MAX (0.0f, y1 - y0);
}

static float
area (const FkpFaceBox *b)
{
  return MAX (0.0f, b->width) * MAX (0.0f, b->height);
}

float
fkp_face_box_iou (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float inter = intersection_area (a, b);
  float uni = area (a) + area (b) - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

float
fkp_face_box_overlap_of_smaller (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float smaller = MIN (area (a), area (b));
  return smaller > 0.0f ? intersection_area (a, b) / smaller : 0.0f;
}

typedef struct {
  float score;
  size_t index;
} Ranked;

/* Descending score, ties by ascending input index (the Python reference's order). */
static int
by_score_desc (const void *pa, const void *pb)
{
  const Ranked *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

size_t
fkp_face_nms (FkpFaceDetection *dets, size_t n, float iou_threshold)
{
  if (n == 0)
    return 0;
  Ranked *order = g_new (Ranked, n);
  for (size_t i = 0; i < n; i++)
    order[i] = (Ranked) { dets[i].score, i };
  qsort (order, n, sizeof *order, by_score_desc);
  FkpFaceDetection *sorted = g_new (FkpFaceDetection, n);
  for (size_t i = 0; i < n; i++)
    sorted[i] = dets[order[i].index];
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    gboolean keep = TRUE;
    for (size_t j = 0; j < kept && keep; j++)
      if (fkp_face_box_iou (&sorted[i].box, &dets[j].box) > iou_threshold)
        keep = FALSE;
    if (keep)
      dets[kept++] = sorted[i];
  }
  g_free (sorted);
  g_free (order);
  return kept;
}

void
fkp_face_match_greedy (const float *iou, size_t n_rows, size_t n_cols, float min_iou,
                       int *row_to_col)
{
  gboolean *col_used = g_new0 (gboolean, n_cols + 1);
  for (size_t r = 0; r < n_rows; r++)
    row_to_col[r] = -1;
  for (;;) {
    float best = -1.0f;
    size_t br = 0, bc = 0;
    for (size_t r = 0; r < n_rows; r++) {
      if (row_to_col[r] >= 0)
        continue;
      for (size_t c = 0; c < n_cols; c++) {
        float v = iou[r * n_cols + c];
        if (!col_used[c] && v >= min_iou && v > best) {
          best = v;
          br = r;
          bc = c;
        }
      }
    }
    if (best < 0.0f)
      break;
    row_to_col[br] = (int) bc;
    col_used[bc] = TRUE;
  }
  g_free (col_used);
}

/* Smoothing factor of an exponential low-pass with cutoff `hz` over `dt` s. */
static double
alpha_for (double hz, double dt)
{
  double tau = 1.0 / (2.0 * G_PI * hz);
  return 1.0 / (1.0 + tau / dt);
}

double
fkp_one_euro_filter (FkpOneEuro *f, double x, double dt, double min_cutoff, double beta,
                     double d_cutoff, double speed_unit)
{
  if (!f->started || !(dt > 0.0) || !isfinite (x)) {
    f->started = isfinite (x);
    f->value = x;
    f->speed = 0.0;
    return x;
  }
  double raw_speed = (x - f->value) / dt;
  double a_d = alpha_for (d_cutoff, dt);
  f->speed = a_d * raw_speed + (1.0 - a_d) * f->speed;
  double unit = speed_unit > 0.0 ? speed_unit : 1.0;
  double cutoff = min_cutoff + beta * fabs (f->speed) / unit;
  double a = alpha_for (cutoff, dt);
  f->value = a * x + (1.0 - a) * f->value;
  return f->value;
}
