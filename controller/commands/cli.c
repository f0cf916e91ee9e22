/* cli.c: the option parser shared by the subcommands. */
#include "commands.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static cli_option *find_option(cli_option *options, int count, const char *name, size_t len)
{
    for (int i = 0; i < count; i++)
        if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len))
            return &options[i];
    return NULL;
}

int cli_parse(const char *command, int argc, char **argv, cli_option *options, int count)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "inception %s: unexpected argument '%s' (see --help)\n", command, arg);
            return 1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_option *o = find_option(options, count, name, len);
        if (!o) {
            fprintf(stderr, "inception %s: unknown option '%.*s' (see --help)\n", command,
                    (int)len + 2, arg);
            return 1;
        }
        if (!o->takes_value) {
            if (eq) {
                fprintf(stderr, "inception %s: --%s takes no value\n", command, o->name);
                return 1;
            }
            o->value = "";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "inception %s: --%s needs a value\n", command, o->name);
            return 1;
        }
    }
    return 0;
}

const char *cli_get(const cli_option *options, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(options[i].name, name))
            return options[i].value;
    return NULL;
}

int cli_get_int(const cli_option *options, int count, const char *name, int min, int max,
                int *out)
{
    const char *v = cli_get(options, count, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) {
        fprintf(stderr, "inception: --%s must be an integer in %d..%d, not '%s'\n", name, min,
                max, v);
        return 1;
    }
    *out = (int)x;
    return 0;
}

int cli_get_baseline(const cli_option *options, int count, const char *command, sim_config *c)
{
    c->baseline_share = 1.0f;
    if (cli_get_float(options, count, "baseline-rate", 0, SIM_BASELINE_RATE_MAX,
                      &c->baseline_rate) ||
        cli_get_float(options, count, "baseline-share", 0, 1, &c->baseline_share))
        return 1;
    if (c->baseline_rate > 0.0f)
        return 0;
    if (cli_get(options, count, "baseline-share")) {
        fprintf(stderr, "inception %s: --baseline-share needs a --baseline-rate above 0\n",
                command);
        return 1;
    }
    c->baseline_share = 0.0f; /* no baseline: population.npy says none */
    return 0;
}

int cli_get_float(const cli_option *options, int count, const char *name, float min,
                  float max, float *out)
{
    const char *v = cli_get(options, count, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < min || x > max) {
        fprintf(stderr, "inception: --%s must be a number in %g..%g, not '%s'\n", name, min,
                max, v);
        return 1;
    }
    *out = (float)x;
    return 0;
}

int cli_get_u64(const cli_option *options, int count, const char *name, uint64_t *out)
{
    const char *v = cli_get(options, count, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "inception: --%s must be a non-negative integer, not '%s'\n", name, v);
        return 1;
    }
    *out = (uint64_t)x;
    return 0;
}
