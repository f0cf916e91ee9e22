/* dataset.c: trials of (image, response) loaded from and saved to folders.
 *
 * Two layouts are read, told apart by the files present:
 * - compact (ours): images.npy N×H×W, responses.npy N×M, tiers.npy N,
 *   image_ids.npy N (optional; 0..N-1 when absent);
 * - Sensorium 2022: one file per trial, data/images/<i>.npy (1×H×W, 0..255)
 *   and data/responses/<i>.npy (M), with meta/trials/tiers.npy (unicode) and
 *   meta/trials/frame_image_id.npy saying what each trial is for and shows.
 * Everything is validated while loading (shapes agree across files, pixels in
 * range, responses finite and non-negative), and an error names the file. */
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DATASET_PATH_MAX 4096

static int join_path(char *out, const char *dir, const char *name, char *err)
{
    int n = snprintf(out, DATASET_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= DATASET_PATH_MAX)
        return model_fail_in_file(err, name, "path too long");
    return 0;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------------------------ */

int dataset_alloc(dataset *d, int trials, int height, int width, int neurons)
{
    memset(d, 0, sizeof *d);
    if (trials < 0 || height < 0 || width < 0 || neurons < 0)
        return 1;
    size_t n = (size_t)trials, pixels = (size_t)height * (size_t)width;
    if (pixels && n > SIZE_MAX / sizeof(float) / pixels)
        return 1;
    if (neurons && n > SIZE_MAX / sizeof(float) / (size_t)neurons)
        return 1;
    /* calloc of at least one element, so an empty dataset is not NULL. */
    size_t n_pixels = n * pixels, n_responses = n * (size_t)neurons;
    d->images = calloc(n_pixels ? n_pixels : 1, sizeof(float));
    d->responses = calloc(n_responses ? n_responses : 1, sizeof(float));
    d->tiers = calloc(n ? n : 1, 1);
    d->image_ids = calloc(n ? n : 1, sizeof(int64_t));
    if (!d->images || !d->responses || !d->tiers || !d->image_ids) {
        dataset_free(d);
        return 1;
    }
    d->trials = trials;
    d->height = height;
    d->width = width;
    d->neurons = neurons;
    return 0;
}

void dataset_free(dataset *d)
{
    if (!d)
        return;
    free(d->images);
    free(d->responses);
    free(d->tiers);
    free(d->image_ids);
    memset(d, 0, sizeof *d);
}

int dataset_count_tier(const dataset *d, int tier)
{
    int n = 0;
    for (int i = 0; i < d->trials; i++)
        n += d->tiers[i] == tier;
    return n;
}

int dataset_downsample(dataset *d, int factor, char *err)
{
    if (factor < 1 || factor > d->height || factor > d->width)
        return model_fail(err, "downsampling factor %d does not fit %d×%d images", factor,
                          d->height, d->width);
    if (factor == 1)
        return 0;
    int h = d->height / factor, w = d->width / factor;
    size_t in_pixels = (size_t)d->height * d->width, out_pixels = (size_t)h * w;
    float *small = malloc((size_t)d->trials * out_pixels * sizeof(float));
    if (!small)
        return model_fail(err, "out of memory downsampling %d images", d->trials);
    /* Area average of factor×factor blocks: no aliasing; a remainder at the
     * bottom or right edge is dropped. */
    float scale = 1.0f / (float)(factor * factor);
    for (int t = 0; t < d->trials; t++) {
        const float *src = d->images + (size_t)t * in_pixels;
        float *dst = small + (size_t)t * out_pixels;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float sum = 0.0f;
                for (int dy = 0; dy < factor; dy++)
                    for (int dx = 0; dx < factor; dx++)
                        sum += src[(size_t)(y * factor + dy) * d->width + x * factor + dx];
                dst[(size_t)y * w + x] = sum * scale;
            }
        }
    }
    free(d->images);
    d->images = small;
    d->height = h;
    d->width = w;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Checks and conversions shared by both layouts. */

/* A dimension read from a file, as an int. */
static int dim_to_int(int64_t v, const char *path, const char *what, int *out, char *err)
{
    if (v > INT_MAX)
        return model_fail_in_file(err, path, "%lld %s is too many", (long long)v, what);
    *out = (int)v;
    return 0;
}

/* A tier's name (Sensorium's, and "none"/"unused" for TIER_NONE), or -1:
 * a name that is none of them is refused, not read as a tier to drop. */
static int tier_from_name(const char *s)
{
    if (strcmp(s, "train") == 0)
        return TIER_TRAIN;
    if (strcmp(s, "validation") == 0)
        return TIER_VALIDATION;
    if (strcmp(s, "test") == 0 || strcmp(s, "final_test") == 0)
        return TIER_TEST;
    if (strcmp(s, "none") == 0 || strcmp(s, "unused") == 0)
        return TIER_NONE;
    return -1;
}

/* Element i of a unicode array as ASCII: NUL padding ends it, anything
 * outside printable ASCII becomes '?' (and then names no tier). */
static void unicode_item(const npy_array *a, size_t i, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)a->data + i * a->itemsize;
    size_t chars = a->itemsize / 4, n = 0;
    for (size_t c = 0; c < chars && n + 1 < cap; c++, p += 4) {
        uint32_t code = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                        (uint32_t)p[3] << 24;
        if (code == 0)
            break;
        out[n++] = code >= 0x20 && code < 0x7f ? (char)code : '?';
    }
    out[n] = '\0';
}

/* Tiers from names ('train', 'validation', 'test', 'final_test', 'none',
 * 'unused'; any other is refused) or from TIER_* codes. */
static int decode_tiers(const npy_array *a, const char *path, uint8_t *tiers, char *err)
{
    for (size_t i = 0; i < a->count; i++) {
        int64_t code;
        if (a->dtype == NPY_UNICODE) {
            char name[32];
            unicode_item(a, i, name, sizeof name);
            code = tier_from_name(name);
            if (code < 0)
                return model_fail_in_file(err, path, "tier '%s' at trial %zu is not train, validation, "
                                          "test, final_test, none or unused", name, i);
        } else if (a->dtype == NPY_UINT8) {
            code = ((const uint8_t *)a->data)[i];
        } else if (a->dtype == NPY_INT64) {
            code = ((const int64_t *)a->data)[i];
        } else {
            return model_fail_in_file(err, path, "tiers must be strings or integer TIER_* codes");
        }
        if (code < TIER_TRAIN || code > TIER_NONE)
            return model_fail_in_file(err, path, "tier code %lld at trial %zu is not 0..3",
                                      (long long)code, i);
        tiers[i] = (uint8_t)code;
    }
    return 0;
}

static int decode_ids(const npy_array *a, const char *path, int64_t *ids, char *err)
{
    for (size_t i = 0; i < a->count; i++) {
        if (a->dtype == NPY_INT64)
            ids[i] = ((const int64_t *)a->data)[i];
        else if (a->dtype == NPY_UINT8)
            ids[i] = ((const uint8_t *)a->data)[i];
        else
            return model_fail_in_file(err, path, "image ids must be integers (int64)");
    }
    return 0;
}

/* Copy `count` pixels into `dst`, divided by `full_scale`, refusing values
 * outside [0, full_scale]. `first` numbers the first image for messages. */
static int convert_pixels(const npy_array *a, float full_scale, size_t pixels_per_image,
                          size_t first, const char *path, float *dst, char *err)
{
    char why[MODEL_ERR_SIZE];
    float *v = npy_to_float32(a, why);
    if (!v)
        return model_fail_in_file(err, path, "%s", why);
    for (size_t i = 0; i < a->count; i++) {
        if (!(v[i] >= 0.0f && v[i] <= full_scale)) {
            model_fail_in_file(err, path, "image %zu, pixel %zu is %g, outside [0, %g]",
                               first + i / pixels_per_image, i % pixels_per_image, (double)v[i],
                               (double)full_scale);
            free(v);
            return 1;
        }
        dst[i] = v[i] / full_scale;
    }
    free(v);
    return 0;
}

/* Copy responses (trials × neurons) into `dst`, refusing NaN, infinities and
 * negative counts. `first` numbers the first trial for messages. */
static int convert_responses(const npy_array *a, int neurons, size_t first, const char *path,
                             float *dst, char *err)
{
    char why[MODEL_ERR_SIZE];
    float *v = npy_to_float32(a, why);
    if (!v)
        return model_fail_in_file(err, path, "%s", why);
    for (size_t i = 0; i < a->count; i++) {
        const char *bad = isnan(v[i]) ? "NaN" : isinf(v[i]) ? "infinite"
                                             : v[i] < 0.0f ? "negative" : NULL;
        if (bad) {
            model_fail_in_file(err, path, "trial %zu, neuron %zu: response is %s (%g)",
                               first + i / (size_t)neurons, i % (size_t)neurons, bad, (double)v[i]);
            free(v);
            return 1;
        }
        dst[i] = v[i];
    }
    free(v);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Compact layout. */

typedef struct compact_files {
    npy_array images, responses, tiers, ids;
    char images_path[DATASET_PATH_MAX], responses_path[DATASET_PATH_MAX],
        tiers_path[DATASET_PATH_MAX], ids_path[DATASET_PATH_MAX];
    int has_ids;
} compact_files;

static int read_compact_files(const char *dir, compact_files *f, char *err)
{
    if (join_path(f->images_path, dir, "images.npy", err) ||
        join_path(f->responses_path, dir, "responses.npy", err) ||
        join_path(f->tiers_path, dir, "tiers.npy", err) ||
        join_path(f->ids_path, dir, "image_ids.npy", err))
        return 1;
    f->has_ids = is_file(f->ids_path);
    return npy_read(f->images_path, &f->images, err) ||
           npy_read(f->responses_path, &f->responses, err) ||
           npy_read(f->tiers_path, &f->tiers, err) ||
           (f->has_ids && npy_read(f->ids_path, &f->ids, err));
}

static int check_compact_shapes(const compact_files *f, char *err)
{
    if (f->images.ndim != 3)
        return model_fail_in_file(err, f->images_path, "%d dimensions, expected 3 (N×H×W)",
                                  f->images.ndim);
    int64_t n = f->images.shape[0];
    if (f->responses.ndim != 2)
        return model_fail_in_file(err, f->responses_path, "%d dimensions, expected 2 (N×M)",
                                  f->responses.ndim);
    if (f->responses.shape[0] != n)
        return model_fail_in_file(err, f->responses_path, "%lld trials, expected %lld (images.npy)",
                                  (long long)f->responses.shape[0], (long long)n);
    if (f->tiers.ndim != 1 || f->tiers.shape[0] != n)
        return model_fail_in_file(err, f->tiers_path, "shape does not match %lld trials", (long long)n);
    if (f->has_ids && (f->ids.ndim != 1 || f->ids.shape[0] != n))
        return model_fail_in_file(err, f->ids_path, "shape does not match %lld trials", (long long)n);
    if (f->images.dtype != NPY_FLOAT32 && f->images.dtype != NPY_FLOAT64 &&
        f->images.dtype != NPY_UINT8)
        return model_fail_in_file(err, f->images_path, "images must be float32, float64 or uint8");
    return 0;
}

static int fill_compact(const compact_files *f, dataset *out, char *err)
{
    int n = 0, h = 0, w = 0, m = 0;
    if (dim_to_int(f->images.shape[0], f->images_path, "trials", &n, err) ||
        dim_to_int(f->images.shape[1], f->images_path, "rows", &h, err) ||
        dim_to_int(f->images.shape[2], f->images_path, "columns", &w, err) ||
        dim_to_int(f->responses.shape[1], f->responses_path, "neurons", &m, err))
        return 1;
    if (dataset_alloc(out, n, h, w, m))
        return model_fail_in_file(err, f->images_path, "out of memory for %d trials", n);
    /* uint8 pixels are 0..255; float pixels are already luminance in [0,1]. */
    float full_scale = f->images.dtype == NPY_UINT8 ? 255.0f : 1.0f;
    if (convert_pixels(&f->images, full_scale, (size_t)h * (size_t)w, 0, f->images_path,
                       out->images, err) ||
        convert_responses(&f->responses, m, 0, f->responses_path, out->responses, err) ||
        decode_tiers(&f->tiers, f->tiers_path, out->tiers, err))
        return 1;
    if (f->has_ids)
        return decode_ids(&f->ids, f->ids_path, out->image_ids, err);
    for (int i = 0; i < n; i++)
        out->image_ids[i] = i;
    return 0;
}

static int load_compact(const char *dir, dataset *out, char *err)
{
    compact_files *f = calloc(1, sizeof *f);
    if (!f)
        return model_fail_in_file(err, dir, "out of memory");
    int rc = read_compact_files(dir, f, err) || check_compact_shapes(f, err) ||
             fill_compact(f, out, err);
    npy_free(&f->images);
    npy_free(&f->responses);
    npy_free(&f->tiers);
    npy_free(&f->ids);
    free(f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Sensorium 2022 layout. */

typedef struct trial_meta {
    npy_array tiers, ids;
    char tiers_path[DATASET_PATH_MAX], ids_path[DATASET_PATH_MAX];
} trial_meta;

static int read_trial_meta(const char *dir, trial_meta *t, char *err)
{
    if (join_path(t->tiers_path, dir, "meta/trials/tiers.npy", err) ||
        join_path(t->ids_path, dir, "meta/trials/frame_image_id.npy", err) ||
        npy_read(t->tiers_path, &t->tiers, err) || npy_read(t->ids_path, &t->ids, err))
        return 1;
    if (t->tiers.ndim != 1)
        return model_fail_in_file(err, t->tiers_path, "%d dimensions, expected 1", t->tiers.ndim);
    if (t->tiers.shape[0] == 0)
        return model_fail_in_file(err, t->tiers_path, "no trials");
    if (t->ids.ndim != 1 || t->ids.shape[0] != t->tiers.shape[0])
        return model_fail_in_file(err, t->ids_path, "shape does not match %lld trials (tiers.npy)",
                                  (long long)t->tiers.shape[0]);
    return 0;
}

/* Height and width of one trial's image: 1×H×W (or H×W). */
static int image_size(const npy_array *a, const char *path, int *h, int *w, char *err)
{
    if (a->ndim == 3 && a->shape[0] == 1)
        return dim_to_int(a->shape[1], path, "rows", h, err) ||
               dim_to_int(a->shape[2], path, "columns", w, err);
    if (a->ndim == 2)
        return dim_to_int(a->shape[0], path, "rows", h, err) ||
               dim_to_int(a->shape[1], path, "columns", w, err);
    return model_fail_in_file(err, path, "image shape must be 1×H×W");
}

/* Check one trial's image and responses against the dataset's shape and
 * store them; the first trial fixes the shape and allocates `out`. */
static int store_sensorium_trial(const npy_array *image, const char *image_path,
                                 const npy_array *response, const char *response_path, int i,
                                 int trials, dataset *out, char *err)
{
    int h = 0, w = 0, m = 0;
    if (image_size(image, image_path, &h, &w, err))
        return 1;
    if (response->ndim != 1)
        return model_fail_in_file(err, response_path, "%d dimensions, expected 1 (neurons)",
                                  response->ndim);
    if (dim_to_int(response->shape[0], response_path, "neurons", &m, err))
        return 1;
    if (i == 0 && dataset_alloc(out, trials, h, w, m))
        return model_fail_in_file(err, image_path, "out of memory for %d trials", trials);
    if (h != out->height || w != out->width)
        return model_fail_in_file(err, image_path, "%d×%d image, expected %d×%d", h, w, out->height,
                                  out->width);
    if (m != out->neurons)
        return model_fail_in_file(err, response_path, "%d neurons, expected %d", m, out->neurons);
    size_t pixels = (size_t)h * (size_t)w;
    return convert_pixels(image, 255.0f, pixels ? pixels : 1, (size_t)i, image_path,
                          out->images + (size_t)i * pixels, err) ||
           convert_responses(response, m ? m : 1, (size_t)i, response_path,
                             out->responses + (size_t)i * (size_t)m, err);
}

static int load_sensorium_trial(const char *dir, int i, int trials, dataset *out, char *err)
{
    char image_path[DATASET_PATH_MAX], response_path[DATASET_PATH_MAX], name[64];
    snprintf(name, sizeof name, "data/images/%d.npy", i);
    if (join_path(image_path, dir, name, err))
        return 1;
    snprintf(name, sizeof name, "data/responses/%d.npy", i);
    if (join_path(response_path, dir, name, err))
        return 1;
    npy_array image, response;
    if (npy_read(image_path, &image, err))
        return 1;
    int rc = npy_read(response_path, &response, err) ||
             store_sensorium_trial(&image, image_path, &response, response_path, i, trials, out,
                                   err);
    npy_free(&image);
    npy_free(&response);
    return rc;
}

static int load_sensorium(const char *dir, dataset *out, char *err)
{
    trial_meta *t = calloc(1, sizeof *t);
    if (!t)
        return model_fail_in_file(err, dir, "out of memory");
    int n = 0;
    int rc = read_trial_meta(dir, t, err) ||
             dim_to_int(t->tiers.shape[0], t->tiers_path, "trials", &n, err);
    for (int i = 0; !rc && i < n; i++)
        rc = load_sensorium_trial(dir, i, n, out, err);
    if (!rc)
        rc = decode_tiers(&t->tiers, t->tiers_path, out->tiers, err) ||
             decode_ids(&t->ids, t->ids_path, out->image_ids, err);
    npy_free(&t->tiers);
    npy_free(&t->ids);
    free(t);
    return rc;
}

/* ------------------------------------------------------------------------ */

int dataset_load(const char *dir, dataset *out, char *err)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st) != 0)
        return model_fail_in_file(err, dir, "cannot open dataset folder: %s", strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return model_fail_in_file(err, dir, "not a folder");
    char path[DATASET_PATH_MAX];
    int rc;
    if (join_path(path, dir, "images.npy", err))
        return 1;
    if (is_file(path)) {
        rc = load_compact(dir, out, err);
    } else {
        if (join_path(path, dir, "meta/trials/tiers.npy", err))
            return 1;
        if (!is_file(path))
            return model_fail_in_file(err, dir,
                                      "no dataset here: neither images.npy (compact layout) nor "
                                      "meta/trials/tiers.npy (Sensorium layout)");
        rc = load_sensorium(dir, out, err);
    }
    if (rc)
        dataset_free(out);
    return rc;
}

/* mkdir -p: create `dir` and any missing parents. */
static int make_dirs(const char *dir, char *err)
{
    char path[DATASET_PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return model_fail_in_file(err, dir, "bad folder name");
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return model_fail_in_file(err, path, "cannot create folder: %s", strerror(errno));
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return model_fail_in_file(err, dir, "not a folder");
    return 0;
}

int dataset_save_compact(const char *dir, const dataset *d, char *err)
{
    if (d->trials < 0 || d->height < 0 || d->width < 0 || d->neurons < 0 || !d->images ||
        !d->responses || !d->tiers || !d->image_ids)
        return model_fail_in_file(err, dir, "dataset is empty or invalid");
    if (make_dirs(dir, err))
        return 1;
    char path[DATASET_PATH_MAX];
    int64_t image_shape[3] = {d->trials, d->height, d->width};
    int64_t response_shape[2] = {d->trials, d->neurons};
    int64_t trial_shape[1] = {d->trials};
    return join_path(path, dir, "images.npy", err) ||
           npy_write(path, NPY_FLOAT32, 3, image_shape, d->images, err) ||
           join_path(path, dir, "responses.npy", err) ||
           npy_write(path, NPY_FLOAT32, 2, response_shape, d->responses, err) ||
           join_path(path, dir, "tiers.npy", err) ||
           npy_write(path, NPY_UINT8, 1, trial_shape, d->tiers, err) ||
           join_path(path, dir, "image_ids.npy", err) ||
           npy_write(path, NPY_INT64, 1, trial_shape, d->image_ids, err);
}
