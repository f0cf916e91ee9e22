/* protocol.h: the protocol room of the controller library (protocol.c): a
 * YAML file declaring everything a session does, parsed and schema-checked
 * before anything starts (docs/protocols.md). */
#ifndef INCEPTION_PROTOCOL_H
#define INCEPTION_PROTOCOL_H

#include "controller_util.h"

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
    PROTOCOL_CONTROL_TONE = 1 << 3,         /* audio: a pure tone at the model's best frequency */
};

/* What the closed loop synthesizes per target (mei.kinds), a bit set; `full`
 * (the MEI, which the others are made from) is required. */
enum {
    PROTOCOL_KIND_FULL = 1 << 0,     /* the MEI, with mei.controls */
    PROTOCOL_KIND_MASKED = 1 << 1,   /* the MEI under a learned soft disc */
    PROTOCOL_KIND_SURROUND = 1 << 2, /* most and least exciting surrounds of the masked MEI */
    PROTOCOL_KIND_LEAST = 1 << 3,    /* the least exciting input and the least natural image */
    PROTOCOL_KIND_DIVERSE = 1 << 4,  /* a set of mei.diverse_count diverse MEIs */
    PROTOCOL_KIND_PATTERN = 1 << 5,  /* mei.pattern_count target patterns over the targets */
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
    /* A spontaneous rate, spikes per window at gray, that stimuli can
     * suppress, in a baseline_share of the cells (sim_config's; docs/
     * ground-truth.md, "Baseline rates"); rate 0: none. */
    float baseline_rate, baseline_share;
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
    /* Each trial's gap is isi_frames + k, k drawn uniformly from 0..isi_jitter_frames
     * (protocol_trial_isi_frames): irregular onset intervals let the clock vote tell
     * the true pairing of onsets and sync edges from one shifted by a stimulus
     * (docs/timing.md). 0: a regular rhythm. */
    int isi_jitter_frames;
    float isi_jitter_ms;
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
    float normalization;              /* the divisive normalization's pool σ, px; 0: none */
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
    unsigned kinds;        /* PROTOCOL_KIND_* bits: what is synthesized and shown */
    int diverse_count;     /* mei.kinds diverse: the set's size */
    int pattern_count;     /* mei.kinds pattern: target patterns (population control) */
} protocol_mei;

/* `modality: audio` (docs/audio.md): clips instead of images. The natural
 * clips are counted by `images` (train, validation_fraction, test,
 * test_repeats); the model's input is each clip's cochleagram (bands ×
 * frames), so images.height/width are not used. */
typedef enum protocol_modality {
    PROTOCOL_MODALITY_IMAGE = 0,
    PROTOCOL_MODALITY_AUDIO = 1
} protocol_modality;

typedef struct protocol_sounds {
    int rate;             /* clips' sample rate, Hz */
    float clip_ms;        /* clip length */
    float rms_dbfs;       /* the level budget: RMS in dB re full scale */
    int bands;            /* the cochleagram's mel bands */
    float spl_at_0dbfs;   /* calibration: dB SPL of a 0 dBFS RMS sound at the ear; 0: none */
    float sync_ms;        /* > 0: the sync pulse on the right channel (presenter_config) */
    int source;           /* protocol_sound_source: where the natural clips come from */
    char path[PROTOCOL_STRING_SIZE]; /* source folder: the folder of sound files */
} protocol_sounds;

typedef enum protocol_sound_source {
    PROTOCOL_SOUNDS_SYNTHETIC = 0, /* clip_synthetic from the protocol's seed */
    PROTOCOL_SOUNDS_FOLDER = 1,    /* the sound files of sounds.path, cut into clips */
} protocol_sound_source;

typedef struct protocol_closed_loop {
    int repeats; /* presentations of each MEI and control */
} protocol_closed_loop;

/* The model-free search phase (docs/search.md): per target, a genetic search
 * over sums of Gabor primitives whose fitness is the recorded counts. */
typedef struct protocol_search {
    int enabled;
    int generations;     /* per target */
    int population_size; /* images per generation */
    int repeats;         /* showings of each image per generation */
    int primitives;      /* Gabors summed per image: the image space */
    uint64_t seed;       /* the search's choices (each target a stream of it) */
    int direction;       /* protocol_search_direction */
} protocol_search;

/* What the search looks for: the image the target answers most, or least
 * (its fitness minus the mean count: the search maximizes). */
typedef enum protocol_search_direction {
    PROTOCOL_SEARCH_MOST = 0,
    PROTOCOL_SEARCH_LEAST = 1,
} protocol_search_direction;

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
    protocol_search search;
    int modality;                         /* protocol_modality */
    protocol_sounds sounds;               /* modality audio */

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
/* Trial `trial`'s gap after its stimulus, in frames: isi_frames plus a draw
 * from 0..isi_jitter_frames, a function of the seed and the trial number only
 * (a resumed session's trials get theirs whatever came before). */
int protocol_trial_isi_frames(const protocol *p, int64_t trial);
/* The smallest isi_jitter_frames (other than 0) the protocol accepts at
 * `refresh_hz` (docs/timing.md: the clock vote's tolerance decides it). */
int protocol_isi_jitter_min_frames(double refresh_hz);
void protocol_setting_get(const protocol *p, int index, protocol_setting *out);

#endif
