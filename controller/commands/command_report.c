/* command_report.c: `inception report DIR`: the session's HTML report. */
#include "commands.h"
#include "controller.h"

#include <stdio.h>
#include <string.h>

static const char report_help[] =
    "usage: inception report DIR\n\n"
    "Read the session record DIR/" RECORD_FILE_NAME " and write DIR/" REPORT_DIR_NAME
    "/index.html with PNG\n"
    "figures next to it: the model's per-neuron test correlations, the MEI gallery\n"
    "with controls, recorded MEI-vs-control responses with paired statistics,\n"
    "stimulus timing, stream health and clock alignment. The page needs no network\n"
    "and no JavaScript. Sections the record lacks (a session cut short) say so.\n";

int command_report(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(report_help, stdout);
        return 0;
    }
    if (argc < 2 || !strncmp(argv[1], "--", 2)) {
        fprintf(stderr, "inception report: expected a session DIR (see --help)\n");
        return 2;
    }
    if (cli_parse("report", argc - 1, argv + 1, NULL, 0))
        return 2;
    fprintf(stderr, "inception report: reading %s/%s\n", argv[1], RECORD_FILE_NAME);
    report_summary summary;
    char err[CONTROLLER_ERR_SIZE];
    if (report_write(argv[1], &summary, err)) {
        fprintf(stderr, "inception report: %s\n", err);
        return 1;
    }
    printf("%s/%s/index.html: %llu records (%llu damaged stretches skipped), %d figures, "
           "%d target neurons, %d sections missing\n",
           argv[1], REPORT_DIR_NAME, (unsigned long long)summary.records,
           (unsigned long long)summary.damaged, summary.figures, summary.targets,
           summary.missing);
    return 0;
}
