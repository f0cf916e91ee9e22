/* bench_model.c: the reference workload's speed and memory.
 *
 * 36×64 images, 3 conv layers × 32 channels (kernels 9/7/7, batch norm),
 * Gaussian readout of 1,000 neurons, batch 64, 2 threads (--threads). Reports
 * training images/s (forward, backward, Adam), input-gradient steps/s for one
 * image and for a batch of 64, the convolutions' rate in direct-convolution
 * GFLOP/s, and the peak resident memory of a fit on 5,000 images.
 * With --json the figures come as one JSON line (run_bench.sh reads it). */
#include "network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static model *reference_model(int threads)
{
    model_config c;
    model_config_default(&c); /* the defaults are the reference workload */
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_create(&m, &c, err)) {
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
    model_set_threads(m, threads);
    model_set_standardization(m, 0.5f, 0.2f);
    return m;
}

/* Forward FLOPs of the core as direct convolution: the yardstick that
 * PyTorch's figure is also measured against. */
static double core_flops_per_image(const model_config *c)
{
    double flops = 0.0, hw = (double)c->height * c->width;
    for (int l = 0; l < c->layers; l++) {
        double cin = l == 0 ? 1 : c->channels;
        flops += 2.0 * hw * cin * c->channels * c->kernel[l] * c->kernel[l];
    }
    return flops;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Repeat `step` after a warm-up in 5 slices of seconds/5 each; the rate is
 * the median slice's calls/s, as the PyTorch twin measures, so that a burst
 * of load from a neighbour on a shared machine moves neither side much. */
#define SLICES 5
#define TIME_LOOP(seconds, rate, step)                                                   \
    do {                                                                                  \
        for (int w_ = 0; w_ < 2; w_++) {                                                  \
            step;                                                                         \
        }                                                                                 \
        double rates_[SLICES];                                                            \
        for (int s_ = 0; s_ < SLICES; s_++) {                                             \
            double t0_ = now();                                                           \
            long n_ = 0;                                                                  \
            while (now() - t0_ < (seconds) / SLICES || n_ == 0) {                         \
                step;                                                                     \
                n_++;                                                                     \
            }                                                                             \
            rates_[s_] = n_ / (now() - t0_);                                              \
        }                                                                                 \
        qsort(rates_, SLICES, sizeof rates_[0], compare_doubles);                         \
        (rate) = rates_[SLICES / 2];                                                      \
    } while (0)

int main(int argc, char **argv)
{
    int threads = 2, json = 0;
    double seconds = 5.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_model [--threads N] [--seconds S] [--json]\n");
            return 2;
        }
    }
    model *m = reference_model(threads);
    model_config config = *model_get_config(m);
    const model_config *c = &config;
    int B = 64, HW = c->height * c->width, N = c->neurons;
    model_rng rng;
    model_rng_seed(&rng, 1);
    float *images = malloc((size_t)B * HW * sizeof(float));
    float *responses = malloc((size_t)B * N * sizeof(float));
    float *weights = calloc((size_t)B * N, sizeof(float));
    float *grad = malloc((size_t)B * HW * sizeof(float));
    for (int i = 0; i < B * HW; i++)
        images[i] = (float)model_rng_uniform(&rng);
    for (int i = 0; i < B * N; i++)
        responses[i] = (float)model_rng_poisson(&rng, 2.0);
    for (int b = 0; b < B; b++)
        weights[(size_t)b * N + (b % N)] = 1.0f; /* each image ascends one neuron */
    adam_state adam;
    adam_init(&adam, m->n_params);
    char err[MODEL_ERR_SIZE];
    double loss, train_steps, single_steps, batch_steps;

    TIME_LOOP(seconds, train_steps, {
        model_train_step(m, images, responses, B, &rng, 0.01f, 0.0001f, &loss, err);
        adam_step(&adam, m->params, m->grads, m->trainable, 1e-4f);
        model_params_changed(m);
    });
    TIME_LOOP(seconds, single_steps, {
        model_input_gradient(m, images, 1, weights, grad, NULL, err);
        images[0] += 1e-3f * grad[0]; /* an image update, as MEI synthesis does */
    });
    TIME_LOOP(seconds, batch_steps, model_input_gradient(m, images, B, weights, grad, NULL, err));
    /* The same single-image step for an objective that weights every neuron:
     * its gradient covers the whole map, so the backward takes the FFT path
     * instead of scattering one neuron's receptive field (conv_sparse.c). */
    float *dense_weights = malloc((size_t)N * sizeof(float));
    for (int n = 0; n < N; n++)
        dense_weights[n] = (float)model_rng_normal(&rng);
    double dense_steps;
    TIME_LOOP(seconds, dense_steps, {
        model_input_gradient(m, images, 1, dense_weights, grad, NULL, err);
        images[0] += 1e-3f * grad[0];
    });
    free(dense_weights);

    double flops = core_flops_per_image(c);
    double train_ips = train_steps * B;
    /* forward + backward data + backward weights: three convolutions' worth */
    double train_gflops = 3.0 * flops * train_ips * 1e-9;
    double grad_gflops_single = 2.0 * flops * single_steps * 1e-9;
    double grad_gflops_batch = 2.0 * flops * batch_steps * B * 1e-9;
    adam_free(&adam);
    model_destroy(m);

    /* Memory: a fit of the reference model on 5,000 images (2 epochs). */
    dataset d;
    dataset_alloc(&d, 5000, c->height, c->width, N);
    for (size_t i = 0; i < (size_t)d.trials * HW; i++)
        d.images[i] = (float)model_rng_uniform(&rng);
    for (size_t i = 0; i < (size_t)d.trials * N; i++)
        d.responses[i] = (float)model_rng_poisson(&rng, 2.0);
    for (int t = 0; t < d.trials; t++) {
        d.tiers[t] = t < 4500 ? TIER_TRAIN : TIER_VALIDATION;
        d.image_ids[t] = t;
    }
    m = reference_model(threads);
    fit_options o;
    fit_options_default(&o);
    o.max_epochs = 2;
    o.threads = threads;
    fit_report report;
    double fit_start = now();
    int fit_status = model_fit(m, &d, &o, &report, err);
    double fit_seconds = now() - fit_start;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double peak_mib = usage.ru_maxrss / 1024.0;
    model_destroy(m);
    dataset_free(&d);
    if (fit_status) {
        fprintf(stderr, "bench_model: fit failed: %s\n", err);
        return 1;
    }

    if (json) {
        printf("{\"impl\":\"inception\",\"threads\":%d,\"train_images_per_s\":%.1f,"
               "\"grad_steps_per_s_single\":%.1f,\"grad_steps_per_s_batch64\":%.2f,"
               "\"train_gflops_direct_equiv\":%.1f,\"grad_gflops_single_direct_equiv\":%.1f,"
               "\"grad_gflops_batch_direct_equiv\":%.1f,\"fit_5000_peak_rss_mib\":%.0f,"
               "\"fit_5000_epoch_s\":%.2f,\"grad_steps_per_s_single_all_neurons\":%.1f}\n",
               threads, train_ips, single_steps, batch_steps, train_gflops, grad_gflops_single,
               grad_gflops_batch, peak_mib, fit_seconds / report.epochs, dense_steps);
    } else {
        printf("reference workload: %d×%d, %d layers × %d channels, kernels %d/%d/%d, "
               "%d neurons (Gaussian readout), %d threads\n",
               c->height, c->width, 3, 32, 9, 7, 7, N, threads);
        printf("  training (batch 64):           %8.1f images/s  (%.1f GFLOP/s direct-conv "
               "equivalent)\n", train_ips, train_gflops);
        printf("  input gradient, 1 image:       %8.1f steps/s   (%.1f GFLOP/s)\n", single_steps,
               grad_gflops_single);
        printf("  input gradient, 1 image, all neurons weighted: %8.1f steps/s\n",
               dense_steps);
        printf("  input gradient, 64 images:     %8.2f steps/s   (%.1f images·steps/s, %.1f "
               "GFLOP/s)\n", batch_steps, batch_steps * B, grad_gflops_batch);
        printf("  fit on 5,000 images:           %8.0f MiB peak resident, %.1f s per epoch\n",
               peak_mib, fit_seconds / report.epochs);
    }
    free(images);
    free(responses);
    free(weights);
    free(grad);
    return 0;
}
