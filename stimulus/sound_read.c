/* sound_read.c: the one reader of sound files (libsndfile), for the
 * presenter's onset sounds and synthesis' clips (stimulus_base.h); each
 * passes its own bound on the length. */
#include "stimulus_base.h"

#include <limits.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>

int sound_read(const char *path, int max_seconds, float **samples, int *frames, int *channels,
               int *rate, char *err)
{
    *samples = NULL;
    *frames = *channels = *rate = 0;
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f)
        return stimulus_fail(err, "%s: %s", path, sf_strerror(NULL));
    /* Beyond these a header is lying or the file is not a stimulus; the
     * frames must also fit the int that the callers and sound_resample count in. */
    if (info.frames < 1 || info.channels < 1 || info.channels > 64 || info.samplerate < 1000 ||
        info.samplerate > 768000 || info.frames > (sf_count_t)info.samplerate * max_seconds ||
        info.frames > INT_MAX) {
        sf_close(f);
        return stimulus_fail(err, "%s: %lld frames, %d channels at %d Hz: not a sound "
                             "(1..64 channels, 1..768 kHz, up to %d s)", path,
                             (long long)info.frames, info.channels, info.samplerate, max_seconds);
    }
    float *all = malloc(sizeof(float) * (size_t)info.frames * (size_t)info.channels);
    sf_count_t got = all ? sf_readf_float(f, all, info.frames) : 0;
    sf_close(f);
    if (!all || got < 1) {
        free(all);
        return stimulus_fail(err, "%s: %s", path,
                             all ? "no samples could be read" : "out of memory");
    }
    *samples = all;
    *frames = (int)got;
    *channels = info.channels;
    *rate = info.samplerate;
    return 0;
}
