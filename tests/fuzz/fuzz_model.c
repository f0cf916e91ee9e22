/* Fuzz target: a model file from anywhere must load or be refused, never
 * crash or read out of bounds. */
#include "model.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model *m = NULL;
    char err[MODEL_ERR_SIZE];
    if (model_load_bytes(&m, data, size, err) == 0)
        model_destroy(m);
    return 0;
}
