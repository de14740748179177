/* GstFaceLandmarksMeta — the faces facekpfilter found in a video frame, each
 * an FkpFace (facekp/face-types.h): a tracker id, a box, a score (the
 * face's presence on this frame), 68 landmarks (iBUG layout, 0-based) with
 * their expected errors, and the roll, all in the pixels of the frame the
 * meta is attached to.
 *
 * Reading it in a pad probe:
 *
 *   #include <facekp/gstfacelandmarksmeta.h>
 *   GstFaceLandmarksMeta *meta = gst_buffer_get_face_landmarks_meta (buffer);
 *   for (guint i = 0; meta && i < meta->n_faces; i++) {
 *     const FkpFace *face = &meta->faces[i];
 *     g_print ("face %u at %.1f,%.1f nose tip %.1f,%.1f\n", face->id,
 *              face->box.x, face->box.y, face->points[30][0], face->points[30][1]);
 *   }
 *
 * Link with pkg-config facekp-gst-meta (its flags find facekp/face-types.h
 * too; no face library to link).  The meta carries the tags "video" and
 * "size", so elements that rescale frames (videoscale) call its transform
 * function, which rescales every coordinate; buffer copies copy it.  Element
 * that change orientation (videoflip) drop it.
 *
 * From Python and other GObject-introspection languages (namespace
 * FacekpMeta 1.0), the faces are read as copies, GstFaceLandmarksFace, through
 * accessors, since introspection cannot describe FkpFace's array of points:
 *
 *   meta = FacekpMeta.buffer_get_face_landmarks_meta(buffer)
 *   for face in meta.get_faces() if meta else []:
 *       x, y = face.get_point(30)
 */
#ifndef __GST_FACE_LANDMARKS_META_H__
#define __GST_FACE_LANDMARKS_META_H__

#include <gst/gst.h>
#include <facekp/face-types.h>

G_BEGIN_DECLS

typedef struct _GstFaceLandmarksMeta GstFaceLandmarksMeta;

/**
 * GstFaceLandmarksMeta:
 * @meta: parent
 * @width: width of the frame the coordinates refer to
 * @height: its height
 * @n_faces: number of faces (may be 0: a frame searched with no face found)
 * @faces: (array length=n_faces) (skip): the faces, owned by the meta (from
 *   bindings: gst_face_landmarks_meta_get_faces())
 *
 * The faces found in one frame.  facekpfilter attaches exactly one to every
 * buffer, its faces ordered by id.
 */
struct _GstFaceLandmarksMeta {
  GstMeta meta;
  guint width, height;
  guint n_faces;
  FkpFace *faces;
};

#define GST_FACE_LANDMARKS_META_API_TYPE (gst_face_landmarks_meta_api_get_type ())
#define GST_FACE_LANDMARKS_META_INFO (gst_face_landmarks_meta_get_info ())

GType gst_face_landmarks_meta_api_get_type (void);
const GstMetaInfo *gst_face_landmarks_meta_get_info (void);

/**
 * gst_buffer_add_face_landmarks_meta: (skip)
 * @buffer: a writable buffer
 * @faces: (array length=n_faces) (nullable): the faces, copied into the meta
 * @n_faces: how many; may be 0, @faces then NULL
 * @width: width of the frame the coordinates are measured on
 * @height: its height
 *
 * Attaches a meta holding its own copy of @faces.
 *
 * Returns: (transfer none): the meta, or NULL when @buffer is not writable
 *
 * Not for bindings (skipped): introspection cannot describe FkpFace.
 */
GstFaceLandmarksMeta *gst_buffer_add_face_landmarks_meta (GstBuffer *buffer,
                                                          const FkpFace *faces,
                                                          guint n_faces,
                                                          guint width, guint height);

/**
 * gst_buffer_get_face_landmarks_meta:
 * @buffer: a buffer
 *
 * A function (a macro before 0.1.0), so that bindings can call it.
 *
 * Returns: (transfer none) (nullable): the buffer's face landmarks meta; it
 *   lives as long as the buffer does not change
 */
GstFaceLandmarksMeta *gst_buffer_get_face_landmarks_meta (GstBuffer *buffer);

/**
 * GstFaceLandmarksFace:
 *
 * A copy of one face of a #GstFaceLandmarksMeta that owns its data, so it
 * outlives the buffer; read with the gst_face_landmarks_face_get_*()
 * accessors.  It holds a whole FkpFace, so a field added to FkpFace needs
 * only a new accessor here.
 */
typedef struct _GstFaceLandmarksFace GstFaceLandmarksFace;

#define GST_TYPE_FACE_LANDMARKS_FACE (gst_face_landmarks_face_get_type ())
GType gst_face_landmarks_face_get_type (void);

/**
 * gst_face_landmarks_meta_get_face:
 * @meta: a meta
 * @index: 0 .. n_faces - 1
 *
 * Returns: (transfer full) (nullable): a copy of face @index, NULL when
 *   @index is out of range
 */
GstFaceLandmarksFace *gst_face_landmarks_meta_get_face (const GstFaceLandmarksMeta *meta,
                                                        guint index);

/**
 * gst_face_landmarks_meta_get_faces:
 * @meta: a meta
 *
 * Returns: (transfer full) (element-type GstFaceLandmarksFace): copies of all
 *   the faces, in the meta's order (by id); free with
 *   g_list_free_full (list, (GDestroyNotify) gst_face_landmarks_face_free)
 */
GList *gst_face_landmarks_meta_get_faces (const GstFaceLandmarksMeta *meta);

/**
 * gst_face_landmarks_face_copy:
 * @face: a face
 *
 * Returns: (transfer full): a copy of @face
 */
GstFaceLandmarksFace *gst_face_landmarks_face_copy (const GstFaceLandmarksFace *face);

/**
 * gst_face_landmarks_face_free:
 * @face: (transfer full): a face
 */
void gst_face_landmarks_face_free (GstFaceLandmarksFace *face);

/**
 * gst_face_landmarks_face_get_id:
 * @face: a face
 *
 * Returns: the tracker id, >= 1 (FkpFace.id)
 */
guint gst_face_landmarks_face_get_id (const GstFaceLandmarksFace *face);

/**
 * gst_face_landmarks_face_get_score:
 * @face: a face
 *
 * Returns: how sure facekp is that this is a face on this frame, 0..1: the
 *   landmark model's presence when it has that output, else the detector's
 *   score (FkpFace.score)
 */
gfloat gst_face_landmarks_face_get_score (const GstFaceLandmarksFace *face);

/**
 * gst_face_landmarks_face_get_box:
 * @face: a face
 * @x: (out) (optional): left edge, frame pixels
 * @y: (out) (optional): top edge
 * @width: (out) (optional): width
 * @height: (out) (optional): height
 *
 * The bounding box of the face's points (FkpFace.box).
 */
void gst_face_landmarks_face_get_box (const GstFaceLandmarksFace *face, gfloat *x, gfloat *y,
                                      gfloat *width, gfloat *height);

/**
 * gst_face_landmarks_face_get_points:
 * @face: a face
 * @n_values: (out): set to 2 * FKP_FACE_N_POINTS (136)
 *
 * The 68 landmarks as one flat array x0, y0, x1, y1, ... in frame pixels,
 * iBUG order (the layout of the ROI parameter's "landmarks" field).
 *
 * Returns: (array length=n_values) (transfer none): the coordinates, owned by @face
 */
const gfloat *gst_face_landmarks_face_get_points (const GstFaceLandmarksFace *face,
                                                  guint *n_values);

/**
 * gst_face_landmarks_face_get_point:
 * @face: a face
 * @index: landmark index, 0 .. FKP_FACE_N_POINTS - 1 (30 is the nose tip)
 * @x: (out) (optional): its x, frame pixels
 * @y: (out) (optional): its y
 */
void gst_face_landmarks_face_get_point (const GstFaceLandmarksFace *face, guint index,
                                        gfloat *x, gfloat *y);

/**
 * gst_face_landmarks_face_get_pose:
 * @face: a face
 * @yaw: (out) (optional): degrees, positive when the nose points towards the
 *   image's right (FkpFace.yaw)
 * @pitch: (out) (optional): degrees, positive when the nose points up
 *   (FkpFace.pitch)
 * @roll: (out) (optional): degrees, the eye line's angle, positive when the
 *   face is turned clockwise in the picture (FkpFace.roll)
 *
 * The head pose: yaw and pitch from the points fitted to facekp's mean 3D
 * face shape, roll from the eye line (axes and signs: the element's
 * documentation, "Head pose").
 */
void gst_face_landmarks_face_get_pose (const GstFaceLandmarksFace *face, gfloat *yaw,
                                       gfloat *pitch, gfloat *roll);

/**
 * gst_face_landmarks_meta_get_expression:
 * @meta: a face landmarks meta
 * @face_index: index of the face in @meta->faces
 * @expression: the expression's name: `mouth-open`, `smile`,
 *   `left-eye-closed`, `right-eye-closed`, `eyes-closed` or `brows-raised`
 *   (`_` may stand for `-`)
 * @value: (out) (optional): its value on this frame, 0 to 1
 * @active: (out) (optional): whether its state holds on this frame
 * @started: (out) (optional): whether its state turned on at this frame
 *
 * Reads one expression of one face (the FkpFace fields `expressions`,
 * `expression_states` and `expression_started`, by name).
 *
 * Returns: FALSE (outputs untouched) when @face_index is out of range or
 *   @expression is not a known name
 */
gboolean gst_face_landmarks_meta_get_expression (const GstFaceLandmarksMeta *meta,
                                                 guint face_index, const gchar *expression,
                                                 gfloat *value, gboolean *active,
                                                 gboolean *started);

/* Name of the GstStructure facekpfilter adds as a parameter to each
 * GstVideoRegionOfInterestMeta of type "face": fields "id" (int), "score"
 * (double: the face's presence on this frame, FkpFace.score), "landmarks"
 * (GstValueArray of 136 doubles x0, y0, ... x67, y67), "detector-score",
 * "roll", "yaw" and "pitch" (doubles), with a landmark model that has them "presence" (double)
 * and "point-error" (GstValueArray of 68 doubles, pixels), "expressions" (a
 * GstStructure named "facekp/expressions" with one double field per
 * expression, named as in gst_face_landmarks_meta_get_expression) and
 * "active-expressions" (GstValueArray of the names whose state holds). */
#define GST_FACE_LANDMARKS_ROI_PARAM_NAME "facekp/landmarks"

G_END_DECLS

#endif /* __GST_FACE_LANDMARKS_META_H__ */
