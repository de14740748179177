#include "face-test-util.h"

#include <string.h>

char *
test_data_path (const char *name)
{
  return g_build_filename (FACE_TEST_DATA_DIR, name, NULL);
}

FkpFaceFrame
test_load_png (const char *path, cairo_surface_t **surface)
{
  cairo_surface_t *s = cairo_image_surface_create_from_png (path);
  if (cairo_surface_status (s) != CAIRO_STATUS_SUCCESS)
    g_error ("cannot read %s: %s", path, cairo_status_to_string (cairo_surface_status (s)));
  g_assert_cmpint (cairo_image_surface_get_format (s), ==, CAIRO_FORMAT_RGB24);
  *surface = s;
  /* Cairo's RGB24 is a native-endian 32-bit xRGB word: B, G, R, x in memory on little endian. */
  return (FkpFaceFrame) {
    .width = cairo_image_surface_get_width (s),
    .height = cairo_image_surface_get_height (s),
    .format = G_BYTE_ORDER == G_LITTLE_ENDIAN ? FKP_FACE_FORMAT_BGRx : FKP_FACE_FORMAT_xRGB,
    .data = cairo_image_surface_get_data (s),
    .stride = cairo_image_surface_get_stride (s),
    .timestamp_ns = FKP_FACE_TIMESTAMP_NONE,
  };
}

GArray *
test_load_labels (const char *csv_name)
{
  char *csv = test_data_path (csv_name);
  char *text = NULL;
  GError *error = NULL;
  if (!g_file_get_contents (csv, &text, NULL, &error))
    g_error ("%s", error->message);
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (TestLabels));
  char **lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i]; i++) {
    if (*g_strstrip (lines[i]) == '\0')
      continue;
    char **cells = g_strsplit (lines[i], ",", -1);
    g_assert_cmpuint (g_strv_length (cells), ==, 1 + 2 * FKP_FACE_N_POINTS);
    TestLabels row;
    memset (&row, 0, sizeof row);
    row.name = g_strdup (cells[0]);
    for (int k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
      row.points[k / 2][k % 2] = (float) g_ascii_strtod (cells[k + 1], NULL);
    g_strfreev (cells);
    g_array_append_val (rows, row);
  }
  g_strfreev (lines);
  g_free (text);
  g_free (csv);
  return rows;
}

void
test_free_labels (GArray *rows)
{
  for (guint i = 0; i < rows->len; i++)
    g_free (g_array_index (rows, TestLabels, i).name);
  g_array_free (rows, TRUE);
}

GArray *
test_load_crops (void)
{
  GArray *labels = test_load_labels ("face-crops.csv");
  GArray *crops = g_array_new (FALSE, TRUE, sizeof (TestCrop));
  for (guint i = 0; i < labels->len; i++) {
    const TestLabels *row = &g_array_index (labels, TestLabels, i);
    TestCrop c;
    memset (&c, 0, sizeof c);
    c.name = g_strdup (row->name);
    memcpy (c.face.points, row->points, sizeof c.face.points);
    char *png = test_data_path (c.name);
    c.face.image = test_load_png (png, &c.surface);
    g_free (png);
    g_array_append_val (crops, c);
  }
  test_free_labels (labels);
  g_assert_cmpuint (crops->len, >=, 4);
  return crops;
}

void
test_free_crops (GArray *crops)
{
  for (guint i = 0; i < crops->len; i++) {
    TestCrop *c = &g_array_index (crops, TestCrop, i);
    g_free (c->name);
    cairo_surface_destroy (c->surface);
  }
  g_array_free (crops, TRUE);
}
