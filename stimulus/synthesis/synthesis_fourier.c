/* synthesis_fourier.c: the 1/f Fourier parameterization of an image,
 * x = F⁻¹ diag(S) F p, with FFTW plans made once per object. */
#include "synthesis/synthesis.h"

#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fourier_param {
    int height, width, half, slots;
    float *scale;          /* height × half: S, mean S² over the full spectrum = 1 */
    float *real;           /* slots × height·width, FFTW-aligned */
    fftwf_complex *spec;   /* slots × height·half */
    size_t real_stride, spec_stride;
    fftwf_plan r2c, c2r;
};

/* S(f) = 1/max(|f|, 1/max(H,W)), normalized so that the operator keeps a
 * white image's power: mean of S² over all H·W frequencies is 1. */
static void fill_scale(fourier_param *f)
{
    int H = f->height, W = f->width, half = f->half;
    double floor_f = 1.0 / (H > W ? H : W), sum = 0.0;
    for (int ky = 0; ky < H; ky++) {
        double fy = (ky <= H / 2 ? ky : ky - H) / (double)H;
        for (int kx = 0; kx < half; kx++) {
            double fx = kx / (double)W, r = sqrt(fx * fx + fy * fy);
            double s = 1.0 / (r > floor_f ? r : floor_f);
            f->scale[ky * half + kx] = (float)s;
            /* Columns 1..W/2-1 stand for two frequencies (±kx). */
            int mult = (kx == 0 || (W % 2 == 0 && kx == W / 2)) ? 1 : 2;
            sum += mult * s * s;
        }
    }
    double norm = sqrt(sum / ((double)H * W));
    for (int k = 0; k < H * half; k++)
        f->scale[k] = (float)(f->scale[k] / norm);
}

static size_t round_up(size_t n)
{
    return (n + 15) / 16 * 16; /* 64 bytes of floats: keeps every slot aligned like slot 0 */
}

int fourier_param_create(fourier_param **out, int height, int width, int slots,
                         const char *wisdom_path, char *err)
{
    *out = NULL;
    if (height < 2 || width < 2 || slots < 1)
        return stimulus_fail(err, "fourier parameterization: bad size %d×%d or %d slots",
                             height, width, slots);
    fourier_param *f = calloc(1, sizeof *f);
    if (!f)
        return stimulus_fail(err, "fourier parameterization: out of memory");
    f->height = height;
    f->width = width;
    f->half = width / 2 + 1;
    f->slots = slots;
    f->real_stride = round_up((size_t)height * width);
    f->spec_stride = round_up(2 * (size_t)height * f->half) / 2;
    f->scale = malloc(sizeof(float) * (size_t)height * f->half);
    f->real = fftwf_alloc_real(f->real_stride * slots);
    f->spec = fftwf_alloc_complex(f->spec_stride * slots);
    if (!f->scale || !f->real || !f->spec) {
        fourier_param_destroy(f);
        return stimulus_fail(err, "fourier parameterization: out of memory");
    }
    fill_scale(f);
    unsigned flags = FFTW_ESTIMATE;
    if (wisdom_path) {
        fftwf_import_wisdom_from_filename(wisdom_path); /* a missing file is a first run */
        flags = FFTW_MEASURE;
    }
    /* Planning may overwrite the buffers (FFTW_MEASURE): done before use. */
    f->r2c = fftwf_plan_dft_r2c_2d(height, width, f->real, f->spec, flags);
    f->c2r = fftwf_plan_dft_c2r_2d(height, width, f->spec, f->real, flags);
    if (!f->r2c || !f->c2r) {
        fourier_param_destroy(f);
        return stimulus_fail(err, "fourier parameterization: FFTW could not plan %d×%d",
                             height, width);
    }
    if (wisdom_path && !fftwf_export_wisdom_to_filename(wisdom_path)) {
        fourier_param_destroy(f);
        return stimulus_fail(err, "cannot write FFTW wisdom to %s", wisdom_path);
    }
    *out = f;
    return 0;
}

void fourier_param_destroy(fourier_param *f)
{
    if (!f)
        return;
    if (f->r2c)
        fftwf_destroy_plan(f->r2c);
    if (f->c2r)
        fftwf_destroy_plan(f->c2r);
    fftwf_free(f->real);
    fftwf_free(f->spec);
    free(f->scale);
    free(f);
}

/* out = F⁻¹ diag(S^power) F in, with F⁻¹ including the 1/(H·W). */
static void filter(fourier_param *f, int slot, const float *in, float *out, int power)
{
    size_t n = (size_t)f->height * f->width;
    float *real = f->real + f->real_stride * slot;
    fftwf_complex *spec = f->spec + f->spec_stride * slot;
    memcpy(real, in, n * sizeof(float));
    fftwf_execute_dft_r2c(f->r2c, real, spec);
    float inv_n = 1.0f / (float)n;
    for (int k = 0; k < f->height * f->half; k++) {
        float s = f->scale[k], g = inv_n;
        if (power > 0)
            for (int i = 0; i < power; i++)
                g *= s;
        else
            for (int i = 0; i < -power; i++)
                g /= s;
        spec[k] *= g;
    }
    fftwf_execute_dft_c2r(f->c2r, spec, real);
    memcpy(out, real, n * sizeof(float));
}

void fourier_param_forward(fourier_param *f, int slot, const float *p, float *x)
{
    filter(f, slot, p, x, 1);
}

void fourier_param_backward(fourier_param *f, int slot, const float *gx, float *gp)
{
    filter(f, slot, gx, gp, 1); /* A is symmetric: S is real and even in frequency */
}

void fourier_param_inverse(fourier_param *f, int slot, const float *x, float *p)
{
    filter(f, slot, x, p, -1);
}

void fourier_param_precondition(fourier_param *f, int slot, const float *g, float *out)
{
    filter(f, slot, g, out, 2);
}
