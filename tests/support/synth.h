/* Synthetic test frames: labelled face crops pasted onto a canvas at known
 * positions, scales and rolls, their landmarks moved with them.  Shared by
 * tests/face and facekp-face-eval; not part of the library. */
#ifndef FACEKP_FACE_SYNTH_H
#define FACEKP_FACE_SYNTH_H

#include "face-private.h"

G_BEGIN_DECLS

/* A labelled source image. */
typedef struct {
  FkpFaceFrame image;                   /* any packed format */
  float points[FKP_FACE_N_POINTS][2];   /* ground truth in image pixels */
  /* Other people's faces in the image, not labelled (image pixels, points'
   * box size; may be NULL): a sequence counts an output face on one of
   * them as an unlabelled face, not a false one. */
  const FkpFaceBox *unlabelled;
  guint n_unlabelled;
} FkpSynthFace;

/* Where a source image lands: its centre at (cx, cy), scaled, rolled by
 * `angle` radians (clockwise on screen, y down). */
typedef struct {
  double cx, cy, scale, angle;
} FkpSynthPlacement;

/* Fills a BGRx canvas with a deterministic textured background. */
void fkp_synth_background (uint8_t *canvas, int width, int height, int stride, guint seed);

/* Pastes `face` (bilinear) into the BGRx canvas and writes its moved
 * landmarks to `points`. */
void fkp_synth_paste (uint8_t *canvas, int width, int height, int stride,
                      const FkpSynthFace *face, const FkpSynthPlacement *where,
                      float (*points)[2]);

/* The synthetic sequence's motion: face `slot` of `n_slots` at frame `t` of
 * a segment of `n_frames`: drifting across its part of a width x height
 * canvas, rolling within ±max_roll radians, scaling within ×0.75–1.25 of
 * `base_scale`.  `phase` varies the motion between segments. */
void fkp_synth_motion (int slot, int n_slots, int t, int n_frames, int width, int height,
                       double base_scale, double max_roll, double phase,
                       FkpSynthPlacement *where);

/* ---- A whole synthetic sequence -------------------------------------- */

typedef struct {
  int width, height;          /* canvas (640 x 480) */
  int n_slots;                /* faces on screen at once, side by side */
  int frames_per_segment;     /* frames each group of faces stays on screen */
  int gap_frames;             /* empty frames between groups (old tracks must end) */
  double face_size;           /* on-screen size of the points' box at scale 1 (px) */
  double max_roll;            /* radians */
  guint64 frame_ns;           /* timestamp step */
} FkpSynthSequence;

void fkp_synth_sequence_init (FkpSynthSequence *seq);   /* 640x480, 2 slots, 30+15 frames, 20° */

typedef struct {
  size_t n_frames;
  size_t n_truth;             /* face appearances (face x frame) */
  size_t n_found;             /* of which matched by an output face (IoU >= 0.3) */
  size_t n_false;             /* output faces matching no true face */
  size_t n_false_in_gaps;     /* of which on the empty frames between groups */
  size_t n_unlabelled;        /* output faces on an unlabelled face of a pasted image (FkpSynthFace) */
  size_t n_id_switches;       /* a face's id changing within its segment, or an id reused */
  size_t n_failures;          /* matched appearances with NME > 0.08 */
  double nme_sum;             /* over matched appearances */
  double oracle_nme_sum;      /* the landmark model alone, crop from the true points, same frames */
  size_t n_oracle;
  double roll_error_sum;      /* |roll - the true points' eye-line angle| over matched appearances, degrees */
  double process_seconds;     /* time inside fkp_face_pipeline_process */
  guint64 output_digest;      /* FNV-1a of every frame's faces, bit for bit: equal runs, equal digests */
} FkpSynthResult;

/* Runs `pipeline` (DETECT or FULL_FRAME source; reset first) over a
 * sequence showing `faces` n_slots at a time.  With `oracle` set, the
 * landmark model also predicts from the crop of the true points on every
 * frame, for comparison.  `n_faces` limits the faces used. */
gboolean fkp_synth_run_sequence (FkpFacePipeline *pipeline, FkpLandmarkModel *oracle,
                                 const FkpSynthFace *faces, size_t n_faces,
                                 const FkpSynthSequence *seq, FkpSynthResult *result,
                                 GError **error);

G_END_DECLS

#endif
