/* display_server.c: `inception present --serve`: a presenter obeying a
 * controller on another machine. One ROUTER socket: requests come in with
 * the sender's identity; answers and events go back to the last controller
 * that spoke, never blocking (ZMQ_DONTWAIT): when it is gone or slow the
 * event is dropped and counted, and the presenter's thread, which owns the
 * frames, never waits on this one. The presenter's own queue stays the only
 * hand-off between the two threads. */
#include "acquisition.h"
#include "display/display.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_IDENTITY 256
#define MAX_REQUESTS_PER_POLL 4096

struct display_server {
    presenter *p;
    void *context, *socket;
    char endpoint[256];
    int64_t clock_shift_ns;
    int queue_capacity;
    int images, sounds;         /* preloaded through this server */
    size_t preloaded, max_preload; /* bytes the presenter holds for them, and the cap */
    uint8_t peer[MAX_IDENTITY];
    size_t peer_size;           /* 0: nobody has spoken yet */
    uint32_t sequence;
    float *pixels;              /* converted image / sound, reused */
    size_t pixels_capacity;
    uint8_t *out;               /* encoded answer */
    size_t out_capacity;
    display_server_stats stats;
};

static int64_t display_now(const display_server *s) { return acq_now_ns() + s->clock_shift_ns; }

/* ---- sending ---- */

static int send_message(display_server *s, display_message *m)
{
    if (!s->peer_size)
        return 1;
    m->sequence = s->sequence++;
    size_t size = display_message_size(m);
    if (size > s->out_capacity) {
        uint8_t *grown = realloc(s->out, size);
        if (!grown)
            return 1;
        s->out = grown;
        s->out_capacity = size;
    }
    display_message_encode(m, s->out, s->out_capacity);
    if (zmq_send(s->socket, s->peer, s->peer_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return 1;
    return zmq_send(s->socket, s->out, size, ZMQ_DONTWAIT) < 0;
}

static void reply(display_server *s, int to, int status, int64_t id, const char *text)
{
    display_message m = {.type = DISPLAY_REPLY, .reply_to = to, .status = status, .id = id};
    snprintf(m.text, sizeof m.text, "%s", text);
    if (status) {
        s->stats.refused++;
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", text);
    }
    send_message(s, &m);
}

/* Display times go out shifted (tests pretend to be another machine). */
static void shift_event(const display_server *s, presenter_event *e)
{
    int64_t *t[4] = {&e->onset_ns, &e->offset_ns, &e->end_ns, &e->sound_onset_ns};
    for (int i = 0; i < 4; i++)
        if (*t[i])
            *t[i] += s->clock_shift_ns;
}

static void forward_events(display_server *s)
{
    display_message m = {.type = DISPLAY_EVENT};
    while (presenter_next_event(s->p, &m.event, 0) == 1) {
        if (m.event.kind == PRESENTER_EVENT_BLOCK_END)
            presenter_block_summary(s->p, &m.summary);
        shift_event(s, &m.event);
        if (send_message(s, &m))
            s->stats.events_dropped++;
        else
            s->stats.events_sent++;
    }
}

/* ---- obeying ---- */

static float *scratch(display_server *s, size_t count)
{
    if (count > s->pixels_capacity) {
        float *grown = realloc(s->pixels, count * sizeof *grown);
        if (!grown)
            return NULL;
        s->pixels = grown;
        s->pixels_capacity = count;
    }
    return s->pixels;
}

/* Little-endian float32 or uint8 bytes → floats in [0,1] for the presenter. */
static void payload_to_floats(const uint8_t *b, size_t count, int uint8, float *out)
{
    for (size_t i = 0; i < count; i++) {
        if (uint8) {
            out[i] = b[i] / 255.0f;
            continue;
        }
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                     (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
    }
}

/* 1 when `count` more floats would take the preloads beyond the cap (a
 * reply says so). */
static int over_cap(display_server *s, int to, size_t count, const char *what)
{
    size_t bytes = count * sizeof(float);
    if (bytes <= s->max_preload && s->preloaded <= s->max_preload - bytes)
        return 0;
    char text[DISPLAY_TEXT_SIZE];
    snprintf(text, sizeof text, "%s refused: preloads would take %.3g MiB, over this display's "
             "cap of %.3g MiB (present --serve --max-preload-mb)", what,
             (double)(s->preloaded + bytes) / 1048576.0, (double)s->max_preload / 1048576.0);
    reply(s, to, -1, -1, text);
    return 1;
}

static void obey_image(display_server *s, const display_message *m)
{
    char err[STIMULUS_ERR_SIZE];
    size_t count = (size_t)m->height * (size_t)m->width;
    if (over_cap(s, DISPLAY_IMAGE, count, "image"))
        return;
    float *pixels = scratch(s, count);
    int id = -1;
    if (!pixels) {
        reply(s, DISPLAY_IMAGE, -1, -1, "out of memory for the image");
        return;
    }
    payload_to_floats(m->payload, count, m->pixel_type == DISPLAY_PIXELS_UINT8, pixels);
    if (presenter_add_image(s->p, pixels, m->height, m->width, &id, err))
        reply(s, DISPLAY_IMAGE, -1, -1, err);
    else {
        s->images = id + 1;
        s->preloaded += count * sizeof(float);
        reply(s, DISPLAY_IMAGE, 0, id, "");
    }
}

static void obey_sound(display_server *s, const display_message *m)
{
    char err[STIMULUS_ERR_SIZE];
    size_t count = (size_t)m->sound_frames * (size_t)m->channels;
    if (over_cap(s, DISPLAY_SOUND, count, "sound"))
        return;
    float *samples = scratch(s, count);
    int id = -1;
    if (!samples) {
        reply(s, DISPLAY_SOUND, -1, -1, "out of memory for the sound");
        return;
    }
    payload_to_floats(m->payload, count, 0, samples);
    if (presenter_add_sound_samples(s->p, samples, m->sound_frames, m->channels, m->rate, &id,
                                    err))
        reply(s, DISPLAY_SOUND, -1, -1, err);
    else {
        s->preloaded += count * sizeof(float);
        reply(s, DISPLAY_SOUND, 0, id, "");
    }
}

static void obey_hello(display_server *s)
{
    display_message m = {.type = DISPLAY_CONFIG, .queue_capacity = s->queue_capacity,
                         .images = s->images};
    presenter_drawable_size(s->p, &m.drawable_width, &m.drawable_height);
    m.period_ms = presenter_period_ms(s->p);
    m.refresh_hz = 1000.0 / m.period_ms;
    m.display_ns = display_now(s);
    snprintf(m.text, sizeof m.text, "%s", presenter_status(s->p));
    send_message(s, &m);
}

static void obey(display_server *s, const display_message *m)
{
    char err[STIMULUS_ERR_SIZE];
    display_message pong = {.type = DISPLAY_PONG};
    int rc;
    switch (m->type) {
    case DISPLAY_HELLO: obey_hello(s); break;
    case DISPLAY_PING:
        pong.client_ns = m->client_ns;
        pong.display_ns = display_now(s);
        pong.bad_messages = s->stats.bad_messages;
        pong.events_dropped = s->stats.events_dropped;
        send_message(s, &pong);
        break;
    case DISPLAY_IMAGE: obey_image(s, m); break;
    case DISPLAY_SOUND: obey_sound(s, m); break;
    case DISPLAY_START_BLOCK:
        rc = presenter_start_block(s->p, err);
        reply(s, DISPLAY_START_BLOCK, rc ? -1 : 0, 0, rc ? err : "");
        break;
    case DISPLAY_SUBMIT:
        rc = presenter_submit(s->p, &m->request, err);
        if (rc)
            reply(s, DISPLAY_SUBMIT, rc, m->request.trial, rc > 0 ? "the queue is full" : err);
        break;
    case DISPLAY_FINISH_BLOCK: presenter_finish_block(s->p); break;
    case DISPLAY_ABORT: presenter_abort(s->p); break;
    case DISPLAY_PAUSE: presenter_set_paused(s->p, m->paused); break;
    default: /* a display→controller type sent to the display */
        s->stats.bad_messages++;
        snprintf(s->stats.last_error, sizeof s->stats.last_error,
                 "display message: type %d goes the other way", m->type);
        return;
    }
    s->stats.messages++;
}

/* Drops the rest of a multipart message; 1 if there was any. */
static int drain_parts(void *socket, zmq_msg_t *last)
{
    int extra = 0;
    while (zmq_msg_more(last)) {
        zmq_msg_close(last);
        zmq_msg_init(last);
        if (zmq_msg_recv(last, socket, 0) < 0)
            break;
        extra = 1;
    }
    return extra;
}

/* One request: [identity][message]. Anything else is counted and dropped. */
static int receive_one(display_server *s)
{
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    if (zmq_msg_recv(&id, s->socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        return 0;
    }
    int ok = zmq_msg_more(&id) && zmq_msg_recv(&body, s->socket, 0) >= 0;
    const uint8_t *data = zmq_msg_data(&body);
    size_t size = zmq_msg_size(&body), id_size = zmq_msg_size(&id);
    display_message m;
    char err[CONTROLLER_ERR_SIZE] = "display message: not one frame";
    if (ok && zmq_msg_more(&body)) { /* ROUTER framing: exactly one frame a message */
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        zmq_msg_copy(&rest, &body);
        drain_parts(s->socket, &rest);
        zmq_msg_close(&rest);
        ok = 0;
    }
    if (ok && !display_message_decode(data, size, &m, err)) {
        if (id_size && id_size <= MAX_IDENTITY) { /* the controller is whoever spoke last */
            memcpy(s->peer, zmq_msg_data(&id), id_size);
            s->peer_size = id_size;
        }
        obey(s, &m);
    } else {
        s->stats.bad_messages++;
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", err);
    }
    zmq_msg_close(&body);
    zmq_msg_close(&id);
    return 1;
}

void display_server_poll(display_server *s, int timeout_ms)
{
    forward_events(s);
    zmq_pollitem_t item = {s->socket, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) > 0)
        for (int i = 0; i < MAX_REQUESTS_PER_POLL && receive_one(s); i++)
            if (i % 64 == 63)
                forward_events(s);
    forward_events(s);
}

/* ---- life ---- */

int display_server_create(display_server **out, presenter *p, const display_server_config *c,
                          char *err)
{
    const char *endpoint = c->endpoint ? c->endpoint : DISPLAY_DEFAULT_ENDPOINT;
    *out = NULL;
    if (acq_endpoint_check(endpoint, c->allow_remote, err))
        return 1;
    display_server *s = calloc(1, sizeof *s);
    if (!s)
        return controller_fail(err, "out of memory");
    s->p = p;
    s->clock_shift_ns = c->clock_shift_ns;
    s->queue_capacity = c->queue_capacity > 0 ? c->queue_capacity : 4096;
    s->max_preload = c->max_preload_bytes ? c->max_preload_bytes : DISPLAY_DEFAULT_PRELOAD;
    /* The largest request: an image of the largest side in float32, or the
     * longest sound; none may carry more than the cap lets it preload. */
    size_t image_bytes = (size_t)DISPLAY_MAX_IMAGE_SIDE * DISPLAY_MAX_IMAGE_SIDE * 4,
           sound_bytes = (size_t)DISPLAY_MAX_SOUND_SAMPLES * 4;
    size_t payload = image_bytes > sound_bytes ? image_bytes : sound_bytes;
    if (payload > s->max_preload)
        payload = s->max_preload;
    display_message image = {.type = DISPLAY_IMAGE, .payload_size = payload},
                    sound = {.type = DISPLAY_SOUND, .payload_size = payload};
    size_t largest = display_message_size(&image) > display_message_size(&sound)
                         ? display_message_size(&image)
                         : display_message_size(&sound);
    int64_t max_message = (int64_t)largest;
    s->context = zmq_ctx_new();
    s->socket = s->context ? zmq_socket(s->context, ZMQ_ROUTER) : NULL;
    /* Mandatory routing: a message for a controller that is gone fails at
     * once (and is counted) instead of vanishing silently. */
    int hwm = c->send_hwm > 0 ? c->send_hwm : 100000, linger = 0, mandatory = 1;
    size_t size = sizeof s->endpoint;
    if (!s->socket || zmq_setsockopt(s->socket, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s->socket, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) ||
        zmq_setsockopt(s->socket, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s->socket, ZMQ_MAXMSGSIZE, &max_message, sizeof max_message) ||
        zmq_bind(s->socket, endpoint) ||
        zmq_getsockopt(s->socket, ZMQ_LAST_ENDPOINT, s->endpoint, &size)) {
        controller_fail(err, "display server on %s: %s", endpoint, zmq_strerror(zmq_errno()));
        display_server_destroy(s);
        return 1;
    }
    *out = s;
    return 0;
}

void display_server_destroy(display_server *s)
{
    if (!s)
        return;
    if (s->socket)
        zmq_close(s->socket);
    if (s->context)
        zmq_ctx_term(s->context);
    free(s->pixels);
    free(s->out);
    free(s);
}

const char *display_server_endpoint(const display_server *s) { return s->endpoint; }

void display_server_stats_get(const display_server *s, display_server_stats *out)
{
    *out = s->stats;
}
