/* Renders stickers and debug drawing for facekpfilter into one premultiplied
 * ARGB overlay rectangle covering only the region that gets drawn. */
#ifndef FACEKP_OVERLAY_H
#define FACEKP_OVERLAY_H

#include <gst/video/video.h>
#include <facekp/stickers.h>
#include "facekp/gstfacelandmarksmeta.h"

G_BEGIN_DECLS

/* Returns a composition with one rectangle, or NULL when nothing is drawn
 * (no faces, nothing asked for, or everything outside the frame).  @pack may
 * be NULL (debug drawing only). */
GstVideoOverlayComposition *facekp_overlay_render (FkpStickerPack *pack,
                                                   FkpStickerDrawFlags flags,
                                                   const FkpFace *faces,
                                                   guint n_faces,
                                                   guint64 timestamp_ns,
                                                   gint frame_width, gint frame_height);

/* Attaches @comp to @buffer as GstVideoOverlayCompositionMeta, merging it
 * with a composition already attached upstream (ours goes on top). */
void facekp_overlay_attach (GstBuffer *buffer, GstVideoOverlayComposition *comp);

G_END_DECLS

#endif
