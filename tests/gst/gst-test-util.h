/* Helpers shared by the facekp GStreamer tests: dataset faces with their
 * ground-truth landmarks, canvases with faces pasted at known places, frames
 * in any raw format, and NME. */
#ifndef FACEKP_GST_TEST_UTIL_H
#define FACEKP_GST_TEST_UTIL_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include <facekp/face-types.h>

typedef struct {
  gchar *name;
  gint width, height;
  guint8 *rgbx;                 /* width * height * 4 */
  float points[FKP_FACE_N_POINTS][2];
} TestFace;

typedef struct {
  gint width, height;
  guint8 *rgbx;
  guint n_faces;
  float points[16][FKP_FACE_N_POINTS][2];   /* ground truth of each pasted face */
} TestCanvas;

/* Loads the gst-*.jpg crops listed in tests/data/gst-faces.csv (n_faces out). */
TestFace *test_faces_load (const gchar *data_dir, guint *n_faces);
void test_faces_free (TestFace *faces, guint n_faces);

/* Decodes any image file GStreamer reads into RGBx. */
guint8 *test_decode_image_rgbx (const gchar *path, gint *width, gint *height);

TestCanvas *test_canvas_new (gint width, gint height, guint8 gray);
/* Pastes @face scaled by @scale with its top-left corner at (x, y). */
void test_canvas_paste (TestCanvas *canvas, const TestFace *face, double x, double y,
                        double scale);
/* The same, scaled so that the crop is @height pixels tall. */
void test_canvas_paste_height (TestCanvas *canvas, const TestFace *face, double x, double y,
                               double height);
void test_canvas_free (TestCanvas *canvas);

/* A frame of @canvas converted to @format, with PTS/duration set. */
GstBuffer *test_canvas_to_buffer (const TestCanvas *canvas, GstVideoFormat format,
                                  GstClockTime pts, GstClockTime duration);
GstCaps *test_caps (GstVideoFormat format, gint width, gint height);

/* Mean point distance over the inter-ocular distance (points 36, 45) of @truth. */
double test_nme (const float (*predicted)[2], const float (*truth)[2]);

#endif
