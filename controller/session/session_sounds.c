/* session_sounds.c: what a session with `modality: audio` does differently
 * (docs/audio.md): its natural clips and their cochleagrams (the model's
 * input images), the auditory population behind the virtual rig, and the
 * most exciting sounds with their controls: the best natural clip, the
 * fitted linear STRF's optimum (rf) and the pure tone the model prefers. */
#include "controller.h"
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOUND_RAMP_MS 5.0

int session_sound_samples(const protocol *p)
{
    return (int)lround((double)p->sounds.clip_ms * p->sounds.rate / 1000.0);
}

void session_sound_config(const protocol *p, auditory_config *c)
{
    auditory_config_for(p->sounds.rate, session_sound_samples(p), p->sounds.bands,
                        p->sounds.rms_dbfs, c);
    c->ramp_ms = SOUND_RAMP_MS;
    c->neurons = p->virtual_rig.neurons;
    c->seed = p->virtual_rig.seed;
}

int session_sound_image_size(const protocol *p, int *bands, int *frames, char *err)
{
    auditory_config c;
    session_sound_config(p, &c);
    cochleagram *k;
    char merr[MODEL_ERR_SIZE];
    if (cochleagram_create(&k, &c.cochlea, merr))
        return controller_fail(err, "sounds: %s", merr);
    *bands = c.cochlea.bands;
    *frames = cochleagram_frames(k);
    cochleagram_destroy(k);
    return 0;
}

/* sounds.source folder: clips 0..count-1 of the folder's files (by name,
 * consecutive clips of each; sound_clips_read), into `clips`; with `files`
 * (count entries) each clip's file name, malloc'd. Too few is an error
 * naming the folder. */
static int folder_clips(const protocol *p, const auditory_config *c, int count, float *clips,
                        char **files, char *err)
{
    sound_clip_options o = {c->cochlea.sample_rate, c->cochlea.samples, count, c->rms_db,
                            c->ramp_ms, files};
    float *read;
    int got, skipped;
    char serr[STIMULUS_ERR_SIZE];
    if (count < 1)
        return 0;
    if (sound_clips_read(p->sounds.path, &o, &read, &got, &skipped, serr))
        return controller_fail(err, "natural clips: %s", serr);
    if (got < count) {
        for (int i = 0; files && i < got; i++)
            free(files[i]);
        free(read);
        return controller_fail(err, "natural clips: %s gives %d clips of %d samples (%d more "
                               "skipped as silent or too peaky); the protocol shows %d "
                               "(images.train + images.test)", p->sounds.path, got,
                               c->cochlea.samples, skipped, count);
    }
    memcpy(clips, read, (size_t)count * (size_t)c->cochlea.samples * sizeof(float));
    free(read);
    return 0;
}

int session_clip_file(const protocol *p, int id, char *name, size_t size)
{
    auditory_config c;
    session_sound_config(p, &c);
    float *clips = malloc((size_t)(id + 1) * (size_t)c.cochlea.samples * sizeof(float));
    char **files = calloc((size_t)id + 1, sizeof(char *)), err[CONTROLLER_ERR_SIZE];
    int status = !clips || !files || folder_clips(p, &c, id + 1, clips, files, err);
    if (!status)
        snprintf(name, size, "%s", files[id]);
    for (int i = 0; !status && i <= id; i++)
        free(files[i]);
    free(files);
    free(clips);
    return status;
}

int session_natural_clips(const protocol *p, int count, float *clips, float *images, char *err)
{
    auditory_config c;
    session_sound_config(p, &c);
    char merr[MODEL_ERR_SIZE];
    cochleagram *k = NULL;
    if (p->sounds.source == PROTOCOL_SOUNDS_FOLDER) {
        if (folder_clips(p, &c, count, clips, NULL, err))
            return 1;
    } else if (clip_synthetic(clips, count, c.cochlea.samples, c.cochlea.sample_rate, c.rms_db,
                              c.ramp_ms, p->seed, NULL, merr)) {
        /* The session's seed, not the rig's: the clips are the experimenter's. */
        return controller_fail(err, "natural clips: %s", merr);
    }
    if (cochleagram_create(&k, &c.cochlea, merr)) {
        cochleagram_destroy(k);
        return controller_fail(err, "natural clips: %s", merr);
    }
    cochleagram_forward(k, images, clips, count);
    cochleagram_destroy(k);
    return 0;
}

/* Indices of the `want` training clips the model predicts highest for
 * neuron n, best first. */
static void top_clips(const float *rates, int count, int neurons, const uint8_t *tier, int n,
                      int want, int *out, int *got)
{
    *got = 0;
    for (int k = 0; k < want; k++) {
        int best = -1;
        for (int i = 0; i < count; i++) {
            if (tier[i] != TIER_TRAIN)
                continue;
            int taken = 0;
            for (int j = 0; j < *got; j++)
                taken |= out[j] == i;
            if (!taken && (best < 0 || rates[(size_t)i * neurons + n] >
                                           rates[(size_t)best * neurons + n]))
                best = i;
        }
        if (best < 0)
            return;
        out[(*got)++] = best;
    }
}

/* ---- The linear STRF control: ridge regression on the cochleagram ---- */

/* Solves (A + lambda I) x = b in place of x for a symmetric positive
 * semidefinite A (P × P) by Cholesky in double; L is P × P scratch. 1 when
 * the matrix is not positive definite (lambda too small for it). */
static int ridge_solve(const double *A, int P, double lambda, const double *b, double *x,
                       double *L)
{
    for (int i = 0; i < P; i++)
        for (int j = 0; j <= i; j++) {
            double sum = A[(size_t)i * P + j] + (i == j ? lambda : 0);
            for (int k = 0; k < j; k++)
                sum -= L[(size_t)i * P + k] * L[(size_t)j * P + k];
            if (i == j) {
                if (!(sum > 0))
                    return 1;
                L[(size_t)i * P + i] = sqrt(sum);
            } else {
                L[(size_t)i * P + j] = sum / L[(size_t)j * P + j];
            }
        }
    for (int i = 0; i < P; i++) { /* L y = b */
        double sum = b[i];
        for (int k = 0; k < i; k++)
            sum -= L[(size_t)i * P + k] * x[k];
        x[i] = sum / L[(size_t)i * P + i];
    }
    for (int i = P - 1; i >= 0; i--) { /* Lᵀ x = y */
        double sum = x[i];
        for (int k = i + 1; k < P; k++)
            sum -= L[(size_t)k * P + i] * x[k];
        x[i] = sum / L[(size_t)i * P + i];
    }
    return 0;
}

/* Each target's linear STRF: rate ≈ w · cochleagram + c, fitted by ridge
 * regression on the training trials (cochleagram and responses centred),
 * its penalty chosen from 10^-4..10^2 × the mean feature variance by the
 * correlation on the validation trials. w: n_targets × P. */
int session_sound_fit_strfs(const dataset *d, const int *targets, int n_targets, float *w,
                            char *err)
{
    int P = d->height * d->width, N = d->neurons, n = 0, nv = 0;
    for (int t = 0; t < d->trials; t++) {
        n += d->tiers[t] == TIER_TRAIN;
        nv += d->tiers[t] == TIER_VALIDATION;
    }
    if (n < 2 || nv < 2)
        return controller_fail(err, "STRF control: %d training and %d validation trials "
                               "(2 of each at least)", n, nv);
    double *mean = calloc((size_t)P, sizeof(double));
    double *G = calloc((size_t)P * P, sizeof(double));
    double *L = malloc((size_t)P * P * sizeof(double));
    double *b = malloc((size_t)P * sizeof(double)), *x = malloc((size_t)P * sizeof(double));
    float *pred = malloc((size_t)nv * sizeof(float)), *obs = malloc((size_t)nv * sizeof(float));
    double *xc = malloc((size_t)P * sizeof(double));
    int status = 0;
    if (!mean || !G || !L || !b || !x || !pred || !obs || !xc) {
        status = controller_fail(err, "out of memory for the STRF control");
        goto done;
    }
    for (int t = 0; t < d->trials; t++)
        if (d->tiers[t] == TIER_TRAIN)
            for (int p = 0; p < P; p++)
                mean[p] += d->images[(size_t)t * P + p] / n;
    double trace = 0;
    for (int t = 0; t < d->trials; t++) {
        if (d->tiers[t] != TIER_TRAIN)
            continue;
        for (int p = 0; p < P; p++)
            xc[p] = d->images[(size_t)t * P + p] - mean[p];
        for (int i = 0; i < P; i++)
            for (int j = 0; j <= i; j++)
                G[(size_t)i * P + j] += xc[i] * xc[j];
    }
    for (int i = 0; i < P; i++) {
        trace += G[(size_t)i * P + i];
        for (int j = 0; j < i; j++)
            G[(size_t)j * P + i] = G[(size_t)i * P + j];
    }
    for (int j = 0; j < n_targets; j++) {
        int neuron = targets[j];
        double my = 0;
        for (int t = 0; t < d->trials; t++)
            if (d->tiers[t] == TIER_TRAIN)
                my += d->responses[(size_t)t * N + neuron] / n;
        for (int p = 0; p < P; p++)
            b[p] = 0;
        for (int t = 0; t < d->trials; t++) {
            if (d->tiers[t] != TIER_TRAIN)
                continue;
            double y = d->responses[(size_t)t * N + neuron] - my;
            for (int p = 0; p < P; p++)
                b[p] += (d->images[(size_t)t * P + p] - mean[p]) * y;
        }
        double best = -INFINITY;
        for (int e = -4; e <= 2; e++) {
            double lambda = pow(10, e) * (trace > 0 ? trace / P : 1);
            if (ridge_solve(G, P, lambda, b, x, L))
                continue;
            int k = 0;
            for (int t = 0; t < d->trials; t++) {
                if (d->tiers[t] != TIER_VALIDATION)
                    continue;
                double v = 0;
                for (int p = 0; p < P; p++)
                    v += x[p] * (d->images[(size_t)t * P + p] - mean[p]);
                pred[k] = (float)v;
                obs[k++] = d->responses[(size_t)t * N + neuron];
            }
            float r;
            metrics_correlation(pred, obs, nv, 1, &r);
            if (r > best) {
                best = r;
                for (int p = 0; p < P; p++)
                    w[(size_t)j * P + p] = (float)x[p];
            }
        }
        if (!isfinite(best)) {
            status = controller_fail(err, "STRF control of neuron %d: no penalty gave a "
                                     "positive definite system", neuron);
            goto done;
        }
    }
done:
    free(mean);
    free(G);
    free(L);
    free(b);
    free(x);
    free(pred);
    free(obs);
    free(xc);
    return status;
}

typedef struct strf_target {
    cochleagram *cochlea;
    const float *w; /* bands × frames */
    float *image;
    int P;
} strf_target;

/* J = w · cochleagram(clip) (the intercept does not move the optimum). */
static double strf_objective(const float *clip, float *grad, void *user)
{
    strf_target *t = user;
    cochleagram_forward(t->cochlea, t->image, clip, 1);
    double J = 0;
    for (int p = 0; p < t->P; p++)
        J += (double)t->w[p] * t->image[p];
    cochleagram_backward(t->cochlea, grad, t->w, clip, 1);
    return J;
}

/* The clip the STRF prefers at the budget: clip_ascend on it from the
 * natural training clip it predicts highest. */
static int strf_optimum(cochleagram *k, const float *w, const float *clips, const float *images,
                        const uint8_t *tier, int count, int P, int S,
                        const clip_ascent_options *o, float *clip, float *scratch, char *err)
{
    int best = -1;
    double top = -INFINITY;
    for (int i = 0; i < count; i++) {
        if (tier[i] != TIER_TRAIN)
            continue;
        double v = 0;
        for (int p = 0; p < P; p++)
            v += (double)w[p] * images[(size_t)i * P + p];
        if (v > top) {
            top = v;
            best = i;
        }
    }
    if (best < 0)
        return controller_fail(err, "STRF control: no natural training clip");
    memcpy(clip, clips + (size_t)best * S, (size_t)S * sizeof(float));
    strf_target t = {k, w, scratch, P};
    double value;
    char merr[MODEL_ERR_SIZE];
    if (clip_ascend(clip, S, o, strf_objective, &t, &value, merr))
        return controller_fail(err, "STRF control: %s", merr);
    return 0;
}

int session_sound_synthesize(const protocol *p, const dataset *d,
                             const session_fit_settings *set, const int *targets,
                             int n_targets, const float *clips, const float *images,
                             const uint8_t *tier, int count, session_fit_result *r,
                             float **clips_out, char *err)
{
    *clips_out = NULL;
    if (session_fit_prepare(d, set, targets, n_targets, r, err))
        return 1;
    /* No contrast budget: the clips' RMS level is the budget (a cochleagram's
     * pixel contrast means nothing here, and is not recorded). */
    r->budget.contrast = r->budget.mean_luminance = NAN;
    auditory_config c;
    session_sound_config(p, &c);
    int S = c.cochlea.samples, N = d->neurons, starts = p->mei.starts;
    size_t P = (size_t)d->height * (size_t)d->width;
    size_t slots = (size_t)(r->n_targets ? r->n_targets : 1) * (size_t)r->n_kinds;
    float *out = calloc(slots * (size_t)S, sizeof(float));
    float *rates = malloc((size_t)(count ? count : 1) * (size_t)N * sizeof(float));
    /* Every target's starts as one batch: batch_neuron[i] is the neuron clip
     * i ascends, target j's clips are first[j] .. first[j + 1] - 1, and
     * top[j · starts] is target j's natural clip predicted highest. */
    size_t batch_targets = (size_t)(r->n_targets ? r->n_targets : 1);
    size_t most = batch_targets * (size_t)(starts > 0 ? starts : 1);
    float *batch = malloc(most * (size_t)S * sizeof(float));
    double *predicted = malloc(most * sizeof(double));
    int *batch_neuron = malloc(most * sizeof(int)), *top = malloc(most * sizeof(int));
    int *first = malloc((batch_targets + 1) * sizeof(int));
    cochleagram *k = NULL;
    char serr[STIMULUS_ERR_SIZE];
    int status = 1;
    if (!out || !rates || !batch || !predicted || !batch_neuron || !top || !first) {
        controller_fail(err, "out of memory for the sounds");
        goto done;
    }
    if (cochleagram_create(&k, &c.cochlea, serr)) {
        controller_fail(err, "sounds: %s", serr);
        goto done;
    }
    if (ensemble_predict(r->members, r->n_models, images, count, rates, serr)) {
        controller_fail(err, "natural clips: %s", serr);
        goto done;
    }
    /* The budget: every clip at the same RMS level (sounds.rms_dbfs), the
     * ramps of the natural clips; the step, 0.05 of the budget's RMS at
     * mei.step_size 1 (docs/audio.md). */
    clip_ascent_options o = {c.rms_db, (int)lround(SOUND_RAMP_MS * c.cochlea.sample_rate / 1000),
                             p->mei.steps, 0.05 * p->mei.step_size};
    /* The most exciting sounds: each target's ascent from each of its starts
     * (the natural training clips its models predict highest), all targets'
     * starts as one batch (sound_mei_batch: one cochleagram and model pass
     * per step for all of them, several times faster than one clip at a time,
     * docs/audio.md); each target keeps the result its models predict
     * highest (the first of equals). */
    int total = 0;
    for (int j = 0; j < r->n_targets; j++) {
        int got, n = r->targets[j];
        top_clips(rates, count, N, tier, n, starts, top + (size_t)j * starts, &got);
        if (got < 1) {
            controller_fail(err, "no natural training clip to start the sound of neuron %d", n);
            goto done;
        }
        first[j] = total;
        for (int i = 0; i < got; i++, total++) {
            memcpy(batch + (size_t)total * S, clips + (size_t)top[(size_t)j * starts + i] * S,
                   (size_t)S * sizeof(float));
            batch_neuron[total] = n;
        }
    }
    first[r->n_targets] = total;
    if (total > 0 && sound_mei_batch(r->members, r->n_models, k, batch_neuron, total, &o, batch,
                                     predicted, serr)) {
        controller_fail(err, "synthesis: %s", serr);
        goto done;
    }
    for (int j = 0; j < r->n_targets; j++) {
        int chosen = first[j]; /* chosen by the models alone: no true response is seen */
        for (int i = first[j] + 1; i < first[j + 1]; i++)
            if (predicted[i] > predicted[chosen])
                chosen = i;
        size_t at = session_fit_slot(r, j, STIMULUS_KIND_MEI);
        float *mei = out + at * S;
        memcpy(mei, batch + (size_t)chosen * S, (size_t)S * sizeof(float));
        cochleagram_forward(k, r->stimuli + at * P, mei, 1);
        r->present[at] = 1;
        /* Where image sessions keep their MEIs (replay's meis.npy, targets.txt). */
        memcpy(r->meis + (size_t)j * P, r->stimuli + at * P, P * sizeof(float));
        r->mei[j].response = (float)predicted[chosen];
        if (set->controls & PROTOCOL_CONTROL_BEST_NATURAL) {
            /* The natural clip the model predicts highest, as recorded (at the budget). */
            int best = top[(size_t)j * starts];
            size_t slot = session_fit_slot(r, j, STIMULUS_KIND_BEST_NATURAL);
            memcpy(out + slot * S, clips + (size_t)best * S, (size_t)S * sizeof(float));
            memcpy(r->stimuli + slot * P, images + (size_t)best * P, P * sizeof(float));
            r->present[slot] = 1;
        }
    }
    if (set->controls & PROTOCOL_CONTROL_RF) { /* audio: the linear STRF's optimum */
        float *w = malloc((size_t)r->n_targets * P * sizeof(float));
        float *scratch = malloc(P * sizeof(float));
        int failed = !w || !scratch ? controller_fail(err, "out of memory for the STRFs")
                                    : session_sound_fit_strfs(d, r->targets, r->n_targets, w, err);
        for (int j = 0; !failed && j < r->n_targets; j++) {
            size_t slot = session_fit_slot(r, j, STIMULUS_KIND_RF);
            failed = strf_optimum(k, w + (size_t)j * P, clips, images, tier, count, (int)P, S,
                                  &o, out + slot * S, scratch, err);
            if (!failed) {
                cochleagram_forward(k, r->stimuli + slot * P, out + slot * S, 1);
                r->present[slot] = 1;
            }
        }
        free(w);
        free(scratch);
        if (failed)
            goto done;
    }
    if (set->controls & PROTOCOL_CONTROL_TONE) { /* the pure tone the model prefers */
        size_t n = (size_t)(r->n_targets ? r->n_targets : 1); /* no target: no tone, no error */
        float *tones = malloc(n * (size_t)S * sizeof(float));
        double *hz = malloc(n * sizeof(double)), *pred = malloc(n * sizeof(double));
        int failed = !tones || !hz || !pred
                         ? controller_fail(err, "out of memory for the tones")
                         : sound_best_tones(r->members, r->n_models, k, r->targets, r->n_targets,
                                            c.rms_db, o.ramp, tones, hz, pred, serr)
                               ? controller_fail(err, "tone control: %s", serr)
                               : 0;
        for (int j = 0; !failed && j < r->n_targets; j++) {
            size_t slot = session_fit_slot(r, j, STIMULUS_KIND_TONE);
            memcpy(out + slot * S, tones + (size_t)j * S, (size_t)S * sizeof(float));
            cochleagram_forward(k, r->stimuli + slot * P, out + slot * S, 1);
            r->present[slot] = 1;
        }
        free(tones);
        free(pred);
        free(r->tone_hz);
        r->tone_hz = hz; /* session_fit_record_targets notes them */
        if (failed)
            goto done;
    }
    status = session_fit_predict_stimuli(d, r, err);
done:
    cochleagram_destroy(k);
    free(rates);
    free(batch);
    free(predicted);
    free(batch_neuron);
    free(top);
    free(first);
    if (status)
        free(out);
    else
        *clips_out = out;
    return status;
}
