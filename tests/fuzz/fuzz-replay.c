/* Runs files through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that any compiler's build replays the committed corpus and
 * the crash regressions as ordinary tests.  Arguments: files or folders
 * (each folder's files, not recursively). */
#include <stdint.h>
#include <stdio.h>
#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
replay_file (const char *path, guint *n_files)
{
  g_autofree gchar *contents = NULL;
  gsize length = 0;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (path, &contents, &length, &error)) {
    fprintf (stderr, "%s\n", error->message);
    return FALSE;
  }
  /* A fresh copy of exactly `length` bytes, so that a read past the end is
   * caught by a sanitizer or valgrind rather than landing in the NUL that
   * g_file_get_contents() adds. */
  g_autofree guint8 *exact = g_memdup2 (contents, length);
  LLVMFuzzerTestOneInput (exact, length);
  (*n_files)++;
  return TRUE;
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
  guint n_files = 0;
  gboolean ok = TRUE;
  for (int a = 1; a < argc; a++) {
    if (!g_file_test (argv[a], G_FILE_TEST_IS_DIR)) {
      ok &= replay_file (argv[a], &n_files);
      continue;
    }
    g_autoptr (GError) error = NULL;
    g_autoptr (GDir) dir = g_dir_open (argv[a], 0, &error);
    if (!dir) {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
    /* Sorted, so that a failing run is repeatable. */
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    for (const char *name; (name = g_dir_read_name (dir));)
      g_ptr_array_add (names, g_build_filename (argv[a], name, NULL));
    g_ptr_array_sort (names, compare_paths);
    for (guint i = 0; i < names->len; i++) {
      const char *path = g_ptr_array_index (names, i);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        ok &= replay_file (path, &n_files);
    }
  }
  printf ("replayed %u inputs\n", n_files);
  if (n_files == 0) {
    fprintf (stderr, "no input files\n");
    return 1;
  }
  return ok ? 0 : 1;
}
