/* Winograd convolution F(m×m, r×r): F(4,3), F(2,3) and F(2,5) (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
 *
 * The output is cut into m×m tiles, each computed from an α×α input tile
 * (α = m + r - 1).  In the transform domain a convolution becomes, for each
 * of the α² points, a product of the transformed weights (M×C, done once at
 * load) with the transformed input tiles (C×tiles): α² GEMMs on the
 * engine's sgemm, then an inverse transform per tile.  F(4,3) does 36
 * multiplies for 16 outputs where the direct form does 144 (4× fewer); F(2,3)
 * 16 for 4 (2.25×), with smaller tiles that suit 7×7 maps; F(2,5) 36 for
 * 4 where the direct form does 100 (2.8×).
 *
 * The tiles go in blocks of the sgemm's tile width (the GEMMs' N); per
 * block each thread transforms the input into its scratch (V: α² × C ×
 * block), multiplies chunk by chunk of output channels (the chunk's M: α² ×
 * rows × block stays in L2), and transforms back, adding the bias and
 * applying the activation as it stores.  Threads take shares of the
 * (block, chunk) pairs: a small map with one block still splits by chunks.
 *
 * Rounding differs from the direct sum (the transforms scale and add
 * inputs before the multiply): F(4,3)'s error grows with the points ±2,
 * about 10× the direct form's, still far below the tests' 1e-4 of the
 * output's range. */
#include "ops/conv-winograd.h"

#include <string.h>

/* Lanes of the transforms: GCC's vector extension, lowered to AVX or
 * SSE by the function clones. */
typedef float v8f __attribute__ ((vector_size (32)));
typedef int v8i __attribute__ ((vector_size (32)));
#define LANES 8
#define BLOCK_TILES_MAX 32
/* Output channels whose α² products of one block stay in L2 (96 · 36 ·
 * 16 floats = 216 KiB), a multiple of every ISA's panel height. */
#define CHUNK_ROWS 96

static inline __attribute__ ((always_inline)) v8f
load8 (const float *p)
{
  v8f v;
  memcpy (&v, p, sizeof v);
  return v;
}

static inline __attribute__ ((always_inline)) void
store8 (float *p, v8f v)
{
  memcpy (p, &v, sizeof v);
}

/* ---- Weight transform (load time, in double) ---------------------------- */

/* G (α×r): u = G·g·Gᵀ for an r×r kernel g.  Row p of G is c_p·(1, x_p,
 * x_p², …) for the finite points x_p (0, 1, -1, 2, -2 for α = 6; 0, 1, -1
 * for α = 4), scaled as Bᵀ and Aᵀ below need, and (0, …, 0, 1) for the point
 * at infinity: F(4,3) and F(2,5) share α = 6, its points, Bᵀ and the
 * scales. */
static void
g_row (int alpha, int p, int r, double *row)
{
  static const double x6[5] = { 0, 1, -1, 2, -2 }, c6[5] = { 1.0 / 4, -1.0 / 6, -1.0 / 6,
                                                            1.0 / 24, 1.0 / 24 };
  static const double x4[3] = { 0, 1, -1 }, c4[3] = { 1, 0.5, 0.5 };
  for (int k = 0; k < r; k++)
    row[k] = 0.0;
  if (p == alpha - 1) {   /* the point at infinity */
    row[r - 1] = 1.0;
    return;
  }
  const double x = alpha == 6 ? x6[p] : x4[p], c = alpha == 6 ? c6[p] : c4[p];
  double power = 1.0;
  for (int k = 0; k < r; k++, power *= x)
    row[k] = c * power;
}

/* U = G·g·Gᵀ for one (output, input) channel pair, as one matrix product:
 * U[p] = Σ_ab K[ab][p]·g[ab] with K[ab][i·α+j] = G[i][a]·G[j][b], the same
 * for every pair (computed once per conv); the loop over p vectorises. */
static void
transform_kernel (int points, int taps, const double K[25][36], const float *g, float *u,
                  size_t u_stride)
{
  double acc[36] = { 0 };
  for (int ab = 0; ab < taps; ab++) {
    const double x = g[ab];
    for (int p = 0; p < 36; p++)
      acc[p] += K[ab][p] * x;
  }
  for (int p = 0; p < points; p++)
    u[(size_t) p * u_stride] = (float) acc[p];
}

gboolean
fkp_nn_winograd_enabled (void)
{
  const char *value = g_getenv ("FKP_NN_WINOGRAD");
  return value == NULL || strcmp (value, "0") != 0;
}

int
fkp_nn_winograd_pick (int r, int C, int M, int OH, int OW)
{
  if ((r != 3 && r != 5) || C < 8 || M < 8 || OH < 4 || OW < 4)
    return 0;
  /* Multiply-adds of the GEMMs, counting the columns a block pads to (8),
   * and the transforms (about α² adds per element, slower than an FMA of
   * the GEMM: weighted 2×), against im2col's. */
  const double direct = (double) r * r * M * C * OH * OW;
  double best = 0.75 * direct;
  int pick = 0;
  for (int m = 4; m >= 2; m -= 2) {
    const int alpha = m + r - 1;
    if (alpha != 4 && alpha != 6)
      continue;
    const double tiles = (double) ((OH + m - 1) / m) * ((OW + m - 1) / m);
    const double cols = ((int) tiles + 7) / 8 * 8;
    const double cost = (double) alpha * alpha * ((double) M * C * cols + 2.0 * (M + C) * tiles);
    if (cost < best) {
      best = cost;
      pick = m;
    }
  }
  return pick;
}

FkpNnWinograd *
fkp_nn_winograd_new (FkpSgemmIsa isa, int tile, int r, const float *weights, int M, int C)
{
  const int alpha = tile + r - 1, points = alpha * alpha;
  FkpNnWinograd *w = g_new0 (FkpNnWinograd, 1);
  w->tile = tile;
  w->kernel = r;
  w->alpha = alpha;
  w->M = M;
  w->C = C;
  w->chunk_rows = M <= CHUNK_ROWS + CHUNK_ROWS / 2 ? M : CHUNK_ROWS;
  w->n_chunks = (M + w->chunk_rows - 1) / w->chunk_rows;
  w->u = g_new0 (FkpSgemmA *, (size_t) w->n_chunks * points);
  /* Each point's M×C matrix, then its chunks of rows packed. */
  float *u = g_try_new (float, (size_t) points * M * C);
  if (u == NULL) {
    fkp_nn_winograd_free (w);
    return NULL;
  }
  double G[6][5], K[25][36] = { { 0 } };
  for (int p = 0; p < alpha; p++)
    g_row (alpha, p, r, G[p]);
  for (int a = 0; a < r; a++)
    for (int b = 0; b < r; b++)
      for (int i = 0; i < alpha; i++)
        for (int j = 0; j < alpha; j++)
          K[a * r + b][i * alpha + j] = G[i][a] * G[j][b];
  for (int m = 0; m < M; m++) {
    if (m % 32 == 0)
      fkp_nn_load_pause ();
    for (int c = 0; c < C; c++)
      transform_kernel (points, r * r, (const double (*)[36]) K,
                        weights + ((size_t) m * C + c) * r * r, u + (size_t) m * C + c,
                        (size_t) M * C);
  }
  gboolean ok = TRUE;
  for (int k = 0; k < w->n_chunks && ok; k++) {
    const int r0 = k * w->chunk_rows, rows = MIN (w->chunk_rows, M - r0);
    for (int p = 0; p < points && ok; p++) {
      fkp_nn_load_pause ();
      FkpSgemmA *a = fkp_sgemm_a_new (isa, u + ((size_t) p * M + r0) * C, (size_t) C, rows, C);
      w->u[k * points + p] = a;
      ok = a != NULL;
    }
  }
  g_free (u);
  if (!ok) {
    fkp_nn_winograd_free (w);
    return NULL;
  }
  w->block_tiles = MIN (fkp_sgemm_tile_cols (w->u[0]), BLOCK_TILES_MAX);
  return w;
}

void
fkp_nn_winograd_free (FkpNnWinograd *w)
{
  if (w == NULL)
    return;
  for (int i = 0; w->u != NULL && i < w->n_chunks * w->alpha * w->alpha; i++)
    fkp_sgemm_a_free (w->u[i]);
  g_free (w->u);
  g_free (w);
}

/* Floats of one block's transformed input (V) and of one chunk's products
 * (P), rows padded to whole lane vectors. */
static size_t
v_floats (const FkpNnWinograd *w)
{
  return (size_t) w->alpha * w->alpha * w->C * w->block_tiles;
}

static size_t
p_floats (const FkpNnWinograd *w)
{
  return (size_t) w->alpha * w->alpha * w->chunk_rows * w->block_tiles;
}

size_t
fkp_nn_winograd_scratch_floats (const FkpNnWinograd *w)
{
  size_t sgemm = 0;
  for (int i = 0; i < w->n_chunks * w->alpha * w->alpha; i++)
    sgemm = MAX (sgemm, fkp_sgemm_scratch_floats (w->u[i], w->block_tiles));
  /* each part 16-float aligned */
  return (v_floats (w) + 15) / 16 * 16 + (p_floats (w) + 15) / 16 * 16 + sgemm + 16;
}

/* ---- Run ------------------------------------------------------------------ */

typedef struct {
  FkpNet *net;
  const FkpNnWinograd *w;
  const float *x;
  int H, W, pad_top, pad_left;
  float *y;
  int OH, OW;
  const float *bias;
  const Activation *act;
  int tiles_w, n_tiles, n_blocks;
  /* whether a row's 8 values may be loaded whole across the map's edge
   * (the arena's slack around x, see FKP_NN_ARENA_SLACK_FLOATS) */
  gboolean edge_loads;
} WinogradJob;

/* The 8 input values from (iy, ix0) on, zero outside the map. */
static inline __attribute__ ((always_inline)) v8f
load_row8 (const float *plane, int H, int W, int iy, int ix0, gboolean edge_loads)
{
  if (iy < 0 || iy >= H)
    return (v8f) { 0 };
  const float *row = plane + (size_t) iy * W;
  if (ix0 >= 0 && ix0 + LANES <= W)
    return load8 (row + ix0);
  if (edge_loads) {
    /* the neighbouring row's (or the slack's) values masked off: copying
     * the row's own value by value made each vector wait for its scalar
     * stores (a failed store forward), half of this transform's time */
    const v8i column = (v8i) { 0, 1, 2, 3, 4, 5, 6, 7 } + ix0;
    return (v8f) ((v8i) load8 (row + ix0) & ((column >= 0) & (column < W)));
  }
  float edge[LANES];
  for (int k = 0; k < LANES; k++)
    edge[k] = ix0 + k >= 0 && ix0 + k < W ? row[ix0 + k] : 0.0f;
  return load8 (edge);
}


/* r[q][k] → r[k][q]: 8 rows of 8 become 8 columns, in registers. */
static inline __attribute__ ((always_inline)) void
transpose8 (v8f r[8])
{
  v8f t[8], u[8];
  for (int p = 0; p < 4; p++) {
    t[2 * p] = FKP_UNPACK_LO (r[2 * p], r[2 * p + 1]);
    t[2 * p + 1] = FKP_UNPACK_HI (r[2 * p], r[2 * p + 1]);
  }
  for (int h = 0; h < 2; h++) {   /* rows 0-3, then 4-7 */
    v8f *th = t + 4 * h, *uh = u + 4 * h;
    uh[0] = FKP_PAIRS_LO (th[0], th[2]);
    uh[1] = FKP_PAIRS_HI (th[0], th[2]);
    uh[2] = FKP_PAIRS_LO (th[1], th[3]);
    uh[3] = FKP_PAIRS_HI (th[1], th[3]);
  }
  for (int k = 0; k < 4; k++) {
    r[k] = FKP_HALVES_LO (u[k], u[4 + k]);
    r[4 + k] = FKP_HALVES_HI (u[k], u[4 + k]);
  }
}

/* Bᵀ for F(4,3) on 6 values (z[k·s]), and for F(2,3) on 4. */
#define BT4(z, s, r)                                                        \
  do {                                                                      \
    const v8f z0 = z[0], z1 = z[s], z2 = z[2 * (s)], z3 = z[3 * (s)];       \
    const v8f z4 = z[4 * (s)], z5 = z[5 * (s)];                             \
    r[0] = 4.0f * z0 - 5.0f * z2 + z4;                                      \
    r[1] = z3 + z4 - 4.0f * (z1 + z2);                                      \
    r[2] = 4.0f * (z1 - z2) + z4 - z3;                                      \
    r[3] = 2.0f * (z3 - z1) + z4 - z2;                                      \
    r[4] = 2.0f * (z1 - z3) + z4 - z2;                                      \
    r[5] = 4.0f * z1 - 5.0f * z3 + z5;                                      \
  } while (0)
#define BT2(z, s, r)                                                        \
  do {                                                                      \
    const v8f z0 = z[0], z1 = z[s], z2 = z[2 * (s)], z3 = z[3 * (s)];       \
    r[0] = z0 - z2;                                                         \
    r[1] = z1 + z2;                                                         \
    r[2] = z2 - z1;                                                         \
    r[3] = z1 - z3;                                                         \
  } while (0)
/* Aᵀ for F(4,3) on 6 values, and for F(2,3) on 4. */
#define AT4(s_, st, o)                                                      \
  do {                                                                      \
    const v8f s0 = s_[0], s1 = s_[st], s2 = s_[2 * (st)], s3 = s_[3 * (st)]; \
    const v8f s4 = s_[4 * (st)], s5 = s_[5 * (st)];                         \
    const v8f p12 = s1 + s2, m12 = s1 - s2, p34 = s3 + s4, m34 = s3 - s4;   \
    o[0] = s0 + p12 + p34;                                                  \
    o[1] = m12 + 2.0f * m34;                                                \
    o[2] = p12 + 4.0f * p34;                                                \
    o[3] = m12 + 8.0f * m34 + s5;                                           \
  } while (0)
#define AT6TO2(s_, st, o)                                                   \
  do {                                                                      \
    const v8f s0 = s_[0], s1 = s_[st], s2 = s_[2 * (st)], s3 = s_[3 * (st)]; \
    const v8f s4 = s_[4 * (st)], s5 = s_[5 * (st)];                         \
    o[0] = s0 + (s1 + s2) + (s3 + s4);                                      \
    o[1] = (s1 - s2) + 2.0f * (s3 - s4) + s5;                               \
  } while (0)
#define AT2(s_, st, o)                                                      \
  do {                                                                      \
    const v8f s0 = s_[0], s1 = s_[st], s2 = s_[2 * (st)], s3 = s_[3 * (st)]; \
    o[0] = s0 + s1 + s2;                                                    \
    o[1] = s1 - s2 - s3;                                                    \
  } while (0)

/* V[point][c][lane] = Bᵀ·d·B for each channel's tiles of the block, 8
 * tiles (lanes) at a time: each tile's rows read as vectors (through a
 * zero-padded copy at the map's edges) and transposed in registers. */
FKP_SIMD static void
transform_input (const WinogradJob *j, int t0, int n, float *V, size_t ldv)
{
  const FkpNnWinograd *w = j->w;
  const int alpha = w->alpha, C = w->C, m = w->tile;
  const size_t HW = (size_t) j->H * j->W;
  for (int l = 0; l < n; l += LANES) {
    const int lanes = MIN (LANES, n - l);
    int iy0[LANES], ix0[LANES];
    for (int q = 0; q < lanes; q++) {
      const int t = t0 + l + q;
      iy0[q] = t / j->tiles_w * m - j->pad_top;
      ix0[q] = t % j->tiles_w * m - j->pad_left;
    }
    for (int c = 0; c < C; c++) {
      const float *plane = j->x + c * HW;
      v8f z[36], t[36], r[8];
      /* row i of each lane's tile as one vector (8 values, α used),
       * transposed into the tiles' value k of row i, lane by lane */
      for (int i = 0; i < alpha; i++) {
        for (int q = 0; q < LANES; q++)
          r[q] = q < lanes ? load_row8 (plane, j->H, j->W, iy0[q] + i, ix0[q], j->edge_loads)
                           : (v8f) { 0 };
        transpose8 (r);
        for (int k = 0; k < alpha; k++)
          z[i * alpha + k] = r[k];
      }
      /* columns: t = Bᵀ·d, then rows: Bᵀ·tᵀ */
      for (int k = 0; k < alpha; k++) {
        if (alpha == 6)
          BT4 ((z + k), 6, r);
        else
          BT2 ((z + k), 4, r);
        for (int i = 0; i < alpha; i++)
          t[i * alpha + k] = r[i];
      }
      for (int i = 0; i < alpha; i++) {
        if (alpha == 6)
          BT4 ((t + i * 6), 1, r);
        else
          BT2 ((t + i * 4), 1, r);
        for (int k = 0; k < alpha; k++)
          store8 (V + ((size_t) (i * alpha + k) * C + c) * ldv + l, r[k]);
      }
    }
  }
}

/* y = Aᵀ·P·A (+ bias, activation) for output channels [r0, r0 + rows) of
 * the block's tiles; P[row - r0][point][lane]: a row's α² products are
 * contiguous (one point's matrix after another, rows·ld floats apart, had
 * each of the α² loads miss L1: a third of this transform's time). */
FKP_SIMD static void
transform_output (const WinogradJob *j, int t0, int n, const float *P, size_t ldp, int r0,
                  int rows)
{
  const FkpNnWinograd *w = j->w;
  const int alpha = w->alpha, m = w->tile;
  const Activation *act = j->act;
  const size_t OHW = (size_t) j->OH * j->OW;
  const gboolean act_in_store = act->kind == ACT_NONE || act->kind == ACT_RELU
                                || act->kind == ACT_LEAKY_RELU;
  float out[16][LANES] __attribute__ ((aligned (32)));
  for (int row = 0; row < rows; row++) {
    const int oc = r0 + row;
    const v8f bias = (v8f) { 0 } + (j->bias ? j->bias[oc] : 0.0f);
    float *plane = j->y + oc * OHW;
    for (int l = 0; l < n; l += LANES) {
      v8f s[36], q[24], o[4];
      for (int p = 0; p < alpha * alpha; p++)
        s[p] = load8 (P + ((size_t) row * alpha * alpha + p) * ldp + l);
      for (int k = 0; k < alpha; k++) {   /* columns: q = Aᵀ·s */
        if (alpha == 6 && m == 4)
          AT4 ((s + k), 6, o);
        else if (alpha == 6)
          AT6TO2 ((s + k), 6, o);
        else
          AT2 ((s + k), 4, o);
        for (int i = 0; i < m; i++)
          q[i * alpha + k] = o[i];
      }
      v8f res[16];
      for (int i = 0; i < m; i++) {       /* rows: (Aᵀ·qᵀ)ᵀ */
        if (alpha == 6 && m == 4)
          AT4 ((q + i * 6), 1, o);
        else if (alpha == 6)
          AT6TO2 ((q + i * 6), 1, o);
        else
          AT2 ((q + i * 4), 1, o);
        for (int k = 0; k < m; k++) {
          v8f v = o[k] + bias;
          if (act->kind == ACT_RELU)
            v = (v8f) ((v8i) v & (v > 0.0f));
          else if (act->kind == ACT_LEAKY_RELU)
            v = (v8f) (((v8i) v & (v > 0.0f)) | ((v8i) (v * act->alpha) & ~(v > 0.0f)));
          res[i * m + k] = v;
        }
      }
      const int lanes = MIN (LANES, n - l);
      int oy0[LANES], ox0[LANES];
      gboolean inside = lanes == LANES && act_in_store;
      for (int lane = 0; lane < lanes; lane++) {
        const int t = t0 + l + lane;
        oy0[lane] = t / j->tiles_w * m;
        ox0[lane] = t % j->tiles_w * m;
        inside &= oy0[lane] + m <= j->OH && ox0[lane] + m <= j->OW;
      }
      if (inside) {
        /* each tile's row of m values: a lane of each of m vectors,
         * gathered by shuffles into one 4- or 2-float store per tile */
        for (int i = 0; i < m; i++) {
          const v8f *row = res + i * m;
          if (m == 4) {
            const v8f t0v = FKP_UNPACK_LO (row[0], row[1]);
            const v8f t1v = FKP_UNPACK_HI (row[0], row[1]);
            const v8f t2v = FKP_UNPACK_LO (row[2], row[3]);
            const v8f t3v = FKP_UNPACK_HI (row[2], row[3]);
            const v8f u[4] = {
              FKP_PAIRS_LO (t0v, t2v), FKP_PAIRS_HI (t0v, t2v),
              FKP_PAIRS_LO (t1v, t3v), FKP_PAIRS_HI (t1v, t3v),
            };
            for (int lane = 0; lane < LANES; lane++)
              memcpy (plane + (size_t) (oy0[lane] + i) * j->OW + ox0[lane],
                      (const float *) &u[lane % 4] + 4 * (lane / 4), 4 * sizeof (float));
          } else {
            const v8f u[2] = { FKP_UNPACK_LO (row[0], row[1]),
                               FKP_UNPACK_HI (row[0], row[1]) };
            /* u[0]: lanes 0, 1, 4, 5 in pairs; u[1]: lanes 2, 3, 6, 7 */
            for (int lane = 0; lane < LANES; lane++)
              memcpy (plane + (size_t) (oy0[lane] + i) * j->OW + ox0[lane],
                      (const float *) &u[(lane / 2) % 2] + 2 * (lane % 2) + 4 * (lane / 4),
                      2 * sizeof (float));
          }
        }
        continue;
      }
      for (int p = 0; p < m * m; p++)
        store8 (out[p], res[p]);
      if (!act_in_store)
        fkp_nn_apply_activation (&out[0][0], (size_t) m * m * LANES, act);
      for (int lane = 0; lane < lanes; lane++) {
        const int ny = MIN (m, j->OH - oy0[lane]), nx = MIN (m, j->OW - ox0[lane]);
        for (int i = 0; i < ny; i++)
          for (int k = 0; k < nx; k++)
            plane[(size_t) (oy0[lane] + i) * j->OW + ox0[lane] + k] = out[i * m + k][lane];
      }
    }
  }
}

static void
winograd_part (void *ctx, int part, int n_parts)
{
  const WinogradJob *j = ctx;
  const FkpNnWinograd *w = j->w;
  const int points = w->alpha * w->alpha, nb = w->block_tiles;
  float *V = fkp_nn_scratch (j->net, part);
  float *P = V + (v_floats (w) + 15) / 16 * 16;
  float *sgemm_scratch = P + (p_floats (w) + 15) / 16 * 16;
  /* V and P rows: the block's tiles rounded up to whole lane vectors */
  int lo, hi, block = -1;
  fkp_nn_split (j->n_blocks * w->n_chunks, part, n_parts, 1, &lo, &hi);
  for (int unit = lo; unit < hi; unit++) {
    const int b = unit / w->n_chunks, chunk = unit % w->n_chunks;
    const int t0 = b * nb, n = MIN (nb, j->n_tiles - t0);
    const size_t ld = (size_t) (n + LANES - 1) / LANES * LANES;
    if (b != block) {
      transform_input (j, t0, n, V, ld);
      block = b;
    }
    const int r0 = chunk * w->chunk_rows, rows = MIN (w->chunk_rows, w->M - r0);
    for (int p = 0; p < points; p++) {
      const FkpSgemmA *a = w->u[chunk * points + p];
      /* all ld columns: the padding lanes hold transformed zeros, and P's
       * padding then holds defined values for transform_output */
      fkp_sgemm_run (a, V + (size_t) p * w->C * ld, ld, P + (size_t) p * ld, (size_t) points * ld,
                     NULL, 0, a->n_panels, 0, (int) ld, sgemm_scratch);
    }
    transform_output (j, t0, n, P, ld, r0, rows);
  }
}

void
fkp_nn_winograd_run (FkpNet *net, int parts, const FkpNnWinograd *w, const float *x, int H, int W,
                     int pad_top, int pad_left, float *y, int OH, int OW, const float *bias,
                     const Activation *act)
{
  WinogradJob j = {
    .net = net, .w = w, .x = x, .H = H, .W = W, .pad_top = pad_top, .pad_left = pad_left,
    .y = y, .OH = OH, .OW = OW, .bias = bias, .act = act,
  };
  j.tiles_w = (OW + w->tile - 1) / w->tile;
  j.n_tiles = j.tiles_w * ((OH + w->tile - 1) / w->tile);
  j.n_blocks = (j.n_tiles + w->block_tiles - 1) / w->block_tiles;
  /* The rows' loads reach pad_left floats before x and, past its last row,
   * the last tile's start + 8 - W floats beyond it. */
  const uintptr_t x_lo = (uintptr_t) x, x_hi = (uintptr_t) (x + (size_t) w->C * H * W);
  const uintptr_t arena_lo = (uintptr_t) net->arena, arena_hi = arena_lo + net->arena_bytes;
  const intptr_t before = pad_left;
  const intptr_t after = (intptr_t) (j.tiles_w - 1) * w->tile - pad_left + LANES - W;
  const intptr_t slack = FKP_NN_ARENA_SLACK_FLOATS;
  j.edge_loads = net->arena != NULL && x_lo >= arena_lo && x_hi <= arena_hi
                 && before <= slack + (intptr_t) ((x_lo - arena_lo) / sizeof (float))
                 && after <= slack + (intptr_t) ((arena_hi - x_hi) / sizeof (float));
  fkp_nn_parallel (net, MIN (parts, j.n_blocks * w->n_chunks), winograd_part, &j);
}
