/* Internal: the fast path that draws a cached raster onto image pixels. */
#ifndef FACEKP_STICKERS_BLEND_H
#define FACEKP_STICKERS_BLEND_H

#include <glib.h>
#include <cairo.h>

/* Composites @src (premultiplied ARGB32, @src_width x @src_height, whose
 * outermost pixels must be transparent) OVER @dst (ARGB32 or RGB24) within
 * @clip (destination pixels).  The raster's centre lands on (@centre_x,
 * @centre_y), turned by @angle radians (clockwise on screen), scaled by
 * @scale_x/@scale_y, with @opacity; sampling is bilinear. */
void fkp_sticker_blend (guint8 *dst, int dst_stride, const cairo_rectangle_int_t *clip,
                        const guint8 *src, int src_stride, int src_width, int src_height,
                        double centre_x, double centre_y, double angle, double scale_x,
                        double scale_y, double opacity);

#endif
