/* libFuzzer target: a sticker pack (its .ini and its images) through the
 * loader, then drawn on two faces at two times.  The input is the pack's
 * .ini text, optionally followed by image files, each introduced by a line
 *   --- file NAME
 * (NAME: letters, digits, '.', '-', '_'; at most 40 characters).  The files
 * go to a private folder for the call and are removed after it. */
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

static void
write_file (GPtrArray *written, const char *name, const uint8_t *data, size_t len)
{
  char *path = g_build_filename (work_dir, name, NULL);
  FILE *f = fopen (path, "wb");
  if (!f) {
    g_free (path);
    return;
  }
  if (len)
    fwrite (data, 1, len, f);
  fclose (f);
  g_ptr_array_add (written, path);
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
  g_rmdir (work_dir);
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
    atexit (remove_work_dir);
  }

  GPtrArray *written = g_ptr_array_new_with_free_func (g_free);
  const char *text = (const char *) data;
  const char *end = text + size;
  const char *marker = g_strstr_len (text, (gssize) size, FILE_MARKER);
  write_file (written, "pack.ini", data, marker ? (size_t) (marker - text) : size);
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
      write_file (written, safe, (const uint8_t *) body, (size_t) (body_end - body));
    }
  }

  GError *error = NULL;
  FkpStickerPack *pack = fkp_sticker_pack_load (g_ptr_array_index (written, 0), &error);
  if (pack) {
    FkpFace faces[2];
    make_faces (faces);
    cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, CANVAS_SIDE, CANVAS_SIDE);
    cairo_t *cr = cairo_create (surface);
    FkpStickerDrawFlags flags = FKP_STICKER_DRAW_STICKERS | FKP_STICKER_DRAW_POINTS | FKP_STICKER_DRAW_BOXES;
    cairo_rectangle_int_t extents;
    fkp_sticker_pack_get_extents (pack, faces, 2, flags, &extents);
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

  for (guint i = 0; i < written->len; i++)
    g_unlink (g_ptr_array_index (written, i));
  g_ptr_array_unref (written);
  return 0;
}
