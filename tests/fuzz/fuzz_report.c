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
    static const char *figures[] = {"model_correlations", "mei_vs_best_natural", "mei_vs_gabor",
                                    "mei_vs_rf", "flip_intervals", "stream_loss",
                                    "stream_latency", "alignment"};
    char path[256];
    for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++) {
        snprintf(path, sizeof path, "%s/report/%s.png", dir, figures[i]);
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
