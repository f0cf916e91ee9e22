/* receptive_field.c: input gradients of objectives that weight few neurons,
 * computed over those neurons' receptive fields only.
 *
 * With a Gaussian readout in evaluation mode, neuron n reads the core's last
 * map at the 2×2 pixels around its mean position. Each "same" convolution of
 * kernel K widens what a region depends on by p = (K-1)/2 on every side, so
 * the neuron's rate depends on an input window of a few hundred pixels (22×22
 * for kernels 9/7/7), not on the whole image. This file runs the core's
 * forward and backward on those shrinking windows only: each layer computes
 * its output region from its input region, which is the output region widened
 * by p and clipped to the image. Where the widened region leaves the image the
 * full network sees zero padding, and so does the window (the im2col below
 * fills zeros there), so results equal the full path up to float rounding:
 * nothing is approximated. Batch norm in evaluation mode is a per-channel
 * affine map and ELU is elementwise, so both work on any region.
 *
 * Each window convolution is an im2col and one GEMM (cout × cin·K² times
 * cin·K² × pixels); its input gradient is the transposed GEMM and a col2im
 * scatter. For the reference model that is ~4M multiply-adds forward and as
 * many backward per image, against ~235M for the full-map path.
 *
 * Determinism: each image is computed by one thread, start to end, with
 * single-threaded BLAS (model_create sets it), so the result does not depend
 * on the thread count.
 */
#include "network.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* More weighted neurons than this in one image: the full path is used (the
 * union of many windows soon covers the image anyway). */
#define RF_MAX_NEURONS 16

/* A rectangle of pixels: rows y0..y0+h-1, columns x0..x0+w-1. */
typedef struct rf_rect {
    int y0, x0, h, w;
} rf_rect;

static int rect_area(rf_rect r) { return r.h * r.w; }

/* r widened by pad on every side and clipped to the H×W image. */
static rf_rect rect_widen(rf_rect r, int pad, int H, int W)
{
    int y0 = r.y0 - pad < 0 ? 0 : r.y0 - pad;
    int x0 = r.x0 - pad < 0 ? 0 : r.x0 - pad;
    int y1 = r.y0 + r.h + pad > H ? H : r.y0 + r.h + pad; /* exclusive */
    int x1 = r.x0 + r.w + pad > W ? W : r.x0 + r.w + pad;
    rf_rect out = {y0, x0, y1 - y0, x1 - x0};
    return out;
}

/* One weighted neuron's readout tap, in the last map's image coordinates. */
typedef struct rf_tap {
    int neuron;
    float weight; /* its weight in the objective */
    int x0, x1, y0, y1;
    float w[4];   /* bilinear weights of (y0,x0), (y0,x1), (y1,x0), (y1,x1) */
} rf_tap;

/* What one image needs: its taps and the region of each map.
 * region[0] is the input window, region[l+1] the output region of layer l. */
typedef struct rf_plan {
    int n_taps;
    rf_tap taps[RF_MAX_NEURONS];
    rf_rect region[MODEL_MAX_LAYERS + 1];
    size_t scratch; /* floats of scratch this image needs */
} rf_plan;

/* The readout position in evaluation mode: the mean, clamped to the map the
 * way draw_positions in network.c clamps it (ε = 0). */
static void eval_position(const model *m, int n, float pos[2])
{
    for (int d = 0; d < 2; d++) {
        float p = m->readout_mu[2 * n + d] + fabsf(m->readout_sigma[n]) * 0.0f;
        pos[d] = p < -1.0f ? -1.0f : p > 1.0f ? 1.0f : p;
    }
}

/* Scratch floats for one image's window pass (see rf_image_gradient). */
static size_t plan_scratch(const model_config *c, const rf_plan *p)
{
    size_t C = (size_t)c->channels, acts = 0, col = 0, widest = (size_t)rect_area(p->region[0]);
    for (int l = 0; l < c->layers; l++) {
        size_t out_area = (size_t)rect_area(p->region[l + 1]);
        size_t cin = l == 0 ? 1 : C, k = (size_t)c->kernel[l];
        acts += C * out_area;
        if (cin * k * k * out_area > col)
            col = cin * k * k * out_area;
        if (C * out_area > widest)
            widest = C * out_area;
        if (cin * (size_t)rect_area(p->region[l]) > widest)
            widest = cin * (size_t)rect_area(p->region[l]);
    }
    return (size_t)rect_area(p->region[0]) + acts + col + 2 * widest;
}

/* Multiply-adds of the window pass (forward and backward) and an estimate of
 * the full-map path's in the same units (network.c's FFT cost model, forward
 * and backward alike), to pick the cheaper. */
static double window_cost(const model_config *c, const rf_plan *p)
{
    double cost = 0.0;
    for (int l = 0; l < c->layers; l++) {
        double cin = l == 0 ? 1 : c->channels, k = c->kernel[l];
        cost += 2.0 * rect_area(p->region[l + 1]) * cin * c->channels * k * k;
    }
    return cost;
}

static double full_cost(const model_config *c)
{
    double HW = (double)c->height * c->width, cost = 0.0;
    for (int l = 0; l < c->layers; l++) {
        double cin = l == 0 ? 1 : c->channels, cout = c->channels;
        cost += 2.0 * HW * (26.0 * (cin + cout) + 4.0 * cin * cout);
    }
    return cost;
}

/* Plan image b: its weighted neurons' taps and the regions they depend on.
 * Returns 0 when the window path does not apply (too many neurons, or
 * windows so large that the full path is cheaper). */
static int plan_image(const model *m, const float *weights_b, rf_plan *p)
{
    const model_config *c = &m->cfg;
    int H = c->height, W = c->width;
    int ymin = H, ymax = -1, xmin = W, xmax = -1;
    p->n_taps = 0;
    for (int n = 0; n < c->neurons; n++) {
        if (weights_b[n] == 0.0f)
            continue;
        if (p->n_taps == RF_MAX_NEURONS)
            return 0;
        rf_tap *t = &p->taps[p->n_taps++];
        float pos[2];
        eval_position(m, n, pos);
        t->neuron = n;
        t->weight = weights_b[n];
        gaussian_readout_tap(pos, H, W, &t->x0, &t->x1, &t->y0, &t->y1, t->w);
        ymin = t->y0 < ymin ? t->y0 : ymin;
        ymax = t->y1 > ymax ? t->y1 : ymax;
        xmin = t->x0 < xmin ? t->x0 : xmin;
        xmax = t->x1 > xmax ? t->x1 : xmax;
    }
    if (p->n_taps == 0) { /* J = 0 and a zero gradient: one pixel keeps the code uniform */
        ymin = ymax = xmin = xmax = 0;
    }
    rf_rect r = {ymin, xmin, ymax - ymin + 1, xmax - xmin + 1};
    p->region[c->layers] = r;
    for (int l = c->layers - 1; l >= 0; l--)
        p->region[l] = rect_widen(p->region[l + 1], (c->kernel[l] - 1) / 2, H, W);
    p->scratch = plan_scratch(c, p);
    return window_cost(c, p) < full_cost(c);
}

/* Output offsets [*lo, *hi) along one axis whose tap `k` lands inside the
 * input region: in = out_start + o + k - p - in_start must lie in [0, in_size). */
static void valid_range(int out_start, int out_size, int in_start, int in_size, int k, int p,
                        int *lo, int *hi)
{
    int shift = out_start + k - p - in_start; /* input index of output 0 */
    *lo = shift < 0 ? -shift : 0;
    *hi = in_size - shift < out_size ? in_size - shift : out_size;
    if (*hi < *lo)
        *hi = *lo;
}

/* Where one tap (ky, kx) reads: output pixels oy in [y_lo, y_hi), ox in
 * [x_lo, x_hi) take input pixel oy·in_w + ox + shift; `clipped`: some output
 * pixels' tap falls outside the input region (the image's edge). */
typedef struct window_tap {
    int y_lo, y_hi, x_lo, x_hi, shift, clipped;
} window_tap;

static window_tap window_tap_at(rf_rect ri, rf_rect ro, int ky, int kx, int p)
{
    window_tap t;
    valid_range(ro.y0, ro.h, ri.y0, ri.h, ky, p, &t.y_lo, &t.y_hi);
    valid_range(ro.x0, ro.w, ri.x0, ri.w, kx, p, &t.x_lo, &t.x_hi);
    t.shift = (ro.y0 + ky - p - ri.y0) * ri.w + (ro.x0 + kx - p - ri.x0);
    t.clipped = t.y_hi - t.y_lo < ro.h || t.x_hi - t.x_lo < ro.w;
    return t;
}

/* Columns for a window convolution: col[(i·K + ky)·K + kx][s] is input
 * channel i at output pixel s's tap (ky, kx), zero outside the input region
 * (which is where the image ends: the region is the output widened by p).
 * The valid span of each row is found once, so the inner loops are plain
 * copies (a bounds test per element cost more than the GEMM). */
static void window_im2col(float *col, const float *in, rf_rect ri, rf_rect ro, int cin, int K)
{
    int p = (K - 1) / 2, area = rect_area(ro);
    for (int i = 0; i < cin; i++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                window_tap t = window_tap_at(ri, ro, ky, kx, p);
                float *dst = col + ((size_t)(i * K + ky) * K + kx) * area;
                if (t.clipped)
                    memset(dst, 0, sizeof(float) * (size_t)area);
                const float *src = in + (size_t)i * rect_area(ri);
                for (int oy = t.y_lo; oy < t.y_hi; oy++)
                    for (int ox = t.x_lo; ox < t.x_hi; ox++)
                        dst[oy * ro.w + ox] = src[oy * ri.w + ox + t.shift];
            }
}

/* The transpose of window_im2col: add each column entry back to its input
 * pixel (din is zeroed first). */
static void window_col2im(float *din, const float *col, rf_rect ri, rf_rect ro, int cin, int K)
{
    int p = (K - 1) / 2, area = rect_area(ro);
    memset(din, 0, sizeof(float) * (size_t)cin * rect_area(ri));
    for (int i = 0; i < cin; i++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                window_tap t = window_tap_at(ri, ro, ky, kx, p);
                const float *src = col + ((size_t)(i * K + ky) * K + kx) * area;
                float *dst = din + (size_t)i * rect_area(ri);
                for (int oy = t.y_lo; oy < t.y_hi; oy++)
                    for (int ox = t.x_lo; ox < t.x_hi; ox++)
                        dst[oy * ri.w + ox + t.shift] += src[oy * ro.w + ox];
            }
}

/* Batch norm's evaluation-mode scale for channel o (1 without batch norm). */
static float bn_scale(const model *m, const conv_layer *L, int o)
{
    if (!m->cfg.batch_norm)
        return 1.0f;
    return L->gamma[o] / sqrtf(L->running_var[o] + BATCHNORM_EPS);
}

/* Layer l on its window: conv (im2col + GEMM), bias, batch norm, ELU. */
static void window_layer_forward(const model *m, int l, float *act, const float *in,
                                 rf_rect ri, rf_rect ro, float *col)
{
    const conv_layer *L = &m->conv[l];
    int area = rect_area(ro), depth = L->cin * L->k * L->k;
    window_im2col(col, in, ri, ro, L->cin, L->k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->cout, area, depth, 1.0f,
                L->weight, depth, col, area, 0.0f, act, area);
    for (int o = 0; o < L->cout; o++) {
        float scale = bn_scale(m, L, o), shift = 0.0f;
        if (m->cfg.batch_norm)
            shift = L->beta[o] - scale * L->running_mean[o];
        float *a = act + (size_t)o * area;
        for (int s = 0; s < area; s++) {
            float pre = a[s] + L->bias[o];
            a[s] = m->cfg.batch_norm ? scale * pre + shift : pre;
        }
    }
    elu_forward(act, act, (size_t)L->cout * area);
}

/* Layer l's input gradient on its window, from dact = dJ/d(act) (clobbered). */
static void window_layer_backward(const model *m, int l, float *din, float *dact,
                                  const float *act, rf_rect ri, rf_rect ro, float *col)
{
    const conv_layer *L = &m->conv[l];
    int area = rect_area(ro), depth = L->cin * L->k * L->k;
    elu_backward(dact, dact, act, (size_t)L->cout * area);
    if (m->cfg.batch_norm)
        for (int o = 0; o < L->cout; o++) {
            float scale = bn_scale(m, L, o), *d = dact + (size_t)o * area;
            for (int s = 0; s < area; s++)
                d[s] *= scale;
        }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, depth, area, L->cout, 1.0f,
                L->weight, depth, dact, area, 0.0f, col, area);
    window_col2im(din, col, ri, ro, L->cin, L->k);
}

/* The readout of the weighted neurons from the last map's window: returns
 * J = Σ w·rate and writes dJ/d(map) into dmap (zeroed here). */
static double window_readout(const model *m, const rf_plan *p, const float *map, float *dmap)
{
    const model_config *c = &m->cfg;
    rf_rect r = p->region[c->layers];
    int C = c->channels, area = rect_area(r);
    double J = 0.0;
    memset(dmap, 0, sizeof(float) * (size_t)C * area);
    for (int k = 0; k < p->n_taps; k++) {
        const rf_tap *t = &p->taps[k];
        int i[4] = {(t->y0 - r.y0) * r.w + t->x0 - r.x0, (t->y0 - r.y0) * r.w + t->x1 - r.x0,
                    (t->y1 - r.y0) * r.w + t->x0 - r.x0, (t->y1 - r.y0) * r.w + t->x1 - r.x0};
        const float *wn = m->readout_weight + (size_t)t->neuron * C;
        float acc = 0.0f;
        for (int ch = 0; ch < C; ch++) {
            const float *f = map + (size_t)ch * area;
            acc += wn[ch] * (t->w[0] * f[i[0]] + t->w[1] * f[i[1]] + t->w[2] * f[i[2]] +
                             t->w[3] * f[i[3]]);
        }
        float linear = m->readout_bias[t->neuron] + acc, rate, dlinear;
        elu1_forward(&rate, &linear, 1);
        elu1_backward(&dlinear, &t->weight, &linear, 1);
        J += (double)t->weight * rate;
        for (int ch = 0; ch < C; ch++) {
            float g = dlinear * wn[ch], *d = dmap + (size_t)ch * area;
            for (int q = 0; q < 4; q++)
                d[i[q]] += g * t->w[q];
        }
    }
    return J;
}

/* One image through its windows, forward and backward. grad_b (H×W) gets
 * dJ/d(image) (zero outside the input window); returns J. `scratch` holds
 * p->scratch floats. */
static double rf_image_gradient(const model *m, const rf_plan *p, const float *image,
                                float *grad_b, float *scratch)
{
    const model_config *c = &m->cfg;
    int W = c->width, L = c->layers;
    size_t C = (size_t)c->channels;
    rf_rect r0 = p->region[0];
    float *in = scratch, *act[MODEL_MAX_LAYERS];
    float *next = in + rect_area(r0);
    for (int l = 0; l < L; l++) {
        act[l] = next;
        next += C * rect_area(p->region[l + 1]);
    }
    /* col is as large as the largest im2col; the two gradients as the widest map */
    size_t col_size = 0, widest = (size_t)rect_area(r0);
    for (int l = 0; l < L; l++) {
        size_t cin = l == 0 ? 1 : C, k = (size_t)c->kernel[l];
        size_t out_area = (size_t)rect_area(p->region[l + 1]);
        col_size = cin * k * k * out_area > col_size ? cin * k * k * out_area : col_size;
        widest = C * out_area > widest ? C * out_area : widest;
        widest = cin * rect_area(p->region[l]) > widest ? cin * rect_area(p->region[l]) : widest;
    }
    float *col = next, *ga = col + col_size, *gb = ga + widest;

    float mean = m->input_mean, inv = 1.0f / m->input_std;
    for (int y = 0; y < r0.h; y++)
        for (int x = 0; x < r0.w; x++)
            in[y * r0.w + x] = (image[(size_t)(r0.y0 + y) * W + r0.x0 + x] - mean) * inv;
    const float *layer_in = in;
    for (int l = 0; l < L; l++) {
        window_layer_forward(m, l, act[l], layer_in, p->region[l], p->region[l + 1], col);
        layer_in = act[l];
    }
    double J = window_readout(m, p, act[L - 1], ga);
    for (int l = L - 1; l >= 0; l--) {
        window_layer_backward(m, l, gb, ga, act[l], p->region[l], p->region[l + 1], col);
        float *t = ga;
        ga = gb;
        gb = t;
    }
    /* ga holds dJ/d(standardized input window) */
    memset(grad_b, 0, sizeof(float) * (size_t)c->height * W);
    for (int y = 0; y < r0.h; y++)
        for (int x = 0; x < r0.w; x++)
            grad_b[(size_t)(r0.y0 + y) * W + r0.x0 + x] = ga[y * r0.w + x] * inv;
    return J;
}

/* The full-map path: every rate, then J from them. */
static int full_objective_gradient(model *m, const float *images, int batch,
                                   const float *weights, float *grad, float *objective,
                                   char *err)
{
    size_t N = (size_t)m->cfg.neurons;
    float *rates = malloc((size_t)batch * N * sizeof(float));
    if (!rates)
        return model_fail(err, "out of memory for %d×%zu rates", batch, N);
    int failed = model_input_gradient(m, images, batch, weights, grad, rates, err);
    for (size_t b = 0; !failed && b < (size_t)batch; b++) {
        double J = 0.0;
        for (size_t n = 0; n < N; n++)
            J += (double)weights[b * N + n] * rates[b * N + n];
        objective[b] = (float)J;
    }
    free(rates);
    return failed;
}

/* All images through their windows, the batch split between threads. */
static int window_objective_gradient(model *m, const float *images, int batch, float *grad,
                                     float *objective, const rf_plan *plans, size_t scratch,
                                     char *err)
{
    size_t HW = (size_t)m->cfg.height * m->cfg.width;
    int failed = 0;
#pragma omp parallel num_threads(m->threads)
    {
        float *s = malloc(scratch * sizeof(float));
        if (!s) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int b = 0; b < batch; b++)
            if (s)
                objective[b] = (float)rf_image_gradient(m, &plans[b], images + b * HW,
                                                        grad + b * HW, s);
        free(s);
    }
    if (failed)
        model_fail(err, "out of memory for receptive-field scratch");
    return failed;
}

/* Whether the windows can serve a model: a Gaussian readout's CNN. They
 * follow the convolutions only; a normalization stage's pool reaches beyond
 * them, so such a model takes the full pass. */
static int windows_serve(const model_config *c)
{
    return c->kind != MODEL_LNP && c->readout == READOUT_GAUSSIAN && !(c->normalization_pool > 0.0f);
}

int model_input_gradient_objective(model *m, const float *images, int batch,
                                   const float *weights, float *grad, float *objective,
                                   char *err)
{
    const model_config *c = &m->cfg;
    if (batch < 1)
        return model_fail(err, "batch of %d images", batch);
    if (!windows_serve(c))
        return full_objective_gradient(m, images, batch, weights, grad, objective, err);
    rf_plan *plans = malloc((size_t)batch * sizeof *plans);
    if (!plans)
        return model_fail(err, "out of memory for %d receptive-field plans", batch);
    int windows = 1;
    size_t scratch = 0;
    for (int b = 0; b < batch && windows; b++) {
        windows = plan_image(m, weights + (size_t)b * c->neurons, &plans[b]);
        scratch = plans[b].scratch > scratch ? plans[b].scratch : scratch;
    }
    int failed = windows ? window_objective_gradient(m, images, batch, grad, objective, plans,
                                                     scratch, err)
                         : full_objective_gradient(m, images, batch, weights, grad, objective,
                                                   err);
    free(plans);
    return failed;
}

int model_input_gradient_uses_windows(const model *m, const float *weights, int batch)
{
    const model_config *c = &m->cfg;
    if (!windows_serve(c))
        return 0;
    rf_plan p;
    for (int b = 0; b < batch; b++)
        if (!plan_image(m, weights + (size_t)b * c->neurons, &p))
            return 0;
    return 1;
}
