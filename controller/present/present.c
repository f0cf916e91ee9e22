/* present.c: `inception present`'s block and its --serve loop, `inception
 * calibrate`'s levels and file (present.h). */
#include "present.h"
#include "acquisition.h"
#include "controller_util.h"

#include <math.h>
#include <stdio.h>

int present_load(presenter *p, const present_images *l, const char *sound, int *sound_id,
                 char *err)
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

/* Submits every (image, repeat) while handing on events as they come. */
void present_block(presenter *p, int images, int repeats, int frames, int isi, int sound,
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

int present_serve(presenter *p, const present_serve_config *c, const volatile sig_atomic_t *stop,
                  present_serve_fn on_event, void *user, char *err)
{
    display_server_config sc = {.endpoint = c->endpoint, .allow_remote = c->allow_remote,
                                .queue_capacity = c->queue_capacity,
                                .max_preload_bytes = c->max_preload_bytes};
    display_server *s;
    if (display_server_create(&s, p, &sc, err))
        return 1;
    if (on_event)
        on_event(PRESENT_SERVE_READY, s, user);
    int64_t start = acq_now_ns(), last = start;
    while (!(stop && *stop) &&
           (c->seconds <= 0.0f || acq_now_ns() - start < (int64_t)(c->seconds * 1e9f))) {
        display_server_poll(s, 2);
        if (acq_now_ns() - last > 10000000000LL) { /* progress every 10 s */
            if (on_event)
                on_event(PRESENT_SERVE_PROGRESS, s, user);
            last = acq_now_ns();
        }
    }
    if (on_event)
        on_event(PRESENT_SERVE_STOPPED, s, user);
    display_server_destroy(s);
    return 0;
}

int present_gray_levels(presenter *p, int levels, int *level_of, char *err)
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
