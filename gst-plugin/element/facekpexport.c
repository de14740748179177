#include "facekpexport.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

struct _FacekpExport {
  gchar *location;
  FILE *file;
  GString *line;   /* reused between frames */
  guint64 n_lines; /* the next line's "frame" */
};

FacekpExport *
facekp_export_open (const gchar *location, GError **error)
{
  FILE *file = g_fopen (location, "wb");
  if (!file) {
    int saved = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                 "Cannot create export file \"%s\": %s", location, g_strerror (saved));
    return NULL;
  }
  FacekpExport *exp = g_new0 (FacekpExport, 1);
  exp->location = g_strdup (location);
  exp->file = file;
  exp->line = g_string_sized_new (4096);
  return exp;
}

const gchar *
facekp_export_get_location (const FacekpExport *exp)
{
  return exp->location;
}

/* Locale-independent number; JSON has no NaN or infinity, so those become null. */
static void
append_number (GString *s, double value, const char *format)
{
  if (!isfinite (value)) {
    g_string_append (s, "null");
    return;
  }
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, format, value);
  /* "-0.00" reads oddly; normalise it. */
  if (buf[0] == '-' && strspn (buf + 1, "0.") == strlen (buf + 1))
    g_string_append (s, buf + 1);
  else
    g_string_append (s, buf);
}

static void
append_time (GString *s, GstClockTime t)
{
  if (GST_CLOCK_TIME_IS_VALID (t))
    g_string_append_printf (s, "%" G_GUINT64_FORMAT, (guint64) t);
  else
    g_string_append (s, "null");
}

void
facekp_export_format_frame (GString *s, guint64 frame_index, GstClockTime pts,
                            GstClockTime running_time, guint width, guint height,
                            const FkpFace *faces, guint n_faces)
{
  g_string_append_printf (s, "{\"frame\": %" G_GUINT64_FORMAT ", \"pts\": ", frame_index);
  append_time (s, pts);
  g_string_append (s, ", \"running_time\": ");
  append_time (s, running_time);
  g_string_append_printf (s, ", \"width\": %u, \"height\": %u, \"faces\": [", width, height);
  for (guint i = 0; i < n_faces; i++) {
    const FkpFace *f = &faces[i];
    if (i)
      g_string_append (s, ", ");
    g_string_append_printf (s, "{\"id\": %u, \"score\": ", f->id);
    append_number (s, f->score, "%.4f");
    g_string_append (s, ", \"box\": [");
    const float box[4] = { f->box.x, f->box.y, f->box.width, f->box.height };
    for (int k = 0; k < 4; k++) {
      if (k)
        g_string_append (s, ", ");
      append_number (s, box[k], "%.2f");
    }
    g_string_append (s, "], \"points\": [");
    for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
      g_string_append (s, p ? ", [" : "[");
      append_number (s, f->points[p][0], "%.2f");
      g_string_append (s, ", ");
      append_number (s, f->points[p][1], "%.2f");
      g_string_append_c (s, ']');
    }
    g_string_append (s, "]}");
  }
  g_string_append (s, "]}");
}

gboolean
facekp_export_write_frame (FacekpExport *exp, GstClockTime pts,
                           GstClockTime running_time, guint width, guint height,
                           const FkpFace *faces, guint n_faces, GError **error)
{
  g_string_truncate (exp->line, 0);
  facekp_export_format_frame (exp->line, exp->n_lines, pts, running_time, width, height,
                              faces, n_faces);
  g_string_append_c (exp->line, '\n');
  /* One write per line, then flush: a reader (or a crash) never sees half a line
   * that a later flush would complete. */
  if (fwrite (exp->line->str, 1, exp->line->len, exp->file) != exp->line->len
      || fflush (exp->file) != 0) {
    int saved = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                 "Cannot write export file \"%s\": %s", exp->location, g_strerror (saved));
    clearerr (exp->file);
    return FALSE;
  }
  exp->n_lines++;
  return TRUE;
}

void
facekp_export_close (FacekpExport *exp)
{
  if (!exp)
    return;
  if (exp->file)
    fclose (exp->file);
  g_string_free (exp->line, TRUE);
  g_free (exp->location);
  g_free (exp);
}
