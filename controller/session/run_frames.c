/* run_frames.c: the display's verdict on each trial of a block (run_internal.h,
 * run_frames). The run loop feeds it the display's TRIAL events and the
 * aligner's completed trials; a completed trial leaves only with its
 * verdict, so its record says whether it was shown as asked. */
#include "run_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What makes a trial's frames wrong: its stimulus or its ISI did not last
 * the frames asked for (a dropped frame lengthens one of them by at least
 * one period), or it was cut short. */
#define FRAMES_WRONG_FLAGS (PRESENTER_WRONG_DURATION | PRESENTER_DROPPED_FRAMES | PRESENTER_ABORTED)

int run_frames_begin(run_frames *f, int64_t first, int count, int units, char *err)
{
    assert(count >= 0 && units > 0);
    free(f->verdict);
    free(f->sound_sample);
    f->verdict = calloc((size_t)(count ? count : 1), 1);
    f->sound_sample = malloc((size_t)(count ? count : 1) * sizeof(int64_t));
    for (int i = 0; f->sound_sample && i < count; i++)
        f->sound_sample[i] = -1;
    f->first = first;
    f->count = count;
    f->held_count = 0;
    f->wrong = 0;
    if (f->units != units) {
        free(f->held_counts);
        f->held_counts = NULL;
        f->held_capacity = 0;
        f->units = units;
    }
    if (!f->verdict || !f->sound_sample) {
        return controller_fail(err, "out of memory for a block's frame verdicts");
    }
    return 0;
}

static int frames_index(const run_frames *f, int64_t trial)
{
    int64_t i = trial - f->first;
    return f->verdict && i >= 0 && i < f->count ? (int)i : -1;
}

void run_frames_verdict(run_frames *f, const presenter_event *ev)
{
    int i = frames_index(f, ev->trial);
    if (i < 0 || f->verdict[i] != RUN_FRAMES_UNKNOWN)
        return; /* not this block's, or a second event for it: the first one stands */
    /* A trial whose sound never reached the audio device is no better than
     * one whose frames went wrong. */
    int silent = ev->sound >= 0 && (!(ev->flags & PRESENTER_SOUND_PLAYED) ||
                                    (ev->flags & PRESENTER_SOUND_CUT));
    if (ev->sound >= 0 && !silent)
        f->sound_sample[i] = ev->sound_onset_sample;
    f->verdict[i] = ev->flags & FRAMES_WRONG_FLAGS || silent ? RUN_FRAMES_WRONG
                                                             : RUN_FRAMES_AS_ASKED;
}

int run_frames_flags(const run_frames *f, int64_t trial, int block_over)
{
    int i = frames_index(f, trial);
    int v = i < 0 ? RUN_FRAMES_UNKNOWN : f->verdict[i];
    if (v == RUN_FRAMES_UNKNOWN)
        return block_over || i < 0 ? (int)RUN_TRIAL_FRAMES : -1;
    return v == RUN_FRAMES_WRONG ? (int)RUN_TRIAL_FRAMES : 0;
}

int run_frames_hold(run_frames *f, const acq_trial *t, const float *counts)
{
    if (f->held_count == f->held_capacity) {
        int cap = f->held_capacity ? 2 * f->held_capacity : 64;
        acq_trial *h = realloc(f->held, (size_t)cap * sizeof *h);
        if (h)
            f->held = h;
        float *c = realloc(f->held_counts, (size_t)cap * (size_t)f->units * sizeof(float));
        if (c)
            f->held_counts = c;
        if (!h || !c)
            return 1;
        f->held_capacity = cap;
    }
    f->held[f->held_count] = *t;
    memcpy(f->held_counts + (size_t)f->held_count * (size_t)f->units, counts,
           (size_t)f->units * sizeof(float));
    f->held_count++;
    return 0;
}

int run_frames_release(run_frames *f, int block_over, acq_trial *t, float *counts)
{
    size_t row = (size_t)f->units;
    for (int i = 0; i < f->held_count; i++) {
        if (run_frames_flags(f, (int64_t)f->held[i].trial, block_over) < 0)
            continue;
        *t = f->held[i];
        memcpy(counts, f->held_counts + (size_t)i * row, row * sizeof(float));
        int after = --f->held_count - i; /* keep the order in which they completed */
        memmove(f->held + i, f->held + i + 1, (size_t)after * sizeof *f->held);
        memmove(f->held_counts + (size_t)i * row, f->held_counts + (size_t)(i + 1) * row,
                (size_t)after * row * sizeof(float));
        return 1;
    }
    return 0;
}

void run_frames_flag_span(run_frames *f, int64_t from, int64_t until)
{
    for (int i = 0; i < f->held_count; i++) {
        const acq_trial *t = &f->held[i];
        if (t->counted_to_ns > t->counted_from_ns && from < t->counted_to_ns &&
            until > t->counted_from_ns)
            f->held[i].flags |= ACQ_TRIAL_LOST;
    }
}

int64_t run_frames_sound_sample(const run_frames *f, int64_t trial)
{
    int i = frames_index(f, trial);
    return i < 0 ? -1 : f->sound_sample[i];
}

void run_frames_free(run_frames *f)
{
    free(f->verdict);
    free(f->sound_sample);
    free(f->held);
    free(f->held_counts);
    memset(f, 0, sizeof *f);
}
