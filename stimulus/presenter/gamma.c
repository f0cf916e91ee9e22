/* gamma.c: gamma calibration files and the inverse lookup table that makes
 * requested luminances come out linear on the display. */
#include "presenter/presenter.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAMMA_LINE_MAX 256

/* One line into `line` (NUL-terminated, without the newline); returns the
 * offset after it, or -1 when the line is too long or holds a NUL byte. */
static long gamma_next_line(const char *text, size_t size, size_t at, char *line)
{
    size_t n = 0;
    while (at < size && text[at] != '\n') {
        if (n + 1 >= GAMMA_LINE_MAX || text[at] == 0)
            return -1;
        line[n++] = text[at++];
    }
    if (n && line[n - 1] == '\r')
        n--;
    line[n] = 0;
    return (long)(at < size ? at + 1 : at);
}

static int gamma_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == 0 || *s == '#';
}

/* "level luminance": two finite numbers and nothing else. */
static int gamma_parse_pair(const char *line, float *level, float *luminance)
{
    char *end;
    errno = 0;
    double a = strtod(line, &end);
    if (end == line)
        return 1;
    const char *rest = end;
    double b = strtod(rest, &end);
    if (end == rest || errno)
        return 1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end && *end != '#')
        return 1;
    if (!isfinite(a) || !isfinite(b) || fabs(b) > 1e9) /* beyond any photometer */
        return 1;
    *level = (float)a;
    *luminance = (float)b;
    return 0;
}

static int gamma_check_point(const gamma_calibration *c, float level, float luminance,
                             const char *name, int line_no, char *err)
{
    if (level < 0.0f || level > 255.0f)
        return stimulus_fail(err, "%s:%d: level %g is outside 0..255", name, line_no,
                             level);
    if (luminance < 0.0f)
        return stimulus_fail(err, "%s:%d: negative luminance %g", name, line_no,
                             luminance);
    if (c->count && level <= c->level[c->count - 1])
        return stimulus_fail(err, "%s:%d: levels must increase (%g after %g)", name,
                             line_no, level, c->level[c->count - 1]);
    if (c->count && luminance < c->luminance[c->count - 1]) {
        return stimulus_fail(err,
                             "%s:%d: luminance %g is below the previous level's %g (remeasure: the "
                             "display must get brighter with level)", name, line_no, luminance,
                             c->luminance[c->count - 1]);
    }
    if (c->count == GAMMA_MAX_POINTS)
        return stimulus_fail(err, "%s:%d: more than %d measurements", name, line_no,
                             GAMMA_MAX_POINTS);
    return 0;
}

int gamma_parse(const char *text, size_t size, const char *name, gamma_calibration *out,
                char *err)
{
    char line[GAMMA_LINE_MAX];
    memset(out, 0, sizeof *out);
    size_t at = 0;
    for (int line_no = 1; at < size; line_no++) {
        long next = gamma_next_line(text, size, at, line);
        if (next < 0)
            return stimulus_fail(err, "%s:%d: line longer than %d characters or "
                                 "not text", name, line_no, GAMMA_LINE_MAX - 1);
        at = (size_t)next;
        if (gamma_blank(line))
            continue;
        float level, luminance;
        if (gamma_parse_pair(line, &level, &luminance))
            return stimulus_fail(err, "%s:%d: expected 'level luminance', got '%.40s'",
                                 name, line_no, line);
        if (gamma_check_point(out, level, luminance, name, line_no, err))
            return 1;
        out->level[out->count] = level;
        out->luminance[out->count] = luminance;
        out->count++;
    }
    if (out->count < 2)
        return stimulus_fail(err, "%s: needs at least two 'level luminance' lines", name);
    if (!(out->luminance[out->count - 1] > out->luminance[0]))
        return stimulus_fail(err, "%s: the brightest level is no brighter than the "
                             "darkest", name);
    return 0;
}

int gamma_read(const char *path, gamma_calibration *out, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return stimulus_fail(err, "%s: %s", path, strerror(errno));
    /* A calibration is at most GAMMA_MAX_POINTS short lines plus comments. */
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    size_t n = text ? fread(text, 1, cap, f) : 0;
    int too_big = text && n == cap && fgetc(f) != EOF;
    fclose(f);
    if (!text)
        return stimulus_fail(err, "%s: out of memory", path);
    int status;
    if (too_big) {
        stimulus_fail(err, "%s: larger than 1 MiB: not a calibration file", path);
        status = 1;
    } else {
        status = gamma_parse(text, n, path, out, err);
    }
    free(text);
    return status;
}

int gamma_write(const char *path, const gamma_calibration *cal, char *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return stimulus_fail(err, "%s: %s", path, strerror(errno));
    fprintf(f, "# inception gamma calibration: drive level (0..255), measured luminance\n");
    for (int i = 0; i < cal->count; i++)
        fprintf(f, "%g %.7g\n", cal->level[i], cal->luminance[i]);
    if (fclose(f))
        return stimulus_fail(err, "%s: write failed", path);
    return 0;
}

static float gamma_normalized(const gamma_calibration *c, int i)
{
    float lo = c->luminance[0], hi = c->luminance[c->count - 1];
    return (c->luminance[i] - lo) / (hi - lo);
}

float gamma_forward(const gamma_calibration *cal, float level)
{
    if (!cal)
        return level <= 0.0f ? 0.0f : level >= 255.0f ? 1.0f : level / 255.0f;
    if (level <= cal->level[0])
        return 0.0f;
    for (int i = 1; i < cal->count; i++) {
        if (level <= cal->level[i]) {
            float t = (level - cal->level[i - 1]) / (cal->level[i] - cal->level[i - 1]);
            float a = gamma_normalized(cal, i - 1), b = gamma_normalized(cal, i);
            return a + t * (b - a);
        }
    }
    return 1.0f;
}

/* The drive level at which the piecewise-linear forward curve reaches y:
 * the first segment that reaches it, so flat stretches give their start. */
static float gamma_invert(const gamma_calibration *c, float y)
{
    for (int i = 1; i < c->count; i++) {
        float a = gamma_normalized(c, i - 1), b = gamma_normalized(c, i);
        if (y <= b && b > a) {
            float t = (y - a) / (b - a);
            if (t < 0.0f)
                t = 0.0f;
            return c->level[i - 1] + t * (c->level[i] - c->level[i - 1]);
        }
    }
    return c->level[c->count - 1];
}

void gamma_inverse_table(const gamma_calibration *cal, uint8_t table[GAMMA_TABLE_SIZE])
{
    for (int i = 0; i < GAMMA_TABLE_SIZE; i++) {
        float y = (float)i / (GAMMA_TABLE_SIZE - 1);
        float level = cal ? gamma_invert(cal, y) : 255.0f * y;
        long v = lroundf(level);
        table[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

float geometry_degrees_to_pixels(const display_geometry *g, float degrees)
{
    double half = 0.5 * (double)degrees * M_PI / 180.0;
    double cm = 2.0 * g->viewing_distance_cm * tan(half);
    return (float)(cm * g->screen_width_px / g->screen_width_cm);
}

float geometry_pixels_per_degree(const display_geometry *g)
{
    return (float)(g->viewing_distance_cm * M_PI / 180.0 * g->screen_width_px /
                   g->screen_width_cm);
}
