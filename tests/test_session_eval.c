/* test_session_eval.c: session_fit_evaluate_tier, the one path from a model
 * and a dataset's tier to per-neuron metrics that `inception run`, `replay`
 * and `fit`/`evaluate` share: its trial count, and its single-trial and
 * to-average correlations against ones computed here from predictions made
 * one trial at a time. And the session's ensemble (model.ensemble): its
 * members fitted with their own seeds, its evaluation and the predictions of
 * its MEIs the mean of the members' predictions made here, its members
 * recorded and read back as they were. */
#include "test.h"
#include "controller.h"
#include "test_files.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TRIALS = 30, H = 8, W = 10, N = 3, FIRST_TEST = 22 };

static void make_dataset(dataset *d)
{
    model_rng r;
    model_rng_seed(&r, 11);
    dataset_alloc(d, TRIALS, H, W, N);
    for (int t = 0; t < TRIALS; t++) {
        /* 0..20 train, 21 the one validation trial, 22..29 test: 4 images twice. */
        d->tiers[t] = t < 21 ? TIER_TRAIN : t == 21 ? TIER_VALIDATION : TIER_TEST;
        d->image_ids[t] = t < FIRST_TEST ? t : 100 + (t - FIRST_TEST) % 4;
        for (int p = 0; p < H * W; p++)
            d->images[(size_t)t * H * W + p] = (float)model_rng_uniform(&r);
        for (int n = 0; n < N; n++)
            d->responses[(size_t)t * N + n] = (float)model_rng_poisson(&r, 2.0 + n);
    }
    /* Repeats show the same image. */
    for (int t = FIRST_TEST + 4; t < TRIALS; t++)
        for (int p = 0; p < H * W; p++)
            d->images[(size_t)t * H * W + p] = d->images[(size_t)(t - 4) * H * W + p];
}

static double pearson(const double *a, const double *b, int n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i] / n;
        mb += b[i] / n;
    }
    for (int i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

/* The session's fit and synthesis with `ensemble` models: trials 14..21
 * validation (8), a small CNN, 2 epochs, 5 MEI steps. */
static void test_ensemble_fit(dataset *d)
{
    enum { V0 = 14, V = 8 };
    for (int t = V0; t < V0 + V; t++)
        d->tiers[t] = TIER_VALIDATION;
    session_fit_settings s;
    memset(&s, 0, sizeof s);
    model_config_default(&s.model);
    s.model.kind = MODEL_CNN;
    s.model.height = H;
    s.model.width = W;
    s.model.neurons = N;
    s.model.layers = 1;
    s.model.channels = 2;
    s.model.kernel[0] = 3;
    s.model.seed = 4;
    fit_options_default(&s.fit);
    s.fit.max_epochs = 2;
    s.fit.batch_size = 8;
    s.fit.threads = 1;
    s.fit.seed = 4;
    mei_options_default(&s.mei);
    s.mei.steps = 5;
    s.mei.starts = 1;
    s.mei.threads = 1;
    s.objective = MEI_SINGLE;
    s.contrast = 0.1f;
    s.target_count = 2;
    s.min_correlation = -2.0f; /* any neuron: the fit is too short to choose by */
    s.controls = PROTOCOL_CONTROL_BEST_NATURAL;
    s.ensemble = 2;
    session_fit_result r;
    char err[CONTROLLER_ERR_SIZE];
    int ok = !session_fit_and_synthesize(d, &s, NULL, 0, NULL, 0, &r, err);
    CHECK(ok && r.n_models == 2 && r.members[0] == r.model && r.members[1],
          "model.ensemble 2: two models fitted: %s", ok ? "" : err);
    if (!ok)
        return;
    /* The validation trials predicted by each member, one at a time. */
    float a[V * N], b[V * N];
    for (int t = 0; t < V; t++) {
        model_predict(r.members[0], d->images + (size_t)(V0 + t) * H * W, 1, a + t * N, err);
        model_predict(r.members[1], d->images + (size_t)(V0 + t) * H * W, 1, b + t * N, err);
    }
    int differ = 0;
    for (int i = 0; i < V * N; i++)
        differ |= a[i] != b[i];
    CHECK(differ, "the members differ (their own seeds)");
    /* The correlation of the mean prediction computed here in double; the
     * session's sums in float over 8 trials differ by a few float roundings
     * (1e-5 is far above them and far below the gap to model 0's alone). */
    int corr_ok = 1, discriminates = 0, compared = 0;
    for (int n = 0; n < N; n++) {
        double mean[V], first[V], resp[V];
        for (int t = 0; t < V; t++) {
            mean[t] = 0.5 * ((double)a[t * N + n] + b[t * N + n]);
            first[t] = a[t * N + n];
            resp[t] = d->responses[(size_t)(V0 + t) * N + n];
        }
        double want = pearson(mean, resp, V), alone = pearson(first, resp, V);
        printf("# neuron %d: session %.7f, mean here %.7f, model 0 alone %.7f\n", n,
               (double)r.validation_corr[n], want, alone);
        if (!isfinite(want)) /* constant predictions (a unit silent after 2 epochs) */
            continue;
        compared++;
        corr_ok &= fabs(r.validation_corr[n] - want) <= 1e-5;
        discriminates |= fabs(alone - want) > 1e-3;
    }
    CHECK(corr_ok && discriminates && compared >= 2, "validation correlation is the mean "
          "prediction's, not model 0's alone (%d neurons compared)", compared);
    /* The MEIs' recorded predictions: the mean of the members', made here one
     * image at a time as predict_stimuli does (the mean in float, the same
     * sum and scale as ensemble_predict: 1e-6 of a rate covers the order). */
    int pred_ok = r.n_targets == 2, present_ok = 1;
    for (int j = 0; pred_ok && j < r.n_targets; j++) {
        size_t mei = session_fit_slot(&r, j, STIMULUS_KIND_MEI);
        const float *x = r.stimuli + mei * H * W;
        float ra[N], rb[N];
        model_predict(r.members[0], x, 1, ra, err);
        model_predict(r.members[1], x, 1, rb, err);
        float want = 0.5f * (ra[r.targets[j]] + rb[r.targets[j]]);
        pred_ok &= fabsf(r.predicted[mei] - want) <= 1e-6f * (1 + fabsf(want));
        present_ok &= r.present[session_fit_slot(&r, j, STIMULUS_KIND_BEST_NATURAL)];
    }
    CHECK(pred_ok && present_ok, "the MEIs' predictions are the two models' mean; the best "
          "natural control made");
    /* Recorded and read back (resume): the member's file is the member. */
    char dir[] = "/tmp/test_session_eval_XXXXXX", path[256];
    session_record *w = NULL;
    ok = mkdtemp(dir) && !session_record_create(dir, "ensemble", "version: 1\n", 11, &w, err) &&
         !session_fit_record_model(w, dir, d, &r, err);
    if (w)
        session_record_close(w, err);
    char name[64];
    session_fit_member_file(1, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    model *back = NULL;
    ok = ok && !model_load(&back, path, err);
    float c[V * N];
    if (ok) {
        model_predict(back, d->images + (size_t)V0 * H * W, V, c, err);
        model_predict(r.members[1], d->images + (size_t)V0 * H * W, V, b, err);
    }
    CHECK(ok && !memcmp(b, c, sizeof b), "member 1 recorded as %s and read back as it was: %s",
          name, ok ? "" : err);
    model_destroy(back);
    remove_tree(dir);
    session_fit_result_free(&r);
}

int main(void)
{
    dataset d;
    make_dataset(&d);
    model_config c;
    model_config_default(&c);
    c.kind = MODEL_CNN;
    c.height = H;
    c.width = W;
    c.neurons = N;
    c.layers = 1;
    c.channels = 2;
    c.kernel[0] = 3;
    c.seed = 4;
    model *m;
    char err[CONTROLLER_ERR_SIZE];
    CHECK(!model_create(&m, &c, err), "a small model");

    neuron_metrics nm[N];
    int trials = -1;
    CHECK(!session_fit_evaluate_tier(m, &d, TIER_TEST, nm, &trials, err) && trials == 8,
          "the test tier: its 8 trials evaluated (%d)", trials);

    /* The independent side: each test trial predicted alone. */
    double pred[8][N], resp[8][N];
    for (int k = 0; k < 8; k++) {
        float rates[N];
        model_predict(m, d.images + (size_t)(FIRST_TEST + k) * H * W, 1, rates, err);
        for (int n = 0; n < N; n++) {
            pred[k][n] = rates[n];
            resp[k][n] = d.responses[(size_t)(FIRST_TEST + k) * N + n];
        }
    }
    for (int n = 0; n < N; n++) {
        double p[8], r[8], pa[4], ra[4];
        for (int k = 0; k < 8; k++) {
            p[k] = pred[k][n];
            r[k] = resp[k][n];
        }
        for (int i = 0; i < 4; i++) {
            pa[i] = p[i];
            ra[i] = (r[i] + r[i + 4]) / 2;
        }
        CHECK_CLOSE(nm[n].single_trial_corr, pearson(p, r, 8), 1e-4,
                    "neuron %d: single-trial correlation as computed here", n);
        CHECK_CLOSE(nm[n].corr_to_average, pearson(pa, ra, 4), 1e-4,
                    "neuron %d: correlation to the average over repeats as computed here", n);
    }

    neuron_metrics untouched[N];
    for (int n = 0; n < N; n++)
        untouched[n].feve = 42.0f;
    CHECK(!session_fit_evaluate_tier(m, &d, TIER_VALIDATION, untouched, &trials, err) &&
              trials == 1 && untouched[0].feve == 42.0f && untouched[N - 1].feve == 42.0f,
          "a tier of one trial: counted, nothing computed");

    model_destroy(m);
    test_ensemble_fit(&d);
    dataset_free(&d);
    return test_done();
}
