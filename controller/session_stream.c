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
#include "controller.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CONTROLLER_ERR_SIZE, fmt, ap);
    va_end(ap);
    return 1;
}

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
}

typedef struct stream_trial {
    int64_t trial, image_id, onset_ns, bin;
    size_t offset; /* into the counts */
} stream_trial;

typedef struct stream_trials {
    stream_trial *t;
    int n, cap, neurons;
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
    stream_trial t;
    record_field f;
    if (record_get_i64(v->payload, v->length, "trial", &t.trial) ||
        record_get_i64(v->payload, v->length, "image_id", &t.image_id) ||
        record_get_i64(v->payload, v->length, "onset_ns", &t.onset_ns) ||
        record_field_find(v->payload, v->length, "counts", &f) || f.dtype != RECORD_F32 ||
        f.ndim != 1 || f.count < 1 || f.count > ACQ_MAX_UNITS)
        return fail(err, "trial record at offset %llu: no trial, image_id, onset_ns or counts",
                    (unsigned long long)v->offset);
    if (s->n == 0)
        s->neurons = (int)f.count;
    else if ((int)f.count != s->neurons)
        return fail(err, "trial %lld has %zu counts, earlier trials %d", (long long)t.trial,
                    f.count, s->neurons);
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        stream_trial *a = realloc(s->t, (size_t)cap * sizeof *a);
        float *c = realloc(s->counts, (size_t)cap * f.count * sizeof(float));
        if (a)
            s->t = a;
        if (c)
            s->counts = c;
        if (!a || !c)
            return fail(err, "out of memory for the trials");
        s->cap = cap;
    }
    t.offset = s->n_counts;
    t.bin = 0;
    memcpy(s->counts + s->n_counts, f.data, f.count * sizeof(float));
    s->n_counts += f.count;
    s->t[s->n++] = t;
    return 0;
}

static int visit_trial(const record_view *v, void *ctx, char *err)
{
    return v->type == RECORD_TRIAL ? add_trial(ctx, v, err) : 0;
}

static int read_trials(const char *dir, stream_trials *s, char *err)
{
    if (session_record_each(dir, visit_trial, s, NULL, err))
        return 1;
    return s->n == 0 ? fail(err, "%s/%s: no trial records to stream", dir, RECORD_FILE_NAME) : 0;
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
            return fail(err, "the response window (%lld ns) holds no bin centre of the %lld ns "
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
        return fail(err, "data stream: %s", aerr);
    c.endpoint = o->onset_endpoint;
    if (o->onset_endpoint && acq_publisher_create(onsets, NULL, &c, 2, epoch, aerr)) {
        acq_publisher_destroy(*data);
        *data = NULL;
        return fail(err, "onset stream: %s", aerr);
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
        return fail(err, "out of memory");
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
                status = fail(err, "publishing trial %lld failed", (long long)t->trial);
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
            status = fail(err, "publishing bin %lld failed", (long long)k);
        out->bins++;
    }
    free(bin);
    return status;
}

/* ------------------------------------------------------------------------ */
/* The received messages as they came */

enum { OUT_COUNTS, OUT_EVENTS, OUT_HEARTBEAT, OUT_ONSET };

/* One message to send: at `at_ns` (received, or the onset's time). */
typedef struct outgoing {
    int kind;
    int64_t at_ns, timestamp_ns, lost;
    uint32_t bin_width_ns;
    int64_t trial, image_id;
    size_t first, count; /* into the floats (counts) or the events */
    int order;           /* record order: ties keep it */
} outgoing;

typedef struct message_list {
    outgoing *m;
    int n, cap;
    float *floats;
    size_t n_floats, cap_floats;
    acq_event *events;
    size_t n_events, cap_events;
    int units, with_counts;
} message_list;

static void message_list_free(message_list *l)
{
    free(l->m);
    free(l->floats);
    free(l->events);
}

static outgoing *message_add(message_list *l)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 1024;
        outgoing *m = realloc(l->m, (size_t)cap * sizeof *m);
        if (!m)
            return NULL;
        l->m = m;
        l->cap = cap;
    }
    outgoing *o = &l->m[l->n];
    memset(o, 0, sizeof *o);
    o->order = l->n++;
    return o;
}

static int floats_add(message_list *l, const void *data, size_t count)
{
    if (l->n_floats + count > l->cap_floats) {
        size_t cap = l->cap_floats ? 2 * l->cap_floats : 65536;
        while (cap < l->n_floats + count)
            cap *= 2;
        float *f = realloc(l->floats, cap * sizeof(float));
        if (!f)
            return 1;
        l->floats = f;
        l->cap_floats = cap;
    }
    memcpy(l->floats + l->n_floats, data, count * sizeof(float));
    l->n_floats += count;
    return 0;
}

static int event_add(message_list *l, const acq_event *e)
{
    if (l->n_events == l->cap_events) {
        size_t cap = l->cap_events ? 2 * l->cap_events : 1024;
        acq_event *a = realloc(l->events, cap * sizeof *a);
        if (!a)
            return 1;
        l->events = a;
        l->cap_events = cap;
    }
    l->events[l->n_events++] = *e;
    return 0;
}

static int stream_message(message_list *l, const record_view *v, char *err)
{
    char kind[32] = "";
    int64_t t, lost = 0, received, width = 0;
    record_field f;
    if (record_get_text(v->payload, v->length, "kind", kind, sizeof kind) ||
        record_get_i64(v->payload, v->length, "sample_num", &t) ||
        record_get_i64(v->payload, v->length, "received_ns", &received))
        return fail(err, "stream record at offset %llu: no kind, sample_num or received_ns",
                    (unsigned long long)v->offset);
    record_get_i64(v->payload, v->length, "lost", &lost);
    int has_counts = !record_field_find(v->payload, v->length, "counts", &f);
    if (!strcmp(kind, "data") && !has_counts)
        return 0; /* an older record: no bins to send (the trial path then) */
    outgoing *o = message_add(l);
    if (!o)
        return fail(err, "out of memory for the stream");
    o->at_ns = received;
    o->timestamp_ns = t;
    o->lost = lost > 0 ? lost : 0;
    if (!strcmp(kind, "data")) {
        record_get_i64(v->payload, v->length, "bin_width_ns", &width);
        if (f.dtype != RECORD_F32 || f.ndim != 1 || f.count < 1 || f.count > ACQ_MAX_UNITS ||
            width < 1 || width > UINT32_MAX || (l->units && (int)f.count != l->units))
            return fail(err, "stream record at offset %llu: counts are not float32 units "
                        "with a bin width", (unsigned long long)v->offset);
        l->units = (int)f.count;
        l->with_counts++;
        o->kind = OUT_COUNTS;
        o->bin_width_ns = (uint32_t)width;
        o->first = l->n_floats;
        o->count = f.count;
        return floats_add(l, f.data, f.count) ? fail(err, "out of memory for the stream") : 0;
    }
    o->kind = !strcmp(kind, "event") ? OUT_EVENTS : OUT_HEARTBEAT;
    o->first = l->n_events;
    return 0;
}

/* A sync edge: part of the event message recorded just before it. */
static int sync_edge(message_list *l, const record_view *v, char *err)
{
    int64_t line, state, t;
    if (record_get_i64(v->payload, v->length, "line", &line) ||
        record_get_i64(v->payload, v->length, "state", &state) ||
        record_get_i64(v->payload, v->length, "sample_num", &t))
        return fail(err, "sync record at offset %llu: no line, state or sample_num",
                    (unsigned long long)v->offset);
    outgoing *o = l->n ? &l->m[l->n - 1] : NULL;
    if (!o || o->kind != OUT_EVENTS)
        return 0; /* an edge without its message (an older record): not sent */
    acq_event e = {t, (uint16_t)line, (uint8_t)(state != 0)};
    o->count++;
    return event_add(l, &e) ? fail(err, "out of memory for the stream") : 0;
}

static int onset_message(message_list *l, const record_view *v, char *err)
{
    int64_t trial, image_id, onset;
    if (record_get_i64(v->payload, v->length, "trial", &trial) ||
        record_get_i64(v->payload, v->length, "image_id", &image_id) ||
        record_get_i64(v->payload, v->length, "onset_ns", &onset))
        return fail(err, "trial record at offset %llu: no trial, image_id or onset_ns",
                    (unsigned long long)v->offset);
    outgoing *o = message_add(l);
    if (!o)
        return fail(err, "out of memory for the stream");
    o->kind = OUT_ONSET;
    o->at_ns = o->timestamp_ns = onset;
    o->trial = trial;
    o->image_id = image_id;
    return 0;
}

static int visit_message(const record_view *v, void *ctx, char *err)
{
    switch (v->type) {
    case RECORD_STREAM:
        return stream_message(ctx, v, err);
    case RECORD_SYNC:
        return sync_edge(ctx, v, err);
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
    return acq_publisher_heartbeat(data, m->timestamp_ns);
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
            return fail(err, "publishing the recorded message %d failed", m->order);
        if (m->kind == OUT_ONSET && o->progress)
            o->progress(out->trials, total, o->user);
    }
    return 0;
}

static int replay_messages(message_list *l, const session_stream_options *o,
                           session_stream_summary *out, char *err)
{
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
        return fail(err, "bin width, latency or window out of range");
    message_list l;
    memset(&l, 0, sizeof l);
    int recorded = session_record_each(session_dir, visit_message, &l, NULL, err);
    if (!recorded && l.with_counts) {
        recorded = replay_messages(&l, o, out, err);
        message_list_free(&l);
        return recorded;
    }
    message_list_free(&l);
    if (recorded)
        return 1;
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
