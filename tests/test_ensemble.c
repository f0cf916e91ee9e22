/* test_ensemble.c: MEIs and controls on an ensemble of models (the mean of
 * their predicted rates). One ascent step against a reference computed here,
 * an ensemble of two identical copies against the model alone, reported
 * responses against the models' own predictions, the ensemble objective's
 * image gradient against finite differences, controls against argmaxes and
 * gradients computed here, stopping where the models disagree against the
 * spreads along the free path, and mismatched models refused. */
#include "model.h"
#include "stimulus.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H 16
#define W 24
#define P (H * W)
#define N 12

static model *small_model(uint64_t seed, int neurons)
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
    c.seed = seed;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        printf("# %s\n", err);
        return NULL;
    }
    model_set_standardization(m, 0.5f, 0.2f);
    return m;
}

static double max_abs_diff(const float *a, const float *b, int n)
{
    double d = 0.0;
    for (int i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void base_options(mei_options *o)
{
    mei_options_default(o);
    o->budget = (stimulus_budget){0.5f, 0.15f};
    o->seed = 21;
}

/* The mean of the models' model_predict, computed here. */
static void mean_predict(model **models, int M, const float *x, int batch, float *mean)
{
    char err[MODEL_ERR_SIZE];
    float *r = malloc(sizeof(float) * (size_t)batch * N);
    for (int i = 0; i < batch * N; i++)
        mean[i] = 0.0f;
    for (int k = 0; k < M; k++) {
        model_predict(models[k], x, batch, r, err);
        for (int i = 0; i < batch * N; i++)
            mean[i] += r[i] / (float)M;
    }
    free(r);
}

/* ------------------------------------------------------------------------ */

/* One step of the ascent, written out here: the start, the mean of the
 * models' gradients of r[neuron], the step of mean size step_size, the map
 * into the space. */
static void reference_step(model **models, int M, const mei_options *o, int neuron, float *out)
{
    float z[P], g[P], part[P], w[N] = {0}, J;
    char err[MODEL_ERR_SIZE];
    model_rng rng;
    model_rng_seed(&rng, mei_start_seed(o->seed, neuron, 0));
    for (int i = 0; i < P; i++)
        z[i] = o->budget.mean_luminance + o->init_contrast * (float)model_rng_normal(&rng);
    memcpy(out, z, sizeof z);
    stimulus_constrain(out, P, &o->budget);
    w[neuron] = 1.0f;
    model_input_gradient_objective(models[0], out, 1, w, g, &J, err);
    for (int k = 1; k < M; k++) {
        model_input_gradient_objective(models[k], out, 1, w, part, &J, err);
        for (int i = 0; i < P; i++)
            g[i] += part[i];
    }
    if (M > 1)
        for (int i = 0; i < P; i++)
            g[i] *= 1.0f / (float)M;
    double mean_abs = 0.0;
    for (int i = 0; i < P; i++)
        mean_abs += fabsf(g[i]);
    mean_abs /= P;
    float eta = (float)(o->step_size / mean_abs);
    for (int i = 0; i < P; i++)
        z[i] += eta * g[i];
    memcpy(out, z, sizeof z);
    stimulus_constrain(out, P, &o->budget);
}

static void test_one_step(model **models)
{
    mei_options o;
    base_options(&o);
    o.steps = 1;
    mei_target t = {MEI_SINGLE, 5, NULL};
    float got[P], want[P], alone[P];
    mei_result r;
    char err[STIMULUS_ERR_SIZE];
    int ok = !mei_synthesize(models[0], &t, 1, &o, got, &r, err);
    reference_step(models, 1, &o, 5, want);
    CHECK(ok && !memcmp(got, want, sizeof got),
          "one model, no ensemble: the step is the reference's to the bit");
    memcpy(alone, got, sizeof got);
    o.ensemble = models + 1;
    o.ensemble_size = 1;
    ok = !mei_synthesize(models[0], &t, 1, &o, got, &r, err);
    reference_step(models, 2, &o, 5, want);
    double d = max_abs_diff(got, want, P);
    CHECK(ok && d <= 1e-6, "two models: the step follows the mean gradient (max pixel difference "
          "%.2g)", d);
    d = max_abs_diff(got, alone, P);
    CHECK(d > 1e-3, "... and differs from the first model's own step (%.2g)", d);
}

/* ------------------------------------------------------------------------ */

static void test_identical_copies(model *m, model *copy)
{
    float x[4 * P], ra[4 * N], rb[4 * N];
    char err[STIMULUS_ERR_SIZE];
    model_rng rng;
    model_rng_seed(&rng, 7);
    for (int i = 0; i < 4 * P; i++)
        x[i] = 0.5f + 0.1f * (float)model_rng_normal(&rng);
    model_predict(m, x, 4, ra, err);
    model_predict(copy, x, 4, rb, err);
    CHECK(!memcmp(ra, rb, sizeof ra), "two models made with one seed predict alike");

    mei_options o;
    base_options(&o);
    o.steps = 40;
    o.starts = 2;
    o.jitter = 1;
    float group_w[N] = {0};
    group_w[2] = 1.0f;
    group_w[9] = 0.5f;
    enum { T = 3 };
    mei_target t[T] = {{MEI_SINGLE, 4, NULL}, {MEI_ONE_HOT_SOFTMAX, 1, NULL},
                       {MEI_GROUP, 50, group_w}};
    const char *names[T] = {"single", "one-hot softmax", "group"};
    for (int k = 0; k < T; k++) {
        float one[P], two[P];
        mei_result r1, r2;
        o.ensemble = NULL;
        o.ensemble_size = 0;
        int ok = !mei_synthesize(m, &t[k], 1, &o, one, &r1, err);
        o.ensemble = &copy;
        o.ensemble_size = 1;
        ok &= !mei_synthesize(m, &t[k], 1, &o, two, &r2, err);
        double d = max_abs_diff(one, two, P);
        CHECK(ok && d <= 1e-6 && fabsf(r1.response - r2.response) <= 1e-5f * fabsf(r1.response) &&
                  r1.best_start == r2.best_start,
              "%s: an ensemble of two identical copies gives the model's MEI (max pixel "
              "difference %.2g, responses %.6g, %.6g)", names[k], d, r1.response, r2.response);
    }
}

/* ------------------------------------------------------------------------ */

static void test_two_models(model **models)
{
    mei_options o;
    base_options(&o);
    o.steps = 100;
    o.starts = 2;
    o.ensemble = models + 1;
    o.ensemble_size = 1;
    float group_w[N] = {0};
    group_w[3] = 1.0f;
    group_w[8] = -0.5f;
    enum { T = 3 };
    mei_target t[T] = {{MEI_SINGLE, 6, NULL}, {MEI_ONE_HOT_SOFTMAX, 2, NULL},
                       {MEI_GROUP, 60, group_w}};
    float x[T * P], mean[T * N], w[N];
    mei_result r[T];
    char err[STIMULUS_ERR_SIZE];
    int ok = !mei_synthesize(models[0], t, T, &o, x, r, err);
    CHECK(ok, "two different models: synthesis runs (%s)", ok ? "ok" : err);
    if (!ok)
        return;
    mean_predict(models, 2, x, T, mean);
    CHECK_CLOSE(r[0].response, mean[6], 1e-5,
                "single: reported response is the mean of the two models' predictions");
    CHECK_CLOSE(r[1].response, mean[N + 2], 1e-5,
                "one-hot softmax: reported response is the mean of the two models' predictions");
    CHECK_CLOSE(r[1].objective, mei_objective_weights(&t[1], mean + N, N, o.temperature, w), 1e-5,
                "one-hot softmax: reported objective is J of the mean rates");
    double group = 0.0;
    for (int k = 0; k < N; k++)
        group += (double)group_w[k] * mean[2 * N + k];
    CHECK_CLOSE(r[2].response, group, 1e-5, "group: reported response is w · mean rates");

    /* Ascending the mean reaches a higher mean than ascending model 0 alone,
     * and model 0 alone a higher rate of model 0. */
    float alone[P], alone_mean[N], r0_ens[N], r0_alone[N];
    mei_result ra;
    o.ensemble = NULL;
    o.ensemble_size = 0;
    ok = !mei_synthesize(models[0], &t[0], 1, &o, alone, &ra, err);
    mean_predict(models, 2, alone, 1, alone_mean);
    model_predict(models[0], x, 1, r0_ens, err);
    model_predict(models[0], alone, 1, r0_alone, err);
    CHECK(ok && mean[6] > alone_mean[6] && r0_alone[6] > r0_ens[6],
          "the ensemble MEI has the higher mean rate (%.4g vs %.4g), model 0's own MEI the "
          "higher model-0 rate (%.4g vs %.4g)", mean[6], alone_mean[6], r0_alone[6], r0_ens[6]);
}

/* ------------------------------------------------------------------------ */

/* J(x) = one-hot softmax objective of the mean rates, in double. */
static double ensemble_objective(model **models, const float *x, const mei_target *t)
{
    float mean[N], w[N];
    mean_predict(models, 2, x, 1, mean);
    return mei_objective_weights(t, mean, N, 1.0f, w);
}

static void test_finite_differences(model **models)
{
    mei_target t = {MEI_ONE_HOT_SOFTMAX, 3, NULL};
    float x[P], mean[N], w[N], g[P];
    char err[STIMULUS_ERR_SIZE];
    model_rng rng;
    model_rng_seed(&rng, 13);
    for (int i = 0; i < P; i++)
        x[i] = 0.5f + 0.15f * (float)model_rng_normal(&rng);
    mean_predict(models, 2, x, 1, mean);
    mei_objective_weights(&t, mean, N, 1.0f, w);
    int ok = !ensemble_input_gradient(models, 2, x, 1, w, g, err);
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < P; i++) {
        float saved = x[i], h = 1e-2f;
        x[i] = saved + h;
        double up = ensemble_objective(models, x, &t);
        x[i] = saved - h;
        double down = ensemble_objective(models, x, &t);
        x[i] = saved;
        double fd = (up - down) / (2.0 * h), e = fabs(fd - g[i]);
        worst = e > worst ? e : worst;
        scale = fabs(fd) > scale ? fabs(fd) : scale;
    }
    CHECK(ok && scale > 1e-3, "ensemble gradient is not trivially zero (max %.3g)", scale);
    CHECK(worst <= 2e-2 * scale, "ensemble objective's image gradient matches finite differences "
          "(%.3g of %.3g)", worst, scale);

    float rates[N];
    ok = !ensemble_predict(models, 2, x, 1, rates, err);
    CHECK(ok && max_abs_diff(rates, mean, N) <= 1e-5 * fmax(1.0, fabs(mean[0])),
          "ensemble_predict is the mean of model_predict");
    float one[N];
    model_predict(models[0], x, 1, one, err);
    ok = !ensemble_predict(models, 1, x, 1, rates, err);
    CHECK(ok && !memcmp(rates, one, sizeof one), "an ensemble of one predicts as the model, to the bit");
}

/* ------------------------------------------------------------------------ */

/* The two models' spread for neuron n at image x, computed here: standard
 * deviation over the models / |mean| = |r0 − r1| / |r0 + r1| for two. */
static double spread_here(model **models, const float *x, int n)
{
    float r0[N], r1[N];
    char err[MODEL_ERR_SIZE];
    model_predict(models[0], x, 1, r0, err);
    model_predict(models[1], x, 1, r1, err);
    return fabs((double)r0[n] - r1[n]) / fabs((double)r0[n] + r1[n]);
}

/* Stopping where the models disagree (mei_options.disagreement), against
 * the spreads along the free ascent's path computed here: the image kept is
 * the free ascent's after as many steps as it took (to the bit), its spread
 * above the threshold and every earlier image's at or below it; with a
 * threshold the models never meet, no stop. The two
 * spreads (the library's from model_input_gradient_objective, here from
 * model_predict) are of one number by two float paths that agree to 1e-5
 * relative (test_two_models): a margin of 1e-4 covers them. */
static void test_disagreement_stop(model **models)
{
    enum { STEPS = 24, NEURON = 6 };
    mei_options o;
    base_options(&o);
    o.steps = STEPS;
    o.jitter = 0; /* the spread is measured at the image itself */
    o.ensemble = models + 1;
    o.ensemble_size = 1;
    mei_target t = {MEI_SINGLE, NEURON, NULL};
    static float path[STEPS + 1][P];
    double spread[STEPS + 1], top = 0.0;
    mei_result r;
    char err[STIMULUS_ERR_SIZE];
    int ok = 1;
    for (int k = 0; k <= STEPS; k++) {
        o.steps = k;
        ok &= !mei_synthesize(models[0], &t, 1, &o, path[k], &r, err);
        spread[k] = spread_here(models, path[k], NEURON);
        top = fmax(top, spread[k]);
    }
    CHECK(ok && top > 2.0 * spread[0], "the free ascent's spread grows from %.3g to at most %.3g",
          spread[0], top);
    o.steps = STEPS;
    o.disagreement = (float)(0.5 * (spread[0] + top));
    float x[P];
    ok = !mei_synthesize(models[0], &t, 1, &o, x, &r, err);
    int s = r.steps;
    CHECK(ok && s >= 1 && s < STEPS, "threshold %.3g, above the start's spread: the ascent "
          "stopped after %d of %d steps",
          (double)o.disagreement, s, STEPS);
    if (!ok || s < 1 || s >= STEPS)
        return;
    double below = 0.0;
    for (int k = 0; k < s; k++)
        below = fmax(below, spread[k]);
    CHECK(!memcmp(x, path[s], sizeof x) && spread[s] > o.disagreement - 1e-4 &&
              below <= o.disagreement + 1e-4,
          "... at the free ascent's image after %d steps (spread %.4g), every earlier one at most "
          "%.4g", s, spread[s], below);
    float mean[N];
    mean_predict(models, 2, x, 1, mean);
    CHECK_CLOSE(r.response, mean[NEURON], 1e-5, "... and its response is the models' mean");

    /* Below every spread of the path, the models never agree within the
     * threshold: the rule is never armed and the ascent runs to the end
     * (a stop at the first spread above it would have kept the start). */
    double least = spread[0];
    for (int k = 1; k <= STEPS; k++)
        least = fmin(least, spread[k]);
    o.disagreement = (float)(0.5 * least);
    ok = !mei_synthesize(models[0], &t, 1, &o, x, &r, err);
    CHECK(ok && r.steps == STEPS && !memcmp(x, path[STEPS], sizeof x),
          "threshold %.3g, below the spread at every step: never armed, all %d steps run",
          (double)o.disagreement, r.steps);

    o.ensemble = NULL;
    o.ensemble_size = 0;
    err[0] = 0;
    CHECK(mei_synthesize(models[0], &t, 1, &o, x, &r, err) && err[0],
          "stopping on disagreement without an ensemble is refused (%s)", err);
    o.ensemble = models + 1;
    o.ensemble_size = 1;
    t.objective = MEI_ONE_HOT_MEAN;
    err[0] = 0;
    CHECK(mei_synthesize(models[0], &t, 1, &o, x, &r, err) && err[0],
          "... and so is a one-hot objective (%s)", err);
}

/* ------------------------------------------------------------------------ */

static void test_controls(model **models, model *copy)
{
    enum { R = 48 };
    stimulus_budget b = {0.5f, 0.15f};
    float *natural = malloc(sizeof(float) * R * P), resp[R * N];
    sim_natural_images(natural, R, H, W, 5);
    for (int k = 0; k < R * N; k++)
        resp[k] = (float)((k * 7919) % 97);
    int neurons[2] = {4, 10};
    char err[STIMULUS_ERR_SIZE];

    /* An ensemble of one: the plain controls, to the bit. */
    int bp1[2], br1[2], bp2[2], br2[2];
    int ok = !control_best_natural(models[0], natural, R, resp, neurons, 2, &b, bp1, br1, err) &&
             !control_best_natural_ensemble(models, 1, natural, R, resp, neurons, 2, &b, bp2, br2,
                                            err);
    CHECK(ok && !memcmp(bp1, bp2, sizeof bp1) && !memcmp(br1, br2, sizeof br1),
          "best natural: an ensemble of one is the model alone");
    gabor_params g1[2], g2[2];
    float gab1[2 * P], gab2[2 * P], rf1[2 * P], rf2[2 * P];
    ok = !control_matched_gabor(models[0], neurons, 2, &b, 3, g1, gab1, err) &&
         !control_matched_gabor_ensemble(models, 1, neurons, 2, &b, 3, g2, gab2, err);
    CHECK(ok && !memcmp(g1, g2, sizeof g1) && !memcmp(gab1, gab2, sizeof gab1),
          "matched Gabor: an ensemble of one is the model alone");
    ok = !control_rf_map(models[0], neurons, 2, &b, rf1, err) &&
         !control_rf_map_ensemble(models, 1, neurons, 2, &b, rf2, err);
    CHECK(ok && !memcmp(rf1, rf2, sizeof rf1), "RF map: an ensemble of one is the model alone");

    /* Two identical copies: the same controls. */
    model *twins[2] = {models[0], copy};
    ok = !control_matched_gabor_ensemble(twins, 2, neurons, 2, &b, 3, g2, gab2, err);
    CHECK(ok && !memcmp(gab1, gab2, sizeof gab1),
          "matched Gabor: two identical copies give the model's");

    /* Two different models: ranked by the mean. */
    float *mean = malloc(sizeof(float) * R * N);
    mean_predict(models, 2, natural, R, mean);
    int want[2] = {0, 0};
    for (int j = 0; j < 2; j++)
        for (int k = 1; k < R; k++)
            if (mean[k * N + neurons[j]] > mean[want[j] * N + neurons[j]])
                want[j] = k;
    ok = !control_best_natural_ensemble(models, 2, natural, R, resp, neurons, 2, NULL, bp2, br2,
                                        err);
    CHECK(ok && bp2[0] == want[0] && bp2[1] == want[1] && br2[0] == br1[0],
          "best natural of two models: the argmax of the mean prediction (%d, %d)", want[0],
          want[1]);
    float gray[2 * P], wts[2 * N] = {0}, ga[2 * P], gb[2 * P], rf_want[2 * P];
    for (int i = 0; i < 2 * P; i++)
        gray[i] = b.mean_luminance;
    wts[neurons[0]] = 1.0f;
    wts[N + neurons[1]] = 1.0f;
    model_input_gradient(models[0], gray, 2, wts, ga, NULL, err);
    model_input_gradient(models[1], gray, 2, wts, gb, NULL, err);
    for (int i = 0; i < 2 * P; i++)
        rf_want[i] = 0.5f * (ga[i] + gb[i]);
    for (int j = 0; j < 2; j++)
        stimulus_render_at_budget(rf_want + j * P, P, &b);
    ok = !control_rf_map_ensemble(models, 2, neurons, 2, &b, rf2, err);
    double d = max_abs_diff(rf2, rf_want, 2 * P);
    CHECK(ok && d <= 1e-5, "RF map of two models: the mean gradient at gray, at the budget "
          "(max difference %.2g)", d);
    ok = !control_matched_gabor_ensemble(models, 2, neurons, 2, &b, 3, g2, gab2, err);
    float gabor_mean[2 * N];
    mean_predict(models, 2, gab2, 2, gabor_mean);
    float random_best = 0.0f;
    model_rng rng;
    model_rng_seed(&rng, 2);
    for (int k = 0; k < 32; k++) {
        gabor_params g = {(float)(W * model_rng_uniform(&rng)), (float)(H * model_rng_uniform(&rng)),
                          (float)(M_PI * model_rng_uniform(&rng)),
                          0.05f + 0.15f * (float)model_rng_uniform(&rng),
                          (float)(2 * M_PI * model_rng_uniform(&rng)),
                          2.0f + 4.0f * (float)model_rng_uniform(&rng)};
        float img[P], r[N];
        gabor_render(&g, H, W, &b, img);
        mean_predict(models, 2, img, 1, r);
        random_best = fmaxf(random_best, r[neurons[0]]);
    }
    CHECK(ok && gabor_mean[neurons[0]] >= random_best,
          "matched Gabor of two models: mean rate %.4g beats 32 random Gabors' %.4g",
          gabor_mean[neurons[0]], random_best);
    free(natural);
    free(mean);
}

/* ------------------------------------------------------------------------ */

static void test_mismatch(model *m)
{
    model *other = small_model(11, N + 1);
    if (!other)
        return;
    char err[STIMULUS_ERR_SIZE] = "";
    model *pair[2] = {m, other};
    CHECK(ensemble_check(pair, 2, err) && strstr(err, "model 1") && strstr(err, "13 neurons"),
          "a model with other neurons is refused, by index (%s)", err);
    mei_options o;
    base_options(&o);
    o.steps = 2;
    o.ensemble = &other;
    o.ensemble_size = 1;
    mei_target t = {MEI_SINGLE, 0, NULL};
    float x[P];
    mei_result r;
    err[0] = 0;
    CHECK(mei_synthesize(m, &t, 1, &o, x, &r, err) && strstr(err, "model 1"),
          "synthesis refuses the mismatched ensemble (%s)", err);
    o.ensemble = NULL;
    err[0] = 0;
    CHECK(mei_synthesize(m, &t, 1, &o, x, &r, err) && err[0],
          "an ensemble size without the models is refused (%s)", err);
    float rates[N];
    CHECK(ensemble_predict(pair, 2, x, 1, rates, err), "ensemble_predict refuses it too");
    model_destroy(other);
}

int main(void)
{
    model *models[2] = {small_model(11, N), small_model(12, N)};
    model *copy = small_model(11, N);
    CHECK(models[0] && models[1] && copy, "three small random models");
    if (models[0] && models[1] && copy) {
        test_one_step(models);
        test_identical_copies(models[0], copy);
        test_two_models(models);
        test_finite_differences(models);
        test_disagreement_stop(models);
        test_controls(models, copy);
        test_mismatch(models[0]);
    }
    model_destroy(models[0]);
    model_destroy(models[1]);
    model_destroy(copy);
    return test_done();
}
