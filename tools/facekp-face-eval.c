/* facekp-face-eval: accuracy of the face pipeline on a labelled split of the
 * keypoints data set (CSV: file name, then x0, y0, ..., x67, y67).
 *
 *   facekp-face-eval [--mode full-frame|points|detect|sequence] DATA_DIR [SPLIT]
 *
 * full-frame  the pipeline with face-source full-frame on every image (what
 *             training/evaluate.py reproduces in PyTorch)
 * points      the landmark model alone on the crop from the true points
 * detect      the pipeline with the detector on every image: recall, and NME
 *             of the faces found
 * sequence    a synthetic 640x480 video made of the split's faces, moving,
 *             rolling ±20°, scaling x0.75–1.25 (tests/support/synth.c)
 * expressions the full-frame pipeline's expression values against the same
 *             formulas on the true points: Spearman rank correlation per
 *             expression, and the states a still face settles in
 *             (fkp_expression_state_at_rest) as a confusion table with
 *             balanced accuracy (docs/accuracy.md#expressions)
 */
#include "synth.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *name;
  GdkPixbuf *pixbuf;
  FkpSynthFace face;
  GArray *unlabelled;   /* FkpFaceBox: other people's faces in the image (--unlabelled) */
} Sample;

/* --unlabelled: a CSV (header, then name,x,y,width,height in image pixels)
 * of faces in the split's images that are not labelled, seen by eye; the
 * sequence counts output faces on them apart from false faces. */
static gboolean
load_unlabelled (const char *path, GArray *samples, GError **error)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  char **lines = g_strsplit (text, "\n", -1);
  g_free (text);
  gboolean ok = TRUE;
  for (guint i = 1; lines[i] != NULL && ok; i++) {
    char *line = g_strstrip (lines[i]);
    if (*line == '\0' || *line == '#')
      continue;
    char **cells = g_strsplit (line, ",", -1);
    if (g_strv_length (cells) != 5) {
      g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                   "%s line %u: expected name,x,y,width,height", path, i + 1);
      ok = FALSE;
    }
    for (guint k = 0; k < samples->len && ok; k++) {
      Sample *s = &g_array_index (samples, Sample, k);
      if (strcmp (s->name, cells[0]) != 0)
        continue;
      FkpFaceBox b = { (float) g_ascii_strtod (cells[1], NULL), (float) g_ascii_strtod (cells[2], NULL),
                       (float) g_ascii_strtod (cells[3], NULL), (float) g_ascii_strtod (cells[4], NULL) };
      if (s->unlabelled == NULL)
        s->unlabelled = g_array_new (FALSE, FALSE, sizeof (FkpFaceBox));
      g_array_append_val (s->unlabelled, b);
      s->face.unlabelled = (const FkpFaceBox *) (void *) s->unlabelled->data;
      s->face.n_unlabelled = s->unlabelled->len;
    }
    g_strfreev (cells);
  }
  g_strfreev (lines);
  return ok;
}

static gboolean
load_split (const char *dir, const char *split, int limit, GArray *samples, GError **error)
{
  char *csv_name = g_strdup_printf ("%s_frames_keypoints.csv", split);
  char *csv_path = g_build_filename (dir, csv_name, NULL);
  char *text = NULL;
  gboolean ok = g_file_get_contents (csv_path, &text, NULL, error);
  g_free (csv_name);
  if (!ok) {
    g_free (csv_path);
    return FALSE;
  }
  char **lines = g_strsplit (text, "\n", -1);
  g_free (text);
  for (guint i = 1; lines[i] != NULL && ok; i++) {
    char *line = g_strstrip (lines[i]);
    if (*line == '\0')
      continue;
    if (limit > 0 && samples->len >= (guint) limit)
      break;
    char **cells = g_strsplit (line, ",", -1);
    if (g_strv_length (cells) != 1 + 2 * FKP_FACE_N_POINTS) {
      g_set_error (error, FKP_FACE_ERROR, FKP_FACE_ERROR_INVALID_ARGUMENT,
                   "%s line %u: expected a name and %d numbers", csv_path, i + 1,
                   2 * FKP_FACE_N_POINTS);
      g_strfreev (cells);
      ok = FALSE;
      break;
    }
    Sample s = { 0 };
    s.name = g_strdup (cells[0]);
    for (int k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
      s.face.points[k / 2][k % 2] = (float) g_ascii_strtod (cells[k + 1], NULL);
    g_strfreev (cells);
    char *image_path = g_build_filename (dir, split, s.name, NULL);
    s.pixbuf = gdk_pixbuf_new_from_file (image_path, error);
    g_free (image_path);
    if (s.pixbuf == NULL) {
      g_free (s.name);
      ok = FALSE;
      break;
    }
    int channels = gdk_pixbuf_get_n_channels (s.pixbuf);
    s.face.image = (FkpFaceFrame) {
      .width = gdk_pixbuf_get_width (s.pixbuf),
      .height = gdk_pixbuf_get_height (s.pixbuf),
      .format = channels == 4 ? FKP_FACE_FORMAT_RGBA : FKP_FACE_FORMAT_RGB,
      .data = gdk_pixbuf_read_pixels (s.pixbuf),
      .stride = gdk_pixbuf_get_rowstride (s.pixbuf),
      .timestamp_ns = FKP_FACE_TIMESTAMP_NONE,
    };
    g_array_append_val (samples, s);
  }
  g_strfreev (lines);
  g_free (csv_path);
  return ok;
}

/* Ranks 1…n, ties sharing their mean rank (for Spearman's rho). */
static void
ranks (const double *x, size_t n, double *rank)
{
  size_t *order = g_new (size_t, n);
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  for (size_t i = 1; i < n; i++)   /* insertion sort: n is a few hundred */
    for (size_t j = i; j > 0 && x[order[j - 1]] > x[order[j]]; j--) {
      size_t tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && x[order[j + 1]] == x[order[i]])
      j++;
    for (size_t k = i; k <= j; k++)
      rank[order[k]] = 0.5 * (double) (i + j) + 1.0;
    i = j + 1;
  }
  g_free (order);
}

/* Spearman's rho: Pearson's correlation of the ranks. */
static double
spearman (const double *a, const double *b, size_t n)
{
  double *ra = g_new (double, n), *rb = g_new (double, n);
  ranks (a, n, ra);
  ranks (b, n, rb);
  double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; i++) {
    ma += ra[i] / n;
    mb += rb[i] / n;
  }
  for (size_t i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  g_free (ra);
  g_free (rb);
  return saa > 0 && sbb > 0 ? sab / sqrt (saa * sbb) : NAN;
}

/* Each expression's value from the pipeline (full-frame, as `--mode
 * full-frame`) and from the labels; rows to @per_image when given. */
static gboolean
evaluate_expressions (FkpFacePipeline *pipeline, GArray *samples, const char *per_image,
                      const char *points_path, GError **error)
{
  FILE *points_csv = points_path ? fopen (points_path, "w") : NULL;
  size_t n = samples->len;
  double *truth[FKP_EXPRESSION_N], *pred[FKP_EXPRESSION_N];
  for (int e = 0; e < FKP_EXPRESSION_N; e++) {
    truth[e] = g_new (double, n);
    pred[e] = g_new (double, n);
  }
  FILE *rows = per_image ? fopen (per_image, "w") : NULL;
  if (rows) {
    fprintf (rows, "name");
    for (int e = 0; e < FKP_EXPRESSION_N; e++)
      fprintf (rows, ",true_%s,pred_%s", fkp_expression_get_name (e), fkp_expression_get_name (e));
    fprintf (rows, "\n");
  }
  FkpFaceList out;
  fkp_face_list_init (&out);
  gboolean ok = TRUE;
  double inner_error = 0, face_width = 0;
  gint64 t0 = g_get_monotonic_time ();
  for (size_t i = 0; i < n && ok; i++) {
    Sample *s = &g_array_index (samples, Sample, i);
    fkp_face_pipeline_reset (pipeline);
    ok = fkp_face_pipeline_process (pipeline, &s->face.image, NULL, 0, &out, error);
    if (!ok)
      break;
    for (int k = 60; k < 68; k++)
      inner_error += hypot (out.faces[0].points[k][0] - s->face.points[k][0],
                            out.faces[0].points[k][1] - s->face.points[k][1]) / (8.0 * n);
    FkpFaceBox tb;
    fkp_face_points_bounds ((const float (*)[2]) s->face.points, FKP_FACE_N_POINTS, &tb);
    face_width += tb.width / n;
    float values[FKP_FACE_MAX_EXPRESSIONS];
    fkp_expression_measure ((const float (*)[2]) s->face.points, values);
    if (rows)
      fprintf (rows, "%s", s->name);
    for (int e = 0; e < FKP_EXPRESSION_N; e++) {
      truth[e][i] = values[e];
      pred[e][i] = out.faces[0].expressions[e];   /* full-frame: always one face */
      if (rows)
        fprintf (rows, ",%.5f,%.5f", truth[e][i], pred[e][i]);
    }
    if (points_csv) {   /* the data set's layout, for analyses of other formulas */
      fprintf (points_csv, "%s", s->name);
      for (int k = 0; k < FKP_FACE_N_POINTS; k++)
        fprintf (points_csv, ",%.3f,%.3f", out.faces[0].points[k][0], out.faces[0].points[k][1]);
      fprintf (points_csv, "\n");
    }
    if (rows)
      fprintf (rows, "\n");
  }
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (rows)
    fclose (rows);
  if (points_csv)
    fclose (points_csv);
  if (ok) {
    printf ("expressions images=%zu ms_per_image=%.2f (full-frame pipeline)\n", n,
            1000 * seconds / MAX (n, 1));
    printf ("%-17s %8s %6s %6s %6s %6s %8s %8s %9s\n", "expression", "spearman", "TP", "FN",
            "FP", "TN", "TPR", "TNR", "bal.acc");
    for (int e = 0; e < FKP_EXPRESSION_N; e++) {
      size_t tp = 0, fn = 0, fp = 0, tn = 0;
      for (size_t i = 0; i < n; i++) {
        gboolean t = fkp_expression_state_at_rest (e, (float) truth[e][i]);
        gboolean p = fkp_expression_state_at_rest (e, (float) pred[e][i]);
        tp += t && p;
        fn += t && !p;
        fp += !t && p;
        tn += !t && !p;
      }
      double tpr = tp + fn ? (double) tp / (tp + fn) : NAN;
      double tnr = tn + fp ? (double) tn / (tn + fp) : NAN;
      printf ("%-17s %8.4f %6zu %6zu %6zu %6zu %8.4f %8.4f %9.4f\n", fkp_expression_get_name (e),
              spearman (truth[e], pred[e], n), tp, fn, fp, tn, tpr, tnr, 0.5 * (tpr + tnr));
    }
    /* What point errors alone do to mouth_open's ranking: the true points
     * against themselves plus Gaussian noise of sigma px per coordinate. */
    printf ("faces %.1f px wide on average; inner-lip points (60-67) off by %.2f px on average\n",
            face_width, inner_error);
    GRand *rand = g_rand_new_with_seed (1);
    double *noisy = g_new (double, n);
    for (double sigma = 0.5; sigma <= 2.0; sigma *= 2) {
      for (size_t i = 0; i < n; i++) {
        float p[FKP_FACE_N_POINTS][2], v[FKP_FACE_MAX_EXPRESSIONS];
        memcpy (p, g_array_index (samples, Sample, i).face.points, sizeof p);
        for (int k = 0; k < FKP_FACE_N_POINTS; k++)
          for (int c = 0; c < 2; c++) {   /* Box-Muller */
            double u = 1.0 - g_rand_double (rand), w = g_rand_double (rand);
            p[k][c] += (float) (sigma * sqrt (-2 * log (u)) * cos (2 * G_PI * w));
          }
        fkp_expression_measure ((const float (*)[2]) p, v);
        noisy[i] = v[FKP_EXPRESSION_MOUTH_OPEN];
      }
      printf ("mouth-open spearman, true points vs true + %.1f px noise: %.4f\n", sigma,
              spearman (truth[FKP_EXPRESSION_MOUTH_OPEN], noisy, n));
    }
    g_free (noisy);
    g_rand_free (rand);
  }
  fkp_face_list_clear (&out);
  for (int e = 0; e < FKP_EXPRESSION_N; e++) {
    g_free (truth[e]);
    g_free (pred[e]);
  }
  return ok;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
report (const char *mode, double *nme, size_t n, size_t n_total, double seconds)
{
  if (n == 0) {
    printf ("%-10s images=%zu found=0\n", mode, n_total);
    return;
  }
  double sum = 0;
  size_t failures = 0;
  for (size_t i = 0; i < n; i++) {
    sum += nme[i];
    failures += nme[i] > 0.08;
  }
  qsort (nme, n, sizeof *nme, cmp_double);
  double median = n % 2 ? nme[n / 2] : 0.5 * (nme[n / 2 - 1] + nme[n / 2]);
  printf ("%-10s images=%zu found=%zu mean_nme=%.5f median_nme=%.5f failure_rate=%.4f "
          "ms_per_image=%.2f\n",
          mode, n_total, n, sum / n, median, (double) failures / n, 1000 * seconds / n_total);
}

int
main (int argc, char **argv)
{
  char *mode = NULL, *model = NULL, *detector = NULL, *per_image = NULL, *points_out = NULL;
  char *unlabelled = NULL;
  int threads = 1, limit = 0, slots = 2, frames = 30, gap = 15, interval = 10;
  gboolean no_smoothing = FALSE, no_oracle = FALSE;
  double beta = -1, min_cutoff = -1, face_size = 0, min_presence = -1, detector_threshold = -1;
  GOptionEntry entries[] = {
    { "mode", 'm', 0, G_OPTION_ARG_STRING, &mode, "full-frame (default), points, detect, sequence, expressions", "MODE" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model, "landmark model (default: the shipped one)", "PATH" },
    { "detector", 0, 0, G_OPTION_ARG_FILENAME, &detector, "detector model (default: the shipped one)", "PATH" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "threads per model run", "N" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "use only the first N images", "N" },
    { "per-image", 0, 0, G_OPTION_ARG_FILENAME, &per_image, "write name,nme rows here (expressions: each value, true and predicted)", "FILE" },
    { "points-out", 0, 0, G_OPTION_ARG_FILENAME, &points_out, "expressions: write the predicted points here (the data set's CSV layout, no header)", "FILE" },
    { "slots", 0, 0, G_OPTION_ARG_INT, &slots, "sequence: faces on screen at once (2)", "N" },
    { "frames", 0, 0, G_OPTION_ARG_INT, &frames, "sequence: frames per group of faces (30)", "N" },
    { "gap", 0, 0, G_OPTION_ARG_INT, &gap, "sequence: empty frames between groups (15)", "N" },
    { "detect-interval", 0, 0, G_OPTION_ARG_INT, &interval, "sequence: detector every N frames (10)", "N" },
    { "no-smoothing", 0, 0, G_OPTION_ARG_NONE, &no_smoothing, "sequence: turn smoothing off", NULL },
    { "beta", 0, 0, G_OPTION_ARG_DOUBLE, &beta, "sequence: One-Euro beta", "B" },
    { "min-cutoff", 0, 0, G_OPTION_ARG_DOUBLE, &min_cutoff, "sequence: One-Euro min cutoff (Hz)", "HZ" },
    { "face-size", 0, 0, G_OPTION_ARG_DOUBLE, &face_size, "sequence: points' box size at scale 1 (110 px)", "PX" },
    { "min-presence", 0, 0, G_OPTION_ARG_DOUBLE, &min_presence, "the pipeline's min_presence (default: the element's, FKP_FACE_DEFAULT_MIN_PRESENCE)", "P" },
    { "detector-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &detector_threshold, "the detector's minimum score (default: the model's own)", "S" },
    { "no-oracle", 0, 0, G_OPTION_ARG_NONE, &no_oracle, "sequence: skip the model-alone comparison", NULL },
    { "unlabelled", 0, 0, G_OPTION_ARG_FILENAME, &unlabelled, "sequence: CSV of the images' unlabelled faces (name,x,y,width,height), counted apart from false faces", "FILE" },
    { NULL }
  };
  GError *error = NULL;
  GOptionContext *ctx = g_option_context_new ("DATA_DIR [SPLIT] — NME of the face pipeline on a labelled split");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc < 2 || argc > 3) {
    fprintf (stderr, "%s\n", error ? error->message : "usage: facekp-face-eval [OPTIONS] DATA_DIR [SPLIT]");
    return 2;
  }
  g_option_context_free (ctx);
  const char *split = argc == 3 ? argv[2] : "test";
  if (mode == NULL)
    mode = g_strdup ("full-frame");
  gboolean m_full = !strcmp (mode, "full-frame"), m_points = !strcmp (mode, "points");
  gboolean m_detect = !strcmp (mode, "detect"), m_seq = !strcmp (mode, "sequence");
  gboolean m_expr = !strcmp (mode, "expressions");
  if (!m_full && !m_points && !m_detect && !m_seq && !m_expr) {
    fprintf (stderr, "unknown mode %s\n", mode);
    return 2;
  }

  GArray *samples = g_array_new (FALSE, FALSE, sizeof (Sample));
  if (!load_split (argv[1], split, limit, samples, &error)
      || (unlabelled != NULL && !load_unlabelled (unlabelled, samples, &error))) {
    fprintf (stderr, "facekp-face-eval: %s\n", error->message);
    return 1;
  }

  FkpFaceOptions opts;
  fkp_face_options_init (&opts);
  opts.landmark_model = model;
  opts.detector_model = detector;
  opts.threads = threads;
  opts.smoothing = m_seq && !no_smoothing;
  opts.detect_interval = interval;
  if (beta >= 0)
    opts.smoothing_beta = (float) beta;
  if (min_cutoff > 0)
    opts.smoothing_min_cutoff = (float) min_cutoff;
  if (min_presence >= 0)
    opts.min_presence = (float) min_presence;
  if (detector_threshold >= 0)
    opts.detector_threshold = (float) detector_threshold;
  opts.source = m_full || m_expr ? FKP_FACE_SOURCE_FULL_FRAME : FKP_FACE_SOURCE_DETECT;
  if (m_points)
    opts.source = FKP_FACE_SOURCE_FULL_FRAME;
  FkpFacePipeline *pipeline = fkp_face_pipeline_new (&opts, &error);
  if (pipeline == NULL) {
    fprintf (stderr, "facekp-face-eval: %s\n", error->message);
    return 1;
  }
  FkpLandmarkModel *alone = NULL;
  if (m_points || (m_seq && !no_oracle)) {
    alone = fkp_landmark_model_new (fkp_face_pipeline_get_options (pipeline)->landmark_model,
                                    threads, NULL, NULL, &error);
    if (alone == NULL) {
      fprintf (stderr, "facekp-face-eval: %s\n", error->message);
      return 1;
    }
  }
  const char *exported_nme = fkp_face_pipeline_get_landmark_metadata (pipeline, "facekp.eval.nme");
  printf ("model %s (facekp.eval.nme %s)\n",
          fkp_face_pipeline_get_options (pipeline)->landmark_model,
          exported_nme ? exported_nme : "absent");

  int status = 0;
  if (m_expr) {
    if (!evaluate_expressions (pipeline, samples, per_image, points_out, &error)) {
      fprintf (stderr, "facekp-face-eval: %s\n", error->message);
      status = 1;
    }
  } else if (m_seq) {
    FkpSynthSequence seq;
    fkp_synth_sequence_init (&seq);
    seq.n_slots = MAX (1, slots);
    seq.frames_per_segment = MAX (1, frames);
    seq.gap_frames = MAX (0, gap);
    if (face_size > 0)
      seq.face_size = face_size;
    FkpSynthFace *faces = g_new (FkpSynthFace, samples->len);
    for (guint i = 0; i < samples->len; i++)
      faces[i] = g_array_index (samples, Sample, i).face;
    FkpSynthResult r;
    if (!fkp_synth_run_sequence (pipeline, alone, faces, samples->len, &seq, &r, &error)) {
      fprintf (stderr, "facekp-face-eval: %s\n", error->message);
      return 1;
    }
    double nme = r.n_found ? r.nme_sum / r.n_found : NAN;
    double oracle = r.n_oracle ? r.oracle_nme_sum / r.n_oracle : NAN;
    printf ("sequence   frames=%zu faces=%zu found=%zu recall=%.4f false_faces=%zu (on empty frames %zu) "
            "unlabelled_faces=%zu id_switches=%zu\n"
            "           pipeline_mean_nme=%.5f model_alone_mean_nme=%.5f difference=%+.5f "
            "failure_rate=%.4f roll_mae_deg=%.3f detector_runs=%" G_GUINT64_FORMAT
            " ms_per_frame=%.2f\n",
            r.n_frames, r.n_truth, r.n_found, (double) r.n_found / MAX (r.n_truth, 1), r.n_false,
            r.n_false_in_gaps, r.n_unlabelled, r.n_id_switches, nme, oracle, nme - oracle,
            (double) r.n_failures / MAX (r.n_found, 1), r.roll_error_sum / MAX (r.n_found, 1),
            fkp_face_pipeline_get_detector_runs (pipeline), 1000 * r.process_seconds / r.n_frames);
    g_free (faces);
  } else {
    double *nme = g_new (double, samples->len);
    size_t n_found = 0;
    FILE *rows = per_image ? fopen (per_image, "w") : NULL;
    FkpFaceList out;
    fkp_face_list_init (&out);
    gint64 t0 = g_get_monotonic_time ();
    for (guint i = 0; i < samples->len; i++) {
      Sample *s = &g_array_index (samples, Sample, i);
      float pred[FKP_FACE_N_POINTS][2];
      gboolean found = FALSE;
      if (m_points) {
        FkpFaceSampler sampler;
        FkpFaceCrop crop;
        fkp_face_sampler_init (&sampler, &s->face.image);
        fkp_landmark_model_crop_from_points (alone, (const float (*)[2]) s->face.points, &crop);
        if (!fkp_landmark_model_predict (alone, &sampler, &crop, pred, &error))
          break;
        found = TRUE;
      } else {
        fkp_face_pipeline_reset (pipeline);
        if (!fkp_face_pipeline_process (pipeline, &s->face.image, NULL, 0, &out, &error))
          break;
        /* The face that overlaps the true points' box most. */
        FkpFaceBox tb;
        fkp_face_points_bounds ((const float (*)[2]) s->face.points, FKP_FACE_N_POINTS, &tb);
        float best = m_full ? -1.0f : 0.3f;
        for (size_t j = 0; j < out.n_faces; j++) {
          float v = fkp_face_box_iou (&tb, &out.faces[j].box);
          if (v > best) {
            best = v;
            memcpy (pred, out.faces[j].points, sizeof pred);
            found = TRUE;
          }
        }
      }
      if (found)
        nme[n_found++] = fkp_face_nme ((const float (*)[2]) pred,
                                       (const float (*)[2]) s->face.points);
      if (rows)
        fprintf (rows, "%s,%.6f\n", s->name, found ? nme[n_found - 1] : NAN);
    }
    double seconds = (g_get_monotonic_time () - t0) / 1e6;
    if (rows)
      fclose (rows);
    if (error != NULL) {
      fprintf (stderr, "facekp-face-eval: %s\n", error->message);
      status = 1;
    } else {
      report (mode, nme, n_found, samples->len, seconds);
    }
    fkp_face_list_clear (&out);
    g_free (nme);
  }

  for (guint i = 0; i < samples->len; i++) {
    Sample *s = &g_array_index (samples, Sample, i);
    g_free (s->name);
    if (s->unlabelled)
      g_array_free (s->unlabelled, TRUE);
    g_object_unref (s->pixbuf);
  }
  g_array_free (samples, TRUE);
  fkp_landmark_model_free (alone);
  fkp_face_pipeline_free (pipeline);
  g_free (mode);
  g_free (model);
  g_free (detector);
  g_free (per_image);
  g_free (points_out);
  return status;
}
