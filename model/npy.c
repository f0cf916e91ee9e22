/* npy.c: NumPy's .npy array files, read and written by hand.
 *
 * Layout: the magic "\x93NUMPY", major and minor version bytes, the header
 * length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0), then a Python dict
 * literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n' so the data starts on a 64-byte
 * boundary, then the raw elements in C order.
 *
 * Every input is treated as hostile (npy_parse is a fuzz target): the header
 * is read through a bounded cursor, and sizes are checked for overflow and
 * against the bytes actually present before anything is allocated. */
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Elements are copied byte for byte, which is only right on a little-endian
 * host (every machine this project targets). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_PREAMBLE_MAX 12
/* numpy itself refuses headers over 10,000 bytes by default; a little slack
 * costs nothing and keeps a hostile length from allocating gigabytes. */
#define NPY_HEADER_MAX (1u << 16)
#define NPY_UNICODE_MAX_CHARS (1u << 20)
#define NPY_DESCR_MAX 32

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ------------------------------------------------------------------------ */
/* Preamble: magic, version, header length. */

typedef struct npy_layout {
    int major;
    size_t header_start; /* offset of the dict text */
    size_t header_len;
    size_t data_start;
} npy_layout;

/* `b` holds the first `have` bytes of a file of `size` bytes (have >= the
 * smaller of size and NPY_PREAMBLE_MAX). */
static int parse_preamble(const unsigned char *b, size_t have, size_t size, npy_layout *l,
                          char *err)
{
    size_t n = have < sizeof npy_magic ? have : sizeof npy_magic;
    if (n > 0 && memcmp(b, npy_magic, n) != 0)
        return model_fail(err, "bad magic: not an NPY file");
    if (size < 10)
        return model_fail(err, "truncated header: %zu bytes, an NPY file needs at least 10", size);
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return model_fail(err, "unsupported NPY version %d.%d (supported: 1.0, 2.0, 3.0)", major,
                          minor);
    size_t len;
    if (major == 1) {
        len = (size_t)b[8] | (size_t)b[9] << 8;
        l->header_start = 10;
    } else {
        if (size < 12)
            return model_fail(err, "truncated header: %zu bytes, a version %d file needs at least 12",
                              size, major);
        len = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        l->header_start = 12;
    }
    if (len > NPY_HEADER_MAX)
        return model_fail(err, "header of %zu bytes is too long (limit %u)", len, NPY_HEADER_MAX);
    if (len > size - l->header_start)
        return model_fail(err, "truncated header: %zu bytes declared, %zu present", len,
                          size - l->header_start);
    l->major = major;
    l->header_len = len;
    l->data_start = l->header_start + len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The header dict, a small subset of Python literal syntax. */

typedef struct text_cursor {
    const char *p, *end;
} text_cursor;

static void skip_spaces(text_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Consume `ch` after optional spaces; 1 if it was there. */
static int accept_char(text_cursor *c, char ch)
{
    skip_spaces(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* Consume the identifier `word` (True, False) if it is next. */
static int accept_word(text_cursor *c, const char *word)
{
    skip_spaces(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    const char *after = c->p + n;
    if (after < c->end && (*after == '_' || (*after >= 'a' && *after <= 'z') ||
                           (*after >= 'A' && *after <= 'Z') || (*after >= '0' && *after <= '9')))
        return 0;
    c->p = after;
    return 1;
}

/* A quoted string (single or double quotes, no escapes) into `out`.
 * Characters outside printable ASCII become '?', so they can never reach an
 * error message raw; overlong strings are cut (and then match nothing). */
static int parse_string(text_cursor *c, char *out, size_t cap, char *err)
{
    skip_spaces(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return model_fail(err, "header syntax error: expected a quoted string");
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        char ch = *c->p++;
        if (ch == '\\')
            return model_fail(err, "header syntax error: escape sequences are not supported");
        if (ch == '\n')
            return model_fail(err, "header syntax error: unterminated string");
        if (n + 1 < cap)
            out[n++] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
    }
    if (c->p >= c->end)
        return model_fail(err, "header syntax error: unterminated string");
    c->p++;
    out[n] = '\0';
    return 0;
}

/* A non-negative decimal integer that fits in int64 (Python 2's 'L' suffix
 * allowed, as old files carry it). */
static int parse_dimension(text_cursor *c, int64_t *out, char *err)
{
    skip_spaces(c);
    if (c->p < c->end && *c->p == '-')
        return model_fail(err, "negative dimension in shape");
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return model_fail(err, "header syntax error: expected a dimension in shape");
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        int digit = *c->p++ - '0';
        if (v > (INT64_MAX - digit) / 10)
            return model_fail(err, "shape overflow: a dimension does not fit in 64 bits");
        v = v * 10 + digit;
    }
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return 0;
}

/* A tuple of dimensions: (), (3,), (2, 3), (2, 3,). */
static int parse_shape(text_cursor *c, npy_array *out, char *err)
{
    if (!accept_char(c, '('))
        return model_fail(err, "header syntax error: shape must be a tuple");
    out->ndim = 0;
    if (accept_char(c, ')'))
        return 0;
    for (;;) {
        if (out->ndim == NPY_MAX_DIMS)
            return model_fail(err, "shape has more than %d dimensions", NPY_MAX_DIMS);
        if (parse_dimension(c, &out->shape[out->ndim], err))
            return 1;
        out->ndim++;
        int comma = accept_char(c, ',');
        if (accept_char(c, ')')) {
            /* Python's (3) is the number 3, not a tuple. */
            if (out->ndim == 1 && !comma)
                return model_fail(err, "header syntax error: shape (n) needs a comma: (n,)");
            return 0;
        }
        if (!comma)
            return model_fail(err, "header syntax error: expected ',' or ')' in shape");
    }
}

/* Map a descr string to a dtype, refusing everything else by name. */
static int parse_descr(const char *s, npy_array *out, char *err)
{
    char order = s[0];
    const char *type = order ? s + 1 : s;
    if (order == '>')
        return model_fail(err, "dtype '%s' is big-endian; only little-endian is supported", s);
    if (type[0] == 'O' || type[0] == 'V')
        return model_fail(err, "dtype '%s' is an %s dtype; not supported", s,
                          type[0] == 'O' ? "object" : "opaque (void)");
    if ((order == '<' || order == '|') && strcmp(type, "u1") == 0) {
        out->dtype = NPY_UINT8;
        out->itemsize = 1;
        return 0;
    }
    if (order == '<') {
        if (strcmp(type, "f4") == 0) {
            out->dtype = NPY_FLOAT32;
            out->itemsize = 4;
            return 0;
        }
        if (strcmp(type, "f8") == 0) {
            out->dtype = NPY_FLOAT64;
            out->itemsize = 8;
            return 0;
        }
        if (strcmp(type, "i8") == 0) {
            out->dtype = NPY_INT64;
            out->itemsize = 8;
            return 0;
        }
        if (type[0] == 'U' && type[1] >= '1' && type[1] <= '9' && strlen(type) <= 8) {
            size_t chars = 0;
            const char *d = type + 1;
            while (*d >= '0' && *d <= '9')
                chars = chars * 10 + (size_t)(*d++ - '0');
            if (*d == '\0' && chars <= NPY_UNICODE_MAX_CHARS) {
                out->dtype = NPY_UNICODE;
                out->itemsize = 4 * chars;
                return 0;
            }
        }
    }
    return model_fail(err, "dtype '%s' is not supported (supported: <f4, <f8, |u1, <i8, <U<n>)", s);
}

/* The value of 'descr': a string; a list means a structured dtype. */
static int parse_descr_value(text_cursor *c, npy_array *out, char *err)
{
    skip_spaces(c);
    if (c->p < c->end && *c->p == '[')
        return model_fail(err, "structured dtypes (a list descr) are not supported");
    char descr[NPY_DESCR_MAX];
    if (parse_string(c, descr, sizeof descr, err))
        return 1;
    return parse_descr(descr, out, err);
}

static int parse_fortran_value(text_cursor *c, char *err)
{
    if (accept_word(c, "False"))
        return 0;
    if (accept_word(c, "True"))
        return model_fail(err, "fortran_order True (column-major) is not supported; save C order");
    return model_fail(err, "header syntax error: fortran_order must be True or False");
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

static int parse_entry(text_cursor *c, npy_array *out, int *seen, char *err)
{
    char key[24];
    if (parse_string(c, key, sizeof key, err))
        return 1;
    int which = strcmp(key, "descr") == 0           ? KEY_DESCR
                : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
                : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                    : 0;
    if (!which)
        return model_fail(err, "header has an unknown key '%s'", key);
    if (*seen & which)
        return model_fail(err, "header has a duplicate key '%s'", key);
    *seen |= which;
    if (!accept_char(c, ':'))
        return model_fail(err, "header syntax error: expected ':' after '%s'", key);
    if (which == KEY_DESCR)
        return parse_descr_value(c, out, err);
    if (which == KEY_FORTRAN)
        return parse_fortran_value(c, err);
    return parse_shape(c, out, err);
}

static int parse_header_dict(const char *text, size_t len, npy_array *out, char *err)
{
    text_cursor c = {text, text + len};
    if (!accept_char(&c, '{'))
        return model_fail(err, "header syntax error: expected '{'");
    int seen = 0;
    while (!accept_char(&c, '}')) {
        if (parse_entry(&c, out, &seen, err))
            return 1;
        if (accept_char(&c, '}'))
            break;
        if (!accept_char(&c, ','))
            return model_fail(err, "header syntax error: expected ',' or '}'");
    }
    skip_spaces(&c);
    if (c.p != c.end)
        return model_fail(err, "header syntax error: text after the closing '}'");
    const char *missing = !(seen & KEY_DESCR)     ? "descr"
                          : !(seen & KEY_FORTRAN) ? "fortran_order"
                          : !(seen & KEY_SHAPE)   ? "shape"
                                                  : NULL;
    if (missing)
        return model_fail(err, "header is missing the key '%s'", missing);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sizes. */

/* Element count of a shape, or 1 on overflow (with err set). */
static int shape_count(int ndim, const int64_t *shape, size_t itemsize, size_t *count,
                       size_t *bytes, char *err)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return model_fail(err, "negative dimension %lld in shape", (long long)shape[i]);
        if ((uint64_t)shape[i] > SIZE_MAX)
            return model_fail(err, "shape overflow: dimension %lld is too large", (long long)shape[i]);
        size_t d = (size_t)shape[i];
        if (d != 0 && n > SIZE_MAX / d)
            return model_fail(err, "shape overflow: the element count does not fit in memory");
        n *= d;
    }
    if (itemsize != 0 && n > SIZE_MAX / itemsize)
        return model_fail(err, "shape overflow: the data size does not fit in memory");
    *count = n;
    *bytes = n * itemsize;
    return 0;
}

/* Parse the header (the preamble's layout known) and check the data size
 * against the bytes present; allocates nothing. */
static int parse_header(const char *text, const npy_layout *l, size_t size, npy_array *out,
                        size_t *bytes, char *err)
{
    memset(out, 0, sizeof *out);
    if (parse_header_dict(text, l->header_len, out, err))
        return 1;
    if (shape_count(out->ndim, out->shape, out->itemsize, &out->count, bytes, err))
        return 1;
    size_t present = size - l->data_start;
    if (present < *bytes)
        return model_fail(err, "truncated data: the shape needs %zu bytes, the file holds %zu",
                          *bytes, present);
    if (present > *bytes)
        return model_fail(err, "%zu trailing bytes after the data (the shape needs %zu)",
                          present - *bytes, *bytes);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading. */

int npy_parse(const unsigned char *bytes, size_t size, npy_array *out, char *err)
{
    memset(out, 0, sizeof *out);
    npy_layout l = {0, 0, 0, 0};
    if (parse_preamble(bytes, size < NPY_PREAMBLE_MAX ? size : NPY_PREAMBLE_MAX, size, &l, err))
        return 1;
    npy_array a;
    size_t nbytes;
    if (parse_header((const char *)bytes + l.header_start, &l, size, &a, &nbytes, err))
        return 1;
    a.data = malloc(nbytes ? nbytes : 1);
    if (!a.data)
        return model_fail(err, "out of memory for %zu bytes of data", nbytes);
    if (nbytes)
        memcpy(a.data, bytes + l.data_start, nbytes);
    *out = a;
    return 0;
}

static int read_exact(FILE *f, void *buf, size_t n, char *err)
{
    if (n && fread(buf, 1, n, f) != n)
        return model_fail(err, "read failed: %s", ferror(f) ? strerror(errno) : "file shrank");
    return 0;
}

/* Read header, then data, straight from the file: the data size is checked
 * against the file size before its buffer is allocated. */
static int read_stream(FILE *f, npy_array *out, char *err)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return model_fail(err, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return model_fail(err, "not a regular file");
    size_t size = (size_t)st.st_size;
    unsigned char pre[NPY_PREAMBLE_MAX];
    size_t have = size < sizeof pre ? size : sizeof pre;
    if (read_exact(f, pre, have, err))
        return 1;
    npy_layout l = {0, 0, 0, 0};
    if (parse_preamble(pre, have, size, &l, err))
        return 1;
    char *text = malloc(l.header_len ? l.header_len : 1);
    if (!text)
        return model_fail(err, "out of memory for the header");
    npy_array a;
    size_t nbytes = 0;
    int rc = fseek(f, (long)l.header_start, SEEK_SET) != 0
                 ? model_fail(err, "seek failed: %s", strerror(errno))
                 : read_exact(f, text, l.header_len, err) ||
                       parse_header(text, &l, size, &a, &nbytes, err);
    free(text);
    if (rc)
        return 1;
    a.data = malloc(nbytes ? nbytes : 1);
    if (!a.data)
        return model_fail(err, "out of memory for %zu bytes of data", nbytes);
    if (read_exact(f, a.data, nbytes, err)) {
        free(a.data);
        return 1;
    }
    *out = a;
    return 0;
}

int npy_read(const char *path, npy_array *out, char *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    int rc = f ? read_stream(f, out, err) : model_fail(err, "cannot open: %s", strerror(errno));
    if (f)
        fclose(f);
    if (rc)
        model_error_in_file(err, path);
    return rc;
}

void npy_free(npy_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------ */
/* Writing. */

static int descr_string(const npy_array *a, char *out, size_t cap, char *err)
{
    size_t want;
    switch (a->dtype) {
    case NPY_FLOAT32: want = 4; snprintf(out, cap, "<f4"); break;
    case NPY_FLOAT64: want = 8; snprintf(out, cap, "<f8"); break;
    case NPY_UINT8: want = 1; snprintf(out, cap, "|u1"); break;
    case NPY_INT64: want = 8; snprintf(out, cap, "<i8"); break;
    case NPY_UNICODE:
        if (a->itemsize == 0 || a->itemsize % 4 || a->itemsize / 4 > NPY_UNICODE_MAX_CHARS)
            return model_fail(err, "unicode itemsize %zu is not a positive multiple of 4",
                              a->itemsize);
        snprintf(out, cap, "<U%zu", a->itemsize / 4);
        return 0;
    default:
        return model_fail(err, "unknown dtype code %d", (int)a->dtype);
    }
    if (a->itemsize != want)
        return model_fail(err, "itemsize %zu does not match dtype '%s'", a->itemsize, out);
    return 0;
}

/* The dict text, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
static size_t format_dict(const npy_array *a, const char *descr, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                descr);
    for (int i = 0; i < a->ndim; i++)
        n += (size_t)snprintf(out + n, cap - n, i ? ", %lld" : "%lld", (long long)a->shape[i]);
    n += (size_t)snprintf(out + n, cap - n, a->ndim == 1 ? ",), }" : "), }");
    return n;
}

/* Preamble plus header, padded with spaces and ended by '\n' so the data
 * starts on a 64-byte boundary. Returns the total length. */
static size_t build_header(const char *dict, size_t dict_len, unsigned char *out)
{
    size_t preamble = 10;
    size_t total = (preamble + dict_len + 1 + 63) / 64 * 64;
    if (total - preamble > 65535) { /* unreachable with NPY_MAX_DIMS, kept for the format's sake */
        preamble = 12;
        total = (preamble + dict_len + 1 + 63) / 64 * 64;
    }
    size_t len = total - preamble;
    memcpy(out, npy_magic, 6);
    out[6] = preamble == 10 ? 1 : 2;
    out[7] = 0;
    for (size_t i = 0; i < preamble - 8; i++)
        out[8 + i] = (unsigned char)(len >> (8 * i));
    memcpy(out + preamble, dict, dict_len);
    memset(out + preamble + dict_len, ' ', len - dict_len - 1);
    out[total - 1] = '\n';
    return total;
}

/* The header, then `nbytes` of data; with data NULL the file is only made
 * its full length (the data reads as zeros) for npy_create's caller to fill.
 * A file that could not be written whole is removed. */
static int write_file(const char *path, const unsigned char *header, size_t header_len,
                      const void *data, size_t nbytes, char *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return model_fail(err, "cannot open for writing: %s", strerror(errno));
    int ok = fwrite(header, 1, header_len, f) == header_len;
    if (data)
        ok = ok && (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes);
    else
        ok = ok && fflush(f) == 0 && ftruncate(fileno(f), (off_t)(header_len + nbytes)) == 0;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        remove(path);
        return model_fail(err, data ? "write failed: %s" : "cannot create the file: %s",
                          strerror(saved));
    }
    return 0;
}

static int write_array(const char *path, const npy_array *a, char *err)
{
    if (a->ndim < 0 || a->ndim > NPY_MAX_DIMS)
        return model_fail(err, "%d dimensions; NPY_MAX_DIMS is %d", a->ndim, NPY_MAX_DIMS);
    char descr[NPY_DESCR_MAX];
    if (descr_string(a, descr, sizeof descr, err))
        return 1;
    size_t count = 0, nbytes = 0;
    if (shape_count(a->ndim, a->shape, a->itemsize, &count, &nbytes, err))
        return 1;
    if (nbytes && !a->data)
        return model_fail(err, "no data to write");
    char dict[64 + NPY_MAX_DIMS * 24];
    size_t dict_len = format_dict(a, descr, dict, sizeof dict);
    unsigned char header[sizeof dict + 128];
    size_t header_len = build_header(dict, dict_len, header);
    return write_file(path, header, header_len, a->data, nbytes, err);
}

int npy_write_array(const char *path, const npy_array *a, char *err)
{
    int rc = write_array(path, a, err);
    if (rc)
        model_error_in_file(err, path);
    return rc;
}

/* The header of a numeric array (ndim checked by the caller), no data. */
static npy_array numeric_array(npy_dtype dtype, int ndim, const int64_t *shape)
{
    npy_array a;
    memset(&a, 0, sizeof a);
    a.dtype = dtype;
    a.ndim = ndim;
    a.itemsize = dtype == NPY_FLOAT32 ? 4 : dtype == NPY_UINT8 ? 1 : 8;
    for (int i = 0; i < ndim; i++)
        a.shape[i] = shape[i];
    return a;
}

int npy_write(const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
              const void *data, char *err)
{
    int bad = dtype == NPY_UNICODE
                  ? model_fail(err, "unicode arrays need a width; write them with npy_write_array")
              : ndim < 0 || ndim > NPY_MAX_DIMS
                  ? model_fail(err, "%d dimensions; NPY_MAX_DIMS is %d", ndim, NPY_MAX_DIMS)
              : ndim > 0 && !shape ? model_fail(err, "no shape given")
                                   : 0;
    if (bad) {
        model_error_in_file(err, path);
        return 1;
    }
    npy_array a = numeric_array(dtype, ndim, shape);
    a.data = (void *)data; /* only read */
    return npy_write_array(path, &a, err);
}

static int create_sized(const char *path, const npy_dtype dtype, int ndim, const int64_t *shape,
                        long long *data_offset, char *err)
{
    if (dtype == NPY_UNICODE || ndim < 1 || ndim > NPY_MAX_DIMS || !shape)
        return model_fail(err, "npy_create takes numeric arrays of 1 to %d dimensions", NPY_MAX_DIMS);
    npy_array a = numeric_array(dtype, ndim, shape);
    char descr[NPY_DESCR_MAX];
    size_t count = 0, nbytes = 0;
    if (descr_string(&a, descr, sizeof descr, err) ||
        shape_count(ndim, shape, a.itemsize, &count, &nbytes, err))
        return 1;
    char dict[64 + NPY_MAX_DIMS * 24];
    size_t dict_len = format_dict(&a, descr, dict, sizeof dict);
    unsigned char header[sizeof dict + 128];
    size_t header_len = build_header(dict, dict_len, header);
    if (write_file(path, header, header_len, NULL, nbytes, err))
        return 1;
    *data_offset = (long long)header_len;
    return 0;
}

int npy_create(const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
               long long *data_offset, char *err)
{
    int rc = create_sized(path, dtype, ndim, shape, data_offset, err);
    if (rc)
        model_error_in_file(err, path);
    return rc;
}

/* ------------------------------------------------------------------------ */

float *npy_to_float32(const npy_array *a, char *err)
{
    if (a->dtype == NPY_UNICODE) {
        model_fail(err, "unicode strings cannot be converted to numbers");
        return NULL;
    }
    if (a->count > SIZE_MAX / sizeof(float)) {
        model_fail(err, "array too large to convert");
        return NULL;
    }
    float *out = malloc(a->count ? a->count * sizeof(float) : 1);
    if (!out) {
        model_fail(err, "out of memory converting %zu elements", a->count);
        return NULL;
    }
    switch (a->dtype) {
    case NPY_FLOAT32:
        if (a->count)
            memcpy(out, a->data, a->count * sizeof(float));
        return out;
    case NPY_FLOAT64:
        for (size_t i = 0; i < a->count; i++)
            out[i] = (float)((const double *)a->data)[i];
        return out;
    case NPY_UINT8:
        for (size_t i = 0; i < a->count; i++)
            out[i] = (float)((const uint8_t *)a->data)[i];
        return out;
    case NPY_INT64:
        for (size_t i = 0; i < a->count; i++)
            out[i] = (float)((const int64_t *)a->data)[i];
        return out;
    default:
        free(out);
        model_fail(err, "unknown dtype code %d", (int)a->dtype);
        return NULL;
    }
}
