/* record_schema.c: one table per record type (record.h, "Typed records"),
 * driving both directions: record_encode writes a struct's fields in the
 * table's order, record_decode reads a record's fields back into the struct.
 * The tables are the schema; RECORD.md describes every field of them
 * (tests/test_record.c checks both ways).
 *
 * A table row names a field, its dtype on disk, where its value (or the
 * pointer to its data, and the int members holding its shape) lies in the
 * struct, and when it is written: always, when a member is set (a pointer
 * not NULL or an int not 0: the fields other writers or older records do
 * not have), or a scalar only when not 0. Fields are written in table
 * order, so the bytes of every record are what the hand-written writers
 * wrote before the tables (tests/test_record.c compares them). */
#include "controller.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO RECORD_NO_MEMBER
#define AT(st, m) offsetof(st, m)

/* The general row, and the shorthands the tables use. */
#define SPEC(n, dt, nd, wr, opt, member, s0, s1, when, wptr, sets, fixed) \
    {n, dt, nd, wr, opt, member, {s0, s1}, when, wptr, sets, fixed}
/* A scalar every writer writes and every reader needs. */
#define REQ(st, m, n, dt) SPEC(n, dt, 0, RECORD_WRITE_ALWAYS, 0, AT(st, m), NO, NO, NO, 0, 0, 0)
/* A scalar always written now, absent from older records: `flag` says which. */
#define NEWER(st, m, n, dt, flag) \
    SPEC(n, dt, 0, RECORD_WRITE_ALWAYS, 1, AT(st, m), NO, NO, AT(st, flag), 0, 1, 0)
/* A scalar written when the int `flag` is set (read: sets it when `sets`). */
#define IF_FLAG(st, m, n, dt, flag, sets) \
    SPEC(n, dt, 0, RECORD_WRITE_IF, 1, AT(st, m), NO, NO, AT(st, flag), 0, sets, 0)
/* A scalar written when the pointer member `ptr` is set. */
#define IF_PTR(st, m, n, dt, ptr) \
    SPEC(n, dt, 0, RECORD_WRITE_IF, 1, AT(st, m), NO, NO, AT(st, ptr), 1, 0, 0)
#define NONZERO(st, m, n, dt) SPEC(n, dt, 0, RECORD_WRITE_NONZERO, 1, AT(st, m), NO, NO, NO, 0, 0, 0)
/* Text: always written (NULL as ""), or written when set. */
#define TEXT(st, m, n) SPEC(n, 's', 1, RECORD_WRITE_ALWAYS, 0, AT(st, m), NO, NO, NO, 0, 0, 0)
#define TEXT_NEWER(st, m, n) SPEC(n, 's', 1, RECORD_WRITE_ALWAYS, 1, AT(st, m), NO, NO, NO, 0, 0, 0)
#define TEXT_IF(st, m, n) SPEC(n, 's', 1, RECORD_WRITE_IF, 1, AT(st, m), NO, NO, NO, 0, 0, 0)
#define TEXT_IF_FLAG(st, m, n, flag) \
    SPEC(n, 's', 1, RECORD_WRITE_IF, 1, AT(st, m), NO, NO, AT(st, flag), 0, 0, 0)
#define BYTES(st, m, n, size) \
    SPEC(n, 'b', 1, RECORD_WRITE_ALWAYS, 0, AT(st, m), AT(st, size), NO, NO, 0, 0, 0)
#define DIGEST_IF(st, m, n) \
    SPEC(n, 'b', 1, RECORD_WRITE_IF, 1, AT(st, m), NO, NO, NO, 0, 0, RECORD_SHA256_SIZE)
/* Arrays: shape from int members. */
#define ARRAY(st, m, n, dt, s0) \
    SPEC(n, dt, 1, RECORD_WRITE_ALWAYS, 0, AT(st, m), AT(st, s0), NO, NO, 0, 0, 0)
#define ARRAY_IF(st, m, n, dt, s0) \
    SPEC(n, dt, 1, RECORD_WRITE_IF, 1, AT(st, m), AT(st, s0), NO, NO, 0, 0, 0)
#define IMAGE(st, m, n, s0, s1) \
    SPEC(n, 'f', 2, RECORD_WRITE_ALWAYS, 0, AT(st, m), AT(st, s0), AT(st, s1), NO, 0, 0, 0)

#define COUNT(table) ((int)(sizeof table / sizeof table[0]))

typedef record_session_start S0;
static const record_field_spec session_start_fields[] = {
    REQ(S0, format_version, "format_version", 'q'),
    TEXT(S0, protocol_name, "protocol_name"),
    REQ(S0, unix_ns, "unix_ns", 'Q'),
    BYTES(S0, protocol_text, "protocol_text", protocol_size),
    TEXT_NEWER(S0, inception_version, "inception_version"),
    TEXT_IF(S0, protocol_dir, "protocol_dir"),
    TEXT_IF(S0, images_path, "images_path"),
    TEXT_IF(S0, gamma_file, "gamma_file"),
};

typedef record_phase S1;
static const record_field_spec phase_fields[] = {
    TEXT(S1, phase, "phase"),
    TEXT(S1, event, "event"),
    REQ(S1, unix_ns, "unix_ns", 'Q'),
};

typedef record_schedule_entry S2;
static const record_field_spec schedule_fields[] = {
    REQ(S2, trial, "trial", 'q'),
    TEXT(S2, block, "block"),
    TEXT(S2, kind, "kind"),
    REQ(S2, image_id, "image_id", 'q'),
    REQ(S2, target_neuron, "target_neuron", 'q'),
    REQ(S2, stimulus_frames, "stimulus_frames", 'q'),
    REQ(S2, isi_frames, "isi_frames", 'q'),
    DIGEST_IF(S2, image_sha256, "image_sha256"),
};

typedef record_flip_event S3;
static const record_field_spec flip_fields[] = {
    REQ(S3, trial, "trial", 'q'),
    REQ(S3, frame, "frame", 'q'),
    REQ(S3, flip_ns, "flip_ns", 'q'),
    REQ(S3, onset_ns, "onset_ns", 'q'),
    REQ(S3, missed, "missed", 'q'),
    REQ(S3, photodiode, "photodiode", 'q'),
    NEWER(S3, onset, "onset", 'q', has_onset),
};

typedef record_stream_message S4;
static const record_field_spec stream_fields[] = {
    REQ(S4, message_num, "message_num", 'q'),
    TEXT(S4, kind, "kind"),
    REQ(S4, sample_num, "sample_num", 'q'),
    REQ(S4, num_samples, "num_samples", 'q'),
    REQ(S4, timestamp_ms, "timestamp_ms", 'q'),
    REQ(S4, received_ns, "received_ns", 'q'),
    REQ(S4, lost, "lost", 'q'),
    REQ(S4, data_size, "data_size", 'q'),
    IF_PTR(S4, bin_width_ns, "bin_width_ns", 'q', counts),
    ARRAY_IF(S4, counts, "counts", 'f', units),
    NONZERO(S4, clock_reset, "clock_reset", 'q'),
};

typedef record_sync_event S5;
static const record_field_spec sync_fields[] = {
    REQ(S5, line, "line", 'q'),
    REQ(S5, state, "state", 'q'),
    REQ(S5, sample_num, "sample_num", 'q'),
    REQ(S5, received_ns, "received_ns", 'q'),
    REQ(S5, trial, "trial", 'q'),
};

typedef record_alignment S6;
static const record_field_spec alignment_fields[] = {
    REQ(S6, slope_ns_per_sample, "slope_ns_per_sample", 'd'),
    REQ(S6, offset_ns, "offset_ns", 'd'),
    REQ(S6, residual_rms_ns, "residual_rms_ns", 'd'),
    REQ(S6, residual_max_ns, "residual_max_ns", 'd'),
    REQ(S6, points, "points", 'q'),
    NEWER(S6, display_ref_ns, "display_ref_ns", 'q', has_reference),
    NEWER(S6, acquisition_ref_ns, "acquisition_ref_ns", 'q', has_reference),
};

typedef record_trial S7;
static const record_field_spec trial_fields[] = {
    REQ(S7, trial, "trial", 'q'),
    REQ(S7, image_id, "image_id", 'q'),
    REQ(S7, onset_ns, "onset_ns", 'q'),
    ARRAY(S7, counts, "counts", 'f', neurons),
    IF_FLAG(S7, flags, "flags", 'q', has_run, 0),
    IF_FLAG(S7, onset_acq_ns, "onset_acq_ns", 'q', has_run, 1),
    IF_FLAG(S7, sync_edge_ns, "sync_edge_ns", 'q', has_run, 0),
    IF_FLAG(S7, bins, "bins", 'q', has_run, 0),
    IF_FLAG(S7, onset_received_ns, "onset_received_ns", 'q', has_onset_received, 1),
    TEXT_IF_FLAG(S7, block, "block", has_run),
    IF_FLAG(S7, sound_onset_sample, "sound_onset_sample", 'q', has_sound, 1),
};

typedef record_checkpoint S8;
static const record_field_spec checkpoint_fields[] = {
    TEXT(S8, file_name, "file_name"),
    REQ(S8, epoch, "epoch", 'q'),
    REQ(S8, validation_corr, "validation_corr", 'd'),
    BYTES(S8, model, "model", model_size),
};

typedef record_stimulus S9;
static const record_field_spec stimulus_fields[] = {
    REQ(S9, stimulus_id, "stimulus_id", 'q'),
    REQ(S9, neuron, "neuron", 'q'),
    TEXT(S9, kind, "kind"),
    REQ(S9, predicted, "predicted", 'd'),
    IMAGE(S9, pixels, "pixels", height, width),
    DIGEST_IF(S9, pixels_sha256, "pixels_sha256"),
    ARRAY_IF(S9, samples, "samples", 'f', sample_count),
    IF_PTR(S9, sample_rate, "sample_rate", 'q', samples),
    ARRAY_IF(S9, pattern_target, "pattern_target", 'f', pattern_k),
    IF_PTR(S9, pattern, "pattern", 'q', pattern_target),
};

typedef record_evaluation S10;
static const record_field_spec evaluation_fields[] = {
    REQ(S10, neuron, "neuron", 'q'),
    TEXT(S10, kind, "kind"),
    REQ(S10, mean, "mean", 'd'),
    REQ(S10, ci_low, "ci_low", 'd'),
    REQ(S10, ci_high, "ci_high", 'd'),
    REQ(S10, repeats, "repeats", 'q'),
    ARRAY_IF(S10, feve, "feve", 'f', n),
    ARRAY_IF(S10, corr_to_average, "corr_to_average", 'f', n),
    ARRAY_IF(S10, single_trial_corr, "single_trial_corr", 'f', n),
    ARRAY_IF(S10, oracle, "oracle", 'f', n),
    ARRAY_IF(S10, fev, "fev", 'f', n),
    ARRAY_IF(S10, validation_corr, "validation_corr", 'f', n),
    IF_FLAG(S10, stimulus_id, "stimulus_id", 'q', has_stimulus, 1),
    IF_FLAG(S10, over_mei, "over_mei", 'd', has_stimulus, 0),
};

typedef record_note S11;
static const record_field_spec note_fields[] = {
    TEXT(S11, text, "text"),
    TEXT_IF(S11, fit_round.fit, "fit"),
    IF_PTR(S11, fit_round.round, "round", 'q', fit_round.fit),
    IF_PTR(S11, fit_round.trials, "trials", 'q', fit_round.fit),
    IF_PTR(S11, fit_round.train_loss, "train_loss", 'd', fit_round.fit),
    IF_PTR(S11, fit_round.validation_corr, "validation_corr", 'd', fit_round.fit),
    TEXT_IF(S11, scheduling, "scheduling"),
    IF_PTR(S11, cpus, "cpus", 'q', scheduling),
    IF_PTR(S11, presenter_cpu, "presenter_cpu", 'q', scheduling),
    IF_PTR(S11, fit_nice, "fit_nice", 'q', scheduling),
    IF_PTR(S11, memory_locked, "memory_locked", 'q', scheduling),
    IF_PTR(S11, aligning_realtime, "aligning_realtime", 'q', scheduling),
    IF_PTR(S11, driver_threads, "driver_threads", 'q', scheduling),
    TEXT_IF(S11, display_block, "display_block"),
    IF_PTR(S11, flips, "flips", 'q', display_block),
    IF_PTR(S11, dropped_frames, "dropped_frames", 'q', display_block),
    IF_PTR(S11, trials_shown, "trials_shown", 'q', display_block),
    IF_PTR(S11, trials_with_drops, "trials_with_drops", 'q', display_block),
    IF_PTR(S11, trials_flagged_frames, "trials_flagged_frames", 'q', display_block),
    IF_PTR(S11, events_lost, "events_lost", 'q', display_block),
    IF_PTR(S11, period_ms, "period_ms", 'd', display_block),
    IF_PTR(S11, interval_mean_ms, "interval_mean_ms", 'd', display_block),
    IF_PTR(S11, interval_sd_ms, "interval_sd_ms", 'd', display_block),
    IF_PTR(S11, interval_max_ms, "interval_max_ms", 'd', display_block),
    IF_FLAG(S11, fit_rounds, "fit_rounds", 'q', has_fit_rounds, 1),
    IF_FLAG(S11, fit_trial_epochs, "fit_trial_epochs", 'q', has_fit_rounds, 1),
    ARRAY_IF(S11, targets, "targets", 'i', n_targets),
};

typedef record_model_metrics S12;
static const record_field_spec model_metrics_fields[] = {
    TEXT(S12, split, "split"),
    REQ(S12, epoch, "epoch", 'q'),
    ARRAY(S12, correlation, "correlation", 'f', neurons),
    ARRAY_IF(S12, feve, "feve", 'f', neurons),
    ARRAY_IF(S12, fev, "fev", 'f', neurons),
};

typedef record_spikes S13;
static const record_field_spec spikes_fields[] = {
    IF_PTR(S13, first_sample, "first_sample", 'q', sample_delta),
    ARRAY_IF(S13, sample_delta, "sample_delta", 'i', count),
    ARRAY_IF(S13, sample_num, "sample_num", 'q', count),
    ARRAY(S13, sorted_id, "sorted_id", 'i', count),
    ARRAY(S13, electrode, "electrode", 'B', count),
    TEXT(S13, electrodes, "electrodes"),
    REQ(S13, first_received_ns, "first_received_ns", 'q'),
    REQ(S13, received_ns, "received_ns", 'q'),
};

typedef record_trial_flags S14;
static const record_field_spec trial_flags_fields[] = {
    REQ(S14, trial, "trial", 'q'),
    REQ(S14, flags, "flags", 'q'),
    /* The span and its reason: always written, but what readers apply is
     * trial and flags alone (a record without them reads as 0 and NULL). */
    SPEC("from_ns", 'q', 0, RECORD_WRITE_ALWAYS, 1, AT(S14, from_ns), NO, NO, NO, 0, 0, 0),
    SPEC("until_ns", 'q', 0, RECORD_WRITE_ALWAYS, 1, AT(S14, until_ns), NO, NO, NO, 0, 0, 0),
    TEXT_NEWER(S14, reason, "reason"),
};

#define SCHEMA(code, name, st, table) [code] = {code, name, sizeof(st), COUNT(table), table}
static const record_schema schemas[RECORD_TYPE_COUNT] = {
    SCHEMA(RECORD_SESSION_START, "session_start", S0, session_start_fields),
    SCHEMA(RECORD_PHASE, "phase", S1, phase_fields),
    SCHEMA(RECORD_SCHEDULE, "schedule", S2, schedule_fields),
    SCHEMA(RECORD_FLIP, "flip", S3, flip_fields),
    SCHEMA(RECORD_STREAM, "stream", S4, stream_fields),
    SCHEMA(RECORD_SYNC, "sync", S5, sync_fields),
    SCHEMA(RECORD_ALIGNMENT, "alignment", S6, alignment_fields),
    SCHEMA(RECORD_TRIAL, "trial", S7, trial_fields),
    SCHEMA(RECORD_CHECKPOINT, "checkpoint", S8, checkpoint_fields),
    SCHEMA(RECORD_STIMULUS, "stimulus", S9, stimulus_fields),
    SCHEMA(RECORD_EVALUATION, "evaluation", S10, evaluation_fields),
    SCHEMA(RECORD_NOTE, "note", S11, note_fields),
    SCHEMA(RECORD_MODEL_METRICS, "model_metrics", S12, model_metrics_fields),
    SCHEMA(RECORD_SPIKES, "spikes", S13, spikes_fields),
    SCHEMA(RECORD_TRIAL_FLAGS, "trial_flags", S14, trial_flags_fields),
};

const record_schema *record_schema_of(int type)
{
    return type > 0 && type < RECORD_TYPE_COUNT && schemas[type].fields ? &schemas[type] : NULL;
}

/* ---- members by offset (memcpy: the struct's members have their own types) ---- */

static const void *pointer_at(const void *values, size_t at)
{
    const void *p;
    memcpy(&p, (const char *)values + at, sizeof p);
    return p;
}

static void set_pointer(void *values, size_t at, const void *p)
{
    memcpy((char *)values + at, &p, sizeof p);
}

static int int_at(const void *values, size_t at)
{
    int v;
    memcpy(&v, (const char *)values + at, sizeof v);
    return v;
}

static void set_int(void *values, size_t at, int v)
{
    memcpy((char *)values + at, &v, sizeof v);
}

static size_t item_size(char dtype)
{
    switch (dtype) {
    case 'q': case 'Q': case 'd': return 8;
    case 'f': case 'i': return 4;
    default: return 1;
    }
}

/* ---- encoding ---- */

static int is_set(const record_field_spec *f, const void *values)
{
    size_t at = f->when != NO ? f->when : f->member;
    if (f->when == NO || f->when_is_pointer)
        return pointer_at(values, at) != NULL;
    return int_at(values, at) != 0;
}

static void encode_field(const record_field_spec *f, const void *values, record_payload *p)
{
    const char *at = (const char *)values + f->member;
    if (f->ndim == 0) {
        int64_t v;
        memcpy(&v, at, 8); /* int64_t, uint64_t and double alike */
        if (f->write == RECORD_WRITE_NONZERO && v == 0)
            return;
        if (f->dtype == 'q')
            record_payload_i64(p, f->name, v);
        else if (f->dtype == 'Q')
            record_payload_u64(p, f->name, (uint64_t)v);
        else {
            double d;
            memcpy(&d, at, 8);
            record_payload_f64(p, f->name, d);
        }
        return;
    }
    const void *data = pointer_at(values, f->member);
    if (f->dtype == 's') {
        record_payload_text(p, f->name, data);
    } else if (f->dtype == 'b') {
        size_t size = f->fixed;
        if (!size)
            memcpy(&size, (const char *)values + f->shape[0], sizeof size);
        record_payload_bytes(p, f->name, data, size);
    } else {
        uint32_t shape[2];
        for (int d = 0; d < f->ndim; d++) {
            int n = int_at(values, f->shape[d]);
            shape[d] = (uint32_t)(n > 0 ? n : 0);
        }
        record_payload_array(p, f->name, (record_dtype)f->dtype, f->ndim, shape, data);
    }
}

void record_encode(const record_schema *s, const void *values, record_payload *p)
{
    for (int i = 0; i < s->n_fields; i++) {
        const record_field_spec *f = &s->fields[i];
        if (f->write != RECORD_WRITE_IF || is_set(f, values))
            encode_field(f, values, p);
    }
}

/* ---- decoding ---- */

#define MAX_FIELDS 64

/* What the walk found of a table's field (record_field without its name). */
typedef struct found_field {
    int seen;
    int dtype, ndim;
    uint32_t shape[2];
    size_t count;
    const void *data;
} found_field;

static int type_error(const record_schema *s, const record_view *v, const found_field *f,
                      const record_field_spec *spec, char *err)
{
    return controller_fail(err, "%s record at offset %llu: field '%s' is %c with %d dimensions "
                           "(%zu items), not %c with %d", s->name, (unsigned long long)v->offset,
                           spec->name, f->dtype, f->ndim, f->count, spec->dtype, spec->ndim);
}

/* A scalar converted as the reader asks (an integer reads as a double;
 * int32 and uint64 as int64), or 1 when it cannot be. */
static int decode_scalar(const found_field *f, char want, void *out)
{
    if (f->ndim != 0)
        return 1;
    int64_t i;
    if (f->dtype == 'q' || f->dtype == 'Q') {
        memcpy(&i, f->data, 8);
    } else if (f->dtype == 'i') {
        int32_t v;
        memcpy(&v, f->data, 4);
        i = v;
    } else if (want == 'd' && (f->dtype == 'd' || f->dtype == 'f')) {
        double d;
        if (f->dtype == 'd') {
            memcpy(&d, f->data, 8);
        } else {
            float x;
            memcpy(&x, f->data, 4);
            d = x;
        }
        memcpy(out, &d, 8);
        return 0;
    } else {
        return 1;
    }
    if (want == 'd') {
        double d = f->dtype == 'Q' ? (double)(uint64_t)i : (double)i;
        memcpy(out, &d, 8);
    } else {
        memcpy(out, &i, 8);
    }
    return 0;
}

/* Shape members that several arrays share must agree. */
static int set_shape(const record_schema *s, const record_view *v, const char *name,
                     void *values, size_t at, uint32_t n, size_t *assigned, int *n_assigned,
                     char *err)
{
    if (n > INT_MAX)
        return controller_fail(err, "%s record at offset %llu: field '%s' has %u values", s->name,
                               (unsigned long long)v->offset, name, n);
    for (int k = 0; k < *n_assigned; k++)
        if (assigned[k] == at) {
            if (int_at(values, at) != (int)n)
                return controller_fail(err, "%s record at offset %llu: field '%s' has %u values, "
                                       "an earlier array %d", s->name,
                                       (unsigned long long)v->offset, name, n,
                                       int_at(values, at));
            return 0;
        }
    assigned[(*n_assigned)++] = at;
    set_int(values, at, (int)n);
    return 0;
}

static size_t aligned(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

int record_decode(const record_schema *s, const record_view *v, void *values, char *err)
{
    memset(values, 0, s->size);
    if (v->type != s->type)
        return controller_fail(err, "record at offset %llu is %s, not %s",
                               (unsigned long long)v->offset, record_type_name(v->type), s->name);
    found_field found[MAX_FIELDS];
    memset(found, 0, sizeof found);
    size_t offset = 0;
    record_field f;
    char why[CONTROLLER_ERR_SIZE];
    int next;
    while ((next = record_field_next(v->payload, v->length, &offset, &f, why)) == 0)
        for (int i = 0; i < s->n_fields; i++)
            if (!found[i].seen && !strcmp(f.name, s->fields[i].name)) {
                /* The first of a repeated name counts, as it always has. */
                found[i] = (found_field){1, f.dtype, f.ndim, {f.shape[0], f.shape[1]}, f.count,
                                         f.data};
                break;
            }
    if (next < 0)
        return controller_fail(err, "%s record at offset %llu: %s", s->name,
                               (unsigned long long)v->offset, why);
    /* Check every field and size the copies. */
    size_t block = 0;
    int copies = 0;
    for (int i = 0; i < s->n_fields; i++) {
        const record_field_spec *spec = &s->fields[i];
        const found_field *g = &found[i];
        if (!found[i].seen) {
            if (!spec->optional)
                return controller_fail(err, "%s record at offset %llu: no field '%s'", s->name,
                                       (unsigned long long)v->offset, spec->name);
            continue;
        }
        if (spec->ndim == 0)
            continue; /* converted below */
        if (g->dtype != spec->dtype || g->ndim != spec->ndim ||
            (spec->fixed && g->count != spec->fixed))
            return type_error(s, v, g, spec, err);
        block += aligned(g->count * item_size(spec->dtype) + (spec->dtype == 's'));
        copies++;
    }
    unsigned char *copy = NULL;
    if (copies && !(copy = malloc(block ? block : 1)))
        return controller_fail(err, "%s record at offset %llu: out of memory", s->name,
                               (unsigned long long)v->offset);
    size_t used = 0, assigned[2 * MAX_FIELDS];
    int n_assigned = 0;
    for (int i = 0; i < s->n_fields; i++) {
        const record_field_spec *spec = &s->fields[i];
        const found_field *g = &found[i];
        if (!found[i].seen)
            continue;
        if (spec->sets_when)
            set_int(values, spec->when, 1);
        if (spec->ndim == 0) {
            if (decode_scalar(g, spec->dtype, (char *)values + spec->member)) {
                free(copy);
                memset(values, 0, s->size);
                return type_error(s, v, g, spec, err);
            }
            continue;
        }
        size_t bytes = g->count * item_size(spec->dtype);
        unsigned char *at = copy + used;
        if (bytes)
            memcpy(at, g->data, bytes);
        if (spec->dtype == 's')
            at[bytes] = '\0';
        used += aligned(bytes + (spec->dtype == 's'));
        set_pointer(values, spec->member, at);
        if (spec->dtype == 'b' && !spec->fixed) {
            memcpy((char *)values + spec->shape[0], &g->count, sizeof g->count);
        } else if (spec->dtype != 's' && spec->dtype != 'b') {
            for (int d = 0; d < spec->ndim; d++)
                if (set_shape(s, v, spec->name, values, spec->shape[d], g->shape[d], assigned,
                              &n_assigned, err)) {
                    free(copy);
                    memset(values, 0, s->size); /* no pointer into the freed block */
                    return 1;
                }
        }
    }
    /* Every struct ends with `void *decoded`: the block it owns. */
    set_pointer(values, s->size - sizeof(void *), copy);
    return 0;
}

/* ---- the typed reads ---- */

#define READER(fn, code, st)                                               \
    int fn(const record_view *v, st *out, char *err)                       \
    {                                                                      \
        _Static_assert(offsetof(st, decoded) + sizeof(void *) == sizeof(st), \
                       #st " ends with its decoded block");                \
        return record_decode(&schemas[code], v, out, err);                 \
    }

READER(record_session_start_read, RECORD_SESSION_START, record_session_start)
READER(record_phase_read, RECORD_PHASE, record_phase)
READER(record_schedule_read, RECORD_SCHEDULE, record_schedule_entry)
READER(record_flip_read, RECORD_FLIP, record_flip_event)
READER(record_stream_read, RECORD_STREAM, record_stream_message)
READER(record_sync_read, RECORD_SYNC, record_sync_event)
READER(record_alignment_read, RECORD_ALIGNMENT, record_alignment)
READER(record_trial_read, RECORD_TRIAL, record_trial)
READER(record_trial_flags_read, RECORD_TRIAL_FLAGS, record_trial_flags)
READER(record_checkpoint_read, RECORD_CHECKPOINT, record_checkpoint)
READER(record_stimulus_read, RECORD_STIMULUS, record_stimulus)
READER(record_evaluation_read, RECORD_EVALUATION, record_evaluation)
READER(record_note_read, RECORD_NOTE, record_note)
READER(record_model_metrics_read, RECORD_MODEL_METRICS, record_model_metrics)

int record_spikes_read(const record_view *v, record_spikes *out, char *err)
{
    if (record_decode(&schemas[RECORD_SPIKES], v, out, err))
        return 1;
    if (!out->sample_num && !out->sample_delta) {
        free(out->decoded);
        out->decoded = NULL;
        return controller_fail(err, "spikes record at offset %llu: neither sample_num nor "
                               "sample_delta", (unsigned long long)v->offset);
    }
    return 0;
}

void record_spikes_samples(const record_spikes *s, int64_t *out)
{
    /* Spike k: first_sample + sample_delta[0..k] (RECORD.md), summed
     * modulo 2^64 so that no record, however made, overflows. */
    uint64_t t = (uint64_t)s->first_sample;
    for (int i = 0; i < s->count; i++) {
        if (s->sample_delta) {
            t += (uint64_t)(int64_t)s->sample_delta[i];
            out[i] = (int64_t)t;
        } else {
            out[i] = s->sample_num[i];
        }
    }
}
