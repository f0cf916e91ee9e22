/* stimulus_base.h: what the two stimulus libraries (the presenter and
 * synthesis) share, a library of its own so that neither depends on the
 * other: the one error helper, reading sound files and resampling them,
 * and the one vocabulary of stimulus kinds. */
#ifndef INCEPTION_STIMULUS_BASE_H
#define INCEPTION_STIMULUS_BASE_H

#include <stddef.h>

#define STIMULUS_ERR_SIZE 256

/* The one error helper (stimulus_error.c): writes the one-line
 * reason into `err` (STIMULUS_ERR_SIZE bytes; NULL takes none) and returns
 * 1, so a failure is `return stimulus_fail(err, ...)`. */
int stimulus_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Growable arrays: grow_array (base/grow.h, the project's one). */
#include "grow.h"

/* Resamples (sound_resample.c) `frames` interleaved frames of `channels`
 * from `rate` to `out_rate` with libsamplerate's best sinc converter (no aliasing: what lies
 * above the lower Nyquist frequency is removed, not folded back) into a
 * malloc'd buffer. The same rate copies the samples unchanged. */
int sound_resample(const float *in, int frames, int channels, int rate, int out_rate,
                   float **out, int *out_frames, char *err);

/* Reads a sound file whole (sound_read.c; anything libsndfile reads: WAV,
 * FLAC, ...): *frames interleaved frames of *channels at *rate Hz, into a
 * malloc'd buffer. Refused, the error naming the file: no samples, outside
 * 1..64 channels or 1..768 kHz, or longer than max_seconds (the caller's
 * bound). */
int sound_read(const char *path, int max_seconds, float **samples, int *frames, int *channels,
               int *rate, char *err);

/* ---- The stimulus kinds (stimulus_kind.c): one vocabulary for the whole project ----
 * The names are what the session record's `kind` fields hold (RECORD.md:
 * schedule, stimulus, evaluation), what the protocol's `mei.controls` take,
 * and what the report, replay, the ground truth and inception.record
 * (python/inception/record.py, STIMULUS_KINDS, in this order) use. The first
 * STIMULUS_CLOSED_LOOP_KINDS are the closed loop's stimuli per target, the
 * MEI and its image controls, in the order of every per-kind array; the
 * audio sessions' pure-tone control came later and is last (a new kind is
 * appended: the kinds' numbers seed the recorded intervals, RECORD.md). */
typedef enum stimulus_kind {
    STIMULUS_KIND_MEI = 0,          /* the most exciting input */
    STIMULUS_KIND_BEST_NATURAL = 1, /* the natural training image predicted highest */
    STIMULUS_KIND_GABOR = 2,        /* the Gabor matched to the neuron */
    STIMULUS_KIND_RF = 3,           /* the receptive-field stimulus */
    STIMULUS_KIND_LEAST = 4,        /* the least exciting input */
    STIMULUS_KIND_LEAST_NATURAL = 5, /* the natural image predicted lowest, at the budget */
    STIMULUS_KIND_NATURAL = 6,      /* a natural image of the recording phase */
    STIMULUS_KIND_DIVERSE = 7,      /* a diverse set of MEIs (inception mei --kind) */
    STIMULUS_KIND_MASKED = 8,       /* an MEI inside its fitted mask */
    STIMULUS_KIND_SURROUND = 9,     /* an MEI's centre with its most and least exciting surround */
    STIMULUS_KIND_SURROUND_MOST = 10,  /* the masked MEI with its most exciting surround */
    STIMULUS_KIND_SURROUND_LEAST = 11, /* the masked MEI with its least exciting surround */
    STIMULUS_KIND_TONE = 12,        /* audio: a pure tone at the model's best frequency */
    STIMULUS_KIND_SEARCH = 13,      /* an image of the model-free search phase (search.c) */
    STIMULUS_KIND_PATTERN = 14,     /* population control: an image for a target pattern */
    STIMULUS_KIND_PATTERN_NATURAL = 15, /* its control: the natural image closest to it */
    STIMULUS_KIND_COUNT
} stimulus_kind;
enum { STIMULUS_CLOSED_LOOP_KINDS = STIMULUS_KIND_RF + 1 };

/* The names, as literals for tables that need them at compile time (the
 * protocol's keys); stimulus_kind_name gives the same strings. */
#define STIMULUS_KIND_NAME_MEI "mei"
#define STIMULUS_KIND_NAME_BEST_NATURAL "best_natural"
#define STIMULUS_KIND_NAME_GABOR "gabor"
#define STIMULUS_KIND_NAME_RF "rf"
#define STIMULUS_KIND_NAME_LEAST "least"
#define STIMULUS_KIND_NAME_LEAST_NATURAL "least_natural"
#define STIMULUS_KIND_NAME_NATURAL "natural"
#define STIMULUS_KIND_NAME_DIVERSE "diverse"
#define STIMULUS_KIND_NAME_MASKED "masked"
#define STIMULUS_KIND_NAME_SURROUND "surround"
#define STIMULUS_KIND_NAME_SURROUND_MOST "surround_most"
#define STIMULUS_KIND_NAME_SURROUND_LEAST "surround_least"
#define STIMULUS_KIND_NAME_TONE "tone"
#define STIMULUS_KIND_NAME_SEARCH "search"
#define STIMULUS_KIND_NAME_PATTERN "pattern"
#define STIMULUS_KIND_NAME_PATTERN_NATURAL "pattern_natural"

/* The kind's name; NULL outside 0..STIMULUS_KIND_COUNT-1. */
const char *stimulus_kind_name(int kind);
/* The kind's title for people ("matched Gabor"); NULL outside the kinds. */
const char *stimulus_kind_title(int kind);
/* The kind a name names, -1 for any other text (NULL included). */
int stimulus_kind_parse(const char *name);

#endif
