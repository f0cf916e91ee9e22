/* test_protocol.c: protocol files: the shipped ones parse to the values they
 * state, defaults fill what is left out, durations in ms round to frames,
 * and every file of the malformed corpus (tests/protocols_bad) is refused
 * with the line its "# expect-line:" comment names, the text its
 * "# expect:" comment names, and a hint. Argument 1: the source root. */
#include "controller.h"
#include "test.h"
#include "test_files.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static protocol *parse_text(const char *text, char *err)
{
    protocol *p = NULL;
    if (protocol_parse(text, strlen(text), "test.yaml", NULL, &p, err))
        return NULL;
    return p;
}

/* The value and source of one setting, by its "section.key" name. */
static const char *setting_source(const protocol *p, const char *key, char *value,
                                  protocol_setting *s)
{
    for (int i = 0; i < protocol_setting_count(); i++) {
        protocol_setting_get(p, i, s);
        if (!strcmp(s->key, key)) {
            strcpy(value, s->value);
            return s->source;
        }
    }
    return "";
}

static void test_shipped(const char *root)
{
    char path[4096], err[CONTROLLER_ERR_SIZE];
    protocol *p;
    snprintf(path, sizeof path, "%s/protocols/demo.yaml", root);
    CHECK(protocol_load(path, &p, err) == 0, "demo.yaml parses: %s", p ? "" : err);
    if (p) {
        CHECK(p->virtual_rig.enabled == 1 && p->virtual_rig.neurons == 100,
              "demo: virtual rig, 100 neurons");
        CHECK(p->display.mode == PROTOCOL_DISPLAY_OFFSCREEN && p->display.refresh_hz == 240.0f,
              "demo: offscreen at 240 Hz");
        CHECK(p->timing.stimulus_frames == 8 && p->timing.isi_frames == 4 &&
                  p->timing.isi_jitter_frames == 11, "demo: 8 + 4 frames, jitter 0..11");
        CHECK(p->images.train == 2000 && p->images.test == 30 && p->images.test_repeats == 5,
              "demo: 2000 training, 30 x 5 test");
        CHECK(p->model.layers == 3 && p->model.kernels[0] == 9 && p->model.kernels[2] == 7,
              "demo: kernels [9, 7, 7]");
        CHECK(p->mei.controls == (PROTOCOL_CONTROL_BEST_NATURAL | PROTOCOL_CONTROL_GABOR |
                                  PROTOCOL_CONTROL_RF), "demo: all three controls");
        CHECK(p->text_size > 100 && strstr(p->text, "name: demo"), "demo: text kept verbatim");
        protocol_destroy(p);
    }
    snprintf(path, sizeof path, "%s/protocols/walker2019.yaml", root);
    CHECK(protocol_load(path, &p, err) == 0, "walker2019.yaml parses: %s", p ? "" : err);
    if (p) {
        /* 500, 300 and 200 ms at 60 Hz: 30, 18 and 12 frames exactly (the
         * paper's 300-500 ms blanks). */
        CHECK(p->timing.stimulus_frames == 30 && p->timing.isi_frames == 18 &&
                  p->timing.isi_jitter_frames == 12,
              "walker2019: 500 ms, 300 + 0..200 ms = 30, 18 + 0..12 frames at 60 Hz");
        CHECK(p->images.train == 5000 && p->images.test_repeats == 10 && p->mei.steps == 1000,
              "walker2019: 5000 images, 10 repeats, 1000 MEI steps");
        CHECK(p->virtual_rig.enabled == 0 && p->seed == 2019, "walker2019: real rig, seed 2019");
        protocol_destroy(p);
    }
    snprintf(path, sizeof path, "%s/protocols/template.yaml", root);
    CHECK(protocol_load(path, &p, err) == 0, "template.yaml parses: %s", p ? "" : err);
    if (p) {
        /* The template states every default: every setting it gives equals the
         * default, so a protocol with only "version: 2" (the template's) must
         * resolve the same. Except the ISI jitter: the template recommends
         * 200 ms (docs/timing.md), the built-in default stays 0, a regular
         * rhythm, so that a protocol written before the setting keeps its
         * meaning. */
        protocol *d = parse_text("version: 2\n", err);
        int same = d != NULL, given = 0;
        for (int i = 0; d && i < protocol_setting_count(); i++) {
            protocol_setting a, b;
            protocol_setting_get(p, i, &a);
            protocol_setting_get(d, i, &b);
            given += !strncmp(a.source, "file", 4);
            if (!strncmp(a.key, "timing.isi_jitter_", 18)) {
                CHECK(!strcmp(b.value, "0") && (!strcmp(a.value, "200") || !strcmp(a.value, "12")),
                      "%s: template %s, default %s", a.key, a.value, b.value);
                continue;
            }
            if (strcmp(a.value, b.value)) {
                printf("# %s: template %s, default %s\n", a.key, a.value, b.value);
                same = 0;
            }
        }
        CHECK(same, "template.yaml states the defaults");
        CHECK(given >= protocol_setting_count() - 5, "template.yaml gives %d of %d keys "
              "(the frame alternatives, images.path and sounds.path are commented)", given,
              protocol_setting_count());
        protocol_destroy(d);
        protocol_destroy(p);
    }
}

static void test_defaults_and_rounding(void)
{
    char err[CONTROLLER_ERR_SIZE], value[PROTOCOL_STRING_SIZE];
    protocol_setting s;
    protocol *p = parse_text("display:\ntiming:\n  stimulus_ms: 510\n", err);
    CHECK(p != NULL, "empty section and ms timing parse: %s", p ? "" : err);
    if (!p)
        return;
    CHECK(p->display.refresh_hz == 60.0f && p->images.height == 36 && p->images.width == 64,
          "defaults: 60 Hz, 36x64");
    /* 510 ms x 60 Hz = 30.6 frames -> 31 frames = 516.67 ms */
    CHECK(p->timing.stimulus_frames == 31, "510 ms at 60 Hz rounds to 31 frames (got %d)",
          p->timing.stimulus_frames);
    const char *source = setting_source(p, "timing.stimulus_frames", value, &s);
    CHECK(strstr(source, "516.67 ms") && strstr(source, "rounding changed it") &&
              strstr(source, "line 3"), "the derivation is reported: %s", source);
    CHECK(p->timing.isi_frames == 18, "default isi 300 ms = 18 frames");
    source = setting_source(p, "display.refresh_hz", value, &s);
    CHECK(!strcmp(source, "default") && !strcmp(value, "60"), "refresh_hz: 60 from default");
    source = setting_source(p, "model.kernels", value, &s);
    CHECK(!strcmp(value, "[9, 7, 7]"), "kernels shown as a list: %s", value);
    protocol_destroy(p);

    p = parse_text("display:\n  refresh_hz: 144\ntiming:\n  stimulus_frames: 72\n  isi_ms: 0\n"
                   "mei:\n  controls: [gabor]\nvirtual_rig:\n  enabled: yes\n", err);
    CHECK(p != NULL, "frames, yes, one control: %s", p ? "" : err);
    if (p) {
        CHECK(p->timing.stimulus_frames == 72 && p->timing.stimulus_ms == 0 &&
                  p->timing.isi_frames == 0, "72 frames, no gap");
        CHECK(p->mei.controls == PROTOCOL_CONTROL_GABOR, "controls: gabor only");
        CHECK(p->virtual_rig.enabled == 1, "yes is true");
        source = setting_source(p, "timing.stimulus_frames", value, &s);
        CHECK(!strcmp(source, "file, line 4"), "frames from the file: %s", source);
        protocol_destroy(p);
    }
    /* Without a base folder, files are not looked for (fuzzing, old sessions). */
    p = parse_text("display:\n  gamma_file: nowhere.csv\n", err);
    CHECK(p != NULL && !strcmp(p->display.gamma_file, "nowhere.csv"),
          "no base folder: paths kept, not checked");
    protocol_destroy(p);
    p = parse_text("display:\n  refresh_hz: 60\n  refresh_hz: 60\n", err);
    CHECK(p == NULL && !strncmp(err, "test.yaml:3:15: ", 16), "duplicate: %s", err);
}

/* The value of "# NAME: value" in a corpus file. */
/* The ISI jitter: given in ms or frames, refused below the least that helps
 * the clock vote, and each trial's draw: in range, every value drawn, a
 * function of the seed and the trial number alone. */
static void test_isi_jitter(void)
{
    char err[CONTROLLER_ERR_SIZE], value[256];
    protocol_setting s;
    protocol *p = parse_text("seed: 5\ntiming:\n  isi_frames: 18\n  isi_jitter_ms: 200\n", err);
    CHECK(p != NULL, "isi_jitter_ms parses: %s", p ? "" : err);
    if (!p)
        return;
    CHECK(p->timing.isi_jitter_frames == 12, "200 ms at 60 Hz = 12 frames (got %d)",
          p->timing.isi_jitter_frames);
    const char *source = setting_source(p, "timing.isi_jitter_frames", value, &s);
    CHECK(strstr(source, "timing.isi_jitter_ms 200 ms (file, line 4)") != NULL,
          "the derivation is reported: %s", source);
    int seen[13] = {0}, outside = 0, again = 0, drawn[1300];
    for (int64_t t = 0; t < 1300; t++) {
        int isi = drawn[t] = protocol_trial_isi_frames(p, t);
        if (isi < 18 || isi > 30)
            outside++;
        else
            seen[isi - 18]++;
    }
    for (int64_t t = 1299; t >= 0; t--) /* the other way round: nothing depends on order */
        again += protocol_trial_isi_frames(p, t) == drawn[t];
    int least = 1300, most = 0;
    for (int k = 0; k < 13; k++) {
        least = seen[k] < least ? seen[k] : least;
        most = seen[k] > most ? seen[k] : most;
    }
    /* 100 draws expected per value: a binomial's SD is 9.6, so 50..150 is
     * over 5 SD either side. */
    CHECK(outside == 0 && least >= 50 && most <= 150,
          "1300 trials draw 18..30 frames, each value 50-150 times (%d outside, %d..%d)",
          outside, least, most);
    CHECK(again == 1300, "drawn again in reverse order: the same gaps (%d of 1300)", again);
    protocol *q = parse_text("seed: 5\ntiming:\n  isi_frames: 18\n  isi_jitter_frames: 12\n", err);
    protocol *r = parse_text("seed: 6\ntiming:\n  isi_frames: 18\n  isi_jitter_frames: 12\n", err);
    int same = 0, other = 0;
    for (int64_t t = 0; q && r && t < 200; t++) {
        same += protocol_trial_isi_frames(q, t) == protocol_trial_isi_frames(p, t);
        other += protocol_trial_isi_frames(r, t) == protocol_trial_isi_frames(p, t);
    }
    CHECK(same == 200 && other < 60, "the same seed draws the same (%d of 200), another seed "
          "other draws (%d the same by chance, ~15 expected)", same, other);
    protocol_destroy(q);
    protocol_destroy(r);
    protocol_destroy(p);
    p = parse_text("timing:\n  isi_frames: 7\n", err);
    CHECK(p && p->timing.isi_jitter_frames == 0 && protocol_trial_isi_frames(p, 3) == 7,
          "no jitter: every trial's gap is isi_frames");
    protocol_destroy(p);
    /* The least accepted: 4 (2w + 1) - 1 frames, w the frames within 5 ms. */
    struct { double hz; int least; } rates[] = {{60, 3}, {144, 3}, {200, 11}, {240, 11}, {400, 19}};
    for (int i = 0; i < 5; i++)
        CHECK(protocol_isi_jitter_min_frames(rates[i].hz) == rates[i].least,
              "at %g Hz at least %d frames (got %d)", rates[i].hz, rates[i].least,
              protocol_isi_jitter_min_frames(rates[i].hz));
    p = parse_text("display:\n  refresh_hz: 240\ntiming:\n  isi_jitter_ms: 20\n", err);
    CHECK(!p && strstr(err, "test.yaml:4:") && strstr(err, "timing.isi_jitter_ms") &&
              strstr(err, "at least 11 frames"), "20 ms at 240 Hz refused naming the key: %s",
          p ? "accepted" : err);
    protocol_destroy(p);
}

static int expectation(const char *text, const char *name, char *out, size_t size)
{
    char tag[64];
    snprintf(tag, sizeof tag, "# %s: ", name);
    const char *at = strstr(text, tag);
    if (!at)
        return 1;
    at += strlen(tag);
    size_t n = strcspn(at, "\n");
    snprintf(out, size, "%.*s", (int)n, at);
    return 0;
}

static void test_bad_file(const char *path)
{
    size_t size;
    char *text = (char *)read_file_bytes(path, &size), line[32], want[256];
    char *terminated = text ? realloc(text, size + 1) : NULL;
    if (terminated)
        terminated[size] = '\0';
    if (!terminated || expectation(terminated, "expect-line", line, sizeof line) ||
        expectation(terminated, "expect", want, sizeof want)) {
        CHECK(0, "%s: has # expect-line: and # expect: comments", path);
        free(terminated ? terminated : text);
        return;
    }
    free(terminated);
    protocol *p;
    char err[CONTROLLER_ERR_SIZE], prefix[4200];
    int status = protocol_load(path, &p, err);
    snprintf(prefix, sizeof prefix, "%s:%s:", path, line);
    CHECK(status != 0 && p == NULL, "%s is refused", path);
    if (status == 0) {
        protocol_destroy(p);
        return;
    }
    CHECK(!strncmp(err, prefix, strlen(prefix)) && strstr(err, want) && strstr(err, "(hint: "),
          "%s", err);
}

static void test_bad_corpus(const char *root)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/protocols_bad", root);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), files = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        if (len > 5 && !strcmp(name + len - 5, ".yaml")) {
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dir, name);
            test_bad_file(path);
            files++;
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
    CHECK(files >= 20, "the malformed corpus holds %d files (at least 20)", files);
}

/* One port for the stream and the onsets is refused only where it is one
 * socket: the same host, a host that may be this computer, or the virtual
 * rig publishing here; and only for a protocol about to run (a base
 * folder), not one read back from a record. */
static void test_ports(void)
{
    static const struct {
        const char *stream, *sync;
        int rig, refused;
    } cases[] = {
        {"tcp://127.0.0.1:5556", "tcp://*:5556", 1, 1},
        {"tcp://10.0.0.5:5556", "tcp://10.0.0.5:5556", 0, 1},
        {"tcp://10.0.0.5:5556", "tcp://*:5556", 1, 1},
        {"tcp://10.0.0.5:5556", "tcp://*:5556", 0, 0},
        {"tcp://localhost:5556", "tcp://0.0.0.0:5556", 0, 1},
        {"tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557", 1, 0},
        {"ipc:///tmp/x", "ipc:///tmp/x", 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], err[CONTROLLER_ERR_SIZE] = "";
        snprintf(text, sizeof text, "endpoints:\n  stream: %s\n  sync: %s\n  units: 10\n"
                 "virtual_rig:\n  enabled: %s\n  neurons: 10\n", cases[i].stream,
                 cases[i].sync, cases[i].rig ? "true" : "false");
        protocol *p = NULL;
        int refused = protocol_parse(text, strlen(text), "ports.yaml", ".", &p, err) != 0;
        CHECK(refused == cases[i].refused && (!refused || strstr(err, "one socket")),
              "stream %s, sync %s, virtual rig %s: %s (%s)", cases[i].stream, cases[i].sync,
              cases[i].rig ? "on" : "off", cases[i].refused ? "refused" : "accepted",
              refused ? err : "accepted");
        protocol_destroy(p);
        p = parse_text(text, err);
        CHECK(p != NULL, "  read back from a record (no base folder): parsed (%s)", p ? "" : err);
        protocol_destroy(p);
    }
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : ".";
    test_shipped(root);
    test_defaults_and_rounding();
    test_isi_jitter();
    test_bad_corpus(root);
    test_ports();
    return test_done();
}
