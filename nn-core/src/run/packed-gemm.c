/* A GEMM for convolutions whose weights can be packed once at load: those
 * on small feature maps (N = OH·OW ≤ FKP_NN_PACKED_MAX_N: the landmark
 * network's last three stages, most of its weights) and 1×1 convolutions
 * with weights that fit in L2 (the detector's pointwise convs).  There
 * OpenBLAS spends a large share of each call repacking the weights (it packs
 * both operands on every call) and reached 25-45 % of the core's peak.  Here
 * the weights sit in panels of PANEL_ROWS rows stored k-major, the feature
 * map is packed per call in zero-padded blocks of 16 columns, and a 6×16
 * tile of the output stays in registers over the whole K loop (12
 * accumulators, 2 loads and 6 broadcasts per 12 FMAs). */
#include "nn-private.h"

#include <string.h>

#define PANEL_ROWS FKP_NN_PANEL_ROWS
#define TILE_COLS 16

typedef float v8f __attribute__ ((vector_size (32), aligned (4)));

int
fkp_nn_packed_panels (int M)
{
  return (M + PANEL_ROWS - 1) / PANEL_ROWS;
}

size_t
fkp_nn_packed_floats (int M, int K)
{
  return (size_t) fkp_nn_packed_panels (M) * PANEL_ROWS * (size_t) K;
}

void
fkp_nn_pack_weights (const float *W, int M, int K, float *packed)
{
  for (int p = 0; p < fkp_nn_packed_panels (M); p++)
    for (int k = 0; k < K; k++)
      for (int r = 0; r < PANEL_ROWS; r++) {
        const int row = p * PANEL_ROWS + r;
        packed[((size_t) p * K + k) * PANEL_ROWS + r] = row < M ? W[(size_t) row * K + k] : 0.0f;
      }
}

/* c[r][0..cols) = sum over k of a[k][r] · b[k][0..16), for r < rows. */
FKP_SIMD static void
tile_6x16 (const float *a, const float *b, size_t ldb, int K, float *c, size_t ldc, int rows,
           int cols)
{
  v8f c00 = { 0 }, c01 = { 0 }, c10 = { 0 }, c11 = { 0 }, c20 = { 0 }, c21 = { 0 };
  v8f c30 = { 0 }, c31 = { 0 }, c40 = { 0 }, c41 = { 0 }, c50 = { 0 }, c51 = { 0 };
  for (int k = 0; k < K; k++) {
    const v8f b0 = *(const v8f *) (b + (size_t) k * ldb);
    const v8f b1 = *(const v8f *) (b + (size_t) k * ldb + 8);
    const float *ak = a + (size_t) k * PANEL_ROWS;
    /* scalar × vector: a broadcast load (adding the scalar to a zero
     * vector would cost an add that -0.0 forbids removing) */
    c00 += ak[0] * b0; c01 += ak[0] * b1;
    c10 += ak[1] * b0; c11 += ak[1] * b1;
    c20 += ak[2] * b0; c21 += ak[2] * b1;
    c30 += ak[3] * b0; c31 += ak[3] * b1;
    c40 += ak[4] * b0; c41 += ak[4] * b1;
    c50 += ak[5] * b0; c51 += ak[5] * b1;
  }
  const v8f acc[PANEL_ROWS][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 },
                                   { c30, c31 }, { c40, c41 }, { c50, c51 } };
  for (int r = 0; r < rows; r++) {
    float *row = c + (size_t) r * ldc;
    if (cols == TILE_COLS) {
      *(v8f *) row = acc[r][0];
      *(v8f *) (row + 8) = acc[r][1];
    } else {
      float tmp[TILE_COLS];
      *(v8f *) tmp = acc[r][0];
      *(v8f *) (tmp + 8) = acc[r][1];
      memcpy (row, tmp, (size_t) cols * sizeof (float));
    }
  }
}

/* Columns [n0, n0 + cols) of B (K×N) into dst (K×16, k-major), the
 * columns past cols zero, so that the tile reads it sequentially (read in
 * place, rows N floats apart split cache lines and halved the speed). */
static void
pack_b_block (const float *B, int N, int K, int n0, int cols, float *dst)
{
  for (int k = 0; k < K; k++) {
    memcpy (dst + (size_t) k * TILE_COLS, B + (size_t) k * N + n0, (size_t) cols * sizeof (float));
    if (cols < TILE_COLS)
      memset (dst + (size_t) k * TILE_COLS + cols, 0, (size_t) (TILE_COLS - cols) * sizeof (float));
  }
}

size_t
fkp_nn_packed_b_floats (int K, int N)
{
  return (size_t) K * (size_t) ((N + TILE_COLS - 1) / TILE_COLS * TILE_COLS);
}

void
fkp_nn_packed_gemm (const float *packed, int M, int K, const float *B, int N, float *C,
                    int panel_lo, int panel_hi, float *bpack)
{
  /* Small feature maps: all of B packed first, then each panel of the
   * weights stays in cache while it meets every block. */
  const int blocks = (N + TILE_COLS - 1) / TILE_COLS;
  for (int nb = 0; nb < blocks; nb++)
    pack_b_block (B, N, K, nb * TILE_COLS, MIN (TILE_COLS, N - nb * TILE_COLS),
                  bpack + (size_t) nb * K * TILE_COLS);
  for (int p = panel_lo; p < panel_hi; p++) {
    const float *a = packed + (size_t) p * K * PANEL_ROWS;
    const int row0 = p * PANEL_ROWS, rows = MIN (PANEL_ROWS, M - row0);
    float *c = C + (size_t) row0 * N;
    for (int nb = 0; nb < blocks; nb++) {
      const int n0 = nb * TILE_COLS;
      tile_6x16 (a, bpack + (size_t) nb * K * TILE_COLS, TILE_COLS, K, c + n0, (size_t) N, rows,
                 MIN (TILE_COLS, N - n0));
    }
  }
}

void
fkp_nn_packed_gemm_columns (const float *packed, int M, int K, const float *B, int N, float *C,
                            int n_lo, int n_hi, float *block)
{
  /* Large feature maps: one 16-column block of B at a time, packed into
   * `block` (K×16, in L1 for the 1×1 convolutions this serves) and run
   * against every panel of the weights. */
  const int panels = fkp_nn_packed_panels (M);
  for (int n0 = n_lo; n0 < n_hi; n0 += TILE_COLS) {
    const int cols = MIN (TILE_COLS, n_hi - n0);
    pack_b_block (B, N, K, n0, cols, block);
    for (int p = 0; p < panels; p++) {
      const int row0 = p * PANEL_ROWS;
      tile_6x16 (packed + (size_t) p * K * PANEL_ROWS, block, TILE_COLS, K,
                 C + (size_t) row0 * N + n0, (size_t) N, MIN (PANEL_ROWS, M - row0), cols);
    }
  }
}
