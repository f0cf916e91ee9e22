/* export_manifest.c: the export's manifest.json: the model, the images and
 * their preprocessing, the neurons (and their test correlations), each file
 * and the controls (export_internal.h). */
#include "export_internal.h"
#include "json_out.h"

#include <sys/stat.h>

/* Undefined metrics (a neuron constant over the test set) are null. */
static void manifest_metric(json_out *o, json_t *neurons, const export_job *job,
                            const char *key, int which)
{
    json_t *values = json_out_array(o, neurons, key);
    for (int n = 0; n < job->neurons; n++) {
        const neuron_metrics *x = &job->metrics[n];
        double v = which == 0 ? x->corr_to_average : which == 1 ? x->single_trial_corr
                                                                : x->feve;
        json_out_real_or_null(o, values, key, v);
    }
}

static void manifest_model(json_out *o, const export_job *job)
{
    const model_config *c = model_get_config(job->m);
    float mean, sd;
    model_get_standardization(job->m, &mean, &sd);
    json_t *m = json_out_object(o, o->root, "model");
    json_out_text(o, m, "path", job->model_real);
    json_out_text(o, m, "sha256", job->model_sha256);
    json_out_text(o, m, "kind", model_kind_name(c->kind));
    json_out_int(o, m, "input_height", c->height);
    json_out_int(o, m, "input_width", c->width);
    json_out_int(o, m, "neurons", c->neurons);
    json_out_real(o, m, "input_mean", mean);
    json_out_real(o, m, "input_std", sd);
}

static void manifest_images(json_out *o, const export_job *job)
{
    json_t *im = json_out_object(o, o->root, "images");
    json_out_text(o, im, "source", job->images_real);
    int npy = image_set_name(job->set, 0) == NULL;
    struct stat st; /* the set was opened from this path: a folder, else one image file */
    int folder = stat(job->images_real, &st) == 0 && S_ISDIR(st.st_mode);
    json_out_text(o, im, "kind", npy ? "npy" : folder ? "folder" : "file");
    json_out_int(o, im, "count", job->count);
    if (npy) {
        int h, w;
        char unused[MODEL_ERR_SIZE]; /* an NPY set's size is its array's: no failure */
        image_set_size(job->set, 0, &h, &w, unused);
        json_out_int(o, im, "original_height", h);
        json_out_int(o, im, "original_width", w);
        json_out_text(o, im, "order", "rows of the NPY array, in order");
        json_out_null(o, im, "names");
    } else {
        json_out_text(o, im, "order", "file names in byte order (an NPY file's name once for "
                      "each of its images, in order)");
        json_t *names = json_out_array(o, im, "names");
        for (int i = 0; i < job->count; i++)
            json_out_text(o, names, "names (an image file's name)", image_set_name(job->set, i));
    }
    json_out_int(o, im, "pixels_outside_0_1", job->out_of_range_pixels);
    json_out_text(o, o->root, "preprocessing",
                  "luminance in [0,1]: PNG/JPEG decoded to gray with Rec. 709 "
                  "weights 0.2126 R + 0.7152 G + 0.0722 B on the encoded values (alpha ignored); NPY "
                  "uint8 divided by 255, float taken as is, N x H x W x 3 combined with the same "
                  "weights. Then the centre of each image cropped to the model's aspect ratio "
                  "(fractional crop) and resized to the model's input: area averaging when shrinking, "
                  "bilinear interpolation (pixel centres at i + 0.5, edges repeated) when enlarging. "
                  "The model standardizes the result with input_mean and input_std itself.");
}

static void manifest_neurons(json_out *o, const export_job *job)
{
    json_t *ns = json_out_object(o, o->root, "neurons");
    json_t *ids = json_out_array(o, ns, "ids");
    for (int n = 0; n < job->neurons; n++)
        json_out_int(o, ids, "ids", n);
    json_out_text(o, ns, "ids_are", "column index in responses.npy (the dataset's neuron order)");
    if (job->metrics) {
        json_out_text(o, ns, "data", job->c.data_dir);
        manifest_metric(o, ns, job, "test_correlation_to_average", 0);
        manifest_metric(o, ns, job, "test_single_trial_correlation", 1);
        manifest_metric(o, ns, job, "test_feve", 2);
    } else {
        json_out_null(o, ns, "test_correlation_to_average");
    }
}

static void manifest_files(json_out *o, const export_job *job)
{
    json_t *files = json_out_object(o, o->root, "files");
    for (int i = 0; i < job->n_outputs; i++) {
        const export_output *of = &job->outputs[i];
        json_t *file = json_out_object(o, files, of->name);
        json_t *shape = json_out_array(o, file, "shape");
        for (int d = 0; d < of->ndim; d++)
            json_out_int(o, shape, "shape", of->shape[d]);
        json_out_text(o, file, "dtype", of->dtype);
        json_out_text(o, file, "what", of->what);
    }
}

int export_write_manifest(const export_job *job)
{
    export_path manifest = export_out_path(job, "manifest.json");
    json_out o;
    if (json_out_begin(&o))
        return controller_fail(job->err, "%s: %s", manifest.s, o.err);
    json_out_text(&o, o.root, "format", "inception export 1");
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    manifest_model(&o, job);
    manifest_images(&o, job);
    manifest_neurons(&o, job);
    manifest_files(&o, job);
    json_out_text(&o, o.root, "similarity",
                  "S[i][j] = Pearson correlation across neurons between images i "
                  "and j of the z-scored responses z[i][n] = (r[i][n] - mean_n) / sd_n, mean and "
                  "population sd of neuron n over this image set (a constant neuron contributes 0; an "
                  "image with a constant z-vector has a zero row). Li et al. 2019 take arctanh of the "
                  "off-diagonal entries as the target.");
    json_t *controls = json_out_object(&o, o.root, "controls");
    json_out_seed(&o, controls, "seed", job->c.seed);
    json_out_bool(&o, controls, "shuffled", job->c.shuffled);
    json_out_bool(&o, controls, "gaussian", job->c.gaussian);
    json_out_int(&o, o.root, "features_pool", job->c.pool);
    json_t *seconds = json_out_object(&o, o.root, "seconds");
    json_out_real(&o, seconds, "predict", job->seconds_predict);
    json_out_real(&o, seconds, "similarity", job->seconds_similarity);
    int status = json_out_write(&o, manifest.s);
    if (status)
        controller_fail(job->err, "%s: not written: %s", manifest.s, o.err);
    json_out_end(&o);
    return status;
}
