/* commands.h: the one header of the `inception` executable (controller/commands/):
 * its subcommands and the small option parser they share, population.npy,
 * the virtual rig and the JSON writer. Private to the executable and its
 * tests; the library's header is controller.h. */
#ifndef INCEPTION_COMMANDS_H
#define INCEPTION_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "acquisition.h"
#include "model.h"

/* ---- Subcommands and their options (cli.c) ---- */

/* Options are "--name value" or "--name=value"; flags are "--name".
 * Each command declares what it accepts, so an unknown or misspelled option
 * is an error naming it, not silently ignored. */
typedef struct cli_option {
    const char *name;  /* without the leading dashes */
    int takes_value;
    const char *value; /* set by cli_parse; "" for a flag that is present */
} cli_option;

/* Returns 0, or 1 after printing a one-line reason to stderr. */
int cli_parse(const char *command, int argc, char **argv, cli_option *options, int count);
const char *cli_get(const cli_option *options, int count, const char *name);
/* Typed getters: absent options keep *out; bad values print a reason and fail. */
int cli_get_int(const cli_option *options, int count, const char *name, int min, int max,
                int *out);
int cli_get_float(const cli_option *options, int count, const char *name, float min,
                  float max, float *out);
int cli_get_u64(const cli_option *options, int count, const char *name, uint64_t *out);
int cli_wants_help(int argc, char **argv);

int command_simulate(int argc, char **argv);
int command_fit(int argc, char **argv);
int command_evaluate(int argc, char **argv);
int command_check_protocol(int argc, char **argv);
int command_record_dump(int argc, char **argv);
int command_export(int argc, char **argv);
int command_present(int argc, char **argv);
int command_calibrate(int argc, char **argv);
int command_virtual_rig(int argc, char **argv);
int command_acquire(int argc, char **argv);
int command_mei(int argc, char **argv);
int command_run(int argc, char **argv);
int command_resume(int argc, char **argv);
int command_report(int argc, char **argv);
int command_import(int argc, char **argv);
int command_replay(int argc, char **argv);

/* population.npy: the simulated population's config beside a simulated
 * dataset (population_file.c), so the ground truth can be rebuilt. */
int population_config_write(const char *dir, const sim_config *c, char *err);
int population_config_read(const char *dir, sim_config *c, char *err);
/* The same from the file's bytes (the fuzz target's entry point). */
int population_config_parse(const unsigned char *bytes, size_t size, sim_config *c, char *err);

/* ---- The virtual rig (virtual_rig.c): a stand-in for the acquisition system and the animal.
 * (It needs both acquisition/ and the simulated population in model/.)
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
void rig_summary(const virtual_rig *r, char *text, size_t size);

/* ---- JSON: the one way of writing JSON (manifests), json_out.h in the library. */
#include "json_out.h"

#endif
