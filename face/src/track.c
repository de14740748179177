/* Tracks: box overlap, non-maximum suppression, matching, the One-Euro
 * filter, and the tracker, which holds every track's state and its
 * lifecycle (start, step, misses, ids, drop).  The rules are described in
 * docs/face-pipeline.md. */
#include "face-private.h"
#include <facekp/expressions.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float
intersection_area (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float x0 = MAX (a->x, b->x), y0 = MAX (a->y, b->y);
  float x1 = MIN (a->x + a->width, b->x + b->width);
  float y1 = MIN (a->y + a->height, b->y + b->height);
  return MAX (0.0f, x1 - x0) * MAX (0.0f, y1 - y0);
}

static float
area (const FkpFaceBox *b)
{
  return MAX (0.0f, b->width) * MAX (0.0f, b->height);
}

float
fkp_face_box_size (const FkpFaceBox *b)
{
  return MAX (b->width, b->height);
}

float
fkp_face_box_iou (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float inter = intersection_area (a, b);
  float uni = area (a) + area (b) - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

float
fkp_face_box_overlap_of_smaller (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float smaller = MIN (area (a), area (b));
  return smaller > 0.0f ? intersection_area (a, b) / smaller : 0.0f;
}

typedef struct {
  float score;
  size_t index;
} Ranked;

/* Descending score, ties by ascending input index (the Python reference's order). */
static int
by_score_desc (const void *pa, const void *pb)
{
  const Ranked *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

size_t
fkp_face_nms (FkpFaceDetection *dets, size_t n, float iou_threshold)
{
  if (n == 0)
    return 0;
  Ranked *order = g_new (Ranked, n);
  for (size_t i = 0; i < n; i++)
    order[i] = (Ranked) { dets[i].score, i };
  qsort (order, n, sizeof *order, by_score_desc);
  FkpFaceDetection *sorted = g_new (FkpFaceDetection, n);
  for (size_t i = 0; i < n; i++)
    sorted[i] = dets[order[i].index];
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    gboolean keep = TRUE;
    for (size_t j = 0; j < kept && keep; j++)
      if (fkp_face_box_iou (&sorted[i].box, &dets[j].box) > iou_threshold)
        keep = FALSE;
    if (keep)
      dets[kept++] = sorted[i];
  }
  g_free (sorted);
  g_free (order);
  return kept;
}

void
fkp_face_match_greedy (const float *iou, size_t n_rows, size_t n_cols, float min_iou,
                       int *row_to_col)
{
  gboolean *col_used = g_new0 (gboolean, n_cols + 1);
  for (size_t r = 0; r < n_rows; r++)
    row_to_col[r] = -1;
  for (;;) {
    float best = -1.0f;
    size_t br = 0, bc = 0;
    for (size_t r = 0; r < n_rows; r++) {
      if (row_to_col[r] >= 0)
        continue;
      for (size_t c = 0; c < n_cols; c++) {
        float v = iou[r * n_cols + c];
        if (!col_used[c] && v >= min_iou && v > best) {
          best = v;
          br = r;
          bc = c;
        }
      }
    }
    if (best < 0.0f)
      break;
    row_to_col[br] = (int) bc;
    col_used[bc] = TRUE;
  }
  g_free (col_used);
}

/* Smoothing factor of an exponential low-pass with cutoff `hz` over `dt` s. */
static double
alpha_for (double hz, double dt)
{
  double tau = 1.0 / (2.0 * G_PI * hz);
  return 1.0 / (1.0 + tau / dt);
}

double
fkp_one_euro_filter (FkpOneEuro *f, double x, double dt, double min_cutoff, double beta,
                     double d_cutoff, double speed_unit)
{
  if (!f->started || !(dt > 0.0) || !isfinite (x)) {
    f->started = isfinite (x);
    f->value = x;
    f->speed = 0.0;
    return x;
  }
  double raw_speed = (x - f->value) / dt;
  double a_d = alpha_for (d_cutoff, dt);
  f->speed = a_d * raw_speed + (1.0 - a_d) * f->speed;
  double unit = speed_unit > 0.0 ? speed_unit : 1.0;
  double cutoff = min_cutoff + beta * fabs (f->speed) / unit;
  double a = alpha_for (cutoff, dt);
  f->value = a * x + (1.0 - a) * f->value;
  return f->value;
}

/* ---- The tracker ------------------------------------------------------ */

/* Tracking rules (docs/face-pipeline.md, "When is a track lost"). */
#define MATCH_MIN_IOU 0.3f        /* a detection / upstream box continues a track */
#define DUPLICATE_IOU 0.5f        /* two tracks this close follow the same face ... */
#define DUPLICATE_CENTRES 0.35    /* ... as do two whose centres are closer than this × size */
#define INSIDE_MIN_OVERLAP 0.6f   /* a track this much inside a detection (or around it) is its face */
#define REANCHOR_IOU 0.5f         /* a matched track this far off its detection restarts from it */
#define DRIFT_MIN_SCALE 0.75      /* points' box size ratio to the last detection's ... */
#define DRIFT_MAX_SCALE (1 / 0.75) /* ... outside this range: detect on the next frame */
#define JUMP_MIN_SCALE 0.7        /* box size ratio between consecutive frames ... */
#define JUMP_MAX_SCALE (1 / 0.7)  /* ... outside this range is a jump */
#define JUMP_MAX_SHIFT 0.5        /* centre shift, in box sizes, beyond which is a jump */
#define MAX_MISSES 3              /* detector runs in a row without the face drop the track */
#define KEEP_MIN_SCORE 0.05f      /* a detection this weak still keeps a track alive (not a new one) */
#define SAME_LOOK_MIN_CORR 0.5f   /* crop's correlation with its look when last detected (below: check) */
#define MIN_VISIBLE 0.5           /* fraction of the points' box inside the frame to keep it */
#define CONFIRM_MIN_IOU 0.3f      /* points of a weakly detected face must overlap its box this much */
#define CONFIRM_BELOW_SCORE 0.3f  /* detections below this score need that confirmation */
#define CONFIRM_MAX_SCALE 2.0     /* a start's points' box within this factor of its box's size */
#define MAX_ABSENT 6              /* frames in a row below min_presence that end a track */
#define REID_MAX_OFFSET 0.5       /* a new track this near (× the larger size) where one ended ... */
#define REID_MAX_SCALE 2.0        /* ... of a like size (ratio within 1/this … this: a track that
                                     shrank onto part of its face ended smaller than the face) ... */
                                  /* ... at most detect_interval frames before takes its id */

typedef struct {
  guint id;
  float score;
  float points[FKP_FACE_N_POINTS][2];   /* raw prediction: the next frame's crop comes from it */
  float smooth[FKP_FACE_N_POINTS][2];   /* what the caller gets */
  FkpOneEuro filters[FKP_FACE_N_POINTS][2];
  int misses;          /* consecutive detector runs that did not see this face */
  gboolean jumped;     /* last prediction failed the jump check: detect on the next frame */
  gboolean moving;     /* vx, vy hold the motion between the last two predictions */
  float vx, vy;        /* frame px per frame of the points' box centre */
  gboolean changed;    /* the crop no longer looks like when last detected: detect next frame */
  float detected_size; /* points' box size when the detector last saw the face */
  gboolean drifted;    /* size strayed from detected_size: detect next frame */
  gboolean restarted;  /* restarted from a box this frame (jumped or strayed) */
  float look[FKP_FACE_SIGNATURE];   /* signature of the crop when last detected or started */
  float last_look[FKP_FACE_SIGNATURE];   /* signature of this frame's crop */
  FkpFaceBox marked_box;  /* its points' box when the detector's frame was marked */
  FkpExpressionTracker expressions;   /* from the smoothed points (expressions.c) */
  FkpFaceQuality quality; /* presence and point errors of this frame's last landmark run */
  gboolean absent;     /* this frame's presence is below min_presence: left out of the frame's faces */
  int absent_frames;   /* frames in a row it was absent */
  double trust;        /* sum of its presence (or detector score) over the frames it was output */
} Track;

struct _FkpTracker {
  FkpLandmarkModel *landmarks;    /* the pipeline's: predicts every track's points */
  const FkpFaceOptions *opts;     /* the pipeline's options in force */
  GArray *tracks;                 /* Track, the last kept frame's, by id */
  GArray *work;                   /* Track, the frame being built */
  guint next_id;                  /* ids are never reused, not even after a reset */
  GArray *ended;                  /* EndedTrack: tracks ended in the last detect_interval frames */
  uint64_t n_frames;              /* frames committed */
};

/* A track that ended (its face unseen for a while: a detector miss, a
 * turn, a hand), remembered so that the face, found again by the detector
 * where it was lost, goes on with its id. */
typedef struct {
  guint id;
  FkpFaceBox box;         /* its points' box on its last frame */
  uint64_t frame;         /* n_frames when it ended */
  double trust;
} EndedTrack;

FkpTracker *
fkp_tracker_new (FkpLandmarkModel *landmarks, const FkpFaceOptions *opts)
{
  FkpTracker *tracker = g_new0 (FkpTracker, 1);
  tracker->landmarks = landmarks;
  tracker->opts = opts;
  tracker->tracks = g_array_new (FALSE, FALSE, sizeof (Track));
  tracker->work = g_array_new (FALSE, FALSE, sizeof (Track));
  tracker->next_id = 1;
  tracker->ended = g_array_new (FALSE, FALSE, sizeof (EndedTrack));
  return tracker;
}

void
fkp_tracker_attach (FkpTracker *tracker, FkpLandmarkModel *landmarks, const FkpFaceOptions *opts)
{
  tracker->landmarks = landmarks;
  tracker->opts = opts;
}

void
fkp_tracker_free (FkpTracker *tracker)
{
  if (tracker == NULL)
    return;
  g_array_free (tracker->tracks, TRUE);
  g_array_free (tracker->work, TRUE);
  g_array_free (tracker->ended, TRUE);
  g_free (tracker);
}

void
fkp_tracker_reset (FkpTracker *tracker)
{
  g_array_set_size (tracker->tracks, 0);
  g_array_set_size (tracker->ended, 0);   /* a new scene: no face continues */
}

void
fkp_tracker_restart_smoothing (FkpTracker *tracker)
{
  for (guint i = 0; i < tracker->tracks->len; i++) {
    Track *t = &g_array_index (tracker->tracks, Track, i);
    memset (t->filters, 0, sizeof t->filters);
  }
}

/* How far b's centre lies from a's. */
static void
centre_offset (const FkpFaceBox *a, const FkpFaceBox *b, float *dx, float *dy)
{
  *dx = (b->x + b->width / 2) - (a->x + a->width / 2);
  *dy = (b->y + b->height / 2) - (a->y + a->height / 2);
}

static double
centre_distance (const FkpFaceBox *a, const FkpFaceBox *b)
{
  float dx, dy;
  centre_offset (a, b, &dx, &dy);
  return hypot (dx, dy);
}

static void
track_box (const Track *t, FkpFaceBox *box)
{
  fkp_face_points_bounds ((const float (*)[2]) t->points, FKP_FACE_N_POINTS, box);
}

/* A new track (or a re-initialised one) starts its filters afresh. */
static Track *
add_track (GArray *tracks, guint id, float score)
{
  Track fresh;
  memset (&fresh, 0, sizeof fresh);
  fresh.id = id;
  fresh.score = score;
  g_array_append_val (tracks, fresh);
  return &g_array_index (tracks, Track, tracks->len - 1);
}

static int
by_size_desc (const void *pa, const void *pb)
{
  const FkpFaceDetection *a = pa, *b = pb;
  float sa = fkp_face_box_size (&a->box), sb = fkp_face_box_size (&b->box);
  return (sa < sb) - (sa > sb);
}

/* Whether a landmark run's presence says "no face": only with a presence
 * output, and never for the full frame, which is one face by definition. */
static gboolean
below_presence (const FkpTracker *tracker, const FkpFaceQuality *q)
{
  return q->presence >= 0.0f && tracker->opts->source != FKP_FACE_SOURCE_FULL_FRAME
         && q->presence < tracker->opts->min_presence;
}

/* Keeps what the landmark run just made says about the face. */
static void
take_quality (FkpTracker *tracker, Track *t)
{
  t->quality = *fkp_landmark_model_last_quality (tracker->landmarks);
  t->absent = below_presence (tracker, &t->quality);
  t->absent_frames = t->absent ? t->absent_frames + 1 : 0;
}

/* Predicts from the previous points and applies the jump check. */
static gboolean
track_step (FkpTracker *tracker, const FkpFaceSampler *s, Track *t, GError **error)
{
  FkpFaceCrop crop;
  float next[FKP_FACE_N_POINTS][2];
  FkpFaceBox before, after;
  track_box (t, &before);
  fkp_landmark_model_crop_from_points (tracker->landmarks, (const float (*)[2]) t->points, &crop);
  /* Constant velocity: the face has likely moved on as it did between the
   * last two frames.  On the synthetic sequence (40 test faces, smoothing
   * off) this cut the excess NME over the model alone from 0.0172 to 0.0109
   * (half the velocity: 0.0122; a second, refining run per frame instead:
   * 0.0134 at twice the cost). */
  if (t->moving) {
    crop.cx += t->vx;
    crop.cy += t->vy;
  }
  if (!fkp_landmark_model_predict (tracker->landmarks, s, &crop, next, error))
    return FALSE;
  take_quality (tracker, t);
  /* A face that left (or was covered) leaves background in the crop, where
   * the landmark model may still place a steady face: compare the crop
   * with how it looked when the detector last saw the face. */
  fkp_landmark_model_last_signature (tracker->landmarks, t->last_look);
  float corr = 0.0f;
  for (int i = 0; i < FKP_FACE_SIGNATURE; i++)
    corr += t->look[i] * t->last_look[i];
  t->changed = corr < SAME_LOOK_MIN_CORR;
  fkp_face_points_bounds ((const float (*)[2]) next, FKP_FACE_N_POINTS, &after);
  double size0 = MAX (fkp_face_box_size (&before), 1.0f), size1 = fkp_face_box_size (&after);
  double ratio = size1 / size0;
  float dx, dy;
  centre_offset (&before, &after, &dx, &dy);
  double shift = hypot (dx, dy) / size0;
  t->jumped = !(ratio >= JUMP_MIN_SCALE && ratio <= JUMP_MAX_SCALE && shift <= JUMP_MAX_SHIFT);
  /* Slow shrinking or growing (the tracker sliding onto part of a face, or
   * off it) passes the per-frame jump check; the detector settles it. */
  double drift = size1 / MAX (t->detected_size, 1.0f);
  t->drifted = t->detected_size > 0 && !(drift >= DRIFT_MIN_SCALE && drift <= DRIFT_MAX_SCALE);
  /* A jump keeps the previous points: the detector decides on the next frame. */
  if (!t->jumped) {
    t->vx = dx;
    t->vy = dy;
    t->moving = TRUE;
    memcpy (t->points, next, sizeof next);
  } else {
    t->moving = FALSE;
  }
  return TRUE;
}

/* Where a track was as the detector saw the frame its boxes come from: its
 * points' box now, or when the frame was marked (fkp_tracker_mark_detection_frame). */
static void
box_seen_by_detector (const Track *t, gboolean marked_frame, FkpFaceBox *box)
{
  if (marked_frame)
    *box = t->marked_box;
  else
    track_box (t, box);
}

/* A detection from the marked frame, moved and scaled as the track's points
 * have moved since: where the face is on this frame.  Only for a track
 * that follows its face (not suspect): otherwise its motion says nothing
 * and the box stays where the detector saw the face. */
static void
follow_track_motion (const Track *t, const FkpFaceBox *seen, FkpFaceBox *moved)
{
  FkpFaceBox now;
  track_box (t, &now);
  float dx, dy;
  centre_offset (&t->marked_box, &now, &dx, &dy);
  double scale = fkp_face_box_size (&now) / MAX (fkp_face_box_size (&t->marked_box), 1.0f);
  double cx = seen->x + seen->width / 2 + dx, cy = seen->y + seen->height / 2 + dy;
  moved->width = (float) (seen->width * scale);
  moved->height = (float) (seen->height * scale);
  moved->x = (float) (cx - moved->width / 2);
  moved->y = (float) (cy - moved->height / 2);
}

/* Starts (or restarts) a track from a landmark box: crop from the box, then
 * refine.  A crop whose presence is below min_presence is no face.  A weak detection (score < CONFIRM_BELOW_SCORE) is confirmed only
 * if the refined points' box overlaps the detection's landmark box (IoU >=
 * CONFIRM_MIN_IOU): on a face the landmark model lands on it, on a false
 * detection (mostly weak ones) its points shrink or wander off. */
static gboolean
track_start_from_box (FkpTracker *tracker, const FkpFaceSampler *s, Track *t,
                      const FkpFaceBox *landmark_box, float score, gboolean *confirmed,
                      GError **error)
{
  FkpFaceCrop crop;
  fkp_landmark_model_crop_from_box (tracker->landmarks, landmark_box, &crop);
  if (!fkp_landmark_model_predict_refined (tracker->landmarks, s, &crop,
                                          tracker->opts->min_presence, t->points, error))
    return FALSE;
  take_quality (tracker, t);
  memset (t->filters, 0, sizeof t->filters);
  t->jumped = FALSE;
  t->moving = FALSE;
  t->changed = FALSE;
  t->drifted = FALSE;
  fkp_landmark_model_last_signature (tracker->landmarks, t->look);
  FkpFaceBox b;
  track_box (t, &b);
  t->detected_size = fkp_face_box_size (&b);
  /* A face must also pass presence (whatever its detector score): the
   * refined crop is where the face would be.  And its points must be of
   * the box's size, within CONFIRM_MAX_SCALE: on background the first
   * prediction can spread, and the refined crop (from those points) with
   * it; a restart from a 0.32 box of about 50 px gave a 381-px track. */
  const double scale = fkp_face_box_size (&b) / MAX (fkp_face_box_size (landmark_box), 1.0f);
  *confirmed = !t->absent
               && scale >= 1.0 / CONFIRM_MAX_SCALE && scale <= CONFIRM_MAX_SCALE
               && (tracker->opts->source != FKP_FACE_SOURCE_DETECT || score >= CONFIRM_BELOW_SCORE
                   || fkp_face_box_iou (&b, landmark_box) >= CONFIRM_MIN_IOU);
  return TRUE;
}

static double
visible_fraction (const FkpFaceBox *b, int width, int height)
{
  double x0 = MAX (0.0, b->x), y0 = MAX (0.0, b->y);
  double x1 = MIN ((double) width, b->x + b->width), y1 = MIN ((double) height, b->y + b->height);
  double area = (double) MAX (b->width, 1e-3f) * MAX (b->height, 1e-3f);
  return MAX (0.0, x1 - x0) * MAX (0.0, y1 - y0) / area;
}

gboolean
fkp_tracker_associate (FkpTracker *tracker, const FkpFaceSampler *s, FkpFaceDetection *boxes,
                       size_t n_boxes, float start_min_score, gboolean drop_unmatched,
                       gboolean from_marked_frame, GError **error)
{
  /* When there are more faces than room, the larger (nearer, more
   * prominent) ones get the tracks: upstream boxes have no score to rank
   * by, and a weak detection still has to be confirmed by its landmarks. */
  if (n_boxes > 1)   /* qsort's pointer must be valid even for no element: boxes may be NULL */
    qsort (boxes, n_boxes, sizeof *boxes, by_size_desc);
  GArray *work = tracker->work;
  size_t n_tracks = work->len;
  float *iou = g_new0 (float, MAX (1, n_tracks * n_boxes));
  int *match = g_new (int, MAX (1, n_tracks));
  gboolean *box_used = g_new0 (gboolean, MAX (1, n_boxes));
  for (size_t i = 0; i < n_tracks; i++) {
    FkpFaceBox tb;
    box_seen_by_detector (&g_array_index (work, Track, i), from_marked_frame, &tb);
    for (size_t j = 0; j < n_boxes; j++)
      iou[i * n_boxes + j] = fkp_face_box_iou (&tb, &boxes[j].box);
  }
  fkp_face_match_greedy (iou, n_tracks, n_boxes, MATCH_MIN_IOU, match);
  /* A hidden track (its crop shows no face: presence below min_presence)
   * lives on only by a detection that could start a face: weak ones on
   * the background where a face was (KEEP_MIN_SCORE) kept such a track, its
   * presence flickering about min_presence, through an empty stretch until
   * it claimed the next face to come with its old id. */
  for (size_t i = 0; i < n_tracks; i++)
    if (match[i] >= 0 && g_array_index (work, Track, i).absent
        && boxes[match[i]].score < start_min_score)
      match[i] = -1;
  for (size_t i = 0; i < n_tracks; i++)
    if (match[i] >= 0)
      box_used[match[i]] = TRUE;
  /* Second pass: a track whose points shrank onto part of a face (or grew
   * around it) overlaps its detection by little IoU but lies inside it; a
   * track already judged suspect (jumped, drifted, changed look) may have
   * slid off its face altogether, and takes a like-sized detection whose
   * centre is within its own size.  Overlap ranks before distance.  Only a
   * detection strong enough to start a face may claim a track this way
   * (and re-anchor it below): weak ones on background where a face was
   * would otherwise keep a stale track alive. */
  float *rank = g_new (float, MAX (1, n_tracks * n_boxes));
  int *second = g_new (int, MAX (1, n_tracks));
  for (size_t i = 0; i < n_tracks; i++) {
    const Track *t = &g_array_index (work, Track, i);
    /* A hidden track (presence below min_presence) is suspect too: its crop
     * no longer shows the face, which it may have slid off. */
    gboolean suspect = t->jumped || t->drifted || t->changed || t->absent;
    FkpFaceBox tb;
    box_seen_by_detector (t, from_marked_frame, &tb);
    double track_size = MAX (fkp_face_box_size (&tb), 1.0f);
    for (size_t j = 0; j < n_boxes; j++) {
      const FkpFaceBox *bb = &boxes[j].box;
      float r = -1.0f;
      if (match[i] < 0 && !box_used[j] && boxes[j].score >= start_min_score) {
        float overlap = fkp_face_box_overlap_of_smaller (&tb, bb);
        /* Near in the track's own size, and of a like size: a large false
         * detection must not pull a small track from across the frame. */
        double size_ratio = fkp_face_box_size (bb) / track_size;
        double near = 1.0 - centre_distance (&tb, bb) / track_size;
        if (overlap >= INSIDE_MIN_OVERLAP)
          r = 1.0f + overlap;
        else if (suspect && near > 0 && size_ratio >= 0.5 && size_ratio <= 2.0)
          r = (float) near;
      }
      rank[i * n_boxes + j] = r;
    }
  }
  fkp_face_match_greedy (rank, n_tracks, n_boxes, 1e-6f, second);
  for (size_t i = 0; i < n_tracks; i++)
    if (second[i] >= 0) {
      match[i] = second[i];
      box_used[second[i]] = TRUE;
    }
  g_free (rank);
  g_free (second);
  gboolean ok = TRUE, confirmed = TRUE;
  size_t kept = 0;
  for (size_t i = 0; i < n_tracks && ok; i++) {
    Track t = g_array_index (work, Track, i);
    if (match[i] >= 0) {
      const FkpFaceDetection *b = &boxes[match[i]];
      t.misses = 0;
      t.score = b->score;
      /* A track that jumped, or strayed far from its detection, restarts
       * from the box (keeping its id); others keep following their points. */
      gboolean strayed = iou[i * n_boxes + match[i]] < REANCHOR_IOU
                         && b->score >= start_min_score;
      if (t.jumped || strayed) {
        Track before = t;
        FkpFaceBox start = b->box;
        if (from_marked_frame && !(t.jumped || t.drifted || t.changed))
          follow_track_motion (&t, &b->box, &start);
        ok = track_start_from_box (tracker, s, &t, &start, b->score, &confirmed, error);
        t.restarted = TRUE;
        if (ok && !confirmed) {
          /* Not confirmed: keep the old points; a jumped track counts a
           * miss, a strayed one goes on following them. */
          t = before;
          if (t.jumped && ++t.misses >= MAX_MISSES)
            continue;
          if (!t.jumped)
            ok = track_step (tracker, s, &t, error);
        }
      } else {
        ok = track_step (tracker, s, &t, error);
        /* Seen by the detector: this is how the face looks now. */
        memcpy (t.look, t.last_look, sizeof t.look);
        t.changed = FALSE;
        FkpFaceBox now;
        track_box (&t, &now);
        t.detected_size = fkp_face_box_size (&now);
        t.drifted = FALSE;
      }
    } else {
      /* Unseen by the detector: gone at once if its points jumped or its
       * crop no longer looks like the face, else given MAX_MISSES detector
       * runs (one per frame while it is unseen).  A track whose presence
       * dipped gets those runs too, hidden meanwhile: a face whose presence
       * falls for a frame or two (a blur, a hand, a fast turn) and whose
       * detection is missed on one of them comes back with its id. */
      if (drop_unmatched || t.jumped || t.changed || ++t.misses >= MAX_MISSES)
        continue;
      ok = track_step (tracker, s, &t, error);
    }
    g_array_index (work, Track, kept++) = t;
  }
  g_array_set_size (work, kept);
  /* New faces, best score first, while there is room. */
  for (size_t j = 0; j < n_boxes && ok; j++) {
    if (box_used[j] || boxes[j].score < start_min_score
        || work->len >= (guint) tracker->opts->max_faces)
      continue;
    Track *t = add_track (work, 0, boxes[j].score);
    ok = track_start_from_box (tracker, s, t, &boxes[j].box, boxes[j].score, &confirmed, error);
    t->id = 0;   /* given at commit, so that a failed frame burns no id */
    if (ok && !confirmed)
      g_array_set_size (work, work->len - 1);
  }
  g_free (iou);
  g_free (match);
  g_free (box_used);
  return ok;
}

/* Drops tracks whose crop was no face (presence) MAX_ABSENT frames in a
 * row, tracks that left the frame, tracks whose points' box shrank below
 * min_face_size (the size rule holds for tracked faces as for detections)
 * and duplicates (two tracks on one face: the younger goes), then caps the
 * count. */
static void
prune (FkpTracker *tracker, int width, int height)
{
  GArray *work = tracker->work;
  size_t kept = 0;
  for (size_t i = 0; i < work->len; i++) {
    Track *t = &g_array_index (work, Track, i);
    FkpFaceBox b;
    track_box (t, &b);
    if (t->absent_frames >= MAX_ABSENT || visible_fraction (&b, width, height) < MIN_VISIBLE
        || fkp_face_box_size (&b) < MAX (1.0f, (float) tracker->opts->min_face_size))
      continue;
    gboolean duplicate = FALSE;
    for (size_t j = 0; j < kept && !duplicate; j++) {
      Track *o = &g_array_index (work, Track, j);
      FkpFaceBox ob;
      track_box (o, &ob);
      double size = MAX (fkp_face_box_size (&b), fkp_face_box_size (&ob));
      duplicate = fkp_face_box_iou (&b, &ob) > DUPLICATE_IOU
                  || centre_distance (&b, &ob) < DUPLICATE_CENTRES * size;
      /* A track seen as a face on this frame stays over a hidden one (whose
       * presence dipped).  Else the track that has been following this face
       * stays: over a new or just restarted one (which moved onto it from
       * elsewhere); of two settled ones, the one that was more surely a
       * face over its life (a weak track beside a face that slid onto it
       * must not take its id); of two new ones (two detections of one
       * face), the stronger. */
      gboolean o_settled = o->id != 0 && !o->restarted, t_settled = t->id != 0 && !t->restarted;
      gboolean prefer_t;
      if (o->absent != t->absent)
        prefer_t = o->absent;
      else if (t_settled != o_settled)
        prefer_t = t_settled;
      else if (t_settled)
        prefer_t = t->trust > o->trust;
      else
        prefer_t = o->id == 0 && t->id == 0 && t->score > o->score;
      /* A new track on the face a hidden one lost continues that face: it
       * takes over the hidden track's id. */
      if (duplicate && prefer_t && o->absent && o_settled && t->id == 0) {
        t->id = o->id;
        t->trust = o->trust;
      } else if (duplicate && !prefer_t && t->absent && t_settled && o->id == 0) {
        o->id = t->id;
        o->trust = t->trust;
      }
      if (duplicate && prefer_t)
        *o = *t;
    }
    if (duplicate)
      continue;
    g_array_index (work, Track, kept++) = *t;
    if (kept >= (size_t) tracker->opts->max_faces)
      break;
  }
  g_array_set_size (work, kept);
}

void
fkp_tracker_begin_frame (FkpTracker *tracker)
{
  /* Work on a copy so that a failure leaves the tracks as they were. */
  g_array_set_size (tracker->work, tracker->tracks->len);
  if (tracker->tracks->len)
    memcpy (tracker->work->data, tracker->tracks->data, tracker->tracks->len * sizeof (Track));
  for (guint i = 0; i < tracker->work->len; i++)
    g_array_index (tracker->work, Track, i).restarted = FALSE;
}

guint
fkp_tracker_n_tracks (const FkpTracker *tracker)
{
  return tracker->work->len;
}

void
fkp_tracker_mark_detection_frame (FkpTracker *tracker)
{
  for (guint i = 0; i < tracker->work->len; i++) {
    Track *t = &g_array_index (tracker->work, Track, i);
    track_box (t, &t->marked_box);
  }
}

gboolean
fkp_tracker_wants_detection (const FkpTracker *tracker)
{
  gboolean need = tracker->work->len == 0;
  for (guint i = 0; i < tracker->work->len && !need; i++) {
    const Track *t = &g_array_index (tracker->work, Track, i);
    need = t->jumped || t->changed || t->drifted || t->misses > 0 || t->absent;
  }
  return need;
}

gboolean
fkp_tracker_any_absent (const FkpTracker *tracker)
{
  for (guint i = 0; i < tracker->work->len; i++)
    if (g_array_index (tracker->work, Track, i).absent)
      return TRUE;
  return FALSE;
}

float
fkp_tracker_detection_threshold (const FkpTracker *tracker, float start_threshold)
{
  /* Two thresholds, as in ByteTrack: a new face needs the detector's
   * threshold, an existing track only a weak detection overlapping it.
   * Faces the detector loses for a while (rolled, dark, blurred) mostly
   * keep some score, a face that left keeps none, so a track can end after
   * a few misses without the ids of faces that stay switching. */
  return tracker->work->len ? MIN (start_threshold, KEEP_MIN_SCORE) : start_threshold;
}

gboolean
fkp_tracker_step_all (FkpTracker *tracker, const FkpFaceSampler *s, GError **error)
{
  for (guint i = 0; i < tracker->work->len; i++)
    if (!track_step (tracker, s, &g_array_index (tracker->work, Track, i), error))
      return FALSE;
  return TRUE;
}

gboolean
fkp_tracker_full_frame (FkpTracker *tracker, const FkpFaceSampler *s, GError **error)
{
  Track *t;
  if (tracker->work->len == 0)
    t = add_track (tracker->work, 0, 1.0f);
  else {
    g_array_set_size (tracker->work, 1);
    t = &g_array_index (tracker->work, Track, 0);
  }
  FkpFaceCrop crop;
  fkp_face_crop_from_frame (s->width, s->height, &crop);
  /* The full frame is one face whatever its presence: refined as always. */
  if (!fkp_landmark_model_predict_refined (tracker->landmarks, s, &crop, -1.0f, t->points, error))
    return FALSE;
  take_quality (tracker, t);
  return TRUE;
}

static void
smooth (FkpTracker *tracker, Track *t, double dt)
{
  if (!tracker->opts->smoothing) {
    memcpy (t->smooth, t->points, sizeof t->points);
    return;
  }
  FkpFaceBox b;
  track_box (t, &b);
  double unit = MAX (fkp_face_box_size (&b), 1.0f);
  for (int i = 0; i < FKP_FACE_N_POINTS; i++)
    for (int c = 0; c < 2; c++)
      t->smooth[i][c] = (float) fkp_one_euro_filter (&t->filters[i][c], t->points[i][c], dt,
                                                     tracker->opts->smoothing_min_cutoff,
                                                     tracker->opts->smoothing_beta,
                                                     tracker->opts->smoothing_d_cutoff, unit);
}

static int
by_id (const void *pa, const void *pb)
{
  const Track *a = pa, *b = pb;
  return (a->id > b->id) - (a->id < b->id);
}

static gboolean
has_track_id (GArray *tracks, guint id)
{
  for (guint i = 0; i < tracks->len; i++)
    if (g_array_index (tracks, Track, i).id == id)
      return TRUE;
  return FALSE;
}

/* Remembers the tracks of the last frame that this one no longer has, and
 * forgets those ended more than detect_interval frames ago: a face the
 * detector misses for a while is found again at the next periodic run at
 * the latest. */
static void
note_ended_tracks (FkpTracker *tracker)
{
  for (guint i = 0; i < tracker->tracks->len; i++) {
    const Track *t = &g_array_index (tracker->tracks, Track, i);
    if (t->id == 0 || has_track_id (tracker->work, t->id))
      continue;
    EndedTrack e = { .id = t->id, .frame = tracker->n_frames, .trust = t->trust };
    track_box (t, &e.box);
    g_array_append_val (tracker->ended, e);
  }
  for (guint i = 0; i < tracker->ended->len;) {
    if (tracker->n_frames - g_array_index (tracker->ended, EndedTrack, i).frame
        > (uint64_t) tracker->opts->detect_interval)
      g_array_remove_index (tracker->ended, i);
    else
      i++;
  }
}

/* A new track where one recently ended, of a like size, continues it (the
 * nearest); else it gets a new id. */
static void
give_id (FkpTracker *tracker, Track *t)
{
  FkpFaceBox b;
  track_box (t, &b);
  const double size = MAX (fkp_face_box_size (&b), 1.0f);
  int best = -1;
  double best_distance = 0;
  for (guint i = 0; i < tracker->ended->len; i++) {
    const EndedTrack *e = &g_array_index (tracker->ended, EndedTrack, i);
    const double e_size = MAX (fkp_face_box_size (&e->box), 1.0f), ratio = size / e_size;
    const double distance = centre_distance (&e->box, &b);
    if (distance <= REID_MAX_OFFSET * MAX (e_size, size) && ratio <= REID_MAX_SCALE
        && ratio >= 1.0 / REID_MAX_SCALE && (best < 0 || distance < best_distance)) {
      best = (int) i;
      best_distance = distance;
    }
  }
  if (best < 0) {
    t->id = tracker->next_id++;
    return;
  }
  const EndedTrack *e = &g_array_index (tracker->ended, EndedTrack, best);
  t->id = e->id;
  t->trust = e->trust;
  g_array_remove_index (tracker->ended, (guint) best);
}

void
fkp_tracker_commit_frame (FkpTracker *tracker, int width, int height, double dt,
                          FkpFaceList *out)
{
  if (tracker->opts->source != FKP_FACE_SOURCE_FULL_FRAME)
    prune (tracker, width, height);
  tracker->n_frames++;
  note_ended_tracks (tracker);
  for (guint i = 0; i < tracker->work->len; i++) {
    Track *t = &g_array_index (tracker->work, Track, i);
    if (t->id == 0)
      give_id (tracker, t);
    smooth (tracker, t, dt);
  }
  if (tracker->work->len > 1)   /* an empty GArray's data may be NULL, which qsort must not get */
    qsort (tracker->work->data, tracker->work->len, sizeof (Track), by_id);
  GArray *kept = tracker->work;
  tracker->work = tracker->tracks;
  tracker->tracks = kept;

  if (out->capacity < kept->len) {
    out->faces = g_renew (FkpFace, out->faces, kept->len);
    out->capacity = kept->len;
  }
  size_t n = 0;
  for (guint i = 0; i < kept->len; i++) {
    Track *t = &g_array_index (kept, Track, i);
    /* Not a face on this frame: kept, hidden, for the detector to confirm
     * (with its id) on the next frames (MAX_ABSENT, MAX_MISSES), but no
     * face of this frame. */
    if (t->absent)
      continue;
    FkpFace *f = &out->faces[n++];
    f->id = t->id;
    f->detector_score = t->score;
    f->presence = t->quality.presence;
    f->score = f->presence >= 0.0f ? f->presence : t->score;
    t->trust += f->score;
    memcpy (f->point_error, t->quality.point_error, sizeof f->point_error);
    memcpy (f->points, t->smooth, sizeof f->points);
    fkp_face_points_bounds ((const float (*)[2]) f->points, FKP_FACE_N_POINTS, &f->box);
    /* On the points the caller gets, over the same time step as the smoothing. */
    fkp_expression_tracker_update (&t->expressions, (const float (*)[2]) t->smooth, dt, f);
    f->roll = (float) (fkp_face_eye_angle ((const float (*)[2]) f->points) * 180.0 / G_PI);
    FkpHeadPose pose;
    fkp_face_head_pose ((const float (*)[2]) f->points, &pose);
    f->yaw = pose.yaw;
    f->pitch = pose.pitch;
  }
  out->n_faces = n;
}
