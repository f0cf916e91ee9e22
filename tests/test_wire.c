/* test_wire.c: the native wire format, the Open Ephys messages, the spike
 * binner and the sequence check, over bytes (no sockets). Messages are built
 * byte by byte here from the layout in WIRE.md, independently of the
 * encoder, and the encoder's output is compared with them. */
#include "acquisition.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Building messages by hand from the spec. */

static void le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void spec_header(uint8_t *h, int type, uint64_t seq, int64_t t, uint32_t bin, uint32_t count,
                        int dtype)
{
    memset(h, 0, ACQ_HEADER_SIZE);
    memcpy(h, "INCQ", 4);
    le(h + 4, 1, 2);
    le(h + 6, (uint64_t)type, 2);
    le(h + 8, 7, 4);      /* stream */
    le(h + 12, 99, 4);    /* epoch */
    le(h + 16, seq, 8);
    le(h + 24, (uint64_t)t, 8);
    le(h + 32, bin, 4);
    le(h + 36, count, 4);
    le(h + 40, (uint64_t)dtype, 2);
}

static int decode3(const char *topic, const uint8_t *h, const uint8_t *payload, size_t size,
                   acq_message *m, char *err)
{
    acq_frame f[3] = {{(const uint8_t *)topic, strlen(topic)}, {h, ACQ_HEADER_SIZE},
                      {payload, size}};
    return acq_decode(f, 3, m, err);
}

static void put_f32(uint8_t *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    le(p, u, 4);
}

/* ------------------------------------------------------------------------ */

static void test_counts(void)
{
    uint8_t h[ACQ_HEADER_SIZE], u16[6], f32[12];
    char err[ACQ_ERR_SIZE];
    acq_message m;
    float c[3];
    spec_header(h, ACQ_MSG_COUNTS, 41, -5000, 1000000, 3, ACQ_DTYPE_U16);
    le(u16, 0, 2), le(u16 + 2, 300, 2), le(u16 + 4, 65535, 2);
    CHECK(decode3("counts", h, u16, 6, &m, err) == ACQ_OK, "uint16 counts decode: %s", err);
    acq_message_counts(&m, c);
    CHECK(m.h.sequence == 41 && m.h.timestamp_ns == -5000 && m.h.epoch == 99 &&
          m.h.stream_id == 7 && m.h.bin_width_ns == 1000000, "header fields read back");
    CHECK(c[0] == 0 && c[1] == 300 && c[2] == 65535, "uint16 values %g %g %g", c[0], c[1], c[2]);

    spec_header(h, ACQ_MSG_COUNTS, 1, 0, 1000000, 3, ACQ_DTYPE_F32);
    put_f32(f32, 0.5f), put_f32(f32 + 4, 2.0f), put_f32(f32 + 8, 7.25f);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_OK, "float32 counts decode");
    acq_message_counts(&m, c);
    CHECK(c[0] == 0.5f && c[1] == 2.0f && c[2] == 7.25f, "float32 values");

    /* The encoder writes the same bytes as the spec. */
    acq_header eh = {.version = 1, .type = ACQ_MSG_COUNTS, .stream_id = 7, .epoch = 99,
                     .sequence = 1, .timestamp_ns = 0, .bin_width_ns = 1000000, .count = 3,
                     .dtype = ACQ_DTYPE_F32};
    uint8_t mine[ACQ_HEADER_SIZE];
    acq_encode_header(&eh, mine);
    CHECK(!memcmp(mine, h, ACQ_HEADER_SIZE), "acq_encode_header matches the spec's layout");

    /* Every reject reason, each with its own cause. */
    put_f32(f32 + 4, NAN);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_VALUE, "NaN rejected: %s", err);
    put_f32(f32 + 4, INFINITY);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_VALUE, "infinity rejected");
    put_f32(f32 + 4, -1.0f);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_VALUE, "negative rejected");
    put_f32(f32 + 4, 1.0f);
    CHECK(decode3("counts", h, f32, 11, &m, err) == ACQ_REJECT_TRUNCATED, "truncated payload");
    uint8_t longer[16] = {0};
    CHECK(decode3("counts", h, longer, 16, &m, err) == ACQ_REJECT_OVERSIZED, "oversized payload");
    CHECK(decode3("events", h, f32, 12, &m, err) == ACQ_REJECT_TOPIC, "topic must match type");
    le(h + 4, 2, 2);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_VERSION &&
          strstr(err, "version 2"), "wrong version named: %s", err);
    le(h + 4, 1, 2);
    h[0] = 'X';
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_MAGIC, "bad magic");
    h[0] = 'I';
    le(h + 36, 70000, 4);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_OVERSIZED, "70000 units refused");
    le(h + 36, 3, 4);
    le(h + 40, 9, 2);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_TYPE, "unknown dtype");
    le(h + 40, ACQ_DTYPE_F32, 2);
    le(h + 32, 0, 4);
    CHECK(decode3("counts", h, f32, 12, &m, err) == ACQ_REJECT_VALUE, "bin width 0 refused");
    le(h + 32, 1000000, 4);
    acq_frame two[2] = {{(const uint8_t *)"counts", 6}, {h, ACQ_HEADER_SIZE - 1}};
    CHECK(acq_decode(two, 2, &m, err) == ACQ_REJECT_TRUNCATED, "short header");
    CHECK(acq_decode(two, 1, &m, err) == ACQ_REJECT_FRAMES, "one frame");
}

static void test_events_onsets(void)
{
    uint8_t h[ACQ_HEADER_SIZE], ev[2 * ACQ_EVENT_SIZE] = {0}, on[ACQ_ONSET_SIZE + 4 * 6];
    char err[ACQ_ERR_SIZE];
    acq_message m;
    spec_header(h, ACQ_MSG_EVENTS, 2, 100, 0, 2, 0);
    le(ev, 123456789012LL, 8), le(ev + 8, 3, 2), ev[10] = 1;
    le(ev + 16, 123456789999LL, 8), le(ev + 24, 3, 2), ev[26] = 0;
    CHECK(decode3("events", h, ev, sizeof ev, &m, err) == ACQ_OK, "events decode");
    acq_event e0, e1;
    acq_message_event(&m, 0, &e0);
    acq_message_event(&m, 1, &e1);
    CHECK(e0.timestamp_ns == 123456789012LL && e0.line == 3 && e0.rising == 1 &&
          e1.timestamp_ns == 123456789999LL && e1.rising == 0, "edges read back");
    uint8_t mine[ACQ_EVENT_SIZE];
    acq_encode_event(&e1, mine);
    CHECK(!memcmp(mine, ev + 16, ACQ_EVENT_SIZE), "acq_encode_event matches the spec");
    ev[10] = 2;
    CHECK(decode3("events", h, ev, sizeof ev, &m, err) == ACQ_REJECT_VALUE, "edge state 2");

    spec_header(h, ACQ_MSG_ONSET, 3, 777000000000LL, 0, 0, ACQ_DTYPE_F32);
    le(on, 12, 8), le(on + 8, 34, 8), le(on + 16, 500000000, 8), le(on + 24, 2, 4),
        le(on + 28, 3, 4);
    for (int i = 0; i < 6; i++)
        put_f32(on + ACQ_ONSET_SIZE + 4 * i, 0.1f * (float)i);
    CHECK(decode3("onset", h, on, sizeof on, &m, err) == ACQ_OK, "onset with image: %s", err);
    acq_onset o;
    float img[6];
    acq_message_onset(&m, &o);
    acq_message_image(&m, img);
    CHECK(o.trial == 12 && o.stimulus_id == 34 && o.duration_ns == 500000000 &&
          o.onset_ns == 777000000000LL && o.height == 2 && o.width == 3, "onset fields");
    CHECK(img[5] == 0.5f && img[1] == 0.1f, "image pixels read back");
    uint8_t enc[ACQ_ONSET_SIZE];
    acq_encode_onset(&o, enc);
    CHECK(!memcmp(enc, on, ACQ_ONSET_SIZE), "acq_encode_onset matches the spec");
    CHECK(decode3("onset", h, on, sizeof on - 4, &m, err) == ACQ_REJECT_TRUNCATED,
          "image cut short");
    le(on + 28, 0, 4);
    CHECK(decode3("onset", h, on, ACQ_ONSET_SIZE, &m, err) == ACQ_REJECT_VALUE,
          "image with one side 0");

    spec_header(h, ACQ_MSG_HEARTBEAT, 4, 1, 0, 0, 0);
    acq_frame hb[2] = {{(const uint8_t *)"heartbeat", 9}, {h, ACQ_HEADER_SIZE}};
    CHECK(acq_decode(hb, 2, &m, err) == ACQ_OK && m.h.type == ACQ_MSG_HEARTBEAT, "heartbeat");
    CHECK(decode3("heartbeat", h, on, 4, &m, err) == ACQ_REJECT_OVERSIZED,
          "heartbeat with a payload");
}

/* ------------------------------------------------------------------------ */
/* Open Ephys. */

static int oe(const char *envelope, size_t env_size, const char *json, const uint8_t *payload,
              size_t size, acq_oe_message *m, char *err)
{
    acq_frame f[3] = {{(const uint8_t *)envelope, env_size},
                      {(const uint8_t *)json, strlen(json)}, {payload, size}};
    return acq_oe_decode(f, payload ? 3 : 2, m, err);
}

static void test_openephys(void)
{
    char err[ACQ_ERR_SIZE];
    acq_oe_message m;
    const char *spike = "{\"message_num\": 17, \"type\": \"spike\", \"spike\": {\"stream\": "
                        "\"example\", \"source_node\": 102, \"electrode\": \"Electrode 2\", "
                        "\"sample_num\": 45000, \"num_channels\": 4, \"num_samples\": 40, "
                        "\"sorted_id\": 3, \"threshold\": [-50.0, -50.0]}, \"timestamp\": "
                        "1700000000000}";
    CHECK(oe("EVENT", 6, spike, NULL, 0, &m, err) == ACQ_OK, "sorted spike: %s", err);
    CHECK(m.kind == ACQ_OE_SPIKE && m.message_num == 17 && m.sample_num == 45000 &&
              m.sorted_id == 3 && m.electrode_number == 2 && !strcmp(m.electrode, "Electrode 2"),
          "sorted_id 3 on Electrode 2, sample 45000 (got %d, %s)", m.sorted_id, m.electrode);
    /* The unit map: sorted ids 1..units first, then one column per electrode. */
    CHECK(acq_oe_column(&m, 4, 0) == 2 && acq_oe_column(&m, 2, 8) == ACQ_OE_SORTED_BEYOND,
          "sorted_id 3: column 2 of 4 units; beyond 2 units");
    const char *unsorted = "{\"message_num\": 18, \"type\": \"spike\", \"spike\": {"
                           "\"electrode\": \"Tetrode 5\", \"sample_num\": 1, \"sorted_id\": 0}}";
    CHECK(oe("EVENT", 6, unsorted, NULL, 0, &m, err) == ACQ_OK && m.sorted_id == 0 &&
              acq_oe_column(&m, 3, 8) == 3 + 4 && acq_oe_column(&m, 3, 0) ==
              ACQ_OE_UNSORTED_LEFT_OUT && acq_oe_column(&m, 3, 4) == ACQ_OE_UNSORTED_UNMAPPED,
          "unsorted spike on Tetrode 5: its electrode's column after 3 units (7), never a "
          "sorted unit's; left out without electrode columns; unmapped beyond them");
    /* The bounds of the map (WIRE.md: sorted_id k in 1..N is column k - 1;
     * n in 1..M): the last electrode and the last sorted unit have columns. */
    CHECK(acq_oe_column(&m, 3, 5) == 3 + 4, "Tetrode 5 with 5 electrodes: the last column (7)");
    CHECK(oe("EVENT", 6, "{\"message_num\": 18, \"type\": \"spike\", \"spike\": {"
             "\"electrode\": \"Tetrode 5\", \"sample_num\": 1, \"sorted_id\": 3}}", NULL, 0,
             &m, err) == ACQ_OK && acq_oe_column(&m, 3, 5) == 2 &&
              acq_oe_column(&m, 2, 5) == ACQ_OE_SORTED_BEYOND,
          "sorted_id 3 of 3 units: column 2; of 2 units: beyond");
    const char *ttl = "{\"message_num\": 19, \"type\": \"event\", \"content\": {\"stream\": "
                      "\"example\", \"source_node\": 102, \"type\": 3, \"sample_num\": 60000}, "
                      "\"data_size\": 10, \"timestamp\": 1}";
    uint8_t payload[10] = {4, 1, 0};
    CHECK(oe("EVENT", 6, ttl, payload, 10, &m, err) == ACQ_OK && m.kind == ACQ_OE_TTL &&
          m.line == 4 && m.state == 1 && m.sample_num == 60000, "TTL line 4 rising at 60000");
    CHECK(oe("EVENT", 6, ttl, payload, 1, &m, err) == ACQ_REJECT_TRUNCATED, "TTL without state");
    const char *data = "{\"message_num\": 20, \"type\": \"data\", \"content\": {\"stream\": \"x\", "
                       "\"channel_num\": 0, \"channel_name\": \"CH1\", \"num_samples\": 640, "
                       "\"sample_num\": 1280, \"sample_rate\": 30000.0}, \"data_size\": 2560, "
                       "\"timestamp\": 1}";
    CHECK(oe("DATA", 5, data, payload, 10, &m, err) == ACQ_OK && m.kind == ACQ_OE_DATA &&
          m.sample_num == 1280 && m.num_samples == 640 && m.sample_rate == 30000,
          "continuous data block as a clock tick");
    CHECK(oe("DATA", 5, spike, NULL, 0, &m, err) == ACQ_REJECT_TYPE, "spike in a DATA envelope");
    CHECK(oe("EVENT", 5, spike, NULL, 0, &m, err) == ACQ_REJECT_TOPIC, "envelope without NUL");
    CHECK(oe("EVENT", 6, "{\"message_num\": 1, \"type\": \"spike\"", NULL, 0, &m, err) ==
          ACQ_REJECT_JSON, "unterminated JSON");
    CHECK(oe("EVENT", 6, "{\"message_num\": -1, \"type\": \"spike\"}", NULL, 0, &m, err) ==
          ACQ_REJECT_JSON, "negative message_num");
    CHECK(oe("EVENT", 6, "{\"message_num\": 1, \"type\": \"spike\", \"spike\": {\"sample_num\": "
                         "5}}", NULL, 0, &m, err) == ACQ_REJECT_VALUE, "spike without a sorted_id");
    CHECK(oe("EVENT", 6, "{\"message_num\": 1, \"type\": \"spike\", \"spike\": {\"sample_num\": "
                         "5, \"sorted_id\": 70000, \"electrode\": \"E 1\"}}", NULL, 0, &m, err) ==
              ACQ_REJECT_VALUE, "sorted_id beyond uint16");
    /* JUCE's JSON::toString: multi-line, CRLF, two-space indent. */
    const char *juce = "{\r\n  \"message_num\": 4,\r\n  \"type\": \"spike\",\r\n  \"spike\": {\r\n"
                       "    \"electrode\": \"Tetrode 2\",\r\n    \"sample_num\": 9,\r\n"
                       "    \"sorted_id\": 0,\r\n    \"threshold\": [\r\n      -50.0,\r\n      -50.0\r\n"
                       "    ]\r\n  },\r\n  \"timestamp\": 1700000000000\r\n}";
    CHECK(oe("EVENT", 6, juce, NULL, 0, &m, err) == ACQ_OK && m.electrode_number == 2 &&
              m.sample_num == 9, "JUCE's multi-line CRLF JSON: %s", err);
    CHECK(oe("EVENT", 6, "{\"message_num\": 1} trailing", NULL, 0, &m, err) == ACQ_REJECT_JSON,
          "text after the JSON");
    char deep[300];
    memset(deep, '[', 150);
    memset(deep + 150, ']', 149);
    deep[299] = 0;
    CHECK(oe("EVENT", 6, deep, NULL, 0, &m, err) == ACQ_REJECT_JSON, "deep nesting refused");
}

static int bins_seen;
static float bin_totals[64];
static int64_t bin_starts[64];

/* The plugin's headers as replay writes them decode to what was written,
 * a name with a quote and a backslash included (JSON escapes: the decoder
 * keeps the escaped letter). */
static void test_openephys_headers(void)
{
    char json[1024], err[ACQ_ERR_SIZE];
    acq_oe_message m;
    size_t n = acq_oe_spike_header(json, sizeof json, 7, "Tetrode \"2\\ 12", 123456789, 31, 5);
    acq_frame f[2] = {{(const uint8_t *)"EVENT", 6}, {(const uint8_t *)json, n}};
    CHECK(n > 0 && acq_oe_decode(f, 2, &m, err) == ACQ_OK && m.kind == ACQ_OE_SPIKE &&
              m.message_num == 7 && m.sample_num == 123456789 && m.sorted_id == 31 &&
              !strcmp(m.electrode, "Tetrode \"2\\ 12") && m.electrode_number == 12,
          "a spike header decodes to its message_num, sample, sorted_id and electrode");
    uint8_t ttl[10] = {3, 1};
    n = acq_oe_ttl_header(json, sizeof json, 8, 4500, 5);
    acq_frame t[3] = {{(const uint8_t *)"EVENT", 6}, {(const uint8_t *)json, n}, {ttl, 10}};
    CHECK(n > 0 && acq_oe_decode(t, 3, &m, err) == ACQ_OK && m.kind == ACQ_OE_TTL &&
              m.sample_num == 4500 && m.line == 3 && m.state == 1,
          "a TTL header decodes to its sample, line and state");
    n = acq_oe_data_header(json, sizeof json, 9, 300, 300, 30000, 5);
    acq_frame d[2] = {{(const uint8_t *)"DATA", 5}, {(const uint8_t *)json, n}};
    CHECK(n > 0 && acq_oe_decode(d, 2, &m, err) == ACQ_OK && m.kind == ACQ_OE_DATA &&
              m.sample_num == 300 && m.num_samples == 300 && m.sample_rate == 30000,
          "a data header decodes to its first sample, length and rate");
    CHECK(acq_oe_spike_header(json, 40, 1, "x", 1, 1, 1) == 0, "a header too long for its "
          "buffer gives 0");
}

static void collect(void *ctx, int64_t start_ns, uint32_t width_ns, const float *counts, int units)
{
    (void)ctx, (void)width_ns;
    if (bins_seen < 64) {
        bin_starts[bins_seen] = start_ns;
        bin_totals[bins_seen] = 0;
        for (int u = 0; u < units; u++)
            bin_totals[bins_seen] += counts[u] * (float)(u + 1); /* unit-weighted */
    }
    bins_seen++;
}

static void test_binner(void)
{
    char err[ACQ_ERR_SIZE];
    acq_binner *b;
    CHECK(acq_binner_create(&b, 3, 30000, 10000000, 2, err) == 0, "binner created");
    /* 10 ms bins at 30 kHz: 300 samples each. Spikes: bin 0 unit 0, bin 0
     * unit 2, bin 1 unit 1, bin 2 unit 0 (arriving out of order), bin 3. */
    acq_binner_add_spike(b, 0, 10, collect, NULL);
    acq_binner_add_spike(b, 1, 350, collect, NULL);
    acq_binner_add_spike(b, 2, 299, collect, NULL); /* back in bin 0, still open */
    acq_binner_add_spike(b, 0, 600, collect, NULL);
    CHECK(bins_seen == 0, "no bin closes within the grace of 2 bins");
    acq_binner_add_spike(b, 1, 900, collect, NULL); /* bin 3: closes bin 0 */
    CHECK(bins_seen == 1 && bin_starts[0] == 0 && bin_totals[0] == 1 + 3,
          "bin 0 holds units 0 and 2 (weighted total %g)", bin_totals[0]);
    CHECK(acq_binner_add_spike(b, 0, 5, collect, NULL) == 1, "spike for a closed bin refused");
    CHECK(acq_binner_add_spike(b, 3, 905, collect, NULL) == 1, "unit out of range refused");
    acq_binner_advance(b, 1500, collect, NULL); /* bin 5 reached: bins 1, 2 close */
    CHECK(bins_seen == 3 && bin_starts[1] == 10000000 && bin_totals[1] == 2 &&
          bin_starts[2] == 20000000 && bin_totals[2] == 1, "bins 1 and 2 in order with their spikes");
    CHECK(acq_binner_time_ns(b, 45000) == 1500000000, "sample 45000 at 30 kHz is 1.5 s");
    acq_binner_destroy(b);
}

static void test_sequence(void)
{
    acq_sequence s;
    uint64_t missed;
    acq_sequence_init(&s);
    CHECK(acq_sequence_check(&s, 1, 0, &missed) == ACQ_SEQ_NEXT, "first message");
    CHECK(acq_sequence_check(&s, 1, 1, &missed) == ACQ_SEQ_NEXT, "next");
    CHECK(acq_sequence_check(&s, 1, 4, &missed) == ACQ_SEQ_GAP && missed == 2, "gap of 2");
    CHECK(acq_sequence_check(&s, 1, 3, &missed) == ACQ_SEQ_LATE, "3 arrives late");
    CHECK(acq_sequence_check(&s, 1, 3, &missed) == ACQ_SEQ_DUPLICATE, "3 again: duplicate");
    CHECK(acq_sequence_check(&s, 1, 4, &missed) == ACQ_SEQ_DUPLICATE, "4 again: duplicate");
    CHECK(acq_sequence_lost(&s) == 1, "one message (2) lost so far");
    CHECK(acq_sequence_check(&s, 2, 0, &missed) == ACQ_SEQ_RESTART, "new epoch: restart");
    CHECK(acq_sequence_check(&s, 2, 1, &missed) == ACQ_SEQ_NEXT, "counting again from 0");
    for (uint64_t q = 2; q < 200; q++)
        acq_sequence_check(&s, 2, q, &missed);
    CHECK(acq_sequence_check(&s, 2, 5, &missed) == ACQ_SEQ_RESTART,
          "far behind without a new epoch: a restart");
    CHECK(s.restarts == 2 && s.duplicates == 2 && s.late == 1 && s.gaps == 2 + 5,
          "counters: restarts %llu duplicates %llu late %llu gaps %llu",
          (unsigned long long)s.restarts, (unsigned long long)s.duplicates,
          (unsigned long long)s.late, (unsigned long long)s.gaps);
}

static void test_endpoints(void)
{
    char err[ACQ_ERR_SIZE];
    CHECK(acq_endpoint_check("tcp://127.0.0.1:5556", 0, err) == 0, "loopback allowed");
    CHECK(acq_endpoint_check("ipc:///tmp/x", 0, err) == 0, "ipc allowed");
    CHECK(acq_endpoint_check("tcp://*:5556", 0, err) != 0 && strstr(err, "allow"),
          "all interfaces refused without --allow-remote: %s", err);
    CHECK(acq_endpoint_check("tcp://10.0.0.5:5556", 1, err) == 0, "remote allowed explicitly");
}

int main(void)
{
    test_counts();
    test_events_onsets();
    test_openephys();
    test_openephys_headers();
    test_binner();
    test_sequence();
    test_endpoints();
    return test_done();
}
