/* bench_sound_mei.c: the speed of most exciting sounds (issue 19: 100 sounds ×
 * 1,000 steps in under 2 minutes on 2 cores). Nothing is fitted: a model of
 * an audio session's architecture (by default protocols/demo_audio.yaml's:
 * 2 conv layers × 8 channels, kernels 7/5, batch norm, ELU, factorized
 * readout of 16 neurons; random weights, seed 1: the speed does not depend
 * on them) reads the default cochleagram (0.5 s at 16 kHz, 400-sample Hann
 * window, hop 160, 32 mel bands: 32 × 48 images). Sound j ascends neuron
 * j mod neurons from synthetic clip j (clip_synthetic, seed 1) through the
 * real sound_mei loop (cochleagram forward, model input gradient,
 * cochleagram backward, clip_ascend's step and RMS projection), at −30 dBFS
 * with 5 ms ramps from a step of 0.05 (a session's mei.step_size 1), one
 * sound after the other as session_sounds.c does; with --batch K, K sounds
 * at a time through sound_mei_batch (one model pass per step for the K).
 *
 *   bench_sound_mei [--sounds N] [--steps N] [--threads N] [--batch K] [--neurons N]
 *                   [--channels N] [--kernels 7,5] [--readout factorized|gaussian]
 *                   [--check DIR] [--out CLIPS.npy] [--json]
 *
 * Prints wall and CPU time, sound·steps/s and the time 100 × 1,000 would
 * take at that rate. --check DIR writes DIR/clip.npy (the first start at the
 * budget) and DIR/cochleagram.npy (its cochleagram, bands × frames) and the
 * model's standardization into DIR/standardization.npy, for the PyTorch twin
 * (sound_mei_twin.py) to compare its torch.stft cochleagram with. --out
 * writes the sounds made (sounds × samples), e.g. to compare --batch K's
 * with one at a time's. */
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_kernels(const char *s, model_config *c)
{
    int layers = 0;
    while (*s && layers < MODEL_MAX_LAYERS) {
        char *end;
        long k = strtol(s, &end, 10);
        if (end == s || k < 1 || k % 2 == 0)
            return 1;
        c->kernel[layers++] = (int)k;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 1;
    }
    c->layers = layers;
    return layers < 1 || *s;
}

static int write_check(const char *dir, const float *clip, const float *image, int samples,
                       int bands, int frames, float mean, float std, char *err)
{
    char path[4096];
    int64_t n[1] = {samples}, bt[2] = {bands, frames}, two[1] = {2};
    float standardization[2] = {mean, std};
    snprintf(path, sizeof path, "%s/clip.npy", dir);
    if (npy_write(path, NPY_FLOAT32, 1, n, clip, err))
        return 1;
    snprintf(path, sizeof path, "%s/cochleagram.npy", dir);
    if (npy_write(path, NPY_FLOAT32, 2, bt, image, err))
        return 1;
    snprintf(path, sizeof path, "%s/standardization.npy", dir);
    return npy_write(path, NPY_FLOAT32, 1, two, standardization, err);
}

int main(int argc, char **argv)
{
    int sounds = 100, steps = 1000, threads = 2, neurons = 16, batch = 1, json = 0;
    const char *check = NULL, *readout = "factorized", *out = NULL;
    model_config c;
    model_config_default(&c);
    c.layers = 2;
    c.channels = 8;
    c.kernel[0] = 7;
    c.kernel[1] = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sounds") && i + 1 < argc)
            sounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--neurons") && i + 1 < argc)
            neurons = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--channels") && i + 1 < argc)
            c.channels = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernels") && i + 1 < argc) {
            if (parse_kernels(argv[++i], &c)) {
                fprintf(stderr, "bench_sound_mei: --kernels wants odd sizes, e.g. 7,5\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--readout") && i + 1 < argc)
            readout = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--check") && i + 1 < argc)
            check = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: bench_sound_mei [--sounds N] [--steps N] [--threads N] "
                            "[--batch K] [--neurons N] [--channels N]\n"
                            "       [--kernels 7,5] [--readout factorized|gaussian] "
                            "[--check DIR] [--out CLIPS.npy] [--json]\n");
            return 2;
        }
    }
    if (sounds < 1 || steps < 1 || threads < 1 || batch < 1 || neurons < 1 || c.channels < 1 ||
        (strcmp(readout, "factorized") && strcmp(readout, "gaussian"))) {
        fprintf(stderr, "bench_sound_mei: bad arguments\n");
        return 2;
    }
    char err[MODEL_ERR_SIZE];
    cochleagram_config cc;
    cochleagram_config_default(&cc);
    cochleagram *k;
    if (cochleagram_create(&k, &cc, err)) {
        fprintf(stderr, "bench_sound_mei: %s\n", err);
        return 1;
    }
    int S = cc.samples, T = cochleagram_frames(k);
    size_t P = (size_t)cc.bands * T;
    c.height = cc.bands;
    c.width = T;
    c.neurons = neurons;
    c.readout = strcmp(readout, "gaussian") ? READOUT_FACTORIZED : READOUT_GAUSSIAN;
    c.seed = 1;
    double rms_db = -30, ramp_ms = 5;
    float *starts = malloc(sizeof(float) * (size_t)sounds * S);
    float *images = malloc(sizeof(float) * (size_t)sounds * P);
    double *predicted = malloc(sizeof(double) * (size_t)sounds);
    int *targets = malloc(sizeof(int) * (size_t)sounds);
    model *m;
    if (!starts || !images || !predicted || !targets) {
        fprintf(stderr, "bench_sound_mei: out of memory\n");
        return 1;
    }
    if (clip_synthetic(starts, sounds, S, cc.sample_rate, rms_db, ramp_ms, 1, NULL, err) ||
        model_create(&m, &c, err)) {
        fprintf(stderr, "bench_sound_mei: %s\n", err);
        return 1;
    }
    /* The standardization model_fit would set: the starts' cochleagram
     * pixels' mean and standard deviation. */
    cochleagram_forward(k, images, starts, sounds);
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < (size_t)sounds * P; i++) {
        sum += images[i];
        sum2 += (double)images[i] * images[i];
    }
    double n_px = (double)sounds * P, mean = sum / n_px;
    float std = (float)sqrt(fmax(sum2 / n_px - mean * mean, 1e-12));
    model_set_standardization(m, (float)mean, std);
    model_set_threads(m, threads);
    if (check && write_check(check, starts, images, S, cc.bands, T, (float)mean, std, err)) {
        fprintf(stderr, "bench_sound_mei: %s\n", err);
        return 1;
    }
    clip_ascent_options o = {rms_db, (int)lround(ramp_ms * cc.sample_rate / 1000), steps, 0.05};
    double t0 = clock_seconds(CLOCK_MONOTONIC), cpu0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    for (int j = 0; j < sounds; j++)
        targets[j] = j % neurons;
    for (int j = 0; j < sounds; j += batch) {
        int K = sounds - j < batch ? sounds - j : batch;
        if (K == 1 ? sound_mei(m, k, targets[j], &o, starts + (size_t)j * S, &predicted[j], err)
                   : sound_mei_batch(&m, 1, k, targets + j, K, &o, starts + (size_t)j * S,
                                     predicted + j, err)) {
            fprintf(stderr, "bench_sound_mei: %s\n", err);
            return 1;
        }
    }
    double seconds = clock_seconds(CLOCK_MONOTONIC) - t0;
    double cpu_seconds = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    int64_t shape[2] = {sounds, S};
    if (out && npy_write(out, NPY_FLOAT32, 2, shape, starts, err)) {
        fprintf(stderr, "bench_sound_mei: %s\n", err);
        return 1;
    }
    double mean_predicted = 0;
    for (int j = 0; j < sounds; j++)
        mean_predicted += predicted[j] / sounds;
    /* steps + 1 objective evaluations per sound (clip_ascend evaluates the
     * last iterate too): counted as `steps`, as the target states it. */
    double rate = (double)sounds * steps / seconds;
    double projected = 100.0 * 1000.0 / rate;
    char kernels[64] = "";
    for (int l = 0; l < c.layers; l++)
        snprintf(kernels + strlen(kernels), sizeof kernels - strlen(kernels), "%s%d",
                 l ? "/" : "", c.kernel[l]);
    char mode[48] = "one at a time";
    if (batch > 1)
        snprintf(mode, sizeof mode, "sound_mei_batch, %d at a time", batch);
    if (json)
        printf("{\"impl\": \"inception\", \"batch\": %d, \"sounds\": %d, "
               "\"steps\": %d, \"threads\": %d, \"layers\": %d, \"channels\": %d, "
               "\"kernels\": \"%s\", \"readout\": \"%s\", \"neurons\": %d, \"seconds\": %.2f, "
               "\"cpu_seconds\": %.2f, \"sound_steps_per_s\": %.1f, "
               "\"projected_100x1000_s\": %.1f, \"mean_predicted\": %.4f}\n",
               batch, sounds, steps, threads, c.layers, c.channels, kernels, readout, neurons,
               seconds, cpu_seconds, rate, projected, mean_predicted);
    else
        printf("inception sound MEIs (%s): %d sounds × %d steps, %d × %d bands × "
               "frames, %d layers × %d channels (kernels %s), %s readout of %d neurons, %d "
               "threads: %.2f s wall, %.2f s CPU, %.1f sound·steps/s (%.3f ms a step); "
               "100 × 1,000 would take %.1f s; mean predicted rate %.3f\n",
               mode, sounds, steps, cc.bands, T, c.layers, c.channels, kernels, readout, neurons,
               threads, seconds, cpu_seconds, rate, 1000.0 / rate, projected, mean_predicted);
    free(starts);
    free(images);
    free(predicted);
    free(targets);
    model_destroy(m);
    cochleagram_destroy(k);
    return 0;
}
