/* GstFaceLandmarksMeta: registration, init/free and the transform function
 * that keeps the coordinates right through copies and rescaling. */
#include "facekp/gstfacelandmarksmeta.h"

#include <math.h>
#include <string.h>
#include <gst/video/video.h>

FKP_PUBLIC GType
gst_face_landmarks_meta_api_get_type (void)
{
  static GType type = 0;
  /* "video" and "size": the meta describes frame content and depends on the
   * frame's dimensions, so scalers transform it rather than copy it blindly. */
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR, GST_META_TAG_VIDEO_SIZE_STR, NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstFaceLandmarksMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
face_landmarks_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  GstFaceLandmarksMeta *lm = (GstFaceLandmarksMeta *) meta;
  (void) params;
  (void) buffer;
  lm->width = lm->height = 0;
  lm->n_faces = 0;
  lm->faces = NULL;
  return TRUE;
}

static void
face_landmarks_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  GstFaceLandmarksMeta *lm = (GstFaceLandmarksMeta *) meta;
  (void) buffer;
  g_free (lm->faces);
  lm->faces = NULL;
  lm->n_faces = 0;
}

static void
scale_face (FkpFace *face, gfloat sx, gfloat sy)
{
  face->box.x *= sx;
  face->box.width *= sx;
  face->box.y *= sy;
  face->box.height *= sy;
  for (guint p = 0; p < FKP_FACE_N_POINTS; p++) {
    face->points[p][0] *= sx;
    face->points[p][1] *= sy;
    /* An error is a distance in any direction: the mean of the two scales. */
    if (face->point_error[p] >= 0.0f)
      face->point_error[p] *= (sx + sy) / 2.0f;
  }
  /* Roll is the eye line's angle, which only a scale that is not uniform
   * turns.  Yaw and pitch describe the head, not the picture: they stay. */
  if (sx == sy)
    return;
  gdouble dx = 0.0, dy = 0.0;
  for (guint p = 36; p < 42; p++) {
    dx += face->points[p + 6][0] - face->points[p][0];
    dy += face->points[p + 6][1] - face->points[p][1];
  }
  face->roll = (gfloat) (atan2 (dy, dx) * 180.0 / G_PI);
}

static gboolean
face_landmarks_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *src,
                               GQuark type, gpointer data)
{
  GstFaceLandmarksMeta *lm = (GstFaceLandmarksMeta *) meta;
  (void) src;

  if (GST_META_TRANSFORM_IS_COPY (type)) {
    /* Region copies of a video buffer still show the same frame. */
    return gst_buffer_add_face_landmarks_meta (dest, lm->faces, lm->n_faces,
                                               lm->width, lm->height) != NULL;
  }

  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type)) {
    GstVideoMetaTransform *trans = data;
    gint in_w = GST_VIDEO_INFO_WIDTH (trans->in_info);
    gint in_h = GST_VIDEO_INFO_HEIGHT (trans->in_info);
    gint out_w = GST_VIDEO_INFO_WIDTH (trans->out_info);
    gint out_h = GST_VIDEO_INFO_HEIGHT (trans->out_info);
    if (in_w <= 0 || in_h <= 0 || out_w <= 0 || out_h <= 0)
      return FALSE;

    GstFaceLandmarksMeta *out = gst_buffer_add_face_landmarks_meta (dest, lm->faces,
        lm->n_faces, (guint) out_w, (guint) out_h);
    if (!out)
      return FALSE;
    gfloat sx = (gfloat) out_w / (gfloat) in_w;
    gfloat sy = (gfloat) out_h / (gfloat) in_h;
    for (guint i = 0; i < out->n_faces; i++)
      scale_face (&out->faces[i], sx, sy);
    return TRUE;
  }

  /* Any other transform (orientation, crop, ...) would leave the points wrong:
   * drop the meta rather than carry stale coordinates. */
  return FALSE;
}

FKP_PUBLIC const GstMetaInfo *
gst_face_landmarks_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) &info)) {
    const GstMetaInfo *mi = gst_meta_register (GST_FACE_LANDMARKS_META_API_TYPE,
        "GstFaceLandmarksMeta", sizeof (GstFaceLandmarksMeta),
        face_landmarks_meta_init, face_landmarks_meta_free,
        face_landmarks_meta_transform);
    g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) mi);
  }
  return info;
}

FKP_PUBLIC GstFaceLandmarksMeta *
gst_buffer_add_face_landmarks_meta (GstBuffer *buffer, const FkpFace *faces,
                                    guint n_faces, guint width, guint height)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (n_faces == 0 || faces != NULL, NULL);

  GstFaceLandmarksMeta *lm = (GstFaceLandmarksMeta *)
      gst_buffer_add_meta (buffer, GST_FACE_LANDMARKS_META_INFO, NULL);
  if (!lm)
    return NULL;
  lm->width = width;
  lm->height = height;
  lm->n_faces = n_faces;
  lm->faces = n_faces ? g_memdup2 (faces, (gsize) n_faces * sizeof (FkpFace)) : NULL;
  return lm;
}

FKP_PUBLIC GstFaceLandmarksMeta *
gst_buffer_get_face_landmarks_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (GstFaceLandmarksMeta *) gst_buffer_get_meta (buffer, GST_FACE_LANDMARKS_META_API_TYPE);
}

/* GstFaceLandmarksFace: a whole FkpFace, so that a field added to FkpFace
 * reaches bindings with one accessor and no change to copying. */
struct _GstFaceLandmarksFace {
  FkpFace face;
};

FKP_PUBLIC GType gst_face_landmarks_face_get_type (void);
G_DEFINE_BOXED_TYPE (GstFaceLandmarksFace, gst_face_landmarks_face,
                     gst_face_landmarks_face_copy, gst_face_landmarks_face_free)

FKP_PUBLIC GstFaceLandmarksFace *
gst_face_landmarks_face_copy (const GstFaceLandmarksFace *face)
{
  g_return_val_if_fail (face != NULL, NULL);
  return g_memdup2 (face, sizeof *face);
}

FKP_PUBLIC void
gst_face_landmarks_face_free (GstFaceLandmarksFace *face)
{
  g_free (face);
}

FKP_PUBLIC GstFaceLandmarksFace *
gst_face_landmarks_meta_get_face (const GstFaceLandmarksMeta *meta, guint index)
{
  g_return_val_if_fail (meta != NULL, NULL);
  if (index >= meta->n_faces)
    return NULL;
  GstFaceLandmarksFace *face = g_new (GstFaceLandmarksFace, 1);
  face->face = meta->faces[index];
  return face;
}

FKP_PUBLIC GList *
gst_face_landmarks_meta_get_faces (const GstFaceLandmarksMeta *meta)
{
  g_return_val_if_fail (meta != NULL, NULL);
  GList *faces = NULL;
  for (guint i = meta->n_faces; i > 0; i--)
    faces = g_list_prepend (faces, gst_face_landmarks_meta_get_face (meta, i - 1));
  return faces;
}

FKP_PUBLIC guint
gst_face_landmarks_face_get_id (const GstFaceLandmarksFace *face)
{
  g_return_val_if_fail (face != NULL, 0);
  return face->face.id;
}

FKP_PUBLIC gfloat
gst_face_landmarks_face_get_score (const GstFaceLandmarksFace *face)
{
  g_return_val_if_fail (face != NULL, 0.0f);
  return face->face.score;
}

FKP_PUBLIC void
gst_face_landmarks_face_get_box (const GstFaceLandmarksFace *face, gfloat *x, gfloat *y,
                                 gfloat *width, gfloat *height)
{
  g_return_if_fail (face != NULL);
  if (x)
    *x = face->face.box.x;
  if (y)
    *y = face->face.box.y;
  if (width)
    *width = face->face.box.width;
  if (height)
    *height = face->face.box.height;
}

FKP_PUBLIC const gfloat *
gst_face_landmarks_face_get_points (const GstFaceLandmarksFace *face, guint *n_values)
{
  g_return_val_if_fail (face != NULL, NULL);
  g_return_val_if_fail (n_values != NULL, NULL);
  *n_values = 2 * FKP_FACE_N_POINTS;
  return &face->face.points[0][0];
}

FKP_PUBLIC void
gst_face_landmarks_face_get_point (const GstFaceLandmarksFace *face, guint index,
                                   gfloat *x, gfloat *y)
{
  g_return_if_fail (face != NULL);
  g_return_if_fail (index < FKP_FACE_N_POINTS);
  if (x)
    *x = face->face.points[index][0];
  if (y)
    *y = face->face.points[index][1];
}

FKP_PUBLIC void
gst_face_landmarks_face_get_pose (const GstFaceLandmarksFace *face, gfloat *yaw, gfloat *pitch,
                                  gfloat *roll)
{
  g_return_if_fail (face != NULL);
  if (yaw)
    *yaw = face->face.yaw;
  if (pitch)
    *pitch = face->face.pitch;
  if (roll)
    *roll = face->face.roll;
}

FKP_PUBLIC gboolean
gst_face_landmarks_meta_get_expression (const GstFaceLandmarksMeta *meta, guint face_index,
                                        const gchar *expression, gfloat *value,
                                        gboolean *active, gboolean *started)
{
  g_return_val_if_fail (meta != NULL, FALSE);
  FkpExpression e;
  if (face_index >= meta->n_faces || !fkp_expression_from_name (expression, &e))
    return FALSE;
  const FkpFace *face = &meta->faces[face_index];
  if (value)
    *value = face->expressions[e];
  if (active)
    *active = (face->expression_states >> e) & 1;
  if (started)
    *started = (face->expression_started >> e) & 1;
  return TRUE;
}
