/* command_replay.c: `inception import` (a dataset as a session record) and
 * `inception replay` (a record's analysis again, offline, or its stream
 * published again): options, one library call, printing. The work is in
 * controller/session/: session_import_folder (session_data.c),
 * session_replay_offline (session_replay.c), session_stream_replay
 * (session_stream.c). */
#include "acquisition.h"
#include "commands.h"
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char import_help[] =
    "usage: inception import DATASET --out SESSION_DIR [--downsample K]\n\n"
    "Turn a dataset in the compact or Sensorium 2022 layout (see inception fit --help)\n"
    "into a session record, so published data can be replayed (inception replay),\n"
    "reported and exported like a recorded session. The record holds: session_start\n"
    "with a protocol written for the import (image size and tiers from the data, the\n"
    "rest defaults; the comment names DATASET), one natural stimulus record per image\n"
    "id, and per trial a schedule record (block = its tier) and a trial record.\n\n"
    "  --out DIR         the new session folder (must not hold a record)\n"
    "  --downsample K    shrink the images by K first (Sensorium 144×256 → 36×64: 4)\n";

int command_import(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(import_help, stdout);
        return 0;
    }
    if (argc < 2 || !strncmp(argv[1], "--", 2)) {
        fprintf(stderr, "inception import: expected a DATASET folder (see --help)\n");
        return 2;
    }
    cli_option o[] = {{"out", 1, NULL}, {"downsample", 1, NULL}};
    int downsample = 1;
    if (cli_parse("import", argc - 1, argv + 1, o, COUNT(o)) ||
        cli_get_int(o, COUNT(o), "downsample", 1, 64, &downsample))
        return 2;
    const char *out = cli_get(o, COUNT(o), "out");
    if (!out) {
        fprintf(stderr, "inception import: --out SESSION_DIR is required\n");
        return 2;
    }
    char err[CONTROLLER_ERR_SIZE];
    session_import_summary d;
    fprintf(stderr, "inception import: reading %s\n", argv[1]);
    if (session_import_folder(argv[1], out, downsample, &d, err)) {
        fprintf(stderr, "inception import: %s\n", err);
        return 1;
    }
    printf("%s/%s: %d trials (%d train, %d validation, %d test), %d neurons, %d×%d images\n",
           out, RECORD_FILE_NAME, d.trials, d.train, d.validation, d.test, d.neurons, d.height,
           d.width);
    return 0;
}

/* ------------------------------------------------------------------------ */

static const char replay_help[] =
    "usage: inception replay DIR [--out NEWDIR] [options]\n"
    "       inception replay DIR --stream ENDPOINT [--onsets ENDPOINT] [--speed X]\n\n"
    "Offline (the first form), at full speed: rebuild the session's natural-image\n"
    "trials from DIR/session.rec (tiers from the schedule, trials flagged by the\n"
    "aligner left out), fit the model with the recorded protocol's settings (or the\n"
    "options below), evaluate it on the test images (correlation to the average\n"
    "over repeats, FEVE), synthesize MEIs for the recorded targets (or the top N)\n"
    "and write NEWDIR: a session record holding the original's observations (trials,\n"
    "schedule, flips, stream, closed-loop stimuli) with the new checkpoint, metrics\n"
    "and MEIs; model.bin, meis.npy (targets × H × W float32), targets.txt and the\n"
    "report (NEWDIR/report/index.html). Same record, settings and seed: the same\n"
    "model.bin and meis.npy, byte for byte. A session of inception run replayed with\n"
    "its own settings starts where the run's final fit started (the background fit's\n"
    "model, recorded as model_start.bin) and chooses targets as the run did: the\n"
    "run's model.bin, MEIs and report figures again. --fresh or changed fit settings:\n"
    "from scratch, for the recorded targets. An audio session (modality: audio):\n"
    "the natural clips made again from the seed and checked against the record,\n"
    "meis.npy their cochleagrams and mei_sounds.npy (targets × samples float32) the\n"
    "most exciting sounds.\n\n"
    "  --out NEWDIR        where to write (default DIR-replay; must not hold a record)\n"
    "  --seed N            model, fit and synthesis seed (default: the protocol's)\n"
    "  --epochs N, --channels N, --batch-size N, --patience N, --threads N\n"
    "  --learning-rate X   fit settings (default: the protocol's)\n"
    "  --targets N         MEIs for the top N neurons by validation correlation\n"
    "                      (default: chosen as the run chose them; from scratch, the\n"
    "                      record's MEI targets, else the protocol's N)\n"
    "  --mei-steps N, --starts N   synthesis settings (default: the protocol's)\n"
    "  --fresh             fit from scratch, not from the run's recorded start model\n"
    "  --no-report         skip the HTML report\n\n"
    "Stream (the second form): publish the recorded stream again in the native wire\n"
    "format (acquisition/WIRE.md), both sockets bound. A record of inception run holds\n"
    "every received message: its counts messages (bins, timestamps, counts), sync\n"
    "edges and heartbeats go out again as they came, at their received times scaled\n"
    "by X, the sender's gaps included; each trial's onset on the onset socket. A\n"
    "record without received counts (an import, an older run): on ENDPOINT a rising\n"
    "sync edge (line 0) at each onset and spike-count bins in which each trial's\n"
    "recorded counts sit in the first bin of its response window (zeros elsewhere).\n"
    "inception acquire, connected to both with the same latency and window, gets the\n"
    "recorded counts back.\n\n"
    "  --stream ENDPOINT   the count and sync stream (e.g. tcp://127.0.0.1:5556)\n"
    "  --onsets ENDPOINT   the onsets (default tcp://127.0.0.1:5560)\n"
    "  --speed X           recorded intervals × X: 1 real time (default), 0 at once\n"
    "  --bin-ms X          bin width of rebuilt bins (default 10)\n"
    "  --latency-ms X, --window-ms X   response window (default: the protocol's\n"
    "                      response latency and duration)\n"
    "  --wait-ms N         pause after binding for subscribers to connect (1000)\n"
    "  --format F          native (default) or openephys: a session recorded from Open\n"
    "                      Ephys sent in its ZMQ Interface plugin's form: every recorded\n"
    "                      spike, each sync edge as a TTL event, a data block (no\n"
    "                      samples) per recorded bin as the clock, at the protocol's\n"
    "                      endpoints.sample_rate; onsets stay native\n"
    "  --allow-remote      allow endpoints beyond loopback\n";
/* Progress on stderr; `line_open` while a \r progress line waits for its
 * newline (an error then starts on a line of its own). */
typedef struct replay_printer {
    int line_open;
} replay_printer;

static void print_loaded(const session_dataset *s, double load_s)
{
    fprintf(stderr, "replay: %d natural trials (%d train, %d validation, %d test), %d neurons, "
            "%d flagged and %d other trials left out; read in %.2f s (%.0f trials/s)\n",
            s->data.trials, dataset_count_tier(&s->data, TIER_TRAIN),
            dataset_count_tier(&s->data, TIER_VALIDATION),
            dataset_count_tier(&s->data, TIER_TEST), s->data.neurons, s->flagged,
            s->other_trials, load_s,
            (double)(s->data.trials + s->flagged + s->other_trials) /
                (load_s > 0 ? load_s : 1e-9));
}

static void on_replay_event(const session_replay_event *e, void *user)
{
    replay_printer *pr = user;
    switch (e->stage) {
    case SESSION_REPLAY_LOADED:
        print_loaded(e->loaded, e->seconds);
        if (e->loaded->repaired)
            fprintf(stderr, "replay: %s\n", e->loaded->repair_note);
        break;
    case SESSION_REPLAY_FIT_START:
        if (e->from_start)
            fprintf(stderr, "replay: the fit starts from the recorded background model (%s), "
                    "as the run's did\n", SESSION_START_MODEL_FILE);
        else
            fprintf(stderr, "replay: the fit starts from scratch (%s)\n",
                    e->fresh         ? "--fresh"
                    : e->fit_changed ? "fit settings changed"
                                     : "the record has no start model");
        pr->line_open = 1;
        break;
    case SESSION_REPLAY_EPOCH:
        fprintf(stderr, "\rreplay: fit epoch %d, validation correlation %.3f (best epoch %d), "
                "%.0f images/s   ", e->epoch->epoch, e->epoch->validation_corr,
                e->epoch->best_epoch, e->epoch->images_per_second);
        break;
    case SESSION_REPLAY_MEI_STEP:
        fprintf(stderr, "\rreplay: MEIs step %d/%d, %d images, mean objective %.3f   ",
                e->mei_step->step, e->mei_step->steps, e->mei_step->images,
                e->mei_step->mean_objective);
        break;
    case SESSION_REPLAY_FITTED:
        fprintf(stderr, "\n");
        pr->line_open = 0;
        break;
    }
}

static void on_stream(int sent, int total, void *user)
{
    (void)user;
    if (sent == total || sent % 100 == 0)
        fprintf(stderr, "\rreplay: %d/%d trials streamed", sent, total);
}

/* The command line's overrides of the protocol's settings (0: not given). */
static int replay_options(const cli_option *o, int n, session_replay_settings *s)
{
    s->seed_given = cli_get(o, n, "seed") != NULL;
    s->fresh = cli_get(o, n, "fresh") != NULL;
    s->no_report = cli_get(o, n, "no-report") != NULL;
    return cli_get_u64(o, n, "seed", &s->seed) ||
           cli_get_int(o, n, "epochs", 1, 100000, &s->epochs) ||
           cli_get_int(o, n, "channels", 1, 1024, &s->channels) ||
           cli_get_int(o, n, "batch-size", 1, 100000, &s->batch_size) ||
           cli_get_int(o, n, "patience", 1, 1000, &s->patience) ||
           cli_get_int(o, n, "threads", 1, 256, &s->threads) ||
           cli_get_float(o, n, "learning-rate", 1e-7f, 10.0f, &s->learning_rate) ||
           cli_get_int(o, n, "targets", 1, 100000, &s->targets) ||
           cli_get_int(o, n, "mei-steps", 1, 1000000, &s->mei_steps) ||
           cli_get_int(o, n, "starts", 1, 1000, &s->starts);
}

static int replay_offline(const char *dir, const cli_option *o, int n)
{
    char err[CONTROLLER_ERR_SIZE], out[4096];
    const char *given = cli_get(o, n, "out");
    snprintf(out, sizeof out, "%s-replay", dir);
    if (given)
        snprintf(out, sizeof out, "%s", given);
    session_replay_settings settings = {.out_dir = out};
    if (replay_options(o, n, &settings))
        return 2;
    replay_printer pr = {0};
    session_replay_result r;
    if (session_replay_offline(dir, &settings, on_replay_event, &pr, &r, err)) {
        fprintf(stderr, "%sinception replay: %s\n", pr.line_open ? "\n" : "", err);
        return 1;
    }
    printf("%s: fit %d epochs (best %d), validation correlation %.3f; %d MEIs; %.1f s (%.0f "
           "trials/s of fit and synthesis)\n",
           out, r.fit.epochs, r.fit.best_epoch, r.fit.best_validation_corr, r.n_targets,
           r.seconds, (double)r.trials / (r.fit_seconds > 0 ? r.fit_seconds : 1e-9));
    command_print_test_feve(&r.test_feve, r.test_corr_mean);
    return 0;
}

static int replay_stream(const char *dir, const cli_option *o, int n)
{
    session_stream_options so;
    session_stream_options_default(&so);
    session_stream_options_from_record(dir, &so);
    float speed = 1.0f, bin_ms = 10.0f, latency_ms = (float)so.latency_ns * 1e-6f,
          window_ms = (float)so.window_ns * 1e-6f;
    int wait_ms = so.wait_ms;
    if (cli_get_float(o, n, "speed", 0.0f, 1000.0f, &speed) ||
        cli_get_float(o, n, "bin-ms", 0.001f, 4000.0f, &bin_ms) ||
        cli_get_float(o, n, "latency-ms", 0.0f, 10000.0f, &latency_ms) ||
        cli_get_float(o, n, "window-ms", 0.001f, 100000.0f, &window_ms) ||
        cli_get_int(o, n, "wait-ms", 0, 600000, &wait_ms))
        return 2;
    so.data_endpoint = cli_get(o, n, "stream");
    if (cli_get(o, n, "onsets"))
        so.onset_endpoint = cli_get(o, n, "onsets");
    so.allow_remote = cli_get(o, n, "allow-remote") != NULL;
    so.speed = speed;
    so.bin_ns = (int64_t)((double)bin_ms * 1e6 + 0.5);
    so.latency_ns = (int64_t)((double)latency_ms * 1e6 + 0.5);
    so.window_ns = (int64_t)((double)window_ms * 1e6 + 0.5);
    so.wait_ms = wait_ms;
    const char *format = cli_get(o, n, "format");
    if (format && strcmp(format, "native") && strcmp(format, "openephys")) {
        fprintf(stderr, "inception replay: --format is native or openephys, not '%s'\n", format);
        return 2;
    }
    so.format = format && !strcmp(format, "openephys") ? ACQ_FORMAT_OPENEPHYS : ACQ_FORMAT_NATIVE;
    so.progress = on_stream;
    session_stream_summary sum;
    char err[CONTROLLER_ERR_SIZE];
    if (session_stream_replay(dir, &so, &sum, err)) {
        fprintf(stderr, "\ninception replay: %s\n", err);
        return 1;
    }
    fprintf(stderr, "\n");
    if (so.format == ACQ_FORMAT_OPENEPHYS) {
        printf("streamed in the Open Ephys plugin's form at %g Hz: %llu spikes, %llu TTL "
               "events, %llu data blocks (one per recorded bin, no samples); %d onsets\n",
               so.sample_rate, (unsigned long long)sum.spikes, (unsigned long long)sum.events,
               (unsigned long long)sum.bins, sum.trials);
        return 0;
    }
    printf("streamed %d trials × %d neurons: %llu bins, %llu sync edges, %llu onsets in %.2f s "
           "(%.0f trials/s)%s\n",
           sum.trials, sum.neurons, (unsigned long long)sum.bins,
           (unsigned long long)sum.events, (unsigned long long)sum.onsets, sum.seconds,
           sum.seconds > 0 ? sum.trials / sum.seconds : 0.0,
           sum.as_recorded ? "; the received messages as they came"
                           : "; bins rebuilt from the trials (the record holds no received counts)");
    if (sum.overlapping)
        printf("warning: %d trials' counts lie inside another trial's window (windows "
               "overlap): a receiver sums them together\n", sum.overlapping);
    return 0;
}

int command_replay(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(replay_help, stdout);
        return 0;
    }
    if (argc < 2 || !strncmp(argv[1], "--", 2)) {
        fprintf(stderr, "inception replay: expected a session DIR (see --help)\n");
        return 2;
    }
    cli_option o[] = {{"out", 1, NULL},        {"seed", 1, NULL},        {"epochs", 1, NULL},
                      {"channels", 1, NULL},   {"batch-size", 1, NULL},  {"patience", 1, NULL},
                      {"threads", 1, NULL},    {"learning-rate", 1, NULL}, {"targets", 1, NULL},
                      {"mei-steps", 1, NULL},  {"starts", 1, NULL},      {"no-report", 0, NULL},
                      {"fresh", 0, NULL},
                      {"stream", 1, NULL},     {"onsets", 1, NULL},      {"speed", 1, NULL},
                      {"bin-ms", 1, NULL},     {"latency-ms", 1, NULL},  {"window-ms", 1, NULL},
                      {"wait-ms", 1, NULL},    {"allow-remote", 0, NULL},
                      {"format", 1, NULL}};
    if (cli_parse("replay", argc - 1, argv + 1, o, COUNT(o)))
        return 2;
    static const char *const stream_only[] = {"onsets", "speed", "bin-ms", "latency-ms",
                                              "window-ms", "wait-ms", "allow-remote", "format"};
    if (!cli_get(o, COUNT(o), "stream"))
        for (int i = 0; i < COUNT(stream_only); i++)
            if (cli_get(o, COUNT(o), stream_only[i])) {
                fprintf(stderr, "inception replay: --%s needs --stream\n", stream_only[i]);
                return 2;
            }
    return cli_get(o, COUNT(o), "stream") ? replay_stream(argv[1], o, COUNT(o))
                                          : replay_offline(argv[1], o, COUNT(o));
}
