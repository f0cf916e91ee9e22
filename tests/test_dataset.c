/* Tests of dataset loading and saving: the compact layout round trip and its
 * accepted dtypes, a Sensorium 2022 folder built here, and the errors that
 * must name the offending file (shape mismatches, missing files, NaN or
 * negative responses, pixels out of range). */
#include "model.h"
#include "test.h"
#include "test_files.h"

#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Path of `name` inside `dir`, in one of a few rotating buffers. */
static const char *in(const char *dir, const char *name)
{
    /* Callers keep their folder in a buffer of their own: these rotate. */
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

static void make_dir(const char *path)
{
    mkdir(path, 0777);
}

/* Loading `dir` must fail with an error containing every one of `words`. */
static void check_load_fails(const char *dir, const char *what, const char *w1, const char *w2)
{
    dataset d;
    char err[MODEL_ERR_SIZE] = "";
    int rc = dataset_load(dir, &d, err);
    CHECK(rc != 0 && strstr(err, w1) && (!w2 || strstr(err, w2)),
          "%s: refused naming '%s'%s%s (%s)", what, w1, w2 ? " and " : "", w2 ? w2 : "",
          rc ? err : "accepted");
    if (rc == 0)
        dataset_free(&d);
    CHECK(d.images == NULL && d.trials == 0, "%s: nothing is left allocated", what);
}

/* ------------------------------------------------------------------------ */
/* Compact layout. */

static void test_compact_round_trip(const char *root)
{
    dataset d, back;
    CHECK(dataset_alloc(&d, 5, 4, 6, 3) == 0 && d.trials == 5 && d.height == 4 &&
              d.width == 6 && d.neurons == 3,
          "dataset_alloc makes a 5-trial 4×6 dataset of 3 neurons");
    int zero = 1;
    for (int i = 0; i < 5 * 24; i++)
        zero &= d.images[i] == 0.0f;
    CHECK(zero && d.tiers[4] == 0 && d.image_ids[4] == 0, "and it is zeroed");
    for (int i = 0; i < 5 * 24; i++)
        d.images[i] = (float)(i % 97) / 96.0f;
    for (int i = 0; i < 5 * 3; i++)
        d.responses[i] = (float)(i % 4) * 1.5f;
    uint8_t tiers[5] = {TIER_TRAIN, TIER_VALIDATION, TIER_TEST, TIER_NONE, TIER_TRAIN};
    int64_t ids[5] = {10, 10, 11, 1LL << 40, 13};
    memcpy(d.tiers, tiers, 5);
    memcpy(d.image_ids, ids, sizeof ids);

    char err[MODEL_ERR_SIZE];
    char dir[512];
    snprintf(dir, sizeof dir, "%s/compact/nested", root);
    int rc = dataset_save_compact(dir, &d, err);
    CHECK(rc == 0, "save the compact layout into a new nested folder (%s)", rc ? err : "ok");
    rc = dataset_load(dir, &back, err);
    CHECK(rc == 0, "load it back (%s)", rc ? err : "ok");
    if (rc == 0) {
        CHECK(back.trials == 5 && back.height == 4 && back.width == 6 && back.neurons == 3,
              "shape survives");
        CHECK(memcmp(back.images, d.images, 5 * 24 * sizeof(float)) == 0 &&
                  memcmp(back.responses, d.responses, 15 * sizeof(float)) == 0 &&
                  memcmp(back.tiers, tiers, 5) == 0 &&
                  memcmp(back.image_ids, ids, sizeof ids) == 0,
              "images, responses, tiers and ids survive exactly");
        CHECK(dataset_count_tier(&back, TIER_TRAIN) == 2 &&
                  dataset_count_tier(&back, TIER_VALIDATION) == 1 &&
                  dataset_count_tier(&back, TIER_TEST) == 1 &&
                  dataset_count_tier(&back, TIER_NONE) == 1,
              "tier counts 2, 1, 1, 1");
        dataset_free(&back);
    }
    dataset_free(&d);
    CHECK(d.images == NULL && d.trials == 0, "dataset_free clears the struct");

    dataset empty;
    CHECK(dataset_alloc(&empty, 0, 2, 2, 1) == 0 && empty.images != NULL &&
              dataset_count_tier(&empty, TIER_TRAIN) == 0,
          "a zero-trial dataset can be allocated");
    dataset_free(&empty);
    CHECK(dataset_alloc(&empty, -1, 2, 2, 1) != 0, "negative trials are refused");
}

/* A compact folder written file by file, in the other accepted dtypes. */
static void test_compact_dtypes(const char *root)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/dtypes", root);
    make_dir(dir);
    char err[MODEL_ERR_SIZE];
    uint8_t px[3 * 2 * 2];
    for (int i = 0; i < 12; i++)
        px[i] = (uint8_t)(i * 23);
    double resp[3 * 2] = {0, 1, 2.5, 3, 4, 5};
    int64_t s_img[3] = {3, 2, 2}, s_resp[2] = {3, 2};
    const char *names[3] = {"final_test", "none", "validation"};
    npy_array tiers = unicode_array(names, 3, 10);
    int rc = npy_write(in(dir, "images.npy"), NPY_UINT8, 3, s_img, px, err) ||
             npy_write(in(dir, "responses.npy"), NPY_FLOAT64, 2, s_resp, resp, err) ||
             npy_write_array(in(dir, "tiers.npy"), &tiers, err);
    npy_free(&tiers);
    CHECK(rc == 0, "write uint8 images, float64 responses, unicode tiers (%s)",
          rc ? err : "ok");
    dataset d;
    rc = dataset_load(dir, &d, err);
    CHECK(rc == 0, "load them (%s)", rc ? err : "ok");
    if (rc)
        return;
    int ok = 1;
    for (int i = 0; i < 12; i++)
        ok &= fabsf(d.images[i] - (float)(i * 23) / 255.0f) < 1e-7f;
    CHECK(ok && d.images[11] > 0.99f, "uint8 pixels are divided by 255 (last %g)",
          (double)d.images[11]);
    CHECK(d.responses[2] == 2.5f && d.responses[5] == 5.0f, "float64 responses converted");
    CHECK(d.tiers[0] == TIER_TEST && d.tiers[1] == TIER_NONE && d.tiers[2] == TIER_VALIDATION,
          "'final_test' is test, 'none' is none, 'validation' is validation");
    CHECK(d.image_ids[0] == 0 && d.image_ids[1] == 1 && d.image_ids[2] == 2,
          "without image_ids.npy the ids are 0..N-1");
    dataset_free(&d);

    /* A tier name that is none of the known ones is refused, naming the file
     * and the value (it was read as "none" and the trial silently dropped);
     * names are case-sensitive, as Sensorium writes them. */
    const char *unknown[2][3] = {{"train", "bogus", "test"}, {"train", "test", "Validation"}};
    for (int k = 0; k < 2; k++) {
        npy_array bad = unicode_array(unknown[k], 3, 10);
        rc = npy_write_array(in(dir, "tiers.npy"), &bad, err);
        npy_free(&bad);
        char what[64];
        snprintf(what, sizeof what, "tier '%s'", unknown[k][k + 1]);
        check_load_fails(dir, what, "tiers.npy", unknown[k][k + 1]);
    }

    /* int64 spike counts and int64 tier codes are accepted too. */
    int64_t counts[6] = {0, 1, 2, 3, 4, 50}, codes[3] = {0, 1, 2};
    int64_t s3[1] = {3};
    rc = npy_write(in(dir, "responses.npy"), NPY_INT64, 2, s_resp, counts, err) ||
         npy_write(in(dir, "tiers.npy"), NPY_INT64, 1, s3, codes, err);
    rc = rc || dataset_load(dir, &d, err);
    CHECK(rc == 0 && d.responses[5] == 50.0f && d.tiers[2] == TIER_TEST,
          "int64 responses and tier codes load (%s)", rc ? err : "ok");
    if (rc == 0)
        dataset_free(&d);
}

static void test_compact_errors(const char *root)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad_compact", root);
    make_dir(dir);
    char err[MODEL_ERR_SIZE];
    float img[2 * 2 * 2] = {0, 0.5f, 1, 0.25f, 0, 0, 0, 0};
    float resp[2 * 3] = {1, 2, 3, 4, 5, 6};
    uint8_t tiers[2] = {0, 1};
    int64_t s_img[3] = {2, 2, 2}, s_resp[2] = {2, 3}, s_tiers[1] = {2};
    int rc = npy_write(in(dir, "images.npy"), NPY_FLOAT32, 3, s_img, img, err) ||
             npy_write(in(dir, "responses.npy"), NPY_FLOAT32, 2, s_resp, resp, err) ||
             npy_write(in(dir, "tiers.npy"), NPY_UINT8, 1, s_tiers, tiers, err);
    dataset d;
    rc = rc || dataset_load(dir, &d, err);
    CHECK(rc == 0, "a valid 2-trial compact folder loads (%s)", rc ? err : "ok");
    if (rc == 0)
        dataset_free(&d);

    int64_t s_resp3[2] = {3, 2};
    npy_write(in(dir, "responses.npy"), NPY_FLOAT32, 2, s_resp3, resp, err);
    check_load_fails(dir, "responses for 3 trials, images for 2", "responses.npy",
                     "3 trials, expected 2");
    resp[4] = NAN;
    npy_write(in(dir, "responses.npy"), NPY_FLOAT32, 2, s_resp, resp, err);
    check_load_fails(dir, "a NaN response", "responses.npy: trial 1, neuron 1", "NaN");
    resp[4] = -1.0f;
    npy_write(in(dir, "responses.npy"), NPY_FLOAT32, 2, s_resp, resp, err);
    check_load_fails(dir, "a negative response", "responses.npy: trial 1, neuron 1",
                     "negative");
    resp[4] = INFINITY;
    npy_write(in(dir, "responses.npy"), NPY_FLOAT32, 2, s_resp, resp, err);
    check_load_fails(dir, "an infinite response", "responses.npy", "infinite");
    resp[4] = 5;
    npy_write(in(dir, "responses.npy"), NPY_FLOAT32, 2, s_resp, resp, err);

    img[5] = 2.0f;
    npy_write(in(dir, "images.npy"), NPY_FLOAT32, 3, s_img, img, err);
    check_load_fails(dir, "a float pixel of 2", "images.npy: image 1, pixel 1", "outside");
    img[5] = 0.0f;
    npy_write(in(dir, "images.npy"), NPY_FLOAT32, 2, s_img, img, err);
    check_load_fails(dir, "2-d images", "images.npy", "expected 3");
    npy_write(in(dir, "images.npy"), NPY_FLOAT32, 3, s_img, img, err);

    uint8_t bad_tiers[2] = {0, 9};
    npy_write(in(dir, "tiers.npy"), NPY_UINT8, 1, s_tiers, bad_tiers, err);
    check_load_fails(dir, "tier code 9", "tiers.npy", "code 9");
    int64_t s_tiers3[1] = {3};
    uint8_t three[3] = {0, 0, 0};
    npy_write(in(dir, "tiers.npy"), NPY_UINT8, 1, s_tiers3, three, err);
    check_load_fails(dir, "3 tiers for 2 trials", "tiers.npy", "does not match");
    remove(in(dir, "tiers.npy"));
    check_load_fails(dir, "no tiers.npy", "tiers.npy", "cannot open");
    npy_write(in(dir, "tiers.npy"), NPY_UINT8, 1, s_tiers, tiers, err);
    float ids[2] = {1, 2};
    npy_write(in(dir, "image_ids.npy"), NPY_FLOAT32, 1, s_tiers, ids, err);
    check_load_fails(dir, "float image ids", "image_ids.npy", "integers");
}

/* ------------------------------------------------------------------------ */
/* Sensorium 2022 layout. */

#define S_TRIALS 6
#define S_H 3
#define S_W 5
#define S_M 4

static float sensorium_pixel(int trial, int p) { return (float)((trial * 41 + p * 17) % 256); }
static float sensorium_response(int trial, int n) { return (float)(trial * S_M + n) * 0.5f; }

/* Trial i: image (uint8 for even trials, float32 0..255 for odd ones, as
 * any numeric dtype is allowed) and responses. */
static int write_sensorium_trial(const char *dir, int i, char *err)
{
    char name[64];
    uint8_t u[S_H * S_W];
    float f[S_H * S_W], r[S_M];
    for (int p = 0; p < S_H * S_W; p++) {
        u[p] = (uint8_t)sensorium_pixel(i, p);
        f[p] = sensorium_pixel(i, p);
    }
    for (int n = 0; n < S_M; n++)
        r[n] = sensorium_response(i, n);
    int64_t s_img[3] = {1, S_H, S_W}, s_resp[1] = {S_M};
    snprintf(name, sizeof name, "data/images/%d.npy", i);
    int rc = i % 2 ? npy_write(in(dir, name), NPY_FLOAT32, 3, s_img, f, err)
                   : npy_write(in(dir, name), NPY_UINT8, 3, s_img, u, err);
    snprintf(name, sizeof name, "data/responses/%d.npy", i);
    return rc || npy_write(in(dir, name), NPY_FLOAT32, 1, s_resp, r, err);
}

static int write_sensorium(const char *dir, char *err)
{
    make_dir(dir);
    make_dir(in(dir, "data"));
    make_dir(in(dir, "data/images"));
    make_dir(in(dir, "data/responses"));
    make_dir(in(dir, "meta"));
    make_dir(in(dir, "meta/trials"));
    const char *names[S_TRIALS] = {"train", "train", "validation", "test", "final_test", "none"};
    int64_t frame_ids[S_TRIALS] = {100, 101, 102, 200, 200, 300}, s_n[1] = {S_TRIALS};
    npy_array tiers = unicode_array(names, S_TRIALS, 10);
    int rc = npy_write_array(in(dir, "meta/trials/tiers.npy"), &tiers, err) ||
             npy_write(in(dir, "meta/trials/frame_image_id.npy"), NPY_INT64, 1, s_n, frame_ids,
                       err);
    npy_free(&tiers);
    for (int i = 0; !rc && i < S_TRIALS; i++)
        rc = write_sensorium_trial(dir, i, err);
    return rc;
}

static void test_sensorium(const char *root)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/sensorium", root);
    char err[MODEL_ERR_SIZE];
    int rc = write_sensorium(dir, err);
    CHECK(rc == 0, "build a Sensorium 2022 folder of %d trials (%s)", S_TRIALS,
          rc ? err : "ok");
    dataset d;
    rc = dataset_load(dir, &d, err);
    CHECK(rc == 0, "load it (%s)", rc ? err : "ok");
    if (rc)
        return;
    CHECK(d.trials == S_TRIALS && d.height == S_H && d.width == S_W && d.neurons == S_M,
          "%d trials of %d×%d images and %d neurons", d.trials, d.height, d.width, d.neurons);
    double worst = 0;
    for (int i = 0; i < S_TRIALS; i++)
        for (int p = 0; p < S_H * S_W; p++)
            worst = fmax(worst, fabs(d.images[i * S_H * S_W + p] - sensorium_pixel(i, p) / 255.0));
    CHECK(worst < 1e-7, "pixels (uint8 and float32 files alike) are value/255 (worst %.2g)",
          worst);
    int same = 1;
    for (int i = 0; i < S_TRIALS; i++)
        for (int n = 0; n < S_M; n++)
            same &= d.responses[i * S_M + n] == sensorium_response(i, n);
    CHECK(same, "responses match file by file");
    uint8_t want_tiers[S_TRIALS] = {TIER_TRAIN, TIER_TRAIN, TIER_VALIDATION,
                                    TIER_TEST,  TIER_TEST,  TIER_NONE};
    CHECK(memcmp(d.tiers, want_tiers, S_TRIALS) == 0,
          "tiers train, train, validation, test, final_test→test, other→none");
    CHECK(d.image_ids[3] == 200 && d.image_ids[4] == 200 && d.image_ids[5] == 300,
          "frame_image_id gives the image ids");
    dataset_free(&d);

    /* Each damage below is repaired after its check. */
    float r3[3] = {1, 2, 3}, r4[S_M] = {1, NAN, 3, 4};
    int64_t s3[1] = {3}, s4[1] = {S_M};
    npy_write(in(dir, "data/responses/2.npy"), NPY_FLOAT32, 1, s3, r3, err);
    check_load_fails(dir, "trial 2 with 3 neurons", "data/responses/2.npy: 3 neurons, expected 4",
                     NULL);
    write_sensorium_trial(dir, 2, err);

    npy_write(in(dir, "data/responses/1.npy"), NPY_FLOAT32, 1, s4, r4, err);
    check_load_fails(dir, "a NaN response in trial 1", "data/responses/1.npy: trial 1, neuron 1",
                     "NaN");
    write_sensorium_trial(dir, 1, err);

    uint8_t big[4 * S_W] = {0};
    int64_t s_big[3] = {1, 4, S_W};
    npy_write(in(dir, "data/images/3.npy"), NPY_UINT8, 3, s_big, big, err);
    check_load_fails(dir, "a 4×5 image among 3×5 ones", "data/images/3.npy",
                     "4×5 image, expected 3×5");
    int64_t s_two[3] = {2, S_H, S_W};
    uint8_t two[2 * S_H * S_W] = {0};
    npy_write(in(dir, "data/images/3.npy"), NPY_UINT8, 3, s_two, two, err);
    check_load_fails(dir, "a 2×3×5 image", "data/images/3.npy", "1×H×W");
    float hot[S_H * S_W] = {0, 300};
    int64_t s_img[3] = {1, S_H, S_W};
    npy_write(in(dir, "data/images/3.npy"), NPY_FLOAT32, 3, s_img, hot, err);
    check_load_fails(dir, "a pixel of 300", "data/images/3.npy: image 3, pixel 1", "outside");
    write_sensorium_trial(dir, 3, err);

    remove(in(dir, "data/images/4.npy"));
    check_load_fails(dir, "a missing image file", "data/images/4.npy", "cannot open");
    write_sensorium_trial(dir, 4, err);

    int64_t ids5[5] = {0}, s5[1] = {5};
    npy_write(in(dir, "meta/trials/frame_image_id.npy"), NPY_INT64, 1, s5, ids5, err);
    check_load_fails(dir, "5 image ids for 6 trials", "frame_image_id.npy", "does not match");

    rc = write_sensorium(dir, err) || dataset_load(dir, &d, err);
    CHECK(rc == 0, "the repaired folder loads again (%s)", rc ? err : "ok");
    if (rc == 0)
        dataset_free(&d);
}

static void test_folders(const char *root)
{
    check_load_fails(in(root, "no_such_folder"), "a missing folder", "no_such_folder",
                     "cannot open");
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty", root);
    make_dir(empty);
    check_load_fails(empty, "an empty folder", "no dataset", NULL);
    check_load_fails(in(root, "sensorium/meta/trials/tiers.npy"), "a file, not a folder",
                     "not a folder", NULL);
}

/* Block averaging, checked against sums written out by hand; a remainder
 * row/column is dropped. */
static void test_downsample(void)
{
    dataset d;
    char err[MODEL_ERR_SIZE];
    CHECK(dataset_alloc(&d, 2, 5, 6, 1) == 0, "allocate 2 images of 5×6");
    for (int i = 0; i < 2 * 5 * 6; i++)
        d.images[i] = (float)i;
    CHECK(dataset_downsample(&d, 2, err) == 0, "downsample by 2");
    CHECK(d.height == 2 && d.width == 3, "5×6 becomes 2×3 (got %d×%d)", d.height, d.width);
    /* image 0, block (0,0): pixels 0,1,6,7; block (1,2): 16,17,22,23 */
    CHECK_CLOSE(d.images[0], (0 + 1 + 6 + 7) / 4.0, 1e-6, "first block is the mean of its 4");
    CHECK_CLOSE(d.images[5], (16 + 17 + 22 + 23) / 4.0, 1e-6, "last block of image 0");
    CHECK_CLOSE(d.images[6], (30 + 31 + 36 + 37) / 4.0, 1e-6, "first block of image 1");
    CHECK(dataset_downsample(&d, 3, err) != 0 && strstr(err, "3"),
          "a factor larger than the image is refused: %s", err);
    CHECK(dataset_downsample(&d, 1, err) == 0 && d.height == 2, "factor 1 changes nothing");
    dataset_free(&d);
}

int main(void)
{
    test_downsample();
    char root[] = "/tmp/test_dataset_XXXXXX";
    if (!mkdtemp(root)) {
        CHECK(0, "cannot create a temporary folder");
        return test_done();
    }
    test_compact_round_trip(root);
    test_compact_dtypes(root);
    test_compact_errors(root);
    test_sensorium(root);
    test_folders(root);
    remove_tree(root);
    return test_done();
}
