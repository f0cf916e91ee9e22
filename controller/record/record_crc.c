/* record_crc.c: CRC-32 ranges from prefix CRCs (record_crc.h).
 *
 * CRC-32 is affine in its input, so with P(n) = crc32 of the first n bytes,
 * crc32(data[a .. e)) = P(e) ^ shift(P(a), e - a), where shifting multiplies
 * by x^(8(e - a)) modulo the polynomial: zlib's crc32_combine(P(a), 0, e - a)
 * (crc32_combine(c1, c2, n) is shift(c1, n) ^ c2). The reader's
 * resynchronization checks a candidate record at every magic after damage;
 * computing each candidate's CRC from its bytes cost the length it claims,
 * so a crafted stretch of headers each claiming the rest of the file took
 * quadratic time. From the index each costs a constant. */
#include "record_crc.h"

#include <assert.h>
#include <stdlib.h>
#include <zlib.h>

/* zlib's length argument: 64 bits (off_t with meson's large-file default),
 * so a range of any file that can be mapped fits. */
_Static_assert(sizeof(z_off_t) >= 8, "zlib's z_off_t holds any range's length");

struct record_crc_index {
    const unsigned char *data; /* from the index's base on */
    size_t size;
    uint32_t *prefix; /* prefix[k] = crc32(data[0 .. k × RECORD_CRC_STRIDE)) */
    size_t filled;    /* prefix[0 .. filled) computed: only as far as asked */
};

record_crc_index *record_crc_index_create(const unsigned char *data, size_t size)
{
    record_crc_index *x = malloc(sizeof *x);
    size_t count = size / RECORD_CRC_STRIDE + 1;
    if (!x || !(x->prefix = malloc(count * sizeof *x->prefix))) {
        free(x);
        return NULL;
    }
    x->data = data;
    x->size = size;
    x->prefix[0] = 0;
    x->filled = 1;
    return x;
}

/* crc32 of data[0 .. n): the checkpoint below n (computed now if it was not
 * yet: each stride is read once) and the rest of a stride. */
static uint32_t prefix_crc(record_crc_index *x, size_t n)
{
    size_t k = n / RECORD_CRC_STRIDE;
    for (; x->filled <= k; x->filled++)
        x->prefix[x->filled] = (uint32_t)crc32_z(x->prefix[x->filled - 1],
                                                 x->data + (x->filled - 1) * RECORD_CRC_STRIDE,
                                                 RECORD_CRC_STRIDE);
    return (uint32_t)crc32_z(x->prefix[k], x->data + k * RECORD_CRC_STRIDE,
                             n - k * RECORD_CRC_STRIDE);
}

uint32_t record_crc_index_range(record_crc_index *x, size_t from, size_t to)
{
    assert(from <= to && to <= x->size);
    return prefix_crc(x, to) ^
           (uint32_t)crc32_combine(prefix_crc(x, from), 0, (z_off_t)(to - from));
}

void record_crc_index_destroy(record_crc_index *x)
{
    if (!x)
        return;
    free(x->prefix);
    free(x);
}
