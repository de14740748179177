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
 * @score: the detector's score at the face's last detection, 0..1; 1 for
 *   faces from upstream boxes or the full frame
 * @points: x, y of each landmark in frame pixels, iBUG 68-point order
 *
 * One face in one frame.
 */
typedef struct {
  guint id;
  FkpFaceBox box;
  float score;
  float points[FKP_FACE_N_POINTS][2];
} FkpFace;

G_END_DECLS

#endif /* FACEKP_FACE_TYPES_H */
