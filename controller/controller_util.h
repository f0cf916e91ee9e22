/* controller_util.h: what every room of the controller library shares: its
 * error helper and its growable arrays (controller_util.c). */
#ifndef INCEPTION_CONTROLLER_UTIL_H
#define INCEPTION_CONTROLLER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROLLER_ERR_SIZE 256

/* ------------------------------------------------------------------------
 * The library's one error helper and one growable array (controller_util.c)
 * ------------------------------------------------------------------------ */

/* Writes the one-line reason into `err` (CONTROLLER_ERR_SIZE bytes; NULL
 * takes none) and returns 1, so that a failure is `return controller_fail(err, ...)`. */
int controller_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Growable arrays: `items` is the address of the array's pointer (of any
 * object type), `capacity` how many items it holds. controller_grow makes
 * room for `needed` items, doubling the capacity from `first`; 0 on success,
 * 1 when out of memory or when the size would overflow, the array and its
 * capacity then as they were. For parallel arrays that share one capacity:
 * controller_capacity_for gives the capacity controller_grow would choose,
 * and controller_resize reallocates one array to it (the same contract). */
int controller_grow(void *items, size_t *capacity, size_t needed, size_t item_size, size_t first);
size_t controller_capacity_for(size_t capacity, size_t needed, size_t first);
int controller_resize(void *items, size_t count, size_t item_size);

#endif
