/* Head pose from the points (face/src/pose.c), against references the fit
 * does not share:
 *
 * - synthetic heads: the mean shape turned by known angles, built here from
 *   the physical description of each angle (yaw turns the nose towards the
 *   image's right, pitch lifts it, roll turns the face clockwise), also
 *   with every point moved at random (another person's face), projected
 *   orthographically at several scales and places;
 * - the test split's human labels (tests/data/keypoints-test.csv): mirrored
 *   points give the opposite yaw; the yaw's sign agrees with where the nose
 *   tip sits between the jaw's ends; the fit's own roll agrees with the
 *   eye line. */
#include "face-test-util.h"
#include "mean-shape.h"

#include <math.h>
#include <string.h>

#define DEG (G_PI / 180.0)

/* Turns the 3D point p about an axis through the origin by angle a,
 * right-handed, in frame axes (x right, y down, z into the picture). */
static void
turn (double p[3], int axis, double a)
{
  int i = (axis + 1) % 3, j = (axis + 2) % 3;
  double u = p[i], v = p[j];
  p[i] = cos (a) * u - sin (a) * v;
  p[j] = sin (a) * u + cos (a) * v;
}

/* The mean shape (plus `noise`, per point) turned as a head turns and seen
 * from the front, orthographically: first the nod, then the turn, then the
 * roll in the picture; scale in pixels per unit of the shape. */
static void
project (const double noise[FKP_FACE_N_POINTS][3], double yaw, double pitch, double roll,
         double scale, double cx, double cy, float (*out)[2])
{
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    double p[3] = { fkp_mean_shape[i][0], fkp_mean_shape[i][1], fkp_mean_shape[i][2] };
    if (noise)
      for (int c = 0; c < 3; c++)
        p[c] += noise[i][c];
    /* turn (p, axis, a) takes the next axis towards the one after (x to y,
     * y to z, z to x) for a > 0.  The nose tip lies at -z (towards the
     * viewer).  Pitch > 0 lifts it: -z to -y, the negative angle about x. */
    turn (p, 0, -pitch * DEG);
    /* Yaw > 0 takes the nose to the image's right: -z to +x, the negative
     * angle about y. */
    turn (p, 1, -yaw * DEG);
    /* Roll > 0 is clockwise on screen (y down): x to y, a positive angle. */
    turn (p, 2, roll * DEG);
    out[i][0] = (float) (cx + scale * p[0]);
    out[i][1] = (float) (cy + scale * p[1]);
  }
}

static double
angle_difference (double a, double b)
{
  double d = fmod (fabs (a - b), 360.0);
  return MIN (d, 360.0 - d);
}

/* How far the nose tip (30) lies right of the middle of the jaw's ends (0,
 * 16), in eye-corner distances, measured along the eye line: > 0 for a head
 * turned to the image's right.  A cue of its own, not the fit. */
static double
nose_offset (const float (*pts)[2])
{
  double a = fkp_face_eye_angle (pts), c = cos (a), s = sin (a);
  double mx = (pts[0][0] + pts[16][0]) / 2, my = (pts[0][1] + pts[16][1]) / 2;
  double dx = pts[30][0] - mx, dy = pts[30][1] - my;
  return (c * dx + s * dy) / hypot (pts[45][0] - pts[36][0], pts[45][1] - pts[36][1]);
}

static void
test_synthetic (void)
{
  GRand *rand = g_rand_new_with_seed (19);
  double noise[FKP_FACE_N_POINTS][3];
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    for (int c = 0; c < 3; c++)
      noise[i][c] = g_rand_double_range (rand, -0.05, 0.05);
  double worst_exact = 0, sum_noisy[3] = { 0 }, worst_noisy = 0;
  int n = 0;
  for (int yaw = -60; yaw <= 60; yaw += 15)
    for (int pitch = -30; pitch <= 30; pitch += 15)
      for (int roll = -40; roll <= 40; roll += 20) {
        float pts[FKP_FACE_N_POINTS][2];
        double scale = g_rand_double_range (rand, 40, 300);
        double cx = g_rand_double_range (rand, 0, 640), cy = g_rand_double_range (rand, 0, 480);
        project (NULL, yaw, pitch, roll, scale, cx, cy, pts);
        /* The construction itself: a head turned right shows its nose right. */
        if (abs (yaw) >= 15)
          g_assert_cmpint (nose_offset ((const float (*)[2]) pts) > 0, ==, yaw > 0);
        FkpHeadPose pose;
        fkp_face_head_pose ((const float (*)[2]) pts, &pose);
        worst_exact = MAX (worst_exact, angle_difference (pose.yaw, yaw));
        worst_exact = MAX (worst_exact, angle_difference (pose.pitch, pitch));
        worst_exact = MAX (worst_exact, angle_difference (pose.roll, roll));
        g_assert_cmpfloat (fabs (pose.scale - scale), <, 1e-3 * scale);
        /* Another face: every point moved by up to 5 % of the eye-corner distance. */
        project ((const double (*)[3]) noise, yaw, pitch, roll, scale, cx, cy, pts);
        fkp_face_head_pose ((const float (*)[2]) pts, &pose);
        double e[3] = { angle_difference (pose.yaw, yaw), angle_difference (pose.pitch, pitch),
                        angle_difference (pose.roll, roll) };
        for (int k = 0; k < 3; k++) {
          sum_noisy[k] += e[k];
          worst_noisy = MAX (worst_noisy, e[k]);
        }
        n++;
      }
  g_test_message ("synthetic heads (%d): exact shape worst error %.4f deg; moved points: mean "
                  "yaw %.2f deg, pitch %.2f deg, roll %.2f deg, worst %.2f deg", n, worst_exact,
                  sum_noisy[0] / n, sum_noisy[1] / n, sum_noisy[2] / n, worst_noisy);
  /* Float table and float points: exact up to rounding. */
  g_assert_cmpfloat (worst_exact, <, 0.05);
  for (int k = 0; k < 3; k++)
    g_assert_cmpfloat (sum_noisy[k] / n, <, 3.0);
  g_assert_cmpfloat (worst_noisy, <, 10.0);
  g_rand_free (rand);
}

/* iBUG points swapped left for right (the image mirrored). */
static int
mirror_index (int i)
{
  static const int pairs[][2] = {
    { 17, 26 }, { 18, 25 }, { 19, 24 }, { 20, 23 }, { 21, 22 }, { 31, 35 }, { 32, 34 },
    { 36, 45 }, { 37, 44 }, { 38, 43 }, { 39, 42 }, { 40, 47 }, { 41, 46 },
    { 48, 54 }, { 49, 53 }, { 50, 52 }, { 55, 59 }, { 56, 58 }, { 60, 64 }, { 61, 63 },
    { 65, 67 },
  };
  if (i <= 16)
    return 16 - i;
  for (guint k = 0; k < G_N_ELEMENTS (pairs); k++) {
    if (pairs[k][0] == i)
      return pairs[k][1];
    if (pairs[k][1] == i)
      return pairs[k][0];
  }
  return i;
}

static void
test_labels (void)
{
  GArray *rows = test_load_labels ("keypoints-test.csv");
  int turned = 0, agree = 0;
  double roll_sum = 0, mirror_worst = 0;
  for (guint r = 0; r < rows->len; r++) {
    const float (*pts)[2] = (const float (*)[2]) g_array_index (rows, TestLabels, r).points;
    FkpHeadPose pose, mirrored;
    fkp_face_head_pose (pts, &pose);
    float flipped[FKP_FACE_N_POINTS][2];
    for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
      flipped[mirror_index (i)][0] = 500.0f - pts[i][0];
      flipped[mirror_index (i)][1] = pts[i][1];
    }
    fkp_face_head_pose ((const float (*)[2]) flipped, &mirrored);
    mirror_worst = MAX (mirror_worst, fabs (mirrored.yaw + pose.yaw));
    mirror_worst = MAX (mirror_worst, fabs (mirrored.pitch - pose.pitch));
    roll_sum += angle_difference (pose.roll, fkp_face_eye_angle (pts) / DEG);
    if (fabs (pose.yaw) > 10) {
      turned++;
      agree += (nose_offset (pts) > 0) == (pose.yaw > 0);
    }
  }
  g_test_message ("test split labels (%u faces): mirrored worst |yaw + yaw'|, |pitch - pitch'| "
                  "%.4f deg; %d of %d faces with |yaw| > 10 deg have the nose on that side; fit roll "
                  "against the eye line MAE %.2f deg", rows->len, mirror_worst, agree, turned,
                  roll_sum / rows->len);
  g_assert_cmpuint (rows->len, >=, 400);
  /* The mean shape is symmetric, so the mirror image is the opposite turn. */
  g_assert_cmpfloat (mirror_worst, <, 0.05);
  g_assert_cmpint (turned, >=, 50);
  g_assert_cmpint (agree, >=, turned * 95 / 100);
  g_assert_cmpfloat (roll_sum / rows->len, <, 3.0);
  test_free_labels (rows);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/face/pose/synthetic", test_synthetic);
  g_test_add_func ("/face/pose/labels", test_labels);
  return g_test_run ();
}
