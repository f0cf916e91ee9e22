/* publisher.c: a PUB socket writing the native format. Used by the virtual
 * rig, the display (onsets), tests and benchmarks. Sends never block: a PUB
 * socket drops at its high-water mark, which the subscriber detects from the
 * sequence numbers. */
#include "acquisition.h"
#include "socket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct acq_publisher {
    void *context, *socket;
    acq_zap *zap; /* NULL unless CURVE clients are checked against a list */
    int own_context;
    uint32_t stream_id, epoch;
    uint64_t sequence;
};

/* The handler has to be bound before the PUB socket can take a handshake. */
static int start_zap(acq_publisher *p, const acq_socket_config *c, char *err)
{
    if (!c->curve_secret_file)
        return acq_fail(err, "CURVE: a client list needs the server's secret key too");
    return acq_zap_create(&p->zap, p->context, c->curve_clients_file, err);
}

int acq_publisher_create(acq_publisher **out, void *zmq_context, const acq_socket_config *c,
                         uint32_t stream_id, uint32_t epoch, char *err)
{
    *out = NULL;
    acq_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return acq_fail(err, "publisher: out of memory");
    p->own_context = zmq_context == NULL;
    p->context = zmq_context ? zmq_context : zmq_ctx_new();
    p->stream_id = stream_id;
    p->epoch = epoch;
    if (p->context && c->curve_clients_file && start_zap(p, c, err)) {
        acq_publisher_destroy(p);
        return 1;
    }
    if (!p->context || acq_socket_open(&p->socket, p->context, ZMQ_PUB, c, 1, err)) {
        if (!p->context)
            acq_fail(err, "zmq_ctx_new failed");
        acq_publisher_destroy(p);
        return 1;
    }
    *out = p;
    return 0;
}

void acq_publisher_destroy(acq_publisher *p)
{
    if (!p)
        return;
    if (p->socket)
        zmq_close(p->socket);
    acq_zap_destroy(p->zap);
    if (p->own_context && p->context)
        zmq_ctx_term(p->context);
    free(p);
}

void acq_publisher_get_stats(acq_publisher *p, acq_publisher_stats *out)
{
    out->clients_accepted = p->zap ? acq_zap_accepted(p->zap) : 0;
    out->clients_refused = p->zap ? acq_zap_refused(p->zap) : 0;
}

void acq_publisher_restart(acq_publisher *p, uint32_t epoch)
{
    p->epoch = epoch;
    p->sequence = 0;
}

uint64_t acq_publisher_sequence(const acq_publisher *p) { return p->sequence; }

void acq_publisher_skip(acq_publisher *p) { p->sequence++; }

static void fill_header(acq_publisher *p, int type, int64_t t_ns, acq_encoded *e, uint32_t count,
                        uint32_t bin_width_ns, int dtype)
{
    acq_header h = {.version = ACQ_WIRE_VERSION, .type = (uint16_t)type,
                    .stream_id = p->stream_id, .epoch = p->epoch, .sequence = p->sequence++,
                    .timestamp_ns = t_ns, .bin_width_ns = bin_width_ns, .count = count,
                    .dtype = (uint16_t)dtype};
    acq_encode_header(&h, e->header);
    e->type = type;
}

static int alloc_payload(acq_encoded *e, size_t size)
{
    e->payload_size = size;
    e->payload = size ? malloc(size) : NULL;
    return size && !e->payload;
}

int acq_publisher_encode_counts(acq_publisher *p, int64_t t_ns, uint32_t bin_width_ns,
                                const float *counts, uint32_t units, int dtype, acq_encoded *e)
{
    size_t item = dtype == ACQ_DTYPE_U16 ? 2 : 4;
    if (alloc_payload(e, item * units))
        return 1;
    for (uint32_t i = 0; i < units; i++) {
        if (dtype == ACQ_DTYPE_U16) {
            float v = counts[i] < 0 ? 0 : counts[i] > 65535 ? 65535 : counts[i];
            uint16_t u = (uint16_t)(v + 0.5f);
            e->payload[2 * i] = (uint8_t)u;
            e->payload[2 * i + 1] = (uint8_t)(u >> 8);
        } else {
            uint32_t u;
            memcpy(&u, &counts[i], 4);
            for (int b = 0; b < 4; b++)
                e->payload[4 * i + (uint32_t)b] = (uint8_t)(u >> (8 * b));
        }
    }
    fill_header(p, ACQ_MSG_COUNTS, t_ns, e, units, bin_width_ns, dtype);
    return 0;
}

int acq_publisher_encode_events(acq_publisher *p, int64_t t_ns, const acq_event *events,
                                uint32_t count, acq_encoded *e)
{
    if (alloc_payload(e, (size_t)count * ACQ_EVENT_SIZE))
        return 1;
    for (uint32_t i = 0; i < count; i++)
        acq_encode_event(&events[i], e->payload + (size_t)i * ACQ_EVENT_SIZE);
    fill_header(p, ACQ_MSG_EVENTS, t_ns, e, count, 0, ACQ_DTYPE_NONE);
    return 0;
}

int acq_publisher_encode_heartbeat(acq_publisher *p, int64_t t_ns, acq_encoded *e)
{
    alloc_payload(e, 0);
    fill_header(p, ACQ_MSG_HEARTBEAT, t_ns, e, 0, 0, ACQ_DTYPE_NONE);
    return 0;
}

int acq_publisher_send_encoded(acq_publisher *p, acq_encoded *e)
{
    const char *topic = acq_topic(e->type);
    int rc = zmq_send(p->socket, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
             zmq_send(p->socket, e->header, ACQ_HEADER_SIZE, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
             zmq_send(p->socket, e->payload, e->payload_size, ZMQ_DONTWAIT) < 0;
    free(e->payload);
    e->payload = NULL;
    return rc;
}

int acq_publisher_counts(acq_publisher *p, int64_t t_ns, uint32_t bin_width_ns,
                         const float *counts, uint32_t units, int dtype)
{
    acq_encoded e;
    if (acq_publisher_encode_counts(p, t_ns, bin_width_ns, counts, units, dtype, &e))
        return 1;
    return acq_publisher_send_encoded(p, &e);
}

int acq_publisher_events(acq_publisher *p, int64_t t_ns, const acq_event *events, uint32_t count)
{
    acq_encoded e;
    if (acq_publisher_encode_events(p, t_ns, events, count, &e))
        return 1;
    return acq_publisher_send_encoded(p, &e);
}

int acq_publisher_heartbeat(acq_publisher *p, int64_t t_ns)
{
    acq_encoded e;
    acq_publisher_encode_heartbeat(p, t_ns, &e);
    return acq_publisher_send_encoded(p, &e);
}

int acq_publisher_onset(acq_publisher *p, const acq_onset *o, const float *image)
{
    acq_encoded e;
    size_t pixels = image ? (size_t)o->height * o->width : 0;
    if (alloc_payload(&e, ACQ_ONSET_SIZE + 4 * pixels))
        return 1;
    acq_onset copy = *o;
    if (!image)
        copy.height = copy.width = 0;
    acq_encode_onset(&copy, e.payload);
    for (size_t i = 0; i < pixels; i++) {
        uint32_t u;
        memcpy(&u, &image[i], 4);
        for (int b = 0; b < 4; b++)
            e.payload[ACQ_ONSET_SIZE + 4 * i + (size_t)b] = (uint8_t)(u >> (8 * b));
    }
    fill_header(p, ACQ_MSG_ONSET, o->onset_ns, &e, 0, 0, pixels ? ACQ_DTYPE_F32 : ACQ_DTYPE_NONE);
    return acq_publisher_send_encoded(p, &e);
}
