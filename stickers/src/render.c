/* Sticker geometry, the raster cache and drawing. */
#include "stickers-private.h"
#include "blend.h"

#include <math.h>
#include <string.h>

/* The cache keeps recently used rasters up to this many bytes and entries. */
#define CACHE_MAX_BYTES (48u << 20)
#define CACHE_MAX_ENTRIES 128
/* Rasters are made at sizes on a ladder of 2^(1/RASTER_STEPS_PER_OCTAVE) steps
 * (about 2 %), then scaled by at most 1 % when drawn, so that a face whose
 * size jitters by a pixel reuses its rasters instead of re-rendering them. */
#define RASTER_STEPS_PER_OCTAVE 32.0
/* Up to this size rasters are made at the exact integer size. */
#define RASTER_EXACT_BELOW 48
/* Larger rasters are refused (a huge face would otherwise allocate a lot). */
#define RASTER_MAX_SIDE 4096
/* Transparent margin around every raster. */
#define RASTER_BORDER 1

static gboolean
point_ok (const float p[2])
{
  return isfinite (p[0]) && isfinite (p[1]);
}

FKP_PUBLIC gboolean
fkp_sticker_face_frame (const FkpFace *face, FkpStickerFaceFrame *frame)
{
  g_return_val_if_fail (face != NULL && frame != NULL, FALSE);
  const float (*p)[2] = face->points;

  frame->left_eye[0] = 0.5 * ((double) p[36][0] + p[39][0]);
  frame->left_eye[1] = 0.5 * ((double) p[36][1] + p[39][1]);
  frame->right_eye[0] = 0.5 * ((double) p[42][0] + p[45][0]);
  frame->right_eye[1] = 0.5 * ((double) p[42][1] + p[45][1]);
  double dx = frame->right_eye[0] - frame->left_eye[0];
  double dy = frame->right_eye[1] - frame->left_eye[1];
  frame->eye_distance = hypot (dx, dy);
  frame->eye_angle = atan2 (dy, dx);
  frame->face_width = hypot ((double) p[16][0] - p[0][0], (double) p[16][1] - p[0][1]);

  return point_ok (p[36]) && point_ok (p[39]) && point_ok (p[42]) && point_ok (p[45]);
}

static gboolean
sticker_wants_face (const Sticker *sticker, guint id)
{
  if (!sticker->face_ids)
    return TRUE;
  /* faces= accepts any int; a negative one names no tracked face. */
  for (guint i = 0; i < sticker->n_face_ids; i++)
    if (sticker->face_ids[i] >= 0 && (guint) sticker->face_ids[i] == id)
      return TRUE;
  return FALSE;
}

static gboolean
length_ok (double length)
{
  return isfinite (length) && length >= FKP_STICKER_MIN_LENGTH;
}

/* How much of a triggered sticker shows on @face, 0 to 1 (1 for others):
 * play=while: while the expression holds, fading in over fade-in ms from
 * its start, and out over fade-out ms from its end; play=once: while it
 * holds and its frames last, fading in from the start and out over the
 * last fade-out ms of the frames. */
static double
trigger_visibility (const Sticker *sticker, const FkpFace *face)
{
  if (!sticker->triggered)
    return 1.0;
  const int e = sticker->trigger;
  const gboolean on = (face->expression_states >> e) & 1;
  const double held = face->expression_held_ms[e];
  if (!on) {
    /* Never on (held < 0), or a finished once-animation: nothing. */
    if (sticker->play_once || !(held >= 0) || held >= sticker->fade_out_ms)
      return 0.0;
    return 1.0 - held / sticker->fade_out_ms;
  }
  double shown = sticker->fade_in_ms > 0 ? MIN (1.0, held / sticker->fade_in_ms) : 1.0;
  if (sticker->play_once) {
    double left = (double) sticker->n_frames * sticker->frame_duration_ms - held;
    if (!(left > 0))
      return 0.0;
    if (sticker->fade_out_ms > 0)
      shown = MIN (shown, left / sticker->fade_out_ms);
  }
  return shown;
}

/* The image of @sticker to draw on @face at @timestamp_ns: animations loop
 * on the stream's clock, or with play=once run from the expression's start. */
static guint
sticker_frame (const Sticker *sticker, const FkpFace *face, guint64 timestamp_ns)
{
  if (sticker->n_frames <= 1)
    return 0;
  if (sticker->triggered && sticker->play_once) {
    double held = MAX (0.0, face->expression_held_ms[sticker->trigger]);
    return MIN (sticker->n_frames - 1, (guint) (held / sticker->frame_duration_ms));
  }
  return (guint) ((timestamp_ns / 1000000u / sticker->frame_duration_ms) % sticker->n_frames);
}

static gboolean
place_sticker (const Sticker *sticker, guint index, const FkpFace *face,
               FkpStickerPlacement *out)
{
  if (!sticker_wants_face (sticker, face->id))
    return FALSE;

  /* Every sticker leans on the eye line (for rotation, offsets and the
   * forehead), so a face without a usable one gets none. */
  FkpStickerFaceFrame frame;
  if (!fkp_sticker_face_frame (face, &frame) || !length_ok (frame.eye_distance))
    return FALSE;
  double reference = sticker->reference == STICKER_REFERENCE_FACE_WIDTH ? frame.face_width
                                                                         : frame.eye_distance;
  if (!length_ok (reference))
    return FALSE;

  double anchor[2] = { 0, 0 };
  for (guint i = 0; i < sticker->n_anchor_points; i++) {
    const float *p = face->points[sticker->anchor_points[i]];
    if (!point_ok (p))
      return FALSE;
    anchor[0] += p[0];
    anchor[1] += p[1];
  }
  anchor[0] /= sticker->n_anchor_points;
  anchor[1] /= sticker->n_anchor_points;

  double c = cos (frame.eye_angle), s = sin (frame.eye_angle);
  if (sticker->anchor_forehead) {
    /* "Up" is the eye line's normal pointing away from the chin: (s, -c). */
    double lift = FKP_STICKER_FOREHEAD_LIFT * frame.eye_distance;
    anchor[0] += s * lift;
    anchor[1] -= c * lift;
  }

  double shown = trigger_visibility (sticker, face);
  if (!(shown > 0.0))
    return FALSE;
  /* Head pose (FkpFace.yaw): a sticker meant for a face seen from the front
   * may hide on a turned head, or narrow with it. */
  if (sticker->max_yaw <= 90.0 && !(fabs (face->yaw) <= sticker->max_yaw))
    return FALSE;

  double angle = sticker->rotate ? frame.eye_angle : 0.0;
  double ca = cos (angle), sa = sin (angle);
  double ox = sticker->offset[0] * reference, oy = sticker->offset[1] * reference;
  const StickerImage *first = sticker->frames[0];

  out->centre[0] = anchor[0] + ca * ox - sa * oy;
  out->centre[1] = anchor[1] + sa * ox + ca * oy;
  out->width = sticker->size[0] * reference;
  out->height = sticker->size[1] > 0 ? sticker->size[1] * reference
                                     : out->width * first->height / first->width;
  if (sticker->squeeze)
    out->width *= cos (CLAMP (face->yaw, -90.0f, 90.0f) * G_PI / 180.0);
  out->angle = angle;
  out->opacity = sticker->opacity * shown;
  out->z = sticker->z;
  out->sticker_index = index;
  return isfinite (out->centre[0]) && isfinite (out->centre[1]) && isfinite (out->width) &&
         isfinite (out->height);
}

FKP_PUBLIC gboolean
fkp_sticker_pack_place (const FkpStickerPack *pack, guint index, const FkpFace *face,
                        FkpStickerPlacement *placement)
{
  g_return_val_if_fail (pack != NULL && face != NULL && placement != NULL, FALSE);
  g_return_val_if_fail (index < pack->n_stickers, FALSE);
  return place_sticker (&pack->stickers[index], index, face, placement);
}

typedef struct {
  FkpStickerPlacement placement;
  guint face_index;
  guint frame;          /* which of the sticker's images */
} Placed;

static int
compare_placed (gconstpointer a, gconstpointer b)
{
  const Placed *x = a, *y = b;
  if (x->placement.z != y->placement.z)
    return x->placement.z < y->placement.z ? -1 : 1;
  if (x->face_index != y->face_index)
    return x->face_index < y->face_index ? -1 : 1;
  if (x->placement.sticker_index != y->placement.sticker_index)
    return x->placement.sticker_index < y->placement.sticker_index ? -1 : 1;
  return 0;
}

/* All placements of all faces in drawing order. */
static GArray *
place_all (const FkpStickerPack *pack, const FkpFace *faces, guint n_faces,
           guint64 timestamp_ns)
{
  GArray *placed = g_array_new (FALSE, FALSE, sizeof (Placed));
  for (guint f = 0; f < n_faces; f++) {
    for (guint i = 0; i < pack->n_stickers; i++) {
      Placed item = { .face_index = f };
      if (place_sticker (&pack->stickers[i], i, &faces[f], &item.placement) &&
          item.placement.opacity > 0) {
        item.frame = sticker_frame (&pack->stickers[i], &faces[f], timestamp_ns);
        g_array_append_val (placed, item);
      }
    }
  }
  g_array_sort (placed, compare_placed);
  return placed;
}

static int
raster_side (double pixels)
{
  if (pixels < RASTER_EXACT_BELOW)
    return MAX (1, (int) lround (pixels));
  double step = round (log2 (pixels) * RASTER_STEPS_PER_OCTAVE) / RASTER_STEPS_PER_OCTAVE;
  return MIN (RASTER_MAX_SIDE, (int) lround (exp2 (step)));
}

/* Rasterises @image into @width x @height pixels inside a 1-pixel transparent
 * border (so bilinear sampling fades out at the edges without bounds checks). */
static cairo_surface_t *
rasterise (StickerImage *image, int width, int height)
{
  cairo_surface_t *raster =
      cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width + 2 * RASTER_BORDER,
                                  height + 2 * RASTER_BORDER);
  if (cairo_surface_status (raster) != CAIRO_STATUS_SUCCESS)
    return raster;
  cairo_t *cr = cairo_create (raster);
  cairo_translate (cr, RASTER_BORDER, RASTER_BORDER);
  if (image->kind == STICKER_IMAGE_SVG) {
    /* librsvg fits the document into the viewport keeping its aspect ratio. */
    RsvgRectangle viewport = { 0, 0, width, height };
    rsvg_handle_render_document (image->svg, cr, &viewport, NULL);
  } else {
    double scale = MIN (width / image->width, height / image->height);
    cairo_translate (cr, 0.5 * (width - image->width * scale),
                     0.5 * (height - image->height * scale));
    cairo_scale (cr, scale, scale);
    cairo_set_source_surface (cr, image->png, 0, 0);
    cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
    cairo_paint (cr);
  }
  cairo_destroy (cr);
  cairo_surface_flush (raster);
  return raster;
}

static gsize
raster_bytes (int width, int height)
{
  return (gsize) (width + 2 * RASTER_BORDER) * (height + 2 * RASTER_BORDER) * 4;
}

/* Returns a raster of @image at @width x @height (borrowed; valid until the
 * next call).  Called with pack->lock held. */
static cairo_surface_t *
cached_raster (FkpStickerPack *pack, StickerImage *image, int width, int height)
{
  pack->cache_clock++;
  for (guint i = 0; i < pack->cache->len; i++) {
    RasterCacheEntry *entry = g_ptr_array_index (pack->cache, i);
    if (entry->image == image && entry->width == width && entry->height == height) {
      entry->last_used = pack->cache_clock;
      return entry->raster;
    }
  }

  gsize bytes = raster_bytes (width, height);
  while (pack->cache->len > 0 &&
         (pack->cache->len >= CACHE_MAX_ENTRIES || pack->cache_bytes + bytes > CACHE_MAX_BYTES)) {
    guint oldest = 0;
    for (guint i = 1; i < pack->cache->len; i++) {
      RasterCacheEntry *a = g_ptr_array_index (pack->cache, i);
      RasterCacheEntry *b = g_ptr_array_index (pack->cache, oldest);
      if (a->last_used < b->last_used)
        oldest = i;
    }
    RasterCacheEntry *victim = g_ptr_array_index (pack->cache, oldest);
    pack->cache_bytes -= raster_bytes (victim->width, victim->height);
    g_ptr_array_remove_index_fast (pack->cache, oldest);
  }

  RasterCacheEntry *entry = g_new0 (RasterCacheEntry, 1);
  entry->image = image;
  entry->width = width;
  entry->height = height;
  entry->raster = rasterise (image, width, height);
  entry->last_used = pack->cache_clock;
  pack->cache_bytes += bytes;
  g_ptr_array_add (pack->cache, entry);
  return entry->raster;
}

/* Where rendering goes: straight into image pixels when @cr allows it (an
 * ARGB32/RGB24 image target, OVER, a translation-only transform and a clip
 * made of whole-pixel rectangles), through Cairo otherwise. */
typedef struct {
  gboolean direct;
  cairo_surface_t *surface;
  guint8 *data;
  int stride;
  double offset_x, offset_y;          /* user → device pixels */
  cairo_rectangle_int_t clips[16];
  int n_clips;
  cairo_rectangle_int_t dirty;        /* union of what was drawn, device pixels */
  gboolean any_dirty;
} Target;

static gboolean
near_integer (double value)
{
  return fabs (value - round (value)) < 1e-6 && fabs (value) < 1e9;
}

static void
target_begin (Target *t, cairo_t *cr)
{
  memset (t, 0, sizeof *t);
  cairo_surface_t *surface = cairo_get_group_target (cr);
  cairo_matrix_t m;
  cairo_get_matrix (cr, &m);
  if (cairo_get_operator (cr) != CAIRO_OPERATOR_OVER ||
      cairo_surface_get_type (surface) != CAIRO_SURFACE_TYPE_IMAGE ||
      m.xx != 1.0 || m.yy != 1.0 || m.xy != 0.0 || m.yx != 0.0)
    return;
  cairo_format_t format = cairo_image_surface_get_format (surface);
  if (format != CAIRO_FORMAT_ARGB32 && format != CAIRO_FORMAT_RGB24)
    return;
  double dox, doy;
  cairo_surface_get_device_offset (surface, &dox, &doy);
  t->offset_x = m.x0 + dox;
  t->offset_y = m.y0 + doy;

  cairo_rectangle_list_t *list = cairo_copy_clip_rectangle_list (cr);
  gboolean ok = list->status == CAIRO_STATUS_SUCCESS &&
                list->num_rectangles <= (int) G_N_ELEMENTS (t->clips);
  int width = cairo_image_surface_get_width (surface);
  int height = cairo_image_surface_get_height (surface);
  for (int i = 0; ok && i < list->num_rectangles; i++) {
    const cairo_rectangle_t *r = &list->rectangles[i];
    double x0 = r->x + t->offset_x, y0 = r->y + t->offset_y;
    double x1 = x0 + r->width, y1 = y0 + r->height;
    if (!near_integer (x0) || !near_integer (y0) || !near_integer (x1) || !near_integer (y1)) {
      ok = FALSE;
      break;
    }
    int ix0 = MAX (0, (int) round (x0)), iy0 = MAX (0, (int) round (y0));
    int ix1 = MIN (width, (int) round (x1)), iy1 = MIN (height, (int) round (y1));
    if (ix1 > ix0 && iy1 > iy0)
      t->clips[t->n_clips++] = (cairo_rectangle_int_t) { ix0, iy0, ix1 - ix0, iy1 - iy0 };
  }
  cairo_rectangle_list_destroy (list);
  if (!ok)
    return;
  cairo_surface_flush (surface);
  t->data = cairo_image_surface_get_data (surface);
  t->stride = cairo_image_surface_get_stride (surface);
  t->surface = surface;
  t->direct = t->data != NULL;
}

static void
target_end (Target *t)
{
  if (t->direct && t->any_dirty)
    cairo_surface_mark_dirty_rectangle (t->surface, t->dirty.x, t->dirty.y, t->dirty.width,
                                        t->dirty.height);
}

static void
target_blend (Target *t, cairo_surface_t *raster, const FkpStickerPlacement *placement,
              double scale_x, double scale_y)
{
  double cx = placement->centre[0] + t->offset_x, cy = placement->centre[1] + t->offset_y;
  int rw = cairo_image_surface_get_width (raster), rh = cairo_image_surface_get_height (raster);
  double c = fabs (cos (placement->angle)), s = fabs (sin (placement->angle));
  double hx = 0.5 * (c * rw * scale_x + s * rh * scale_y) + 1;
  double hy = 0.5 * (s * rw * scale_x + c * rh * scale_y) + 1;
  cairo_rectangle_int_t reach = { (int) floor (cx - hx), (int) floor (cy - hy), 0, 0 };
  reach.width = (int) ceil (cx + hx) - reach.x;
  reach.height = (int) ceil (cy + hy) - reach.y;

  for (int i = 0; i < t->n_clips; i++) {
    cairo_rectangle_int_t area = t->clips[i];
    int x1 = MIN (area.x + area.width, reach.x + reach.width);
    int y1 = MIN (area.y + area.height, reach.y + reach.height);
    area.x = MAX (area.x, reach.x);
    area.y = MAX (area.y, reach.y);
    area.width = x1 - area.x;
    area.height = y1 - area.y;
    if (area.width <= 0 || area.height <= 0)
      continue;
    fkp_sticker_blend (t->data, t->stride, &area, cairo_image_surface_get_data (raster),
                       cairo_image_surface_get_stride (raster), rw, rh, cx, cy,
                       placement->angle, scale_x, scale_y, placement->opacity);
    if (!t->any_dirty) {
      t->dirty = area;
      t->any_dirty = TRUE;
    } else {
      int dx1 = MAX (t->dirty.x + t->dirty.width, area.x + area.width);
      int dy1 = MAX (t->dirty.y + t->dirty.height, area.y + area.height);
      t->dirty.x = MIN (t->dirty.x, area.x);
      t->dirty.y = MIN (t->dirty.y, area.y);
      t->dirty.width = dx1 - t->dirty.x;
      t->dirty.height = dy1 - t->dirty.y;
    }
  }
}

static void
draw_placement (FkpStickerPack *pack, cairo_t *cr, Target *target,
                const FkpStickerPlacement *placement, guint frame)
{
  const Sticker *sticker = &pack->stickers[placement->sticker_index];
  /* Too large to be meant (e.g. a bogus face box): skip rather than allocate. */
  if (placement->width > RASTER_MAX_SIDE || placement->height > RASTER_MAX_SIDE ||
      placement->width < 0.5 || placement->height < 0.5)
    return;

  int width = raster_side (placement->width);
  int height = MAX (1, (int) lround (width * placement->height / placement->width));
  cairo_surface_t *raster = cached_raster (pack, sticker->frames[frame], width, height);
  if (cairo_surface_status (raster) != CAIRO_STATUS_SUCCESS)
    return;
  double scale_x = placement->width / width, scale_y = placement->height / height;

  if (target->direct) {
    target_blend (target, raster, placement, scale_x, scale_y);
    return;
  }
  cairo_save (cr);
  cairo_translate (cr, placement->centre[0], placement->centre[1]);
  cairo_rotate (cr, placement->angle);
  cairo_scale (cr, scale_x, scale_y);
  cairo_set_source_surface (cr, raster, -0.5 * cairo_image_surface_get_width (raster),
                            -0.5 * cairo_image_surface_get_height (raster));
  /* The raster is already at (nearly) the drawn size: bilinear is enough. */
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_BILINEAR);
  if (placement->opacity >= 1.0)
    cairo_paint (cr);
  else
    cairo_paint_with_alpha (cr, placement->opacity);
  cairo_restore (cr);
}

static double
debug_point_radius (const FkpFace *face)
{
  FkpStickerFaceFrame frame;
  if (fkp_sticker_face_frame (face, &frame) && length_ok (frame.eye_distance))
    return CLAMP (0.03 * frame.eye_distance, 1.5, 6.0);
  return 2.0;
}

static gboolean
box_ok (const FkpFace *face)
{
  return isfinite (face->box.x) && isfinite (face->box.y) && isfinite (face->box.width) &&
         isfinite (face->box.height) && face->box.width > 0 && face->box.height > 0 &&
         face->box.width < 1e6 && face->box.height < 1e6 && fabsf (face->box.x) < 1e6 &&
         fabsf (face->box.y) < 1e6;
}

#define BOX_LINE_WIDTH 2.0

static void
draw_debug (cairo_t *cr, const FkpFace *faces, guint n_faces, FkpStickerDrawFlags flags)
{
  cairo_save (cr);
  for (guint f = 0; f < n_faces; f++) {
    const FkpFace *face = &faces[f];
    if ((flags & FKP_STICKER_DRAW_BOXES) && box_ok (face)) {
      cairo_set_line_width (cr, BOX_LINE_WIDTH);
      cairo_set_source_rgba (cr, 1.0, 0.85, 0.1, 0.9);
      cairo_rectangle (cr, face->box.x, face->box.y, face->box.width, face->box.height);
      cairo_stroke (cr);
      /* The id goes inside the box's top-left corner so it stays in the extents. */
      char label[16];
      g_snprintf (label, sizeof label, "%u", face->id);
      double font = CLAMP (face->box.height * 0.08, 9.0, 32.0);
      cairo_set_font_size (cr, font);
      cairo_move_to (cr, face->box.x + BOX_LINE_WIDTH + 1, face->box.y + font);
      cairo_show_text (cr, label);
    }
    if (flags & FKP_STICKER_DRAW_POINTS) {
      double radius = debug_point_radius (face);
      for (guint i = 0; i < FKP_FACE_N_POINTS; i++) {
        const float *p = face->points[i];
        if (!point_ok (p) || fabsf (p[0]) > 1e6f || fabsf (p[1]) > 1e6f)
          continue;
        cairo_new_sub_path (cr);
        cairo_arc (cr, p[0], p[1], radius, 0, 2 * G_PI);
      }
      cairo_set_source_rgba (cr, 0.1, 1.0, 0.3, 0.9);
      cairo_fill_preserve (cr);
      cairo_set_source_rgba (cr, 0, 0.25, 0, 0.9);
      cairo_set_line_width (cr, 0.5);
      cairo_stroke (cr);
    }
  }
  cairo_restore (cr);
}

FKP_PUBLIC void
fkp_sticker_pack_render (FkpStickerPack *pack, cairo_t *cr, const FkpFace *faces,
                         guint n_faces, guint64 timestamp_ns, FkpStickerDrawFlags flags)
{
  g_return_if_fail (cr != NULL);
  g_return_if_fail (faces != NULL || n_faces == 0);

  if (pack && (flags & FKP_STICKER_DRAW_STICKERS) && n_faces > 0) {
    g_autoptr (GArray) placed = place_all (pack, faces, n_faces, timestamp_ns);
    Target target;
    target_begin (&target, cr);
    g_mutex_lock (&pack->lock);
    for (guint i = 0; i < placed->len; i++)
      draw_placement (pack, cr, &target, &g_array_index (placed, Placed, i).placement,
                      g_array_index (placed, Placed, i).frame);
    g_mutex_unlock (&pack->lock);
    target_end (&target);
  }
  if (flags & (FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES))
    draw_debug (cr, faces, n_faces, flags);
}

typedef struct {
  double x0, y0, x1, y1;
  gboolean any;
} Bounds;

static void
bounds_add (Bounds *b, double x0, double y0, double x1, double y1)
{
  if (!b->any) {
    b->x0 = x0, b->y0 = y0, b->x1 = x1, b->y1 = y1;
    b->any = TRUE;
    return;
  }
  b->x0 = MIN (b->x0, x0);
  b->y0 = MIN (b->y0, y0);
  b->x1 = MAX (b->x1, x1);
  b->y1 = MAX (b->y1, y1);
}

FKP_PUBLIC gboolean
fkp_sticker_pack_get_extents (const FkpStickerPack *pack, const FkpFace *faces,
                              guint n_faces, FkpStickerDrawFlags flags,
                              cairo_rectangle_int_t *extents)
{
  g_return_val_if_fail (extents != NULL, FALSE);
  g_return_val_if_fail (faces != NULL || n_faces == 0, FALSE);
  Bounds bounds = { 0 };

  if (pack && (flags & FKP_STICKER_DRAW_STICKERS)) {
    g_autoptr (GArray) placed = place_all (pack, faces, n_faces, 0);
    for (guint i = 0; i < placed->len; i++) {
      const FkpStickerPlacement *p = &g_array_index (placed, Placed, i).placement;
      if (p->width > RASTER_MAX_SIDE || p->height > RASTER_MAX_SIDE || p->width < 0.5 ||
          p->height < 0.5)
        continue;
      /* Half-extents of the rotated rectangle. */
      double c = fabs (cos (p->angle)), s = fabs (sin (p->angle));
      double hx = 0.5 * (p->width * c + p->height * s);
      double hy = 0.5 * (p->width * s + p->height * c);
      bounds_add (&bounds, p->centre[0] - hx, p->centre[1] - hy, p->centre[0] + hx,
                  p->centre[1] + hy);
    }
  }
  for (guint f = 0; f < n_faces; f++) {
    const FkpFace *face = &faces[f];
    if ((flags & FKP_STICKER_DRAW_BOXES) && box_ok (face)) {
      double half = 0.5 * BOX_LINE_WIDTH;
      bounds_add (&bounds, face->box.x - half, face->box.y - half,
                  face->box.x + face->box.width + half, face->box.y + face->box.height + half);
    }
    if (flags & FKP_STICKER_DRAW_POINTS) {
      double r = debug_point_radius (face) + 0.5;
      for (guint i = 0; i < FKP_FACE_N_POINTS; i++) {
        const float *p = face->points[i];
        if (point_ok (p) && fabsf (p[0]) <= 1e6f && fabsf (p[1]) <= 1e6f)
          bounds_add (&bounds, p[0] - r, p[1] - r, p[0] + r, p[1] + r);
      }
    }
  }

  if (!bounds.any) {
    *extents = (cairo_rectangle_int_t) { 0, 0, 0, 0 };
    return FALSE;
  }
  /* One pixel of margin for antialiasing and bilinear sampling. */
  double x0 = floor (bounds.x0) - 1, y0 = floor (bounds.y0) - 1;
  double x1 = ceil (bounds.x1) + 1, y1 = ceil (bounds.y1) + 1;
  const double limit = 1 << 30;
  x0 = CLAMP (x0, -limit, limit);
  y0 = CLAMP (y0, -limit, limit);
  x1 = CLAMP (x1, -limit, limit);
  y1 = CLAMP (y1, -limit, limit);
  extents->x = (int) x0;
  extents->y = (int) y0;
  extents->width = (int) (x1 - x0);
  extents->height = (int) (y1 - y0);
  return TRUE;
}
