/* presenter_schedule.c: the bookkeeping of the frame loop. Before a flip:
 * does it end the stimulus, end the trial, start the next one? After it,
 * with the time the frame reached the screen (the swap's return on a real
 * display, the emulated refresh without one): count the interval against
 * what was on screen, measure durations in refresh periods, emit events.
 * No SDL here. */
#include "presenter_internal.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static void loop_push_event(frame_loop *l, const presenter_event *ev)
{
    if (ring_push(&l->p->events, ev))
        l->s.events_lost++;
}

frame_plan schedule_plan(frame_loop *l, int aborting)
{
    frame_plan f;
    memset(&f, 0, sizeof f);
    presenter_trial *t = &l->trial;
    if (l->active) {
        const presenter_request *r = &t->request;
        if (!t->in_isi) {
            int hold_over = r->frames == 0 &&
                            (ring_count(&l->p->requests) > 0 ||
                             atomic_load(&l->p->finish_requested));
            f.offset = aborting || (r->frames > 0 && t->count >= r->frames) || hold_over;
            f.ending = aborting || (f.offset && r->isi_frames == 0);
        } else {
            f.ending = aborting || t->count >= r->isi_frames;
        }
    }
    if ((!l->active || f.ending) && !aborting && !atomic_load(&l->p->paused))
        f.starting = ring_pop(&l->p->requests, &f.next, 0);
    return f;
}

void histogram_add(int32_t *h, int64_t ns)
{
    int64_t bin = ns / 1000;
    h[bin < 0 ? 0 : bin >= PRESENTER_HISTOGRAM_BINS ? PRESENTER_HISTOGRAM_BINS - 1 : bin]++;
}

double histogram_quantile(const int32_t *h, double q)
{
    int64_t total = 0, seen = 0;
    for (int i = 0; i < PRESENTER_HISTOGRAM_BINS; i++)
        total += h[i];
    for (int i = 0; i < PRESENTER_HISTOGRAM_BINS; i++) {
        seen += h[i];
        if (total && (double)seen >= q * (double)total)
            return (i + 0.5) / 1000.0;
    }
    return 0.0;
}

/* The interval that ended at this flip belongs to what was on screen before
 * it. `measured_ns` is the flip as the render thread saw it; `missed` the
 * refreshes passed over, or -1 to count them from the measured interval
 * (a display whose swap returns at its refresh). */
static int loop_account_interval(frame_loop *l, int64_t measured_ns, int missed)
{
    if (l->flips == 0)
        return 0;
    double dt = (double)(measured_ns - l->last_flip_ns), period = l->p->period_ns;
    l->interval_sum += dt;
    l->interval_sum2 += dt * dt;
    if (dt / 1e6 > l->s.interval_max_ms)
        l->s.interval_max_ms = dt / 1e6;
    if (missed < 0)
        missed = dt > 1.5 * period ? (int)llround(dt / period) - 1 : 0;
    l->s.dropped_frames += missed;
    if (l->active && missed) {
        l->trial.event.dropped_frames += missed;
        l->trial.event.flags |= PRESENTER_DROPPED_FRAMES;
    }
    return missed;
}

static int frames_between(int64_t a, int64_t b, double period)
{
    return (int)llround((double)(b - a) / period);
}

static void loop_end_trial(frame_loop *l, int64_t flip_ns, int aborting)
{
    presenter_event *ev = &l->trial.event;
    double period = l->p->period_ns;
    ev->kind = PRESENTER_EVENT_TRIAL;
    ev->end_ns = flip_ns;
    ev->frames_shown = frames_between(ev->onset_ns, ev->offset_ns, period);
    ev->isi_shown = frames_between(ev->offset_ns, ev->end_ns, period);
    if (aborting)
        ev->flags |= PRESENTER_ABORTED;
    else if ((ev->frames_requested > 0 && ev->frames_shown != ev->frames_requested) ||
             ev->isi_shown != ev->isi_requested)
        ev->flags |= PRESENTER_WRONG_DURATION;
    if (l->trial.request.sound >= 0) {
        int playing;
        ev->sound_onset_ns = presenter_sound_onset(l->p, l->trial.serial,
                                                   &ev->sound_onset_sample, &playing);
        if (ev->sound_onset_ns)
            ev->flags |= PRESENTER_SOUND_PLAYED;
        if (playing)
            ev->flags |= PRESENTER_SOUND_CUT;
    }
    l->s.trials_shown++;
    l->s.wrong_durations += (ev->flags & PRESENTER_WRONG_DURATION) != 0;
    l->s.trials_with_drops += (ev->flags & PRESENTER_DROPPED_FRAMES) != 0;
    loop_push_event(l, ev);
    l->active = 0;
}

static void loop_start_trial(frame_loop *l, const presenter_request *r, int64_t flip_ns,
                             int missed)
{
    presenter_trial *t = &l->trial;
    memset(t, 0, sizeof *t);
    t->request = *r;
    t->serial = ++l->serial;
    t->count = 1;
    presenter_event *ev = &t->event;
    ev->kind = PRESENTER_EVENT_ONSET;
    ev->trial = r->trial;
    ev->image = r->image;
    ev->sound = r->sound;
    ev->sound_onset_sample = -1;
    ev->onset_flip = l->flips;
    ev->onset_ns = flip_ns;
    ev->frames_requested = r->frames;
    ev->isi_requested = r->isi_frames;
    if (missed)
        ev->flags |= PRESENTER_LATE_ONSET;
    ev->dropped_frames = missed; /* this event's; the trial's own count starts at 0 */
    if (r->capture)
        ev->flags |= PRESENTER_CAPTURED;
    if (r->sound >= 0)
        presenter_sound_start(l->p, r->sound, t->serial);
    l->active = 1;
    l->photodiode_white = !l->photodiode_white;
    loop_push_event(l, ev);
    ev->dropped_frames = 0;
}

/* A late flip that is no onset: its own event, so that the controller can
 * record every dropped frame where it happened. */
static void loop_report_late_flip(frame_loop *l, int64_t flip_ns, int missed)
{
    presenter_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = PRESENTER_EVENT_FLIP;
    ev.trial = l->active ? l->trial.request.trial : -1;
    ev.image = l->active && !l->trial.in_isi ? l->trial.request.image : -1;
    ev.sound = -1;
    ev.onset_flip = l->flips;
    ev.onset_ns = flip_ns;
    ev.dropped_frames = missed;
    ev.flags = PRESENTER_DROPPED_FRAMES;
    loop_push_event(l, &ev);
}

static void after_flip(frame_loop *l, const frame_plan *f, int64_t shown_ns, int64_t measured_ns,
                       int missed, int aborting)
{
    missed = loop_account_interval(l, measured_ns, missed);
    if (missed && !f->starting)
        loop_report_late_flip(l, shown_ns, missed);
    if (l->active) {
        if (f->offset) {
            l->trial.event.offset_ns = shown_ns;
            l->trial.in_isi = 1;
            l->trial.count = 0;
        }
        if (f->ending)
            loop_end_trial(l, shown_ns, aborting);
        else
            l->trial.count++;
    }
    if (f->starting)
        loop_start_trial(l, &f->next, shown_ns, missed);
    if (!l->active)
        l->s.idle_flips++;
    l->last_flip_ns = measured_ns;
    l->flips++;
}

void schedule_after_flip(frame_loop *l, const frame_plan *f, int64_t flip_ns, int aborting)
{
    after_flip(l, f, flip_ns, flip_ns, -1, aborting);
}

int64_t schedule_next_refresh(frame_loop *l, int64_t t, int *missed)
{
    double period = l->p->period_ns;
    int64_t k = l->grid_index + 1;
    int64_t first_after = (int64_t)ceil((double)(t - l->grid_start_ns) / period);
    if (first_after > k)
        k = first_after;
    if (missed)
        *missed = (int)(k - l->grid_index - 1);
    l->grid_index = k;
    return l->grid_start_ns + (int64_t)llround((double)k * period);
}

int64_t schedule_blank(frame_loop *l, int64_t swapped_ns, int *missed)
{
    *missed = 0;
    if (l->flips == 0) {
        l->grid_start_ns = swapped_ns;
        l->grid_index = 0;
        return swapped_ns;
    }
    return schedule_next_refresh(l, swapped_ns, missed);
}

void schedule_after_blank(frame_loop *l, const frame_plan *f, int64_t shown_ns, int64_t woke_ns,
                          int missed, int aborting)
{
    assert(missed >= 0);
    after_flip(l, f, shown_ns, woke_ns, missed, aborting);
}

void schedule_discard_requests(frame_loop *l)
{
    presenter_request r;
    while (ring_pop(&l->p->requests, &r, 0))
        l->s.trials_discarded++;
}

void schedule_summarize(frame_loop *l)
{
    presenter *p = l->p;
    presenter_summary *s = &l->s;
    s->flips = l->flips;
    s->period_ms = p->period_ns / 1e6;
    double n = (double)(l->flips > 1 ? l->flips - 1 : 1);
    double mean = l->interval_sum / n;
    s->interval_mean_ms = mean / 1e6;
    double var = l->interval_sum2 / n - mean * mean;
    s->interval_sd_ms = var > 0 ? sqrt(var) / 1e6 : 0.0;
    s->frame_work_median_ms = histogram_quantile(p->work_histogram, 0.5);
    s->frame_work_p99_ms = histogram_quantile(p->work_histogram, 0.99);
    s->present_median_ms = histogram_quantile(p->present_histogram, 0.5);
}
