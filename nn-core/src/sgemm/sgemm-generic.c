/* Portable register tile, 4 rows × 8 columns in plain C, for CPUs without
 * AVX2+FMA and for other architectures: the compiler vectorises the column
 * loop for the baseline (SSE2 on x86-64, NEON on AArch64); 8 accumulator
 * vectors of 4 fit the 16 registers of either. */
#include "sgemm-kernel.h"

#define ROWS 4
#define COLS 8

static void
tile_4x8 (int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc, int rows,
          int cols, const float *bias, unsigned flags)
{
  float acc[ROWS][COLS] = { { 0 } };
  for (int k = 0; k < kc; k++, a += ROWS, b += ldb)
    for (int r = 0; r < ROWS; r++)
      for (int j = 0; j < COLS; j++)
        acc[r][j] += a[r] * b[j];

  for (int r = 0; r < rows; r++) {
    float *row = c + r * ldc;
    const float add = bias != NULL && !(flags & FKP_SGEMM_TILE_ACCUMULATE) ? bias[r] : 0.0f;
    for (int j = 0; j < cols; j++) {
      float v = acc[r][j] + ((flags & FKP_SGEMM_TILE_ACCUMULATE) ? row[j] : add);
      if ((flags & FKP_SGEMM_TILE_RELU) && !(v > 0.0f))
        v = 0.0f;
      row[j] = v;
    }
  }
}

const FkpSgemmKernel fkp_sgemm_kernel_generic = {
  .tile_cols = COLS,
  .block_k = 256,
  .block_rows = 128,
  .block_cols = 512,
  .main = { ROWS, tile_4x8, NULL, { NULL } },
  .short_rows = { 0, NULL, NULL, { NULL } },
};
