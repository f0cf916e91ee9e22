/* record_crc.c: CRC-32 ranges from prefix CRCs (record_crc.h).
 *
 * CRC-32 is affine in its input, so with P(n) = crc32 of the first n bytes,
 * crc32(data[a .. e)) = P(e) ^ shift(P(a), e - a), where shifting multiplies
 * by x^(8(e - a)) modulo the polynomial (reflected bit order, as zlib). The
 * reader's resynchronization checks a candidate record at every magic after
 * damage; computing each candidate's CRC from its bytes cost the length it
 * claims, so a crafted stretch of headers each claiming the rest of the file
 * took quadratic time. From the index each costs a constant. */
#include "record_crc.h"

#include "controller.h" /* record_crc32 */

#include <assert.h>
#include <stdlib.h>

#define POLY 0xEDB88320u /* x^32 + x^26 + ... + 1, reflected */

struct record_crc_index {
    const unsigned char *data; /* from the index's base on */
    size_t size;
    uint32_t *prefix; /* prefix[k] = crc32(data[0 .. k × RECORD_CRC_STRIDE)) */
    size_t filled;    /* prefix[0 .. filled) computed: only as far as asked */
    uint32_t square[64]; /* x^(2^k) modulo POLY: a shift multiplies by a few of them */
};

/* a × b modulo POLY, in the reflected representation (bit 31 is x^0). */
static uint32_t multiply(uint32_t a, uint32_t b)
{
    uint32_t product = 0;
    for (uint32_t m = 1u << 31; m; m >>= 1) {
        if (a & m)
            product ^= b;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return product;
}

/* x^(2^k) for k = 0..63, squared from x^1. */
static void squares(uint32_t square[64])
{
    square[0] = 1u << 30; /* x^1 */
    for (int k = 1; k < 64; k++)
        square[k] = multiply(square[k - 1], square[k - 1]);
}

/* crc × x^(8 bytes): the product of x^(2^k) over the set bits k of 8 × bytes. */
static uint32_t shift(const uint32_t square[64], uint32_t crc, uint64_t bytes)
{
    uint64_t bits = bytes << 3;
    for (int k = 0; bits; k++, bits >>= 1)
        if (bits & 1)
            crc = multiply(square[k], crc);
    return crc;
}

uint32_t record_crc_shift(uint32_t crc, uint64_t bytes)
{
    uint32_t square[64];
    squares(square);
    return shift(square, crc, bytes);
}

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
    squares(x->square);
    return x;
}

/* crc32 of data[0 .. n): the checkpoint below n (computed now if it was not
 * yet: each stride is read once) and the rest of a stride. */
static uint32_t prefix_crc(record_crc_index *x, size_t n)
{
    size_t k = n / RECORD_CRC_STRIDE;
    for (; x->filled <= k; x->filled++)
        x->prefix[x->filled] = record_crc32(x->prefix[x->filled - 1],
                                            x->data + (x->filled - 1) * RECORD_CRC_STRIDE,
                                            RECORD_CRC_STRIDE);
    return record_crc32(x->prefix[k], x->data + k * RECORD_CRC_STRIDE, n - k * RECORD_CRC_STRIDE);
}

uint32_t record_crc_index_range(record_crc_index *x, size_t from, size_t to)
{
    assert(from <= to && to <= x->size);
    return prefix_crc(x, to) ^ shift(x->square, prefix_crc(x, from), to - from);
}

void record_crc_index_destroy(record_crc_index *x)
{
    if (!x)
        return;
    free(x->prefix);
    free(x);
}
