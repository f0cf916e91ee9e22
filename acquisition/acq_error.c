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

