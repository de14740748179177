/* print-landmarks: reads GstFaceLandmarksMeta in a pad probe and prints each face.
 *
 *   print-landmarks                         # the first webcam (v4l2src)
 *   print-landmarks clip.avi                # any file decodebin can read
 *   print-landmarks --export faces.jsonl clip.avi
 *
 * Output, one line per frame and one per face:
 *
 *   frame 12 pts 0:00:00.800000000 size 640x480 faces 2
 *     face 1 score 0.912 box 211.4 95.0 180.2 201.9 left-eye 250.3 160.1 right-eye 318.7 158.4 nose 284.9 205.6 mouth 283.1 250.7
 *
 * Built with the project (meson) or on its own against an installed facekp:
 *
 *   cc print-landmarks.c -o print-landmarks $(pkg-config --cflags --libs facekp-gst-meta gstreamer-1.0)
 */
#include <gst/gst.h>
#include <facekp/gstfacelandmarksmeta.h>

/* iBUG 68-point indices: the eye contours (36-41, 42-47), the nose tip and the
 * inner lip contour (60-67) give the points most applications want. */
#define LEFT_EYE_FIRST 36
#define RIGHT_EYE_FIRST 42
#define EYE_POINTS 6
#define NOSE_TIP 30
#define INNER_LIP_FIRST 60
#define INNER_LIP_POINTS 8

static void
mean_point (const FkpFace *face, int first, int count, double *x, double *y)
{
  *x = *y = 0.0;
  for (int i = first; i < first + count; i++) {
    *x += face->points[i][0];
    *y += face->points[i][1];
  }
  *x /= count;
  *y /= count;
}

static GstPadProbeReturn
print_faces (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  guint64 *frame = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstFaceLandmarksMeta *meta = gst_buffer_get_face_landmarks_meta (buffer);
  (void) pad;

  if (meta == NULL) {
    /* facekpfilter attaches one to every buffer; missing means it is not upstream. */
    g_print ("frame %" G_GUINT64_FORMAT " has no face landmarks meta\n", *frame);
    (*frame)++;
    return GST_PAD_PROBE_OK;
  }
  g_print ("frame %" G_GUINT64_FORMAT " pts %" GST_TIME_FORMAT " size %ux%u faces %u\n",
      *frame, GST_TIME_ARGS (GST_BUFFER_PTS (buffer)), meta->width, meta->height,
      meta->n_faces);
  for (guint i = 0; i < meta->n_faces; i++) {
    const FkpFace *face = &meta->faces[i];
    double lx, ly, rx, ry, mx, my;
    mean_point (face, LEFT_EYE_FIRST, EYE_POINTS, &lx, &ly);
    mean_point (face, RIGHT_EYE_FIRST, EYE_POINTS, &rx, &ry);
    mean_point (face, INNER_LIP_FIRST, INNER_LIP_POINTS, &mx, &my);
    g_print ("  face %u score %.3f box %.1f %.1f %.1f %.1f left-eye %.1f %.1f "
        "right-eye %.1f %.1f nose %.1f %.1f mouth %.1f %.1f\n",
        face->id, face->score, face->box.x, face->box.y, face->box.width, face->box.height,
        lx, ly, rx, ry, face->points[NOSE_TIP][0], face->points[NOSE_TIP][1], mx, my);
  }
  (*frame)++;
  return GST_PAD_PROBE_OK;
}

/* Quotes a value for gst_parse_launch: paths may hold spaces. */
static gchar *
quoted (const gchar *value)
{
  GString *out = g_string_new ("\"");
  for (const gchar *c = value; *c; c++) {
    if (*c == '"' || *c == '\\')
      g_string_append_c (out, '\\');
    g_string_append_c (out, *c);
  }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

int
main (int argc, char **argv)
{
  gchar *device = NULL, *stickers = NULL, *export_location = NULL;
  gboolean show_window = FALSE;
  GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_FILENAME, &device, "Camera device when no FILE is given (default /dev/video0)", "DEV" },
    { "stickers", 's', 0, G_OPTION_ARG_STRING, &stickers, "Sticker pack drawn in the window (default none)", "PACK" },
    { "show", 0, 0, G_OPTION_ARG_NONE, &show_window, "Show the video in a window instead of discarding it", NULL },
    { "export", 'e', 0, G_OPTION_ARG_FILENAME, &export_location, "Also let facekpfilter write its JSON lines here", "FILE" },
    { NULL }
  };
  GError *error = NULL;
  GOptionContext *context = g_option_context_new ("[FILE] - print the faces facekpfilter finds");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    g_printerr ("print-landmarks: %s\n", error->message);
    return 2;
  }
  g_option_context_free (context);
  if (argc > 2) {
    g_printerr ("print-landmarks: one FILE at most\n");
    return 2;
  }

  gchar *source;
  if (argc == 2) {
    gchar *location = quoted (argv[1]);
    source = g_strdup_printf ("filesrc location=%s ! decodebin", location);
    g_free (location);
  } else {
    gchar *location = quoted (device ? device : "/dev/video0");
    /* decodebin passes raw video through and decodes MJPEG cameras. */
    source = g_strdup_printf ("v4l2src device=%s ! decodebin", location);
    g_free (location);
  }
  gchar *pack = quoted (stickers ? stickers : "");
  gchar *export_prop = NULL;
  if (export_location) {
    gchar *location = quoted (export_location);
    export_prop = g_strdup_printf (" export-location=%s", location);
    g_free (location);
  }
  gchar *description = g_strdup_printf (
      "%s ! videoconvert ! facekpfilter name=facekp stickers=%s post-messages=none%s ! %s",
      source, pack, export_prop ? export_prop : "",
      show_window ? "videoconvert ! autovideosink" : "fakesink sync=false");

  /* A missing element (facekpfilter not on GST_PLUGIN_PATH) comes back as a
   * partial pipeline plus an error: treat both as failure. */
  GstElement *pipeline = gst_parse_launch (description, &error);
  if (error != NULL) {
    g_printerr ("print-landmarks: cannot build '%s': %s\n", description, error->message);
    g_clear_error (&error);
    if (pipeline)
      gst_object_unref (pipeline);
    return 1;
  }

  guint64 frame = 0;
  GstElement *facekp = gst_bin_get_by_name (GST_BIN (pipeline), "facekp");
  GstPad *src = gst_element_get_static_pad (facekp, "src");
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, print_faces, &frame, NULL);
  gst_object_unref (src);
  gst_object_unref (facekp);

  int status = 0;
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    status = 1;   /* the bus holds the reason */
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    GError *gerror = NULL;
    gchar *debug = NULL;
    gst_message_parse_error (message, &gerror, &debug);
    g_printerr ("print-landmarks: %s: %s\n", GST_OBJECT_NAME (GST_MESSAGE_SRC (message)),
        gerror->message);
    if (debug)
      g_printerr ("  (%s)\n", debug);
    g_clear_error (&gerror);
    g_free (debug);
    status = 1;
  }
  gst_message_unref (message);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  g_print ("%" G_GUINT64_FORMAT " frames\n", frame);
  g_free (description);
  g_free (export_prop);
  g_free (pack);
  g_free (source);
  g_free (device);
  g_free (stickers);
  g_free (export_location);
  return status;
}
