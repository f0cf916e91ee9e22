/* bench_spikes.c: Open Ephys spikes at 1,000 units × 20 spikes/s, received,
 * binned, aligned and recorded as `inception run` records them (RECORD.md:
 * a `stream` record per bin, a `sync` per edge, a `spikes` record per batch).
 * A publisher thread writes the ZMQ Interface plugin's messages (envelope,
 * JSON header as JUCE writes it, float32 waveform payload of 4 channels × 40
 * samples, as tests/openephys_plugin.py describes them) at the real rate:
 * per 1,024-sample block at 30 kHz its spikes, a TTL edge every 500 ms and
 * the data block. Reports the record's growth (spikes records and all,
 * bytes/s and per hour extrapolated), bytes per spike, CPU of the receiving
 * thread (decode, bin, batch) and receive-to-aligned latency percentiles
 * (receive time stamped by the receiver thread to the bin being recorded,
 * in the aligner and any trial it completes summed).
 *
 * usage: bench_spikes [SECONDS [PORT [DIR]]]   (default 600 s; DIR the
 * scratch session folder, default /tmp/bench_spikes.PID, removed after)
 * BENCH_RECORD=bins records all but the spikes, =none nothing (no fsync
 * either): what the spikes records and the record cost the latency.
 * BENCH_SCHED=run (default) schedules as `inception run` does while a block
 * shows (run_sched.c: the receiver at SCHED_FIFO 19, the aligning thread, the
 * run loop, at SCHED_FIFO 18, where allowed), =receiver only the receiver
 * (the aligning thread at normal priority), =off neither. The latency is
 * also split into the wait (receive to popped: the aligning thread's
 * wake-up, a scheduler matter on a loaded
 * machine) and the work (popped to aligned: record, align, trials). */
#include "acquisition.h"
#include "controller.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define UNITS 1000
#define PER_ELECTRODE 4    /* units on a tetrode: 250 electrodes */
#define RATE_HZ 20.0       /* spikes a second per unit */
#define SAMPLE_RATE 30000
#define BLOCK 1024
#define ONSET_EVERY_NS 500000000LL
#define DISPLAY_OFFSET 777000000000LL

typedef struct publisher_state {
    double seconds;
    char endpoint[64];
    atomic_int ready;
    uint64_t spikes, messages;
} publisher_state;

static void sleep_until(int64_t t_ns)
{
    struct timespec t = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next_random(void) /* xorshift64: the load's shape, not statistics */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void send3(void *sock, const char *envelope, size_t esize, const char *json, size_t jsize,
                  const void *payload, size_t psize)
{
    zmq_send(sock, envelope, esize, ZMQ_SNDMORE);
    zmq_send(sock, json, jsize, psize ? ZMQ_SNDMORE : 0);
    if (psize)
        zmq_send(sock, payload, psize, 0);
}

static void *publish(void *arg)
{
    publisher_state *s = arg;
    void *ctx = zmq_ctx_new(), *sock = zmq_socket(ctx, ZMQ_PUB);
    int hwm = 1000000;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(sock, s->endpoint)) {
        fprintf(stderr, "bench: bind %s: %s\n", s->endpoint, zmq_strerror(zmq_errno()));
        atomic_store(&s->ready, -1);
        return NULL;
    }
    usleep(500000); /* the subscriber connects */
    static float waveform[4 * 40], block[BLOCK];
    char json[1024];
    uint64_t num = 0;
    int64_t start = acq_now_ns(), blocks = (int64_t)(s->seconds * SAMPLE_RATE / BLOCK);
    double per_block = UNITS * RATE_HZ * BLOCK / SAMPLE_RATE, carry = 0;
    int64_t next_ttl = 0;
    atomic_store(&s->ready, 1);
    for (int64_t b = 0; b < blocks; b++) {
        int64_t first = b * BLOCK;
        /* A block goes out when its last sample has been acquired. */
        sleep_until(start + (first + BLOCK) * 1000000000LL / SAMPLE_RATE);
        while (next_ttl * SAMPLE_RATE / 1000000000LL < first + BLOCK) {
            int64_t at = next_ttl * SAMPLE_RATE / 1000000000LL;
            int n = snprintf(json, sizeof json,
                             "{\r\n  \"message_num\": %llu,\r\n  \"type\": \"event\",\r\n"
                             "  \"content\": {\r\n    \"stream\": \"bench\",\r\n    "
                             "\"source_node\": 104,\r\n    \"type\": 3,\r\n    \"sample_num\": "
                             "%lld\r\n  },\r\n  \"data_size\": 10,\r\n  \"timestamp\": 0\r\n}",
                             (unsigned long long)++num, (long long)at);
            uint8_t ttl[10] = {0, 1};
            send3(sock, "EVENT", 6, json, (size_t)n, ttl, sizeof ttl);
            next_ttl += ONSET_EVERY_NS;
        }
        carry += per_block;
        int spikes = (int)carry;
        carry -= spikes;
        for (int i = 0; i < spikes; i++) {
            int unit = (int)(next_random() % UNITS) + 1;
            int64_t at = first + (int64_t)(next_random() % BLOCK);
            int n = snprintf(json, sizeof json,
                             "{\r\n  \"message_num\": %llu,\r\n  \"type\": \"spike\",\r\n"
                             "  \"spike\": {\r\n    \"stream\": \"bench\",\r\n    \"source_node\": "
                             "104,\r\n    \"electrode\": \"Tetrode %d\",\r\n    \"sample_num\": "
                             "%lld,\r\n    \"num_channels\": 4,\r\n    \"num_samples\": 40,\r\n"
                             "    \"sorted_id\": %d,\r\n    \"threshold\": [\r\n      -50.0,\r\n"
                             "      -50.0,\r\n      -50.0,\r\n      -50.0\r\n    ]\r\n  },\r\n"
                             "  \"timestamp\": 0\r\n}",
                             (unsigned long long)++num, (unit - 1) / PER_ELECTRODE + 1,
                             (long long)at, unit);
            send3(sock, "EVENT", 6, json, (size_t)n, waveform, sizeof waveform);
            s->spikes++;
        }
        int n = snprintf(json, sizeof json,
                         "{\r\n  \"message_num\": %llu,\r\n  \"type\": \"data\",\r\n  \"content\": "
                         "{\r\n    \"stream\": \"bench\",\r\n    \"channel_num\": 0,\r\n    "
                         "\"channel_name\": \"CH1\",\r\n    \"num_samples\": %d,\r\n    "
                         "\"sample_num\": %lld,\r\n    \"sample_rate\": 30000.0\r\n  },\r\n  "
                         "\"data_size\": %d,\r\n  \"timestamp\": 0\r\n}",
                         (unsigned long long)++num, BLOCK, (long long)first, BLOCK * 4);
        send3(sock, "DATA", 5, json, (size_t)n, block, sizeof block);
    }
    s->messages = num;
    usleep(500000);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return NULL;
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void print_percentiles(const char *what, float *us, size_t n)
{
    if (!n)
        return;
    qsort(us, n, sizeof(float), compare_float);
    printf("  %s: p50 %.0f us, p99 %.0f us, max %.0f us (%zu bins)\n", what, us[n / 2],
           us[(size_t)(0.99 * (double)n)], us[n - 1], n);
}

/* BENCH_SCHED (see the top); returns what it did, for the report. */
static const char *schedule(const char *mode, pthread_t receiver)
{
    struct sched_param rx = {.sched_priority = 19}, me = {.sched_priority = 18};
    if (!strcmp(mode, "off"))
        return "off: both threads at normal priority";
    if (pthread_setschedparam(receiver, SCHED_FIFO, &rx))
        return "no real-time priority allowed: both threads at normal priority";
    if (!strcmp(mode, "receiver"))
        return "receiver: receiver SCHED_FIFO 19, aligning thread normal";
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &me))
        return "receiver SCHED_FIFO 19, aligning thread normal (SCHED_FIFO refused)";
    return "run: receiver SCHED_FIFO 19, aligning thread SCHED_FIFO 18 (as inception run "
           "during a block)";
}

static double thread_cpu_s(pthread_t thread)
{
    clockid_t id;
    struct timespec t;
    if (pthread_getcpuclockid(thread, &id) || clock_gettime(id, &t))
        return 0;
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* What run_stream.c's take_item records of an item. */
static int record_item(session_record *w, const acq_item *it, char *err)
{
    if (it->type == ACQ_ITEM_SPIKES) {
        record_spikes b = {.count = (int)it->count, .sample_num = it->spike_samples,
                           .sorted_id = it->spike_sorted_ids,
                           .electrode = it->spike_electrodes, .electrodes = it->electrodes,
                           .first_received_ns = it->first_received_ns,
                           .received_ns = it->received_ns};
        return session_record_spikes(w, &b, err);
    }
    record_stream_message m = {.message_num = 0,
                               .kind = it->type == ACQ_MSG_COUNTS ? "data" : "event",
                               .sample_num = it->timestamp_ns, .num_samples = 1,
                               .timestamp_ms = it->timestamp_ns / 1000000,
                               .received_ns = it->received_ns,
                               .lost = (int64_t)it->missed_before, .data_size = (int64_t)it->count,
                               .bin_width_ns = it->bin_width_ns, .units = (int)it->count,
                               .counts = it->type == ACQ_MSG_COUNTS ? it->counts : NULL,
                               .clock_reset = 0};
    if (session_record_stream(w, &m, err))
        return 1;
    for (uint32_t i = 0; it->type == ACQ_MSG_EVENTS && i < it->count; i++) {
        record_sync_event e = {.line = it->events[i].line, .state = it->events[i].rising,
                               .sample_num = it->events[i].timestamp_ns,
                               .received_ns = it->received_ns, .trial = -1};
        if (session_record_sync_event(w, &e, err))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 600;
    int port = argc > 2 ? atoi(argv[2]) : 5597;
    char dir[256], path[300], err[CONTROLLER_ERR_SIZE];
    snprintf(dir, sizeof dir, "%s", argc > 3 ? argv[3] : "");
    if (!dir[0])
        snprintf(dir, sizeof dir, "/tmp/bench_spikes.%d", (int)getpid());
    if (seconds <= 0 || port <= 0) {
        fprintf(stderr, "usage: bench_spikes [SECONDS [PORT [DIR]]]\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    const char *mode = getenv("BENCH_RECORD") ? getenv("BENCH_RECORD") : "all";
    int record_bins = strcmp(mode, "none") != 0, record_spikes_too = !strcmp(mode, "all");
    session_record *w;
    if (session_record_create(dir, "bench_spikes", "", 0, &w, err)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    publisher_state ps = {.seconds = seconds};
    snprintf(ps.endpoint, sizeof ps.endpoint, "tcp://127.0.0.1:%d", port);
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = ps.endpoint;
    rc.socket.hwm = 1000000;
    rc.format = ACQ_FORMAT_OPENEPHYS;
    rc.units = UNITS;
    rc.sample_rate = SAMPLE_RATE;
    rc.heartbeat = 0;
    rc.queue_capacity = 1 << 17;
    acq_align_config ac;
    acq_align_config_default(&ac);
    acq_receiver *r;
    acq_aligner *a;
    pthread_t thread;
    if (acq_aligner_create(&a, &ac, err) || acq_receiver_create(&r, NULL, &rc, err) ||
        pthread_create(&thread, NULL, publish, &ps)) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    const char *sched = schedule(getenv("BENCH_SCHED") ? getenv("BENCH_SCHED") : "run",
                                 acq_receiver_thread(r));
    while (atomic_load(&ps.ready) == 0)
        usleep(1000);
    size_t cap = (size_t)(seconds * 100) + 1024, nlat = 0;
    float *latency_us = malloc(sizeof(float) * cap), counts[UNITS];
    float *wait_us = malloc(sizeof(float) * cap), *work_us = malloc(sizeof(float) * cap);
    long size0 = file_size(path);
    double cpu0 = thread_cpu_s(acq_receiver_thread(r));
    int64_t wall0 = acq_now_ns(), last_item = wall0;
    uint64_t spike_records = 0, spikes_recorded = 0, spike_record_bytes = 0;
    int trials = 0, flagged = 0, status = 0;
    int64_t next_onset = 0;
    acq_item *it;
    acq_trial t;
    while (!status && acq_now_ns() - last_item < 2000000000LL) {
        if (!acq_receiver_pop(r, &it, 100))
            continue;
        last_item = acq_now_ns();
        int64_t popped = last_item;
        if (it->type == ACQ_MSG_COUNTS)
            while (next_onset <= it->timestamp_ns + (int64_t)it->bin_width_ns) {
                acq_aligner_add_onset(a, (uint64_t)(next_onset / ONSET_EVERY_NS), 0,
                                      next_onset + DISPLAY_OFFSET, 0, err);
                next_onset += ONSET_EVERY_NS;
            }
        long before = it->type == ACQ_ITEM_SPIKES ? file_size(path) : 0;
        if (record_spikes_too || it->type != ACQ_ITEM_SPIKES)
            status = record_bins && record_item(w, it, err);
        if (it->type == ACQ_ITEM_SPIKES && record_spikes_too) {
            spike_records++;
            spikes_recorded += it->count;
            spike_record_bytes += (uint64_t)(file_size(path) - before);
        }
        acq_aligner_add_item(a, it, err);
        while (acq_aligner_next_complete_trial(a, &t, counts)) {
            trials++;
            flagged += t.flags != 0;
        }
        if (it->type == ACQ_MSG_COUNTS && nlat < cap) {
            int64_t now = acq_now_ns();
            wait_us[nlat] = (float)(popped - it->received_ns) / 1e3f;
            work_us[nlat] = (float)(now - popped) / 1e3f;
            latency_us[nlat++] = (float)(now - it->received_ns) / 1e3f;
        }
        if (record_bins)
            session_record_tick(w, err);
        acq_item_free(it);
    }
    double wall = (double)(acq_now_ns() - wall0) / 1e9 - 2.0;
    double cpu = thread_cpu_s(acq_receiver_thread(r)) - cpu0;
    pthread_join(thread, NULL);
    acq_stats st;
    acq_receiver_stats(r, &st);
    long grown = file_size(path) - size0;
    if (status)
        fprintf(stderr, "bench: %s\n", err);
    printf("record: %s; scheduling: %s; ", mode, sched);
    printf("Open Ephys, %d units x %.0f spikes/s, %.0f s: %llu spikes sent, %llu recorded in "
           "%llu spikes records, %llu dropped; %llu messages lost; %d trials (%d flagged)\n",
           UNITS, RATE_HZ, seconds, (unsigned long long)ps.spikes,
           (unsigned long long)spikes_recorded, (unsigned long long)spike_records,
           (unsigned long long)st.spikes_dropped, (unsigned long long)st.lost, trials, flagged);
    printf("  record: spikes records %.1f bytes/spike, %.0f KB/s, %.2f GB/hour; everything "
           "(bins, edges, spikes) %.0f KB/s, %.2f GB/hour\n",
           spikes_recorded ? (double)spike_record_bytes / (double)spikes_recorded : 0,
           (double)spike_record_bytes / seconds / 1e3,
           (double)spike_record_bytes / seconds * 3600 / 1e9, (double)grown / seconds / 1e3,
           (double)grown / seconds * 3600 / 1e9);
    printf("  receive thread CPU (decode, bin, batch): %.1f%% of one core\n", 100 * cpu / wall);
    print_percentiles("receive-to-aligned latency", latency_us, nlat);
    print_percentiles("  of which wait (receive to popped)", wait_us, nlat);
    print_percentiles("  of which work (popped to aligned, record included)", work_us, nlat);
    free(wait_us);
    free(work_us);
    free(latency_us);
    acq_receiver_destroy(r);
    acq_aligner_destroy(a);
    session_record_close(w, err);
    unlink(path);
    rmdir(dir);
    return status || (record_spikes_too && spikes_recorded != ps.spikes);
}
