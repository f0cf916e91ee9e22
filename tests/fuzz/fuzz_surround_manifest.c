/* Fuzz target: any bytes as the manifest.json of an `inception mei --kind
 * surround` folder that a surround search reads (mei_search_centres_parse):
 * parsed into centres or refused with a reason naming the file, never a
 * crash. Parsed centres hold what the search relies on: each neuron once,
 * its MEI and centre inside the folder's 8 images, a finite mask of
 * positive radius. */
#include "controller.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { IMAGES = 8 };

static int centre_ok(const mei_search_centre *c)
{
    int in = c->mei >= 0 && c->mei < IMAGES && c->centre >= 0 && c->centre < IMAGES &&
             c->surround_most >= -1 && c->surround_most < IMAGES &&
             c->surround_least >= -1 && c->surround_least < IMAGES && c->neuron >= 0;
    return in && isfinite(c->mask.x) && isfinite(c->mask.y) && c->mask.radius > 0.0f &&
           isfinite(c->mask.radius);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mei_search_centre *list;
    int count;
    float mean;
    char err[CONTROLLER_ERR_SIZE];
    if (mei_search_centres_parse((const char *)data, size, "fuzz.json", 36, 64, IMAGES, &list,
                                 &count, &mean, err) == 0) {
        if (count < 1 || !(isnan(mean) || isfinite(mean)))
            __builtin_trap();
        for (int i = 0; i < count; i++) {
            if (!centre_ok(&list[i]))
                __builtin_trap();
            for (int k = 0; k < i; k++)
                if (list[k].neuron == list[i].neuron)
                    __builtin_trap();
        }
        free(list);
    } else if (!memchr(err, '\0', CONTROLLER_ERR_SIZE) || strncmp(err, "fuzz.json", 9) ||
               list != NULL) {
        __builtin_trap(); /* every refusal names the file, and nothing is left allocated */
    }
    return 0;
}
