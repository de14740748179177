/* The core's multiply-add peak per ISA (fkp_sgemm_peak_gflops), which the
 * SGEMM's benchmark and the engine's profile measure their speed against. */
#include "sgemm.h"

#include <glib.h>

/* A run lasts about a millisecond, and the best of many counts: longer
 * runs on a shared machine measure the other processes too. */
#define PROBE_ITERS 500000
#define PROBE_RUNS 200

/* One probe per vector width: CHAINS (more than FMA latency × ports)
 * accumulators of float vectors of BYTES, each acc · mul + add (an FMA
 * where the target has one: this file is built with -ffp-contract=fast),
 * timed; returns GFLOP/s. */
#define DEFINE_PROBE(name, target, bytes, chains)                                                 \
  typedef float name##_vec __attribute__ ((vector_size (bytes)));                                 \
  target static double                                                                            \
  name (double *sink)                                                                             \
  {                                                                                               \
    enum { LANES = (bytes) / 4, CHAINS = (chains) };                                              \
    name##_vec acc[CHAINS];                                                                       \
    const float mul = 0.999999f, add = 1e-6f;                                                     \
    for (int i = 0; i < CHAINS; i++)                                                              \
      acc[i] = (name##_vec) { 0 } + (float) i;                                                    \
    const gint64 t0 = g_get_monotonic_time ();                                                    \
    for (int it = 0; it < PROBE_ITERS; it++)                                                      \
      _Pragma ("GCC unroll 24") for (int i = 0; i < CHAINS; i++)                                  \
        acc[i] = acc[i] * mul + add;                                                              \
    const double seconds = MAX ((g_get_monotonic_time () - t0) * 1e-6, 1e-6);                    \
    for (int i = 0; i < CHAINS; i++)                                                              \
      for (int l = 0; l < LANES; l++)                                                             \
        *sink += acc[i][l];                                                                       \
    return 2.0 * LANES * CHAINS * PROBE_ITERS / seconds * 1e-9;                                   \
  }

#if defined(FKP_SGEMM_X86)
DEFINE_PROBE (probe_avx512, __attribute__ ((target ("avx512f,fma"))), 64, 24)
DEFINE_PROBE (probe_avx2, __attribute__ ((target ("avx2,fma"))), 32, 12)
#endif
/* the target's baseline (SSE2 on x86-64: a multiply and an add) */
DEFINE_PROBE (probe_generic, , 16, 12)

double
fkp_sgemm_peak_gflops (FkpSgemmIsa isa)
{
  g_return_val_if_fail (fkp_sgemm_isa_supported (isa), 0.0);
  double best = 0.0, sink = 0.0;
  for (int run = 0; run < PROBE_RUNS; run++) {
    double g;
    switch (isa) {
#if defined(FKP_SGEMM_X86)
    case FKP_SGEMM_ISA_AVX512:
      g = probe_avx512 (&sink);
      break;
    case FKP_SGEMM_ISA_AVX2:
      g = probe_avx2 (&sink);
      break;
#endif
    default:
      g = probe_generic (&sink);
    }
    best = MAX (best, g);
  }
  /* keeps the chains alive: the compiler cannot drop what reaches here */
  volatile double keep = sink;
  (void) keep;
  return best;
}
