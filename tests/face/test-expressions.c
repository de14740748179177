/* Expression signals (face/src/expressions.c) against independent
 * references: the documented formulas recomputed here on labelled points,
 * open and closed mouths and eyes picked by rules on the labels
 * (tests/data/expressions-faces.csv, rows of the data set's test split),
 * and the state machine (hysteresis, confirmation, minimum hold, baseline)
 * on synthetic sequences of points whose values are known exactly. */
#include "face-test-util.h"
#include <facekp/expressions.h>

#include <math.h>
#include <string.h>

#define FPS 30.0
#define DT (1.0 / FPS)
#define BIT(e) (1u << (e))

typedef TestLabels Labelled;

static GArray *
load_labelled (void)
{
  return test_load_labels ("expressions-faces.csv");
}

static void
free_labelled (GArray *rows)
{
  test_free_labels (rows);
}

static double
dist (const float *a, const float *b)
{
  return hypot (a[0] - b[0], a[1] - b[1]);
}

static double
clamp01 (double v)
{
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* The formulas of docs/face-pipeline.md, written out again. */
static double
reference_mouth_open (const float (*p)[2])
{
  double gap = (dist (p[61], p[67]) + dist (p[62], p[66]) + dist (p[63], p[65])) / 3;
  return clamp01 (gap / dist (p[48], p[54]) / 0.5);
}

static double
reference_eye_closed (const float (*p)[2], int first)
{
  double ear = (dist (p[first + 1], p[first + 5]) + dist (p[first + 2], p[first + 4]))
               / (2 * dist (p[first], p[first + 3]));
  return clamp01 ((0.30 - ear) / 0.25);
}

/* Rules on the labels alone, not on the formulas under test. */
static gboolean
label_mouth_open (const float (*p)[2])
{
  return dist (p[62], p[66]) >= 0.12 * dist (p[36], p[45]);
}

static gboolean
label_mouth_closed (const float (*p)[2])
{
  return dist (p[61], p[67]) == 0 && dist (p[62], p[66]) == 0 && dist (p[63], p[65]) == 0;
}

/* Every lid gap (37–41, 38–40, 43–47, 44–46) at most @most, or at least
 * @least, times the outer eye corners' distance. */
static gboolean
label_lids (const float (*p)[2], double most, double least)
{
  const int lids[4][2] = { { 37, 41 }, { 38, 40 }, { 43, 47 }, { 44, 46 } };
  double outer = dist (p[36], p[45]);
  for (int i = 0; i < 4; i++) {
    double gap = dist (p[lids[i][0]], p[lids[i][1]]);
    if (gap > most * outer || gap < least * outer)
      return FALSE;
  }
  return TRUE;
}

static void
test_values_on_labels (void)
{
  GArray *rows = load_labelled ();
  double lowest_open = 2, highest_closed = -1, lowest_shut = 2, highest_seeing = -1;
  guint n_open = 0, n_closed = 0, n_shut = 0, n_seeing = 0;
  for (guint i = 0; i < rows->len; i++) {
    const Labelled *l = &g_array_index (rows, Labelled, i);
    const float (*p)[2] = (const float (*)[2]) l->points;
    float v[FKP_FACE_MAX_EXPRESSIONS];
    fkp_expression_measure (p, v);
    g_assert_cmpfloat_with_epsilon (v[FKP_EXPRESSION_MOUTH_OPEN], reference_mouth_open (p), 1e-5);
    double left = reference_eye_closed (p, 36), right = reference_eye_closed (p, 42);
    g_assert_cmpfloat_with_epsilon (v[FKP_EXPRESSION_LEFT_EYE_CLOSED], left, 1e-5);
    g_assert_cmpfloat_with_epsilon (v[FKP_EXPRESSION_RIGHT_EYE_CLOSED], right, 1e-5);
    g_assert_cmpfloat_with_epsilon (v[FKP_EXPRESSION_EYES_CLOSED], MIN (left, right), 1e-5);
    for (int e = 0; e < FKP_FACE_MAX_EXPRESSIONS; e++) {
      g_assert_cmpfloat (v[e], >=, 0.0f);
      g_assert_cmpfloat (v[e], <=, 1.0f);
      if (e >= FKP_EXPRESSION_N)
        g_assert_cmpfloat (v[e], ==, 0.0f);
    }
    if (label_mouth_open (p)) {
      n_open++;
      lowest_open = MIN (lowest_open, v[FKP_EXPRESSION_MOUTH_OPEN]);
    } else if (label_mouth_closed (p)) {
      n_closed++;
      highest_closed = MAX (highest_closed, v[FKP_EXPRESSION_MOUTH_OPEN]);
      /* Lips touching: nothing open, whatever the face. */
      g_assert_false (fkp_expression_state_at_rest (FKP_EXPRESSION_MOUTH_OPEN,
                                                    v[FKP_EXPRESSION_MOUTH_OPEN]));
    }
    if (label_lids (p, 0.045, 0)) {
      n_shut++;
      lowest_shut = MIN (lowest_shut, v[FKP_EXPRESSION_EYES_CLOSED]);
    } else if (label_lids (p, G_MAXDOUBLE, 0.08)) {
      n_seeing++;
      highest_seeing = MAX (highest_seeing, v[FKP_EXPRESSION_EYES_CLOSED]);
    }
  }
  g_assert_cmpuint (n_open, >=, 10);
  g_assert_cmpuint (n_closed, >=, 10);
  g_assert_cmpuint (n_shut, >=, 5);
  g_assert_cmpuint (n_seeing, >=, 10);
  /* Every labelled open mouth ranks above every closed one, every pair of
   * nearly shut eyes above every pair of open ones. */
  g_assert_cmpfloat (lowest_open, >, highest_closed);
  g_assert_cmpfloat (highest_closed, ==, 0.0);
  g_assert_cmpfloat (lowest_shut, >, highest_seeing);
  free_labelled (rows);
}

/* Turning, scaling and moving the points changes no value (ratios of
 * lengths, angles measured from the eye line). */
static void
test_values_invariant (void)
{
  GArray *rows = load_labelled ();
  for (guint i = 0; i < rows->len; i++) {
    const Labelled *l = &g_array_index (rows, Labelled, i);
    float moved[FKP_FACE_N_POINTS][2], a[FKP_FACE_MAX_EXPRESSIONS], b[FKP_FACE_MAX_EXPRESSIONS];
    double angle = 0.5 * (i % 5) - 1.0, scale = 0.5 + 0.7 * (i % 4);
    for (int k = 0; k < FKP_FACE_N_POINTS; k++) {
      double x = l->points[k][0], y = l->points[k][1];
      moved[k][0] = (float) (scale * (x * cos (angle) - y * sin (angle)) + 300);
      moved[k][1] = (float) (scale * (x * sin (angle) + y * cos (angle)) - 40);
    }
    fkp_expression_measure ((const float (*)[2]) l->points, a);
    fkp_expression_measure ((const float (*)[2]) moved, b);
    for (int e = 0; e < FKP_EXPRESSION_N; e++)
      g_assert_cmpfloat_with_epsilon (a[e], b[e], 2e-4);
  }
  free_labelled (rows);
}

static void
test_values_degenerate (void)
{
  float p[FKP_FACE_N_POINTS][2] = { { 0 } }, v[FKP_FACE_MAX_EXPRESSIONS];
  fkp_expression_measure ((const float (*)[2]) p, v);   /* every point in one spot */
  for (int e = 0; e < FKP_FACE_MAX_EXPRESSIONS; e++)
    g_assert_cmpfloat (v[e], ==, 0.0f);
  GArray *rows = load_labelled ();
  memcpy (p, g_array_index (rows, Labelled, 0).points, sizeof p);
  p[50][1] = NAN;
  fkp_expression_measure ((const float (*)[2]) p, v);
  for (int e = 0; e < FKP_FACE_MAX_EXPRESSIONS; e++)
    g_assert_cmpfloat (v[e], ==, 0.0f);
  free_labelled (rows);
}

/* A closed-mouth labelled face whose inner lower lip (65–67) can be moved
 * down along the eye line's normal: its mouth_open value is then exactly
 * gap / mouth width / 0.5. */
typedef struct {
  float rest[FKP_FACE_N_POINTS][2];
  double nx, ny, width;
} MouthRig;

static void
rig_init (MouthRig *rig)
{
  GArray *rows = load_labelled ();
  gboolean found = FALSE;
  for (guint i = 0; i < rows->len && !found; i++) {
    const Labelled *l = &g_array_index (rows, Labelled, i);
    if (label_mouth_closed ((const float (*)[2]) l->points)) {
      memcpy (rig->rest, l->points, sizeof rig->rest);
      found = TRUE;
    }
  }
  g_assert_true (found);
  free_labelled (rows);
  const float (*p)[2] = (const float (*)[2]) rig->rest;
  double lx = (p[36][0] + p[39][0]) / 2.0, ly = (p[36][1] + p[39][1]) / 2.0;
  double rx = (p[42][0] + p[45][0]) / 2.0, ry = (p[42][1] + p[45][1]) / 2.0;
  double ed = hypot (rx - lx, ry - ly);
  rig->nx = -(ry - ly) / ed;
  rig->ny = (rx - lx) / ed;
  rig->width = dist (p[48], p[54]);
}

/* The points of the rig with mouth_open = @value (0 … 1). */
static void
rig_points (const MouthRig *rig, double value, float (*out)[2])
{
  memcpy (out, rig->rest, sizeof rig->rest);
  double gap = value * 0.5 * rig->width;
  for (int k = 65; k <= 67; k++) {
    out[k][0] += (float) (gap * rig->nx);
    out[k][1] += (float) (gap * rig->ny);
  }
}

/* Runs @n frames at FPS with the given mouth_open values; states[i] and the
 * started / ended bits per frame come back. */
static void
run_mouth (FkpExpressionTracker *tr, const MouthRig *rig, const double *values, int n,
           gboolean *on, gboolean *started, gboolean *ended, float *held)
{
  for (int i = 0; i < n; i++) {
    float pts[FKP_FACE_N_POINTS][2];
    FkpFace face;
    memset (&face, 0, sizeof face);
    rig_points (rig, values[i], pts);
    fkp_expression_tracker_update (tr, (const float (*)[2]) pts, DT, &face);
    g_assert_cmpfloat_with_epsilon (face.expressions[FKP_EXPRESSION_MOUTH_OPEN], values[i], 1e-3);
    on[i] = (face.expression_states & BIT (FKP_EXPRESSION_MOUTH_OPEN)) != 0;
    started[i] = (face.expression_started & BIT (FKP_EXPRESSION_MOUTH_OPEN)) != 0;
    ended[i] = (face.expression_ended & BIT (FKP_EXPRESSION_MOUTH_OPEN)) != 0;
    if (held)
      held[i] = face.expression_held_ms[FKP_EXPRESSION_MOUTH_OPEN];
  }
}

static int
count_changes (const gboolean *on, int n)
{
  int changes = 0;
  for (int i = 1; i < n; i++)
    changes += on[i] != on[i - 1];
  return changes;
}

/* Closed 10 frames, wide open 10, closed 10: on at the second open frame
 * (30 ms confirmation), off at the second closed one; started and ended
 * on exactly those frames; held times count from there. */
static void
test_state_step (void)
{
  MouthRig rig;
  rig_init (&rig);
  double values[30];
  for (int i = 0; i < 30; i++)
    values[i] = i >= 10 && i < 20 ? 0.8 : 0.0;
  gboolean on[30], started[30], ended[30];
  float held[30];
  FkpExpressionTracker tr = { 0 };
  run_mouth (&tr, &rig, values, 30, on, started, ended, held);
  for (int i = 0; i < 30; i++) {
    g_assert_cmpint (on[i], ==, i >= 11 && i < 21);
    g_assert_cmpint (started[i], ==, i == 11);
    g_assert_cmpint (ended[i], ==, i == 21);
  }
  g_assert_cmpfloat (held[10], ==, FKP_EXPRESSION_NEVER);   /* never on yet */
  g_assert_cmpfloat_with_epsilon (held[11], 0.0, 1e-3);
  g_assert_cmpfloat_with_epsilon (held[15], 4000.0 / FPS, 1e-2);
  g_assert_cmpfloat_with_epsilon (held[21], 0.0, 1e-3);
  g_assert_cmpfloat_with_epsilon (held[29], 8000.0 / FPS, 1e-2);
}

/* A one-frame spike changes nothing; values that wander between the off and
 * on thresholds keep the state they have (hysteresis): no flicker. */
static void
test_state_no_flicker (void)
{
  MouthRig rig;
  rig_init (&rig);
  enum { N = 120 };
  double values[N];
  for (int i = 0; i < N; i++) {
    if (i < 20)
      values[i] = i == 8 ? 0.95 : 0.0;                 /* a spike */
    else if (i < 60)
      values[i] = i % 2 ? 0.25 : 0.02;                 /* noise below the on threshold */
    else if (i < 64)
      values[i] = 0.8;                                 /* opens */
    else
      values[i] = i % 3 ? 0.45 : 0.85;                 /* noise above the off threshold */
  }
  gboolean on[N], started[N], ended[N];
  FkpExpressionTracker tr = { 0 };
  run_mouth (&tr, &rig, values, N, on, started, ended, NULL);
  for (int i = 0; i < 61; i++)
    g_assert_false (on[i]);
  for (int i = 61; i < N; i++)
    g_assert_true (on[i]);
  g_assert_cmpint (count_changes (on, N), ==, 1);
}

/* Once changed, a state holds FKP_EXPRESSION_MIN_HOLD_MS (100 ms): open for
 * one frame past the confirmation, then closed at once: off on the frame
 * where 100 ms have passed since it turned on. */
static void
test_state_min_hold (void)
{
  MouthRig rig;
  rig_init (&rig);
  double values[12] = { 0, 0, 0.9, 0.9, 0, 0, 0, 0, 0, 0, 0, 0 };
  gboolean on[12], started[12], ended[12];
  FkpExpressionTracker tr = { 0 };
  run_mouth (&tr, &rig, values, 12, on, started, ended, NULL);
  /* On at frame 3; closed from frame 4; 100 ms after frame 3 is frame 6. */
  for (int i = 0; i < 12; i++)
    g_assert_cmpint (on[i], ==, i >= 3 && i < 6);
}

/* Per-face baseline: a mouth resting at 0.3 (ajar) rises the face's
 * thresholds, so an opening to 0.5 that a face at rest would show no
 * longer counts, while 0.75 still does; the baseline follows the rule of
 * docs/face-pipeline.md, recomputed here. */
static void
test_state_baseline (void)
{
  MouthRig rig;
  rig_init (&rig);
  FkpExpressionThresholds t;
  g_assert_true (fkp_expression_get_thresholds (FKP_EXPRESSION_MOUTH_OPEN, &t));
  g_assert_true (fkp_expression_state_at_rest (FKP_EXPRESSION_MOUTH_OPEN, 0.5f));
  enum { REST = 300, N = REST + 60 };
  double values[N];
  for (int i = 0; i < N; i++)
    values[i] = i < REST ? 0.3 : i < REST + 20 ? 0.5 : i < REST + 30 ? 0.3 : 0.75;
  gboolean on[N], started[N], ended[N];
  FkpExpressionTracker tr = { 0 };
  double expected = t.default_baseline;
  for (int i = 0; i < REST; i++) {
    float pts[FKP_FACE_N_POINTS][2];
    FkpFace face;
    rig_points (&rig, values[i], pts);
    fkp_expression_tracker_update (&tr, (const float (*)[2]) pts, DT, &face);
    g_assert_false (face.expression_states & BIT (FKP_EXPRESSION_MOUTH_OPEN));
    if (i > 0) {   /* off and above the baseline: rises with a 5 s time constant */
      double v = values[i], tau = v < expected ? 0.5 : 5.0;
      expected += (v - expected) * (1 - exp (-DT / tau));
      expected = MIN (expected, t.max_baseline);
    }
    g_assert_cmpfloat_with_epsilon (fkp_expression_tracker_get_baseline (&tr, FKP_EXPRESSION_MOUTH_OPEN),
                                    expected, 1e-3);
  }
  g_assert_cmpfloat (expected, >, 0.3 - 0.2 * exp (-10.0 / 5.0) - 0.01);
  run_mouth (&tr, &rig, values + REST, N - REST, on + REST, started + REST, ended + REST, NULL);
  for (int i = REST; i < REST + 30; i++)
    g_assert_false (on[i]);
  g_assert_true (on[N - 1]);
  g_assert_cmpint (count_changes (on + REST, N - REST), ==, 1);

  /* The baseline falls back fast when the face rests lower again. */
  double closed[30] = { 0 };
  gboolean c_on[30], c_started[30], c_ended[30];
  run_mouth (&tr, &rig, closed, 30, c_on, c_started, c_ended, NULL);
  g_assert_cmpfloat (fkp_expression_tracker_get_baseline (&tr, FKP_EXPRESSION_MOUTH_OPEN), <, 0.05);
}

/* Eyes: a narrow-eyed face (eye aspect ratio 0.175, value 0.5) is not
 * "closed" at rest; after its baseline settles a blink (value 1) still
 * shows, a squint to 0.8 does not, though it would on a face at rest. */
static void
test_state_eyes_baseline (void)
{
  GArray *rows = load_labelled ();
  float base[FKP_FACE_N_POINTS][2];
  memcpy (base, g_array_index (rows, Labelled, 0).points, sizeof base);
  free_labelled (rows);
  /* Both eyes rebuilt as a regular hexagon-ish eye of width W and given EAR. */
  const double W = 40;
  for (int first = 36; first <= 42; first += 6) {
    double cx = (base[first][0] + base[first + 3][0]) / 2.0, cy = (base[first][1] + base[first + 3][1]) / 2.0;
    base[first][0] = (float) (cx - W / 2), base[first][1] = (float) cy;
    base[first + 3][0] = (float) (cx + W / 2), base[first + 3][1] = (float) cy;
  }
  g_assert_true (fkp_expression_state_at_rest (FKP_EXPRESSION_EYES_CLOSED, 0.8f));
  FkpExpressionTracker tr = { 0 };
  gboolean was_on = FALSE;
  int changes = 0, frame = 0;
  double seq[][2] = { { 0.5, 300 }, { 1.0, 6 }, { 0.5, 30 }, { 0.8, 20 }, { 0.5, 10 } };
  gboolean want_on_at_end[] = { FALSE, TRUE, FALSE, FALSE, FALSE };
  for (guint s = 0; s < G_N_ELEMENTS (seq); s++) {
    for (int i = 0; i < (int) seq[s][1]; i++, frame++) {
      double ear = 0.30 - 0.25 * seq[s][0];
      float p[FKP_FACE_N_POINTS][2];
      memcpy (p, base, sizeof p);
      for (int first = 36; first <= 42; first += 6) {
        double cx = (p[first][0] + p[first + 3][0]) / 2.0, cy = p[first][1];
        for (int k = 1; k <= 2; k++) {   /* top lid k, bottom lid 6-k, EAR·W apart */
          double x = cx + (k == 1 ? -W / 6 : W / 6);
          p[first + k][0] = p[first + 6 - k][0] = (float) x;
          p[first + k][1] = (float) (cy - ear * W / 2);
          p[first + 6 - k][1] = (float) (cy + ear * W / 2);
        }
      }
      FkpFace face;
      fkp_expression_tracker_update (&tr, (const float (*)[2]) p, DT, &face);
      g_assert_cmpfloat_with_epsilon (face.expressions[FKP_EXPRESSION_EYES_CLOSED], seq[s][0], 1e-3);
      gboolean on = (face.expression_states & BIT (FKP_EXPRESSION_EYES_CLOSED)) != 0;
      changes += on != was_on;
      was_on = on;
    }
    g_assert_cmpint (was_on, ==, want_on_at_end[s]);
  }
  g_assert_cmpint (changes, ==, 2);   /* the blink: on, then off */
}

/* No time (repeated timestamps, dt <= 0) confirms nothing. */
static void
test_state_no_time (void)
{
  MouthRig rig;
  rig_init (&rig);
  FkpExpressionTracker tr = { 0 };
  float pts[FKP_FACE_N_POINTS][2];
  FkpFace face;
  rig_points (&rig, 0.9, pts);
  for (int i = 0; i < 10; i++) {
    fkp_expression_tracker_update (&tr, (const float (*)[2]) pts, i == 0 ? DT : 0.0, &face);
    g_assert_false (face.expression_states & BIT (FKP_EXPRESSION_MOUTH_OPEN));
  }
  fkp_expression_tracker_update (&tr, (const float (*)[2]) pts, NAN, &face);
  g_assert_false (face.expression_states & BIT (FKP_EXPRESSION_MOUTH_OPEN));
  fkp_expression_tracker_update (&tr, (const float (*)[2]) pts, DT, &face);
  g_assert_true (face.expression_states & BIT (FKP_EXPRESSION_MOUTH_OPEN));
}

static void
test_names (void)
{
  FkpExpression e = FKP_EXPRESSION_N;
  for (int i = 0; i < FKP_EXPRESSION_N; i++) {
    const char *name = fkp_expression_get_name (i);
    g_assert_nonnull (name);
    g_assert_true (fkp_expression_from_name (name, &e));
    g_assert_cmpint (e, ==, i);
    char *underscored = g_strdelimit (g_strdup (name), "-", '_');
    g_assert_true (fkp_expression_from_name (underscored, &e));
    g_assert_cmpint (e, ==, i);
    g_free (underscored);
  }
  g_assert_null (fkp_expression_get_name (FKP_EXPRESSION_N));
  g_assert_false (fkp_expression_from_name ("mouth", &e));
  g_assert_false (fkp_expression_from_name ("mouth-open-", &e));
  g_assert_false (fkp_expression_from_name ("", &e));
  g_assert_false (fkp_expression_from_name (NULL, &e));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/face/expressions/values-on-labels", test_values_on_labels);
  g_test_add_func ("/face/expressions/values-invariant", test_values_invariant);
  g_test_add_func ("/face/expressions/values-degenerate", test_values_degenerate);
  g_test_add_func ("/face/expressions/state-step", test_state_step);
  g_test_add_func ("/face/expressions/state-no-flicker", test_state_no_flicker);
  g_test_add_func ("/face/expressions/state-min-hold", test_state_min_hold);
  g_test_add_func ("/face/expressions/state-baseline", test_state_baseline);
  g_test_add_func ("/face/expressions/state-eyes-baseline", test_state_eyes_baseline);
  g_test_add_func ("/face/expressions/state-no-time", test_state_no_time);
  g_test_add_func ("/face/expressions/names", test_names);
  return g_test_run ();
}
