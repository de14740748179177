/* facekp/face-types.h — the one description of a face, shared by every
 * layer of facekp that handles faces: the face pipeline (facekp/face.h)
 * produces it, and the layers above draw on it or carry it as it is.
 *
 * A header of types only, on glib's: using it needs no library, so those
 * layers share the layout without linking libfacekp-face.
 *
 * Coordinates are pixels of the frame the face was found in, pixel (i, j)
 * covering [i, i+1) x [j, j+1) (docs/model-contract.md).
 */
#ifndef FACEKP_FACE_TYPES_H
#define FACEKP_FACE_TYPES_H

#include <glib.h>

G_BEGIN_DECLS

/**
 * FKP_FACE_N_POINTS:
 *
 * Landmarks per face: the iBUG 68-point layout, indices 0-based (36 and 45
 * are the outer eye corners, 30 the nose tip).
 */
#define FKP_FACE_N_POINTS 68

/**
 * FkpExpression:
 * @FKP_EXPRESSION_MOUTH_OPEN: inner lips apart (`mouth-open`)
 * @FKP_EXPRESSION_SMILE: mouth widened and corners lifted (`smile`)
 * @FKP_EXPRESSION_LEFT_EYE_CLOSED: the eye on the image's left (points
 *   36–41) closed (`left-eye-closed`)
 * @FKP_EXPRESSION_RIGHT_EYE_CLOSED: the eye on the image's right (42–47)
 *   closed (`right-eye-closed`)
 * @FKP_EXPRESSION_EYES_CLOSED: both eyes closed, a blink (`eyes-closed`)
 * @FKP_EXPRESSION_BROWS_RAISED: eyebrows raised (`brows-raised`)
 * @FKP_EXPRESSION_N: how many expressions this version computes
 *
 * The expressions computed per face and frame from the points (formulas in
 * docs/face-pipeline.md).  Values index FkpFace.expressions and are bit
 * numbers of FkpFace.expression_states.  New expressions (head turn and nod
 * once the pipeline has a head pose) are appended: existing numbers never
 * change, and FKP_FACE_MAX_EXPRESSIONS leaves them room without changing
 * FkpFace's layout.
 */
typedef enum {
  FKP_EXPRESSION_MOUTH_OPEN,
  FKP_EXPRESSION_SMILE,
  FKP_EXPRESSION_LEFT_EYE_CLOSED,
  FKP_EXPRESSION_RIGHT_EYE_CLOSED,
  FKP_EXPRESSION_EYES_CLOSED,
  FKP_EXPRESSION_BROWS_RAISED,
  FKP_EXPRESSION_N
} FkpExpression;

/**
 * FKP_FACE_MAX_EXPRESSIONS:
 *
 * Room for expressions in FkpFace (FKP_EXPRESSION_N of them are used).
 */
#define FKP_FACE_MAX_EXPRESSIONS 16

/**
 * FKP_EXPRESSION_NEVER:
 *
 * FkpFace.expression_held_ms of an expression that has not held yet on
 * this face (its state is off and has been since the face appeared).
 */
#define FKP_EXPRESSION_NEVER (-1.0f)

/* (Hidden from the GObject-introspection scanner, which cannot parse
 * function bodies in headers.) */
#ifndef __GI_SCANNER__
/* Names, as in events, messages and sticker packs ("mouth-open"); NULL for
 * a number this version does not know. */
static inline const char *
fkp_expression_get_name (FkpExpression expression)
{
  static const char *const names[FKP_EXPRESSION_N] = {
    "mouth-open", "smile", "left-eye-closed", "right-eye-closed", "eyes-closed", "brows-raised",
  };
  return (unsigned) expression < FKP_EXPRESSION_N ? names[expression] : NULL;
}

/* The expression named @name, written with '-' or '_' ("mouth-open" or
 * "mouth_open"); FALSE for an unknown name. */
static inline gboolean
fkp_expression_from_name (const char *name, FkpExpression *expression)
{
  for (int e = 0; name != NULL && e < FKP_EXPRESSION_N; e++) {
    const char *known = fkp_expression_get_name ((FkpExpression) e);
    gsize i = 0;
    while (known[i] != '\0'
           && (name[i] == known[i] || (known[i] == '-' && name[i] == '_')))
      i++;
    if (known[i] == '\0' && name[i] == '\0') {
      *expression = (FkpExpression) e;
      return TRUE;
    }
  }
  return FALSE;
}
#endif

/**
 * FkpFaceBox:
 * @x: left edge, frame pixels
 * @y: top edge, frame pixels
 * @width: width, pixels
 * @height: height, pixels
 *
 * A rectangle in frame pixels.
 */
typedef struct {
  float x, y, width, height;
} FkpFaceBox;

/**
 * FkpFace:
 * @id: tracker id, >= 1; the same face keeps its id while it is tracked
 * @box: bounding box of the (smoothed) points
 * @score: how sure facekp is that this is a face in this frame, 0..1: the
 *   landmark model's @presence when the model has a presence output (the
 *   shipped ones do), else @detector_score
 * @points: x, y of each landmark in frame pixels, iBUG 68-point order
 * @expressions: each FkpExpression's value on this frame, 0 (none) to 1
 *   (full), from the points alone; 0 where not computed
 * @expression_held_ms: how long each expression's current state has held
 *   on this face, in milliseconds of stream time (FKP_EXPRESSION_NEVER:
 *   off, and never on yet)
 * @expression_states: bit e (1 << FkpExpression) set while expression e
 *   holds (its state is on: hysteresis, minimum duration and the face's own
 *   baseline applied)
 * @expression_started: bit e set on the frame where e's state turned on
 * @expression_ended: bit e set on the frame where e's state turned off
 * @detector_score: the detector's score at the face's last detection, 0..1;
 *   1 for faces from upstream boxes or the full frame
 * @presence: the landmark model's face-presence probability on this frame's
 *   crop, 0..1; -1 when the model has no presence output
 * @point_error: for each point, the distance from the true point the
 *   model expects, in frame pixels (the mean error of points given this
 *   number, docs/model-contract.md); -1 when the model has no such output
 * @roll: head roll in degrees: the angle of the line from the centre of
 *   the eye on the image's left (points 36–41) to the other eye's (42–47),
 *   measured from the image's x axis towards its y axis (y pointing down):
 *   positive when the face is turned clockwise in the picture; -180…180
 * @yaw: head yaw in degrees, from the points fitted to facekp's mean 3D face
 *   shape (scaled orthography): the turn about the picture's vertical axis,
 *   positive when the nose points towards the image's right (the person's
 *   left); 0 facing the camera
 * @pitch: head pitch in degrees, same fit: the turn about the picture's
 *   horizontal axis, positive when the nose points up (head tilted back); 0
 *   as the training faces hold their heads, looking at the camera
 *
 * One face in one frame.  The expression fields are appended after the
 * points, so code that knows only the first four fields keeps working.
 */
typedef struct {
  guint id;
  FkpFaceBox box;
  float score;
  float points[FKP_FACE_N_POINTS][2];
  float expressions[FKP_FACE_MAX_EXPRESSIONS];
  float expression_held_ms[FKP_FACE_MAX_EXPRESSIONS];
  guint32 expression_states;
  guint32 expression_started;
  guint32 expression_ended;
  float detector_score;
  float presence;
  float point_error[FKP_FACE_N_POINTS];
  float roll;
  float yaw;
  float pitch;
} FkpFace;

G_END_DECLS

#endif /* FACEKP_FACE_TYPES_H */
