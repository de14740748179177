/* GstFaceLandmarksMeta on its own: contents, copies, rescaling through
 * videoscale, and the API's tags.  Needs no model. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <facekp/gstfacelandmarksmeta.h>
#include <math.h>

static void
make_face (FkpFace *f, guint id, float x, float y)
{
  memset (f, 0, sizeof *f);
  f->id = id;
  f->score = 0.75f;
  f->box.x = x;
  f->box.y = y;
  f->box.width = 100;
  f->box.height = 120;
  for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
    f->points[p][0] = x + p;
    f->points[p][1] = y + 2 * p;
    f->point_error[p] = 1.0f + 0.1f * p;
  }
  f->roll = 30.0f;   /* any value: only a scale that is not uniform measures it again */
  f->yaw = -12.5f + x / 100.0f;
  f->pitch = 4.25f + y / 100.0f;
}

GST_START_TEST (test_add_get_copies_faces)
{
  GstBuffer *buf = gst_buffer_new ();
  FkpFace faces[2];
  make_face (&faces[0], 3, 10, 20);
  make_face (&faces[1], 7, 200, 40);

  fail_unless (gst_buffer_get_face_landmarks_meta (buf) == NULL);
  GstFaceLandmarksMeta *meta = gst_buffer_add_face_landmarks_meta (buf, faces, 2, 640, 480);
  fail_unless (meta != NULL);
  /* The meta owns a copy: changing the caller's array changes nothing. */
  faces[0].id = 99;
  faces[1].points[30][0] = -1;

  meta = gst_buffer_get_face_landmarks_meta (buf);
  fail_unless (meta != NULL);
  fail_unless_equals_int (meta->n_faces, 2);
  fail_unless_equals_int (meta->width, 640);
  fail_unless_equals_int (meta->height, 480);
  fail_unless_equals_int (meta->faces[0].id, 3);
  fail_unless_equals_int (meta->faces[1].id, 7);
  fail_unless_equals_float (meta->faces[1].points[30][0], 230.0f);
  fail_unless_equals_float (meta->faces[1].points[30][1], 100.0f);
  fail_unless_equals_float (meta->faces[0].score, 0.75f);

  /* A copied buffer carries an equal meta with its own storage. */
  GstBuffer *copy = gst_buffer_copy (buf);
  GstFaceLandmarksMeta *cmeta = gst_buffer_get_face_landmarks_meta (copy);
  fail_unless (cmeta != NULL);
  fail_unless (cmeta->faces != meta->faces);
  fail_unless_equals_int (cmeta->n_faces, 2);
  fail_unless (memcmp (cmeta->faces, meta->faces, 2 * sizeof (FkpFace)) == 0);
  gst_buffer_unref (buf);
  /* Still valid after the original is gone. */
  fail_unless_equals_int (cmeta->faces[1].id, 7);
  gst_buffer_unref (copy);
}
GST_END_TEST;

GST_START_TEST (test_zero_faces)
{
  GstBuffer *buf = gst_buffer_new ();
  GstFaceLandmarksMeta *meta = gst_buffer_add_face_landmarks_meta (buf, NULL, 0, 320, 240);
  fail_unless (meta != NULL);
  fail_unless_equals_int (meta->n_faces, 0);
  fail_unless (meta->faces == NULL);
  GstBuffer *copy = gst_buffer_copy (buf);
  fail_unless (gst_buffer_get_face_landmarks_meta (copy) != NULL);
  gst_buffer_unref (copy);
  gst_buffer_unref (buf);
}
GST_END_TEST;

GST_START_TEST (test_api_tags)
{
  GType api = GST_FACE_LANDMARKS_META_API_TYPE;
  fail_unless (gst_meta_api_type_has_tag (api, g_quark_from_string (GST_META_TAG_VIDEO_STR)));
  fail_unless (gst_meta_api_type_has_tag (api, g_quark_from_string (GST_META_TAG_VIDEO_SIZE_STR)));
  fail_if (gst_meta_api_type_has_tag (api,
      g_quark_from_string (GST_META_TAG_VIDEO_ORIENTATION_STR)));
  fail_unless (gst_face_landmarks_meta_get_info ()->api == api);
  fail_unless_equals_string (g_type_name (api), "GstFaceLandmarksMetaAPI");
}
GST_END_TEST;

/* The copies and accessors bindings read the faces through (FacekpMeta.Face). */
GST_START_TEST (test_face_accessors)
{
  GstBuffer *buf = gst_buffer_new ();
  FkpFace faces[2];
  make_face (&faces[0], 3, 10, 20);
  make_face (&faces[1], 7, 200, 40);
  faces[1].score = 0.5f;
  GstFaceLandmarksMeta *meta = gst_buffer_add_face_landmarks_meta (buf, faces, 2, 640, 480);

  fail_unless (gst_face_landmarks_meta_get_face (meta, 2) == NULL);
  GList *list = gst_face_landmarks_meta_get_faces (meta);
  fail_unless_equals_int (g_list_length (list), 2);
  gst_buffer_unref (buf);   /* the copies outlive the meta */

  guint i = 0;
  for (GList *l = list; l; l = l->next, i++) {
    const GstFaceLandmarksFace *face = l->data;
    const FkpFace *want = &faces[i];
    fail_unless_equals_int (gst_face_landmarks_face_get_id (face), want->id);
    fail_unless_equals_float (gst_face_landmarks_face_get_score (face), want->score);
    gfloat x, y, w, h;
    gst_face_landmarks_face_get_box (face, &x, &y, &w, &h);
    fail_unless (x == want->box.x && y == want->box.y && w == want->box.width
                 && h == want->box.height);
    guint n_values = 0;
    const gfloat *flat = gst_face_landmarks_face_get_points (face, &n_values);
    fail_unless_equals_int (n_values, 2 * FKP_FACE_N_POINTS);
    for (guint p = 0; p < FKP_FACE_N_POINTS; p++) {
      fail_unless (flat[2 * p] == want->points[p][0] && flat[2 * p + 1] == want->points[p][1]);
      gst_face_landmarks_face_get_point (face, p, &x, &y);
      fail_unless (x == want->points[p][0] && y == want->points[p][1]);
    }
    gfloat yaw, pitch, roll;
    gst_face_landmarks_face_get_pose (face, &yaw, &pitch, &roll);
    fail_unless (yaw == want->yaw && pitch == want->pitch && roll == want->roll);
    gst_face_landmarks_face_get_pose (face, NULL, NULL, NULL);   /* every output optional */
    GstFaceLandmarksFace *copy = g_boxed_copy (GST_TYPE_FACE_LANDMARKS_FACE, face);
    fail_unless (copy != face);
    fail_unless_equals_int (gst_face_landmarks_face_get_id (copy), want->id);
    g_boxed_free (GST_TYPE_FACE_LANDMARKS_FACE, copy);
  }
  g_list_free_full (list, (GDestroyNotify) gst_face_landmarks_face_free);
  fail_unless_equals_string (g_type_name (GST_TYPE_FACE_LANDMARKS_FACE), "GstFaceLandmarksFace");

  /* No faces: an empty list. */
  buf = gst_buffer_new ();
  meta = gst_buffer_add_face_landmarks_meta (buf, NULL, 0, 320, 240);
  fail_unless (gst_face_landmarks_meta_get_faces (meta) == NULL);
  fail_unless (gst_face_landmarks_meta_get_face (meta, 0) == NULL);
  gst_buffer_unref (buf);
}
GST_END_TEST;

/* Pushes one 320x240 frame with a meta through @launch and returns the output's meta
 * (the output buffer is stored in @out). */
static GstFaceLandmarksMeta *
push_through (const gchar *launch, const FkpFace *faces, guint n, GstBuffer **out)
{
  GstHarness *h = gst_harness_new_parse (launch);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 320, 240);
  GstBuffer *in = gst_harness_create_buffer (h, GST_VIDEO_INFO_SIZE (&info));
  gst_buffer_memset (in, 0, 128, GST_VIDEO_INFO_SIZE (&info));
  gst_buffer_add_face_landmarks_meta (in, faces, n, 320, 240);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  *out = gst_harness_pull (h);
  fail_unless (*out != NULL);
  gst_harness_teardown (h);
  return gst_buffer_get_face_landmarks_meta (*out);
}

GST_START_TEST (test_videoscale_rescales)
{
  FkpFace faces[2];
  make_face (&faces[0], 1, 10, 20);
  make_face (&faces[1], 2, 150, 60);
  GstBuffer *out;

  /* Non-uniform scale: x by 2, y by 0.5. */
  GstFaceLandmarksMeta *meta = push_through ("videoscale ! capsfilter caps=video/x-raw,width=640,height=120",
                                             faces, 2, &out);
  fail_unless (meta != NULL);
  fail_unless_equals_int (meta->width, 640);
  fail_unless_equals_int (meta->height, 120);
  fail_unless_equals_int (meta->n_faces, 2);
  for (guint i = 0; i < 2; i++) {
    fail_unless_equals_int (meta->faces[i].id, faces[i].id);
    fail_unless_equals_float (meta->faces[i].box.x, faces[i].box.x * 2);
    fail_unless_equals_float (meta->faces[i].box.y, faces[i].box.y * 0.5f);
    fail_unless_equals_float (meta->faces[i].box.width, faces[i].box.width * 2);
    fail_unless_equals_float (meta->faces[i].box.height, faces[i].box.height * 0.5f);
    for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
      fail_unless_equals_float (meta->faces[i].points[p][0], faces[i].points[p][0] * 2);
      fail_unless_equals_float (meta->faces[i].points[p][1], faces[i].points[p][1] * 0.5f);
      /* An error is a distance in any direction: the mean of the two scales. */
      fail_unless (fabsf (meta->faces[i].point_error[p] - faces[i].point_error[p] * 1.25f) < 1e-5f);
    }
    /* Points p sit at (x + p, y + 2p) before, (2x + 2p, y / 2 + p) after: every eye
     * line runs along (2, 1), atan2 (1, 2) = 26.565 degrees. */
    fail_unless (fabs (meta->faces[i].roll - atan2 (1.0, 2.0) * 180.0 / G_PI) < 1e-3);
  }
  gst_buffer_unref (out);

  /* Same size through videoconvert: unchanged. */
  meta = push_through ("videoconvert ! capsfilter caps=video/x-raw,format=RGBx", faces, 2, &out);
  fail_unless (meta != NULL);
  fail_unless_equals_int (meta->width, 320);
  fail_unless (memcmp (meta->faces, faces, sizeof faces) == 0);
  gst_buffer_unref (out);
}
GST_END_TEST;

static Suite *
meta_suite (void)
{
  Suite *s = suite_create ("facelandmarksmeta");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_add_get_copies_faces);
  tcase_add_test (tc, test_zero_faces);
  tcase_add_test (tc, test_api_tags);
  tcase_add_test (tc, test_face_accessors);
  tcase_add_test (tc, test_videoscale_rescales);
  return s;
}

GST_CHECK_MAIN (meta);
