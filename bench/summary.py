#!/usr/bin/python3
"""Issue #18's targets against one run of bench/run.sh: nn-core's median at most
0.9x ONNX Runtime's on every shipped model at 1 and 2 threads; facekpfilter at
640x480 with stickers=default, one face at 120 fps with p95 frame time at most
1.5x the median, four faces at 40 fps.

The element targets were set on a machine where ONNX Runtime runs the 112^2
landmark model in 4.45 ms and the detector in 5.1 ms (2 threads, Intel Xeon
family 6 model 207): the work of a frame done by ORT alone would take
N x 4.45 + 5.1 / 10 ms (detect-interval 10), 201 fps for one face and 54.6 for
four, so the targets are 0.60 and 0.73 of that estimate.  A slower machine gets
the same shares of its own estimate, from ORT's times in the same run.

Usage: summary.py NN.json GST.json"""
import json
import sys

SHARE = {1: 120 / (1000 / (4.45 + 5.1 / 10)), 4: 40 / (1000 / (4 * 4.45 + 5.1 / 10))}
DETECT_INTERVAL = 10


def main():
    nn = json.load(open(sys.argv[1]))
    gst = json.load(open(sys.argv[2]))
    print(f"targets on {nn['cpu']} ({' '.join(nn['simd_flags'])})")
    print("| target | measured | verdict |")
    print("|---|---|---|")
    ort = {}
    for row in nn["rows"]:
        ort[(row["model"], row["threads"])] = row["ort_median_ms"]
        ok = row["ratio"] <= 0.9
        print(f"| {row['model']}, {row['threads']} thread(s): nn-core/ORT <= 0.90 "
              f"| {row['ratio']:.3f} ({row['nn_median_ms']:.2f} / {row['ort_median_ms']:.2f} ms) "
              f"| {'met' if ok else 'NOT met'} |")
    landmark = next((v for (m, t), v in ort.items() if "160" not in m and "detector" not in m
                     and t == 2), None)
    detector = next((v for (m, t), v in ort.items() if "detector" in m and t == 2), None)
    for faces, share in sorted(SHARE.items()):
        row = next((r for r in gst if r["size"] == "640x480" and r["faces"] == faces
                    and r["pipeline"].startswith("facekpfilter, stickers=default")), None)
        if row is None or landmark is None or detector is None:
            continue
        estimate = 1000 / (faces * landmark + detector / DETECT_INTERVAL)
        target = share * estimate
        ok = row["fps"] >= target
        line = (f"| 640x480, {faces} face(s), stickers: fps >= {target:.1f} "
                f"({share:.2f} x ORT estimate {estimate:.1f}) | {row['fps']:.1f} fps")
        if faces == 1 and row.get("element_p95_ms"):
            spread = row["element_p95_ms"] / row["element_median_ms"]
            ok = ok and spread <= 1.5
            line += f", p95/median {spread:.2f}"
        print(f"{line} | {'met' if ok else 'NOT met'} |")


if __name__ == "__main__":
    main()
