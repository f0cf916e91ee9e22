/* test_sound_mei.c: the auditory model path end to end, small: the existing
 * core + readout fitted (model_fit) on cochleagrams of the simulated
 * auditory population's clips learns; a most exciting sound climbs the
 * fitted model's prediction at the level budget; clips written as WAV (and
 * FLAC) read back through libsndfile. */
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
    for (int k = 0; k < 2; k++) {
        memcpy(one, two + (size_t)k * S, sizeof(float) * S);
        CHECK(sound_mei(m, g, 1, &shortrun, one, &single[k], err) == 0, "start %d (%s)", k, err);
    }
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

    /* WAV: float samples exactly; FLAC: 24 bits (2^-23 of full scale). */
    char dir[] = "/tmp/test_sound_mei_XXXXXX", path[512];
    if (mkdtemp(dir)) {
        float *back;
        int frames;
        err[0] = '\0';
        snprintf(path, sizeof path, "%s/mei.wav", dir);
        CHECK(sound_file_write(path, mei, S, 16000, err) == 0 &&
                  sound_file_read(path, 16000, &back, &frames, err) == 0 && frames == S &&
                  memcmp(back, mei, sizeof(float) * S) == 0,
              "WAV holds the samples exactly (%s)", err);
        if (frames == S)
            free(back);
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
