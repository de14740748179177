/* Helpers shared by the face tests: fixture paths, PNG crops, their labels. */
#ifndef FACE_TEST_UTIL_H
#define FACE_TEST_UTIL_H

#include "synth.h"

#include <cairo.h>

/* A labelled crop from tests/data/face-crops.csv, decoded by Cairo (BGRx). */
typedef struct {
  char *name;
  cairo_surface_t *surface;
  FkpSynthFace face;
} TestCrop;

char *test_data_path (const char *name);

/* A row of a labels CSV in tests/data (the data set's layout: name, x0, y0, ...). */
typedef struct {
  char *name;
  float points[FKP_FACE_N_POINTS][2];
} TestLabels;

/* Every row of @csv_name (TestLabels); aborts the test on a broken fixture. */
GArray *test_load_labels (const char *csv_name);
void test_free_labels (GArray *rows);
/* Loads every row of face-crops.csv; aborts the test on a broken fixture. */
GArray *test_load_crops (void);
void test_free_crops (GArray *crops);
/* Loads a PNG as a frame (BGRx); keeps the surface in *surface. */
FkpFaceFrame test_load_png (const char *path, cairo_surface_t **surface);

#endif
