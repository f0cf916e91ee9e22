/* bench_acquisition.c: ingest and align a real-time count stream over
 * loopback TCP. A publisher thread sends bins at their real rate (plus one
 * sync edge per onset, every 500 ms, and a heartbeat a second); the receiver
 * thread decodes and queues them; the main thread aligns them into trials.
 * Reports messages/s, losses, CPU (process and receive side), memory at the
 * start and the end, and receive-to-aligned latency percentiles (from the
 * receive time stamped by the receiver thread to the moment the bin is in
 * the aligner and any trial it completes has been summed).
 *
 * usage: bench_acquisition [SECONDS [PORT [WHICH]]]   (default 10 s per
 * configuration; WHICH 1 or 2 runs one of them)
 * Configurations: 1,000 units at 1 kHz bins; 10,000 units at 100 Hz bins. */
#include "acquisition.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ONSET_EVERY_NS 500000000LL
#define DISPLAY_OFFSET 777000000000LL /* display clock = acquisition clock + this */

typedef struct bench_config {
    int units;
    int64_t bin_ns;
    double seconds;
    char endpoint[64];
} bench_config;

typedef struct publisher_state {
    const bench_config *c;
    atomic_int ready;
    int64_t start;       /* CLOCK_MONOTONIC at acquisition time 0 */
    uint64_t sent;
    double cpu_s;
} publisher_state;

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double process_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec * 1e-6;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void sleep_until(int64_t t_ns)
{
    struct timespec t = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
}

static void *publish(void *arg)
{
    publisher_state *s = arg;
    const bench_config *c = s->c;
    char err[ACQ_ERR_SIZE];
    acq_socket_config sc = {.endpoint = c->endpoint, .bind = 1, .hwm = 100000};
    acq_publisher *p;
    if (acq_publisher_create(&p, NULL, &sc, 1, 1, err)) {
        fprintf(stderr, "bench: %s\n", err);
        atomic_store(&s->ready, -1);
        return NULL;
    }
    float *counts = malloc(sizeof(float) * (size_t)c->units);
    for (int u = 0; u < c->units; u++)
        counts[u] = (float)(u % 4);
    /* Heartbeats until the subscriber is surely connected. */
    for (int i = 0; i < 50; i++) {
        acq_publisher_heartbeat(p, 0);
        usleep(10000);
    }
    double cpu0 = thread_cpu();
    s->start = acq_now_ns();
    atomic_store(&s->ready, 1);
    int64_t bins = (int64_t)(c->seconds * 1e9 / (double)c->bin_ns);
    for (int64_t k = 0; k < bins; k++) {
        int64_t t = k * c->bin_ns;
        sleep_until(s->start + t + c->bin_ns); /* a bin goes out when it ends */
        if (t % ONSET_EVERY_NS == 0) {
            acq_event e = {t, 0, 1};
            acq_publisher_events(p, t, &e, 1);
            s->sent++;
        }
        counts[k % c->units] += 1; /* the data changes */
        acq_publisher_counts(p, t, (uint32_t)c->bin_ns, counts, (uint32_t)c->units, ACQ_DTYPE_U16);
        s->sent++;
        if (t % 1000000000 == 0) {
            acq_publisher_heartbeat(p, t);
            s->sent++;
        }
    }
    s->cpu_s = thread_cpu() - cpu0;
    usleep(200000);
    free(counts);
    acq_publisher_destroy(p);
    return NULL;
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static int run(const bench_config *c)
{
    char err[ACQ_ERR_SIZE];
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = c->endpoint;
    rc.socket.hwm = 100000;
    acq_align_config ac;
    acq_align_config_default(&ac);
    acq_receiver *r;
    acq_aligner *a;
    publisher_state ps = {.c = c};
    pthread_t thread;
    if (acq_aligner_create(&a, &ac, err) || pthread_create(&thread, NULL, publish, &ps)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    usleep(100000);
    if (acq_receiver_create(&r, NULL, &rc, err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    while (atomic_load(&ps.ready) == 0)
        usleep(1000);
    size_t cap = (size_t)(c->seconds * 1e9 / (double)c->bin_ns) + 16, nlat = 0;
    float *latency_us = malloc(sizeof(float) * cap);
    float *trial_counts = malloc(sizeof(float) * (size_t)c->units);
    acq_item *it;
    acq_trial t;
    int64_t next_onset = 0, last_item = acq_now_ns();
    int trials = 0, flagged = 0;
    double cpu0 = process_cpu();
    int64_t wall0 = acq_now_ns();
    long rss[5] = {0}; /* after 5 s (the bin history is full), then each quarter */
    uint64_t total_bins = (uint64_t)(c->seconds * 1e9 / (double)c->bin_ns);
    uint64_t bins = 0;
    while (acq_now_ns() - last_item < 1000000000LL) {
        if (!acq_receiver_pop(r, &it, 100))
            continue;
        last_item = acq_now_ns();
        if (it->type == ACQ_MSG_COUNTS) {
            /* The display's onsets, known on this side in real time. */
            while (next_onset <= it->timestamp_ns + c->bin_ns) {
                acq_aligner_add_onset(a, (uint64_t)(next_onset / ONSET_EVERY_NS), 0,
                                      next_onset + DISPLAY_OFFSET, 0, err);
                next_onset += ONSET_EVERY_NS;
            }
        }
        acq_aligner_add_item(a, it, err);
        while (acq_aligner_next_complete_trial(a, &t, trial_counts)) {
            trials++;
            flagged += t.flags != 0;
        }
        if (it->type == ACQ_MSG_COUNTS && nlat < cap) {
            latency_us[nlat++] = (float)(acq_now_ns() - it->received_ns) / 1e3f;
            bins++;
        }
        if (bins == (uint64_t)(5e9 / (double)c->bin_ns))
            rss[0] = rss_kib();
        for (int q = 1; q <= 4; q++)
            if (bins == total_bins * (uint64_t)q / 4)
                rss[q] = rss_kib();
        acq_item_free(it);
    }
    double wall = (double)(acq_now_ns() - wall0) / 1e9 - 1.0, cpu = process_cpu() - cpu0;
    pthread_join(thread, NULL);
    acq_stats st;
    acq_receiver_stats(r, &st);
    qsort(latency_us, nlat, sizeof(float), compare_float);
    printf("%d units at %.0f Hz bins, %.0f s: %llu messages sent, %llu received (%.0f/s), "
           "%llu lost, %llu dropped by the queue; %d trials (%d flagged)\n",
           c->units, 1e9 / (double)c->bin_ns, c->seconds, (unsigned long long)ps.sent,
           (unsigned long long)st.messages, (double)st.messages / wall,
           (unsigned long long)st.lost, (unsigned long long)st.queue_dropped, trials, flagged);
    printf("  CPU: process %.1f%% of one core, of which receive + align %.1f%% (publisher "
           "thread %.1f%%)\n", 100 * cpu / wall, 100 * (cpu - ps.cpu_s) / wall,
           100 * ps.cpu_s / wall);
    printf("  memory: RSS %ld KiB after 5 s; at 1/4, 1/2, 3/4, end: %ld %ld %ld %ld KiB\n",
           rss[0], rss[1], rss[2], rss[3], rss[4]);
    if (nlat)
        printf("  receive-to-aligned latency: p50 %.0f us, p99 %.0f us, max %.0f us "
               "(%zu bins)\n", latency_us[nlat / 2], latency_us[(size_t)(0.99 * (double)nlat)],
               latency_us[nlat - 1], nlat);
    free(latency_us);
    free(trial_counts);
    acq_receiver_destroy(r);
    acq_aligner_destroy(a);
    return st.lost || st.queue_dropped;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    int port = argc > 2 ? atoi(argv[2]) : 5599;
    if (seconds <= 0 || port <= 0) {
        fprintf(stderr, "usage: bench_acquisition [SECONDS [PORT]]\n");
        return 2;
    }
    bench_config c1 = {1000, 1000000, seconds, ""}, c2 = {10000, 10000000, seconds, ""};
    snprintf(c1.endpoint, sizeof c1.endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(c2.endpoint, sizeof c2.endpoint, "tcp://127.0.0.1:%d", port + 1);
    int which = argc > 3 ? atoi(argv[3]) : 0, lost = 0;
    if (which != 2)
        lost |= run(&c1);
    if (which != 1)
        lost |= run(&c2);
    if (lost)
        printf("messages were lost\n");
    return lost;
}
