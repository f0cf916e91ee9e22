/* test_network.c: the assembled model. Gradients of the whole network
 * (parameters and input) against finite differences, for every model kind
 * and readout; evaluation-mode semantics; save/load round trips and damaged
 * files; a small fit that must learn; an overfitting fit that must return
 * its best epoch's weights, and its learning-rate schedule and input
 * standardization; the random-core control's frozen core. */
#include "network.h"
#include "test.h"
#include "test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { H = 8, W = 10, N = 5, B = 3 };

static void random_images(float *x, int count, model_rng *rng)
{
    for (int i = 0; i < count * H * W; i++)
        x[i] = (float)model_rng_uniform(rng);
}

/* pool: the normalization stage's σ in px (0: none). */
static model *tiny_model_pooled(model_kind kind, readout_kind readout, int batch_norm,
                                lnp_features features, float pool)
{
    model_config c;
    model_config_default(&c);
    c.kind = kind;
    c.height = H;
    c.width = W;
    c.neurons = N;
    c.layers = 2;
    c.channels = 3;
    c.kernel[0] = 5;
    c.kernel[1] = 3;
    c.batch_norm = batch_norm;
    c.readout = readout;
    c.features = features;
    c.normalization_pool = pool;
    c.init_mu_range = 0.6f;
    c.seed = 7;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    model_set_standardization(m, 0.5f, 0.25f);
    /* Non-trivial weights everywhere so no gradient is zero by accident. */
    model_rng rng;
    model_rng_seed(&rng, 99);
    if (kind == MODEL_LNP)
        for (size_t i = 0; i < m->n_params; i++)
            m->params[i] = 0.05f * (float)model_rng_normal(&rng);
    for (int i = 0; i < N; i++)
        m->readout_bias[i] = 0.3f;
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = 0.5f + (float)model_rng_uniform(&rng);
    if (kind == MODEL_LNP) /* feature means near 0, scales in [0.5, 1] */
        for (int d = 0; d < m->lnp_dim; d++) {
            m->lnp_feature_mean[d] = 0.1f * (float)model_rng_normal(&rng);
            m->lnp_feature_scale[d] = 0.5f + 0.5f * (float)model_rng_uniform(&rng);
        }
    /* Readout positions at the centres of grid cells with a small spread:
     * bilinear sampling has kinks on grid lines, where finite differences
     * disagree with any derivative. */
    if (m->norm_weight) { /* weights of both signs, constants away from 0 */
        for (int i = 0; i < 3 * 3; i++)
            m->norm_weight[i] = (i % 2 ? -1.0f : 1.0f) * (0.3f + 0.5f * (float)model_rng_uniform(&rng));
        for (int i = 0; i < 3; i++)
            m->norm_const[i] = 0.5f + 0.5f * (float)model_rng_uniform(&rng);
    }
    if (m->readout_mu) {
        for (int n = 0; n < N; n++) {
            m->readout_mu[2 * n] = -1.0f + (2.0f * (n % (W - 1)) + 1.0f) / (W - 1);
            m->readout_mu[2 * n + 1] = -1.0f + (2.0f * (n % (H - 1)) + 1.0f) / (H - 1);
            m->readout_sigma[n] = 0.01f;
        }
    }
    model_params_changed(m);
    return m;
}

static model *tiny_model(model_kind kind, readout_kind readout, int batch_norm,
                         lnp_features features)
{
    return tiny_model_pooled(kind, readout, batch_norm, features, 0.0f);
}

/* J(x) = Σ w·rate(x) in evaluation mode, in double. */
static double objective(model *m, const float *x, const float *w)
{
    float rates[B * N];
    char err[MODEL_ERR_SIZE];
    if (model_predict(m, x, B, rates, err))
        return NAN;
    double j = 0.0;
    for (int i = 0; i < B * N; i++)
        j += (double)w[i] * rates[i];
    return j;
}

/* model_weights_fn for the test: weights that depend on the rates (w·rate,
 * as a soft max's do), and which images it was asked for. */
typedef struct rate_weights {
    const float *w;
    int seen[B];
} rate_weights;

static void weights_times_rates(const float *rates, int first, int count, float *weights,
                                void *ctx)
{
    rate_weights *rw = ctx;
    for (int i = 0; i < count; i++) {
        rw->seen[first + i]++;
        for (int n = 0; n < N; n++)
            weights[i * N + n] = rw->w[(first + i) * N + n] * rates[i * N + n];
    }
}

/* model_input_gradient_by against its two-pass twin: model_predict, the
 * weights from those rates, model_input_gradient. Bitwise: the same
 * forward() chunks give the same rates, hence the same weights. */
static void check_input_gradient_by(model *m, const float *x, const float *w, const char *label)
{
    float rates[B * N], weights[B * N], grad[B * H * W], two_pass[B * H * W];
    char err[MODEL_ERR_SIZE];
    rate_weights rw = {w, {0}};
    int status = model_input_gradient_by(m, x, B, weights_times_rates, &rw, grad, rates, err);
    int each_once = 1;
    for (int i = 0; i < B; i++)
        each_once &= rw.seen[i] == 1;
    CHECK(status == 0 && each_once, "%s: weights from the rates asked once for each image",
          label);
    model_predict(m, x, B, rates, err);
    for (int i = 0; i < B * N; i++)
        weights[i] = w[i] * rates[i];
    model_input_gradient(m, x, B, weights, two_pass, NULL, err);
    CHECK(!memcmp(grad, two_pass, sizeof grad),
          "%s: one pass with weights from its rates equals predict, then the gradient", label);
}

static void check_input_gradient(model *m, const char *label)
{
    model_rng rng;
    model_rng_seed(&rng, 3);
    float x[B * H * W], w[B * N], grad[B * H * W], rates[B * N], direct[B * N];
    random_images(x, B, &rng);
    for (int i = 0; i < B * N; i++)
        w[i] = (float)model_rng_normal(&rng);
    char err[MODEL_ERR_SIZE];
    int status = model_input_gradient(m, x, B, w, grad, rates, err);
    CHECK(status == 0, "%s: input gradient runs", label);
    model_predict(m, x, B, direct, err);
    /* Exact: both passes run forward() on the same B images in the same
     * chunks, so every sgemm and FFT has the same shape and kernel. */
    int same = 1;
    for (int i = 0; i < B * N; i++)
        same &= rates[i] == direct[i];
    CHECK(same, "%s: rates from the gradient pass equal model_predict's", label);
    check_input_gradient_by(m, x, w, label);
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < B * H * W; i++) {
        float saved = x[i];
        double h = 1e-2;
        x[i] = saved + (float)h;
        double up = objective(m, x, w);
        x[i] = saved - (float)h;
        double down = objective(m, x, w);
        x[i] = saved;
        double fd = (up - down) / (2 * h), err_i = fabs(fd - grad[i]);
        if (err_i > worst)
            worst = err_i;
        if (fabs(fd) > scale)
            scale = fabs(fd);
    }
    CHECK(scale > 1e-3, "%s: input gradient is not trivially zero (max %.3g)", label, scale);
    CHECK(worst <= 2e-2 * scale, "%s: input gradient matches finite differences (%.3g of %.3g)",
          label, worst, scale);
}

/* Loss of one training step with a fixed seed for the readout noise, so
 * repeated evaluations see the same sampled positions. */
static double step_loss(model *m, const float *x, const float *r)
{
    model_rng rng;
    model_rng_seed(&rng, 1234);
    double loss;
    char err[MODEL_ERR_SIZE];
    model_params_changed(m);
    if (model_train_step(m, x, r, B, &rng, 0.0f, 0.0f, &loss, err))
        return NAN;
    return loss;
}

static void check_parameter_gradient(model *m, const char *label)
{
    model_rng rng;
    model_rng_seed(&rng, 5);
    float x[B * H * W], r[B * N];
    random_images(x, B, &rng);
    for (int i = 0; i < B * N; i++)
        r[i] = (float)model_rng_poisson(&rng, 2.0);
    step_loss(m, x, r);
    float *analytic = malloc(m->n_params * sizeof(float));
    memcpy(analytic, m->grads, m->n_params * sizeof(float));
    /* Every parameter of a tiny model: a readout or core bug cannot hide. */
    double worst_rel = 0.0;
    size_t worst_i = 0, checked = 0;
    for (size_t i = 0; i < m->n_params; i++) {
        float saved = m->params[i];
        double h = 1e-2 * (fabs(saved) > 1.0 ? fabs(saved) : 1.0);
        m->params[i] = saved + (float)h;
        double up = step_loss(m, x, r);
        m->params[i] = saved - (float)h;
        double down = step_loss(m, x, r);
        m->params[i] = saved;
        double fd = (up - down) / (2 * h);
        double rel = fabs(fd - analytic[i]) / (fabs(fd) + fabs(analytic[i]) + 1e-2);
        if (rel > worst_rel) {
            worst_rel = rel;
            worst_i = i;
        }
        checked++;
    }
    step_loss(m, x, r);
    CHECK(worst_rel < 2e-2, "%s: %zu parameter gradients match finite differences "
          "(worst relative error %.3g at #%zu)", label, checked, worst_rel, worst_i);
    free(analytic);
}

static void check_gradients(void)
{
    struct {
        const char *label;
        model_kind kind;
        readout_kind readout;
        int batch_norm;
        lnp_features features;
        float pool;
    } cases[] = {
        {"cnn gaussian bn", MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS, 0.0f},
        {"cnn gaussian", MODEL_CNN, READOUT_GAUSSIAN, 0, LNP_PIXELS, 0.0f},
        {"cnn factorized bn", MODEL_CNN, READOUT_FACTORIZED, 1, LNP_PIXELS, 0.0f},
        {"cnn gaussian bn divnorm", MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS, 1.5f},
        {"cnn factorized divnorm", MODEL_CNN, READOUT_FACTORIZED, 0, LNP_PIXELS, 1.5f},
        {"lnp pixels", MODEL_LNP, READOUT_GAUSSIAN, 0, LNP_PIXELS, 0.0f},
        {"lnp gabor", MODEL_LNP, READOUT_GAUSSIAN, 0, LNP_GABOR, 0.0f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = tiny_model_pooled(cases[k].kind, cases[k].readout, cases[k].batch_norm,
                                     cases[k].features, cases[k].pool);
        CHECK(m != NULL, "%s: model created", cases[k].label);
        if (!m)
            continue;
        check_input_gradient(m, cases[k].label);
        check_parameter_gradient(m, cases[k].label);
        model_destroy(m);
    }
}

static void check_evaluation_mode(void)
{
    model *m = tiny_model(MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS);
    model_rng rng;
    model_rng_seed(&rng, 11);
    float x[B * H * W], one[N], batch[B * N];
    random_images(x, B, &rng);
    char err[MODEL_ERR_SIZE];
    model_predict(m, x, B, batch, err);
    model_predict(m, x + H * W, 1, one, err);
    /* One image against a batch, and chunks against one batch, are different
     * sgemm shapes: OpenBLAS may sum each dot product (K = cin·k² ≤ 27 here,
     * two layers, then the readout) in another order, each path within
     * K·u ≈ 1.6e-6 (u = 2^-24) of the sum of |terms| per layer at worst.
     * 1e-5 of the rate (absolute for rates near 0) leaves a few-fold margin
     * for that to grow through the layers: compared, never for equality. */
    int same = 1, positive = 1;
    for (int n = 0; n < N; n++)
        same &= fabsf(one[n] - batch[N + n]) <= 1e-5f * (1.0f + fabsf(one[n]));
    for (int i = 0; i < B * N; i++)
        positive &= batch[i] > 0.0f;
    CHECK(same, "evaluation does not depend on the rest of the batch (running statistics)");
    CHECK(positive, "predicted rates are positive (ELU + 1)");
    /* More images than the workspace holds go through in chunks. */
    enum { MANY = 150 };
    float *many = malloc(MANY * H * W * sizeof(float)), *rates = malloc(MANY * N * sizeof(float));
    random_images(many, MANY, &rng);
    memcpy(many + 140 * H * W, x, H * W * sizeof(float));
    CHECK(model_predict(m, many, MANY, rates, err) == 0, "prediction of %d images", MANY);
    same = 1;
    for (int n = 0; n < N; n++)
        same &= fabsf(rates[140 * N + n] - batch[n]) <= 1e-5f * (1.0f + fabsf(batch[n]));
    CHECK(same, "chunked prediction equals single-batch prediction");
    /* A non-finite pixel is refused by name, by both evaluation passes. */
    many[2 * H * W + 5] = NAN;
    float *grad = malloc(MANY * H * W * sizeof(float)), *w = calloc(MANY * N, sizeof(float));
    CHECK(model_predict(m, many, MANY, rates, err) != 0 &&
              strstr(err, "image 2 of the batch: pixel 5 is nan"),
          "a NaN pixel is refused by prediction: %s", err);
    CHECK(grad && w && model_input_gradient(m, many, MANY, w, grad, rates, err) != 0 &&
              strstr(err, "image 2 of the batch: pixel 5 is nan"),
          "... and by the input gradient: %s", err);
    /* The gradient's weights are the caller's (an objective's derivative):
     * a NaN among them (image 7, neuron 1) gives a NaN input gradient while
     * every rate is finite, so only the gradient's own check can refuse it. */
    many[2 * H * W + 5] = 0.25f;
    w[7 * N + 1] = NAN;
    int rates_finite = 1;
    err[0] = 0;
    CHECK(grad && w && model_input_gradient(m, many, MANY, w, grad, rates, err) != 0 &&
              strstr(err, "input gradient is not finite"),
          "a NaN gradient weight: the non-finite input gradient is refused: %s", err);
    for (int i = 0; i < MANY * N; i++)
        rates_finite &= isfinite(rates[i]) != 0;
    CHECK(rates_finite, "... though every rate it predicted is finite");
    free(grad);
    free(w);
    free(many);
    free(rates);
    model_destroy(m);
}

/* model_predict_translated against the moved images themselves. A core of
 * two same-padded layers (kernels 5 and 3) sees 3 pixels around each
 * position, so where the read position and its moved twin are both 3 pixels
 * clear of the border, and the moved content stays inside the image on a
 * background of the standardization's mean, the two agree up to the FFT
 * convolutions' rounding, which differs with where the content sits: 1e-5
 * of the rate, as for chunked prediction above. */
enum { TH = 16, TW = 20, TN = 3 };

static void place_patch(float *image, const float *patch, int dx, int dy)
{
    for (int i = 0; i < TH * TW; i++)
        image[i] = 0.5f; /* the standardization's mean: standardized 0, as the padding */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            image[(6 + y + dy) * TW + 8 + x + dx] = patch[y * 4 + x];
}

static void check_translated(void)
{
    model_config c;
    model_config_default(&c);
    c.height = TH;
    c.width = TW;
    c.neurons = TN;
    c.layers = 2;
    c.channels = 3;
    c.kernel[0] = 5;
    c.kernel[1] = 3;
    c.batch_norm = 1;
    c.seed = 5;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        CHECK(0, "translated: %s", err);
        return;
    }
    model_set_standardization(m, 0.5f, 0.25f);
    model_rng rng;
    model_rng_seed(&rng, 17);
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = 0.5f + (float)model_rng_uniform(&rng);
    /* Read positions in map pixels (x, y): on a pixel, and between pixels. */
    const float at[TN][2] = {{9.0f, 7.0f}, {10.5f, 8.25f}, {8.75f, 9.5f}};
    for (int n = 0; n < TN; n++) {
        m->readout_mu[2 * n] = 2.0f * at[n][0] / (TW - 1) - 1.0f;
        m->readout_mu[2 * n + 1] = 2.0f * at[n][1] / (TH - 1) - 1.0f;
        m->readout_bias[n] = 0.2f;
    }
    model_params_changed(m);
    float patch[16], centred[TH * TW], moved[TH * TW], shown[TN];
    for (int i = 0; i < 16; i++)
        patch[i] = (float)model_rng_uniform(&rng);
    place_patch(centred, patch, 0, 0);
    const int shifts[][2] = {{0, 0}, {2, 1}, {-2, -1}, {1, -2}, {-1, 2}, {3, 0}};
    enum { S = (int)(sizeof shifts / sizeof *shifts) };
    const int neurons[TN] = {2, 0, 1}; /* any order */
    float rates[S * TN];
    CHECK(model_predict_translated(m, centred, 1, neurons, TN, &shifts[0][0], S, rates, err) == 0,
          "translated prediction: %s", err);
    int close = 1;
    double worst = 0.0;
    for (int s = 0; s < S; s++) {
        place_patch(moved, patch, shifts[s][0], shifts[s][1]);
        float all[TN];
        if (model_predict(m, moved, 1, all, err))
            close = 0;
        for (int j = 0; j < TN; j++) {
            shown[j] = all[neurons[j]];
            double d = fabs((double)rates[s * TN + j] - shown[j]);
            worst = d > worst ? d : worst;
            close &= d <= 1e-5 * (1.0 + fabs((double)shown[j]));
        }
    }
    CHECK(close, "a moved readout predicts the moved image (largest difference %.2g)", worst);
    /* The moved readout is no constant: the patch's shifts change the rates. */
    CHECK(fabsf(rates[1 * TN] - rates[0]) > 1e-3f, "the rates move with the patch (%g, %g)",
          (double)rates[0], (double)rates[TN]);
    /* Far moves read off the map: −∞, never a clamped rate. */
    const int away[2] = {TW, 0};
    float off[TN];
    CHECK(model_predict_translated(m, centred, 1, neurons, TN, away, 1, off, err) == 0 &&
              off[0] == -INFINITY && off[1] == -INFINITY && off[2] == -INFINITY,
          "a read position moved off the map gives -inf");
    int bad = TN;
    CHECK(model_predict_translated(m, centred, 1, &bad, 1, away, 1, off, err) != 0 &&
              strstr(err, "neuron 3 of a model of 3"),
          "a neuron outside the model is refused: %s", err);
    CHECK(model_can_translate(m) == 1, "a Gaussian readout can be read by translation");
    model_destroy(m);
    c.readout = READOUT_FACTORIZED;
    if (model_create(&m, &c, err) == 0) {
        CHECK(model_can_translate(m) == 0 &&
                  model_predict_translated(m, centred, 1, neurons, TN, away, 1, off, err) != 0 &&
                  strstr(err, "Gaussian readout"),
              "a factorized readout is refused by name: %s", err);
        model_destroy(m);
    }
}

static void check_save_load(void)
{
    model *m = tiny_model(MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS);
    char dir[] = "/tmp/inception-test-XXXXXX", path[256], err[MODEL_ERR_SIZE];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(path, sizeof path, "%s/model.bin", dir);
    CHECK(model_save(m, path, err) == 0, "model saved");
    model *back;
    CHECK(model_load(&back, path, err) == 0, "model loaded back");
    model_rng rng;
    model_rng_seed(&rng, 12);
    float x[B * H * W], a[B * N], b[B * N];
    random_images(x, B, &rng);
    model_predict(m, x, B, a, err);
    model_predict(back, x, B, b, err);
    CHECK(memcmp(a, b, sizeof a) == 0, "loaded model predicts bit for bit the same");
    model_destroy(back);

    size_t n_bytes;
    unsigned char *bytes = read_file_bytes(path, &n_bytes);
    long size = (long)n_bytes;
    CHECK(bytes != NULL && size > 0, "read the model file (%ld bytes)", size);

    int all_fail = 1;
    for (long len = 0; len < size; len++) {
        model *t = NULL;
        if (model_load_bytes(&t, bytes, (size_t)len, err) == 0) {
            all_fail = 0;
            model_destroy(t);
        }
    }
    CHECK(all_fail, "every truncation of a %ld-byte model file is refused", size);
    model *t = NULL;
    model_load_bytes(&t, bytes, (size_t)size / 2, err);
    CHECK(strstr(err, "checksum") != NULL, "truncation is reported: %s", err);

    bytes[size / 2] ^= 0x10;
    CHECK(model_load_bytes(&t, bytes, (size_t)size, err) != 0 && strstr(err, "checksum"),
          "a flipped bit is reported: %s", err);
    bytes[size / 2] ^= 0x10;
    bytes[8] = 99;
    CHECK(model_load_bytes(&t, bytes, (size_t)size, err) != 0 && strstr(err, "version"),
          "another format version is reported: %s", err);
    const char foreign[] = "\x93NUMPY this is not a model at all, but long enough to parse.....";
    CHECK(model_load_bytes(&t, (const unsigned char *)foreign, sizeof foreign, err) != 0 &&
              strstr(err, "magic"),
          "a foreign file is reported: %s", err);
    CHECK(model_load(&t, "/nonexistent/model.bin", err) != 0 && strstr(err, "/nonexistent"),
          "a missing file is named: %s", err);
    free(bytes);
    unlink(path);
    rmdir(dir);
    model_destroy(m);
}

/* Little-endian u32 at p, as docs/model-file.md lays the file out. */
static void poke_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void refresh_crc(unsigned char *bytes, size_t size)
{
    poke_u32(bytes + size - 4, (uint32_t)crc32(0, bytes, (uInt)(size - 4)));
}

/* A model with a normalization stage (docs/model-file.md): format version 3,
 * its pool after the writer, read back to the same predictions bit for bit;
 * every truncation refused, and a version-3 file whose pool is not above 0
 * refused by name (checksum made valid). A model without the stage stays
 * version 2. */
static void check_save_load_normalized(void)
{
    enum { HEADER = 120 };
    model *m = tiny_model_pooled(MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS, 1.5f);
    model *plain = tiny_model(MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS);
    char dir[] = "/tmp/inception-test-XXXXXX", path[256], plain_path[256], err[MODEL_ERR_SIZE];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(path, sizeof path, "%s/model.bin", dir);
    snprintf(plain_path, sizeof plain_path, "%s/plain.bin", dir);
    CHECK(model_save(m, path, err) == 0 && model_save(plain, plain_path, err) == 0,
          "models with and without a normalization stage saved");
    size_t n = 0, n_plain = 0;
    unsigned char *bytes = read_file_bytes(path, &n);
    unsigned char *plain_bytes = read_file_bytes(plain_path, &n_plain);
    CHECK(bytes && plain_bytes && bytes[8] == 3 && plain_bytes[8] == 2,
          "the normalized model's file is version 3, the other's version 2");
    model *back = NULL;
    CHECK(model_load(&back, path, err) == 0 && back &&
              model_get_config(back)->normalization_pool == 1.5f,
          "the normalized model loads back with its pool (1.5 px)");
    model_rng rng;
    model_rng_seed(&rng, 13);
    float x[B * H * W], a[B * N], b[B * N];
    random_images(x, B, &rng);
    model_predict(m, x, B, a, err);
    if (back)
        model_predict(back, x, B, b, err);
    CHECK(back && memcmp(a, b, sizeof a) == 0, "and predicts bit for bit the same");
    int all_fail = 1;
    for (size_t len = 0; bytes && len < n; len++) {
        model *t = NULL;
        if (model_load_bytes(&t, bytes, len, err) == 0) {
            all_fail = 0;
            model_destroy(t);
        }
    }
    CHECK(all_fail, "every truncation of the %zu-byte version-3 file is refused", n);
    /* the pool: after the header, the writer's length and its text */
    uint32_t writer_len = bytes ? (uint32_t)bytes[HEADER] | (uint32_t)bytes[HEADER + 1] << 8 |
                                      (uint32_t)bytes[HEADER + 2] << 16 |
                                      (uint32_t)bytes[HEADER + 3] << 24
                                : 0;
    model *t = NULL;
    if (bytes) {
        poke_u32(bytes + HEADER + 4 + writer_len, 0); /* f32 0.0 */
        refresh_crc(bytes, n);
    }
    CHECK(bytes && model_load_bytes(&t, bytes, n, err) != 0 && strstr(err, "normalization pool"),
          "a version-3 file with a pool of 0 is refused: %s", err);
    free(bytes);
    free(plain_bytes);
    unlink(path);
    unlink(plain_path);
    rmdir(dir);
    model_destroy(back);
    model_destroy(plain);
    model_destroy(m);
}

/* Format version 2's writer (docs/model-file.md): recorded, given back by
 * the loader, kept through load and save; bounded; and a version-1 file (the
 * same bytes without the writer field, made here from the layout in the
 * docs, zlib computing the checksum) still loads, with the writer "". */
static void check_writer(void)
{
    enum { HEADER = 120 };
    model *m = tiny_model(MODEL_CNN, READOUT_GAUSSIAN, 1, LNP_PIXELS);
    char dir[] = "/tmp/inception-test-XXXXXX", path[256], again[256], err[MODEL_ERR_SIZE];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(path, sizeof path, "%s/model.bin", dir);
    snprintf(again, sizeof again, "%s/again.bin", dir);
    CHECK(strcmp(model_writer(m), "") == 0, "a new model has no writer");
    const char *writer = "inception 9.8.7 (v9.8.7-3-gabcdef) \xc2\xb5";
    CHECK(model_set_writer(m, writer, err) == 0 && model_save(m, path, err) == 0,
          "model with a writer saved");
    model *back = NULL;
    CHECK(model_load(&back, path, err) == 0 && strcmp(model_writer(back), writer) == 0,
          "the loaded model gives the writer back: %s", back ? model_writer(back) : err);
    CHECK(back && model_save(back, again, err) == 0, "the loaded model saved again");
    size_t n1, n2;
    unsigned char *b1 = read_file_bytes(path, &n1), *b2 = read_file_bytes(again, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0,
          "load and save again: the same bytes (%zu)", n1);
    model_destroy(back);
    back = NULL;
    size_t wlen = strlen(writer);
    CHECK(b1[8] == 2 && b1[HEADER] == wlen && memcmp(b1 + HEADER + 4, writer, wlen) == 0,
          "version 2, the writer's length and bytes after the 120-byte header");

    char long_text[MODEL_WRITER_MAX + 2];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[MODEL_WRITER_MAX + 1] = '\0';
    CHECK(model_set_writer(m, long_text, err) != 0 && strstr(err, "257") &&
              strcmp(model_writer(m), writer) == 0,
          "a writer of %d bytes is refused, the old one kept: %s", MODEL_WRITER_MAX + 1, err);
    long_text[MODEL_WRITER_MAX] = '\0';
    CHECK(model_set_writer(m, long_text, err) == 0 && model_save(m, again, err) == 0 &&
              model_load(&back, again, err) == 0 && strlen(model_writer(back)) == MODEL_WRITER_MAX,
          "a writer of %d bytes is kept", MODEL_WRITER_MAX);
    model_destroy(back);

    /* Version 1: drop the writer field, version 1, checksum again. */
    size_t n_v1 = n1 - 4 - wlen;
    unsigned char *v1 = malloc(n_v1);
    memcpy(v1, b1, HEADER);
    memcpy(v1 + HEADER, b1 + HEADER + 4 + wlen, n1 - HEADER - 4 - wlen);
    poke_u32(v1 + 8, 1);
    refresh_crc(v1, n_v1);
    model *old = NULL;
    CHECK(model_load_bytes(&old, v1, n_v1, err) == 0 && strcmp(model_writer(old), "") == 0,
          "a version-1 file loads, its writer \"\": %s", old ? "" : err);
    if (old) {
        model_rng rng;
        model_rng_seed(&rng, 13);
        float x[B * H * W], a[B * N], c[B * N];
        random_images(x, B, &rng);
        model_predict(m, x, B, a, err);
        model_predict(old, x, B, c, err);
        CHECK(memcmp(a, c, sizeof a) == 0, "... and predicts bit for bit what version 2 does");
        model_destroy(old);
    }
    free(v1);

    /* A writer length past the bound, or past the file, is refused by name
     * (checksum right, so the length check itself answers). */
    poke_u32(b1 + HEADER, MODEL_WRITER_MAX + 1);
    refresh_crc(b1, n1);
    CHECK(model_load_bytes(&old, b1, n1, err) != 0 && strstr(err, "writer length"),
          "a writer length of %d is refused: %s", MODEL_WRITER_MAX + 1, err);
    poke_u32(b1 + HEADER, (uint32_t)(wlen + 4));
    refresh_crc(b1, n1);
    CHECK(model_load_bytes(&old, b1, n1, err) != 0 && strstr(err, "size does not match"),
          "a writer length that eats into the parameters is refused: %s", err);
    poke_u32(b1 + HEADER, (uint32_t)wlen);
    b1[HEADER + 4] = '\0';
    refresh_crc(b1, n1);
    CHECK(model_load_bytes(&old, b1, n1, err) != 0 && strstr(err, "NUL"),
          "a NUL in the writer is refused: %s", err);
    free(b1);
    free(b2);
    unlink(path);
    unlink(again);
    rmdir(dir);
    model_destroy(m);
}

/* An LNP model whose feature standardization cannot be used (a scale of 0 or
 * below divides the features by nothing or flips them; a NaN mean makes
 * every feature NaN) is refused by model_load naming the feature, though
 * its checksum is right: model_save writes whatever it is given. */
static void check_load_refuses_lnp_buffers(void)
{
    char dir[] = "/tmp/inception-test-XXXXXX", path[256], err[MODEL_ERR_SIZE];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(path, sizeof path, "%s/lnp.bin", dir);
    struct {
        int mean; /* 1: the feature mean, 0: the feature scale */
        float value;
        const char *named;
    } cases[] = {
        {0, 0.0f, "LNP feature scale that is not finite and positive (feature 3: 0)"},
        {0, -0.5f, "LNP feature scale that is not finite and positive (feature 3: -0.5)"},
        {0, INFINITY, "LNP feature scale that is not finite and positive (feature 3: inf)"},
        {1, NAN, "non-finite LNP feature mean (feature 3: nan)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        model *m = tiny_model(MODEL_LNP, READOUT_GAUSSIAN, 0, LNP_PIXELS), *back = NULL;
        CHECK(m && m->lnp_dim > 3, "an LNP model with more than 3 features");
        if (!m || m->lnp_dim <= 3)
            return;
        (cases[k].mean ? m->lnp_feature_mean : m->lnp_feature_scale)[3] = cases[k].value;
        err[0] = 0;
        int saved = model_save(m, path, err) == 0;
        CHECK(saved && model_load(&back, path, err) != 0 && strstr(err, cases[k].named),
              "LNP feature %s %g at feature 3: refused by the loader naming it (%s)",
              cases[k].mean ? "mean" : "scale", (double)cases[k].value, err);
        model_destroy(back);
        model_destroy(m);
    }
    unlink(path);
    rmdir(dir);
}

/* A small simulated recording: the fit must find real structure. */
static void check_fit(void)
{
    simulate_options s;
    simulate_options_default(&s);
    s.population.neurons = 12;
    s.population.height = 16;
    s.population.width = 16;
    s.train_images = 600;
    s.test_images = 20;
    s.test_repeats = 4;
    s.seed = 3;
    s.population.seed = 3;
    /* The population this check was tuned on (before conjunction cells). */
    s.population.fraction_simple = 0.4f;
    s.population.fraction_complex = 0.4f;
    s.population.fraction_conjunction = 0.0f;
    dataset d;
    char err[MODEL_ERR_SIZE];
    if (simulate_dataset(&s, &d, err)) {
        CHECK(0, "simulated dataset: %s", err);
        return;
    }
    model_config c;
    model_config_default(&c);
    c.height = 16;
    c.width = 16;
    c.neurons = 12;
    c.layers = 2;
    c.channels = 8;
    c.kernel[0] = 7;
    c.kernel[1] = 5;
    fit_options o;
    fit_options_default(&o);
    o.max_epochs = 12;
    o.batch_size = 32;
    o.learning_rate = 0.01f;
    model *m1, *m2, *m3;
    fit_report r1, r2, r3;
    model_create(&m1, &c, err);
    model_create(&m2, &c, err);
    CHECK(model_fit(m1, &d, &o, &r1, err) == 0, "fit runs (%s)", err);
    CHECK(r1.best_validation_corr > 0.3, "fit learns: validation correlation %.3f > 0.3",
          r1.best_validation_corr);
    model_fit(m2, &d, &o, &r2, err);
    CHECK(memcmp(m1->params, m2->params, m1->n_params * sizeof(float)) == 0,
          "fitting twice with one seed gives identical weights");

    /* Readout positions start at the receptive fields: a fit that cannot move
     * (learning rate ~0) leaves them where the initialization put them. */
    fit_options still = o;
    still.max_epochs = 1;
    still.learning_rate = 1e-9f;
    model_create(&m3, &c, err);
    model_fit(m3, &d, &still, &r3, err);
    sim_population *truth;
    sim_population_create(&truth, &s.population, err);
    int near = 0;
    for (int n = 0; n < 12; n++) {
        const sim_cell *cell = sim_population_cell(truth, n);
        float x = (m3->readout_mu[2 * n] + 1.0f) * 0.5f * 15.0f;
        float y = (m3->readout_mu[2 * n + 1] + 1.0f) * 0.5f * 15.0f;
        near += hypotf(x - cell->x, y - cell->y) <= 3.0f;
        printf("# neuron %d type %d: init (%.1f, %.1f) true (%.1f, %.1f) sigma %.1f\n", n, cell->type, x, y, cell->x, cell->y, cell->sigma);
    }
    CHECK(near >= 10, "initial readout positions within 3 px of the true receptive field "
          "centre for %d of 12 neurons", near);
    sim_population_destroy(truth);
    model_destroy(m3);

    c.kind = MODEL_RANDOM_CORE;
    model_create(&m3, &c, err);
    float *core = malloc(m3->n_params * sizeof(float));
    memcpy(core, m3->params, m3->n_params * sizeof(float));
    o.max_epochs = 3;
    CHECK(model_fit(m3, &d, &o, &r3, err) == 0, "random-core fit runs");
    size_t n_core = (size_t)(m3->readout_mu - m3->params);
    CHECK(memcmp(core, m3->params, n_core * sizeof(float)) == 0,
          "random core: the %zu core parameters stay as initialized", n_core);
    CHECK(memcmp(core + n_core, m3->params + n_core,
                 (m3->n_params - n_core) * sizeof(float)) != 0,
          "random core: the readout is trained");
    free(core);
    model_destroy(m1);
    model_destroy(m2);
    model_destroy(m3);

    /* Data that does not fit the model is an error, not a crash. */
    c.kind = MODEL_CNN;
    c.neurons = 13;
    model_create(&m1, &c, err);
    CHECK(model_fit(m1, &d, &o, &r1, err) != 0 && strstr(err, "13"),
          "a neuron-count mismatch is reported: %s", err);
    model_destroy(m1);
    dataset_free(&d);
}

/* Early stopping keeps the best epoch: a small training set and a large
 * learning rate overfit, so the validation correlation peaks before the last
 * epoch. The returned weights must be that epoch's: their validation
 * correlation, computed here with the public predict and correlation calls,
 * is best_validation_corr, the largest of the values the progress callback
 * saw, at best_epoch. */
typedef struct epoch_log {
    int count, best_epoch[64];
    double corr[64];
    double lr[64]; /* after the epoch: the next epoch's rate */
} epoch_log;

static void log_epoch(const fit_progress *p, void *user)
{
    epoch_log *l = user;
    if (l->count < 64) {
        l->corr[l->count] = p->validation_corr;
        l->lr[l->count] = p->learning_rate;
        l->best_epoch[l->count++] = p->best_epoch;
    }
}

static double validation_corr(model *m, const dataset *d)
{
    int n = 0, HW = d->height * d->width;
    float *images = malloc(sizeof(float) * (size_t)d->trials * HW);
    float *resp = malloc(sizeof(float) * (size_t)d->trials * d->neurons);
    float *pred = malloc(sizeof(float) * (size_t)d->trials * d->neurons);
    float *corr = malloc(sizeof(float) * (size_t)d->neurons);
    char err[MODEL_ERR_SIZE];
    for (int i = 0; i < d->trials; i++)
        if (d->tiers[i] == TIER_VALIDATION) {
            memcpy(images + (size_t)n * HW, d->images + (size_t)i * HW, sizeof(float) * HW);
            memcpy(resp + (size_t)n * d->neurons, d->responses + (size_t)i * d->neurons,
                   sizeof(float) * d->neurons);
            n++;
        }
    double mean = NAN;
    if (!model_predict(m, images, n, pred, err)) {
        metrics_correlation(pred, resp, n, d->neurons, corr);
        mean = 0.0;
        for (int k = 0; k < d->neurons; k++)
            mean += corr[k];
        mean /= d->neurons;
    }
    free(images);
    free(resp);
    free(pred);
    free(corr);
    return mean;
}

/* A small recording, a model and options that overfit it: 30 training and 10
 * validation images, a learning rate of 0.1, batches of 8, one thread (the
 * fit is deterministic for a thread count). */
static int overfit_setup(dataset *d, model_config *c, fit_options *o)
{
    simulate_options s;
    simulate_options_default(&s);
    s.population.neurons = 8;
    s.population.height = 16;
    s.population.width = 16;
    s.population.fraction_simple = 0.5f;
    s.population.fraction_complex = 0.5f;
    s.population.fraction_conjunction = 0.0f;
    s.train_images = 40;
    s.validation_fraction = 0.25f;
    s.test_images = 2;
    s.test_repeats = 2;
    s.seed = 11;
    s.population.seed = 11;
    char err[MODEL_ERR_SIZE];
    if (simulate_dataset(&s, d, err)) {
        CHECK(0, "simulated dataset: %s", err);
        return 1;
    }
    model_config_default(c);
    c->height = 16;
    c->width = 16;
    c->neurons = 8;
    c->layers = 2;
    c->channels = 8;
    c->kernel[0] = 7;
    c->kernel[1] = 5;
    fit_options_default(o);
    o->max_epochs = 16;
    o->batch_size = 8;
    o->learning_rate = 0.1f;
    o->threads = 1;
    return 0;
}

static void check_best_epoch_restored(void)
{
    dataset d;
    model_config c;
    fit_options o;
    char err[MODEL_ERR_SIZE];
    if (overfit_setup(&d, &c, &o))
        return;
    o.patience = 100; /* no decay and no restore on the way: only the final one */
    epoch_log log = {0};
    o.progress = log_epoch;
    o.user = &log;
    model *m;
    fit_report r;
    model_create(&m, &c, err);
    err[0] = '\0';
    CHECK(model_fit(m, &d, &o, &r, err) == 0 && r.epochs == o.max_epochs && log.count == r.epochs,
          "overfitting fit runs all %d epochs (%s)", o.max_epochs, err);
    int argmax = 0;
    for (int e = 1; e < log.count; e++)
        if (log.corr[e] > log.corr[argmax])
            argmax = e;
    for (int e = 0; e < log.count; e++)
        printf("# epoch %d: validation correlation %.4f\n", e + 1, log.corr[e]);
    CHECK(r.best_epoch == argmax + 1 && r.best_epoch < r.epochs &&
              log.corr[log.count - 1] < log.corr[argmax] - 0.01,
          "validation correlation peaks at epoch %d of %d (%.4f, last %.4f)", r.best_epoch,
          r.epochs, log.corr[argmax], log.corr[log.count - 1]);
    CHECK(r.best_validation_corr == log.corr[argmax] &&
              log.best_epoch[log.count - 1] == r.best_epoch,
          "best_validation_corr and best_epoch are the peak's (%.4f at %d)",
          r.best_validation_corr, r.best_epoch);
    /* The same predictions on the same trials, one thread: only the order of
     * float sums in the correlation may differ from the fit's (~1e-7). */
    double again = validation_corr(m, &d);
    CHECK_CLOSE(again, r.best_validation_corr, 1e-6,
                "the returned weights reproduce best_validation_corr (%.6f vs %.6f)", again,
                r.best_validation_corr);
    model_destroy(m);
    dataset_free(&d);
}

/* The learning-rate schedule (fit_options): `patience` epochs without a new
 * best multiply the rate by lr_decay and continue from the best weights; the
 * fit stops at the plateau after max_lr_decays decays. Replayed here over the
 * validation correlations the fit reported. And the input standardization:
 * the training images' pixel mean and standard deviation. */
static void check_fit_schedule(void)
{
    dataset d;
    model_config c;
    fit_options o;
    char err[MODEL_ERR_SIZE];
    if (overfit_setup(&d, &c, &o))
        return;
    c.batch_norm = 0; /* its running statistics would move even at a zero rate */
    o.max_epochs = 60;
    o.patience = 2;
    o.lr_decay = 0.5f;
    o.max_lr_decays = 2;
    epoch_log log = {0};
    o.progress = log_epoch;
    o.user = &log;
    model *m;
    fit_report r;
    model_create(&m, &c, err);
    err[0] = '\0';
    CHECK(model_fit(m, &d, &o, &r, err) == 0 && log.count == r.epochs, "scheduled fit runs (%s)",
          err);
    double best = -2.0;
    int bad = 0, decays = 0, stop = 0, lr_ok = 1;
    float lr = o.learning_rate;
    for (int e = 0; e < log.count && !stop; e++) {
        if (log.corr[e] > best) {
            best = log.corr[e];
            bad = 0;
        } else if (++bad >= o.patience) {
            bad = 0;
            decays++;
            lr *= o.lr_decay; /* the fit's float product, in the same order: exact */
        }
        lr_ok &= log.lr[e] == lr;
        if (decays > o.max_lr_decays)
            stop = e + 1;
    }
    CHECK(lr_ok && stop == r.epochs && stop < o.max_epochs && decays == o.max_lr_decays + 1,
          "rates halve after %d epochs without a new best; the fit stops at the plateau after "
          "%d decays (epoch %d, replayed %d)", o.patience, o.max_lr_decays, r.epochs, stop);

    /* Standardization from the training tier alone, in double here. */
    double sum = 0.0, sum2 = 0.0, count = 0.0;
    size_t HW = (size_t)d.height * d.width;
    for (int i = 0; i < d.trials; i++)
        if (d.tiers[i] == TIER_TRAIN)
            for (size_t p = 0; p < HW; p++) {
                double v = d.images[(size_t)i * HW + p];
                sum += v;
                sum2 += v * v;
                count += 1.0;
            }
    double mean = sum / count, sd = sqrt(sum2 / count - mean * mean);
    float got_mean, got_std;
    model_get_standardization(m, &got_mean, &got_std);
    /* float storage of a double: 1e-6 relative. */
    CHECK(fabs(got_mean - mean) <= 1e-6 * mean && fabs(got_std - sd) <= 1e-6 * sd,
          "input standardization: training pixels' mean %.6f and std %.6f (model %.6f, %.6f)",
          mean, sd, got_mean, got_std);
    model_destroy(m);

    /* A decay continues from the best weights: with the rate cut to ~0 the
     * next epoch's validation correlation is the best one again, not the
     * plateau's last. Adam moves each weight by at most ~10 × rate (1e-7)
     * per step: 1e-4 is far above that and far below the plateau's gap. */
    o.lr_decay = 1e-6f;
    o.max_lr_decays = 1;
    log.count = 0;
    model_create(&m, &c, err);
    model_fit(m, &d, &o, &r, err);
    int decay_at = -1;
    for (int e = 0; e < log.count && decay_at < 0; e++)
        if (log.lr[e] < o.learning_rate)
            decay_at = e;
    best = -2.0;
    for (int e = 0; e <= decay_at; e++)
        best = fmax(best, log.corr[e]);
    CHECK(decay_at >= 0 && decay_at + 1 < log.count && best - log.corr[decay_at] > 1e-3 &&
              fabs(log.corr[decay_at + 1] - best) < 1e-4,
          "after a decay the fit resumes from the best weights: epoch %d at %.5f, the best "
          "%.5f, the plateau's last %.5f", decay_at + 2,
          decay_at >= 0 && decay_at + 1 < log.count ? log.corr[decay_at + 1] : NAN, best,
          decay_at >= 0 ? log.corr[decay_at] : NAN);
    model_destroy(m);
    dataset_free(&d);
}

int main(void)
{
    check_gradients();
    check_evaluation_mode();
    check_translated();
    check_save_load();
    check_save_load_normalized();
    check_writer();
    check_load_refuses_lnp_buffers();
    check_fit();
    check_best_epoch_restored();
    check_fit_schedule();
    return test_done();
}
