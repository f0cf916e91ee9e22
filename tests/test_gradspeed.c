/* test_gradspeed.c: the fast input-gradient paths.
 *
 * conv_sparse.c's scattered input gradient against the direct convolution's
 * (conv_direct.c) for sparse and dense output gradients, odd sizes, every
 * kernel size the model uses, batch 1 and > 1, one and two threads (bitwise
 * equal); and the whole model's input gradient on the reference shapes with a
 * one-neuron objective (which takes the sparse path) against the same
 * gradient through the FFT path (by linearity in the weights) and against
 * finite differences. */
#include "layers.h"
#include "network.h"
#include "test.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    int B, Cin, Cout, H, W, K;
} shape;

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float uniform(void) /* in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static double max_rel_error(const float *a, const float *b, size_t n)
{
    double err = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        err = d > err ? d : err;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return err / scale;
}

/* dout with `pixels` random active pixels per image (all channels nonzero
 * there), or dense when pixels < 0. Corners are always among the sparse
 * pixels, so clipping at the map's edges is exercised. */
static void fill_dout(float *dout, shape s, int pixels)
{
    size_t HW = (size_t)s.H * s.W, n = (size_t)s.B * s.Cout * HW;
    for (size_t i = 0; i < n; i++)
        dout[i] = pixels < 0 ? uniform() : 0.0f;
    if (pixels < 0)
        return;
    for (int b = 0; b < s.B; b++)
        for (int a = 0; a < pixels; a++) {
            size_t pix = a == 0   ? 0
                         : a == 1 ? HW - 1
                                  : (size_t)((uniform() + 1.0f) * 0.5f * (float)HW) % HW;
            for (int o = 0; o < s.Cout; o++)
                dout[((size_t)b * s.Cout + o) * HW + pix] = uniform();
        }
}

/* Active pixels counted the obvious way. */
static size_t naive_active(const float *dout, shape s)
{
    size_t HW = (size_t)s.H * s.W, total = 0;
    for (int b = 0; b < s.B; b++)
        for (size_t pix = 0; pix < HW; pix++) {
            int any = 0;
            for (int o = 0; o < s.Cout; o++)
                any |= dout[((size_t)b * s.Cout + o) * HW + pix] != 0.0f;
            total += (size_t)any;
        }
    return total;
}

static void check_sparse_case(shape s, int pixels)
{
    size_t HW = (size_t)s.H * s.W, n_in = (size_t)s.B * s.Cin * HW;
    size_t n_out = (size_t)s.B * s.Cout * HW, n_w = (size_t)s.Cout * s.Cin * s.K * s.K;
    float *w = malloc(sizeof(float) * n_w), *dout = malloc(sizeof(float) * n_out);
    float *in = calloc(n_in, sizeof(float)), *ref = malloc(sizeof(float) * n_in);
    float *din1 = malloc(sizeof(float) * n_in), *din2 = malloc(sizeof(float) * n_in);
    int *index = malloc(sizeof(int) * s.B * HW), *count = malloc(sizeof(int) * s.B);
    unsigned char *scratch = malloc(HW);
    for (size_t i = 0; i < n_w; i++)
        w[i] = uniform();
    fill_dout(dout, s, pixels);
    /* Poison the outputs: the sparse path must write every element. */
    for (size_t i = 0; i < n_in; i++)
        din1[i] = din2[i] = NAN;
    conv2d_backward(ref, NULL, NULL, dout, in, w, s.B, s.Cin, s.Cout, s.H, s.W, s.K);

    size_t active = conv_active_pixels(index, count, scratch, dout, s.B, s.Cout, (int)HW);
    int sorted = 1;
    for (int b = 0; b < s.B; b++)
        for (int a = 1; a < count[b]; a++)
            sorted &= index[(size_t)b * HW + a - 1] < index[(size_t)b * HW + a];
    CHECK(active == naive_active(dout, s) && sorted,
          "B%d %d->%d %dx%d K%d, %s: %zu active pixels listed in order", s.B, s.Cin, s.Cout,
          s.H, s.W, s.K, pixels < 0 ? "dense" : "sparse", active);

    omp_set_num_threads(1);
    int status = conv2d_backward_input_sparse(din1, dout, index, count, w, s.B, s.Cin, s.Cout,
                                              s.H, s.W, s.K);
    omp_set_num_threads(2);
    status |= conv2d_backward_input_sparse(din2, dout, index, count, w, s.B, s.Cin, s.Cout,
                                           s.H, s.W, s.K);
    double err = max_rel_error(din1, ref, n_in);
    CHECK(status == 0 && err < 1e-5, "B%d %d->%d %dx%d K%d, %s: sparse din = direct (%.2g)",
          s.B, s.Cin, s.Cout, s.H, s.W, s.K, pixels < 0 ? "dense" : "sparse", err);
    CHECK(memcmp(din1, din2, sizeof(float) * n_in) == 0,
          "B%d %d->%d %dx%d K%d: 1 and 2 threads give identical bits", s.B, s.Cin, s.Cout, s.H,
          s.W, s.K);
    free(w);
    free(dout);
    free(in);
    free(ref);
    free(din1);
    free(din2);
    free(index);
    free(count);
    free(scratch);
}

static void check_sparse_layer(void)
{
    static const shape cases[] = {
        {1, 1, 32, 36, 64, 9},  /* the reference layers */
        {1, 32, 32, 36, 64, 7},
        {3, 32, 32, 36, 64, 7},
        {2, 3, 5, 7, 11, 3},    /* odd sizes, channels not a multiple of the block */
        {2, 9, 4, 5, 6, 7},     /* kernel wider than the map */
        {1, 1, 1, 1, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        check_sparse_case(cases[k], 3);
        check_sparse_case(cases[k], -1);
    }
    shape too_wide = {1, 1, 1, 40, 40, 33};
    float x[1] = {0};
    int index[1] = {0}, count[1] = {0};
    CHECK(conv2d_backward_input_sparse(x, x, index, count, x, too_wide.B, too_wide.Cin,
                                       too_wide.Cout, too_wide.H, too_wide.W,
                                       too_wide.K) != 0,
          "a kernel wider than 31 is refused, not overrun");
}

/* --- the whole model on the reference shapes --- */

static model *reference_model(void)
{
    model_config c;
    model_config_default(&c);
    c.neurons = 40;
    c.seed = 5;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    model_set_standardization(m, 0.5f, 0.25f);
    /* Batch-norm statistics away from the identity, positions spread out. */
    model_rng rng;
    model_rng_seed(&rng, 21);
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = 0.5f + (float)model_rng_uniform(&rng);
    for (int n = 0; n < c.neurons; n++) {
        m->readout_mu[2 * n] = 1.8f * (float)model_rng_uniform(&rng) - 0.9f;
        m->readout_mu[2 * n + 1] = 1.8f * (float)model_rng_uniform(&rng) - 0.9f;
        m->readout_bias[n] = 0.3f;
    }
    model_params_changed(m);
    return m;
}

static double objective(model *m, const float *x, int batch, const float *w)
{
    int N = model_get_config(m)->neurons;
    float *rates = malloc(sizeof(float) * batch * N);
    char err[MODEL_ERR_SIZE];
    double j = model_predict(m, x, batch, rates, err) ? NAN : 0.0;
    for (int i = 0; i < batch * N; i++)
        j += (double)w[i] * rates[i];
    free(rates);
    return j;
}

/* One neuron per image (sparse path) against the FFT path: by linearity,
 * ∇(e_n·r) = ∇((e_n + u)·r) − ∇(u·r) with u dense, both of which go through
 * the FFT. Then finite differences at the pixels of largest gradient. */
static void check_model_one_neuron(int batch, int threads)
{
    model *m = reference_model();
    CHECK(m != NULL, "reference model created");
    if (!m)
        return;
    model_set_threads(m, threads);
    const model_config *c = model_get_config(m);
    int N = c->neurons, HW = c->height * c->width;
    size_t nx = (size_t)batch * HW, nw = (size_t)batch * N;
    float *x = malloc(sizeof(float) * nx), *one = calloc(nw, sizeof(float));
    float *dense = malloc(sizeof(float) * nw), *both = malloc(sizeof(float) * nw);
    float *g_one = malloc(sizeof(float) * nx), *g_dense = malloc(sizeof(float) * nx);
    float *g_both = malloc(sizeof(float) * nx), *g_again = malloc(sizeof(float) * nx);
    model_rng rng;
    model_rng_seed(&rng, 8);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)model_rng_uniform(&rng);
    for (int b = 0; b < batch; b++)
        one[(size_t)b * N + (7 * b + 3) % N] = 1.0f;
    for (size_t i = 0; i < nw; i++) {
        dense[i] = 0.5f + (float)model_rng_uniform(&rng);
        both[i] = one[i] + dense[i];
    }
    char err[MODEL_ERR_SIZE];
    int status = model_input_gradient(m, x, batch, one, g_one, NULL, err);
    status |= model_input_gradient(m, x, batch, dense, g_dense, NULL, err);
    status |= model_input_gradient(m, x, batch, both, g_both, NULL, err);
    status |= model_input_gradient(m, x, batch, one, g_again, NULL, err);
    CHECK(status == 0, "B%d, %d threads: input gradients run", batch, threads);
    double worst = 0.0, scale = 0.0, dense_scale = 0.0;
    size_t nonzero = 0;
    for (size_t i = 0; i < nx; i++) {
        double by_fft = (double)g_both[i] - g_dense[i];
        worst = fmax(worst, fabs(by_fft - g_one[i]));
        scale = fmax(scale, fabs(g_one[i]));
        dense_scale = fmax(dense_scale, fabs(g_both[i]));
        nonzero += g_one[i] != 0.0f;
    }
    CHECK(scale > 0.0 && nonzero < nx / 2,
          "B%d: a one-neuron gradient is local (%zu of %zu pixels nonzero)", batch, nonzero, nx);
    /* The difference of two FFT gradients carries their rounding, ~1e-6 of
     * the larger one. */
    CHECK(worst <= 1e-3 * scale + 1e-5 * dense_scale,
          "B%d, %d threads: one-neuron gradient = FFT path by linearity (%.3g of %.3g)", batch,
          threads, worst, scale);
    CHECK(memcmp(g_one, g_again, sizeof(float) * nx) == 0,
          "B%d, %d threads: repeated gradient is bitwise the same", batch, threads);
    /* Finite differences at the 5 largest-gradient pixels of image 0. */
    double fd_worst = 0.0;
    for (int k = 0; k < 5; k++) {
        size_t best = 0;
        for (int i = 0; i < HW; i++)
            if (fabsf(g_one[i]) > fabsf(g_one[best]))
                best = (size_t)i;
        float saved = x[best], h = 1e-2f;
        x[best] = saved + h;
        double up = objective(m, x, batch, one);
        x[best] = saved - h;
        double down = objective(m, x, batch, one);
        x[best] = saved;
        double fd = (up - down) / (2.0 * h);
        fd_worst = fmax(fd_worst, fabs(fd - g_one[best]));
        g_one[best] = 0.0f; /* next largest on the next round */
    }
    CHECK(fd_worst <= 2e-2 * scale, "B%d: one-neuron gradient matches finite differences "
          "(%.3g of %.3g)", batch, fd_worst, scale);
    free(x);
    free(one);
    free(dense);
    free(both);
    free(g_one);
    free(g_dense);
    free(g_both);
    free(g_again);
    model_destroy(m);
}

/* The same one-neuron gradients on 1 and 2 threads: identical bits. */
static void check_model_threads(void)
{
    model *a = reference_model(), *b = reference_model();
    CHECK(a && b, "two reference models created");
    if (!a || !b)
        return;
    model_set_threads(a, 1);
    model_set_threads(b, 2);
    const model_config *c = model_get_config(a);
    int N = c->neurons, HW = c->height * c->width, batch = 3;
    float *x = malloc(sizeof(float) * batch * HW), *w = calloc((size_t)batch * N, sizeof(float));
    float *ga = malloc(sizeof(float) * batch * HW), *gb = malloc(sizeof(float) * batch * HW);
    model_rng rng;
    model_rng_seed(&rng, 4);
    for (int i = 0; i < batch * HW; i++)
        x[i] = (float)model_rng_uniform(&rng);
    for (int b = 0; b < batch; b++)
        w[(size_t)b * N + b] = 1.0f;
    char err[MODEL_ERR_SIZE];
    int status = model_input_gradient(a, x, batch, w, ga, NULL, err);
    status |= model_input_gradient(b, x, batch, w, gb, NULL, err);
    CHECK(status == 0 && memcmp(ga, gb, sizeof(float) * batch * HW) == 0,
          "one-neuron gradients: 1 and 2 threads give identical bits");
    free(x);
    free(w);
    free(ga);
    free(gb);
    model_destroy(a);
    model_destroy(b);
}

int main(void)
{
    check_sparse_layer();
    check_model_one_neuron(1, 2);
    check_model_one_neuron(3, 1);
    check_model_threads();
    return test_done();
}
