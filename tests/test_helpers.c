/* The controller's JSON writer (controller/json_out.c), the controller
 * library's growable array and error helper (controller/controller_util.c),
 * and the one vocabulary of stimulus kinds (stimulus/stimulus_kind.c).
 *
 * The manifests are read back with Python's json module in the CLI tests;
 * here each refusal is driven directly: a non-finite number, text that is
 * not UTF-8, a size that overflows. What is written is read back with
 * jansson's parser, the reading half of the library, not ours. */
#include "controller.h"
#include "commands/commands.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[512];

static void json_round_trip(void)
{
    json_out o;
    CHECK(json_out_begin(&o) == 0 && o.root, "a document begins");
    json_t *model = json_out_object(&o, o.root, "model");
    json_out_text(&o, model, "path", "dir/\"quoted\"\\name\n\x01é");
    json_out_real(&o, model, "input_mean", (double)0.1f);
    json_out_real(&o, model, "tiny", (double)FLT_MIN);
    json_out_int(&o, model, "neurons", -12);
    json_out_bool(&o, model, "gaussian", 1);
    json_t *metrics = json_out_array(&o, o.root, "metrics");
    json_out_real_or_null(&o, metrics, "metrics", 0.25);
    json_out_real_or_null(&o, metrics, "metrics", NAN);
    json_out_seed(&o, o.root, "seed", UINT64_MAX);
    CHECK(!o.failed, "every value accepted (%s)", o.err);
    CHECK(json_out_write(&o, path) == 0, "written (%s)", o.err);
    json_out_end(&o);

    json_error_t e;
    json_t *doc = json_load_file(path, 0, &e);
    CHECK(doc != NULL, "jansson parses what was written (%s)", doc ? "" : e.text);
    json_t *m = json_object_get(doc, "model");
    CHECK(m && !strcmp(json_string_value(json_object_get(m, "path")),
                       "dir/\"quoted\"\\name\n\x01é"),
          "quotes, backslashes, control characters and UTF-8 survive");
    /* Nine significant digits give a float32 back exactly (FLT_DECIMAL_DIG). */
    CHECK(m && (float)json_real_value(json_object_get(m, "input_mean")) == 0.1f &&
              (float)json_real_value(json_object_get(m, "tiny")) == FLT_MIN,
          "float32 values come back exactly");
    CHECK(m && json_integer_value(json_object_get(m, "neurons")) == -12 &&
              json_is_true(json_object_get(m, "gaussian")),
          "integers and booleans");
    json_t *a = json_object_get(doc, "metrics");
    CHECK(json_array_size(a) == 2 && json_real_value(json_array_get(a, 0)) == 0.25 &&
              json_is_null(json_array_get(a, 1)),
          "an undefined metric is null");
    CHECK(!strcmp(json_string_value(json_object_get(doc, "seed")), "18446744073709551615"),
          "a 64-bit seed is its exact decimal string");
    json_decref(doc);
}

/* A refused value: nothing written, the reason names the key, and the
 * refusal sticks through later calls. */
static void json_refusal(const char *what, double x, const char *text)
{
    unlink(path);
    json_out o;
    json_out_begin(&o);
    json_t *s = json_out_array(&o, o.root, "stimuli");
    json_out_int(&o, s, "index", 0);
    if (text)
        json_out_text(&o, s, "file", text);
    else
        json_out_real(&o, s, "predicted_response", x);
    json_out_real(&o, o.root, "contrast", 0.5);
    json_t *late = json_out_object(&o, o.root, "late");
    CHECK(o.failed && strstr(o.err, text ? "file" : "predicted_response") &&
              strstr(o.err, text ? "not UTF-8" : "non-finite") && late == NULL,
          "%s refused, naming its key: %s", what, o.err);
    CHECK(json_out_write(&o, path) == 1 && access(path, F_OK) != 0,
          "%s: nothing written", what);
    json_out_end(&o);
}

static void grow_arrays(void)
{
    int *a = NULL;
    size_t cap = 0;
    int ok = 1;
    for (int i = 0; i < 1000 && ok; i++) {
        ok = grow_array(&a, &cap, (size_t)i + 1, sizeof *a, 16) == 0 && cap >= (size_t)i + 1;
        if (ok)
            a[i] = i;
    }
    int kept = ok;
    for (int i = 0; i < 1000 && kept; i++)
        kept = a[i] == i;
    CHECK(ok && kept && cap == 1024, "1,000 items one by one: capacity 16 doubled to %zu, "
                                     "every item kept", cap);
    int *before = a;
    CHECK(grow_array(&a, &cap, 1000, sizeof *a, 16) == 0 && a == before && cap == 1024,
          "no growth when the room is there");
    CHECK(grow_array(&a, &cap, SIZE_MAX / 2, sizeof *a, 16) == 1 && a == before &&
              cap == 1024,
          "a size that overflows is refused, the array as it was");
    CHECK(grow_capacity_for(0, 5, 256) == 256 && grow_capacity_for(256, 257, 16) == 512 &&
              grow_capacity_for(100, 1000, 1) == 1600,
          "capacities double from the first until they hold what is needed");
    free(a);

    char err[CONTROLLER_ERR_SIZE];
    CHECK(controller_fail(err, "trial %d: %s", 7, "no counts") == 1 &&
              !strcmp(err, "trial 7: no counts"),
          "controller_fail writes the reason and returns 1");
    CHECK(controller_fail(NULL, "ignored %d", 1) == 1, "controller_fail takes no buffer");
}

/* Every kind's name reads back as that kind, the names are the literals the
 * header gives (and RECORD.md lists), and the protocol's mei.controls take
 * the control kinds' names as its bits. */
static void stimulus_kinds(void)
{
    int round_trip = 1, titled = 1, distinct = 1;
    for (int k = 0; k < STIMULUS_KIND_COUNT; k++) {
        const char *name = stimulus_kind_name(k);
        round_trip &= name && stimulus_kind_parse(name) == k;
        titled &= stimulus_kind_title(k) && *stimulus_kind_title(k);
        for (int j = 0; name && j < k; j++)
            distinct &= strcmp(name, stimulus_kind_name(j)) != 0;
    }
    CHECK(round_trip, "each of the %d kinds' names reads back as that kind", STIMULUS_KIND_COUNT);
    CHECK(titled && distinct, "each kind has a title and a name of its own");
    CHECK(!stimulus_kind_name(-1) && !stimulus_kind_name(STIMULUS_KIND_COUNT) &&
              !stimulus_kind_title(STIMULUS_KIND_COUNT),
          "no name outside the kinds");
    CHECK(stimulus_kind_parse("MEI") < 0 && stimulus_kind_parse("") < 0 &&
              stimulus_kind_parse("natural ") < 0 && stimulus_kind_parse(NULL) < 0,
          "other text is no kind (case and spaces count)");
    static const char *const recorded[] = {"mei", "best_natural", "gabor", "rf", "least",
                                           "least_natural", "natural", "diverse", "masked",
                                           "surround", "surround_most", "surround_least",
                                           "tone", "search", "pattern", "pattern_natural"};
    int same = (int)(sizeof recorded / sizeof *recorded) == STIMULUS_KIND_COUNT;
    for (int k = 0; same && k < STIMULUS_KIND_COUNT; k++)
        same = !strcmp(stimulus_kind_name(k), recorded[k]);
    CHECK(same && !strcmp(stimulus_kind_name(STIMULUS_KIND_NATURAL), STIMULUS_KIND_NAME_NATURAL) &&
              !strcmp(stimulus_kind_name(STIMULUS_KIND_RF), STIMULUS_KIND_NAME_RF),
          "the names are the records' (RECORD.md) and the header's literals");
    CHECK(!strcmp(stimulus_kind_name(STIMULUS_KIND_SEARCH), STIMULUS_KIND_NAME_SEARCH) &&
              !strcmp(stimulus_kind_name(STIMULUS_KIND_PATTERN_NATURAL),
                      STIMULUS_KIND_NAME_PATTERN_NATURAL) &&
              STIMULUS_KIND_TONE == 12 && STIMULUS_KIND_SEARCH == 13 &&
              STIMULUS_KIND_PATTERN == 14 && STIMULUS_KIND_PATTERN_NATURAL == STIMULUS_KIND_COUNT - 1,
          "the tone (12), the search image (13), then the pattern image and its control, last "
          "(appended: the others keep their numbers)");
    CHECK(STIMULUS_CLOSED_LOOP_KINDS == 4 && STIMULUS_KIND_MEI == 0,
          "the closed loop's kinds come first: the MEI and three controls");
    for (int k = STIMULUS_KIND_BEST_NATURAL; k < STIMULUS_CLOSED_LOOP_KINDS; k++) {
        char text[128], err[CONTROLLER_ERR_SIZE] = "";
        snprintf(text, sizeof text, "mei:\n  controls: [%s]\n", stimulus_kind_name(k));
        protocol *p = NULL;
        int status = protocol_parse(text, strlen(text), "kinds.yaml", NULL, &p, err);
        CHECK(!status && p->mei.controls == 1u << (k - 1), "controls: [%s] is bit %d%s%s",
              stimulus_kind_name(k), k - 1, status ? ": " : "", err);
        protocol_destroy(p);
    }
    /* The audio sessions' tone: bit 3, taken with modality audio, refused
     * (by name) in an image session. */
    const char *audio = "modality: audio\nmei:\n  controls: [tone, best_natural]\n";
    const char *image = "mei:\n  controls: [tone]\n";
    char err[CONTROLLER_ERR_SIZE] = "", image_err[CONTROLLER_ERR_SIZE] = "";
    protocol *p = NULL, *q = NULL;
    int status = protocol_parse(audio, strlen(audio), "tone.yaml", NULL, &p, err);
    CHECK(!status && p->mei.controls == (PROTOCOL_CONTROL_TONE | PROTOCOL_CONTROL_BEST_NATURAL) &&
              PROTOCOL_CONTROL_TONE == 1u << 3,
          "audio: controls [tone, best_natural] are bits 3 and 0%s%s", status ? ": " : "", err);
    CHECK(protocol_parse(image, strlen(image), "tone.yaml", NULL, &q, image_err) &&
              strstr(image_err, "tone is an audio control"),
          "an image session refuses the tone: %s", image_err);
    protocol_destroy(p);
    protocol_destroy(q);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/inception_test_helpers_%d.json", (int)getpid());
    json_round_trip();
    json_refusal("NaN", NAN, NULL);
    json_refusal("infinity", -INFINITY, NULL);
    json_refusal("text that is not UTF-8", 0, "bad\xff\xfe.png");
    unlink(path);
    grow_arrays();
    stimulus_kinds();
    return test_done();
}
