/* train.c: fitting a model to a dataset. Adam on mini-batches of the
 * training trials, learning-rate decay when the validation correlation
 * plateaus, early stopping with the best weights restored. */
#include "network.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fit_options_default(fit_options *o)
{
    memset(o, 0, sizeof *o);
    o->batch_size = 64;
    o->max_epochs = 200;
    o->learning_rate = 0.005f;
    o->lr_decay = 0.3f;
    o->patience = 5;
    o->max_lr_decays = 3;
    o->laplace_weight = 0.01f;
    o->l1_weight = 0.0001f;
    o->threads = 2;
    o->position_init = 1;
    o->seed = 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Indices of the trials in one tier. */
static int *tier_indices(const dataset *d, int tier, int *count)
{
    int n = dataset_count_tier(d, tier);
    int *idx = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!idx)
        return NULL;
    int k = 0;
    for (int t = 0; t < d->trials; t++)
        if (d->tiers[t] == tier)
            idx[k++] = t;
    *count = n;
    return idx;
}

static void shuffle(int *idx, int n, model_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(model_rng_uniform(rng) * (double)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Mean and std of all training pixels: the model's input standardization. */
static void pixel_statistics(const dataset *d, const int *idx, int n, float *mean, float *std)
{
    size_t HW = (size_t)d->height * d->width;
    double sum = 0.0, sum2 = 0.0;
    for (int i = 0; i < n; i++) {
        const float *img = d->images + (size_t)idx[i] * HW;
        for (size_t p = 0; p < HW; p++) {
            sum += img[p];
            sum2 += (double)img[p] * img[p];
        }
    }
    double count = (double)n * (double)HW;
    double mu = sum / count, var = sum2 / count - mu * mu;
    *mean = (float)mu;
    *std = (float)sqrt(var > 0.0 ? var : 0.0);
}

/* Start each neuron's bias where the output nonlinearity gives its mean
 * training response, so the first epochs learn tuning, not offsets. */
static void initialize_bias(model *m, const dataset *d, const int *idx, int n)
{
    const model_config *c = &m->cfg;
    for (int k = 0; k < c->neurons; k++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += d->responses[(size_t)idx[i] * c->neurons + k];
        double mean = sum / n;
        if (mean < 1e-3)
            mean = 1e-3;
        if (c->kind == MODEL_LNP)
            m->readout_bias[k] = (float)log(mean);
        else /* inverse of ELU(x) + 1 */
            m->readout_bias[k] = (float)(mean >= 1.0 ? mean - 1.0 : log(mean));
    }
}

static void gather(const dataset *d, const int *idx, int n, float *images, float *responses)
{
    size_t HW = (size_t)d->height * d->width, N = (size_t)d->neurons;
    for (int i = 0; i < n; i++) {
        memcpy(images + i * HW, d->images + (size_t)idx[i] * HW, HW * sizeof(float));
        memcpy(responses + i * N, d->responses + (size_t)idx[i] * N, N * sizeof(float));
    }
}

/* Mean over neurons of the correlation between prediction and response on
 * the given trials. */
static int mean_correlation(model *m, const dataset *d, const int *idx, int n, float *images,
                            float *responses, float *pred, float *corr, double *out, char *err)
{
    gather(d, idx, n, images, responses);
    if (model_predict(m, images, n, pred, err))
        return 1;
    metrics_correlation(pred, responses, n, d->neurons, corr);
    double sum = 0.0;
    for (int k = 0; k < d->neurons; k++)
        sum += corr[k];
    *out = sum / d->neurons;
    return 0;
}

static int check_dataset(const model *m, const dataset *d, const fit_options *o, char *err)
{
    const model_config *c = &m->cfg;
    if (d->height != c->height || d->width != c->width || d->neurons != c->neurons) {
        return model_fail(err,
                          "data has %d×%d images and %d neurons, the model expects %d×%d and %d",
                          d->height, d->width, d->neurons, c->height, c->width, c->neurons);
    }
    if (dataset_count_tier(d, TIER_TRAIN) < 1 || dataset_count_tier(d, TIER_VALIDATION) < 2) {
        return model_fail(err,
                          "need training trials and at least 2 validation trials (have %d and %d)",
                          dataset_count_tier(d, TIER_TRAIN),
                          dataset_count_tier(d, TIER_VALIDATION));
    }
    if (o->batch_size < 1 || o->max_epochs < 1 || !(o->learning_rate > 0.0f))
        return model_fail(err, "batch size, epochs and learning rate must be positive");
    return 0;
}

typedef struct fit_buffers {
    int *train, *valid;
    int n_train, n_valid;
    float *images, *responses, *pred, *corr;
    float *best_params, *best_buffers;
    adam_state adam;
} fit_buffers;

static void fit_buffers_free(fit_buffers *f)
{
    free(f->train);
    free(f->valid);
    free(f->images);
    free(f->responses);
    free(f->pred);
    free(f->corr);
    free(f->best_params);
    free(f->best_buffers);
    adam_free(&f->adam);
}

static int fit_buffers_alloc(fit_buffers *f, const model *m, const dataset *d, int batch)
{
    memset(f, 0, sizeof *f);
    f->train = tier_indices(d, TIER_TRAIN, &f->n_train);
    f->valid = tier_indices(d, TIER_VALIDATION, &f->n_valid);
    int rows = f->n_valid > batch ? f->n_valid : batch;
    size_t HW = (size_t)d->height * d->width, N = (size_t)d->neurons;
    f->images = malloc((size_t)rows * HW * sizeof(float));
    f->responses = malloc((size_t)rows * N * sizeof(float));
    f->pred = malloc((size_t)rows * N * sizeof(float));
    f->corr = malloc(N * sizeof(float));
    f->best_params = malloc(m->n_params * sizeof(float));
    f->best_buffers = malloc((m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    int adam_failed = adam_init(&f->adam, m->n_params);
    return !f->train || !f->valid || !f->images || !f->responses || !f->pred || !f->corr ||
           !f->best_params || !f->best_buffers || adam_failed;
}

static void snapshot(const model *m, fit_buffers *f)
{
    memcpy(f->best_params, m->params, m->n_params * sizeof(float));
    memcpy(f->best_buffers, m->buffers, m->n_buffers * sizeof(float));
}

static void restore(model *m, const fit_buffers *f)
{
    memcpy(m->params, f->best_params, m->n_params * sizeof(float));
    memcpy(m->buffers, f->best_buffers, m->n_buffers * sizeof(float));
    model_params_changed(m);
}

/* Local contrast energy of one image: squared deviation from its mean,
 * box-averaged over (2r+1)² pixels, so a receptive field anywhere in the
 * box registers whatever its phase or orientation. */
static void contrast_energy(float *out, const float *img, int H, int W, float *scratch)
{
    const int r = 2;
    double mean = 0.0;
    for (int i = 0; i < H * W; i++)
        mean += img[i];
    mean /= H * W;
    for (int y = 0; y < H; y++) /* horizontal box of the squared deviation */
        for (int x = 0; x < W; x++) {
            float s = 0.0f;
            for (int dx = -r; dx <= r; dx++) {
                int xx = x + dx < 0 ? 0 : x + dx >= W ? W - 1 : x + dx;
                float v = img[y * W + xx] - (float)mean;
                s += v * v;
            }
            scratch[y * W + x] = s;
        }
    for (int y = 0; y < H; y++) /* vertical box */
        for (int x = 0; x < W; x++) {
            float s = 0.0f;
            for (int dy = -r; dy <= r; dy++) {
                int yy = y + dy < 0 ? 0 : y + dy >= H ? H - 1 : y + dy;
                s += scratch[yy * W + x];
            }
            out[y * W + x] = s;
        }
}

/* Start each Gaussian readout position where the neuron's responses
 * correlate most with local contrast energy (a spike-triggered energy map). A position
 * learns only from features within the core's reach (about 20 pixels), so a
 * random start far from the receptive field may never find it. */
static int initialize_positions(model *m, const dataset *d, const int *idx, int n, char *err)
{
    int H = d->height, W = d->width, HW = H * W, N = d->neurons;
    float *energy = malloc((size_t)n * HW * sizeof(float));
    float *centred = malloc((size_t)n * N * sizeof(float));
    float *map = malloc((size_t)N * HW * sizeof(float));
    float *scratch = malloc((size_t)HW * sizeof(float));
    double *mean = calloc((size_t)N, sizeof(double));
    int status = 0;
    if (!energy || !centred || !map || !scratch || !mean) {
        model_fail(err, "out of memory for readout position maps");
        status = 1;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        contrast_energy(energy + (size_t)i * HW, d->images + (size_t)idx[i] * HW, H, W, scratch);
        for (int k = 0; k < N; k++)
            mean[k] += d->responses[(size_t)idx[i] * N + k];
    }
    for (int k = 0; k < N; k++)
        mean[k] /= n;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < N; k++)
            centred[(size_t)i * N + k] =
                (float)(d->responses[(size_t)idx[i] * N + k] - mean[k]);
    /* map (N×HW) = centredᵀ (N×n) · energy (n×HW): the covariance per pixel,
     * since centred responses cancel the energy's own mean. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, HW, n, 1.0f, centred, N, energy, HW,
                0.0f, map, HW);
    /* Correlation rather than covariance: pixels whose energy varies more
     * (borders, where occluders end) must not win by their variance alone. */
    for (int p = 0; p < HW; p++) {
        double sum = 0.0, sum2 = 0.0;
        for (int i = 0; i < n; i++) {
            double e = energy[(size_t)i * HW + p];
            sum += e;
            sum2 += e * e;
        }
        double var = sum2 / n - (sum / n) * (sum / n);
        scratch[p] = var > 0.0 ? (float)(1.0 / sqrt(var)) : 0.0f;
    }
    for (int k = 0; k < N; k++) {
        const float *row = map + (size_t)k * HW;
        int best = 0;
        for (int p = 1; p < HW; p++)
            if (row[p] * scratch[p] > row[best] * scratch[best])
                best = p;
        int y = best / W, x = best % W;
        m->readout_mu[2 * k] = W > 1 ? 2.0f * x / (W - 1) - 1.0f : 0.0f;
        m->readout_mu[2 * k + 1] = H > 1 ? 2.0f * y / (H - 1) - 1.0f : 0.0f;
    }
done:
    free(energy);
    free(centred);
    free(map);
    free(scratch);
    free(mean);
    return status;
}

/* The LNP's feature standardization, from the training images. */
static int lnp_statistics(model *m, const dataset *d, const fit_buffers *f, char *err)
{
    size_t HW = (size_t)d->height * d->width;
    float *images = malloc((size_t)f->n_train * HW * sizeof(float));
    if (!images)
        return model_fail(err, "out of memory for LNP feature statistics");
    for (int i = 0; i < f->n_train; i++)
        memcpy(images + i * HW, d->images + (size_t)f->train[i] * HW, HW * sizeof(float));
    int status = model_lnp_feature_statistics(m, images, f->n_train, err);
    free(images);
    return status;
}

/* One pass over the shuffled training trials; returns the mean loss. */
static int train_epoch(model *m, const dataset *d, const fit_options *o, fit_buffers *f,
                       model_rng *rng, float lr, double *mean_loss, char *err)
{
    shuffle(f->train, f->n_train, rng);
    double total = 0.0;
    int batches = 0;
    for (int start = 0; start < f->n_train; start += o->batch_size) {
        int B = f->n_train - start < o->batch_size ? f->n_train - start : o->batch_size;
        /* A lone trial gives batch norm a zero variance: fold it away. */
        if (B < 2 && batches > 0)
            break;
        gather(d, f->train + start, B, f->images, f->responses);
        double loss;
        if (model_train_step(m, f->images, f->responses, B, rng, o->laplace_weight,
                             o->l1_weight, &loss, err))
            return 1;
        if (!isfinite(loss)) {
            model_fail(err, "training diverged (loss %g); try a smaller learning rate", loss);
            return 1; /* not return model_fail(): gcc cannot see it is 1, and warns of loss */
        }
        adam_step(&f->adam, m->params, m->grads, m->trainable, lr);
        model_params_changed(m);
        total += loss;
        batches++;
    }
    *mean_loss = total / (batches ? batches : 1);
    return 0;
}

int model_fit(model *m, const dataset *d, const fit_options *o, fit_report *report, char *err)
{
    memset(report, 0, sizeof *report);
    if (check_dataset(m, d, o, err))
        return 1;
    model_set_threads(m, o->threads);
    fit_buffers f;
    if (fit_buffers_alloc(&f, m, d, o->batch_size)) {
        fit_buffers_free(&f);
        return model_fail(err, "out of memory for fitting");
    }
    float mean, std;
    pixel_statistics(d, f.train, f.n_train, &mean, &std);
    model_set_standardization(m, mean, std);
    if (m->cfg.kind == MODEL_LNP && lnp_statistics(m, d, &f, err)) {
        fit_buffers_free(&f);
        return 1;
    }
    if (o->position_init && m->readout_mu &&
        initialize_positions(m, d, f.train, f.n_train, err)) {
        fit_buffers_free(&f);
        return 1;
    }
    initialize_bias(m, d, f.train, f.n_train);
    model_params_changed(m);

    model_rng rng;
    model_rng_seed(&rng, o->seed);
    double start = now_seconds(), best = -2.0;
    float lr = o->learning_rate;
    int bad_epochs = 0, decays = 0, status = 0;
    snapshot(m, &f);
    for (int epoch = 1; epoch <= o->max_epochs; epoch++) {
        double epoch_start = now_seconds(), loss, corr;
        if (train_epoch(m, d, o, &f, &rng, lr, &loss, err) ||
            mean_correlation(m, d, f.valid, f.n_valid, f.images, f.responses, f.pred, f.corr,
                             &corr, err)) {
            status = 1;
            break;
        }
        report->epochs = epoch;
        if (corr > best) {
            best = corr;
            report->best_epoch = epoch;
            snapshot(m, &f);
            bad_epochs = 0;
        } else if (++bad_epochs >= o->patience) {
            bad_epochs = 0;
            decays++;
            lr *= o->lr_decay;
            /* Continue from the best weights at the lower rate. */
            restore(m, &f);
        }
        if (o->progress) {
            double t = now_seconds();
            fit_progress p = {epoch, loss, corr, lr, t - start,
                              f.n_train / (t - epoch_start > 0 ? t - epoch_start : 1e-9),
                              report->best_epoch};
            o->progress(&p, o->user);
        }
        if (decays > o->max_lr_decays)
            break;
    }
    if (!status)
        restore(m, &f);
    report->best_validation_corr = best;
    report->seconds = now_seconds() - start;
    fit_buffers_free(&f);
    return status;
}
