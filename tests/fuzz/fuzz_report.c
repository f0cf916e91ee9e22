/* Fuzz target: any bytes as a session's record give a report or a clear
 * error, never a crash, a hang or a read out of bounds. Seeds: the record
 * corpus plus a whole synthetic session (tests/fuzz/corpus/report). Each
 * input is written as DIR/session.rec of one scratch folder per process. */
#include "controller.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[64];

static void remove_scratch(void)
{
    rmdir(scratch);
}

static const char *scratch_dir(void)
{
    if (!scratch[0]) {
        snprintf(scratch, sizeof scratch, "/tmp/fuzz_report_XXXXXX");
        if (!mkdtemp(scratch))
            abort();
        atexit(remove_scratch);
    }
    return scratch;
}

static void remove_report(const char *dir)
{
    static const char *files[] = {
        "model_correlations.png", "mei_vs_best_natural.png", "mei_vs_gabor.png",
        "mei_vs_rf.png", "flip_intervals.png", "dropped_frames.png", "stream_loss.png",
        "stream_latency.png", "alignment.png", "psth.png", "psth.csv", "test_vs_oracle.png",
        "test_vs_oracle.csv", "learning_curve_loss.png", "learning_curve_validation.png",
        "learning_curve.csv", "predicted_vs_observed.png", "predicted_vs_observed.csv",
        "readout_positions.png", "readout_positions.csv"};
    char path[256];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/report/%s", dir, files[i]);
        unlink(path);
    }
    for (int i = 0;; i++) {
        snprintf(path, sizeof path, "%s/report/stimulus_%d.png", dir, i);
        if (unlink(path))
            break;
    }
    snprintf(path, sizeof path, "%s/report/index.html", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/report", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/" RECORD_FILE_NAME, dir);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = scratch_dir();
    char path[256], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/" RECORD_FILE_NAME, dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f))
        abort();
    report_summary summary;
    err[0] = 0;
    if (report_write(dir, &summary, err) && !memchr(err, '\0', sizeof err))
        __builtin_trap();
    remove_report(dir);
    return 0;
}
