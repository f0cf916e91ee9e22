/* mei_batch_internal.h: what the files of controller/mei/ share beyond
 * mei_batch.h (private to the room). */
#ifndef INCEPTION_MEI_BATCH_INTERNAL_H
#define INCEPTION_MEI_BATCH_INTERNAL_H

#include "mei_batch.h"

/* Stimulus (j, slot): P floats of b->stimuli. */
float *mei_batch_stimulus(const mei_batch *b, int j, int slot);
/* Tells the batch's event callback, if any. */
void mei_batch_tell(const mei_batch *b, mei_batch_event *e);

/* mei_batch_files.c: the PNGs, stimuli.npy and manifest.json; gallery.png. */
int mei_batch_write_files(mei_batch *b, char *err);
int mei_batch_write_gallery(const mei_batch *b, char *err);

/* mei_batch_pattern.c: --kind pattern, from the chosen neurons as one group
 * to its files; its ground truth. */
int mei_batch_pattern_run(mei_batch *b, char *err);
int mei_batch_pattern_truth(mei_batch *b, const sim_config *population, char *err);

#endif
