#include "facekpoverlay.h"

#include <string.h>

GstVideoOverlayComposition *
facekp_overlay_render (FkpStickerPack *pack, FkpStickerDrawFlags flags,
                       const FkpFace *faces, guint n_faces,
                       guint64 timestamp_ns, gint frame_width, gint frame_height)
{
  if (!pack)
    flags &= ~FKP_STICKER_DRAW_STICKERS;
  if (n_faces == 0 || flags == 0)
    return NULL;

  cairo_rectangle_int_t ext;
  if (!fkp_sticker_pack_get_extents (pack, faces, n_faces, flags, &ext))
    return NULL;

  /* Only the part of the drawing inside the frame is rendered and blended. */
  gint x0 = MAX (ext.x, 0), y0 = MAX (ext.y, 0);
  gint x1 = MIN (ext.x + ext.width, frame_width), y1 = MIN (ext.y + ext.height, frame_height);
  if (x1 <= x0 || y1 <= y0)
    return NULL;
  gint w = x1 - x0, h = y1 - y0;

  gint stride = cairo_format_stride_for_width (CAIRO_FORMAT_ARGB32, w);
  GstBuffer *buf = gst_buffer_new_allocate (NULL, (gsize) stride * h, NULL);
  if (!buf)
    return NULL;
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
    gst_buffer_unref (buf);
    return NULL;
  }
  memset (map.data, 0, map.size);
  cairo_surface_t *surface = cairo_image_surface_create_for_data (map.data,
      CAIRO_FORMAT_ARGB32, w, h, stride);
  cairo_t *cr = cairo_create (surface);
  cairo_translate (cr, -x0, -y0);
  fkp_sticker_pack_render (pack, cr, faces, n_faces, timestamp_ns, flags);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  cairo_surface_destroy (surface);
  gst_buffer_unmap (buf, &map);

  /* Cairo's ARGB32 is premultiplied, native-endian: exactly the
   * overlay-composition RGB format (BGRA in memory on little-endian). */
  gsize offsets[GST_VIDEO_MAX_PLANES] = { 0 };
  gint strides[GST_VIDEO_MAX_PLANES] = { stride };
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, w, h, 1, offsets, strides);

  GstVideoOverlayRectangle *rect = gst_video_overlay_rectangle_new_raw (buf, x0, y0,
      (guint) w, (guint) h, GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
  gst_buffer_unref (buf);
  GstVideoOverlayComposition *comp = gst_video_overlay_composition_new (rect);
  gst_video_overlay_rectangle_unref (rect);
  return comp;
}

void
facekp_overlay_attach (GstBuffer *buffer, GstVideoOverlayComposition *comp)
{
  GstVideoOverlayCompositionMeta *existing =
      gst_buffer_get_video_overlay_composition_meta (buffer);
  if (!existing) {
    gst_buffer_add_video_overlay_composition_meta (buffer, comp);
    return;
  }
  GstVideoOverlayComposition *merged = gst_video_overlay_composition_copy (existing->overlay);
  guint n = gst_video_overlay_composition_n_rectangles (comp);
  for (guint i = 0; i < n; i++)
    gst_video_overlay_composition_add_rectangle (merged,
        gst_video_overlay_composition_get_rectangle (comp, i));
  gst_buffer_remove_meta (buffer, (GstMeta *) existing);
  gst_buffer_add_video_overlay_composition_meta (buffer, merged);
  gst_video_overlay_composition_unref (merged);
}
