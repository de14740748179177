/* facekpfilter when the stream is under pressure: frames QoS drops still
 * have their export line, and a model change while playing loads on a
 * worker, so that no frame waits for it (issue #20). */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <facekp/face.h>
#include <facekp/gstfacelandmarksmeta.h>
#include "gst-test-util.h"

#define FRAME_NS (GST_SECOND / 30)

static GstHarness *
new_harness (const gchar *launch, gint width, gint height)
{
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps (h, test_caps (GST_VIDEO_FORMAT_I420, width, height));
  return h;
}

static GstBuffer *
gray_frame (gint width, gint height, GstClockTime pts)
{
  TestCanvas *c = test_canvas_new (width, height, 120);
  GstBuffer *buf = test_canvas_to_buffer (c, GST_VIDEO_FORMAT_I420, pts, FRAME_NS);
  test_canvas_free (c);
  return buf;
}

/* ---- QoS: one export line per stream frame ---------------------------- */

GST_START_TEST (test_qos_drops_exported)
{
  gchar *dir = g_dir_make_tmp ("facekp-qos-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "faces.jsonl", NULL);
  gchar *launch = g_strdup_printf ("facekpfilter face-source=full-frame stickers=none "
                                   "export-location=\"%s\"", path);
  GstHarness *h = new_harness (launch, 160, 120);
  g_free (launch);

  /* Frames 0-2 pass; then downstream says it is late up to frame 5's
   * running time, so GstBaseTransform drops 3, 4 and 5; 6-9 pass. */
  const guint n_frames = 10, first_late = 3, last_late = 5;
  guint n_out = 0;
  for (guint i = 0; i < n_frames; i++) {
    if (i == first_late) {
      GstClockTime now = (first_late - 1) * FRAME_NS;
      fail_unless (gst_harness_push_upstream_event (h, gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW,
          1.5, (GstClockTimeDiff) ((last_late + 1) * FRAME_NS - now) - 1, now)));
    }
    fail_unless_equals_int (gst_harness_push (h, gray_frame (160, 120, i * FRAME_NS)),
                            GST_FLOW_OK);
    GstBuffer *out;
    while ((out = gst_harness_try_pull (h))) {
      n_out++;
      gst_buffer_unref (out);
    }
  }
  fail_unless_equals_int (n_out, n_frames - (last_late - first_late + 1));

  gchar *text = NULL;
  fail_unless (g_file_get_contents (path, &text, NULL, NULL));
  gchar **lines = g_strsplit (text, "\n", -1);
  fail_unless_equals_int (g_strv_length (lines), n_frames + 1);   /* "" after the last \n */
  for (guint i = 0; i < n_frames; i++) {
    gchar *head = g_strdup_printf ("{\"frame\": %u, \"pts\": %" G_GUINT64_FORMAT ", ", i,
                                   (guint64) (i * FRAME_NS));
    fail_unless (g_str_has_prefix (lines[i], head), "line %u: %s", i, lines[i]);
    gboolean late = i >= first_late && i <= last_late;
    if (late)
      fail_unless (strstr (lines[i], "\"width\": 160, \"height\": 120, \"dropped\": true, "
                                     "\"faces\": []}") != NULL, "line %u: %s", i, lines[i]);
    else
      fail_unless (strstr (lines[i], "\"dropped\"") == NULL
                   && strstr (lines[i], "\"faces\": [{\"id\": ") != NULL,
                   "line %u: %s", i, lines[i]);
    g_free (head);
  }
  g_strfreev (lines);
  g_free (text);
  gst_harness_teardown (h);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}
GST_END_TEST;

/* ---- Model swaps off the streaming thread ---------------------------- */

static gboolean
pop_models_message (GstBus *bus)
{
  gboolean found = FALSE;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING
                                            | GST_MESSAGE_ERROR))) {
    fail_if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT, "warning or error during a swap");
    found |= gst_message_has_name (msg, "facekp-models");
    gst_message_unref (msg);
  }
  return found;
}

#ifdef __linux__
/* Threads of this process at nice 19 (field 19 of /proc/self/task/TID/stat)
 * whose name (its field 2, which may hold spaces: fields are counted from
 * its closing parenthesis) is @name, or any name for NULL. */
static guint
count_nice19_threads (const gchar *name)
{
  guint n = 0;
  GDir *dir = g_dir_open ("/proc/self/task", 0, NULL);
  fail_unless (dir != NULL);
  for (const gchar *tid; (tid = g_dir_read_name (dir));) {
    gchar *path = g_build_filename ("/proc/self/task", tid, "stat", NULL);
    gchar *text = NULL;
    if (g_file_get_contents (path, &text, NULL, NULL)) {
      const gchar *open = strchr (text, '('), *close = strrchr (text, ')');
      gchar **fields = g_strsplit (close ? close + 2 : "", " ", -1);
      /* fields[0] is field 3 (state); nice is field 19 */
      gboolean named = name == NULL
                       || (open && close && (gsize) (close - open - 1) == strlen (name)
                           && strncmp (open + 1, name, strlen (name)) == 0);
      if (named && g_strv_length (fields) > 16 && atoi (fields[16]) == 19)
        n++;
      g_strfreev (fields);
    }
    g_free (text);
    g_free (path);
  }
  g_dir_close (dir);
  return n;
}
#endif

/* The face in @buf's meta (one expected); its id. */
static guint
only_face_id (GstBuffer *buf)
{
  GstFaceLandmarksMeta *meta = gst_buffer_get_face_landmarks_meta (buf);
  fail_unless (meta != NULL && meta->n_faces == 1, "expected one face, got %u",
               meta ? meta->n_faces : 0);
  return meta->faces[0].id;
}

/* A model change while playing: the new models load on the worker while
 * frames keep coming, the face keeps its id across the swap (the tracks move
 * to the new pipeline, so the swap-in frame needs no detector run of its
 * own), and, on Linux, the worker runs at nice 19 and the landmark net's
 * helper threads (threads=2) at the stream's priority: they are made on the
 * streaming thread, not inherited from the worker.  How long frames take during a
 * swap is measured by bench/gst/bench-model-swap, not asserted here. */
GST_START_TEST (test_model_swap_keeps_streaming)
{
  const gint width = 320, height = 240;
  guint n_faces = 0;
  TestFace *faces = test_faces_load (FACEKP_TEST_DATA_DIR, &n_faces);
  fail_unless (n_faces >= 1);
  TestCanvas *canvas = test_canvas_new (width, height, 110);
  test_canvas_paste_height (canvas, &faces[0], 90, 40, 170);

  GstHarness *h = new_harness ("facekpfilter stickers=none post-messages=none threads=2 "
                               "detect-latency=0", width, height);
  GstElement *f = gst_harness_find_element (h, "facekpfilter");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);

  const guint warmup = 10, after = 10, max_frames = 2000;
  guint n_swap_frames = 0, frame = 0, frames_after = 0, id_before = 0;
  gboolean swapping = FALSE, swapped = FALSE;
  gchar *model = fkp_face_find_model (FKP_FACE_LANDMARK_MODEL_NAME, NULL);
  for (; frame < max_frames && frames_after < after; frame++) {
    GstBuffer *in = test_canvas_to_buffer (canvas, GST_VIDEO_FORMAT_I420, frame * FRAME_NS,
                                           FRAME_NS);
    if (frame == 3) {
      /* A discontinuity: the tracks end and the face comes back with id 2,
       * which a fresh pipeline (ids from 1) would not give it. */
      GST_BUFFER_FLAG_SET (in, GST_BUFFER_FLAG_DISCONT);
    }
    if (frame == warmup) {
      /* The same file by path: a new pipeline, both models loaded again. */
      g_object_set (f, "model", model, NULL);
      swapping = TRUE;
    }
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    guint id = only_face_id (out);
    gst_buffer_unref (out);
    if (frame == warmup - 1) {
      id_before = id;
      fail_unless (id_before > 1, "the discontinuity did not start a new track");
    }
    if (frame >= warmup)
      fail_unless_equals_int (id, id_before);
    if (swapping && pop_models_message (bus)) {
      swapping = FALSE;
      swapped = TRUE;
    }
    if (swapping) {
      n_swap_frames++;
      /* Frames keep coming while the worker loads; a nice-19 worker that
       * gives way to frames needs time between them. */
      g_usleep (20000);
    }
    if (swapped)
      frames_after++;
  }
  g_free (model);
  fail_unless (swapped, "the new models never took over");
  /* The stream ran while the worker loaded: more than the one frame that
   * asked for the change. */
  fail_unless (n_swap_frames >= 2, "no frame ran during the load");
#ifdef __linux__
  /* The worker is the one thread at nice 19 (the detector runs on the
   * streaming thread here, detect-latency=0): no net helper inherited it. */
  fail_unless_equals_int (count_nice19_threads ("facekp-models"), 1);
  fail_unless_equals_int (count_nice19_threads (NULL), 1);
#endif

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_object_unref (f);
  gst_harness_teardown (h);
#ifdef __linux__
  /* The workers ended with the element: a nice-19 thread left in GLib's
   * pool of unused threads would serve the next GThreadPool made
   * (GStreamer's streaming threads among them) at nice 19. */
  fail_unless_equals_int (count_nice19_threads (NULL), 0);
#endif
  test_canvas_free (canvas);
  test_faces_free (faces, n_faces);
}
GST_END_TEST;

/* A model that cannot load: a warning, and the stream keeps the old one. */
GST_START_TEST (test_model_swap_failure_keeps_old)
{
  GstHarness *h = new_harness ("facekpfilter face-source=full-frame stickers=none "
                               "post-messages=none", 160, 120);
  GstElement *f = gst_harness_find_element (h, "facekpfilter");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  g_object_set (f, "model", "/nonexistent/facekp-landmarks.onnx", NULL);
  gboolean warned = FALSE;
  for (guint i = 0; i < 400 && !warned; i++) {
    fail_unless_equals_int (gst_harness_push (h, gray_frame (160, 120, i * FRAME_NS)),
                            GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull (h);
    /* Full-frame: one face on every frame, with the old models. */
    GstFaceLandmarksMeta *meta = gst_buffer_get_face_landmarks_meta (out);
    fail_unless (meta && meta->n_faces == 1);
    gst_buffer_unref (out);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
    if (msg) {
      GError *err = NULL;
      gst_message_parse_warning (msg, &err, NULL);
      fail_unless (strstr (err->message, "/nonexistent/facekp-landmarks.onnx") != NULL);
      g_error_free (err);
      gst_message_unref (msg);
      warned = TRUE;
    } else {
      g_usleep (5000);
    }
  }
  fail_unless (warned);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_object_unref (f);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
reliability_suite (void)
{
  Suite *s = suite_create ("facekp-reliability");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 600);
  tcase_add_test (tc, test_qos_drops_exported);
  tcase_add_test (tc, test_model_swap_keeps_streaming);
  tcase_add_test (tc, test_model_swap_failure_keeps_old);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (reliability);
