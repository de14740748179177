/* Sticker triggers (docs/stickers.md, "Triggers") and the head-pose keys
 * (max-yaw, squeeze): what a pack accepts and refuses, the opacity and image of a triggered sticker over the life of an
 * expression against the documented rules (recomputed here), packs
 * without triggers unchanged by expressions, and a golden image of the
 * shipped expressions pack.  FACEKP_UPDATE_GOLDEN=1 rewrites the golden
 * image. */
#include "stickers-test-util.h"

#include <math.h>
#include <string.h>

#define BIT(e) (1u << (e))

/* A face with no expression history (every state off, never on). */
static void
calm (FkpFace *face)
{
  face->expression_states = face->expression_started = face->expression_ended = 0;
  for (int e = 0; e < FKP_FACE_MAX_EXPRESSIONS; e++)
    face->expression_held_ms[e] = FKP_EXPRESSION_NEVER;
}

static void
set_state (FkpFace *face, FkpExpression e, gboolean on, float held_ms)
{
  if (on)
    face->expression_states |= BIT (e);
  else
    face->expression_states &= ~BIT (e);
  face->expression_held_ms[e] = held_ms;
}

static void
test_trigger_errors (TempDir *t, gconstpointer data)
{
  (void) data;
  static const struct {
    const char *body, *key;
  } cases[] = {
    { "trigger=grin\n", "trigger" },
    { "play=once\n", "play" },
    { "fade-in=100\n", "fade-in" },
    { "fade-out=100\n", "fade-out" },
    { "trigger=smile\nplay=twice\n", "play" },
    { "trigger=smile\nfade-in=-5\n", "fade-in" },
    { "trigger=smile\nfade-out=soon\n", "fade-out" },
    { "trigger=smile\nfade-in=600001\n", "fade-in" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *body = g_strdup_printf ("[sticker s]\nimage=red.png\nanchor=nose-tip\n"
                                             "size=1\n%s", cases[i].body);
    g_autofree char *path = write_pack (t->dir, body);
    g_autoptr (GError) error = NULL;
    FkpStickerPack *pack = fkp_sticker_pack_load (path, &error);
    g_assert_null (pack);
    g_assert_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_INVALID_VALUE);
    g_autofree char *where = g_strdup_printf ("[sticker s] %s:", cases[i].key);
    if (!strstr (error->message, where))
      g_error ("\"%s\" does not name %s", error->message, where);
  }
  /* Both spellings of a name, and play=while spelled out, load. */
  g_autofree char *ok = write_pack (t->dir, "[sticker s]\nimage=red.png\nanchor=nose-tip\n"
                                            "size=1\ntrigger=eyes_closed\nplay=while\n"
                                            "fade-in=0\nfade-out=250\n");
  fkp_sticker_pack_free (load_ok (ok));
}

/* The documented rule for play=while, written out again. */
static double
expected_while (gboolean on, double held, double fade_in, double fade_out)
{
  if (on)
    return fade_in > 0 ? MIN (1.0, held / fade_in) : 1.0;
  if (held < 0 || held >= fade_out)
    return 0.0;
  return 1.0 - held / fade_out;
}

static void
test_trigger_while (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autofree char *path = write_pack (t->dir,
      "[sticker plain]\nimage=red.png\nanchor=mouth-centre\nsize=1\nopacity=0.8\n\n"
      "[sticker open]\nimage=red.png\nanchor=mouth-centre\nsize=1\nopacity=0.8\n"
      "trigger=mouth-open\nfade-in=200\nfade-out=400\n");
  FkpStickerPack *pack = load_ok (path);
  FkpFace face;
  load_faces (&face, 1);
  calm (&face);
  FkpStickerPlacement plain, open;
  g_assert_true (fkp_sticker_pack_place (pack, 0, &face, &plain));
  g_assert_false (fkp_sticker_pack_place (pack, 1, &face, &open));   /* never on */

  const double on_times[] = { 0, 1, 50, 100, 199, 200, 350, 5000 };
  const double off_times[] = { 0, 1, 100, 250, 399, 400, 1000 };
  for (int pass = 0; pass < 2; pass++) {
    const double *times = pass ? off_times : on_times;
    guint n = pass ? G_N_ELEMENTS (off_times) : G_N_ELEMENTS (on_times);
    for (guint i = 0; i < n; i++) {
      calm (&face);
      set_state (&face, FKP_EXPRESSION_MOUTH_OPEN, !pass, (float) times[i]);
      /* Another expression holding changes nothing. */
      set_state (&face, FKP_EXPRESSION_SMILE, TRUE, 300);
      double want = expected_while (!pass, times[i], 200, 400);
      gboolean placed = fkp_sticker_pack_place (pack, 1, &face, &open);
      g_assert_cmpint (placed, ==, want > 0);
      if (!placed)
        continue;
      g_assert_cmpfloat_with_epsilon (open.opacity, 0.8 * want, 1e-9);
      /* Where it goes does not depend on the trigger. */
      g_assert_cmpfloat (open.centre[0], ==, plain.centre[0]);
      g_assert_cmpfloat (open.centre[1], ==, plain.centre[1]);
      g_assert_cmpfloat (open.width, ==, plain.width);
      g_assert_cmpfloat (open.angle, ==, plain.angle);
    }
  }
  fkp_sticker_pack_free (pack);
}

/* play=once: the images in turn from the expression's start, once, then
 * nothing while it still holds; nothing once it ended. */
static void
test_trigger_once (TempDir *t, gconstpointer data)
{
  (void) data;
  g_autofree char *path = write_pack (t->dir,
      "[sticker s]\nimages=red.png;green.svg\nframe-duration=100\nanchor=nose-tip\nsize=2\n"
      "rotate=false\ntrigger=smile\nplay=once\n");
  FkpStickerPack *pack = load_ok (path);
  FkpFace face;
  load_faces (&face, 1);
  transform_face (&face, 2, 0, 40, 40);
  struct {
    gboolean on;
    float held;
    int colour;   /* 0 nothing, 1 red, 2 green */
  } steps[] = {
    { TRUE, 0, 1 }, { TRUE, 99, 1 }, { TRUE, 100, 2 }, { TRUE, 199, 2 }, { TRUE, 200, 0 },
    { TRUE, 3000, 0 }, { FALSE, 10, 0 }, { FALSE, FKP_EXPRESSION_NEVER, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    calm (&face);
    set_state (&face, FKP_EXPRESSION_SMILE, steps[i].on, steps[i].held);
    /* The stream's clock does not pick the frame (it would at 150 ms). */
    cairo_surface_t *s = render_surface (pack, &face, 1, 400, 400, 150000000,
                                         FKP_STICKER_DRAW_STICKERS);
    guint32 p = pixel (s, (int) face.points[30][0], (int) face.points[30][1]);
    int colour = ALPHA (p) == 0 ? 0 : RED (p) > 200 ? 1 : GREEN (p) > 200 ? 2 : -1;
    if (colour != steps[i].colour)
      g_error ("step %u (held %g ms, %s): colour %d, expected %d", i, steps[i].held,
               steps[i].on ? "on" : "off", colour, steps[i].colour);
    cairo_surface_destroy (s);
  }
  fkp_sticker_pack_free (pack);
}

/* Packs without triggers draw the same pixels whatever the expressions. */
static void
test_untriggered_unchanged (void)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("default", &error);
  g_assert_no_error (error);
  FkpFace faces[2];
  load_faces (faces, 2);
  transform_face (&faces[0], 1.4, 0, 0, 90);
  transform_face (&faces[1], 1.3, 0.2, 300, 120);
  cairo_surface_t *before = render_surface (pack, faces, 2, 640, 400, 0, FKP_STICKER_DRAW_STICKERS);
  for (int f = 0; f < 2; f++) {
    faces[f].expression_states = 0x3f;
    faces[f].expression_started = 0x3f;
    for (int e = 0; e < FKP_FACE_MAX_EXPRESSIONS; e++) {
      faces[f].expressions[e] = 1;
      faces[f].expression_held_ms[e] = 120;
    }
  }
  cairo_surface_t *after = render_surface (pack, faces, 2, 640, 400, 0, FKP_STICKER_DRAW_STICKERS);
  for (int y = 0; y < 400; y++)
    for (int x = 0; x < 640; x++)
      g_assert_cmphex (pixel (before, x, y), ==, pixel (after, x, y));
  cairo_surface_destroy (before);
  cairo_surface_destroy (after);
  fkp_sticker_pack_free (pack);
}

/* The shipped expressions pack on the golden faces: the first with its
 * mouth open (tongue, bubble) and smiling 170 ms (the stars' second image),
 * the second with closed eyes and brows raised 50 ms (half faded in). */
static cairo_surface_t *
render_expressions (gboolean with_states)
{
  g_autoptr (GError) error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_open ("expressions", &error);
  g_assert_no_error (error);
  FkpFace faces[2];
  load_faces (faces, 2);
  transform_face (&faces[0], 1.4, 0, 0, 90);
  transform_face (&faces[1], 1.3, -12 * G_PI / 180, 300, 120);
  calm (&faces[0]);
  calm (&faces[1]);
  if (with_states) {
    set_state (&faces[0], FKP_EXPRESSION_MOUTH_OPEN, TRUE, 500);
    set_state (&faces[0], FKP_EXPRESSION_SMILE, TRUE, 170);
    set_state (&faces[1], FKP_EXPRESSION_EYES_CLOSED, TRUE, 50);
    set_state (&faces[1], FKP_EXPRESSION_BROWS_RAISED, TRUE, 50);
  }
  cairo_surface_t *s = render_surface (pack, faces, 2, 640, 400, 0, FKP_STICKER_DRAW_STICKERS);
  fkp_sticker_pack_free (pack);
  return s;
}

static void
test_golden_expressions (void)
{
  cairo_surface_t *calm_render = render_expressions (FALSE);
  g_assert_true (surface_blank (calm_render));   /* nothing holds: nothing drawn */
  cairo_surface_t *actual = render_expressions (TRUE);
  g_assert_false (surface_blank (actual));
  const char *name = "expressions.png";
  if (g_strcmp0 (g_getenv ("FACEKP_UPDATE_GOLDEN"), "1") == 0) {
    g_autofree char *path = g_build_filename (g_getenv ("FACEKP_TEST_GOLDEN"), name, NULL);
    g_assert_cmpint (cairo_surface_write_to_png (actual, path), ==, CAIRO_STATUS_SUCCESS);
  } else {
    cairo_surface_t *golden = load_golden (name);
    Difference d = compare_surfaces (actual, golden);
    g_test_message ("%s: mean abs %.3f, changed %.4f of %u inked pixels", name, d.mean_abs,
                    d.changed_fraction, d.inked);
    if (!within_tolerance (&d)) {
      const char *out = g_getenv ("FACEKP_TEST_OUTPUT");
      g_autofree char *path = g_build_filename (out ? out : ".", "actual-expressions.png", NULL);
      cairo_surface_write_to_png (actual, path);
      g_error ("%s differs from its golden image: mean abs %.3f, changed %.4f; render in %s",
               name, d.mean_abs, d.changed_fraction, path);
    }
    /* And the comparison sees an expression that did not trigger. */
    Difference none = compare_surfaces (calm_render, golden);
    g_assert_false (within_tolerance (&none));
    cairo_surface_destroy (golden);
  }
  cairo_surface_destroy (actual);
  cairo_surface_destroy (calm_render);
}

/* max-yaw hides a sticker on faces turned further either way; squeeze
 * narrows it by cos(yaw), height and place unchanged; bad values refused. */
static void
test_pose_keys (TempDir *t, gconstpointer data)
{
  (void) data;
  static const char *const bad[] = { "max-yaw=-1\n", "max-yaw=91\n", "max-yaw=wide\n",
                                     "squeeze=maybe\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *body = g_strdup_printf ("[sticker s]\nimage=red.png\nanchor=nose-tip\n"
                                             "size=1\n%s", bad[i]);
    g_autofree char *path = write_pack (t->dir, body);
    g_autoptr (GError) error = NULL;
    g_assert_null (fkp_sticker_pack_load (path, &error));
    g_assert_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_INVALID_VALUE);
  }
  g_autofree char *path = write_pack (t->dir,
      "[sticker plain]\nimage=red.png\nanchor=eyes-centre\nsize=2\n\n"
      "[sticker front]\nimage=red.png\nanchor=eyes-centre\nsize=2\nmax-yaw=30\n\n"
      "[sticker turning]\nimage=red.png\nanchor=eyes-centre\nsize=2\nsqueeze=true\n");
  FkpStickerPack *pack = load_ok (path);
  FkpFace face;
  load_faces (&face, 1);
  calm (&face);
  const float yaws[] = { 0, 12, -29.5f, 30, -31, 45, 89 };
  for (guint i = 0; i < G_N_ELEMENTS (yaws); i++) {
    face.yaw = yaws[i];
    FkpStickerPlacement plain, front, turning;
    g_assert_true (fkp_sticker_pack_place (pack, 0, &face, &plain));
    g_assert_cmpint (fkp_sticker_pack_place (pack, 1, &face, &front), ==, fabs (yaws[i]) <= 30);
    g_assert_true (fkp_sticker_pack_place (pack, 2, &face, &turning));
    g_assert_cmpfloat_with_epsilon (turning.width, plain.width * cos (yaws[i] * G_PI / 180), 1e-9);
    g_assert_cmpfloat (turning.height, ==, plain.height);
    g_assert_cmpfloat (turning.centre[0], ==, plain.centre[0]);
  }
  fkp_sticker_pack_free (pack);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/stickers/triggers/errors", TempDir, NULL, temp_dir_setup, test_trigger_errors,
              temp_dir_teardown);
  g_test_add ("/stickers/triggers/while", TempDir, NULL, temp_dir_setup, test_trigger_while,
              temp_dir_teardown);
  g_test_add ("/stickers/triggers/once", TempDir, NULL, temp_dir_setup, test_trigger_once,
              temp_dir_teardown);
  g_test_add ("/stickers/pose-keys", TempDir, NULL, temp_dir_setup, test_pose_keys,
              temp_dir_teardown);
  g_test_add_func ("/stickers/triggers/untriggered-unchanged", test_untriggered_unchanged);
  g_test_add_func ("/stickers/triggers/golden", test_golden_expressions);
  return g_test_run ();
}
