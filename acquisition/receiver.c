/* receiver.c: the real-time path. A SUB socket read on its own thread; each
 * message is decoded, checked against the sequence, turned into an item and
 * handed to the consumer through one bounded queue (the only place the two
 * threads meet). When the consumer falls behind, the queue drops new items and
 * counts them, so memory stays bounded and the publisher is never blocked. */
#include "acquisition.h"
#include "socket.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_FRAMES 4
/* Open Ephys: the plugin's blocks are a few hundred to a few thousand
 * samples; until the first data block says, assume 1024. */
#define HEARTBEAT_PERIOD_NS 2000000000LL

/* The previous Open Ephys message's place on the acquisition clock: a gap in
 * message_num lies somewhere around it and the message after the gap. */
typedef struct oe_extent {
    int64_t lo, hi; /* samples */
} oe_extent;

typedef struct batch_spike {
    int64_t sample_num;
    int32_t sorted_id;
    uint8_t electrode; /* index into batch_names */
} batch_spike;

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
    /* Open Ephys, receiver-thread only */
    uint32_t oe_epoch;        /* ours: message_num has no epoch, so restarts count here */
    int have_prev, rejects_pending;
    oe_extent prev;
    int64_t block;            /* the longest data block seen, samples */
    char (*names)[48];        /* per column: the electrode its spikes came from (under lock) */
    int columns;
    void *heartbeat;          /* REQ socket to the plugin; NULL when off */
    void *monitor;            /* the SUB socket's connection events (connecting only) */
    int64_t reconnect_at;     /* when to connect anew; 0: libzmq is on it or all is well */
    char heartbeat_endpoint[512], uuid[40];
    int64_t next_heartbeat;
    /* Open Ephys spikes not yet handed over (ACQ_ITEM_SPIKES), receiver-thread only */
    batch_spike *batch;
    char (*batch_names)[48];
    int batch_n, batch_names_n, batch_name_last;
    int64_t batch_first_received, batch_last_received;
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
    c->heartbeat = 1;
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

/* The pending spikes as one item. It takes none of the pending flags (they
 * tell the aligner about bins and edges, which the next item carries), and
 * a full queue drops it without marking the bins as overflowed: counted in
 * spikes_dropped. */
static void flush_spikes(acq_receiver *r)
{
    if (r->batch_n == 0)
        return;
    size_t n = (size_t)r->batch_n, text = 1;
    for (int i = 0; i < r->batch_names_n; i++)
        text += strlen(r->batch_names[i]) + 1;
    /* One allocation: the item, then the arrays, widest first (alignment). */
    acq_item *it = calloc(1, sizeof *it + n * (sizeof(int64_t) + sizeof(int32_t) + 1) + text);
    if (it) {
        it->type = ACQ_ITEM_SPIKES;
        it->count = (uint32_t)n;
        it->spike_samples = (int64_t *)(it + 1);
        it->spike_sorted_ids = (int32_t *)(it->spike_samples + n);
        it->spike_electrodes = (uint8_t *)(it->spike_sorted_ids + n);
        it->electrodes = (char *)(it->spike_electrodes + n);
        it->electrode_count = (uint32_t)r->batch_names_n;
        for (size_t i = 0; i < n; i++) {
            it->spike_samples[i] = r->batch[i].sample_num;
            it->spike_sorted_ids[i] = r->batch[i].sorted_id;
            it->spike_electrodes[i] = r->batch[i].electrode;
        }
        char *at = it->electrodes;
        for (int i = 0; i < r->batch_names_n; i++)
            at += sprintf(at, "%s%s", i ? "\n" : "", r->batch_names[i]);
        it->received_ns = r->batch_last_received;
        it->first_received_ns = r->batch_first_received;
        it->timestamp_ns = acq_binner_time_ns(r->binner, r->batch[0].sample_num);
    }
    pthread_mutex_lock(&r->lock);
    if (!it || r->size == r->capacity) {
        r->stats.queue_dropped += it != NULL;
        r->stats.spikes_dropped += n;
        free(it);
    } else {
        r->ring[(r->head + r->size) % r->capacity] = it;
        r->size++;
        r->stats.accepted++;
        r->stats.spikes += n;
        pthread_cond_signal(&r->ready);
    }
    pthread_mutex_unlock(&r->lock);
    r->batch_n = 0;
    r->batch_names_n = 0;
    r->batch_name_last = 0;
}

/* The batch's index of an electrode's name, added when new; -1 when the
 * batch has no room for another name. */
static int batch_electrode(acq_receiver *r, const char *name)
{
    int last = r->batch_name_last; /* spikes of one electrode often come in runs */
    if (last < r->batch_names_n && !strcmp(r->batch_names[last], name))
        return last;
    for (int i = 0; i < r->batch_names_n; i++)
        if (!strcmp(r->batch_names[i], name))
            return r->batch_name_last = i;
    if (r->batch_names_n == ACQ_SPIKE_ELECTRODES)
        return -1;
    snprintf(r->batch_names[r->batch_names_n], 48, "%s", name);
    return r->batch_name_last = r->batch_names_n++;
}

static void add_to_batch(acq_receiver *r, const acq_oe_message *m, int64_t received)
{
    int e = batch_electrode(r, m->electrode);
    if (e < 0) {
        flush_spikes(r);
        e = batch_electrode(r, m->electrode);
    }
    assert(e >= 0 && r->batch_n < ACQ_SPIKE_BATCH);
    if (r->batch_n == 0)
        r->batch_first_received = received;
    r->batch_last_received = received;
    r->batch[r->batch_n++] = (batch_spike){m->sample_num, m->sorted_id, (uint8_t)e};
    if (r->batch_n == ACQ_SPIKE_BATCH)
        flush_spikes(r);
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
    r->rejects_pending = 1;
}

/* Sequence verdict → counters and flags; returns 1 when the message is a
 * duplicate to drop. */
static int check_sequence(acq_receiver *r, uint32_t epoch, uint64_t sequence, int *verdict)
{
    uint64_t missed;
    int v = acq_sequence_check(&r->sequence, epoch, sequence, &missed);
    if (verdict)
        *verdict = v;
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
        r->pending_flags |= ACQ_ITEM_RESTART; /* Open Ephys: the bins too (oe_restart) */
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
    if (check_sequence(r, m.h.epoch, m.h.sequence, NULL))
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

static void push_loss(acq_receiver *r, int64_t from_sample, int64_t to_sample, int64_t received)
{
    acq_item *it = item_alloc(ACQ_ITEM_LOSS, 0, 0);
    if (!it)
        return;
    it->timestamp_ns = acq_binner_time_ns(r->binner, from_sample);
    it->until_ns = acq_binner_time_ns(r->binner, to_sample);
    it->received_ns = received;
    pthread_mutex_lock(&r->lock);
    r->stats.loss_spans++;
    pthread_mutex_unlock(&r->lock);
    queue_push(r, it);
}

static oe_extent extent_of(const acq_oe_message *m)
{
    oe_extent e = {m->sample_num, m->sample_num};
    if (m->kind == ACQ_OE_DATA)
        e.hi += m->num_samples;
    return e;
}

/* message_num counts from 1 each time acquisition starts in the GUI; here it
 * is made to count from 0, and a 0 after more (not a duplicate of the first)
 * is a new epoch: a GUI stop and start. */
static uint32_t oe_epoch_of(acq_receiver *r, uint64_t sequence)
{
    const acq_sequence *q = &r->sequence;
    if (q->started && sequence == 0 && q->next > 1) {
        int first_seen = q->next <= ACQ_SEQ_WINDOW && ((q->seen >> (q->next - 1)) & 1);
        if (!first_seen)
            r->oe_epoch++;
    }
    return r->oe_epoch;
}

/* A restart: the bins the old clock completed go out, the rest of its open
 * bins are lost with it; the next item tells the aligner to fit anew. */
static void oe_restart(acq_receiver *r, bin_context *ctx)
{
    /* What happened before this message belongs to the new clock's first item. */
    uint32_t flags = r->pending_flags;
    uint64_t missed = r->pending_missed;
    r->pending_flags = 0;
    r->pending_missed = 0;
    if (r->rejects_pending && r->have_prev) /* lost just before the stop: up to its end */
        push_loss(r, r->prev.lo - r->block, r->prev.hi + 2 * r->block, ctx->received);
    acq_binner_flush(r->binner, push_bin, ctx);
    acq_binner_reset(r->binner);
    flush_spikes(r); /* a batch holds one clock's sample numbers */
    r->pending_flags = flags | ACQ_ITEM_CLOCK_RESET;
    r->pending_missed = missed;
    r->have_prev = 0;
}

static void note_electrode(acq_receiver *r, int column, const char *name, int *conflict)
{
    *conflict = 0;
    if (!strcmp(r->names[column], name))
        return;
    pthread_mutex_lock(&r->lock);
    if (!r->names[column][0])
        snprintf(r->names[column], sizeof r->names[column], "%s", name);
    else
        *conflict = column >= r->config.units; /* two electrodes claim one unsorted column */
    pthread_mutex_unlock(&r->lock);
}

static void add_oe_spike(acq_receiver *r, const acq_oe_message *m, bin_context *ctx)
{
    add_to_batch(r, m, ctx->received);
    int column = acq_oe_column(m, r->config.units, r->config.electrodes), conflict = 0;
    if (column >= 0)
        note_electrode(r, column, m->electrode, &conflict);
    pthread_mutex_lock(&r->lock);
    if (m->sorted_id > r->stats.max_sorted_id)
        r->stats.max_sorted_id = m->sorted_id;
    r->stats.sorted_beyond += column == ACQ_OE_SORTED_BEYOND;
    r->stats.unsorted_left_out += column == ACQ_OE_UNSORTED_LEFT_OUT;
    r->stats.unsorted_unmapped += column == ACQ_OE_UNSORTED_UNMAPPED || conflict;
    pthread_mutex_unlock(&r->lock);
    if (column < 0 || conflict)
        return;
    if (acq_binner_add_spike(r->binner, column, m->sample_num, push_bin, ctx)) {
        /* Its bin went out without it: whatever that bin fed is now short. */
        pthread_mutex_lock(&r->lock);
        r->stats.late_spikes++;
        pthread_mutex_unlock(&r->lock);
        push_loss(r, m->sample_num, m->sample_num + 1, ctx->received);
    }
}

static void add_oe_ttl(acq_receiver *r, const acq_oe_message *m, bin_context *ctx)
{
    acq_binner_advance(r->binner, m->sample_num, push_bin, ctx);
    acq_item *it = item_alloc(ACQ_MSG_EVENTS, 0, 1);
    if (!it)
        return;
    it->count = 1;
    it->events[0].timestamp_ns = acq_binner_time_ns(r->binner, m->sample_num);
    it->events[0].line = (uint16_t)m->line;
    it->events[0].rising = (uint8_t)m->state;
    it->timestamp_ns = it->events[0].timestamp_ns;
    it->received_ns = ctx->received;
    queue_push(r, it);
}

/* A data block: the clock, and the stream's sample rate, checked once. */
static int add_oe_data(acq_receiver *r, const acq_oe_message *m, bin_context *ctx)
{
    if (m->sample_rate > 0 && fabs(m->sample_rate - r->config.sample_rate) >
                                  1e-6 * r->config.sample_rate) {
        pthread_mutex_lock(&r->lock);
        r->stats.stream_sample_rate = m->sample_rate;
        r->stats.rate_mismatch = 1;
        pthread_mutex_unlock(&r->lock);
        return 1;
    }
    if (m->sample_rate > 0 && !r->stats.stream_sample_rate) {
        pthread_mutex_lock(&r->lock);
        r->stats.stream_sample_rate = m->sample_rate;
        pthread_mutex_unlock(&r->lock);
    }
    if (m->num_samples > r->block && m->num_samples <= ACQ_OE_MAX_FRAME / 4) {
        r->block = m->num_samples;
        /* A lost message lies up to a block around its neighbours: bins stay
         * open that long, so its span reaches the aligner before they close. */
        acq_binner_set_hold(r->binner, 2 * r->block);
    }
    acq_binner_advance(r->binner, m->sample_num + m->num_samples, push_bin, ctx);
    return 0;
}

static void handle_openephys(acq_receiver *r, const acq_frame *frames, int count,
                             int64_t received)
{
    acq_oe_message m;
    char err[ACQ_ERR_SIZE];
    if (r->stats.rate_mismatch) /* receiver-thread's own write: no lock needed to read */
        return;
    int reason = acq_oe_decode(frames, count, &m, err);
    if (reason != ACQ_OK) {
        count_reject(r, reason, err);
        return;
    }
    bin_context ctx = {r, received};
    uint64_t sequence = m.message_num > 0 ? m.message_num - 1 : 0;
    int verdict;
    uint32_t epoch = oe_epoch_of(r, sequence);
    if (check_sequence(r, epoch, sequence, &verdict))
        return;
    /* message_num back to 1, or (its first message lost) far behind. */
    if (verdict == ACQ_SEQ_RESTART)
        oe_restart(r, &ctx);
    oe_extent e = extent_of(&m);
    if (!r->have_prev) /* what came before the first message we saw is unknown */
        push_loss(r, e.lo - 3 * r->block, e.lo, received);
    else if (verdict == ACQ_SEQ_GAP) {
        /* The lost messages were sent between the previous one and this:
         * their samples lie within a block of the two. */
        int64_t lo = e.lo < r->prev.lo ? e.lo : r->prev.lo;
        int64_t hi = e.hi > r->prev.hi ? e.hi : r->prev.hi;
        push_loss(r, lo - r->block, hi + r->block, received);
    }
    if (verdict != ACQ_SEQ_LATE) {
        r->prev = e;
        r->have_prev = 1;
        r->rejects_pending = 0;
    }
    if (m.kind == ACQ_OE_SPIKE)
        add_oe_spike(r, &m, &ctx);
    else if (m.kind == ACQ_OE_DATA)
        add_oe_data(r, &m, &ctx);
    else if (m.kind == ACQ_OE_TTL)
        add_oe_ttl(r, &m, &ctx);
}

/* ------------------------------------------------------------------------ */
/* The plugin's heartbeat (its REQ/REP "listen" socket on the data port + 1):
 * the plugin lists applications that sent one within 5 s. A REQ socket,
 * relaxed so an unanswered request never stops the next, sending without
 * waiting: a plugin that never answers costs the data path nothing. */

static void make_uuid(char out[40])
{
    uint8_t b[16] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof b) { /* no entropy at hand: time and address, unique enough */
        int64_t t = acq_now_ns();
        memcpy(b, &t, sizeof t);
        uintptr_t p = (uintptr_t)out;
        memcpy(b + 8, &p, sizeof p < 8 ? sizeof p : 8);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4, variant 1 (RFC 4122) */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* tcp://HOST:PORT → tcp://HOST:PORT+1; 1 when the endpoint has no such port. */
static int next_port(const char *endpoint, char *out, size_t size)
{
    const char *colon = strrchr(endpoint, ':');
    if (strncmp(endpoint, "tcp://", 6) || !colon || !colon[1])
        return 1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port >= 65535)
        return 1;
    snprintf(out, size, "%.*s:%ld", (int)(colon - endpoint), endpoint, port + 1);
    return 0;
}

static int open_heartbeat(acq_receiver *r, char *err)
{
    const acq_receiver_config *c = &r->config;
    if (c->format != ACQ_FORMAT_OPENEPHYS || !c->heartbeat || c->socket.bind)
        return 0;
    if (c->heartbeat_endpoint)
        snprintf(r->heartbeat_endpoint, sizeof r->heartbeat_endpoint, "%s",
                 c->heartbeat_endpoint);
    else if (next_port(r->endpoint, r->heartbeat_endpoint, sizeof r->heartbeat_endpoint))
        return 0; /* ipc, inproc: no plugin listens beside it */
    if (acq_endpoint_check(r->heartbeat_endpoint, c->socket.allow_remote, err))
        return 1;
    r->heartbeat = zmq_socket(r->context, ZMQ_REQ);
    int one = 1, zero = 0, hwm = 1;
    int64_t max = 64000; /* the plugin's own MAX_MESSAGE_LENGTH */
    if (!r->heartbeat || zmq_setsockopt(r->heartbeat, ZMQ_REQ_RELAXED, &one, sizeof one) ||
        zmq_setsockopt(r->heartbeat, ZMQ_REQ_CORRELATE, &one, sizeof one) ||
        zmq_setsockopt(r->heartbeat, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(r->heartbeat, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(r->heartbeat, ZMQ_MAXMSGSIZE, &max, sizeof max) ||
        zmq_connect(r->heartbeat, r->heartbeat_endpoint)) {
        return acq_fail(err, "heartbeat socket %s: %s", r->heartbeat_endpoint,
                        zmq_strerror(zmq_errno()));
    }
    make_uuid(r->uuid);
    return 0;
}

static void heartbeat_tick(acq_receiver *r)
{
    int64_t now = acq_now_ns();
    if (now < r->next_heartbeat)
        return;
    r->next_heartbeat = now + HEARTBEAT_PERIOD_NS;
    char json[160];
    int n = snprintf(json, sizeof json,
                     "{\"application\": \"inception\", \"uuid\": \"%s\", \"type\": \"heartbeat\"}",
                     r->uuid);
    if (zmq_send(r->heartbeat, json, (size_t)n, ZMQ_DONTWAIT) == n) {
        pthread_mutex_lock(&r->lock);
        r->stats.heartbeats_sent++;
        pthread_mutex_unlock(&r->lock);
    }
}

static void heartbeat_reply(acq_receiver *r)
{
    char buf[64];
    while (zmq_recv(r->heartbeat, buf, sizeof buf, ZMQ_DONTWAIT) >= 0) {
        pthread_mutex_lock(&r->lock);
        r->stats.heartbeat_replies++;
        pthread_mutex_unlock(&r->lock);
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

/* libzmq drops a connection whose peer sends a frame over ZMQ_MAXMSGSIZE
 * and, that being a protocol error, does not connect again by itself: so a
 * disconnection that libzmq does not follow with a connection attempt of its
 * own within a second is answered by connecting anew (what was published
 * meanwhile shows as a sequence gap). */
#define RECONNECT_AFTER_NS 1000000000LL
static int open_monitor(acq_receiver *r, char *err)
{
    if (r->config.socket.bind)
        return 0;
    /* Unique in the context: malloc gives this receiver's address again to
     * the next receiver, and the last one's monitor endpoint is released
     * only when libzmq's reaper gets to it; so the name carries the moment
     * of its making too, and a name still taken is tried with a suffix. */
    char address[96];
    int status = -1;
    long long made = (long long)acq_now_ns();
    for (int k = 0; k < 16 && status; k++) {
        snprintf(address, sizeof address, "inproc://acq-receiver-monitor-%p-%lld-%d", (void *)r,
                 made, k);
        status = zmq_socket_monitor(r->socket, address,
                                    ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED |
                                        ZMQ_EVENT_CONNECT_DELAYED | ZMQ_EVENT_CONNECT_RETRIED);
        if (status && zmq_errno() != EADDRINUSE)
            break;
    }
    if (status || !(r->monitor = zmq_socket(r->context, ZMQ_PAIR)) ||
        zmq_connect(r->monitor, address)) {
        return acq_fail(err, "receiver: cannot monitor its socket: %s", zmq_strerror(zmq_errno()));
    }
    return 0;
}

static void monitor_event(acq_receiver *r)
{
    zmq_msg_t frame;
    int more = 1, first = 1;
    uint16_t event = 0;
    while (more) { /* the event: uint16 event and uint32 value, then the address */
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, r->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return;
        }
        if (first && zmq_msg_size(&frame) >= 2)
            memcpy(&event, zmq_msg_data(&frame), 2);
        first = 0;
        more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
    }
    if (event == ZMQ_EVENT_DISCONNECTED)
        r->reconnect_at = acq_now_ns() + RECONNECT_AFTER_NS;
    else
        r->reconnect_at = 0;
}

static void reconnect(acq_receiver *r)
{
    r->reconnect_at = 0;
    zmq_disconnect(r->socket, r->endpoint);
    zmq_connect(r->socket, r->endpoint);
    pthread_mutex_lock(&r->lock);
    r->stats.reconnects++;
    pthread_mutex_unlock(&r->lock);
}

static void *receiver_main(void *arg)
{
    acq_receiver *r = arg;
    zmq_pollitem_t items[3] = {{.socket = r->socket, .events = ZMQ_POLLIN},
                               {.socket = r->monitor, .events = ZMQ_POLLIN},
                               {.socket = r->heartbeat, .events = ZMQ_POLLIN}};
    int n_items = r->heartbeat ? 3 : r->monitor ? 2 : 1;
    while (!atomic_load(&r->stop)) {
        if (r->heartbeat)
            heartbeat_tick(r);
        int n = zmq_poll(items, n_items, 20);
        if (n > 0 && (items[0].revents & ZMQ_POLLIN))
            receive_one(r);
        if (n > 0 && r->monitor && (items[1].revents & ZMQ_POLLIN))
            monitor_event(r);
        if (r->reconnect_at && acq_now_ns() >= r->reconnect_at)
            reconnect(r);
        if (n > 0 && r->heartbeat && (items[2].revents & ZMQ_POLLIN))
            heartbeat_reply(r);
        if (r->batch_n && acq_now_ns() - r->batch_first_received >= ACQ_SPIKE_BATCH_NS)
            flush_spikes(r);
    }
    flush_spikes(r); /* what came last is handed over too */
    return NULL;
}

int acq_receiver_create(acq_receiver **out, void *zmq_context, const acq_receiver_config *c,
                        char *err)
{
    *out = NULL;
    acq_receiver *r = calloc(1, sizeof *r);
    if (!r) {
        return acq_fail(err, "receiver: out of memory");
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
        acq_fail(err, "receiver: out of memory");
    r->block = ACQ_OE_DEFAULT_BLOCK;
    if (!fail && c->format == ACQ_FORMAT_OPENEPHYS) {
        r->columns = c->units + (c->electrodes > 0 ? c->electrodes : 0);
        fail = c->units < 0 || c->electrodes < 0 || r->columns > ACQ_MAX_UNITS ||
               acq_binner_create(&r->binner, r->columns, c->sample_rate, c->bin_width_ns,
                                 ACQ_OE_GRACE_BINS, err);
        if (fail && r->columns > ACQ_MAX_UNITS)
            acq_fail(err, "receiver: %d units and %d electrodes: over %d columns",
                     c->units, c->electrodes, ACQ_MAX_UNITS);
        if (!fail) {
            acq_binner_set_hold(r->binner, 2 * r->block);
            r->names = calloc((size_t)r->columns, sizeof *r->names);
            r->batch = calloc(ACQ_SPIKE_BATCH, sizeof *r->batch);
            r->batch_names = calloc(ACQ_SPIKE_ELECTRODES, sizeof *r->batch_names);
            fail = !r->names || !r->batch || !r->batch_names;
            if (fail)
                acq_fail(err, "receiver: out of memory");
        }
    }
    /* The largest frame the format allows; libzmq drops the connection on a
     * bigger one (the loss then shows as a sequence gap) instead of holding it. */
    if (!r->config.socket.max_frame)
        r->config.socket.max_frame = c->format == ACQ_FORMAT_OPENEPHYS
                                         ? ACQ_OE_MAX_FRAME
                                         : ACQ_ONSET_SIZE + 4 * (int64_t)ACQ_MAX_IMAGE_PIXELS;
    if (!fail)
        fail = acq_socket_open(&r->socket, r->context, ZMQ_SUB, &r->config.socket, 0, err);
    if (!fail)
        fail = open_monitor(r, err);
    if (!fail)
        fail = open_heartbeat(r, err);
    if (!fail) {
        const char *topic = c->topic ? c->topic : "";
        zmq_setsockopt(r->socket, ZMQ_SUBSCRIBE, topic, strlen(topic));
        fail = pthread_create(&r->thread, NULL, receiver_main, r) != 0;
        if (fail)
            acq_fail(err, "receiver: cannot start its thread");
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

void acq_receiver_stop(acq_receiver *r)
{
    atomic_store(&r->stop, 1);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    r->thread_started = 0;
}

void acq_receiver_destroy(acq_receiver *r)
{
    if (!r)
        return;
    acq_receiver_stop(r);
    if (r->socket)
        zmq_close(r->socket);
    if (r->heartbeat)
        zmq_close(r->heartbeat);
    if (r->monitor)
        zmq_close(r->monitor);
    free(r->names);
    free(r->batch);
    free(r->batch_names);
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

int acq_receiver_column_electrode(acq_receiver *r, int column, char *out, size_t size)
{
    if (!r->names || column < 0 || column >= r->columns) {
        snprintf(out, size, "%s", "");
        return 1;
    }
    pthread_mutex_lock(&r->lock);
    snprintf(out, size, "%s", r->names[column]);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* The unit map as JSON (WIRE.md): one object per column, each on its own
 * line, written by jansson so that any name comes back as it was read.
 * Electrode names are the network's text: printable ASCII is kept (quotes
 * and backslashes escaped), anything else shows as '?', which keeps the
 * text valid UTF-8 whatever bytes arrived. */
char *acq_receiver_unit_map(acq_receiver *r)
{
    if (!r->names)
        return NULL;
    /* A column's line: about 90 bytes of keys and numbers, and a name of at
     * most 47 characters that escaping at most doubles. */
    size_t size = 96 + (size_t)r->columns * 256;
    char *out = malloc(size), name[48];
    if (!out)
        return NULL;
    size_t n = (size_t)snprintf(out, size, "{\"units\": %d, \"electrodes\": %d, \"columns\": [",
                                r->config.units, r->config.electrodes);
    for (int c = 0; c < r->columns && out; c++) {
        acq_receiver_column_electrode(r, c, name, sizeof name);
        for (char *p = name; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                *p = '?';
        int sorted = c < r->config.units;
        json_t *column = json_pack("{s:i, s:i, s:i, s:s}", "column", c, "sorted_id",
                                   sorted ? c + 1 : 0, "electrode_number",
                                   sorted ? -1 : c - r->config.units + 1, "electrode", name);
        char *line = column ? json_dumps(column, JSON_PRESERVE_ORDER) : NULL;
        json_decref(column);
        size_t written = line ? (size_t)snprintf(out + n, size - n, "%s\n  %s", c ? "," : "",
                                                 line) : size;
        free(line);
        if (written >= size - n) {
            free(out);
            out = NULL;
        } else {
            n += written;
        }
    }
    if (out)
        snprintf(out + n, size - n, "\n]}\n");
    return out;
}
