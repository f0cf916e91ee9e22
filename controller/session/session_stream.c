/* session_stream.c: a recorded session's stream published again, in the
 * native wire format (acquisition/WIRE.md), with the original timing scaled.
 *
 * A record of `inception run` keeps every received message (RECORD.md): its
 * counts messages (bins, timestamps, counts), event messages (their sync
 * edges) and heartbeats are published again as they came, at the times they
 * were received, the sender's gaps included, with each trial's onset on the
 * onset socket at its onset time.
 *
 * A record without received counts (an import, an older run) keeps each
 * trial's counts, not the acquisition's bins, so the stream is rebuilt from
 * the trials (controller.h says how): every trial
 * record becomes an onset on the onset socket and a rising sync edge at the
 * same time on the data socket, and its counts go into the one bin of a
 * regular grid whose centre is the first inside its response window; every
 * other bin carries zeros. A receiver that sums the bins of each window
 * (inception acquire) gets the recorded counts back exactly, as long as
 * windows do not overlap (counted: `overlapping`). */
#include "acquisition.h"
#include "session/session.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

void session_stream_options_default(session_stream_options *o)
{
    memset(o, 0, sizeof *o);
    o->data_endpoint = "tcp://127.0.0.1:5556";
    o->onset_endpoint = "tcp://127.0.0.1:5560";
    o->speed = 1.0;
    o->bin_ns = 10000000;
    o->latency_ns = 50000000;
    o->window_ns = 500000000;
    o->wait_ms = 1000;
    o->format = ACQ_FORMAT_NATIVE;
    o->sample_rate = 30000;
}

/* The recorded protocol's response window, when it parses: only the first
 * record (session_start) is read. */
static int visit_window(const record_view *v, void *ctx, char *err)
{
    session_stream_options *so = ctx;
    record_session_start start;
    protocol *p = NULL;
    if (v->type == RECORD_SESSION_START && !record_session_start_read(v, &start, err)) {
        if (!protocol_parse(start.protocol_text, start.protocol_size, "record", NULL, &p, err)) {
            so->latency_ns = (int64_t)((double)p->response.latency_ms * 1e6 + 0.5);
            so->window_ns = (int64_t)((double)p->response.duration_ms * 1e6 + 0.5);
            so->sample_rate = p->endpoints.sample_rate;
            protocol_destroy(p);
        }
        free(start.decoded);
    }
    return 1; /* the first record is enough */
}

void session_stream_options_from_record(const char *session_dir, session_stream_options *o)
{
    char err[CONTROLLER_ERR_SIZE];
    session_record_each(session_dir, visit_window, o, NULL, err);
}

typedef struct stream_trial {
    int64_t trial, image_id, onset_ns, bin;
    size_t offset; /* into the counts */
} stream_trial;

typedef struct stream_trials {
    stream_trial *t;
    int n, neurons;
    size_t cap;
    float *counts;
    size_t n_counts, cap_counts;
} stream_trials;

static void stream_trials_free(stream_trials *s)
{
    free(s->t);
    free(s->counts);
}

static int add_trial(stream_trials *s, const record_view *v, char *err)
{
    record_trial r;
    if (record_trial_read(v, &r, err))
        return 1;
    int status = 0;
    size_t count = (size_t)r.neurons;
    if (r.neurons < 1 || r.neurons > ACQ_MAX_UNITS)
        status = controller_fail(err, "trial record at offset %llu: %d counts",
                                 (unsigned long long)v->offset, r.neurons);
    else if (s->n != 0 && r.neurons != s->neurons)
        status = controller_fail(err, "trial %lld has %d counts, earlier trials %d",
                                 (long long)r.trial, r.neurons, s->neurons);
    if (!status && (size_t)s->n == s->cap) {
        size_t cap = grow_capacity_for(s->cap, s->cap + 1, 256);
        if (grow_resize(&s->t, cap, sizeof *s->t) ||
            grow_resize(&s->counts, cap, count * sizeof(float)))
            status = controller_fail(err, "out of memory for the trials");
        else
            s->cap = cap;
    }
    if (!status) {
        if (s->n == 0)
            s->neurons = r.neurons;
        stream_trial t = {.trial = r.trial, .image_id = r.image_id, .onset_ns = r.onset_ns,
                          .offset = s->n_counts, .bin = 0};
        memcpy(s->counts + s->n_counts, r.counts, count * sizeof(float));
        s->n_counts += count;
        s->t[s->n++] = t;
    }
    free(r.decoded);
    return status;
}

static int visit_trial(const record_view *v, void *ctx, char *err)
{
    return v->type == RECORD_TRIAL ? add_trial(ctx, v, err) : 0;
}

static int read_trials(const char *dir, stream_trials *s, char *err)
{
    if (session_record_each(dir, visit_trial, s, NULL, err))
        return 1;
    return s->n == 0 ? controller_fail(err, "%s/%s: no trial records to stream", dir, RECORD_FILE_NAME) : 0;
}

static int by_onset(const void *a, const void *b)
{
    const stream_trial *x = a, *y = b;
    if (x->onset_ns != y->onset_ns)
        return (x->onset_ns > y->onset_ns) - (x->onset_ns < y->onset_ns);
    return (x->trial > y->trial) - (x->trial < y->trial);
}

static int64_t ceil_div(int64_t a, int64_t b) /* b > 0 */
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/* Each trial's bin on the grid starting at `grid0`; counts trials whose bin
 * falls inside another trial's window (their counts would mix). */
static int place_trials(stream_trials *s, const session_stream_options *o, int64_t grid0,
                        int *overlapping, char *err)
{
    int64_t B = o->bin_ns;
    *overlapping = 0;
    for (int i = 0; i < s->n; i++) {
        stream_trial *t = &s->t[i];
        int64_t start = t->onset_ns + o->latency_ns;
        t->bin = ceil_div(start - B / 2 - grid0, B);
        if (grid0 + t->bin * B + B / 2 >= start + o->window_ns)
            return controller_fail(err, "the response window (%lld ns) holds no bin centre of the %lld ns "
                                   "grid: choose a smaller bin", (long long)o->window_ns, (long long)B);
    }
    /* Windows end in onset order: scan outwards from each trial until they cannot reach. */
    for (int i = 0; i < s->n; i++) {
        int64_t centre = grid0 + s->t[i].bin * B + B / 2;
        int mixed = 0;
        for (int j = i - 1; j >= 0 && !mixed; j--) {
            int64_t start = s->t[j].onset_ns + o->latency_ns;
            if (start + o->window_ns <= centre)
                break;
            mixed = centre >= start;
        }
        for (int j = i + 1; j < s->n && !mixed; j++) {
            int64_t start = s->t[j].onset_ns + o->latency_ns;
            if (start > centre)
                break;
            mixed = 1;
        }
        *overlapping += mixed;
    }
    return 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps until stream time `t` under the speed scaling (0: never). */
static void pace(const session_stream_options *o, int64_t wall0, int64_t t0, int64_t t)
{
    if (o->speed <= 0)
        return;
    int64_t due = wall0 + (int64_t)((double)(t - t0) * o->speed), now = now_ns();
    if (due <= now)
        return;
    struct timespec ts = {(time_t)((due - now) / 1000000000), (long)((due - now) % 1000000000)};
    nanosleep(&ts, NULL);
}

static int open_publishers(const session_stream_options *o, acq_publisher **data,
                           acq_publisher **onsets, char *err)
{
    acq_socket_config c = {0};
    c.bind = 1;
    c.allow_remote = o->allow_remote;
    c.hwm = 1000000; /* as fast as possible must not drop at the sender */
    c.endpoint = o->data_endpoint;
    uint32_t epoch = (uint32_t)(now_ns() / 1000000000);
    char aerr[ACQ_ERR_SIZE];
    if (acq_publisher_create(data, NULL, &c, 1, epoch, aerr))
        return controller_fail(err, "data stream: %s", aerr);
    c.endpoint = o->onset_endpoint;
    if (o->onset_endpoint && acq_publisher_create(onsets, NULL, &c, 2, epoch, aerr)) {
        acq_publisher_destroy(*data);
        *data = NULL;
        return controller_fail(err, "onset stream: %s", aerr);
    }
    return 0;
}

static int publish(const stream_trials *s, const session_stream_options *o, acq_publisher *data,
                   acq_publisher *onsets, int64_t grid0, session_stream_summary *out, char *err)
{
    int64_t B = o->bin_ns, N = s->neurons;
    int64_t last_bin = s->t[s->n - 1].bin + (o->latency_ns + o->window_ns) / B + 8;
    for (int i = 0; i < s->n; i++)
        if (s->t[i].bin + 8 > last_bin)
            last_bin = s->t[i].bin + 8;
    float *bin = malloc((size_t)N * sizeof(float));
    if (!bin)
        return controller_fail(err, "out of memory");
    int64_t t0 = s->t[0].onset_ns, wall0 = now_ns();
    int next_onset = 0, next_bin = 0, status = 0;
    for (int64_t k = 0; !status && k <= last_bin; k++) {
        int64_t end = grid0 + (k + 1) * B;
        /* Onsets and their sync edges up to the end of this bin, then the bin. */
        for (; next_onset < s->n && s->t[next_onset].onset_ns < end; next_onset++) {
            const stream_trial *t = &s->t[next_onset];
            pace(o, wall0, t0, t->onset_ns);
            acq_onset on = {(uint64_t)t->trial, (uint64_t)t->image_id, t->onset_ns, 0, 0, 0};
            acq_event e = {t->onset_ns, 0, 1};
            if ((onsets && acq_publisher_onset(onsets, &on, NULL)) ||
                acq_publisher_events(data, t->onset_ns, &e, 1))
                status = controller_fail(err, "publishing trial %lld failed", (long long)t->trial);
            out->onsets += onsets != NULL;
            out->events++;
            if (o->progress)
                o->progress(next_onset + 1, s->n, o->user);
        }
        memset(bin, 0, (size_t)N * sizeof(float));
        /* Bins grow with onsets, so the trials of bin k are the next ones in order. */
        for (; next_bin < s->n && s->t[next_bin].bin == k; next_bin++)
            for (int64_t n = 0; n < N; n++)
                bin[n] += s->counts[s->t[next_bin].offset + (size_t)n];
        pace(o, wall0, t0, end);
        if (!status && acq_publisher_counts(data, end - B, (uint32_t)B, bin, (uint32_t)N,
                                            ACQ_DTYPE_F32))
            status = controller_fail(err, "publishing bin %lld failed", (long long)k);
        out->bins++;
    }
    free(bin);
    return status;
}

/* ------------------------------------------------------------------------ */
/* The received messages as they came */

enum { OUT_COUNTS, OUT_EVENTS, OUT_HEARTBEAT, OUT_ONSET, OUT_SPIKES, OUT_LOSS };

/* One message to send: at `at_ns` (received, or the onset's time). */
typedef struct outgoing {
    int kind;
    int clock_reset;     /* the first item after a GUI stop and start (Open Ephys) */
    int64_t at_ns, timestamp_ns, lost;
    int64_t until_ns;    /* a loss: the span's end; spikes: the last one's arrival */
    int flushed;         /* a bin the receiver sent out at a GUI stop and start */
    int reproduced;      /* a late spike's loss: the spike, sent as it came, opens it */
    uint32_t bin_width_ns;
    int64_t trial, image_id;
    size_t first, count; /* into the floats (counts), the events or the spikes */
    int order;           /* record order: ties keep it */
} outgoing;

typedef struct message_list {
    outgoing *m;
    int n;
    size_t cap;
    float *floats;
    size_t n_floats, cap_floats;
    acq_event *events;
    size_t n_events, cap_events;
    /* spikes: sample, sorted_id and where its electrode's name starts in `names` */
    int64_t *samples;
    int32_t *sorted_ids;
    uint32_t *name_at;
    size_t n_spikes, cap_samples, cap_sorted_ids, cap_name_at;
    char *names;
    size_t n_names, cap_names;
    int units, with_counts;
    int keep_spikes; /* Open Ephys form only: a native replay has no use for them */
} message_list;

static void message_list_free(message_list *l)
{
    free(l->m);
    free(l->floats);
    free(l->events);
    free(l->samples);
    free(l->sorted_ids);
    free(l->name_at);
    free(l->names);
}

static outgoing *message_add(message_list *l)
{
    if (grow_array(&l->m, &l->cap, (size_t)l->n + 1, sizeof *l->m, 1024))
        return NULL;
    outgoing *o = &l->m[l->n];
    memset(o, 0, sizeof *o);
    o->order = l->n++;
    return o;
}

static int floats_add(message_list *l, const void *data, size_t count)
{
    if (grow_array(&l->floats, &l->cap_floats, l->n_floats + count, sizeof(float), 65536))
        return 1;
    memcpy(l->floats + l->n_floats, data, count * sizeof(float));
    l->n_floats += count;
    return 0;
}

static int event_add(message_list *l, const acq_event *e)
{
    if (grow_array(&l->events, &l->cap_events, l->n_events + 1, sizeof *l->events, 1024))
        return 1;
    l->events[l->n_events++] = *e;
    return 0;
}

static int stream_message_add(message_list *l, const record_view *v,
                              const record_stream_message *m, char *err)
{
    int data = !strcmp(m->kind, "data");
    if (data && !m->counts)
        return 0; /* an older record: no bins to send (the trial path then) */
    outgoing *o = message_add(l);
    if (!o)
        return controller_fail(err, "out of memory for the stream");
    o->at_ns = m->received_ns;
    o->timestamp_ns = m->sample_num;
    o->lost = m->lost > 0 ? m->lost : 0;
    o->clock_reset = m->clock_reset != 0;
    if (data) {
        if (m->units < 1 || m->units > ACQ_MAX_UNITS || m->bin_width_ns < 1 ||
            m->bin_width_ns > UINT32_MAX || (l->units && m->units != l->units))
            return controller_fail(err, "stream record at offset %llu: counts are not float32 units "
                                   "with a bin width", (unsigned long long)v->offset);
        l->units = m->units;
        l->with_counts++;
        o->kind = OUT_COUNTS;
        o->bin_width_ns = (uint32_t)m->bin_width_ns;
        o->first = l->n_floats;
        o->count = (size_t)m->units;
        return floats_add(l, m->counts, (size_t)m->units)
                   ? controller_fail(err, "out of memory for the stream")
                   : 0;
    }
    o->kind = !strcmp(m->kind, "event") ? OUT_EVENTS : !strcmp(m->kind, "loss") ? OUT_LOSS
                                                                                : OUT_HEARTBEAT;
    o->until_ns = m->sample_num + (m->num_samples > 0 ? m->num_samples : 0);
    o->first = l->n_events;
    return 0;
}

static int stream_message(message_list *l, const record_view *v, char *err)
{
    record_stream_message m;
    if (record_stream_read(v, &m, err))
        return 1;
    int status = stream_message_add(l, v, &m, err);
    free(m.decoded);
    return status;
}

/* A `spikes` record: its spikes, sent at the batch's first arrival (never
 * later than any of them came, so no spike reaches a bin its receiver has
 * closed). */
static int spikes_add(message_list *l, const record_view *v, const record_spikes *b, char *err)
{
    char *names = NULL;
    size_t n = (size_t)b->count, name_bytes = strlen(b->electrodes);
    /* The batch's names, NUL-terminated one after another; where each starts. */
    uint32_t starts[256];
    int count = 0;
    size_t need = l->n_spikes + n;
    if (grow_array(&l->names, &l->cap_names, l->n_names + name_bytes + 1, 1, 4096) ||
        grow_array(&l->samples, &l->cap_samples, need, sizeof *l->samples, 4096) ||
        grow_array(&l->sorted_ids, &l->cap_sorted_ids, need, sizeof *l->sorted_ids, 4096) ||
        grow_array(&l->name_at, &l->cap_name_at, need, sizeof *l->name_at, 4096))
        return controller_fail(err, "out of memory for the stream");
    if (l->n_names + name_bytes + 1 > UINT32_MAX)
        return controller_fail(err, "over 4 GB of electrode names");
    names = l->names + l->n_names;
    memcpy(names, b->electrodes, name_bytes + 1);
    starts[count++] = (uint32_t)l->n_names;
    for (size_t i = 0; i < name_bytes && count < 256; i++)
        if (names[i] == '\n') {
            names[i] = 0;
            starts[count++] = (uint32_t)(l->n_names + i + 1);
        }
    l->n_names += name_bytes + 1;
    outgoing *o = message_add(l);
    if (!o)
        return controller_fail(err, "out of memory for the stream");
    o->kind = OUT_SPIKES;
    o->at_ns = b->first_received_ns;
    o->until_ns = b->received_ns > b->first_received_ns ? b->received_ns : b->first_received_ns;
    o->first = l->n_spikes;
    o->count = n;
    record_spikes_samples(b, l->samples + l->n_spikes);
    for (size_t i = 0; i < n; i++) {
        if (b->electrode[i] >= count)
            return controller_fail(err, "spikes record at offset %llu: electrode index %d of %d names",
                                   (unsigned long long)v->offset, b->electrode[i], count);
        l->sorted_ids[l->n_spikes + i] = b->sorted_id[i];
        l->name_at[l->n_spikes + i] = starts[b->electrode[i]];
    }
    l->n_spikes += n;
    return 0;
}

static int spikes_message(message_list *l, const record_view *v, char *err)
{
    record_spikes b;
    if (record_spikes_read(v, &b, err))
        return 1;
    int status = spikes_add(l, v, &b, err);
    free(b.decoded);
    return status;
}

/* A sync edge: part of the event message recorded just before it. */
static int sync_edge(message_list *l, const record_view *v, char *err)
{
    record_sync_event e;
    if (record_sync_read(v, &e, err))
        return 1;
    outgoing *o = l->n ? &l->m[l->n - 1] : NULL;
    if (!o || o->kind != OUT_EVENTS)
        return 0; /* an edge without its message (an older record): not sent */
    acq_event edge = {e.sample_num, (uint16_t)e.line, (uint8_t)(e.state != 0)};
    o->count++;
    return event_add(l, &edge) ? controller_fail(err, "out of memory for the stream") : 0;
}

static int onset_message(message_list *l, const record_view *v, char *err)
{
    record_trial t;
    if (record_trial_read(v, &t, err))
        return 1;
    free(t.decoded); /* the onset is all the stream sends of a trial */
    /* Sent when it reached the aligner (the run loop took it from the
     * display), which the aligner's arrival rules timed against the stream:
     * the flip itself came earlier, by however long the loop was busy. */
    int64_t received = t.has_onset_received ? t.onset_received_ns : 0;
    outgoing *o = message_add(l);
    if (!o)
        return controller_fail(err, "out of memory for the stream");
    o->kind = OUT_ONSET;
    o->timestamp_ns = t.onset_ns;
    o->at_ns = received > 0 ? received : t.onset_ns;
    o->trial = t.trial;
    o->image_id = t.image_id;
    return 0;
}

static int visit_message(const record_view *v, void *ctx, char *err)
{
    switch (v->type) {
    case RECORD_STREAM:
        return stream_message(ctx, v, err);
    case RECORD_SYNC:
        return sync_edge(ctx, v, err);
    case RECORD_SPIKES:
        return ((message_list *)ctx)->keep_spikes ? spikes_message(ctx, v, err) : 0;
    case RECORD_TRIAL:
        return onset_message(ctx, v, err);
    }
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const outgoing *x = a, *y = b;
    if (x->at_ns != y->at_ns)
        return (x->at_ns > y->at_ns) - (x->at_ns < y->at_ns);
    return (x->order > y->order) - (x->order < y->order);
}

static int send_one(const message_list *l, const outgoing *m, acq_publisher *data,
                    acq_publisher *onsets, session_stream_summary *out)
{
    if (m->kind == OUT_SPIKES)
        return 0; /* the native format has no spike message */
    if (m->kind == OUT_ONSET) {
        acq_onset on = {(uint64_t)m->trial, (uint64_t)m->image_id, m->timestamp_ns, 0, 0, 0};
        out->onsets += onsets != NULL;
        out->trials++;
        return onsets ? acq_publisher_onset(onsets, &on, NULL) : 0;
    }
    for (int64_t k = 0; k < m->lost; k++)
        acq_publisher_skip(data); /* the sender's gap, as it came */
    if (m->kind == OUT_COUNTS) {
        out->bins++;
        return acq_publisher_counts(data, m->timestamp_ns, m->bin_width_ns,
                                    l->floats + m->first, (uint32_t)m->count, ACQ_DTYPE_F32);
    }
    if (m->kind == OUT_EVENTS) {
        out->events += m->count;
        return acq_publisher_events(data, m->timestamp_ns, l->events + m->first,
                                    (uint32_t)m->count);
    }
    return acq_publisher_heartbeat(data, m->timestamp_ns); /* a heartbeat, or a loss as one */
}

static int publish_messages(const message_list *l, const session_stream_options *o,
                            acq_publisher *data, acq_publisher *onsets,
                            session_stream_summary *out, char *err)
{
    int64_t t0 = l->m[0].at_ns, wall0 = now_ns();
    int total = 0;
    for (int i = 0; i < l->n; i++)
        total += l->m[i].kind == OUT_ONSET;
    for (int i = 0; i < l->n; i++) {
        const outgoing *m = &l->m[i];
        pace(o, wall0, t0, m->at_ns);
        if (send_one(l, m, data, onsets, out))
            return controller_fail(err, "publishing the recorded message %d failed", m->order);
        if (m->kind == OUT_ONSET && o->progress)
            o->progress(out->trials, total, o->user);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The received messages in the Open Ephys plugin's form */

typedef struct oe_sender {
    void *context, *socket;
    uint64_t message_num; /* the last one sent: the plugin counts from 1 */
    double rate;
    int64_t block;        /* the receiver's block around a lost message (oe_block) */
} oe_sender;

/* The block a receiver assumes around a lost message: the default, or the
 * widest data block sent (one recorded bin's samples), as the receiver
 * learns it from num_samples. */
static int64_t oe_block(const message_list *l, double rate)
{
    int64_t block = ACQ_OE_DEFAULT_BLOCK;
    for (int i = 0; i < l->n; i++) {
        int64_t n = llround((double)l->m[i].bin_width_ns * rate / 1e9);
        if (l->m[i].kind == OUT_COUNTS && n > block)
            block = n;
    }
    return block;
}

static int64_t to_sample(const oe_sender *s, int64_t ns)
{
    return (int64_t)llround((double)ns * s->rate / 1e9);
}

static int oe_send(oe_sender *s, const char *envelope, size_t env, const char *json, size_t n,
                   const void *payload, size_t size)
{
    if (n == 0)
        return 1;
    return zmq_send(s->socket, envelope, env, ZMQ_SNDMORE) < 0 ||
           zmq_send(s->socket, json, n, payload ? ZMQ_SNDMORE : 0) < 0 ||
           (payload && zmq_send(s->socket, payload, size, 0) < 0);
}

/* A recorded span of possible loss as the plugin would show it: a gap in
 * message_num between two messages whose samples put the receiver's span
 * (a block before the earlier neighbour to a block after the later,
 * receiver.c) where it was recorded: empty data blocks (num_samples 0: they
 * advance the clock, carry nothing) a block inside each end. A span under
 * two blocks (a spike too late for its bin) cannot be that narrow: both
 * neighbours at its middle give the two blocks around it. The loss that
 * opens a clock goes out as oe_send_opening. The `lost` counts of other
 * items are the same gaps again and are not sent twice. */
static int oe_send_loss(oe_sender *s, const outgoing *m, int64_t unix_ms)
{
    char json[1024];
    int64_t a = to_sample(s, m->timestamp_ns), b = to_sample(s, m->until_ns);
    int64_t before = a + s->block, after = b - s->block;
    if (before > after)
        before = after = a + (b - a) / 2;
    size_t n = acq_oe_data_header(json, sizeof json, ++s->message_num, before, 0, s->rate,
                                  unix_ms);
    if (oe_send(s, "DATA", 5, json, n, NULL, 0))
        return 1;
    s->message_num++; /* the lost message */
    n = acq_oe_data_header(json, sizeof json, ++s->message_num, after, 0, s->rate, unix_ms);
    return oe_send(s, "DATA", 5, json, n, NULL, 0);
}

/* The loss that opens a clock (the unknown before the first message seen,
 * at the start or after a GUI stop and start): a receiver opens it itself,
 * three blocks before the first message it sees. So that first message, an
 * empty data block at the span's end, goes out when the recorded one came:
 * the same span, and the new clock's start reaches the aligner when it did
 * (it times onsets shown while acquisition was stopped against it: sent
 * with whatever message came next, a bin up to a block later, it flagged an
 * onset that came 100 ms before it as shown while stopped). */
static int oe_send_opening(oe_sender *s, const outgoing *m, int64_t unix_ms)
{
    char json[1024];
    size_t n = acq_oe_data_header(json, sizeof json, ++s->message_num,
                                  to_sample(s, m->until_ns), 0, s->rate, unix_ms);
    return oe_send(s, "DATA", 5, json, n, NULL, 0);
}

/* The first sample whose time (acq_binner_time_ns) is at least `ns`. */
static int64_t first_sample_at(const oe_sender *s, int64_t ns)
{
    int64_t x = (int64_t)ceil((double)ns * s->rate / 1e9);
    while (llround((double)(x - 1) / s->rate * 1e9) >= ns)
        x--;
    while (llround((double)x / s->rate * 1e9) < ns)
        x++;
    return x;
}

/* A recorded bin: a data block of its width, the receiver's clock. The
 * record holds a bin when the receiver closed it, and a receiver closes a
 * bin once a sample two blocks and two bins (ACQ_OE_GRACE_BINS) past its
 * end was seen: the block ends there, so the replay's receiver closes each
 * bin when the recorded one closed, no sooner (a spike that came in time
 * comes in time again) and no later (one that came too late comes too late
 * again). Bins sent out at a GUI stop and start were never closed so: their
 * blocks lie over them, and the restart sends out the same ones again. */
static int oe_send_bin(oe_sender *s, const outgoing *m, int64_t unix_ms,
                       session_stream_summary *out)
{
    char json[1024];
    int64_t first = to_sample(s, m->timestamp_ns);
    int64_t last = to_sample(s, m->timestamp_ns + m->bin_width_ns);
    if (!m->flushed) {
        int64_t closes = first_sample_at(s, m->timestamp_ns + (int64_t)m->bin_width_ns *
                                                                  (1 + ACQ_OE_GRACE_BINS)) +
                         2 * s->block;
        first += closes - last;
        last = closes;
    }
    size_t n = acq_oe_data_header(json, sizeof json, ++s->message_num, first, last - first,
                                  s->rate, unix_ms);
    out->bins++;
    return oe_send(s, "DATA", 5, json, n, NULL, 0);
}

static int oe_send_one(oe_sender *s, const message_list *l, const outgoing *m,
                       acq_publisher *onsets, session_stream_summary *out)
{
    char json[1024];
    int64_t unix_ms = (int64_t)time(NULL) * 1000;
    if (m->kind == OUT_ONSET)
        return send_one(l, m, NULL, onsets, out);
    if (m->kind == OUT_HEARTBEAT)
        return 0; /* the plugin's data socket has none */
    if (m->clock_reset)
        s->message_num = 0; /* the GUI stopped and started: the plugin counts from 1 again */
    if (m->kind == OUT_LOSS && m->reproduced)
        return 0; /* its late spike opens it again (oe_split_late_spikes) */
    if (m->kind == OUT_LOSS)
        return s->message_num ? oe_send_loss(s, m, unix_ms) : oe_send_opening(s, m, unix_ms);
    if (m->kind == OUT_SPIKES) {
        for (size_t i = m->first; i < m->first + m->count; i++) {
            size_t n = acq_oe_spike_header(json, sizeof json, ++s->message_num,
                                           l->names + l->name_at[i], l->samples[i],
                                           l->sorted_ids[i], unix_ms);
            if (oe_send(s, "EVENT", 6, json, n, NULL, 0))
                return 1;
        }
        out->spikes += m->count;
        return 0;
    }
    if (m->kind == OUT_EVENTS) {
        for (size_t i = m->first; i < m->first + m->count; i++) {
            const acq_event *e = &l->events[i];
            uint8_t payload[10] = {(uint8_t)e->line, e->rising};
            size_t n = acq_oe_ttl_header(json, sizeof json, ++s->message_num,
                                         to_sample(s, e->timestamp_ns), unix_ms);
            if (oe_send(s, "EVENT", 6, json, n, payload, sizeof payload))
                return 1;
        }
        out->events += m->count;
        return 0;
    }
    return oe_send_bin(s, m, unix_ms, out);
}

static int oe_open(oe_sender *s, const session_stream_options *o, char *err)
{
    char aerr[ACQ_ERR_SIZE];
    int hwm = 1000000; /* as fast as possible must not drop at the sender */
    memset(s, 0, sizeof *s);
    s->rate = o->sample_rate;
    if (!(o->sample_rate > 0 && o->sample_rate < 1e7))
        return controller_fail(err, "sample rate %g Hz out of range", o->sample_rate);
    if (acq_endpoint_check(o->data_endpoint, o->allow_remote, aerr))
        return controller_fail(err, "data stream: %s", aerr);
    s->context = zmq_ctx_new();
    s->socket = s->context ? zmq_socket(s->context, ZMQ_PUB) : NULL;
    if (!s->socket || zmq_setsockopt(s->socket, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_bind(s->socket, o->data_endpoint))
        return controller_fail(err, "data stream %s: %s", o->data_endpoint, zmq_strerror(zmq_errno()));
    return 0;
}

static void oe_close(oe_sender *s)
{
    int zero = 0;
    if (s->socket) {
        zmq_setsockopt(s->socket, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(s->socket);
    }
    if (s->context)
        zmq_ctx_term(s->context);
}

/* The end: the plugin goes on sending data blocks while the GUI acquires,
 * and a receiver closes a bin only once the clock is two blocks and two
 * bins past it. Data blocks from the end of the last recorded bin that far
 * on let it close every bin the record holds (those after it carry no
 * spikes: the record has none past what was received). Blocks of the
 * receiver's block size: a longer one would make it keep bins open longer. */
static int oe_send_closing(oe_sender *s, const message_list *l)
{
    const outgoing *last = NULL;
    for (int i = 0; i < l->n; i++)
        if (l->m[i].kind == OUT_COUNTS)
            last = &l->m[i]; /* sent in time order: the latest clock's last bin */
    if (!last)
        return 0;
    char json[1024];
    int64_t end = to_sample(s, last->timestamp_ns + last->bin_width_ns);
    int64_t bin = to_sample(s, last->bin_width_ns);
    for (int64_t at = end; at <= end + 2 * s->block + 2 * bin; at += s->block) {
        size_t n = acq_oe_data_header(json, sizeof json, ++s->message_num, at, s->block,
                                      s->rate, (int64_t)time(NULL) * 1000);
        if (oe_send(s, "DATA", 5, json, n, NULL, 0))
            return 1;
    }
    return 0;
}

/* A spike too late for its bin (the receiver's one-sample span of possible
 * loss) goes out again as it came: its batch, sent at its first spike's
 * arrival, is split where the spike stands, and the spikes from it on go
 * out when the loss was recorded (the late spike's arrival; those after it
 * came later still), after the data block that closed its bin: the
 * receiver finds it late again and opens the same one-sample span. A spike
 * of the same sample number that came before it in the batch may be the one
 * sent late instead: the same span either way. The batch holding the spike
 * is the one whose arrivals span the loss's time; none (a batch the full
 * queue dropped): the span goes out as a gap (oe_send_loss). */
static int oe_split_late_spikes(message_list *l, double rate)
{
    int n = l->n;
    for (int i = 0; i < n; i++) {
        if (l->m[i].kind != OUT_LOSS || l->m[i].clock_reset)
            continue;
        int64_t at = l->m[i].at_ns, a = llround((double)l->m[i].timestamp_ns * rate / 1e9);
        if (llround((double)l->m[i].until_ns * rate / 1e9) - a != 1)
            continue;
        for (int j = 0; j < l->n; j++) {
            outgoing *b = &l->m[j];
            if (b->kind != OUT_SPIKES || b->at_ns > at || b->until_ns < at)
                continue;
            size_t k = b->first, end = b->first + b->count;
            while (k < end && l->samples[k] != a)
                k++;
            if (k == end)
                continue;
            l->m[i].reproduced = 1;
            if (k == b->first) /* the batch's first: it goes out when it came */
                break;
            outgoing *rest = message_add(l); /* may move l->m */
            if (!rest)
                return 1;
            b = &l->m[j];
            rest->kind = OUT_SPIKES;
            rest->at_ns = at;
            rest->until_ns = b->until_ns;
            rest->first = k;
            rest->count = end - k;
            b->count = k - b->first;
            b->until_ns = at;
            break;
        }
    }
    return 0;
}

/* The bins a receiver sent out at a GUI stop and start (recorded at the
 * new clock's first message, before its loss): the only ones a replay's
 * data blocks must not carry the clock past (oe_send_bin). */
static void oe_mark_flushed(message_list *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->m[i].kind == OUT_LOSS && l->m[i].clock_reset)
            for (int j = i - 1; j >= 0 && l->m[j].at_ns == l->m[i].at_ns; j--)
                l->m[j].flushed = l->m[j].kind == OUT_COUNTS;
}

static int replay_openephys(message_list *l, const session_stream_options *o,
                            session_stream_summary *out, char *err)
{
    if (l->n_spikes == 0)
        return controller_fail(err, "the record holds no spikes: only a session recorded from Open Ephys "
                               "(`spikes` records) can be sent in its format");
    if (oe_split_late_spikes(l, o->sample_rate))
        return controller_fail(err, "out of memory for the stream");
    qsort(l->m, (size_t)l->n, sizeof *l->m, by_time);
    oe_mark_flushed(l);
    oe_sender s;
    acq_publisher *onsets = NULL;
    int status = oe_open(&s, o, err);
    s.block = oe_block(l, s.rate);
    if (!status && o->onset_endpoint) {
        acq_socket_config c = {.endpoint = o->onset_endpoint, .bind = 1,
                               .allow_remote = o->allow_remote, .hwm = 1000000};
        char aerr[ACQ_ERR_SIZE];
        if (acq_publisher_create(&onsets, NULL, &c, 2, (uint32_t)(now_ns() / 1000000000), aerr))
            status = controller_fail(err, "onset stream: %s", aerr);
    }
    if (!status) {
        struct timespec ts = {o->wait_ms / 1000, (long)(o->wait_ms % 1000) * 1000000};
        nanosleep(&ts, NULL); /* subscribers connect: a PUB drops what comes before */
        int64_t start = now_ns(), t0 = l->m[0].at_ns, wall0 = start;
        int total = 0;
        for (int i = 0; i < l->n; i++)
            total += l->m[i].kind == OUT_ONSET;
        out->neurons = l->units;
        out->as_recorded = 1;
        for (int i = 0; i < l->n && !status; i++) {
            const outgoing *m = &l->m[i];
            pace(o, wall0, t0, m->at_ns);
            if (oe_send_one(&s, l, m, onsets, out))
                status = controller_fail(err, "publishing the recorded message %d failed", m->order);
            if (m->kind == OUT_ONSET && o->progress)
                o->progress(out->trials, total, o->user);
        }
        if (!status && oe_send_closing(&s, l))
            status = controller_fail(err, "publishing the closing data block failed");
        out->seconds = (double)(now_ns() - start) * 1e-9;
        nanosleep(&ts, NULL); /* let the last messages leave before the sockets close */
    }
    oe_close(&s);
    acq_publisher_destroy(onsets);
    return status;
}

static int replay_messages(message_list *l, const session_stream_options *o,
                           session_stream_summary *out, char *err)
{
    if (o->format == ACQ_FORMAT_OPENEPHYS)
        return replay_openephys(l, o, out, err);
    qsort(l->m, (size_t)l->n, sizeof *l->m, by_time);
    acq_publisher *data = NULL, *onsets = NULL;
    int status = open_publishers(o, &data, &onsets, err);
    if (!status) {
        struct timespec ts = {o->wait_ms / 1000, (long)(o->wait_ms % 1000) * 1000000};
        nanosleep(&ts, NULL); /* subscribers connect: a PUB drops what comes before */
        int64_t start = now_ns();
        out->neurons = l->units;
        out->as_recorded = 1;
        status = publish_messages(l, o, data, onsets, out, err);
        out->seconds = (double)(now_ns() - start) * 1e-9;
        nanosleep(&ts, NULL); /* let the last messages leave before the sockets close */
    }
    acq_publisher_destroy(data);
    acq_publisher_destroy(onsets);
    return status;
}

/* ------------------------------------------------------------------------ */

int session_stream_replay(const char *session_dir, const session_stream_options *o,
                          session_stream_summary *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (o->bin_ns < 1000 || o->bin_ns > 4000000000LL || o->window_ns < 1 || o->latency_ns < 0)
        return controller_fail(err, "bin width, latency or window out of range");
    message_list l;
    memset(&l, 0, sizeof l);
    l.keep_spikes = o->format == ACQ_FORMAT_OPENEPHYS;
    int recorded = session_record_each(session_dir, visit_message, &l, NULL, err);
    if (!recorded && l.with_counts) {
        recorded = replay_messages(&l, o, out, err);
        message_list_free(&l);
        return recorded;
    }
    message_list_free(&l);
    if (recorded)
        return 1;
    if (o->format == ACQ_FORMAT_OPENEPHYS)
        return controller_fail(err, "%s: no received bins or spikes in the record: only a session "
                               "`inception run` recorded from Open Ephys can be sent in its format",
                               session_dir);
    stream_trials s;
    memset(&s, 0, sizeof s);
    if (read_trials(session_dir, &s, err)) {
        stream_trials_free(&s);
        return 1;
    }
    qsort(s.t, (size_t)s.n, sizeof *s.t, by_onset);
    int64_t grid0 = s.t[0].onset_ns - o->bin_ns; /* one quiet bin before the first onset */
    int status = place_trials(&s, o, grid0, &out->overlapping, err);
    acq_publisher *data = NULL, *onsets = NULL;
    status = status || open_publishers(o, &data, &onsets, err);
    if (!status) {
        struct timespec ts = {o->wait_ms / 1000, (long)(o->wait_ms % 1000) * 1000000};
        nanosleep(&ts, NULL); /* subscribers connect: a PUB drops what comes before */
        int64_t start = now_ns();
        out->trials = s.n;
        out->neurons = s.neurons;
        status = publish(&s, o, data, onsets, grid0, out, err);
        out->seconds = (double)(now_ns() - start) * 1e-9;
        nanosleep(&ts, NULL); /* let the last messages leave before the sockets close */
    }
    acq_publisher_destroy(data);
    acq_publisher_destroy(onsets);
    stream_trials_free(&s);
    return status;
}
