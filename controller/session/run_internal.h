/* run_internal.h: what the files of `inception run` and `resume` share: the
 * background fit, the rig process, the frame path's scheduling and the
 * display's verdicts, then the run loop's state and the functions its files
 * (run.c and its parts) call across. Private to the controller library. */
#ifndef INCEPTION_RUN_INTERNAL_H
#define INCEPTION_RUN_INTERNAL_H

#include "acquisition.h"
#include "controller.h"
#include "model.h"
#include "stimulus.h"

#include <sys/types.h>

/* The background fit (fit_worker.c). The one hand-off between the run loop
 * and the fit thread: a mutex-protected list of completed trials goes in
 * (fit_worker_add), and after fit_worker_finish joins the thread the model
 * comes out. The thread fits a warm-started model round after round on a
 * snapshot of the trials completed so far, so the presenter never waits on
 * the model and the final fit starts nearly converged. */
typedef struct fit_worker fit_worker;
struct run_sched;

int fit_worker_create(fit_worker **out, const model_config *mc, const fit_options *fo,
                      int round_epochs, const struct run_sched *sched, char *err);
/* Copies one completed trial in (tier TIER_TRAIN/VALIDATION/TEST). */
int fit_worker_add(fit_worker *w, const float *image, const float *counts, int tier,
                   int64_t image_id);
/* Rounds finished so far and the latest mean validation correlation (NaN before). */
void fit_worker_status(fit_worker *w, int *rounds, double *validation_corr);
/* A finished round: its number (1…), the trials of its snapshot, its last
 * epoch's training loss and mean validation correlation. */
typedef struct fit_worker_round {
    int round, trials;
    double train_loss, validation_corr;
} fit_worker_round;
/* The index-th finished round (0…): 0, or 1 when there is none (yet). */
int fit_worker_round_at(fit_worker *w, int index, fit_worker_round *out);
/* Training trials × epochs fitted so far: the fit's throughput, rounds aside. */
int64_t fit_worker_trial_epochs(fit_worker *w);
/* Stops after the current round, joins, and hands over the warm model (NULL
 * when no round ran) and every trial added (moved into *all). */
int fit_worker_finish(fit_worker *w, model **warm, dataset *all, char *err);
void fit_worker_destroy(fit_worker *w);

/* The virtual rig as a child process (rig_process.c): `inception virtual-rig`
 * started with posix_spawn, its output to a log file in the session folder,
 * stopped with SIGTERM (it writes its ground truth then) and reaped. */
typedef struct rig_process {
    pid_t pid;
    unsigned long long start_time; /* /proc/PID/stat field 22: tells a recycled pid apart */
    int truth_index; /* 0: ground truth to rig_truth/; k > 0: rig_truth.k/ (a resume) */
} rig_process;

int rig_process_start(rig_process *r, const char *executable, const protocol *p,
                      const char *session_dir, char *err);
/* SIGTERM, wait up to `timeout_ms`, then SIGKILL; always reaps. 0 when it
 * exited with status 0. Safe to call when not started. */
int rig_process_stop(rig_process *r, int timeout_ms);

/* The rig's pid and start time, "PID START\n", in the session folder. */
#define RIG_PROCESS_FILE "virtual_rig.pid"
int rig_process_save(const rig_process *r, const char *session_dir, char *err);
/* The start time of a live process (clock ticks since boot), 0 when it is
 * gone or a zombie. */
unsigned long long rig_process_start_time(pid_t pid);
/* Stops the rig an earlier controller of this session left (the one in
 * RIG_PROCESS_FILE, if that very process still runs): SIGTERM, up to
 * `timeout_ms`, then SIGKILL. `note` says what happened. 0: nothing left
 * running or stopped by SIGTERM; 1: it had to be killed. */
int rig_process_stop_earlier(const char *session_dir, int timeout_ms, char *note, size_t size);

/* The frame path protected from the background fit (run_sched.c): real-time
 * priority for the render and receiver threads where allowed, else a
 * fallback (the fit's threads at a high nice value; on 3+ CPUs one CPU for
 * the render thread). INCEPTION_SCHEDULING=auto (default), fallback or off
 * (nothing: the figures before) chooses. `text` says what was obtained. */
enum { RUN_SCHED_OFF = 0, RUN_SCHED_REALTIME, RUN_SCHED_FALLBACK };

typedef struct run_sched {
    int mode;          /* RUN_SCHED_*: what was obtained */
    int cpus;          /* online */
    int presenter_cpu; /* the CPU reserved for the render thread, -1 none */
    int fit_nice;      /* the fit threads' nice value */
    int mlocked;       /* mlockall succeeded */
    int aligning_realtime; /* the run loop may align at real-time priority during blocks */
    int driver_threads; /* the video driver's threads, just below the receiver (realtime) */
    char text[768];    /* "scheduling: real-time (...)": printed and recorded */
} run_sched;

/* After the display and the stream are open: the receiver's scheduling, and
 * the fallback when the render thread or the receiver was refused real time
 * (`display` NULL: a remote display, nothing to do here). 1 only for a bad
 * INCEPTION_SCHEDULING. */
int run_sched_protect(run_sched *s, presenter *display, pthread_t receiver, int have_receiver,
                      char *err);
/* (run_sched_presenter_priority and run_sched_display_alone, which
 * `inception present` uses too: session.h.) The background fit's thread count on
 * the CPUs left to it. */
int run_sched_fit_threads(const run_sched *s, int asked);
/* Called by the fit thread itself before it fits: its nice value and CPUs. */
void run_sched_enter_fit_thread(const run_sched *s);
/* The calling thread (the run loop, which aligns the stream) at real-time
 * priority below the receiver's while a block shows (`on` 1), back to
 * normal after (0). Only where run_sched_protect found it allowed
 * (`aligning_realtime`). */
void run_sched_aligning(const run_sched *s, int on);

/* Which trials of a block the display showed as asked (run_frames.c): its
 * TRIAL event says (wrong duration, dropped frames, aborted). The aligner
 * may complete a trial's response before that event arrives (the window can
 * end before the ISI does); such a trial waits here with its counts until
 * the verdict comes, so that every trial record carries its display flag. */
typedef struct run_frames {
    int64_t first;          /* the block's first trial number */
    int count, units;
    uint8_t *verdict;       /* per trial of the block: RUN_FRAMES_* */
    int64_t *sound_sample;  /* per trial: its sound's onset frame in the audio device's
                               stream (presenter_event.sound_onset_sample), -1 none */
    acq_trial *held;
    float *held_counts;     /* held_count × units */
    int held_count, held_capacity;
    int photodiode;         /* the patch's state since the last onset (1 white) */
    int64_t wrong;          /* trials flagged RUN_TRIAL_FRAMES in this block */
} run_frames;

enum { RUN_FRAMES_UNKNOWN = 0, RUN_FRAMES_AS_ASKED, RUN_FRAMES_WRONG };

/* A new block of `count` trials from `first` (what an earlier block held is
 * dropped: a block ends only when all its trials completed). */
int run_frames_begin(run_frames *f, int64_t first, int count, int units, char *err);
/* A TRIAL event: its verdict. */
void run_frames_verdict(run_frames *f, const presenter_event *ev);
/* The flags a trial's record gets from the display: RUN_TRIAL_FRAMES or 0;
 * -1 while not known. Once the block is over (BLOCK_END seen) an unknown
 * verdict (its event lost) counts as wrong: nothing vouches for its frames. */
int run_frames_flags(const run_frames *f, int64_t trial, int block_over);
/* The onset frame of the trial's sound in the audio device's stream, once
 * its verdict came (-1: no sound, not played, or not known). */
int64_t run_frames_sound_sample(const run_frames *f, int64_t trial);
/* Keeps a completed trial and its counts until its verdict is known. */
int run_frames_hold(run_frames *f, const acq_trial *t, const float *counts);
/* A span of possible loss (acquisition clock) that came after trials were
 * taken from the aligner: held trials whose counted spans (acq_trial
 * counted_*: the window and the bins summed) overlap it gain ACQ_TRIAL_LOST. */
void run_frames_flag_span(run_frames *f, int64_t from, int64_t until);
/* Takes out a held trial whose verdict is known (1), or none (0). */
int run_frames_release(run_frames *f, int block_over, acq_trial *t, float *counts);
void run_frames_free(run_frames *f);

/* ------------------------------------------------------------------------ */
/* The run loop (run.c and its parts: run_start.c, run_stream.c,
 * run_trials.c, run_blocks.c, run_images.c, run_phases.c, run_search.c,
 * run_evaluate.c, run_resume.c): one run_state, owned by the run loop's
 * thread, passed to every part. Every function below returns 0, or 1 with
 * s->err saying why, unless it says otherwise. */

/* The closed loop's stimulus kinds: the MEI, its controls and what mei.kinds
 * adds, per target one slot for each stimulus kind (session/session.h). */
#define KIND_COUNT SESSION_KINDS
#define KIND_MEI STIMULUS_KIND_MEI

/* Every image the session shows, by id (the presenter's, the schedule's and
 * the stream's stimulus id). */
typedef struct image_table {
    float *pixels;  /* count × P */
    int *kind;      /* -1 natural, else STIMULUS_KIND_* below KIND_COUNT */
    int *neuron;    /* target, -1 for natural images */
    uint8_t *tier;  /* natural images: TIER_*; closed-loop stimuli: TIER_NONE */
    uint8_t *sha256; /* count × SHA256_SIZE: each schedule record carries its image's */
    float *clips;    /* audio: count × S, the clip played (pixels: its cochleagram) */
    int count, capacity;
} image_table;

/* The closed loop's recorded responses, one row per unflagged trial. */
typedef struct response_rows {
    int64_t *trial, *image_id;
    float *counts; /* rows × N */
    int count, capacity;
} response_rows;

/* mei.kinds pattern (run_pattern.c): per target pattern its image's and
 * its control's stimulus ids (-1 not yet known) and its target over the
 * group, the session's targets in order (k of them). */
#define RUN_PATTERNS_MAX 16 /* mei.pattern_count's maximum */
typedef struct run_patterns {
    int count, k;
    int64_t *ids;  /* count × 2: image, control */
    float *target; /* count × k */
} run_patterns;

typedef struct run_state {
    const protocol *p;
    const run_options *o;
    run_result *res;
    char dir[PROTOCOL_STRING_SIZE];
    char *err;

    session_lock *lock; /* held from before the first write to the end */
    session_record *rec;
    rig_process rig;
    acq_receiver *stream;
    acq_publisher *onsets;
    acq_aligner *aligner;
    run_display display; /* the local presenter or a remote one */
    run_frames frames;   /* the display's verdict on each trial of the block */
    run_sched sched;     /* the frame path's scheduling (run_sched.c) */
    fit_worker *fit;
    session_fit_result fr; /* the final fit, targets and stimuli (session_fit.c) */
    dataset data; /* the natural trials, after recording: rebuilt from the record */

    int H, W, P, N;
    int audio, S;   /* modality audio; clip samples (docs/audio.md) */
    float *made_clips; /* audio: n_targets × fr.n_kinds × S, the MEIs' and controls' clips */
    image_table images;
    int64_t next_trial;
    response_rows closed;
    float *counts;        /* N, a completed trial's */
    /* The trials recorded on the current acquisition clock: a span of
     * possible loss that comes later is recorded against those it overlaps
     * (`trial_flags`, run_flag_recorded_trials). */
    struct recorded_window {
        int64_t trial, from, to; /* what its counts depend on (acq_trial counted_*) */
        uint32_t flags;
    } *recorded;
    size_t n_recorded, cap_recorded;

    int *targets;
    int n_targets;
    run_patterns patterns; /* mei.kinds pattern: from the synthesis or the record */
    int64_t *search_best; /* n_targets: the search's handed-over stimulus ids (NULL: no search) */
    stimulus_budget budget;
    double period_ms;

    run_status st;
    int64_t start_ns, last_progress_ns;
    uint64_t stream_messages;
    int stream_failed;
    int64_t stream_reached_ns; /* acquisition clock: the end of the latest bin since the reset */
    int64_t clock_reset_ns;    /* CLOCK_MONOTONIC: the latest clock reset taken by the aligner */
    int fit_curve_failed; /* a final-fit epoch's note could not be recorded */
    unsigned begun, ended; /* a resumed session's phases (bit = phase_names index) */
    int aligner_votes;       /* onsets the first clock offset needs */
    int first_block_started;
    char *unit_map_noted;    /* Open Ephys: the unit map last recorded */
    uint64_t unmapped_noted; /* Open Ephys: spikes in no column, as last recorded */
    uint64_t spikes_dropped_noted; /* Open Ephys: spikes the full queue kept from the record */
    uint64_t restarts_noted; /* Open Ephys: clock restarts (GUI stop/start), as last recorded */
} run_state;

/* The core (run.c). */
/* The state from the protocol, for a session in `dir` (run_session and run_resume). */
int run_init(run_state *s, const protocol *p, const run_options *o, run_result *out,
             const char *dir, char *err);
/* The last notes, then everything stopped and the record closed: `status`, or 1 when
 * closing failed. */
int run_finish(run_state *s, int status, char *err);
/* A phase's bit in a resumed session's `begun` and `ended`, -1 for no phase's name. */
int run_phase_index(const char *name);
/* s->err from `fmt` with its one %s filled by `detail`; returns 1. */
int run_fail(run_state *s, const char *fmt, const char *detail);
/* The status line (run_options.progress): at most every 100 ms, unless `force` or a message. */
void run_progress(run_state *s, const char *message, int force);
/* 1, s->err saying so, once a stop was asked (run_options.stop). */
int run_interrupted(run_state *s);
/* A phase record, event "begin" or "end" (a resumed phase begins once); 1 also when interrupted. */
int run_phase(run_state *s, const char *name, const char *event);

/* The image table (run_images.c). */
/* A stimulus into the table and the display (audio: its clip to the presenter), its id in *id. */
int run_image_add(run_state *s, const float *pixels, const float *clip, int kind, int neuron,
                  int tier, int *id);
/* The pixels (audio: the cochleagram) of stimulus `id`. */
const float *run_image_at(const run_state *s, int64_t id);
/* Stimulus `id`'s stimulus record (audio: with its clip). */
int run_record_shown(run_state *s, int64_t id, int neuron, const char *kind, double predicted);

/* Start (run_start.c). */
/* The folder, the lock, the record, the rig, the stream and the presenter: the start phase. */
int run_phase_start(run_state *s);
/* The stream's receiver, the onset publisher and the aligner (3 onsets vote its first offset). */
int run_open_streams(run_state *s);
/* The local or remote display, recorded, and the frame path's scheduling. */
int run_open_presenter(run_state *s);
/* A resumed session's first block of `count` trials: the aligner's first vote fitted to it. */
int run_first_resumed_block(run_state *s, int count);
/* The virtual rig's pid and start time as a note; `what` says what happened to it. */
int run_note_rig(run_state *s, const char *what);

/* The stream (run_stream.c). */
/* What the receiver holds (up to 1000 items, waiting up to `timeout_ms` for the first) recorded
 * and aligned. */
int run_pump_stream(run_state *s, int timeout_ms);
/* run_pump_stream between blocks; a failure is kept for the next block to report. */
void run_catch_up(run_state *s);
/* The population's size: s->N and s->counts. */
int run_set_units(run_state *s, int units);
/* The stream's first bin, its units checked; an error naming the endpoint after timeout_s. */
int run_wait_for_stream(run_state *s);
/* The receiver stopped and everything it held recorded, before the record closes. */
int run_drain_stream_tail(run_state *s);

/* Completed trials (run_trials.c). */
/* A closed-loop (or search) trial's counts into s->closed, for the evaluation. */
int run_closed_add(run_state *s, int64_t trial, int64_t image_id, const float *counts);
/* A span of possible loss on the acquisition clock: the trials it overlaps flagged. */
int run_flag_recorded_trials(run_state *s, int64_t from, int64_t until);
/* The trials the aligner completed, each with its display verdict, recorded and passed on;
 * `done` counts them. */
int run_drain_trials(run_state *s, const char *block, int block_over, int *done);

/* Blocks (run_blocks.c). */
/* Shows `count` stimuli (ids) as block `block` and records every trial; `natural`: the
 * recording's block, each trial's block its image's tier. */
int run_block(run_state *s, const char *block, const int64_t *ids, int count, int natural);
/* Open Ephys: unit map, dropped and unmapped spikes, clock restarts: notes when they changed. */
int run_note_openephys(run_state *s);

/* The model's phases (run_phases.c). */
/* The natural images shown while the background fit runs. */
int run_phase_recording(run_state *s);
/* The final fit from the background fit's model (or model.file), recorded. */
int run_phase_fit(run_state *s);
/* The MEIs and controls, their ids (closed-loop stimuli) in *ids. */
int run_phase_synthesis(run_state *s, int64_t **ids, int *count);
/* The closed-loop stimuli shown, closed_loop.repeats times each. */
int run_phase_closed_loop(run_state *s, const int64_t *stimuli, int count);
/* The background fit started (its first natural trial). */
int run_start_fit_worker(run_state *s);
/* The natural images into the table (a resume: those it `made` and checked) and recorded unless
 * `recorded` holds them; their shuffled schedule in *schedule. */
int run_record_natural_images(run_state *s, int64_t **schedule, int *count, const float *made,
                              const float *made_clips, const session_image_log *recorded);
/* The natural trials as the record holds them into s->data, and the start model in *sd. */
int run_load_recorded_data(run_state *s, session_dataset *sd);
/* Every closed-loop stimulus closed_loop.repeats times, shuffled from the seed; NULL: no memory. */
int64_t *run_closed_loop_order(run_state *s, const int64_t *stimuli, int count, int *total);

/* mei.kinds pattern (run_pattern.c). */
/* The synthesis' target-pattern images and controls recorded (each with its
 * pattern and target) and added to the table; their ids appended to ids. */
int run_patterns_add_images(run_state *s, int64_t *ids, int *count);
/* Stimulus `id` as pattern `pattern`'s image (control 0) or control (1),
 * its target over k neurons (a resume: from its stimulus record). */
int run_patterns_keep(run_state *s, int64_t pattern, int control, int64_t id,
                      const float *target, int k);
/* Per pattern the similarity of the recorded mean pattern (truth NULL) or
 * of the simulated cells' expected rates to the target, image and control,
 * and how many images came closer than their controls: evaluation records. */
int run_patterns_evaluate(run_state *s, stimulus_truth *truth);
void run_patterns_free(run_patterns *p);

/* The search phase (run_search.c), fresh (r NULL) or resumed (r: the earlier trials). */
struct resume_scan;
int run_search(run_state *s, const struct resume_scan *r);

/* The evaluation (run_evaluate.c). */
/* The recorded responses evaluated and, against the virtual rig, the ground truth. */
int run_phase_evaluation(run_state *s);
/* An evaluation record of one value (no interval). */
int run_record_value(run_state *s, int64_t neuron, const char *kind, double value);

/* Resume (run_resume.c). */
/* Drops from `order` one entry per earlier trial of its block (`closed` 0 recording, 1 closed
 * loop, 2 search): how many are left to show, -1 when out of memory. */
int run_resume_remaining(const struct resume_scan *r, int closed, int64_t *order, int count);

#endif
