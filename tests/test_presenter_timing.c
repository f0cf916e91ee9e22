/* test_presenter_timing.c: 1,000 stimulus onsets through the presenter (SDL
 * dummy driver, software clock at 500 Hz), fed while the block runs through
 * a small queue, and the event stream checked against the schedule: every
 * trial reported once, in order, each onset frames + ISI flips after the
 * previous, measured durations recomputed from the timestamps, and every
 * mismatch flagged. No timing assertions: a loaded machine drops frames,
 * and then the events must say so. */
#include "presenter/presenter.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TRIALS 1000
#define HZ 500.0

static char err[STIMULUS_ERR_SIZE];

typedef struct schedule {
    int image[TRIALS], frames[TRIALS], isi[TRIALS];
} schedule;

static void make_schedule(schedule *s, int images)
{
    uint64_t x = 12345;
    for (int i = 0; i < TRIALS; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        s->image[i] = (int)((x >> 33) % (uint64_t)images);
        s->frames[i] = 1 + (int)((x >> 40) % 3);
        s->isi[i] = (int)((x >> 50) % 3);
    }
}

typedef struct stream {
    presenter_event onset[TRIALS], trial[TRIALS];
    int onsets, trials, out_of_order;
    int64_t reported_drops; /* frames missed, as the ONSET and FLIP events report them */
} stream;

static int take_event(presenter *p, stream *st, int timeout_ms)
{
    presenter_event ev;
    if (!presenter_next_event(p, &ev, timeout_ms))
        return -1;
    if (ev.kind == PRESENTER_EVENT_BLOCK_END)
        return 1;
    if (ev.kind != PRESENTER_EVENT_TRIAL)
        st->reported_drops += ev.dropped_frames;
    if (ev.kind == PRESENTER_EVENT_FLIP)
        return 0;
    int *n = ev.kind == PRESENTER_EVENT_ONSET ? &st->onsets : &st->trials;
    presenter_event *into = ev.kind == PRESENTER_EVENT_ONSET ? st->onset : st->trial;
    if (*n < TRIALS) {
        st->out_of_order += ev.trial != *n;
        into[(*n)++] = ev;
    } else {
        st->out_of_order++;
    }
    return 0;
}

/* Submits the whole schedule while reading events; 0 when the block ended. */
static int run_block(presenter *p, const schedule *s, stream *st)
{
    presenter_set_paused(p, 1); /* fill the queue before the first onset */
    int next = 0, rc;
    while (next < TRIALS) {
        presenter_request r = {next, s->image[next], -1, s->frames[next], s->isi[next], NULL};
        rc = presenter_submit(p, &r, err);
        if (rc < 0)
            return 1;
        if (rc == 0) {
            next++;
            continue;
        }
        presenter_set_paused(p, 0);
        if (take_event(p, st, 100) == 1)
            return 1;
    }
    presenter_set_paused(p, 0);
    presenter_finish_block(p);
    while ((rc = take_event(p, st, 10000)) == 0)
        ;
    return rc != 1;
}

static void check_stream(const schedule *s, const stream *st, const presenter_summary *sum,
                         double period_ns)
{
    CHECK(st->onsets == TRIALS && st->trials == TRIALS && st->out_of_order == 0,
          "%d onset and %d trial events, none missing, none out of order", st->onsets,
          st->trials);
    int same = 1, gaps_ok = 1, measured_ok = 1, flags_ok = 1, clock_ok = 1;
    int64_t gaps = 0, drops = 0, flagged = 0, scheduled_flips = 0;
    for (int i = 0; i < TRIALS; i++) {
        const presenter_event *o = &st->onset[i], *t = &st->trial[i];
        scheduled_flips += s->frames[i] + s->isi[i];
        same &= o->image == s->image[i] && t->image == s->image[i] &&
                t->frames_requested == s->frames[i] && t->isi_requested == s->isi[i] &&
                o->onset_flip == t->onset_flip && o->onset_ns == t->onset_ns;
        if (i) {
            int64_t gap = o->onset_flip - st->onset[i - 1].onset_flip - s->frames[i - 1] -
                          s->isi[i - 1];
            gaps_ok &= gap >= 0;
            gaps += gap;
            clock_ok &= o->onset_ns >= st->trial[i - 1].end_ns;
        }
        clock_ok &= t->onset_ns < t->offset_ns && t->offset_ns <= t->end_ns;
        int shown = (int)llround((double)(t->offset_ns - t->onset_ns) / period_ns);
        int isi = (int)llround((double)(t->end_ns - t->offset_ns) / period_ns);
        measured_ok &= shown == t->frames_shown && isi == t->isi_shown;
        int wrong = shown != s->frames[i] || isi != s->isi[i];
        flags_ok &= wrong == !!(t->flags & PRESENTER_WRONG_DURATION);
        flags_ok &= (t->dropped_frames > 0) == !!(t->flags & PRESENTER_DROPPED_FRAMES);
        drops += t->dropped_frames;
        flagged += wrong;
    }
    CHECK(same, "each event carries its request's image and frame counts");
    CHECK(gaps_ok, "each onset at least frames + ISI flips after the previous");
    CHECK(sum->flips == scheduled_flips + sum->idle_flips,
          "flips = scheduled frames + idle flips (%lld = %lld + %lld; %lld idle between trials)",
          (long long)sum->flips, (long long)scheduled_flips, (long long)sum->idle_flips,
          (long long)gaps);
    CHECK(clock_ok, "onset < offset <= end <= next onset on the monotonic clock");
    CHECK(measured_ok, "frames shown = round(interval / period), recomputed from the timestamps");
    CHECK(flags_ok, "wrong durations and drops flagged exactly when they happened");
    CHECK(sum->trials_shown == TRIALS && sum->wrong_durations == flagged &&
              sum->dropped_frames >= drops && sum->events_lost == 0 && !sum->aborted,
          "summary: %lld trials, %lld wrong durations, %lld dropped frames (machine load)",
          (long long)sum->trials_shown, (long long)sum->wrong_durations,
          (long long)sum->dropped_frames);
    CHECK(st->reported_drops == sum->dropped_frames,
          "every dropped frame reported once by an onset or flip event (%lld of %lld)",
          (long long)st->reported_drops, (long long)sum->dropped_frames);
}

int main(void)
{
    setenv("SDL_VIDEODRIVER", "dummy", 0);
    presenter_config c = presenter_config_default();
    c.width = 64;
    c.height = 48;
    c.refresh_hz = (float)HZ;
    c.queue_capacity = 128;
    presenter *p;
    if (presenter_create(&p, &c, err)) {
        CHECK(0, "presenter: %s", err);
        return test_done();
    }
    enum { IMAGES = 8 };
    float pixels[16];
    for (int k = 0; k < IMAGES; k++) {
        for (int i = 0; i < 16; i++)
            pixels[i] = (float)((i + k) % 16) / 15.0f;
        int id;
        presenter_add_image(p, pixels, 4, 4, &id, err);
    }
    schedule *s = malloc(sizeof *s);
    stream *st = calloc(1, sizeof *st);
    make_schedule(s, IMAGES);
    CHECK(presenter_start_block(p, err) == 0, "block started: %s", presenter_status(p));
    CHECK(run_block(p, s, st) == 0, "1,000 requests submitted during the block, block ended");
    presenter_summary sum;
    presenter_block_summary(p, &sum);
    check_stream(s, st, &sum, presenter_period_ms(p) * 1e6);
    printf("# flip interval %.3f ± %.3f ms (max %.3f), frame work median %.3f ms, p99 %.3f ms\n",
           sum.interval_mean_ms, sum.interval_sd_ms, sum.interval_max_ms,
           sum.frame_work_median_ms, sum.frame_work_p99_ms);
    free(s);
    free(st);
    presenter_destroy(p);
    return test_done();
}
