/* network.c: the model assembled from its layers: parameter layout,
 * forward and backward passes over a batch, predictions and input gradients.
 *
 * The CNN is conv → (batch norm) → ELU per layer, then a readout per neuron
 * and ELU+1. The LNP baseline is fixed features → dense → exp. Both share
 * this file's entry points, so fitting and evaluation code is common. */
#include "network.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BN_MOMENTUM 0.1f

void model_config_default(model_config *c)
{
    memset(c, 0, sizeof *c);
    c->kind = MODEL_CNN;
    c->height = 36;
    c->width = 64;
    c->neurons = 1000;
    c->layers = 3;
    c->channels = 32;
    c->kernel[0] = 9;
    c->kernel[1] = 7;
    c->kernel[2] = 7;
    for (int l = 3; l < MODEL_MAX_LAYERS; l++)
        c->kernel[l] = 7;
    c->batch_norm = 1;
    c->readout = READOUT_GAUSSIAN;
    c->init_sigma = 0.1f;
    c->init_mu_range = 0.5f;
    c->features = LNP_PIXELS;
    c->seed = 1;
}

const char *model_kind_name(model_kind k)
{
    switch (k) {
    case MODEL_CNN: return "cnn";
    case MODEL_RANDOM_CORE: return "random-core";
    case MODEL_LNP: return "lnp";
    }
    return "unknown";
}

const char *readout_kind_name(readout_kind k)
{
    switch (k) {
    case READOUT_GAUSSIAN: return "gaussian";
    case READOUT_FACTORIZED: return "factorized";
    }
    return "unknown";
}

static int is_cnn(const model_config *c) { return c->kind != MODEL_LNP; }
/* A divisive normalization stage after the core (layers.h divnorm). */
static int has_normalization(const model_config *c) { return c->normalization_pool > 0.0f; }

int model_config_validate(const model_config *c, char *err)
{
    if (c->kind != MODEL_CNN && c->kind != MODEL_RANDOM_CORE && c->kind != MODEL_LNP)
        return model_fail(err, "unknown model kind %d", (int)c->kind);
    if (c->height < 1 || c->width < 1 || c->height > 1024 || c->width > 1024)
        return model_fail(err, "image size %d×%d outside 1..1024", c->height, c->width);
    if (c->neurons < 1 || c->neurons > 1000000)
        return model_fail(err, "neuron count %d outside 1..1000000", c->neurons);
    if (c->kind == MODEL_LNP) {
        if (c->features != LNP_PIXELS && c->features != LNP_GABOR)
            return model_fail(err, "unknown LNP features %d", (int)c->features);
        return 0;
    }
    if (c->layers < 1 || c->layers > MODEL_MAX_LAYERS)
        return model_fail(err, "layer count %d outside 1..%d", c->layers, MODEL_MAX_LAYERS);
    if (c->channels < 1 || c->channels > 512)
        return model_fail(err, "channel count %d outside 1..512", c->channels);
    for (int l = 0; l < c->layers; l++) {
        int k = c->kernel[l];
        if (k < 1 || k > 31 || k % 2 == 0)
            return model_fail(err, "layer %d kernel %d must be odd, 1..31", l + 1, k);
    }
    if (c->batch_norm != 0 && c->batch_norm != 1)
        return model_fail(err, "batch_norm must be 0 or 1, not %d", c->batch_norm);
    if (!(c->normalization_pool >= 0.0f && c->normalization_pool <= MODEL_MAX_NORMALIZATION_POOL))
        return model_fail(err, "normalization pool %g px outside 0..%g", c->normalization_pool,
                          MODEL_MAX_NORMALIZATION_POOL);
    if (c->readout != READOUT_GAUSSIAN && c->readout != READOUT_FACTORIZED)
        return model_fail(err, "unknown readout %d", (int)c->readout);
    if (!(c->init_sigma >= 0.0f && c->init_sigma <= 2.0f) ||
        !(c->init_mu_range >= 0.0f && c->init_mu_range <= 1.0f)) {
        return model_fail(err, "readout init sigma %g or mu range %g out of range",
                          c->init_sigma, c->init_mu_range);
    }
    return 0;
}

static size_t lnp_dim_of(const model_config *c)
{
    return c->features == LNP_GABOR ? (size_t)gabor_bank_size(c->height, c->width)
                                    : (size_t)c->height * c->width;
}

void model_config_sizes(const model_config *c, size_t *n_params, size_t *n_buffers)
{
    size_t N = (size_t)c->neurons, HW = (size_t)c->height * c->width;
    size_t p = 0, b = 0;
    if (!is_cnn(c)) {
        p = N * lnp_dim_of(c) + N;
        b = 2 * lnp_dim_of(c); /* feature mean and 1/std */
    } else {
        size_t C = (size_t)c->channels;
        for (int l = 0; l < c->layers; l++) {
            size_t cin = l == 0 ? 1 : C, k = (size_t)c->kernel[l];
            p += C * cin * k * k + C;
            if (c->batch_norm) {
                p += 2 * C;
                b += 2 * C;
            }
        }
        if (has_normalization(c))
            p += C * C + C;
        if (c->readout == READOUT_GAUSSIAN)
            p += N * 2 + N + N * C + N;
        else
            p += N * HW + N * C + N;
    }
    *n_params = p;
    *n_buffers = b;
}

/* Point the named views at their slices of params/buffers. The order here is
 * the order of the saved file, so it must not change within a file version. */
static void assign_views(model *m)
{
    const model_config *c = &m->cfg;
    float *p = m->params, *b = m->buffers;
    size_t N = (size_t)c->neurons, HW = (size_t)c->height * c->width;
    if (!is_cnn(c)) {
        m->readout_weight = p;
        p += N * (size_t)m->lnp_dim;
        m->readout_bias = p;
        m->lnp_feature_mean = b;
        m->lnp_feature_scale = b + m->lnp_dim;
        return;
    }
    size_t C = (size_t)c->channels;
    for (int l = 0; l < c->layers; l++) {
        conv_layer *L = &m->conv[l];
        L->cin = l == 0 ? 1 : c->channels;
        L->cout = c->channels;
        L->k = c->kernel[l];
        L->weight = p;
        p += (size_t)L->cout * L->cin * L->k * L->k;
        L->bias = p;
        p += C;
        if (c->batch_norm) {
            L->gamma = p;
            p += C;
            L->beta = p;
            p += C;
            L->running_mean = b;
            b += C;
            L->running_var = b;
            b += C;
        }
    }
    if (has_normalization(c)) {
        m->norm_weight = p;
        p += C * C;
        m->norm_const = p;
        p += C;
    }
    if (c->readout == READOUT_GAUSSIAN) {
        m->readout_mu = p;
        p += N * 2;
        m->readout_sigma = p;
        p += N;
    } else {
        m->readout_mask = p;
        p += N * HW;
    }
    m->readout_weight = p;
    p += N * C;
    m->readout_bias = p;
}

/* He-style initial weights; the readout bias is set from the data by
 * model_fit, so it starts at zero here. */
static void initialize(model *m)
{
    const model_config *c = &m->cfg;
    model_rng rng;
    model_rng_seed(&rng, c->seed);
    size_t N = (size_t)c->neurons, HW = (size_t)c->height * c->width;
    memset(m->params, 0, m->n_params * sizeof(float));
    if (!is_cnn(c)) { /* LNP: w = 0, bias and feature statistics from data */
        for (int d = 0; d < m->lnp_dim; d++)
            m->lnp_feature_scale[d] = 1.0f;
        return;
    }
    for (int l = 0; l < c->layers; l++) {
        conv_layer *L = &m->conv[l];
        size_t fan_in = (size_t)L->cin * L->k * L->k;
        float scale = sqrtf(2.0f / (float)fan_in);
        size_t n = (size_t)L->cout * fan_in;
        for (size_t i = 0; i < n; i++)
            L->weight[i] = scale * (float)model_rng_normal(&rng);
        if (c->batch_norm) {
            for (int o = 0; o < L->cout; o++) {
                L->gamma[o] = 1.0f;
                L->running_var[o] = 1.0f;
            }
        }
    }
    size_t C = (size_t)c->channels;
    /* Divisive normalization starts near the identity (each denominator
     * about 1) and learns how much each channel's pooled energy divides. */
    if (has_normalization(c)) {
        for (size_t i = 0; i < C * C; i++)
            m->norm_weight[i] = 0.1f;
        for (size_t i = 0; i < C; i++)
            m->norm_const[i] = 1.0f;
    }
    if (c->readout == READOUT_GAUSSIAN) {
        for (size_t n = 0; n < N; n++) {
            m->readout_mu[2 * n] = c->init_mu_range * (float)(2.0 * model_rng_uniform(&rng) - 1.0);
            m->readout_mu[2 * n + 1] = c->init_mu_range * (float)(2.0 * model_rng_uniform(&rng) - 1.0);
            m->readout_sigma[n] = c->init_sigma;
        }
    } else {
        float scale = 1.0f / sqrtf((float)HW);
        for (size_t i = 0; i < N * HW; i++)
            m->readout_mask[i] = scale * (float)model_rng_normal(&rng);
    }
    float wscale = 1.0f / (float)C;
    for (size_t i = 0; i < N * C; i++)
        m->readout_weight[i] = wscale * (float)model_rng_normal(&rng);
}

/* Which parameters Adam may change: the random-core control freezes the
 * whole core and trains the readout only. */
static void set_trainable(model *m)
{
    memset(m->trainable, 1, m->n_params);
    if (m->cfg.kind != MODEL_RANDOM_CORE)
        return;
    /* The core's parameters come first in the vector (see assign_views). */
    const float *readout_start = m->readout_mu ? m->readout_mu : m->readout_mask;
    memset(m->trainable, 0, (size_t)(readout_start - m->params));
}

int model_create(model **out, const model_config *c, char *err)
{
    *out = NULL;
    if (model_config_validate(c, err))
        return 1;
    model *m = calloc(1, sizeof *m);
    if (!m)
        return model_fail(err, "out of memory");
    /* Our own OpenMP loops split the work; OpenBLAS threads inside them would
     * only fight them for the cores (measured: a third of the time spent
     * yielding). This is OpenBLAS's process-wide setting. */
    openblas_set_num_threads(1);
    m->cfg = *c;
    m->input_mean = 0.0f;
    m->input_std = 1.0f;
    m->threads = 2;
    m->lnp_dim = is_cnn(c) ? 0 : (int)lnp_dim_of(c);
    model_config_sizes(c, &m->n_params, &m->n_buffers);
    m->params = calloc(m->n_params, sizeof(float));
    m->grads = calloc(m->n_params, sizeof(float));
    m->trainable = calloc(m->n_params, 1);
    m->buffers = calloc(m->n_buffers ? m->n_buffers : 1, sizeof(float));
    if (!m->params || !m->grads || !m->trainable || !m->buffers) {
        model_fail(err, "out of memory for %zu parameters", m->n_params);
        model_destroy(m);
        return 1;
    }
    assign_views(m);
    initialize(m);
    set_trainable(m);
    m->weights_changed = 1;
    *out = m;
    return 0;
}

static void workspace_free(workspace *ws)
{
    for (int l = 0; l < MODEL_MAX_LAYERS; l++) {
        if (ws->fft[l])
            conv_fft_destroy(ws->fft[l]);
        free(ws->conv_out[l]);
        free(ws->norm_out[l]);
        free(ws->act[l]);
        free(ws->bn_mean[l]);
        free(ws->bn_rstd[l]);
    }
    free(ws->input);
    free(ws->grad_a);
    free(ws->grad_b);
    free(ws->grad_input);
    free(ws->active_index);
    free(ws->active_count);
    free(ws->active_scratch);
    free(ws->positions);
    free(ws->noise);
    free(ws->pooled);
    free(ws->features);
    free(ws->grad_features);
    free(ws->linear);
    free(ws->rate);
    free(ws->grad_rate);
    free(ws->grad_linear);
    free(ws->grad_positions);
    free(ws->gabor_bank);
    free(ws->dn_out);
    free(ws->dn_q);
    free(ws->dn_d);
    free(ws->dn_scratch);
    memset(ws, 0, sizeof *ws);
}

void model_destroy(model *m)
{
    if (!m)
        return;
    workspace_free(&m->ws);
    free(m->params);
    free(m->grads);
    free(m->trainable);
    free(m->buffers);
    free(m);
}

const model_config *model_get_config(const model *m) { return &m->cfg; }
size_t model_parameter_count(const model *m) { return m->n_params; }

void model_set_threads(model *m, int threads)
{
    m->threads = threads < 1 ? 1 : threads;
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        if (m->ws.fft[l])
            conv_fft_set_threads(m->ws.fft[l], m->threads);
}

void model_set_standardization(model *m, float mean, float std)
{
    m->input_mean = mean;
    m->input_std = std > MODEL_INPUT_STD_MIN ? std : 1.0f;
}

void model_get_standardization(const model *m, float *mean, float *std)
{
    *mean = m->input_mean;
    *std = m->input_std;
}

int model_readout_positions(const model *m, float *xy, char *err)
{
    if (!is_cnn(&m->cfg))
        return model_fail(err, "the LNP model has no readout positions");
    if (m->cfg.readout != READOUT_GAUSSIAN)
        return model_fail(err, "a %s readout has no positions",
                          readout_kind_name(m->cfg.readout));
    memcpy(xy, m->readout_mu, (size_t)m->cfg.neurons * 2 * sizeof *xy);
    return 0;
}

void model_params_changed(model *m) { m->weights_changed = 1; }

static float *alloc_floats(size_t n, int *failed)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        *failed = 1;
    return p;
}

int model_workspace_reserve(model *m, int batch, char *err)
{
    if (batch <= m->ws.capacity)
        return 0;
    workspace_free(&m->ws);
    workspace *ws = &m->ws;
    const model_config *c = &m->cfg;
    size_t B = (size_t)batch, N = (size_t)c->neurons, HW = (size_t)c->height * c->width;
    size_t C = (size_t)c->channels;
    int failed = 0;
    ws->input = alloc_floats(B * HW, &failed);
    ws->grad_input = alloc_floats(B * HW, &failed);
    ws->linear = alloc_floats(B * N, &failed);
    ws->rate = alloc_floats(B * N, &failed);
    ws->grad_rate = alloc_floats(B * N, &failed);
    ws->grad_linear = alloc_floats(B * N, &failed);
    if (!is_cnn(c)) {
        size_t D = (size_t)m->lnp_dim;
        ws->features = alloc_floats(B * D, &failed);
        ws->grad_features = alloc_floats(B * D, &failed);
        if (c->features == LNP_GABOR) {
            ws->gabor_bank = alloc_floats(D * HW, &failed);
            if (!failed)
                gabor_bank_build(ws->gabor_bank, c->height, c->width);
        }
    } else {
        for (int l = 0; l < c->layers && !failed; l++) {
            const conv_layer *L = &m->conv[l];
            ws->fft[l] = conv_fft_create(batch, L->cin, L->cout, c->height, c->width, L->k);
            if (!ws->fft[l]) {
                failed = 1;
                break;
            }
            conv_fft_set_threads(ws->fft[l], m->threads);
            ws->conv_out[l] = alloc_floats(B * C * HW, &failed);
            ws->act[l] = alloc_floats(B * C * HW, &failed);
            if (c->batch_norm) {
                ws->norm_out[l] = alloc_floats(B * C * HW, &failed);
                ws->bn_mean[l] = alloc_floats(C, &failed);
                ws->bn_rstd[l] = alloc_floats(C, &failed);
            }
        }
        ws->grad_a = alloc_floats(B * C * HW, &failed);
        ws->active_index = calloc(B * HW, sizeof(int));
        ws->active_count = calloc(B, sizeof(int));
        ws->active_scratch = calloc(HW, 1);
        if (!ws->active_index || !ws->active_count || !ws->active_scratch)
            failed = 1;
        ws->grad_b = alloc_floats(B * C * HW, &failed);
        if (has_normalization(c)) {
            ws->dn_out = alloc_floats(B * C * HW, &failed);
            ws->dn_q = alloc_floats(B * C * HW, &failed);
            ws->dn_d = alloc_floats(B * C * HW, &failed);
            ws->dn_scratch = alloc_floats(
                divnorm_scratch_size((int)C, c->height, c->width, c->normalization_pool), &failed);
        }
        if (c->readout == READOUT_GAUSSIAN) {
            ws->positions = alloc_floats(B * N * 2, &failed);
            ws->noise = alloc_floats(B * N * 2, &failed);
            ws->grad_positions = alloc_floats(B * N * 2, &failed);
        } else {
            ws->pooled = alloc_floats(B * N * C, &failed);
        }
    }
    if (failed) {
        workspace_free(ws);
        return model_fail(err, "out of memory for a batch of %d images", batch);
    }
    ws->capacity = batch;
    m->weights_changed = 1;
    return 0;
}

/* The conv kernels are transformed once per weight change, not per call:
 * MEI synthesis runs thousands of passes with fixed weights. */
static void refresh_kernels(model *m)
{
    if (!m->weights_changed || !is_cnn(&m->cfg))
        return;
    for (int l = 0; l < m->cfg.layers; l++)
        conv_fft_set_weights(m->ws.fft[l], m->conv[l].weight);
    m->weights_changed = 0;
}

static void standardize(model *m, const float *images, int B)
{
    size_t n = (size_t)B * m->cfg.height * m->cfg.width;
    float mean = m->input_mean, inv = 1.0f / m->input_std;
    for (size_t i = 0; i < n; i++)
        m->ws.input[i] = (images[i] - mean) * inv;
}

/* Readout positions: the mean while evaluating; mean + σ·ε while training,
 * clamped to the feature map. Clamped coordinates get no gradient. */
static void draw_positions(model *m, int B, model_rng *rng)
{
    workspace *ws = &m->ws;
    size_t N = (size_t)m->cfg.neurons;
    for (size_t b = 0; b < (size_t)B; b++) {
        for (size_t n = 0; n < N; n++) {
            for (int d = 0; d < 2; d++) {
                size_t i = (b * N + n) * 2 + d;
                float eps = rng ? (float)model_rng_normal(rng) : 0.0f;
                float pos = m->readout_mu[2 * n + d] + fabsf(m->readout_sigma[n]) * eps;
                ws->noise[i] = eps;
                ws->positions[i] = pos < -1.0f ? -1.0f : pos > 1.0f ? 1.0f : pos;
            }
        }
    }
}

/* The LNP's fixed features of the standardized images in ws.input, before
 * their own standardization: the pixels, or the Gabor bank's responses. */
static void lnp_raw_features(model *m, int B)
{
    workspace *ws = &m->ws;
    int HW = m->cfg.height * m->cfg.width, D = m->lnp_dim;
    if (m->cfg.features == LNP_GABOR)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, D, HW, 1.0f, ws->input, HW,
                    ws->gabor_bank, HW, 0.0f, ws->features, D);
    else
        memcpy(ws->features, ws->input, (size_t)B * D * sizeof(float));
}

int model_lnp_feature_statistics(model *m, const float *images, int count, char *err)
{
    if (is_cnn(&m->cfg))
        return 0;
    if (count < 2)
        return model_fail(err, "LNP feature statistics need 2 or more images");
    int D = m->lnp_dim, HW = m->cfg.height * m->cfg.width;
    int chunk = count < 64 ? count : 64;
    if (model_workspace_reserve(m, chunk, err))
        return 1;
    double *sum = calloc((size_t)D, sizeof(double)), *sum2 = calloc((size_t)D, sizeof(double));
    if (!sum || !sum2) {
        free(sum);
        free(sum2);
        return model_fail(err, "out of memory for LNP feature statistics");
    }
    for (int start = 0; start < count; start += chunk) {
        int B = count - start < chunk ? count - start : chunk;
        standardize(m, images + (size_t)start * HW, B);
        lnp_raw_features(m, B);
        for (int b = 0; b < B; b++) {
            const float *f = m->ws.features + (size_t)b * D;
            for (int d = 0; d < D; d++) {
                sum[d] += f[d];
                sum2[d] += (double)f[d] * f[d];
            }
        }
    }
    for (int d = 0; d < D; d++) {
        double mean = sum[d] / count, var = sum2[d] / count - mean * mean;
        m->lnp_feature_mean[d] = (float)mean;
        m->lnp_feature_scale[d] = var > 1e-12 ? (float)(1.0 / sqrt(var)) : 1.0f;
    }
    free(sum);
    free(sum2);
    return 0;
}

/* The convolutional core on the standardized images in ws.input; returns
 * the last layer's activations (B×C×HW), divisively normalized where the
 * model has that stage. rng == NULL means evaluation mode. */
static const float *core_forward(model *m, int B, model_rng *rng)
{
    const model_config *c = &m->cfg;
    workspace *ws = &m->ws;
    int HW = c->height * c->width;
    refresh_kernels(m);
    const float *in = ws->input;
    size_t n_act = (size_t)B * c->channels * HW;
    for (int l = 0; l < c->layers; l++) {
        conv_layer *L = &m->conv[l];
        conv_fft_forward(ws->fft[l], ws->conv_out[l], in, L->bias, B);
        const float *pre = ws->conv_out[l];
        if (c->batch_norm) {
            if (rng)
                batchnorm_forward_train(ws->norm_out[l], ws->bn_mean[l], ws->bn_rstd[l],
                                        ws->conv_out[l], L->gamma, L->beta, L->running_mean,
                                        L->running_var, BN_MOMENTUM, B, L->cout, HW);
            else
                batchnorm_forward_eval(ws->norm_out[l], ws->conv_out[l], L->gamma, L->beta,
                                       L->running_mean, L->running_var, B, L->cout, HW);
            pre = ws->norm_out[l];
        }
        elu_forward(ws->act[l], pre, n_act);
        in = ws->act[l];
    }
    if (has_normalization(c)) {
        divnorm_forward(ws->dn_out, ws->dn_q, ws->dn_d, ws->dn_scratch, in, m->norm_weight,
                        m->norm_const, B, c->channels, c->height, c->width,
                        c->normalization_pool);
        in = ws->dn_out;
    }
    return in;
}

/* Forward pass. rng == NULL means evaluation mode. Leaves rates in ws.rate. */
static void forward(model *m, const float *images, int B, model_rng *rng)
{
    const model_config *c = &m->cfg;
    workspace *ws = &m->ws;
    int H = c->height, W = c->width, HW = H * W, N = c->neurons;
    standardize(m, images, B);
    if (!is_cnn(c)) {
        int D = m->lnp_dim;
        lnp_raw_features(m, B);
        /* Standardized features keep wᵀφ in a range where exp does not
         * overflow on the first Adam steps. */
        for (size_t b = 0; b < (size_t)B; b++)
            for (size_t d = 0; d < (size_t)D; d++)
                ws->features[b * D + d] = (ws->features[b * D + d] - m->lnp_feature_mean[d]) *
                                          m->lnp_feature_scale[d];
        dense_forward(ws->linear, ws->features, m->readout_weight, m->readout_bias, B, D, N);
        exp_forward(ws->rate, ws->linear, (size_t)B * N);
        return;
    }
    const float *in = core_forward(m, B, rng);
    int C = c->channels;
    if (c->readout == READOUT_GAUSSIAN) {
        draw_positions(m, B, rng);
        gaussian_readout_forward(ws->linear, in, ws->positions, m->readout_weight,
                                 m->readout_bias, B, C, H, W, N);
    } else {
        factorized_readout_forward(ws->linear, ws->pooled, in, m->readout_mask,
                                   m->readout_weight, m->readout_bias, B, C, HW, N);
    }
    elu1_forward(ws->rate, ws->linear, (size_t)B * N);
}

/* Chain the readout's position gradient to its mean and spread:
 * pos = clamp(mu + |sigma|·ε), so dmu = dpos and dsigma = dpos·ε·sign(sigma)
 * where the position was not clamped. */
static void accumulate_position_grads(model *m, int B)
{
    workspace *ws = &m->ws;
    size_t N = (size_t)m->cfg.neurons;
    float *dmu = m->grads + (m->readout_mu - m->params);
    float *dsigma = m->grads + (m->readout_sigma - m->params);
    for (size_t b = 0; b < (size_t)B; b++) {
        for (size_t n = 0; n < N; n++) {
            float sign = m->readout_sigma[n] < 0.0f ? -1.0f : 1.0f;
            for (int d = 0; d < 2; d++) {
                size_t i = (b * N + n) * 2 + d;
                float raw = m->readout_mu[2 * n + d] + fabsf(m->readout_sigma[n]) * ws->noise[i];
                if (raw < -1.0f || raw > 1.0f)
                    continue;
                dmu[2 * n + d] += ws->grad_positions[i];
                dsigma[n] += ws->grad_positions[i] * ws->noise[i] * sign;
            }
        }
    }
}

/* Costs of a layer's input gradient in the scatter loop's multiply-adds, to
 * pick the cheaper path. Scattering: Cin·Cout·K² per active pixel. FFT, per
 * image and pixel: a transform of each of the Cin + Cout maps (~26
 * multiply-adds' worth of time a pixel: a 40×72 transform took ~4 µs in the
 * profile of the reference step) and the channel mixing, which at batch 1 is
 * bound by reading the kernel spectra (~4 a pixel per channel pair). These
 * are estimates from that profile, not tuned; on the reference layers the
 * switch comes at ~11% of the pixels active for 32→32 K=7 and ~38% for
 * 1→32 K=9, and a one-neuron gradient stays well below both. */
static double sparse_cost(size_t active, const conv_layer *L)
{
    return (double)active * L->cin * L->cout * L->k * L->k;
}

static double fft_backward_cost(int B, int HW, const conv_layer *L)
{
    return (double)B * HW * (26.0 * (L->cin + L->cout) + 4.0 * L->cin * L->cout);
}

/* An input gradient alone through conv layer l, when dconv is nonzero at few
 * enough pixels that scattering them beats the FFT path (see conv_sparse.c).
 * Returns 1 when it wrote din, 0 when the FFT path should. */
static int sparse_input_grad(model *m, int l, float *din, const float *dconv, int B)
{
    const model_config *c = &m->cfg;
    workspace *ws = &m->ws;
    const conv_layer *L = &m->conv[l];
    int HW = c->height * c->width;
    size_t active = conv_active_pixels(ws->active_index, ws->active_count, ws->active_scratch,
                                       dconv, B, L->cout, HW);
    if (sparse_cost(active, L) > fft_backward_cost(B, HW, L))
        return 0;
    return conv2d_backward_input_sparse(din, dconv, ws->active_index, ws->active_count,
                                        L->weight, B, L->cin, L->cout, c->height, c->width,
                                        L->k) == 0;
}

/* Backward pass from ws.grad_rate. With `params` set, parameter gradients are
 * accumulated into m->grads (training mode, after a training forward);
 * with `want_input` set, the gradient with respect to the raw images lands in
 * ws.grad_input. */
static void backward(model *m, int B, int params, int want_input, int training)
{
    const model_config *c = &m->cfg;
    workspace *ws = &m->ws;
    int H = c->height, W = c->width, HW = H * W, N = c->neurons;
    size_t BN = (size_t)B * N;
    float *g = m->grads;
#define GRAD_OF(view) (params ? g + ((view) - m->params) : NULL)
    if (!is_cnn(c)) {
        int D = m->lnp_dim;
        exp_backward(ws->grad_linear, ws->grad_rate, ws->rate, BN);
        dense_backward(want_input ? ws->grad_features : NULL, GRAD_OF(m->readout_weight),
                       GRAD_OF(m->readout_bias), ws->grad_linear, ws->features,
                       m->readout_weight, B, D, N);
        if (want_input) {
            for (size_t b = 0; b < (size_t)B; b++)
                for (size_t d = 0; d < (size_t)D; d++)
                    ws->grad_features[b * D + d] *= m->lnp_feature_scale[d];
            if (c->features == LNP_GABOR)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, HW, D, 1.0f,
                            ws->grad_features, D, ws->gabor_bank, HW, 0.0f, ws->grad_input, HW);
            else
                memcpy(ws->grad_input, ws->grad_features, (size_t)B * HW * sizeof(float));
        }
    } else {
        int C = c->channels, L_last = c->layers - 1;
        size_t n_act = (size_t)B * C * HW;
        const float *core_out = has_normalization(c) ? ws->dn_out : ws->act[L_last];
        elu1_backward(ws->grad_linear, ws->grad_rate, ws->linear, BN);
        float *dfeat = ws->grad_a, *dother = ws->grad_b;
        if (c->readout == READOUT_GAUSSIAN) {
            gaussian_readout_backward(dfeat, params ? ws->grad_positions : NULL,
                                      GRAD_OF(m->readout_weight), GRAD_OF(m->readout_bias),
                                      ws->grad_linear, core_out, ws->positions,
                                      m->readout_weight, B, C, H, W, N);
            if (params)
                accumulate_position_grads(m, B);
        } else {
            factorized_readout_backward(dfeat, GRAD_OF(m->readout_mask),
                                        GRAD_OF(m->readout_weight), GRAD_OF(m->readout_bias),
                                        ws->grad_linear, ws->pooled, core_out,
                                        m->readout_mask, m->readout_weight, B, C, HW, N);
        }
        if (has_normalization(c)) { /* dfeat: dL/d(dn_out) → dL/d(act[L_last]) */
            divnorm_backward(dother, GRAD_OF(m->norm_weight), GRAD_OF(m->norm_const),
                             ws->dn_scratch, dfeat, ws->act[L_last], ws->dn_out, ws->dn_q,
                             ws->dn_d, m->norm_weight, m->norm_const, B, C, H, W,
                             c->normalization_pool);
            float *t = dfeat;
            dfeat = dother;
            dother = t;
        }
        /* dfeat holds dL/d(act[l]); walk the layers down. */
        for (int l = L_last; l >= 0; l--) {
            conv_layer *Lr = &m->conv[l];
            elu_backward(dother, dfeat, ws->act[l], n_act);
            float *dconv = dother;
            if (c->batch_norm) {
                if (training)
                    batchnorm_backward_train(dfeat, GRAD_OF(Lr->gamma), GRAD_OF(Lr->beta),
                                             dother, ws->conv_out[l], ws->bn_mean[l],
                                             ws->bn_rstd[l], Lr->gamma, B, C, HW);
                else
                    batchnorm_backward_eval(dfeat, dother, Lr->gamma, Lr->running_var, B, C,
                                            HW);
                dconv = dfeat;
            }
            float *din = NULL;
            if (l > 0)
                din = dconv == dfeat ? dother : dfeat;
            else if (want_input)
                din = ws->grad_input;
            if (params || !din || !sparse_input_grad(m, l, din, dconv, B))
                conv_fft_backward(ws->fft[l], din, GRAD_OF(Lr->weight), GRAD_OF(Lr->bias),
                                  dconv, B);
            if (l > 0) {
                /* din becomes the next layer's dL/d(act); keep the names straight. */
                float *t = din == dfeat ? dother : dfeat;
                dfeat = din;
                dother = t;
            }
        }
    }
#undef GRAD_OF
    if (want_input) {
        float inv = 1.0f / m->input_std;
        size_t n = (size_t)B * HW;
        for (size_t i = 0; i < n; i++)
            ws->grad_input[i] *= inv;
    }
}

/* Evaluation passes go through the workspace in chunks of its capacity, so
 * callers may pass any number of images. */
#define EVAL_CHUNK 64

static int begin_pass(model *m, int batch, char *err)
{
    if (batch < 1)
        return model_fail(err, "batch of %d images", batch);
    omp_set_num_threads(m->threads);
    return model_workspace_reserve(m, batch < EVAL_CHUNK ? batch : EVAL_CHUNK, err);
}

/* The index of the first non-finite value of v (n floats), or -1. */
static long first_non_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return (long)i;
    return -1;
}

/* A NaN pixel gives NaN rates, and finite weights can still overflow (an
 * extreme input mean, weights near FLT_MAX): both are refused here, where
 * every prediction passes, so no caller can take a NaN for a rate. The scans
 * cost B·(H·W + N) comparisons beside the pass's convolutions. */
static int check_finite_images(const float *images, int batch, size_t HW, char *err)
{
    long i = first_non_finite(images, (size_t)batch * HW);
    if (i < 0)
        return 0;
    return model_fail(err, "image %ld of the batch: pixel %ld is %g, not a finite value",
                      i / (long)HW, i % (long)HW, (double)images[i]);
}

static int check_finite_rates(const float *rates, int batch, size_t N, char *err)
{
    long i = first_non_finite(rates, (size_t)batch * N);
    if (i < 0)
        return 0;
    return model_fail(err, "the model predicts a non-finite rate (%g) for image %ld of "
                      "the batch, neuron %ld: its weights, batch-norm statistics or input "
                      "standardization overflow", (double)rates[i], i / (long)N, i % (long)N);
}

/* A pass over `batch` images, refused when one of their pixels is not finite. */
static int begin_image_pass(model *m, const float *images, int batch, char *err)
{
    if (begin_pass(m, batch, err))
        return 1;
    return check_finite_images(images, batch, (size_t)m->cfg.height * m->cfg.width, err);
}

/* The forward pass over the chunk of B images from `start` (of at most the
 * workspace's capacity), its rates copied into rates (may be NULL). */
static void forward_chunk(model *m, const float *images, int start, int B, float *rates)
{
    size_t HW = (size_t)m->cfg.height * m->cfg.width, N = (size_t)m->cfg.neurons;
    forward(m, images + start * HW, B, NULL);
    if (rates)
        memcpy(rates + start * N, m->ws.rate, (size_t)B * N * sizeof(float));
}

static int chunk_size(const model *m, int batch, int start)
{
    return batch - start < m->ws.capacity ? batch - start : m->ws.capacity;
}

int model_predict(model *m, const float *images, int batch, float *rates, char *err)
{
    if (begin_image_pass(m, images, batch, err))
        return 1;
    for (int start = 0; start < batch; start += m->ws.capacity)
        forward_chunk(m, images, start, chunk_size(m, batch, start), rates);
    return check_finite_rates(rates, batch, (size_t)m->cfg.neurons, err);
}

/* Forward, then the chunk's weights (given, or from its rates), backward. */
static int input_gradient(model *m, const float *images, int batch, const float *weights,
                          model_weights_fn weights_of, void *ctx, float *grad, float *rates,
                          char *err)
{
    if (begin_image_pass(m, images, batch, err))
        return 1;
    size_t HW = (size_t)m->cfg.height * m->cfg.width, N = (size_t)m->cfg.neurons;
    for (int start = 0; start < batch; start += m->ws.capacity) {
        int B = chunk_size(m, batch, start);
        forward_chunk(m, images, start, B, rates);
        if (weights_of)
            weights_of(m->ws.rate, start, B, m->ws.grad_rate, ctx);
        else
            memcpy(m->ws.grad_rate, weights + start * N, (size_t)B * N * sizeof(float));
        backward(m, B, 0, 1, 0);
        memcpy(grad + start * HW, m->ws.grad_input, (size_t)B * HW * sizeof(float));
    }
    if (rates && check_finite_rates(rates, batch, N, err))
        return 1;
    if (first_non_finite(grad, (size_t)batch * HW) >= 0)
        return model_fail(err, "the model's input gradient is not finite: its weights, "
                          "batch-norm statistics or input standardization overflow");
    return 0;
}

int model_input_gradient(model *m, const float *images, int batch, const float *weights,
                         float *grad, float *rates, char *err)
{
    return input_gradient(m, images, batch, weights, NULL, NULL, grad, rates, err);
}

int model_input_gradient_by(model *m, const float *images, int batch,
                            model_weights_fn weights_of, void *ctx, float *grad, float *rates,
                            char *err)
{
    if (!weights_of)
        return model_fail(err, "model_input_gradient_by: no weights function");
    return input_gradient(m, images, batch, NULL, weights_of, ctx, grad, rates, err);
}

int model_core_features_shape(const model *m, int pool, int *channels, int *height,
                              int *width, char *err)
{
    const model_config *c = &m->cfg;
    if (!is_cnn(c))
        return model_fail(err, "a %s model has no convolutional core",
                          model_kind_name(c->kind));
    if (pool < 0)
        return model_fail(err, "pooling of %d pixels (0: whole map, 1: none)", pool);
    *channels = c->channels;
    *height = pool == 0 ? 1 : (c->height + pool - 1) / pool;
    *width = pool == 0 ? 1 : (c->width + pool - 1) / pool;
    return 0;
}

/* Average one H×W map over pool×pool blocks (the whole map for pool 0). */
static void pool_map(const float *map, int H, int W, int pool, float *out)
{
    int ph = pool ? pool : H, pw = pool ? pool : W;
    int OH = (H + ph - 1) / ph, OW = (W + pw - 1) / pw;
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            int y1 = (oy + 1) * ph < H ? (oy + 1) * ph : H;
            int x1 = (ox + 1) * pw < W ? (ox + 1) * pw : W;
            double sum = 0;
            for (int y = oy * ph; y < y1; y++)
                for (int x = ox * pw; x < x1; x++)
                    sum += map[(size_t)y * W + x];
            out[(size_t)oy * OW + ox] = (float)(sum / ((double)(y1 - oy * ph) * (x1 - ox * pw)));
        }
}

int model_core_features(model *m, const float *images, int batch, int pool, float *out,
                        char *err)
{
    int C, OH, OW;
    if (model_core_features_shape(m, pool, &C, &OH, &OW, err) || begin_pass(m, batch, err))
        return 1;
    int H = m->cfg.height, W = m->cfg.width;
    size_t HW = (size_t)H * W, per_image = (size_t)C * OH * OW;
    for (int start = 0; start < batch; start += m->ws.capacity) {
        int B = chunk_size(m, batch, start);
        standardize(m, images + start * HW, B);
        const float *maps = core_forward(m, B, NULL);
        float *dst = out + (size_t)start * per_image;
        if (pool == 1) {
            memcpy(dst, maps, (size_t)B * per_image * sizeof(float));
            continue;
        }
        for (size_t k = 0; k < (size_t)B * C; k++)
            pool_map(maps + k * HW, H, W, pool, dst + k * OH * OW);
    }
    return 0;
}

int model_can_translate(const model *m)
{
    return is_cnn(&m->cfg) && m->cfg.readout == READOUT_GAUSSIAN;
}

/* One neuron's rate read from one image's feature map (C×H×W) at map pixel
 * (px, py), as the Gaussian readout and ELU + 1 compute it; −∞ off the map. */
static float translated_rate(const model *m, const float *features, int neuron, float px,
                             float py)
{
    const model_config *c = &m->cfg;
    int H = c->height, W = c->width, C = c->channels;
    if (!(px >= 0.0f && px <= (float)(W - 1) && py >= 0.0f && py <= (float)(H - 1)))
        return -INFINITY;
    float pos[2] = {W > 1 ? 2.0f * px / (float)(W - 1) - 1.0f : 0.0f,
                    H > 1 ? 2.0f * py / (float)(H - 1) - 1.0f : 0.0f};
    int x0, x1, y0, y1;
    float w[4];
    gaussian_readout_tap(pos, H, W, &x0, &x1, &y0, &y1, w);
    const float *weight = m->readout_weight + (size_t)neuron * C;
    size_t HW = (size_t)H * W;
    float acc = 0.0f;
    for (int ch = 0; ch < C; ch++) {
        const float *map = features + ch * HW;
        acc += weight[ch] * (w[0] * map[(size_t)y0 * W + x0] + w[1] * map[(size_t)y0 * W + x1] +
                             w[2] * map[(size_t)y1 * W + x0] + w[3] * map[(size_t)y1 * W + x1]);
    }
    float linear = m->readout_bias[neuron] + acc, rate;
    elu1_forward(&rate, &linear, 1);
    return rate;
}

int model_predict_translated(model *m, const float *images, int batch, const int *neurons,
                             int n, const int *shifts, int n_shifts, float *rates, char *err)
{
    const model_config *c = &m->cfg;
    if (!model_can_translate(m))
        return model_fail(err, "predictions of moved images need a core with a Gaussian "
                          "readout (this is a %s model%s)", model_kind_name(c->kind),
                          is_cnn(c) ? " with a factorized readout" : "");
    for (int j = 0; j < n; j++)
        if (neurons[j] < 0 || neurons[j] >= c->neurons)
            return model_fail(err, "neuron %d of a model of %d", neurons[j], c->neurons);
    if (begin_image_pass(m, images, batch, err))
        return 1;
    int H = c->height, W = c->width, C = c->channels, S = n_shifts;
    size_t HW = (size_t)H * W;
    float half_x = 0.5f * (float)(W - 1), half_y = 0.5f * (float)(H - 1);
    for (int start = 0; start < batch; start += m->ws.capacity) {
        int B = chunk_size(m, batch, start);
        standardize(m, images + start * HW, B);
        const float *features = core_forward(m, B, NULL);
#pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < B; b++)
            for (int s = 0; s < S; s++)
                for (int j = 0; j < n; j++) {
                    /* the evaluation-mode position: μ clamped to the map */
                    const float *mu = m->readout_mu + 2 * (size_t)neurons[j];
                    float mx = mu[0] < -1.0f ? -1.0f : mu[0] > 1.0f ? 1.0f : mu[0];
                    float my = mu[1] < -1.0f ? -1.0f : mu[1] > 1.0f ? 1.0f : mu[1];
                    float px = (mx + 1.0f) * half_x - (float)shifts[2 * s];
                    float py = (my + 1.0f) * half_y - (float)shifts[2 * s + 1];
                    rates[((size_t)(start + b) * S + s) * n + j] = translated_rate(
                        m, features + (size_t)b * C * HW, neurons[j], px, py);
                }
    }
    for (size_t i = 0; i < (size_t)batch * S * n; i++)
        if (isnan(rates[i]) || rates[i] == INFINITY)
            return model_fail(err, "the model predicts a non-finite rate (%g) for a moved "
                              "image: its weights, batch-norm statistics or input "
                              "standardization overflow", (double)rates[i]);
    return 0;
}

int model_train_step(model *m, const float *images, const float *responses, int batch,
                     model_rng *rng, float laplace_weight, float l1_weight, double *loss,
                     char *err)
{
    if (batch < 1)
        return model_fail(err, "batch of %d images", batch);
    omp_set_num_threads(m->threads);
    if (model_workspace_reserve(m, batch, err))
        return 1;
    const model_config *c = &m->cfg;
    memset(m->grads, 0, m->n_params * sizeof(float));
    forward(m, images, batch, rng);
    *loss = poisson_loss(m->ws.grad_rate, m->ws.rate, responses, batch, c->neurons);
    backward(m, batch, 1, 0, 1);
    if (is_cnn(c) && laplace_weight > 0.0f && c->kind == MODEL_CNN) {
        conv_layer *L = &m->conv[0];
        laplace_penalty(m->grads + (L->weight - m->params), L->weight, L->cout, L->cin, L->k,
                        laplace_weight);
    }
    if (l1_weight > 0.0f) {
        size_t n = (size_t)c->neurons * (is_cnn(c) ? (size_t)c->channels : (size_t)m->lnp_dim);
        l1_penalty(m->grads + (m->readout_weight - m->params), m->readout_weight, n, l1_weight);
    }
    return 0;
}
