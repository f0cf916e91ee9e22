/* run_images.c: the run's image table (run_internal.h, image_table): every
 * stimulus the session shows, by id, in the table and in the display at
 * once, so that the presenter's, the schedule's and the stream's stimulus
 * ids are one; and the stimulus record each gets. */
#include "run_internal.h"
#include "stimulus.h"

#include <stdlib.h>
#include <string.h>

static int display_add(run_state *s, const float *pixels, const float *clip, int *presenter_id)
{
    char err[STIMULUS_ERR_SIZE];
    if (s->audio) { /* the display stays blank; the clip is this stimulus's sound */
        if (!clip)
            return run_fail(s, "an audio stimulus without its clip (%s)", "internal");
        if (presenter_add_sound_samples(s->display.local, clip, s->S, 1, s->p->sounds.rate,
                                        presenter_id, err))
            return run_fail(s, "audio: %s", err);
        return 0;
    }
    display_ops *d = &s->display.ops;
    if (d->add_image(d->display, pixels, s->H, s->W, presenter_id, err))
        return run_fail(s, "display: %s", err);
    return 0;
}

/* `clip`: audio, the stimulus's samples (S); NULL for images. */
int run_image_add(run_state *s, const float *pixels, const float *clip, int kind, int neuron,
                  int tier, int *id)
{
    image_table *t = &s->images;
    if (t->count == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 1024;
        float *px = realloc(t->pixels, (size_t)cap * (size_t)s->P * sizeof(float));
        if (px)
            t->pixels = px;
        int *k = realloc(t->kind, (size_t)cap * sizeof(int));
        if (k)
            t->kind = k;
        int *n = realloc(t->neuron, (size_t)cap * sizeof(int));
        if (n)
            t->neuron = n;
        uint8_t *ti = realloc(t->tier, (size_t)cap);
        if (ti)
            t->tier = ti;
        uint8_t *h = realloc(t->sha256, (size_t)cap * SHA256_SIZE);
        if (h)
            t->sha256 = h;
        float *c = s->audio ? realloc(t->clips, (size_t)cap * (size_t)s->S * sizeof(float)) : NULL;
        if (c)
            t->clips = c;
        if (!px || !k || !n || !ti || !h || (s->audio && !c))
            return run_fail(s, "out of memory for %s images", "the");
        t->capacity = cap;
    }
    int presenter_id;
    if (display_add(s, pixels, clip, &presenter_id))
        return 1;
    if (presenter_id != t->count)
        return run_fail(s, "presenter image ids out of step with the session's (%s)", "internal");
    memcpy(t->pixels + (size_t)t->count * (size_t)s->P, pixels, (size_t)s->P * sizeof(float));
    if (s->audio)
        memcpy(t->clips + (size_t)t->count * (size_t)s->S, clip, (size_t)s->S * sizeof(float));
    t->kind[t->count] = kind;
    t->neuron[t->count] = neuron;
    t->tier[t->count] = (uint8_t)tier;
    record_pixels_sha256(pixels, s->H, s->W, t->sha256 + (size_t)t->count * SHA256_SIZE);
    *id = t->count++;
    return 0;
}

const float *run_image_at(const run_state *s, int64_t id)
{
    return s->images.pixels + (size_t)id * (size_t)s->P;
}

static const float *clip_at(const run_state *s, int64_t id)
{
    return s->audio ? s->images.clips + (size_t)id * (size_t)s->S : NULL;
}

/* A stimulus record: the image (audio: the cochleagram) and, audio, the clip. */
int run_record_shown(run_state *s, int64_t id, int neuron, const char *kind, double predicted)
{
    record_stimulus rs = {.stimulus_id = id, .neuron = neuron, .kind = kind, .height = s->H,
                          .width = s->W, .pixels = run_image_at(s, id), .predicted = predicted,
                          .samples = clip_at(s, id), .sample_count = s->audio ? s->S : 0,
                          .sample_rate = s->p->sounds.rate};
    return session_record_stimulus(s->rec, &rs, s->err);
}
