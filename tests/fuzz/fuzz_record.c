/* Fuzz target: any bytes read as a session record yield valid records,
 * reported damage, or the end; never a crash or a read out of bounds. Every
 * record's payload fields are walked and every field's data touched, and
 * every record of a known type is decoded by its schema table (decoded or
 * refused with a reason; nothing leaked). */
#include "controller.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_fields(const record_view *v)
{
    size_t offset = 0;
    record_field f;
    char err[CONTROLLER_ERR_SIZE];
    volatile unsigned char sink = 0;
    int status;
    while ((status = record_field_next(v->payload, v->length, &offset, &f, err)) == 0) {
        if (offset > v->length)
            __builtin_trap();
        size_t bytes = (size_t)((const unsigned char *)v->payload + offset -
                                (const unsigned char *)f.data);
        for (size_t i = 0; i < bytes; i++)
            sink ^= ((const unsigned char *)f.data)[i];
    }
    if (status < 0 && !memchr(err, '\0', sizeof err))
        __builtin_trap();
    (void)sink;
}

static void decode_typed(const record_view *v)
{
    const record_schema *s = record_schema_of(v->type);
    if (!s)
        return;
    _Alignas(max_align_t) unsigned char values[1024];
    char err[CONTROLLER_ERR_SIZE];
    if (s->size > sizeof values)
        __builtin_trap();
    void *decoded;
    if (record_decode(s, v, values, err) != 0) {
        memcpy(&decoded, values + s->size - sizeof decoded, sizeof decoded);
        if (decoded || !memchr(err, '\0', sizeof err))
            __builtin_trap(); /* a refused record owns nothing and says why */
        return;
    }
    memcpy(&decoded, values + s->size - sizeof decoded, sizeof decoded);
    free(decoded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    record_reader *r;
    char err[CONTROLLER_ERR_SIZE];
    if (record_reader_open_memory(data, size, &r, err))
        return 0;
    record_view v;
    int status;
    uint64_t last_offset = 0, steps = 0;
    while ((status = record_reader_next(r, &v, err)) != RECORD_NEXT_END) {
        if (v.offset >= size || (steps++ && v.offset <= last_offset && status == RECORD_NEXT_OK))
            __builtin_trap(); /* the reader always moves forward */
        last_offset = v.offset;
        if (status == RECORD_NEXT_OK) {
            if ((size_t)v.offset + RECORD_HEADER_SIZE + v.length + RECORD_TRAILER_SIZE > size)
                __builtin_trap();
            walk_fields(&v);
            decode_typed(&v);
        }
    }
    record_reader_close(r);
    return 0;
}
