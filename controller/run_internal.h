/* run_internal.h: the pieces of `inception run` (run.c) that live in their
 * own files. Private to the controller library. */
#ifndef INCEPTION_RUN_INTERNAL_H
#define INCEPTION_RUN_INTERNAL_H

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

int fit_worker_create(fit_worker **out, const model_config *mc, const fit_options *fo,
                      int round_epochs, char *err);
/* Copies one completed trial in (tier TIER_TRAIN/VALIDATION/TEST). */
int fit_worker_add(fit_worker *w, const float *image, const float *counts, int tier,
                   int64_t image_id);
/* Rounds finished so far and the latest mean validation correlation (NaN before). */
void fit_worker_status(fit_worker *w, int *rounds, double *validation_corr);
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

/* The run's display (run_display.c): this computer's presenter, or with
 * display.endpoint a remote one (`inception present --serve`), both behind
 * `ops`; event times come on this computer's clock either way. */
typedef struct run_display {
    presenter *local;
    display_client *remote;
    display_ops ops;
    int block_running; /* started, its BLOCK_END not yet seen: closing aborts it */
    char status[512]; /* "display: ...", for the terminal and the record */
} run_display;

int run_display_open(run_display *d, const protocol *p, char *err);
/* A remote display's clock offset measured again (between blocks: clocks
 * drift apart); `note` describes it ("" for the local presenter). */
int run_display_resync(run_display *d, char *note, size_t size, char *err);
/* Safe on a display never opened. A block still running (the run failed or
 * was interrupted mid-block) is aborted first, so the display stops
 * presenting instead of waiting for trials that will never come. */
void run_display_close(run_display *d);

#endif
