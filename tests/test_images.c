/* Tests for images.c: PNG/JPEG decoding against files written here with
 * libpng/libjpeg from known pixel values, clean refusal of truncated, corrupt,
 * oversized and foreign data, and photograph patches cut from a folder of
 * generated images whose content makes the scale, position, flip and area
 * averaging checkable. If INCEPTION_PHOTO_DIR names scikit-image's data
 * folder, patches of real photographs are checked as well (extra). */
#include "model.h"
#include "test.h"
#include "test_files.h"

#include <ftw.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char temp_root[64];

/* ------------------------------------------------------------------------ */
/* Writing test images */

typedef struct png_spec {
    int width, height, color_type, depth, interlace;
    const unsigned char *data; /* packed rows as PNG stores them */
    const png_color *palette;
    int palette_size;
    const unsigned char *trans; /* palette alpha, or NULL */
    int trans_size;
} png_spec;

static size_t png_row_bytes(const png_spec *s)
{
    int channels = s->color_type == PNG_COLOR_TYPE_RGB ? 3
                 : s->color_type == PNG_COLOR_TYPE_RGB_ALPHA ? 4
                 : s->color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    return ((size_t)s->width * channels * s->depth + 7) / 8;
}

static int write_png_stream(FILE *f, const png_spec *s)
{
    png_bytep *rows = malloc((size_t)s->height * sizeof *rows);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || !rows) {
        free(rows);
        return -1;
    }
    for (int y = 0; y < s->height; y++)
        rows[y] = (png_bytep)s->data + (size_t)y * png_row_bytes(s);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, s->width, s->height, s->depth, s->color_type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->palette_size);
    if (s->trans)
        png_set_tRNS(png, info, s->trans, s->trans_size, NULL);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return 0;
}

static int write_png(const char *path, const png_spec *s)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int failed = write_png_stream(f, s);
    return fclose(f) || failed ? -1 : 0;
}

/* libjpeg's default error handler exits; our inputs are valid, so it is fine. */
static int write_jpeg(const char *path, int width, int height, int components,
                      const unsigned char *data, int quality, int progressive)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr errors;
    c.err = jpeg_std_error(&errors);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)data + (size_t)c.next_scanline * width * components;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) ? -1 : 0;
}

static int write_bytes(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = fwrite(bytes, 1, size, f);
    return fclose(f) || put != size ? -1 : 0;
}

static const char *temp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", temp_root, name);
    return buf;
}

static double luma709(double r, double g, double b) { return 0.2126 * r + 0.7152 * g + 0.0722 * b; }

/* Decode `path` and compare every pixel with expected[], within `tol`. */
static void check_decoded(const char *label, const char *path, int height, int width,
                          const double *expected, double tol)
{
    int h = -1, w = -1;
    float *px = NULL;
    char err[MODEL_ERR_SIZE] = "";
    int rc = image_load_gray(path, &h, &w, &px, err);
    CHECK(rc == 0 && h == height && w == width, "%s decodes to %dx%d (%s)", label, height,
          width, rc ? err : "ok");
    if (rc || h != height || w != width) {
        free(px);
        return;
    }
    double worst = 0.0;
    for (int i = 0; i < h * w; i++)
        worst = fmax(worst, fabs(px[i] - expected[i]));
    CHECK(worst <= tol, "%s pixel values within %g of expected (worst %.3g)", label, tol, worst);
    free(px);
}

/* ------------------------------------------------------------------------ */
/* PNG decoding */

static void test_png_gray8_and_interlaced(void)
{
    enum { W = 13, H = 11 };
    unsigned char data[H * W];
    double expected[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            data[y * W + x] = (unsigned char)((x * 37 + y * 53) % 256);
            expected[y * W + x] = data[y * W + x] / 255.0;
        }
    char path[256];
    png_spec s = {W, H, PNG_COLOR_TYPE_GRAY, 8, 0, data, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "gray8.png"), &s) == 0, "wrote gray8.png");
    check_decoded("8-bit gray PNG", path, H, W, expected, 1e-7);
    s.interlace = 1;
    CHECK(write_png(temp_path(path, sizeof path, "adam7.png"), &s) == 0, "wrote adam7.png");
    check_decoded("interlaced 8-bit gray PNG", path, H, W, expected, 1e-7);

    /* from memory, same answer */
    size_t size;
    unsigned char *bytes = read_file_bytes(path, &size);
    int h, w;
    float *px = NULL;
    char err[MODEL_ERR_SIZE];
    int rc = image_decode_gray(bytes, size, &h, &w, &px, err);
    int same = rc == 0 && h == H && w == W;
    for (int i = 0; same && i < H * W; i++)
        same = fabs(px[i] - expected[i]) <= 1e-7;
    CHECK(same, "image_decode_gray from memory matches the file decode");
    free(px);
    free(bytes);
}

static void test_png_gray_low_and_high_depth(void)
{
    enum { W = 10, H = 3 };
    char path[256];
    /* 1-bit: 0 -> black, 1 -> white */
    unsigned char bits[H * 2];
    double expected1[H * W];
    for (int y = 0; y < H; y++) {
        bits[y * 2] = (unsigned char)(0xA5 ^ y);
        bits[y * 2 + 1] = (unsigned char)(y & 1 ? 0x80 : 0x40);
        for (int x = 0; x < W; x++)
            expected1[y * W + x] = (bits[y * 2 + x / 8] >> (7 - x % 8)) & 1;
    }
    png_spec s1 = {W, H, PNG_COLOR_TYPE_GRAY, 1, 0, bits, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "gray1.png"), &s1) == 0, "wrote gray1.png");
    check_decoded("1-bit gray PNG", path, H, W, expected1, 0.0);

    /* 4-bit: level v -> v/15 */
    unsigned char nibbles[H * 5];
    double expected4[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x += 2) {
            int a = (x + 5 * y) % 16, b = (3 * x + y + 7) % 16;
            nibbles[y * 5 + x / 2] = (unsigned char)(a << 4 | b);
            expected4[y * W + x] = a / 15.0;
            expected4[y * W + x + 1] = b / 15.0;
        }
    png_spec s4 = {W, H, PNG_COLOR_TYPE_GRAY, 4, 0, nibbles, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "gray4.png"), &s4) == 0, "wrote gray4.png");
    check_decoded("4-bit gray PNG", path, H, W, expected4, 1e-7);

    /* 16-bit: v -> v/65535, which 8-bit decoding could not reproduce */
    unsigned char wide[H * W * 2];
    double expected16[H * W];
    for (int i = 0; i < H * W; i++) {
        unsigned v = (unsigned)(i * 2111 + 257) % 65536;
        wide[2 * i] = (unsigned char)(v >> 8);
        wide[2 * i + 1] = (unsigned char)(v & 255);
        expected16[i] = v / 65535.0;
    }
    png_spec s16 = {W, H, PNG_COLOR_TYPE_GRAY, 16, 0, wide, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "gray16.png"), &s16) == 0, "wrote gray16.png");
    check_decoded("16-bit gray PNG", path, H, W, expected16, 1e-7);

    /* gray + alpha: alpha ignored */
    unsigned char ga[H * W * 2];
    double expected_ga[H * W];
    for (int i = 0; i < H * W; i++) {
        ga[2 * i] = (unsigned char)(i * 9);
        ga[2 * i + 1] = (unsigned char)(255 - i * 7);
        expected_ga[i] = ga[2 * i] / 255.0;
    }
    png_spec sga = {W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "graya.png"), &sga) == 0, "wrote graya.png");
    check_decoded("gray+alpha PNG (alpha ignored)", path, H, W, expected_ga, 1e-7);
}

static void test_png_colour(void)
{
    enum { W = 9, H = 6 };
    char path[256];
    unsigned char rgb[H * W * 3], rgba[H * W * 4], rgb16[H * W * 6];
    double expected[H * W], expected16[H * W];
    for (int i = 0; i < H * W; i++) {
        unsigned char r = (unsigned char)(i * 29), g = (unsigned char)(255 - i * 13),
                      b = (unsigned char)(i * i);
        rgb[3 * i] = rgba[4 * i] = r;
        rgb[3 * i + 1] = rgba[4 * i + 1] = g;
        rgb[3 * i + 2] = rgba[4 * i + 2] = b;
        rgba[4 * i + 3] = (unsigned char)(i * 31); /* alpha ignored */
        expected[i] = luma709(r / 255.0, g / 255.0, b / 255.0);
        unsigned v[3] = {(unsigned)(i * 1201) % 65536, (unsigned)(65535 - i * 977) % 65536,
                         (unsigned)(i * 40000u) % 65536};
        for (int c = 0; c < 3; c++) {
            rgb16[6 * i + 2 * c] = (unsigned char)(v[c] >> 8);
            rgb16[6 * i + 2 * c + 1] = (unsigned char)(v[c] & 255);
        }
        expected16[i] = luma709(v[0] / 65535.0, v[1] / 65535.0, v[2] / 65535.0);
    }
    png_spec s = {W, H, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "rgb.png"), &s) == 0, "wrote rgb.png");
    check_decoded("RGB PNG (Rec. 709 luminance)", path, H, W, expected, 1e-6);
    png_spec sa = {W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, rgba, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "rgba.png"), &sa) == 0, "wrote rgba.png");
    check_decoded("RGBA PNG (alpha ignored)", path, H, W, expected, 1e-6);
    png_spec s16 = {W, H, PNG_COLOR_TYPE_RGB, 16, 1, rgb16, NULL, 0, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "rgb16.png"), &s16) == 0, "wrote rgb16.png");
    check_decoded("16-bit interlaced RGB PNG", path, H, W, expected16, 1e-6);

    /* palette, 8-bit indices, with transparency (ignored) */
    png_color palette[5] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}, {10, 200, 90}};
    unsigned char trans[5] = {0, 128, 255, 7, 99};
    unsigned char index8[H * W], index2[H * 3];
    double expected8[H * W], expected2[H * W];
    for (int i = 0; i < H * W; i++) {
        index8[i] = (unsigned char)((i * 3) % 5);
        png_color c = palette[index8[i]];
        expected8[i] = luma709(c.red / 255.0, c.green / 255.0, c.blue / 255.0);
    }
    png_spec sp = {W, H, PNG_COLOR_TYPE_PALETTE, 8, 0, index8, palette, 5, trans, 5};
    CHECK(write_png(temp_path(path, sizeof path, "palette8.png"), &sp) == 0, "wrote palette8.png");
    check_decoded("8-bit palette PNG with tRNS", path, H, W, expected8, 1e-6);

    /* palette, 2-bit indices (4 per byte, 3 bytes per row of 9) */
    memset(index2, 0, sizeof index2);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int k = (x + 2 * y) % 4;
            index2[y * 3 + x / 4] |= (unsigned char)(k << (6 - 2 * (x % 4)));
            png_color c = palette[k];
            expected2[y * W + x] = luma709(c.red / 255.0, c.green / 255.0, c.blue / 255.0);
        }
    png_spec sp2 = {W, H, PNG_COLOR_TYPE_PALETTE, 2, 0, index2, palette, 4, NULL, 0};
    CHECK(write_png(temp_path(path, sizeof path, "palette2.png"), &sp2) == 0, "wrote palette2.png");
    check_decoded("2-bit palette PNG", path, H, W, expected2, 1e-6);
}

/* ------------------------------------------------------------------------ */
/* JPEG decoding (lossy: flat and smooth images, with tolerances) */

static void test_jpeg(void)
{
    enum { W = 32, H = 24 };
    char path[256];
    unsigned char gray[H * W], rgb[H * W * 3];
    double expected[H * W];

    memset(gray, 128, sizeof gray);
    for (int i = 0; i < H * W; i++)
        expected[i] = 128 / 255.0;
    CHECK(write_jpeg(temp_path(path, sizeof path, "flat.jpg"), W, H, 1, gray, 90, 0) == 0,
          "wrote flat.jpg");
    check_decoded("flat gray JPEG", path, H, W, expected, 1.5 / 255);

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            gray[y * W + x] = (unsigned char)(40 + 4 * x + 2 * y);
            expected[y * W + x] = gray[y * W + x] / 255.0;
        }
    CHECK(write_jpeg(temp_path(path, sizeof path, "ramp.jpg"), W, H, 1, gray, 95, 0) == 0,
          "wrote ramp.jpg");
    check_decoded("smooth gray JPEG", path, H, W, expected, 0.03);

    for (int i = 0; i < H * W; i++) {
        rgb[3 * i] = 200;
        rgb[3 * i + 1] = 100;
        rgb[3 * i + 2] = 50;
        expected[i] = luma709(200 / 255.0, 100 / 255.0, 50 / 255.0);
    }
    CHECK(write_jpeg(temp_path(path, sizeof path, "flat_rgb.jpg"), W, H, 3, rgb, 95, 0) == 0,
          "wrote flat_rgb.jpg");
    check_decoded("flat RGB JPEG (Rec. 709 luminance)", path, H, W, expected, 0.01);

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int i = y * W + x;
            rgb[3 * i] = (unsigned char)(60 + 5 * x);
            rgb[3 * i + 1] = (unsigned char)(200 - 3 * y);
            rgb[3 * i + 2] = (unsigned char)(100 + 2 * x + 2 * y);
            expected[i] = luma709(rgb[3 * i] / 255.0, rgb[3 * i + 1] / 255.0, rgb[3 * i + 2] / 255.0);
        }
    CHECK(write_jpeg(temp_path(path, sizeof path, "progressive.jpg"), W, H, 3, rgb, 95, 1) == 0,
          "wrote progressive.jpg");
    check_decoded("smooth progressive RGB JPEG", path, H, W, expected, 0.04);
}

/* ------------------------------------------------------------------------ */
/* Refusals */

/* Run fn with stderr captured; return how many bytes it wrote there. */
typedef struct capture {
    int saved;
    FILE *file;
} capture;

static capture capture_stderr(void)
{
    fflush(stderr);
    capture c = {dup(2), tmpfile()};
    if (c.file)
        dup2(fileno(c.file), 2);
    return c;
}

static long release_stderr(capture c)
{
    fflush(stderr);
    dup2(c.saved, 2);
    close(c.saved);
    if (!c.file)
        return -1;
    fseek(c.file, 0, SEEK_END);
    long n = ftell(c.file);
    fclose(c.file);
    return n;
}

static void check_truncations(const char *name)
{
    char path[256];
    size_t size = 0;
    unsigned char *bytes = read_file_bytes(temp_path(path, sizeof path, name), &size);
    int refused = 0, clean = 1;
    capture c = capture_stderr();
    for (size_t n = 0; bytes && n < size; n++) {
        int h = 7, w = 7;
        float *px = (float *)bytes; /* must be reset to NULL */
        char err[MODEL_ERR_SIZE] = "";
        int rc = image_decode_gray(bytes, n, &h, &w, &px, err);
        refused += rc != 0;
        clean &= rc == 0 || (px == NULL && h == 0 && w == 0 && err[0] != '\0');
        free(rc ? NULL : px);
    }
    long printed = release_stderr(c);
    CHECK(bytes && refused == (int)size, "%s cut at each of its %zu lengths is refused (%d)", name,
          size, refused);
    CHECK(clean, "%s truncations leave no pixels and give a reason", name);
    CHECK(printed == 0, "%s truncations print nothing to stderr (%ld bytes)", name, printed);
    free(bytes);
}

/* Flip each byte in turn: decoding may succeed or fail, but must stay in
 * bounds (ASan), quiet, and give sane output. */
static void check_corruptions(const char *name)
{
    char path[256];
    size_t size = 0;
    unsigned char *bytes = read_file_bytes(temp_path(path, sizeof path, name), &size);
    int refused = 0, sane = 1;
    capture c = capture_stderr();
    for (size_t i = 0; bytes && i < size; i++) {
        bytes[i] ^= 0xff;
        int h, w;
        float *px;
        char err[MODEL_ERR_SIZE];
        if (image_decode_gray(bytes, size, &h, &w, &px, err)) {
            refused++;
            sane &= px == NULL && err[0] != '\0';
        } else {
            sane &= px != NULL && h > 0 && w > 0;
            for (int k = 0; k < h * w; k++)
                sane &= px[k] >= 0.0f && px[k] <= 1.0f;
            free(px);
        }
        bytes[i] ^= 0xff;
    }
    long printed = release_stderr(c);
    CHECK(bytes && refused > 0, "%s with one corrupted byte: %d of %zu refused, none crashed",
          name, refused, size);
    CHECK(sane, "%s corrupted: refusals leave no pixels, successes give values in [0,1]", name);
    CHECK(printed == 0, "%s corruptions print nothing to stderr (%ld bytes)", name, printed);
    free(bytes);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A PNG that is only a header claiming width × height, no pixel data. */
static size_t png_header_only(unsigned char *out, uint32_t width, uint32_t height)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, signature, 8);
    put_be32(out + 8, 13);
    memcpy(out + 12, "IHDR", 4);
    put_be32(out + 16, width);
    put_be32(out + 20, height);
    out[24] = 8; /* depth */
    out[25] = 0; /* gray */
    out[26] = out[27] = out[28] = 0;
    put_be32(out + 29, (uint32_t)crc32_z(0, out + 12, 17));
    put_be32(out + 33, 0); /* an empty IDAT, so the header is read in full */
    memcpy(out + 37, "IDAT", 4);
    put_be32(out + 41, (uint32_t)crc32_z(0, out + 37, 4));
    put_be32(out + 45, 0);
    memcpy(out + 49, "IEND", 4);
    put_be32(out + 53, (uint32_t)crc32_z(0, out + 49, 4));
    return 57;
}

static void check_refused(const unsigned char *bytes, size_t size, const char *needle,
                          const char *what)
{
    int h, w;
    float *px = NULL;
    char err[MODEL_ERR_SIZE] = "";
    int rc = image_decode_gray(bytes, size, &h, &w, &px, err);
    CHECK(rc != 0 && px == NULL && strstr(err, needle), "%s refused: %s", what, err);
    if (rc == 0)
        free(px);
}

static void test_refusals(void)
{
    check_truncations("gray8.png");
    check_truncations("adam7.png");
    check_truncations("rgb16.png");
    check_truncations("palette8.png");
    check_truncations("ramp.jpg");
    check_truncations("progressive.jpg");
    check_corruptions("rgb.png");
    check_corruptions("flat_rgb.jpg");
    check_corruptions("progressive.jpg");

    unsigned char png[64];
    size_t n = png_header_only(png, 20000, 10);
    check_refused(png, n, "limit", "PNG wider than 16384");
    n = png_header_only(png, 16384, 16384);
    check_refused(png, n, "limit", "PNG of 16384 x 16384 (268 Mpixels)");
    n = png_header_only(png, 64, 64);
    check_refused(png, n, "PNG", "PNG header with empty image data");
    png[20] ^= 1; /* height changed, CRC now wrong */
    check_refused(png, n, "PNG", "PNG with a bad IHDR CRC");

    /* JPEG: rewrite the frame header's size fields */
    char path[256];
    size_t size = 0;
    unsigned char *jpg = read_file_bytes(temp_path(path, sizeof path, "flat.jpg"), &size);
    size_t sof = 0;
    for (size_t i = 2; jpg && i + 9 < size && !sof; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0)
            sof = i;
    CHECK(sof > 0, "found the JPEG frame header");
    if (sof) {
        unsigned sides[2][2] = {{20000, 100}, {16000, 16000}};
        for (int k = 0; k < 2; k++) {
            jpg[sof + 5] = (unsigned char)(sides[k][0] >> 8);
            jpg[sof + 6] = (unsigned char)(sides[k][0] & 255);
            jpg[sof + 7] = (unsigned char)(sides[k][1] >> 8);
            jpg[sof + 8] = (unsigned char)(sides[k][1] & 255);
            check_refused(jpg, size, "limit",
                          k ? "JPEG of 16000 x 16000 (256 Mpixels)" : "JPEG taller than 16384");
        }
    }
    free(jpg);

    const unsigned char text[] = "hello, not an image\n";
    check_refused(text, sizeof text - 1, "not a PNG or JPEG", "text");
    check_refused(text, 0, "empty", "empty data");

    /* by file: the error names the file */
    int h, w;
    float *px = NULL;
    char err[MODEL_ERR_SIZE] = "";
    temp_path(path, sizeof path, "notes.png");
    write_bytes(path, text, sizeof text - 1);
    int rc = image_load_gray(path, &h, &w, &px, err);
    CHECK(rc != 0 && px == NULL && strstr(err, path) && strstr(err, "not a PNG or JPEG"),
          "text file named .png refused by name: %s", err);
    temp_path(path, sizeof path, "missing.png");
    rc = image_load_gray(path, &h, &w, &px, err);
    CHECK(rc != 0 && px == NULL && strstr(err, path), "missing file refused by name: %s", err);
}

/* ------------------------------------------------------------------------ */
/* Patches */

static void make_dir(const char *path) { mkdir(path, 0700); }

/* A horizontal ramp (16-bit, luminance x/255 over 256 columns), a vertical
 * ramp (RGB with R=G=B, luminance y/255) and a textured JPEG; plus files that
 * must be skipped: too small, blank, text, TIFF-like, a subfolder. */
static void make_patch_folder(const char *dir)
{
    char path[512];
    make_dir(dir);
    enum { HH = 200, HW = 256, VH = 240, VW = 180, TS = 160 };
    static unsigned char hramp[HH * HW * 2], vramp[VH * VW * 3], texture[TS * TS * 3];
    for (int y = 0; y < HH; y++)
        for (int x = 0; x < HW; x++) {
            unsigned v = (unsigned)x * 257; /* x/255 exactly in 16 bits */
            hramp[(y * HW + x) * 2] = (unsigned char)(v >> 8);
            hramp[(y * HW + x) * 2 + 1] = (unsigned char)(v & 255);
        }
    for (int y = 0; y < VH; y++)
        for (int x = 0; x < VW * 3; x++)
            vramp[y * VW * 3 + x] = (unsigned char)y;
    for (int y = 0; y < TS; y++)
        for (int x = 0; x < TS; x++)
            for (int c = 0; c < 3; c++)
                texture[(y * TS + x) * 3 + c] =
                    (unsigned char)(128 + 60 * sin(0.3 * x + c) * cos(0.21 * y - 0.1 * x));
    png_spec h = {HW, HH, PNG_COLOR_TYPE_GRAY, 16, 0, hramp, NULL, 0, NULL, 0};
    png_spec v = {VW, VH, PNG_COLOR_TYPE_RGB, 8, 0, vramp, NULL, 0, NULL, 0};
    snprintf(path, sizeof path, "%s/a_hramp.png", dir);
    write_png(path, &h);
    snprintf(path, sizeof path, "%s/b_vramp.png", dir);
    write_png(path, &v);
    snprintf(path, sizeof path, "%s/c_texture.jpg", dir);
    write_jpeg(path, TS, TS, 3, texture, 90, 0);

    unsigned char small[8 * 8], blank[100 * 100];
    for (int i = 0; i < 64; i++)
        small[i] = (unsigned char)(i * 4);
    memset(blank, 128, sizeof blank);
    png_spec s = {8, 8, PNG_COLOR_TYPE_GRAY, 8, 0, small, NULL, 0, NULL, 0};
    png_spec b = {100, 100, PNG_COLOR_TYPE_GRAY, 8, 0, blank, NULL, 0, NULL, 0};
    snprintf(path, sizeof path, "%s/d_small.png", dir);
    write_png(path, &s);
    snprintf(path, sizeof path, "%s/e_blank.png", dir);
    write_png(path, &b);
    snprintf(path, sizeof path, "%s/f_notes.txt", dir);
    write_bytes(path, "notes\n", 6);
    snprintf(path, sizeof path, "%s/g_scan.tif", dir);
    write_bytes(path, "II*\0\0\0\0\0", 8);
    snprintf(path, sizeof path, "%s/h_sub", dir);
    make_dir(path);
}

/* 1 if every row equals the first (within tol). */
static int rows_equal(const float *p, int h, int w, double tol)
{
    for (int r = 1; r < h; r++)
        for (int c = 0; c < w; c++)
            if (fabs(p[r * w + c] - p[c]) > tol)
                return 0;
    return 1;
}

static int cols_equal(const float *p, int h, int w, double tol)
{
    for (int r = 0; r < h; r++)
        for (int c = 1; c < w; c++)
            if (fabs(p[r * w + c] - p[r * w]) > tol)
                return 0;
    return 1;
}

/* Least-squares slope of n values p[i·stride] against i, and the largest
 * distance of a value from that line. */
static double fit_line(const float *p, int n, size_t stride, double *worst)
{
    double mi = (n - 1) / 2.0, mv = 0.0, sxy = 0.0, sxx = 0.0;
    for (int i = 0; i < n; i++)
        mv += p[i * stride] / (double)n;
    for (int i = 0; i < n; i++) {
        sxy += (i - mi) * (p[i * stride] - mv);
        sxx += (i - mi) * (i - mi);
    }
    double slope = sxy / sxx;
    *worst = 0.0;
    for (int i = 0; i < n; i++)
        *worst = fmax(*worst, fabs(p[i * stride] - (mv + slope * (i - mi))));
    return slope;
}

/* A ramp of 8-bit steps v_j = j/255 box-averaged over [a, a+k) gives
 * (a + k/2 - 1/2)/255 + e/(255·k) with |e| <= 1/8 (the integral of a zero-mean
 * sawtooth over part of a period): linear in a up to 1/(8·255·k). Allow twice
 * that for the fitted line. Point sampling would be off by up to 1/510. */
static int ramp_is_box_averaged(double slope, double worst)
{
    double k = fabs(slope) * 255.0;
    return k >= 1.0 - 1e-3 && worst <= 2.0 / (8.0 * 255.0 * k) + 1e-5;
}

static void test_patches(void)
{
    enum { COUNT = 300, P = 16 };
    char dir[256];
    temp_path(dir, sizeof dir, "photos");
    make_patch_folder(dir);
    static float a[COUNT * P * P], b[COUNT * P * P], c[COUNT * P * P];
    char err[MODEL_ERR_SIZE] = "";
    int rc = photo_patches(dir, COUNT, P, P, 42, a, err);
    CHECK(rc == 0, "photo_patches on a generated folder (%s)", rc ? err : "ok");
    if (rc)
        return;
    CHECK(photo_patches(dir, COUNT, P, P, 42, b, err) == 0 && memcmp(a, b, sizeof a) == 0,
          "same seed, same patches");
    CHECK(photo_patches(dir, COUNT, P, P, 43, c, err) == 0 && memcmp(a, c, sizeof a) != 0,
          "another seed, other patches");
    int in_range = 1;
    for (int i = 0; i < COUNT * P * P; i++)
        in_range &= a[i] >= 0.0f && a[i] <= 1.0f;
    CHECK(in_range, "patch values in [0,1]");

    /* Horizontal-ramp patches: rows equal, a constant step k/255 where k is the
     * scale (source pixels per patch pixel), from (1/8)·200/16 to (1/2)·200/16. */
    int n_h = 0, n_v = 0, n_t = 0, n_flat = 0, h_linear = 1, v_linear = 1, h_scale_ok = 1,
        v_scale_ok = 1, flipped = 0, unflipped = 0;
    double min_span = 1.0, max_span = 0.0;
    for (int k = 0; k < COUNT; k++) {
        const float *p = a + (size_t)k * P * P;
        int re = rows_equal(p, P, P, 1e-5), ce = cols_equal(p, P, P, 1e-5);
        if (re && ce) {
            n_flat++;
        } else if (re) {
            n_h++;
            double worst, step = fit_line(p, P, 1, &worst);
            h_linear &= ramp_is_box_averaged(step, worst);
            double span = fabs(step) * 255.0 * P / 200.0;
            h_scale_ok &= span >= 0.125 - 0.005 && span <= 0.5 + 0.005;
            min_span = fmin(min_span, span);
            max_span = fmax(max_span, span);
            flipped += step < 0;
            unflipped += step > 0;
        } else if (ce) {
            n_v++;
            double worst, step = fit_line(p, P, P, &worst);
            v_linear &= ramp_is_box_averaged(step, worst) && step > 0; /* flips keep it */
            double span = step * 255.0 * P / 180.0;
            v_scale_ok &= span >= 0.125 - 0.005 && span <= 0.5 + 0.005;
        } else {
            n_t++;
        }
    }
    CHECK(n_flat == 0, "no flat patches (blank image skipped)");
    CHECK(n_h >= 70 && n_h <= 130 && n_v >= 70 && n_v <= 130 && n_t >= 70 && n_t <= 130,
          "images drawn uniformly: %d, %d, %d of %d patches", n_h, n_v, n_t, COUNT);
    CHECK(h_linear && v_linear, "ramps are area-averaged: linear within the staircase bound");
    CHECK(h_scale_ok && v_scale_ok, "patches span 1/8 to 1/2 of the shorter side");
    CHECK(min_span < 0.16 && max_span > 0.4, "spans cover the range (%.3f to %.3f)", min_span,
          max_span);
    CHECK(flipped > 20 && unflipped > 20, "horizontal flips about half the time (%d of %d)",
          flipped, n_h);

    /* count 0 and non-square patches */
    CHECK(photo_patches(dir, 0, P, P, 1, NULL, err) == 0, "zero patches is fine");
    static float wide[10 * 8 * 40];
    rc = photo_patches(dir, 10, 8, 40, 5, wide, err);
    int ok = rc == 0;
    for (int i = 0; ok && i < 10 * 8 * 40; i++)
        ok = wide[i] >= 0.0f && wide[i] <= 1.0f;
    CHECK(ok, "8 x 40 patches (%s)", rc ? err : "ok");
}

/* A grating of alternating black and white columns: area averaging over a
 * span of at least 2 pixels keeps values near 0.5 (within 0.5/scale), while
 * point sampling would give 0s and 1s. */
static void test_patches_antialiased(void)
{
    enum { S = 128, P = 8, COUNT = 64 };
    char dir[256], path[512];
    temp_path(dir, sizeof dir, "grating");
    make_dir(dir);
    static unsigned char grating[S * S];
    for (int i = 0; i < S * S; i++)
        grating[i] = (i % S) % 2 ? 255 : 0;
    png_spec g = {S, S, PNG_COLOR_TYPE_GRAY, 8, 0, grating, NULL, 0, NULL, 0};
    snprintf(path, sizeof path, "%s/grating.png", dir);
    write_png(path, &g);
    static float out[COUNT * P * P];
    char err[MODEL_ERR_SIZE] = "";
    int rc = photo_patches(dir, COUNT, P, P, 9, out, err);
    double lo = 1.0, hi = 0.0;
    for (int i = 0; rc == 0 && i < COUNT * P * P; i++) {
        lo = fmin(lo, out[i]);
        hi = fmax(hi, out[i]);
    }
    /* scale >= (1/8)·128/8 = 2, so |v - 0.5| <= 0.25 */
    CHECK(rc == 0 && lo >= 0.25 - 1e-5 && hi <= 0.75 + 1e-5,
          "downsampled grating stays within [0.25, 0.75] (got %.3f to %.3f)", lo, hi);
}

static void test_patch_errors(void)
{
    char dir[256], path[512], err[MODEL_ERR_SIZE] = "";
    float out[4 * 16 * 16];
    temp_path(dir, sizeof dir, "no_such_folder");
    int rc = photo_patches(dir, 4, 16, 16, 1, out, err);
    CHECK(rc != 0 && strstr(err, dir), "missing folder refused by name: %s", err);

    temp_path(dir, sizeof dir, "unusable");
    make_dir(dir);
    rc = photo_patches(dir, 4, 16, 16, 1, out, err);
    CHECK(rc != 0 && strstr(err, "no PNG or JPEG images of at least 16 x 16") && strstr(err, dir),
          "empty folder refused: %s", err);
    unsigned char small[8 * 8], blank[64 * 64];
    memset(small, 50, sizeof small);
    small[0] = 255;
    memset(blank, 200, sizeof blank);
    png_spec s = {8, 8, PNG_COLOR_TYPE_GRAY, 8, 0, small, NULL, 0, NULL, 0};
    png_spec b = {64, 64, PNG_COLOR_TYPE_GRAY, 8, 0, blank, NULL, 0, NULL, 0};
    snprintf(path, sizeof path, "%s/small.png", dir);
    write_png(path, &s);
    snprintf(path, sizeof path, "%s/blank.png", dir);
    write_png(path, &b);
    snprintf(path, sizeof path, "%s/readme.txt", dir);
    write_bytes(path, "text", 4);
    rc = photo_patches(dir, 4, 16, 16, 1, out, err);
    CHECK(rc != 0 && strstr(err, "no PNG or JPEG images of at least 16 x 16"),
          "folder of small, blank and text files refused: %s", err);
    rc = photo_patches(dir, 4, 0, 16, 1, out, err);
    CHECK(rc != 0, "zero patch height refused: %s", err);

    /* a broken PNG next to a good one: an error naming it... */
    size_t size = 0;
    unsigned char *good = read_file_bytes(temp_path(path, sizeof path, "photos/a_hramp.png"), &size);
    temp_path(dir, sizeof dir, "broken");
    make_dir(dir);
    snprintf(path, sizeof path, "%s/good.png", dir);
    write_bytes(path, good, size);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    write_bytes(path, good, size / 2);
    rc = photo_patches(dir, 4, 16, 16, 1, out, err);
    CHECK(rc != 0 && strstr(err, path), "truncated PNG in the folder refused by name: %s", err);

    /* ...except in a scikit-image data folder, which ships broken test files */
    temp_path(dir, sizeof dir, "skimage");
    make_dir(dir);
    temp_path(dir, sizeof dir, "skimage/data");
    make_dir(dir);
    snprintf(path, sizeof path, "%s/good.png", dir);
    write_bytes(path, good, size);
    snprintf(path, sizeof path, "%s/truncated.png", dir);
    write_bytes(path, good, size / 2);
    rc = photo_patches(dir, 4, 16, 16, 1, out, err);
    CHECK(rc == 0, "broken file skipped in a skimage/data folder (%s)", rc ? err : "ok");
    free(good);
}

/* Extra: real photographs, when a folder of them is named. */
static void test_real_photographs(void)
{
    const char *def = photo_default_folder();
    CHECK(def == NULL || strcmp(def, "/usr/lib/python3/dist-packages/skimage/data") == 0,
          "photo_default_folder: %s", def ? def : "(none installed)");
    const char *dir = getenv("INCEPTION_PHOTO_DIR");
    if (!dir || !*dir) {
        printf("# INCEPTION_PHOTO_DIR not set: real photographs not checked\n");
        return;
    }
    char path[1024], err[MODEL_ERR_SIZE] = "";
    snprintf(path, sizeof path, "%s/camera.png", dir);
    if (access(path, R_OK) == 0) {
        int h, w;
        float *px = NULL;
        int rc = image_load_gray(path, &h, &w, &px, err);
        CHECK(rc == 0 && h == 512 && w == 512, "camera.png is 512 x 512 (%s)", rc ? err : "ok");
        free(px);
    }
    enum { COUNT = 64, P = 32 };
    static float out[COUNT * P * P];
    int rc = photo_patches(dir, COUNT, P, P, 11, out, err);
    CHECK(rc == 0, "patches of the photographs in %s (%s)", dir, rc ? err : "ok");
    if (rc)
        return;
    double sum = 0.0, std_sum = 0.0, cov = 0.0, var = 0.0;
    int in_range = 1;
    for (int k = 0; k < COUNT; k++) {
        const float *p = out + (size_t)k * P * P;
        double m = 0.0, s2 = 0.0;
        for (int i = 0; i < P * P; i++) {
            in_range &= p[i] >= 0.0f && p[i] <= 1.0f;
            m += p[i];
        }
        m /= P * P;
        for (int i = 0; i < P * P; i++)
            s2 += (p[i] - m) * (p[i] - m);
        for (int r = 0; r < P; r++)
            for (int c = 0; c + 1 < P; c++) {
                cov += (p[r * P + c] - m) * (p[r * P + c + 1] - m);
                var += (p[r * P + c] - m) * (p[r * P + c] - m);
            }
        sum += m;
        std_sum += sqrt(s2 / (P * P));
    }
    double mean = sum / COUNT, contrast = std_sum / COUNT, neighbour = var > 0 ? cov / var : 0;
    CHECK(in_range, "photograph patches in [0,1]");
    CHECK(mean > 0.15 && mean < 0.85, "photograph patches have a middling mean (%.3f)", mean);
    CHECK(contrast > 0.03, "photograph patches have contrast (mean std %.3f)", contrast);
    CHECK(neighbour > 0.5, "neighbouring pixels correlate as in natural images (%.3f)",
          neighbour);
}

/* ------------------------------------------------------------------------ */

int main(void)
{
    snprintf(temp_root, sizeof temp_root, "/tmp/test_images_XXXXXX");
    if (!mkdtemp(temp_root)) {
        CHECK(0, "cannot create a temporary folder");
        return test_done();
    }
    test_png_gray8_and_interlaced();
    test_png_gray_low_and_high_depth();
    test_png_colour();
    test_jpeg();
    test_refusals();
    test_patches();
    test_patches_antialiased();
    test_patch_errors();
    test_real_photographs();
    remove_tree(temp_root);
    return test_done();
}
