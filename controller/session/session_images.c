/* session_images.c: a session's natural images, made from its protocol and
 * checked against its record (controller.h, "Session images").
 *
 * A natural image is never lost with its stimulus record: the protocol in
 * session_start says where the images come from and the seed that picks
 * them, so they can be made again. What cannot be taken on trust is that
 * they come out the same (an image folder or NPY file edited since, the
 * photos installed since): every stimulus record carries its pixels' SHA-256
 * and every schedule record the shown image's (RECORD.md, "Content
 * hashes"), so each image made again is compared with what the record holds
 * of it, and the first that differs is refused by name. */
#include "session/session.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* What the record says */

int session_image_log_create(session_image_log *l, int count, char *err)
{
    memset(l, 0, sizeof *l);
    l->highest_recorded = -1;
    if (count < 0)
        return controller_fail(err, "a protocol with %d natural images", count);
    l->state = calloc((size_t)(count ? count : 1), 1);
    l->sha256 = calloc((size_t)(count ? count : 1), SHA256_SIZE);
    l->samples_sha256 = calloc((size_t)(count ? count : 1), SHA256_SIZE);
    if (!l->state || !l->sha256 || !l->samples_sha256) {
        session_image_log_free(l);
        return controller_fail(err, "out of memory for the hashes of %d natural images", count);
    }
    l->count = count;
    return 0;
}

void session_image_log_free(session_image_log *l)
{
    if (!l)
        return;
    free(l->state);
    free(l->sha256);
    free(l->samples_sha256);
    memset(l, 0, sizeof *l);
    l->highest_recorded = -1;
}

int session_image_recorded(const session_image_log *l, int id)
{
    return l && id >= 0 && id < l->count && (l->state[id] & SESSION_IMAGE_RECORDED);
}

static void log_hash(session_image_log *l, int id, const uint8_t *digest)
{
    uint8_t *known = l->sha256 + (size_t)id * SHA256_SIZE;
    if (!(l->state[id] & SESSION_IMAGE_HASHED)) {
        memcpy(known, digest, SHA256_SIZE);
        l->state[id] |= SESSION_IMAGE_HASHED;
    } else if (memcmp(known, digest, SHA256_SIZE)) {
        l->state[id] |= SESSION_IMAGE_CONFLICT;
    }
}

/* The id, if a natural image's and one of the log's. */
static int logged_id(const session_image_log *l, const char *kind, int64_t id)
{
    return strcmp(kind, STIMULUS_KIND_NAME_NATURAL) || id < 0 || id >= l->count ? -1 : (int)id;
}

static void log_stimulus(session_image_log *l, const record_view *v)
{
    record_stimulus st;
    char err[CONTROLLER_ERR_SIZE];
    if (record_stimulus_read(v, &st, err))
        return;
    int id = logged_id(l, st.kind, st.stimulus_id);
    if (id >= 0) {
        l->state[id] |= SESSION_IMAGE_RECORDED;
        if (id > l->highest_recorded)
            l->highest_recorded = id;
        if (st.pixels_sha256) {
            log_hash(l, id, st.pixels_sha256);
        } else {
            /* Written before hashes: the pixels' own, as they are stored. */
            uint8_t digest[SHA256_SIZE];
            record_pixels_sha256(st.pixels, st.height, st.width, digest);
            log_hash(l, id, digest);
        }
        if (st.samples) { /* audio: the clip as played, which its CRC vouches for */
            record_pixels_sha256(st.samples, 1, st.sample_count,
                                 l->samples_sha256 + (size_t)id * SHA256_SIZE);
            l->state[id] |= SESSION_IMAGE_SAMPLES;
        }
    }
    free(st.decoded);
}

static void log_schedule(session_image_log *l, const record_view *v)
{
    record_schedule_entry e;
    char err[CONTROLLER_ERR_SIZE];
    if (record_schedule_read(v, &e, err))
        return;
    int id = logged_id(l, e.kind, e.image_id);
    if (id >= 0) {
        l->state[id] |= SESSION_IMAGE_SHOWN;
        if (e.image_sha256)
            log_hash(l, id, e.image_sha256);
    }
    free(e.decoded);
}

void session_image_log_add(session_image_log *l, const record_view *v)
{
    if (v->type == RECORD_STIMULUS)
        log_stimulus(l, v);
    else if (v->type == RECORD_SCHEDULE)
        log_schedule(l, v);
}

/* ------------------------------------------------------------------------ */
/* Making them */

/* What a natural stimulus is called in messages: an audio session's are clips. */
static const char *stimulus_word(const protocol *p)
{
    return p->modality == PROTOCOL_MODALITY_AUDIO ? "clip" : "image";
}

/* Where the images come from, for messages. */
static void describe_source(const protocol *p, char *out, size_t size)
{
    const protocol_images *im = &p->images;
    unsigned long long seed = (unsigned long long)p->seed;
    if (p->modality == PROTOCOL_MODALITY_AUDIO && p->sounds.source == PROTOCOL_SOUNDS_FOLDER)
        snprintf(out, size, "the sound files of the folder %s", p->sounds.path);
    else if (p->modality == PROTOCOL_MODALITY_AUDIO)
        snprintf(out, size, "synthetic clips (clip_synthetic), seed %llu", seed);
    else if (im->source == PROTOCOL_IMAGES_NPY)
        snprintf(out, size, "the NPY file %s", im->path);
    else if (im->source == PROTOCOL_IMAGES_FOLDER)
        snprintf(out, size, "the files of the folder %s, each one image, seed %llu", im->path,
                 seed);
    else if (im->source == PROTOCOL_IMAGES_PATCHES)
        snprintf(out, size, "patches of the files in %s, seed %llu", im->path, seed);
    else if (im->source == PROTOCOL_IMAGES_PHOTOS && photo_default_folder())
        snprintf(out, size, "the photos in %s, seed %llu", photo_default_folder(), seed);
    else if (im->source == PROTOCOL_IMAGES_PHOTOS)
        snprintf(out, size, "synthetic images (no photos installed), seed %llu", seed);
    else
        snprintf(out, size, "synthetic images, seed %llu", seed);
}

/* describe_source, and for a clip of sound files the file it comes from
 * now (a changed file named). */
static void describe_clip_source(const protocol *p, int id, char *out, size_t size)
{
    describe_source(p, out, size);
    char name[PROTOCOL_STRING_SIZE];
    size_t used = strlen(out);
    if (p->modality == PROTOCOL_MODALITY_AUDIO && p->sounds.source == PROTOCOL_SOUNDS_FOLDER &&
        !session_clip_file(p, id, name, sizeof name) && used < size)
        snprintf(out + used, size - used, " (clip %d from the file %s)", id, name);
}

/* Source `folder`: each file one image. Image i is file order[i] of the
 * folder's files (image_set: byte order of names) shuffled by the seed, so
 * that no file is two images (no image in two tiers: ids 0..train-1 train,
 * then test) and image i does not depend on how many are made; each is
 * resized to the model's size by images_resize (the centre cropped to the
 * model's aspect ratio, then area-averaged, or bilinear when enlarging). */
static int folder_images(const char *folder, int count, int H, int W, uint64_t seed, float *out,
                         char *err)
{
    image_set *set;
    char merr[MODEL_ERR_SIZE];
    if (image_set_open(&set, folder, merr))
        return controller_fail(err, "%s", merr);
    int files = image_set_count(set), status = 0;
    int64_t *order = malloc((size_t)(files ? files : 1) * sizeof *order);
    if (!order)
        status = controller_fail(err, "out of memory for the order of %d images", files);
    else if (files < count)
        status = controller_fail(err, "%s holds %d images; the protocol shows %d (images.train + "
                      "images.test), each file once (images.source patches cuts patches)",
                      folder, files, count);
    if (!status) {
        for (int i = 0; i < files; i++)
            order[i] = i;
        model_rng rng;
        model_rng_seed(&rng, seed);
        model_rng_shuffle_i64(&rng, order, files);
    }
    for (int i = 0; !status && i < count; i++)
        if (image_set_read(set, (int)order[i], 1, H, W, out + (size_t)i * H * W, merr))
            status = controller_fail(err, "%s", merr);
    free(order);
    image_set_destroy(set);
    return status;
}

/* Audio: the natural clips (into `clips`, or scratch when NULL) and their
 * cochleagrams, the model's input images (session_sounds.c). */
static int make_clips(const protocol *p, float *images, float *clips, int count, char *err)
{
    float *own = clips ? NULL
                       : malloc((size_t)(count ? count : 1) * (size_t)session_sound_samples(p) *
                                sizeof(float));
    if (!clips && !own)
        return controller_fail(err, "out of memory for %d natural clips", count);
    int status = session_natural_clips(p, count, clips ? clips : own, images, err);
    free(own);
    return status;
}

static int make_images(const protocol *p, float *out, int count, char *err)
{
    const protocol_images *im = &p->images;
    int H = im->height, W = im->width;
    char merr[MODEL_ERR_SIZE];
    uint64_t seed = p->seed * 1000003u + 17u;
    if (im->source == PROTOCOL_IMAGES_SYNTHETIC ||
        (im->source == PROTOCOL_IMAGES_PHOTOS && !photo_default_folder())) {
        sim_natural_images(out, count, H, W, seed);
        return 0;
    }
    if (im->source == PROTOCOL_IMAGES_FOLDER)
        return folder_images(im->path, count, H, W, seed, out, err);
    if (im->source == PROTOCOL_IMAGES_PHOTOS || im->source == PROTOCOL_IMAGES_PATCHES) {
        const char *folder =
            im->source == PROTOCOL_IMAGES_PHOTOS ? photo_default_folder() : im->path;
        return photo_patches(folder, count, H, W, seed, out, merr) ? controller_fail(err, "%s", merr) : 0;
    }
    npy_array a;
    if (npy_read(im->path, &a, merr))
        return controller_fail(err, "%s", merr);
    int status = 0;
    if (a.ndim != 3 || a.shape[0] < count || a.shape[1] != H || a.shape[2] != W) {
        status = controller_fail(err, "%s: want N×%d×%d with N >= %d images", im->path, H, W, count);
    } else {
        float *f = npy_to_float32(&a, merr);
        if (!f)
            status = controller_fail(err, "%s", merr);
        else
            memcpy(out, f, (size_t)count * (size_t)H * (size_t)W * sizeof(float));
        free(f);
        /* One NaN pixel would make every prediction for its image NaN, found
         * only after the recording: refused here, named. */
        for (size_t i = 0; !status && i < (size_t)count * (size_t)H * (size_t)W; i++)
            if (!isfinite(out[i]))
                status = controller_fail(err, "%s: image %zu, row %zu, column %zu is %g: pixels must be "
                                         "finite", im->path, i / ((size_t)H * (size_t)W),
                                         i % ((size_t)H * (size_t)W) / (size_t)W, i % (size_t)W,
                                         (double)out[i]);
    }
    npy_free(&a);
    return status;
}

/* Appends ", id" to a list, "..." once it is full. */
static void list_id(char *list, int id)
{
    size_t used = strlen(list);
    if (used + 16 >= SESSION_IMAGE_IDS_SIZE) {
        if (used < 3 || strcmp(list + used - 3, "..."))
            snprintf(list + used, SESSION_IMAGE_IDS_SIZE - used, "%s...", used ? ", " : "");
        return;
    }
    snprintf(list + used, SESSION_IMAGE_IDS_SIZE - used, "%s%d", used ? ", " : "", id);
}

/* Audio: clip `id` made again against the samples its intact stimulus
 * record holds (their SHA-256), which its cochleagram's hash cannot tell
 * from the clip negated. */
static int check_samples(const protocol *p, const session_image_log *l, const float *clips,
                         int id, char *err)
{
    int S = session_sound_samples(p);
    uint8_t digest[SHA256_SIZE];
    record_pixels_sha256(clips + (size_t)id * (size_t)S, 1, S, digest);
    if (!memcmp(digest, l->samples_sha256 + (size_t)id * SHA256_SIZE, SHA256_SIZE))
        return 0;
    char source[2 * PROTOCOL_STRING_SIZE + 64];
    describe_clip_source(p, id, source, sizeof source);
    return controller_fail(err, "clip %d differs from the recorded one: made again from %s, "
                           "its samples are not those its stimulus record holds: the clips "
                           "are not those the session was recorded with", id, source);
}

static int check_against(const protocol *p, const session_image_log *l, const float *out,
                         const float *clips, session_image_repair *r, char *err)
{
    int H, W;
    const char *word = stimulus_word(p);
    if (session_natural_size(p, &H, &W, err))
        return 1;
    for (int id = 0; id < l->count; id++) {
        uint8_t st = l->state[id];
        if (st & SESSION_IMAGE_CONFLICT)
            return controller_fail(err, "%s %d: the record holds two different SHA-256 for it",
                                   word, id);
        if (clips && (st & SESSION_IMAGE_SAMPLES) && check_samples(p, l, clips, id, err))
            return 1;
        if (st & SESSION_IMAGE_HASHED) {
            uint8_t digest[SHA256_SIZE];
            record_pixels_sha256(out + (size_t)id * (size_t)H * (size_t)W, H, W, digest);
            const uint8_t *want = l->sha256 + (size_t)id * SHA256_SIZE;
            if (memcmp(digest, want, SHA256_SIZE)) {
                char source[2 * PROTOCOL_STRING_SIZE + 64], got_hex[65], want_hex[65];
                describe_clip_source(p, id, source, sizeof source);
                sha256_hex(digest, got_hex);
                sha256_hex(want, want_hex);
                return controller_fail(err, "%s %d differs from the recorded one: made again from %s, "
                                       "its SHA-256 is %.12s..., the record's %.12s...: the %ss are "
                                       "not those the session was recorded with", word, id, source,
                                       got_hex, want_hex, word);
            }
            r->checked++;
        }
        int lost = !(st & SESSION_IMAGE_RECORDED) &&
                   ((st & SESSION_IMAGE_SHOWN) || id < l->highest_recorded);
        if (lost) {
            r->rebuilt++;
            list_id(r->rebuilt_ids, id);
            if (!(st & SESSION_IMAGE_HASHED)) {
                r->unverified++;
                list_id(r->unverified_ids, id);
            }
        }
    }
    return 0;
}

int session_natural_size(const protocol *p, int *height, int *width, char *err)
{
    if (p->modality == PROTOCOL_MODALITY_AUDIO)
        return session_sound_image_size(p, height, width, err);
    *height = p->images.height;
    *width = p->images.width;
    return 0;
}

int session_natural_stimuli(const protocol *p, int count, const session_image_log *recorded,
                            float *out, float *clips, session_image_repair *repair, char *err)
{
    session_image_repair ignored;
    session_image_repair *r = repair ? repair : &ignored;
    memset(r, 0, sizeof *r);
    int audio = p->modality == PROTOCOL_MODALITY_AUDIO;
    assert(audio || !clips); /* only sounds have samples */
    if (count < 0 || count > p->images.train + p->images.test ||
        (recorded && recorded->count != count))
        return controller_fail(err, "%d natural images asked of a protocol with %d (%s)", count,
                               p->images.train + p->images.test, "internal");
    if (audio ? make_clips(p, out, clips, count, err) : make_images(p, out, count, err))
        return 1;
    return recorded ? check_against(p, recorded, out, clips, r, err) : 0;
}

int session_natural_images(const protocol *p, int count, const session_image_log *recorded,
                           float *out, session_image_repair *repair, char *err)
{
    return session_natural_stimuli(p, count, recorded, out, NULL, repair, err);
}

int session_image_repair_note(const session_image_repair *r, const protocol *p, char *out,
                              size_t size)
{
    if (!r->rebuilt)
        return 0;
    char source[PROTOCOL_STRING_SIZE + 64], unverified[SESSION_IMAGE_IDS_SIZE + 128] = "";
    const char *word = stimulus_word(p);
    describe_source(p, source, sizeof source);
    if (r->unverified)
        snprintf(unverified, sizeof unverified, "; %d not verified (%s%s %s): the record "
                 "holds no hash for %s (written before stimulus hashes)%s%s%s", r->unverified,
                 word, r->unverified > 1 ? "s" : "", r->unverified_ids,
                 r->unverified > 1 ? "them" : "it",
                 r->checked ? ", those it holds for the other " : " nor for any other ", word,
                 r->checked ? "s match" : "");
    /* A clip's hash is its cochleagram's (the stimulus record's pixels). */
    snprintf(out, size, "repaired: %d natural stimulus record%s lost to damage (%s%s %s) "
             "made again from %s, %d verified against the record's SHA-256%s%s",
             r->rebuilt, r->rebuilt > 1 ? "s" : "", word, r->rebuilt > 1 ? "s" : "",
             r->rebuilt_ids, source, r->rebuilt - r->unverified,
             p->modality == PROTOCOL_MODALITY_AUDIO ? " of the cochleagram" : "", unverified);
    return 1;
}

int session_natural_tiers(const protocol *p, uint8_t *tier, model_rng *rng, char *err)
{
    const protocol_images *im = &p->images;
    int64_t *order = malloc((size_t)(im->train ? im->train : 1) * sizeof(int64_t));
    if (!order)
        return controller_fail(err, "out of memory for the tiers of %d images", im->train);
    model_rng_seed(rng, p->seed);
    int n_val = (int)((double)im->train * (double)im->validation_fraction + 0.5);
    for (int i = 0; i < im->train; i++)
        order[i] = i;
    model_rng_shuffle_i64(rng, order, im->train);
    for (int i = 0; i < im->train + im->test; i++)
        tier[i] = i >= im->train ? TIER_TEST : TIER_TRAIN;
    for (int i = 0; i < n_val; i++)
        tier[order[i]] = TIER_VALIDATION;
    free(order);
    return 0;
}
