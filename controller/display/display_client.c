/* display_client.c: the controller's side of a remote display. A DEALER
 * socket to the display's ROUTER. Preloading and starting a block wait for
 * the display's REPLY; submits do not (a refusal comes back later and fails
 * the next submit). Events that arrive while a call waits for its answer are
 * kept in order for display_client_next_event. The offset between the two
 * clocks comes from ping/pong: see display_client_sync_clock. */
#include "acquisition.h"
#include "display/display.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* How long closing waits for queued messages to reach the display. */
#define DISPLAY_CLIENT_LINGER_MS 500

struct display_client {
    void *context, *socket;
    int timeout_ms;
    display_message config;     /* the CONFIG answer: geometry, period, status */
    display_clock clock;
    int images, sounds;
    int block_running;
    int64_t outstanding;        /* submitted, TRIAL event not yet seen */
    presenter_event *pending;   /* events received while waiting for an answer */
    int pending_head, pending_count, pending_capacity;
    presenter_summary summary;
    int have_sequence;
    uint32_t next_sequence;
    uint64_t events_lost, server_bad, server_dropped;
    int refused;                /* a SUBMIT was refused: its reason fails the next submit */
    char refusal[DISPLAY_TEXT_SIZE];
    uint8_t *buffer;
    size_t buffer_capacity;
};

/* ---- sending ---- */

static int send_message(display_client *c, display_message *m)
{
    size_t size = display_message_size(m);
    if (size > c->buffer_capacity) {
        uint8_t *grown = realloc(c->buffer, size);
        if (!grown)
            return 1;
        c->buffer = grown;
        c->buffer_capacity = size;
    }
    display_message_encode(m, c->buffer, c->buffer_capacity);
    return zmq_send(c->socket, c->buffer, size, 0) < 0;
}

static int send_empty(display_client *c, int type)
{
    display_message m = {.type = type};
    return send_message(c, &m);
}

/* ---- receiving ---- */

static int64_t to_controller(const display_client *c, int64_t t)
{
    return t ? t - c->clock.offset_ns : 0;
}

static void keep_event(display_client *c, const presenter_event *e)
{
    if (c->pending_count == c->pending_capacity) {
        int n = c->pending_capacity ? 2 * c->pending_capacity : 256;
        presenter_event *grown = malloc((size_t)n * sizeof *grown);
        if (!grown) {
            c->events_lost++;
            return;
        }
        for (int i = 0; i < c->pending_count; i++)
            grown[i] = c->pending[(c->pending_head + i) % c->pending_capacity];
        free(c->pending);
        c->pending = grown;
        c->pending_head = 0;
        c->pending_capacity = n;
    }
    c->pending[(c->pending_head + c->pending_count++) % c->pending_capacity] = *e;
}

/* An event as the caller sees it: on this machine's clock, bookkeeping done. */
static void take_event(display_client *c, const display_message *m)
{
    presenter_event e = m->event;
    e.onset_ns = to_controller(c, e.onset_ns);
    e.offset_ns = to_controller(c, e.offset_ns);
    e.end_ns = to_controller(c, e.end_ns);
    e.sound_onset_ns = to_controller(c, e.sound_onset_ns);
    if (e.kind == PRESENTER_EVENT_TRIAL && c->outstanding > 0)
        c->outstanding--;
    if (e.kind == PRESENTER_EVENT_BLOCK_END) {
        c->summary = m->summary;
        c->block_running = 0;
        c->outstanding = 0;
    }
    keep_event(c, &e);
}

static void count_sequence(display_client *c, uint32_t sequence)
{
    if (c->have_sequence && sequence != c->next_sequence)
        c->events_lost += (uint32_t)(sequence - c->next_sequence);
    c->have_sequence = 1;
    c->next_sequence = sequence + 1;
}

/* Waits up to timeout_ms for one message; events are queued, everything
 * else returned in *m. 1 a non-event message, 0 an event or nothing. */
static int receive(display_client *c, display_message *m, int timeout_ms)
{
    zmq_pollitem_t item = {c->socket, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int got = zmq_msg_recv(&msg, c->socket, ZMQ_DONTWAIT) >= 0, other = 0;
    char err[CONTROLLER_ERR_SIZE];
    if (got && !display_message_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), m, err)) {
        count_sequence(c, m->sequence);
        if (m->type == DISPLAY_EVENT)
            take_event(c, m);
        else if (m->type == DISPLAY_PONG) {
            c->server_bad = m->bad_messages;
            c->server_dropped = m->events_dropped;
            other = 1;
        } else if (m->type == DISPLAY_REPLY && m->reply_to == DISPLAY_SUBMIT) {
            c->refused = 1;
            snprintf(c->refusal, sizeof c->refusal, "trial %lld: %s", (long long)m->id,
                     m->text);
            if (c->outstanding > 0)
                c->outstanding--;
        } else
            other = 1;
    }
    zmq_msg_close(&msg);
    return other;
}

/* Waits for a message of `type` (answering `reply_to` for REPLY). */
static int await(display_client *c, int type, int reply_to, display_message *m, char *err)
{
    int64_t deadline = acq_now_ns() + (int64_t)c->timeout_ms * 1000000;
    for (int64_t now = acq_now_ns(); now < deadline; now = acq_now_ns()) {
        if (receive(c, m, (int)((deadline - now) / 1000000) + 1) && m->type == type &&
            (type != DISPLAY_REPLY || m->reply_to == reply_to))
            return 0;
    }
    return controller_fail(err, "the display did not answer within %d ms",
                           c->timeout_ms);
}

/* ---- clock ---- */

/* One round trip: t0 here, the display's clock t_d when it answered, t1
 * here. t_d was read somewhere in [t0, t1] on our clock, so the offset
 * t_d − (t0 + t1)/2 is exact to within ± (t1 − t0)/2: the shortest round
 * trip of many gives the tightest bound. */
int display_client_sync_clock(display_client *c, int pings, char *err)
{
    display_clock best = {0, INT64_MAX, INT64_MAX, 0};
    for (int i = 0; i < pings; i++) {
        display_message ping = {.type = DISPLAY_PING, .client_ns = acq_now_ns()}, pong;
        if (send_message(c, &ping))
            return controller_fail(err, "ping: %s", zmq_strerror(zmq_errno()));
        do {
            if (await(c, DISPLAY_PONG, 0, &pong, err))
                return 1;
        } while (pong.client_ns != ping.client_ns);
        int64_t t1 = acq_now_ns(), rtt = t1 - ping.client_ns;
        if (rtt < best.round_trip_ns) {
            best.round_trip_ns = rtt;
            best.uncertainty_ns = (rtt + 1) / 2;
            best.offset_ns = pong.display_ns - (ping.client_ns + rtt / 2);
        }
        best.pings++;
    }
    c->clock = best;
    return 0;
}

void display_client_clock(const display_client *c, display_clock *out) { *out = c->clock; }

/* ---- life ---- */

int display_client_create(display_client **out, const display_client_config *cfg, char *err)
{
    const char *endpoint = cfg->endpoint ? cfg->endpoint : DISPLAY_DEFAULT_ENDPOINT;
    *out = NULL;
    if (acq_endpoint_check(endpoint, cfg->allow_remote, err))
        return 1;
    display_client *c = calloc(1, sizeof *c);
    if (!c)
        return controller_fail(err, "out of memory");
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    c->context = zmq_ctx_new();
    c->socket = c->context ? zmq_socket(c->context, ZMQ_DEALER) : NULL;
    int linger = 0, hwm = 0; /* unbounded receive: the events are the record */
    /* What the display sends back (config, pongs, replies, events with a
     * block summary) is a few hundred bytes: 64 KiB is far beyond it. */
    int64_t max_message = 65536;
    if (!c->socket || zmq_setsockopt(c->socket, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(c->socket, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(c->socket, ZMQ_MAXMSGSIZE, &max_message, sizeof max_message) ||
        zmq_connect(c->socket, endpoint)) {
        controller_fail(err, "display %s: %s", endpoint, zmq_strerror(zmq_errno()));
        display_client_destroy(c);
        return 1;
    }
    if (send_empty(c, DISPLAY_HELLO) || await(c, DISPLAY_CONFIG, 0, &c->config, err) ||
        display_client_sync_clock(c, cfg->pings > 0 ? cfg->pings : 32, err)) {
        char reason[CONTROLLER_ERR_SIZE];
        snprintf(reason, sizeof reason, "%s", err);
        controller_fail(err, "display %s: %s", endpoint, reason);
        display_client_destroy(c);
        return 1;
    }
    c->images = c->config.images;
    *out = c;
    return 0;
}

void display_client_destroy(display_client *c)
{
    if (!c)
        return;
    /* What is still queued (an ABORT of the last block, above all) gets this
     * long to go out; a display that is gone does not hold us longer. */
    int linger = DISPLAY_CLIENT_LINGER_MS;
    if (c->socket) {
        zmq_setsockopt(c->socket, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(c->socket);
    }
    if (c->context)
        zmq_ctx_term(c->context);
    free(c->pending);
    free(c->buffer);
    free(c);
}

const char *display_client_status(const display_client *c) { return c->config.text; }
double display_client_period_ms(const display_client *c) { return c->config.period_ms; }
void display_client_drawable_size(const display_client *c, int *width, int *height)
{
    *width = c->config.drawable_width;
    *height = c->config.drawable_height;
}

/* ---- preloading and blocks ---- */

static int await_reply(display_client *c, int request, int *id, char *err)
{
    display_message m;
    if (await(c, DISPLAY_REPLY, request, &m, err))
        return 1;
    if (m.status)
        return controller_fail(err, "display: %s", m.text);
    if (id)
        *id = (int)m.id;
    return 0;
}

static void floats_to_le(const float *x, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = (uint8_t)(u >> 8 * k);
    }
}

static int send_samples(display_client *c, display_message *m, const float *x, size_t n,
                        char *err)
{
    uint8_t *bytes = malloc(n * 4);
    if (!bytes)
        return controller_fail(err, "out of memory");
    floats_to_le(x, n, bytes);
    m->payload = bytes;
    m->payload_size = n * 4;
    int rc = send_message(c, m);
    free(bytes);
    if (rc)
        controller_fail(err, "send: %s", zmq_strerror(zmq_errno()));
    return rc;
}

int display_client_add_image(display_client *c, const float *pixels, int height, int width,
                             int *id, char *err)
{
    if (height < 1 || width < 1 || height > DISPLAY_MAX_IMAGE_SIDE ||
        width > DISPLAY_MAX_IMAGE_SIDE) {
        return controller_fail(err, "image %d×%d: want 1..%d a side", height, width,
                               DISPLAY_MAX_IMAGE_SIDE);
    }
    display_message m = {.type = DISPLAY_IMAGE, .height = height, .width = width,
                         .pixel_type = DISPLAY_PIXELS_FLOAT32};
    if (send_samples(c, &m, pixels, (size_t)height * (size_t)width, err) ||
        await_reply(c, DISPLAY_IMAGE, id, err))
        return 1;
    c->images = *id + 1;
    return 0;
}

int display_client_add_sound_samples(display_client *c, const float *samples, int frames,
                                     int channels, int rate, int *id, char *err)
{
    if (channels < 1 || channels > 8 || frames < 1 ||
        frames > DISPLAY_MAX_SOUND_SAMPLES / channels) {
        return controller_fail(err, "sound of %d frames × %d channels: out of range",
                               frames, channels);
    }
    display_message m = {.type = DISPLAY_SOUND, .sound_frames = frames, .channels = channels,
                         .rate = rate};
    if (send_samples(c, &m, samples, (size_t)frames * (size_t)channels, err) ||
        await_reply(c, DISPLAY_SOUND, id, err))
        return 1;
    c->sounds = *id + 1;
    return 0;
}

int display_client_start_block(display_client *c, char *err)
{
    if (send_empty(c, DISPLAY_START_BLOCK) || await_reply(c, DISPLAY_START_BLOCK, NULL, err))
        return 1;
    c->block_running = 1;
    c->outstanding = 0;
    c->refused = 0;
    memset(&c->summary, 0, sizeof c->summary);
    return 0;
}

int display_client_submit(display_client *c, const presenter_request *r, char *err)
{
    display_message m;
    while (receive(c, &m, 0)) /* take what has arrived: events free queue slots */
        ;
    if (c->refused) {
        c->refused = 0;
        controller_fail(err, "display refused %s", c->refusal);
        return -1;
    }
    if (!c->block_running) {
        controller_fail(err, "no block running on the display");
        return -1;
    }
    if (r->image < -1 || r->image >= c->images || r->sound < -1 || r->sound >= c->sounds ||
        r->frames < 0 || r->isi_frames < 0) {
        controller_fail(err, "trial %lld: image %d (of %d), sound %d (of %d), "
                        "%d frames + %d: not a request", (long long)r->trial, r->image, c->images,
                        r->sound, c->sounds, r->frames, r->isi_frames);
        return -1;
    }
    if (c->outstanding >= c->config.queue_capacity)
        return 1;
    m = (display_message){.type = DISPLAY_SUBMIT, .request = *r};
    m.request.capture = NULL;
    if (send_message(c, &m)) {
        controller_fail(err, "send: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    c->outstanding++;
    return 0;
}

void display_client_finish_block(display_client *c) { send_empty(c, DISPLAY_FINISH_BLOCK); }
void display_client_abort(display_client *c) { send_empty(c, DISPLAY_ABORT); }
void display_client_set_paused(display_client *c, int paused)
{
    display_message m = {.type = DISPLAY_PAUSE, .paused = paused};
    send_message(c, &m);
}

int display_client_next_event(display_client *c, presenter_event *ev, int timeout_ms)
{
    int64_t deadline = acq_now_ns() + (int64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;
    display_message m;
    while (!c->pending_count) {
        int64_t left = (deadline - acq_now_ns()) / 1000000;
        if (timeout_ms >= 0 && left < 0)
            return 0;
        receive(c, &m, timeout_ms < 0 ? 100 : (int)left);
        if (timeout_ms >= 0 && !c->pending_count && acq_now_ns() >= deadline)
            return 0;
    }
    *ev = c->pending[c->pending_head];
    c->pending_head = (c->pending_head + 1) % c->pending_capacity;
    c->pending_count--;
    return 1;
}

void display_client_block_summary(const display_client *c, presenter_summary *out)
{
    *out = c->summary;
}

uint64_t display_client_events_lost(const display_client *c) { return c->events_lost; }

void display_client_server_counters(const display_client *c, uint64_t *bad_messages,
                                    uint64_t *events_dropped)
{
    *bad_messages = c->server_bad;
    *events_dropped = c->server_dropped;
}
