/* The register tiles, one source built once per ISA with that ISA's flags
 * (src/sgemm/meson.build): FKP_SGEMM_BUILD_AVX2 with -mavx2 -mfma,
 * FKP_SGEMM_BUILD_AVX512 with -mavx512f, FKP_SGEMM_BUILD_GENERIC with the
 * target's baseline (SSE2 on x86-64, NEON on AArch64).  The AVX builds are
 * reached only on CPUs that have their ISA (sgemm.c).  The loops are written
 * once with GCC's vector extensions (a scalar × vector multiply-add becomes
 * a broadcast and an FMA under -ffp-contract=fast, or a multiply and an add
 * without FMA); only the edge of C differs per ISA.
 *
 * The wide tile holds R rows × 2 vectors of C in 2R accumulators: per step
 * of k, 2 loads of B and R broadcasts of A feed 2R FMAs.  Two FMA ports
 * with a 4-5 cycle latency need 8-10 independent chains.
 *   AVX2: 6 rows × 16 columns, 12 of the 16 ymm registers, 2 for B, 2 for
 *     broadcasts; a 4-row variant (8 chains) for matrices of 16 or 32 rows,
 *     which 6-row panels would pad by an eighth.
 *   AVX-512: 12 rows × 32 columns, 24 + 2 of the 32 zmm registers; an 8-row
 *     variant for 16 rows (12-row panels would pad them by half).  Tested
 *     only where the CPU has AVX-512F (test-sgemm skips it elsewhere): it
 *     first ran on an AMD Zen 4 (2026-12-04).
 *   generic: 6 rows × 8 columns of 4-float vectors, 12 of 16 registers. */
#include "sgemm-kernel.h"

#if defined(FKP_SGEMM_BUILD_AVX512) || defined(FKP_SGEMM_BUILD_AVX2)
#include <immintrin.h>
#endif

#if defined(FKP_SGEMM_BUILD_AVX512)
#define KERNEL_NAME fkp_sgemm_kernel_avx512
#define VEC_LANES 16
#define MAIN_ROWS 12
#define BLOCK_K 256             /* a 32 KiB panel of B in a 48 KiB L1 */
#elif defined(FKP_SGEMM_BUILD_AVX2)
#define KERNEL_NAME fkp_sgemm_kernel_avx2
#define VEC_LANES 8
#define MAIN_ROWS 6
#define BLOCK_K 384             /* a 24 KiB panel of B in a 32 KiB L1 */
#elif defined(FKP_SGEMM_BUILD_GENERIC)
#define KERNEL_NAME fkp_sgemm_kernel_generic
#define VEC_LANES 4
#define MAIN_ROWS 6
#define BLOCK_K 256             /* a 8 KiB panel of B: any L1 */
#else
#error "sgemm-simd.c: build with FKP_SGEMM_BUILD_AVX2, _AVX512 or _GENERIC"
#endif

#define SHORT_ROWS (MAIN_ROWS * 2 / 3)
typedef float Vec __attribute__ ((vector_size (VEC_LANES * 4)));
typedef float UnalignedVec __attribute__ ((vector_size (VEC_LANES * 4), aligned (4)));

#if defined(FKP_SGEMM_BUILD_AVX512)

/* Adds the bias, applies ReLU or LeakyRelu (the last block of K). */
static inline __m512
finish_values (__m512 x, const float *bias_r, unsigned flags, float slope)
{
  if (bias_r != NULL)
    x = _mm512_add_ps (x, _mm512_set1_ps (*bias_r));
  if (flags & FKP_SGEMM_TILE_RELU)
    x = _mm512_max_ps (x, _mm512_setzero_ps ());
  else if (flags & FKP_SGEMM_TILE_LEAKY)
    x = _mm512_mask_mul_ps (x, _mm512_cmp_ps_mask (x, _mm512_setzero_ps (), _CMP_LT_OQ), x,
                            _mm512_set1_ps (slope));
  return x;
}

/* Finishes a vector of a row of the tile, of which `cols` (any int) are
 * inside C: adds C or the bias, applies ReLU or LeakyRelu, stores under a
 * mask (fast on the CPUs that have AVX-512). */
static inline void
finish_vector (float *dst, Vec v, int cols, const float *bias_r, unsigned flags, float slope)
{
  if (cols <= 0)
    return;
  const __mmask16 mask = cols >= 16 ? 0xffff : (__mmask16) ((1u << cols) - 1);
  __m512 x = v;
  if (flags & FKP_SGEMM_TILE_ACCUMULATE) {
    x = _mm512_add_ps (x, _mm512_maskz_loadu_ps (mask, dst));
    bias_r = NULL;
  }
  _mm512_mask_storeu_ps (dst, mask, finish_values (x, bias_r, flags, slope));
}

/* a > b ? a : b per lane, as the MaxPool op takes it (NaN and -0 alike) */
static inline __m512
max_as_pool (__m512 a, __m512 b)
{
  return _mm512_mask_blend_ps (_mm512_cmp_ps_mask (a, b, _CMP_GT_OQ), b, a);
}

/* The 2×2 windows of a row pair (FKP_SGEMM_TILE_POOL2): the bias and
 * activation on both rows, the max of the rows, then of each pair of
 * lanes; stores `cols` ≤ 8 values under a mask. */
static inline void
finish_pool2 (float *dst, Vec top, Vec bottom, int cols, const float *bias_r, unsigned flags,
              float slope)
{
  if (cols <= 0)
    return;
  const __m512 m = max_as_pool (finish_values (top, bias_r, flags, slope),
                                finish_values (bottom, bias_r, flags, slope));
  const __m512i even = _mm512_setr_epi32 (0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i odd = _mm512_setr_epi32 (1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512 pooled = max_as_pool (_mm512_permutexvar_ps (even, m),
                                     _mm512_permutexvar_ps (odd, m));
  const __mmask16 mask = cols >= 8 ? 0xff : (__mmask16) ((1u << cols) - 1);
  _mm512_mask_storeu_ps (dst, mask, pooled);
}

#elif defined(FKP_SGEMM_BUILD_GENERIC)

/* Finishes a vector of a row of the tile, of which `cols` (any int) are
 * inside C: adds C or the bias, applies ReLU or LeakyRelu, stores; lane by
 * lane. */
static inline void
finish_vector (float *dst, Vec v, int cols, const float *bias_r, unsigned flags, float slope)
{
  for (int j = 0; j < cols && j < VEC_LANES; j++) {
    float x = v[j];
    if (flags & FKP_SGEMM_TILE_ACCUMULATE)
      x += dst[j];
    else if (bias_r != NULL)
      x += *bias_r;
    if ((flags & FKP_SGEMM_TILE_RELU) && !(x > 0.0f))
      x = 0.0f;
    else if ((flags & FKP_SGEMM_TILE_LEAKY) && x < 0.0f)
      x *= slope;
    dst[j] = x;
  }
}

/* The 2×2 windows of a row pair (FKP_SGEMM_TILE_POOL2): the bias and
 * activation on both rows as finish_vector does, the max of the rows, then
 * of each pair of lanes; stores `cols` ≤ VEC_LANES / 2 values. */
static inline void
finish_pool2 (float *dst, Vec top, Vec bottom, int cols, const float *bias_r, unsigned flags,
              float slope)
{
  float pooled[VEC_LANES];
  for (int j = 0; j < VEC_LANES; j++) {
    float v[2] = { top[j], bottom[j] };
    for (int i = 0; i < 2; i++) {
      if (bias_r != NULL)
        v[i] += *bias_r;
      if ((flags & FKP_SGEMM_TILE_RELU) && !(v[i] > 0.0f))
        v[i] = 0.0f;
      else if ((flags & FKP_SGEMM_TILE_LEAKY) && v[i] < 0.0f)
        v[i] *= slope;
    }
    pooled[j] = v[0] > v[1] ? v[0] : v[1];
  }
  for (int j = 0; j < cols && j < VEC_LANES / 2; j++)
    dst[j] = pooled[2 * j] > pooled[2 * j + 1] ? pooled[2 * j] : pooled[2 * j + 1];
}

#else

/* Stores the first `cols` (1-7) floats of v: pieces of 4, 2 and 1, as a
 * masked store (VMASKMOVPS) is microcoded and slow on AMD cores. */
static inline void
store_partial (float *dst, __m256 v, int cols)
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

/* Adds the bias, applies ReLU or LeakyRelu (the last block of K). */
static inline __m256
finish_values (__m256 x, const float *bias_r, unsigned flags, float slope)
{
  if (bias_r != NULL)
    x = _mm256_add_ps (x, _mm256_broadcast_ss (bias_r));
  if (flags & FKP_SGEMM_TILE_RELU)
    x = _mm256_max_ps (x, _mm256_setzero_ps ());
  else if (flags & FKP_SGEMM_TILE_LEAKY)
    x = _mm256_blendv_ps (x, _mm256_mul_ps (x, _mm256_set1_ps (slope)),
                          _mm256_cmp_ps (x, _mm256_setzero_ps (), _CMP_LT_OQ));
  return x;
}

/* Finishes a vector of a row of the tile, of which `cols` (any int) are
 * inside C: adds C or the bias, applies ReLU or LeakyRelu, stores. */
static inline void
finish_vector (float *dst, Vec v, int cols, const float *bias_r, unsigned flags, float slope)
{
  if (cols <= 0)
    return;
  __m256 x = v;
  if (flags & FKP_SGEMM_TILE_ACCUMULATE) {
    const __m256i mask = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (cols),
                                             _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
    x = _mm256_add_ps (x, cols >= 8 ? _mm256_loadu_ps (dst) : _mm256_maskload_ps (dst, mask));
    bias_r = NULL;
  }
  x = finish_values (x, bias_r, flags, slope);
  if (cols >= 8)
    _mm256_storeu_ps (dst, x);
  else
    store_partial (dst, x, cols);
}

/* a > b ? a : b per lane, as the MaxPool op takes it (NaN and -0 alike) */
static inline __m256
max_as_pool (__m256 a, __m256 b)
{
  return _mm256_blendv_ps (b, a, _mm256_cmp_ps (a, b, _CMP_GT_OQ));
}

/* The 2×2 windows of a row pair (FKP_SGEMM_TILE_POOL2): the bias and
 * activation on both rows, the max of the rows, then of each pair of
 * lanes; stores `cols` ≤ 4 values. */
static inline void
finish_pool2 (float *dst, Vec top, Vec bottom, int cols, const float *bias_r, unsigned flags,
              float slope)
{
  const __m256 m = max_as_pool (finish_values (top, bias_r, flags, slope),
                                finish_values (bottom, bias_r, flags, slope));
  /* even and odd lanes of each 128-bit half, then the halves' results
   * side by side */
  const __m256 even = _mm256_shuffle_ps (m, m, _MM_SHUFFLE (2, 0, 2, 0));
  const __m256 odd = _mm256_shuffle_ps (m, m, _MM_SHUFFLE (3, 1, 3, 1));
  const __m256 pairs = max_as_pool (even, odd);
  const __m128 pooled = _mm_castpd_ps (_mm_unpacklo_pd (
    _mm_castps_pd (_mm256_castps256_ps128 (pairs)), _mm_castps_pd (_mm256_extractf128_ps (pairs, 1))));
  if (cols >= 4)
    _mm_storeu_ps (dst, pooled);
  else
    store_partial (dst, _mm256_castps128_ps256 (pooled), cols);
}

#endif

/* C's rows, needed at the end of a tile, fetched while its FMAs run: on
 * AVX2 (16 floats, up to two cache lines each), where it measured faster. */
static inline void
prefetch_c (const float *c, size_t ldc, int rows)
{
#if defined(FKP_SGEMM_BUILD_AVX2)
  for (int r = 0; r < rows; r++) {
    _mm_prefetch ((const char *) (c + r * ldc), _MM_HINT_T0);
    _mm_prefetch ((const char *) (c + r * ldc + 15), _MM_HINT_T0);
  }
#else
  (void) c, (void) ldc, (void) rows;
#endif
}

#define ALWAYS_INLINE static inline __attribute__ ((always_inline))

/* Packed A (the weights) is read once per run from memory: a landmark net's
 * packed weights (28-39 MB) outgrow the L3, and the hardware prefetcher
 * alone left the N = 16 GEMMs of the 4×4 and 7×7 maps at 40 % of peak inside
 * the net against 83 % with A in cache.  Fetching a panel 4 KiB ahead made
 * the 112² net about 10 % faster at 1 and 2 threads (Zen 4, AVX-512; with
 * AVX2 4 %; 2 KiB ahead: about as much, 1 KiB: no gain). */
#define PREFETCH_A_FLOATS 1024

static inline __attribute__ ((always_inline)) void
prefetch_a (const float *a)
{
  __builtin_prefetch (a + PREFETCH_A_FLOATS, 0, 3);
}

/* R rows × 2 vectors of columns.  R is a constant in each caller, so the
 * loops unroll and the accumulators stay in registers. */
ALWAYS_INLINE void
tile_wide (const int R, int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc,
           int rows, int cols, const float *bias, unsigned flags, float slope)
{
  Vec acc[MAIN_ROWS][2];
  prefetch_c (c, ldc, rows);
#pragma GCC unroll 12
  for (int r = 0; r < R; r++)
    acc[r][0] = acc[r][1] = (Vec) { 0 };

  for (int k = 0; k < kc; k++, a += R, b += ldb) {
    const Vec b0 = *(const UnalignedVec *) b, b1 = *(const UnalignedVec *) (b + VEC_LANES);
    prefetch_a (a);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
      acc[r][0] += a[r] * b0;
      acc[r][1] += a[r] * b1;
    }
  }

  if (flags & FKP_SGEMM_TILE_POOL2) {
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
      if (r >= rows)
        break;
      finish_pool2 (c + r * ldc, acc[r][0], acc[r][1], cols, bias != NULL ? bias + r : NULL,
                    flags, slope);
    }
    return;
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    if (r >= rows)
      break;
    const float *bias_r = bias != NULL ? bias + r : NULL;
    finish_vector (c + r * ldc, acc[r][0], cols, bias_r, flags, slope);
    finish_vector (c + r * ldc + VEC_LANES, acc[r][1], cols - VEC_LANES, bias_r, flags, slope);
  }
}

/* R rows × 1 vector of columns (the narrow tile): R FMAs per step of k
 * would wait on their latency, so even and odd steps go to separate
 * accumulators, summed at the end. */
ALWAYS_INLINE void
tile_narrow (const int R, int kc, const float *a, const float *b, size_t ldb, float *c,
             size_t ldc, int rows, int cols, const float *bias, unsigned flags, float slope)
{
  Vec even[MAIN_ROWS], odd[MAIN_ROWS];
  prefetch_c (c, ldc, rows);
#pragma GCC unroll 12
  for (int r = 0; r < R; r++)
    even[r] = odd[r] = (Vec) { 0 };

  int k = 0;
  for (; k + 1 < kc; k += 2, a += 2 * R, b += 2 * ldb) {
    const Vec b0 = *(const UnalignedVec *) b, b1 = *(const UnalignedVec *) (b + ldb);
    prefetch_a (a);
    prefetch_a (a + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
      even[r] += a[r] * b0;
      odd[r] += a[R + r] * b1;
    }
  }
  if (k < kc) {
    const Vec b0 = *(const UnalignedVec *) b;
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
      even[r] += a[r] * b0;
  }

#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    if (r >= rows)
      break;
    finish_vector (c + r * ldc, even[r] + odd[r], cols, bias != NULL ? bias + r : NULL, flags,
                   slope);
  }
}

/* R rows × C ≤ 4 columns, the last columns of C (N = 49 = 3·16 + 1, 196 =
 * 12·16 + 4): dot products along k with the rows of A in the vector's
 * lanes (a panel's column k is R ≤ VEC_LANES consecutive floats; lanes past
 * R read the next column, or the padding after the last panel, and are
 * dropped), so a column costs 1 FMA per step of k instead of R / VEC_LANES
 * · 2 of the narrow tile's.  Steps of k go to separate accumulators to
 * cover the FMA latency. */
ALWAYS_INLINE void
tile_columns (const int R, const int C, int kc, const float *a, const float *b, size_t ldb,
              float *c, size_t ldc, int rows, int cols, const float *bias, unsigned flags,
              float slope)
{
  /* steps of k in flight: 8 accumulators at most, with 16 vector registers */
  const int S = C >= 4 ? 2 : 4;
  Vec acc[FKP_SGEMM_COLUMN_TILE_MAX][4];
#pragma GCC unroll 4
  for (int j = 0; j < C; j++)
#pragma GCC unroll 4
    for (int step = 0; step < S; step++)
      acc[j][step] = (Vec) { 0 };

  int k = 0;
  for (; k + S - 1 < kc; k += S, a += S * R, b += S * ldb)
#pragma GCC unroll 4
    for (int step = 0; step < S; step++) {
      const Vec ak = *(const UnalignedVec *) (a + step * R);
#pragma GCC unroll 4
      for (int j = 0; j < C; j++)
        acc[j][step] += b[step * ldb + j] * ak;
    }
  for (; k < kc; k++, a += R, b += ldb) {
    const Vec ak = *(const UnalignedVec *) a;
#pragma GCC unroll 4
    for (int j = 0; j < C; j++)
      acc[j][0] += b[j] * ak;
  }
#pragma GCC unroll 4
  for (int j = 0; j < C; j++)
#pragma GCC unroll 4
    for (int step = 1; step < S; step++)
      acc[j][0] += acc[j][step];

  for (int r = 0; r < rows && r < R; r++)
    for (int j = 0; j < cols && j < C; j++) {
      float *dst = c + r * ldc + j;
      float v = acc[j][0][r];
      if (flags & FKP_SGEMM_TILE_ACCUMULATE)
        v += *dst;
      else if (bias != NULL)
        v += bias[r];
      if ((flags & FKP_SGEMM_TILE_RELU) && !(v > 0.0f))
        v = 0.0f;
      else if ((flags & FKP_SGEMM_TILE_LEAKY) && v < 0.0f)
        v *= slope;
      *dst = v;
    }
}

#define DEFINE_COLUMN_TILE(name, R, C)                                                            \
  static void                                                                                     \
  name (int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc, int rows,      \
        int cols, const float *bias, unsigned flags, float slope)                                 \
  {                                                                                               \
    tile_columns (R, C, kc, a, b, ldb, c, ldc, rows, cols, bias, flags, slope);                   \
  }

/* a panel's column must fit a vector */
#if MAIN_ROWS <= VEC_LANES
DEFINE_COLUMN_TILE (main_1col, MAIN_ROWS, 1)
DEFINE_COLUMN_TILE (main_2col, MAIN_ROWS, 2)
DEFINE_COLUMN_TILE (main_4col, MAIN_ROWS, 4)
#define MAIN_COLUMN_TILES { NULL, main_1col, main_2col, main_4col, main_4col }
#else
#define MAIN_COLUMN_TILES { NULL }
#endif
DEFINE_COLUMN_TILE (short_1col, SHORT_ROWS, 1)
DEFINE_COLUMN_TILE (short_2col, SHORT_ROWS, 2)
DEFINE_COLUMN_TILE (short_4col, SHORT_ROWS, 4)

#define DEFINE_TILE(name, body, R)                                                                \
  static void                                                                                     \
  name (int kc, const float *a, const float *b, size_t ldb, float *c, size_t ldc, int rows,      \
        int cols, const float *bias, unsigned flags, float slope)                                 \
  {                                                                                               \
    body (R, kc, a, b, ldb, c, ldc, rows, cols, bias, flags, slope);                              \
  }

DEFINE_TILE (main_wide, tile_wide, MAIN_ROWS)
DEFINE_TILE (main_narrow, tile_narrow, MAIN_ROWS)
DEFINE_TILE (short_wide, tile_wide, SHORT_ROWS)
DEFINE_TILE (short_narrow, tile_narrow, SHORT_ROWS)

/* KC: a panel of B in L1 (32 KiB on Zen 3, 48 KiB on recent Intel) beside
 * the streaming panels of A; 384 measured 1-2 % faster than 256 and 192 on
 * Zen 3 with AVX2.  MC: a block of A of 20 panels, 180 KiB (AVX2: L2 of 512
 * KiB on Zen 3) or 240 KiB (AVX-512: L2 of 1-2 MiB).  NC: the packed block of
 * B, the caller's scratch: KC · NC floats, 768 KiB for AVX2, about an L2;
 * 512 measured a few % faster than 1024 and 2048 on the detector's wide
 * maps. */
const FkpSgemmKernel KERNEL_NAME = {
  .tile_cols = 2 * VEC_LANES,
  .block_k = BLOCK_K,
  .block_rows = 20 * MAIN_ROWS,
  .block_cols = 512,
  .main = { MAIN_ROWS, main_wide, main_narrow, MAIN_COLUMN_TILES },
  .short_rows = { SHORT_ROWS, short_wide, short_narrow,
                  { NULL, short_1col, short_2col, short_4col, short_4col } },
};
