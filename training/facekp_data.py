"""The 68-point keypoint data set and the crop that the C runtime reproduces.

CSV rows: image file name, then x0, y0, ..., x67, y67 in pixels of that image.

Crop convention (the model contract, docs/model-contract.md; face/
implements the same formula in C):
  a crop is (centre cx, cy; side S; angle theta; output size N).  Output pixel
  (u, v) covers [u, u+1) x [v, v+1); its normalised position is
  a = (u + 0.5) / N - 0.5, b = (v + 0.5) / N - 0.5, and it samples the frame
  at p = c + S * R(theta) (a, b).  Frame pixel (i, j) is centred at
  (i + 0.5, j + 0.5).  Sampling is bilinear between pixel centres, taps
  outside the frame read 0, and when S / N >= 1.5 each output pixel averages
  a k x k grid of bilinear samples (k = round(S / N)) spread evenly over its
  footprint, so that large downscales do not alias.
  Points map to the crop as q = R(-theta) (p - c) / S + 0.5, in [0, 1].
"""
import csv
import math
import os

import numpy as np
from PIL import Image

NUM_POINTS = 68

# Horizontal-flip permutation of the iBUG 68-point order (0-based).
FLIP_PERMUTATION = np.array(
    list(range(16, -1, -1))                      # jaw
    + list(range(26, 16, -1))                    # eyebrows
    + [27, 28, 29, 30]                           # nose bridge
    + [35, 34, 33, 32, 31]                       # nostrils
    + [45, 44, 43, 42, 47, 46]                   # left eye <- right eye
    + [39, 38, 37, 36, 41, 40]                   # right eye <- left eye
    + [54, 53, 52, 51, 50, 49, 48]               # outer lip, top
    + [59, 58, 57, 56, 55]                       # outer lip, bottom
    + [64, 63, 62, 61, 60]                       # inner lip, top
    + [67, 66, 65])                              # inner lip, bottom
assert sorted(FLIP_PERMUTATION.tolist()) == list(range(NUM_POINTS))


def to_gray(img):
    """BT.601 luma as float32, the same weights the C runtime uses for RGB frames."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def identity_of(name):
    """The person in an image: its file name without the frame number and the
    `_t` mark of frames from the original test folder (`Lincoln_Chafee_52.jpg`,
    `Lincoln_Chafee_52_t.jpg` -> `Lincoln_Chafee`).  Some `_t` files are the
    very image of their namesake, so both must fall on the same side."""
    stem = os.path.splitext(name)[0]
    if stem.endswith("_t"):
        stem = stem[:-2]
    return stem.rsplit("_", 1)[0]


def held_out_identities(names, fraction, seed):
    """Boolean mask of the images whose person falls in a held-out validation
    share of the identities (about `fraction` of them, drawn with `seed`): no
    person is on both sides, as in the data's own training/test split."""
    people = sorted({identity_of(n) for n in names})
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(people)[:int(round(fraction * len(people)))])
    return np.array([identity_of(n) in chosen for n in names], dtype=bool)


def split_held_out(names, images, points, fraction, seed):
    """(held-out, rest), each (names, images, points): held_out_identities applied to a split."""
    held = held_out_identities(names, fraction, seed)

    def pick(mask):
        return ([n for n, m in zip(names, mask) if m], [g for g, m in zip(images, mask) if m],
                points[mask])
    return pick(held), pick(~held)


def load_split(data_dir, split):
    """Returns (names, list of HxW float32 gray images, points [n, 68, 2])."""
    csv_path = os.path.join(data_dir, f"{split}_frames_keypoints.csv")
    names, images, points = [], [], []
    with open(csv_path, newline="") as f:
        rows = csv.reader(f)
        next(rows)  # header
        for row in rows:
            names.append(row[0])
            images.append(to_gray(Image.open(os.path.join(data_dir, split, row[0]))))
            points.append(np.asarray(row[1:], dtype=np.float32).reshape(NUM_POINTS, 2))
    return names, images, np.stack(points)


def crop_from_points(points, scale):
    """The contract's crop from 68 points: square centred on the points' box, side scale x its larger side."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    return centre, scale * float((hi - lo).max())


def crop_from_frame(width, height):
    """full-frame crop: the square centred on the frame, side its larger dimension."""
    return np.array([width / 2, height / 2], dtype=np.float32), float(max(width, height))


def warp_crop(gray, centre, side, angle, size):
    """Samples a size x size crop from a float32 gray image (see module doc)."""
    h, w = gray.shape
    k = int(round(side / size)) if side / size >= 1.5 else 1
    # Sub-sample offsets inside an output pixel, in output-pixel units.
    sub = (np.arange(k, dtype=np.float64) + 0.5) / k
    grid = (np.arange(size, dtype=np.float64)[:, None] + sub[None, :]).reshape(-1) / size - 0.5
    a = grid[None, :]           # along x
    b = grid[:, None]           # along y
    cos, sin = math.cos(angle), math.sin(angle)
    px = centre[0] + side * (cos * a - sin * b) - 0.5
    py = centre[1] + side * (sin * a + cos * b) - 0.5
    x0 = np.floor(px).astype(np.int64)
    y0 = np.floor(py).astype(np.int64)
    fx = (px - x0).astype(np.float32)
    fy = (py - y0).astype(np.float32)
    padded = np.zeros((h + 2, w + 2), dtype=np.float32)
    padded[1:-1, 1:-1] = gray
    # Indices into the zero-bordered image; anything further out reads the border.
    xi = np.clip(x0 + 1, 0, w + 1)
    xi1 = np.clip(x0 + 2, 0, w + 1)
    yi = np.clip(y0 + 1, 0, h + 1)
    yi1 = np.clip(y0 + 2, 0, h + 1)
    top = padded[yi, xi] * (1 - fx) + padded[yi, xi1] * fx
    bottom = padded[yi1, xi] * (1 - fx) + padded[yi1, xi1] * fx
    out = top * (1 - fy) + bottom * fy
    if k > 1:
        out = out.reshape(size, k, size, k).mean(axis=(1, 3))
    return out.astype(np.float32)


def points_to_crop(points, centre, side, angle):
    """Frame points [n, 2] -> crop-normalised points in [0, 1]."""
    cos, sin = math.cos(angle), math.sin(angle)
    d = (points - centre) / side
    return np.stack([cos * d[:, 0] + sin * d[:, 1], -sin * d[:, 0] + cos * d[:, 1]], axis=1) + 0.5


def points_from_crop(q, centre, side, angle):
    """Crop-normalised points [n, 2] -> frame points."""
    cos, sin = math.cos(angle), math.sin(angle)
    d = (q - 0.5) * side
    return np.stack([cos * d[:, 0] - sin * d[:, 1], sin * d[:, 0] + cos * d[:, 1]], axis=1) + centre


def nme(pred, truth):
    """Per-image NME: mean point error / distance between points 36 and 45."""
    norm = np.linalg.norm(truth[:, 36] - truth[:, 45], axis=-1)
    return np.linalg.norm(pred - truth, axis=-1).mean(axis=-1) / norm
