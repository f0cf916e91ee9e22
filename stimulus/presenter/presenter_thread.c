/* presenter_thread.c: the render thread. It owns the SDL window, renderer
 * and textures (SDL wants them used from the thread that created them, and
 * events pumped there), measures the refresh period, and runs the frame loop:
 * decide what this flip shows, draw it, wait for the flip, timestamp it right
 * after the swap returns, and account for every trial. */
#include "presenter_internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEASURE_FLIPS 30
#define MAX_THREADS 512 /* of this process, listed around the display's opening */

static void thread_fail(presenter *p, const char *what)
{
    snprintf(p->init_err, STIMULUS_ERR_SIZE, "presenter: %s: %s", what, SDL_GetError());
}

static int thread_open_window(presenter *p, int vsync)
{
    const presenter_config *c = &p->config;
    int x = SDL_WINDOWPOS_CENTERED_DISPLAY(c->display), y = x;
    Uint32 flags = SDL_WINDOW_SHOWN | SDL_WINDOW_ALLOW_HIGHDPI;
    int w = c->width, h = c->height;
    if (c->fullscreen) {
        SDL_DisplayMode mode;
        if (SDL_GetDesktopDisplayMode(c->display, &mode)) {
            thread_fail(p, "display");
            return 1;
        }
        w = mode.w;
        h = mode.h;
        flags |= SDL_WINDOW_FULLSCREEN_DESKTOP | SDL_WINDOW_BORDERLESS;
    }
    p->window = SDL_CreateWindow("inception", x, y, w, h, flags);
    if (!p->window) {
        thread_fail(p, "window");
        return 1;
    }
    Uint32 rflags = SDL_RENDERER_ACCELERATED | (vsync ? SDL_RENDERER_PRESENTVSYNC : 0);
    p->renderer = SDL_CreateRenderer(p->window, -1, rflags);
    if (!p->renderer)   /* no accelerated renderer (offscreen, dummy): software */
        p->renderer = SDL_CreateRenderer(p->window, -1, vsync ? SDL_RENDERER_PRESENTVSYNC : 0);
    if (!p->renderer) {
        thread_fail(p, "renderer");
        return 1;
    }
    if (SDL_GetRendererOutputSize(p->renderer, &p->drawable_width, &p->drawable_height)) {
        thread_fail(p, "renderer size");
        return 1;
    }
    if (c->fullscreen)
        SDL_ShowCursor(SDL_DISABLE);
    return 0;
}

static void thread_draw_background(presenter *p)
{
    uint8_t v = gamma_level(p->lut, p->config.background);
    SDL_SetRenderDrawColor(p->renderer, v, v, v, 255);
    SDL_RenderClear(p->renderer);
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int compare_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* The median of MEASURE_FLIPS flip-to-flip intervals of the background,
 * and their median absolute deviation: vsync gives regular flips, a swap
 * that only waits for rendering (virtual X servers) gives irregular ones. */
static double thread_measure_period(presenter *p, double *deviation)
{
    int64_t t[MEASURE_FLIPS + 1], d[MEASURE_FLIPS];
    for (int i = 0; i <= MEASURE_FLIPS; i++) {
        thread_draw_background(p);
        SDL_RenderPresent(p->renderer);
        t[i] = presenter_now_ns();
        SDL_PumpEvents();
    }
    for (int i = 0; i < MEASURE_FLIPS; i++)
        d[i] = t[i + 1] - t[i];
    qsort(d, MEASURE_FLIPS, sizeof d[0], compare_i64);
    int64_t median = d[MEASURE_FLIPS / 2];
    for (int i = 0; i < MEASURE_FLIPS; i++)
        d[i] = d[i] > median ? d[i] - median : median - d[i];
    qsort(d, MEASURE_FLIPS, sizeof d[0], compare_i64);
    *deviation = (double)d[MEASURE_FLIPS / 2];
    return (double)median;
}

/* Vsync when the flips wait for it; otherwise a software clock at the
 * nominal rate, and the status string says which and why. */
static int thread_choose_pacing(presenter *p)
{
    const presenter_config *c = &p->config;
    double nominal = 1e9 / c->refresh_hz;
    const char *driver = SDL_GetCurrentVideoDriver();
    SDL_RendererInfo info;
    SDL_GetRendererInfo(p->renderer, &info);
    int virtual_display = driver && (!strcmp(driver, "offscreen") || !strcmp(driver, "dummy"));
    if (c->pacing == PRESENTER_PACING_SOFTWARE || virtual_display ||
        !(info.flags & SDL_RENDERER_PRESENTVSYNC)) {
        if (c->pacing == PRESENTER_PACING_VSYNC) {
            snprintf(p->init_err, STIMULUS_ERR_SIZE, "presenter: vsync asked for, but driver "
                     "%s / renderer %s has none", driver, info.name);
            return 1;
        }
        p->software_pacing = 1;
        p->emulated_display = virtual_display;
        p->period_ns = nominal;
        snprintf(p->status, sizeof p->status, "software clock at %.6g Hz (driver %s, renderer "
                 "%s: %s)", c->refresh_hz, driver, info.name,
                 c->pacing == PRESENTER_PACING_SOFTWARE ? "asked for" : "no vsync");
        return 0;
    }
    double deviation;
    double measured = thread_measure_period(p, &deviation);
    if (measured < 0.75 * nominal || deviation > 0.1 * measured) {
        if (c->pacing == PRESENTER_PACING_VSYNC) {
            snprintf(p->init_err, STIMULUS_ERR_SIZE, "presenter: vsync asked for, but flips "
                     "come every %.3f ± %.3f ms (nominal %.3f ms)", measured / 1e6,
                     deviation / 1e6, nominal / 1e6);
            return 1;
        }
        p->software_pacing = 1;
        p->period_ns = nominal;
        snprintf(p->status, sizeof p->status, "software clock at %.6g Hz (driver %s, renderer "
                 "%s: flips do not wait for vsync, %.3f ± %.3f ms apart)", c->refresh_hz,
                 driver, info.name, measured / 1e6, deviation / 1e6);
        return 0;
    }
    p->period_ns = measured;
    double off = fabs(measured - nominal) / nominal;
    snprintf(p->status, sizeof p->status, "vsync, measured period %.3f ms = %.2f Hz (nominal "
             "%.6g Hz%s; driver %s, renderer %s)", measured / 1e6, 1e9 / measured,
             c->refresh_hz, off > 0.02 ? ": MISMATCH, check the display mode" : "", driver,
             info.name);
    return 0;
}

/* This process's thread ids (Linux: /proc/self/task), sorted; at most
 * MAX_THREADS, and 0 where they cannot be listed. */
static int thread_list(pid_t *ids)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while (n < MAX_THREADS && (e = readdir(d)))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
            ids[n++] = (pid_t)atoi(e->d_name);
    closedir(d);
    qsort(ids, (size_t)n, sizeof *ids, compare_pid);
    return n;
}

/* The threads the video driver started while the display opened (Mesa's
 * llvmpipe rasterizers, a GL driver's worker threads) inherited the render
 * thread's SCHED_FIFO priority. They must stay real-time, or the fit could
 * hold up the render thread waiting for them; but at the render thread's own
 * priority FIFO lets them run on unpreempted: measured on 2 cores, llvmpipe's
 * two rasterizers held both for 12 ms every 3 s, and the render thread,
 * whose timer had fired, waited behind them (frames dropped at 144 Hz). Three
 * steps lower (in `inception run` below the receiver and the aligning run loop), the
 * render thread preempts them. Only new threads at the render thread's very
 * priority are touched: one that another part of the process started
 * meanwhile did not inherit it and is left alone. */
static void thread_lower_driver_threads(presenter *p, const pid_t *before, int count_before)
{
    pid_t now[MAX_THREADS];
    int n = thread_list(now);
    int priority = p->config.realtime_priority - 3; /* below the receiver and the aligning run loop */
    struct sched_param sp = {.sched_priority = priority > 0 ? priority : 0}, had;
    for (int i = 0; i < n; i++) {
        if (bsearch(&now[i], before, (size_t)count_before, sizeof *before, compare_pid) ||
            sched_getscheduler(now[i]) != SCHED_FIFO || sched_getparam(now[i], &had) ||
            had.sched_priority != p->config.realtime_priority)
            continue;
        if (!sched_setscheduler(now[i], priority > 0 ? SCHED_FIFO : SCHED_OTHER, &sp))
            p->driver_threads++;
    }
}

static int thread_init(presenter *p)
{
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "0"); /* nearest: no blending of gamma levels */
    SDL_SetHint(SDL_HINT_VIDEO_MINIMIZE_ON_FOCUS_LOSS, "0");
    if (SDL_InitSubSystem(SDL_INIT_VIDEO | SDL_INIT_EVENTS)) {
        snprintf(p->init_err, STIMULUS_ERR_SIZE, "presenter: SDL video: %s (without a "
                 "display, set SDL_VIDEODRIVER=offscreen)", SDL_GetError());
        return 1;
    }
    int vsync = p->config.pacing != PRESENTER_PACING_SOFTWARE;
    pid_t before[MAX_THREADS];
    int count_before = p->realtime_error ? 0 : thread_list(before);
    if (thread_open_window(p, vsync))
        return 1;
    if (!p->realtime_error && count_before)
        thread_lower_driver_threads(p, before, count_before);
    if (thread_choose_pacing(p))
        return 1;
    if (p->config.audio && presenter_audio_open(p, p->init_err))
        return 1;
    thread_draw_background(p);
    SDL_RenderPresent(p->renderer);
    return 0;
}

static void thread_shutdown(presenter *p)
{
    presenter_audio_close(p);
    for (int i = 0; i < p->image_count; i++)
        if (p->images[i].texture)
            SDL_DestroyTexture(p->images[i].texture);
    if (p->renderer)
        SDL_DestroyRenderer(p->renderer);
    if (p->window)
        SDL_DestroyWindow(p->window);
    SDL_QuitSubSystem(SDL_INIT_VIDEO | SDL_INIT_EVENTS);
    SDL_Quit();
}

/* Draw every texture once, unseen, so that the driver's first-use costs
 * (uploads, shader set-up) are paid before the block, not at an onset. */
static void thread_warm_up(presenter *p)
{
    SDL_Rect dot = {0, 0, 1, 1};
    for (int i = 0; i < p->image_count; i++)
        SDL_RenderCopy(p->renderer, p->images[i].texture, NULL, &dot);
    SDL_RenderFlush(p->renderer);
    thread_draw_background(p);
    SDL_RenderPresent(p->renderer);
}

/* Textures for the images loaded since the last block, before its first frame. */
static int thread_upload(presenter *p)
{
    for (int i = 0; i < p->image_count; i++) {
        presenter_image *im = &p->images[i];
        if (im->texture)
            continue;
        im->texture = SDL_CreateTexture(p->renderer, SDL_PIXELFORMAT_RGBA32,
                                        SDL_TEXTUREACCESS_STATIC, im->width, im->height);
        if (!im->texture || SDL_UpdateTexture(im->texture, NULL, im->rgba, 4 * im->width)) {
            snprintf(p->init_err, STIMULUS_ERR_SIZE, "presenter: image %d (%d×%d): %s", i,
                     im->height, im->width, SDL_GetError());
            return 1;
        }
        SDL_SetTextureScaleMode(im->texture, SDL_ScaleModeNearest);
        free(im->rgba);
        im->rgba = NULL;
    }
    thread_warm_up(p);
    return 0;
}

static void loop_handle_input(frame_loop *l)
{
    SDL_Event e;
    while (SDL_PollEvent(&e)) {
        if (e.type == SDL_QUIT)
            atomic_store(&l->p->abort_requested, 1);
        if (e.type != SDL_KEYDOWN || e.key.repeat)
            continue;
        if (e.key.keysym.sym == SDLK_ESCAPE)
            atomic_store(&l->p->abort_requested, 1);
        else if (e.key.keysym.sym == SDLK_SPACE)
            atomic_store(&l->p->paused, !atomic_load(&l->p->paused));
    }
}

static void loop_draw(frame_loop *l, const frame_plan *f)
{
    presenter *p = l->p;
    thread_draw_background(p);
    int image = -1;
    if (f->starting)
        image = f->next.image;
    else if (l->active && !l->trial.in_isi && !f->offset)
        image = l->trial.request.image;
    if (image >= 0) {
        presenter_image *im = &p->images[image];
        SDL_Rect r;
        presenter_stimulus_rect(p, im->height, im->width, &r.x, &r.y, &r.w, &r.h);
        SDL_RenderCopy(p->renderer, im->texture, NULL, &r);
    }
    int size = p->config.photodiode_size_px;
    if (size > 0) {
        int white = f->starting ? !l->photodiode_white : l->photodiode_white;
        SDL_Rect r = {0, 0, size, size};
        presenter_corner c = p->config.photodiode_corner;
        if (c == PRESENTER_TOP_RIGHT || c == PRESENTER_BOTTOM_RIGHT)
            r.x = p->drawable_width - size;
        if (c == PRESENTER_BOTTOM_LEFT || c == PRESENTER_BOTTOM_RIGHT)
            r.y = p->drawable_height - size;
        uint8_t v = white ? 255 : 0;
        SDL_SetRenderDrawColor(p->renderer, v, v, v, 255);
        SDL_RenderFillRect(p->renderer, &r);
    }
    if (f->starting && f->next.capture)
        SDL_RenderReadPixels(p->renderer, NULL, SDL_PIXELFORMAT_RGBA32, f->next.capture,
                             4 * p->drawable_width);
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000LL), (long)(t % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Software clock on a real display (it shows a swap at once): sleep until
 * the next grid point not yet passed, then swap, as a display would wait
 * for the next vertical blank. */
static void loop_pace(frame_loop *l)
{
    if (l->flips == 0)
        return; /* the grid starts at the first flip (loop_frame) */
    sleep_until(schedule_next_refresh(l, presenter_now_ns(), NULL));
}

/* One flip: input, plan, draw, (wait,) swap, (wait,) timestamp, account.
 * With no display the frame is swapped first and shown at the emulated
 * refresh after it, so a wake-up late by less than a refresh minus the
 * frame's own work costs nothing, as with a vsync'd display that queues
 * the swap; on a real display paced in software the swap waits for the
 * refresh instead. */
static void loop_frame(frame_loop *l, int aborting)
{
    presenter *p = l->p;
    int64_t begin = presenter_now_ns();
    loop_handle_input(l);
    frame_plan f = schedule_plan(l, aborting);
    loop_draw(l, &f);
    int64_t drawn = presenter_now_ns();
    if (p->software_pacing && !p->emulated_display)
        loop_pace(l);
    int64_t before_swap = presenter_now_ns();
    SDL_RenderPresent(p->renderer);
    int64_t flip_ns = presenter_now_ns(), woke_ns = flip_ns;
    if (p->emulated_display) {
        int missed;
        int64_t shown_ns = schedule_blank(l, flip_ns, &missed);
        sleep_until(shown_ns);
        woke_ns = presenter_now_ns();
        schedule_after_blank(l, &f, shown_ns, woke_ns, missed, aborting);
    } else {
        if (l->flips == 0) {
            l->grid_start_ns = before_swap;
            l->grid_index = 0;
        }
        schedule_after_flip(l, &f, flip_ns, aborting);
    }
    int64_t done = presenter_now_ns();
    histogram_add(p->work_histogram, (drawn - begin) + (done - woke_ns));
    histogram_add(p->present_histogram, flip_ns - before_swap);
}

static void thread_run_block(presenter *p)
{
    frame_loop l;
    memset(&l, 0, sizeof l);
    l.p = p;
    l.photodiode_white = !p->config.photodiode_first_white; /* toggled at the first onset */
    memset(p->work_histogram, 0, PRESENTER_HISTOGRAM_BINS * sizeof(int32_t));
    memset(p->present_histogram, 0, PRESENTER_HISTOGRAM_BINS * sizeof(int32_t));
    for (;;) {
        int aborting = atomic_load(&p->abort_requested);
        if (aborting && !l.active)
            break;
        if (!aborting && !l.active && atomic_load(&p->finish_requested) &&
            ring_count(&p->requests) == 0)
            break;
        loop_frame(&l, aborting);
    }
    schedule_discard_requests(&l);
    l.s.aborted = atomic_load(&p->abort_requested);
    schedule_summarize(&l);
    pthread_mutex_lock(&p->lock);
    p->summary = l.s;
    p->state = STATE_IDLE; /* before the last event, so its reader may start another block */
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    presenter_event end;
    memset(&end, 0, sizeof end);
    end.kind = PRESENTER_EVENT_BLOCK_END;
    end.trial = -1;
    end.image = end.sound = -1;
    presenter_event oldest;
    while (ring_push(&p->events, &end)) /* the last event must arrive: make room */
        ring_pop(&p->events, &oldest, 0);
}

/* Between blocks: keep the window alive (events pumped) until told. */
static int thread_wait_command(presenter *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->state == STATE_IDLE) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->changed, &p->lock, &ts);
        if (p->state == STATE_IDLE) {
            pthread_mutex_unlock(&p->lock);
            SDL_PumpEvents();
            SDL_FlushEvents(SDL_FIRSTEVENT, SDL_LASTEVENT);
            pthread_mutex_lock(&p->lock);
        }
    }
    int state = p->state;
    pthread_mutex_unlock(&p->lock);
    return state;
}

static void thread_set_state(presenter *p, int state, int status)
{
    pthread_mutex_lock(&p->lock);
    p->state = state;
    p->init_status = status;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

/* Before anything else, so that threads started on our behalf inherit it
 * (the driver's are then put three steps lower: thread_lower_driver_threads). */
static void thread_ask_realtime(presenter *p)
{
    p->realtime_error = -1;
    if (p->config.realtime_priority <= 0)
        return;
    struct sched_param sp = {.sched_priority = p->config.realtime_priority};
    p->realtime_error = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}

void *presenter_thread_main(void *arg)
{
    presenter *p = arg;
    thread_ask_realtime(p);
    int status = thread_init(p);
    pthread_mutex_lock(&p->lock);
    p->init_status = status;
    p->init_done = 1;
    p->state = STATE_IDLE;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    while (!status && thread_wait_command(p) == STATE_START) {
        if (thread_upload(p)) {
            thread_set_state(p, STATE_IDLE, 1);
            continue;
        }
        thread_set_state(p, STATE_RUNNING, 0);
        thread_run_block(p);
    }
    thread_shutdown(p);
    return NULL;
}
