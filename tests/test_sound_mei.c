/* test_sound_mei.c: the auditory model path end to end, small: the existing
 * core + readout fitted (model_fit) on cochleagrams of the simulated
 * auditory population's clips learns; a most exciting sound climbs the
 * fitted model's prediction at the level budget; the pure-tone control is
 * the tone on its grid the model prefers; clips written as WAV (and FLAC)
 * read back through libsndfile. */
#include "stimulus.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEURONS 4

/* Mean over neurons of the correlation between predictions and responses on
 * the validation trials. */
static double validation_corr(model *m, const dataset *d)
{
    int pixels = d->height * d->width, v = dataset_count_tier(d, TIER_VALIDATION), k = 0;
    float *img = malloc(sizeof(float) * (size_t)v * pixels);
    float *resp = malloc(sizeof(float) * (size_t)v * NEURONS);
    float *pred = malloc(sizeof(float) * (size_t)v * NEURONS), corr[NEURONS];
    for (int t = 0; t < d->trials; t++)
        if (d->tiers[t] == TIER_VALIDATION) {
            memcpy(img + (size_t)k * pixels, d->images + (size_t)t * pixels, sizeof(float) * pixels);
            memcpy(resp + (size_t)k * NEURONS, d->responses + (size_t)t * NEURONS,
                   sizeof(float) * NEURONS);
            k++;
        }
    char err[MODEL_ERR_SIZE];
    double mean = 0;
    if (model_predict(m, img, v, pred, err) == 0) {
        metrics_correlation(pred, resp, v, NEURONS, corr);
        for (int n = 0; n < NEURONS; n++)
            mean += corr[n] / NEURONS;
    }
    free(img);
    free(resp);
    free(pred);
    return mean;
}

/* The pure-tone control (sound_tone_grid, sound_best_tones, clip_tone). */
static void pure_tones(model *m, cochleagram *g, const auditory_config *pc, char *err)
{
    const cochleagram_config *c = &pc->cochlea;
    int S = c->samples, rate = c->sample_rate, G = 0;
    double *hz = NULL;
    err[0] = '\0';
    CHECK(sound_tone_grid(g, &hz, &G, err) == 0, "tone grid (%s)", err);
    if (!hz)
        return;
    /* The band peaks from the published formula (HTK mel, 2595 log10(1 +
     * f/700); bands + 2 edges equally spaced on it), not the cochleagram's:
     * each band's peak has a grid frequency within 1/8 of its narrower half
     * (peak to edge) in log frequency, and the grid is log-spaced from the
     * low edge to the high one. */
    double mlo = 2595 * log10(1 + c->low_hz / 700), mhi = 2595 * log10(1 + c->high_hz / 700);
    int near = 1, even = 1;
    for (int b = 0; b < c->bands; b++) {
        double e[3];
        for (int k = 0; k < 3; k++)
            e[k] = 700 * (pow(10, (mlo + (mhi - mlo) * (b + k) / (c->bands + 1)) / 2595) - 1);
        double half = fmin(log(e[1] / e[0]), log(e[2] / e[1])), nearest = INFINITY;
        for (int i = 0; i < G; i++)
            nearest = fmin(nearest, fabs(log(hz[i] / e[1])));
        near &= nearest <= half / 8 * (1 + 1e-9);
    }
    for (int i = 2; i < G; i++) /* equal ratios, to double rounding */
        even &= fabs(log(hz[i] / hz[i - 1]) - log(hz[1] / hz[0])) < 1e-9;
    CHECK(near && even && fabs(hz[0] - c->low_hz) < 1e-6 && fabs(hz[G - 1] - c->high_hz) < 1e-3,
          "%d log-spaced frequencies %.1f..%.1f Hz: every band's peak within 1/8 of its "
          "half-width of one", G, hz[0], hz[G - 1]);

    /* Each neuron's tone: the grid frequency the model predicts highest, as
     * a search over the grid here finds it; the clip a steady sine of that
     * frequency (x[i-1] + x[i+1] = 2 cos(w) x[i] between the ramps, float
     * rounding), ramped, at the budget. */
    int neurons[NEURONS] = {0, 1, 2, 3}, want[NEURONS] = {0, 0, 0, 0};
    double got_hz[NEURONS], predicted[NEURONS], top[NEURONS];
    float *tones = malloc(sizeof(float) * NEURONS * S), *x = malloc(sizeof(float) * S);
    float *img = malloc(sizeof(float) * c->bands * cochleagram_frames(g)), r[NEURONS];
    int ramp = (int)lround(pc->ramp_ms * 1e-3 * rate);
    CHECK(sound_best_tones(&m, 1, g, neurons, NEURONS, pc->rms_db, ramp, tones, got_hz,
                           predicted, err) == 0, "best tones (%s)", err);
    for (int n = 0; n < NEURONS; n++)
        top[n] = -INFINITY;
    for (int i = 0; i < G; i++) {
        clip_tone(x, S, rate, hz[i], ramp, pc->rms_db, err);
        cochleagram_forward(g, img, x, 1);
        model_predict(m, img, 1, r, err);
        for (int n = 0; n < NEURONS; n++)
            if (r[n] > top[n]) {
                top[n] = r[n];
                want[n] = i;
            }
    }
    int chosen = 1, steady = 1, budget = 1;
    for (int n = 0; n < NEURONS; n++) {
        const float *t = tones + (size_t)n * S;
        /* The search's rates come one image at a time, the function's in
         * batches: BLAS may sum in another order (float rounding), so a
         * near tie may fall the other way; the rate must then agree. */
        chosen &= fabs(got_hz[n] - hz[want[n]]) < 1e-9 ||
                  fabs(predicted[n] - top[n]) < 1e-4 * fabs(top[n]);
        double w = 2 * M_PI * got_hz[n] / rate, worst = 0;
        for (int i = ramp + 1; i < S - ramp - 1; i++)
            worst = fmax(worst, fabs(t[i - 1] + t[i + 1] - 2 * cos(w) * t[i]));
        steady &= worst < 1e-5 * pow(10, pc->rms_db / 20);
        budget &= fabs(clip_rms_db(t, S) - pc->rms_db) < 1e-4 && t[0] == 0 && t[S - 1] == 0;
    }
    CHECK(chosen, "each neuron's tone is the grid frequency the model predicts highest "
          "(%.0f, %.0f, %.0f, %.0f Hz)", got_hz[0], got_hz[1], got_hz[2], got_hz[3]);
    CHECK(steady && budget, "each a steady sine of that frequency, ramped, at %.1f dBFS",
          pc->rms_db);
    CHECK(clip_tone(x, S, rate, rate / 2.0, ramp, pc->rms_db, err) && strstr(err, "Nyquist"),
          "a tone at the Nyquist frequency is refused (%s)", err);
    free(tones);
    free(x);
    free(img);
    free(hz);
}

int main(void)
{
    char err[STIMULUS_ERR_SIZE] = "";
    auditory_dataset_options o;
    auditory_dataset_options_default(&o);
    o.population.neurons = NEURONS; /* one of each type */
    o.population.seed = 3;
    o.train_clips = 400;
    o.validation_fraction = 0.2f;
    o.test_clips = 4;
    o.test_repeats = 2;
    dataset d;
    float *clips;
    int made = auditory_dataset(&o, &d, &clips, err) == 0;
    CHECK(made, "simulated recording of 400 clips (%s)", err);
    if (!made)
        return test_done();
    CHECK(d.height == 32 && d.width == 48 && d.neurons == NEURONS,
          "images are 32 bands × 48 frames");

    model_config mc;
    model_config_default(&mc);
    mc.height = d.height;
    mc.width = d.width;
    mc.neurons = NEURONS;
    mc.layers = 2;
    mc.channels = 8;
    mc.kernel[0] = 7;
    mc.kernel[1] = 5;
    /* A cell's drive is a mean over the whole clip: a factorized readout's
     * mask can spread over all frames, a Gaussian readout's point cannot. */
    mc.readout = READOUT_FACTORIZED;
    model *m;
    CHECK(model_create(&m, &mc, err) == 0, "model for cochleagrams (%s)", err);
    fit_options f;
    fit_options_default(&f);
    f.max_epochs = 4;
    f.threads = 2;
    double before = validation_corr(m, &d);
    fit_report report;
    CHECK(model_fit(m, &d, &f, &report, err) == 0, "fitted (%s)", err);
    double after = validation_corr(m, &d);
    /* 4 epochs over 320 clips: a model that learns reaches a validation
     * correlation well above the untrained one's (near 0; Poisson noise of
     * ~2..6 spikes caps it below 1). */
    CHECK(after > 0.4 && after > before + 0.2,
          "it learns: validation correlation %.3f after 4 epochs (%.3f untrained)", after, before);

    /* A most exciting sound for neuron 0 (the STRF cell), from the natural
     * clip the model predicts it likes most, 40 steps. */
    cochleagram *g;
    cochleagram_create(&g, &o.population.cochlea, err);
    int S = o.population.cochlea.samples, distinct = o.train_clips + o.test_clips;
    float *pred = malloc(sizeof(float) * (size_t)distinct * NEURONS);
    float *img = malloc(sizeof(float) * (size_t)distinct * d.height * d.width);
    cochleagram_forward(g, img, clips, distinct);
    model_predict(m, img, distinct, pred, err);
    int best = 0;
    for (int i = 1; i < distinct; i++)
        if (pred[i * NEURONS] > pred[best * NEURONS])
            best = i;
    float *mei = malloc(sizeof(float) * S);
    memcpy(mei, clips + (size_t)best * S, sizeof(float) * S);
    clip_ascent_options a = {.rms_db = o.population.rms_db, .ramp = 80, .steps = 40,
                             .step_size = 0.05};
    double predicted = 0;
    CHECK(sound_mei(m, g, 0, &a, mei, &predicted, err) == 0, "sound MEI (%s)", err);
    float check[NEURONS];
    cochleagram_forward(g, img, mei, 1);
    model_predict(m, img, 1, check, err);
    CHECK(predicted > 1.05 * pred[best * NEURONS] && fabs(check[0] - predicted) < 1e-3 * predicted,
          "the MEI's predicted rate %.2f passes the best natural clip's %.2f", predicted,
          pred[best * NEURONS]);
    CHECK(fabs(clip_rms_db(mei, S) - o.population.rms_db) < 1e-4 && mei[0] == 0 && mei[S - 1] == 0,
          "at the budget (%.5f dBFS) and ramped", clip_rms_db(mei, S));
    model_config other = mc;
    other.width = 40;
    model *wrong;
    model_create(&wrong, &other, err);
    /* From two starts (the best-predicted clip and clip 1), 20 steps each:
     * the one whose ascent the model predicts highest, as two single
     * ascents find it. Tolerance: the same code on the same input, but
     * BLAS may sum in another order between calls (float rounding). */
    clip_ascent_options shortrun = a;
    shortrun.steps = 20;
    float *two = malloc(sizeof(float) * 2 * S), *one = malloc(sizeof(float) * S);
    double single[2] = {0, 0}, multi = 0;
    memcpy(two, clips + (size_t)best * S, sizeof(float) * S);
    memcpy(two + S, clips + (size_t)1 * S, sizeof(float) * S);
    float *singles = malloc(sizeof(float) * 2 * S);
    for (int k = 0; k < 2; k++) {
        memcpy(one, two + (size_t)k * S, sizeof(float) * S);
        CHECK(sound_mei(m, g, 1, &shortrun, one, &single[k], err) == 0, "start %d (%s)", k, err);
        memcpy(singles + (size_t)k * S, one, sizeof(float) * S);
    }
    /* Both starts as one batch (sound_mei_batch: one cochleagram and model
     * pass per step for the two), 3 steps: each clip climbs as it does alone.
     * Not to the bit in general: the model's BLAS products are shaped by the
     * batch and may sum in another order (float rounding, ~1e-7 relative),
     * and the ascent amplifies such a difference about 3-fold a step
     * (measured with bench_sound_mei --out: 1e-6 of the RMS after 1 step,
     * 2e-5 after 3, 2e-2 after 10), so a short run is compared: 1e-3 of the
     * budget's RMS on any sample and 1e-4 relative on the rate are far above
     * that and far below what a wrong gradient or step gives (a step moves
     * samples by ~0.05 RMS). */
    {
        clip_ascent_options three = a;
        three.steps = 3;
        float *batch = malloc(sizeof(float) * 2 * S);
        double values[2] = {0, 0}, alone[2] = {0, 0}, rms = pow(10, o.population.rms_db / 20);
        double worst = 0;
        int neurons[2] = {1, 0}, status = 0;
        for (int k = 0; k < 2; k++) {
            memcpy(singles + (size_t)k * S, two + (size_t)k * S, sizeof(float) * S);
            status |= sound_mei(m, g, neurons[k], &three, singles + (size_t)k * S, &alone[k], err);
        }
        memcpy(batch, two, sizeof(float) * 2 * S);
        status |= sound_mei_batch(&m, 1, g, neurons, 2, &three, batch, values, err);
        for (size_t i = 0; i < 2 * (size_t)S; i++)
            worst = fmax(worst, fabs(batch[i] - singles[i]));
        CHECK(status == 0 && fabs(values[0] - alone[0]) < 1e-4 * fabs(alone[0]) &&
                  fabs(values[1] - alone[1]) < 1e-4 * fabs(alone[1]) && worst < 1e-3 * rms,
              "a batch of two (neurons 1 and 0) climbs as each alone (%.4f %.4f; alone %.4f "
              "%.4f; largest sample difference %.2e of the RMS; %s)", values[0], values[1],
              alone[0], alone[1], worst / rms, status ? err : "");
        neurons[1] = NEURONS;
        CHECK(sound_mei_batch(&m, 1, g, neurons, 2, &three, batch, values, err) &&
                  strstr(err, "neuron 4 of 4"), "a batch with a neuron outside the model is "
              "refused (%s)", err);
        free(batch);
    }
    free(singles);
    int chosen = -1;
    CHECK(sound_mei_from_starts(&m, 1, g, 1, &shortrun, two, 2, one, &multi, &chosen, err) == 0,
          "from two starts (%s)", err);
    int expect = single[1] > single[0];
    cochleagram_forward(g, img, one, 1);
    model_predict(m, img, 1, check, err);
    CHECK(chosen == expect && fabs(multi - single[expect]) < 1e-4 * fabs(single[expect]) &&
              fabs(check[1] - multi) < 1e-3 * fabs(multi),
          "two starts keep the better (start %d: %.3f; singles %.3f, %.3f; model %.3f)", chosen,
          multi, single[0], single[1], check[1]);
    /* An ensemble of one model twice is that model: (a + a) / 2 = a exactly,
     * so the same ascent up to BLAS's summation order. */
    model *twice[2] = {m, m};
    double ensemble_value = 0;
    memcpy(one, two, sizeof(float) * S);
    CHECK(sound_mei_ensemble(twice, 2, g, 1, &shortrun, one, &ensemble_value, err) == 0 &&
              fabs(ensemble_value - single[0]) < 1e-4 * fabs(single[0]),
          "an ensemble of the model twice climbs as the model (%.3f, %.3f; %s)", ensemble_value,
          single[0], err);
    twice[1] = wrong;
    CHECK(sound_mei_ensemble(twice, 2, g, 1, &shortrun, one, &ensemble_value, err),
          "an ensemble of models of two image sizes is refused (%s)", err);
    CHECK(sound_mei_from_starts(&m, 1, g, 1, &shortrun, two, 0, one, &multi, &chosen, err) &&
              strstr(err, "no start"), "no start is refused (%s)", err);
    free(two);
    free(one);
    CHECK(sound_mei(wrong, g, 0, &a, mei, &predicted, err) && strstr(err, "48 frames"),
          "a model of another image size is refused (%s)", err);
    model_destroy(wrong);

    pure_tones(m, g, &o.population, err);

    /* WAV: float samples exactly; FLAC: 24 bits (2^-23 of full scale). */
    char dir[] = "/tmp/test_sound_mei_XXXXXX", path[512];
    if (mkdtemp(dir)) {
        float *back = NULL; /* stays NULL unless a read succeeds */
        int frames = 0;
        err[0] = '\0';
        snprintf(path, sizeof path, "%s/mei.wav", dir);
        CHECK(sound_file_write(path, mei, S, 16000, err) == 0 &&
                  sound_file_read(path, 16000, &back, &frames, err) == 0 && frames == S &&
                  memcmp(back, mei, sizeof(float) * S) == 0,
              "WAV holds the samples exactly (%s)", err);
        free(back);
        back = NULL;
        remove(path);
        snprintf(path, sizeof path, "%s/mei.flac", dir);
        double worst = 1;
        if (sound_file_write(path, mei, S, 16000, err) == 0 &&
            sound_file_read(path, 16000, &back, &frames, err) == 0 && frames == S) {
            worst = 0;
            for (int i = 0; i < S; i++)
                worst = fmax(worst, fabs(back[i] - mei[i]));
            free(back);
        }
        CHECK(worst <= 1.0 / (1 << 23), "FLAC within one 24-bit step (%.3g)", worst);
        remove(path);
        snprintf(path, sizeof path, "%s/mei.mp3", dir);
        CHECK(sound_file_write(path, mei, S, 16000, err) && strstr(err, ".wav or .flac"),
              "other extensions refused (%s)", err);
        mei[5] = 1.5f;
        snprintf(path, sizeof path, "%s/loud.wav", dir);
        CHECK(sound_file_write(path, mei, S, 16000, err) && strstr(err, "sample 5"),
              "a sample past full scale is refused (%s)", err);
        rmdir(dir);
    }
    free(mei);
    free(pred);
    free(img);
    free(clips);
    cochleagram_destroy(g);
    model_destroy(m);
    dataset_free(&d);
    return test_done();
}
