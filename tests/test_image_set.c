/* test_image_set: a user's image sets brought to the model's input
 * (images_resize, image_set_*), checked against NumPy's own computation
 * (tests/image_set_check.py, argv[1]); and the shared core's features
 * (model_core_features), checked by recomputing the Gaussian readout from
 * them and by pooling them by hand. */
#include "model.h"
#include "network.h"
#include "test.h"
#include "test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *path_in(const char *dir, const char *name)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void fill_uniform(float *x, size_t n, uint64_t seed)
{
    model_rng rng;
    model_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)model_rng_uniform(&rng);
}

/* ------------------------------------------------------------------------ */

static void test_resize_basics(void)
{
    /* A constant image stays constant under any crop and resampling. */
    float src[30 * 50], dst[36 * 64];
    for (int i = 0; i < 30 * 50; i++)
        src[i] = 0.25f;
    images_resize(src, 30, 50, dst, 36, 64);
    int ok = 1;
    for (int i = 0; i < 36 * 64; i++)
        ok &= fabsf(dst[i] - 0.25f) < 1e-6f;
    CHECK(ok, "a constant image resizes to the same constant");

    /* Halving averages 2×2 blocks exactly. */
    float big[4 * 6], small[2 * 3];
    fill_uniform(big, 24, 3);
    images_resize(big, 4, 6, small, 2, 3);
    float block = (big[0] + big[1] + big[6] + big[7]) / 4;
    CHECK_CLOSE(small[0], block, 1e-6, "halving averages 2x2 blocks");
}

/* Resize cases the NumPy side recomputes. */
static int write_resize_cases(const char *dir)
{
    static const int cases[][4] = {
        {36, 64, 36, 64},  /* identity */
        {72, 128, 36, 64}, /* shrink by 2 */
        {100, 100, 36, 64},/* crop height, shrink */
        {50, 200, 36, 64}, /* crop width, shrink */
        {9, 16, 36, 64},   /* enlarge by 4 */
        {20, 20, 36, 64},  /* crop, enlarge */
        {37, 63, 36, 64},  /* near size, fractional crop */
        {144, 256, 36, 64},/* Sensorium frames */
        {41, 70, 13, 17},  /* odd ratio */
    };
    char err[MODEL_ERR_SIZE];
    int ncase = (int)(sizeof cases / sizeof cases[0]);
    for (int k = 0; k < ncase; k++) {
        int sh = cases[k][0], sw = cases[k][1], h = cases[k][2], w = cases[k][3];
        float *src = malloc((size_t)sh * sw * sizeof(float));
        float *dst = malloc((size_t)h * w * sizeof(float));
        fill_uniform(src, (size_t)sh * sw, 100 + k);
        images_resize(src, sh, sw, dst, h, w);
        char name[64];
        int64_t s_shape[2] = {sh, sw}, d_shape[2] = {h, w};
        snprintf(name, sizeof name, "c_src_%d.npy", k);
        int rc = npy_write(path_in(dir, name), NPY_FLOAT32, 2, s_shape, src, err);
        snprintf(name, sizeof name, "c_dst_%d.npy", k);
        rc = rc || npy_write(path_in(dir, name), NPY_FLOAT32, 2, d_shape, dst, err);
        free(src);
        free(dst);
        if (rc)
            return 1;
    }
    return 0;
}

/* Read an NPY set through image_set and write what it gave. */
static int read_npy_set(const char *dir, const char *name, int h, int w, int expect_count)
{
    char err[MODEL_ERR_SIZE], file[256];
    snprintf(file, sizeof file, "%s.npy", name);
    image_set *s;
    if (image_set_open(&s, path_in(dir, file), err)) {
        CHECK(0, "open %s: %s", file, err);
        return 1;
    }
    int n = image_set_count(s);
    CHECK(n == expect_count && image_set_name(s, 0) == NULL, "%s holds %d images (%d)", file,
          expect_count, n);
    float *out = malloc((size_t)n * h * w * sizeof(float));
    int rc = image_set_read(s, 0, n, h, w, out, err);
    CHECK(rc == 0, "read %s (%s)", file, rc ? err : "ok");
    int64_t shape[3] = {n, h, w};
    snprintf(file, sizeof file, "c_%s.npy", name);
    rc = rc || npy_write(path_in(dir, file), NPY_FLOAT32, 3, shape, out, err);
    free(out);
    image_set_destroy(s);
    return rc;
}

static int write_npy_sets(const char *dir)
{
    char err[MODEL_ERR_SIZE];
    int64_t rgb_shape[4] = {5, 30, 40, 3};
    size_t n = 5 * 30 * 40 * 3;
    uint8_t *rgb = malloc(n);
    model_rng rng;
    model_rng_seed(&rng, 7);
    for (size_t i = 0; i < n; i++)
        rgb[i] = (uint8_t)(model_rng_next(&rng) & 0xFF);
    int rc = npy_write(path_in(dir, "set_rgb_u8.npy"), NPY_UINT8, 4, rgb_shape, rgb, err);
    free(rgb);
    int64_t gray_shape[3] = {3, 80, 120};
    double *gray = malloc(3 * 80 * 120 * sizeof(double));
    for (size_t i = 0; i < 3 * 80 * 120; i++)
        gray[i] = model_rng_uniform(&rng);
    rc = rc || npy_write(path_in(dir, "set_gray_f64.npy"), NPY_FLOAT64, 3, gray_shape, gray, err);
    free(gray);
    if (rc)
        return 1;
    return read_npy_set(dir, "set_rgb_u8", 36, 64, 5) ||
           read_npy_set(dir, "set_gray_f64", 36, 64, 3);
}

static int run_numpy(const char *script, const char *dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", script, dir, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 1;
    return WEXITSTATUS(status);
}

static void test_against_numpy(const char *script, const char *dir)
{
    if (!script) {
        CHECK(0, "the NumPy cross-check needs tests/image_set_check.py as argv[1]");
        return;
    }
    int rc = write_resize_cases(dir) || write_npy_sets(dir);
    CHECK(rc == 0, "wrote the cases NumPy recomputes");
    int code = run_numpy(script, dir);
    CHECK(code == 0, "NumPy's area/bilinear resize and conversion agree (exit %d%s)", code,
          code == 3 ? ": numpy missing" : code == 127 ? ": no /usr/bin/python3" : "");
}

/* ------------------------------------------------------------------------ */

static int copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = read_file_bytes(from, &n);
    FILE *f = b ? fopen(to, "wb") : NULL;
    int ok = f && fwrite(b, 1, n, f) == n;
    if (f)
        fclose(f);
    free(b);
    return !ok;
}

static void test_folder_set(const char *corpus, const char *dir)
{
    char folder[1024], err[MODEL_ERR_SIZE];
    snprintf(folder, sizeof folder, "%s/folder", dir);
    mkdir(folder, 0700);
    const char *names[] = {"b_gray8.png", "a_rgb.jpg", "c_palette.png"};
    const char *sources[] = {"gray8.png", "rgb_progressive.jpg", "palette2_trns.png"};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        char from[1024], to[1200];
        snprintf(from, sizeof from, "%s/%s", corpus, sources[i]);
        snprintf(to, sizeof to, "%s/%s", folder, names[i]);
        rc |= copy_file(from, to);
    }
    char hidden[1200];
    snprintf(hidden, sizeof hidden, "%s/.DS_Store", folder);
    FILE *f = fopen(hidden, "w");
    if (f) {
        fputs("not an image", f);
        fclose(f);
    }
    CHECK(rc == 0, "copied three corpus images into a folder");

    image_set *s;
    rc = image_set_open(&s, folder, err);
    CHECK(rc == 0, "open the folder (%s)", rc ? err : "ok");
    if (rc)
        return;
    CHECK(image_set_count(s) == 3, "three images, hidden files skipped (%d)",
          image_set_count(s));
    CHECK(!strcmp(image_set_name(s, 0), "a_rgb.jpg") && !strcmp(image_set_name(s, 2),
          "c_palette.png"), "in name order");
    float *out = malloc(3 * 36 * 64 * sizeof(float));
    rc = image_set_read(s, 0, 3, 36, 64, out, err);
    CHECK(rc == 0, "read and resize them (%s)", rc ? err : "ok");
    /* The same as decoding and resizing by hand. */
    int h, w;
    float *pixels, expected[36 * 64];
    char path[1200];
    snprintf(path, sizeof path, "%s/b_gray8.png", folder);
    int ok = image_load_gray(path, &h, &w, &pixels, err) == 0;
    if (ok) {
        images_resize(pixels, h, w, expected, 36, 64);
        free(pixels);
        int sh, sw;
        image_set_size(s, 1, &sh, &sw, err);
        ok = sh == h && sw == w && !memcmp(expected, out + 36 * 64, sizeof expected);
    }
    CHECK(ok, "image 1 equals image_load_gray + images_resize");
    rc = image_set_read(s, 2, 2, 36, 64, out, err);
    CHECK(rc != 0 && strstr(err, "set of 3"), "reading past the end fails (%s)", err);
    free(out);
    image_set_destroy(s);

    /* A stray non-image file refuses the set, naming it. */
    char stray[1200];
    snprintf(stray, sizeof stray, "%s/notes.txt", folder);
    f = fopen(stray, "w");
    if (f) {
        fputs("hello", f);
        fclose(f);
    }
    rc = image_set_open(&s, folder, err);
    CHECK(rc != 0 && strstr(err, "notes.txt") && strstr(err, "not a PNG or JPEG"),
          "a text file in the folder is named (%s)", err);
}

/* Reading image i at its own size (image_set_size) gives its pixels as
 * decoded, unresampled: compared exactly, as images_resize copies them. */
static int reads_as_decoded(image_set *s, int i, const float *expected, int h, int w)
{
    char err[MODEL_ERR_SIZE];
    int sh, sw;
    if (image_set_size(s, i, &sh, &sw, err) || sh != h || sw != w)
        return 0;
    float *out = malloc((size_t)h * w * sizeof(float));
    int ok = out && image_set_read(s, i, 1, h, w, out, err) == 0 &&
             !memcmp(out, expected, (size_t)h * w * sizeof(float));
    free(out);
    return ok;
}

/* One PNG as a set; H x W NPY as one image; a folder of a PNG and an NPY in
 * name order, the NPY giving its rows (what `inception present` shows). */
static void test_files_and_mixed_folder(const char *corpus, const char *dir)
{
    char err[MODEL_ERR_SIZE], png[1024], folder[1024];
    snprintf(png, sizeof png, "%s/gray8.png", corpus);
    int h, w;
    float *decoded;
    if (image_load_gray(png, &h, &w, &decoded, err)) {
        CHECK(0, "decode %s: %s", png, err);
        return;
    }
    image_set *s;
    int rc = image_set_open(&s, png, err);
    CHECK(rc == 0 && image_set_count(s) == 1 && !strcmp(image_set_path(s, 0), png) &&
          reads_as_decoded(s, 0, decoded, h, w),
          "one PNG is a set of one image, read at its size as decoded (%s)", rc ? err : "ok");
    if (rc == 0)
        image_set_destroy(s);

    uint8_t bytes[2 * 2 * 3] = {0, 51, 102, 153, 204, 255, 255, 204, 153, 102, 51, 0};
    float two[2 * 3], row1[2 * 3];
    for (int p = 0; p < 6; p++) {
        two[p] = bytes[p] / 255.0f;
        row1[p] = bytes[6 + p] / 255.0f;
    }
    int64_t shape2[2] = {2, 3}, shape3[3] = {2, 2, 3};
    npy_write(path_in(dir, "one.npy"), NPY_FLOAT32, 2, shape2, two, err);
    rc = image_set_open(&s, path_in(dir, "one.npy"), err);
    CHECK(rc == 0 && image_set_count(s) == 1 && image_set_name(s, 0) == NULL &&
          reads_as_decoded(s, 0, two, 2, 3), "an H x W NPY is one image (%s)",
          rc ? err : "ok");
    if (rc == 0)
        image_set_destroy(s);

    snprintf(folder, sizeof folder, "%s/mixed", dir);
    mkdir(folder, 0700);
    char to[1200];
    snprintf(to, sizeof to, "%s/b.png", folder);
    rc = copy_file(png, to);
    rc = rc || npy_write(path_in(folder, "a.npy"), NPY_UINT8, 3, shape3, bytes, err);
    rc = rc || image_set_open(&s, folder, err);
    CHECK(rc == 0, "open a folder of an NPY and a PNG (%s)", rc ? err : "ok");
    if (rc == 0) {
        CHECK(image_set_count(s) == 3 && !strcmp(image_set_name(s, 0), "a.npy") &&
              !strcmp(image_set_name(s, 1), "a.npy") && !strcmp(image_set_name(s, 2), "b.png"),
              "its images: a.npy's two rows, then b.png");
        CHECK(reads_as_decoded(s, 1, row1, 2, 3) && reads_as_decoded(s, 2, decoded, h, w),
              "a.npy's second row (uint8 / 255) and b.png at their own sizes");
        image_set_destroy(s);
    }
    free(decoded);
}

static void test_bad_sets(const char *dir)
{
    char err[MODEL_ERR_SIZE];
    image_set *s;
    int rc = image_set_open(&s, path_in(dir, "no-such-folder"), err);
    CHECK(rc != 0 && strstr(err, "no-such-folder") && s == NULL, "a missing path is named (%s)",
          err);
    char empty[1024];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    mkdir(empty, 0700);
    rc = image_set_open(&s, empty, err);
    CHECK(rc != 0 && strstr(err, "no images"), "an empty folder is refused (%s)", err);

    float flat[6] = {0};
    int64_t shape1[1] = {6};
    npy_write(path_in(dir, "flat.npy"), NPY_FLOAT32, 1, shape1, flat, err);
    rc = image_set_open(&s, path_in(dir, "flat.npy"), err);
    CHECK(rc != 0 && strstr(err, "(6)") && strstr(err, "N x H x W"),
          "a 1-d NPY says what shape it wants (%s)", err);
    int64_t shape4[4] = {1, 2, 1, 3};
    npy_write(path_in(dir, "four.npy"), NPY_FLOAT32, 4, shape4, flat, err);
    rc = image_set_open(&s, path_in(dir, "four.npy"), err);
    CHECK(rc == 0, "an N x H x W x 3 NPY opens (%s)", rc ? err : "ok");
    if (rc == 0)
        image_set_destroy(s);
    int64_t ints[2] = {1, 2}, shape3[3] = {1, 1, 2};
    npy_write(path_in(dir, "ints.npy"), NPY_INT64, 3, shape3, ints, err);
    rc = image_set_open(&s, path_in(dir, "ints.npy"), err);
    CHECK(rc != 0 && strstr(err, "uint8"), "an int64 NPY is refused (%s)", err);
}

/* ------------------------------------------------------------------------ */
/* Core features: the Gaussian readout recomputed from them must give
 * model_predict's rates; pooling must be block means of the full maps. */

static float sample_bilinear(const float *map, int H, int W, float px, float py)
{
    float x = (px + 1) * 0.5f * (W - 1), y = (py + 1) * 0.5f * (H - 1);
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    if (x0 > W - 2)
        x0 = W - 2;
    if (y0 > H - 2)
        y0 = H - 2;
    float fx = x - x0, fy = y - y0;
    const float *r0 = map + (size_t)y0 * W, *r1 = r0 + W;
    return (1 - fy) * ((1 - fx) * r0[x0] + fx * r0[x0 + 1]) +
           fy * ((1 - fx) * r1[x0] + fx * r1[x0 + 1]);
}

static void test_core_features(void)
{
    model_config c;
    model_config_default(&c);
    c.height = 12;
    c.width = 20;
    c.neurons = 7;
    c.layers = 2;
    c.channels = 5;
    c.kernel[0] = 5;
    c.kernel[1] = 3;
    c.seed = 11;
    char err[MODEL_ERR_SIZE];
    model *m;
    if (model_create(&m, &c, err)) {
        CHECK(0, "model_create: %s", err);
        return;
    }
    model_set_standardization(m, 0.4f, 0.2f);
    /* Non-trivial batch-norm statistics, so evaluation mode matters. */
    for (int l = 0; l < c.layers; l++)
        for (int k = 0; k < c.channels; k++) {
            m->conv[l].running_mean[k] = 0.1f * k;
            m->conv[l].running_var[k] = 0.5f + 0.2f * k;
        }
    int B = 70; /* more than one evaluation chunk */
    size_t HW = (size_t)c.height * c.width;
    float *images = malloc(B * HW * sizeof(float));
    fill_uniform(images, B * HW, 5);
    int C, OH, OW;
    int rc = model_core_features_shape(m, 1, &C, &OH, &OW, err);
    CHECK(rc == 0 && C == 5 && OH == 12 && OW == 20, "full maps are 5 x 12 x 20");
    float *maps = malloc((size_t)B * C * HW * sizeof(float));
    float *rates = malloc((size_t)B * c.neurons * sizeof(float));
    rc = model_core_features(m, images, B, 1, maps, err) ||
         model_predict(m, images, B, rates, err);
    CHECK(rc == 0, "features and predictions computed (%s)", rc ? err : "ok");
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int n = 0; n < c.neurons; n++) {
            float lin = m->readout_bias[n];
            for (int k = 0; k < C; k++)
                lin += m->readout_weight[n * C + k] *
                       sample_bilinear(maps + ((size_t)b * C + k) * HW, c.height, c.width,
                                       m->readout_mu[2 * n], m->readout_mu[2 * n + 1]);
            float rate = lin > 0 ? lin + 1 : expf(lin);
            double e = fabs(rate - rates[(size_t)b * c.neurons + n]);
            worst = e > worst ? e : worst;
        }
    CHECK(worst < 1e-4, "the readout applied to the features gives model_predict (%.2g)", worst);

    /* The same maps from a forward pass of our own: direct convolution,
     * batch norm with the running statistics, ELU, layer after layer. */
    int Bf = 3;
    size_t n_act = (size_t)Bf * C * HW;
    float *x = malloc((size_t)Bf * HW * sizeof(float));
    float *conv = malloc(n_act * sizeof(float)), *act = malloc(n_act * sizeof(float));
    float *normed = malloc(n_act * sizeof(float));
    for (size_t i = 0; i < (size_t)Bf * HW; i++)
        x[i] = (images[(size_t)67 * HW + i] - 0.4f) / 0.2f; /* images 67..69 */
    const float *in = x;
    for (int l = 0; l < c.layers; l++) {
        const conv_layer *L = &m->conv[l];
        conv2d_forward(conv, in, L->weight, L->bias, Bf, L->cin, L->cout, c.height, c.width,
                       L->k);
        batchnorm_forward_eval(normed, conv, L->gamma, L->beta, L->running_mean,
                               L->running_var, Bf, L->cout, (int)HW);
        elu_forward(act, normed, n_act);
        in = act;
    }
    double worst_map = 0;
    for (size_t i = 0; i < n_act; i++) {
        double e = fabs(act[i] - maps[(size_t)67 * C * HW + i]);
        worst_map = e > worst_map ? e : worst_map;
    }
    CHECK(worst_map < 1e-4, "the maps equal a direct-convolution forward pass (%.2g)", worst_map);
    free(x);
    free(conv);
    free(act);
    free(normed);

    rc = model_core_features_shape(m, 5, &C, &OH, &OW, err);
    CHECK(rc == 0 && OH == 3 && OW == 4, "pool 5 gives 3 x 4 blocks (%d x %d)", OH, OW);
    float *pooled = malloc((size_t)B * C * OH * OW * sizeof(float));
    rc = model_core_features(m, images, B, 5, pooled, err);
    /* Block (2, 3) of image 69 channel 4: rows 10..11, columns 15..19. */
    const float *map = maps + ((size_t)69 * C + 4) * HW;
    double sum = 0;
    for (int y = 10; y < 12; y++)
        for (int x = 15; x < 20; x++)
            sum += map[y * c.width + x];
    CHECK(rc == 0, "pooled features computed");
    CHECK_CLOSE(pooled[((size_t)69 * C + 4) * 12 + 2 * 4 + 3], sum / 10, 1e-5,
                "an edge block is the mean of the pixels it holds");
    rc = model_core_features(m, images, B, 0, pooled, err);
    sum = 0;
    for (size_t i = 0; i < HW; i++)
        sum += map[i];
    CHECK(rc == 0, "globally pooled features computed");
    CHECK_CLOSE(pooled[(size_t)69 * C + 4], sum / HW, 1e-5, "pool 0 is the map's mean");
    rc = model_core_features(m, images, B, -1, pooled, err);
    CHECK(rc != 0, "negative pooling refused (%s)", err);
    free(pooled);
    free(maps);
    free(rates);
    free(images);
    model_destroy(m);

    c.kind = MODEL_LNP;
    rc = model_create(&m, &c, err);
    CHECK(rc == 0, "an LNP model");
    if (rc == 0) {
        rc = model_core_features_shape(m, 1, &C, &OH, &OW, err);
        CHECK(rc != 0 && strstr(err, "no convolutional core"), "an LNP has no core (%s)", err);
        model_destroy(m);
    }
}

/* npy_create: a file filled in pieces with pwrite reads back whole. */
static void test_npy_create(const char *dir)
{
    char err[MODEL_ERR_SIZE];
    int64_t shape[2] = {3, 1000};
    long long offset = 0;
    const char *path = path_in(dir, "pieces.npy");
    int rc = npy_create(path, NPY_FLOAT32, 2, shape, &offset, err);
    CHECK(rc == 0 && offset % 64 == 0 && offset > 0, "npy_create gives a 64-aligned offset "
          "(%lld)", offset);
    float row[1000];
    for (int i = 0; i < 1000; i++)
        row[i] = (float)i + 0.5f;
    int fd = open(path, O_WRONLY);
    ssize_t put = fd >= 0 ? pwrite(fd, row, sizeof row, offset + 2 * (long long)sizeof row) : -1;
    if (fd >= 0)
        close(fd);
    npy_array a;
    rc = put == (ssize_t)sizeof row ? npy_read(path, &a, err) : 1;
    int ok = rc == 0 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 1000 &&
             a.dtype == NPY_FLOAT32;
    for (int i = 0; ok && i < 1000; i++)
        ok = ((float *)a.data)[i] == 0.0f && ((float *)a.data)[2000 + i] == row[i];
    CHECK(ok, "the row written with pwrite reads back, the rest zero");
    if (rc == 0)
        npy_free(&a);
    rc = npy_create(path_in(dir, "no/such/dir.npy"), NPY_FLOAT32, 2, shape, &offset, err);
    CHECK(rc != 0 && strstr(err, "no/such/dir.npy"), "a bad path is named (%s)", err);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/test_image_set_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return test_done();
    }
    test_resize_basics();
    test_against_numpy(argc > 1 ? argv[1] : NULL, dir);
    test_folder_set(argc > 2 ? argv[2] : "tests/fuzz/corpus/image", dir);
    test_files_and_mixed_folder(argc > 2 ? argv[2] : "tests/fuzz/corpus/image", dir);
    test_bad_sets(dir);
    test_core_features();
    test_npy_create(dir);
    remove_tree(dir);
    return test_done();
}
