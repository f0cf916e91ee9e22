/* plot.c: the report's figures drawn into an RGB canvas and written with
 * the project's one PNG writer, stimulus' png_write_pixels (plot.h).
 * Deliberately small: the report needs five kinds of mark and numeric tick
 * labels, nothing more. */
#include "plot.h"

#include "report/report.h"
#include "stimulus.h" /* png_write_pixels, font_glyph */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int plot_canvas_create(plot_canvas *c, int width, int height)
{
    c->width = width;
    c->height = height;
    c->rgb = malloc((size_t)width * height * 3);
    if (!c->rgb)
        return 1;
    memset(c->rgb, 255, (size_t)width * height * 3);
    return 0;
}

void plot_canvas_destroy(plot_canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
}

static void put_pixel(plot_canvas *c, int x, int y, plot_color color)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    unsigned char *at = c->rgb + ((size_t)y * c->width + x) * 3;
    at[0] = color.r, at[1] = color.g, at[2] = color.b;
}

void plot_rect(plot_canvas *c, int x0, int y0, int x1, int y1, plot_color color)
{
    if (x0 > x1) {
        int t = x0;
        x0 = x1, x1 = t;
    }
    if (y0 > y1) {
        int t = y0;
        y0 = y1, y1 = t;
    }
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            put_pixel(c, x, y, color);
}

/* Bresenham: integer steps along the longer axis. */
void plot_line(plot_canvas *c, int x0, int y0, int x1, int y1, plot_color color)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        put_pixel(c, x0, y0, color);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy)
            e += dy, x0 += sx;
        if (e2 <= dx)
            e += dx, y0 += sy;
    }
}

/* ---- Text: the project's 5×7 font (stimulus/presenter/font.c) ---- */

int plot_text_width(const char *text, int scale)
{
    int n = (int)strlen(text);
    return n ? (6 * n - 1) * scale : 0;
}

void plot_text(plot_canvas *c, int x, int y, const char *text, int scale, plot_color color)
{
    for (; *text; text++, x += 6 * scale) {
        const unsigned char *g = font_glyph(*text);
        for (int row = 0; g && row < FONT_HEIGHT; row++)
            for (int col = 0; col < FONT_WIDTH; col++)
                if (g[row] & (0x10 >> col))
                    plot_rect(c, x + col * scale, y + row * scale, x + col * scale + scale - 1,
                              y + row * scale + scale - 1, color);
    }
}

/* ---- Axes ---- */

#define TEXT_SCALE 2
#define MARGIN_LEFT 84
#define MARGIN_BOTTOM 34
#define MARGIN_TOP 12
#define MARGIN_RIGHT 18

/* Pixel positions are clamped to a band around the canvas, so that a wild
 * value (from a damaged record) draws a short clipped line, not billions of
 * off-canvas steps. */
static int clamp_pixel(double p, int size)
{
    if (!(p > -size))
        return -size;
    return p < 2.0 * size ? (int)lround(p) : 2 * size;
}

int plot_x(const plot_axes *a, double x)
{
    return clamp_pixel(a->left + (x - a->x0) / (a->x1 - a->x0) * (a->right - a->left),
                       a->canvas->width);
}

int plot_y(const plot_axes *a, double y)
{
    return clamp_pixel(a->bottom - (y - a->y0) / (a->y1 - a->y0) * (a->bottom - a->top),
                       a->canvas->height);
}

/* A round step (1, 2 or 5 × 10^k) giving about five ticks over `range`. */
static double tick_step(double range)
{
    double raw = range / 5.0, power = pow(10.0, floor(log10(raw)));
    double f = raw / power;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * power;
}

static void tick_label(double value, double step, char *out, size_t size)
{
    if (fabs(value) < step * 1e-6)
        value = 0.0;
    snprintf(out, size, "%.4g", value);
}

static void widen(double *lo, double *hi)
{
    if (!isfinite(*lo) || !isfinite(*hi) || !isfinite(*hi - *lo))
        *lo = 0.0, *hi = 1.0;
    if (!(*hi - *lo > 1e-9 * fmax(fabs(*lo), fabs(*hi)))) {
        double pad = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1.0;
        *lo -= pad, *hi += pad;
    }
}

/* Tick values: multiples of `step` inside [lo, hi], at most 20 of them. */
static int tick_count(double lo, double hi, double step, double *first)
{
    double i0 = ceil(lo / step - 1e-9), i1 = floor(hi / step + 1e-9);
    *first = i0;
    return isfinite(i0) && isfinite(i1) && i1 >= i0 ? (int)fmin(i1 - i0 + 1, 20) : 0;
}

static void draw_x_ticks(plot_axes *a)
{
    double step = tick_step(a->x1 - a->x0), first;
    char label[32];
    int ticks = tick_count(a->x0, a->x1, step, &first);
    for (int i = 0; i < ticks; i++) {
        double v = (first + i) * step;
        int x = plot_x(a, v);
        plot_line(a->canvas, x, a->bottom, x, a->bottom + 5, PLOT_BLACK);
        tick_label(v, step, label, sizeof label);
        plot_text(a->canvas, x - plot_text_width(label, TEXT_SCALE) / 2, a->bottom + 9, label,
                  TEXT_SCALE, PLOT_BLACK);
    }
}

static void draw_y_ticks(plot_axes *a)
{
    double step = tick_step(a->y1 - a->y0), first;
    char label[32];
    int ticks = tick_count(a->y0, a->y1, step, &first);
    for (int i = 0; i < ticks; i++) {
        double v = (first + i) * step;
        int y = plot_y(a, v);
        plot_line(a->canvas, a->left - 5, y, a->left, y, PLOT_BLACK);
        tick_label(v, step, label, sizeof label);
        plot_text(a->canvas, a->left - 9 - plot_text_width(label, TEXT_SCALE), y - 7, label,
                  TEXT_SCALE, PLOT_BLACK);
    }
}

void plot_axes_draw(plot_axes *a, plot_canvas *c, double x0, double x1, double y0, double y1)
{
    widen(&x0, &x1);
    widen(&y0, &y1);
    a->canvas = c;
    a->left = MARGIN_LEFT, a->right = c->width - MARGIN_RIGHT;
    a->top = MARGIN_TOP, a->bottom = c->height - MARGIN_BOTTOM;
    a->x0 = x0, a->x1 = x1, a->y0 = y0, a->y1 = y1;
    plot_line(c, a->left, a->top, a->left, a->bottom, PLOT_BLACK);
    plot_line(c, a->left, a->bottom, a->right, a->bottom, PLOT_BLACK);
    plot_line(c, a->left, a->top, a->right, a->top, PLOT_GRAY);
    plot_line(c, a->right, a->top, a->right, a->bottom, PLOT_GRAY);
    draw_x_ticks(a);
    draw_y_ticks(a);
}

/* ---- Marks ---- */

void plot_histogram(plot_axes *a, const int *counts, int bins, double lo, double width,
                    plot_color color)
{
    for (int i = 0; i < bins; i++) {
        if (counts[i] <= 0)
            continue;
        int x0 = plot_x(a, lo + i * width) + 1, x1 = plot_x(a, lo + (i + 1) * width) - 1;
        plot_rect(a->canvas, x0, plot_y(a, counts[i]), x1 < x0 ? x0 : x1, a->bottom - 1, color);
    }
}

void plot_points(plot_axes *a, const double *x, const double *y, int n, int radius,
                 plot_color color)
{
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            continue;
        int px = plot_x(a, x[i]), py = plot_y(a, y[i]);
        plot_rect(a->canvas, px - radius, py - radius, px + radius, py + radius, color);
    }
}

void plot_error_bar(plot_axes *a, double x, double y, double x_low, double x_high,
                    double y_low, double y_high, plot_color color)
{
    int px = plot_x(a, x), py = plot_y(a, y);
    int xl = plot_x(a, x_low), xh = plot_x(a, x_high);
    int yl = plot_y(a, y_low), yh = plot_y(a, y_high);
    plot_line(a->canvas, xl, py, xh, py, color);
    plot_line(a->canvas, xl, py - 3, xl, py + 3, color);
    plot_line(a->canvas, xh, py - 3, xh, py + 3, color);
    plot_line(a->canvas, px, yl, px, yh, color);
    plot_line(a->canvas, px - 3, yl, px + 3, yl, color);
    plot_line(a->canvas, px - 3, yh, px + 3, yh, color);
}

void plot_polyline(plot_axes *a, const double *x, const double *y, int n, plot_color color)
{
    for (int i = 1; i < n; i++)
        plot_line(a->canvas, plot_x(a, x[i - 1]), plot_y(a, y[i - 1]), plot_x(a, x[i]),
                  plot_y(a, y[i]), color);
}

void plot_bin(const double *values, int n, double lo, double hi, int bins, int *counts)
{
    memset(counts, 0, (size_t)bins * sizeof *counts);
    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i]))
            continue;
        double b = hi > lo ? floor((values[i] - lo) / (hi - lo) * bins) : 0.0;
        counts[!(b > 0) ? 0 : b >= bins ? bins - 1 : (int)b]++;
    }
}

/* ---- PNG ---- */

int plot_write_png(const plot_canvas *c, const char *path, char *err)
{
    return png_write_pixels(path, c->rgb, c->height, c->width, 3, err);
}

static unsigned char to_byte(float v)
{
    if (!(v > 0.0f))
        return 0;
    return v >= 1.0f ? 255 : (unsigned char)lrintf(v * 255.0f);
}

int plot_write_gray_png(const float *pixels, int height, int width, int scale, const char *path,
                        char *err)
{
    int h = height * scale, w = width * scale;
    unsigned char *gray = malloc((size_t)h * w + 1);
    if (!gray)
        return controller_fail(err, "%s: out of memory", path);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            gray[(size_t)y * w + x] = to_byte(pixels[(size_t)(y / scale) * width + x / scale]);
    int status = png_write_pixels(path, gray, h, w, 1, err);
    free(gray);
    return status;
}
