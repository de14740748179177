/* bench-sgemm: the engine's own SGEMM (nn-core/src/sgemm/) against OpenBLAS's
 * cblas_sgemm on one thread, on the GEMMs of the shipped models'
 * convolutions, with the core's measured FMA peak for the chosen ISA.
 *
 *   meson compile -C build bench-nn-sgemm   # or: build/bench/nn/bench-sgemm [-s SAMPLES] [M N K]
 *   FKP_NN_ISA=generic build/bench/nn/bench-sgemm
 *
 * OpenBLAS runs as users have it: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
 * (which override its choice of kernels and blocking, and are read when the
 * library loads) are removed by re-executing this program without them.
 * Each shape alternates the two libraries sample by sample, so that load
 * from other processes hits both, and reports medians.  Our A is packed
 * beforehand (the engine packs weights at load); OpenBLAS packs both
 * operands inside every call, as it does in the engine. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include "sgemm.h"

typedef struct {
  const char *what;
  int M, N, K;
  int count;                   /* convolutions of the network with this shape */
} GemmShape;

/* M = output channels, N = OH·OW, K = input channels · kh · kw of every
 * GEMM convolution that `FKP_NN_PROFILE=1 facekp-nn bench` lists for
 * models/facekp-landmarks68.onnx (112², "lm": 57 convolutions, 49 shapes)
 * and the detector's pointwise ones at 480×640 ("det"); the direct
 * single-output-channel and depthwise convolutions are not GEMMs. */
static const GemmShape shapes[] = {
  { "lm stem.0 7x7/2", 64, 3136, 49, 1 },
  { "lm stem.4 1x1", 64, 784, 64, 1 },
  { "lm stem.5 3x3", 192, 784, 576, 1 },
  { "lm s3.0 b1 1x1", 64, 196, 192, 1 },
  { "lm s3.0 b3.0 1x1", 96, 196, 192, 1 },
  { "lm s3.0 b5.0 1x1", 16, 196, 192, 1 },
  { "lm s3.0 b3.1 3x3", 128, 196, 864, 1 },
  { "lm s3.0 b5.1 5x5", 32, 196, 400, 1 },
  { "lm s3.0 bp 1x1", 32, 196, 192, 1 },
  { "lm s3.1 b1 1x1", 128, 196, 256, 2 },
  { "lm s3.1 b5.0 1x1", 32, 196, 256, 1 },
  { "lm s3.1 b3.1 3x3", 192, 196, 1152, 1 },
  { "lm s3.1 b5.1 5x5", 96, 196, 800, 1 },
  { "lm s3.1 bp 1x1", 64, 196, 256, 1 },
  { "lm s4.0 b1 1x1", 192, 49, 480, 1 },
  { "lm s4.0 b3.0 1x1", 96, 49, 480, 1 },
  { "lm s4.0 b5.0 1x1", 16, 49, 480, 1 },
  { "lm s4.0 b3.1 3x3", 208, 49, 864, 1 },
  { "lm s4.0 b5.1 5x5", 48, 49, 400, 1 },
  { "lm s4.0 bp 1x1", 64, 49, 480, 1 },
  { "lm s4.1 b1 1x1", 160, 49, 512, 1 },
  { "lm s4.1 b3.0 1x1", 112, 49, 512, 2 },
  { "lm s4.1 b5.0 1x1", 24, 49, 512, 2 },
  { "lm s4.1 b3.1 3x3", 224, 49, 1008, 1 },
  { "lm s4.1 b5.1 5x5", 64, 49, 600, 2 },
  { "lm s4.1 bp 1x1", 64, 49, 512, 3 },
  { "lm s4.2 b1 1x1", 128, 49, 512, 2 },
  { "lm s4.2 b3.1 3x3", 256, 49, 1152, 1 },
  { "lm s4.3 b3.0 1x1", 144, 49, 512, 1 },
  { "lm s4.3 b5.0 1x1", 32, 49, 512, 1 },
  { "lm s4.3 b3.1 3x3", 288, 49, 1296, 1 },
  { "lm s4.3 b5.1 5x5", 64, 49, 800, 1 },
  { "lm s4.4 b1 1x1", 256, 49, 528, 1 },
  { "lm s4.4 b3.0 1x1", 160, 49, 528, 1 },
  { "lm s4.4 b5.0 1x1", 32, 49, 528, 1 },
  { "lm s4.4 b3.1 3x3", 320, 49, 1440, 1 },
  { "lm s4.4 b5.1 5x5", 128, 49, 800, 1 },
  { "lm s4.4 bp 1x1", 128, 49, 528, 1 },
  { "lm s5.0 b1 1x1", 256, 16, 832, 1 },
  { "lm s5.0 b3.0 1x1", 160, 16, 832, 1 },
  { "lm s5.0 b5.0 1x1", 32, 16, 832, 1 },
  { "lm s5.0 b3.1 3x3", 320, 16, 1440, 1 },
  { "lm s5.0 b5.1 5x5", 128, 16, 800, 1 },
  { "lm s5.0 bp 1x1", 128, 16, 832, 2 },
  { "lm s5.1 b1 1x1", 384, 16, 832, 1 },
  { "lm s5.1 b3.0 1x1", 192, 16, 832, 1 },
  { "lm s5.1 b5.0 1x1", 48, 16, 832, 1 },
  { "lm s5.1 b3.1 3x3", 384, 16, 1728, 1 },
  { "lm s5.1 b5.1 5x5", 128, 16, 1200, 1 },
  { "det conv1.pw 1x1", 32, 76241, 16, 1 },
  { "det conv2.pw 1x1", 64, 19200, 32, 1 },
  { "det conv3.pw 1x1", 128, 4800, 64, 1 },
  { "det conv4.pw 1x1", 256, 1200, 128, 1 },
  { "det conv5.pw 1x1", 512, 300, 256, 1 },
  { "det conv8 1x1", 25, 300, 512, 1 },
  { "large square", 512, 512, 512, 1 },
  { "large", 256, 3136, 1152, 1 },
};

/* OpenBLAS reads these when it loads, before main: the only way to run
 * without them is a fresh process. */
static void
reexec_without_openblas_overrides (char **argv)
{
  if (getenv ("OPENBLAS_CORETYPE") == NULL && getenv ("OPENBLAS_L2_SIZE") == NULL)
    return;
  unsetenv ("OPENBLAS_CORETYPE");
  unsetenv ("OPENBLAS_L2_SIZE");
  execv ("/proc/self/exe", argv);
  perror ("bench-sgemm: re-exec without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE");
  exit (1);
}

typedef struct {
  const GemmShape *shape;
  const float *A, *B;
  float *C;
  FkpSgemmA *packed;
  float *scratch;
} Job;

static void
run_ours (const Job *j)
{
  const GemmShape *s = j->shape;
  fkp_sgemm_run (j->packed, j->B, (size_t) s->N, j->C, (size_t) s->N, NULL, 0,
                 j->packed->n_panels, 0, s->N, j->scratch);
}

static void
run_openblas (const Job *j)
{
  const GemmShape *s = j->shape;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, s->M, s->N, s->K, 1.0f, j->A, s->K,
               j->B, s->N, 0.0f, j->C, s->N);
}

/* Seconds per call over `calls` calls. */
static double
time_calls (void (*fn) (const Job *), const Job *j, int calls)
{
  const gint64 t0 = g_get_monotonic_time ();
  for (int i = 0; i < calls; i++)
    fn (j);
  return (g_get_monotonic_time () - t0) * 1e-6 / calls;
}

static int
compare_doubles (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof (double), compare_doubles);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *
filled (size_t n)
{
  float *v = g_new (float, n);
  for (size_t i = 0; i < n; i++)
    v[i] = (float) ((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  return v;
}

static void
cpu_model (char *name, size_t size)
{
  g_strlcpy (name, "unknown CPU", size);
  char *text = NULL;
  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return;
  const char *line = strstr (text, "model name");
  const char *colon = line != NULL ? strchr (line, ':') : NULL;
  if (colon != NULL) {
    const size_t len = strcspn (colon + 2, "\n");
    g_strlcpy (name, colon + 2, MIN (size, len + 1));
  }
  g_free (text);
}

/* Times one shape, the two libraries alternating sample by sample; prints
 * its line and returns the median and the best seconds per call of each. */
static void
bench_shape (FkpSgemmIsa isa, const GemmShape *s, int samples, double peak, double t_ours[2],
             double t_openblas[2])
{
  Job j = { s, filled ((size_t) s->M * s->K), filled ((size_t) s->K * s->N),
            g_new (float, (size_t) s->M * s->N), NULL, NULL };
  j.packed = fkp_sgemm_a_new (isa, j.A, (size_t) s->K, s->M, s->K);
  j.scratch = g_new (float, fkp_sgemm_scratch_floats (j.packed, s->N));

  /* Enough calls per sample for about 2 ms, after a warm-up of both. */
  run_ours (&j);
  run_openblas (&j);
  const double once = MAX (time_calls (run_openblas, &j, 3), 1e-7);
  const int calls = (int) CLAMP (2e-3 / once, 1.0, 1e6);
  double *ours = g_new (double, samples), *openblas = g_new (double, samples);
  for (int k = 0; k < samples; k++) {
    if (k % 2) {
      ours[k] = time_calls (run_ours, &j, calls);
      openblas[k] = time_calls (run_openblas, &j, calls);
    } else {
      openblas[k] = time_calls (run_openblas, &j, calls);
      ours[k] = time_calls (run_ours, &j, calls);
    }
  }
  t_ours[0] = median (ours, samples);      /* sorts: [0] is the best */
  t_openblas[0] = median (openblas, samples);
  t_ours[1] = ours[0];
  t_openblas[1] = openblas[0];

  const double flops = 2.0 * s->M * s->N * s->K;
  const double g_ours = flops / t_ours[0] * 1e-9, g_openblas = flops / t_openblas[0] * 1e-9;
  printf ("%-20s %5d %6d %5d  %8.1f %8.1f  %5.2f  %5.0f%% %5.0f%%  %5.2f\n", s->what, s->M, s->N,
          s->K, g_ours, g_openblas, t_openblas[0] / t_ours[0], 100.0 * g_ours / peak,
          100.0 * g_openblas / peak, t_openblas[1] / t_ours[1]);
  fflush (stdout);

  g_free (ours);
  g_free (openblas);
  g_free (j.scratch);
  fkp_sgemm_a_free (j.packed);
  g_free (j.C);
  g_free ((float *) j.B);
  g_free ((float *) j.A);
}

int
main (int argc, char **argv)
{
  reexec_without_openblas_overrides (argv);
  int samples = 21, arg = 1;
  GemmShape one = { "given", 0, 0, 0, 1 };
  if (arg + 1 < argc && strcmp (argv[arg], "-s") == 0) {
    samples = MAX (1, atoi (argv[arg + 1]));
    arg += 2;
  }
  if (arg + 3 == argc) {
    one.M = atoi (argv[arg]);
    one.N = atoi (argv[arg + 1]);
    one.K = atoi (argv[arg + 2]);
  }
  if ((arg != argc && arg + 3 != argc) || (arg + 3 == argc && MIN (one.M, MIN (one.N, one.K)) < 1)) {
    fprintf (stderr, "usage: bench-sgemm [-s SAMPLES] [M N K]\n");
    return 2;
  }
  openblas_set_num_threads (1);

  const FkpSgemmIsa isa = fkp_sgemm_isa ();
  char cpu[128];
  cpu_model (cpu, sizeof cpu);
  const double peak = fkp_sgemm_peak_gflops (isa);
  printf ("CPU: %s; 1 thread\n", cpu);
  printf ("OpenBLAS: %s, core %s (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset)\n",
          openblas_get_config (), openblas_get_corename ());
  printf ("ours: %s; measured FMA peak %.1f GFLOP/s per core\n", fkp_sgemm_isa_name (), peak);
  printf ("median of %d interleaved samples per shape (ratio: OpenBLAS time / ours; "
          "ratio best: of the fastest samples)\n\n", samples);
  printf ("%-20s %5s %6s %5s  %8s %8s  %5s  %6s %6s  %5s\n", "shape", "M", "N", "K", "ours",
          "OpenBLAS", "ratio", "%peak", "%peak", "ratio");
  printf ("%-20s %5s %6s %5s  %8s %8s  %5s  %6s %6s  %5s\n", "", "", "", "", "GFLOP/s", "GFLOP/s",
          "", "ours", "OBLAS", "best");

  double t_ours[2], t_openblas[2];
  if (one.M > 0) {
    bench_shape (isa, &one, samples, peak, t_ours, t_openblas);
    return 0;
  }
  double total_ours[2] = { 0 }, total_openblas[2] = { 0 };
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++) {
    bench_shape (isa, &shapes[i], samples, peak, t_ours, t_openblas);
    if (g_str_has_prefix (shapes[i].what, "lm "))
      for (int m = 0; m < 2; m++) {
        total_ours[m] += shapes[i].count * t_ours[m];
        total_openblas[m] += shapes[i].count * t_openblas[m];
      }
  }
  printf ("\nlandmark network, all 57 GEMM convolutions at 112², medians: ours %.0f us, "
          "OpenBLAS %.0f us, ratio %.2f; best samples: ours %.0f us, OpenBLAS %.0f us, "
          "ratio %.2f\n", total_ours[0] * 1e6, total_openblas[0] * 1e6,
          total_openblas[0] / total_ours[0], total_ours[1] * 1e6, total_openblas[1] * 1e6,
          total_openblas[1] / total_ours[1]);
  return 0;
}
