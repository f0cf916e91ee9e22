/* present_images.c: the images `inception present` shows, at their own
 * sizes (present.h), read through the model's image sets (model.h). */
#include "present.h"
#include "controller_util.h"
#include "model.h"

#include <stdlib.h>

void present_images_free(present_images *l)
{
    for (int i = 0; i < l->count; i++)
        free(l->pixels[i]);
    free(l->pixels);
    free(l->height);
    free(l->width);
}

/* Image i at its own size (reading at its own size copies it unresampled),
 * refused by file when a pixel is not a luminance the gamma table can show. */
static int read_own_size(image_set *set, int i, present_images *l, char *err)
{
    int h, w;
    if (image_set_size(set, i, &h, &w, err))
        return 1;
    float *pixels = malloc((size_t)h * w * sizeof(float));
    if (!pixels)
        return controller_fail(err, "%s: out of memory for a %d x %d image",
                               image_set_path(set, i), w, h);
    if (image_set_read(set, i, 1, h, w, pixels, err)) {
        free(pixels);
        return 1;
    }
    for (size_t p = 0; p < (size_t)h * w; p++)
        if (!(pixels[p] >= 0.0f && pixels[p] <= 1.0f)) {
            controller_fail(err, "%s: value %g at pixel %zu of the set's image %d is "
                            "outside [0,1] (images are luminance)", image_set_path(set, i),
                            pixels[p], p, i);
            free(pixels);
            return 1;
        }
    l->pixels[i] = pixels;
    l->height[i] = h;
    l->width[i] = w;
    l->count = i + 1;
    return 0;
}

int present_images_load(const char *path, present_images *l, char *err)
{
    image_set *set;
    if (image_set_open(&set, path, err))
        return 1;
    int n = image_set_count(set), status = 0;
    if (n > PRESENT_MAX_IMAGES)
        status = controller_fail(err, "%s: %d images, over %d", path, n, PRESENT_MAX_IMAGES);
    else if (grow_resize(&l->pixels, (size_t)n, sizeof *l->pixels) ||
             grow_resize(&l->height, (size_t)n, sizeof *l->height) ||
             grow_resize(&l->width, (size_t)n, sizeof *l->width))
        status = controller_fail(err, "%s: out of memory for %d images", path, n);
    else
        l->capacity = (size_t)n;
    for (int i = 0; i < n && !status; i++)
        status = read_own_size(set, i, l, err);
    image_set_destroy(set);
    return status;
}
