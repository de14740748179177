/* The landmark model: its contract keys, its crop, its input and its output. */
#include "face-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct _FkpLandmarkModel {
  FkpNet *net;
  char *path;
  int size;            /* facekp.input.size */
  int channels;        /* facekp.input.channels */
  float in_mean, in_scale;
  float out_mean, out_std, out_reference;
  double points_scale; /* facekp.crop.points_scale */
  double box_scale;    /* facekp.crop.box_scale */
  gboolean eye_line;   /* facekp.crop.points_angle == eye-line */
  int refine;          /* facekp.crop.refine */
  float *crop;         /* size * size scratch */
  int presence_output;     /* output index of facekp.presence.output, -1 when the model has none */
  int point_error_output;  /* output index of facekp.point_error.output, -1 when none */
  FkpFaceQuality last;     /* what the last prediction's outputs said */
};

static gboolean
read_number (FkpLandmarkModel *m, const char *key, const char *fallback, double lo, double hi,
             double *value, GError **error)
{
  const char *text = fkp_net_get_metadata (m->net, key);
  if (text == NULL)
    text = fallback;
  if (text == NULL) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: landmark model lacks the metadata key %s (docs/model-contract.md)", m->path,
                 key);
    return FALSE;
  }
  char *end = NULL;
  double v = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || !isfinite (v) || v < lo || v > hi) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: metadata %s = \"%s\" is not a number in [%g, %g]", m->path, key, text, lo, hi);
    return FALSE;
  }
  *value = v;
  return TRUE;
}

/* An optional output named by a metadata key (docs/model-contract.md): its
 * index, or -1 when the key is absent; present, it must hold `count` values. */
static gboolean
find_quality_output (FkpLandmarkModel *m, const char *key, size_t count, int *index,
                     GError **error)
{
  *index = -1;
  const char *name = fkp_net_get_metadata (m->net, key);
  if (name == NULL)
    return TRUE;
  int at = fkp_net_find_output (m->net, name);
  FkpShape shape;
  if (at < 1 || !fkp_net_get_output_shape (m->net, (size_t) at, &shape)
      || fkp_shape_n_elements (&shape) != count) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: %s names \"%s\", which is not an output after the first holding %zu "
                 "value%s", m->path, key, name, count, count == 1 ? "" : "s");
    return FALSE;
  }
  *index = at;
  return TRUE;
}

FkpLandmarkModel *
fkp_landmark_model_new (const char *path, int threads, FkpFacePauseFunc pause_func,
                        void *pause_data, GError **error)
{
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = threads > 0 ? threads : 1;
  opts.pause_func = pause_func;
  opts.pause_data = pause_data;
  GError *nn_error = NULL;
  FkpNet *net = fkp_net_new_from_file (path, &opts, &nn_error);
  if (net == NULL) {
    g_propagate_error (error, nn_error);
    return NULL;
  }
  FkpLandmarkModel *m = g_new0 (FkpLandmarkModel, 1);
  m->net = net;
  m->path = g_strdup (path);

  const char *task = fkp_net_get_metadata (net, "facekp.task");
  if (task == NULL || strcmp (task, "landmarks68") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: not a 68-point landmark model (facekp.task is %s%s%s, expected "
                 "\"landmarks68\"; see docs/model-contract.md)",
                 path, task ? "\"" : "", task ? task : "absent", task ? "\"" : "");
    goto fail;
  }
  double v;
  if (!read_number (m, "facekp.points", G_STRINGIFY (FKP_FACE_N_POINTS), FKP_FACE_N_POINTS,
                    FKP_FACE_N_POINTS, &v, error))
    goto fail;
  if (!read_number (m, "facekp.input.size", NULL, 8, 1024, &v, error))
    goto fail;
  m->size = (int) v;
  if (!read_number (m, "facekp.input.channels", "1", 1, 3, &v, error))
    goto fail;
  m->channels = (int) v;
  if (m->channels == 2) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: facekp.input.channels must be 1 or 3", path);
    goto fail;
  }
  const char *color = fkp_net_get_metadata (net, "facekp.input.color");
  if (color != NULL && strcmp (color, "gray") != 0) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: facekp.input.color \"%s\" is not supported (only \"gray\")", path, color);
    goto fail;
  }
  if (!read_number (m, "facekp.input.mean", "0", -1e6, 1e6, &v, error))
    goto fail;
  m->in_mean = (float) v;
  if (!read_number (m, "facekp.input.scale", "1", -1e6, 1e6, &v, error))
    goto fail;
  m->in_scale = (float) v;
  if (!read_number (m, "facekp.output.mean", "0", -1e6, 1e6, &v, error))
    goto fail;
  m->out_mean = (float) v;
  if (!read_number (m, "facekp.output.std", "1", -1e6, 1e6, &v, error))
    goto fail;
  m->out_std = (float) v;
  if (!read_number (m, "facekp.output.reference", "1", 1e-6, 1e6, &v, error))
    goto fail;
  m->out_reference = (float) v;
  if (!read_number (m, "facekp.crop.points_scale", NULL, 0.5, 10, &v, error))
    goto fail;
  m->points_scale = v;
  /* Crops from face boxes; models from before the key use the points' scale. */
  if (!read_number (m, "facekp.crop.box_scale",
                    fkp_net_get_metadata (net, "facekp.crop.points_scale"), 0.5, 10, &v, error))
    goto fail;
  m->box_scale = v;
  if (!read_number (m, "facekp.crop.refine", "0", 0, 10, &v, error))
    goto fail;
  m->refine = (int) v;
  const char *angle = fkp_net_get_metadata (net, "facekp.crop.points_angle");
  if (angle == NULL || strcmp (angle, "none") == 0) {
    m->eye_line = FALSE;
  } else if (strcmp (angle, "eye-line") == 0) {
    m->eye_line = TRUE;
  } else {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: facekp.crop.points_angle \"%s\" is neither \"eye-line\" nor \"none\"", path,
                 angle);
    goto fail;
  }

  /* The graph must agree with the keys: one input [1, C, N, N], one output of 136. */
  FkpShape shape;
  if (fkp_net_get_n_inputs (net) != 1 || !fkp_net_get_input_shape (net, 0, &shape)
      || shape.rank != 4 || shape.dims[0] != 1 || shape.dims[1] != m->channels
      || shape.dims[2] != m->size || shape.dims[3] != m->size) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: the graph input is not [1, %d, %d, %d] as its metadata says", path,
                 m->channels, m->size, m->size);
    goto fail;
  }
  if (fkp_net_get_n_outputs (net) < 1 || !fkp_net_get_output_shape (net, 0, &shape)
      || fkp_shape_n_elements (&shape) != 2 * FKP_FACE_N_POINTS) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_MODEL,
                 "%s: the graph's first output does not hold %d values", path,
                 2 * FKP_FACE_N_POINTS);
    goto fail;
  }
  if (!find_quality_output (m, "facekp.presence.output", 1, &m->presence_output, error)
      || !find_quality_output (m, "facekp.point_error.output", FKP_FACE_N_POINTS,
                               &m->point_error_output, error))
    goto fail;
  m->crop = g_new (float, (size_t) m->size * m->size);
  m->last.presence = -1.0f;
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    m->last.point_error[i] = -1.0f;
  return m;

fail:
  fkp_landmark_model_free (m);
  return NULL;
}

void
fkp_landmark_model_free (FkpLandmarkModel *m)
{
  if (m == NULL)
    return;
  fkp_net_free (m->net);
  g_free (m->path);
  g_free (m->crop);
  g_free (m);
}

int
fkp_landmark_model_input_size (const FkpLandmarkModel *m)
{
  return m->size;
}

int
fkp_landmark_model_refine (const FkpLandmarkModel *m)
{
  return m->refine;
}

const char *
fkp_landmark_model_metadata (const FkpLandmarkModel *m, const char *key)
{
  return fkp_net_get_metadata (m->net, key);
}

void
fkp_landmark_model_set_threads (FkpLandmarkModel *m, int threads)
{
  fkp_net_set_threads (m->net, threads);
}

void
fkp_landmark_model_set_pause (FkpLandmarkModel *m, FkpFacePauseFunc func, void *data)
{
  fkp_net_set_pause_func (m->net, func, data);
}

void
fkp_landmark_model_crop_from_points (const FkpLandmarkModel *m, const float (*points)[2],
                                     FkpFaceCrop *crop)
{
  fkp_face_crop_from_points (points, FKP_FACE_N_POINTS, m->points_scale, m->eye_line, crop);
}

void
fkp_landmark_model_crop_from_box (const FkpLandmarkModel *m, const FkpFaceBox *box,
                                  FkpFaceCrop *crop)
{
  fkp_face_crop_from_box (box, m->box_scale, crop);
}

/* The optional outputs of the run just made: presence as it is, the point
 * errors (fractions of the crop's side) in frame pixels. */
static void
read_quality (FkpLandmarkModel *m, const FkpFaceCrop *crop)
{
  FkpFaceQuality *q = &m->last;
  q->presence = -1.0f;
  if (m->presence_output >= 0) {
    const float p = fkp_net_get_output_data (m->net, (size_t) m->presence_output)[0];
    q->presence = isfinite (p) ? CLAMP (p, 0.0f, 1.0f) : 0.0f;
  }
  const float *e = m->point_error_output >= 0
                     ? fkp_net_get_output_data (m->net, (size_t) m->point_error_output) : NULL;
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    q->point_error[i] = e != NULL && isfinite (e[i]) ? (float) (MAX (e[i], 0.0f) * crop->side)
                                                     : -1.0f;
}

gboolean
fkp_landmark_model_has_presence (const FkpLandmarkModel *m)
{
  return m->presence_output >= 0;
}

const FkpFaceQuality *
fkp_landmark_model_last_quality (const FkpLandmarkModel *m)
{
  return &m->last;
}

gboolean
fkp_landmark_model_predict (FkpLandmarkModel *m, const FkpFaceSampler *s, const FkpFaceCrop *crop,
                            float (*points)[2], GError **error)
{
  if (!(crop->side > 0.0) || !isfinite (crop->cx) || !isfinite (crop->cy)
      || !isfinite (crop->angle)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                 "degenerate crop (centre %g, %g; side %g)", crop->cx, crop->cy, crop->side);
    return FALSE;
  }
  size_t plane = (size_t) m->size * m->size;
  fkp_face_warp_gray (s, crop, m->size, m->crop);
  float *in = fkp_net_get_input_data (m->net, 0);
  for (size_t i = 0; i < plane; i++)
    in[i] = (m->crop[i] - m->in_mean) * m->in_scale;
  for (int c = 1; c < m->channels; c++)
    memcpy (in + c * plane, in, plane * sizeof *in);
  GError *nn_error = NULL;
  if (!fkp_net_run (m->net, &nn_error)) {
    g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INFERENCE, "%s: %s", m->path,
                 nn_error->message);
    g_error_free (nn_error);
    return FALSE;
  }
  const float *out = fkp_net_get_output_data (m->net, 0);
  float q[FKP_FACE_N_POINTS][2];
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    q[i][0] = (out[2 * i] * m->out_std + m->out_mean) / m->out_reference;
    q[i][1] = (out[2 * i + 1] * m->out_std + m->out_mean) / m->out_reference;
  }
  fkp_face_points_from_crop ((const float (*)[2]) q, FKP_FACE_N_POINTS, crop, points);
  read_quality (m, crop);
  return TRUE;
}

void
fkp_landmark_model_last_signature (const FkpLandmarkModel *m, float signature[FKP_FACE_SIGNATURE])
{
  const int grid = 16, size = m->size;
  double mean = 0.0, norm = 0.0;
  for (int gy = 0; gy < grid; gy++)
    for (int gx = 0; gx < grid; gx++) {
      const int y0 = gy * size / grid, y1 = (gy + 1) * size / grid;
      const int x0 = gx * size / grid, x1 = (gx + 1) * size / grid;
      double sum = 0.0;
      for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
          sum += m->crop[(size_t) y * size + x];
      signature[gy * grid + gx] = (float) (sum / MAX (1, (y1 - y0) * (x1 - x0)));
      mean += signature[gy * grid + gx];
    }
  mean /= FKP_FACE_SIGNATURE;
  for (int i = 0; i < FKP_FACE_SIGNATURE; i++) {
    signature[i] -= (float) mean;
    norm += (double) signature[i] * signature[i];
  }
  /* A flat crop has no pattern to compare: all zeros (correlation 0). */
  const double scale = norm > 1e-6 ? 1.0 / sqrt (norm) : 0.0;
  for (int i = 0; i < FKP_FACE_SIGNATURE; i++)
    signature[i] = (float) (signature[i] * scale);
}

gboolean
fkp_landmark_model_predict_refined (FkpLandmarkModel *m, const FkpFaceSampler *s,
                                    const FkpFaceCrop *crop, float min_presence,
                                    float (*points)[2], GError **error)
{
  if (!fkp_landmark_model_predict (m, s, crop, points, error))
    return FALSE;
  FkpFaceCrop last = *crop;
  for (int r = 0; r < m->refine; r++) {
    FkpFaceCrop next;
    fkp_landmark_model_crop_from_points (m, (const float (*)[2]) points, &next);
    if (!(next.side >= 1.0))   /* collapsed points: keep the first answer */
      break;
    const float before = m->last.presence;
    if (!fkp_landmark_model_predict (m, s, &next, points, error))
      return FALSE;
    /* A refinement that lost a face the crop before held (its points
     * shrank onto part of the face or slid off it) is undone: the crop
     * before is run again, so that the points, the outputs and the crop
     * kept all belong to it. */
    if (min_presence >= 0.0f && before >= min_presence && m->last.presence >= 0.0f
        && m->last.presence < min_presence)
      return fkp_landmark_model_predict (m, s, &last, points, error);
    last = next;
  }
  return TRUE;
}
