/* acq_error.c: the acquisition library's one error helper and one growable
 * array (acquisition.h). */
#include "acquisition.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int acq_fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ACQ_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return 1;
}

int acq_fail_reject(char *err, int reason, const char *fmt, ...)
{
    if (err) {
        int n = snprintf(err, ACQ_ERR_SIZE, "%s: ", acq_reject_name(reason));
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, ACQ_ERR_SIZE - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return reason;
}

int acq_grow(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first)
{
    if (needed <= *capacity)
        return 0;
    size_t c = *capacity ? *capacity : (first ? first : 1);
    while (c < needed)
        c = c > SIZE_MAX / 2 ? needed : 2 * c;
    if (item_size && c > SIZE_MAX / item_size)
        return 1;
    void *array;
    memcpy(&array, items, sizeof array); /* `items` points at an object pointer of any type */
    size_t bytes = c * item_size;
    void *grown = realloc(array, bytes ? bytes : 1);
    if (!grown)
        return 1;
    memcpy(items, &grown, sizeof grown);
    *capacity = c;
    return 0;
}
