/* controller_util.h: what every room of the controller library shares: its
 * error helper (controller_util.c) and the project's growable arrays (base/grow.h). */
#ifndef INCEPTION_CONTROLLER_UTIL_H
#define INCEPTION_CONTROLLER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROLLER_ERR_SIZE 256

/* ------------------------------------------------------------------------
 * The library's one error helper (controller_util.c), the project's growable array
 * ------------------------------------------------------------------------ */

/* Writes the one-line reason into `err` (CONTROLLER_ERR_SIZE bytes; NULL
 * takes none) and returns 1, so that a failure is `return controller_fail(err, ...)`. */
int controller_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Growable arrays: grow_array, and for parallel arrays that share one
 * capacity grow_capacity_for and grow_resize (base/grow.h, the project's one). */
#include "grow.h"

#endif
