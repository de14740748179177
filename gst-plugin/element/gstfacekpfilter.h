/* facekpfilter: finds faces, predicts 68 landmarks per face, attaches them as
 * GstFaceLandmarksMeta and ROI meta, posts "facekp" messages, exports JSON
 * lines and overlays stickers.  See docs/element.md. */
#ifndef __GST_FACEKP_FILTER_H__
#define __GST_FACEKP_FILTER_H__

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>
#include <facekp/face.h>
#include <facekp/stickers.h>

#include "facekp/gstfacelandmarksmeta.h"
#include "facekpexport.h"
#include "facekpframe.h"

G_BEGIN_DECLS

typedef struct _FacekpModelLoader FacekpModelLoader;

/**
 * GstFacekpFaceSource:
 * @GST_FACEKP_FACE_SOURCE_DETECT: find faces with the CNN face detector every
 *   #GstFacekpFilter:detect-interval frames (and whenever a track is lost),
 *   then follow them from frame to frame with the landmarks
 * @GST_FACEKP_FACE_SOURCE_UPSTREAM: take the `face`
 *   #GstVideoRegionOfInterestMeta already on the incoming buffer (for example
 *   from `facedetect`) as the frame's face boxes
 * @GST_FACEKP_FACE_SOURCE_FULL_FRAME: the whole frame is one face crop
 *
 * Where #GstFacekpFilter:face-source takes the face boxes from.
 */
typedef enum {
  GST_FACEKP_FACE_SOURCE_DETECT = FKP_FACE_SOURCE_DETECT,
  GST_FACEKP_FACE_SOURCE_UPSTREAM = FKP_FACE_SOURCE_UPSTREAM,
  GST_FACEKP_FACE_SOURCE_FULL_FRAME = FKP_FACE_SOURCE_FULL_FRAME,
} GstFacekpFaceSource;

/**
 * GstFacekpMessages:
 * @GST_FACEKP_MESSAGES_NONE: post no message
 * @GST_FACEKP_MESSAGES_EVERY_FRAME: post a message for every frame, with or
 *   without faces
 * @GST_FACEKP_MESSAGES_ON_CHANGE: post a message only when the list of face
 *   ids differs from the one in the last message posted (and for the first
 *   frame)
 *
 * When #GstFacekpFilter:post-messages posts the `facekp` element message.
 */
typedef enum {
  GST_FACEKP_MESSAGES_NONE,
  GST_FACEKP_MESSAGES_EVERY_FRAME,
  GST_FACEKP_MESSAGES_ON_CHANGE,
} GstFacekpMessages;

#define GST_TYPE_FACEKP_FACE_SOURCE (gst_facekp_face_source_get_type ())
#define GST_TYPE_FACEKP_MESSAGES (gst_facekp_messages_get_type ())
GType gst_facekp_face_source_get_type (void);
GType gst_facekp_messages_get_type (void);

#define GST_TYPE_FACEKP_FILTER (gst_facekp_filter_get_type ())
G_DECLARE_FINAL_TYPE (GstFacekpFilter, gst_facekp_filter, GST, FACEKP_FILTER, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE (facekpfilter);

/* What the properties ask for; written by set_property, read by the
 * streaming thread, both under the object lock. */
typedef struct {
  gchar *model;
  gchar *detector_model;
  GstFacekpFaceSource source;
  gint max_faces;
  gint detect_interval;
  gint detect_latency;
  gint min_face_size;
  gfloat detector_threshold;
  gfloat min_presence;
  gboolean smoothing;
  gfloat min_cutoff, beta, d_cutoff;
  gchar *stickers;
  gboolean draw_landmarks, draw_boxes;
  GstFacekpMessages post_messages;
  gchar *export_location;
  gint threads;
} GstFacekpSettings;

/* Which groups of settings changed since the streaming thread last applied them. */
typedef enum {
  FACEKP_DIRTY_LANDMARK_MODEL = 1 << 0,
  FACEKP_DIRTY_DETECTOR_MODEL = 1 << 7,
  FACEKP_DIRTY_MODELS = FACEKP_DIRTY_LANDMARK_MODEL | FACEKP_DIRTY_DETECTOR_MODEL,
  FACEKP_DIRTY_SOURCE = 1 << 1,
  FACEKP_DIRTY_TRACKING = 1 << 2,   /* max-faces, detect-interval/-latency, min-face-size, thresholds */
  FACEKP_DIRTY_SMOOTHING = 1 << 3,
  FACEKP_DIRTY_THREADS = 1 << 4,
  FACEKP_DIRTY_STICKERS = 1 << 5,
  FACEKP_DIRTY_EXPORT = 1 << 6,
} GstFacekpDirty;

struct _GstFacekpFilter {
  GstVideoFilter parent;

  /* Under the object lock. */
  GstFacekpSettings settings;
  guint dirty;
  gboolean reset_pending;      /* flush or discontinuity: forget tracks */

  /* Streaming thread only (start/stop run with the stream stopped). */
  FkpFacePipeline *pipeline;
  FacekpModelLoader *loader;   /* model changes while playing load here */
  guint models_to_load;        /* FACEKP_DIRTY_*_MODEL set since the pipeline in use was made:
                                  a load keeps the others */
  FkpStickerPack *pack;
  FacekpExport *export;
  gboolean attach_overlay;     /* downstream takes GstVideoOverlayCompositionMeta */
  gboolean overlay_queried;    /* attach_overlay is known for the current caps */
  FkpFaceList faces;           /* the pipeline's output, copied once into the meta */
  FacekpLumaScratch luma;      /* Y gathered from packed YUV */
  guint64 frame_index;
  GArray *posted_ids;          /* ids in the last "facekp" message (on-change) */
  gboolean posted_once;
};

G_END_DECLS

#endif
