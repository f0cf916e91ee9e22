/* session.h: the session room of the controller library: one session from a
 * protocol (run.c: `inception run` and `resume`), the data rebuilt from its
 * record (session_data.c), its images (session_images.c), the fit and
 * synthesis that run and replay share (session_fit.c, fit_worker.c), the
 * offline replay (session_replay.c) and the stream replay (session_stream.c). */
#ifndef INCEPTION_SESSION_H
#define INCEPTION_SESSION_H

#include "controller.h" /* the protocol and the session record */
#include "model.h"
#include "stimulus.h"

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
/* `inception import`: the dataset folder (dataset_load: the compact or
 * Sensorium 2022 layout) shrunk by `downsample` (1: as it is) and written so
 * (session_import_dataset); *out says what the record holds. */
typedef struct session_import_summary {
    int trials, train, validation, test; /* trials, by tier */
    int neurons, height, width;
} session_import_summary;
int session_import_folder(const char *dataset_dir, const char *session_dir, int downsample,
                          session_import_summary *out, char *err);

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
    SESSION_IMAGE_SAMPLES = 16, /* audio: its intact stimulus record's samples hashed
                                   (session_image_log.samples_sha256) */
};
typedef struct session_image_log {
    int count;
    uint8_t *state;       /* count: SESSION_IMAGE_* bits */
    uint8_t *sha256;      /* count × SHA256_SIZE */
    uint8_t *samples_sha256; /* count × SHA256_SIZE: the SHA-256 of a clip's recorded samples */
    int highest_recorded; /* the highest id with an intact stimulus record, -1 none */
} session_image_log;

int session_image_log_create(session_image_log *l, int count, char *err);
void session_image_log_free(session_image_log *l);
/* Notes what a record says of a natural image: a `stimulus` record its id
 * and `pixels_sha256` (a record written before hashes: the SHA-256 of its
 * pixels, which its CRC vouches for) and, audio, the SHA-256 of its
 * samples; a `schedule` record its `image_id` and `image_sha256`. Other
 * records and ids outside 0..count-1 are ignored. */
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
/* The same for either modality: an audio session's (`modality: audio`)
 * natural stimuli are its clips (session_natural_clips), `out` their
 * cochleagrams (what the record hashes) and `clips` (count × samples, may be
 * NULL) the samples; messages name them clips. With `recorded` and `clips`,
 * each clip whose intact stimulus record the log holds must also equal its
 * samples (a cochleagram does not see a clip's sign), else "clip K differs
 * ...". `clips` must be NULL for images. */
int session_natural_stimuli(const protocol *p, int count, const session_image_log *recorded,
                            float *out, float *clips, session_image_repair *repair, char *err);
/* The tier of each natural image id 0..images.train + images.test - 1, as
 * `inception run` draws them: the ids from images.train on TIER_TEST, a
 * seeded share (images.validation_fraction) of the others TIER_VALIDATION,
 * the rest TIER_TRAIN. `rng` comes back seeded from the protocol's seed and
 * past that draw, where the run's schedule shuffle goes on from. */
int session_natural_tiers(const protocol *p, uint8_t *tier, model_rng *rng, char *err);
/* The model's input size of a protocol's natural stimuli: images.height ×
 * images.width, or an audio session's cochleagram (bands × frames). */
int session_natural_size(const protocol *p, int *height, int *width, char *err);
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

/* The closed loop's stimuli per target, the MEI and its three image controls,
 * are the first STIMULUS_CLOSED_LOOP_KINDS stimulus kinds (stimulus_base.h),
 * an audio session's tone control the last;
 * mei.kinds adds (docs/run.md) the masked MEI (its control the MEI; with
 * `surround` it is the centre alone), the most and least exciting surrounds
 * around it (their control the masked MEI), the least exciting input and its
 * control, the natural image predicted lowest at the budget. Arrays of the
 * evaluation hold one entry per stimulus kind (SESSION_KINDS), indexed by the
 * kind; the synthesis' per-target stimulus arrays (session_fit_result) hold
 * one slot per kind the run makes (session_fit_slot). */
#define SESSION_KINDS STIMULUS_KIND_COUNT

/* The kinds a closed loop can show (session_kinds.c), in the order the run
 * evaluates and the report lists them: the MEI, its four controls (best
 * natural, Gabor, RF, tone), then masked, surround_most, surround_least,
 * least, least_natural. */
#define SESSION_RUN_KINDS 10
int session_run_kind_at(int i); /* a STIMULUS_KIND_*, i in 0..SESSION_RUN_KINDS-1 */
/* The comparisons the evaluation makes, stimulus kind against its control:
 * the MEI against each of its four controls first (RUN_CONTROL_* order),
 * then masked/mei, surround_most/masked, surround_least/masked,
 * least/least_natural. */
typedef struct session_comparison {
    int kind, control; /* STIMULUS_KIND_* */
} session_comparison;
#define SESSION_COMPARISONS 8
const session_comparison *session_comparison_at(int i);
/* A comparison's record names: what = "median_ratio", "targets_compared",
 * "targets_beats" or "targets_below". The MEI's keep their first names
 * (median_ratio_mei_over_gabor, targets_compared_gabor, targets_mei_beats_gabor,
 * targets_mei_below_gabor); the others name both kinds
 * (median_ratio_masked_over_mei, targets_compared_masked_over_mei,
 * targets_masked_beats_mei, targets_masked_below_mei). */
void session_comparison_name(const session_comparison *c, const char *what, char *out,
                             size_t size);

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
    unsigned kinds;           /* PROTOCOL_KIND_* bits (mei.kinds) */
    int diverse_count;        /* PROTOCOL_KIND_DIVERSE: the set's size (mei.diverse_count) */
    int pattern_count;        /* PROTOCOL_KIND_PATTERN: target patterns (mei.pattern_count) */
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
    /* The FEVEs of the neurons with FEV >= METRICS_FEV_MIN: mean (NaN: none),
     * count, median, neurons below −1 (what run, resume and replay print;
     * the test_metrics record's mean). */
    metrics_feve_summary test_feve_summary;
    double test_corr_mean;     /* over neurons with finite values (NaN: none) */
    int *targets, n_targets;   /* owned */
    float *meis;               /* n_targets × H × W */
    mei_result *mei;           /* n_targets */
    stimulus_budget budget;
    /* The kinds the settings ask for (the MEI, mei.controls, mei.kinds'):
     * n_kinds slots per target in the arrays below, in STIMULUS_KIND_*
     * order; slot_of[kind] is the kind's first slot, -1 for a kind this run
     * does not make, slots[kind] how many it has (1; the diverse set
     * diverse_count; 0 not made). session_fit_slot(_at) gives the index. */
    int n_kinds;
    int slot_of[SESSION_KINDS];
    int slots[SESSION_KINDS];
    /* n_targets × n_kinds × H × W: the MEI, its controls, mei.kinds' */
    float *stimuli;
    uint8_t *present;          /* n_targets × n_kinds: which were made */
    float *predicted;          /* n_targets × n_kinds: the target's
                                  predicted rate */
    mei_mask_result *masks;    /* n_targets: the masked MEIs' masks (mei.kinds masked or
                                  surround; else zeros) */
    double *tone_hz;           /* n_targets: an audio session's tone controls' frequencies
                                  (NULL: no tone control) */
    /* mei.kinds pattern: the targets as one group (kinds_pattern); 0 and
     * NULL when not made. */
    int n_patterns;
    float *pattern_targets;    /* n_patterns × n_targets: each pattern's target, in [0, 1) */
    float *pattern_stimuli;    /* 2 × n_patterns × H × W: per pattern its image, its control */
    float *pattern_predicted;  /* 2 × n_patterns: their predicted similarity to the target */
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
/* session_fit_synthesize's first part: the targets, the budget and room for
 * the stimuli (what another modality's synthesis fills: session_sounds.c). */
int session_fit_prepare(const dataset *d, const session_fit_settings *s, const int *targets,
                        int n_targets, session_fit_result *r, char *err);
/* Its last part: each stimulus made, the target's predicted rate. */
int session_fit_predict_stimuli(const dataset *d, session_fit_result *r, char *err);
/* The index of target j's stimulus of `kind` in r's per-target arrays (the
 * kind one the run makes: r->slot_of[kind] >= 0); × H × W in `stimuli`. */
size_t session_fit_slot(const session_fit_result *r, int j, int kind);
/* The same for the i-th of the kind's slots (i < r->slots[kind]: the diverse set's images). */
size_t session_fit_slot_at(const session_fit_result *r, int j, int kind, int i);
/* Audio sessions (session_sounds.c, docs/audio.md). Clip length in samples;
 * the auditory population's configuration (the virtual rig's and the
 * ground truth's: neurons and seed from virtual_rig); the cochleagram's size
 * (the model's input); the natural clips (count × samples: synthetic from
 * the session's seed, or with sounds.source folder clips 0..count-1 of the
 * folder's sound files, sound_clips_read) and their cochleagrams (count ×
 * bands × frames). */
int session_sound_samples(const protocol *p);
void session_sound_config(const protocol *p, auditory_config *c);
int session_sound_image_size(const protocol *p, int *bands, int *frames, char *err);
int session_natural_clips(const protocol *p, int count, float *clips, float *images, char *err);
/* sounds.source folder: the name of the file clip `id` comes from, as the
 * folder reads now (to name a changed file); 1 when it gives no such clip. */
int session_clip_file(const protocol *p, int id, char *name, size_t size);
/* After session_fit_model: the targets (`targets`, else the settings' top
 * N, as session_fit_prepare), each one's most exciting sound
 * (sound_mei_from_starts from the mei.starts training clips the model
 * predicts highest, mei.steps steps) and its controls (the best natural
 * training clip, the STRF's optimum), all at sounds.rms_dbfs; their
 * cochleagrams in r->stimuli (the MEIs' also in r->meis, their predicted
 * rate in r->mei) and their samples in *clips_out (n_targets × r->n_kinds ×
 * samples, owned by the caller, session_fit_slot's order). `clips`,
 * `images`, `tier`: the session's natural clips (ids 0..count-1). */
int session_sound_synthesize(const protocol *p, const dataset *d,
                             const session_fit_settings *set, const int *targets,
                             int n_targets, const float *clips, const float *images,
                             const uint8_t *tier, int count, session_fit_result *r,
                             float **clips_out, char *err);
/* The STRF control's linear model per target (w: n_targets × height × width
 * of d's images): ridge regression of the training responses on the images,
 * its penalty chosen by the validation correlation (docs/audio.md). */
int session_sound_fit_strfs(const dataset *d, const int *targets, int n_targets, float *w,
                            char *err);
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
/* The recorded protocol's response window and sample rate into o (the
 * defaults kept when the record's session_start or its protocol does not
 * read): only the first record is read. */
void session_stream_options_from_record(const char *session_dir, session_stream_options *o);
int session_stream_replay(const char *session_dir, const session_stream_options *o,
                          session_stream_summary *out, char *err);

/* ------------------------------------------------------------------------
 * Offline replay (session_replay.c): a record's analysis again, at full
 * speed. The natural-image trials rebuilt from the record
 * (session_dataset_load), the model fitted with the recorded protocol's
 * settings (or the overrides below), evaluated, MEIs synthesized for the
 * recorded targets (or the top N), and a new session folder written: a record
 * holding the original's observations (trials, schedule, flips, stream,
 * closed-loop stimuli) with the new checkpoint, metrics and MEIs; model.bin,
 * meis.npy (targets × H × W float32), targets.txt and the report. A session
 * of `inception run` replayed with its own settings starts where the run's
 * final fit started (SESSION_START_MODEL_FILE) and chooses targets as the run
 * did; fresh or changed fit settings: from scratch, for the recorded targets.
 * An audio session's natural clips are made again from the seed and checked
 * against the record; mei_sounds.npy holds the most exciting sounds.
 * Nothing here prints: progress goes to an event callback.
 * ------------------------------------------------------------------------ */

typedef struct session_replay_settings {
    const char *out_dir;   /* the new session folder (must not hold a record) */
    /* Overrides of the recorded protocol's settings; 0: the protocol's. A
     * fit override (seed, epochs, channels, batch_size, patience, threads,
     * learning_rate) makes the fit start from scratch. */
    int seed_given;
    uint64_t seed;
    int epochs, channels, batch_size, patience, threads;
    float learning_rate;
    int targets;           /* MEIs for the top N by validation correlation */
    int mei_steps, starts;
    int fresh;             /* from scratch, not from the recorded start model */
    int no_report;         /* skip report/index.html */
} session_replay_settings;

typedef enum session_replay_stage {
    SESSION_REPLAY_LOADED,    /* the record read in `seconds`: `loaded` */
    SESSION_REPLAY_FIT_START, /* the fit begins: from the recorded start model when
                                 `from_start`, else from scratch: `fresh` asked, the
                                 `fit_changed` by an override, or the record holds no
                                 start model */
    SESSION_REPLAY_EPOCH,     /* a fit epoch ended: `epoch` */
    SESSION_REPLAY_MEI_STEP,  /* synthesis progress: `mei_step` */
    SESSION_REPLAY_FITTED     /* fit and synthesis done; the files and record follow */
} session_replay_stage;

typedef struct session_replay_event {
    session_replay_stage stage;
    const session_dataset *loaded;
    double seconds;
    int from_start, fresh, fit_changed;
    const fit_progress *epoch;
    const mei_progress *mei_step;
} session_replay_event;
typedef void (*session_replay_event_fn)(const session_replay_event *e, void *user);

typedef struct session_replay_result {
    fit_report fit;
    double test_corr_mean;
    metrics_feve_summary test_feve; /* as `inception run` prints it */
    int n_targets;
    int trials;            /* natural trials fitted on */
    double fit_seconds;    /* fit and synthesis */
    double seconds;        /* the whole replay, the record's reading included */
} session_replay_result;

/* The replay of session_dir into settings->out_dir (locked for the time of
 * it); 0 on success. */
int session_replay_offline(const char *session_dir, const session_replay_settings *settings,
                           session_replay_event_fn on_event, void *user,
                           session_replay_result *result, char *err);

/* ------------------------------------------------------------------------
 * A dataset's fit and evaluation (session_fit_dataset.c): `inception fit`
 * and `inception evaluate` as library calls. A dataset folder (compact or
 * Sensorium layout, dataset_load) read and shrunk by `downsample`; fit: a
 * model built for it, fitted with early stopping, the writer's version
 * recorded and saved; evaluate: a saved model read. Then both summarize the
 * per-neuron metrics on the test trials. Nothing here prints: progress goes
 * to an event callback.
 * ------------------------------------------------------------------------ */

typedef enum session_fit_dataset_stage {
    SESSION_FIT_DATASET_MODEL_READ, /* evaluate: the model file read: `writer` */
    SESSION_FIT_DATASET_BUILT,      /* fit: data loaded, model built: `data`, `config`,
                                       `parameters` */
    SESSION_FIT_DATASET_EPOCH,      /* fit: an epoch ended: `epoch` */
    SESSION_FIT_DATASET_SAVED       /* fit: fitted and saved: `report` */
} session_fit_dataset_stage;

typedef struct session_fit_dataset_event {
    session_fit_dataset_stage stage;
    const char *writer;       /* "" for a file that records none (format version 1) */
    const dataset *data;
    const model_config *config;
    size_t parameters;
    const fit_progress *epoch;
    const fit_report *report;
} session_fit_dataset_event;
typedef void (*session_fit_dataset_event_fn)(const session_fit_dataset_event *e, void *user);

/* The test trials' per-neuron metrics summarized over neurons. */
typedef struct session_test_summary {
    int trials;               /* test trials; below 2 nothing else is filled */
    int neurons;
    metric_summary single_trial_corr, corr_to_average, oracle, fev, feve;
    metric_summary feve_kept; /* over the neurons metrics_feve_counts keeps */
    int kept;                 /* how many: 0, no such row */
    int has_cell_types;       /* a simulated population: by_type filled */
    cell_type_metrics by_type[SIM_CELL_TYPES];
} session_test_summary;

typedef struct session_fit_dataset_settings {
    const char *data_dir;
    const char *out_path;     /* the fitted model's file */
    int downsample;           /* 1: the images as stored */
    model_config model;       /* height, width, neurons: set from the data */
    fit_options fit;          /* progress and user: set by the call */
} session_fit_dataset_settings;

/* Fit: 0 on success, *report and *test filled; on a failure after the save
 * (the test metrics), *report is still filled. */
int session_fit_dataset(const session_fit_dataset_settings *s, session_fit_dataset_event_fn on_event,
                        void *user, fit_report *report, session_test_summary *test, char *err);
/* Evaluate the model file `model_path` on data_dir's test trials. */
int session_evaluate_dataset(const char *model_path, const char *data_dir, int downsample,
                             int threads, session_fit_dataset_event_fn on_event, void *user,
                             session_test_summary *test, char *err);

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

enum { RUN_CONTROL_BEST_NATURAL, RUN_CONTROL_GABOR, RUN_CONTROL_RF, RUN_CONTROL_TONE, RUN_CONTROLS };

typedef struct run_result {
    char session_dir[PROTOCOL_STRING_SIZE];
    int trials_recorded, trials_flagged;
    int trials_flagged_late; /* by a `trial_flags` record, after their records were written */
    int targets;
    /* Test images, neurons with FEV >= METRICS_FEV_MIN: the mean FEVE, how
     * many, their median, how many lie below −1 and the lowest. */
    metrics_feve_summary test_feve;
    double test_corr_mean;   /* test images, all neurons */
    double median_ratio_recorded;  /* MEI / best natural, recorded responses (NaN: no control) */
    double median_ratio_truth;     /* MEI / best natural training image, the simulated truth
                                      (NaN without a virtual rig) */
    int truth_beats_gabor, truth_beats_rf; /* targets whose MEI drives the simulated cell
                                              more than its matched Gabor / RF map ... */
    int truth_scored;              /* ... of this many (-1: no ground truth) */
    /* The recorded comparisons per control (RUN_CONTROL_*: best natural,
     * matched Gabor, RF map, tone): the median of MEI / control over `compared`
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
    int audio;           /* modality audio: clips, not images (docs/audio.md) */
    int truth_beats_best_natural; /* audio: targets whose MEI the simulated cell answers more
                                     than its truly best natural training clip (-1: no truth) */
    int truth_beats_tone;         /* audio: ... than its tone control (-1: no truth or no tone) */
    /* The search phase's handed-over images in the ground truth (docs/search.md):
     * of `truth_search_scored` targets (-1: no search or no truth), how many
     * drive the simulated cell more than its truly best natural training image
     * at the budget, and more than its MEI; the median search / best natural. */
    int truth_search_scored, truth_search_beats_natural, truth_search_beats_mei;
    double median_ratio_truth_search;
    int truth_search_least; /* search.direction least: "beats" counts the targets whose
                               image drives the cell less than its truly least exciting
                               natural training image, and less than its least exciting
                               input (the MEI's place); the median over the least natural */
    /* mei.kinds least with virtual_rig.baseline_rate (docs/ground-truth.md,
     * "Baseline rates"): of `truth_baseline_scored` targets with a baseline
     * (-1: not evaluated), how many least exciting inputs drive the simulated
     * cell below its truly least exciting natural training image at the
     * budget; the median least / that image over them. */
    int truth_baseline_scored, truth_baseline_least_below;
    double median_ratio_truth_baseline_least;
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
 * The display's scheduling (run_sched.c; the rest of it is the run loop's,
 * run_internal.h), which `inception present` shares.
 * ------------------------------------------------------------------------ */

/* The priority the local render thread asks for as it starts (0: none);
 * -1 with a reason for a bad INCEPTION_SCHEDULING. */
int run_sched_presenter_priority(char *err);
/* `inception present` and `present --serve`: a display alone on its machine,
 * whose render thread asked for run_sched_presenter_priority() as it
 * started. With real time, memory is locked too; `text` says what came of
 * it ("scheduling: real-time (...)", "scheduling: ordinary (...)"). */
void run_sched_display_alone(presenter *display, char *text, size_t size);

#endif
