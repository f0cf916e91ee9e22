/* sequence.c: loss, duplicate, reordering and restart detection from the
 * sequence numbers every message carries (ZeroMQ's PUB drops silently, so
 * the subscriber has to count). */
#include "acquisition.h"

#include <string.h>

void acq_sequence_init(acq_sequence *s)
{
    memset(s, 0, sizeof *s);
}

static void start_epoch(acq_sequence *s, uint32_t epoch, uint64_t sequence)
{
    s->started = 1;
    s->epoch = epoch;
    s->next = sequence + 1;
    s->seen = 1;
}

int acq_sequence_check(acq_sequence *s, uint32_t epoch, uint64_t sequence, uint64_t *missed)
{
    *missed = 0;
    if (!s->started) {
        start_epoch(s, epoch, sequence);
        *missed = sequence; /* a stream joined late started before us: not counted as loss */
        return ACQ_SEQ_NEXT;
    }
    if (epoch != s->epoch || sequence + ACQ_SEQ_WINDOW < s->next) {
        /* A new epoch, or a sequence far behind (a publisher without epochs
         * that started counting again): everything before is history. */
        s->restarts++;
        start_epoch(s, epoch, sequence);
        *missed = sequence;
        s->gaps += sequence;
        return ACQ_SEQ_RESTART;
    }
    if (sequence >= s->next) {
        uint64_t ahead = sequence - s->next;
        s->seen = ahead + 1 >= 64 ? 0 : s->seen << (ahead + 1);
        s->seen |= 1;
        s->next = sequence + 1;
        s->gaps += ahead;
        *missed = ahead;
        return ahead ? ACQ_SEQ_GAP : ACQ_SEQ_NEXT;
    }
    uint64_t bit = (uint64_t)1 << (s->next - 1 - sequence);
    if (s->seen & bit) {
        s->duplicates++;
        return ACQ_SEQ_DUPLICATE;
    }
    s->seen |= bit;
    s->late++;
    return ACQ_SEQ_LATE;
}

uint64_t acq_sequence_lost(const acq_sequence *s)
{
    return s->gaps > s->late ? s->gaps - s->late : 0;
}
