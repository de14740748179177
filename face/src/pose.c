/* Head pose from the 68 points: a scaled-orthographic fit of facekp's mean
 * 3D face shape (mean-shape.h, built from the training labels by
 * training/fit_mean_shape.py), in closed form.
 *
 * Axes and signs (docs/face-pipeline.md, "Head pose"): the rotation R that
 * takes the shape's axes (x to the face's image-right side, y down, z away
 * from the viewer) to the frame's (x right, y down, z into the picture) is
 * Rz(roll) · Ry(−yaw) · Rx(−pitch): yaw > 0 turns the nose towards the
 * image's right, pitch > 0 lifts it (head tilted back), roll > 0 turns the
 * face clockwise in the picture. */
#include <math.h>

#include "face-private.h"
#include "mean-shape.h"

void
fkp_face_head_pose (const float (*points)[2], FkpHeadPose *pose)
{
  /* Centre both point sets: orthography has no depth, so the translation is
   * the difference of the means and drops out. */
  double mx = 0, my = 0, sx = 0, sy = 0, sz = 0;
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    mx += points[i][0];
    my += points[i][1];
    sx += fkp_mean_shape[i][0];
    sy += fkp_mean_shape[i][1];
    sz += fkp_mean_shape[i][2];
  }
  mx /= FKP_FACE_N_POINTS; my /= FKP_FACE_N_POINTS;
  sx /= FKP_FACE_N_POINTS; sy /= FKP_FACE_N_POINTS; sz /= FKP_FACE_N_POINTS;

  /* Least squares for the 2 x 3 projection A: A = P^T S (S^T S)^-1. */
  double sts[3][3] = { { 0 } }, pts[2][3] = { { 0 } };
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    double s[3] = { fkp_mean_shape[i][0] - sx, fkp_mean_shape[i][1] - sy,
                    fkp_mean_shape[i][2] - sz };
    double p[2] = { points[i][0] - mx, points[i][1] - my };
    for (int r = 0; r < 3; r++) {
      for (int c = 0; c < 3; c++)
        sts[r][c] += s[r] * s[c];
      pts[0][r] += p[0] * s[r];
      pts[1][r] += p[1] * s[r];
    }
  }
  double inv[3][3];
  inv[0][0] = sts[1][1] * sts[2][2] - sts[1][2] * sts[2][1];
  inv[0][1] = sts[0][2] * sts[2][1] - sts[0][1] * sts[2][2];
  inv[0][2] = sts[0][1] * sts[1][2] - sts[0][2] * sts[1][1];
  inv[1][0] = sts[1][2] * sts[2][0] - sts[1][0] * sts[2][2];
  inv[1][1] = sts[0][0] * sts[2][2] - sts[0][2] * sts[2][0];
  inv[1][2] = sts[0][2] * sts[1][0] - sts[0][0] * sts[1][2];
  inv[2][0] = sts[1][0] * sts[2][1] - sts[1][1] * sts[2][0];
  inv[2][1] = sts[0][1] * sts[2][0] - sts[0][0] * sts[2][1];
  inv[2][2] = sts[0][0] * sts[1][1] - sts[0][1] * sts[1][0];
  double det = sts[0][0] * inv[0][0] + sts[0][1] * inv[1][0] + sts[0][2] * inv[2][0];
  double a[2][3] = { { 0 } };
  for (int r = 0; r < 2; r++)
    for (int c = 0; c < 3; c++)
      for (int k = 0; k < 3; k++)
        a[r][c] += pts[r][k] * inv[k][c] / det;

  /* The nearest scaled rotation: (A A^T)^(-1/2) A has orthonormal rows.  The
   * square root of a 2 x 2 symmetric positive B is (B + sqrt(det B) I) /
   * sqrt(tr B + 2 sqrt(det B)). */
  double b00 = a[0][0] * a[0][0] + a[0][1] * a[0][1] + a[0][2] * a[0][2];
  double b01 = a[0][0] * a[1][0] + a[0][1] * a[1][1] + a[0][2] * a[1][2];
  double b11 = a[1][0] * a[1][0] + a[1][1] * a[1][1] + a[1][2] * a[1][2];
  double root_det = sqrt (MAX (b00 * b11 - b01 * b01, 0.0));
  double norm = sqrt (b00 + b11 + 2 * root_det);
  double q00 = (b00 + root_det) / norm, q01 = b01 / norm, q11 = (b11 + root_det) / norm;
  double q_det = q00 * q11 - q01 * q01;
  if (!(q_det > 1e-12) || !isfinite (q_det)) {   /* points all on one line or one spot: no pose */
    pose->yaw = pose->pitch = pose->roll = 0.0f;
    pose->scale = 0.0f;
    return;
  }
  double r[3][3];
  for (int c = 0; c < 3; c++) {
    r[0][c] = (q11 * a[0][c] - q01 * a[1][c]) / q_det;
    r[1][c] = (q00 * a[1][c] - q01 * a[0][c]) / q_det;
  }
  r[2][0] = r[0][1] * r[1][2] - r[0][2] * r[1][1];
  r[2][1] = r[0][2] * r[1][0] - r[0][0] * r[1][2];
  r[2][2] = r[0][0] * r[1][1] - r[0][1] * r[1][0];

  /* R = Rz(gamma) Ry(beta) Rx(alpha): R20 = -sin beta, R21 / R22 = tan alpha,
   * R10 / R00 = tan gamma. */
  double beta = asin (CLAMP (-r[2][0], -1.0, 1.0));
  double alpha = atan2 (r[2][1], r[2][2]);
  double gamma = atan2 (r[1][0], r[0][0]);
  pose->yaw = (float) (-beta * 180.0 / G_PI);
  pose->pitch = (float) (-alpha * 180.0 / G_PI);
  pose->roll = (float) (gamma * 180.0 / G_PI);
  pose->scale = (float) sqrt (root_det);
}
