/* libFuzzer target: any bytes as an ONNX model through nn-core's loader,
 * and, when it loads, one run on a constant input.  Budgets are far below
 * the library's defaults so that one input cannot take the fuzzer's memory
 * or minutes of time; what is under test is that every input either loads
 * and runs or fails with an FKP_NN_ERROR, never crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <glib.h>
#include "facekp/nn.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Small enough to keep one execution to milliseconds, large enough for the
 * seed models (a few kB of weights, 1×3×6×6 activations) many times over.
 * Under the fuzzer's instrumentation every comparison in an op's inner loop
 * is traced: with 4 MiB of activations and 50 M multiply-adds, the runs of
 * the largest nets took most of the time (60 % of it in the comparison
 * hooks; 1,100 executions a second).  1 MiB and 2 M keep every edge the
 * corpus reached (5,997; 512 KiB lost 300, the algorithms chosen for larger
 * convolutions) at 4,300 executions a second. */
#define FUZZ_WEIGHT_BYTES (4u << 20)
#define FUZZ_ACTIVATION_BYTES (1u << 20)
/* The budgets bound memory, not time: a model of a few hundred bytes can ask
 * for 10^12 multiply-adds.  Such a net is loaded (the loader is what is
 * under test) but not run. */
#define FUZZ_MAX_MACS (2u * 1000 * 1000)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FkpNetOptions opts;
  fkp_net_options_init (&opts);
  opts.threads = 1;
  opts.max_weight_bytes = FUZZ_WEIGHT_BYTES;
  opts.max_activation_bytes = FUZZ_ACTIVATION_BYTES;

  GError *error = NULL;
  FkpNet *net = fkp_net_new_from_data (data, size, &opts, &error);
  if (!net) {
    /* The contract: a failed load always says why, in the library's domain. */
    if (!error || error->domain != FKP_NN_ERROR || !error->message || !error->message[0])
      abort ();
    g_error_free (error);
    return 0;
  }

  FkpNetStats stats;
  fkp_net_get_stats (net, &stats);
  if (stats.n_macs > FUZZ_MAX_MACS) {
    fkp_net_free (net);
    return 0;
  }
  for (size_t i = 0; i < fkp_net_get_n_inputs (net); i++) {
    FkpShape shape;
    if (!fkp_net_get_input_shape (net, i, &shape))
      abort ();
    float *in = fkp_net_get_input_data (net, i);
    size_t n = fkp_shape_n_elements (&shape);
    for (size_t k = 0; k < n; k++)
      in[k] = (float) (k % 7) * 0.25f - 0.5f;
  }
  if (!fkp_net_run (net, &error)) {
    if (!error || error->domain != FKP_NN_ERROR)
      abort ();
    g_clear_error (&error);
  }
  /* Read everything a caller might: outputs and metadata. */
  volatile float sink = 0.0f;
  for (size_t i = 0; i < fkp_net_get_n_outputs (net); i++) {
    FkpShape shape;
    const float *out = fkp_net_get_output_data (net, i);
    if (fkp_net_get_output_shape (net, i, &shape) && out && fkp_shape_n_elements (&shape) > 0)
      sink += out[fkp_shape_n_elements (&shape) - 1];
  }
  const char *const *keys = fkp_net_get_metadata_keys (net);
  for (size_t i = 0; keys && keys[i]; i++)
    if (!fkp_net_get_metadata (net, keys[i]))
      abort ();
  (void) sink;
  fkp_net_free (net);
  return 0;
}
