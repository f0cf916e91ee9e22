/* test_record.c: the session record: payload fields round-trip; records of
 * every type are read back with their values; a corrupt record in the middle
 * is reported at its offset and skipped; a torn tail is cut on resume and
 * appending continues; a full disk stops the writer with the record intact;
 * numpy reads what C wrote (tests/record_check.py, argv[1], with the
 * reader controller/record/record_reader.py, argv[2]); the schema tables
 * read every record back typed; and RECORD.md beside the reader lists
 * exactly the tables' types and fields. */
#include "controller.h"
#include "record/record_crc.h"
#include "test.h"
#include "test_files.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zlib.h>
#include <unistd.h>

#define NEURONS 7

static void test_crc(void)
{
    /* The record's CRC is zlib's crc32 (RECORD.md): the IEEE polynomial, whose
     * standard check value this is. */
    CHECK(crc32_z(0, (const unsigned char *)"123456789", 9) == 0xCBF43926u,
          "zlib's CRC-32 of '123456789' is cbf43926");
    uLong part = crc32_z(0, (const unsigned char *)"1234", 4);
    CHECK(crc32_z(part, (const unsigned char *)"56789", 5) == 0xCBF43926u,
          "CRC-32 continues across pieces");
}

/* FIPS 180-2's examples (appendix B): one block, two blocks, a million 'a's
 * fed in uneven pieces, and the empty message. */
static void test_sha256(void)
{
    static const struct {
        const char *text, *hex;
    } cases[] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    };
    uint8_t digest[SHA256_SIZE];
    char hex[2 * SHA256_SIZE + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sha256_of(cases[i].text, strlen(cases[i].text), digest);
        sha256_hex(digest, hex);
        CHECK(!strcmp(hex, cases[i].hex), "SHA-256 of '%s' is %.16s...", cases[i].text,
              cases[i].hex);
    }
    char a[997];
    memset(a, 'a', sizeof a);
    sha256_context s;
    sha256_init(&s);
    for (size_t done = 0, piece = 1; done < 1000000; done += piece, piece = piece % 997 + 1)
        sha256_update(&s, a, done + piece > 1000000 ? 1000000 - done : piece);
    sha256_final(&s, digest);
    sha256_hex(digest, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
          "SHA-256 of a million 'a's, in pieces of 1..997 bytes");
}

/* A record by hand (RECORD.md's layout), for crafted files. */
static size_t put_record(unsigned char *at, int type, const char *payload, uint32_t length,
                         uint64_t sequence)
{
    unsigned char h[RECORD_HEADER_SIZE] = {'I', 'R', 'E', 'C', 1, 0, (unsigned char)type, 0};
    for (int i = 0; i < 4; i++)
        h[8 + i] = (unsigned char)(length >> (8 * i));
    for (int i = 0; i < 8; i++)
        h[12 + i] = (unsigned char)(sequence >> (8 * i));
    memcpy(at, h, sizeof h);
    memcpy(at + RECORD_HEADER_SIZE, payload, length);
    uint32_t crc = (uint32_t)crc32_z(0, at, RECORD_HEADER_SIZE + length);
    for (int i = 0; i < 4; i++)
        at[RECORD_HEADER_SIZE + length + i] = (unsigned char)(crc >> (8 * i));
    return RECORD_HEADER_SIZE + length + RECORD_TRAILER_SIZE;
}

/* CRCs of ranges from the prefix index equal the CRC of the bytes (zlib's
 * check value included), at stride boundaries and inside strides. */
static void test_crc_ranges(void)
{
    enum { SIZE = 5000 };
    unsigned char *data = malloc(SIZE);
    for (int i = 0; i < SIZE; i++)
        data[i] = (unsigned char)(i * 7919u >> 3);
    memcpy(data + 1000, "123456789", 9);
    record_crc_index *x = record_crc_index_create(data, SIZE);
    CHECK(x && record_crc_index_range(x, 1000, 1009) == 0xCBF43926u,
          "the index's CRC of '123456789' in a buffer is cbf43926");
    int bad = 0, tried = 0;
    for (size_t from = 0; x && from < SIZE; from += 37)
        for (size_t to = from; to <= SIZE; to += 251, tried++)
            bad += record_crc_index_range(x, from, to) != crc32_z(0, data + from, to - from);
    CHECK(tried > 1000 && bad == 0, "%d of %d ranges' CRCs from the index differ from the bytes'",
          bad, tried);
    record_crc_index_destroy(x);
    free(data);
}

/* A stretch of headers each claiming the rest of the file, between two
 * valid records: one corrupt stretch, the second record found where it is. */
static void test_crafted_stretch(void)
{
    enum { CRAFTED = 60000 };
    size_t size = 2 * (RECORD_HEADER_SIZE + 2 + RECORD_TRAILER_SIZE) + CRAFTED;
    unsigned char *data = calloc(1, size);
    size_t first = put_record(data, RECORD_NOTE, "hi", 2, 1);
    for (size_t at = first; at + 12 <= first + CRAFTED; at += 12) {
        uint32_t claimed = (uint32_t)(size - at - RECORD_HEADER_SIZE - RECORD_TRAILER_SIZE);
        unsigned char h[12] = {'I', 'R', 'E', 'C', 1, 0, RECORD_NOTE, 0, (unsigned char)claimed,
                               (unsigned char)(claimed >> 8), (unsigned char)(claimed >> 16),
                               (unsigned char)(claimed >> 24)};
        memcpy(data + at, h, sizeof h);
    }
    put_record(data + first + CRAFTED, RECORD_NOTE, "ok", 2, 2);
    record_reader *r;
    record_view v;
    char err[CONTROLLER_ERR_SIZE];
    int kinds[4] = {0}, status;
    size_t second = 0;
    CHECK(record_reader_open_memory(data, size, &r, err) == 0, "reader over a crafted stretch");
    while ((status = record_reader_next(r, &v, err)) != RECORD_NEXT_END) {
        kinds[status]++;
        if (status == RECORD_NEXT_OK && v.sequence == 2)
            second = v.offset;
    }
    CHECK(kinds[RECORD_NEXT_OK] == 2 && kinds[RECORD_NEXT_CORRUPT] == 1 &&
              kinds[RECORD_NEXT_TORN] == 0 && second == first + CRAFTED,
          "crafted headers: 2 records, 1 corrupt stretch, the second record at %zu (got %d, "
          "%d, %d, at %zu)", first + CRAFTED, kinds[RECORD_NEXT_OK],
          kinds[RECORD_NEXT_CORRUPT], kinds[RECORD_NEXT_TORN], second);
    record_reader_close(r);
    free(data);
}

static void test_payload(void)
{
    record_payload p;
    record_payload_init(&p);
    float image[2][3] = {{0.f, 0.25f, 0.5f}, {0.75f, 1.f, -1.f}};
    uint32_t shape[2] = {2, 3};
    record_payload_i64(&p, "trial", -42);
    record_payload_u64(&p, "big", UINT64_MAX);
    record_payload_f64(&p, "corr", 0.123456789);
    record_payload_text(&p, "kind", "mei");
    record_payload_bytes(&p, "blob", "\0\1\2", 3);
    record_payload_array(&p, "pixels", RECORD_F32, 2, shape, image);
    CHECK(!p.failed, "six fields encoded");
    int64_t i;
    double d;
    char text[16];
    record_field f;
    CHECK(record_get_i64(p.data, p.size, "trial", &i) == 0 && i == -42, "i64 back: %lld",
          (long long)i);
    CHECK(record_get_f64(p.data, p.size, "corr", &d) == 0 && d == 0.123456789, "f64 back");
    CHECK(record_get_f64(p.data, p.size, "trial", &d) == 0 && d == -42.0, "i64 read as f64");
    CHECK(record_get_i64(p.data, p.size, "corr", &i) != 0, "f64 is not read as an integer");
    CHECK(record_get_text(p.data, p.size, "kind", text, sizeof text) == 0 &&
              !strcmp(text, "mei"), "text back");
    CHECK(record_field_find(p.data, p.size, "blob", &f) == 0 && f.count == 3 &&
              !memcmp(f.data, "\0\1\2", 3), "bytes back");
    CHECK(record_field_find(p.data, p.size, "pixels", &f) == 0 && f.ndim == 2 &&
              f.shape[0] == 2 && f.shape[1] == 3 && f.dtype == RECORD_F32 &&
              !memcmp(f.data, image, sizeof image), "2x3 float array back");
    CHECK(record_field_find(p.data, p.size, "absent", &f) != 0, "a missing field is not found");
    /* Every cut of the payload is either a clean prefix or refused. */
    int crashes_or_lies = 0;
    for (size_t cut = 0; cut < p.size; cut++) {
        size_t at = 0;
        char err[CONTROLLER_ERR_SIZE];
        int status, fields = 0;
        while ((status = record_field_next(p.data, cut, &at, &f, err)) == 0)
            fields++;
        if (at > cut || fields >= 6)
            crashes_or_lies++;
    }
    CHECK(crashes_or_lies == 0, "truncated payloads never read past their end");
    record_payload_reset(&p);
    record_payload_i64(&p, "", 1);
    CHECK(p.failed, "an empty field name is refused");
    record_payload_free(&p);
}

static float count_value(int64_t trial, int neuron)
{
    return (float)((trial * 7 + neuron * 3) % 11) * 0.5f;
}

/* Writes one record of every type; returns how many records (with the start). */
static int write_session(const char *dir, const char *model_path, char *err)
{
    session_record *w;
    const char *text = "name: test\nseed: 3\n";
    if (session_record_create(dir, "test", text, strlen(text), &w, err))
        return -1;
    float counts[NEURONS], pixels[4 * 5];
    for (int n = 0; n < NEURONS; n++)
        counts[n] = count_value(5, n);
    for (int k = 0; k < 20; k++)
        pixels[k] = sinf((float)k);
    uint8_t digest[SHA256_SIZE]; /* the stimulus' hash, as run writes it with each showing */
    record_pixels_sha256(pixels, 4, 5, digest);
    record_schedule_entry e = {.trial = 5, .block = "train", .kind = "natural", .image_id = 1234,
                               .target_neuron = -1, .stimulus_frames = 8, .isi_frames = 4,
                               .image_sha256 = digest};
    record_flip_event fl = {.trial = 5, .frame = 99, .flip_ns = 1000000, .onset_ns = 1004000,
                            .missed = 1, .photodiode = 1, .onset = 1};
    record_stream_message m = {.message_num = 77, .kind = "data", .sample_num = 30000,
                               .num_samples = 1024, .timestamp_ms = 1700000000000,
                               .received_ns = 2000000, .lost = 2, .data_size = 4096,
                               .bin_width_ns = 0, .units = 0, .counts = NULL, .clock_reset = 0};
    record_sync_event s = {.line = 1, .state = 1, .sample_num = 30123, .received_ns = 2100000,
                           .trial = 5};
    record_alignment a = {.slope_ns_per_sample = 1.0000125, .offset_ns = -12.5,
                          .residual_rms_ns = 80.5, .residual_max_ns = 210.0, .points = 40,
                          .display_ref_ns = 1004000, .acquisition_ref_ns = 987654321};
    record_trial t = {.trial = 5, .image_id = 1234, .onset_ns = 1004000, .neurons = NEURONS,
                      .counts = counts};
    record_stimulus st = {.stimulus_id = 3, .neuron = 2, .kind = "mei", .height = 4, .width = 5,
                          .pixels = pixels, .predicted = 17.25};
    record_evaluation ev = {.neuron = 2, .kind = "mei", .mean = 12.5, .ci_low = 10.0,
                            .ci_high = 15.0, .repeats = 8};
    uint64_t seq = 0;
    int status = session_record_phase(w, "recording", "begin", err) ||
                 session_record_schedule(w, &e, err) || session_record_flip(w, &fl, err) ||
                 session_record_stream(w, &m, err) || session_record_sync_event(w, &s, err) ||
                 session_record_alignment(w, &a, err) || session_record_trial(w, &t, &seq, err) ||
                 session_record_checkpoint(w, model_path, 3, 0.41, err) ||
                 session_record_stimulus(w, &st, err) || session_record_evaluation(w, &ev, err) ||
                 session_record_note(w, "hello, record", err);
    CHECK(seq == 8, "the trial record is sequence 8 (got %llu)", (unsigned long long)seq);
    CHECK(session_record_durable_sequence(w) == 2, "the phase record made 1..2 durable");
    status = status || session_record_sync(w, err);
    CHECK(session_record_durable_sequence(w) == 12, "an explicit sync makes all 12 durable");
    status = session_record_close(w, err) || status;
    return status ? -1 : 12;
}

static void test_write_and_read(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE], model_path[4096], record_path[4200];
    snprintf(model_path, sizeof model_path, "%s-model.bin", dir);
    FILE *f = fopen(model_path, "wb");
    for (int k = 0; f && k < 1000; k++)
        fputc(k * 7 & 255, f);
    if (f)
        fclose(f);
    int written = write_session(dir, model_path, err);
    CHECK(written == 12, "a session of 12 records written: %s", written == 12 ? "" : err);
    session_record *again;
    CHECK(session_record_create(dir, "x", "", 0, &again, err) != 0 && strstr(err, "already"),
          "a second create in the same folder is refused: %s", err);

    snprintf(record_path, sizeof record_path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    CHECK(record_reader_open(record_path, &r, err) == 0, "reader opens");
    int expected[12] = {RECORD_SESSION_START, RECORD_PHASE,     RECORD_SCHEDULE,
                        RECORD_FLIP,          RECORD_STREAM,    RECORD_SYNC,
                        RECORD_ALIGNMENT,     RECORD_TRIAL,     RECORD_CHECKPOINT,
                        RECORD_STIMULUS,      RECORD_EVALUATION, RECORD_NOTE};
    record_view v;
    int n = 0, order_ok = 1, status;
    uint64_t last_time = 0;
    while ((status = record_reader_next(r, &v, err)) == RECORD_NEXT_OK) {
        if (n >= 12 || v.type != expected[n] || v.sequence != (uint64_t)n + 1 ||
            v.time_ns < last_time)
            order_ok = 0;
        last_time = v.time_ns;
        int64_t i;
        double d;
        char text[64];
        record_field fl;
        if (v.type == RECORD_SESSION_START) {
            CHECK(record_field_find(v.payload, v.length, "protocol_text", &fl) == 0 &&
                      fl.count == 19 && !memcmp(fl.data, "name: test\nseed: 3\n", 19),
                  "session start holds the protocol text verbatim");
        } else if (v.type == RECORD_TRIAL) {
            int same = record_field_find(v.payload, v.length, "counts", &fl) == 0 &&
                       fl.count == NEURONS && fl.dtype == RECORD_F32;
            for (int k = 0; same && k < NEURONS; k++) {
                float c;
                memcpy(&c, (const char *)fl.data + 4 * k, 4);
                same = c == count_value(5, k);
            }
            CHECK(same && record_get_i64(v.payload, v.length, "image_id", &i) == 0 && i == 1234,
                  "trial: 7 counts and image id back");
        } else if (v.type == RECORD_CHECKPOINT) {
            int same = record_field_find(v.payload, v.length, "model", &fl) == 0 &&
                       fl.count == 1000;
            for (int k = 0; same && k < 1000; k++)
                same = ((const unsigned char *)fl.data)[k] == (k * 7 & 255);
            CHECK(same && record_get_f64(v.payload, v.length, "validation_corr", &d) == 0 &&
                      d == 0.41, "checkpoint: the model file's 1000 bytes back");
        } else if (v.type == RECORD_ALIGNMENT) {
            CHECK(record_get_f64(v.payload, v.length, "slope_ns_per_sample", &d) == 0 &&
                      d == 1.0000125 &&
                      record_get_i64(v.payload, v.length, "display_ref_ns", &i) == 0 &&
                      i == 1004000 &&
                      record_get_i64(v.payload, v.length, "acquisition_ref_ns", &i) == 0 &&
                      i == 987654321, "alignment slope and reference point back");
        } else if (v.type == RECORD_STIMULUS) {
            int same = record_field_find(v.payload, v.length, "pixels", &fl) == 0 &&
                       fl.ndim == 2 && fl.shape[0] == 4 && fl.shape[1] == 5;
            for (int k = 0; same && k < 20; k++) {
                float x;
                memcpy(&x, (const char *)fl.data + 4 * k, 4);
                same = x == sinf((float)k);
            }
            CHECK(same, "stimulus: 4x5 pixels back");
        } else if (v.type == RECORD_NOTE) {
            CHECK(record_get_text(v.payload, v.length, "text", text, sizeof text) == 0 &&
                      !strcmp(text, "hello, record"), "note text back");
        } else if (v.type == RECORD_STREAM) {
            CHECK(record_get_i64(v.payload, v.length, "message_num", &i) == 0 && i == 77 &&
                      record_get_i64(v.payload, v.length, "lost", &i) == 0 && i == 2,
                  "stream message header back");
        }
        n++;
    }
    CHECK(status == RECORD_NEXT_END && n == 12 && order_ok,
          "12 records in order, sequences 1..12, times non-decreasing, clean end");
    record_reader_close(r);
    remove(model_path);
}

/* ---- the typed reads (record_schema.c) ---- */

/* Each record of write_session read back with its record_X_read: every
 * value as written (integers and floats bit for bit: the bytes are copied). */
static int typed_visit(const record_view *v, void *ctx, char *err)
{
    int *checked = ctx;
    float pixels[20];
    for (int k = 0; k < 20; k++)
        pixels[k] = sinf((float)k);
    uint8_t digest[SHA256_SIZE];
    record_pixels_sha256(pixels, 4, 5, digest);
    int ok = 0;
    switch (v->type) {
    case RECORD_SESSION_START: {
        record_session_start s;
        ok = record_session_start_read(v, &s, err) == 0 && s.format_version == 1 &&
             !strcmp(s.protocol_name, "test") && s.protocol_size == 19 &&
             !memcmp(s.protocol_text, "name: test\nseed: 3\n", 19) && s.unix_ns > 0 &&
             !strcmp(s.inception_version, inception_version_string()) && !s.protocol_dir;
        free(s.decoded);
        break;
    }
    case RECORD_PHASE: {
        record_phase p;
        ok = record_phase_read(v, &p, err) == 0 && !strcmp(p.phase, "recording") &&
             !strcmp(p.event, "begin") && p.unix_ns > 0;
        free(p.decoded);
        break;
    }
    case RECORD_SCHEDULE: {
        record_schedule_entry e;
        ok = record_schedule_read(v, &e, err) == 0 && e.trial == 5 && !strcmp(e.block, "train") &&
             !strcmp(e.kind, "natural") && e.image_id == 1234 && e.target_neuron == -1 &&
             e.stimulus_frames == 8 && e.isi_frames == 4 && e.image_sha256 &&
             !memcmp(e.image_sha256, digest, SHA256_SIZE);
        free(e.decoded);
        break;
    }
    case RECORD_FLIP: {
        record_flip_event f;
        ok = record_flip_read(v, &f, err) == 0 && f.trial == 5 && f.frame == 99 &&
             f.flip_ns == 1000000 && f.onset_ns == 1004000 && f.missed == 1 &&
             f.photodiode == 1 && f.onset == 1 && f.has_onset;
        free(f.decoded);
        break;
    }
    case RECORD_STREAM: {
        record_stream_message m;
        ok = record_stream_read(v, &m, err) == 0 && m.message_num == 77 &&
             !strcmp(m.kind, "data") && m.sample_num == 30000 && m.num_samples == 1024 &&
             m.timestamp_ms == 1700000000000 && m.received_ns == 2000000 && m.lost == 2 &&
             m.data_size == 4096 && !m.counts && m.units == 0 && m.clock_reset == 0;
        free(m.decoded);
        break;
    }
    case RECORD_SYNC: {
        record_sync_event s;
        ok = record_sync_read(v, &s, err) == 0 && s.line == 1 && s.state == 1 &&
             s.sample_num == 30123 && s.received_ns == 2100000 && s.trial == 5;
        free(s.decoded);
        break;
    }
    case RECORD_ALIGNMENT: {
        record_alignment a;
        ok = record_alignment_read(v, &a, err) == 0 && a.slope_ns_per_sample == 1.0000125 &&
             a.offset_ns == -12.5 && a.residual_rms_ns == 80.5 && a.residual_max_ns == 210.0 &&
             a.points == 40 && a.has_reference && a.display_ref_ns == 1004000 &&
             a.acquisition_ref_ns == 987654321;
        free(a.decoded);
        break;
    }
    case RECORD_TRIAL: {
        record_trial t;
        ok = record_trial_read(v, &t, err) == 0 && t.trial == 5 && t.image_id == 1234 &&
             t.onset_ns == 1004000 && t.neurons == NEURONS && !t.has_run && t.flags == 0 &&
             !t.block;
        for (int n = 0; ok && n < NEURONS; n++)
            ok = t.counts[n] == count_value(5, n);
        free(t.decoded);
        break;
    }
    case RECORD_CHECKPOINT: {
        record_checkpoint c;
        ok = record_checkpoint_read(v, &c, err) == 0 && c.epoch == 3 &&
             c.validation_corr == 0.41 && c.model_size == 1000 && strstr(c.file_name, "model");
        for (size_t k = 0; ok && k < 1000; k++)
            ok = ((const unsigned char *)c.model)[k] == (k * 7 & 255);
        free(c.decoded);
        break;
    }
    case RECORD_STIMULUS: {
        record_stimulus s;
        ok = record_stimulus_read(v, &s, err) == 0 && s.stimulus_id == 3 && s.neuron == 2 &&
             !strcmp(s.kind, "mei") && s.height == 4 && s.width == 5 && s.predicted == 17.25 &&
             s.pixels_sha256 && !memcmp(s.pixels_sha256, digest, SHA256_SIZE) &&
             !memcmp(s.pixels, pixels, sizeof pixels);
        free(s.decoded);
        break;
    }
    case RECORD_EVALUATION: {
        record_evaluation e;
        ok = record_evaluation_read(v, &e, err) == 0 && e.neuron == 2 && !strcmp(e.kind, "mei") &&
             e.mean == 12.5 && e.ci_low == 10.0 && e.ci_high == 15.0 && e.repeats == 8 &&
             !e.feve && !e.validation_corr && e.n == 0;
        free(e.decoded);
        break;
    }
    case RECORD_NOTE: {
        record_note n;
        ok = record_note_read(v, &n, err) == 0 && !strcmp(n.text, "hello, record") &&
             !n.fit_round.fit && !n.display_block && !n.scheduling && !n.targets;
        free(n.decoded);
        break;
    }
    }
    CHECK(ok, "%s record read back typed, every field as written", record_type_name(v->type));
    *checked += ok;
    return 0;
}

static void test_typed_read(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE];
    int checked = 0;
    int walked = session_record_each(dir, typed_visit, &checked, NULL, err); /* CHECKs inside */
    CHECK(walked == 0 && checked == 12, "all 12 records of the session read back typed (%d)",
          checked);

    /* A record of another type is refused by name, not misread. */
    session_record *w;
    char other[4200];
    snprintf(other, sizeof other, "%s-typed", dir);
    float counts[3] = {1, 2, 3};
    int32_t targets[2] = {4, 1};
    record_trial run_trial = {.trial = 9, .image_id = 2, .onset_ns = 7, .neurons = 3,
                              .counts = counts, .has_run = 1, .flags = RUN_TRIAL_FRAMES | 4,
                              .onset_acq_ns = 11, .sync_edge_ns = 12, .bins = 3,
                              .block = "closed_loop", .has_onset_received = 1,
                              .onset_received_ns = 13};
    record_trial_flags gained = {.trial = 9, .flags = 1, .from_ns = 20, .until_ns = 21,
                                 .reason = "a late spike"};
    record_note account = {.text = "train block", .display_block = "train", .flips = 10,
                           .dropped_frames = 2, .period_ms = 4.25, .interval_max_ms = 9.5,
                           .has_fit_rounds = 1, .fit_rounds = 3, .fit_trial_epochs = 120};
    record_note chosen = {.text = "targets", .n_targets = 2, .targets = targets};
    record_fit_round round = {.fit = "final", .round = 4, .trials = 0, .train_loss = 0.75,
                              .validation_corr = 0.5};
    int64_t samples[3] = {40, 41, 45}, back[3] = {0};
    int32_t sorted[3] = {1, 0, 2};
    uint8_t electrode[3] = {0, 1, 0};
    record_spikes spikes = {.count = 3, .sample_num = samples, .sorted_id = sorted,
                            .electrode = electrode, .electrodes = "E1\nE2",
                            .first_received_ns = 5, .received_ns = 6};
    int status = session_record_create(other, "t", "", 0, &w, err) ||
                 session_record_trial(w, &run_trial, NULL, err) ||
                 session_record_note_fields(w, &account, err) ||
                 session_record_note_fields(w, &chosen, err) ||
                 session_record_fit_round(w, &round, err) ||
                 session_record_spikes(w, &spikes, err) ||
                 session_record_trial_flags(w, &gained, err) || session_record_close(w, err);
    CHECK(status == 0, "records with the run's fields written: %s", status ? err : "");
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", other, RECORD_FILE_NAME);
    record_reader *r;
    record_view v;
    if (status || record_reader_open(path, &r, err))
        return;
    record_reader_next(r, &v, err); /* session_start */
    record_reader_next(r, &v, err);
    record_trial t;
    record_note n;
    CHECK(record_note_read(&v, &n, err) != 0 && strstr(err, "is trial, not note"),
          "a trial record read as a note is refused: %s", err);
    CHECK(record_trial_read(&v, &t, err) == 0 && t.has_run &&
              t.flags == (int64_t)(RUN_TRIAL_FRAMES | 4) && t.onset_acq_ns == 11 &&
              t.sync_edge_ns == 12 && t.bins == 3 && !strcmp(t.block, "closed_loop") &&
              t.counts[2] == 3.0f && t.has_onset_received && t.onset_received_ns == 13,
          "the run's trial fields back: flags, acquisition onset, edge, bins, block, "
          "onset arrival");
    free(t.decoded);
    record_reader_next(r, &v, err);
    CHECK(record_note_read(&v, &n, err) == 0 && !strcmp(n.display_block, "train") &&
              n.flips == 10 && n.dropped_frames == 2 && n.period_ms == 4.25 &&
              n.interval_max_ms == 9.5 && n.has_fit_rounds && n.fit_rounds == 3 &&
              n.fit_trial_epochs == 120 && !n.scheduling && !n.fit_round.fit,
          "a block's display note back with its fields");
    free(n.decoded);
    record_reader_next(r, &v, err);
    CHECK(record_note_read(&v, &n, err) == 0 && n.n_targets == 2 && n.targets[0] == 4 &&
              n.targets[1] == 1, "the targets note's array back");
    free(n.decoded);
    record_reader_next(r, &v, err);
    CHECK(record_note_read(&v, &n, err) == 0 && !strcmp(n.fit_round.fit, "final") &&
              n.fit_round.round == 4 && n.fit_round.train_loss == 0.75 &&
              !strcmp(n.text, "final fit, round 4"), "a learning-curve note back");
    free(n.decoded);
    record_reader_next(r, &v, err);
    record_spikes s;
    CHECK(record_spikes_read(&v, &s, err) == 0 && s.count == 3 && s.sample_delta &&
              !s.sample_num && s.first_sample == 40 && !strcmp(s.electrodes, "E1\nE2"),
          "spikes read back in their difference form");
    if (s.decoded)
        record_spikes_samples(&s, back);
    CHECK(back[0] == 40 && back[1] == 41 && back[2] == 45, "and their sample numbers rebuilt");
    free(s.decoded);
    record_reader_next(r, &v, err);
    record_trial_flags tf;
    CHECK(record_trial_flags_read(&v, &tf, err) == 0 && tf.trial == 9 && tf.flags == 1 &&
              tf.from_ns == 20 && tf.until_ns == 21 && !strcmp(tf.reason, "a late spike"),
          "a trial_flags record back: trial, flags, span, reason");
    free(tf.decoded);
    record_reader_close(r);
    remove(path);
    rmdir(other);
}

/* Records as older writers (or others) wrote them: optional fields absent
 * read as absent; a field every writer writes missing, or of another dtype,
 * is refused with the field's name. Payloads built by hand, as before the
 * tables. */
static void test_older_records(void)
{
    char err[CONTROLLER_ERR_SIZE];
    record_payload p;
    record_payload_init(&p);
    record_view v = {.type = RECORD_FLIP};
    const char *flip[] = {"trial", "frame", "flip_ns", "onset_ns", "missed", "photodiode"};
    for (int i = 0; i < 6; i++)
        record_payload_i64(&p, flip[i], 10 + i);
    v.payload = p.data, v.length = (uint32_t)p.size;
    record_flip_event f;
    CHECK(record_flip_read(&v, &f, err) == 0 && !f.has_onset && f.photodiode == 15,
          "a flip record from before `onset` reads, has_onset 0");

    record_payload_reset(&p);
    record_payload_i64(&p, "stimulus_id", 1);
    record_payload_i64(&p, "neuron", -1);
    record_payload_text(&p, "kind", "natural");
    record_payload_f64(&p, "predicted", 0);
    float px[2] = {0.25f, 0.5f};
    uint32_t shape[2] = {1, 2};
    record_payload_array(&p, "pixels", RECORD_F32, 2, shape, px);
    record_payload_text(&p, "later_field", "a later version's");
    v = (record_view){.type = RECORD_STIMULUS, .payload = p.data, .length = (uint32_t)p.size};
    record_stimulus st;
    CHECK(record_stimulus_read(&v, &st, err) == 0 && !st.pixels_sha256 && st.height == 1 &&
              st.width == 2 && st.pixels[1] == 0.5f,
          "a stimulus from before hashes reads (no pixels_sha256; an unknown field ignored)");
    free(st.decoded);

    record_payload_reset(&p);
    record_payload_i64(&p, "trial", 1);
    record_payload_i64(&p, "image_id", 2);
    record_payload_i64(&p, "onset_ns", 3);
    v = (record_view){.type = RECORD_TRIAL, .offset = 4242, .payload = p.data,
                      .length = (uint32_t)p.size};
    record_trial t;
    CHECK(record_trial_read(&v, &t, err) != 0 && strstr(err, "no field 'counts'") &&
              strstr(err, "4242") && !t.decoded,
          "a trial without counts is refused by name and offset: %s", err);
    uint32_t three[1] = {3};
    int64_t wrong[3] = {1, 2, 3};
    record_payload_array(&p, "counts", RECORD_I64, 1, three, wrong);
    v.payload = p.data, v.length = (uint32_t)p.size;
    CHECK(record_trial_read(&v, &t, err) != 0 && strstr(err, "'counts' is q"),
          "counts of another dtype are refused, not converted: %s", err);
    record_payload_free(&p);
}

/* RECORD.md's "Types and their fields" against the tables, both ways: every
 * table's type has its row (code and name), every field its `name` dtype in
 * it, and every `name` dtype of a row is a field of that table. */
static void test_record_md(const char *md_path)
{
    FILE *f = fopen(md_path, "r");
    CHECK(f != NULL, "%s opens", md_path);
    if (!f)
        return;
    char line[8192];
    int in_table = 0, rows = 0, missing = 0, extra = 0;
    int seen[RECORD_TYPE_COUNT] = {0};
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3))
            in_table = !strncmp(line, "## Types and their fields", 25);
        int code;
        char name[64];
        if (!in_table || sscanf(line, "| %d | `%63[a-z_]` |", &code, name) != 2)
            continue;
        const record_schema *s = record_schema_of(code);
        CHECK(s && !strcmp(s->name, name), "RECORD.md row %d is `%s`, the table's %s", code, name,
              s ? s->name : "(none)");
        if (!s)
            continue;
        rows++;
        seen[code] = 1;
        const char *fields = strchr(strchr(line + 1, '|') + 1, '|'); /* after the name */
        for (int i = 0; i < s->n_fields; i++) {
            char want[300];
            snprintf(want, sizeof want, "`%s` %c", s->fields[i].name, s->fields[i].dtype);
            const char *at = strstr(fields, want);
            if (!at) {
                missing++;
                CHECK(0, "RECORD.md's %s row describes %s", s->name, want);
            }
        }
        /* Every `name` followed by a dtype letter is a field. */
        for (const char *at = strchr(fields, '`'); at; at = strchr(at + 1, '`')) {
            const char *end = strchr(at + 1, '`');
            if (!end)
                break;
            char dtype = end[1] == ' ' ? end[2] : 0;
            char after = dtype ? end[3] : 0;
            if (dtype && strchr("qQdfiBsb", dtype) && strchr(" ,;[().|\n", after)) {
                int found = 0;
                for (int i = 0; i < s->n_fields && !found; i++)
                    found = (size_t)(end - at - 1) == strlen(s->fields[i].name) &&
                            !strncmp(at + 1, s->fields[i].name, (size_t)(end - at - 1)) &&
                            s->fields[i].dtype == dtype;
                if (!found) {
                    extra++;
                    CHECK(0, "RECORD.md's %s row names %.*s %c, which its table lacks", s->name,
                          (int)(end - at + 1), at, dtype);
                }
            }
            at = end;
        }
    }
    fclose(f);
    int all = 1;
    for (int type = 1; type < RECORD_TYPE_COUNT; type++)
        all &= !record_schema_of(type) || seen[type];
    CHECK(rows == RECORD_TYPE_COUNT - 1 && all && !missing && !extra,
          "RECORD.md lists the %d types with exactly their tables' fields (%d rows)",
          RECORD_TYPE_COUNT - 1, rows);
}

/* ---- the bytes of every typed writer, against the writers before the tables ---- */

/* One record as text: its type, payload length and every field's name,
 * dtype, shape and data in hex, in order, but for what changes from run to
 * run (unix_ns, and inception_version with the session_start's length). */
static int dump_payload(const record_view *v, void *ctx, char *err)
{
    FILE *out = ctx;
    if (v->type == RECORD_SESSION_START)
        fprintf(out, "type 1:");
    else
        fprintf(out, "type %d len %u:", v->type, v->length);
    size_t at = 0;
    record_field f;
    while (record_field_next(v->payload, v->length, &at, &f, err) == 0) {
        if (!strcmp(f.name, "unix_ns") || !strcmp(f.name, "inception_version"))
            continue;
        fprintf(out, " %s/%c/%d[", f.name, f.dtype, f.ndim);
        for (int d = 0; d < f.ndim; d++)
            fprintf(out, "%u,", f.shape[d]);
        fprintf(out, "]=");
        size_t item = strchr("qQd", f.dtype) ? 8 : strchr("fi", f.dtype) ? 4 : 1;
        for (size_t i = 0; i < f.count * item; i++)
            fprintf(out, "%02x", ((const unsigned char *)f.data)[i]);
    }
    fprintf(out, "\n");
    return 0;
}

/* Every typed writer with fixed values, both forms of the optional fields;
 * the golden file (tests/record_payloads.txt) is what the hand-written
 * writers wrote before the schema tables (the library of commit f43fc9f,
 * run.c's trial and notes and the fit's metric arrays as they were). */
static void test_payload_bytes(const char *golden_path, const char *parent)
{
    char dir[4200], model_path[4300], err[CONTROLLER_ERR_SIZE];
    snprintf(dir, sizeof dir, "%s/bytes", parent);
    session_record *w;
    CHECK(session_record_create(dir, "proto", "a: 1\n", 5, &w, err) == 0, "bytes session: %s",
          err);
    snprintf(model_path, sizeof model_path, "%s/model.bin", dir);
    FILE *mf = fopen(model_path, "wb");
    if (mf) {
        fwrite("MODELBYTES", 1, 10, mf);
        fclose(mf);
    }
    float counts[5] = {1, 2, 3, 4.5f, 0}, px[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    uint8_t sha[32];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)i;
    int64_t near[3] = {100, 101, 99}, far[2] = {5, 5 + 3000000000LL};
    int32_t sorted[3] = {1, 0, 7}, tg[2] = {3, 1};
    uint8_t el[3] = {0, 1, 0};
    record_fit_round fr = {.fit = "background", .round = 3, .trials = 40, .train_loss = 0.5,
                           .validation_corr = 0.25};
    record_schedule_entry e1 = {.trial = 1, .block = "train", .kind = "natural", .image_id = 7,
                                .target_neuron = -1, .stimulus_frames = 8, .isi_frames = 4,
                                .image_sha256 = sha};
    record_schedule_entry e2 = {.trial = 2, .block = "closed_loop", .kind = "mei", .image_id = 9,
                                .target_neuron = 3, .stimulus_frames = 8, .isi_frames = 4};
    record_flip_event fl = {.trial = 1, .frame = 2, .flip_ns = 3, .onset_ns = 4, .missed = 5,
                            .photodiode = 1, .onset = 1};
    record_stream_message m1 = {.message_num = 1, .kind = "data", .sample_num = 2,
                                .num_samples = 1, .timestamp_ms = 4, .received_ns = 5, .lost = 0,
                                .data_size = 5, .bin_width_ns = 10000000, .units = 5,
                                .counts = counts, .clock_reset = 1};
    record_stream_message m2 = {.message_num = 2, .kind = "event", .sample_num = 2,
                                .num_samples = 0, .timestamp_ms = 4, .received_ns = 5, .lost = 1,
                                .data_size = 2, .bin_width_ns = 77, .units = 5};
    record_sync_event sy = {.line = 1, .state = 1, .sample_num = 3, .received_ns = 4, .trial = -1};
    record_spikes s1 = {.count = 3, .sample_num = near, .sorted_id = sorted, .electrode = el,
                        .electrodes = "A\nB", .first_received_ns = 1, .received_ns = 2};
    record_spikes s2 = {.count = 2, .sample_num = far, .sorted_id = sorted, .electrode = el,
                        .electrodes = "A\nB", .first_received_ns = 1, .received_ns = 2};
    record_alignment al = {.slope_ns_per_sample = 1.0001, .offset_ns = -3, .residual_rms_ns = 4,
                           .residual_max_ns = 5, .points = 6, .display_ref_ns = 7,
                           .acquisition_ref_ns = 8};
    record_trial t = {.trial = 4, .image_id = 7, .onset_ns = 99, .neurons = 5, .counts = counts};
    record_stimulus st = {.stimulus_id = 3, .neuron = 2, .kind = "mei", .height = 2, .width = 3,
                          .pixels = px, .predicted = 17.25};
    record_evaluation ev = {.neuron = 2, .kind = "mei", .mean = 12.5, .ci_low = 10.0,
                            .ci_high = 15.0, .repeats = 8};
    record_model_metrics mm = {.split = "test", .epoch = 3, .neurons = 5, .correlation = counts,
                               .feve = px, .fev = counts};
    record_model_metrics mm2 = {.split = "validation", .epoch = 3, .neurons = 5,
                                .correlation = counts};
    record_evaluation tm = {.neuron = -1, .kind = "test_metrics", .mean = 0.3, .ci_low = NAN,
                            .ci_high = NAN, .n = 5, .feve = counts, .corr_to_average = px,
                            .single_trial_corr = counts, .oracle = px, .fev = counts};
    record_evaluation vc = {.neuron = -1, .kind = "validation_corr", .mean = 0.3, .ci_low = NAN,
                            .ci_high = NAN, .n = 5, .validation_corr = counts};
    record_trial rt = {.trial = 4, .image_id = 7, .onset_ns = 99, .neurons = 5, .counts = counts,
                       .has_run = 1, .flags = 65536, .onset_acq_ns = 5, .sync_edge_ns = 6,
                       .bins = 7, .block = "train"};
    record_note sn = {.text = "sched", .scheduling = "realtime", .cpus = 2, .presenter_cpu = -1,
                      .fit_nice = 10, .memory_locked = 1, .aligning_realtime = 1,
                      .driver_threads = 3};
    record_note bn = {.text = "blk", .display_block = "train", .flips = 1, .dropped_frames = 2,
                      .trials_shown = 3, .trials_with_drops = 4, .trials_flagged_frames = 5,
                      .events_lost = 6, .period_ms = 1.5, .interval_mean_ms = 2.5,
                      .interval_sd_ms = 3.5, .interval_max_ms = 4.5, .has_fit_rounds = 1,
                      .fit_rounds = 7, .fit_trial_epochs = 8};
    record_note tn = {.text = "targets", .n_targets = 2, .targets = tg};
    /* oe13's writers: run.c's trial with onset_received_ns (before block),
     * and trial_flags as session_record_trial_flags wrote them by hand. */
    record_trial rr = rt;
    rr.has_onset_received = 1;
    rr.onset_received_ns = 8;
    record_trial_flags tf = {.trial = 4, .flags = 1, .from_ns = 10, .until_ns = 20,
                             .reason = "late"};
    int fail = !w || session_record_phase(w, "natural", "begin", err) ||
               session_record_note(w, "hello", err) || session_record_fit_round(w, &fr, err) ||
               session_record_schedule(w, &e1, err) || session_record_schedule(w, &e2, err) ||
               session_record_flip(w, &fl, err) || session_record_stream(w, &m1, err) ||
               session_record_stream(w, &m2, err) || session_record_sync_event(w, &sy, err) ||
               session_record_spikes(w, &s1, err) || session_record_spikes(w, &s2, err) ||
               session_record_alignment(w, &al, err) ||
               session_record_trial(w, &t, NULL, err) || session_record_stimulus(w, &st, err) ||
               session_record_evaluation(w, &ev, err) ||
               session_record_model_metrics(w, &mm, err) ||
               session_record_model_metrics(w, &mm2, err) ||
               session_record_checkpoint(w, model_path, 4, 0.5, err) ||
               session_record_evaluation(w, &tm, err) || session_record_evaluation(w, &vc, err) ||
               session_record_trial(w, &rt, NULL, err) || session_record_note_fields(w, &sn, err) ||
               session_record_note_fields(w, &bn, err) || session_record_note_fields(w, &tn, err) ||
               session_record_trial(w, &rr, NULL, err) || session_record_trial_flags(w, &tf, err);
    fail = session_record_close(w, err) || fail;
    CHECK(!fail, "a record of every typed writer written: %s", fail ? err : "");
    char *dumped = NULL, *golden = NULL;
    size_t dumped_size = 0, golden_size = 0;
    FILE *out = open_memstream(&dumped, &dumped_size);
    if (out) {
        session_record_each(dir, dump_payload, out, NULL, err);
        fclose(out);
    }
    FILE *g = fopen(golden_path, "r");
    if (g) {
        out = open_memstream(&golden, &golden_size);
        int c;
        while (out && (c = fgetc(g)) != EOF)
            fputc(c, out);
        if (out)
            fclose(out);
        fclose(g);
    }
    CHECK(dumped && golden && dumped_size == golden_size && !memcmp(dumped, golden, golden_size),
          "25 records byte for byte as the writers before the schema tables wrote them (%s)",
          golden_path);
    free(dumped);
    free(golden);
    remove(model_path);
    remove_tree(dir);
}

static unsigned char *file_copy(const char *dir, size_t *size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    return read_file_bytes(path, size);
}

static void write_file(const char *dir, const unsigned char *data, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
    }
}

/* Offsets of the records in a clean file. */
static int record_offsets(const unsigned char *data, size_t size, uint64_t *offsets, int most)
{
    record_reader *r;
    char err[CONTROLLER_ERR_SIZE];
    record_view v;
    int n = 0;
    if (record_reader_open_memory(data, size, &r, err))
        return 0;
    while (n < most && record_reader_next(r, &v, err) == RECORD_NEXT_OK)
        offsets[n++] = v.offset;
    record_reader_close(r);
    return n;
}

static void test_corrupt_middle(const char *dir)
{
    size_t size;
    unsigned char *data = file_copy(dir, &size);
    uint64_t offsets[16];
    int n = data ? record_offsets(data, size, offsets, 16) : 0;
    CHECK(n == 12, "12 record offsets");
    if (n != 12) {
        free(data);
        return;
    }
    /* One flipped bit in the flip record's payload (record 3). */
    data[offsets[3] + RECORD_HEADER_SIZE + 5] ^= 0x10;
    record_reader *r;
    char err[CONTROLLER_ERR_SIZE], want[64];
    record_view v;
    record_reader_open_memory(data, size, &r, err);
    int ok = 0, corrupt = 0, torn = 0, status, sequence_after = 0;
    while ((status = record_reader_next(r, &v, err)) != RECORD_NEXT_END) {
        if (status == RECORD_NEXT_OK && ok++ == 3)
            sequence_after = (int)v.sequence;
        if (status == RECORD_NEXT_CORRUPT) {
            corrupt++;
            snprintf(want, sizeof want, "offset %llu:", (unsigned long long)offsets[3]);
            CHECK(strstr(err, want) && strstr(err, "CRC") && v.offset == offsets[3],
                  "corruption reported at its offset: %s", err);
        }
        torn += status == RECORD_NEXT_TORN;
    }
    record_reader_close(r);
    CHECK(ok == 11 && corrupt == 1 && torn == 0 && sequence_after == 5,
          "the damaged record is skipped and reading goes on with sequence 5 "
          "(%d ok, %d corrupt, %d torn)", ok, corrupt, torn);

    /* Resume keeps it in place (append-only) and counts it. */
    write_file(dir, data, size);
    session_record *w;
    record_resume_report report;
    CHECK(session_record_resume(dir, &w, &report, err) == 0 && report.corrupt == 1 &&
              report.first_corrupt_offset == offsets[3] && report.cut_bytes == 0 &&
              report.records == 11 && report.last_sequence == 12,
          "resume reports the corrupt record and cuts nothing");
    session_record_close(w, err);
    data[offsets[3] + RECORD_HEADER_SIZE + 5] ^= 0x10;
    write_file(dir, data, size);
    free(data);
}

static int count_records(const char *dir, int *damaged, uint64_t *last_sequence)
{
    char path[4200], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    record_view v;
    int n = 0, status;
    *damaged = 0;
    if (record_reader_open(path, &r, err))
        return -1;
    while ((status = record_reader_next(r, &v, err)) != RECORD_NEXT_END) {
        if (status == RECORD_NEXT_OK)
            n++, *last_sequence = v.sequence;
        else
            (*damaged)++;
    }
    record_reader_close(r);
    return n;
}

static void test_torn_tail(const char *dir)
{
    size_t size;
    unsigned char *data = file_copy(dir, &size);
    uint64_t offsets[16];
    int n = data ? record_offsets(data, size, offsets, 16) : 0;
    if (n != 12) {
        CHECK(0, "torn tail: the clean session is there");
        free(data);
        return;
    }
    char err[CONTROLLER_ERR_SIZE];
    int cut_ok = 1;
    /* Cut inside the last record at several places, including inside its header. */
    size_t cuts[] = {offsets[11] + 1, offsets[11] + 20, offsets[11] + RECORD_HEADER_SIZE + 3,
                     size - 1};
    for (int c = 0; c < 4; c++) {
        write_file(dir, data, cuts[c]);
        int damaged;
        uint64_t last = 0;
        int before = count_records(dir, &damaged, &last);
        session_record *w;
        record_resume_report report;
        int status = session_record_resume(dir, &w, &report, err);
        cut_ok &= before == 11 && damaged == 1 && status == 0 &&
                  report.cut_bytes == cuts[c] - offsets[11] && report.kept_bytes == offsets[11] &&
                  report.records == 11 && report.last_sequence == 11;
        uint64_t seq = 0;
        if (status == 0) {
            record_payload p;
            record_payload_init(&p);
            record_payload_text(&p, "text", "after the cut");
            cut_ok &= session_record_append(w, RECORD_NOTE, &p, &seq, err) == 0 && seq == 12;
            record_payload_free(&p);
            session_record_close(w, err);
        }
        int after = count_records(dir, &damaged, &last);
        cut_ok &= after == 12 && damaged == 0 && last == 12;
    }
    CHECK(cut_ok, "a torn tail (4 cut points) is cut back to the last whole record, "
                  "reported, and appending goes on with the next sequence");

    /* Garbage after the last record (a crash while extending the file). */
    unsigned char *grown = realloc(data, size + 100);
    if (grown) {
        data = grown;
        for (int k = 0; k < 100; k++)
            data[size + k] = (unsigned char)(k * 37 + 1);
        memcpy(data + size + 10, "IREC", 4); /* a fake magic in the garbage */
        write_file(dir, data, size + 100);
        session_record *w;
        record_resume_report report;
        CHECK(session_record_resume(dir, &w, &report, err) == 0 && report.cut_bytes == 100 &&
                  report.records == 12, "100 bytes of garbage after the end are cut");
        session_record_close(w, err);
    }
    /* A file with no valid start is not a session. */
    write_file(dir, data, 20);
    session_record *w;
    record_resume_report report;
    CHECK(session_record_resume(dir, &w, &report, err) != 0 && strstr(err, "no session start"),
          "a record without its start is refused: %s", err);
    write_file(dir, data, size);
    free(data);
}

/* A child fills a disk limited by RLIMIT_FSIZE; reports over a pipe how many
 * appends succeeded and whether the one after a failure was refused too. */
static void test_disk_full(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE];
    remove_tree(dir);
    session_record *w;
    if (session_record_create(dir, "full", "x", 1, &w, err)) {
        CHECK(0, "disk full: create: %s", err);
        return;
    }
    session_record_close(w, err);
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0, "pipe");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {100000, 100000};
        setrlimit(RLIMIT_FSIZE, &limit);
        record_resume_report report;
        int result[2] = {0, 0};
        if (session_record_resume(dir, &w, &report, err) == 0) {
            float big[1000];
            for (int k = 0; k < 1000; k++)
                big[k] = (float)k;
            record_stimulus s = {.stimulus_id = 0, .neuron = 0, .kind = "noise", .height = 25,
                                 .width = 40, .pixels = big, .predicted = 0};
            while (result[0] < 1000 && session_record_stimulus(w, &s, err) == 0)
                result[0]++;
            result[1] = session_record_note(w, "after the failure", err) != 0;
            session_record_close(w, err);
        }
        if (write(fds[1], result, sizeof result) != (ssize_t)sizeof result)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    int result[2] = {-1, -1}, status;
    ssize_t got = read(fds[0], result, sizeof result);
    close(fds[0]);
    waitpid(pid, &status, 0);
    CHECK(got == (ssize_t)sizeof result && result[0] > 10 && result[0] < 30 && result[1] == 1,
          "with a 100 kB limit, %d stimuli of 4 kB fit, then appends are refused", result[0]);
    int damaged;
    uint64_t last = 0;
    int n = count_records(dir, &damaged, &last);
    CHECK(n == 1 + result[0] && damaged == 0 && last == (uint64_t)n,
          "the full record holds every accepted record and ends cleanly (%d records)", n);
}

static void test_python(const char *script, const char *reader, const char *dir)
{
    char err[CONTROLLER_ERR_SIZE], model_path[4200];
    remove_tree(dir);
    snprintf(model_path, sizeof model_path, "%s-model.bin", dir);
    FILE *f = fopen(model_path, "wb");
    for (int k = 0; f && k < 1000; k++)
        fputc(k * 7 & 255, f);
    if (f)
        fclose(f);
    int written = write_session(dir, model_path, err);
    remove(model_path);
    CHECK(written == 12, "session for numpy written");
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", script, reader, dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK(code == 0, "numpy reads back every value C wrote (record_check.py exit %d%s)", code,
          code == 127 ? ": cannot run /usr/bin/python3" : code == 3 ? ": numpy missing" : "");
}

/* Spikes records (RECORD.md `spikes`): sample numbers as int32 differences
 * when they fit, as int64 when a jump does not; read back in C, and in numpy
 * through inception.record's Session.spikes() (the package beside the shim
 * `reader`) against the values written here. */
static void test_spikes(const char *reader, const char *dir)
{
    char err[CONTROLLER_ERR_SIZE] = "";
    remove_tree(dir);
    session_record *w;
    int64_t near[4] = {1000, 998, 1500, 1700};            /* out of order: a negative step */
    int64_t jump[3] = {5, 5 + 3000000000LL, 7};             /* differences beyond int32 */
    int32_t sorted_a[4] = {3, 0, 65535, 1}, sorted_b[3] = {2, 2, 0};
    uint8_t elec_a[4] = {0, 1, 0, 1}, elec_b[3] = {0, 0, 0};
    record_spikes a = {.count = 4, .sample_num = near, .sorted_id = sorted_a, .electrode = elec_a,
                       .electrodes = "Tetrode 1\nStereotrode 12", .first_received_ns = 10,
                       .received_ns = 20};
    record_spikes b = {.count = 3, .sample_num = jump, .sorted_id = sorted_b, .electrode = elec_b,
                       .electrodes = "Probe A", .first_received_ns = 30, .received_ns = 40};
    record_spikes none = {.count = 0, .sample_num = NULL, .sorted_id = NULL, .electrode = NULL,
                          .electrodes = "", .first_received_ns = 0, .received_ns = 0};
    CHECK(session_record_create(dir, "test", "", 0, &w, err) == 0 &&
              session_record_spikes(w, &a, err) == 0,
          "a spikes record of 4 spikes is written: %s", err);
    CHECK(session_record_spikes(w, &b, err) == 0, "a spikes record with a 3e9-sample jump");
    CHECK(session_record_spikes(w, &none, err) != 0 && strstr(err, "without spikes"),
          "an empty batch is refused: %s", err);
    session_record_close(w, err);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    record_view v;
    record_field f;
    int found = 0;
    CHECK(record_reader_open(path, &r, err) == 0, "reader opens the spikes session");
    while (record_reader_next(r, &v, err) == RECORD_NEXT_OK) {
        if (v.type != RECORD_SPIKES)
            continue;
        found++;
        int64_t first;
        int plain = record_get_i64(v.payload, v.length, "first_sample", &first) != 0;
        CHECK(plain == (found == 2), "record %d: %s", found,
              plain ? "plain int64 sample_num (a difference is beyond int32)"
                    : "first_sample and int32 differences");
        CHECK(record_field_find(v.payload, v.length, plain ? "sample_num" : "sample_delta", &f) ==
                      0 && f.dtype == (plain ? RECORD_I64 : RECORD_I32) &&
                  f.count == (found == 1 ? 4u : 3u),
              "record %d holds its samples", found);
    }
    record_reader_close(r);
    CHECK(found == 2, "two spikes records read back (%d)", found);
    CHECK(strcmp(record_type_name(RECORD_SPIKES), "spikes") == 0, "type 14 is named spikes");

    char python_dir[4200], program[2048];
    snprintf(python_dir, sizeof python_dir, "%s", reader);
    char *slash = strrchr(python_dir, '/');
    snprintf(slash ? slash + 1 : python_dir, 64, "../../python");
    snprintf(program, sizeof program,
             "import sys; sys.path.insert(0, sys.argv[1]); import inception.record as r\n"
             "s = r.open(sys.argv[2]).spikes()\n"
             "assert s['sample_num'].tolist() == [1000, 998, 1500, 1700, 5, 3000000005, 7], s\n"
             "assert s['sorted_id'].tolist() == [3, 0, 65535, 1, 2, 2, 0], s\n"
             "assert s['electrode'].tolist() == ['Tetrode 1', 'Stereotrode 12', 'Tetrode 1',\n"
             "    'Stereotrode 12', 'Probe A', 'Probe A', 'Probe A'], s\n"
             "assert s['received_ns'].tolist() == [20] * 4 + [40] * 3, s\n");
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", "-c", program, python_dir, dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "Session.spikes() gives back every sample, sorted_id, electrode and arrival");
}

static int visit_nothing(const record_view *v, void *ctx, char *err)
{
    (void)v, (void)ctx, (void)err;
    return 0;
}

/* The once-a-second fsync runs on the syncer thread (session_record.c): a
 * tick a second after the last sync hands it over and returns; the records
 * become durable shortly after, and close makes the rest durable. */
static void test_background_sync(const char *parent)
{
    char dir[4200], err[CONTROLLER_ERR_SIZE];
    snprintf(dir, sizeof dir, "%s/sync", parent);
    session_record *w;
    if (session_record_create(dir, "sync", "x", 1, &w, err)) {
        CHECK(0, "create: %s", err);
        return;
    }
    int bad = session_record_sync(w, err) || session_record_note(w, "one", err) ||
              session_record_tick(w, err);
    CHECK(!bad && session_record_durable_sequence(w) == 1,
          "a tick within a second of the last sync leaves note 2 undurable (durable %llu)",
          (unsigned long long)session_record_durable_sequence(w));
    usleep(1050000);
    bad = bad || session_record_note(w, "two", err) || session_record_tick(w, err);
    for (int i = 0; i < 200 && session_record_durable_sequence(w) < 3; i++)
        usleep(10000); /* the syncer's fsync: a disk's time, well under 2 s */
    CHECK(!bad && session_record_durable_sequence(w) == 3,
          "a tick a second later: the syncer made notes 2 and 3 durable (durable %llu)",
          (unsigned long long)session_record_durable_sequence(w));
    bad = bad || session_record_note(w, "three", err) || session_record_tick(w, err);
    CHECK(!bad && session_record_durable_sequence(w) == 3,
          "the tick right after asks for no fsync: note 4 waits");
    CHECK(session_record_close(w, err) == 0, "close after a background fsync: %s", err);
    record_walk walk = {0, 0};
    CHECK(session_record_each(dir, visit_nothing, NULL, &walk, err) == 0 && walk.records == 4 &&
              walk.damaged == 0,
          "the record reads back whole: 4 records (got %llu, %llu damaged)",
          (unsigned long long)walk.records, (unsigned long long)walk.damaged);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/inception-test-record-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary folder");
        return test_done();
    }
    char session[sizeof dir + 16];
    snprintf(session, sizeof session, "%s/s", dir);
    test_crc();
    test_sha256();
    test_crc_ranges();
    test_crafted_stretch();
    test_payload();
    test_write_and_read(session);
    test_typed_read(session);
    test_older_records();
    test_corrupt_middle(session);
    test_torn_tail(session);
    test_disk_full(session);
    test_background_sync(dir);
    if (argc > 2)
        test_python(argv[1], argv[2], session);
    if (argc > 2) {
        test_spikes(argv[2], session);
        char md[4200]; /* beside the reader, in controller/record/ */
        snprintf(md, sizeof md, "%s", argv[2]);
        char *slash = strrchr(md, '/');
        snprintf(slash ? slash + 1 : md, 64, "RECORD.md");
        test_record_md(md);
        char golden[4200]; /* beside record_check.py, in tests/ */
        snprintf(golden, sizeof golden, "%s", argv[1]);
        slash = strrchr(golden, '/');
        snprintf(slash ? slash + 1 : golden, 64, "record_payloads.txt");
        test_payload_bytes(golden, dir);
    }
    else
        CHECK(0, "the numpy cross-check needs tests/record_check.py and record_reader.py");
    remove_tree(dir);
    return test_done();
}
