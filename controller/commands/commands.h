/* commands.h: the one header of the `inception` executable (controller/commands/):
 * its subcommands and the small option parser they share, population.npy
 * and the JSON writer. Private to the executable and its
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
/* --baseline-rate and --baseline-share (docs/ground-truth.md, "Baseline
 * rates") into a population's config, as `simulate` and `virtual-rig` take
 * them: the share defaults to 1, is refused without a rate above 0 and is 0
 * when there is none (the population a seed made before). */
int cli_get_baseline(const cli_option *options, int count, const char *command, sim_config *c);
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
int command_search(int argc, char **argv);

/* ---- Shared output ---- */

/* The model's test FEVE as run, resume and replay print it (command_run.c):
 * the mean with its count, the correlation to average, the median, and a
 * line on the neurons below -1 when there are any. */
void command_print_test_feve(const metrics_feve_summary *feve, double corr_mean);

/* ---- JSON: the one way of writing JSON (manifests), json_out.h in the library. */
#include "json_out.h"

#endif
