/* stimulus_error.c: the stimulus libraries' one error helper and one
 * growable array (stimulus_base.h). */
#include "stimulus_base.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stimulus_fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, STIMULUS_ERR_SIZE, fmt, ap);
        va_end(ap);
    }
    return 1;
}

