/* session_dataset.c: a session record's natural-image trials rebuilt as the
 * model's dataset (replay), and a dataset written as a session record
 * (import). Which records mark what is in controller.h and RECORD.md
 * ("Tiers and flags"). */
#include "session/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* What one pass over the record collects */

typedef struct image_entry {
    int64_t id;
    size_t offset; /* into the pixel buffer */
} image_entry;

typedef struct schedule_entry {
    int64_t trial, image_id;
    int tier; /* TIER_*, or -1: not a natural trial */
} schedule_entry;

typedef struct trial_entry {
    int64_t trial, image_id, flags;
    size_t offset; /* into the counts buffer */
} trial_entry;

typedef struct collected {
    image_entry *images;
    schedule_entry *schedule;
    trial_entry *trials;
    int n_images, n_schedule, n_trials;
    size_t cap_images, cap_schedule, cap_trials;
    float *pixels, *counts;
    size_t n_pixels, n_counts, cap_pixels, cap_counts;
    int height, width, neurons;
    int *targets, n_targets;
    size_t cap_targets;
    trial_entry *gained; /* `trial_flags` records: flags a trial gained later */
    int n_gained;
    size_t cap_gained;
} collected;

static void collected_free(collected *c)
{
    free(c->images);
    free(c->schedule);
    free(c->trials);
    free(c->pixels);
    free(c->counts);
    free(c->targets);
    free(c->gained);
}

static int tier_of_block(const char *block)
{
    if (!strcmp(block, "train"))
        return TIER_TRAIN;
    if (!strcmp(block, "validation"))
        return TIER_VALIDATION;
    if (!strcmp(block, "test"))
        return TIER_TEST;
    if (!strcmp(block, "unused"))
        return TIER_NONE;
    return -1;
}

static const char *block_of_tier(int tier)
{
    static const char *const names[] = {"train", "validation", "test", "unused"};
    return tier >= 0 && tier <= TIER_NONE ? names[tier] : "unused";
}

static int add_target(collected *c, int neuron)
{
    for (int i = 0; i < c->n_targets; i++)
        if (c->targets[i] == neuron)
            return 0;
    if (grow_array(&c->targets, &c->cap_targets, (size_t)c->n_targets + 1, sizeof(int), 256))
        return 1;
    c->targets[c->n_targets++] = neuron;
    return 0;
}

static int collect_stimulus(collected *c, const record_view *v, char *err)
{
    record_stimulus st;
    if (record_stimulus_read(v, &st, err))
        return 1;
    int status = 0;
    int64_t id = st.stimulus_id, neuron = st.neuron;
    size_t count = (size_t)st.height * (size_t)st.width;
    if (!strcmp(st.kind, STIMULUS_KIND_NAME_MEI) && neuron >= 0 && neuron < (1 << 30)) {
        status = add_target(c, (int)neuron) ? controller_fail(err, "out of memory") : 0;
    } else if (strcmp(st.kind, STIMULUS_KIND_NAME_NATURAL)) {
        status = 0;
    } else if (count == 0) {
        status = controller_fail(err, "stimulus %lld (offset %llu): pixels are not a float32 height "
                                 "× width array", (long long)id, (unsigned long long)v->offset);
    } else if (c->height != 0 && (st.height != c->height || st.width != c->width)) {
        status = controller_fail(err, "stimulus %lld is %d×%d, earlier natural images %d×%d",
                                 (long long)id, st.height, st.width, c->height, c->width);
    } else if (grow_array(&c->images, &c->cap_images, (size_t)c->n_images + 1,
                               sizeof(image_entry), 256) ||
               grow_array(&c->pixels, &c->cap_pixels, c->n_pixels + count, sizeof(float),
                               4096)) {
        status = controller_fail(err, "out of memory for the images");
    } else {
        c->height = st.height;
        c->width = st.width;
        memcpy(c->pixels + c->n_pixels, st.pixels, count * sizeof(float));
        c->images[c->n_images++] = (image_entry){id, c->n_pixels};
        c->n_pixels += count;
    }
    free(st.decoded);
    return status;
}

static int collect_schedule(collected *c, const record_view *v, const char *path, char *err)
{
    record_schedule_entry e;
    if (record_schedule_read(v, &e, err))
        return 1;
    int natural = !strcmp(e.kind, STIMULUS_KIND_NAME_NATURAL);
    int tier = natural ? tier_of_block(e.block) : -1;
    char block[33];
    snprintf(block, sizeof block, "%s", e.block);
    free(e.decoded);
    /* A natural trial of no known tier would drop out of the data unseen. */
    if (natural && tier < 0)
        return controller_fail(err, "%s: schedule record at offset %llu (trial %lld): block '%.32s' is no "
                               "tier (train, validation, test or unused)", path,
                               (unsigned long long)v->offset, (long long)e.trial, block);
    if (grow_array(&c->schedule, &c->cap_schedule, (size_t)c->n_schedule + 1,
                        sizeof(schedule_entry), 256))
        return controller_fail(err, "out of memory for the schedule");
    c->schedule[c->n_schedule++] = (schedule_entry){e.trial, e.image_id, tier};
    return 0;
}

static int collect_trial(collected *c, const record_view *v, char *err)
{
    record_trial t;
    if (record_trial_read(v, &t, err))
        return 1;
    int status = 0;
    size_t count = (size_t)t.neurons;
    if (c->neurons == 0 && c->n_trials == 0)
        c->neurons = t.neurons;
    if (t.neurons != c->neurons)
        status = controller_fail(err, "trial %lld has %d counts, earlier trials %d",
                                 (long long)t.trial, t.neurons, c->neurons);
    else if (grow_array(&c->trials, &c->cap_trials, (size_t)c->n_trials + 1,
                             sizeof(trial_entry), 256) ||
             grow_array(&c->counts, &c->cap_counts, c->n_counts + count, sizeof(float), 4096))
        status = controller_fail(err, "out of memory for the trials");
    if (!status) {
        if (count)
            memcpy(c->counts + c->n_counts, t.counts, count * sizeof(float));
        c->trials[c->n_trials++] = (trial_entry){t.trial, t.image_id, t.flags, c->n_counts};
        c->n_counts += count;
    }
    free(t.decoded);
    return status;
}

/* A trial_flags record (RECORD.md): ORed into its trial's flags once all
 * trial records are in (apply_gained_flags). */
static int collect_trial_flags(collected *c, const record_view *v, char *err)
{
    record_trial_flags tf;
    if (record_trial_flags_read(v, &tf, err))
        return 1; /* names the record's offset and what it lacks */
    free(tf.decoded);
    int64_t trial = tf.trial, flags = tf.flags;
    if (grow_array(&c->gained, &c->cap_gained, (size_t)c->n_gained + 1,
                        sizeof(trial_entry), 16))
        return controller_fail(err, "out of memory for the trial flags");
    c->gained[c->n_gained++] = (trial_entry){trial, -1, flags, 0};
    return 0;
}

static int collect_start(session_dataset *s, const record_view *v, char *err)
{
    if (s->protocol_text)
        return 0; /* a second session_start (never written) changes nothing */
    record_session_start start;
    if (record_session_start_read(v, &start, err))
        return 1;
    snprintf(s->protocol_name, sizeof s->protocol_name, "%s", start.protocol_name);
    if (start.protocol_dir)
        snprintf(s->protocol_dir, sizeof s->protocol_dir, "%s", start.protocol_dir);
    s->protocol_text = malloc(start.protocol_size + 1);
    if (s->protocol_text) {
        memcpy(s->protocol_text, start.protocol_text, start.protocol_size);
        s->protocol_text[start.protocol_size] = 0;
        s->protocol_size = start.protocol_size;
    }
    free(start.decoded);
    return s->protocol_text ? 0 : controller_fail(err, "out of memory for the protocol");
}

/* The last checkpoint of the model the final fit started from. */
static int collect_checkpoint(session_dataset *s, const record_view *v, char *err)
{
    record_checkpoint cp;
    if (record_checkpoint_read(v, &cp, err))
        return 0; /* not the start model's: nothing to collect */
    int status = 0;
    if (!strcmp(cp.file_name, SESSION_START_MODEL_FILE) && cp.model_size > 0) {
        unsigned char *bytes = malloc(cp.model_size);
        if (!bytes) {
            status = controller_fail(err, "out of memory for the start model");
        } else {
            memcpy(bytes, cp.model, cp.model_size);
            free(s->start_model);
            s->start_model = bytes;
            s->start_model_size = cp.model_size;
        }
    }
    free(cp.decoded);
    return status;
}

typedef struct collect_context {
    session_dataset *s;
    collected *c;
    const char *path; /* for messages */
} collect_context;

static int collect_record(const record_view *v, void *ctx, char *err)
{
    collect_context *k = ctx;
    switch (v->type) {
    case RECORD_SESSION_START:
        return collect_start(k->s, v, err);
    case RECORD_STIMULUS:
        return collect_stimulus(k->c, v, err);
    case RECORD_SCHEDULE:
        return collect_schedule(k->c, v, k->path, err);
    case RECORD_TRIAL:
        return collect_trial(k->c, v, err);
    case RECORD_TRIAL_FLAGS:
        return collect_trial_flags(k->c, v, err);
    case RECORD_CHECKPOINT:
        return collect_checkpoint(k->s, v, err);
    }
    return 0;
}

static int collect_all(record_reader *r, const char *path, session_dataset *s, collected *c,
                       char *err)
{
    collect_context k = {s, c, path};
    record_walk walk;
    int status = record_reader_each(r, collect_record, &k, &walk, err);
    s->records = walk.records;
    s->damaged = walk.damaged;
    if (!status && !s->protocol_text)
        status = controller_fail(err, "%s: no session_start record", path);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Matching trials, schedule and images */

static int by_image_id(const void *a, const void *b)
{
    int64_t x = ((const image_entry *)a)->id, y = ((const image_entry *)b)->id;
    return (x > y) - (x < y);
}

static int by_schedule_trial(const void *a, const void *b)
{
    int64_t x = ((const schedule_entry *)a)->trial, y = ((const schedule_entry *)b)->trial;
    return (x > y) - (x < y);
}

/* Ties keep record order (the offset grows with it): the first is kept. */
static int by_trial(const void *a, const void *b)
{
    const trial_entry *x = a, *y = b;
    if (x->trial != y->trial)
        return (x->trial > y->trial) - (x->trial < y->trial);
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Every trial_flags record's bits into its trial's records (c->trials sorted). */
static void apply_gained_flags(collected *c)
{
    for (int g = 0; g < c->n_gained; g++) {
        int lo = 0, hi = c->n_trials; /* the first record of the trial number */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (c->trials[mid].trial < c->gained[g].trial)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int i = lo; i < c->n_trials && c->trials[i].trial == c->gained[g].trial; i++)
            c->trials[i].flags |= c->gained[g].flags;
    }
}

static const image_entry *find_image(const collected *c, int64_t id)
{
    if (!c->n_images)
        return NULL;
    image_entry key = {id, 0};
    return bsearch(&key, c->images, (size_t)c->n_images, sizeof key, by_image_id);
}

static const schedule_entry *find_schedule(const collected *c, int64_t trial)
{
    if (!c->n_schedule)
        return NULL;
    schedule_entry key = {trial, 0, 0};
    return bsearch(&key, c->schedule, (size_t)c->n_schedule, sizeof key, by_schedule_trial);
}

/* Marks which sorted trials become rows (tier >= 0 in *tiers) and counts the rest. */
static int select_rows(const collected *c, session_dataset *s, int *tiers, char *err)
{
    int rows = 0;
    for (int i = 0; i < c->n_trials; i++) {
        const trial_entry *t = &c->trials[i];
        tiers[i] = -1;
        if (i > 0 && c->trials[i - 1].trial == t->trial) {
            s->duplicates++;
            continue;
        }
        const schedule_entry *e = find_schedule(c, t->trial);
        if (!e || e->tier < 0) {
            s->other_trials++;
            continue;
        }
        if (e->image_id != t->image_id)
            return controller_fail(err, "trial %lld: image_id %lld, its schedule says %lld",
                                   (long long)t->trial, (long long)t->image_id, (long long)e->image_id);
        if (t->flags) {
            s->flagged++;
            continue;
        }
        if (!find_image(c, t->image_id))
            return controller_fail(err, "trial %lld: no natural stimulus record for image %lld",
                                   (long long)t->trial, (long long)t->image_id);
        tiers[i] = e->tier;
        rows++;
    }
    return rows == 0 ? controller_fail(err, "no natural-image trials in the record (%d flagged, %d "
                                       "of other blocks)", s->flagged, s->other_trials)
                     : 0;
}

static int build_dataset(const collected *c, session_dataset *s, char *err)
{
    int *tiers = malloc((size_t)(c->n_trials ? c->n_trials : 1) * sizeof(int));
    if (!tiers)
        return controller_fail(err, "out of memory");
    int status = select_rows(c, s, tiers, err);
    int rows = 0;
    for (int i = 0; !status && i < c->n_trials; i++)
        rows += tiers[i] >= 0;
    if (!status && dataset_alloc(&s->data, rows, c->height, c->width, c->neurons))
        status = controller_fail(err, "out of memory for %d trials", rows);
    size_t P = (size_t)c->height * (size_t)c->width, N = (size_t)c->neurons;
    for (int i = 0, k = 0; !status && i < c->n_trials; i++) {
        if (tiers[i] < 0)
            continue;
        const trial_entry *t = &c->trials[i];
        memcpy(s->data.images + (size_t)k * P, c->pixels + find_image(c, t->image_id)->offset,
               P * sizeof(float));
        memcpy(s->data.responses + (size_t)k * N, c->counts + t->offset, N * sizeof(float));
        s->data.tiers[k] = (uint8_t)tiers[i];
        s->data.image_ids[k] = t->image_id;
        k++;
    }
    free(tiers);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Natural images lost to damage */

/* The record, from a file or from memory: read twice when images were lost. */
typedef struct record_source {
    const char *path;
    const void *bytes; /* NULL: read `path` */
    size_t size;
} record_source;

static int open_source(const record_source *src, record_reader **r, char *err)
{
    return src->bytes ? record_reader_open_memory(src->bytes, src->size, r, err)
                      : record_reader_open(src->path, r, err);
}

static int log_image(const record_view *v, void *ctx, char *err)
{
    (void)err;
    session_image_log_add(ctx, v);
    return 0;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The natural images natural schedule records name but no intact stimulus
 * record holds, ascending, distinct; -1 when out of memory. */
static int lost_images(const collected *c, int64_t **ids)
{
    int n = 0;
    *ids = malloc((size_t)(c->n_schedule ? c->n_schedule : 1) * sizeof(int64_t));
    if (!*ids)
        return -1;
    for (int i = 0; i < c->n_schedule; i++)
        if (c->schedule[i].tier >= 0 && !find_image(c, c->schedule[i].image_id))
            (*ids)[n++] = c->schedule[i].image_id;
    if (n)
        qsort(*ids, (size_t)n, sizeof **ids, by_id);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || (*ids)[i] != (*ids)[k - 1])
            (*ids)[k++] = (*ids)[i];
    return k;
}

/* The lost images' pixels: the protocol's natural images made again, up to
 * the highest lost, and checked against every hash the record holds of them
 * (session_natural_images, the path resume takes too). Ids the protocol does
 * not make are left out: their trials then fail by name in select_rows. */
static int remake_images(const record_source *src, const protocol *p, session_dataset *s,
                         const int64_t *lost, int n_lost, char *err)
{
    int count = 0, H, W;
    for (int i = 0; i < n_lost; i++)
        if (lost[i] >= 0 && lost[i] < p->images.train + p->images.test)
            count = (int)lost[i] + 1;
    if (!count)
        return 0;
    if (session_natural_size(p, &H, &W, err))
        return 1;
    size_t P = (size_t)H * (size_t)W;
    session_image_log log;
    session_image_repair rep;
    record_reader *r = NULL;
    float *made = malloc((count ? (size_t)count : 1) * P * sizeof(float));
    s->repaired_ids = malloc((size_t)n_lost * sizeof(int64_t));
    s->repaired_pixels = malloc((size_t)n_lost * P * sizeof(float));
    if (!made || !s->repaired_ids || !s->repaired_pixels) {
        free(made);
        return controller_fail(err, "out of memory for the natural images");
    }
    int status = session_image_log_create(&log, count, err);
    if (!status) {
        status = open_source(src, &r, err) || record_reader_each(r, log_image, &log, NULL, err) ||
                 session_natural_images(p, count, &log, made, &rep, err);
        record_reader_close(r);
    }
    session_image_log_free(&log);
    for (int i = 0; !status && i < n_lost; i++) {
        if (lost[i] < 0 || lost[i] >= count)
            continue;
        s->repaired_ids[s->repaired] = lost[i];
        memcpy(s->repaired_pixels + (size_t)s->repaired * P, made + (size_t)lost[i] * P,
               P * sizeof(float));
        s->repaired++;
    }
    if (!status)
        session_image_repair_note(&rep, p, s->repair_note, sizeof s->repair_note);
    free(made);
    return status;
}

/* Images lost to damage, made again and added as if recorded. A record
 * without damage that lacks an image is malformed, not damaged: its trials
 * fail by name in select_rows. */
static int repair_lost_images(const record_source *src, collected *c, session_dataset *s,
                              char *err)
{
    if (!s->damaged)
        return 0;
    int64_t *lost;
    int n = lost_images(c, &lost);
    if (n <= 0) {
        free(lost);
        return n < 0 ? controller_fail(err, "out of memory for the schedule") : 0;
    }
    protocol *p = NULL;
    char perr[CONTROLLER_ERR_SIZE];
    int status = 0, H = 0, W = 0;
    /* Relative image paths start from the protocol's folder, recorded since
     * session_start has protocol_dir (else the working directory). An audio
     * session's clips are made again the same way (session_natural_stimuli:
     * from the seed, checked against the hashes of their cochleagrams). */
    if (protocol_parse(s->protocol_text, s->protocol_size, "session_start",
                       s->protocol_dir[0] ? s->protocol_dir : NULL, &p, perr) ||
        session_natural_size(p, &H, &W, perr))
        status = controller_fail(err, "image %lld: its stimulus record is lost to damage and the "
                                 "recorded protocol cannot make it again: %s", (long long)lost[0], perr);
    else if (c->height && (H != c->height || W != c->width))
        status = controller_fail(err, "image %lld: its stimulus record is lost to damage and the "
                                 "recorded protocol makes %d×%d images, the record holds %d×%d",
                                 (long long)lost[0], H, W, c->height, c->width);
    status = status || remake_images(src, p, s, lost, n, err);
    size_t P = (size_t)H * (size_t)W;
    if (!status && !c->height) {
        c->height = H;
        c->width = W;
    }
    for (int i = 0; !status && i < s->repaired; i++) {
        if (grow_array(&c->images, &c->cap_images, (size_t)c->n_images + 1,
                            sizeof(image_entry), 256) ||
            grow_array(&c->pixels, &c->cap_pixels, c->n_pixels + P, sizeof(float), 4096)) {
            status = controller_fail(err, "out of memory for the images");
            break;
        }
        memcpy(c->pixels + c->n_pixels, s->repaired_pixels + (size_t)i * P, P * sizeof(float));
        c->images[c->n_images++] = (image_entry){s->repaired_ids[i], c->n_pixels};
        c->n_pixels += P;
    }
    if (!status && s->repaired)
        qsort(c->images, (size_t)c->n_images, sizeof *c->images, by_image_id);
    protocol_destroy(p);
    free(lost);
    return status;
}

static int load_from(const record_source *src, session_dataset *out, char *err)
{
    collected c;
    memset(&c, 0, sizeof c);
    record_reader *r;
    if (open_source(src, &r, err))
        return 1;
    int status = collect_all(r, src->path, out, &c, err);
    record_reader_close(r);
    if (!status) {
        /* qsort and bsearch want a non-NULL array even when it is empty. */
        if (c.n_images)
            qsort(c.images, (size_t)c.n_images, sizeof *c.images, by_image_id);
        if (c.n_schedule)
            qsort(c.schedule, (size_t)c.n_schedule, sizeof *c.schedule, by_schedule_trial);
        if (c.n_trials)
            qsort(c.trials, (size_t)c.n_trials, sizeof *c.trials, by_trial);
        apply_gained_flags(&c);
        status = repair_lost_images(src, &c, out, err) || build_dataset(&c, out, err);
    }
    if (!status) {
        out->targets = c.targets;
        out->n_targets = c.n_targets;
        c.targets = NULL;
    }
    collected_free(&c);
    if (status)
        session_dataset_free(out);
    return status;
}

int session_dataset_load(const char *session_dir, session_dataset *out, char *err)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", session_dir, RECORD_FILE_NAME);
    record_source src = {path, NULL, 0};
    return load_from(&src, out, err);
}

int session_dataset_parse(const void *bytes, size_t size, session_dataset *out, char *err)
{
    memset(out, 0, sizeof *out);
    record_source src = {"record", bytes ? bytes : "", size};
    return load_from(&src, out, err);
}

void session_dataset_free(session_dataset *s)
{
    if (!s)
        return;
    dataset_free(&s->data);
    free(s->protocol_text);
    free(s->targets);
    free(s->start_model);
    free(s->repaired_ids);
    free(s->repaired_pixels);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------ */
/* Import: a dataset as a session record */

#define IMPORT_STIMULUS_MS 500
#define IMPORT_ISI_MS 300
#define IMPORT_REFRESH_HZ 60

/* Distinct image ids among the test trials (quadratic: test sets are small). */
static int distinct_test_images(const dataset *d)
{
    int n = 0;
    for (int t = 0; t < d->trials; t++) {
        if (d->tiers[t] != TIER_TEST)
            continue;
        int seen = 0;
        for (int u = 0; u < t && !seen; u++)
            seen = d->tiers[u] == TIER_TEST && d->image_ids[u] == d->image_ids[t];
        n += !seen;
    }
    return n;
}

char *session_import_protocol(const dataset *d, const char *source, size_t *size)
{
    int train = dataset_count_tier(d, TIER_TRAIN), val = dataset_count_tier(d, TIER_VALIDATION);
    int test_trials = dataset_count_tier(d, TIER_TEST), test = distinct_test_images(d);
    int repeats = test ? (test_trials + test / 2) / test : 2;
    if (repeats < 2)
        repeats = 2;
    size_t cap = 2048 + strlen(source);
    char *text = malloc(cap);
    if (!text)
        return NULL;
    /* images.train counts the single presentations, validation included;
     * test: the distinct test images and their mean repeats (at least 2, the
     * protocol's minimum). Informative only: the record's trials are the data. */
    int n = snprintf(text, cap,
                     "# Imported by `inception import` from %s: not a recorded session.\n"
                     "# The image and tier sizes are the dataset's (test_repeats: the mean);\n"
                     "# display, timing and stream settings are placeholders; model and\n"
                     "# synthesis settings the defaults.\n"
                     "version: 1\n"
                     "name: import\n"
                     "seed: 1\n"
                     "output: sessions/import\n"
                     "timing:\n"
                     "  stimulus_ms: %d\n"
                     "  isi_ms: %d\n"
                     "display:\n"
                     "  mode: offscreen\n"
                     "  refresh_hz: %d\n"
                     "images:\n"
                     "  train: %d\n"
                     "  validation_fraction: %.6f\n"
                     "  test: %d\n"
                     "  test_repeats: %d\n"
                     "  height: %d\n"
                     "  width: %d\n",
                     source, IMPORT_STIMULUS_MS, IMPORT_ISI_MS, IMPORT_REFRESH_HZ,
                     train + val > 0 ? train + val : 1,
                     train + val > 0 ? (double)val / (double)(train + val) : 0.0,
                     test > 0 ? test : 1, repeats, d->height, d->width);
    *size = (size_t)n;
    return text;
}

/* The first trial of each image id: its stimulus record, checking repeats. */
static int import_stimuli(session_record *w, const dataset *d, char *err)
{
    size_t P = (size_t)d->height * (size_t)d->width;
    int64_t *order = malloc((size_t)(d->trials ? d->trials : 1) * sizeof(int64_t));
    if (!order)
        return controller_fail(err, "out of memory");
    for (int t = 0; t < d->trials; t++)
        order[t] = t;
    /* Sort trial indices by (image id, index): repeats sit together. */
    for (int gap = d->trials / 2; gap > 0; gap /= 2)
        for (int i = gap; i < d->trials; i++)
            for (int j = i; j >= gap; j -= gap) {
                int64_t a = order[j - gap], b = order[j];
                if (d->image_ids[a] < d->image_ids[b] ||
                    (d->image_ids[a] == d->image_ids[b] && a < b))
                    break;
                order[j - gap] = b;
                order[j] = a;
            }
    int status = 0;
    for (int i = 0; !status && i < d->trials; i++) {
        int64_t t = order[i];
        const float *px = d->images + (size_t)t * P;
        if (i > 0 && d->image_ids[order[i - 1]] == d->image_ids[t]) {
            if (memcmp(px, d->images + (size_t)order[i - 1] * P, P * sizeof(float)))
                status = controller_fail(err, "trials %lld and %lld share image id %lld but not their "
                                         "pixels", (long long)order[i - 1], (long long)t,
                                         (long long)d->image_ids[t]);
            continue;
        }
        record_stimulus s = {.stimulus_id = d->image_ids[t], .neuron = -1, .kind = STIMULUS_KIND_NAME_NATURAL,
                             .height = d->height, .width = d->width, .pixels = px,
                             .predicted = 0.0};
        status = session_record_stimulus(w, &s, err);
    }
    free(order);
    return status;
}

static int import_trials(session_record *w, const dataset *d, char *err)
{
    const int64_t frames_on = IMPORT_STIMULUS_MS * IMPORT_REFRESH_HZ / 1000;
    const int64_t frames_off = IMPORT_ISI_MS * IMPORT_REFRESH_HZ / 1000;
    const int64_t period_ns = (int64_t)(IMPORT_STIMULUS_MS + IMPORT_ISI_MS) * 1000000;
    for (int t = 0; t < d->trials; t++) {
        record_schedule_entry e = {.trial = t, .block = block_of_tier(d->tiers[t]),
                                   .kind = STIMULUS_KIND_NAME_NATURAL, .image_id = d->image_ids[t],
                                   .target_neuron = -1, .stimulus_frames = frames_on,
                                   .isi_frames = frames_off, .image_sha256 = NULL};
        record_trial r = {.trial = t, .image_id = d->image_ids[t],
                          .onset_ns = (int64_t)(t + 1) * period_ns, .neurons = d->neurons,
                          .counts = d->responses + (size_t)t * (size_t)d->neurons};
        if (session_record_schedule(w, &e, err) || session_record_trial(w, &r, NULL, err))
            return 1;
    }
    return 0;
}

int session_import_dataset(const dataset *d, const char *source, const char *session_dir,
                           char *err)
{
    if (d->trials < 1 || d->neurons < 1 || d->height < 1 || d->width < 1)
        return controller_fail(err, "%s: an empty dataset", source);
    size_t size;
    char *text = session_import_protocol(d, source, &size);
    if (!text)
        return controller_fail(err, "out of memory");
    /* What replay will read back: data its protocol cannot describe (images
     * smaller than the model takes, 2×2 say) is refused now, not after the
     * record is written. */
    protocol *p;
    char why[CONTROLLER_ERR_SIZE];
    if (protocol_parse(text, size, "import", NULL, &p, why)) {
        free(text);
        const char *message = strstr(why, ": ") ? strstr(why, ": ") + 2 : why;
        return controller_fail(err, "%s: %d×%d images, %d neurons: the model cannot take it: %s", source,
                               d->height, d->width, d->neurons, message);
    }
    protocol_destroy(p);
    session_record *w;
    int status = session_record_create(session_dir, "import", text, size, &w, err);
    free(text);
    if (status)
        return 1;
    char note[CONTROLLER_ERR_SIZE + 64];
    snprintf(note, sizeof note, "imported from %.200s: %d trials, %d neurons, %d×%d images",
             source, d->trials, d->neurons, d->height, d->width);
    status = session_record_note(w, note, err) || session_record_phase(w, "natural", "begin", err) ||
             import_stimuli(w, d, err) || import_trials(w, d, err) ||
             session_record_phase(w, "natural", "end", err);
    char cerr[CONTROLLER_ERR_SIZE];
    if (session_record_close(w, status ? cerr : err) && !status)
        status = 1;
    return status;
}

int session_import_folder(const char *dataset_dir, const char *session_dir, int downsample,
                          session_import_summary *out, char *err)
{
    dataset d;
    if (dataset_load(dataset_dir, &d, err))
        return 1;
    int status = downsample > 1 && dataset_downsample(&d, downsample, err);
    status = status || session_import_dataset(&d, dataset_dir, session_dir, err);
    *out = (session_import_summary){d.trials, dataset_count_tier(&d, TIER_TRAIN),
                                    dataset_count_tier(&d, TIER_VALIDATION),
                                    dataset_count_tier(&d, TIER_TEST), d.neurons, d.height,
                                    d.width};
    dataset_free(&d);
    return status;
}
