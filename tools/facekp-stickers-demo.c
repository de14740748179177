/* facekp-stickers-demo: draws a sticker pack on dataset face images using their
 * labelled landmarks, side by side, into one PNG (docs/images/stickers-*.png).
 *
 *   facekp-stickers-demo --pack default --csv test_frames_keypoints.csv \
 *       --images DIR --output out.png [--points] NAME.jpg...
 *
 * Each image is scaled to a common height and set on a margin, so stickers that
 * reach past the crop (a crown) stay visible.  --points adds a first row with
 * the landmarks drawn, to judge placement against them. */
#include "facekp/stickers.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  GdkPixbuf *pixbuf;
  float points[FKP_FACE_N_POINTS][2];
} Sample;

static gboolean
read_points (const char *csv, const char *name, float points[][2], GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (csv, &text, NULL, error))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_auto (GStrv) cells = g_strsplit (lines[i], ",", -1);
    if (g_strv_length (cells) != 1 + 2 * FKP_FACE_N_POINTS || strcmp (cells[0], name) != 0)
      continue;
    for (guint k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
      points[k / 2][k % 2] = (float) g_ascii_strtod (cells[1 + k], NULL);
    return TRUE;
  }
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: no row for %s", csv, name);
  return FALSE;
}

/* Pixbuf → Cairo surface without GTK: copy, premultiplying alpha. */
static cairo_surface_t *
surface_from_pixbuf (GdkPixbuf *pixbuf)
{
  int w = gdk_pixbuf_get_width (pixbuf), h = gdk_pixbuf_get_height (pixbuf);
  int channels = gdk_pixbuf_get_n_channels (pixbuf), in_stride = gdk_pixbuf_get_rowstride (pixbuf);
  const guint8 *in = gdk_pixbuf_read_pixels (pixbuf);
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  guint8 *out = cairo_image_surface_get_data (surface);
  int out_stride = cairo_image_surface_get_stride (surface);
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      const guint8 *p = in + y * in_stride + x * channels;
      guint32 a = channels == 4 ? p[3] : 255;
      guint32 r = p[0] * a / 255, g = p[1] * a / 255, b = p[2] * a / 255;
      ((guint32 *) (out + y * out_stride))[x] = (a << 24) | (r << 16) | (g << 8) | b;
    }
  }
  cairo_surface_mark_dirty (surface);
  return surface;
}

int
main (int argc, char **argv)
{
  g_autofree char *pack_name = NULL, *csv = NULL, *images = NULL, *output = NULL;
  gboolean with_points = FALSE;
  int tile_height = 300;
  double margin = 0.3;
  gint64 time_ms = 0;
  g_autofree char *expressions = NULL;
  GOptionEntry entries[] = {
    { "pack", 'p', 0, G_OPTION_ARG_STRING, &pack_name, "Pack name or .ini path", "PACK" },
    { "csv", 'c', 0, G_OPTION_ARG_FILENAME, &csv, "Landmark CSV (name, x0, y0, ...)", "CSV" },
    { "images", 'i', 0, G_OPTION_ARG_FILENAME, &images, "Folder of the images", "DIR" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "PNG to write", "PNG" },
    { "points", 0, 0, G_OPTION_ARG_NONE, &with_points, "Add a row with the landmarks", NULL },
    { "height", 0, 0, G_OPTION_ARG_INT, &tile_height, "Face image height in pixels", "PX" },
    { "time-ms", 0, 0, G_OPTION_ARG_INT64, &time_ms, "Time for animated stickers", "MS" },
    { "expressions", 0, 0, G_OPTION_ARG_STRING, &expressions,
      "Expressions held on every face for --time-ms (names, comma-separated), for triggered stickers", "LIST" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("IMAGE...");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || !pack_name || !csv ||
      !images || !output || argc < 2 || tile_height < 16) {
    g_printerr ("%s\n", error ? error->message : "usage: --pack --csv --images --output IMAGE...");
    return 2;
  }

  FkpStickerPack *pack = fkp_sticker_pack_open (pack_name, &error);
  if (!pack) {
    g_printerr ("%s\n", error->message);
    return 1;
  }

  guint n = argc - 1;
  Sample *samples = g_new0 (Sample, n);
  int pad_x = (int) (tile_height * margin * 0.5), pad_top = (int) (tile_height * margin);
  int pad_bottom = pad_x / 2;
  int total_width = 0, row_height = tile_height + pad_top + pad_bottom;
  for (guint i = 0; i < n; i++) {
    g_autofree char *path = g_build_filename (images, argv[i + 1], NULL);
    samples[i].pixbuf = gdk_pixbuf_new_from_file (path, &error);
    if (!samples[i].pixbuf || !read_points (csv, argv[i + 1], samples[i].points, &error)) {
      g_printerr ("%s\n", error->message);
      return 1;
    }
    double scale = (double) tile_height / gdk_pixbuf_get_height (samples[i].pixbuf);
    total_width += (int) ceil (gdk_pixbuf_get_width (samples[i].pixbuf) * scale) + 2 * pad_x;
  }

  int rows = with_points ? 2 : 1;
  cairo_surface_t *canvas =
      cairo_image_surface_create (CAIRO_FORMAT_ARGB32, total_width, rows * row_height);
  cairo_t *cr = cairo_create (canvas);
  cairo_set_source_rgb (cr, 0.93, 0.93, 0.95);
  cairo_paint (cr);

  for (int row = 0; row < rows; row++) {
    gboolean points_row = with_points && row == 0;
    int x = 0;
    for (guint i = 0; i < n; i++) {
      GdkPixbuf *pixbuf = samples[i].pixbuf;
      double scale = (double) tile_height / gdk_pixbuf_get_height (pixbuf);
      int w = (int) ceil (gdk_pixbuf_get_width (pixbuf) * scale);
      double ox = x + pad_x, oy = row * row_height + pad_top;

      cairo_surface_t *photo = surface_from_pixbuf (pixbuf);
      cairo_save (cr);
      cairo_translate (cr, ox, oy);
      cairo_scale (cr, scale, scale);
      cairo_set_source_surface (cr, photo, 0, 0);
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
      cairo_paint (cr);
      cairo_restore (cr);
      cairo_surface_destroy (photo);

      /* Landmarks in canvas pixels, as the element would hand them over. */
      FkpFace face = { .id = 1 };
      float x0 = G_MAXFLOAT, y0 = G_MAXFLOAT, x1 = -G_MAXFLOAT, y1 = -G_MAXFLOAT;
      for (guint k = 0; k < FKP_FACE_N_POINTS; k++) {
        face.points[k][0] = (float) (ox + samples[i].points[k][0] * scale);
        face.points[k][1] = (float) (oy + samples[i].points[k][1] * scale);
        x0 = MIN (x0, face.points[k][0]);
        y0 = MIN (y0, face.points[k][1]);
        x1 = MAX (x1, face.points[k][0]);
        y1 = MAX (y1, face.points[k][1]);
      }
      face.box = (FkpFaceBox) { x0, y0, x1 - x0, y1 - y0 };
      g_auto (GStrv) held = g_strsplit (expressions ? expressions : "", ",", -1);
      for (guint k = 0; k < FKP_FACE_MAX_EXPRESSIONS; k++)
        face.expression_held_ms[k] = FKP_EXPRESSION_NEVER;
      for (guint k = 0; held[k]; k++) {
        FkpExpression e;
        if (!fkp_expression_from_name (g_strstrip (held[k]), &e))
          continue;
        face.expression_states |= 1u << e;
        face.expression_held_ms[e] = (float) time_ms;
      }
      fkp_sticker_pack_render (pack, cr, &face, 1, (guint64) time_ms * 1000000u,
                               points_row ? FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES
                                          : FKP_STICKER_DRAW_STICKERS);
      x += w + 2 * pad_x;
    }
  }
  cairo_destroy (cr);
  cairo_status_t status = cairo_surface_write_to_png (canvas, output);
  cairo_surface_destroy (canvas);
  for (guint i = 0; i < n; i++)
    g_object_unref (samples[i].pixbuf);
  g_free (samples);
  fkp_sticker_pack_free (pack);
  if (status != CAIRO_STATUS_SUCCESS) {
    g_printerr ("%s: %s\n", output, cairo_status_to_string (status));
    return 1;
  }
  return 0;
}
