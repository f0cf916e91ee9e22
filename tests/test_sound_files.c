/* test_sound_files.c: resampling (libsamplerate), sound files and clip
 * folders (stimulus/synthesis/sound_files.c). Tones are measured here by projection
 * onto a Hann-windowed sinusoid in double precision; files are written with
 * libsndfile. */
#include "stimulus.h"
#include "test.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Amplitude of the component of x at f Hz (x[0..n) at `rate`), Hann window. */
static double amplitude_at(const float *x, int n, double f, double rate)
{
    double re = 0, im = 0, wsum = 0;
    for (int i = 0; i < n; i++) {
        double w = 0.5 - 0.5 * cos(2 * M_PI * i / n);
        re += w * x[i] * cos(2 * M_PI * f * i / rate);
        im += w * x[i] * sin(2 * M_PI * f * i / rate);
        wsum += w;
    }
    return 2 * sqrt(re * re + im * im) / wsum;
}

static float *tone(int n, double f, double rate, double amp)
{
    float *x = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2 * M_PI * f * i / rate));
    return x;
}

/* Linear interpolation, what sound.c did before: the comparison shows that
 * the test's alias measure sees aliasing when there is some. */
static void linear(const float *in, int n, double step, float *out, int m)
{
    for (int i = 0; i < m; i++) {
        double x = i * step;
        int a = (int)x, b = a + 1 < n ? a + 1 : n - 1;
        out[i] = (float)(in[a] + (x - a) * (in[b] - in[a]));
    }
}

static void check_resample(void)
{
    char err[STIMULUS_ERR_SIZE] = "";
    int n = 48000 / 4; /* 0.25 s at 48 kHz */
    /* 9 kHz is above 16 kHz's Nyquist frequency: it must vanish, not fold
     * back to 16 - 9 = 7 kHz. 7.2 kHz (90% of Nyquist) must pass. */
    float *high = tone(n, 9000, 48000, 0.5), *pass = tone(n, 7200, 48000, 0.5), *out;
    int m;
    CHECK(sound_resample(high, n, 1, 48000, 16000, &out, &m, err) == 0, "48 -> 16 kHz (%s)",
          err);
    CHECK(abs(m - n / 3) <= 1, "%d frames out of %d (a third)", m, n);
    /* Away from the ends (the filter's edge transients). */
    double alias = amplitude_at(out + 500, m - 1000, 7000, 16000);
    CHECK(alias < 0.5e-4, "a 9 kHz tone leaves %.2g at 7 kHz (under -80 dB re its amplitude: %.1f dB)",
          alias, 20 * log10(alias / 0.5 + 1e-30));
    float *lin = malloc(sizeof(float) * m);
    linear(high, n, 3.0, lin, m);
    double lin_alias = amplitude_at(lin + 500, m - 1000, 7000, 16000);
    CHECK(lin_alias > 0.01, "linear interpolation folds it to 7 kHz (%.1f dB): the measure sees "
          "aliasing", 20 * log10(lin_alias / 0.5));
    free(lin);
    free(out);
    CHECK(sound_resample(pass, n, 1, 48000, 16000, &out, &m, err) == 0, "resample a 7.2 kHz tone");
    double kept = amplitude_at(out + 500, m - 1000, 7200, 16000);
    /* libsamplerate's best converter's band edge is 97% of Nyquist (-0.3 dB
     * at 95% here); at 90% it is flat within 0.1 dB. */
    CHECK(fabs(20 * log10(kept / 0.5)) < 0.1, "a 7.2 kHz tone passes (%.3f dB)",
          20 * log10(kept / 0.5));
    free(out);

    /* Upsampling 16 -> 48 kHz makes no image of 7 kHz at 9 kHz. */
    float *low = tone(4000, 7000, 16000, 0.5);
    CHECK(sound_resample(low, 4000, 1, 16000, 48000, &out, &m, err) == 0 && abs(m - 12000) <= 1,
          "16 -> 48 kHz, %d frames", m);
    double image = amplitude_at(out + 1500, m - 3000, 9000, 48000);
    double main = amplitude_at(out + 1500, m - 3000, 7000, 48000);
    CHECK(image < 0.5e-4 && fabs(main - 0.5) < 0.01, "no image at 9 kHz (%.2g), 7 kHz kept (%.4f)",
          image, main);
    free(out);
    free(low);

    /* The same rate copies bit for bit; two channels stay apart. */
    float st[8] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f, 0.7f, -0.8f};
    CHECK(sound_resample(st, 4, 2, 22050, 22050, &out, &m, err) == 0 && m == 4 &&
              memcmp(out, st, sizeof st) == 0,
          "the same rate returns the same samples");
    free(out);
    CHECK(sound_resample(st, 4, 2, 8000, 8000 * 300, &out, &m, err) && strstr(err, "256"),
          "a ratio over 256 is refused (%s)", err);
    free(high);
    free(pass);
}

static int write_wav(const char *path, const float *x, int frames, int channels, int rate)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = rate;
    info.channels = channels;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        return 1;
    sf_count_t put = sf_writef_float(f, x, frames);
    sf_close(f);
    return put != frames;
}

static void check_files(void)
{
    char dir[] = "/tmp/test_sound_files_XXXXXX", path[512], err[STIMULUS_ERR_SIZE] = "";
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary folder");
        return;
    }
    /* a.wav: 1.3 s stereo at 44.1 kHz, 1 kHz in the left channel, its
     * negative half in the right: mono is a 1 kHz tone of amplitude 0.25.
     * b.wav: 0.6 s of silence at 16 kHz. .hidden: ignored. */
    int n = 44100 * 13 / 10;
    float *st = malloc(sizeof(float) * 2 * n);
    for (int i = 0; i < n; i++) {
        st[2 * i] = (float)(0.75 * sin(2 * M_PI * 1000.0 * i / 44100));
        st[2 * i + 1] = -st[2 * i] / 3;
    }
    snprintf(path, sizeof path, "%s/a.wav", dir);
    int bad = write_wav(path, st, n, 2, 44100);
    float *quiet = calloc(9600, sizeof(float));
    snprintf(path, sizeof path, "%s/b.wav", dir);
    bad |= write_wav(path, quiet, 9600, 1, 16000);
    snprintf(path, sizeof path, "%s/.hidden", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    CHECK(!bad && f, "wrote the files");

    float *x;
    int frames, channels, rate;
    snprintf(path, sizeof path, "%s/a.wav", dir);
    /* The one reader (the presenter's too): the file as it is, within the
     * caller's bound on the length; a.wav's 1.3 s are past a bound of 1 s. */
    int read_ok = sound_read(path, 2, &x, &frames, &channels, &rate, err) == 0;
    CHECK(read_ok && frames == n && channels == 2 && rate == 44100,
          "sound_read: a.wav whole, %d frames of %d channels at %d Hz (%s)", frames, channels,
          rate, read_ok ? "" : err);
    if (read_ok)
        free(x);
    CHECK(sound_read(path, 1, &x, &frames, &channels, &rate, err) && !x && strstr(err, path) &&
              strstr(err, "up to 1 s"),
          "a sound longer than the caller's bound is refused naming the file (%s)", err);
    CHECK(sound_file_read(path, 16000, &x, &frames, err) == 0, "read a.wav (%s)", err);
    if (frames > 4000) {
        CHECK(abs(frames - 20800) <= 1, "1.3 s at 16 kHz: %d frames", frames);
        double a = amplitude_at(x + 2000, frames - 4000, 1000, 16000);
        CHECK(fabs(a - 0.25) < 1e-3, "mono is the channels' mean: 1 kHz at %.4f", a);
        free(x);
    }

    sound_clip_options o = {.rate = 16000, .samples = 8000, .max_clips = 10, .rms_db = -30,
                            .ramp_ms = 5};
    float *clips;
    int count, skipped;
    CHECK(sound_clips_read(dir, &o, &clips, &count, &skipped, err) == 0, "clips (%s)", err);
    CHECK(count == 2 && skipped == 1, "a.wav gives 2 clips of 0.5 s, b.wav 1 silent one "
          "skipped (%d, %d)", count, skipped);
    if (count == 2) {
        double worst = 0;
        for (int c = 0; c < 2; c++) {
            double s = 0;
            for (int i = 0; i < 8000; i++)
                s += (double)clips[c * 8000 + i] * clips[c * 8000 + i];
            worst = fmax(worst, fabs(10 * log10(s / 8000) + 30));
        }
        /* float rounding after scaling in double: 5e-7 dB at most. */
        CHECK(worst < 1e-5, "each clip is at -30 dBFS (off by %.2g dB)", worst);
        CHECK(clips[0] == 0 && clips[7999] == 0 && clips[8000] == 0 && fabs(clips[4000]) > 0,
              "clips are ramped at both ends");
        free(clips);
    }
    o.max_clips = 1;
    CHECK(sound_clips_read(dir, &o, &clips, &count, &skipped, err) == 0 && count == 1,
          "max_clips caps the count");
    if (count)
        free(clips);
    o.max_clips = 10;

    snprintf(path, sizeof path, "%s/c.txt", dir);
    f = fopen(path, "w");
    if (f) {
        fputs("not a sound\n", f);
        fclose(f);
    }
    CHECK(sound_clips_read(dir, &o, &clips, &count, &skipped, err) && strstr(err, "c.txt"),
          "a file that is no sound is named (%s)", err);
    remove(path);
    snprintf(path, sizeof path, "%s/a.wav", dir);
    remove(path);
    CHECK(sound_clips_read(dir, &o, &clips, &count, &skipped, err) &&
              strstr(err, "no clip") && skipped == 1,
          "only silence: an error (%s)", err);
    snprintf(path, sizeof path, "%s/b.wav", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/.hidden", dir);
    remove(path);
    rmdir(dir);
    free(st);
    free(quiet);
}

int main(void)
{
    check_resample();
    check_files();
    return test_done();
}
