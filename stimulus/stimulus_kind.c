/* stimulus_kind.c: the one table of stimulus kinds (stimulus_base.h). */
#include "stimulus_base.h"

#include <string.h>

static const struct {
    const char *name, *title;
} kinds[STIMULUS_KIND_COUNT] = {
    [STIMULUS_KIND_MEI] = {STIMULUS_KIND_NAME_MEI, "MEI"},
    [STIMULUS_KIND_BEST_NATURAL] = {STIMULUS_KIND_NAME_BEST_NATURAL, "best natural image"},
    [STIMULUS_KIND_GABOR] = {STIMULUS_KIND_NAME_GABOR, "matched Gabor"},
    [STIMULUS_KIND_RF] = {STIMULUS_KIND_NAME_RF, "RF stimulus"},
    [STIMULUS_KIND_LEAST] = {STIMULUS_KIND_NAME_LEAST, "least exciting input"},
    [STIMULUS_KIND_LEAST_NATURAL] = {STIMULUS_KIND_NAME_LEAST_NATURAL,
                                     "least exciting natural image"},
    [STIMULUS_KIND_NATURAL] = {STIMULUS_KIND_NAME_NATURAL, "natural image"},
    [STIMULUS_KIND_DIVERSE] = {STIMULUS_KIND_NAME_DIVERSE, "diverse MEI"},
    [STIMULUS_KIND_MASKED] = {STIMULUS_KIND_NAME_MASKED, "masked MEI"},
    [STIMULUS_KIND_SURROUND] = {STIMULUS_KIND_NAME_SURROUND, "MEI with a surround"},
    [STIMULUS_KIND_SURROUND_MOST] = {STIMULUS_KIND_NAME_SURROUND_MOST,
                                     "masked MEI, most exciting surround"},
    [STIMULUS_KIND_SURROUND_LEAST] = {STIMULUS_KIND_NAME_SURROUND_LEAST,
                                      "masked MEI, least exciting surround"},
    [STIMULUS_KIND_TONE] = {STIMULUS_KIND_NAME_TONE, "pure tone"},
    [STIMULUS_KIND_SEARCH] = {STIMULUS_KIND_NAME_SEARCH, "search image"},
    [STIMULUS_KIND_PATTERN] = {STIMULUS_KIND_NAME_PATTERN, "target-pattern image"},
    [STIMULUS_KIND_PATTERN_NATURAL] = {STIMULUS_KIND_NAME_PATTERN_NATURAL,
                                       "closest natural image to a target pattern"},
};

const char *stimulus_kind_name(int kind)
{
    return kind >= 0 && kind < STIMULUS_KIND_COUNT ? kinds[kind].name : NULL;
}

const char *stimulus_kind_title(int kind)
{
    return kind >= 0 && kind < STIMULUS_KIND_COUNT ? kinds[kind].title : NULL;
}

int stimulus_kind_parse(const char *name)
{
    for (int k = 0; name && k < STIMULUS_KIND_COUNT; k++)
        if (!strcmp(name, kinds[k].name))
            return k;
    return -1;
}
