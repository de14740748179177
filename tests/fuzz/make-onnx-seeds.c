/* Writes the ONNX fuzzer's seed models (tests/fuzz/corpus/onnx) from the
 * test models in tests/nn: small, valid networks that reach most ops and the
 * loader's shape and constant folding.  Run by hand when the models change:
 *   meson compile -C build make-onnx-seeds && build/tests/fuzz/make-onnx-seeds tests/fuzz/corpus/onnx */
#include <stdio.h>
#include <glib.h>
#include "small-models.h"

static gboolean
write_seed (const char *dir, const char *name, guint8 *data, size_t len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  gboolean ok = g_file_set_contents (path, (const char *) data, (gssize) len, &error);
  if (!ok)
    fprintf (stderr, "%s\n", error->message);
  g_free (data);
  return ok;
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s OUTPUT-FOLDER\n", argv[0]);
    return 2;
  }
  size_t len;
  gboolean ok = TRUE;
  guint8 *data = small_model (&len, 4);
  ok &= write_seed (argv[1], "small-4.onnx", data, len);
  data = small_model (&len, 8);
  ok &= write_seed (argv[1], "small-8.onnx", data, len);
  data = mixed_model (&len);
  ok &= write_seed (argv[1], "mixed.onnx", data, len);
  return ok ? 0 : 1;
}
