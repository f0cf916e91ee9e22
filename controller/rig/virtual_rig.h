/* virtual_rig.h: the virtual rig (controller/rig/), a stand-in for the
 * acquisition system and the animal, and `inception virtual-rig`'s loop
 * around it. It needs both acquisition/ (the publisher) and the simulated
 * populations of model/, hence its room in the controller library.
 *
 * The rig keeps its own clock, acq = offset + (1 + drift) · (display − start),
 * with the display clock CLOCK_MONOTONIC (the display runs on this machine).
 * For each stimulus onset it draws the population's Poisson counts, spreads
 * each cell's spikes uniformly over the bins lying wholly inside
 * [onset + latency, onset + latency + window) on its clock, and publishes
 * every bin as time passes, one sync edge per onset (after a fixed latency,
 * with jitter) and a heartbeat a second, with loss, reordering and a
 * publisher restart injected on request, and on request the sync edge or one
 * bin of every N-th trial dropped. It remembers what it generated, per
 * trial, for tests to compare with.
 *
 * Nothing here prints: a failure is 1 with a one-line reason in `err`
 * (CONTROLLER_ERR_SIZE bytes), and rig_run tells what happens on the way to
 * an event callback. */
#ifndef INCEPTION_VIRTUAL_RIG_H
#define INCEPTION_VIRTUAL_RIG_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "acquisition.h"
#include "model.h"


typedef struct rig_config {
    sim_config population;
    int64_t bin_ns, latency_ns, window_ns;
    int64_t clock_offset_ns;  /* the rig's clock at its start */
    double clock_drift;       /* rig ns per display ns, minus 1 */
    int64_t sync_latency_ns;  /* the sync edge after the onset flip */
    int64_t jitter_ns;        /* edges uniformly within ± this */
    int sync_line;
    double loss, reorder;     /* fractions of messages dropped, held back one message */
    uint64_t restart_after;   /* messages before one publisher restart; 0 never */
    int restart_gap;          /* messages lost while it restarts */
    /* Deterministic faults, for tests: trials numbered N, 2N, 3N, ... lose their
     * sync edge (drop_sync_every) or the last bin of their window
     * (drop_bin_every); 0 never. */
    int drop_sync_every, drop_bin_every;
    int counts_dtype;         /* ACQ_DTYPE_U16 or ACQ_DTYPE_F32 */
    uint64_t seed;
    /* Audio (docs/audio.md): the simulated auditory population (`auditory`,
     * its neurons and seed from `population`) answers the cochleagram each
     * onset carries (bands × frames) instead of the visual one an image. */
    int audio;
    auditory_config auditory;
} rig_config;

/* Ground-truth flags: what the rig did to a trial's data. */
#define RIG_LOST_BIN 1u    /* a bin holding its spikes was dropped */
#define RIG_LOST_SYNC 4u   /* its sync edge was dropped */
#define RIG_RESTART 16u    /* the publisher restarted while its spikes were out */

typedef struct virtual_rig virtual_rig;

void rig_config_default(rig_config *c);
int rig_create(virtual_rig **out, const rig_config *c, acq_publisher *pub, int64_t display_now,
               char *err);
void rig_destroy(virtual_rig *r);
/* A stimulus went on screen. `image` (height×width of the population) may be
 * NULL: then the image is drawn from the stimulus id (sim_natural_images).
 * Audio: `image` is the clip's cochleagram, required. */
int rig_onset(virtual_rig *r, const acq_onset *o, const float *image, char *err);
/* Publishes everything due by display time `display_now`; returns ns of
 * display time until the next bin is due. */
int64_t rig_tick(virtual_rig *r, int64_t display_now);
int rig_trials(const virtual_rig *r);          /* onsets taken */
int rig_trials_published(const virtual_rig *r); /* whose windows are fully out */
int rig_write_truth(const virtual_rig *r, const char *dir, char *err);

/* What the rig did, for its closing line. */
typedef struct rig_stats {
    int trials;            /* onsets taken */
    int affected;          /* trials with injected faults */
    uint64_t sent, dropped, reordered;
    int restarted;         /* the one publisher restart happened */
} rig_stats;
void rig_stats_get(const virtual_rig *r, rig_stats *s);

/* ---- `inception virtual-rig` (virtual_rig_run.c): the rig on its sockets
 * until told to stop. */

typedef struct rig_run_config {
    rig_config rig;
    acq_socket_config publish;  /* where counts go (bound) */
    acq_receiver_config onsets; /* the display's onsets (its topic is set to "onset") */
    int trials;                 /* stop once this many are fully published; 0 never */
    float duration;             /* stop after this many seconds; 0 never */
    const char *truth_dir;      /* NULL; else created, and rig_write_truth's files at the end */
} rig_run_config;

typedef enum rig_run_stage {
    RIG_RUN_READY,    /* the sockets are open and the rig made: the loop starts */
    RIG_RUN_PROGRESS, /* every 10 s: `trials` onsets taken so far */
    RIG_RUN_SKIPPED   /* an onset the rig could not take (`why`); its trial is skipped */
} rig_run_stage;

typedef struct rig_run_event {
    rig_run_stage stage;
    int trials;
    const char *why;
} rig_run_event;
typedef void (*rig_run_event_fn)(const rig_run_event *e, void *user);

typedef struct rig_run_result {
    rig_stats rig;
    acq_publisher_stats publisher; /* its CURVE clients accepted and refused */
} rig_run_result;

/* Publishes and takes onsets until c->trials are out, c->duration has passed
 * or *stop (a signal handler's flag; NULL: none) becomes non-zero, then
 * writes the ground truth; 0 on success. */
int rig_run(const rig_run_config *c, const volatile sig_atomic_t *stop,
            rig_run_event_fn on_event, void *user, rig_run_result *result, char *err);

#endif
