/* fuzz_curve_clients.c: the CURVE client allow-list parser (acq_zap's file).
 * Any bytes: either keys whose count matches what was parsed, or an error
 * naming the input, never a crash. */
#include "acquisition.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *keys = NULL;
    size_t count = 0;
    char err[ACQ_ERR_SIZE];
    if (acq_curve_allow_parse((const char *)data, size, "fuzz", &keys, &count, err) == 0) {
        if (count == 0 || !keys)
            abort();
        free(keys);
    } else if (keys || count || strncmp(err, "fuzz", 4) != 0) {
        abort();
    }
    return 0;
}
