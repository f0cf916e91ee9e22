/* run_internal.h: the pieces of `inception run` (run.c) that live in their
 * own files. Private to the controller library. */
#ifndef INCEPTION_RUN_INTERNAL_H
#define INCEPTION_RUN_INTERNAL_H

#include "acquisition.h"
#include "controller.h"
#include "model.h"

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

#endif
