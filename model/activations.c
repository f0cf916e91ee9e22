/* activations.c: elementwise nonlinearities (ELU for the core, ELU+1 and exp
 * as output nonlinearities).
 *
 * The ELUs are written without branches: x = max(x,0) + min(x,0), and the
 * exponential is taken of min(x,0) (exp(0) = 1 where x > 0). A sign-dependent
 * branch mispredicts on activations of mixed sign and cost 2-3× the time.
 * exp(x) - 1 replaces expm1f (3× slower in glibc): its absolute error,
 * ~1e-7, is far below anything a float network resolves. The core's ELU takes
 * its exp from a polynomial that vectorizes (glibc's expf is a call per
 * element and was a tenth of a single-image gradient step). Elementwise work
 * is deterministic under any thread split, so large arrays use OpenMP. */
#include "layers.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Below this many elements thread start-up costs more than it saves. */
#define PARALLEL_MIN 65536

/* Loops compiled for the host's vector width, picked at load time; the build
 * targets baseline x86-64. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define HOST_VECTORIZED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOST_VECTORIZED
#endif

/* Split x by its sign bit with integer masks: the compiler turns float
 * selects like x > 0 ? x : 0 back into branches, integer masks it cannot. */
static inline uint32_t sign_mask(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return (uint32_t)((int32_t)bits >> 31); /* all ones when negative */
}

static inline float with_mask(float x, uint32_t mask)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits &= mask;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static inline float positive_part(float x) { return with_mask(x, ~sign_mask(x)); }
static inline float negative_part(float x) { return with_mask(x, sign_mask(x)); }

/* exp(x) for x <= 0, relative error < 1e-7, exactly 1 at 0. x = n·ln2 + r
 * with n rounded to nearest by adding 1.5·2^23 (no libm call, so the loop
 * vectorizes; n is then the low bits of the sum's pattern, read without a
 * float-to-int conversion, which NaN would make undefined), ln2 split in two
 * so r is exact; exp(r) on |r| <= ln2/2 by Cephes' minimax polynomial; 2^n
 * built in the exponent bits. Clamped at -87, where exp is ~1e-38. */
static inline float exp_nonpositive(float x)
{
    const float round_magic = 12582912.0f; /* 1.5·2^23, bit pattern 0x4b400000 */
    x = x < -87.0f ? -87.0f : x;
    float shifted = x * 1.44269504f + round_magic;
    float n = shifted - round_magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits - 0x4b400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

HOST_VECTORIZED
void elu_forward(float *out, const float *in, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = positive_part(in[i]) + (exp_nonpositive(negative_part(in[i])) - 1.0f);
}

/* d/dx = 1 for x > 0 and exp(x) = out + 1 otherwise, so the input is not
 * needed (out has the sign of x). */
void elu_backward(float *din, const float *dout, const float *out, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        din[i] = dout[i] * (1.0f + negative_part(out[i]));
}

void elu1_forward(float *out, const float *in, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = positive_part(in[i]) + expf(negative_part(in[i]));
}

void elu1_backward(float *din, const float *dout, const float *in, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        din[i] = dout[i] * expf(negative_part(in[i]));
}

void exp_forward(float *out, const float *in, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = expf(in[i]);
}

void exp_backward(float *din, const float *dout, const float *out, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++)
        din[i] = dout[i] * out[i];
}
