/* command_acquire.c: `inception acquire`: receive a spike-count stream and
 * the display's onsets, align them, and write the trial × neuron matrix. */
#include "acquisition.h"
#include "commands.h"
#include "model.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char acquire_help[] =
    "usage: inception acquire --out DIR [options]\n\n"
    "Receive binned spike counts (native wire format, acquisition/WIRE.md, or the Open\n"
    "Ephys GUI's ZMQ Interface) and the display's stimulus onsets, match onsets to\n"
    "sync edges (offset and drift fitted), sum each trial's counts over its response\n"
    "window and write responses.npy (trials × neurons, float32) and trials.npy\n"
    "(trials × 6 int64: trial, stimulus id, display onset ns, acquisition onset ns,\n"
    "sync edge ns or 0, flags: 1 lost, 2 duplicate, 4 no sync, 8 ambiguous sync,\n"
    "16 restart, 32 stale, 64 mismatch; 0 means trustworthy). Open Ephys: also\n"
    "unit_map.json, which column counts which (electrode, sorted_id).\n\n"
    "  --out DIR              output folder (required; created if missing)\n"
    "  --data ENDPOINT        the count stream, connected (default tcp://127.0.0.1:5556)\n"
    "  --onsets ENDPOINT      the display's onsets, connected (default tcp://127.0.0.1:5560)\n"
    "  --bind                 bind the data socket instead of connecting\n"
    "  --allow-remote         allow endpoints beyond loopback\n"
    "  --curve-secret FILE    CURVE: this client's Z85 secret key\n"
    "  --curve-server-key FILE  CURVE: the publisher's Z85 public key\n"
    "  --format F             native (default) or openephys\n"
    "  --units N              Open Ephys: sorted units, sorted_id 1..N (columns 0..N-1)\n"
    "  --electrodes M         Open Ephys: one more column per electrode for its unsorted\n"
    "                         spikes (electrode names ending 1..M); default 0: left out\n"
    "  --sample-rate HZ       Open Ephys: the stream's sample rate (default 30000)\n"
    "  --bin-ms X             Open Ephys: bin width (default 10)\n"
    "                         (Open Ephys: a heartbeat goes to the plugin's port, the data\n"
    "                         port + 1, every 2 s, so the plugin lists inception as connected)\n"
    "  --latency-ms X, --window-ms X   response window after the onset (50, 500)\n"
    "  --tolerance-ms X       sync edge within this of its predicted time (default 5)\n"
    "  --sync-line N          TTL line of the sync edges (default: any)\n"
    "  --hwm N                receive high-water mark, messages (default 10000)\n"
    "  --trials N             stop after N trials\n"
    "  --timeout S            stop after S seconds (default 3600)\n";

static volatile sig_atomic_t acquire_interrupted; /* a signal handler reaches nothing else */

static void on_signal(int sig)
{
    (void)sig;
    acquire_interrupted = 1;
}

typedef struct trial_rows {
    float *counts;
    int64_t *rows;
    uint8_t *old_clock; /* 1: completed on a clock the GUI has stopped since */
    int64_t *span;      /* per row: acq_trial counted_from_ns, counted_to_ns */
    int n, cap, units;
} trial_rows;

static int rows_add(trial_rows *r, const acq_trial *t, const float *counts)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 256;
        float *c = realloc(r->counts, sizeof(float) * (size_t)cap * (size_t)r->units);
        if (c)
            r->counts = c;
        int64_t *w = realloc(r->rows, sizeof(int64_t) * 6 * (size_t)cap);
        if (w)
            r->rows = w;
        uint8_t *o = realloc(r->old_clock, (size_t)cap);
        if (o)
            r->old_clock = o;
        int64_t *sp = realloc(r->span, sizeof(int64_t) * 2 * (size_t)cap);
        if (sp)
            r->span = sp;
        if (!c || !w || !o || !sp)
            return 1;
        r->cap = cap;
    }
    memcpy(r->counts + (size_t)r->n * (size_t)r->units, counts, sizeof(float) * (size_t)r->units);
    int64_t row[6] = {(int64_t)t->trial, (int64_t)t->stimulus_id, t->onset_display_ns,
                      t->onset_acq_ns, t->sync_edge_ns, (int64_t)t->flags};
    memcpy(r->rows + 6 * (size_t)r->n, row, sizeof row);
    r->old_clock[r->n] = 0;
    r->span[2 * r->n] = t->counted_from_ns;
    r->span[2 * r->n + 1] = t->counted_to_ns;
    r->n++;
    return 0;
}

static int rows_write(const trial_rows *r, const char *dir, char *err)
{
    char path[4096];
    int64_t cshape[2] = {r->n, r->units}, tshape[2] = {r->n, 6};
    float none = 0;
    int64_t none_row = 0;
    snprintf(path, sizeof path, "%s/responses.npy", dir);
    if (npy_write(path, NPY_FLOAT32, 2, cshape, r->counts ? (void *)r->counts : &none, err))
        return 1;
    snprintf(path, sizeof path, "%s/trials.npy", dir);
    return npy_write(path, NPY_INT64, 2, tshape, r->rows ? (void *)r->rows : &none_row, err);
}

/* Open Ephys: unit_map.json beside responses.npy. */
static int unit_map_write(acq_receiver *data, const char *dir, char *err)
{
    char *map = acq_receiver_unit_map(data), path[4096];
    if (!map)
        return 0;
    snprintf(path, sizeof path, "%s/unit_map.json", dir);
    FILE *f = fopen(path, "w");
    int bad = !f || fputs(map, f) < 0;
    bad |= f && fclose(f) != 0;
    free(map);
    if (bad)
        snprintf(err, MODEL_ERR_SIZE, "cannot write %s", path);
    return bad;
}

typedef struct acquire_state {
    acq_receiver *data, *onsets;
    acq_aligner *aligner;
    trial_rows rows;
    float *counts;
    int flagged;
    int64_t last_data;  /* CLOCK_MONOTONIC of the last data item */
    double sample_rate; /* Open Ephys: --sample-rate */
    int silent;         /* the silence was reported */
    int64_t clock_reset_ns; /* CLOCK_MONOTONIC: the latest clock reset the aligner took */
    int flagged_late;   /* rows flagged by a span of possible loss after they were taken */
} acquire_state;

/* A span of possible loss (an Open Ephys spike too late for its bin) that
 * came after trials it overlaps were taken from the aligner: their rows gain
 * flag 1, as `inception run` records a `trial_flags` record for them. Rows
 * of a clock the GUI stopped since are not the span's. */
static void flag_taken_rows(acquire_state *s, int64_t from, int64_t until)
{
    trial_rows *r = &s->rows;
    for (int i = 0; i < r->n; i++) {
        int64_t *row = r->rows + 6 * (size_t)i, lo = r->span[2 * i], hi = r->span[2 * i + 1];
        if (r->old_clock[i] || hi <= lo || !(from < hi && until > lo) ||
            (row[5] & ACQ_TRIAL_LOST))
            continue;
        s->flagged += row[5] == 0;
        row[5] |= ACQ_TRIAL_LOST;
        s->flagged_late++;
    }
}

/* Moves completed trials from the aligner to the rows; returns 1 on failure. */
static int drain_trials(acquire_state *s, char *err)
{
    acq_trial t;
    int units = acq_aligner_units(s->aligner);
    if (units <= 0)
        return 0;
    if (!s->counts) {
        s->counts = malloc(sizeof(float) * (size_t)units);
        s->rows.units = units;
        if (!s->counts) {
            snprintf(err, MODEL_ERR_SIZE, "out of memory");
            return 1;
        }
    }
    while (acq_aligner_next_complete_trial(s->aligner, &t, s->counts)) {
        if (rows_add(&s->rows, &t, s->counts)) {
            snprintf(err, MODEL_ERR_SIZE, "out of memory");
            return 1;
        }
        s->rows.old_clock[s->rows.n - 1] = t.completed_ns <= s->clock_reset_ns;
        s->flagged += t.flags != 0;
        if (s->rows.n % 50 == 0)
            fprintf(stderr, "acquire: %d trials (%d flagged)\n", s->rows.n, s->flagged);
    }
    return 0;
}

static int take_item(acquire_state *s, acq_receiver *from, int timeout_ms, char *err)
{
    acq_item *it;
    if (!acq_receiver_pop(from, &it, timeout_ms))
        return 0;
    char why[ACQ_ERR_SIZE];
    if (from == s->data) {
        s->last_data = it->received_ns;
        if (s->silent)
            fprintf(stderr, "acquire: the stream is back\n");
        s->silent = 0;
    }
    int r = acq_aligner_add_item(s->aligner, it, why);
    if (it->flags & ACQ_ITEM_CLOCK_RESET) { /* after the add: the old clock's trials are done */
        for (int i = 0; i < s->rows.n; i++)
            s->rows.old_clock[i] = 1;
        s->clock_reset_ns = acq_now_ns();
    }
    if (it->type == ACQ_ITEM_LOSS)
        flag_taken_rows(s, it->timestamp_ns, it->until_ns);
    acq_item_free(it);
    if (r == ACQ_REJECT_VALUE) { /* onsets pile up with no data to complete them */
        snprintf(err, MODEL_ERR_SIZE, "%s", why);
        return -1;
    }
    return 1;
}

/* Open Ephys: bins on another rate than the stream's would be silently wrong. */
static int stream_rate_mismatch(const acquire_state *s, char *err)
{
    acq_stats st;
    acq_receiver_stats(s->data, &st);
    if (!st.rate_mismatch)
        return 0;
    snprintf(err, MODEL_ERR_SIZE, "the stream's data blocks say sample_rate %g Hz, but "
             "--sample-rate is %g Hz: nothing binned; give the stream's rate",
             st.stream_sample_rate, s->sample_rate);
    return 1;
}

static int run_acquire(acquire_state *s, int trials, float timeout, char *err)
{
    int64_t start = acq_now_ns();
    s->last_data = start;
    while (!acquire_interrupted && (trials <= 0 || s->rows.n < trials)) {
        if (acq_now_ns() - start > (int64_t)((double)timeout * 1e9)) {
            fprintf(stderr, "acquire: time-out after %.0f s; closing the pending trials\n",
                    (double)timeout);
            break;
        }
        /* Heartbeats come every second: 5 s of nothing means the publisher is gone. */
        if (!s->silent && acq_now_ns() - s->last_data > 5000000000LL) {
            fprintf(stderr, "acquire: nothing from the data stream for 5 s\n");
            s->silent = 1;
        }
        if (stream_rate_mismatch(s, err))
            return 1;
        int got = 0, r;
        while ((r = take_item(s, s->onsets, 0, err)) > 0)
            got++;
        if (r < 0 || (r = take_item(s, s->data, got ? 0 : 5, err)) < 0)
            return 1;
        if (drain_trials(s, err))
            return 1;
    }
    if (trials <= 0 || s->rows.n < trials) {
        acq_aligner_finish(s->aligner);
        if (drain_trials(s, err))
            return 1;
    }
    return 0;
}

static void report(const acquire_state *s)
{
    acq_stats st;
    acq_clock_fit f;
    acq_receiver_stats(s->data, &st);
    acq_aligner_clock(s->aligner, &f);
    uint64_t rejected = 0;
    for (int i = 1; i < ACQ_REJECT_COUNT; i++)
        rejected += st.rejected[i];
    printf("acquire: %d trials, %d flagged; %llu messages, %llu rejected, %llu lost, "
           "%llu late, %llu duplicate, %llu restarts, %llu dropped by the queue\n",
           s->rows.n, s->flagged, (unsigned long long)st.messages, (unsigned long long)rejected,
           (unsigned long long)st.lost, (unsigned long long)st.late,
           (unsigned long long)st.duplicates, (unsigned long long)st.restarts,
           (unsigned long long)st.queue_dropped);
    for (int i = 1; i < ACQ_REJECT_COUNT; i++)
        if (st.rejected[i])
            printf("acquire: rejected %llu %s (last: %s)\n", (unsigned long long)st.rejected[i],
                   acq_reject_name(i), st.last_rejected[i]);
    acq_stats os;
    acq_receiver_stats(s->onsets, &os);
    if (os.lost || os.restarts)
        printf("acquire: onset stream: %llu onsets lost, %llu restarts\n",
               (unsigned long long)os.lost, (unsigned long long)os.restarts);
    if (st.sorted_beyond)
        printf("acquire: %llu spikes of sorted units beyond --units (highest sorted_id %d) "
               "are in no column\n", (unsigned long long)st.sorted_beyond, st.max_sorted_id);
    if (st.unsorted_left_out || st.unsorted_unmapped)
        printf("acquire: unsorted spikes in no column: %llu left out (--electrodes 0), %llu "
               "of electrodes beyond --electrodes or sharing a number\n",
               (unsigned long long)st.unsorted_left_out, (unsigned long long)st.unsorted_unmapped);
    if (st.loss_spans || st.late_spikes)
        printf("acquire: %llu stretches of possible loss flagged (%llu spikes too late for "
               "their bins)\n", (unsigned long long)st.loss_spans,
               (unsigned long long)st.late_spikes);
    if (s->flagged_late)
        printf("acquire: %d trials flagged after they completed (a span of possible loss came "
               "later)\n", s->flagged_late);
    if (f.clock_restarts)
        printf("acquire: the acquisition clock restarted %llu times (GUI stop and start); "
               "the clock fit began anew each time\n", (unsigned long long)f.clock_restarts);
    if (st.heartbeats_sent)
        printf("acquire: heartbeats to the Open Ephys plugin: %llu sent, %llu answered\n",
               (unsigned long long)st.heartbeats_sent, (unsigned long long)st.heartbeat_replies);
    printf("acquire: clock fit over %d pairs: drift %.2f ppm, RMS residual %.1f us, largest "
           "%.1f us; %llu edges missing, %llu unmatched, %llu ambiguous\n",
           f.pairs, f.drift * 1e6, f.rms_residual_ns / 1e3, f.max_residual_ns / 1e3,
           (unsigned long long)f.missing_edges, (unsigned long long)f.unmatched_edges,
           (unsigned long long)f.ambiguous);
}

static int parse_format(const char *text, int *format)
{
    if (!text || !strcmp(text, "native"))
        *format = ACQ_FORMAT_NATIVE;
    else if (!strcmp(text, "openephys"))
        *format = ACQ_FORMAT_OPENEPHYS;
    else {
        fprintf(stderr, "inception acquire: --format wants native or openephys, not '%s'\n", text);
        return 1;
    }
    return 0;
}

int command_acquire(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(acquire_help, stdout);
        return 0;
    }
    cli_option o[] = {
        {"out", 1, NULL},         {"data", 1, NULL},       {"onsets", 1, NULL},
        {"bind", 0, NULL},        {"allow-remote", 0, NULL}, {"curve-secret", 1, NULL},
        {"curve-server-key", 1, NULL}, {"format", 1, NULL}, {"units", 1, NULL},
        {"sample-rate", 1, NULL}, {"bin-ms", 1, NULL},     {"latency-ms", 1, NULL},
        {"window-ms", 1, NULL},   {"tolerance-ms", 1, NULL}, {"sync-line", 1, NULL},
        {"hwm", 1, NULL},         {"trials", 1, NULL},     {"timeout", 1, NULL},
        {"electrodes", 1, NULL},
    };
    int n = COUNT(o), trials = 0;
    if (cli_parse("acquire", argc, argv, o, n))
        return 2;
    const char *dir = cli_get(o, n, "out");
    if (!dir) {
        fprintf(stderr, "inception acquire: --out is required (see --help)\n");
        return 2;
    }
    acq_receiver_config dc, oc;
    acq_align_config ac;
    acq_receiver_config_default(&dc);
    acq_receiver_config_default(&oc);
    acq_align_config_default(&ac);
    float bin_ms = 10, latency_ms = 50, window_ms = 500, tolerance_ms = 5, rate = 30000;
    float timeout = 3600;
    if (parse_format(cli_get(o, n, "format"), &dc.format) ||
        cli_get_int(o, n, "units", 1, ACQ_MAX_UNITS, &dc.units) ||
        cli_get_int(o, n, "electrodes", 0, ACQ_MAX_UNITS, &dc.electrodes) ||
        cli_get_float(o, n, "sample-rate", 1, 1e7f, &rate) ||
        cli_get_float(o, n, "bin-ms", 0.1f, 1000, &bin_ms) ||
        cli_get_float(o, n, "latency-ms", 0, 10000, &latency_ms) ||
        cli_get_float(o, n, "window-ms", 1, 100000, &window_ms) ||
        cli_get_float(o, n, "tolerance-ms", 0.01f, 1000, &tolerance_ms) ||
        cli_get_int(o, n, "sync-line", 0, 65535, &ac.sync_line) ||
        cli_get_int(o, n, "hwm", 1, 10000000, &dc.socket.hwm) ||
        cli_get_int(o, n, "trials", 1, 100000000, &trials) ||
        cli_get_float(o, n, "timeout", 0.1f, 1e7f, &timeout))
        return 2;
    if (dc.format == ACQ_FORMAT_OPENEPHYS && dc.units == 0) {
        fprintf(stderr, "inception acquire: --format openephys needs --units\n");
        return 2;
    }
    int remote = cli_get(o, n, "allow-remote") != NULL;
    dc.socket.endpoint = cli_get(o, n, "data") ? cli_get(o, n, "data") : "tcp://127.0.0.1:5556";
    dc.socket.bind = cli_get(o, n, "bind") != NULL;
    dc.socket.allow_remote = oc.socket.allow_remote = remote;
    dc.socket.curve_secret_file = cli_get(o, n, "curve-secret");
    dc.socket.curve_server_public_file = cli_get(o, n, "curve-server-key");
    dc.sample_rate = rate;
    dc.bin_width_ns = (uint32_t)((double)bin_ms * 1e6 + 0.5);
    oc.socket.endpoint = cli_get(o, n, "onsets") ? cli_get(o, n, "onsets") : "tcp://127.0.0.1:5560";
    oc.topic = "onset";
    ac.latency_ns = (int64_t)((double)latency_ms * 1e6 + 0.5);
    ac.window_ns = (int64_t)((double)window_ms * 1e6 + 0.5);
    ac.match_tolerance_ns = (int64_t)((double)tolerance_ms * 1e6 + 0.5);
    if (ac.history_ns < 2 * ac.window_ns + 2000000000LL)
        ac.history_ns = 2 * ac.window_ns + 2000000000LL;
    if (!cli_get(o, n, "sync-line"))
        ac.sync_line = -1;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "inception acquire: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }

    char err[MODEL_ERR_SIZE];
    acquire_state s;
    memset(&s, 0, sizeof s);
    int status = 1;
    if (acq_receiver_create(&s.data, NULL, &dc, err) ||
        acq_receiver_create(&s.onsets, NULL, &oc, err) ||
        acq_aligner_create(&s.aligner, &ac, err)) {
        fprintf(stderr, "inception acquire: %s\n", err);
        goto done;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    s.sample_rate = rate;
    if (run_acquire(&s, trials, timeout, err) || rows_write(&s.rows, dir, err) ||
        unit_map_write(s.data, dir, err)) {
        fprintf(stderr, "inception acquire: %s\n", err);
        goto done;
    }
    report(&s);
    status = 0;
done:
    acq_receiver_destroy(s.data);
    acq_receiver_destroy(s.onsets);
    acq_aligner_destroy(s.aligner);
    free(s.rows.counts);
    free(s.rows.rows);
    free(s.rows.old_clock);
    free(s.rows.span);
    free(s.counts);
    return status;
}
