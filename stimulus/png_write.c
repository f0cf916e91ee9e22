/* png_write.c: 8-bit grayscale PNGs of stimuli, and the gallery of MEIs and
 * their controls with labels drawn in a built-in 3×5 bitmap font. */
#include "stimulus.h"

#include <assert.h>
#include <ctype.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int png_write_pixels(const char *path, const unsigned char *pixels, int height, int width,
                     int channels, char *err)
{
    assert(channels == 1 || channels == 3);
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, STIMULUS_ERR_SIZE, "cannot write %s", path);
        return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        snprintf(err, STIMULUS_ERR_SIZE, "%s: out of memory", path);
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        snprintf(err, STIMULUS_ERR_SIZE, "%s: libpng failed to write", path);
        return 1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, pixels + (size_t)y * width * channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f)) {
        snprintf(err, STIMULUS_ERR_SIZE, "cannot write %s (disk full?)", path);
        return 1;
    }
    return 0;
}

static unsigned char to_byte(float v)
{
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return (unsigned char)(v * 255.0f + 0.5f);
}

int png_write_gray(const char *path, const float *image, int height, int width, char *err)
{
    unsigned char *px = malloc((size_t)height * width);
    if (!px) {
        snprintf(err, STIMULUS_ERR_SIZE, "%s: out of memory", path);
        return 1;
    }
    for (size_t i = 0; i < (size_t)height * width; i++)
        px[i] = to_byte(image[i]);
    int status = png_write_pixels(path, px, height, width, 1, err);
    free(px);
    return status;
}

/* ------------------------------------------------------------------------ */
/* A 3×5 font: each glyph five rows of three bits, top row first, the left
 * pixel the highest bit. Unknown characters draw as blanks. */
static const char font_chars[] = "0123456789.-:=ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const unsigned char font_rows[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0}, {0, 2, 0, 2, 0}, {0, 7, 0, 7, 0},
    {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {7, 4, 4, 4, 7}, {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7},
    {7, 4, 6, 4, 4}, {7, 4, 5, 5, 7}, {5, 5, 7, 5, 5}, {7, 2, 2, 2, 7}, {1, 1, 1, 5, 7},
    {5, 5, 6, 5, 5}, {4, 4, 4, 4, 7}, {5, 7, 7, 5, 5}, {7, 5, 5, 5, 5}, {7, 5, 5, 5, 7},
    {7, 5, 7, 4, 4}, {7, 5, 5, 7, 1}, {7, 5, 6, 5, 5}, {7, 4, 7, 1, 7}, {7, 2, 2, 2, 2},
    {5, 5, 5, 5, 7}, {5, 5, 5, 5, 2}, {5, 5, 7, 7, 5}, {5, 5, 2, 5, 5}, {5, 5, 2, 2, 2},
    {7, 1, 2, 4, 7},
};

#define GLYPH_SCALE 2
#define GLYPH_ADVANCE (4 * GLYPH_SCALE)
#define LABEL_HEIGHT (7 * GLYPH_SCALE)
#define MARGIN 4

static void draw_text(unsigned char *canvas, int canvas_w, int canvas_h, int x0, int y0,
                      const char *text, unsigned char ink)
{
    for (int c = 0; text && text[c]; c++) {
        const char *at = strchr(font_chars, toupper((unsigned char)text[c]));
        if (!at || !*at)
            continue;
        const unsigned char *g = font_rows[at - font_chars];
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++) {
                if (!(g[r] & (4 >> b)))
                    continue;
                for (int sy = 0; sy < GLYPH_SCALE; sy++)
                    for (int sx = 0; sx < GLYPH_SCALE; sx++) {
                        int x = x0 + c * GLYPH_ADVANCE + b * GLYPH_SCALE + sx;
                        int y = y0 + r * GLYPH_SCALE + sy;
                        if (x >= 0 && x < canvas_w && y >= 0 && y < canvas_h)
                            canvas[(size_t)y * canvas_w + x] = ink;
                    }
            }
    }
}

static void draw_tile(unsigned char *canvas, int canvas_w, int x0, int y0, const float *image,
                      int height, int width, int scale)
{
    for (int y = 0; y < height * scale; y++)
        for (int x = 0; x < width * scale; x++)
            canvas[(size_t)(y0 + y) * canvas_w + x0 + x] =
                to_byte(image[(y / scale) * width + x / scale]);
}

int gallery_write_png(const char *path, const gallery_tile *tiles, const char *const *row_labels,
                      int rows, int cols, int height, int width, int scale, char *err)
{
    int header = 8 * GLYPH_ADVANCE; /* row labels up to 8 characters */
    int tile_w = width * scale + MARGIN, tile_h = height * scale + LABEL_HEIGHT + MARGIN;
    int W = header + cols * tile_w + MARGIN, H = rows * tile_h + MARGIN;
    unsigned char *canvas = malloc((size_t)W * H);
    if (!canvas) {
        snprintf(err, STIMULUS_ERR_SIZE, "%s: out of memory for a %d×%d gallery", path, H, W);
        return 1;
    }
    memset(canvas, 255, (size_t)W * H);
    for (int r = 0; r < rows; r++) {
        int y0 = MARGIN + r * tile_h;
        if (row_labels)
            draw_text(canvas, W, H, MARGIN, y0 + height * scale / 2 - 5, row_labels[r], 0);
        for (int c = 0; c < cols; c++) {
            const gallery_tile *t = &tiles[r * cols + c];
            int x0 = header + c * tile_w;
            if (t->image)
                draw_tile(canvas, W, x0, y0, t->image, height, width, scale);
            draw_text(canvas, W, H, x0, y0 + height * scale + 2, t->label, 0);
        }
    }
    int status = png_write_pixels(path, canvas, H, W, 1, err);
    free(canvas);
    return status;
}
