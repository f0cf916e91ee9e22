/* conv_direct.c: the direct 2-D convolution (same padding, stride 1), the
 * reference that the FFT convolution is tested against. Plain loops, written
 * to be read rather than to be fast. Every output element is summed by one
 * thread in a fixed order, so results do not depend on the thread count. */
#include "layers.h"

#include <stddef.h>

/* One output plane: out[y][x] += Σ_ky Σ_kx w[ky][kx] · in[y+ky-p][x+kx-p]. */
static void correlate_plane(float *out, const float *in, const float *w, int H, int W, int K)
{
    int p = (K - 1) / 2;
    for (int y = 0; y < H; y++) {
        int ky0, ky1;
        conv_tap_range(y, H, K, &ky0, &ky1);
        for (int x = 0; x < W; x++) {
            int kx0, kx1;
            conv_tap_range(x, W, K, &kx0, &kx1);
            float sum = 0.0f;
            for (int ky = ky0; ky < ky1; ky++)
                for (int kx = kx0; kx < kx1; kx++)
                    sum += w[ky * K + kx] * in[(y + ky - p) * W + x + kx - p];
            out[y * W + x] += sum;
        }
    }
}

void conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                    int B, int Cin, int Cout, int H, int W, int K)
{
    size_t HW = (size_t)H * W, KK = (size_t)K * K;
#pragma omp parallel for schedule(static)
    for (int bo = 0; bo < B * Cout; bo++) {
        int b = bo / Cout, o = bo % Cout;
        float *plane = out + (size_t)bo * HW;
        for (size_t s = 0; s < HW; s++)
            plane[s] = bias ? bias[o] : 0.0f;
        for (int i = 0; i < Cin; i++)
            correlate_plane(plane, in + ((size_t)b * Cin + i) * HW,
                            weight + ((size_t)o * Cin + i) * KK, H, W, K);
    }
}

/* din[b][i][s] = Σ_o Σ_k w[o][i][k] · dout[b][o][s-k+p]: each input pixel
 * collects from the outputs it fed. */
static void input_grad(float *din, const float *dout, const float *weight,
                       int B, int Cin, int Cout, int H, int W, int K)
{
    size_t HW = (size_t)H * W, KK = (size_t)K * K;
    int p = (K - 1) / 2;
#pragma omp parallel for schedule(static)
    for (int bi = 0; bi < B * Cin; bi++) {
        int b = bi / Cin, i = bi % Cin;
        float *g = din + (size_t)bi * HW;
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                float sum = 0.0f;
                for (int o = 0; o < Cout; o++) {
                    const float *d = dout + ((size_t)b * Cout + o) * HW;
                    const float *w = weight + ((size_t)o * Cin + i) * KK;
                    for (int ky = 0; ky < K; ky++) {
                        int oy = y - ky + p;
                        if (oy < 0 || oy >= H)
                            continue;
                        for (int kx = 0; kx < K; kx++) {
                            int ox = x - kx + p;
                            if (ox >= 0 && ox < W)
                                sum += w[ky * K + kx] * d[oy * W + ox];
                        }
                    }
                }
                g[y * W + x] = sum;
            }
        }
    }
}

/* dweight[o][i][k] += Σ_b Σ_s dout[b][o][s] · in[b][i][s+k-p]. */
static void weight_grad(float *dweight, const float *dout, const float *in,
                        int B, int Cin, int Cout, int H, int W, int K)
{
    size_t HW = (size_t)H * W, KK = (size_t)K * K;
    int p = (K - 1) / 2;
#pragma omp parallel for schedule(static)
    for (int oi = 0; oi < Cout * Cin; oi++) {
        int o = oi / Cin, i = oi % Cin;
        for (int ky = 0; ky < K; ky++) {
            for (int kx = 0; kx < K; kx++) {
                float sum = 0.0f;
                for (int b = 0; b < B; b++) {
                    const float *d = dout + ((size_t)b * Cout + o) * HW;
                    const float *x = in + ((size_t)b * Cin + i) * HW;
                    for (int y = 0; y < H; y++) {
                        int iy = y + ky - p;
                        if (iy < 0 || iy >= H)
                            continue;
                        for (int xx = 0; xx < W; xx++) {
                            int ix = xx + kx - p;
                            if (ix >= 0 && ix < W)
                                sum += d[y * W + xx] * x[iy * W + ix];
                        }
                    }
                }
                dweight[(size_t)oi * KK + ky * K + kx] += sum;
            }
        }
    }
}

void conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight,
                     int B, int Cin, int Cout, int H, int W, int K)
{
    size_t HW = (size_t)H * W;
    if (din)
        input_grad(din, dout, weight, B, Cin, Cout, H, W, K);
    if (dweight)
        weight_grad(dweight, dout, in, B, Cin, Cout, H, W, K);
    if (dbias) {
        for (int o = 0; o < Cout; o++) {
            double sum = 0.0;
            for (int b = 0; b < B; b++) {
                const float *d = dout + ((size_t)b * Cout + o) * HW;
                for (size_t s = 0; s < HW; s++)
                    sum += d[s];
            }
            dbias[o] += (float)sum;
        }
    }
}
