/* bench_record.c: what the session record costs the run loop: appends per
 * second for trial records (1,000 neurons) and flip records, and the
 * latency of one fsync after a second's worth of appends. Figures, not
 * pass/fail: `meson compile -C build bench-record`. Argument: a folder on the
 * disk to measure (default /tmp). */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEURONS 1000

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    char dir[4096], err[CONTROLLER_ERR_SIZE];
    snprintf(dir, sizeof dir, "%s/inception-bench-record-%d", argc > 1 ? argv[1] : "/tmp",
             (int)getpid());
    session_record *w;
    if (session_record_create(dir, "bench", "", 0, &w, err)) {
        fprintf(stderr, "bench_record: %s\n", err);
        return 1;
    }
    float counts[NEURONS];
    for (int n = 0; n < NEURONS; n++)
        counts[n] = (float)(n % 7);
    int trials = 20000, flips = 100000;
    uint64_t t0 = record_monotonic_ns();
    for (int i = 0; i < trials; i++) {
        record_trial t = {i, i, 0, NEURONS, counts};
        if (session_record_trial(w, &t, NULL, err))
            return fprintf(stderr, "%s\n", err), 1;
    }
    uint64_t t1 = record_monotonic_ns();
    for (int i = 0; i < flips; i++) {
        record_flip_event f = {i, i, i, i, 0, i & 1, 1};
        if (session_record_flip(w, &f, err))
            return fprintf(stderr, "%s\n", err), 1;
    }
    uint64_t t2 = record_monotonic_ns();
    double sync_ms[21];
    for (int k = 0; k < 21; k++) {
        /* A second at 144 Hz with 10 trials: 144 flips and 10 trial records. */
        for (int i = 0; i < 144; i++) {
            record_flip_event f = {i, i, i, i, 0, i & 1, 1};
            session_record_flip(w, &f, err);
        }
        for (int i = 0; i < 10; i++) {
            record_trial t = {i, i, 0, NEURONS, counts};
            session_record_trial(w, &t, NULL, err);
        }
        uint64_t s0 = record_monotonic_ns();
        if (session_record_sync(w, err))
            return fprintf(stderr, "%s\n", err), 1;
        sync_ms[k] = (double)(record_monotonic_ns() - s0) * 1e-6;
    }
    qsort(sync_ms, 21, sizeof sync_ms[0], compare);
    double trial_s = (double)(t1 - t0) * 1e-9, flip_s = (double)(t2 - t1) * 1e-9;
    printf("trial records (%d neurons, %.1f kB): %.0f per s (%.2f us each, %.0f MB/s)\n",
           NEURONS, (4.0 * NEURONS + 100) / 1e3, trials / trial_s, trial_s / trials * 1e6,
           trials * (4.0 * NEURONS + 100) / trial_s / 1e6);
    printf("flip records: %.0f per s (%.2f us each)\n", flips / flip_s, flip_s / flips * 1e6);
    printf("fsync after a second's appends (144 flips + 10 trials): median %.2f ms, max %.2f ms\n",
           sync_ms[10], sync_ms[20]);
    session_record_close(w, err);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    remove(path);
    rmdir(dir);
    return 0;
}
