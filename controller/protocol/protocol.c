/* protocol.c: the protocol file, YAML read with libyaml's document API and
 * checked against one table of settings (the schema), so that unknown keys,
 * wrong types, out-of-range values and missing files are refused with the
 * file, line and column, before anything starts.
 *
 * Every setting is one row of `settings`: where it lives in the struct, its
 * type, range and default. Defaults are written as YAML text and go through
 * the same conversion as the file's values, so a default can never be one
 * the parser would refuse. */
#include "acquisition.h" /* ACQ_MAX_UNITS: the wire format's units per message */
#include "controller.h"
#include "model.h" /* model_rng: the project's one random number generator */
#include "stimulus.h" /* PRESENTER_AUDIO_BUFFER_FRAMES: a sound's start latency */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

typedef enum setting_type {
    T_INT,
    T_U64,
    T_FLOAT,
    T_BOOL,
    T_STRING,
    T_PATH,     /* a string resolved against the protocol's folder; existence checked later */
    T_ENUM,     /* one of `choices`, stored as its index */
    T_INT_LIST, /* a YAML sequence of ints (model.kernels) */
    T_FLAGS,    /* a YAML sequence of `choices`, stored as a bit set */
} setting_type;

typedef struct setting_spec {
    const char *section; /* "" for the top level */
    const char *name;
    setting_type type;
    size_t offset;
    double min, max;     /* numbers; list lengths for T_FLAGS/T_INT_LIST items */
    const char *fallback;/* the default, as YAML text (lists comma-separated) */
    const char *const *choices;
    const char *doc;
} setting_spec;

static const char *const display_modes[] = {"fullscreen", "windowed", "offscreen", NULL};
static const char *const image_sources[] = {"synthetic", "photos", "folder", "npy", "patches",
                                            NULL};
static const char *const readouts[] = {"gaussian", "factorized", NULL};
static const char *const preconditionings[] = {"none", "blur", "fourier", NULL};
static const char *const objectives[] = {"single", "one-hot", NULL};
/* Bit k of mei.controls (PROTOCOL_CONTROL_*) is stimulus kind k + 1 for the
 * image controls; bit 3 is the audio sessions' tone. */
static const char *const controls[] = {STIMULUS_KIND_NAME_BEST_NATURAL, STIMULUS_KIND_NAME_GABOR,
                                       STIMULUS_KIND_NAME_RF, STIMULUS_KIND_NAME_TONE, NULL};
/* mei.kinds: `full` is the MEI with its controls; the others are stimulus kinds. */
static const char *const mei_kinds[] = {"full", STIMULUS_KIND_NAME_MASKED,
                                        STIMULUS_KIND_NAME_SURROUND, STIMULUS_KIND_NAME_LEAST,
                                        STIMULUS_KIND_NAME_DIVERSE, STIMULUS_KIND_NAME_PATTERN,
                                        NULL};
static const char *const stream_formats[] = {"native", "openephys", NULL};
static const char *const modalities[] = {"image", "audio", NULL};
static const char *const sound_sources[] = {"synthetic", "folder", NULL};
static const char *const search_directions[] = {"most", "least", NULL};

#define AT(field) offsetof(protocol, field)

static const setting_spec settings[] = {
    {"", "version", T_INT, AT(version), 1, 2, "1", NULL,
     "protocol format version (2: images.source folder shows each file once)"},
    {"", "name", T_STRING, AT(name), 1, 0, "unnamed", NULL, "names the session"},
    {"", "seed", T_U64, AT(seed), 0, 0, "1", NULL, "randomizes schedule, fits and synthesis"},
    {"", "output", T_STRING, AT(output), 1, 0, "sessions/session", NULL,
     "session directory (relative to the working directory)"},
    {"", "modality", T_ENUM, AT(modality), 0, 0, "image", modalities,
     "image, or audio: clips instead of images (the sounds section, docs/audio.md)"},

    {"endpoints", "stream", T_STRING, AT(endpoints.stream), 1, 0, "tcp://127.0.0.1:5556", NULL,
     "acquisition stream to subscribe (Open Ephys ZMQ interface)"},
    {"endpoints", "sync", T_STRING, AT(endpoints.sync), 1, 0, "tcp://127.0.0.1:5560", NULL,
     "where stimulus onsets are published"},
    {"endpoints", "format", T_ENUM, AT(endpoints.format), 0, 0, "native", stream_formats,
     "native (WIRE.md) or openephys (its ZMQ Interface plugin)"},
    {"endpoints", "units", T_INT, AT(endpoints.units), 0, ACQ_MAX_UNITS, "0", NULL,
     "units on the stream (0: learned from it; openephys needs it)"},
    {"endpoints", "timeout_s", T_FLOAT, AT(endpoints.timeout_s), 0.5, 3600, "15", NULL,
     "nothing on the stream this long at the start is an error"},
    {"endpoints", "sample_rate", T_FLOAT, AT(endpoints.sample_rate), 1, 1e6, "30000", NULL,
     "openephys: samples per second"},
    {"endpoints", "bin_ms", T_FLOAT, AT(endpoints.bin_ms), 0.1, 1000, "10", NULL,
     "openephys: spike bin width"},
    {"endpoints", "electrodes", T_INT, AT(endpoints.electrodes), 0, 65536, "0", NULL,
     "openephys: a column per electrode for its unsorted spikes (0: left out)"},
    {"endpoints", "sync_line", T_INT, AT(endpoints.sync_line), -1, 65535, "-1", NULL,
     "TTL line of the sync edges (-1: a rising edge on any line)"},

    {"virtual_rig", "enabled", T_BOOL, AT(virtual_rig.enabled), 0, 0, "false", NULL,
     "simulate the population behind the stream"},
    {"virtual_rig", "neurons", T_INT, AT(virtual_rig.neurons), 1, ACQ_MAX_UNITS, "200", NULL,
     "simulated neurons (at most the wire format's 65,536 units)"},
    {"virtual_rig", "fraction_simple", T_FLOAT, AT(virtual_rig.fraction_simple), 0, 1, "0.4",
     NULL, "share of simple cells"},
    {"virtual_rig", "fraction_complex", T_FLOAT, AT(virtual_rig.fraction_complex), 0, 1, "0.4",
     NULL, "share of complex cells"},
    {"virtual_rig", "fraction_conjunction", T_FLOAT, AT(virtual_rig.fraction_conjunction), 0, 1,
     "0", NULL, "share of conjunction cells"},
    {"virtual_rig", "fraction_energy_conjunction", T_FLOAT,
     AT(virtual_rig.fraction_energy_conjunction), 0, 1, "0", NULL,
     "share of energy-conjunction cells (the rest normalized)"},
    {"virtual_rig", "fraction_end_stopped", T_FLOAT, AT(virtual_rig.fraction_end_stopped), 0, 1,
     "0", NULL, "share of end-stopped cells (docs/ground-truth.md)"},
    {"virtual_rig", "fraction_surround", T_FLOAT, AT(virtual_rig.fraction_surround), 0, 1, "0",
     NULL, "share of surround cells (held out, docs/ground-truth.md)"},
    {"virtual_rig", "fraction_curvature", T_FLOAT, AT(virtual_rig.fraction_curvature), 0, 1,
     "0", NULL, "share of curvature cells (docs/ground-truth.md)"},
    {"virtual_rig", "fraction_texture", T_FLOAT, AT(virtual_rig.fraction_texture), 0, 1, "0",
     NULL, "share of texture cells (held out, docs/ground-truth.md)"},
    {"virtual_rig", "baseline_rate", T_FLOAT, AT(virtual_rig.baseline_rate), 0,
     SIM_BASELINE_RATE_MAX, "0", NULL,
     "spontaneous rate at gray, spikes per window, that stimuli can suppress (0: none)"},
    {"virtual_rig", "baseline_share", T_FLOAT, AT(virtual_rig.baseline_share), 0, 1, "1", NULL,
     "share of the cells, of every type, with that baseline rate"},
    {"virtual_rig", "seed", T_U64, AT(virtual_rig.seed), 0, 0, "7", NULL,
     "the simulated population's seed"},
    {"virtual_rig", "message_loss", T_FLOAT, AT(virtual_rig.message_loss), 0, 0.5, "0", NULL,
     "fraction of stream messages dropped"},
    {"virtual_rig", "latency_ms", T_FLOAT, AT(virtual_rig.latency_ms), 0, 1000, "2", NULL,
     "stream delivery latency"},
    {"virtual_rig", "drop_sync_every", T_INT, AT(virtual_rig.drop_sync_every), 0, 100000000, "0",
     NULL, "trials N, 2N, ... lose their sync edge (0 never)"},
    {"virtual_rig", "drop_bin_every", T_INT, AT(virtual_rig.drop_bin_every), 0, 100000000, "0",
     NULL, "trials N, 2N, ... lose the last bin of their window (0 never)"},

    {"display", "index", T_INT, AT(display.index), 0, 15, "0", NULL, "which display"},
    {"display", "mode", T_ENUM, AT(display.mode), 0, 0, "fullscreen", display_modes,
     "fullscreen, windowed or offscreen"},
    {"display", "width", T_INT, AT(display.width), 16, 16384, "1920", NULL, "pixels"},
    {"display", "height", T_INT, AT(display.height), 16, 16384, "1080", NULL, "pixels"},
    {"display", "refresh_hz", T_FLOAT, AT(display.refresh_hz), 1, 1000, "60", NULL,
     "refresh rate"},
    {"display", "screen_width_cm", T_FLOAT, AT(display.screen_width_cm), 1, 1000, "53", NULL,
     "visible width of the screen"},
    {"display", "viewing_distance_cm", T_FLOAT, AT(display.viewing_distance_cm), 1, 1000, "15",
     NULL, "eye to screen"},
    {"display", "stimulus_degrees", T_FLOAT, AT(display.stimulus_degrees), 1, 180, "90", NULL,
     "visual angle of the stimulus width"},
    {"display", "background", T_FLOAT, AT(display.background), 0, 1, "0.5", NULL,
     "luminance between stimuli"},
    {"display", "photodiode", T_BOOL, AT(display.photodiode), 0, 0, "true", NULL,
     "corner patch flipping with each stimulus"},
    {"display", "photodiode_px", T_INT, AT(display.photodiode_px), 1, 1024, "40", NULL,
     "patch size"},
    {"display", "gamma_file", T_PATH, AT(display.gamma_file), 0, 0, "", NULL,
     "gamma table (empty: linear)"},
    {"display", "endpoint", T_STRING, AT(display.endpoint), 0, 0, "", NULL,
     "a remote display (inception present --serve); empty: this computer's"},

    {"timing", "stimulus_frames", T_INT, AT(timing.stimulus_frames), 0, 100000, "0", NULL,
     "stimulus duration in frames (or give stimulus_ms)"},
    {"timing", "stimulus_ms", T_FLOAT, AT(timing.stimulus_ms), 0, 600000, "500", NULL,
     "stimulus duration, rounded to whole frames"},
    {"timing", "isi_frames", T_INT, AT(timing.isi_frames), 0, 100000, "0", NULL,
     "gap between stimuli in frames (or give isi_ms)"},
    {"timing", "isi_ms", T_FLOAT, AT(timing.isi_ms), 0, 600000, "300", NULL,
     "gap between stimuli, rounded to whole frames"},
    {"timing", "isi_jitter_frames", T_INT, AT(timing.isi_jitter_frames), 0, 100000, "0", NULL,
     "each gap longer by 0..this many frames, drawn per trial (or give isi_jitter_ms; "
     "docs/timing.md)"},
    {"timing", "isi_jitter_ms", T_FLOAT, AT(timing.isi_jitter_ms), 0, 600000, "0", NULL,
     "the same in milliseconds, rounded to whole frames"},

    {"images", "source", T_ENUM, AT(images.source), 0, 0, "synthetic", image_sources,
     "synthetic, photos, folder, npy or patches"},
    {"images", "path", T_PATH, AT(images.path), 0, 0, "", NULL,
     "folder of PNG/JPEG (folder, patches) or N×H×W float32 file (npy)"},
    {"images", "train", T_INT, AT(images.train), 2, 1000000, "5000", NULL,
     "natural images shown once each"},
    {"images", "validation_fraction", T_FLOAT, AT(images.validation_fraction), 0, 0.9, "0.1",
     NULL, "share of the training images held out"},
    {"images", "test", T_INT, AT(images.test), 1, 100000, "100", NULL, "test images"},
    {"images", "test_repeats", T_INT, AT(images.test_repeats), 2, 1000, "10", NULL,
     "repeats of each test image"},
    {"images", "height", T_INT, AT(images.height), 8, 1024, "36", NULL, "model input height"},
    {"images", "width", T_INT, AT(images.width), 8, 1024, "64", NULL, "model input width"},

    {"response", "latency_ms", T_FLOAT, AT(response.latency_ms), 0, 2000, "50", NULL,
     "onset to the counting window"},
    {"response", "duration_ms", T_FLOAT, AT(response.duration_ms), 1, 10000, "450", NULL,
     "counting window"},

    {"model", "channels", T_INT, AT(model.channels), 1, 512, "32", NULL, "core channels"},
    {"model", "layers", T_INT, AT(model.layers), 1, PROTOCOL_MAX_LAYERS, "3", NULL,
     "core layers"},
    {"model", "kernels", T_INT_LIST, AT(model.kernels), 1, 63, "9,7,7", NULL,
     "odd kernel size per layer"},
    {"model", "readout", T_ENUM, AT(model.readout), 0, 0, "gaussian", readouts,
     "gaussian or factorized"},
    {"model", "normalization", T_FLOAT, AT(model.normalization), 0, MODEL_MAX_NORMALIZATION_POOL,
     "0", NULL, "a divisive normalization stage after the core: its Gaussian pool's sigma in "
     "px (docs/model.md); 0: none"},
    {"model", "learning_rate", T_FLOAT, AT(model.learning_rate), 1e-6, 1, "0.005", NULL,
     "Adam step size"},
    {"model", "batch_size", T_INT, AT(model.batch_size), 1, 4096, "64", NULL, "images per step"},
    {"model", "epochs", T_INT, AT(model.epochs), 1, 10000, "100", NULL, "at most"},
    {"model", "patience", T_INT, AT(model.patience), 1, 1000, "5", NULL,
     "epochs without improvement before a decay"},
    {"model", "threads", T_INT, AT(model.threads), 1, 256, "2", NULL, "for the fit"},
    {"model", "ensemble", T_INT, AT(model.ensemble), 1, SESSION_ENSEMBLE_MAX, "1", NULL,
     "models fitted (seeds seed, seed+1, ...); MEIs and controls ascend their mean"},
    {"model", "file", T_PATH, AT(model.file), 0, 0, "", NULL,
     "a model fitted elsewhere, used instead of fitting"},

    {"targets", "count", T_INT, AT(targets.count), 1, 10000, "10", NULL,
     "top N neurons by validation correlation"},
    {"targets", "min_correlation", T_FLOAT, AT(targets.min_correlation), -1, 1, "0.2", NULL,
     "no target below this validation correlation"},

    {"mei", "steps", T_INT, AT(mei.steps), 1, 100000, "1000", NULL, "gradient steps"},
    {"mei", "starts", T_INT, AT(mei.starts), 1, 100, "3", NULL, "random starts per neuron"},
    {"mei", "contrast", T_FLOAT, AT(mei.contrast), 0, 0.5, "0", NULL,
     "RMS contrast budget (0: the natural images')"},
    {"mei", "preconditioning", T_ENUM, AT(mei.preconditioning), 0, 0, "blur", preconditionings,
     "none, blur or fourier"},
    {"mei", "blur_sigma", T_FLOAT, AT(mei.blur_sigma), 0, 20, "1.5", NULL,
     "starting gradient blur, pixels"},
    {"mei", "jitter_px", T_FLOAT, AT(mei.jitter_px), 0, 32, "0", NULL, "random shift per step"},
    {"mei", "step_size", T_FLOAT, AT(mei.step_size), 1e-6, 100, "1", NULL,
     "step on the normalized gradient"},
    {"mei", "objective", T_ENUM, AT(mei.objective), 0, 0, "single", objectives,
     "single or one-hot"},
    {"mei", "controls", T_FLAGS, AT(mei.controls), 1, 4, "best_natural,gabor,rf", controls,
     "controls shown next to each MEI (tone: audio sessions only)"},
    {"mei", "kinds", T_FLAGS, AT(mei.kinds), 1, 6, "full", mei_kinds,
     "what is synthesized per target: full (the MEI), masked, surround, least, diverse; "
     "pattern: for the targets as one group"},
    {"mei", "diverse_count", T_INT, AT(mei.diverse_count), 2, 8, "4", NULL,
     "mei.kinds diverse: images per target's set (inception mei --count)"},
    {"mei", "pattern_count", T_INT, AT(mei.pattern_count), 1, 16, "4", NULL,
     "mei.kinds pattern: target patterns over the targets (inception mei --kind pattern --count)"},

    {"sounds", "rate", T_INT, AT(sounds.rate), 8000, 48000, "16000", NULL,
     "audio: the clips' sample rate, Hz"},
    {"sounds", "clip_ms", T_FLOAT, AT(sounds.clip_ms), 100, 2000, "500", NULL,
     "audio: clip length"},
    {"sounds", "rms_dbfs", T_FLOAT, AT(sounds.rms_dbfs), -60, -20, "-30", NULL,
     "audio: every clip's RMS level, dB re full scale (the budget)"},
    {"sounds", "bands", T_INT, AT(sounds.bands), 8, 64, "32", NULL,
     "audio: mel bands of the cochleagram (the model's input height)"},
    {"sounds", "spl_at_0dbfs", T_FLOAT, AT(sounds.spl_at_0dbfs), 0, 200, "0", NULL,
     "audio: dB SPL a 0 dBFS RMS sound gives at the ear (measured); 0: not calibrated"},
    {"sounds", "source", T_ENUM, AT(sounds.source), 0, 0, "synthetic", sound_sources,
     "audio: the natural clips, synthetic (clip_synthetic from the seed) or folder (the sound "
     "files of sounds.path cut into clips)"},
    {"sounds", "path", T_PATH, AT(sounds.path), 0, 0, "", NULL,
     "audio: the folder of sound files (sounds.source folder)"},
    {"sounds", "sync_ms", T_FLOAT, AT(sounds.sync_ms), 0, 100, "0", NULL,
     "audio: > 0, the clips on the left channel and a full-scale sync pulse this long on the "
     "right from each clip's first sample; 0: the clip on both"},

    {"closed_loop", "repeats", T_INT, AT(closed_loop.repeats), 1, 1000, "10", NULL,
     "presentations of each MEI and control"},

    {"search", "enabled", T_BOOL, AT(search.enabled), 0, 0, "false", NULL,
     "run the model-free search phase after the closed loop (docs/search.md)"},
    {"search", "generations", T_INT, AT(search.generations), 1, 10000, "50", NULL,
     "generations per target"},
    {"search", "population_size", T_INT, AT(search.population_size), 2, SEARCH_MAX_POPULATION,
     "40", NULL, "images per generation (its best 4, or half under 8, are shown again)"},
    {"search", "repeats", T_INT, AT(search.repeats), 1, 1000, "1", NULL,
     "showings of each image per generation"},
    {"search", "primitives", T_INT, AT(search.primitives), 1, SEARCH_MAX_PRIMITIVES, "4", NULL,
     "the image space: localized Gabors summed per image"},
    {"search", "seed", T_U64, AT(search.seed), 0, 0, "1", NULL,
     "the search's choices (a stream per target)"},
    {"search", "direction", T_ENUM, AT(search.direction), 0, 0, "most", search_directions,
     "most: the image the target answers most; least: the one it answers least (compared "
     "with the least exciting input and natural image)"},
};

#define SETTING_COUNT ((int)(sizeof settings / sizeof settings[0]))

static const char *const sections[] = {"endpoints", "virtual_rig", "display", "timing", "images",
                                       "response", "model", "targets", "mei", "closed_loop",
                                       "search", "sounds", NULL};

/* Where a setting was given in the file, for messages about it. */
typedef struct mark {
    int line, column; /* 1-based; 0 when not in the file */
} mark;

typedef struct parse_state {
    protocol *p;
    const char *file;
    const char *base_dir; /* NULL: don't look at the filesystem */
    mark marks[SETTING_COUNT];
    mark section_marks[sizeof sections / sizeof sections[0]];
    int list_length[SETTING_COUNT];
    char *err;
} parse_state;

/* ---- messages ---- */

static int fail_at(parse_state *s, mark m, const char *hint, const char *fmt, ...)
{
    char message[CONTROLLER_ERR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (m.line <= 0)
        m.line = m.column = 1;
    if (hint && hint[0])
        snprintf(s->err, CONTROLLER_ERR_SIZE, "%s:%d:%d: %s (hint: %s)", s->file, m.line,
                 m.column, message, hint);
    else
        snprintf(s->err, CONTROLLER_ERR_SIZE, "%s:%d:%d: %s", s->file, m.line, m.column,
                 message);
    return 1;
}

static mark node_mark(const yaml_node_t *n)
{
    mark m = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return m;
}

/* Levenshtein distance, for "did you mean". Names are short (< 32). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int row[64];
    for (int j = 0; j <= lb; j++)
        row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int above = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = diagonal + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

/* The candidate closest to `word`, or NULL when none is close enough to be a typo. */
static const char *closest(const char *word, const char *const *candidates, int count)
{
    const char *best = NULL;
    int best_distance = 99;
    for (int i = 0; i < count; i++) {
        int d = edit_distance(word, candidates[i]);
        if (d < best_distance) {
            best_distance = d;
            best = candidates[i];
        }
    }
    int allowed = (int)strlen(word) / 3 > 2 ? (int)strlen(word) / 3 : 2;
    return best_distance <= allowed ? best : NULL;
}

/* ---- values ---- */

static int section_index(const char *name)
{
    for (int i = 0; sections[i]; i++)
        if (!strcmp(sections[i], name))
            return i;
    return -1;
}

static int setting_index(const char *section, const char *name)
{
    for (int i = 0; i < SETTING_COUNT; i++)
        if (!strcmp(settings[i].section, section) && !strcmp(settings[i].name, name))
            return i;
    return -1;
}

static void *field(protocol *p, const setting_spec *spec)
{
    return (char *)p + spec->offset;
}

static void range_hint(const setting_spec *spec, char *hint, size_t size)
{
    if (spec->type == T_INT)
        snprintf(hint, size, "an integer from %.0f to %.0f", spec->min, spec->max);
    else
        snprintf(hint, size, "a number from %g to %g", spec->min, spec->max);
}

static void choices_hint(const char *word, const char *const *choices, char *hint, size_t size)
{
    int count = 0;
    while (choices[count])
        count++;
    const char *guess = closest(word, choices, count);
    size_t used = 0;
    if (guess)
        used = (size_t)snprintf(hint, size, "did you mean '%s'? ", guess);
    used += (size_t)snprintf(hint + used, size - used, "one of:");
    for (int i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(hint + used, size - used, "%s %s", i ? "," : "", choices[i]);
}

static int parse_long(const char *text, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end)
        return 1;
    *out = v;
    return 0;
}

static int parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return 1;
    /* strtod accepts hexadecimal and "inf"; YAML numbers are decimal */
    for (const char *c = text; *c; c++)
        if (!strchr("+-0123456789.eE", *c))
            return 1;
    *out = v;
    return 0;
}

static int parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On", NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off", NULL};
    for (int i = 0; yes[i]; i++)
        if (!strcmp(text, yes[i]))
            return *out = 1, 0;
    for (int i = 0; no[i]; i++)
        if (!strcmp(text, no[i]))
            return *out = 0, 0;
    return 1;
}

static int choice_index(const char *text, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(text, choices[i]))
            return i;
    return -1;
}

/* Converts one scalar into the setting (one list item for lists, `item`
 * counting from 0). `quoted` scalars are strings, never numbers. Returns 0,
 * or 1 after writing the reason and hint. */
static int convert_scalar(protocol *p, const setting_spec *spec, const char *text, int quoted,
                          int item, char *why, char *hint, size_t size)
{
    long long iv;
    double dv;
    int bv;
    why[0] = hint[0] = '\0';
    switch (spec->type) {
    case T_INT:
    case T_INT_LIST:
        if (quoted || parse_long(text, &iv)) {
            snprintf(why, size, "expected an integer, found '%.60s'", text);
            range_hint(spec, hint, size);
            return 1;
        }
        if (iv < spec->min || iv > spec->max) {
            snprintf(why, size, "%lld is out of range", iv);
            range_hint(spec, hint, size);
            return 1;
        }
        if (spec->type == T_INT) {
            *(int *)field(p, spec) = (int)iv;
        } else {
            if (iv % 2 == 0) {
                snprintf(why, size, "kernel size %lld is even", iv);
                snprintf(hint, size, "kernel sizes are odd (same padding), e.g. %lld", iv + 1);
                return 1;
            }
            ((int *)field(p, spec))[item] = (int)iv;
        }
        return 0;
    case T_U64:
        if (quoted || parse_long(text, &iv) || iv < 0) {
            snprintf(why, size, "expected a non-negative integer, found '%.60s'", text);
            snprintf(hint, size, "a seed is a whole number such as 1");
            return 1;
        }
        *(uint64_t *)field(p, spec) = (uint64_t)iv;
        return 0;
    case T_FLOAT:
        if (quoted || parse_double(text, &dv)) {
            snprintf(why, size, "expected a number, found '%.60s'", text);
            range_hint(spec, hint, size);
            return 1;
        }
        if (dv < spec->min || dv > spec->max) {
            snprintf(why, size, "%g is out of range", dv);
            range_hint(spec, hint, size);
            return 1;
        }
        *(float *)field(p, spec) = (float)dv;
        return 0;
    case T_BOOL:
        if (quoted || parse_bool(text, &bv)) {
            snprintf(why, size, "expected true or false, found '%.60s'", text);
            snprintf(hint, size, "write true or false");
            return 1;
        }
        *(int *)field(p, spec) = bv;
        return 0;
    case T_STRING:
    case T_PATH:
        if (strlen(text) >= PROTOCOL_STRING_SIZE) {
            snprintf(why, size, "text longer than %d bytes", PROTOCOL_STRING_SIZE - 1);
            return 1;
        }
        if (spec->min > 0 && !text[0]) {
            snprintf(why, size, "must not be empty");
            snprintf(hint, size, "leave the key out to use the default '%s'", spec->fallback);
            return 1;
        }
        strcpy((char *)field(p, spec), text);
        return 0;
    case T_ENUM:
    case T_FLAGS: {
        int index = choice_index(text, spec->choices);
        if (index < 0) {
            snprintf(why, size, "'%.60s' is not a valid choice", text);
            choices_hint(text, spec->choices, hint, size);
            return 1;
        }
        if (spec->type == T_ENUM)
            *(int *)field(p, spec) = index;
        else
            *(unsigned *)field(p, spec) |= 1u << index;
        return 0;
    }
    }
    return 1;
}

/* ---- the document ---- */

static int is_null_scalar(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !v[0] || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

/* A scalar's text, refusing embedded NULs (YAML's "\0" escape). */
static int scalar_text(parse_state *s, const yaml_node_t *n, const char *what, const char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(s, node_mark(n), "write it as key: value",
                       "%s must be a single value, not a %s", what,
                       n->type == YAML_MAPPING_NODE ? "mapping" : "list");
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return fail_at(s, node_mark(n), "remove the \\0 escape", "%s contains a NUL character",
                       what);
    *out = (const char *)n->data.scalar.value;
    return 0;
}

static int is_quoted(const yaml_node_t *n)
{
    return n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
}

static int set_list(parse_state *s, int index, yaml_document_t *doc, yaml_node_t *value,
                    const char *key)
{
    const setting_spec *spec = &settings[index];
    char why[CONTROLLER_ERR_SIZE], hint[CONTROLLER_ERR_SIZE];
    if (value->type != YAML_SEQUENCE_NODE)
        return fail_at(s, node_mark(value), spec->type == T_INT_LIST ? "e.g. [9, 7, 7]"
                                                                     : "e.g. [best_natural, gabor]",
                       "%s must be a list", key);
    yaml_node_item_t *items = value->data.sequence.items.start;
    int count = (int)(value->data.sequence.items.top - items);
    int most = spec->type == T_INT_LIST ? PROTOCOL_MAX_LAYERS : (int)spec->max;
    if (count < 1 || count > most)
        return fail_at(s, node_mark(value), "one entry per layer or control",
                       "%s lists %d entries, expected 1 to %d", key,
                       count, most);
    if (spec->type == T_FLAGS)
        *(unsigned *)field(s->p, spec) = 0;
    for (int i = 0; i < count; i++) {
        yaml_node_t *item = yaml_document_get_node(doc, items[i]);
        const char *text;
        if (!item || scalar_text(s, item, key, &text))
            return item ? 1 : fail_at(s, node_mark(value), "e.g. [9, 7, 7]", "%s: bad list", key);
        if (convert_scalar(s->p, spec, text, is_quoted(item), i, why, hint, sizeof why))
            return fail_at(s, node_mark(item), hint, "%s: %s", key, why);
    }
    s->list_length[index] = count;
    return 0;
}

static int set_from_node(parse_state *s, int index, yaml_document_t *doc, yaml_node_t *value)
{
    const setting_spec *spec = &settings[index];
    char key[96], why[CONTROLLER_ERR_SIZE], hint[CONTROLLER_ERR_SIZE];
    snprintf(key, sizeof key, "%s%s%s", spec->section, spec->section[0] ? "." : "", spec->name);
    if (s->p->lines[index])
        return fail_at(s, node_mark(value), "keep one", "%s is given twice (first on line %d)", key,
                       s->p->lines[index]);
    s->p->lines[index] = node_mark(value).line;
    s->marks[index] = node_mark(value);
    if (spec->type == T_INT_LIST || spec->type == T_FLAGS)
        return set_list(s, index, doc, value, key);
    const char *text;
    if (scalar_text(s, value, key, &text))
        return 1;
    if (is_null_scalar(value) && spec->type != T_STRING && spec->type != T_PATH)
        return fail_at(s, node_mark(value), "give a value or leave the key out for the default",
                       "%s has no value", key);
    if (convert_scalar(s->p, spec, text, is_quoted(value), 0, why, hint, sizeof why))
        return fail_at(s, node_mark(value), hint, "%s: %s", key, why);
    return 0;
}

/* The keys valid in `section`, for hints. */
static int section_keys(const char *section, const char **keys, int capacity)
{
    int count = 0;
    for (int i = 0; i < SETTING_COUNT && count < capacity; i++)
        if (!strcmp(settings[i].section, section))
            keys[count++] = settings[i].name;
    if (!section[0])
        for (int i = 0; sections[i] && count < capacity; i++)
            keys[count++] = sections[i];
    return count;
}

static int unknown_key(parse_state *s, const char *section, const char *name, mark m)
{
    const char *keys[SETTING_COUNT + 16];
    int count = section_keys(section, keys, SETTING_COUNT + 16);
    char hint[CONTROLLER_ERR_SIZE];
    const char *guess = closest(name, keys, count);
    int home = -1;
    for (int i = 0; i < SETTING_COUNT && home < 0; i++)
        if (!strcmp(settings[i].name, name) && strcmp(settings[i].section, section))
            home = i;
    if (guess)
        snprintf(hint, sizeof hint, "did you mean '%s'?", guess);
    else if (home >= 0 && settings[home].section[0])
        snprintf(hint, sizeof hint, "%s belongs under %s:", name, settings[home].section);
    else if (home >= 0)
        snprintf(hint, sizeof hint, "%s belongs at the top level", name);
    else {
        size_t used = (size_t)snprintf(hint, sizeof hint, "valid here:");
        for (int i = 0; i < count && used < sizeof hint; i++)
            used += (size_t)snprintf(hint + used, sizeof hint - used, "%s %s", i ? "," : "",
                                     keys[i]);
    }
    return fail_at(s, m, hint, "unknown key '%s%s%.80s'", section, section[0] ? "." : "", name);
}

static int walk_mapping(parse_state *s, yaml_document_t *doc, yaml_node_t *map,
                        const char *section);

static int walk_pair(parse_state *s, yaml_document_t *doc, yaml_node_pair_t *pair,
                     const char *section)
{
    yaml_node_t *key = yaml_document_get_node(doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(doc, pair->value);
    if (!key || !value)
        return fail_at(s, (mark){1, 1}, "check the YAML", "malformed mapping");
    const char *name;
    if (key->type != YAML_SCALAR_NODE)
        return fail_at(s, node_mark(key), "keys are plain words such as 'display'",
                       "a key must be a word, not a %s",
                       key->type == YAML_MAPPING_NODE ? "mapping" : "list");
    if (scalar_text(s, key, "a key", &name))
        return 1;
    int index = setting_index(section, name);
    if (index >= 0)
        return set_from_node(s, index, doc, value);
    int sec = section[0] ? -1 : section_index(name);
    if (sec < 0)
        return unknown_key(s, section, name, node_mark(key));
    if (s->section_marks[sec].line)
        return fail_at(s, node_mark(key), "merge the two into one", "section %s: given twice "
                       "(first on line %d)", name, s->section_marks[sec].line);
    s->section_marks[sec] = node_mark(key);
    if (is_null_scalar(value))
        return 0; /* "display:" with nothing under it: all defaults */
    if (value->type != YAML_MAPPING_NODE)
        return fail_at(s, node_mark(value), "indent its settings under it, e.g. 'refresh_hz: 60'",
                       "section %s must hold key: value settings", name);
    return walk_mapping(s, doc, value, name);
}

static int walk_mapping(parse_state *s, yaml_document_t *doc, yaml_node_t *map,
                        const char *section)
{
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++)
        if (walk_pair(s, doc, pair, section))
            return 1;
    return 0;
}

/* Deeper than any protocol needs (document, section, setting, list: 4). */
#define PROTOCOL_MAX_DEPTH 16

/* Nesting deeper than PROTOCOL_MAX_DEPTH is refused before the document is
 * built: libyaml's loader takes time quadratic in the depth (100,000
 * brackets: over a minute), while its events up to the limit come after a
 * bounded read ahead (a possible simple key goes stale after 1,024
 * characters). Syntax errors are left to the load that follows, which
 * reports them. */
static int check_depth(parse_state *s, const char *text, size_t size)
{
    yaml_parser_t parser;
    yaml_event_t event;
    if (!yaml_parser_initialize(&parser))
        return fail_at(s, (mark){1, 1}, "free some memory", "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    int depth = 0, status = 0, done = 0;
    while (!done && !status && yaml_parser_parse(&parser, &event)) {
        if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT)
            depth++;
        if (event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth > PROTOCOL_MAX_DEPTH) {
            mark m = {(int)event.start_mark.line + 1, (int)event.start_mark.column + 1};
            status = fail_at(s, m, "a protocol nests sections, settings and lists only",
                             "YAML nested deeper than %d levels", PROTOCOL_MAX_DEPTH);
        }
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return status;
}

static int load_document(parse_state *s, const char *text, size_t size)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (check_depth(s, text, size))
        return 1;
    if (!yaml_parser_initialize(&parser))
        return fail_at(s, (mark){1, 1}, "free some memory", "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    int status = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        mark m = {(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1};
        status = fail_at(s, m, "check indentation, colons and quotes", "YAML syntax: %s%s%s",
                         parser.problem ? parser.problem : "unreadable",
                         parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return status;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        status = fail_at(s, (mark){1, 1}, "start from protocols/template.yaml",
                         "the protocol is empty");
    else if (root->type != YAML_MAPPING_NODE)
        status = fail_at(s, node_mark(root), "start from protocols/template.yaml",
                         "the protocol must be a mapping of sections and settings");
    else
        status = walk_mapping(s, &doc, root, "");
    yaml_document_delete(&doc);
    if (status == 0) {
        /* One document only: a second one would be silently ignored. */
        if (!yaml_parser_load(&parser, &doc)) {
            mark m = {(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1};
            status = fail_at(s, m, "check indentation, colons and quotes", "YAML syntax: %s",
                             parser.problem ? parser.problem : "unreadable");
        } else {
            yaml_node_t *extra = yaml_document_get_root_node(&doc);
            if (extra)
                status = fail_at(s, node_mark(extra), "remove the '---' separator",
                                 "a protocol file holds one document");
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    return status;
}

/* ---- defaults ---- */

static int apply_default(protocol *p, int index)
{
    const setting_spec *spec = &settings[index];
    char why[CONTROLLER_ERR_SIZE], hint[CONTROLLER_ERR_SIZE];
    if (spec->type != T_INT_LIST && spec->type != T_FLAGS)
        return convert_scalar(p, spec, spec->fallback, 0, 0, why, hint, sizeof why);
    char copy[128];
    snprintf(copy, sizeof copy, "%s", spec->fallback);
    int item = 0;
    for (char *save, *word = strtok_r(copy, ",", &save); word; word = strtok_r(NULL, ",", &save))
        if (convert_scalar(p, spec, word, 0, item++, why, hint, sizeof why))
            return 1;
    return 0;
}

static int apply_defaults(protocol *p)
{
    for (int i = 0; i < SETTING_COUNT; i++)
        if (apply_default(p, i))
            return 1;
    return 0;
}

/* ---- checks across settings ---- */

/* Where to point a message about a setting: its own line, or its section's, or 1:1. */
static mark where(const parse_state *s, const char *section, const char *name)
{
    int index = setting_index(section, name);
    if (index >= 0 && s->marks[index].line)
        return s->marks[index];
    int sec = section_index(section);
    if (sec >= 0 && s->section_marks[sec].line)
        return s->section_marks[sec];
    return (mark){1, 1};
}

static int given(const parse_state *s, const char *section, const char *name)
{
    int index = setting_index(section, name);
    return index >= 0 && s->marks[index].line > 0;
}

/* Milliseconds to the nearest whole number of frames. */
static int frames_from_ms(float ms, float hz)
{
    return (int)lround((double)ms * hz / 1000.0);
}

static int resolve_timing(parse_state *s)
{
    protocol *p = s->p;
    const char *pairs[3][2] = {{"stimulus_frames", "stimulus_ms"}, {"isi_frames", "isi_ms"},
                               {"isi_jitter_frames", "isi_jitter_ms"}};
    int *frames[3] = {&p->timing.stimulus_frames, &p->timing.isi_frames,
                      &p->timing.isi_jitter_frames};
    float *ms[3] = {&p->timing.stimulus_ms, &p->timing.isi_ms, &p->timing.isi_jitter_ms};
    for (int k = 0; k < 3; k++) {
        if (given(s, "timing", pairs[k][0]) && given(s, "timing", pairs[k][1]))
            return fail_at(s, where(s, "timing", pairs[k][1]), "give one of the two",
                           "timing.%s and timing.%s are both given", pairs[k][0], pairs[k][1]);
        if (given(s, "timing", pairs[k][0]))
            *ms[k] = 0;
        else
            *frames[k] = frames_from_ms(*ms[k], p->display.refresh_hz);
    }
    if (p->timing.stimulus_frames < 1)
        return fail_at(s, where(s, "timing", p->timing.stimulus_ms > 0 ? "stimulus_ms"
                                                                      : "stimulus_frames"),
                       "at least one frame", "the stimulus lasts 0 frames at %g Hz",
                       p->display.refresh_hz);
    int least = protocol_isi_jitter_min_frames(p->display.refresh_hz);
    if (p->timing.isi_jitter_frames > 0 && p->timing.isi_jitter_frames < least) {
        int in_frames = given(s, "timing", "isi_jitter_frames");
        char hint[128];
        snprintf(hint, sizeof hint, "0 (a regular rhythm), or at least %d frames = %.1f ms at %g Hz",
                 least, least * 1000.0 / p->display.refresh_hz, p->display.refresh_hz);
        return fail_at(s, where(s, "timing", in_frames ? "isi_jitter_frames" : "isi_jitter_ms"),
                       hint, "timing.%s: a jitter of %d frames is too small for the clock vote "
                       "to tell a pairing shifted by one stimulus (docs/timing.md)",
                       in_frames ? "isi_jitter_frames" : "isi_jitter_ms",
                       p->timing.isi_jitter_frames);
    }
    return 0;
}

/* A pairing of onsets with sync edges shifted by one stimulus matches an
 * onset only where that trial's jitter draw lies within the vote's match
 * tolerance of its anchor's draw: w frames either side, w = tolerance /
 * frame rounded down. With J + 1 equally likely draws that happens with
 * chance about (2w + 1) / (J + 1); the jitter is refused unless that is at
 * most 1/4: the least jitter accepted still lets a shifted pairing win in 2
 * or 3 of 20,000 simulated sessions whose first edge was lost (bench-vote;
 * docs/timing.md has the figures). */
int protocol_isi_jitter_min_frames(double refresh_hz)
{
    double frame_ns = 1e9 / refresh_hz;
    int w = (int)floor((double)ACQ_MATCH_TOLERANCE_NS / frame_ns + 1e-9);
    return 4 * (2 * w + 1) - 1;
}

int protocol_trial_isi_frames(const protocol *p, int64_t trial)
{
    int jitter = p->timing.isi_jitter_frames;
    if (jitter <= 0)
        return p->timing.isi_frames;
    /* Its own stream of the seed, one per trial: the draw depends on nothing
     * drawn before it ("isi" in ASCII keeps it apart from the other streams). */
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(p->seed ^ 0x697369ull, (uint64_t)trial));
    int k = (int)(model_rng_uniform(&rng) * (jitter + 1));
    return p->timing.isi_frames + (k > jitter ? jitter : k);
}

static int check_path(parse_state *s, const char *section, const char *name, char *path,
                      int want_dir)
{
    if (!path[0] || !s->base_dir)
        return 0;
    if (path[0] != '/') {
        char joined[2 * PROTOCOL_STRING_SIZE];
        snprintf(joined, sizeof joined, "%s/%s", s->base_dir, path);
        if (strlen(joined) >= PROTOCOL_STRING_SIZE)
            return fail_at(s, where(s, section, name), "use a shorter path",
                           "%s.%s: path too long", section,
                           name);
        strcpy(path, joined);
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return fail_at(s, where(s, section, name),
                       "relative paths start from the protocol file's folder",
                       "%s.%s: %s: %s", section, name, path, strerror(errno));
    if (want_dir && !S_ISDIR(st.st_mode))
        return fail_at(s, where(s, section, name),
                       strcmp(section, "sounds") ? "give a folder of PNG/JPEG images"
                                                 : "give a folder of sound files",
                       "%s.%s: %s is not a folder", section, name, path);
    if (!want_dir && !S_ISREG(st.st_mode))
        return fail_at(s, where(s, section, name), "name a regular file",
                       "%s.%s: %s is not a file", section,
                       name, path);
    return 0;
}

static int check_endpoint(parse_state *s, const char *name, const char *value)
{
    if (!strncmp(value, "tcp://", 6) || !strncmp(value, "ipc://", 6) ||
        !strncmp(value, "inproc://", 9))
        return 0;
    return fail_at(s, where(s, "endpoints", name), "e.g. tcp://127.0.0.1:5556",
                   "endpoints.%s: '%.80s' is not a ZeroMQ endpoint", name, value);
}

/* A tcp endpoint's host and port ("tcp://HOST:PORT"); 0 when not tcp. */
static int tcp_port(const char *endpoint, char *host, size_t size)
{
    if (strncmp(endpoint, "tcp://", 6))
        return 0;
    const char *colon = strrchr(endpoint + 6, ':');
    if (!colon)
        return 0;
    snprintf(host, size, "%.*s", (int)(colon - endpoint - 6), endpoint + 6);
    return atoi(colon + 1);
}

/* A host that may be this computer: a wildcard bind or a loopback name. */
static int may_be_here(const char *host)
{
    return !strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !strcmp(host, "localhost") ||
           !strncmp(host, "127.", 4) || !strcmp(host, "[::1]") || !strcmp(host, "[::]");
}

/* The stream and the onsets (bound here) on one socket: the onset publisher
 * takes the port the stream needs, and the run waits endpoints.timeout_s for
 * a stream that never comes. The same port is one socket when both hosts are
 * the same, may be this computer, or the virtual rig publishes here. */
static int check_ports(parse_state *s)
{
    const protocol *p = s->p;
    char stream_host[PROTOCOL_STRING_SIZE], sync_host[PROTOCOL_STRING_SIZE];
    if (!s->base_dir) /* read back from a record: not about to run */
        return 0;
    int stream_port = tcp_port(p->endpoints.stream, stream_host, sizeof stream_host);
    int sync_port = tcp_port(p->endpoints.sync, sync_host, sizeof sync_host);
    int same = !strcmp(p->endpoints.stream, p->endpoints.sync) ||
               (stream_port && stream_port == sync_port &&
                (!strcmp(stream_host, sync_host) || p->virtual_rig.enabled ||
                 (may_be_here(stream_host) && may_be_here(sync_host))));
    if (!same)
        return 0;
    return fail_at(s, where(s, "endpoints", given(s, "endpoints", "sync") ? "sync" : "stream"),
                   "give the onsets their own port (the defaults: 5556 and 5560)",
                   "endpoints.stream %.80s and endpoints.sync %.80s are one socket",
                   p->endpoints.stream, p->endpoints.sync);
}

static int check_display_endpoint(parse_state *s, const char *value)
{
    if (!strncmp(value, "tcp://", 6) || !strncmp(value, "ipc://", 6))
        return 0;
    return fail_at(s, where(s, "display", "endpoint"), "e.g. tcp://127.0.0.1:5570, or \"\"",
                   "display.endpoint: '%.80s' is not a ZeroMQ endpoint", value);
}

static int check_images(parse_state *s)
{
    protocol_images *im = &s->p->images;
    /* Version 1's `folder` cut patches from the files; its sessions must
     * make the same images again (replay, resume), so it reads as `patches`.
     * From version 2 on `folder` shows each file as one image. */
    if (s->p->version < 2 && im->source == PROTOCOL_IMAGES_FOLDER)
        im->source = PROTOCOL_IMAGES_PATCHES;
    int from_folder = im->source == PROTOCOL_IMAGES_FOLDER ||
                      im->source == PROTOCOL_IMAGES_PATCHES;
    int needs_path = from_folder || im->source == PROTOCOL_IMAGES_NPY;
    if (needs_path && !im->path[0])
        return fail_at(s, where(s, "images", "source"), "add images.path",
                       "images.source %s needs images.path", image_sources[im->source]);
    if (!needs_path && im->path[0])
        return fail_at(s, where(s, "images", "path"), "set images.source to folder, patches or npy",
                       "images.path is only read with source folder, patches or npy");
    if (check_path(s, "images", "path", im->path, from_folder))
        return 1;
    /* The run's split (run.c: round(train × fraction) validation images) and
     * what its fit needs (session_fit.c, train.c): at least 2 validation
     * images for a correlation, at least 1 left to train on. A protocol read
     * back from a record (no base_dir: an import's describes its data) is
     * not about to run. */
    int validation = (int)lround((double)im->train * im->validation_fraction);
    if (!s->base_dir)
        return 0;
    if (validation < 2)
        return fail_at(s, where(s, "images", "validation_fraction"),
                       "more training images or a larger fraction: the fit needs 2",
                       "images.validation_fraction %g of %d training images holds out %d "
                       "validation image%s", im->validation_fraction, im->train, validation,
                       validation == 1 ? "" : "s");
    if (validation >= im->train)
        return fail_at(s, where(s, "images", "validation_fraction"),
                       "more training images or a smaller fraction",
                       "images.validation_fraction %g of %d training images leaves none to "
                       "train on", im->validation_fraction, im->train);
    return 0;
}

static int check_model(parse_state *s)
{
    protocol_model *m = &s->p->model;
    int kernels_index = setting_index("model", "kernels");
    int listed = s->list_length[kernels_index] ? s->list_length[kernels_index] : 3;
    if (listed != m->layers) {
        int at_kernels = given(s, "model", "kernels");
        char hint[96];
        snprintf(hint, sizeof hint, "give model.kernels %d odd sizes, e.g. [%s]", m->layers,
                 m->layers == 1 ? "9" : m->layers == 2 ? "9, 7" : "9, 7, 7, ...");
        return fail_at(s, where(s, "model", at_kernels ? "kernels" : "layers"), hint,
                       "model.layers is %d but model.kernels lists %d sizes", m->layers, listed);
    }
    return 0;
}

/* A model fitted elsewhere must be whole and fit this session's images (and the virtual
 * rig's neurons), or a whole recording would end in a fit phase that cannot use it. */
static int check_model_file(parse_state *s)
{
    const protocol *p = s->p;
    if (!p->model.file[0] || !s->base_dir)
        return 0;
    model *m;
    char err[MODEL_ERR_SIZE];
    if (model_load(&m, p->model.file, err))
        return fail_at(s, where(s, "model", "file"), "give a model.bin of inception or "
                       "inception.model.save", "model.file: %s", err);
    const model_config *c = model_get_config(m);
    int height = c->height, width = c->width, neurons = c->neurons;
    model_destroy(m);
    if (height != p->images.height || width != p->images.width)
        return fail_at(s, where(s, "model", "file"), "fit it on images of images.height × "
                       "images.width", "model.file: a model of %d×%d images; the protocol's "
                       "images are %d×%d", height, width, p->images.height, p->images.width);
    if (p->virtual_rig.enabled && neurons != p->virtual_rig.neurons)
        return fail_at(s, where(s, "model", "file"), "fit it on this population's recording",
                       "model.file: a model of %d neurons; the virtual rig has %d", neurons,
                       p->virtual_rig.neurons);
    return 0;
}

static int check_consistency(parse_state *s)
{
    protocol *p = s->p;
    const protocol_virtual_rig *v = &p->virtual_rig;
    float shares = v->fraction_simple + v->fraction_complex + v->fraction_conjunction +
                   v->fraction_energy_conjunction + v->fraction_end_stopped +
                   v->fraction_surround + v->fraction_curvature + v->fraction_texture;
    if (shares > 1.0001f)
        return fail_at(s, where(s, "virtual_rig", "fraction_complex"),
                       "the rest are normalized cells; the shares add to at most 1",
                       "virtual_rig.fraction_simple + fraction_complex + fraction_conjunction + "
                       "fraction_energy_conjunction + the zoo's four = %g exceeds 1", shares);
    if (!(v->baseline_rate > 0.0f) && v->baseline_share != 1.0f) /* 1, the default: harmless */
        return fail_at(s, where(s, "virtual_rig", "baseline_share"),
                       "give virtual_rig.baseline_rate above 0, or leave the share out",
                       "virtual_rig.baseline_share %g needs a baseline_rate above 0",
                       v->baseline_share);
    if (v->baseline_rate > 0.0f && p->modality == PROTOCOL_MODALITY_AUDIO)
        return fail_at(s, where(s, "virtual_rig", "baseline_rate"),
                       "0 with modality audio",
                       "virtual_rig.baseline_rate %g: the auditory population has no baseline "
                       "rates (image populations only)", v->baseline_rate);
    if (p->virtual_rig.enabled && p->targets.count > p->virtual_rig.neurons)
        return fail_at(s, where(s, "targets", "count"), "at most virtual_rig.neurons",
                       "targets.count %d exceeds the %d simulated neurons", p->targets.count,
                       p->virtual_rig.neurons);
    if (p->endpoints.format == PROTOCOL_STREAM_OPENEPHYS && !p->endpoints.units)
        return fail_at(s, where(s, "endpoints", "format"), "give endpoints.units",
                       "endpoints.format openephys needs endpoints.units (sorted units "
                       "binned here)");
    if (p->endpoints.electrodes && p->endpoints.format != PROTOCOL_STREAM_OPENEPHYS)
        return fail_at(s, where(s, "endpoints", "electrodes"), "0, or endpoints.format openephys",
                       "endpoints.electrodes %d: only an Open Ephys stream has unsorted spikes",
                       p->endpoints.electrodes);
    if (p->endpoints.units + p->endpoints.electrodes > 65536)
        return fail_at(s, where(s, "endpoints", "electrodes"), "units + electrodes <= 65536",
                       "endpoints.units + endpoints.electrodes = %d columns, over 65536",
                       p->endpoints.units + p->endpoints.electrodes);
    if (p->virtual_rig.enabled && p->endpoints.format == PROTOCOL_STREAM_OPENEPHYS)
        return fail_at(s, where(s, "endpoints", "format"), "native, or virtual_rig.enabled false",
                       "the virtual rig publishes the native format, not openephys");
    if (p->virtual_rig.enabled && p->endpoints.units &&
        p->endpoints.units != p->virtual_rig.neurons)
        return fail_at(s, where(s, "endpoints", "units"), "0, or virtual_rig.neurons",
                       "endpoints.units %d differs from the virtual rig's %d neurons",
                       p->endpoints.units, p->virtual_rig.neurons);
    if (!p->virtual_rig.enabled && p->endpoints.units &&
        p->targets.count > p->endpoints.units + p->endpoints.electrodes)
        return fail_at(s, where(s, "targets", "count"), "at most endpoints.units",
                       "targets.count %d exceeds the stream's %d units", p->targets.count,
                       p->endpoints.units + p->endpoints.electrodes);
    if (p->display.photodiode && (p->display.photodiode_px > p->display.width ||
                                  p->display.photodiode_px > p->display.height))
        return fail_at(s, where(s, "display", "photodiode_px"), "smaller than the display",
                       "display.photodiode_px %d does not fit a %dx%d display",
                       p->display.photodiode_px, p->display.width, p->display.height);
    double frame_ms = 1000.0 / p->display.refresh_hz;
    double trial_ms = (p->timing.stimulus_frames + p->timing.isi_frames) * frame_ms;
    if (p->response.latency_ms + p->response.duration_ms > trial_ms + 1e-3) {
        char hint[128];
        snprintf(hint, sizeof hint, "latency + duration at most %.1f ms (stimulus + gap)",
                 trial_ms);
        return fail_at(s, where(s, "response", "duration_ms"), hint,
                       "the response window (%g + %g ms) overlaps the next trial",
                       p->response.latency_ms, p->response.duration_ms);
    }
    return 0;
}

/* mei.kinds: the masked and surround MEIs are made from the MEI, under a
 * mask fitted to one model. */
static int check_kinds(parse_state *s)
{
    const protocol *p = s->p;
    unsigned region = PROTOCOL_KIND_MASKED | PROTOCOL_KIND_SURROUND;
    if (!(p->mei.kinds & PROTOCOL_KIND_FULL))
        return fail_at(s, where(s, "mei", "kinds"), "list full first, e.g. [full, masked]",
                       "mei.kinds must include full: the other kinds are compared with it "
                       "and the masked and surround MEIs are made from it");
    if ((p->mei.kinds & region) && p->model.ensemble > 1)
        return fail_at(s, where(s, "mei", "kinds"), "model.ensemble 1, or leave out masked "
                       "and surround", "mei.kinds masked and surround fit their mask to one "
                       "model; model.ensemble is %d", p->model.ensemble);
    if (p->modality == PROTOCOL_MODALITY_AUDIO && p->mei.kinds != PROTOCOL_KIND_FULL)
        return fail_at(s, where(s, "mei", "kinds"), "kinds: [full]",
                       "with modality: audio the closed loop shows the MEI and its controls "
                       "(masked, surround, least, diverse and pattern are image kinds)");
    if ((p->mei.kinds & PROTOCOL_KIND_PATTERN) && p->targets.count < 2)
        return fail_at(s, where(s, "mei", "kinds"), "targets.count 2 or more, or leave out "
                       "pattern", "mei.kinds pattern sets a pattern across the targets as one "
                       "group; targets.count is %d", p->targets.count);
    return 0;
}

/* The search's space is images: refused with modality audio. */
static int check_search(parse_state *s)
{
    const protocol *p = s->p;
    if (p->search.enabled && p->modality == PROTOCOL_MODALITY_AUDIO)
        return fail_at(s, where(s, "search", "enabled"), "search: enabled: false",
                       "search.enabled: the model-free search is over images (sums of Gabor "
                       "primitives); modality is audio");
    return 0;
}

/* Audio: what an audio session cannot do, refused by name (docs/audio.md). */
static int check_sounds(parse_state *s)
{
    protocol *p = s->p;
    if (p->modality != PROTOCOL_MODALITY_AUDIO)
        return (p->mei.controls & PROTOCOL_CONTROL_TONE)
                   ? fail_at(s, where(s, "mei", "controls"), "leave tone out",
                             "tone is an audio control (modality: audio)")
                   : 0; /* the sounds section is checked for range, and not used */
    const char *image_only[] = {"source", "path", "height", "width"};
    for (int i = 0; i < 4; i++)
        if (given(s, "images", image_only[i]))
            return fail_at(s, where(s, "images", image_only[i]), "leave it out",
                           "images.%s is not used with modality: audio (the clips are "
                           "synthetic; the cochleagram sets the model's input)", image_only[i]);
    unsigned sound_controls =
        PROTOCOL_CONTROL_BEST_NATURAL | PROTOCOL_CONTROL_RF | PROTOCOL_CONTROL_TONE;
    if (!given(s, "mei", "controls")) /* the default list holds an image control */
        p->mei.controls = PROTOCOL_CONTROL_BEST_NATURAL | PROTOCOL_CONTROL_RF;
    if (p->mei.controls & ~sound_controls)
        return fail_at(s, where(s, "mei", "controls"), "controls: [best_natural, rf, tone]",
                       "with modality: audio the controls are the best natural clip, rf (the "
                       "fitted linear STRF's optimum) and tone (gabor is an image control)");
    if (p->model.file[0])
        return fail_at(s, where(s, "model", "file"), "leave it out",
                       "model.file is not read with modality: audio (the model is fitted)");
    int from_folder = p->sounds.source == PROTOCOL_SOUNDS_FOLDER;
    if (from_folder && !p->sounds.path[0])
        return fail_at(s, where(s, "sounds", "source"), "add sounds.path",
                       "sounds.source folder needs sounds.path");
    if (!from_folder && p->sounds.path[0])
        return fail_at(s, where(s, "sounds", "path"), "set sounds.source to folder",
                       "sounds.path is only read with sounds.source folder");
    if (check_path(s, "sounds", "path", p->sounds.path, 1))
        return 1;
    if (p->display.endpoint[0])
        return fail_at(s, where(s, "display", "endpoint"), "leave it out",
                       "modality: audio plays its clips on this computer's audio device");
    double stimulus_ms = p->timing.stimulus_frames * 1000.0 / p->display.refresh_hz;
    double trial_ms = stimulus_ms + p->timing.isi_frames * 1000.0 / p->display.refresh_hz;
    double buffer_ms = PRESENTER_AUDIO_BUFFER_FRAMES * 1000.0 / p->sounds.rate;
    if (trial_ms + 1e-3 < p->sounds.clip_ms + buffer_ms)
        return fail_at(s, where(s, "timing", given(s, "timing", "isi_frames") ? "isi_frames"
                                                                              : "isi_ms"),
                       "a gap of one audio buffer at least",
                       "a %g ms clip starts with the audio device's next buffer (up to %.1f ms "
                       "after the onset) and must end within its %.1f ms trial",
                       p->sounds.clip_ms, buffer_ms, trial_ms);
    if (stimulus_ms + 1e-3 < p->sounds.clip_ms)
        return fail_at(s, where(s, "timing", given(s, "timing", "stimulus_frames")
                                                 ? "stimulus_frames" : "stimulus_ms"),
                       "at least sounds.clip_ms",
                       "a %g ms clip does not fit the %.1f ms a stimulus is on",
                       p->sounds.clip_ms, stimulus_ms);
    return 0;
}

static int check_settings(parse_state *s)
{
    protocol *p = s->p;
    return resolve_timing(s) || check_endpoint(s, "stream", p->endpoints.stream) ||
           check_endpoint(s, "sync", p->endpoints.sync) || check_ports(s) ||
           (p->display.endpoint[0] && check_display_endpoint(s, p->display.endpoint)) ||
           check_images(s) || check_model(s) ||
           check_path(s, "display", "gamma_file", p->display.gamma_file, 0) ||
           check_path(s, "model", "file", p->model.file, 0) || check_model_file(s) ||
           check_consistency(s) || check_sounds(s) || check_kinds(s) ||
           check_search(s);
}

/* ---- public ---- */

static protocol *protocol_alloc(const char *text, size_t size, const char *file)
{
    protocol *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->text = malloc(size + 1);
    p->lines = calloc(SETTING_COUNT, sizeof *p->lines);
    if (!p->text || !p->lines) {
        protocol_destroy(p);
        return NULL;
    }
    memcpy(p->text, text, size);
    p->text[size] = '\0';
    p->text_size = size;
    snprintf(p->file, sizeof p->file, "%s", file);
    return p;
}

int protocol_parse(const char *text, size_t size, const char *file, const char *base_dir,
                   protocol **out, char *err)
{
    *out = NULL;
    protocol *p = protocol_alloc(text, size, file ? file : "<protocol>");
    if (!p)
        return controller_fail(err, "%s: out of memory", file ? file : "<protocol>");
    parse_state s;
    memset(&s, 0, sizeof s);
    s.p = p;
    s.file = p->file;
    s.base_dir = base_dir;
    snprintf(p->dir, sizeof p->dir, "%s", base_dir ? base_dir : "");
    s.err = err;
    if (apply_defaults(p)) {
        controller_fail(err, "%s: internal error: a default does not parse", s.file);
        protocol_destroy(p);
        return 1;
    }
    if (load_document(&s, p->text, size) || check_settings(&s)) {
        protocol_destroy(p);
        return 1;
    }
    *out = p;
    return 0;
}

int protocol_load(const char *path, protocol **out, char *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return controller_fail(err, "%s: %s", path, strerror(errno));
    size_t size = 0, capacity = 4096;
    char *text = malloc(capacity);
    while (text) {
        size += fread(text + size, 1, capacity - size, f);
        if (size < capacity || size >= (16u << 20))
            break;
        char *grown = realloc(text, capacity *= 2);
        if (!grown)
            free(text);
        text = grown;
    }
    int failed = ferror(f) || !text || size >= (16u << 20);
    fclose(f);
    if (failed) {
        controller_fail(err, "%s: cannot read (or larger than 16 MiB)", path);
        free(text);
        return 1;
    }
    char dir[PROTOCOL_STRING_SIZE];
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    /* Absolute, so that the resolved paths (and the folder, recorded in
     * session_start) mean the same from any working directory. */
    char absolute[PATH_MAX];
    if (realpath(dir, absolute) && strlen(absolute) < sizeof dir)
        snprintf(dir, sizeof dir, "%s", absolute);
    int status = protocol_parse(text, size, path, dir, out, err);
    free(text);
    return status;
}

void protocol_destroy(protocol *p)
{
    if (!p)
        return;
    free(p->text);
    free(p->lines);
    free(p);
}

int protocol_setting_count(void)
{
    return SETTING_COUNT;
}

static void format_value(const protocol *p, const setting_spec *spec, char *out, size_t size)
{
    const void *v = (const char *)p + spec->offset;
    size_t used = 0;
    switch (spec->type) {
    case T_INT:
    case T_BOOL:
        if (spec->type == T_BOOL)
            snprintf(out, size, "%s", *(const int *)v ? "true" : "false");
        else
            snprintf(out, size, "%d", *(const int *)v);
        break;
    case T_U64:
        snprintf(out, size, "%llu", (unsigned long long)*(const uint64_t *)v);
        break;
    case T_FLOAT:
        snprintf(out, size, "%g", *(const float *)v);
        break;
    case T_STRING:
    case T_PATH:
        snprintf(out, size, "%s", *(const char *)v ? (const char *)v : "\"\"");
        break;
    case T_ENUM:
        snprintf(out, size, "%s", spec->choices[*(const int *)v]);
        break;
    case T_INT_LIST:
        used = (size_t)snprintf(out, size, "[");
        for (int i = 0; i < p->model.layers && used < size; i++)
            used += (size_t)snprintf(out + used, size - used, "%s%d", i ? ", " : "",
                                     ((const int *)v)[i]);
        if (used < size)
            snprintf(out + used, size - used, "]");
        break;
    case T_FLAGS:
        used = (size_t)snprintf(out, size, "[");
        for (int i = 0, n = 0; spec->choices[i] && used < size; i++)
            if (*(const unsigned *)v & (1u << i))
                used += (size_t)snprintf(out + used, size - used, "%s%s", n++ ? ", " : "",
                                         spec->choices[i]);
        if (used < size)
            snprintf(out + used, size - used, "]");
        break;
    }
}

/* The source of a frame count converted from milliseconds says how (the
 * timing section's NAME_frames and NAME_ms twins). */
static int derived_frames(const protocol *p, const setting_spec *spec, char *out, size_t size)
{
    size_t n = strlen(spec->name);
    if (strcmp(spec->section, "timing") || n < 7 || strcmp(spec->name + n - 7, "_frames"))
        return 0;
    char ms_name[64];
    snprintf(ms_name, sizeof ms_name, "%.*s_ms", (int)(n - 7), spec->name);
    int ms_index = setting_index("timing", ms_name);
    if (ms_index < 0)
        return 0;
    float ms = *(const float *)((const char *)p + settings[ms_index].offset);
    int frames = *(const int *)((const char *)p + spec->offset);
    if (ms == 0 && (frames > 0 || !p->lines[ms_index]))
        return 0;
    char origin[32];
    if (p->lines[ms_index])
        snprintf(origin, sizeof origin, "file, line %d", p->lines[ms_index]);
    else
        snprintf(origin, sizeof origin, "default");
    double shown = frames * 1000.0 / p->display.refresh_hz;
    snprintf(out, size, "timing.%s %g ms (%s) at %g Hz, rounded to %d frames = %.2f ms%s",
             ms_name, ms, origin, p->display.refresh_hz, frames,
             shown, fabs(shown - ms) > 0.005 ? " (rounding changed it)" : "");
    return 1;
}

void protocol_setting_get(const protocol *p, int index, protocol_setting *out)
{
    memset(out, 0, sizeof *out);
    if (index < 0 || index >= SETTING_COUNT)
        return;
    const setting_spec *spec = &settings[index];
    snprintf(out->key, sizeof out->key, "%s%s%s", spec->section, spec->section[0] ? "." : "",
             spec->name);
    out->doc = spec->doc;
    format_value(p, spec, out->value, sizeof out->value);
    if (p->lines[index])
        snprintf(out->source, sizeof out->source, "file, line %d", p->lines[index]);
    else if (spec->type == T_FLOAT && !strcmp(spec->section, "timing") && *(const float *)
             ((const char *)p + spec->offset) == 0)
        snprintf(out->source, sizeof out->source, "unused: given in frames");
    else if (!derived_frames(p, spec, out->source, sizeof out->source))
        snprintf(out->source, sizeof out->source, "default");
}
