/* model_file.c: saving and loading fitted models.
 *
 * Format, version 2 (docs/model-file.md), all little-endian:
 *   8 bytes   magic "INCMODEL"
 *   u32       format version (2; version 1 is still read; 3 for a model with a
 *             normalization stage, which version 2 cannot describe)
 *   u32       kind, height, width, neurons, layers, channels,
 *             kernel[MODEL_MAX_LAYERS], batch_norm, readout, features
 *   f32       init_sigma, init_mu_range
 *   u64       seed
 *   f32       input_mean, input_std
 *   u64       parameter count, buffer count
 *   u32       writer length n (0..MODEL_WRITER_MAX; version 2 only)
 *   n bytes   writer: which program wrote the file, UTF-8, no NUL (version 2 only)
 *   f32       normalization pool σ in px, > 0 (version 3 only: the divisive
 *             normalization's parameters follow the core's, docs/model.md)
 *   f32 ×     parameters, then buffers (batch-norm running statistics)
 *   u32       CRC-32 (IEEE, zlib's crc32) of every byte before it
 * The file is checked whole (size, checksum, configuration, counts) before
 * anything is allocated from it, so a damaged file is an error, not a crash;
 * then every number it holds must be finite (and the batch-norm variances
 * non-negative, the input std above MODEL_INPUT_STD_MIN), or it is refused
 * naming the value: a checksum proves only that the bytes are as written. */
#include "network.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MODEL_MAGIC "INCMODEL"
#define MODEL_FILE_VERSION 2u
/* Version 2 and the normalization pool: written only for a model with that
 * stage, so that every other model's file stays version 2, byte for byte. */
#define MODEL_FILE_VERSION_NORMALIZED 3u
/* Version 1 had no writer field; it is read still (a writer of ""). */
#define MODEL_FILE_VERSION_NO_WRITER 1u
#define HEADER_U32_FIELDS (6 + MODEL_MAX_LAYERS + 3)
#define HEADER_SIZE (8 + 4 + 4 * HEADER_U32_FIELDS + 4 * 2 + 8 + 4 * 2 + 8 * 2)

/* Little-endian writers and readers over a byte cursor. */
typedef struct cursor {
    unsigned char *p;
    const unsigned char *r;
} cursor;

static void put_u32(cursor *c, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *c->p++ = (unsigned char)(v >> (8 * i));
}

static void put_u64(cursor *c, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *c->p++ = (unsigned char)(v >> (8 * i));
}

static void put_f32(cursor *c, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(c, v);
}

static uint32_t get_u32(cursor *c)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)*c->r++ << (8 * i);
    return v;
}

static uint64_t get_u64(cursor *c)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)*c->r++ << (8 * i);
    return v;
}

static float get_f32(cursor *c)
{
    uint32_t v = get_u32(c);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

int model_save(const model *m, const char *path, char *err)
{
    size_t writer_len = strlen(m->writer);
    assert(writer_len <= MODEL_WRITER_MAX);
    int normalized = m->cfg.normalization_pool > 0.0f;
    size_t total = HEADER_SIZE + 4 + writer_len + 4 * (size_t)normalized +
                   4 * (m->n_params + m->n_buffers) + 4;
    unsigned char *bytes = malloc(total);
    if (!bytes)
        return model_fail(err, "%s: out of memory", path);
    const model_config *c = &m->cfg;
    cursor w = {bytes, NULL};
    memcpy(w.p, MODEL_MAGIC, 8);
    w.p += 8;
    put_u32(&w, normalized ? MODEL_FILE_VERSION_NORMALIZED : MODEL_FILE_VERSION);
    uint32_t fields[HEADER_U32_FIELDS] = {(uint32_t)c->kind, (uint32_t)c->height,
                                          (uint32_t)c->width, (uint32_t)c->neurons,
                                          (uint32_t)c->layers, (uint32_t)c->channels};
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        fields[6 + l] = (uint32_t)c->kernel[l];
    fields[6 + MODEL_MAX_LAYERS] = (uint32_t)c->batch_norm;
    fields[7 + MODEL_MAX_LAYERS] = (uint32_t)c->readout;
    fields[8 + MODEL_MAX_LAYERS] = (uint32_t)c->features;
    for (int i = 0; i < HEADER_U32_FIELDS; i++)
        put_u32(&w, fields[i]);
    put_f32(&w, c->init_sigma);
    put_f32(&w, c->init_mu_range);
    put_u64(&w, c->seed);
    put_f32(&w, m->input_mean);
    put_f32(&w, m->input_std);
    put_u64(&w, m->n_params);
    put_u64(&w, m->n_buffers);
    put_u32(&w, (uint32_t)writer_len);
    memcpy(w.p, m->writer, writer_len);
    w.p += writer_len;
    if (normalized)
        put_f32(&w, c->normalization_pool);
    for (size_t i = 0; i < m->n_params; i++)
        put_f32(&w, m->params[i]);
    for (size_t i = 0; i < m->n_buffers; i++)
        put_f32(&w, m->buffers[i]);
    put_u32(&w, (uint32_t)crc32_z(0, bytes, total - 4));
    assert(w.p == bytes + total);

    /* Write to a temporary name and rename, so a crash never leaves a
     * half-written model under the real name. */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(bytes);
        return model_fail(err, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(bytes, 1, total, f) == total;
    ok = f && fflush(f) == 0 && ok;
    if (f && fclose(f) != 0)
        ok = 0;
    free(bytes);
    if (!ok || rename(tmp, path) != 0) {
        model_fail(err, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return 1;
    }
    return 0;
}

/* The first bad value of a buffer of n floats: its index, or -1 when every
 * one is finite (and, with `positive`, above zero; with `non_negative`, at
 * or above it). */
static long bad_value(const float *v, size_t n, int non_negative, int positive)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (non_negative && v[i] < 0.0f) || (positive && !(v[i] > 0.0f)))
            return (long)i;
    return -1;
}

/* Buffers are not trained, so the parameter check above does not cover them,
 * yet a NaN running variance (or a negative one: sqrt(var + eps) of it is
 * NaN) makes every prediction NaN. Each is refused by name. */
static int check_buffers(const model *m, char *err)
{
    const model_config *c = &m->cfg;
    if (c->kind == MODEL_LNP) {
        size_t D = (size_t)m->lnp_dim;
        long i = bad_value(m->lnp_feature_mean, D, 0, 0);
        if (i >= 0)
            return model_fail(err, "model file holds a non-finite LNP feature mean "
                              "(feature %ld: %g)", i, (double)m->lnp_feature_mean[i]);
        if ((i = bad_value(m->lnp_feature_scale, D, 0, 1)) >= 0)
            return model_fail(err, "model file holds an LNP feature scale that is not "
                              "finite and positive (feature %ld: %g)", i,
                              (double)m->lnp_feature_scale[i]);
        return 0;
    }
    for (int l = 0; c->batch_norm && l < c->layers; l++) {
        const conv_layer *L = &m->conv[l];
        long i = bad_value(L->running_mean, (size_t)L->cout, 0, 0);
        if (i >= 0)
            return model_fail(err, "model file holds a non-finite batch-norm running "
                              "mean (layer %d, channel %ld: %g)", l + 1, i,
                              (double)L->running_mean[i]);
        if ((i = bad_value(L->running_var, (size_t)L->cout, 1, 0)) >= 0)
            return model_fail(err, "model file holds a batch-norm running variance that "
                              "is not finite and non-negative (layer %d, channel %ld: %g)",
                              l + 1, i, (double)L->running_var[i]);
    }
    return 0;
}

int model_load_bytes(model **out, const unsigned char *bytes, size_t size, char *err)
{
    *out = NULL;
    if (size < 8 || memcmp(bytes, MODEL_MAGIC, 8) != 0)
        return model_fail(err, "not an inception model file (bad magic)");
    if (size < HEADER_SIZE + 4)
        return model_fail(err, "truncated model file (%zu bytes, header needs %d)", size,
                          HEADER_SIZE + 4);
    cursor r = {NULL, bytes + 8};
    uint32_t version = get_u32(&r);
    if (version != MODEL_FILE_VERSION && version != MODEL_FILE_VERSION_NO_WRITER &&
        version != MODEL_FILE_VERSION_NORMALIZED)
        return model_fail(err, "model file version %u; this build reads versions %u "
                          "to %u", version, MODEL_FILE_VERSION_NO_WRITER,
                          MODEL_FILE_VERSION_NORMALIZED);
    uint32_t stored_crc = (uint32_t)bytes[size - 4] | (uint32_t)bytes[size - 3] << 8 |
                          (uint32_t)bytes[size - 2] << 16 | (uint32_t)bytes[size - 1] << 24;
    /* Fuzzing builds skip the checksum so the fuzzer reaches the parser. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if ((uint32_t)crc32_z(0, bytes, size - 4) != stored_crc)
        return model_fail(err, "model file is corrupt or truncated (checksum mismatch)");
#else
    (void)stored_crc;
#endif
    uint32_t fields[HEADER_U32_FIELDS];
    for (int i = 0; i < HEADER_U32_FIELDS; i++)
        fields[i] = get_u32(&r);
    for (int i = 0; i < HEADER_U32_FIELDS; i++) {
        if (fields[i] > 0x7FFFFFFFu)
            return model_fail(err, "model file header field %d out of range", i);
    }
    model_config c;
    memset(&c, 0, sizeof c);
    c.kind = (model_kind)fields[0];
    c.height = (int)fields[1];
    c.width = (int)fields[2];
    c.neurons = (int)fields[3];
    c.layers = (int)fields[4];
    c.channels = (int)fields[5];
    for (int l = 0; l < MODEL_MAX_LAYERS; l++)
        c.kernel[l] = (int)fields[6 + l];
    c.batch_norm = (int)fields[6 + MODEL_MAX_LAYERS];
    c.readout = (readout_kind)fields[7 + MODEL_MAX_LAYERS];
    c.features = (lnp_features)fields[8 + MODEL_MAX_LAYERS];
    c.init_sigma = get_f32(&r);
    c.init_mu_range = get_f32(&r);
    c.seed = get_u64(&r);
    float input_mean = get_f32(&r), input_std = get_f32(&r);
    uint64_t n_params = get_u64(&r), n_buffers = get_u64(&r);
    /* Version 2's writer: its length in range and inside the file before
     * anything is read from it (the checksum above already covers it). */
    char writer[MODEL_WRITER_MAX + 1] = "";
    size_t writer_field = 0;
    if (version != MODEL_FILE_VERSION_NO_WRITER) {
        if (size < HEADER_SIZE + 4 + 4)
            return model_fail(err, "truncated model file (%zu bytes, header needs %d)",
                              size, HEADER_SIZE + 4 + 4);
        uint32_t writer_len = get_u32(&r);
        if (writer_len > MODEL_WRITER_MAX || writer_len > size - (HEADER_SIZE + 4 + 4))
            return model_fail(err, "model file's writer length %u out of range "
                              "(at most %d bytes, within the file)", writer_len, MODEL_WRITER_MAX);
        if (memchr(r.r, 0, writer_len))
            return model_fail(err, "model file's writer text holds a NUL byte");
        memcpy(writer, r.r, writer_len);
        writer[writer_len] = '\0';
        r.r += writer_len;
        writer_field = 4 + (size_t)writer_len;
    }
    if (version == MODEL_FILE_VERSION_NORMALIZED) {
        if (size < HEADER_SIZE + writer_field + 4 + 4)
            return model_fail(err, "truncated model file (%zu bytes, header needs %zu)", size,
                              HEADER_SIZE + writer_field + 4 + 4);
        c.normalization_pool = get_f32(&r);
        writer_field += 4;
        /* version 3 says the stage is there: a pool of 0 would be version 2 */
        if (!(c.normalization_pool > 0.0f))
            return model_fail(err, "model file version 3 with a normalization pool of %g px "
                              "(must be above 0)", (double)c.normalization_pool);
    }
    char why[MODEL_ERR_SIZE];
    if (model_config_validate(&c, why))
        return model_fail(err, "model file has an invalid configuration: %.200s", why);
    /* model_set_standardization never keeps a std at or below 1e-6 (it
     * stores 1 instead), so a smaller one was not written by us; near zero its
     * reciprocal overflows and every prediction is NaN. */
    if (!isfinite(input_mean) || !isfinite(input_std) || !(input_std > MODEL_INPUT_STD_MIN))
        return model_fail(err, "model file has invalid input standardization (mean %g, "
                          "std %g: both must be finite, the std above 1e-6)", (double)input_mean,
                          (double)input_std);
    size_t want_params, want_buffers;
    model_config_sizes(&c, &want_params, &want_buffers);
    if (n_params != want_params || n_buffers != want_buffers ||
        size != HEADER_SIZE + writer_field + 4 * (want_params + want_buffers) + 4) {
        return model_fail(err, "model file size does not match its configuration (%zu bytes, %llu "
                          "parameters; expected %zu bytes, %zu parameters)", size,
                          (unsigned long long)n_params,
                          HEADER_SIZE + writer_field + 4 * (want_params + want_buffers) + 4,
                          want_params);
    }
    model *m;
    if (model_create(&m, &c, err))
        return 1;
    m->input_mean = input_mean;
    m->input_std = input_std;
    memcpy(m->writer, writer, sizeof writer);
    for (size_t i = 0; i < m->n_params; i++)
        m->params[i] = get_f32(&r);
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = get_f32(&r);
    for (size_t i = 0; i < m->n_params; i++) {
        if (!isfinite(m->params[i])) {
            model_destroy(m);
            return model_fail(err, "model file holds a non-finite parameter (#%zu)", i);
        }
    }
    if (check_buffers(m, err)) {
        model_destroy(m);
        return 1;
    }
    model_params_changed(m);
    *out = m;
    return 0;
}

int model_load(model **out, const char *path, char *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return model_fail(err, "%s: %s", path, strerror(errno));
    unsigned char *bytes = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0)
        bytes = malloc(size ? (size_t)size : 1);
    int ok = bytes && fread(bytes, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) {
        free(bytes);
        return model_fail(err, "%s: cannot read", path);
    }
    char why[MODEL_ERR_SIZE];
    int status = model_load_bytes(out, bytes, (size_t)size, why);
    free(bytes);
    if (status)
        model_fail(err, "%.120s: %.130s", path, why);
    return status;
}

int model_set_writer(model *m, const char *text, char *err)
{
    size_t n = strlen(text);
    if (n > MODEL_WRITER_MAX)
        return model_fail(err, "model writer text is %zu bytes; at most %d fit the "
                          "model file", n, MODEL_WRITER_MAX);
    memcpy(m->writer, text, n + 1);
    return 0;
}

const char *model_writer(const model *m) { return m->writer; }
