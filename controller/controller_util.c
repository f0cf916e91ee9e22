/* controller_util.c: the controller library's one error helper (controller.h;
 * its growable arrays are base/grow.h's). */
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

