/* test_auditory.c: the simulated auditory population (model/auditory.c).
 * Rates are recomputed here from each cell's published ground truth with the
 * formulas at the top of auditory.c (on cochleagrams from cochleagram.c,
 * tested in test_cochleagram); gradients against finite differences; optima
 * against natural clips and against searches that try to beat them. */
#include "model.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEURONS 8
#define CLIPS 48

typedef struct cell_target {
    auditory_population *p;
    int n;
} cell_target;

static double objective(const float *clip, float *grad, void *user)
{
    cell_target *t = user;
    return auditory_cell_gradient(t->p, t->n, clip, grad);
}

static double recompute(const auditory_population *p, int n, const float *S, int B, int T)
{
    const auditory_cell *c = auditory_population_cell(p, n);
    double d = 0;
    if (c->type == AUDITORY_STRF) {
        const float *K;
        int lags;
        auditory_population_kernel(p, n, &K, &lags);
        for (int t = lags - 1; t < T; t++) {
            double v = 0;
            for (int b = 0; b < B; b++)
                for (int l = 0; l < lags; l++)
                    v += (double)K[b * lags + l] * S[b * T + t - l];
            d += v > 0 ? v : 0;
        }
        d /= T - lags + 1;
    } else if (c->type == AUDITORY_FACILITATION) {
        for (int t = 0; t < T; t++) {
            double a = S[c->band * T + t] - c->threshold, b = S[c->band2 * T + t] - c->threshold;
            d += a > 0 && b > 0 ? sqrt(a * b) : 0;
        }
        d /= T;
    } else if (c->type == AUDITORY_ONSET) {
        for (int t = 1; t < T; t++) {
            double u = 0, v = 0;
            for (int b = c->band; b <= c->band2; b++) {
                u += S[b * T + t];
                v += S[b * T + t - 1];
            }
            double x = c->polarity * (u - v) / (c->band2 - c->band + 1) - c->threshold;
            d += x > 0 ? x : 0;
        }
        d /= T - 1;
    } else {
        for (int t = 0; t < T; t++) {
            double e = S[c->band * T + t] - c->best_level;
            d += exp(-e * e / (2.0 * c->level_width * c->level_width));
        }
        d /= T;
    }
    return c->offset + c->gain * d;
}

int main(void)
{
    char err[MODEL_ERR_SIZE] = "";
    auditory_config cfg;
    auditory_config_default(&cfg);
    cfg.neurons = NEURONS;
    cfg.seed = 5;
    auditory_population *p, *q;
    int made = auditory_population_create(&p, &cfg, err) == 0;
    CHECK(made, "population of 8 (%s)", err);
    if (!made)
        return test_done();
    made = auditory_population_create(&q, &cfg, err) == 0;
    CHECK(made, "and again (%s)", err);
    if (!made)
        return test_done();
    int same = 1, types = 1;
    for (int n = 0; n < NEURONS; n++) {
        same &= memcmp(auditory_population_cell(p, n), auditory_population_cell(q, n),
                       sizeof(auditory_cell)) == 0;
        types &= (int)auditory_population_cell(p, n)->type == n % AUDITORY_CELL_TYPES;
    }
    auditory_population_destroy(q);
    CHECK(same, "the same seed draws the same cells");
    CHECK(types, "types cycle strf, facilitation, onset, level");

    int S = cfg.cochlea.samples;
    cochleagram *g;
    cochleagram_create(&g, &cfg.cochlea, err);
    int B = cfg.cochlea.bands, T = cochleagram_frames(g);
    float *clips = malloc(sizeof(float) * CLIPS * S), *images = malloc(sizeof(float) * CLIPS * B * T);
    float *rates = malloc(sizeof(float) * CLIPS * NEURONS);
    clip_synthetic(clips, CLIPS, S, cfg.cochlea.sample_rate, cfg.rms_db, cfg.ramp_ms, 99, NULL, err);
    cochleagram_forward(g, images, clips, CLIPS);
    auditory_population_rates(p, clips, CLIPS, rates);

    /* Rates from the formulas; float drives summed in double here and in the
     * library (the same order), so only the final float rounding differs. */
    double worst = 0;
    for (int i = 0; i < CLIPS; i++)
        for (int n = 0; n < NEURONS; n++)
            worst = fmax(worst, fabs(recompute(p, n, images + i * B * T, B, T) -
                                     rates[i * NEURONS + n]) /
                                    fmax(1, fabs(rates[i * NEURONS + n])));
    CHECK(worst < 1e-5, "rates follow the documented formulas (worst relative %.2g)", worst);

    /* STRF kernels: zero-mean, unit norm. */
    const float *K;
    int lags;
    CHECK(auditory_population_kernel(p, 0, &K, &lags) == 0, "cell 0 has an STRF");
    double sum = 0, norm = 0;
    for (int i = 0; i < B * lags; i++) {
        sum += K[i];
        norm += (double)K[i] * K[i];
    }
    CHECK(fabs(sum) < 1e-4 && fabs(norm - 1) < 1e-4, "STRF zero-mean (%.2g), unit norm (%.6f)",
          sum, norm);
    CHECK(auditory_population_kernel(p, 1, &K, &lags) == 1, "a facilitation cell has none");

    /* Natural clips drive every cell: mean rates between 0.1 and 20, and the
     * loudest natural response above the offset. */
    int driven = 1;
    double lo = 1e9, hi = 0;
    double best_natural[NEURONS];
    for (int n = 0; n < NEURONS; n++) {
        double mean = 0, top = 0;
        for (int i = 0; i < CLIPS; i++) {
            mean += rates[i * NEURONS + n] / CLIPS;
            top = fmax(top, rates[i * NEURONS + n]);
        }
        best_natural[n] = top;
        lo = fmin(lo, mean);
        hi = fmax(hi, mean);
        driven &= top > auditory_population_cell(p, n)->offset + 1;
    }
    CHECK(lo >= 0.1 && hi <= 20, "mean rates over natural clips in 0.1..20 (%.2f..%.2f)", lo, hi);
    CHECK(driven, "natural clips drive every cell at least a spike above its offset");

    /* Poisson counts: 400 draws of one clip average to its rate within 4
     * standard errors (sqrt(rate / 400)). */
    model_rng rng;
    model_rng_seed(&rng, 1);
    float *counts = malloc(sizeof(float) * 400 * NEURONS), *rep = malloc(sizeof(float) * 400 * S);
    for (int i = 0; i < 400; i++)
        memcpy(rep + (size_t)i * S, clips, sizeof(float) * S);
    auditory_population_sample(p, rep, 400, &rng, counts);
    int poisson = 1, integer = 1;
    for (int n = 0; n < NEURONS; n++) {
        double m = 0;
        for (int i = 0; i < 400; i++) {
            m += counts[i * NEURONS + n] / 400;
            integer &= counts[i * NEURONS + n] == floorf(counts[i * NEURONS + n]);
        }
        poisson &= fabs(m - rates[n]) < 4 * sqrt(rates[n] / 400) + 1e-3;
    }
    CHECK(poisson && integer, "Poisson counts: whole numbers averaging to the rate");
    free(counts);
    free(rep);

    /* Gradients with respect to the cochleagram: the directional derivative
     * along a random direction against a central difference with h = 1e-3
     * nats per unit of a direction of RMS 1. The drives are piecewise
     * smooth (rectified): few frames sit within 1e-3 of a kink, and each
     * moves the mean over 39..48 frames by at most h × its slope. Rates are
     * float (ulp ~1e-6 of ~10): FD noise 1e-6 / 2e-3 = 5e-4 absolute. */
    int BT = B * T;
    float *dimg = malloc(sizeof(float) * BT), *ip = malloc(sizeof(float) * BT);
    float *im = malloc(sizeof(float) * BT);
    double worst_grad = 0;
    for (int n = 0; n < NEURONS; n++) {
        const float *s0 = images + (size_t)(n % CLIPS) * BT;
        auditory_cell_gradient_image(p, n, s0, dimg);
        double dot = 0, h = 1e-3;
        for (int i = 0; i < BT; i++) {
            double d = model_rng_normal(&rng);
            ip[i] = (float)(s0[i] + h * d);
            im[i] = (float)(s0[i] - h * d);
            dot += (double)dimg[i] * ((double)ip[i] - im[i]) / (2 * h);
        }
        float rp[NEURONS], rm[NEURONS];
        auditory_population_rates_image(p, ip, 1, rp);
        auditory_population_rates_image(p, im, 1, rm);
        double fd = ((double)rp[n] - rm[n]) / (2 * h);
        worst_grad = fmax(worst_grad, fabs(fd - dot) / fmax(fabs(fd), 1));
    }
    CHECK(worst_grad < 0.01, "cell gradients on the cochleagram match finite differences "
          "(worst relative %.3g)", worst_grad);
    /* ... and the samples' gradient is the cochleagram's backward pass of it
     * (the same float operations: equal to rounding). */
    float *grad = malloc(sizeof(float) * S), *back = malloc(sizeof(float) * S);
    int driving = 0; /* a clip that drives the facilitation cell 1 (else its gradient is 0) */
    while (driving < CLIPS - 1 && rates[driving * NEURONS + 1] <
                                      auditory_population_cell(p, 1)->offset + 0.5)
        driving++;
    auditory_cell_gradient(p, 1, clips + (size_t)driving * S, grad);
    auditory_cell_gradient_image(p, 1, images + (size_t)driving * BT, dimg);
    cochleagram_backward(g, back, dimg, clips + (size_t)driving * S, 1);
    double gworst = 0, glargest = 0;
    for (int i = 0; i < S; i++) {
        gworst = fmax(gworst, fabs(grad[i] - back[i]));
        glargest = fmax(glargest, fabs(back[i]));
    }
    CHECK(glargest > 0 && gworst <= 1e-6 * glargest,
          "the samples' gradient is the cochleagram's backward of the image gradient");
    free(dimg);
    free(ip);
    free(im);
    free(back);

    /* Optima at the budget. */
    clip_ascent_options search;
    auditory_search_default(p, &search);
    search.steps = 150;
    search.step_size = 0.1;
    float *opt = malloc(sizeof(float) * S);
    int beat_natural = 1, at_budget = 1;
    for (int n = 0; n < NEURONS; n++) {
        double rate;
        int known;
        const auditory_cell *c = auditory_population_cell(p, n);
        if (auditory_cell_optimum(p, n, &search, opt, &rate, &known, err)) {
            CHECK(0, "optimum of cell %d: %s", n, err);
            continue;
        }
        at_budget &= fabs(clip_rms_db(opt, S) - cfg.rms_db) < 1e-4 && opt[0] == 0;
        beat_natural &= rate >= best_natural[n] * 0.999;
        float r[NEURONS];
        auditory_population_rates(p, opt, 1, r);
        if (c->type == AUDITORY_LEVEL) {
            CHECK(known && rate == c->offset + c->gain && r[n] > 0.98 * rate,
                  "level cell %d: supremum %.2f, the built clip reaches %.2f", n, rate, r[n]);
        } else if (c->type == AUDITORY_FACILITATION) {
            /* Known to about 1%: ascents from noise and from the optimum itself
             * must not beat it by 2%. */
            float *y = malloc(sizeof(float) * S);
            cell_target t = {p, n};
            clip_ascent_options o2 = search;
            o2.steps = 300;
            o2.step_size = 0.05;
            double from_noise = 0, from_optimum = 0;
            for (int i = 0; i < S; i++)
                y[i] = (float)model_rng_normal(&rng);
            clip_ascend(y, S, &o2, objective, &t, &from_noise, err);
            memcpy(y, opt, sizeof(float) * S);
            clip_ascend(y, S, &o2, objective, &t, &from_optimum, err);
            free(y);
            CHECK(from_noise < 1.02 * rate && from_optimum < 1.02 * rate,
                  "facilitation cell %d: searches reach %.3f and %.3f of the known optimum", n,
                  from_noise / rate, from_optimum / rate);
            CHECK(known && fabs(r[n] - rate) < 1e-3 * rate, "facilitation cell %d: two tones "
                  "give %.2f (best natural %.2f)", n, rate, best_natural[n]);
        } else {
            CHECK(!known && fabs(r[n] - rate) < 1e-3 * rate, "%s cell %d: searched optimum "
                  "%.2f (best natural %.2f)", auditory_cell_type_name(c->type), n, rate,
                  best_natural[n]);
        }
    }
    CHECK(at_budget, "every optimum is at -30 dBFS and ramped");
    CHECK(beat_natural, "every optimum drives its cell at least as well as the best natural clip");
    free(opt);
    free(grad);
    free(clips);
    free(images);
    free(rates);
    cochleagram_destroy(g);
    auditory_population_destroy(p);
    return test_done();
}
