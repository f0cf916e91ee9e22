/* record_crc.h: CRC-32 ranges of a record file in constant time, for the
 * reader's resynchronization (session_record.c). Private to the controller
 * library. The CRC is zlib's crc32 (RECORD.md). */
#ifndef INCEPTION_RECORD_CRC_H
#define INCEPTION_RECORD_CRC_H

#include <stddef.h>
#include <stdint.h>

/* The CRC-32 of every prefix of a buffer, kept at every RECORD_CRC_STRIDE
 * bytes (4 bytes per stride of memory), so that the CRC of any range costs
 * at most two strides of bytes and one zlib crc32_combine (O(log length)),
 * whatever its length. The checkpoints are computed as far as a range asks,
 * each once. */
#define RECORD_CRC_STRIDE 64
typedef struct record_crc_index record_crc_index;

/* NULL when out of memory. The buffer must outlive the index; `data` may be
 * any point of a larger one (ranges are then relative to it). */
record_crc_index *record_crc_index_create(const unsigned char *data, size_t size);
/* crc32(data[from .. to)), from <= to <= size. */
uint32_t record_crc_index_range(record_crc_index *x, size_t from, size_t to);
void record_crc_index_destroy(record_crc_index *x);

#endif
