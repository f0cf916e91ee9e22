/* present_images.c: the images `inception present` shows, at their own
 * sizes (present.h). */
#include "present.h"
#include "controller_util.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void present_images_free(present_images *l)
{
    for (int i = 0; i < l->count; i++)
        free(l->pixels[i]);
    free(l->pixels);
    free(l->height);
    free(l->width);
}

static int images_append(present_images *l, float *pixels, int height, int width)
{
    if ((size_t)l->count == l->capacity) {
        size_t n = controller_capacity_for(l->capacity, l->capacity + 1, 64);
        if (controller_resize(&l->pixels, n, sizeof *l->pixels) ||
            controller_resize(&l->height, n, sizeof *l->height) ||
            controller_resize(&l->width, n, sizeof *l->width) ||
            l->count >= PRESENT_MAX_IMAGES)
            return 1;
        l->capacity = n;
    }
    l->pixels[l->count] = pixels;
    l->height[l->count] = height;
    l->width[l->count] = width;
    l->count++;
    return 0;
}

/* An NPY of one image (H×W, 1×H×W) or many (N×H×W): uint8 is scaled from
 * 0..255, floats must already be luminance in [0,1]. */
static int images_from_npy(const char *path, present_images *l, char *err)
{
    npy_array a;
    if (npy_read(path, &a, err))
        return 1;
    int n = a.ndim == 3 ? (int)a.shape[0] : 1;
    int h = a.ndim >= 2 ? (int)a.shape[a.ndim - 2] : 0, w = a.ndim >= 2 ? (int)a.shape[a.ndim - 1] : 0;
    float *all = NULL;
    int status = 1;
    if (a.ndim < 2 || a.ndim > 3 || h < 1 || w < 1 || n < 1)
        controller_fail(err, "%s: want H×W or N×H×W images", path);
    else if ((all = npy_to_float32(&a, err)) != NULL) {
        float scale = a.dtype == NPY_UINT8 ? 1.0f / 255.0f : 1.0f;
        size_t size = (size_t)h * (size_t)w;
        status = 0;
        for (size_t i = 0; i < (size_t)n * size && !status; i++)
            if (!(all[i] * scale >= 0.0f && all[i] * scale <= 1.0f)) {
                controller_fail(err, "%s: value %g at %zu is outside [0,1] "
                                "(images are luminance)", path, all[i], i);
                status = 1;
            }
        for (int k = 0; k < n && !status; k++) {
            float *one = malloc(size * sizeof(float));
            for (size_t i = 0; one && i < size; i++)
                one[i] = all[(size_t)k * size + i] * scale;
            if (!one || images_append(l, one, h, w)) {
                free(one);
                controller_fail(err, "%s: out of memory or over %d images", path,
                                PRESENT_MAX_IMAGES);
                status = 1;
            }
        }
    }
    free(all);
    npy_free(&a);
    return status;
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && !strcasecmp(name + n - s, suffix);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int images_from_file(const char *path, present_images *l, char *err)
{
    if (has_suffix(path, ".npy"))
        return images_from_npy(path, l, err);
    int h, w;
    float *pixels;
    if (image_load_gray(path, &h, &w, &pixels, err))
        return 1;
    if (images_append(l, pixels, h, w)) {
        free(pixels);
        controller_fail(err, "%s: out of memory", path);
        return 1;
    }
    return 0;
}

static int images_from_folder(const char *dir, present_images *l, char *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        controller_fail(err, "%s: %s", dir, strerror(errno));
        return 1;
    }
    char **names = NULL;
    int n = 0, status = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < PRESENT_MAX_IMAGES) {
        const char *s = e->d_name;
        if (!has_suffix(s, ".npy") && !has_suffix(s, ".png") && !has_suffix(s, ".jpg") &&
            !has_suffix(s, ".jpeg"))
            continue;
        char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!grown)
            break;
        names = grown;
        names[n++] = strdup(s);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    for (int i = 0; i < n && !status; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        status = images_from_file(path, l, err);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!status && l->count == 0) {
        controller_fail(err, "%s: no .npy, .png or .jpg images", dir);
        status = 1;
    }
    return status;
}

int present_images_load(const char *path, present_images *l, char *err)
{
    struct stat st;
    if (stat(path, &st)) {
        controller_fail(err, "%s: %s", path, strerror(errno));
        return 1;
    }
    return S_ISDIR(st.st_mode) ? images_from_folder(path, l, err)
                               : images_from_file(path, l, err);
}
