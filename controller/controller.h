/* controller.h: the controller library's one public header. It includes the
 * rooms' headers, each holding what its folder does:
 *   - protocol/protocol.h: protocol files (YAML), parsed and schema-checked;
 *   - report/report.h: evaluation statistics and the session report;
 *   - session/session.h: run, resume, replay's fit and synthesis, stream replay;
 *   - display/display.h: the remote display and the run loop's one display interface;
 * and, below, the session record: an append-only, checksummed, crash-safe
 * file of typed records holding everything a session saw and did
 * (session_record.c; the format is documented in controller/RECORD.md).
 *
 * Conventions: functions return 0 on success and non-zero on failure, with a
 * one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). Nothing here prints.
 * Structs are owned by whoever called their _create/_load/_open and freed
 * with the matching _destroy/_close. */
#ifndef INCEPTION_CONTROLLER_H
#define INCEPTION_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include "controller_util.h"
#include "protocol/protocol.h"

/* ------------------------------------------------------------------------
 * SHA-256 (sha256.c, FIPS 180-4): equal to `sha256sum` and hashlib.sha256.
 * ------------------------------------------------------------------------ */

#define SHA256_SIZE 32
typedef struct sha256_context {
    uint32_t h[8];
    unsigned char block[64];
    size_t used;
    uint64_t bytes;
} sha256_context;
void sha256_init(sha256_context *s);
void sha256_update(sha256_context *s, const void *data, size_t size);
void sha256_final(sha256_context *s, uint8_t digest[SHA256_SIZE]);
void sha256_of(const void *data, size_t size, uint8_t digest[SHA256_SIZE]);
/* Lower-case hex, NUL-terminated. */
void sha256_hex(const uint8_t digest[SHA256_SIZE], char out[2 * SHA256_SIZE + 1]);

/* ------------------------------------------------------------------------
 * Session record
 * ------------------------------------------------------------------------ */

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
    RECORD_TYPE_COUNT
} record_type;

const char *record_type_name(int type); /* "flip", ...; "unknown" otherwise */

/* Which build this is (controller/version.c): the project version ("0.1.0"), the git
 * description baked in at build time (the version without git), and both as
 * "inception 0.1.0 (DESCRIPTION)", what `inception --version` prints and session_start,
 * the export and MEI manifests record. */
const char *inception_version(void);
const char *inception_build(void);
const char *inception_version_string(void);

/* Payloads are lists of named, typed fields (RECORD.md): a payload builder
 * appends them; record_field_find reads them back. */
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
int session_record_create_for(const char *dir, const protocol *p, session_record **out,
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

/* --- Typed records: each fills a payload with the fields RECORD.md lists --- */

int session_record_phase(session_record *w, const char *phase, const char *event, char *err);
int session_record_note(session_record *w, const char *text, char *err);

/* One point of the fit's learning curve, a `note` (RECORD.md): `fit`
 * "background" (a round of the background fit, `trials` its snapshot) or
 * "final" (an epoch of the final fit, `trials` 0), the round or epoch,
 * its last epoch's training loss and mean validation correlation. */
typedef struct record_fit_round {
    const char *fit;
    int64_t round, trials;
    double train_loss, validation_corr;
} record_fit_round;
int session_record_fit_round(session_record *w, const record_fit_round *r, char *err);

typedef struct record_schedule_entry {
    int64_t trial;          /* presentation index, 0.. */
    const char *block;      /* "train", "validation", "test", "closed_loop" */
    const char *kind;       /* "natural", "mei", "best_natural", "gabor", "rf" */
    int64_t image_id;       /* repeats share an id */
    int64_t target_neuron;  /* -1 for natural images */
    int64_t stimulus_frames, isi_frames;
    const uint8_t *image_sha256; /* SHA256_SIZE bytes: the image's pixels_sha256, NULL none */
} record_schedule_entry;
int session_record_schedule(session_record *w, const record_schedule_entry *e, char *err);

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
} record_flip_event;
int session_record_flip(session_record *w, const record_flip_event *f, char *err);

typedef struct record_stream_message {
    int64_t message_num;  /* the stream's counter */
    const char *kind;     /* "data", "event", "spike" */
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
    int clock_reset;      /* the first item after an Open Ephys GUI stop and start */
} record_stream_message;
int session_record_stream(session_record *w, const record_stream_message *m, char *err);

typedef struct record_sync_event {
    int64_t line, state;
    int64_t sample_num;   /* stream sample clock */
    int64_t received_ns;
    int64_t trial;        /* the trial it marks, -1 if unknown */
} record_sync_event;
int session_record_sync_event(session_record *w, const record_sync_event *s, char *err);

/* A batch of Open Ephys spikes as received (RECORD.md `spikes`): `count`
 * spikes' sample numbers, sorted_ids and indices into `electrodes`, the
 * batch's electrode names joined by newlines. */
typedef struct record_spikes {
    int count;
    const int64_t *sample_num;
    const int32_t *sorted_id;
    const uint8_t *electrode;
    const char *electrodes;
    int64_t first_received_ns, received_ns; /* the first and the last spike's arrival */
} record_spikes;
int session_record_spikes(session_record *w, const record_spikes *s, char *err);

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
} record_alignment;
int session_record_alignment(session_record *w, const record_alignment *a, char *err);

/* A trial's counts (one per neuron), acknowledged once durable. */
typedef struct record_trial {
    int64_t trial, image_id;
    int64_t onset_ns;
    int neurons;
    const float *counts;
} record_trial;
int session_record_trial(session_record *w, const record_trial *t, uint64_t *sequence,
                         char *err);

/* The bytes of a model file (read from `model_path`), with its epoch and
 * mean validation correlation. */
int session_record_checkpoint(session_record *w, const char *model_path, int64_t epoch,
                              double validation_corr, char *err);

typedef struct record_stimulus {
    int64_t stimulus_id;
    int64_t neuron;         /* target, -1 if none */
    const char *kind;       /* "mei", "gabor", "rf", "best_natural" */
    int height, width;
    const float *pixels;    /* height × width, luminance in [0, 1] */
    double predicted;       /* the model's predicted response */
} record_stimulus;
/* Records the pixels with their SHA-256 (`pixels_sha256`, RECORD.md). */
int session_record_stimulus(session_record *w, const record_stimulus *s, char *err);
/* The SHA-256 of height × width pixels as a stimulus record holds them
 * (little-endian float32, row-major): its `pixels_sha256`. */
void record_pixels_sha256(const float *pixels, int height, int width,
                          uint8_t digest[SHA256_SIZE]);

typedef struct record_evaluation {
    int64_t neuron;
    const char *kind;           /* stimulus kind evaluated */
    double mean, ci_low, ci_high;
    int64_t repeats;
} record_evaluation;
int session_record_evaluation(session_record *w, const record_evaluation *e, char *err);

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
} record_model_metrics;
int session_record_model_metrics(session_record *w, const record_model_metrics *m, char *err);

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

/* The rooms that build on the record (session.h includes this header first,
 * so the record is declared before it). */
#include "report/report.h"
#include "session/session.h"
#include "display/display.h"

#endif
