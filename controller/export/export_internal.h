/* export_internal.h: what the files of controller/export/ share beyond
 * export.h (private to the room). */
#ifndef INCEPTION_EXPORT_INTERNAL_H
#define INCEPTION_EXPORT_INTERNAL_H

#include "controller.h"
#include "export.h"
#include "model.h"

#include <limits.h>

#define EXPORT_CHUNK 256                   /* images per prediction pass */
#define EXPORT_STRIP_BYTES (64u << 20)     /* rows of the N × N output held at once */
#define EXPORT_SIMILARITY_BLOCK 1024       /* images per column block of sgemm */
#define EXPORT_MAX_OUTPUTS 16              /* files a manifest lists */

typedef struct export_output {
    char name[48];
    int ndim;
    int64_t shape[4];
    const char *dtype;
    const char *what;
} export_output;

typedef struct export_job {
    export_config c;
    char *err;
    export_event_fn on_event;
    void *user;
    model *m;
    image_set *set;
    int count, height, width, neurons;
    int feat_c, feat_h, feat_w;
    int64_t *permutation;
    neuron_metrics *metrics; /* NULL without a dataset */
    char model_sha256[65];
    char model_real[PATH_MAX], images_real[PATH_MAX]; /* absolute paths, for the manifest */
    int out_of_range_pixels;
    export_output outputs[EXPORT_MAX_OUTPUTS];
    int n_outputs;
    double seconds_predict, seconds_similarity;
} export_job;

/* export.c */
double export_now(void);
/* A file in the output folder. Returned by value (the caller's temporary
 * lives to the end of its full expression), so no buffer is shared. */
typedef struct export_path {
    char s[4096];
} export_path;
export_path export_out_path(const export_job *job, const char *name);
void export_add_output(export_job *job, const char *name, int ndim, const int64_t *shape,
                       const char *dtype, const char *what);
/* A pass's progress, told to the job's callback. */
typedef struct export_progress {
    const export_job *job;
    const char *label;
    double start;
    long long total;
} export_progress;
void export_progress_start(export_progress *p, const export_job *job, const char *label,
                           long long total);
void export_progress_show(const export_progress *p, long long done, const char *unit);

/* export_npy.c: whole-buffer pread/pwrite, and NPY files written in pieces. */
typedef struct export_npy {
    int fd;
    long long offset; /* where the data starts */
    char path[4096];
} export_npy;
int export_write_at(int fd, const void *buf, size_t n, long long offset);
int export_npy_create(export_npy *o, const char *path, npy_dtype dtype, int ndim,
                      const int64_t *shape, char *err);
int export_npy_close(export_npy *o, char *err);
int export_npy_open_read(export_npy *o, const char *path, char *err);
int export_read_rows(const export_npy *in, const int64_t *order, long long first, int count,
                     int cols, float *out);
int export_permute_rows(const char *from, const char *to, const int64_t *order, int ndim,
                        const int64_t *shape, char *err);

/* export_similarity.c: the similarity of the responses; the controls. */
int export_similarity(export_job *job, const char *responses_path, const int64_t *order,
                      const char *name);
int export_make_permutation(export_job *job);
int export_gaussian(export_job *job, const char *responses_path);

/* export_manifest.c */
int export_write_manifest(const export_job *job);

#endif
