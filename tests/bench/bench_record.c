/* bench_record.c: what the session record costs the run loop: appends per
 * second for trial records (1,000 neurons) and flip records, and the
 * latency of one fsync after a second's worth of appends. Figures, not
 * pass/fail: `meson compile -C build bench-record`. Argument: a folder on the
 * disk to measure (default /tmp).
 * One bound: reading a crafted tail (a header every 12 bytes, each claiming
 * the rest of the file) must take linear time: 512 KB within RESYNC_BOUND_S
 * (the quadratic resync took 47 s of CPU), and 4× the bytes at most ~4× the
 * time; the benchmark exits 1 otherwise. */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEURONS 1000
#define RESYNC_BOUND_S 1.0

/* Seconds to read `size` bytes of crafted headers to the end. */
static double crafted_tail_seconds(size_t size)
{
    unsigned char *data = calloc(1, size);
    if (!data)
        return -1;
    for (size_t at = 0; at + RECORD_HEADER_SIZE + RECORD_TRAILER_SIZE <= size; at += 12) {
        uint32_t claimed = (uint32_t)(size - at - RECORD_HEADER_SIZE - RECORD_TRAILER_SIZE);
        unsigned char h[12] = {'I', 'R', 'E', 'C', 1, 0, RECORD_NOTE, 0, (unsigned char)claimed,
                               (unsigned char)(claimed >> 8), (unsigned char)(claimed >> 16),
                               (unsigned char)(claimed >> 24)};
        memcpy(data + at, h, sizeof h);
    }
    char err[CONTROLLER_ERR_SIZE];
    record_reader *r;
    record_view v;
    uint64_t t0 = record_monotonic_ns();
    if (record_reader_open_memory(data, size, &r, err))
        return -1;
    while (record_reader_next(r, &v, err) != RECORD_NEXT_END)
        continue;
    double seconds = (double)(record_monotonic_ns() - t0) * 1e-9;
    record_reader_close(r);
    free(data);
    return seconds;
}

static int bench_resync(void)
{
    double small = crafted_tail_seconds(512 << 10), large = crafted_tail_seconds(2048 << 10);
    int ok = small >= 0 && small <= RESYNC_BOUND_S && large <= 4 * 1.5 * small + 0.05;
    printf("resync over a crafted tail: 512 KB %.3f s, 2 MB %.3f s (bound: %.1f s, and ~4x for "
           "4x the bytes): %s\n", small, large, RESYNC_BOUND_S, ok ? "ok" : "TOO SLOW");
    return !ok;
}

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
        record_trial t = {.trial = i, .image_id = i, .onset_ns = 0, .neurons = NEURONS,
                          .counts = counts};
        if (session_record_trial(w, &t, NULL, err))
            return fprintf(stderr, "%s\n", err), 1;
    }
    uint64_t t1 = record_monotonic_ns();
    for (int i = 0; i < flips; i++) {
        record_flip_event f = {.trial = i, .frame = i, .flip_ns = i, .onset_ns = i, .missed = 0,
                               .photodiode = i & 1, .onset = 1};
        if (session_record_flip(w, &f, err))
            return fprintf(stderr, "%s\n", err), 1;
    }
    uint64_t t2 = record_monotonic_ns();
    double sync_ms[21];
    for (int k = 0; k < 21; k++) {
        /* A second at 144 Hz with 10 trials: 144 flips and 10 trial records. */
        for (int i = 0; i < 144; i++) {
            record_flip_event f = {.trial = i, .frame = i, .flip_ns = i, .onset_ns = i, .missed = 0,
                                   .photodiode = i & 1, .onset = 1};
            session_record_flip(w, &f, err);
        }
        for (int i = 0; i < 10; i++) {
            record_trial t = {.trial = i, .image_id = i, .onset_ns = 0, .neurons = NEURONS,
                              .counts = counts};
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
    return bench_resync();
}
