/* openephys.c: messages of the Open Ephys GUI's ZMQ Interface plugin (v1.0)
 * and the binning of its spikes into counts.
 *
 * Each message is an envelope frame ("DATA\0" or "EVENT\0"), a JSON header
 * and, when data_size > 0, a payload. Only a few header fields matter here,
 * so the JSON reader validates the whole document but keeps just the numbers
 * and strings found at paths "key" and "object.key". */
#include "acquisition.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OE_MAX_JSON 65536
#define OE_MAX_DEPTH 8
#define OE_MAX_FIELDS 32

typedef struct oe_field {
    char path[48];
    int is_string;
    double number;
    char text[48];
} oe_field;

typedef struct json_reader {
    const char *p, *end;
    int depth;
    oe_field fields[OE_MAX_FIELDS];
    int nfields;
} json_reader;

static void skip_space(json_reader *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* A JSON string; its first 47 bytes (escapes kept raw) go to `out`. */
static int read_string(json_reader *j, char *out, size_t size)
{
    size_t n = 0;
    if (j->p >= j->end || *j->p != '"')
        return 1;
    j->p++;
    while (j->p < j->end && *j->p != '"') {
        if ((unsigned char)*j->p < 0x20)
            return 1;
        if (*j->p == '\\') {
            if (++j->p >= j->end || !strchr("\"\\/bfnrtu", *j->p))
                return 1;
        }
        if (out && n + 1 < size)
            out[n++] = *j->p;
        j->p++;
    }
    if (out)
        out[n] = 0;
    if (j->p >= j->end)
        return 1;
    j->p++;
    return 0;
}

static int read_number(json_reader *j, double *out)
{
    char buf[64];
    size_t n = 0;
    while (j->p + n < j->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", j->p[n])) {
        buf[n] = j->p[n];
        n++;
    }
    buf[n] = 0;
    char *stop;
    *out = strtod(buf, &stop);
    if (n == 0 || *stop || !isfinite(*out))
        return 1;
    j->p += n;
    return 0;
}

static int read_literal(json_reader *j)
{
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= len && !memcmp(j->p, words[i], len)) {
            j->p += len;
            return 0;
        }
    }
    return 1;
}

static void keep_field(json_reader *j, const char *path, int is_string, double number,
                       const char *text)
{
    if (j->nfields == OE_MAX_FIELDS)
        return;
    oe_field *f = &j->fields[j->nfields++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->is_string = is_string;
    f->number = number;
    snprintf(f->text, sizeof f->text, "%s", text ? text : "");
}

static int read_value(json_reader *j, const char *path);

static int read_object(json_reader *j, const char *path)
{
    j->p++; /* '{' */
    skip_space(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        char key[32], child[48];
        skip_space(j);
        if (read_string(j, key, sizeof key))
            return 1;
        skip_space(j);
        if (j->p >= j->end || *j->p != ':')
            return 1;
        j->p++;
        snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "", key);
        /* Deeper than object.key is never needed: such paths are not kept. */
        if (read_value(j, j->depth <= 2 ? child : NULL))
            return 1;
        skip_space(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        }
        return 1;
    }
}

static int read_array(json_reader *j)
{
    j->p++; /* '[' */
    skip_space(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (read_value(j, NULL))
            return 1;
        skip_space(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 0;
        }
        return 1;
    }
}

static int read_value(json_reader *j, const char *path)
{
    skip_space(j);
    if (j->p >= j->end)
        return 1;
    int r;
    if (*j->p == '{' || *j->p == '[') {
        if (++j->depth > OE_MAX_DEPTH)
            return 1;
        r = *j->p == '{' ? read_object(j, path ? path : "-") : read_array(j);
        j->depth--;
        return r;
    }
    if (*j->p == '"') {
        char text[48];
        r = read_string(j, text, sizeof text);
        if (!r && path)
            keep_field(j, path, 1, 0, text);
        return r;
    }
    if (*j->p == '-' || isdigit((unsigned char)*j->p)) {
        double v;
        r = read_number(j, &v);
        if (!r && path)
            keep_field(j, path, 0, v, NULL);
        return r;
    }
    return read_literal(j);
}

static const oe_field *field(const json_reader *j, const char *path)
{
    for (int i = 0; i < j->nfields; i++)
        if (!strcmp(j->fields[i].path, path))
            return &j->fields[i];
    return NULL;
}

/* A number field that must be there, integral and within [min, max]. */
static int get_int(const json_reader *j, const char *path, double min, double max, int64_t *out)
{
    const oe_field *f = field(j, path);
    if (!f || f->is_string || f->number != floor(f->number) || f->number < min ||
        f->number > max)
        return 1;
    *out = (int64_t)f->number;
    return 0;
}

/* ------------------------------------------------------------------------ */

/* The number that ends an electrode's name ("Tetrode 3" → 3); -1 without one. */
static int electrode_number(const char *name)
{
    const char *s = name + strlen(name);
    while (s > name && isdigit((unsigned char)s[-1]))
        s--;
    if (!*s || s - name > 40 || strlen(s) > 6)
        return -1;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= ACQ_MAX_UNITS ? (int)v : -1;
}

static int decode_spike(const json_reader *j, acq_oe_message *m, char *err)
{
    int64_t sorted = 0;
    m->kind = ACQ_OE_SPIKE;
    if (get_int(j, "spike.sample_num", 0, 9e15, &m->sample_num))
        return acq_fail_reject(err, ACQ_REJECT_JSON,
                               "Open Ephys spike without a valid spike.sample_num");
    /* The plugin writes the Spike Sorter's uint16 sorted_id, 0 for unsorted. */
    if (get_int(j, "spike.sorted_id", 0, 65535, &sorted))
        return acq_fail_reject(err, ACQ_REJECT_VALUE,
                               "Open Ephys spike without a sorted_id in 0..65535");
    const oe_field *e = field(j, "spike.electrode");
    if (!e || !e->is_string)
        return acq_fail_reject(err, ACQ_REJECT_JSON, "Open Ephys spike without an electrode name");
    m->sorted_id = (int)sorted;
    snprintf(m->electrode, sizeof m->electrode, "%s", e->text);
    m->electrode_number = electrode_number(m->electrode);
    return ACQ_OK;
}

int acq_oe_column(const acq_oe_message *m, int units, int electrodes)
{
    if (m->sorted_id > 0)
        return m->sorted_id <= units ? m->sorted_id - 1 : ACQ_OE_SORTED_BEYOND;
    if (electrodes == 0)
        return ACQ_OE_UNSORTED_LEFT_OUT;
    if (m->electrode_number < 1 || m->electrode_number > electrodes)
        return ACQ_OE_UNSORTED_UNMAPPED;
    return units + m->electrode_number - 1;
}

static int decode_event(const json_reader *j, const acq_frame *payload, acq_oe_message *m,
                        char *err)
{
    int64_t type;
    if (get_int(j, "content.type", 0, 6, &type) ||
        get_int(j, "content.sample_num", 0, 9e15, &m->sample_num))
        return acq_fail_reject(err, ACQ_REJECT_JSON,
                               "Open Ephys event without content.type and sample_num");
    if (type != 3) {
        m->kind = ACQ_OE_OTHER; /* spikes come with their own "spike" type */
        return ACQ_OK;
    }
    m->kind = ACQ_OE_TTL;
    if (!payload || payload->size < 2)
        return acq_fail_reject(err, ACQ_REJECT_TRUNCATED,
                               "Open Ephys TTL event without its line and state bytes");
    if (payload->size > 64)
        return acq_fail_reject(err, ACQ_REJECT_OVERSIZED,
                               "Open Ephys TTL payload longer than 64 bytes");
    m->line = payload->data[0];
    m->state = payload->data[1] != 0;
    return ACQ_OK;
}

static int decode_data(const json_reader *j, acq_oe_message *m, char *err)
{
    m->kind = ACQ_OE_DATA;
    const oe_field *rate = field(j, "content.sample_rate");
    if (get_int(j, "content.sample_num", 0, 9e15, &m->sample_num) ||
        get_int(j, "content.num_samples", 0, 1e9, &m->num_samples))
        return acq_fail_reject(err, ACQ_REJECT_JSON,
                               "Open Ephys data without content.sample_num/num_samples");
    if (rate && (rate->is_string || !(rate->number > 0 && rate->number < 1e7)))
        return acq_fail_reject(err, ACQ_REJECT_VALUE,
                               "Open Ephys content.sample_rate not a positive number");
    m->sample_rate = rate ? rate->number : 0;
    return ACQ_OK;
}

int acq_oe_decode(const acq_frame *frames, int count, acq_oe_message *m, char *err)
{
    memset(m, 0, sizeof *m);
    if (count < 2 || count > 3)
        return acq_fail_reject(err, ACQ_REJECT_FRAMES,
                               "Open Ephys message is not envelope, header[, payload]");
    int is_data = frames[0].size == 5 && !memcmp(frames[0].data, "DATA", 5);
    int is_event = frames[0].size == 6 && !memcmp(frames[0].data, "EVENT", 6);
    if (!is_data && !is_event)
        return acq_fail_reject(err, ACQ_REJECT_TOPIC, "Open Ephys envelope neither DATA nor EVENT");
    if (frames[1].size > OE_MAX_JSON)
        return acq_fail_reject(err, ACQ_REJECT_OVERSIZED, "Open Ephys JSON header over 64 KiB");
    json_reader j = {.p = (const char *)frames[1].data,
                     .end = (const char *)frames[1].data + frames[1].size};
    skip_space(&j);
    if (j.p >= j.end || *j.p != '{' || read_value(&j, "") )
        return acq_fail_reject(err, ACQ_REJECT_JSON, "Open Ephys header is not a JSON object");
    skip_space(&j);
    if (j.p != j.end && !(j.p + 1 == j.end && *j.p == 0))
        return acq_fail_reject(err, ACQ_REJECT_JSON, "Open Ephys text after the JSON header");
    int64_t num;
    if (get_int(&j, "message_num", 0, 9e15, &num))
        return acq_fail_reject(err, ACQ_REJECT_JSON,
                               "Open Ephys header without a valid message_num");
    m->message_num = (uint64_t)num;
    const oe_field *type = field(&j, "type");
    if (!type || !type->is_string)
        return acq_fail_reject(err, ACQ_REJECT_JSON, "Open Ephys header without a type");
    const acq_frame *payload = count == 3 ? &frames[2] : NULL;
    if (is_data && !strcmp(type->text, "data"))
        return decode_data(&j, m, err);
    if (is_event && !strcmp(type->text, "spike"))
        return decode_spike(&j, m, err);
    if (is_event && !strcmp(type->text, "event"))
        return decode_event(&j, payload, m, err);
    return acq_fail_reject(err, ACQ_REJECT_TYPE,
                           "Open Ephys header type does not fit the envelope");
}

/* ------------------------------------------------------------------------ */
/* Headers as the plugin writes them (tests/openephys_plugin.py is the
 * reference written from its source). */

static size_t fitted(int n, size_t size)
{
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t acq_oe_spike_header(char *out, size_t size, uint64_t message_num, const char *electrode,
                           int64_t sample_num, int sorted_id, int64_t timestamp_ms)
{
    char name[96];
    size_t n = 0;
    for (const char *c = electrode; *c && n + 2 < sizeof name; c++) {
        if (*c == '"' || *c == '\\')
            name[n++] = '\\';
        name[n++] = *c;
    }
    name[n] = 0;
    return fitted(snprintf(out, size,
                           "{\r\n  \"message_num\": %llu,\r\n  \"type\": \"spike\",\r\n"
                           "  \"spike\": {\r\n    \"stream\": \"replay\",\r\n"
                           "    \"source_node\": 0,\r\n    \"electrode\": \"%s\",\r\n"
                           "    \"sample_num\": %lld,\r\n    \"num_channels\": 0,\r\n"
                           "    \"num_samples\": 0,\r\n    \"sorted_id\": %d,\r\n"
                           "    \"threshold\": []\r\n  },\r\n  \"timestamp\": %lld\r\n}",
                           (unsigned long long)message_num, name, (long long)sample_num,
                           sorted_id, (long long)timestamp_ms),
                  size);
}

size_t acq_oe_ttl_header(char *out, size_t size, uint64_t message_num, int64_t sample_num,
                         int64_t timestamp_ms)
{
    return fitted(snprintf(out, size,
                           "{\r\n  \"message_num\": %llu,\r\n  \"type\": \"event\",\r\n"
                           "  \"content\": {\r\n    \"stream\": \"replay\",\r\n"
                           "    \"source_node\": 0,\r\n    \"type\": 3,\r\n"
                           "    \"sample_num\": %lld\r\n  },\r\n  \"data_size\": 10,\r\n"
                           "  \"timestamp\": %lld\r\n}",
                           (unsigned long long)message_num, (long long)sample_num,
                           (long long)timestamp_ms),
                  size);
}

size_t acq_oe_data_header(char *out, size_t size, uint64_t message_num, int64_t sample_num,
                          int64_t num_samples, double sample_rate, int64_t timestamp_ms)
{
    return fitted(snprintf(out, size,
                           "{\r\n  \"message_num\": %llu,\r\n  \"type\": \"data\",\r\n"
                           "  \"content\": {\r\n    \"stream\": \"replay\",\r\n"
                           "    \"channel_num\": 0,\r\n    \"channel_name\": \"CH1\",\r\n"
                           "    \"num_samples\": %lld,\r\n    \"sample_num\": %lld,\r\n"
                           "    \"sample_rate\": %.1f\r\n  },\r\n  \"data_size\": 0,\r\n"
                           "  \"timestamp\": %lld\r\n}",
                           (unsigned long long)message_num, (long long)num_samples,
                           (long long)sample_num, sample_rate, (long long)timestamp_ms),
                  size);
}

/* ------------------------------------------------------------------------ */
/* Binning. A ring of `open` bins starting at bin index `first`. */

#define BINNER_OPEN 64

struct acq_binner {
    int units, grace;
    double rate;
    uint32_t width_ns;
    int64_t hold;       /* samples: a bin closes once a sample this far past its end is seen */
    int started;
    int64_t first;      /* index of the oldest open bin */
    int64_t newest;     /* the highest sample seen */
    float *bins;        /* BINNER_OPEN × units, slot = index % BINNER_OPEN */
};

int acq_binner_create(acq_binner **out, int units, double sample_rate, uint32_t bin_width_ns,
                      int grace_bins, char *err)
{
    *out = NULL;
    if (units < 1 || units > ACQ_MAX_UNITS || !(sample_rate > 0) || bin_width_ns == 0 ||
        grace_bins < 0 || grace_bins >= BINNER_OPEN / 2)
        return acq_fail(err, "binner: units 1..65536, rate > 0, width > 0, grace 0..%d",
                        BINNER_OPEN / 2 - 1);
    acq_binner *b = calloc(1, sizeof *b);
    float *bins = calloc((size_t)BINNER_OPEN * (size_t)units, sizeof *bins);
    if (!b || !bins) {
        free(b);
        free(bins);
        return acq_fail(err, "binner: out of memory");
    }
    b->units = units;
    b->rate = sample_rate;
    b->width_ns = bin_width_ns;
    b->grace = grace_bins;
    b->bins = bins;
    *out = b;
    return 0;
}

void acq_binner_destroy(acq_binner *b)
{
    if (b)
        free(b->bins);
    free(b);
}

void acq_binner_set_hold(acq_binner *b, int64_t samples)
{
    /* The ring must still hold the bins a hold keeps open, with the grace. */
    double limit = (double)(BINNER_OPEN / 2) * b->width_ns / 1e9 * b->rate;
    b->hold = samples < 0 ? 0 : (double)samples > limit ? (int64_t)limit : samples;
}

int64_t acq_binner_time_ns(const acq_binner *b, int64_t sample)
{
    /* Saturated at 2^61 ns (73 years): a wild sample number stays a time that
     * sums safely. */
    double t = (double)sample / b->rate * 1e9, limit = (double)((int64_t)1 << 61);
    return t > limit ? (int64_t)1 << 61 : t < -limit ? -((int64_t)1 << 61) : (int64_t)llround(t);
}

static int64_t bin_of(const acq_binner *b, int64_t sample)
{
    return acq_binner_time_ns(b, sample) / b->width_ns;
}

static float *slot(acq_binner *b, int64_t index)
{
    return b->bins + (size_t)(index % BINNER_OPEN) * (size_t)b->units;
}

/* Emits and clears open bins until `index` is the oldest still open. Bins
 * without spikes are emitted too (zeros), so the consumer sees no hole; a
 * jump longer than BINNER_MAX_FILL bins is a restart or a clock jump, and
 * leaves a hole instead of looping over unbounded time. */
#define BINNER_MAX_FILL 100000

static void close_until(acq_binner *b, int64_t index, acq_bin_sink sink, void *ctx)
{
    int64_t stop = index - b->first > BINNER_MAX_FILL ? b->first + BINNER_OPEN : index;
    while (b->first < stop) {
        float *s = slot(b, b->first);
        sink(ctx, b->first * (int64_t)b->width_ns, b->width_ns, s, b->units);
        memset(s, 0, sizeof(float) * (size_t)b->units);
        b->first++;
    }
    if (b->first < index)
        b->first = index;
}

/* The first message's block may hold earlier samples still to come: the
 * first open bin is a hold before it. */
static void start_at(acq_binner *b, int64_t sample)
{
    if (!b->started) {
        b->started = 1;
        b->first = bin_of(b, sample > b->hold ? sample - b->hold : 0);
    }
}

void acq_binner_advance(acq_binner *b, int64_t sample, acq_bin_sink sink, void *ctx)
{
    start_at(b, sample);
    if (sample > b->newest)
        b->newest = sample;
    /* Bins ending `grace` bins (and the hold) before the newest sample are complete. */
    int64_t index = bin_of(b, sample > b->hold ? sample - b->hold : 0);
    if (index - b->grace > b->first)
        close_until(b, index - b->grace, sink, ctx);
}

int acq_binner_add_spike(acq_binner *b, int unit, int64_t sample, acq_bin_sink sink, void *ctx)
{
    if (unit < 0 || unit >= b->units)
        return 1;
    int64_t index = bin_of(b, sample);
    start_at(b, sample);
    if (index < b->first)
        return 1;
    if (index >= b->first + BINNER_OPEN)
        close_until(b, index - BINNER_OPEN + 1, sink, ctx);
    slot(b, index)[unit] += 1;
    acq_binner_advance(b, sample, sink, ctx);
    return 0;
}

void acq_binner_flush(acq_binner *b, acq_bin_sink sink, void *ctx)
{
    if (b->started)
        close_until(b, bin_of(b, b->newest), sink, ctx);
}

void acq_binner_reset(acq_binner *b)
{
    b->started = 0;
    b->newest = 0;
    memset(b->bins, 0, sizeof(float) * (size_t)BINNER_OPEN * (size_t)b->units);
}
