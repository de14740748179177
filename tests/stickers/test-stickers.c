/* Tests of facekp-stickers: geometry against the documented formulas
 * (recomputed here, independently of the library), rendering checked pixel by
 * pixel and against golden images, every load error, and robustness on odd
 * faces.
 *
 * Environment (set by tests/stickers/meson.build):
 *   FACEKP_TEST_DATA     tests/data (landmark rows from the keypoint data set)
 *   FACEKP_TEST_GOLDEN   tests/stickers/golden
 *   FACEKP_STICKERS_DIR  stickers/packs (the shipped packs, from the source tree)
 *   FACEKP_TEST_OUTPUT   where failing renders are written for inspection
 * FACEKP_UPDATE_GOLDEN=1 rewrites the golden PNGs instead of comparing. */
#include "stickers-test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ---------- geometry, recomputed from the documented definitions ---------- */

typedef struct {
  double left[2], right[2], eyes[2], ed, fw, angle;
} Reference;

static Reference
reference_geometry (const FkpFace *f)
{
  Reference r;
  const float (*p)[2] = f->points;
  r.left[0] = (p[36][0] + p[39][0]) / 2.0;
  r.left[1] = (p[36][1] + p[39][1]) / 2.0;
  r.right[0] = (p[42][0] + p[45][0]) / 2.0;
  r.right[1] = (p[42][1] + p[45][1]) / 2.0;
  r.eyes[0] = (r.left[0] + r.right[0]) / 2.0;
  r.eyes[1] = (r.left[1] + r.right[1]) / 2.0;
  r.ed = sqrt (pow (r.right[0] - r.left[0], 2) + pow (r.right[1] - r.left[1], 2));
  r.fw = sqrt (pow (p[16][0] - p[0][0], 2) + pow (p[16][1] - p[0][1], 2));
  r.angle = atan2 (r.right[1] - r.left[1], r.right[0] - r.left[0]);
  return r;
}

static void
assert_close (double actual, double expected, double tolerance, const char *what)
{
  if (fabs (actual - expected) > tolerance)
    g_error ("%s: got %.6f, expected %.6f (tolerance %g)", what, actual, expected, tolerance);
}

/* The faces the geometry tests run on: two real ones, plus each turned by
 * +-25 degrees and scaled, so the eye-line angle is far from zero. */
static guint
geometry_faces (FkpFace *faces)
{
  load_faces (faces, 2);
  faces[2] = faces[0];
  transform_face (&faces[2], 2.5, 25 * G_PI / 180, 300, -40);
  faces[3] = faces[1];
  transform_face (&faces[3], 0.7, -25 * G_PI / 180, -20, 90);
  return 4;
}

static void
test_face_frame (void)
{
  FkpFace faces[4];
  guint n = geometry_faces (faces);
  for (guint i = 0; i < n; i++) {
    Reference r = reference_geometry (&faces[i]);
    FkpStickerFaceFrame frame;
    g_assert_true (fkp_sticker_face_frame (&faces[i], &frame));
    assert_close (frame.left_eye[0], r.left[0], 1e-4, "left eye x");
    assert_close (frame.left_eye[1], r.left[1], 1e-4, "left eye y");
    assert_close (frame.right_eye[0], r.right[0], 1e-4, "right eye x");
    assert_close (frame.right_eye[1], r.right[1], 1e-4, "right eye y");
    assert_close (frame.eye_distance, r.ed, 1e-4, "eye distance");
    assert_close (frame.face_width, r.fw, 1e-4, "face width");
    assert_close (frame.eye_angle, r.angle, 1e-6, "eye angle");
  }
  /* The turned copies carry the turn in their eye-line angle. */
  FkpStickerFaceFrame a, b;
  fkp_sticker_face_frame (&faces[0], &a);
  fkp_sticker_face_frame (&faces[2], &b);
  assert_close (b.eye_angle - a.eye_angle, 25 * G_PI / 180, 1e-5, "turned angle");
  assert_close (b.eye_distance / a.eye_distance, 2.5, 1e-5, "scaled eye distance");
}

/* Every anchor, reference, offset and rotation against the formulas. */
static void
test_placement_formulas (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autofree char *path = write_pack (t->dir,
      "[sticker a]\nimage=red.png\nanchor=left-eye\nsize=1.5\n\n"
      "[sticker b]\nimage=green.svg\nanchor=right-eye\nsize=0.8,0.3\nrotate=false\n\n"
      "[sticker c]\nimage=red.png\nanchor=eyes-centre\nsize=2\noffset=0.25,-0.5\n\n"
      "[sticker d]\nimage=red.png\nanchor=nose-tip\nsize=0.5\nreference=face-width\n"
      "offset=0.1,0.2\nrotate=false\n\n"
      "[sticker e]\nimage=green.svg\nanchor=mouth-centre\nsize=1\nopacity=0.25\nz=-3\n\n"
      "[sticker f]\nimage=red.png\nanchor=chin\nsize=0.3\nreference=face-width\noffset=-0.2,0.1\n\n"
      "[sticker g]\nimage=red.png\nanchor=forehead\nsize=1.7\noffset=0,-1\nz=7\n\n"
      "[sticker h]\nimage=green.svg\nanchor=30\nsize=0.6\n\n"
      "[sticker i]\nimage=red.png\nanchor=14,33\nsize=0.45\n\n"
      "[sticker j]\nimage=red.png\nanchor=0, 16, 8\nsize=0.2\noffset=1,1\n");
  FkpStickerPack *pack = load_ok (path);
  g_assert_cmpuint (fkp_sticker_pack_get_n_stickers (pack), ==, 10);
  g_assert_cmpstr (fkp_sticker_pack_get_sticker_name (pack, 6), ==, "g");

  FkpFace faces[4];
  guint n = geometry_faces (faces);
  for (guint f = 0; f < n; f++) {
    const FkpFace *face = &faces[f];
    const float (*p)[2] = face->points;
    Reference r = reference_geometry (face);
    double up[2] = { sin (r.angle), -cos (r.angle) };  /* perpendicular, away from chin */
    struct {
      double anchor[2], ref, size_w, size_h, off[2], angle, opacity;
      int z;
    } want[10] = {
      { { r.left[0], r.left[1] }, r.ed, 1.5, 1.5 * 20 / 40, { 0, 0 }, r.angle, 1, 0 },
      { { r.right[0], r.right[1] }, r.ed, 0.8, 0.3, { 0, 0 }, 0, 1, 0 },
      { { r.eyes[0], r.eyes[1] }, r.ed, 2, 1, { 0.25, -0.5 }, r.angle, 1, 0 },
      { { p[30][0], p[30][1] }, r.fw, 0.5, 0.25, { 0.1, 0.2 }, 0, 1, 0 },
      { { (p[48][0] + p[51][0] + p[54][0] + p[57][0]) / 4.0,
          (p[48][1] + p[51][1] + p[54][1] + p[57][1]) / 4.0 }, r.ed, 1, 0.5, { 0, 0 }, r.angle, 0.25, -3 },
      { { p[8][0], p[8][1] }, r.fw, 0.3, 0.15, { -0.2, 0.1 }, r.angle, 1, 0 },
      { { r.eyes[0] + 0.6 * r.ed * up[0], r.eyes[1] + 0.6 * r.ed * up[1] }, r.ed, 1.7, 0.85,
        { 0, -1 }, r.angle, 1, 7 },
      { { p[30][0], p[30][1] }, r.ed, 0.6, 0.3, { 0, 0 }, r.angle, 1, 0 },
      { { (p[14][0] + p[33][0]) / 2.0, (p[14][1] + p[33][1]) / 2.0 }, r.ed, 0.45, 0.225, { 0, 0 },
        r.angle, 1, 0 },
      { { (p[0][0] + p[16][0] + p[8][0]) / 3.0, (p[0][1] + p[16][1] + p[8][1]) / 3.0 }, r.ed, 0.2,
        0.1, { 1, 1 }, r.angle, 1, 0 },
    };
    for (guint i = 0; i < 10; i++) {
      FkpStickerPlacement got;
      g_assert_true (fkp_sticker_pack_place (pack, i, face, &got));
      /* The offset turns with the sticker (by its own angle, 0 when not rotating). */
      double c = cos (want[i].angle), s = sin (want[i].angle);
      double ox = want[i].off[0] * want[i].ref, oy = want[i].off[1] * want[i].ref;
      double cx = want[i].anchor[0] + c * ox - s * oy;
      double cy = want[i].anchor[1] + s * ox + c * oy;
      double tol = 1e-3 * MAX (1.0, want[i].ref);
      g_test_message ("face %u sticker %u", f, i);
      assert_close (got.centre[0], cx, tol, "centre x");
      assert_close (got.centre[1], cy, tol, "centre y");
      assert_close (got.width, want[i].size_w * want[i].ref, tol, "width");
      assert_close (got.height, want[i].size_h * want[i].ref, tol, "height");
      assert_close (got.angle, want[i].angle, 1e-6, "angle");
      assert_close (got.opacity, want[i].opacity, 1e-9, "opacity");
      g_assert_cmpint (got.z, ==, want[i].z);
      g_assert_cmpuint (got.sticker_index, ==, i);
    }
  }
  fkp_sticker_pack_free (pack);
}

/* The seed pack's two placements, as the issue states them. */
static void
test_seed_pack_geometry (void)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("seed", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fkp_sticker_pack_get_name (pack), ==, "seed");
  FkpFace faces[4];
  guint n = geometry_faces (faces);
  for (guint f = 0; f < n; f++) {
    const float (*p)[2] = faces[f].points;
    double lx = (p[36][0] + p[39][0]) / 2, ly = (p[36][1] + p[39][1]) / 2;
    double rx = (p[42][0] + p[45][0]) / 2, ry = (p[42][1] + p[45][1]) / 2;
    double ed = hypot (rx - lx, ry - ly);
    gboolean saw_glasses = FALSE, saw_cheek = FALSE;
    for (guint i = 0; i < fkp_sticker_pack_get_n_stickers (pack); i++) {
      FkpStickerPlacement got;
      g_assert_true (fkp_sticker_pack_place (pack, i, &faces[f], &got));
      const char *name = fkp_sticker_pack_get_sticker_name (pack, i);
      if (strcmp (name, "glasses") == 0) {
        saw_glasses = TRUE;
        assert_close (got.centre[0], (lx + rx) / 2, 1e-3, "glasses x");
        assert_close (got.centre[1], (ly + ry) / 2, 1e-3, "glasses y");
        assert_close (got.width, 2 * ed, 1e-3, "glasses width");
        assert_close (got.angle, atan2 (ry - ly, rx - lx), 1e-6, "glasses angle");
      } else if (strcmp (name, "cheek") == 0) {
        saw_cheek = TRUE;
        assert_close (got.centre[0], (p[14][0] + p[33][0]) / 2.0, 1e-3, "cheek x");
        assert_close (got.centre[1], (p[14][1] + p[33][1]) / 2.0, 1e-3, "cheek y");
      }
    }
    g_assert_true (saw_glasses && saw_cheek);
  }
  fkp_sticker_pack_free (pack);
}

/* ---------- drawing, checked pixel by pixel ---------- */

/* A face whose eye centres sit exactly at @left and @right; other points near them. */
static FkpFace
eyes_face (double lx, double ly, double rx, double ry)
{
  FkpFace face = { .id = 5 };
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++) {
    face.points[k][0] = (float) ((lx + rx) / 2);
    face.points[k][1] = (float) ((ly + ry) / 2 + 40);
  }
  face.points[36][0] = face.points[39][0] = (float) lx;
  face.points[36][1] = face.points[39][1] = (float) ly;
  face.points[42][0] = face.points[45][0] = (float) rx;
  face.points[42][1] = face.points[45][1] = (float) ry;
  face.box.x = (float) MIN (lx, rx) - 20;
  face.box.y = (float) MIN (ly, ry) - 20;
  face.box.width = face.box.height = 100;
  return face;
}

/* A 40x20 red PNG drawn 2 eye distances wide: the covered rectangle, its
 * rotation with the eye line and the opacity show in the pixels. */
static void
test_render_pixels (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autofree char *path = write_pack (t->dir,
      "[sticker red]\nimage=red.png\nanchor=eyes-centre\nsize=2\n\n"
      "[sticker faint]\nimage=red.png\nanchor=eyes-centre\nsize=0.5\noffset=0,3\nopacity=0.5\n");
  FkpStickerPack *pack = load_ok (path);

  /* Level eyes 50 px apart: red covers 100x50 centred on (125,100). */
  FkpFace level = eyes_face (100, 100, 150, 100);
  cairo_surface_t *s = render_surface (pack, &level, 1, 300, 300, 0, FKP_STICKER_DRAW_STICKERS);
  g_assert_cmphex (pixel (s, 125, 100), ==, 0xffff0000);
  g_assert_cmphex (pixel (s, 78, 78), ==, 0xffff0000);
  g_assert_cmphex (pixel (s, 172, 122), ==, 0xffff0000);
  g_assert_cmphex (pixel (s, 72, 100), ==, 0);
  g_assert_cmphex (pixel (s, 178, 100), ==, 0);
  g_assert_cmphex (pixel (s, 125, 72), ==, 0);
  g_assert_cmphex (pixel (s, 125, 128), ==, 0);
  /* Half-opaque sticker 3 eye distances below: premultiplied red at alpha ~128. */
  guint32 faint = pixel (s, 125, 250);
  g_assert_cmpuint (ALPHA (faint), >=, 126);
  g_assert_cmpuint (ALPHA (faint), <=, 129);
  g_assert_cmpuint (RED (faint), ==, ALPHA (faint));
  cairo_surface_destroy (s);

  /* Eye line turned +90 degrees (right eye straight below the left one): the
   * red rectangle stands upright, 50 wide and 100 tall; the faint sticker's
   * offset "down" now points to -x. */
  FkpFace turned = eyes_face (150, 100, 150, 150);
  s = render_surface (pack, &turned, 1, 300, 300, 0, FKP_STICKER_DRAW_STICKERS);
  g_assert_cmphex (pixel (s, 150, 125), ==, 0xffff0000);
  g_assert_cmphex (pixel (s, 128, 78), ==, 0xffff0000);
  g_assert_cmphex (pixel (s, 172, 172), ==, 0xffff0000);
  g_assert_cmphex (pixel (s, 150, 72), ==, 0);
  g_assert_cmphex (pixel (s, 150, 178), ==, 0);
  g_assert_cmphex (pixel (s, 122, 125), ==, 0);
  g_assert_cmphex (pixel (s, 178, 125), ==, 0);
  /* Faint sticker: 3 * 50 px along -x from (150,125), 12.5 px wide, 25 px tall. */
  guint32 faint_turned = pixel (s, 3, 125);
  g_assert_cmpuint (ALPHA (faint_turned), >=, 126);
  g_assert_cmpuint (ALPHA (faint_turned), <=, 129);
  g_assert_cmphex (pixel (s, 10, 125), ==, 0);
  g_assert_cmphex (pixel (s, 3, 140), ==, 0);
  cairo_surface_destroy (s);
  fkp_sticker_pack_free (pack);
}

/* Higher z draws on top, whatever the order in the file. */
static void
test_render_z_order (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autofree char *path = write_pack (t->dir,
      "[sticker top]\nimage=red.png\nanchor=eyes-centre\nsize=1\nz=5\n\n"
      "[sticker bottom]\nimage=green.svg\nanchor=eyes-centre\nsize=2\nz=1\n");
  FkpStickerPack *pack = load_ok (path);
  FkpFace face = eyes_face (100, 100, 150, 100);
  cairo_surface_t *s = render_surface (pack, &face, 1, 300, 300, 0, FKP_STICKER_DRAW_STICKERS);
  g_assert_cmphex (pixel (s, 125, 100), ==, 0xffff0000);  /* red over green */
  g_assert_cmphex (pixel (s, 80, 100), ==, 0xff00ff00);   /* green beyond red */
  cairo_surface_destroy (s);
  fkp_sticker_pack_free (pack);
}

/* faces= draws only on the listed ids. */
static void
test_render_face_filter (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autofree char *path = write_pack (t->dir,
      "[sticker only7]\nimage=red.png\nanchor=eyes-centre\nsize=2\nfaces=7, 9\n");
  FkpStickerPack *pack = load_ok (path);
  FkpFace faces[2] = { eyes_face (50, 50, 100, 50), eyes_face (150, 200, 200, 200) };
  faces[0].id = 3;
  faces[1].id = 9;
  FkpStickerPlacement placement;
  g_assert_false (fkp_sticker_pack_place (pack, 0, &faces[0], &placement));
  g_assert_true (fkp_sticker_pack_place (pack, 0, &faces[1], &placement));
  cairo_surface_t *s = render_surface (pack, faces, 2, 300, 300, 0, FKP_STICKER_DRAW_STICKERS);
  g_assert_cmphex (pixel (s, 75, 50), ==, 0);
  g_assert_cmphex (pixel (s, 175, 200), ==, 0xffff0000);
  cairo_surface_destroy (s);
  fkp_sticker_pack_free (pack);
}

/* images= cycles with frame-duration; the cache returns the same pixels. */
static void
test_render_animation_and_cache (void)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("seed", &error);
  g_assert_no_error (error);
  FkpFace face;
  load_faces (&face, 1);
  transform_face (&face, 2, 0, 0, 0);
  const guint64 ms = 1000000;
  cairo_surface_t *a = render_surface (pack, &face, 1, 400, 400, 0, FKP_STICKER_DRAW_STICKERS);
  cairo_surface_t *a_again = render_surface (pack, &face, 1, 400, 400, 10 * ms, FKP_STICKER_DRAW_STICKERS);
  cairo_surface_t *b = render_surface (pack, &face, 1, 400, 400, 260 * ms, FKP_STICKER_DRAW_STICKERS);
  cairo_surface_t *cycle = render_surface (pack, &face, 1, 400, 400, 1010 * ms, FKP_STICKER_DRAW_STICKERS);
  gsize bytes = (gsize) cairo_image_surface_get_stride (a) * 400;
  g_assert_true (memcmp (cairo_image_surface_get_data (a), cairo_image_surface_get_data (a_again), bytes) == 0);
  g_assert_false (memcmp (cairo_image_surface_get_data (a), cairo_image_surface_get_data (b), bytes) == 0);
  g_assert_true (memcmp (cairo_image_surface_get_data (a), cairo_image_surface_get_data (cycle), bytes) == 0);
  g_assert_false (surface_blank (a));
  cairo_surface_destroy (a);
  cairo_surface_destroy (a_again);
  cairo_surface_destroy (b);
  cairo_surface_destroy (cycle);
  fkp_sticker_pack_free (pack);
}

/* Everything drawn lies inside fkp_sticker_pack_get_extents, which stays tight. */
static void
test_extents (void)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("default", &error);
  g_assert_no_error (error);
  FkpFace faces[2];
  load_faces (faces, 2);
  transform_face (&faces[0], 2, 0.3, 60, 200);
  transform_face (&faces[1], 1.5, -0.2, 500, 150);
  FkpStickerDrawFlags variants[] = { FKP_STICKER_DRAW_STICKERS,
                                     FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES,
                                     FKP_STICKER_DRAW_STICKERS | FKP_STICKER_DRAW_POINTS };
  for (guint v = 0; v < G_N_ELEMENTS (variants); v++) {
    cairo_rectangle_int_t e;
    g_assert_true (fkp_sticker_pack_get_extents (pack, faces, 2, variants[v], &e));
    cairo_surface_t *s = render_surface (pack, faces, 2, 1000, 900, 0, variants[v]);
    int x0 = 1000, y0 = 900, x1 = -1, y1 = -1;
    for (int y = 0; y < 900; y++)
      for (int x = 0; x < 1000; x++)
        if (pixel (s, x, y)) {
          g_assert_true (x >= e.x && x < e.x + e.width && y >= e.y && y < e.y + e.height);
          x0 = MIN (x0, x), y0 = MIN (y0, y), x1 = MAX (x1, x), y1 = MAX (y1, y);
        }
    g_assert_cmpint (x1, >=, 0);
    /* Tight: at most a few pixels (plus the images' own transparent margins) beyond the ink. */
    g_assert_cmpint (x0 - e.x, <=, 16);
    g_assert_cmpint (y0 - e.y, <=, 16);
    g_assert_cmpint (e.x + e.width - 1 - x1, <=, 16);
    g_assert_cmpint (e.y + e.height - 1 - y1, <=, 16);
    cairo_surface_destroy (s);
  }
  cairo_rectangle_int_t e;
  g_assert_false (fkp_sticker_pack_get_extents (pack, faces, 0, FKP_STICKER_DRAW_STICKERS, &e));
  g_assert_cmpint (e.width, ==, 0);
  g_assert_false (fkp_sticker_pack_get_extents (NULL, faces, 2, FKP_STICKER_DRAW_STICKERS, &e));
  fkp_sticker_pack_free (pack);
}

/* Odd faces never crash and draw nothing for the stickers they cannot place. */
static void
test_odd_faces (void)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("default", &error);
  g_assert_no_error (error);
  guint n = fkp_sticker_pack_get_n_stickers (pack);
  FkpFace odd[5];
  load_faces (&odd[0], 1);
  odd[1] = odd[2] = odd[3] = odd[4] = odd[0];
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++)   /* every point NaN */
    odd[0].points[k][0] = odd[0].points[k][1] = NAN;
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++)   /* all points at one spot */
    odd[1].points[k][0] = odd[1].points[k][1] = 50;
  odd[2].points[42][0] = odd[2].points[45][0] = INFINITY;  /* one eye at infinity */
  for (guint k = 0; k < FKP_FACE_N_POINTS; k++)   /* absurdly far and large */
    odd[3].points[k][0] *= 1e30f, odd[3].points[k][1] *= 1e30f;
  odd[4].points[33][1] = NAN;  /* only the moustache's anchor is broken */
  odd[0].box.x = NAN;
  odd[3].box.width = 1e30f;

  for (guint f = 0; f < 4; f++) {
    for (guint i = 0; i < n; i++) {
      FkpStickerPlacement placement;
      gboolean placed = fkp_sticker_pack_place (pack, i, &odd[f], &placement);
      if (f < 3)
        g_assert_false (placed);
    }
    cairo_surface_t *s = render_surface (pack, &odd[f], 1, 320, 240, 0, FKP_STICKER_DRAW_STICKERS);
    g_assert_true (surface_blank (s));
    cairo_surface_destroy (s);
    s = render_surface (pack, &odd[f], 1, 320, 240, 0,
                        FKP_STICKER_DRAW_STICKERS | FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES);
    cairo_surface_destroy (s);
    cairo_rectangle_int_t e;
    fkp_sticker_pack_get_extents (pack, &odd[f], 1, FKP_STICKER_DRAW_STICKERS, &e);
  }
  /* A broken anchor loses that sticker only. */
  guint drawn = 0;
  for (guint i = 0; i < n; i++) {
    FkpStickerPlacement placement;
    gboolean placed = fkp_sticker_pack_place (pack, i, &odd[4], &placement);
    if (strcmp (fkp_sticker_pack_get_sticker_name (pack, i), "moustache") == 0)
      g_assert_false (placed);
    else
      drawn += placed;
  }
  g_assert_cmpuint (drawn, ==, n - 1);
  /* No faces, and no pack with debug drawing only. */
  cairo_surface_t *s = render_surface (pack, NULL, 0, 64, 64, 0, FKP_STICKER_DRAW_STICKERS);
  g_assert_true (surface_blank (s));
  cairo_surface_destroy (s);
  s = render_surface (NULL, &odd[4], 1, 320, 320, 0, FKP_STICKER_DRAW_POINTS);
  g_assert_false (surface_blank (s));
  cairo_surface_destroy (s);
  fkp_sticker_pack_free (pack);
}

/* ---------- golden images ---------- */

/* The direct pixel path (image targets) against Cairo's own compositing
 * (forced by drawing through a subsurface), also with a translated context
 * and a rectangular clip, as an element drawing only the extents would. */

static void
test_direct_path_matches_cairo (void)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("default", &error);
  g_assert_no_error (error);
  FkpFace faces[2];
  load_faces (faces, 2);
  transform_face (&faces[0], 1.7, 0.25, 40, 120);
  transform_face (&faces[1], 1.2, -0.4, 330, 160);
  const int w = 640, h = 480;
  guint64 t_ns = 170 * 1000000ull;

  cairo_surface_t *direct = render_surface (pack, faces, 2, w, h, t_ns, FKP_STICKER_DRAW_STICKERS);
  cairo_surface_t *via_cairo = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cairo_surface_t *sub = cairo_surface_create_for_rectangle (via_cairo, 0, 0, w, h);
  cairo_t *cr = cairo_create (sub);
  fkp_sticker_pack_render (pack, cr, faces, 2, t_ns, FKP_STICKER_DRAW_STICKERS);
  cairo_destroy (cr);
  cairo_surface_destroy (sub);
  cairo_surface_flush (via_cairo);
  Difference d = compare_surfaces (direct, via_cairo);
  g_test_message ("direct vs cairo: mean abs %.3f, changed %.4f of %u", d.mean_abs,
                  d.changed_fraction, d.inked);
  g_assert_cmpuint (d.inked, >, 10000);
  g_assert_true (within_tolerance (&d));

  /* Only the extents, in their own surface: the same pixels as the full frame. */
  cairo_rectangle_int_t e;
  g_assert_true (fkp_sticker_pack_get_extents (pack, faces, 2, FKP_STICKER_DRAW_STICKERS, &e));
  cairo_surface_t *region = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, e.width, e.height);
  cr = cairo_create (region);
  cairo_translate (cr, -e.x, -e.y);
  fkp_sticker_pack_render (pack, cr, faces, 2, t_ns, FKP_STICKER_DRAW_STICKERS);
  cairo_destroy (cr);
  cairo_surface_flush (region);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      gboolean inside = x >= e.x && y >= e.y && x < e.x + e.width && y < e.y + e.height;
      guint32 expected = pixel (direct, x, y);
      if (inside)
        g_assert_cmphex (pixel (region, x - e.x, y - e.y), ==, expected);
      else
        g_assert_cmphex (expected, ==, 0);
    }

  /* A rectangular clip (left half) keeps everything right of it untouched. */
  cairo_surface_t *clipped = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cr = cairo_create (clipped);
  cairo_rectangle (cr, 0, 0, w / 2, h);
  cairo_clip (cr);
  fkp_sticker_pack_render (pack, cr, faces, 2, t_ns, FKP_STICKER_DRAW_STICKERS);
  cairo_destroy (cr);
  cairo_surface_flush (clipped);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      g_assert_cmphex (pixel (clipped, x, y), ==, x < w / 2 ? pixel (direct, x, y) : 0);

  /* Onto an opaque RGB24 frame, as when blending in place. */
  cairo_surface_t *rgb = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  cr = cairo_create (rgb);
  cairo_set_source_rgb (cr, 0.2, 0.4, 0.6);
  cairo_paint (cr);
  fkp_sticker_pack_render (pack, cr, faces, 2, t_ns, FKP_STICKER_DRAW_STICKERS);
  cairo_destroy (cr);
  cairo_surface_flush (rgb);
  cairo_surface_t *expected_rgb = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  cr = cairo_create (expected_rgb);
  cairo_set_source_rgb (cr, 0.2, 0.4, 0.6);
  cairo_paint (cr);
  cairo_set_source_surface (cr, direct, 0, 0);
  cairo_paint (cr);
  cairo_destroy (cr);
  cairo_surface_flush (expected_rgb);
  int worst = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint32 p = pixel (rgb, x, y), q = pixel (expected_rgb, x, y);
      for (int c = 0; c < 24; c += 8)
        worst = MAX (worst, abs ((int) ((p >> c) & 0xff) - (int) ((q >> c) & 0xff)));
    }
  g_assert_cmpint (worst, <=, 2);

  cairo_surface_destroy (expected_rgb);
  cairo_surface_destroy (rgb);
  cairo_surface_destroy (clipped);
  cairo_surface_destroy (region);
  cairo_surface_destroy (via_cairo);
  cairo_surface_destroy (direct);
  fkp_sticker_pack_free (pack);
}

typedef struct {
  const char *golden;
  const char *pack;
  guint64 time_ms;
  FkpStickerDrawFlags flags;
} GoldenCase;

static const GoldenCase golden_cases[] = {
  { "default.png", "default", 0, FKP_STICKER_DRAW_STICKERS },
  { "default-t200.png", "default", 200, FKP_STICKER_DRAW_STICKERS },
  { "seed.png", "seed", 0, FKP_STICKER_DRAW_STICKERS },
  { "seed-t600.png", "seed", 600, FKP_STICKER_DRAW_STICKERS },
  { "points.png", NULL, 0, FKP_STICKER_DRAW_POINTS },
};

/* The two dataset faces side by side on a 640x400 frame, the second turned. */
static guint
golden_faces (FkpFace *faces)
{
  load_faces (faces, 2);
  transform_face (&faces[0], 1.4, 0, 0, 90);
  transform_face (&faces[1], 1.3, -12 * G_PI / 180, 300, 120);
  return 2;
}

static cairo_surface_t *
render_golden_case (const GoldenCase *gc, double shift_x, double scale)
{
  FkpFace faces[2];
  guint n = golden_faces (faces);
  for (guint f = 0; f < n; f++)
    transform_face (&faces[f], scale, 0, shift_x, 0);
  FkpStickerPack *pack = NULL;
  if (gc->pack) {
    g_autoptr (GError) error = NULL;
    pack = fkp_sticker_pack_open (gc->pack, &error);
    g_assert_no_error (error);
  }
  cairo_surface_t *s = render_surface (pack, faces, n, 640, 400, gc->time_ms * 1000000, gc->flags);
  fkp_sticker_pack_free (pack);
  return s;
}

static void
test_golden (gconstpointer data)
{
  const GoldenCase *gc = data;
  cairo_surface_t *actual = render_golden_case (gc, 0, 1);
  g_assert_false (surface_blank (actual));
  if (g_strcmp0 (g_getenv ("FACEKP_UPDATE_GOLDEN"), "1") == 0) {
    g_autofree char *path = g_build_filename (g_getenv ("FACEKP_TEST_GOLDEN"), gc->golden, NULL);
    g_assert_cmpint (cairo_surface_write_to_png (actual, path), ==, CAIRO_STATUS_SUCCESS);
    g_test_message ("wrote %s", path);
    cairo_surface_destroy (actual);
    return;
  }
  cairo_surface_t *golden = load_golden (gc->golden);
  Difference d = compare_surfaces (actual, golden);
  g_test_message ("%s: mean abs %.3f, changed %.4f of %u inked pixels", gc->golden, d.mean_abs,
                  d.changed_fraction, d.inked);
  if (!within_tolerance (&d)) {
    const char *out = g_getenv ("FACEKP_TEST_OUTPUT");
    g_autofree char *name = g_strconcat ("actual-", gc->golden, NULL);
    g_autofree char *path = g_build_filename (out ? out : ".", name, NULL);
    cairo_surface_write_to_png (actual, path);
    g_error ("%s differs from its golden image: mean abs %.3f (max %.1f), changed %.4f (max %.3f); "
             "render written to %s", gc->golden, d.mean_abs, GOLDEN_MAX_MEAN_ABS,
             d.changed_fraction, GOLDEN_MAX_CHANGED, path);
  }
  cairo_surface_destroy (golden);
  cairo_surface_destroy (actual);
}

/* The comparison must fail for material changes: a 3-pixel shift, a 5 %
 * size change, another animation frame, another pack. */
static void
test_golden_rejects_changes (void)
{
  if (g_strcmp0 (g_getenv ("FACEKP_UPDATE_GOLDEN"), "1") == 0) {
    g_test_skip ("updating golden images");
    return;
  }
  cairo_surface_t *golden = load_golden ("default.png");
  cairo_surface_t *shifted = render_golden_case (&golden_cases[0], 3, 1);
  cairo_surface_t *scaled = render_golden_case (&golden_cases[0], 0, 1.05);
  cairo_surface_t *other_frame = render_golden_case (&golden_cases[1], 0, 1);
  cairo_surface_t *other_pack = render_golden_case (&golden_cases[2], 0, 1);
  cairo_surface_t *changed[] = { shifted, scaled, other_frame, other_pack };
  for (guint i = 0; i < G_N_ELEMENTS (changed); i++) {
    Difference d = compare_surfaces (changed[i], golden);
    g_test_message ("change %u: mean abs %.3f, changed %.4f", i, d.mean_abs, d.changed_fraction);
    g_assert_false (within_tolerance (&d));
    cairo_surface_destroy (changed[i]);
  }
  cairo_surface_destroy (golden);
}

/* ---------- load errors ---------- */

typedef struct {
  const char *what;
  const char *ini;         /* whole file; NULL = the default [pack] header + @sticker */
  const char *sticker;
  FkpStickerError code;
  const char *group;       /* must appear in the message as [group] */
  const char *key;         /* must appear in the message (NULL: none) */
} ErrorCase;

#define S(body) "[sticker s]\n" body
#define OKS "image=red.png\nanchor=nose-tip\nsize=1\n"

static const ErrorCase error_cases[] = {
  { "not a key file", "this is not = an ini\n[[[", NULL, FKP_STICKER_ERROR_FILE, NULL, NULL },
  { "no pack group", "[sticker s]\n" OKS, NULL, FKP_STICKER_ERROR_MISSING_GROUP, "pack", NULL },
  { "no sticker", "[pack]\nname=x\nversion=1\n", NULL, FKP_STICKER_ERROR_MISSING_GROUP, "sticker NAME", NULL },
  { "no name", "[pack]\nversion=1\n[sticker s]\n" OKS, NULL, FKP_STICKER_ERROR_MISSING_KEY, "pack", "name" },
  { "no version", "[pack]\nname=x\n[sticker s]\n" OKS, NULL, FKP_STICKER_ERROR_MISSING_KEY, "pack", "version" },
  { "future version", "[pack]\nname=x\nversion=2\n[sticker s]\n" OKS, NULL, FKP_STICKER_ERROR_INVALID_VALUE, "pack", "version" },
  { "unknown pack key", "[pack]\nname=x\nversion=1\ncolour=red\n[sticker s]\n" OKS, NULL, FKP_STICKER_ERROR_INVALID_VALUE, "pack", "colour" },
  { "unknown group", NULL, "[stiker s]\n" OKS, FKP_STICKER_ERROR_INVALID_VALUE, "stiker s", NULL },
  { "unknown sticker key", NULL, S (OKS "anhcor=chin\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "anhcor" },
  { "no image", NULL, S ("anchor=chin\nsize=1\n"), FKP_STICKER_ERROR_MISSING_KEY, "sticker s", "image" },
  { "image and images", NULL, S (OKS "images=red.png;green.svg\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "images" },
  { "empty images", NULL, S ("images= ; \nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_MISSING_KEY, "sticker s", "images" },
  { "missing image", NULL, S ("image=nothere.png\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "image" },
  { "missing frame", NULL, S ("images=red.png;gone.svg\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "images" },
  { "undecodable png", NULL, S ("image=bad.png\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "image" },
  { "undecodable svg", NULL, S ("image=bad.svg\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "image" },
  { "svg without size", NULL, S ("image=nosize.svg\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "image" },
  { "png too large", NULL, S ("image=huge.png\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "image" },
  { "unknown image type", NULL, S ("image=red.gif\nanchor=chin\nsize=1\n"), FKP_STICKER_ERROR_IMAGE, "sticker s", "image" },
  { "no anchor", NULL, S ("image=red.png\nsize=1\n"), FKP_STICKER_ERROR_MISSING_KEY, "sticker s", "anchor" },
  { "unknown anchor", NULL, S ("image=red.png\nanchor=left-ear\nsize=1\n"), FKP_STICKER_ERROR_UNKNOWN_ANCHOR, "sticker s", "anchor" },
  { "anchor index 68", NULL, S ("image=red.png\nanchor=14,68\nsize=1\n"), FKP_STICKER_ERROR_UNKNOWN_ANCHOR, "sticker s", "anchor" },
  { "anchor index -1", NULL, S ("image=red.png\nanchor=-1\nsize=1\n"), FKP_STICKER_ERROR_UNKNOWN_ANCHOR, "sticker s", "anchor" },
  { "anchor half number", NULL, S ("image=red.png\nanchor=30.5\nsize=1\n"), FKP_STICKER_ERROR_UNKNOWN_ANCHOR, "sticker s", "anchor" },
  { "no size", NULL, S ("image=red.png\nanchor=chin\n"), FKP_STICKER_ERROR_MISSING_KEY, "sticker s", "size" },
  { "size not a number", NULL, S ("image=red.png\nanchor=chin\nsize=big\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "size" },
  { "size three numbers", NULL, S ("image=red.png\nanchor=chin\nsize=1,2,3\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "size" },
  { "size zero", NULL, S ("image=red.png\nanchor=chin\nsize=0\n"), FKP_STICKER_ERROR_ABSURD_SIZE, "sticker s", "size" },
  { "size negative", NULL, S ("image=red.png\nanchor=chin\nsize=-1\n"), FKP_STICKER_ERROR_ABSURD_SIZE, "sticker s", "size" },
  { "size NaN", NULL, S ("image=red.png\nanchor=chin\nsize=nan\n"), FKP_STICKER_ERROR_ABSURD_SIZE, "sticker s", "size" },
  { "size infinite", NULL, S ("image=red.png\nanchor=chin\nsize=inf\n"), FKP_STICKER_ERROR_ABSURD_SIZE, "sticker s", "size" },
  { "size huge", NULL, S ("image=red.png\nanchor=chin\nsize=25\n"), FKP_STICKER_ERROR_ABSURD_SIZE, "sticker s", "size" },
  { "height zero", NULL, S ("image=red.png\nanchor=chin\nsize=1,0\n"), FKP_STICKER_ERROR_ABSURD_SIZE, "sticker s", "size" },
  { "unknown reference", NULL, S (OKS "reference=nose-length\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "reference" },
  { "offset one number", NULL, S (OKS "offset=1\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "offset" },
  { "offset not numbers", NULL, S (OKS "offset=a,b\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "offset" },
  { "offset NaN", NULL, S (OKS "offset=nan,0\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "offset" },
  { "offset far", NULL, S (OKS "offset=0,-300\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "offset" },
  { "rotate maybe", NULL, S (OKS "rotate=maybe\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "rotate" },
  { "opacity above 1", NULL, S (OKS "opacity=1.5\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "opacity" },
  { "opacity text", NULL, S (OKS "opacity=half\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "opacity" },
  { "z fraction", NULL, S (OKS "z=1.5\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "z" },
  { "faces text", NULL, S (OKS "faces=1,two\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "faces" },
  { "frame duration zero", NULL, S ("images=red.png;green.svg\nanchor=chin\nsize=1\nframe-duration=0\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "frame-duration" },
  { "frame duration text", NULL, S ("images=red.png\nanchor=chin\nsize=1\nframe-duration=fast\n"), FKP_STICKER_ERROR_INVALID_VALUE, "sticker s", "frame-duration" },
  { "second sticker broken", NULL, S (OKS) "\n[sticker t]\n" "image=red.png\nanchor=chin\nsize=0\n", FKP_STICKER_ERROR_ABSURD_SIZE, "sticker t", "size" },
};

static void
test_load_error (TempDir *t, gconstpointer data)
{
  const ErrorCase *ec = data;
  write_png (t->dir, "red.png", 40, 20, 1, 0, 0);
  g_free (write_file (t->dir, "green.svg", small_svg, -1));
  g_free (write_file (t->dir, "red.gif", "GIF89a", -1));
  /* A PNG signature followed by garbage, and an SVG that is not XML. */
  g_free (write_file (t->dir, "bad.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDRjunkjunkjunk", 28));
  /* A PNG header declaring 100000 x 100000 pixels, with no data. */
  g_free (write_file (t->dir, "huge.png",
                      "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x86\xa0\x00\x01\x86\xa0"
                      "\x08\x06\x00\x00\x00", 29));
  g_free (write_file (t->dir, "bad.svg", "<svg xmlns='http://www.w3.org/2000/svg'><rect", -1));
  g_free (write_file (t->dir, "nosize.svg", "<svg xmlns='http://www.w3.org/2000/svg'><rect width='5' height='5'/></svg>", -1));
  g_autofree char *text = ec->ini ? g_strdup (ec->ini)
                                  : g_strdup_printf ("[pack]\nname=x\nversion=1\n\n%s", ec->sticker);
  g_autofree char *path = write_file (t->dir, "broken.ini", text, -1);

  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_load (path, &error);
  g_assert_null (pack);
  g_assert_error (error, FKP_STICKER_ERROR, (gint) ec->code);
  g_test_message ("%s -> %s", ec->what, error->message);
  g_assert_nonnull (strstr (error->message, path));
  if (ec->group) {
    g_autofree char *group = g_strdup_printf ("[%s]", ec->group);
    g_assert_nonnull (strstr (error->message, group));
  }
  if (ec->key) {
    g_autofree char *key = g_strdup_printf ("] %s:", ec->key);
    g_assert_nonnull (strstr (error->message, key));
  }
}

static void
test_load_missing_file (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (fkp_sticker_pack_load ("/nonexistent/facekp/pack.ini", &error));
  g_assert_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_FILE);
  g_assert_nonnull (strstr (error->message, "/nonexistent/facekp/pack.ini"));
}

/* Translations of [pack] texts (name[fr]=...) are not unknown keys. */
static void
test_localized_keys (TempDir *t, gconstpointer data)
{
  (void) data;
  write_png (t->dir, "red.png", 40, 20, 1, 0, 0);
  g_autofree char *ok = write_file (t->dir, "ok.ini",
      "[pack]\nname=x\nname[fr]=x\nversion=1\ndescription[de]=Brille\n\n"
      "[sticker s]\nimage=red.png\nanchor=chin\nsize=1\n", -1);
  FkpStickerPack *pack = load_ok (ok);
  g_assert_cmpstr (fkp_sticker_pack_get_name (pack), ==, "x");
  fkp_sticker_pack_free (pack);
}

/* ---------- finding packs ---------- */

static void
test_find (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  const char *shipped = g_getenv ("FACEKP_STICKERS_DIR");

  /* Names resolve under FACEKP_STICKERS_DIR first. */
  g_autofree char *found = fkp_sticker_pack_find ("default", &error);
  g_assert_no_error (error);
  g_autofree char *expected = g_build_filename (shipped, "default", "default.ini", NULL);
  g_assert_cmpstr (found, ==, expected);

  g_autofree char *mine = g_build_filename (t->dir, "mine", NULL);
  g_mkdir (mine, 0700);
  g_autofree char *pack_path = write_pack (mine, "[sticker s]\n" OKS);
  g_autofree char *named = g_build_filename (mine, "mine.ini", NULL);
  g_rename (pack_path, named);
  g_setenv ("FACEKP_STICKERS_DIR", t->dir, TRUE);
  g_autofree char *found_mine = fkp_sticker_pack_find ("mine", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (found_mine, ==, named);
  FkpStickerPack *pack = fkp_sticker_pack_open ("mine", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fkp_sticker_pack_get_path (pack), ==, named);
  fkp_sticker_pack_free (pack);

  /* A shipped name not in the override falls back to the installed or source packs. */
  g_autofree char *fallback = fkp_sticker_pack_find ("seed", &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (fallback, "seed.ini"));
  g_setenv ("FACEKP_STICKERS_DIR", shipped, TRUE);

  /* Paths pass through; unknown names and missing files are NOT_FOUND errors. */
  g_autofree char *as_path = fkp_sticker_pack_find (named, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (as_path, ==, named);
  g_assert_null (fkp_sticker_pack_find ("no-such-pack", &error));
  g_assert_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no-such-pack"));
  g_clear_error (&error);
  g_assert_null (fkp_sticker_pack_open ("/tmp/facekp-none/missing.ini", &error));
  g_assert_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (fkp_sticker_pack_find ("", &error));
  g_assert_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_NOT_FOUND);
}

/* Every shipped pack loads and draws something on a real face. */
static void
test_shipped_packs (void)
{
  const char *names[] = { "default", "seed", "glasses", "sunglasses", "moustache", "crown" };
  FkpFace face;
  load_faces (&face, 1);
  transform_face (&face, 1.5, 0, 0, 100);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autoptr (GError) error = NULL;
    FkpStickerPack *pack = fkp_sticker_pack_open (names[i], &error);
    g_assert_no_error (error);
    cairo_surface_t *s = render_surface (pack, &face, 1, 400, 500, 0, FKP_STICKER_DRAW_STICKERS);
    g_assert_false (surface_blank (s));
    cairo_surface_destroy (s);
    fkp_sticker_pack_free (pack);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (g_getenv ("FACEKP_TEST_DATA"));
  g_assert_nonnull (g_getenv ("FACEKP_TEST_GOLDEN"));
  g_assert_nonnull (g_getenv ("FACEKP_STICKERS_DIR"));

  g_test_add_func ("/stickers/geometry/face-frame", test_face_frame);
  g_test_add ("/stickers/geometry/placement-formulas", TempDir, NULL, temp_dir_setup,
              test_placement_formulas, temp_dir_teardown);
  g_test_add_func ("/stickers/geometry/seed-pack", test_seed_pack_geometry);
  g_test_add ("/stickers/render/pixels", TempDir, NULL, temp_dir_setup, test_render_pixels,
              temp_dir_teardown);
  g_test_add ("/stickers/render/z-order", TempDir, NULL, temp_dir_setup, test_render_z_order,
              temp_dir_teardown);
  g_test_add ("/stickers/render/face-filter", TempDir, NULL, temp_dir_setup,
              test_render_face_filter, temp_dir_teardown);
  g_test_add_func ("/stickers/render/animation-and-cache", test_render_animation_and_cache);
  g_test_add_func ("/stickers/render/extents", test_extents);
  g_test_add_func ("/stickers/render/odd-faces", test_odd_faces);
  g_test_add_func ("/stickers/render/direct-path-matches-cairo", test_direct_path_matches_cairo);
  for (guint i = 0; i < G_N_ELEMENTS (golden_cases); i++) {
    g_autofree char *name = g_strdup_printf ("/stickers/golden/%s", golden_cases[i].golden);
    g_test_add_data_func (name, &golden_cases[i], test_golden);
  }
  g_test_add_func ("/stickers/golden/rejects-changes", test_golden_rejects_changes);
  g_test_add_func ("/stickers/errors/missing-file", test_load_missing_file);
  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++) {
    g_autofree char *name = g_strdup_printf ("/stickers/errors/%s", error_cases[i].what);
    g_strdelimit (name + 17, " ", '-');
    g_test_add (name, TempDir, &error_cases[i], temp_dir_setup, test_load_error,
                temp_dir_teardown);
  }
  g_test_add ("/stickers/load/localized-keys", TempDir, NULL, temp_dir_setup,
              test_localized_keys, temp_dir_teardown);
  g_test_add ("/stickers/find", TempDir, NULL, temp_dir_setup, test_find, temp_dir_teardown);
  g_test_add_func ("/stickers/shipped-packs", test_shipped_packs);
  return g_test_run ();
}
