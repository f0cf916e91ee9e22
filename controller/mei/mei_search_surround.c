/* mei_search_surround.c: the centres a surround search works around, read
 * from an `inception mei --kind surround` folder (mei_search.h): its
 * manifest names, per neuron, the MEI's place in stimuli.npy and the mask
 * that is its classical receptive field; the model's own surrounds are
 * kept for comparison. The manifest is a file a person may have edited or
 * cut short, so every field is checked and a bad one refused by name
 * (fuzz_surround_manifest runs this parser over damaged manifests). */
#include "controller.h"
#include "mei_search.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The manifest kinds a surround search reads; any other entry is skipped. */
enum { ROLE_MEI, ROLE_CENTRE, ROLE_MOST, ROLE_LEAST, ROLES };
static const char *const role_kinds[ROLES] = {"mei", "centre", "surround-most",
                                              "surround-least"};

static int role_of(const char *kind)
{
    for (int k = 0; k < ROLES; k++)
        if (!strcmp(kind, role_kinds[k]))
            return k;
    return -1;
}

static int *role_slot(mei_search_centre *c, int role)
{
    int *slots[ROLES] = {&c->mei, &c->centre, &c->surround_most, &c->surround_least};
    return slots[role];
}

/* An integer field within [lo, hi]. */
static int get_int(json_t *o, const char *key, long long lo, long long hi, const char *name,
                   int entry, int *out, char *err)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    if (entry < 0)
        return controller_fail(err, "%s: '%s' must be an integer in %lld..%lld", name, key, lo,
                               hi);
    return controller_fail(err, "%s: stimulus %d: '%s' must be an integer in %lld..%lld", name,
                           entry, key, lo, hi);
}

static int get_real(json_t *o, const char *key, const char *name, int entry, float *out,
                    char *err)
{
    json_t *v = json_object_get(o, key);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if ((!isfinite(x) || fabs(x) > 1e6) && entry < 0)
        return controller_fail(err, "%s: '%s' must be a finite number", name, key);
    if (!isfinite(x) || fabs(x) > 1e6)
        return controller_fail(err, "%s: stimulus %d: '%s' must be a finite number", name,
                               entry, key);
    *out = (float)x;
    return 0;
}

/* The centre entry's mask: its centre may lie anywhere near the image, its
 * radius (where the mask is ½) must be positive. */
static int read_mask(json_t *o, const char *name, int entry, mei_mask *m, char *err)
{
    if (get_real(o, "mask_x", name, entry, &m->x, err) ||
        get_real(o, "mask_y", name, entry, &m->y, err) ||
        get_real(o, "mask_radius", name, entry, &m->radius, err))
        return 1;
    if (!(m->radius > 0.0f))
        return controller_fail(err, "%s: stimulus %d: mask_radius %g must be positive", name,
                               entry, (double)m->radius);
    return 0;
}

/* The centre of `neuron`, added (in the order of first appearance) if new. */
static mei_search_centre *centre_of(mei_search_centre **list, int *count, size_t *cap,
                                    int neuron, char *err)
{
    for (int i = 0; i < *count; i++)
        if ((*list)[i].neuron == neuron)
            return &(*list)[i];
    if (grow_array(list, cap, (size_t)*count + 1, sizeof **list, 16)) {
        controller_fail(err, "out of memory");
        return NULL;
    }
    mei_search_centre *c = &(*list)[(*count)++];
    *c = (mei_search_centre){.neuron = neuron, .mei = -1, .centre = -1, .surround_most = -1,
                             .surround_least = -1};
    return c;
}

static int read_entry(json_t *s, int entry, const char *name, int images,
                      mei_search_centre **list, int *count, size_t *cap, char *err)
{
    if (!json_is_object(s))
        return controller_fail(err, "%s: stimulus %d is not an object", name, entry);
    const char *kind = json_string_value(json_object_get(s, "kind"));
    if (!kind)
        return controller_fail(err, "%s: stimulus %d has no 'kind'", name, entry);
    int role = role_of(kind);
    if (role < 0)
        return 0;
    int neuron, index;
    if (get_int(s, "neuron", 0, 1 << 24, name, entry, &neuron, err) ||
        get_int(s, "index", 0, images - 1, name, entry, &index, err))
        return 1;
    mei_search_centre *c = centre_of(list, count, cap, neuron, err);
    if (!c)
        return 1;
    int *slot = role_slot(c, role);
    if (*slot >= 0)
        return controller_fail(err, "%s: neuron %d has two '%s' stimuli", name, neuron, kind);
    *slot = index;
    return role == ROLE_CENTRE ? read_mask(s, name, entry, &c->mask, err) : 0;
}

/* Every neuron named needs its MEI and its centre (the mask). */
static int check_complete(const mei_search_centre *list, int count, const char *name,
                          char *err)
{
    if (!count)
        return controller_fail(err, "%s has no surround MEIs (write them with `inception mei "
                                    "--kind surround`)", name);
    for (int i = 0; i < count; i++)
        if (list[i].mei < 0 || list[i].centre < 0)
            return controller_fail(err, "%s: neuron %d has no '%s' stimulus: a surround search "
                                        "needs the MEI and its centre (`inception mei --kind "
                                        "surround`)", name, list[i].neuron,
                                   list[i].mei < 0 ? "mei" : "centre");
    return 0;
}

static int read_root(json_t *root, const char *name, int height, int width, int images,
                     mei_search_centre **list, int *count, float *mean_luminance, char *err)
{
    int h = 0, w = 0;
    if (!json_is_object(root))
        return controller_fail(err, "%s: not a JSON object", name);
    if (get_int(root, "height", 1, 1 << 16, name, -1, &h, err) ||
        get_int(root, "width", 1, 1 << 16, name, -1, &w, err))
        return 1;
    if (h != height || w != width)
        return controller_fail(err, "%s: its images are %d×%d, the population's %d×%d", name,
                               h, w, height, width);
    /* The luminance the MEIs were made at (`inception mei` writes it): optional,
     * so that a folder can be checked against the population's images. */
    json_t *mean = json_object_get(root, "mean_luminance");
    *mean_luminance = NAN;
    if (mean && get_real(root, "mean_luminance", name, -1, mean_luminance, err))
        return 1;
    json_t *stimuli = json_object_get(root, "stimuli");
    if (!json_is_array(stimuli))
        return controller_fail(err, "%s has no 'stimuli' list", name);
    size_t cap = 0;
    for (size_t e = 0; e < json_array_size(stimuli); e++)
        if (read_entry(json_array_get(stimuli, e), (int)e, name, images, list, count, &cap,
                       err))
            return 1;
    return check_complete(*list, *count, name, err);
}

int mei_search_centres_parse(const char *text, size_t size, const char *name, int height,
                             int width, int images, mei_search_centre **out, int *count,
                             float *mean_luminance, char *err)
{
    *out = NULL;
    *count = 0;
    json_error_t je;
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return controller_fail(err, "%s: line %d: %s", name, je.line, je.text);
    int status = read_root(root, name, height, width, images, out, count, mean_luminance, err);
    json_decref(root);
    if (status) {
        free(*out);
        *out = NULL;
        *count = 0;
    }
    return status;
}

/* ---- The folder ---------------------------------------------------------- */

static char *read_text(const char *path, size_t *size, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        controller_fail(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (grow_array(&text, &cap, n + 65536, 1, 65536)) {
            controller_fail(err, "out of memory reading %s", path);
            free(text);
            fclose(f);
            return NULL;
        }
        got = fread(text + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        controller_fail(err, "cannot read %s", path);
        free(text);
        return NULL;
    }
    *size = n;
    return text;
}

int mei_search_surround_load(mei_search_surround *out, const char *dir, int height, int width,
                             char *err)
{
    *out = (mei_search_surround){0};
    char path[4096];
    snprintf(path, sizeof path, "%s/stimuli.npy", dir);
    npy_array a;
    if (npy_read(path, &a, err))
        return 1;
    int status = 0;
    if (a.ndim != 3 || a.shape[1] != height || a.shape[2] != width || a.shape[0] < 1)
        status = controller_fail(err, "%s: wants count × %d × %d images", path, height, width);
    else if (!(out->images = npy_to_float32(&a, err)))
        status = 1;
    out->count_images = status ? 0 : (int)a.shape[0];
    npy_free(&a);
    if (status)
        return status;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t size;
    char *text = read_text(path, &size, err);
    status = !text || mei_search_centres_parse(text, size, path, height, width,
                                               out->count_images, &out->centres, &out->count,
                                               &out->mean_luminance, err);
    free(text);
    if (status)
        mei_search_surround_free(out);
    return status;
}

void mei_search_surround_free(mei_search_surround *s)
{
    free(s->images);
    free(s->centres);
    *s = (mei_search_surround){0};
}

const mei_search_centre *mei_search_surround_find(const mei_search_surround *s, int neuron)
{
    for (int i = 0; i < s->count; i++)
        if (s->centres[i].neuron == neuron)
            return &s->centres[i];
    return NULL;
}
