/* Small models shared by the bad-file tests and the fuzzers' seed corpus:
 * together they reach most ops' attribute and shape checks in a few kB. */
#include "small-models.h"

/* conv 3×3 (+BN+ReLU) → maxpool → shape-chain reshape → gemm, with metadata. */
guint8 *
small_model (size_t *len, int64_t input_hw)
{
  int64_t xd[4] = { 1, 2, input_hw, input_hw }, wd[4] = { 3, 2, 3, 3 }, cd[1] = { 3 };
  int64_t gd[2] = { 4, 3 * (input_hw / 2) * (input_hw / 2) };
  float w[54], c[3] = { 0.1f, -0.2f, 0.3f }, ones[3] = { 1, 1.5f, 0.5f };
  float *g = g_new (float, gd[0] * gd[1]);
  for (int i = 0; i < 54; i++)
    w[i] = (float) ((i * 7) % 11) / 11.0f - 0.5f;
  for (int i = 0; i < gd[0] * gd[1]; i++)
    g[i] = (float) ((i * 5) % 13) / 13.0f - 0.5f;
  Builder *b = builder_new (17);
  builder_input (b, "image", 4, xd);
  builder_init_float (b, "w", 4, wd, w);
  builder_init_float (b, "bias", 1, cd, c);
  builder_init_floats_field (b, "gamma", 1, cd, ones);
  builder_init_float (b, "beta", 1, cd, c);
  builder_init_float (b, "mean", 1, cd, c);
  builder_init_float (b, "var", 1, cd, ones);
  builder_init_float (b, "fc", 2, gd, g);
  builder_init_int64 (b, "minus1", 1, (int64_t[]) { -1 });
  builder_init_int64 (b, "zero", 1, (int64_t[]) { 0 });
  Onnx__NodeProto *n = builder_node (b, "Conv", "conv1", IN ("image", "w", "bias"), OUT ("c"));
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  builder_node (b, "BatchNormalization", "bn1", IN ("c", "gamma", "beta", "mean", "var"), OUT ("n"));
  builder_node (b, "Relu", "relu1", IN ("n"), OUT ("r"));
  n = builder_node (b, "MaxPool", "pool1", IN ("r"), OUT ("p"));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 2, 2 });
  node_ints (b, n, "strides", 2, (int64_t[]) { 2, 2 });
  builder_node (b, "Shape", "shape", IN ("p"), OUT ("s"));
  n = builder_node (b, "Gather", "gather", IN ("s", "zero"), OUT ("batch"));
  n = builder_node (b, "Concat", "target", IN ("batch", "minus1"), OUT ("t"));
  node_int (b, n, "axis", 0);
  builder_node (b, "Reshape", "flatten", IN ("p", "t"), OUT ("f"));
  n = builder_node (b, "Gemm", "fc1", IN ("f", "fc"), OUT ("out"));
  node_int (b, n, "transB", 1);
  builder_output (b, "out");
  builder_metadata (b, "facekp.task", "test");
  builder_metadata (b, "facekp.note", "a small model");
  guint8 *buf = builder_pack (b, len);
  builder_free (b);
  g_free (g);
  return buf;
}

/* A second model touching the other ops (depthwise conv, Pad, Resize,
 * Slice, Transpose, Softmax, ReduceMean, ArgMax+Cast, Mul broadcast,
 * AveragePool, Clip, Softmax), so that fuzzing reaches their attribute and
 * shape checks too. */
guint8 *
mixed_model (size_t *len)
{
  int64_t xd[4] = { 1, 3, 6, 6 }, wd[4] = { 3, 1, 3, 3 };
  float w[27];
  for (int i = 0; i < 27; i++)
    w[i] = (float) (i % 5) / 5.0f - 0.3f;
  Builder *b = builder_new (13);
  builder_input (b, "x", 4, xd);
  builder_init_float (b, "dw", 4, wd, w);
  builder_init_int64 (b, "pads", 8, (int64_t[]) { 0, 0, 1, 1, 0, 0, 1, 1 });
  builder_init_float (b, "roi", 1, (int64_t[]) { 0 }, NULL);
  builder_init_float (b, "scales", 1, (int64_t[]) { 4 }, (float[]) { 1, 1, 0.5f, 0.5f });
  builder_init_int64 (b, "starts", 2, (int64_t[]) { 1, -4 });
  builder_init_int64 (b, "ends", 2, (int64_t[]) { 3, 100 });
  builder_init_int64 (b, "axes", 2, (int64_t[]) { 1, 3 });
  builder_init_float (b, "lo", 0, NULL, (float[]) { -0.5f });
  builder_init_float (b, "hi", 0, NULL, (float[]) { 0.5f });
  Onnx__NodeProto *n = builder_node (b, "Conv", "dwconv", IN ("x", "dw"), OUT ("c"));
  node_int (b, n, "group", 3);
  node_ints (b, n, "pads", 4, (int64_t[]) { 1, 1, 1, 1 });
  builder_node (b, "Clip", "clip", IN ("c", "lo", "hi"), OUT ("k"));
  builder_node (b, "Pad", "pad", IN ("k", "pads"), OUT ("p"));
  n = builder_node (b, "Resize", "resize", IN ("p", "roi", "scales"), OUT ("r"));
  node_string (b, n, "mode", "linear");
  n = builder_node (b, "ReduceMean", "mean", IN ("r"), OUT ("m"));
  node_ints (b, n, "axes", 1, (int64_t[]) { 1 });
  n = builder_node (b, "ArgMax", "argmax", IN ("r"), OUT ("i"));
  node_int (b, n, "axis", 1);
  n = builder_node (b, "Cast", "cast", IN ("i"), OUT ("f"));
  node_int (b, n, "to", 1);
  n = builder_node (b, "Concat", "cat", IN ("m", "f"), OUT ("mf"));
  node_int (b, n, "axis", 1);
  builder_node (b, "Slice", "slice", IN ("r", "starts", "ends", "axes"), OUT ("s"));
  builder_node (b, "Mul", "mul", IN ("s", "mf"), OUT ("g"));
  n = builder_node (b, "AveragePool", "avg", IN ("g"), OUT ("a"));
  node_ints (b, n, "kernel_shape", 2, (int64_t[]) { 2, 2 });
  node_int (b, n, "ceil_mode", 1);
  n = builder_node (b, "Transpose", "tr", IN ("a"), OUT ("t"));
  node_ints (b, n, "perm", 4, (int64_t[]) { 0, 2, 3, 1 });
  n = builder_node (b, "Softmax", "softmax", IN ("t"), OUT ("y"));
  node_int (b, n, "axis", -1);
  builder_output (b, "y");
  guint8 *buf = builder_pack (b, len);
  builder_free (b);
  return buf;
}
