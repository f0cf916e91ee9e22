/* controller.h: the controller library's one public header.
 *
 * Two foundations of the closed loop live here:
 *   - the protocol: a YAML file declaring everything a session does, parsed
 *     and schema-checked before anything starts (protocol.c);
 *   - the session record: an append-only, checksummed, crash-safe file of
 *     typed records holding everything a session saw and did
 *     (session_record.c; the format is documented in controller/RECORD.md).
 *
 * Conventions: functions return 0 on success and non-zero on failure, with a
 * one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). Nothing here prints.
 * Structs are owned by whoever called their _create/_load/_open and freed
 * with the matching _destroy/_close. */
#ifndef INCEPTION_CONTROLLER_H
#define INCEPTION_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#define CONTROLLER_ERR_SIZE 256

/* ------------------------------------------------------------------------
 * The library's one error helper and one growable array (controller_util.c)
 * ------------------------------------------------------------------------ */

/* Writes the one-line reason into `err` (CONTROLLER_ERR_SIZE bytes; NULL
 * takes none) and returns 1, so that a failure is `return controller_fail(err, ...)`. */
int controller_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Growable arrays: `items` is the address of the array's pointer (of any
 * object type), `capacity` how many items it holds. controller_grow makes
 * room for `needed` items, doubling the capacity from `first`; 0 on success,
 * 1 when out of memory or when the size would overflow, the array and its
 * capacity then as they were. For parallel arrays that share one capacity:
 * controller_capacity_for gives the capacity controller_grow would choose,
 * and controller_resize reallocates one array to it (the same contract). */
int controller_grow(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first);
size_t controller_capacity_for(size_t capacity, size_t needed, size_t first);
int controller_resize(void *items, size_t count, size_t item_size);

/* ------------------------------------------------------------------------
 * Protocol
 * ------------------------------------------------------------------------ */

#define PROTOCOL_VERSION 1
#define PROTOCOL_STRING_SIZE 512
#define PROTOCOL_MAX_LAYERS 8 /* equals the model's MODEL_MAX_LAYERS */

typedef enum protocol_display_mode {
    PROTOCOL_DISPLAY_FULLSCREEN = 0,
    PROTOCOL_DISPLAY_WINDOWED = 1,
    PROTOCOL_DISPLAY_OFFSCREEN = 2, /* no window: render to memory (tests, headless demo) */
} protocol_display_mode;

typedef enum protocol_image_source {
    PROTOCOL_IMAGES_SYNTHETIC = 0, /* 1/f images with occluding shapes, generated */
    PROTOCOL_IMAGES_PHOTOS = 1,    /* patches of Debian's photographs (else synthetic) */
    PROTOCOL_IMAGES_FOLDER = 2,    /* each PNG/JPEG file in images.path one image (protocol
                                      version 2; version 1's `folder` reads as PATCHES) */
    PROTOCOL_IMAGES_NPY = 3,       /* images.path is an N×H×W float32 NPY file */
    PROTOCOL_IMAGES_PATCHES = 4,   /* patches cut from the files in images.path (drawn with
                                      replacement, half flipped) */
} protocol_image_source;

typedef enum protocol_readout {
    PROTOCOL_READOUT_GAUSSIAN = 0,
    PROTOCOL_READOUT_FACTORIZED = 1,
} protocol_readout;

typedef enum protocol_preconditioning {
    PROTOCOL_PRECONDITION_NONE = 0,
    PROTOCOL_PRECONDITION_BLUR = 1,    /* Gaussian blur of the gradient, σ decaying */
    PROTOCOL_PRECONDITION_FOURIER = 2, /* gradient scaled by 1/f in the Fourier domain */
} protocol_preconditioning;

typedef enum protocol_objective {
    PROTOCOL_OBJECTIVE_SINGLE = 0,  /* maximize the target neuron's response */
    PROTOCOL_OBJECTIVE_ONE_HOT = 1, /* target up, the other targets down (Bashivan et al.) */
} protocol_objective;

/* Controls shown next to each MEI, a bit set. */
enum {
    PROTOCOL_CONTROL_BEST_NATURAL = 1 << 0, /* the natural image with the highest response */
    PROTOCOL_CONTROL_GABOR = 1 << 1,        /* a Gabor optimized for the neuron */
    PROTOCOL_CONTROL_RF = 1 << 2,           /* the receptive-field stimulus */
};

typedef struct protocol_endpoints {
    char stream[PROTOCOL_STRING_SIZE]; /* acquisition stream to subscribe (Open Ephys ZMQ PUB) */
    char sync[PROTOCOL_STRING_SIZE];   /* where stimulus onsets are published */
    int format;              /* protocol_stream_format */
    int units;               /* 0: learned from the stream; else checked against it */
    float timeout_s;         /* nothing on the stream this long at the start: an error */
    float sample_rate;       /* Open Ephys: samples per second of its clock */
    float bin_ms;            /* Open Ephys: spikes are binned this wide here */
    int electrodes;          /* Open Ephys: unsorted-spike columns, one per electrode; 0 none */
    int sync_line;           /* TTL line of the sync edges; -1 any rising edge */
} protocol_endpoints;

typedef enum protocol_stream_format {
    PROTOCOL_STREAM_NATIVE = 0,   /* acquisition/WIRE.md */
    PROTOCOL_STREAM_OPENEPHYS = 1 /* the Open Ephys GUI's ZMQ Interface plugin */
} protocol_stream_format;

typedef struct protocol_virtual_rig {
    int enabled;             /* 1: run the simulated population behind the stream */
    int neurons;
    float fraction_simple, fraction_complex, fraction_conjunction;
    float fraction_energy_conjunction; /* the rest normalized */
    float fraction_end_stopped, fraction_surround, fraction_curvature, fraction_texture;
                                       /* the zoo, docs/ground-truth.md */
    uint64_t seed;
    float message_loss;      /* fraction of stream messages dropped, 0..0.5 */
    float latency_ms;        /* stream delivery latency */
    int drop_sync_every;     /* trials N, 2N, ... lose their sync edge; 0 never */
    int drop_bin_every;      /* trials N, 2N, ... lose the last bin of their window; 0 never */
} protocol_virtual_rig;

typedef struct protocol_display {
    int index;               /* which display (SDL's numbering) */
    int mode;                /* protocol_display_mode */
    int width, height;       /* pixels; windowed and offscreen sizes, fullscreen uses the mode's */
    float refresh_hz;
    float screen_width_cm, viewing_distance_cm;
    float stimulus_degrees;  /* visual angle of the stimulus width */
    float background;        /* luminance in [0, 1] between stimuli */
    int photodiode;          /* 1: a corner patch that flips with each stimulus */
    int photodiode_px;
    char gamma_file[PROTOCOL_STRING_SIZE]; /* "" linear; resolved path otherwise */
    char endpoint[PROTOCOL_STRING_SIZE];   /* a remote display (`inception present --serve`); "" local */
} protocol_display;

typedef struct protocol_timing {
    int stimulus_frames, isi_frames; /* resolved, whole frames */
    float stimulus_ms, isi_ms;       /* as requested (0 when given in frames) */
} protocol_timing;

typedef struct protocol_images {
    int source;                       /* protocol_image_source */
    char path[PROTOCOL_STRING_SIZE];  /* resolved; folder or NPY file, "" otherwise */
    int train;                        /* natural images, each shown once */
    float validation_fraction;        /* share of `train` held out for early stopping */
    int test;                         /* test images... */
    int test_repeats;                 /* ...each shown this many times */
    int height, width;                /* the model's input size */
} protocol_images;

typedef struct protocol_response {
    float latency_ms;  /* onset to the start of the counting window */
    float duration_ms; /* length of the counting window */
} protocol_response;

typedef struct protocol_model {
    int channels, layers;
    int kernels[PROTOCOL_MAX_LAYERS]; /* odd sizes, one per layer */
    int readout;                      /* protocol_readout */
    float learning_rate;
    int batch_size, epochs, patience, threads;
    int ensemble; /* models fitted in the final fit (seeds seed, seed + 1, ...); MEIs and
                     controls use their mean prediction */
    /* "": fit here; else a model file fitted elsewhere (resolved path), used instead */
    char file[PROTOCOL_STRING_SIZE];
} protocol_model;

typedef struct protocol_targets {
    int count;             /* top N neurons by validation correlation */
    float min_correlation; /* and no neuron below this */
} protocol_targets;

typedef struct protocol_mei {
    int steps, starts;
    float contrast;        /* RMS contrast budget; 0: the natural images' */
    int preconditioning;   /* protocol_preconditioning */
    float blur_sigma;      /* starting σ of the gradient blur, pixels */
    float jitter_px;
    float step_size;
    int objective;         /* protocol_objective */
    unsigned controls;     /* PROTOCOL_CONTROL_* bits */
} protocol_mei;

typedef struct protocol_closed_loop {
    int repeats; /* presentations of each MEI and control */
} protocol_closed_loop;

typedef struct protocol {
    int version;
    char name[PROTOCOL_STRING_SIZE];
    uint64_t seed;                        /* randomizes schedule, fits, synthesis */
    char output[PROTOCOL_STRING_SIZE];    /* the session directory (relative to the cwd) */
    protocol_endpoints endpoints;
    protocol_virtual_rig virtual_rig;
    protocol_display display;
    protocol_timing timing;
    protocol_images images;
    protocol_response response;
    protocol_model model;
    protocol_targets targets;
    protocol_mei mei;
    protocol_closed_loop closed_loop;

    char file[PROTOCOL_STRING_SIZE]; /* where it was read from, for messages */
    char dir[PROTOCOL_STRING_SIZE];  /* the folder relative paths were resolved against
                                      * (absolute after protocol_load); "" when none */
    char *text;                      /* the file's bytes verbatim, NUL-terminated, owned */
    size_t text_size;
    int *lines;                      /* per setting: the file line it came from, 0 = default */
} protocol;

/* Reads and checks a protocol file. Relative paths inside it (gamma file,
 * image folder or NPY) are resolved against the file's folder, made
 * absolute (p->dir), so they stay right from any working directory. On failure
 * `err` reads "FILE:LINE:COLUMN: message (hint: ...)". */
int protocol_load(const char *path, protocol **out, char *err);

/* The same from memory. `file` names the text in messages; `base_dir`
 * resolves relative paths. NULL: a protocol read back, not about to run
 * (fuzzing, a recorded or imported session's protocol): input files are not
 * checked for existence, nor what only a run needs (2 validation images, the
 * stream and the onsets on separate ports). */
int protocol_parse(const char *text, size_t size, const char *file, const char *base_dir,
                   protocol **out, char *err);

void protocol_destroy(protocol *p);

/* Resolved settings, one by one, for `inception check-protocol` and the
 * session record: "section.key", its value as text, and where it came from
 * ("line 12", "default", or a derivation). */
typedef struct protocol_setting {
    char key[64];
    char value[PROTOCOL_STRING_SIZE];
    char source[PROTOCOL_STRING_SIZE];
    const char *doc;
} protocol_setting;

int protocol_setting_count(void);
void protocol_setting_get(const protocol *p, int index, protocol_setting *out);

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
    RECORD_TRIAL_FLAGS = 15,  /* flags a recorded trial gained later: readers OR them into its own */
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

/* A recorded trial found flagged after its record was written (RECORD.md
 * `trial_flags`): a span of possible loss on the acquisition clock that its
 * window overlaps came later (an Open Ephys spike too late for its bin).
 * Appended, never rewriting the trial record; every reader ORs `flags` into
 * the trial's own. */
typedef struct record_trial_flags {
    int64_t trial;
    int64_t flags;            /* ACQ_TRIAL_* bits the trial gained */
    int64_t from_ns, until_ns; /* the span, acquisition clock */
    const char *reason;
} record_trial_flags;
int session_record_trial_flags(session_record *w, const record_trial_flags *c, char *err);

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

/* ------------------------------------------------------------------------
 * Evaluation statistics (statistics.c)
 *
 * The closed loop's question: does each target neuron respond more to its
 * MEI than to its controls? Per neuron, the mean response over repeats with
 * a bootstrap confidence interval; across neurons, paired statistics of the
 * per-neuron means (MEI vs one control).
 * ------------------------------------------------------------------------ */

/* A mean and its percentile bootstrap interval. */
typedef struct stats_interval {
    double mean, low, high;
} stats_interval;

/* Percentile bootstrap of the mean of x[0..n): `resamples` resamples of n
 * values drawn with replacement by a generator seeded with `seed` (same seed,
 * same interval), the interval's bounds the (1-level)/2 and (1+level)/2
 * quantiles of the resampled means (linear interpolation between order
 * statistics). n = 1 or all values equal give a zero-width interval.
 * Fails on n < 1, resamples < 1, level outside (0, 1) or non-finite x. */
int stats_bootstrap_mean(const double *x, int n, int resamples, double level, uint64_t seed,
                         stats_interval *out, char *err);

/* The closed loop's interval for one target neuron's responses to one
 * stimulus kind (0..STATS_EVALUATION_KINDS-1: mei, best_natural, gabor, rf):
 * stats_bootstrap_mean with REPORT_BOOTSTRAP_RESAMPLES resamples at
 * REPORT_CONFIDENCE, seeded neuron × STATS_EVALUATION_KINDS + kind. The run
 * records it and the report recomputes it from the trials through this one
 * call, so the two agree to the bit. */
#define STATS_EVALUATION_KINDS 4
int stats_evaluation_interval(const double *x, int n, int64_t neuron, int kind,
                              stats_interval *out, char *err);

/* Whether a's mean is above b's beyond doubt: +1 when a's interval lies
 * wholly above b's (a.low > b.high), -1 wholly below (a.high < b.low), 0
 * when they overlap or either is NaN. Two 95% intervals apart is a stricter
 * claim than a 5% test of the difference: a comparison called won or lost
 * this way is not one that noise decided. */
int stats_interval_verdict(const stats_interval *a, const stats_interval *b);

/* Wilcoxon signed-rank test of the paired differences d = x - y, two-sided.
 * Zero differences are dropped (Wilcoxon's convention); tied |d| get their
 * average rank. With n_used <= STATS_WILCOXON_EXACT_MAX the p-value is exact:
 * the permutation distribution of W+ over all 2^n sign assignments of the
 * observed ranks (ties included), counted by dynamic programming. Above, the
 * normal approximation with the tie-corrected variance
 * n(n+1)(2n+1)/24 - sum(t^3 - t)/48 and a continuity correction of 0.5.
 * n_used = 0 gives p = 1. */
#define STATS_WILCOXON_EXACT_MAX 25
typedef struct stats_wilcoxon {
    int n_used;          /* non-zero differences */
    double w_plus, w_minus;
    int exact;           /* 1: exact p, 0: normal approximation */
    double z;            /* the approximation's z (0 when exact) */
    double p;            /* two-sided */
} stats_wilcoxon;
int stats_wilcoxon_signed_rank(const double *x, const double *y, int n, stats_wilcoxon *out,
                               char *err);

/* Sign test of x - y: zeros dropped, exact two-sided binomial p (p = 1 when
 * nothing is left). */
typedef struct stats_sign {
    int positive, negative, zeros;
    double p;
} stats_sign;
int stats_sign_test(const double *x, const double *y, int n, stats_sign *out, char *err);

/* Paired comparison across neurons of `mei` and `control` (per-neuron mean
 * responses): mean and sd (n-1) of the differences, the effect size
 * d_z = mean / sd (NAN when n < 2 or sd = 0), the median of mei/control over
 * the neurons whose control is > 0 (NAN when none), and both tests. */
typedef struct stats_paired {
    int n;
    double mean_difference, sd_difference, effect_size;
    double median_ratio;
    int ratio_count;     /* neurons entering the median ratio */
    stats_wilcoxon wilcoxon;
    stats_sign sign;
} stats_paired;
int stats_paired_compare(const double *mei, const double *control, int n, stats_paired *out,
                         char *err);

/* The median of x[0..n) (n >= 1; x is not modified). */
double stats_median(const double *x, int n);
/* The mean of the finite values of v (NaN when there are none): a metric over
 * neurons skips those it is undefined for (no variance, too few repeats). */
double stats_finite_mean(const float *v, int n);

/* ------------------------------------------------------------------------
 * Report (report.c)
 * ------------------------------------------------------------------------ */

#define REPORT_DIR_NAME "report"
#define REPORT_BOOTSTRAP_RESAMPLES 2000
#define REPORT_CONFIDENCE 0.95

typedef struct report_summary {
    uint64_t records;  /* valid records read */
    uint64_t damaged;  /* corrupt stretches and torn tails skipped */
    int figures;       /* PNG files written */
    int missing;       /* sections the record had nothing for */
    int targets;       /* target neurons with closed-loop responses */
} report_summary;

/* Reads SESSION_DIR/session.rec and writes SESSION_DIR/report/index.html
 * with its PNG figures next to it (relative links, no scripts): model test
 * correlations, the MEI gallery with controls, MEI-vs-control responses with
 * the paired statistics above, stimulus timing, stream health and alignment
 * residuals. A section the record has no data for says so on the page. */
int report_write(const char *session_dir, report_summary *out, char *err);

/* ------------------------------------------------------------------------
 * Session data (session_data.c): a record's natural-image trials rebuilt as
 * the model's dataset, and a dataset turned into a record (import).
 *
 * Which trials are data, from the record alone (RECORD.md, "Tiers"):
 *   - a `schedule` record with `kind` natural and `block` train, validation,
 *     test (or unused: TIER_NONE) gives its `trial` that tier; test images
 *     repeat under one `image_id`;
 *   - the `trial` record with that number gives the counts (`image_id`
 *     must agree with the schedule's);
 *   - the `stimulus` record of kind natural whose `stimulus_id` is the
 *     image_id gives the pixels.
 * Trials whose record carries a non-zero `flags` field (the aligner's
 * ACQ_TRIAL_* bits, RUN_TRIAL_FRAMES) are left out and counted; so are trials of other blocks
 * (closed loop) and trial records without a natural schedule record.
 * Dataset rows come in ascending trial number.
 * ------------------------------------------------------------------------ */

#include "model.h"
#include "stimulus.h"

#define SESSION_NAME_SIZE 256

typedef struct session_dataset {
    dataset data;              /* natural trials, tiers from the schedule */
    char protocol_name[SESSION_NAME_SIZE];
    char *protocol_text;       /* session_start's protocol, NUL-terminated, owned */
    size_t protocol_size;
    char protocol_dir[PROTOCOL_STRING_SIZE]; /* its relative paths' base; "" when unrecorded */
    int flagged;               /* natural trials left out for their flags */
    int other_trials;          /* trial records of other blocks, or unscheduled */
    int duplicates;            /* repeated trial numbers (the first kept) */
    int *targets;              /* neurons with a recorded MEI, in record order (owned) */
    int n_targets;
    unsigned char *start_model; /* the last SESSION_START_MODEL_FILE checkpoint's bytes
                                   (owned), NULL when the record has none */
    size_t start_model_size;
    uint64_t records, damaged; /* valid records read; damaged stretches skipped */
    int repaired;              /* natural images a schedule names whose stimulus record was
                                  lost to damage, made again from the recorded protocol
                                  (session_natural_images) and checked */
    int64_t *repaired_ids;     /* repaired, ascending (owned) */
    float *repaired_pixels;    /* repaired × height × width (owned) */
    char repair_note[512];     /* what was rebuilt, verified or not ("" when nothing) */
} session_dataset;

/* Reads DIR/session.rec. A natural image whose stimulus record was lost to
 * damage is made again from the recorded protocol and checked against the
 * record's hashes (session_natural_images; `repaired`, `repair_note`). Fails
 * (with the trial or stimulus named) when a natural trial's image cannot be
 * had so, a remade image differs from its recorded hash, images differ in
 * size or trials in neurons. */
int session_dataset_load(const char *session_dir, session_dataset *out, char *err);
/* The same from a record's bytes (the fuzz target's entry point). */
int session_dataset_parse(const void *bytes, size_t size, session_dataset *out, char *err);
void session_dataset_free(session_dataset *s);

/* A protocol text for data that came from elsewhere: name, image size and
 * tier sizes from the dataset, model and synthesis settings the template's
 * defaults, a comment saying where it came from. Parses with protocol_parse.
 * malloc'd. */
char *session_import_protocol(const dataset *d, const char *source, size_t *size);
/* Writes a new record in `session_dir` holding `d` as a recorded session:
 * session_start (the protocol above), a stimulus record of kind natural per
 * image id, and per trial a schedule record (block = the tier) and a trial
 * record (onset every stimulus + isi of the protocol). session_dataset_load of
 * it gives `d` back bit for bit. Repeats of an id must share their pixels. */
int session_import_dataset(const dataset *d, const char *source, const char *session_dir,
                           char *err);

/* ------------------------------------------------------------------------
 * Session images (session_images.c): a session's natural images made from
 * its protocol (the images section and the seed) and checked against what
 * its record says of them. `inception run` shows them; resume makes them
 * again; resume and replay rebuild from them a natural stimulus record lost
 * to damage (RECORD.md, "Reading and resuming"). One path for all three.
 * ------------------------------------------------------------------------ */

/* What a record says of each natural image id 0..count-1 (count: the
 * protocol's images.train + images.test), from its intact records. */
enum {
    SESSION_IMAGE_RECORDED = 1, /* an intact `stimulus` record of kind natural */
    SESSION_IMAGE_SHOWN = 2,    /* a `schedule` record of kind natural names it */
    SESSION_IMAGE_HASHED = 4,   /* its SHA-256 is known: session_image_log.sha256 */
    SESSION_IMAGE_CONFLICT = 8, /* two records give it different hashes */
};
typedef struct session_image_log {
    int count;
    uint8_t *state;       /* count: SESSION_IMAGE_* bits */
    uint8_t *sha256;      /* count × SHA256_SIZE */
    int highest_recorded; /* the highest id with an intact stimulus record, -1 none */
} session_image_log;

int session_image_log_create(session_image_log *l, int count, char *err);
void session_image_log_free(session_image_log *l);
/* Notes what a record says of a natural image: a `stimulus` record its id
 * and `pixels_sha256` (a record written before hashes: the SHA-256 of its
 * pixels, which its CRC vouches for), a `schedule` record its `image_id` and
 * `image_sha256`. Other records and ids outside 0..count-1 are ignored. */
void session_image_log_add(session_image_log *l, const record_view *v);
/* Whether the image has an intact stimulus record (NULL log: no). */
int session_image_recorded(const session_image_log *l, int id);

#define SESSION_IMAGE_IDS_SIZE 96
typedef struct session_image_repair {
    int rebuilt;    /* images whose stimulus record was lost to damage: no intact one,
                       yet shown or below a recorded id */
    int unverified; /* of those, the ones the record holds no hash for */
    int checked;    /* images made again that equal their recorded hash */
    char rebuilt_ids[SESSION_IMAGE_IDS_SIZE];    /* "5, 17" ("..." when cut) */
    char unverified_ids[SESSION_IMAGE_IDS_SIZE];
} session_image_repair;

/* The protocol's natural images, ids 0..count-1 of images.train +
 * images.test, count × images.height × images.width into `out`, from its
 * images source (synthetic, photos, folder, npy) and seed: what `inception
 * run` shows. Image i does not depend on how many are made. With a
 * `recorded` log (count ids), every image whose SHA-256 the record holds is
 * checked against it and the first that differs fails, named ("image K
 * ..."), as does a hash conflict; `repair` (may be NULL) then says which
 * images the record lost to damage. */
int session_natural_images(const protocol *p, int count, const session_image_log *recorded,
                           float *out, session_image_repair *repair, char *err);
/* The note resume and replay record and print: which stimulus records were
 * rebuilt, from what, verified or not. 0 when nothing was rebuilt. */
int session_image_repair_note(const session_image_repair *r, const protocol *p, char *out,
                              size_t size);

/* ------------------------------------------------------------------------
 * Fit and synthesis (session_fit.c): the end of a session's analysis, one
 * path that `inception run`'s fit and synthesis phases and `inception replay`
 * both take, with the same inputs (the dataset rebuilt from the record, the
 * recorded start model): fit the model on the dataset's train tier (early
 * stopping on validation), evaluate it (validation correlation; test
 * correlation to the average over repeats, FEVE), pick targets, set the
 * contrast budget, synthesize MEIs, make the controls, predict each
 * stimulus; and record it (the same records from both).
 * Deterministic: same dataset, start model, settings and thread count give
 * the same model bytes, MEIs and controls.
 * ------------------------------------------------------------------------ */

/* The closed loop's stimuli per target: the MEI and its three controls. */
enum { SESSION_KIND_MEI, SESSION_KIND_BEST_NATURAL, SESSION_KIND_GABOR, SESSION_KIND_RF,
       SESSION_KIND_COUNT };
/* "mei", "best_natural", "gabor", "rf" (the records' `kind`); NULL outside 0..3. */
const char *session_kind_name(int kind);

/* The checkpoint `inception run` records before its final fit: the background
 * fit's model, which the final fit starts from (RECORD.md). */
#define SESSION_START_MODEL_FILE "model_start.bin"

typedef struct session_fit_settings {
    model_config model;
    fit_options fit;
    mei_options mei;          /* budget: filled by session_fit_synthesize */
    mei_objective objective;
    float contrast;           /* MEI budget RMS contrast; 0: median of the training images */
    int target_count;         /* top N by validation correlation when no targets are given */
    float min_correlation;
    unsigned controls;        /* PROTOCOL_CONTROL_* bits */
    uint64_t control_seed;    /* the matched Gabor's search */
    int ensemble;             /* models in the final fit: the first from the start model,
                                 the others new, seeded seed + k (1..SESSION_ENSEMBLE_MAX) */
} session_fit_settings;

#define SESSION_ENSEMBLE_MAX 8

/* The one mapping from a protocol to model, fit, synthesis and control
 * settings, for data of height × width × neurons (the protocol's seed seeds
 * model, fit, synthesis and controls). `inception run` and `replay` both use it. */
void session_fit_settings_from_protocol(const protocol *p, int height, int width, int neurons,
                                        session_fit_settings *out);

typedef struct session_fit_result {
    model *model;              /* owned */
    /* The ensemble: members[0] is `model`, members[1..n_models-1] the
     * further models (owned), all of its shape. The evaluation, targets,
     * MEIs, controls and predictions use their mean (ensemble_predict; one
     * model: the model itself, to the bit). */
    model *members[SESSION_ENSEMBLE_MAX];
    int n_models;
    fit_report fit;            /* epochs 0 when the model was adopted, not fitted */
    float *validation_corr;    /* neurons: single-trial correlation on validation trials */
    float *test_corr;          /* neurons: correlation to the average over test repeats */
    float *test_feve;          /* neurons */
    neuron_metrics *test;      /* neurons: every test metric (NaN when < 2 test trials) */
    int test_trials;
    double test_feve_mean;     /* over neurons with FEV >= METRICS_FEV_MIN (NaN: none) */
    double test_corr_mean;     /* over neurons with finite values (NaN: none) */
    int *targets, n_targets;   /* owned */
    float *meis;               /* n_targets × H × W */
    mei_result *mei;           /* n_targets */
    stimulus_budget budget;
    float *stimuli;            /* n_targets × SESSION_KIND_COUNT × H × W: MEI, controls */
    uint8_t *present;          /* n_targets × SESSION_KIND_COUNT: which were made */
    float *predicted;          /* n_targets × SESSION_KIND_COUNT: the target's predicted rate */
} session_fit_result;

/* The final fit: from `start` (a model file's bytes, e.g. the record's
 * SESSION_START_MODEL_FILE checkpoint; NULL: a new model from s->model) to
 * convergence on d's train tier, then evaluated (validation and test). */
int session_fit_model(const dataset *d, const session_fit_settings *s,
                      const unsigned char *start, size_t start_size, session_fit_result *out,
                      char *err);
/* m's per-neuron metrics (metrics_evaluate) on d's trials of one tier;
 * *trials: how many it has (below 2 nothing is computed, out untouched). */
int session_fit_evaluate_tier(model *m, const dataset *d, int tier, neuron_metrics *out,
                              int *trials, char *err);
/* Models fitted before (a resumed session's model.bin and its ensemble's
 * files), evaluated as above; takes ownership of all `count` (also on
 * failure). session_fit_adopt: the one model m. */
int session_fit_adopt_ensemble(const dataset *d, model **models, int count,
                               session_fit_result *out, char *err);
/* The file name of ensemble member k >= 1 in the session folder. */
void session_fit_member_file(int k, char *out, size_t size);
/* A model fitted before (a resumed session's model.bin), evaluated as above;
 * takes ownership of m (also on failure). */
int session_fit_adopt(const dataset *d, model *m, session_fit_result *out, char *err);
/* After session_fit_model/adopt: the targets (`targets`, else the settings'
 * top N by validation correlation, none below the minimum; n_targets may
 * come out 0), the contrast budget, the MEIs, the controls the settings ask
 * for and every stimulus' predicted rate. */
int session_fit_synthesize(const dataset *d, const session_fit_settings *s, const int *targets,
                           int n_targets, session_fit_result *r, char *err);
/* Both of the above. */
int session_fit_and_synthesize(const dataset *d, const session_fit_settings *s,
                               const unsigned char *start, size_t start_size,
                               const int *targets, int n_targets, session_fit_result *out,
                               char *err);
/* The budget of MEIs and controls: the mean luminance of d's training
 * trials and (contrast 0) their median RMS contrast. */
int session_fit_budget(const dataset *d, float contrast, stimulus_budget *out, char *err);
void session_fit_result_free(session_fit_result *r);

/* What run and replay record of a fit, the same records from both
 * (RECORD.md): model.bin saved in `dir` and its checkpoint, the test metrics
 * (an `evaluation` of kind test_metrics with per-neuron arrays and a
 * `model_metrics` record of split test) ... */
int session_fit_record_model(session_record *w, const char *dir, const dataset *d,
                             const session_fit_result *r, char *err);
/* ... and of the targets: the validation correlations (evaluation
 * validation_corr), a `targets` note with the neurons, the budget note. */
int session_fit_record_targets(session_record *w, const dataset *d, const session_fit_result *r,
                               char *err);
/* An `evaluation` record with neuron -1 and per-neuron float32 arrays
 * (names NULL-terminated): the one writer of metric arrays. */
int session_record_metric_arrays(session_record *w, const char *kind, double mean, int n,
                                 const char *const *names, const float *const *arrays,
                                 char *err);

/* ------------------------------------------------------------------------
 * Stream replay (session_stream.c): a record's stream published again in the
 * native wire format with its recorded timing, so that downstream tools
 * (inception acquire, a display of the stream) can be tested against a real
 * session. A record of `inception run` holds every received message: counts
 * messages (bins, timestamps, counts), event messages (edges: the sync
 * records after them) and heartbeats are published again as they came, at
 * their received times, the sender's gaps skipped again, and each trial's
 * onset on the onset socket at its onset time (as_recorded = 1; bin_ns,
 * latency_ns and window_ns unused). A record without received counts holds
 * trial counts, not the acquisition's bins: each
 * trial record becomes an onset (onset socket) and a rising sync edge on line
 * 0 at its onset_ns (data socket, acquisition clock = the record's clock),
 * and its counts go into the one bin of a regular grid whose centre is the
 * first inside [onset + latency, onset + latency + window); other bins are
 * zeros. Summing each window's bins gives the recorded counts back exactly
 * unless windows overlap (counted). Both sockets bind.
 * ------------------------------------------------------------------------ */

typedef struct session_stream_options {
    const char *data_endpoint;   /* counts and sync edges (default tcp://127.0.0.1:5556) */
    const char *onset_endpoint;  /* onsets (default tcp://127.0.0.1:5560); NULL: none */
    int allow_remote;
    double speed;                /* recorded intervals × speed: 1 real time, 0 at once */
    int64_t bin_ns;              /* grid (default 10 ms) */
    int64_t latency_ns, window_ns; /* the response window (defaults 50 and 500 ms) */
    int wait_ms;                 /* after binding, for subscribers to connect (1000) */
    /* ACQ_FORMAT_OPENEPHYS: a record's received messages in the ZMQ Interface
     * plugin's format instead (a record of inception run only): every
     * recorded spike (`spikes` records), each sync edge as a TTL event, and
     * for each recorded bin a data block over its samples (no sample data:
     * the record holds none) as the clock, all at `sample_rate`; onsets
     * stay native on the onset socket. */
    int format;
    double sample_rate;          /* default 30000: the protocol's endpoints.sample_rate */
    void (*progress)(int trials_sent, int trials, void *user);
    void *user;
} session_stream_options;

typedef struct session_stream_summary {
    int trials, neurons;
    int overlapping;             /* trials whose bin lies in an earlier trial's window */
    uint64_t bins, events, onsets;
    uint64_t spikes;             /* Open Ephys form: spike messages sent */
    double seconds;              /* publishing, the wait excluded */
    int as_recorded;             /* 1: the received messages as they came (bins: counts
                                    messages, events: edges); 0: rebuilt from the trials */
} session_stream_summary;

void session_stream_options_default(session_stream_options *o);
int session_stream_replay(const char *session_dir, const session_stream_options *o,
                          session_stream_summary *out, char *err);

/* ------------------------------------------------------------------------
 * The inception loop (run.c): one session from a protocol, phase by phase:
 * start (rig, streams, presenter), recording (natural images, a background
 * fit), fit, targets and synthesis, closed loop, evaluation.
 * ------------------------------------------------------------------------ */

/* What the loop is doing, for a progress display (read in the callback only). */
typedef struct run_status {
    const char *phase;        /* "start", "recording", "fit", "synthesis", "closed_loop", ... */
    int trials_done, trials_total; /* of the current block */
    int fit_rounds;           /* background fit rounds finished */
    double validation_corr;   /* the latest fit's mean validation correlation, NaN before */
    int mei_step, mei_steps;  /* synthesis progress */
    int mei_active, mei_images; /* MEIs still improving, of all being synthesized */
    int64_t dropped_frames;   /* so far, over the session */
    uint64_t stream_lost;     /* stream messages lost so far */
    uint64_t stream_messages; /* stream messages received so far */
    int flagged_trials;       /* trials the aligner flagged (loss, no sync, ...) */
    double seconds;           /* since the session started */
    const char *message;      /* a line worth printing once, or NULL */
} run_status;

typedef struct run_options {
    const char *out_dir;        /* NULL: the protocol's output */
    const char *rig_executable; /* the `inception` binary for the virtual rig (/proc/self/exe) */
    void (*progress)(const run_status *s, void *user); /* from the run's own thread */
    void *user;
    /* When it becomes non-zero (a signal handler's flag) the session stops at
     * the next trial or phase boundary, records why and cleans up. NULL: never. */
    const volatile int *stop;
    /* run_resume: render offscreen whatever the recorded protocol says (no display here). */
    int offscreen;
} run_options;

enum { RUN_CONTROL_BEST_NATURAL, RUN_CONTROL_GABOR, RUN_CONTROL_RF, RUN_CONTROLS };

typedef struct run_result {
    char session_dir[PROTOCOL_STRING_SIZE];
    int trials_recorded, trials_flagged;
    int trials_flagged_late; /* by a `trial_flags` record, after their records were written */
    int targets;
    double test_feve_mean;   /* test images, neurons with FEV >= METRICS_FEV_MIN */
    double test_corr_mean;   /* test images, all neurons */
    double median_ratio_recorded;  /* MEI / best natural, recorded responses (NaN: no control) */
    double median_ratio_truth;     /* MEI / best natural training image, the simulated truth
                                      (NaN without a virtual rig) */
    int truth_beats_gabor, truth_beats_rf; /* targets whose MEI drives the simulated cell
                                              more than its matched Gabor / RF map ... */
    int truth_scored;              /* ... of this many (-1: no ground truth) */
    /* The recorded comparisons per control (RUN_CONTROL_*: best natural,
     * matched Gabor, RF map): the median of MEI / control over `compared`
     * targets (NaN: none), and of those how many MEIs `beat` the control
     * (the MEI's interval all above the control's) and how many fall `below`
     * it (all below); the rest are undecided. -1: not evaluated. */
    double recorded_ratio[RUN_CONTROLS];
    int recorded_compared[RUN_CONTROLS], recorded_beat[RUN_CONTROLS],
        recorded_below[RUN_CONTROLS];
    /* MEI mean / each target's highest recorded response to a training image
     * (one trial, the image at its own contrast): the median over `_count`
     * targets (NaN, 0: none). */
    double recorded_ratio_natural_training;
    int recorded_natural_training_count;
    double median_ratio_truth_own_contrast; /* against the truly best natural training image
                                               at its own contrast (NaN: no truth) */
    int truth_disagrees; /* (target, control) pairs reported beaten from the recording whose
                            control the ground truth ranks at or above the MEI (-1: no truth) */
    double seconds;
} run_result;

/* Runs the whole session; the record in the session directory holds
 * everything (RECORD.md, "What `inception run` writes"). */
int run_session(const protocol *p, const run_options *o, run_result *out, char *err);
/* Continues the session in `dir` that a run_session left unfinished (killed
 * at any moment): the record reopened (a torn tail cut), the protocol from its
 * session_start, phases that ended not redone, every recorded trial kept,
 * images scheduled but never answered shown again as new trial numbers, a new
 * virtual rig writing its ground truth to rig_truth.K. o->out_dir is unused. */
int run_resume(const char *dir, const run_options *o, run_result *out, char *err);

/* ------------------------------------------------------------------------
 * Remote display (display_protocol.c, display_server.c, display_client.c,
 * display_ops.c; the message format is controller/DISPLAY.md)
 *
 * The presenter can run on another computer: `inception present --serve`
 * there runs a display server that obeys the controller's requests and
 * streams the presenter's events back over ZeroMQ (one ROUTER on the display,
 * one DEALER in the controller). The controller drives either display through
 * display_ops, so the run loop does not know which one it has.
 * ------------------------------------------------------------------------ */

#include "stimulus.h"

#define DISPLAY_PROTOCOL_VERSION 1
#define DISPLAY_HEADER_SIZE 16
#define DISPLAY_TEXT_SIZE 128     /* status and reason strings on the wire */
#define DISPLAY_MAX_IMAGE_SIDE 8192
#define DISPLAY_MAX_SOUND_SAMPLES (48000 * 600 * 2) /* ten minutes of stereo */
#define DISPLAY_DEFAULT_ENDPOINT "tcp://127.0.0.1:5560"
#define DISPLAY_DEFAULT_PRELOAD ((size_t)1 << 30) /* 1 GiB of preloaded images and sounds */

typedef enum display_message_type {
    /* controller → display */
    DISPLAY_HELLO = 1,
    DISPLAY_PING = 2,
    DISPLAY_IMAGE = 3,
    DISPLAY_SOUND = 4,
    DISPLAY_START_BLOCK = 5,
    DISPLAY_SUBMIT = 6,
    DISPLAY_FINISH_BLOCK = 7,
    DISPLAY_ABORT = 8,
    DISPLAY_PAUSE = 9,
    /* display → controller */
    DISPLAY_CONFIG = 65, /* the answer to HELLO */
    DISPLAY_PONG = 66,
    DISPLAY_REPLY = 67,  /* the outcome of IMAGE, SOUND, START_BLOCK, or a refused SUBMIT */
    DISPLAY_EVENT = 68,  /* a presenter event; BLOCK_END carries the summary */
} display_message_type;

enum { DISPLAY_PIXELS_UINT8 = 1, DISPLAY_PIXELS_FLOAT32 = 2 };

/* One message, decoded. Only the fields of its type are meaningful. */
typedef struct display_message {
    int type;
    uint32_t sequence;          /* per sender, +1 a message; the client counts gaps */
    /* IMAGE: pixels H×W row-major; SOUND: frames × channels interleaved float32.
     * `payload` points into the decoded bytes (little-endian, maybe unaligned). */
    int height, width, pixel_type;
    int sound_frames, channels, rate;
    const uint8_t *payload;
    size_t payload_size;
    presenter_request request;  /* SUBMIT (capture is never sent) */
    int paused;                 /* PAUSE */
    /* PING and PONG: the controller's clock when the ping left; the display's
     * clock when it answered (also in CONFIG); the server's counters. */
    int64_t client_ns, display_ns;
    uint64_t bad_messages, events_dropped;
    /* CONFIG */
    int drawable_width, drawable_height, queue_capacity, images;
    double refresh_hz, period_ms;
    /* REPLY: which request, 0 ok / 1 queue full / -1 refused, the id given
     * (image or sound) or the trial refused; CONFIG and REPLY: text. */
    int reply_to, status;
    int64_t id;
    char text[DISPLAY_TEXT_SIZE];
    presenter_event event;      /* EVENT */
    presenter_summary summary;  /* EVENT of kind BLOCK_END */
} display_message;

/* Bytes display_message_encode writes for `m`. */
size_t display_message_size(const display_message *m);
/* Writes `m` (the payload of IMAGE/SOUND is copied as given: little-endian
 * bytes) into out[0..capacity); returns the size written, 0 if it does not fit
 * or the type is unknown. */
size_t display_message_encode(const display_message *m, uint8_t *out, size_t capacity);
/* Checks everything (magic, version, type, length, sizes of the payloads,
 * ranges); 0 ok, else 1 with the reason. Never reads past `size`. */
int display_message_decode(const uint8_t *bytes, size_t size, display_message *m, char *err);

/* The display side. Runs in the thread that calls display_server_poll; the
 * presenter's own thread keeps the frames going whatever this one does, so a
 * slow or absent controller can never stall a flip (events it cannot take
 * are dropped at the socket's high-water mark and counted). */
typedef struct display_server_config {
    const char *endpoint;   /* bound; NULL: DISPLAY_DEFAULT_ENDPOINT. "tcp://127.0.0.1:*" picks a port */
    int allow_remote;       /* needed for an endpoint beyond loopback */
    int send_hwm;           /* events queued for a slow controller (default 100000) */
    int queue_capacity;     /* the presenter's (presenter_config.queue_capacity; default 4096) */
    int64_t clock_shift_ns; /* added to every display time sent (tests simulate another machine) */
    /* Images and sounds preloaded through the server, counted as the
     * presenter holds them (4 bytes a pixel or sample); one that would go
     * beyond is refused with a reply saying so. 0: DISPLAY_DEFAULT_PRELOAD.
     * Requests larger than this (or than the largest legal message) are
     * dropped on arrival by the socket (ZMQ_MAXMSGSIZE). */
    size_t max_preload_bytes;
} display_server_config;

typedef struct display_server_stats {
    uint64_t messages;       /* valid requests obeyed */
    uint64_t bad_messages;   /* undecodable requests, dropped */
    uint64_t refused;        /* valid requests the presenter refused (a REPLY says why) */
    uint64_t events_sent;
    uint64_t events_dropped; /* no controller, or it did not read */
    char last_error[CONTROLLER_ERR_SIZE];
} display_server_stats;

typedef struct display_server display_server;
int display_server_create(display_server **out, presenter *p, const display_server_config *c,
                          char *err);
void display_server_destroy(display_server *s);
/* The endpoint really bound (the port chosen for "tcp://127.0.0.1:*"). */
const char *display_server_endpoint(const display_server *s);
/* Forwards the presenter's events, waits up to timeout_ms for requests,
 * obeys them, forwards again. Call in a loop. */
void display_server_poll(display_server *s, int timeout_ms);
void display_server_stats_get(const display_server *s, display_server_stats *out);

/* The controller side: mirrors the presenter's calls. Event times arrive on
 * the display's clock and are returned on the controller's (CLOCK_MONOTONIC
 * here), shifted by the offset estimated with ping/pong (DISPLAY.md). */
typedef struct display_client_config {
    const char *endpoint;  /* NULL: DISPLAY_DEFAULT_ENDPOINT */
    int allow_remote;
    int timeout_ms;        /* for answers to HELLO, PING, IMAGE, ... (default 5000) */
    int pings;             /* round trips of the clock estimate (default 32) */
} display_client_config;

typedef struct display_clock {
    int64_t offset_ns;      /* display clock − controller clock */
    int64_t uncertainty_ns; /* half the shortest round trip: the true offset is within ± this */
    int64_t round_trip_ns;  /* shortest round trip */
    int pings;
} display_clock;

typedef struct display_client display_client;
/* Connects, says HELLO (fails after timeout_ms without a CONFIG), and
 * estimates the clock offset. */
int display_client_create(display_client **out, const display_client_config *c, char *err);
void display_client_destroy(display_client *c);
/* Measures the offset again (between blocks: clocks drift apart). */
int display_client_sync_clock(display_client *c, int pings, char *err);
void display_client_clock(const display_client *c, display_clock *out);
const char *display_client_status(const display_client *c); /* the display's presenter_status */
double display_client_period_ms(const display_client *c);
void display_client_drawable_size(const display_client *c, int *width, int *height);
int display_client_add_image(display_client *c, const float *pixels, int height, int width,
                             int *id, char *err);
int display_client_add_sound_samples(display_client *c, const float *samples, int frames,
                                     int channels, int rate, int *id, char *err);
int display_client_start_block(display_client *c, char *err);
/* 0 sent; 1 the display's queue is full (read events first: the client counts
 * the requests the display has not finished); -1 no block, bad request, or
 * the display refused an earlier one (the reason). */
int display_client_submit(display_client *c, const presenter_request *r, char *err);
void display_client_finish_block(display_client *c);
int display_client_next_event(display_client *c, presenter_event *ev, int timeout_ms);
void display_client_block_summary(const display_client *c, presenter_summary *out);
void display_client_abort(display_client *c);
void display_client_set_paused(display_client *c, int paused);
/* Events the display sent that never arrived (sequence gaps); refused submits. */
uint64_t display_client_events_lost(const display_client *c);
/* The server's counters as of the last PONG. */
void display_client_server_counters(const display_client *c, uint64_t *bad_messages,
                                    uint64_t *events_dropped);

/* One interface over either display, for the run loop. */
typedef struct display_ops {
    void *display;
    int (*add_image)(void *display, const float *pixels, int height, int width, int *id,
                     char *err);
    int (*add_sound_samples)(void *display, const float *samples, int frames, int channels,
                             int rate, int *id, char *err);
    int (*start_block)(void *display, char *err);
    int (*submit)(void *display, const presenter_request *r, char *err);
    void (*finish_block)(void *display);
    int (*next_event)(void *display, presenter_event *ev, int timeout_ms);
    void (*block_summary)(void *display, presenter_summary *out);
    void (*abort)(void *display);
    void (*set_paused)(void *display, int paused);
    double (*period_ms)(void *display);
} display_ops;

display_ops display_ops_local(presenter *p);
display_ops display_ops_remote(display_client *c);

#endif
