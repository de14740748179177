/* Expressions through facekpfilter: a clip made of two frames of one video
 * of the data set (tests/data/expr-Tom_Sizemore_12.jpg, mouth closed,
 * and _11.jpg, mouth open; labels in the data set's training split) —
 * closed for 15 frames, open for 15, closed for 15, at 30 fps.  A sticker
 * triggered by mouth-open must appear within 3 frames of the first open
 * frame and disappear within 3 frames of the first closed one, in one run
 * (no flicker); the meta, its accessor, the ROI parameter structure, the
 * JSON export and the facekp-expression messages must all say the same. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include <facekp/gstfacelandmarksmeta.h>
#include "gst-test-util.h"

#define FRAME_NS (GST_SECOND / 30)
#define OPEN_FROM 15
#define OPEN_UNTIL 30
#define N_FRAMES 45
#define MAX_LAG 3
#define MOUTH_BIT (1u << FKP_EXPRESSION_MOUTH_OPEN)

static TestCanvas *
frame_canvas (const gchar *file)
{
  gchar *path = g_build_filename (FACEKP_TEST_DATA_DIR, file, NULL);
  gint w, h;
  guint8 *rgbx = test_decode_image_rgbx (path, &w, &h);
  fail_unless (rgbx != NULL, "cannot decode %s", path);
  TestCanvas *c = test_canvas_new (w, h, 0);
  memcpy (c->rgbx, rgbx, (gsize) w * h * 4);
  g_free (rgbx);
  g_free (path);
  return c;
}

/* Whether @out carries a drawing: an overlay composition, or pixels that
 * differ from the frame that went in. */
static gboolean
has_sticker (GstBuffer *in, GstBuffer *out)
{
  if (gst_buffer_get_video_overlay_composition_meta (out))
    return TRUE;
  GstMapInfo a, b;
  fail_unless (gst_buffer_map (in, &a, GST_MAP_READ));
  fail_unless (gst_buffer_map (out, &b, GST_MAP_READ));
  gboolean differ = a.size != b.size || memcmp (a.data, b.data, a.size) != 0;
  gst_buffer_unmap (in, &a);
  gst_buffer_unmap (out, &b);
  return differ;
}

/* The "export" value of @key in the face object of @line (the first face),
 * parsed by hand: the numbers follow "\"key\": ". */
static gdouble
json_number (const gchar *line, const gchar *key)
{
  gchar *needle = g_strdup_printf ("\"%s\": ", key);
  const gchar *at = strstr (line, needle);
  fail_unless (at != NULL, "no %s in %s", needle, line);
  gdouble v = g_ascii_strtod (at + strlen (needle), NULL);
  g_free (needle);
  return v;
}

GST_START_TEST (test_mouth_trigger_clip)
{
  TestCanvas *closed = frame_canvas ("expr-Tom_Sizemore_12.jpg");
  TestCanvas *open = frame_canvas ("expr-Tom_Sizemore_11.jpg");
  fail_unless (closed->width == open->width && closed->height == open->height);

  gchar *dir = g_dir_make_tmp ("facekp-expr-XXXXXX", NULL);
  gchar *svg = g_build_filename (FACEKP_TEST_DATA_DIR, "..", "..", "stickers", "packs",
                                 "expressions", "bubble.svg", NULL);
  gchar *pack_text = g_strdup_printf ("[pack]\nname=t\nversion=1\n\n[sticker bubble]\n"
                                      "image=%s\nanchor=mouth-centre\nsize=1\n"
                                      "trigger=mouth-open\n", svg);
  gchar *pack = g_build_filename (dir, "t.ini", NULL);
  gchar *jsonl = g_build_filename (dir, "faces.jsonl", NULL);
  fail_unless (g_file_set_contents (pack, pack_text, -1, NULL));
  gchar *launch = g_strdup_printf ("facekpfilter face-source=full-frame stickers=\"%s\" "
                                   "export-location=\"%s\" post-messages=every-frame", pack, jsonl);
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps (h, test_caps (GST_VIDEO_FORMAT_RGBx, closed->width, closed->height));
  GstBus *bus = gst_bus_new ();
  GstElement *filter = gst_harness_find_element (h, "facekpfilter");
  gst_element_set_bus (filter, bus);

  gboolean shown[N_FRAMES], state[N_FRAMES], started[N_FRAMES], ended[N_FRAMES];
  gfloat value[N_FRAMES];
  guint face_id = 0;
  for (int i = 0; i < N_FRAMES; i++) {
    const TestCanvas *c = i >= OPEN_FROM && i < OPEN_UNTIL ? open : closed;
    GstBuffer *in = test_canvas_to_buffer (c, GST_VIDEO_FORMAT_RGBx, i * FRAME_NS, FRAME_NS);
    GstBuffer *keep = gst_buffer_copy_deep (in);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    GstFaceLandmarksMeta *meta = gst_buffer_get_face_landmarks_meta (out);
    fail_unless (meta != NULL && meta->n_faces == 1);
    const FkpFace *f = &meta->faces[0];
    if (i == 0)
      face_id = f->id;
    fail_unless_equals_int (f->id, face_id);   /* one face all along */
    shown[i] = has_sticker (keep, out);
    state[i] = (f->expression_states & MOUTH_BIT) != 0;
    started[i] = (f->expression_started & MOUTH_BIT) != 0;
    ended[i] = (f->expression_ended & MOUTH_BIT) != 0;
    value[i] = f->expressions[FKP_EXPRESSION_MOUTH_OPEN];

    /* The accessor reads the same fields. */
    gfloat v;
    gboolean active, start;
    fail_unless (gst_face_landmarks_meta_get_expression (meta, 0, "mouth_open", &v, &active, &start));
    fail_unless (v == value[i] && active == state[i] && start == started[i]);
    fail_if (gst_face_landmarks_meta_get_expression (meta, 1, "mouth-open", &v, NULL, NULL));
    fail_if (gst_face_landmarks_meta_get_expression (meta, 0, "yawn", &v, NULL, NULL));

    /* The ROI parameter structure carries the values and the held states. */
    GstVideoRegionOfInterestMeta *roi = gst_buffer_get_video_region_of_interest_meta_id (out, (gint) f->id);
    fail_unless (roi != NULL);
    GstStructure *param = gst_video_region_of_interest_meta_get_param (roi, GST_FACE_LANDMARKS_ROI_PARAM_NAME);
    const GstStructure *values = gst_value_get_structure (gst_structure_get_value (param, "expressions"));
    const GValue *held = gst_structure_get_value (param, "active-expressions");
    fail_unless (values && held && GST_VALUE_HOLDS_ARRAY (held));
    for (int e = 0; e < FKP_EXPRESSION_N; e++) {
      gdouble d;
      fail_unless (gst_structure_get_double (values, fkp_expression_get_name (e), &d));
      fail_unless (fabs (d - f->expressions[e]) < 1e-6);
      gboolean listed = FALSE;
      for (guint k = 0; k < gst_value_array_get_size (held); k++)
        listed |= !g_strcmp0 (g_value_get_string (gst_value_array_get_value (held, k)),
                              fkp_expression_get_name (e));
      fail_unless_equals_int (listed, (f->expression_states >> e) & 1);
    }
    gst_buffer_unref (keep);
    gst_buffer_unref (out);
  }

  /* The sticker: one run, starting and ending at most MAX_LAG frames late. */
  int first = -1, last = -1, runs = 0;
  GString *trace = g_string_new (NULL);
  for (int i = 0; i < N_FRAMES; i++) {
    g_string_append_printf (trace, "%d:%.2f%s ", i, value[i], shown[i] ? "*" : "");
    if (shown[i] && (i == 0 || !shown[i - 1]))
      runs++;
    if (shown[i]) {
      first = first < 0 ? i : first;
      last = i;
    }
    fail_unless_equals_int (shown[i], state[i]);   /* drawn exactly while the state holds */
    fail_unless_equals_int (started[i], state[i] && (i == 0 || !state[i - 1]));
    fail_unless_equals_int (ended[i], !state[i] && i > 0 && state[i - 1]);
  }
  GST_INFO ("mouth-open per frame (* = sticker): %s", trace->str);
  fail_unless (runs == 1, "sticker flickers or never shows: %s", trace->str);
  fail_unless (first >= OPEN_FROM && first <= OPEN_FROM + MAX_LAG, "appears at %d: %s", first,
               trace->str);
  fail_unless (last + 1 >= OPEN_UNTIL && last + 1 <= OPEN_UNTIL + MAX_LAG,
               "disappears at %d: %s", last + 1, trace->str);
  g_string_free (trace, TRUE);

  /* One facekp-expression message per mouth-open change, with its frame's times. */
  int n_mouth = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "facekp-expression")) {
      gint id;
      gboolean on;
      guint64 frame, rt, ts;
      gdouble v;
      const gchar *name = gst_structure_get_string (s, "expression");
      fail_unless (name && gst_structure_get_int (s, "id", &id)
                   && gst_structure_get_boolean (s, "state", &on)
                   && gst_structure_get_uint64 (s, "frame", &frame)
                   && gst_structure_get_uint64 (s, "running-time", &rt)
                   && gst_structure_get_uint64 (s, "timestamp", &ts)
                   && gst_structure_get_double (s, "value", &v));
      fail_unless_equals_int (id, face_id);
      fail_unless_equals_uint64 (rt, frame * FRAME_NS);
      fail_unless_equals_uint64 (ts, frame * FRAME_NS);
      if (!strcmp (name, "mouth-open")) {
        n_mouth++;
        fail_unless (frame < N_FRAMES);
        fail_unless (on ? started[frame] : ended[frame]);
        fail_unless (fabs (v - value[frame]) < 1e-6);
      }
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (n_mouth, 2);

  /* The export: every line's value, and the event on the frame it starts. */
  gst_element_set_bus (filter, NULL);
  gst_object_unref (filter);
  gst_harness_teardown (h);   /* closes the export file */
  gchar *text = NULL;
  fail_unless (g_file_get_contents (jsonl, &text, NULL, NULL));
  gchar **lines = g_strsplit (text, "\n", -1);
  fail_unless (g_strv_length (lines) >= N_FRAMES);
  for (int i = 0; i < N_FRAMES; i++) {
    fail_unless (strstr (lines[i], "\"expressions\": {\"mouth_open\": ") != NULL, "%s", lines[i]);
    fail_unless (fabs (json_number (lines[i], "mouth_open") - value[i]) <= 0.0005 + 1e-6);
    const gchar *events = strstr (lines[i], "\"events\": [");
    fail_unless (events != NULL);
    gboolean listed = strstr (events, "\"mouth-open\"") != NULL;
    fail_unless_equals_int (listed, started[i]);
  }
  g_strfreev (lines);
  g_free (text);

  g_unlink (jsonl);
  g_unlink (pack);
  g_rmdir (dir);
  g_free (launch);
  g_free (pack_text);
  g_free (svg);
  g_free (pack);
  g_free (jsonl);
  g_free (dir);
  gst_object_unref (bus);
  test_canvas_free (closed);
  test_canvas_free (open);
}
GST_END_TEST;

static Suite *
expressions_suite (void)
{
  Suite *s = suite_create ("facekpfilter-expressions");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_mouth_trigger_clip);
  return s;
}

GST_CHECK_MAIN (expressions);
