/* Tests of the NPY reader and writer: round trips for every dtype and rank,
 * hand-built files of each version, every refusal by name, every truncation
 * of valid files, single-byte corruptions, and a cross-check against NumPy
 * itself (tests/npy_check.py, whose path is argv[1]). */
#include "model.h"
#include "test.h"
#include "test_files.h"

#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Helpers. */

typedef struct bytes {
    unsigned char *p;
    size_t n;
} bytes;

/* An NPY file from its parts: version `major`.0, the dict text as given (no
 * padding added), then `data_len` bytes of `data` (zeros when NULL). */
static bytes make_npy(int major, const char *dict, const void *data, size_t data_len)
{
    size_t dict_len = strlen(dict), pre = major == 1 ? 10 : 12;
    bytes b = {malloc(pre + dict_len + data_len + 1), pre + dict_len + data_len};
    memcpy(b.p, "\x93NUMPY", 6);
    b.p[6] = (unsigned char)major;
    b.p[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b.p[8 + i] = (unsigned char)(dict_len >> (8 * i));
    memcpy(b.p + pre, dict, dict_len);
    if (data)
        memcpy(b.p + pre + dict_len, data, data_len);
    else
        memset(b.p + pre + dict_len, 0, data_len);
    return b;
}

static bytes read_whole(const char *path)
{
    bytes b = {NULL, 0};
    b.p = read_file_bytes(path, &b.n);
    return b;
}

static void write_whole(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* npy_parse must refuse `b` with a message containing `word`. */
static void check_refused(bytes b, const char *word, const char *what)
{
    npy_array a;
    char err[MODEL_ERR_SIZE] = "";
    int rc = npy_parse(b.p, b.n, &a, err);
    CHECK(rc != 0 && strstr(err, word), "refuses %s with '%s' (got: %s)", what, word,
          rc ? err : "accepted");
    if (rc == 0)
        npy_free(&a);
    free(b.p);
}

/* Parse `b` expecting success; returns the array (caller frees). */
static int check_parses(bytes b, npy_array *a, const char *what)
{
    char err[MODEL_ERR_SIZE] = "";
    int rc = npy_parse(b.p, b.n, a, err);
    CHECK(rc == 0, "parses %s (%s)", what, rc ? err : "ok");
    free(b.p);
    return rc == 0;
}

static char *path_in(const char *dir, const char *name)
{
    static char path[4][1024]; /* a few live at once; test-only convenience */
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

/* The values both sides of the NumPy cross-check compute independently. */
static float value_f4(size_t i) { return (float)i * 0.25f - 3.0f; }
static double value_f8(size_t i) { return (double)i / 7.0 - 1.0; }
static uint8_t value_u1(size_t i) { return (uint8_t)((i * 37) % 256); }
static const int64_t value_i8 = -1099511627771LL; /* -(2**40) + 5 */
static const char *tier_names[5] = {"train", "validation", "test", "final_test", "x"};

static int unicode_equals(const npy_array *a, size_t i, const char *s)
{
    const unsigned char *p = (const unsigned char *)a->data + i * a->itemsize;
    size_t chars = a->itemsize / 4, n = strlen(s);
    if (n > chars)
        return 0;
    for (size_t c = 0; c < chars; c++) {
        uint32_t code = p[4 * c] | p[4 * c + 1] << 8 | p[4 * c + 2] << 16 |
                        (uint32_t)p[4 * c + 3] << 24;
        if (code != (c < n ? (unsigned char)s[c] : 0))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Round trips. */

/* The file's layout is NumPy's: version 1.0, data on a 64-byte boundary,
 * header ended by '\n'. */
static void check_layout(const char *path, const char *what)
{
    bytes b = read_whole(path);
    int ok = b.n >= 10 && memcmp(b.p, "\x93NUMPY\x01\x00", 8) == 0;
    size_t start = ok ? 10 + (b.p[8] | (size_t)b.p[9] << 8) : 0;
    ok = ok && start % 64 == 0 && start <= b.n && b.p[start - 1] == '\n';
    CHECK(ok, "%s: version 1.0, data starts at %zu (a multiple of 64), header ends in newline",
          what, start);
    free(b.p);
}

static void round_trip(const char *dir, const char *name, npy_dtype dtype, int ndim,
                       const int64_t *shape, const void *data, size_t nbytes)
{
    char err[MODEL_ERR_SIZE];
    const char *path = path_in(dir, name);
    int rc = npy_write(path, dtype, ndim, shape, data, err);
    CHECK(rc == 0, "write %s (%s)", name, rc ? err : "ok");
    check_layout(path, name);
    npy_array a;
    rc = npy_read(path, &a, err);
    CHECK(rc == 0, "read %s back (%s)", name, rc ? err : "ok");
    if (rc)
        return;
    int same_shape = a.ndim == ndim && a.dtype == dtype;
    size_t count = 1;
    for (int i = 0; i < ndim && same_shape; i++) {
        same_shape = a.shape[i] == shape[i];
        count *= (size_t)shape[i];
    }
    CHECK(same_shape && a.count == count && a.count * a.itemsize == nbytes,
          "%s: dtype, %d-d shape and count survive", name, ndim);
    CHECK(nbytes == 0 || memcmp(a.data, data, nbytes) == 0, "%s: %zu data bytes survive",
          name, nbytes);
    npy_free(&a);
}

static void test_round_trips(const char *dir)
{
    float f4[24];
    double f8[24];
    uint8_t u1[7];
    for (size_t i = 0; i < 24; i++) {
        f4[i] = value_f4(i);
        f8[i] = value_f8(i);
    }
    for (size_t i = 0; i < 7; i++)
        u1[i] = value_u1(i);
    int64_t s23[2] = {2, 3}, s234[3] = {2, 3, 4}, s7[1] = {7}, s03[2] = {0, 3};
    int64_t s8d[8] = {1, 2, 1, 2, 1, 1, 3, 1};
    round_trip(dir, "rt_f4.npy", NPY_FLOAT32, 2, s23, f4, 6 * 4);
    round_trip(dir, "rt_f8.npy", NPY_FLOAT64, 3, s234, f8, 24 * 8);
    round_trip(dir, "rt_u1.npy", NPY_UINT8, 1, s7, u1, 7);
    round_trip(dir, "rt_i8.npy", NPY_INT64, 0, NULL, &value_i8, 8);
    round_trip(dir, "rt_empty.npy", NPY_FLOAT32, 2, s03, f4, 0);
    round_trip(dir, "rt_8d.npy", NPY_FLOAT32, 8, s8d, f4, 12 * 4);

    /* Unicode goes through npy_write_array: npy_write cannot know a width. */
    char err[MODEL_ERR_SIZE];
    npy_array u = unicode_array(tier_names, 5, 10), back;
    const char *path = path_in(dir, "rt_U.npy");
    int rc = npy_write_array(path, &u, err);
    CHECK(rc == 0, "write a <U10 array (%s)", rc ? err : "ok");
    check_layout(path, "rt_U.npy");
    rc = npy_read(path, &back, err);
    CHECK(rc == 0 && back.dtype == NPY_UNICODE && back.itemsize == 40 && back.ndim == 1 &&
              back.shape[0] == 5 && memcmp(back.data, u.data, 5 * 40) == 0,
          "a <U10 array survives (%s)", rc ? err : "ok");
    CHECK(rc == 0 && unicode_equals(&back, 3, "final_test"), "its 4th string is 'final_test'");
    if (rc == 0)
        npy_free(&back);
    npy_free(&u);
    rc = npy_write(path_in(dir, "bad.npy"), NPY_UNICODE, 1, s7, u1, err);
    CHECK(rc != 0 && strstr(err, "width"), "npy_write refuses unicode, which needs a width (%s)",
          err);
}

/* ------------------------------------------------------------------------ */
/* Hand-built files. */

static void test_handbuilt(void)
{
    npy_array a;
    float f2[2] = {1.5f, -2.25f};
    /* NumPy's own text, padded with spaces so the data starts at byte 128. */
    char dict[128];
    snprintf(dict, sizeof dict, "%-117s\n",
             "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }");
    bytes b = make_npy(1, dict, f2, sizeof f2);
    CHECK(b.n == 128 + 8, "hand-built v1.0 file has its data at byte 128");
    if (check_parses(b, &a, "a canonical v1.0 float32 file")) {
        CHECK(a.dtype == NPY_FLOAT32 && a.ndim == 1 && a.shape[0] == 2 &&
                  ((float *)a.data)[0] == 1.5f && ((float *)a.data)[1] == -2.25f,
              "v1.0 values are 1.5, -2.25");
        npy_free(&a);
    }

    /* Double quotes, keys reordered, odd spaces, no trailing comma, no newline. */
    int64_t i6[6] = {-3, -2, -1, 0, 1, 1LL << 62};
    b = make_npy(1, "{ \"shape\":(2 , 3 ,),\"fortran_order\" :False , \"descr\":\"<i8\"}", i6,
                 sizeof i6);
    if (check_parses(b, &a, "double quotes, reordered keys, spaces, trailing comma in shape")) {
        CHECK(a.dtype == NPY_INT64 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
                  ((int64_t *)a.data)[5] == (1LL << 62) && ((int64_t *)a.data)[0] == -3,
              "int64 2×3 values read");
        npy_free(&a);
    }

    /* Python 2 files carry long suffixes. */
    b = make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 2L), }\n", NULL, 16);
    if (check_parses(b, &a, "Python 2 'L' suffixes")) {
        CHECK(a.ndim == 2 && a.shape[0] == 1 && a.shape[1] == 2, "shape (1L, 2L) is 1×2");
        npy_free(&a);
    }

    uint8_t u4[4] = {0, 1, 254, 255};
    b = make_npy(2, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }\n", u4, 4);
    if (check_parses(b, &a, "a v2.0 file (32-bit header length)")) {
        CHECK(a.dtype == NPY_UINT8 && a.count == 4 && ((uint8_t *)a.data)[2] == 254,
              "v2.0 uint8 values read");
        npy_free(&a);
    }
    b = make_npy(3, "{'descr': '<u1', 'fortran_order': False, 'shape': (2, 2), }\n", u4, 4);
    if (check_parses(b, &a, "a v3.0 file with '<u1'")) {
        CHECK(a.dtype == NPY_UINT8 && a.ndim == 2 && ((uint8_t *)a.data)[3] == 255,
              "v3.0 '<u1' values read");
        npy_free(&a);
    }

    double d0 = 6.25;
    b = make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", &d0, 8);
    if (check_parses(b, &a, "a 0-d float64 file")) {
        CHECK(a.ndim == 0 && a.count == 1 && ((double *)a.data)[0] == 6.25, "0-d value 6.25");
        npy_free(&a);
    }

    unsigned char u[2 * 12] = {'a', 0, 0, 0, 'b', 0, 0, 0, 0, 0, 0, 0,
                               'x', 0, 0, 0, 'y', 0, 0, 0, 'z', 0, 0, 0};
    b = make_npy(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }\n", u, sizeof u);
    if (check_parses(b, &a, "a hand-built <U3 file")) {
        CHECK(a.dtype == NPY_UNICODE && a.itemsize == 12 && unicode_equals(&a, 0, "ab") &&
                  unicode_equals(&a, 1, "xyz"),
              "<U3 strings are 'ab' and 'xyz'");
        npy_free(&a);
    }

    b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }\n", NULL, 0);
    if (check_parses(b, &a, "an empty 0×5 array")) {
        CHECK(a.count == 0 && a.data != NULL, "an empty array has count 0 and a data pointer");
        npy_free(&a);
    }
}

/* ------------------------------------------------------------------------ */
/* Refusals, each by name. */

static bytes with_dict(const char *dict, size_t data_len)
{
    return make_npy(1, dict, NULL, data_len);
}

static void test_refusals(void)
{
    check_refused(with_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8),
                  "big-endian", "'>f4'");
    check_refused(with_dict("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", 8),
                  "big-endian", "'>i8'");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16),
                  "fortran_order", "fortran order");
    check_refused(with_dict("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16),
                  "object", "an object dtype");
    check_refused(with_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", 8),
                  "not supported", "int32");
    check_refused(with_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4),
                  "not supported", "float16");
    check_refused(with_dict("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", 2),
                  "not supported", "bool");
    check_refused(with_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16),
                  "not supported", "complex64");
    check_refused(with_dict("{'descr': '<U0', 'fortran_order': False, 'shape': (2,), }", 0),
                  "not supported", "zero-width unicode");
    check_refused(with_dict("{'descr': '|S4', 'fortran_order': False, 'shape': (2,), }", 8),
                  "not supported", "byte strings");
    check_refused(with_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                            4),
                  "structured", "a structured dtype");

    bytes b = with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    b.p[1] = 'X';
    check_refused(b, "magic", "a bad magic");
    b = with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    b.p[6] = 4;
    check_refused(b, "version", "version 4.0");
    b = with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    b.p[7] = 1;
    check_refused(b, "version", "version 1.1");
    b = with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
    b.p[8] = 0xFF;
    check_refused(b, "truncated", "a header length past the end");
    b = make_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, 8);
    b.p[10] = 0x10;
    check_refused(b, "too long", "a v2.0 header of a megabyte");
    check_refused((bytes){(unsigned char *)calloc(1, 1), 0}, "truncated", "an empty input");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8),
                  "truncated", "data shorter than the shape");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 9),
                  "trailing", "bytes after the data");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': "
                            "(4294967296, 4294967296), }", 8),
                  "overflow", "an element count over 64 bits");
    check_refused(with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': "
                            "(4611686018427387904,), }", 8),
                  "overflow", "a byte count over 64 bits");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': "
                            "(99999999999999999999,), }", 8),
                  "overflow", "a dimension over 64 bits");
    check_refused(with_dict("{'descr': '|u1', 'fortran_order': False, 'shape': "
                            "(1152921504606846976,), }", 8),
                  "truncated", "a shape far larger than the file");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8),
                  "negative", "a negative dimension");
    check_refused(with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': "
                            "(1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4),
                  "dimensions", "nine dimensions");

    static const struct {
        const char *dict, *word, *what;
    } syntax[] = {
        {"'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "syntax", "no '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", "syntax", "no '}'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", "comma", "shape (2)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': 2, }", "tuple", "shape 2"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "syntax", "shape (2 3)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", "syntax", "shape (,)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'sha", "syntax",
         "an unterminated string"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", "syntax", "an unclosed dict"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }", "syntax", "a missing ':'"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", "syntax", "a missing ','"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "syntax", "fortran_order 0"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,), }", "syntax",
         "fortran_order Falsey"},
        {"{'descr': '<f4', 'shape': (2,), }", "missing", "no fortran_order key"},
        {"{'fortran_order': False, 'shape': (2,), }", "missing", "no descr key"},
        {"{'descr': '<f4', 'fortran_order': False, }", "missing", "no shape key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unknown",
         "an extra key"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
         "duplicate", "a duplicate key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", "syntax",
         "text after the dict"},
        {"{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (2,), }", "escape",
         "an escape sequence"},
        {"", "syntax", "an empty header"},
    };
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++)
        check_refused(with_dict(syntax[i].dict, 8), syntax[i].word, syntax[i].what);
}

/* ------------------------------------------------------------------------ */
/* Truncations and corruptions: never a crash (ASan watches the reads, since
 * every input lives in a buffer of exactly its size). */

static void test_damage(const char *dir)
{
    static const char *names[] = {"rt_f4.npy", "rt_f8.npy", "rt_u1.npy",
                                  "rt_i8.npy", "rt_U.npy",  "rt_empty.npy"};
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        bytes whole = read_whole(path_in(dir, names[f]));
        int all_refused = whole.n > 0;
        for (size_t len = 0; len < whole.n; len++) {
            unsigned char *cut = malloc(len ? len : 1);
            memcpy(cut, whole.p, len);
            npy_array a;
            char err[MODEL_ERR_SIZE];
            if (npy_parse(len ? cut : NULL, len, &a, err) == 0) {
                all_refused = 0;
                npy_free(&a);
            }
            free(cut);
        }
        CHECK(all_refused, "%s: each of its %zu truncations is refused", names[f], whole.n);

        /* Every byte of the header set to a few values: whatever parses must
         * describe exactly the bytes present. */
        static const unsigned char values[] = {0, ' ', '(', ')', ',', '\'', '9', '-', 0xFF};
        size_t header_end = whole.n >= 10 ? 10 + (whole.p[8] | (size_t)whole.p[9] << 8) : 0;
        size_t consistent = 1, parsed = 0;
        for (size_t i = 0; i < header_end; i++) {
            for (size_t v = 0; v < sizeof values; v++) {
                unsigned char *m = malloc(whole.n);
                memcpy(m, whole.p, whole.n);
                m[i] = values[v];
                npy_array a;
                char err[MODEL_ERR_SIZE];
                if (npy_parse(m, whole.n, &a, err) == 0) {
                    size_t start = m[6] == 1 ? 10 + (m[8] | (size_t)m[9] << 8)
                                             : 12 + (m[8] | (size_t)m[9] << 8 |
                                                     (size_t)m[10] << 16 | (size_t)m[11] << 24);
                    parsed++;
                    consistent &= a.count * a.itemsize + start == whole.n;
                    npy_free(&a);
                }
                free(m);
            }
        }
        CHECK(consistent, "%s: %zu single-byte corruptions handled, %zu still parse and match "
              "the file size", names[f], header_end * sizeof values, parsed);
        free(whole.p);
    }
}

/* ------------------------------------------------------------------------ */
/* File-level errors and conversion. */

static void test_files_and_conversion(const char *dir)
{
    char err[MODEL_ERR_SIZE];
    npy_array a;
    const char *missing = path_in(dir, "no_such.npy");
    CHECK(npy_read(missing, &a, err) != 0 && strstr(err, "no_such.npy") &&
              strstr(err, "cannot open"),
          "a missing file is named (%s)", err);
    CHECK(npy_read(dir, &a, err) != 0 && strstr(err, "not a regular file"),
          "a folder is refused (%s)", err);

    bytes whole = read_whole(path_in(dir, "rt_f8.npy"));
    const char *cut = path_in(dir, "cut.npy");
    write_whole(cut, whole.p, whole.n - 3);
    CHECK(npy_read(cut, &a, err) != 0 && strstr(err, "cut.npy: truncated data"),
          "a truncated file on disk is refused by name (%s)", err);
    write_whole(cut, whole.p, 7);
    CHECK(npy_read(cut, &a, err) != 0 && strstr(err, "cut.npy: truncated header"),
          "a 7-byte file is refused by name (%s)", err);
    free(whole.p);

    float f[2] = {1, 2};
    int64_t s2[1] = {2}, neg[1] = {-1};
    CHECK(npy_write(path_in(dir, "no/such/dir.npy"), NPY_FLOAT32, 1, s2, f, err) != 0 &&
              strstr(err, "no/such/dir.npy: cannot open for writing"),
          "writing into a missing folder fails by name (%s)", err);
    CHECK(npy_write(path_in(dir, "neg.npy"), NPY_FLOAT32, 1, neg, f, err) != 0 &&
              strstr(err, "negative"),
          "writing a negative dimension fails (%s)", err);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(npy_write(path_in(dir, "nine.npy"), NPY_FLOAT32, 9, nine, f, err) != 0 &&
              strstr(err, "dimensions"),
          "writing nine dimensions fails (%s)", err);

    /* npy_to_float32, one dtype at a time. */
    double d[3] = {0.5, -1e10, 3.25};
    uint8_t u[3] = {0, 128, 255};
    int64_t i[3] = {-7, 0, 1LL << 40};
    const void *data[4] = {f, d, u, i};
    npy_dtype dtypes[4] = {NPY_FLOAT32, NPY_FLOAT64, NPY_UINT8, NPY_INT64};
    size_t itemsizes[4] = {4, 8, 1, 8};
    float want[4][3] = {{1, 2, 0}, {0.5f, -1e10f, 3.25f}, {0, 128, 255}, {-7, 0, 1099511627776.0f}};
    for (int k = 0; k < 4; k++) {
        npy_array x = {dtypes[k], 1, {k == 0 ? 2 : 3}, itemsizes[k], k == 0 ? 2 : 3,
                       (void *)data[k]};
        float *out = npy_to_float32(&x, err);
        int ok = out != NULL;
        for (size_t j = 0; ok && j < x.count; j++)
            ok = out[j] == want[k][j];
        CHECK(ok, "npy_to_float32 converts dtype %d exactly", k);
        free(out);
    }
    npy_array un = unicode_array(tier_names, 2, 5);
    CHECK(npy_to_float32(&un, err) == NULL && strstr(err, "unicode"),
          "npy_to_float32 refuses unicode (%s)", err);
    npy_free(&un);
}

/* ------------------------------------------------------------------------ */
/* Cross-check with NumPy. */

static void write_for_numpy(const char *dir)
{
    char err[MODEL_ERR_SIZE];
    float f4[24];
    double f8[15];
    uint8_t u1[7];
    for (size_t i = 0; i < 24; i++)
        f4[i] = value_f4(i);
    for (size_t i = 0; i < 15; i++)
        f8[i] = value_f8(i);
    for (size_t i = 0; i < 7; i++)
        u1[i] = value_u1(i);
    int64_t s234[3] = {2, 3, 4}, s35[2] = {3, 5}, s7[1] = {7}, s03[2] = {0, 3};
    int rc = npy_write(path_in(dir, "c_f4.npy"), NPY_FLOAT32, 3, s234, f4, err) ||
             npy_write(path_in(dir, "c_f8.npy"), NPY_FLOAT64, 2, s35, f8, err) ||
             npy_write(path_in(dir, "c_u1.npy"), NPY_UINT8, 1, s7, u1, err) ||
             npy_write(path_in(dir, "c_i8.npy"), NPY_INT64, 0, NULL, &value_i8, err) ||
             npy_write(path_in(dir, "c_empty.npy"), NPY_FLOAT32, 2, s03, f4, err);
    npy_array u = unicode_array(tier_names, 4, 10);
    rc = rc || npy_write_array(path_in(dir, "c_U.npy"), &u, err);
    npy_free(&u);
    CHECK(rc == 0, "wrote the files NumPy will check (%s)", rc ? err : "ok");
}

/* Run the checker; 0 when it passed, with a reason otherwise. */
static int run_numpy(const char *script, const char *dir, char *why, size_t cap)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, cap, "fork failed");
        return 1;
    }
    if (pid == 0) {
        execl("/usr/bin/python3", "python3", script, dir, (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        snprintf(why, cap, "the checker did not exit normally");
        return 1;
    }
    int code = WEXITSTATUS(status);
    snprintf(why, cap, "%s",
             code == 0     ? "ok"
             : code == 127 ? "cannot run /usr/bin/python3 (install python3 and python3-numpy)"
             : code == 3   ? "numpy is missing (install python3-numpy)"
                           : "NumPy disagrees with our files (see the # lines above)");
    return code != 0;
}

static void read_from_numpy(const char *dir)
{
    char err[MODEL_ERR_SIZE];
    npy_array a;
    int rc = npy_read(path_in(dir, "py_v2.npy"), &a, err);
    int ok = rc == 0 && a.dtype == NPY_FLOAT64 && a.ndim == 2 && a.shape[0] == 3 &&
             a.shape[1] == 5;
    for (size_t i = 0; ok && i < 15; i++)
        ok = ((double *)a.data)[i] == value_f8(i);
    CHECK(ok, "NumPy's v2.0 float64 3×5 file reads with its values (%s)", rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);

    rc = npy_read(path_in(dir, "py_v3.npy"), &a, err);
    ok = rc == 0 && a.dtype == NPY_UINT8 && a.ndim == 1 && a.shape[0] == 7;
    for (size_t i = 0; ok && i < 7; i++)
        ok = ((uint8_t *)a.data)[i] == value_u1(i);
    CHECK(ok, "NumPy's v3.0 uint8 file reads with its values (%s)", rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);

    rc = npy_read(path_in(dir, "py_f4.npy"), &a, err);
    ok = rc == 0 && a.dtype == NPY_FLOAT32 && a.ndim == 3 && a.shape[0] == 2 &&
         a.shape[1] == 3 && a.shape[2] == 4;
    for (size_t i = 0; ok && i < 24; i++)
        ok = ((float *)a.data)[i] == value_f4(i);
    CHECK(ok, "NumPy's float32 2×3×4 file reads with its values (%s)", rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);

    rc = npy_read(path_in(dir, "py_i8.npy"), &a, err);
    CHECK(rc == 0 && a.dtype == NPY_INT64 && a.ndim == 0 && *(int64_t *)a.data == value_i8,
          "NumPy's 0-d int64 reads as %lld (%s)", (long long)value_i8, rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);

    rc = npy_read(path_in(dir, "py_U.npy"), &a, err);
    ok = rc == 0 && a.dtype == NPY_UNICODE && a.itemsize == 40 && a.shape[0] == 5;
    for (size_t i = 0; ok && i < 5; i++)
        ok = unicode_equals(&a, i, tier_names[i]);
    CHECK(ok, "NumPy's <U10 tier names read (%s)", rc ? err : "ok");
    if (rc == 0)
        npy_free(&a);

    static const struct {
        const char *name, *word;
    } refused[] = {{"py_fortran.npy", "fortran_order"}, {"py_big.npy", "big-endian"},
                   {"py_object.npy", "object"},         {"py_i4.npy", "not supported"},
                   {"py_bool.npy", "not supported"},    {"py_struct.npy", "structured"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        rc = npy_read(path_in(dir, refused[i].name), &a, err);
        CHECK(rc != 0 && strstr(err, refused[i].word) && strstr(err, refused[i].name),
              "NumPy's %s is refused with '%s' (%s)", refused[i].name, refused[i].word,
              rc ? err : "accepted");
        if (rc == 0)
            npy_free(&a);
    }
}

static void test_numpy(const char *script, const char *dir)
{
    if (!script || access(script, R_OK) != 0) {
        CHECK(0, "the NumPy cross-check needs tests/npy_check.py as argv[1] (got %s)",
              script ? script : "nothing");
        return;
    }
    write_for_numpy(dir);
    char why[256];
    int rc = run_numpy(script, dir, why, sizeof why);
    CHECK(rc == 0, "NumPy reads our files and writes its own: %s", why);
    if (rc == 0)
        read_from_numpy(dir);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/test_npy_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "cannot create a temporary folder");
        return test_done();
    }
    test_round_trips(dir);
    test_handbuilt();
    test_refusals();
    test_damage(dir);
    test_files_and_conversion(dir);
    test_numpy(argc > 1 ? argv[1] : NULL, dir);
    remove_tree(dir);
    return test_done();
}
