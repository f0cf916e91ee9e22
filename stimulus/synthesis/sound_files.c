/* sound_files.c: sounds from files (read by sound_read, written with
 * libsndfile), resampled by sound_resample (stimulus/sound_resample.c), and
 * cut into clips. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Up to an hour: a recording cut into clips; beyond it a header is lying
 * or the file is not a stimulus. */
#define SOUND_FILE_MAX_SECONDS 3600

int sound_file_read(const char *path, int rate, float **samples, int *frames, char *err)
{
    *samples = NULL;
    *frames = 0;
    float *all;
    int got, channels, file_rate;
    if (sound_read(path, SOUND_FILE_MAX_SECONDS, &all, &got, &channels, &file_rate, err))
        return 1;
    /* Mono: the mean of the channels. */
    for (int i = 0; i < got; i++) {
        double s = 0;
        for (int c = 0; c < channels; c++)
            s += all[(size_t)i * channels + c];
        all[i] = (float)(s / channels);
    }
    char inner[STIMULUS_ERR_SIZE];
    int status = sound_resample(all, got, 1, file_rate, rate, samples, frames, inner);
    free(all);
    if (status)
        stimulus_fail(err, "%s: %s", path, inner);
    return status;
}

int sound_clips_read(const char *folder, const sound_clip_options *o, float **clips,
                     int *count, int *skipped, char *err)
{
    *clips = NULL;
    *count = 0;
    *skipped = 0;
    if (o->rate < 1000 || o->samples < 16 || o->max_clips < 1) {
        return stimulus_fail(err, "sound clips: %d samples at %d Hz, at most %d clips",
                             o->samples, o->rate, o->max_clips);
    }
    /* The folder's regular files by name: model/'s one folder lister. */
    char **paths;
    int files;
    char merr[MODEL_ERR_SIZE];
    if (image_folder_list(folder, &paths, &files, merr))
        return stimulus_fail(err, "%s", merr);
    int status = 0, ramp = (int)lround(o->ramp_ms * 1e-3 * o->rate);
    float *out = NULL;
    size_t capacity = 0; /* clips `out` holds */
    for (int i = 0; i < files && *count < o->max_clips && !status; i++) {
        const char *path = paths[i], *name = path + strlen(folder) + 1;
        float *x;
        int frames;
        if (sound_file_read(path, o->rate, &x, &frames, err)) {
            status = 1;
            break;
        }
        /* Consecutive clips; a remainder shorter than a clip is not used. */
        for (int start = 0; start + o->samples <= frames && *count < o->max_clips;
             start += o->samples) {
            if (grow_array(&out, &capacity, (size_t)*count + 1,
                              sizeof(float) * (size_t)o->samples, 16)) {
                stimulus_fail(err, "sound clips: out of memory");
                status = 1;
                break;
            }
            float *clip = out + (size_t)*count * o->samples;
            memcpy(clip, x + start, sizeof(float) * (size_t)o->samples);
            clip_ramp(clip, o->samples, ramp);
            char reason[MODEL_ERR_SIZE];
            if (clip_set_rms_db(clip, o->samples, o->rms_db, reason)) {
                (*skipped)++; /* silent, or too peaky for the budget */
                continue;
            }
            if (o->clip_files && !(o->clip_files[*count] = strdup(name))) {
                stimulus_fail(err, "sound clips: out of memory");
                status = 1;
                break;
            }
            (*count)++;
        }
        free(x);
    }
    image_folder_list_free(paths, files);
    if (status || *count == 0)
        for (int i = 0; o->clip_files && i < *count; i++)
            free(o->clip_files[i]);
    if (status) {
        free(out);
        *count = 0;
        return 1;
    }
    if (*count == 0) {
        free(out);
        return stimulus_fail(err, "%s: no clip of %d samples at %d Hz could be set to "
                             "%.1f dBFS (%d files, %d clips skipped as silent or too peaky)",
                             folder, o->samples, o->rate, o->rms_db, files, *skipped);
    }
    *clips = out;
    return 0;
}

int sound_file_write(const char *path, const float *samples, int frames, int rate, char *err)
{
    size_t len = strlen(path);
    int flac = len > 5 && strcasecmp(path + len - 5, ".flac") == 0;
    int wav = len > 4 && strcasecmp(path + len - 4, ".wav") == 0;
    if (!flac && !wav) {
        return stimulus_fail(err, "%s: a sound is written as .wav or .flac", path);
    }
    for (int i = 0; i < frames; i++)
        if (!isfinite(samples[i]) || fabsf(samples[i]) > 1) {
            return stimulus_fail(err, "%s: sample %d (%g) is not within full scale",
                                 path, i, samples[i]);
        }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = rate;
    info.channels = 1;
    info.format = flac ? SF_FORMAT_FLAC | SF_FORMAT_PCM_24 : SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f) {
        return stimulus_fail(err, "%s: %s", path, sf_strerror(NULL));
    }
    sf_count_t put = sf_writef_float(f, samples, frames);
    int closed = sf_close(f);
    if (put != frames || closed) {
        return stimulus_fail(err, "%s: wrote %lld of %d frames", path, (long long)put, frames);
    }
    return 0;
}
