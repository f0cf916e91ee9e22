/* test_session_eval.c: session_fit_evaluate_tier, the one path from a model
 * and a dataset's tier to per-neuron metrics that `inception run`, `replay`
 * and `fit`/`evaluate` share: its trial count, and its single-trial and
 * to-average correlations against ones computed here from predictions made
 * one trial at a time. */
#include "test.h"
#include "controller.h"

#include <math.h>
#include <stdlib.h>

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
    dataset_free(&d);
    return test_done();
}
