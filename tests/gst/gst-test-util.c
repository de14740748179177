#include "gst-test-util.h"

#include <math.h>
#include <string.h>
#include <gst/app/gstappsink.h>

guint8 *
test_decode_image_rgbx (const gchar *path, gint *width, gint *height)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
                                 "video/x-raw,format=RGBx ! appsink name=sink sync=false", path);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  g_free (desc);
  g_assert_no_error (error);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstSample *sample = gst_app_sink_pull_sample (GST_APP_SINK (sink));
  g_assert_nonnull (sample);
  GstVideoInfo info;
  g_assert_true (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  GstVideoFrame frame;
  g_assert_true (gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ));
  *width = GST_VIDEO_INFO_WIDTH (&info);
  *height = GST_VIDEO_INFO_HEIGHT (&info);
  guint8 *out = g_malloc ((gsize) *width * *height * 4);
  for (gint y = 0; y < *height; y++)
    memcpy (out + (gsize) y * *width * 4,
            (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
            (gsize) *width * 4);
  gst_video_frame_unmap (&frame);
  gst_sample_unref (sample);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return out;
}

TestFace *
test_faces_load (const gchar *data_dir, guint *n_faces)
{
  gchar *csv_path = g_build_filename (data_dir, "gst-faces.csv", NULL);
  gchar *text = NULL;
  GError *error = NULL;
  g_assert_true (g_file_get_contents (csv_path, &text, NULL, &error));
  g_assert_no_error (error);
  gchar **lines = g_strsplit (text, "\n", -1);
  GArray *faces = g_array_new (FALSE, TRUE, sizeof (TestFace));
  for (guint i = 1; lines[i]; i++) {     /* line 0: header */
    if (!*g_strstrip (lines[i]))
      continue;
    gchar **cells = g_strsplit (lines[i], ",", -1);
    g_assert_cmpuint (g_strv_length (cells), ==, 1 + 2 * FKP_FACE_N_POINTS);
    TestFace face = { 0 };
    face.name = g_strdup (cells[0]);
    for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
      face.points[p][0] = (float) g_ascii_strtod (cells[1 + 2 * p], NULL);
      face.points[p][1] = (float) g_ascii_strtod (cells[2 + 2 * p], NULL);
    }
    gchar *image = g_build_filename (data_dir, cells[0], NULL);
    face.rgbx = test_decode_image_rgbx (image, &face.width, &face.height);
    g_free (image);
    g_array_append_val (faces, face);
    g_strfreev (cells);
  }
  g_strfreev (lines);
  g_free (text);
  g_free (csv_path);
  *n_faces = faces->len;
  return (TestFace *) g_array_free (faces, FALSE);
}

void
test_faces_free (TestFace *faces, guint n_faces)
{
  for (guint i = 0; i < n_faces; i++) {
    g_free (faces[i].name);
    g_free (faces[i].rgbx);
  }
  g_free (faces);
}

TestCanvas *
test_canvas_new (gint width, gint height, guint8 gray)
{
  TestCanvas *c = g_new0 (TestCanvas, 1);
  c->width = width;
  c->height = height;
  c->rgbx = g_malloc ((gsize) width * height * 4);
  memset (c->rgbx, gray, (gsize) width * height * 4);
  return c;
}

void
test_canvas_free (TestCanvas *canvas)
{
  g_free (canvas->rgbx);
  g_free (canvas);
}

/* Bilinear resampling; pixel (i, j) covers [i, i+1) x [j, j+1), so canvas
 * pixel centre u maps to crop coordinate (u - x) / scale. */
void
test_canvas_paste (TestCanvas *c, const TestFace *face, double x, double y, double scale)
{
  g_assert_cmpuint (c->n_faces, <, G_N_ELEMENTS (c->points));
  gint x0 = (gint) floor (x), y0 = (gint) floor (y);
  gint x1 = (gint) ceil (x + face->width * scale), y1 = (gint) ceil (y + face->height * scale);
  for (gint v = MAX (y0, 0); v < MIN (y1, c->height); v++) {
    for (gint u = MAX (x0, 0); u < MIN (x1, c->width); u++) {
      double sx = (u + 0.5 - x) / scale - 0.5, sy = (v + 0.5 - y) / scale - 0.5;
      if (sx < -0.5 || sy < -0.5 || sx > face->width - 0.5 || sy > face->height - 0.5)
        continue;
      sx = CLAMP (sx, 0.0, face->width - 1.0);
      sy = CLAMP (sy, 0.0, face->height - 1.0);
      gint ix = MIN ((gint) sx, face->width - 2), iy = MIN ((gint) sy, face->height - 2);
      double fx = sx - ix, fy = sy - iy;
      const guint8 *p00 = face->rgbx + ((gsize) iy * face->width + ix) * 4;
      const guint8 *p01 = p00 + 4, *p10 = p00 + (gsize) face->width * 4, *p11 = p10 + 4;
      guint8 *dst = c->rgbx + ((gsize) v * c->width + u) * 4;
      for (int k = 0; k < 3; k++) {
        double val = (1 - fy) * ((1 - fx) * p00[k] + fx * p01[k]) + fy * ((1 - fx) * p10[k] + fx * p11[k]);
        dst[k] = (guint8) CLAMP (lround (val), 0, 255);
      }
    }
  }
  for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
    c->points[c->n_faces][p][0] = (float) (x + face->points[p][0] * scale);
    c->points[c->n_faces][p][1] = (float) (y + face->points[p][1] * scale);
  }
  c->n_faces++;
}

void
test_canvas_paste_height (TestCanvas *c, const TestFace *face, double x, double y, double height)
{
  test_canvas_paste (c, face, x, y, height / face->height);
}

GstCaps *
test_caps (GstVideoFormat format, gint width, gint height)
{
  return gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
      gst_video_format_to_string (format), "width", G_TYPE_INT, width, "height", G_TYPE_INT,
      height, "framerate", GST_TYPE_FRACTION, 30, 1, NULL);
}

GstBuffer *
test_canvas_to_buffer (const TestCanvas *c, GstVideoFormat format, GstClockTime pts,
                       GstClockTime duration)
{
  GstVideoInfo in_info, out_info;
  gst_video_info_set_format (&in_info, GST_VIDEO_FORMAT_RGBx, c->width, c->height);
  gst_video_info_set_format (&out_info, format, c->width, c->height);
  GstBuffer *in = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, c->rgbx,
      (gsize) c->width * c->height * 4, 0, (gsize) c->width * c->height * 4, NULL, NULL);
  GstBuffer *out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&out_info), NULL);
  GstVideoFrame in_frame, out_frame;
  g_assert_true (gst_video_frame_map (&in_frame, &in_info, in, GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&out_frame, &out_info, out, GST_MAP_WRITE));
  GstVideoConverter *conv = gst_video_converter_new (&in_info, &out_info, NULL);
  gst_video_converter_frame (conv, &in_frame, &out_frame);
  gst_video_converter_free (conv);
  gst_video_frame_unmap (&out_frame);
  gst_video_frame_unmap (&in_frame);
  gst_buffer_unref (in);
  GST_BUFFER_PTS (out) = pts;
  GST_BUFFER_DURATION (out) = duration;
  return out;
}

double
test_nme (const float (*predicted)[2], const float (*truth)[2])
{
  double sum = 0;
  for (int p = 0; p < FKP_FACE_N_POINTS; p++)
    sum += hypot (predicted[p][0] - truth[p][0], predicted[p][1] - truth[p][1]);
  double iod = hypot (truth[36][0] - truth[45][0], truth[36][1] - truth[45][1]);
  return sum / FKP_FACE_N_POINTS / iod;
}
