/* test_session_data.c: session_dataset_load on records written through the
 * writer API as `inception run` writes them (natural stimuli, schedule with
 * tiers and test repeats, trials in another order, flagged trials, closed-
 * loop trials, MEIs), and the import round trip (compact and Sensorium
 * layouts): import then rebuild gives the loaded dataset bit for bit. */
#include "controller.h"
#include "model.h"
#include "test.h"

#include <math.h>
#include "test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define H 6
#define W 8
#define N 5
#define IMAGES 12  /* ids 100.. ; the last 3 are test images */
#define TEST_IMAGES 3
#define REPEATS 4
#define TRIALS (IMAGES - TEST_IMAGES + TEST_IMAGES * REPEATS)

static const char protocol_text[] = "version: 1\nname: rebuild-test\nseed: 3\n";

static float pixel_of(int image, int p) { return (float)((image * 31 + p * 7) % 97) / 96.0f; }
static float count_of(int trial, int n) { return (float)((trial * 13 + n * 5) % 11); }

/* Trial t shows image order[t]; tiers: images 0..1 validation, 2..8 train, 9..11 test. */
static int tier_of_image(int image)
{
    return image >= IMAGES - TEST_IMAGES ? TIER_TEST : image < 2 ? TIER_VALIDATION : TIER_TRAIN;
}

static const char *block_name(int tier)
{
    return tier == TIER_TEST ? "test" : tier == TIER_VALIDATION ? "validation" : "train";
}

static void test_rebuild(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE] = "";
    session_record *w;
    CHECK(session_record_create(dir, "rebuild-test", protocol_text, sizeof protocol_text - 1, &w,
                                err) == 0, "record created: %s", err);
    float img[H * W];
    for (int i = 0; i < IMAGES; i++) {
        for (int p = 0; p < H * W; p++)
            img[p] = pixel_of(i, p);
        record_stimulus s = {.stimulus_id = 100 + i, .neuron = -1, .kind = "natural", .height = H,
                             .width = W, .pixels = img, .predicted = 0.0};
        session_record_stimulus(w, &s, err);
    }
    int order[TRIALS], k = 0;
    for (int i = 0; i < IMAGES; i++)
        for (int r = 0; r < (tier_of_image(i) == TIER_TEST ? REPEATS : 1); r++)
            order[k++] = i;
    /* Schedule in trial order, trials written in reverse (any order is allowed). */
    for (int t = 0; t < TRIALS; t++) {
        record_schedule_entry e = {.trial = t, .block = block_name(tier_of_image(order[t])),
                                   .kind = "natural",
                                   .image_id = 100 + order[t], .target_neuron = -1,
                                   .stimulus_frames = 30, .isi_frames = 18, .image_sha256 = NULL};
        session_record_schedule(w, &e, err);
    }
    float counts[N];
    for (int t = TRIALS - 1; t >= 0; t--) {
        for (int n = 0; n < N; n++)
            counts[n] = count_of(t, n);
        record_payload pl;
        record_payload_init(&pl);
        uint32_t shape[1] = {N};
        record_payload_i64(&pl, "trial", t);
        record_payload_i64(&pl, "image_id", 100 + order[t]);
        record_payload_i64(&pl, "onset_ns", 1000000 * (int64_t)t);
        record_payload_array(&pl, "counts", RECORD_F32, 1, shape, counts);
        /* two flagged: by the aligner (no sync) and for the frames shown */
        record_payload_i64(&pl, "flags", t == 3 ? 4 : t == 15 ? (int64_t)RUN_TRIAL_FRAMES : 0);
        session_record_append(w, RECORD_TRIAL, &pl, NULL, err);
        record_payload_free(&pl);
    }
    /* Closed loop: MEIs for neurons 3 then 1 (3 twice), their trials, an unscheduled trial. */
    int64_t mei_neurons[3] = {3, 1, 3};
    for (int j = 0; j < 3; j++) {
        record_stimulus s = {.stimulus_id = 1000 + j, .neuron = mei_neurons[j], .kind = "mei",
                             .height = H, .width = W, .pixels = img, .predicted = 2.0};
        session_record_stimulus(w, &s, err);
        record_schedule_entry e = {.trial = TRIALS + j, .block = "closed_loop", .kind = "mei",
                                   .image_id = 1000 + j, .target_neuron = mei_neurons[j],
                                   .stimulus_frames = 30, .isi_frames = 18, .image_sha256 = NULL};
        session_record_schedule(w, &e, err);
        record_trial tr = {.trial = TRIALS + j, .image_id = 1000 + j, .onset_ns = 0, .neurons = N,
                           .counts = counts};
        session_record_trial(w, &tr, NULL, err);
    }
    record_trial stray = {.trial = TRIALS + 10, .image_id = 100, .onset_ns = 0, .neurons = N,
                          .counts = counts};
    session_record_trial(w, &stray, NULL, err);
    CHECK(session_record_close(w, err) == 0, "record closed: %s", err);

    session_dataset s;
    CHECK(session_dataset_load(dir, &s, err) == 0, "rebuilt: %s", err);
    CHECK(s.data.trials == TRIALS - 2, "%d rows (expected %d: flagged left out)", s.data.trials,
          TRIALS - 2);
    CHECK(s.flagged == 2 && s.other_trials == 4 && s.duplicates == 0,
          "2 flagged (%d), 4 of other blocks or unscheduled (%d), no duplicates (%d)", s.flagged,
          s.other_trials, s.duplicates);
    CHECK(s.data.height == H && s.data.width == W && s.data.neurons == N, "shape %d×%d, %d neurons",
          s.data.height, s.data.width, s.data.neurons);
    CHECK(s.protocol_size == sizeof protocol_text - 1 && !strcmp(s.protocol_text, protocol_text) &&
          !strcmp(s.protocol_name, "rebuild-test"), "protocol text and name from session_start");
    CHECK(s.n_targets == 2 && s.targets[0] == 3 && s.targets[1] == 1,
          "recorded targets 3, 1 (got %d: %d %d)", s.n_targets, s.n_targets > 0 ? s.targets[0] : -1,
          s.n_targets > 1 ? s.targets[1] : -1);
    int rows_ok = s.data.trials == TRIALS - 2, row = 0;
    for (int t = 0; rows_ok && t < TRIALS; t++) {
        if (t == 3 || t == 15)
            continue;
        int i = order[t];
        rows_ok = s.data.image_ids[row] == 100 + i && s.data.tiers[row] == tier_of_image(i);
        for (int p = 0; rows_ok && p < H * W; p++)
            rows_ok = s.data.images[(size_t)row * H * W + p] == pixel_of(i, p);
        for (int n = 0; rows_ok && n < N; n++)
            rows_ok = s.data.responses[(size_t)row * N + n] == count_of(t, n);
        row++;
    }
    CHECK(rows_ok, "every row: trial order, image id, tier, pixels and counts as written");
    CHECK(dataset_count_tier(&s.data, TIER_TEST) == TEST_IMAGES * REPEATS - 1 &&
          dataset_count_tier(&s.data, TIER_VALIDATION) == 2,
          "tiers: %d test trials (one repeat flagged), %d validation",
          dataset_count_tier(&s.data, TIER_TEST), dataset_count_tier(&s.data, TIER_VALIDATION));
    session_dataset_free(&s);
}

/* A trial flagged after its record was written (RECORD.md `trial_flags`):
 * the record of test_rebuild continued with a trial_flags record for
 * trial 7 (a recorded, unflagged natural trial) and one for trial 3 (already
 * flagged): the rebuild leaves trial 7 out too, and nothing else changes. */
static void test_trial_flags(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE] = "";
    session_record *w;
    record_resume_report rep;
    CHECK(session_record_resume(dir, &w, &rep, err) == 0, "record continued: %s", err);
    record_trial_flags late = {.trial = 7, .flags = 1, .from_ns = 5000000, .until_ns = 5033333,
                               .reason = "a spike too late for its bin"};
    record_trial_flags again = {.trial = 3, .flags = 1, .from_ns = 3000000, .until_ns = 3033333,
                                .reason = "a spike too late for its bin"};
    CHECK(session_record_trial_flags(w, &late, err) == 0 &&
              session_record_trial_flags(w, &again, err) == 0 && session_record_close(w, err) == 0,
          "trial_flags records appended: %s", err);
    session_dataset s;
    CHECK(session_dataset_load(dir, &s, err) == 0, "rebuilt: %s", err);
    int rows_ok = s.data.trials == TRIALS - 3, row = 0; /* the others, in trial order */
    for (int t = 0; rows_ok && t < TRIALS; t++) {
        if (t == 3 || t == 7 || t == 15)
            continue;
        for (int n = 0; rows_ok && n < N; n++)
            rows_ok = s.data.responses[(size_t)row * N + n] == count_of(t, n);
        row++;
    }
    CHECK(rows_ok && s.flagged == 3,
          "trial 7 left out as flagged: %d rows (want %d), %d flagged (want 3)", s.data.trials,
          TRIALS - 3, s.flagged);
    session_dataset_free(&s);
}

/* A trial whose image was never recorded fails, naming it. */
static void test_missing_image(const char *dir)
{
    char err[CONTROLLER_ERR_SIZE] = "";
    session_record *w;
    session_record_create(dir, "missing", protocol_text, sizeof protocol_text - 1, &w, err);
    record_schedule_entry e = {.trial = 0, .block = "train", .kind = "natural", .image_id = 7,
                               .target_neuron = -1, .stimulus_frames = 30, .isi_frames = 18,
                               .image_sha256 = NULL};
    float c[2] = {1, 2};
    record_trial t = {.trial = 0, .image_id = 7, .onset_ns = 0, .neurons = 2, .counts = c};
    session_record_schedule(w, &e, err);
    session_record_trial(w, &t, NULL, err);
    session_record_close(w, err);
    session_dataset s;
    err[0] = 0;
    CHECK(session_dataset_load(dir, &s, err) != 0 && strstr(err, "trial 0") &&
          strstr(err, "image 7"), "a trial without its image fails: %s", err);
}

/* ------------------------------------------------------------------------ */
/* A natural stimulus record lost to damage (issue 14): a record written as
 * run writes it for a small protocol whose images session_natural_images
 * makes (ids 0..9: 8 train, 2 test shown twice), one stimulus record then
 * damaged by a flipped byte. */

static const char repair_protocol[] = "version: 1\nname: repair-test\nseed: 9\n"
                                      "images:\n  source: synthetic\n  train: 8\n  test: 2\n"
                                      "  test_repeats: 2\n  height: 8\n  width: 12\n";
enum { REPAIR_IMAGES = 10, REPAIR_P = 96 };

/* hashed: the record's format (pixels_sha256, image_sha256), else as written
 * before hashes. `altered`: an image whose recorded pixels are not the
 * protocol's (-1: none). `tampered`: image 3's SHA-256 with only its last
 * byte changed, 1: in both its records, 2: in its schedule records only
 * (TAMPER_*). Writes into `made` the protocol's images. */
enum { TAMPER_NONE, TAMPER_BOTH, TAMPER_SCHEDULE };
static int write_repair_record(const char *dir, int hashed, int altered, int tampered,
                               float *made, char *err)
{
    protocol *p;
    if (protocol_parse(repair_protocol, sizeof repair_protocol - 1, "test", NULL, &p, err) ||
        session_natural_images(p, REPAIR_IMAGES, NULL, made, NULL, err))
        return 1;
    protocol_destroy(p);
    session_record *w;
    if (session_record_create(dir, "repair-test", repair_protocol, sizeof repair_protocol - 1,
                              &w, err))
        return 1;
    int status = 0;
    uint8_t digest[REPAIR_IMAGES][SHA256_SIZE];
    for (int i = 0; i < REPAIR_IMAGES; i++) {
        float px[REPAIR_P];
        memcpy(px, made + i * REPAIR_P, sizeof px);
        if (i == altered)
            px[7] += 0.001f;
        record_pixels_sha256(px, 8, 12, digest[i]);
        if (i == 3 && tampered == TAMPER_BOTH)
            digest[i][SHA256_SIZE - 1] ^= 1;
        record_payload pl;
        record_payload_init(&pl);
        uint32_t shape[2] = {8, 12};
        record_payload_i64(&pl, "stimulus_id", i);
        record_payload_i64(&pl, "neuron", -1);
        record_payload_text(&pl, "kind", "natural");
        record_payload_f64(&pl, "predicted", 0.0);
        record_payload_array(&pl, "pixels", RECORD_F32, 2, shape, px);
        if (hashed)
            record_payload_bytes(&pl, "pixels_sha256", digest[i], SHA256_SIZE);
        status = status || session_record_append(w, RECORD_STIMULUS, &pl, NULL, err);
        record_payload_free(&pl);
    }
    if (tampered == TAMPER_SCHEDULE)
        digest[3][SHA256_SIZE - 1] ^= 1;
    float counts[N];
    for (int t = 0; t < 12; t++) {
        int image = t < 8 ? t : 8 + (t - 8) % 2;
        record_schedule_entry e = {.trial = t, .block = t < 8 ? "train" : "test", .kind = "natural",
                                   .image_id = image, .target_neuron = -1, .stimulus_frames = 30,
                                   .isi_frames = 18,
                                   .image_sha256 = hashed ? digest[image] : NULL};
        for (int n = 0; n < N; n++)
            counts[n] = count_of(t, n);
        record_trial tr = {.trial = t, .image_id = image, .onset_ns = 0, .neurons = N,
                           .counts = counts};
        status = status || session_record_schedule(w, &e, err) ||
                 session_record_trial(w, &tr, NULL, err);
    }
    return session_record_close(w, err) || status;
}

/* Flips a byte in the middle of the stimulus record of image `id`. */
static int damage_stimulus(const char *dir, int id)
{
    char path[600], err[CONTROLLER_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *r;
    record_view v;
    int64_t got;
    uint64_t at = 0;
    if (record_reader_open(path, &r, err))
        return 1;
    record_stimulus st;
    while (!at && record_reader_next(r, &v, err) == RECORD_NEXT_OK)
        if (v.type == RECORD_STIMULUS && !record_stimulus_read(&v, &st, err)) {
            got = st.stimulus_id;
            free(st.decoded);
            if (got == id)
                at = v.offset + RECORD_HEADER_SIZE + v.length / 2;
        }
    record_reader_close(r);
    FILE *f = fopen(path, "r+b");
    int c = f && at && fseek(f, (long)at, SEEK_SET) == 0 ? fgetc(f) : EOF;
    int bad = c == EOF || fseek(f, (long)at, SEEK_SET) != 0 || fputc(c ^ 0x10, f) == EOF;
    if (f)
        bad |= fclose(f) != 0;
    return bad;
}

/* Every row of image `id` holds `pixels` bit for bit. */
static int rows_hold(const session_dataset *s, int id, const float *pixels)
{
    int rows = 0;
    for (int t = 0; t < s->data.trials; t++)
        if (s->data.image_ids[t] == id) {
            if (memcmp(s->data.images + (size_t)t * REPAIR_P, pixels, REPAIR_P * sizeof(float)))
                return 0;
            rows++;
        }
    return rows;
}

static void test_damaged_image(const char *base)
{
    char dir[600], err[CONTROLLER_ERR_SIZE] = "";
    float made[REPAIR_IMAGES * REPAIR_P];
    session_dataset s;

    /* Hashed: image 5 rebuilt, checked against its schedule record's hash. */
    snprintf(dir, sizeof dir, "%s/repair-hashed", base);
    CHECK(write_repair_record(dir, 1, -1, TAMPER_NONE, made, err) == 0 &&
              damage_stimulus(dir, 5) == 0,
          "a record with hashes, image 5's stimulus record damaged: %s", err);
    CHECK(session_dataset_load(dir, &s, err) == 0, "loads: %s", err);
    CHECK(s.damaged == 1 && s.repaired == 1 && s.repaired_ids[0] == 5 &&
              rows_hold(&s, 5, made + 5 * REPAIR_P) == 1 &&
              !memcmp(s.repaired_pixels, made + 5 * REPAIR_P, REPAIR_P * sizeof(float)),
          "image 5 rebuilt: its trial's pixels are the protocol's image, bit for bit");
    CHECK(s.data.trials == 12 && strstr(s.repair_note, "(image 5) made again from synthetic "
                                        "images, seed 9, 1 verified against the record's SHA-256") &&
              !strstr(s.repair_note, "not verified"),
          "the note: %s", s.repair_note);
    session_dataset_free(&s);

    /* Written before hashes: rebuilt, not verified, the others' pixels match. */
    snprintf(dir, sizeof dir, "%s/repair-unhashed", base);
    CHECK(write_repair_record(dir, 0, -1, TAMPER_NONE, made, err) == 0 &&
              damage_stimulus(dir, 5) == 0,
          "a record without hashes, image 5's stimulus record damaged: %s", err);
    CHECK(session_dataset_load(dir, &s, err) == 0 && s.repaired == 1 &&
              rows_hold(&s, 5, made + 5 * REPAIR_P) == 1,
          "loads, image 5 rebuilt: %s", err);
    CHECK(strstr(s.repair_note, "0 verified") &&
              strstr(s.repair_note, "1 not verified (image 5): the record holds no hash for it "
                                    "(written before stimulus hashes), those it holds for the "
                                    "other images match"),
          "the note says it is not verified: %s", s.repair_note);
    session_dataset_free(&s);

    /* Images that are not the protocol's (image 3 altered): refused, named. */
    snprintf(dir, sizeof dir, "%s/repair-altered", base);
    CHECK(write_repair_record(dir, 1, 3, TAMPER_NONE, made, err) == 0 &&
              damage_stimulus(dir, 5) == 0,
          "a record whose image 3 is not its protocol's, image 5 damaged: %s", err);
    CHECK(session_dataset_load(dir, &s, err) != 0 &&
              strstr(err, "image 3 differs from the recorded one"),
          "refused, naming image 3: %s", err);

    /* A SHA-256 that differs from image 3's in its last byte only: the
     * whole digest is compared, not a prefix. */
    snprintf(dir, sizeof dir, "%s/repair-tail", base);
    err[0] = 0;
    CHECK(write_repair_record(dir, 1, -1, TAMPER_BOTH, made, err) == 0 &&
              damage_stimulus(dir, 5) == 0,
          "a record whose image 3 hash differs in its last byte, image 5 damaged: %s", err);
    CHECK(session_dataset_load(dir, &s, err) != 0 &&
              strstr(err, "image 3 differs from the recorded one"),
          "refused, naming image 3: %s", err);

    /* Image 3's stimulus record and its schedule records disagree on its
     * hash (by one byte): the record contradicts itself, so neither is
     * trusted to verify a rebuilt image. */
    snprintf(dir, sizeof dir, "%s/repair-conflict", base);
    err[0] = 0;
    CHECK(write_repair_record(dir, 1, -1, TAMPER_SCHEDULE, made, err) == 0 &&
              damage_stimulus(dir, 5) == 0,
          "a record with two SHA-256 for image 3, image 5 damaged: %s", err);
    CHECK(session_dataset_load(dir, &s, err) != 0 &&
              strstr(err, "image 3: the record holds two different SHA-256 for it"),
          "refused, naming image 3's two hashes: %s", err);

    /* The first image (the lowest id lost is no special case). */
    snprintf(dir, sizeof dir, "%s/repair-import", base);
    CHECK(write_repair_record(dir, 1, -1, TAMPER_NONE, made, err) == 0 &&
              damage_stimulus(dir, 0) == 0,
          "image 0 damaged: %s", err);
    CHECK(session_dataset_load(dir, &s, err) == 0 && s.repaired == 1 &&
              rows_hold(&s, 0, made) == 1, "image 0 rebuilt too: %s", err);
    session_dataset_free(&s);
}

/* A natural trial scheduled in a block that is no tier ("bogus", or
 * "Validation": names are case-sensitive) is refused, naming the record
 * file and the block, instead of dropping out of the data unseen. */
static void test_unknown_tier(const char *base)
{
    const char *blocks[2] = {"bogus", "Validation"};
    for (int k = 0; k < 2; k++) {
        char dir[512], err[CONTROLLER_ERR_SIZE] = "";
        snprintf(dir, sizeof dir, "%s/tier%d", base, k);
        session_record *w;
        session_record_create(dir, "tier", protocol_text, sizeof protocol_text - 1, &w, err);
        float pixels[4] = {0, 0.5f, 1, 0.25f}, c[2] = {1, 2};
        record_stimulus st = {.stimulus_id = 0, .neuron = -1, .kind = "natural", .height = 2,
                              .width = 2, .pixels = pixels, .predicted = NAN};
        record_schedule_entry e = {.trial = 0, .block = blocks[k], .kind = "natural", .image_id = 0,
                                   .target_neuron = -1, .stimulus_frames = 30, .isi_frames = 18,
                                   .image_sha256 = NULL};
        record_trial t = {.trial = 0, .image_id = 0, .onset_ns = 0, .neurons = 2, .counts = c};
        session_record_stimulus(w, &st, err);
        session_record_schedule(w, &e, err);
        session_record_trial(w, &t, NULL, err);
        session_record_close(w, err);
        session_dataset s;
        err[0] = 0;
        int rc = session_dataset_load(dir, &s, err);
        CHECK(rc != 0 && strstr(err, dir) && strstr(err, RECORD_FILE_NAME) &&
              strstr(err, blocks[k]), "natural block '%s' is refused: %s", blocks[k], err);
        if (!rc)
            session_dataset_free(&s);
    }
}

/* Images smaller than the model takes (the protocol's 8 pixels) are refused
 * by import, naming the size, and no session is left: replay refused them
 * only after the import. */
static void test_import_too_small(const char *base)
{
    dataset d;
    char dir[512], err[CONTROLLER_ERR_SIZE] = "";
    snprintf(dir, sizeof dir, "%s/small", base);
    CHECK(dataset_alloc(&d, 4, 2, 2, 3) == 0, "a 2×2 dataset");
    for (int t = 0; t < 4; t++) {
        d.tiers[t] = t < 2 ? TIER_TRAIN : t < 3 ? TIER_VALIDATION : TIER_TEST;
        d.image_ids[t] = t;
    }
    int rc = session_import_dataset(&d, "small-data", dir, err);
    struct stat st;
    CHECK(rc != 0 && strstr(err, "small-data") && strstr(err, "2×2") &&
              strstr(err, "images.height") && stat(dir, &st) != 0,
          "import of 2×2 images refused, nothing written: %s", err);
    dataset_free(&d);
}

static int datasets_equal(const dataset *a, const dataset *b)
{
    if (a->trials != b->trials || a->height != b->height || a->width != b->width ||
        a->neurons != b->neurons)
        return 0;
    size_t T = (size_t)a->trials, P = (size_t)a->height * (size_t)a->width;
    return !memcmp(a->images, b->images, T * P * sizeof(float)) &&
           !memcmp(a->responses, b->responses, T * (size_t)a->neurons * sizeof(float)) &&
           !memcmp(a->tiers, b->tiers, T) && !memcmp(a->image_ids, b->image_ids, T * 8);
}

static void round_trip(const char *data_dir, const char *session_dir, const char *what)
{
    char err[CONTROLLER_ERR_SIZE] = "";
    dataset d;
    CHECK(dataset_load(data_dir, &d, err) == 0, "%s: loaded: %s", what, err);
    CHECK(session_import_dataset(&d, data_dir, session_dir, err) == 0, "%s: imported: %s", what,
          err);
    session_dataset s;
    int ok = session_dataset_load(session_dir, &s, err) == 0;
    CHECK(ok, "%s: rebuilt: %s", what, err);
    CHECK(ok && datasets_equal(&d, &s.data), "%s: import then rebuild is the dataset bit for bit",
          what);
    protocol *p = NULL;
    CHECK(ok && protocol_parse(s.protocol_text, s.protocol_size, "import", NULL, &p, err) == 0,
          "%s: the synthesized protocol parses: %s", what, err);
    CHECK(p && p->images.height == d.height && p->images.width == d.width &&
          strstr(s.protocol_text, data_dir), "%s: it names the source and the image size", what);
    protocol_destroy(p);
    if (ok)
        session_dataset_free(&s);
    dataset_free(&d);
}

static void write_sensorium(const char *dir)
{
    char path[512], err[MODEL_ERR_SIZE];
    const int T = 5;
    snprintf(path, sizeof path, "%s/data", dir);
    mkdir(dir, 0777);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/data/images", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/data/responses", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/meta", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/meta/trials", dir);
    mkdir(path, 0777);
    int64_t ids[5] = {4, 9, 9, 2, 9};
    for (int t = 0; t < T; t++) {
        float im[1 * 8 * 12], r[3];
        for (int p = 0; p < 96; p++)
            im[p] = (float)((ids[t] * 17 + p * 11) % 256);
        for (int n = 0; n < 3; n++)
            r[n] = 0.25f * (float)(t + n);
        int64_t ish[3] = {1, 8, 12}, rsh[1] = {3};
        snprintf(path, sizeof path, "%s/data/images/%d.npy", dir, t);
        npy_write(path, NPY_FLOAT32, 3, ish, im, err);
        snprintf(path, sizeof path, "%s/data/responses/%d.npy", dir, t);
        npy_write(path, NPY_FLOAT32, 1, rsh, r, err);
    }
    const char *tiers[5] = {"train", "test", "test", "validation", "test"};
    npy_array a = unicode_array(tiers, T, 10);
    snprintf(path, sizeof path, "%s/meta/trials/tiers.npy", dir);
    npy_write_array(path, &a, err);
    npy_free(&a);
    int64_t sh[1] = {T};
    snprintf(path, sizeof path, "%s/meta/trials/frame_image_id.npy", dir);
    npy_write(path, NPY_INT64, 1, sh, ids, err);
}

static void test_import(const char *base)
{
    char data[512], session[512], err[MODEL_ERR_SIZE] = "";
    simulate_options o;
    simulate_options_default(&o);
    o.population.neurons = 7;
    o.population.height = 9;
    o.population.width = 11;
    o.train_images = 30;
    o.test_images = 4;
    o.test_repeats = 3;
    dataset d;
    CHECK(simulate_dataset(&o, &d, err) == 0, "simulated: %s", err);
    snprintf(data, sizeof data, "%s/compact", base);
    CHECK(dataset_save_compact(data, &d, err) == 0, "saved compact: %s", err);
    snprintf(session, sizeof session, "%s/compact-session", base);
    round_trip(data, session, "compact");

    /* The same id with other pixels cannot be one stimulus. */
    memcpy(d.images, d.images + (size_t)d.height * d.width, sizeof(float) * 2);
    d.image_ids[0] = d.image_ids[1];
    snprintf(session, sizeof session, "%s/bad-session", base);
    err[0] = 0;
    CHECK(session_import_dataset(&d, "bad", session, err) != 0 && strstr(err, "share image id"),
          "repeats with different pixels are refused: %s", err);
    dataset_free(&d);

    snprintf(data, sizeof data, "%s/sensorium", base);
    write_sensorium(data);
    snprintf(session, sizeof session, "%s/sensorium-session", base);
    round_trip(data, session, "sensorium");
}

/* ------------------------------------------------------------------------ */
/* images.source folder (issue 15 item 3): each file one image, none twice, so
 * no image is in two tiers; version 1's `folder` is `patches`, as recorded
 * sessions made them. Files: 12 PNGs of 16 × 24 (the model's 8 × 12 aspect,
 * so no crop), each a distinct pattern; the expected image of each is its
 * 8-bit pixels averaged over 2 × 2 blocks, computed here. */

enum { FOLDER_FILES = 12, FOLDER_H = 8, FOLDER_W = 12 };

static int folder_protocol(const char *dir, int version, const char *source, int train,
                           int test, protocol **p, char *err)
{
    char text[1024];
    snprintf(text, sizeof text, "version: %d\nname: folder-test\nseed: 5\nimages:\n"
             "  source: %s\n  path: %s\n  train: %d\n  test: %d\n  test_repeats: 2\n"
             "  validation_fraction: 0.25\n  height: %d\n  width: %d\n", version, source,
             dir, train, test, FOLDER_H, FOLDER_W);
    return protocol_parse(text, strlen(text), "folder.yaml", NULL, p, err);
}

static void test_folder_images(const char *base)
{
    char dir[512], path[600], err[CONTROLLER_ERR_SIZE];
    snprintf(dir, sizeof dir, "%s/folder", base);
    mkdir(dir, 0700);
    static float expected[FOLDER_FILES][FOLDER_H * FOLDER_W];
    int written = 1;
    for (int k = 0; k < FOLDER_FILES; k++) {
        float full[2 * FOLDER_H * 2 * FOLDER_W];
        for (int y = 0; y < 2 * FOLDER_H; y++)
            for (int x = 0; x < 2 * FOLDER_W; x++) /* 8-bit levels, stored exactly */
                full[y * 2 * FOLDER_W + x] = (float)((k * 37 + x * 11 + y * 5) % 256) / 255.0f;
        for (int y = 0; y < FOLDER_H; y++)
            for (int x = 0; x < FOLDER_W; x++) {
                const float *f = full + 2 * y * 2 * FOLDER_W + 2 * x;
                expected[k][y * FOLDER_W + x] =
                    0.25f * (f[0] + f[1] + f[2 * FOLDER_W] + f[2 * FOLDER_W + 1]);
            }
        snprintf(path, sizeof path, "%s/image%02d.png", dir, k);
        written &= !png_write_gray(path, full, 2 * FOLDER_H, 2 * FOLDER_W, err);
    }
    CHECK(written, "12 PNG files written: %s", written ? "" : err);

    protocol *p;
    enum { TRAIN = 8, TEST = 3, COUNT = TRAIN + TEST, P = FOLDER_H * FOLDER_W };
    static float made[COUNT * P], few[5 * P], patches[COUNT * P], old[COUNT * P];
    int ok = !folder_protocol(dir, 2, "folder", TRAIN, TEST, &p, err) &&
             !session_natural_images(p, COUNT, NULL, made, NULL, err);
    CHECK(ok && p->images.source == PROTOCOL_IMAGES_FOLDER, "version 2 folder images made: %s",
          ok ? "" : err);
    int file_of[COUNT], used[FOLDER_FILES] = {0}, matched = 0;
    for (int i = 0; ok && i < COUNT; i++) {
        file_of[i] = -1;
        /* Area averaging sums four float products: 1e-6 is a few float
         * roundings of values in [0,1], far below the 1/255 between files. */
        for (int k = 0; k < FOLDER_FILES && file_of[i] < 0; k++) {
            int same = 1;
            for (int q = 0; q < P; q++)
                same &= fabsf(made[i * P + q] - expected[k][q]) <= 1e-6f;
            if (same)
                file_of[i] = k;
        }
        matched += file_of[i] >= 0;
        if (file_of[i] >= 0)
            used[file_of[i]]++;
    }
    int twice = 0;
    for (int k = 0; k < FOLDER_FILES; k++)
        twice += used[k] > 1;
    CHECK(ok && matched == COUNT && twice == 0,
          "each of the %d images is one file resized, no file twice (%d matched, %d twice)",
          COUNT, matched, twice);
    int overlap = 0;
    for (int i = 0; ok && i < TRAIN; i++)
        for (int t = TRAIN; t < COUNT; t++)
            overlap += file_of[i] >= 0 && file_of[i] == file_of[t];
    CHECK(ok && overlap == 0, "no file is both a training and a test image (%d shared)", overlap);
    ok = ok && !session_natural_images(p, 5, NULL, few, NULL, err);
    CHECK(ok && !memcmp(few, made, sizeof few), "image i does not depend on how many are made");
    protocol_destroy(p);

    ok = !folder_protocol(dir, 2, "folder", 10, 3, &p, err);
    CHECK(ok && session_natural_images(p, 13, NULL, made, NULL, err) != 0 &&
              strstr(err, "holds 12 images") && strstr(err, dir),
          "more images than files: refused, naming the folder: %s", err);
    protocol_destroy(p);

    /* Version 1's folder is version 2's patches, to the bit (recorded
     * sessions replay), and not the files themselves. */
    protocol *v1, *v2;
    ok = !folder_protocol(dir, 1, "folder", TRAIN, TEST, &v1, err) &&
         !folder_protocol(dir, 2, "patches", TRAIN, TEST, &v2, err) &&
         !session_natural_images(v1, COUNT, NULL, old, NULL, err) &&
         !session_natural_images(v2, COUNT, NULL, patches, NULL, err);
    CHECK(ok && v1->images.source == PROTOCOL_IMAGES_PATCHES &&
              !memcmp(old, patches, sizeof old) && memcmp(old, made, 5 * P * sizeof(float)),
          "version 1's folder reads as patches, the same images: %s", ok ? "" : err);
    if (ok) {
        protocol_destroy(v1);
        protocol_destroy(v2);
    }
}

int main(void)
{
    char base[] = "/tmp/test_session_data_XXXXXX";
    if (!mkdtemp(base))
        return 1;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rebuild", base);
    test_rebuild(dir);
    test_trial_flags(dir);
    snprintf(dir, sizeof dir, "%s/missing", base);
    test_missing_image(dir);
    test_damaged_image(base);
    test_unknown_tier(base);
    test_import_too_small(base);
    test_import(base);
    test_folder_images(base);
    remove_tree(base);
    return test_done();
}
