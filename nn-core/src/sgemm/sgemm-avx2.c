/* AVX2+FMA register tiles.  The full tile is 6 rows × 16 columns in 12 ymm
 * accumulators: per step of k, 2 loads of B and 6 broadcasts of A feed 12
 * FMAs.  Two FMA ports with a 4-5 cycle latency need 8-10 independent
 * chains, and the 16 ymm registers leave 2 for B and 2 for the broadcasts.
 * Built with -mavx2 -mfma; only reached when the CPU has both (sgemm.c). */
#include "sgemm-kernel.h"

#include <immintrin.h>

#define ROWS 6
#define COLS 16

/* Stores the first `cols` (1-7) floats of v: pieces of 4, 2 and 1, as a
 * masked store (VMASKMOVPS) is microcoded and slow on AMD cores. */
static inline void
store_partial8 (float *dst, __m256 v, int cols)
{
  __m128 part = _mm256_castps256_ps128 (v);
  if (cols & 4) {
    _mm_storeu_ps (dst, part);
    part = _mm256_extractf128_ps (v, 1);
    dst += 4;
  }
  if (cols & 2) {
    _mm_storel_pi ((__m64 *) dst, part);
    part = _mm_movehl_ps (part, part);
    dst += 2;
  }
  if (cols & 1)
    _mm_store_ss (dst, part);
}

/* Finishes 8 columns of a row of the tile, of which `cols` (any int) are
 * inside C: adds C or the bias, applies ReLU, stores. */
static inline void
finish8 (float *dst, __m256 v, int cols, const float *bias_r, unsigned flags)
{
  if (cols <= 0)
    return;
  if (flags & FKP_SGEMM_TILE_ACCUMULATE) {
    const __m256i mask = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (cols),
                                             _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
    v = _mm256_add_ps (v, cols >= 8 ? _mm256_loadu_ps (dst) : _mm256_maskload_ps (dst, mask));
  } else if (bias_r != NULL)
    v = _mm256_add_ps (v, _mm256_broadcast_ss (bias_r));
  if (flags & FKP_SGEMM_TILE_RELU)
    v = _mm256_max_ps (v, _mm256_setzero_ps ());
  if (cols >= 8)
    _mm256_storeu_ps (dst, v);
  else
    store_partial8 (dst, v, cols);
}

static void
tile_6x16 (int kc, const float *a, const float *b, float *c, size_t ldc, int rows, int cols,
           const float *bias, unsigned flags)
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

#pragma GCC unroll 6
  for (int r = 0; r < ROWS; r++) {
    if (r >= rows)
      break;
    const float *bias_r = bias != NULL ? bias + r : NULL;
    finish8 (c + r * ldc, acc[r][0], cols, bias_r, flags);
    finish8 (c + r * ldc + 8, acc[r][1], cols - 8, bias_r, flags);
  }
}

/* 6 rows × 8 columns: 6 FMAs per step of k would wait on their latency, so
 * even and odd steps go to separate accumulators, summed at the end. */
static void
tile_6x8 (int kc, const float *a, const float *b, float *c, size_t ldc, int rows, int cols,
          const float *bias, unsigned flags)
{
  __m256 even[ROWS], odd[ROWS];
#pragma GCC unroll 6
  for (int r = 0; r < ROWS; r++)
    even[r] = odd[r] = _mm256_setzero_ps ();

  int k = 0;
  for (; k + 1 < kc; k += 2, a += 2 * ROWS, b += 16) {
    const __m256 b0 = _mm256_load_ps (b), b1 = _mm256_load_ps (b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; r++) {
      even[r] = _mm256_fmadd_ps (_mm256_broadcast_ss (a + r), b0, even[r]);
      odd[r] = _mm256_fmadd_ps (_mm256_broadcast_ss (a + ROWS + r), b1, odd[r]);
    }
  }
  if (k < kc) {
    const __m256 b0 = _mm256_load_ps (b);
#pragma GCC unroll 6
    for (int r = 0; r < ROWS; r++)
      even[r] = _mm256_fmadd_ps (_mm256_broadcast_ss (a + r), b0, even[r]);
  }

#pragma GCC unroll 6
  for (int r = 0; r < ROWS; r++) {
    if (r >= rows)
      break;
    finish8 (c + r * ldc, _mm256_add_ps (even[r], odd[r]), cols,
             bias != NULL ? bias + r : NULL, flags);
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
  .narrow_tile = tile_6x8,
};
