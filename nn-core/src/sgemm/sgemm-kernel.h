/* What each ISA's file gives the blocking driver (sgemm.c): a register tile
 * and the block sizes that keep its operands in cache. */
#ifndef FACEKP_NN_SGEMM_KERNEL_H
#define FACEKP_NN_SGEMM_KERNEL_H

#include <stddef.h>

/* The largest tile of any ISA, for the driver's edge buffers. */
#define FKP_SGEMM_MAX_TILE_ROWS 16
#define FKP_SGEMM_MAX_TILE_COLS 32

enum {
  FKP_SGEMM_TILE_ACCUMULATE = 1 << 0,  /* add to C (a later block of K) instead of overwriting */
  FKP_SGEMM_TILE_RELU = 1 << 1,        /* max (0, ·) before the store (the last block of K) */
};

/* c[r][j] (+)= Σ_k a[k·rows + r] · b[k·cols + j] (+ bias[r]) for the whole
 * rows×cols tile: `a` is a panel of packed A, `b` a panel of packed B, both
 * k-major over kc ≥ 1 steps and 64-byte aligned.  `bias` (rows values, or
 * NULL) is only given with the first block of K. */
typedef void (*FkpSgemmTileFunc) (int kc, const float *a, const float *b, float *c, size_t ldc,
                                  const float *bias, unsigned flags);

typedef struct {
  int tile_rows;               /* MR: rows of a panel of A */
  int tile_cols;               /* NR: columns of a panel of B */
  int block_k;                 /* KC: a kc×NR panel of B stays in L1 */
  int block_rows;              /* MC: an MC×KC block of A stays in L2 */
  int block_cols;              /* NC: the KC×NC packed block of B (the scratch) */
  FkpSgemmTileFunc tile;
} FkpSgemmKernel;

extern const FkpSgemmKernel fkp_sgemm_kernel_generic;
#if defined(FKP_SGEMM_X86)
extern const FkpSgemmKernel fkp_sgemm_kernel_avx2;
extern const FkpSgemmKernel fkp_sgemm_kernel_avx512;
#endif

#endif
