#!/usr/bin/python3
"""Measure the face detector: recall and false positives on the hand-labelled photos, and how
its boxes relate to the 68-point landmark boxes.

    /usr/bin/python3 evaluate.py                          # the shipped model, its own settings
    /usr/bin/python3 evaluate.py --sizes 320x256,416x320,416x416,512x384 --thresholds 0.3,0.4,0.5
    /usr/bin/python3 evaluate.py --landmarks ../../../shared/data/keypoints --limit 200

Matching: detections are visited by descending score; each takes the still unmatched labelled
face with which it has the highest IoU, if that IoU is >= --iou (0.4). Recall = matched labelled
faces / labelled faces; a false positive is a detection that matched nothing.

--landmarks pastes each test-split crop (native size) at the centre of a 640x480 grey frame,
detects, takes the best-scoring detection that overlaps the 68-point box, and reports the
landmark box relative to the detection: dx = (landmark centre x - box centre x) / box w,
dy likewise / box h, scale = landmark box larger side / max(box w, box h).
"""
import argparse
import csv
import json
import os
import time

import numpy as np
import onnx
from PIL import Image

import convert
import decode
from onnx_runner import OnnxRunner

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "..", "tests", "data")
SHIPPED = os.path.join(HERE, "..", "..", "models", "face-detector.onnx")


def match(dets, faces, iou_min):
    """(matched count, false positives, list of IoUs of matches)."""
    used = [False] * len(faces)
    ious, fp = [], 0
    for d in sorted(dets, key=lambda d: -d[4]):
        best, best_iou = -1, iou_min
        for j, f in enumerate(faces):
            if not used[j]:
                v = decode.iou(d, f)
                if v >= best_iou:
                    best, best_iou = j, v
        if best < 0:
            fp += 1
        else:
            used[best] = True
            ious.append(best_iou)
    return sum(used), fp, ious


def parse_sizes(text):
    return [tuple(int(v) for v in s.split("x")) for s in text.split(",") if s]


def photos_table(runner, contract, labels, photo_dir, sizes, thresholds, iou_min, save_dir=None):
    images = {name: np.asarray(Image.open(os.path.join(photo_dir, name)).convert("RGB"))
              for name in labels["images"]}
    rows = []
    for w, h in sizes:
        grids = {}
        for name, rgb in images.items():
            tensor, s = decode.letterbox(rgb, w, h, contract.pad_value)
            grids[name] = (runner(tensor), s)
        for thr in thresholds:
            per, tot_found, tot_faces, tot_fp, all_ious = [], 0, 0, 0, []
            for name, rgb in images.items():
                grid, s = grids[name]
                fh, fw = rgb.shape[:2]
                dets = decode.clip_to_frame(decode.nms(decode.decode(grid, contract, s, fw, fh, thr),
                                                       contract.nms_iou), fw, fh)
                faces = labels["images"][name]["faces"]
                found, fp, ious = match(dets, faces, iou_min)
                per.append("%s %d/%d fp %d" % (name.split(".")[0], found, len(faces), fp))
                tot_found, tot_faces, tot_fp = tot_found + found, tot_faces + len(faces), tot_fp + fp
                all_ious += ious
                if save_dir:
                    save_overlay(rgb, faces, dets, os.path.join(
                        save_dir, "%s_%dx%d_t%g.png" % (name.split(".")[0], w, h, thr)))
            rows.append((w, h, thr, tot_found, tot_faces, tot_fp, per,
                         float(np.mean(all_ious)) if all_ious else 0.0))
    return rows


def save_overlay(rgb, faces, dets, path):
    from PIL import ImageDraw
    im = Image.fromarray(rgb)
    d = ImageDraw.Draw(im)
    for x, y, w, h in faces:
        d.rectangle([x, y, x + w, y + h], outline=(0, 255, 0), width=3)
    for x, y, w, h, s in dets:
        d.rectangle([x, y, x + w, y + h], outline=(255, 0, 0), width=2)
        d.text((x + 3, y + 3), "%.2f" % s, fill=(255, 0, 0))
    im.save(path)


def landmark_relation(runner, contract, data_dir, limit, size, threshold):
    """Statistics of the landmark box relative to the detection on test-split crops."""
    rows = list(csv.reader(open(os.path.join(data_dir, "test_frames_keypoints.csv"))))[1:]
    if limit:
        rows = rows[::max(1, len(rows) // limit)][:limit]
    w, h = size
    rel, missed = [], 0
    for row in rows:
        crop = np.asarray(Image.open(os.path.join(data_dir, "test", row[0])).convert("RGB"))
        pts = np.asarray(row[1:], np.float64).reshape(68, 2)
        frame = np.full((480, 640, 3), 128, np.uint8)
        ch, cw = crop.shape[:2]
        if ch > 480 or cw > 640:
            continue
        ox, oy = (640 - cw) // 2, (480 - ch) // 2
        frame[oy:oy + ch, ox:ox + cw] = crop
        pts = pts + (ox, oy)
        lo, hi = pts.min(0), pts.max(0)
        lm_box = (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])
        dets = decode.detect(runner, frame, contract, threshold, width=w, height=h)
        overlapping = [d for d in dets if decode.iou(d, lm_box) > 0.1]
        if not overlapping:
            missed += 1
            continue
        d = max(overlapping, key=lambda d: d[4])
        lm_c = (lo + hi) / 2
        side = max(d[2], d[3])
        rel.append(((lm_c[0] - (d[0] + d[2] / 2)) / d[2], (lm_c[1] - (d[1] + d[3] / 2)) / d[3],
                    max(lm_box[2], lm_box[3]) / side, decode.iou(d, lm_box), d[2] / d[3]))
    return np.asarray(rel), missed, len(rows)


def synthetic_frames(data_dir, n_frames, seed=5):
    """640x480 frames with 1-4 test-split crops pasted at random places, scaled x0.75-1.25 and
    rotated by up to +-20 degrees on a smooth random background; yields (frame, landmark boxes)."""
    rows = list(csv.reader(open(os.path.join(data_dir, "test_frames_keypoints.csv"))))[1:]
    rng = np.random.default_rng(seed)
    for _ in range(n_frames):
        low = rng.uniform(40, 215, (4, 5, 3))
        frame = np.asarray(Image.fromarray(low.astype(np.uint8)).resize((640, 480), Image.BILINEAR),
                           np.float32)
        boxes, taken = [], []
        for _ in range(int(rng.integers(1, 5))):
            row = rows[int(rng.integers(len(rows)))]
            crop = Image.open(os.path.join(data_dir, "test", row[0])).convert("RGB")
            pts = np.asarray(row[1:], np.float64).reshape(68, 2)
            scale, angle = rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
            cw, ch = crop.size
            crop = crop.resize((max(1, round(cw * scale)), max(1, round(ch * scale))), Image.BILINEAR)
            pts = pts * (crop.size[0] / cw, crop.size[1] / ch)
            rgba = crop.convert("RGBA").rotate(angle, resample=Image.BILINEAR, expand=True)
            # PIL rotates counter-clockwise about the centre; map the points the same way
            c_in = np.asarray(crop.size, np.float64) / 2
            c_out = np.asarray(rgba.size, np.float64) / 2
            t = np.deg2rad(angle)
            rot = np.asarray([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
            pts = (pts - c_in) @ rot.T + c_out
            rw, rh = rgba.size
            if rw >= 640 or rh >= 480:
                continue
            for _try in range(20):
                ox, oy = int(rng.integers(0, 640 - rw)), int(rng.integers(0, 480 - rh))
                if all(ox + rw <= x or x + w <= ox or oy + rh <= y or y + h <= oy
                       for x, y, w, h in taken):
                    break
            else:
                continue
            taken.append((ox, oy, rw, rh))
            arr = np.asarray(rgba, np.float32)
            alpha = arr[..., 3:] / 255.0
            region = frame[oy:oy + rh, ox:ox + rw]
            frame[oy:oy + rh, ox:ox + rw] = region * (1 - alpha) + arr[..., :3] * alpha
            p = pts + (ox, oy)
            lo, hi = p.min(0), p.max(0)
            boxes.append((lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
        yield frame.astype(np.uint8), boxes


def synthetic_table(runner, contract, data_dir, n_frames, sizes, thresholds, iou_min):
    """Recall / false positives on synthetic frames: a detection is mapped to its estimated
    landmark box (facekp.detector.box_to_landmark_box) and matched to the true landmark boxes."""
    frames = list(synthetic_frames(data_dir, n_frames))
    rows = []
    for w, h in sizes:
        grids = []
        for frame, _ in frames:
            tensor, s = decode.letterbox(frame, w, h, contract.pad_value)
            grids.append((runner(tensor), s))
        for thr in thresholds:
            found = faces = fp = 0
            for (frame, boxes), (grid, s) in zip(frames, grids):
                dets = decode.clip_to_frame(decode.nms(decode.decode(grid, contract, s, 640, 480, thr),
                                                       contract.nms_iou), 640, 480)
                mapped = [(*decode.landmark_box_from_detection(d, contract), d[4]) for d in dets]
                f, p, _ = match(mapped, boxes, iou_min)
                found, faces, fp = found + f, faces + len(boxes), fp + p
            rows.append((w, h, thr, found, faces, fp, len(frames)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description="measure the face detector")
    ap.add_argument("--model", default=SHIPPED, help="ONNX detector (its metadata gives the settings)")
    ap.add_argument("--labels", default=os.path.join(TESTS, "photos-faces.json"))
    ap.add_argument("--photos", default=TESTS)
    ap.add_argument("--sizes", default="", help="WxH list (default: the model's own size)")
    ap.add_argument("--thresholds", default="", help="score thresholds (default: the model's)")
    ap.add_argument("--iou", type=float, default=0.4, help="IoU for a labelled face to count as found")
    ap.add_argument("--landmarks", default="", help="keypoints data folder (with test/ and the CSV)")
    ap.add_argument("--limit", type=int, default=0, help="use at most this many landmark images")
    ap.add_argument("--synthetic", type=int, default=0,
                    help="also measure on this many synthetic 640x480 frames built from --landmarks")
    ap.add_argument("--save", default="", help="folder for overlay PNGs (green: labels, red: detections)")
    ap.add_argument("--json", default="", help="write the results as JSON here")
    args = ap.parse_args(argv)

    if os.path.exists(args.model):
        model = onnx.load(args.model)
    else:  # evaluate a fresh conversion when nothing is shipped yet
        model, _ = convert.build(os.path.join(HERE, "node_modules", convert.PACKAGE), 640, 480,
                                 convert.DEFAULT_SCORE_THRESHOLD, convert.DEFAULT_BOX_TO_LANDMARK)
    contract = decode.DetectorContract(decode.read_metadata(model))
    runner = OnnxRunner(model)  # fully convolutional: runs at any multiple of 32
    sizes = parse_sizes(args.sizes) or [(contract.width, contract.height)]
    thresholds = [float(t) for t in args.thresholds.split(",") if t] or [contract.score_threshold]
    labels = json.load(open(args.labels))
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    results = {"photos": [], "landmarks": None}
    t0 = time.time()
    rows = photos_table(runner, contract, labels, args.photos, sizes, thresholds, args.iou, args.save)
    print("photos (%s), match IoU >= %g" % (os.path.basename(args.labels), args.iou))
    print("%-9s %5s %8s %6s  %-48s %s" % ("input", "thr", "recall", "FP", "per photo", "mean IoU"))
    for w, h, thr, found, faces, fp, per, miou in rows:
        print("%-9s %5.2f %3d/%-3d %6d  %-48s %.2f" % ("%dx%d" % (w, h), thr, found, faces, fp,
                                                    ", ".join(per), miou))
        results["photos"].append({"width": w, "height": h, "threshold": thr, "found": found,
                                  "faces": faces, "false_positives": fp, "per_photo": per,
                                  "mean_iou": miou})
    print("(%.1f s)" % (time.time() - t0))
    if args.landmarks:
        rel, missed, n = landmark_relation(runner, contract, args.landmarks, args.limit, sizes[0],
                                              thresholds[0])
        mean, std = rel.mean(0), rel.std(0)
        print("\nlandmark box vs detection on %d test crops pasted into 640x480 (input %dx%d): "
              "%d without a detection" % (n, sizes[0][0], sizes[0][1], missed))
        for i, name in enumerate(("dx (/w)", "dy (/h)", "scale (lm side / max(w,h))", "IoU", "w/h")):
            print("  %-28s mean %+.4f  std %.4f  median %+.4f" % (name, mean[i], std[i], np.median(rel[:, i])))
        results["landmarks"] = {"images": n, "missed": missed, "dx": mean[0], "dy": mean[1],
                                "scale": mean[2], "std": std.tolist()}
    if args.synthetic and args.landmarks:
        rows = synthetic_table(runner, contract, args.landmarks, args.synthetic, sizes, thresholds,
                               args.iou)
        print("\nsynthetic frames (test-split crops x0.75-1.25, +-20 deg), estimated landmark box "
              "IoU >= %g" % args.iou)
        results["synthetic"] = []
        for w, h, thr, found, faces, fp, n in rows:
            print("%-9s %5.2f  recall %d/%d = %.3f  false positives %d in %d frames"
                  % ("%dx%d" % (w, h), thr, found, faces, found / max(faces, 1), fp, n))
            results["synthetic"].append({"width": w, "height": h, "threshold": thr, "found": found,
                                         "faces": faces, "false_positives": fp, "frames": n})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
