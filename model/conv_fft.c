/* conv_fft.c: 2-D convolution (same padding, stride 1) through the FFT.
 *
 * Per dimension of size n and kernel K (p = (K-1)/2) the maps are zero-padded
 * to P >= n + p, so the circular convolution never wraps real pixels into
 * [0, n). The input sits at offset 0; the kernel is flipped and shifted,
 * g[(p-k) mod P] = w[k], which turns the circular convolution x ⊛ g into the
 * cross-correlation the layer computes. With X̂, Ĝ the real-to-complex
 * transforms (Ph × (Pw/2+1) bins each):
 *   forward       Ŷ[b][o]  = Σ_i X̂[b][i] · Ĝ[o][i]
 *   input grad    dX̂[b][i] = Σ_o dŶ[b][o] · conj(Ĝ[o][i])
 *   kernel grad   dĜ[o][i] = Σ_b dŶ[b][o] · conj(X̂[b][i]),  dw[k] = dg[(p-k) mod P]
 * Spectra are stored frequency-major (X̂[f][b][i]) so that each frequency's
 * channel mixing is one small complex GEMM. FFTW's transforms are
 * unnormalized; the 1/(Ph·Pw) is folded into Ĝ and into the kernel gradient.
 *
 * Threads split independent transforms and independent frequencies with
 * static schedules; no sum is ever split between threads, so the results are
 * bitwise identical for every thread count. The padded sizes have prime
 * factors 2, 3, 5 only (FFTW was faster there than on sizes with 7). */
#include "layers.h"

#include <complex.h> /* before fftw3.h: makes fftwf_complex a float complex */
#include <fftw3.h>

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Maps are transformed in blocks of this many per thread, so that moving a
 * block's spectra to or from the frequency-major arrays writes or reads
 * BLOCK adjacent elements per frequency instead of touching one element on
 * each of F different pages per map (TLB misses dominated otherwise). */
#define BLOCK 16

/* Below this batch size, or with a single input channel (the first layer),
 * the per-frequency products are a few vector ops: hand-written loops beat
 * the per-call overhead of cblas_cgemm (measured). */
#define SMALL_BATCH 8
#define SMALL_CIN 2

/* The small-batch loops are compiled for the host's vector width when the
 * compiler can pick a clone at load time; the build targets baseline x86-64. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define HOST_VECTORIZED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOST_VECTORIZED
#endif

struct conv_fft {
    int max_batch, cin, cout, H, W, K;
    int Ph, Pw;      /* padded transform size */
    int F;           /* complex bins: Ph · (Pw/2 + 1) */
    int threads;     /* threads the scratch below is sized for */
    size_t real_stride, spec_stride; /* per-thread scratch, padded to 64 bytes */
    fftwf_plan r2c, c2r;
    float complex *kernel;  /* Ĝᵀ[f][i][o], scaled by 1/(Ph·Pw) */
    /* Spectra, frequency-major and packed for the call's B (not max_batch):
     * a single image's spectra are then 1/max_batch of the arrays instead of
     * a few elements on each of F pages. */
    float complex *x_hat;   /* X̂[f][b][i] of the last forward, for backward */
    float complex *out_hat; /* Ŷ or dŶ: [f][b][o] */
    float complex *aux_hat; /* dX̂[f][b][i], or dĜᵀ[f][i][o] */
    float *pad_in;          /* threads × real_stride: maps at offset 0, zeros around */
    float *real_out;        /* threads × real_stride: inverse transforms land here */
    float complex *spec;    /* threads × BLOCK × spec_stride: a block of spectra */
};

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Smallest size >= n whose prime factors are 2, 3, 5. FFTW has codelets for
 * 7 too, but measured on the reference maps 40×72 transforms ~25% faster
 * than 40×70, which more than pays for its 3% more frequencies to mix. */
static int smooth_size(int n)
{
    for (int m = n;; m++) {
        int r = m;
        for (int f = 2; f <= 5; f++)
            while (r % f == 0)
                r /= f;
        if (r == 1)
            return m;
    }
}

/* P >= n + p keeps wrapped taps on the zero padding; P >= K keeps the taps
 * of a kernel wider than the map in distinct slots. */
static int padded_size(int n, int K)
{
    int p = (K - 1) / 2;
    return smooth_size(n + p > K ? n + p : K);
}

static size_t round_up_64_bytes(size_t floats)
{
    return (floats + 15) / 16 * 16;
}

static void free_scratch(conv_fft *c)
{
    fftwf_free(c->pad_in);
    fftwf_free(c->real_out);
    fftwf_free(c->spec);
    c->pad_in = c->real_out = NULL;
    c->spec = NULL;
}

/* Per-thread buffers; every transform runs on these, so they all share the
 * planning arrays' alignment, as fftwf_execute_dft_* requires. */
static int alloc_scratch(conv_fft *c, int threads)
{
    float *pad = fftwf_alloc_real(c->real_stride * threads);
    float *out = fftwf_alloc_real(c->real_stride * threads);
    float complex *spec = fftwf_alloc_complex(c->spec_stride * BLOCK * threads);
    if (!pad || !out || !spec) {
        fftwf_free(pad);
        fftwf_free(out);
        fftwf_free(spec);
        return 1;
    }
    free_scratch(c);
    memset(pad, 0, sizeof(float) * c->real_stride * threads);
    c->pad_in = pad;
    c->real_out = out;
    c->spec = spec;
    c->threads = threads;
    return 0;
}

/* FFTW wisdom for the reference maps (36×64, padded to 40×72, r2c and c2r),
 * measured once with FFTW_MEASURE on an AVX-512 machine (FFTW 3.3.10, as
 * Debian 12 ships). Planning from it is as fast as the measured plan and the
 * same on every run; FFTW ignores entries whose codelets a machine lacks and
 * then estimates, which is also reproducible. */
static const char REFERENCE_WISDOM[] =
    "(fftw-3.3.10 fftwf_wisdom #x9e7d4dee #xdb14fed1 #x34bf76a4 #xeb6e8fdf\n"
    "  (fftwf_codelet_n1bv_9_avx 0 #x10bdd #x10bdd #x0 #xc28b819d #xb5504e8b #xdda5f770 #x90006070)\n"
    "  (fftwf_dft_vrank_geq1_register 0 #x10bdd #x10bdd #x0 #xd7954e6d #x7b2170cf #x3867a5c3 #x71b9d6bd)\n"
    "  (fftwf_dft_r2hc_register 0 #x10bdd #x10bdd #x0 #x8a098886 #xad654336 #xea62e82b #xc921b717)\n"
    "  (fftwf_dft_vrank_geq1_register 0 #x11bdd #x11bdd #x0 #x4561a60c #x72364e83 #xe70a1b83 #xfcf0eec0)\n"
    "  (fftwf_codelet_r2cb_8 2 #x10bdd #x10bdd #x0 #xae1a35bc #x2320fae2 #x6a5394e3 #xeedde9d1)\n"
    "  (fftwf_codelet_n1fv_10_sse2 0 #x11bdd #x11bdd #x0 #xb46ab9d4 #x5dd180e0 #x794ee0d4 #x72512677)\n"
    "  (fftwf_codelet_t2bv_10_avx 0 #x10bdd #x10bdd #x0 #x24cbb825 #x90d170cc #x9ead21cb #xc35dcbe5)\n"
    "  (fftwf_codelet_n1bv_4_sse2 0 #x10bdd #x10bdd #x0 #xfa1d0e67 #xa6e7769c #x3c4b4b3d #xe221a30b)\n"
    "  (fftwf_rdft2_rank_geq2_register 0 #x11bdd #x11bdd #x0 #x1427aa07 #xefbed813 #x86208ceb #x47ae4e0c)\n"
    "  (fftwf_codelet_n1fv_9_avx 0 #x11bdd #x11bdd #x0 #x767e21a6 #xf94c799f #x5362626e #xa970cf8c)\n"
    "  (fftwf_rdft_rank0_register 2 #x10bdd #x10bdd #x0 #x18763331 #xb224b85e #x24f81da7 #x3a8c5a9a)\n"
    "  (fftwf_rdft2_vrank_geq1_register 0 #x10bdd #x10bdd #x0 #xf4350fb2 #xb08e56f7 #xb0bb2e94 #x1ba54096)\n"
    "  (fftwf_dft_buffered_register 0 #x10bdd #x10bdd #x0 #x88e1e4f6 #x6033d013 #x707d02f6 #xb2334fac)\n"
    "  (fftwf_rdft2_nop_register 0 #x10bdd #x10bdd #x0 #x6931a9b6 #x8b20f434 #x1cbde085 #xa4308444)\n"
    "  (fftwf_dft_vrank_geq1_register 0 #x10bdd #x10bdd #x0 #x7fd45443 #x2c013e6f #x4c11664e #x9e58cc17)\n"
    "  (fftwf_rdft2_vrank_geq1_register 0 #x11bdd #x11bdd #x0 #x98674086 #x4ab76e4e #x244df0d6 #x123aa58b)\n"
    "  (fftwf_codelet_t1fuv_2_avx 0 #x11bdd #x11bdd #x0 #xc442f129 #x9aa44395 #xd717e7ad #x691afab3)\n"
    "  (fftwf_dft_nop_register 0 #x10bdd #x10bdd #x0 #xc26eb4b7 #xe522f30b #x8107beab #x2e841a8b)\n"
    "  (fftwf_codelet_q1fv_2_sse2 0 #x11bdd #x11bdd #x0 #xa2aa4749 #x3df4879e #xaa399a00 #x96f1ca9b)\n"
    "  (fftwf_dft_buffered_register 0 #x10bdd #x10bdd #x0 #x076ecb0c #x82758d98 #x87dc5f0b #x22436a81)\n"
    "  (fftwf_rdft_rank0_register 2 #x10bdd #x10bdd #x0 #x946ba855 #x7b98e6e3 #xf32a440f #xe9965c37)\n"
    "  (fftwf_dft_r2hc_register 0 #x10bdd #x10bdd #x0 #xee532dff #x274c0256 #xe874d497 #x7d8b6853)\n"
    "  (fftwf_codelet_r2cf_8 2 #x11bdd #x11bdd #x0 #xac521e1f #xe418b930 #xb4f636c2 #xa4c40c6b)\n"
    "  (fftwf_rdft2_nop_register 0 #x11bdd #x11bdd #x0 #xdb26d926 #x9ba87035 #x0bb259fc #xb6ebdee8)\n"
    "  (fftwf_codelet_hc2cfdftv_8_avx 0 #x11bdd #x11bdd #x0 #x413371e1 #x35e5b96e #x24198252 #xad6bd8d4)\n"
    "  (fftwf_dft_vrank_geq1_register 0 #x11bdd #x11bdd #x0 #x672608a6 #x0cd2e427 #xdff60286 #x49886aa2)\n"
    "  (fftwf_rdft2_rank_geq2_register 0 #x10bdd #x10bdd #x0 #xe1bb9001 #xd541c9f3 #x0c9c739d #x9f10e47d)\n"
    "  (fftwf_codelet_hc2cbdftv_8_avx 0 #x10bdd #x10bdd #x0 #x11c25518 #x9861aabb #x05ca8676 #x0abede74)\n"
    ")\n";

conv_fft *conv_fft_create(int max_batch, int Cin, int Cout, int H, int W, int K)
{
    if (max_batch < 1 || Cin < 1 || Cout < 1 || H < 1 || W < 1 || K < 1 || K % 2 == 0)
        return NULL;
    conv_fft *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max_batch = max_batch;
    c->cin = Cin;
    c->cout = Cout;
    c->H = H;
    c->W = W;
    c->K = K;
    c->Ph = padded_size(H, K);
    c->Pw = padded_size(W, K);
    c->F = c->Ph * (c->Pw / 2 + 1);
    c->real_stride = round_up_64_bytes((size_t)c->Ph * c->Pw);
    c->spec_stride = round_up_64_bytes(2 * (size_t)c->F) / 2;
    size_t F = (size_t)c->F, B = (size_t)max_batch;
    size_t ld_aux = B > (size_t)Cout ? B * Cin : (size_t)Cout * Cin;
    c->kernel = fftwf_alloc_complex(F * Cin * Cout);
    c->x_hat = fftwf_alloc_complex(F * B * Cin);
    c->out_hat = fftwf_alloc_complex(F * B * Cout);
    c->aux_hat = fftwf_alloc_complex(F * ld_aux);
    if (!c->kernel || !c->x_hat || !c->out_hat || !c->aux_hat || alloc_scratch(c, 1)) {
        conv_fft_destroy(c);
        return NULL;
    }
    /* FFTW_ESTIMATE, not FFTW_MEASURE: a measured plan depends on timings,
     * so two runs could pick different algorithms and round differently,
     * and a fit would not be reproducible from its seed. Fixed wisdom gives
     * the reference size a measured plan all the same (see below). */
    fftwf_import_wisdom_from_string(REFERENCE_WISDOM);
    c->r2c = fftwf_plan_dft_r2c_2d(c->Ph, c->Pw, c->pad_in, c->spec, FFTW_ESTIMATE);
    c->c2r = fftwf_plan_dft_c2r_2d(c->Ph, c->Pw, c->spec, c->real_out, FFTW_ESTIMATE);
    if (!c->r2c || !c->c2r) {
        conv_fft_destroy(c);
        return NULL;
    }
    memset(c->pad_in, 0, sizeof(float) * c->real_stride);
    memset(c->kernel, 0, sizeof(float complex) * F * Cin * Cout);
    return c;
}

void conv_fft_destroy(conv_fft *c)
{
    if (!c)
        return;
    if (c->r2c)
        fftwf_destroy_plan(c->r2c);
    if (c->c2r)
        fftwf_destroy_plan(c->c2r);
    free_scratch(c);
    fftwf_free(c->kernel);
    fftwf_free(c->x_hat);
    fftwf_free(c->out_hat);
    fftwf_free(c->aux_hat);
    free(c);
}

/* Keeps the previous count when the scratch for more threads cannot be had:
 * fewer threads is slower, never wrong. */
void conv_fft_set_threads(conv_fft *c, int threads)
{
    if (threads < 1)
        threads = 1;
    if (threads != c->threads)
        alloc_scratch(c, threads);
}

/* --- transforms of blocks of maps, on the calling thread's scratch --- */

static float complex *thread_block(conv_fft *c)
{
    return c->spec + (size_t)thread_id() * BLOCK * c->spec_stride;
}

/* Spectrum of an H×W map into spec: copy into the zero-padded buffer (only
 * [0,H)×[0,W) is ever written there, so the padding stays zero). */
static void forward_map(conv_fft *c, float complex *spec, const float *map)
{
    float *pad = c->pad_in + (size_t)thread_id() * c->real_stride;
    for (int y = 0; y < c->H; y++)
        memcpy(pad + (size_t)y * c->Pw, map + (size_t)y * c->W, sizeof(float) * c->W);
    fftwf_execute_dft_r2c(c->r2c, pad, spec);
}

/* Inverse transform of spec (destroyed) into the thread's real buffer. */
static const float *inverse_spec(conv_fft *c, float complex *spec)
{
    float *out = c->real_out + (size_t)thread_id() * c->real_stride;
    fftwf_execute_dft_c2r(c->c2r, spec, out);
    return out;
}

/* hat[f·ld + j0 + jj] = scale · block[jj][f] for the n maps of a block. */
static void scatter_block(const conv_fft *c, float complex *hat, size_t ld, size_t j0, int n,
                          const float complex *block, float scale)
{
    for (int f = 0; f < c->F; f++) {
        float complex *dst = hat + (size_t)f * ld + j0;
        for (int jj = 0; jj < n; jj++)
            dst[jj] = scale * block[(size_t)jj * c->spec_stride + f];
    }
}

static void gather_block(const conv_fft *c, float complex *block, const float complex *hat,
                         size_t ld, size_t j0, int n)
{
    for (int f = 0; f < c->F; f++) {
        const float complex *src = hat + (size_t)f * ld + j0;
        for (int jj = 0; jj < n; jj++)
            block[(size_t)jj * c->spec_stride + f] = src[jj];
    }
}

static int block_count(int n)
{
    return (n + BLOCK - 1) / BLOCK;
}

static int block_length(int blk, int n)
{
    return n - blk * BLOCK < BLOCK ? n - blk * BLOCK : BLOCK;
}

/* Transforms n maps (contiguous H×W each) into hat[f·ld + j], j = map index. */
static void forward_maps(conv_fft *c, float complex *hat, size_t ld, const float *maps, int n)
{
    size_t HW = (size_t)c->H * c->W;
#pragma omp for schedule(static)
    for (int blk = 0; blk < block_count(n); blk++) {
        int j0 = blk * BLOCK, len = block_length(blk, n);
        float complex *block = thread_block(c);
        for (int jj = 0; jj < len; jj++)
            forward_map(c, block + (size_t)jj * c->spec_stride, maps + (j0 + jj) * HW);
        scatter_block(c, hat, ld, j0, len, block, 1.0f);
    }
}

/* Inverse of hat[f·ld + j] into n maps, cropped to H×W, plus bias[j % C]. */
static void inverse_maps(conv_fft *c, float *maps, const float complex *hat, size_t ld, int n,
                         const float *bias, int C)
{
    size_t HW = (size_t)c->H * c->W;
#pragma omp for schedule(static)
    for (int blk = 0; blk < block_count(n); blk++) {
        int j0 = blk * BLOCK, len = block_length(blk, n);
        float complex *block = thread_block(c);
        gather_block(c, block, hat, ld, j0, len);
        for (int jj = 0; jj < len; jj++) {
            int j = j0 + jj;
            const float *full = inverse_spec(c, block + (size_t)jj * c->spec_stride);
            float add = bias ? bias[j % C] : 0.0f;
            float *map = maps + (size_t)j * HW;
            for (int y = 0; y < c->H; y++)
                for (int x = 0; x < c->W; x++)
                    map[(size_t)y * c->W + x] = full[(size_t)y * c->Pw + x] + add;
        }
    }
}

/* --- per-frequency channel mixing; complex numbers as (re, im) float pairs
 * so the compiler vectorizes without the C99 inf/nan multiply fix-ups --- */

/* y (B×Co) = x (B×Ci) · g (Ci×Co), as B·Ci complex axpys over rows of g:
 * y += xr·g + (−xi, xi, …)·g with g's (re, im) pairs swapped. Written with
 * 8-float vectors because the auto-vectorizer de-interleaved the pairs with
 * cross-lane permutes that cost as much as the arithmetic; the results are
 * bitwise those of the scalar formula (same operations, same order). */
typedef float vec8 __attribute__((vector_size(32)));
/* Lane shuffles with constant indices (__builtin_shufflevector: gcc 12 and
 * clang alike); SWAP_PAIRS turns (re, im) pairs into (im, re). */
#define SWAP_PAIRS(v) __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6)

HOST_VECTORIZED
static void mix_forward_small(float *restrict y, const float *restrict x,
                              const float *restrict g, int B, int Ci, int Co)
{
    int n = 2 * Co, n_vec = n / 8 * 8;
    for (int b = 0; b < B; b++) {
        float *yb = y + (size_t)b * n;
        for (int k = 0; k < n; k++)
            yb[k] = 0.0f;
        for (int i = 0; i < Ci; i++) {
            float xr = x[2 * ((size_t)b * Ci + i)], xi = x[2 * ((size_t)b * Ci + i) + 1];
            const float *gi = g + (size_t)i * n;
            vec8 re = {xr, xr, xr, xr, xr, xr, xr, xr};
            vec8 im = {-xi, xi, -xi, xi, -xi, xi, -xi, xi};
            for (int k = 0; k < n_vec; k += 8) {
                vec8 gv, yv;
                memcpy(&gv, gi + k, sizeof gv);
                memcpy(&yv, yb + k, sizeof yv);
                yv += re * gv + im * SWAP_PAIRS(gv);
                memcpy(yb + k, &yv, sizeof yv);
            }
            for (int k = n_vec; k < n; k += 2) {
                yb[k] += xr * gi[k] - xi * gi[k + 1];
                yb[k + 1] += xr * gi[k + 1] + xi * gi[k];
            }
        }
    }
}

/* out[j] = the sum of a[j]'s lanes: three levels of pairwise adds. */
static inline void sum_lanes_of_8(float *out, const vec8 a[8])
{
    vec8 b[4], c[2];
    for (int j = 0; j < 4; j++) /* even lanes + odd lanes of each pair of inputs */
        b[j] = __builtin_shufflevector(a[2 * j], a[2 * j + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
               __builtin_shufflevector(a[2 * j], a[2 * j + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    for (int j = 0; j < 2; j++)
        c[j] = __builtin_shufflevector(b[2 * j], b[2 * j + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               __builtin_shufflevector(b[2 * j], b[2 * j + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    vec8 sums = __builtin_shufflevector(c[0], c[1], 0, 1, 2, 3, 8, 9, 10, 11) +
                __builtin_shufflevector(c[0], c[1], 4, 5, 6, 7, 12, 13, 14, 15);
    memcpy(out, &sums, sizeof sums);
}

/* dx (B×Ci) = dy (B×Co) · gᴴ, g being Ci×Co. Per (b, i) this is
 *   re = Σ_o dyr·gr + dyi·gi,   im = Σ_o dyi·gr − dyr·gi,
 * two float dot products over the 2·Co floats of row g_i: one with dy, one
 * with dy turned by −i (pairs (dyi, −dyr)). Four rows at a time keep eight
 * vector partial sums, reduced together into the four outputs' (re, im);
 * rows left over, or rows not a whole number of vectors, go one by one. */
HOST_VECTORIZED
static void mix_input_grad_small(float *restrict dx, const float *restrict dy,
                                 const float *restrict g, int B, int Ci, int Co)
{
    const vec8 turn = {1, -1, 1, -1, 1, -1, 1, -1};
    int n = 2 * Co, vector_rows = Co % 4 == 0 ? Ci / 4 * 4 : 0;
    for (int b = 0; b < B; b++) {
        const float *d = dy + (size_t)b * n;
        for (int i0 = 0; i0 < vector_rows; i0 += 4) {
            vec8 acc[8] = {{0}};
            for (int k = 0; k < n; k += 8) {
                vec8 dv;
                memcpy(&dv, d + k, sizeof dv);
                vec8 tv = SWAP_PAIRS(dv) * turn;
                for (int r = 0; r < 4; r++) {
                    vec8 gv;
                    memcpy(&gv, g + (size_t)(i0 + r) * n + k, sizeof gv);
                    acc[2 * r] += dv * gv;
                    acc[2 * r + 1] += tv * gv;
                }
            }
            sum_lanes_of_8(dx + 2 * ((size_t)b * Ci + i0), acc);
        }
        for (int i = vector_rows; i < Ci; i++) {
            const float *gi = g + (size_t)i * n;
            float re = 0.0f, im = 0.0f;
            for (int k = 0; k < n; k += 2) {
                re += d[k] * gi[k] + d[k + 1] * gi[k + 1];
                im += d[k + 1] * gi[k] - d[k] * gi[k + 1];
            }
            dx[2 * ((size_t)b * Ci + i)] = re;
            dx[2 * ((size_t)b * Ci + i) + 1] = im;
        }
    }
}

/* dg (Ci×Co) = xᴴ · dy, summed over the B rows. */
HOST_VECTORIZED
static void mix_kernel_grad_small(float *restrict dg, const float *restrict x,
                                  const float *restrict dy, int B, int Ci, int Co)
{
    for (int i = 0; i < Ci; i++) {
        float *row = dg + (size_t)2 * i * Co;
        for (int o = 0; o < 2 * Co; o++)
            row[o] = 0.0f;
        for (int b = 0; b < B; b++) {
            float xr = x[2 * ((size_t)b * Ci + i)], xi = x[2 * ((size_t)b * Ci + i) + 1];
            const float *d = dy + (size_t)2 * b * Co;
            for (int o = 0; o < Co; o++) {
                row[2 * o] += xr * d[2 * o] + xi * d[2 * o + 1];
                row[2 * o + 1] += xr * d[2 * o + 1] - xi * d[2 * o];
            }
        }
    }
}

static const float complex ONE = 1.0f, ZERO = 0.0f;

static void mix_forward(conv_fft *c, int B)
{
    int Ci = c->cin, Co = c->cout;
#pragma omp for schedule(static)
    for (int f = 0; f < c->F; f++) {
        const float complex *x = c->x_hat + (size_t)f * B * Ci;
        const float complex *g = c->kernel + (size_t)f * Ci * Co;
        float complex *y = c->out_hat + (size_t)f * B * Co;
        if (B < SMALL_BATCH || Ci < SMALL_CIN)
            mix_forward_small((float *)y, (const float *)x, (const float *)g, B, Ci, Co);
        else
            cblas_cgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, Co, Ci, &ONE, x, Ci, g,
                        Co, &ZERO, y, Co);
    }
}

static void mix_input_grad(conv_fft *c, int B)
{
    int Ci = c->cin, Co = c->cout;
    int small = B < SMALL_BATCH;
#pragma omp for schedule(static)
    for (int f = 0; f < c->F; f++) {
        const float complex *dy = c->out_hat + (size_t)f * B * Co;
        float complex *dx = c->aux_hat + (size_t)f * B * Ci;
        const float complex *g = c->kernel + (size_t)f * Ci * Co;
        if (small)
            mix_input_grad_small((float *)dx, (const float *)dy, (const float *)g, B, Ci, Co);
        else
            cblas_cgemm(CblasRowMajor, CblasNoTrans, CblasConjTrans, B, Ci, Co, &ONE, dy, Co,
                        g, Co, &ZERO, dx, Ci);
    }
}

static void mix_kernel_grad(conv_fft *c, int B)
{
    int Ci = c->cin, Co = c->cout;
#pragma omp for schedule(static)
    for (int f = 0; f < c->F; f++) {
        const float complex *x = c->x_hat + (size_t)f * B * Ci;
        const float complex *dy = c->out_hat + (size_t)f * B * Co;
        float complex *dg = c->aux_hat + (size_t)f * Ci * Co;
        if (B < SMALL_BATCH || Ci < SMALL_CIN)
            mix_kernel_grad_small((float *)dg, (const float *)x, (const float *)dy, B, Ci, Co);
        else
            cblas_cgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, Ci, Co, B, &ONE, x, Ci, dy,
                        Co, &ZERO, dg, Co);
    }
}

/* --- the layer --- */

/* Slot of kernel tap k in the padded, flipped kernel: (p - k) mod P. */
static size_t tap_slot(int k, int K, int P)
{
    return (size_t)((((K - 1) / 2 - k) % P + P) % P);
}

void conv_fft_set_weights(conv_fft *c, const float *weight)
{
    int n = c->cin * c->cout, K = c->K;
    float scale = 1.0f / ((float)c->Ph * (float)c->Pw);
#pragma omp parallel for num_threads(c->threads) schedule(static) if (c->threads > 1)
    for (int blk = 0; blk < block_count(n); blk++) {
        int j0 = blk * BLOCK, len = block_length(blk, n);
        float complex *block = thread_block(c);
        /* real_out is free here; pad_in must keep its zeros for forward_map. */
        float *g = c->real_out + (size_t)thread_id() * c->real_stride;
        for (int jj = 0; jj < len; jj++) {
            int io = j0 + jj, i = io / c->cout, o = io % c->cout;
            const float *w = weight + ((size_t)o * c->cin + i) * K * K;
            memset(g, 0, sizeof(float) * c->Ph * c->Pw);
            for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++)
                    g[tap_slot(ky, K, c->Ph) * c->Pw + tap_slot(kx, K, c->Pw)] = w[ky * K + kx];
            fftwf_execute_dft_r2c(c->r2c, g, block + (size_t)jj * c->spec_stride);
        }
        scatter_block(c, c->kernel, (size_t)c->cin * c->cout, j0, len, block, scale);
    }
}

/* Each pass is one parallel region whose steps are worksharing loops (their
 * implicit barriers order the steps): at B = 1 a step is tens of µs, and
 * opening a region per step cost more than the barriers. */
void conv_fft_forward(conv_fft *c, float *out, const float *in, const float *bias, int B)
{
#pragma omp parallel num_threads(c->threads) if (c->threads > 1)
    {
        forward_maps(c, c->x_hat, (size_t)B * c->cin, in, B * c->cin);
        mix_forward(c, B);
        inverse_maps(c, out, c->out_hat, (size_t)B * c->cout, B * c->cout, bias, c->cout);
    }
}

/* dw[o][i][k] += dg[(p-k) mod P] / (Ph·Pw) for every (i, o) pair. */
static void kernel_grad_taps(conv_fft *c, float *dweight)
{
    int n = c->cin * c->cout, K = c->K;
    float scale = 1.0f / ((float)c->Ph * (float)c->Pw);
#pragma omp for schedule(static)
    for (int blk = 0; blk < block_count(n); blk++) {
        int j0 = blk * BLOCK, len = block_length(blk, n);
        float complex *block = thread_block(c);
        gather_block(c, block, c->aux_hat, (size_t)n, j0, len);
        for (int jj = 0; jj < len; jj++) {
            int io = j0 + jj, i = io / c->cout, o = io % c->cout;
            const float *dg = inverse_spec(c, block + (size_t)jj * c->spec_stride);
            float *dw = dweight + ((size_t)o * c->cin + i) * K * K;
            for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++)
                    dw[ky * K + kx] +=
                        scale * dg[tap_slot(ky, K, c->Ph) * c->Pw + tap_slot(kx, K, c->Pw)];
        }
    }
}

void conv_fft_backward(conv_fft *c, float *din, float *dweight, float *dbias,
                       const float *dout, int B)
{
    if (!din && !dweight && !dbias)
        return;
#pragma omp parallel num_threads(c->threads) if (c->threads > 1)
    {
        forward_maps(c, c->out_hat, (size_t)B * c->cout, dout, B * c->cout);
        if (dbias) {
#pragma omp single nowait
            /* Bin 0 of a map's spectrum is the sum of its pixels. */
            for (int o = 0; o < c->cout; o++) {
                float sum = 0.0f;
                for (int b = 0; b < B; b++)
                    sum += crealf(c->out_hat[(size_t)b * c->cout + o]);
                dbias[o] += sum;
            }
        }
        if (dweight) {
            mix_kernel_grad(c, B);
            kernel_grad_taps(c, dweight);
        }
        if (din) {
            mix_input_grad(c, B);
            inverse_maps(c, din, c->aux_hat, (size_t)B * c->cin, B * c->cin, NULL, 1);
        }
    }
}
