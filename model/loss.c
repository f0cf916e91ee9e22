/* loss.c: the Poisson likelihood the model is fitted with and the penalties
 * that regularize it. Sums are taken in double: they run over every neuron
 * of every trial in a batch. */
#include "layers.h"

#include <math.h>

double poisson_loss(float *drate, const float *rate, const float *resp, int B, int N)
{
    size_t count = (size_t)B * N;
    double sum = 0.0, inv_batch = B > 0 ? 1.0 / B : 0.0;
    for (size_t i = 0; i < count; i++) {
        /* eps keeps log finite when a rate underflows to zero. */
        double r = (double)rate[i] + POISSON_EPS;
        sum += rate[i] - resp[i] * log(r);
        if (drate)
            drate[i] = (float)(inv_batch * (1.0 - resp[i] / r));
    }
    return sum * inv_batch;
}

/* The 3×3 Laplacian (4 at the centre, -1 at the four neighbours) applied to
 * a K×K kernel with zero padding, at (y, x). */
static double laplacian_at(const float *k, int K, int y, int x)
{
    double v = 4.0 * k[y * K + x];
    if (y > 0)
        v -= k[(y - 1) * K + x];
    if (y < K - 1)
        v -= k[(y + 1) * K + x];
    if (x > 0)
        v -= k[y * K + x - 1];
    if (x < K - 1)
        v -= k[y * K + x + 1];
    return v;
}

/* penalty = Σ_p (Lw)_p². With zero padding L is a symmetric matrix, so the
 * gradient is 2·L(Lw); (Lw) at the neighbours is recomputed rather than
 * stored, which costs little for kernels this small. */
double laplace_penalty(float *dweight, const float *weight, int Cout, int Cin, int K,
                       float weight_scale)
{
    double total = 0.0;
    for (int kernel = 0; kernel < Cout * Cin; kernel++) {
        const float *w = weight + (size_t)kernel * K * K;
        float *dw = dweight ? dweight + (size_t)kernel * K * K : NULL;
        for (int y = 0; y < K; y++) {
            for (int x = 0; x < K; x++) {
                double lap = laplacian_at(w, K, y, x);
                total += lap * lap;
                if (!dw)
                    continue;
                double v = 4.0 * lap;
                if (y > 0)
                    v -= laplacian_at(w, K, y - 1, x);
                if (y < K - 1)
                    v -= laplacian_at(w, K, y + 1, x);
                if (x > 0)
                    v -= laplacian_at(w, K, y, x - 1);
                if (x < K - 1)
                    v -= laplacian_at(w, K, y, x + 1);
                dw[y * K + x] += (float)(2.0 * weight_scale * v);
            }
        }
    }
    return weight_scale * total;
}

double l1_penalty(float *dweight, const float *weight, size_t n, float weight_scale)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        total += fabsf(weight[i]);
        if (dweight) /* sign(0) = 0: a zero weight is left alone */
            dweight[i] += weight_scale * (float)((weight[i] > 0.0f) - (weight[i] < 0.0f));
    }
    return weight_scale * total;
}
