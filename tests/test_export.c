/* test_export: `inception export` as a user runs it (argv[1], the
 * executable), checked against the model library in-process (responses equal
 * model_predict, features equal model_core_features) and against NumPy
 * (tests/export_check.py, argv[2]: the similarity, the controls, the
 * manifest). Also a folder of images (argv[3], the image corpus) and bad
 * inputs, which must fail with one clear line naming the culprit. */
#include "model.h"
#include "network.h"
#include "test.h"
#include "test_files.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGES 1100 /* not a multiple of the 256-image chunk, the 1024-image block
                    * nor the 128-row strip the test asks for */

static const char *inception, *checker, *corpus;
static char dir[] = "/tmp/test_export_XXXXXX";

static char *path_in(const char *name)
{
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* Run a program with stdout and stderr to files in dir; its exit status. */
static int run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int out = open(path_in("stdout.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(path_in("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0)
            _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The stderr of the last run, and how many lines it has. */
static const char *last_error(int *lines)
{
    static char text[4096];
    size_t n;
    unsigned char *b = read_file_bytes(path_in("stderr.txt"), &n);
    n = b ? (n < sizeof text - 1 ? n : sizeof text - 1) : 0;
    if (b)
        memcpy(text, b, n);
    text[n] = 0;
    free(b);
    *lines = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] == '\n') {
            (*lines)++;
            text[i] = ' '; /* one TAP line */
        }
    return text;
}

static model *make_model(void)
{
    model_config c;
    model_config_default(&c);
    c.height = 12;
    c.width = 20;
    c.neurons = 30;
    c.layers = 2;
    c.channels = 6;
    c.kernel[0] = 5;
    c.kernel[1] = 3;
    c.seed = 4;
    char err[MODEL_ERR_SIZE];
    model *m;
    if (model_create(&m, &c, err)) {
        CHECK(0, "model_create: %s", err);
        return NULL;
    }
    model_set_standardization(m, 0.45f, 0.25f);
    for (int l = 0; l < c.layers; l++)
        for (int k = 0; k < c.channels; k++) {
            m->conv[l].running_mean[k] = 0.05f * k - 0.1f;
            m->conv[l].running_var[k] = 0.7f + 0.1f * k;
        }
    return m;
}

static float *make_images(void)
{
    float *images = malloc((size_t)IMAGES * 12 * 20 * sizeof(float));
    model_rng rng;
    model_rng_seed(&rng, 21);
    for (size_t i = 0; i < (size_t)IMAGES * 240; i++)
        images[i] = (float)model_rng_uniform(&rng);
    return images;
}

static double max_difference(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        worst = e > worst ? e : worst;
    }
    return worst;
}

/* Compare an exported float32 file with an in-process computation. */
static void check_file_equals(const char *name, const float *expected, size_t count,
                              const char *what)
{
    npy_array a;
    char err[MODEL_ERR_SIZE];
    int rc = npy_read(path_in(name), &a, err);
    int ok = rc == 0 && a.dtype == NPY_FLOAT32 && a.count == count;
    double worst = ok ? max_difference(a.data, expected, count) : 1e30;
    CHECK(ok && worst < 1e-5, "%s equals %s (max difference %.2g; %s)", name, what, worst,
          rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);
}

static int run_python(const char *script, const char *arg1, const char *arg2)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", script, arg1, arg2, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_numerics(model *m, const float *images)
{
    char err[MODEL_ERR_SIZE];
    int64_t shape[3] = {IMAGES, 12, 20};
    int rc = model_save(m, path_in("model.bin"), err) ||
             npy_write(path_in("images.npy"), NPY_FLOAT32, 3, shape, images, err);
    CHECK(rc == 0, "saved a model and %d images (%s)", IMAGES, rc ? err : "ok");
    char *argv[] = {(char *)inception, "export", "--model", path_in("model.bin"), "--images",
                    path_in("images.npy"), "--out", path_in("ex"), "--what",
                    "responses,similarity,features", "--pool", "0", "--controls",
                    "shuffled,gaussian", "--seed", "9", "--strip-rows", "128", NULL};
    int lines, status = run(argv);
    CHECK(status == 0, "export ran (exit %d: %s)", status, last_error(&lines));

    float *rates = malloc((size_t)IMAGES * 30 * sizeof(float));
    float *pooled = malloc((size_t)IMAGES * 6 * sizeof(float));
    rc = model_predict(m, images, IMAGES, rates, err) ||
         model_core_features(m, images, IMAGES, 0, pooled, err);
    CHECK(rc == 0, "in-process predictions (%s)", rc ? err : "ok");
    check_file_equals("ex/responses.npy", rates, (size_t)IMAGES * 30, "model_predict");
    check_file_equals("ex/features.npy", pooled, (size_t)IMAGES * 6,
                      "model_core_features pooled");
    free(rates);
    free(pooled);
    size_t n;
    unsigned char *out = read_file_bytes(path_in("stdout.txt"), &n);
    CHECK(out && n && strstr((char *)out, "images/s") && strstr((char *)out, "1100/1100"),
          "progress shows images/s up to 1100/1100");
    free(out);
    status = run_python(checker, path_in("ex"), path_in("model.bin"));
    CHECK(status == 0, "NumPy agrees: similarity, controls, manifest (exit %d%s)", status,
          status == 3 ? ": numpy missing" : "");
}

/* A folder of PNG/JPEG files: exported in name order, names in the manifest. */
static void test_folder(void)
{
    mkdir(path_in("folder"), 0700);
    const char *files[][2] = {{"gray8.png", "folder/z.png"}, {"gray.jpg", "folder/a.jpg"}};
    for (int i = 0; i < 2; i++) {
        char from[1024];
        snprintf(from, sizeof from, "%s/%s", corpus, files[i][0]);
        size_t n;
        unsigned char *b = read_file_bytes(from, &n);
        FILE *f = b ? fopen(path_in(files[i][1]), "wb") : NULL;
        if (f) {
            fwrite(b, 1, n, f);
            fclose(f);
        }
        free(b);
    }
    char *argv[] = {(char *)inception, "export", "--model", path_in("model.bin"), "--images",
                    path_in("folder"), "--out", path_in("exf"), "--what", "responses", NULL};
    int lines, status = run(argv);
    CHECK(status == 0, "export of a folder ran (exit %d: %s)", status, last_error(&lines));
    size_t n;
    unsigned char *manifest = read_file_bytes(path_in("exf/manifest.json"), &n);
    /* The list whatever its layout: exactly the two names (4 quotes), a.jpg first. */
    char *names = manifest ? strstr((char *)manifest, "\"names\": [") : NULL;
    char *end = names ? strchr(names, ']') : NULL;
    char *a_at = names ? strstr(names, "\"a.jpg\"") : NULL;
    char *z_at = names ? strstr(names, "\"z.png\"") : NULL;
    int quotes = 0;
    for (char *c = names ? strchr(names, '[') : NULL; c && c < end; c++)
        quotes += *c == '"';
    CHECK(end && a_at && z_at && a_at < z_at && z_at < end && quotes == 4,
          "the manifest lists the files in name order");
    CHECK(manifest && strstr((char *)manifest, "\"kind\": \"folder\""),
          "the manifest calls the set a folder");
    free(manifest);
    /* One image file as the set: kind "file", its one name listed. */
    char *one[] = {(char *)inception, "export", "--model", path_in("model.bin"), "--images",
                   path_in("folder/z.png"), "--out", path_in("ex1"), "--what", "responses", NULL};
    status = run(one);
    CHECK(status == 0, "export of one image file ran (exit %d: %s)", status, last_error(&lines));
    manifest = read_file_bytes(path_in("ex1/manifest.json"), &n);
    names = manifest ? strstr((char *)manifest, "\"names\": [") : NULL;
    end = names ? strchr(names, ']') : NULL;
    z_at = names ? strstr(names, "z.png\"") : NULL;
    CHECK(manifest && strstr((char *)manifest, "\"kind\": \"file\"") && z_at && z_at < end,
          "one image file: the manifest calls the set a file and lists it");
    free(manifest);
    npy_array a;
    char err[MODEL_ERR_SIZE];
    int rc = npy_read(path_in("exf/responses.npy"), &a, err);
    CHECK(rc == 0 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 30,
          "responses are 2 x 30 (%s)", rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);
}

/* Bad input: exit status, one line, and a word that must be in it. */
static void expect_failure(char *const argv[], int want_status, const char *must_say,
                           const char *what)
{
    int lines, status = run(argv);
    const char *text = last_error(&lines);
    CHECK(status == want_status && lines == 1 && strstr(text, must_say),
          "%s: exit %d, one line naming '%s' (got exit %d: %s)", what, want_status, must_say,
          status, text);
}

static void test_bad_inputs(void)
{
    char err[MODEL_ERR_SIZE];
    FILE *f = fopen(path_in("folder/readme.txt"), "w");
    if (f) {
        fputs("not an image\n", f);
        fclose(f);
    }
    float flat[40] = {0};
    int64_t shape1[1] = {40};
    npy_write(path_in("flat.npy"), NPY_FLOAT32, 1, shape1, flat, err);
    char model[1024], out[1024];
    snprintf(model, sizeof model, "%s", path_in("model.bin"));
    snprintf(out, sizeof out, "%s", path_in("bad"));
    char *missing[] = {(char *)inception, "export", "--model", model, "--images",
                       path_in("no-such-folder"), "--out", out, NULL};
    expect_failure(missing, 1, "no-such-folder", "a missing image folder");
    char *stray[] = {(char *)inception, "export", "--model", model, "--images",
                     path_in("folder"), "--out", out, NULL};
    expect_failure(stray, 1, "readme.txt", "a non-image file in the folder");
    char *dims[] = {(char *)inception, "export", "--model", model, "--images",
                    path_in("flat.npy"), "--out", out, NULL};
    expect_failure(dims, 1, "N x H x W", "a 1-d NPY");
    char *no_model[] = {(char *)inception, "export", "--model", path_in("none.bin"), "--images",
                        path_in("flat.npy"), "--out", out, NULL};
    expect_failure(no_model, 1, "none.bin", "a missing model");
    char *what[] = {(char *)inception, "export", "--model", model, "--images",
                    path_in("images.npy"), "--out", out, "--what", "responses,colour", NULL};
    expect_failure(what, 2, "colour", "an unknown --what item");
    char *required[] = {(char *)inception, "export", "--model", model, NULL};
    expect_failure(required, 2, "required", "missing --images and --out");
    char *help[] = {(char *)inception, "export", "--help", NULL};
    int status = run(help);
    size_t n;
    unsigned char *text = read_file_bytes(path_in("stdout.txt"), &n);
    CHECK(status == 0 && text && strstr((char *)text, "usage: inception export"),
          "--help prints the usage");
    free(text);
}

int main(int argc, char **argv)
{
    if (argc < 4 || !mkdtemp(dir)) {
        CHECK(0, "usage: test_export INCEPTION export_check.py IMAGE_CORPUS");
        return test_done();
    }
    inception = argv[1];
    checker = argv[2];
    corpus = argv[3];
    model *m = make_model();
    float *images = make_images();
    if (m) {
        test_numerics(m, images);
        test_folder();
        test_bad_inputs();
    }
    model_destroy(m);
    free(images);
    remove_tree(dir);
    return test_done();
}
