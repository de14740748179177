/* Winograd convolution for 3×3 and 5×5, stride 1, undilated, ungrouped
 * Conv (conv-winograd.c): F(4×4, 3×3) on maps large enough to give the
 * sgemm wide products, F(2×2, 3×3) on small ones, F(2×2, 5×5).  Used by conv.c, which picks it
 * at load (fkp_nn_winograd_pick) and keeps im2col for the others. */
#ifndef FACEKP_NN_CONV_WINOGRAD_H
#define FACEKP_NN_CONV_WINOGRAD_H

#include "nn-private.h"
#include "sgemm/sgemm.h"

/* The transformed weights, packed for the sgemm: one matrix (M×C) per
 * point of the α×α transform domain (α = tile + 2), for each chunk of
 * output channels. */
typedef struct {
  int tile;                 /* output tile side: 4 for F(4,3), 2 for F(2,3) and F(2,5) */
  int kernel;               /* r: 3 or 5 */
  int alpha;                /* tile + r - 1: input tile side, 4 or 6 */
  int M, C;
  int chunk_rows;           /* output channels per chunk (the last may have fewer) */
  int n_chunks;
  FkpSgemmA **u;            /* [chunk · alpha² + point] */
  int block_tiles;          /* tiles per block: the GEMMs' N */
} FkpNnWinograd;

/* FALSE when the environment sets FKP_NN_WINOGRAD=0: nets loaded then keep
 * im2col for every conv (for comparisons and benchmarks). */
gboolean fkp_nn_winograd_enabled (void);

/* The output tile side that pays for an r×r conv (r = 3 or 5) of C → M
 * channels on an OH×OW output (4 or 2), or 0 where im2col does better
 * (small maps, few channels, other kernels). */
int fkp_nn_winograd_pick (int r, int C, int M, int OH, int OW);

/* Transforms `weights` ([M][C][r][r], BatchNorm already folded) for output
 * tile side `tile` and packs them for `isa`; NULL without the memory. */
FkpNnWinograd *fkp_nn_winograd_new (FkpSgemmIsa isa, int tile, int r, const float *weights,
                                    int M, int C);
void fkp_nn_winograd_free (FkpNnWinograd *w);

/* Floats of scratch each thread needs to run it. */
size_t fkp_nn_winograd_scratch_floats (const FkpNnWinograd *w);

/* y (M×OH×OW) = conv (x (C×H×W)) + bias, then `act`; split over the net's
 * threads (`parts` of them). */
void fkp_nn_winograd_run (FkpNet *net, int parts, const FkpNnWinograd *w, const float *x, int H,
                          int W, int pad_top, int pad_left, float *y, int OH, int OW,
                          const float *bias, const Activation *act);

#endif
