/* libfacekp-nn's own single-precision GEMM: C = A·B (+ bias per row, + ReLU)
 * with A (the weights) packed once at load and B (a feature map, or its
 * im2col unfolding) packed per call in cache-sized blocks.  The register
 * tile is chosen at run time from the CPU's features (AVX-512F, AVX2+FMA, or
 * portable C), not from OpenBLAS's table of known CPUs, so a core that
 * OpenBLAS does not know still runs at its peak.
 *
 * Internal to the engine: nothing here is exported from the library.  The
 * header needs only the C standard library so that it can move with the
 * engine's files. */
#ifndef FACEKP_NN_SGEMM_H
#define FACEKP_NN_SGEMM_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  FKP_SGEMM_ISA_GENERIC,       /* portable C, any CPU */
  FKP_SGEMM_ISA_AVX2,          /* AVX2 + FMA (x86-64-v3) */
  FKP_SGEMM_ISA_AVX512,        /* AVX-512F */
  FKP_SGEMM_N_ISAS
} FkpSgemmIsa;

/* The ISA this process uses: the best one the CPU supports, unless the
 * environment variable FKP_NN_ISA (avx512, avx2 or generic) names another
 * that it supports.  Decided once, on the first call; thread-safe. */
FkpSgemmIsa fkp_sgemm_isa (void);
const char *fkp_sgemm_isa_name (void);

/* Whether this CPU (and this build) can run the kernels of `isa`. */
bool fkp_sgemm_isa_supported (FkpSgemmIsa isa);
const char *fkp_sgemm_isa_label (FkpSgemmIsa isa);

/* What FKP_NN_ISA=`value` selects on this CPU: the named ISA if supported,
 * else (NULL, empty, unknown or unsupported) the best supported one. */
FkpSgemmIsa fkp_sgemm_isa_for_override (const char *value);

/* A (M×K) repacked for one ISA's register tile: ceil(M / rows) panels of
 * `panel_rows` rows each, a panel stored k-major (its column k is
 * panel_rows consecutive floats), the rows past M zero. */
typedef struct {
  FkpSgemmIsa isa;
  int M, K;
  int panel_rows;
  int n_panels;
  float *panels;               /* n_panels · K · panel_rows floats (+ 16), 64-byte aligned */
} FkpSgemmA;

/* Packs row-major A (row r at A + r·lda) for `isa`; free with
 * fkp_sgemm_a_free.  NULL when the memory cannot be had.  Costs n_panels ·
 * panel_rows · K + 16 floats: at most panel_rows - 1 rows (and 64 bytes)
 * more than A itself.  The panel height
 * depends on the ISA and on M (a shorter tile for M ≤ 48 where it pads
 * less). */
FkpSgemmA *fkp_sgemm_a_new (FkpSgemmIsa isa, const float *A, size_t lda, int M, int K);
void fkp_sgemm_a_free (FkpSgemmA *a);

/* Floats of scratch that one fkp_sgemm_run call on `a` needs for a range of
 * at most `cols` columns of B: one packed block of B, plus room to align
 * it.  Each concurrent caller needs its own. */
size_t fkp_sgemm_scratch_floats (const FkpSgemmA *a, int cols);

/* Columns of C one register tile computes: column ranges in multiples of
 * it leave no partial tile inside a range. */
int fkp_sgemm_tile_cols (const FkpSgemmA *a);

typedef struct {
  const float *bias;           /* M values added to the rows of C, or NULL */
  bool relu;                   /* then max (0, ·); or LeakyRelu where: */
  float negative_slope;        /* ≠ 0: x < 0 becomes negative_slope · x instead of 0 */
} FkpSgemmEpilogue;

/* C = A·B (+ epilogue) for the rows of panels [panel_lo, panel_hi) of `a`
 * and the columns [col_lo, col_hi) of B and C; B is K×N row-major (row k at
 * B + k·ldb), C is M×N (row r at C + r·ldc).  The rows and columns outside
 * the ranges are neither read nor written, so that threads can split the
 * rows by whole panels, the columns anyhow, or both.  `epilogue` may be
 * NULL.  `scratch` holds fkp_sgemm_scratch_floats (a, col_hi - col_lo)
 * floats. */
void fkp_sgemm_run (const FkpSgemmA *a, const float *B, size_t ldb, float *C, size_t ldc,
                    const FkpSgemmEpilogue *epilogue, int panel_lo, int panel_hi,
                    int col_lo, int col_hi, float *scratch);

/* Whether fkp_sgemm_run_pool2 takes `a`: all of K in one block (K at most
 * the ISA's block of K). */
bool fkp_sgemm_pool2_supported (const FkpSgemmA *a);

/* C = the 2×2/2 max pool of epilogue (A·B) for a 1×1 convolution whose
 * output rows are pooled as they are made: B is K rows (row k at B + k·ldb)
 * of `in_rows` image rows of W pixels each; pooled row i (i < out_rows ≤
 * ceil (in_rows / 2)) and column x (x < PW ≤ ceil (W / 2)) of channel m go
 * to C + m·ldc + i·c_row_stride + x.  A window cut by the image's edge
 * (ceil_mode) takes the pixels that are there.  No A·B is stored: each
 * register tile computes the same 16 columns (8 with AVX2, 4 on the
 * generic path) of two image rows and stores their pooled values.  `scratch`: as for
 * fkp_sgemm_run with any column count. */
void fkp_sgemm_run_pool2 (const FkpSgemmA *a, const float *B, size_t ldb, int in_rows, int W,
                          float *C, size_t ldc, size_t c_row_stride, int out_rows, int PW,
                          const FkpSgemmEpilogue *epilogue, float *scratch);

/* The core's multiply-add peak for `isa` in GFLOP/s, measured: the best of
 * many short runs of independent chains of vector FMAs (multiplies and adds
 * for the generic path) on registers.  Takes about 0.2 s; for benchmarks
 * and the profile, which compare the kernels' speed with it. */
double fkp_sgemm_peak_gflops (FkpSgemmIsa isa);

#endif
