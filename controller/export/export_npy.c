/* export_npy.c: whole-buffer pread/pwrite, NPY files written in pieces and
 * read back, rows copied in a permuted order (export_internal.h). */
#include "export_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int export_write_at(int fd, const void *buf, size_t n, long long offset)
{
    const char *p = buf;
    while (n) {
        ssize_t put = pwrite(fd, p, n, (off_t)offset);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return 1;
        p += put;
        n -= (size_t)put;
        offset += put;
    }
    return 0;
}

static int read_at(int fd, void *buf, size_t n, long long offset)
{
    char *p = buf;
    while (n) {
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return 1;
        p += got;
        n -= (size_t)got;
        offset += got;
    }
    return 0;
}

int export_npy_create(export_npy *o, const char *path, npy_dtype dtype, int ndim,
                      const int64_t *shape, char *err)
{
    snprintf(o->path, sizeof o->path, "%s", path);
    o->fd = -1;
    if (npy_create(path, dtype, ndim, shape, &o->offset, err))
        return 1;
    o->fd = open(path, O_RDWR);
    if (o->fd < 0)
        return controller_fail(err, "%s: cannot open: %s", path, strerror(errno));
    return 0;
}

int export_npy_close(export_npy *o, char *err)
{
    if (o->fd < 0)
        return 0;
    int rc = close(o->fd);
    o->fd = -1;
    return rc ? controller_fail(err, "%s: close failed: %s", o->path, strerror(errno)) : 0;
}

/* A float32 NPY file the export wrote, opened for reading: the data
 * starts after the preamble (magic, version, header length) and header. */
int export_npy_open_read(export_npy *o, const char *path, char *err)
{
    snprintf(o->path, sizeof o->path, "%s", path);
    o->fd = open(path, O_RDONLY);
    unsigned char pre[12];
    if (o->fd < 0 || read_at(o->fd, pre, sizeof pre, 0) || memcmp(pre + 1, "NUMPY", 5))
        return controller_fail(err, "%s: cannot read back", path);
    long long len = pre[8] | pre[9] << 8;
    if (pre[6] != 1)
        len |= (long long)pre[10] << 16 | (long long)pre[11] << 24;
    o->offset = (pre[6] == 1 ? 10 : 12) + len;
    return 0;
}
/* ------------------------------------------------------------------------ */
/* Rows of a float32 matrix on disk, in a given order. */

int export_read_rows(const export_npy *in, const int64_t *order, long long first, int count,
                     int cols, float *out)
{
    size_t row_bytes = (size_t)cols * sizeof(float);
    if (!order)
        return read_at(in->fd, out, (size_t)count * row_bytes,
                       in->offset + first * (long long)row_bytes);
    for (int i = 0; i < count; i++)
        if (read_at(in->fd, out + (size_t)i * cols, row_bytes,
                    in->offset + order[first + i] * (long long)row_bytes))
            return 1;
    return 0;
}

/* Copy the rows of a float32 NPY file into a new one in permuted order:
 * row i of the copy is row order[i] of the source. */
int export_permute_rows(const char *from, const char *to, const int64_t *order, int ndim,
                        const int64_t *shape, char *err)
{
    long long rows = shape[0], cols = 1;
    for (int d = 1; d < ndim; d++)
        cols *= shape[d];
    export_npy in = {.fd = -1}, out = {.fd = -1};
    float *row = malloc((size_t)cols * sizeof(float));
    int status = 1;
    if (!row || export_npy_open_read(&in, from, err) ||
        export_npy_create(&out, to, NPY_FLOAT32, ndim, shape, err))
        goto done;
    for (long long i = 0; i < rows; i++)
        if (export_read_rows(&in, order, i, 1, (int)cols, row) ||
            export_write_at(out.fd, row, (size_t)cols * sizeof(float),
                     out.offset + i * cols * (long long)sizeof(float))) {
            controller_fail(err, "%s: copying rows failed", to);
            goto done;
        }
    status = 0;
done:
    if (export_npy_close(&in, err) || export_npy_close(&out, err))
        status = 1;
    free(row);
    return status;
}
