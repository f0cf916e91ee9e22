/* Fuzz target: any bytes as a session record rebuild a dataset or fail with
 * a reason, never a crash, a hang or a read out of bounds. A rebuilt dataset
 * must be consistent: every row's tier a TIER_* code, every count read.
 * Seeds: the record corpus plus an imported session and a record whose
 * natural stimulus record of image 5 is damaged, with hashes and without
 * (corpus/session_data, written by tests/test_session_data.c): the repair path. */
#include "controller.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    session_dataset s;
    char err[CONTROLLER_ERR_SIZE];
    if (session_dataset_parse(data, size, &s, err) == 0) {
        double sum = 0;
        for (int t = 0; t < s.data.trials; t++) {
            if (s.data.tiers[t] > TIER_NONE)
                abort();
            for (int n = 0; n < s.data.neurons; n++)
                sum += s.data.responses[(size_t)t * (size_t)s.data.neurons + (size_t)n];
        }
        (void)sum;
        session_dataset_free(&s);
    }
    return 0;
}
