/* dense.c: the LNP baseline's linear stage: a dense layer (BLAS) and the
 * fixed Gabor bank it can read its features from. */
#include "layers.h"
#include "model.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* out (B×N) = in (B×D) · weightᵀ (D×N) + bias. */
void dense_forward(float *out, const float *in, const float *weight, const float *bias,
                   int B, int D, int N)
{
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * N, bias, sizeof(float) * N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, N, D, 1.0f, in, D, weight, D,
                1.0f, out, N);
}

void dense_backward(float *din, float *dweight, float *dbias, const float *dout,
                    const float *in, const float *weight, int B, int D, int N)
{
    if (din) /* din (B×D) = dout (B×N) · weight (N×D) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, N, 1.0f, dout, N,
                    weight, D, 0.0f, din, D);
    if (dweight) /* dweight (N×D) += doutᵀ (N×B) · in (B×D) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, B, 1.0f, dout, N, in, D,
                    1.0f, dweight, D);
    if (dbias)
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++)
                dbias[n] += dout[(size_t)b * N + n];
}

/* ------------------------------------------------------------------------ */
/* Gabor bank.
 *
 * Two spatial frequencies, 1/6 and 1/12 cycles per pixel, each with an
 * envelope σ = 0.5/f (3 and 6 pixels: about half a period, a V1-like
 * bandwidth of roughly 1.5 octaves), 4 orientations, even and odd phase, on a
 * grid of centres spaced about σ apart. For 36×64 that is 12×21 + 6×11 = 318
 * centres × 4 × 2 = D = 2544 filters. Each filter has zero mean (so a uniform
 * gray image gives no response) and unit L2 norm (so weights are comparable
 * across filters). */

#define GABOR_SCALES 2
#define GABOR_ORIENTATIONS 4
static const float gabor_frequency[GABOR_SCALES] = {1.0f / 6.0f, 1.0f / 12.0f};

static float gabor_sigma(int scale) { return 0.5f / gabor_frequency[scale]; }

/* Centres per axis: the extent divided by σ, at least one. */
static int gabor_grid_count(int extent, float sigma)
{
    int n = (int)lroundf((float)extent / sigma);
    return n < 1 ? 1 : n;
}

int gabor_bank_size(int H, int W)
{
    int D = 0;
    for (int s = 0; s < GABOR_SCALES; s++)
        D += gabor_grid_count(H, gabor_sigma(s)) * gabor_grid_count(W, gabor_sigma(s)) *
             GABOR_ORIENTATIONS * 2;
    return D;
}

void gabor_bank_build(float *G, int H, int W)
{
    size_t HW = (size_t)H * W, d = 0;
    for (int s = 0; s < GABOR_SCALES; s++) {
        float sigma = gabor_sigma(s);
        int rows = gabor_grid_count(H, sigma), cols = gabor_grid_count(W, sigma);
        for (int r = 0; r < rows; r++) {
            for (int q = 0; q < cols; q++) {
                /* Centres of equal cells tiling the image. */
                float cy = ((float)r + 0.5f) * (float)H / (float)rows - 0.5f;
                float cx = ((float)q + 0.5f) * (float)W / (float)cols - 0.5f;
                for (int o = 0; o < GABOR_ORIENTATIONS; o++) {
                    float theta = (float)M_PI * (float)o / GABOR_ORIENTATIONS;
                    gabor_zero_mean(G + HW * d++, H, W, cx, cy, sigma, gabor_frequency[s],
                                    theta, 0.0);
                    gabor_zero_mean(G + HW * d++, H, W, cx, cy, sigma, gabor_frequency[s],
                                    theta, M_PI / 2.0);
                }
            }
        }
    }
}
