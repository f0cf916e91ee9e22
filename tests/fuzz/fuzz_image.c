/* Fuzz target: PNG or JPEG bytes from anywhere must decode or be refused,
 * never crash, leak or read out of bounds. libpng and libjpeg themselves are
 * not instrumented; the error handling around them (longjmp, cleanup) is. */
#include "model.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int height, width;
    float *pixels = NULL;
    char err[MODEL_ERR_SIZE];
    if (image_decode_gray(data, size, &height, &width, &pixels, err) == 0) {
        /* touch every pixel so an undersized buffer would be caught */
        volatile float sum = 0.0f;
        for (size_t i = 0; i < (size_t)height * (size_t)width; i++)
            sum += pixels[i];
        (void)sum;
        free(pixels);
    }
    return 0;
}
