/* How facekpfilter hands a video frame to the face pipeline: a view of
 * its pixels in a layout the pipeline reads, copying only where it must. */
#ifndef FACEKP_FRAME_H
#define FACEKP_FRAME_H

#include <gst/video/video.h>
#include <facekp/face.h>

G_BEGIN_DECLS

/* Where the Y samples of packed YUV frames are gathered; grows as needed,
 * kept between frames.  Zero-initialise; free with facekp_luma_scratch_clear. */
typedef struct {
  guint8 *data;
  gsize size;
} FacekpLumaScratch;

void facekp_luma_scratch_clear (FacekpLumaScratch *scratch);

/* Fills @out for @frame: RGB layouts as they are, planar and semi-planar YUV
 * and gray by their Y plane (no copy), packed YUV through @scratch. */
gboolean facekp_frame_describe (GstVideoFrame *frame, FacekpLumaScratch *scratch,
                                FkpFaceFrame *out);

G_END_DECLS

#endif /* FACEKP_FRAME_H */
