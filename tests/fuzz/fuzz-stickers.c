/* libFuzzer target: a sticker pack (its .ini and its images) through the
 * loader, then drawn on two faces at two times.  The input is the pack's
 * .ini text, optionally followed by image files, each introduced by a line
 *   --- file NAME
 * (NAME: letters, digits, '.', '-', '_'; at most 40 characters).  The files
 * go to a private folder which, after the call's writes, holds exactly the
 * input's files: a file whose bytes did not change since the previous call
 * is left in place (most mutations change one file, and creating, writing
 * and removing every file took a fifth of each execution).
 *
 * The face outlines and boxes (FKP_STICKER_DRAW_POINTS | BOXES) depend only
 * on the two fixed faces, not on the input: they are drawn once per process,
 * not on every call (their strokes and text took another fifth). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "facekp/stickers.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FILE_MARKER "\n--- file "
#define MAX_NAME 40
#define CANVAS_SIDE 64

static char *work_dir;
/* What the folder holds: file name -> GBytes of its contents. */
static GHashTable *on_disk;

static gboolean
name_is_safe (const char *name, size_t len)
{
  if (len == 0 || len > MAX_NAME || name[0] == '.')
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if (!g_ascii_isalnum (name[i]) && !strchr ("._-", name[i]))
      return FALSE;
  return TRUE;
}

static gboolean
write_file (const char *name, GBytes *bytes)
{
  g_autofree char *path = g_build_filename (work_dir, name, NULL);
  FILE *f = fopen (path, "wb");
  if (!f)
    return FALSE;
  gsize len;
  const void *data = g_bytes_get_data (bytes, &len);
  gboolean ok = len == 0 || fwrite (data, 1, len, f) == len;
  return fclose (f) == 0 && ok;
}

static void
remove_file (const char *name)
{
  g_autofree char *path = g_build_filename (work_dir, name, NULL);
  g_unlink (path);
}

/* Makes the folder hold exactly @wanted (name -> GBytes). */
static void
sync_files (GHashTable *wanted)
{
  GHashTableIter iter;
  gpointer name, bytes;
  g_hash_table_iter_init (&iter, on_disk);
  while (g_hash_table_iter_next (&iter, &name, &bytes)) {
    if (!g_hash_table_contains (wanted, name)) {
      remove_file (name);
      g_hash_table_iter_remove (&iter);
    }
  }
  g_hash_table_iter_init (&iter, wanted);
  while (g_hash_table_iter_next (&iter, &name, &bytes)) {
    GBytes *old = g_hash_table_lookup (on_disk, name);
    if (old && g_bytes_equal (old, bytes))
      continue;
    if (write_file (name, bytes)) {
      g_hash_table_replace (on_disk, g_strdup (name), g_bytes_ref (bytes));
    } else {
      remove_file (name);
      g_hash_table_remove (on_disk, name);
    }
  }
}

/* A round face of radius 20 (points on a circle, which puts eyes, nose and
 * mouth points in distinct places) and one whose points all coincide. */
static void
make_faces (FkpFace faces[2])
{
  memset (faces, 0, 2 * sizeof (FkpFace));
  for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
    double angle = 2.0 * G_PI * p / FKP_FACE_N_POINTS;
    faces[0].points[p][0] = (float) (32.0 + 20.0 * cos (angle));
    faces[0].points[p][1] = (float) (32.0 + 20.0 * sin (angle));
    faces[1].points[p][0] = 10.0f;
    faces[1].points[p][1] = 50.0f;
  }
  faces[0].id = 1;
  faces[0].score = 0.9f;
  faces[0].box = (FkpFaceBox) { 12, 12, 40, 40 };
  faces[1].id = 2;
  faces[1].score = 0.5f;
  faces[1].box = (FkpFaceBox) { 10, 50, 0, 0 };
}

static void
remove_work_dir (void)
{
  GHashTableIter iter;
  gpointer name;
  g_hash_table_iter_init (&iter, on_disk);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    remove_file (name);
  g_hash_table_destroy (on_disk);
  g_rmdir (work_dir);
}

/* Outlines, points, boxes and their labels on the fixed faces, and their
 * extents: the same on every call, so drawn once. */
static void
draw_debug_once (void)
{
  FkpFace faces[2];
  make_faces (faces);
  FkpStickerDrawFlags flags = FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES;
  cairo_rectangle_int_t extents;
  if (!fkp_sticker_pack_get_extents (NULL, faces, 2, flags, &extents))
    abort ();
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, CANVAS_SIDE, CANVAS_SIDE);
  cairo_t *cr = cairo_create (surface);
  fkp_sticker_pack_render (NULL, cr, faces, 2, 0, flags);
  cairo_destroy (cr);
  cairo_surface_destroy (surface);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!work_dir) {
    /* Memory-backed when possible: the fuzzer writes files on every run. */
    const char *base = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir ();
    char *template = g_build_filename (base, "fkp-fuzz-stickers-XXXXXX", NULL);
    work_dir = g_mkdtemp (template);
    if (!work_dir)
      abort ();
    on_disk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) g_bytes_unref);
    atexit (remove_work_dir);
    draw_debug_once ();
  }

  /* name -> contents; a later file of the same name replaces an earlier one */
  GHashTable *wanted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) g_bytes_unref);
  const char *text = (const char *) data;
  const char *end = text + size;
  const char *marker = g_strstr_len (text, (gssize) size, FILE_MARKER);
  g_hash_table_replace (wanted, g_strdup ("pack.ini"),
                        g_bytes_new (data, marker ? (size_t) (marker - text) : size));
  while (marker) {
    const char *name = marker + strlen (FILE_MARKER);
    const char *eol = memchr (name, '\n', (size_t) (end - name));
    if (!eol)
      break;
    const char *body = eol + 1;
    marker = g_strstr_len (body, end - body, FILE_MARKER);
    const char *body_end = marker ? marker : end;
    char safe[MAX_NAME + 1];
    size_t name_len = (size_t) (eol - name);
    if (name_is_safe (name, name_len) && !(name_len == 8 && memcmp (name, "pack.ini", 8) == 0)) {
      memcpy (safe, name, name_len);
      safe[name_len] = '\0';
      g_hash_table_replace (wanted, g_strdup (safe),
                            g_bytes_new (body, (size_t) (body_end - body)));
    }
  }
  sync_files (wanted);
  g_hash_table_destroy (wanted);

  GError *error = NULL;
  g_autofree char *pack_path = g_build_filename (work_dir, "pack.ini", NULL);
  FkpStickerPack *pack = fkp_sticker_pack_load (pack_path, &error);
  if (pack) {
    FkpFace faces[2];
    make_faces (faces);
    cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, CANVAS_SIDE, CANVAS_SIDE);
    cairo_t *cr = cairo_create (surface);
    FkpStickerDrawFlags flags = FKP_STICKER_DRAW_STICKERS;
    cairo_rectangle_int_t extents;
    fkp_sticker_pack_get_extents (pack, faces, 2,
        flags | FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES, &extents);
    fkp_sticker_pack_render (pack, cr, faces, 2, 0, flags);
    fkp_sticker_pack_render (pack, cr, faces, 2, 300 * G_GUINT64_CONSTANT (1000000), flags);
    for (guint i = 0; i < fkp_sticker_pack_get_n_stickers (pack); i++) {
      FkpStickerPlacement placement;
      if (!fkp_sticker_pack_get_sticker_name (pack, i))
        abort ();
      fkp_sticker_pack_place (pack, i, &faces[0], &placement);
    }
    cairo_destroy (cr);
    cairo_surface_destroy (surface);
    fkp_sticker_pack_free (pack);
  } else {
    if (!error || error->domain != FKP_STICKER_ERROR || !error->message)
      abort ();
    g_error_free (error);
  }
  return 0;
}
