#!/usr/bin/python3
"""Builds facekp's mean 3D face shape (68 points) from the 2D training labels, and
writes it as the C table the head-pose fit reads (face/src/mean-shape.h).

  /usr/bin/python3 fit_mean_shape.py --data DATA/keypoints --out ../face/src/mean-shape.h

No 3D model is taken from elsewhere: the shape comes from the 3,371 labelled
training faces alone, which show their heads turned and nodded by varying
amounts, by Tomasi-Kanade factorisation under scaled orthography:

1. Each face's 68 points, centred on their mean and scaled to unit RMS size,
   give two rows of a 2F x 68 measurement matrix W.  A rigid head seen
   orthographically makes W rank 3: W = M S, M the per-face 2 x 3 projections,
   S the 3 x 68 shape.  Expressions and identities are the non-rigid rest,
   which the truncated SVD leaves out (the residual is reported).
2. The SVD gives M and S up to an invertible 3 x 3 Q.  Each face's two rows
   of M Q must be orthogonal and of equal length (a scaled rotation):
   linear least squares for L = Q Q^T, Q its Cholesky factor.
3. Axes: x from the image-left side to the image-right side (the mean of the
   mirror pairs' differences, the normal of the symmetry plane), y down along
   the symmetry plane from the eyes to the mouth, z = x × y (away from the
   viewer).  Factorisation cannot tell a shape from its depth mirror; the one
   with the nose tip nearer the viewer than the eyes is the face.
4. The shape and its mirror image (x negated, points renumbered left for
   right) are averaged: the mean face is exactly symmetric.  Units: the
   distance between the outer eye corners (36, 45) is 1; origin at the
   points' mean.

A frontal face is thus yaw 0 (symmetry plane facing the viewer); pitch 0 is
the training faces' median (the shape turned about x so that they give 0:
with the eye-to-mouth line in the image plane they would read +13.5 degrees,
a face looking at the camera holding its mouth nearer than its eyes).  The script then fits every
training and test face with the same closed form the C code uses
(face/src/pose.c) and prints the pose distribution and the fit residuals.
"""
import argparse
import csv
import os

import numpy as np

from facekp_data import FLIP_PERMUTATION, NUM_POINTS


def load_points(data_dir, split):
    with open(os.path.join(data_dir, f"{split}_frames_keypoints.csv"), newline="") as f:
        rows = csv.reader(f)
        next(rows)
        return np.stack([np.asarray(r[1:], dtype=np.float64).reshape(NUM_POINTS, 2) for r in rows])


def normalised(points):
    c = points - points.mean(axis=1, keepdims=True)
    rms = np.sqrt((c ** 2).sum(axis=(1, 2)) / NUM_POINTS)
    return c / rms[:, None, None]


def factorise(points):
    """(M [F, 2, 3], S [3, 68]) with orthonormal-looking rows of M (metric upgrade)."""
    p = normalised(points)
    F = len(p)
    W = p.transpose(0, 2, 1).reshape(2 * F, NUM_POINTS)    # rows x0.., y0.. per face
    U, sv, Vt = np.linalg.svd(W, full_matrices=False)
    M = U[:, :3] * np.sqrt(sv[:3])
    S = np.sqrt(sv[:3])[:, None] * Vt[:3]
    residual = np.sqrt((sv[3:] ** 2).sum() / (sv ** 2).sum())

    def g(a, b):   # coefficients of a^T L b in the 6 unknowns of a symmetric L
        return np.stack([a[:, 0] * b[:, 0], a[:, 0] * b[:, 1] + a[:, 1] * b[:, 0],
                         a[:, 0] * b[:, 2] + a[:, 2] * b[:, 0], a[:, 1] * b[:, 1],
                         a[:, 1] * b[:, 2] + a[:, 2] * b[:, 1], a[:, 2] * b[:, 2]], axis=1)
    m1, m2 = M[0::2], M[1::2]
    A = np.concatenate([g(m1, m1) - g(m2, m2), g(m1, m2), g(m1, m1) + g(m2, m2)])
    b = np.concatenate([np.zeros(F), np.zeros(F), 2 * np.ones(F)])
    l = np.linalg.lstsq(A, b, rcond=None)[0]
    L = np.array([[l[0], l[1], l[2]], [l[1], l[3], l[4]], [l[2], l[4], l[5]]])
    Q = np.linalg.cholesky(L)   # fails if L is not positive definite: no rigid shape found
    return (M @ Q).reshape(F, 2, 3), np.linalg.solve(Q, S), residual


def align(S):
    """The shape in the face's own axes (see the module doc), symmetrised, 68 x 3."""
    P = S.T.copy()
    left = [i for i in range(NUM_POINTS) if FLIP_PERMUTATION[i] > i]
    right = FLIP_PERMUTATION[left]
    x = (P[right] - P[left]).mean(axis=0)
    x /= np.linalg.norm(x)
    down = P[48:68].mean(axis=0) - P[36:48].mean(axis=0)
    y = down - (down @ x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    Q = P @ np.stack([x, y, z], axis=1)
    if Q[30, 2] > Q[36:48, 2].mean():   # nose tip behind the eyes: the depth mirror
        Q[:, 2] = -Q[:, 2]
    mirror = Q[FLIP_PERMUTATION] * np.array([-1.0, 1.0, 1.0])
    Q = (Q + mirror) / 2
    Q -= Q.mean(axis=0)
    return Q / np.linalg.norm(Q[45] - Q[36])


def fit_pose(points, shape):
    """Scaled-orthographic fit, the closed form of face/src/pose.c: (yaw, pitch,
    roll) in degrees and the RMS residual as a fraction of the eye-corner distance."""
    p = points - points.mean(axis=0)
    S = shape - shape.mean(axis=0)
    A = p.T @ S @ np.linalg.inv(S.T @ S)           # 2 x 3
    B = A @ A.T
    root_det = np.sqrt(max(np.linalg.det(B), 0.0))
    root = (B + root_det * np.eye(2)) / np.sqrt(np.trace(B) + 2 * root_det)
    R2 = np.linalg.solve(root, A)                  # (A A^T)^(-1/2) A: orthonormal rows
    R = np.vstack([R2, np.cross(R2[0], R2[1])])
    beta = np.arcsin(np.clip(-R[2, 0], -1, 1))
    alpha = np.arctan2(R[2, 1], R[2, 2])
    gamma = np.arctan2(R[1, 0], R[0, 0])
    scale = np.sqrt(root_det)
    resid = p - scale * (S @ R2.T)
    rms = np.sqrt((resid ** 2).sum(axis=1).mean()) / (scale * np.linalg.norm(S[45] - S[36]))
    return np.degrees([-beta, -alpha, gamma]), rms


def mean_shape(points):
    """(the 68 x 3 mean shape of the faces `points` [F, 68, 2], rank-3 residual)."""
    _, S, residual = factorise(points)
    shape = align(S)
    # Pitch 0 as the labelled faces hold their heads (their median): the
    # eye-to-mouth line leans back in a face looking at the camera.
    for _ in range(2):
        t = -np.radians(np.median([fit_pose(p, shape)[0][1] for p in points]))
        rx = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
        shape = shape @ rx.T
    return shape, residual


def write_header(shape, path, n_faces, residual):
    lines = ["/* facekp's mean 3D face shape: 68 points (iBUG order), x to the image's",
             " * right, y down, z away from the viewer; the outer eye corners (36, 45) 1 apart,",
             " * origin at the points' mean.  Generated by training/fit_mean_shape.py from the",
             f" * 2D labels of the {n_faces:,} training faces (Tomasi-Kanade factorisation,",
             f" * rank-3 residual {residual:.3f} of the labels' energy); do not edit. */",
             "static const float fkp_mean_shape[68][3] = {"]
    for i, (x, y, z) in enumerate(shape):
        lines.append(f"  {{ {x:+.5f}f, {y:+.5f}f, {z:+.5f}f }},   /* {i} */")
    lines.append("};")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="keypoints folder")
    ap.add_argument("--out", required=True, help="C header to write (face/src/mean-shape.h)")
    args = ap.parse_args()
    train = load_points(args.data, "training")
    shape, residual = mean_shape(train)
    # The table is written rounded: fit with what C will read.
    shape = np.round(shape, 5)
    write_header(shape, args.out, len(train), residual)
    print(f"{len(train)} training faces, rank-3 residual {residual:.4f}")
    print("shape depth (z) range %.3f, nose tip z %.3f, eye corners z %.3f"
          % (np.ptp(shape[:, 2]), shape[30, 2], shape[[36, 45], 2].mean()))
    for split, pts in (("training", train), ("test", load_points(args.data, "test"))):
        fits = [fit_pose(p, shape) for p in pts]
        ang = np.array([a for a, _ in fits])
        rms = np.array([r for _, r in fits])
        eye = np.degrees(np.arctan2(*(pts[:, 42:48].mean(1) - pts[:, 36:42].mean(1))[:, ::-1].T))
        roll_diff = np.abs((ang[:, 2] - eye + 180) % 360 - 180)
        print(f"{split}: {len(pts)} faces; yaw median {np.median(ang[:, 0]):+.1f}, 5-95 % "
              f"{np.percentile(ang[:, 0], 5):+.1f}..{np.percentile(ang[:, 0], 95):+.1f}; pitch median "
              f"{np.median(ang[:, 1]):+.1f}, 5-95 % {np.percentile(ang[:, 1], 5):+.1f}.."
              f"{np.percentile(ang[:, 1], 95):+.1f}; |fit roll - eye line| mean {roll_diff.mean():.2f}; "
              f"residual median {np.median(rms):.3f}")


if __name__ == "__main__":
    main()
