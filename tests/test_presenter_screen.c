/* test_presenter_screen.c: what the presenter draws, read back from the
 * renderer (SDL_RenderReadPixels at the onset, before the swap): the image at
 * the place and size its degrees of visual angle give, each pixel at the
 * drive level the gamma calibration asks for, the background elsewhere, and
 * the photodiode patch toggling at each onset. Run under Xvfb by
 * test_presenter_xvfb.sh (an X11 window and renderer); also passes on the
 * dummy driver. */
#include "presenter/presenter.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 400
#define H 300
#define IMG_H 4
#define IMG_W 8
#define PATCH 30

static char err[STIMULUS_ERR_SIZE];

static gamma_calibration power_law_display(void)
{
    gamma_calibration c;
    c.count = 9;
    for (int i = 0; i < c.count; i++) {
        c.level[i] = fminf(32.0f * i, 255.0f);
        c.luminance[i] = 0.5f + 120.0f * powf(c.level[i] / 255.0f, 2.4f);
    }
    return c;
}

static int pixel(const uint8_t *rgba, int x, int y, int *gray)
{
    const uint8_t *q = rgba + 4 * ((size_t)y * W + (size_t)x);
    *gray = q[0];
    return q[0] == q[1] && q[1] == q[2] && q[3] == 255;
}

/* The stimulus rectangle from the geometry, computed here independently. */
typedef struct rect {
    double x, y, w, h;
} rect;

static rect expected_rect(const presenter_config *c)
{
    double px_per_cm = W / c->screen_width_cm, d = c->viewing_distance_cm;
    double w = 2 * d * tan(c->stimulus_width_deg / 2 * M_PI / 180) * px_per_cm;
    double h = w * IMG_H / IMG_W;
    double cx = W / 2.0 + px_per_cm * d * tan(c->center_x_deg * M_PI / 180);
    double cy = H / 2.0 - px_per_cm * d * tan(c->center_y_deg * M_PI / 180);
    return (rect){cx - w / 2, cy - h / 2, w, h};
}

static void check_frame(const uint8_t *rgba, const rect *r, const float *image,
                        const uint8_t *table, float background, int patch_white, const char *what)
{
    int g, gray_ok = 1, image_ok = 1, background_ok = 1, patch_ok = 1, worst = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            gray_ok &= pixel(rgba, x, y, &g);
    CHECK(gray_ok, "%s: every pixel gray (R = G = B)", what);
    /* The centre of each image pixel's block on screen. */
    for (int i = 0; i < IMG_H; i++)
        for (int j = 0; j < IMG_W; j++) {
            int x = (int)(r->x + (j + 0.5) * r->w / IMG_W), y = (int)(r->y + (i + 0.5) * r->h / IMG_H);
            int want = image ? gamma_level(table, image[i * IMG_W + j]) : gamma_level(table, background);
            pixel(rgba, x, y, &g);
            worst = abs(g - want) > worst ? abs(g - want) : worst;
        }
    image_ok = worst <= 1;
    CHECK(image_ok, "%s: the stimulus area at the calibrated levels (worst off by %d)", what,
          worst);
    /* Everything 2 px outside the rectangle and the patch is background. */
    int bg = gamma_level(table, background);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int in_patch = x >= W - PATCH && y < PATCH;
            int near_rect = x > r->x - 2 && x < r->x + r->w + 2 && y > r->y - 2 &&
                            y < r->y + r->h + 2;
            pixel(rgba, x, y, &g);
            if (in_patch)
                patch_ok &= g == (patch_white ? 255 : 0);
            else if (!near_rect)
                background_ok &= g == bg;
        }
    CHECK(background_ok, "%s: background at level %d everywhere else", what, bg);
    CHECK(patch_ok, "%s: photodiode patch top-right %s", what, patch_white ? "white" : "black");
}

int main(void)
{
    gamma_calibration cal = power_law_display();
    presenter_config c = presenter_config_default();
    c.width = W;
    c.height = H;
    c.refresh_hz = 60.0f;
    c.pacing = PRESENTER_PACING_SOFTWARE;
    c.background = 0.3f;
    c.photodiode_size_px = PATCH;
    c.photodiode_corner = PRESENTER_TOP_RIGHT;
    c.photodiode_first_white = 1;
    c.screen_width_cm = 40.0f;
    c.viewing_distance_cm = 50.0f;
    c.stimulus_width_deg = 15.0f;
    c.center_x_deg = 3.0f;
    c.center_y_deg = 2.0f;
    c.calibration = &cal;
    presenter *p;
    if (presenter_create(&p, &c, err)) {
        CHECK(0, "presenter: %s", err);
        return test_done();
    }
    int dw, dh;
    presenter_drawable_size(p, &dw, &dh);
    CHECK(dw == W && dh == H, "drawable %d×%d (%s)", dw, dh, presenter_status(p));
    if (dw != W || dh != H) {
        presenter_destroy(p);
        return test_done();
    }
    float image[IMG_H * IMG_W];
    for (int i = 0; i < IMG_H * IMG_W; i++)
        image[i] = (float)i / (IMG_H * IMG_W - 1);
    int id;
    presenter_add_image(p, image, IMG_H, IMG_W, &id, err);
    uint8_t table[GAMMA_TABLE_SIZE];
    gamma_inverse_table(&cal, table);
    rect r = expected_rect(&c);
    int x, y, w, h;
    presenter_stimulus_rect(p, IMG_H, IMG_W, &x, &y, &w, &h);
    CHECK(fabs(x - r.x) < 1 && fabs(y - r.y) < 1 && fabs(w - r.w) < 1 && fabs(h - r.h) < 1,
          "stimulus rectangle %d,%d %d×%d = the geometry's %.1f,%.1f %.1f×%.1f", x, y, w, h,
          r.x, r.y, r.w, r.h);

    uint8_t *shots[3];
    presenter_start_block(p, err);
    for (int k = 0; k < 3; k++) {
        shots[k] = calloc((size_t)W * H, 4);
        presenter_request q = {k, k == 1 ? -1 : id, -1, 2, 1, shots[k]};
        presenter_submit(p, &q, err);
    }
    presenter_finish_block(p);
    presenter_event ev;
    int captured = 0;
    while (presenter_next_event(p, &ev, 10000) && ev.kind != PRESENTER_EVENT_BLOCK_END)
        captured += ev.kind == PRESENTER_EVENT_TRIAL && (ev.flags & PRESENTER_CAPTURED);
    CHECK(captured == 3, "three onset frames read back");
    check_frame(shots[0], &r, image, table, c.background, 1, "onset 1");
    check_frame(shots[1], &r, NULL, table, c.background, 0, "onset 2 (blank)");
    check_frame(shots[2], &r, image, table, c.background, 1, "onset 3");
    for (int k = 0; k < 3; k++)
        free(shots[k]);
    presenter_destroy(p);
    return test_done();
}
