/* GstFaceLandmarksMeta — the faces facekpfilter found in a video frame, each
 * with a tracker id, a box, a score and 68 landmarks (iBUG layout, 0-based),
 * all in the pixels of the frame the meta is attached to.
 *
 * Reading it in a pad probe:
 *
 *   #include <facekp/gstfacelandmarksmeta.h>
 *   GstFaceLandmarksMeta *meta = gst_buffer_get_face_landmarks_meta (buffer);
 *   for (guint i = 0; meta && i < meta->n_faces; i++) {
 *     const GstFaceLandmarks *face = &meta->faces[i];
 *     g_print ("face %d at %.1f,%.1f nose tip %.1f,%.1f\n", face->id,
 *              face->x, face->y, face->points[30][0], face->points[30][1]);
 *   }
 *
 * Link with pkg-config facekp-gst-meta.  The meta carries the tags "video" and
 * "size", so elements that rescale frames (videoscale) call its transform
 * function, which rescales every coordinate; buffer copies copy it.  Element
 * that change orientation (videoflip) drop it.
 */
#ifndef __GST_FACE_LANDMARKS_META_H__
#define __GST_FACE_LANDMARKS_META_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* Landmarks per face. */
#define GST_FACE_LANDMARKS_N_POINTS 68

typedef struct _GstFaceLandmarks GstFaceLandmarks;
typedef struct _GstFaceLandmarksMeta GstFaceLandmarksMeta;

/**
 * GstFaceLandmarks:
 * @id: tracker id, stable while the face stays in view (>= 1)
 * @score: detector or tracker confidence, 0..1
 * @x: left edge of the face box, frame pixels
 * @y: top edge of the face box
 * @width: box width
 * @height: box height
 * @points: x, y of each landmark, frame pixels
 */
struct _GstFaceLandmarks {
  gint id;
  gfloat score;
  gfloat x, y, width, height;
  gfloat points[GST_FACE_LANDMARKS_N_POINTS][2];
};

/**
 * GstFaceLandmarksMeta:
 * @meta: parent
 * @width: width of the frame the coordinates refer to
 * @height: its height
 * @n_faces: number of faces (may be 0: a frame searched with no face found)
 * @faces: the faces, owned by the meta
 */
struct _GstFaceLandmarksMeta {
  GstMeta meta;
  guint width, height;
  guint n_faces;
  GstFaceLandmarks *faces;
};

#define GST_FACE_LANDMARKS_META_API_TYPE (gst_face_landmarks_meta_api_get_type ())
#define GST_FACE_LANDMARKS_META_INFO (gst_face_landmarks_meta_get_info ())

GType gst_face_landmarks_meta_api_get_type (void);
const GstMetaInfo *gst_face_landmarks_meta_get_info (void);

/* Attaches a meta holding a copy of @faces (@n_faces may be 0, @faces then
 * NULL) measured on a @width x @height frame.  @buffer must be writable. */
GstFaceLandmarksMeta *gst_buffer_add_face_landmarks_meta (GstBuffer *buffer,
                                                          const GstFaceLandmarks *faces,
                                                          guint n_faces,
                                                          guint width, guint height);

/* The buffer's face landmarks meta, or NULL. */
#define gst_buffer_get_face_landmarks_meta(buffer) \
  ((GstFaceLandmarksMeta *) gst_buffer_get_meta ((buffer), GST_FACE_LANDMARKS_META_API_TYPE))

/* Name of the GstStructure facekpfilter adds as a parameter to each
 * GstVideoRegionOfInterestMeta of type "face": fields "id" (int), "score"
 * (double) and "landmarks" (GstValueArray of 136 doubles x0, y0, ... x67, y67). */
#define GST_FACE_LANDMARKS_ROI_PARAM_NAME "facekp/landmarks"

G_END_DECLS

#endif /* __GST_FACE_LANDMARKS_META_H__ */
