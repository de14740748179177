"""Reference pre-processing, box decoding and non-maximum suppression for the facekp face
detector (models/face-detector.onnx). The C face pipeline follows the same steps; see
docs/detector.md. Everything here reads its constants from the model's metadata_props.
"""
import math

import numpy as np


def read_metadata(model):
    """metadata_props of an onnx.ModelProto as a dict."""
    return {p.key: p.value for p in model.metadata_props}


class DetectorContract:
    """The keys the runtime needs, parsed from the model's metadata."""

    def __init__(self, meta):
        if meta.get("facekp.task") != "face-detection":
            raise ValueError("not a face detector: facekp.task=%r" % meta.get("facekp.task"))
        if meta.get("facekp.detector.type") != "tiny-yolo2":
            raise ValueError("unsupported detector type %r" % meta.get("facekp.detector.type"))
        self.width = int(meta["facekp.input.width"])
        self.height = int(meta["facekp.input.height"])
        self.mean = float(meta["facekp.input.mean"])
        self.scale = float(meta["facekp.input.scale"])
        self.pad_value = float(meta["facekp.input.pad_value"])
        self.stride = int(meta["facekp.detector.stride"])
        self.anchors = [tuple(float(v) for v in a.split(","))
                        for a in meta["facekp.detector.anchors"].split(";")]
        self.layout = meta["facekp.detector.anchor_layout"].split(",")
        if self.layout != ["tx", "ty", "tw", "th", "score"]:
            raise ValueError("unsupported anchor layout %r" % self.layout)
        self.score_threshold = float(meta["facekp.detector.score_threshold"])
        self.nms_iou = float(meta["facekp.detector.nms_iou"])
        dx, dy, s = (float(v) for v in meta["facekp.detector.box_to_landmark_box"].split(","))
        self.to_landmark = (dx, dy, s)


# ---------------------------------------------------------------- pre-processing

def _sample_rows(src_len, dst_len, scale, taps):
    """Source sample positions (pixel-index coordinates) for each destination pixel: pixel u
    covers frame [u / scale, (u + 1) / scale); `taps` samples spread evenly over it."""
    u = np.arange(dst_len, dtype=np.float64)[:, None]
    t = (np.arange(taps, dtype=np.float64)[None, :] + 0.5) / taps
    return (u + t) / scale - 0.5  # frame pixel i is centred at i + 0.5


def _bilinear_1d_weights(pos, src_len):
    """For positions in pixel-index coordinates: (i0, i1, w0, w1) with taps outside the
    source getting weight on a zero row (index src_len)."""
    i0 = np.floor(pos).astype(np.int64)
    f = pos - i0
    i1 = i0 + 1
    w0, w1 = 1.0 - f, f
    out0 = (i0 < 0) | (i0 >= src_len)
    out1 = (i1 < 0) | (i1 >= src_len)
    i0 = np.where(out0, src_len, i0)
    i1 = np.where(out1, src_len, i1)
    return i0, i1, w0, w1


def letterbox(rgb, width, height, pad_value=0.0):
    """Scale an RGB frame (H, W, 3, uint8 or float) by s = min(width / W, height / H), put it
    at the top-left of a width x height canvas filled with pad_value, and return
    (NCHW float32 [1, 3, height, width] with values 0..255, s).

    Sampling: bilinear between pixel centres; when 1 / s >= 1.5 each output pixel averages a
    k x k grid of bilinear samples, k = round(1 / s) (same rule as the landmark crop)."""
    src = np.asarray(rgb, dtype=np.float32)
    fh, fw = src.shape[:2]
    s = min(width / fw, height / fh)
    out_w, out_h = min(width, int(math.floor(fw * s + 0.5))), min(height, int(math.floor(fh * s + 0.5)))
    taps = int(round(1.0 / s)) if 1.0 / s >= 1.5 else 1
    ys = _sample_rows(fh, out_h, s, taps)
    xs = _sample_rows(fw, out_w, s, taps)
    padded = np.concatenate([src, np.zeros((1, fw, 3), np.float32)], axis=0)
    padded = np.concatenate([padded, np.zeros((fh + 1, 1, 3), np.float32)], axis=1)
    y0, y1, wy0, wy1 = _bilinear_1d_weights(ys, fh)
    x0, x1, wx0, wx1 = _bilinear_1d_weights(xs, fw)
    acc = np.zeros((out_h, out_w, 3), np.float64)
    for ty in range(taps):
        rows0, rows1 = padded[y0[:, ty]], padded[y1[:, ty]]
        rows = rows0 * wy0[:, ty, None, None] + rows1 * wy1[:, ty, None, None]
        for tx in range(taps):
            acc += (rows[:, x0[:, tx]] * wx0[None, :, tx, None]
                    + rows[:, x1[:, tx]] * wx1[None, :, tx, None])
    acc /= taps * taps
    canvas = np.full((height, width, 3), pad_value, np.float32)
    canvas[:out_h, :out_w] = acc
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]), s


# ---------------------------------------------------------------- decoding and NMS

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode(grid, contract, letterbox_scale, frame_w, frame_h, score_threshold=None):
    """grid: the model's output [1, A * 5, gh, gw]. Returns an array [N, 5] of
    (x, y, w, h, score) in frame pixels, before NMS, boxes not clipped.

    For anchor a at cell (row, col), channel a * 5 + k holds t_k:
      score = sigmoid(t4)       kept when score >= threshold
      cx = (col + sigmoid(t0)) * stride,  cy = (row + sigmoid(t1)) * stride   (input pixels)
      w = exp(t2) * anchor_w[a] * stride, h = exp(t3) * anchor_h[a] * stride
      frame box = (cx - w/2, cy - h/2, w, h) / letterbox_scale
    """
    thr = contract.score_threshold if score_threshold is None else score_threshold
    g = np.asarray(grid, np.float64)[0]
    n_anchors = len(contract.anchors)
    gh, gw = g.shape[1], g.shape[2]
    g = g.reshape(n_anchors, 5, gh, gw)
    score = _sigmoid(g[:, 4])
    a_idx, rows, cols = np.nonzero(score >= thr)
    t = g[a_idx, :, rows, cols]                      # [N, 5]
    anchors = np.asarray(contract.anchors, np.float64)[a_idx]
    st = contract.stride
    cx = (cols + _sigmoid(t[:, 0])) * st
    cy = (rows + _sigmoid(t[:, 1])) * st
    w = np.exp(t[:, 2]) * anchors[:, 0] * st
    h = np.exp(t[:, 3]) * anchors[:, 1] * st
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1) / letterbox_scale
    return np.concatenate([boxes, score[a_idx, rows, cols][:, None]], axis=1)


def iou(a, b):
    """IoU of two (x, y, w, h, ...) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def nms(dets, iou_threshold):
    """Greedy NMS: visit boxes by descending score (ties: lower index first), keep a box unless
    its IoU with an already kept box is > iou_threshold."""
    order = sorted(range(len(dets)), key=lambda i: (-dets[i][4], i))
    kept = []
    for i in order:
        if all(iou(dets[i], dets[k]) <= iou_threshold for k in kept):
            kept.append(i)
    return np.asarray([dets[i] for i in kept]).reshape(-1, 5)


def clip_to_frame(dets, frame_w, frame_h):
    """Clip (x, y, w, h, score) boxes to the frame; drop boxes left empty."""
    out = []
    for x, y, w, h, s in dets:
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(float(frame_w), x + w), min(float(frame_h), y + h)
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0, s))
    return np.asarray(out).reshape(-1, 5)


def detect(run_model, rgb, contract, score_threshold=None, width=None, height=None):
    """Full detection of one frame: letterbox, run, decode, NMS, clip. run_model maps an NCHW
    array to the grid. width/height override the contract's input size (multiples of 32)."""
    fh, fw = rgb.shape[:2]
    tensor, s = letterbox(rgb, width or contract.width, height or contract.height,
                          contract.pad_value)
    grid = run_model(tensor)
    dets = decode(grid, contract, s, fw, fh, score_threshold)
    return clip_to_frame(nms(dets, contract.nms_iou), fw, fh)


def landmark_box_from_detection(box, contract):
    """Estimated landmark box (a square: x, y, side, side) from a detector box (x, y, w, h):
    centre = box centre + (dx * w, dy * h), side = scale * max(w, h)."""
    dx, dy, s = contract.to_landmark
    x, y, w, h = box[:4]
    cx, cy = x + w * (0.5 + dx), y + h * (0.5 + dy)
    side = s * max(w, h)
    return (cx - side / 2, cy - side / 2, side, side)
