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

