/* The face detector (docs/detector.md): letterbox the frame into the
 * network's input, run it, decode the tiny-YOLOv2 grid, NMS, clip.  Follows
 * training/detector/decode.py step by step. */
#include "face-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANCHORS 16

struct _FkpFaceDetector {
  FkpNet *net;
  char *path;
  int width, height;          /* network input */
  float in_mean, in_scale, pad_value;
  int stride;
  int n_anchors;
  double anchors[MAX_ANCHORS][2];
  float score_threshold, nms_iou;
  double to_landmark[3];      /* dx, dy, scale */
  float *rows;                /* horizontally resampled frame rows, [frame h][width][3] */
  size_t rows_len;
  GArray *candidates;         /* FkpFaceDetection scratch */
};

static const char *
require_key (FkpNet *net, const char *path, const char *key, GError **error)
{
  const char *v = fkp_net_get_metadata (net, key);
  if (v == NULL)
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: detector lacks the metadata key %s (docs/detector.md)", path, key);
  return v;
}

/* Parses `n` comma-separated numbers. */
static gboolean
parse_numbers (const char *text, double *values, int n)
{
  char **parts = g_strsplit (text, ",", -1);
  gboolean ok = g_strv_length (parts) == (guint) n;
  for (int i = 0; ok && i < n; i++) {
    char *end = NULL;
    const char *p = g_strstrip (parts[i]);
    values[i] = g_ascii_strtod (p, &end);
    ok = end != p && *end == '\0' && isfinite (values[i]);
  }
  g_strfreev (parts);
  return ok;
}

static gboolean
key_number (FkpNet *net, const char *path, const char *key, double *value, GError **error)
{
  const char *text = require_key (net, path, key, error);
  if (text == NULL)
    return FALSE;
  if (!parse_numbers (text, value, 1)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: detector metadata %s = \"%s\" is not a number", path, key, text);
    return FALSE;
  }
  return TRUE;
}

FkpFaceDetector *
fkp_face_detector_new (const char *path, int input_width, int input_height, int threads,
                       FkpFacePauseFunc pause_func, void *pause_data, GError **error)
{
  if (input_width < 0 || input_height < 0 || input_width > 4096 || input_height > 4096) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "detector input size %dx%d is outside 0…4096", input_width, input_height);
    return NULL;
  }
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = threads > 0 ? threads : 1;
  opts.input_width = input_width;
  opts.input_height = input_height;
  opts.pause_func = pause_func;
  opts.pause_data = pause_data;
  GError *nn_error = NULL;
  FkpNet *net = fkp_net_new_from_file (path, &opts, &nn_error);
  if (net == NULL) {
    g_propagate_error (error, nn_error);
    return NULL;
  }
  FkpFaceDetector *d = g_new0 (FkpFaceDetector, 1);
  d->net = net;
  d->path = g_strdup (path);
  d->candidates = g_array_new (FALSE, FALSE, sizeof (FkpFaceDetection));

  const char *v;
  double num[3];
  if (!(v = require_key (net, path, "facekp.task", error)))
    goto fail;
  if (strcmp (v, "face-detection") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: not a face detector (facekp.task is \"%s\", expected \"face-detection\")",
                 path, v);
    goto fail;
  }
  if (!(v = require_key (net, path, "facekp.detector.type", error)))
    goto fail;
  if (strcmp (v, "tiny-yolo2") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: unsupported detector type \"%s\" (only \"tiny-yolo2\")", path, v);
    goto fail;
  }
  if (!(v = require_key (net, path, "facekp.detector.anchor_layout", error)))
    goto fail;
  if (strcmp (v, "tx,ty,tw,th,score") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: unsupported anchor layout \"%s\"", path, v);
    goto fail;
  }
  v = fkp_net_get_metadata (net, "facekp.input.resize");
  if (v != NULL && strcmp (v, "letterbox-top-left") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: unsupported facekp.input.resize \"%s\"", path, v);
    goto fail;
  }
  v = fkp_net_get_metadata (net, "facekp.input.color");
  if (v != NULL && strcmp (v, "rgb") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: unsupported facekp.input.color \"%s\" (only \"rgb\")", path, v);
    goto fail;
  }
  if (!key_number (net, path, "facekp.input.mean", &num[0], error))
    goto fail;
  d->in_mean = (float) num[0];
  if (!key_number (net, path, "facekp.input.scale", &num[0], error))
    goto fail;
  d->in_scale = (float) num[0];
  if (!key_number (net, path, "facekp.input.pad_value", &num[0], error))
    goto fail;
  d->pad_value = (float) num[0];
  if (!key_number (net, path, "facekp.detector.stride", &num[0], error))
    goto fail;
  d->stride = (int) num[0];
  if (!key_number (net, path, "facekp.detector.score_threshold", &num[0], error))
    goto fail;
  d->score_threshold = (float) num[0];
  if (!key_number (net, path, "facekp.detector.nms_iou", &num[0], error))
    goto fail;
  d->nms_iou = (float) num[0];
  if (!(v = require_key (net, path, "facekp.detector.box_to_landmark_box", error)))
    goto fail;
  if (!parse_numbers (v, d->to_landmark, 3) || !(d->to_landmark[2] > 0)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: facekp.detector.box_to_landmark_box \"%s\" is not \"dx,dy,scale\"", path, v);
    goto fail;
  }
  if (!(v = require_key (net, path, "facekp.detector.anchors", error)))
    goto fail;
  {
    char **anchors = g_strsplit (v, ";", -1);
    guint n = g_strv_length (anchors);
    gboolean ok = n >= 1 && n <= MAX_ANCHORS;
    for (guint i = 0; ok && i < n; i++)
      ok = parse_numbers (anchors[i], d->anchors[i], 2);
    g_strfreev (anchors);
    if (!ok) {
      g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                   "%s: facekp.detector.anchors \"%s\" is not \"w,h;w,h;…\" (1…%d anchors)", path,
                   v, MAX_ANCHORS);
      goto fail;
    }
    d->n_anchors = (int) n;
  }

  FkpShape shape;
  if (fkp_net_get_n_inputs (net) != 1 || !fkp_net_get_input_shape (net, 0, &shape)
      || shape.rank != 4 || shape.dims[0] != 1 || shape.dims[1] != 3) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: the detector's input is not [1, 3, H, W]", path);
    goto fail;
  }
  d->height = (int) shape.dims[2];
  d->width = (int) shape.dims[3];
  if (d->stride < 1 || d->width % d->stride || d->height % d->stride) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "%s: detector input %dx%d is not a multiple of its stride %d", path, d->width,
                 d->height, d->stride);
    goto fail;
  }
  if (fkp_net_get_n_outputs (net) < 1 || !fkp_net_get_output_shape (net, 0, &shape)
      || shape.rank != 4 || shape.dims[1] != d->n_anchors * 5
      || shape.dims[2] != d->height / d->stride || shape.dims[3] != d->width / d->stride) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: the detector's output is not [1, %d, %d, %d]", path, d->n_anchors * 5,
                 d->height / d->stride, d->width / d->stride);
    goto fail;
  }
  return d;

fail:
  fkp_face_detector_free (d);
  return NULL;
}

void
fkp_face_detector_free (FkpFaceDetector *d)
{
  if (d == NULL)
    return;
  fkp_net_free (d->net);
  g_free (d->path);
  g_free (d->rows);
  g_array_free (d->candidates, TRUE);
  g_free (d);
}

void
fkp_face_detector_set_threads (FkpFaceDetector *d, int threads)
{
  fkp_net_set_threads (d->net, threads);
}

void
fkp_face_detector_set_pause (FkpFaceDetector *d, FkpFacePauseFunc func, void *data)
{
  fkp_net_set_pause_func (d->net, func, data);
}

void
fkp_face_detector_input_size (const FkpFaceDetector *d, int *width, int *height)
{
  *width = d->width;
  *height = d->height;
}

float
fkp_face_detector_default_threshold (const FkpFaceDetector *d)
{
  return d->score_threshold;
}

void
fkp_face_detector_landmark_box (const FkpFaceDetector *d, const FkpFaceBox *box,
                                FkpFaceBox *landmark_box)
{
  double cx = box->x + box->width * (0.5 + d->to_landmark[0]);
  double cy = box->y + box->height * (0.5 + d->to_landmark[1]);
  double side = d->to_landmark[2] * MAX (box->width, box->height);
  landmark_box->x = (float) (cx - side / 2);
  landmark_box->y = (float) (cy - side / 2);
  landmark_box->width = landmark_box->height = (float) side;
}

/* Bilinear taps along one axis: for destination pixel u and tap t, source
 * indices i0, i1 (-1 = outside, reads 0) and weights. */
typedef struct {
  int i0, i1;
  float w0, w1;
} Tap;

static Tap *
axis_taps (int src_len, int dst_len, double scale, int taps)
{
  Tap *out = g_new (Tap, (size_t) dst_len * taps);
  for (int u = 0; u < dst_len; u++)
    for (int t = 0; t < taps; t++) {
      double pos = (u + (t + 0.5) / taps) / scale - 0.5;
      double fl = floor (pos);
      int i0 = (int) fl;
      Tap *tp = &out[u * taps + t];
      tp->w1 = (float) (pos - fl);
      tp->w0 = 1.0f - tp->w1;
      tp->i0 = (i0 >= 0 && i0 < src_len) ? i0 : -1;
      tp->i1 = (i0 + 1 >= 0 && i0 + 1 < src_len) ? i0 + 1 : -1;
    }
  return out;
}

/* decode.py letterbox(): scale by s = min(W / fw, H / fh), top-left, pad. */
static double
letterbox (FkpFaceDetector *d, const FkpFaceSampler *s, float *input)
{
  int fw = s->width, fh = s->height;
  double scale = MIN ((double) d->width / fw, (double) d->height / fh);
  int out_w = MIN (d->width, (int) floor (fw * scale + 0.5));
  int out_h = MIN (d->height, (int) floor (fh * scale + 0.5));
  int taps = 1.0 / scale >= 1.5 ? (int) lround (1.0 / scale) : 1;
  Tap *xt = axis_taps (fw, out_w, scale, taps);
  Tap *yt = axis_taps (fh, out_h, scale, taps);
  size_t plane = (size_t) d->width * d->height;
  float pad = (d->pad_value - d->in_mean) * d->in_scale;
  for (size_t i = 0; i < 3 * plane; i++)
    input[i] = pad;

  /* Pass 1: every source row resampled along x (the average over the x taps). */
  size_t rows_len = (size_t) fh * out_w * 3;
  if (rows_len > d->rows_len) {
    g_free (d->rows);
    d->rows = g_new (float, rows_len);
    d->rows_len = rows_len;
  }
  float inv_taps = 1.0f / taps;
  int bpp = s->bytes_per_pixel;
  int ch[3] = { s->r, s->g, s->b };
  for (int y = 0; y < fh; y++) {
    const uint8_t *src = s->data + (size_t) y * s->stride;
    float *row = d->rows + (size_t) y * out_w * 3;
    for (int u = 0; u < out_w; u++) {
      float acc[3] = { 0, 0, 0 };
      for (int t = 0; t < taps; t++) {
        const Tap *tp = &xt[u * taps + t];
        for (int c = 0; c < 3; c++) {
          float a = tp->i0 >= 0 ? src[(size_t) tp->i0 * bpp + ch[c]] : 0.0f;
          float b = tp->i1 >= 0 ? src[(size_t) tp->i1 * bpp + ch[c]] : 0.0f;
          acc[c] += a * tp->w0 + b * tp->w1;
        }
      }
      row[u * 3 + 0] = acc[0] * inv_taps;
      row[u * 3 + 1] = acc[1] * inv_taps;
      row[u * 3 + 2] = acc[2] * inv_taps;
    }
  }
  /* Pass 2: along y, into the NCHW input, normalised. */
  for (int v = 0; v < out_h; v++) {
    for (int u = 0; u < out_w; u++) {
      float acc[3] = { 0, 0, 0 };
      for (int t = 0; t < taps; t++) {
        const Tap *tp = &yt[v * taps + t];
        for (int c = 0; c < 3; c++) {
          float a = tp->i0 >= 0 ? d->rows[((size_t) tp->i0 * out_w + u) * 3 + c] : 0.0f;
          float b = tp->i1 >= 0 ? d->rows[((size_t) tp->i1 * out_w + u) * 3 + c] : 0.0f;
          acc[c] += a * tp->w0 + b * tp->w1;
        }
      }
      for (int c = 0; c < 3; c++)
        input[c * plane + (size_t) v * d->width + u] = (acc[c] * inv_taps - d->in_mean) * d->in_scale;
    }
  }
  g_free (xt);
  g_free (yt);
  return scale;
}

static inline double
sigmoid (double x)
{
  return 1.0 / (1.0 + exp (-x));
}

gboolean
fkp_face_detector_detect (FkpFaceDetector *d, const FkpFaceSampler *s, float threshold,
                          int min_size, GArray *out, GError **error)
{
  float *input = fkp_net_get_input_data (d->net, 0);
  double scale = letterbox (d, s, input);
  GError *nn_error = NULL;
  if (!fkp_net_run (d->net, &nn_error)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INFERENCE, "%s: %s", d->path,
                 nn_error->message);
    g_error_free (nn_error);
    return FALSE;
  }
  const float *grid = fkp_net_get_output_data (d->net, 0);
  int gh = d->height / d->stride, gw = d->width / d->stride;
  size_t cell_plane = (size_t) gh * gw;
  if (threshold < 0)
    threshold = d->score_threshold;
  GArray *cand = d->candidates;
  g_array_set_size (cand, 0);
  for (int a = 0; a < d->n_anchors; a++) {
    const float *ch = grid + (size_t) a * 5 * cell_plane;
    for (int row = 0; row < gh; row++)
      for (int col = 0; col < gw; col++) {
        size_t at = (size_t) row * gw + col;
        double score = sigmoid (ch[4 * cell_plane + at]);
        if (!(score >= threshold))
          continue;
        double cx = (col + sigmoid (ch[0 * cell_plane + at])) * d->stride;
        double cy = (row + sigmoid (ch[1 * cell_plane + at])) * d->stride;
        double w = exp (ch[2 * cell_plane + at]) * d->anchors[a][0] * d->stride;
        double h = exp (ch[3 * cell_plane + at]) * d->anchors[a][1] * d->stride;
        FkpFaceDetection det = {
          .box = { (float) ((cx - w / 2) / scale), (float) ((cy - h / 2) / scale),
                   (float) (w / scale), (float) (h / scale) },
          .score = (float) score,
        };
        if (isfinite (det.box.width) && isfinite (det.box.height))
          g_array_append_val (cand, det);
      }
  }
  size_t kept = fkp_face_nms ((FkpFaceDetection *) (void *) cand->data, cand->len, d->nms_iou);
  for (size_t i = 0; i < kept; i++) {
    FkpFaceDetection det = g_array_index (cand, FkpFaceDetection, i);
    /* Clip to the frame; drop boxes left empty or too small. */
    float x0 = MAX (0.0f, det.box.x), y0 = MAX (0.0f, det.box.y);
    float x1 = MIN ((float) s->width, det.box.x + det.box.width);
    float y1 = MIN ((float) s->height, det.box.y + det.box.height);
    if (!(x1 > x0 && y1 > y0))
      continue;
    det.box.x = x0;
    det.box.y = y0;
    det.box.width = x1 - x0;
    det.box.height = y1 - y0;
    if (MAX (det.box.width, det.box.height) < min_size)
      continue;
    g_array_append_val (out, det);
  }
  return TRUE;
}
