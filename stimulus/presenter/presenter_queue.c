/* presenter_queue.c: the bounded ring through which requests reach the
 * render thread and events come back. A mutex rather than a lock-free ring:
 * the render thread holds it for a copy of one item, far below a frame, and
 * it inherits priority (ring_init). */
#include "presenter_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ring_init(presenter_ring *r, int capacity, size_t item_size)
{
    memset(r, 0, sizeof *r);
    r->items = calloc((size_t)capacity, item_size);
    if (!r->items)
        return 1;
    r->item_size = item_size;
    r->capacity = capacity;
    /* Priority inheritance: the render thread may run at real-time priority
     * (presenter_config.realtime_priority) while the controller's thread that
     * holds the lock is an ordinary one; without it a busy machine could
     * preempt that holder and leave the render thread waiting past its flip. */
    pthread_mutexattr_t mattr;
    pthread_mutexattr_init(&mattr);
    pthread_mutexattr_setprotocol(&mattr, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&r->lock, &mattr);
    pthread_mutexattr_destroy(&mattr);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->nonempty, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

void ring_free(presenter_ring *r)
{
    if (!r->items)
        return;
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->nonempty);
    free(r->items);
    r->items = NULL;
}

int ring_push(presenter_ring *r, const void *item)
{
    pthread_mutex_lock(&r->lock);
    int full = r->count == r->capacity;
    if (!full) {
        int tail = (r->head + r->count) % r->capacity;
        memcpy(r->items + (size_t)tail * r->item_size, item, r->item_size);
        r->count++;
        pthread_cond_signal(&r->nonempty);
    }
    pthread_mutex_unlock(&r->lock);
    return full;
}

static void ring_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int ring_pop(presenter_ring *r, void *item, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0)
        ring_deadline(&deadline, timeout_ms);
    pthread_mutex_lock(&r->lock);
    while (r->count == 0 && timeout_ms != 0) {
        int rc = timeout_ms < 0 ? pthread_cond_wait(&r->nonempty, &r->lock)
                                : pthread_cond_timedwait(&r->nonempty, &r->lock, &deadline);
        if (rc == ETIMEDOUT)
            break;
    }
    int got = r->count > 0;
    if (got) {
        memcpy(item, r->items + (size_t)r->head * r->item_size, r->item_size);
        r->head = (r->head + 1) % r->capacity;
        r->count--;
    }
    pthread_mutex_unlock(&r->lock);
    return got;
}

int ring_count(presenter_ring *r)
{
    pthread_mutex_lock(&r->lock);
    int n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}
