/* fuzz_wire.c: the wire parsers (native and Open Ephys) and what consumes a
 * decoded message. Input layout: byte 0 picks the parser (even native, odd
 * Open Ephys); then up to 4 frames, each a 2-byte little-endian length and
 * that many bytes (clipped to what is left). */
#include "acquisition.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A decoded message through a fresh aligner, with an onset and a sync edge
 * at its own timestamp: whatever times and shapes a stream sends, alignment
 * must neither overflow nor crash. Small rings only, to keep inputs fast. */
static void align_counts(const acq_message *m, const float *counts)
{
    acq_align_config c;
    acq_aligner *a;
    char err[ACQ_ERR_SIZE];
    acq_align_config_default(&c);
    c.history_ns = 1000000000;
    c.window_ns = 100000000;
    if ((uint64_t)m->h.count * (uint64_t)(c.history_ns / m->h.bin_width_ns) > (1u << 22) ||
        acq_aligner_create(&a, &c, err))
        return;
    int64_t t = m->h.timestamp_ns;
    for (int i = 0; i < 4; i++) {
        int64_t ti = (int64_t)((uint64_t)t + (uint64_t)i * 300000000u);
        acq_aligner_add_onset(a, (uint64_t)i, 0, ti, 0, err);
        acq_aligner_add_sync(a, ti, 0, 1, 0);
        acq_aligner_add_bins(a, (int64_t)((uint64_t)t + (uint64_t)i * m->h.bin_width_ns),
                             m->h.bin_width_ns, counts, (int)m->h.count, 0, err);
    }
    acq_aligner_finish(a);
    acq_trial trial;
    float *out = malloc(sizeof(float) * m->h.count);
    while (out && acq_aligner_next_complete_trial(a, &trial, out))
        ;
    free(out);
    acq_aligner_destroy(a);
}

static void use_native(const acq_message *m)
{
    if (m->h.type == ACQ_MSG_COUNTS) {
        float *c = malloc(sizeof(float) * m->h.count);
        if (c) {
            acq_message_counts(m, c);
            align_counts(m, c);
        }
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
        int column = acq_oe_column(m, 2, 2);
        acq_binner_add_spike(b, column < 0 ? 0 : column, 0, discard_bin, NULL);
        acq_binner_add_spike(b, column, m->sample_num % 30000000, discard_bin, NULL);
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
