/* sound_resample.c: resampling (libsamplerate's best sinc converter:
 * passband to 97% of the lower Nyquist frequency, stopband attenuation about
 * 145 dB; linear interpolation, which this replaces, folds everything above
 * the new Nyquist frequency back into the band). The presenter resamples its
 * onset sounds to the device's rate, synthesis its sound files to the
 * cochleagram's. */
#include "stimulus_base.h"

#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sound_resample(const float *in, int frames, int channels, int rate, int out_rate,
                   float **out, int *out_frames, char *err)
{
    *out = NULL;
    *out_frames = 0;
    if (frames < 1 || channels < 1 || rate < 1 || out_rate < 1 ||
        (double)out_rate / rate > 256 || (double)rate / out_rate > 256) {
        return stimulus_fail(err, "resample: %d frames of %d channels from %d to %d Hz "
                             "(ratios up to 256)", frames, channels, rate, out_rate);
    }
    if (rate == out_rate) { /* the same samples, bit for bit */
        *out = malloc(sizeof(float) * (size_t)frames * (size_t)channels);
        if (!*out) {
            return stimulus_fail(err, "resample: out of memory");
        }
        memcpy(*out, in, sizeof(float) * (size_t)frames * (size_t)channels);
        *out_frames = frames;
        return 0;
    }
    double ratio = (double)out_rate / rate;
    long capacity = (long)ceil(frames * ratio) + 16;
    float *buffer = malloc(sizeof(float) * (size_t)capacity * (size_t)channels);
    if (!buffer) {
        return stimulus_fail(err, "resample: out of memory");
    }
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.data_in = in;
    d.input_frames = frames;
    d.data_out = buffer;
    d.output_frames = capacity;
    d.src_ratio = ratio;
    d.end_of_input = 1;
    int e = src_simple(&d, SRC_SINC_BEST_QUALITY, channels);
    if (e || d.output_frames_gen < 1) {
        free(buffer);
        return stimulus_fail(err, "resample: %s", e ? src_strerror(e) : "no output");
    }
    *out = buffer;
    *out_frames = (int)d.output_frames_gen;
    return 0;
}
