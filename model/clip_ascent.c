/* clip_ascent.c: gradient ascent on a sound clip's samples at a fixed level,
 * for searching a cell's best sound (a true cell's optimum, or a model's most
 * exciting sound).
 *
 * The clip is x = r ⊙ z, r the onset/offset ramp (so every iterate is ramped
 * like the clips shown), and each step moves z along the objective's
 * gradient with respect to z (r ⊙ ∂J/∂x), normalized to the budget's RMS,
 * times a step size that falls linearly to zero; then x is put back on the
 * budget: scaled to the RMS, with the samples that would pass 0.99 of full
 * scale clamped there and the scale solved so that the clamped clip still
 * has the RMS (a clip that cannot, with too few nonzero samples, ends the
 * ascent with an error). The best clip seen is returned. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Σ min(g|x|, 0.99)²: nondecreasing in g. */
static double clamped_energy(const float *x, int n, double g)
{
    double s = 0;
    for (int i = 0; i < n; i++) {
        double v = fmin(g * fabs(x[i]), 0.99);
        s += v * v;
    }
    return s;
}

/* Put x at `rms` with no sample past 0.99: x ← clamp(g·x) with g solved by
 * bisection (on log g) so that the clamped clip's RMS is `rms`. 1 when no g
 * does (silence, or too few nonzero samples even at 0.99). */
static int project(float *x, int n, double rms)
{
    double target = rms * rms * n, s = 0, smallest = INFINITY;
    int nonzero = 0;
    for (int i = 0; i < n; i++) {
        s += (double)x[i] * x[i];
        if (x[i] != 0) {
            nonzero++;
            smallest = fmin(smallest, fabs(x[i]));
        }
    }
    if (!(s > 0) || 0.99 * 0.99 * nonzero < target)
        return 1;
    double lo = sqrt(target / s), hi = 0.99 / smallest; /* f(lo) <= target <= f(hi) */
    if (clamped_energy(x, n, lo) < target) {
        for (int it = 0; it < 200 && hi / lo > 1 + 1e-13; it++) {
            double mid = sqrt(lo * hi);
            if (clamped_energy(x, n, mid) < target)
                lo = mid;
            else
                hi = mid;
        }
        lo = sqrt(lo * hi);
    }
    for (int i = 0; i < n; i++) {
        double v = lo * x[i];
        x[i] = (float)(v > 0.99 ? 0.99 : v < -0.99 ? -0.99 : v);
    }
    return 0;
}

int clip_ascend(float *clip, int n, const clip_ascent_options *o, clip_objective objective,
                void *user, double *best_value, char *err)
{
    double rms = pow(10, o->rms_db / 20);
    float *r = malloc(sizeof(float) * (size_t)n), *x = malloc(sizeof(float) * (size_t)n);
    float *z = malloc(sizeof(float) * (size_t)n), *g = malloc(sizeof(float) * (size_t)n);
    float *best = malloc(sizeof(float) * (size_t)n);
    int status = 0;
    if (!r || !x || !z || !g || !best) {
        model_fail(err, "clip ascent: out of memory");
        status = 1;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        r[i] = 1;
        x[i] = clip[i];
    }
    clip_ramp(r, n, o->ramp);
    for (int i = 0; i < n; i++)
        x[i] *= r[i];
    if (project(x, n, rms)) {
        model_fail(err, "clip ascent: the start is silent or cannot be put at "
                   "%.1f dBFS within full scale", o->rms_db);
        status = 1;
        goto done;
    }
    double top = -INFINITY;
    for (int step = 0;; step++) {
        /* z: the clip with its ramp undone (0 where the ramp is 0, never used there). */
        for (int i = 0; i < n; i++)
            z[i] = r[i] > 0 ? x[i] / r[i] : 0;
        double v = objective(x, g, user);
        if (!isfinite(v)) {
            model_fail(err, "clip ascent: the objective is not finite at step %d", step);
            status = 1;
            goto done;
        }
        if (v > top) {
            top = v;
            memcpy(best, x, sizeof(float) * (size_t)n);
        }
        if (step == o->steps)
            break;
        double s = 0;
        for (int i = 0; i < n; i++) {
            g[i] *= r[i];
            s += (double)g[i] * g[i];
        }
        if (!(s > 0))
            break; /* a flat objective: nothing to climb */
        double lr = o->step_size * (1.0 - (double)step / o->steps) * rms / sqrt(s / n);
        for (int i = 0; i < n; i++)
            x[i] = r[i] * (float)(z[i] + lr * g[i]);
        if (project(x, n, rms)) {
            model_fail(err, "clip ascent: step %d left a clip that cannot be "
                       "put at %.1f dBFS within full scale", step, o->rms_db);
            status = 1;
            goto done;
        }
    }
    memcpy(clip, best, sizeof(float) * (size_t)n);
    *best_value = top;
done:
    free(r);
    free(x);
    free(z);
    free(g);
    free(best);
    return status;
}
