#!/usr/bin/python3
"""Draws the two diagrams of docs/architecture.md as SVG (no dependencies):

    /usr/bin/python3 docs/images/draw_architecture.py    # writes docs/images/architecture-*.svg
"""
import os
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"

# Fill colours by kind of box.
COLOURS = {
    "app": "#e8eef7",
    "gst": "#d7e8d0",
    "lib": "#fbe9c9",
    "nn": "#f6d5cf",
    "data": "#e6e1f2",
    "out": "#ffffff",
}


class Svg:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.parts = []

    def box(self, x, y, w, h, title, lines=(), kind="lib", title_size=15):
        self.parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='8' "
                          f"fill='{COLOURS[kind]}' stroke='#555' stroke-width='1.2'/>")
        total = 1 + len(lines)
        line_height = 17
        top = y + h / 2 - (total - 1) * line_height / 2 + 5
        self.parts.append(f"<text x='{x + w / 2}' y='{top}' text-anchor='middle' {FONT} "
                          f"font-size='{title_size}' font-weight='bold'>{escape(title)}</text>")
        for i, line in enumerate(lines):
            self.parts.append(f"<text x='{x + w / 2}' y='{top + (i + 1) * line_height}' "
                              f"text-anchor='middle' {FONT} font-size='12.5' fill='#333'>"
                              f"{escape(line)}</text>")

    def arrow(self, x1, y1, x2, y2, label=None, dashed=False, label_dx=6):
        dash = " stroke-dasharray='5,4'" if dashed else ""
        self.parts.append(f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='#333' "
                          f"stroke-width='1.5' marker-end='url(#head)'{dash}/>")
        if label:
            self.parts.append(f"<text x='{(x1 + x2) / 2 + label_dx}' y='{(y1 + y2) / 2 + 4}' {FONT} "
                              f"font-size='11.5' fill='#444'>{escape(label)}</text>")

    def text(self, x, y, content, size=13, anchor="start", weight="normal"):
        self.parts.append(f"<text x='{x}' y='{y}' text-anchor='{anchor}' {FONT} font-size='{size}' "
                          f"font-weight='{weight}'>{escape(content)}</text>")

    def save(self, name):
        head = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}'>\n"
                "<defs><marker id='head' markerWidth='10' markerHeight='8' refX='9' refY='4' "
                "orient='auto'><path d='M0,0 L10,4 L0,8 z' fill='#333'/></marker></defs>\n"
                f"<rect width='{self.width}' height='{self.height}' fill='white'/>\n")
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as out:
            out.write(head + "\n".join(self.parts) + "\n</svg>\n")


def layers():
    s = Svg(860, 560)
    s.text(430, 28, "facekp: layers (each uses only the ones below it)", 16, "middle", "bold")
    s.box(40, 50, 780, 64, "Applications",
          ["gst-launch-1.0 pipelines · apps reading meta / bus messages / JSON lines · examples/"], "app")
    s.box(40, 140, 780, 80, "gst-plugin/  —  plugin facekp, element facekpfilter",
          ["GstVideoFilter in place · properties · QoS · bus messages · JSON-lines export · overlay",
           "libfacekp-gst-meta: GstFaceLandmarksMeta (public header, pkg-config facekp-gst-meta)"], "gst")
    s.box(40, 246, 470, 96, "libfacekp-face  (face/)",
          ["face sources: detect / upstream / full-frame", "contract crop · landmarks · tracking · One-Euro",
           "plain C, no GStreamer"], "lib")
    s.box(530, 246, 290, 96, "libfacekp-stickers  (stickers/)",
          ["GKeyFile packs · PNG (Cairo) / SVG (librsvg)", "anchored on the 68 points, cached rasters"], "lib")
    s.box(40, 368, 470, 80, "libfacekp-nn  (nn-core/)",
          ["ONNX via protobuf-c · shapes and memory planned at load", "conv on OpenBLAS sgemm · knows nothing of faces"],
          "nn")
    s.box(530, 368, 290, 80, "Cairo · librsvg · GLib", ["(Debian libraries)"], "out")
    s.box(40, 474, 470, 66, "models/  —  ONNX files + contract in metadata_props",
          ["facekp-landmarks68.onnx · face-detector.onnx"], "data")
    s.box(530, 474, 290, 66, "training/  (PyTorch, CPU)", ["trains, evaluates, exports"], "data")
    s.arrow(430, 114, 430, 140)
    s.arrow(275, 220, 275, 246)
    s.arrow(675, 220, 675, 246)
    s.arrow(275, 342, 275, 368)
    s.arrow(675, 342, 675, 368)
    s.arrow(275, 448, 275, 474, "loads", dashed=True, label_dx=10)
    s.arrow(530, 507, 512, 507)
    s.save("architecture-layers.svg")


def frame_flow():
    s = Svg(900, 720)
    s.text(450, 28, "One frame through facekpfilter (streaming thread)", 16, "middle", "bold")
    s.box(300, 46, 300, 48, "raw video buffer in", ["any of 18 formats, any size"], "app", 14)
    s.box(300, 118, 300, 56, "apply pending property changes",
          ["new model / pack / export take effect here"], "gst", 14)
    s.box(260, 198, 380, 56, "luma / RGB view of the frame",
          ["Y plane as is; packed YUV gathered; RGB per sample"], "gst", 14)
    # Face sources.
    s.box(30, 280, 250, 72, "detect", ["CNN detector (nn-core) when no", "tracks, every N frames, or lost"], "lib", 14)
    s.box(325, 280, 250, 72, "tracking", ["crop from each track's", "previous-frame points"], "lib", 14)
    s.box(620, 280, 250, 72, "upstream / full-frame", ["face ROI metas on the buffer,", "or the whole frame"], "lib", 14)
    s.box(200, 380, 500, 56, "crop per face (model contract)",
          ["affine warp, bilinear, supersampled when shrinking"], "lib", 14)
    s.box(200, 460, 500, 56, "landmark network (nn-core)",
          ["68 points → frame pixels; refine once after a box crop"], "nn", 14)
    s.box(200, 540, 500, 56, "tracks: ids, lost / jumped, max-faces · One-Euro smoothing",
          [], "lib", 14)
    s.box(20, 628, 200, 72, "GstFaceLandmarksMeta", ["+ ROI meta \"face\"", "on the buffer"], "gst", 13)
    s.box(235, 628, 200, 72, "bus message", ["\"facekp\": per frame", "or on change"], "gst", 13)
    s.box(450, 628, 200, 72, "JSON line", ["export-location,", "flushed per frame"], "gst", 13)
    s.box(665, 628, 215, 72, "stickers (Cairo)", ["overlay composition: meta", "downstream, or blended"], "gst", 13)
    s.arrow(450, 94, 450, 118)
    s.arrow(450, 174, 450, 198)
    s.arrow(380, 254, 155, 280)
    s.arrow(450, 254, 450, 280)
    s.arrow(520, 254, 745, 280)
    s.arrow(155, 352, 330, 380, "boxes", label_dx=-60)
    s.arrow(450, 352, 450, 380, "points")
    s.arrow(745, 352, 570, 380, "boxes")
    s.arrow(450, 436, 450, 460)
    s.arrow(450, 516, 450, 540)
    s.arrow(330, 596, 120, 628)
    s.arrow(400, 596, 335, 628)
    s.arrow(500, 596, 550, 628)
    s.arrow(570, 596, 772, 628)
    s.save("architecture-frame.svg")


if __name__ == "__main__":
    layers()
    frame_flow()
