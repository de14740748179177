/* Helpers shared by the sticker tests: dataset faces, temporary packs,
 * pixels, and the golden-image comparison with its tolerances. */
#include "stickers-test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reads the landmark rows of tests/data/stickers-faces.csv. */
guint
load_faces (FkpFace *faces, guint max)
{
  g_autofree char *path = g_build_filename (g_getenv ("FACEKP_TEST_DATA"), "stickers-faces.csv", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;
  for (guint i = 1; lines[i] && n < max; i++) {
    g_auto (GStrv) cells = g_strsplit (lines[i], ",", -1);
    if (g_strv_length (cells) != 1 + 2 * FKP_FACE_N_POINTS)
      continue;
    FkpFace *face = &faces[n];
    memset (face, 0, sizeof *face);
    face->id = n + 1;
    float x0 = G_MAXFLOAT, y0 = G_MAXFLOAT, x1 = -G_MAXFLOAT, y1 = -G_MAXFLOAT;
    for (guint k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
      face->points[k / 2][k % 2] = (float) g_ascii_strtod (cells[1 + k], NULL);
    for (guint k = 0; k < FKP_FACE_N_POINTS; k++) {
      x0 = MIN (x0, face->points[k][0]);
      y0 = MIN (y0, face->points[k][1]);
      x1 = MAX (x1, face->points[k][0]);
      y1 = MAX (y1, face->points[k][1]);
    }
    face->box.x = x0, face->box.y = y0, face->box.width = x1 - x0, face->box.height = y1 - y0;
    n++;
  }
  g_assert_cmpuint (n, ==, max);
  return n;
}

/* Scales, turns (radians, about the origin) and moves a face. */
void
transform_face (FkpFace *face, double scale, double angle, double dx, double dy)
{
  double c = cos (angle), s = sin (angle);
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++) {
    double x = face->points[k][0] * scale, y = face->points[k][1] * scale;
    face->points[k][0] = (float) (c * x - s * y + dx);
    face->points[k][1] = (float) (s * x + c * y + dy);
  }
  face->box.x = (float) (face->box.x * scale + dx);
  face->box.y = (float) (face->box.y * scale + dy);
  face->box.width *= (float) scale;
  face->box.height *= (float) scale;
}


void
temp_dir_setup (TempDir *t, gconstpointer data)
{
  (void) data;
  t->dir = g_dir_make_tmp ("facekp-stickers-XXXXXX", NULL);
  g_assert_nonnull (t->dir);
}

void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *child = g_build_filename (path, name, NULL);
    if (g_file_test (child, G_FILE_TEST_IS_DIR))
      remove_tree (child);
    else
      g_unlink (child);
  }
  g_rmdir (path);
}

void
temp_dir_teardown (TempDir *t, gconstpointer data)
{
  (void) data;
  remove_tree (t->dir);
  g_free (t->dir);
}

char *
write_file (const char *dir, const char *name, const char *contents, gssize length)
{
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, contents, length, NULL));
  return path;
}

/* A solid-colour PNG of the given size (opaque red unless given otherwise). */
void
write_png (const char *dir, const char *name, int width, int height, double r, double g, double b)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create (s);
  cairo_set_source_rgb (cr, r, g, b);
  cairo_paint (cr);
  cairo_destroy (cr);
  g_assert_cmpint (cairo_surface_write_to_png (s, path), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
}

const char *const small_svg =
    "<svg xmlns='http://www.w3.org/2000/svg' width='60' height='30' viewBox='0 0 60 30'>"
    "<rect width='60' height='30' fill='#00ff00'/></svg>";

/* Writes pack.ini = [pack] header + @stickers, plus red.png (40x20) and green.svg (60x30). */
char *
write_pack (const char *dir, const char *stickers)
{
  write_png (dir, "red.png", 40, 20, 1, 0, 0);
  g_free (write_file (dir, "green.svg", small_svg, -1));
  g_autofree char *text = g_strdup_printf ("[pack]\nname=test\nversion=1\n\n%s", stickers);
  return write_file (dir, "pack.ini", text, -1);
}

FkpStickerPack *
load_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pack);
  return pack;
}

guint32
pixel (cairo_surface_t *s, int x, int y)
{
  cairo_surface_flush (s);
  const guint8 *data = cairo_image_surface_get_data (s);
  return ((const guint32 *) (data + y * cairo_image_surface_get_stride (s)))[x];
}


cairo_surface_t *
render_surface (FkpStickerPack *pack, const FkpFace *faces, guint n, int w, int h,
                guint64 t_ns, FkpStickerDrawFlags flags)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create (s);
  fkp_sticker_pack_render (pack, cr, faces, n, t_ns, flags);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_flush (s);
  return s;
}

gboolean
surface_blank (cairo_surface_t *s)
{
  int w = cairo_image_surface_get_width (s), h = cairo_image_surface_get_height (s);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      if (pixel (s, x, y) != 0)
        return FALSE;
  return TRUE;
}


Difference
compare_surfaces (cairo_surface_t *a, cairo_surface_t *b)
{
  Difference d = { 0 };
  int w = cairo_image_surface_get_width (a), h = cairo_image_surface_get_height (a);
  g_assert_cmpint (w, ==, cairo_image_surface_get_width (b));
  g_assert_cmpint (h, ==, cairo_image_surface_get_height (b));
  double sum = 0;
  guint changed = 0;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      guint32 p = pixel (a, x, y), q = pixel (b, x, y);
      if (p == 0 && q == 0)
        continue;   /* blank in both: says nothing about the stickers */
      d.inked++;
      int worst = 0;
      for (int c = 0; c < 32; c += 8) {
        int diff = abs ((int) ((p >> c) & 0xff) - (int) ((q >> c) & 0xff));
        sum += diff;
        worst = MAX (worst, diff);
      }
      changed += worst > 48;
    }
  }
  d.mean_abs = d.inked ? sum / (4.0 * d.inked) : 0;
  d.changed_fraction = d.inked ? (double) changed / d.inked : 0;
  return d;
}


gboolean
within_tolerance (const Difference *d)
{
  return d->mean_abs <= GOLDEN_MAX_MEAN_ABS && d->changed_fraction <= GOLDEN_MAX_CHANGED;
}

cairo_surface_t *
load_golden (const char *name)
{
  g_autofree char *path = g_build_filename (g_getenv ("FACEKP_TEST_GOLDEN"), name, NULL);
  cairo_surface_t *s = cairo_image_surface_create_from_png (path);
  if (cairo_surface_status (s) != CAIRO_STATUS_SUCCESS)
    g_error ("cannot read golden image %s (FACEKP_UPDATE_GOLDEN=1 makes it)", path);
  return s;
}

