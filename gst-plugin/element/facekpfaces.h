/* What facekpfilter attaches and posts for a frame's faces: "face"
 * region-of-interest metas with the landmarks, and the "facekp" bus
 * message (see docs/element.md for both). */
#ifndef FACEKP_FACES_H
#define FACEKP_FACES_H

#include <gst/gst.h>
#include <gst/video/video.h>
#include "facekp/gstfacelandmarksmeta.h"

G_BEGIN_DECLS

/* Removes the "face" ROI metas from @buffer and returns their boxes
 * (face-source=upstream); the caller frees the array. */
GArray *facekp_faces_take_upstream_boxes (GstBuffer *buffer);

/* Attaches one "face" ROI meta per face, with a GST_FACE_LANDMARKS_ROI_PARAM_NAME
 * parameter structure; boxes are whole pixels clipped to @width x @height. */
void facekp_faces_attach_roi_metas (GstBuffer *buffer, const FkpFace *faces, guint n_faces,
                                    gint width, gint height);

/* The "facekp" element message for @buffer (frame @frame_index of the
 * stream, times from @segment), from @src. */
GstMessage *facekp_faces_message_new (GstObject *src, const GstSegment *segment, GstBuffer *buffer,
                                      guint64 frame_index, const FkpFace *faces, guint n_faces,
                                      gint width, gint height);

/* Posts one "facekp-expression" element message from @element for every
 * expression state that turned on or off on this frame (FkpFace
 * expression_started / expression_ended); returns how many. */
guint facekp_faces_post_expression_messages (GstElement *element, const GstSegment *segment,
                                             GstBuffer *buffer, guint64 frame_index,
                                             const FkpFace *faces, guint n_faces);
/* Installs the min-presence property (GstFacekpFilter:min-presence) as
 * @prop_id of @klass: installed here to keep gstfacekpfilter.c short. */
void facekp_faces_install_min_presence (GObjectClass *klass, guint prop_id);

G_END_DECLS

#endif /* FACEKP_FACES_H */
