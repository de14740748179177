/* Expressions from the 68 points: values (ratios of distances between
 * points, so independent of the face's size in pixels) and per-face states
 * with hysteresis, a confirmation time, a minimum hold and an adaptive
 * baseline.  The formulas and constants are documented in
 * docs/face-pipeline.md ("Expressions"); the constants were read off the
 * training split's labelled points (percentiles), not the test split. */
#include "face-private.h"
#include <facekp/expressions.h>

#include <math.h>
#include <string.h>

/* Value ramps: value = clamp ((raw - zero) / span, 0, 1). */
#define MOUTH_OPEN_SPAN 0.5      /* inner-lip gap over mouth width of a wide-open mouth */
#define SMILE_WIDTH_ZERO 0.70    /* mouth width over eye distance: a narrow, neutral mouth */
#define SMILE_WIDTH_SPAN 0.30
#define SMILE_LIFT_ZERO (-0.02)  /* corners above the lips' centre, over eye distance */
#define SMILE_LIFT_SPAN 0.14
#define EYE_OPEN_RATIO 0.30      /* eye aspect ratio of an open eye: value 0 ... */
#define EYE_RATIO_SPAN 0.25      /* ... and of a closed one (0.05): value 1 */
#define BROWS_ZERO 0.25          /* brow height above the eye centre, over eye distance */
#define BROWS_SPAN 0.25

/* Baseline time constants, seconds: it follows a lower value quickly (the
 * resting face is the low end: every expression raises its value), a
 * higher one slowly, and more slowly still while the state holds, so that
 * a held expression barely moves it but a face that rests high (narrow
 * eyes, a mouth that stays ajar) gets its own thresholds. */
#define BASELINE_FALL_S 0.5
#define BASELINE_RISE_S 5.0
#define BASELINE_RISE_ON_S 30.0

/* Clock comparisons allow for the rounding of frame durations (3 × 1/30 s). */
#define TIME_SLACK_MS 0.5

static const FkpExpressionThresholds thresholds[FKP_EXPRESSION_N] = {
  [FKP_EXPRESSION_MOUTH_OPEN] = { 0.10f, 0.40f, 0.30f, 0.20f },
  [FKP_EXPRESSION_SMILE] = { 0.30f, 0.50f, 0.30f, 0.20f },
  [FKP_EXPRESSION_LEFT_EYE_CLOSED] = { 0.15f, 0.50f, 0.45f, 0.30f },
  [FKP_EXPRESSION_RIGHT_EYE_CLOSED] = { 0.15f, 0.50f, 0.45f, 0.30f },
  [FKP_EXPRESSION_EYES_CLOSED] = { 0.15f, 0.50f, 0.45f, 0.30f },
  [FKP_EXPRESSION_BROWS_RAISED] = { 0.35f, 0.60f, 0.25f, 0.15f },
};

static double
distance (const float *a, const float *b)
{
  return hypot ((double) a[0] - b[0], (double) a[1] - b[1]);
}

static double
ramp (double raw, double zero, double span)
{
  double v = (raw - zero) / span;
  if (!(v > 0.0))   /* NaN too */
    return 0.0;
  return v < 1.0 ? v : 1.0;
}

/* raw / length, or NaN when the length is degenerate. */
static double
ratio (double raw, double length)
{
  return length > 1e-3 && isfinite (length) ? raw / length : NAN;
}

/* Eye aspect ratio: the lids' two gaps over twice the corner distance. */
static double
eye_aspect (const float (*p)[2], int first)
{
  const int c0 = first, t1 = first + 1, t2 = first + 2, c1 = first + 3, b2 = first + 4,
            b1 = first + 5;
  return ratio (distance (p[t1], p[b1]) + distance (p[t2], p[b2]), 2.0 * distance (p[c0], p[c1]));
}

FKP_PUBLIC void
fkp_expression_measure (const float (*p)[2], float values[FKP_FACE_MAX_EXPRESSIONS])
{
  memset (values, 0, FKP_FACE_MAX_EXPRESSIONS * sizeof *values);
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    if (!isfinite (p[i][0]) || !isfinite (p[i][1]))
      return;

  /* The eye line: centres L and R, distance ed, unit normal n towards the chin. */
  double lx = 0.5 * ((double) p[36][0] + p[39][0]), ly = 0.5 * ((double) p[36][1] + p[39][1]);
  double rx = 0.5 * ((double) p[42][0] + p[45][0]), ry = 0.5 * ((double) p[42][1] + p[45][1]);
  double ed = hypot (rx - lx, ry - ly);
  double nx = ed > 0 ? -(ry - ly) / ed : 0, ny = ed > 0 ? (rx - lx) / ed : 0;

  double width = distance (p[48], p[54]);
  double gap = (distance (p[61], p[67]) + distance (p[62], p[66]) + distance (p[63], p[65])) / 3.0;
  values[FKP_EXPRESSION_MOUTH_OPEN] = (float) ramp (ratio (gap, width), 0.0, MOUTH_OPEN_SPAN);

  double cx = 0.25 * ((double) p[51][0] + p[57][0] + p[62][0] + p[66][0]);
  double cy = 0.25 * ((double) p[51][1] + p[57][1] + p[62][1] + p[66][1]);
  double kx = 0.5 * ((double) p[48][0] + p[54][0]), ky = 0.5 * ((double) p[48][1] + p[54][1]);
  double lift = ratio ((cx - kx) * nx + (cy - ky) * ny, ed);
  double smile = 0.5 * ramp (ratio (width, ed), SMILE_WIDTH_ZERO, SMILE_WIDTH_SPAN)
                 + 0.5 * ramp (lift, SMILE_LIFT_ZERO, SMILE_LIFT_SPAN);
  values[FKP_EXPRESSION_SMILE] = isfinite (lift) ? (float) smile : 0.0f;

  double left = ramp (EYE_OPEN_RATIO - eye_aspect (p, 36), 0.0, EYE_RATIO_SPAN);
  double right = ramp (EYE_OPEN_RATIO - eye_aspect (p, 42), 0.0, EYE_RATIO_SPAN);
  values[FKP_EXPRESSION_LEFT_EYE_CLOSED] = (float) left;
  values[FKP_EXPRESSION_RIGHT_EYE_CLOSED] = (float) right;
  values[FKP_EXPRESSION_EYES_CLOSED] = (float) MIN (left, right);

  /* Each brow's height above its own eye's centre, along n. */
  double height = 0.0;
  for (int i = 17; i <= 26; i++) {
    double ex = i <= 21 ? lx : rx, ey = i <= 21 ? ly : ry;
    height += (ex - p[i][0]) * nx + (ey - p[i][1]) * ny;
  }
  values[FKP_EXPRESSION_BROWS_RAISED] = (float) ramp (ratio (height / 10.0, ed), BROWS_ZERO,
                                                      BROWS_SPAN);
}

FKP_PUBLIC gboolean
fkp_expression_get_thresholds (FkpExpression expression, FkpExpressionThresholds *out)
{
  if ((unsigned) expression >= FKP_EXPRESSION_N)
    return FALSE;
  *out = thresholds[expression];
  return TRUE;
}

FKP_PUBLIC gboolean
fkp_expression_state_at_rest (FkpExpression expression, float value)
{
  if ((unsigned) expression >= FKP_EXPRESSION_N)
    return FALSE;
  const FkpExpressionThresholds *t = &thresholds[expression];
  return value >= t->default_baseline + t->on_above;
}

FKP_PUBLIC void
fkp_expression_tracker_reset (FkpExpressionTracker *tracker)
{
  memset (tracker, 0, sizeof *tracker);
}

FKP_PUBLIC float
fkp_expression_tracker_get_baseline (const FkpExpressionTracker *tracker, FkpExpression e)
{
  if ((unsigned) e >= FKP_EXPRESSION_N)
    return 0.0f;
  return tracker->started ? tracker->baseline[e] : thresholds[e].default_baseline;
}

/* Steps one expression; returns TRUE when its state flipped. */
static gboolean
step (FkpExpressionTracker *tr, int e, float value, double dt_ms, double dt_s)
{
  const FkpExpressionThresholds *t = &thresholds[e];
  const guint32 bit = 1u << e;
  gboolean on = (tr->states & bit) != 0;
  float b = tr->baseline[e];

  tr->held_ms[e] += dt_ms;
  if (tr->pending_ms[e] >= 0)
    tr->pending_ms[e] += dt_ms;
  /* Hysteresis: on above b + on_above, off below b + off_below. */
  gboolean past = on ? value < b + t->off_below : value >= b + t->on_above;
  gboolean flipped = FALSE;
  if (!past)
    tr->pending_ms[e] = -1;
  else if (tr->pending_ms[e] < 0)
    tr->pending_ms[e] = 0;
  if (past && tr->pending_ms[e] >= FKP_EXPRESSION_CONFIRM_MS - TIME_SLACK_MS
      && tr->held_ms[e] >= FKP_EXPRESSION_MIN_HOLD_MS - TIME_SLACK_MS) {
    on = !on;
    tr->states ^= bit;
    if (on)
      tr->ever_on |= bit;
    tr->held_ms[e] = 0;
    tr->pending_ms[e] = -1;
    flipped = TRUE;
  }

  double tau = value < b ? BASELINE_FALL_S : on ? BASELINE_RISE_ON_S : BASELINE_RISE_S;
  b += (float) ((value - b) * (1.0 - exp (-dt_s / tau)));
  tr->baseline[e] = CLAMP (b, 0.0f, t->max_baseline);
  return flipped;
}

FKP_PUBLIC void
fkp_expression_tracker_update (FkpExpressionTracker *tr, const float (*points)[2],
                               double dt_seconds, FkpFace *face)
{
  float values[FKP_FACE_MAX_EXPRESSIONS];
  fkp_expression_measure (points, values);
  if (!tr->started) {
    fkp_expression_tracker_reset (tr);
    tr->started = TRUE;
    for (int e = 0; e < FKP_EXPRESSION_N; e++) {
      tr->baseline[e] = thresholds[e].default_baseline;
      tr->pending_ms[e] = -1;
    }
    /* A new face has no state to keep for a minimum time. */
    for (int e = 0; e < FKP_EXPRESSION_N; e++)
      tr->held_ms[e] = FKP_EXPRESSION_MIN_HOLD_MS;
    dt_seconds = 0;
  }
  if (!(dt_seconds > 0) || !isfinite (dt_seconds))
    dt_seconds = 0;

  guint32 flipped = 0;
  for (int e = 0; e < FKP_EXPRESSION_N; e++)
    if (step (tr, e, values[e], dt_seconds * 1000.0, dt_seconds))
      flipped |= 1u << e;

  memcpy (face->expressions, values, sizeof face->expressions);
  for (int e = 0; e < FKP_FACE_MAX_EXPRESSIONS; e++)
    face->expression_held_ms[e] = e < FKP_EXPRESSION_N && (tr->ever_on & (1u << e))
                                    ? (float) tr->held_ms[e]
                                    : FKP_EXPRESSION_NEVER;
  face->expression_states = tr->states;
  face->expression_started = flipped & tr->states;
  face->expression_ended = flipped & ~tr->states;
}
