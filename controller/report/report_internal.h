/* report_internal.h: what the report's files share (report.c and its
 * report_*.c, controller/report/): the session's data as the two passes over
 * the record gather it (report_data*.c) and the page being written
 * (report_html.c), and the functions one file calls in another. Private to
 * controller/report/: the public side is report.h. */
#ifndef INCEPTION_REPORT_INTERNAL_H
#define INCEPTION_REPORT_INTERNAL_H

#include "controller.h"
#include "plot.h"

#include <stdint.h>
#include <stdio.h>

#define FIGURE_WIDTH 560
#define FIGURE_HEIGHT 360
#define PATH_SIZE 4096

/* The stimulus kinds of the closed loop: the MEI, its controls and what
 * mei.kinds adds, indexed by stimulus kind (stimulus_base.h); which a run
 * shows and the comparisons are session_kinds.c's. */
#define KIND_COUNT SESSION_KINDS
#define KIND_MEI STIMULUS_KIND_MEI

/* A growing array of doubles (report_series_push). */
typedef struct series {
    double *v;
    int n;
    size_t capacity;
} series;

/* ---- What the record holds ---- */

typedef struct planned_trial {
    int64_t trial, target;
    int kind; /* KIND_*, or -1 for anything else */
} planned_trial;

typedef struct stimulus_image {
    int64_t id, neuron;
    char kind[32];
    double predicted;
    int height, width;
    float *pixels;
    double sum;     /* a diverse image's: its target's count over its unflagged trials */
    int64_t trials;
    /* A target pattern's image or control (mei.kinds pattern): its index,
     * its target over the group (the `targets` note's neurons) and, per
     * group neuron, the count summed over its unflagged trials (`trials`). */
    int64_t pattern;
    int target_k;
    float *target;
    double *group_sum;
} stimulus_image;

/* One target neuron's closed-loop summary per kind, from trials or, when
 * the record has no closed-loop trials, from its evaluation records. */
typedef struct target_summary {
    int64_t neuron;
    series responses[KIND_COUNT];
    int have[KIND_COUNT];
    stats_interval interval[KIND_COUNT];
    int64_t repeats[KIND_COUNT];
} target_summary;

/* The display's account of one block (a `note` with `display_block`). */
typedef struct display_block {
    char name[32];
    int64_t flips, dropped, trials_shown, with_drops, flagged, lost;
    double mean_ms, sd_ms, max_ms;
} display_block;

#define REPORT_DISPLAY_BLOCKS 64 /* shown one by one; later ones only counted */

/* One image of the model-free search phase (docs/search.md: a `stimulus` of
 * kind `search`) and its target's counts over its unflagged trials. */
typedef struct search_image {
    int64_t id, neuron;
    int64_t generation; /* 0-based; -1 when the record cannot tell (below) */
    double sum;
    int64_t trials;
} search_image;

/* One target of the search: its images in record order, what the phase
 * handed over (`search_best_*` evaluations) and, with the virtual rig, the
 * ground truth the evaluation recorded beside it (`truth_*`; NaN absent). */
typedef struct search_target {
    int64_t neuron;
    int64_t images;
    int64_t best_id; /* -1: no search_best_stimulus */
    double best_mean;
    double truth_search, truth_mei, truth_natural;
    double truth_least, truth_least_natural; /* search.direction least: its comparisons */
    stimulus_image best; /* the handed-over image, read in the second pass */
} search_target;

typedef struct session_data {
    char protocol_name[256];
    int have_start;
    double clock_offset_ns; /* unix ns - monotonic ns, from session_start */
    uint64_t first_ns, last_ns;
    report_summary summary;
    series flip_ns, flip_missed, flip_frame;
    display_block blocks[REPORT_DISPLAY_BLOCKS];
    int block_count;        /* all of them, beyond REPORT_DISPLAY_BLOCKS too */
    int64_t blocks_dropped; /* the blocks' own dropped-frame counts, summed */
    int64_t trials_seen, trials_frames_flagged;
    series stream_received_ns, stream_timestamp_ms, stream_lost;
    series align_time_ns, align_rms_ns, align_max_ns, align_slope;
    /* The PSTH's material: each counts bin (acquisition ns) with its
     * population mean, each unflagged trial's onset, the last alignment's
     * map, the protocol's counting window (ms after the onset). */
    series bin_start_ns, bin_width_ns, bin_mean;
    series onset_acq_ns, onset_display_ns; /* NAN where a trial lacks one */
    int have_map;
    double map_display_ref_ns, map_acquisition_ref_ns, map_offset_ns, map_slope;
    int have_window;
    double window_start_ms, window_end_ms;
    float *single_trial_corr, *oracle; /* the test_metrics evaluation */
    unsigned char *model_bytes; /* the last model.bin checkpoint's */
    size_t model_size;
    int32_t *chosen; /* the `targets` note's neurons */
    int chosen_count;
    /* The learning curve (notes with `fit`): background rounds, final epochs. */
    series curve_final, curve_round, curve_trials, curve_loss, curve_validation;
    int oracle_neurons;
    planned_trial *plan;
    int plan_count;
    size_t plan_capacity;
    int64_t *gained; /* `trial_flags` records: (trial, flags) pairs, sorted after pass 1 */
    int gained_count;
    size_t gained_capacity;
    stimulus_image *stimuli;
    int stimulus_count;
    size_t stimulus_capacity;
    /* The search phase: its population per generation (the protocol's, 0
     * unknown), its images (sorted by id after the first pass) and targets,
     * whether it ended, and the ground truth's summaries (NaN absent). */
    int search_population, search_generations, search_repeats, search_ended;
    int search_least; /* search.direction least: compared with the least exciting input and
                         the least exciting natural image, "better" is lower */
    search_image *search_images;
    int search_image_count;
    size_t search_image_capacity;
    search_target *search_targets;
    int search_target_count;
    size_t search_target_capacity;
    double search_truth_median, search_truth_beats_natural, search_truth_beats_mei;
    /* With `least` and a baseline population (virtual_rig.baseline_rate):
     * the ground truth's count of baseline targets, of those whose least
     * exciting input is below the truly least exciting natural training
     * image, and the median ratio of the two (NaN absent: no such records). */
    double truth_baseline_scored, truth_baseline_least_below, truth_baseline_median;
    target_summary *targets;
    int target_count;
    size_t target_capacity;
    int closed_loop_trials, evaluations;
    float *correlation, *feve, *fev; /* fev may be NULL: older records */
    int metric_neurons;
    char metric_split[32];
    int checkpoints;
    double last_validation_corr;
    char phases[2048];
    char notes[4096];
} session_data;

typedef struct report_output {
    FILE *html;
    const char *session_dir;
    char dir[PATH_SIZE];
    report_summary *summary;
    char *err;
} report_output;

/* ---- Across the report's files ---- */

/* report_data.c: the record's two passes into a zeroed `d` (1 with `err`). */
int report_read_session(const char *session_dir, session_data *d, char *err);
/* report_data.c: frees what `d` holds (not `d`). */
void report_session_data_free(session_data *d);
/* report_data.c: the gallery's order: by neuron, the kinds as a run shows them, then id. */
int report_compare_stimulus(const void *a, const void *b);
/* report_data.c: appends `value`; 1 when out of memory. */
int report_series_push(series *s, double value);
/* report_data.c: `count` floats copied out of a decoded record; NULL when out of memory. */
float *report_copy_floats(const float *values, size_t count);

/* report_data_search.c: a `search` stimulus of the first pass; 1 when out of memory. */
int report_gather_search_image(session_data *d, const record_stimulus *st);
/* report_data_search.c: a search phase's or ground truth's evaluation; 1 when out of memory. */
int report_gather_search_evaluation(session_data *d, const record_evaluation *e);
/* report_data_search.c: search images by id (the second pass looks them up). */
int report_compare_search_image(const void *a, const void *b);
/* report_data_search.c: a trial's count of its search image's target, unless flagged. */
void report_gather_search_trial(session_data *d, const record_trial *r, int64_t flags);
/* report_data_search.c: a handed-over search image's pixels (second pass); 1 when out of memory. */
int report_gather_search_best(session_data *d, const record_view *v);

/* report_data_timing.c: a flip, trial, trial_flags, stream or alignment record; 1: no memory. */
int report_gather_timing(session_data *d, const record_view *v);
/* report_data_timing.c: a note's display_block account, if it has one. */
void report_gather_display_block(session_data *d, const record_note *n);

/* report_html.c: `text` written with HTML's special characters escaped. */
void report_html_escaped(FILE *f, const char *text);
/* report_html.c: the line saying the record lacks `what`, counted in the summary. */
void report_html_missing(report_output *o, const char *what);
/* report_html.c: the canvas written as report/`name` and shown on the page. */
int report_write_canvas(report_output *o, plot_canvas *c, const char *name, const char *alt);
/* report_html.c: report/`name` opened for a figure's CSV data; NULL with o->err. */
FILE *report_open_data(report_output *o, const char *name);
/* report_html.c: the CSV data closed and linked on the page. */
int report_close_data(report_output *o, FILE *f, const char *name);
/* report_html.c: a canvas of the figures' size; 1 with o->err when out of memory. */
int report_new_figure(plot_canvas *c, report_output *o);
/* report_html.c: the largest finite value; -INFINITY when none. */
double report_series_max(const double *v, int n);
/* report_html.c: the smallest finite value; INFINITY when none. */
double report_series_min(const double *v, int n);
/* report_html.c: a histogram figure of `values` into `bins` over [lo, hi]. */
int report_histogram_figure(report_output *o, const double *values, int n, double lo, double hi,
                            int bins, plot_color color, const char *name, const char *alt);

/* The page's sections, in the order report.c writes them: each writes its
 * heading and its figures, or says what the record lacks; 1 with o->err on
 * a failure to write. */
/* report_model.c: the per-neuron correlations of the model's last metrics. */
int report_section_model(report_output *o, const session_data *d);
/* report_closed_loop.c: the MEIs and their controls as presented. */
int report_section_gallery(report_output *o, const session_data *d);
/* report_closed_loop.c: the recorded responses, MEI vs controls. */
int report_section_evaluation(report_output *o, const session_data *d);
/* report_search.c: the model-free search, when the session has one. */
int report_section_search(report_output *o, const session_data *d);
/* report_model.c: the test correlation against the oracle. */
int report_section_oracle(report_output *o, const session_data *d);
/* report_final_model.c: the final model's test predictions and readout map. */
int report_section_final_model(report_output *o, const session_data *d);
/* report_model.c: the fit's learning curve. */
int report_section_curve(report_output *o, const session_data *d);
/* report_psth.c: the population response around the onsets. */
int report_section_psth(report_output *o, const session_data *d);
/* report_timing.c: the display's timing. */
int report_section_timing(report_output *o, const session_data *d);
/* report_timing.c: the stream's losses and latency. */
int report_section_stream(report_output *o, const session_data *d);
/* report_timing.c: the clock alignment's residuals. */
int report_section_alignment(report_output *o, const session_data *d);

/* report_closed_loop.c: one gallery cell: the stimulus as presented, scaled
 * up, written as report/`name`, with `label` and `note` under it. */
int report_gallery_cell(report_output *o, const stimulus_image *s, const char *name,
                        const char *label, const char *note);

/* report_closed_loop.c: a target's closed-loop stimulus of `kind` (NULL if
 * none: the first, for a kind with one per target) and its recorded interval
 * of KIND_* `kind` (NULL if none; *repeats set). */
const stimulus_image *report_closed_loop_stimulus(const session_data *d, int64_t neuron,
                                                  const char *kind);
const stats_interval *report_closed_loop_interval(const session_data *d, int64_t neuron, int kind,
                                                  int64_t *repeats);
/* report_pattern.c: mei.kinds pattern: per target pattern its image, its
 * control and the target against both recorded patterns. */
int report_pattern_gallery(report_output *o, const session_data *d);
/* report_diverse.c: mei.kinds diverse: per target its MEI, then its set. */
int report_diverse_gallery(report_output *o, const session_data *d);

#endif
