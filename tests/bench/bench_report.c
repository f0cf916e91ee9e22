/* bench_report.c: how long `inception report` takes on a session of the size
 * of an hour at the rig: 216,000 flips (60 Hz), 360,000 stream messages (the
 * first 36,000 with their 10 ms counts bins of 1,000 units: the PSTH's six
 * minutes; all of them would be 1.4 GB), 5,000 natural trials 70 ms apart
 * and 20 targets × 4 kinds × 20 repeats of closed-loop trials over 1,000
 * neurons, 80 stimuli of 64×64, model metrics, 200 learning-curve points.
 * The test predictions and readout map are not timed (no model). Figures,
 * not pass/fail: `meson compile -C build bench-report`. Argument: a folder on
 * the disk to use (default /tmp). */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEURONS 1000
#define TARGETS 20
#define SIDE 64

static int write_session(session_record *w, char *err)
{
    static float counts[NEURONS], pixels[SIDE * SIDE], corr[NEURONS];
    const char *kinds[4] = {"mei", "best_natural", "gabor", "rf"};
    for (int n = 0; n < NEURONS; n++)
        counts[n] = (float)(n % 7), corr[n] = (float)(n % 97) / 100.0f;
    for (int i = 0; i < SIDE * SIDE; i++)
        pixels[i] = (float)(i % 13) / 12.0f;
    int64_t trial = 0;
    for (; trial < 5000; trial++) {
        record_schedule_entry e = {.trial = trial, .block = "train", .kind = "natural",
                                   .image_id = trial, .target_neuron = -1, .stimulus_frames = 30,
                                   .isi_frames = 30, .image_sha256 = NULL};
        record_trial t = {.trial = trial, .image_id = trial, .onset_ns = trial * 70000000,
                          .neurons = NEURONS, .counts = counts};
        if (session_record_schedule(w, &e, err) || session_record_trial(w, &t, NULL, err))
            return 1;
    }
    for (int r = 0; r < 20; r++)
        for (int target = 0; target < TARGETS; target++)
            for (int k = 0; k < 4; k++, trial++) {
                record_schedule_entry e = {.trial = trial, .block = "closed_loop", .kind = kinds[k],
                                           .image_id = 4 * target + k,
                                           .target_neuron = target * 7, .stimulus_frames = 30,
                                           .isi_frames = 30, .image_sha256 = NULL};
                counts[target * 7] = (float)(k == 0 ? 9 + r % 3 : 4 + (r + k) % 3);
                record_trial t = {.trial = trial, .image_id = 4 * target + k, .onset_ns = 0,
                                  .neurons = NEURONS, .counts = counts};
                if (session_record_schedule(w, &e, err) || session_record_trial(w, &t, NULL, err))
                    return 1;
            }
    for (int s = 0; s < 4 * TARGETS; s++) {
        record_stimulus st = {.stimulus_id = s, .neuron = (s / 4) * 7, .kind = kinds[s % 4],
                              .height = SIDE, .width = SIDE, .pixels = pixels, .predicted = 5.0};
        if (session_record_stimulus(w, &st, err))
            return 1;
    }
    record_model_metrics m = {.split = "test", .epoch = 30, .neurons = NEURONS, .correlation = corr,
                              .feve = NULL, .fev = NULL};
    if (session_record_model_metrics(w, &m, err))
        return 1;
    for (int64_t f = 0; f < 216000; f++) {
        record_flip_event e = {.trial = f / 60, .frame = f, .flip_ns = f * 16666667,
                               .onset_ns = f * 16666667, .missed = f % 5000 == 0, .photodiode = 0,
                               .onset = f % 60 == 0};
        if (session_record_flip(w, &e, err))
            return 1;
    }
    for (int64_t i = 0; i < 360000; i++) {
        int binned = i < 36000;
        record_stream_message s = {.message_num = i, .kind = "data", .sample_num = i * 10000000,
                                   .num_samples = 1, .timestamp_ms = 1700000000000 + i * 10,
                                   .received_ns = i * 10000000, .lost = i % 50000 == 0,
                                   .data_size = 9600, .bin_width_ns = binned ? 10000000 : 0,
                                   .units = binned ? NEURONS : 0, .counts = binned ? counts : NULL,
                                   .clock_reset = 0};
        if (session_record_stream(w, &s, err))
            return 1;
    }
    for (int i = 0; i < 360; i++) {
        record_alignment a = {.slope_ns_per_sample = 1.0, .offset_ns = 0,
                              .residual_rms_ns = 2e4 + i, .residual_max_ns = 6e4 + i, .points = 100,
                              .display_ref_ns = 0, .acquisition_ref_ns = 0};
        if (session_record_alignment(w, &a, err))
            return 1;
    }
    for (int i = 0; i < 200; i++) {
        record_fit_round r = {i < 100 ? "background" : "final", i % 100 + 1, 50 * i,
                              1.0 / (1 + i), 0.4 * i / 200.0};
        if (session_record_fit_round(w, &r, err))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char dir[4096], err[CONTROLLER_ERR_SIZE], command[8300];
    snprintf(dir, sizeof dir, "%s/inception-bench-report-%d", argc > 1 ? argv[1] : "/tmp",
             (int)getpid());
    session_record *w;
    if (session_record_create(dir, "bench", "", 0, &w, err) || write_session(w, err) ||
        session_record_close(w, err)) {
        fprintf(stderr, "bench_report: %s\n", err);
        return 1;
    }
    report_summary summary;
    uint64_t t0 = record_monotonic_ns();
    int status = report_write(dir, &summary, err);
    double seconds = (double)(record_monotonic_ns() - t0) * 1e-9;
    if (status)
        fprintf(stderr, "bench_report: %s\n", err);
    else
        printf("report of %llu records: %.2f s (%d figures)\n",
               (unsigned long long)summary.records, seconds, summary.figures);
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    return system(command) != 0 || status;
}
