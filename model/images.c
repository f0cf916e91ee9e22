/* images.c: photographs for the simulated population. PNG (libpng) and JPEG
 * (libjpeg-turbo) files are decoded to float luminance and cut into patches at
 * random scales and positions.
 *
 * Both libraries report errors by calling a handler that must not return. Ours
 * store the message and longjmp back. Each setjmp lives in a small "guarded"
 * function and everything allocated under it hangs off a job struct owned by
 * the caller, so nothing is indeterminate after the jump and the caller can
 * free whatever was allocated before the failure. */
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#define IMAGE_MAX_FILE_BYTES (1LL << 30)
#define PHOTO_BLANK_STD 0.02 /* below this an image is treated as blank */
#define PHOTO_DEFAULT_MIN_SIDE 64
#define PHOTO_MIN_SPAN (1.0 / 8.0) /* patch span, fraction of the shorter side */
#define PHOTO_MAX_SPAN (1.0 / 2.0)

static const char photo_default_path[] = "/usr/lib/python3/dist-packages/skimage/data";

/* Rec. 709 luma weights, applied to the encoded values as a display would. */
static float luminance(double r, double g, double b)
{
    double y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return (float)(y < 0.0 ? 0.0 : y > 1.0 ? 1.0 : y);
}

static int dimensions_allowed(long long height, long long width, char *err)
{
    if (height < 1 || width < 1) {
        model_fail(err, "image has no pixels (%lld x %lld)", width, height);
        return 0;
    }
    if (height > IMAGE_MAX_SIDE || width > IMAGE_MAX_SIDE ||
        height * width > IMAGE_MAX_PIXELS) {
        model_fail(err,
                   "image of %lld x %lld pixels (width x height) is beyond the limit of %d x %d "
                   "and %lld Mpixels", width, height, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE,
                   IMAGE_MAX_PIXELS / 1000000);
        return 0;
    }
    return 1;
}

static int is_png(const unsigned char *b, size_t n)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return n >= 8 && memcmp(b, signature, 8) == 0;
}

static int is_jpeg(const unsigned char *b, size_t n)
{
    return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

/* ------------------------------------------------------------------------ */
/* PNG */

typedef struct png_job {
    const unsigned char *bytes;
    size_t size, pos;
    unsigned char *rows; /* one row, or the whole image when interlaced */
    float *pixels;
    int height, width;
    char message[MODEL_ERR_SIZE];
} png_job;

static void png_on_error(png_structp png, png_const_charp message)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message)
{
    (void)png; /* libpng's warnings are about recoverable oddities: stay quiet */
    (void)message;
}

static void png_on_read(png_structp png, png_bytep data, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->size - job->pos)
        png_error(png, "truncated data");
    memcpy(data, job->bytes + job->pos, n);
    job->pos += n;
}

static void png_row_to_luminance(const unsigned char *row, int channels, int depth, int width,
                                 float *out)
{
    double scale = depth == 16 ? 1.0 / 65535.0 : 1.0 / 255.0;
    for (int x = 0; x < width; x++) {
        double v[3];
        for (int c = 0; c < channels && c < 3; c++) {
            const unsigned char *p = row + ((size_t)x * channels + c) * (depth / 8);
            v[c] = (depth == 16 ? (p[0] << 8 | p[1]) : p[0]) * scale;
        }
        /* 1 = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA; alpha is ignored */
        out[x] = channels < 3 ? (float)v[0] : luminance(v[0], v[1], v[2]);
    }
}

/* Everything that may call png_error; runs under png_decode_guarded's setjmp. */
static void png_decode_body(png_structp png, png_infop info, png_job *job)
{
    png_read_info(png, info);
    long long height = png_get_image_height(png, info), width = png_get_image_width(png, info);
    char why[MODEL_ERR_SIZE];
    if (!dimensions_allowed(height, width, why))
        png_error(png, why);
    int color_type = png_get_color_type(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info), depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
        rowbytes != (size_t)width * channels * (depth / 8))
        png_error(png, "unexpected pixel layout after expansion");
    job->height = (int)height;
    job->width = (int)width;
    /* Adam7 passes refine rows already read, so interlaced images keep them all. */
    size_t kept_rows = passes > 1 ? (size_t)height : 1;
    job->rows = malloc(rowbytes * kept_rows);
    job->pixels = malloc((size_t)height * width * sizeof(float));
    if (!job->rows || !job->pixels)
        png_error(png, "out of memory");
    for (int pass = 0; pass < passes; pass++) {
        for (int y = 0; y < job->height; y++) {
            unsigned char *row = job->rows + (passes > 1 ? (size_t)y * rowbytes : 0);
            png_read_row(png, row, NULL);
            if (pass == passes - 1)
                png_row_to_luminance(row, channels, depth, job->width,
                                     job->pixels + (size_t)y * job->width);
        }
    }
    png_read_end(png, NULL); /* checks the remaining chunks, so truncation is caught */
}

static int png_decode_guarded(png_structp png, png_infop info, png_job *job)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_decode_body(png, info, job);
    return 0;
}

static int png_decode(const unsigned char *bytes, size_t size, int *height, int *width,
                      float **pixels, char *err)
{
    png_job job = {.bytes = bytes, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error,
                                             png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        model_fail(err, "PNG: out of memory");
        return -1;
    }
    png_set_read_fn(png, &job, png_on_read);
    int failed = png_decode_guarded(png, info, &job);
    png_destroy_read_struct(&png, &info, NULL);
    free(job.rows);
    if (failed) {
        free(job.pixels);
        model_fail(err, "PNG: %.240s", job.message);
        return -1;
    }
    *height = job.height;
    *width = job.width;
    *pixels = job.pixels;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* JPEG */

typedef struct jpeg_job {
    struct jpeg_decompress_struct info;
    struct jpeg_error_mgr errors;
    jmp_buf jump;
    unsigned char *row;
    float *pixels;
    int height, width;
    char message[JMSG_LENGTH_MAX];
} jpeg_job;

/* The error manager is embedded in the job, so the job is found from it. */
static jpeg_job *jpeg_job_of(j_common_ptr cinfo)
{
    return (jpeg_job *)((char *)cinfo->err - offsetof(jpeg_job, errors));
}

static void jpeg_fail(jpeg_job *job, const char *message)
{
    snprintf(job->message, sizeof job->message, "%s", message);
    longjmp(job->jump, 1);
}

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_job *job = jpeg_job_of(cinfo);
    cinfo->err->format_message(cinfo, job->message);
    longjmp(job->jump, 1);
}

/* libjpeg "warns" about corrupt or truncated data and then goes on, filling
 * in gray. A damaged photograph would silently become a wrong stimulus, so
 * warnings fail, except the two that only concern header metadata. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return; /* trace messages */
    int code = cinfo->err->msg_code;
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM)
        return;
    jpeg_on_error(cinfo);
}

static void jpeg_on_output(j_common_ptr cinfo)
{
    (void)cinfo; /* library code never prints */
}

static void jpeg_row_to_luminance(const unsigned char *row, int components, int width, float *out)
{
    for (int x = 0; x < width; x++) {
        const unsigned char *p = row + (size_t)x * components;
        out[x] = components == 1 ? p[0] / 255.0f
                                 : luminance(p[0] / 255.0, p[1] / 255.0, p[2] / 255.0);
    }
}

/* Everything that may fail; runs under jpeg_decode_guarded's setjmp. */
static void jpeg_decode_body(jpeg_job *job, const unsigned char *bytes, size_t size)
{
    struct jpeg_decompress_struct *info = &job->info;
    jpeg_create_decompress(info);
    jpeg_mem_src(info, bytes, (unsigned long)size);
    jpeg_read_header(info, TRUE);
    char why[MODEL_ERR_SIZE];
    if (!dimensions_allowed(info->image_height, info->image_width, why))
        jpeg_fail(job, why);
    if (info->jpeg_color_space == JCS_GRAYSCALE)
        info->out_color_space = JCS_GRAYSCALE;
    else if (info->jpeg_color_space == JCS_YCbCr || info->jpeg_color_space == JCS_RGB)
        info->out_color_space = JCS_RGB;
    else
        jpeg_fail(job, "only gray and RGB/YCbCr images are supported (CMYK is not)");
    jpeg_start_decompress(info);
    int components = info->output_components;
    if ((components != 1 && components != 3) || info->output_height != info->image_height ||
        info->output_width != info->image_width)
        jpeg_fail(job, "unexpected output layout");
    job->height = (int)info->output_height;
    job->width = (int)info->output_width;
    job->row = malloc((size_t)job->width * components);
    job->pixels = malloc((size_t)job->height * job->width * sizeof(float));
    if (!job->row || !job->pixels)
        jpeg_fail(job, "out of memory");
    while (info->output_scanline < info->output_height) {
        int y = (int)info->output_scanline;
        JSAMPROW rows[1] = {job->row};
        if (jpeg_read_scanlines(info, rows, 1) != 1)
            jpeg_fail(job, "no scanline decoded");
        jpeg_row_to_luminance(job->row, components, job->width,
                              job->pixels + (size_t)y * job->width);
    }
    jpeg_finish_decompress(info); /* reads up to EOI, so truncation is caught */
}

static int jpeg_decode_guarded(jpeg_job *job, const unsigned char *bytes, size_t size)
{
    if (setjmp(job->jump))
        return -1;
    jpeg_decode_body(job, bytes, size);
    return 0;
}

static int jpeg_decode(const unsigned char *bytes, size_t size, int *height, int *width,
                       float **pixels, char *err)
{
    jpeg_job *job = calloc(1, sizeof *job); /* zeroed: destroy is safe at any point */
    if (!job) {
        model_fail(err, "JPEG: out of memory");
        return -1;
    }
    job->info.err = jpeg_std_error(&job->errors);
    job->errors.error_exit = jpeg_on_error;
    job->errors.emit_message = jpeg_on_message;
    job->errors.output_message = jpeg_on_output;
    int failed = jpeg_decode_guarded(job, bytes, size);
    jpeg_destroy_decompress(&job->info);
    free(job->row);
    if (failed) {
        free(job->pixels);
        model_fail(err, "JPEG: %s", job->message);
    } else {
        *height = job->height;
        *width = job->width;
        *pixels = job->pixels;
    }
    free(job);
    return failed;
}

/* ------------------------------------------------------------------------ */
/* Public decoding entry points */

int image_decode_gray(const unsigned char *bytes, size_t size, int *height, int *width,
                      float **pixels, char *err)
{
    *height = *width = 0;
    *pixels = NULL;
    if (!bytes || size == 0) {
        model_fail(err, "empty image data");
        return -1;
    }
    if (is_png(bytes, size))
        return png_decode(bytes, size, height, width, pixels, err);
    if (is_jpeg(bytes, size))
        return jpeg_decode(bytes, size, height, width, pixels, err);
    model_fail(err, "not a PNG or JPEG image (unrecognized signature)");
    return -1;
}

static int read_whole_file(const char *path, unsigned char **bytes, size_t *size, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        model_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        model_fail(err, "%s: not a regular file", path);
        return -1;
    }
    if ((long long)st.st_size > IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        model_fail(err, "%s: file of %lld bytes is too large for an image", path,
                   (long long)st.st_size);
        return -1;
    }
    *size = (size_t)st.st_size;
    *bytes = malloc(*size ? *size : 1);
    size_t got = *bytes ? fread(*bytes, 1, *size, f) : 0;
    fclose(f);
    if (!*bytes || got != *size) {
        free(*bytes);
        *bytes = NULL;
        model_fail(err, "%s: cannot read the file", path);
        return -1;
    }
    return 0;
}

int image_load_gray(const char *path, int *height, int *width, float **pixels, char *err)
{
    *height = *width = 0;
    *pixels = NULL;
    unsigned char *bytes;
    size_t size;
    if (read_whole_file(path, &bytes, &size, err))
        return -1;
    char why[MODEL_ERR_SIZE];
    int failed = image_decode_gray(bytes, size, height, width, pixels, why);
    free(bytes);
    if (failed)
        model_fail(err, "%s: %.200s", path, why);
    return failed;
}

/* ------------------------------------------------------------------------ */
/* Listing a folder of photographs */

typedef struct photo {
    char *path;
    int height, width;
} photo;

typedef struct photo_list {
    photo *items;
    int count;
    size_t capacity;
} photo_list;

static void photo_list_free(photo_list *list)
{
    for (int i = 0; i < list->count; i++)
        free(list->items[i].path);
    free(list->items);
    list->items = NULL;
    list->count = 0;
    list->capacity = 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *folder, const char *name)
{
    size_t n = strlen(folder) + strlen(name) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s", folder, name);
    return path;
}

int image_folder_list(const char *folder, char ***paths, int *count, char *err)
{
    *paths = NULL;
    *count = 0;
    DIR *dir = opendir(folder);
    if (!dir) {
        model_fail(err, "%s: cannot open folder: %s", folder, strerror(errno));
        return -1;
    }
    size_t capacity = 0;
    int failed = 0;
    struct dirent *entry;
    while (!failed && (entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char *path = join_path(folder, entry->d_name);
        struct stat st;
        if (path && (stat(path, &st) != 0 || !S_ISREG(st.st_mode))) {
            free(path);
            continue;
        }
        if (path && grow_array(paths, &capacity, (size_t)*count + 1, sizeof **paths, 64)) {
            free(path);
            path = NULL;
        }
        if (!path)
            failed = 1;
        else
            (*paths)[(*count)++] = path;
    }
    closedir(dir);
    if (failed) {
        image_folder_list_free(*paths, *count);
        *paths = NULL;
        *count = 0;
        model_fail(err, "%s: out of memory listing the folder", folder);
        return -1;
    }
    if (*count > 1)
        qsort(*paths, (size_t)*count, sizeof **paths, compare_names);
    return 0;
}

void image_folder_list_free(char **paths, int count)
{
    for (int i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}

int image_file_kind(const char *path)
{
    static const unsigned char npy[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return IMAGE_FILE_OTHER;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (is_png(head, n) || is_jpeg(head, n))
        return IMAGE_FILE_IMAGE;
    return n >= 6 && memcmp(head, npy, 6) == 0 ? IMAGE_FILE_NPY : IMAGE_FILE_OTHER;
}

static double pixel_std(const float *p, size_t n)
{
    double sum = 0.0, sum2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += p[i];
        sum2 += (double)p[i] * p[i];
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    return var > 0.0 ? sqrt(var) : 0.0;
}

/* scikit-image's data folder ships deliberately broken files for its own tests
 * (truncated.jpg): there, files that fail to decode are skipped. */
static int is_skimage_data_folder(const char *folder)
{
    char *real = realpath(folder, NULL);
    if (!real)
        return 0;
    static const char tail[] = "/skimage/data";
    size_t n = strlen(real), t = sizeof tail - 1;
    int match = n >= t && strcmp(real + n - t, tail) == 0;
    free(real);
    return match;
}

/* Append one photograph to the list, taking ownership of `path`. */
static int photo_list_add(photo_list *list, char *path, int height, int width)
{
    if (grow_array(&list->items, &list->capacity, (size_t)list->count + 1, sizeof *list->items,
                   16))
        return -1;
    list->items[list->count++] = (photo){path, height, width};
    return 0;
}

/* The usable photographs of a folder: PNG/JPEG by signature, at least
 * min_height × min_width, not blank. Each is decoded once here to judge it;
 * only its path and size are kept, so memory stays at one image. */
static int photo_list_build(const char *folder, int min_height, int min_width, int first_only,
                            photo_list *list, char *err)
{
    list->items = NULL;
    list->count = 0;
    list->capacity = 0;
    char **paths;
    int files;
    if (image_folder_list(folder, &paths, &files, err))
        return -1;
    int lenient = is_skimage_data_folder(folder), failed = 0;
    for (int i = 0; i < files && !failed && !(first_only && list->count > 0); i++) {
        if (image_file_kind(paths[i]) != IMAGE_FILE_IMAGE)
            continue;
        int h, w;
        float *pixels;
        if (image_load_gray(paths[i], &h, &w, &pixels, err)) {
            failed = !lenient;
            continue;
        }
        int usable = h >= min_height && w >= min_width &&
                     pixel_std(pixels, (size_t)h * w) >= PHOTO_BLANK_STD;
        free(pixels);
        if (usable) {
            if (photo_list_add(list, paths[i], h, w)) {
                model_fail(err, "%s: out of memory", folder);
                failed = 1;
                continue;
            }
            paths[i] = NULL; /* now owned by the list */
        }
    }
    image_folder_list_free(paths, files);
    if (failed)
        photo_list_free(list);
    return failed ? -1 : 0;
}

const char *photo_default_folder(void)
{
    char err[MODEL_ERR_SIZE];
    photo_list list;
    if (photo_list_build(photo_default_path, PHOTO_DEFAULT_MIN_SIDE, PHOTO_DEFAULT_MIN_SIDE, 1,
                         &list, err))
        return NULL;
    int found = list.count > 0;
    photo_list_free(&list);
    return found ? photo_default_path : NULL;
}

/* ------------------------------------------------------------------------ */
/* Cutting patches */

/* Where one patch comes from: a source box of (height·scale) × (width·scale)
 * pixels at (top, left) of image `image`, mirrored when `flip`. */
typedef struct patch_plan {
    int image;
    double top, left, scale;
    int flip;
} patch_plan;

/* All random choices are drawn up front, patch by patch, so the result
 * depends only on the seed and the folder's contents. */
static void plan_patches(const photo_list *list, int count, int height, int width,
                         uint64_t seed, patch_plan *plans)
{
    model_rng rng;
    model_rng_seed(&rng, seed);
    for (int k = 0; k < count; k++) {
        patch_plan *p = &plans[k];
        p->image = (int)(model_rng_uniform(&rng) * list->count);
        const photo *ph = &list->items[p->image];
        /* log-uniform span: natural images look alike across scales */
        double span = PHOTO_MIN_SPAN * pow(PHOTO_MAX_SPAN / PHOTO_MIN_SPAN,
                                           model_rng_uniform(&rng));
        int shorter = ph->height < ph->width ? ph->height : ph->width;
        int longer_patch = height > width ? height : width;
        double scale = span * shorter / longer_patch;
        double fit = fmin((double)ph->height / height, (double)ph->width / width);
        p->scale = fmin(fmax(scale, 1.0), fit); /* never upsample, always fit */
        p->top = model_rng_uniform(&rng) * fmax(0.0, ph->height - height * p->scale);
        p->left = model_rng_uniform(&rng) * fmax(0.0, ph->width - width * p->scale);
        p->flip = model_rng_uniform(&rng) < 0.5;
    }
}

/* Box-filter taps: the source samples j whose unit cells [j, j+1) overlap
 * [start, start + length), weighted by the overlap and normalized. An exact
 * area average, so downsampling does not alias. Returns the tap count. */
static int box_taps(double start, double length, int n, int *first, float *weights)
{
    double end = start + length, total = 0.0;
    int lo = (int)floor(start), hi = (int)ceil(end), count = 0;
    if (lo < 0)
        lo = 0;
    if (hi > n)
        hi = n;
    for (int j = lo; j < hi; j++) {
        double w = fmax(0.0, fmin(end, j + 1.0) - fmax(start, (double)j));
        weights[count++] = (float)w;
        total += w;
    }
    for (int t = 0; t < count; t++)
        weights[t] = total > 0.0 ? (float)(weights[t] / total) : 0.0f;
    *first = lo;
    return count;
}

/* Scratch for cutting patches of one image: per output column and row, the
 * taps of box_taps, and the horizontally averaged rows of the source box. */
typedef struct patch_scratch {
    int max_taps;
    int *first, *count;  /* width + height entries: columns, then rows */
    float *weights;      /* (width + height) × max_taps */
    float *rows;         /* image height × width */
} patch_scratch;

static void patch_scratch_free(patch_scratch *s)
{
    free(s->first);
    free(s->count);
    free(s->weights);
    free(s->rows);
}

static int patch_scratch_alloc(patch_scratch *s, int image_height, double max_scale, int height,
                               int width)
{
    size_t lines = (size_t)height + width;
    s->max_taps = (int)ceil(max_scale) + 2; /* a span of k cells touches at most ceil(k)+1 */
    s->first = malloc(lines * sizeof *s->first);
    s->count = malloc(lines * sizeof *s->count);
    s->weights = malloc(lines * s->max_taps * sizeof *s->weights);
    s->rows = malloc((size_t)image_height * width * sizeof *s->rows);
    if (s->first && s->count && s->weights && s->rows)
        return 0;
    patch_scratch_free(s);
    return -1;
}

/* Separable area resampling: each source row of the box is averaged
 * horizontally into width values, then those columns vertically. */
static void cut_patch(const float *image, int image_width, int image_height,
                      const patch_plan *p, int height, int width, patch_scratch *s, float *out)
{
    int row0 = (int)floor(p->top), row1 = (int)ceil(p->top + height * p->scale);
    if (row1 > image_height)
        row1 = image_height;
    for (int i = 0; i < width + height; i++) {
        int column = i < width;
        double start = column ? p->left + i * p->scale : p->top - row0 + (i - width) * p->scale;
        s->count[i] = box_taps(start, p->scale, column ? image_width : row1 - row0, &s->first[i],
                               s->weights + (size_t)i * s->max_taps);
    }
    for (int r = row0; r < row1; r++) {
        const float *src = image + (size_t)r * image_width;
        float *dst = s->rows + (size_t)(r - row0) * width;
        for (int c = 0; c < width; c++) {
            const float *w = s->weights + (size_t)c * s->max_taps;
            float sum = 0.0f;
            for (int t = 0; t < s->count[c]; t++)
                sum += w[t] * src[s->first[c] + t];
            dst[c] = sum;
        }
    }
    for (int r = 0; r < height; r++) {
        int i = width + r;
        const float *w = s->weights + (size_t)i * s->max_taps;
        float *line = out + (size_t)r * width;
        for (int c = 0; c < width; c++)
            line[c] = 0.0f;
        for (int t = 0; t < s->count[i]; t++) {
            const float *src = s->rows + (size_t)(s->first[i] + t) * width;
            for (int c = 0; c < width; c++)
                line[c] += w[t] * src[c];
        }
        for (int c = 0; p->flip && c < width / 2; c++) {
            float v = line[c];
            line[c] = line[width - 1 - c];
            line[width - 1 - c] = v;
        }
        for (int c = 0; c < width; c++) /* rounding must not leave [0,1] */
            line[c] = fminf(1.0f, fmaxf(0.0f, line[c]));
    }
}

/* Decode each chosen image once and cut all of its patches. */
static int cut_planned_patches(const photo_list *list, const patch_plan *plans, int count,
                               int height, int width, float *out, char *err)
{
    for (int i = 0; i < list->count; i++) {
        int used = 0;
        for (int k = 0; k < count && !used; k++)
            used = plans[k].image == i;
        if (!used)
            continue;
        const photo *ph = &list->items[i];
        int h, w;
        float *image;
        if (image_load_gray(ph->path, &h, &w, &image, err))
            return -1;
        double max_scale = 1.0;
        for (int k = 0; k < count; k++)
            if (plans[k].image == i)
                max_scale = fmax(max_scale, plans[k].scale);
        patch_scratch scratch;
        int no_memory = patch_scratch_alloc(&scratch, h, max_scale, height, width) != 0;
        if (no_memory || h != ph->height || w != ph->width) {
            model_fail(err, "%s: %s", ph->path,
                       no_memory ? "out of memory" : "image changed while patches were cut");
            if (!no_memory)
                patch_scratch_free(&scratch);
            free(image);
            return -1;
        }
        for (int k = 0; k < count; k++)
            if (plans[k].image == i)
                cut_patch(image, w, h, &plans[k], height, width, &scratch,
                          out + (size_t)k * height * width);
        patch_scratch_free(&scratch);
        free(image);
    }
    return 0;
}

int photo_patches(const char *folder, int count, int height, int width, uint64_t seed,
                  float *out, char *err)
{
    if (count < 0 || height < 1 || width < 1 || (count > 0 && !out)) {
        model_fail(err, "photo_patches: invalid request (%d patches of %d x %d)",
                   count, height, width);
        return -1;
    }
    photo_list list;
    if (photo_list_build(folder, height, width, 0, &list, err))
        return -1;
    if (list.count == 0) {
        model_fail(err, "no PNG or JPEG images of at least %d x %d in %s", height, width, folder);
        return -1;
    }
    patch_plan *plans = malloc((size_t)(count ? count : 1) * sizeof *plans);
    if (!plans) {
        photo_list_free(&list);
        model_fail(err, "photo_patches: out of memory");
        return -1;
    }
    plan_patches(&list, count, height, width, seed, plans);
    int failed = cut_planned_patches(&list, plans, count, height, width, out, err);
    free(plans);
    photo_list_free(&list);
    return failed;
}
