/* batchnorm.c: batch normalization over (B, H, W) per channel (Ioffe &
 * Szegedy 2015). Channels are independent, so they are the parallel
 * dimension: each channel's sums run in a fixed order whatever the thread
 * count. Sums are taken in double: B·H·W is large (64·36·64) and float sums
 * of that many terms lose digits. */
#include "layers.h"

#include <math.h>

/* Mean and biased variance of one channel across the batch. */
static void channel_moments(const float *in, int B, int C, int HW, int c,
                            double *mean_out, double *var_out)
{
    double sum = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = in + ((size_t)b * C + c) * HW;
        for (int s = 0; s < HW; s++)
            sum += x[s];
    }
    double count = (double)B * HW, mean = sum / count, sq = 0.0;
    /* Second pass around the mean: no cancellation, unlike E[x²] - E[x]². */
    for (int b = 0; b < B; b++) {
        const float *x = in + ((size_t)b * C + c) * HW;
        for (int s = 0; s < HW; s++) {
            double d = x[s] - mean;
            sq += d * d;
        }
    }
    *mean_out = mean;
    *var_out = sq / count;
}

/* out = scale · x + shift over one channel of every batch item. */
static void channel_affine(float *out, const float *in, int B, int C, int HW, int c,
                           float scale, float shift)
{
    for (int b = 0; b < B; b++) {
        size_t off = ((size_t)b * C + c) * HW;
        for (int s = 0; s < HW; s++)
            out[off + s] = scale * in[off + s] + shift;
    }
}

void batchnorm_forward_train(float *out, float *save_mean, float *save_rstd, const float *in,
                             const float *gamma, const float *beta,
                             float *running_mean, float *running_var, float momentum,
                             int B, int C, int HW)
{
    double count = (double)B * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean, var;
        channel_moments(in, B, C, HW, c, &mean, &var);
        float rstd = (float)(1.0 / sqrt(var + BATCHNORM_EPS));
        save_mean[c] = (float)mean;
        save_rstd[c] = rstd;
        /* Normalization uses the biased variance, the running estimate the
         * unbiased one (as PyTorch does). */
        double unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)mean;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
        float scale = gamma[c] * rstd;
        channel_affine(out, in, B, C, HW, c, scale, beta[c] - scale * (float)mean);
    }
}

/* With x̂ = (x - μ)·rstd and y = γ x̂ + β, differentiating through μ and σ
 * gives dx = γ·rstd/M · (M·dy - Σdy - x̂·Σ(dy·x̂)), M = B·H·W. */
void batchnorm_backward_train(float *din, float *dgamma, float *dbeta, const float *dout,
                              const float *in, const float *save_mean, const float *save_rstd,
                              const float *gamma, int B, int C, int HW)
{
    double count = (double)B * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mean = save_mean[c], rstd = save_rstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * HW;
            for (int s = 0; s < HW; s++) {
                sum_dy += dout[off + s];
                sum_dy_xhat += dout[off + s] * (in[off + s] - mean) * rstd;
            }
        }
        if (dbeta)
            dbeta[c] += (float)sum_dy;
        if (dgamma)
            dgamma[c] += (float)sum_dy_xhat;
        if (!din)
            continue;
        double k = gamma[c] * rstd, mean_dy = sum_dy / count, mean_dy_xhat = sum_dy_xhat / count;
        for (int b = 0; b < B; b++) {
            size_t off = ((size_t)b * C + c) * HW;
            for (int s = 0; s < HW; s++) {
                double xhat = (in[off + s] - mean) * rstd;
                din[off + s] = (float)(k * (dout[off + s] - mean_dy - xhat * mean_dy_xhat));
            }
        }
    }
}

void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            int B, int C, int HW)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float scale = gamma[c] / sqrtf(running_var[c] + BATCHNORM_EPS);
        channel_affine(out, in, B, C, HW, c, scale, beta[c] - scale * running_mean[c]);
    }
}

/* Evaluation mode is affine in the input, so its input gradient is a scaling.
 * (γ and β gradients are not needed: evaluation mode never trains.) */
void batchnorm_backward_eval(float *din, const float *dout, const float *gamma,
                             const float *running_var, int B, int C, int HW)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float scale = gamma[c] / sqrtf(running_var[c] + BATCHNORM_EPS);
        channel_affine(din, dout, B, C, HW, c, scale, 0.0f);
    }
}
