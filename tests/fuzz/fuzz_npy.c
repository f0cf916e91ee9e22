/* Fuzz target: bytes from anywhere must parse as an NPY array or be refused,
 * never crash or read out of bounds. */
#include "model.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    npy_array a;
    char err[MODEL_ERR_SIZE];
    if (npy_parse(data, size, &a, err) == 0) {
        /* What parsed must describe exactly the bytes given; touching every
         * data byte lets ASan catch a short allocation. */
        volatile unsigned char sink = 0;
        size_t nbytes = a.count * a.itemsize;
        for (size_t i = 0; i < nbytes; i++)
            sink ^= ((const unsigned char *)a.data)[i];
        (void)sink;
        if (nbytes > size || a.ndim < 0 || a.ndim > NPY_MAX_DIMS)
            __builtin_trap();
        npy_free(&a);
    } else if (memchr(err, '\0', MODEL_ERR_SIZE) == NULL) {
        __builtin_trap(); /* every refusal leaves a terminated reason */
    }
    return 0;
}
