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
    double target = rms * rms * n, s = 0, smallest = INFINITY, largest = 0;
    int nonzero = 0;
    for (int i = 0; i < n; i++) {
        s += (double)x[i] * x[i];
        if (x[i] != 0) {
            nonzero++;
            smallest = fmin(smallest, fabs(x[i]));
            largest = fmax(largest, fabs(x[i]));
        }
    }
    if (!(s > 0) || 0.99 * 0.99 * nonzero < target)
        return 1;
    double lo = sqrt(target / s), hi = 0.99 / smallest; /* f(lo) <= target <= f(hi) */
    /* Where no sample passes 0.99 at lo, f(lo) = target exactly and lo is the
     * answer; clamped_energy(lo) may still fall an ulp short of target by
     * rounding, and the bisection would then chase that ulp through ~50
     * passes over the clip (most of a sound MEI step's time): only a clip
     * that clamps is bisected. */
    if (lo * largest > 0.99 && clamped_energy(x, n, lo) < target) {
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

/* clip_ascend's objective through the batch interface: one clip. */
typedef struct single_objective {
    clip_objective f;
    void *user;
} single_objective;

static void one_clip(const float *clips, int count, float *grads, double *values, void *user)
{
    const single_objective *s = user;
    (void)count; /* 1 */
    values[0] = s->f(clips, grads, s->user);
}

int clip_ascend(float *clip, int n, const clip_ascent_options *o, clip_objective objective,
                void *user, double *best_value, char *err)
{
    single_objective s = {objective, user};
    return clip_ascend_batch(clip, 1, n, o, one_clip, &s, best_value, err);
}

/* "" for one clip (clip_ascend's messages), " (clip c)" for a batch. */
static const char *which(int count, int c, char *buf, size_t size)
{
    if (count == 1)
        return "";
    snprintf(buf, size, " (clip %d)", c);
    return buf;
}

int clip_ascend_batch(float *clips, int count, int n, const clip_ascent_options *o,
                      clip_batch_objective objective, void *user, double *best_values, char *err)
{
    if (count < 1 || n < 1)
        return model_fail(err, "clip ascent: %d clips of %d samples", count, n);
    double rms = pow(10, o->rms_db / 20);
    size_t all = (size_t)count * (size_t)n;
    float *r = malloc(sizeof(float) * (size_t)n), *x = malloc(sizeof(float) * all);
    float *z = malloc(sizeof(float) * all), *g = malloc(sizeof(float) * all);
    float *best = malloc(sizeof(float) * all);
    double *top = malloc(sizeof(double) * (size_t)count);
    double *v = malloc(sizeof(double) * (size_t)count);
    char *done = calloc((size_t)count, 1); /* a flat objective: nothing more to climb */
    char tag[32];
    int status = 0, left = count;
    if (!r || !x || !z || !g || !best || !top || !v || !done) {
        model_fail(err, "clip ascent: out of memory");
        status = 1;
        goto done;
    }
    for (int i = 0; i < n; i++)
        r[i] = 1;
    clip_ramp(r, n, o->ramp);
    for (int c = 0; c < count; c++) {
        float *xc = x + (size_t)c * n;
        for (int i = 0; i < n; i++)
            xc[i] = clips[(size_t)c * n + i] * r[i];
        if (project(xc, n, rms)) {
            model_fail(err, "clip ascent%s: the start is silent or cannot be put at "
                       "%.1f dBFS within full scale", which(count, c, tag, sizeof tag), o->rms_db);
            status = 1;
            goto done;
        }
        top[c] = -INFINITY;
    }
    /* Each clip's arithmetic is clip_ascend's alone: the batch shares only the
     * objective's call (a clip that is done is still evaluated, unused). */
    for (int step = 0; left > 0; step++) {
        /* z: the clip with its ramp undone (0 where the ramp is 0, never used there). */
        for (int c = 0; c < count; c++)
            for (int i = 0; i < n; i++) {
                size_t j = (size_t)c * n + i;
                z[j] = r[i] > 0 ? x[j] / r[i] : 0;
            }
        objective(x, count, g, v, user);
        for (int c = 0; c < count; c++) {
            if (done[c])
                continue;
            float *xc = x + (size_t)c * n, *gc = g + (size_t)c * n, *zc = z + (size_t)c * n;
            if (!isfinite(v[c])) {
                model_fail(err, "clip ascent%s: the objective is not finite at step %d",
                           which(count, c, tag, sizeof tag), step);
                status = 1;
                goto done;
            }
            if (v[c] > top[c]) {
                top[c] = v[c];
                memcpy(best + (size_t)c * n, xc, sizeof(float) * (size_t)n);
            }
            if (step == o->steps) {
                done[c] = 1;
                left--;
                continue;
            }
            double s = 0;
            for (int i = 0; i < n; i++) {
                gc[i] *= r[i];
                s += (double)gc[i] * gc[i];
            }
            if (!(s > 0)) {
                done[c] = 1;
                left--;
                continue;
            }
            double lr = o->step_size * (1.0 - (double)step / o->steps) * rms / sqrt(s / n);
            for (int i = 0; i < n; i++)
                xc[i] = r[i] * (float)(zc[i] + lr * gc[i]);
            if (project(xc, n, rms)) {
                model_fail(err, "clip ascent%s: step %d left a clip that cannot be "
                           "put at %.1f dBFS within full scale", which(count, c, tag, sizeof tag),
                           step, o->rms_db);
                status = 1;
                goto done;
            }
        }
    }
    memcpy(clips, best, sizeof(float) * all);
    memcpy(best_values, top, sizeof(double) * (size_t)count);
done:
    free(r);
    free(x);
    free(z);
    free(g);
    free(best);
    free(top);
    free(v);
    free(done);
    return status;
}
