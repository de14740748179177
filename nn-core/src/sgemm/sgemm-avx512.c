/* AVX-512F register tile: 12 rows × 32 columns, 24 zmm accumulators.  Per
 * step of k, 2 loads of B and 12 broadcasts of A (folded into the FMAs as
 * memory operands) feed 24 FMAs, enough independent chains for two 512-bit
 * FMA ports; 24 + 2 of the 32 zmm registers.  Built with -mavx512f; only
 * reached when the CPU has it (sgemm.c).  Not run on the AVX2 machine where
 * this was written: tested only where the CPU has AVX-512F. */
#include "sgemm-kernel.h"

#include <immintrin.h>

#define ROWS 12
#define COLS 32

static void
tile_12x32 (int kc, const float *a, const float *b, float *c, size_t ldc, const float *bias,
            unsigned flags)
{
  __m512 acc[ROWS][2];
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; r++)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps ();

  for (int k = 0; k < kc; k++, a += ROWS, b += COLS) {
    const __m512 b0 = _mm512_load_ps (b), b1 = _mm512_load_ps (b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; r++) {
      const __m512 ar = _mm512_set1_ps (a[r]);
      acc[r][0] = _mm512_fmadd_ps (ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps (ar, b1, acc[r][1]);
    }
  }

  const __m512 zero = _mm512_setzero_ps ();
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; r++) {
    float *row = c + r * ldc;
    __m512 lo = acc[r][0], hi = acc[r][1];
    if (flags & FKP_SGEMM_TILE_ACCUMULATE) {
      lo = _mm512_add_ps (lo, _mm512_loadu_ps (row));
      hi = _mm512_add_ps (hi, _mm512_loadu_ps (row + 16));
    } else if (bias != NULL) {
      const __m512 br = _mm512_set1_ps (bias[r]);
      lo = _mm512_add_ps (lo, br);
      hi = _mm512_add_ps (hi, br);
    }
    if (flags & FKP_SGEMM_TILE_RELU) {
      lo = _mm512_max_ps (lo, zero);
      hi = _mm512_max_ps (hi, zero);
    }
    _mm512_storeu_ps (row, lo);
    _mm512_storeu_ps (row + 16, hi);
  }
}

/* KC 256: the 32 KiB panel of B in a 48 KiB L1.  MC 240: a 240 KiB block of
 * A in an L2 of 1-2 MiB.  NC 2048: 2 MiB of scratch for B's block. */
const FkpSgemmKernel fkp_sgemm_kernel_avx512 = {
  .tile_rows = ROWS,
  .tile_cols = COLS,
  .block_k = 256,
  .block_rows = 240,
  .block_cols = 2048,
  .tile = tile_12x32,
};
