/* Sticker pack loading: parses the GKeyFile, validates every key and decodes
 * every image, so a bad pack fails at load with an error naming file, group
 * and key, and rendering never meets a surprise. */
#include "stickers-private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

FKP_PUBLIC G_DEFINE_QUARK (fkp-sticker-error-quark, fkp_sticker_error)

#define PACK_GROUP "pack"
#define STICKER_GROUP_PREFIX "sticker "
#define PACK_FORMAT_VERSION 1
/* Larger images are refused: a pack should not be able to exhaust memory. */
#define MAX_IMAGE_SIDE 8192
#define MAX_FRAME_DURATION_MS 600000

static const char *const pack_keys[] = { "name", "version", "description", "author", NULL };
static const char *const sticker_keys[] = {
  "image", "images", "frame-duration", "anchor", "size", "reference", "offset",
  "rotate", "opacity", "z", "faces", "trigger", "play", "fade-in", "fade-out", "max-yaw",
  "squeeze", NULL
};

typedef struct {
  const char *name;
  guint8 points[4];
  guint n_points;
  gboolean forehead;
} NamedAnchor;

/* Named anchors as the mean of landmarks (0-based iBUG indices). */
static const NamedAnchor named_anchors[] = {
  { "left-eye",     { 36, 39 },         2, FALSE },
  { "right-eye",    { 42, 45 },         2, FALSE },
  { "eyes-centre",  { 36, 39, 42, 45 }, 4, FALSE },
  { "eyes-center",  { 36, 39, 42, 45 }, 4, FALSE },
  { "nose-tip",     { 30 },             1, FALSE },
  { "mouth-centre", { 48, 51, 54, 57 }, 4, FALSE },
  { "mouth-center", { 48, 51, 54, 57 }, 4, FALSE },
  { "chin",         { 8 },              1, FALSE },
  { "forehead",     { 36, 39, 42, 45 }, 4, TRUE },
};

/* Context for error messages: every error says where it came from. */
typedef struct {
  const char *path;
  const char *group;
} Where;

G_GNUC_PRINTF (5, 6) static void
set_error (GError **error, FkpStickerError code, const Where *where, const char *key,
           const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *detail = g_strdup_vprintf (format, args);
  va_end (args);
  if (key)
    g_set_error (error, FKP_STICKER_ERROR, code, "%s: [%s] %s: %s", where->path,
                 where->group, key, detail);
  else
    g_set_error (error, FKP_STICKER_ERROR, code, "%s: [%s]: %s", where->path,
                 where->group, detail);
}

void
fkp_sticker_image_free (StickerImage *image)
{
  if (!image)
    return;
  g_free (image->path);
  g_clear_pointer (&image->png, cairo_surface_destroy);
  g_clear_object (&image->svg);
  g_free (image);
}

static void
raster_cache_entry_free (gpointer data)
{
  RasterCacheEntry *entry = data;
  cairo_surface_destroy (entry->raster);
  g_free (entry);
}

FKP_PUBLIC void
fkp_sticker_pack_free (FkpStickerPack *pack)
{
  if (!pack)
    return;
  for (guint i = 0; i < pack->n_stickers; i++) {
    g_free (pack->stickers[i].name);
    g_free (pack->stickers[i].frames);
    g_free (pack->stickers[i].face_ids);
  }
  g_free (pack->stickers);
  if (pack->cache)
    g_ptr_array_unref (pack->cache);
  if (pack->images)
    g_ptr_array_unref (pack->images);
  g_mutex_clear (&pack->lock);
  g_free (pack->name);
  g_free (pack->path);
  g_free (pack);
}

/* Splits a list value on ',' or ';', trimming blanks and dropping empty items. */
static char **
split_list (const char *value)
{
  char **items = g_strsplit_set (value, ",;", -1);
  guint kept = 0;
  for (guint i = 0; items[i]; i++) {
    g_strstrip (items[i]);
    if (items[i][0] == '\0')
      g_free (items[i]);
    else
      items[kept++] = items[i];
  }
  items[kept] = NULL;
  return items;
}

static gboolean
parse_double (const char *text, double *value)
{
  char *end = NULL;
  if (!text || !*text)
    return FALSE;
  *value = g_ascii_strtod (text, &end);
  return end && *end == '\0' && end != text;
}

static gboolean
parse_int (const char *text, gint64 min, gint64 max, gint64 *value)
{
  return g_ascii_string_to_signed (text, 10, min, max, value, NULL);
}

/* Reads an optional string key; *value NULL when absent. */
static gboolean
get_string (GKeyFile *kf, const Where *where, const char *key, char **value, GError **error)
{
  g_autoptr (GError) local = NULL;
  *value = NULL;
  if (!g_key_file_has_key (kf, where->group, key, NULL))
    return TRUE;
  *value = g_key_file_get_string (kf, where->group, key, &local);
  if (!*value) {
    set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, key, "%s", local->message);
    return FALSE;
  }
  g_strstrip (*value);
  return TRUE;
}

static gboolean
require_string (GKeyFile *kf, const Where *where, const char *key, char **value,
                GError **error)
{
  if (!get_string (kf, where, key, value, error))
    return FALSE;
  if (!*value || !**value) {
    g_clear_pointer (value, g_free);
    set_error (error, FKP_STICKER_ERROR_MISSING_KEY, where, key, "required key is missing or empty");
    return FALSE;
  }
  return TRUE;
}

/* Parses "a" or "a,b" into one or two finite numbers. */
static gboolean
parse_numbers (const Where *where, const char *key, const char *text, double *values,
               guint min_count, guint max_count, guint *count, GError **error)
{
  g_auto (GStrv) items = split_list (text);
  guint n = g_strv_length (items);
  if (n < min_count || n > max_count) {
    if (min_count == max_count)
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, key,
                 "expected %u number(s), got \"%s\"", min_count, text);
    else
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, key,
                 "expected %u to %u numbers, got \"%s\"", min_count, max_count, text);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    if (!parse_double (items[i], &values[i]) || !isfinite (values[i])) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, key,
                 "\"%s\" is not a finite number", items[i]);
      return FALSE;
    }
  }
  *count = n;
  return TRUE;
}

/* Unknown keys are errors so that typos surface; @localized allows
 * translations such as description[fr]= of the known keys. */
static gboolean
check_known_keys (GKeyFile *kf, const Where *where, const char *const *known,
                  gboolean localized, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, where->group, NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++) {
    g_autofree char *base = g_strdup (keys[i]);
    char *bracket = strchr (base, '[');
    if (localized && bracket && bracket != base && g_str_has_suffix (base, "]"))
      *bracket = '\0';
    if (!g_strv_contains (known, base)) {
      g_autofree char *list = g_strjoinv (", ", (char **) known);
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, keys[i],
                 "unknown key (known keys: %s)", list);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
has_suffix_nocase (const char *path, const char *suffix)
{
  gsize n = strlen (path), m = strlen (suffix);
  return n >= m && g_ascii_strcasecmp (path + n - m, suffix) == 0;
}

/* Reads the size a PNG file declares in its IHDR chunk; FALSE when the file
 * does not start like a PNG (the decoder then reports the problem). */
static gboolean
png_header_size (const char *path, guint32 *width, guint32 *height)
{
  static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  guint8 header[24];
  FILE *file = fopen (path, "rb");
  if (!file)
    return FALSE;
  gboolean ok = fread (header, 1, sizeof header, file) == sizeof header &&
                memcmp (header, signature, sizeof signature) == 0 &&
                memcmp (header + 12, "IHDR", 4) == 0;
  fclose (file);
  if (ok) {
    *width = (guint32) header[16] << 24 | (guint32) header[17] << 16 | (guint32) header[18] << 8 | header[19];
    *height = (guint32) header[20] << 24 | (guint32) header[21] << 16 | (guint32) header[22] << 8 | header[23];
  }
  return ok;
}

static StickerImage *
decode_image (const Where *where, const char *key, const char *path, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    set_error (error, FKP_STICKER_ERROR_IMAGE, where, key, "image %s does not exist", path);
    return NULL;
  }
  StickerImage *image = g_new0 (StickerImage, 1);
  image->path = g_strdup (path);

  if (has_suffix_nocase (path, ".png")) {
    image->kind = STICKER_IMAGE_PNG;
    guint32 width, height;
    if (png_header_size (path, &width, &height) &&
        (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE)) {
      /* Refused before decoding: a small file may declare a huge image. */
      set_error (error, FKP_STICKER_ERROR_IMAGE, where, key,
                 "image %s is too large (%ux%u; at most %d pixels a side)", path, width,
                 height, MAX_IMAGE_SIDE);
      fkp_sticker_image_free (image);
      return NULL;
    }
    image->png = cairo_image_surface_create_from_png (path);
    cairo_status_t status = cairo_surface_status (image->png);
    if (status != CAIRO_STATUS_SUCCESS) {
      set_error (error, FKP_STICKER_ERROR_IMAGE, where, key, "cannot decode PNG %s: %s",
                 path, cairo_status_to_string (status));
      fkp_sticker_image_free (image);
      return NULL;
    }
    image->width = cairo_image_surface_get_width (image->png);
    image->height = cairo_image_surface_get_height (image->png);
  } else if (has_suffix_nocase (path, ".svg")) {
    g_autoptr (GError) local = NULL;
    image->kind = STICKER_IMAGE_SVG;
    image->svg = rsvg_handle_new_from_file (path, &local);
    if (!image->svg) {
      set_error (error, FKP_STICKER_ERROR_IMAGE, where, key, "cannot decode SVG %s: %s",
                 path, local ? local->message : "unknown error");
      fkp_sticker_image_free (image);
      return NULL;
    }
    if (!rsvg_handle_get_intrinsic_size_in_pixels (image->svg, &image->width, &image->height)) {
      /* No absolute width/height: fall back on the viewBox's proportions. */
      gboolean has_viewbox = FALSE;
      RsvgRectangle viewbox = { 0 };
      rsvg_handle_get_intrinsic_dimensions (image->svg, NULL, NULL, NULL, NULL,
                                            &has_viewbox, &viewbox);
      if (!has_viewbox) {
        set_error (error, FKP_STICKER_ERROR_IMAGE, where, key,
                   "SVG %s has neither an absolute size nor a viewBox", path);
        fkp_sticker_image_free (image);
        return NULL;
      }
      image->width = viewbox.width;
      image->height = viewbox.height;
    }
  } else {
    set_error (error, FKP_STICKER_ERROR_IMAGE, where, key,
               "image %s is neither .png nor .svg", path);
    fkp_sticker_image_free (image);
    return NULL;
  }

  if (!(image->width >= 1 && image->height >= 1 && image->width <= MAX_IMAGE_SIDE &&
        image->height <= MAX_IMAGE_SIDE)) {
    set_error (error, FKP_STICKER_ERROR_IMAGE, where, key,
               "image %s has an unusable size %gx%g (1 to %d pixels a side)", path,
               image->width, image->height, MAX_IMAGE_SIDE);
    fkp_sticker_image_free (image);
    return NULL;
  }

  if (image->kind == STICKER_IMAGE_SVG) {
    /* librsvg reports some faults only when drawing: try once, small. */
    cairo_surface_t *probe = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 8, 8);
    cairo_t *cr = cairo_create (probe);
    RsvgRectangle viewport = { 0, 0, 8, 8 };
    g_autoptr (GError) local = NULL;
    gboolean ok = rsvg_handle_render_document (image->svg, cr, &viewport, &local);
    cairo_destroy (cr);
    cairo_surface_destroy (probe);
    if (!ok) {
      set_error (error, FKP_STICKER_ERROR_IMAGE, where, key, "cannot render SVG %s: %s",
                 path, local ? local->message : "unknown error");
      fkp_sticker_image_free (image);
      return NULL;
    }
  }
  return image;
}

/* Decodes @relative (relative to the pack's folder) once per pack. */
static StickerImage *
pack_image (FkpStickerPack *pack, GHashTable *by_path, const char *pack_dir,
            const Where *where, const char *key, const char *relative, GError **error)
{
  g_autofree char *joined = g_path_is_absolute (relative)
                                ? g_strdup (relative)
                                : g_build_filename (pack_dir, relative, NULL);
  g_autofree char *path = g_canonicalize_filename (joined, NULL);
  StickerImage *image = g_hash_table_lookup (by_path, path);
  if (image)
    return image;
  image = decode_image (where, key, path, error);
  if (!image)
    return NULL;
  g_ptr_array_add (pack->images, image);
  g_hash_table_insert (by_path, image->path, image);
  return image;
}

static gboolean
parse_anchor (Sticker *sticker, const Where *where, const char *text, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (named_anchors); i++) {
    if (g_ascii_strcasecmp (text, named_anchors[i].name) == 0) {
      memcpy (sticker->anchor_points, named_anchors[i].points, named_anchors[i].n_points);
      sticker->n_anchor_points = named_anchors[i].n_points;
      sticker->anchor_forehead = named_anchors[i].forehead;
      return TRUE;
    }
  }
  g_auto (GStrv) items = split_list (text);
  guint n = g_strv_length (items);
  gboolean indices = n > 0 && n <= FKP_FACE_N_POINTS;
  for (guint i = 0; indices && i < n; i++) {
    gint64 index;
    if (!parse_int (items[i], 0, FKP_FACE_N_POINTS - 1, &index))
      indices = FALSE;
    else
      sticker->anchor_points[i] = (guint8) index;
  }
  if (!indices) {
    set_error (error, FKP_STICKER_ERROR_UNKNOWN_ANCHOR, where, "anchor",
               "unknown anchor \"%s\": expected left-eye, right-eye, eyes-centre, nose-tip, "
               "mouth-centre, chin, forehead, or landmark indices 0-67 separated by commas",
               text);
    return FALSE;
  }
  sticker->n_anchor_points = n;
  sticker->anchor_forehead = FALSE;
  return TRUE;
}

/* trigger=, play=, fade-in=, fade-out= (docs/stickers.md, "Triggers"). */
static gboolean
parse_trigger (Sticker *sticker, const Where *where, const char *trigger, const char *play,
               const char *fade_in, const char *fade_out, GError **error)
{
  if (!trigger) {
    const char *orphan = play ? "play" : fade_in ? "fade-in" : fade_out ? "fade-out" : NULL;
    if (orphan) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, orphan,
                 "needs trigger= (the expression it follows)");
      return FALSE;
    }
    return TRUE;
  }
  if (!fkp_expression_from_name (trigger, &sticker->trigger)) {
    GString *names = g_string_new (NULL);
    for (int e = 0; e < FKP_EXPRESSION_N; e++)
      g_string_append_printf (names, "%s%s", e ? ", " : "", fkp_expression_get_name (e));
    set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "trigger",
               "unknown expression \"%s\" (known: %s)", trigger, names->str);
    g_string_free (names, TRUE);
    return FALSE;
  }
  sticker->triggered = TRUE;
  if (play && g_ascii_strcasecmp (play, "once") == 0)
    sticker->play_once = TRUE;
  else if (play && g_ascii_strcasecmp (play, "while") != 0) {
    set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "play",
               "\"%s\" is neither while nor once", play);
    return FALSE;
  }
  const char *keys[2] = { "fade-in", "fade-out" };
  const char *texts[2] = { fade_in, fade_out };
  guint *fields[2] = { &sticker->fade_in_ms, &sticker->fade_out_ms };
  for (int i = 0; i < 2; i++) {
    gint64 ms;
    if (!texts[i])
      continue;
    if (!parse_int (texts[i], 0, MAX_FRAME_DURATION_MS, &ms)) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, keys[i],
                 "\"%s\" is not a whole number of milliseconds from 0 to %d", texts[i],
                 MAX_FRAME_DURATION_MS);
      return FALSE;
    }
    *fields[i] = (guint) ms;
  }
  return TRUE;
}

static gboolean
parse_sticker (FkpStickerPack *pack, GHashTable *by_path, const char *pack_dir,
               GKeyFile *kf, const Where *where, Sticker *sticker, GError **error)
{
  g_autofree char *image = NULL, *images = NULL, *frame_duration = NULL, *anchor = NULL;
  g_autofree char *size = NULL, *reference = NULL, *offset = NULL, *rotate = NULL;
  g_autofree char *opacity = NULL, *z = NULL, *faces = NULL;
  g_autofree char *trigger = NULL, *play = NULL, *fade_in = NULL, *fade_out = NULL;
  g_autofree char *max_yaw = NULL, *squeeze = NULL;
  guint count;

  if (!check_known_keys (kf, where, sticker_keys, FALSE, error))
    return FALSE;
  if (!get_string (kf, where, "image", &image, error) ||
      !get_string (kf, where, "images", &images, error) ||
      !get_string (kf, where, "frame-duration", &frame_duration, error) ||
      !require_string (kf, where, "anchor", &anchor, error) ||
      !require_string (kf, where, "size", &size, error) ||
      !get_string (kf, where, "reference", &reference, error) ||
      !get_string (kf, where, "offset", &offset, error) ||
      !get_string (kf, where, "rotate", &rotate, error) ||
      !get_string (kf, where, "opacity", &opacity, error) ||
      !get_string (kf, where, "z", &z, error) ||
      !get_string (kf, where, "faces", &faces, error) ||
      !get_string (kf, where, "trigger", &trigger, error) ||
      !get_string (kf, where, "play", &play, error) ||
      !get_string (kf, where, "fade-in", &fade_in, error) ||
      !get_string (kf, where, "fade-out", &fade_out, error) ||
      !get_string (kf, where, "max-yaw", &max_yaw, error) ||
      !get_string (kf, where, "squeeze", &squeeze, error))
    return FALSE;
  if (!parse_trigger (sticker, where, trigger, play, fade_in, fade_out, error))
    return FALSE;

  /* Images: exactly one of image= and images=. */
  if (image && images) {
    set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "images",
               "give either image= or images=, not both");
    return FALSE;
  }
  if (!image && !images) {
    set_error (error, FKP_STICKER_ERROR_MISSING_KEY, where, "image",
               "required key is missing (image= or images=)");
    return FALSE;
  }
  {
    const char *key = image ? "image" : "images";
    g_auto (GStrv) names = NULL;
    if (image) {
      names = g_new0 (char *, 2);
      names[0] = g_strdup (image);
    } else {
      names = split_list (images);
    }
    sticker->n_frames = g_strv_length (names);
    if (sticker->n_frames == 0) {
      set_error (error, FKP_STICKER_ERROR_MISSING_KEY, where, key, "no image given");
      return FALSE;
    }
    sticker->frames = g_new0 (StickerImage *, sticker->n_frames);
    for (guint i = 0; i < sticker->n_frames; i++) {
      sticker->frames[i] = pack_image (pack, by_path, pack_dir, where, key, names[i], error);
      if (!sticker->frames[i])
        return FALSE;
    }
  }
  sticker->frame_duration_ms = 100;
  if (frame_duration) {
    gint64 ms;
    if (!parse_int (frame_duration, 1, MAX_FRAME_DURATION_MS, &ms)) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "frame-duration",
                 "\"%s\" is not a whole number of milliseconds from 1 to %d", frame_duration,
                 MAX_FRAME_DURATION_MS);
      return FALSE;
    }
    sticker->frame_duration_ms = (guint) ms;
  }

  if (!parse_anchor (sticker, where, anchor, error))
    return FALSE;

  {
    double values[2] = { 0, 0 };
    g_auto (GStrv) items = split_list (size);
    guint n = g_strv_length (items);
    if (n < 1 || n > 2) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "size",
                 "expected WIDTH or WIDTH,HEIGHT, got \"%s\"", size);
      return FALSE;
    }
    for (guint i = 0; i < n; i++) {
      if (!parse_double (items[i], &values[i])) {
        set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "size",
                   "\"%s\" is not a number", items[i]);
        return FALSE;
      }
      if (!(values[i] > 0 && values[i] <= FKP_STICKER_MAX_UNITS)) {
        set_error (error, FKP_STICKER_ERROR_ABSURD_SIZE, where, "size",
                   "%s is not a size: it must be above 0 and at most %g reference lengths",
                   items[i], FKP_STICKER_MAX_UNITS);
        return FALSE;
      }
    }
    sticker->size[0] = values[0];
    sticker->size[1] = n == 2 ? values[1] : 0;
  }

  sticker->reference = STICKER_REFERENCE_EYE_DISTANCE;
  if (reference) {
    if (g_ascii_strcasecmp (reference, "eye-distance") == 0)
      sticker->reference = STICKER_REFERENCE_EYE_DISTANCE;
    else if (g_ascii_strcasecmp (reference, "face-width") == 0)
      sticker->reference = STICKER_REFERENCE_FACE_WIDTH;
    else {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "reference",
                 "\"%s\" is neither eye-distance nor face-width", reference);
      return FALSE;
    }
  }

  if (offset) {
    if (!parse_numbers (where, "offset", offset, sticker->offset, 2, 2, &count, error))
      return FALSE;
    if (fabs (sticker->offset[0]) > FKP_STICKER_MAX_UNITS ||
        fabs (sticker->offset[1]) > FKP_STICKER_MAX_UNITS) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "offset",
                 "\"%s\" lies more than %g reference lengths away", offset,
                 FKP_STICKER_MAX_UNITS);
      return FALSE;
    }
  }

  sticker->rotate = TRUE;
  if (rotate) {
    if (g_ascii_strcasecmp (rotate, "true") == 0)
      sticker->rotate = TRUE;
    else if (g_ascii_strcasecmp (rotate, "false") == 0)
      sticker->rotate = FALSE;
    else {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "rotate",
                 "\"%s\" is neither true nor false", rotate);
      return FALSE;
    }
  }

  sticker->opacity = 1.0;
  if (opacity) {
    if (!parse_numbers (where, "opacity", opacity, &sticker->opacity, 1, 1, &count, error))
      return FALSE;
    if (sticker->opacity < 0 || sticker->opacity > 1) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "opacity",
                 "%s is outside 0 to 1", opacity);
      return FALSE;
    }
  }

  if (z) {
    gint64 value;
    if (!parse_int (z, -1000000, 1000000, &value)) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "z",
                 "\"%s\" is not a whole number from -1000000 to 1000000", z);
      return FALSE;
    }
    sticker->z = (int) value;
  }

  sticker->max_yaw = 180.0;
  if (max_yaw) {
    if (!parse_numbers (where, "max-yaw", max_yaw, &sticker->max_yaw, 1, 1, &count, error))
      return FALSE;
    if (!(sticker->max_yaw >= 0 && sticker->max_yaw <= 90)) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "max-yaw",
                 "%s is outside 0 to 90 degrees", max_yaw);
      return FALSE;
    }
  }

  if (squeeze) {
    if (g_ascii_strcasecmp (squeeze, "true") == 0)
      sticker->squeeze = TRUE;
    else if (g_ascii_strcasecmp (squeeze, "false") != 0) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "squeeze",
                 "\"%s\" is not true or false", squeeze);
      return FALSE;
    }
  }

  if (faces && g_ascii_strcasecmp (faces, "all") != 0) {
    g_auto (GStrv) items = split_list (faces);
    sticker->n_face_ids = g_strv_length (items);
    if (sticker->n_face_ids == 0) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "faces",
                 "expected all or a list of face ids");
      return FALSE;
    }
    sticker->face_ids = g_new (int, sticker->n_face_ids);
    for (guint i = 0; i < sticker->n_face_ids; i++) {
      gint64 id;
      if (!parse_int (items[i], G_MININT, G_MAXINT, &id)) {
        set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, where, "faces",
                   "\"%s\" is not a face id (expected all or whole numbers)", items[i]);
        return FALSE;
      }
      sticker->face_ids[i] = (int) id;
    }
  }
  return TRUE;
}

FKP_PUBLIC FkpStickerPack *
fkp_sticker_pack_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local)) {
    g_set_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_FILE,
                 "%s: cannot read sticker pack: %s", path, local->message);
    return NULL;
  }

  FkpStickerPack *pack = g_new0 (FkpStickerPack, 1);
  g_mutex_init (&pack->lock);
  pack->path = g_strdup (path);
  pack->images = g_ptr_array_new_with_free_func ((GDestroyNotify) fkp_sticker_image_free);
  pack->cache = g_ptr_array_new_with_free_func (raster_cache_entry_free);

  g_autoptr (GHashTable) by_path = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *pack_dir = g_path_get_dirname (path);
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  Where where = { path, PACK_GROUP };

  if (!g_key_file_has_group (kf, PACK_GROUP)) {
    set_error (error, FKP_STICKER_ERROR_MISSING_GROUP, &where, NULL, "group is missing");
    goto fail;
  }
  {
    g_autofree char *version = NULL;
    gint64 number;
    if (!check_known_keys (kf, &where, pack_keys, TRUE, error) ||
        !require_string (kf, &where, "name", &pack->name, error) ||
        !require_string (kf, &where, "version", &version, error))
      goto fail;
    if (!parse_int (version, 1, G_MAXINT, &number) || number != PACK_FORMAT_VERSION) {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, &where, "version",
                 "format version \"%s\" is not supported (this library reads version %d)",
                 version, PACK_FORMAT_VERSION);
      goto fail;
    }
  }

  guint n_groups = g_strv_length (groups);
  pack->stickers = g_new0 (Sticker, n_groups);
  for (guint i = 0; i < n_groups; i++) {
    if (strcmp (groups[i], PACK_GROUP) == 0)
      continue;
    where.group = groups[i];
    if (!g_str_has_prefix (groups[i], STICKER_GROUP_PREFIX) ||
        groups[i][strlen (STICKER_GROUP_PREFIX)] == '\0') {
      set_error (error, FKP_STICKER_ERROR_INVALID_VALUE, &where, NULL,
                 "unknown group (expected [pack] or [sticker NAME])");
      goto fail;
    }
    Sticker *sticker = &pack->stickers[pack->n_stickers++];
    sticker->name = g_strdup (groups[i] + strlen (STICKER_GROUP_PREFIX));
    if (!parse_sticker (pack, by_path, pack_dir, kf, &where, sticker, error))
      goto fail;
  }
  if (pack->n_stickers == 0) {
    where.group = "sticker NAME";
    set_error (error, FKP_STICKER_ERROR_MISSING_GROUP, &where, NULL,
               "the pack has no sticker group");
    goto fail;
  }
  return pack;

fail:
  fkp_sticker_pack_free (pack);
  return NULL;
}

FKP_PUBLIC const char *
fkp_sticker_pack_get_name (const FkpStickerPack *pack)
{
  g_return_val_if_fail (pack != NULL, NULL);
  return pack->name;
}

FKP_PUBLIC const char *
fkp_sticker_pack_get_path (const FkpStickerPack *pack)
{
  g_return_val_if_fail (pack != NULL, NULL);
  return pack->path;
}

FKP_PUBLIC guint
fkp_sticker_pack_get_n_stickers (const FkpStickerPack *pack)
{
  g_return_val_if_fail (pack != NULL, 0);
  return pack->n_stickers;
}

FKP_PUBLIC const char *
fkp_sticker_pack_get_sticker_name (const FkpStickerPack *pack, guint index)
{
  g_return_val_if_fail (pack != NULL && index < pack->n_stickers, NULL);
  return pack->stickers[index].name;
}

static gboolean
is_pack_path (const char *value)
{
  return strchr (value, G_DIR_SEPARATOR) != NULL || strchr (value, '/') != NULL ||
         has_suffix_nocase (value, ".ini");
}

FKP_PUBLIC char *
fkp_sticker_pack_find (const char *name_or_path, GError **error)
{
  g_return_val_if_fail (name_or_path != NULL, NULL);

  if (is_pack_path (name_or_path)) {
    if (g_file_test (name_or_path, G_FILE_TEST_IS_REGULAR))
      return g_strdup (name_or_path);
    g_set_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_NOT_FOUND,
                 "%s: sticker pack file does not exist", name_or_path);
    return NULL;
  }
  if (name_or_path[0] == '\0' || name_or_path[0] == '.') {
    g_set_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_NOT_FOUND,
                 "\"%s\" is not a sticker pack name", name_or_path);
    return NULL;
  }

  g_autofree char *file = g_strconcat (name_or_path, ".ini", NULL);
  const char *override = g_getenv ("FACEKP_STICKERS_DIR");
  const char *roots[3];
  guint n_roots = 0;
  g_autofree char *installed = g_build_filename (FACEKP_DATADIR, "stickers", NULL);
  if (override && *override)
    roots[n_roots++] = override;
  roots[n_roots++] = installed;
#ifdef FACEKP_SOURCE_DIR   /* not in distribution packages */
  g_autofree char *source = g_build_filename (FACEKP_SOURCE_DIR, "stickers", "packs", NULL);
  roots[n_roots++] = source;
#endif

  g_autoptr (GString) tried = g_string_new (NULL);
  for (guint i = 0; i < n_roots; i++) {
    char *candidate = g_build_filename (roots[i], name_or_path, file, NULL);
    if (g_file_test (candidate, G_FILE_TEST_IS_REGULAR))
      return candidate;
    g_string_append_printf (tried, "%s%s", i ? ", " : "", candidate);
    g_free (candidate);
  }
  g_set_error (error, FKP_STICKER_ERROR, FKP_STICKER_ERROR_NOT_FOUND,
               "sticker pack \"%s\" not found (looked for %s)", name_or_path, tried->str);
  return NULL;
}

FKP_PUBLIC FkpStickerPack *
fkp_sticker_pack_open (const char *name_or_path, GError **error)
{
  g_autofree char *path = fkp_sticker_pack_find (name_or_path, error);
  return path ? fkp_sticker_pack_load (path, error) : NULL;
}
