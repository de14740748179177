/* The facekp plugin: registers facekpfilter. */
#include "gstfacekpfilter.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  /* Register the meta up front so that apps see it as soon as the plugin loads. */
  gst_face_landmarks_meta_get_info ();
  return GST_ELEMENT_REGISTER (facekpfilter, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, facekp,
    "Face landmarks (68 points) as metadata, bus messages, JSON lines and sticker overlays",
    plugin_init, VERSION, "MIT/X11", "facekp", "Unknown package origin")
