/**
 * SECTION:element-facekpfilter
 * @title: facekpfilter
 * @short_description: finds faces, predicts 68 landmarks per face, attaches
 * them to the buffers and draws stickers
 * @see_also: #GstFaceLandmarksMeta, #GstVideoRegionOfInterestMeta
 *
 * facekpfilter finds the faces in raw video (with its CNN face detector, from
 * the `face` region-of-interest metas of an upstream element, or taking the
 * whole frame as one face), predicts 68 landmarks per face (iBUG order,
 * 0-based) with a CNN, follows the faces from frame to frame with stable ids
 * and smooths the points over time.  It works in place: the pixels pass
 * unchanged except where the overlay is blended.
 *
 * For every frame the element
 *
 * - attaches one #GstFaceLandmarksMeta (library `libfacekp-gst-meta`, header
 *   `<facekp/gstfacelandmarksmeta.h>`) holding every face's id, box, score
 *   and 68 points in frame pixels, with `n_faces` 0 when the frame holds no
 *   face;
 * - attaches one #GstVideoRegionOfInterestMeta of type `face` per face, its id
 *   the face id, with a `facekp/landmarks` parameter structure (`id`,
 *   `score`, `landmarks`: 136 doubles x0, y0, ... x67, y67);
 * - posts an element message named `facekp` on the bus, every frame or only
 *   when the faces' ids change (#GstFacekpFilter:post-messages), with the
 *   fields `timestamp`, `stream-time`, `running-time`, `duration`, `frame`
 *   and `faces`, a list of `face` structures (`x`, `y`, `width`, `height` as
 *   facedetect gives them, plus `id`, `score`, `landmarks` and `expressions`),
 *   and unless post-messages is `none` a `facekp-expression` message each
 *   time an expression state of a face turns on or off;
 * - appends one JSON line with the faces to a file when
 *   #GstFacekpFilter:export-location is set;
 * - draws the sticker pack (#GstFacekpFilter:stickers) and, for debugging,
 *   the points and boxes as a #GstVideoOverlayComposition, attached as
 *   #GstVideoOverlayCompositionMeta when downstream takes it and blended into
 *   the frame otherwise.
 *
 * Every property can be changed in any state; a change takes effect at the
 * next frame, except new models while playing: they load on a worker thread
 * while frames go on through the old ones, and take over at the first frame
 * after the load (a "facekp-models" element message says so).  A model,
 * sticker pack or export file that cannot be loaded or
 * created is an error at start; while running it is a warning, and the
 * element keeps its previous models or pack (or exports nothing).  Flushes,
 * new streams, new caps and discontinuities forget the tracks.  The shipped
 * models are looked up in `$FACEKP_MODELS_DIR`, the installed data
 * directory, then the source tree; the format of each output is described in
 * docs/element.md.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=examples/media/sample.avi ! decodebin ! videoconvert ! \
 *     facekpfilter ! videoconvert ! jpegenc ! avimux ! filesink location=stickers.avi
 * ]| Draws the default sticker pack on every face of a clip and writes the
 * result to another file.
 * |[
 * gst-launch-1.0 -m filesrc location=examples/media/sample.avi ! decodebin ! videoconvert ! \
 *     facekpfilter stickers=none post-messages=on-change export-location=faces.jsonl ! fakesink
 * ]| Landmarks only, no drawing: writes one JSON line per frame to faces.jsonl
 * and prints a `facekp` message whenever the list of face ids changes.
 * |[
 * gst-launch-1.0 filesrc location=tests/data/sample4.jpg ! jpegdec ! videoconvert ! \
 *     imagefreeze num-buffers=15 ! facekpfilter stickers=sunglasses draw-boxes=true ! \
 *     videoconvert ! pngenc snapshot=true ! filesink location=sunglasses.png
 * ]| Puts sunglasses on the faces of a photo, with each face's box and id,
 * and saves the first frame as a PNG.
 */

/* Implementation notes: the element joins the face pipeline (libfacekp-face),
 * the sticker renderer (libfacekp-stickers) and GStreamer.
 *
 * Property changes are recorded under the object lock with a dirty flag and
 * applied by the streaming thread at the start of the next frame, so a frame
 * is always processed with one consistent set of settings.  A model, pack or
 * export file that fails to load at start is an error (the element does not
 * start); one that fails while running posts a warning naming the file and
 * the element keeps what it had. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstfacekpfilter.h"
#include "facekpoverlay.h"
#include "facekpfaces.h"
#include "facekpmodels.h"

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY (gst_facekp_filter_debug);   /* also facekpmodels.c */
#define GST_CAT_DEFAULT gst_facekp_filter_debug

#define MAX_THREADS 64

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DETECTOR_MODEL,
  PROP_FACE_SOURCE,
  PROP_MAX_FACES,
  PROP_DETECT_INTERVAL,
  PROP_DETECT_LATENCY,
  PROP_MIN_FACE_SIZE,
  PROP_MIN_PRESENCE,
  PROP_DETECTOR_THRESHOLD,
  PROP_SMOOTHING,
  PROP_SMOOTHING_MIN_CUTOFF,
  PROP_SMOOTHING_BETA,
  PROP_SMOOTHING_D_CUTOFF,
  PROP_STICKERS,
  PROP_DRAW_LANDMARKS,
  PROP_DRAW_BOXES,
  PROP_POST_MESSAGES,
  PROP_EXPORT_LOCATION,
  PROP_THREADS,
};

/* The formats gst_video_overlay_composition_blend() can draw on. */
#define FACEKP_FORMATS \
  "{ RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, RGB, BGR, " \
  "I420, YV12, NV12, NV21, YUY2, UYVY, AYUV, GRAY8 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (FACEKP_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (FACEKP_FORMATS)));

G_DEFINE_TYPE (GstFacekpFilter, gst_facekp_filter, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (facekpfilter, "facekpfilter", GST_RANK_NONE,
    GST_TYPE_FACEKP_FILTER);

/* ---- Properties ------------------------------------------------------ */

static void
set_string (gchar **field, const GValue *value)
{
  g_free (*field);
  *field = g_value_dup_string (value);
}

static void
gst_facekp_filter_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (object);
  GstFacekpSettings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      set_string (&s->model, value);
      self->dirty |= FACEKP_DIRTY_LANDMARK_MODEL;
      break;
    case PROP_DETECTOR_MODEL:
      set_string (&s->detector_model, value);
      self->dirty |= FACEKP_DIRTY_DETECTOR_MODEL;
      break;
    case PROP_FACE_SOURCE:
      s->source = g_value_get_enum (value);
      self->dirty |= FACEKP_DIRTY_SOURCE;
      break;
    case PROP_MAX_FACES:
      s->max_faces = g_value_get_int (value);
      self->dirty |= FACEKP_DIRTY_TRACKING;
      break;
    case PROP_DETECT_INTERVAL:
      s->detect_interval = g_value_get_int (value);
      self->dirty |= FACEKP_DIRTY_TRACKING;
      break;
    case PROP_DETECT_LATENCY:
      s->detect_latency = g_value_get_int (value);
      self->dirty |= FACEKP_DIRTY_TRACKING;
      break;
    case PROP_MIN_FACE_SIZE:
      s->min_face_size = g_value_get_int (value);
      self->dirty |= FACEKP_DIRTY_TRACKING;
      break;
    case PROP_DETECTOR_THRESHOLD:
      s->detector_threshold = g_value_get_float (value);
      self->dirty |= FACEKP_DIRTY_TRACKING;
      break;
    case PROP_MIN_PRESENCE:
      s->min_presence = g_value_get_float (value);
      self->dirty |= FACEKP_DIRTY_TRACKING;
      break;
    case PROP_SMOOTHING:
      s->smoothing = g_value_get_boolean (value);
      self->dirty |= FACEKP_DIRTY_SMOOTHING;
      break;
    case PROP_SMOOTHING_MIN_CUTOFF:
      s->min_cutoff = g_value_get_float (value);
      self->dirty |= FACEKP_DIRTY_SMOOTHING;
      break;
    case PROP_SMOOTHING_BETA:
      s->beta = g_value_get_float (value);
      self->dirty |= FACEKP_DIRTY_SMOOTHING;
      break;
    case PROP_SMOOTHING_D_CUTOFF:
      s->d_cutoff = g_value_get_float (value);
      self->dirty |= FACEKP_DIRTY_SMOOTHING;
      break;
    case PROP_STICKERS:
      set_string (&s->stickers, value);
      self->dirty |= FACEKP_DIRTY_STICKERS;
      break;
    case PROP_DRAW_LANDMARKS:
      s->draw_landmarks = g_value_get_boolean (value);
      break;
    case PROP_DRAW_BOXES:
      s->draw_boxes = g_value_get_boolean (value);
      break;
    case PROP_POST_MESSAGES:
      s->post_messages = g_value_get_enum (value);
      break;
    case PROP_EXPORT_LOCATION:
      set_string (&s->export_location, value);
      self->dirty |= FACEKP_DIRTY_EXPORT;
      break;
    case PROP_THREADS:
      s->threads = g_value_get_int (value);
      self->dirty |= FACEKP_DIRTY_THREADS;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_facekp_filter_get_property (GObject *object, guint prop_id, GValue *value,
                                GParamSpec *pspec)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (object);
  GstFacekpSettings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL: g_value_set_string (value, s->model); break;
    case PROP_DETECTOR_MODEL: g_value_set_string (value, s->detector_model); break;
    case PROP_FACE_SOURCE: g_value_set_enum (value, s->source); break;
    case PROP_MAX_FACES: g_value_set_int (value, s->max_faces); break;
    case PROP_DETECT_INTERVAL: g_value_set_int (value, s->detect_interval); break;
    case PROP_DETECT_LATENCY: g_value_set_int (value, s->detect_latency); break;
    case PROP_MIN_FACE_SIZE: g_value_set_int (value, s->min_face_size); break;
    case PROP_DETECTOR_THRESHOLD: g_value_set_float (value, s->detector_threshold); break;
    case PROP_MIN_PRESENCE: g_value_set_float (value, s->min_presence); break;
    case PROP_SMOOTHING: g_value_set_boolean (value, s->smoothing); break;
    case PROP_SMOOTHING_MIN_CUTOFF: g_value_set_float (value, s->min_cutoff); break;
    case PROP_SMOOTHING_BETA: g_value_set_float (value, s->beta); break;
    case PROP_SMOOTHING_D_CUTOFF: g_value_set_float (value, s->d_cutoff); break;
    case PROP_STICKERS: g_value_set_string (value, s->stickers); break;
    case PROP_DRAW_LANDMARKS: g_value_set_boolean (value, s->draw_landmarks); break;
    case PROP_DRAW_BOXES: g_value_set_boolean (value, s->draw_boxes); break;
    case PROP_POST_MESSAGES: g_value_set_enum (value, s->post_messages); break;
    case PROP_EXPORT_LOCATION: g_value_set_string (value, s->export_location); break;
    case PROP_THREADS: g_value_set_int (value, s->threads); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- Loading what the settings name ---------------------------------- */

/* Whether the stickers property names a pack: "none" says the same as
 * empty where a shell would eat the quotes of "". */
static gboolean
wants_stickers (const gchar *stickers)
{
  return facekp_nonempty (stickers) && g_strcmp0 (stickers, "none") != 0;
}

/* Loads everything for a fresh start.  Errors are posted as element errors. */
static gboolean
gst_facekp_filter_start (GstBaseTransform *trans)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (trans);
  GstFacekpSettings s;
  GError *error = NULL;

  GST_OBJECT_LOCK (self);
  facekp_settings_copy (&s, &self->settings);
  self->dirty = 0;
  self->reset_pending = FALSE;
  GST_OBJECT_UNLOCK (self);

  FkpFaceOptions opts;
  facekp_settings_to_options (&s, &opts);
  self->pipeline = fkp_face_pipeline_new (&opts, &error);
  if (!self->pipeline) {
    gchar *what = facekp_settings_describe_models (&s, FACEKP_DIRTY_MODELS);
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not load the face models (%s): %s", what, error->message),
        ("%s", error->message));
    g_free (what);
    goto failed;
  }

  if (wants_stickers (s.stickers)) {
    self->pack = fkp_sticker_pack_open (s.stickers, &error);
    if (!self->pack) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Could not load sticker pack \"%s\": %s", s.stickers, error->message),
          ("%s", error->message));
      goto failed;
    }
  }

  if (facekp_nonempty (s.export_location)) {
    self->export = facekp_export_open (s.export_location, &error);
    if (!self->export) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, ("%s", error->message), (NULL));
      goto failed;
    }
  }

  self->loader = facekp_model_loader_new ();
  self->models_to_load = 0;
  self->frame_index = 0;
  self->posted_once = FALSE;
  g_array_set_size (self->posted_ids, 0);
  self->attach_overlay = FALSE;
  self->overlay_queried = FALSE;
  facekp_settings_clear (&s);
  return TRUE;

failed:
  g_clear_error (&error);
  facekp_settings_clear (&s);
  g_clear_pointer (&self->pipeline, fkp_face_pipeline_free);
  g_clear_pointer (&self->pack, fkp_sticker_pack_free);
  g_clear_pointer (&self->export, facekp_export_close);
  return FALSE;
}

static gboolean
gst_facekp_filter_stop (GstBaseTransform *trans)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (trans);
  g_clear_pointer (&self->loader, facekp_model_loader_free);
  g_clear_pointer (&self->pipeline, fkp_face_pipeline_free);
  g_clear_pointer (&self->pack, fkp_sticker_pack_free);
  g_clear_pointer (&self->export, facekp_export_close);
  fkp_face_list_clear (&self->faces);
  facekp_luma_scratch_clear (&self->luma);
  return TRUE;
}

/* Applies the property changes made since the last frame. */
static void
apply_pending_settings (GstFacekpFilter *self, GstFacekpSettings *s)
{
  GError *error = NULL;

  GST_OBJECT_LOCK (self);
  guint dirty = self->dirty;
  self->dirty = 0;
  gboolean reset = self->reset_pending;
  self->reset_pending = FALSE;
  facekp_settings_copy (s, &self->settings);
  GST_OBJECT_UNLOCK (self);

  if (dirty & FACEKP_DIRTY_MODELS) {
    /* Loaded on the worker; until it is done, frames run on the old models.
     * Only the models set since the pipeline in use was made load (a
     * property set to its old value too: that reloads the file); the
     * others move over at the swap. */
    self->models_to_load |= dirty & FACEKP_DIRTY_MODELS;
    FkpFaceOptions opts;
    facekp_settings_to_options (s, &opts);
    opts.keep_landmark_model = !(self->models_to_load & FACEKP_DIRTY_LANDMARK_MODEL);
    opts.keep_detector_model = !(self->models_to_load & FACEKP_DIRTY_DETECTOR_MODEL);
    gchar *what = facekp_settings_describe_models (s, self->models_to_load);
    facekp_model_loader_request (self->loader, &opts, what);
    g_free (what);
  }
  if (facekp_model_loader_swap (self->loader, GST_ELEMENT (self), &self->pipeline)) {
    self->models_to_load = 0;
    reset = FALSE;
    /* Settings changed while the models loaded apply to the new pipeline too. */
    dirty |= FACEKP_DIRTY_SOURCE | FACEKP_DIRTY_TRACKING | FACEKP_DIRTY_SMOOTHING
             | FACEKP_DIRTY_THREADS;
  }
  if (reset)
    fkp_face_pipeline_reset (self->pipeline);

  if (dirty & FACEKP_DIRTY_SOURCE) {
    if (!fkp_face_pipeline_set_source (self->pipeline, (FkpFaceSource) s->source, &error)) {
      gchar *what = facekp_settings_describe_models (s, FACEKP_DIRTY_MODELS);
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_READ,
          ("Could not switch the face source (%s): %s", what, error->message),
          ("%s", error->message));
      g_free (what);
      g_clear_error (&error);
    }
  }
  if (dirty & FACEKP_DIRTY_TRACKING) {
    if (!fkp_face_pipeline_set_max_faces (self->pipeline, s->max_faces, &error)
        || !fkp_face_pipeline_set_detect_interval (self->pipeline, s->detect_interval, &error)
        || !fkp_face_pipeline_set_detect_latency (self->pipeline, s->detect_latency, &error)
        || !fkp_face_pipeline_set_min_face_size (self->pipeline, s->min_face_size, &error)
        || !fkp_face_pipeline_set_detector_threshold (self->pipeline, s->detector_threshold,
                                                      &error)
        || !fkp_face_pipeline_set_min_presence (self->pipeline, s->min_presence, &error)) {
      GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS, ("%s", error->message), (NULL));
      g_clear_error (&error);
    }
  }
  if (dirty & FACEKP_DIRTY_SMOOTHING) {
    if (!fkp_face_pipeline_set_smoothing (self->pipeline, s->smoothing, s->min_cutoff,
                                          s->beta, s->d_cutoff, &error)) {
      GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS, ("%s", error->message), (NULL));
      g_clear_error (&error);
    }
  }
  if (dirty & FACEKP_DIRTY_THREADS)
    fkp_face_pipeline_set_threads (self->pipeline, facekp_effective_threads (s->threads));

  if (dirty & FACEKP_DIRTY_STICKERS) {
    if (!wants_stickers (s->stickers)) {
      g_clear_pointer (&self->pack, fkp_sticker_pack_free);
    } else {
      FkpStickerPack *pack = fkp_sticker_pack_open (s->stickers, &error);
      if (pack) {
        fkp_sticker_pack_free (self->pack);
        self->pack = pack;
      } else {
        GST_ELEMENT_WARNING (self, RESOURCE, OPEN_READ,
            ("Could not load sticker pack \"%s\", keeping the pack in use: %s",
             s->stickers, error->message), ("%s", error->message));
        g_clear_error (&error);
      }
    }
  }

  if (dirty & FACEKP_DIRTY_EXPORT) {
    g_clear_pointer (&self->export, facekp_export_close);
    if (facekp_nonempty (s->export_location)) {
      self->export = facekp_export_open (s->export_location, &error);
      if (!self->export) {
        GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
            ("%s; not exporting", error->message), (NULL));
        g_clear_error (&error);
      }
    }
  }
}

/* ---- Events, caps and allocation ------------------------------------ */

static gboolean
gst_facekp_filter_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
    case GST_EVENT_STREAM_START:
      /* Tracks from before a seek or from another stream mean nothing now. */
      GST_OBJECT_LOCK (self);
      self->reset_pending = TRUE;
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_facekp_filter_parent_class)->sink_event (trans, event);
}

static gboolean
gst_facekp_filter_set_info (GstVideoFilter *filter, GstCaps *incaps, GstVideoInfo *in_info,
                            GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (filter);
  (void) incaps;
  (void) outcaps;
  (void) out_info;
  GST_DEBUG_OBJECT (self, "new format %s %dx%d",
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)),
      GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info));
  /* Tracks measured on frames of another size or layout are stale. */
  self->overlay_queried = FALSE;
  GST_OBJECT_LOCK (self);
  self->reset_pending = TRUE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* Whether downstream takes GstVideoOverlayCompositionMeta.  An in-place
 * transform never runs its own allocation query (GstBaseTransform skips it),
 * so the element asks downstream itself once per caps, like textoverlay. */
static void
query_overlay_support (GstFacekpFilter *self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstCaps *caps = gst_pad_get_current_caps (trans->srcpad);
  if (!caps)
    return;
  GstQuery *query = gst_query_new_allocation (caps, FALSE);
  gboolean ok = gst_pad_peer_query (trans->srcpad, query);
  self->attach_overlay = ok && gst_query_find_allocation_meta (query,
      GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
  GST_DEBUG_OBJECT (self, "downstream %s overlay composition meta",
      self->attach_overlay ? "takes" : "does not take");
  gst_query_unref (query);
  gst_caps_unref (caps);
  self->overlay_queried = TRUE;
}

/* Upstream's allocation query goes through to downstream (in place): its
 * answer says as well whether downstream takes overlay compositions. */
static gboolean
gst_facekp_filter_propose_allocation (GstBaseTransform *trans, GstQuery *decide_query,
                                      GstQuery *query)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (trans);
  gboolean ret = GST_BASE_TRANSFORM_CLASS (gst_facekp_filter_parent_class)->propose_allocation (
      trans, decide_query, query);
  if (ret && decide_query == NULL) {
    self->attach_overlay = gst_query_find_allocation_meta (query,
        GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
    self->overlay_queried = TRUE;
  }
  return ret;
}

/* ---- Per frame ------------------------------------------------------- */

static gboolean
ids_changed (GstFacekpFilter *self, const FkpFace *faces, guint n_faces)
{
  if (!self->posted_once || self->posted_ids->len != n_faces)
    return TRUE;
  for (guint i = 0; i < n_faces; i++)
    if (g_array_index (self->posted_ids, guint, i) != faces[i].id)
      return TRUE;
  return FALSE;
}

static void
post_faces_message (GstFacekpFilter *self, GstBuffer *buffer, const FkpFace *faces,
                    guint n_faces, gint width, gint height)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstMessage *message = facekp_faces_message_new (GST_OBJECT (self), &trans->segment, buffer,
                                                  self->frame_index, faces, n_faces,
                                                  width, height);
  gst_element_post_message (GST_ELEMENT (self), message);

  g_array_set_size (self->posted_ids, 0);
  for (guint i = 0; i < n_faces; i++)
    g_array_append_val (self->posted_ids, faces[i].id);
  self->posted_once = TRUE;
}

static GstFlowReturn
gst_facekp_filter_transform_frame_ip (GstVideoFilter *filter, GstVideoFrame *frame)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (filter);
  GstBuffer *buffer = frame->buffer;
  GstFacekpSettings s;
  GError *error = NULL;
  GstFlowReturn ret = GST_FLOW_OK;

  facekp_model_loader_frame_begin (self->loader);
  apply_pending_settings (self, &s);
  if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT) && self->frame_index > 0)
    fkp_face_pipeline_reset (self->pipeline);

  FkpFaceFrame fframe;
  facekp_frame_describe (frame, &self->luma, &fframe);
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  fframe.timestamp_ns = GST_CLOCK_TIME_IS_VALID (pts) ? pts : FKP_FACE_TIMESTAMP_NONE;

  GArray *upstream = NULL;
  if (s.source == GST_FACEKP_FACE_SOURCE_UPSTREAM)
    upstream = facekp_faces_take_upstream_boxes (buffer);

  if (!fkp_face_pipeline_process (self->pipeline, &fframe,
          upstream ? (const FkpFaceBox *) upstream->data : NULL, upstream ? upstream->len : 0,
          &self->faces, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Face pipeline failed: %s", error->message),
        (NULL));
    g_clear_error (&error);
    ret = GST_FLOW_ERROR;
    goto done;
  }

  /* The frame's one copy of its faces: into the meta, which owns them.  The
   * pipeline ran on this frame's own pixels, so the coordinates need no
   * scaling; everything below reads the meta's faces. */
  gint width = GST_VIDEO_FRAME_WIDTH (frame), height = GST_VIDEO_FRAME_HEIGHT (frame);
  GstFaceLandmarksMeta *meta = gst_buffer_add_face_landmarks_meta (buffer, self->faces.faces,
      (guint) self->faces.n_faces, (guint) width, (guint) height);
  if (!meta) {
    GST_ELEMENT_ERROR (self, CORE, FAILED, ("Could not attach the face landmarks meta"),
        (NULL));
    ret = GST_FLOW_ERROR;
    goto done;
  }
  const FkpFace *faces = meta->faces;
  guint n_faces = meta->n_faces;
  facekp_faces_attach_roi_metas (buffer, faces, n_faces, width, height);

  if (self->export) {
    if (!facekp_export_write_frame (self->export, self->frame_index,
            &GST_BASE_TRANSFORM (self)->segment, pts, (guint) width, (guint) height, FALSE,
            faces, n_faces, &error)) {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("%s", error->message), (NULL));
      g_clear_error (&error);
      ret = GST_FLOW_ERROR;
      goto done;
    }
  }

  if (s.post_messages == GST_FACEKP_MESSAGES_EVERY_FRAME
      || (s.post_messages == GST_FACEKP_MESSAGES_ON_CHANGE
          && ids_changed (self, faces, n_faces)))
    post_faces_message (self, buffer, faces, n_faces, width, height);
  if (s.post_messages != GST_FACEKP_MESSAGES_NONE)
    facekp_faces_post_expression_messages (GST_ELEMENT (self), &GST_BASE_TRANSFORM (self)->segment,
        buffer, self->frame_index, faces, n_faces);

  FkpStickerDrawFlags flags = (self->pack ? FKP_STICKER_DRAW_STICKERS : 0)
      | (s.draw_landmarks ? FKP_STICKER_DRAW_POINTS : 0)
      | (s.draw_boxes ? FKP_STICKER_DRAW_BOXES : 0);
  GstVideoOverlayComposition *comp = facekp_overlay_render (self->pack, flags,
      faces, n_faces, GST_CLOCK_TIME_IS_VALID (pts) ? pts : 0, width, height);
  if (comp) {
    if (!self->overlay_queried)
      query_overlay_support (self);
    if (self->attach_overlay)
      facekp_overlay_attach (buffer, comp);
    else
      gst_video_overlay_composition_blend (comp, frame);
    gst_video_overlay_composition_unref (comp);
  }

done:
  facekp_model_loader_frame_end (self->loader);
  self->frame_index++;
  if (upstream)
    g_array_free (upstream, TRUE);
  facekp_settings_clear (&s);
  return ret;
}

/* A frame QoS skips never reaches transform_frame_ip: the export still gets
 * its line ("dropped": true), and frame_index counts it. */
static GstFlowReturn
gst_facekp_filter_submit_input_buffer (GstBaseTransform *trans, gboolean is_discont,
                                       GstBuffer *input)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (trans);
  GstClockTime pts = GST_BUFFER_PTS (input);
  GstFlowReturn ret = GST_BASE_TRANSFORM_CLASS (gst_facekp_filter_parent_class)
      ->submit_input_buffer (trans, is_discont, input);
  if (ret != GST_BASE_TRANSFORM_FLOW_DROPPED)
    return ret;
  GError *error = NULL;
  const GstVideoInfo *info = &GST_VIDEO_FILTER (self)->in_info;
  if (self->export && !facekp_export_write_frame (self->export, self->frame_index,
          &trans->segment, pts, (guint) GST_VIDEO_INFO_WIDTH (info),
          (guint) GST_VIDEO_INFO_HEIGHT (info), TRUE, NULL, 0, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("%s", error->message), (NULL));
    g_clear_error (&error);
    ret = GST_FLOW_ERROR;
  }
  self->frame_index++;
  return ret;
}

/* ---- Class ----------------------------------------------------------- */

static void
gst_facekp_filter_finalize (GObject *object)
{
  GstFacekpFilter *self = GST_FACEKP_FILTER (object);
  facekp_settings_clear (&self->settings);
  fkp_face_list_clear (&self->faces);
  facekp_luma_scratch_clear (&self->luma);
  g_array_free (self->posted_ids, TRUE);
  G_OBJECT_CLASS (gst_facekp_filter_parent_class)->finalize (object);
}

static void
gst_facekp_filter_init (GstFacekpFilter *self)
{
  facekp_settings_init (&self->settings);
  fkp_face_list_init (&self->faces);
  self->posted_ids = g_array_new (FALSE, FALSE, sizeof (guint));
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), TRUE);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)

static void
gst_facekp_filter_class_init (GstFacekpFilterClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  FkpFaceOptions d;
  fkp_face_options_init (&d);

  gobject_class->set_property = gst_facekp_filter_set_property;
  gobject_class->get_property = gst_facekp_filter_get_property;
  gobject_class->finalize = gst_facekp_filter_finalize;

  /**
   * GstFacekpFilter:model:
   *
   * The 68-point landmark ONNX model: a path, or the file name of a shipped
   * model (`facekp-landmarks68-160.onnx`, the 160x160 model: more accurate,
   * at 1.4 to 2 times the cost per face).  Unset or empty: the shipped
   * `facekp-landmarks68.onnx` (112x112).  Shipped models are looked up in
   * `$FACEKP_MODELS_DIR`, the installed data directory, then the source tree.
   * Set while playing, it loads off the streaming thread (see above); the
   * detector in use is kept.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Landmark model",
          "Path of the 68-point landmark ONNX model, or the file name of a shipped one "
          "(facekp-landmarks68-160.onnx: more accurate, 1.4-2x the cost per face); empty or "
          "unset = the shipped " FKP_FACE_LANDMARK_MODEL_NAME, NULL, PARAM_FLAGS));
  /**
   * GstFacekpFilter:detector-model:
   *
   * The face detector ONNX model, a path or the file name of a shipped model;
   * loaded only with #GstFacekpFilter:face-source `detect`.  Unset or empty:
   * the shipped `face-detector.onnx`.  Set while playing, it loads off the
   * streaming thread like #GstFacekpFilter:model; the landmark model in use
   * is kept.
   */
  g_object_class_install_property (gobject_class, PROP_DETECTOR_MODEL,
      g_param_spec_string ("detector-model", "Detector model",
          "Path of the face detector ONNX model (face-source=detect); empty or unset = the "
          "shipped " FKP_FACE_DETECTOR_MODEL_NAME, NULL, PARAM_FLAGS));
  /**
   * GstFacekpFilter:face-source:
   *
   * Where the face boxes come from: the element's own CNN detector followed
   * by tracking, the `face` #GstVideoRegionOfInterestMeta upstream attached to
   * the buffer (replaced by the element's own), or the whole frame as one
   * face crop.
   */
  g_object_class_install_property (gobject_class, PROP_FACE_SOURCE,
      g_param_spec_enum ("face-source", "Face source",
          "Where face boxes come from", GST_TYPE_FACEKP_FACE_SOURCE,
          (gint) d.source, PARAM_FLAGS));
  /**
   * GstFacekpFilter:max-faces:
   *
   * The most faces followed at once, 1 to 64; when there are more, the
   * largest win.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_FACES,
      g_param_spec_int ("max-faces", "Maximum faces",
          "Track at most this many faces (the largest win)", 1, FKP_FACE_MAX_FACES_LIMIT,
          d.max_faces, PARAM_FLAGS));
  /**
   * GstFacekpFilter:detect-interval:
   *
   * With #GstFacekpFilter:face-source `detect`: while every face is tracked,
   * run the detector every this many frames, 1 to 10000 (1 = every frame);
   * it also runs on any frame without tracks and whenever a track is lost.
   */
  g_object_class_install_property (gobject_class, PROP_DETECT_INTERVAL,
      g_param_spec_int ("detect-interval", "Detect interval",
          "Run the face detector every N frames while tracking (and whenever a track is lost)",
          1, 10000, d.detect_interval, PARAM_FLAGS));
  /**
   * GstFacekpFilter:detect-latency:
   *
   * With #GstFacekpFilter:face-source `detect`, while faces are tracked: the
   * detector runs on its own thread, on a copy of the frame that needs it,
   * and its faces join later; the frames between are tracked meanwhile.
   * -1 (default): at the first frame after the run has ended, the detector
   * at the lowest CPU priority, so no frame waits for it; which frame its
   * faces join at then depends on the machine's load.  1 to 30: exactly
   * this many frames later, waiting for the detector if need be, the same
   * faces on every run (batch work).  0: on the frame that needs it, which
   * waits.  Without tracks the detector runs on the frame itself.
   */
  g_object_class_install_property (gobject_class, PROP_DETECT_LATENCY,
      g_param_spec_int ("detect-latency", "Detect latency",
          "Frames after which the face detector's results join while faces are tracked (it "
          "runs on its own thread meanwhile); -1 = as soon as it is done, at low priority; "
          "0 = on the frame itself, which waits for it",
          FKP_FACE_DETECT_LATENCY_WHEN_READY, FKP_FACE_MAX_DETECT_LATENCY,
          FKP_FACE_DETECT_LATENCY_WHEN_READY, PARAM_FLAGS));
  /**
   * GstFacekpFilter:min-face-size:
   *
   * Ignore detected or upstream face boxes whose larger side is smaller than
   * this, in pixels, 0 to 100000 (0 = keep every box).
   */
  g_object_class_install_property (gobject_class, PROP_MIN_FACE_SIZE,
      g_param_spec_int ("min-face-size", "Minimum face size",
          "Ignore faces whose box's larger side is smaller than this (pixels)",
          0, 100000, d.min_face_size, PARAM_FLAGS));
  /**
   * GstFacekpFilter:detector-threshold:
   *
   * The minimum detector score, 0 to 1, for a detection to start a new face
   * (a face already tracked is kept by weaker detections overlapping it); -1
   * uses the threshold stored in the detector model (0.15 for the shipped
   * one).
   */
  g_object_class_install_property (gobject_class, PROP_DETECTOR_THRESHOLD,
      g_param_spec_float ("detector-threshold", "Detector threshold",
          "Minimum face detector score; -1 = the detector model's own threshold", -1.0f, 1.0f,
          d.detector_threshold < 0.0f ? -1.0f : d.detector_threshold, PARAM_FLAGS));
  facekp_faces_install_min_presence (gobject_class, PROP_MIN_PRESENCE);
  /**
   * GstFacekpFilter:smoothing:
   *
   * Smooth each face's points over time with a One-Euro filter, driven by
   * the buffer timestamps (30 frames per second assumed for buffers without
   * one).
   */
  g_object_class_install_property (gobject_class, PROP_SMOOTHING,
      g_param_spec_boolean ("smoothing", "Smoothing",
          "Smooth the landmarks over time with a One-Euro filter driven by timestamps",
          d.smoothing, PARAM_FLAGS));
  /**
   * GstFacekpFilter:smoothing-min-cutoff:
   *
   * The One-Euro filter's minimum cutoff frequency, in Hz, 0.001 to 1000:
   * lower keeps still faces steadier, at the cost of more lag on slow motion.
   */
  g_object_class_install_property (gobject_class, PROP_SMOOTHING_MIN_CUTOFF,
      g_param_spec_float ("smoothing-min-cutoff", "Smoothing minimum cutoff",
          "One-Euro minimum cutoff frequency in Hz: lower keeps still faces steadier",
          0.001f, 1000.0f, d.smoothing_min_cutoff, PARAM_FLAGS));
  /**
   * GstFacekpFilter:smoothing-beta:
   *
   * The One-Euro filter's speed coefficient, per face size per second, 0 to
   * 1000: higher lags less on fast motion but lets more jitter through.
   */
  g_object_class_install_property (gobject_class, PROP_SMOOTHING_BETA,
      g_param_spec_float ("smoothing-beta", "Smoothing beta",
          "One-Euro speed coefficient (per face size per second): higher lags less on "
          "fast motion", 0.0f, 1000.0f, d.smoothing_beta, PARAM_FLAGS));
  /**
   * GstFacekpFilter:smoothing-d-cutoff:
   *
   * The cutoff frequency of the One-Euro filter's speed estimate, in Hz,
   * 0.001 to 1000.
   */
  g_object_class_install_property (gobject_class, PROP_SMOOTHING_D_CUTOFF,
      g_param_spec_float ("smoothing-d-cutoff", "Smoothing derivative cutoff",
          "One-Euro cutoff frequency of the speed estimate in Hz",
          0.001f, 1000.0f, d.smoothing_d_cutoff, PARAM_FLAGS));
  /**
   * GstFacekpFilter:stickers:
   *
   * The sticker pack drawn on every face: a pack name (`default`, `seed`,
   * `glasses`, `sunglasses`, `moustache`, `crown`, `expressions`), looked up as
   * `NAME/NAME.ini` in `$FACEKP_STICKERS_DIR`, the installed data directory,
   * then the source tree, or the path of a pack's `.ini` file.  `none` (or
   * empty): no stickers, for applications that only want the landmarks.
   */
  g_object_class_install_property (gobject_class, PROP_STICKERS,
      g_param_spec_string ("stickers", "Sticker pack",
          "Sticker pack to draw on every face: a pack name (\"default\", \"seed\", ...) or the "
          "path of a pack's .ini file; \"none\" or empty = no stickers", DEFAULT_STICKERS, PARAM_FLAGS));
  /**
   * GstFacekpFilter:draw-landmarks:
   *
   * Draw the 68 points of every face, for debugging.
   */
  g_object_class_install_property (gobject_class, PROP_DRAW_LANDMARKS,
      g_param_spec_boolean ("draw-landmarks", "Draw landmarks",
          "Draw the 68 landmarks of every face (debugging)", FALSE, PARAM_FLAGS));
  /**
   * GstFacekpFilter:draw-boxes:
   *
   * Draw every face's box and id, for debugging.
   */
  g_object_class_install_property (gobject_class, PROP_DRAW_BOXES,
      g_param_spec_boolean ("draw-boxes", "Draw boxes",
          "Draw every face's box and id (debugging)", FALSE, PARAM_FLAGS));
  /**
   * GstFacekpFilter:post-messages:
   *
   * When to post the `facekp` element message with the frame's faces on the
   * bus: never, for every frame, or only when the list of face ids differs
   * from the last message's.  Unless never, `facekp-expression` messages too.
   */
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_enum ("post-messages", "Post messages",
          "When to post \"facekp\" element messages with the faces on the bus",
          GST_TYPE_FACEKP_MESSAGES, DEFAULT_POST_MESSAGES, PARAM_FLAGS));
  /**
   * GstFacekpFilter:export-location:
   *
   * A file to which one JSON line per frame is written, with the frame's
   * timestamps, size and faces (boxes and points in pixels); frames dropped
   * for QoS get a line too, with `"dropped": true` and no faces.  It is truncated
   * when the element starts, or when the property is set while running; each
   * line is written whole and flushed, so the file is valid at any moment.
   * Unset or empty: no export.
   */
  g_object_class_install_property (gobject_class, PROP_EXPORT_LOCATION,
      g_param_spec_string ("export-location", "Export location",
          "Write one JSON line per frame with its faces to this file (truncated at start); "
          "empty or unset = no export", NULL, PARAM_FLAGS));
  /**
   * GstFacekpFilter:threads:
   *
   * Threads each model run uses, 1 to 64; 0 = one per CPU core, at most 8.
   * While the detector runs on its own thread (#GstFacekpFilter:detect-latency)
   * it takes half of them and the landmark model the rest.  Several elements
   * in one process should use the same value (the BLAS thread count is
   * process-wide).
   */
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "Threads per model run; 0 = one per CPU core (at most 8)", 0, MAX_THREADS, 0,
          PARAM_FLAGS));

  gst_element_class_set_static_metadata (element_class,
      "Face landmarks and stickers", "Filter/Analyzer/Video",
      "Finds faces, predicts 68 landmarks per face, attaches them as metadata, posts and "
      "exports them, and overlays stickers",
      "facekp developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_facekp_filter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_facekp_filter_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_facekp_filter_sink_event);
  trans_class->propose_allocation = GST_DEBUG_FUNCPTR (gst_facekp_filter_propose_allocation);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR (gst_facekp_filter_submit_input_buffer);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_facekp_filter_set_info);
  filter_class->transform_frame_ip = GST_DEBUG_FUNCPTR (gst_facekp_filter_transform_frame_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_FACEKP_FACE_SOURCE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_FACEKP_MESSAGES, 0);

  GST_DEBUG_CATEGORY_INIT (gst_facekp_filter_debug, "facekpfilter", 0,
      "facekp face landmarks and stickers");
}
