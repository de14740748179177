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
 * @faces: (array length=n_faces): the faces, owned by the meta
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
 * gst_buffer_add_face_landmarks_meta:
 * @buffer: a writable buffer
 * @faces: (array length=n_faces) (nullable): the faces, copied into the meta
 * @n_faces: how many; may be 0, @faces then NULL
 * @width: width of the frame the coordinates are measured on
 * @height: its height
 *
 * Attaches a meta holding its own copy of @faces.
 *
 * Returns: (transfer none): the meta, or NULL when @buffer is not writable
 */
GstFaceLandmarksMeta *gst_buffer_add_face_landmarks_meta (GstBuffer *buffer,
                                                          const FkpFace *faces,
                                                          guint n_faces,
                                                          guint width, guint height);

/**
 * gst_buffer_get_face_landmarks_meta:
 * @buffer: a buffer
 *
 * Returns: (transfer none) (nullable): the buffer's face landmarks meta
 */
#define gst_buffer_get_face_landmarks_meta(buffer) \
  ((GstFaceLandmarksMeta *) gst_buffer_get_meta ((buffer), GST_FACE_LANDMARKS_META_API_TYPE))

/* Name of the GstStructure facekpfilter adds as a parameter to each
 * GstVideoRegionOfInterestMeta of type "face": fields "id" (int), "score"
 * (double: the face's presence on this frame, FkpFace.score), "landmarks"
 * (GstValueArray of 136 doubles x0, y0, ... x67, y67), "detector-score" and
 * "roll" (doubles), and with a landmark model that has them "presence"
 * (double) and "point-error" (GstValueArray of 68 doubles, pixels). */
#define GST_FACE_LANDMARKS_ROI_PARAM_NAME "facekp/landmarks"

G_END_DECLS

#endif /* __GST_FACE_LANDMARKS_META_H__ */
