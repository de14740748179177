/* facekpfilter's settings (the properties' values, GstFacekpSettings):
 * defaults, copies between the object lock and the streaming thread, and
 * what they ask of the face pipeline. */
#include "facekpsettings.h"

void
facekp_settings_init (GstFacekpSettings *s)
{
  FkpFaceOptions opts;
  fkp_face_options_init (&opts);
  s->model = NULL;
  s->detector_model = NULL;
  s->source = (GstFacekpFaceSource) opts.source;
  s->max_faces = opts.max_faces;
  s->detect_interval = opts.detect_interval;
  s->detect_latency = FKP_FACE_DETECT_LATENCY_WHEN_READY;   /* live streams: no frame waits */
  s->min_face_size = opts.min_face_size;
  s->detector_threshold = opts.detector_threshold;
  s->min_presence = opts.min_presence;
  s->smoothing = opts.smoothing;
  s->min_cutoff = opts.smoothing_min_cutoff;
  s->beta = opts.smoothing_beta;
  s->d_cutoff = opts.smoothing_d_cutoff;
  s->stickers = g_strdup (DEFAULT_STICKERS);
  s->draw_landmarks = FALSE;
  s->draw_boxes = FALSE;
  s->post_messages = DEFAULT_POST_MESSAGES;
  s->export_location = NULL;
  s->threads = 0;
}

void
facekp_settings_clear (GstFacekpSettings *s)
{
  g_clear_pointer (&s->model, g_free);
  g_clear_pointer (&s->detector_model, g_free);
  g_clear_pointer (&s->stickers, g_free);
  g_clear_pointer (&s->export_location, g_free);
}

void
facekp_settings_copy (GstFacekpSettings *dst, const GstFacekpSettings *src)
{
  *dst = *src;
  dst->model = g_strdup (src->model);
  dst->detector_model = g_strdup (src->detector_model);
  dst->stickers = g_strdup (src->stickers);
  dst->export_location = g_strdup (src->export_location);
}

const gchar *
facekp_nonempty (const gchar *s)
{
  return (s && *s) ? s : NULL;
}

/* threads=0: every core, as one element usually owns the machine's CPU. */
gint
facekp_effective_threads (gint threads)
{
  if (threads > 0)
    return threads;
  return CLAMP (g_get_num_processors (), 1, 8);
}

void
facekp_settings_to_options (const GstFacekpSettings *s, FkpFaceOptions *opts)
{
  fkp_face_options_init (opts);
  opts->landmark_model = facekp_nonempty (s->model);
  opts->detector_model = facekp_nonempty (s->detector_model);
  opts->source = (FkpFaceSource) s->source;
  opts->max_faces = s->max_faces;
  opts->detect_interval = s->detect_interval;
  opts->detect_latency = s->detect_latency;
  opts->min_face_size = s->min_face_size;
  opts->detector_threshold = s->detector_threshold;
  opts->min_presence = s->min_presence;
  opts->smoothing = s->smoothing;
  opts->smoothing_min_cutoff = s->min_cutoff;
  opts->smoothing_beta = s->beta;
  opts->smoothing_d_cutoff = s->d_cutoff;
  opts->threads = facekp_effective_threads (s->threads);
}

gchar *
facekp_settings_describe_models (const GstFacekpSettings *s, guint which)
{
  const gchar *lm = facekp_nonempty (s->model) ? s->model
                                               : "(default) " FKP_FACE_LANDMARK_MODEL_NAME;
  const gchar *det = facekp_nonempty (s->detector_model) ? s->detector_model
                                                         : "(default) " FKP_FACE_DETECTOR_MODEL_NAME;
  const gboolean name_lm = (which & FACEKP_DIRTY_LANDMARK_MODEL) != 0;
  const gboolean name_det = (which & FACEKP_DIRTY_DETECTOR_MODEL) != 0
                            && (s->source == GST_FACEKP_FACE_SOURCE_DETECT || !name_lm);
  if (name_lm && name_det)
    return g_strdup_printf ("landmark model \"%s\" / detector model \"%s\"", lm, det);
  if (name_det)
    return g_strdup_printf ("detector model \"%s\"", det);
  return g_strdup_printf ("landmark model \"%s\"", lm);
}
