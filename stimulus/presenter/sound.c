/* sound.c: auditory stimuli. Files are read with libsndfile (sound_read,
 * stimulus_base.h) and resampled to the audio device's rate when loaded
 * (libsamplerate: sound_resample.c);
 * SDL's audio callback plays one sound at a time and notes, on the
 * presenter's clock, when it first handed a sound's samples to the device. */
#include "presenter_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An onset sound: up to 10 minutes, held in memory at the device rate. */
#define SOUND_MAX_SECONDS 600

static void sound_callback(void *user, Uint8 *stream, int bytes)
{
    presenter *p = user;
    presenter_voice *v = &p->voice;
    float *out = (float *)stream;
    int frames = bytes / (int)(2 * sizeof(float));
    int copied = 0;
    if (v->sound >= 0) {
        const presenter_sound *s = &p->sounds[v->sound];
        if (v->position == 0 && v->onset_ns == 0) {
            v->onset_ns = presenter_now_ns();
            v->onset_sample = v->device_frames; /* its first sample opens this buffer */
        }
        copied = s->frames - v->position;
        if (copied > frames)
            copied = frames;
        memcpy(out, s->samples + 2 * (size_t)v->position, 2 * sizeof(float) * (size_t)copied);
        v->position += copied;
        if (v->position >= s->frames)
            v->sound = -1;
    }
    memset(out + 2 * copied, 0, 2 * sizeof(float) * (size_t)(frames - copied));
    const presenter_config *c = &p->config;
    if (c->audio_capture && v->device_frames < c->audio_capture_frames) {
        int64_t room = c->audio_capture_frames - v->device_frames;
        int n = room < frames ? (int)room : frames;
        memcpy(c->audio_capture + 2 * v->device_frames, out, 2 * sizeof(float) * (size_t)n);
    }
    v->device_frames += frames;
}

int presenter_audio_open(presenter *p, char *err)
{
    if (SDL_InitSubSystem(SDL_INIT_AUDIO)) {
        return stimulus_fail(err, "presenter: SDL audio: %s", SDL_GetError());
    }
    SDL_AudioSpec want, have;
    memset(&want, 0, sizeof want);
    want.freq = p->config.audio_rate;
    want.format = AUDIO_F32SYS;
    want.channels = 2;
    want.samples = PRESENTER_AUDIO_BUFFER_FRAMES; /* the onset latency bound: 5 ms at 48 kHz */
    want.callback = sound_callback;
    want.userdata = p;
    p->audio = SDL_OpenAudioDevice(NULL, 0, &want, &have, 0);
    if (!p->audio) {
        return stimulus_fail(err, "presenter: audio device: %s", SDL_GetError());
    }
    p->audio_rate = have.freq;
    SDL_PauseAudioDevice(p->audio, 0);
    return 0;
}

void presenter_audio_close(presenter *p)
{
    if (p->audio)
        SDL_CloseAudioDevice(p->audio);
    p->audio = 0;
    if (p->config.audio)
        SDL_QuitSubSystem(SDL_INIT_AUDIO);
}

void presenter_sound_start(presenter *p, int sound, int64_t trial_serial)
{
    SDL_LockAudioDevice(p->audio);
    p->voice.sound = sound;
    p->voice.position = 0;
    p->voice.onset_ns = 0;
    p->voice.onset_sample = -1;
    p->voice.trial_serial = trial_serial;
    SDL_UnlockAudioDevice(p->audio);
}

int64_t presenter_sound_onset(presenter *p, int64_t trial_serial, int64_t *sample,
                              int *playing)
{
    SDL_LockAudioDevice(p->audio);
    int ours = p->voice.trial_serial == trial_serial;
    int64_t t = ours ? p->voice.onset_ns : 0;
    *sample = ours && t ? p->voice.onset_sample : -1;
    *playing = ours && p->voice.sound >= 0;
    SDL_UnlockAudioDevice(p->audio);
    return t;
}

void presenter_sounds_free(presenter *p)
{
    for (int i = 0; i < p->sound_count; i++)
        free(p->sounds[i].samples);
    free(p->sounds);
}

/* Mono or the first two channels to stereo, then to the device rate through
 * sound_resample (libsamplerate). Done at load time, never on the frame
 * path. */
static float *sound_convert(const float *in, int frames, int channels, int rate, int out_rate,
                            int *out_frames, char *err)
{
    float *stereo = malloc(2 * sizeof(float) * (size_t)frames);
    if (!stereo) {
        stimulus_fail(err, "presenter: out of memory for a sound");
        return NULL;
    }
    for (int i = 0; i < frames; i++)
        for (int c = 0; c < 2; c++)
            stereo[2 * (size_t)i + c] = in[(size_t)i * channels + (c < channels ? c : 0)];
    float *out;
    char inner[STIMULUS_ERR_SIZE];
    int status = sound_resample(stereo, frames, 2, rate, out_rate, &out, out_frames, inner);
    free(stereo);
    if (status) {
        stimulus_fail(err, "presenter: %s", inner);
        return NULL;
    }
    return out;
}

int presenter_add_sound_samples(presenter *p, const float *samples, int frames, int channels,
                                int rate, int *id, char *err)
{
    if (!p->audio) {
        return stimulus_fail(err, "presenter: sounds need audio (config.audio = 1)");
    }
    pthread_mutex_lock(&p->lock);
    int idle = p->state == STATE_IDLE;
    pthread_mutex_unlock(&p->lock);
    if (!idle) {
        return stimulus_fail(err, "presenter: sounds are loaded between blocks only");
    }
    if (frames < 1 || channels < 1 || channels > 64 || rate < 1000 || rate > 768000 ||
        (int64_t)frames > (int64_t)rate * SOUND_MAX_SECONDS) {
        return stimulus_fail(err, "presenter: sound of %d frames, %d channels at %d Hz "
                             "is not playable (up to %d s, 1..64 channels, 1..768 kHz)", frames,
                             channels, rate, SOUND_MAX_SECONDS);
    }
    if (grow_array(&p->sounds, &p->sound_capacity, (size_t)p->sound_count + 1,
                      sizeof *p->sounds, 16)) {
        return stimulus_fail(err, "presenter: out of memory for a sound");
    }
    presenter_sound *s = &p->sounds[p->sound_count];
    s->samples = sound_convert(samples, frames, channels, rate, p->audio_rate, &s->frames, err);
    if (!s->samples)
        return 1;
    if (p->config.audio_sync_ms > 0) {
        /* The sync marker: the right channel is a full-scale pulse from the
         * sound's first sample, built into the sound so that it cannot move
         * against it; the sound keeps the left channel. */
        int pulse = (int)lround(p->config.audio_sync_ms * 1e-3 * p->audio_rate);
        for (int i = 0; i < s->frames; i++)
            s->samples[2 * (size_t)i + 1] = i < pulse ? 1.0f : 0.0f;
    }
    *id = p->sound_count++;
    return 0;
}

int presenter_add_sound(presenter *p, const char *path, int *id, char *err)
{
    float *samples;
    int frames, channels, rate;
    if (sound_read(path, SOUND_MAX_SECONDS, &samples, &frames, &channels, &rate, err))
        return 1;
    int status = presenter_add_sound_samples(p, samples, frames, channels, rate, id, err);
    if (status) {
        char inner[STIMULUS_ERR_SIZE];
        snprintf(inner, sizeof inner, "%s", err);
        stimulus_fail(err, "%s: %s", path, inner);
    }
    free(samples);
    return status;
}
