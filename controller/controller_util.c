/* controller_util.c: the controller library's one error helper and its one
 * growable array (controller.h). */
#include "controller_util.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int controller_fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, CONTROLLER_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return 1;
}

size_t controller_capacity_for(size_t capacity, size_t needed, size_t first)
{
    size_t c = capacity ? capacity : (first ? first : 1);
    while (c < needed)
        c = c > SIZE_MAX / 2 ? needed : 2 * c;
    return c;
}

int controller_resize(void *items, size_t count, size_t item_size)
{
    if (item_size && count > SIZE_MAX / item_size)
        return 1;
    void *array;
    memcpy(&array, items, sizeof array); /* `items` points at an object pointer of any type */
    size_t bytes = count * item_size;
    void *grown = realloc(array, bytes ? bytes : 1);
    if (!grown)
        return 1;
    memcpy(items, &grown, sizeof grown);
    return 0;
}

int controller_grow(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first)
{
    if (needed <= *capacity)
        return 0;
    size_t c = controller_capacity_for(*capacity, needed, first);
    if (controller_resize(items, c, item_size))
        return 1;
    *capacity = c;
    return 0;
}
