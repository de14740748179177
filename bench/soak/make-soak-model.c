/* Writes the soak run's landmark model (bench/soak/soak.py --model): a
 * landmark model by the model contract (docs/model-contract.md) whose
 * points do not depend on the pixels.  An 8x8 gray crop goes through one
 * Gemm with zero weights, so its bias is the 68 points: a drawn face
 * (jaw, brows, nose, eyes, mouth) in the crop's middle.  The element then
 * finds the same face on every frame, draws the stickers on it and exports
 * it, at a fraction of the shipped model's cost per frame, so that a soak of
 * 100,000 frames measures the element, not the network.
 *
 * Usage: make-soak-model OUTPUT.onnx */
#include "onnx-builder.h"

#include <math.h>
#include <stdio.h>
#include <facekp/face.h>

/* Points on an ellipse around (cx, cy), from angle a0 to a1 (radians), n of them. */
static void
ellipse (float *points, int first, int n, double cx, double cy, double rx, double ry,
         double a0, double a1, gboolean closed)
{
  for (int i = 0; i < n; i++) {
    double t = closed ? (double) i / n : (double) i / (n - 1);
    double a = a0 + (a1 - a0) * t;
    points[2 * (first + i)] = (float) (cx + rx * cos (a));
    points[2 * (first + i) + 1] = (float) (cy + ry * sin (a));
  }
}

static void
line (float *points, int first, int n, double x0, double y0, double x1, double y1)
{
  for (int i = 0; i < n; i++) {
    double t = (double) i / (n - 1);
    points[2 * (first + i)] = (float) (x0 + (x1 - x0) * t);
    points[2 * (first + i) + 1] = (float) (y0 + (y1 - y0) * t);
  }
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s OUTPUT.onnx\n", argv[0]);
    return 2;
  }
  /* The 68 points (iBUG order) in crop coordinates, 0..1. */
  float face[2 * FKP_FACE_N_POINTS];
  ellipse (face, 0, 17, 0.5, 0.45, 0.36, 0.42, G_PI, 0.0, FALSE);        /* jaw, left to right */
  line (face, 17, 5, 0.22, 0.30, 0.43, 0.28);                            /* brows */
  line (face, 22, 5, 0.57, 0.28, 0.78, 0.30);
  line (face, 27, 4, 0.50, 0.36, 0.50, 0.54);                            /* nose bridge */
  line (face, 31, 5, 0.43, 0.58, 0.57, 0.58);                            /* nostrils */
  ellipse (face, 36, 6, 0.33, 0.40, 0.07, 0.03, G_PI, 3 * G_PI, TRUE);   /* eyes */
  ellipse (face, 42, 6, 0.67, 0.40, 0.07, 0.03, G_PI, 3 * G_PI, TRUE);
  ellipse (face, 48, 12, 0.50, 0.74, 0.15, 0.06, G_PI, 3 * G_PI, TRUE);  /* lips */
  ellipse (face, 60, 8, 0.50, 0.74, 0.10, 0.025, G_PI, 3 * G_PI, TRUE);

  static float zeros[2 * FKP_FACE_N_POINTS * 64];
  Builder *b = builder_new (13);
  builder_input (b, "image", 4, (int64_t[]) { 1, 1, 8, 8 });
  builder_init_float (b, "fc", 2, (int64_t[]) { 2 * FKP_FACE_N_POINTS, 64 }, zeros);
  builder_init_float (b, "fc_bias", 1, (int64_t[]) { 2 * FKP_FACE_N_POINTS }, face);
  builder_node (b, "Flatten", "flatten", IN ("image"), OUT ("f"));
  Onnx__NodeProto *n = builder_node (b, "Gemm", "fc", IN ("f", "fc", "fc_bias"), OUT ("points"));
  node_int (b, n, "transB", 1);
  builder_output (b, "points");
  builder_metadata (b, "facekp.task", "landmarks68");
  builder_metadata (b, "facekp.input.size", "8");
  builder_metadata (b, "facekp.crop.points_scale", "1.5");
  builder_metadata (b, "facekp.crop.refine", "0");
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  builder_free (b);
  GError *error = NULL;
  gboolean ok = g_file_set_contents (argv[1], (const char *) buf, (gssize) len, &error);
  g_free (buf);
  if (!ok) {
    fprintf (stderr, "%s\n", error->message);
    g_error_free (error);
    return 1;
  }
  return 0;
}
