/* What each ISA's file gives the blocking driver (sgemm.c): a register tile
 * and the block sizes that keep its operands in cache. */
#ifndef FACEKP_NN_SGEMM_KERNEL_H
#define FACEKP_NN_SGEMM_KERNEL_H

#include <stddef.h>

enum {
  FKP_SGEMM_TILE_ACCUMULATE = 1 << 0,  /* add to C (a later block of K) instead of overwriting */
  FKP_SGEMM_TILE_RELU = 1 << 1,        /* max (0, ·) before the store (the last block of K) */
  FKP_SGEMM_TILE_LEAKY = 1 << 2,       /* x < 0: slope · x, before the store (the last block of K) */
  /* The wide tile's two vectors of columns hold the same columns of two
   * rows of an image (fkp_sgemm_run_pool2): it stores, per row of C, the
   * max of each 2×2 window, NR / 4 values (`cols` ≤ NR / 4 of them) after
   * the bias and activation.  All of K in one block. */
  FKP_SGEMM_TILE_POOL2 = 1 << 3,
};

/* c[r][j] (+)= Σ_k a[k·MR + r] · b[k·ldb + j] (+ bias[r]) for r < rows ≤ MR
 * and j < cols ≤ width, where width is NR, or NR / 2 for the narrow tile:
 * `a` is a panel of packed A, k-major over kc ≥ 1 steps; `b` is either a
 * packed, zero-padded panel of B (ldb = width) or, when every column of the
 * tile is inside B, B itself (ldb its row stride).  Nothing of C outside
 * rows×cols is read or written.  `bias` (rows values, or NULL) is only
 * given with the first block of K; `slope` is read with
 * FKP_SGEMM_TILE_LEAKY only. */
typedef void (*FkpSgemmTileFunc) (int kc, const float *a, const float *b, size_t ldb, float *c,
                                  size_t ldc, int rows, int cols, const float *bias,
                                  unsigned flags, float slope);

/* The most columns a column tile takes. */
#define FKP_SGEMM_COLUMN_TILE_MAX 4

/* Packed A is allocated this many floats longer: the column tiles load a
 * whole vector from a panel's last column of R < vector-width rows. */
#define FKP_SGEMM_A_PAD_FLOATS 16

/* A tile height with its widths. */
typedef struct {
  int rows;                    /* MR: rows of a panel of A; 0: no such tile */
  FkpSgemmTileFunc tile;       /* MR × NR */
  /* MR × NR / 2, for a last panel of B of at most NR / 2 columns (N = 56 =
   * 3·16 + 8), packed NR / 2 wide: half the FMAs of a full tile.  NULL:
   * the full tile serves. */
  FkpSgemmTileFunc narrow_tile;
  /* [c]: MR × c for a last panel of c ≤ FKP_SGEMM_COLUMN_TILE_MAX columns
   * (N = 49 = 3·16 + 1), dot products along k at about c FMAs per step of
   * k.  NULL: the narrow or full tile serves. */
  FkpSgemmTileFunc column_tiles[FKP_SGEMM_COLUMN_TILE_MAX + 1];
} FkpSgemmTileRows;

typedef struct {
  int tile_cols;               /* NR: columns of a panel of B */
  int block_k;                 /* KC: a kc×NR panel of B stays in L1 */
  int block_rows;              /* MC: an MC×KC block of A stays in L2 */
  int block_cols;              /* NC: the KC×NC packed block of B (the scratch) */
  FkpSgemmTileRows main;
  /* Fewer rows, for small M that main.rows would pad (16 = 3·6 - 2);
   * rows 0: none. */
  FkpSgemmTileRows short_rows;
} FkpSgemmKernel;

extern const FkpSgemmKernel fkp_sgemm_kernel_generic;
#if defined(FKP_SGEMM_X86)
extern const FkpSgemmKernel fkp_sgemm_kernel_avx2;
extern const FkpSgemmKernel fkp_sgemm_kernel_avx512;
#endif

#endif
