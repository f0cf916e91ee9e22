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
 * Usage: bench_audio [neurons train_clips epochs mei_steps [wav_folder]] */
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
    const char *wav = argc > 5 ? argv[5] : NULL;
    char err[STIMULUS_ERR_SIZE];
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
    model *m;
    if (model_create(&m, &mc, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    fit_options f;
    fit_options_default(&f);
    f.max_epochs = epochs;
    fit_report report;
    t0 = now();
    if (model_fit(m, &d, &f, &report, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("fit: %d epochs, validation correlation %.3f (%.1f s)\n", report.epochs,
           report.best_validation_corr, now() - t0);

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
    model_predict(m, img, nt, pred, err);
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
    model_predict(m, all, distinct, predicted, err);

    enum { TYPES = AUDITORY_CELL_TYPES };
    float *over_natural[TYPES], *over_optimum[TYPES], *over_tone[TYPES], *feve[TYPES];
    int count[TYPES] = {0}, known_count[TYPES] = {0}, above[TYPES] = {0}, beat_tone[TYPES] = {0};
    for (int t = 0; t < TYPES; t++) {
        over_natural[t] = malloc(sizeof(float) * neurons);
        over_optimum[t] = malloc(sizeof(float) * neurons);
        over_tone[t] = malloc(sizeof(float) * neurons);
        feve[t] = malloc(sizeof(float) * neurons);
    }
    int feve_count[TYPES] = {0};
    float *x = malloc(sizeof(float) * S), *opt = malloc(sizeof(float) * S), r[1024];
    clip_ascent_options a = {.rms_db = o.population.rms_db,
                             .ramp = (int)lround(o.population.ramp_ms * 1e-3 * 16000),
                             .steps = steps, .step_size = 0.05};
    clip_ascent_options search;
    auditory_search_default(p, &search);
    double mei_seconds = 0;
    for (int n = 0; n < neurons && n < 1024; n++) {
        const auditory_cell *c = auditory_population_cell(p, n);
        int t = c->type;
        if (nm[n].fev >= METRICS_FEV_MIN)
            feve[t][feve_count[t]++] = nm[n].feve;
        int best_pred = 0;
        float best_true = 0;
        for (int i = 0; i < distinct; i++) {
            if (predicted[(size_t)i * neurons + n] > predicted[(size_t)best_pred * neurons + n])
                best_pred = i;
            best_true = fmaxf(best_true, truth[(size_t)i * neurons + n]);
        }
        memcpy(x, clips + (size_t)best_pred * S, sizeof(float) * S);
        double value, t1 = now();
        if (sound_mei(m, g, n, &a, x, &value, err)) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        mei_seconds += now() - t1;
        auditory_population_rates(p, x, 1, r);
        float mei_true = r[n];
        double optimum;
        int known;
        if (auditory_cell_optimum(p, n, &search, opt, &optimum, &known, err)) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        for (int i = 0; i < S; i++)
            opt[i] = (float)sin(2 * M_PI * c->best_hz * i / 16000);
        clip_ramp(opt, S, a.ramp);
        clip_set_rms_db(opt, S, o.population.rms_db, err);
        auditory_population_rates(p, opt, 1, r);
        float tone = r[n];
        over_natural[t][count[t]] = mei_true / best_true;
        over_tone[t][count[t]] = mei_true / tone;
        above[t] += mei_true > best_true;
        beat_tone[t] += mei_true > tone;
        count[t]++;
        over_optimum[t][known_count[t]++] = (float)(mei_true / optimum);
        printf("cell %2d %-12s FEVE %5.2f  MEI %6.2f  best natural %6.2f  optimum %6.2f (%s)  "
               "tone %6.2f\n", n, auditory_cell_type_name(t), nm[n].feve, mei_true, best_true,
               optimum, known ? "known" : "searched", tone);
        if (wav) {
            char path[1024];
            snprintf(path, sizeof path, "%s/mei_%03d_%s.wav", wav, n, auditory_cell_type_name(t));
            if (sound_file_write(path, x, S, 16000, err))
                fprintf(stderr, "%s\n", err);
        }
    }
    printf("\n| type | cells | median FEVE | MEI / best natural (median, share > 1) | MEI / optimum "
           "(median) | MEI / tone at BF (median, share > 1) |\n|---|---|---|---|---|---|\n");
    for (int t = 0; t < TYPES; t++) {
        if (!count[t])
            continue;
        int c = count[t];
        printf("| %s | %d | %.2f | %.2f, %d%% | %.2f (%s) | %.2f, %d%% |\n",
               auditory_cell_type_name(t), c, median(feve[t], feve_count[t]),
               median(over_natural[t], c), 100 * above[t] / c, median(over_optimum[t], known_count[t]),
               t == AUDITORY_FACILITATION || t == AUDITORY_LEVEL ? "known" : "searched",
               median(over_tone[t], c), 100 * beat_tone[t] / c);
    }
    printf("\nMEI synthesis: %.3f s per sound of %d steps (%.2f ms a step)\n",
           mei_seconds / neurons, steps, 1e3 * mei_seconds / neurons / steps);
    return 0;
}
