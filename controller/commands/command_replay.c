/* command_replay.c: `inception import` (a dataset as a session record) and
 * `inception replay` (a record's analysis again, offline, or its stream
 * published again). The work is in session_data.c, session_fit.c and
 * session_stream.c. */
#include "acquisition.h"
#include "commands.h"
#include "controller.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

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
    dataset d;
    fprintf(stderr, "inception import: reading %s\n", argv[1]);
    if (dataset_load(argv[1], &d, err)) {
        fprintf(stderr, "inception import: %s\n", err);
        return 1;
    }
    int status = downsample > 1 && dataset_downsample(&d, downsample, err);
    status = status || session_import_dataset(&d, argv[1], out, err);
    if (status)
        fprintf(stderr, "inception import: %s\n", err);
    else
        printf("%s/%s: %d trials (%d train, %d validation, %d test), %d neurons, %d×%d images\n",
               out, RECORD_FILE_NAME, d.trials, dataset_count_tier(&d, TIER_TRAIN),
               dataset_count_tier(&d, TIER_VALIDATION), dataset_count_tier(&d, TIER_TEST),
               d.neurons, d.height, d.width);
    dataset_free(&d);
    return status;
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

/* The final fit's learning curve, kept until the new record is written
 * (after the fit): one point per epoch, as `inception run` records them. */
typedef struct fit_curve {
    record_fit_round *points;
    int count, failed;
    size_t capacity;
} fit_curve;

static void on_epoch(const fit_progress *p, void *user)
{
    fit_curve *curve = user;
    if (!curve->failed && controller_grow(&curve->points, &curve->capacity,
                                          (size_t)curve->count + 1, sizeof *curve->points, 64))
        curve->failed = 1;
    if ((size_t)curve->count < curve->capacity)
        curve->points[curve->count++] =
            (record_fit_round){"final", p->epoch, 0, p->train_loss, p->validation_corr};
    fprintf(stderr, "\rreplay: fit epoch %d, validation correlation %.3f (best epoch %d), "
            "%.0f images/s   ", p->epoch, p->validation_corr, p->best_epoch,
            p->images_per_second);
}

static void on_mei_step(const mei_progress *p, void *user)
{
    (void)user;
    fprintf(stderr, "\rreplay: MEIs step %d/%d, %d images, mean objective %.3f   ", p->step,
            p->steps, p->images, p->mean_objective);
}

static void on_stream(int sent, int total, void *user)
{
    (void)user;
    if (sent == total || sent % 100 == 0)
        fprintf(stderr, "\rreplay: %d/%d trials streamed", sent, total);
}

/* Options given on the command line override the protocol's; *fit_changed
 * says whether one of them changes the fit (then it starts from scratch). */
static int apply_overrides(const cli_option *o, int n, session_fit_settings *s, int *top,
                           int *fit_changed)
{
    static const char *const fit_options[] = {"seed", "epochs", "channels", "batch-size",
                                              "patience", "threads", "learning-rate"};
    *fit_changed = 0;
    for (int i = 0; i < COUNT(fit_options); i++)
        *fit_changed |= cli_get(o, n, fit_options[i]) != NULL;
    uint64_t seed = s->fit.seed;
    int threads = s->fit.threads;
    if (cli_get_u64(o, n, "seed", &seed) ||
        cli_get_int(o, n, "epochs", 1, 100000, &s->fit.max_epochs) ||
        cli_get_int(o, n, "channels", 1, 1024, &s->model.channels) ||
        cli_get_int(o, n, "batch-size", 1, 100000, &s->fit.batch_size) ||
        cli_get_int(o, n, "patience", 1, 1000, &s->fit.patience) ||
        cli_get_int(o, n, "threads", 1, 256, &threads) ||
        cli_get_float(o, n, "learning-rate", 1e-7f, 10.0f, &s->fit.learning_rate) ||
        cli_get_int(o, n, "targets", 1, 100000, top) ||
        cli_get_int(o, n, "mei-steps", 1, 1000000, &s->mei.steps) ||
        cli_get_int(o, n, "starts", 1, 1000, &s->mei.starts))
        return 1;
    s->model.seed = s->fit.seed = s->mei.seed = s->control_seed = seed;
    s->fit.threads = s->mei.threads = threads;
    if (*top > 0)
        s->target_count = *top;
    return 0;
}

/* The original's records that stay true of the replay: everything observed
 * (and, when the fit starts from it, the start model). What the shared fit
 * records (session_fit_record_model/_targets) and the MEIs are the replay's
 * own to write. */
typedef struct copy_context {
    const char *out;
    session_record *w; /* created from the original's session_start */
    int keep_start_model;
} copy_context;

/* Decoded records the fit writes again (a record that does not decode is
 * not the fit's: copied as it is). */
static int checkpoint_by_fit(const record_view *v, int keep_start_model)
{
    record_checkpoint cp;
    char err[CONTROLLER_ERR_SIZE];
    if (record_checkpoint_read(v, &cp, err))
        return 1; /* no start model to keep */
    int by_fit = !keep_start_model || strcmp(cp.file_name, SESSION_START_MODEL_FILE);
    free(cp.decoded);
    return by_fit;
}

static int stimulus_by_fit(const record_view *v)
{
    record_stimulus st;
    char err[CONTROLLER_ERR_SIZE];
    if (record_stimulus_read(v, &st, err))
        return 0;
    int by_fit = !strcmp(st.kind, STIMULUS_KIND_NAME_MEI);
    free(st.decoded);
    return by_fit;
}

static int evaluation_by_fit(const record_view *v)
{
    record_evaluation e;
    char err[CONTROLLER_ERR_SIZE];
    if (record_evaluation_read(v, &e, err))
        return 0;
    int by_fit = !strcmp(e.kind, "test_metrics") || !strcmp(e.kind, "validation_corr");
    free(e.decoded);
    return by_fit;
}

static int note_by_fit(const record_view *v)
{
    record_note n;
    char err[CONTROLLER_ERR_SIZE];
    if (record_note_read(v, &n, err))
        return 0;
    int by_fit = n.fit_round.fit ? !strcmp(n.fit_round.fit, "final") /* the background's stay */
                                 : !strcmp(n.text, "targets") ||
                                       !strncmp(n.text, "contrast budget", 15);
    free(n.decoded);
    return by_fit;
}

static int written_by_fit(const record_view *v, int keep_start_model)
{
    switch (v->type) {
    case RECORD_SESSION_START:
    case RECORD_MODEL_METRICS:
        return 1;
    case RECORD_CHECKPOINT:
        return checkpoint_by_fit(v, keep_start_model);
    case RECORD_STIMULUS:
        return stimulus_by_fit(v);
    case RECORD_EVALUATION:
        return evaluation_by_fit(v);
    case RECORD_NOTE:
        return note_by_fit(v);
    }
    return 0;
}

static int copy_record(const record_view *v, void *ctx, char *err)
{
    copy_context *c = ctx;
    if (!c->w)
        return session_record_create_copy(c->out, v, &c->w, err);
    if (written_by_fit(v, c->keep_start_model))
        return 0;
    return session_record_copy(c->w, v, err);
}

/* The original's MEI stimulus ids by neuron, so its closed-loop trials point
 * at the new MEIs; new targets get ids above every other. */
typedef struct mei_ids {
    int neurons;
    int64_t *id_of; /* neurons; -1: none recorded */
    int64_t highest;
} mei_ids;

static int note_mei_id(const record_view *v, void *ctx, char *err)
{
    (void)err;
    mei_ids *m = ctx;
    record_stimulus st;
    char why[CONTROLLER_ERR_SIZE];
    if (v->type != RECORD_STIMULUS || record_stimulus_read(v, &st, why))
        return 0;
    int64_t id = st.stimulus_id, neuron = st.neuron;
    m->highest = id > m->highest ? id : m->highest;
    if (!strcmp(st.kind, STIMULUS_KIND_NAME_MEI) && neuron >= 0 && neuron < m->neurons && m->id_of[neuron] < 0)
        m->id_of[neuron] = id;
    free(st.decoded);
    return 0;
}

/* An audio session's (modality: audio, docs/audio.md) natural clips, which
 * its synthesis starts from and picks its controls among: made again from
 * the recorded protocol's seed and checked against every hash and sample
 * the record holds (session_natural_stimuli, the path resume takes), with
 * their tiers as the run drew them (session_natural_tiers). */
typedef struct replay_sounds {
    protocol *p;    /* the recorded protocol, the command line's synthesis settings in
                       it; NULL: an image session */
    int count, S;   /* natural clips, samples a clip */
    float *clips;   /* count × S */
    float *images;  /* count × H × W: their cochleagrams */
    uint8_t *tier;  /* count */
    float *made;    /* after the synthesis: n_targets × n_kinds × S (session_fit_slot) */
} replay_sounds;

static void replay_sounds_free(replay_sounds *r)
{
    protocol_destroy(r->p);
    free(r->clips);
    free(r->images);
    free(r->tier);
    free(r->made);
    memset(r, 0, sizeof *r);
}

static int log_natural(const record_view *v, void *ctx, char *err)
{
    (void)err;
    session_image_log_add(ctx, v);
    return 0;
}

static int replay_sounds_make(const char *dir, const dataset *d, replay_sounds *r, char *err)
{
    const protocol *p = r->p;
    int H, W;
    r->count = p->images.train + p->images.test;
    r->S = session_sound_samples(p);
    if (session_natural_size(p, &H, &W, err))
        return 1;
    if (d->trials && (H != d->height || W != d->width))
        return controller_fail(err, "the recorded protocol makes %d×%d cochleagrams, the record "
                               "holds %d×%d", H, W, d->height, d->width);
    size_t n = r->count ? (size_t)r->count : 1;
    r->clips = malloc(n * (size_t)r->S * sizeof(float));
    r->images = malloc(n * (size_t)H * (size_t)W * sizeof(float));
    r->tier = malloc(n);
    if (!r->clips || !r->images || !r->tier)
        return controller_fail(err, "out of memory for %d natural clips", r->count);
    session_image_log log;
    model_rng rng;
    if (session_image_log_create(&log, r->count, err))
        return 1;
    int status = session_record_each(dir, log_natural, &log, NULL, err) ||
                 session_natural_stimuli(p, r->count, &log, r->images, r->clips, NULL, err) ||
                 session_natural_tiers(p, r->tier, &rng, err);
    session_image_log_free(&log);
    return status;
}

/* The clip of stimulus `slot` (session_fit_slot) an audio synthesis made. */
static const float *made_clip(const replay_sounds *r, size_t slot)
{
    return r->p ? r->made + slot * (size_t)r->S : NULL;
}

static int write_meis(const char *dir, const session_dataset *s, const session_fit_result *f,
                      const replay_sounds *snd, session_record *w, char *err)
{
    const dataset *d = &s->data;
    mei_ids m = {d->neurons, malloc((size_t)d->neurons * sizeof(int64_t)), 0};
    if (!m.id_of)
        return controller_fail(err, "out of memory");
    for (int i = 0; i < d->neurons; i++)
        m.id_of[i] = -1;
    int status = session_record_each(dir, note_mei_id, &m, NULL, err);
    size_t P = (size_t)d->height * (size_t)d->width;
    for (int j = 0; !status && j < f->n_targets; j++) {
        int neuron = f->targets[j];
        int64_t id = m.id_of[neuron] >= 0 ? m.id_of[neuron] : ++m.highest;
        size_t slot = session_fit_slot(f, j, STIMULUS_KIND_MEI);
        record_stimulus st = {.stimulus_id = id, .neuron = neuron, .kind = STIMULUS_KIND_NAME_MEI,
                              .height = d->height, .width = d->width,
                              .pixels = f->meis + (size_t)j * P,
                              .predicted = f->predicted[slot],
                              .samples = made_clip(snd, slot),
                              .sample_count = snd->p ? snd->S : 0,
                              .sample_rate = snd->p ? snd->p->sounds.rate : 0};
        status = session_record_stimulus(w, &st, err);
    }
    free(m.id_of);
    return status;
}

/* Audio: the most exciting sounds' samples, targets × samples float32. */
static int write_sounds(const char *out, const session_fit_result *f, const replay_sounds *snd,
                        char *err)
{
    char path[4096], merr[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/mei_sounds.npy", out);
    float *all = malloc((size_t)(f->n_targets ? f->n_targets : 1) * (size_t)snd->S * sizeof(float));
    if (!all)
        return controller_fail(err, "out of memory for %d sounds", f->n_targets);
    for (int j = 0; j < f->n_targets; j++)
        memcpy(all + (size_t)j * snd->S, made_clip(snd, session_fit_slot(f, j, STIMULUS_KIND_MEI)),
               (size_t)snd->S * sizeof(float));
    int64_t shape[2] = {f->n_targets, snd->S};
    int status = npy_write(path, NPY_FLOAT32, 2, shape, all, merr)
                     ? controller_fail(err, "%s", merr) : 0;
    free(all);
    return status;
}

static int write_files(const char *out, const session_dataset *s, const session_fit_result *f,
                       const replay_sounds *snd, char *err)
{
    const dataset *d = &s->data;
    char path[4096], merr[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/meis.npy", out);
    int64_t shape[3] = {f->n_targets, d->height, d->width};
    float none = 0;
    if (npy_write(path, NPY_FLOAT32, 3, shape, f->n_targets ? f->meis : &none, merr))
        return controller_fail(err, "%s", merr);
    if (snd->p && write_sounds(out, f, snd, err))
        return 1;
    snprintf(path, sizeof path, "%s/targets.txt", out);
    FILE *t = fopen(path, "w");
    if (!t)
        return controller_fail(err, "%s: cannot write", path);
    for (int j = 0; j < f->n_targets; j++)
        fprintf(t, "%d %.6g\n", f->targets[j], f->mei[j].response);
    return fclose(t) ? (snprintf(err, CONTROLLER_ERR_SIZE, "%s: write failed", path), 1) : 0;
}

/* The natural stimulus records the original lost to damage, made again
 * (session_dataset_load), after its copied records: the new record is whole. */
static int write_repaired(session_record *w, const session_dataset *s, const replay_sounds *snd,
                          char *err)
{
    if (!s->repaired)
        return 0;
    size_t P = (size_t)s->data.height * (size_t)s->data.width;
    for (int i = 0; i < s->repaired; i++) {
        int64_t id = s->repaired_ids[i];
        /* Audio: the clip made again with the same cochleagram (replay_sounds_make). */
        assert(!snd->p || (id >= 0 && id < snd->count));
        record_stimulus st = {.stimulus_id = id, .neuron = -1, .kind = STIMULUS_KIND_NAME_NATURAL,
                              .height = s->data.height, .width = s->data.width,
                              .pixels = s->repaired_pixels + (size_t)i * P, .predicted = NAN,
                              .samples = snd->p ? snd->clips + (size_t)id * (size_t)snd->S : NULL,
                              .sample_count = snd->p ? snd->S : 0,
                              .sample_rate = snd->p ? snd->p->sounds.rate : 0};
        if (session_record_stimulus(w, &st, err))
            return 1;
    }
    return session_record_note(w, s->repair_note, err);
}

/* The new record: the original's observations, then what the shared fit
 * records, as `inception run` records it, and the MEIs. */
static int write_curve(session_record *w, const fit_curve *curve, char *err)
{
    if (curve->failed)
        return controller_fail(err, "out of memory for the fit's learning curve");
    for (int i = 0; i < curve->count; i++)
        if (session_record_fit_round(w, &curve->points[i], err))
            return 1;
    return 0;
}

static int write_record(const char *dir, const char *out, const session_dataset *s,
                        const session_fit_result *f, const replay_sounds *snd,
                        const fit_curve *curve, int from_start, const char *note, char *err)
{
    copy_context c = {out, NULL, from_start};
    if (session_record_each(dir, copy_record, &c, NULL, err)) {
        char cerr[CONTROLLER_ERR_SIZE];
        session_record_close(c.w, cerr);
        return 1;
    }
    session_record *w = c.w;
    int status = write_repaired(w, s, snd, err) || session_record_note(w, note, err) ||
                 session_record_phase(w, "replay", "begin", err) ||
                 write_curve(w, curve, err) ||
                 session_fit_record_model(w, out, &s->data, f, err) ||
                 session_fit_record_targets(w, &s->data, f, err) ||
                 write_meis(dir, s, f, snd, w, err) || write_files(out, s, f, snd, err) ||
                 session_record_phase(w, "replay", "end", err);
    char cerr[CONTROLLER_ERR_SIZE];
    if (session_record_close(w, status ? cerr : err))
        status = 1;
    return status;
}

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

/* The recorded protocol's settings with the command line's overrides; 2 on
 * a usage error. An audio session's protocol is kept in *audio (its
 * synthesis reads the protocol: --mei-steps and --starts go into it), an
 * image session's NULL. */
static int replay_settings(const session_dataset *s, const char *dir, const cli_option *o,
                           int n, session_fit_settings *set, int *top, int *fit_changed,
                           protocol **audio)
{
    *audio = NULL;
    protocol *p = NULL;
    char file[4200], err[CONTROLLER_ERR_SIZE];
    snprintf(file, sizeof file, "%s/%s (protocol)", dir, RECORD_FILE_NAME);
    if (protocol_parse(s->protocol_text, s->protocol_size, file, NULL, &p, err)) {
        fprintf(stderr, "inception replay: the recorded protocol: %s\n", err);
        return 1;
    }
    session_fit_settings_from_protocol(p, s->data.height, s->data.width, s->data.neurons, set);
    *top = 0;
    if (apply_overrides(o, n, set, top, fit_changed)) {
        protocol_destroy(p);
        return 2;
    }
    if (p->modality == PROTOCOL_MODALITY_AUDIO) {
        p->mei.steps = set->mei.steps;
        p->mei.starts = set->mei.starts;
        *audio = p;
    } else {
        protocol_destroy(p);
    }
    set->fit.progress = on_epoch; /* set->fit.user: the caller's fit_curve */
    set->mei.progress = on_mei_step;
    return 0;
}

/* The run's final fit and synthesis again: an audio session's sounds from
 * its natural clips (session_sound_synthesize, as `inception run`). */
static int replay_fit_and_synthesize(const session_dataset *s, const session_fit_settings *set,
                                     int from_start, const int *targets, int n_targets,
                                     replay_sounds *snd, session_fit_result *f, char *err)
{
    const unsigned char *start = from_start ? s->start_model : NULL;
    if (!snd->p)
        return session_fit_and_synthesize(&s->data, set, start, s->start_model_size, targets,
                                          n_targets, f, err);
    if (session_fit_model(&s->data, set, start, s->start_model_size, f, err))
        return 1;
    if (session_sound_synthesize(snd->p, &s->data, set, targets, n_targets, snd->clips,
                                 snd->images, snd->tier, snd->count, f, &snd->made, err)) {
        session_fit_result_free(f);
        return 1;
    }
    return 0;
}

static int replay_offline(const char *dir, const cli_option *o, int n)
{
    char err[CONTROLLER_ERR_SIZE], out[4096];
    const char *given = cli_get(o, n, "out");
    snprintf(out, sizeof out, "%s-replay", dir);
    if (given)
        snprintf(out, sizeof out, "%s", given);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    session_dataset s;
    if (session_dataset_load(dir, &s, err)) {
        fprintf(stderr, "inception replay: %s\n", err);
        return 1;
    }
    print_loaded(&s, seconds_since(&t0));
    if (s.repaired)
        fprintf(stderr, "replay: %s\n", s.repair_note);
    session_fit_settings set;
    int top, fit_changed;
    replay_sounds snd = {0};
    int status = replay_settings(&s, dir, o, n, &set, &top, &fit_changed, &snd.p);
    if (!status && snd.p && replay_sounds_make(dir, &s.data, &snd, err)) {
        fprintf(stderr, "inception replay: %s\n", err);
        status = 1;
    }
    if (status) {
        replay_sounds_free(&snd);
        session_dataset_free(&s);
        return status;
    }
    fit_curve curve = {0};
    set.fit.user = &curve;
    /* NEWDIR is this process's from here on: not a live session's, not
     * another replay's. */
    session_lock *lock;
    if (session_lock_take(out, 1, &lock, err)) {
        fprintf(stderr, "inception replay: %s\n", err);
        replay_sounds_free(&snd);
        session_dataset_free(&s);
        return 1;
    }
    /* The same settings start where the run's final fit started, and choose
     * targets as it did; otherwise from scratch, for the recorded targets. */
    int fresh = cli_get(o, n, "fresh") != NULL;
    int from_start = s.start_model && !fresh && !fit_changed;
    const char *why = fresh ? "--fresh" : fit_changed ? "fit settings changed"
                                                      : "the record has no start model";
    if (from_start)
        fprintf(stderr, "replay: the fit starts from the recorded background model (%s), "
                "as the run's did\n", SESSION_START_MODEL_FILE);
    else
        fprintf(stderr, "replay: the fit starts from scratch (%s)\n", why);
    const int *targets = from_start || top > 0 ? NULL : s.targets;
    int n_targets = from_start || top > 0 ? 0 : s.n_targets;
    session_fit_result f;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (replay_fit_and_synthesize(&s, &set, from_start, targets, n_targets, &snd, &f, err)) {
        fprintf(stderr, "\ninception replay: %s\n", err);
        free(curve.points);
        replay_sounds_free(&snd);
        session_dataset_free(&s);
        session_lock_release(lock);
        return 1;
    }
    double fit_s = seconds_since(&t1);
    fprintf(stderr, "\n");
    char note[512];
    snprintf(note, sizeof note, "replay of %.200s: seed %llu, %s, %d epochs (best %d), "
             "validation correlation %.4f, %d targets", dir, (unsigned long long)set.fit.seed,
             from_start ? "from the recorded start model" : "from scratch", f.fit.epochs,
             f.fit.best_epoch, f.fit.best_validation_corr, f.n_targets);
    status = write_record(dir, out, &s, &f, &snd, &curve, from_start, note, err);
    free(curve.points);
    if (!status && !cli_get(o, n, "no-report")) {
        report_summary rs;
        status = report_write(out, &rs, err);
    }
    if (status) {
        fprintf(stderr, "inception replay: %s\n", err);
    } else {
        printf("%s: fit %d epochs (best %d), validation correlation %.3f, test correlation to "
               "average %.3f, FEVE %.3f; %d MEIs; %.1f s (%.0f trials/s of fit and "
               "synthesis)\n",
               out, f.fit.epochs, f.fit.best_epoch, f.fit.best_validation_corr,
               f.test_corr_mean, f.test_feve_mean, f.n_targets, seconds_since(&t0),
               (double)s.data.trials / (fit_s > 0 ? fit_s : 1e-9));
    }
    session_fit_result_free(&f);
    replay_sounds_free(&snd);
    session_dataset_free(&s);
    session_lock_release(lock);
    return status;
}

/* The recorded protocol's response window, when it parses: only the first
 * record (session_start) is read. */
static int visit_window(const record_view *v, void *ctx, char *err)
{
    session_stream_options *so = ctx;
    record_session_start start;
    protocol *p = NULL;
    if (v->type == RECORD_SESSION_START && !record_session_start_read(v, &start, err)) {
        if (!protocol_parse(start.protocol_text, start.protocol_size, "record", NULL, &p, err)) {
            so->latency_ns = (int64_t)((double)p->response.latency_ms * 1e6 + 0.5);
            so->window_ns = (int64_t)((double)p->response.duration_ms * 1e6 + 0.5);
            so->sample_rate = p->endpoints.sample_rate;
            protocol_destroy(p);
        }
        free(start.decoded);
    }
    return 1; /* the first record is enough */
}

static void recorded_window(const char *dir, session_stream_options *so)
{
    char err[CONTROLLER_ERR_SIZE];
    session_record_each(dir, visit_window, so, NULL, err);
}

static int replay_stream(const char *dir, const cli_option *o, int n)
{
    session_stream_options so;
    session_stream_options_default(&so);
    recorded_window(dir, &so);
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
