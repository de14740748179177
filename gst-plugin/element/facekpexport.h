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

/* Appends the line of the stream's frame @frame_index (the element counts
 * every buffer that reaches its sink pad, QoS drops included).  The running
 * time comes from @pts in @segment (a TIME segment; otherwise, or without a
 * pts, null).  A @dropped frame (QoS skipped it) gets "dropped": true and no
 * faces.  FALSE and @error on a write failure, the file then cut back to its
 * last whole line. */
gboolean facekp_export_write_frame (FacekpExport *exp, guint64 frame_index,
                                    const GstSegment *segment, GstClockTime pts,
                                    guint width, guint height, gboolean dropped,
                                    const FkpFace *faces, guint n_faces,
                                    GError **error);

/* Closes the file (NULL allowed). */
void facekp_export_close (FacekpExport *exp);

/* Appends the JSON text of one frame (no newline) to @line; exposed for tests. */
void facekp_export_format_frame (GString *line, guint64 frame_index,
                                 GstClockTime pts, GstClockTime running_time,
                                 guint width, guint height, gboolean dropped,
                                 const FkpFace *faces, guint n_faces);

G_END_DECLS

#endif
