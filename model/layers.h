/* layers.h: the model's layers, private to the model library.
 *
 * Each layer is a _forward/_backward pair over plain float arrays (in the
 * style of llm.c): no hidden state, the caller owns every buffer. Activations
 * are NCHW: batch B, channels C, height H, width W, contiguous.
 * Backward functions ACCUMULATE (+=) into parameter gradients and WRITE (=)
 * input gradients; any gradient pointer may be NULL when it is not needed.
 */
#ifndef INCEPTION_MODEL_LAYERS_H
#define INCEPTION_MODEL_LAYERS_H

#include <stddef.h>

/* --- 2-D convolution, same padding, stride 1 (cross-correlation, as in
 * PyTorch): out[b][o][y][x] = bias[o] + Σ_i Σ_ky Σ_kx
 *   weight[o][i][ky][kx] · in[b][i][y+ky-p][x+kx-p],  p = (K-1)/2,
 * zero outside the image. K is odd. */

/* The kernel offsets k in [*lo, *hi) whose tap at output position c (the
 * tap at input c + k - p, p = (K-1)/2) lies inside a line of n pixels: the
 * clipping of same padding, shared by the direct and sparse convolutions. */
static inline void conv_tap_range(int c, int n, int K, int *lo, int *hi)
{
    int p = (K - 1) / 2;
    *lo = c < p ? p - c : 0;
    *hi = n + p - c < K ? n + p - c : K;
}

/* Direct reference implementation: slow, obviously right, used by tests. */
void conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                    int B, int Cin, int Cout, int H, int W, int K);
void conv2d_backward(float *din, float *dweight, float *dbias, const float *dout,
                     const float *in, const float *weight,
                     int B, int Cin, int Cout, int H, int W, int K);

/* FFT implementation (what the model runs): zero-padded real FFTs (FFTW),
 * a complex channel-mixing GEMM per frequency, inverse FFT. The plan caches
 * the transformed kernels (conv_fft_set_weights after every weight change)
 * and the transformed input of the last forward pass, which backward uses. */
typedef struct conv_fft conv_fft;

/* max_batch: the largest B any later call passes. Returns NULL when out of
 * memory. Plans are made here (FFTW planning is not thread-safe). */
conv_fft *conv_fft_create(int max_batch, int Cin, int Cout, int H, int W, int K);
void conv_fft_destroy(conv_fft *c);
void conv_fft_set_threads(conv_fft *c, int threads);
void conv_fft_set_weights(conv_fft *c, const float *weight);
void conv_fft_forward(conv_fft *c, float *out, const float *in, const float *bias, int B);
/* Uses the input of the last conv_fft_forward (same B). */
void conv_fft_backward(conv_fft *c, float *din, float *dweight, float *dbias,
                       const float *dout, int B);

/* Input gradient alone, for an output gradient that is nonzero at few
 * pixels (one neuron's gradient reaches only its receptive field): each
 * active pixel scatters its K×K footprint, Cin·Cout·K² multiply-adds a pixel,
 * instead of the FFT path's fixed cost. conv_active_pixels lists, per image,
 * the pixels where any of the C channels is nonzero: indices (y·W + x) in
 * index[b·HW ...] (B·HW ints), their number in count[b]; scratch holds HW
 * bytes. Returns the total over the batch. The backward writes all of din
 * and returns non-zero only for a kernel wider than 31. */
size_t conv_active_pixels(int *index, int *count, unsigned char *scratch, const float *maps,
                          int B, int C, int HW);
int conv2d_backward_input_sparse(float *din, const float *dout, const int *index,
                                 const int *count, const float *weight,
                                 int B, int Cin, int Cout, int H, int W, int K);

/* --- ELU: out = x for x > 0, exp(x) - 1 otherwise. */
void elu_forward(float *out, const float *in, size_t n);
/* Needs the layer's output: d/dx = 1 for x > 0, out + 1 otherwise. */
void elu_backward(float *din, const float *dout, const float *out, size_t n);

/* --- Batch normalization over (B, H, W) per channel.
 * Training: normalize with the batch's statistics, save mean and 1/std per
 * channel for backward, and update running statistics:
 *   running = (1 - momentum) · running + momentum · batch (unbiased variance).
 * Evaluation: normalize with the running statistics (an affine map). */
#define BATCHNORM_EPS 1e-5f
void batchnorm_forward_train(float *out, float *save_mean, float *save_rstd, const float *in,
                             const float *gamma, const float *beta,
                             float *running_mean, float *running_var, float momentum,
                             int B, int C, int HW);
void batchnorm_backward_train(float *din, float *dgamma, float *dbeta, const float *dout,
                              const float *in, const float *save_mean, const float *save_rstd,
                              const float *gamma, int B, int C, int HW);
void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            int B, int C, int HW);
void batchnorm_backward_eval(float *din, const float *dout, const float *gamma,
                             const float *running_var, int B, int C, int HW);

/* --- Gaussian readout (Lurz et al. 2021): neuron n reads the core's feature
 * map F (B×C×H×W) at a position pos[b][n] = (x, y) in [-1,1]², x along width,
 * y along height, sampled bilinearly with align-corners convention:
 * pixel column = (x+1)/2·(W-1), row = (y+1)/2·(H-1).
 *   out[b][n] = bias[n] + Σ_c weight[n][c] · F_bilinear[b][c](pos[b][n])
 * The caller draws positions: mean + sigma·ε while training, the mean for
 * evaluation. dpos gets the gradient with respect to the positions. */
void gaussian_readout_forward(float *out, const float *features, const float *pos,
                              const float *weight, const float *bias,
                              int B, int C, int H, int W, int N);
void gaussian_readout_backward(float *dfeatures, float *dpos, float *dweight, float *dbias,
                               const float *dout, const float *features, const float *pos,
                               const float *weight, int B, int C, int H, int W, int N);

/* Where the Gaussian readout samples a H×W map at pos = (x, y): columns
 * x0, x1, rows y0, y1 and the bilinear weights w[4] of (y0,x0), (y0,x1),
 * (y1,x0), (y1,x1), with the readout's own arithmetic (the receptive-field
 * path must sample exactly the pixels the readout does). */
void gaussian_readout_tap(const float *pos, int H, int W, int *x0, int *x1, int *y0, int *y1,
                          float w[4]);

/* --- Factorized readout (Klindt et al. 2017): a spatial mask and feature
 * weights per neuron:
 *   out[b][n] = bias[n] + Σ_c weight[n][c] · Σ_s mask[n][s] · F[b][c][s]
 * `pooled` (B·N·C floats) is scratch that forward fills and backward reads;
 * it is laid out N×B×C so that one GEMM over the stacked batch fills it. */
void factorized_readout_forward(float *out, float *pooled, const float *features,
                                const float *mask, const float *weight, const float *bias,
                                int B, int C, int HW, int N);
void factorized_readout_backward(float *dfeatures, float *dmask, float *dweight, float *dbias,
                                 const float *dout, const float *pooled, const float *features,
                                 const float *mask, const float *weight,
                                 int B, int C, int HW, int N);

/* --- Divisive normalization of a feature map (Heeger 1992; Carandini &
 * Heeger 2012):
 *   out[b][c](p) = in[b][c](p) / √D[b][c](p),
 *   D[b][c](p) = a[c]² + DIVNORM_EPS + Σ_c' w[c][c']² · Q[b][c'](p),
 *   Q[b][c'] = G ⋆ in[b][c']²,
 * G a Gaussian pool of pool_sigma px, normalized to sum 1, zero outside the
 * map. w (C×C) and a (C) are learned; squared so that D > 0 always. Forward
 * keeps Q and D (B×C×H×W each) for backward; both take `scratch` of
 * divnorm_scratch_size floats. */
#define DIVNORM_EPS 1e-3f
int divnorm_pool_radius(float pool_sigma);
size_t divnorm_scratch_size(int C, int H, int W, float pool_sigma);
void divnorm_forward(float *out, float *save_q, float *save_d, float *scratch, const float *in,
                     const float *w, const float *a, int B, int C, int H, int W,
                     float pool_sigma);
void divnorm_backward(float *din, float *dw, float *da, float *scratch, const float *dout,
                      const float *in, const float *out, const float *save_q,
                      const float *save_d, const float *w, const float *a, int B, int C, int H,
                      int W, float pool_sigma);

/* --- Dense layer: out[b][n] = bias[n] + Σ_d weight[n][d] · in[b][d] (sgemm).
 * Used by the LNP baseline over its fixed features. */
void dense_forward(float *out, const float *in, const float *weight, const float *bias,
                   int B, int D, int N);
void dense_backward(float *din, float *dweight, float *dbias, const float *dout,
                    const float *in, const float *weight, int B, int D, int N);

/* --- Gabor bank: fixed linear features φ = G x for the LNP baseline. G is
 * D × (H·W): even and odd Gabors at several orientations and spatial
 * frequencies on a grid of positions. gabor_bank_size gives D. */
int gabor_bank_size(int H, int W);
void gabor_bank_build(float *G, int H, int W);

/* --- Output nonlinearities. */
/* ELU + 1: positive rates for the CNN. */
void elu1_forward(float *out, const float *in, size_t n);
void elu1_backward(float *din, const float *dout, const float *in, size_t n);
/* exp: the LNP's rate. */
void exp_forward(float *out, const float *in, size_t n);
void exp_backward(float *din, const float *dout, const float *out, size_t n);

/* --- Losses and regularizers. */
#define POISSON_EPS 1e-8f
/* Poisson negative log-likelihood, summed over neurons and averaged over the
 * batch: L = (1/B) Σ (r̂ - r·log(r̂ + eps)). Returns L; writes dL/dr̂. */
double poisson_loss(float *drate, const float *rate, const float *resp, int B, int N);
/* Laplacian smoothness of first-layer kernels: Σ_{o,i} ||lap ⋆ w[o][i]||²
 * with the 3×3 Laplacian [[0,-1,0],[-1,4,-1],[0,-1,0]] and zero padding.
 * Returns weight_scale · penalty; accumulates its gradient. */
double laplace_penalty(float *dweight, const float *weight, int Cout, int Cin, int K,
                       float weight_scale);
/* L1: weight_scale · Σ|w|; accumulates weight_scale · sign(w). */
double l1_penalty(float *dweight, const float *weight, size_t n, float weight_scale);

/* --- Adam (Kingma & Ba 2015) over one flat parameter vector. */
typedef struct adam_state {
    float *m, *v;  /* moments, size n */
    size_t n;
    long step;
    float beta1, beta2, eps;
} adam_state;

int adam_init(adam_state *a, size_t n);
void adam_free(adam_state *a);
/* One update: params -= lr · m̂ / (sqrt(v̂) + eps). `mask` (may be NULL)
 * skips parameters where mask[i] == 0 (frozen weights). */
void adam_step(adam_state *a, float *params, const float *grads, const unsigned char *mask,
               float lr);

#endif
