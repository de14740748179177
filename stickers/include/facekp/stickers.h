/* facekp-stickers: sticker packs (GKeyFile + PNG/SVG) drawn with Cairo on faces
 * described by 68 iBUG landmarks.  Plain C11; no GStreamer.
 *
 * Typical use:
 *
 *   GError *error = NULL;
 *   FkpStickerPack *pack = fkp_sticker_pack_open ("default", &error);
 *   if (!pack) { g_printerr ("%s\n", error->message); g_clear_error (&error); }
 *   ...
 *   fkp_sticker_pack_render (pack, cr, faces, n_faces, timestamp_ns, FKP_STICKER_DRAW_STICKERS);
 *   ...
 *   fkp_sticker_pack_free (pack);
 *
 * The pack format and every geometric definition are documented in docs/stickers.md.
 *
 * Threads: a pack may be used from several threads; rendering takes the pack's
 * internal lock around its raster cache. */
#ifndef FACEKP_STICKERS_H
#define FACEKP_STICKERS_H

#include <glib.h>
#include <cairo.h>
#include <facekp/face-types.h>

G_BEGIN_DECLS

/* Sticker sizes and offsets are rejected beyond this many reference units. */
#define FKP_STICKER_MAX_UNITS 20.0

/* Faces are FkpFace (facekp/face-types.h), in the pixels of the target
 * surface; a sticker's faces= list matches FkpFace.id. */

/* Where one sticker lands on one face. */
typedef struct {
  double centre[2];       /* image centre in surface pixels */
  double width, height;   /* drawn size in surface pixels */
  double angle;           /* radians, clockwise on screen (y grows down) */
  double opacity;         /* 0..1 */
  int z;                  /* z-order: higher draws later (on top) */
  guint sticker_index;    /* index in the pack, see fkp_sticker_pack_get_sticker_name */
} FkpStickerPlacement;

/* Geometry shared by every sticker of a face (see docs/stickers.md). */
typedef struct {
  double left_eye[2];     /* mean of points 36 and 39 (the eye on the image's left) */
  double right_eye[2];    /* mean of points 42 and 45 */
  double eye_distance;    /* |right_eye - left_eye| */
  double face_width;      /* |point 16 - point 0| */
  double eye_angle;       /* atan2 (right_eye - left_eye), radians */
} FkpStickerFaceFrame;

typedef enum {
  FKP_STICKER_DRAW_STICKERS = 1 << 0,
  FKP_STICKER_DRAW_POINTS   = 1 << 1,   /* debug: the 68 landmarks */
  FKP_STICKER_DRAW_BOXES    = 1 << 2,   /* debug: face boxes with their ids */
} FkpStickerDrawFlags;

#define FKP_STICKER_ERROR (fkp_sticker_error_quark ())

typedef enum {
  FKP_STICKER_ERROR_FILE,            /* pack file unreadable or not a key file */
  FKP_STICKER_ERROR_NOT_FOUND,       /* named pack found nowhere */
  FKP_STICKER_ERROR_MISSING_GROUP,   /* [pack] absent, or no [sticker ...] group */
  FKP_STICKER_ERROR_MISSING_KEY,     /* a required key is absent */
  FKP_STICKER_ERROR_INVALID_VALUE,   /* malformed key: not a number, out of range, unknown key */
  FKP_STICKER_ERROR_UNKNOWN_ANCHOR,  /* anchor= neither a known name nor landmark indices */
  FKP_STICKER_ERROR_ABSURD_SIZE,     /* size <= 0, NaN or above FKP_STICKER_MAX_UNITS */
  FKP_STICKER_ERROR_IMAGE,           /* image missing, undecodable or of an unknown type */
} FkpStickerError;

typedef struct _FkpStickerPack FkpStickerPack;

GQuark fkp_sticker_error_quark (void);

/* Loads a pack from its .ini file, decoding every image up front so that a
 * broken pack fails here and never while rendering.  Errors name the file, the
 * group and the key at fault. */
FkpStickerPack *fkp_sticker_pack_load (const char *path, GError **error);

/* Resolves a pack name ("default", "seed", ...) or a path to the .ini file to
 * load.  A value containing a '/' or ending in ".ini" is a path.  A name is
 * looked up as NAME/NAME.ini in $FACEKP_STICKERS_DIR, then in the installed
 * data directory (<datadir>/facekp/stickers), then in the source tree's
 * stickers/packs.  Free the result with g_free. */
char *fkp_sticker_pack_find (const char *name_or_path, GError **error);

/* fkp_sticker_pack_find followed by fkp_sticker_pack_load. */
FkpStickerPack *fkp_sticker_pack_open (const char *name_or_path, GError **error);

void fkp_sticker_pack_free (FkpStickerPack *pack);

const char *fkp_sticker_pack_get_name (const FkpStickerPack *pack);
const char *fkp_sticker_pack_get_path (const FkpStickerPack *pack);
guint fkp_sticker_pack_get_n_stickers (const FkpStickerPack *pack);
const char *fkp_sticker_pack_get_sticker_name (const FkpStickerPack *pack, guint index);

/* Eye centres, reference lengths and eye-line angle of a face.  Returns FALSE
 * when an eye point (36, 39, 42 or 45) is not finite; face_width is NaN or
 * infinite when points 0 or 16 are. */
gboolean fkp_sticker_face_frame (const FkpFace *face, FkpStickerFaceFrame *frame);

/* Computes where sticker @index lands on @face.  Returns FALSE when the
 * sticker is not drawn on that face: its faces= list excludes the face, a
 * point it needs is not finite, or the reference length is zero or not
 * finite. */
gboolean fkp_sticker_pack_place (const FkpStickerPack *pack, guint index,
                                 const FkpFace *face,
                                 FkpStickerPlacement *placement);

/* Draws on @cr (in its current user space, usually surface pixels): with
 * FKP_STICKER_DRAW_STICKERS every sticker of @pack on every face, in z-order
 * then pack order; then the debug drawings @flags ask for.  @pack may be NULL
 * (debug drawing only).  @timestamp_ns picks the frame of animated stickers.
 * Faces with odd geometry are skipped sticker by sticker, never an error. */
void fkp_sticker_pack_render (FkpStickerPack *pack, cairo_t *cr,
                              const FkpFace *faces, guint n_faces,
                              guint64 timestamp_ns, FkpStickerDrawFlags flags);

/* The integer rectangle, in the faces' coordinates (the frame's pixels), that
 * fkp_sticker_pack_render with the same arguments may touch, so that a caller
 * can allocate only that region of an overlay: make a surface of
 * extents->width x height, cairo_translate (cr, -extents->x, -extents->y) and
 * render.  Returns FALSE (and an empty rectangle) when nothing would be drawn.
 * @pack may be NULL. */
gboolean fkp_sticker_pack_get_extents (const FkpStickerPack *pack,
                                       const FkpFace *faces, guint n_faces,
                                       FkpStickerDrawFlags flags,
                                       cairo_rectangle_int_t *extents);

G_END_DECLS

#endif /* FACEKP_STICKERS_H */
