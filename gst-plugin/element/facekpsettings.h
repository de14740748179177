/* facekpfilter's settings: defaults, copies, and the face pipeline
 * options they ask for (facekpsettings.c). */
#ifndef FACEKP_SETTINGS_H
#define FACEKP_SETTINGS_H

#include <gst/gst.h>
#include <facekp/face.h>
#include "gstfacekpfilter.h"

G_BEGIN_DECLS

#define DEFAULT_STICKERS "default"
#define DEFAULT_POST_MESSAGES GST_FACEKP_MESSAGES_EVERY_FRAME

/* The properties' defaults. */
void facekp_settings_init (GstFacekpSettings *s);
void facekp_settings_clear (GstFacekpSettings *s);
/* A deep copy (strings duplicated). */
void facekp_settings_copy (GstFacekpSettings *dst, const GstFacekpSettings *src);
/* @s, or NULL when it is NULL or empty. */
const gchar *facekp_nonempty (const gchar *s);
/* threads=0: every core (up to 8), as one element usually owns the CPU. */
gint facekp_effective_threads (gint threads);
/* The face pipeline options @s asks for; strings point into @s. */
void facekp_settings_to_options (const GstFacekpSettings *s, FkpFaceOptions *opts);
/* Names the model files a pipeline would load, for messages; g_free it.
 * @which: FACEKP_DIRTY_LANDMARK_MODEL and/or FACEKP_DIRTY_DETECTOR_MODEL,
 * the ones to name (the detector beside the landmark model only where the
 * face source is DETECT). */
gchar *facekp_settings_describe_models (const GstFacekpSettings *s, guint which);

G_END_DECLS

#endif
