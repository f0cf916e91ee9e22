/* stimulus_base.h: what the two stimulus libraries (the presenter and
 * synthesis) share, a library of its own so that neither depends on the
 * other: the one error helper and resampling. */
#ifndef INCEPTION_STIMULUS_BASE_H
#define INCEPTION_STIMULUS_BASE_H

#define STIMULUS_ERR_SIZE 256

/* The one error helper (stimulus_error.c): writes the one-line
 * reason into `err` (STIMULUS_ERR_SIZE bytes; NULL takes none) and returns
 * 1, so a failure is `return stimulus_fail(err, ...)`. */
int stimulus_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resamples (sound_resample.c) `frames` interleaved frames of `channels`
 * from `rate` to `out_rate` with libsamplerate's best sinc converter (no aliasing: what lies
 * above the lower Nyquist frequency is removed, not folded back) into a
 * malloc'd buffer. The same rate copies the samples unchanged. */
int sound_resample(const float *in, int frames, int channels, int rate, int out_rate,
                   float **out, int *out_frames, char *err);

#endif
