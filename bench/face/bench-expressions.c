/* Cost of the expression signals per face per frame
 * (fkp_expression_tracker_update: measure the points, step six states),
 * against what the pipeline already spends on the same face in the same
 * run: One-Euro smoothing of its 136 coordinates.
 *
 *   bench-expressions [--frames N]
 *
 * Faces are the labelled rows of tests/data/expressions-faces.csv, each
 * frame moved by a pixel and its mouth opened or closed a little, so the
 * states change now and then.  Times are thread CPU time (the shared build
 * machine's wall time mostly measures other jobs), median of 5 rounds. */
#include <facekp/expressions.h>
#include "face-private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

int
main (int argc, char **argv)
{
  int frames = 200000;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp (argv[i], "--frames"))
      frames = MAX (1, atoi (argv[++i]));
  char *text = NULL;
  if (!g_file_get_contents (BENCH_DATA_DIR "/expressions-faces.csv", &text, NULL, NULL))
    return 1;
  char **lines = g_strsplit (text, "\n", -1);
  typedef float Points[FKP_FACE_N_POINTS][2];
  Points *faces = g_new (Points, g_strv_length (lines));
  int n = 0;
  for (int i = 1; lines[i]; i++) {
    char **cells = g_strsplit (lines[i], ",", -1);
    if (g_strv_length (cells) == 1 + 2 * FKP_FACE_N_POINTS) {
      for (int k = 0; k < 2 * FKP_FACE_N_POINTS; k++)
        faces[n][k / 2][k % 2] = (float) g_ascii_strtod (cells[k + 1], NULL);
      n++;
    }
    g_strfreev (cells);
  }
  g_strfreev (lines);
  g_free (text);

  /* Each frame's points, made beforehand so that only the work is timed. */
  enum { VARIANTS = 64 };
  Points *points = g_new (Points, VARIANTS);
  for (int v = 0; v < VARIANTS; v++) {
    memcpy (points[v], faces[v % n], sizeof points[v]);
    for (int k = 0; k < FKP_FACE_N_POINTS; k++) {
      points[v][k][0] += (float) sin (v * 0.7 + k);
      points[v][k][1] += (float) cos (v * 0.3 + k) + (k >= 65 && k <= 67 ? (v % 8) : 0);
    }
  }

  double t_expr[5], t_smooth[5];
  guint32 sink = 0;
  for (int round = 0; round < 5; round++) {
    FkpExpressionTracker tracker = { 0 };
    FkpFace face;
    double t0 = cpu_seconds ();
    for (int f = 0; f < frames; f++) {
      fkp_expression_tracker_update (&tracker, (const float (*)[2]) points[f % VARIANTS],
                                     1.0 / 30, &face);
      sink += face.expression_states;
    }
    t_expr[round] = (cpu_seconds () - t0) / frames;

    FkpOneEuro filters[FKP_FACE_N_POINTS][2];
    memset (filters, 0, sizeof filters);
    t0 = cpu_seconds ();
    for (int f = 0; f < frames; f++)
      for (int k = 0; k < FKP_FACE_N_POINTS; k++)
        for (int c = 0; c < 2; c++)
          sink += (guint32) fkp_one_euro_filter (&filters[k][c], points[f % VARIANTS][k][c],
                                                 1.0 / 30, 1.0, 40.0, 1.0, 100.0);
    t_smooth[round] = (cpu_seconds () - t0) / frames;
  }
  qsort (t_expr, 5, sizeof (double), cmp_double);
  qsort (t_smooth, 5, sizeof (double), cmp_double);
  printf ("expressions per face per frame: %.3f us (thread CPU, median of 5 x %d frames; "
          "range %.3f-%.3f)\n", t_expr[2] * 1e6, frames, t_expr[0] * 1e6, t_expr[4] * 1e6);
  printf ("peer, One-Euro smoothing of the same face: %.3f us\n", t_smooth[2] * 1e6);
  printf ("budget 100 us: %s (%u)\n", t_expr[4] < 100e-6 ? "met" : "NOT met", sink & 1);
  g_free (points);
  g_free (faces);
  return t_expr[4] < 100e-6 ? 0 : 1;
}
