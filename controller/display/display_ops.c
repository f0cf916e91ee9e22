/* display_ops.c: one interface over the local presenter and a remote
 * display, so the run loop is written once. The local one is the presenter
 * itself (its clock is the controller's); the remote one returns event times
 * already moved onto the controller's clock. */
#include "display/display.h"

/* ---- local ---- */

static int local_add_image(void *d, const float *pixels, int height, int width, int *id,
                           char *err)
{
    return presenter_add_image(d, pixels, height, width, id, err);
}
static int local_add_sound(void *d, const float *samples, int frames, int channels, int rate,
                           int *id, char *err)
{
    return presenter_add_sound_samples(d, samples, frames, channels, rate, id, err);
}
static int local_start_block(void *d, char *err) { return presenter_start_block(d, err); }
static int local_submit(void *d, const presenter_request *r, char *err)
{
    return presenter_submit(d, r, err);
}
static void local_finish_block(void *d) { presenter_finish_block(d); }
static int local_next_event(void *d, presenter_event *ev, int timeout_ms)
{
    return presenter_next_event(d, ev, timeout_ms);
}
static void local_block_summary(void *d, presenter_summary *out)
{
    presenter_block_summary(d, out);
}
static void local_abort(void *d) { presenter_abort(d); }
static void local_set_paused(void *d, int paused) { presenter_set_paused(d, paused); }
static double local_period_ms(void *d) { return presenter_period_ms(d); }

display_ops display_ops_local(presenter *p)
{
    return (display_ops){p, local_add_image, local_add_sound, local_start_block, local_submit,
                         local_finish_block, local_next_event, local_block_summary,
                         local_abort, local_set_paused, local_period_ms};
}

/* ---- remote ---- */

static int remote_add_image(void *d, const float *pixels, int height, int width, int *id,
                            char *err)
{
    return display_client_add_image(d, pixels, height, width, id, err);
}
static int remote_add_sound(void *d, const float *samples, int frames, int channels, int rate,
                            int *id, char *err)
{
    return display_client_add_sound_samples(d, samples, frames, channels, rate, id, err);
}
static int remote_start_block(void *d, char *err) { return display_client_start_block(d, err); }
static int remote_submit(void *d, const presenter_request *r, char *err)
{
    return display_client_submit(d, r, err);
}
static void remote_finish_block(void *d) { display_client_finish_block(d); }
static int remote_next_event(void *d, presenter_event *ev, int timeout_ms)
{
    return display_client_next_event(d, ev, timeout_ms);
}
static void remote_block_summary(void *d, presenter_summary *out)
{
    display_client_block_summary(d, out);
}
static void remote_abort(void *d) { display_client_abort(d); }
static void remote_set_paused(void *d, int paused) { display_client_set_paused(d, paused); }
static double remote_period_ms(void *d) { return display_client_period_ms(d); }

display_ops display_ops_remote(display_client *c)
{
    return (display_ops){c, remote_add_image, remote_add_sound, remote_start_block,
                         remote_submit, remote_finish_block, remote_next_event,
                         remote_block_summary, remote_abort, remote_set_paused,
                         remote_period_ms};
}
