/* receiver.c: the real-time path. A SUB socket read on its own thread; each
 * message is decoded, checked against the sequence, turned into an item and
 * handed to the consumer through one bounded queue (the only place the two
 * threads meet). When the consumer falls behind, the queue drops new items and
 * counts them, so memory stays bounded and the publisher is never blocked. */
#include "acquisition.h"
#include "socket.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_FRAMES 4

struct acq_receiver {
    acq_receiver_config config;
    char endpoint[512], topic[64];
    void *context, *socket;
    int own_context;
    pthread_t thread;
    int thread_started;
    atomic_int stop;

    /* The hand-off: a ring of item pointers, guarded by `lock`. */
    pthread_mutex_t lock;
    pthread_cond_t ready;
    acq_item **ring;
    int capacity, head, size;
    int overflowed;       /* items were dropped since the last one queued */
    acq_stats stats;      /* also guarded by `lock` */

    /* Receiver-thread only. */
    acq_sequence sequence;
    acq_binner *binner;
    uint32_t pending_flags;   /* for the next item: what happened before it */
    uint64_t pending_missed;
};

void acq_receiver_config_default(acq_receiver_config *c)
{
    memset(c, 0, sizeof *c);
    c->socket.endpoint = ACQ_DEFAULT_ENDPOINT;
    c->socket.hwm = 10000;
    c->format = ACQ_FORMAT_NATIVE;
    c->queue_capacity = 4096;
    c->sample_rate = 30000;
    c->bin_width_ns = 10000000;
}

/* ------------------------------------------------------------------------ */
/* Items: one allocation holding the struct and its arrays. */

static acq_item *item_alloc(int type, size_t floats, size_t events)
{
    size_t size = sizeof(acq_item) + floats * sizeof(float) + events * sizeof(acq_event);
    acq_item *it = calloc(1, size);
    if (!it)
        return NULL;
    it->type = type;
    uint8_t *tail = (uint8_t *)(it + 1);
    if (events)
        it->events = (acq_event *)tail; /* acq_event first: its alignment is the stricter */
    if (floats) {
        float *f = (float *)(tail + events * sizeof(acq_event));
        if (type == ACQ_MSG_ONSET)
            it->image = f;
        else
            it->counts = f;
    }
    return it;
}

void acq_item_free(acq_item *item) { free(item); }

/* ------------------------------------------------------------------------ */
/* The hand-off. */

static void queue_push(acq_receiver *r, acq_item *it)
{
    it->flags |= r->pending_flags;
    it->missed_before += r->pending_missed;
    r->pending_flags = 0;
    r->pending_missed = 0;
    pthread_mutex_lock(&r->lock);
    if (r->size == r->capacity) {
        r->stats.queue_dropped++;
        r->overflowed = 1;
        pthread_mutex_unlock(&r->lock);
        free(it);
        return;
    }
    if (r->overflowed)
        it->flags |= ACQ_ITEM_AFTER_OVERFLOW;
    r->overflowed = 0;
    r->ring[(r->head + r->size) % r->capacity] = it;
    r->size++;
    r->stats.accepted++;
    pthread_cond_signal(&r->ready);
    pthread_mutex_unlock(&r->lock);
}

int acq_receiver_pop(acq_receiver *r, acq_item **item, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    until.tv_sec += timeout_ms / 1000 + until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&r->lock);
    while (r->size == 0)
        if (pthread_cond_timedwait(&r->ready, &r->lock, &until) != 0)
            break;
    int got = r->size > 0;
    if (got) {
        *item = r->ring[r->head];
        r->head = (r->head + 1) % r->capacity;
        r->size--;
    }
    pthread_mutex_unlock(&r->lock);
    return got;
}

void acq_receiver_stats(acq_receiver *r, acq_stats *out)
{
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    pthread_mutex_unlock(&r->lock);
}

static void count_reject(acq_receiver *r, int reason, const char *err)
{
    pthread_mutex_lock(&r->lock);
    r->stats.rejected[reason]++;
    snprintf(r->stats.last_error, sizeof r->stats.last_error, "%s", err);
    snprintf(r->stats.last_rejected[reason], sizeof r->stats.last_rejected[reason], "%s", err);
    pthread_mutex_unlock(&r->lock);
}

/* Sequence verdict → counters and flags; returns 1 when the message is a
 * duplicate to drop. */
static int check_sequence(acq_receiver *r, uint32_t epoch, uint64_t sequence)
{
    uint64_t missed;
    int v = acq_sequence_check(&r->sequence, epoch, sequence, &missed);
    pthread_mutex_lock(&r->lock);
    r->stats.gaps = r->sequence.gaps;
    r->stats.late = r->sequence.late;
    r->stats.duplicates = r->sequence.duplicates;
    r->stats.restarts = r->sequence.restarts;
    r->stats.lost = acq_sequence_lost(&r->sequence);
    pthread_mutex_unlock(&r->lock);
    if (v == ACQ_SEQ_GAP) {
        r->pending_flags |= ACQ_ITEM_AFTER_GAP;
        r->pending_missed += missed;
    } else if (v == ACQ_SEQ_LATE) {
        r->pending_flags |= ACQ_ITEM_LATE;
    } else if (v == ACQ_SEQ_RESTART) {
        r->pending_flags |= ACQ_ITEM_RESTART;
        if (r->binner)
            acq_binner_reset(r->binner);
    }
    return v == ACQ_SEQ_DUPLICATE;
}

/* ------------------------------------------------------------------------ */
/* Native messages. */

static acq_item *native_item(const acq_message *m, int64_t received)
{
    const acq_header *h = &m->h;
    acq_item *it = NULL;
    if (h->type == ACQ_MSG_COUNTS) {
        if ((it = item_alloc(h->type, h->count, 0)))
            acq_message_counts(m, it->counts);
    } else if (h->type == ACQ_MSG_EVENTS) {
        if ((it = item_alloc(h->type, 0, h->count)))
            for (uint32_t i = 0; i < h->count; i++)
                acq_message_event(m, i, &it->events[i]);
    } else if (h->type == ACQ_MSG_ONSET) {
        acq_onset o;
        acq_message_onset(m, &o);
        if ((it = item_alloc(h->type, (size_t)o.height * o.width, 0))) {
            it->onset = o;
            if (it->image)
                acq_message_image(m, it->image);
        }
    } else {
        it = item_alloc(h->type, 0, 0);
    }
    if (it) {
        it->count = h->count;
        it->timestamp_ns = h->timestamp_ns;
        it->bin_width_ns = h->bin_width_ns;
        it->received_ns = received;
    }
    return it;
}

static void handle_native(acq_receiver *r, const acq_frame *frames, int count, int64_t received)
{
    acq_message m;
    char err[ACQ_ERR_SIZE];
    int reason = acq_decode(frames, count, &m, err);
    if (reason != ACQ_OK) {
        count_reject(r, reason, err);
        return;
    }
    if (check_sequence(r, m.h.epoch, m.h.sequence))
        return;
    if (m.h.type == ACQ_MSG_HEARTBEAT) {
        pthread_mutex_lock(&r->lock);
        r->stats.heartbeats++;
        r->stats.last_heartbeat_ns = received;
        pthread_mutex_unlock(&r->lock);
    }
    acq_item *it = native_item(&m, received);
    if (it)
        queue_push(r, it);
}

/* ------------------------------------------------------------------------ */
/* Open Ephys messages: spikes binned here, TTLs become events. */

typedef struct bin_context {
    acq_receiver *r;
    int64_t received;
} bin_context;

static void push_bin(void *ctx, int64_t start_ns, uint32_t width_ns, const float *counts,
                     int units)
{
    bin_context *b = ctx;
    acq_item *it = item_alloc(ACQ_MSG_COUNTS, (size_t)units, 0);
    if (!it)
        return;
    memcpy(it->counts, counts, sizeof(float) * (size_t)units);
    it->count = (uint32_t)units;
    it->timestamp_ns = start_ns;
    it->bin_width_ns = width_ns;
    it->received_ns = b->received;
    queue_push(b->r, it);
}

static void handle_openephys(acq_receiver *r, const acq_frame *frames, int count,
                             int64_t received)
{
    acq_oe_message m;
    char err[ACQ_ERR_SIZE];
    int reason = acq_oe_decode(frames, count, &m, err);
    if (reason != ACQ_OK) {
        count_reject(r, reason, err);
        return;
    }
    if (check_sequence(r, 0, m.message_num))
        return;
    bin_context ctx = {r, received};
    if (m.kind == ACQ_OE_SPIKE) {
        if (acq_binner_add_spike(r->binner, m.unit, m.sample_num, push_bin, &ctx)) {
            pthread_mutex_lock(&r->lock);
            r->stats.late_spikes++;
            pthread_mutex_unlock(&r->lock);
        }
    } else if (m.kind == ACQ_OE_DATA) {
        acq_binner_advance(r->binner, m.sample_num + m.num_samples, push_bin, &ctx);
    } else if (m.kind == ACQ_OE_TTL) {
        acq_binner_advance(r->binner, m.sample_num, push_bin, &ctx);
        acq_item *it = item_alloc(ACQ_MSG_EVENTS, 0, 1);
        if (!it)
            return;
        it->count = 1;
        it->events[0].timestamp_ns = acq_binner_time_ns(r->binner, m.sample_num);
        it->events[0].line = (uint16_t)m.line;
        it->events[0].rising = (uint8_t)m.state;
        it->timestamp_ns = it->events[0].timestamp_ns;
        it->received_ns = received;
        queue_push(r, it);
    }
}

/* ------------------------------------------------------------------------ */
/* The thread. */

static void receive_one(acq_receiver *r)
{
    zmq_msg_t parts[MAX_FRAMES];
    acq_frame frames[MAX_FRAMES];
    int count = 0, more = 1, too_many = 0;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, r->socket, 0) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (count < MAX_FRAMES) {
            parts[count] = part;
            frames[count].data = zmq_msg_data(&parts[count]);
            frames[count].size = zmq_msg_size(&parts[count]);
            count++;
        } else {
            too_many = 1;
            zmq_msg_close(&part);
        }
    }
    int64_t received = acq_now_ns();
    pthread_mutex_lock(&r->lock);
    r->stats.messages++;
    pthread_mutex_unlock(&r->lock);
    if (too_many)
        count_reject(r, ACQ_REJECT_FRAMES, "frames: more than 4 frames");
    else if (r->config.format == ACQ_FORMAT_OPENEPHYS)
        handle_openephys(r, frames, count, received);
    else
        handle_native(r, frames, count, received);
    for (int i = 0; i < count; i++)
        zmq_msg_close(&parts[i]);
}

static void *receiver_main(void *arg)
{
    acq_receiver *r = arg;
    zmq_pollitem_t item = {.socket = r->socket, .events = ZMQ_POLLIN};
    while (!atomic_load(&r->stop)) {
        int n = zmq_poll(&item, 1, 20);
        if (n > 0 && (item.revents & ZMQ_POLLIN))
            receive_one(r);
    }
    return NULL;
}

int acq_receiver_create(acq_receiver **out, void *zmq_context, const acq_receiver_config *c,
                        char *err)
{
    *out = NULL;
    acq_receiver *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, ACQ_ERR_SIZE, "receiver: out of memory");
        return 1;
    }
    r->config = *c;
    snprintf(r->endpoint, sizeof r->endpoint, "%s",
             c->socket.endpoint ? c->socket.endpoint : ACQ_DEFAULT_ENDPOINT);
    r->config.socket.endpoint = r->endpoint;
    r->capacity = c->queue_capacity > 0 ? c->queue_capacity : 4096;
    r->ring = calloc((size_t)r->capacity, sizeof *r->ring);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->ready, NULL);
    acq_sequence_init(&r->sequence);
    r->own_context = zmq_context == NULL;
    r->context = zmq_context ? zmq_context : zmq_ctx_new();
    int fail = !r->ring || !r->context;
    if (fail)
        snprintf(err, ACQ_ERR_SIZE, "receiver: out of memory");
    if (!fail && c->format == ACQ_FORMAT_OPENEPHYS)
        fail = acq_binner_create(&r->binner, c->units, c->sample_rate, c->bin_width_ns, 2, err);
    if (!fail)
        fail = acq_socket_open(&r->socket, r->context, ZMQ_SUB, &r->config.socket, 0, err);
    if (!fail) {
        const char *topic = c->topic ? c->topic : "";
        zmq_setsockopt(r->socket, ZMQ_SUBSCRIBE, topic, strlen(topic));
        fail = pthread_create(&r->thread, NULL, receiver_main, r) != 0;
        if (fail)
            snprintf(err, ACQ_ERR_SIZE, "receiver: cannot start its thread");
        r->thread_started = !fail;
    }
    if (fail) {
        acq_receiver_destroy(r);
        return 1;
    }
    *out = r;
    return 0;
}

pthread_t acq_receiver_thread(const acq_receiver *r) { return r->thread; }

void acq_receiver_destroy(acq_receiver *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, 1);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    if (r->socket)
        zmq_close(r->socket);
    if (r->own_context && r->context)
        zmq_ctx_term(r->context);
    for (int i = 0; i < r->size; i++)
        free(r->ring[(r->head + i) % r->capacity]);
    free(r->ring);
    acq_binner_destroy(r->binner);
    pthread_cond_destroy(&r->ready);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
