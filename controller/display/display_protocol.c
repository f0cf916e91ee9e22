/* display_protocol.c: the remote display's messages (controller/display/DISPLAY.md):
 * a 16-byte little-endian header, then a fixed body per type, then for
 * IMAGE and SOUND the samples. Decoding checks every length before reading. */
#include "display/display.h"

#include <stdio.h>
#include <string.h>

#define EVENT_BODY 88
#define SUMMARY_BODY 128
#define IMAGE_BODY 16
#define SOUND_BODY 16
#define CONFIG_BODY (40 + DISPLAY_TEXT_SIZE)
#define REPLY_BODY (16 + DISPLAY_TEXT_SIZE)

/* ---- little-endian fields ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}
static void putf64(uint8_t *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put64(p, u);
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static int32_t geti32(const uint8_t *p) { return (int32_t)get32(p); }
static int64_t geti64(const uint8_t *p) { return (int64_t)get64(p); }
static double getf64(const uint8_t *p)
{
    uint64_t u = get64(p);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* ---- sizes ---- */

static size_t body_size(const display_message *m)
{
    switch (m->type) {
    case DISPLAY_HELLO: case DISPLAY_START_BLOCK: case DISPLAY_FINISH_BLOCK: case DISPLAY_ABORT:
        return 0;
    case DISPLAY_PING: return 8;
    case DISPLAY_IMAGE: return IMAGE_BODY + m->payload_size;
    case DISPLAY_SOUND: return SOUND_BODY + m->payload_size;
    case DISPLAY_SUBMIT: return 24;
    case DISPLAY_PAUSE: return 4;
    case DISPLAY_CONFIG: return CONFIG_BODY;
    case DISPLAY_PONG: return 32;
    case DISPLAY_REPLY: return REPLY_BODY;
    case DISPLAY_EVENT:
        return EVENT_BODY + (m->event.kind == PRESENTER_EVENT_BLOCK_END ? SUMMARY_BODY : 0);
    default: return (size_t)-1;
    }
}

size_t display_message_size(const display_message *m)
{
    size_t body = body_size(m);
    return body == (size_t)-1 ? 0 : DISPLAY_HEADER_SIZE + body;
}

/* ---- encoding ---- */

static void encode_event(const presenter_event *e, uint8_t *b)
{
    put32(b, (uint32_t)e->kind);
    put32(b + 4, (uint32_t)e->flags);
    put64(b + 8, (uint64_t)e->trial);
    put32(b + 16, (uint32_t)e->image);
    put32(b + 20, (uint32_t)e->sound);
    put64(b + 24, (uint64_t)e->onset_flip);
    put64(b + 32, (uint64_t)e->onset_ns);
    put64(b + 40, (uint64_t)e->offset_ns);
    put64(b + 48, (uint64_t)e->end_ns);
    put64(b + 56, (uint64_t)e->sound_onset_ns);
    put32(b + 64, (uint32_t)e->frames_requested);
    put32(b + 68, (uint32_t)e->isi_requested);
    put32(b + 72, (uint32_t)e->frames_shown);
    put32(b + 76, (uint32_t)e->isi_shown);
    put32(b + 80, (uint32_t)e->dropped_frames);
    put32(b + 84, 0);
}

static void encode_summary(const presenter_summary *s, uint8_t *b)
{
    const int64_t counts[8] = {s->trials_shown, s->trials_discarded, s->wrong_durations,
                               s->trials_with_drops, s->dropped_frames, s->flips,
                               s->idle_flips, s->events_lost};
    for (int i = 0; i < 8; i++)
        put64(b + 8 * i, (uint64_t)counts[i]);
    put32(b + 64, (uint32_t)s->aborted);
    put32(b + 68, 0);
    const double ms[7] = {s->period_ms, s->interval_mean_ms, s->interval_sd_ms,
                          s->interval_max_ms, s->frame_work_median_ms, s->frame_work_p99_ms,
                          s->present_median_ms};
    for (int i = 0; i < 7; i++)
        putf64(b + 72 + 8 * i, ms[i]);
}

static void encode_text(const char *text, uint8_t *b)
{
    memset(b, 0, DISPLAY_TEXT_SIZE);
    size_t n = strnlen(text, DISPLAY_TEXT_SIZE - 1);
    memcpy(b, text, n);
}

static void encode_body(const display_message *m, uint8_t *b)
{
    switch (m->type) {
    case DISPLAY_PING: put64(b, (uint64_t)m->client_ns); break;
    case DISPLAY_IMAGE:
        put32(b, (uint32_t)m->height);
        put32(b + 4, (uint32_t)m->width);
        put32(b + 8, (uint32_t)m->pixel_type);
        put32(b + 12, 0);
        if (m->payload_size)
            memcpy(b + IMAGE_BODY, m->payload, m->payload_size);
        break;
    case DISPLAY_SOUND:
        put32(b, (uint32_t)m->sound_frames);
        put32(b + 4, (uint32_t)m->channels);
        put32(b + 8, (uint32_t)m->rate);
        put32(b + 12, 0);
        if (m->payload_size)
            memcpy(b + SOUND_BODY, m->payload, m->payload_size);
        break;
    case DISPLAY_SUBMIT:
        put64(b, (uint64_t)m->request.trial);
        put32(b + 8, (uint32_t)m->request.image);
        put32(b + 12, (uint32_t)m->request.sound);
        put32(b + 16, (uint32_t)m->request.frames);
        put32(b + 20, (uint32_t)m->request.isi_frames);
        break;
    case DISPLAY_PAUSE: put32(b, (uint32_t)m->paused); break;
    case DISPLAY_CONFIG:
        put32(b, (uint32_t)m->drawable_width);
        put32(b + 4, (uint32_t)m->drawable_height);
        putf64(b + 8, m->refresh_hz);
        putf64(b + 16, m->period_ms);
        put32(b + 24, (uint32_t)m->queue_capacity);
        put32(b + 28, (uint32_t)m->images);
        put64(b + 32, (uint64_t)m->display_ns);
        encode_text(m->text, b + 40);
        break;
    case DISPLAY_PONG:
        put64(b, (uint64_t)m->client_ns);
        put64(b + 8, (uint64_t)m->display_ns);
        put64(b + 16, m->bad_messages);
        put64(b + 24, m->events_dropped);
        break;
    case DISPLAY_REPLY:
        put32(b, (uint32_t)m->reply_to);
        put32(b + 4, (uint32_t)m->status);
        put64(b + 8, (uint64_t)m->id);
        encode_text(m->text, b + 16);
        break;
    case DISPLAY_EVENT:
        encode_event(&m->event, b);
        if (m->event.kind == PRESENTER_EVENT_BLOCK_END)
            encode_summary(&m->summary, b + EVENT_BODY);
        break;
    default: break;
    }
}

size_t display_message_encode(const display_message *m, uint8_t *out, size_t capacity)
{
    size_t size = display_message_size(m);
    if (!size || size > capacity || size - DISPLAY_HEADER_SIZE > UINT32_MAX)
        return 0;
    memcpy(out, "INCD", 4);
    put16(out + 4, DISPLAY_PROTOCOL_VERSION);
    put16(out + 6, (uint16_t)m->type);
    put32(out + 8, m->sequence);
    put32(out + 12, (uint32_t)(size - DISPLAY_HEADER_SIZE));
    encode_body(m, out + DISPLAY_HEADER_SIZE);
    return size;
}

/* ---- decoding ---- */

static void decode_text(const uint8_t *b, char *text)
{
    memcpy(text, b, DISPLAY_TEXT_SIZE);
    text[DISPLAY_TEXT_SIZE - 1] = 0;
}

static int decode_image(const uint8_t *b, size_t n, display_message *m, char *err)
{
    if (n < IMAGE_BODY)
        return controller_fail(err, "display message: IMAGE shorter than its 16-byte body");
    m->height = geti32(b);
    m->width = geti32(b + 4);
    m->pixel_type = geti32(b + 8);
    if (m->height < 1 || m->width < 1 || m->height > DISPLAY_MAX_IMAGE_SIDE ||
        m->width > DISPLAY_MAX_IMAGE_SIDE)
        return controller_fail(err, "display message: IMAGE size outside 1..8192 a side");
    if (m->pixel_type != DISPLAY_PIXELS_UINT8 && m->pixel_type != DISPLAY_PIXELS_FLOAT32)
        return controller_fail(err, "display message: "
                                    "IMAGE pixel type is neither 1 (uint8) nor 2 (float32)");
    size_t bytes = (size_t)m->height * (size_t)m->width *
                   (m->pixel_type == DISPLAY_PIXELS_UINT8 ? 1u : 4u);
    if (n - IMAGE_BODY != bytes)
        return controller_fail(err, "display message: IMAGE payload is not height × width pixels");
    m->payload = b + IMAGE_BODY;
    m->payload_size = bytes;
    return 0;
}

static int decode_sound(const uint8_t *b, size_t n, display_message *m, char *err)
{
    if (n < SOUND_BODY)
        return controller_fail(err, "display message: SOUND shorter than its 16-byte body");
    m->sound_frames = geti32(b);
    m->channels = geti32(b + 4);
    m->rate = geti32(b + 8);
    if (m->channels < 1 || m->channels > 8 || m->rate < 1000 || m->rate > 384000 ||
        m->sound_frames < 1 || m->sound_frames > DISPLAY_MAX_SOUND_SAMPLES / m->channels)
        return controller_fail(err, "display message: "
                                    "SOUND frames, channels (1..8) or rate (1000..384000) out of range");
    size_t bytes = (size_t)m->sound_frames * (size_t)m->channels * 4u;
    if (n - SOUND_BODY != bytes)
        return controller_fail(err, "display message: "
                                    "SOUND payload is not frames × channels float32 samples");
    m->payload = b + SOUND_BODY;
    m->payload_size = bytes;
    return 0;
}

static void decode_event(const uint8_t *b, presenter_event *e)
{
    memset(e, 0, sizeof *e);
    e->kind = (presenter_event_kind)get32(b);
    e->flags = geti32(b + 4);
    e->trial = geti64(b + 8);
    e->image = geti32(b + 16);
    e->sound = geti32(b + 20);
    e->onset_flip = geti64(b + 24);
    e->onset_ns = geti64(b + 32);
    e->offset_ns = geti64(b + 40);
    e->end_ns = geti64(b + 48);
    e->sound_onset_ns = geti64(b + 56);
    e->sound_onset_sample = -1; /* not on the wire: a remote display plays no sounds */
    e->frames_requested = geti32(b + 64);
    e->isi_requested = geti32(b + 68);
    e->frames_shown = geti32(b + 72);
    e->isi_shown = geti32(b + 76);
    e->dropped_frames = geti32(b + 80);
}

static void decode_summary(const uint8_t *b, presenter_summary *s)
{
    int64_t *counts[8] = {&s->trials_shown, &s->trials_discarded, &s->wrong_durations,
                          &s->trials_with_drops, &s->dropped_frames, &s->flips,
                          &s->idle_flips, &s->events_lost};
    for (int i = 0; i < 8; i++)
        *counts[i] = geti64(b + 8 * i);
    s->aborted = geti32(b + 64);
    double *ms[7] = {&s->period_ms, &s->interval_mean_ms, &s->interval_sd_ms,
                     &s->interval_max_ms, &s->frame_work_median_ms, &s->frame_work_p99_ms,
                     &s->present_median_ms};
    for (int i = 0; i < 7; i++)
        *ms[i] = getf64(b + 72 + 8 * i);
}

static int decode_event_body(const uint8_t *b, size_t n, display_message *m, char *err)
{
    if (n < EVENT_BODY)
        return controller_fail(err, "display message: EVENT shorter than its 88-byte body");
    uint32_t kind = get32(b);
    if (kind > PRESENTER_EVENT_FLIP)
        return controller_fail(err, "display message: "
                                    "EVENT kind is not 0 (onset), 1 (trial), 2 (block end) or 3 (flip)");
    if (n != EVENT_BODY + (kind == PRESENTER_EVENT_BLOCK_END ? SUMMARY_BODY : 0))
        return controller_fail(err, "display message: "
                                    "EVENT length is not 88 bytes (216 with a block summary)");
    decode_event(b, &m->event);
    if (kind == PRESENTER_EVENT_BLOCK_END)
        decode_summary(b + EVENT_BODY, &m->summary);
    return 0;
}

static int decode_fixed(const uint8_t *b, size_t n, display_message *m, char *err)
{
    display_message probe = {.type = m->type};
    if (n != body_size(&probe))
        return controller_fail(err, "display message: body length does not match its type");
    switch (m->type) {
    case DISPLAY_PING: m->client_ns = geti64(b); break;
    case DISPLAY_SUBMIT:
        m->request.trial = geti64(b);
        m->request.image = geti32(b + 8);
        m->request.sound = geti32(b + 12);
        m->request.frames = geti32(b + 16);
        m->request.isi_frames = geti32(b + 20);
        if (m->request.frames < 0 || m->request.isi_frames < 0 || m->request.image < -1 ||
            m->request.sound < -1)
            return controller_fail(err, "display message: "
                                        "SUBMIT with negative frames or an id below -1");
        break;
    case DISPLAY_PAUSE: m->paused = get32(b) != 0; break;
    case DISPLAY_CONFIG:
        m->drawable_width = geti32(b);
        m->drawable_height = geti32(b + 4);
        m->refresh_hz = getf64(b + 8);
        m->period_ms = getf64(b + 16);
        m->queue_capacity = geti32(b + 24);
        m->images = geti32(b + 28);
        m->display_ns = geti64(b + 32);
        decode_text(b + 40, m->text);
        if (!(m->period_ms > 0.0 && m->period_ms < 1000.0) || m->queue_capacity < 1)
            return controller_fail(err, "display message: "
                                        "CONFIG with a period outside (0, 1000) ms or no queue");
        break;
    case DISPLAY_PONG:
        m->client_ns = geti64(b);
        m->display_ns = geti64(b + 8);
        m->bad_messages = get64(b + 16);
        m->events_dropped = get64(b + 24);
        break;
    case DISPLAY_REPLY:
        m->reply_to = geti32(b);
        m->status = geti32(b + 4);
        m->id = geti64(b + 8);
        decode_text(b + 16, m->text);
        break;
    default: break; /* no body */
    }
    return 0;
}

static int known_type(int type)
{
    return (type >= DISPLAY_HELLO && type <= DISPLAY_PAUSE) ||
           (type >= DISPLAY_CONFIG && type <= DISPLAY_EVENT);
}

int display_message_decode(const uint8_t *bytes, size_t size, display_message *m, char *err)
{
    memset(m, 0, sizeof *m);
    if (size < DISPLAY_HEADER_SIZE)
        return controller_fail(err, "display message: shorter than the 16-byte header");
    if (memcmp(bytes, "INCD", 4))
        return controller_fail(err, "display message: no INCD magic");
    if (get16(bytes + 4) != DISPLAY_PROTOCOL_VERSION)
        return controller_fail(err, "display message: version is not 1");
    m->type = get16(bytes + 6);
    m->sequence = get32(bytes + 8);
    if (!known_type(m->type))
        return controller_fail(err, "display message: unknown type");
    if (get32(bytes + 12) != size - DISPLAY_HEADER_SIZE)
        return controller_fail(err, "display message: "
                                    "header length does not match the message size");
    const uint8_t *b = bytes + DISPLAY_HEADER_SIZE;
    size_t n = size - DISPLAY_HEADER_SIZE;
    if (m->type == DISPLAY_IMAGE)
        return decode_image(b, n, m, err);
    if (m->type == DISPLAY_SOUND)
        return decode_sound(b, n, m, err);
    if (m->type == DISPLAY_EVENT)
        return decode_event_body(b, n, m, err);
    return decode_fixed(b, n, m, err);
}
