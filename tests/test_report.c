/* test_report.c: `inception report` on a synthetic session written through
 * the record writer (a small, realistic session: flips with three drops, a
 * stream with a gap, alignment fits, natural and closed-loop trials,
 * stimuli, model metrics), and on a session cut short. Checks the page
 * references every figure, every PNG decodes with the expected content, and
 * that headless Chromium renders the page with the figures and the gallery.
 *
 * usage: test_report INCEPTION_EXECUTABLE */
#include "controller.h"
#include "model.h"
#include "test.h"
#include "test_files.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NEURONS 12
#define TARGETS 6
#define REPEATS 8
#define SIDE 16
#define RF_GRAY 0.25f /* the RF controls are uniform squares of this gray */

/* Model correlations in five distinct 0.05-wide bins (two share one). */
static const float test_correlations[NEURONS] = {0.12f, 0.13f, 0.32f, 0.47f, 0.61f, 0.62f,
                                                 0.78f, 0.77f, 0.76f, 0.46f, 0.33f, 0.14f};
#define CORRELATION_BARS 5
static const int64_t target_neurons[TARGETS] = {4, 5, 6, 7, 8, 3};
static const char *const kinds[4] = {"mei", "best_natural", "gabor", "rf"};

static uint64_t lcg = 99;

static double uniform(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) * 0x1.0p-53;
}

static int64_t unix_minus_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - (int64_t)record_monotonic_ns();
}

static int write_flips(session_record *w, int64_t start_ns, char *err)
{
    int status = 0;
    int64_t t = start_ns;
    for (int frame = 0; frame < 600 && !status; frame++) {
        int missed = frame == 100 || frame == 250 || frame == 480;
        t += (int64_t)(16666667.0 * (1 + missed));
        record_flip_event f = {frame / 10, frame, t, t + 8000000, missed, frame % 10 == 0,
                               frame % 10 == 0};
        status = session_record_flip(w, &f, err);
    }
    return status;
}

/* 300 messages every 10 ms, 2 ms late, with 5 lost after message 150. */
static int write_stream(session_record *w, int64_t start_ns, char *err)
{
    int64_t offset = unix_minus_monotonic_ns();
    int status = 0;
    for (int i = 0, number = 0; i < 300 && !status; i++, number++) {
        int lost = i == 150 ? 5 : 0;
        number += lost;
        int64_t sent = start_ns + (int64_t)number * 10000000;
        record_stream_message m = {number, "data", (int64_t)number * 300, 300,
                                   (sent + offset) / 1000000, sent + 2000000, lost, 9600, 0, 0, NULL};
        status = session_record_stream(w, &m, err);
    }
    for (int fit = 0; fit < 5 && !status; fit++) {
        record_alignment a = {1.0000125, 0.0, 20000.0 + 5000.0 * fit,
                              60000.0 + 9000.0 * fit, 20 + 10 * fit, 0, 0};
        status = session_record_alignment(w, &a, err);
    }
    return status;
}

static void stimulus_pixels(int kind, int target, float *pixels)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float grating = 0.5f + 0.45f * sinf(0.8f * (float)x + 0.3f * (float)target);
            float *p = &pixels[y * SIDE + x];
            if (kind == 0)
                *p = grating;
            else if (kind == 1)
                *p = (float)uniform();
            else if (kind == 2)
                *p = 0.5f + (grating - 0.5f) * expf(-((x - 8) * (x - 8) + (y - 8) * (y - 8)) / 20.f);
            else
                *p = RF_GRAY;
        }
}

static int write_stimuli(session_record *w, char *err)
{
    float pixels[SIDE * SIDE];
    int status = 0;
    for (int t = 0; t < TARGETS && !status; t++)
        for (int k = 0; k < 4 && !status; k++) {
            stimulus_pixels(k, t, pixels);
            record_stimulus s = {100 + 4 * t + k, target_neurons[t], kinds[k], SIDE, SIDE, pixels,
                                 k == 0 ? 9.5 + t : 4.0 + 0.1 * k};
            status = session_record_stimulus(w, &s, err);
        }
    return status;
}

static int write_trial(session_record *w, int64_t trial, const char *block, const char *kind,
                       int64_t image_id, int64_t target, float target_count, char *err)
{
    record_schedule_entry e = {trial, block, kind, image_id, target, 30, 30, NULL};
    float counts[NEURONS];
    for (int n = 0; n < NEURONS; n++)
        counts[n] = (float)floor(uniform() * 6.0);
    if (target >= 0)
        counts[target] = target_count;
    record_trial t = {trial, image_id, (int64_t)record_monotonic_ns(), NEURONS, counts};
    return session_record_schedule(w, &e, err) || session_record_trial(w, &t, NULL, err);
}

/* Each target answers its MEI with about 9 + t spikes, controls with ~4. */
static int write_trials(session_record *w, char *err)
{
    int status = session_record_phase(w, "natural", "begin", err);
    int64_t trial = 0;
    for (; trial < 40 && !status; trial++)
        status = write_trial(w, trial, "train", "natural", trial, -1, 0, err);
    status = status || session_record_phase(w, "natural", "end", err) ||
             session_record_phase(w, "closed_loop", "begin", err);
    for (int r = 0; r < REPEATS && !status; r++)
        for (int t = 0; t < TARGETS && !status; t++)
            for (int k = 0; k < 4 && !status; k++) {
                float count = (float)floor((k == 0 ? 9.0 + t : 4.0) + 3.0 * uniform());
                status = write_trial(w, trial++, "closed_loop", kinds[k], 100 + 4 * t + k,
                                     target_neurons[t], count, err);
            }
    return status || session_record_phase(w, "closed_loop", "end", err);
}

static int write_session(const char *dir, int complete, char *err)
{
    const char protocol[] = "name: report-test\n";
    session_record *w;
    if (session_record_create(dir, "report-test", protocol, sizeof protocol - 1, &w, err))
        return 1;
    int64_t start = (int64_t)record_monotonic_ns();
    int status = write_flips(w, start, err);
    if (complete) {
        float feve[NEURONS];
        for (int n = 0; n < NEURONS; n++)
            feve[n] = test_correlations[n] * test_correlations[n];
        record_model_metrics m = {"test", 12, NEURONS, test_correlations, feve, NULL};
        status = status || write_stream(w, start, err) || write_stimuli(w, err) ||
                 session_record_model_metrics(w, &m, err) || write_trials(w, err) ||
                 session_record_note(w, "synthetic session <for the report test>", err);
    }
    return session_record_close(w, err) || status;
}

/* Runs argv with its output to `output` (or /dev/null); its exit status. */
static int run_command_to(const char *const *argv, const char *output)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(output ? output : "/dev/null", "w", stdout) ||
            !freopen("/dev/null", "w", stderr))
            _exit(126);
        execv(argv[0], (char *const *)argv);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
               ? WEXITSTATUS(status) : -1;
}

static int run_command(const char *const *argv)
{
    return run_command_to(argv, NULL);
}

static char *read_text(const char *path)
{
    size_t size;
    unsigned char *bytes = read_file_bytes(path, &size);
    char *text = bytes ? realloc(bytes, size + 1) : NULL;
    if (text)
        text[size] = 0;
    else
        free(bytes);
    return text;
}

/* Runs of pixels in row y (between x0 and x1) whose gray is near `gray`. */
static int count_runs(const float *pixels, int width, int y, int x0, int x1, float gray)
{
    int runs = 0, inside = 0;
    for (int x = x0; x < x1; x++) {
        int match = fabsf(pixels[y * width + x] - gray) < 0.02f;
        runs += match && !inside;
        inside = match;
    }
    return runs;
}

/* PLOT_BLUE (31, 119, 180) as the decoder's Rec. 709 luminance. */
static float blue_gray(void)
{
    return (0.2126f * 31 + 0.7152f * 119 + 0.0722f * 180) / 255.0f;
}

static int load_png(const char *dir, const char *name, int *h, int *w, float **pixels)
{
    char path[512], err[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/report/%s", dir, name);
    return image_load_gray(path, h, w, pixels, err);
}

/* The histogram's bars, counted along the row just above the x axis (plot.c's
 * margins: 34 pixels below the box, 84 left of it, 18 right of it). */
static int histogram_bars(const char *dir, const char *name)
{
    int h, w;
    float *pixels;
    if (load_png(dir, name, &h, &w, &pixels))
        return -1;
    int bars = count_runs(pixels, w, h - 34 - 1, 85, w - 19, blue_gray());
    free(pixels);
    return bars;
}

static void check_figures(const char *dir, const char *html)
{
    char folder[512];
    snprintf(folder, sizeof folder, "%s/report", dir);
    DIR *d = opendir(folder);
    int pngs = 0, referenced = 0, decoded = 0, stimuli = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".png"))
            continue;
        pngs++;
        char reference[300];
        snprintf(reference, sizeof reference, "src=\"%s\"", e->d_name);
        referenced += strstr(html, reference) != NULL;
        int h, w;
        float *pixels;
        if (load_png(dir, e->d_name, &h, &w, &pixels) == 0) {
            decoded++;
            stimuli += !strncmp(e->d_name, "stimulus_", 9) && h == 96 && w == 96;
            free(pixels);
        }
    }
    if (d)
        closedir(d);
    /* 4 stimuli per target, model, 3 scatters, flips, stream loss and latency, alignment */
    int expected = 4 * TARGETS + 1 + 3 + 1 + 2 + 1;
    CHECK(pngs == expected, "%d PNG figures written (expected %d)", pngs, expected);
    CHECK(referenced == pngs, "the page references every figure (%d of %d)", referenced, pngs);
    CHECK(decoded == pngs, "every figure decodes (%d of %d)", decoded, pngs);
    CHECK(stimuli == 4 * TARGETS, "%d gallery images, 16x16 scaled to 96x96", stimuli);
    const char *names[] = {"model_correlations.png", "mei_vs_best_natural.png",
                           "mei_vs_gabor.png", "mei_vs_rf.png", "flip_intervals.png",
                           "stream_loss.png", "stream_latency.png", "alignment.png"};
    for (int i = 0; i < 8; i++) {
        char reference[300];
        snprintf(reference, sizeof reference, "src=\"%s\"", names[i]);
        CHECK(strstr(html, reference) != NULL, "the page shows %s", names[i]);
    }
    int bars = histogram_bars(dir, "model_correlations.png");
    CHECK(bars == CORRELATION_BARS, "correlation histogram: %d bars (expected %d)", bars,
          CORRELATION_BARS);
    bars = histogram_bars(dir, "flip_intervals.png");
    CHECK(bars == 2, "flip interval histogram: %d bars (one frame, two frames)", bars);
}

static void check_rf_pixels(const char *dir)
{
    int h, w;
    float *pixels;
    CHECK(load_png(dir, "stimulus_3.png", &h, &w, &pixels) == 0, "the first RF control loads");
    if (h > 0 && w > 0)
        CHECK(fabsf(pixels[(h / 2) * w + w / 2] - RF_GRAY) < 1.0f / 255,
              "the RF control keeps its gray %.3f", pixels[(h / 2) * w + w / 2]);
    free(pixels);
}

static void check_captions(const char *html)
{
    CHECK(strstr(html, "3 frames dropped") != NULL, "timing caption: 3 frames dropped");
    CHECK(strstr(html, "300 received, 5 lost") != NULL, "stream caption: 300 received, 5 lost");
    CHECK(strstr(html, "5 fits") != NULL, "alignment caption: 5 fits");
    /* The recorded slope 1.0000125 is 1 + drift: 12.5 ppm. */
    CHECK(strstr(html, "drift 12.5 ppm") != NULL, "alignment caption: the drift, 12.5 ppm");
    /* Every target answers its MEI more than each control: all 6 differences
     * positive, exact two-sided p = 2/64; sign test the same. */
    CHECK(strstr(html, "W+ = 21.0, W&minus; = 0.0, n = 6, p = 0.0312 (exact)") != NULL,
          "wilcoxon in the caption: W+ = 21, exact p = 2/64");
    CHECK(strstr(html, "6 up, 0 down, 0 tied, p = 0.0312") != NULL, "sign test in the caption");
    CHECK(strstr(html, "Not in this record") == NULL, "no section missing");
    CHECK(strstr(html, "&lt;for the report test&gt;") != NULL, "notes are escaped");
}

/* The largest square side s such that some s×s block of the screenshot is
 * all near `gray` (a summed-area table of matches, then a scan). */
static int largest_block(const float *pixels, int h, int w, float gray, int side)
{
    int *sum = calloc((size_t)(h + 1) * (w + 1), sizeof *sum);
    if (!sum)
        return 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            sum[(y + 1) * (w + 1) + x + 1] = (fabsf(pixels[y * w + x] - gray) < 0.02f) +
                                             sum[y * (w + 1) + x + 1] + sum[(y + 1) * (w + 1) + x] -
                                             sum[y * (w + 1) + x];
    int blocks = 0;
    for (int y = 0; y + side <= h; y += 2)
        for (int x = 0; x + side <= w; x += 2) {
            int inside = sum[(y + side) * (w + 1) + x + side] - sum[y * (w + 1) + x + side] -
                         sum[(y + side) * (w + 1) + x] + sum[y * (w + 1) + x];
            blocks += inside == side * side;
        }
    free(sum);
    return blocks;
}

static void check_rendering(const char *dir)
{
    char url[600], shot[600], window[] = "--window-size=1200,2000", screenshot[640];
    char absolute[512];
    CHECK(realpath(dir, absolute) != NULL, "session folder resolves");
    snprintf(url, sizeof url, "file://%s/report/index.html", absolute);
    snprintf(shot, sizeof shot, "%s/screenshot.png", absolute);
    snprintf(screenshot, sizeof screenshot, "--screenshot=%s", shot);
    const char *argv[] = {"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", "--force-device-scale-factor=1", screenshot,
                          window, url, NULL};
    int status = run_command(argv);
    CHECK(status == 0, "headless chromium ran (exit %d; 127: not installed, see .ci/install-deps)",
          status);
    int h = 0, w = 0;
    float *pixels = NULL;
    char err[MODEL_ERR_SIZE] = "";
    CHECK(image_load_gray(shot, &h, &w, &pixels, err) == 0, "the screenshot loads %s", err);
    CHECK(h == 2000 && w == 1200, "screenshot is 1200x2000 (%dx%d)", w, h);
    double sum = 0, squares = 0;
    int blue = 0;
    for (long i = 0; i < (long)h * w; i++) {
        sum += pixels[i], squares += pixels[i] * pixels[i];
        blue += fabsf(pixels[i] - blue_gray()) < 0.01f;
    }
    double n = (double)h * w, sd = n > 0 ? sqrt(fmax(squares / n - (sum / n) * (sum / n), 0)) : 0;
    CHECK(sd > 0.1, "the screenshot is not blank (sd %.3f)", sd);
    CHECK(blue > 3000, "figures rendered: %d pixels of the histogram's blue", blue);
    int blocks = pixels ? largest_block(pixels, h, w, RF_GRAY, 90) : 0;
    CHECK(blocks >= TARGETS, "gallery rendered: %d 90x90 blocks of the RF controls' gray", blocks);
    free(pixels);
}

static void check_cut_short(const char *inception)
{
    char dir[] = "/tmp/test_report_short_XXXXXX", err[CONTROLLER_ERR_SIZE] = "";
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    char session[600];
    snprintf(session, sizeof session, "%s/session", dir);
    CHECK(write_session(session, 0, err) == 0, "a session cut short (flips only) %s", err);
    report_summary s;
    CHECK(report_write(session, &s, err) == 0, "its report is written %s", err);
    CHECK(s.missing == 5 && s.figures == 1, "5 sections missing, 1 figure (%d, %d)", s.missing,
          s.figures);
    char path[700];
    snprintf(path, sizeof path, "%s/report/index.html", session);
    char *html = read_text(path);
    CHECK(html && strstr(html, "Not in this record: the model's per-neuron metrics"),
          "the page says the model metrics are missing");
    CHECK(html && strstr(html, "Not in this record: closed-loop responses"),
          "the page says the closed-loop responses are missing");
    free(html);
    const char *argv[] = {inception, "report", "/nonexistent/session", NULL};
    CHECK(run_command(argv) == 1, "a missing record fails with exit 1");
    const char *bad[] = {inception, "report", session, "--colour", NULL};
    CHECK(run_command(bad) == 2, "an unknown option is a usage error");
    remove_tree(dir);
}

/* What `inception run` writes about timing (RECORD.md): onset flips, late
 * flips only, a display note per block, trials flagged for their frames.
 * 30 trials of 12 frames at 240 Hz; late flips at frames 40 (3 missed,
 * trial 3 up) and 200 (2 missed, none up); trials 3 and 16 flagged; the
 * block note counts 6 dropped, one more than the flips: an event lost. */
static int write_run_timing(const char *dir, char *err)
{
    const char protocol[] = "name: report-timing\n";
    session_record *w;
    if (session_record_create(dir, "report-timing", protocol, sizeof protocol - 1, &w, err))
        return 1;
    const double period = 1e9 / 240.0;
    int64_t t0 = (int64_t)record_monotonic_ns();
    int status = 0;
    for (int trial = 0; trial < 30 && !status; trial++) {
        int64_t frame = 12 * trial, at = t0 + (int64_t)(period * (double)frame);
        record_flip_event onset = {trial, frame, at, at, 0, trial % 2 == 0, 1};
        status = session_record_flip(w, &onset, err);
        if (trial == 3 || trial == 16) {
            int64_t late_frame = trial == 3 ? 40 : 200;
            int64_t late_at = t0 + (int64_t)(period * (double)late_frame);
            record_flip_event late = {trial == 3 ? 3 : -1, late_frame, late_at, late_at,
                                      trial == 3 ? 3 : 2, 0, 0};
            status = status || session_record_flip(w, &late, err);
        }
        float counts[NEURONS] = {0};
        record_payload pl;
        record_payload_init(&pl);
        uint32_t shape[1] = {NEURONS};
        record_payload_i64(&pl, "trial", trial);
        record_payload_i64(&pl, "image_id", trial);
        record_payload_i64(&pl, "onset_ns", at);
        record_payload_array(&pl, "counts", RECORD_F32, 1, shape, counts);
        int flagged = trial == 3 || trial == 16;
        record_payload_i64(&pl, "flags", flagged ? (int64_t)RUN_TRIAL_FRAMES : 0);
        status = status || session_record_append(w, RECORD_TRIAL, &pl, NULL, err);
        record_payload_free(&pl);
    }
    record_payload pl;
    record_payload_init(&pl);
    record_payload_text(&pl, "text", "recording block: ...");
    record_payload_text(&pl, "display_block", "recording");
    record_payload_i64(&pl, "flips", 365);
    record_payload_i64(&pl, "dropped_frames", 6);
    record_payload_i64(&pl, "trials_shown", 30);
    record_payload_i64(&pl, "trials_with_drops", 2);
    record_payload_i64(&pl, "trials_flagged_frames", 2);
    record_payload_i64(&pl, "events_lost", 1);
    record_payload_f64(&pl, "interval_mean_ms", 4.25);
    record_payload_f64(&pl, "interval_sd_ms", 0.5);
    record_payload_f64(&pl, "interval_max_ms", 16.7);
    status = status || session_record_append(w, RECORD_NOTE, &pl, NULL, err);
    record_payload_free(&pl);
    return session_record_close(w, err) || status;
}

static void check_run_timing(void)
{
    char dir[] = "/tmp/test_report_timing_XXXXXX", err[CONTROLLER_ERR_SIZE] = "";
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    char session[600], path[700];
    snprintf(session, sizeof session, "%s/session", dir);
    CHECK(write_run_timing(session, err) == 0, "a run's timing records %s", err);
    report_summary s;
    CHECK(report_write(session, &s, err) == 0, "its report is written %s", err);
    snprintf(path, sizeof path, "%s/report/index.html", session);
    char *html = read_text(path);
    CHECK(html && strstr(html, "5 frames dropped in all, at 2 late flips") &&
              strstr(html, "2 of 30 trials flagged for the frames they were shown"),
          "Stimulus timing: the late flips' 5 dropped frames, 2 of 30 trials flagged");
    CHECK(html && strstr(html, "<td>recording</td><td>365</td><td>6</td><td>2 of 30</td>"
                               "<td>2</td><td>4.250 &plusmn; 0.500</td><td>16.700</td>"),
          "the block's row: flips, dropped, trials with drops, flagged, intervals");
    CHECK(html && strstr(html, "The display counted 6 dropped frames in its blocks, the flip "
                               "records 5: display events were lost."),
          "a disagreement between the block and its flip records is said");
    snprintf(path, sizeof path, "%s/report/flip_intervals.png", session);
    CHECK(access(path, F_OK) != 0, "no flip-interval histogram from onsets and late flips");
    snprintf(path, sizeof path, "%s/report/dropped_frames.png", session);
    CHECK(access(path, F_OK) == 0, "the dropped frames over the session instead");
    free(html);
    remove_tree(dir);
}

/* The model_metrics record through record-dump and the Python reader. */
static void check_model_metrics_readers(const char *inception, const char *reader,
                                        const char *session)
{
    char listing[700];
    snprintf(listing, sizeof listing, "%s/dump.txt", session);
    const char *dump[] = {inception, "record-dump", session, NULL};
    CHECK(run_command_to(dump, listing) == 0, "record-dump lists the session");
    char *text = read_text(listing);
    CHECK(text && strstr(text, " model_metrics ") &&
              strstr(text, "split=\"test\" epoch=12 correlation=f[12](0.12 0.13 0.32"),
          "record-dump names the model_metrics record and its fields");
    free(text);
    char script[1400];
    snprintf(script, sizeof script,
             "import os, sys\n"
             "sys.path.insert(0, os.path.dirname(sys.argv[1]))\n"
             "from record_reader import read_records\n"
             "m = [r for r in read_records(sys.argv[2]) if r['type'] == 'model_metrics']\n"
             "f = m[0]['fields']\n"
             "ok = len(m) == 1 and f['split'] == 'test' and f['epoch'] == 12 and "
             "f['correlation'].shape == (12,) and abs(f['correlation'][2] - 0.32) < 1e-6 and "
             "abs(f['feve'][2] - 0.32 ** 2) < 1e-6\n"
             "sys.exit(0 if ok else 1)\n");
    char rec[700];
    snprintf(rec, sizeof rec, "%s/" RECORD_FILE_NAME, session);
    const char *python[] = {"/usr/bin/python3", "-c", script, reader, rec, NULL};
    CHECK(run_command(python) == 0, "record_reader.py reads the model_metrics record");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        CHECK(0, "usage: test_report INCEPTION RECORD_READER_PY");
        return test_done();
    }
    char dir[] = "/tmp/test_report_XXXXXX", err[CONTROLLER_ERR_SIZE] = "";
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    char session[600], path[700];
    snprintf(session, sizeof session, "%s/session", dir);
    CHECK(write_session(session, 1, err) == 0, "synthetic session written %s", err);
    const char *command[] = {argv[1], "report", session, NULL};
    CHECK(run_command(command) == 0, "inception report %s", session);
    snprintf(path, sizeof path, "%s/report/index.html", session);
    char *html = read_text(path);
    CHECK(html != NULL, "index.html written");
    if (html) {
        check_figures(session, html);
        check_captions(html);
        CHECK(strstr(html, "http") == NULL && strstr(html, "<script") == NULL,
              "offline: no network address, no script");
    }
    free(html);
    check_rf_pixels(session);
    check_model_metrics_readers(argv[1], argv[2], session);
    check_rendering(session);
    check_cut_short(argv[1]);
    check_run_timing();
    remove_tree(dir);
    return test_done();
}
