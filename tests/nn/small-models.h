/* Small models for the nn-core tests and the fuzz seeds (small-models.c). */
#ifndef FACEKP_TEST_NN_SMALL_MODELS_H
#define FACEKP_TEST_NN_SMALL_MODELS_H

#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include "onnx-builder.h"

/* conv → BN → ReLU → maxpool → shape-chain reshape → gemm on a 1×2×HW×HW
 * input, with metadata.  Returns the serialised model; g_free() it. */
guint8 *small_model (size_t *len, int64_t input_hw);
/* Depthwise conv, Clip, Pad, Resize, ReduceMean, ArgMax+Cast, Concat, Slice,
 * Mul broadcast, AveragePool, Transpose and Softmax on a 1×3×6×6 input. */
guint8 *mixed_model (size_t *len);

#endif
