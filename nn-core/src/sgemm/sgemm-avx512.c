/* AVX-512F register tiles.  The full tile is 12 rows × 32 columns in 24 zmm
 * accumulators: per step of k, 2 loads of B and 12 broadcasts of A (folded
 * into the FMAs as memory operands) feed 24 FMAs, enough independent chains
 * for two 512-bit FMA ports; 24 + 2 of the 32 zmm registers.  Built with
 * -mavx512f; only reached when the CPU has it (sgemm.c).  Written on an
 * AVX2 machine: tested only where the CPU has AVX-512F (test-sgemm skips it
 * elsewhere). */
#include "sgemm-kernel.h"

#include <immintrin.h>

#define ROWS 12
#define COLS 32

/* Finishes 16 columns of a row of the tile, of which `cols` (any int) are
 * inside C: adds C or the bias, applies ReLU, stores under a mask. */
static inline void
finish16 (float *dst, __m512 v, int cols, const float *bias_r, unsigned flags)
{
  if (cols <= 0)
    return;
  const __mmask16 mask = cols >= 16 ? 0xffff : (__mmask16) ((1u << cols) - 1);
  if (flags & FKP_SGEMM_TILE_ACCUMULATE)
    v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (mask, dst));
  else if (bias_r != NULL)
    v = _mm512_add_ps (v, _mm512_set1_ps (*bias_r));
  if (flags & FKP_SGEMM_TILE_RELU)
    v = _mm512_max_ps (v, _mm512_setzero_ps ());
  _mm512_mask_storeu_ps (dst, mask, v);
}

static void
tile_12x32 (int kc, const float *a, const float *b, float *c, size_t ldc, int rows, int cols,
            const float *bias, unsigned flags)
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

#pragma GCC unroll 12
  for (int r = 0; r < ROWS; r++) {
    if (r >= rows)
      break;
    const float *bias_r = bias != NULL ? bias + r : NULL;
    finish16 (c + r * ldc, acc[r][0], cols, bias_r, flags);
    finish16 (c + r * ldc + 16, acc[r][1], cols - 16, bias_r, flags);
  }
}

/* 12 rows × 16 columns: 12 independent chains already cover the FMA
 * latency. */
static void
tile_12x16 (int kc, const float *a, const float *b, float *c, size_t ldc, int rows, int cols,
            const float *bias, unsigned flags)
{
  __m512 acc[ROWS];
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; r++)
    acc[r] = _mm512_setzero_ps ();

  for (int k = 0; k < kc; k++, a += ROWS, b += 16) {
    const __m512 b0 = _mm512_load_ps (b);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; r++)
      acc[r] = _mm512_fmadd_ps (_mm512_set1_ps (a[r]), b0, acc[r]);
  }

#pragma GCC unroll 12
  for (int r = 0; r < ROWS; r++) {
    if (r >= rows)
      break;
    finish16 (c + r * ldc, acc[r], cols, bias != NULL ? bias + r : NULL, flags);
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
  .narrow_tile = tile_12x16,
};
