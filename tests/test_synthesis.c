/* test_synthesis.c: MEI synthesis and its controls: the stimulus space's
 * constraint map checked exactly, finite-difference checks of every
 * differentiable piece (Fourier parameterization, blur, objectives), batched
 * against one-by-one synthesis, determinism, and the ground-truth optimum. */
#include "model.h"
#include "stimulus.h"
#include "test.h"
#include "test_files.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H 16
#define W 24
#define P (H * W)

static void random_image(float *x, int n, model_rng *rng, float mean, float sd)
{
    for (int i = 0; i < n; i++)
        x[i] = mean + sd * (float)model_rng_normal(rng);
}

static double dot(const float *a, const float *b, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* ------------------------------------------------------------------------ */

static void test_constrain(void)
{
    model_rng rng;
    model_rng_seed(&rng, 3);
    stimulus_budget b = {0.45f, 0.12f};
    float x[P], y[P];
    int all_ok = 1, maximal = 1, form = 1;
    for (int trial = 0; trial < 40; trial++) {
        /* Contrasts from far below to far above the budget, off-centre means. */
        float sd = 0.02f * (float)(trial + 1), mean = 0.2f + 0.015f * trial;
        random_image(x, P, &rng, mean, sd);
        memcpy(y, x, sizeof y);
        stimulus_constrain(y, P, &b);
        double m = stimulus_mean(y, P), c = stimulus_rms_contrast(y, P);
        int in_range = 1;
        for (int i = 0; i < P; i++)
            in_range &= y[i] >= 0.0f && y[i] <= 1.0f;
        all_ok &= in_range && fabs(m - b.mean_luminance) <= 1e-6 && c <= b.contrast;
        if (!(in_range && fabs(m - b.mean_luminance) <= 1e-6 && c <= b.contrast))
            printf("# trial %d: mean %.9f contrast %.9f\n", trial, m, c);
        /* Above the budget the map keeps as much contrast as it may. */
        if (stimulus_rms_contrast(x, P) > 1.01 * b.contrast && c < b.contrast * (1 - 1e-4))
            maximal = 0;
        /* y = clip(a + s·x): unclipped pixels are an affine map of x. */
        int i0 = -1, i1 = -1;
        for (int i = 0; i < P && i1 < 0; i++)
            if (y[i] > 0.0f && y[i] < 1.0f) {
                if (i0 < 0)
                    i0 = i;
                else if (fabsf(x[i] - x[i0]) > 0.05f)
                    i1 = i;
            }
        double s = (y[i1] - y[i0]) / (double)(x[i1] - x[i0]), a = y[i0] - s * x[i0];
        for (int i = 0; i < P; i++) {
            double v = a + s * x[i];
            double expect = v < 0 ? 0 : v > 1 ? 1 : v;
            if (fabs(expect - y[i]) > 1e-5)
                form = 0;
        }
    }
    CHECK(all_ok, "constrained images: mean exact (1e-6), RMS contrast within budget, pixels in [0,1]");
    CHECK(maximal, "contrast above the budget is brought to the budget, not below it");
    CHECK(form, "constrained image is clip(a + s·x), the form of the linear optimum");

    /* An image already in the space is left exactly as it is. */
    random_image(x, P, &rng, 0.45f, 0.05f);
    stimulus_constrain(x, P, &b);
    memcpy(y, x, sizeof y);
    stimulus_constrain(y, P, &b);
    CHECK(!memcmp(x, y, sizeof x), "the map is the identity on the space (bit for bit)");

    /* The exact mean and a contrast just over the budget: not in the space,
     * so not left as it is. Pixels stay far from 0 and 1, so no clipping:
     * the answer is the image scaled about its mean to the budget. */
    for (int k = 1; k <= 2; k++) {
        double over = 1.0 + 0.005 * k, target = over * b.contrast;
        random_image(x, P, &rng, 0.45f, 0.05f);
        double m = stimulus_mean(x, P), ss = 0.0;
        for (int i = 0; i < P; i++)
            ss += (x[i] - m) * (x[i] - m);
        double scale = target / sqrt(ss / P);
        for (int i = 0; i < P; i++)
            x[i] = (float)(b.mean_luminance + (x[i] - m) * scale);
        int interior = 1;
        for (int i = 0; i < P; i++)
            interior &= x[i] > 0.0f && x[i] < 1.0f;
        double c_in = stimulus_rms_contrast(x, P);
        /* Float pixels put the mean within ~1e-7 of the target and the
         * contrast within ~1e-6 of `target`: well inside the 0.5% step. */
        CHECK(interior && fabs(stimulus_mean(x, P) - b.mean_luminance) <= 1e-6 &&
                  fabs(c_in / b.contrast - over) < 1e-4,
              "test image: the exact mean, contrast %.2f%% over the budget", 100 * (over - 1));
        memcpy(y, x, sizeof y);
        stimulus_constrain(y, P, &b);
        double c_out = stimulus_rms_contrast(y, P);
        CHECK(c_out <= b.contrast && c_out >= b.contrast * (1 - 1e-4) &&
                  fabs(stimulus_mean(y, P) - b.mean_luminance) <= 1e-6,
              "%.1f%% over the budget at the exact mean: brought to the budget "
              "(contrast %.6f, budget %.6f)", 100 * (over - 1), c_out, b.contrast);
        /* Scaled about the mean by budget / contrast: 1e-5 allows the float
         * rounding of the offset and scale searches (the tolerance of the
         * "clip(a + s·x)" check above). */
        double worst = 0.0, s = b.contrast / c_in;
        for (int i = 0; i < P; i++) {
            double want = b.mean_luminance + (x[i] - b.mean_luminance) * s;
            worst = fmax(worst, fabs(want - y[i]));
        }
        CHECK(worst < 1e-5, "... by scaling about the mean (max error %.2g)", worst);
    }

    /* Contrast within the budget but the mean 1e-5 off (ten times the
     * tolerance): moved to the exact mean. */
    random_image(x, P, &rng, 0.45f, 0.05f);
    stimulus_constrain(x, P, &b);
    for (int i = 0; i < P; i++)
        x[i] += 1e-5f;
    stimulus_constrain(x, P, &b);
    CHECK(fabs(stimulus_mean(x, P) - b.mean_luminance) <= 1e-6,
          "a mean 1e-5 off, contrast within the budget: moved to the exact mean (off by %.2g)",
          fabs(stimulus_mean(x, P) - b.mean_luminance));

    /* Rendering at the budget reaches it exactly, up or down. */
    float low[P], high[P];
    random_image(low, P, &rng, 0.5f, 0.01f);
    random_image(high, P, &rng, 0.5f, 0.6f);
    stimulus_render_at_budget(low, P, &b);
    stimulus_render_at_budget(high, P, &b);
    CHECK_CLOSE(stimulus_rms_contrast(low, P), b.contrast, 1e-4, "low contrast raised to the budget");
    CHECK_CLOSE(stimulus_rms_contrast(high, P), b.contrast, 1e-4, "high contrast lowered to the budget");
    CHECK_CLOSE(stimulus_mean(high, P), b.mean_luminance, 1e-6, "rendered mean exact");

    float images[3 * P];
    for (int k = 0; k < 3; k++)
        random_image(images + k * P, P, &rng, 0.5f, 0.05f * (k + 1));
    float c1 = stimulus_rms_contrast(images + P, P);
    CHECK_CLOSE(stimulus_median_contrast(images, 3, P), c1, 1e-7, "median contrast of 3 images");
    float c2 = stimulus_rms_contrast(images + 2 * P, P), four[4 * P];
    memcpy(four, images, sizeof images);
    random_image(four + 3 * P, P, &rng, 0.5f, 0.5f); /* the highest contrast */
    CHECK_CLOSE(stimulus_median_contrast(four, 4, P), 0.5 * (c1 + c2), 1e-7,
                "median contrast of 4 images: the mean of the middle two");
}

/* ------------------------------------------------------------------------ */

static void test_blur(void)
{
    model_rng rng;
    model_rng_seed(&rng, 5);
    float x[P], y[P], bx[P], by[P], scratch[P];
    random_image(x, P, &rng, 0, 1);
    random_image(y, P, &rng, 0, 1);
    float sigma = 1.7f;
    stimulus_blur(x, bx, scratch, H, W, sigma);
    stimulus_blur(y, by, scratch, H, W, sigma);
    CHECK_CLOSE(dot(bx, y, P), dot(x, by, P), 1e-5, "blur is self-adjoint: <Bx,y> = <x,By>");
    /* Independent: a direct 2D sum with the same truncated, normalized kernel. */
    int r = (int)ceil(3.0 * sigma);
    double ksum = 0.0;
    for (int i = -r; i <= r; i++)
        ksum += exp(-0.5 * i * i / (sigma * sigma));
    double worst = 0.0;
    for (int yy = 0; yy < H; yy++)
        for (int xx = 0; xx < W; xx++) {
            double s = 0.0;
            for (int dy = -r; dy <= r; dy++)
                for (int dx = -r; dx <= r; dx++) {
                    int sy = yy + dy, sx = xx + dx;
                    if (sy < 0 || sy >= H || sx < 0 || sx >= W)
                        continue;
                    s += exp(-0.5 * (dx * dx + dy * dy) / (sigma * sigma)) / (ksum * ksum) *
                         x[sy * W + sx];
                }
            worst = fmax(worst, fabs(s - bx[yy * W + xx]));
        }
    CHECK(worst < 1e-5, "separable blur equals the direct 2D Gaussian sum (max error %.2g)", worst);
    /* Finite differences of J(x) = <w, Bx> against the gradient Bᵀw = Bw. */
    int fd_ok = 1;
    for (int k = 0; k < 5; k++) {
        int i = (int)(model_rng_next(&rng) % P);
        float xp[P], xm[P], bp[P], bm[P];
        memcpy(xp, x, sizeof x);
        memcpy(xm, x, sizeof x);
        xp[i] += 1e-2f;
        xm[i] -= 1e-2f;
        stimulus_blur(xp, bp, scratch, H, W, sigma);
        stimulus_blur(xm, bm, scratch, H, W, sigma);
        double fd = (dot(y, bp, P) - dot(y, bm, P)) / 2e-2;
        fd_ok &= fabs(fd - by[i]) < 1e-3 * fmax(1.0, fabs(by[i]));
    }
    CHECK(fd_ok, "blur gradient matches finite differences");
    stimulus_blur(x, bx, scratch, H, W, 0.0f);
    CHECK(!memcmp(x, bx, sizeof x), "sigma 0 copies");
}

/* ------------------------------------------------------------------------ */

static void test_fourier(void)
{
    char err[STIMULUS_ERR_SIZE];
    fourier_param *f;
    int ok = !fourier_param_create(&f, H, W, 2, NULL, err);
    CHECK(ok, "fourier parameterization created (%s)", ok ? "ok" : err);
    if (!ok)
        return;
    model_rng rng;
    model_rng_seed(&rng, 7);
    float p[P], x[P], w[P], gp[P], back[P], twice[P], pre[P];
    random_image(p, P, &rng, 0, 1);
    random_image(w, P, &rng, 0, 1);
    fourier_param_forward(f, 0, p, x);
    fourier_param_backward(f, 1, w, gp);
    /* FD of J(p) = <w, A p>. */
    double worst = 0.0;
    for (int k = 0; k < 8; k++) {
        int i = (int)(model_rng_next(&rng) % P);
        float pp[P], pm[P], xp[P], xm[P];
        memcpy(pp, p, sizeof p);
        memcpy(pm, p, sizeof p);
        pp[i] += 1e-2f;
        pm[i] -= 1e-2f;
        fourier_param_forward(f, 0, pp, xp);
        fourier_param_forward(f, 0, pm, xm);
        double fd = (dot(w, xp, P) - dot(w, xm, P)) / 2e-2;
        worst = fmax(worst, fabs(fd - gp[i]) / fmax(1.0, fabs(gp[i])));
    }
    CHECK(worst < 2e-3, "Fourier parameterization gradient matches finite differences (%.2g)", worst);
    fourier_param_inverse(f, 0, x, back);
    double err_inv = 0.0;
    for (int i = 0; i < P; i++)
        err_inv = fmax(err_inv, fabs(back[i] - p[i]));
    CHECK(err_inv < 1e-4, "inverse undoes forward (max error %.2g)", err_inv);
    fourier_param_forward(f, 0, w, twice);
    fourier_param_forward(f, 0, twice, twice);
    fourier_param_precondition(f, 1, w, pre);
    double err_pre = 0.0;
    for (int i = 0; i < P; i++)
        err_pre = fmax(err_pre, fabs(twice[i] - pre[i]));
    CHECK(err_pre < 1e-4, "precondition = A applied twice (max error %.2g)", err_pre);
    /* Independent: a naive DFT of A applied to a delta has amplitude S(f) ∝ 1/f. */
    float delta[P] = {0}, kernel[P];
    delta[0] = 1.0f;
    fourier_param_forward(f, 0, delta, kernel);
    double ratio[3];
    int freqs[3][2] = {{1, 2}, {3, 0}, {2, 7}};
    for (int q = 0; q < 3; q++) {
        double re = 0, im = 0;
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double ph = -2 * M_PI * ((double)freqs[q][0] * y / H + (double)freqs[q][1] * xx / W);
                re += kernel[y * W + xx] * cos(ph);
                im += kernel[y * W + xx] * sin(ph);
            }
        double fy = (double)freqs[q][0] / H, fx = (double)freqs[q][1] / W;
        ratio[q] = sqrt(re * re + im * im) * sqrt(fx * fx + fy * fy);
    }
    CHECK_CLOSE(ratio[0], ratio[1], 1e-4, "amplitude × frequency is constant (1/f): %.5f", ratio[0]);
    CHECK_CLOSE(ratio[0], ratio[2], 1e-4, "... at a third frequency: %.5f", ratio[2]);
    fourier_param_destroy(f);

    /* Wisdom cached in a file: made on the first run, reused after. */
    char dir[] = "/tmp/test_synthesis_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(path, sizeof path, "%s/wisdom", dir);
    ok = !fourier_param_create(&f, H, W, 1, path, err);
    size_t size = 0;
    unsigned char *bytes = read_file_bytes(path, &size);
    CHECK(ok && bytes && size > 10 && !memcmp(bytes, "(fftw", 5), "wisdom written to %s", path);
    free(bytes);
    fourier_param_destroy(f);
    fourier_param *g;
    ok = !fourier_param_create(&g, H, W, 1, path, err);
    float x2[P];
    if (ok) {
        fourier_param_forward(g, 0, p, x2);
        double d = 0;
        for (int i = 0; i < P; i++)
            d = fmax(d, fabs(x2[i] - x[i]));
        CHECK(d < 1e-4, "measured plans from cached wisdom compute the same transform");
    } else {
        CHECK(0, "second create from wisdom: %s", err);
    }
    fourier_param_destroy(g);
    remove_tree(dir);
}

/* ------------------------------------------------------------------------ */

static void test_objectives(void)
{
    enum { N = 6 };
    float r[N] = {1.0f, 2.5f, 0.3f, 4.0f, 1.2f, 0.7f}, w[N], wd[N], group_w[N] = {1, -0.5f, 0, 2, 0, 0.25f};
    mei_target targets[4] = {{MEI_SINGLE, 2, NULL}, {MEI_ONE_HOT_MEAN, 2, NULL},
                             {MEI_ONE_HOT_SOFTMAX, 2, NULL}, {MEI_GROUP, 0, group_w}};
    const char *names[4] = {"single", "one-hot mean", "one-hot softmax", "group"};
    for (int t = 0; t < 4; t++) {
        mei_objective_weights(&targets[t], r, N, 0.7f, w);
        double worst = 0.0;
        for (int k = 0; k < N; k++) {
            float rp[N], rm[N];
            memcpy(rp, r, sizeof r);
            memcpy(rm, r, sizeof r);
            rp[k] += 1e-3f;
            rm[k] -= 1e-3f;
            double fd = (mei_objective_weights(&targets[t], rp, N, 0.7f, wd) -
                         mei_objective_weights(&targets[t], rm, N, 0.7f, wd)) / 2e-3;
            worst = fmax(worst, fabs(fd - w[k]));
        }
        CHECK(worst < 2e-3, "%s objective: weights match finite differences (%.2g)", names[t], worst);
    }
    float J = mei_objective_weights(&targets[1], r, N, 1.0f, w);
    CHECK_CLOSE(J, 0.3 - (1.0 + 2.5 + 4.0 + 1.2 + 0.7) / 5, 1e-6, "one-hot mean value");
    J = mei_objective_weights(&targets[2], r, N, 1.0f, w);
    double lse = log(exp(1.0) + exp(2.5) + exp(4.0) + exp(1.2) + exp(0.7));
    CHECK_CLOSE(J, 0.3 - lse, 1e-5, "one-hot softmax value");
}

/* ------------------------------------------------------------------------ */

static model *small_model_of(int neurons)
{
    model_config c;
    model_config_default(&c);
    c.height = H;
    c.width = W;
    c.neurons = neurons;
    c.layers = 2;
    c.channels = 6;
    c.kernel[0] = 5;
    c.kernel[1] = 3;
    c.seed = 11;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    model_set_standardization(m, 0.5f, 0.2f);
    return m;
}

static model *small_model(void) { return small_model_of(12); }

/* Median of n floats (sorted in place). */
static float median_of(float *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
            float t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

static void test_synthesis(void)
{
    model *m = small_model();
    CHECK(m != NULL, "small random model");
    if (!m)
        return;
    char err[STIMULUS_ERR_SIZE];
    mei_options o;
    mei_options_default(&o);
    o.steps = 60;
    o.starts = 2;
    o.jitter = 1;
    o.blur_sigma = 1.5f;
    o.blur_sigma_end = 0.5f;
    o.budget = (stimulus_budget){0.5f, 0.15f};
    o.seed = 9;
    enum { T = 4 };
    float group_w[12] = {0};
    group_w[1] = 1.0f;
    group_w[4] = 0.5f;
    mei_target t[T] = {{MEI_SINGLE, 3, NULL}, {MEI_ONE_HOT_MEAN, 7, NULL},
                       {MEI_ONE_HOT_SOFTMAX, 0, NULL}, {MEI_GROUP, 100, group_w}};
    float batch[T * P], alone[T * P], again[T * P];
    mei_result rb[T], ra[T], rr[T];
    int ok = !mei_synthesize(m, t, T, &o, batch, rb, err);
    CHECK(ok, "synthesize 4 targets × 2 starts as one batch (%s)", ok ? "ok" : err);
    if (!ok) {
        model_destroy(m);
        return;
    }
    int alone_ok = 1;
    for (int k = 0; k < T; k++)
        alone_ok &= !mei_synthesize(m, &t[k], 1, &o, alone + k * P, &ra[k], err);
    double diff = 0.0;
    for (int i = 0; i < T * P; i++)
        diff = fmax(diff, fabs(batch[i] - alone[i]));
    /* Not bit for bit: the model's sums are blocked by batch size, so an
     * image's rates differ in the last bits with its batch (~1e-7). */
    CHECK(alone_ok && diff < 1e-4, "batched and one-by-one synthesis agree (max pixel difference %.2g)", diff);
    ok = !mei_synthesize(m, t, T, &o, again, rr, err);
    /* Bit for bit: the same call again, the same shapes and thread count. */
    CHECK(ok && !memcmp(batch, again, sizeof batch), "same seed, same MEIs (bit for bit)");
    int space_ok = 1;
    for (int k = 0; k < T; k++) {
        const float *x = batch + k * P;
        space_ok &= fabs(stimulus_mean(x, P) - 0.5) <= 1e-6 && stimulus_rms_contrast(x, P) <= 0.15f;
        for (int i = 0; i < P; i++)
            space_ok &= x[i] >= 0.0f && x[i] <= 1.0f;
    }
    CHECK(space_ok, "every MEI is in the stimulus space");
    CHECK(rb[0].steps == 60 && rb[0].best_start >= 0 && rb[0].best_start < 2 &&
          rb[0].seed == mei_start_seed(9, 3, rb[0].best_start), "result records steps, start and seed");
    CHECK(rb[0].start_agreement > -1.0f && rb[0].start_agreement <= 1.0f,
          "start agreement is a correlation (%.3f)", rb[0].start_agreement);

    /* The MEI beats random natural-like images and Gabors at the same budget. */
    enum { R = 64 };
    float *natural = malloc(sizeof(float) * R * P), rates[R * 12], mei_rate[12];
    sim_natural_images(natural, R, H, W, 4);
    for (int k = 0; k < R; k++)
        stimulus_render_at_budget(natural + k * P, P, &o.budget);
    model_predict(m, natural, R, rates, err);
    model_predict(m, batch, 1, mei_rate, err);
    float best_natural = 0;
    for (int k = 0; k < R; k++)
        best_natural = fmaxf(best_natural, rates[k * 12 + 3]);
    CHECK(mei_rate[3] > best_natural, "MEI response %.3f beats the best of %d natural images %.3f",
          mei_rate[3], R, best_natural);
    /* The synthesis predicts its 8 final images in one batch, this line the
     * first one alone: another sgemm shape, so the last bits may differ
     * (~1e-7 of a rate near 2, as the batched synthesis above notes); 1e-5
     * is two orders above that and far below any real disagreement. */
    CHECK_CLOSE(rb[0].response, mei_rate[3], 1e-5, "reported response is the model's prediction");

    /* Fourier space and early stopping. */
    o.space = MEI_SPACE_FOURIER;
    o.starts = 1;
    o.jitter = 0;
    o.steps = 400;
    o.patience = 10;
    o.tolerance = 1e-2f;
    mei_result rf;
    ok = !mei_synthesize(m, &t[0], 1, &o, again, &rf, err);
    CHECK(ok && rf.response > best_natural, "Fourier-space MEI %.3f beats natural %.3f",
          rf.response, best_natural);
    CHECK(ok && rf.steps < 400, "stops when the response stops improving (%d steps)", rf.steps);

    /* Controls. */
    int neurons[2] = {3, 7}, bp[2], br[2];
    float resp[R * 12];
    for (int k = 0; k < R * 12; k++)
        resp[k] = (float)((k * 7919) % 101);
    ok = !control_best_natural(m, natural, R, resp, neurons, 2, NULL, bp, br, err);
    int argmax = 0;
    for (int k = 1; k < R; k++)
        if (rates[k * 12 + 3] > rates[argmax * 12 + 3])
            argmax = k;
    int rec = 0;
    for (int k = 1; k < R; k++)
        if (resp[k * 12 + 3] > resp[rec * 12 + 3])
            rec = k;
    /* Exact: the controls predict the R images in one model_predict call of
     * the same batch as `rates` above (R < their chunk), the same path. */
    CHECK(ok && bp[0] == argmax && br[0] == rec, "best natural by prediction (%d) and recording (%d)",
          bp[0], br[0]);
    int none[2] = {-7, -7};
    CHECK(control_best_natural(m, natural, 0, resp, neurons, 2, NULL, bp, none, err) != 0 &&
              strstr(err, "no natural images"),
          "no natural images: refused, no index -1 handed back as a choice: %s", err);
    float nan_resp[R * 12];
    for (int k = 0; k < R * 12; k++)
        nan_resp[k] = NAN;
    CHECK(control_best_natural(m, natural, R, nan_resp, neurons, 2, NULL, bp, br, err) != 0 &&
              strstr(err, "neuron 3 has no finite recorded response"),
          "recorded responses all NaN: refused naming the neuron: %s", err);
    {
        /* The control at the budget (issue 15): two images whose ranking
         * flips with their contrast. `low` is the budget's best natural
         * image for neuron 3 at a twentieth of its contrast (nearly gray,
         * weak as it is); `high` the budget's runner-up at twice its
         * contrast. At their own contrasts `high` wins, at the budget (where
         * both are shown) `low`'s image does: the choice must be `low`. */
        int second = argmax == 0 ? 1 : 0;
        for (int k = 0; k < R; k++)
            if (k != argmax && rates[k * 12 + 3] > rates[second * 12 + 3])
                second = k;
        float pair[2 * P], pair_rates[2 * 12], shown[2 * P], shown_rates[2 * 12];
        for (int i = 0; i < P; i++) {
            pair[i] = 0.5f + 0.05f * (natural[argmax * P + i] - 0.5f);
            pair[P + i] = 0.5f + 2.0f * (natural[second * P + i] - 0.5f);
        }
        memcpy(shown, pair, sizeof shown);
        stimulus_render_at_budget(shown, P, &o.budget);
        stimulus_render_at_budget(shown + P, P, &o.budget);
        model_predict(m, pair, 2, pair_rates, err);
        model_predict(m, shown, 2, shown_rates, err);
        int own = pair_rates[12 + 3] > pair_rates[3], at_budget = shown_rates[12 + 3] > shown_rates[3];
        CHECK(own == 1 && at_budget == 0,
              "the case is constructed: own contrast %.3f < %.3f, at the budget %.3f > %.3f",
              pair_rates[3], pair_rates[12 + 3], shown_rates[3], shown_rates[12 + 3]);
        int pick_own[1], pick_budget[1], unused[1], target[1] = {3};
        ok = !control_best_natural(m, pair, 2, NULL, target, 1, NULL, pick_own, unused, err) &&
             !control_best_natural(m, pair, 2, NULL, target, 1, &o.budget, pick_budget, unused,
                                   err);
        CHECK(ok && pick_own[0] == 1 && pick_budget[0] == 0,
              "best natural at the budget is the budget's best (%d), not the own-contrast "
              "choice (%d)", pick_budget[0], pick_own[0]);
    }
    gabor_params gp[2];
    float gabors[2 * P], gabor_rates[2 * 12];
    ok = !control_matched_gabor(m, neurons, 2, &o.budget, 1, gp, gabors, err);
    model_predict(m, gabors, 2, gabor_rates, err);
    float random_best = 0;
    model_rng rng;
    model_rng_seed(&rng, 2);
    for (int k = 0; k < 32; k++) {
        gabor_params g = {(float)(W * model_rng_uniform(&rng)), (float)(H * model_rng_uniform(&rng)),
                          (float)(M_PI * model_rng_uniform(&rng)), 0.05f + 0.15f * (float)model_rng_uniform(&rng),
                          (float)(2 * M_PI * model_rng_uniform(&rng)), 2.0f + 4.0f * (float)model_rng_uniform(&rng)};
        float img[P], r12[12];
        gabor_render(&g, H, W, &o.budget, img);
        model_predict(m, img, 1, r12, err);
        random_best = fmaxf(random_best, r12[3]);
    }
    CHECK(ok && gabor_rates[3] >= random_best, "matched Gabor %.3f beats 32 random Gabors %.3f",
          gabor_rates[3], random_best);
    CHECK_CLOSE(stimulus_rms_contrast(gabors, P), 0.15, 1e-4, "Gabor at the budget");
    /* The bank is screened by translation (the centre position's Gabors
     * through the core, the others read by moving the readout) and only each
     * neuron's 32 best are predicted as shown, yet on this small image, where
     * most Gabors touch the border and the reading is only an estimate, the
     * match must still beat every Gabor of the coarse bank shown as it is:
     * written here from its definition (a 6-pixel grid from 2.5, 8
     * orientations, frequencies 0.05/0.09/0.16, envelopes of 0.4/0.7 periods,
     * 4 phases) and predicted exhaustively, 2,304 images. */
    {
        static const float freq[3] = {0.05f, 0.09f, 0.16f}, cycles[2] = {0.4f, 0.7f};
        enum { BANK = 3 * 4 * 8 * 3 * 2 * 4, ALL = 12 };
        float *bank = malloc((size_t)BANK * P * sizeof(float));
        float *bank_rates = malloc((size_t)BANK * 12 * sizeof(float));
        int k = 0;
        for (int iy = 0; iy < 3; iy++)
            for (int ix = 0; ix < 4; ix++)
                for (int or = 0; or < 8; or++)
                    for (int f = 0; f < 3; f++)
                        for (int c = 0; c < 2; c++)
                            for (int ph = 0; ph < 4; ph++, k++) {
                                gabor_params g = {6.0f * ix + 2.5f, 6.0f * iy + 2.5f,
                                                  (float)(M_PI * or / 8), freq[f],
                                                  (float)(M_PI * ph / 2), cycles[c] / freq[f]};
                                gabor_render(&g, H, W, &o.budget, bank + (size_t)k * P);
                            }
        int all[ALL];
        for (int j = 0; j < ALL; j++)
            all[j] = j;
        gabor_params matched[ALL];
        float *matched_images = malloc((size_t)ALL * P * sizeof(float)), matched_rates[ALL * 12];
        ok = bank && bank_rates && matched_images && k == BANK &&
             !model_predict(m, bank, BANK, bank_rates, err) &&
             !control_matched_gabor(m, all, ALL, &o.budget, 1, matched, matched_images, err) &&
             !model_predict(m, matched_images, ALL, matched_rates, err);
        int beats = 0;
        float worst = INFINITY;
        for (int j = 0; ok && j < ALL; j++) {
            float top = -INFINITY;
            for (int i = 0; i < BANK; i++)
                top = fmaxf(top, bank_rates[i * 12 + j]);
            /* The same image through the same pass sizes' sgemm may round
             * apart by 1e-5 of the rate (test_network's evaluation check). */
            beats += matched_rates[j * 12 + j] >= top - 1e-5f * (1.0f + fabsf(top));
            worst = fminf(worst, matched_rates[j * 12 + j] / top);
        }
        CHECK(ok && beats == ALL, "the screened match beats the whole bank shown for %d of %d "
              "neurons (lowest match / bank best %.4f)", beats, ALL, worst);
        /* The least exciting Gabor: the same search downhill, below every
         * Gabor of the bank. */
        model *one[1] = {m};
        ok = ok && !control_least_gabor_ensemble(one, 1, all, ALL, &o.budget, 1, matched,
                                                 matched_images, err) &&
             !model_predict(m, matched_images, ALL, matched_rates, err);
        int below = 0;
        float highest = -INFINITY;
        for (int j = 0; ok && j < ALL; j++) {
            float low = INFINITY;
            for (int i = 0; i < BANK; i++)
                low = fminf(low, bank_rates[i * 12 + j]);
            below += matched_rates[j * 12 + j] <= low + 1e-5f * (1.0f + fabsf(low));
            highest = fmaxf(highest, matched_rates[j * 12 + j] / low);
        }
        CHECK(ok && below == ALL, "the least exciting Gabor is below the whole bank for %d of %d "
              "neurons (highest least / bank lowest %.4f)", below, ALL, highest);
        CHECK_CLOSE(stimulus_rms_contrast(matched_images, P), 0.15, 1e-4,
                    "the least exciting Gabor at the budget");
        free(bank);
        free(bank_rates);
        free(matched_images);
    }
    float rfmaps[2 * P];
    ok = !control_rf_map(m, neurons, 2, &o.budget, rfmaps, err);
    CHECK(ok && fabs(stimulus_rms_contrast(rfmaps + P, P) - 0.15) < 1e-4 &&
          fabs(stimulus_mean(rfmaps + P, P) - 0.5) < 1e-6, "RF map rendered at the budget");
    free(natural);
    model_destroy(m);
}

/* ------------------------------------------------------------------------ */

/* Single-neuron and group objectives take the model's receptive-field path
 * (model_input_gradient_objective); a batch that holds a one-hot target takes
 * the full-map path for every image. The same target's MEI both ways must
 * agree up to float rounding. */
/* mei_options.init_images: a target's start 0 begins at its given image
 * (after 0 steps the MEI is that image, in the space), and the ascent from
 * it climbs. */
static void test_init_images(void)
{
    model *m = small_model();
    CHECK(m != NULL, "small random model");
    if (!m)
        return;
    char err[STIMULUS_ERR_SIZE];
    mei_options o;
    mei_options_default(&o);
    o.budget = (stimulus_budget){0.5f, 0.15f};
    o.seed = 4;
    mei_target t[2] = {{MEI_SINGLE, 3, NULL}, {MEI_SINGLE, 5, NULL}};
    float init[2 * P], out[2 * P], grown[2 * P];
    sim_natural_images(init, 2, H, W, 31);
    for (int k = 0; k < 2; k++)
        stimulus_render_at_budget(init + k * P, P, &o.budget);
    mei_result r[2], rg[2];
    o.steps = 0;
    o.init_images = init;
    int ok = !mei_synthesize(m, t, 2, &o, out, r, err);
    /* rendered at the budget, so constrain leaves them as they are, up to
     * the float rounding of its mean and scale (1e-6 of a unit range) */
    double diff = 0.0;
    for (int i = 0; ok && i < 2 * P; i++)
        diff = fmax(diff, fabs(out[i] - init[i]));
    CHECK(ok && diff < 1e-5, "0 steps from given images: the MEIs are those images (max pixel "
          "difference %.2g)", diff);
    o.steps = 100;
    float start_rate[12 * 2];
    ok = !mei_synthesize(m, t, 2, &o, grown, rg, err) &&
         !model_predict(m, init, 2, start_rate, err);
    CHECK(ok && rg[0].response > start_rate[3] && rg[1].response > start_rate[12 + 5],
          "100 steps from the given images climb above them (%.3f > %.3f, %.3f > %.3f)",
          rg[0].response, start_rate[3], rg[1].response, start_rate[12 + 5]);
    model_destroy(m);
}

static void test_receptive_field_path(void)
{
    model *m = small_model();
    if (!m)
        return;
    char err[STIMULUS_ERR_SIZE];
    mei_options o;
    mei_options_default(&o);
    o.steps = 15;
    o.starts = 1;
    o.jitter = 1;
    o.budget = (stimulus_budget){0.5f, 0.15f};
    o.seed = 4;
    float group_w[12] = {0};
    group_w[2] = 1.0f;
    group_w[6] = -0.5f;
    float one_hot_w[12] = {0};
    one_hot_w[5] = 1.0f;
    CHECK(model_input_gradient_uses_windows(m, one_hot_w, 1) &&
              model_input_gradient_uses_windows(m, group_w, 1),
          "single-neuron and group weights take the receptive-field path");
    mei_target single[2] = {{MEI_SINGLE, 5, NULL}, {MEI_ONE_HOT_MEAN, 1, NULL}};
    mei_target group[2] = {{MEI_GROUP, 0, group_w}, {MEI_ONE_HOT_MEAN, 1, NULL}};
    mei_target *cases[2] = {single, group};
    const char *names[2] = {"single neuron", "weighted group"};
    for (int k = 0; k < 2; k++) {
        float window[2 * P], full[2 * P];
        mei_result rw[2], rf[2];
        int ok = !mei_synthesize(m, cases[k], 1, &o, window, rw, err) &&
                 !mei_synthesize(m, cases[k], 2, &o, full, rf, err);
        /* The two paths sum the same gradient in other orders (they agree to
         * ~1e-7 of it, as test_receptive_field checks). A step moves a pixel
         * by the step size (0.01) times its gradient over the mean magnitude,
         * so such a difference moves the images apart by well under 1e-7 a
         * step, and the budget's projection (a mean shift and a scale) does
         * not enlarge it: after 15 steps 1e-5 is a wide margin, not a fit. */
        double diff = 0.0;
        for (int i = 0; ok && i < P; i++)
            diff = fmax(diff, fabs(window[i] - full[i]));
        CHECK(ok && diff < 1e-5 && fabsf(rw[0].response - rf[0].response) < 1e-5f,
              "%s: MEI from the receptive-field path equals the full path's after %d steps "
              "(max pixel difference %.2g)", names[k], o.steps, diff);
    }
    model_destroy(m);
}

/* Least exciting inputs (mei_options.least): descent on the rate, every
 * image at exactly the budget's contrast, below every natural image the
 * model sees at that budget; the least natural control by hand. */
static void test_least(void)
{
    model *m = small_model();
    if (!m)
        return;
    char err[STIMULUS_ERR_SIZE];
    mei_options o;
    mei_options_default(&o);
    o.steps = 200;
    o.starts = 2;
    o.budget = (stimulus_budget){0.5f, 0.15f};
    o.seed = 6;
    enum { T = 3, R = 64, N = 12 };
    mei_target t[T] = {{MEI_SINGLE, 3, NULL}, {MEI_SINGLE, 7, NULL}, {MEI_SINGLE, 10, NULL}};
    float least[T * P], mei[T * P], again[T * P], rates[R * N], lr[T * N];
    mei_result rl[T], rm[T], ra[T];
    int ok = !mei_synthesize(m, t, T, &o, mei, rm, err);
    o.least = 1;
    ok = ok && !mei_synthesize(m, t, T, &o, least, rl, err);
    CHECK(ok, "least exciting inputs synthesized (%s)", ok ? "ok" : err);
    if (!ok) {
        model_destroy(m);
        return;
    }
    ok = !mei_synthesize(m, t, T, &o, again, ra, err);
    CHECK(ok && !memcmp(least, again, sizeof least), "same seed, same least exciting inputs");
    int space_ok = 1;
    for (int k = 0; k < T; k++) {
        const float *x = least + k * P;
        /* 1e-4: the budget rendering's bisection stops within 1e-7 of the
         * scale, far below this. */
        space_ok &= fabs(stimulus_mean(x, P) - 0.5) <= 1e-6 &&
                    fabs(stimulus_rms_contrast(x, P) - 0.15) <= 1e-4;
        for (int i = 0; i < P; i++)
            space_ok &= x[i] >= 0.0f && x[i] <= 1.0f;
    }
    CHECK(space_ok, "every least exciting input at the budget's mean and exactly its contrast");
    float *natural = malloc(sizeof(float) * R * P);
    sim_natural_images(natural, R, H, W, 4);
    float *rendered = malloc(sizeof(float) * R * P);
    memcpy(rendered, natural, sizeof(float) * R * P);
    for (int k = 0; k < R; k++)
        stimulus_render_at_budget(rendered + k * P, P, &o.budget);
    model_predict(m, rendered, R, rates, err);
    model_predict(m, least, T, lr, err);
    int below = 1, lowest_idx[T];
    for (int j = 0; j < T; j++) {
        int n = t[j].neuron;
        lowest_idx[j] = 0;
        for (int k = 1; k < R; k++)
            if (rates[k * N + n] < rates[lowest_idx[j] * N + n])
                lowest_idx[j] = k;
        float lowest = rates[lowest_idx[j] * N + n];
        printf("# neuron %d: least %.4f, lowest natural %.4f, MEI %.4f\n", n, lr[j * N + n],
               lowest, rm[j].response);
        below &= lr[j * N + n] < lowest && lr[j * N + n] < rm[j].response;
        /* The same prediction up to the batch's rounding (~1e-7 relative). */
        below &= fabsf(rl[j].response - lr[j * N + n]) <= 1e-5f * fmaxf(1.0f, lr[j * N + n]) &&
                 rl[j].objective == rl[j].response;
    }
    CHECK(below, "least exciting inputs predicted below every natural image at the budget and "
                 "below the MEI; the result's response and objective are the prediction");
    int neurons[T] = {3, 7, 10}, chosen[T];
    model *models[1] = {m};
    ok = !control_least_natural_ensemble(models, 1, natural, R, neurons, T, &o.budget, chosen,
                                         err);
    CHECK(ok && chosen[0] == lowest_idx[0] && chosen[1] == lowest_idx[1] &&
              chosen[2] == lowest_idx[2],
          "least natural control: the image predicted lowest at the budget (%d %d %d)",
          chosen[0], chosen[1], chosen[2]);
    CHECK(control_least_natural_ensemble(models, 1, natural, 0, neurons, T, &o.budget, chosen,
                                         err) != 0,
          "no images to choose from: refused (%s)", err);
    free(natural);
    free(rendered);
    model_destroy(m);
}

/* The diversity term: its gradient by finite differences, and a diverse
 * set against plain random starts on the small model. */
static void test_diverse(void)
{
    enum { S = 4, N = 12 };
    model_rng rng;
    model_rng_seed(&rng, 12);
    float set[S * P], grad[S * P], plus[S * P], minus[S * P];
    random_image(set, S * P, &rng, 0.5f, 0.1f);
    for (int i = 0; i < P; i++) /* correlated images: a shared part */
        for (int k = 1; k < S; k++)
            set[k * P + i] += 0.7f * (set[i] - 0.5f);
    float D = mei_set_correlation(set, S, P, grad);
    double by_hand = 0.0;
    for (int i = 0; i < S; i++)
        for (int k = i + 1; k < S; k++) {
            double mi = stimulus_mean(set + i * P, P), mk = stimulus_mean(set + k * P, P);
            double sik = 0, sii = 0, skk = 0;
            for (int q = 0; q < P; q++) {
                sik += (set[i * P + q] - mi) * (set[k * P + q] - mk);
                sii += (set[i * P + q] - mi) * (set[i * P + q] - mi);
                skk += (set[k * P + q] - mk) * (set[k * P + q] - mk);
            }
            by_hand += sik / sqrt(sii * skk);
        }
    by_hand /= S * (S - 1) / 2;
    CHECK_CLOSE(D, by_hand, 1e-5, "set correlation is the mean pairwise Pearson correlation (%.4f)",
                D);
    double worst = 0.0, h = 1e-3;
    for (int t = 0; t < 12; t++) {
        int k = (int)(model_rng_next(&rng) % (S * P));
        memcpy(plus, set, sizeof set);
        memcpy(minus, set, sizeof set);
        plus[k] += (float)h;
        minus[k] -= (float)h;
        float scratch[S * P];
        double fd = (mei_set_correlation(plus, S, P, scratch) -
                     mei_set_correlation(minus, S, P, scratch)) / (2 * h);
        worst = fmax(worst, fabs(fd - grad[k]) / fmax(1e-3, fabs(grad[k])));
    }
    /* float sums of 384 terms differenced at h = 1e-3: ~1e-4 relative noise */
    CHECK(worst < 2e-2, "set correlation gradient matches finite differences (worst %.2g)", worst);

    model *m = small_model();
    if (!m)
        return;
    char err[STIMULUS_ERR_SIZE];
    mei_options o;
    mei_options_default(&o);
    o.steps = 200;
    o.starts = S;
    o.budget = (stimulus_budget){0.5f, 0.15f};
    o.seed = 3;
    mei_target t = {MEI_SINGLE, 3, NULL};
    float best[P], diverse[S * P], rates[S * N];
    mei_result plain, rd[S];
    int ok = !mei_synthesize(m, &t, 1, &o, best, &plain, err) &&
             !mei_synthesize_diverse(m, &t, 1, &o, diverse, rd, err);
    CHECK(ok, "a diverse set of %d and %d plain starts (%s)", S, S, ok ? "ok" : err);
    if (!ok) {
        model_destroy(m);
        return;
    }
    model_predict(m, diverse, S, rates, err);
    float lowest = INFINITY;
    int space_ok = 1, results_ok = 1;
    for (int k = 0; k < S; k++) {
        lowest = fminf(lowest, rates[k * N + 3]);
        space_ok &= fabs(stimulus_mean(diverse + k * P, P) - 0.5) <= 1e-6 &&
                    stimulus_rms_contrast(diverse + k * P, P) <= 0.15f;
        results_ok &= fabsf(rd[k].response - rates[k * N + 3]) <= 1e-5f * rates[k * N + 3] &&
                      rd[k].best_start == k && rd[k].seed == mei_start_seed(3, 3, k);
    }
    float D_plain = plain.start_agreement, D_diverse = rd[0].start_agreement;
    printf("# diverse: lowest response %.4f of the MEI's %.4f (%.3f); set correlation %.3f, "
           "plain starts %.3f\n", lowest, plain.response, lowest / plain.response, D_diverse,
           D_plain);
    CHECK(space_ok && results_ok, "every image of the set in the space, each with its result");
    CHECK(lowest >= 0.8f * plain.response,
          "every diverse image drives the neuron >= 0.8 of the MEI (lowest %.3f of it)",
          lowest / plain.response);
    CHECK(D_diverse < D_plain - 0.2f, "the set correlates %.3f, plain starts %.3f", D_diverse,
          D_plain);
    o.patience = 5;
    CHECK(mei_synthesize_diverse(m, &t, 1, &o, diverse, rd, err) != 0,
          "diverse with patience refused: %s", err);
    model_destroy(m);
}

/* Diverse MEIs against the simulated population's ground truth: a small
 * model fitted here to simple and complex cells, each neuron's MEI (best of
 * 4 starts) and a diverse set of 4 shown to the cells themselves. */
static void test_diverse_truth(void)
{
    enum { S = 4, T = 6, TRAIN = 1500, VAL = 200 };
    sim_config c;
    sim_config_default(&c);
    c.fraction_simple = 0.5f;
    c.fraction_complex = 0.5f;
    c.neurons = 10;
    c.height = H;
    c.width = W;
    c.seed = 13;
    char err[STIMULUS_ERR_SIZE];
    sim_population *pop;
    dataset d;
    if (sim_population_create(&pop, &c, err) || dataset_alloc(&d, TRAIN + VAL, H, W, c.neurons)) {
        CHECK(0, "population and dataset: %s", err);
        return;
    }
    model_rng rng;
    model_rng_seed(&rng, 14);
    sim_natural_images(d.images, TRAIN + VAL, H, W, 15);
    sim_population_sample(pop, d.images, TRAIN + VAL, &rng, d.responses);
    for (int i = 0; i < TRAIN + VAL; i++) {
        d.tiers[i] = i < TRAIN ? TIER_TRAIN : TIER_VALIDATION;
        d.image_ids[i] = i;
    }
    model *m = small_model_of(c.neurons);
    fit_options fo;
    fit_options_default(&fo);
    fo.max_epochs = 10;
    fo.threads = 2;
    fit_report report;
    int ok = m && !model_fit(m, &d, &fo, &report, err);
    CHECK(ok, "model fitted to the simulated cells (validation correlation %.3f)",
          ok ? report.best_validation_corr : 0.0);
    if (!ok) {
        model_destroy(m);
        dataset_free(&d);
        sim_population_destroy(pop);
        return;
    }
    mei_options o;
    mei_options_default(&o);
    o.steps = 300;
    o.starts = S;
    o.budget = (stimulus_budget){0.5f, stimulus_median_contrast(d.images, TRAIN, P)};
    float mei[P], set[S * P], rates[S * 10], ratio[T], d_set[T], d_starts[T];
    int held = 0;
    for (int j = 0; j < T; j++) {
        mei_target t = {MEI_SINGLE, j, NULL};
        mei_result plain, rd[S];
        if (mei_synthesize(m, &t, 1, &o, mei, &plain, err) ||
            mei_synthesize_diverse(m, &t, 1, &o, set, rd, err)) {
            CHECK(0, "synthesis: %s", err);
            break;
        }
        sim_population_rates(pop, mei, 1, rates);
        float true_mei = rates[j], lowest = INFINITY;
        sim_population_rates(pop, set, S, rates);
        for (int k = 0; k < S; k++)
            lowest = fminf(lowest, rates[k * 10 + j]);
        ratio[j] = lowest / true_mei;
        d_set[j] = rd[0].start_agreement;
        d_starts[j] = plain.start_agreement;
        held += ratio[j] >= 0.8f;
        printf("# neuron %d (%s): true MEI %.3f, the set's lowest %.3f (%.3f of it); set "
               "correlation %.3f, %d plain starts %.3f\n", j,
               sim_cell_type_name(sim_population_cell(pop, j)->type), true_mei, lowest, ratio[j],
               d_set[j], S, d_starts[j]);
    }
    float med_set = median_of(d_set, T), med_starts = median_of(d_starts, T);
    CHECK(held >= T - 1, "%d of %d diverse sets: every image's true response >= 0.8 of the MEI's",
          held, T);
    CHECK(med_set < med_starts - 0.3f, "median set correlation %.3f, of %d plain starts %.3f",
          med_set, S, med_starts);
    model_destroy(m);
    dataset_free(&d);
    sim_population_destroy(pop);
}

/* The masked MEI's objective: its gradient in (x, y, log radius) against
 * central finite differences of the objective itself. */
static void test_mask_gradient(void)
{
    model *m = small_model();
    char err[STIMULUS_ERR_SIZE];
    float mei[P];
    model_rng rng;
    model_rng_seed(&rng, 21);
    for (int i = 0; i < P; i++)
        mei[i] = 0.5f + 0.15f * (float)model_rng_normal(&rng);
    stimulus_budget b = {0.5f, 0.15f};
    stimulus_constrain(mei, P, &b);
    mei_mask k = {11.3f, 7.6f, 4.2f};
    float value;
    double g[3];
    int ok = m && !mei_mask_objective(m, 3, mei, &b, 0.3f, 1.0f, &k, &value, g, err);
    CHECK(ok, "mask objective: %s", ok ? "evaluated" : err);
    double worst = 0.0;
    for (int i = 0; ok && i < 3; i++) {
        /* h: the objective is float (the model runs in float, ~1e-7
         * relative); central differences at h = 1e-2 err by O(h²) ≈ 1e-4 of
         * the curvature, and the rounding by 1e-7/h ≈ 1e-5. */
        const double h = 1e-2;
        mei_mask kp = k, km = k;
        float *fp = i == 0 ? &kp.x : i == 1 ? &kp.y : &kp.radius;
        float *fm = i == 0 ? &km.x : i == 1 ? &km.y : &km.radius;
        if (i == 2) {
            *fp = (float)(k.radius * exp(h));
            *fm = (float)(k.radius * exp(-h));
        } else {
            *fp += (float)h;
            *fm -= (float)h;
        }
        float vp = 0.0f, vm = 0.0f; /* read only if both evaluations succeed */
        double gp[3], gm[3];
        ok = !mei_mask_objective(m, 3, mei, &b, 0.3f, 1.0f, &kp, &vp, gp, err) &&
             !mei_mask_objective(m, 3, mei, &b, 0.3f, 1.0f, &km, &vm, gm, err);
        if (!ok)
            break;
        double fd = ((double)vp - vm) / (2.0 * h);
        worst = fmax(worst, fabs(fd - g[i]) / fmax(fabs(g[i]), 1e-3));
        printf("# d/d%s: analytic %.6g, finite differences %.6g\n",
               i == 0 ? "x" : i == 1 ? "y" : "log radius", g[i], fd);
    }
    /* 2% relative: the float model's rounding over h and the O(h²) term. */
    CHECK(ok && worst < 2e-2, "mask gradient matches finite differences (worst relative %.2g)",
          worst);
    model_destroy(m);
}

/* Masked and surround MEIs against the simulated cells' truth: a model
 * fitted to simple and surround-suppressed cells. */
/* The pattern similarity: the Pearson correlation of the group's rates with
 * the target (computed here from its textbook definition, in double), and
 * its gradient against central differences of that definition. */
static double pearson(const double *a, const double *b, int k)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < k; i++)
        ma += a[i] / k, mb += b[i] / k;
    for (int i = 0; i < k; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

static void test_pattern_similarity(void)
{
    enum { NN = 9, K = 5 };
    const int group[K] = {7, 1, 4, 0, 8};
    const float target[K] = {1.0f, 0.2f, 0.0f, 0.7f, 0.4f};
    float rates[NN] = {0.3f, 2.0f, 0.1f, 9.0f, 1.1f, 4.0f, 0.5f, 3.3f, 0.9f}, grad[NN] = {0};
    double r[K], t[K];
    for (int i = 0; i < K; i++)
        r[i] = rates[group[i]], t[i] = target[i];
    float c = pattern_similarity(rates, group, K, target, grad);
    CHECK(fabs(c - pearson(r, t, K)) < 1e-6, "pattern similarity %.7f is the Pearson correlation "
          "%.7f", c, pearson(r, t, K));
    double worst = 0;
    for (int i = 0; i < K; i++) {
        /* Central differences of the double formula at h = 1e-4: error
         * O(h²) ≈ 1e-8 relative; the float gradient holds ~1e-7. */
        const double h = 1e-4;
        double rp[K], rm[K];
        memcpy(rp, r, sizeof r), memcpy(rm, r, sizeof r);
        rp[i] += h, rm[i] -= h;
        double fd = (pearson(rp, t, K) - pearson(rm, t, K)) / (2 * h);
        worst = fmax(worst, fabs(fd - grad[group[i]]) / fmax(fabs(fd), 1e-3));
    }
    int outside = 0;
    for (int n = 0; n < NN; n++)
        outside += (n == 2 || n == 3 || n == 5 || n == 6) && grad[n] != 0.0f;
    CHECK(worst < 1e-4 && !outside, "pattern similarity gradient: worst relative error %.2g "
          "against finite differences; none outside the group", worst);
    const float flat[K] = {1, 1, 1, 1, 1};
    CHECK(isnan(pattern_similarity(rates, group, K, flat, NULL)), "a flat target is refused (NaN)");
    /* The centring both the similarity and the report use, by hand: 1 2 3 6
     * has mean 3, centred -2 -1 0 3 of norm √14 (in place). 1e-15: a few
     * double roundings of values near 1. */
    double v[4] = {1, 2, 3, 6}, flat4[4] = {2, 2, 2, 2}, worst_unit = 0;
    double norm = pattern_centre_normalize(v, 4, v);
    const double centred[4] = {-2, -1, 0, 3};
    for (int i = 0; i < 4; i++)
        worst_unit = fmax(worst_unit, fabs(v[i] - centred[i] / sqrt(14.0)));
    CHECK(fabs(norm - sqrt(14.0)) < 1e-15 && worst_unit < 1e-15,
          "centre and normalize: norm %.17g (√14), worst error %.2g", norm, worst_unit);
    norm = pattern_centre_normalize(flat4, 4, v);
    CHECK(norm == 0.0 && v[0] == 0.0 && v[3] == 0.0, "a flat pattern: norm 0, centred to 0");
    flat4[1] = INFINITY;
    CHECK(!isfinite(pattern_centre_normalize(flat4, 4, v)), "a value not finite: a norm not finite");
}

/* Population control with target patterns (issue 16: "recorded patterns
 * closer to the target than the best natural image's pattern"): the group is
 * the whole population (4 simple and 6 surround cells), the targets 4 seeded
 * random patterns. Each synthesized image's true pattern (the simulated
 * cells' expected rates) against that of the natural control the loop would
 * show (the training image the model predicts closest, at the budget, as the
 * MEI's best natural control is chosen), asserted for a majority; the truly
 * closest natural training image (every one scored on the cells: the
 * hardest natural control) printed and counted beside it, not asserted:
 * measured 0 of 4 (docs/mei.md). (A group of the 4 simple cells alone
 * saturates the measure: a 4-point correlation of 1.000 predicted for the
 * synthesized image and the control alike.) */
static void pattern_truth(model *m, const sim_population *pop, const dataset *d, int train,
                          const mei_options *base)
{
    enum { PATTERNS = 4 };
    int group[16], K = 0;
    for (int i = 0; i < sim_population_neurons(pop) && K < 16; i++)
        group[K++] = i;
    float target[16], img[P], rates[16], x[P];
    char err[STIMULUS_ERR_SIZE];
    model_rng rng;
    model_rng_seed(&rng, 77);
    int closer = 0, closer_than_all = 0, done = 0;
    for (int q = 0; q < PATTERNS && K >= 3; q++) {
        for (int i = 0; i < K; i++)
            target[i] = (float)model_rng_uniform(&rng);
        float predicted, natural_true = -INFINITY, natural_model;
        int natural;
        if (mei_pattern(m, group, K, target, base, img, &predicted, err) ||
            control_pattern_natural(m, d->images, train, group, K, target, &base->budget,
                                    &natural, &natural_model, err)) {
            CHECK(0, "pattern synthesis: %s", err);
            return;
        }
        sim_population_rates(pop, img, 1, rates);
        float synthesized = pattern_similarity(rates, group, K, target, NULL);
        for (int i = 0; i < train; i++) {
            memcpy(x, d->images + (size_t)i * P, sizeof x);
            stimulus_render_at_budget(x, P, &base->budget);
            sim_population_rates(pop, x, 1, rates);
            float s = pattern_similarity(rates, group, K, target, NULL);
            natural_true = s > natural_true ? s : natural_true;
        }
        memcpy(x, d->images + (size_t)natural * P, sizeof x);
        stimulus_render_at_budget(x, P, &base->budget);
        sim_population_rates(pop, x, 1, rates);
        float control = pattern_similarity(rates, group, K, target, NULL);
        printf("# pattern %d over %d cells: true similarity of the synthesized image %.3f "
               "(predicted %.3f); the natural control %.3f (predicted %.3f); the truly closest "
               "natural image %.3f\n", q, K, synthesized, predicted, control, natural_model,
               natural_true);
        closer += synthesized > control;
        closer_than_all += synthesized > natural_true;
        done++;
    }
    printf("# patterns: the synthesized image closer than every natural training image for %d "
           "of %d\n", closer_than_all, done);
    CHECK(done == PATTERNS && closer * 2 > PATTERNS, "%d of %d target patterns: the synthesized "
          "image's true pattern is closer than the natural control's", closer, PATTERNS);
}

static void test_region_truth(void)
{
    enum { N = 10, TRAIN = 1500, VAL = 200 };
    sim_config c;
    sim_config_default(&c);
    c.fraction_simple = 0.4f;
    c.fraction_complex = 0.0f;
    c.fraction_surround = 0.6f;
    c.neurons = N;
    c.height = H;
    c.width = W;
    c.seed = 31;
    char err[STIMULUS_ERR_SIZE];
    sim_population *pop;
    dataset d;
    if (sim_population_create(&pop, &c, err) || dataset_alloc(&d, TRAIN + VAL, H, W, N)) {
        CHECK(0, "population and dataset: %s", err);
        return;
    }
    model_rng rng;
    model_rng_seed(&rng, 32);
    sim_natural_images(d.images, TRAIN + VAL, H, W, 33);
    sim_population_sample(pop, d.images, TRAIN + VAL, &rng, d.responses);
    for (int i = 0; i < TRAIN + VAL; i++) {
        d.tiers[i] = i < TRAIN ? TIER_TRAIN : TIER_VALIDATION;
        d.image_ids[i] = i;
    }
    /* Kernels 9 and 7: a 15-pixel window, wide enough to see the annulus. */
    model_config mc;
    model_config_default(&mc);
    mc.height = H;
    mc.width = W;
    mc.neurons = N;
    mc.layers = 3;
    mc.channels = 8;
    mc.kernel[0] = 9;
    mc.kernel[1] = 7;
    mc.kernel[2] = 5;
    mc.seed = 11;
    model *m = NULL;
    fit_options fo;
    fit_options_default(&fo);
    fo.max_epochs = 10;
    fo.threads = 2;
    fit_report report;
    int ok = !model_create(&m, &mc, err) && !model_fit(m, &d, &fo, &report, err);
    CHECK(ok, "model fitted to simple and surround cells (validation correlation %.3f)",
          ok ? report.best_validation_corr : 0.0);
    if (!ok) {
        model_destroy(m);
        dataset_free(&d);
        sim_population_destroy(pop);
        return;
    }
    mei_options o;
    mei_options_default(&o);
    o.steps = 300;
    o.budget = (stimulus_budget){0.5f, stimulus_median_contrast(d.images, TRAIN, P)};
    mei_mask_options mo;
    mei_mask_options_default(&mo);
    float mei[P], masked[P], mask[P], most[P], least[P], surround[P], rates[N];
    float coverage[N];
    int kept = 0, surround_cells = 0, raised = 0, lowered = 0, n_cov = 0, covered = 0;
    int headroom = 0;
    for (int j = 0; j < N; j++) {
        const sim_cell *cell = sim_population_cell(pop, j);
        mei_target t = {MEI_SINGLE, j, NULL};
        mei_result r;
        mei_mask_result mr;
        float r_most, r_least;
        mei_options ol = o;
        ol.least = 1;
        if (mei_synthesize(m, &t, 1, &o, mei, &r, err) ||
            mei_mask_fit(m, j, mei, &o.budget, &mo, &mr, masked, err)) {
            CHECK(0, "synthesis: %s", err);
            break;
        }
        mei_mask_render(&mr.mask, H, W, mask);
        float model_surround[P];
        if (mei_surround(m, j, mei, mask, &o, most, model_surround, &r_most, err) ||
            mei_surround(m, j, mei, mask, &ol, least, surround, &r_least, err)) {
            CHECK(0, "surround: %s", err);
            break;
        }
        sim_population_rates(pop, mei, 1, rates);
        float t_mei = rates[j];
        sim_population_rates(pop, masked, 1, rates);
        float t_masked = rates[j];
        sim_population_rates(pop, most, 1, rates);
        float t_most = rates[j];
        sim_population_rates(pop, least, 1, rates);
        float t_least = rates[j];
        coverage[n_cov++] = mei_mask_rf_coverage(cell, mask, H, W);
        covered += coverage[n_cov - 1] >= 0.8f;
        kept += t_masked >= 0.9f * t_mei;
        if (cell->type == SIM_SURROUND) {
            surround_cells++;
            raised += t_most > t_masked;
            lowered += t_least < t_masked;
            /* What a surround could do for this cell: its own gradient, 600
             * steps from noise and from the model's surround. */
            float truly = stimulus_true_best_surround(pop, j, H, W, mei, mask, model_surround,
                                                      &o.budget, 600, 91 + (uint64_t)j);
            headroom += truly > 1.01f * t_masked;
            printf("# neuron %d: the true cell's own best surround %.3f (%.2f of the centre "
                   "alone; the model's %.2f)\n", j, truly, truly / t_masked, t_most / t_masked);
        }
        printf("# neuron %d (%s): true MEI %.3f, masked %.3f (%.2f), mask radius %.1f px "
               "(cell sigma %.1f), area %.0f px, RF covered %.2f; centre alone %.3f, "
               "most surround %.3f, least %.3f (predicted %.3f, %.3f, %.3f)\n",
               j, sim_cell_type_name(cell->type), t_mei, t_masked, t_masked / t_mei,
               mr.mask.radius, cell->sigma, mr.area, coverage[n_cov - 1], t_masked, t_most,
               t_least, mr.response, r_most, r_least);
    }
    CHECK(kept >= N - 2, "%d of %d masked MEIs keep >= 0.9 of the MEI's true response", kept, N);
    CHECK(covered >= N - 2, "%d of %d masks cover >= 0.8 of the true RF (median %.2f)", covered,
          N, median_of(coverage, n_cov));
    /* The surround cells are the zoo's (docs/ground-truth.md: a complex
     * centre divided by the local contrast of centre and ring). Issue 16 asks
     * that the least exciting surround lower the true response "for most of
     * them": a majority; measured 4 of 6 here. The most exciting surround
     * does not yet raise it for most (the model misses the normalization by
     * the ring): printed, not asserted, open in issue 16. */
    printf("# surround cells: the most exciting surround raises the true response over the "
           "centre alone for %d of %d; a surround ascended on the true cell raises it by more "
           "than 1%% for %d of %d\n", raised, surround_cells, headroom, surround_cells);
    CHECK(surround_cells >= 4 && lowered * 2 > surround_cells,
          "%d of %d surround cells: the least exciting surround lowers the true response "
          "below the centre alone", lowered, surround_cells);
    pattern_truth(m, pop, &d, TRAIN, &o);
    model_destroy(m);
    dataset_free(&d);
    sim_population_destroy(pop);
}

static void test_ground_truth(void)
{
    sim_config c;
    sim_config_default(&c);
    c.fraction_simple = 0.3f; /* every cell type, both conjunction types too */
    c.fraction_complex = 0.3f;
    c.fraction_conjunction = 0.2f;
    c.fraction_energy_conjunction = 0.1f;
    c.neurons = 30;
    c.height = H;
    c.width = W;
    c.seed = 5;
    sim_population *p;
    char err[STIMULUS_ERR_SIZE];
    CHECK(!sim_population_create(&p, &c, err), "population");
    stimulus_budget b = {0.5f, 0.12f};
    model_rng rng;
    model_rng_seed(&rng, 8);
    int optimal = 1, checked = 0;
    float *rates = malloc(sizeof(float) * c.neurons);
    for (int n = 0; n < c.neurons; n++) {
        if (sim_population_cell(p, n)->type == SIM_NORMALIZED)
            continue;
        float best[P], rate;
        if (sim_optimal_stimulus(p, n, H, W, &b, best, &rate, err)) {
            optimal = 0;
            continue;
        }
        /* No nearby point of the space does better. */
        for (int k = 0; k < 10; k++) {
            float x[P];
            for (int i = 0; i < P; i++)
                x[i] = best[i] + 0.03f * (float)model_rng_normal(&rng);
            stimulus_render_at_budget(x, P, &b);
            sim_population_rates(p, x, 1, rates);
            if (rates[n] > rate * (1 + 1e-3)) {
                optimal = 0;
                printf("# neuron %d: perturbed %.4f > optimum %.4f\n", n, rates[n], rate);
            }
        }
        checked++;
    }
    CHECK(optimal && checked > 5,
          "true optima of %d simple/complex/conjunction/energy-conjunction cells beat every "
          "perturbation", checked);
    free(rates);
    sim_population_destroy(p);
}

/* The shared ground-truth scorer against the population computed here:
 * scores, best natural images (at the budget and raw), optima, best controls,
 * and the summaries' medians and win counts recounted by hand. */
static void test_truth_scorer(void)
{
    sim_config c;
    sim_config_default(&c);
    c.fraction_simple = 0.3f; /* every cell type, conjunction cells too */
    c.fraction_complex = 0.3f;
    c.fraction_conjunction = 0.2f;
    c.neurons = 40;
    c.height = H;
    c.width = W;
    c.seed = 9;
    stimulus_budget b = {0.5f, 0.12f};
    char err[STIMULUS_ERR_SIZE];
    int targets[6] = {0, 3, 7, 12, 25, 39}, n = 6, naturals = 300, bad[1] = {40};
    stimulus_truth *t;
    CHECK(stimulus_truth_create(&t, &c, bad, 1, &b, err) != 0 && strstr(err, "40"),
          "a target outside the population refused: %s", err);
    if (stimulus_truth_create(&t, &c, targets, n, &b, err)) {
        CHECK(0, "stimulus_truth_create: %s", err);
        return;
    }
    const sim_population *p = stimulus_truth_population(t);
    float *img = malloc(sizeof(float) * naturals * P), *rendered = malloc(sizeof(float) * P);
    float *rates = malloc(sizeof(float) * c.neurons);
    sim_natural_images(img, naturals, H, W, 21);
    stimulus_truth_add_naturals(t, img, 170); /* two calls: maxima carry over */
    stimulus_truth_add_naturals(t, img + (size_t)170 * P, naturals - 170);
    float best[6] = {0}, best_raw[6] = {0}, lowest[6], least[6], mei[6], gabor[6];
    for (int j = 0; j < n; j++)
        lowest[j] = INFINITY;
    for (int i = 0; i < naturals; i++) {
        sim_population_rates(p, img + (size_t)i * P, 1, rates);
        for (int j = 0; j < n; j++)
            best_raw[j] = fmaxf(best_raw[j], rates[targets[j]]);
        memcpy(rendered, img + (size_t)i * P, sizeof(float) * P);
        stimulus_render_at_budget(rendered, P, &b);
        sim_population_rates(p, rendered, 1, rates);
        for (int j = 0; j < n; j++) {
            best[j] = fmaxf(best[j], rates[targets[j]]);
            lowest[j] = fminf(lowest[j], rates[targets[j]]);
        }
    }
    /* "MEIs": natural images 0..5; "Gabors": images 10..15 (any images do). */
    int scores_ok = 1;
    for (int j = 0; j < n; j++) {
        mei[j] = stimulus_truth_score(t, j, STIMULUS_KIND_MEI, img + (size_t)j * P);
        gabor[j] = stimulus_truth_score(t, j, STIMULUS_KIND_GABOR, img + (size_t)(10 + j) * P);
        /* "least exciting inputs": images 20..25 at the budget */
        memcpy(rendered, img + (size_t)(20 + j) * P, sizeof(float) * P);
        stimulus_render_at_budget(rendered, P, &b);
        least[j] = stimulus_truth_score(t, j, STIMULUS_KIND_LEAST, rendered);
        sim_population_rates(p, img + (size_t)j * P, 1, rates);
        /* Exact: the scorer makes this very call (one image, the same
         * population), so OpenBLAS takes the same kernel in the same order. */
        scores_ok &= mei[j] == rates[targets[j]];
    }
    CHECK(scores_ok, "scores are the population's rates");
    CHECK(!stimulus_truth_finish(t, err), "finish: %s", err);
    /* The scorer rates the naturals in batches of up to 128 images, this test
     * one at a time: one sgemm of K = P = 384 pixels either way, but OpenBLAS
     * picks another kernel (and summation order) for one row than for many,
     * differently on each CPU and core type (an Intel AVX-512 Xeon differs in
     * the 8th digit: 10.4153309 against 10.4153318). Each path's error is a
     * sum of K roundings of at most u = 2^-24 of the terms; for these best
     * images the terms add rather than cancel, so a random walk's sqrt(K)·u ≈
     * 1.2e-6 of the rate bounds the usual difference, and the cells' drives
     * (exponent 1 or a square root) do not enlarge relative errors.
     * 1e-5 leaves a factor 8 for a worse summation order: the paths are
     * compared within it, never for equality. */
    const float path_tolerance = 1e-5f;
    int rows_ok = 1, paths_ok = 1, wins = 0, type_rows = 0, type_wins = 0;
    float ratio[6], optimum[P], opt_rate;
    for (int j = 0; j < n; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        sim_optimal_stimulus(p, targets[j], H, W, &b, optimum, &opt_rate, err);
        paths_ok &= fabsf(r->natural - best[j]) <= path_tolerance * best[j] &&
                    fabsf(r->natural_raw - best_raw[j]) <= path_tolerance * best_raw[j];
        if (!(fabsf(r->natural - best[j]) <= path_tolerance * best[j]))
            printf("# neuron %d: best natural %.9g by the scorer, %.9g here\n", targets[j],
                   (double)r->natural, (double)best[j]);
        /* Exact: the optimum is the same call with the same arguments, and the
         * best control is fmaxf (exact) of values the scorer holds: its Gabor
         * score (gabor[j], returned by it) and its own best natural. */
        rows_ok &= r->neuron == targets[j] && r->type == (int)sim_population_cell(p, targets[j])->type &&
                   r->optimum == opt_rate && isnan(r->shown[STIMULUS_KIND_RF]) &&
                   r->best_control == fmaxf(gabor[j], r->natural);
        ratio[j] = mei[j] / r->natural; /* as the summary divides */
        wins += mei[j] > gabor[j];
        if (r->type == SIM_SIMPLE) {
            type_rows++;
            type_wins += mei[j] > gabor[j];
        }
    }
    CHECK(paths_ok, "rows: best natural at the budget and raw as rated one image at a time "
                    "(relative %.0e)", (double)path_tolerance);
    CHECK(rows_ok, "rows: neuron, type, optimum, best control");
    CHECK(stimulus_truth_row(t, n) == NULL && stimulus_truth_count(t) == n, "row bounds");
    /* median of 6: the mean of the middle two, sorted here by insertion */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && ratio[k - 1] > ratio[k]; k--) {
            float v = ratio[k];
            ratio[k] = ratio[k - 1];
            ratio[k - 1] = v;
        }
    truth_summary all, simple;
    stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &all);
    stimulus_truth_summarize(t, TRUTH_TYPE(SIM_SIMPLE), &simple);
    /* The same float ratios; the summary averages the middle two in float,
     * this line in double: they differ by the float sum's rounding, under
     * 1e-6 of a ratio near 1. */
    CHECK_CLOSE(all.over_natural, 0.5 * (ratio[2] + ratio[3]), 1e-6, "median MEI/natural");
    CHECK(all.with_shown_natural == 0 && all.beats_shown_natural == 0 &&
              isnan(all.over_shown_natural),
          "no best-natural control shown: none counted against it, no median");
    CHECK(all.count == n && all.beats_gabor == wins && all.with_gabor == n && all.with_rf == 0 &&
              isnan(all.over_rf),
          "wins over the Gabor %d of %d, no RF scored", all.beats_gabor, all.with_gabor);
    CHECK(simple.count == type_rows && simple.beats_gabor == type_wins,
          "one type's summary: %d simple cells, %d wins", simple.count, simple.beats_gabor);
    /* Least exciting inputs: the lowest natural at the budget, the gray
     * rate, and the summary's counts by hand. */
    for (int i = 0; i < P; i++)
        rendered[i] = b.mean_luminance;
    sim_population_rates(p, rendered, 1, rates);
    int least_ok = 1, suppressible = 0, below = 0, at_floor = 0;
    for (int j = 0; j < n; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        float gray = rates[targets[j]], band = 0.01f * fabsf(gray);
        /* The scorer's rates come from batches of up to 128 images, these from
         * one: the same sums in another order, equal to ~1e-7 relative. */
        least_ok &= fabsf(r->natural_least - lowest[j]) <= 1e-5f * lowest[j] && r->gray == gray &&
                    r->shown[STIMULUS_KIND_LEAST] == least[j];
        if (lowest[j] > gray + band) {
            suppressible++;
            below += least[j] < lowest[j];
        } else {
            at_floor += least[j] <= gray + band;
        }
    }
    CHECK(least_ok, "rows: least exciting natural image at the budget, gray rate, least scored");
    CHECK(all.with_least == n && all.suppressible == suppressible &&
              all.least_below_natural == below && all.least_at_floor == at_floor &&
              suppressible > 0 && suppressible < n,
          "least summary: %d of %d suppressible rows below their least natural, %d of the "
          "others at the floor", all.least_below_natural, all.suppressible, all.least_at_floor);
    free(img);
    free(rendered);
    free(rates);
    stimulus_truth_destroy(t);
}

static void test_png(void)
{
    char dir[] = "/tmp/test_synthesis_png_XXXXXX", path[96], err[STIMULUS_ERR_SIZE];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    float img[P];
    for (int i = 0; i < P; i++)
        img[i] = (float)i / (P - 1);
    snprintf(path, sizeof path, "%s/a.png", dir);
    int ok = !png_write_gray(path, img, H, W, err);
    int h = 0, w = 0;
    float *back = NULL;
    ok = ok && !image_load_gray(path, &h, &w, &back, err);
    double worst = 0;
    for (int i = 0; ok && h == H && w == W && i < P; i++)
        worst = fmax(worst, fabs(back[i] - img[i]));
    CHECK(ok && h == H && w == W && worst <= 0.5 / 255 + 1e-6, "PNG round trip within half a level");
    free(back);
    gallery_tile tiles[4] = {{img, "MEI 1.23"}, {img, "NAT 0.5"}, {NULL, "-"}, {img, "RF"}};
    const char *rows[2] = {"N12", "N3"};
    snprintf(path, sizeof path, "%s/g.png", dir);
    ok = !gallery_write_png(path, tiles, rows, 2, 2, H, W, 2, err);
    ok = ok && !image_load_gray(path, &h, &w, &back, err);
    /* Label pixels are black: the canvas holds some 0s beyond the image's own. */
    int dark = 0;
    for (int i = 0; ok && i < h * w; i++)
        dark += back[i] == 0.0f;
    CHECK(ok && h > 2 * H * 2 && w > 2 * W * 2 && dark > 50, "gallery %d×%d with labels", h, w);
    free(back);
    remove_tree(dir);
}

/* The one bitmap font: a glyph for every printable ASCII character and
 * nothing else, the space blank, every other glyph inked, within its five
 * columns, and no two alike (a character drawn as another would misstate a
 * label). */
static void test_font(void)
{
    int missing = 0, blank = 0, wide = 0, alike = 0;
    for (int c = FONT_FIRST; c <= FONT_LAST; c++) {
        const unsigned char *g = font_glyph((char)c);
        if (!g) {
            missing++;
            continue;
        }
        int ink = 0;
        for (int r = 0; r < FONT_HEIGHT; r++) {
            ink += g[r] != 0;
            wide += (g[r] & ~0x1fu) != 0;
        }
        blank += (c == ' ') != (ink == 0);
        for (int d = FONT_FIRST; d < c; d++)
            alike += font_glyph((char)d) && !memcmp(font_glyph((char)d), g, FONT_HEIGHT);
    }
    CHECK(missing == 0 && blank == 0 && wide == 0 && alike == 0,
          "font: 95 printable glyphs (%d missing, %d wrongly blank or inked, %d too wide, %d "
          "pairs alike)", missing, blank, wide, alike);
    CHECK(!font_glyph('\n') && !font_glyph((char)FONT_FIRST - 1) &&
              !font_glyph((char)(FONT_LAST + 1)) && !font_glyph((char)0xe9),
          "font: no glyph for control characters, DEL or bytes above ASCII");
}

/* The least exciting inputs' summary for cells with a baseline rate (issue
 * 16's criterion): each baseline row counted against its least natural image
 * whatever its gray rate, the medians recounted by hand; the cells without a
 * baseline keep the floor's counts. */
static void test_truth_baseline(void)
{
    sim_config c;
    sim_config_default(&c);
    c.neurons = 10;
    c.height = H;
    c.width = W;
    c.seed = 4;
    c.baseline_rate = 2.0f;
    c.baseline_share = 0.5f;
    stimulus_budget b = {0.5f, 0.12f};
    char err[STIMULUS_ERR_SIZE];
    int targets[10], n = 10, naturals = 40;
    for (int j = 0; j < n; j++)
        targets[j] = j;
    stimulus_truth *t;
    if (stimulus_truth_create(&t, &c, targets, n, &b, err)) {
        CHECK(0, "stimulus_truth_create: %s", err);
        return;
    }
    const sim_population *p = stimulus_truth_population(t);
    float *img = malloc(sizeof(float) * naturals * P), rendered[P], rates[10];
    sim_natural_images(img, naturals, H, W, 5);
    stimulus_truth_add_naturals(t, img, naturals - 6);
    /* "least exciting inputs" at the budget: for the first five cells the
     * Gabor at the orthogonal orientation (what suppresses a baseline cell),
     * for the others a natural image not added, so that some rows are below
     * their least natural image and some not */
    for (int j = 0; j < n; j++) {
        const sim_cell *cell = sim_population_cell(p, j);
        if (j < 5) {
            gabor_zero_mean(rendered, H, W, cell->x, cell->y, cell->sigma, cell->frequency,
                            cell->orientation + M_PI / 2, cell->phase);
            for (int i = 0; i < P; i++)
                rendered[i] += b.mean_luminance;
        } else {
            memcpy(rendered, img + (size_t)(naturals - 6 + j - 5) * P, sizeof rendered);
        }
        stimulus_render_at_budget(rendered, P, &b);
        stimulus_truth_score(t, j, STIMULUS_KIND_LEAST, rendered);
    }
    CHECK(!stimulus_truth_finish(t, err), "finish: %s", err);
    for (int i = 0; i < P; i++)
        rendered[i] = b.mean_luminance;
    sim_population_rates(p, rendered, 1, rates);
    int with = 0, below = 0, baseline_ok = 1;
    float over_nat[10], over_gray[10];
    for (int j = 0; j < n; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        float base = sim_population_cell(p, j)->baseline;
        baseline_ok &= r->baseline == base;
        if (!(base > 0.0f))
            continue;
        /* the gray rate is the baseline (the filters' float rounding at gray) */
        baseline_ok &= fabsf(r->gray - base) <= 1e-4f * base && r->gray == rates[j];
        float least = r->shown[STIMULUS_KIND_LEAST];
        below += least < r->natural_least;
        over_nat[with] = least / r->natural_least;
        over_gray[with++] = least / r->gray;
    }
    /* medians of up to 10 by sorting (insertion) */
    for (int a = 0; a < 2; a++) {
        float *v = a ? over_gray : over_nat;
        for (int i = 1; i < with; i++)
            for (int k = i; k > 0 && v[k - 1] > v[k]; k--) {
                float x = v[k];
                v[k] = v[k - 1];
                v[k - 1] = x;
            }
    }
    truth_summary all;
    stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &all);
    CHECK(baseline_ok && with >= 2 && with <= 8,
          "rows: the cells' baselines (%d of %d), each one's gray rate", with, n);
    CHECK(all.with_baseline == with && all.baseline_below_natural == below && below > 0 &&
              below < with && all.suppressible + (all.with_least - all.with_baseline -
                                                   all.suppressible) == n - with,
          "baseline rows: %d of %d below their least natural image; %d rows without a baseline "
          "counted against the floor", all.baseline_below_natural, all.with_baseline,
          all.with_least - all.with_baseline);
    /* The same float ratios; an even count's median averages the middle two
     * in float here and in the scorer: equal but for that sum's rounding. */
    float med_nat = with % 2 ? over_nat[with / 2]
                             : 0.5f * (over_nat[with / 2 - 1] + over_nat[with / 2]);
    float med_gray = with % 2 ? over_gray[with / 2]
                              : 0.5f * (over_gray[with / 2 - 1] + over_gray[with / 2]);
    CHECK_CLOSE(all.baseline_least_over_natural, med_nat, 1e-6, "median least / least natural");
    CHECK_CLOSE(all.baseline_least_over_gray, med_gray, 1e-6, "median least / gray");
    free(img);
    stimulus_truth_destroy(t);
}

int main(void)
{
    test_constrain();
    test_blur();
    test_fourier();
    test_objectives();
    test_synthesis();
    test_init_images();
    test_receptive_field_path();
    test_least();
    test_diverse();
    test_diverse_truth();
    test_mask_gradient();
    test_pattern_similarity();
    test_region_truth();
    test_ground_truth();
    test_truth_scorer();
    test_truth_baseline();
    test_png();
    test_font();
    return test_done();
}
