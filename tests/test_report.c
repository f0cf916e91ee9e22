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
        record_flip_event f = {.trial = frame / 10, .frame = frame, .flip_ns = t,
                               .onset_ns = t + 8000000, .missed = missed,
                               .photodiode = frame % 10 == 0,
                               .onset = frame % 10 == 0};
        status = session_record_flip(w, &f, err);
    }
    return status;
}

/* The PSTH's synthetic truth. Counts bins of 10 ms start at message number
 * × 10 ms on the acquisition clock; natural trial k's onset is at
 * ONSET_0 + k × ONSET_STEP (3 ms off the bin grid, so no bin start lies on a
 * slot edge). Unit u counts 1 + (u mod 3) × (the onsets whose counting
 * window, WINDOW_START to WINDOW_END ms after them, holds the bin's start):
 * the units' mean count is 1 + that number (the mean of u mod 3 over 12
 * units is 1). The protocol below sets the same window. */
#define BIN_NS 10000000LL
#define MESSAGES 300
#define LOST_AT 150 /* 5 messages, so 5 bins, lost before message 150 */
#define NATURAL_TRIALS 40
/* A natural trial recorded unflagged and flagged afterwards by a
 * `trial_flags` record (RECORD.md): the report leaves it out of the PSTH. */
#define FLAGGED_LATER 4
#define ONSET_0_NS 103000000LL
#define ONSET_STEP_NS 70000000LL
#define WINDOW_START_MS 40
#define WINDOW_END_MS 190

static int64_t natural_onset_ns(int k)
{
    return ONSET_0_NS + (int64_t)k * ONSET_STEP_NS;
}

static int active_onsets(int64_t bin_start_ns)
{
    int active = 0;
    for (int k = 0; k < NATURAL_TRIALS; k++) {
        int64_t after = bin_start_ns - natural_onset_ns(k);
        active += after >= WINDOW_START_MS * 1000000LL && after < WINDOW_END_MS * 1000000LL;
    }
    return active;
}

/* The message numbers that reached the record (the lost ones skipped). */
static int64_t message_number(int i)
{
    return i < LOST_AT ? i : i + 5;
}

/* The last alignment fit, which maps the odd natural trials' display onsets
 * (their records carry no acquisition onset). */
static const record_alignment last_fit = {.slope_ns_per_sample = 1.0000125, .offset_ns = 2500.0,
                                          .residual_rms_ns = 40000.0, .residual_max_ns = 96000.0,
                                          .points = 60,
                                          .display_ref_ns = 5000000000LL,
                                          .acquisition_ref_ns = 100000000LL};

/* 300 messages every 10 ms, 2 ms late, with 5 lost after message 150. */
static int write_stream(session_record *w, int64_t start_ns, char *err)
{
    int64_t offset = unix_minus_monotonic_ns();
    int status = 0;
    for (int i = 0; i < MESSAGES && !status; i++) {
        int64_t number = message_number(i), bin_start = number * BIN_NS;
        int lost = i == LOST_AT ? 5 : 0;
        int64_t sent = start_ns + number * 10000000;
        float counts[NEURONS];
        for (int u = 0; u < NEURONS; u++)
            counts[u] = (float)(1 + (u % 3) * active_onsets(bin_start));
        record_stream_message m = {.message_num = number, .kind = "data", .sample_num = bin_start,
                                   .num_samples = 1, .timestamp_ms = (sent + offset) / 1000000,
                                   .received_ns = sent + 2000000, .lost = lost, .data_size = 9600,
                                   .bin_width_ns = BIN_NS, .units = NEURONS, .counts = counts,
                                   .clock_reset = 0};
        status = session_record_stream(w, &m, err);
    }
    for (int fit = 0; fit < 4 && !status; fit++) {
        record_alignment a = {.slope_ns_per_sample = 1.0000125, .offset_ns = 0.0,
                              .residual_rms_ns = 20000.0 + 5000.0 * fit,
                              .residual_max_ns = 60000.0 + 9000.0 * fit, .points = 20 + 10 * fit,
                              .display_ref_ns = 0, .acquisition_ref_ns = 0};
        status = session_record_alignment(w, &a, err);
    }
    return status || session_record_alignment(w, &last_fit, err);
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
            record_stimulus s = {.stimulus_id = 100 + 4 * t + k, .neuron = target_neurons[t],
                                 .kind = kinds[k], .height = SIDE, .width = SIDE, .pixels = pixels,
                                 .predicted = k == 0 ? 9.5 + t : 4.0 + 0.1 * k};
            status = session_record_stimulus(w, &s, err);
        }
    return status;
}

static int write_trial(session_record *w, int64_t trial, const char *block, const char *kind,
                       int64_t image_id, int64_t target, float target_count, char *err)
{
    record_schedule_entry e = {.trial = trial, .block = block, .kind = kind, .image_id = image_id,
                               .target_neuron = target, .stimulus_frames = 30, .isi_frames = 30,
                               .image_sha256 = NULL};
    float counts[NEURONS];
    for (int n = 0; n < NEURONS; n++)
        counts[n] = (float)floor(uniform() * 6.0);
    if (target >= 0)
        counts[target] = target_count;
    record_trial t = {.trial = trial, .image_id = image_id,
                      .onset_ns = (int64_t)record_monotonic_ns(), .neurons = NEURONS,
                      .counts = counts};
    return session_record_schedule(w, &e, err) || session_record_trial(w, &t, NULL, err);
}

/* The natural trials' tiers and images: 28 train and 4 validation trials of
 * their own image, then 8 test trials showing 4 images twice each. */
#define TEST_FIRST 32
#define TEST_IMAGES 4

static const char *natural_tier(int k)
{
    return k < 28 ? "train" : k < TEST_FIRST ? "validation" : "test";
}

static int64_t natural_image(int k)
{
    return k < TEST_FIRST ? k : TEST_FIRST + (k - TEST_FIRST) % TEST_IMAGES;
}

static void natural_pixels(int64_t image, float *pixels)
{
    for (int i = 0; i < SIDE * SIDE; i++)
        pixels[i] = 0.5f + 0.4f * sinf(0.37f * (float)i + 0.9f * (float)image);
}

/* Natural trial k's count for neuron n (the test's own truth). */
static float natural_count(int k, int n)
{
    return (float)((k * 7 + n * 3) % 6);
}

static int write_natural_images(session_record *w, char *err)
{
    float pixels[SIDE * SIDE];
    int status = 0;
    for (int64_t image = 0; image < TEST_FIRST + TEST_IMAGES && !status; image++) {
        natural_pixels(image, pixels);
        record_stimulus st = {.stimulus_id = image, .neuron = -1, .kind = "natural", .height = SIDE,
                              .width = SIDE, .pixels = pixels, .predicted = NAN};
        status = session_record_stimulus(w, &st, err);
    }
    return status;
}

/* A natural trial as `inception run` records it: even trials with their
 * acquisition onset, odd ones with only their display onset (as records
 * before onset_acq_ns), which the last fit maps to the same time. */
static int write_natural_trial(session_record *w, int k, char *err)
{
    record_schedule_entry e = {.trial = k, .block = natural_tier(k), .kind = "natural",
                               .image_id = natural_image(k), .target_neuron = -1,
                               .stimulus_frames = 30, .isi_frames = 30, .image_sha256 = NULL};
    float counts[NEURONS];
    for (int n = 0; n < NEURONS; n++)
        counts[n] = natural_count(k, n);
    double display = (double)last_fit.display_ref_ns +
                     ((double)natural_onset_ns(k) - (double)last_fit.acquisition_ref_ns -
                      last_fit.offset_ns) / last_fit.slope_ns_per_sample;
    record_payload pl;
    record_payload_init(&pl);
    uint32_t shape[1] = {NEURONS};
    record_payload_i64(&pl, "trial", k);
    record_payload_i64(&pl, "image_id", natural_image(k));
    record_payload_i64(&pl, "onset_ns", (int64_t)llround(display));
    record_payload_array(&pl, "counts", RECORD_F32, 1, shape, counts);
    record_payload_i64(&pl, "flags", 0);
    if (k % 2 == 0)
        record_payload_i64(&pl, "onset_acq_ns", natural_onset_ns(k));
    int status = session_record_schedule(w, &e, err) ||
                 session_record_append(w, RECORD_TRIAL, &pl, NULL, err);
    record_payload_free(&pl);
    return status;
}

/* The final model: an untrained CNN of the session's size with a Gaussian
 * readout (its positions and predictions are what the report must show),
 * recorded as model.bin, and the targets note. */
static model *make_model(char *err)
{
    model_config c;
    model_config_default(&c);
    c.kind = MODEL_CNN, c.readout = READOUT_GAUSSIAN;
    c.height = SIDE, c.width = SIDE, c.neurons = NEURONS;
    c.init_mu_range = 0.8f, c.seed = 7;
    model *m = NULL;
    char merr[MODEL_ERR_SIZE];
    if (model_create(&m, &c, merr))
        snprintf(err, CONTROLLER_ERR_SIZE, "%s", merr);
    return m;
}

static int write_model(session_record *w, const char *dir, char *err)
{
    model *m = make_model(err);
    char path[700], merr[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    int status = !m || model_save(m, path, merr) ||
                 session_record_checkpoint(w, path, 12, 0.3, err);
    model_destroy(m);
    record_payload pl;
    record_payload_init(&pl);
    int32_t chosen[TARGETS];
    for (int t = 0; t < TARGETS; t++)
        chosen[t] = (int32_t)target_neurons[t];
    uint32_t shape[1] = {TARGETS};
    record_payload_text(&pl, "text", "targets");
    record_payload_array(&pl, "targets", RECORD_I32, 1, shape, chosen);
    status = status || session_record_append(w, RECORD_NOTE, &pl, NULL, err);
    record_payload_free(&pl);
    return status;
}

/* Each target answers its MEI with about 9 + t spikes, controls with ~4. */
static int write_trials(session_record *w, char *err)
{
    int status = session_record_phase(w, "natural", "begin", err);
    int64_t trial = 0;
    for (; trial < NATURAL_TRIALS && !status; trial++)
        status = write_natural_trial(w, (int)trial, err);
    record_trial_flags late = {.trial = FLAGGED_LATER, .flags = 1,
                               .from_ns = natural_onset_ns(FLAGGED_LATER) + 60000000LL,
                               .until_ns = natural_onset_ns(FLAGGED_LATER) + 60033333LL,
                               .reason = "a late spike"};
    status = status || session_record_trial_flags(w, &late, err);
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

/* The final fit's test metrics: oracle and single-trial correlations. */
static float test_oracle(int n)
{
    return 0.3f + 0.05f * (float)n;
}

static float test_single_trial(int n)
{
    return 0.5f * test_oracle(n) - 0.01f * (float)(n % 4);
}

static int write_test_metrics(session_record *w, char *err)
{
    float oracle[NEURONS], single[NEURONS];
    for (int n = 0; n < NEURONS; n++)
        oracle[n] = test_oracle(n), single[n] = test_single_trial(n);
    record_evaluation e = {.neuron = -1, .kind = "test_metrics", .mean = 0.2, .ci_low = NAN,
                           .ci_high = NAN, .n = NEURONS, .single_trial_corr = single,
                           .oracle = oracle};
    return session_record_evaluation(w, &e, err);
}

/* The learning curve: 5 background rounds, then 8 final-fit epochs. */
#define BACKGROUND_ROUNDS 5
#define FINAL_EPOCHS 8

static double curve_loss(int step)
{
    return 2.0 / (1.0 + 0.3 * step);
}

static double curve_validation(int step)
{
    return 0.4 * (1.0 - exp(-0.25 * step));
}

static int write_fit_curve(session_record *w, char *err)
{
    int status = 0;
    for (int step = 1; step <= BACKGROUND_ROUNDS + FINAL_EPOCHS && !status; step++) {
        int final = step > BACKGROUND_ROUNDS;
        record_fit_round r = {final ? "final" : "background",
                              final ? step - BACKGROUND_ROUNDS : step, final ? 0 : 100 * step,
                              curve_loss(step), curve_validation(step)};
        status = session_record_fit_round(w, &r, err);
    }
    return status;
}

static int write_session(const char *dir, int complete, char *err)
{
    const char protocol[] = "name: report-test\nresponse:\n  latency_ms: 40\n"
                            "  duration_ms: 150\n";
    session_record *w;
    if (session_record_create(dir, "report-test", protocol, sizeof protocol - 1, &w, err))
        return 1;
    int64_t start = (int64_t)record_monotonic_ns();
    int status = write_flips(w, start, err);
    if (complete) {
        float feve[NEURONS];
        for (int n = 0; n < NEURONS; n++)
            feve[n] = test_correlations[n] * test_correlations[n];
        record_model_metrics m = {.split = "test", .epoch = 12, .neurons = NEURONS,
                                  .correlation = test_correlations, .feve = feve, .fev = NULL};
        status = status || write_stream(w, start, err) || write_stimuli(w, err) ||
                 session_record_model_metrics(w, &m, err) || write_test_metrics(w, err) ||
                 write_fit_curve(w, err) || write_natural_images(w, err) ||
                 write_model(w, dir, err) ||
                 write_trials(w, err) ||
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
    /* 4 stimuli per target, model, oracle, predictions, readout map, learning curve (2),
     * PSTH, 3 scatters, flips, stream loss and latency, alignment */
    int expected = 4 * TARGETS + 1 + 1 + 1 + 1 + 2 + 1 + 3 + 1 + 2 + 1;
    CHECK(pngs == expected, "%d PNG figures written (expected %d)", pngs, expected);
    CHECK(referenced == pngs, "the page references every figure (%d of %d)", referenced, pngs);
    CHECK(decoded == pngs, "every figure decodes (%d of %d)", decoded, pngs);
    CHECK(stimuli == 4 * TARGETS, "%d gallery images, 16x16 scaled to 96x96", stimuli);
    const char *names[] = {"model_correlations.png", "mei_vs_best_natural.png",
                           "mei_vs_gabor.png", "mei_vs_rf.png", "flip_intervals.png",
                           "stream_loss.png", "stream_latency.png", "alignment.png",
                           "psth.png", "test_vs_oracle.png", "learning_curve_loss.png",
                           "learning_curve_validation.png", "predicted_vs_observed.png",
                           "readout_positions.png", "psth.csv", "test_vs_oracle.csv",
                           "learning_curve.csv", "predicted_vs_observed.csv",
                           "readout_positions.csv"};
    for (int i = 0; i < 19; i++) {
        char reference[300];
        snprintf(reference, sizeof reference, "%s=\"%s\"", i < 14 ? "src" : "href", names[i]);
        CHECK(strstr(html, reference) != NULL, "the page shows %s", names[i]);
    }
    int bars = histogram_bars(dir, "model_correlations.png");
    CHECK(bars == CORRELATION_BARS, "correlation histogram: %d bars (expected %d)", bars,
          CORRELATION_BARS);
    bars = histogram_bars(dir, "flip_intervals.png");
    CHECK(bars == 2, "flip interval histogram: %d bars (one frame, two frames)", bars);
}

/* A CSV the report wrote beside a figure: its text (free it), checked to
 * start with `header`; *rows points at the newline before its first row. */
static char *read_csv(const char *dir, const char *name, const char *header, const char **rows)
{
    char path[700];
    snprintf(path, sizeof path, "%s/report/%s", dir, name);
    char *text = read_text(path);
    size_t length = strlen(header);
    int ok = text && !strncmp(text, header, length) && text[length] == '\n';
    CHECK(ok, "%s has its header", name);
    *rows = ok ? text + length : NULL;
    return text;
}

/* psth.csv against the synthetic truth, computed here by brute force: for
 * each 10 ms slot from -200 ms (window end + 200 ms past the onset), every
 * recorded bin whose start lies in the slot of each natural trial, and the
 * units' mean count of that bin from the generating rule (1 + the onsets
 * active there). Sums of small integers over at most 40 trials: exact in
 * double, printed with 9 significant digits, so 1e-6 is far above any
 * rounding and far below the smallest difference (1/40). */
static void check_psth_data(const char *dir) /* trial FLAGGED_LATER left out */
{
    const char *line;
    char *text = read_csv(dir, "psth.csv", "time_ms,mean_count,rate_hz,trials", &line);
    if (!line) {
        free(text);
        return;
    }
    const int slots = (WINDOW_END_MS + 200 + 200) / 10;
    int rows = 0, wrong = 0, filled = 0;
    double peak = 0, baseline = 1e9;
    for (int j = 0; j < slots && line; j++, line = strchr(line + 1, '\n')) {
        double time_ms, mean, rate;
        int trials;
        if (sscanf(line + 1, "%lf,%lf,%lf,%d", &time_ms, &mean, &rate, &trials) != 4)
            break;
        rows++;
        int64_t slot_start = -200000000LL + (int64_t)j * BIN_NS;
        double sum = 0;
        int count = 0;
        for (int k = 0; k < NATURAL_TRIALS; k++)
            for (int i = 0; i < MESSAGES && k != FLAGGED_LATER; i++) {
                int64_t relative = message_number(i) * BIN_NS - natural_onset_ns(k);
                if (relative >= slot_start && relative < slot_start + BIN_NS)
                    sum += 1 + active_onsets(message_number(i) * BIN_NS), count++;
            }
        double expected = count ? sum / count : NAN;
        int ok = fabs(time_ms - (double)slot_start * 1e-6) < 1e-6 && trials == count &&
                 (count ? fabs(mean - expected) < 1e-6 && fabs(rate - expected * 100) < 1e-4
                        : isnan(mean));
        if (!ok && wrong++ < 3)
            fprintf(stderr, "psth.csv row %d: %g ms, %g, %g Hz, %d trials; expected %g ms, %g, "
                            "%d trials\n",
                    j, time_ms, mean, rate, trials, (double)slot_start * 1e-6, expected, count);
        filled += count > 0;
        if (count && time_ms >= WINDOW_START_MS && time_ms < WINDOW_END_MS)
            peak = fmax(peak, mean);
        if (count && time_ms < 0)
            baseline = fmin(baseline, mean);
    }
    CHECK(rows == slots, "psth.csv: %d rows (expected %d, -200 to 380 ms)", rows, slots);
    CHECK(wrong == 0, "psth.csv: every row matches the brute-force PSTH (%d wrong)", wrong);
    CHECK(filled == slots, "psth.csv: every slot has trials (%d of %d)", filled, slots);
    CHECK(peak > baseline + 1, "the PSTH rises in the window (peak %.2f, baseline %.2f)", peak,
          baseline);
    free(text);
}

/* test_vs_oracle.csv: the recorded arrays, neuron by neuron (float32
 * printed with 9 digits reads back exactly as the float). */
static void check_oracle_data(const char *dir)
{
    const char *line;
    char *text = read_csv(dir, "test_vs_oracle.csv", "neuron,oracle_corr,single_trial_corr",
                          &line);
    int rows = 0, wrong = 0;
    for (; line && line[1]; line = strchr(line + 1, '\n')) {
        int neuron;
        double oracle, single;
        if (sscanf(line + 1, "%d,%lf,%lf", &neuron, &oracle, &single) != 3)
            break;
        wrong += neuron != rows || (float)oracle != test_oracle(rows) ||
                 (float)single != test_single_trial(rows);
        rows++;
    }
    CHECK(rows == NEURONS && wrong == 0, "test_vs_oracle.csv: %d rows, %d wrong", rows, wrong);
    free(text);
}

/* learning_curve.csv: the points written, in order, on one step axis. */
static void check_curve_data(const char *dir)
{
    const char *line;
    char *text = read_csv(dir, "learning_curve.csv",
                          "step,fit,round,trials,train_loss,validation_corr", &line);
    int rows = 0, wrong = 0;
    for (; line && line[1]; line = strchr(line + 1, '\n')) {
        int step, round, trials;
        char fit[16];
        double loss, validation;
        if (sscanf(line + 1, "%d,%15[a-z],%d,%d,%lf,%lf", &step, fit, &round, &trials, &loss,
                   &validation) != 6)
            break;
        rows++;
        int final = rows > BACKGROUND_ROUNDS;
        /* Printed with 9 significant digits: 1e-7 relative covers the rounding. */
        wrong += step != rows || strcmp(fit, final ? "final" : "background") ||
                 round != (final ? rows - BACKGROUND_ROUNDS : rows) ||
                 trials != (final ? 0 : 100 * rows) ||
                 fabs(loss - curve_loss(rows)) > 1e-7 * fabs(curve_loss(rows)) ||
                 fabs(validation - curve_validation(rows)) > 1e-7 * curve_validation(rows);
    }
    CHECK(rows == BACKGROUND_ROUNDS + FINAL_EPOCHS && wrong == 0,
          "learning_curve.csv: %d rows, %d wrong", rows, wrong);
    free(text);
}

/* predicted_vs_observed.csv: the observed means from the test's own counts
 * (halves of small integers: exact), the predictions from the test's own
 * copy of the model (same seed, so the same weights) on its own pixels. The
 * report predicts in another process, possibly with another thread count
 * and so another summation order: 1e-4 relative covers float32 reordering of
 * a few hundred terms, far below any wrong image or neuron. */
static void check_prediction_data(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE] = "", merr[MODEL_ERR_SIZE];
    const char *line;
    char *text = read_csv(dir, "predicted_vs_observed.csv",
                          "neuron,image_id,repeats,predicted,observed_mean", &line);
    model *m = make_model(err);
    float pixels[TEST_IMAGES][SIDE * SIDE], predicted[TEST_IMAGES][NEURONS];
    for (int i = 0; i < TEST_IMAGES; i++)
        natural_pixels(TEST_FIRST + i, pixels[i]);
    CHECK(m && model_predict(m, &pixels[0][0], TEST_IMAGES, &predicted[0][0], merr) == 0,
          "the test's own predictions %s%s", err, merr);
    model_destroy(m);
    int rows = 0, wrong = 0;
    for (; line && line[1]; line = strchr(line + 1, '\n')) {
        int neuron, repeats;
        long long image;
        double prediction, observed;
        if (sscanf(line + 1, "%d,%lld,%d,%lf,%lf", &neuron, &image, &repeats, &prediction,
                   &observed) != 5)
            break;
        rows++;
        int i = (int)(image - TEST_FIRST);
        if (neuron < 0 || neuron >= NEURONS || i < 0 || i >= TEST_IMAGES) {
            wrong++;
            continue;
        }
        double sum = 0;
        int count = 0;
        for (int k = TEST_FIRST; k < NATURAL_TRIALS; k++)
            if (natural_image(k) == image)
                sum += natural_count(k, neuron), count++;
        int ok = repeats == count && fabs(observed - sum / count) < 1e-9 &&
                 fabs(prediction - predicted[i][neuron]) <= 1e-4 * fabs(predicted[i][neuron]);
        if (!ok && wrong++ < 3)
            fprintf(stderr, "row %d: neuron %d image %lld: %d repeats, predicted %g, observed "
                            "%g; expected %d, %g, %g\n", rows, neuron, image, repeats,
                    prediction, observed, count, predicted[i][neuron], sum / count);
    }
    CHECK(rows == NEURONS * TEST_IMAGES && wrong == 0,
          "predicted_vs_observed.csv: %d rows (expected %d), %d wrong", rows,
          NEURONS * TEST_IMAGES, wrong);
    free(text);
}

/* readout_positions.csv: the test's own model's positions, in pixels by the
 * Gaussian readout's convention (layers.h: column = (x+1)/2·(W-1)), targets
 * marked. The CSV has 9 digits of float32 values: 1e-6 absolute. */
static void check_readout_data(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE] = "", merr[MODEL_ERR_SIZE] = "";
    const char *line;
    char *text = read_csv(dir, "readout_positions.csv", "neuron,x,y,column,row,target", &line);
    model *m = make_model(err);
    float xy[2 * NEURONS];
    CHECK(m && model_readout_positions(m, xy, merr) == 0, "the model's positions %s%s", err,
          merr);
    model_destroy(m);
    int rows = 0, wrong = 0, targets = 0, spread = 0;
    for (; line && line[1]; line = strchr(line + 1, '\n')) {
        int neuron, target;
        double x, y, column, row;
        if (sscanf(line + 1, "%d,%lf,%lf,%lf,%lf,%d", &neuron, &x, &y, &column, &row,
                   &target) != 6 || neuron != rows)
            break;
        int expected_target = 0;
        for (int t = 0; t < TARGETS; t++)
            expected_target |= target_neurons[t] == neuron;
        double ex = xy[2 * neuron], ey = xy[2 * neuron + 1];
        wrong += fabs(x - ex) > 1e-6 || fabs(y - ey) > 1e-6 ||
                 fabs(column - (ex + 1) * 0.5 * (SIDE - 1)) > 1e-5 ||
                 fabs(row - (ey + 1) * 0.5 * (SIDE - 1)) > 1e-5 || target != expected_target;
        targets += target;
        spread += fabs(ex) > 0.05; /* positions drawn in ±0.8: not all at the centre */
        rows++;
    }
    CHECK(rows == NEURONS && wrong == 0 && targets == TARGETS && spread > NEURONS / 2,
          "readout_positions.csv: %d rows, %d wrong, %d targets, %d off centre", rows, wrong,
          targets, spread);
    free(text);
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
    /* Odd natural trials carry only their display onset: the last fit maps them.
     * Trial FLAGGED_LATER (even) is left out by its trial_flags record. */
    CHECK(strstr(html, "the 39 unflagged trials with bins around their onset (20 of them placed "
                       "on the acquisition clock through the last clock alignment") != NULL,
          "PSTH caption: 39 trials (one flagged after its record), the 20 without an "
          "acquisition onset mapped");
    CHECK(strstr(html, "fit, round") == NULL, "fit round notes are not listed as notes");
    CHECK(strstr(html, "background fit's 5 rounds") && strstr(html, "final fit's 8 epochs"),
          "learning curve caption: 5 rounds, 8 epochs");
    CHECK(strstr(html, "counting window, 40 to 190 ms") != NULL,
          "PSTH caption: the protocol's window, 40 to 190 ms");
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
    CHECK(s.missing == 10 && s.figures == 1, "10 sections missing, 1 figure (%d, %d)", s.missing,
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
        record_flip_event onset = {.trial = trial, .frame = frame, .flip_ns = at, .onset_ns = at,
                                   .missed = 0, .photodiode = trial % 2 == 0, .onset = 1};
        status = session_record_flip(w, &onset, err);
        if (trial == 3 || trial == 16) {
            int64_t late_frame = trial == 3 ? 40 : 200;
            int64_t late_at = t0 + (int64_t)(period * (double)late_frame);
            record_flip_event late = {.trial = trial == 3 ? 3 : -1, .frame = late_frame,
                                      .flip_ns = late_at, .onset_ns = late_at,
                                      .missed = trial == 3 ? 3 : 2, .photodiode = 0, .onset = 0};
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
    check_psth_data(session);
    check_oracle_data(session);
    check_curve_data(session);
    check_prediction_data(session);
    check_readout_data(session);
    check_model_metrics_readers(argv[1], argv[2], session);
    check_rendering(session);
    check_cut_short(argv[1]);
    check_run_timing();
    if (!getenv("KEEP_REPORT_TEST"))
        remove_tree(dir);
    else
        fprintf(stderr, "kept %s\n", dir);
    return test_done();
}
