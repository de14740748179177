/* Builds small ONNX models in memory for the nn-core tests, with the
 * protobuf-c structs generated from nn-core's onnx.proto. */
#ifndef FACEKP_TEST_ONNX_BUILDER_H
#define FACEKP_TEST_ONNX_BUILDER_H

#include <glib.h>
#include <stdint.h>
#include "onnx.pb-c.h"

typedef struct Builder Builder;

Builder *builder_new (int64_t opset);
void builder_free (Builder *b);

/* Graph inputs/outputs; dims < 0 become a symbolic dim "N". */
void builder_input (Builder *b, const char *name, int rank, const int64_t *dims);
void builder_input_typed (Builder *b, const char *name, int elem_type, int rank,
                          const int64_t *dims);
void builder_output (Builder *b, const char *name);
/* Float initializer stored as raw_data (or float_data when `as_floats`). */
Onnx__TensorProto *builder_init_float (Builder *b, const char *name, int rank,
                                       const int64_t *dims, const float *values);
Onnx__TensorProto *builder_init_floats_field (Builder *b, const char *name, int rank,
                                              const int64_t *dims, const float *values);
Onnx__TensorProto *builder_init_int64 (Builder *b, const char *name, int n, const int64_t *values);
/* A node; inputs and outputs are NULL-terminated lists ("" for an absent input). */
Onnx__NodeProto *builder_node (Builder *b, const char *op, const char *name,
                               const char *const *inputs, const char *const *outputs);
void node_int (Builder *b, Onnx__NodeProto *n, const char *name, int64_t value);
void node_float (Builder *b, Onnx__NodeProto *n, const char *name, float value);
void node_ints (Builder *b, Onnx__NodeProto *n, const char *name, int count, const int64_t *values);
void node_string (Builder *b, Onnx__NodeProto *n, const char *name, const char *value);
void builder_metadata (Builder *b, const char *key, const char *value);
/* Serialises the model; g_free() the result. */
guint8 *builder_pack (Builder *b, size_t *length);

/* Convenience: NULL-terminated string lists. */
#define IN(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define OUT(...) ((const char *const[]) { __VA_ARGS__, NULL })

#endif
