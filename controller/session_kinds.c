/* session_kinds.c: the closed loop's stimulus kinds (the MEI, its controls
 * and what mei.kinds adds) and the comparisons the evaluation makes between
 * them: one table that the run, its resume, the report and the record's
 * readers share (controller.h, SESSION_KIND_*). */
#include "controller.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[SESSION_KIND_COUNT] = {
    "mei",   "best_natural", "gabor", "rf", "masked", "surround_most", "surround_least",
    "least", "natural_least"};

const char *session_kind_name(int kind)
{
    return kind >= 0 && kind < SESSION_KIND_COUNT ? kind_names[kind] : NULL;
}

int session_kind_of(const char *name)
{
    for (int k = 0; k < SESSION_KIND_COUNT; k++)
        if (!strcmp(name, kind_names[k]))
            return k;
    return -1;
}

static const session_comparison comparisons[SESSION_COMPARISONS] = {
    {SESSION_KIND_MEI, SESSION_KIND_BEST_NATURAL},
    {SESSION_KIND_MEI, SESSION_KIND_GABOR},
    {SESSION_KIND_MEI, SESSION_KIND_RF},
    {SESSION_KIND_MASKED, SESSION_KIND_MEI},
    {SESSION_KIND_SURROUND_MOST, SESSION_KIND_MASKED},
    {SESSION_KIND_SURROUND_LEAST, SESSION_KIND_MASKED},
    {SESSION_KIND_LEAST, SESSION_KIND_NATURAL_LEAST},
};

const session_comparison *session_comparison_at(int i)
{
    assert(i >= 0 && i < SESSION_COMPARISONS);
    return &comparisons[i];
}

void session_comparison_name(const session_comparison *c, const char *what, char *out,
                             size_t size)
{
    const char *k = kind_names[c->kind], *n = kind_names[c->control];
    int mei = c->kind == SESSION_KIND_MEI;
    if (!strcmp(what, "median_ratio"))
        snprintf(out, size, "median_ratio_%s_over_%s", k, n);
    else if (!strcmp(what, "targets_compared"))
        mei ? snprintf(out, size, "targets_compared_%s", n)
            : snprintf(out, size, "targets_compared_%s_over_%s", k, n);
    else if (!strcmp(what, "targets_beats"))
        snprintf(out, size, "targets_%s_beats_%s", k, n);
    else
        snprintf(out, size, "targets_%s_below_%s", k, n);
}
