/* acquire.h: `inception acquire`'s work as a library (controller/acquire/):
 * receive a spike-count stream (acquisition/WIRE.md, or the Open Ephys GUI's
 * ZMQ Interface) and the display's onsets, align them (acquisition/align.c)
 * and write the trial × neuron matrix:
 *
 *   responses.npy   trials × neurons float32, each trial's counts summed over
 *                   its response window
 *   trials.npy      trials × 6 int64: trial, stimulus id, display onset ns,
 *                   acquisition onset ns, sync edge ns or 0, ACQ_TRIAL_* flags
 *   unit_map.json   Open Ephys only: which column counts which unit
 *
 * Nothing here prints: what happens on the way is told to an event callback,
 * the counters come back in an acquire_result, and a failure is 1 with a
 * one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). */
#ifndef INCEPTION_ACQUIRE_H
#define INCEPTION_ACQUIRE_H

#include <signal.h>

#include "acquisition.h"

typedef struct acquire_config {
    const char *out_dir;           /* created if missing */
    acq_receiver_config data;      /* the count stream */
    acq_receiver_config onsets;    /* the display's onsets (its topic is set to "onset") */
    acq_align_config align;        /* its history is raised to hold two windows and 2 s */
    int trials;                    /* stop after this many; 0: at the time-out or a stop */
    float timeout;                 /* seconds */
} acquire_config;

typedef enum acquire_stage {
    ACQUIRE_READY,     /* both sockets open, the receiving about to start */
    ACQUIRE_TRIALS,    /* every 50th trial taken: `trials` so far, `flagged` of them */
    ACQUIRE_SILENT,    /* nothing from the data stream for 5 s */
    ACQUIRE_BACK,      /* the data stream is back after a silence */
    ACQUIRE_TIMED_OUT  /* the time-out (`seconds`) passed; the pending trials are closed */
} acquire_stage;

typedef struct acquire_event {
    acquire_stage stage;
    int trials, flagged;
    double seconds;
} acquire_event;
typedef void (*acquire_event_fn)(const acquire_event *e, void *user);

typedef struct acquire_result {
    int trials, flagged;
    int flagged_late;       /* trials flagged by a span of possible loss after they completed */
    acq_stats data, onsets; /* the two receivers' counters at the end */
    acq_clock_fit clock;    /* the aligner's clock fit at the end */
} acquire_result;

/* Receives until c->trials trials are complete, the time-out passes or *stop
 * (a signal handler's flag; NULL: none) becomes non-zero, then writes the
 * files into c->out_dir; 0 on success. */
int acquire_run(const acquire_config *c, const volatile sig_atomic_t *stop,
                acquire_event_fn on_event, void *user, acquire_result *result, char *err);

#endif
