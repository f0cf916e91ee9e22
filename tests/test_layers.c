/* test_layers.c: every layer's backward pass against central finite
 * differences, and forward passes against values computed independently. */
#include "layers.h"
#include "model.h"
#include "test.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static model_rng rng;

static float *alloc_filled(size_t n, float value)
{
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        x[i] = value;
    return x;
}

static float *alloc_uniform(size_t n, float lo, float hi)
{
    float *x = alloc_filled(n, 0.0f);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)model_rng_uniform(&rng);
    return x;
}

/* Uniform in [lo, hi] but at least `gap` away from zero: keeps finite
 * differences off the kinks of ELU and |w|. */
static float *alloc_away_from_zero(size_t n, float lo, float hi, float gap)
{
    float *x = alloc_uniform(n, lo, hi);
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) < gap)
            x[i] = x[i] < 0.0f ? -gap : gap;
    return x;
}

static double weighted_sum(const float *r, const float *out, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)r[i] * out[i];
    return s;
}

/* The gradient check: perturb each x[i] by ±h, difference the objective in
 * double, and compare with `analytic` element by element. The error is
 * relative to the larger of the two values, with a floor of 1% of the
 * largest gradient so that near-zero entries are judged on absolute error. */
typedef double (*objective_fn)(void *ctx);

static void check_gradient(const char *name, objective_fn f, void *ctx, float *x,
                           const float *analytic, size_t n, float h, double tol)
{
    double *numeric = malloc(sizeof(double) * n);
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        float saved = x[i];
        float up = saved + h, down = saved - h;
        x[i] = up;
        double f_up = f(ctx);
        x[i] = down;
        double f_down = f(ctx);
        x[i] = saved;
        numeric[i] = (f_up - f_down) / ((double)up - (double)down);
        scale = fmax(scale, fmax(fabs(numeric[i]), fabs(analytic[i])));
    }
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double denom = fmax(fmax(fabs(numeric[i]), fabs(analytic[i])), 0.01 * scale);
        double err = denom > 0.0 ? fabs(numeric[i] - analytic[i]) / denom : 0.0;
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    CHECK(worst <= tol && scale > 0.0, "%s matches finite differences (%zu values)", name, n);
    if (!(worst <= tol))
        printf("#   worst at %zu: analytic %.7g numeric %.7g (error %.3g)\n", worst_i,
               analytic[worst_i], numeric[worst_i], worst);
    free(numeric);
}

/* Parameter gradients must accumulate: they start at 1 and the test takes
 * the increment. Input gradients must overwrite: they start at garbage. */
#define PARAM_GRAD_START 1.0f
#define INPUT_GRAD_START 123.0f

static void subtract_start(float *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] -= PARAM_GRAD_START;
}

/* ------------------------------------------------------------------------ */
/* Elementwise nonlinearities */

typedef struct unary_ctx {
    void (*forward)(float *, const float *, size_t);
    float *in, *out, *r;
    size_t n;
} unary_ctx;

static double unary_objective(void *p)
{
    unary_ctx *c = p;
    c->forward(c->out, c->in, c->n);
    return weighted_sum(c->r, c->out, c->n);
}

static void test_activations(void)
{
    size_t n = 40;
    unary_ctx c = {NULL, alloc_away_from_zero(n, -2.5f, 2.5f, 0.05f), alloc_filled(n, 0.0f),
                   alloc_uniform(n, -1.0f, 1.0f), n};
    float *din = alloc_filled(n, INPUT_GRAD_START);

    c.forward = elu_forward;
    unary_objective(&c);
    elu_backward(din, c.r, c.out, n);
    check_gradient("elu din", unary_objective, &c, c.in, din, n, 1e-2f, 1e-2);
    float x[3] = {-1.0f, 0.0f, 2.0f}, y[3];
    elu_forward(y, x, 3);
    CHECK(fabsf(y[0] - (expf(-1.0f) - 1.0f)) < 1e-6f && y[1] == 0.0f && y[2] == 2.0f,
          "elu(-1, 0, 2) = (e^-1 - 1, 0, 2)");

    c.forward = elu1_forward;
    unary_objective(&c);
    memset(din, 0, sizeof(float) * n);
    elu1_backward(din, c.r, c.in, n);
    check_gradient("elu1 din", unary_objective, &c, c.in, din, n, 1e-2f, 1e-2);
    elu1_forward(y, x, 3);
    CHECK(fabsf(y[0] - expf(-1.0f)) < 1e-6f && y[1] == 1.0f && y[2] == 3.0f,
          "elu1(-1, 0, 2) = (e^-1, 1, 3)");

    c.forward = exp_forward;
    unary_objective(&c);
    exp_backward(din, c.r, c.out, n);
    check_gradient("exp din", unary_objective, &c, c.in, din, n, 1e-2f, 1e-2);

    free(c.in);
    free(c.out);
    free(c.r);
    free(din);
}

/* ------------------------------------------------------------------------ */
/* Batch normalization */

enum { BN_B = 3, BN_C = 2, BN_HW = 5, BN_SIZE = BN_B * BN_C * BN_HW };

typedef struct bn_ctx {
    float *in, *out, *gamma, *beta, *r;
    float mean[BN_C], rstd[BN_C], run_mean[BN_C], run_var[BN_C];
    int eval;
} bn_ctx;

static double bn_objective(void *p)
{
    bn_ctx *c = p;
    if (c->eval) {
        batchnorm_forward_eval(c->out, c->in, c->gamma, c->beta, c->run_mean, c->run_var,
                               BN_B, BN_C, BN_HW);
    } else {
        /* Running statistics do not affect the training output; scratch copies
         * keep the context unchanged across evaluations. */
        float rm[BN_C], rv[BN_C];
        memcpy(rm, c->run_mean, sizeof rm);
        memcpy(rv, c->run_var, sizeof rv);
        batchnorm_forward_train(c->out, c->mean, c->rstd, c->in, c->gamma, c->beta, rm, rv,
                                0.1f, BN_B, BN_C, BN_HW);
    }
    return weighted_sum(c->r, c->out, BN_SIZE);
}

static void test_batchnorm_gradients(void)
{
    bn_ctx c = {alloc_uniform(BN_SIZE, -1.0f, 2.0f), alloc_filled(BN_SIZE, 0.0f),
                alloc_uniform(BN_C, 0.5f, 1.5f), alloc_uniform(BN_C, -0.5f, 0.5f),
                alloc_uniform(BN_SIZE, -1.0f, 1.0f), {0}, {0}, {0.1f, -0.2f}, {0.8f, 1.3f}, 0};
    float *din = alloc_filled(BN_SIZE, INPUT_GRAD_START);
    float *dgamma = alloc_filled(BN_C, PARAM_GRAD_START), *dbeta = alloc_filled(BN_C, PARAM_GRAD_START);

    bn_objective(&c);
    batchnorm_backward_train(din, dgamma, dbeta, c.r, c.in, c.mean, c.rstd, c.gamma,
                             BN_B, BN_C, BN_HW);
    subtract_start(dgamma, BN_C);
    subtract_start(dbeta, BN_C);
    check_gradient("batchnorm train din (through batch statistics)", bn_objective, &c, c.in,
                   din, BN_SIZE, 1e-2f, 1e-2);
    check_gradient("batchnorm train dgamma", bn_objective, &c, c.gamma, dgamma, BN_C, 1e-2f, 1e-2);
    check_gradient("batchnorm train dbeta", bn_objective, &c, c.beta, dbeta, BN_C, 1e-2f, 1e-2);

    c.eval = 1;
    for (size_t i = 0; i < BN_SIZE; i++)
        din[i] = INPUT_GRAD_START;
    batchnorm_backward_eval(din, c.r, c.gamma, c.run_var, BN_B, BN_C, BN_HW);
    check_gradient("batchnorm eval din", bn_objective, &c, c.in, din, BN_SIZE, 1e-2f, 1e-2);

    free(c.in);
    free(c.out);
    free(c.gamma);
    free(c.beta);
    free(c.r);
    free(din);
    free(dgamma);
    free(dbeta);
}

static void test_batchnorm_values(void)
{
    int B = 4, C = 3, HW = 10;
    size_t n = (size_t)B * C * HW;
    float *in = alloc_uniform(n, -3.0f, 5.0f), *out = alloc_filled(n, 0.0f);
    float gamma[3] = {0.5f, 1.0f, 2.0f}, beta[3] = {-1.0f, 0.0f, 0.25f};
    float mean[3], rstd[3], run_mean[3] = {0.0f, 1.0f, -2.0f}, run_var[3] = {1.0f, 2.0f, 0.5f};
    float momentum = 0.1f;
    batchnorm_forward_train(out, mean, rstd, in, gamma, beta, run_mean, run_var, momentum,
                            B, C, HW);
    double worst_mean = 0.0, worst_std = 0.0, worst_run = 0.0;
    float start_mean[3] = {0.0f, 1.0f, -2.0f}, start_var[3] = {1.0f, 2.0f, 0.5f};
    for (int c = 0; c < C; c++) {
        double so = 0.0, so2 = 0.0, si = 0.0, si2 = 0.0, m = (double)B * HW;
        for (int b = 0; b < B; b++)
            for (int s = 0; s < HW; s++) {
                double o = out[((size_t)b * C + c) * HW + s], x = in[((size_t)b * C + c) * HW + s];
                so += o;
                so2 += o * o;
                si += x;
                si2 += x * x;
            }
        double out_mean = so / m, out_std = sqrt(so2 / m - out_mean * out_mean);
        double in_mean = si / m, in_var_unbiased = (si2 - m * in_mean * in_mean) / (m - 1.0);
        worst_mean = fmax(worst_mean, fabs(out_mean - beta[c]));
        worst_std = fmax(worst_std, fabs(out_std - gamma[c]) / gamma[c]);
        double want_mean = (1.0 - momentum) * start_mean[c] + momentum * in_mean;
        double want_var = (1.0 - momentum) * start_var[c] + momentum * in_var_unbiased;
        worst_run = fmax(worst_run, fabs(run_mean[c] - want_mean));
        worst_run = fmax(worst_run, fabs(run_var[c] - want_var) / want_var);
    }
    CHECK(worst_mean < 1e-5, "batchnorm train: per-channel output mean = beta (off by %.2g)",
          worst_mean);
    CHECK(worst_std < 1e-4, "batchnorm train: per-channel output std = gamma (off by %.2g)",
          worst_std);
    CHECK(worst_run < 1e-5, "running stats = (1-m)·old + m·batch, unbiased variance (off by %.2g)",
          worst_run);

    batchnorm_forward_eval(out, in, gamma, beta, run_mean, run_var, B, C, HW);
    double worst_eval = 0.0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < HW; s++) {
                size_t i = ((size_t)b * C + c) * HW + s;
                double want = gamma[c] * (in[i] - run_mean[c]) /
                              sqrt((double)run_var[c] + BATCHNORM_EPS) + beta[c];
                worst_eval = fmax(worst_eval, fabs(out[i] - want));
            }
    CHECK(worst_eval < 1e-5, "batchnorm eval = gamma·(x - mean)/sqrt(var + eps) + beta");
    free(in);
    free(out);
}

/* ------------------------------------------------------------------------ */
/* Gaussian readout */

enum { GR_B = 2, GR_C = 3, GR_H = 5, GR_W = 7, GR_N = 5 };
#define GR_FEAT (GR_B * GR_C * GR_H * GR_W)

typedef struct gr_ctx {
    float *features, *pos, *weight, *bias, *out, *r;
} gr_ctx;

static double gr_objective(void *p)
{
    gr_ctx *c = p;
    gaussian_readout_forward(c->out, c->features, c->pos, c->weight, c->bias,
                             GR_B, GR_C, GR_H, GR_W, GR_N);
    return weighted_sum(c->r, c->out, GR_B * GR_N);
}

/* A position whose pixel coordinate has a fraction in [0.2, 0.8]: finite
 * differences must not cross a pixel, where the bilinear sample has a kink. */
static float position_between_pixels(int size)
{
    int cell = (int)(model_rng_uniform(&rng) * (size - 1));
    float pix = (float)cell + 0.2f + 0.6f * (float)model_rng_uniform(&rng);
    return 2.0f * pix / (float)(size - 1) - 1.0f;
}

/* Independent double-precision readout, straight from the definition. */
static double naive_gaussian(const float *features, const float *pos, const float *weight,
                             const float *bias, int b, int n, int C, int H, int W, int N)
{
    double px = ((double)pos[((size_t)b * N + n) * 2] + 1.0) / 2.0 * (W - 1);
    double py = ((double)pos[((size_t)b * N + n) * 2 + 1] + 1.0) / 2.0 * (H - 1);
    double sum = bias[n];
    for (int c = 0; c < C; c++) {
        const float *m = features + ((size_t)b * C + c) * H * W;
        double v = 0.0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double kx = fmax(0.0, 1.0 - fabs(px - x)), ky = fmax(0.0, 1.0 - fabs(py - y));
                v += kx * ky * m[y * W + x];
            }
        sum += weight[(size_t)n * C + c] * v;
    }
    return sum;
}

static void test_gaussian_readout(void)
{
    gr_ctx c = {alloc_uniform(GR_FEAT, -1.0f, 1.0f), alloc_filled(GR_B * GR_N * 2, 0.0f),
                alloc_uniform(GR_N * GR_C, -1.0f, 1.0f), alloc_uniform(GR_N, -0.5f, 0.5f),
                alloc_filled(GR_B * GR_N, 0.0f), alloc_uniform(GR_B * GR_N, -1.0f, 1.0f)};
    for (int i = 0; i < GR_B * GR_N; i++) {
        c.pos[2 * i] = position_between_pixels(GR_W);
        c.pos[2 * i + 1] = position_between_pixels(GR_H);
    }
    gr_objective(&c);
    double worst = 0.0;
    for (int b = 0; b < GR_B; b++)
        for (int n = 0; n < GR_N; n++)
            worst = fmax(worst, fabs(c.out[b * GR_N + n] -
                                     naive_gaussian(c.features, c.pos, c.weight, c.bias, b, n,
                                                    GR_C, GR_H, GR_W, GR_N)));
    CHECK(worst < 1e-5, "gaussian readout forward = naive bilinear sum (off by %.2g)", worst);

    /* One neuron outside the map: it samples the border and its position
     * gradient is zero (the sample does not move). */
    c.pos[2] = 1.3f;
    c.pos[3] = -1.4f;

    float *dfeat = alloc_filled(GR_FEAT, INPUT_GRAD_START);
    float *dpos = alloc_filled(GR_B * GR_N * 2, INPUT_GRAD_START);
    float *dweight = alloc_filled(GR_N * GR_C, PARAM_GRAD_START);
    float *dbias = alloc_filled(GR_N, PARAM_GRAD_START);
    gaussian_readout_backward(dfeat, dpos, dweight, dbias, c.r, c.features, c.pos, c.weight,
                              GR_B, GR_C, GR_H, GR_W, GR_N);
    subtract_start(dweight, GR_N * GR_C);
    subtract_start(dbias, GR_N);
    check_gradient("gaussian readout dfeatures", gr_objective, &c, c.features, dfeat, GR_FEAT,
                   1e-2f, 1e-2);
    check_gradient("gaussian readout dpos", gr_objective, &c, c.pos, dpos, GR_B * GR_N * 2,
                   1e-2f, 1e-2);
    check_gradient("gaussian readout dweight", gr_objective, &c, c.weight, dweight, GR_N * GR_C,
                   1e-2f, 1e-2);
    check_gradient("gaussian readout dbias", gr_objective, &c, c.bias, dbias, GR_N, 1e-2f, 1e-2);
    CHECK(dpos[2] == 0.0f && dpos[3] == 0.0f, "a clamped position has zero gradient");
    gr_objective(&c);
    double border = c.bias[1];
    for (int ch = 0; ch < GR_C; ch++) /* x clamps to the last column, y to the first row */
        border += c.weight[1 * GR_C + ch] * c.features[(size_t)ch * GR_H * GR_W + GR_W - 1];
    CHECK(fabs(c.out[1] - border) < 1e-5, "a position outside the map reads the border pixel");

    free(dfeat);
    free(dpos);
    free(dweight);
    free(dbias);
    free(c.features);
    free(c.pos);
    free(c.weight);
    free(c.bias);
    free(c.out);
    free(c.r);
}

/* At a pixel, at the corners: the sample is exactly that pixel. */
static void test_gaussian_readout_positions(void)
{
    int C = 2, H = 4, W = 6, N = 3;
    float *features = alloc_uniform((size_t)C * H * W, -1.0f, 1.0f);
    float weight[6] = {0.7f, -1.3f, 0.7f, -1.3f, 0.7f, -1.3f}, bias[3] = {0.0f, 0.0f, 0.0f};
    int row = 2, col = 3;
    float pos[6] = {2.0f * col / (W - 1) - 1.0f, 2.0f * row / (H - 1) - 1.0f,
                    -1.0f, -1.0f, 1.0f, 1.0f};
    float out[3];
    gaussian_readout_forward(out, features, pos, weight, bias, 1, C, H, W, N);
    double want[3] = {0, 0, 0};
    size_t pixel[3] = {(size_t)row * W + col, 0, (size_t)(H - 1) * W + (W - 1)};
    for (int n = 0; n < 3; n++)
        for (int c = 0; c < C; c++)
            want[n] += weight[c] * features[(size_t)c * H * W + pixel[n]];
    CHECK(fabs(out[0] - want[0]) < 1e-5, "on a pixel: the pixel's weighted feature sum");
    CHECK(fabs(out[1] - want[1]) < 1e-6, "position (-1,-1) reads pixel (0,0)");
    CHECK(fabs(out[2] - want[2]) < 1e-6, "position (1,1) reads pixel (H-1,W-1)");
    free(features);
}

/* The readout's results must not depend on the number of threads. */
static void test_readout_determinism(void)
{
    int B = 6, C = 4, H = 9, W = 13, N = 37;
    size_t nf = (size_t)B * C * H * W, np = (size_t)B * N * 2;
    float *features = alloc_uniform(nf, -1.0f, 1.0f), *pos = alloc_uniform(np, -1.0f, 1.0f);
    float *weight = alloc_uniform((size_t)N * C, -1.0f, 1.0f), *bias = alloc_uniform(N, -1.0f, 1.0f);
    float *dout = alloc_uniform((size_t)B * N, -1.0f, 1.0f);
    float *out[2], *dfeat[2], *dpos[2], *dweight[2], *dbias[2];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        out[t] = alloc_filled((size_t)B * N, 0.0f);
        dfeat[t] = alloc_filled(nf, 0.0f);
        dpos[t] = alloc_filled(np, 0.0f);
        dweight[t] = alloc_filled((size_t)N * C, 0.0f);
        dbias[t] = alloc_filled(N, 0.0f);
        gaussian_readout_forward(out[t], features, pos, weight, bias, B, C, H, W, N);
        gaussian_readout_backward(dfeat[t], dpos[t], dweight[t], dbias[t], dout, features, pos,
                                  weight, B, C, H, W, N);
    }
    CHECK(memcmp(out[0], out[1], sizeof(float) * B * N) == 0 &&
          memcmp(dfeat[0], dfeat[1], sizeof(float) * nf) == 0 &&
          memcmp(dpos[0], dpos[1], sizeof(float) * np) == 0 &&
          memcmp(dweight[0], dweight[1], sizeof(float) * N * C) == 0 &&
          memcmp(dbias[0], dbias[1], sizeof(float) * N) == 0,
          "gaussian readout: 1 and 2 threads give bit-identical forward and backward");
    /* Asked for parameter gradients alone, backward gathers the samples
     * itself instead of reusing the per-item pass: the same numbers. */
    float *dweight_alone = alloc_filled((size_t)N * C, 0.0f), *dbias_alone = alloc_filled(N, 0.0f);
    gaussian_readout_backward(NULL, NULL, dweight_alone, dbias_alone, dout, features, pos, weight,
                              B, C, H, W, N);
    CHECK(memcmp(dweight_alone, dweight[0], sizeof(float) * N * C) == 0 &&
              memcmp(dbias_alone, dbias[0], sizeof(float) * N) == 0,
          "gaussian readout: dweight and dbias alone equal those of the full backward");
    free(dweight_alone);
    free(dbias_alone);
    /* dfeatures alone (an input gradient) takes the split-by-channel path at
     * small batches: bit-identical to the full backward, with 1 or 2 threads. */
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        float *dfeat_alone = alloc_filled(nf, 0.0f);
        gaussian_readout_backward(dfeat_alone, NULL, NULL, NULL, dout, features, pos, weight, B,
                                  C, H, W, N);
        CHECK(memcmp(dfeat_alone, dfeat[0], sizeof(float) * nf) == 0,
              "gaussian readout: dfeatures alone (%d threads) equal the full backward's",
              t + 1);
        free(dfeat_alone);
    }
    for (int t = 0; t < 2; t++) {
        free(out[t]);
        free(dfeat[t]);
        free(dpos[t]);
        free(dweight[t]);
        free(dbias[t]);
    }
    free(features);
    free(pos);
    free(weight);
    free(bias);
    free(dout);
}

/* ------------------------------------------------------------------------ */
/* Factorized readout */

enum { FR_B = 2, FR_C = 3, FR_HW = 6, FR_N = 4 };
#define FR_FEAT (FR_B * FR_C * FR_HW)

typedef struct fr_ctx {
    float *features, *mask, *weight, *bias, *pooled, *out, *r;
} fr_ctx;

static double fr_objective(void *p)
{
    fr_ctx *c = p;
    factorized_readout_forward(c->out, c->pooled, c->features, c->mask, c->weight, c->bias,
                               FR_B, FR_C, FR_HW, FR_N);
    return weighted_sum(c->r, c->out, FR_B * FR_N);
}

static void test_factorized_readout(void)
{
    fr_ctx c = {alloc_uniform(FR_FEAT, -1.0f, 1.0f), alloc_uniform(FR_N * FR_HW, -1.0f, 1.0f),
                alloc_uniform(FR_N * FR_C, -1.0f, 1.0f), alloc_uniform(FR_N, -0.5f, 0.5f),
                alloc_filled(FR_B * FR_N * FR_C, 0.0f), alloc_filled(FR_B * FR_N, 0.0f),
                alloc_uniform(FR_B * FR_N, -1.0f, 1.0f)};
    fr_objective(&c);
    double worst = 0.0;
    for (int b = 0; b < FR_B; b++)
        for (int n = 0; n < FR_N; n++) {
            double want = c.bias[n];
            for (int ch = 0; ch < FR_C; ch++)
                for (int s = 0; s < FR_HW; s++)
                    want += (double)c.weight[n * FR_C + ch] * c.mask[n * FR_HW + s] *
                            c.features[(b * FR_C + ch) * FR_HW + s];
            worst = fmax(worst, fabs(c.out[b * FR_N + n] - want));
        }
    CHECK(worst < 1e-5, "factorized readout forward = naive sum (off by %.2g)", worst);

    float *dfeat = alloc_filled(FR_FEAT, INPUT_GRAD_START);
    float *dmask = alloc_filled(FR_N * FR_HW, PARAM_GRAD_START);
    float *dweight = alloc_filled(FR_N * FR_C, PARAM_GRAD_START);
    float *dbias = alloc_filled(FR_N, PARAM_GRAD_START);
    factorized_readout_backward(dfeat, dmask, dweight, dbias, c.r, c.pooled, c.features, c.mask,
                                c.weight, FR_B, FR_C, FR_HW, FR_N);
    subtract_start(dmask, FR_N * FR_HW);
    subtract_start(dweight, FR_N * FR_C);
    subtract_start(dbias, FR_N);
    check_gradient("factorized readout dfeatures", fr_objective, &c, c.features, dfeat, FR_FEAT,
                   1e-2f, 1e-2);
    check_gradient("factorized readout dmask", fr_objective, &c, c.mask, dmask, FR_N * FR_HW,
                   1e-2f, 1e-2);
    check_gradient("factorized readout dweight", fr_objective, &c, c.weight, dweight,
                   FR_N * FR_C, 1e-2f, 1e-2);
    check_gradient("factorized readout dbias", fr_objective, &c, c.bias, dbias, FR_N, 1e-2f,
                   1e-2);
    free(dfeat);
    free(dmask);
    free(dweight);
    free(dbias);
    free(c.features);
    free(c.mask);
    free(c.weight);
    free(c.bias);
    free(c.pooled);
    free(c.out);
    free(c.r);
}

/* ------------------------------------------------------------------------ */
/* Dense layer and Gabor bank */

enum { DN_B = 3, DN_D = 5, DN_N = 4 };

typedef struct dense_ctx {
    float *in, *weight, *bias, *out, *r;
} dense_ctx;

static double dense_objective(void *p)
{
    dense_ctx *c = p;
    dense_forward(c->out, c->in, c->weight, c->bias, DN_B, DN_D, DN_N);
    return weighted_sum(c->r, c->out, DN_B * DN_N);
}

static void test_dense(void)
{
    dense_ctx c = {alloc_uniform(DN_B * DN_D, -1.0f, 1.0f), alloc_uniform(DN_N * DN_D, -1.0f, 1.0f),
                   alloc_uniform(DN_N, -1.0f, 1.0f), alloc_filled(DN_B * DN_N, 0.0f),
                   alloc_uniform(DN_B * DN_N, -1.0f, 1.0f)};
    dense_objective(&c);
    double worst = 0.0;
    for (int b = 0; b < DN_B; b++)
        for (int n = 0; n < DN_N; n++) {
            double want = c.bias[n];
            for (int d = 0; d < DN_D; d++)
                want += (double)c.weight[n * DN_D + d] * c.in[b * DN_D + d];
            worst = fmax(worst, fabs(c.out[b * DN_N + n] - want));
        }
    CHECK(worst < 1e-5, "dense forward = naive sum (off by %.2g)", worst);

    float *din = alloc_filled(DN_B * DN_D, INPUT_GRAD_START);
    float *dweight = alloc_filled(DN_N * DN_D, PARAM_GRAD_START);
    float *dbias = alloc_filled(DN_N, PARAM_GRAD_START);
    dense_backward(din, dweight, dbias, c.r, c.in, c.weight, DN_B, DN_D, DN_N);
    subtract_start(dweight, DN_N * DN_D);
    subtract_start(dbias, DN_N);
    check_gradient("dense din", dense_objective, &c, c.in, din, DN_B * DN_D, 1e-2f, 1e-2);
    check_gradient("dense dweight", dense_objective, &c, c.weight, dweight, DN_N * DN_D, 1e-2f,
                   1e-2);
    check_gradient("dense dbias", dense_objective, &c, c.bias, dbias, DN_N, 1e-2f, 1e-2);
    free(din);
    free(dweight);
    free(dbias);
    free(c.in);
    free(c.weight);
    free(c.bias);
    free(c.out);
    free(c.r);
}

static void test_gabor_bank(void)
{
    int H = 36, W = 64, D = gabor_bank_size(H, W);
    CHECK(D == 2544, "gabor bank for 36x64 has D = 2544 filters (got %d)", D);
    size_t HW = (size_t)H * W;
    float *G = alloc_filled((size_t)D * HW, NAN);
    gabor_bank_build(G, H, W);
    double worst_norm = 0.0, worst_mean = 0.0, worst_pair = 0.0;
    for (int d = 0; d < D; d++) {
        double sum = 0.0, sq = 0.0, dot = 0.0;
        for (size_t i = 0; i < HW; i++) {
            sum += G[d * HW + i];
            sq += (double)G[d * HW + i] * G[d * HW + i];
            if (d % 2 == 0)
                dot += (double)G[d * HW + i] * G[(d + 1) * HW + i];
        }
        worst_norm = fmax(worst_norm, fabs(sqrt(sq) - 1.0));
        worst_mean = fmax(worst_mean, fabs(sum));
        worst_pair = fmax(worst_pair, fabs(dot));
    }
    CHECK(worst_norm < 1e-4, "every Gabor filter has unit L2 norm (off by %.2g)", worst_norm);
    CHECK(worst_mean < 1e-4, "every Gabor filter sums to zero (off by %.2g)", worst_mean);
    CHECK(worst_pair < 0.2, "even and odd filters of a pair are nearly orthogonal (|dot| <= %.2g)",
          worst_pair);
    /* A grating at the first filter's frequency and orientation (0 rad,
     * vertical stripes) drives its even filter far more than a gray image. */
    float *grating = alloc_filled(HW, 0.0f);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            grating[y * W + x] = cosf(2.0f * (float)M_PI * x / 6.0f);
    double best = 0.0;
    for (int d = 0; d < D; d++) {
        double dot = 0.0;
        for (size_t i = 0; i < HW; i++)
            dot += (double)G[d * HW + i] * grating[i];
        best = fmax(best, fabs(dot));
    }
    CHECK(best > 2.0, "a grating at the bank's frequency gets a strong response (%.2f)", best);
    free(grating);
    free(G);
    CHECK(gabor_bank_size(5, 5) > 0, "a tiny image still gets a bank (D = %d)",
          gabor_bank_size(5, 5));
}

/* ------------------------------------------------------------------------ */
/* Losses and penalties */

enum { PL_B = 3, PL_N = 4 };

typedef struct poisson_ctx {
    float *rate, *resp;
} poisson_ctx;

static double poisson_objective(void *p)
{
    poisson_ctx *c = p;
    return poisson_loss(NULL, c->rate, c->resp, PL_B, PL_N);
}

static void test_poisson(void)
{
    poisson_ctx c = {alloc_uniform(PL_B * PL_N, 0.5f, 3.0f), alloc_filled(PL_B * PL_N, 0.0f)};
    for (int i = 0; i < PL_B * PL_N; i++)
        c.resp[i] = (float)(i % 5);
    float *drate = alloc_filled(PL_B * PL_N, INPUT_GRAD_START);
    poisson_loss(drate, c.rate, c.resp, PL_B, PL_N);
    check_gradient("poisson loss drate", poisson_objective, &c, c.rate, drate, PL_B * PL_N, 1e-3f,
                   1e-2);

    /* Two trials, one neuron: ((1 - 2·log 1) + (e - 1·log e)) / 2 = e/2. */
    float rate[2] = {1.0f, (float)M_E}, resp[2] = {2.0f, 1.0f}, d[2];
    double loss = poisson_loss(d, rate, resp, 2, 1);
    CHECK_CLOSE(loss, M_E / 2.0, 1e-6, "poisson loss by hand: e/2");
    CHECK_CLOSE(d[0], 0.5 * (1.0 - 2.0), 1e-6, "drate by hand: (1 - r/rate)/B");
    float zero_rate = 0.0f, no_spikes = 0.0f;
    CHECK(isfinite(poisson_loss(NULL, &zero_rate, &resp[0], 1, 1)) &&
              poisson_loss(NULL, &zero_rate, &no_spikes, 1, 1) == 0.0,
          "poisson loss stays finite at rate 0");
    free(c.rate);
    free(c.resp);
    free(drate);
}

enum { LP_OUT = 2, LP_IN = 2, LP_K = 5, LP_SIZE = LP_OUT * LP_IN * LP_K * LP_K };

static double laplace_objective(void *p)
{
    return laplace_penalty(NULL, p, LP_OUT, LP_IN, LP_K, 0.7f);
}

static double l1_objective(void *p) { return l1_penalty(NULL, p, LP_SIZE, 0.3f); }

static void test_penalties(void)
{
    float *w = alloc_uniform(LP_SIZE, -1.0f, 1.0f), *dw = alloc_filled(LP_SIZE, PARAM_GRAD_START);
    laplace_penalty(dw, w, LP_OUT, LP_IN, LP_K, 0.7f);
    subtract_start(dw, LP_SIZE);
    check_gradient("laplace penalty dweight", laplace_objective, w, w, dw, LP_SIZE, 1e-2f, 1e-2);

    /* Constant 3×3 kernel of ones with zero padding: the Laplacian is 0 at
     * the centre, 4-3 = 1 at the edge midpoints, 4-2 = 2 at the corners:
     * 4·1² + 4·2² = 20, times the scale. */
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_CLOSE(laplace_penalty(NULL, ones, 1, 1, 3, 0.5f), 10.0, 1e-9,
                "laplace penalty of a constant 3x3 kernel = 0.5 · 20");

    float *wl = alloc_away_from_zero(LP_SIZE, -1.0f, 1.0f, 0.05f);
    float *dl = alloc_filled(LP_SIZE, PARAM_GRAD_START);
    l1_penalty(dl, wl, LP_SIZE, 0.3f);
    subtract_start(dl, LP_SIZE);
    check_gradient("l1 penalty dweight", l1_objective, wl, wl, dl, LP_SIZE, 1e-2f, 1e-2);
    float v[3] = {-2.0f, 0.0f, 0.5f}, dv[3] = {0, 0, 0};
    double l1 = l1_penalty(dv, v, 3, 2.0f);
    CHECK(l1 == 5.0 && dv[0] == -2.0f && dv[1] == 0.0f && dv[2] == 2.0f,
          "l1 of (-2, 0, 0.5) at scale 2: 5, gradient (-2, 0, 2) with sign(0) = 0");
    free(w);
    free(dw);
    free(wl);
    free(dl);
}

/* ------------------------------------------------------------------------ */
/* Adam */

static void test_adam(void)
{
    enum { n = 6 };
    adam_state a;
    CHECK(adam_init(&a, n) == 0 && a.step == 0 && a.m[0] == 0.0f && a.v[n - 1] == 0.0f,
          "adam_init zeroes the moments");
    float p[n] = {1, 2, 3, 4, 5, 6}, g[n] = {0.5f, -3.0f, 2.0f, -0.01f, 7.0f, 1.0f};
    unsigned char mask[n] = {1, 1, 1, 1, 1, 0};
    float lr = 0.01f, before[n];
    memcpy(before, p, sizeof p);
    adam_step(&a, p, g, mask, lr);
    double worst = 0.0;
    for (int i = 0; i < n - 1; i++) {
        double want = before[i] - lr * (g[i] > 0 ? 1.0 : -1.0);
        worst = fmax(worst, fabs(p[i] - want) / lr);
    }
    CHECK(worst < 1e-4, "first adam step moves each parameter by lr·sign(g) (off by %.2g lr)",
          worst);
    CHECK(p[n - 1] == before[n - 1] && a.m[n - 1] == 0.0f && a.v[n - 1] == 0.0f,
          "a masked parameter and its moments are untouched");
    adam_free(&a);

    /* Minimize Σ c_i (x_i - t_i)² from x = 0. */
    float x[n] = {0}, t[n] = {1.0f, -2.0f, 0.5f, 3.0f, -1.0f, 0.25f},
          curv[n] = {1.0f, 10.0f, 0.1f, 2.0f, 5.0f, 1.0f}, grad[n];
    adam_init(&a, n);
    for (int step = 0; step < 3000; step++) {
        for (int i = 0; i < n; i++)
            grad[i] = 2.0f * curv[i] * (x[i] - t[i]);
        adam_step(&a, x, grad, NULL, step < 2000 ? 0.05f : 0.005f);
    }
    double far = 0.0;
    for (int i = 0; i < n; i++)
        far = fmax(far, fabs(x[i] - t[i]));
    CHECK(far < 1e-2, "adam minimizes a quadratic (max distance %.2g)", far);
    CHECK(a.step == 3000, "adam counts its steps");
    adam_free(&a);
}

/* ------------------------------------------------------------------------ */
/* Divisive normalization */

#define DN_B 2
#define DN_C 3
#define DN_H 5
#define DN_W 7
#define DN_SIZE (DN_B * DN_C * DN_H * DN_W)
#define DN_SIGMA 1.2f

typedef struct dn_ctx {
    float *in, *out, *w, *a, *r, *q, *d, *scratch;
} dn_ctx;

static double dn_objective(void *p)
{
    dn_ctx *c = p;
    divnorm_forward(c->out, c->q, c->d, c->scratch, c->in, c->w, c->a, DN_B, DN_C, DN_H, DN_W,
                    DN_SIGMA);
    return weighted_sum(c->r, c->out, DN_SIZE);
}

/* The definition in double, each pooled value summed over the whole map
 * with the 2-D Gaussian weight (no separability, no truncation radius
 * other than the layer's 3σ, renormalized as the layer's 1-D taps are). */
static double naive_divnorm(const dn_ctx *c, int b, int ch, int y, int x)
{
    int r = divnorm_pool_radius(DN_SIGMA);
    double norm = 0.0;
    for (int k = -r; k <= r; k++)
        norm += exp(-0.5 * k * k / ((double)DN_SIGMA * DN_SIGMA));
    double d = (double)c->a[ch] * c->a[ch] + DIVNORM_EPS;
    for (int o = 0; o < DN_C; o++) {
        double q = 0.0;
        for (int yy = 0; yy < DN_H; yy++)
            for (int xx = 0; xx < DN_W; xx++) {
                if (abs(yy - y) > r || abs(xx - x) > r)
                    continue;
                double g = exp(-0.5 * ((yy - y) * (yy - y) + (xx - x) * (xx - x)) /
                               ((double)DN_SIGMA * DN_SIGMA)) / (norm * norm);
                double v = c->in[((b * DN_C + o) * DN_H + yy) * DN_W + xx];
                q += g * v * v;
            }
        d += (double)c->w[ch * DN_C + o] * c->w[ch * DN_C + o] * q;
    }
    return c->in[((b * DN_C + ch) * DN_H + y) * DN_W + x] / sqrt(d);
}

static void test_divnorm(void)
{
    dn_ctx c = {alloc_uniform(DN_SIZE, -1.0f, 2.0f), alloc_filled(DN_SIZE, 0.0f),
                alloc_away_from_zero(DN_C * DN_C, -1.0f, 1.0f, 0.2f),
                alloc_away_from_zero(DN_C, -1.0f, 1.0f, 0.2f),
                alloc_uniform(DN_SIZE, -1.0f, 1.0f), alloc_filled(DN_SIZE, 0.0f),
                alloc_filled(DN_SIZE, 0.0f),
                alloc_filled(divnorm_scratch_size(DN_C, DN_H, DN_W, DN_SIGMA), 0.0f)};
    dn_objective(&c);
    double worst = 0.0;
    for (int b = 0; b < DN_B; b++)
        for (int ch = 0; ch < DN_C; ch++)
            for (int y = 0; y < DN_H; y++)
                for (int x = 0; x < DN_W; x++) {
                    double want = naive_divnorm(&c, b, ch, y, x);
                    double got = c.out[((b * DN_C + ch) * DN_H + y) * DN_W + x];
                    worst = fmax(worst, fabs(got - want) / fmax(1.0, fabs(want)));
                }
    /* float sums of a few dozen terms against double: 1e-5 is ~100 ulps */
    CHECK(worst <= 1e-5, "divnorm forward equals its definition in double (worst %.2g)", worst);

    float *din = alloc_filled(DN_SIZE, INPUT_GRAD_START);
    float *dw = alloc_filled(DN_C * DN_C, PARAM_GRAD_START), *da = alloc_filled(DN_C, PARAM_GRAD_START);
    dn_objective(&c);
    divnorm_backward(din, dw, da, c.scratch, c.r, c.in, c.out, c.q, c.d, c.w, c.a, DN_B, DN_C,
                     DN_H, DN_W, DN_SIGMA);
    subtract_start(dw, DN_C * DN_C);
    subtract_start(da, DN_C);
    check_gradient("divnorm din", dn_objective, &c, c.in, din, DN_SIZE, 1e-2f, 1e-2);
    check_gradient("divnorm dw", dn_objective, &c, c.w, dw, DN_C * DN_C, 1e-2f, 1e-2);
    check_gradient("divnorm da", dn_objective, &c, c.a, da, DN_C, 1e-2f, 1e-2);

    /* Weights at 0 leave only the constant: out = in / √(a² + ε). */
    for (int i = 0; i < DN_C * DN_C; i++)
        c.w[i] = 0.0f;
    dn_objective(&c);
    worst = 0.0;
    for (int i = 0; i < DN_SIZE; i++) {
        float a = c.a[(i / (DN_H * DN_W)) % DN_C];
        worst = fmax(worst, fabs(c.out[i] - c.in[i] / sqrt((double)a * a + DIVNORM_EPS)));
    }
    CHECK(worst <= 1e-6, "divnorm with no pooled weight divides by the constant alone");
    free(c.in), free(c.out), free(c.w), free(c.a), free(c.r), free(c.q), free(c.d);
    free(c.scratch), free(din), free(dw), free(da);
}

int main(void)
{
    model_rng_seed(&rng, 20240611);
    test_activations();
    test_batchnorm_gradients();
    test_batchnorm_values();
    test_gaussian_readout();
    test_gaussian_readout_positions();
    test_readout_determinism();
    test_factorized_readout();
    test_dense();
    test_gabor_bank();
    test_poisson();
    test_penalties();
    test_adam();
    test_divnorm();
    return test_done();
}
