/* export.h: `inception export`'s work as a library (controller/export/): what
 * a fitted model predicts for a user's image set, written as co-training
 * targets (shared/SCIENCE.md section 4: Li et al. 2019 regularize towards the
 * similarity of predicted population responses, Safarani et al. 2021 regress
 * predicted responses with an MSE loss).
 *
 * Every output is an NPY file sized up front (npy_create) and filled in
 * pieces with pwrite, and every pass reads its input back in pieces with
 * pread, so memory stays bounded whatever the number of images: the N × N
 * similarity of 50,000 images (10 GB) is computed one strip of rows at a time.
 *
 * Outputs (in the out folder):
 *   responses.npy         N × M float32, predicted responses (model_predict)
 *   similarity.npy        N × N float32, Pearson correlation between images'
 *                         population vectors after z-scoring each neuron
 *                         across the set (export_similarity.c)
 *   features.npy          N × C × h × w float32, the core's output
 *   permutation.npy       N int64, with the shuffled control: row i of every
 *                         *_shuffled.npy is row permutation[i] of the original
 *   *_shuffled.npy        the same targets with images shuffled
 *   gaussian.npy          N × M float32 Gaussian vectors with the responses'
 *                         mean and covariance (+ similarity_gaussian.npy)
 *   manifest.json         what each file is, shapes, dtypes, model checksum,
 *                         image order, neurons and their test correlations
 *
 * Nothing here prints: progress is told to an event callback, and a failure
 * is 1 with a one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). */
#ifndef INCEPTION_EXPORT_H
#define INCEPTION_EXPORT_H

#include <stdint.h>

typedef struct export_config {
    const char *model_path, *images_path, *out_dir;
    const char *data_dir; /* NULL; else the model's dataset: test correlations in the manifest */
    int want_responses, want_similarity, want_features;
    int shuffled, gaussian; /* the controls */
    int pool;               /* features: average pool × pool blocks (0: one value per map) */
    int threads;
    int strip_rows;         /* similarity rows at once; 0: as many as fit in 64 MiB */
    uint64_t seed;          /* of the controls */
} export_config;

typedef enum export_stage {
    EXPORT_READY,   /* inputs open: `images` resized to width × height through a model of
                       `model_kind` with `neurons` */
    EXPORT_PROGRESS /* a pass (`label`) has done `done` of `total` `unit` in `seconds`;
                       `start` on the pass's first word, done 0 */
} export_stage;

typedef struct export_event {
    export_stage stage;
    int images, width, height, neurons;
    const char *model_kind;
    const char *label, *unit;
    long long done, total;
    double seconds;
    int start;
} export_event;
typedef void (*export_event_fn)(const export_event *e, void *user);

typedef struct export_result {
    int files;               /* written besides manifest.json */
    int out_of_range_pixels; /* of the resized images, outside [0, 1] */
} export_result;

/* The whole export into c->out_dir (created if missing); 0 on success. */
int export_run(const export_config *c, export_event_fn on_event, void *user,
               export_result *result, char *err);

#endif
