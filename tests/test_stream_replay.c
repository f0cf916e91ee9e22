/* test_stream_replay.c: session_stream_replay publishes a record's received
 * messages again as they came. A record is written as `inception run` writes
 * it (stream records with their counts, event messages followed by their sync
 * edges, a heartbeat, a sender's gap, trial records), replayed over loopback
 * TCP at full speed, and received with the acquisition library's receiver:
 * every message must come back in order with its type, timestamps, bin width,
 * counts, edges and gap, and every trial's onset on the onset socket. A record
 * without received counts (an import) falls back to bins rebuilt from trials. */
#include "acquisition.h"
#include "controller.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNITS 5
#define MESSAGES 40
#define BIN_NS 10000000

/* What the record holds, in the order it was received. */
typedef struct sent {
    int type;
    int64_t t, lost;
    float counts[UNITS];
    acq_event edges[2];
    int n_edges;
} sent;

static void make_messages(sent *m, int *n)
{
    int k = 0;
    for (int i = 0; i < MESSAGES; i++) {
        int64_t t = 1000000000LL + (int64_t)i * BIN_NS;
        sent c = {ACQ_MSG_COUNTS, t, i == 11 ? 2 : 0, {0}, {{0, 0, 0}, {0, 0, 0}}, 0};
        for (int u = 0; u < UNITS; u++)
            c.counts[u] = (float)((i * 7 + u * 3) % 11) * 0.5f;
        m[k++] = c;
        if (i % 7 == 3) {
            sent e = {ACQ_MSG_EVENTS, t + 1000000, 0, {0}, {{t + 1000000, 0, 1}, {t + 3000000, 2, 0}}, 2};
            m[k++] = e;
        }
        if (i == 20) {
            sent h = {ACQ_MSG_HEARTBEAT, t + 5000000, 0, {0}, {{0, 0, 0}, {0, 0, 0}}, 0};
            m[k++] = h;
        }
    }
    *n = k;
}

static int write_record(const char *dir, const sent *m, int n, int with_counts)
{
    char err[CONTROLLER_ERR_SIZE];
    session_record *w;
    const char text[] = "version: 1\n";
    if (session_record_create(dir, "stream-test", text, sizeof text - 1, &w, err))
        return 1;
    int status = 0;
    for (int i = 0; i < n && !status; i++) {
        const char *kind = m[i].type == ACQ_MSG_COUNTS   ? "data"
                           : m[i].type == ACQ_MSG_EVENTS ? "event"
                                                         : "heartbeat";
        record_stream_message r = {.message_num = i, .kind = kind, .sample_num = m[i].t,
                                   .num_samples = m[i].type == ACQ_MSG_COUNTS,
                                   .timestamp_ms = m[i].t / 1000000,
                                   .received_ns = m[i].t + 2000000, .lost = m[i].lost,
                                   .data_size = m[i].type == ACQ_MSG_COUNTS ? UNITS : m[i].n_edges,
                                   .bin_width_ns = BIN_NS, .units = UNITS,
                                   .counts = with_counts && m[i].type == ACQ_MSG_COUNTS
                                                 ? m[i].counts
                                                 : NULL,
                                   .clock_reset = 0};
        status = session_record_stream(w, &r, err);
        for (int e = 0; e < m[i].n_edges && !status; e++) {
            record_sync_event s = {.line = m[i].edges[e].line, .state = m[i].edges[e].rising,
                                   .sample_num = m[i].edges[e].timestamp_ns,
                                   .received_ns = m[i].t + 2000000, .trial = -1};
            status = session_record_sync_event(w, &s, err);
        }
    }
    float counts[UNITS] = {1, 2, 3, 4, 5};
    for (int trial = 0; trial < 3 && !status; trial++) {
        record_trial t = {.trial = trial, .image_id = 100 + trial,
                          .onset_ns = 1000000000LL + trial * 100000000LL, .neurons = UNITS,
                          .counts = counts};
        status = session_record_trial(w, &t, NULL, err);
    }
    if (status)
        fprintf(stderr, "# %s\n", err);
    return session_record_close(w, err) || status;
}

static acq_receiver *subscribe(const char *endpoint)
{
    acq_receiver_config c;
    acq_receiver_config_default(&c);
    c.socket.endpoint = endpoint;
    c.queue_capacity = 100000;
    acq_receiver *r;
    char err[ACQ_ERR_SIZE];
    if (acq_receiver_create(&r, NULL, &c, err)) {
        fprintf(stderr, "# %s\n", err);
        return NULL;
    }
    return r;
}

/* At full speed, to `data` (and `onsets`, may be NULL). */
static session_stream_options options_for(const char *data, const char *onsets, int wait_ms)
{
    session_stream_options o;
    session_stream_options_default(&o);
    o.data_endpoint = data;
    o.onset_endpoint = onsets;
    o.speed = 0;
    o.wait_ms = wait_ms;
    return o;
}

static int same_message(const sent *m, const acq_item *it)
{
    if (it->type != m->type || it->timestamp_ns != m->t || it->missed_before != (uint64_t)m->lost)
        return 0;
    if (m->type == ACQ_MSG_COUNTS)
        return it->bin_width_ns == BIN_NS && it->count == UNITS &&
               !memcmp(it->counts, m->counts, sizeof m->counts);
    if (m->type == ACQ_MSG_EVENTS) {
        int same = it->count == (uint32_t)m->n_edges;
        for (int e = 0; same && e < m->n_edges; e++)
            same = it->events[e].timestamp_ns == m->edges[e].timestamp_ns &&
                   it->events[e].line == m->edges[e].line &&
                   it->events[e].rising == m->edges[e].rising;
        return same;
    }
    return 1;
}

static void test_as_recorded(const char *dir, int port)
{
    sent m[MESSAGES * 2];
    int n;
    make_messages(m, &n);
    CHECK(write_record(dir, m, n, 1) == 0, "a record with received messages written");
    char data[64], onsets[64];
    snprintf(data, sizeof data, "tcp://127.0.0.1:%d", port);
    snprintf(onsets, sizeof onsets, "tcp://127.0.0.1:%d", port + 1);
    acq_receiver *rd = subscribe(data), *ro = subscribe(onsets);
    session_stream_options o = options_for(data, onsets, 1000);
    session_stream_summary sum;
    char err[CONTROLLER_ERR_SIZE] = "";
    int status = session_stream_replay(dir, &o, &sum, err);
    CHECK(status == 0, "replayed (%s)", err);
    CHECK(sum.as_recorded == 1, "as recorded, not rebuilt from trials");
    CHECK(sum.bins == MESSAGES && sum.trials == 3 && sum.onsets == 3,
          "%llu counts messages (want %d), %d trials, %llu onsets",
          (unsigned long long)sum.bins, MESSAGES, sum.trials, (unsigned long long)sum.onsets);
    int got = 0, in_order = 1;
    acq_item *it;
    while (rd && got < n && acq_receiver_pop(rd, &it, 3000)) {
        if (!same_message(&m[got], it)) {
            in_order = 0;
            fprintf(stderr, "# message %d: type %d at %lld differs (want type %d at %lld)\n",
                    got, it->type, (long long)it->timestamp_ns, m[got].type,
                    (long long)m[got].t);
        }
        got++;
        acq_item_free(it);
    }
    CHECK(got == n, "every recorded message received: %d of %d", got, n);
    CHECK(in_order && got == n,
          "message for message: type, timestamp, bin width, counts, edges, gap");
    int onsets_ok = 0;
    for (int trial = 0; ro && trial < 3 && acq_receiver_pop(ro, &it, 3000); trial++) {
        onsets_ok += it->type == ACQ_MSG_ONSET && it->onset.trial == (uint64_t)trial &&
                     it->onset.stimulus_id == (uint64_t)(100 + trial) &&
                     it->onset.onset_ns == 1000000000LL + trial * 100000000LL;
        acq_item_free(it);
    }
    CHECK(onsets_ok == 3, "every trial's onset on the onset socket (%d of 3)", onsets_ok);
    acq_receiver_destroy(rd);
    acq_receiver_destroy(ro);
}

static void test_without_counts(const char *dir, int port)
{
    sent m[MESSAGES * 2];
    int n;
    make_messages(m, &n);
    CHECK(write_record(dir, m, n, 0) == 0, "a record without received counts written");
    char data[64];
    snprintf(data, sizeof data, "tcp://127.0.0.1:%d", port);
    session_stream_options o = options_for(data, NULL, 10);
    o.latency_ns = 2000000;
    o.window_ns = 24000000;
    session_stream_summary sum;
    char err[CONTROLLER_ERR_SIZE] = "";
    CHECK(session_stream_replay(dir, &o, &sum, err) == 0, "replayed (%s)", err);
    CHECK(sum.as_recorded == 0 && sum.trials == 3 && sum.bins > 3,
          "rebuilt from its 3 trials (%llu bins)", (unsigned long long)sum.bins);
}

int main(void)
{
    char a[] = "/tmp/stream_replayXXXXXX", b[] = "/tmp/stream_replayXXXXXX";
    if (!mkdtemp(a) || !mkdtemp(b))
        return 1;
    char dir_a[64], dir_b[64];
    snprintf(dir_a, sizeof dir_a, "%s/s", a);
    snprintf(dir_b, sizeof dir_b, "%s/s", b);
    int port = 24000 + (int)(getpid() % 1900) * 4;
    test_as_recorded(dir_a, port);
    test_without_counts(dir_b, port + 2);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s, %s\n", a, b);
    return test_done();
}
