/* image_set.c: a user's images brought to a model's input size and
 * convention — a folder of PNG/JPEG files or an NPY array — for exporting
 * the model's predictions on them. Resizing is a centre crop to the target's
 * aspect ratio followed by separable resampling: area averaging when
 * shrinking, bilinear interpolation when enlarging (see model.h). */
#include "model.h"

#include <assert.h>
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

/* One file of a set: an NPY array (all its images) or one PNG/JPEG image. */
typedef struct set_file {
    char *path;
    const char *name; /* inside the folder (into path); NULL when an NPY is the set */
    int first, count; /* its images' indices in the set */
    int is_npy, rgb, height, width;
    npy_array array;
} set_file;

struct image_set {
    set_file *files;
    size_t file_capacity;
    int file_count, count;
};

/* A float array's first NaN or infinite value, named by image, row, column
 * (and colour channel): one such pixel makes that image's every predicted
 * response NaN, and through them the similarity and the Gaussian control.
 * Checked once at opening, before anything is computed. */
static int refuse_non_finite(const set_file *s, char *err)
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
        int n = snprintf(err, MODEL_ERR_SIZE, "%s: image %zu, row %zu, column %zu", s->path,
                         i / per_image, p / per_row, p % per_row / channels);
        if (s->rgb && n > 0 && n < MODEL_ERR_SIZE)
            snprintf(err + n, MODEL_ERR_SIZE - (size_t)n, ", channel %zu", p % channels);
        n = (int)strlen(err);
        snprintf(err + n, MODEL_ERR_SIZE - (size_t)n, " is %g: pixels must be finite", v);
        return 1;
    }
    return 0;
}

/* H×W (one image), N×H×W or N×H×W×3. */
static int open_npy(set_file *s, char *err)
{
    const char *path = s->path;
    char why[MODEL_ERR_SIZE];
    if (npy_read(path, &s->array, why))
        return model_fail(err, "%s", why);
    s->is_npy = 1;
    const npy_array *a = &s->array;
    int rgb = a->ndim == 4 && a->shape[3] == 3, one = a->ndim == 2;
    if (!(one || a->ndim == 3 || rgb)) {
        char shape[96] = "";
        for (int d = 0; d < a->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld",
                     d ? "x" : "", (long long)a->shape[d]);
        return model_fail(err, "%s: images of shape (%s): expected H x W (one image), "
                          "N x H x W (grayscale) or N x H x W x 3 (RGB)", path,
                          a->ndim ? shape : "scalar");
    }
    if (a->dtype != NPY_UINT8 && a->dtype != NPY_FLOAT32 && a->dtype != NPY_FLOAT64)
        return model_fail(err, "%s: images must be uint8 (0..255) or float32/float64 "
                          "(0..1)", path);
    long long n = one ? 1 : a->shape[0], h = a->shape[one ? 0 : 1], w = a->shape[one ? 1 : 2];
    if (n < 1 || h < 1 || w < 1 || n > INT32_MAX || h > IMAGE_MAX_SIDE || w > IMAGE_MAX_SIDE)
        return model_fail(err, "%s: %lld images of %lld x %lld pixels: need at least "
                          "one image of 1 to %d pixels a side", path, n, h, w, IMAGE_MAX_SIDE);
    s->count = (int)n;
    s->height = (int)h;
    s->width = (int)w;
    s->rgb = rgb;
    return refuse_non_finite(s, err);
}

/* File `name` in `folder` (folder NULL: `name` is the path), added to the set. */
static int add_file(image_set *s, const char *folder, const char *name, int alone, char *err)
{
    if (grow_array(&s->files, &s->file_capacity, (size_t)s->file_count + 1, sizeof *s->files, 16))
        return model_fail(err, "%s: out of memory", name);
    set_file *f = &s->files[s->file_count];
    memset(f, 0, sizeof *f);
    size_t n = (folder ? strlen(folder) + 1 : 0) + strlen(name) + 1;
    if (!(f->path = malloc(n)))
        return model_fail(err, "%s: out of memory", name);
    snprintf(f->path, n, "%s%s%s", folder ? folder : "", folder ? "/" : "", name);
    s->file_count++;
    int kind = image_file_kind(f->path);
    if (kind == IMAGE_FILE_OTHER)
        return model_fail(err, "%s: not a PNG or JPEG image%s", f->path,
                          folder ? " (an image set folder holds only images and NPY arrays)"
                                 : " or an NPY array");
    f->name = kind == IMAGE_FILE_NPY && alone ? NULL : f->path + n - 1 - strlen(name);
    f->count = 1;
    if (kind == IMAGE_FILE_NPY && open_npy(f, err))
        return 1;
    if ((long long)s->count + f->count > INT32_MAX)
        return model_fail(err, "%s: over %d images in the set", f->path, INT32_MAX);
    f->first = s->count;
    s->count += f->count;
    return 0;
}

/* Every regular file not starting with '.', in byte order of names
 * (image_folder_list). */
static int open_folder(image_set *s, const char *path, char *err)
{
    char **files;
    int count;
    if (image_folder_list(path, &files, &count, err))
        return 1;
    int failed = count == 0 &&
                 model_fail(err, "%s: no images (PNG, JPEG or NPY files) in the folder", path);
    size_t skip = strlen(path) + 1; /* "PATH/" */
    for (int i = 0; i < count && !failed; i++)
        failed = add_file(s, path, files[i] + skip, 0, err);
    image_folder_list_free(files, count);
    return failed;
}

int image_set_open(image_set **out, const char *path, char *err)
{
    *out = NULL;
    image_set *s = calloc(1, sizeof *s);
    if (!s)
        return model_fail(err, "out of memory");
    struct stat st;
    int failed;
    if (stat(path, &st) != 0)
        failed = model_fail(err, "%s: %s", path, strerror(errno));
    else
        failed = S_ISDIR(st.st_mode) ? open_folder(s, path, err) : add_file(s, NULL, path, 1, err);
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
    for (int i = 0; i < s->file_count; i++) {
        free(s->files[i].path);
        if (s->files[i].is_npy)
            npy_free(&s->files[i].array);
    }
    free(s->files);
    free(s);
}

int image_set_count(const image_set *s) { return s->count; }

/* The file holding image i (files are in image order). */
static const set_file *file_of(const image_set *s, int i)
{
    assert(i >= 0 && i < s->count);
    int lo = 0, hi = s->file_count - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (s->files[mid].first <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return &s->files[lo];
}

const char *image_set_name(const image_set *s, int i)
{
    return i < 0 || i >= s->count ? NULL : file_of(s, i)->name;
}

const char *image_set_path(const image_set *s, int i)
{
    return i < 0 || i >= s->count ? NULL : file_of(s, i)->path;
}

int image_set_size(const image_set *s, int i, int *height, int *width, char *err)
{
    *height = *width = 0;
    const set_file *f = file_of(s, i);
    if (f->is_npy) {
        *height = f->height;
        *width = f->width;
        return 0;
    }
    float *pixels = NULL;
    if (image_load_gray(f->path, height, width, &pixels, err)) {
        *height = *width = 0;
        return 1;
    }
    free(pixels);
    return 0;
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

/* Image i of an NPY file as luminance, H×W. */
static void npy_image(const set_file *s, int i, float *out)
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
    const set_file *f = file_of(s, i);
    if (f->is_npy) {
        float *image = malloc((size_t)f->height * f->width * sizeof(float));
        if (!image)
            return model_fail(err, "out of memory for a %d x %d image", f->width, f->height);
        npy_image(f, i - f->first, image);
        images_resize(image, f->height, f->width, out, height, width);
        free(image);
        return 0;
    }
    int h, w;
    float *pixels;
    if (image_load_gray(f->path, &h, &w, &pixels, err))
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
