/* png_write.c: 8-bit grayscale PNGs of stimuli, and the gallery of MEIs and
 * their controls with labels drawn in the project's 5×7 font (font.c). */
#include "presenter/presenter.h"

#include <assert.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int png_write_pixels(const char *path, const unsigned char *pixels, int height, int width,
                     int channels, char *err)
{
    assert(channels == 1 || channels == 3);
    FILE *f = fopen(path, "wb");
    if (!f)
        return stimulus_fail(err, "cannot write %s", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return stimulus_fail(err, "%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return stimulus_fail(err, "%s: libpng failed to write", path);
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
    if (fclose(f))
        return stimulus_fail(err, "cannot write %s (disk full?)", path);
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
    if (!px)
        return stimulus_fail(err, "%s: out of memory", path);
    for (size_t i = 0; i < (size_t)height * width; i++)
        px[i] = to_byte(image[i]);
    int status = png_write_pixels(path, px, height, width, 1, err);
    free(px);
    return status;
}

/* ------------------------------------------------------------------------ */
#define GLYPH_ADVANCE (FONT_WIDTH + 1)
#define LABEL_HEIGHT (FONT_HEIGHT + 4)
#define MARGIN 4

static void draw_text(unsigned char *canvas, int canvas_w, int canvas_h, int x0, int y0,
                      const char *text, unsigned char ink)
{
    for (int c = 0; text && text[c]; c++) {
        const unsigned char *g = font_glyph(text[c]);
        for (int r = 0; g && r < FONT_HEIGHT; r++)
            for (int b = 0; b < FONT_WIDTH; b++) {
                int x = x0 + c * GLYPH_ADVANCE + b, y = y0 + r;
                if ((g[r] & (0x10 >> b)) && x >= 0 && x < canvas_w && y >= 0 && y < canvas_h)
                    canvas[(size_t)y * canvas_w + x] = ink;
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
    if (!canvas)
        return stimulus_fail(err, "%s: out of memory for a %d×%d gallery", path, H, W);
    memset(canvas, 255, (size_t)W * H);
    for (int r = 0; r < rows; r++) {
        int y0 = MARGIN + r * tile_h;
        if (row_labels)
            draw_text(canvas, W, H, MARGIN, y0 + (height * scale - FONT_HEIGHT) / 2, row_labels[r], 0);
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
