/* wire.c: the native wire format (WIRE.md), encoded and decoded as pure
 * functions over bytes. Every field is read byte by byte as little-endian, so
 * neither the host's byte order nor the frames' alignment matters. */
#include "acquisition.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const reject_names[ACQ_REJECT_COUNT] = {
    "ok", "frames", "topic", "magic", "version", "type",
    "truncated", "oversized", "value", "json", "mismatch",
};

const char *acq_reject_name(int reason)
{
    return reason >= 0 && reason < ACQ_REJECT_COUNT ? reject_names[reason] : "unknown";
}

const char *acq_topic(int type)
{
    switch (type) {
    case ACQ_MSG_COUNTS: return "counts";
    case ACQ_MSG_EVENTS: return "events";
    case ACQ_MSG_HEARTBEAT: return "heartbeat";
    case ACQ_MSG_ONSET: return "onset";
    default: return "";
    }
}

/* ------------------------------------------------------------------------ */
/* Little-endian fields. */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static float getf32(const uint8_t *p)
{
    uint32_t u = get32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------------ */
/* Encoding. Header layout (offsets): 0 magic, 4 version, 6 type, 8 stream id,
 * 12 epoch, 16 sequence, 24 timestamp, 32 bin width, 36 count, 40 dtype,
 * 42 reserved (2 bytes), 44 reserved (4 bytes). */

void acq_encode_header(const acq_header *h, uint8_t out[ACQ_HEADER_SIZE])
{
    memset(out, 0, ACQ_HEADER_SIZE);
    put32(out, ACQ_WIRE_MAGIC);
    put16(out + 4, h->version);
    put16(out + 6, h->type);
    put32(out + 8, h->stream_id);
    put32(out + 12, h->epoch);
    put64(out + 16, h->sequence);
    put64(out + 24, (uint64_t)h->timestamp_ns);
    put32(out + 32, h->bin_width_ns);
    put32(out + 36, h->count);
    put16(out + 40, h->dtype);
}

void acq_encode_event(const acq_event *e, uint8_t out[ACQ_EVENT_SIZE])
{
    memset(out, 0, ACQ_EVENT_SIZE);
    put64(out, (uint64_t)e->timestamp_ns);
    put16(out + 8, e->line);
    out[10] = e->rising;
}

void acq_encode_onset(const acq_onset *o, uint8_t out[ACQ_ONSET_SIZE])
{
    put64(out, o->trial);
    put64(out + 8, o->stimulus_id);
    put64(out + 16, (uint64_t)o->duration_ns);
    put32(out + 24, o->height);
    put32(out + 28, o->width);
}

/* ------------------------------------------------------------------------ */
/* Decoding: one check per function, each naming what is wrong. */

static int decode_header(const acq_frame *f, acq_header *h, char *err)
{
    if (f->size < ACQ_HEADER_SIZE)
        return acq_fail_reject(err, ACQ_REJECT_TRUNCATED, "header frame shorter than 48 bytes");
    if (f->size > ACQ_HEADER_SIZE)
        return acq_fail_reject(err, ACQ_REJECT_OVERSIZED, "header frame longer than 48 bytes");
    const uint8_t *p = f->data;
    if (get32(p) != ACQ_WIRE_MAGIC)
        return acq_fail_reject(err, ACQ_REJECT_MAGIC, "header does not start with INCQ");
    h->version = get16(p + 4);
    if (h->version != ACQ_WIRE_VERSION) {
        return acq_fail_reject(err, ACQ_REJECT_VERSION, "wire version %u, this receiver speaks %d",
                               h->version, ACQ_WIRE_VERSION);
    }
    h->type = get16(p + 6);
    h->stream_id = get32(p + 8);
    h->epoch = get32(p + 12);
    h->sequence = get64(p + 16);
    h->timestamp_ns = (int64_t)get64(p + 24);
    h->bin_width_ns = get32(p + 32);
    h->count = get32(p + 36);
    h->dtype = get16(p + 40);
    if (h->type < ACQ_MSG_COUNTS || h->type > ACQ_MSG_ONSET)
        return acq_fail_reject(err, ACQ_REJECT_TYPE, "unknown message type");
    if (h->dtype > ACQ_DTYPE_F32)
        return acq_fail_reject(err, ACQ_REJECT_TYPE, "unknown data type");
    return ACQ_OK;
}

/* The payload must be exactly `want` bytes. */
static int check_size(size_t have, size_t want, char *err)
{
    if (have < want)
        return acq_fail_reject(err, ACQ_REJECT_TRUNCATED, "payload shorter than its header says");
    if (have > want)
        return acq_fail_reject(err, ACQ_REJECT_OVERSIZED, "payload longer than its header says");
    return ACQ_OK;
}

static int check_floats(const uint8_t *p, size_t n, int allow_negative, char *err)
{
    for (size_t i = 0; i < n; i++) {
        float v = getf32(p + 4 * i);
        if (!isfinite(v))
            return acq_fail_reject(err, ACQ_REJECT_VALUE, "NaN or infinite value");
        if (v < 0 && !allow_negative)
            return acq_fail_reject(err, ACQ_REJECT_VALUE, "negative count");
    }
    return ACQ_OK;
}

static int decode_counts(acq_message *m, char *err)
{
    const acq_header *h = &m->h;
    if (h->count == 0 || h->count > ACQ_MAX_UNITS)
        return acq_fail_reject(err, h->count ? ACQ_REJECT_OVERSIZED : ACQ_REJECT_VALUE,
                               "unit count outside 1..65536");
    if (h->bin_width_ns == 0)
        return acq_fail_reject(err, ACQ_REJECT_VALUE, "bin width 0");
    if (h->dtype != ACQ_DTYPE_U16 && h->dtype != ACQ_DTYPE_F32)
        return acq_fail_reject(err, ACQ_REJECT_TYPE, "counts must be uint16 or float32");
    size_t item = h->dtype == ACQ_DTYPE_U16 ? 2 : 4;
    int r = check_size(m->payload_size, item * h->count, err);
    if (r == ACQ_OK && h->dtype == ACQ_DTYPE_F32)
        r = check_floats(m->payload, h->count, 0, err);
    return r;
}

static int decode_events(acq_message *m, char *err)
{
    if (m->h.count == 0 || m->h.count > ACQ_MAX_EVENTS)
        return acq_fail_reject(err, m->h.count ? ACQ_REJECT_OVERSIZED : ACQ_REJECT_VALUE,
                               "event count outside 1..4096");
    int r = check_size(m->payload_size, (size_t)m->h.count * ACQ_EVENT_SIZE, err);
    for (uint32_t i = 0; r == ACQ_OK && i < m->h.count; i++)
        if (m->payload[i * ACQ_EVENT_SIZE + 10] > 1)
            r = acq_fail_reject(err, ACQ_REJECT_VALUE, "edge state neither 0 nor 1");
    return r;
}

static int decode_onset(acq_message *m, char *err)
{
    if (m->payload_size < ACQ_ONSET_SIZE)
        return acq_fail_reject(err, ACQ_REJECT_TRUNCATED, "onset payload shorter than 32 bytes");
    uint64_t height = get32(m->payload + 24), width = get32(m->payload + 28);
    if ((int64_t)get64(m->payload + 16) < 0)
        return acq_fail_reject(err, ACQ_REJECT_VALUE, "negative duration");
    if ((height == 0) != (width == 0))
        return acq_fail_reject(err, ACQ_REJECT_VALUE, "image with one side 0");
    if (height * width > ACQ_MAX_IMAGE_PIXELS)
        return acq_fail_reject(err, ACQ_REJECT_OVERSIZED, "image larger than 1024*1024 pixels");
    if (height && m->h.dtype != ACQ_DTYPE_F32)
        return acq_fail_reject(err, ACQ_REJECT_TYPE, "onset images must be float32");
    int r = check_size(m->payload_size, ACQ_ONSET_SIZE + 4 * height * width, err);
    if (r == ACQ_OK)
        r = check_floats(m->payload + ACQ_ONSET_SIZE, height * width, 1, err);
    return r;
}

int acq_decode(const acq_frame *frames, int count, acq_message *m, char *err)
{
    memset(m, 0, sizeof *m);
    if (count < 2 || count > 3)
        return acq_fail_reject(err, ACQ_REJECT_FRAMES, "want topic, header and payload frames");
    int r = decode_header(&frames[1], &m->h, err);
    if (r != ACQ_OK)
        return r;
    const char *topic = acq_topic(m->h.type);
    if (frames[0].size != strlen(topic) || memcmp(frames[0].data, topic, frames[0].size))
        return acq_fail_reject(err, ACQ_REJECT_TOPIC,
                               "topic frame does not match the header's type");
    if (count == 3) {
        m->payload = frames[2].data;
        m->payload_size = frames[2].size;
    }
    switch (m->h.type) {
    case ACQ_MSG_COUNTS: return decode_counts(m, err);
    case ACQ_MSG_EVENTS: return decode_events(m, err);
    case ACQ_MSG_ONSET: return decode_onset(m, err);
    default:
        return m->payload_size
                   ? acq_fail_reject(err, ACQ_REJECT_OVERSIZED, "heartbeat with a payload")
                   : ACQ_OK;
    }
}

void acq_message_counts(const acq_message *m, float *out)
{
    for (uint32_t i = 0; i < m->h.count; i++)
        out[i] = m->h.dtype == ACQ_DTYPE_U16 ? (float)get16(m->payload + 2 * (size_t)i)
                                             : getf32(m->payload + 4 * (size_t)i);
}

void acq_message_event(const acq_message *m, uint32_t i, acq_event *e)
{
    const uint8_t *p = m->payload + (size_t)i * ACQ_EVENT_SIZE;
    e->timestamp_ns = (int64_t)get64(p);
    e->line = get16(p + 8);
    e->rising = p[10];
}

void acq_message_onset(const acq_message *m, acq_onset *o)
{
    o->onset_ns = m->h.timestamp_ns;
    o->trial = get64(m->payload);
    o->stimulus_id = get64(m->payload + 8);
    o->duration_ns = (int64_t)get64(m->payload + 16);
    o->height = get32(m->payload + 24);
    o->width = get32(m->payload + 28);
}

void acq_message_image(const acq_message *m, float *out)
{
    size_t n = (size_t)get32(m->payload + 24) * get32(m->payload + 28);
    for (size_t i = 0; i < n; i++)
        out[i] = getf32(m->payload + ACQ_ONSET_SIZE + 4 * i);
}
