/* bench_audio.c: the auditory path against the simulated population's ground
 * truth (figures, not pass/fail; `meson compile -C build bench-audio`).
 *
 * A simulated recording (synthetic clips at -30 dBFS), the core + readout
 * fitted on its cochleagrams (factorized readout), test FEVE by cell type;
 * then per cell a most exciting sound (sound_mei from the natural clip the
 * model predicts best) and its true response over: the best natural clip's
 * (true responses over every clip of the recording), the cell's optimum
 * (auditory_cell_optimum: known for facilitation and level cells, searched
 * for the others) and a pure tone at the cell's best band's centre, all at
 * the same level. Medians by type.
 *
 * Usage: bench_audio [neurons train_clips epochs mei_steps [out_folder|-
 * [starts [step_size [models]]]]]: models > 1 fits an ensemble; starts > 1 takes the MEI from the `starts`
 * best-predicted natural clips and the model's best tone (chosen by the
 * model); out_folder gets WAVs, cochleagram PNGs and manifest.json. */
#include "commands/commands.h"
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static float median(float *v, int n)
{
    if (n == 0)
        return NAN;
    qsort(v, (size_t)n, sizeof(float), compare_float);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    int neurons = argc > 1 ? atoi(argv[1]) : 40, train = argc > 2 ? atoi(argv[2]) : 2000;
    int epochs = argc > 3 ? atoi(argv[3]) : 40, steps = argc > 4 ? atoi(argv[4]) : 300;
    const char *out_dir = argc > 5 && strcmp(argv[5], "-") ? argv[5] : NULL;
    int starts = argc > 6 ? atoi(argv[6]) : 1;
    double step_size = argc > 7 ? atof(argv[7]) : 0.05;
    int E = argc > 8 ? atoi(argv[8]) : 1;
    if (E < 1 || E > 8) {
        fprintf(stderr, "bench_audio: 1 to 8 models, not %d\n", E);
        return 1;
    }
    char err[STIMULUS_ERR_SIZE];
    setvbuf(stdout, NULL, _IOLBF, 0); /* each cell's line as it comes, into a file too */
    auditory_dataset_options o;
    auditory_dataset_options_default(&o);
    o.population.neurons = neurons;
    o.train_clips = train;
    o.test_clips = 50;
    o.test_repeats = 10;
    dataset d;
    float *clips;
    double t0 = now();
    if (auditory_dataset(&o, &d, &clips, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("recording: %d neurons, %d training clips, %d × %d cochleagrams (%.1f s)\n", neurons,
           train, d.height, d.width, now() - t0);
    model_config mc;
    model_config_default(&mc);
    mc.height = d.height;
    mc.width = d.width;
    mc.neurons = neurons;
    mc.channels = 16;
    mc.readout = READOUT_FACTORIZED;
    /* E models of the same architecture, weights and fit seeded apart: the
     * ensemble's mean rate is what the MEI climbs and the controls rank. */
    model *models[8];
    for (int e = 0; e < E; e++) {
        mc.seed += (uint64_t)e;
        if (model_create(&models[e], &mc, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        mc.seed -= (uint64_t)e;
        fit_options f;
        fit_options_default(&f);
        f.max_epochs = epochs;
        f.seed += (uint64_t)e;
        fit_report report;
        t0 = now();
        if (model_fit(models[e], &d, &f, &report, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        printf("fit %d: %d epochs, validation correlation %.3f (%.1f s)\n", e, report.epochs,
               report.best_validation_corr, now() - t0);
    }

    int pixels = d.height * d.width, nt = dataset_count_tier(&d, TIER_TEST), k = 0;
    float *img = malloc(sizeof(float) * (size_t)nt * pixels);
    float *resp = malloc(sizeof(float) * (size_t)nt * neurons);
    float *pred = malloc(sizeof(float) * (size_t)nt * neurons);
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)nt);
    for (int t = 0; t < d.trials; t++)
        if (d.tiers[t] == TIER_TEST) {
            memcpy(img + (size_t)k * pixels, d.images + (size_t)t * pixels, sizeof(float) * pixels);
            memcpy(resp + (size_t)k * neurons, d.responses + (size_t)t * neurons,
                   sizeof(float) * neurons);
            ids[k++] = d.image_ids[t];
        }
    ensemble_predict(models, E, img, nt, pred, err);
    neuron_metrics *nm = malloc(sizeof(neuron_metrics) * (size_t)neurons);
    metrics_evaluate(pred, resp, ids, nt, neurons, nm, err);
    int kept;
    double feve_mean = metrics_feve_mean(nm, neurons, &kept); /* before kept is read */
    printf("test FEVE %.3f over %d cells with FEV >= %.2f\n", feve_mean, kept, METRICS_FEV_MIN);

    auditory_population *p;
    auditory_population_create(&p, &o.population, err);
    cochleagram *g;
    cochleagram_create(&g, &o.population.cochlea, err);
    int S = o.population.cochlea.samples, distinct = o.train_clips + o.test_clips;
    float *truth = malloc(sizeof(float) * (size_t)distinct * neurons);
    float *predicted = malloc(sizeof(float) * (size_t)distinct * neurons);
    float *all = malloc(sizeof(float) * (size_t)distinct * pixels);
    auditory_population_rates(p, clips, distinct, truth);
    cochleagram_forward(g, all, clips, distinct);
    ensemble_predict(models, E, all, distinct, predicted, err);

    enum { TYPES = AUDITORY_CELL_TYPES, COLS = 7 };
    /* Columns, each a ratio per cell: the true response to the MEI over
     * [0] the best natural clip's, [1] the optimum's, [2] the MEI from the
     * single start (the best-predicted natural clip), [3] the true-cell
     * ascent from that same start over the optimum, [4] the model's pure
     * tone (best frequency, best level), [5] the model's linear optimum,
     * [6] a tone at the true best band, at the budget. */
    static const char *col_names[COLS] = {"best natural", "optimum", "single start",
                                          "truth ascent / optimum", "model tone", "linear optimum",
                                          "tone at true BF"};
    float *ratio[TYPES][COLS], *feve[TYPES];
    int count[TYPES] = {0}, above[TYPES][COLS] = {{0}};
    for (int t = 0; t < TYPES; t++) {
        for (int c = 0; c < COLS; c++)
            ratio[t][c] = malloc(sizeof(float) * neurons);
        feve[t] = malloc(sizeof(float) * neurons);
    }
    int feve_count[TYPES] = {0};
    int K = starts < 1 ? 1 : starts;
    float *x = malloc(sizeof(float) * S), *x1 = malloc(sizeof(float) * S);
    float *opt = malloc(sizeof(float) * S), *tone = malloc(sizeof(float) * S);
    float *bf = malloc(sizeof(float) * S);
    float *lin = malloc(sizeof(float) * S), *truth_x = malloc(sizeof(float) * S);
    float *begin = malloc(sizeof(float) * (size_t)(K + 1) * S), r[1024];
    enum { FREQS = 48, LEVELS = 11 };
    float *probe = malloc(sizeof(float) * (size_t)FREQS * S);
    float *probe_img = malloc(sizeof(float) * (size_t)FREQS * pixels);
    float *probe_pred = malloc(sizeof(float) * (size_t)FREQS * neurons);
    float *image = malloc(sizeof(float) * pixels), *dimage = malloc(sizeof(float) * pixels);
    float *weights = malloc(sizeof(float) * neurons), *grad = malloc(sizeof(float) * S);
    float *predicted_order = malloc(sizeof(float) * distinct);
    int ramp = (int)lround(o.population.ramp_ms * 1e-3 * 16000);
    clip_ascent_options a = {.rms_db = o.population.rms_db, .ramp = ramp, .steps = steps,
                             .step_size = step_size};
    clip_ascent_options search;
    auditory_search_default(p, &search);
    json_out manifest;
    json_t *cells_json = NULL;
    if (out_dir) {
        json_out_begin(&manifest);
        json_out_int(&manifest, manifest.root, "neurons", neurons);
        json_out_int(&manifest, manifest.root, "train_clips", train);
        json_out_int(&manifest, manifest.root, "epochs", epochs);
        json_out_int(&manifest, manifest.root, "steps", steps);
        json_out_int(&manifest, manifest.root, "starts", K);
        json_out_int(&manifest, manifest.root, "models", E);
        json_out_real(&manifest, manifest.root, "step_size", step_size);
        json_out_real(&manifest, manifest.root, "rms_dbfs", o.population.rms_db);
        json_out_int(&manifest, manifest.root, "sample_rate", 16000);
        cells_json = json_out_array(&manifest, manifest.root, "cells");
    }
    /* The probe tones: 48 frequencies log-spaced over the cochleagram's range. */
    double lo_hz = o.population.cochlea.low_hz, hi_hz = o.population.cochlea.high_hz;
    double freq[FREQS];
    for (int f = 0; f < FREQS; f++) {
        freq[f] = lo_hz * pow(hi_hz / lo_hz, (f + 0.5) / FREQS);
        clip_tone(probe + (size_t)f * S, S, 16000, freq[f], ramp, o.population.rms_db, err);
    }
    cochleagram_forward(g, probe_img, probe, FREQS);
    ensemble_predict(models, E, probe_img, FREQS, probe_pred, err);
    /* The neutral clip for the linear optimum: white noise at the budget. */
    float *neutral = malloc(sizeof(float) * S);
    model_rng rng;
    model_rng_seed(&rng, 12345);
    for (int i = 0; i < S; i++)
        neutral[i] = model_rng_normal(&rng);
    clip_ramp(neutral, S, ramp);
    clip_set_rms_db(neutral, S, o.population.rms_db, err);
    double mei_seconds = 0;
    for (int n = 0; n < neurons && n < 1024; n++) {
        const auditory_cell *c = auditory_population_cell(p, n);
        int t = c->type;
        if (nm[n].fev >= METRICS_FEV_MIN)
            feve[t][feve_count[t]++] = nm[n].feve;
        float best_true = 0;
        for (int i = 0; i < distinct; i++)
            best_true = fmaxf(best_true, truth[(size_t)i * neurons + n]);
        /* Starts: the K natural clips the model predicts highest, then the
         * model's best tone at the budget. */
        for (int i = 0; i < distinct; i++)
            predicted_order[i] = predicted[(size_t)i * neurons + n];
        int best_f = 0;
        for (int f = 1; f < FREQS; f++)
            if (probe_pred[(size_t)f * neurons + n] > probe_pred[(size_t)best_f * neurons + n])
                best_f = f;
        for (int k = 0; k < K; k++) {
            int top = 0;
            for (int i = 1; i < distinct; i++)
                if (predicted_order[i] > predicted_order[top])
                    top = i;
            memcpy(begin + (size_t)k * S, clips + (size_t)top * S, sizeof(float) * S);
            predicted_order[top] = -INFINITY;
        }
        int nstarts = K;
        if (K > 1)
            memcpy(begin + (size_t)nstarts++ * S, probe + (size_t)best_f * S, sizeof(float) * S);
        double value, value1, t1 = now();
        int chosen = 0;
        memcpy(x1, begin, sizeof(float) * S);
        if (sound_mei_ensemble(models, E, g, n, &a, x1, &value1, err)) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        if (nstarts > 1) {
            if (sound_mei_from_starts(models, E, g, n, &a, begin, nstarts, x, &value, &chosen,
                                      err)) {
                fprintf(stderr, "%s\n", err);
                continue;
            }
        } else {
            memcpy(x, x1, sizeof(float) * S);
            value = value1;
        }
        mei_seconds += now() - t1;
        auditory_population_rates(p, x, 1, r);
        float mei_true = r[n];
        auditory_population_rates(p, x1, 1, r);
        float single_true = r[n];
        /* The same ascent on the true cell from the same start. */
        memcpy(truth_x, begin, sizeof(float) * S);
        double truth_ascent;
        if (auditory_cell_ascend(p, n, &a, truth_x, &truth_ascent, err)) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        double optimum;
        int known;
        if (auditory_cell_optimum(p, n, &search, opt, &optimum, &known, err)) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        /* The model's pure tone: best frequency at the budget, then the
         * level (-60..-30 dBFS in 3 dB steps, never above the budget) the
         * model predicts highest. */
        double best_db = o.population.rms_db, best_tone_pred = -INFINITY;
        for (int l = 0; l < LEVELS; l++) {
            double db = o.population.rms_db - 3.0 * l;
            memcpy(tone, probe + (size_t)best_f * S, sizeof(float) * S);
            for (int i = 0; i < S; i++)
                tone[i] *= (float)pow(10, -3.0 * l / 20);
            cochleagram_forward(g, image, tone, 1);
            ensemble_predict(models, E, image, 1, r, err);
            if (r[n] > best_tone_pred) {
                best_tone_pred = r[n];
                best_db = db;
            }
        }
        memcpy(tone, probe + (size_t)best_f * S, sizeof(float) * S);
        clip_set_rms_db(tone, S, best_db, err);
        auditory_population_rates(p, tone, 1, r);
        float model_tone = r[n];
        /* The model's linear optimum: its gradient with respect to the
         * samples at the neutral noise clip, ramped, at the budget (the
         * clip a first-order model of the cell prefers). */
        for (int i = 0; i < neurons; i++)
            weights[i] = i == n;
        cochleagram_forward(g, image, neutral, 1);
        ensemble_input_gradient(models, E, image, 1, weights, dimage, err);
        cochleagram_backward(g, grad, dimage, neutral, 1);
        memcpy(lin, grad, sizeof(float) * S);
        clip_ramp(lin, S, ramp);
        float linear_true = 0;
        if (clip_set_rms_db(lin, S, o.population.rms_db, err) == 0) {
            auditory_population_rates(p, lin, 1, r);
            linear_true = r[n];
        }
        for (int i = 0; i < S; i++)
            bf[i] = (float)sin(2 * M_PI * c->best_hz * i / 16000);
        clip_ramp(bf, S, ramp);
        clip_set_rms_db(bf, S, o.population.rms_db, err);
        auditory_population_rates(p, bf, 1, r);
        float tone_bf = r[n];
        float v[COLS] = {mei_true / best_true, (float)(mei_true / optimum), mei_true / single_true,
                         (float)(truth_ascent / optimum), mei_true / model_tone,
                         mei_true / linear_true, mei_true / tone_bf};
        for (int col = 0; col < COLS; col++) {
            ratio[t][col][count[t]] = v[col];
            above[t][col] += v[col] > 1;
        }
        count[t]++;
        printf("cell %2d %-12s FEVE %5.2f  MEI %6.2f (start %d, single %6.2f)  natural %6.2f  "
               "optimum %6.2f (%s; truth ascent %6.2f)  model tone %6.2f (%.0f Hz, %.0f dBFS)  "
               "linear %6.2f  tone at BF %6.2f\n", n, auditory_cell_type_name(t), nm[n].feve,
               mei_true, chosen, single_true, best_true, optimum, known ? "known" : "searched",
               truth_ascent, model_tone, freq[best_f], best_db, linear_true, tone_bf);
        if (out_dir) {
            const char *kind[4] = {"mei", "model_tone", "linear", "optimum"};
            float *sound[4] = {x, tone, lin, opt};
            json_t *cj = json_out_object(&manifest, cells_json, "cell");
            json_out_int(&manifest, cj, "neuron", n);
            json_out_text(&manifest, cj, "type", auditory_cell_type_name(t));
            json_out_real(&manifest, cj, "true_best_natural", best_true);
            json_out_real(&manifest, cj, "true_optimum", optimum);
            json_out_bool(&manifest, cj, "optimum_known", known);
            json_out_real(&manifest, cj, "model_tone_hz", freq[best_f]);
            json_out_real(&manifest, cj, "model_tone_dbfs", best_db);
            json_t *files = json_out_object(&manifest, cj, "sounds");
            float trues[4] = {mei_true, model_tone, linear_true, (float)optimum};
            for (int k = 0; k < 4; k++) {
                char wav[1024], png[1024], name[64];
                snprintf(name, sizeof name, "%03d_%s_%s", n, auditory_cell_type_name(t), kind[k]);
                snprintf(wav, sizeof wav, "%s/%s.wav", out_dir, name);
                snprintf(png, sizeof png, "%s/%s.png", out_dir, name);
                if (sound_file_write(wav, sound[k], S, 16000, err))
                    fprintf(stderr, "%s\n", err);
                /* Cochleagram PNG: bands top = highest, 60 dB range under the
                 * image's peak mapped to black..white. */
                cochleagram_forward(g, image, sound[k], 1);
                float peak = -INFINITY;
                for (int i = 0; i < pixels; i++)
                    peak = fmaxf(peak, image[i]);
                for (int b = 0; b < d.height; b++)
                    for (int f = 0; f < d.width; f++) {
                        float lv = (image[(size_t)(d.height - 1 - b) * d.width + f] - peak) /
                                   (float)(6 * log(10.0)) + 1;
                        dimage[(size_t)b * d.width + f] = fminf(fmaxf(lv, 0), 1);
                    }
                if (png_write_gray(png, dimage, d.height, d.width, err))
                    fprintf(stderr, "%s\n", err);
                json_t *fj = json_out_object(&manifest, files, kind[k]);
                snprintf(name, sizeof name, "%03d_%s_%s.wav", n, auditory_cell_type_name(t),
                         kind[k]);
                json_out_text(&manifest, fj, "wav", name);
                snprintf(name, sizeof name, "%03d_%s_%s.png", n, auditory_cell_type_name(t),
                         kind[k]);
                json_out_text(&manifest, fj, "cochleagram_png", name);
                json_out_real(&manifest, fj, "true_rate", trues[k]);
            }
        }
    }
    printf("\n| type | cells | median FEVE |");
    for (int col = 0; col < COLS; col++)
        printf(" MEI / %s |", col_names[col]);
    printf("\n|---|---|---|");
    for (int col = 0; col < COLS; col++)
        printf("---|");
    printf("\n");
    for (int t = 0; t < TYPES; t++) {
        if (!count[t])
            continue;
        int c = count[t];
        printf("| %s | %d | %.2f |", auditory_cell_type_name(t), c, median(feve[t], feve_count[t]));
        for (int col = 0; col < COLS; col++)
            printf(" %.2f, %d%% |", median(ratio[t][col], c), 100 * above[t][col] / c);
        printf("\n");
    }
    printf("(column 'truth ascent / optimum': the true cell's ascent, not the MEI)\n");
    printf("\nMEI synthesis: %.3f s per cell (%d starts + 1 single, %d steps)\n",
           mei_seconds / neurons, K > 1 ? K + 1 : 1, steps);
    if (out_dir) {
        char path[1024];
        snprintf(path, sizeof path, "%s/manifest.json", out_dir);
        if (json_out_write(&manifest, path))
            fprintf(stderr, "%s\n", manifest.err);
        json_out_end(&manifest);
    }
    return 0;
}
