/* record.h: the session record, an append-only, checksummed, crash-safe
 * file of typed records holding everything a session saw and did (the
 * record module, controller/record/: writer and reader in session_record.c,
 * payload encoding in record_payload.c, resynchronization CRCs in
 * record_crc.c, the folder's writer lock in session_lock.c; the format is
 * documented in RECORD.md beside them).
 *
 * Conventions as in controller.h: 0 on success, non-zero on failure with a
 * one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). */
#ifndef INCEPTION_RECORD_H
#define INCEPTION_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct protocol;

/* SHA-256 digests (sha256.c) as the record holds them: equal to SHA256_SIZE. */
#define RECORD_SHA256_SIZE 32

#define RECORD_FORMAT_VERSION 1
#define RECORD_MAGIC 0x43455249u /* "IREC" little-endian */
/* Header: magic u32, version u16, type u16, length u32, sequence u64, time u64. */
#define RECORD_HEADER_SIZE 28
#define RECORD_TRAILER_SIZE 4    /* CRC-32 of header + payload */
#define RECORD_MAX_PAYLOAD (1u << 30)
#define RECORD_FILE_NAME "session.rec"

typedef enum record_type {
    RECORD_SESSION_START = 1, /* protocol text verbatim, format version */
    RECORD_PHASE = 2,         /* a phase begins or ends */
    RECORD_SCHEDULE = 3,      /* one planned presentation */
    RECORD_FLIP = 4,          /* a display flip / stimulus onset and its timing */
    RECORD_STREAM = 5,        /* one received stream message: header fields and counts */
    RECORD_SYNC = 6,          /* a sync event (TTL, photodiode) seen in the stream */
    RECORD_ALIGNMENT = 7,     /* a fit mapping stream sample numbers to monotonic time */
    RECORD_TRIAL = 8,         /* a trial's response counts; acknowledged once durable */
    RECORD_CHECKPOINT = 9,    /* a model file's bytes */
    RECORD_STIMULUS = 10,     /* a synthesized stimulus (float32 image) */
    RECORD_EVALUATION = 11,   /* an evaluation result */
    RECORD_NOTE = 12,         /* free-form text */
    RECORD_MODEL_METRICS = 13, /* the model's per-neuron correlations (and FEVE) on a split */
    RECORD_SPIKES = 14,       /* a batch of received Open Ephys spikes: sample, unit, electrode */
    RECORD_TRIAL_FLAGS = 15,  /* flags a recorded trial gained later: readers OR them into its own */
    RECORD_TYPE_COUNT
} record_type;

const char *record_type_name(int type); /* "flip", ...; "unknown" otherwise */


/* The payload layer: a payload is a list of named, typed fields (RECORD.md).
 * The schema tables below build and read payloads through it; outside the
 * module only `inception record-dump` walks fields (record_field_next, every
 * field whatever its name), and tests craft payloads of older or malformed
 * records with the builders. Code that reads a record's values uses the
 * typed record_X_read calls, never a field's name. */
typedef enum record_dtype {
    RECORD_I64 = 'q',
    RECORD_U64 = 'Q',
    RECORD_F64 = 'd',
    RECORD_F32 = 'f',
    RECORD_I32 = 'i',
    RECORD_U8 = 'B',
    RECORD_TEXT = 's',  /* UTF-8, one dimension: its byte count */
    RECORD_BYTES = 'b', /* opaque bytes, one dimension */
} record_dtype;

#define RECORD_MAX_DIMS 4
#define RECORD_MAX_NAME 255

typedef struct record_payload {
    unsigned char *data;
    size_t size, capacity;
    int failed; /* out of memory or bad field: sticky, reported by append */
} record_payload;

void record_payload_init(record_payload *p);
void record_payload_reset(record_payload *p); /* empty, keeping the memory */
void record_payload_free(record_payload *p);
void record_payload_i64(record_payload *p, const char *name, int64_t value);
void record_payload_u64(record_payload *p, const char *name, uint64_t value);
void record_payload_f64(record_payload *p, const char *name, double value);
void record_payload_text(record_payload *p, const char *name, const char *text);
void record_payload_bytes(record_payload *p, const char *name, const void *data, size_t size);
/* An array of `dtype` (not TEXT/BYTES) with `ndim` dimensions. */
void record_payload_array(record_payload *p, const char *name, record_dtype dtype, int ndim,
                          const uint32_t *shape, const void *data);

typedef struct record_field {
    char name[RECORD_MAX_NAME + 1];
    int dtype; /* record_dtype */
    int ndim;
    uint32_t shape[RECORD_MAX_DIMS];
    size_t count;       /* elements (bytes for TEXT/BYTES) */
    const void *data;   /* inside the payload: little-endian, possibly unaligned */
} record_field;

/* Walks the fields: *offset starts at 0. Returns 0 and the next field, 1 at
 * the end, -1 (with err) when the payload is malformed. */
int record_field_next(const unsigned char *payload, size_t size, size_t *offset,
                      record_field *out, char *err);
/* The field called `name`: 0 found, non-zero otherwise. */
int record_field_find(const unsigned char *payload, size_t size, const char *name,
                      record_field *out);
/* Scalar getters (an integer field converts to double; a float field does
 * not convert to an integer): 0 when found and of a fitting type. */
int record_get_i64(const unsigned char *payload, size_t size, const char *name, int64_t *out);
int record_get_f64(const unsigned char *payload, size_t size, const char *name, double *out);
/* Copies a text field, NUL-terminated and cut to `capacity`. */
int record_get_text(const unsigned char *payload, size_t size, const char *name, char *out,
                    size_t capacity);

/* --- Writing --- */

/* One writer per session, used from one thread: the run loop owns it and
 * hands it records from other threads through its own queue. */
typedef struct session_record session_record;

/* What open-for-resume found in an existing record. */
typedef struct record_resume_report {
    uint64_t records;        /* valid records kept */
    uint64_t last_sequence;  /* of the last valid record */
    uint64_t kept_bytes;     /* the record's size after the cut */
    uint64_t cut_bytes;      /* torn tail removed (0: the file ended cleanly) */
    uint64_t corrupt;        /* corrupt stretches inside the file, kept in place and skipped */
    uint64_t first_corrupt_offset;
} record_resume_report;

/* One writer per session folder: `inception run`, `resume` and `replay
 * --out` hold an exclusive flock(2) on SESSION_LOCK_FILE in the folder, with
 * their pid in it, from before anything is written or stopped until they
 * end. The kernel drops it when the process dies (a SIGKILLed run leaves no
 * stale lock). A second process gets 1 and an `err` naming the holder's pid.
 * `create`: make the folder (one level) when it does not exist. */
#define SESSION_LOCK_FILE "session.lock"
typedef struct session_lock session_lock;
int session_lock_take(const char *dir, int create, session_lock **out, char *err);
/* Releases the lock (the file stays, holding the last pid). NULL is fine. */
void session_lock_release(session_lock *l);

/* A new session in `dir` (created; must not hold a record already): writes
 * RECORD_SESSION_START with the protocol text and makes it durable. */
int session_record_create(const char *dir, const char *protocol_name, const char *protocol_text,
                          size_t protocol_size, session_record **out, char *err);
/* The same for a session of protocol `p`: session_start also records
 * `protocol_dir` (p->dir) and the paths resolved against it (`images_path`,
 * `gamma_file`), so a resume re-reads the protocol's files from there. */
int session_record_create_for(const char *dir, const struct protocol *p, session_record **out,
                              char *err);
/* Reopens a session's record to continue it: verifies every record, cuts a
 * torn tail back to the last valid record, and appends after it. */
int session_record_resume(const char *dir, session_record **out, record_resume_report *report,
                          char *err);
/* Appends one record (written to the file at once, so it survives the
 * process being killed; durable against power loss after the next sync).
 * Its sequence number goes to *sequence when non-NULL. After a failed write
 * (disk full) the partial record is cut off and every later append fails. */
int session_record_append(session_record *w, int type, const record_payload *payload,
                          uint64_t *sequence, char *err);
/* fsync now: every record appended so far is durable. Call at phase boundaries. */
int session_record_sync(session_record *w, char *err);
/* fsync if the last one was a second or more ago: call from the run loop. */
int session_record_tick(session_record *w, char *err);
/* Highest sequence number known to be on disk (fsync'd), 0 if none yet. */
uint64_t session_record_durable_sequence(const session_record *w);
uint64_t session_record_next_sequence(const session_record *w);
/* Syncs, closes and frees; reports a failed final sync. NULL is fine. */
int session_record_close(session_record *w, char *err);

/* Monotonic clock in ns, the record's time base. */
uint64_t record_monotonic_ns(void);

/* --- Typed records ---
 *
 * One C struct per record type and one schema table per type
 * (record_schema.c) that drives both directions: session_record_X (and
 * record_append_typed) encode a struct by its table, record_X_read decodes a
 * record into it. Field names are the table's alone: nothing outside the
 * module names a field. RECORD.md's "Types and their fields" lists every
 * field of every table (checked by tests/test_record.c).
 *
 * Reading: record_X_read(view, &x, err) fills *x (zeroed first) from a record
 * of that type; 0 on success, non-zero with a one-line reason naming the
 * record's offset when the record is not of the type, lacks a field every
 * writer writes, or holds a field of the wrong dtype or shape. Fields a
 * record does not have (older writers, other writers) read as NULL / 0, or
 * set the struct's has_* member to 0 where the difference matters. Text,
 * bytes and arrays are copied, aligned and text NUL-terminated, into one
 * block that the struct owns: free(x.decoded) when done (NULL when nothing
 * was copied). Fields the table does not know are ignored (later versions
 * may add fields). */

typedef struct record_view record_view; /* below, under Reading */

/* The learning-curve point of a `note` (see record_note). */
typedef struct record_fit_round {
    const char *fit;
    int64_t round, trials;
    double train_loss, validation_corr;
} record_fit_round;

typedef struct record_session_start {
    int64_t format_version;
    const char *protocol_name;
    uint64_t unix_ns;
    const void *protocol_text; /* the protocol file verbatim */
    size_t protocol_size;
    const char *inception_version;
    /* From `inception run` (NULL: not written / absent). */
    const char *protocol_dir, *images_path, *gamma_file;
    void *decoded;
} record_session_start;

typedef struct record_phase {
    const char *phase, *event; /* event: "begin" or "end" */
    uint64_t unix_ns;
    void *decoded;
} record_phase;

typedef struct record_schedule_entry {
    int64_t trial;          /* presentation index, 0.. */
    const char *block;      /* "train", "validation", "test", "closed_loop" */
    const char *kind;       /* "natural", "mei", "best_natural", "gabor", "rf" */
    int64_t image_id;       /* repeats share an id */
    int64_t target_neuron;  /* -1 for natural images */
    int64_t stimulus_frames, isi_frames;
    const uint8_t *image_sha256; /* RECORD_SHA256_SIZE bytes: the image's pixels_sha256, NULL none */
    void *decoded;
} record_schedule_entry;

/* A trial record's flag of the controller's own, beside the aligner's
 * ACQ_TRIAL_* bits (0..15): the display showed its stimulus or its ISI for
 * the wrong number of frames (dropped frames, a wrong duration, an abort),
 * or nothing confirmed how it was shown. Its response answers another
 * question than the one asked: left out like any flagged trial. */
#define RUN_TRIAL_FRAMES (1u << 16)

typedef struct record_flip_event {
    int64_t trial;       /* -1 for a flip outside a trial */
    int64_t frame;       /* flip counter of the block (0 = its first flip) */
    int64_t flip_ns;     /* monotonic time right after the swap returned */
    int64_t onset_ns;    /* estimated onset (flip time + display latency) */
    int64_t missed;      /* frames missed before this flip */
    int64_t photodiode;  /* patch state drawn */
    int64_t onset;       /* 1: a trial's onset flip; 0: a late flip (missed > 0) */
    int has_onset;       /* read: 0 in records from before `onset` (read those as 1) */
    void *decoded;
} record_flip_event;

typedef struct record_stream_message {
    int64_t message_num;  /* the stream's counter */
    const char *kind;     /* "data", "event", "spike", "loss" */
    int64_t sample_num;
    int64_t num_samples;
    int64_t timestamp_ms; /* sender's Unix ms */
    int64_t received_ns;  /* our monotonic time */
    int64_t lost;         /* messages missing before this one (counter gap) */
    int64_t data_size;
    /* A counts message's bin as received (recorded when counts is not NULL):
     * what `inception replay --stream` publishes again. */
    int64_t bin_width_ns;
    int units;
    const float *counts;
    int64_t clock_reset;  /* 1: the first item after an Open Ephys GUI stop and start */
    void *decoded;
} record_stream_message;

typedef struct record_sync_event {
    int64_t line, state;
    int64_t sample_num;   /* stream sample clock */
    int64_t received_ns;
    int64_t trial;        /* the trial it marks, -1 if unknown */
    void *decoded;
} record_sync_event;

/* A batch of Open Ephys spikes as received (RECORD.md `spikes`): `count`
 * spikes' sample numbers, sorted_ids and indices into `electrodes`, the
 * batch's electrode names joined by newlines. Writing takes sample_num; the
 * record holds first_sample and int32 differences (sample_delta) when they
 * fit, else sample_num: reading gives back whichever it holds, and
 * record_spikes_samples the sample numbers either way. */
typedef struct record_spikes {
    int count;
    const int64_t *sample_num;
    const int32_t *sorted_id;
    const uint8_t *electrode;
    const char *electrodes;
    int64_t first_received_ns, received_ns; /* the first and the last spike's arrival */
    int64_t first_sample;         /* the record's form: set by the writer, or read */
    const int32_t *sample_delta;
    void *decoded;
} record_spikes;
/* Spike k's sample number into out[k] (count of them). */
void record_spikes_samples(const record_spikes *s, int64_t *out);

/* The display-to-acquisition clock fit (acq_clock_fit) at the end of a
 * block: acquisition ns = acquisition_ref_ns + offset_ns + slope ×
 * (display ns − display_ref_ns), display ns on this computer's monotonic
 * clock, the reference the fit's first matched pair. `slope_ns_per_sample`
 * keeps its old name; it is dimensionless (1 + drift). */
typedef struct record_alignment {
    double slope_ns_per_sample, offset_ns;
    double residual_rms_ns, residual_max_ns;
    int64_t points;
    int64_t display_ref_ns, acquisition_ref_ns;
    int has_reference;    /* read: 0 in records from before the reference pair */
    void *decoded;
} record_alignment;

/* A trial's counts (one per neuron), acknowledged once durable. `inception
 * run` also records the aligner's flags, the onset on the acquisition clock,
 * the sync edge, the bins counted and the block (written when has_run). */
typedef struct record_trial {
    int64_t trial, image_id;
    int64_t onset_ns;
    int neurons;
    const float *counts;
    int has_run;          /* write: the run's fields below; read: onset_acq_ns present */
    int64_t flags;        /* ACQ_TRIAL_* | RUN_TRIAL_FRAMES; absent: 0 */
    int64_t onset_acq_ns, sync_edge_ns, bins;
    const char *block;
    /* Audio sessions (docs/audio.md): the clip's first sample in the audio
     * device's output stream (write when has_sound; read: sets has_sound). */
    int has_sound;
    int64_t sound_onset_sample;
    /* When its onset reached the aligner (monotonic; 0 unknown): what
     * `replay --stream` sends it at (write when has_onset_received; read:
     * sets has_onset_received, 0 in older records). */
    int has_onset_received;
    int64_t onset_received_ns;
    void *decoded;
} record_trial;

/* A recorded trial found flagged after its record was written (RECORD.md
 * `trial_flags`): a span of possible loss on the acquisition clock that its
 * counted span overlaps came later (an Open Ephys spike too late for its
 * bin). Appended, never rewriting the trial record; every reader ORs `flags`
 * into the trial's own. */
typedef struct record_trial_flags {
    int64_t trial;
    int64_t flags;             /* ACQ_TRIAL_* bits the trial gained */
    int64_t from_ns, until_ns; /* the span, acquisition clock */
    const char *reason;
    void *decoded;
} record_trial_flags;

/* The bytes of a model file with its epoch and mean validation correlation
 * (session_record_checkpoint reads the file). */
typedef struct record_checkpoint {
    const char *file_name;
    int64_t epoch;
    double validation_corr;
    const void *model;
    size_t model_size;
    void *decoded;
} record_checkpoint;

typedef struct record_stimulus {
    int64_t stimulus_id;
    int64_t neuron;         /* target, -1 if none */
    const char *kind;       /* "natural", "mei", "gabor", "rf", "best_natural" */
    int height, width;
    const float *pixels;    /* height × width, luminance in [0, 1] (audio: the cochleagram) */
    double predicted;       /* the model's predicted response */
    /* Computed when writing; read: NULL in records from before hashes. */
    const uint8_t *pixels_sha256;
    /* Audio (docs/audio.md): the clip as played, sample_count float32
     * samples at sample_rate Hz; NULL for images. */
    const float *samples;
    int sample_count;
    int64_t sample_rate;
    /* mei.kinds pattern (kinds pattern, pattern_natural): the target
     * pattern over the group (the session's targets, in order), pattern_k
     * values, and the pattern's index; NULL otherwise. */
    const float *pattern_target;
    int pattern_k;
    int64_t pattern;
    void *decoded;
} record_stimulus;

/* An evaluation: a kind's mean response of a neuron with its interval, or
 * (neuron -1, `n` values each) per-neuron metric arrays, NULL when absent. */
typedef struct record_evaluation {
    int64_t neuron;
    const char *kind;           /* stimulus kind evaluated, or the metrics' name */
    double mean, ci_low, ci_high;
    int64_t repeats;
    int n;
    const float *feve, *corr_to_average, *single_trial_corr, *oracle, *fev, *validation_corr;
    /* One image of a target's set (kind diverse, truth_diverse): its
     * stimulus and its mean over the MEI's (write when has_stimulus; read:
     * sets has_stimulus). */
    int has_stimulus;
    int64_t stimulus_id;
    double over_mei;
    void *decoded;
} record_evaluation;

/* A note: `text`, and the fields of the notes that carry more (RECORD.md,
 * "What `inception run` writes"), each group written when its first member
 * is set: the learning curve (fit), the frame path's scheduling, a block's
 * display account (display_block; fit_rounds with has_fit_rounds), the
 * chosen targets. */
typedef struct record_note {
    const char *text;
    record_fit_round fit_round; /* fit_round.fit: NULL none */
    const char *scheduling;
    int64_t cpus, presenter_cpu, fit_nice, memory_locked, aligning_realtime, driver_threads;
    const char *display_block;
    int64_t flips, dropped_frames, trials_shown, trials_with_drops, trials_flagged_frames,
        events_lost;
    double period_ms, interval_mean_ms, interval_sd_ms, interval_max_ms;
    int has_fit_rounds;
    int64_t fit_rounds, fit_trial_epochs;
    int n_targets;
    const int32_t *targets;
    void *decoded;
} record_note;

/* The fitted model's per-neuron quality on held-out data: the report's
 * histogram of test correlations. `split` is "test" (the repeated test
 * images: correlation to the average over repeats) or "validation"
 * (single-trial correlation); `feve` may be NULL. */
typedef struct record_model_metrics {
    const char *split;
    int64_t epoch;
    int neurons;
    const float *correlation; /* neurons */
    const float *feve;        /* neurons, or NULL */
    const float *fev;         /* neurons, or NULL: which FEVEs count (METRICS_FEV_MIN) */
    void *decoded;
} record_model_metrics;

/* Writing: each appends one record of its type. */
int session_record_phase(session_record *w, const char *phase, const char *event, char *err);
int session_record_note(session_record *w, const char *text, char *err);
int session_record_note_fields(session_record *w, const record_note *n, char *err);
int session_record_fit_round(session_record *w, const record_fit_round *r, char *err);
int session_record_schedule(session_record *w, const record_schedule_entry *e, char *err);
int session_record_flip(session_record *w, const record_flip_event *f, char *err);
int session_record_stream(session_record *w, const record_stream_message *m, char *err);
int session_record_sync_event(session_record *w, const record_sync_event *s, char *err);
int session_record_spikes(session_record *w, const record_spikes *s, char *err);
int session_record_alignment(session_record *w, const record_alignment *a, char *err);
int session_record_trial(session_record *w, const record_trial *t, uint64_t *sequence,
                         char *err);
int session_record_trial_flags(session_record *w, const record_trial_flags *c, char *err);
/* Reads the model file at `model_path` and records its bytes under its base name. */
int session_record_checkpoint(session_record *w, const char *model_path, int64_t epoch,
                              double validation_corr, char *err);
/* Records the pixels with their SHA-256 (`pixels_sha256`, RECORD.md); audio
 * (docs/audio.md): with the clip as played when `samples` is set (float32,
 * and `sample_rate`), the pixels its cochleagram. */
int session_record_stimulus(session_record *w, const record_stimulus *s, char *err);
/* The SHA-256 of height × width pixels as a stimulus record holds them
 * (little-endian float32, row-major): its `pixels_sha256`. */
void record_pixels_sha256(const float *pixels, int height, int width,
                          uint8_t digest[RECORD_SHA256_SIZE]);
int session_record_evaluation(session_record *w, const record_evaluation *e, char *err);
int session_record_model_metrics(session_record *w, const record_model_metrics *m, char *err);

/* Reading: see the top of this section. */
int record_session_start_read(const record_view *v, record_session_start *out, char *err);
int record_phase_read(const record_view *v, record_phase *out, char *err);
int record_schedule_read(const record_view *v, record_schedule_entry *out, char *err);
int record_flip_read(const record_view *v, record_flip_event *out, char *err);
int record_stream_read(const record_view *v, record_stream_message *out, char *err);
int record_sync_read(const record_view *v, record_sync_event *out, char *err);
int record_spikes_read(const record_view *v, record_spikes *out, char *err);
int record_alignment_read(const record_view *v, record_alignment *out, char *err);
int record_trial_read(const record_view *v, record_trial *out, char *err);
int record_trial_flags_read(const record_view *v, record_trial_flags *out, char *err);
int record_checkpoint_read(const record_view *v, record_checkpoint *out, char *err);
int record_stimulus_read(const record_view *v, record_stimulus *out, char *err);
int record_evaluation_read(const record_view *v, record_evaluation *out, char *err);
int record_note_read(const record_view *v, record_note *out, char *err);
int record_model_metrics_read(const record_view *v, record_model_metrics *out, char *err);

/* The schema itself, for record-dump, the documentation check and tests:
 * each type's fields in the order they are written. */
typedef struct record_field_spec {
    const char *name;
    char dtype;         /* record_dtype on disk */
    signed char ndim;   /* 0 scalar; 1 text, bytes, 1-D; 2 height × width */
    unsigned char write; /* RECORD_WRITE_* */
    unsigned char optional; /* may be absent when read */
    size_t member;      /* offsetof the value, or of the pointer to the data */
    size_t shape[2];    /* offsetof the int shape members (size_t byte count of bytes) */
    size_t when;        /* offsetof the member deciding RECORD_WRITE_IF (int or pointer) */
    unsigned char when_is_pointer;
    unsigned char sets_when; /* read: the int at `when` becomes 1 when the field is there */
    size_t fixed;       /* bytes of a fixed-size bytes field (0: shape[0]) */
} record_field_spec;
enum {
    RECORD_WRITE_ALWAYS = 0,
    RECORD_WRITE_IF = 1,      /* when `when` (or the field's own pointer) is set */
    RECORD_WRITE_NONZERO = 2, /* a scalar written only when not 0 */
};
#define RECORD_NO_MEMBER ((size_t)-1)
typedef struct record_schema {
    int type;
    const char *name;
    size_t size;         /* of its struct */
    int n_fields;
    const record_field_spec *fields;
} record_schema;
/* The table of `type`, NULL for types without one. */
const record_schema *record_schema_of(int type);
/* The struct `values` (of s's type) as fields appended to p, in table order. */
void record_encode(const record_schema *s, const void *values, record_payload *p);
/* A record of s's type into `values`, as record_X_read (which call it). */
int record_decode(const record_schema *s, const record_view *v, void *values, char *err);

/* --- Reading --- */

typedef struct record_reader record_reader;

typedef struct record_view {
    uint64_t offset;  /* of the record's first byte in the file */
    int type, version;
    uint64_t sequence, time_ns;
    uint32_t length;
    const unsigned char *payload; /* valid until the next call */
} record_view;

/* What record_reader_next found. */
enum {
    RECORD_NEXT_OK = 0,
    RECORD_NEXT_END = 1,     /* clean end of file */
    RECORD_NEXT_CORRUPT = 2, /* a damaged stretch, followed by valid records: skipped */
    RECORD_NEXT_TORN = 3,    /* the file ends inside a damaged stretch (a torn tail) */
};

int record_reader_open(const char *path, record_reader **out, char *err);
/* Reads from memory (not copied; must outlive the reader). */
int record_reader_open_memory(const void *data, size_t size, record_reader **out, char *err);
/* Next record into *out, or END; CORRUPT and TORN fill `err` with the
 * offset and what is wrong, and the next call continues after the damage. */
int record_reader_next(record_reader *r, record_view *out, char *err);
void record_reader_close(record_reader *r);

/* Walking a whole record: `visit` sees every valid record in file order;
 * damage is skipped and counted. A non-zero return from `visit` (which then
 * fills err) stops the walk, and is returned. The one loop over a record
 * that report, replay, resume and the dataset rebuild share. */
typedef int (*record_visit)(const record_view *v, void *ctx, char *err);
typedef struct record_walk {
    uint64_t records; /* valid records visited */
    uint64_t damaged; /* corrupt stretches and a torn tail */
} record_walk;
int record_reader_each(record_reader *r, record_visit visit, void *ctx, record_walk *walk,
                       char *err);
/* The same over DIR/session.rec (walk may be NULL). */
int session_record_each(const char *dir, record_visit visit, void *ctx, record_walk *walk,
                        char *err);
/* A replay's record: its session_start is another record's `start`, verbatim
 * with its time; session_record_copy appends another record's record with
 * its type, payload and time (a new sequence number). */
int session_record_create_copy(const char *dir, const record_view *start, session_record **out,
                               char *err);
int session_record_copy(session_record *w, const record_view *v, char *err);

#endif
