/* test_receptive_field.c: model_input_gradient_objective's receptive-field
 * path (model/receptive_field.c) against the full-map path of
 * model_input_gradient (an independent computation: FFT convolutions over
 * the whole image), for neurons in the middle, on every border and corner,
 * one and several weighted neurons per image, batch 1 and more, with and
 * without batch norm, odd image sizes and other kernels; finite differences
 * of its own J on a tiny model; 1 and 2 threads bitwise equal. */
#include "network.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    const char *label;
    int height, width, layers, channels, kernel[3], batch_norm;
} shape;

/* Readout positions ([-1,1]², x then y) covering the middle, the four
 * borders, the four corners, fractional spots and one beyond the edge. */
static const float positions[][2] = {
    {0.0f, 0.0f},   {-1.0f, 0.0f},  {1.0f, 0.0f},   {0.0f, -1.0f},   {0.0f, 1.0f},
    {-1.0f, -1.0f}, {1.0f, -1.0f},  {-1.0f, 1.0f},  {1.0f, 1.0f},    {0.37f, -0.81f},
    {-0.93f, 0.55f}, {1.3f, -0.2f},
    /* neighbours of the middle, of the corner (1,1) and of the left border,
     * for images that weight a small group */
    {0.06f, 0.1f},  {-0.08f, 0.03f}, {0.93f, 0.9f},  {-0.97f, -0.05f},
};
enum { NEURONS = (int)(sizeof positions / sizeof positions[0]) };

static model *make_model(const shape *s)
{
    model_config c;
    model_config_default(&c);
    c.height = s->height;
    c.width = s->width;
    c.neurons = NEURONS;
    c.layers = s->layers;
    c.channels = s->channels;
    for (int l = 0; l < s->layers; l++)
        c.kernel[l] = s->kernel[l];
    c.batch_norm = s->batch_norm;
    c.seed = 11;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    model_set_standardization(m, 0.45f, 0.2f);
    model_rng rng;
    model_rng_seed(&rng, 5);
    for (int n = 0; n < NEURONS; n++) {
        m->readout_mu[2 * n] = positions[n][0];
        m->readout_mu[2 * n + 1] = positions[n][1];
        m->readout_bias[n] = 0.2f * (float)model_rng_normal(&rng);
    }
    for (int l = 0; l < s->layers && s->batch_norm; l++)
        for (int o = 0; o < s->channels; o++) {
            m->conv[l].gamma[o] = 0.5f + (float)model_rng_uniform(&rng);
            m->conv[l].beta[o] = 0.3f * (float)model_rng_normal(&rng);
            m->conv[l].running_mean[o] = 0.3f * (float)model_rng_normal(&rng);
            m->conv[l].running_var[o] = 0.5f + (float)model_rng_uniform(&rng);
        }
    for (int l = 0; l < s->layers; l++)
        for (int o = 0; o < s->channels; o++)
            m->conv[l].bias[o] = 0.1f * (float)model_rng_normal(&rng);
    model_params_changed(m);
    return m;
}

static float *random_images(int count, int pixels, uint64_t seed)
{
    model_rng rng;
    model_rng_seed(&rng, seed);
    float *x = malloc((size_t)count * pixels * sizeof(float));
    for (int i = 0; i < count * pixels; i++)
        x[i] = (float)model_rng_uniform(&rng);
    return x;
}

/* Weights for image b: `per_image` neurons, starting at a neuron that moves
 * with b, weights of both signs. */
static float *make_weights(int batch, int per_image, int first)
{
    float *w = calloc((size_t)batch * NEURONS, sizeof(float));
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < per_image; k++)
            w[(size_t)b * NEURONS + (first + b + 5 * k) % NEURONS] = k % 2 ? -0.7f : 1.0f + k;
    return w;
}

/* Small groups of neighbouring neurons (weights of both signs), one group
 * per image: the middle, the corner (1,1), the left border. */
static float *group_weights(int batch)
{
    static const int groups[3][3] = {{0, 12, 13}, {8, 14, -1}, {1, 15, 10}};
    float *w = calloc((size_t)batch * NEURONS, sizeof(float));
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < 3; k++)
            if (groups[b % 3][k] >= 0)
                w[(size_t)b * NEURONS + groups[b % 3][k]] = k == 1 ? -0.6f : 1.0f + k;
    return w;
}

/* The window path against the full path for one batch. Returns 1 when the
 * window path was the one taken (so the comparison means something). */
static void compare_paths(model *m, const float *images, int batch, const float *weights,
                          int expect_windows, const char *label)
{
    const model_config *c = model_get_config(m);
    size_t P = (size_t)c->height * c->width, N = (size_t)c->neurons;
    float *g_rf = malloc((size_t)batch * P * sizeof(float));
    float *g_full = malloc((size_t)batch * P * sizeof(float));
    float *rates = malloc((size_t)batch * N * sizeof(float));
    float *J = malloc((size_t)batch * sizeof(float));
    char err[MODEL_ERR_SIZE];
    CHECK(model_input_gradient_uses_windows(m, weights, batch) == expect_windows,
          "%s: %s path chosen", label, expect_windows ? "receptive-field" : "full");
    int s1 = model_input_gradient_objective(m, images, batch, weights, g_rf, J, err);
    int s2 = model_input_gradient(m, images, batch, weights, g_full, rates, err);
    CHECK(s1 == 0 && s2 == 0, "%s: both paths run", label);
    double worst = 0.0, scale = 0.0, worst_J = 0.0;
    for (size_t i = 0; i < (size_t)batch * P; i++) {
        double d = fabs((double)g_rf[i] - g_full[i]);
        worst = d > worst ? d : worst;
        scale = fabs(g_full[i]) > scale ? fabs(g_full[i]) : scale;
    }
    for (int b = 0; b < batch; b++) {
        double Jfull = 0.0;
        for (size_t n = 0; n < N; n++)
            Jfull += (double)weights[b * N + n] * rates[b * N + n];
        double d = fabs(J[b] - Jfull) / (fabs(Jfull) > 1.0 ? fabs(Jfull) : 1.0);
        worst_J = d > worst_J ? d : worst_J;
    }
    CHECK(scale > 1e-4, "%s: gradient is not zero (max %.3g)", label, scale);
    CHECK(worst <= 1e-4 * scale, "%s: gradient equals the full path's (%.3g of %.3g)", label,
          worst, scale);
    CHECK(worst_J <= 1e-5, "%s: J equals Σ w·rate of the full path (rel. error %.3g)", label,
          worst_J);
    free(g_rf);
    free(g_full);
    free(rates);
    free(J);
}

/* Every neuron alone (middle, borders, corners), then several per image. */
static void check_shape(const shape *s)
{
    model *m = make_model(s);
    CHECK(m != NULL, "%s: model created", s->label);
    if (!m)
        return;
    int P = s->height * s->width;
    char label[128];
    float *x = random_images(NEURONS, P, 17);
    float *one_each = make_weights(NEURONS, 1, 0); /* image b: neuron b alone */
    compare_paths(m, x, NEURONS, one_each, 1, s->label);
    float *single = make_weights(1, 1, 9);
    snprintf(label, sizeof label, "%s, batch 1", s->label);
    compare_paths(m, x, 1, single, 1, label);
    float *several = group_weights(5);
    snprintf(label, sizeof label, "%s, groups of 2-3 neurons", s->label);
    compare_paths(m, x, 5, several, 1, label);
    free(x);
    free(one_each);
    free(single);
    free(several);
    model_destroy(m);
}

/* The full path is taken, with the same answers, when the windows would not
 * pay off: every neuron weighted, or windows covering the image. */
static void check_fallback(void)
{
    shape s = {"reference-like", 36, 64, 3, 4, {9, 7, 7}, 1};
    model *m = make_model(&s);
    if (!m)
        return;
    float *x = random_images(2, 36 * 64, 3);
    float *all = make_weights(2, NEURONS, 0);
    compare_paths(m, x, 2, all, 0, "all neurons weighted");
    model_destroy(m);
    free(all);
    free(x);
    shape wide = {"kernel 31 on 20×20", 20, 20, 2, 4, {31, 31, 0}, 0};
    m = make_model(&wide);
    if (!m)
        return;
    x = random_images(2, 20 * 20, 3);
    float *one = make_weights(2, 1, 0);
    compare_paths(m, x, 2, one, 0, "windows as large as the image");
    model_destroy(m);
    free(one);
    free(x);
}

/* An image with no weighted neuron: J = 0 and a zero gradient. */
static void check_no_neuron(void)
{
    shape s = {"zero weights", 15, 19, 2, 3, {5, 3, 0}, 1};
    model *m = make_model(&s);
    if (!m)
        return;
    float *x = random_images(1, 15 * 19, 4), w[NEURONS] = {0}, g[15 * 19], J = 1.0f;
    char err[MODEL_ERR_SIZE];
    int status = model_input_gradient_objective(m, x, 1, w, g, &J, err);
    int zero = 1;
    for (int i = 0; i < 15 * 19; i++)
        zero &= g[i] == 0.0f;
    CHECK(status == 0 && J == 0.0f && zero, "no weighted neuron: J = 0, zero gradient");
    free(x);
    model_destroy(m);
}

/* The window path's own J against finite differences of itself. */
static void check_finite_differences(void)
{
    shape s = {"tiny", 9, 11, 2, 3, {5, 3, 0}, 1};
    model *m = make_model(&s);
    if (!m)
        return;
    enum { P = 9 * 11 };
    float *x = random_images(1, P, 8);
    float *w = make_weights(1, 2, 0); /* middle neuron and a border one */
    float g[P], scratch[P], J, up, down;
    char err[MODEL_ERR_SIZE];
    CHECK(model_input_gradient_uses_windows(m, w, 1), "tiny: receptive-field path");
    model_input_gradient_objective(m, x, 1, w, g, &J, err);
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < P; i++) {
        float saved = x[i], h = 1e-2f;
        x[i] = saved + h;
        model_input_gradient_objective(m, x, 1, w, scratch, &up, err);
        x[i] = saved - h;
        model_input_gradient_objective(m, x, 1, w, scratch, &down, err);
        x[i] = saved;
        double fd = ((double)up - down) / (2.0 * h), e = fabs(fd - g[i]);
        worst = e > worst ? e : worst;
        scale = fabs(fd) > scale ? fabs(fd) : scale;
    }
    CHECK(scale > 1e-3, "tiny: gradient is not trivially zero (max %.3g)", scale);
    CHECK(worst <= 2e-2 * scale, "tiny: gradient matches finite differences (%.3g of %.3g)",
          worst, scale);
    free(x);
    free(w);
    model_destroy(m);
}

/* The batch split between threads changes nothing, bit for bit. */
static void check_threads(void)
{
    shape s = {"threads", 36, 64, 3, 8, {9, 7, 7}, 1};
    model *m = make_model(&s);
    if (!m)
        return;
    enum { BATCH = 7, P = 36 * 64 };
    float *x = random_images(BATCH, P, 21);
    float *w = make_weights(BATCH, 2, 3);
    float *g1 = malloc(sizeof(float) * BATCH * P), *g2 = malloc(sizeof(float) * BATCH * P);
    float J1[BATCH], J2[BATCH];
    char err[MODEL_ERR_SIZE];
    model_set_threads(m, 1);
    int s1 = model_input_gradient_objective(m, x, BATCH, w, g1, J1, err);
    model_set_threads(m, 2);
    int s2 = model_input_gradient_objective(m, x, BATCH, w, g2, J2, err);
    CHECK(s1 == 0 && s2 == 0 && memcmp(g1, g2, sizeof(float) * BATCH * P) == 0 &&
              memcmp(J1, J2, sizeof J1) == 0,
          "1 and 2 threads give bitwise equal gradients and J");
    free(x);
    free(w);
    free(g1);
    free(g2);
    model_destroy(m);
}

int main(void)
{
    const shape shapes[] = {
        {"reference 36×64, 9/7/7, batch norm", 36, 64, 3, 8, {9, 7, 7}, 1},
        {"reference 36×64, 9/7/7, no batch norm", 36, 64, 3, 8, {9, 7, 7}, 0},
        {"odd 17×23, 5/3/7", 17, 23, 3, 5, {5, 3, 7}, 1},
        {"odd 25×31, 2 layers 11/1", 25, 31, 2, 4, {11, 1, 0}, 0},
        {"1 layer 3×3 on 13×7", 13, 7, 1, 3, {3, 0, 0}, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_shape(&shapes[i]);
    check_fallback();
    check_no_neuron();
    check_finite_differences();
    check_threads();
    return test_done();
}
