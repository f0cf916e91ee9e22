/* session_sounds.c: what a session with `modality: audio` does differently
 * (docs/audio.md): its natural clips and their cochleagrams (the model's
 * input images), the auditory population behind the virtual rig, and the
 * most exciting sounds with their control, the best natural clip. */
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

int session_natural_clips(const protocol *p, int count, float *clips, float *images, char *err)
{
    auditory_config c;
    session_sound_config(p, &c);
    char merr[MODEL_ERR_SIZE];
    cochleagram *k = NULL;
    /* The session's seed, not the rig's: the clips are the experimenter's. */
    if (clip_synthetic(clips, count, c.cochlea.samples, c.cochlea.sample_rate, c.rms_db,
                       c.ramp_ms, p->seed, NULL, merr) ||
        cochleagram_create(&k, &c.cochlea, merr)) {
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

int session_sound_synthesize(const protocol *p, const dataset *d,
                             const session_fit_settings *set, const float *clips,
                             const float *images, const uint8_t *tier, int count,
                             session_fit_result *r, float **clips_out, char *err)
{
    *clips_out = NULL;
    if (session_fit_prepare(d, set, NULL, 0, r, err))
        return 1;
    auditory_config c;
    session_sound_config(p, &c);
    int S = c.cochlea.samples, N = d->neurons, starts = p->mei.starts;
    size_t P = (size_t)d->height * (size_t)d->width;
    size_t slots = (size_t)(r->n_targets ? r->n_targets : 1) * SESSION_KIND_COUNT;
    float *out = calloc(slots * (size_t)S, sizeof(float));
    float *rates = malloc((size_t)(count ? count : 1) * (size_t)N * sizeof(float));
    float *start = malloc((size_t)starts * (size_t)S * sizeof(float));
    int *top = malloc((size_t)starts * sizeof(int));
    cochleagram *k = NULL;
    char serr[STIMULUS_ERR_SIZE];
    int status = 1;
    if (!out || !rates || !start || !top) {
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
    for (int j = 0; j < r->n_targets; j++) {
        int got, chosen, n = r->targets[j];
        top_clips(rates, count, N, tier, n, starts, top, &got);
        if (got < 1) {
            controller_fail(err, "no natural training clip to start the sound of neuron %d", n);
            goto done;
        }
        for (int i = 0; i < got; i++)
            memcpy(start + (size_t)i * S, clips + (size_t)top[i] * S, (size_t)S * sizeof(float));
        float *mei = out + ((size_t)j * SESSION_KIND_COUNT + SESSION_KIND_MEI) * S;
        double predicted;
        if (sound_mei_from_starts(r->members, r->n_models, k, n, &o, start, got, mei, &predicted,
                                  &chosen, serr)) {
            controller_fail(err, "synthesis: %s", serr);
            goto done;
        }
        cochleagram_forward(k, r->stimuli + ((size_t)j * SESSION_KIND_COUNT + SESSION_KIND_MEI) * P,
                            mei, 1);
        r->present[j * SESSION_KIND_COUNT + SESSION_KIND_MEI] = 1;
        if (set->controls & PROTOCOL_CONTROL_BEST_NATURAL) {
            /* The natural clip the model predicts highest, as recorded (at the budget). */
            size_t slot = (size_t)j * SESSION_KIND_COUNT + SESSION_KIND_BEST_NATURAL;
            memcpy(out + slot * S, clips + (size_t)top[0] * S, (size_t)S * sizeof(float));
            memcpy(r->stimuli + slot * P, images + (size_t)top[0] * P, P * sizeof(float));
            r->present[slot] = 1;
        }
    }
    status = session_fit_predict_stimuli(d, r, err);
done:
    cochleagram_destroy(k);
    free(rates);
    free(start);
    free(top);
    if (status)
        free(out);
    else
        *clips_out = out;
    return status;
}
