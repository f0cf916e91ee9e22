/* bench_protocol.c: protocol parsing against crafted nesting. A protocol
 * with 100,000 nested brackets (and one of 100,000 nested block sequences)
 * must be refused within DEPTH_BOUND_S: libyaml's loader took over a minute
 * on it before the depth limit (protocol.c, check_depth). Also the time of
 * protocols/walker2019.yaml for scale. `meson compile -C build
 * bench-protocol`; exits 1 when a bound is missed. Argument: the source root. */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_BOUND_S 0.5
#define LEVELS 100000

static double parse_seconds(const char *text, size_t size, int *refused, char *err)
{
    protocol *p;
    uint64_t t0 = record_monotonic_ns();
    *refused = protocol_parse(text, size, "crafted", NULL, &p, err);
    double seconds = (double)(record_monotonic_ns() - t0) * 1e-9;
    protocol_destroy(p);
    return seconds;
}

static int crafted(const char *what, const char *head, const char *open, const char *close,
                   const char *tail)
{
    size_t o = strlen(open), c = strlen(close), h = strlen(head);
    size_t size = h + LEVELS * (o + c) + strlen(tail);
    char *text = malloc(size + 1), *at = text;
    if (!text)
        return 1;
    memcpy(at, head, h);
    at += h;
    for (int i = 0; i < LEVELS; i++, at += o)
        memcpy(at, open, o);
    for (int i = 0; i < LEVELS; i++, at += c)
        memcpy(at, close, c);
    strcpy(at, tail);
    char err[CONTROLLER_ERR_SIZE];
    int refused;
    double s = parse_seconds(text, size, &refused, err);
    int ok = refused && strstr(err, "nested deeper") && s <= DEPTH_BOUND_S;
    printf("%d nested %s: refused in %.3f s (bound %.1f s): %s\n  %s\n", LEVELS, what, s,
           DEPTH_BOUND_S, ok ? "ok" : "FAILED", err);
    free(text);
    return !ok;
}

int main(int argc, char **argv)
{
    int failed = crafted("flow sequences", "name: [", "[", "]", "]\n") +
                 crafted("block sequences", "name:\n  ", "- ", "", "x\n");
    char path[4096], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/protocols/walker2019.yaml", argc > 1 ? argv[1] : ".");
    protocol *p;
    uint64_t t0 = record_monotonic_ns();
    int status = protocol_load(path, &p, err);
    printf("protocols/walker2019.yaml: %s in %.3f ms\n", status ? err : "parsed",
           (double)(record_monotonic_ns() - t0) * 1e-6);
    protocol_destroy(p);
    return failed || status;
}
