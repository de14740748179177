/* AVX2+FMA register tile: 6 rows × 16 columns, 12 ymm accumulators.  Per
 * step of k, 2 loads of B and 6 broadcasts of A feed 12 FMAs: two FMA ports
 * with a 4-5 cycle latency need at least 10 independent chains, and the 16
 * ymm registers leave 2 for B and 2 for the broadcasts.  Built with
 * -mavx2 -mfma; only reached when the CPU has both (sgemm.c). */
#include "sgemm-kernel.h"

#include <immintrin.h>

#define ROWS 6
#define COLS 16

static void
tile_6x16 (int kc, const float *a, const float *b, float *c, size_t ldc, const float *bias,
           unsigned flags)
{
  __m256 acc[ROWS][2];
#pragma GCC unroll 6
  for (int r = 0; r < ROWS; r++)
    acc[r][0] = acc[r][1] = _mm256_setzero_ps ();

  for (int k = 0; k < kc; k++, a += ROWS, b += COLS) {
    const __m256 b0 = _mm256_load_ps (b), b1 = _mm256_load_ps (b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; r++) {
      const __m256 ar = _mm256_broadcast_ss (a + r);
      acc[r][0] = _mm256_fmadd_ps (ar, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps (ar, b1, acc[r][1]);
    }
  }

  const __m256 zero = _mm256_setzero_ps ();
#pragma GCC unroll 6
  for (int r = 0; r < ROWS; r++) {
    float *row = c + r * ldc;
    __m256 lo = acc[r][0], hi = acc[r][1];
    if (flags & FKP_SGEMM_TILE_ACCUMULATE) {
      lo = _mm256_add_ps (lo, _mm256_loadu_ps (row));
      hi = _mm256_add_ps (hi, _mm256_loadu_ps (row + 8));
    } else if (bias != NULL) {
      const __m256 br = _mm256_broadcast_ss (bias + r);
      lo = _mm256_add_ps (lo, br);
      hi = _mm256_add_ps (hi, br);
    }
    if (flags & FKP_SGEMM_TILE_RELU) {
      lo = _mm256_max_ps (lo, zero);
      hi = _mm256_max_ps (hi, zero);
    }
    _mm256_storeu_ps (row, lo);
    _mm256_storeu_ps (row + 8, hi);
  }
}

/* KC 256: the 16 KiB panel of B plus two 6 KiB panels of A in a 32 KiB L1.
 * MC 120: a 120 KiB block of A in a 512 KiB L2, beside B's block.  NC 2048:
 * 2 MiB of scratch for B's block. */
const FkpSgemmKernel fkp_sgemm_kernel_avx2 = {
  .tile_rows = ROWS,
  .tile_cols = COLS,
  .block_k = 256,
  .block_rows = 120,
  .block_cols = 2048,
  .tile = tile_6x16,
};
