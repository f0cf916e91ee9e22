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

/* Open Ephys: a spike too late for its bin. The record as `inception run`
 * writes it: the loss that opens the clock (before sample 0), bins of one
 * unit (10 ms, 300 samples) each closed 90 ms after it began, as the
 * receiver closes them two blocks and two bins on, two batches of spikes
 * at bin centres, the second's second spike (bin 5) arriving after bin 5
 * closed: not in bin 5's count, and its one-sample span of possible loss;
 * and a lost message's span (a message_num gap).
 * Sent again in the plugin's form and received as `inception acquire`
 * receives it, the same bins come back with the same counts (the late spike
 * late again: its bin's data block went out when the bin closed) and the
 * same spans, the late spike's one sample wide. */
#define OE_BINS 40
#define OE_R0 5000000000LL /* arrival of the first message */

static int write_openephys_record(const char *dir, float *bin_counts)
{
    char err[CONTROLLER_ERR_SIZE];
    session_record *w;
    const char text[] = "version: 1\n";
    if (session_record_create(dir, "openephys-late-spike", text, sizeof text - 1, &w, err))
        return 1;
    /* Batch 1: a spike at the centre of bins 0..9; batch 2, from 120 ms: bin
     * 12's (in time), bin 5's (late: at 150 ms, bin 5 closed at 140 ms), bin 20's. */
    int64_t s1[10], s2[3] = {12 * 300 + 150, 5 * 300 + 150, 20 * 300 + 150};
    int32_t id1[10], id2[3] = {1, 1, 1};
    uint8_t e1[10] = {0}, e2[3] = {0};
    for (int k = 0; k < 10; k++)
        s1[k] = k * 300 + 150, id1[k] = 1, bin_counts[k] = 1;
    bin_counts[12] = bin_counts[20] = 1;
    record_spikes b1 = {.count = 10, .sample_num = s1, .sorted_id = id1, .electrode = e1,
                        .electrodes = "Tetrode 1", .first_received_ns = OE_R0 + 5000000,
                        .received_ns = OE_R0 + 50000000};
    record_spikes b2 = {.count = 3, .sample_num = s2, .sorted_id = id2, .electrode = e2,
                        .electrodes = "Tetrode 1", .first_received_ns = OE_R0 + 120000000,
                        .received_ns = OE_R0 + 160000000};
    record_stream_message open = {.message_num = 0, .kind = "loss", .sample_num = -102400000,
                                  .num_samples = 102400000, .received_ns = OE_R0};
    int status = session_record_stream(w, &open, err), next = 0, batch = 0;
    for (int k = 0; k < OE_BINS && !status; k++) {
        int64_t closed = OE_R0 + (k + 9) * 10000000LL;
        if (batch == 0 && closed > b1.first_received_ns)
            status = session_record_spikes(w, &b1, err), batch++;
        if (batch == 1 && closed > OE_R0 + 150000000LL) { /* the late spike's loss */
            record_stream_message late = {.message_num = ++next, .kind = "loss",
                                          .sample_num = 55000000, .num_samples = 33333,
                                          .received_ns = OE_R0 + 150000000LL};
            status = status || session_record_stream(w, &late, err);
        }
        if (k == 16) { /* a lost message: samples 7000..9500 (more than two blocks) */
            record_stream_message gap = {.message_num = ++next, .kind = "loss",
                                         .sample_num = 233333333, .num_samples = 83333334,
                                         .received_ns = closed - 1, .lost = 1};
            status = status || session_record_stream(w, &gap, err);
        }
        if (batch == 1 && closed > b2.received_ns + 100000000LL) /* handed over 100 ms on */
            status = status || session_record_spikes(w, &b2, err), batch++;
        record_stream_message bin = {.message_num = ++next, .kind = "data",
                                     .sample_num = k * 10000000LL, .num_samples = 1,
                                     .received_ns = closed, .data_size = 1,
                                     .bin_width_ns = 10000000, .units = 1,
                                     .counts = &bin_counts[k]};
        status = status || session_record_stream(w, &bin, err);
    }
    if (status)
        fprintf(stderr, "# %s\n", err);
    return session_record_close(w, err) || status;
}

static void test_openephys_late_spike(const char *dir, int port)
{
    float recorded[OE_BINS] = {0};
    CHECK(write_openephys_record(dir, recorded) == 0, "an Open Ephys record with a late spike");
    char data[64];
    snprintf(data, sizeof data, "tcp://127.0.0.1:%d", port);
    acq_receiver_config c;
    acq_receiver_config_default(&c);
    c.socket.endpoint = data;
    c.queue_capacity = 100000;
    c.format = ACQ_FORMAT_OPENEPHYS;
    c.units = 1;
    c.heartbeat = 0;
    acq_receiver *r = NULL;
    char aerr[ACQ_ERR_SIZE] = "";
    CHECK(acq_receiver_create(&r, NULL, &c, aerr) == 0, "an Open Ephys receiver (%s)", aerr);
    session_stream_options o = options_for(data, NULL, 300); /* loopback connects in ms */
    o.format = ACQ_FORMAT_OPENEPHYS;
    session_stream_summary sum;
    char err[CONTROLLER_ERR_SIZE] = "";
    CHECK(session_stream_replay(dir, &o, &sum, err) == 0 && sum.spikes == 13,
          "replayed in the plugin's form, 13 spikes (%s)", err);
    int bins = 0, same = 0, spans = 0, opening = 0, late = 0, gap = 0;
    acq_item *it;
    while (r && acq_receiver_pop(r, &it, 300)) { /* all sent: the replay has returned */
        if (it->type == ACQ_MSG_COUNTS && it->timestamp_ns / 10000000 < OE_BINS) {
            bins++;
            same += it->counts[0] == recorded[it->timestamp_ns / 10000000];
        } else if (it->type == ACQ_ITEM_LOSS) {
            spans++;
            opening += it->timestamp_ns == -102400000 && it->until_ns == 0;
            late += it->timestamp_ns == 55000000 && it->until_ns == 55033333;
            gap += it->timestamp_ns == 233333333 && it->until_ns == 316666667;
        }
        acq_item_free(it);
    }
    CHECK(bins == OE_BINS && same == OE_BINS,
          "every recorded bin back with its count, bin 5 without the late spike (%d of %d, %d "
          "equal)", bins, OE_BINS, same);
    CHECK(spans == 3 && opening == 1 && late == 1 && gap == 1,
          "the same spans, once each: the clock's opening, the late spike's one sample, the "
          "lost message's (%d spans)", spans);
    acq_receiver_destroy(r);
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
    char c[] = "/tmp/stream_replayXXXXXX", dir_c[64];
    if (mkdtemp(c)) {
        snprintf(dir_c, sizeof dir_c, "%s/s", c);
        test_openephys_late_spike(dir_c, port + 3);
        snprintf(dir_c, sizeof dir_c, "rm -rf '%s'", c);
        if (system(dir_c) != 0)
            fprintf(stderr, "# could not remove %s\n", c);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s, %s\n", a, b);
    return test_done();
}
