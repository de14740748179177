#include "facekpexport.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

/* Written through a plain file descriptor, not stdio: after a failed write
 * (a full disk) the file is cut back to its last complete line, which needs
 * to know exactly what reached the file. */
struct _FacekpExport {
  gchar *location;
  int fd;
  off_t complete_bytes; /* the file's size at the end of its last whole line */
  GString *line;        /* reused between frames */
};

FacekpExport *
facekp_export_open (const gchar *location, GError **error)
{
  int fd = g_open (location, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    int saved = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                 "Cannot create export file \"%s\": %s", location, g_strerror (saved));
    return NULL;
  }
  FacekpExport *exp = g_new0 (FacekpExport, 1);
  exp->location = g_strdup (location);
  exp->fd = fd;
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

/* ", "expressions": {"mouth_open": 0.72, ...}, "events": ["mouth-open"]":
 * each value, then the expressions whose state turned on at this frame. */
static void
append_expressions (GString *s, const FkpFace *f)
{
  g_string_append (s, ", \"expressions\": {");
  for (int e = 0; e < FKP_EXPRESSION_N; e++) {
    g_string_append (s, e ? ", \"" : "\"");
    for (const char *c = fkp_expression_get_name (e); *c; c++)
      g_string_append_c (s, *c == '-' ? '_' : *c);
    g_string_append (s, "\": ");
    append_number (s, f->expressions[e], "%.3f");
  }
  g_string_append (s, "}, \"events\": [");
  gboolean first = TRUE;
  for (int e = 0; e < FKP_EXPRESSION_N; e++)
    if (f->expression_started & (1u << e)) {
      g_string_append_printf (s, "%s\"%s\"", first ? "" : ", ", fkp_expression_get_name (e));
      first = FALSE;
    }
  g_string_append_c (s, ']');
}

/* The detector's score, the presence and point errors when the model has
 * them (null otherwise), and the pose. */
static void
append_face_quality (GString *s, const FkpFace *f)
{
  g_string_append (s, ", \"detector_score\": ");
  append_number (s, f->detector_score, "%.4f");
  g_string_append (s, ", \"presence\": ");
  if (f->presence >= 0.0f)
    append_number (s, f->presence, "%.4f");
  else
    g_string_append (s, "null");
  g_string_append (s, ", \"point_error\": ");
  if (f->point_error[0] >= 0.0f) {
    for (int p = 0; p < FKP_FACE_N_POINTS; p++) {
      g_string_append (s, p ? ", " : "[");
      append_number (s, f->point_error[p], "%.2f");
    }
    g_string_append_c (s, ']');
  } else {
    g_string_append (s, "null");
  }
  g_string_append (s, ", \"pose\": {\"yaw\": ");
  append_number (s, f->yaw, "%.2f");
  g_string_append (s, ", \"pitch\": ");
  append_number (s, f->pitch, "%.2f");
  g_string_append (s, ", \"roll\": ");
  append_number (s, f->roll, "%.2f");
  g_string_append_c (s, '}');
}

void
facekp_export_format_frame (GString *s, guint64 frame_index, GstClockTime pts,
                            GstClockTime running_time, guint width, guint height,
                            gboolean dropped, const FkpFace *faces, guint n_faces)
{
  g_string_append_printf (s, "{\"frame\": %" G_GUINT64_FORMAT ", \"pts\": ", frame_index);
  append_time (s, pts);
  g_string_append (s, ", \"running_time\": ");
  append_time (s, running_time);
  g_string_append_printf (s, ", \"width\": %u, \"height\": %u, ", width, height);
  /* Only dropped frames carry the key, so lines of processed frames read as before. */
  if (dropped)
    g_string_append (s, "\"dropped\": true, ");
  g_string_append (s, "\"faces\": [");
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
    g_string_append (s, "]");
    append_face_quality (s, f);
    append_expressions (s, f);
    g_string_append_c (s, '}');
  }
  g_string_append (s, "]}");
}

gboolean
facekp_export_write_frame (FacekpExport *exp, guint64 frame_index, const GstSegment *segment,
                           GstClockTime pts, guint width, guint height, gboolean dropped,
                           const FkpFace *faces, guint n_faces, GError **error)
{
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (pts) && segment && segment->format == GST_FORMAT_TIME)
    running_time = gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts);
  g_string_truncate (exp->line, 0);
  facekp_export_format_frame (exp->line, frame_index, pts, running_time, width, height,
                              dropped, dropped ? NULL : faces, dropped ? 0 : n_faces);
  g_string_append_c (exp->line, '\n');
  /* The whole line goes out before the frame leaves the element, so a
   * reader (or a crash) never sees half a line that later data completes. */
  const char *data = exp->line->str;
  gsize left = exp->line->len;
  while (left > 0) {
    gssize written = write (exp->fd, data, left);
    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0) {
      int saved = written < 0 ? errno : ENOSPC;
      /* Whole lines or none: cut the part of this one that did get out. */
      if (ftruncate (exp->fd, exp->complete_bytes) != 0
          || lseek (exp->fd, exp->complete_bytes, SEEK_SET) < 0)
        g_warning ("cannot cut %s back to its last complete line: %s", exp->location,
                   g_strerror (errno));
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "Cannot write export file \"%s\": %s", exp->location, g_strerror (saved));
      return FALSE;
    }
    data += written;
    left -= (gsize) written;
  }
  exp->complete_bytes += (off_t) exp->line->len;
  return TRUE;
}

void
facekp_export_close (FacekpExport *exp)
{
  if (!exp)
    return;
  if (exp->fd >= 0)
    close (exp->fd);
  g_string_free (exp->line, TRUE);
  g_free (exp->location);
  g_free (exp);
}
