/* bench_audio_ceiling.c: how far above its best natural clip each cell of the
 * simulated auditory population (model/auditory.c) can be driven at the same
 * RMS level: the ceiling of "MEI / best natural clip" whatever the synthesis
 * does (figures, not pass/fail; `meson compile -C build bench-audio-ceiling`).
 * No model is fitted: only the true cells, the natural clips and the optimum.
 *
 * Per population seed: the natural clips (clip_synthetic from CLIP_SEED, as
 * an audio session makes them from its seed), every cell's true rate for
 * each, the best; the cell's optimum at the budget (auditory_cell_optimum:
 * known for facilitation and level cells, searched for strf and onset) and,
 * since a searched optimum is only the best point found, also the true
 * cell's ascent (auditory_search_default's settings) from the best natural
 * clip; the ceiling is the larger. Its ratio to the best natural clip's rate,
 * per cell and median by type, and how many cells reach 1.5.
 *
 * The cochleagram is an audio session's (auditory_config_for: 16 kHz, 32
 * bands, -30 dBFS, 5 ms ramps), the clip length CLIP_MS.
 *
 * Usage: bench_audio_ceiling [NEURONS [CLIPS [CLIP_MS [CLIP_SEED [POP_SEED...]]]]]
 * (defaults 20 620 250 1 7 8 9: protocols/demo_audio.yaml's clips, 600 +
 * 20, from its seed 1, and its rig's population seed 7, then 8 and 9). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEDS 16
#define GOAL 1.5 /* issue 19's median MEI / best natural clip */

/* One line of a cell's parameters, the ones that set its ceiling (nats
 * relative to the budget's band level where a level is drawn). */
static void describe_cell(const auditory_cell *c, double budget_nats, char *out, size_t size)
{
    switch (c->type) {
    case AUDITORY_STRF:
        snprintf(out, size, "band %2d, sigma %.1f bands, %.2f cyc/band, %.2f cyc/frame", c->band,
                 c->band_sigma, c->spectral_cycles, c->temporal_cycles);
        break;
    case AUDITORY_FACILITATION:
        snprintf(out, size, "bands %2d,%2d (%.1f:1), threshold budget%+.1f nats", c->band,
                 c->band2, c->ratio, c->threshold - budget_nats);
        break;
    case AUDITORY_ONSET:
        snprintf(out, size, "bands %2d..%2d, %s, threshold %.2f nats/frame", c->band, c->band2,
                 c->polarity > 0 ? "onset" : "offset", c->threshold);
        break;
    default:
        snprintf(out, size, "band %2d, best level budget%+.1f nats, width %.1f nats", c->band,
                 c->best_level - budget_nats, c->level_width);
    }
}

/* What the drive is made of, for one cochleagram S (bands × T frames): the
 * quantities auditory.c's drive of this cell type reads (its formulas at the
 * top of auditory.c), as frame means, to show where the natural clip stands
 * against the ceiling's clip. */
static void drive_parts(const auditory_population *p, int n, const float *S, int T,
                        double budget_nats, char *out, size_t size)
{
    const auditory_cell *c = auditory_population_cell(p, n);
    double a = 0, b = 0;
    int k = 0;
    if (c->type == AUDITORY_FACILITATION) { /* each band's level over the threshold */
        for (int t = 0; t < T; t++) {
            a += S[(size_t)c->band * T + t] - c->threshold;
            b += S[(size_t)c->band2 * T + t] - c->threshold;
        }
        snprintf(out, size, "bands over threshold %.1f, %.1f nats", a / T, b / T);
    } else if (c->type == AUDITORY_LEVEL) { /* the band's distance from L, in widths */
        for (int t = 0; t < T; t++) {
            double e = S[(size_t)c->band * T + t] - c->best_level;
            a += fabs(e) / c->level_width;
            b += S[(size_t)c->band * T + t] - budget_nats;
        }
        snprintf(out, size, "band level budget%+.1f nats, |S-L| %.2f widths", b / T, a / T);
    } else if (c->type == AUDITORY_ONSET) { /* frames whose rise passes the threshold */
        double prev = 0;
        for (int t = 0; t < T; t++) {
            double u = 0;
            for (int j = c->band; j <= c->band2; j++)
                u += S[(size_t)j * T + t];
            u /= c->band2 - c->band + 1;
            double d = c->polarity * (u - prev) - c->threshold;
            if (t > 0 && d > 0) {
                k++;
                a += d;
            }
            prev = u;
        }
        snprintf(out, size, "%2d of %d frames past threshold, by %.2f nats", k, T - 1,
                 k ? a / k : 0.0);
    } else { /* frames whose kernel response is positive */
        const float *K;
        int lags, B = auditory_population_config(p)->cochlea.bands;
        auditory_population_kernel(p, n, &K, &lags);
        for (int t = lags - 1; t < T; t++) {
            double d = 0;
            for (int j = 0; j < B; j++)
                for (int l = 0; l < lags; l++)
                    d += K[j * lags + l] * S[(size_t)j * T + t - l];
            if (d > 0) {
                k++;
                a += d;
            }
        }
        snprintf(out, size, "%2d of %d frames positive, K.S %.2f nats", k, T - lags + 1,
                 k ? a / k : 0.0);
    }
}

int main(int argc, char **argv)
{
    int neurons = argc > 1 ? atoi(argv[1]) : 20, count = argc > 2 ? atoi(argv[2]) : 620;
    int clip_ms = argc > 3 ? atoi(argv[3]) : 250;
    uint64_t clip_seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
    uint64_t seeds[MAX_SEEDS] = {7, 8, 9};
    int nseeds = 3;
    if (argc > 5) {
        nseeds = 0;
        for (int i = 5; i < argc && nseeds < MAX_SEEDS; i++)
            seeds[nseeds++] = strtoull(argv[i], NULL, 10);
    }
    if (neurons < 1 || neurons > 4096 || count < 1 || clip_ms < 100 || clip_ms > 2000) {
        fprintf(stderr, "bench_audio_ceiling: 1..4096 neurons, at least 1 clip, 100..2000 ms "
                        "(not %d, %d, %d)\n", neurons, count, clip_ms);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* each cell's line as it comes, into a file too */
    char err[MODEL_ERR_SIZE];
    int rate = 16000, S = (int)lround(clip_ms * rate / 1000.0);
    auditory_config base;
    auditory_config_for(rate, S, 32, -30, &base);
    base.neurons = neurons;
    base.ramp_ms = 5;
    double budget_nats = log(pow(10, base.rms_db / 10) / 2); /* as auditory.c's */
    float *clips = malloc(sizeof(float) * (size_t)count * S);
    float *rates = malloc(sizeof(float) * (size_t)count * neurons);
    float *opt = malloc(sizeof(float) * (size_t)S), *x = malloc(sizeof(float) * (size_t)S);
    int *kinds = malloc(sizeof(int) * (size_t)count);
    float *seed_all = malloc(sizeof(float) * (size_t)neurons);
    enum { TYPES = AUDITORY_CELL_TYPES };
    /* ratio[t]: every seed's cells of type t, then the seeds' sums. */
    float *ratio[TYPES], *seed_ratio[TYPES];
    int total[TYPES] = {0}, total_goal[TYPES] = {0};
    for (int t = 0; t < TYPES; t++) {
        ratio[t] = malloc(sizeof(float) * (size_t)neurons * nseeds);
        seed_ratio[t] = malloc(sizeof(float) * (size_t)neurons);
    }
    if (!clips || !rates || !opt || !x || !kinds || !seed_all) {
        fprintf(stderr, "bench_audio_ceiling: out of memory\n");
        return 1;
    }
    if (clip_synthetic(clips, count, S, rate, base.rms_db, base.ramp_ms, clip_seed, kinds, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%d natural clips of %d ms (clip_synthetic, seed %llu) at %.0f dBFS, 32 mel bands; "
           "the budget's band level %.2f nats, the cochleagram's floor log(eps) %.2f nats\n",
           count, clip_ms, (unsigned long long)clip_seed, base.rms_db, budget_nats,
           log(base.cochlea.epsilon));
    cochleagram *g;
    if (cochleagram_create(&g, &base.cochlea, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int T = cochleagram_frames(g);
    float *image = malloc(sizeof(float) * (size_t)base.cochlea.bands * T);
    if (!image) {
        fprintf(stderr, "bench_audio_ceiling: out of memory\n");
        return 1;
    }
    static char summary[MAX_SEEDS * (TYPES + 1)][160];
    for (int s = 0; s < nseeds; s++) {
        auditory_config c = base;
        c.seed = seeds[s];
        auditory_population *p;
        if (auditory_population_create(&p, &c, err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        clip_ascent_options search;
        auditory_search_default(p, &search);
        auditory_population_rates(p, clips, count, rates);
        printf("\npopulation seed %llu, %d cells\n", (unsigned long long)seeds[s], neurons);
        int n_type[TYPES] = {0}, goal[TYPES] = {0};
        for (int n = 0; n < neurons; n++) {
            const auditory_cell *cell = auditory_population_cell(p, n);
            int best = 0;
            for (int i = 1; i < count; i++)
                if (rates[(size_t)i * neurons + n] > rates[(size_t)best * neurons + n])
                    best = i;
            double natural = rates[(size_t)best * neurons + n], optimum, from_natural;
            int known;
            if (auditory_cell_optimum(p, n, &search, opt, &optimum, &known, err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            memcpy(x, clips + (size_t)best * S, sizeof(float) * (size_t)S);
            if (auditory_cell_ascend(p, n, &search, x, &from_natural, err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            /* A known optimum is the ceiling (level: the supremum; facilitation:
             * to about 1%, auditory.c), a searched one the best point found. */
            double ceiling = fmax(optimum, from_natural);
            float r = (float)(ceiling / natural);
            int t = cell->type;
            seed_ratio[t][n_type[t]++] = r;
            seed_all[n] = r;
            ratio[t][total[t]++] = r;
            goal[t] += r >= GOAL;
            total_goal[t] += r >= GOAL;
            char params[160], natural_parts[96], ceiling_parts[96];
            cochleagram_forward(g, image, clips + (size_t)best * S, 1);
            drive_parts(p, n, image, T, budget_nats, natural_parts, sizeof natural_parts);
            cochleagram_forward(g, image, from_natural > optimum ? x : opt, 1);
            drive_parts(p, n, image, T, budget_nats, ceiling_parts, sizeof ceiling_parts);
            describe_cell(cell, budget_nats, params, sizeof params);
            printf("cell %2d %-12s best natural %6.2f (clip %3d, %-8s)  optimum %6.2f (%s)  "
                   "ascent from it %6.2f  ceiling/natural %.2f  [%s; offset %.2f]\n", n,
                   auditory_cell_type_name(t), natural, best, clip_kind_name(kinds[best]),
                   optimum, known ? "known" : "searched", from_natural, r, params, cell->offset);
            printf("        natural: %s; ceiling: %s\n", natural_parts, ceiling_parts);
        }
        int seed_goal = 0;
        for (int t = 0; t <= TYPES; t++) {
            metric_summary m;
            metrics_summarize(t < TYPES ? seed_ratio[t] : seed_all, t < TYPES ? n_type[t] : neurons,
                              &m);
            seed_goal += t < TYPES ? goal[t] : 0;
            snprintf(summary[s * (TYPES + 1) + t], sizeof summary[0],
                     "| %llu | %s | %d | %.2f | %.2f–%.2f | %d |", (unsigned long long)seeds[s],
                     t < TYPES ? auditory_cell_type_name(t) : "all",
                     t < TYPES ? n_type[t] : neurons, m.median, m.min, m.max,
                     t < TYPES ? goal[t] : seed_goal);
        }
        auditory_population_destroy(p);
    }
    printf("\n| population seed | type | cells | median ceiling / best natural | range | "
           "cells >= %.1f |\n|---|---|---|---|---|---|\n", GOAL);
    for (int i = 0; i < nseeds * (TYPES + 1); i++)
        printf("%s\n", summary[i]);
    printf("\n| type | cells | median ceiling / best natural | quartiles | range | cells >= %.1f |\n"
           "|---|---|---|---|---|---|\n", GOAL);
    /* The last row: every cell of every seed (what a median over all targets
     * could reach at most). */
    float *every = malloc(sizeof(float) * (size_t)neurons * nseeds);
    int all = 0, all_goal = 0;
    for (int t = 0; t <= TYPES; t++) {
        metric_summary m;
        if (t < TYPES) {
            metrics_summarize(ratio[t], total[t], &m);
            for (int i = 0; i < total[t] && every; i++)
                every[all++] = ratio[t][i];
            all_goal += total_goal[t];
        } else if (every) {
            metrics_summarize(every, all, &m);
        } else {
            break;
        }
        printf("| %s | %d | %.2f | %.2f–%.2f | %.2f–%.2f | %d |\n",
               t < TYPES ? auditory_cell_type_name(t) : "all", t < TYPES ? total[t] : all,
               m.median, m.q25, m.q75, m.min, m.max, t < TYPES ? total_goal[t] : all_goal);
    }
    free(every);
    for (int t = 0; t < TYPES; t++) {
        free(ratio[t]);
        free(seed_ratio[t]);
    }
    free(clips);
    free(rates);
    free(opt);
    free(x);
    free(kinds);
    free(seed_all);
    free(image);
    cochleagram_destroy(g);
    return 0;
}
