/* run_display.c: the display of `inception run` (display/display.h): this
 * computer's presenter, or a presenter on another computer (`inception
 * present --serve` there, display.endpoint here) driven over the display
 * protocol (DISPLAY.md). Either way the run loop sees one display_ops, and
 * event times on this computer's clock. */
#include "display/display.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int open_local(run_display *d, const protocol *p, int realtime_priority, char *err)
{
    const protocol_display *pd = &p->display;
    presenter_config c = presenter_config_default();
    /* Audio: the device at the clips' own rate, so the samples played are
     * the samples made (no resampling; docs/audio.md). */
    c.audio = p->modality == PROTOCOL_MODALITY_AUDIO;
    if (c.audio) {
        c.audio_rate = p->sounds.rate;
        c.audio_sync_ms = p->sounds.sync_ms;
    }
    c.display = pd->index;
    c.fullscreen = pd->mode == PROTOCOL_DISPLAY_FULLSCREEN;
    c.width = pd->width;
    c.height = pd->height;
    c.refresh_hz = pd->refresh_hz;
    c.pacing = pd->mode == PROTOCOL_DISPLAY_OFFSCREEN ? PRESENTER_PACING_SOFTWARE
                                                       : PRESENTER_PACING_AUTO;
    c.background = pd->background;
    c.photodiode_size_px = pd->photodiode ? pd->photodiode_px : 0;
    c.screen_width_cm = pd->screen_width_cm;
    c.viewing_distance_cm = pd->viewing_distance_cm;
    c.stimulus_width_deg = pd->stimulus_degrees;
    c.queue_capacity = 8192;
    c.realtime_priority = realtime_priority;
    gamma_calibration cal;
    char why[STIMULUS_ERR_SIZE];
    if (pd->gamma_file[0]) {
        if (gamma_read(pd->gamma_file, &cal, why)) {
            return controller_fail(err, "%s", why);
        }
        c.calibration = &cal;
    }
    if (presenter_create(&d->local, &c, why)) {
        return controller_fail(err, "presenter: %s", why);
    }
    d->ops = display_ops_local(d->local);
    snprintf(d->status, sizeof d->status, "display: %s", presenter_status(d->local));
    return 0;
}

/* The endpoint is the protocol's explicit choice: another computer is the
 * point, so it may lie beyond loopback. */
static int open_remote(run_display *d, const protocol_display *pd, char *err)
{
    display_client_config c = {.endpoint = pd->endpoint, .allow_remote = 1};
    char why[CONTROLLER_ERR_SIZE];
    if (display_client_create(&d->remote, &c, why)) {
        return controller_fail(err, "remote display %s (display.endpoint): %s", pd->endpoint, why);
    }
    d->ops = display_ops_remote(d->remote);
    /* The protocol's durations were rounded to frames at its refresh rate. */
    double hz = 1000.0 / display_client_period_ms(d->remote);
    if (!(fabs(hz - pd->refresh_hz) <= 0.02 * pd->refresh_hz)) {
        return controller_fail(err, "the remote display %s runs at %.2f Hz, but "
                               "display.refresh_hz is %g (the protocol's frames assume it)",
                               pd->endpoint, hz, (double)pd->refresh_hz);
    }
    display_clock k;
    display_client_clock(d->remote, &k);
    snprintf(d->status, sizeof d->status, "display: remote on %s: %s; its clock %+.3f ms from "
             "ours (± %.3f ms)", pd->endpoint, display_client_status(d->remote),
             (double)k.offset_ns / 1e6, (double)k.uncertainty_ns / 1e6);
    return 0;
}

int run_display_open(run_display *d, const protocol *p, int realtime_priority, char *err)
{
    memset(d, 0, sizeof *d);
    return p->display.endpoint[0] ? open_remote(d, &p->display, err)
                                  : open_local(d, p, realtime_priority, err);
}

int run_display_resync(run_display *d, char *note, size_t size, char *err)
{
    note[0] = 0;
    if (!d->remote)
        return 0;
    char why[CONTROLLER_ERR_SIZE];
    if (display_client_sync_clock(d->remote, 16, why)) {
        return controller_fail(err, "remote display: %s", why);
    }
    display_clock k;
    display_client_clock(d->remote, &k);
    snprintf(note, size, "remote display clock: %+.3f ms from ours (± %.3f ms, %d pings); "
             "%llu events lost so far", (double)k.offset_ns / 1e6,
             (double)k.uncertainty_ns / 1e6, k.pings,
             (unsigned long long)display_client_events_lost(d->remote));
    return 0;
}

void run_display_close(run_display *d)
{
    if (d->block_running && d->ops.abort)
        d->ops.abort(d->ops.display);
    presenter_destroy(d->local);
    display_client_destroy(d->remote);
    memset(d, 0, sizeof *d);
}
