/* session_replay.c: `inception replay`'s offline form as a library call
 * (session.h, "Offline replay"): the record's trials rebuilt
 * (session_data.c), the fit and synthesis that `inception run` takes
 * (session_fit.c, session_sounds.c), and the new record: the original's
 * observations copied, then what the fit records. */
#include "controller.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* The final fit's learning curve, kept until the new record is written
 * (after the fit): one point per epoch, as `inception run` records them. */
typedef struct fit_curve {
    record_fit_round *points;
    int count, failed;
    size_t capacity;
} fit_curve;

/* The fit's and synthesis' progress callbacks' context: the curve kept, the
 * caller's event callback told. */
typedef struct replay_progress {
    fit_curve curve;
    session_replay_event_fn on_event;
    void *user;
} replay_progress;

static void tell(const replay_progress *r, const session_replay_event *e)
{
    if (r->on_event)
        r->on_event(e, r->user);
}

static void on_epoch(const fit_progress *p, void *user)
{
    replay_progress *r = user;
    fit_curve *curve = &r->curve;
    if (!curve->failed && grow_array(&curve->points, &curve->capacity,
                                          (size_t)curve->count + 1, sizeof *curve->points, 64))
        curve->failed = 1;
    if ((size_t)curve->count < curve->capacity)
        curve->points[curve->count++] =
            (record_fit_round){"final", p->epoch, 0, p->train_loss, p->validation_corr};
    tell(r, &(session_replay_event){.stage = SESSION_REPLAY_EPOCH, .epoch = p});
}

static void on_mei_step(const mei_progress *p, void *user)
{
    tell(user, &(session_replay_event){.stage = SESSION_REPLAY_MEI_STEP, .mei_step = p});
}

/* The overrides over the protocol's settings; *fit_changed says whether one
 * of them changes the fit (then it starts from scratch). */
static void apply_overrides(const session_replay_settings *o, session_fit_settings *s,
                            int *fit_changed)
{
    *fit_changed = o->seed_given || o->epochs || o->channels || o->batch_size ||
                   o->patience || o->threads || o->learning_rate != 0.0f;
    uint64_t seed = o->seed_given ? o->seed : s->fit.seed;
    int threads = o->threads ? o->threads : s->fit.threads;
    if (o->epochs)
        s->fit.max_epochs = o->epochs;
    if (o->channels)
        s->model.channels = o->channels;
    if (o->batch_size)
        s->fit.batch_size = o->batch_size;
    if (o->patience)
        s->fit.patience = o->patience;
    if (o->learning_rate != 0.0f)
        s->fit.learning_rate = o->learning_rate;
    if (o->mei_steps)
        s->mei.steps = o->mei_steps;
    if (o->starts)
        s->mei.starts = o->starts;
    s->model.seed = s->fit.seed = s->mei.seed = s->control_seed = seed;
    s->fit.threads = s->mei.threads = threads;
    if (o->targets > 0)
        s->target_count = o->targets;
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
    return fclose(t) ? controller_fail(err, "%s: write failed", path) : 0;
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

/* The recorded protocol's settings with the overrides. An audio session's
 * protocol is kept in *audio (its synthesis reads the protocol: mei_steps
 * and starts go into it), an image session's NULL. */
static int replay_settings(const session_dataset *s, const char *dir,
                           const session_replay_settings *o, session_fit_settings *set,
                           int *fit_changed, protocol **audio, char *err)
{
    *audio = NULL;
    protocol *p = NULL;
    char file[4200], perr[CONTROLLER_ERR_SIZE];
    snprintf(file, sizeof file, "%s/%s (protocol)", dir, RECORD_FILE_NAME);
    if (protocol_parse(s->protocol_text, s->protocol_size, file, NULL, &p, perr))
        return controller_fail(err, "the recorded protocol: %s", perr);
    /* An audio session's clips are cut from its sound files again: their
     * folder, when relative, starts from the protocol file's (recorded)
     * folder, as for `inception resume`, not from this working directory. */
    if (p->modality == PROTOCOL_MODALITY_AUDIO && p->sounds.source == PROTOCOL_SOUNDS_FOLDER &&
        s->protocol_dir[0]) {
        protocol_destroy(p);
        p = NULL;
        if (protocol_parse(s->protocol_text, s->protocol_size, file, s->protocol_dir, &p, perr))
            return controller_fail(err, "the recorded protocol: %s", perr);
    }
    session_fit_settings_from_protocol(p, s->data.height, s->data.width, s->data.neurons, set);
    apply_overrides(o, set, fit_changed);
    if (p->modality == PROTOCOL_MODALITY_AUDIO) {
        p->mei.steps = set->mei.steps;
        p->mei.starts = set->mei.starts;
        *audio = p;
    } else {
        protocol_destroy(p);
    }
    set->fit.progress = on_epoch; /* set->fit.user, set->mei.user: the replay_progress */
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

/* From the loaded record on: settings, sounds, the lock, the fit, the new
 * record and the report. */
static int replay_loaded(const char *dir, const session_dataset *s,
                         const session_replay_settings *o, replay_progress *progress,
                         session_replay_result *result, char *err)
{
    const char *out = o->out_dir;
    session_fit_settings set;
    int fit_changed = 0;
    replay_sounds snd = {0};
    if (replay_settings(s, dir, o, &set, &fit_changed, &snd.p, err) ||
        (snd.p && replay_sounds_make(dir, &s->data, &snd, err))) {
        replay_sounds_free(&snd);
        return 1;
    }
    set.fit.user = set.mei.user = progress;
    /* NEWDIR is this process's from here on: not a live session's, not
     * another replay's. */
    session_lock *lock;
    if (session_lock_take(out, 1, &lock, err)) {
        replay_sounds_free(&snd);
        return 1;
    }
    /* The same settings start where the run's final fit started, and choose
     * targets as it did; otherwise from scratch, for the recorded targets. */
    int from_start = s->start_model && !o->fresh && !fit_changed;
    tell(progress, &(session_replay_event){.stage = SESSION_REPLAY_FIT_START,
                                           .from_start = from_start, .fresh = o->fresh,
                                           .fit_changed = fit_changed});
    int top = o->targets;
    const int *targets = from_start || top > 0 ? NULL : s->targets;
    int n_targets = from_start || top > 0 ? 0 : s->n_targets;
    session_fit_result f;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (replay_fit_and_synthesize(s, &set, from_start, targets, n_targets, &snd, &f, err)) {
        replay_sounds_free(&snd);
        session_lock_release(lock);
        return 1;
    }
    double fit_s = seconds_since(&t1);
    tell(progress, &(session_replay_event){.stage = SESSION_REPLAY_FITTED});
    char note[512];
    snprintf(note, sizeof note, "replay of %.200s: seed %llu, %s, %d epochs (best %d), "
             "validation correlation %.4f, %d targets", dir, (unsigned long long)set.fit.seed,
             from_start ? "from the recorded start model" : "from scratch", f.fit.epochs,
             f.fit.best_epoch, f.fit.best_validation_corr, f.n_targets);
    int status = write_record(dir, out, s, &f, &snd, &progress->curve, from_start, note, err);
    if (!status && !o->no_report) {
        report_summary rs;
        status = report_write(out, &rs, err);
    }
    *result = (session_replay_result){.fit = f.fit, .test_corr_mean = f.test_corr_mean,
                                      .n_targets = f.n_targets, .trials = s->data.trials,
                                      .fit_seconds = fit_s};
    result->test_feve = f.test_feve_summary;
    session_fit_result_free(&f);
    replay_sounds_free(&snd);
    session_lock_release(lock);
    return status;
}

int session_replay_offline(const char *session_dir, const session_replay_settings *settings,
                           session_replay_event_fn on_event, void *user,
                           session_replay_result *result, char *err)
{
    assert(settings->out_dir);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    session_dataset s;
    if (session_dataset_load(session_dir, &s, err))
        return 1;
    replay_progress progress = {.on_event = on_event, .user = user};
    tell(&progress, &(session_replay_event){.stage = SESSION_REPLAY_LOADED, .loaded = &s,
                                            .seconds = seconds_since(&t0)});
    int status = replay_loaded(session_dir, &s, settings, &progress, result, err);
    result->seconds = seconds_since(&t0);
    free(progress.curve.points);
    session_dataset_free(&s);
    return status;
}
