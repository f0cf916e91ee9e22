/* export.c: `inception export`'s order of work (export.h): the model, the
 * image set, the output folder and the model's checksum; the prediction pass;
 * then the similarity, the controls (export_similarity.c) and the manifest
 * (export_manifest.c). */
#include "export_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double export_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

export_path export_out_path(const export_job *job, const char *name)
{
    export_path p;
    snprintf(p.s, sizeof p.s, "%s/%s", job->c.out_dir, name);
    return p;
}

void export_add_output(export_job *job, const char *name, int ndim, const int64_t *shape,
                       const char *dtype, const char *what)
{
    if (job->n_outputs == EXPORT_MAX_OUTPUTS)
        return;
    export_output *o = &job->outputs[job->n_outputs++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        o->shape[i] = shape[i];
    o->dtype = dtype;
    o->what = what;
}

/* ------------------------------------------------------------------------ */
/* SHA-256 of the model file (sha256.c), so a target set names the exact
 * model that made it; `sha256sum model.bin` prints the same. */

static int file_sha256(const char *path, char out[65], char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return controller_fail(err, "%s: cannot open: %s", path, strerror(errno));
    sha256_context s;
    sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return controller_fail(err, "%s: read failed", path);
    uint8_t digest[SHA256_SIZE];
    sha256_final(&s, digest);
    sha256_hex(digest, out);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Progress: each piece of a pass told to the caller's callback. */

void export_progress_start(export_progress *p, const export_job *job, const char *label,
                           long long total)
{
    p->job = job;
    p->label = label;
    p->start = export_now();
    p->total = total;
    if (job->on_event)
        job->on_event(&(export_event){.stage = EXPORT_PROGRESS, .label = label, .total = total,
                                      .start = 1}, job->user);
}

void export_progress_show(const export_progress *p, long long done, const char *unit)
{
    if (p->job->on_event)
        p->job->on_event(&(export_event){.stage = EXPORT_PROGRESS, .label = p->label,
                                         .unit = unit, .done = done, .total = p->total,
                                         .seconds = export_now() - p->start}, p->job->user);
}

/* ------------------------------------------------------------------------ */
/* Pass 1: images through the model, responses and features written as they
 * come. */

static void count_out_of_range(export_job *job, const float *images, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(images[i] >= -1e-3f && images[i] <= 1.001f))
            job->out_of_range_pixels++;
}

static int predict_pass(export_job *job, const char *responses_path)
{
    int N = job->count, M = job->neurons, chunk = N < EXPORT_CHUNK ? N : EXPORT_CHUNK;
    size_t HW = (size_t)job->height * job->width;
    size_t per_feature = (size_t)job->feat_c * job->feat_h * job->feat_w;
    int64_t rshape[2] = {N, M}, fshape[4] = {N, job->feat_c, job->feat_h, job->feat_w};
    export_npy resp = {.fd = -1}, feat = {.fd = -1};
    float *images = malloc((size_t)chunk * HW * sizeof(float));
    float *rates = malloc((size_t)chunk * M * sizeof(float));
    float *features = job->c.want_features ? malloc((size_t)chunk * per_feature * sizeof(float))
                                         : NULL;
    int status = 1;
    if (!images || !rates || (job->c.want_features && !features)) {
        controller_fail(job->err, "out of memory for a chunk of %d images", chunk);
        goto done;
    }
    if (export_npy_create(&resp, responses_path, NPY_FLOAT32, 2, rshape, job->err) ||
        (job->c.want_features && export_npy_create(&feat, export_out_path(job, "features.npy").s,
                                                   NPY_FLOAT32, 4, fshape, job->err)))
        goto done;
    export_progress p;
    export_progress_start(&p, job, "predicting", N);
    for (int first = 0; first < N; first += chunk) {
        int B = N - first < chunk ? N - first : chunk;
        if (image_set_read(job->set, first, B, job->height, job->width, images, job->err) ||
            model_predict(job->m, images, B, rates, job->err) ||
            (features &&
             model_core_features(job->m, images, B, job->c.pool, features, job->err)))
            goto done;
        count_out_of_range(job, images, (size_t)B * HW);
        if (export_write_at(resp.fd, rates, (size_t)B * M * sizeof(float),
                     resp.offset + (long long)first * M * (long long)sizeof(float)) ||
            (features && export_write_at(feat.fd, features, (size_t)B * per_feature * sizeof(float),
                                  feat.offset + (long long)first * (long long)per_feature *
                                                    (long long)sizeof(float)))) {
            controller_fail(job->err, "%s: write failed: %s", job->c.out_dir, strerror(errno));
            goto done;
        }
        export_progress_show(&p, first + B, "images");
    }
    job->seconds_predict = export_now() - p.start;
    status = 0;
done:
    if (export_npy_close(&resp, job->err) || export_npy_close(&feat, job->err))
        status = 1;
    free(images);
    free(rates);
    free(features);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Test correlations from the dataset the model was fitted on. */

static int neuron_quality(export_job *job)
{
    dataset d;
    if (dataset_load(job->c.data_dir, &d, job->err))
        return 1;
    int status = 1, n_test = dataset_count_tier(&d, TIER_TEST), N = d.neurons;
    size_t HW = (size_t)d.height * d.width;
    float *images = NULL, *resp = NULL, *pred = NULL;
    int64_t *ids = NULL;
    if (d.height != job->height || d.width != job->width || N != job->neurons) {
        controller_fail(job->err, "%s has %dx%d images and %d neurons; the model expects %dx%d "
                                  "and %d",
             job->c.data_dir, d.width, d.height, N, job->width, job->height, job->neurons);
        goto done;
    }
    if (n_test < 2) {
        controller_fail(job->err, "%s has no test trials to judge the neurons by", job->c.data_dir);
        goto done;
    }
    images = malloc((size_t)n_test * HW * sizeof(float));
    resp = malloc((size_t)n_test * N * sizeof(float));
    pred = malloc((size_t)n_test * N * sizeof(float));
    ids = malloc((size_t)n_test * sizeof(int64_t));
    job->metrics = malloc((size_t)N * sizeof *job->metrics);
    if (!images || !resp || !pred || !ids || !job->metrics) {
        controller_fail(job->err, "out of memory for the test trials of %s", job->c.data_dir);
        goto done;
    }
    for (int t = 0, k = 0; t < d.trials; t++) {
        if (d.tiers[t] != TIER_TEST)
            continue;
        memcpy(images + k * HW, d.images + (size_t)t * HW, HW * sizeof(float));
        memcpy(resp + (size_t)k * N, d.responses + (size_t)t * N, (size_t)N * sizeof(float));
        ids[k++] = d.image_ids[t];
    }
    if (model_predict(job->m, images, n_test, pred, job->err) ||
        metrics_evaluate(pred, resp, ids, n_test, N, job->metrics, job->err))
        goto done;
    status = 0;
done:
    if (status) {
        free(job->metrics);
        job->metrics = NULL;
    }
    free(images);
    free(resp);
    free(pred);
    free(ids);
    dataset_free(&d);
    return status;
}

static int make_folder(const char *dir, char *err)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0
                                   : controller_fail(err, "%s exists and is not a folder", dir);
    if (mkdir(dir, 0755) != 0)
        return controller_fail(err, "%s: cannot create the folder: %s", dir, strerror(errno));
    return 0;
}

/* Model, image set, output folder, checksum. */
static int open_inputs(export_job *job)
{
    char *err = job->err;
    if (model_load(&job->m, job->c.model_path, err))
        return 1;
    model_set_threads(job->m, job->c.threads);
    const model_config *c = model_get_config(job->m);
    job->height = c->height;
    job->width = c->width;
    job->neurons = c->neurons;
    char model_err[MODEL_ERR_SIZE];
    if (job->c.want_features &&
        model_core_features_shape(job->m, job->c.pool, &job->feat_c, &job->feat_h, &job->feat_w,
                                  model_err))
        return controller_fail(err, "--what features: %s: %s", job->c.model_path, model_err);
    if (image_set_open(&job->set, job->c.images_path, err))
        return 1;
    job->count = image_set_count(job->set);
    if (!realpath(job->c.model_path, job->model_real))
        snprintf(job->model_real, sizeof job->model_real, "%s", job->c.model_path);
    if (!realpath(job->c.images_path, job->images_real))
        snprintf(job->images_real, sizeof job->images_real, "%s", job->c.images_path);
    return make_folder(job->c.out_dir, err) ||
           file_sha256(job->c.model_path, job->model_sha256, err) ||
           (job->c.data_dir && neuron_quality(job));
}

static void note_outputs(export_job *job)
{
    int64_t r[2] = {job->count, job->neurons}, s[2] = {job->count, job->count};
    int64_t f[4] = {job->count, job->feat_c, job->feat_h, job->feat_w};
    if (job->c.want_responses)
        export_add_output(job, "responses.npy", 2, r, "float32",
                   "predicted responses (spike counts per response window), images x neurons");
    if (job->c.want_features)
        export_add_output(job, "features.npy", 4, f, "float32",
                   "the shared core's output (after its last nonlinearity), images x channels "
                   "x height x width, averaged over features_pool blocks (0: whole map)");
    if (job->c.want_similarity)
        export_add_output(job, "similarity.npy", 2, s, "float32",
                   "representational similarity of the predicted population responses, images "
                   "x images (see \"similarity\")");
}

static int shuffled_controls(export_job *job, const char *responses_path)
{
    int64_t r[2] = {job->count, job->neurons}, s[2] = {job->count, job->count};
    int64_t f[4] = {job->count, job->feat_c, job->feat_h, job->feat_w};
    if (export_make_permutation(job))
        return 1;
    if (job->c.want_responses) {
        if (export_permute_rows(responses_path, export_out_path(job, "responses_shuffled.npy").s,
                                job->permutation, 2, r, job->err))
            return 1;
        export_add_output(job, "responses_shuffled.npy", 2, r, "float32",
                   "shuffled control: responses.npy rows in permutation order");
    }
    if (job->c.want_features) {
        if (export_permute_rows(export_out_path(job, "features.npy").s,
                                export_out_path(job, "features_shuffled.npy").s, job->permutation,
                                4, f, job->err))
            return 1;
        export_add_output(job, "features_shuffled.npy", 4, f, "float32",
                   "shuffled control: features.npy rows in permutation order");
    }
    if (job->c.want_similarity) {
        if (export_similarity(job, responses_path, job->permutation, "similarity_shuffled.npy"))
            return 1;
        export_add_output(job, "similarity_shuffled.npy", 2, s, "float32",
                   "shuffled control: S[permutation[i]][permutation[j]]");
    }
    return 0;
}

static int run_export(export_job *job)
{
    /* Responses are always computed (the similarity and the controls are
     * made from them); kept only when asked for. */
    char responses_path[4096];
    snprintf(responses_path, sizeof responses_path, "%s",
             export_out_path(job, job->c.want_responses ? "responses.npy"
                                                        : ".responses.scratch.npy").s);
    const char *kind = model_kind_name(model_get_config(job->m)->kind);
    if (job->on_event)
        job->on_event(&(export_event){.stage = EXPORT_READY, .images = job->count,
                                      .width = job->width, .height = job->height,
                                      .neurons = job->neurons, .model_kind = kind},
                      job->user);
    note_outputs(job);
    int64_t s[2] = {job->count, job->count};
    int rc = predict_pass(job, responses_path) ||
             (job->c.want_similarity &&
              export_similarity(job, responses_path, NULL, "similarity.npy")) ||
             (job->c.shuffled && shuffled_controls(job, responses_path)) ||
             (job->c.gaussian && export_gaussian(job, responses_path));
    if (!rc && job->c.gaussian && job->c.want_similarity) {
        rc = export_similarity(job, export_out_path(job, "gaussian.npy").s, NULL,
                               "similarity_gaussian.npy");
        export_add_output(job, "similarity_gaussian.npy", 2, s, "float32",
                          "Gaussian control: the similarity of gaussian.npy");
    }
    if (!job->c.want_responses)
        unlink(responses_path);
    return rc || export_write_manifest(job);
}

int export_run(const export_config *c, export_event_fn on_event, void *user,
               export_result *result, char *err)
{
    export_job job;
    memset(&job, 0, sizeof job);
    job.c = *c;
    job.err = err;
    job.on_event = on_event;
    job.user = user;
    int status = open_inputs(&job) || run_export(&job);
    result->files = job.n_outputs;
    result->out_of_range_pixels = job.out_of_range_pixels;
    free(job.permutation);
    free(job.metrics);
    image_set_destroy(job.set);
    model_destroy(job.m);
    return status;
}
