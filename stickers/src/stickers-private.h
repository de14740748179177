/* Internal types shared by the pack loader and the renderer. */
#ifndef FACEKP_STICKERS_PRIVATE_H
#define FACEKP_STICKERS_PRIVATE_H

#include "facekp/stickers.h"

#include <librsvg/rsvg.h>

typedef enum {
  STICKER_IMAGE_PNG,
  STICKER_IMAGE_SVG,
} StickerImageKind;

/* One decoded image file; shared by every sticker (and frame) that names it. */
typedef struct {
  char *path;
  StickerImageKind kind;
  cairo_surface_t *png;   /* STICKER_IMAGE_PNG */
  RsvgHandle *svg;        /* STICKER_IMAGE_SVG */
  double width, height;   /* intrinsic size in pixels, both > 0 */
} StickerImage;

typedef enum {
  STICKER_REFERENCE_EYE_DISTANCE,
  STICKER_REFERENCE_FACE_WIDTH,
} StickerReference;

typedef struct {
  char *name;                 /* NAME of the [sticker NAME] group */
  StickerImage **frames;      /* borrowed from the pack's image table */
  guint n_frames;
  guint frame_duration_ms;    /* time each frame shows when n_frames > 1 */
  guint8 anchor_points[FKP_FACE_N_POINTS];  /* anchor = mean of these */
  guint n_anchor_points;
  gboolean anchor_forehead;   /* mean of eye centres lifted by FOREHEAD_LIFT eye distances */
  StickerReference reference;
  double size[2];             /* width, height in reference units; height <= 0: from aspect */
  double offset[2];           /* in reference units, in the sticker's frame */
  gboolean rotate;
  double opacity;
  int z;
  int *face_ids;              /* NULL: every face */
  guint n_face_ids;
  gboolean triggered;         /* drawn only around the face's `trigger` expression */
  FkpExpression trigger;
  gboolean play_once;         /* frames from the expression's start, once; else while it holds */
  guint fade_in_ms, fade_out_ms;
  double max_yaw;             /* degrees: hidden on faces turned further (|yaw|); > 90: never */
  gboolean squeeze;           /* width × cos(yaw): narrower as the head turns */
} Sticker;

/* How far above the eye line, in eye distances, the forehead anchor lies. */
#define FKP_STICKER_FOREHEAD_LIFT 0.6

/* Below this many pixels a reference length is degenerate. */
#define FKP_STICKER_MIN_LENGTH 1e-3

typedef struct {
  StickerImage *image;
  int width, height;
  cairo_surface_t *raster;
  guint64 last_used;
} RasterCacheEntry;

struct _FkpStickerPack {
  char *path;
  char *name;
  Sticker *stickers;
  guint n_stickers;
  GPtrArray *images;          /* StickerImage*, owned */

  GMutex lock;                /* guards the cache and librsvg handles */
  GPtrArray *cache;           /* RasterCacheEntry*, owned */
  gsize cache_bytes;
  guint64 cache_clock;
};

void fkp_sticker_image_free (StickerImage *image);

#endif
