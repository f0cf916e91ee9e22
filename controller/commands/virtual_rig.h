/* virtual_rig.h: a stand-in for the acquisition system and the animal.
 * Private to the `inception` executable (it needs both acquisition/ and the
 * simulated population in model/).
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
 * trial, for tests to compare with. */
#ifndef INCEPTION_VIRTUAL_RIG_H
#define INCEPTION_VIRTUAL_RIG_H

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
 * NULL: then the image is drawn from the stimulus id (sim_natural_images). */
int rig_onset(virtual_rig *r, const acq_onset *o, const float *image, char *err);
/* Publishes everything due by display time `display_now`; returns ns of
 * display time until the next bin is due. */
int64_t rig_tick(virtual_rig *r, int64_t display_now);
int rig_trials(const virtual_rig *r);          /* onsets taken */
int rig_trials_published(const virtual_rig *r); /* whose windows are fully out */
int rig_write_truth(const virtual_rig *r, const char *dir, char *err);
void rig_summary(const virtual_rig *r, char *text, size_t size);

#endif
