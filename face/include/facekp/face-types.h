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
 *
 * One face in one frame.
 */
typedef struct {
  guint id;
  FkpFaceBox box;
  float score;
  float points[FKP_FACE_N_POINTS][2];
  float detector_score;
  float presence;
  float point_error[FKP_FACE_N_POINTS];
  float roll;
} FkpFace;

G_END_DECLS

#endif /* FACEKP_FACE_TYPES_H */
