/* The frame view facekpfilter gives the face pipeline (facekpframe.h). */
#include "facekpframe.h"

void
facekp_luma_scratch_clear (FacekpLumaScratch *scratch)
{
  g_clear_pointer (&scratch->data, g_free);
  scratch->size = 0;
}

/* Describes @frame for the face pipeline, extracting luma where the frame
 * has no plane the pipeline can read directly. */
gboolean
facekp_frame_describe (GstVideoFrame *frame, FacekpLumaScratch *scratch, FkpFaceFrame *out)
{
  GstVideoFormat format = GST_VIDEO_FRAME_FORMAT (frame);
  gint width = GST_VIDEO_FRAME_WIDTH (frame);
  gint height = GST_VIDEO_FRAME_HEIGHT (frame);

  out->width = width;
  out->height = height;
  out->data = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  out->stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);

  switch (format) {
    case GST_VIDEO_FORMAT_RGBx: out->format = FKP_FACE_FORMAT_RGBx; return TRUE;
    case GST_VIDEO_FORMAT_BGRx: out->format = FKP_FACE_FORMAT_BGRx; return TRUE;
    case GST_VIDEO_FORMAT_xRGB: out->format = FKP_FACE_FORMAT_xRGB; return TRUE;
    case GST_VIDEO_FORMAT_xBGR: out->format = FKP_FACE_FORMAT_xBGR; return TRUE;
    case GST_VIDEO_FORMAT_RGBA: out->format = FKP_FACE_FORMAT_RGBA; return TRUE;
    case GST_VIDEO_FORMAT_BGRA: out->format = FKP_FACE_FORMAT_BGRA; return TRUE;
    case GST_VIDEO_FORMAT_ARGB: out->format = FKP_FACE_FORMAT_ARGB; return TRUE;
    case GST_VIDEO_FORMAT_ABGR: out->format = FKP_FACE_FORMAT_ABGR; return TRUE;
    case GST_VIDEO_FORMAT_RGB: out->format = FKP_FACE_FORMAT_RGB; return TRUE;
    case GST_VIDEO_FORMAT_BGR: out->format = FKP_FACE_FORMAT_BGR; return TRUE;
    default:
      break;
  }

  /* YUV and gray: the pipeline reads luma as GRAY8. */
  out->format = FKP_FACE_FORMAT_GRAY8;
  gint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, GST_VIDEO_COMP_Y);
  if (pstride == 1) {
    /* Planar or semi-planar: the Y plane as it is, no copy. */
    out->data = GST_VIDEO_FRAME_COMP_DATA (frame, GST_VIDEO_COMP_Y);
    out->stride = GST_VIDEO_FRAME_COMP_STRIDE (frame, GST_VIDEO_COMP_Y);
    return TRUE;
  }

  /* Packed YUV (YUY2, UYVY, AYUV): gather the Y samples into a gray image. */
  gsize need = (gsize) width * height;
  if (scratch->size < need) {
    g_free (scratch->data);
    scratch->data = g_malloc (need);
    scratch->size = need;
  }
  const guint8 *src = GST_VIDEO_FRAME_COMP_DATA (frame, GST_VIDEO_COMP_Y);
  gint src_stride = GST_VIDEO_FRAME_COMP_STRIDE (frame, GST_VIDEO_COMP_Y);
  for (gint y = 0; y < height; y++) {
    const guint8 *row = src + (gsize) y * src_stride;
    guint8 *dst = scratch->data + (gsize) y * width;
    for (gint x = 0; x < width; x++)
      dst[x] = row[(gsize) x * pstride];
  }
  out->data = scratch->data;
  out->stride = width;
  return TRUE;
}
