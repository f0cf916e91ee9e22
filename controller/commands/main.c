/* main.c: the `inception` executable: dispatch to a subcommand. */
#include "commands.h"
#include "controller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"simulate", command_simulate, "write a dataset recorded from the built-in simulated population"},
    {"fit", command_fit, "fit a predictive model (CNN, random-core control or LNP) to a dataset"},
    {"evaluate", command_evaluate, "evaluate a fitted model on a dataset"},
    {"check-protocol", command_check_protocol, "check a protocol file and show every resolved setting"},
    {"record-dump", command_record_dump, "list a session record's contents as text"},
    {"export", command_export, "export a model's predictions for an image set as co-training targets"},
    {"present", command_present, "show images on a schedule, print the event log and timing"},
    {"calibrate", command_calibrate, "step through gray levels for a photometer, write a gamma file"},
    {"virtual-rig", command_virtual_rig, "stand in for the acquisition system and the animal"},
    {"acquire", command_acquire, "receive and align a spike-count stream into trials × neurons"},
    {"run", command_run, "run the inception loop a protocol describes (record, fit, MEIs, closed loop)"},
    {"resume", command_resume, "continue a session that `inception run` did not finish (killed, crashed)"},
    {"mei", command_mei, "synthesize most exciting inputs and their control stimuli"},
    {"search", command_search, "a model-free search for most exciting images on the simulated population"},
    {"report", command_report, "write a session's HTML report with figures and statistics"},
    {"import", command_import, "turn a dataset (compact or Sensorium layout) into a session record"},
    {"replay", command_replay, "re-fit, re-synthesize and report a recorded session, or re-publish its stream"},
};

/* OpenMP's workers wait passively (OMP_WAIT_POLICY=passive, unless the
 * environment chose a policy) in the commands whose OpenMP work shares the
 * machine with work that must not wait: run and resume (the presenter's
 * frames, the receiver) and mei (docs/mei.md: with spinning workers a
 * pattern ran at a fifth of its one-thread rate, loaded). libgomp reads its
 * environment once, as it loads, before main: a setenv alone would reach
 * only child processes. So the variable goes into the environment and the
 * executable starts again in its place (execv: the same process, arguments
 * and open files); should that fail, it goes on, saying so. */
static void openmp_passive(char **argv)
{
    static const char *const commands_wanting[] = {"run", "resume", "mei"};
    int wanted = 0;
    for (size_t i = 0; i < sizeof commands_wanting / sizeof commands_wanting[0]; i++)
        wanted |= !strcmp(argv[1], commands_wanting[i]);
    if (!wanted || getenv("OMP_WAIT_POLICY"))
        return;
    setenv("OMP_WAIT_POLICY", "passive", 0);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "inception: could not start again with OMP_WAIT_POLICY=passive (%s): "
                    "OpenMP's workers spin a while before they wait\n", strerror(errno));
}

static void usage(FILE *to)
{
    fprintf(to, "usage: inception COMMAND [OPTIONS]\n\n"
                "Closed-loop neurophysiology experiments: record, fit a predictive model,\n"
                "synthesize most exciting inputs, show them back.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(to, "\n`inception COMMAND --help` describes a command's options; "
                "`inception --version` the build.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("%s\n", inception_version_string());
        return 0;
    }
    openmp_passive(argv);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "inception: unknown command '%s' (try inception --help)\n", argv[1]);
    return 2;
}
