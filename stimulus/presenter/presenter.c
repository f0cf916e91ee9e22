/* presenter.c: the presenter's interface to the controller: configuration,
 * preloading, blocks, requests in and events out. Everything that touches
 * SDL's window and renderer runs on the render thread (presenter_thread.c). */
#include "presenter_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t presenter_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

presenter_config presenter_config_default(void)
{
    presenter_config c;
    memset(&c, 0, sizeof c);
    c.width = 800;
    c.height = 600;
    c.refresh_hz = 60.0f;
    c.background = 0.5f;
    c.photodiode_size_px = 40;
    c.photodiode_corner = PRESENTER_BOTTOM_LEFT;
    c.photodiode_first_white = 1;
    c.screen_width_cm = 53.0f;
    c.viewing_distance_cm = 57.0f;
    c.stimulus_width_deg = 20.0f;
    c.audio_rate = 48000;
    c.queue_capacity = 4096;
    return c;
}

static int presenter_check_config(const presenter_config *c, char *err)
{
    const char *bad = NULL;
    if (!(c->refresh_hz >= 1.0f && c->refresh_hz <= 10000.0f))
        bad = "refresh rate must be 1..10000 Hz";
    else if (!c->fullscreen && (c->width < 16 || c->height < 16 || c->width > 16384 ||
                                c->height > 16384))
        bad = "window size must be 16..16384 pixels a side";
    else if (!(c->background >= 0.0f && c->background <= 1.0f))
        bad = "background luminance must be in [0,1]";
    else if (c->photodiode_size_px < 0 || c->photodiode_size_px > 4096)
        bad = "photodiode patch size must be 0..4096 pixels";
    else if ((unsigned)c->photodiode_corner > PRESENTER_BOTTOM_RIGHT)
        bad = "unknown photodiode corner";
    else if (!(c->screen_width_cm > 0.0f) || !(c->viewing_distance_cm > 0.0f))
        bad = "screen width and viewing distance must be positive";
    else if (!(c->stimulus_width_deg < 179.0f))
        bad = "stimulus width must be below 179 degrees";
    else if (c->queue_capacity < 1 || c->queue_capacity > (1 << 24))
        bad = "queue capacity must be 1..16M";
    else if (c->audio && (c->audio_rate < 8000 || c->audio_rate > 192000))
        bad = "audio rate must be 8000..192000 Hz";
    else if (!(c->audio_sync_ms >= 0.0f && c->audio_sync_ms <= 100.0f))
        bad = "audio sync pulse must be 0..100 ms";
    else if (c->audio_capture_frames < 0 || (c->audio_capture_frames > 0 && !c->audio_capture))
        bad = "audio capture needs a buffer";
    else if (c->realtime_priority < 0 || c->realtime_priority > 99)
        bad = "real-time priority must be 0 (none) or 1..99";
    if (bad)
        stimulus_fail(err, "presenter: %s", bad);
    return bad != NULL;
}

static void presenter_free(presenter *p)
{
    for (int i = 0; i < p->image_count; i++)
        free(p->images[i].rgba);
    free(p->images);
    presenter_sounds_free(p);
    ring_free(&p->requests);
    ring_free(&p->events);
    free(p->work_histogram);
    free(p->present_histogram);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    free(p);
}

static presenter *presenter_alloc(const presenter_config *config)
{
    presenter *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->config = *config;
    if (config->calibration) {
        p->calibration = *config->calibration;
        p->config.calibration = &p->calibration;
    }
    gamma_inverse_table(p->config.calibration, p->lut);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    p->voice.sound = -1;
    p->work_histogram = calloc(PRESENTER_HISTOGRAM_BINS, sizeof(int32_t));
    p->present_histogram = calloc(PRESENTER_HISTOGRAM_BINS, sizeof(int32_t));
    int capacity = config->queue_capacity;
    if (!p->work_histogram || !p->present_histogram ||
        ring_init(&p->requests, capacity, sizeof(presenter_request)) ||
        ring_init(&p->events, 4 * capacity + 1, sizeof(presenter_event))) {
        presenter_free(p);
        return NULL;
    }
    return p;
}

int presenter_create(presenter **out, const presenter_config *config, char *err)
{
    *out = NULL;
    if (presenter_check_config(config, err))
        return 1;
    presenter *p = presenter_alloc(config);
    if (!p) {
        return stimulus_fail(err, "presenter: out of memory");
    }
    if (pthread_create(&p->thread, NULL, presenter_thread_main, p)) {
        stimulus_fail(err, "presenter: cannot start the render thread");
        presenter_free(p);
        return 1;
    }
    p->thread_started = 1;
    pthread_mutex_lock(&p->lock);
    while (!p->init_done)
        pthread_cond_wait(&p->changed, &p->lock);
    int status = p->init_status;
    pthread_mutex_unlock(&p->lock);
    if (status) {
        stimulus_fail(err, "%s", p->init_err);
        pthread_join(p->thread, NULL);
        presenter_free(p);
        return 1;
    }
    *out = p;
    return 0;
}

void presenter_destroy(presenter *p)
{
    if (!p)
        return;
    atomic_store(&p->abort_requested, 1);
    pthread_mutex_lock(&p->lock);
    while (p->state != STATE_IDLE)
        pthread_cond_wait(&p->changed, &p->lock);
    p->state = STATE_QUIT;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    presenter_free(p);
}

const char *presenter_status(const presenter *p) { return p->status; }
pthread_t presenter_thread(const presenter *p) { return p->thread; }
int presenter_realtime(const presenter *p) { return p->realtime_error; }
int presenter_driver_threads(const presenter *p) { return p->driver_threads; }

int presenter_ms_to_frames(const presenter *p, double ms, double *actual_ms)
{
    double period_ms = p->period_ns / 1e6;
    long frames = lround(ms / period_ms);
    if (frames < 0)
        frames = 0;
    if (actual_ms)
        *actual_ms = (double)frames * period_ms;
    return (int)frames;
}
double presenter_period_ms(const presenter *p) { return p->period_ns / 1e6; }

void presenter_drawable_size(const presenter *p, int *width, int *height)
{
    *width = p->drawable_width;
    *height = p->drawable_height;
}

void presenter_stimulus_rect(const presenter *p, int image_height, int image_width, int *x,
                             int *y, int *w, int *h)
{
    const presenter_config *c = &p->config;
    int W = p->drawable_width, H = p->drawable_height;
    if (c->stimulus_width_deg <= 0.0f) {
        *x = *y = 0;
        *w = W;
        *h = H;
        return;
    }
    display_geometry g = {c->screen_width_cm, c->viewing_distance_cm, W};
    float width = geometry_degrees_to_pixels(&g, c->stimulus_width_deg);
    float height = width * (float)image_height / (float)image_width;
    float px_per_cm = (float)W / c->screen_width_cm;
    float dx = px_per_cm * c->viewing_distance_cm * tanf(c->center_x_deg * (float)M_PI / 180);
    float dy = px_per_cm * c->viewing_distance_cm * tanf(c->center_y_deg * (float)M_PI / 180);
    *w = (int)lroundf(width);
    *h = (int)lroundf(height);
    *x = (int)lroundf(0.5f * W + dx - 0.5f * width);
    *y = (int)lroundf(0.5f * H - dy - 0.5f * height);
}

static int presenter_between_blocks(presenter *p, char *err)
{
    pthread_mutex_lock(&p->lock);
    int idle = p->state == STATE_IDLE;
    pthread_mutex_unlock(&p->lock);
    if (!idle)
        stimulus_fail(err, "presenter: stimuli are loaded between blocks only");
    return !idle;
}

/* Linear luminance → gamma-corrected gray RGBA, on the caller's thread. */
int presenter_add_image(presenter *p, const float *pixels, int height, int width, int *id,
                        char *err)
{
    if (presenter_between_blocks(p, err))
        return 1;
    if (height < 1 || width < 1 || height > 16384 || width > 16384) {
        return stimulus_fail(err, "presenter: image size %d×%d is outside 1..16384", height, width);
    }
    size_t n = (size_t)height * (size_t)width;
    uint8_t *rgba = malloc(4 * n);
    if (!rgba || grow_array(&p->images, &p->image_capacity, (size_t)p->image_count + 1,
                               sizeof *p->images, 64)) {
        free(rgba);
        return stimulus_fail(err, "presenter: out of memory for an image");
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t v = gamma_level(p->lut, pixels[i]);
        rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
        rgba[4 * i + 3] = 255;
    }
    presenter_image *im = &p->images[p->image_count];
    memset(im, 0, sizeof *im);
    im->height = height;
    im->width = width;
    im->rgba = rgba;
    *id = p->image_count++;
    return 0;
}

int presenter_start_block(presenter *p, char *err)
{
    pthread_mutex_lock(&p->lock);
    int idle = p->state == STATE_IDLE;
    if (idle) {
        presenter_event stale;
        while (ring_pop(&p->events, &stale, 0))
            ;
        atomic_store(&p->abort_requested, 0);
        atomic_store(&p->finish_requested, 0);
        atomic_store(&p->paused, 0);
        p->init_status = 0;
        p->state = STATE_START;
        pthread_cond_broadcast(&p->changed);
        while (p->state == STATE_START)
            pthread_cond_wait(&p->changed, &p->lock);
    }
    int status = p->init_status;
    pthread_mutex_unlock(&p->lock);
    if (!idle) {
        return stimulus_fail(err, "presenter: a block is already running");
    }
    if (status)
        stimulus_fail(err, "%s", p->init_err);
    return status;
}

int presenter_submit(presenter *p, const presenter_request *r, char *err)
{
    const char *bad = NULL;
    if (r->image < -1 || r->image >= p->image_count)
        bad = "unknown image id";
    else if (r->sound < -1 || r->sound >= p->sound_count)
        bad = "unknown sound id";
    else if (r->frames < 0 || r->isi_frames < 0)
        bad = "frame counts must not be negative";
    else if (atomic_load(&p->finish_requested))
        bad = "the block is finishing: no more requests";
    if (bad) {
        stimulus_fail(err, "presenter: trial %lld: %s", (long long)r->trial, bad);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    int running = p->state == STATE_RUNNING;
    pthread_mutex_unlock(&p->lock);
    if (!running) {
        stimulus_fail(err, "presenter: no block is running");
        return -1;
    }
    return ring_push(&p->requests, r);
}

void presenter_finish_block(presenter *p) { atomic_store(&p->finish_requested, 1); }

int presenter_next_event(presenter *p, presenter_event *ev, int timeout_ms)
{
    return ring_pop(&p->events, ev, timeout_ms);
}

void presenter_block_summary(const presenter *p, presenter_summary *out)
{
    presenter *q = (presenter *)p;
    pthread_mutex_lock(&q->lock);
    *out = p->summary;
    pthread_mutex_unlock(&q->lock);
}

void presenter_abort(presenter *p) { atomic_store(&p->abort_requested, 1); }
void presenter_set_paused(presenter *p, int paused) { atomic_store(&p->paused, paused != 0); }
int presenter_paused(const presenter *p) { return atomic_load(&((presenter *)p)->paused); }
