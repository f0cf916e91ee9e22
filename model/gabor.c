/* gabor.c: the zero-mean, unit-norm Gabor filter that the LNP baseline's
 * fixed bank (dense.c) and the simulated cells (simulate.c) are made of. */
#include "model.h"

#include <math.h>

/* envelope · (carrier − c), with c the envelope-weighted mean of the
 * carrier, so that the filter sums to zero over the image even where the
 * border cuts the envelope; then unit L2 norm. In double precision: the
 * float result is the rounded exact filter. */
void gabor_zero_mean(float *out, int height, int width, double cx, double cy, double sigma,
                     double frequency, double orientation, double phase)
{
    double ct = cos(orientation), st = sin(orientation);
    double two_s2 = 2.0 * sigma * sigma;
    double env_sum = 0.0, carrier_sum = 0.0;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double dx = x - cx, dy = y - cy;
            double env = exp(-(dx * dx + dy * dy) / two_s2);
            double u = dx * ct + dy * st;
            env_sum += env;
            carrier_sum += env * cos(2.0 * M_PI * frequency * u + phase);
        }
    double dc = env_sum > 0.0 ? carrier_sum / env_sum : 0.0, norm = 0.0;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double dx = x - cx, dy = y - cy;
            double env = exp(-(dx * dx + dy * dy) / two_s2);
            double u = dx * ct + dy * st;
            double g = env * (cos(2.0 * M_PI * frequency * u + phase) - dc);
            out[y * width + x] = (float)g;
            norm += g * g;
        }
    float scale = norm > 0.0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int p = 0; p < height * width; p++)
        out[p] *= scale;
}
