/* command_virtual_rig.c: `inception virtual-rig`: an acquisition system and
 * an animal in one process, for demos, tests and training: its options, then
 * the rig of the controller library (controller/rig/virtual_rig.h), with what
 * it tells on the way and its closing counts printed. */
#include "acquisition.h"
#include "commands.h"
#include "controller.h"

#include <signal.h>
#include <stdio.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char rig_help[] =
    "usage: inception virtual-rig [options]\n\n"
    "Behave like an acquisition system recording the built-in simulated population:\n"
    "listen for stimulus-onset messages from the display, draw the population's\n"
    "Poisson responses to each image, and publish binned spike counts, one sync\n"
    "edge per onset and heartbeats in the native wire format (acquisition/WIRE.md),\n"
    "on the rig's own clock. Onsets must carry CLOCK_MONOTONIC timestamps (the\n"
    "display runs on this machine). Runs until interrupted, --trials or --duration.\n\n"
    "  --publish ENDPOINT     where counts go, bound (default tcp://127.0.0.1:5556)\n"
    "  --onsets ENDPOINT      the display's onset stream, connected (default\n"
    "                         tcp://127.0.0.1:5560)\n"
    "  --allow-remote         allow endpoints beyond loopback\n"
    "  --curve-secret FILE    encrypt with CURVE, this Z85 secret key (server side)\n"
    "  --curve-clients FILE   serve only CURVE clients whose Z85 public key is listed\n"
    "                         (one a line, # comments); others are refused and counted\n"
    "  --neurons N, --height N, --width N, --seed N   the population (200, 36×64, 1)\n"
    "  --fraction-simple X, --fraction-complex X, --fraction-conjunction X,\n"
    "  --fraction-energy-conjunction X, --fraction-end-stopped X, --fraction-surround X,\n"
    "  --fraction-curvature X, --fraction-texture X\n"
    "                         cell types (0.4, 0.4, 0, 0, and the zoo's 0; the rest\n"
    "                         normalized; docs/ground-truth.md)\n"
    "  --baseline-rate R      give cells a spontaneous rate of R spikes per window at\n"
    "                         gray that stimuli can suppress, as `inception simulate`\n"
    "                         (docs/ground-truth.md, \"Baseline rates\"; default 0: none)\n"
    "  --baseline-share X     the share of the cells, of every type, that have it\n"
    "                         (default 1)\n"
    "  --bin-ms X             bin width (default 10)\n"
    "  --latency-ms X, --window-ms X   response window after the onset (50, 500)\n"
    "  --clock-offset-ms X    the rig's clock at start (default 1000)\n"
    "  --drift-ppm X          rig clock rate error (default 20)\n"
    "  --sync-latency-ms X    sync edge after the flip (default 0)\n"
    "  --jitter-ms X          sync edges uniformly within ± this (default 0.1)\n"
    "  --sync-line N          TTL line of the sync edges (default 0)\n"
    "  --loss PERCENT         messages dropped at random (default 0)\n"
    "  --reorder PERCENT      messages sent after the next one (default 0)\n"
    "  --restart-after N      restart the publisher after N messages (default never)\n"
    "  --restart-gap N        messages lost during the restart (default 5)\n"
    "  --drop-sync-every N    drop the sync edge of trials N, 2N, 3N, ... (default never)\n"
    "  --drop-bin-every N     drop the last bin of the window of trials N, 2N, 3N, ...\n"
    "                         (default never)\n"
    "  --float-counts         publish float32 counts (default uint16)\n"
    "  --trials N             exit once N trials are fully published\n"
    "  --duration S           exit after S seconds\n"
    "  --audio                an auditory population (docs/audio.md): onsets carry each\n"
    "                         clip's cochleagram; --audio-rate HZ, --audio-samples N,\n"
    "                         --audio-bands N, --audio-rms-db X (16000, 8000, 32, -30)\n"
    "                         give its cochleagram and the level it is calibrated at\n"
    "  --truth DIR            write truth_counts.npy and truth_trials.npy (trial,\n"
    "                         stimulus, display onset, rig onset, sync edge, fault\n"
    "                         flags: 1 lost bin, 4 lost sync edge, 16 restart) at exit\n";

/* Set from the signal handler: the one piece of process-wide state, because
 * a signal handler can reach nothing else. */
static volatile sig_atomic_t rig_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    rig_interrupted = 1;
}

static int ms_option(const cli_option *o, int n, const char *name, float min, float max,
                     int64_t *out_ns)
{
    float v = (float)*out_ns / 1e6f;
    if (cli_get_float(o, n, name, min, max, &v))
        return 1;
    *out_ns = (int64_t)((double)v * 1e6 + 0.5);
    return 0;
}

static int parse_rig(cli_option *o, int n, rig_config *c, int *trials, float *duration)
{
    float loss = 0, reorder = 0, drift = (float)(c->clock_drift * 1e6);
    uint64_t restart = 0;
    if (cli_get_int(o, n, "neurons", 1, 100000, &c->population.neurons) ||
        cli_get_int(o, n, "height", 4, 1024, &c->population.height) ||
        cli_get_int(o, n, "width", 4, 1024, &c->population.width) ||
        cli_get_u64(o, n, "seed", &c->seed) || ms_option(o, n, "bin-ms", 0.1f, 1000, &c->bin_ns) ||
        ms_option(o, n, "latency-ms", 0, 10000, &c->latency_ns) ||
        ms_option(o, n, "window-ms", 1, 100000, &c->window_ns) ||
        ms_option(o, n, "clock-offset-ms", -1e9f, 1e9f, &c->clock_offset_ns) ||
        cli_get_float(o, n, "drift-ppm", -1000, 1000, &drift) ||
        ms_option(o, n, "sync-latency-ms", 0, 1000, &c->sync_latency_ns) ||
        ms_option(o, n, "jitter-ms", 0, 100, &c->jitter_ns) ||
        cli_get_int(o, n, "sync-line", 0, 65535, &c->sync_line) ||
        cli_get_float(o, n, "loss", 0, 99, &loss) || cli_get_float(o, n, "reorder", 0, 99, &reorder) ||
        cli_get_u64(o, n, "restart-after", &restart) ||
        cli_get_int(o, n, "restart-gap", 0, 1000, &c->restart_gap) ||
        cli_get_int(o, n, "drop-sync-every", 0, 100000000, &c->drop_sync_every) ||
        cli_get_int(o, n, "drop-bin-every", 0, 100000000, &c->drop_bin_every) ||
        cli_get_int(o, n, "trials", 1, 100000000, trials) ||
        cli_get_float(o, n, "duration", 0.1f, 1e7f, duration) ||
        cli_get_float(o, n, "fraction-simple", 0, 1, &c->population.fraction_simple) ||
        cli_get_float(o, n, "fraction-complex", 0, 1, &c->population.fraction_complex) ||
        cli_get_float(o, n, "fraction-conjunction", 0, 1, &c->population.fraction_conjunction) ||
        cli_get_float(o, n, "fraction-energy-conjunction", 0, 1,
                      &c->population.fraction_energy_conjunction) ||
        cli_get_float(o, n, "fraction-end-stopped", 0, 1, &c->population.fraction_end_stopped) ||
        cli_get_float(o, n, "fraction-surround", 0, 1, &c->population.fraction_surround) ||
        cli_get_float(o, n, "fraction-curvature", 0, 1, &c->population.fraction_curvature) ||
        cli_get_float(o, n, "fraction-texture", 0, 1, &c->population.fraction_texture))
        return 1;
    if (cli_get_baseline(o, n, "virtual-rig", &c->population))
        return 1;
    int rate = 16000, samples = 8000, bands = 32;
    float rms_db = -30;
    if (cli_get_int(o, n, "audio-rate", 8000, 48000, &rate) ||
        cli_get_int(o, n, "audio-samples", 800, 96000, &samples) ||
        cli_get_int(o, n, "audio-bands", 8, 64, &bands) ||
        cli_get_float(o, n, "audio-rms-db", -60, -20, &rms_db))
        return 1;
    c->audio = cli_get(o, n, "audio") != NULL;
    if (c->audio && c->population.baseline_rate > 0.0f) {
        fprintf(stderr, "inception virtual-rig: --baseline-rate: the auditory population has "
                        "no baseline rates (image populations only)\n");
        return 1;
    }
    auditory_config_for(rate, samples, bands, rms_db, &c->auditory);
    c->population.seed = c->seed;
    c->clock_drift = drift * 1e-6;
    c->loss = loss / 100;
    c->reorder = reorder / 100;
    c->restart_after = restart;
    if (cli_get(o, n, "float-counts"))
        c->counts_dtype = ACQ_DTYPE_F32;
    return 0;
}

/* What the rig tells while it runs (stderr), and from its start on, a
 * signal stops it gracefully. */
typedef struct rig_display {
    const rig_run_config *c;
} rig_display;

static void show_event(const rig_run_event *e, void *user)
{
    const rig_run_config *c = ((const rig_display *)user)->c;
    switch (e->stage) {
    case RIG_RUN_READY:
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        fprintf(stderr, "virtual rig: %d neurons publishing on %s, onsets from %s\n",
                c->rig.population.neurons, c->publish.endpoint, c->onsets.socket.endpoint);
        break;
    case RIG_RUN_PROGRESS:
        fprintf(stderr, "virtual rig: %d trials so far\n", e->trials);
        break;
    case RIG_RUN_SKIPPED:
        fprintf(stderr, "virtual rig: %s (trial skipped)\n", e->why);
        break;
    }
}

int command_virtual_rig(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(rig_help, stdout);
        return 0;
    }
    cli_option o[] = {
        {"publish", 1, NULL},     {"onsets", 1, NULL},        {"allow-remote", 0, NULL},
        {"curve-secret", 1, NULL}, {"neurons", 1, NULL},      {"height", 1, NULL},
        {"width", 1, NULL},       {"seed", 1, NULL},          {"bin-ms", 1, NULL},
        {"latency-ms", 1, NULL},  {"window-ms", 1, NULL},     {"clock-offset-ms", 1, NULL},
        {"drift-ppm", 1, NULL},   {"sync-latency-ms", 1, NULL}, {"jitter-ms", 1, NULL},
        {"sync-line", 1, NULL},   {"loss", 1, NULL},          {"reorder", 1, NULL},
        {"restart-after", 1, NULL}, {"restart-gap", 1, NULL}, {"float-counts", 0, NULL},
        {"trials", 1, NULL},      {"duration", 1, NULL},      {"truth", 1, NULL},
        {"fraction-simple", 1, NULL}, {"fraction-complex", 1, NULL},
        {"fraction-conjunction", 1, NULL}, {"fraction-energy-conjunction", 1, NULL},
        {"fraction-end-stopped", 1, NULL}, {"fraction-surround", 1, NULL},
        {"fraction-curvature", 1, NULL}, {"fraction-texture", 1, NULL},
        {"curve-clients", 1, NULL}, {"drop-sync-every", 1, NULL}, {"drop-bin-every", 1, NULL},
        {"audio", 0, NULL},       {"audio-rate", 1, NULL},    {"audio-samples", 1, NULL},
        {"audio-bands", 1, NULL}, {"audio-rms-db", 1, NULL},
        {"baseline-rate", 1, NULL}, {"baseline-share", 1, NULL},
    };
    int n = COUNT(o);
    rig_run_config c = {0};
    rig_config_default(&c.rig);
    if (cli_parse("virtual-rig", argc, argv, o, n) ||
        parse_rig(o, n, &c.rig, &c.trials, &c.duration))
        return 2;
    int remote = cli_get(o, n, "allow-remote") != NULL;
    c.publish = (acq_socket_config){.endpoint = cli_get(o, n, "publish"), .bind = 1,
                                    .allow_remote = remote,
                                    .curve_secret_file = cli_get(o, n, "curve-secret"),
                                    .curve_clients_file = cli_get(o, n, "curve-clients")};
    if (!c.publish.endpoint)
        c.publish.endpoint = "tcp://127.0.0.1:5556";
    acq_receiver_config_default(&c.onsets);
    c.onsets.socket.endpoint =
        cli_get(o, n, "onsets") ? cli_get(o, n, "onsets") : "tcp://127.0.0.1:5560";
    c.onsets.socket.allow_remote = remote;
    c.truth_dir = cli_get(o, n, "truth");

    char err[CONTROLLER_ERR_SIZE];
    rig_display display = {&c};
    rig_run_result result;
    if (rig_run(&c, &rig_interrupted, show_event, &display, &result, err)) {
        fprintf(stderr, "inception virtual-rig: %s\n", err);
        return 1;
    }
    const rig_stats *st = &result.rig;
    printf("virtual rig: %d trials (%d with injected faults), %llu messages sent, %llu dropped, "
           "%llu reordered, %s\n", st->trials, st->affected, (unsigned long long)st->sent,
           (unsigned long long)st->dropped, (unsigned long long)st->reordered,
           st->restarted ? "1 restart" : "no restart");
    if (c.publish.curve_clients_file)
        printf("virtual rig: CURVE clients %llu accepted, %llu refused\n",
               (unsigned long long)result.publisher.clients_accepted,
               (unsigned long long)result.publisher.clients_refused);
    return 0;
}
