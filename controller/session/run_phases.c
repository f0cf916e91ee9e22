/* run_phases.c: the model's phases of `inception run`: the recording
 * (natural images shown while the background fit runs), the final fit, the
 * synthesis of the MEIs and their controls, and the closed loop that shows
 * them. Together because they share the protocol's fit and synthesis
 * settings (fit_settings) and the progress callbacks on the run loop. */
#include "acquisition.h"
#include "run_internal.h"
#include "stimulus.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Recording: natural images while the model fits in the background */

static void on_final_epoch(const fit_progress *p, void *user);
static void on_mei_step(const mei_progress *p, void *user);

/* The protocol's fit and synthesis settings (the mapping replay uses too),
 * reporting progress to the run loop. */
static session_fit_settings fit_settings(run_state *s)
{
    session_fit_settings set;
    session_fit_settings_from_protocol(s->p, s->H, s->W, s->N, &set);
    set.fit.progress = on_final_epoch;
    set.fit.user = s;
    set.mei.progress = on_mei_step;
    set.mei.user = s;
    return set;
}

int run_start_fit_worker(run_state *s)
{
    session_fit_settings set = fit_settings(s);
    set.fit.progress = NULL; /* the worker's own thread: no run-loop callbacks */
    set.fit.user = NULL;
    set.fit.threads = run_sched_fit_threads(&s->sched, set.fit.threads);
    return fit_worker_create(&s->fit, &set.model, &set.fit, 2, &s->sched, s->err);
}

/* The natural images (audio: clips and their cochleagrams), their tiers and
 * their shuffled schedule, all from the seed (session_natural_stimuli). A
 * resume gives the images (and clips) it made and checked already, and what
 * the record holds: only those without an intact stimulus record are
 * recorded (again). */
int run_record_natural_images(run_state *s, int64_t **schedule, int *count,
                              const float *made, const float *made_clips,
                              const session_image_log *recorded)
{
    const protocol_images *im = &s->p->images;
    int n_images = im->train + im->test;
    assert(!made || !s->audio || made_clips); /* a resume's clips come with its images */
    float *own = made ? NULL : malloc((size_t)n_images * (size_t)s->P * sizeof(float));
    float *own_clips = s->audio && !made
                           ? malloc((size_t)n_images * (size_t)s->S * sizeof(float)) : NULL;
    const float *pixels = made ? made : own;
    const float *clips = made ? made_clips : own_clips;
    int64_t *order = malloc(((size_t)im->train + (size_t)im->test * (size_t)im->test_repeats) *
                            sizeof(int64_t));
    int status = 1;
    if (!pixels || !order || (s->audio && !clips)) {
        run_fail(s, "out of memory for %s", "the natural images");
        goto done;
    }
    if (own && session_natural_stimuli(s->p, n_images, NULL, own, own_clips, NULL, s->err))
        goto done;
    /* Validation images: a seeded random share of the training set. */
    model_rng rng;
    uint8_t *tier_of = malloc((size_t)(n_images ? n_images : 1));
    if (!tier_of || session_natural_tiers(s->p, tier_of, &rng, s->err)) {
        if (!tier_of)
            run_fail(s, "out of memory for %s", "the tiers");
        free(tier_of);
        goto done;
    }
    int k = 0, bad = 0;
    for (int i = 0; i < n_images && !bad; i++) {
        int tier = tier_of[i], id;
        bad = run_image_add(s, pixels + (size_t)i * (size_t)s->P,
                        clips ? clips + (size_t)i * (size_t)s->S : NULL, -1, -1, tier, &id);
        bad = bad || (!session_image_recorded(recorded, id) &&
                      run_record_shown(s, id, -1, STIMULUS_KIND_NAME_NATURAL, NAN));
        for (int r = 0; !bad && r < (tier == TIER_TEST ? im->test_repeats : 1); r++)
            order[k++] = id;
    }
    free(tier_of);
    if (bad)
        goto done;
    model_rng_shuffle_i64(&rng, order, k);
    *schedule = order;
    *count = k;
    order = NULL;
    status = 0;
done:
    free(own);
    free(own_clips);
    free(order);
    return status;
}

/* `source: photos` falls back to synthetic images where no photographs are
 * installed: said on the terminal and in the record, never silently. */
static int note_photo_source(run_state *s)
{
    if (s->p->images.source != PROTOCOL_IMAGES_PHOTOS)
        return 0;
    const char *folder = photo_default_folder();
    char note[PROTOCOL_STRING_SIZE + 160];
    if (folder)
        snprintf(note, sizeof note, "natural images: patches of the photographs in %s", folder);
    else
        snprintf(note, sizeof note, "natural images: synthetic (no photographs installed; "
                                    "apt-get install python3-skimage, or images: {source: "
                                    "folder})");
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

/* Audio: the clips and their level, in dB SPL where the protocol gives a
 * calibration (sounds.spl_at_0dbfs), said on the terminal and in the record. */
static int note_sounds(run_state *s)
{
    if (!s->audio)
        return 0;
    const protocol_sounds *ps = &s->p->sounds;
    char level[96], note[640 + PROTOCOL_STRING_SIZE], source[PROTOCOL_STRING_SIZE + 32];
    if (ps->source == PROTOCOL_SOUNDS_FOLDER)
        snprintf(source, sizeof source, "the sound files of %s", ps->path);
    else
        snprintf(source, sizeof source, "synthetic");
    if (ps->spl_at_0dbfs > 0)
        snprintf(level, sizeof level, "%.1f dB SPL by the protocol's calibration (0 dBFS = "
                 "%.1f dB SPL)", (double)(ps->rms_dbfs + ps->spl_at_0dbfs),
                 (double)ps->spl_at_0dbfs);
    else
        snprintf(level, sizeof level, "dB SPL unknown (no calibration: sounds.spl_at_0dbfs)");
    const char *driver = getenv("SDL_AUDIODRIVER");
    snprintf(note, sizeof note, "natural clips: %s, %d samples (%.1f ms) at %d Hz, "
             "RMS %.1f dBFS = %s; cochleagrams of %d bands x %d frames; the display stays "
             "blank and the photodiode patch flips at each onset; audio driver %s%s", source, s->S,
             1000.0 * s->S / ps->rate, ps->rate, (double)ps->rms_dbfs, level, s->H, s->W,
             driver ? driver : "SDL's choice",
             driver && !strcmp(driver, "dummy") ? " (plays to no device: SDL_AUDIODRIVER=alsa "
                                                  "or pulseaudio on a rig)" : "");
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

int run_phase_recording(run_state *s)
{
    int64_t *schedule = NULL;
    int count = 0;
    if (run_phase(s, "recording", "begin") || note_photo_source(s) || note_sounds(s) ||
        run_record_natural_images(s, &schedule, &count, NULL, NULL, NULL))
        return 1;
    int status = run_block(s, "recording", schedule, count, 1);
    free(schedule);
    return status || run_phase(s, "recording", "end");
}

/* ------------------------------------------------------------------------ */
/* Fit: to convergence, from the background fit's model */

static void on_final_epoch(const fit_progress *p, void *user)
{
    run_state *s = user;
    s->st.validation_corr = p->validation_corr;
    s->st.fit_rounds = p->epoch;
    record_fit_round point = {"final", p->epoch, 0, p->train_loss, p->validation_corr};
    if (!s->fit_curve_failed && session_record_fit_round(s->rec, &point, s->err))
        s->fit_curve_failed = 1; /* s->err says why; the fit's caller fails on it */
    run_catch_up(s);
    run_progress(s, NULL, 0);
}

/* The natural trials as the record holds them (the order and contents a
 * replay rebuilds), and the model the final fit starts from. */
int run_load_recorded_data(run_state *s, session_dataset *sd)
{
    if (session_record_sync(s->rec, s->err) || session_dataset_load(s->dir, sd, s->err))
        return 1;
    if (s->data.images)
        dataset_free(&s->data);
    s->data = sd->data;
    memset(&sd->data, 0, sizeof sd->data);
    return 0;
}

/* The background fit's model, recorded as the final fit's starting point. */
static int record_start_model(run_state *s, model *warm)
{
    char path[PROTOCOL_STRING_SIZE + 32], err[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", s->dir, SESSION_START_MODEL_FILE);
    if (model_set_writer(warm, inception_version_string(), err) || model_save(warm, path, err))
        return run_fail(s, "%s", err);
    return session_record_checkpoint(s->rec, path, -1, NAN, s->err);
}

/* The worker stopped: its model recorded, its trials dropped (the record has them). */
static int finish_background_fit(run_state *s)
{
    int rounds;
    double corr;
    model *warm = NULL;
    dataset trials;
    if (fit_worker_finish(s->fit, &warm, &trials, s->err))
        return 1;
    /* After the join: a round that ended while the worker was being stopped
     * is counted, as its history (below) holds it. */
    fit_worker_status(s->fit, &rounds, &corr);
    /* Its learning curve, round by round (the report's figure). */
    fit_worker_round r;
    int curve_failed = 0;
    for (int i = 0; !curve_failed && !fit_worker_round_at(s->fit, i, &r); i++) {
        record_fit_round point = {"background", r.round, r.trials, r.train_loss,
                                  r.validation_corr};
        curve_failed = session_record_fit_round(s->rec, &point, s->err);
    }
    int fitted = trials.trials; /* unflagged natural trials only (complete_trial) */
    dataset_free(&trials);
    fit_worker_destroy(s->fit);
    s->fit = NULL;
    int status = curve_failed || (warm && record_start_model(s, warm));
    model_destroy(warm);
    char note[256];
    snprintf(note, sizeof note, "background fit: %d trials, %d rounds during the recording, "
             "validation correlation %.3f when it ended", fitted, rounds, corr);
    run_progress(s, note, 1);
    return status || session_record_note(s->rec, note, s->err);
}

/* model.file: a model fitted elsewhere (e.g. in PyTorch from an earlier session's arrays)
 * takes the final fit's place: checked against this session's images and neurons, evaluated
 * on its test trials and recorded as model.bin like a fitted one. */
static int adopt_model_file(run_state *s)
{
    char err[MODEL_ERR_SIZE];
    model *m;
    if (model_load(&m, s->p->model.file, err))
        return run_fail(s, "model.file: %s", err);
    const model_config *c = model_get_config(m);
    if (c->height != s->data.height || c->width != s->data.width ||
        c->neurons != s->data.neurons) {
        snprintf(s->err, CONTROLLER_ERR_SIZE, "model.file %.300s: a model of %d×%d images and "
                 "%d neurons; this session has %d×%d and %d", s->p->model.file, c->height,
                 c->width, c->neurons, s->data.height, s->data.width, s->data.neurons);
        model_destroy(m);
        return 1;
    }
    model_set_threads(m, s->p->model.threads);
    char note[PROTOCOL_STRING_SIZE + 64];
    snprintf(note, sizeof note, "final fit: none, the model is model.file %s", s->p->model.file);
    run_progress(s, note, 1);
    /* Adopted first: session_fit_adopt owns m from here on, even when it fails. */
    return session_fit_adopt(&s->data, m, &s->fr, s->err) ||
           session_record_note(s->rec, note, s->err);
}

int run_phase_fit(run_state *s)
{
    if (run_phase(s, "fit", "begin"))
        return 1;
    if (!s->fit)
        return run_fail(s, "no trial completed during %s", "the recording");
    session_dataset sd;
    if (finish_background_fit(s) || run_load_recorded_data(s, &sd))
        return 1;
    int status;
    if (s->p->model.file[0]) {
        status = adopt_model_file(s);
    } else {
        session_fit_settings set = fit_settings(s);
        status = session_fit_model(&s->data, &set, sd.start_model, sd.start_model_size, &s->fr,
                                   s->err);
    }
    session_dataset_free(&sd);
    if (status || s->fit_curve_failed ||
        session_fit_record_model(s->rec, s->dir, &s->data, &s->fr, s->err))
        return 1;
    s->res->test_feve = s->fr.test_feve_summary;
    s->res->test_corr_mean = s->fr.test_corr_mean;
    char note[256];
    snprintf(note, sizeof note, "final fit: %d epochs (best %d), validation correlation %.3f; "
             "test FEVE %.3f, correlation to average %.3f%s", s->fr.fit.epochs,
             s->fr.fit.best_epoch, s->fr.fit.best_validation_corr, s->res->test_feve.mean,
             s->res->test_corr_mean,
             s->fr.n_models > 1 ? " (test: the ensemble's mean prediction)" : "");
    if (s->fr.n_models > 1) {
        char more[64];
        snprintf(more, sizeof more, "; an ensemble of %d models (seeds seed..seed+%d)",
                 s->fr.n_models, s->fr.n_models - 1);
        strncat(note, more, sizeof note - strlen(note) - 1);
    }
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err) || run_phase(s, "fit", "end");
}

/* ------------------------------------------------------------------------ */
/* Targets and synthesis */

static void on_mei_step(const mei_progress *p, void *user)
{
    run_state *s = user;
    s->st.mei_step = p->step;
    s->st.mei_steps = p->steps;
    s->st.mei_active = p->active;
    s->st.mei_images = p->images;
    run_catch_up(s);
    run_progress(s, NULL, 0);
}

/* The targets and budget of the shared synthesis, where the closed loop and
 * the evaluation read them. */
static int adopt_targets(run_state *s)
{
    s->n_targets = s->fr.n_targets;
    s->targets = malloc((size_t)(s->n_targets ? s->n_targets : 1) * sizeof(int));
    if (!s->targets)
        return run_fail(s, "out of memory for %s", "the targets");
    memcpy(s->targets, s->fr.targets, (size_t)s->n_targets * sizeof(int));
    s->budget = s->fr.budget;
    s->res->targets = s->n_targets;
    return 0;
}

/* Every MEI and control (and the target patterns' images and controls, after
 * every target's): recorded as a stimulus and loaded into the presenter. */
static int add_closed_loop_images(run_state *s, int64_t **ids_out, int *count_out)
{
    const session_fit_result *r = &s->fr;
    int n = s->n_targets, P = s->P, k = 0;
    int64_t *ids = malloc(((size_t)n * (size_t)r->n_kinds + 2 * (size_t)r->n_patterns + 1) *
                          sizeof(int64_t));
    if (!ids)
        return run_fail(s, "out of memory for %s", "the closed-loop stimuli");
    for (int j = 0; j < n; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) { /* in kind order: the stimulus ids */
            for (int i = 0; i < r->slots[kind]; i++) { /* 1, the diverse set's size */
                size_t slot = session_fit_slot_at(r, j, kind, i);
                int id;
                if (!r->present[slot])
                    continue;
                const float *x = r->stimuli + (size_t)slot * P;
                const float *clip = s->audio ? s->made_clips + (size_t)slot * s->S : NULL;
                if (run_image_add(s, x, clip, kind, s->targets[j], TIER_NONE, &id) ||
                    run_record_shown(s, id, s->targets[j], stimulus_kind_name(kind),
                                     r->predicted[slot])) {
                    free(ids);
                    return 1;
                }
                ids[k++] = id;
            }
        }
    if (run_patterns_add_images(s, ids, &k)) {
        free(ids);
        return 1;
    }
    *ids_out = ids;
    *count_out = k;
    return 0;
}

int run_phase_synthesis(run_state *s, int64_t **ids, int *count)
{
    if (run_phase(s, "synthesis", "begin"))
        return 1;
    session_fit_settings set = fit_settings(s);
    const image_table *t = &s->images;
    if ((s->audio ? session_sound_synthesize(s->p, &s->data, &set, NULL, 0, t->clips, t->pixels,
                                             t->tier, t->count, &s->fr, &s->made_clips, s->err)
                  : session_fit_synthesize(&s->data, &set, NULL, 0, &s->fr, s->err)) ||
        session_fit_record_targets(s->rec, &s->data, &s->fr, s->err) || adopt_targets(s))
        return 1;
    if (s->n_targets == 0)
        return run_fail(s, "no neuron reached the minimum validation correlation %s",
                    "(targets.min_correlation)");
    return add_closed_loop_images(s, ids, count) || run_phase(s, "synthesis", "end");
}

/* Every stimulus `repeats` times, shuffled from the seed: NULL when out of memory. */
int64_t *run_closed_loop_order(run_state *s, const int64_t *stimuli, int count, int *total)
{
    int repeats = s->p->closed_loop.repeats;
    *total = count * repeats;
    int64_t *order = malloc((size_t)(*total ? *total : 1) * sizeof(int64_t));
    if (!order)
        return NULL;
    for (int r = 0; r < repeats; r++)
        memcpy(order + (size_t)r * count, stimuli, (size_t)count * sizeof(int64_t));
    model_rng rng;
    model_rng_seed(&rng, s->p->seed ^ 0x636c6f736564ull);
    model_rng_shuffle_i64(&rng, order, *total);
    return order;
}

int run_phase_closed_loop(run_state *s, const int64_t *stimuli, int count)
{
    int total;
    int64_t *order = run_closed_loop_order(s, stimuli, count, &total);
    if (!order)
        return run_fail(s, "out of memory for %s", "the closed-loop schedule");
    int status = run_phase(s, "closed_loop", "begin") ||
                 run_block(s, "closed_loop", order, total, 0) || run_phase(s, "closed_loop", "end");
    free(order);
    return status;
}
