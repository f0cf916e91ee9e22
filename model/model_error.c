/* model_error.c: the model library's one error helper and its one growable
 * array (model.h). */
#include "model.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MODEL_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return 1;
}

void model_error_in_file(char *err, const char *path)
{
    if (!err)
        return;
    char reason[MODEL_ERR_SIZE];
    memcpy(reason, err, MODEL_ERR_SIZE);
    reason[MODEL_ERR_SIZE - 1] = '\0';
    size_t n = strlen(path);
    const char *cut = n > 120 ? "..." : "";
    snprintf(err, MODEL_ERR_SIZE, "%s%s: %.120s", cut, n > 120 ? path + n - 117 : path, reason);
}

int model_fail_in_file(char *err, const char *path, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MODEL_ERR_SIZE, fmt, ap);
        va_end(ap);
        model_error_in_file(err, path);
    }
    return 1;
}

int model_grow(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first)
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
