/* session_kinds.c: what is run-specific about the stimulus kinds (their names
 * are stimulus/stimulus_kind.c's): which kinds a closed loop shows, and the
 * comparisons the evaluation makes between them: one table that the run, its
 * resume, the report and the record's readers share (session/session.h). */
#include "session.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const int run_kinds[SESSION_RUN_KINDS] = {
    STIMULUS_KIND_MEI,           STIMULUS_KIND_BEST_NATURAL,   STIMULUS_KIND_GABOR,
    STIMULUS_KIND_RF,            STIMULUS_KIND_TONE,           STIMULUS_KIND_MASKED,
    STIMULUS_KIND_SURROUND_MOST, STIMULUS_KIND_SURROUND_LEAST, STIMULUS_KIND_LEAST,
    STIMULUS_KIND_LEAST_NATURAL};

int session_run_kind_at(int i)
{
    assert(i >= 0 && i < SESSION_RUN_KINDS);
    return run_kinds[i];
}

static const session_comparison comparisons[SESSION_COMPARISONS] = {
    {STIMULUS_KIND_MEI, STIMULUS_KIND_BEST_NATURAL},
    {STIMULUS_KIND_MEI, STIMULUS_KIND_GABOR},
    {STIMULUS_KIND_MEI, STIMULUS_KIND_RF},
    {STIMULUS_KIND_MEI, STIMULUS_KIND_TONE},
    {STIMULUS_KIND_MASKED, STIMULUS_KIND_MEI},
    {STIMULUS_KIND_SURROUND_MOST, STIMULUS_KIND_MASKED},
    {STIMULUS_KIND_SURROUND_LEAST, STIMULUS_KIND_MASKED},
    {STIMULUS_KIND_LEAST, STIMULUS_KIND_LEAST_NATURAL},
};

const session_comparison *session_comparison_at(int i)
{
    assert(i >= 0 && i < SESSION_COMPARISONS);
    return &comparisons[i];
}

void session_comparison_name(const session_comparison *c, const char *what, char *out,
                             size_t size)
{
    const char *k = stimulus_kind_name(c->kind), *n = stimulus_kind_name(c->control);
    assert(k && n);
    int mei = c->kind == STIMULUS_KIND_MEI;
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
