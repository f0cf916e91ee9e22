/* test_conv.c: the direct convolution against a double-precision re-implementation
 * and finite differences; the FFT convolution against the direct one. */
#include "layers.h"
#include "test.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    int B, Cin, Cout, H, W, K;
} shape;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(void) /* in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static float *random_floats(size_t n)
{
    float *a = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        a[i] = uniform();
    return a;
}

static size_t in_size(shape s) { return (size_t)s.B * s.Cin * s.H * s.W; }
static size_t out_size(shape s) { return (size_t)s.B * s.Cout * s.H * s.W; }
static size_t weight_size(shape s) { return (size_t)s.Cout * s.Cin * s.K * s.K; }

/* The layer's definition, in double, one output at a time. */
static double naive_output(const float *in, const float *w, const float *bias, shape s,
                           int b, int o, int y, int x)
{
    int p = (s.K - 1) / 2;
    double sum = bias ? bias[o] : 0.0;
    for (int i = 0; i < s.Cin; i++)
        for (int ky = 0; ky < s.K; ky++)
            for (int kx = 0; kx < s.K; kx++) {
                int iy = y + ky - p, ix = x + kx - p;
                if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W)
                    continue;
                sum += (double)w[((o * s.Cin + i) * s.K + ky) * s.K + kx] *
                       in[((size_t)(b * s.Cin + i) * s.H + iy) * s.W + ix];
            }
    return sum;
}

/* L = Σ r · out, in double: its derivative in anything is the backward pass
 * with dout = r. Linear in every argument, so central differences are exact
 * up to rounding. */
static double naive_loss(const float *in, const float *w, const float *bias, const float *r,
                         shape s)
{
    double L = 0.0;
    for (int b = 0; b < s.B; b++)
        for (int o = 0; o < s.Cout; o++)
            for (int y = 0; y < s.H; y++)
                for (int x = 0; x < s.W; x++)
                    L += r[((size_t)(b * s.Cout + o) * s.H + y) * s.W + x] *
                         naive_output(in, w, bias, s, b, o, y, x);
    return L;
}

/* Largest |a - b| over the largest |b|: the error relative to the data's scale. */
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

static void test_direct_forward(shape s)
{
    float *in = random_floats(in_size(s)), *w = random_floats(weight_size(s));
    float *bias = random_floats(s.Cout), *out = malloc(sizeof(float) * out_size(s));
    conv2d_forward(out, in, w, bias, s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    double worst = 0.0;
    for (int b = 0; b < s.B; b++)
        for (int o = 0; o < s.Cout; o++)
            for (int y = 0; y < s.H; y++)
                for (int x = 0; x < s.W; x++) {
                    double ref = naive_output(in, w, bias, s, b, o, y, x);
                    double got = out[((size_t)(b * s.Cout + o) * s.H + y) * s.W + x];
                    double e = fabs(got - ref) / (fabs(ref) > 1.0 ? fabs(ref) : 1.0);
                    worst = e > worst ? e : worst;
                }
    CHECK(worst < 1e-5, "direct forward = double reference (B%d %d->%d %dx%d K%d), error %.2g",
          s.B, s.Cin, s.Cout, s.H, s.W, s.K, worst);
    free(in), free(w), free(bias), free(out);
}

/* Central difference of naive_loss in one float of `v`. */
static double finite_diff(float *v, size_t k, const float *in, const float *w, const float *bias,
                          const float *r, shape s)
{
    const float h = 1e-2f;
    float keep = v[k];
    v[k] = keep + h;
    double up = naive_loss(in, w, bias, r, s);
    v[k] = keep - h;
    double down = naive_loss(in, w, bias, r, s);
    v[k] = keep;
    return (up - down) / (2.0 * h);
}

static double worst_grad_error(float *v, size_t n, const float *grad, const float *in,
                               const float *w, const float *bias, const float *r, shape s)
{
    double worst = 0.0;
    for (size_t k = 0; k < n; k++) {
        double fd = finite_diff(v, k, in, w, bias, r, s);
        double e = fabs(fd - grad[k]) / (fabs(fd) > 1.0 ? fabs(fd) : 1.0);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void test_direct_backward(shape s)
{
    float *in = random_floats(in_size(s)), *w = random_floats(weight_size(s));
    float *bias = random_floats(s.Cout), *r = random_floats(out_size(s));
    float *din = malloc(sizeof(float) * in_size(s));
    float *dw = calloc(weight_size(s), sizeof(float)), *db = calloc(s.Cout, sizeof(float));
    conv2d_backward(din, dw, db, r, in, w, s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    double e_in = worst_grad_error(in, in_size(s), din, in, w, bias, r, s);
    double e_w = worst_grad_error(w, weight_size(s), dw, in, w, bias, r, s);
    double e_b = worst_grad_error(bias, s.Cout, db, in, w, bias, r, s);
    CHECK(e_in < 1e-4, "direct din = finite differences (K%d %dx%d), error %.2g", s.K, s.H, s.W,
          e_in);
    CHECK(e_w < 1e-4, "direct dweight = finite differences (K%d), error %.2g", s.K, e_w);
    CHECK(e_b < 1e-4, "direct dbias = finite differences (K%d), error %.2g", s.K, e_b);

    /* Parameter gradients accumulate; a NULL gradient is skipped. */
    float *dw2 = malloc(sizeof(float) * weight_size(s));
    memcpy(dw2, dw, sizeof(float) * weight_size(s));
    conv2d_backward(NULL, dw2, NULL, r, in, w, s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    int doubled = 1;
    for (size_t k = 0; k < weight_size(s); k++)
        doubled &= fabsf(dw2[k] - 2.0f * dw[k]) <= 1e-5f * (1.0f + fabsf(dw[k]));
    CHECK(doubled, "direct dweight accumulates (+=)");
    free(in), free(w), free(bias), free(r), free(din), free(dw), free(db), free(dw2);
}

/* Everything one comparison of the FFT layer with the direct one needs. */
typedef struct case_data {
    shape s;
    float *in, *w, *bias, *dout;
    float *out, *din, *dw, *db;          /* direct */
    float *f_out, *f_din, *f_dw, *f_db;  /* FFT */
} case_data;

static case_data make_case(shape s)
{
    case_data d = {.s = s};
    d.in = random_floats(in_size(s));
    d.w = random_floats(weight_size(s));
    d.bias = random_floats(s.Cout);
    d.dout = random_floats(out_size(s));
    d.out = malloc(sizeof(float) * out_size(s));
    d.din = malloc(sizeof(float) * in_size(s));
    d.dw = calloc(weight_size(s), sizeof(float));
    d.db = calloc(s.Cout, sizeof(float));
    d.f_out = malloc(sizeof(float) * out_size(s));
    d.f_din = malloc(sizeof(float) * in_size(s));
    d.f_dw = calloc(weight_size(s), sizeof(float));
    d.f_db = calloc(s.Cout, sizeof(float));
    conv2d_forward(d.out, d.in, d.w, d.bias, s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    conv2d_backward(d.din, d.dw, d.db, d.dout, d.in, d.w, s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    return d;
}

static void free_case(case_data *d)
{
    free(d->in), free(d->w), free(d->bias), free(d->dout), free(d->out), free(d->din);
    free(d->dw), free(d->db), free(d->f_out), free(d->f_din), free(d->f_dw), free(d->f_db);
}

static void run_fft(conv_fft *c, case_data *d)
{
    shape s = d->s;
    memset(d->f_dw, 0, sizeof(float) * weight_size(s));
    memset(d->f_db, 0, sizeof(float) * s.Cout);
    conv_fft_forward(c, d->f_out, d->in, d->bias, s.B);
    conv_fft_backward(c, d->f_din, d->f_dw, d->f_db, d->dout, s.B);
}

#define FFT_TOL 2e-5

static void check_fft_matches(const case_data *d, const char *what)
{
    shape s = d->s;
    double e_out = max_rel_error(d->f_out, d->out, out_size(s));
    double e_in = max_rel_error(d->f_din, d->din, in_size(s));
    double e_w = max_rel_error(d->f_dw, d->dw, weight_size(s));
    double e_b = max_rel_error(d->f_db, d->db, s.Cout);
    CHECK(e_out < FFT_TOL && e_in < FFT_TOL && e_w < FFT_TOL && e_b < FFT_TOL,
          "fft = direct, %s (B%d %d->%d %dx%d K%d): out %.2g din %.2g dw %.2g db %.2g", what,
          s.B, s.Cin, s.Cout, s.H, s.W, s.K, e_out, e_in, e_w, e_b);
}

static void test_fft_shape(shape s)
{
    case_data d = make_case(s);
    conv_fft *c = conv_fft_create(s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    CHECK(c != NULL, "conv_fft_create(B%d %d->%d %dx%d K%d)", s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    if (!c) {
        free_case(&d);
        return;
    }
    conv_fft_set_weights(c, d.w);
    run_fft(c, &d);
    check_fft_matches(&d, "first call");
    free_case(&d);
    conv_fft_destroy(c);
}

/* Threads split only independent work, so 1 and 2 threads agree bit for bit. */
static void test_fft_threads_identical(shape s)
{
    case_data d = make_case(s);
    conv_fft *c = conv_fft_create(s.B, s.Cin, s.Cout, s.H, s.W, s.K);
    conv_fft_set_weights(c, d.w);
    run_fft(c, &d);
    float *out1 = malloc(sizeof(float) * out_size(s)), *din1 = malloc(sizeof(float) * in_size(s));
    float *dw1 = malloc(sizeof(float) * weight_size(s)), *db1 = malloc(sizeof(float) * s.Cout);
    memcpy(out1, d.f_out, sizeof(float) * out_size(s));
    memcpy(din1, d.f_din, sizeof(float) * in_size(s));
    memcpy(dw1, d.f_dw, sizeof(float) * weight_size(s));
    memcpy(db1, d.f_db, sizeof(float) * s.Cout);
    conv_fft_set_threads(c, 2);
    conv_fft_set_weights(c, d.w);
    run_fft(c, &d);
    int same = !memcmp(out1, d.f_out, sizeof(float) * out_size(s)) &&
               !memcmp(din1, d.f_din, sizeof(float) * in_size(s)) &&
               !memcmp(dw1, d.f_dw, sizeof(float) * weight_size(s)) &&
               !memcmp(db1, d.f_db, sizeof(float) * s.Cout);
    CHECK(same, "fft with 1 and 2 threads bitwise identical (B%d %d->%d %dx%d K%d)", s.B, s.Cin,
          s.Cout, s.H, s.W, s.K);
    check_fft_matches(&d, "2 threads");
    free(out1), free(din1), free(dw1), free(db1);
    free_case(&d);
    conv_fft_destroy(c);
}

/* One plan through a sequence of uses: repeated calls, a smaller batch than
 * its capacity, new weights, and the NULL-gradient variants. */
static void test_fft_reuse(void)
{
    shape big = {9, 3, 4, 6, 7, 3}, small = {2, 3, 4, 6, 7, 3};
    conv_fft *c = conv_fft_create(10, 3, 4, 6, 7, 3);
    conv_fft_set_threads(c, 2);
    case_data d = make_case(big);
    conv_fft_set_weights(c, d.w);
    run_fft(c, &d);
    run_fft(c, &d);
    check_fft_matches(&d, "second call, batch 9 of 10 (GEMM path)");

    case_data e = make_case(small);
    conv_fft_set_weights(c, e.w);
    run_fft(c, &e);
    check_fft_matches(&e, "after set_weights, batch 2 of 10 (small path)");

    /* Gradient accumulation: a second backward adds the same again. */
    conv_fft_backward(c, NULL, e.f_dw, e.f_db, e.dout, small.B);
    int doubled = 1;
    for (size_t k = 0; k < weight_size(small); k++)
        doubled &= fabsf(e.f_dw[k] - 2.0f * e.dw[k]) <= 1e-4f * (1.0f + fabsf(e.dw[k]));
    for (int o = 0; o < small.Cout; o++)
        doubled &= fabsf(e.f_db[o] - 2.0f * e.db[o]) <= 1e-4f * (1.0f + fabsf(e.db[o]));
    CHECK(doubled, "fft dweight and dbias accumulate (+=)");

    /* din only (input-gradient steps): parameter gradients untouched. */
    memset(e.f_din, 0, sizeof(float) * in_size(small));
    conv_fft_backward(c, e.f_din, NULL, NULL, e.dout, small.B);
    CHECK(max_rel_error(e.f_din, e.din, in_size(small)) < FFT_TOL, "fft din-only backward");

    /* dweight only. */
    memset(e.f_dw, 0, sizeof(float) * weight_size(small));
    conv_fft_backward(c, NULL, e.f_dw, NULL, e.dout, small.B);
    CHECK(max_rel_error(e.f_dw, e.dw, weight_size(small)) < FFT_TOL, "fft dweight-only backward");

    /* Back to the first weights: the kernel cache follows set_weights. */
    conv_fft_set_weights(c, d.w);
    conv_fft_forward(c, d.f_out, d.in, d.bias, big.B);
    CHECK(max_rel_error(d.f_out, d.out, out_size(big)) < FFT_TOL, "fft forward after weights restored");

    /* No bias: the plain correlation. */
    float *nb = malloc(sizeof(float) * out_size(big));
    conv_fft_forward(c, nb, d.in, NULL, big.B);
    size_t HW = (size_t)big.H * big.W;
    double worst = 0.0;
    for (size_t k = 0; k < out_size(big); k++) {
        double e2 = fabs(nb[k] + d.bias[(k / HW) % big.Cout] - d.out[k]);
        worst = e2 > worst ? e2 : worst;
    }
    CHECK(worst < 1e-4, "fft forward with bias NULL, error %.2g", worst);
    free(nb);
    free_case(&d);
    free_case(&e);
    conv_fft_destroy(c);
}

static void test_fft_create_rejects(void)
{
    CHECK(conv_fft_create(1, 1, 1, 5, 5, 4) == NULL, "even kernel size rejected");
    CHECK(conv_fft_create(0, 1, 1, 5, 5, 3) == NULL, "zero batch rejected");
    CHECK(conv_fft_create(1, 1, 1, 0, 5, 3) == NULL, "zero height rejected");
    conv_fft_destroy(NULL);
    CHECK(1, "conv_fft_destroy(NULL) is a no-op");
}

int main(void)
{
    openblas_set_num_threads(1);
    shape direct_shapes[] = {{1, 1, 1, 4, 5, 1}, {2, 2, 3, 5, 4, 3}, {1, 2, 2, 6, 5, 5},
                             {1, 1, 2, 3, 4, 7}};
    for (size_t k = 0; k < sizeof(direct_shapes) / sizeof(*direct_shapes); k++) {
        test_direct_forward(direct_shapes[k]);
        test_direct_backward(direct_shapes[k]);
    }
    test_direct_forward((shape){2, 3, 4, 9, 11, 9});

    shape fft_shapes[] = {
        {1, 1, 1, 5, 7, 1},   {2, 3, 4, 5, 7, 3},    {1, 2, 3, 6, 8, 5},
        {3, 2, 2, 7, 5, 7},   {2, 3, 2, 9, 6, 9},    {1, 1, 4, 1, 3, 9},
        {8, 2, 3, 6, 8, 5},   {9, 4, 3, 5, 7, 7},    {2, 1, 32, 36, 64, 9},
        {9, 1, 5, 6, 7, 9},   {2, 4, 6, 36, 64, 7},  {1, 32, 32, 36, 64, 7},
    };
    for (size_t k = 0; k < sizeof(fft_shapes) / sizeof(*fft_shapes); k++)
        test_fft_shape(fft_shapes[k]);
    test_fft_threads_identical((shape){3, 2, 5, 7, 6, 5});
    test_fft_threads_identical((shape){9, 3, 4, 6, 7, 3});
    test_fft_threads_identical((shape){1, 8, 8, 36, 64, 7});
    test_fft_reuse();
    test_fft_create_rejects();
    return test_done();
}
