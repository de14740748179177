/* facekp/expressions.h — facial expressions from the 68 points of
 * libfacekp-face: a continuous value per expression and frame, and a state
 * per face that follows it with hysteresis, a minimum duration and a
 * per-face baseline.  The pipeline fills FkpFace's expression fields with
 * these for every tracked face; applications with points of their own
 * (another landmark source, offline data) can run the same code.
 *
 *   FkpExpressionTracker tracker = { 0 };      // or fkp_expression_tracker_reset
 *   for each frame of one face:
 *     fkp_expression_tracker_update (&tracker, face.points, seconds_since_last_frame, &face);
 *     if (face.expression_started & (1u << FKP_EXPRESSION_MOUTH_OPEN)) ...
 *
 * Formulas, thresholds and the baseline rule: docs/face-pipeline.md
 * ("Expressions").  Plain arithmetic on the points: no model, no allocation. */
#ifndef FACEKP_EXPRESSIONS_H
#define FACEKP_EXPRESSIONS_H

#include <facekp/face-types.h>

G_BEGIN_DECLS

/* A state changes once the value has been past its threshold for this long
 * (a one-frame spike changes nothing; at 30 fps: the second frame past)... */
#define FKP_EXPRESSION_CONFIRM_MS 30.0
/* ... and only after the current state has held this long. */
#define FKP_EXPRESSION_MIN_HOLD_MS 100.0

/* Per expression, in value units: the state turns on at baseline +
 * on_above and off below baseline + off_below; the baseline starts at
 * default_baseline and stays within 0 … max_baseline. */
typedef struct {
  float default_baseline;
  float max_baseline;
  float on_above;
  float off_below;
} FkpExpressionThresholds;

/* The expression values of one face's points (frame pixels, iBUG order):
 * values[e] in 0 … 1 for e < FKP_EXPRESSION_N, 0 where the points do not
 * allow it (not finite, or a zero length); the rest of the array is 0. */
void fkp_expression_measure (const float (*points)[2], float values[FKP_FACE_MAX_EXPRESSIONS]);

/* FALSE for an expression this version does not compute. */
gboolean fkp_expression_get_thresholds (FkpExpression expression,
                                        FkpExpressionThresholds *thresholds);

/* The state a face held still at @value settles in with the default
 * baseline: value >= default_baseline + on_above.  What a single image
 * (no history) shows. */
gboolean fkp_expression_state_at_rest (FkpExpression expression, float value);

/* One face's expression states over time.  All zero (or after
 * fkp_expression_tracker_reset) is a face not seen yet.  A plain value:
 * copying it copies the face's history.  Fields are private. */
typedef struct {
  gboolean started;
  guint32 states;
  guint32 ever_on;
  float baseline[FKP_FACE_MAX_EXPRESSIONS];
  double held_ms[FKP_FACE_MAX_EXPRESSIONS];
  double pending_ms[FKP_FACE_MAX_EXPRESSIONS];   /* < 0: the value is not past its threshold */
} FkpExpressionTracker;

void fkp_expression_tracker_reset (FkpExpressionTracker *tracker);

/* Measures @points, steps every state by @dt_seconds (the time since the
 * face's previous frame; <= 0 or not finite: no time passes) and writes the
 * expression fields of @face (expressions, expression_held_ms,
 * expression_states, expression_started, expression_ended). */
void fkp_expression_tracker_update (FkpExpressionTracker *tracker, const float (*points)[2],
                                    double dt_seconds, FkpFace *face);

/* The face's current baseline of @expression (its resting value). */
float fkp_expression_tracker_get_baseline (const FkpExpressionTracker *tracker,
                                           FkpExpression expression);

G_END_DECLS

#endif /* FACEKP_EXPRESSIONS_H */
