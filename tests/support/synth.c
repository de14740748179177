/* Synthetic frames for tests and evaluation (see synth.h). */
#include "synth.h"

#include <math.h>
#include <string.h>

void
fkp_synth_background (uint8_t *canvas, int width, int height, int stride, guint seed)
{
  /* Smooth shading plus fine hashed noise: texture without anything face-like. */
  for (int y = 0; y < height; y++) {
    uint8_t *row = canvas + (size_t) y * stride;
    for (int x = 0; x < width; x++) {
      guint h = (guint) x * 73856093u ^ (guint) y * 19349663u ^ seed * 83492791u;
      h ^= h >> 13;
      h *= 0x5bd1e995u;
      h ^= h >> 15;
      double base = 110 + 35 * sin (x / 41.0 + seed) * cos (y / 29.0) + (int) (h % 17) - 8;
      row[4 * x + 0] = (uint8_t) CLAMP (base + 20, 0, 255);   /* B */
      row[4 * x + 1] = (uint8_t) CLAMP (base, 0, 255);        /* G */
      row[4 * x + 2] = (uint8_t) CLAMP (base - 15, 0, 255);   /* R */
      row[4 * x + 3] = 255;
    }
  }
}

static inline float
channel_at (const FkpFaceSampler *s, int x, int y, int offset)
{
  x = CLAMP (x, 0, s->width - 1);
  y = CLAMP (y, 0, s->height - 1);
  return s->data[(size_t) y * s->stride + (size_t) x * s->bytes_per_pixel + offset];
}

void
fkp_synth_paste (uint8_t *canvas, int width, int height, int stride, const FkpSynthFace *face,
                 const FkpSynthPlacement *where, float (*points)[2])
{
  FkpFaceSampler s;
  fkp_face_sampler_init (&s, &face->image);
  int sw = face->image.width, sh = face->image.height;
  double cs = cos (where->angle), sn = sin (where->angle);
  /* Canvas bounding box of the pasted rectangle. */
  double hx = 0.5 * where->scale * (fabs (cs) * sw + fabs (sn) * sh);
  double hy = 0.5 * where->scale * (fabs (sn) * sw + fabs (cs) * sh);
  int x0 = MAX (0, (int) floor (where->cx - hx)), x1 = MIN (width, (int) ceil (where->cx + hx));
  int y0 = MAX (0, (int) floor (where->cy - hy)), y1 = MIN (height, (int) ceil (where->cy + hy));
  int offsets[3] = { s.b, s.g, s.r };   /* canvas is B, G, R, x */
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      /* Canvas pixel centre -> source coordinates (pixel-edge convention). */
      double dx = x + 0.5 - where->cx, dy = y + 0.5 - where->cy;
      double u = (cs * dx + sn * dy) / where->scale + sw / 2.0;
      double v = (-sn * dx + cs * dy) / where->scale + sh / 2.0;
      if (u < 0 || v < 0 || u >= sw || v >= sh)
        continue;
      double px = u - 0.5, py = v - 0.5;
      int ix = (int) floor (px), iy = (int) floor (py);
      float fx = (float) (px - ix), fy = (float) (py - iy);
      uint8_t *dst = canvas + (size_t) y * stride + 4 * (size_t) x;
      for (int c = 0; c < 3; c++) {
        int off = s.gray ? 0 : offsets[c];
        float top = channel_at (&s, ix, iy, off) * (1 - fx) + channel_at (&s, ix + 1, iy, off) * fx;
        float bot = channel_at (&s, ix, iy + 1, off) * (1 - fx)
                    + channel_at (&s, ix + 1, iy + 1, off) * fx;
        dst[c] = (uint8_t) CLAMP (lrintf (top * (1 - fy) + bot * fy), 0, 255);
      }
      dst[3] = 255;
    }
  for (int i = 0; i < FKP_FACE_N_POINTS; i++) {
    double dx = (face->points[i][0] - sw / 2.0) * where->scale;
    double dy = (face->points[i][1] - sh / 2.0) * where->scale;
    points[i][0] = (float) (where->cx + cs * dx - sn * dy);
    points[i][1] = (float) (where->cy + sn * dx + cs * dy);
  }
}

void
fkp_synth_motion (int slot, int n_slots, int t, int n_frames, int width, int height,
                  double base_scale, double max_roll, double phase, FkpSynthPlacement *where)
{
  (void) n_frames;
  /* One cycle every 60 frames: about 2 s at 30 fps, a brisk but real head motion. */
  double w = 2 * G_PI * t / 60.0 + phase;
  double region = (double) width / n_slots;
  where->cx = region * (slot + 0.5) + 0.18 * region * sin (w);
  where->cy = height * (0.5 + 0.08 * cos (1.3 * w + slot));
  where->scale = base_scale * (1.0 + 0.25 * sin (0.8 * w + 2.0 * slot + 1.0));
  where->angle = max_roll * sin (0.9 * w + 0.5 + slot);
}

void
fkp_synth_sequence_init (FkpSynthSequence *seq)
{
  seq->width = 640;
  seq->height = 480;
  seq->n_slots = 2;
  seq->frames_per_segment = 30;
  seq->gap_frames = 15;
  seq->face_size = 110;
  seq->max_roll = 20 * G_PI / 180;
  seq->frame_ns = 33333333;
}

/* 64-bit FNV-1a over `n` bytes, continuing from `hash`. */
static guint64
fnv1a (guint64 hash, const void *data, size_t n)
{
  const uint8_t *bytes = data;
  for (size_t i = 0; i < n; i++) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/* Whether an output box is one of the unlabelled faces of the images on
 * screen: its centre inside the face's box as pasted (the bounding box of
 * the turned rectangle) and its size within half to twice the face's. */
static gboolean
on_unlabelled_face (const FkpFaceBox *out, const FkpSynthFace *const *faces,
                    const FkpSynthPlacement *where, int n)
{
  double ox = out->x + out->width / 2, oy = out->y + out->height / 2;
  double osize = MAX (out->width, out->height);
  for (int k = 0; k < n; k++) {
    const FkpSynthFace *f = faces[k];
    double cs = cos (where[k].angle), sn = sin (where[k].angle);
    for (guint u = 0; u < f->n_unlabelled; u++) {
      const FkpFaceBox *b = &f->unlabelled[u];
      double dx = (b->x + b->width / 2 - f->image.width / 2.0) * where[k].scale;
      double dy = (b->y + b->height / 2 - f->image.height / 2.0) * where[k].scale;
      double cx = where[k].cx + cs * dx - sn * dy, cy = where[k].cy + sn * dx + cs * dy;
      double hw = 0.5 * where[k].scale * (fabs (cs) * b->width + fabs (sn) * b->height);
      double hh = 0.5 * where[k].scale * (fabs (sn) * b->width + fabs (cs) * b->height);
      double size = where[k].scale * MAX (b->width, b->height);
      if (fabs (ox - cx) <= hw && fabs (oy - cy) <= hh && osize >= 0.5 * size
          && osize <= 2.0 * size)
        return TRUE;
    }
  }
  return FALSE;
}

/* Debugging false faces: each output face no true face matched is written
 * as a gray PGM of the canvas around it (twice its box), once per segment
 * and id, named SEG-ID.pgm, to look at what it is. */
static void
dump_false_faces (const char *dir, const uint8_t *canvas, const FkpSynthSequence *seq,
                  size_t seg, int t, const FkpFace *faces, size_t n_out, const int *match,
                  int n_truth)
{
  for (size_t j = 0; j < n_out; j++) {
    gboolean matched = FALSE;
    for (int k = 0; k < n_truth; k++)
      matched |= match[k] == (int) j;
    if (matched)
      continue;
    char *path = g_strdup_printf ("%s/%03zu-%u.pgm", dir, seg, faces[j].id);
    if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
      const FkpFaceBox *b = &faces[j].box;
      double side = 2 * MAX (b->width, b->height);
      int x0 = (int) (b->x + b->width / 2 - side / 2), y0 = (int) (b->y + b->height / 2 - side / 2);
      int n = (int) side;
      GString *pgm = g_string_new (NULL);
      g_string_printf (pgm, "P5\n# t %d box %.0f %.0f %.0f %.0f score %.3f\n%d %d\n255\n", t,
                       b->x, b->y, b->width, b->height, faces[j].score, n, n);
      for (int y = y0; y < y0 + n; y++)
        for (int x = x0; x < x0 + n; x++) {
          const uint8_t *px = canvas + (size_t) CLAMP (y, 0, seq->height - 1) * seq->width * 4
                              + 4 * (size_t) CLAMP (x, 0, seq->width - 1);
          g_string_append_c (pgm, (char) ((px[0] * 29 + px[1] * 150 + px[2] * 77) >> 8));
        }
      g_file_set_contents (path, pgm->str, (gssize) pgm->len, NULL);
      g_string_free (pgm, TRUE);
    }
    g_free (path);
  }
}

gboolean
fkp_synth_run_sequence (FkpFacePipeline *pipeline, FkpLandmarkModel *oracle,
                        const FkpSynthFace *faces, size_t n_faces, const FkpSynthSequence *seq,
                        FkpSynthResult *res, GError **error)
{
  memset (res, 0, sizeof *res);
  res->output_digest = 0xcbf29ce484222325ull;
  int stride = seq->width * 4;
  uint8_t *canvas = g_malloc ((size_t) stride * seq->height);
  FkpFaceList out;
  fkp_face_list_init (&out);
  fkp_face_pipeline_reset (pipeline);
  GHashTable *ids_used = g_hash_table_new (NULL, NULL);   /* ids of finished segments */
  int n_slots = seq->n_slots;
  float (*truth)[FKP_FACE_N_POINTS][2] = g_malloc_n (n_slots, sizeof *truth);
  guint *slot_id = g_new (guint, n_slots);
  float *iou = g_new (float, (size_t) n_slots * FKP_FACE_MAX_FACES_LIMIT);
  int *match = g_new (int, n_slots);
  FkpSynthPlacement *placed = g_new (FkpSynthPlacement, n_slots);
  const FkpSynthFace **pasted = g_new (const FkpSynthFace *, n_slots);
  gboolean ok = TRUE;
  guint64 frame_index = 0;
  size_t n_segments = (n_faces + n_slots - 1) / n_slots;

  const char *first_seg_env = g_getenv ("FKP_SYNTH_FIRST_SEGMENT");   /* debugging one segment */
  size_t first_seg = first_seg_env ? (size_t) g_ascii_strtoull (first_seg_env, NULL, 10) : 0;
  for (size_t seg = first_seg; seg < n_segments && ok; seg++) {
    size_t first = seg * n_slots;
    int slots_here = (int) MIN ((size_t) n_slots, n_faces - first);
    for (int k = 0; k < n_slots; k++)
      slot_id[k] = 0;
    double phase = 2.399963 * seg;   /* golden angle: phases spread over the cycle */
    int total = seq->frames_per_segment + seq->gap_frames;
    for (int t = 0; t < total && ok; t++, frame_index++) {
      gboolean visible = t < seq->frames_per_segment;
      fkp_synth_background (canvas, seq->width, seq->height, stride, (guint) seg);
      if (visible)
        for (int k = 0; k < slots_here; k++) {
          const FkpSynthFace *f = &faces[first + k];
          FkpFaceBox b;
          fkp_face_points_bounds ((const float (*)[2]) f->points, FKP_FACE_N_POINTS, &b);
          fkp_synth_motion (k, n_slots, t, seq->frames_per_segment, seq->width, seq->height,
                            seq->face_size / MAX (MAX (b.width, b.height), 1.0f), seq->max_roll,
                            phase, &placed[k]);
          pasted[k] = f;
          fkp_synth_paste (canvas, seq->width, seq->height, stride, f, &placed[k], truth[k]);
        }
      FkpFaceFrame frame = {
        .width = seq->width, .height = seq->height, .format = FKP_FACE_FORMAT_BGRx,
        .data = canvas, .stride = stride, .timestamp_ns = frame_index * seq->frame_ns,
      };
      gint64 t0 = g_get_monotonic_time ();
      ok = fkp_face_pipeline_process (pipeline, &frame, NULL, 0, &out, error);
      res->process_seconds += (g_get_monotonic_time () - t0) / 1e6;
      if (!ok)
        break;
      res->n_frames++;
      res->output_digest = fnv1a (res->output_digest, &out.n_faces, sizeof out.n_faces);
      res->output_digest = fnv1a (res->output_digest, out.faces, out.n_faces * sizeof *out.faces);
      int n_truth = visible ? slots_here : 0;
      size_t n_out = MIN (out.n_faces, (size_t) FKP_FACE_MAX_FACES_LIMIT);
      for (int k = 0; k < n_truth; k++) {
        FkpFaceBox tb;
        fkp_face_points_bounds ((const float (*)[2]) truth[k], FKP_FACE_N_POINTS, &tb);
        for (size_t j = 0; j < n_out; j++)
          iou[k * n_out + j] = fkp_face_box_iou (&tb, &out.faces[j].box);
      }
      fkp_face_match_greedy (iou, n_truth, n_out, 0.3f, match);
      size_t matched = 0;
      for (int k = 0; k < n_truth; k++) {
        res->n_truth++;
        if (oracle != NULL) {
          FkpFaceSampler s;
          FkpFaceCrop crop;
          float pred[FKP_FACE_N_POINTS][2];
          fkp_face_sampler_init (&s, &frame);
          fkp_landmark_model_crop_from_points (oracle, (const float (*)[2]) truth[k], &crop);
          if (!fkp_landmark_model_predict (oracle, &s, &crop, pred, error)) {
            ok = FALSE;
            break;
          }
          res->oracle_nme_sum += fkp_face_nme ((const float (*)[2]) pred,
                                               (const float (*)[2]) truth[k]);
          res->n_oracle++;
        }
        if (match[k] < 0)
          continue;
        matched++;
        const FkpFace *face = &out.faces[match[k]];
        res->n_found++;
        double e = fkp_face_nme ((const float (*)[2]) face->points,
                                 (const float (*)[2]) truth[k]);
        res->nme_sum += e;
        res->n_failures += e > 0.08;
        double roll_error = fabs (face->roll - fkp_face_eye_angle ((const float (*)[2]) truth[k])
                                                 * 180.0 / G_PI);
        res->roll_error_sum += MIN (roll_error, 360.0 - roll_error);
        if (slot_id[k] == 0) {
          slot_id[k] = face->id;
          if (g_hash_table_contains (ids_used, GUINT_TO_POINTER (face->id))) {
            res->n_id_switches++;
            if (g_getenv ("FKP_SYNTH_DEBUG"))
              g_printerr ("id reused: frame %" G_GUINT64_FORMAT " seg %zu slot %d id %u\n",
                          frame_index, seg, k, face->id);
          }
        } else if (slot_id[k] != face->id) {
          res->n_id_switches++;
          if (g_getenv ("FKP_SYNTH_DEBUG"))
            g_printerr ("id switch: frame %" G_GUINT64_FORMAT " seg %zu t %d slot %d id %u -> %u\n",
                        frame_index, seg, t, k, slot_id[k], face->id);
          slot_id[k] = face->id;
        }
      }
      if (g_getenv ("FKP_SYNTH_DEBUG") && g_getenv ("FKP_SYNTH_DEBUG")[0] != '0'
          && (g_getenv ("FKP_SYNTH_DEBUG")[0] == '2' || n_out != matched || matched != (size_t) n_truth)) {
        g_printerr ("frame %" G_GUINT64_FORMAT " seg %zu t %d: truth", frame_index, seg, t);
        for (int k = 0; k < n_truth; k++) {
          FkpFaceBox tb;
          fkp_face_points_bounds ((const float (*)[2]) truth[k], FKP_FACE_N_POINTS, &tb);
          g_printerr (" [%.0f %.0f %.0f %.0f ->%d]", tb.x, tb.y, tb.width, tb.height, match[k]);
        }
        g_printerr (" out");
        for (size_t j = 0; j < n_out; j++)
          g_printerr (" [id %u %.0f %.0f %.0f %.0f s %.2f]", out.faces[j].id, out.faces[j].box.x,
                      out.faces[j].box.y, out.faces[j].box.width, out.faces[j].box.height,
                      out.faces[j].score);
        g_printerr ("\n");
      }
      if (g_getenv ("FKP_SYNTH_DUMP_DIR"))
        dump_false_faces (g_getenv ("FKP_SYNTH_DUMP_DIR"), canvas, seq, seg, t, out.faces, n_out,
                          match, n_truth);
      size_t unlabelled = 0;
      for (size_t j = 0; j < n_out && visible; j++) {
        gboolean is_truth = FALSE;
        for (int k = 0; k < n_truth; k++)
          is_truth |= match[k] == (int) j;
        unlabelled += !is_truth && on_unlabelled_face (&out.faces[j].box, pasted, placed,
                                                       slots_here);
      }
      res->n_unlabelled += unlabelled;
      res->n_false += n_out - matched - unlabelled;
      if (!visible)
        res->n_false_in_gaps += n_out - matched;
    }
    for (int k = 0; k < n_slots; k++)
      if (slot_id[k])
        g_hash_table_add (ids_used, GUINT_TO_POINTER (slot_id[k]));
  }
  g_hash_table_destroy (ids_used);
  g_free (truth);
  g_free (slot_id);
  g_free (iou);
  g_free (match);
  g_free (placed);
  g_free (pasted);
  g_free (canvas);
  fkp_face_list_clear (&out);
  return ok;
}
