/* JSON-lines export of facekpfilter: one complete line per frame, written in
 * one call and flushed, so the file is valid after EOS or an error. */
#ifndef FACEKP_EXPORT_H
#define FACEKP_EXPORT_H

#include <gst/gst.h>
#include "facekp/gstfacelandmarksmeta.h"

G_BEGIN_DECLS

typedef struct _FacekpExport FacekpExport;

/* Creates (truncates) @location.  NULL and @error (G_FILE_ERROR) on failure. */
FacekpExport *facekp_export_open (const gchar *location, GError **error);
const gchar *facekp_export_get_location (const FacekpExport *exp);

/* Appends one line; its "frame" counts the lines of this file from 0.  Times
 * are GST_CLOCK_TIME_NONE when unknown (written as null).  FALSE and @error
 * on a write failure. */
gboolean facekp_export_write_frame (FacekpExport *exp, GstClockTime pts, GstClockTime running_time,
                                    guint width, guint height,
                                    const FkpFace *faces, guint n_faces,
                                    GError **error);

/* Closes the file (NULL allowed). */
void facekp_export_close (FacekpExport *exp);

/* Appends the JSON text of one frame (no newline) to @line; exposed for tests. */
void facekp_export_format_frame (GString *line, guint64 frame_index,
                                 GstClockTime pts, GstClockTime running_time,
                                 guint width, guint height,
                                 const FkpFace *faces, guint n_faces);

G_END_DECLS

#endif
