/* Helpers shared by the sticker tests (test-stickers.c, test-triggers.c).
 * Environment (set by tests/stickers/meson.build):
 *   FACEKP_TEST_DATA     tests/data (landmark rows from the keypoint data set)
 *   FACEKP_TEST_GOLDEN   tests/stickers/golden
 *   FACEKP_STICKERS_DIR  stickers/packs (the shipped packs, from the source tree)
 *   FACEKP_TEST_OUTPUT   where failing renders are written for inspection */
#ifndef STICKERS_TEST_UTIL_H
#define STICKERS_TEST_UTIL_H

#include "facekp/stickers.h"

/* Reads the first @max landmark rows of tests/data/stickers-faces.csv. */
guint load_faces (FkpFace *faces, guint max);
/* Scales, turns (radians, about the origin) and moves a face. */
void transform_face (FkpFace *face, double scale, double angle, double dx, double dy);

typedef struct {
  char *dir;
} TempDir;

void temp_dir_setup (TempDir *t, gconstpointer data);
void temp_dir_teardown (TempDir *t, gconstpointer data);
void remove_tree (const char *path);
char *write_file (const char *dir, const char *name, const char *contents, gssize length);
/* A solid-colour PNG of the given size. */
void write_png (const char *dir, const char *name, int width, int height, double r, double g,
                double b);
extern const char *const small_svg;
/* Writes pack.ini = [pack] header + @stickers, plus red.png (40x20) and green.svg (60x30). */
char *write_pack (const char *dir, const char *stickers);
FkpStickerPack *load_ok (const char *path);

guint32 pixel (cairo_surface_t *s, int x, int y);
#define ALPHA(p) ((p) >> 24)
#define RED(p) (((p) >> 16) & 0xff)
#define GREEN(p) (((p) >> 8) & 0xff)
cairo_surface_t *render_surface (FkpStickerPack *pack, const FkpFace *faces, guint n, int w,
                                 int h, guint64 t_ns, FkpStickerDrawFlags flags);
gboolean surface_blank (cairo_surface_t *s);

typedef struct {
  double mean_abs;         /* mean |difference| per channel over inked pixels, 0..255 */
  double changed_fraction; /* inked pixels with a channel off by more than 48 */
  guint inked;
} Difference;

/* Compared over the pixels either image inks. */
Difference compare_surfaces (cairo_surface_t *a, cairo_surface_t *b);
/* Tolerances absorb Cairo and librsvg version noise (antialiasing, gradient
 * dithering), not a sticker that moved, scaled or changed: see
 * test_golden_rejects_changes in test-stickers.c. */
#define GOLDEN_MAX_MEAN_ABS 3.0
#define GOLDEN_MAX_CHANGED 0.01
gboolean within_tolerance (const Difference *d);
cairo_surface_t *load_golden (const char *name);

#endif
