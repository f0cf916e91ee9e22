/* present.c: `inception present`'s block, the whole of its showing and its
 * --serve loop, `inception calibrate`'s levels, session and file (present.h). */
#include "present.h"
#include "acquisition.h"
#include "controller_util.h"
#include "session/session.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Adds every image, and the sound (NULL: none; its id in *sound_id, else -1),
 * to the presenter. */
static int present_load(presenter *p, const present_images *l, const char *sound,
                        int *sound_id, char *err)
{
    char why[STIMULUS_ERR_SIZE];
    for (int i = 0; i < l->count; i++) {
        int id;
        if (presenter_add_image(p, l->pixels[i], l->height[i], l->width[i], &id, why))
            return controller_fail(err, "image %d: %s", i, why);
    }
    *sound_id = -1;
    if (sound && presenter_add_sound(p, sound, sound_id, why))
        return controller_fail(err, "%s", why);
    return 0;
}

/* present_show's trials, handed on as present_show_events. */
typedef struct show_trial_context {
    present_show_fn on_event;
    void *user;
    const presenter *presenter;
} show_trial_context;

static void show_trial(const presenter_event *ev, int64_t first_onset_ns, void *user)
{
    const show_trial_context *t = user;
    present_show_event e = {.stage = PRESENT_SHOW_TRIAL, .presenter = t->presenter,
                            .trial = ev, .first_onset_ns = first_onset_ns};
    if (t->on_event)
        t->on_event(&e, t->user);
}

/* Shows images 0..images-1 `repeats` times (frames each, isi frames after,
 * the sound at each onset; -1 none) in a block already started, submitting
 * while handing on events as they come; each trial's event goes to on_trial
 * with the block's first onset, and the block's summary to *summary.
 * Escape's abort ends the block early. */
typedef void (*present_trial_fn)(const presenter_event *ev, int64_t first_onset_ns, void *user);
static void present_block(presenter *p, int images, int repeats, int frames, int isi, int sound,
                          present_trial_fn on_trial, void *user, presenter_summary *summary)
{
    char err[STIMULUS_ERR_SIZE];
    int64_t total = (int64_t)images * repeats, next = 0, first_onset = -1;
    int primed = 0;
    presenter_event ev;
    presenter_set_paused(p, 1); /* queue the first requests before the first onset */
    for (;;) {
        while (next < total) {
            presenter_request r = {next, (int)(next % images), sound, frames, isi, NULL};
            int rc = presenter_submit(p, &r, err);
            if (rc < 0)
                break; /* aborted: the block is over */
            if (rc)
                break;
            if (++next == total)
                presenter_finish_block(p);
        }
        if (!primed) /* only once: Space pauses too */
            presenter_set_paused(p, 0);
        primed = 1;
        if (!presenter_next_event(p, &ev, 100))
            continue;
        if (ev.kind == PRESENTER_EVENT_BLOCK_END)
            break;
        if (ev.kind == PRESENTER_EVENT_FLIP) /* late flips: counted in the summary */
            continue;
        if (first_onset < 0)
            first_onset = ev.onset_ns;
        if (ev.kind == PRESENTER_EVENT_TRIAL && on_trial)
            on_trial(&ev, first_onset, user);
    }
    presenter_block_summary(p, summary);
}

/* A duration in ms (< 0: none) as whole frames of the open display, told. */
static int frames_from_ms(const presenter *p, const char *option, float ms, int frames,
                          present_show_fn on_event, void *user)
{
    if (ms < 0.0f)
        return frames;
    present_show_event e = {.stage = PRESENT_SHOW_ROUNDED, .presenter = p, .option = option,
                            .ms = ms};
    e.frames = presenter_ms_to_frames(p, ms, &e.actual_ms);
    if (on_event)
        on_event(&e, user);
    return e.frames;
}

/* The display open: the schedule in frames, told, then loaded and shown. */
static int show_on(presenter *p, const present_images *images, const present_show_config *s,
                   present_show_fn on_event, void *user, char *err)
{
    present_show_event e = {.stage = PRESENT_SHOW_OPENED, .presenter = p,
                            .images = images->count, .repeats = s->repeats};
    e.frames = frames_from_ms(p, "duration-ms", s->frames_ms, s->frames, on_event, user);
    e.isi = frames_from_ms(p, "isi-ms", s->isi_ms, s->isi, on_event, user);
    char scheduling[256];
    run_sched_display_alone(p, scheduling, sizeof scheduling);
    e.scheduling = scheduling;
    if (on_event)
        on_event(&e, user);
    if (e.frames < 1)
        return controller_fail(err, "a stimulus needs at least one frame");
    int sound_id;
    if (present_load(p, images, s->sound, &sound_id, err) || presenter_start_block(p, err))
        return 1;
    present_show_event block = {.stage = PRESENT_SHOW_BLOCK, .presenter = p};
    if (on_event)
        on_event(&block, user);
    show_trial_context t = {on_event, user, p};
    presenter_summary summary;
    present_block(p, images->count, s->repeats, e.frames, e.isi, sound_id, show_trial, &t,
                  &summary);
    present_show_event end = {.stage = PRESENT_SHOW_SUMMARY, .presenter = p,
                              .summary = &summary};
    if (on_event)
        on_event(&end, user);
    return 0;
}

int present_show(const presenter_config *c, const present_show_config *s,
                 present_show_fn on_event, void *user, char *err)
{
    present_images images = {0};
    int status = 1;
    presenter *p;
    if (!present_images_load(s->images, &images, err) && !presenter_create(&p, c, err)) {
        status = show_on(p, &images, s, on_event, user, err);
        presenter_destroy(p);
    }
    present_images_free(&images);
    return status;
}

/* The serving on an open display. */
static int serve_on(presenter *p, const present_serve_config *c,
                    const volatile sig_atomic_t *stop, present_serve_fn on_event, void *user,
                    char *err)
{
    display_server_config sc = {.endpoint = c->endpoint, .allow_remote = c->allow_remote,
                                .queue_capacity = c->queue_capacity,
                                .max_preload_bytes = c->max_preload_bytes};
    display_server *s;
    if (display_server_create(&s, p, &sc, err))
        return 1;
    if (on_event)
        on_event(PRESENT_SERVE_READY, p, s, NULL, user);
    int64_t start = acq_now_ns(), last = start;
    while (!(stop && *stop) &&
           (c->seconds <= 0.0f || acq_now_ns() - start < (int64_t)(c->seconds * 1e9f))) {
        display_server_poll(s, 2);
        if (acq_now_ns() - last > 10000000000LL) { /* progress every 10 s */
            if (on_event)
                on_event(PRESENT_SERVE_PROGRESS, p, s, NULL, user);
            last = acq_now_ns();
        }
    }
    if (on_event)
        on_event(PRESENT_SERVE_STOPPED, p, s, NULL, user);
    display_server_destroy(s);
    return 0;
}

int present_serve(const presenter_config *pc, const present_serve_config *c,
                  const volatile sig_atomic_t *stop, present_serve_fn on_event, void *user,
                  char *err)
{
    presenter *p;
    if (presenter_create(&p, pc, err))
        return 1;
    char scheduling[256];
    run_sched_display_alone(p, scheduling, sizeof scheduling);
    if (on_event)
        on_event(PRESENT_SERVE_OPENED, p, NULL, scheduling, user);
    int status = serve_on(p, c, stop, on_event, user, err);
    presenter_destroy(p);
    return status;
}

/* The drive levels 0..255 in `levels` even steps (level_of[k],
 * GAMMA_MAX_POINTS at most), each added to the presenter as a 1×1 gray image
 * (image k). */
static int present_gray_levels(presenter *p, int levels, int *level_of, char *err)
{
    for (int k = 0; k < levels; k++) {
        level_of[k] = (int)lround(255.0 * k / (levels - 1));
        float gray = level_of[k] / 255.0f;
        int id;
        if (presenter_add_image(p, &gray, 1, 1, &id, err))
            return 1;
    }
    return 0;
}

int present_calibration_write(const char *path, const gamma_calibration *cal, char *err)
{
    gamma_calibration check;
    char text[64 * GAMMA_MAX_POINTS];
    size_t used = 0;
    for (int i = 0; i < cal->count; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%g %.9g\n", cal->level[i],
                                 cal->luminance[i]);
    return gamma_parse(text, used, "readings", &check, err) || gamma_write(path, cal, err);
}

int present_calibrate(const presenter_config *c, int levels, present_calibrate_fn on_event,
                      void *user, gamma_calibration *cal, char *err)
{
    if (levels < 2 || levels > GAMMA_MAX_POINTS)
        return controller_fail(err, "%d gray levels: 2..%d", levels, GAMMA_MAX_POINTS);
    presenter_config full = *c;
    full.stimulus_width_deg = 0; /* fill the screen */
    full.photodiode_size_px = 0;
    full.calibration = NULL;     /* drive levels as they are */
    memset(cal, 0, sizeof *cal);
    presenter *p;
    if (presenter_create(&p, &full, err))
        return 1;
    on_event(PRESENT_CALIBRATE_OPENED, p, 0, levels, 0, NULL, user);
    int level_of[GAMMA_MAX_POINTS];
    if (present_gray_levels(p, levels, level_of, err) || presenter_start_block(p, err)) {
        presenter_destroy(p);
        return 1;
    }
    for (int k = 0; k < levels; k++) {
        char why[STIMULUS_ERR_SIZE];
        presenter_request r = {k, k, -1, 0, 0, NULL}; /* held until the next level */
        if (presenter_submit(p, &r, why)) {
            on_event(PRESENT_CALIBRATE_ABORTED, p, k, levels, level_of[k], NULL, user);
            break;
        }
        float reading;
        int rc = on_event(PRESENT_CALIBRATE_LEVEL, p, k, levels, level_of[k], &reading, user);
        if (rc == 2)
            break;
        if (rc == 0) {
            cal->level[cal->count] = (float)level_of[k];
            cal->luminance[cal->count++] = reading;
        }
    }
    presenter_abort(p);
    presenter_event ev;
    while (presenter_next_event(p, &ev, 10000) && ev.kind != PRESENTER_EVENT_BLOCK_END)
        ;
    presenter_destroy(p);
    return 0;
}
