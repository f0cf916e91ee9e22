/* test_sound_folder.c: an audio session's natural clips from a folder of
 * sound files (sounds.source folder; controller/session/session_sounds.c):
 * files written here with libsndfile itself, the session's clips cut from
 * them in name order (a file at another rate resampled), ramped and at the
 * budget; too few clips refused naming the folder; and the check resume and
 * replay make (session_natural_stimuli against a record's hashes) refuses a
 * file changed since the recording, naming it. */
#include "controller.h"
#include "test.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { S = 2080 }; /* 130 ms at 16 kHz */

/* A mono float WAV of n frames at `rate`: two tones under a slow envelope,
 * `seed` shifting their frequencies. */
static int write_wav(const char *path, int n, int rate, double seed)
{
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        return 1;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double t = (double)i / rate;
        x[i] = (float)(0.2 * (1.2 + sin(2 * M_PI * 3 * t)) *
                       (sin(2 * M_PI * (440 + 100 * seed) * t) +
                        0.5 * sin(2 * M_PI * (1320 + 50 * seed) * t)));
    }
    int ok = sf_writef_float(f, x, n) == n;
    sf_close(f);
    free(x);
    return !ok;
}

static protocol *audio_protocol(const char *dir, char *err)
{
    char text[1024];
    snprintf(text, sizeof text,
             "modality: audio\nseed: 3\ndisplay:\n  refresh_hz: 200\ntiming:\n"
             "  stimulus_frames: 26\n  isi_frames: 12\nresponse:\n  latency_ms: 2\n  duration_ms: 120\n"
             "sounds:\n  rate: 16000\n"
             "  clip_ms: 130\n  rms_dbfs: -30\n  bands: 16\n  source: folder\n  path: %s\n",
             dir);
    protocol *p = NULL;
    if (protocol_parse(text, strlen(text), "folder.yaml", NULL, &p, err))
        return NULL;
    return p;
}

int main(void)
{
    char dir[] = "/tmp/test_sound_folder_XXXXXX", a[600], b[600];
    char err[CONTROLLER_ERR_SIZE] = "";
    if (!mkdtemp(dir)) {
        CHECK(0, "a temporary folder");
        return test_done();
    }
    /* a.wav: 0.5 s at 16 kHz, 3 whole clips; b.wav: 0.3 s at 44.1 kHz,
     * 4,800 samples at 16 kHz, 2 clips. */
    snprintf(a, sizeof a, "%s/a.wav", dir);
    snprintf(b, sizeof b, "%s/b.wav", dir);
    CHECK(!write_wav(a, 8000, 16000, 0) && !write_wav(b, 13230, 44100, 1),
          "two WAV files written with libsndfile");
    protocol *p = audio_protocol(dir, err);
    CHECK(p != NULL, "an audio protocol with sounds.source folder parses (%s)", err);
    if (!p)
        return test_done();
    int bands, frames;
    session_sound_image_size(p, &bands, &frames, err);
    int P = bands * frames;
    float *clips = malloc(sizeof(float) * 6 * S), *images = malloc(sizeof(float) * 6 * P);
    CHECK(session_natural_clips(p, 5, clips, images, err) == 0, "5 natural clips (%s)", err);

    /* Clip 0: a.wav's first 2080 samples (no resampling at its own rate),
     * scaled and ramped: between the 5 ms (80-sample) ramps the ratio to the
     * file's samples is one constant (float rounding: 1e-5); its level is
     * the budget in double; the ends are 0. */
    SF_INFO info = {0};
    SNDFILE *f = sf_open(a, SFM_READ, &info);
    float raw[S];
    sf_readf_float(f, raw, S);
    sf_close(f);
    double gain = clips[S / 2] / raw[S / 2], worst = 0, sum = 0;
    for (int i = 81; i < S - 81; i++)
        if (fabs(raw[i]) > 1e-3)
            worst = fmax(worst, fabs(clips[i] / raw[i] / gain - 1));
    int level = 1;
    for (int c = 0; c < 5; c++) {
        sum = 0;
        for (int i = 0; i < S; i++)
            sum += (double)clips[c * S + i] * clips[c * S + i];
        level &= fabs(10 * log10(sum / S) + 30) < 1e-4 && clips[c * S] == 0 &&
                 clips[c * S + S - 1] == 0;
    }
    CHECK(worst < 1e-5 && gain > 0, "clip 0 is a.wav's start, scaled by %.4f (worst %.1e)", gain,
          worst);
    CHECK(level, "all 5 at -30 dBFS (within 1e-4 dB, in double) and ramped to 0");

    /* The same clips as the folder reader gives them, and their cochleagrams
     * the model's images. */
    sound_clip_options o = {16000, S, 5, -30, 5, NULL};
    float *read = NULL;
    int got = 0, skipped = 0;
    char serr[STIMULUS_ERR_SIZE];
    int same = sound_clips_read(dir, &o, &read, &got, &skipped, serr) == 0 && got == 5 &&
               !memcmp(read, clips, sizeof(float) * 5 * S);
    free(read);
    CHECK(same, "they are sound_clips_read's, bit for bit (%d clips)", got);
    char name[256] = "";
    CHECK(!session_clip_file(p, 2, name, sizeof name) && !strcmp(name, "a.wav") &&
              !session_clip_file(p, 3, name, sizeof name) && !strcmp(name, "b.wav") &&
              session_clip_file(p, 5, name, sizeof name),
          "clips 0-2 come from a.wav, 3-4 from b.wav (resampled), no clip 5");
    CHECK(session_natural_clips(p, 6, clips, images, err) && strstr(err, dir) &&
              strstr(err, "gives 5 clips"),
          "6 clips refused, the folder named: %s", err);

    /* A record of the 5 clips (their cochleagrams' SHA-256, as the stimulus
     * records hold them); b.wav changed afterwards: made again, clip 3
     * differs and the message names b.wav. Unchanged, all 5 verify. */
    session_image_log log;
    session_image_log_create(&log, 5, err);
    for (int id = 0; id < 5; id++) {
        log.state[id] = SESSION_IMAGE_RECORDED | SESSION_IMAGE_HASHED;
        record_pixels_sha256(images + (size_t)id * P, bands, frames, log.sha256 + id * SHA256_SIZE);
    }
    log.highest_recorded = 4;
    session_image_repair repair;
    CHECK(session_natural_stimuli(p, 5, &log, images, clips, &repair, err) == 0 &&
              repair.checked == 5, "the unchanged folder verifies against the record (%d)",
          repair.checked);
    write_wav(b, 13230, 44100, 2);
    CHECK(session_natural_stimuli(p, 5, &log, images, clips, &repair, err) &&
              strstr(err, "clip 3 differs from the recorded one") && strstr(err, "b.wav"),
          "a changed b.wav refused by name: %s", err);
    session_image_log_free(&log);
    protocol_destroy(p);
    free(clips);
    free(images);
    unlink(a);
    unlink(b);
    rmdir(dir);
    return test_done();
}
