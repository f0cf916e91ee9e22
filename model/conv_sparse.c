/* conv_sparse.c: the convolution's input gradient when the output gradient
 * is nonzero at few pixels.
 *
 * An input gradient of one neuron (what MEI synthesis asks for) reaches the
 * core's last map at the readout's four bilinear taps; each layer down grows
 * that support by the kernel's reach, so it stays a small patch (a 22×22
 * receptive field on a 36×64 map). The FFT path costs the same for any
 * support, while scattering each nonzero output pixel's footprint costs
 * Cin·Cout·K² multiply-adds per pixel: for a few hundred pixels that is the
 * cheaper of the two, and it never reads the kernel spectra.
 *
 *   din[b][i][y+ky-p][x+kx-p] += Σ_o w[o][i][ky][kx] · dout[b][o][y][x]
 *
 * for every active pixel (y, x) of image b, skipping taps off the map. Each
 * din plane belongs to one thread, which adds the pixels in their order, so
 * the result does not depend on the thread count. */
#include "layers.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define HOST_VECTORIZED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOST_VECTORIZED
#endif

/* Largest K·K this file handles with its stack buffer (kernels up to 31). */
#define MAX_TAPS (31 * 31)

/* One image's active pixels: those where some channel is nonzero, in raster
 * order. The scan runs channel by channel so it reads each plane straight. */
static int active_pixels_of_image(int *index, unsigned char *any, const float *maps, int C,
                                  int HW)
{
    memset(any, 0, (size_t)HW);
    for (int c = 0; c < C; c++) {
        const float *m = maps + (size_t)c * HW;
        for (int s = 0; s < HW; s++)
            any[s] |= m[s] != 0.0f;
    }
    int n = 0;
    for (int s = 0; s < HW; s++)
        if (any[s])
            index[n++] = s;
    return n;
}

size_t conv_active_pixels(int *index, int *count, unsigned char *scratch, const float *maps,
                          int B, int C, int HW)
{
    size_t total = 0;
    for (int b = 0; b < B; b++) {
        count[b] = active_pixels_of_image(index + (size_t)b * HW, scratch,
                                          maps + (size_t)b * C * HW, C, HW);
        total += (size_t)count[b];
    }
    return total;
}

/* taps[j·KK + k] = Σ_o w[o][i0+j][k] · d[o·HW] for the n channels of a
 * block: what one output pixel sends back through each tap. The n·KK weights
 * of a block are contiguous for each o, so the inner loop is one long
 * vector-friendly run (a single channel's 49 taps would leave a ragged tail). */
HOST_VECTORIZED
static void pixel_taps(float *restrict taps, const float *restrict w_block,
                       const float *restrict d, size_t HW, size_t w_stride, int Cout, int n)
{
    for (int k = 0; k < n; k++)
        taps[k] = 0.0f;
    for (int o = 0; o < Cout; o++) {
        float g = d[(size_t)o * HW];
        const float *w = w_block + (size_t)o * w_stride;
        for (int k = 0; k < n; k++)
            taps[k] += g * w[k];
    }
}

/* Adds one output pixel's taps into the input plane, clipped to the map. */
static void scatter_taps(float *plane, const float *taps, int y, int x, int H, int W, int K)
{
    int p = (K - 1) / 2, ky0, ky1, kx0, kx1;
    conv_tap_range(y, H, K, &ky0, &ky1);
    conv_tap_range(x, W, K, &kx0, &kx1);
    for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++)
            plane[(y + ky - p) * W + x + kx - p] += taps[ky * K + kx];
}

/* Input channels are handled CHANNEL_BLOCK at a time: long enough runs for
 * the vector loop, and enough blocks (4 of 32 channels) for both threads at
 * batch 1. The block size is fixed, so the split never changes a sum. */
#define CHANNEL_BLOCK 8

int conv2d_backward_input_sparse(float *din, const float *dout, const int *index,
                                 const int *count, const float *weight,
                                 int B, int Cin, int Cout, int H, int W, int K)
{
    size_t HW = (size_t)H * W, KK = (size_t)K * K;
    int blocks = (Cin + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
    if (KK > MAX_TAPS)
        return 1;
#pragma omp parallel for schedule(static)
    for (int bk = 0; bk < B * blocks; bk++) {
        int b = bk / blocks, i0 = bk % blocks * CHANNEL_BLOCK;
        int n = Cin - i0 < CHANNEL_BLOCK ? Cin - i0 : CHANNEL_BLOCK;
        float taps[CHANNEL_BLOCK * MAX_TAPS];
        float *planes = din + ((size_t)b * Cin + i0) * HW;
        const float *d = dout + (size_t)b * Cout * HW;
        const int *active = index + (size_t)b * HW;
        memset(planes, 0, sizeof(float) * HW * n);
        for (int a = 0; a < count[b]; a++) {
            int s = active[a];
            pixel_taps(taps, weight + i0 * KK, d + s, HW, (size_t)Cin * KK, Cout, n * (int)KK);
            for (int j = 0; j < n; j++)
                scatter_taps(planes + j * HW, taps + j * KK, s / W, s % W, H, W, K);
        }
    }
    return 0;
}
