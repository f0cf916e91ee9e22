/* image_set.c: a user's images brought to a model's input size and
 * convention — a folder of PNG/JPEG files or an NPY array — for exporting
 * the model's predictions on them. Resizing is a centre crop to the target's
 * aspect ratio followed by separable resampling: area averaging when
 * shrinking, bilinear interpolation when enlarging (see model.h). */
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------ */
/* Resampling one axis: every output sample is a weighted sum of a run of
 * consecutive source samples. */

typedef struct axis_taps {
    int out_count, max_taps;
    int *first;     /* out_count: first source index */
    int *count;     /* out_count: number of taps */
    float *weights; /* out_count × max_taps */
} axis_taps;

static void axis_taps_free(axis_taps *t)
{
    free(t->first);
    free(t->count);
    free(t->weights);
}

/* Output j averages the source over [start + j·step, start + (j+1)·step),
 * source pixel i covering [i, i+1). */
static void area_taps(axis_taps *t, int j, double start, double step, int n)
{
    double a = start + j * step, b = a + step;
    int i0 = (int)floor(a), i1 = (int)ceil(b) - 1;
    if (i0 < 0)
        i0 = 0;
    if (i1 > n - 1)
        i1 = n - 1;
    float *w = t->weights + (size_t)j * t->max_taps;
    t->first[j] = i0;
    t->count[j] = i1 - i0 + 1;
    for (int i = i0; i <= i1; i++) {
        double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
        w[i - i0] = (float)((hi > lo ? hi - lo : 0.0) / step);
    }
}

/* Output j samples the source at x = start + (j + 0.5)·step - 0.5, clamped
 * to the first and last pixel centres. */
static void bilinear_taps(axis_taps *t, int j, double start, double step, int n)
{
    double x = start + (j + 0.5) * step - 0.5;
    if (x < 0)
        x = 0;
    if (x > n - 1)
        x = n - 1;
    int i0 = (int)floor(x);
    if (i0 > n - 2)
        i0 = n - 2 < 0 ? 0 : n - 2;
    double f = x - i0;
    float *w = t->weights + (size_t)j * t->max_taps;
    t->first[j] = i0;
    t->count[j] = n > 1 ? 2 : 1;
    w[0] = (float)(1.0 - f);
    if (n > 1)
        w[1] = (float)f;
}

/* Taps resampling the window [start, start + length) of n source pixels to
 * m outputs. */
static int axis_taps_build(axis_taps *t, double start, double length, int n, int m)
{
    double step = length / m;
    t->out_count = m;
    t->max_taps = step >= 1.0 ? (int)ceil(step) + 2 : 2;
    t->first = malloc((size_t)m * sizeof(int));
    t->count = malloc((size_t)m * sizeof(int));
    t->weights = calloc((size_t)m * t->max_taps, sizeof(float));
    if (!t->first || !t->count || !t->weights) {
        axis_taps_free(t);
        return 1;
    }
    for (int j = 0; j < m; j++) {
        if (step >= 1.0)
            area_taps(t, j, start, step, n);
        else
            bilinear_taps(t, j, start, step, n);
    }
    return 0;
}

static float apply_taps(const axis_taps *t, int j, const float *src, size_t stride)
{
    const float *w = t->weights + (size_t)j * t->max_taps;
    const float *s = src + (size_t)t->first[j] * stride;
    float sum = 0.0f;
    for (int k = 0; k < t->count[j]; k++)
        sum += w[k] * s[(size_t)k * stride];
    return sum;
}

/* The centre window of an axis of n pixels holding the target's aspect. */
static void centre_crop(int src_height, int src_width, int height, int width, double *y0,
                        double *crop_height, double *x0, double *crop_width)
{
    *y0 = *x0 = 0.0;
    *crop_height = src_height;
    *crop_width = src_width;
    double target = (double)width / height;
    if ((double)src_width / src_height > target) {
        *crop_width = src_height * target;
        *x0 = (src_width - *crop_width) / 2.0;
    } else {
        *crop_height = src_width / target;
        *y0 = (src_height - *crop_height) / 2.0;
    }
}

void images_resize(const float *src, int src_height, int src_width, float *dst, int height,
                   int width)
{
    if (src_height == height && src_width == width) {
        memcpy(dst, src, (size_t)height * width * sizeof(float));
        return;
    }
    double y0, ch, x0, cw;
    centre_crop(src_height, src_width, height, width, &y0, &ch, &x0, &cw);
    axis_taps rows = {0}, cols = {0};
    float *tmp = malloc((size_t)src_height * width * sizeof(float));
    if (!tmp || axis_taps_build(&cols, x0, cw, src_width, width) ||
        axis_taps_build(&rows, y0, ch, src_height, height)) {
        /* Out of memory for a few small tables: leave a mid-gray image rather
         * than garbage; callers size images far below this. */
        for (size_t i = 0; i < (size_t)height * width; i++)
            dst[i] = 0.5f;
        free(tmp);
        axis_taps_free(&cols);
        return;
    }
    for (int y = 0; y < src_height; y++)
        for (int x = 0; x < width; x++)
            tmp[(size_t)y * width + x] = apply_taps(&cols, x, src + (size_t)y * src_width, 1);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            dst[(size_t)y * width + x] = apply_taps(&rows, y, tmp + x, (size_t)width);
    free(tmp);
    axis_taps_free(&rows);
    axis_taps_free(&cols);
}

/* ------------------------------------------------------------------------ */
/* Image sets */

struct image_set {
    char *folder;   /* folder sets: the folder, and its files' names */
    char **names;
    int count;
    npy_array array; /* NPY sets: the whole array */
    int is_npy, rgb, height, width;
};

static int has_image_signature(const unsigned char *b, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return (n >= 8 && memcmp(b, png, 8) == 0) || (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 &&
                                                  b[2] == 0xFF);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *path_of(const image_set *s, const char *name)
{
    size_t n = strlen(s->folder) + strlen(name) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", s->folder, name);
    return path;
}

/* Is this directory entry a regular file that is an image? -1 when it is a
 * regular file that is not one (the set is refused), 0 to skip it. */
static int entry_is_image(const image_set *s, const char *name, char *err)
{
    char *path = path_of(s, name);
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(path);
        return 0;
    }
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    int ok = has_image_signature(head, got);
    if (!ok)
        snprintf(err, MODEL_ERR_SIZE, "%s: not a PNG or JPEG image (an image set folder holds "
                 "only images)", path);
    free(path);
    return ok ? 1 : -1;
}

static int add_name(image_set *s, const char *name, int *capacity)
{
    if (s->count == *capacity) {
        *capacity = *capacity ? 2 * *capacity : 64;
        char **grown = realloc(s->names, (size_t)*capacity * sizeof *grown);
        if (!grown)
            return 1;
        s->names = grown;
    }
    s->names[s->count] = strdup(name);
    if (!s->names[s->count])
        return 1;
    s->count++;
    return 0;
}

static int open_folder(image_set *s, const char *path, char *err)
{
    DIR *dir = opendir(path);
    if (!dir)
        return model_fail(err, "%s: cannot open folder: %s", path, strerror(errno));
    s->folder = strdup(path);
    int capacity = 0, failed = !s->folder;
    struct dirent *entry;
    while (!failed && (entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        int kind = entry_is_image(s, entry->d_name, err);
        if (kind < 0) {
            closedir(dir);
            return 1;
        }
        if (kind > 0)
            failed = add_name(s, entry->d_name, &capacity);
    }
    closedir(dir);
    if (failed)
        return model_fail(err, "%s: out of memory listing the folder", path);
    if (s->count == 0)
        return model_fail(err, "%s: no PNG or JPEG images in the folder", path);
    qsort(s->names, (size_t)s->count, sizeof *s->names, compare_names);
    return 0;
}

/* A float image set's first NaN or infinite value, named by image, row,
 * column (and colour channel): one such pixel makes that image's every
 * predicted response NaN, and through them the similarity and the Gaussian
 * control. Checked once at opening, before anything is computed. */
static int refuse_non_finite(const image_set *s, const char *path, char *err)
{
    const npy_array *a = &s->array;
    if (a->dtype == NPY_UINT8)
        return 0;
    for (size_t i = 0; i < a->count; i++) {
        double v = a->dtype == NPY_FLOAT32 ? ((const float *)a->data)[i]
                                           : ((const double *)a->data)[i];
        if (isfinite(v))
            continue;
        size_t channels = s->rgb ? 3 : 1, per_row = (size_t)s->width * channels;
        size_t per_image = (size_t)s->height * per_row, p = i % per_image;
        int n = snprintf(err, MODEL_ERR_SIZE, "%s: image %zu, row %zu, column %zu", path,
                         i / per_image, p / per_row, p % per_row / channels);
        if (s->rgb && n > 0 && n < MODEL_ERR_SIZE)
            snprintf(err + n, MODEL_ERR_SIZE - (size_t)n, ", channel %zu", p % channels);
        n = (int)strlen(err);
        snprintf(err + n, MODEL_ERR_SIZE - (size_t)n, " is %g: pixels must be finite", v);
        return 1;
    }
    return 0;
}

static int open_npy(image_set *s, const char *path, char *err)
{
    char why[MODEL_ERR_SIZE];
    if (npy_read(path, &s->array, why))
        return model_fail(err, "%s", why);
    s->is_npy = 1;
    const npy_array *a = &s->array;
    int rgb = a->ndim == 4 && a->shape[3] == 3;
    if (!(a->ndim == 3 || rgb)) {
        char shape[96] = "";
        for (int d = 0; d < a->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld",
                     d ? "x" : "", (long long)a->shape[d]);
        return model_fail(err, "%s: images of shape (%s): expected N x H x W (grayscale) or "
                          "N x H x W x 3 (RGB)", path, a->ndim ? shape : "scalar");
    }
    if (a->dtype != NPY_UINT8 && a->dtype != NPY_FLOAT32 && a->dtype != NPY_FLOAT64)
        return model_fail(err, "%s: images must be uint8 (0..255) or float32/float64 "
                          "(0..1)", path);
    if (a->shape[0] < 1 || a->shape[1] < 1 || a->shape[2] < 1 || a->shape[0] > INT32_MAX ||
        a->shape[1] > IMAGE_MAX_SIDE || a->shape[2] > IMAGE_MAX_SIDE)
        return model_fail(err, "%s: %lld images of %lld x %lld pixels: need at least "
                          "one image of 1 to %d pixels a side", path, (long long)a->shape[0],
                          (long long)a->shape[1], (long long)a->shape[2], IMAGE_MAX_SIDE);
    s->count = (int)a->shape[0];
    s->height = (int)a->shape[1];
    s->width = (int)a->shape[2];
    s->rgb = rgb;
    return refuse_non_finite(s, path, err);
}

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int image_set_open(image_set **out, const char *path, char *err)
{
    *out = NULL;
    image_set *s = calloc(1, sizeof *s);
    if (!s)
        return model_fail(err, "out of memory");
    struct stat st;
    int failed;
    if (stat(path, &st) != 0) {
        snprintf(err, MODEL_ERR_SIZE, "%s: %s", path, strerror(errno));
        failed = 1;
    } else {
        failed = is_directory(path) ? open_folder(s, path, err) : open_npy(s, path, err);
    }
    if (failed) {
        image_set_destroy(s);
        return 1;
    }
    *out = s;
    return 0;
}

void image_set_destroy(image_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->count && s->names; i++)
        free(s->names[i]);
    free(s->names);
    free(s->folder);
    if (s->is_npy)
        npy_free(&s->array);
    free(s);
}

int image_set_count(const image_set *s) { return s->count; }

const char *image_set_name(const image_set *s, int i)
{
    return s->is_npy || i < 0 || i >= s->count ? NULL : s->names[i];
}

void image_set_size(const image_set *s, int i, int *height, int *width)
{
    *height = *width = 0;
    if (s->is_npy) {
        *height = s->height;
        *width = s->width;
        return;
    }
    char *path = path_of(s, s->names[i]);
    float *pixels = NULL;
    char err[MODEL_ERR_SIZE];
    if (path && image_load_gray(path, height, width, &pixels, err))
        *height = *width = 0;
    free(pixels);
    free(path);
}

/* One NPY element as a float in [0,1]. */
static float npy_value(const npy_array *a, size_t i)
{
    switch (a->dtype) {
    case NPY_UINT8:
        return ((const uint8_t *)a->data)[i] / 255.0f;
    case NPY_FLOAT32:
        return ((const float *)a->data)[i];
    default:
        return (float)((const double *)a->data)[i];
    }
}

/* NPY image i as luminance, H×W. */
static void npy_image(const image_set *s, int i, float *out)
{
    size_t HW = (size_t)s->height * s->width;
    if (!s->rgb) {
        for (size_t p = 0; p < HW; p++)
            out[p] = npy_value(&s->array, (size_t)i * HW + p);
        return;
    }
    size_t base = (size_t)i * HW * 3;
    for (size_t p = 0; p < HW; p++)
        out[p] = 0.2126f * npy_value(&s->array, base + 3 * p) +
                 0.7152f * npy_value(&s->array, base + 3 * p + 1) +
                 0.0722f * npy_value(&s->array, base + 3 * p + 2);
}

static int read_one(image_set *s, int i, int height, int width, float *out, char *err)
{
    if (s->is_npy) {
        float *image = malloc((size_t)s->height * s->width * sizeof(float));
        if (!image)
            return model_fail(err, "out of memory for a %d x %d image", s->width, s->height);
        npy_image(s, i, image);
        images_resize(image, s->height, s->width, out, height, width);
        free(image);
        return 0;
    }
    char *path = path_of(s, s->names[i]);
    if (!path)
        return model_fail(err, "out of memory");
    int h, w;
    float *pixels;
    int failed = image_load_gray(path, &h, &w, &pixels, err);
    free(path);
    if (failed)
        return 1;
    images_resize(pixels, h, w, out, height, width);
    free(pixels);
    return 0;
}

int image_set_read(image_set *s, int first, int count, int height, int width, float *out,
                   char *err)
{
    if (first < 0 || count < 0 || first > s->count - count || height < 1 || width < 1)
        return model_fail(err, "images %d..%d of a set of %d at %d x %d", first,
                          first + count - 1, s->count, width, height);
    size_t HW = (size_t)height * width;
    for (int k = 0; k < count; k++)
        if (read_one(s, first + k, height, width, out + k * HW, err))
            return 1;
    return 0;
}
