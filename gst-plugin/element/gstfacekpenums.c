/* The enum types of facekpfilter's properties (face-source, post-messages),
 * declared in gstfacekpfilter.h. */
#include "gstfacekpfilter.h"

GType
gst_facekp_face_source_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_FACEKP_FACE_SOURCE_DETECT, "Find faces with the CNN face detector, then track them", "detect" },
    { GST_FACEKP_FACE_SOURCE_UPSTREAM, "Use GstVideoRegionOfInterestMeta of type \"face\" from upstream (e.g. facedetect)", "upstream" },
    { GST_FACEKP_FACE_SOURCE_FULL_FRAME, "The whole frame is one face crop", "full-frame" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstFacekpFaceSource", values));
  return type;
}

GType
gst_facekp_messages_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_FACEKP_MESSAGES_NONE, "Post no messages", "none" },
    { GST_FACEKP_MESSAGES_EVERY_FRAME, "Post a message for every frame", "every-frame" },
    { GST_FACEKP_MESSAGES_ON_CHANGE, "Post only when the set of face ids changes", "on-change" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstFacekpMessages", values));
  return type;
}
