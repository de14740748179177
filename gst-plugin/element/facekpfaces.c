/* What facekpfilter attaches and posts for a frame's faces, besides the
 * overlay (facekpoverlay.c) and the JSON export (facekpexport.c): the "face"
 * region-of-interest metas (and reading upstream's as boxes), the "facekp"
 * bus message and the "facekp-expression" messages.  The first two carry
 * the same box, landmark and expression encoding. */
#include "facekpfaces.h"

#include <math.h>
#include <facekp/face.h>

/* Takes the "face" ROI metas upstream attached as this frame's boxes
 * (face-source=upstream).  They are removed from the buffer: the element
 * attaches its own, one per face, with the landmarks. */
static gboolean
take_face_roi (GstBuffer *buffer, GstMeta **meta, gpointer user_data)
{
  GArray *boxes = user_data;
  (void) buffer;
  if ((*meta)->info->api != GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)
    return TRUE;
  GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) *meta;
  if (roi->roi_type != g_quark_from_static_string ("face"))
    return TRUE;
  FkpFaceBox box = { roi->x, roi->y, roi->w, roi->h };
  g_array_append_val (boxes, box);
  *meta = NULL;
  return TRUE;
}

GArray *
facekp_faces_take_upstream_boxes (GstBuffer *buffer)
{
  GArray *boxes = g_array_new (FALSE, FALSE, sizeof (FkpFaceBox));
  gst_buffer_foreach_meta (buffer, take_face_roi, boxes);
  return boxes;
}

/* Fills @array (unset) with the 136 coordinates x0, y0, ... x67, y67. */
static void
landmarks_array_init (GValue *array, const FkpFace *face)
{
  g_value_init (array, GST_TYPE_ARRAY);
  GValue v = G_VALUE_INIT;
  g_value_init (&v, G_TYPE_DOUBLE);
  for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
    for (int c = 0; c < 2; c++) {
      g_value_set_double (&v, face->points[p][c]);
      gst_value_array_append_value (array, &v);
    }
  }
  g_value_unset (&v);
}

/* What a face's structure carries besides its box and points: the
 * detector's score, presence and point errors when the model gives them,
 * the head pose: roll, yaw, pitch (docs/element.md). */
static void
set_quality_fields (GstStructure *s, const FkpFace *f)
{
  gst_structure_set (s, "detector-score", G_TYPE_DOUBLE, (gdouble) f->detector_score,
      "roll", G_TYPE_DOUBLE, (gdouble) f->roll, "yaw", G_TYPE_DOUBLE, (gdouble) f->yaw,
      "pitch", G_TYPE_DOUBLE, (gdouble) f->pitch, NULL);
  if (f->presence >= 0.0f)
    gst_structure_set (s, "presence", G_TYPE_DOUBLE, (gdouble) f->presence, NULL);
  if (f->point_error[0] >= 0.0f) {
    GValue errors = G_VALUE_INIT, v = G_VALUE_INIT;
    g_value_init (&errors, GST_TYPE_ARRAY);
    g_value_init (&v, G_TYPE_DOUBLE);
    for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
      g_value_set_double (&v, f->point_error[p]);
      gst_value_array_append_value (&errors, &v);
    }
    g_value_unset (&v);
    gst_structure_take_value (s, "point-error", &errors);
  }
}

/* The face box as whole pixels, rounded outwards and clipped to the frame:
 * what ROI metas and bus messages carry (both use unsigned integers). */
static void
pixel_box (const FkpFaceBox *b, gint width, gint height, guint box[4])
{
  gint x0 = CLAMP ((gint) floorf (b->x), 0, width);
  gint y0 = CLAMP ((gint) floorf (b->y), 0, height);
  gint x1 = CLAMP ((gint) ceilf (b->x + b->width), x0, width);
  gint y1 = CLAMP ((gint) ceilf (b->y + b->height), y0, height);
  box[0] = (guint) x0;
  box[1] = (guint) y0;
  box[2] = (guint) (x1 - x0);
  box[3] = (guint) (y1 - y0);
}

/* Adds "expressions", the face's expression values as a "facekp/expressions"
 * structure, and "active-expressions", the names of those whose state holds. */
static void
add_expressions (GstStructure *to, const FkpFace *face)
{
  GstStructure *values = gst_structure_new_empty ("facekp/expressions");
  GValue active = G_VALUE_INIT;
  g_value_init (&active, GST_TYPE_ARRAY);
  GValue name = G_VALUE_INIT;
  g_value_init (&name, G_TYPE_STRING);
  for (int e = 0; e < FKP_EXPRESSION_N; e++) {
    gst_structure_set (values, fkp_expression_get_name (e), G_TYPE_DOUBLE,
                       (gdouble) face->expressions[e], NULL);
    if (face->expression_states & (1u << e)) {
      g_value_set_static_string (&name, fkp_expression_get_name (e));
      gst_value_array_append_value (&active, &name);
    }
  }
  g_value_unset (&name);
  gst_structure_set (to, "expressions", GST_TYPE_STRUCTURE, values, NULL);
  gst_structure_free (values);
  gst_structure_take_value (to, "active-expressions", &active);
}

void
facekp_faces_attach_roi_metas (GstBuffer *buffer, const FkpFace *faces, guint n_faces,
                               gint width, gint height)
{
  for (guint i = 0; i < n_faces; i++) {
    const FkpFace *f = &faces[i];
    guint box[4];
    pixel_box (&f->box, width, height, box);
    GstVideoRegionOfInterestMeta *roi = gst_buffer_add_video_region_of_interest_meta (buffer,
        "face", box[0], box[1], box[2], box[3]);
    roi->id = (gint) f->id;
    GstStructure *param = gst_structure_new (GST_FACE_LANDMARKS_ROI_PARAM_NAME,
        "id", G_TYPE_INT, (gint) f->id, "score", G_TYPE_DOUBLE, (gdouble) f->score, NULL);
    GValue points = G_VALUE_INIT;
    landmarks_array_init (&points, f);
    gst_structure_take_value (param, "landmarks", &points);
    set_quality_fields (param, f);
    add_expressions (param, f);
    gst_video_region_of_interest_meta_add_param (roi, param);
  }
}

static void
buffer_times (const GstSegment *segment, GstBuffer *buffer, GstClockTime *running_time,
              GstClockTime *stream_time)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  *running_time = *stream_time = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (pts) && segment->format == GST_FORMAT_TIME) {
    *running_time = gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts);
    *stream_time = gst_segment_to_stream_time (segment, GST_FORMAT_TIME, pts);
  }
}

guint
facekp_faces_post_expression_messages (GstElement *element, const GstSegment *segment,
                                       GstBuffer *buffer, guint64 frame_index,
                                       const FkpFace *faces, guint n_faces)
{
  GstClockTime running_time, stream_time;
  buffer_times (segment, buffer, &running_time, &stream_time);
  guint posted = 0;
  for (guint i = 0; i < n_faces; i++) {
    const FkpFace *f = &faces[i];
    guint32 changed = f->expression_started | f->expression_ended;
    for (int e = 0; e < FKP_EXPRESSION_N; e++) {
      if (!(changed & (1u << e)))
        continue;
      GstStructure *st = gst_structure_new ("facekp-expression",
          "id", G_TYPE_INT, (gint) f->id,
          "expression", G_TYPE_STRING, fkp_expression_get_name (e),
          "state", G_TYPE_BOOLEAN, (gboolean) ((f->expression_states >> e) & 1),
          "value", G_TYPE_DOUBLE, (gdouble) f->expressions[e],
          "running-time", G_TYPE_UINT64, running_time,
          "stream-time", G_TYPE_UINT64, stream_time,
          "timestamp", G_TYPE_UINT64, GST_BUFFER_PTS (buffer),
          "frame", G_TYPE_UINT64, frame_index, NULL);
      gst_element_post_message (element, gst_message_new_element (GST_OBJECT (element), st));
      posted++;
    }
  }
  return posted;
}

GstMessage *
facekp_faces_message_new (GstObject *src, const GstSegment *segment, GstBuffer *buffer,
                          guint64 frame_index, const FkpFace *faces, guint n_faces,
                          gint width, gint height)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime running_time, stream_time;
  buffer_times (segment, buffer, &running_time, &stream_time);

  GValue list = G_VALUE_INIT;
  g_value_init (&list, GST_TYPE_LIST);
  for (guint i = 0; i < n_faces; i++) {
    const FkpFace *f = &faces[i];
    /* x, y, width, height as unsigned ints, as facedetect posts them. */
    guint box[4];
    pixel_box (&f->box, width, height, box);
    GstStructure *s = gst_structure_new ("face",
        "x", G_TYPE_UINT, box[0], "y", G_TYPE_UINT, box[1],
        "width", G_TYPE_UINT, box[2], "height", G_TYPE_UINT, box[3],
        "id", G_TYPE_INT, (gint) f->id,
        "score", G_TYPE_DOUBLE, (gdouble) f->score, NULL);
    GValue points = G_VALUE_INIT;
    landmarks_array_init (&points, f);
    gst_structure_take_value (s, "landmarks", &points);
    set_quality_fields (s, f);
    add_expressions (s, f);
    GValue sv = G_VALUE_INIT;
    g_value_init (&sv, GST_TYPE_STRUCTURE);
    gst_value_set_structure (&sv, s);
    gst_structure_free (s);
    gst_value_list_append_and_take_value (&list, &sv);
  }

  GstStructure *st = gst_structure_new ("facekp",
      "timestamp", G_TYPE_UINT64, pts,
      "stream-time", G_TYPE_UINT64, stream_time,
      "running-time", G_TYPE_UINT64, running_time,
      "duration", G_TYPE_UINT64, GST_BUFFER_DURATION (buffer),
      "frame", G_TYPE_UINT64, frame_index, NULL);
  gst_structure_take_value (st, "faces", &list);
  return gst_message_new_element (src, st);
}

void
facekp_faces_install_min_presence (GObjectClass *klass, guint prop_id)
{
  /**
   * GstFacekpFilter:min-presence:
   *
   * The landmark model's face-presence probability, 0 to 1, below which a
   * face is not a face on that frame: a tracked face is left out at once (no
   * stickers, no meta, no export entry) and ends unless the detector sees it
   * on the next frame, and a detection does not start a face.  Needs a model
   * with a presence output (the default shipped model has one; ignored
   * otherwise, and with face-source `full-frame`, which always gives
   * one face).  0 keeps every face the detector and tracker give.
   */
  g_object_class_install_property (klass, prop_id,
      g_param_spec_float ("min-presence", "Minimum presence",
          "Drop a face on a frame where the landmark model's presence probability is below "
          "this (0 = never)", 0.0f, 1.0f, FKP_FACE_DEFAULT_MIN_PRESENCE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
}
