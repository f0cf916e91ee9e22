/* record_payload.c: the session record's payload encoding, a list of named,
 * typed fields (controller/record/RECORD.md), so that a reader needs no table of
 * layouts per record type and later versions can add fields freely.
 *
 *   u8 name_length, name bytes, u8 dtype, u8 ndim, u32 shape[ndim], data
 *
 * All little-endian; data is product(shape) items of the dtype's size. */
#include "controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t dtype_size(int dtype)
{
    switch (dtype) {
    case RECORD_I64:
    case RECORD_U64:
    case RECORD_F64:
        return 8;
    case RECORD_F32:
    case RECORD_I32:
        return 4;
    case RECORD_U8:
    case RECORD_TEXT:
    case RECORD_BYTES:
        return 1;
    }
    return 0;
}

void record_payload_init(record_payload *p)
{
    memset(p, 0, sizeof *p);
}

void record_payload_reset(record_payload *p)
{
    p->size = 0;
    p->failed = 0;
}

void record_payload_free(record_payload *p)
{
    free(p->data);
    record_payload_init(p);
}

static unsigned char *payload_grow(record_payload *p, size_t extra)
{
    if (p->failed || extra > RECORD_MAX_PAYLOAD || p->size + extra > RECORD_MAX_PAYLOAD) {
        p->failed = 1;
        return NULL;
    }
    if (grow_array(&p->data, &p->capacity, p->size + extra, 1, 256)) {
        p->failed = 1;
        return NULL;
    }
    unsigned char *at = p->data + p->size;
    p->size += extra;
    return at;
}

static void put_u32(unsigned char *at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        at[i] = (unsigned char)(v >> (8 * i));
}

/* The machine is little-endian (x86-64, ARM64 as configured by Linux);
 * data is copied as it lies in memory. */
static void payload_field(record_payload *p, const char *name, int dtype, int ndim,
                          const uint32_t *shape, const void *data)
{
    size_t name_length = strlen(name), count = 1;
    if (name_length == 0 || name_length > RECORD_MAX_NAME || ndim < 0 ||
        ndim > RECORD_MAX_DIMS || dtype_size(dtype) == 0) {
        p->failed = 1;
        return;
    }
    for (int i = 0; i < ndim; i++)
        count *= shape[i];
    size_t bytes = count * dtype_size(dtype);
    unsigned char *at = payload_grow(p, 1 + name_length + 2 + 4 * (size_t)ndim + bytes);
    if (!at)
        return;
    *at++ = (unsigned char)name_length;
    memcpy(at, name, name_length);
    at += name_length;
    *at++ = (unsigned char)dtype;
    *at++ = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++, at += 4)
        put_u32(at, shape[i]);
    if (bytes)
        memcpy(at, data, bytes);
}

void record_payload_i64(record_payload *p, const char *name, int64_t value)
{
    payload_field(p, name, RECORD_I64, 0, NULL, &value);
}

void record_payload_u64(record_payload *p, const char *name, uint64_t value)
{
    payload_field(p, name, RECORD_U64, 0, NULL, &value);
}

void record_payload_f64(record_payload *p, const char *name, double value)
{
    payload_field(p, name, RECORD_F64, 0, NULL, &value);
}

void record_payload_text(record_payload *p, const char *name, const char *text)
{
    size_t length = text ? strlen(text) : 0;
    if (length > RECORD_MAX_PAYLOAD) {
        p->failed = 1;
        return;
    }
    uint32_t shape[1] = {(uint32_t)length};
    payload_field(p, name, RECORD_TEXT, 1, shape, text ? text : "");
}

void record_payload_bytes(record_payload *p, const char *name, const void *data, size_t size)
{
    if (size > RECORD_MAX_PAYLOAD) {
        p->failed = 1;
        return;
    }
    uint32_t shape[1] = {(uint32_t)size};
    payload_field(p, name, RECORD_BYTES, 1, shape, data);
}

void record_payload_array(record_payload *p, const char *name, record_dtype dtype, int ndim,
                          const uint32_t *shape, const void *data)
{
    if (dtype == RECORD_TEXT || dtype == RECORD_BYTES) {
        p->failed = 1;
        return;
    }
    payload_field(p, name, dtype, ndim, shape, data);
}

static uint32_t get_u32(const unsigned char *at)
{
    return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 |
           (uint32_t)at[3] << 24;
}

int record_field_next(const unsigned char *payload, size_t size, size_t *offset,
                      record_field *out, char *err)
{
    size_t at = *offset;
    if (at >= size)
        return 1;
    size_t name_length = payload[at];
    if (name_length == 0 || size - at < 1 + name_length + 2) {
        controller_fail(err, "payload offset %zu: field header cut short", at);
        return -1;
    }
    memset(out, 0, sizeof *out);
    memcpy(out->name, payload + at + 1, name_length);
    at += 1 + name_length;
    out->dtype = payload[at];
    out->ndim = payload[at + 1];
    at += 2;
    size_t item = dtype_size(out->dtype);
    if (item == 0 || out->ndim > RECORD_MAX_DIMS ||
        ((out->dtype == RECORD_TEXT || out->dtype == RECORD_BYTES) && out->ndim != 1)) {
        controller_fail(err, "field '%s': bad dtype %d or %d dimensions", out->name,
                        out->dtype, out->ndim);
        return -1;
    }
    if (size - at < 4 * (size_t)out->ndim) {
        controller_fail(err, "field '%s': shape cut short", out->name);
        return -1;
    }
    /* Products are checked against what is left, so nothing can overflow. */
    size_t count = 1, left = size - at - 4 * (size_t)out->ndim;
    for (int i = 0; i < out->ndim; i++) {
        out->shape[i] = get_u32(payload + at + 4 * (size_t)i);
        if (out->shape[i] && count > left / out->shape[i]) {
            count = left + 1;
            break;
        }
        count *= out->shape[i];
    }
    at += 4 * (size_t)out->ndim;
    if (count > left / item) {
        controller_fail(err, "field '%s': data runs past the payload", out->name);
        return -1;
    }
    out->count = count;
    out->data = payload + at;
    *offset = at + count * item;
    return 0;
}

int record_field_find(const unsigned char *payload, size_t size, const char *name,
                      record_field *out)
{
    size_t offset = 0;
    char err[CONTROLLER_ERR_SIZE];
    while (record_field_next(payload, size, &offset, out, err) == 0)
        if (!strcmp(out->name, name))
            return 0;
    return 1;
}

int record_get_i64(const unsigned char *payload, size_t size, const char *name, int64_t *out)
{
    record_field f;
    if (record_field_find(payload, size, name, &f) || f.ndim != 0)
        return 1;
    if (f.dtype == RECORD_I64 || f.dtype == RECORD_U64) {
        memcpy(out, f.data, 8);
        return 0;
    }
    if (f.dtype == RECORD_I32) {
        int32_t v;
        memcpy(&v, f.data, 4);
        *out = v;
        return 0;
    }
    return 1;
}

int record_get_f64(const unsigned char *payload, size_t size, const char *name, double *out)
{
    record_field f;
    if (record_field_find(payload, size, name, &f) || f.ndim != 0)
        return 1;
    if (f.dtype == RECORD_F64) {
        memcpy(out, f.data, 8);
    } else if (f.dtype == RECORD_F32) {
        float v;
        memcpy(&v, f.data, 4);
        *out = v;
    } else {
        int64_t v;
        if (record_get_i64(payload, size, name, &v))
            return 1;
        *out = f.dtype == RECORD_U64 ? (double)(uint64_t)v : (double)v;
    }
    return 0;
}

int record_get_text(const unsigned char *payload, size_t size, const char *name, char *out,
                    size_t capacity)
{
    record_field f;
    if (capacity == 0 || record_field_find(payload, size, name, &f) || f.dtype != RECORD_TEXT)
        return 1;
    size_t n = f.count < capacity - 1 ? f.count : capacity - 1;
    memcpy(out, f.data, n);
    out[n] = '\0';
    return 0;
}
