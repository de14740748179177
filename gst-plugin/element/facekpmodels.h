/* Face models for facekpfilter loaded off the streaming thread: a model
 * change while playing builds the new face pipeline on a worker, the stream
 * keeps running on the old one, and the streaming thread swaps the new one
 * in at a frame boundary (facekpmodels.c). */
#ifndef FACEKP_MODELS_H
#define FACEKP_MODELS_H

#include <gst/gst.h>
#include <facekp/face.h>
#include "facekpsettings.h"

G_BEGIN_DECLS

FacekpModelLoader *facekp_model_loader_new (void);

/* Starts building a pipeline with @opts (copied, strings included); @what
 * names the models for messages.  A later request supersedes an earlier one
 * whose result was not collected yet. */
void facekp_model_loader_request (FacekpModelLoader *loader, const FkpFaceOptions *opts,
                                  const gchar *what);

/* Without waiting: TRUE when the newest request has finished, with either
 * *@pipeline (the caller owns it) or *@error set, and *@what (g_free it). */
gboolean facekp_model_loader_collect (FacekpModelLoader *loader, FkpFacePipeline **pipeline,
                                      gchar **what, GError **error);

/* The streaming thread's frames, begin and end: the worker's loads pause
 * while one runs. */
void facekp_model_loader_frame_begin (FacekpModelLoader *loader);
void facekp_model_loader_frame_end (FacekpModelLoader *loader);

/* Frees @pipeline on the worker (its detector thread may need joining). */
void facekp_model_loader_retire (FacekpModelLoader *loader, FkpFacePipeline *pipeline);

/* On the streaming thread, at a frame boundary: when the newest request has
 * finished, either puts its pipeline in *@pipeline (the old one freed on the
 * worker), posts a "facekp-models" element message (field "models": what
 * was loaded) and returns TRUE; or posts a warning naming the models and
 * keeps *@pipeline. */
gboolean facekp_model_loader_swap (FacekpModelLoader *loader, GstElement *element,
                                   FkpFacePipeline **pipeline);

/* Waits for the worker's jobs and frees whatever they built. */
void facekp_model_loader_free (FacekpModelLoader *loader);

G_END_DECLS

#endif
