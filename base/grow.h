/* grow.h: the project's one growable array, header-only so that every
 * library (model, acquisition, the presenter, synthesis, the controller)
 * uses the same code without depending on another library.
 *
 * `items` points at the array's pointer (of any object type: T **), and
 * `capacity` says how many items it holds. */
#ifndef INCEPTION_GROW_H
#define INCEPTION_GROW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The capacity grow_array would choose: `capacity` (or `first`, or 1 when
 * empty) doubled until it holds `needed`. */
static inline size_t grow_capacity_for(size_t capacity, size_t needed, size_t first)
{
    size_t c = capacity ? capacity : (first ? first : 1);
    while (c < needed)
        c = c > SIZE_MAX / 2 ? needed : 2 * c;
    return c;
}

/* realloc *items to `count` items; 1 (and *items untouched) when the size
 * overflows or memory runs out. */
static inline int grow_resize(void *items, size_t count, size_t item_size)
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

/* Room for at least `needed` items (doubling, `first` the first capacity);
 * 0, or 1 with the array and capacity unchanged. */
static inline int grow_array(void *items, size_t *capacity, size_t needed, size_t item_size,
                             size_t first)
{
    if (needed <= *capacity)
        return 0;
    size_t c = grow_capacity_for(*capacity, needed, first);
    if (grow_resize(items, c, item_size))
        return 1;
    *capacity = c;
    return 0;
}

#endif
