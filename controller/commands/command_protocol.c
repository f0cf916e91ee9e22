/* command_protocol.c: `inception check-protocol FILE`: parse and check a
 * protocol, print every resolved setting with where it came from. */
#include "commands.h"
#include "controller.h"

#include <stdio.h>
#include <string.h>

static const char check_help[] =
    "usage: inception check-protocol FILE\n\n"
    "Read a protocol file, check it against the schema (unknown keys, types,\n"
    "ranges, files it names) and print every resolved setting with its source:\n"
    "the line it was given on, the default, or how it was derived (durations\n"
    "given in ms are rounded to whole frames). A bad file gives one line,\n"
    "FILE:LINE:COLUMN: message (hint: ...), and exit status 2.\n";

int command_check_protocol(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(check_help, stdout);
        return 0;
    }
    if (argc != 2 || !strncmp(argv[1], "--", 2)) {
        fprintf(stderr, "inception check-protocol: expected one protocol FILE (see --help)\n");
        return 2;
    }
    protocol *p;
    char err[CONTROLLER_ERR_SIZE];
    if (protocol_load(argv[1], &p, err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    printf("# %s: protocol '%s' is valid\n", argv[1], p->name);
    for (int i = 0; i < protocol_setting_count(); i++) {
        protocol_setting s;
        protocol_setting_get(p, i, &s);
        printf("%-32s %-28s # %s\n", s.key, s.value, s.source);
    }
    protocol_destroy(p);
    return 0;
}
