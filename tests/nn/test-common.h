/* Helpers shared by the nn-core tests. */
#ifndef FACEKP_TEST_NN_COMMON_H
#define FACEKP_TEST_NN_COMMON_H

#include <math.h>
#include <string.h>
#include <glib.h>
#include "facekp/nn.h"
#include "onnx-builder.h"

/* AddressSanitizer reserves terabytes of address space for its shadow, so a
 * process of an ASan build cannot start under RLIMIT_AS: the tests that set
 * one check the same errors without the limit there. */
#if defined(__SANITIZE_ADDRESS__)
#define FKP_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FKP_TEST_UNDER_ASAN 1
#endif
#endif
#ifndef FKP_TEST_UNDER_ASAN
#define FKP_TEST_UNDER_ASAN 0
#endif

static inline float *
random_floats (size_t n, float lo, float hi)
{
  float *v = g_new (float, MAX (n, 1));
  for (size_t i = 0; i < n; i++)
    v[i] = (float) g_test_rand_double_range (lo, hi);
  return v;
}

static inline size_t
dims_count (int rank, const int64_t *dims)
{
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t) dims[i];
  return n;
}

/* Loads a built model, asserting success. */
static inline FkpNet *
load_built (Builder *b, int threads)
{
  size_t len;
  guint8 *buf = builder_pack (b, &len);
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = threads;
  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (buf, len, &opts, &error);
  g_assert_no_error (error);
  g_assert_nonnull (net);
  g_free (buf);
  return net;
}

/* max |got - want| <= tol * max(1, max |want|) */
static inline void
assert_close (const float *got, const float *want, size_t n, double tol, const char *what)
{
  double scale = 1.0, worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++)
    scale = MAX (scale, fabs (want[i]));
  for (size_t i = 0; i < n; i++) {
    double d = fabs ((double) got[i] - want[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= tol * scale))
    g_error ("%s: element %zu is %.8g, reference %.8g (max error %.3g, allowed %.3g)", what, at,
             got[at], want[at], worst, tol * scale);
}

#endif
