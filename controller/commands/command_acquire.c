/* command_acquire.c: `inception acquire`: its options, then the acquisition
 * of the controller library (controller/acquire/acquire.h: receive a
 * spike-count stream and the display's onsets, align them, and write the
 * trial × neuron matrix), with what it tells on the way and its counters
 * printed. */
#include "acquisition.h"
#include "commands.h"
#include "controller.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

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

/* What the acquisition tells while it receives (stderr), and from its
 * start on, a signal stops it gracefully. */
static void show_event(const acquire_event *e, void *user)
{
    (void)user;
    switch (e->stage) {
    case ACQUIRE_READY:
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        break;
    case ACQUIRE_TRIALS:
        fprintf(stderr, "acquire: %d trials (%d flagged)\n", e->trials, e->flagged);
        break;
    case ACQUIRE_SILENT:
        fprintf(stderr, "acquire: nothing from the data stream for 5 s\n");
        break;
    case ACQUIRE_BACK:
        fprintf(stderr, "acquire: the stream is back\n");
        break;
    case ACQUIRE_TIMED_OUT:
        fprintf(stderr, "acquire: time-out after %.0f s; closing the pending trials\n",
                e->seconds);
        break;
    }
}

static void report(const acquire_result *res)
{
    const acq_stats *st = &res->data, *os = &res->onsets;
    const acq_clock_fit *f = &res->clock;
    uint64_t rejected = 0;
    for (int i = 1; i < ACQ_REJECT_COUNT; i++)
        rejected += st->rejected[i];
    printf("acquire: %d trials, %d flagged; %llu messages, %llu rejected, %llu lost, "
           "%llu late, %llu duplicate, %llu restarts, %llu dropped by the queue\n",
           res->trials, res->flagged, (unsigned long long)st->messages, (unsigned long long)rejected,
           (unsigned long long)st->lost, (unsigned long long)st->late,
           (unsigned long long)st->duplicates, (unsigned long long)st->restarts,
           (unsigned long long)st->queue_dropped);
    for (int i = 1; i < ACQ_REJECT_COUNT; i++)
        if (st->rejected[i])
            printf("acquire: rejected %llu %s (last: %s)\n", (unsigned long long)st->rejected[i],
                   acq_reject_name(i), st->last_rejected[i]);
    if (os->lost || os->restarts)
        printf("acquire: onset stream: %llu onsets lost, %llu restarts\n",
               (unsigned long long)os->lost, (unsigned long long)os->restarts);
    if (st->sorted_beyond)
        printf("acquire: %llu spikes of sorted units beyond --units (highest sorted_id %d) "
               "are in no column\n", (unsigned long long)st->sorted_beyond, st->max_sorted_id);
    if (st->unsorted_left_out || st->unsorted_unmapped)
        printf("acquire: unsorted spikes in no column: %llu left out (--electrodes 0), %llu "
               "of electrodes beyond --electrodes or sharing a number\n",
               (unsigned long long)st->unsorted_left_out, (unsigned long long)st->unsorted_unmapped);
    if (st->loss_spans || st->late_spikes)
        printf("acquire: %llu stretches of possible loss flagged (%llu spikes too late for "
               "their bins)\n", (unsigned long long)st->loss_spans,
               (unsigned long long)st->late_spikes);
    if (res->flagged_late)
        printf("acquire: %d trials flagged after they completed (a span of possible loss came "
               "later)\n", res->flagged_late);
    if (f->clock_restarts)
        printf("acquire: the acquisition clock restarted %llu times (GUI stop and start); "
               "the clock fit began anew each time\n", (unsigned long long)f->clock_restarts);
    if (st->heartbeats_sent)
        printf("acquire: heartbeats to the Open Ephys plugin: %llu sent, %llu answered\n",
               (unsigned long long)st->heartbeats_sent, (unsigned long long)st->heartbeat_replies);
    printf("acquire: clock fit over %d pairs: drift %.2f ppm, RMS residual %.1f us, largest "
           "%.1f us; %llu edges missing, %llu unmatched, %llu ambiguous\n",
           f->pairs, f->drift * 1e6, f->rms_residual_ns / 1e3, f->max_residual_ns / 1e3,
           (unsigned long long)f->missing_edges, (unsigned long long)f->unmatched_edges,
           (unsigned long long)f->ambiguous);
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
    int n = COUNT(o);
    if (cli_parse("acquire", argc, argv, o, n))
        return 2;
    const char *dir = cli_get(o, n, "out");
    if (!dir) {
        fprintf(stderr, "inception acquire: --out is required (see --help)\n");
        return 2;
    }
    acquire_config c;
    memset(&c, 0, sizeof c);
    acq_receiver_config *dc = &c.data, *oc = &c.onsets;
    acq_align_config *ac = &c.align;
    acq_receiver_config_default(dc);
    acq_receiver_config_default(oc);
    acq_align_config_default(ac);
    float bin_ms = 10, latency_ms = 50, window_ms = 500, tolerance_ms = 5, rate = 30000;
    c.timeout = 3600;
    if (parse_format(cli_get(o, n, "format"), &dc->format) ||
        cli_get_int(o, n, "units", 1, ACQ_MAX_UNITS, &dc->units) ||
        cli_get_int(o, n, "electrodes", 0, ACQ_MAX_UNITS, &dc->electrodes) ||
        cli_get_float(o, n, "sample-rate", 1, 1e7f, &rate) ||
        cli_get_float(o, n, "bin-ms", 0.1f, 1000, &bin_ms) ||
        cli_get_float(o, n, "latency-ms", 0, 10000, &latency_ms) ||
        cli_get_float(o, n, "window-ms", 1, 100000, &window_ms) ||
        cli_get_float(o, n, "tolerance-ms", 0.01f, 1000, &tolerance_ms) ||
        cli_get_int(o, n, "sync-line", 0, 65535, &ac->sync_line) ||
        cli_get_int(o, n, "hwm", 1, 10000000, &dc->socket.hwm) ||
        cli_get_int(o, n, "trials", 1, 100000000, &c.trials) ||
        cli_get_float(o, n, "timeout", 0.1f, 1e7f, &c.timeout))
        return 2;
    if (dc->format == ACQ_FORMAT_OPENEPHYS && dc->units == 0) {
        fprintf(stderr, "inception acquire: --format openephys needs --units\n");
        return 2;
    }
    int remote = cli_get(o, n, "allow-remote") != NULL;
    c.out_dir = dir;
    dc->socket.endpoint = cli_get(o, n, "data") ? cli_get(o, n, "data") : "tcp://127.0.0.1:5556";
    dc->socket.bind = cli_get(o, n, "bind") != NULL;
    dc->socket.allow_remote = oc->socket.allow_remote = remote;
    dc->socket.curve_secret_file = cli_get(o, n, "curve-secret");
    dc->socket.curve_server_public_file = cli_get(o, n, "curve-server-key");
    dc->sample_rate = rate;
    dc->bin_width_ns = (uint32_t)((double)bin_ms * 1e6 + 0.5);
    oc->socket.endpoint = cli_get(o, n, "onsets") ? cli_get(o, n, "onsets") : "tcp://127.0.0.1:5560";
    ac->latency_ns = (int64_t)((double)latency_ms * 1e6 + 0.5);
    ac->window_ns = (int64_t)((double)window_ms * 1e6 + 0.5);
    ac->match_tolerance_ns = (int64_t)((double)tolerance_ms * 1e6 + 0.5);
    if (!cli_get(o, n, "sync-line"))
        ac->sync_line = -1;

    char err[CONTROLLER_ERR_SIZE];
    acquire_result result;
    if (acquire_run(&c, &acquire_interrupted, show_event, NULL, &result, err)) {
        fprintf(stderr, "inception acquire: %s\n", err);
        return 1;
    }
    report(&result);
    return 0;
}
