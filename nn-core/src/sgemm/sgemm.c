/* The SGEMM's ISA dispatch, packing and cache blocking, around the register
 * tiles of sgemm-simd.c (AVX2, AVX-512, generic).
 *
 * Loop nest (as in BLIS): columns of B in blocks of NC, K in blocks of KC
 * (B's KC×NC block packed into the scratch as NR-wide, zero-padded, k-major
 * panels), rows in blocks of MC, then each NR panel of B (kept in L1) against
 * each MR panel of A in the MC block (kept in L2).  A is packed once, at load,
 * panel by panel with all of K, so that the KC part of a panel is contiguous
 * whichever block of K is running.  For few rows, B is read in place
 * instead of packed (fkp_sgemm_run). */
#include "sgemm.h"
#include "sgemm-kernel.h"

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Above this many rows the main tile's better ratio of FMAs to loads wins
 * over padding. */
#define SHORT_ROWS_MAX_M 48

static const char *const isa_labels[FKP_SGEMM_N_ISAS] = {
  [FKP_SGEMM_ISA_GENERIC] = "generic",
  [FKP_SGEMM_ISA_AVX2] = "avx2",
  [FKP_SGEMM_ISA_AVX512] = "avx512",
};

static const FkpSgemmKernel *
kernel_for (FkpSgemmIsa isa)
{
  switch (isa) {
#if defined(FKP_SGEMM_X86)
  case FKP_SGEMM_ISA_AVX512:
    return &fkp_sgemm_kernel_avx512;
  case FKP_SGEMM_ISA_AVX2:
    return &fkp_sgemm_kernel_avx2;
#endif
  default:
    return &fkp_sgemm_kernel_generic;
  }
}

bool
fkp_sgemm_isa_supported (FkpSgemmIsa isa)
{
  switch (isa) {
  case FKP_SGEMM_ISA_GENERIC:
    return true;
#if defined(FKP_SGEMM_X86)
  /* __builtin_cpu_supports also checks that the OS saves the wider
   * registers (XGETBV), not only CPUID. */
  case FKP_SGEMM_ISA_AVX2:
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
  case FKP_SGEMM_ISA_AVX512:
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx512f");
#endif
  default:
    return false;
  }
}

const char *
fkp_sgemm_isa_label (FkpSgemmIsa isa)
{
  return isa >= 0 && isa < FKP_SGEMM_N_ISAS ? isa_labels[isa] : "unknown";
}

FkpSgemmIsa
fkp_sgemm_isa_for_override (const char *value)
{
  if (value != NULL)
    for (int isa = 0; isa < FKP_SGEMM_N_ISAS; isa++)
      if (g_ascii_strcasecmp (value, isa_labels[isa]) == 0 && fkp_sgemm_isa_supported (isa))
        return isa;
  for (int isa = FKP_SGEMM_N_ISAS - 1; isa > FKP_SGEMM_ISA_GENERIC; isa--)
    if (fkp_sgemm_isa_supported (isa))
      return isa;
  return FKP_SGEMM_ISA_GENERIC;
}

FkpSgemmIsa
fkp_sgemm_isa (void)
{
  static gsize chosen = 0;     /* isa + 1 once decided */
  if (g_once_init_enter (&chosen)) {
    const char *value = g_getenv ("FKP_NN_ISA");
    const FkpSgemmIsa isa = fkp_sgemm_isa_for_override (value);
    if (value != NULL && *value != '\0' && g_ascii_strcasecmp (value, isa_labels[isa]) != 0)
      g_debug ("FKP_NN_ISA=%s: not supported here, using %s", value, isa_labels[isa]);
    g_once_init_leave (&chosen, (gsize) isa + 1);
  }
  return (FkpSgemmIsa) (chosen - 1);
}

const char *
fkp_sgemm_isa_name (void)
{
  return isa_labels[fkp_sgemm_isa ()];
}

/* The tile height for a matrix of M rows: the short one where it pads
 * fewer rows of a small matrix (M = 16 or 32 against 6-row panels). */
static int
choose_panel_rows (const FkpSgemmKernel *kern, int M)
{
  const int main_rows = kern->main.rows, short_rows = kern->short_rows.rows;
  if (short_rows == 0 || M > SHORT_ROWS_MAX_M)
    return main_rows;
  const int padded_main = (M + main_rows - 1) / main_rows * main_rows;
  const int padded_short = (M + short_rows - 1) / short_rows * short_rows;
  return padded_short < padded_main ? short_rows : main_rows;
}

static const FkpSgemmTileRows *
tiles_for (const FkpSgemmKernel *kern, int panel_rows)
{
  return panel_rows == kern->main.rows ? &kern->main : &kern->short_rows;
}

FkpSgemmA *
fkp_sgemm_a_new (FkpSgemmIsa isa, const float *A, size_t lda, int M, int K)
{
  g_return_val_if_fail (M >= 1 && K >= 1 && fkp_sgemm_isa_supported (isa), NULL);
  const int mr = choose_panel_rows (kernel_for (isa), M);
  FkpSgemmA *a = g_new0 (FkpSgemmA, 1);
  a->isa = isa;
  a->M = M;
  a->K = K;
  a->panel_rows = mr;
  a->n_panels = (M + mr - 1) / mr;
  const size_t n_floats = (size_t) a->n_panels * mr * K;
  /* C11's aligned_alloc wants a multiple of the alignment; NULL when the
   * memory is not there, which the loader reports rather than abort. */
  const size_t bytes = ((n_floats + FKP_SGEMM_A_PAD_FLOATS) * sizeof (float) + 63) / 64 * 64;
  a->panels = aligned_alloc (64, bytes);
  if (a->panels == NULL) {
    g_free (a);
    return NULL;
  }
  memset (a->panels + n_floats, 0, FKP_SGEMM_A_PAD_FLOATS * sizeof (float));
  for (int p = 0; p < a->n_panels; p++) {
    float *panel = a->panels + (size_t) p * K * mr;
    for (int r = 0; r < mr; r++) {
      const int row = p * mr + r;
      for (int k = 0; k < K; k++)
        panel[(size_t) k * mr + r] = row < M ? A[(size_t) row * lda + k] : 0.0f;
    }
  }
  return a;
}

void
fkp_sgemm_a_free (FkpSgemmA *a)
{
  if (a != NULL)
    free (a->panels);
  g_free (a);
}

int
fkp_sgemm_tile_cols (const FkpSgemmA *a)
{
  return kernel_for (a->isa)->tile_cols;
}

/* K in blocks of near-equal length, at most block_k, so that K = KC + 1
 * does not end on a block of one step (a tile's fixed cost over a single
 * FMA row). */
static int
k_block_length (int block_k, int K)
{
  const int blocks = (K + block_k - 1) / block_k;
  return (K + blocks - 1) / blocks;
}

#define SCRATCH_ALIGN_FLOATS 16

/* Tiles read B in place for a range of at most this many rows (see
 * fkp_sgemm_run), in blocks of K whose panel of B stays within
 * IN_PLACE_PANEL_BYTES of L1 (half of Zen 3's): a row of a panel read in
 * place spans two cache lines unless B's rows are 64-byte aligned. */
#define IN_PLACE_MAX_ROWS 48
#define IN_PLACE_PANEL_BYTES (16 * 1024) /* 64 bytes */

/* A packed block of B of up to this many floats (128 KiB, a quarter of Zen
 * 3's L2) takes all of K at once, or longer blocks than KC, when it is
 * narrow (N = 16: 1728 × 16): C is then written once instead of once per
 * block of K, and the panel of B comes from L2, fast enough for a tile
 * (N = 16 shapes 4-6 % faster on Zen 3). */
#define NARROW_B_BLOCK_FLOATS (32 * 1024)

static size_t
round_up_cols (const FkpSgemmKernel *kern, int cols)
{
  const int nr = kern->tile_cols;
  return (size_t) ((cols + nr - 1) / nr * nr);
}

/* The longest block of K for a packed block of B of `cols` columns. */
static int
packed_block_k (const FkpSgemmKernel *kern, int cols)
{
  return MAX (kern->block_k, (int) (NARROW_B_BLOCK_FLOATS / round_up_cols (kern, cols)));
}

size_t
fkp_sgemm_scratch_floats (const FkpSgemmA *a, int cols)
{
  /* Any range of at most `cols` columns packs at most this many floats:
   * kc · cols ≤ max (KC · cols, NARROW_B_BLOCK_FLOATS), and kc ≤ K. */
  const FkpSgemmKernel *kern = kernel_for (a->isa);
  const size_t width = round_up_cols (kern, MAX (1, MIN (cols, kern->block_cols)));
  const size_t K = (size_t) a->K;
  return MAX (MIN (K, (size_t) kern->block_k) * width, MIN (K * width, NARROW_B_BLOCK_FLOATS))
         + SCRATCH_ALIGN_FLOATS;
}

/* One row of a full panel of B.  Fixed sizes, which the compiler turns
 * into a few vector moves instead of a call. */
static inline void
pack_b_row (float *dst, const float *src, int width)
{
  if (width == 4)
    memcpy (dst, src, 4 * sizeof (float));
  else if (width == 32)
    memcpy (dst, src, 32 * sizeof (float));
  else if (width == 16)
    memcpy (dst, src, 16 * sizeof (float));
  else if (width == 8)
    memcpy (dst, src, 8 * sizeof (float));
  else
    memcpy (dst, src, (size_t) width * sizeof (float));
}

/* A panel of B: its first column in the block, its width (NR, or NR / 2
 * for the narrow tile) and how many of its columns are B's. */
typedef struct {
  int j, width, cols;
} Panel;

/* The most panels a block is cut into: every kernel's NC is 512 columns
 * (sgemm-simd.c), in panels of 8 at least (the generic tile), the last 8
 * maybe in two. */
#define MAX_PANELS (512 / 8 + 1)

/* Whether `cols` final columns go to a column tile (1-4 columns). */
static bool
has_column_tile (const FkpSgemmTileRows *tiles, int cols)
{
  return cols >= 1 && cols <= FKP_SGEMM_COLUMN_TILE_MAX && tiles->column_tiles[cols] != NULL;
}

/* Cuts nc columns into panels: NR wide while NR are left; then what is
 * left in a narrow panel where the kernel has one.  A few columns past
 * NR / 2 (N = 49 = 32 + 16 + 1 on AVX-512) go to a narrow panel and a
 * column tile, where one padded NR panel cost 24 FMAs per step of k
 * against 12 + 1 (a 256 × 49 × 528 GEMM: 70 -> 92 GFLOP/s on Zen 4). */
static int
cut_panels (const FkpSgemmKernel *kern, const FkpSgemmTileRows *tiles, int nc, Panel *panels)
{
  const int nr = kern->tile_cols, half = nr / 2;
  const bool narrow = tiles->narrow_tile != NULL;
  int n = 0;
  for (int j = 0; j < nc;) {
    const int left = nc - j;
    int width = nr;
    if (narrow && (left <= half || (left < nr && has_column_tile (tiles, left - half))))
      width = half;
    panels[n++] = (Panel) { j, width, MIN (width, left) };
    j += width;
  }
  return n;
}

/* Whether a last panel of `cols` columns goes to a column tile that reads
 * exactly that many (1, 2 or 4; 3 takes the 4-column tile): it then reads
 * them in B itself.  Packing them, a column at a time, was half of this
 * driver's own time at N = 49 (7×7 maps); the tile reads a packed panel
 * with a stride of a cache line per step of k anyway. */
static bool
exact_column_tile (const FkpSgemmTileRows *tiles, int cols)
{
  return (cols == 1 || cols == 2 || cols == 4) && has_column_tile (tiles, cols);
}

/* kc rows of a panel of B into `dst`, k-major and zero-padded to its
 * width. */
static void
pack_b_panel (const float *B, size_t ldb, int kc, const Panel *panel, float *dst)
{
  const int width = panel->width, cols = panel->cols;
  const float *src = B + panel->j;
  if (cols == width) {
    for (int k = 0; k < kc; k++)
      pack_b_row (dst + (size_t) k * width, src + (size_t) k * ldb, width);
    return;
  }
  /* A partial panel, row by row in loops the compiler unrolls and
   * vectorises: with a memcpy and a memset per row the two calls cost a
   * fifth of N = 49, and column by column (a store per value, strided)
   * took 45 % of this driver's own time in the 112² net: 5.8 -> 4.5 % of
   * the run's samples (Zen 4). */
  for (int k = 0; k < kc; k++) {
    float *d = dst + (size_t) k * width;
    const float *s = src + (size_t) k * ldb;
    int col = 0;
    for (; col < cols; col++)
      d[col] = s[col];
    for (; col < width; col++)
      d[col] = 0.0f;
  }
}

void
fkp_sgemm_run (const FkpSgemmA *a, const float *B, size_t ldb, float *C, size_t ldc,
               const FkpSgemmEpilogue *epilogue, int panel_lo, int panel_hi,
               int col_lo, int col_hi, float *scratch)
{
  const FkpSgemmKernel *kern = kernel_for (a->isa);
  const FkpSgemmTileRows *tiles = tiles_for (kern, a->panel_rows);
  const int mr = a->panel_rows, K = a->K;
  const int panels_per_block = MAX (1, kern->block_rows / mr);
  const float *bias = epilogue != NULL ? epilogue->bias : NULL;
  const bool relu = epilogue != NULL && epilogue->relu;
  const unsigned activation = !relu ? 0
                              : epilogue->negative_slope != 0.0f ? FKP_SGEMM_TILE_LEAKY
                              : FKP_SGEMM_TILE_RELU;
  const float slope = relu ? epilogue->negative_slope : 0.0f;
  float *bpack = (float *) (((uintptr_t) scratch + 63) & ~(uintptr_t) 63);
  /* Few rows use each panel of B only a few times: packing it would cost
   * about as much as the tiles that read it (a third of the time at 16
   * rows), so the tiles read B where it is.  Measured on Zen 3 (M×N×K):
   * 16×196×192 +20 %, 32×16×832 +15 %, 16×49×480 +15 % with KC 128 (-10 %
   * with KC 240: the in-place panel outgrew L1). */
  panel_hi = MIN (panel_hi, a->n_panels);
  const bool in_place = (panel_hi - panel_lo) * mr <= IN_PLACE_MAX_ROWS;
  const bool rows_aligned = (uintptr_t) (B + col_lo) % 64 == 0 && ldb % 16 == 0;
  const int in_place_block_k = IN_PLACE_PANEL_BYTES / (rows_aligned ? 64 : 128);
  const int kc_max = k_block_length (in_place ? in_place_block_k
                                              : packed_block_k (kern, MIN (col_hi - col_lo,
                                                                           kern->block_cols)),
                                     K);
  Panel panels[MAX_PANELS];

  for (int n0 = col_lo; n0 < col_hi; n0 += kern->block_cols) {
    const int nc = MIN (kern->block_cols, col_hi - n0);
    const int n_panels = cut_panels (kern, tiles, nc, panels);
    /* Which panels are packed, [first, last): all but a last one that a
     * column tile reads in place; in place, only partial ones (zero
     * padding), which are last. */
    int first = 0, last = n_panels;
    if (exact_column_tile (tiles, panels[n_panels - 1].cols)
        && panels[n_panels - 1].cols < panels[n_panels - 1].width)
      last--;
    if (in_place)
      while (first < last && panels[first].cols == panels[first].width)
        first++;
    for (int k0 = 0; k0 < K; k0 += kc_max) {
      const int kc = MIN (kc_max, K - k0);
      const unsigned flags = (k0 > 0 ? FKP_SGEMM_TILE_ACCUMULATE : 0)
                             | (k0 + kc == K ? activation : 0);
      const float *b_block = B + (size_t) k0 * ldb + n0;
      const int packed_from = first < n_panels ? panels[first].j : nc;
      for (int i = first; i < last; i++)
        pack_b_panel (b_block, ldb, kc, &panels[i], bpack + (size_t) (panels[i].j - packed_from) * kc);
      for (int p0 = panel_lo; p0 < panel_hi; p0 += panels_per_block) {
        const int p1 = MIN (panel_hi, p0 + panels_per_block);
        for (int i = 0; i < n_panels; i++) {
          const Panel *panel = &panels[i];
          const bool packed = i >= first && i < last;
          const float *bp = packed ? bpack + (size_t) (panel->j - packed_from) * kc
                                   : b_block + panel->j;
          const size_t b_stride = packed ? (size_t) panel->width : ldb;
          FkpSgemmTileFunc tile = panel->width < kern->tile_cols ? tiles->narrow_tile : tiles->tile;
          if (has_column_tile (tiles, panel->cols))
            tile = tiles->column_tiles[panel->cols];
          for (int p = p0; p < p1; p++) {
            const float *ap = a->panels + ((size_t) p * K + k0) * mr;
            const int row = p * mr, rows = MIN (mr, a->M - row);
            const float *tile_bias = bias != NULL && k0 == 0 ? bias + row : NULL;
            float *c = C + (size_t) row * ldc + n0 + panel->j;
            tile (kc, ap, bp, b_stride, c, ldc, rows, panel->cols, tile_bias, flags, slope);
          }
        }
      }
    }
  }
}

bool
fkp_sgemm_pool2_supported (const FkpSgemmA *a)
{
  return a->K <= kernel_for (a->isa)->block_k;
}

void
fkp_sgemm_run_pool2 (const FkpSgemmA *a, const float *B, size_t ldb, int in_rows, int W,
                     float *C, size_t ldc, size_t c_row_stride, int out_rows, int PW,
                     const FkpSgemmEpilogue *epilogue, float *scratch)
{
  g_return_if_fail (fkp_sgemm_pool2_supported (a));
  const FkpSgemmKernel *kern = kernel_for (a->isa);
  const FkpSgemmTileRows *tiles = tiles_for (kern, a->panel_rows);
  const int mr = a->panel_rows, nr = kern->tile_cols, half = nr / 2, K = a->K;
  const bool relu = epilogue != NULL && epilogue->relu;
  const unsigned flags = FKP_SGEMM_TILE_POOL2
                         | (!relu ? 0
                            : epilogue->negative_slope != 0.0f ? FKP_SGEMM_TILE_LEAKY
                            : FKP_SGEMM_TILE_RELU);
  const float slope = relu ? epilogue->negative_slope : 0.0f;
  const float *bias = epilogue != NULL ? epilogue->bias : NULL;
  float *panel = (float *) (((uintptr_t) scratch + 63) & ~(uintptr_t) 63);
  for (int i = 0; i < out_rows; i++) {
    /* a cut last window: its one row twice, its one column twice */
    const float *top = B + (size_t) (2 * i) * W;
    const float *bottom = B + (size_t) MIN (2 * i + 1, in_rows - 1) * W;
    for (int x0 = 0; x0 < 2 * PW; x0 += half) {
      /* the panel: `half` columns of the top row, then the same of the
       * bottom row, k-major */
      if (x0 + half <= W) {
        for (int k = 0; k < K; k++) {
          pack_b_row (panel + (size_t) k * nr, top + (size_t) k * ldb + x0, half);
          pack_b_row (panel + (size_t) k * nr + half, bottom + (size_t) k * ldb + x0, half);
        }
      } else {
        for (int k = 0; k < K; k++)
          for (int l = 0; l < half; l++) {
            const int x = MIN (x0 + l, W - 1);
            panel[(size_t) k * nr + l] = top[(size_t) k * ldb + x];
            panel[(size_t) k * nr + half + l] = bottom[(size_t) k * ldb + x];
          }
      }
      const int cols = MIN (half / 2, PW - x0 / 2);
      for (int p = 0; p < a->n_panels; p++) {
        const int row = p * mr;
        tiles->tile (K, a->panels + (size_t) p * K * mr, panel, (size_t) nr,
                     C + (size_t) row * ldc + (size_t) i * c_row_stride + x0 / 2, ldc,
                     MIN (mr, a->M - row), cols, bias != NULL ? bias + row : NULL, flags, slope);
      }
    }
  }
}
