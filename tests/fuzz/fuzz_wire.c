/* fuzz_wire.c: the wire parsers (native and Open Ephys) and what consumes a
 * decoded message. Input layout: byte 0 picks the parser (even native, odd
 * Open Ephys); then up to 4 frames, each a 2-byte little-endian length and
 * that many bytes (clipped to what is left). */
#include "acquisition.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void use_native(const acq_message *m)
{
    if (m->h.type == ACQ_MSG_COUNTS) {
        float *c = malloc(sizeof(float) * m->h.count);
        if (c)
            acq_message_counts(m, c);
        free(c);
    } else if (m->h.type == ACQ_MSG_EVENTS) {
        for (uint32_t i = 0; i < m->h.count; i++) {
            acq_event e;
            acq_message_event(m, i, &e);
        }
    } else if (m->h.type == ACQ_MSG_ONSET) {
        acq_onset o;
        acq_message_onset(m, &o);
        float *img = malloc(sizeof(float) * ((size_t)o.height * o.width + 1));
        if (img)
            acq_message_image(m, img);
        free(img);
    }
}

static void discard_bin(void *ctx, int64_t start_ns, uint32_t width_ns, const float *counts,
                        int units)
{
    (void)ctx, (void)start_ns, (void)width_ns, (void)counts, (void)units;
}

static void use_openephys(const acq_oe_message *m)
{
    char err[ACQ_ERR_SIZE];
    acq_binner *b;
    if (acq_binner_create(&b, 4, 30000, 1000000, 2, err))
        return;
    /* Spikes far in the future exercise the bounded fill. */
    if (m->kind == ACQ_OE_SPIKE)
        {
        acq_binner_add_spike(b, m->unit % 4, 0, discard_bin, NULL);
        acq_binner_add_spike(b, m->unit, m->sample_num % 30000000, discard_bin, NULL);
    }
    acq_binner_destroy(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int openephys = data[0] & 1;
    acq_frame frames[4];
    int count = 0;
    size_t at = 1;
    while (count < 4 && at + 2 <= size) {
        size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (len > size - at)
            len = size - at;
        frames[count].data = data + at;
        frames[count].size = len;
        count++;
        at += len;
    }
    char err[ACQ_ERR_SIZE];
    if (openephys) {
        acq_oe_message m;
        if (acq_oe_decode(frames, count, &m, err) == ACQ_OK)
            use_openephys(&m);
    } else {
        acq_message m;
        if (acq_decode(frames, count, &m, err) == ACQ_OK)
            use_native(&m);
    }
    return 0;
}
