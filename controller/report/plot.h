/* plot.h: the report's small plotting module (private to the controller
 * library): an RGB canvas, axes with numeric tick labels, histograms,
 * scatter points with error bars, bars and lines, written as PNG by
 * stimulus' png_write_pixels. Text uses the project's 5×7 font of printable
 * ASCII (stimulus/presenter/font.c); titles and axis names live in the HTML around the
 * figures for now. */
#ifndef INCEPTION_PLOT_H
#define INCEPTION_PLOT_H

typedef struct plot_color {
    unsigned char r, g, b;
} plot_color;

#define PLOT_WHITE ((plot_color){255, 255, 255})
#define PLOT_BLACK ((plot_color){0, 0, 0})
#define PLOT_GRAY ((plot_color){160, 160, 160})
#define PLOT_BLUE ((plot_color){31, 119, 180})
#define PLOT_ORANGE ((plot_color){230, 110, 20})
#define PLOT_RED ((plot_color){200, 30, 30})

typedef struct plot_canvas {
    int width, height;
    unsigned char *rgb; /* height × width × 3 */
} plot_canvas;

/* A white canvas: 0, or non-zero when out of memory. */
int plot_canvas_create(plot_canvas *c, int width, int height);
void plot_canvas_destroy(plot_canvas *c);
void plot_rect(plot_canvas *c, int x0, int y0, int x1, int y1, plot_color color);
void plot_line(plot_canvas *c, int x0, int y0, int x1, int y1, plot_color color);
/* Printable ASCII (other characters draw as blanks); (x, y) is the top left,
 * each glyph 5×7 pixels times `scale`. plot_text_width: its width in pixels. */
void plot_text(plot_canvas *c, int x, int y, const char *text, int scale, plot_color color);
int plot_text_width(const char *text, int scale);

/* Data coordinates mapped onto the canvas inside fixed margins. */
typedef struct plot_axes {
    plot_canvas *canvas;
    int left, top, right, bottom; /* the plotting box, pixels */
    double x0, x1, y0, y1;        /* data range */
} plot_axes;

/* Frames the box, draws ticks with labels at round values (1, 2 or 5 × 10^k)
 * on both axes. A degenerate range is widened around its value. */
void plot_axes_draw(plot_axes *a, plot_canvas *c, double x0, double x1, double y0, double y1);
int plot_x(const plot_axes *a, double x);
int plot_y(const plot_axes *a, double y);

/* Bars of `counts` for bins [lo + i·width, lo + (i+1)·width), a one-pixel
 * gap between neighbours so that every non-empty bin is its own bar. */
void plot_histogram(plot_axes *a, const int *counts, int bins, double lo, double width,
                    plot_color color);
/* A filled square marker of side 2·radius+1 at each (x, y). */
void plot_points(plot_axes *a, const double *x, const double *y, int n, int radius,
                 plot_color color);
/* Error bars from (x_low..x_high, y) and (x, y_low..y_high), with caps. */
void plot_error_bar(plot_axes *a, double x, double y, double x_low, double x_high,
                    double y_low, double y_high, plot_color color);
void plot_polyline(plot_axes *a, const double *x, const double *y, int n, plot_color color);

/* Histogram counts of the finite values into `bins` bins over [lo, hi]
 * (values outside go to the end bins). */
void plot_bin(const double *values, int n, double lo, double hi, int bins, int *counts);

/* PNG files: the canvas (RGB), or a gray image in [0, 1] scaled up by an
 * integer factor with nearest neighbours. 0, or non-zero with `err`. */
int plot_write_png(const plot_canvas *c, const char *path, char *err);
int plot_write_gray_png(const float *pixels, int height, int width, int scale, const char *path,
                        char *err);

#endif
