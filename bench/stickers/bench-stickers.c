/* bench-stickers: cost of drawing a sticker pack on one face in a 1920x1080
 * ARGB32 frame — the first frame (images rasterised) and the steady state
 * (cached rasters) — against a peer that draws the same SVGs straight through
 * librsvg on every frame (no cache), and against the 2 ms per face budget.
 *
 *   bench-stickers [--pack default] [--frames 300] LANDMARKS.csv
 *
 * The face is a real landmark set from LANDMARKS.csv scaled to several sizes;
 * each frame jitters it by up to a pixel and 1 % in size, and advances time by
 * 33 ms, as a tracked face in a 30 fps video would. */
#include "facekp/stickers.h"

#include <librsvg/rsvg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_W 1920
#define FRAME_H 1080
#define BUDGET_MS 2.0

/* CPU time of this thread: the machine this runs on is shared, and wall time
 * there mostly measures the other jobs.  FACEKP_BENCH_WALL=1 measures wall time. */
static double
now_ms (void)
{
  static int wall = -1;
  if (wall < 0)
    wall = g_strcmp0 (g_getenv ("FACEKP_BENCH_WALL"), "1") == 0;
  struct timespec ts;
  clock_gettime (wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof *v, compare_doubles);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static gboolean
read_first_face (const char *csv, FkpFace *face, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (csv, &text, NULL, error))
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_auto (GStrv) cells = g_strsplit (lines[i], ",", -1);
    if (g_strv_length (cells) != 1 + 2 * FKP_FACE_N_POINTS || !g_ascii_isalpha (cells[0][0]))
      continue;
    memset (face, 0, sizeof *face);
    face->id = 1;
    for (guint k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
      face->points[k / 2][k % 2] = (float) g_ascii_strtod (cells[1 + k], NULL);
    return TRUE;
  }
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: no landmark row", csv);
  return FALSE;
}

/* @base moved so its face width (points 0-16) is @width px, centred in the frame,
 * then jittered. */
static void
place_face (const FkpFace *base, double width, double jitter_px, double jitter_scale,
            GRand *rng, FkpFace *out)
{
  double cx = 0, cy = 0;
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++)
    cx += base->points[k][0], cy += base->points[k][1];
  cx /= FKP_FACE_N_POINTS, cy /= FKP_FACE_N_POINTS;
  double fw = hypot (base->points[16][0] - base->points[0][0], base->points[16][1] - base->points[0][1]);
  double scale = width / fw * (1 + g_rand_double_range (rng, -jitter_scale, jitter_scale));
  double dx = FRAME_W / 2.0 + g_rand_double_range (rng, -jitter_px, jitter_px);
  double dy = FRAME_H / 2.0 + g_rand_double_range (rng, -jitter_px, jitter_px);
  *out = *base;
  float x0 = G_MAXFLOAT, y0 = G_MAXFLOAT, x1 = -G_MAXFLOAT, y1 = -G_MAXFLOAT;
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++) {
    out->points[k][0] = (float) ((base->points[k][0] - cx) * scale + dx);
    out->points[k][1] = (float) ((base->points[k][1] - cy) * scale + dy);
    x0 = MIN (x0, out->points[k][0]), y0 = MIN (y0, out->points[k][1]);
    x1 = MAX (x1, out->points[k][0]), y1 = MAX (y1, out->points[k][1]);
  }
  out->box = (FkpFaceBox) { x0, y0, x1 - x0, y1 - y0 };
}

/* The peer: each sticker's SVG drawn by librsvg at its placement, every frame. */
typedef struct {
  RsvgHandle **handles;   /* per sticker, its first image; NULL for PNG stickers */
  guint n;
} Peer;

static gboolean
peer_init (Peer *peer, const FkpStickerPack *pack, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_file (kf, fkp_sticker_pack_get_path (pack), G_KEY_FILE_NONE, error))
    return FALSE;
  g_autofree char *dir = g_path_get_dirname (fkp_sticker_pack_get_path (pack));
  peer->n = fkp_sticker_pack_get_n_stickers (pack);
  peer->handles = g_new0 (RsvgHandle *, peer->n);
  for (guint i = 0; i < peer->n; i++) {
    g_autofree char *group = g_strconcat ("sticker ", fkp_sticker_pack_get_sticker_name (pack, i), NULL);
    g_autofree char *image = g_key_file_get_string (kf, group, "image", NULL);
    if (!image) {
      g_autofree char *images = g_key_file_get_string (kf, group, "images", NULL);
      g_auto (GStrv) list = g_strsplit_set (images ? images : "", ";,", 2);
      image = g_strdup (g_strstrip (list[0] ? list[0] : ""));
    }
    if (!g_str_has_suffix (image, ".svg"))
      continue;
    g_autofree char *path = g_build_filename (dir, image, NULL);
    peer->handles[i] = rsvg_handle_new_from_file (path, error);
    if (!peer->handles[i])
      return FALSE;
  }
  return TRUE;
}

static void
peer_render (const Peer *peer, const FkpStickerPack *pack, cairo_t *cr, const FkpFace *face)
{
  for (guint i = 0; i < peer->n; i++) {
    FkpStickerPlacement p;
    if (!peer->handles[i] || !fkp_sticker_pack_place (pack, i, face, &p))
      continue;
    cairo_save (cr);
    cairo_translate (cr, p.centre[0], p.centre[1]);
    cairo_rotate (cr, p.angle);
    RsvgRectangle viewport = { -0.5 * p.width, -0.5 * p.height, p.width, p.height };
    if (p.opacity < 1)
      cairo_push_group (cr);
    rsvg_handle_render_document (peer->handles[i], cr, &viewport, NULL);
    if (p.opacity < 1) {
      cairo_pop_group_to_source (cr);
      cairo_paint_with_alpha (cr, p.opacity);
    }
    cairo_restore (cr);
  }
}

static void
clear (cairo_surface_t *frame)
{
  cairo_surface_flush (frame);
  memset (cairo_image_surface_get_data (frame), 0,
          (size_t) cairo_image_surface_get_stride (frame) * cairo_image_surface_get_height (frame));
  cairo_surface_mark_dirty (frame);
}

int
main (int argc, char **argv)
{
  g_autofree char *pack_name = g_strdup ("default");
  int frames = 300;
  GOptionEntry entries[] = {
    { "pack", 'p', 0, G_OPTION_ARG_STRING, &pack_name, "Pack name or .ini path", "PACK" },
    { "frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Steady-state frames per size", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("LANDMARKS.csv");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc != 2 || frames < 10) {
    g_printerr ("%s\n", error ? error->message : "usage: bench-stickers [--pack P] [--frames N] LANDMARKS.csv");
    return 2;
  }
  FkpFace base;
  if (!read_first_face (argv[1], &base, &error)) {
    g_printerr ("%s\n", error->message);
    return 1;
  }

  cairo_surface_t *frame = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, FRAME_W, FRAME_H);
  const double widths[] = { 200, 400, 700 };
  double *steady = g_new (double, frames), *overlay = g_new (double, frames);
  double *peer_ms = g_new (double, frames), *via_cairo = g_new (double, frames);
  g_print ("stickers bench: pack %s, one face in a %dx%d ARGB32 frame, %d frames per size, "
           "%s time\n", pack_name, FRAME_W, FRAME_H, frames,
           g_strcmp0 (g_getenv ("FACEKP_BENCH_WALL"), "1") == 0 ? "wall" : "thread CPU");
  g_print ("%-10s %9s %10s %11s %10s %9s %12s %11s\n", "face-width", "first-ms", "steady-ms",
           "overlay-ms", "cairo-ms", "peer-ms", "steady/peer", "steady/2ms");

  for (guint w = 0; w < G_N_ELEMENTS (widths); w++) {
    GRand *rng = g_rand_new_with_seed (42 + w);
    FkpFace face;

    /* First frame: a freshly loaded pack, so every raster is made now. */
    FkpStickerPack *pack = fkp_sticker_pack_open (pack_name, &error);
    if (!pack) {
      g_printerr ("%s\n", error->message);
      return 1;
    }
    place_face (&base, widths[w], 0, 0, rng, &face);
    cairo_t *cr = cairo_create (frame);
    clear (frame);
    double t0 = now_ms ();
    fkp_sticker_pack_render (pack, cr, &face, 1, 0, FKP_STICKER_DRAW_STICKERS);
    cairo_surface_flush (frame);
    double first = now_ms () - t0;

    /* Steady state on the full frame. */
    for (int i = 0; i < frames; i++) {
      place_face (&base, widths[w], 1.0, 0.01, rng, &face);
      clear (frame);
      guint64 t_ns = (guint64) i * 33333333u;
      t0 = now_ms ();
      fkp_sticker_pack_render (pack, cr, &face, 1, t_ns, FKP_STICKER_DRAW_STICKERS);
      cairo_surface_flush (frame);
      steady[i] = now_ms () - t0;
    }
    cairo_destroy (cr);

    /* Steady state as the element would do it: only the extents, in their own surface. */
    for (int i = 0; i < frames; i++) {
      place_face (&base, widths[w], 1.0, 0.01, rng, &face);
      guint64 t_ns = (guint64) i * 33333333u;
      t0 = now_ms ();
      cairo_rectangle_int_t e;
      if (fkp_sticker_pack_get_extents (pack, &face, 1, FKP_STICKER_DRAW_STICKERS, &e)) {
        cairo_surface_t *region = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, e.width, e.height);
        cairo_t *rcr = cairo_create (region);
        cairo_translate (rcr, -e.x, -e.y);
        fkp_sticker_pack_render (pack, rcr, &face, 1, t_ns, FKP_STICKER_DRAW_STICKERS);
        cairo_destroy (rcr);
        cairo_surface_flush (region);
        cairo_surface_destroy (region);
      }
      overlay[i] = now_ms () - t0;
    }

    /* The same through Cairo's own compositing (a subsurface target keeps the
     * library off its direct pixel path): what the direct path saves. */
    cairo_surface_t *sub = cairo_surface_create_for_rectangle (frame, 0, 0, FRAME_W, FRAME_H);
    cr = cairo_create (sub);
    for (int i = 0; i < frames; i++) {
      place_face (&base, widths[w], 1.0, 0.01, rng, &face);
      clear (frame);
      guint64 t_ns = (guint64) i * 33333333u;
      t0 = now_ms ();
      fkp_sticker_pack_render (pack, cr, &face, 1, t_ns, FKP_STICKER_DRAW_STICKERS);
      cairo_surface_flush (sub);
      via_cairo[i] = now_ms () - t0;
    }
    cairo_destroy (cr);
    cairo_surface_destroy (sub);

    /* Peer: librsvg on every frame. */
    Peer peer = { 0 };
    if (!peer_init (&peer, pack, &error)) {
      g_printerr ("%s\n", error->message);
      return 1;
    }
    int peer_frames = MIN (frames, 60);
    cr = cairo_create (frame);
    for (int i = 0; i < peer_frames; i++) {
      place_face (&base, widths[w], 1.0, 0.01, rng, &face);
      clear (frame);
      t0 = now_ms ();
      peer_render (&peer, pack, cr, &face);
      cairo_surface_flush (frame);
      peer_ms[i] = now_ms () - t0;
    }
    cairo_destroy (cr);
    for (guint i = 0; i < peer.n; i++)
      g_clear_object (&peer.handles[i]);
    g_free (peer.handles);

    double s = median (steady, frames), o = median (overlay, frames);
    double p = median (peer_ms, peer_frames), k = median (via_cairo, frames);
    g_print ("%-10.0f %9.3f %10.3f %11.3f %10.3f %9.3f %12.3f %11.3f\n", widths[w], first, s, o,
             k, p, s / p, s / BUDGET_MS);
    fkp_sticker_pack_free (pack);
    g_rand_free (rng);
  }
  g_print ("(medians; face-width = distance of points 0 and 16 in px; overlay = extents-sized "
           "surface incl. its allocation; cairo = same rasters through cairo_paint instead of the "
           "direct path; peer = librsvg every frame, no cache)\n");
  cairo_surface_destroy (frame);
  g_free (steady);
  g_free (overlay);
  g_free (peer_ms);
  g_free (via_cairo);
  return 0;
}
